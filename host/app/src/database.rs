//! Which database holds easel's state: SQLite in the data directory (one
//! host, the default), or PostgreSQL shared by many hosts
//! (`EASEL_DATABASE_URL`, or `easel serve --database`).
//!
//! On PostgreSQL the master key stays the operator's: each host reads it
//! from its own key file (`EASEL_MASTER_KEY_FILE`, or `master.key` in its
//! data directory), never from the database, and a host whose key does
//! not match the database's refuses to start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use easel_store_pg::PgStore;

use crate::error::AppError;

/// The environment variable naming the database.
pub const DATABASE_ENV: &str = "EASEL_DATABASE_URL";

/// The setting a SQLite database copied into PostgreSQL keeps (where to,
/// when): its state lives there now.
pub const COPIED_TO: &str = "copied-to";

/// Connections each process keeps to a PostgreSQL database.
const POOL: usize = 16;

/// Where easel's state is kept.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// `easel.db` in the data directory.
    Sqlite,
    /// A PostgreSQL database, by URL.
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Database {
    /// `sqlite` (or empty) for the data directory's SQLite database, or a
    /// `postgres://` (`postgresql://`) URL.
    pub fn parse(url: &str) -> Result<Self, AppError> {
        let url = url.trim();
        if url.is_empty() || url == "sqlite" {
            return Ok(Database::Sqlite);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        Err(AppError::invalid(format!(
            "{DATABASE_ENV} (or --database) is neither `sqlite` nor a postgres:// URL: expected postgres://user[:password]@host[:port]/database"
        )))
    }

    /// The database `EASEL_DATABASE_URL` names, else SQLite.
    pub fn from_env() -> Result<Self, AppError> {
        match std::env::var(DATABASE_ENV) {
            Ok(url) => Database::parse(&url),
            Err(_) => Ok(Database::Sqlite),
        }
    }

    /// For messages: the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite => "SQLite (easel.db in the data directory)".into(),
            Database::Postgres(url) => redact(url),
        }
    }
}

/// `url` with any password (`user:password@`, or `?password=`) replaced
/// by `***`.
pub fn redact(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return "a PostgreSQL URL that does not parse".into();
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let secret = k.eq_ignore_ascii_case("password") || k.contains("sslpassword");
                (
                    k.into_owned(),
                    if secret { "***".into() } else { v.into_owned() },
                )
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows_wherever_the_url_puts_it() {
        for url in [
            "postgres://easel:hunter2@db.internal:5432/easel",
            "postgres://easel@db.internal/easel?password=hunter2&sslmode=disable",
            "postgresql://easel@db/easel?PASSWORD=hunter2",
        ] {
            let shown = redact(url);
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("db"), "{shown}");
            assert!(!format!("{:?}", Database::parse(url).unwrap()).contains("hunter2"));
        }
        assert!(redact("postgres://easel@db/easel?sslmode=disable").contains("sslmode=disable"));
    }
}

/// This process's store for `url`: one pool per database, shared by
/// every [`crate::Home`] opened on it, migrated when first connected.
pub fn postgres(url: &str) -> Result<Arc<PgStore>, AppError> {
    static POOLS: OnceLock<Mutex<HashMap<String, Arc<PgStore>>>> = OnceLock::new();
    let pools = POOLS.get_or_init(Default::default);
    let mut pools = pools.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(store) = pools.get(url) {
        return Ok(store.clone());
    }
    let store = PgStore::connect(url, POOL).map_err(|e| {
        AppError::invalid(format!(
            "cannot use the PostgreSQL database {}: {e}",
            redact(url)
        ))
    })?;
    let store = Arc::new(store);
    pools.insert(url.to_owned(), store.clone());
    Ok(store)
}

/// What `easel db migrate` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Migrated {
    /// The database (without a password).
    pub database: String,
    /// Its schema version before.
    pub from: usize,
    /// And after.
    pub to: usize,
}

/// Bring `database` (the data directory `root`'s SQLite one, or a
/// PostgreSQL one) up to this build's schema. Nodes starting together
/// are safe: each migration is applied once.
pub fn migrate(root: &std::path::Path, database: &Database) -> Result<Migrated, AppError> {
    match database {
        Database::Sqlite => {
            let db = root.join("easel.db");
            let from = if db.exists() {
                easel_store::schema::version_of(&db)
                    .map_err(|e| AppError::invalid(format!("cannot read {}: {e}", db.display())))?
            } else {
                0
            };
            if !root.exists() {
                return Err(AppError::invalid(format!(
                    "{} does not exist: there is no easel database to migrate",
                    root.display()
                )));
            }
            easel_store::Store::open(&db)
                .map_err(|e| AppError::invalid(format!("cannot migrate {}: {e}", db.display())))?;
            Ok(Migrated {
                database: db.display().to_string(),
                from,
                to: easel_store::schema::latest_version(),
            })
        }
        Database::Postgres(url) => {
            let fail = |e: easel_store::StoreError| {
                AppError::invalid(format!("cannot migrate {}: {e}", redact(url)))
            };
            let store = PgStore::open(url, 1).map_err(fail)?;
            let from = store.schema_version().map_err(fail)?;
            store.migrate().map_err(fail)?;
            Ok(Migrated {
                database: redact(url),
                from,
                to: PgStore::latest_version(),
            })
        }
    }
}

/// What `easel db copy` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Copied {
    /// Where to (without a password).
    pub to: String,
    /// Rows copied, by table.
    pub tables: Vec<(String, u64)>,
    /// Audit records, verified on PostgreSQL after the copy.
    pub audit_records: u64,
    /// The audit chain's head there, as it was in SQLite.
    pub audit_head: String,
    /// Plugin components copied into the database (for the other hosts).
    pub components: usize,
    /// Plugin versions whose component was not in the source's data
    /// directory (their runs will be refused until submitted again).
    pub components_missing: Vec<String>,
}

/// Copy the SQLite database `sqlite` (of the data directory `root`, whose
/// master key keys its audit log) into the empty PostgreSQL database at
/// `url`, then verify the audit log there with that key. Refused,
/// changing nothing, if the source's audit log does not verify; all or
/// nothing if the copy fails.
pub fn copy(
    root: &std::path::Path,
    sqlite: &std::path::Path,
    url: &str,
    by: &crate::Actor,
) -> Result<Copied, AppError> {
    use easel_store::{AuditLog, AuditOptions, Verdict};
    by.require(crate::principal::Act::ManageCredentials)?;
    if !sqlite.exists() {
        return Err(AppError::invalid(format!(
            "{} does not exist: give the SQLite database to copy (--from sqlite:PATH)",
            sqlite.display()
        )));
    }
    // The source's own data directory: its master key, its components.
    let source_dir = sqlite
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let key_path = if source_dir == root {
        easel_vault::Vault::key_path_in(root)
    } else {
        source_dir.join(easel_vault::MASTER_KEY_FILE)
    };
    if !key_path.exists() {
        return Err(AppError::invalid(format!(
            "the master key of {} is not at {}: the copy's tokens are sealed and its audit log keyed with it; put it there (or set EASEL_MASTER_KEY_FILE)",
            sqlite.display(),
            key_path.display()
        )));
    }
    let source = easel_store::Store::open(sqlite)
        .map_err(|e| AppError::invalid(format!("cannot open {}: {e}", sqlite.display())))?;
    let vault = easel_vault::Vault::open_records(Box::new(source), &key_path).map_err(|e| {
        AppError::invalid(format!(
            "cannot open the master key of {} ({e}): the copy's audit log is verified with it",
            sqlite.display()
        ))
    })?;
    let keys = || vault.audit_keys().map_err(AppError::internal);
    let before = AuditLog::open(sqlite, keys()?)?.verify()?;
    let Verdict::Intact { records, head, .. } = before else {
        return Err(AppError::invalid(format!(
            "the audit log of {} does not verify ({before:?}): nothing was copied; see `easel audit verify`",
            sqlite.display()
        )));
    };
    let target = PgStore::connect(url, 2)
        .map_err(|e| AppError::invalid(format!("cannot use {}: {e}", redact(url))))?;
    let report = target
        .copy_from_sqlite(sqlite)
        .map_err(|e| AppError::invalid(format!("nothing was copied: {e}")))?;
    // Components live in the data directory on one host: into the
    // database with them, checked against their digests.
    let (mut components, mut components_missing) = (0, Vec::new());
    for p in target.plugins().map_err(AppError::internal)? {
        let path = source_dir
            .join("components")
            .join(format!("{}.wasm", p.digest));
        match std::fs::read(&path) {
            Ok(bytes)
                if hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)) == p.digest =>
            {
                target
                    .put_component(&p.digest, &bytes)
                    .map_err(AppError::internal)?;
                components += 1;
            }
            _ => components_missing.push(format!("{}@{}", p.id, &p.digest[..12])),
        }
    }
    let after = AuditLog::with_backend(
        Box::new(easel_store_pg::PgAudit::shared(Arc::new(target))),
        keys()?,
        AuditOptions::default(),
    )?
    .verify()?;
    match after {
        Verdict::Intact {
            records: n,
            head: h,
            ..
        } if n == records && h == head => {
            // The SQLite database says where its state went, so that work
            // meant for the shared database is not done on it by mistake.
            if let Ok(source) = easel_store::Store::open(sqlite) {
                let _ = source.set_setting(
                    COPIED_TO,
                    &format!("{} at {}", redact(url), easel_store::now()),
                );
            }
            Ok(Copied {
                to: redact(url),
                tables: report.tables,
                audit_records: n,
                audit_head: h,
                components,
                components_missing,
            })
        }
        other => Err(AppError::internal(anyhow::anyhow!(
            "the copy's audit log does not verify in {} ({other:?}); do not use that database: drop it and copy again",
            redact(url)
        ))),
    }
}
