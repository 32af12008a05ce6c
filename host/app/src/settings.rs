//! Institution-wide settings: what they are, and changing them (audited).

use std::path::PathBuf;

use easel_store::{Action, AuditEntry};
use serde::Serialize;

use crate::error::AppError;
use crate::home::{AUDIT_WITNESS, Home};
use crate::plugins::WRITE_APPROVERS;
use crate::principal::{Act, Actor};
use crate::run::{DEFAULT_PLAN_EXPIRY_HOURS, PLAN_EXPIRY_HOURS};

/// The settings as they stand.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Admins who approve a grant with write access: 1 or 2.
    #[serde(rename = "write-approvers")]
    pub write_approvers: String,
    /// Hours a dry run's plan may wait to be applied.
    #[serde(rename = "plan-expiry-hours")]
    pub plan_expiry_hours: String,
    /// Where audit checkpoints are also written.
    #[serde(rename = "audit-witness")]
    pub audit_witness: Option<PathBuf>,
    /// Is the witness the default, beside the database?
    #[serde(skip)]
    pub witness_is_default: bool,
}

/// The settings.
pub fn show(home: &Home) -> Result<Settings, AppError> {
    Ok(Settings {
        write_approvers: home
            .store
            .setting(WRITE_APPROVERS)?
            .unwrap_or_else(|| "1".into()),
        plan_expiry_hours: home
            .store
            .setting(PLAN_EXPIRY_HOURS)?
            .unwrap_or_else(|| DEFAULT_PLAN_EXPIRY_HOURS.to_string()),
        audit_witness: home.audit.witness().map(std::path::Path::to_path_buf),
        witness_is_default: home.store.setting(AUDIT_WITNESS)?.is_none(),
    })
}

/// Set `key` to `value`; the value as stored.
pub fn set(home: &Home, by: &Actor, key: &str, value: &str) -> Result<String, AppError> {
    by.require(Act::ChangeSettings)?;
    let value = match key {
        WRITE_APPROVERS => {
            if !matches!(value, "1" | "2") {
                return Err(AppError::invalid(format!(
                    "{WRITE_APPROVERS} is 1 or 2, not {value:?}"
                )));
            }
            value.to_owned()
        }
        AUDIT_WITNESS => witness(value)?,
        PLAN_EXPIRY_HOURS => match value.parse::<u64>() {
            Ok(h) if (1..=24 * 365).contains(&h) => h.to_string(),
            _ => {
                return Err(AppError::invalid(format!(
                    "{PLAN_EXPIRY_HOURS} is a whole number of hours from 1 to 8760, not {value:?}"
                )));
            }
        },
        _ => {
            return Err(AppError::invalid(format!(
                "unknown setting {key:?}: the settings are {WRITE_APPROVERS}, {AUDIT_WITNESS} and {PLAN_EXPIRY_HOURS}"
            )));
        }
    };
    home.audit(&AuditEntry {
        detail: Some(format!("setting {key} = {value}")),
        ..AuditEntry::new(by.audit_name(), Action::SettingChanged)
    })?;
    home.store.set_setting(key, &value)?;
    Ok(value)
}

/// A witness file easel can append to, as an absolute path.
fn witness(value: &str) -> Result<String, AppError> {
    let path = std::path::absolute(value)
        .map_err(|e| AppError::invalid(format!("{AUDIT_WITNESS} {value:?}: {e}")))?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| {
            AppError::invalid(format!(
                "{AUDIT_WITNESS}: cannot append to {}: {e}",
                path.display()
            ))
        })?;
    Ok(path.display().to_string())
}

/// Write a consistent copy of the database (every table: plugins,
/// approvals, runs, users, sealed tokens, the audit log) to `path`,
/// audited. The master key is not in it: back `master.key` up apart, where
/// those who hold the database copy cannot read it.
pub fn backup(home: &Home, by: &Actor, path: &std::path::Path) -> Result<(), AppError> {
    by.require(Act::ManageCredentials)?;
    home.audit(&AuditEntry {
        detail: Some(format!("backup to {}", path.display())),
        ..AuditEntry::new(by.audit_name(), Action::SettingChanged)
    })?;
    // A signed checkpoint covers everything the copy holds.
    home.checkpoint("backup");
    home.store
        .backup_to(path)
        .map_err(|e| AppError::invalid(e.to_string()))
}
