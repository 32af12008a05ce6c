//! The audit log's chain: intact after appends, append-only in SQL, and
//! any edited, deleted or reordered row is named by `verify`. Every test
//! runs on both stores: SQLite, and PostgreSQL (a private cluster the
//! harness starts), where the log is one chain for many nodes.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)] // test code fails loudly

use std::sync::Arc;

use easel_store::{
    Action, AuditEntry, AuditFilter, AuditKeys, AuditLog, AuditOptions, Store, Verdict,
};

fn keys() -> AuditKeys {
    AuditKeys::derive(&[42u8; 32]).unwrap()
}

/// One store's database, fresh.
enum Db {
    /// The directory is kept (removed when dropped) with the file in it.
    Sqlite(#[allow(dead_code)] tempfile::TempDir, std::path::PathBuf),
    Postgres(Arc<easel_pgtest::Cluster>, String),
}

impl Db {
    /// A fresh database of each store.
    fn all() -> Vec<Db> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("easel.db");
        Store::open(&path).unwrap();
        let cluster = easel_pgtest::Cluster::shared();
        let url = cluster.database();
        easel_store_pg::PgStore::connect(&url, 1).unwrap();
        vec![Db::Sqlite(dir, path), Db::Postgres(cluster, url)]
    }

    fn name(&self) -> &'static str {
        match self {
            Db::Sqlite(..) => "sqlite",
            Db::Postgres(..) => "postgres",
        }
    }

    /// The audit log in it (another node's, on PostgreSQL).
    fn open_log(&self) -> AuditLog {
        match self {
            Db::Sqlite(_, path) => AuditLog::open(path, keys()).unwrap(),
            Db::Postgres(_, url) => AuditLog::with_backend(
                Box::new(easel_store_pg::PgAudit::open(url).unwrap()),
                keys(),
                AuditOptions::default(),
            )
            .unwrap(),
        }
    }

    /// Run `sql` as the database's owner would, past the append-only
    /// triggers.
    fn tamper(&self, sql: &str) {
        match self {
            Db::Sqlite(_, path) => {
                let c = rusqlite::Connection::open(path).unwrap();
                c.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
                    .unwrap();
                c.execute_batch(sql).unwrap();
            }
            Db::Postgres(cluster, url) => {
                cluster.psql(
                    url,
                    &format!("ALTER TABLE audit DISABLE TRIGGER USER; {sql}"),
                );
            }
        }
    }

    /// What the database says to `sql` run plainly (an error expected).
    fn refused(&self, sql: &str) -> String {
        match self {
            Db::Sqlite(_, path) => {
                let c = rusqlite::Connection::open(path).unwrap();
                c.execute_batch(sql).unwrap_err().to_string()
            }
            Db::Postgres(_, url) => {
                let out = std::process::Command::new("psql")
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
                    .arg(url)
                    .args(["-c", sql])
                    .output()
                    .unwrap();
                assert!(!out.status.success(), "{sql} was allowed");
                String::from_utf8_lossy(&out.stderr).into_owned()
            }
        }
    }
}

fn log_with(n: u64) -> Vec<(Db, AuditLog)> {
    Db::all()
        .into_iter()
        .map(|db| {
            let log = db.open_log();
            append(&log, n);
            (db, log)
        })
        .collect()
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

fn broken_at(log: &AuditLog) -> u64 {
    match log.verify().unwrap() {
        Verdict::Broken { seq, .. } => seq,
        Verdict::Intact { .. } => panic!("tampering went unnoticed"),
    }
}

#[test]
fn an_untouched_chain_verifies_and_reports_its_head() {
    for (db, log) in log_with(5) {
        let Verdict::Intact { records, head, .. } = log.verify().unwrap() else {
            panic!("{}: intact log reported broken", db.name());
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
}

#[test]
fn nodes_appending_at_once_make_one_gapless_chain() {
    for db in Db::all() {
        let logs: Vec<AuditLog> = (0..3).map(|_| db.open_log()).collect();
        std::thread::scope(|s| {
            for log in &logs {
                s.spawn(move || append(log, 40));
            }
        });
        let Verdict::Intact { records, .. } = logs[0].verify().unwrap() else {
            panic!("{}: interleaved appends broke the chain", db.name());
        };
        assert_eq!(records, 120, "{}", db.name());
    }
}

#[test]
fn sql_updates_and_deletes_are_refused() {
    for (db, _log) in log_with(3) {
        for sql in [
            "UPDATE audit SET actor = 'x' WHERE seq = 2",
            "DELETE FROM audit WHERE seq = 2",
        ] {
            let e = db.refused(sql);
            assert!(e.contains("append-only"), "{}: {e}", db.name());
        }
        if let Db::Postgres(..) = db {
            let e = db.refused("TRUNCATE audit");
            assert!(e.contains("append-only"), "{e}");
        }
    }
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
        for (db, log) in log_with(6) {
            db.tamper(&format!(
                "UPDATE audit SET {column} = {value} WHERE seq = 4"
            ));
            assert_eq!(broken_at(&log), 4, "{}: editing {column}", db.name());
        }
    }
}

#[test]
fn a_deleted_record_is_named() {
    for seq in [3, 1, 6] {
        for (db, log) in log_with(6) {
            db.tamper(&format!("DELETE FROM audit WHERE seq = {seq}"));
            match seq {
                // The last record gone leaves a shorter chain that holds:
                // the signed checkpoints and the witness catch that.
                6 => assert!(matches!(
                    log.verify().unwrap(),
                    Verdict::Intact { records: 5, .. }
                )),
                _ => assert_eq!(broken_at(&log), seq, "{}", db.name()),
            }
        }
    }
}

#[test]
fn reordered_records_are_named() {
    for (db, log) in log_with(6) {
        db.tamper(
            "UPDATE audit SET seq = -1 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = -1;",
        );
        assert_eq!(broken_at(&log), 2, "{}", db.name());
    }
}

#[test]
fn a_rehashed_record_is_caught_at_that_record() {
    // Rewriting a record and its own hash without the key: the MAC does
    // not match.
    for (db, log) in log_with(5) {
        let mut rec = log.records(&AuditFilter::default(), None).unwrap()[1].clone();
        rec.path = Some("/api/v1/accounts/elsewhere".into());
        rec.hash = rec.compute_hash();
        db.tamper(&format!(
            "UPDATE audit SET path = '{}', hash = '{}' WHERE seq = 2",
            rec.path.as_deref().unwrap(),
            rec.hash
        ));
        assert_eq!(broken_at(&log), 2, "{}", db.name());
    }
}

#[test]
fn filters_select_by_plugin_school_time_and_position() {
    for (_db, log) in log_with(6) {
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
}

#[test]
fn records_waiting_together_are_committed_together() {
    for db in Db::all() {
        let log = db.open_log();
        for i in 0..5 {
            log.append_deferred(AuditEntry {
                school: Some(i),
                ..AuditEntry::new("run:r1", Action::CanvasResponse)
            })
            .unwrap();
        }
        log.flush();
        assert_eq!(log.commit_stats(), (1, 5), "{}: one commit", db.name());
        assert!(
            matches!(log.verify().unwrap(), Verdict::Intact { records: 5, .. }),
            "{}",
            db.name()
        );
    }
}
