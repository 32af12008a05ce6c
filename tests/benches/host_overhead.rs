//! Benchmark: (1) instantiate-and-run of a trivial plugin from a warm
//! `InstancePre`; (2) the host's added latency per Canvas call, against the
//! same request sent directly with reqwest to the same simulator.
//!
//! Run: `cargo bench -p easel-tests --bench host_overhead`
//! Not a test: it prints figures and ratios; targets are in docs/PERFORMANCE.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use easel_canvas::{CanvasClient, ReqwestTransport, Token};
use easel_policy::Grant;
use easel_runtime::{EngineOptions, Limits, RunOutcome, RunSpec, Runtime, School};
use easel_sim::{SimConfig, Simulator};
use secrecy::SecretString;

const INSTANTIATE_ITERS: usize = 5_000;
const CALL_BATCHES: usize = 30;
const CALLS_PER_BATCH: usize = 100;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // On a worker thread, as easel's callers are (the server's handlers,
    // `execute_many`'s tasks): a future polled by `block_on` pays a
    // cross-thread wake-up for every run's result and every answer.
    rt.block_on(async { tokio::spawn(bench()).await.unwrap() });
}

async fn bench() {
    let token = "7~benchbenchbenchbench".to_owned();
    let sim = Simulator::start(SimConfig {
        admin_token: Some(token.clone()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let school = sim.with_data(|d| d.schools()[0].id);
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(EngineOptions::new(cache.path())).unwrap();
    let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(30)).unwrap());
    let client = CanvasClient::with_token(
        sim.url(),
        Token::new(SecretString::from(token.clone())),
        transport,
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let audit_db = tempfile::tempdir().unwrap();
    let db = audit_db.path().join("easel.db");
    easel_store::Store::open(&db).unwrap();
    let mut run_audit = easel_app::RunAudit::new(
        Arc::new(
            easel_store::AuditLog::open(&db, easel_store::AuditKeys::derive(&[7u8; 32]).unwrap())
                .unwrap(),
        ),
        "bench".into(),
    );
    run_audit.plugin = "bench".into();
    run_audit.digest = "ab".repeat(32);
    run_audit.school = school;
    run_audit.instance = "sim".into();
    let audited: Arc<dyn easel_runtime::AuditSink> = Arc::new(run_audit);
    let discard: Arc<dyn easel_runtime::AuditSink> = Arc::new(easel_runtime::DiscardAudit);
    let spec_with = |component,
                     params: Vec<(String, String)>,
                     audit: &Arc<dyn easel_runtime::AuditSink>| RunSpec {
        run_id: "bench".into(),
        plugin_id: "bench".into(),
        component,
        school: School {
            id: school,
            name: "bench".into(),
        },
        instance: "sim".into(),
        dry_run: false,
        params,
        grant: Grant::new(vec![school], false, 1_000_000),
        client: client.clone(),
        output_dir: out.path().to_path_buf(),
        limits: Limits::default(),
        audit: audit.clone(),
        binding: None,
    };
    // The runtime alone, then with the audit log easel's commands use.
    let spec = |component, params| spec_with(component, params, &discard);

    // (1) instantiate + run of the trivial plugin.
    let noop = runtime
        .load(
            &std::fs::read(easel_tests::programs::TEST_NOOP).unwrap(),
            "noop",
        )
        .unwrap();
    for _ in 0..200 {
        runtime.run(spec(noop.clone(), vec![])).await;
    }
    let mut times = Vec::with_capacity(INSTANTIATE_ITERS);
    for _ in 0..INSTANTIATE_ITERS {
        let s = spec(noop.clone(), vec![]);
        let t = Instant::now();
        let r = runtime.run(s).await;
        times.push(t.elapsed());
        assert_eq!(r.outcome, RunOutcome::Succeeded);
    }
    times.sort();
    let inst_median = percentile(&times, 0.5);
    println!(
        "instantiate+run (trivial plugin, fresh store from warm InstancePre), {INSTANTIATE_ITERS} runs:"
    );
    println!(
        "  median {:>8.1} µs   p99 {:>8.1} µs   target <= 25 µs median",
        us(inst_median),
        us(percentile(&times, 0.99))
    );

    // (2) per-call latency: plugin through the host vs reqwest directly.
    let bench_get = runtime
        .load(
            &std::fs::read(easel_tests::programs::TEST_BENCH_GET).unwrap(),
            "bench-get",
        )
        .unwrap();
    // The school's own account: placing it in the grant needs no lookup, so
    // the comparison is one request against one request.
    let path = format!("/api/v1/accounts/{school}");
    let direct = reqwest::Client::new();
    let url = format!("{}{path}", sim.url());
    let params = vec![
        ("n".to_owned(), CALLS_PER_BATCH.to_string()),
        ("path".to_owned(), path.clone()),
    ];
    // Warm up both paths (connection pools, directory lookups excluded below).
    runtime.run(spec(bench_get.clone(), params.clone())).await;
    for _ in 0..CALLS_PER_BATCH {
        direct
            .get(&url)
            .bearer_auth(&token)
            .header("user-agent", "bench")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let mut via_host = Vec::new();
    let mut via_reqwest = Vec::new();
    for _ in 0..CALL_BATCHES {
        // In a task of its own, as each run's guest is.
        let (direct, url, token) = (direct.clone(), url.clone(), token.clone());
        let batch = tokio::spawn(async move {
            let t = Instant::now();
            for _ in 0..CALLS_PER_BATCH {
                let r = direct
                    .get(&url)
                    .bearer_auth(&token)
                    .header("user-agent", "bench")
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                r.bytes().await.unwrap();
            }
            t.elapsed()
        });
        via_reqwest.push(batch.await.unwrap() / CALLS_PER_BATCH as u32);
        let t = Instant::now();
        let r = runtime.run(spec(bench_get.clone(), params.clone())).await;
        let elapsed = t.elapsed();
        assert_eq!(r.outcome, RunOutcome::Succeeded, "{}", r.log);
        // Subtract the run's fixed cost (instantiate + run, measured above).
        via_host.push(elapsed.saturating_sub(inst_median) / CALLS_PER_BATCH as u32);
    }
    via_host.sort();
    via_reqwest.sort();
    let host = percentile(&via_host, 0.5);
    let base = percentile(&via_reqwest, 0.5);
    println!(
        "Canvas GET {path} over loopback, {CALL_BATCHES} batches x {CALLS_PER_BATCH} calls (median of batch means):"
    );
    println!("  direct reqwest        {:>8.1} µs/call", us(base));
    println!("  plugin through easel  {:>8.1} µs/call   ", us(host));
    println!(
        "  host overhead         {:>8.1} µs/call   ratio {:.2}x   target <= 100 µs median",
        us(host.saturating_sub(base)),
        host.as_secs_f64() / base.as_secs_f64()
    );

    // (3) the same, with every call recorded in a real audit log (two
    // hash-chained SQLite records per call: allowed, then answered).
    let mut audited_host = Vec::new();
    for _ in 0..CALL_BATCHES {
        let t = Instant::now();
        let r = runtime
            .run(spec_with(bench_get.clone(), params.clone(), &audited))
            .await;
        let elapsed = t.elapsed();
        assert_eq!(r.outcome, RunOutcome::Succeeded, "{}", r.log);
        audited_host.push(elapsed.saturating_sub(inst_median) / CALLS_PER_BATCH as u32);
    }
    audited_host.sort();
    let with_audit = percentile(&audited_host, 0.5);
    println!("  with the audit log    {:>8.1} µs/call", us(with_audit));
    println!(
        "  host overhead, audited {:>7.1} µs/call   ratio {:.2}x",
        us(with_audit.saturating_sub(base)),
        with_audit.as_secs_f64() / base.as_secs_f64()
    );
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
