//! A lost master key: `easel vault reset --forget-tokens` is the way out.
//! It forgets the sealed tokens, keeps everything else, is audited, and
//! `audit verify` says what it can no longer prove.

#![allow(clippy::unwrap_used)]

mod common;

fn add_token(home: &std::path::Path, id: &str, secret: &str) {
    common::add_token(home, "prod", id, secret, &["--no-verify"]);
}

#[test]
fn a_lost_master_key_is_reset_forgetting_only_the_tokens() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(easel_sim::Simulator::start(easel_sim::SimConfig::default()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    common::easel(home, &["instance", "add", "prod", "--url", sim.url()]);
    add_token(home, "admin", sim.admin_token());
    common::submit_bundled(home, &easel_bundled::COURSE_REPORT);
    common::easel(
        home,
        &["plugin", "approve", "course-report", "--school", "2"],
    );
    common::easel(home, &["audit", "checkpoint"]);

    // The key is lost: nothing opens, and says why.
    std::fs::remove_file(home.join("master.key")).unwrap();
    let out = common::command(home, &["token", "list"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        common::text(&out).contains("master.key"),
        "{}",
        common::text(&out)
    );

    // Not without saying so.
    let out = common::command(home, &["vault", "reset"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::text(&out).contains("--forget-tokens"),
        "{}",
        common::text(&out)
    );

    let out = common::easel(home, &["vault", "reset", "--forget-tokens"]);
    let said = common::text(&out);
    assert!(said.contains("Forgot 1 token(s)"), "{said}");
    assert!(!said.contains(sim.admin_token()), "{said}");

    // Tokens gone; plugins, approvals and the audit log kept.
    let list = String::from_utf8(common::easel(home, &["token", "list", "--json"]).stdout).unwrap();
    assert!(!list.contains("admin"), "{list}");
    let plugins =
        String::from_utf8(common::easel(home, &["plugin", "list", "--json"]).stdout).unwrap();
    assert!(plugins.contains("approved: 2"), "{plugins}");
    let verify = common::easel(home, &["audit", "verify"]);
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(text.contains("where the master key was reset"), "{text}");
    assert!(text.contains("keyed by the lost master key"), "{text}");
    let witness = common::easel(
        home,
        &[
            "audit",
            "verify",
            "--witness",
            home.join("audit.witness").to_str().unwrap(),
        ],
    );
    assert!(witness.status.success());
    let export =
        String::from_utf8(common::easel(home, &["audit", "export", "--format", "csv"]).stdout)
            .unwrap();
    assert!(export.contains("vault-reset"), "{export}");
    assert!(
        export.contains("plugin-approved"),
        "the old records stay: {export}"
    );

    // A new token works as before.
    add_token(home, "admin", sim.admin_token());
    common::easel(home, &["token", "check", "admin"]);

    // A record deleted before the reset is still caught (its order is).
    let db = rusqlite::Connection::open(home.join("easel.db")).unwrap();
    db.execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 2;")
        .unwrap();
    drop(db);
    let out = common::command(home, &["audit", "verify"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        common::text(&out).contains("record 2 is missing"),
        "{}",
        common::text(&out)
    );
}
