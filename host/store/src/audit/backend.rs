//! Where the audit log keeps its records: the operations the log needs of
//! a database, so that one [`super::AuditLog`] (its group commits, MACs,
//! checkpoints and verification) runs over SQLite on one host or over
//! PostgreSQL shared by many (`easel-store-pg`).
//!
//! The one rule every backend keeps: [`AuditBackend::append`] reads the
//! chain's head and inserts after it inside one transaction that no other
//! appender (in this process or another) can interleave with, so the
//! sequence has no gaps and every record links to the one before.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::checkpoint::{self, Checkpoint};
use super::{AuditFilter, AuditRecord, COLUMNS, GENESIS, INSERT, record};
use crate::Result;

/// Makes the records of one append from the chain's head (its sequence
/// number and MAC; 0 and [`GENESIS`] when empty).
pub type BuildRecords<'a> = dyn FnMut(u64, &str) -> Result<Vec<AuditRecord>> + 'a;

/// Decides, from the head and the newest checkpoint, whether to write a
/// checkpoint: the one to write, or `None`.
pub type DecideCheckpoint<'a> =
    dyn FnMut(u64, &str, Option<&Checkpoint>) -> Option<Checkpoint> + 'a;

/// Storage of the audit log's records and checkpoints.
pub trait AuditBackend: Send {
    /// In one transaction that excludes every other appender: read the
    /// head, insert what `build` makes of it, commit. Their sequence
    /// numbers. On error nothing is inserted.
    fn append(&mut self, build: &mut BuildRecords<'_>) -> Result<Vec<u64>>;

    /// In one transaction: read the head (none: an empty log, nothing to
    /// sign) and the newest checkpoint, and insert what `decide` returns.
    fn checkpoint_head(&mut self, decide: &mut DecideCheckpoint<'_>) -> Result<Option<Checkpoint>>;

    /// The newest checkpoint.
    fn latest_checkpoint(&mut self) -> Result<Option<Checkpoint>>;

    /// Every checkpoint, oldest first, with its row id.
    fn checkpoints(&mut self) -> Result<Vec<(i64, Checkpoint)>>;

    /// Records matching `filter`, oldest first, at most `limit`.
    fn records(&mut self, filter: &AuditFilter, limit: Option<usize>) -> Result<Vec<AuditRecord>>;

    /// The last `n` records, oldest first.
    fn last(&mut self, n: usize) -> Result<Vec<AuditRecord>>;

    /// Every record in storage order, until `visit` returns false.
    fn scan(&mut self, visit: &mut dyn FnMut(AuditRecord) -> Result<bool>) -> Result<()>;

    /// Records with `action`, newest first, until `visit` returns false.
    fn scan_action_newest(
        &mut self,
        action: &str,
        visit: &mut dyn FnMut(AuditRecord) -> Result<bool>,
    ) -> Result<()>;

    /// The MAC of record `seq`, if the log holds it.
    fn hash_at(&mut self, seq: u64) -> Result<Option<String>>;

    /// The highest sequence number (0: empty).
    fn end(&mut self) -> Result<u64>;

    /// The first record's `chain`, and whether any checkpoint has
    /// `reason` or any record a chain other than `chain` (for sealing
    /// records written before keys).
    fn legacy_state(&mut self, reason: &str, chain: u8) -> Result<(Option<u8>, bool)>;
}

/// The audit log in a SQLite database file.
pub struct SqliteAudit {
    conn: Connection,
    path: PathBuf,
    commits: u64,
    /// The thread that copies the write-ahead log into the database, once
    /// this log has committed [`CHECKPOINTER_AFTER`] transactions; it
    /// stops when the sender is dropped.
    checkpointer: Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

/// Transactions after which a busy log moves WAL checkpoints to a thread of
/// its own (a short-lived log, such as one command's, never starts one).
const CHECKPOINTER_AFTER: u64 = 64;

/// How often the checkpointer copies the write-ahead log into the database.
const CHECKPOINT_WAL_EVERY: Duration = Duration::from_millis(200);

impl Drop for SqliteAudit {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.checkpointer.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

impl SqliteAudit {
    /// The audit tables of the database at `path` (open the
    /// [`crate::Store`] first: it creates them).
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // In WAL mode NORMAL commits reach the log file before returning but
        // are fsynced at checkpoints, not per record: a record survives the
        // process dying (the call is never made without it), and the last
        // records before a power loss may be lost. FULL would fsync each of
        // the two records per Canvas call (docs/PERFORMANCE.md).
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            commits: 0,
            checkpointer: None,
        })
    }

    /// The inserts of [`AuditBackend::append`], inside its transaction.
    fn insert_in(&self, build: &mut BuildRecords<'_>) -> Result<Vec<u64>> {
        let tx = &self.conn;
        let last: Option<(i64, String)> = tx
            .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (seq, prev) = match &last {
            Some((s, h)) => (*s as u64, h.as_str()),
            None => (0, GENESIS),
        };
        let recs = build(seq, prev)?;
        let mut insert = tx.prepare_cached(INSERT)?;
        for rec in &recs {
            insert.execute(params![
                rec.seq as i64,
                rec.at,
                rec.actor,
                rec.action,
                rec.instance,
                rec.school.map(|s| s as i64),
                rec.plugin,
                rec.digest,
                rec.run,
                rec.method,
                rec.path,
                rec.status.map(i64::from),
                rec.cost,
                rec.token,
                rec.detail,
                rec.prev_hash,
                rec.hash,
                i64::from(rec.chain),
            ])?;
        }
        Ok(recs.iter().map(|r| r.seq).collect())
    }

    /// Copy the write-ahead log into the database from a thread of its own,
    /// so that no commit (and no Canvas call waiting on one) pays for the
    /// copy and its fsync: SQLite otherwise checkpoints inside the commit
    /// that takes the log past 1000 pages. A passive checkpoint never
    /// blocks writers. If the thread cannot start, commits keep
    /// checkpointing themselves.
    fn start_checkpointer(&mut self) {
        let Ok(own) = Connection::open(&self.path) else {
            return;
        };
        let _ = own.busy_timeout(Duration::from_millis(100));
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("easel-audit-wal".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_WAL_EVERY)
                {
                    let _ = own.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            });
        if let Ok(thread) = thread
            && self
                .conn
                .pragma_update(None, "wal_autocheckpoint", 0)
                .is_ok()
        {
            self.checkpointer = Some((stop, thread));
        }
    }

    fn scan_sql(
        &self,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
        visit: &mut dyn FnMut(AuditRecord) -> Result<bool>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(sql)?;
        let mut rows = stmt.query(args)?;
        while let Some(row) = rows.next()? {
            if !visit(record(row)?)? {
                break;
            }
        }
        Ok(())
    }
}

impl AuditBackend for SqliteAudit {
    fn append(&mut self, build: &mut BuildRecords<'_>) -> Result<Vec<u64>> {
        // BEGIN and COMMIT as cached statements: parsing them anew was a
        // tenth of an append.
        self.conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        let inserted = self.insert_in(build);
        let committed = inserted.and_then(|seqs| {
            self.conn.prepare_cached("COMMIT")?.execute([])?;
            Ok(seqs)
        });
        if committed.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        let seqs = committed?;
        self.commits += 1;
        if self.commits == CHECKPOINTER_AFTER {
            self.start_checkpointer();
        }
        Ok(seqs)
    }

    fn checkpoint_head(&mut self, decide: &mut DecideCheckpoint<'_>) -> Result<Option<Checkpoint>> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let head: Option<(i64, String)> = tx
            .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((seq, head)) = head else {
            return Ok(None);
        };
        let latest = checkpoint::latest(&tx)?;
        let Some(c) = decide(seq as u64, &head, latest.as_ref()) else {
            return Ok(None);
        };
        checkpoint::insert(&tx, &c)?;
        tx.commit()?;
        Ok(Some(c))
    }

    fn latest_checkpoint(&mut self) -> Result<Option<Checkpoint>> {
        checkpoint::latest(&self.conn)
    }

    fn checkpoints(&mut self) -> Result<Vec<(i64, Checkpoint)>> {
        checkpoint::all(&self.conn)
    }

    fn records(&mut self, filter: &AuditFilter, limit: Option<usize>) -> Result<Vec<AuditRecord>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM audit
             WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR plugin = ?2)
               AND (?3 IS NULL OR school = ?3) AND (?4 IS NULL OR seq > ?4)
               AND (?6 IS NULL OR at < ?6) AND (?7 IS NULL OR run = ?7)
               AND (?8 IS NULL OR instr(actor, ?8) > 0) AND (?9 IS NULL OR action = ?9)
             ORDER BY seq LIMIT ?5"
        ))?;
        let limit = limit.map_or(-1, |l| l as i64);
        let rows = stmt
            .query_map(
                params![
                    filter.since,
                    filter.plugin,
                    filter.school.map(|s| s as i64),
                    filter.after_seq.map(|s| s as i64),
                    limit,
                    filter.until,
                    filter.run,
                    filter.actor,
                    filter.action
                ],
                record,
            )?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn last(&mut self, n: usize) -> Result<Vec<AuditRecord>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM (SELECT {COLUMNS} FROM audit ORDER BY seq DESC LIMIT ?1) ORDER BY seq"
        ))?;
        let rows = stmt
            .query_map(params![n as i64], record)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn scan(&mut self, visit: &mut dyn FnMut(AuditRecord) -> Result<bool>) -> Result<()> {
        // Storage order (rowid), not `seq`: a row slipped in with a chosen
        // sequence number shows up where it was put.
        self.scan_sql(
            &format!("SELECT {COLUMNS} FROM audit ORDER BY rowid"),
            &[],
            visit,
        )
    }

    fn scan_action_newest(
        &mut self,
        action: &str,
        visit: &mut dyn FnMut(AuditRecord) -> Result<bool>,
    ) -> Result<()> {
        self.scan_sql(
            &format!("SELECT {COLUMNS} FROM audit WHERE action = ?1 ORDER BY seq DESC"),
            &[&action],
            visit,
        )
    }

    fn hash_at(&mut self, seq: u64) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT hash FROM audit WHERE seq = ?1")?
            .query_row(params![seq as i64], |r| r.get(0))
            .optional()?)
    }

    fn end(&mut self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    fn legacy_state(&mut self, reason: &str, chain: u8) -> Result<(Option<u8>, bool)> {
        let first: Option<i64> = self
            .conn
            .query_row("SELECT chain FROM audit ORDER BY seq LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        let sealed_or_keyed: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM audit_checkpoints WHERE reason = ?1)
                 OR EXISTS (SELECT 1 FROM audit WHERE chain != ?2)",
            params![reason, i64::from(chain)],
            |r| r.get(0),
        )?;
        Ok((first.map(|c| c.clamp(0, 255) as u8), sealed_or_keyed))
    }
}
