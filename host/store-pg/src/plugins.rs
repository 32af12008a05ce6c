//! Plugins, their manifests, approvals, denials, submitters and settings
//! on PostgreSQL: the same rows and meanings as SQLite's
//! (host/store/src/lib.rs).
//!
//! Threat: state that lies about what ran. A plugin version is keyed by
//! the sha256 of its component and of its manifest, and an approval pins
//! both; a node never decides from a grant another node cannot see.
//!
//! Text is ordered and compared as SQLite does, byte by byte (`COLLATE
//! "C"`), whatever the database's locale: lists come back in the same
//! order from either store.

use easel_store::{ApprovalHistory, ApprovalRow, DenialRow, PluginRow, Result};
use tokio_postgres::Row;

use crate::{PgError, PgResult, PgStore};

/// Every plugin version: a component with its first manifest, or with a
/// later one (`plugin_manifests`); `k` orders them by arrival (a later
/// manifest after every component, as on SQLite).
const PLUGIN_VERSIONS: &str =
    "SELECT digest, id, version, manifest, manifest_digest, size, added_at, added_by, seq AS k
       FROM plugins
     UNION ALL
     SELECT m.digest, m.id, m.version, m.manifest, m.manifest_digest, p.size, m.added_at, m.added_by,
            1000000000000 + m.seq AS k
       FROM plugin_manifests m JOIN plugins p ON p.digest = m.digest";

const APPROVAL_COLUMNS: &str = "plugin_id, digest, manifest_digest, school, write, approved_by, approved_at, instance, token_id, terms, awaiting_second, second_by";

fn plugin_row(r: &Row) -> PluginRow {
    PluginRow {
        digest: r.get(0),
        id: r.get(1),
        version: r.get(2),
        manifest: r.get(3),
        manifest_digest: r.get(4),
        size: r.get::<_, i64>(5).max(0) as u64,
        added_at: r.get(6),
        added_by: r.get(7),
    }
}

fn approval_row(r: &Row) -> PgResult<ApprovalRow> {
    Ok(ApprovalRow {
        plugin_id: r.get(0),
        digest: r.get(1),
        manifest_digest: r.get(2),
        school: r.get::<_, i64>(3) as u64,
        write: r.get(4),
        approved_by: r.get(5),
        approved_at: r.get(6),
        instance: r.get(7),
        token_id: r.get(8),
        terms: serde_json::from_str(r.get(9))
            .map_err(|e| PgError(format!("corrupt approvals.terms: {e}")))?,
        awaiting_second: r.get(10),
        second_by: r.get(11),
    })
}

impl PgStore {
    /// Keep a component's bytes under its digest (the caller computed
    /// it); storing the same digest twice is harmless.
    pub fn put_component(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let (digest, bytes) = (digest.to_owned(), bytes.to_vec());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                "INSERT INTO components (digest, bytes, added_at) VALUES ($1, $2, $3)
                 ON CONFLICT (digest) DO NOTHING",
                &[&digest, &bytes, &easel_store::now()],
            )
            .await?;
            Ok(())
        })
    }

    /// A component's bytes, as stored (the caller checks them against the
    /// digest before using them).
    pub fn component(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let digest = digest.to_owned();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt("SELECT bytes FROM components WHERE digest = $1", &[&digest])
                .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    /// Record a plugin version. Returns false if that digest was already
    /// stored (adding the same bytes twice is harmless).
    pub fn add_plugin(&self, p: &PluginRow) -> Result<bool> {
        let p = p.clone();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n = c
                .execute(
                    "INSERT INTO plugins (digest, id, version, manifest, manifest_digest, size, added_at, added_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (digest) DO NOTHING",
                    &[
                        &p.digest,
                        &p.id,
                        &p.version,
                        &p.manifest,
                        &p.manifest_digest,
                        &(p.size as i64),
                        &p.added_at,
                        &p.added_by,
                    ],
                )
                .await?;
            if n == 1 {
                return Ok(true);
            }
            // The component is stored: a different manifest makes a new
            // version (the first manifest lives in `plugins` itself).
            let first = c
                .query_opt(
                    "SELECT 1 FROM plugins WHERE digest = $1 AND manifest_digest = $2",
                    &[&p.digest, &p.manifest_digest],
                )
                .await?;
            if first.is_some() {
                return Ok(false);
            }
            let n = c
                .execute(
                    "INSERT INTO plugin_manifests (digest, id, version, manifest, manifest_digest, added_at, added_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (digest, manifest_digest) DO NOTHING",
                    &[
                        &p.digest,
                        &p.id,
                        &p.version,
                        &p.manifest,
                        &p.manifest_digest,
                        &p.added_at,
                        &p.added_by,
                    ],
                )
                .await?;
            Ok(n == 1)
        })
    }

    /// Every stored plugin version (component and manifest), newest first.
    pub fn plugins(&self) -> Result<Vec<PluginRow>> {
        self.block(|pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    &format!(
                        "SELECT * FROM ({PLUGIN_VERSIONS}) v
                         ORDER BY v.added_at COLLATE \"C\" DESC, v.k DESC"
                    ),
                    &[],
                )
                .await?;
            Ok(rows.iter().map(plugin_row).collect())
        })
    }

    /// The version with this component and manifest digest.
    pub fn plugin_version(&self, digest: &str, manifest_digest: &str) -> Result<Option<PluginRow>> {
        let (digest, manifest_digest) = (digest.to_string(), manifest_digest.to_string());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt(
                    &format!(
                        "SELECT * FROM ({PLUGIN_VERSIONS}) v
                         WHERE v.digest = $1 AND v.manifest_digest = $2 ORDER BY v.k LIMIT 1"
                    ),
                    &[&digest, &manifest_digest],
                )
                .await?;
            Ok(row.as_ref().map(plugin_row))
        })
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
        let a = a.clone();
        let terms = serde_json::to_string(&a.terms).unwrap_or_else(|_| "{}".into());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                "INSERT INTO approvals (plugin_id, digest, manifest_digest, school, write, approved_by,
                     approved_at, instance, token_id, terms, awaiting_second)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &a.plugin_id,
                    &a.digest,
                    &a.manifest_digest,
                    &(a.school as i64),
                    &a.write,
                    &a.approved_by,
                    &a.approved_at,
                    &a.instance,
                    &a.token_id,
                    &terms,
                    &a.awaiting_second,
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// A write grant of `digest` for `school` waiting for a second admin.
    pub fn awaiting_second(
        &self,
        plugin_id: &str,
        digest: &str,
        manifest_digest: &str,
        school: u64,
    ) -> Result<Option<(i64, ApprovalRow)>> {
        let (plugin_id, digest) = (plugin_id.to_string(), digest.to_string());
        let manifest_digest = manifest_digest.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt(
                    &format!(
                        "SELECT {APPROVAL_COLUMNS}, seq FROM approvals
                         WHERE plugin_id = $1 AND digest = $2 AND manifest_digest = $3 AND school = $4
                           AND awaiting_second AND revoked_at IS NULL AND disabled_at IS NULL
                         ORDER BY seq DESC LIMIT 1"
                    ),
                    &[&plugin_id, &digest, &manifest_digest, &(school as i64)],
                )
                .await?;
            row.map(|r| Ok((r.get::<_, i64>(12), approval_row(&r)?)))
                .transpose()
        })
    }

    /// Make the waiting write grant `seq` live with `by` as its second
    /// approver; false if it was no longer waiting.
    pub fn approve_second(&self, seq: i64, by: &str) -> Result<bool> {
        let by = by.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n = c
                .execute(
                    "UPDATE approvals SET awaiting_second = false, second_by = $2
                     WHERE seq = $1 AND awaiting_second AND revoked_at IS NULL AND disabled_at IS NULL",
                    &[&seq, &by],
                )
                .await?;
            Ok(n == 1)
        })
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
        let key = key.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt("SELECT value FROM settings WHERE key = $1", &[&key])
                .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    /// Set an institution-wide setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        let (key, value) = (key.to_string(), value.to_string());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&key, &value],
            )
            .await?;
            Ok(())
        })
    }

    /// Record that `name` submitted the component `digest`.
    pub fn record_submitter(&self, digest: &str, name: &str) -> Result<()> {
        let (digest, name) = (digest.to_string(), name.to_string());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                "INSERT INTO plugin_submitters (digest, name) VALUES ($1, $2)
                 ON CONFLICT (digest, name) DO NOTHING",
                &[&digest, &name],
            )
            .await?;
            Ok(())
        })
    }

    /// Everyone who ever submitted the component `digest`.
    pub fn submitters(&self, digest: &str) -> Result<Vec<String>> {
        let digest = digest.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    "SELECT name FROM plugin_submitters WHERE digest = $1 ORDER BY name COLLATE \"C\"",
                    &[&digest],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    /// Revoke the live approvals of plugin `id` (for `schools`, or all);
    /// returns the schools whose approval was revoked.
    pub fn revoke(&self, id: &str, schools: &[u64]) -> Result<Vec<u64>> {
        let live = self.live_schools(id, schools)?;
        let (id, at) = (id.to_string(), easel_store::now());
        let revoked: Vec<i64> = live.iter().map(|s| *s as i64).collect();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                "UPDATE approvals SET revoked_at = $1
                 WHERE plugin_id = $2 AND school = ANY($3) AND revoked_at IS NULL",
                &[&at, &id, &revoked],
            )
            .await?;
            Ok(())
        })?;
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
        let digest = digest.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt(
                    "SELECT p.digest FROM approvals a
                     JOIN plugins p ON p.digest = a.digest
                     JOIN plugins q ON q.digest = $1 AND q.id = p.id
                     WHERE p.seq > q.seq ORDER BY p.seq DESC LIMIT 1",
                    &[&digest],
                )
                .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    /// The newest live approval of plugin `id` for `school`.
    pub fn approval(&self, id: &str, school: u64) -> Result<Option<ApprovalRow>> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt(
                    &format!(
                        "SELECT {APPROVAL_COLUMNS} FROM approvals
                         WHERE plugin_id = $1 AND school = $2 AND revoked_at IS NULL
                           AND disabled_at IS NULL AND NOT awaiting_second
                         ORDER BY seq DESC LIMIT 1"
                    ),
                    &[&id, &(school as i64)],
                )
                .await?;
            row.as_ref().map(approval_row).transpose()
        })
    }

    /// Record a denial.
    pub fn add_denial(&self, d: &DenialRow) -> Result<()> {
        let d = d.clone();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                "INSERT INTO plugin_denials (digest, manifest_digest, plugin_id, denied_by, denied_at, reason)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &d.digest,
                    &d.manifest_digest,
                    &d.plugin_id,
                    &d.denied_by,
                    &d.denied_at,
                    &d.reason,
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// One plugin version's denials, newest first.
    pub fn denials(&self, digest: &str, manifest_digest: &str) -> Result<Vec<DenialRow>> {
        let (digest, manifest_digest) = (digest.to_string(), manifest_digest.to_string());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    "SELECT plugin_id, digest, manifest_digest, denied_by, denied_at, reason
                     FROM plugin_denials WHERE digest = $1 AND manifest_digest = $2 ORDER BY id DESC",
                    &[&digest, &manifest_digest],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| DenialRow {
                    plugin_id: r.get(0),
                    digest: r.get(1),
                    manifest_digest: r.get(2),
                    denied_by: r.get(3),
                    denied_at: r.get(4),
                    reason: r.get(5),
                })
                .collect())
        })
    }

    /// Every approval row of one plugin version, newest first, with its
    /// state: `live`, `awaiting-second`, `revoked` or `disabled`.
    pub fn approval_states(
        &self,
        digest: &str,
        manifest_digest: &str,
    ) -> Result<Vec<(u64, &'static str)>> {
        let (digest, manifest_digest) = (digest.to_string(), manifest_digest.to_string());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    "SELECT school, awaiting_second, revoked_at IS NOT NULL, disabled_at IS NOT NULL
                     FROM approvals WHERE digest = $1 AND manifest_digest = $2 ORDER BY seq DESC",
                    &[&digest, &manifest_digest],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| {
                    let (waiting, revoked, disabled): (bool, bool, bool) =
                        (r.get(1), r.get(2), r.get(3));
                    let state = match (revoked, disabled, waiting) {
                        (true, ..) => "revoked",
                        (false, true, _) => "disabled",
                        (false, false, true) => "awaiting-second",
                        (false, false, false) => "live",
                    };
                    (r.get::<_, i64>(0) as u64, state)
                })
                .collect())
        })
    }

    /// Why no approval of `id` for `school` is live: the newest row's
    /// state (`None`: there never was one).
    pub fn approval_history(&self, id: &str, school: u64) -> Result<Option<ApprovalHistory>> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt(
                    "SELECT approved_by, awaiting_second, revoked_at, disabled_at IS NOT NULL
                     FROM approvals WHERE plugin_id = $1 AND school = $2 ORDER BY seq DESC LIMIT 1",
                    &[&id, &(school as i64)],
                )
                .await?;
            Ok(row.map(|r| {
                let by: String = r.get(0);
                let waiting: bool = r.get(1);
                ApprovalHistory {
                    awaiting_second_after: waiting.then_some(by),
                    revoked_at: r.get(2),
                    disabled: r.get(3),
                }
            }))
        })
    }

    /// Every live approval, newest first.
    pub fn approvals(&self) -> Result<Vec<ApprovalRow>> {
        self.block(|pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    &format!(
                        "SELECT {APPROVAL_COLUMNS} FROM approvals
                         WHERE revoked_at IS NULL AND disabled_at IS NULL AND NOT awaiting_second
                         ORDER BY seq DESC"
                    ),
                    &[],
                )
                .await?;
            rows.iter().map(approval_row).collect()
        })
    }
}
