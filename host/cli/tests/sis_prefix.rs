//! `easel schools sis-prefix`: each school's SIS-id prefix, set, shown,
//! refused when it overlaps another school's, cleared, audited, and listed
//! by `easel schools`.

#![allow(clippy::unwrap_used)]

mod common;

use common::easel;

fn fails(home: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = common::command(home, args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_schools_sis_prefix_is_set_shown_refused_on_overlap_and_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let shown = easel(home, &["schools", "sis-prefix", "2", "--json"]);
    assert_eq!(json(&shown)["sis_id_prefix"], serde_json::Value::Null);

    let set = easel(
        home,
        &["schools", "sis-prefix", "2", "SCH001-", "--by", "alice"],
    );
    let text = String::from_utf8_lossy(&set.stdout);
    assert!(text.contains("\"SCH001-\""), "{text}");

    // Another school may not take a prefix that overlaps it, in any case.
    for p in ["SCH001-X", "sch001-", "SCH"] {
        let (code, err) = fails(home, &["schools", "sis-prefix", "4", p]);
        assert_eq!(code, 2, "{p}: {err}");
        assert!(
            err.contains("school 2") && err.contains("overlaps"),
            "{err}"
        );
    }
    easel(home, &["schools", "sis-prefix", "4", "SCH002-"]);
    let (code, err) = fails(home, &["schools", "sis-prefix", "99", "X-"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no account 99"), "{err}");

    let list = json(&easel(home, &["schools", "--json"]));
    let prefix_of = |id: u64| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["sis_id_prefix"].clone())
            .unwrap()
    };
    assert_eq!(prefix_of(2), "SCH001-");
    assert_eq!(prefix_of(4), "SCH002-");
    assert_eq!(prefix_of(6), serde_json::Value::Null);

    let cleared = json(&easel(
        home,
        &["schools", "sis-prefix", "2", "--clear", "--json"],
    ));
    assert_eq!(cleared["sis_id_prefix"], serde_json::Value::Null);

    // Each change is in the audit log, with who made it.
    let audit = easel(home, &["audit", "export", "--format", "jsonl"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&audit.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["action"] == "setting-changed")
        .collect();
    let details: Vec<&str> = lines
        .iter()
        .map(|v| v["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        [
            "sis-id-prefix of school 2 = \"SCH001-\"",
            "sis-id-prefix of school 4 = \"SCH002-\"",
            "sis-id-prefix of school 2 cleared"
        ]
    );
    assert!(
        lines[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("alice (api-token "),
        "{}",
        lines[0]
    );
}
