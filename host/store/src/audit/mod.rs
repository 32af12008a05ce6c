//! The audit log: append-only records, chained with a keyed MAC and sealed
//! by signed checkpoints, in SQLite ([`SqliteAudit`]) or in another
//! database behind [`AuditBackend`] (PostgreSQL, in `easel-store-pg`).
//!
//! Threat: someone with the database file rewriting history (hiding a call,
//! an approval, a revocation). Each record's `hash` is HMAC-SHA256, under a
//! key derived from the vault's master key, over its fields and the previous
//! record's `hash` (`prev_hash`), and sequence numbers have no gaps, so
//! editing, deleting or reordering a row breaks the chain at that row, and
//! recomputing the chain needs the key, which is never in the database.
//! Every [`CheckpointPolicy::every_records`] records, every
//! [`CheckpointPolicy::every`] (checked on append) and at the end of every
//! run, an Ed25519 signature over `(sequence, head MAC, time)` is stored in
//! `audit_checkpoints` and appended to a witness file outside the database
//! ([`checkpoint`]), so a log cut short or rolled back is caught too
//! ([`AuditLog::verify`], [`AuditLog::verify_witness`]).
//!
//! Columns: `chain` says how a record's `hash` was made: 0 is the unkeyed
//! SHA-256 of databases written before keys (kept as they were, verified
//! with the old algorithm and sealed under a first signed checkpoint when
//! first opened with keys, see [`LegacySeal`]), 1 is HMAC-SHA256 v1. Tokens
//! appear only as keyed fingerprints. What this proves and does not:
//! docs/SECURITY.md.

mod backend;
pub mod checkpoint;
mod keys;
mod verify;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use backend::{AuditBackend, BuildRecords, DecideCheckpoint, SqliteAudit};
pub use checkpoint::Checkpoint;
pub use keys::{AuditKeys, MAC_KEY_LABEL, SIGNING_KEY_LABEL};
pub use verify::{Verdict, WitnessVerdict, rekey_log};

use crate::{Result, StoreError, now};

/// `chain` of records hashed with unkeyed SHA-256 (before keys).
pub const CHAIN_LEGACY: u8 = 0;
/// `chain` of records MACed with HMAC-SHA256 under [`AuditKeys`].
pub const CHAIN_HMAC_V1: u8 = 1;

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
    /// The master key was replaced (`vault rekey`); the log was re-MACed.
    VaultRekeyed,
    /// A user (principal) was added.
    UserAdded,
    /// A user's password was set or reset.
    PasswordSet,
    /// A sign-in failed (wrong name, password or token).
    SignInFailed,
    /// A personal API token was issued.
    ApiTokenIssued,
    /// A personal API token was revoked.
    ApiTokenRevoked,
    /// Someone signed in with Canvas (their roles as Canvas maps them).
    SignedInWithCanvas,
    /// A schedule was added, paused, resumed or removed.
    ScheduleChanged,
    /// A schedule fired (a batch of runs started).
    ScheduleFired,
    /// A schedule's fire time was skipped or missed.
    ScheduleSkipped,
    /// A run was put in `easel serve`'s queue.
    RunQueued,
    /// A run was marked interrupted: its process ended, or stopped, first.
    RunInterrupted,
    /// The master key was lost and replaced (`vault reset --forget-tokens`):
    /// the sealed tokens were forgotten, and the records before this one,
    /// keyed by the lost key, can no longer be verified.
    VaultReset,
    /// A principal asked for something its roles do not reach (e.g. another
    /// school's run in the console); refused.
    AccessDenied,
    /// An approver denied a plugin version (with a reason the submitter
    /// sees).
    PluginDenied,
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
    Action::VaultRekeyed,
    Action::UserAdded,
    Action::PasswordSet,
    Action::SignInFailed,
    Action::ApiTokenIssued,
    Action::ApiTokenRevoked,
    Action::SignedInWithCanvas,
    Action::ScheduleChanged,
    Action::ScheduleFired,
    Action::ScheduleSkipped,
    Action::RunQueued,
    Action::RunInterrupted,
    Action::VaultReset,
    Action::AccessDenied,
    Action::PluginDenied,
];

impl Action {
    /// Every action's name, in the order they were added.
    pub fn all_names() -> Vec<&'static str> {
        ACTIONS.iter().map(|a| a.as_str()).collect()
    }

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
            Action::VaultRekeyed => "vault-rekeyed",
            Action::UserAdded => "user-added",
            Action::PasswordSet => "password-set",
            Action::SignInFailed => "sign-in-failed",
            Action::ApiTokenIssued => "api-token-issued",
            Action::ApiTokenRevoked => "api-token-revoked",
            Action::SignedInWithCanvas => "signed-in-with-canvas",
            Action::ScheduleChanged => "schedule-changed",
            Action::ScheduleFired => "schedule-fired",
            Action::ScheduleSkipped => "schedule-skipped",
            Action::RunQueued => "run-queued",
            Action::RunInterrupted => "run-interrupted",
            Action::VaultReset => "vault-reset",
            Action::AccessDenied => "access-denied",
            Action::PluginDenied => "plugin-denied",
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The previous record's `hash` ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// This record's MAC over its fields and `prev_hash` (chain 1), or its
    /// unkeyed sha256 (chain 0, before keys).
    pub hash: String,
    /// How `hash` was computed: [`CHAIN_HMAC_V1`] or [`CHAIN_LEGACY`].
    pub chain: u8,
}

impl AuditRecord {
    /// The fields both chains cover, as canonical JSON.
    fn fields(&self) -> String {
        serde_json::json!([
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
        ])
        .to_string()
    }

    /// The unkeyed hash of chain 0 (the algorithm before keys): sha256 over
    /// `prev_hash`, a newline and the fields. Anyone can compute it, which
    /// is why it is only trusted under a signed checkpoint.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        h.update(b"\n");
        h.update(self.fields().as_bytes());
        hex::encode(h.finalize())
    }

    /// The MAC of chain 1: HMAC-SHA256 under `keys` over `prev_hash`, a
    /// newline and the fields.
    pub fn compute_mac(&self, keys: &AuditKeys) -> Result<String> {
        keys.mac(&self.prev_hash, &self.fields())
    }

    /// Does this record's `hash` check out under its `chain`'s algorithm?
    pub(crate) fn hash_matches(&self, keys: &AuditKeys) -> bool {
        match self.chain {
            CHAIN_LEGACY => self.compute_hash() == self.hash,
            CHAIN_HMAC_V1 => keys.mac_matches(&self.prev_hash, &self.fields(), &self.hash),
            _ => false,
        }
    }
}

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// When checkpoints are made besides the end of each run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// After this many records since the last checkpoint.
    pub every_records: u64,
    /// After this long since the last checkpoint (checked on append).
    pub every: Duration,
}

/// Checkpoint every 1000 records.
pub const DEFAULT_CHECKPOINT_RECORDS: u64 = 1000;
/// Checkpoint every 10 minutes (checked on append).
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(600);

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self {
            every_records: DEFAULT_CHECKPOINT_RECORDS,
            every: DEFAULT_CHECKPOINT_INTERVAL,
        }
    }
}

/// How to open the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// Where checkpoints are also appended, one JSON line each (`None`:
    /// only in the database).
    pub witness: Option<PathBuf>,
    /// When to checkpoint.
    pub policy: CheckpointPolicy,
    /// Logged as a warning when the witness file is created (say, that a
    /// default witness beside the database should be moved).
    pub warn_on_witness_created: Option<String>,
}

/// What opening a log written before keys did with its unkeyed records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacySeal {
    /// The old chain verified; a first signed checkpoint now covers it.
    Sealed {
        /// Unkeyed records covered.
        records: u64,
    },
    /// The old chain is broken; it was not sealed (verify reports it).
    Broken {
        /// The first bad record.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Not sealed: the witness file already holds checkpoints, so a log
    /// that now looks unkeyed was rewritten (verify reports it).
    Refused {
        /// Why.
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
    /// Records before this time (RFC 3339 prefix; a bare date is the
    /// start of that day).
    pub until: Option<String>,
    /// Only this run's.
    pub run: Option<String>,
    /// Only records whose actor (principal, or `plugin:ID`) contains this.
    pub actor: Option<String>,
    /// Only this action (as recorded, e.g. `plugin-approved`).
    pub action: Option<String>,
}

/// The audit log. Its own connection, so runs can append from any thread.
///
/// Appends are committed in groups: a record waits in `pending` until the
/// next holder of the connection commits everything pending in one
/// transaction ([`AuditLog::append`] returns once its own record is
/// committed; [`AuditLog::append_deferred`] does not wait). The caller's
/// own thread commits, so a run alone pays one commit per call and no
/// hand-over to a writer thread, and many runs at once share commits.
pub struct AuditLog {
    inner: Mutex<Inner>,
    /// Records waiting for the next commit, oldest first.
    pending: Mutex<Vec<Pending>>,
    /// Transactions committed, records in them.
    commits: (AtomicU64, AtomicU64),
    keys: AuditKeys,
    options: AuditOptions,
    legacy: Option<LegacySeal>,
}

/// A record waiting for the next commit.
struct Pending {
    entry: AuditEntry,
    action: Action,
    /// Where the committer puts the record's sequence number or why it was
    /// not recorded (`None`: nobody waits, see [`AuditLog::append_deferred`]).
    ticket: Option<Arc<OnceLock<std::result::Result<u64, String>>>>,
}

/// Deferred records kept before [`AuditLog::append_deferred`] commits them
/// itself.
const MAX_DEFERRED: usize = 512;

struct Inner {
    db: Box<dyn AuditBackend>,
    /// The newest checkpoint this process knows: its record and when.
    last_checkpoint: (u64, time::OffsetDateTime),
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.flush();
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("keys", &self.keys)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

const INSERT: &str = "INSERT INTO audit (seq, at, actor, action, instance, school, plugin, digest, run, method, path, status, cost, token, detail, prev_hash, hash, chain) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

const COLUMNS: &str = "seq, at, actor, action, instance, school, plugin, digest, run, method, path, status, cost, token, detail, prev_hash, hash, chain";

pub(crate) fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
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
        chain: r.get::<_, i64>(17)?.clamp(0, 255) as u8,
    })
}

fn parse_time(at: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()
}

impl AuditLog {
    /// Open the audit log in the database at `path` with the default
    /// checkpoint policy and no witness file (open the [`crate::Store`]
    /// first: it creates the tables).
    pub fn open(path: &Path, keys: AuditKeys) -> Result<Self> {
        Self::open_with(path, keys, AuditOptions::default())
    }

    /// Open the audit log with `options`. Records written before keys are
    /// verified with the old algorithm and, if intact, sealed under a first
    /// signed checkpoint ([`AuditLog::legacy_seal`] says what happened).
    pub fn open_with(path: &Path, keys: AuditKeys, options: AuditOptions) -> Result<Self> {
        Self::with_backend(Box::new(SqliteAudit::open(path)?), keys, options)
    }

    /// The audit log kept by `db` (SQLite's [`SqliteAudit`], or another
    /// database's), with `options`.
    pub fn with_backend(
        mut db: Box<dyn AuditBackend>,
        keys: AuditKeys,
        options: AuditOptions,
    ) -> Result<Self> {
        let last_checkpoint = match db.latest_checkpoint()? {
            Some(c) => (
                c.seq,
                parse_time(&c.at).unwrap_or_else(time::OffsetDateTime::now_utc),
            ),
            None => (0, time::OffsetDateTime::now_utc()),
        };
        let mut log = Self {
            inner: Mutex::new(Inner {
                db,
                last_checkpoint,
            }),
            pending: Mutex::new(Vec::new()),
            commits: Default::default(),
            keys,
            options,
            legacy: None,
        };
        log.legacy = log.seal_legacy()?;
        Ok(log)
    }

    /// What opening did with records written before keys (`None`: there
    /// were none, or they were sealed before).
    pub fn legacy_seal(&self) -> Option<&LegacySeal> {
        self.legacy.as_ref()
    }

    /// The witness file checkpoints are appended to.
    pub fn witness(&self) -> Option<&Path> {
        self.options.witness.as_deref()
    }

    /// The checkpoint verifying key, hex.
    pub fn public_key(&self) -> String {
        self.keys.public_key()
    }

    /// The connection, after committing every record pending (so what is
    /// read through it includes them).
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        self.commit_pending(&mut inner);
        inner
    }

    /// Append a record; returns its sequence number once the record is
    /// committed. An error means nothing was recorded (callers fail
    /// closed). A checkpoint that falls due is made after the record is
    /// committed; if it cannot be written the record stands and a warning
    /// is logged.
    pub fn append(&self, e: &AuditEntry) -> Result<u64> {
        let action = e
            .action
            .ok_or_else(|| StoreError::Invalid("an audit record needs an action".into()))?;
        let ticket = Arc::new(OnceLock::new());
        self.queue().push(Pending {
            entry: e.clone(),
            action,
            ticket: Some(ticket.clone()),
        });
        // Whoever holds the connection next commits every pending record,
        // this one included: by the time the lock is ours, it is done.
        drop(self.lock());
        match ticket.get() {
            Some(Ok(seq)) => Ok(*seq),
            Some(Err(why)) => Err(StoreError::Invalid(why.clone())),
            None => Err(StoreError::Invalid(
                "the audit record was not committed".into(),
            )),
        }
    }

    /// Append a record without waiting for its commit: it joins the next
    /// commit (the next [`AuditLog::append`], a read, a checkpoint, or the
    /// log being dropped), in order with the records around it. For what
    /// needs no proof before going on, such as Canvas's answer to a call
    /// already recorded; a record that cannot be committed then is logged
    /// as a warning. Errors only when the entry has no action.
    pub fn append_deferred(&self, e: AuditEntry) -> Result<()> {
        let action = e
            .action
            .ok_or_else(|| StoreError::Invalid("an audit record needs an action".into()))?;
        let waiting = {
            let mut q = self.queue();
            q.push(Pending {
                entry: e,
                action,
                ticket: None,
            });
            q.len()
        };
        if waiting >= MAX_DEFERRED {
            drop(self.lock());
        }
        Ok(())
    }

    /// Transactions this log has committed, and the records in them (how
    /// well commits are shared).
    pub fn commit_stats(&self) -> (u64, u64) {
        (
            self.commits.0.load(Ordering::Relaxed),
            self.commits.1.load(Ordering::Relaxed),
        )
    }

    /// Commit every record still pending now.
    pub fn flush(&self) {
        drop(self.lock());
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commit the pending records in one transaction; if it fails, each on
    /// its own, so one record that cannot be written fails alone.
    fn commit_pending(&self, inner: &mut Inner) {
        let batch = std::mem::take(&mut *self.queue());
        if batch.is_empty() {
            return;
        }
        let results = match self.insert_all(inner, &batch) {
            Ok(seqs) => seqs.into_iter().map(Ok).collect(),
            Err(e) if batch.len() == 1 => vec![Err(e.to_string())],
            Err(_) => batch
                .iter()
                .map(|p| {
                    self.insert_all(inner, std::slice::from_ref(p))
                        .map(|s| s[0])
                        .map_err(|e| e.to_string())
                })
                .collect::<Vec<_>>(),
        };
        let mut newest = None;
        for (p, r) in batch.into_iter().zip(results) {
            if let Ok(seq) = r {
                newest = newest.max(Some(seq));
            }
            match p.ticket {
                Some(ticket) => {
                    let _ = ticket.set(r);
                }
                None => {
                    if let Err(why) = r {
                        tracing::warn!(
                            action = p.action.as_str(),
                            run = p.entry.run.as_deref().unwrap_or(""),
                            error = %why,
                            "an audit record could not be committed"
                        );
                    }
                }
            }
        }
        if let Some(seq) = newest {
            self.checkpoint_if_due(inner, seq);
        }
    }

    /// Insert `batch` after the chain's head in one transaction; their
    /// sequence numbers.
    fn insert_all(&self, inner: &mut Inner, batch: &[Pending]) -> Result<Vec<u64>> {
        let keys = &self.keys;
        let seqs = inner.db.append(&mut |head, prev| {
            let (mut seq, mut prev_hash) = (head, prev.to_owned());
            let mut recs = Vec::with_capacity(batch.len());
            for p in batch {
                let e = &p.entry;
                seq += 1;
                let mut rec = AuditRecord {
                    seq,
                    at: now(),
                    actor: e.actor.clone(),
                    action: p.action.as_str().to_owned(),
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
                    chain: CHAIN_HMAC_V1,
                };
                rec.hash = rec.compute_mac(keys)?;
                prev_hash = rec.hash.clone();
                recs.push(rec);
            }
            Ok(recs)
        })?;
        self.commits.0.fetch_add(1, Ordering::Relaxed);
        self.commits
            .1
            .fetch_add(seqs.len() as u64, Ordering::Relaxed);
        Ok(seqs)
    }

    /// Sign the head at `seq` if the policy says a checkpoint is due; a
    /// checkpoint that cannot be written is a warning (the records stand).
    fn checkpoint_if_due(&self, inner: &mut Inner, seq: u64) {
        let (last_seq, last_at) = inner.last_checkpoint;
        let policy = self.options.policy;
        let due = if seq.saturating_sub(last_seq) >= policy.every_records {
            Some(checkpoint::reason::COUNT)
        } else if time::OffsetDateTime::now_utc() - last_at >= policy.every {
            Some(checkpoint::reason::TIME)
        } else {
            None
        };
        if let Some(reason) = due
            && let Err(e) = self.checkpoint_locked(inner, reason)
        {
            tracing::warn!(error = %e, "the audit log could not write a checkpoint");
        }
    }

    /// Sign the chain's head now (at the end of a run, say) unless the
    /// newest checkpoint already covers it. Returns the checkpoint made.
    /// The database row is written before the witness line; an error about
    /// the witness means the database holds the checkpoint but the witness
    /// file does not.
    pub fn checkpoint(&self, reason: &str) -> Result<Option<Checkpoint>> {
        let mut inner = self.lock();
        self.checkpoint_locked(&mut inner, reason)
    }

    fn checkpoint_locked(&self, inner: &mut Inner, reason: &str) -> Result<Option<Checkpoint>> {
        let mut covered = None;
        let made = inner.db.checkpoint_head(&mut |seq, head, latest| {
            if latest.is_some_and(|l| l.seq == seq && l.head == head) {
                covered = Some(seq);
                return None;
            }
            Some(Checkpoint::sign(&self.keys, seq, head, reason))
        })?;
        if let Some(seq) = covered {
            inner.last_checkpoint = (seq, time::OffsetDateTime::now_utc());
        }
        let Some(c) = made else {
            return Ok(None);
        };
        inner.last_checkpoint = (c.seq, time::OffsetDateTime::now_utc());
        self.witness_append(&c)?;
        Ok(Some(c))
    }

    fn witness_append(&self, c: &Checkpoint) -> Result<()> {
        let Some(path) = &self.options.witness else {
            return Ok(());
        };
        let created = !path.exists();
        checkpoint::witness_append(path, c).map_err(|e| {
            StoreError::Invalid(format!(
                "checkpoint of record {} is in the database but could not be appended to the witness file {}: {e}",
                c.seq,
                path.display()
            ))
        })?;
        if created && let Some(warning) = &self.options.warn_on_witness_created {
            tracing::warn!("{warning}");
        }
        Ok(())
    }

    /// Every checkpoint in the database, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        let mut inner = self.lock();
        Ok(inner
            .db
            .checkpoints()?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }

    /// Records matching `filter`, oldest first.
    pub fn records(&self, filter: &AuditFilter, limit: Option<usize>) -> Result<Vec<AuditRecord>> {
        self.lock().db.records(filter, limit)
    }

    /// The last `n` records, oldest first.
    pub fn last(&self, n: usize) -> Result<Vec<AuditRecord>> {
        self.lock().db.last(n)
    }
}
