//! Benchmark: `easel serve`'s run queue with 1,000 queued trivial runs.
//! (1) claims alone: how fast the store hands out queued rows (one
//! connection, one claim per transaction, as a worker claims); (2) the
//! whole path: the queue's workers claim, re-check, run and record 1,000
//! no-op plugin runs against the embedded simulator.
//!
//! Run: `cargo bench -p easel-tests --bench queue`
//! Not a test: it prints figures; docs/PERFORMANCE.md records them.

use std::time::{Duration, Instant};

use easel_app::queue;
use easel_runtime::{Limits, School};
use easel_tests::{Workers, add_and_approve, home, person, programs};

const RUNS: usize = 1_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}

/// Queue `RUNS` no-op runs in `dir`; how long queueing took.
async fn fill(dir: &std::path::Path, workers: &Workers) -> Duration {
    let h = home(dir);
    let conn = workers
        .connections()
        .for_grant(&h, "noop", 2)
        .await
        .unwrap();
    let school = School {
        id: 2,
        name: "bench".into(),
    };
    let admin = person("admin");
    let start = Instant::now();
    for _ in 0..RUNS {
        let req = easel_app::RunRequest {
            plugin: "noop".into(),
            school: 2,
            dry_run: false,
            params: Vec::new(),
            limits: Limits::default(),
            plan: None,
        };
        queue::enqueue(&h, &admin, &conn, req, Some(school.clone()), None)
            .await
            .unwrap();
    }
    start.elapsed()
}

async fn bench() {
    // (1) Claims alone.
    let dir = tempfile::tempdir().unwrap();
    add_and_approve(&home(dir.path()), programs::TEST_NOOP, "noop", 2, false);
    let (idle, stop) = Workers::start(dir.path());
    idle.queue().stop_claiming();
    let queued = fill(dir.path(), &idle).await;
    drop(stop);
    let h = home(dir.path());
    let start = Instant::now();
    let mut claimed = 0;
    while h
        .store
        .claim_run("bench", easel_store::now_ms() + 30_000, &[], None)
        .unwrap()
        .is_some()
    {
        claimed += 1;
    }
    let claiming = start.elapsed();
    assert_eq!(claimed, RUNS);
    println!(
        "queue: {RUNS} runs queued in {:.2}s ({:.0} runs/s queued, each checked and audited)",
        queued.as_secs_f64(),
        RUNS as f64 / queued.as_secs_f64()
    );
    println!(
        "claims alone: {RUNS} claimed in {:.3}s = {:.0} claims/s ({:.0} µs per claim)",
        claiming.as_secs_f64(),
        RUNS as f64 / claiming.as_secs_f64(),
        claiming.as_secs_f64() * 1e6 / RUNS as f64
    );

    // (2) The whole path.
    let dir = tempfile::tempdir().unwrap();
    add_and_approve(&home(dir.path()), programs::TEST_NOOP, "noop", 2, false);
    let (workers, stop) = Workers::start(dir.path());
    workers.queue().stop_claiming();
    fill(dir.path(), &workers).await;
    drop(stop);
    // Fresh workers over the full queue.
    let (workers, _stop) = Workers::start(dir.path());
    let h = home(dir.path());
    let start = Instant::now();
    loop {
        let left = h.store.queued_runs().unwrap() as usize + workers.queue().in_flight().len();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = start.elapsed();
    let runs = h.store.runs(RUNS + 10).unwrap();
    let ok = runs
        .iter()
        .filter(|r| r.status == easel_store::RunStatus::Succeeded)
        .count();
    println!(
        "workers ({} at once): {RUNS} queued no-op runs claimed, re-checked, run and recorded in {:.2}s = {:.0} runs/s; {ok} succeeded",
        workers.queue().config().workers,
        took.as_secs_f64(),
        RUNS as f64 / took.as_secs_f64()
    );
}
