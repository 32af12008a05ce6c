//! Signed checkpoints of the audit chain, in the database and in a witness
//! file kept elsewhere.
//!
//! Threat: a log cut short or a database rolled back to an earlier copy.
//! A MAC chain alone cannot show that records are missing at its end; a
//! checkpoint signs `(sequence, head MAC, time)`, and a witness file that
//! the database's holders cannot rewrite keeps every checkpoint, so `verify
//! --witness` notices a log that no longer holds what was once signed.

use std::io::Write as _;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::keys::AuditKeys;
use crate::{Result, StoreError};

/// Why a checkpoint was made.
pub mod reason {
    /// `every_records` records since the last one.
    pub const COUNT: &str = "count";
    /// `every` minutes since the last one (checked on append).
    pub const TIME: &str = "time";
    /// A run ended.
    pub const RUN_END: &str = "run-end";
    /// Records written with the old unkeyed chain were verified and sealed.
    pub const SEAL_LEGACY: &str = "seal-legacy";
    /// Asked for (`easel audit checkpoint`, tests).
    pub const MANUAL: &str = "manual";
    /// The master key changed and the log was re-MACed under the new one.
    pub const REKEY: &str = "rekey";
}

/// A signed statement that the chain held `head` at record `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The record it covers (with every record before it).
    pub seq: u64,
    /// That record's MAC (or, for sealed legacy records, its unkeyed hash).
    pub head: String,
    /// When it was signed (RFC 3339, UTC).
    pub at: String,
    /// Why (see [`reason`]).
    pub reason: String,
    /// The Ed25519 verifying key, hex.
    pub key: String,
    /// The Ed25519 signature over [`Checkpoint::message`], hex.
    pub sig: String,
}

impl Checkpoint {
    /// Sign a checkpoint of `head` at `seq`.
    pub(crate) fn sign(keys: &AuditKeys, seq: u64, head: &str, reason: &str) -> Self {
        let at = crate::now();
        let sig = keys.sign(&message(seq, head, &at, reason));
        Self {
            seq,
            head: head.to_owned(),
            at,
            reason: reason.to_owned(),
            key: keys.public_key(),
            sig,
        }
    }

    /// The bytes the signature covers.
    pub fn message(&self) -> Vec<u8> {
        message(self.seq, &self.head, &self.at, &self.reason)
    }

    /// A short description for messages: `record 12 (run-end, 2026-...)`.
    pub fn describe(&self) -> String {
        format!("record {} ({}, {})", self.seq, self.reason, self.at)
    }
}

fn message(seq: u64, head: &str, at: &str, reason: &str) -> Vec<u8> {
    format!("easel audit checkpoint v1\n{seq}\n{head}\n{at}\n{reason}").into_bytes()
}

/// The newest checkpoint in the database.
pub(crate) fn latest(conn: &Connection) -> Result<Option<Checkpoint>> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} ORDER BY id DESC LIMIT 1"))?
        .query_row([], row)
        .optional()?)
}

/// Every checkpoint in the database, oldest first, with its row id.
pub(crate) fn all(conn: &Connection) -> Result<Vec<(i64, Checkpoint)>> {
    let mut stmt = conn.prepare(&format!("{SELECT_WITH_ID} ORDER BY id"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, row_from(r, 1)?)))?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(rows)
}

const SELECT: &str = "SELECT seq, head, at, reason, public_key, signature FROM audit_checkpoints";
const SELECT_WITH_ID: &str =
    "SELECT id, seq, head, at, reason, public_key, signature FROM audit_checkpoints";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Checkpoint> {
    row_from(r, 0)
}

/// A checkpoint from the row's columns starting at `first`.
fn row_from(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Checkpoint> {
    Ok(Checkpoint {
        seq: r.get::<_, i64>(first)? as u64,
        head: r.get(first + 1)?,
        at: r.get(first + 2)?,
        reason: r.get(first + 3)?,
        key: r.get(first + 4)?,
        sig: r.get(first + 5)?,
    })
}

/// Store a checkpoint in the database.
pub(crate) fn insert(conn: &Connection, c: &Checkpoint) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit_checkpoints (seq, head, at, reason, public_key, signature)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![c.seq as i64, c.head, c.at, c.reason, c.key, c.sig])?;
    Ok(())
}

/// Append a checkpoint to the witness file as one JSON line (creating the
/// file and its directory). One `write` in append mode, so lines from
/// concurrent processes do not interleave.
pub(crate) fn witness_append(path: &Path, c: &Checkpoint) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_string(c).map_err(std::io::Error::other)?;
    line.push('\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(line.as_bytes())
}

/// One line of a witness file: its number (from 1) and what it holds.
pub type WitnessLine = (usize, std::result::Result<Checkpoint, String>);

/// Read a witness file: each non-empty line parsed, or why it is not a
/// checkpoint.
pub fn witness_read(path: &Path) -> Result<Vec<WitnessLine>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        StoreError::Invalid(format!(
            "cannot read the witness file {}: {e}",
            path.display()
        ))
    })?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            (
                i + 1,
                serde_json::from_str::<Checkpoint>(l).map_err(|e| e.to_string()),
            )
        })
        .collect())
}

/// Does the witness file hold at least one line?
pub(crate) fn witness_has_lines(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.lines().any(|l| !l.trim().is_empty()))
}
