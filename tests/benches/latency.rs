//! Benchmark (issue 16, goal 3): the district job against hosted Canvas's
//! latency. Every answer of the simulator waits 150 ms ± 50 ms (the
//! simulator's latency fault, while the request's up-front cost is held, as
//! Canvas holds it for a request's whole time), on hosted Canvas's bucket at
//! its real speed: high-water mark 700, 50 units up front per request in
//! flight, outflow 10 units/s, 0.05 units per request.
//!
//! Four clients do the same export of 24 schools (the course report with
//! sections, about 1,000 requests), each from an empty bucket:
//!
//! 1. easel: 24 concurrent runs on the token's governor;
//! 2. the canvasapi script, sequential (tests/compat/district_export.py);
//! 3. the same with 16 threads;
//! 4. an asyncio script with httpx, 64 requests at once, a throttled request
//!    retried after 1 s (tests/compat/district_async.py).
//!
//! What bounds every client here is not the outflow (10 / 0.05 = 200
//! requests/s) but the up-front cost: with the bucket empty, 13 requests can
//! be in flight (a 14th reaches the mark), so no client can sustain more than
//! 13 requests per 150 ms, about 87 requests/s.
//!
//! Run: `cargo bench -p easel-tests --bench latency` (about 4 minutes; the
//! sequential script is most of it; `EASEL_BENCH_EASEL_ONLY=1`: easel alone). Prints the figures and writes a plot;
//! the results are in docs/PERFORMANCE.md.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Easel, Phase, Sampler, SimProcess, SimSpec, python_env};
use easel_canvas::GovernorConfig;
use easel_sim::ThrottleConfig;

const SCHOOLS: usize = 24;
const COURSES_PER_SCHOOL: usize = 40;
const LATENCY: Duration = Duration::from_millis(150);
const JITTER: Duration = Duration::from_millis(50);
/// The scripts retry a throttled request after this many seconds.
const BACKOFF: f64 = 1.0;

fn main() {
    if common::child_main() {
        return;
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("latency-bench");
    std::fs::create_dir_all(&out).unwrap();
    let hosted = ThrottleConfig::default();
    let sim = SimProcess::spawn(SimSpec {
        sizes: Some((SCHOOLS, COURSES_PER_SCHOOL)),
        throttle: hosted.clone(),
        latency: Some((LATENCY, JITTER)),
        extra_tokens: 0,
    });
    let in_flight = (hosted.hwm / hosted.up_front).ceil() - 1.0;
    let by_outflow = hosted.outflow / hosted.request_cost;
    let by_latency = in_flight / LATENCY.as_secs_f64();
    let maximum = by_outflow.min(by_latency);
    println!(
        "simulator: {SCHOOLS} schools of {COURSES_PER_SCHOOL} courses at {}, every answer {} ms ± {} ms",
        sim.url,
        LATENCY.as_millis(),
        JITTER.as_millis()
    );
    println!(
        "bucket: hwm {}, up-front {}, outflow {}/s, {} units per request (hosted Canvas, real time)",
        hosted.hwm, hosted.up_front, hosted.outflow, hosted.request_cost
    );
    println!(
        "the token's maximum: outflow / cost = {by_outflow:.0} requests/s; {in_flight:.0} in flight / {} ms = {by_latency:.1} requests/s; the lower, {maximum:.1} requests/s\n",
        LATENCY.as_millis()
    );
    let sampler = Sampler::start(sim.clone());

    let mut rows: Vec<(String, Phase, u64)> = Vec::new();
    let (phase, job) = run_easel(&sim, &sampler, &out);
    println!(
        "easel: {} of {} runs succeeded, {} rows, peak {} requests in flight, Jain {:.3}",
        job.succeeded,
        job.runs,
        job.rows,
        job.governor.peak_in_flight,
        job.jain()
    );
    rows.push((format!("easel ({SCHOOLS} runs)"), phase, job.rows as u64));
    match python_env() {
        Ok(_) if std::env::var_os("EASEL_BENCH_EASEL_ONLY").is_some() => {
            println!("Python comparison skipped: EASEL_BENCH_EASEL_ONLY is set");
        }
        Ok(py) => {
            for (name, script, arg) in [
                ("asyncio+httpx 64 at once", "district_async.py", 64),
                ("canvasapi 16 threads", "district_export.py", 16),
                ("canvasapi sequential", "district_export.py", 1),
            ] {
                let (phase, rows_out) =
                    common::run_script(&sim, &sampler, &py, script, arg, BACKOFF, &out);
                println!(
                    "{name}: {:.1} s, {} rows",
                    phase.wall.as_secs_f64(),
                    rows_out
                );
                rows.push((name.to_owned(), phase, rows_out));
            }
        }
        Err(e) => println!("Python comparison skipped: {e}"),
    }
    sampler.stop();

    println!("\n## side by side, from an empty bucket");
    println!(
        "{:<28} {:>8} {:>9} {:>9} {:>10} {:>10} {:>6}",
        "client", "wall (s)", "requests", "useful/s", "% of max", "throttled", "rows"
    );
    let useful = |p: &Phase| (p.requests - p.throttled) as f64 / p.wall.as_secs_f64();
    for (name, p, r) in &rows {
        println!(
            "{name:<28} {:>8.1} {:>9} {:>9.1} {:>9.0}% {:>10} {:>6}",
            p.wall.as_secs_f64(),
            p.requests,
            useful(p),
            100.0 * useful(p) / maximum,
            p.throttled,
            r
        );
    }
    let easel = &rows[0].1;
    for (name, p, _) in &rows[1..] {
        println!(
            "easel is {:.1}x faster than {name} (wall time), with {:.2}x its useful requests/s",
            p.wall.as_secs_f64() / easel.wall.as_secs_f64(),
            useful(easel) / useful(p)
        );
    }

    let samples = out.join("samples.csv");
    let named: Vec<(&str, &Phase)> = rows.iter().map(|(n, p, _)| (n.as_str(), p)).collect();
    common::write_samples(&samples, &named);
    let png = out.join("latency.png");
    let args = [
        samples.display().to_string(),
        png.display().to_string(),
        hosted.hwm.to_string(),
        maximum.to_string(),
        format!(
            "{SCHOOLS} schools, one token, {} ms ± {} ms per answer",
            LATENCY.as_millis(),
            JITTER.as_millis()
        ),
        format!(
            "maximum: {in_flight:.0} in flight / {} ms",
            LATENCY.as_millis()
        ),
    ];
    common::plot("plot_district.py", &args, &png);
    println!("samples: {}", samples.display());
}

fn run_easel(sim: &SimProcess, sampler: &Sampler, out: &Path) -> (Phase, common::Job) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let easel = Easel::new(&out.join("easel-home"), SCHOOLS as u32);
    rt.block_on(async {
        let conn = Easel::connect(sim, sim.token(), GovernorConfig::default());
        let ids = easel.approve(&conn).await;
        sim.wait_empty();
        let start = sampler.mark();
        let job = easel.course_report(&conn, &ids, SCHOOLS).await;
        (sampler.phase(&start, job.wall), job)
    })
}
