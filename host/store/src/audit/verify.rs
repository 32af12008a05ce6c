//! Verifying the audit log: every record's MAC and link, every checkpoint's
//! signature and head, a witness file against the log, and the one-time
//! sealing of records written before keys.
//!
//! Threat: a rewritten, cut or rolled-back log that still looks
//! consistent. The verdicts say what was proved; the CLI prints what was
//! not (records after the last checkpoint are protected by the MAC only,
//! and only a witness kept elsewhere shows a rollback).

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, params};

use super::backend::AuditBackend;
use super::checkpoint::{self, Checkpoint, reason};
use super::keys::{AuditKeys, SignatureCheck};
use super::{
    Action, AuditLog, AuditRecord, CHAIN_HMAC_V1, CHAIN_LEGACY, COLUMNS, GENESIS, LegacySeal,
    record,
};
use crate::Result;

/// What `verify` found in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every record and every checkpoint checks out.
    Intact {
        /// Records checked.
        records: u64,
        /// The last record's MAC.
        head: String,
        /// The newest checkpoint (its signature is ours and it matches the
        /// chain); records after it are protected by the MAC only.
        checkpoint: Option<Checkpoint>,
        /// Checkpoints checked.
        checkpoints: u64,
        /// Records written before keys (unkeyed chain), covered by a signed
        /// checkpoint or by the keyed record after them.
        legacy: u64,
        /// The last `vault-reset` record, when the master key was lost and
        /// replaced: the records before it were keyed by the lost key, and
        /// only their order and links were checked, not their contents.
        reset: Option<u64>,
    },
    /// The chain breaks at `seq`.
    Broken {
        /// The first bad record.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// What `verify_witness` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessVerdict {
    /// Every checkpoint in the witness file is ours and the log still holds
    /// each one's record with that MAC.
    Consistent {
        /// Checkpoints checked.
        checkpoints: u64,
        /// The newest.
        last: Option<Checkpoint>,
    },
    /// A line of the witness file does not hold.
    Failed {
        /// Its line number (from 1).
        line: usize,
        /// The checkpoint on it, if it parsed.
        checkpoint: Option<Checkpoint>,
        /// What is wrong.
        reason: String,
    },
}

/// Why `rec`, expected at `seq` after `prev`, is out of place (all that
/// can be checked of a record keyed by a lost key).
fn order_problem(rec: &AuditRecord, seq: u64, prev: &str) -> Option<String> {
    if rec.seq != seq {
        return Some(if rec.seq > seq {
            format!("record {seq} is missing (the next record is {})", rec.seq)
        } else {
            format!("record {} appears out of order", rec.seq)
        });
    }
    (rec.prev_hash != prev)
        .then(|| "it does not follow the previous record (deleted, inserted or reordered)".into())
}

/// Why `rec`, expected at `seq` after `prev`, is bad (old and new chains).
fn link_problem(rec: &AuditRecord, seq: u64, prev: &str, keys: &AuditKeys) -> Option<String> {
    if rec.seq != seq {
        return Some(if rec.seq > seq {
            format!("record {seq} is missing (the next record is {})", rec.seq)
        } else {
            format!("record {} appears out of order", rec.seq)
        });
    }
    if rec.prev_hash != prev {
        return Some(
            "it does not follow the previous record (deleted, inserted or reordered)".into(),
        );
    }
    if !matches!(rec.chain, CHAIN_LEGACY | CHAIN_HMAC_V1) {
        return Some(format!("unknown chain version {}", rec.chain));
    }
    if !rec.hash_matches(keys) {
        return Some(if rec.chain == CHAIN_LEGACY {
            "its contents were changed after it was written (unkeyed hash)".into()
        } else {
            "its MAC does not match: its contents were changed after it was written, or it was written without the key".into()
        });
    }
    if Action::parse(&rec.action).is_none() {
        return Some(format!("unknown action {:?}", rec.action));
    }
    None
}

fn signature_problem(keys: &AuditKeys, c: &Checkpoint) -> Option<String> {
    match keys.signature_matches(&c.key, &c.message(), &c.sig) {
        SignatureCheck::Good => None,
        SignatureCheck::OtherKey => Some(format!(
            "it is signed by another key ({}; this master key's is {}): a different master key, or a forged checkpoint",
            c.key,
            keys.public_key()
        )),
        SignatureCheck::Bad => {
            Some("its signature does not verify: it was altered or forged".into())
        }
    }
}

/// The sequence of the newest `vault-reset` record whose MAC holds under
/// `keys` (one written by whoever held this master key), if any.
fn reset_boundary(db: &mut dyn AuditBackend, keys: &AuditKeys) -> Result<Option<u64>> {
    let mut found = None;
    db.scan_action_newest(Action::VaultReset.as_str(), &mut |rec| {
        if rec.chain == CHAIN_HMAC_V1 && rec.hash_matches(keys) {
            found = Some(rec.seq);
            return Ok(false);
        }
        Ok(true)
    })?;
    Ok(found)
}

impl AuditLog {
    /// Check the whole chain in storage order (rowid): every record's link
    /// and MAC (or, for records written before keys, the old unkeyed hash,
    /// which must be covered by a keyed record or a signed checkpoint), and
    /// every checkpoint in the database: its signature and that the chain
    /// holds its head at its record. A log that ends before its newest
    /// checkpoint is broken. Names the first bad record.
    pub fn verify(&self) -> Result<Verdict> {
        let mut inner = self.lock();
        let db = inner.db.as_mut();
        // Before a reset, records were keyed (and checkpoints signed) by a
        // key no one holds now: only their order and links are checked.
        let reset = reset_boundary(db, &self.keys)?;
        let before_reset = |seq: u64| reset.is_some_and(|r| seq < r);
        let mut by_seq: BTreeMap<u64, Vec<(i64, Checkpoint)>> = BTreeMap::new();
        for (id, c) in db.checkpoints()? {
            if before_reset(c.seq) {
                continue;
            }
            if let Some(problem) = signature_problem(&self.keys, &c) {
                return Ok(Verdict::Broken {
                    seq: c.seq,
                    reason: format!("checkpoint #{id} of {}: {problem}", c.describe()),
                });
            }
            by_seq.entry(c.seq).or_default().push((id, c));
        }
        let checkpoints = by_seq.values().map(|v| v.len() as u64).sum();
        let newest = by_seq
            .values()
            .flatten()
            .max_by_key(|(id, _)| *id)
            .map(|(_, c)| c.clone());

        let mut seq = 1u64;
        let mut prev = GENESIS.to_owned();
        let mut legacy = 0u64;
        let mut keyed = false;
        let mut verdict = None;
        db.scan(&mut |rec| {
            let mut broken = |reason: String| {
                verdict = Some(Verdict::Broken { seq, reason });
                Ok(false)
            };
            if before_reset(seq) {
                if let Some(problem) = order_problem(&rec, seq, &prev) {
                    return broken(problem);
                }
                prev = rec.hash;
                seq += 1;
                return Ok(true);
            }
            if let Some(problem) = link_problem(&rec, seq, &prev, &self.keys) {
                return broken(problem);
            }
            match rec.chain {
                CHAIN_LEGACY if keyed => {
                    return broken(
                        "an unkeyed record after keyed ones: it was written without the key".into(),
                    );
                }
                CHAIN_LEGACY => legacy = seq,
                _ => keyed = true,
            }
            for (id, c) in by_seq.get(&seq).into_iter().flatten() {
                if c.head != rec.hash {
                    return broken(format!(
                        "it does not match signed checkpoint #{id} of {}: the log was rewritten",
                        c.describe()
                    ));
                }
            }
            prev = rec.hash;
            seq += 1;
            Ok(true)
        })?;
        if let Some(v) = verdict {
            return Ok(v);
        }
        let records = seq - 1;
        if let Some((id, c)) = by_seq
            .range(records + 1..)
            .next()
            .and_then(|(_, v)| v.first())
        {
            return Ok(Verdict::Broken {
                seq: records + 1,
                reason: format!(
                    "the log ends at record {records} but signed checkpoint #{id} covers {}: records were cut off or the database was rolled back",
                    c.describe()
                ),
            });
        }
        let sealed = by_seq.range(legacy.max(1)..).next().is_some();
        if legacy > 0 && !keyed && !sealed && reset.is_none() {
            return Ok(Verdict::Broken {
                seq: 1,
                reason: format!(
                    "records 1 to {legacy} use the old unkeyed chain and no signed checkpoint covers them: anyone who can write the database could have written them"
                ),
            });
        }
        Ok(Verdict::Intact {
            records,
            head: prev,
            checkpoint: newest,
            checkpoints,
            legacy,
            reset,
        })
    }

    /// Check every checkpoint in the witness file at `path`: its signature
    /// is ours, and the log still holds its record with its MAC. Catches a
    /// log cut short or rolled back to before a witnessed checkpoint, and a
    /// rewrite, provided the witness file itself was kept where the
    /// database's holders cannot rewrite it. Run [`AuditLog::verify`] too:
    /// this does not check the records between checkpoints.
    pub fn verify_witness(&self, path: &Path) -> Result<WitnessVerdict> {
        let lines = checkpoint::witness_read(path)?;
        let mut inner = self.lock();
        let db = inner.db.as_mut();
        let reset = reset_boundary(db, &self.keys)?;
        let ends = db.end()?;
        let mut checked = 0u64;
        let mut last = None;
        for (line, parsed) in lines {
            let c = match parsed {
                Ok(c) => c,
                Err(e) => {
                    return Ok(WitnessVerdict::Failed {
                        line,
                        checkpoint: None,
                        reason: format!("it is not a checkpoint: {e}"),
                    });
                }
            };
            let fail = |reason: String| {
                Ok(WitnessVerdict::Failed {
                    line,
                    checkpoint: Some(c.clone()),
                    reason,
                })
            };
            // One signed by the lost key before a reset cannot be checked;
            // the log must still hold the record it names.
            let before_reset = reset.is_some_and(|r| c.seq < r);
            if !before_reset && let Some(problem) = signature_problem(&self.keys, &c) {
                return fail(problem);
            }
            let held = db.hash_at(c.seq)?;
            match held {
                None => {
                    return fail(format!(
                        "the log no longer holds record {} (it ends at record {ends}): it was cut short or rolled back to an earlier copy",
                        c.seq
                    ));
                }
                Some(h) if h != c.head => {
                    return fail(format!(
                        "record {} is not the one this checkpoint signed: the log was rewritten or rolled back to an earlier copy",
                        c.seq
                    ));
                }
                Some(_) => {}
            }
            checked += 1;
            last = Some(c);
        }
        Ok(WitnessVerdict::Consistent {
            checkpoints: checked,
            last,
        })
    }

    /// On opening: if the log holds only records written before keys and no
    /// checkpoint seals them, verify them with the old algorithm and seal
    /// them under a first signed checkpoint (new records are MAC-chained
    /// after it). A broken old chain is not sealed. Nor is a log whose
    /// witness file already holds checkpoints: an unkeyed log where keyed
    /// records were once witnessed has been rewritten.
    pub(super) fn seal_legacy(&self) -> Result<Option<LegacySeal>> {
        let mut inner = self.lock();
        let (first, sealed_or_keyed) = inner.db.legacy_state(reason::SEAL_LEGACY, CHAIN_LEGACY)?;
        if first != Some(CHAIN_LEGACY) {
            return Ok(None);
        }
        if sealed_or_keyed {
            return Ok(None);
        }
        if let Some(w) = self.witness()
            && checkpoint::witness_has_lines(w)
        {
            let reason = format!(
                "the audit log holds only unkeyed records, but the witness file {} already holds checkpoints: the log was rewritten (or the witness belongs to another database)",
                w.display()
            );
            tracing::warn!("{reason}");
            return Ok(Some(LegacySeal::Refused { reason }));
        }
        let outcome = match check_legacy(inner.db.as_mut(), &self.keys)? {
            Err((seq, reason)) => {
                tracing::warn!(seq, %reason, "the audit log's unkeyed chain is broken; not sealed");
                LegacySeal::Broken { seq, reason }
            }
            Ok(records) => {
                self.checkpoint_locked(&mut inner, reason::SEAL_LEGACY)?;
                LegacySeal::Sealed { records }
            }
        };
        Ok(Some(outcome))
    }
}

/// Verify a log of unkeyed records with the old algorithm: `Ok(records)`
/// or the first bad record and why.
fn check_legacy(db: &mut dyn AuditBackend, keys: &AuditKeys) -> Result<Result<u64, (u64, String)>> {
    let mut seq = 1u64;
    let mut prev = GENESIS.to_owned();
    let mut bad = None;
    db.scan(&mut |rec| {
        if let Some(problem) = link_problem(&rec, seq, &prev, keys) {
            bad = Some((seq, problem));
            return Ok(false);
        }
        prev = rec.hash;
        seq += 1;
        Ok(true)
    })?;
    Ok(match bad {
        Some(b) => Err(b),
        None => Ok(seq - 1),
    })
}

/// Re-MAC the keyed records and re-sign the checkpoints of the log in the
/// database at `path` under `next`, after verifying it under `current`
/// (`vault rekey`). Records written before keys keep their unkeyed hashes.
/// Returns the records re-MACed, or the verdict that refused the rekey
/// (nothing changed). One transaction: the append-only triggers are dropped
/// and recreated inside it.
pub fn rekey_log(
    path: &Path,
    current: AuditKeys,
    next: &AuditKeys,
) -> Result<std::result::Result<u64, Verdict>> {
    let log = AuditLog::open(path, current)?;
    let verdict = log.verify()?;
    if !matches!(verdict, Verdict::Intact { .. }) {
        return Ok(Err(verdict));
    }
    drop(log);
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_checkpoints_no_update;",
    )?;
    let mut heads = BTreeMap::new();
    let mut n = 0u64;
    {
        let mut stmt = tx.prepare(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq"))?;
        let recs = stmt
            .query_map([], record)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut update = tx.prepare("UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE seq = ?3")?;
        let mut prev = GENESIS.to_owned();
        for mut r in recs {
            if r.chain == CHAIN_HMAC_V1 {
                r.prev_hash = prev;
                r.hash = r.compute_mac(next)?;
                update.execute(params![r.prev_hash, r.hash, r.seq as i64])?;
                n += 1;
            }
            heads.insert(r.seq, r.hash.clone());
            prev = r.hash;
        }
    }
    for (id, c) in checkpoint::all(&tx)? {
        let head = heads.get(&c.seq).cloned().unwrap_or(c.head);
        let signed = Checkpoint {
            head,
            key: next.public_key(),
            sig: String::new(),
            ..c
        };
        let sig = next.sign(&signed.message());
        tx.execute(
            "UPDATE audit_checkpoints SET head = ?1, public_key = ?2, signature = ?3 WHERE id = ?4",
            params![signed.head, signed.key, sig, id],
        )?;
    }
    tx.execute_batch(crate::schema::AUDIT_NO_UPDATE_TRIGGERS)?;
    tx.commit()?;
    Ok(Ok(n))
}
