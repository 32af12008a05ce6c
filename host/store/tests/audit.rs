//! The audit log's chain: intact after appends, append-only in SQL, and
//! any edited, deleted or reordered row is named by `verify`.
#![allow(clippy::unwrap_used, clippy::panic)] // test code fails loudly

use easel_store::{Action, AuditEntry, AuditFilter, AuditKeys, AuditLog, Store, Verdict};

fn keys() -> AuditKeys {
    AuditKeys::derive(&[42u8; 32]).unwrap()
}

fn log_with(n: u64) -> (tempfile::TempDir, std::path::PathBuf, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("easel.db");
    Store::open(&db).unwrap();
    let log = AuditLog::open(&db, keys()).unwrap();
    append(&log, n);
    (dir, db, log)
}

fn append(log: &AuditLog, n: u64) {
    for i in 0..n {
        log.append(&AuditEntry {
            school: Some(100 + i),
            plugin: Some(if i % 2 == 0 { "a" } else { "b" }.into()),
            method: Some("GET".into()),
            path: Some(format!("/api/v1/accounts/{i}")),
            status: Some(200),
            cost: Some(0.25),
            ..AuditEntry::new("run:r1", Action::CanvasResponse)
        })
        .unwrap();
    }
}

fn tamper(db: &std::path::Path, sql: &str) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
        .unwrap();
    c.execute_batch(sql).unwrap();
}

fn broken_at(log: &AuditLog) -> u64 {
    match log.verify().unwrap() {
        Verdict::Broken { seq, .. } => seq,
        Verdict::Intact { .. } => panic!("tampering went unnoticed"),
    }
}

#[test]
fn an_untouched_chain_verifies_and_reports_its_head() {
    let (_d, _db, log) = log_with(5);
    let Verdict::Intact { records, head, .. } = log.verify().unwrap() else {
        panic!("intact log reported broken");
    };
    assert_eq!(records, 5);
    assert_eq!(head, log.last(1).unwrap()[0].hash);
    let recs = log.records(&AuditFilter::default(), None).unwrap();
    assert_eq!(recs[0].prev_hash, easel_store::GENESIS);
    for w in recs.windows(2) {
        assert_eq!(
            w[1].prev_hash, w[0].hash,
            "each record covers the previous hash"
        );
    }
}

#[test]
fn sql_updates_and_deletes_are_refused() {
    let (_d, db, _log) = log_with(3);
    let c = rusqlite::Connection::open(&db).unwrap();
    let e = c
        .execute("UPDATE audit SET actor = 'x' WHERE seq = 2", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    let e = c
        .execute("DELETE FROM audit WHERE seq = 2", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
}

#[test]
fn an_edited_field_breaks_the_chain_at_that_record() {
    for (column, value) in [
        ("actor", "'admin:mallory'"),
        ("path", "'/api/v1/accounts/999'"),
        ("status", "403"),
        ("cost", "9.5"),
        ("at", "'2020-01-01T00:00:00Z'"),
    ] {
        let (_d, db, log) = log_with(6);
        tamper(
            &db,
            &format!("UPDATE audit SET {column} = {value} WHERE seq = 4"),
        );
        assert_eq!(broken_at(&log), 4, "editing {column}");
    }
}

#[test]
fn a_deleted_record_is_named() {
    let (_d, db, log) = log_with(6);
    tamper(&db, "DELETE FROM audit WHERE seq = 3");
    assert_eq!(broken_at(&log), 3);
    let (_d, db, log) = log_with(6);
    tamper(&db, "DELETE FROM audit WHERE seq = 1");
    assert_eq!(broken_at(&log), 1);
}

#[test]
fn reordered_records_are_named() {
    let (_d, db, log) = log_with(6);
    tamper(
        &db,
        "UPDATE audit SET seq = -1 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = -1;",
    );
    assert_eq!(broken_at(&log), 2);
}

#[test]
fn a_rehashed_record_is_caught_at_that_record() {
    // Rewriting a record and its own hash without the key: the MAC does
    // not match.
    let (_d, db, log) = log_with(5);
    let mut rec = log.records(&AuditFilter::default(), None).unwrap()[1].clone();
    rec.path = Some("/api/v1/accounts/elsewhere".into());
    rec.hash = rec.compute_hash();
    tamper(
        &db,
        &format!(
            "UPDATE audit SET path = '{}', hash = '{}' WHERE seq = 2",
            rec.path.as_deref().unwrap(),
            rec.hash
        ),
    );
    assert_eq!(broken_at(&log), 2);
}

#[test]
fn filters_select_by_plugin_school_time_and_position() {
    let (_d, _db, log) = log_with(6);
    let f = |f: AuditFilter| log.records(&f, None).unwrap().len();
    assert_eq!(
        f(AuditFilter {
            plugin: Some("a".into()),
            ..Default::default()
        }),
        3
    );
    assert_eq!(
        f(AuditFilter {
            school: Some(101),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        f(AuditFilter {
            after_seq: Some(4),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        f(AuditFilter {
            since: Some("2999".into()),
            ..Default::default()
        }),
        0
    );
    assert_eq!(
        log.last(2)
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>(),
        vec![5, 6]
    );
}
