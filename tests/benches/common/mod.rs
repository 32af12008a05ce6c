//! What the simulator-driven benches share: the simulator in a child
//! process (so the host's peak RSS is easel's own and the simulator is its
//! own Canvas), a sampler of Canvas's counters, the Python venv for the
//! comparison scripts, and the host's peak RSS.
//!
//! A bench's `main` calls [`child_main`] first: when it returns `true` the
//! process is the simulator child and the bench returns.

#![allow(dead_code)] // each bench uses part of it

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use easel_sim::{CostModel, Faults, Preset, SimConfig, Simulator, Sizes, ThrottleConfig};
use serde_json::json;

const CHILD: &str = "EASEL_BENCH_SIM_CHILD";
pub const CANVASAPI: &str = "canvasapi==3.6.0";
pub const MATPLOTLIB: &str = "matplotlib==3.9.2";
pub const HTTPX: &str = "httpx==0.27.2";
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// The simulated Canvas a bench runs against.
#[derive(Debug, Clone)]
pub struct SimSpec {
    /// Schools and courses per school; `None`: the `district` preset
    /// (320 schools of 40 courses).
    pub sizes: Option<(usize, usize)>,
    /// The token's bucket (every token has its own).
    pub throttle: ThrottleConfig,
    /// Latency added to every answer, and its jitter (uniform ±).
    pub latency: Option<(Duration, Duration)>,
    /// Root-admin tokens besides the simulator's own, each with its own
    /// bucket.
    pub extra_tokens: usize,
}

impl SimSpec {
    pub fn district(throttle: ThrottleConfig) -> Self {
        Self {
            sizes: None,
            throttle,
            latency: None,
            extra_tokens: 0,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let t = &self.throttle;
        json!({
            "sizes": self.sizes.map(|(s, c)| [s, c]),
            "hwm": t.hwm, "maximum": t.maximum, "outflow": t.outflow,
            "up_front": t.up_front, "request_cost": t.request_cost,
            "endpoint_cost": t.cost == CostModel::PerEndpoint,
            "time_scale": t.time_scale,
            "latency": self.latency.map(|(l, j)| [l.as_secs_f64(), j.as_secs_f64()]),
            "extra_tokens": self.extra_tokens,
        })
    }

    fn from_json(v: &serde_json::Value) -> Self {
        let f = |k: &str| v[k].as_f64().unwrap();
        Self {
            sizes: v["sizes"].as_array().map(|a| {
                (
                    a[0].as_u64().unwrap() as usize,
                    a[1].as_u64().unwrap() as usize,
                )
            }),
            throttle: ThrottleConfig {
                hwm: f("hwm"),
                maximum: f("maximum"),
                outflow: f("outflow"),
                up_front: f("up_front"),
                request_cost: f("request_cost"),
                cost: if v["endpoint_cost"].as_bool().unwrap() {
                    CostModel::PerEndpoint
                } else {
                    CostModel::Fixed
                },
                time_scale: f("time_scale"),
                ..ThrottleConfig::default()
            },
            latency: v["latency"].as_array().map(|a| {
                (
                    Duration::from_secs_f64(a[0].as_f64().unwrap()),
                    Duration::from_secs_f64(a[1].as_f64().unwrap()),
                )
            }),
            extra_tokens: v["extra_tokens"].as_u64().unwrap() as usize,
        }
    }
}

/// Canvas's counters, from the child.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub requests: u64,
    pub throttled: u64,
    /// The first token's bucket level.
    pub level: f64,
    /// Every token's bucket level, the simulator's own token first.
    pub levels: Vec<f64>,
    /// Bucket units charged so far, all tokens.
    pub charged: f64,
}

/// The simulator, running in a child process of this bench.
#[derive(Clone)]
pub struct SimProcess {
    pub url: String,
    /// The simulator's own root-admin token, then the extra ones.
    pub tokens: Vec<String>,
    pub spec: SimSpec,
    io: Arc<
        Mutex<(
            std::process::ChildStdin,
            BufReader<std::process::ChildStdout>,
        )>,
    >,
}

impl SimProcess {
    pub fn spawn(spec: SimSpec) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD, spec.to_json().to_string())
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
            tokens: hello["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect(),
            spec,
            io: Arc::new(Mutex::new((stdin, stdout))),
        }
    }

    /// The simulator's own root-admin token.
    pub fn token(&self) -> &str {
        &self.tokens[0]
    }

    pub fn stats(&self) -> Stats {
        let mut io = self.io.lock().unwrap();
        io.0.write_all(b"stats\n").unwrap();
        io.0.flush().unwrap();
        let mut line = String::new();
        io.1.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let levels: Vec<f64> = v["levels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_f64().unwrap())
            .collect();
        Stats {
            requests: v["requests"].as_u64().unwrap(),
            throttled: v["throttled"].as_u64().unwrap(),
            level: levels[0],
            levels,
            charged: v["charged"].as_f64().unwrap(),
        }
    }

    /// Put `each_way` of network between every client and the simulator's
    /// bucket from now on (`Faults::network`), and make every answer wait
    /// `latency` (and jitter, uniform ±) while its reservation is held,
    /// instead of the spec's.
    pub fn set_network(&self, each_way: Duration, latency: Option<(Duration, Duration)>) {
        let mut io = self.io.lock().unwrap();
        let (l, j) = latency.unwrap_or_default();
        writeln!(
            io.0,
            "network {} {} {}",
            each_way.as_secs_f64(),
            l.as_secs_f64(),
            j.as_secs_f64()
        )
        .unwrap();
        io.0.flush().unwrap();
        let mut line = String::new();
        io.1.read_line(&mut line).unwrap();
    }

    /// Wait until every token's bucket has drained, so each client starts
    /// from an empty bucket.
    pub fn wait_empty(&self) {
        while self.stats().levels.iter().any(|l| *l > 0.0) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Bucket units leaked per real second.
    pub fn outflow_per_real_second(&self) -> f64 {
        self.spec.throttle.outflow * self.spec.throttle.time_scale
    }
}

/// When this process is a bench's simulator child, serve until stdin
/// closes and return `true`.
pub fn child_main() -> bool {
    let Some(spec) = std::env::var_os(CHILD) else {
        return false;
    };
    let spec = SimSpec::from_json(&serde_json::from_str(&spec.to_string_lossy()).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let preset = match spec.sizes {
        None => Preset::District,
        Some((schools, courses_per_school)) => Preset::Custom(Sizes {
            schools,
            courses_per_school,
            ..Preset::District.sizes()
        }),
    };
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            preset,
            throttle: spec.throttle.clone(),
            record_requests: false,
            ..SimConfig::default()
        }))
        .unwrap();
    let faults = |network: Option<Duration>, latency: Option<(Duration, Duration)>| Faults {
        latency: latency.map(|(l, _)| l),
        latency_jitter: latency.map(|(_, j)| j),
        network,
        ..Faults::default()
    };
    sim.set_faults(faults(None, spec.latency));
    let admin = easel_sim::ADMIN_USER_ID;
    let mut tokens = vec![sim.admin_token().to_owned()];
    for i in 0..spec.extra_tokens {
        let token = format!("bench-district-{i}-{}", rand::random::<u64>());
        sim.add_token(&token, admin);
        tokens.push(token);
    }
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", json!({"url": sim.url(), "tokens": tokens})).unwrap();
    stdout.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if let Some(args) = line.trim().strip_prefix("network ") {
            let secs: Vec<Duration> = args
                .split(' ')
                .map(|s| Duration::from_secs_f64(s.parse().unwrap()))
                .collect();
            let latency = (!secs[1].is_zero()).then_some((secs[1], secs[2]));
            sim.set_faults(faults(Some(secs[0]), latency.or(spec.latency)));
            writeln!(stdout, "{{}}").unwrap();
            stdout.flush().unwrap();
        } else if line.trim() == "stats" {
            let levels: Vec<f64> = tokens.iter().map(|t| sim.bucket_level(t)).collect();
            let v = json!({
                "requests": sim.request_count(),
                "throttled": sim.throttled_count(),
                "levels": levels,
                "charged": sim.charged_units(),
            });
            writeln!(stdout, "{v}").unwrap();
            stdout.flush().unwrap();
        }
    }
    true
}

/// What Canvas saw while one client ran.
#[derive(Debug, Default)]
pub struct Phase {
    pub wall: Duration,
    pub requests: u64,
    pub throttled: u64,
    pub throttled_after_1s: u64,
    /// Requests/s from when the bucket first filled to the end.
    pub sustained: f64,
    /// (seconds since start, requests, throttled, level of the first token).
    pub samples: Vec<(f64, u64, u64, f64)>,
    /// Bucket units charged.
    pub charged: f64,
}

impl Phase {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64()
    }
}

/// Samples Canvas's counters every [`SAMPLE_EVERY`].
pub struct Sampler {
    sim: SimProcess,
    samples: Arc<Mutex<Vec<(Instant, Stats)>>>,
    stop: Arc<AtomicBool>,
}

impl Sampler {
    pub fn start(sim: SimProcess) -> Self {
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

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// A starting point: now and Canvas's counters.
    pub fn mark(&self) -> (Instant, Stats) {
        (Instant::now(), self.sim.stats())
    }

    /// Every sample from `t0` for `wall`: (seconds, stats).
    pub fn raw(&self, t0: Instant, wall: Duration) -> Vec<(f64, Stats)> {
        self.samples
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| *t >= t0 && t.duration_since(t0) <= wall)
            .map(|(t, s)| (t.duration_since(t0).as_secs_f64(), s.clone()))
            .collect()
    }

    /// What Canvas saw from `start` for `wall`.
    pub fn phase(&self, start: &(Instant, Stats), wall: Duration) -> Phase {
        let end = self.sim.stats();
        let (t0, s0) = start;
        let samples: Vec<(f64, u64, u64, f64)> = self
            .raw(*t0, wall)
            .into_iter()
            .map(|(t, s)| {
                (
                    t,
                    s.requests - s0.requests,
                    s.throttled - s0.throttled,
                    s.level,
                )
            })
            .collect();
        let hwm = self.sim.spec.throttle.hwm;
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
            charged: end.charged - s0.charged,
        }
    }
}

/// The benches' venv (under `target/`) with canvasapi, httpx and
/// matplotlib, made on first use; its python.
pub fn python_env() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-venv");
    let py = venv.join("bin/python");
    let ready = venv.join(format!(".installed-{CANVASAPI}-{HTTPX}-{MATPLOTLIB}"));
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
        .args([CANVASAPI, HTTPX, MATPLOTLIB])
        .output()
        .map_err(|e| e.to_string())?;
    if !pip.status.success() {
        return Err(format!(
            "pip install {CANVASAPI} {HTTPX} {MATPLOTLIB} failed: {}",
            String::from_utf8_lossy(&pip.stderr)
        ));
    }
    std::fs::write(&ready, b"").map_err(|e| e.to_string())?;
    Ok(py)
}

/// A script under tests/compat.
pub fn compat(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("compat")
        .join(script)
}

/// This process's peak resident set, in MiB.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Jain's fairness index of `xs`.
pub fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    sum * sum / (xs.len() as f64 * squares)
}

/// Write `rows` as the samples CSV the plot scripts read: client, seconds,
/// requests, throttled, level.
pub fn write_samples(path: &Path, rows: &[(&str, &Phase)]) {
    let mut csv = String::from("client,seconds,requests,throttled,level\n");
    for (name, p) in rows {
        for s in &p.samples {
            csv.push_str(&format!("{name},{:.3},{},{},{:.1}\n", s.0, s.1, s.2, s.3));
        }
    }
    std::fs::write(path, csv).unwrap();
}

/// An easel data directory with the bundled course report added, ready to
/// approve and run.
pub struct Easel {
    pub home: easel_app::Home,
    pub runtime: easel_runtime::Runtime,
}

impl Easel {
    /// A fresh home in `dir` sized for `concurrency` runs.
    pub fn new(dir: &Path, concurrency: u32) -> Self {
        let _ = std::fs::remove_dir_all(dir);
        let home = easel_app::Home::open(Some(dir.to_owned())).unwrap();
        let report = &easel_bundled::COURSE_REPORT;
        easel_app::add(
            &home,
            &easel_tests::person("bench"),
            report.wasm,
            report.manifest,
            report.name,
        )
        .unwrap();
        let runtime = home.runtime_for(concurrency).unwrap();
        runtime.load(report.wasm, "course-report").unwrap();
        Self { home, runtime }
    }

    /// A connection to the simulator with `token`, its governor set to
    /// `bucket`.
    pub fn connect(
        sim: &SimProcess,
        token: &str,
        bucket: easel_canvas::GovernorConfig,
    ) -> easel_app::Connection {
        let token = easel_canvas::Token::new(secrecy::SecretString::from(token.to_owned()));
        easel_app::Connection::to_url(&sim.url, token, bucket).unwrap()
    }

    /// Approve the course report for the schools `conn` lists (set-up, not
    /// the job); their ids.
    pub async fn approve(&self, conn: &easel_app::Connection) -> Vec<u64> {
        let ids: Vec<u64> = conn.schools().await.unwrap().iter().map(|s| s.id).collect();
        easel_app::approve(
            &self.home,
            "course-report",
            &ids,
            false,
            &easel_tests::person("admin"),
        )
        .unwrap();
        ids
    }

    /// The job: list the schools, then the course report with sections for
    /// each of `ids`, `concurrency` runs at once.
    pub async fn course_report(
        &self,
        conn: &easel_app::Connection,
        ids: &[u64],
        concurrency: usize,
    ) -> Job {
        let t0 = Instant::now();
        let known: std::collections::HashMap<u64, easel_runtime::School> = conn
            .schools()
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let reqs = ids
            .iter()
            .map(|&school| easel_app::RunRequest {
                plugin: "course-report".into(),
                school,
                dry_run: false,
                params: vec![("sections".into(), "true".into())],
                limits: easel_runtime::Limits::default(),
                plan: None,
            })
            .collect();
        let results = easel_app::execute_many(
            &self.home,
            &easel_tests::person("admin"),
            conn,
            &self.runtime,
            reqs,
            &known,
            concurrency,
            &easel_app::Quiet,
        )
        .await;
        let wall = t0.elapsed();
        let mut job = Job {
            wall,
            runs: results.len(),
            ..Job::default()
        };
        for (_, r) in &results {
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    job.errors.push(e.to_string());
                    continue;
                }
            };
            match r.report.outcome.error() {
                None => job.succeeded += 1,
                Some(e) => job.errors.push(e.to_string()),
            }
            let calls = f64::from(r.report.calls + r.report.lookups);
            job.throughputs
                .push(calls / r.report.duration.as_secs_f64());
            job.overheads.extend_from_slice(&r.report.call_overheads);
            for o in &r.report.outputs {
                job.rows += std::fs::read_to_string(o).unwrap().lines().count() - 1;
            }
        }
        job.overheads.sort_unstable();
        job.governor = conn.client.governor().stats();
        job
    }
}

/// What one easel job did, from easel's side.
#[derive(Debug, Default)]
pub struct Job {
    pub wall: Duration,
    pub runs: usize,
    pub succeeded: usize,
    pub rows: usize,
    /// Each run's Canvas calls per second.
    pub throughputs: Vec<f64>,
    /// Host overhead per call, sorted.
    pub overheads: Vec<Duration>,
    pub governor: easel_canvas::GovernorStats,
    /// Why each failed run failed.
    pub errors: Vec<String>,
}

impl Job {
    /// The `p`th quantile of the host overhead per call.
    pub fn overhead(&self, p: f64) -> Duration {
        if self.overheads.is_empty() {
            return Duration::ZERO;
        }
        self.overheads[((self.overheads.len() - 1) as f64 * p).round() as usize]
    }

    pub fn jain(&self) -> f64 {
        jain(&self.throughputs)
    }
}

/// Run a comparison script under tests/compat against the simulator's own
/// token (`CANVAS_URL`, `CANVAS_TOKEN`), from an empty bucket, as `script
/// ARG BACKOFF OUT_CSV`; what Canvas saw meanwhile, and the rows the script
/// reports on its last line (`{"rows": N}`).
pub fn run_script(
    sim: &SimProcess,
    sampler: &Sampler,
    python: &Path,
    script: &str,
    arg: u32,
    backoff: f64,
    out: &Path,
) -> (Phase, u64) {
    sim.wait_empty();
    let csv = out.join(format!("{script}-{arg}.csv"));
    let start = sampler.mark();
    let t0 = Instant::now();
    let output = Command::new(python)
        .arg(compat(script))
        .arg(arg.to_string())
        .arg(backoff.to_string())
        .arg(&csv)
        .env("CANVAS_URL", &sim.url)
        .env("CANVAS_TOKEN", sim.token())
        .output()
        .unwrap();
    let wall = t0.elapsed();
    assert!(
        output.status.success(),
        "{script} {arg} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(output.stdout.trim_ascii()).unwrap_or(json!({}));
    (
        sampler.phase(&start, wall),
        report["rows"].as_u64().unwrap_or(0),
    )
}

/// Run a plot script under tests/compat with the venv's python (`script
/// ARGS...`); prints where the plot is when it was written.
pub fn plot(script: &str, args: &[String], png: &Path) {
    let Ok(py) = python_env() else { return };
    let status = Command::new(py)
        .arg(compat(script))
        .args(args)
        .status()
        .unwrap();
    if status.success() {
        println!("\nplot: {}", png.display());
    }
}
