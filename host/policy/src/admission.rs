//! Run admission: may this run start at all? Decided once, before the
//! plugin is loaded, from facts the caller gathered.
//!
//! Threat: a run that nobody's current approval covers. The approval must
//! be live (not missing, pending a second approver, revoked or disabled),
//! its grant not expired, a live run not limited to dry runs, the day's run
//! budget not spent, and the run bound to the instance and token the grant
//! names. Like [`crate::decide`] this is pure: the caller reads the
//! database and the clock, this function only judges.

use std::fmt;

/// The state of the newest approval of a plugin for a school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalState {
    /// Approved, and in force.
    Live,
    /// Never approved for this school.
    Missing,
    /// A write grant that waits for a second, different approver.
    AwaitingSecond {
        /// Who approved it first.
        first_by: String,
    },
    /// Revoked.
    Revoked {
        /// When (RFC 3339).
        at: String,
    },
    /// Disabled because the instance or token it named was removed.
    Disabled,
}

/// What the caller knows about a run that asks to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFacts {
    /// The plugin and school, for messages.
    pub plugin: String,
    /// The school account.
    pub school: u64,
    /// The approval's state.
    pub approval: ApprovalState,
    /// The grant's expiry (Unix seconds), if it has one.
    pub expires_at: Option<i64>,
    /// The expiry as written, for messages.
    pub expires_text: Option<String>,
    /// Now (Unix seconds).
    pub now: i64,
    /// Does the grant allow dry runs only?
    pub dry_run_only: bool,
    /// Is this a dry run?
    pub dry_run: bool,
    /// The grant's runs per 24 hours, if limited.
    pub runs_per_day: Option<u32>,
    /// Runs of this plugin for this school in the last 24 hours.
    pub runs_last_day: u32,
    /// The token the grant names (`None`: the embedded simulator's).
    pub grant_token: Option<String>,
    /// The token this run would use (`None`: the embedded simulator's).
    pub run_token: Option<String>,
}

/// Why a run may not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No approval for this school.
    NotApproved,
    /// The write grant waits for its second approver.
    AwaitingSecondApprover,
    /// The approval was revoked.
    Revoked,
    /// The approval's instance or token was removed.
    Disabled,
    /// The grant expired.
    Expired,
    /// The grant allows dry runs only.
    DryRunOnly,
    /// The day's runs are spent.
    RunsPerDay,
    /// The run would use another token than the grant names.
    WrongToken,
}

impl Refusal {
    /// Stable name, for JSON output and logs.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::NotApproved => "not-approved",
            Refusal::AwaitingSecondApprover => "awaiting-second-approver",
            Refusal::Revoked => "revoked",
            Refusal::Disabled => "disabled",
            Refusal::Expired => "expired",
            Refusal::DryRunOnly => "dry-run-only",
            Refusal::RunsPerDay => "runs-per-day",
            Refusal::WrongToken => "wrong-token",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A refused run: the rule and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAdmitted {
    /// Which rule refused.
    pub refusal: Refusal,
    /// Why, and what to do, in words.
    pub reason: String,
}

fn token_name(t: &Option<String>) -> String {
    t.as_deref()
        .map(|t| format!("token {t}"))
        .unwrap_or_else(|| "the embedded simulator".into())
}

/// May the run start? The checks, in order: approval, expiry, dry runs
/// only, runs per day, token.
pub fn admit(f: &RunFacts) -> Result<(), NotAdmitted> {
    let no = |refusal, reason: String| Err(NotAdmitted { refusal, reason });
    let what = format!("the grant of {} for school {}", f.plugin, f.school);
    match &f.approval {
        ApprovalState::Live => {}
        ApprovalState::Missing => {
            return no(
                Refusal::NotApproved,
                format!(
                    "plugin {} is not approved for school {}: run `easel plugin approve {} --school {}`",
                    f.plugin, f.school, f.plugin, f.school
                ),
            );
        }
        ApprovalState::AwaitingSecond { first_by } => {
            return no(
                Refusal::AwaitingSecondApprover,
                format!(
                    "{what} includes write access and waits for a second approver ({first_by} approved first): another admin approves it too"
                ),
            );
        }
        ApprovalState::Revoked { at } => {
            return no(
                Refusal::Revoked,
                format!("{what} was revoked at {at}: approve it again to run it"),
            );
        }
        ApprovalState::Disabled => {
            return no(
                Refusal::Disabled,
                format!(
                    "{what} is disabled: the instance or token it named was removed; approve it again with another"
                ),
            );
        }
    }
    if let Some(at) = f.expires_at
        && f.now >= at
    {
        return no(
            Refusal::Expired,
            format!(
                "{what} expired at {}: approve it again to keep running it",
                f.expires_text.as_deref().unwrap_or("its expiry")
            ),
        );
    }
    if f.dry_run_only && !f.dry_run {
        return no(
            Refusal::DryRunOnly,
            format!("{what} allows dry runs only: add --dry-run, or approve it for live runs"),
        );
    }
    if let Some(n) = f.runs_per_day
        && f.runs_last_day >= n
    {
        return no(
            Refusal::RunsPerDay,
            format!(
                "{what} allows {n} run(s) in 24 hours and {} already ran: try later, or ask an admin to raise runs_per_day",
                f.runs_last_day
            ),
        );
    }
    if f.grant_token != f.run_token {
        return no(
            Refusal::WrongToken,
            format!(
                "{what} names {}, but this connection uses {}",
                token_name(&f.grant_token),
                token_name(&f.run_token)
            ),
        );
    }
    Ok(())
}
