//! easel's state in SQLite: plugins (by digest), approvals and runs.
//!
//! Threat: state that lies about what ran. Plugins are keyed by the sha256
//! of their component, approvals pin that digest and the manifest's, and
//! every run records the digest it executed. No secret is ever stored here:
//! tokens live in the vault.

mod audit;
mod runs;
mod schedules;
pub mod schema;
mod schools;
mod users;
mod vault;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

pub use audit::{
    Action, AuditBackend, AuditEntry, AuditFilter, AuditKeys, AuditLog, AuditOptions, AuditRecord,
    BuildRecords, CHAIN_HMAC_V1, CHAIN_LEGACY, Checkpoint, CheckpointPolicy,
    DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_CHECKPOINT_RECORDS, DecideCheckpoint, GENESIS, LegacySeal,
    MAC_KEY_LABEL, SIGNING_KEY_LABEL, SqliteAudit, Verdict, WitnessVerdict, checkpoint, rekey_log,
};
pub use runs::{AuditedCalls, NewRun, RunFilter, RunFinish, RunRow, RunStats, RunStatus, now_ms};
pub use schedules::{FireRow, ScheduleRow};
pub use schools::{MAX_SIS_ID_PREFIX, SisPrefixRow, prefix_problem};
pub use users::{ApiTokenRow, SignInKeyRow, UserRow};
pub use vault::{InstanceRow, TokenRow, VaultRecords};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON column could not be read.
    #[error("corrupt {column} in the database: {message}")]
    Corrupt {
        /// Which column.
        column: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A value the store refuses.
    #[error("{0}")]
    Invalid(String),
    /// Another database (PostgreSQL) failed; what it said.
    #[error("database error: {0}")]
    Database(String),
}

/// Result with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The current time, RFC 3339 in UTC.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// One stored plugin version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRow {
    /// sha256 of the component, hex.
    pub digest: String,
    /// Plugin id from the manifest.
    pub id: String,
    /// Version from the manifest.
    pub version: String,
    /// Manifest text.
    pub manifest: String,
    /// sha256 of the manifest text, hex.
    pub manifest_digest: String,
    /// Component size in bytes.
    pub size: u64,
    /// When it was added.
    pub added_at: String,
    /// Who added it.
    pub added_by: String,
}

/// An admin's approval of one plugin digest for one school.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApprovalRow {
    /// Plugin id.
    pub plugin_id: String,
    /// Approved component digest.
    pub digest: String,
    /// Approved manifest digest.
    pub manifest_digest: String,
    /// The school (sub-account) the approval covers, with its subtree.
    pub school: u64,
    /// Whether write access was granted.
    pub write: bool,
    /// Who approved.
    pub approved_by: String,
    /// When.
    pub approved_at: String,
    /// The instance runs go to (`None`: the embedded simulator).
    pub instance: Option<String>,
    /// The token runs use (`None`: the embedded simulator's).
    pub token_id: Option<String>,
    /// What else the admin decided.
    pub terms: GrantTerms,
    /// A write grant waiting for a second admin (not live until then).
    pub awaiting_second: bool,
    /// The second admin who approved it.
    pub second_by: Option<String>,
}

/// An approver's denial of a plugin version, with why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DenialRow {
    /// Plugin id.
    pub plugin_id: String,
    /// Component digest.
    pub digest: String,
    /// Manifest digest.
    pub manifest_digest: String,
    /// Who denied it.
    pub denied_by: String,
    /// When (RFC 3339).
    pub denied_at: String,
    /// Why, for the submitter.
    pub reason: String,
}

/// The newest approval row of a plugin for a school, when none is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalHistory {
    /// It waits for a second approver; this one approved first.
    pub awaiting_second_after: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
    /// Its instance or token was removed.
    pub disabled: bool,
}

/// The terms of a grant beyond its school, token and write access.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrantTerms {
    /// Granted endpoints, Canvas scope grammar (`None`: all the manifest
    /// requests).
    pub scopes: Option<Vec<String>>,
    /// May runs masquerade (`as_user_id`)? Needs the manifest to ask.
    pub masquerade: bool,
    /// Only dry runs: live runs are refused.
    pub dry_run_only: bool,
    /// Calls per run (`None`: the manifest's).
    pub max_calls: Option<u32>,
    /// Writes per run (`None`: no limit beyond the call budget).
    pub max_writes: Option<u32>,
    /// Runs per school in any 24 hours.
    pub runs_per_day: Option<u32>,
    /// After this time (RFC 3339) the grant no longer runs.
    pub expires_at: Option<String>,
    /// Users also enrolled in another school: `"read"` lets user-level
    /// reads (profile, page views, logins, all enrollments) reach them;
    /// `None` or `"deny"`: only course-scoped calls.
    #[serde(alias = "shared-users")]
    pub shared_users: Option<String>,
    /// May runs send SIS imports (each row's SIS ids placed in the
    /// school)? Needs the manifest to ask, and write access.
    #[serde(alias = "sis-import")]
    pub sis_import: bool,
}

/// Every plugin version: a component with its first manifest, or with a
/// later one (`plugin_manifests`); the last column orders them by arrival.
const PLUGIN_VERSIONS: &str =
    "SELECT digest, id, version, manifest, manifest_digest, size, added_at, added_by, rowid AS k
       FROM plugins
     UNION ALL
     SELECT m.digest, m.id, m.version, m.manifest, m.manifest_digest, p.size, m.added_at, m.added_by,
            1000000000000 + m.seq AS k
       FROM plugin_manifests m JOIN plugins p ON p.digest = m.digest";

/// The SQLite database under the data directory.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Open (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&conn)?;
        Ok(Self { conn })
    }

    /// Record a plugin version. Returns false if that digest was already
    /// stored (adding the same bytes twice is harmless).
    pub fn add_plugin(&self, p: &PluginRow) -> Result<bool> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO plugins (digest, id, version, manifest, manifest_digest, size, added_at, added_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![p.digest, p.id, p.version, p.manifest, p.manifest_digest, p.size as i64, p.added_at, p.added_by],
        )?;
        if n == 1 {
            return Ok(true);
        }
        // The component is stored: a different manifest makes a new version.
        if self
            .plugin_version(&p.digest, &p.manifest_digest)?
            .is_some()
        {
            return Ok(false);
        }
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO plugin_manifests (digest, id, version, manifest, manifest_digest, added_at, added_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![p.digest, p.id, p.version, p.manifest, p.manifest_digest, p.added_at, p.added_by],
        )?;
        Ok(n == 1)
    }

    /// Every stored plugin version (component and manifest), newest first.
    pub fn plugins(&self) -> Result<Vec<PluginRow>> {
        let mut stmt = self
            .conn
            .prepare(&format!("{PLUGIN_VERSIONS} ORDER BY 7 DESC, 9 DESC"))?;
        let rows = stmt
            .query_map([], plugin_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The version with this component and manifest digest.
    pub fn plugin_version(&self, digest: &str, manifest_digest: &str) -> Result<Option<PluginRow>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT * FROM ({PLUGIN_VERSIONS}) WHERE digest = ?1 AND manifest_digest = ?2 LIMIT 1"
                ),
                params![digest, manifest_digest],
                plugin_row,
            )
            .optional()?)
    }

    /// Find a plugin by `id` (newest version), `id@<digest prefix>` or a
    /// digest prefix of at least 8 hex digits.
    pub fn find_plugin(&self, name: &str) -> Result<Option<PluginRow>> {
        let (id, prefix) = match name.split_once('@') {
            Some((id, prefix)) => (Some(id), Some(prefix)),
            None if name.len() >= 8 && name.chars().all(|c| c.is_ascii_hexdigit()) => {
                (None, Some(name))
            }
            None => (Some(name), None),
        };
        let found = self.plugins()?.into_iter().find(|p| {
            id.is_none_or(|id| p.id == id) && prefix.is_none_or(|x| p.digest.starts_with(x))
        });
        Ok(found)
    }

    /// Record an approval.
    pub fn approve(&self, a: &ApprovalRow) -> Result<()> {
        self.conn.execute(
            "INSERT INTO approvals (plugin_id, digest, manifest_digest, school, write, approved_by, approved_at, instance, token_id, terms, awaiting_second)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                a.plugin_id,
                a.digest,
                a.manifest_digest,
                a.school as i64,
                a.write,
                a.approved_by,
                a.approved_at,
                a.instance,
                a.token_id,
                serde_json::to_string(&a.terms).unwrap_or_else(|_| "{}".into()),
                a.awaiting_second
            ],
        )?;
        Ok(())
    }

    /// A write grant of `digest` for `school` waiting for a second admin.
    pub fn awaiting_second(
        &self,
        plugin_id: &str,
        digest: &str,
        manifest_digest: &str,
        school: u64,
    ) -> Result<Option<(i64, ApprovalRow)>> {
        let row = self
            .conn
            .query_row(
                "SELECT plugin_id, digest, manifest_digest, school, write, approved_by, approved_at, instance, token_id, terms, awaiting_second, second_by, seq
                 FROM approvals WHERE plugin_id = ?1 AND digest = ?2 AND manifest_digest = ?3 AND school = ?4
                   AND awaiting_second = 1 AND revoked_at IS NULL AND disabled_at IS NULL ORDER BY seq DESC LIMIT 1",
                params![plugin_id, digest, manifest_digest, school as i64],
                |r| Ok((r.get::<_, i64>(12)?, approval_row(r)?)),
            )
            .optional()?;
        Ok(row)
    }

    /// Make the waiting write grant `seq` live with `by` as its second
    /// approver; false if it was no longer waiting.
    pub fn approve_second(&self, seq: i64, by: &str) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE approvals SET awaiting_second = 0, second_by = ?2
             WHERE seq = ?1 AND awaiting_second = 1 AND revoked_at IS NULL AND disabled_at IS NULL",
            params![seq, by],
        )?;
        Ok(n == 1)
    }

    /// The distinct manifests stored for plugin `id`'s component `digest`.
    pub fn manifests_of(&self, id: &str, digest: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .plugins()?
            .into_iter()
            .filter(|p| p.id == id && p.digest == digest)
            .map(|p| p.manifest_digest)
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// An institution-wide setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Record that `name` submitted the component `digest`.
    pub fn record_submitter(&self, digest: &str, name: &str) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO plugin_submitters (digest, name) VALUES (?1, ?2)",
            params![digest, name],
        )?;
        Ok(())
    }

    /// Everyone who ever submitted the component `digest`.
    pub fn submitters(&self, digest: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM plugin_submitters WHERE digest = ?1 ORDER BY name")?;
        let names = stmt
            .query_map(params![digest], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(names)
    }

    /// Set an institution-wide setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Revoke the live approvals of plugin `id` (for `schools`, or all);
    /// returns the schools whose approval was revoked.
    pub fn revoke(&self, id: &str, schools: &[u64]) -> Result<Vec<u64>> {
        let live = self.live_schools(id, schools)?;
        let at = now();
        for school in &live {
            self.conn.execute(
                "UPDATE approvals SET revoked_at = ?1 WHERE plugin_id = ?2 AND school = ?3 AND revoked_at IS NULL",
                params![at, id, *school as i64],
            )?;
        }
        Ok(live)
    }

    /// The schools (of `schools`, or all) with a live approval of plugin
    /// `id`, in order.
    pub fn live_schools(&self, id: &str, schools: &[u64]) -> Result<Vec<u64>> {
        let mut live: Vec<u64> = self
            .approvals()?
            .into_iter()
            .filter(|a| a.plugin_id == id && (schools.is_empty() || schools.contains(&a.school)))
            .map(|a| a.school)
            .collect();
        live.sort_unstable();
        live.dedup();
        Ok(live)
    }

    /// Was a newer version of this digest's plugin ever approved?
    pub fn newer_version_approved(&self, digest: &str) -> Result<Option<String>> {
        let newer = self
            .conn
            .query_row(
                "SELECT p.digest FROM approvals a
                 JOIN plugins p ON p.digest = a.digest
                 JOIN plugins q ON q.digest = ?1 AND q.id = p.id
                 WHERE p.rowid > q.rowid ORDER BY p.rowid DESC LIMIT 1",
                params![digest],
                |r| r.get(0),
            )
            .optional()?;
        Ok(newer)
    }

    /// The newest live approval of plugin `id` for `school`.
    pub fn approval(&self, id: &str, school: u64) -> Result<Option<ApprovalRow>> {
        let row = self
            .conn
            .query_row(
                "SELECT plugin_id, digest, manifest_digest, school, write, approved_by, approved_at, instance, token_id, terms, awaiting_second, second_by
                 FROM approvals WHERE plugin_id = ?1 AND school = ?2 AND revoked_at IS NULL AND disabled_at IS NULL AND awaiting_second = 0
                 ORDER BY seq DESC LIMIT 1",
                params![id, school as i64],
                approval_row,
            )
            .optional()?;
        Ok(row)
    }

    /// Record a denial.
    pub fn add_denial(&self, d: &DenialRow) -> Result<()> {
        self.conn.execute(
            "INSERT INTO plugin_denials (digest, manifest_digest, plugin_id, denied_by, denied_at, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![d.digest, d.manifest_digest, d.plugin_id, d.denied_by, d.denied_at, d.reason],
        )?;
        Ok(())
    }

    /// One plugin version's denials, newest first.
    pub fn denials(&self, digest: &str, manifest_digest: &str) -> Result<Vec<DenialRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT plugin_id, digest, manifest_digest, denied_by, denied_at, reason
             FROM plugin_denials WHERE digest = ?1 AND manifest_digest = ?2 ORDER BY rowid DESC",
        )?;
        let rows = stmt
            .query_map(params![digest, manifest_digest], |r| {
                Ok(DenialRow {
                    plugin_id: r.get(0)?,
                    digest: r.get(1)?,
                    manifest_digest: r.get(2)?,
                    denied_by: r.get(3)?,
                    denied_at: r.get(4)?,
                    reason: r.get(5)?,
                })
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Every approval row of one plugin version, newest first, with its
    /// state: `live`, `awaiting-second`, `revoked` or `disabled`.
    pub fn approval_states(
        &self,
        digest: &str,
        manifest_digest: &str,
    ) -> Result<Vec<(u64, &'static str)>> {
        let mut stmt = self.conn.prepare(
            "SELECT school, awaiting_second, revoked_at IS NOT NULL, disabled_at IS NOT NULL
             FROM approvals WHERE digest = ?1 AND manifest_digest = ?2 ORDER BY seq DESC",
        )?;
        let rows = stmt
            .query_map(params![digest, manifest_digest], |r| {
                let (waiting, revoked, disabled): (bool, bool, bool) =
                    (r.get(1)?, r.get(2)?, r.get(3)?);
                let state = match (revoked, disabled, waiting) {
                    (true, ..) => "revoked",
                    (false, true, _) => "disabled",
                    (false, false, true) => "awaiting-second",
                    (false, false, false) => "live",
                };
                Ok((r.get::<_, i64>(0)? as u64, state))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Why no approval of `id` for `school` is live: the newest row's
    /// state (`None`: there never was one).
    pub fn approval_history(&self, id: &str, school: u64) -> Result<Option<ApprovalHistory>> {
        let row = self
            .conn
            .query_row(
                "SELECT approved_by, awaiting_second, revoked_at, disabled_at IS NOT NULL
                 FROM approvals WHERE plugin_id = ?1 AND school = ?2 ORDER BY seq DESC LIMIT 1",
                params![id, school as i64],
                |r| {
                    let by: String = r.get(0)?;
                    let waiting: bool = r.get(1)?;
                    Ok(ApprovalHistory {
                        awaiting_second_after: waiting.then_some(by),
                        revoked_at: r.get(2)?,
                        disabled: r.get(3)?,
                    })
                },
            )
            .optional()?;
        Ok(row)
    }

    /// Every live approval, newest first.
    pub fn approvals(&self) -> Result<Vec<ApprovalRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT plugin_id, digest, manifest_digest, school, write, approved_by, approved_at, instance, token_id, terms, awaiting_second, second_by
             FROM approvals WHERE revoked_at IS NULL AND disabled_at IS NULL AND awaiting_second = 0 ORDER BY seq DESC",
        )?;
        let rows = stmt
            .query_map([], approval_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Write a consistent copy of the whole database to `path` (SQLite's
    /// `VACUUM INTO`, safe while others write). Refused if `path` exists.
    pub fn backup_to(&self, path: &std::path::Path) -> Result<()> {
        if path.exists() {
            return Err(StoreError::Invalid(format!(
                "{} exists: give a new file",
                path.display()
            )));
        }
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Invalid("the backup path is not UTF-8".into()))?;
        self.conn().execute("VACUUM INTO ?1", params![target])?;
        Ok(())
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

fn plugin_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PluginRow> {
    Ok(PluginRow {
        digest: r.get(0)?,
        id: r.get(1)?,
        version: r.get(2)?,
        manifest: r.get(3)?,
        manifest_digest: r.get(4)?,
        size: r.get::<_, i64>(5)? as u64,
        added_at: r.get(6)?,
        added_by: r.get(7)?,
    })
}

fn approval_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApprovalRow> {
    Ok(ApprovalRow {
        plugin_id: r.get(0)?,
        digest: r.get(1)?,
        manifest_digest: r.get(2)?,
        school: r.get::<_, i64>(3)? as u64,
        write: r.get(4)?,
        approved_by: r.get(5)?,
        approved_at: r.get(6)?,
        instance: r.get(7)?,
        token_id: r.get(8)?,
        terms: serde_json::from_str(&r.get::<_, String>(9)?).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(9, rusqlite::types::Type::Text, Box::new(e))
        })?,
        awaiting_second: r.get(10)?,
        second_by: r.get(11)?,
    })
}
