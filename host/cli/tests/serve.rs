//! `easel serve` end to end over loopback HTTP: a school's IT person signs
//! in from "their own machine" (another config directory, no data
//! directory), submits a plugin and dry-runs it; an approver approves; the
//! report is downloaded. Then the API's refusals: what each role may not
//! do, bad input, credentials in URLs, a brute force, loose token files,
//! and no secret in any answer or log line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Served, serve, text};

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// `easel ARGS` as a client whose config directory is `config` (and who
/// has no data directory of its own), with `stdin`.
fn client(config: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(args)
        .env("XDG_CONFIG_HOME", config)
        .env("EASEL_HOME", config.join("no-data-here"))
        .env_remove("EASEL_SERVER")
        .env_remove("EASEL_API_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A user added on the server's data directory; their one-time password.
fn add_user(home: &Path, args: &[&str]) -> String {
    let out = common::easel(home, args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn a_contributor_submits_from_afar_an_approver_approves_and_the_report_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("server");
    let it_pw = add_user(
        &home,
        &[
            "user",
            "add",
            "school-it",
            "--role",
            "contributor",
            "--school",
            "2",
        ],
    );
    let ana_pw = add_user(&home, &["user", "add", "ana", "--role", "approver"]);
    let served = serve(&home);
    let (it, ana) = (dir.path().join("laptop"), dir.path().join("admin-desk"));

    // Sign in: the token is kept 0600, never the password.
    let out = client(
        &it,
        &["login", "--server", &served.url, "--name", "school-it"],
        &format!("{it_pw}\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let creds = it.join("easel/credentials.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let saved = std::fs::read_to_string(&creds).unwrap();
    assert!(!saved.contains(&it_pw), "the password is not kept");
    let it_token: String = serde_json::from_str::<serde_json::Value>(&saved).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = client(
        &ana,
        &["login", "--server", &served.url, "--name", "ana", "--json"],
        &format!("{ana_pw}\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let said: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (said["user"].as_str(), said["server"].as_str()),
        (Some("ana"), Some(served.url.as_str())),
        "{said}"
    );
    let ana_saved = std::fs::read_to_string(ana.join("easel/credentials.json")).unwrap();
    let ana_secret = serde_json::from_str::<serde_json::Value>(&ana_saved).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !text(&out).contains(&ana_secret),
        "login --json does not print the API token"
    );

    // The contributor checks, then submits, from its laptop; it may not
    // approve.
    let files = tempfile::tempdir().unwrap();
    let (wasm, manifest) = common::bundled_files(files.path(), &easel_bundled::COURSE_REPORT);
    let out = client(&it, &["plugin", "check", &manifest, &wasm], "");
    assert!(out.status.success(), "{}", text(&out));
    let local = common::easel(&home, &["plugin", "check", &manifest, &wasm]);
    assert_eq!(
        out.stdout, local.stdout,
        "the same findings as a local check"
    );
    assert!(
        text(&out).contains("component matches the manifest"),
        "{}",
        text(&out)
    );
    // A component that writes, under a manifest that does not ask to.
    let other = tempfile::tempdir().unwrap();
    let (writer, _) = common::bundled_files(other.path(), &easel_bundled::COURSE_PUBLISHER);
    let out = client(&it, &["plugin", "check", &manifest, &writer], "");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("imports easel:canvas/write"),
        "{}",
        text(&out)
    );
    let out = client(
        &it,
        &["plugin", "submit", &wasm, "--manifest", &manifest],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("added course-report"), "{}", text(&out));
    let out = client(
        &it,
        &["plugin", "approve", "course-report", "--school", "2"],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("may not approve"), "{}", text(&out));

    // The approver approves for schools 2 and 4, and runs school 4 live.
    let out = client(
        &ana,
        &["plugin", "approve", "course-report", "--school", "2,4"],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("by ana"), "{}", text(&out));
    let out = client(
        &ana,
        &["run", "course-report", "--school", "4", "--json"],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    let other: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let other_run = other["id"].as_str().unwrap().to_owned();

    // The plugin list says where it is approved, once per school.
    let out = client(&it, &["plugin", "list", "--json"], "");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        list[0]["approved_schools"],
        serde_json::json!([2, 4]),
        "{list}"
    );
    // Inspecting goes through the server, and says what the local command
    // says.
    let out = client(&it, &["plugin", "inspect", "course-report"], "");
    assert!(out.status.success(), "{}", text(&out));
    let local = common::easel(&home, &["plugin", "inspect", "course-report"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&local.stdout)
    );
    assert!(text(&out).contains("easel:canvas/read@"), "{}", text(&out));
    // A command that would read this laptop's (empty) data directory says
    // so, rather than answer from it.
    let out = client(&it, &["config", "show"], "");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--local"), "{}", text(&out));
    assert!(!it.join("no-data-here").join("easel.db").exists());
    // Through a server the grant's instance and token are used: one named
    // on the command line is refused, not ignored.
    let out = client(
        &it,
        &[
            "--instance",
            "test",
            "run",
            "course-report",
            "--school",
            "2",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("drop --instance and --token"),
        "{}",
        text(&out)
    );
    // The audit log: the approver verifies and reads it through the server;
    // the contributor may not.
    let out = client(&ana, &["audit", "verify"], "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).starts_with("intact"), "{}", text(&out));
    let out = client(&ana, &["audit", "tail", "-n", "3"], "");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    let out = client(&ana, &["audit", "export", "--plugin", "course-report"], "");
    let exported = String::from_utf8_lossy(&out.stdout).into_owned();
    let local = common::easel(&home, &["audit", "export", "--plugin", "course-report"]);
    assert_eq!(exported, String::from_utf8_lossy(&local.stdout));
    assert!(exported.contains("plugin-approved"), "{exported}");
    let out = client(&it, &["audit", "verify"], "");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("may not read the audit log"),
        "{}",
        text(&out)
    );

    // The contributor may dry-run its school, not run it live.
    let out = client(&it, &["run", "course-report", "--school", "2"], "");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("may not run plugins live"),
        "{}",
        text(&out)
    );
    let out = client(
        &it,
        &[
            "run",
            "course-report",
            "--school",
            "2",
            "--dry-run",
            "--json",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run_id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(run["status"], "succeeded");

    // Its runs are its school's only; the report comes back as CSV.
    let out = client(&it, &["runs", "--json"], "");
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        runs.iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [run_id.as_str()]
    );
    let csv = files.path().join("courses.csv");
    let out = client(
        &it,
        &[
            "runs",
            "report",
            &run_id,
            "courses.csv",
            "-o",
            csv.to_str().unwrap(),
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    let got = std::fs::read_to_string(&csv).unwrap();
    let stored =
        std::fs::read_to_string(home.join("runs").join(&run_id).join("courses.csv")).unwrap();
    assert_eq!(got, stored);
    assert!(got.starts_with("course_id,"), "{got}");
    // Another school's run is not found, as if it did not exist.
    for args in [
        vec!["runs", "show", other_run.as_str()],
        vec!["runs", "report", other_run.as_str(), "courses.csv"],
    ] {
        let out = client(&it, &args, "");
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains("no run"), "{}", text(&out));
    }

    // Many schools, plans and their application go through the server too.
    let out = client(
        &ana,
        &[
            "run",
            "course-report",
            "--schools",
            "2,4",
            "--dry-run",
            "--json",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    let batch: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (batch["schools"].as_u64(), batch["succeeded"].as_u64()),
        (Some(2), Some(2)),
        "{batch}"
    );
    // A contributor's batch is its own schools only; naming another is
    // refused before anything runs.
    let out = client(
        &it,
        &[
            "run",
            "course-report",
            "--all-schools",
            "--dry-run",
            "--json",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    let mine: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(mine["runs"][0]["school"], 2, "{mine}");
    assert_eq!(mine["schools"], 1, "{mine}");
    let before = common::easel(&home, &["runs", "--json"]).stdout;
    let out = client(
        &it,
        &["run", "course-report", "--schools", "2,4", "--dry-run"],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("school 4"), "{}", text(&out));
    assert_eq!(common::easel(&home, &["runs", "--json"]).stdout, before);
    // The approver follows the contributor's reviewed dry run, and applies
    // it; the contributor may do neither.
    // (A plan is followed or applied once: each uses its own dry run.)
    let other_plan = batch["runs"][0]["run"].as_str().unwrap().to_owned();
    for args in [
        vec!["run", "course-report", "--after-plan", run_id.as_str()],
        vec!["plan", "apply", other_plan.as_str()],
    ] {
        let out = client(&it, &args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("may not run plugins live"),
            "{}",
            text(&out)
        );
        let out = client(&ana, &[&args[..], &["--json"]].concat(), "");
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        let live: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (live["dry_run"].as_bool(), live["school"].as_u64()),
            (Some(false), Some(2)),
            "{live}"
        );
    }

    // /metrics, for those who read every school's runs: Prometheus's text
    // format, runs by plugin and status, and the token's governor, which
    // counts each new call.
    let scrape = |token: &str| {
        use std::io::Read as _;
        let host = served.url.strip_prefix("http://").unwrap();
        let mut s = std::net::TcpStream::connect(host).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        raw.split_once("\r\n\r\n").unwrap().1.to_owned()
    };
    let ana_token: String = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(ana.join("easel/credentials.json")).unwrap(),
    )
    .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let parse = |text: &str| {
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
    };
    let value = |s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]| -> f64 {
        s.samples
            .iter()
            .find(|m| m.metric == name && labels.iter().all(|(k, v)| m.labels.get(k) == Some(*v)))
            .map(|m| match m.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or(f64::NAN)
    };
    let before = parse(&scrape(&ana_token));
    let succeeded = serde_json::from_slice::<Vec<serde_json::Value>>(
        &common::easel(
            &home,
            &[
                "runs",
                "--json",
                "--plugin",
                "course-report",
                "--status",
                "succeeded",
                "--limit",
                "1000",
            ],
        )
        .stdout,
    )
    .unwrap()
    .len() as f64;
    assert_eq!(
        value(
            &before,
            "easel_runs",
            &[("plugin", "course-report"), ("status", "succeeded")]
        ),
        succeeded
    );
    let granted = value(
        &before,
        "easel_token_requests_total",
        &[("instance", "sim")],
    );
    assert!(granted > 0.0, "the token's governor is shown");
    let out = client(
        &ana,
        &["run", "course-report", "--school", "4", "--json"],
        "",
    );
    let calls = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["calls"]
        .as_f64()
        .unwrap();
    let after = parse(&scrape(&ana_token));
    assert!(
        value(&after, "easel_token_requests_total", &[("instance", "sim")]) >= granted + calls,
        "the gauge follows the governor"
    );
    let ok = |s: &prometheus_parse::Scrape| {
        value(
            s,
            "easel_canvas_answers_total",
            &[("instance", "sim"), ("status", "200")],
        )
    };
    assert!(
        ok(&after) >= ok(&before) + calls && calls > 0.0,
        "Canvas's answers are counted by status: {} then {}",
        ok(&before),
        ok(&after)
    );
    assert_eq!(
        value(
            &after,
            "easel_canvas_retries_total",
            &[("instance", "sim"), ("reason", "throttled")]
        ),
        0.0,
        "retries are shown, by why"
    );
    assert!(
        !scrape(&it_token).contains("easel_runs"),
        "a contributor reads no metrics"
    );

    // Bad input gets a JSON error, with its status, and changes nothing.
    let http = raw_http::Http;
    let runs_before = common::easel(&home, &["runs", "--json"]).stdout;
    let bearer = format!("Bearer {it_token}");
    let leaky = format!("/api/v1/runs?x={it_token}");
    let cases: Vec<(&str, &str, Option<&str>, u16, &str)> = vec![
        ("GET", "/api/v1/nope", None, 404, "not-found"),
        ("DELETE", "/api/v1/runs", None, 405, "invalid"),
        ("POST", "/api/v1/runs", Some("{not json"), 400, "invalid"),
        (
            "POST",
            "/api/v1/runs",
            Some(r#"{"plugin":"course-report","school":2,"dry_run":true,"extra":1}"#),
            400,
            "invalid",
        ),
        (
            "POST",
            "/api/v1/runs",
            Some(r#"{"plugin":"course-report","school":4,"dry_run":true}"#),
            403,
            "forbidden",
        ),
        ("GET", "/api/v1/runs?access_token=x", None, 400, "invalid"),
        ("GET", &leaky, None, 400, "invalid"),
        ("GET", "/api/v1/runs?acc%65ss_token=x", None, 400, "invalid"),
        (
            "GET",
            "/api/v1/runs?x=easel%5Fpat_abc",
            None,
            400,
            "invalid",
        ),
        ("GET", "/api/v1/audit/verify", None, 403, "forbidden"),
    ];
    for (method, path, body, status, kind) in cases {
        let (got, v) = http.call(
            method,
            &format!("{}{path}", served.url),
            Some(&bearer),
            body,
        );
        assert_eq!(got, status, "{method} {path}: {v}");
        assert_eq!(v["error"]["kind"], kind, "{method} {path}: {v}");
    }
    let huge = format!(
        r#"{{"manifest":"x","component_base64":"{}"}}"#,
        "A".repeat(easel_server::MAX_BODY_BYTES + 10)
    );
    let (got, v) = http.call(
        "POST",
        &format!("{}/api/v1/plugins", served.url),
        Some(&bearer),
        Some(&huge),
    );
    assert_eq!(got, 400, "{v}");
    let (got, _) = http.call("GET", &format!("{}/api/v1/runs", served.url), None, None);
    assert_eq!(got, 403, "no token, no answer");
    // The API's description is public, and generated from the handlers.
    let (got, doc) = http.call(
        "GET",
        &format!("{}/api/openapi.json", served.url),
        None,
        None,
    );
    assert_eq!(got, 200);
    assert!(doc["paths"]["/api/v1/runs"]["post"].is_object(), "{doc}");
    assert_eq!(
        common::easel(&home, &["runs", "--json"]).stdout,
        runs_before,
        "nothing changed"
    );

    // A brute force is slowed and audited: after 5 failures even the right
    // password is refused for a while.
    for _ in 0..6 {
        let out = client(
            &dir.path().join("attacker"),
            &["login", "--server", &served.url, "--name", "ana"],
            "wrong-password\n",
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    }
    let out = client(
        &dir.path().join("attacker"),
        &["login", "--server", &served.url, "--name", "ana"],
        &format!("{ana_pw}\n"),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("too many failed sign-ins"),
        "{}",
        text(&out)
    );
    let audit = String::from_utf8(common::easel(&home, &["audit", "export"]).stdout).unwrap();
    assert!(
        audit.matches("sign-in-failed").count() >= 7,
        "each failure is audited"
    );

    // A token file others may read is refused.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = client(&it, &["runs"], "");
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains("chmod 600"), "{}", text(&out));
    }

    // No password or API token in the server's log or the audit log.
    let log = served.log.lock().unwrap().clone();
    for secret in [&it_pw, &ana_pw, &it_token] {
        assert!(
            !log.contains(secret.as_str()),
            "a secret in the server's log"
        );
        assert!(
            !audit.contains(secret.as_str()),
            "a secret in the audit log"
        );
    }
}

/// A small blocking HTTP client over `std::net` (the test needs status and
/// body only).
mod raw_http {
    use std::io::{Read as _, Write as _};

    pub struct Http;

    fn answer(s: &mut std::net::TcpStream) -> (u16, serde_json::Value) {
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
        (
            status,
            serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
        )
    }

    impl Http {
        /// A POST with `content_type`.
        pub fn call_typed(
            &self,
            method: &str,
            url: &str,
            content_type: &str,
            body: &str,
        ) -> (u16, serde_json::Value) {
            let rest = url.strip_prefix("http://").unwrap();
            let (host, path) = rest.split_at(rest.find('/').unwrap());
            let mut s = std::net::TcpStream::connect(host).unwrap();
            let req = format!(
                "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(req.as_bytes()).unwrap();
            answer(&mut s)
        }

        /// A POST announcing `length` bytes of body but sending only the
        /// headers: the answer, if the server gives one without the body.
        pub fn call_partial(&self, url: &str, length: usize) -> (u16, serde_json::Value) {
            let rest = url.strip_prefix("http://").unwrap();
            let (host, path) = rest.split_at(rest.find('/').unwrap());
            let mut s = std::net::TcpStream::connect(host).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let req = format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{\"manifest\":\""
            );
            s.write_all(req.as_bytes()).unwrap();
            answer(&mut s)
        }

        pub fn call(
            &self,
            method: &str,
            url: &str,
            auth: Option<&str>,
            body: Option<&str>,
        ) -> (u16, serde_json::Value) {
            let rest = url.strip_prefix("http://").unwrap();
            let (host, path) = rest.split_at(rest.find('/').unwrap());
            let mut s = std::net::TcpStream::connect(host).unwrap();
            let body = body.unwrap_or("");
            let mut req = format!(
                "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            );
            if let Some(a) = auth {
                req.push_str(&format!("Authorization: {a}\r\n"));
            }
            req.push_str("\r\n");
            s.write_all(req.as_bytes()).unwrap();
            // A body over the limit may be cut off by the server.
            let _ = s.write_all(body.as_bytes());
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            let text = String::from_utf8_lossy(&out).into_owned();
            let status: u16 = text
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
            (
                status,
                serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
            )
        }
    }
}

#[test]
fn the_service_tour_walks_submit_approve_run_and_download_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    // After the first tour (the same plugins, submitted by its own
    // contributor), and twice: a second tour on the same data directory
    // works too.
    common::easel(dir.path(), &["demo"]);
    for _ in 0..2 {
        let out = common::easel(dir.path(), &["demo", "--serve"]);
        let t = text(&out);
        for says in [
            "started easel serve at http://127.0.0.1:",
            "demo-school-it tried to approve it too, and was refused",
            "demo-approver approved it for school 2",
            "demo-school-it may not run it live",
            "demo-school-it ran it dry for Lincoln High School",
            "succeeded",
            "downloaded the report of run",
        ] {
            assert!(t.contains(says), "{says:?} in:\n{t}");
        }
    }
    let audit = String::from_utf8(common::easel(dir.path(), &["audit", "export"]).stdout).unwrap();
    assert!(
        audit.contains("demo-school-it (api-token"),
        "who submitted is the signed-in principal"
    );
}

#[test]
fn over_tls_the_server_answers_https_and_a_client_trusts_only_the_ca_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("server");
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let pw = add_user(&home, &["user", "add", "ana", "--role", "approver"]);
    // With TLS, an address other than loopback needs no --insecure-listen;
    // 127.0.0.1 keeps the test on this machine.
    let mut child = common::command(
        &home,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("serve prints its address").unwrap();
        if let Some(rest) = line.split("the API is at ").nth(1) {
            break rest.split("/api/v1").next().unwrap().to_owned();
        }
    };
    let _served = Served {
        child,
        url: url.clone(),
        log: Default::default(),
    };
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let cfg = dir.path().join("laptop");
    // Without the CA the certificate is not trusted, and nothing is sent.
    let out = client(
        &cfg,
        &["login", "--server", &url, "--name", "ana"],
        &format!("{pw}\n"),
    );
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let out = client(
        &cfg,
        &[
            "login",
            "--server",
            &url,
            "--name",
            "ana",
            "--ca-cert",
            cert_path.to_str().unwrap(),
        ],
        &format!("{pw}\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = client(&cfg, &["schools", "--json"], "");
    assert!(out.status.success(), "{}", text(&out));
    let schools: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        schools.as_array().is_some_and(|a| !a.is_empty()),
        "{schools}"
    );
    // A non-loopback address without TLS is refused.
    let out = common::command(&home, &["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-cert"));
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_canvas_token_appears_in_no_api_answer_log_line_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("server");
    // A Canvas of its own (the simulator as a separate process), whose
    // root admin token is the canary.
    let mut sim = Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(["sim", "serve", "--port", "0"])
        .env("EASEL_HOME", dir.path().join("sim-home"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(sim.stdout.take().unwrap()).lines();
    let sim_url = lines
        .next()
        .unwrap()
        .unwrap()
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let canary = lines
        .next()
        .unwrap()
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    assert!(canary.starts_with("7~"), "{canary}");
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _sim = Kill(sim);

    common::easel(&home, &["instance", "add", "prod", "--url", &sim_url]);
    let mut add = common::command(&home, &["--instance", "prod", "token", "add", "admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(format!("{canary}\n").as_bytes())
        .unwrap();
    assert!(add.wait_with_output().unwrap().status.success());
    let it_pw = add_user(
        &home,
        &[
            "user",
            "add",
            "lhs-it",
            "--role",
            "contributor",
            "--school",
            "2",
        ],
    );
    let ana_pw = add_user(&home, &["user", "add", "ana", "--role", "approver"]);
    let served = serve(&home);
    let (it, ana) = (dir.path().join("it"), dir.path().join("ana"));
    let mut seen = String::new();
    let mut run = |cfg: &Path, args: &[&str], stdin: &str| {
        let out = client(cfg, args, stdin);
        seen.push_str(&text(&out));
        out
    };
    run(
        &it,
        &["login", "--server", &served.url, "--name", "lhs-it"],
        &format!("{it_pw}\n"),
    );
    run(
        &ana,
        &["login", "--server", &served.url, "--name", "ana"],
        &format!("{ana_pw}\n"),
    );
    let files = tempfile::tempdir().unwrap();
    let (wasm, manifest) = common::bundled_files(files.path(), &easel_bundled::COURSE_REPORT);
    assert!(
        run(
            &it,
            &["plugin", "submit", &wasm, "--manifest", &manifest, "--json"],
            ""
        )
        .status
        .success()
    );
    let out = run(
        &ana,
        &[
            "plugin",
            "approve",
            "course-report",
            "--school",
            "2",
            "--json",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("\"instance\": \"prod\""),
        "the grant runs on prod: {}",
        text(&out)
    );
    let out = run(
        &it,
        &[
            "run",
            "course-report",
            "--school",
            "2",
            "--dry-run",
            "--json",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    let id = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for args in [
        vec!["run", "course-report", "--school", "2", "--json"],
        vec![
            "run",
            "course-report",
            "--school",
            "4",
            "--dry-run",
            "--json",
        ],
        vec!["runs", "--json"],
        vec!["runs", "show", &id, "--json"],
        vec!["runs", "report", &id, "courses.csv"],
        vec!["schools", "--json"],
        vec!["plugin", "list", "--json"],
        vec!["plugin", "inspect", "course-report", "--json"],
        vec!["audit", "export"],
        vec!["audit", "tail", "-n", "50"],
    ] {
        run(&it, &args, "");
        run(&ana, &args, "");
    }
    // /metrics names tokens by id and keyed fingerprint only.
    let ana_token: String = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(ana.join("easel/credentials.json")).unwrap(),
    )
    .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    {
        use std::io::Read as _;
        let host = served.url.strip_prefix("http://").unwrap();
        let mut s = std::net::TcpStream::connect(host).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ana_token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        assert!(
            raw.contains("easel_token_requests_total{instance=\"prod\""),
            "{raw}"
        );
        seen.push_str(&raw);
    }
    assert!(seen.contains("course_id,"), "the report came back: {seen}");
    assert!(
        seen.contains("canvas-request-allowed"),
        "the audit log came back"
    );
    assert!(!seen.contains(&canary), "the Canvas token in an API answer");
    let log = served.log.lock().unwrap().clone();
    assert!(
        !log.contains(&canary),
        "the Canvas token in the server's log"
    );
    for path in files_under(dir.path()) {
        if path.starts_with(dir.path().join("sim-home")) {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "the Canvas token in {}",
            path.display()
        );
    }
}

#[test]
fn bad_tokens_lock_no_one_out_and_an_unknown_caller_cannot_make_the_server_read_a_large_body() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("server");
    let pw = add_user(
        &home,
        &[
            "user",
            "add",
            "lhs-it",
            "--role",
            "contributor",
            "--school",
            "2",
        ],
    );
    let served = serve(&home);
    let http = raw_http::Http;
    // A flood of made-up tokens from this address...
    for i in 0..80 {
        let (got, _) = http.call(
            "GET",
            &format!("{}/api/v1/me", served.url),
            Some(&format!("Bearer easel_pat_{i:06}_x")),
            None,
        );
        assert_eq!(got, 403);
    }
    // ...neither locks out a password sign-in from it...
    let out = client(
        &dir.path().join("laptop"),
        &["login", "--server", &served.url, "--name", "lhs-it"],
        &format!("{pw}\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    // ...nor grows the audit log without bound.
    let audit = String::from_utf8(common::easel(&home, &["audit", "export"]).stdout).unwrap();
    let recorded = audit.matches("api-token").count();
    assert!(
        recorded <= easel_app::MAX_TOKEN_FAILURES_RECORDED as usize + 2,
        "{recorded} records of refused tokens"
    );
    // A sign-in must be JSON (no form or text post from another site).
    let (got, v) = http.call_typed(
        "POST",
        &format!("{}/api/v1/sessions", served.url),
        "text/plain",
        &format!(r#"{{"name":"lhs-it","password":"{pw}"}}"#),
    );
    assert_eq!(got, 400, "{v}");
    // A contributor's approval is refused before any school is looked up:
    // the answer says nothing about account 1.
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("laptop/easel/credentials.json")).unwrap(),
    )
    .unwrap();
    let bearer = format!("Bearer {}", saved["token"].as_str().unwrap());
    let (got, v) = http.call(
        "POST",
        &format!("{}/api/v1/plugins/x/approve", served.url),
        Some(&bearer),
        Some(r#"{"schools":[1]}"#),
    );
    assert_eq!(got, 403, "{v}");
    assert!(!v.to_string().contains("root account"), "{v}");
    // Without a token, a large plugin upload is refused before its body is
    // read: the answer comes though the body never finishes.
    let (got, v) = http.call_partial(&format!("{}/api/v1/plugins", served.url), 40 * 1024 * 1024);
    assert_eq!(got, 403, "{v}");
}
