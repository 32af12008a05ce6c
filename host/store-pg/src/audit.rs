//! The audit log on PostgreSQL: one chain for every node, kept by the
//! same [`easel_store::AuditLog`] as on SQLite (its MACs, group commits,
//! signed checkpoints and verification), over this backend.
//!
//! Appends from every node are serialised by a transaction-scoped
//! advisory lock taken before the head is read, so the sequence has no
//! gaps and each record links to the one before, whichever node wrote
//! it. Checkpoints take the same lock. Triggers refuse updates, deletes
//! and truncation of both tables (schema.rs); a rewrite by whoever owns
//! the database is caught by the MACs and signatures, whose keys never
//! enter the database.

use deadpool_postgres::Object;
use easel_store::{
    AuditBackend, AuditFilter, AuditRecord, BuildRecords, Checkpoint, DecideCheckpoint, GENESIS,
    Result,
};
use tokio_postgres::Row;

use crate::{PgError, PgResult, PgStore};

/// The advisory lock key every append and checkpoint holds.
const AUDIT_LOCK: i64 = 0x6561_7365_6c00_0002;

/// Records read per round trip when scanning the whole log.
const SCAN_CHUNK: i64 = 5_000;

const COLUMNS: &str = "seq, at, actor, action, instance, school, plugin, digest, run, method, path, status, cost, token, detail, prev_hash, hash, chain";

const INSERT: &str = "INSERT INTO audit (seq, at, actor, action, instance, school, plugin, digest, run, method, path, status, cost, token, detail, prev_hash, hash, chain) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";

const CHECKPOINT_COLUMNS: &str = "id, seq, head, at, reason, public_key, signature";

fn record(r: &Row) -> AuditRecord {
    AuditRecord {
        seq: r.get::<_, i64>(0).max(0) as u64,
        at: r.get(1),
        actor: r.get(2),
        action: r.get(3),
        instance: r.get(4),
        school: r.get::<_, Option<i64>>(5).map(|s| s as u64),
        plugin: r.get(6),
        digest: r.get(7),
        run: r.get(8),
        method: r.get(9),
        path: r.get(10),
        status: r.get::<_, Option<i64>>(11).map(|s| s.clamp(0, 999) as u16),
        cost: r.get(12),
        token: r.get(13),
        detail: r.get(14),
        prev_hash: r.get(15),
        hash: r.get(16),
        chain: r.get::<_, i64>(17).clamp(0, 255) as u8,
    }
}

fn checkpoint(r: &Row) -> (i64, Checkpoint) {
    (
        r.get(0),
        Checkpoint {
            seq: r.get::<_, i64>(1).max(0) as u64,
            head: r.get(2),
            at: r.get(3),
            reason: r.get(4),
            key: r.get(5),
            sig: r.get(6),
        },
    )
}

/// The audit tables of one PostgreSQL database.
pub struct PgAudit {
    store: std::sync::Arc<PgStore>,
}

impl std::fmt::Debug for PgAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgAudit").finish_non_exhaustive()
    }
}

/// Begin a transaction on `c` holding the audit lock; the head (0 and
/// [`GENESIS`] when empty).
async fn begin_locked(c: &Object) -> PgResult<(u64, String)> {
    c.batch_execute("BEGIN").await?;
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
        .await?;
    let head = c
        .query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])
        .await?;
    Ok(match head {
        Some(r) => (r.get::<_, i64>(0).max(0) as u64, r.get(1)),
        None => (0, GENESIS.to_owned()),
    })
}

impl PgAudit {
    /// The audit log of the database at `url` (connect a [`PgStore`]
    /// first: it creates the tables), with two connections of its own.
    pub fn open(url: &str) -> Result<Self> {
        Ok(Self {
            store: std::sync::Arc::new(PgStore::open(url, 2)?),
        })
    }

    /// The audit log of `store`'s database, on its pool.
    pub fn shared(store: std::sync::Arc<PgStore>) -> Self {
        Self { store }
    }

    /// A connection out of the pool, held across several calls (one
    /// transaction).
    fn connection(&self) -> Result<Object> {
        self.store
            .block(|pool| async move { Ok(pool.get().await?) })
    }

    /// Run `f` on a held connection; on error the connection is closed,
    /// never returned to the pool inside a transaction.
    fn on<T, F, Fut>(&self, c: Object, f: F) -> Result<(Object, T)>
    where
        F: FnOnce(Object) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = (Object, PgResult<T>)> + Send + 'static,
        T: Send + 'static,
    {
        let (c, r) = self.store.block(move |_| async move { Ok(f(c).await) })?;
        match r {
            Ok(v) => Ok((c, v)),
            Err(e) => {
                drop(Object::take(c));
                Err(e.into())
            }
        }
    }

    fn query(&self, sql: String, args: Vec<Arg>) -> Result<Vec<Row>> {
        self.store.block(move |pool| async move {
            let c = pool.get().await?;
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                args.iter().map(Arg::as_sql).collect();
            Ok(c.query(&sql, &refs).await?)
        })
    }
}

/// An owned query argument (moved onto the store's runtime).
enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
}

impl Arg {
    fn as_sql(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        match self {
            Arg::Int(v) => v,
            Arg::Text(v) => v,
        }
    }
}

impl AuditBackend for PgAudit {
    fn append(&mut self, build: &mut BuildRecords<'_>) -> Result<Vec<u64>> {
        let c = self.connection()?;
        let (c, (seq, prev)) = self.on(c, move |c| async move {
            let r = begin_locked(&c).await;
            (c, r)
        })?;
        let recs = match build(seq, &prev) {
            Ok(recs) => recs,
            Err(e) => {
                drop(Object::take(c));
                return Err(e);
            }
        };
        let seqs: Vec<u64> = recs.iter().map(|r| r.seq).collect();
        let (c, ()) = self.on(c, move |c| async move {
            let r = insert_and_commit(&c, recs).await;
            (c, r)
        })?;
        drop(c);
        Ok(seqs)
    }

    fn checkpoint_head(&mut self, decide: &mut DecideCheckpoint<'_>) -> Result<Option<Checkpoint>> {
        let c = self.connection()?;
        let (c, (seq, head, latest, empty)) = self.on(c, move |c| async move {
            let r = async {
                let (seq, head) = begin_locked(&c).await?;
                let latest = c
                    .query_opt(
                        &format!(
                            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY id DESC LIMIT 1"
                        ),
                        &[],
                    )
                    .await?
                    .map(|r| checkpoint(&r).1);
                Ok((seq, head, latest, seq == 0))
            }
            .await;
            (c, r)
        })?;
        let made = if empty {
            None
        } else {
            decide(seq, &head, latest.as_ref())
        };
        let Some(cp) = made else {
            let _ = self.on(c, move |c| async move {
                let r = c.batch_execute("ROLLBACK").await.map_err(PgError::from);
                (c, r)
            })?;
            return Ok(None);
        };
        let stored = cp.clone();
        let (c, ()) = self.on(c, move |c| async move {
            let r = async {
                c.execute(
                    "INSERT INTO audit_checkpoints (seq, head, at, reason, public_key, signature)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &(stored.seq as i64),
                        &stored.head,
                        &stored.at,
                        &stored.reason,
                        &stored.key,
                        &stored.sig,
                    ],
                )
                .await?;
                c.batch_execute("COMMIT").await?;
                Ok(())
            }
            .await;
            (c, r)
        })?;
        drop(c);
        Ok(Some(cp))
    }

    fn latest_checkpoint(&mut self) -> Result<Option<Checkpoint>> {
        let rows = self.query(
            format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY id DESC LIMIT 1"),
            vec![],
        )?;
        Ok(rows.first().map(|r| checkpoint(r).1))
    }

    fn checkpoints(&mut self) -> Result<Vec<(i64, Checkpoint)>> {
        let rows = self.query(
            format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY id"),
            vec![],
        )?;
        Ok(rows.iter().map(checkpoint).collect())
    }

    fn records(&mut self, filter: &AuditFilter, limit: Option<usize>) -> Result<Vec<AuditRecord>> {
        let rows = self.query(
            format!(
                "SELECT {COLUMNS} FROM audit
                 WHERE ($1::text IS NULL OR at COLLATE \"C\" >= $1) AND ($2::text IS NULL OR plugin = $2)
                   AND ($3::bigint IS NULL OR school = $3) AND ($4::bigint IS NULL OR seq > $4)
                   AND ($6::text IS NULL OR at COLLATE \"C\" < $6) AND ($7::text IS NULL OR run = $7)
                   AND ($8::text IS NULL OR strpos(actor, $8) > 0)
                   AND ($9::text IS NULL OR action = $9)
                 ORDER BY seq LIMIT $5"
            ),
            vec![
                Arg::Text(filter.since.clone()),
                Arg::Text(filter.plugin.clone()),
                Arg::Int(filter.school.map(|s| s as i64)),
                Arg::Int(filter.after_seq.map(|s| s as i64)),
                Arg::Int(limit.map(|l| l as i64)),
                Arg::Text(filter.until.clone()),
                Arg::Text(filter.run.clone()),
                Arg::Text(filter.actor.clone()),
                Arg::Text(filter.action.clone()),
            ],
        )?;
        Ok(rows.iter().map(record).collect())
    }

    fn last(&mut self, n: usize) -> Result<Vec<AuditRecord>> {
        let rows = self.query(
            format!(
                "SELECT {COLUMNS} FROM (SELECT {COLUMNS} FROM audit ORDER BY seq DESC LIMIT $1) r ORDER BY seq"
            ),
            vec![Arg::Int(Some(n as i64))],
        )?;
        Ok(rows.iter().map(record).collect())
    }

    fn scan(&mut self, visit: &mut dyn FnMut(AuditRecord) -> Result<bool>) -> Result<()> {
        // In `seq` order (the key: PostgreSQL has no storage order to
        // keep), a chunk per round trip.
        let mut after = 0i64;
        loop {
            let rows = self.query(
                format!("SELECT {COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"),
                vec![Arg::Int(Some(after)), Arg::Int(Some(SCAN_CHUNK))],
            )?;
            for r in &rows {
                let rec = record(r);
                after = rec.seq as i64;
                if !visit(rec)? {
                    return Ok(());
                }
            }
            if (rows.len() as i64) < SCAN_CHUNK {
                return Ok(());
            }
        }
    }

    fn scan_action_newest(
        &mut self,
        action: &str,
        visit: &mut dyn FnMut(AuditRecord) -> Result<bool>,
    ) -> Result<()> {
        let rows = self.query(
            format!("SELECT {COLUMNS} FROM audit WHERE action = $1 ORDER BY seq DESC"),
            vec![Arg::Text(Some(action.to_owned()))],
        )?;
        for r in &rows {
            if !visit(record(r))? {
                break;
            }
        }
        Ok(())
    }

    fn hash_at(&mut self, seq: u64) -> Result<Option<String>> {
        let rows = self.query(
            "SELECT hash FROM audit WHERE seq = $1".into(),
            vec![Arg::Int(Some(seq as i64))],
        )?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn end(&mut self) -> Result<u64> {
        let rows = self.query("SELECT COALESCE(MAX(seq), 0) FROM audit".into(), vec![])?;
        Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0).max(0) as u64))
    }

    fn legacy_state(&mut self, reason: &str, chain: u8) -> Result<(Option<u8>, bool)> {
        let first = self.query(
            "SELECT chain FROM audit ORDER BY seq LIMIT 1".into(),
            vec![],
        )?;
        let other = self.query(
            "SELECT EXISTS (SELECT 1 FROM audit_checkpoints WHERE reason = $1)
                 OR EXISTS (SELECT 1 FROM audit WHERE chain != $2)"
                .into(),
            vec![
                Arg::Text(Some(reason.to_owned())),
                Arg::Int(Some(i64::from(chain))),
            ],
        )?;
        Ok((
            first
                .first()
                .map(|r| r.get::<_, i64>(0).clamp(0, 255) as u8),
            other.first().is_some_and(|r| r.get(0)),
        ))
    }
}

/// Insert `recs` (one pipelined round trip) and commit.
async fn insert_and_commit(c: &Object, recs: Vec<AuditRecord>) -> PgResult<()> {
    let stmt = c.prepare_cached(INSERT).await?;
    let inserts = recs.iter().map(|rec| {
        let school = rec.school.map(|s| s as i64);
        let status = rec.status.map(i64::from);
        let chain = i64::from(rec.chain);
        let seq = rec.seq as i64;
        let stmt = &stmt;
        async move {
            c.execute(
                stmt,
                &[
                    &seq,
                    &rec.at,
                    &rec.actor,
                    &rec.action,
                    &rec.instance,
                    &school,
                    &rec.plugin,
                    &rec.digest,
                    &rec.run,
                    &rec.method,
                    &rec.path,
                    &status,
                    &rec.cost,
                    &rec.token,
                    &rec.detail,
                    &rec.prev_hash,
                    &rec.hash,
                    &chain,
                ],
            )
            .await
        }
    });
    futures::future::try_join_all(inserts).await?;
    c.batch_execute("COMMIT").await?;
    Ok(())
}
