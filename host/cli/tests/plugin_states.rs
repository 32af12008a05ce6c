//! `easel plugin list` says what became of each school's grant: approved,
//! waiting for a second approver, revoked; not "pending" for a version
//! that was approved and then revoked.

#![allow(clippy::unwrap_used)]

mod common;

fn easel(home: &std::path::Path, args: &[&str]) -> String {
    String::from_utf8(common::easel(home, args).stdout).unwrap()
}

fn state(home: &std::path::Path) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&easel(home, &["plugin", "list", "--json"])).unwrap();
    v[0]["state"].as_str().unwrap().to_owned()
}

#[test]
fn plugin_list_tells_approved_waiting_and_revoked_apart() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (wasm, manifest) = common::bundled_files(dir.path(), &easel_bundled::COURSE_PUBLISHER);
    let (wasm, manifest) = (wasm.as_str(), manifest.as_str());
    easel(
        &home,
        &[
            "plugin",
            "submit",
            wasm,
            "--manifest",
            manifest,
            "--by",
            "school-it",
        ],
    );
    assert_eq!(state(&home), "pending");
    easel(
        &home,
        &[
            "plugin",
            "approve",
            "course-publisher",
            "--school",
            "2,4",
            "--by",
            "ana",
        ],
    );
    assert_eq!(state(&home), "approved: 4,2");
    easel(
        &home,
        &[
            "plugin",
            "revoke",
            "course-publisher",
            "--school",
            "2",
            "--by",
            "ana",
        ],
    );
    assert_eq!(state(&home), "approved: 4; revoked: 2");
    easel(
        &home,
        &["config", "set", "write-approvers", "2", "--by", "ana"],
    );
    easel(
        &home,
        &[
            "plugin",
            "approve",
            "course-publisher",
            "--school",
            "6",
            "--by",
            "ana",
        ],
    );
    assert_eq!(
        state(&home),
        "awaiting a second approver: 6; approved: 4; revoked: 2"
    );
    // A grant whose writes are planned only does not say "read and write".
    let said = easel(
        &home,
        &[
            "plugin",
            "approve",
            "course-publisher",
            "--school",
            "8",
            "--dry-run-only",
            "--by",
            "ana",
        ],
    );
    assert!(
        said.contains("write in dry runs only") && !said.contains("(read and write)"),
        "{said}"
    );
}

#[test]
fn submit_approve_revoke_and_config_speak_json() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (wasm, manifest) = common::bundled_files(dir.path(), &easel_bundled::COURSE_REPORT);
    let (wasm, manifest) = (wasm.as_str(), manifest.as_str());
    let json =
        |args: &[&str]| -> serde_json::Value { serde_json::from_str(&easel(&home, args)).unwrap() };
    let added = json(&[
        "plugin",
        "submit",
        wasm,
        "--manifest",
        manifest,
        "--by",
        "it",
        "--json",
    ]);
    assert_eq!(added["id"], "course-report");
    assert_eq!(added["added_by"], "it");
    assert_eq!(added["digest"].as_str().unwrap().len(), 64);
    let approved = json(&[
        "plugin",
        "approve",
        "course-report",
        "--school",
        "2,4",
        "--by",
        "ana",
        "--json",
    ]);
    let schools: Vec<u64> = approved
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["school"].as_u64().unwrap())
        .collect();
    assert_eq!(schools, vec![2, 4]);
    assert_eq!(approved[0]["approved_by"], "ana");
    let revoked = json(&[
        "plugin",
        "revoke",
        "course-report",
        "--school",
        "4",
        "--by",
        "ana",
        "--json",
    ]);
    assert_eq!(revoked["revoked_schools"], serde_json::json!([4]));
    let settings = json(&["config", "show", "--json"]);
    assert_eq!(settings["write-approvers"], "1");
    assert_eq!(settings["plan-expiry-hours"], "24");
}

#[test]
fn approve_and_revoke_read_schools_from_a_file_and_a_bad_line_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (wasm, manifest) = common::bundled_files(dir.path(), &easel_bundled::COURSE_REPORT);
    easel(
        &home,
        &[
            "plugin",
            "submit",
            &wasm,
            "--manifest",
            &manifest,
            "--by",
            "school-it",
        ],
    );
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "2\n4\nLincoln High\n").unwrap();
    let out = common::command(
        &home,
        &[
            "plugin",
            "approve",
            "course-report",
            "--schools-from",
            bad.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3") && err.contains("easel schools"),
        "{err}"
    );
    assert_eq!(state(&home), "pending", "nothing was approved");

    let good = dir.path().join("schools.txt");
    std::fs::write(&good, "# the high schools\n2\n4, 6 # east side\n\n8\n").unwrap();
    easel(
        &home,
        &[
            "plugin",
            "approve",
            "course-report",
            "--schools-from",
            good.to_str().unwrap(),
        ],
    );
    let approved = state(&home);
    for s in ["2", "4", "6", "8"] {
        assert!(
            approved.split([':', ',', ' ']).any(|x| x == s),
            "{approved}"
        );
    }
    let some = dir.path().join("revoke.txt");
    std::fs::write(&some, "4,8\n").unwrap();
    easel(
        &home,
        &[
            "plugin",
            "revoke",
            "course-report",
            "--schools-from",
            some.to_str().unwrap(),
        ],
    );
    let after = state(&home);
    assert!(
        after.contains("revoked: ") && after.contains('8'),
        "{after}"
    );
}
