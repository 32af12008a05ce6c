//! Ctrl-C (SIGINT) or SIGTERM while runs go: easel says so, marks its runs
//! interrupted (none is left "running"), and exits 130.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn a_signal_during_runs_leaves_no_run_running() {
    for signal in ["-INT", "-TERM"] {
        let home = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_easel"))
            .arg("demo")
            .env("EASEL_HOME", home.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the demo has started running plugins.
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while out.read_line(&mut line).unwrap() > 0 {
            if line.contains("run") {
                break;
            }
            line.clear();
        }
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let done = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&done.stderr);
        // The demo may have finished just before the signal.
        if done.status.code() == Some(0) {
            continue;
        }
        assert_eq!(done.status.code(), Some(130), "{signal}: {stderr}");
        assert!(stderr.contains("interrupted (SIG"), "{stderr}");
        let runs = Command::new(env!("CARGO_BIN_EXE_easel"))
            .args(["runs", "--json", "--limit", "1000"])
            .env("EASEL_HOME", home.path())
            .output()
            .unwrap();
        let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
        for r in runs.as_array().unwrap() {
            assert_ne!(r["status"], "running", "{signal}: {r}");
        }
    }
}

#[test]
fn a_simulator_stopped_by_a_signal_saves_its_state() {
    for signal in ["-INT", "-TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("sim.json");
        let mut child = Command::new(env!("CARGO_BIN_EXE_easel"))
            .args(["sim", "serve", "--port", "0", "--state"])
            .arg(&state)
            .env("EASEL_HOME", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while out.read_line(&mut line).unwrap() > 0 {
            if line.contains("stops it") {
                break;
            }
            line.clear();
        }
        assert!(
            Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        let done = child.wait_with_output().unwrap();
        assert!(
            state.exists(),
            "{signal}: no state saved; {}",
            String::from_utf8_lossy(&done.stderr)
        );
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        assert!(saved.is_object(), "{signal}");
    }
}
