//! `--json` on the commands that manage instances, tokens, users, the
//! vault, settings, backups and the audit log: one JSON value on standard
//! output that says what was done, never a Canvas token; errors as JSON on
//! standard error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write as _;
use std::process::Stdio;

use serde_json::Value;

/// `easel ARGS` with `stdin`; it must succeed. Its stdout as JSON, and all
/// it printed.
fn json(home: &std::path::Path, args: &[&str], stdin: &str) -> (Value, String) {
    let mut child = common::command(home, args)
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
    let out = child.wait_with_output().unwrap();
    let all = common::text(&out);
    assert!(out.status.success(), "{args:?}: {all}");
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not one JSON value ({e}): {all}"));
    (v, all)
}

#[test]
fn credential_and_upkeep_commands_answer_json_and_never_show_a_canvas_token() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(easel_sim::Simulator::start(easel_sim::SimConfig::default()))
        .unwrap();
    let secret = sim.admin_token().to_owned();
    let other = "7~OTHERCANARYabcdefghijklmnopqrstuvwxyz0123456789";
    let rotated = "7~ROTATEDCANARYabcdefghijklmnopqrstuvwxyz012345678";
    let dir = tempfile::tempdir().unwrap();
    let home = &dir.path().join("home");
    let mut printed = String::new();
    let mut run = |args: &[&str], stdin: &str| {
        let (v, all) = json(home, args, stdin);
        printed.push_str(&all);
        v
    };

    let v = run(
        &["instance", "add", "prod", "--url", sim.url(), "--json"],
        "",
    );
    assert_eq!(
        (v["name"].as_str(), v["url"].as_str()),
        (Some("prod"), Some(sim.url().trim_end_matches('/'))),
        "{v}"
    );
    let v = run(
        &[
            "instance",
            "add",
            "spare",
            "--url",
            "https://spare.example.edu",
            "--json",
        ],
        "",
    );
    assert_eq!(v["name"], "spare");
    let v = run(&["instance", "remove", "spare", "--json"], "");
    assert_eq!(
        (v["instance"].as_str(), v["removed"].as_bool()),
        (Some("spare"), Some(true))
    );

    // A verified token names its owner; an unverified one says so.
    let v = run(
        &["--instance", "prod", "token", "add", "admin", "--json"],
        &format!("{secret}\n"),
    );
    assert_eq!(
        (
            v["token"]["id"].as_str(),
            v["token"]["instance"].as_str(),
            v["verified"].as_bool(),
            v["owner"]["id"].as_u64()
        ),
        (Some("admin"), Some("prod"), Some(true), Some(1)),
        "{v}"
    );
    assert!(v["token"]["fingerprint"].is_string(), "{v}");
    let v = run(&["token", "check", "admin", "--json"], "");
    assert_eq!(
        (
            v["works"].as_bool(),
            v["instance"]["name"].as_str(),
            v["owner"]["id"].as_u64()
        ),
        (Some(true), Some("prod"), Some(1)),
        "{v}"
    );
    let v = run(
        &[
            "--instance",
            "prod",
            "token",
            "add",
            "spare",
            "--no-verify",
            "--json",
        ],
        &format!("{other}\n"),
    );
    assert_eq!(
        (v["verified"].as_bool(), v["owner"].is_null()),
        (Some(false), true),
        "{v}"
    );
    let before = v["token"]["fingerprint"].as_str().unwrap().to_owned();
    let v = run(
        &["token", "rotate", "spare", "--json"],
        &format!("{rotated}\n"),
    );
    assert_eq!(
        v["previous_fingerprint"].as_str(),
        Some(before.as_str()),
        "{v}"
    );
    assert_ne!(v["token"]["fingerprint"].as_str(), Some(before.as_str()));
    let v = run(&["token", "remove", "spare", "--json"], "");
    assert_eq!(
        (
            v["token"].as_str(),
            v["removed"].as_bool(),
            v["grants_disabled"].as_u64()
        ),
        (Some("spare"), Some(true), Some(0)),
        "{v}"
    );

    // Users and their API tokens.
    let v = run(&["user", "add", "ana", "--role", "approver", "--json"], "");
    assert_eq!(v["user"], "ana");
    assert_eq!(v["roles"], serde_json::json!(["approver"]));
    assert!(v["one_time_password"].as_str().unwrap().len() >= 12, "{v}");
    let v = run(
        &["user", "password", "ana", "--json"],
        "a long enough password\n",
    );
    assert_eq!(v["password_set"].as_bool(), Some(true));
    let v = run(&["user", "token", "ana", "--label", "ci", "--json"], "");
    assert!(
        v["token"].as_str().unwrap().starts_with("easel_pat_"),
        "{v}"
    );
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["label"], "ci");
    let v = run(&["user", "revoke-token", &id, "--json"], "");
    assert_eq!(
        (v["id"].as_str(), v["revoked"].as_bool()),
        (Some(id.as_str()), Some(true))
    );

    // Settings, the audit log, backups, the vault.
    let v = run(&["config", "set", "plan-expiry-hours", "12", "--json"], "");
    assert_eq!(
        (v["key"].as_str(), v["value"].as_str()),
        (Some("plan-expiry-hours"), Some("12")),
        "{v}"
    );
    let v = run(&["audit", "checkpoint", "--json"], "");
    assert_eq!(v["signed"].as_bool(), Some(true), "{v}");
    assert!(v["checkpoint"]["seq"].as_u64().unwrap() > 0);
    let v = run(&["audit", "checkpoint", "--json"], "");
    assert_eq!(
        (v["signed"].as_bool(), v["checkpoint"].is_null()),
        (Some(false), true),
        "nothing new to sign: {v}"
    );
    let tail = common::easel(home, &["audit", "tail", "-n", "3", "--json"]);
    let lines: Vec<Value> = String::from_utf8(tail.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64())
    );
    assert!(lines.iter().all(|r| r["action"].is_string()));
    let copy = dir.path().join("copy.db");
    let v = run(&["backup", copy.to_str().unwrap(), "--json"], "");
    assert_eq!(
        v["bytes"].as_u64(),
        Some(std::fs::metadata(&copy).unwrap().len())
    );
    let v = run(
        &[
            "instance",
            "sign-in",
            "prod",
            "--client-id",
            "170000000000001",
            "--json",
        ],
        "DEVKEYCANARYsecret\n",
    );
    assert_eq!(
        (v["sign_in_with_canvas"].as_bool(), v["client_id"].as_str()),
        (Some(true), Some("170000000000001")),
        "{v}"
    );
    let v = run(&["instance", "sign-in", "prod", "--off", "--json"], "");
    assert_eq!(v["sign_in_with_canvas"].as_bool(), Some(false), "{v}");
    let v = run(&["vault", "rekey", "--json"], "");
    assert_eq!(v["tokens"].as_u64(), Some(1), "{v}");
    let v = run(&["logout", "--json"], "");
    assert_eq!(v["signed_in"].as_bool(), Some(false), "{v}");
    let v = run(&["vault", "reset", "--forget-tokens", "--json"], "");
    assert_eq!(v["tokens_forgotten"].as_u64(), Some(1), "{v}");
    assert!(v["old_key_kept_as"].is_string(), "{v}");

    for canary in [
        secret.as_str(),
        other,
        rotated,
        "OTHERCANARY",
        "ROTATEDCANARY",
    ] {
        assert!(!printed.contains(canary), "a Canvas token was printed");
    }
}

#[test]
fn their_errors_are_json_too() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["token", "check", "nope", "--json"][..],
        &["token", "remove", "nope", "--json"][..],
        &["instance", "remove", "nope", "--json"][..],
        &["user", "revoke-token", "nope", "--json"][..],
        &["config", "set", "no-such-setting", "1", "--json"][..],
        &["vault", "reset", "--json"][..],
    ] {
        let out = common::command(home.path(), args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            common::text(&out)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
        let v: Value = serde_json::from_slice(&out.stderr)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(v["error"]["exit_code"], 2, "{args:?}: {v}");
        assert!(v["error"]["message"].is_string(), "{v}");
    }
}

#[test]
fn plugin_check_answers_json() {
    let home = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let (wasm, manifest) = common::bundled_files(files.path(), &easel_bundled::COURSE_REPORT);
    let (v, _) = json(
        home.path(),
        &["plugin", "check", &manifest, &wasm, "--json"],
        "",
    );
    assert_eq!(v["id"], "course-report", "{v}");
    assert_eq!(
        v["component"]["digest"].as_str().map(str::len),
        Some(64),
        "{v}"
    );
}
