//! Local commands acting as a principal (`EASEL_API_TOKEN`) are held to
//! that principal's role, and
//! arguments easel does not take are refused with what to give.

#![allow(clippy::unwrap_used)]

mod common;

fn refused(home: &std::path::Path, token: &str, args: &[&str]) -> String {
    let out = common::command(home, args)
        .env("EASEL_API_TOKEN", token)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_contributor_token_reads_no_user_or_token_list_and_runs_no_demo() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    common::easel(
        home,
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
    let out = common::easel(home, &["user", "token", "lhs-it", "--label", "t"]);
    let token = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    for (args, says) in [
        (&["user", "list"][..], "may not manage users"),
        (&["token", "list"][..], "may not read every school's runs"),
        (&["demo"][..], "may not manage users"),
    ] {
        let err = refused(home, &token, args);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // The OS user (all-powerful) may.
    common::easel(home, &["user", "list"]);
}

#[test]
fn arguments_easel_does_not_take_are_refused_with_what_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let out = common::command(
        home,
        &["user", "add", "dana", "--role", "approver", "--school", "2"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--school binds a contributor"));
    let list = String::from_utf8(common::easel(home, &["user", "list", "--json"]).stdout).unwrap();
    assert!(!list.contains("dana"), "nothing was added: {list}");
    // A report name is a file name, never a path out of the run's folder.
    let out = common::command(
        home,
        &[
            "runs",
            "export",
            "--batch",
            "x",
            "--merge",
            "out.csv",
            "--report",
            "../../master.key",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a report's file name"), "{err}");
}
