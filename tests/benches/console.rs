//! Benchmark: the web console's runs page with 10,000 runs stored, over
//! loopback HTTP, signed in with a password (a session cookie). Figures are
//! each page's latency, p50 and p99 (one client, one request at a time, a
//! fresh connection each), for a district admin (every school's runs) and
//! a school's contributor (their school's runs only), at the page's
//! default of 100 runs and at its most, 1,000.
//!
//! Run: `cargo bench -p easel-tests --bench console`
//! Not a test: it prints figures; docs/PERFORMANCE.md records them.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const RUNS: usize = 10_000;
const SCHOOLS: u64 = 20;
const GETS: usize = 200;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One request on a fresh connection: status, headers and body.
fn call(addr: SocketAddr, method: &str, path: &str, cookie: &str, body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nConnection: close\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn cookie_of(answer: &str, name: &str) -> String {
    answer
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .find(|l| l.starts_with(&format!("{name}=")))
        .and_then(|l| l.split(';').next())
        .unwrap()
        .to_owned()
}

/// A console session for `name`: its cookie.
fn sign_in(addr: SocketAddr, name: &str, password: &str) -> String {
    let (_, page) = call(addr, "GET", "/console/sign-in", "", "");
    let nonce = cookie_of(&page, "easel_signin");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let form = format!("csrf={csrf}&name={name}&password={password}");
    let (status, answer) = call(addr, "POST", "/console/sign-in", &nonce, &form);
    assert_eq!(status, 303, "{answer}");
    cookie_of(&answer, "easel_session")
}

fn measure(addr: SocketAddr, name: &str, path: &str, cookie: &str, expect_rows: usize) {
    let (status, page) = call(addr, "GET", path, cookie, "");
    assert_eq!(status, 200, "{page}");
    let rows = page
        .matches("<td class=\"mono\"><a href=\"/console/runs/")
        .count();
    assert_eq!(rows, expect_rows, "{path}");
    let mut times = Vec::with_capacity(GETS);
    let start = Instant::now();
    for _ in 0..GETS {
        let t = Instant::now();
        let (status, _) = call(addr, "GET", path, cookie, "");
        assert_eq!(status, 200);
        times.push(t.elapsed());
    }
    let total = start.elapsed();
    times.sort();
    println!(
        "{name:<44} n={GETS:<4} p50 {:>7.2} ms  p99 {:>7.2} ms  {:>6.1} pages/s  ({} KiB)",
        percentile(&times, 0.5).as_secs_f64() * 1000.0,
        percentile(&times, 0.99).as_secs_f64() * 1000.0,
        GETS as f64 / total.as_secs_f64(),
        page.len() / 1024
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
    p.add_user(&me, "admin", vec![easel_app::Role::DistrictAdmin])
        .unwrap();
    p.set_password(&me, "admin", "correct-horse-battery")
        .unwrap();
    p.add_user(
        &me,
        "lhs-it",
        vec![easel_app::Role::SchoolContributor { schools: vec![2] }],
    )
    .unwrap();
    p.set_password(&me, "lhs-it", "correct-horse-battery")
        .unwrap();

    let fill = Instant::now();
    let log = "fetched 12 courses on 1 page\nwrote courses.csv (12 rows)\n";
    for i in 0..RUNS {
        let id = format!("{i:016x}");
        let run = easel_store::NewRun {
            id: id.clone(),
            plugin_id: "course-report".into(),
            digest: "ab".repeat(32),
            school: 2 + (i as u64 % SCHOOLS),
            instance: "sim".into(),
            dry_run: i % 3 == 0,
            params: vec![("state".into(), String::new())],
            applies: None,
            owner: None,
            batch: None,
            token: None,
        };
        home.store.start_run(&run).unwrap();
        home.store
            .finish_run(
                &id,
                &easel_store::RunFinish {
                    status: Some(easel_store::RunStatus::Succeeded),
                    duration_ms: 420,
                    calls: 3,
                    denied: 0,
                    error: None,
                    outputs: vec![format!("/runs/{id}/courses.csv")],
                    log: log.into(),
                    plan: Vec::new(),
                    plan_result: Vec::new(),
                },
            )
            .unwrap();
    }
    println!(
        "stored {RUNS} runs over {SCHOOLS} schools in {:.1} s",
        fill.elapsed().as_secs_f64()
    );
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
    let admin = sign_in(addr, "admin", "correct-horse-battery");
    let it = sign_in(addr, "lhs-it", "correct-horse-battery");
    measure(
        addr,
        "runs page, district admin, 100 runs",
        "/console/runs",
        &admin,
        100,
    );
    measure(
        addr,
        "runs page, district admin, 1000 runs",
        "/console/runs?limit=1000",
        &admin,
        1000,
    );
    measure(
        addr,
        "runs page, one school's contributor, 100",
        "/console/runs",
        &it,
        100,
    );
    measure(
        addr,
        "runs page, filtered by school, 100",
        "/console/runs?school=7",
        &admin,
        100,
    );
}
