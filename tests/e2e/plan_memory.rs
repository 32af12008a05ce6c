//! A dry run of 200 writes of ~900 KB each keeps the host's memory small:
//! the plan holds each distinct body once and is bounded in bytes. Its own
//! test binary, so the process's peak memory is this test's alone.

use easel_app::{RunRequest, execute_run};
use easel_runtime::{Limits, RunOutcome};
use easel_tests::{canary_token, connect, home, programs, sim_with_token, test_manifest};

/// Peak resident memory of this process, bytes (Linux).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The bound this test holds the host to (measured 75 MiB; the unbounded plan reached 6.9 GB).
const MAX_PEAK_RSS: u64 = 256 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_holds_each_body_once_stops_at_its_limit_and_keeps_memory_small() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let (school, course) = sim.with_data(|d| {
        let s = d.schools()[0].id;
        (s, d.courses_in(s)[0].id)
    });
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    // Room for 200 planned writes (the shared test manifest allows 50 calls).
    let manifest = test_manifest("hostile", true).replace("max_calls = 50", "max_calls = 1000");
    let bytes = std::fs::read(programs::TEST_HOSTILE).unwrap();
    easel_app::add(
        &h,
        &easel_tests::person("contributor"),
        &bytes,
        &manifest,
        "hostile",
    )
    .unwrap();
    easel_app::approve(
        &h,
        "hostile",
        &[school],
        true,
        &easel_tests::person("admin"),
    )
    .unwrap();
    let conn = connect(sim, &token);
    let runtime = h.runtime().unwrap();
    let run = |attack: &str, n: u32| RunRequest {
        plugin: "hostile".into(),
        school,
        dry_run: true,
        params: vec![
            ("attack".into(), attack.into()),
            ("n".into(), n.to_string()),
            ("path".into(), format!("/api/v1/courses/{course}")),
        ],
        limits: Limits {
            memory_bytes: 128 << 20,
            ..Limits::default()
        },
        plan: None,
    };
    // 200 writes of the same ~900 KB body: the plan holds it once.
    let same = execute_run(&h, &conn, &runtime, run("plan-same", 200))
        .await
        .unwrap();
    assert_eq!(
        same.report.outcome,
        RunOutcome::Succeeded,
        "{}",
        same.report.log
    );
    assert_eq!(same.report.plan.len(), 200);
    assert_eq!(
        same.report.plan.iter().filter(|p| p.body.is_some()).count(),
        1,
        "the body is held once"
    );
    // 200 distinct bodies: the plan stops at its byte limit.
    let distinct = execute_run(&h, &conn, &runtime, run("plan-distinct", 200))
        .await
        .unwrap();
    assert!(
        matches!(&distinct.report.outcome, RunOutcome::Failed(m) if m.contains("plan")),
        "{:?}",
        distinct.report.outcome
    );
    let limit = easel_runtime::DEFAULT_MAX_PLAN_BYTES;
    assert!(distinct.report.plan.len() <= limit / (900 << 10) + 1);
    let stored = h.store.run(&distinct.run_id).unwrap().unwrap();
    let stored_bytes = serde_json::to_string(&stored.plan).unwrap().len();
    assert!(
        stored_bytes <= limit + (64 << 10),
        "stored plan {stored_bytes} bytes"
    );
    assert!(
        conn.sim
            .as_ref()
            .unwrap()
            .requests()
            .iter()
            .all(|q| q.method == "GET"),
        "a dry run sends no write"
    );
    let peak = peak_rss();
    println!("peak RSS {} MiB", peak >> 20);
    assert!(peak < MAX_PEAK_RSS, "peak RSS {} MiB", peak >> 20);
}
