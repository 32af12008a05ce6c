//! The audit log as a service: verify it (and a witness file), read its
//! records, sign a checkpoint; for those who may read the audit log.

use std::path::Path;

use easel_store::{AuditFilter, AuditRecord, Checkpoint, Verdict, WitnessVerdict};

use crate::error::AppError;
use crate::home::Home;
use crate::principal::{Act, Actor};

/// What `verify` proved.
#[derive(Debug)]
pub struct Verification {
    /// The log itself: every MAC, link and checkpoint in the database.
    pub log: Verdict,
    /// A witness file's checkpoints against the log, if one was given.
    pub witness: Option<WitnessVerdict>,
}

impl Verification {
    /// Intact, and consistent with the witness if one was checked.
    pub fn ok(&self) -> bool {
        matches!(self.log, Verdict::Intact { .. })
            && !matches!(self.witness, Some(WitnessVerdict::Failed { .. }))
    }
}

/// Verify the log, and `witness` against it.
pub fn verify(home: &Home, by: &Actor, witness: Option<&Path>) -> Result<Verification, AppError> {
    by.require(Act::ReadAudit)?;
    Ok(Verification {
        log: home.audit.verify()?,
        witness: match witness {
            Some(path) => Some(home.audit.verify_witness(path)?),
            None => None,
        },
    })
}

/// Records matching `filter`, oldest first, at most `limit`.
pub fn records(
    home: &Home,
    by: &Actor,
    filter: &AuditFilter,
    limit: Option<usize>,
) -> Result<Vec<AuditRecord>, AppError> {
    by.require(Act::ReadAudit)?;
    Ok(home.audit.records(filter, limit)?)
}

/// The last `n` records, oldest first.
pub fn last(home: &Home, by: &Actor, n: usize) -> Result<Vec<AuditRecord>, AppError> {
    by.require(Act::ReadAudit)?;
    Ok(home.audit.last(n)?)
}

/// Sign the head of the log now (`None`: the newest checkpoint covers it).
pub fn checkpoint(home: &Home, by: &Actor) -> Result<Option<Checkpoint>, AppError> {
    by.require(Act::ReadAudit)?;
    Ok(home
        .audit
        .checkpoint(easel_store::checkpoint::reason::MANUAL)?)
}
