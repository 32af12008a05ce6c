//! Benchmark: the course report with sections for all 320 schools of the
//! simulator's `district` preset on one token, throttling on at hosted
//! Canvas's bucket, done three ways against the same simulator:
//!
//! 1. easel: `execute_many` with 320 concurrent runs sharing the token's
//!    governor (what `easel run course-report --all-schools` does);
//! 2. a plain sequential Python script using canvasapi;
//! 3. the same script with a thread pool of 16.
//!
//! The simulator runs in a child process so the host's peak RSS is easel's
//! own. Its bucket clock runs 50 times faster than the wall clock, so a
//! sustained, token-bound job fits in half a minute.
//!
//! Run: `cargo bench -p easel-tests --bench district`
//! (`EASEL_BENCH_EASEL_ONLY=1`: easel alone; `EASEL_BENCH_COST=endpoint`:
//! costs drawn per endpoint)
//! Not a test: it prints figures and ratios and writes a plot; the results
//! are in docs/PERFORMANCE.md.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Easel, Phase, Sampler, SimProcess, SimSpec, peak_rss_mib, python_env};

use easel_canvas::GovernorConfig;
use easel_sim::{CostModel, ThrottleConfig};

/// Cost of every request, in bucket units (CPU + DB seconds in Canvas).
const COST: f64 = 1.0;
/// Bucket seconds per real second.
const TIME_SCALE: f64 = 50.0;
/// The canvasapi scripts retry a throttled call after one bucket second.
const BACKOFF: f64 = 1.0 / TIME_SCALE;

fn main() {
    if common::child_main() {
        return;
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("district-bench");
    std::fs::create_dir_all(&out).unwrap();
    let sim = SimProcess::spawn(SimSpec::district(ThrottleConfig {
        request_cost: COST,
        cost: cost_model(),
        time_scale: TIME_SCALE,
        ..ThrottleConfig::default()
    }));
    println!("simulator: district preset (320 schools) at {}", sim.url);
    let hosted = ThrottleConfig::default();
    let theoretical = hosted.outflow * TIME_SCALE / COST;
    println!(
        "bucket: hwm {}, outflow {}/s x clock {TIME_SCALE} = {}/s, up-front {}, cost {COST} per request",
        hosted.hwm,
        hosted.outflow,
        hosted.outflow * TIME_SCALE,
        hosted.up_front
    );
    println!("theoretical sustained maximum: outflow / cost = {theoretical:.0} requests/s\n");
    let sampler = Sampler::start(sim.clone());

    let easel = run_easel(&sim, &sampler, &out);
    let python = python_env();
    let mut scripts = Vec::new();
    match &python {
        Ok(_) if std::env::var_os("EASEL_BENCH_EASEL_ONLY").is_some() => {
            println!("canvasapi comparison skipped: EASEL_BENCH_EASEL_ONLY is set");
        }
        Ok(py) => {
            for (name, threads) in [("canvasapi sequential", 1), ("canvasapi 16 threads", 16)] {
                let (phase, rows) = common::run_script(
                    &sim,
                    &sampler,
                    py,
                    "district_export.py",
                    threads,
                    BACKOFF,
                    &out,
                );
                scripts.push((name.to_owned(), phase, rows as usize));
            }
        }
        Err(e) => println!("canvasapi comparison skipped: {e}"),
    }
    sampler.stop();

    println!("\n## easel, 320 concurrent runs on one token");
    let e = &easel;
    println!(
        "wall time                 {:>8.1} s",
        e.phase.wall.as_secs_f64()
    );
    println!("requests at Canvas        {:>8}", e.phase.requests);
    println!(
        "achieved                  {:>8.0} requests/s = {:.0}% of outflow/cost",
        e.phase.rate(),
        100.0 * e.phase.rate() / theoretical
    );
    println!(
        "sustained (bucket full)   {:>8.0} requests/s = {:.0}% of outflow/cost",
        e.phase.sustained,
        100.0 * e.phase.sustained / theoretical
    );
    println!(
        "throttled                 {:>8} ({} after the first second, {:.2}% of requests)",
        e.phase.throttled,
        e.phase.throttled_after_1s,
        100.0 * e.phase.throttled as f64 / e.phase.requests.max(1) as f64
    );
    // The token's physical limit: every unit the job costs must leak out,
    // except what the empty bucket holds before it first throttles.
    let outflow = hosted.outflow * TIME_SCALE;
    let limit = (e.charged - hosted.hwm).max(0.0) / outflow;
    println!(
        "physical limit            {:>8.1} s = ({:.0} units charged for {} requests - hwm {}) / outflow {outflow}/s; easel's wall time is {:+.1}% over it",
        limit,
        e.charged,
        e.phase.requests,
        hosted.hwm,
        100.0 * (e.phase.wall.as_secs_f64() / limit - 1.0)
    );
    println!(
        "bucket drained            {:>8.1}% of its outflow over the job ({:.2} units per request, {:?} cost)",
        100.0 * e.charged / (e.phase.wall.as_secs_f64() * outflow),
        e.charged / e.phase.requests.max(1) as f64,
        cost_model()
    );
    println!("fairness (Jain's index)   {:>8.3}", e.jain);
    println!(
        "host overhead per call    p50 {:.1} µs, p99 {:.1} µs ({} calls)",
        e.p50.as_secs_f64() * 1e6,
        e.p99.as_secs_f64() * 1e6,
        e.overheads
    );
    println!("peak host RSS             {:>8.0} MiB", e.peak_rss_mib);
    println!(
        "peak requests in flight   {:>8} (the governor's choice)",
        e.peak_in_flight
    );
    println!(
        "runs                      {:>8} succeeded of 320; {} CSV rows",
        e.succeeded, e.rows
    );

    println!("\n## side by side");
    println!(
        "{:<24} {:>9} {:>10} {:>10} {:>10} {:>8}",
        "client", "wall (s)", "requests", "req/s", "throttled", "rows"
    );
    let mut rows = vec![("easel (320 runs)".to_owned(), &easel.phase, easel.rows)];
    for s in &scripts {
        rows.push((s.0.clone(), &s.1, s.2));
    }
    for (name, p, r) in &rows {
        println!(
            "{name:<24} {:>9.1} {:>10} {:>10.0} {:>10} {:>8}",
            p.wall.as_secs_f64(),
            p.requests,
            p.rate(),
            p.throttled,
            r
        );
    }
    for s in &scripts {
        println!(
            "easel's wall time is {:.2}x faster than {}",
            s.1.wall.as_secs_f64() / easel.phase.wall.as_secs_f64(),
            s.0
        );
    }

    let samples = out.join("samples.csv");
    let named: Vec<(&str, &Phase)> = rows.iter().map(|(n, p, _)| (n.as_str(), *p)).collect();
    common::write_samples(&samples, &named);
    if python.is_ok() {
        let png = out.join("district.png");
        let args = [
            samples.display().to_string(),
            png.display().to_string(),
            hosted.hwm.to_string(),
            theoretical.to_string(),
        ];
        common::plot("plot_district.py", &args, &png);
    }
    println!("samples: {}", samples.display());
}

struct EaselResult {
    phase: Phase,
    /// Bucket units Canvas charged for easel's requests.
    charged: f64,
    jain: f64,
    p50: Duration,
    p99: Duration,
    overheads: usize,
    peak_rss_mib: f64,
    peak_in_flight: u32,
    succeeded: usize,
    rows: usize,
}

fn run_easel(sim: &SimProcess, sampler: &Sampler, out: &Path) -> EaselResult {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let easel = Easel::new(&out.join("easel-home"), 320);
    let bucket = GovernorConfig::default().time_scaled(TIME_SCALE);
    rt.block_on(async {
        let conn = Easel::connect(sim, sim.token(), bucket);
        let ids = easel.approve(&conn).await;
        sim.wait_empty();
        let start = sampler.mark();
        let job = easel.course_report(&conn, &ids, 320).await;
        let phase = sampler.phase(&start, job.wall);
        EaselResult {
            jain: job.jain(),
            p50: job.overhead(0.5),
            p99: job.overhead(0.99),
            overheads: job.overheads.len(),
            peak_rss_mib: peak_rss_mib(),
            peak_in_flight: job.governor.peak_in_flight,
            succeeded: job.succeeded,
            rows: job.rows,
            charged: phase.charged,
            phase,
        }
    })
}

/// `EASEL_BENCH_COST=endpoint`: each request costs what its kind of
/// endpoint takes (the simulator's [`CostModel::PerEndpoint`]) instead of
/// [`COST`].
fn cost_model() -> CostModel {
    match std::env::var("EASEL_BENCH_COST").as_deref() {
        Ok("endpoint") => CostModel::PerEndpoint,
        _ => CostModel::Fixed,
    }
}
