//! `easel ... | head` closes standard output early: easel ends quietly
//! with the status a SIGPIPE'd process has (141), not a "Broken pipe"
//! panic.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(["user", "list"])
        .env("EASEL_HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before easel writes anything.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}

#[test]
fn completions_and_the_man_page_are_printed() {
    for (args, expect) in [
        (&["completions", "bash"][..], "_easel()"),
        (&["completions", "fish"][..], "complete -c easel"),
        (&["man"][..], ".TH easel 1"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_easel"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(expect), "{args:?}");
        assert!(text.contains("plan"), "{args:?} lists the plan command");
    }
}
