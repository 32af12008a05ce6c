//! `easel db copy`: an existing SQLite installation moved into an empty
//! PostgreSQL database, table by table and row by row, in one
//! transaction (all or nothing).
//!
//! Columns are matched by name; each value is converted to the
//! PostgreSQL column's type (SQLite's 0/1 flags to booleans, blobs to
//! bytea). Sequence numbers are kept as they were (the audit chain's
//! `seq` is part of every MAC), and each identity column's sequence is
//! moved past the highest copied value. The queue's order (SQLite's
//! rowid) becomes `runs.seq`. The caller verifies the audit log after the
//! copy, with the master key.

use std::path::Path;

use easel_store::{Result, StoreError};
use tokio_postgres::types::ToSql;

use crate::{PgError, PgResult, PgStore};

/// The tables copied, parents before children (foreign keys).
const TABLES: &[&str] = &[
    "settings",
    "vault_meta",
    "instances",
    "tokens",
    "plugins",
    "plugin_manifests",
    "plugin_submitters",
    "plugin_denials",
    "approvals",
    "users",
    "api_tokens",
    "sign_in_failures",
    "sign_in_keys",
    "canvas_identities",
    "sis_prefixes",
    "sis_prefix_history",
    "schedules",
    "schedule_fires",
    "runs",
    "audit",
    "audit_checkpoints",
];

/// Rows copied, by table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// (table, rows), in copy order.
    pub tables: Vec<(String, u64)>,
}

impl CopyReport {
    /// Rows copied in `table`.
    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|(t, _)| t == table)
            .map_or(0, |(_, n)| *n)
    }
}

/// A value on its way from SQLite to PostgreSQL.
#[derive(Debug)]
enum Value {
    /// A NULL of the column's type (PostgreSQL checks a NULL's type too).
    Null(&'static (dyn ToSql + Sync)),
    Int(i64),
    Bool(bool),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Value::Null(typed) => *typed,
            Value::Int(v) => v,
            Value::Bool(v) => v,
            Value::Real(v) => v,
            Value::Text(v) => v,
            Value::Bytes(v) => v,
        }
    }
}

static NULL_INT: Option<i64> = None;
static NULL_BOOL: Option<bool> = None;
static NULL_REAL: Option<f64> = None;
static NULL_TEXT: Option<String> = None;
static NULL_BYTES: Option<Vec<u8>> = None;

/// A PostgreSQL column: name, type and whether it is an identity.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    ty: String,
    identity: bool,
}

fn convert(
    table: &str,
    col: &Column,
    v: rusqlite::types::Value,
) -> std::result::Result<Value, String> {
    use rusqlite::types::Value as S;
    let bad = |what: &str| {
        format!(
            "{table}.{}: {what} cannot go into a {} column",
            col.name, col.ty
        )
    };
    Ok(match (col.ty.as_str(), v) {
        (ty, S::Null) => Value::Null(match ty {
            "boolean" => &NULL_BOOL,
            "double precision" => &NULL_REAL,
            "text" => &NULL_TEXT,
            "bytea" => &NULL_BYTES,
            _ => &NULL_INT,
        }),
        ("bigint" | "integer", S::Integer(i)) => Value::Int(i),
        ("boolean", S::Integer(i)) => Value::Bool(i != 0),
        ("double precision", S::Real(r)) => Value::Real(r),
        ("double precision", S::Integer(i)) => Value::Real(i as f64),
        ("text", S::Text(t)) => Value::Text(t),
        ("text", S::Integer(i)) => Value::Text(i.to_string()),
        ("bytea", S::Blob(b)) => Value::Bytes(b),
        ("bytea", S::Text(t)) => Value::Bytes(t.into_bytes()),
        (_, S::Integer(_)) => return Err(bad("an integer")),
        (_, S::Real(_)) => return Err(bad("a real")),
        (_, S::Text(_)) => return Err(bad("text")),
        (_, S::Blob(_)) => return Err(bad("a blob")),
    })
}

impl PgStore {
    /// Copy everything in the SQLite database at `sqlite` (opened and
    /// migrated first by the caller) into this database, which must be
    /// empty. One transaction.
    pub fn copy_from_sqlite(&self, sqlite: &Path) -> Result<CopyReport> {
        let src = rusqlite::Connection::open_with_flags(
            sqlite,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        // The target's columns, and that it is empty.
        let tables: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
        let (columns, occupied) = self.block(move |pool| async move {
            let c = pool.get().await?;
            let mut columns = Vec::new();
            let mut occupied = Vec::new();
            for t in &tables {
                let rows = c
                    .query(
                        "SELECT column_name, data_type, is_identity = 'YES'
                         FROM information_schema.columns
                         WHERE table_schema = current_schema() AND table_name = $1
                         ORDER BY ordinal_position",
                        &[t],
                    )
                    .await?;
                columns.push(
                    rows.iter()
                        .map(|r| Column {
                            name: r.get(0),
                            ty: r.get(1),
                            identity: r.get(2),
                        })
                        .collect::<Vec<_>>(),
                );
                let any: bool = c
                    .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {t})"), &[])
                    .await?
                    .get(0);
                if any {
                    occupied.push(t.clone());
                }
            }
            Ok((columns, occupied))
        })?;
        if !occupied.is_empty() {
            return Err(StoreError::Invalid(format!(
                "the PostgreSQL database is not empty (it has rows in {}): copy into a new database",
                occupied.join(", ")
            )));
        }
        // Read every table (the rows go over in one transaction below).
        let mut batches = Vec::new();
        for (table, cols) in TABLES.iter().zip(&columns) {
            let have: Vec<String> = src
                .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?
                .query_map([], |r| r.get(0))?
                .collect::<std::result::Result<_, _>>()?;
            // runs.seq is the queue order: SQLite's rowid.
            let mut picked: Vec<(Column, String)> = Vec::new();
            for col in cols {
                // Columns SQLite keeps as its rowid: the queue's order, and
                // the order of arrival.
                let from_rowid = matches!(
                    (*table, col.name.as_str()),
                    ("runs" | "plugins", "seq") | ("sign_in_failures" | "plugin_denials", "id")
                );
                if have.contains(&col.name) {
                    picked.push((col.clone(), format!("\"{}\"", col.name)));
                } else if from_rowid {
                    picked.push((col.clone(), "rowid".into()));
                }
            }
            if let Some(missing) = have.iter().find(|h| !cols.iter().any(|c| &c.name == *h)) {
                return Err(StoreError::Invalid(format!(
                    "{table}.{missing} in the SQLite database has no place in PostgreSQL: is this easel older than the database?"
                )));
            }
            let select = format!(
                "SELECT {} FROM {table} ORDER BY rowid",
                picked
                    .iter()
                    .map(|(_, e)| e.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut stmt = src.prepare(&select)?;
            let mut rows = stmt.query([])?;
            let mut values: Vec<Vec<Value>> = Vec::new();
            while let Some(row) = rows.next()? {
                let mut out = Vec::with_capacity(picked.len());
                for (i, (col, _)) in picked.iter().enumerate() {
                    let v: rusqlite::types::Value = row.get(i)?;
                    out.push(convert(table, col, v).map_err(StoreError::Invalid)?);
                }
                values.push(out);
            }
            let cols: Vec<Column> = picked.into_iter().map(|(c, _)| c).collect();
            batches.push((table.to_string(), cols, values));
        }
        self.block(move |pool| async move { insert_all(pool, batches).await })
    }
}

async fn insert_all(
    pool: deadpool_postgres::Pool,
    batches: Vec<(String, Vec<Column>, Vec<Vec<Value>>)>,
) -> PgResult<CopyReport> {
    let mut c = pool.get().await?;
    let tx = c.transaction().await?;
    let mut report = CopyReport::default();
    for (table, cols, rows) in &batches {
        if !rows.is_empty() {
            let names: Vec<String> = cols.iter().map(|c| format!("\"{}\"", c.name)).collect();
            let marks: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
            let overriding = if cols.iter().any(|c| c.identity) {
                " OVERRIDING SYSTEM VALUE"
            } else {
                ""
            };
            let stmt = tx
                .prepare(&format!(
                    "INSERT INTO {table} ({}){overriding} VALUES ({})",
                    names.join(", "),
                    marks.join(", ")
                ))
                .await?;
            for row in rows {
                let args: Vec<&(dyn ToSql + Sync)> = row.iter().map(Value::as_sql).collect();
                tx.execute(&stmt, &args)
                    .await
                    .map_err(|e| PgError(format!("copying {table}: {}", PgError::from(e).0)))?;
            }
        }
        // Identity columns continue after the highest copied value.
        for col in cols.iter().filter(|c| c.identity) {
            tx.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', '{0}'),
                                   COALESCE((SELECT MAX(\"{0}\") FROM {table}), 0) + 1, false)",
                    col.name
                ),
                &[],
            )
            .await?;
        }
        report.tables.push((table.clone(), rows.len() as u64));
    }
    tx.commit().await?;
    Ok(report)
}
