//! easel's state in PostgreSQL, for many `easel serve` hosts sharing one
//! database: the run queue (claimed with `FOR UPDATE SKIP LOCKED`), the
//! nodes and which of them spends each token (a lease per token, spread
//! by rendezvous hashing), and schedule fires handled once.
//!
//! The interface is synchronous, like the SQLite store's, so the
//! application layer calls either the same way (from blocking code, as it
//! calls SQLite). Underneath, a small runtime of the store's own drives
//! `tokio-postgres` connections from a pool; a call waits for its answer
//! without needing (or disturbing) the caller's runtime.

mod audit;
mod copy;
mod fires;
mod nodes;
mod plugins;
mod run_records;
mod runs;
mod schedules;
mod schema;
mod schools;
mod users;
mod vault;

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use easel_store::{Result, StoreError};

pub use audit::PgAudit;
pub use copy::CopyReport;
pub use nodes::{Lease, NodeRow, Ownership, rendezvous_owner};
pub use runs::Claim;

/// Connections a store keeps open at most.
pub const DEFAULT_POOL: usize = 8;

/// How long the server lets a transaction sit idle before it ends it.
/// No transaction of ours waits on anything but the database.
pub const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(15);

/// How long a statement waits for a lock (the audit log's, a row's), and a
/// call for a pooled connection, before failing.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// easel's state in one PostgreSQL database.
pub struct PgStore {
    pool: Pool,
    /// The store's own runtime (`None` once dropped).
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for PgStore {
    /// Stops the store's runtime without waiting for it: the store may be
    /// dropped on an async task, where waiting is not allowed.
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never shown.
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

impl From<PgError> for StoreError {
    fn from(e: PgError) -> Self {
        db_err(e.0)
    }
}

/// An error from PostgreSQL or the pool, as text (with the server's
/// detail, which `tokio_postgres::Error`'s `Display` leaves out).
#[derive(Debug)]
pub struct PgError(String);

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => PgError(format!("{} ({})", db.message(), db.code().code())),
            None => {
                // "error connecting to server" says little; its cause
                // (refused, timed out, no such host) says what to do.
                let mut text = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    text.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                PgError(text)
            }
        }
    }
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => PgError(format!("could not get a connection: {other}")),
        }
    }
}

/// What a call on the store's runtime answers.
pub(crate) type PgResult<T> = std::result::Result<T, PgError>;

/// A unique violation: the row was there already.
pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

impl PgStore {
    /// Connect to `url` (`postgres://user[:password]@host[:port]/db`) with
    /// a pool of at most `pool` connections, and bring the schema up to
    /// date.
    pub fn connect(url: &str, pool: usize) -> Result<PgStore> {
        let store = PgStore::open(url, pool)?;
        store.migrate()?;
        Ok(store)
    }

    /// Connect without migrating (for `db migrate` to report first).
    pub fn open(url: &str, pool: usize) -> Result<PgStore> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Invalid(format!(
                "not a PostgreSQL URL ({e}): expected postgres://user[:password]@host[:port]/database"
            ))
        })?;
        // No TLS yet: a URL that asks for it is refused rather than sent
        // in the clear (`prefer`, the default, connects without).
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(StoreError::Invalid(
                "the URL asks for TLS (sslmode=require), which easel does not support yet: reach PostgreSQL over a private network with sslmode=disable (docs/DEPLOY.md)".into(),
            ));
        }
        // A host that stalls or is cut off mid-transaction must not hold
        // the others up: the server ends a transaction left idle (its
        // locks, the audit log's among them, go with it), a lock is
        // waited for a bounded time, and a dead peer is noticed by TCP
        // keepalives rather than after hours.
        config
            .options(format!(
                "-c idle_in_transaction_session_timeout={} -c lock_timeout={}",
                IDLE_IN_TRANSACTION.as_millis(),
                LOCK_WAIT.as_millis()
            ))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3)
            .connect_timeout(Duration::from_secs(10));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("easel-pg")
            .enable_all()
            .build()
            .map_err(|e| db_err(format!("could not start the database runtime: {e}")))?;
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            // A connection is checked before it is handed out again, so a
            // broken one is replaced rather than failing a query.
            ManagerConfig {
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool.max(1))
            .wait_timeout(Some(LOCK_WAIT))
            .create_timeout(Some(Duration::from_secs(10)))
            .recycle_timeout(Some(Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(db_err)?;
        let store = PgStore { pool, rt: Some(rt) };
        // Fail now, with the server's reason, not at the first query.
        store.block(|pool| async move {
            let c = pool.get().await?;
            c.simple_query("SELECT 1").await?;
            Ok(())
        })?;
        Ok(store)
    }

    /// Run `f` with the pool on the store's runtime and wait for it. Safe
    /// to call from inside another runtime, even from a task that has
    /// spent its budget (it blocks that thread, as a SQLite call does).
    pub(crate) fn block<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: FnOnce(Pool) -> Fut,
        Fut: Future<Output = PgResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let Some(rt) = &self.rt else {
            return Err(db_err("the database store was closed"));
        };
        let task = rt.spawn(f(self.pool.clone()));
        // Unconstrained: called from a task of another tokio runtime that
        // has spent its cooperative budget, the join handle would answer
        // "not yet" and wake itself for ever (this thread never returns to
        // that runtime to refill the budget).
        match futures::executor::block_on(tokio::task::unconstrained(task)) {
            Ok(r) => r.map_err(Into::into),
            Err(e) => Err(db_err(format!("a database call failed: {e}"))),
        }
    }

    /// The schema version this database is at.
    pub fn schema_version(&self) -> Result<usize> {
        self.block(|pool| async move {
            let c = pool.get().await?;
            let exists: bool = c
                .query_one("SELECT to_regclass('easel_migrations') IS NOT NULL", &[])
                .await?
                .get(0);
            if !exists {
                return Ok(0);
            }
            let row = c
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) FROM easel_migrations",
                    &[],
                )
                .await?;
            Ok(row.get::<_, i64>(0) as usize)
        })
    }

    /// The newest schema version this build knows.
    pub fn latest_version() -> usize {
        schema::MIGRATIONS.len()
    }

    /// Apply the migrations this database lacks, in one transaction
    /// (PostgreSQL's DDL is transactional: all or none), holding an
    /// advisory lock so that nodes starting together apply each once. Returns the versions applied. A database
    /// newer than this build is refused: an older easel must not write to
    /// a schema it does not know.
    pub fn migrate(&self) -> Result<Vec<usize>> {
        let applied = self.block(|pool| async move {
            let mut c = pool.get().await?;
            let mut applied = Vec::new();
            let tx = c.transaction().await?;
            // The lock first: two nodes creating the table at once would
            // collide in PostgreSQL's catalogue even with IF NOT EXISTS.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema::MIGRATION_LOCK])
                .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS easel_migrations (
                     version BIGINT PRIMARY KEY,
                     applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            )
            .await?;
            let current = tx
                .query_one("SELECT COALESCE(MAX(version), 0) FROM easel_migrations", &[])
                .await?
                .get::<_, i64>(0) as usize;
            if current > schema::MIGRATIONS.len() {
                return Err(PgError(format!(
                    "this database is at schema version {current}, newer than this easel knows ({}): upgrade easel on this host",
                    schema::MIGRATIONS.len()
                )));
            }
            for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(current) {
                tx.batch_execute(sql).await?;
                let version = (i + 1) as i64;
                tx.execute("INSERT INTO easel_migrations (version) VALUES ($1)", &[&version])
                    .await?;
                applied.push(i + 1);
            }
            tx.commit().await?;
            Ok(applied)
        })?;
        if !applied.is_empty() {
            tracing::info!(?applied, "PostgreSQL schema migrated");
        }
        Ok(applied)
    }
}
