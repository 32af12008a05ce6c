//! The audit log: append-only, hash-chained records in SQLite.
//!
//! Threat: someone with the database file rewriting history (hiding a call,
//! an approval, a revocation). Each record's hash covers its fields and the
//! previous record's hash, and sequence numbers have no gaps, so editing,
//! deleting or reordering a row breaks the chain at that row and
//! [`AuditLog::verify`] names it. (Cutting records off the end leaves a
//! consistent shorter chain: compare the head `verify` prints with a copy
//! kept elsewhere.) Tokens appear only as keyed fingerprints.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Result, StoreError, now};

/// What happened: a fixed vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// A token was sealed into the vault.
    TokenAdded,
    /// A token's secret was replaced.
    TokenRotated,
    /// A token was removed.
    TokenRemoved,
    /// A plugin version was submitted for approval.
    PluginSubmitted,
    /// A plugin version was approved (a grant).
    PluginApproved,
    /// A plugin's approval was revoked.
    PluginRevoked,
    /// A component's bytes no longer matched its approval; it was not run.
    HashMismatch,
    /// A run started.
    RunStarted,
    /// A run finished successfully.
    RunFinished,
    /// A run failed, timed out, was refused or hit a limit.
    RunFailed,
    /// The policy allowed a Canvas request (recorded before it is sent).
    CanvasRequestAllowed,
    /// The policy denied a Canvas request.
    CanvasRequestDenied,
    /// Canvas answered an allowed request.
    CanvasResponse,
    /// An institution-wide setting changed (e.g. write-approvers).
    SettingChanged,
}

const ACTIONS: &[Action] = &[
    Action::TokenAdded,
    Action::TokenRotated,
    Action::TokenRemoved,
    Action::PluginSubmitted,
    Action::PluginApproved,
    Action::PluginRevoked,
    Action::HashMismatch,
    Action::RunStarted,
    Action::RunFinished,
    Action::RunFailed,
    Action::CanvasRequestAllowed,
    Action::CanvasRequestDenied,
    Action::CanvasResponse,
    Action::SettingChanged,
];

impl Action {
    /// The name stored and shown, e.g. `canvas-request-denied`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::TokenAdded => "token-added",
            Action::TokenRotated => "token-rotated",
            Action::TokenRemoved => "token-removed",
            Action::PluginSubmitted => "plugin-submitted",
            Action::PluginApproved => "plugin-approved",
            Action::PluginRevoked => "plugin-revoked",
            Action::HashMismatch => "hash-mismatch",
            Action::RunStarted => "run-started",
            Action::RunFinished => "run-finished",
            Action::RunFailed => "run-failed",
            Action::CanvasRequestAllowed => "canvas-request-allowed",
            Action::CanvasRequestDenied => "canvas-request-denied",
            Action::CanvasResponse => "canvas-response",
            Action::SettingChanged => "setting-changed",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        ACTIONS.iter().copied().find(|a| a.as_str() == s)
    }
}

/// Who did it, e.g. `admin:alice`, `scheduler`, `run:<id>`.
pub type Actor = String;

/// One thing to record. Empty fields are stored as NULL.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Who.
    pub actor: Actor,
    /// What (`None` is refused).
    pub action: Option<Action>,
    /// Canvas instance.
    pub instance: Option<String>,
    /// School (sub-account id).
    pub school: Option<u64>,
    /// Plugin id.
    pub plugin: Option<String>,
    /// Component sha256.
    pub digest: Option<String>,
    /// Run id.
    pub run: Option<String>,
    /// Canvas call: HTTP method.
    pub method: Option<String>,
    /// Canvas call: path (no query: queries may carry personal data).
    pub path: Option<String>,
    /// Canvas call: status.
    pub status: Option<u16>,
    /// Canvas call: `x-request-cost`.
    pub cost: Option<f64>,
    /// The token, as its keyed fingerprint.
    pub token: Option<String>,
    /// Free text: the rule that denied, the error, the grant.
    pub detail: Option<String>,
}

impl AuditEntry {
    /// An entry by `actor` for `action`.
    pub fn new(actor: impl Into<String>, action: Action) -> Self {
        Self {
            actor: actor.into(),
            action: Some(action),
            ..Self::default()
        }
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    /// 1, 2, 3, ... without gaps.
    pub seq: u64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who.
    pub actor: String,
    /// What, as stored (a tampered row may hold any text).
    pub action: String,
    /// Canvas instance.
    pub instance: Option<String>,
    /// School.
    pub school: Option<u64>,
    /// Plugin id.
    pub plugin: Option<String>,
    /// Component sha256.
    pub digest: Option<String>,
    /// Run id.
    pub run: Option<String>,
    /// HTTP method.
    pub method: Option<String>,
    /// Canvas path.
    pub path: Option<String>,
    /// HTTP status.
    pub status: Option<u16>,
    /// Request cost.
    pub cost: Option<f64>,
    /// Token fingerprint.
    pub token: Option<String>,
    /// Detail.
    pub detail: Option<String>,
    /// The previous record's hash (64 zeros for the first).
    pub prev_hash: String,
    /// sha256 over this record's fields and `prev_hash`.
    pub hash: String,
}

impl AuditRecord {
    /// The hash this record should have.
    pub fn compute_hash(&self) -> String {
        let fields = serde_json::json!([
            self.seq,
            self.at,
            self.actor,
            self.action,
            self.instance,
            self.school,
            self.plugin,
            self.digest,
            self.run,
            self.method,
            self.path,
            self.status,
            self.cost,
            self.token,
            self.detail,
        ]);
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        h.update(b"\n");
        h.update(fields.to_string().as_bytes());
        hex_string(&h.finalize())
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every record checks out.
    Intact {
        /// Records checked.
        records: u64,
        /// The last record's hash (keep a copy elsewhere to detect a cut).
        head: String,
    },
    /// The chain breaks at `seq`.
    Broken {
        /// The first bad record.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// Which records to export.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Records at or after this time (RFC 3339 prefix, e.g. `2026-11-29`).
    pub since: Option<String>,
    /// Only this plugin's.
    pub plugin: Option<String>,
    /// Only this school's.
    pub school: Option<u64>,
    /// Only records after this sequence number.
    pub after_seq: Option<u64>,
}

/// The audit log. Its own connection, so runs can append from any thread.
pub struct AuditLog {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog")
    }
}

const INSERT: &str = "INSERT INTO audit (seq, at, actor, action, instance, school, plugin, digest, run, method, path, status, cost, token, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

const COLUMNS: &str = "seq, at, actor, action, instance, school, plugin, digest, run, method, path, status, cost, token, detail, prev_hash, hash";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        seq: r.get::<_, i64>(0)? as u64,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        instance: r.get(4)?,
        school: r.get::<_, Option<i64>>(5)?.map(|s| s as u64),
        plugin: r.get(6)?,
        digest: r.get(7)?,
        run: r.get(8)?,
        method: r.get(9)?,
        path: r.get(10)?,
        status: r.get::<_, Option<i64>>(11)?.map(|s| s as u16),
        cost: r.get(12)?,
        token: r.get(13)?,
        detail: r.get(14)?,
        prev_hash: r.get(15)?,
        hash: r.get(16)?,
    })
}

impl AuditLog {
    /// Open the audit log in the database at `path` (open the [`crate::Store`]
    /// first: it creates the table).
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
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Append a record; returns its sequence number. An error means nothing
    /// was recorded (callers fail closed).
    pub fn append(&self, e: &AuditEntry) -> Result<u64> {
        let action = e
            .action
            .ok_or_else(|| StoreError::Invalid("an audit record needs an action".into()))?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let last: Option<(i64, String)> = tx
            .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (seq, prev_hash) = match last {
            Some((s, h)) => (s as u64 + 1, h),
            None => (1, GENESIS.to_owned()),
        };
        let mut rec = AuditRecord {
            seq,
            at: now(),
            actor: e.actor.clone(),
            action: action.as_str().to_owned(),
            instance: e.instance.clone(),
            school: e.school,
            plugin: e.plugin.clone(),
            digest: e.digest.clone(),
            run: e.run.clone(),
            method: e.method.clone(),
            path: e.path.clone(),
            status: e.status,
            cost: e.cost,
            token: e.token.clone(),
            detail: e.detail.clone(),
            prev_hash,
            hash: String::new(),
        };
        rec.hash = rec.compute_hash();
        tx.prepare_cached(INSERT)?.execute(params![
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
        ])?;
        tx.commit()?;
        Ok(seq)
    }

    /// Check the whole chain, in storage order (rowid), and name the first
    /// bad record.
    pub fn verify(&self) -> Result<Verdict> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM audit ORDER BY rowid"))?;
        let mut rows = stmt.query([])?;
        let mut expected_seq = 1u64;
        let mut prev = GENESIS.to_owned();
        while let Some(row) = rows.next()? {
            let rec = record(row)?;
            let bad = |reason: String| Verdict::Broken {
                seq: expected_seq,
                reason,
            };
            if rec.seq != expected_seq {
                return Ok(bad(if rec.seq > expected_seq {
                    format!(
                        "record {expected_seq} is missing (the next record is {})",
                        rec.seq
                    )
                } else {
                    format!("record {} appears out of order", rec.seq)
                }));
            }
            if rec.prev_hash != prev {
                return Ok(bad(
                    "it does not follow the previous record (deleted, inserted or reordered)"
                        .into(),
                ));
            }
            if rec.compute_hash() != rec.hash {
                return Ok(bad("its contents were changed after it was written".into()));
            }
            if Action::parse(&rec.action).is_none() {
                return Ok(bad(format!("unknown action {:?}", rec.action)));
            }
            prev = rec.hash;
            expected_seq += 1;
        }
        Ok(Verdict::Intact {
            records: expected_seq - 1,
            head: prev,
        })
    }

    /// Records matching `filter`, oldest first.
    pub fn records(&self, filter: &AuditFilter, limit: Option<usize>) -> Result<Vec<AuditRecord>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM audit
             WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR plugin = ?2)
               AND (?3 IS NULL OR school = ?3) AND (?4 IS NULL OR seq > ?4)
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
                    limit
                ],
                record,
            )?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The last `n` records, oldest first.
    pub fn last(&self, n: usize) -> Result<Vec<AuditRecord>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM (SELECT {COLUMNS} FROM audit ORDER BY seq DESC LIMIT ?1) ORDER BY seq"
        ))?;
        let rows = stmt
            .query_map(params![n as i64], record)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
