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

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use easel_app::{Connection, Home, RunRequest};
use easel_canvas::{GovernorConfig, Token};
use easel_runtime::Limits;
use easel_sim::{CostModel, Preset, SimConfig, Simulator, ThrottleConfig};
use secrecy::SecretString;
use serde_json::json;

/// Cost of every request, in bucket units (CPU + DB seconds in Canvas).
const COST: f64 = 1.0;
/// Bucket seconds per real second.
const TIME_SCALE: f64 = 50.0;
/// The canvasapi scripts retry a throttled call after one bucket second.
const BACKOFF: f64 = 1.0 / TIME_SCALE;
const CANVASAPI: &str = "canvasapi==3.6.0";
const MATPLOTLIB: &str = "matplotlib==3.9.2";
const CHILD: &str = "EASEL_BENCH_SIM_CHILD";
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

fn main() {
    if std::env::var_os(CHILD).is_some() {
        sim_child();
        return;
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("district-bench");
    std::fs::create_dir_all(&out).unwrap();
    let sim = SimProcess::spawn();
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
    let python = python_env(&out);
    let mut scripts = Vec::new();
    match &python {
        Ok(_) if std::env::var_os("EASEL_BENCH_EASEL_ONLY").is_some() => {
            println!("canvasapi comparison skipped: EASEL_BENCH_EASEL_ONLY is set");
        }
        Ok(py) => {
            for (name, threads) in [("canvasapi sequential", 1), ("canvasapi 16 threads", 16)] {
                scripts.push(run_script(&sim, &sampler, py, name, threads, &out));
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
    let mut csv = String::from("client,seconds,requests,throttled,level\n");
    for (name, p, _) in &rows {
        for s in &p.samples {
            csv.push_str(&format!("{name},{:.3},{},{},{:.1}\n", s.0, s.1, s.2, s.3));
        }
    }
    std::fs::write(&samples, csv).unwrap();
    if let Ok(py) = &python {
        let png = out.join("district.png");
        let status = Command::new(py)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/compat/plot_district.py"
            ))
            .arg(&samples)
            .arg(&png)
            .arg(hosted.hwm.to_string())
            .arg(theoretical.to_string())
            .status()
            .unwrap();
        if status.success() {
            println!("\nplot: {}", png.display());
        }
    }
    println!("samples: {}", samples.display());
}

/// What Canvas saw while one client ran.
#[derive(Debug, Default)]
struct Phase {
    wall: Duration,
    requests: u64,
    throttled: u64,
    throttled_after_1s: u64,
    /// Requests/s from when the bucket first filled to the end.
    sustained: f64,
    /// (seconds since start, requests, throttled, level).
    samples: Vec<(f64, u64, u64, f64)>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64()
    }
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
    let dir = out.join("easel-home");
    let _ = std::fs::remove_dir_all(&dir);
    let home = Home::open(Some(dir)).unwrap();
    let report = &easel_bundled::COURSE_REPORT;
    easel_app::add(
        &home,
        &easel_tests::person("bench"),
        report.wasm,
        report.manifest,
        report.name,
    )
    .unwrap();
    let token = Token::new(SecretString::from(sim.token.clone()));
    let bucket = GovernorConfig::default().time_scaled(TIME_SCALE);
    rt.block_on(async {
        let conn = Connection::to_url(&sim.url, token, bucket).unwrap();
        let runtime = home.runtime_for(320).unwrap();
        // Approving and compiling are set-up, not the job.
        let listed = conn.schools().await.unwrap();
        let ids: Vec<u64> = listed.iter().map(|s| s.id).collect();
        easel_app::approve(
            &home,
            "course-report",
            &ids,
            false,
            &easel_tests::person("admin"),
        )
        .unwrap();
        let bytes = report.wasm;
        runtime.load(bytes, "course-report").unwrap();
        sim.wait_empty();
        let before_hwm = peak_rss_mib();
        let charged_before = sim.stats().charged;
        let start = sampler.mark();
        let t0 = Instant::now();
        let known: HashMap<u64, easel_runtime::School> = conn
            .schools()
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let reqs = ids
            .iter()
            .map(|&school| RunRequest {
                plugin: "course-report".into(),
                school,
                dry_run: false,
                params: vec![("sections".into(), "true".into())],
                limits: Limits::default(),
                plan: None,
            })
            .collect();
        let results = easel_app::execute_many(
            &home,
            &easel_tests::person("admin"),
            &conn,
            &runtime,
            reqs,
            &known,
            320,
            &easel_app::Quiet,
        )
        .await;
        let wall = t0.elapsed();
        let phase = sampler.phase(start, wall);
        let charged = sim.stats().charged - charged_before;
        let mut throughputs = Vec::new();
        let mut overheads = Vec::new();
        let (mut succeeded, mut rows) = (0, 0);
        for (_, r) in &results {
            let Ok(r) = r else { continue };
            if r.report.outcome.error().is_none() {
                succeeded += 1;
            }
            let calls = f64::from(r.report.calls + r.report.lookups);
            throughputs.push(calls / r.report.duration.as_secs_f64());
            overheads.extend_from_slice(&r.report.call_overheads);
            for o in &r.report.outputs {
                rows += std::fs::read_to_string(o).unwrap().lines().count() - 1;
            }
        }
        overheads.sort_unstable();
        let pct = |p: f64| overheads[((overheads.len() - 1) as f64 * p).round() as usize];
        let sum: f64 = throughputs.iter().sum();
        let squares: f64 = throughputs.iter().map(|x| x * x).sum();
        let _ = before_hwm;
        EaselResult {
            jain: sum * sum / (throughputs.len() as f64 * squares),
            p50: pct(0.5),
            p99: pct(0.99),
            overheads: overheads.len(),
            peak_rss_mib: peak_rss_mib(),
            peak_in_flight: conn.client.governor().stats().peak_in_flight,
            succeeded,
            rows,
            phase,
            charged,
        }
    })
}

fn run_script(
    sim: &SimProcess,
    sampler: &Sampler,
    python: &Path,
    name: &str,
    threads: u32,
    out: &Path,
) -> (String, Phase, usize) {
    sim.wait_empty();
    let csv = out.join(format!("canvasapi-{threads}.csv"));
    let start = sampler.mark();
    let t0 = Instant::now();
    let output = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/compat/district_export.py"
        ))
        .arg(threads.to_string())
        .arg(BACKOFF.to_string())
        .arg(&csv)
        .env("CANVAS_URL", &sim.url)
        .env("CANVAS_TOKEN", &sim.token)
        .output()
        .unwrap();
    let wall = t0.elapsed();
    assert!(
        output.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(output.stdout.trim_ascii()).unwrap_or(json!({}));
    let rows = report["rows"].as_u64().unwrap_or(0) as usize;
    (name.to_owned(), sampler.phase(start, wall), rows)
}

/// The venv's python with canvasapi and matplotlib, made if needed.
fn python_env(out: &Path) -> Result<PathBuf, String> {
    let venv = out.join("venv");
    let py = venv.join("bin/python");
    let ready = venv.join(".installed");
    if ready.exists() {
        return Ok(py);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map_err(|e| format!("python3: {e}"))?;
    if !made.success() {
        return Err("python3 -m venv failed".into());
    }
    let pip = Command::new(&py)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args([CANVASAPI, MATPLOTLIB])
        .output()
        .map_err(|e| e.to_string())?;
    if !pip.status.success() {
        return Err(format!(
            "pip install {CANVASAPI} {MATPLOTLIB} failed: {}",
            String::from_utf8_lossy(&pip.stderr)
        ));
    }
    std::fs::write(&ready, b"").map_err(|e| e.to_string())?;
    Ok(py)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

// ---- the simulator in a child process ----

/// `{requests, throttled, level}` from the child.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    requests: u64,
    throttled: u64,
    level: f64,
    /// Bucket units charged so far.
    charged: f64,
}

#[derive(Clone)]
struct SimProcess {
    url: String,
    token: String,
    io: Arc<
        Mutex<(
            std::process::ChildStdin,
            BufReader<std::process::ChildStdout>,
        )>,
    >,
}

impl SimProcess {
    fn spawn() -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let hello: serde_json::Value = serde_json::from_str(&line).unwrap();
        // The child exits when its stdin closes, with this process.
        std::mem::forget(child);
        Self {
            url: hello["url"].as_str().unwrap().to_owned(),
            token: hello["token"].as_str().unwrap().to_owned(),
            io: Arc::new(Mutex::new((stdin, stdout))),
        }
    }

    fn stats(&self) -> Stats {
        let mut io = self.io.lock().unwrap();
        io.0.write_all(b"stats\n").unwrap();
        io.0.flush().unwrap();
        let mut line = String::new();
        io.1.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        Stats {
            requests: v["requests"].as_u64().unwrap(),
            throttled: v["throttled"].as_u64().unwrap(),
            level: v["level"].as_f64().unwrap(),
            charged: v["charged"].as_f64().unwrap(),
        }
    }

    /// Wait until the token's bucket has drained, so each client starts
    /// from the same empty bucket.
    fn wait_empty(&self) {
        while self.stats().level > 0.0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
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

fn sim_child() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            preset: Preset::District,
            throttle: ThrottleConfig {
                request_cost: COST,
                cost: cost_model(),
                time_scale: TIME_SCALE,
                ..ThrottleConfig::default()
            },
            record_requests: false,
            ..SimConfig::default()
        }))
        .unwrap();
    let token = sim.admin_token().to_owned();
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", json!({"url": sim.url(), "token": token})).unwrap();
    stdout.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "stats" {
            let v = json!({
                "requests": sim.request_count(),
                "throttled": sim.throttled_count(),
                "level": sim.bucket_level(&token),
                "charged": sim.charged_units(),
            });
            writeln!(stdout, "{v}").unwrap();
            stdout.flush().unwrap();
        }
    }
}

// ---- sampling Canvas's side every 100 ms ----

struct Sampler {
    sim: SimProcess,
    samples: Arc<Mutex<Vec<(Instant, Stats)>>>,
    stop: Arc<AtomicBool>,
}

impl Sampler {
    fn start(sim: SimProcess) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st, p) = (samples.clone(), stop.clone(), sim.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let stats = p.stats();
                s.lock().unwrap().push((Instant::now(), stats));
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        Self { sim, samples, stop }
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// A starting point: now and Canvas's counters.
    fn mark(&self) -> (Instant, Stats) {
        (Instant::now(), self.sim.stats())
    }

    /// What Canvas saw from `start` for `wall`.
    fn phase(&self, start: (Instant, Stats), wall: Duration) -> Phase {
        let end = self.sim.stats();
        let (t0, s0) = start;
        let samples: Vec<(f64, u64, u64, f64)> = self
            .samples
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| *t >= t0 && t.duration_since(t0) <= wall)
            .map(|(t, s)| {
                (
                    t.duration_since(t0).as_secs_f64(),
                    s.requests - s0.requests,
                    s.throttled - s0.throttled,
                    s.level,
                )
            })
            .collect();
        let hwm = ThrottleConfig::default().hwm;
        let at_1s = samples
            .iter()
            .take_while(|s| s.0 <= 1.0)
            .last()
            .map_or(0, |s| s.2);
        let requests = end.requests - s0.requests;
        let sustained = samples
            .iter()
            .find(|s| s.3 >= 0.7 * hwm)
            .map_or(0.0, |full| {
                (requests - full.1) as f64 / (wall.as_secs_f64() - full.0).max(0.001)
            });
        Phase {
            wall,
            requests,
            throttled: end.throttled - s0.throttled,
            throttled_after_1s: (end.throttled - s0.throttled).saturating_sub(at_1s),
            sustained,
            samples,
        }
    }
}
