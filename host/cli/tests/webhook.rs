//! `easel serve --failure-webhook`: a queued run that fails is reported,
//! signed, without its error text or any token; one that succeeds is not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::sync::mpsc;
use std::time::Duration;

/// One received POST: its headers (lowercase names) and body.
type Received = (Vec<(String, String)>, Vec<u8>);

/// A webhook receiver on a free loopback port, answering 204 to each POST.
fn receiver() -> (String, mpsc::Receiver<Received>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/easel", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                let (k, v) = l.split_once(':').unwrap();
                headers.push((k.trim().to_lowercase(), v.trim().to_owned()));
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map(|(_, v)| v.parse().unwrap())
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n");
            let _ = tx.send((headers, body));
        }
    });
    (url, rx)
}

#[test]
fn a_failed_run_is_reported_signed_and_without_its_error_or_token() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(easel_sim::Simulator::start(easel_sim::SimConfig::default()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    common::easel(home, &["instance", "add", "prod", "--url", sim.url()]);
    common::add_token(home, "prod", "admin", sim.admin_token(), &[]);
    common::submit_bundled(home, &easel_bundled::COURSE_PUBLISHER);
    common::easel(
        home,
        &["plugin", "approve", "course-publisher", "--school", "2"],
    );

    // Refused at start: a key too short, an http URL off this machine.
    let short = dir.path().join("short.key");
    std::fs::write(&short, "abc\n").unwrap();
    let key = dir.path().join("webhook.key");
    let secret = "0123456789abcdef0123456789abcdef";
    std::fs::write(&key, format!("{secret}\n")).unwrap();
    for (url, file, says) in [
        ("http://127.0.0.1:9/x", &short, "at least 16"),
        ("http://hooks.example/x", &key, "must be https://"),
    ] {
        let out = common::command(
            home,
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--failure-webhook",
                url,
                "--failure-webhook-key",
                file.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
        assert!(common::text(&out).contains(says), "{}", common::text(&out));
    }

    let (url, received) = receiver();
    let served = common::serve_with(
        home,
        &[
            "--failure-webhook",
            &url,
            "--failure-webhook-key",
            key.to_str().unwrap(),
        ],
    );
    let token = common::token_for(home, "ops");
    let run = |args: &[&str]| {
        common::command(home, args)
            .env("EASEL_SERVER", &served.url)
            .env("EASEL_API_TOKEN", &token)
            .output()
            .unwrap()
    };
    // A dry run that succeeds is not reported.
    let ok = run(&[
        "run",
        "course-publisher",
        "--school",
        "2",
        "--dry-run",
        "--json",
    ]);
    assert!(ok.status.success(), "{}", common::text(&ok));
    // A run the plugin fails is.
    let failed = run(&[
        "run",
        "course-publisher",
        "--school",
        "2",
        "--param",
        "action=bogus",
        "--json",
    ]);
    assert_eq!(failed.status.code(), Some(1), "{}", common::text(&failed));
    let failed: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    let (headers, body) = received.recv_timeout(Duration::from_secs(30)).unwrap();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let ts: i64 = header("x-easel-timestamp").parse().unwrap();
    assert_eq!(
        header("x-easel-signature"),
        easel_server::notify::sign(secret.as_bytes(), ts, &body)
    );
    assert_ne!(
        header("x-easel-signature"),
        easel_server::notify::sign(b"another key entirely!", ts, &body)
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["event"], "run.failed");
    assert_eq!(v["status"], "failed");
    assert_eq!(
        v["run"],
        failed["run_id"].as_str().or(failed["id"].as_str()).unwrap()
    );
    assert_eq!(v["school"], 2);
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains("bogus"), "no error text or params: {text}");
    assert!(!text.contains(sim.admin_token()), "{text}");
    assert!(!text.contains(secret), "{text}");
    // Only the failure: nothing else arrives.
    assert!(received.recv_timeout(Duration::from_secs(2)).is_err());
    let log = served.log.lock().unwrap().clone();
    assert!(
        !log.contains("/hooks/easel"),
        "the URL's path is not logged: {log}"
    );

    // A queued run whose server died is marked interrupted by whichever
    // process opens the data directory first: here a local `easel runs`.
    // The next server with the webhook still reports it, once; the
    // failure reported before is not sent again.
    drop(served);
    let orphan = "0123456789abcdef0123456789abcdef".to_owned();
    {
        let h = easel_app::Home::open(Some(home.to_path_buf())).unwrap();
        h.store
            .enqueue_run(
                &easel_store::NewRun {
                    id: orphan.clone(),
                    plugin_id: "course-publisher".into(),
                    digest: failed["digest"].as_str().unwrap().into(),
                    school: 2,
                    instance: "prod".into(),
                    dry_run: false,
                    params: vec![],
                    applies: None,
                    owner: None,
                    batch: None,
                    token: None,
                },
                "{}",
            )
            .unwrap();
        // Claimed by a process that no longer exists.
        let claimed = h
            .store
            .claim_run("999999999:1", i64::MAX, &[], None)
            .unwrap();
        assert_eq!(claimed.map(|r| r.id), Some(orphan.clone()));
    }
    let shown: serde_json::Value =
        serde_json::from_slice(&common::easel(home, &["runs", "show", &orphan, "--json"]).stdout)
            .unwrap();
    assert_eq!(shown["status"], "interrupted", "{shown}");
    let _served = common::serve_with(
        home,
        &[
            "--failure-webhook",
            &url,
            "--failure-webhook-key",
            key.to_str().unwrap(),
        ],
    );
    let (_, body) = received.recv_timeout(Duration::from_secs(30)).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (v["run"].as_str(), v["status"].as_str()),
        (Some(orphan.as_str()), Some("interrupted")),
        "{v}"
    );
    assert!(
        received.recv_timeout(Duration::from_secs(2)).is_err(),
        "each failure is reported once, across restarts"
    );
}
