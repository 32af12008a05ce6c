//! A backup restores: `easel backup FILE` writes a consistent copy of the
//! database while easel runs; restored beside its master.key in a new data
//! directory, its plugins, approvals, runs and schedules are there and its
//! audit log verifies. Without the key, nothing in it opens.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_backup_restored_beside_its_master_key_holds_everything_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    // Plugins, approvals, runs, a schedule: what a district would have.
    common::easel(&home, &["demo"]);
    common::easel(
        &home,
        &[
            "schedule",
            "add",
            "course-report",
            "--school",
            "2",
            "--cron",
            "0 6 * * 1-5",
            "--tz",
            "America/Chicago",
        ],
    );
    let copy = dir.path().join("offsite").join("easel-2026-12-02.db");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let out = common::easel(&home, &["backup", copy.to_str().unwrap()]);
    assert!(text(&out).contains("master.key"), "{}", text(&out));
    // A second backup to the same file is refused, changing nothing.
    let again = common::command(&home, &["backup", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));

    // Restore on "another machine": the copy, and the key kept apart.
    let restored = dir.path().join("restored");
    std::fs::create_dir_all(&restored).unwrap();
    std::fs::copy(&copy, restored.join("easel.db")).unwrap();
    // Without the key the vault refuses to open (nothing is guessed).
    let no_key = common::command(&restored, &["audit", "verify"])
        .output()
        .unwrap();
    assert_ne!(no_key.status.code(), Some(0), "{}", text(&no_key));
    std::fs::copy(home.join("master.key"), restored.join("master.key")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            restored.join("master.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let out = common::easel(&restored, &["audit", "verify", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["intact"], true, "{v}");
    for args in [
        &["plugin", "list", "--json"][..],
        &["runs", "--json"][..],
        &["schedule", "list", "--json"][..],
    ] {
        let before: serde_json::Value =
            serde_json::from_slice(&common::easel(&home, args).stdout).unwrap();
        let after: serde_json::Value =
            serde_json::from_slice(&common::easel(&restored, args).stdout).unwrap();
        let n = |v: &serde_json::Value| v.as_array().map(Vec::len).unwrap_or(0);
        assert!(n(&before) > 0, "{args:?}: {before}");
        assert_eq!(n(&before), n(&after), "{args:?}");
    }
    // The backup itself is in the audit log.
    let log = String::from_utf8_lossy(&common::easel(&restored, &["audit", "export"]).stdout)
        .into_owned();
    assert!(log.contains("backup to"), "{log}");
}
