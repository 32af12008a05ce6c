//! `db copy`: a SQLite installation moved into an empty PostgreSQL
//! database keeps every row, its audit chain (which verifies there with
//! the same key and head), its queue order and its sequence numbers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use easel_pgtest::Cluster;
use easel_store::{
    Action, ApprovalRow, AuditEntry, AuditKeys, AuditLog, AuditOptions, NewRun, PluginRow, Store,
    Verdict,
};
use easel_store_pg::{Claim, PgAudit, PgStore};

fn keys() -> AuditKeys {
    AuditKeys::derive(&[5u8; 32]).unwrap()
}

fn run(id: &str) -> NewRun {
    NewRun {
        id: id.into(),
        plugin_id: "course-report".into(),
        digest: "a".repeat(64),
        school: 7,
        instance: "main".into(),
        dry_run: true,
        params: vec![("term".into(), "fall".into())],
        applies: None,
        owner: None,
        batch: None,
        token: None,
    }
}

/// A SQLite home with a plugin, an approval, queued runs and an audit
/// log with checkpoints.
fn sqlite_home() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("easel.db");
    let store = Store::open(&db).unwrap();
    store
        .add_plugin(&PluginRow {
            digest: "a".repeat(64),
            id: "course-report".into(),
            version: "1.0.0".into(),
            manifest: "id = \"course-report\"".into(),
            manifest_digest: "b".repeat(64),
            size: 1234,
            added_at: "2026-01-01T00:00:00Z".into(),
            added_by: "admin:ana".into(),
        })
        .unwrap();
    store
        .approve(&ApprovalRow {
            plugin_id: "course-report".into(),
            digest: "a".repeat(64),
            manifest_digest: "b".repeat(64),
            school: 7,
            write: false,
            approved_by: "admin:ana".into(),
            approved_at: "2026-01-01T00:00:01Z".into(),
            instance: None,
            token_id: None,
            terms: Default::default(),
            awaiting_second: false,
            second_by: None,
        })
        .unwrap();
    // Queued out of id order: the queue's order is what was queued first.
    for id in ["z-first", "a-second", "m-third"] {
        store.enqueue_run(&run(id), "{}").unwrap();
    }
    let log = AuditLog::open_with(
        &db,
        keys(),
        AuditOptions {
            policy: easel_store::CheckpointPolicy {
                every_records: 4,
                ..Default::default()
            },
            ..AuditOptions::default()
        },
    )
    .unwrap();
    for i in 0..10 {
        log.append(&AuditEntry {
            school: Some(i),
            path: Some(format!("/api/v1/accounts/{i}")),
            ..AuditEntry::new("run:r1", Action::CanvasResponse)
        })
        .unwrap();
    }
    (dir, db)
}

fn pg_log(url: &str) -> AuditLog {
    AuditLog::with_backend(
        Box::new(PgAudit::open(url).unwrap()),
        keys(),
        AuditOptions::default(),
    )
    .unwrap()
}

#[test]
fn a_copied_installation_keeps_its_rows_its_chain_and_its_queue_order() {
    let (_dir, db) = sqlite_home();
    let sqlite_log = AuditLog::open(&db, keys()).unwrap();
    let Verdict::Intact { head, records, .. } = sqlite_log.verify().unwrap() else {
        panic!("the source should verify");
    };
    let checkpoints = sqlite_log.checkpoints().unwrap();
    drop(sqlite_log);

    let cluster = Cluster::shared();
    let url = cluster.database();
    let pg = PgStore::connect(&url, 2).unwrap();
    let report = pg.copy_from_sqlite(&db).unwrap();
    assert_eq!(report.rows("audit"), records);
    assert_eq!(report.rows("runs"), 3);
    assert_eq!(report.rows("plugins"), 1);
    assert_eq!(report.rows("approvals"), 1);
    assert_eq!(report.rows("audit_checkpoints"), checkpoints.len() as u64);

    // The chain verifies on PostgreSQL with the same key and head.
    let log = pg_log(&url);
    match log.verify().unwrap() {
        Verdict::Intact {
            head: h,
            records: n,
            checkpoints: c,
            ..
        } => {
            assert_eq!((h, n), (head, records));
            assert_eq!(c, checkpoints.len() as u64);
        }
        Verdict::Broken { seq, reason } => panic!("broken at {seq}: {reason}"),
    }
    // And goes on there: the next record links to the copied head.
    log.append(&AuditEntry::new("admin:ana", Action::CanvasResponse))
        .unwrap();
    assert!(matches!(
        log.verify().unwrap(),
        Verdict::Intact { records: 11, .. }
    ));

    // Queue order kept.
    let order: Vec<String> = std::iter::from_fn(|| {
        pg.claim_run("n", easel_store::now_ms() + 60_000, &Claim::default())
            .unwrap()
            .map(|r| r.id)
    })
    .collect();
    assert_eq!(order, ["z-first", "a-second", "m-third"]);
    let r = pg.run("z-first").unwrap().unwrap();
    assert_eq!(r.params, vec![("term".to_string(), "fall".to_string())]);

    // Sequences continue after the copied rows.
    cluster.psql(
        &url,
        "INSERT INTO approvals (plugin_id, digest, manifest_digest, school, write, approved_by, approved_at)
         VALUES ('course-report', repeat('a', 64), repeat('b', 64), 8, false, 'x', 'now')",
    );
    let seqs = cluster.psql(
        &url,
        "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM approvals",
    );
    assert_eq!(seqs.trim(), "1,2");
}

#[test]
fn a_database_that_is_not_empty_is_refused_and_left_as_it_was() {
    let (_dir, db) = sqlite_home();
    let cluster = Cluster::shared();
    let url = cluster.database();
    let pg = PgStore::connect(&url, 2).unwrap();
    pg.copy_from_sqlite(&db).unwrap();
    let err = pg.copy_from_sqlite(&db).unwrap_err().to_string();
    assert!(err.contains("not empty"), "{err}");
    assert!(err.contains("audit"), "{err}");
    assert_eq!(
        cluster.psql(&url, "SELECT count(*) FROM runs").trim(),
        "3",
        "nothing added"
    );
}

#[test]
fn a_copy_that_fails_part_way_leaves_nothing_behind() {
    let (_dir, db) = sqlite_home();
    // A row PostgreSQL refuses (a flag that is text), after good tables.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("DROP TRIGGER audit_no_update;").unwrap();
    c.execute("UPDATE runs SET dry_run = 'maybe' WHERE id = 'm-third'", [])
        .unwrap();
    let cluster = Cluster::shared();
    let url = cluster.database();
    let pg = PgStore::connect(&url, 2).unwrap();
    let err = pg.copy_from_sqlite(&db).unwrap_err().to_string();
    assert!(err.contains("runs.dry_run"), "{err}");
    for t in ["plugins", "approvals", "runs", "audit"] {
        assert_eq!(
            cluster
                .psql(&url, &format!("SELECT count(*) FROM {t}"))
                .trim(),
            "0",
            "{t}"
        );
    }
}
