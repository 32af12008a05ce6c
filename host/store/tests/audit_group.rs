//! Group commit: records appended from many threads at once share commits
//! and still form one gapless chain; a deferred record joins the next
//! commit, in order; a record that cannot be written fails alone.
#![allow(clippy::unwrap_used, clippy::panic)] // test code fails loudly

use std::sync::Arc;

use easel_store::{Action, AuditEntry, AuditFilter, AuditKeys, AuditLog, Store, Verdict};

fn keys() -> AuditKeys {
    AuditKeys::derive(&[42u8; 32]).unwrap()
}

fn open() -> (tempfile::TempDir, std::path::PathBuf, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("easel.db");
    Store::open(&db).unwrap();
    let log = AuditLog::open(&db, keys()).unwrap();
    (dir, db, log)
}

fn entry(run: &str, action: Action, i: u64) -> AuditEntry {
    AuditEntry {
        run: Some(run.into()),
        method: Some("GET".into()),
        path: Some(format!("/api/v1/accounts/{i}")),
        ..AuditEntry::new(format!("run:{run}"), action)
    }
}

fn all(log: &AuditLog) -> Vec<easel_store::AuditRecord> {
    log.records(&AuditFilter::default(), None).unwrap()
}

#[test]
fn appends_from_many_threads_form_one_gapless_chain() {
    let (_d, _db, log) = open();
    let log = Arc::new(log);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let run = format!("r{t}");
                let mut seqs = Vec::new();
                for i in 0..200 {
                    seqs.push(
                        log.append(&entry(&run, Action::CanvasRequestAllowed, i))
                            .unwrap(),
                    );
                    log.append_deferred(entry(&run, Action::CanvasResponse, i))
                        .unwrap();
                }
                (run, seqs)
            })
        })
        .collect();
    let mut given = Vec::new();
    for t in threads {
        let (run, seqs) = t.join().unwrap();
        // Each caller got its own record's number, in its own order.
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{run}: {seqs:?}");
        given.extend(seqs.into_iter().map(|s| (s, run.clone())));
    }
    let recs = all(&log);
    assert_eq!(recs.len(), 8 * 200 * 2, "every record, deferred ones too");
    // Answers rode with the next call's commit (or a later one).
    let (commits, records) = log.commit_stats();
    assert_eq!(records, 3200);
    assert!(
        commits <= 1600 + 1,
        "{commits} commits for {records} records"
    );
    assert!(recs.iter().enumerate().all(|(i, r)| r.seq == i as u64 + 1));
    // The number returned is the record committed for that caller.
    for (seq, run) in given {
        let r = &recs[seq as usize - 1];
        assert_eq!(r.run.as_deref(), Some(run.as_str()));
        assert_eq!(r.action, "canvas-request-allowed");
    }
    // Each run's answer to a call follows that call's record.
    for t in 0..8 {
        let run = format!("r{t}");
        let mine: Vec<_> = recs
            .iter()
            .filter(|r| r.run.as_deref() == Some(run.as_str()))
            .map(|r| (r.action.as_str(), r.path.clone().unwrap()))
            .collect();
        for (i, pair) in mine.chunks(2).enumerate() {
            let path = format!("/api/v1/accounts/{i}");
            assert_eq!(pair[0], ("canvas-request-allowed", path.clone()));
            assert_eq!(pair[1], ("canvas-response", path));
        }
    }
    assert!(matches!(
        log.verify().unwrap(),
        Verdict::Intact { records: 3200, .. }
    ));
}

#[test]
fn a_deferred_record_joins_the_next_commit_in_order() {
    let (_d, db, log) = open();
    log.append(&entry("r", Action::CanvasRequestAllowed, 1))
        .unwrap();
    log.append_deferred(entry("r", Action::CanvasResponse, 1))
        .unwrap();
    // Not yet in the database, as another connection sees it.
    let count = || -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count(), 1);
    // The next append commits it first.
    let seq = log
        .append(&entry("r", Action::CanvasRequestAllowed, 2))
        .unwrap();
    assert_eq!(seq, 3);
    assert_eq!(count(), 3);
    let recs = all(&log);
    assert_eq!(recs[1].action, "canvas-response");
    assert_eq!(recs[1].path.as_deref(), Some("/api/v1/accounts/1"));
    // A read through the log sees what is pending.
    log.append_deferred(entry("r", Action::CanvasResponse, 2))
        .unwrap();
    assert_eq!(all(&log).len(), 4);
    // And dropping the log commits the rest.
    log.append_deferred(entry("r", Action::CanvasResponse, 3))
        .unwrap();
    assert_eq!(count(), 4);
    drop(log);
    assert_eq!(count(), 5);
    let log = AuditLog::open(&db, keys()).unwrap();
    assert!(matches!(
        log.verify().unwrap(),
        Verdict::Intact { records: 5, .. }
    ));
}

#[test]
fn a_record_that_cannot_be_written_fails_alone() {
    let (_d, db, log) = open();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER full BEFORE INSERT ON audit WHEN NEW.path = '/api/v1/accounts/666' \
             BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
        )
        .unwrap();
    // The deferred answer and the refused call wait for the same commit.
    log.append_deferred(entry("r", Action::CanvasResponse, 1))
        .unwrap();
    let e = log
        .append(&entry("r", Action::CanvasRequestAllowed, 666))
        .unwrap_err();
    assert!(e.to_string().contains("disk full"), "{e}");
    let recs = all(&log);
    assert_eq!(recs.len(), 1, "the answer was recorded: {recs:?}");
    assert_eq!(recs[0].action, "canvas-response");
    // The next record follows it without a gap.
    assert_eq!(
        log.append(&entry("r", Action::CanvasRequestAllowed, 2))
            .unwrap(),
        2
    );
    assert!(matches!(
        log.verify().unwrap(),
        Verdict::Intact { records: 2, .. }
    ));
}

#[test]
fn an_entry_without_an_action_is_refused_at_once() {
    let (_d, _db, log) = open();
    let e = AuditEntry {
        action: None,
        ..entry("r", Action::CanvasResponse, 1)
    };
    assert!(log.append_deferred(e.clone()).is_err());
    assert!(log.append(&e).is_err());
    assert!(all(&log).is_empty());
}

#[test]
fn a_busy_logs_write_ahead_log_is_still_copied_into_the_database() {
    let (_d, db, log) = open();
    let wal = db.with_extension("db-wal");
    let initial = std::fs::metadata(&db).unwrap().len();
    for i in 0..3000 {
        log.append(&entry("r", Action::CanvasRequestAllowed, i))
            .unwrap();
    }
    // The records are in the write-ahead log; a checkpoint (the log's own
    // thread, once busy) copies them into the database file.
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let copied = loop {
        let size = std::fs::metadata(&db).unwrap().len();
        if size > initial + 400_000 || std::time::Instant::now() > deadline {
            break size;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        copied > initial + 400_000,
        "the database file stayed at {copied} bytes (was {initial})"
    );
    drop(log);
    let log = AuditLog::open(&db, keys()).unwrap();
    assert!(matches!(
        log.verify().unwrap(),
        Verdict::Intact { records: 3000, .. }
    ));
}
