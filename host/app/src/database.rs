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

/// `url` with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "a PostgreSQL URL that does not parse".into(),
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
