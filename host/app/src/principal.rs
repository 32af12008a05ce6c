//! Who someone is and what their roles let them do.

use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A role. A user may hold several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "kebab-case")]
pub enum Role {
    /// Everything, instances, tokens, settings and users included.
    DistrictAdmin,
    /// Approve, revoke, run, and read everything except secrets.
    Approver,
    /// Bound to school accounts: submit plugins, dry-run them for those
    /// schools, and read those schools' runs, plans and reports.
    SchoolContributor {
        /// The school accounts.
        schools: Vec<u64>,
    },
    /// Read runs, plans and the audit log; verify and export it.
    Auditor,
}

impl Role {
    /// Parse `district-admin`, `approver`, `auditor` or `contributor`
    /// (with `schools`).
    pub fn parse(name: &str, schools: &[u64]) -> Result<Self, AppError> {
        let role = match name.trim().to_ascii_lowercase().as_str() {
            "district-admin" => Role::DistrictAdmin,
            "approver" => Role::Approver,
            "auditor" => Role::Auditor,
            "contributor" | "school-contributor" => {
                if schools.is_empty() {
                    return Err(AppError::invalid(
                        "a school contributor is bound to one or more schools: add --school ID",
                    ));
                }
                return Ok(Role::SchoolContributor {
                    schools: schools.to_vec(),
                });
            }
            other => {
                return Err(AppError::invalid(format!(
                    "unknown role {other:?}: the roles are district-admin, approver, contributor and auditor"
                )));
            }
        };
        if !schools.is_empty() {
            return Err(AppError::invalid(format!(
                "--school binds a contributor to schools; {name} is not bound to any"
            )));
        }
        Ok(role)
    }

    /// Its name, as shown.
    pub fn name(&self) -> String {
        match self {
            Role::DistrictAdmin => "district-admin".into(),
            Role::Approver => "approver".into(),
            Role::Auditor => "auditor".into(),
            Role::SchoolContributor { schools } => format!(
                "contributor({})",
                schools
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }
}

/// How the actor proved who they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignIn {
    /// A local password.
    Password,
    /// A personal API token (its public id).
    ApiToken(String),
    /// Sign in with Canvas.
    Canvas,
    /// A local command on the data directory, as this OS user: whoever
    /// holds the directory and the master key is all-powerful anyway.
    Local(String),
}

/// Something an actor may ask to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Add users, issue others' tokens.
    ManageUsers,
    /// Instances, tokens, the vault.
    ManageCredentials,
    /// Institution-wide settings.
    ChangeSettings,
    /// Submit a plugin version.
    Submit,
    /// Approve a plugin for a school.
    Approve,
    /// Revoke a plugin.
    Revoke,
    /// Run live for a school.
    RunLive(u64),
    /// Dry-run for a school.
    RunDry(u64),
    /// Read one school's runs, plans and reports.
    ReadRuns(u64),
    /// Read every school's runs.
    ReadAllRuns,
    /// Read, verify and export the audit log.
    ReadAudit,
}

/// An authenticated principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Case-folded, trimmed name.
    pub name: String,
    /// What they hold (an API token's may be fewer than its user's).
    pub roles: Vec<Role>,
    /// How they signed in.
    pub via: SignIn,
}

impl Actor {
    /// May the actor do `act`?
    pub fn may(&self, act: Act) -> bool {
        self.roles.iter().any(|r| role_may(r, act))
    }

    /// `Ok` if the actor may do `act`, else a forbidden error naming it.
    pub fn require(&self, act: Act) -> Result<(), AppError> {
        if self.may(act) {
            return Ok(());
        }
        Err(AppError::forbidden(format!(
            "{} ({}) may not {}",
            self.name,
            self.roles
                .iter()
                .map(Role::name)
                .collect::<Vec<_>>()
                .join(", "),
            describe(act)
        )))
    }

    /// The name recorded in the audit log, with how they signed in:
    /// `alice (password)`, `ci (api-token abcd1234)`, `root (local)`.
    pub fn audit_name(&self) -> String {
        match &self.via {
            SignIn::Password => format!("{} (password)", self.name),
            SignIn::ApiToken(id) => format!("{} (api-token {id})", self.name),
            SignIn::Canvas => format!("{} (canvas)", self.name),
            SignIn::Local(os) => format!("{} (local as {os})", self.name),
        }
    }
}

fn role_may(role: &Role, act: Act) -> bool {
    match role {
        Role::DistrictAdmin => true,
        Role::Approver => matches!(
            act,
            Act::Approve
                | Act::Revoke
                | Act::RunLive(_)
                | Act::RunDry(_)
                | Act::ReadRuns(_)
                | Act::ReadAllRuns
                | Act::ReadAudit
        ),
        Role::SchoolContributor { schools } => match act {
            Act::Submit => true,
            Act::RunDry(s) | Act::ReadRuns(s) => schools.contains(&s),
            _ => false,
        },
        Role::Auditor => matches!(act, Act::ReadRuns(_) | Act::ReadAllRuns | Act::ReadAudit),
    }
}

fn describe(act: Act) -> String {
    match act {
        Act::ManageUsers => "manage users".into(),
        Act::ManageCredentials => "manage instances, tokens or the vault".into(),
        Act::ChangeSettings => "change settings".into(),
        Act::Submit => "submit plugins".into(),
        Act::Approve => "approve plugins".into(),
        Act::Revoke => "revoke plugins".into(),
        Act::RunLive(s) => format!("run plugins live for school {s}"),
        Act::RunDry(s) => format!("dry-run plugins for school {s}"),
        Act::ReadRuns(s) => format!("read school {s}'s runs"),
        Act::ReadAllRuns => "read every school's runs".into(),
        Act::ReadAudit => "read the audit log".into(),
    }
}

/// A name as stored and compared: trimmed and case-folded. Refused when
/// empty, longer than 64 characters, or holding characters other than
/// ASCII letters, digits and `. _ - @` (so no look-alike letter from
/// another script makes a second "admin").
pub fn fold_name(raw: &str) -> Result<String, AppError> {
    let name = raw.trim().to_lowercase();
    if name.is_empty() {
        return Err(AppError::invalid("a name cannot be empty"));
    }
    let ok = name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !ok {
        return Err(AppError::invalid(format!(
            "{:?} is not a name easel takes: at most 64 ASCII letters, digits and . _ - @",
            raw.trim()
        )));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_folded_and_look_alikes_refused() {
        assert_eq!(
            fold_name("  Ana.Smith@District ").unwrap(),
            "ana.smith@district"
        );
        // Cyrillic "а" (U+0430) looks like Latin "a".
        for bad in [
            "",
            "   ",
            "\u{0430}dmin",
            "ad min",
            "admin\u{200b}",
            &"a".repeat(65),
        ] {
            assert!(fold_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn each_role_may_what_its_table_says() {
        let who = |roles| Actor {
            name: "x".into(),
            roles,
            via: SignIn::Password,
        };
        let contributor = who(vec![Role::SchoolContributor { schools: vec![2] }]);
        assert!(contributor.may(Act::Submit) && contributor.may(Act::RunDry(2)));
        assert!(!contributor.may(Act::RunLive(2)) && !contributor.may(Act::RunDry(4)));
        assert!(!contributor.may(Act::Approve) && !contributor.may(Act::ReadAudit));
        let approver = who(vec![Role::Approver]);
        assert!(approver.may(Act::Approve) && approver.may(Act::RunLive(4)));
        assert!(!approver.may(Act::ManageCredentials) && !approver.may(Act::Submit));
        let auditor = who(vec![Role::Auditor]);
        assert!(auditor.may(Act::ReadAudit) && auditor.may(Act::ReadAllRuns));
        assert!(!auditor.may(Act::RunDry(2)) && !auditor.may(Act::Approve));
        assert!(who(vec![Role::DistrictAdmin]).may(Act::ManageUsers));
        assert!(!who(vec![]).may(Act::ReadRuns(2)));
    }
}
