//! The keyed chain and its checkpoints: a rewrite with recomputed unkeyed
//! hashes, a cut and a rollback are caught; logs written before keys are
//! sealed once, if intact. The tests of the keyed chain and checkpoints
//! run on both stores (SQLite, and a private PostgreSQL); those of logs
//! written before keys, a file copied back and `vault rekey` are SQLite's.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)] // test code fails loudly

use std::path::{Path, PathBuf};
use std::sync::Arc;

use easel_store::{
    Action, AuditEntry, AuditFilter, AuditKeys, AuditLog, AuditOptions, AuditRecord, CHAIN_HMAC_V1,
    CHAIN_LEGACY, CheckpointPolicy, GENESIS, LegacySeal, Store, Verdict, WitnessVerdict,
    checkpoint,
};

fn keys() -> AuditKeys {
    AuditKeys::derive(&[42u8; 32]).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: PathBuf,
    /// On PostgreSQL: its cluster and the database's URL (`db` unused).
    pg: Option<(Arc<easel_pgtest::Cluster>, String)>,
    witness: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("easel.db");
        Store::open(&db).unwrap();
        let witness = dir.path().join("elsewhere").join("audit.witness");
        Self {
            _dir: dir,
            db,
            pg: None,
            witness,
        }
    }

    /// A fresh PostgreSQL database (and a witness file).
    fn postgres() -> Self {
        let cluster = easel_pgtest::Cluster::shared();
        let url = cluster.database();
        easel_store_pg::PgStore::connect(&url, 1).unwrap();
        Self {
            pg: Some((cluster, url)),
            ..Self::new()
        }
    }

    /// One fixture of each store.
    fn each() -> Vec<Self> {
        vec![Self::new(), Self::postgres()]
    }

    /// Another fresh fixture of the same store.
    fn fresh(&self) -> Self {
        match self.pg {
            Some(_) => Self::postgres(),
            None => Self::new(),
        }
    }

    fn name(&self) -> &'static str {
        if self.pg.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// The log, checkpointing every `every` records, witnessed.
    fn open(&self, every: u64) -> AuditLog {
        self.open_keys(keys(), every)
    }

    fn open_keys(&self, keys: AuditKeys, every: u64) -> AuditLog {
        self.open_options(
            keys,
            AuditOptions {
                witness: Some(self.witness.clone()),
                policy: CheckpointPolicy {
                    every_records: every,
                    ..CheckpointPolicy::default()
                },
                ..AuditOptions::default()
            },
        )
    }

    fn open_options(&self, keys: AuditKeys, options: AuditOptions) -> AuditLog {
        match &self.pg {
            Some((_, url)) => AuditLog::with_backend(
                Box::new(easel_store_pg::PgAudit::open(url).unwrap()),
                keys,
                options,
            )
            .unwrap(),
            None => AuditLog::open_with(&self.db, keys, options).unwrap(),
        }
    }

    /// Run `sql` as the database's owner, past the append-only triggers.
    fn sql(&self, sql: &str) {
        if let Some((cluster, url)) = &self.pg {
            cluster.psql(
                url,
                &format!(
                    "ALTER TABLE audit DISABLE TRIGGER USER;
                     ALTER TABLE audit_checkpoints DISABLE TRIGGER USER; {sql}"
                ),
            );
            return;
        }
        let c = rusqlite::Connection::open(&self.db).unwrap();
        c.execute_batch(
            "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;
             DROP TRIGGER IF EXISTS audit_checkpoints_no_update; DROP TRIGGER IF EXISTS audit_checkpoints_no_delete;",
        )
        .unwrap();
        c.execute_batch(sql).unwrap();
    }

    /// What someone with the file but not the key does after editing a
    /// record: recompute every hash from `from` on with the old unkeyed
    /// algorithm, relinking each record to the one before.
    fn rehash_unkeyed_from(&self, from: u64, chain: u8) {
        let log = self.open_options(
            AuditKeys::derive(&[0u8; 32]).unwrap(),
            AuditOptions::default(),
        );
        let recs = log.records(&AuditFilter::default(), None).unwrap();
        let mut sql = String::new();
        let mut prev = if from == 1 {
            GENESIS.to_owned()
        } else {
            recs[from as usize - 2].hash.clone()
        };
        for r in recs.into_iter().filter(|r| r.seq >= from) {
            let mut r = r;
            r.prev_hash = prev;
            r.hash = r.compute_hash();
            sql.push_str(&format!(
                "UPDATE audit SET prev_hash = '{}', hash = '{}', chain = {chain} WHERE seq = {};\n",
                r.prev_hash, r.hash, r.seq
            ));
            prev = r.hash;
        }
        self.sql(&sql);
    }
}

fn append(log: &AuditLog, n: u64) {
    for i in 0..n {
        log.append(&AuditEntry {
            school: Some(100 + i),
            method: Some("GET".into()),
            path: Some(format!("/api/v1/accounts/{i}")),
            status: Some(200),
            ..AuditEntry::new("run:r1", Action::CanvasResponse)
        })
        .unwrap();
    }
}

fn broken(log: &AuditLog) -> (u64, String) {
    match log.verify().unwrap() {
        Verdict::Broken { seq, reason } => (seq, reason),
        Verdict::Intact { .. } => panic!("tampering went unnoticed"),
    }
}

fn intact(log: &AuditLog) -> (u64, Option<u64>, u64) {
    match log.verify().unwrap() {
        Verdict::Intact {
            records,
            checkpoint,
            legacy,
            ..
        } => (records, checkpoint.map(|c| c.seq), legacy),
        Verdict::Broken { seq, reason } => panic!("broken at {seq}: {reason}"),
    }
}

fn witness_failure(log: &AuditLog, path: &Path) -> (usize, String) {
    match log.verify_witness(path).unwrap() {
        WitnessVerdict::Failed { line, reason, .. } => (line, reason),
        WitnessVerdict::Consistent { .. } => panic!("the witness saw nothing wrong"),
    }
}

#[test]
fn records_are_chained_with_a_mac_under_the_audit_key() {
    for f in Fixture::each() {
        let log = f.open(1000);
        append(&log, 3);
        let recs = log.records(&AuditFilter::default(), None).unwrap();
        for r in &recs {
            assert_eq!(r.chain, CHAIN_HMAC_V1);
            assert_eq!(r.hash, r.compute_mac(&keys()).unwrap());
            assert_ne!(r.hash, r.compute_hash(), "not the unkeyed hash");
        }
        assert_eq!(intact(&log), (3, None, 0));
        // The same records under another master key do not verify.
        let other = f.open_keys(AuditKeys::derive(&[43u8; 32]).unwrap(), 1000);
        assert_eq!(broken(&other).0, 1);
    }
}

#[test]
fn an_edit_with_every_later_unkeyed_hash_recomputed_is_caught() {
    for chain in [CHAIN_HMAC_V1, CHAIN_LEGACY] {
        for f in Fixture::each() {
            let log = f.open(1000);
            append(&log, 6);
            f.sql("UPDATE audit SET path = '/api/v1/accounts/999' WHERE seq = 3");
            f.rehash_unkeyed_from(3, chain);
            let (seq, reason) = broken(&log);
            assert_eq!(seq, 3, "chain {chain}: {reason}");
        }
    }
    // Relabelled as a log written before keys, with no checkpoint to
    // contradict it: it is not trusted.
    for f in Fixture::each() {
        let log = f.open(1000);
        append(&log, 4);
        f.sql("UPDATE audit SET path = '/api/v1/accounts/999' WHERE seq = 2");
        f.rehash_unkeyed_from(1, CHAIN_LEGACY);
        let (seq, reason) = broken(&log);
        assert_eq!(seq, 1, "{}", f.name());
        assert!(
            reason.contains("no signed checkpoint covers them"),
            "{reason}"
        );
    }
}

#[test]
fn checkpoints_are_signed_every_n_records_into_the_database_and_the_witness() {
    for f in Fixture::each() {
        let log = f.open(3);
        append(&log, 7);
        let cps = log.checkpoints().unwrap();
        assert_eq!(cps.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![3, 6]);
        let recs = log.records(&AuditFilter::default(), None).unwrap();
        for c in &cps {
            assert_eq!(c.head, recs[c.seq as usize - 1].hash);
            assert_eq!(c.reason, checkpoint::reason::COUNT);
            assert_eq!(c.key, keys().public_key());
        }
        let lines = checkpoint::witness_read(&f.witness).unwrap();
        let witnessed: Vec<_> = lines.into_iter().map(|(_, c)| c.unwrap()).collect();
        assert_eq!(witnessed, cps);
        // At the end of a run: the head; a second call adds nothing.
        let c = log
            .checkpoint(checkpoint::reason::RUN_END)
            .unwrap()
            .unwrap();
        assert_eq!(c.seq, 7);
        assert!(
            log.checkpoint(checkpoint::reason::RUN_END)
                .unwrap()
                .is_none()
        );
        assert_eq!(intact(&log), (7, Some(7), 0));
        assert!(matches!(
            log.verify_witness(&f.witness).unwrap(),
            WitnessVerdict::Consistent { checkpoints: 3, .. }
        ));
    }
}

#[test]
fn checkpoints_fall_due_by_time_too() {
    for f in Fixture::each() {
        let log = f.open_options(
            keys(),
            AuditOptions {
                witness: None,
                policy: CheckpointPolicy {
                    every_records: 1000,
                    every: std::time::Duration::ZERO,
                },
                ..AuditOptions::default()
            },
        );
        append(&log, 2);
        let cps = log.checkpoints().unwrap();
        assert_eq!(cps.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert!(cps.iter().all(|c| c.reason == checkpoint::reason::TIME));
    }
}

#[test]
fn a_forged_or_altered_checkpoint_fails_verify() {
    // Altered: the signature no longer covers it.
    for f in Fixture::each() {
        let log = f.open(2);
        append(&log, 4);
        f.sql("UPDATE audit_checkpoints SET at = '2020-01-01T00:00:00Z' WHERE seq = 2");
        let (seq, reason) = broken(&log);
        assert_eq!(seq, 2);
        assert!(reason.contains("signature does not verify"), "{reason}");
        // Signed by another key.
        let f = f.fresh();
        let log = f.open(1000);
        append(&log, 2);
        let other = f.open_keys(AuditKeys::derive(&[9u8; 32]).unwrap(), 1000);
        other.checkpoint(checkpoint::reason::MANUAL).unwrap();
        let (_, reason) = broken(&log);
        assert!(reason.contains("signed by another key"), "{reason}");
    }
}

#[test]
fn a_log_cut_before_its_last_checkpoint_fails_verify_and_after_it_is_mac_only() {
    for f in Fixture::each() {
        let log = f.open(4);
        append(&log, 6);
        assert_eq!(intact(&log), (6, Some(4), 0));
        // Records after the last checkpoint can be cut without the key: the
        // MAC alone cannot show it (docs/SECURITY.md says so).
        f.sql("DELETE FROM audit WHERE seq > 5");
        assert_eq!(intact(&log), (5, Some(4), 0));
        f.sql("DELETE FROM audit WHERE seq > 2");
        let (seq, reason) = broken(&log);
        assert_eq!(seq, 3);
        assert!(reason.contains("cut off"), "{reason}");
    }
}

#[test]
fn the_witness_catches_a_cut_with_its_checkpoints_deleted() {
    for f in Fixture::each() {
        let log = f.open(3);
        append(&log, 7);
        f.sql("DELETE FROM audit WHERE seq > 4; DELETE FROM audit_checkpoints WHERE seq > 4;");
        assert_eq!(intact(&log).0, 4, "the database alone cannot tell");
        let (line, reason) = witness_failure(&log, &f.witness);
        assert_eq!(line, 2, "the checkpoint of record 6");
        assert!(reason.contains("no longer holds record 6"), "{reason}");
    }
}

#[test]
fn the_witness_catches_a_rollback_to_an_earlier_copy_of_the_database() {
    let f = Fixture::new();
    let log = f.open(1000);
    append(&log, 3);
    log.checkpoint(checkpoint::reason::RUN_END).unwrap();
    drop(log);
    let copy = f.db.with_extension("copy");
    std::fs::copy(&f.db, &copy).unwrap();
    let log = f.open(1000);
    append(&log, 3);
    log.checkpoint(checkpoint::reason::RUN_END).unwrap();
    drop(log);
    std::fs::copy(&copy, &f.db).unwrap();
    let log = f.open(1000);
    assert_eq!(intact(&log), (3, Some(3), 0), "the copy verifies alone");
    let (line, reason) = witness_failure(&log, &f.witness);
    assert_eq!(line, 2);
    assert!(reason.contains("no longer holds record 6"), "{reason}");
    // Rolled back, then written on: the record exists, but is not the one
    // signed.
    append(&log, 3);
    let (line, reason) = witness_failure(&log, &f.witness);
    assert_eq!(line, 2);
    assert!(
        reason.contains("not the one this checkpoint signed"),
        "{reason}"
    );
}

#[test]
fn an_altered_or_foreign_witness_line_fails() {
    for f in Fixture::each() {
        let log = f.open(2);
        append(&log, 2);
        let text = std::fs::read_to_string(&f.witness).unwrap();
        let altered = text.replace("\"seq\":2", "\"seq\":1");
        assert_ne!(altered, text);
        std::fs::write(&f.witness, &altered).unwrap();
        let (_, reason) = witness_failure(&log, &f.witness);
        assert!(reason.contains("signature does not verify"), "{reason}");
        std::fs::write(&f.witness, "not json\n").unwrap();
        let (_, reason) = witness_failure(&log, &f.witness);
        assert!(reason.contains("not a checkpoint"), "{reason}");
    }
}

/// A database as easel wrote it before keys: unkeyed SHA-256 chain.
fn legacy_log(db: &Path, n: u64) {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut prev = GENESIS.to_owned();
    for seq in 1..=n {
        let mut r = AuditRecord {
            seq,
            at: format!("2026-01-01T00:00:{seq:02}Z"),
            actor: "admin:alice".into(),
            action: "plugin-approved".into(),
            instance: None,
            school: Some(seq),
            plugin: Some("p".into()),
            digest: None,
            run: None,
            method: None,
            path: None,
            status: None,
            cost: None,
            token: None,
            detail: None,
            prev_hash: prev,
            hash: String::new(),
            chain: CHAIN_LEGACY,
        };
        r.hash = r.compute_hash();
        c.execute(
            "INSERT INTO audit (seq, at, actor, action, school, plugin, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rusqlite::params![
                seq as i64,
                r.at,
                r.actor,
                r.action,
                seq as i64,
                r.plugin,
                r.prev_hash,
                r.hash
            ],
        )
        .unwrap();
        prev = r.hash;
    }
}

#[test]
fn an_intact_log_written_before_keys_is_sealed_once_and_chained_on() {
    let f = Fixture::new();
    legacy_log(&f.db, 4);
    let log = f.open(1000);
    assert_eq!(log.legacy_seal(), Some(&LegacySeal::Sealed { records: 4 }));
    let cps = log.checkpoints().unwrap();
    assert_eq!(cps.len(), 1);
    assert_eq!((cps[0].seq, cps[0].reason.as_str()), (4, "seal-legacy"));
    let legacy_head = log.last(1).unwrap()[0].hash.clone();
    assert_eq!(cps[0].head, legacy_head);
    assert_eq!(intact(&log), (4, Some(4), 4));
    append(&log, 2);
    let recs = log.records(&AuditFilter::default(), None).unwrap();
    assert_eq!(recs[4].prev_hash, legacy_head, "keyed records follow on");
    assert_eq!(recs[4].chain, CHAIN_HMAC_V1);
    assert_eq!(intact(&log), (6, Some(4), 4));
    drop(log);
    let log = f.open(1000);
    assert_eq!(log.legacy_seal(), None, "sealed once");
    assert_eq!(log.checkpoints().unwrap().len(), 1);
    // A sealed old record rewritten with its unkeyed hashes recomputed.
    f.sql("UPDATE audit SET actor = 'admin:mallory' WHERE seq = 2");
    f.rehash_unkeyed_from(2, CHAIN_LEGACY);
    let (seq, reason) = broken(&log);
    assert_eq!(seq, 4, "{reason}");
    assert!(reason.contains("signed checkpoint"), "{reason}");
}

#[test]
fn a_sealed_legacy_log_with_no_keyed_records_yet_is_still_protected() {
    let f = Fixture::new();
    legacy_log(&f.db, 3);
    let log = f.open(1000);
    assert!(matches!(log.legacy_seal(), Some(LegacySeal::Sealed { .. })));
    f.sql("UPDATE audit SET actor = 'admin:mallory' WHERE seq = 1");
    f.rehash_unkeyed_from(1, CHAIN_LEGACY);
    let (seq, reason) = broken(&log);
    assert_eq!(seq, 3, "{reason}");
    assert!(reason.contains("checkpoint"), "{reason}");
}

#[test]
fn a_broken_log_written_before_keys_is_not_sealed_and_verify_names_the_record() {
    let f = Fixture::new();
    legacy_log(&f.db, 4);
    f.sql("UPDATE audit SET actor = 'admin:mallory' WHERE seq = 3");
    let log = f.open(1000);
    assert!(
        matches!(log.legacy_seal(), Some(LegacySeal::Broken { seq: 3, .. })),
        "{:?}",
        log.legacy_seal()
    );
    assert!(log.checkpoints().unwrap().is_empty(), "not sealed");
    assert!(!f.witness.exists() || std::fs::read_to_string(&f.witness).unwrap().is_empty());
    assert_eq!(broken(&log).0, 3);
    append(&log, 1);
    assert_eq!(broken(&log).0, 3, "still reported after new records");
}

#[test]
fn an_unkeyed_log_is_not_sealed_when_the_witness_already_holds_checkpoints() {
    // Keyed records were witnessed; someone relabels the log as written
    // before keys, deletes the checkpoints and recomputes unkeyed hashes.
    let f = Fixture::new();
    let log = f.open(2);
    append(&log, 4);
    drop(log);
    f.sql("UPDATE audit SET actor = 'admin:mallory' WHERE seq = 1; DELETE FROM audit_checkpoints;");
    f.rehash_unkeyed_from(1, CHAIN_LEGACY);
    let log = f.open(1000);
    assert!(
        matches!(log.legacy_seal(), Some(LegacySeal::Refused { .. })),
        "{:?}",
        log.legacy_seal()
    );
    assert!(log.checkpoints().unwrap().is_empty());
    assert_eq!(broken(&log).0, 1);
    assert!(matches!(
        log.verify_witness(&f.witness).unwrap(),
        WitnessVerdict::Failed { line: 1, .. }
    ));
}

#[test]
fn rekeying_re_macs_the_chain_and_re_signs_its_checkpoints_after_verifying_it() {
    let f = Fixture::new();
    legacy_log(&f.db, 2);
    let log = f.open(3);
    append(&log, 5);
    drop(log);
    let next = AuditKeys::derive(&[77u8; 32]).unwrap();
    let n = easel_store::rekey_log(&f.db, keys(), &next)
        .unwrap()
        .unwrap();
    assert_eq!(n, 5, "the keyed records; the sealed unkeyed ones stay");
    let new_log = f.open_keys(AuditKeys::derive(&[77u8; 32]).unwrap(), 1000);
    assert_eq!(
        intact(&new_log),
        (7, Some(5), 2),
        "sealed at 2, then every 3"
    );
    assert!(
        new_log
            .checkpoints()
            .unwrap()
            .iter()
            .all(|c| c.key == next.public_key())
    );
    let (_, reason) = broken(&f.open(1000));
    assert!(
        reason.contains("another key"),
        "the old key no longer verifies: {reason}"
    );
    // The triggers are back.
    let c = rusqlite::Connection::open(&f.db).unwrap();
    assert!(
        c.execute("UPDATE audit SET actor = 'x' WHERE seq = 1", [])
            .is_err()
    );
    assert!(
        c.execute("UPDATE audit_checkpoints SET seq = 1", [])
            .is_err()
    );
    // A broken log is not re-MACed.
    f.sql("UPDATE audit SET actor = 'admin:mallory' WHERE seq = 4");
    let refused =
        easel_store::rekey_log(&f.db, AuditKeys::derive(&[77u8; 32]).unwrap(), &keys()).unwrap();
    assert!(
        matches!(refused, Err(Verdict::Broken { seq: 4, .. })),
        "{refused:?}"
    );
}
