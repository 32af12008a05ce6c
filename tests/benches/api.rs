//! Benchmark: `easel serve`'s API over loopback HTTP. (1) `GET
//! /api/v1/runs` (50 runs stored, a contributor's token), (2) `POST
//! /api/v1/runs` a dry run of the course report for one school (embedded
//! simulator). Each request is a fresh connection from one client, one at
//! a time; figures are latency p50/p99 and throughput.
//!
//! Run: `cargo bench -p easel-tests --bench api`
//! Not a test: it prints figures; they are recorded in docs/PERFORMANCE.md.

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

const GETS: usize = 500;
const DRY_RUNS: usize = 100;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn call(addr: std::net::SocketAddr, method: &str, path: &str, token: &str, body: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out[..12.min(out.len())])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn report(name: &str, mut times: Vec<Duration>, total: Duration) {
    times.sort();
    println!(
        "{name:<28} n={:<5} p50 {:>8.2} ms  p99 {:>8.2} ms  {:>7.1} req/s",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1000.0,
        percentile(&times, 0.99).as_secs_f64() * 1000.0,
        times.len() as f64 / total.as_secs_f64()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let home = easel_tests::home(&root);
    let me = easel_app::process::local_actor();
    let p = home.principals();
    p.add_user(
        &me,
        "lhs-it",
        vec![easel_app::Role::SchoolContributor { schools: vec![2] }],
    )
    .unwrap();
    let token = p
        .issue_token(&me, "lhs-it", "bench", None, None)
        .unwrap()
        .token;
    let plugin = &easel_bundled::COURSE_REPORT;
    easel_app::add(
        &home,
        &easel_tests::person("lhs-it-admin"),
        plugin.wasm,
        plugin.manifest,
        plugin.name,
    )
    .unwrap();
    easel_app::approve(&home, "course-report", &[2], false, &me).unwrap();
    let cache = home.cache_override();
    drop(home);
    let server = easel_server::Server::new(root, cache).unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(easel_server::serve(
        listener,
        server,
        std::future::pending(),
    ));

    let body = r#"{"plugin":"course-report","school":2,"dry_run":true}"#;
    // Warm up (the simulator starts and the component compiles on first use).
    assert_eq!(call(addr, "POST", "/api/v1/runs", &token, body), 201);
    let mut times = Vec::new();
    let start = Instant::now();
    for _ in 0..DRY_RUNS {
        let t = Instant::now();
        assert_eq!(call(addr, "POST", "/api/v1/runs", &token, body), 201);
        times.push(t.elapsed());
    }
    report("POST /api/v1/runs (dry run)", times, start.elapsed());
    let mut times = Vec::new();
    let start = Instant::now();
    for _ in 0..GETS {
        let t = Instant::now();
        assert_eq!(call(addr, "GET", "/api/v1/runs?limit=50", &token, ""), 200);
        times.push(t.elapsed());
    }
    report("GET /api/v1/runs (50 runs)", times, start.elapsed());
}
