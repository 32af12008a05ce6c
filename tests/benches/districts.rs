//! Benchmark (issue 16, goal 7): ten districts in one process. The
//! simulator (a child process) serves one institution of 320 schools to 10
//! root-admin tokens, each with its own hosted-Canvas bucket, its clock
//! `EASEL_BENCH_SCALE` (default 8) times faster than the wall clock. easel
//! runs the course report with sections for all 320 schools on every token
//! at once: 3,200 concurrent runs in one process, one governor per token,
//! one runtime and one compiled component for all.
//!
//! Each school has 10 courses here (11 requests per run, 3,526 per token
//! with the school listing), so the job stays token-bound on 2 cores.
//!
//! Run: `cargo bench -p easel-tests --bench districts` (about a minute).
//! Prints, per token, the wall time against the token's physical limit,
//! Jain's index over its schools, throttles; and the host's peak RSS.

mod common;

use std::path::Path;

use common::{Easel, SimProcess, SimSpec, peak_rss_mib};
use easel_canvas::GovernorConfig;
use easel_sim::ThrottleConfig;

const TOKENS: usize = 10;
const SCHOOLS: usize = 320;
const COURSES_PER_SCHOOL: usize = 10;

fn main() {
    if common::child_main() {
        return;
    }
    let scale: f64 = std::env::var("EASEL_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8.0);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("districts-bench");
    std::fs::create_dir_all(&out).unwrap();
    let throttle = ThrottleConfig {
        request_cost: 1.0,
        time_scale: scale,
        ..ThrottleConfig::default()
    };
    let outflow = throttle.outflow * scale;
    let sim = SimProcess::spawn(SimSpec {
        sizes: Some((SCHOOLS, COURSES_PER_SCHOOL)),
        throttle: throttle.clone(),
        latency: None,
        extra_tokens: TOKENS - 1,
    });
    println!(
        "simulator: {SCHOOLS} schools of {COURSES_PER_SCHOOL} courses, {TOKENS} root-admin tokens, each bucket hwm {} outflow {}/s x clock {scale} = {outflow}/s at cost 1",
        throttle.hwm, throttle.outflow
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let easel = Easel::new(&out.join("easel-home"), (TOKENS * SCHOOLS) as u32);
    let bucket = GovernorConfig::default().time_scaled(scale);
    let conns: Vec<easel_app::Connection> = sim
        .tokens
        .iter()
        .map(|t| Easel::connect(&sim, t, bucket.clone()))
        .collect();
    let ids = rt.block_on(easel.approve(&conns[0]));
    // Approval listed the schools on the first token: let its bucket empty.
    sim.wait_empty();
    let rss_before = peak_rss_mib();
    let t0 = std::time::Instant::now();
    // One future per token, polled together (each job's runs are tasks of
    // their own across the runtime's threads).
    let jobs = rt.block_on(futures::future::join_all(
        conns
            .iter()
            .map(|conn| easel.course_report(conn, &ids, SCHOOLS)),
    ));
    let wall = t0.elapsed();
    println!(
        "\n{:<7} {:>8} {:>9} {:>10} {:>8} {:>9} {:>6} {:>10} {:>8}",
        "token",
        "wall (s)",
        "requests",
        "limit (s)",
        "vs limit",
        "drained",
        "Jain",
        "throttled",
        "runs ok"
    );
    let (mut worst_jain, mut worst_drained, mut throttled, mut ok) = (1.0f64, 200.0f64, 0, 0);
    for (i, job) in jobs.iter().enumerate() {
        let g = &job.governor;
        let useful = (g.granted - g.throttled) as f64;
        let limit = (useful - throttle.hwm).max(0.0) / outflow;
        let w = job.wall.as_secs_f64();
        // The share of the token's outflow drained from when its bucket
        // first could have filled (after the empty bucket's headroom).
        let drained = 100.0 * limit / w;
        worst_jain = worst_jain.min(job.jain());
        worst_drained = worst_drained.min(drained);
        throttled += g.throttled;
        ok += job.succeeded;
        println!(
            "{i:<7} {w:>8.1} {:>9} {limit:>10.1} {:>+7.1}% {drained:>8.1}% {:>6.3} {:>10} {:>4}/{}",
            g.granted,
            100.0 * (w / limit - 1.0),
            job.jain(),
            g.throttled,
            job.succeeded,
            job.runs
        );
    }
    for (i, job) in jobs.iter().enumerate() {
        let mut t = job.throughputs.clone();
        t.sort_by(f64::total_cmp);
        if !t.is_empty() {
            println!(
                "token {i}: each run's calls/s min {:.2}, median {:.2}, max {:.2}",
                t[0],
                t[t.len() / 2],
                t[t.len() - 1]
            );
        }
        if let Some(e) = job.errors.first() {
            println!(
                "token {i}: {} runs failed, the first: {e}",
                job.errors.len()
            );
        }
    }
    let mut overheads: Vec<_> = jobs.iter().flat_map(|j| j.overheads.clone()).collect();
    overheads.sort_unstable();
    let pct = |p: f64| overheads[((overheads.len() - 1) as f64 * p).round() as usize];
    println!(
        "\nall {TOKENS} tokens: wall {:.1} s, {ok} of {} runs succeeded, {throttled} throttled",
        wall.as_secs_f64(),
        TOKENS * SCHOOLS
    );
    println!(
        "worst token: Jain {worst_jain:.3} (goal >= 0.99), bucket {worst_drained:.1}% used (goal >= 95%)"
    );
    println!(
        "host overhead per call p50 {:.1} µs, p99 {:.1} µs ({} calls)",
        pct(0.5).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        overheads.len()
    );
    println!(
        "peak host RSS {:.0} MiB (before the job {rss_before:.0} MiB; goal <= 1024)",
        peak_rss_mib()
    );
}
