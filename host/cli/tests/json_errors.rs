//! With `--json`, an error is one JSON object on standard error, standard
//! output stays empty, and the exit code still tells.

#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn errors_of_json_commands_are_json() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["runs", "show", "nope", "--json"][..],
        &["run", "nope", "--school", "2", "--json"][..],
        &["plugin", "inspect", "nope", "--json"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_easel"))
            .args(args)
            .env("EASEL_HOME", home.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stderr)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(v["error"]["kind"], "invalid", "{args:?}");
        assert_eq!(v["error"]["exit_code"], 2);
        assert!(
            v["error"]["message"].as_str().unwrap().contains("nope"),
            "{v}"
        );
    }
    // Without --json, stdout stays empty and the error goes to stderr.
    let out = Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(["runs", "show", "nope"])
        .env("EASEL_HOME", home.path())
        .output()
        .unwrap();
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: no run"));
}

#[test]
fn common_input_mistakes_say_what_to_give() {
    let home = tempfile::tempdir().unwrap();
    for (args, says) in [
        (
            &["run", "x", "--school", "abc"][..],
            "a school is its numeric Canvas account id (not \"abc\"); `easel schools` lists them",
        ),
        (
            &["plugin", "approve", "x", "--school", "2,b"][..],
            "numeric Canvas account id (not \"b\")",
        ),
        (
            &["instance", "add", "prod", "--url", "canvas.example.edu"][..],
            "has no scheme: add https://, e.g. https://canvas.example.edu",
        ),
        // Global options a command would ignore are refused.
        (
            &["--instance", "prod", "runs"][..],
            "--instance does not apply to this command, which would ignore it",
        ),
        (
            &["--token", "prod-admin", "audit", "verify"][..],
            "--token does not apply to this command",
        ),
        (
            &["--token", "prod-admin", "token", "add", "x"][..],
            "--token is for run, plan apply, schools and plugin approve",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_easel"))
            .args(args)
            .env("EASEL_HOME", home.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
