//! `easel serve` killed mid-way (`kill -9`) or stopped (SIGTERM) while its
//! queue runs live writes against the simulator: after a restart, nothing
//! is left running, every count matches the audit log, the database and
//! the audit chain are sound, and no write reached Canvas twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use easel_sim::{Faults, Preset, SimConfig, SimHandle, Simulator};

/// A district simulator whose every request takes `latency`, served from
/// its own runtime (kept alive by the returned value).
fn district(latency: Duration) -> (tokio::runtime::Runtime, SimHandle) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            preset: Preset::District,
            ..SimConfig::default()
        }))
        .unwrap();
    sim.set_faults(Faults {
        latency: Some(latency),
        ..Faults::default()
    });
    (rt, sim)
}

/// A data directory with the simulator as instance `prod` and the course
/// publisher approved for every school.
fn setup(home: &Path, sim: &SimHandle) {
    common::easel(home, &["instance", "add", "prod", "--url", sim.url()]);
    common::add_token(home, "prod", "admin", sim.admin_token(), &[]);
    common::submit_bundled(home, &easel_bundled::COURSE_PUBLISHER);
    common::easel(
        home,
        &["plugin", "approve", "course-publisher", "--all-schools"],
    );
}

/// `easel ARGS` through the server at `url` as `token`.
fn through(home: &Path, url: &str, token: &str, args: &[&str]) -> std::process::Output {
    common::command(home, args)
        .env("EASEL_SERVER", url)
        .env("EASEL_API_TOKEN", token)
        .output()
        .unwrap()
}

/// Every run, by id: (status, calls, denied, writes).
fn runs(home: &Path) -> Vec<serde_json::Value> {
    let out = common::easel(home, &["runs", "--json", "--limit", "10000"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn count(runs: &[serde_json::Value], status: &str) -> usize {
    runs.iter().filter(|r| r["status"] == status).count()
}

/// Per run: the plugin's answered calls, answered writes and denials, as
/// the audit log records them (easel's own lookups left out).
fn audited(home: &Path) -> HashMap<String, (u32, u32, u32)> {
    let db = rusqlite::Connection::open(home.join("easel.db")).unwrap();
    let mut stmt = db
        .prepare(
            "SELECT run, action, method FROM audit WHERE run IS NOT NULL
               AND (detail IS NULL OR detail NOT LIKE 'easel''s lookup%')",
        )
        .unwrap();
    let mut by_run: HashMap<String, (u32, u32, u32)> = HashMap::new();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (run, action, method) = row.unwrap();
        let e = by_run.entry(run).or_default();
        match action.as_str() {
            "canvas-response" => {
                e.0 += 1;
                if method.as_deref() != Some("GET") {
                    e.1 += 1;
                }
            }
            "canvas-request-denied" => e.2 += 1,
            _ => {}
        }
    }
    by_run
}

/// The checks every stop must pass, once the restarted server has run the
/// queue dry.
fn assert_sound(home: &Path, sim: &SimHandle) -> Vec<serde_json::Value> {
    let db = rusqlite::Connection::open(home.join("easel.db")).unwrap();
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(db);
    let verify = common::command(home, &["audit", "verify"])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", common::text(&verify));

    let all = runs(home);
    let audit = audited(home);
    for r in &all {
        let status = r["status"].as_str().unwrap();
        assert!(
            ["succeeded", "failed", "interrupted"].contains(&status),
            "a run ended {status}: {r}"
        );
        let (answered, writes, denied) = audit
            .get(r["id"].as_str().unwrap())
            .copied()
            .unwrap_or_default();
        assert_eq!(r["calls"], answered, "calls of {r}");
        assert_eq!(r["denied"], denied, "denials of {r}");
        if status == "interrupted" {
            assert_eq!(r["writes"], writes, "writes of {r}");
        }
    }
    // No write reached Canvas twice.
    let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
    for q in sim.requests() {
        if q.method != "GET" {
            *seen.entry((q.method, q.path, q.body)).or_default() += 1;
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "writes sent twice: {twice:?}");
    assert!(!seen.is_empty(), "the publisher wrote nothing");
    all
}

/// Wait until `ready` holds of the runs, or panic after `within`.
fn wait_until(
    home: &Path,
    within: Duration,
    what: &str,
    ready: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        let all = runs(home);
        if ready(&all) {
            return all;
        }
        assert!(start.elapsed() < within, "waited {within:?} for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_server_killed_mid_way_leaves_every_run_accounted_for_and_no_write_sent_twice() {
    let (_rt, sim) = district(Duration::from_millis(40));
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    setup(home, &sim);
    let token = common::token_for(home, "ops");

    let mut served = common::serve(home);
    let queued = through(
        home,
        &served.url,
        &token,
        &[
            "run",
            "course-publisher",
            "--all-schools",
            "--detach",
            "--json",
        ],
    );
    assert!(queued.status.success(), "{}", common::text(&queued));
    let batch: serde_json::Value = serde_json::from_slice(&queued.stdout).unwrap();
    let queued_runs = batch["runs"].as_array().unwrap().len();
    assert!(queued_runs >= 50, "{queued_runs} runs queued");

    // Kill it while runs are in flight, some done and most still queued.
    let before = wait_until(home, Duration::from_secs(120), "runs in flight", |r| {
        count(r, "succeeded") >= 3 && count(r, "running") >= 1
    });
    served.child.kill().unwrap();
    served.child.wait().unwrap();
    let running_then = count(&before, "running");
    assert!(running_then >= 1);

    // Restart: the dead server's runs are interrupted at once, and the
    // queue runs dry.
    let restarted = common::serve(home);
    let after = wait_until(
        home,
        Duration::from_secs(300),
        "the queue to run dry",
        |r| count(r, "queued") == 0 && count(r, "running") == 0,
    );
    drop(restarted);
    assert_eq!(after.len(), queued_runs, "every queued run is one run");
    let all = assert_sound(home, &sim);
    let interrupted = count(&all, "interrupted");
    assert!(
        interrupted >= 1,
        "the kill interrupted a run (runs then: {running_then} running)"
    );
    assert!(count(&all, "succeeded") >= queued_runs - interrupted - count(&all, "failed"));
    // An interrupted run says what it did and what is unknown, in
    // `runs show`.
    let one = all.iter().find(|r| r["status"] == "interrupted").unwrap();
    let show = common::easel(home, &["runs", "show", one["id"].as_str().unwrap()]);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("interrupted"), "{text}");
    assert!(
        text.contains("answered by Canvas (from the audit log)"),
        "{text}"
    );
    for u in one["unknown"].as_array().into_iter().flatten() {
        assert!(
            text.contains(u["path"].as_str().unwrap()),
            "{text} lists {u}"
        );
    }
}

#[test]
fn sigterm_lets_runs_in_flight_finish_within_the_grace_and_interrupts_the_rest() {
    // A long grace: the runs in flight finish; queued runs stay queued.
    // A zero grace: those in flight are marked interrupted, and said so.
    for (grace, finish) in [("60s", true), ("0s", false)] {
        let (_rt, sim) = district(Duration::from_millis(40));
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        setup(home, &sim);
        let token = common::token_for(home, "ops");
        let mut served = common::serve_with(home, &["--grace", grace, "--workers", "4"]);
        let queued = through(
            home,
            &served.url,
            &token,
            &["run", "course-publisher", "--all-schools", "--detach"],
        );
        assert!(queued.status.success(), "{}", common::text(&queued));
        wait_until(home, Duration::from_secs(120), "runs in flight", |r| {
            count(r, "running") >= 1
        });
        let term = std::process::Command::new("kill")
            .args(["-TERM", &served.child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let status = served.child.wait().unwrap();
        assert!(status.success(), "{grace}: {status:?}");
        std::thread::sleep(Duration::from_millis(200));
        let log = served.log.lock().unwrap().clone();
        let all = runs(home);
        assert_eq!(count(&all, "running"), 0, "{grace}: {log}");
        // A run the stop cut off is interrupted, not failed.
        assert_eq!(count(&all, "failed"), 0, "{grace}: {all:?}");
        assert!(count(&all, "queued") > 0, "{grace}: queued runs wait");
        if finish {
            assert_eq!(count(&all, "interrupted"), 0, "{grace}: {log}");
            assert!(log.contains("have 60s to finish"), "{log}");
        } else {
            assert!(count(&all, "interrupted") >= 1, "{grace}: {log}");
            assert!(
                log.contains("did not finish within 0s and are marked interrupted"),
                "{log}"
            );
        }
        // The next start runs the rest; every count still matches.
        let _restarted = common::serve(home);
        wait_until(
            home,
            Duration::from_secs(300),
            "the queue to run dry",
            |r| count(r, "queued") == 0 && count(r, "running") == 0,
        );
        drop(_restarted);
        assert_sound(home, &sim);
    }
}
