//! Schema and migrations, versioned with `PRAGMA user_version`.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE plugins (
    digest TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    version TEXT NOT NULL,
    manifest TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    added_at TEXT NOT NULL,
    added_by TEXT NOT NULL
);
CREATE INDEX plugins_by_id ON plugins (id);
CREATE TABLE approvals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    plugin_id TEXT NOT NULL,
    digest TEXT NOT NULL REFERENCES plugins (digest),
    manifest_digest TEXT NOT NULL,
    school INTEGER NOT NULL,
    write INTEGER NOT NULL,
    approved_by TEXT NOT NULL,
    approved_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX approvals_by_plugin ON approvals (plugin_id, school);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    plugin_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    school INTEGER NOT NULL,
    instance TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration_ms INTEGER,
    calls INTEGER NOT NULL DEFAULT 0,
    denied INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    outputs TEXT NOT NULL DEFAULT '[]',
    log TEXT NOT NULL DEFAULT '',
    plan TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX runs_by_start ON runs (started_at);
"#,
    r#"
CREATE TABLE instances (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    copy_of TEXT REFERENCES instances (name),
    created_at TEXT NOT NULL
);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    instance TEXT NOT NULL REFERENCES instances (name),
    kind TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    client_id TEXT,
    sealed BLOB NOT NULL,
    generation INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    rotated_at TEXT,
    last_used_at TEXT,
    expires_at TEXT
);
CREATE TABLE vault_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
ALTER TABLE approvals ADD COLUMN instance TEXT;
ALTER TABLE approvals ADD COLUMN token_id TEXT;
ALTER TABLE approvals ADD COLUMN disabled_at TEXT;
"#,
    r#"
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    instance TEXT,
    school INTEGER,
    plugin TEXT,
    digest TEXT,
    run TEXT,
    method TEXT,
    path TEXT,
    status INTEGER,
    cost REAL,
    token TEXT,
    detail TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_by_time ON audit (at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#,
    r#"
ALTER TABLE approvals ADD COLUMN terms TEXT NOT NULL DEFAULT '{}';
"#,
    // Every Canvas call appends two audit records: an index on time costs
    // each append a third of its time, for exports that are rare.
    r#"
DROP INDEX audit_by_time;
"#,
    r#"
ALTER TABLE approvals ADD COLUMN awaiting_second INTEGER NOT NULL DEFAULT 0;
ALTER TABLE approvals ADD COLUMN second_by TEXT;
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    // A new manifest for a component already stored is a new version.
    r#"
CREATE TABLE plugin_manifests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    digest TEXT NOT NULL REFERENCES plugins (digest),
    id TEXT NOT NULL,
    version TEXT NOT NULL,
    manifest TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    added_at TEXT NOT NULL,
    added_by TEXT NOT NULL,
    UNIQUE (digest, manifest_digest)
);
"#,
    // The audit chain becomes keyed (HMAC-SHA256 under a key derived from
    // the master key): `chain` says how a record's `hash` was computed (0:
    // the old unkeyed SHA-256, 1: HMAC-SHA256 v1), so `prev_hash`/`hash` hold
    // MACs from chain 1 on. Checkpoints sign the head; see audit/mod.rs.
    r#"
ALTER TABLE audit ADD COLUMN chain INTEGER NOT NULL DEFAULT 0;
CREATE TABLE audit_checkpoints (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    head TEXT NOT NULL,
    at TEXT NOT NULL,
    reason TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#,
    // A live run that applies a dry run's plan names it; the unique index
    // makes a plan applicable once, even by two runs started together.
    r#"
ALTER TABLE runs ADD COLUMN applies TEXT;
ALTER TABLE runs ADD COLUMN plan_result TEXT NOT NULL DEFAULT '[]';
CREATE UNIQUE INDEX runs_apply_once ON runs(applies) WHERE applies IS NOT NULL;
"#,
    // Principals: people and scripts, with roles; passwords as argon2id
    // PHC strings, API tokens as the sha256 of their secret. Neither
    // secret is ever stored.
    r#"
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    roles TEXT NOT NULL,
    password_hash TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    disabled_at TEXT
);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users(name),
    label TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    roles TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);
CREATE TABLE sign_in_failures (
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX sign_in_failures_at ON sign_in_failures(at);
"#,
    // The process running a run, so a run whose process died is told from
    // one still going.
    r#"
ALTER TABLE runs ADD COLUMN owner TEXT;
"#,
    // The runs of one `run --schools/--all-schools` command.
    r#"
ALTER TABLE runs ADD COLUMN batch TEXT;
CREATE INDEX runs_by_batch ON runs(batch) WHERE batch IS NOT NULL;
"#,
    // Each school's SIS-id prefix, per instance: a SIS import may create
    // only objects whose SIS id starts with it.
    r#"
CREATE TABLE sis_prefixes (
    instance TEXT NOT NULL,
    school INTEGER NOT NULL,
    prefix TEXT NOT NULL,
    set_at TEXT NOT NULL,
    set_by TEXT NOT NULL,
    PRIMARY KEY (instance, school)
);
"#,
    // Everyone who ever submitted a component: none of them may approve
    // it (the first submitter is also plugins.added_by).
    r#"
CREATE TABLE plugin_submitters (
    digest TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (digest, name)
);
INSERT OR IGNORE INTO plugin_submitters (digest, name) SELECT digest, lower(trim(added_by)) FROM plugins;
INSERT OR IGNORE INTO plugin_submitters (digest, name) SELECT digest, lower(trim(added_by)) FROM plugin_manifests;
"#,
    // Every SIS-id prefix ever set: one a school gave up stays reserved
    // for it.
    r#"
CREATE TABLE sis_prefix_history (
    instance TEXT NOT NULL,
    school INTEGER NOT NULL,
    prefix TEXT NOT NULL,
    set_at TEXT NOT NULL,
    set_by TEXT NOT NULL
);
INSERT INTO sis_prefix_history (instance, school, prefix, set_at, set_by)
    SELECT instance, school, prefix, set_at, set_by FROM sis_prefixes;
"#,
    // One waiting write grant per plugin and school: a second approval
    // completes exactly that one.
    r#"
UPDATE approvals SET revoked_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
 WHERE awaiting_second = 1 AND revoked_at IS NULL AND disabled_at IS NULL
   AND seq NOT IN (SELECT MAX(seq) FROM approvals
                    WHERE awaiting_second = 1 AND revoked_at IS NULL AND disabled_at IS NULL
                    GROUP BY plugin_id, school);
CREATE UNIQUE INDEX approvals_one_waiting ON approvals(plugin_id, school)
 WHERE awaiting_second = 1 AND revoked_at IS NULL AND disabled_at IS NULL;
"#,
    // Sign in with Canvas: each instance's developer key (its secret sealed
    // by the vault), and which easel user each Canvas user is.
    r#"
CREATE TABLE sign_in_keys (
    instance TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    sealed BLOB NOT NULL,
    root_admins_are_district_admins INTEGER NOT NULL DEFAULT 0,
    set_at TEXT NOT NULL,
    set_by TEXT NOT NULL
);
CREATE TABLE canvas_identities (
    instance TEXT NOT NULL,
    canvas_user_id INTEGER NOT NULL,
    user_name TEXT NOT NULL UNIQUE,
    linked_at TEXT NOT NULL,
    PRIMARY KEY (instance, canvas_user_id)
);
"#,
    // The root account a sign-in key's roles are read against (NULL: set
    // before it was kept; the key must be set again).
    r#"
ALTER TABLE sign_in_keys ADD COLUMN root_account_id INTEGER;
"#,
    // Schedules, and each fire time handled (fired, skipped or missed),
    // once: the key makes a fire happen once whoever handles it.
    r#"
CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    plugin_id TEXT NOT NULL,
    schools TEXT NOT NULL,
    all_schools INTEGER NOT NULL,
    cron TEXT NOT NULL,
    tz TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    params TEXT NOT NULL,
    overlap TEXT NOT NULL,
    misfire TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    paused_at TEXT,
    paused_why TEXT,
    handled_until TEXT NOT NULL
);
CREATE TABLE schedule_fires (
    schedule_id TEXT NOT NULL,
    fire_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    batch TEXT,
    detail TEXT,
    at TEXT NOT NULL,
    PRIMARY KEY (schedule_id, fire_at)
);
"#,
    // Who made a schedule: a user (whose roles it runs with at each fire)
    // or a local command on the data directory (a district admin's).
    r#"
ALTER TABLE schedules ADD COLUMN creator_local INTEGER NOT NULL DEFAULT 0;
"#,
    // The run queue: a queued run is a row (status `queued`) that a worker
    // claims, holding a lease (unix milliseconds) it renews while the run
    // goes; `request` is what the worker needs to run it (who asked, the
    // limits, the plan). An interrupted run lists the writes whose outcome
    // is unknown (sent, no answer recorded).
    r#"
ALTER TABLE runs ADD COLUMN lease_until INTEGER;
ALTER TABLE runs ADD COLUMN request TEXT;
ALTER TABLE runs ADD COLUMN unknown TEXT NOT NULL DEFAULT '[]';
ALTER TABLE runs ADD COLUMN writes INTEGER;
CREATE INDEX runs_queued ON runs(status) WHERE status = 'queued';
CREATE INDEX runs_running ON runs(owner) WHERE status = 'running';
"#,
    // A schedule may retry its interrupted read-only runs, once each: the
    // run that retried one is recorded in it.
    r#"
ALTER TABLE schedules ADD COLUMN retry_interrupted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN retried_by TEXT;
"#,
    // A queued run that did not succeed is reported to the failure webhook
    // once, by whichever server claims the report first (`reported_at`),
    // however it ended and whichever process marked it.
    r#"
ALTER TABLE runs ADD COLUMN reported_at TEXT;
CREATE INDEX runs_unreported ON runs(finished_at)
    WHERE reported_at IS NULL AND request IS NOT NULL
      AND status IN ('failed', 'refused', 'timed-out', 'memory-limit', 'interrupted');
"#,
    // An approver may deny a plugin version, with a reason its submitter
    // sees.
    r#"
CREATE TABLE plugin_denials (
    digest TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    plugin_id TEXT NOT NULL,
    denied_by TEXT NOT NULL,
    denied_at TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX plugin_denials_of ON plugin_denials(digest, manifest_digest);
"#,
    // A web console session is an API token the API refuses: it works only
    // in the console, which ends it when idle.
    r#"
ALTER TABLE api_tokens ADD COLUMN console INTEGER NOT NULL DEFAULT 0;
"#,
    // The token a run spends: with many hosts, only the host holding that
    // token's lease runs it (kept here too, so `db copy` carries it).
    r#"
ALTER TABLE runs ADD COLUMN token TEXT;
"#,
];

/// The triggers that refuse updates to the audit tables (recreated after
/// `vault rekey` re-MACs the log).
pub(crate) const AUDIT_NO_UPDATE_TRIGGERS: &str = "
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
";

/// The newest schema version this build knows.
pub fn latest_version() -> usize {
    MIGRATIONS.len()
}

/// The schema version of the SQLite database at `path` (0: new).
pub fn version_of(path: &std::path::Path) -> rusqlite::Result<usize> {
    let conn = Connection::open(path)?;
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize)
}

pub(crate) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let current: usize =
        conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
