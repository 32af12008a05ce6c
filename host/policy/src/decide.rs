//! The one decision every Canvas call passes before any byte is sent.
//!
//! `decide` is pure: given the grant and a fully resolved operation it says
//! allow, or deny with the rule that refused. The runtime's `authorize` is its
//! only caller, so there is one place where the boundary is drawn.

use std::fmt;

use crate::grant::Grant;
use crate::operation::Operation;

/// The rule that refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The path or query was malformed or carried credentials.
    PathForm,
    /// A write without write access.
    WriteNotGranted,
    /// An object outside the granted schools.
    SchoolBoundary,
    /// An endpoint not rooted at an account or course.
    UnscopedEndpoint,
    /// The run's call budget is spent.
    CallBudget,
    /// The grant names no school: deny by default.
    EmptyGrant,
    /// The endpoint is not among the granted scopes.
    NotInScope,
    /// `as_user_id` without masquerading granted.
    MasqueradeNotGranted,
    /// The write would exceed the run's write limit (`--max-writes`).
    WriteLimit,
}

impl Rule {
    /// Stable name used in errors, run records and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Rule::PathForm => "path-form",
            Rule::WriteNotGranted => "write-not-granted",
            Rule::SchoolBoundary => "school-boundary",
            Rule::UnscopedEndpoint => "unscoped-endpoint",
            Rule::CallBudget => "call-budget",
            Rule::EmptyGrant => "empty-grant",
            Rule::NotInScope => "not-in-scope",
            Rule::MasqueradeNotGranted => "masquerade-not-granted",
            Rule::WriteLimit => "write-limit",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A refusal: the rule and a reason an admin can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// Which rule refused.
    pub rule: Rule,
    /// Why, in words.
    pub reason: String,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send it.
    Allow,
    /// Do not send it.
    Deny(Denial),
}

fn deny(rule: Rule, reason: impl Into<String>) -> Decision {
    Decision::Deny(Denial {
        rule,
        reason: reason.into(),
    })
}

/// Decide whether `op` may be sent under `grant`.
pub fn decide(grant: &Grant, op: &Operation) -> Decision {
    if grant.schools.is_empty() {
        return deny(Rule::EmptyGrant, "the grant names no school");
    }
    if op.seq > grant.max_calls {
        return deny(
            Rule::CallBudget,
            format!(
                "the run's budget of {} Canvas calls is spent",
                grant.max_calls
            ),
        );
    }
    if op.method.is_write() && !grant.write {
        return deny(
            Rule::WriteNotGranted,
            format!(
                "{} needs write access, which this grant does not include",
                op.method.as_str()
            ),
        );
    }
    if let Some(max) = grant.max_writes
        && op.method.is_write()
        && op.write_seq > max
    {
        return deny(
            Rule::WriteLimit,
            format!(
                "the run may make at most {max} write(s); this would be write {}",
                op.write_seq
            ),
        );
    }
    if let Some(scopes) = &grant.scopes {
        let path = op.path.as_string();
        if !scopes.iter().any(|s| s.matches(op.method.as_str(), &path)) {
            return deny(
                Rule::NotInScope,
                format!(
                    "{} {path} is not among the granted scopes",
                    op.method.as_str()
                ),
            );
        }
    }
    if op.masquerade.is_some() && !grant.masquerade {
        return deny(
            Rule::MasqueradeNotGranted,
            "as_user_id acts as another user, which this grant does not allow",
        );
    }
    if !op.is_school_rooted() {
        return deny(
            Rule::UnscopedEndpoint,
            format!(
                "{} is not under /api/v1/accounts, courses, sections or users/:id",
                op.path
            ),
        );
    }
    for target in &op.targets {
        let inside = target.chain.as_deref().is_some_and(|c| grant.covers(c));
        if !inside {
            return deny(
                Rule::SchoolBoundary,
                format!(
                    "{} {} is outside the granted school(s) {:?}",
                    target.object.kind.name(),
                    target.object.key,
                    grant.schools
                ),
            );
        }
    }
    Decision::Allow
}
