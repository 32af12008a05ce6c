//! Benchmark: Python plugins against Rust ones.
//!
//! 1. Component size, compile time (what approval pays, once per digest)
//!    and load time from the compile cache, for the Python plugins and the
//!    Rust course report.
//! 2. Instantiate-and-run of a trivial Python plugin from a warm cache.
//! 3. The course report for the 320 schools of the simulator's district
//!    preset, on one token, in Rust, in Python with the SDK, and in Python
//!    with canvasapi, side by side: wall time, the host's CPU time and peak
//!    RSS, with 64 runs at once. Each job runs in a child process of its
//!    own (so its CPU time and peak RSS are its own), against one simulator
//!    in another child process, from an empty bucket: once with answers at
//!    once (only the host's CPU limits the job), once with every answer
//!    taking hosted Canvas's 150 ± 50 ms (the token's up-front costs held
//!    meanwhile limit the requests in flight: the job is bound by the
//!    token, as on hosted Canvas).
//!
//! Run: `cargo bench -p easel-tests --bench python`; `EASEL_BENCH_PY_CLOCK=1`
//! runs the job on hosted Canvas's bucket clock (token-bound, ~1 min a
//! plugin); `EASEL_BENCH_PY_ONLY=TEXT` skips parts 1 and 2 and runs the
//! job only for the plugins whose label contains TEXT (`' '`: all three);
//! `EASEL_BENCH_PY_NO_JOB=1` stops after part 2.
//! Not a test: it prints figures and ratios; the results are in
//! docs/PERFORMANCE.md.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use easel_app::{Connection, Home, RunRequest};
use easel_canvas::{CanvasClient, GovernorConfig, ReqwestTransport, Token};
use easel_policy::Grant;
use easel_runtime::{EngineOptions, Limits, RunOutcome, RunSpec, Runtime, School};
use easel_sim::{Faults, Preset, SimConfig, Simulator, ThrottleConfig};
use easel_wasm_build::python::PythonBuild;
use secrecy::SecretString;
use serde_json::json;

/// Bucket seconds per real second: 50 (as in the district bench) unless
/// `EASEL_BENCH_PY_CLOCK` says otherwise; 1 is hosted Canvas's own
/// bucket, where the job is bound by the token.
fn time_scale() -> f64 {
    std::env::var("EASEL_BENCH_PY_CLOCK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50.0)
}
const SIM_CHILD: &str = "EASEL_BENCH_PY_SIM";
const JOB_CHILD: &str = "EASEL_BENCH_PY_JOB";
const INSTANTIATE_ITERS: usize = 2_000;
/// Runs at once in the district job (`EASEL_BENCH_PY_CONCURRENCY`).
fn concurrency() -> usize {
    std::env::var("EASEL_BENCH_PY_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-bench")
}

/// The job's plugins: (label, id, component, manifest).
fn plugins() -> Vec<(&'static str, String, Vec<u8>, String)> {
    let build = |dir: &str| {
        let dir = repo().join(dir);
        let wasm = PythonBuild::new(
            repo(),
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("python"),
        )
        .build(&dir)
        .unwrap_or_else(|e| panic!("building {}: {e}", dir.display()));
        let manifest = std::fs::read_to_string(dir.join("easel.toml")).unwrap();
        let id = easel_policy::Manifest::parse(&manifest).unwrap().id;
        (id, std::fs::read(wasm).unwrap(), manifest)
    };
    let rust = &easel_bundled::COURSE_REPORT;
    let (sdk_id, sdk, sdk_m) = build("tests/plugins/python-course-report");
    let (capi_id, capi, capi_m) = build("plugins/python/course-report-canvasapi");
    vec![
        (
            "Rust (easel-sdk)",
            rust.name.to_owned(),
            rust.wasm.to_vec(),
            rust.manifest.to_owned(),
        ),
        ("Python (easel SDK)", sdk_id, sdk, sdk_m),
        ("Python (canvasapi)", capi_id, capi, capi_m),
    ]
}

fn main() {
    if std::env::var_os(SIM_CHILD).is_some() {
        sim_child();
        return;
    }
    if let Some(which) = std::env::var_os(JOB_CHILD) {
        job_child(which.to_string_lossy().parse().unwrap());
        return;
    }
    std::fs::create_dir_all(out_dir()).unwrap();
    let plugins = plugins();

    // (1) Size, compile and cached load (EASEL_BENCH_PY_ONLY skips to the job).
    let job_only = std::env::var_os("EASEL_BENCH_PY_ONLY").is_some();
    println!(
        "## components: size, compile (at submit/approval, once per digest), load from the cache"
    );
    println!(
        "{:<22} {:>10} {:>12} {:>14}",
        "plugin", "size MiB", "compile s", "cached load ms"
    );
    let noop_dir = repo().join("tests/plugins/python-noop");
    let noop = std::fs::read(
        PythonBuild::new(
            repo(),
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("python"),
        )
        .build(&noop_dir)
        .unwrap(),
    )
    .unwrap();
    let mut rows: Vec<(&str, &[u8])> = plugins
        .iter()
        .map(|(l, _, b, _)| (*l, b.as_slice()))
        .collect();
    rows.push(("Python (trivial)", &noop));
    for (label, bytes) in rows {
        if job_only {
            break;
        }
        let cache = tempfile::tempdir().unwrap();
        let t = Instant::now();
        Runtime::new(EngineOptions::new(cache.path()))
            .unwrap()
            .load(bytes, label)
            .unwrap();
        let compile = t.elapsed();
        let runtime = Runtime::new(EngineOptions::new(cache.path())).unwrap();
        let t = Instant::now();
        runtime.load(bytes, label).unwrap();
        let load = t.elapsed();
        println!(
            "{label:<22} {:>10.1} {:>12.2} {:>14.1}",
            bytes.len() as f64 / (1 << 20) as f64,
            compile.as_secs_f64(),
            load.as_secs_f64() * 1e3
        );
    }

    // (2) The trivial Python plugin's start.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if !job_only {
        rt.block_on(trivial(&noop));
    }
    if std::env::var_os("EASEL_BENCH_PY_NO_JOB").is_some() {
        return;
    }

    // (3) The district job, each way in its own process, first with the
    // simulator answering at once (the host's CPU is all that limits),
    // then with hosted Canvas's time per answer.
    let sim = SimProcess::spawn();
    println!(
        "\n## the course report for 320 schools, {} runs at once, one token",
        concurrency()
    );
    println!(
        "simulator: district preset at {}, bucket clock x{}",
        sim.url,
        time_scale()
    );
    let only = std::env::var("EASEL_BENCH_PY_ONLY").ok();
    for latency in [None, Some(CANVAS_LATENCY)] {
        sim.set_latency(latency);
        match latency {
            None => println!("\n### answers at once: bound by the host's CPU"),
            Some((l, j)) => println!(
                "\n### every answer {} ms ± {} ms (hosted Canvas; the up-front cost of the requests in flight is held meanwhile): bound by the token",
                l.as_millis(),
                j.as_millis()
            ),
        }
        let mut results = Vec::new();
        for (i, (label, ..)) in plugins.iter().enumerate() {
            if only.as_deref().is_some_and(|o| !label.contains(o)) {
                continue;
            }
            sim.wait_empty();
            let before = sim.requests();
            let out = Command::new(std::env::current_exe().unwrap())
                .env(JOB_CHILD, i.to_string())
                .env("EASEL_BENCH_SIM_URL", &sim.url)
                .env("EASEL_BENCH_SIM_TOKEN", &sim.token)
                .stderr(Stdio::inherit())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{label}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            let v: serde_json::Value = serde_json::from_slice(out.stdout.trim_ascii()).unwrap();
            results.push((*label, v, sim.requests() - before));
        }
        report(&results);
    }
    println!(
        "\ngoals: Python within 1.5x of Rust's wall time; peak RSS with {} Python runs at once <= 2048 MiB",
        concurrency()
    );
}

/// Hosted Canvas's time to answer, and its spread (as in the `latency`
/// bench): each answer waits a time drawn uniformly from this range.
const CANVAS_LATENCY: (Duration, Duration) =
    (Duration::from_millis(150), Duration::from_millis(50));

/// One table: each way of doing the job, against the first (Rust).
fn report(results: &[(&str, serde_json::Value, u64)]) {
    println!(
        "{:<22} {:>8} {:>10} {:>12} {:>10} {:>11} {:>9} {:>9} {:>9}",
        "",
        "wall s",
        "vs first",
        "host CPU s",
        "peak MiB",
        "faults/run",
        "requests",
        "runs ok",
        "rows"
    );
    let Some(first) = results.first() else {
        return;
    };
    let first_wall = first.1["wall"].as_f64().unwrap();
    for (label, v, requests) in results {
        let wall = v["wall"].as_f64().unwrap();
        println!(
            "{label:<22} {wall:>8.2} {:>9.2}x {:>12.2} {:>10.0} {:>11.0} {requests:>9} {:>9} {:>9}",
            wall / first_wall,
            v["cpu"].as_f64().unwrap(),
            v["peak_rss_mib"].as_f64().unwrap(),
            v["faults"].as_f64().unwrap() / v["succeeded"].as_f64().unwrap().max(1.0),
            v["succeeded"],
            v["rows"],
        );
    }
    let digests: Vec<&str> = results
        .iter()
        .map(|(_, v, _)| v["rows_sha256"].as_str().unwrap())
        .collect();
    println!(
        "same rows in all: {} ({} rows each)",
        digests.windows(2).all(|w| w[0] == w[1]),
        first.1["rows"]
    );
}

async fn trivial(noop: &[u8]) {
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(EngineOptions::new(cache.path())).unwrap();
    let component = runtime.load(noop, "python-noop").unwrap();
    let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(5)).unwrap());
    let client = CanvasClient::with_token(
        "http://127.0.0.1:9",
        Token::new(SecretString::from("7~unused".to_owned())),
        transport,
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let spec = || RunSpec {
        run_id: "bench".into(),
        plugin_id: "python-noop".into(),
        component: component.clone(),
        school: School {
            id: 2,
            name: "bench".into(),
        },
        instance: "sim".into(),
        dry_run: false,
        params: vec![],
        grant: Grant::new(vec![2], false, 1),
        client: client.clone(),
        output_dir: out.path().to_path_buf(),
        limits: Limits::default(),
        audit: Arc::new(easel_runtime::DiscardAudit),
        binding: None,
    };
    for _ in 0..100 {
        runtime.run(spec()).await;
    }
    let mut times = Vec::with_capacity(INSTANTIATE_ITERS);
    let faults0 = minor_faults();
    for _ in 0..INSTANTIATE_ITERS {
        let s = spec();
        let t = Instant::now();
        let r = runtime.run(s).await;
        times.push(t.elapsed());
        assert_eq!(r.outcome, RunOutcome::Succeeded, "{}", r.log);
    }
    let faults = (minor_faults() - faults0) / INSTANTIATE_ITERS as f64;
    times.sort();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    println!(
        "\n## instantiate+run, trivial Python plugin, warm cache, {INSTANTIATE_ITERS} runs\n  median {:.1} µs   p99 {:.1} µs   {faults:.0} page faults/run   goal <= 1000 µs median",
        pct(0.5).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6
    );
}

/// One way of doing the district job, in this (child) process; prints JSON.
fn job_child(which: usize) {
    let (label, id, bytes, manifest) = plugins().swap_remove(which);
    let url = std::env::var("EASEL_BENCH_SIM_URL").unwrap();
    let token = std::env::var("EASEL_BENCH_SIM_TOKEN").unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = out_dir().join(format!("home-{which}"));
    let _ = std::fs::remove_dir_all(&dir);
    let home = Home::open(Some(dir)).unwrap();
    easel_app::add(&home, &easel_tests::person("bench"), &bytes, &manifest, &id).unwrap();
    let token = Token::new(SecretString::from(token));
    let bucket = GovernorConfig::default().time_scaled(time_scale());
    let v = rt.block_on(async {
        let conn = Connection::to_url(&url, token, bucket).unwrap();
        let runtime = home.runtime_for(concurrency() as u32).unwrap();
        let listed = conn.schools().await.unwrap();
        let ids: Vec<u64> = listed.iter().map(|s| s.id).collect();
        // Approving (and with it compiling) is set-up, not the job.
        easel_app::approve(&home, &id, &ids, false, &easel_tests::person("admin")).unwrap();
        let known: HashMap<u64, easel_runtime::School> =
            listed.into_iter().map(|s| (s.id, s)).collect();
        let cpu0 = cpu_seconds();
        let faults0 = minor_faults();
        let t0 = Instant::now();
        let reqs = ids
            .iter()
            .map(|&school| RunRequest {
                plugin: id.clone(),
                school,
                dry_run: false,
                params: vec![],
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
            concurrency(),
            &easel_app::Quiet,
        )
        .await;
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let faults = minor_faults() - faults0;
        let (mut succeeded, mut all_rows) = (0, Vec::new());
        for (_, r) in &results {
            let Ok(r) = r else { continue };
            if let Some(e) = r.report.outcome.error() {
                eprintln!("{label}: {e}");
            } else {
                succeeded += 1;
            }
            for o in &r.report.outputs {
                let text = std::fs::read_to_string(o).unwrap();
                all_rows.extend(text.lines().skip(1).map(str::to_owned));
            }
        }
        all_rows.sort();
        let digest = easel_tests::sha256_hex(all_rows.join("\n").as_bytes());
        json!({
            "wall": wall,
            "cpu": cpu,
            "faults": faults,
            "peak_rss_mib": peak_rss_mib(),
            "succeeded": succeeded,
            "rows": all_rows.len(),
            "rows_sha256": digest,
        })
    });
    println!("{v}");
}

/// Field `i` (0: the state) of this process's `/proc/self/stat` after the
/// command's closing parenthesis.
fn stat_field(i: usize) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace()
        .nth(i)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// This process's user+system CPU time, seconds (the 14th and 15th fields
/// of the whole line, in clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    (stat_field(11) + stat_field(12)) / 100.0
}

/// Page faults this process took without reading from disk (the 10th
/// field): mostly, here, the first write to each page of a plugin's memory
/// that a run shares copy-on-write.
fn minor_faults() -> f64 {
    stat_field(7)
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

struct SimProcess {
    url: String,
    token: String,
    io: std::sync::Mutex<(
        std::process::ChildStdin,
        BufReader<std::process::ChildStdout>,
    )>,
}

impl SimProcess {
    fn spawn() -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(SIM_CHILD, "1")
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
            io: std::sync::Mutex::new((stdin, stdout)),
        }
    }

    fn ask(&self) -> serde_json::Value {
        let mut io = self.io.lock().unwrap();
        io.0.write_all(b"stats\n").unwrap();
        io.0.flush().unwrap();
        let mut line = String::new();
        io.1.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }

    fn requests(&self) -> u64 {
        self.ask()["requests"].as_u64().unwrap()
    }

    /// Every answer from now on waits this long (± the second), or not.
    fn set_latency(&self, latency: Option<(Duration, Duration)>) {
        let (l, j) = latency.unwrap_or_default();
        let mut io = self.io.lock().unwrap();
        writeln!(io.0, "latency {} {}", l.as_micros(), j.as_micros()).unwrap();
        io.0.flush().unwrap();
        let mut line = String::new();
        io.1.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ok");
    }

    /// Wait until the token's bucket has drained.
    fn wait_empty(&self) {
        while self.ask()["level"].as_f64().unwrap() > 0.0 {
            std::thread::sleep(Duration::from_millis(50));
        }
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
                time_scale: time_scale(),
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
        if let Some(rest) = line.trim().strip_prefix("latency ") {
            let us: Vec<u64> = rest.split(' ').map(|v| v.parse().unwrap()).collect();
            let latency = (us[0] > 0).then(|| Duration::from_micros(us[0]));
            sim.set_faults(Faults {
                latency,
                latency_jitter: latency.map(|_| Duration::from_micros(us[1])),
                ..Faults::default()
            });
            writeln!(stdout, "ok").unwrap();
            stdout.flush().unwrap();
        } else if line.trim() == "stats" {
            let v = json!({
                "requests": sim.request_count(),
                "level": sim.bucket_level(&token),
            });
            writeln!(stdout, "{v}").unwrap();
            stdout.flush().unwrap();
        }
    }
}
