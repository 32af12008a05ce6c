//! The one decision every Canvas call passes before any byte is sent.
//!
//! `decide` is pure: given the grant and a fully resolved operation it says
//! allow, or deny with the rule that refused. The runtime's `authorize` is its
//! only caller, so there is one place where the boundary is drawn.

use std::fmt;

use crate::endpoint::Needs;
use crate::grant::{Grant, SharedUsers};
use crate::operation::{Found, Masquerade, Method, Operation, Outside, Target, shorten};

/// The rule that refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The path or query was malformed or carried credentials.
    PathForm,
    /// A write without write access.
    WriteNotGranted,
    /// An object outside the granted schools.
    SchoolBoundary,
    /// An endpoint that is not in easel's endpoint table.
    UnmodelledEndpoint,
    /// A query or body key that looks like it names an object but is not
    /// modelled for the endpoint.
    UnmodelledField,
    /// A body that is not one JSON object, or an id given in a form easel
    /// does not read (an object, a nested array, `as_user_id` in a body).
    BodyForm,
    /// The endpoint needs a capability no grant has given (SIS imports).
    CapabilityNotGranted,
    /// A user-level call on a user who is also enrolled in another school.
    SharedUser,
    /// A dry run's plan would grow past its size limit.
    PlanLimit,
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
    /// A live run bound to a reviewed plan tried a write the plan does not
    /// hold (or one it already made).
    NotInPlan,
    /// A SIS import row would create an object whose SIS id is outside the
    /// school's SIS-id prefix.
    SisNamespace,
}

impl Rule {
    /// Stable name used in errors, run records and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Rule::PathForm => "path-form",
            Rule::WriteNotGranted => "write-not-granted",
            Rule::SchoolBoundary => "school-boundary",
            Rule::UnmodelledEndpoint => "unmodelled-endpoint",
            Rule::UnmodelledField => "unmodelled-field",
            Rule::BodyForm => "body-form",
            Rule::CapabilityNotGranted => "capability-not-granted",
            Rule::SharedUser => "shared-user",
            Rule::PlanLimit => "plan-limit",
            Rule::CallBudget => "call-budget",
            Rule::EmptyGrant => "empty-grant",
            Rule::NotInScope => "not-in-scope",
            Rule::MasqueradeNotGranted => "masquerade-not-granted",
            Rule::WriteLimit => "write-limit",
            Rule::NotInPlan => "not-in-plan",
            Rule::SisNamespace => "sis-namespace",
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
        && op.write_seq.saturating_add(op.changes.saturating_sub(1)) > max
    {
        return deny(
            Rule::WriteLimit,
            if op.changes > 1 {
                format!(
                    "the run may make at most {max} write(s); this SIS import's {} rows would be writes {} to {}",
                    op.changes,
                    op.write_seq,
                    op.write_seq.saturating_add(op.changes - 1)
                )
            } else {
                format!(
                    "the run may make at most {max} write(s); this would be write {}",
                    op.write_seq
                )
            },
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
    match &op.masquerade {
        Masquerade::None => {}
        _ if !grant.masquerade => {
            return deny(
                Rule::MasqueradeNotGranted,
                "as_user_id acts as another user, which this grant does not allow",
            );
        }
        Masquerade::User(_) => {}
        Masquerade::Malformed(form) => {
            return deny(
                Rule::BodyForm,
                format!(
                    "{form} masquerades in a form easel does not read; give one as_user_id query parameter"
                ),
            );
        }
    }
    if op.endpoint.needs == Needs::SisImport && !grant.sis_import {
        return deny(
            Rule::CapabilityNotGranted,
            format!(
                "{} applies a file's rows anywhere in Canvas, and this grant does not allow SIS imports \
                 (an admin approves them with --sis-import; easel then checks every row)",
                op.endpoint.template
            ),
        );
    }
    for (key, value) in &op.sets_sis {
        let ok = grant
            .sis_id_prefix
            .as_deref()
            .is_some_and(|p| value.starts_with(p) && value.len() > p.len());
        if !ok {
            return deny(
                Rule::SisNamespace,
                match grant.sis_id_prefix.as_deref() {
                    Some(p) => format!(
                        "{} sets the SIS id {}, which does not start with the school's prefix {p:?} \
                         (another school's SIS imports could later name, revive or take the object)",
                        shorten(key, 80),
                        shorten(value, 80)
                    ),
                    None => format!(
                        "{} sets a SIS id, and the school has no SIS-id prefix, so it may set none \
                         (an admin sets one with `easel schools sis-prefix`)",
                        shorten(key, 80)
                    ),
                },
            );
        }
    }
    for target in &op.targets {
        let inside = target.chain.as_deref().is_some_and(|c| grant.covers(c));
        // Checked before anything the host found: a row naming an id
        // outside the namespace is refused the same way whether or not
        // the object exists elsewhere, so a run learns nothing from it.
        if !inside && let Some(reason) = outside_namespace(grant, target) {
            return deny(Rule::SisNamespace, reason);
        }
        if target.may_be == Outside::OnlyNew && target.found != Found::Missing {
            return deny(
                Rule::SchoolBoundary,
                format!(
                    "a SIS import may only create users: {} {} exists already, and a users.csv row would change it everywhere (easel cannot tell whether it administers another school)",
                    target.object.kind.name(),
                    target.object.key
                ),
            );
        }
        if !inside && !allowed_outside(grant, op, target) {
            return deny(
                Rule::SchoolBoundary,
                format!(
                    "{} {} is outside the granted school(s) {:?}",
                    target.object.kind.name(),
                    target.object.key,
                    shorten_schools(&grant.schools)
                ),
            );
        }
    }
    let shared_ok = grant.shared_users == SharedUsers::Read && op.method == Method::Get;
    if let Some(t) = op
        .targets
        .iter()
        .find(|t| t.whole_user && t.shared && !shared_ok)
    {
        return deny(
            Rule::SharedUser,
            format!(
                "user {} is also enrolled outside the granted school(s), and {} reaches them beyond this school's courses; \
                 a grant with shared-users = \"read\" allows reading such users",
                t.object.key,
                shorten(&op.path.as_string(), 120)
            ),
        );
    }
    Decision::Allow
}

/// May `target`, which is not in the school, be named anyway? Only in a SIS
/// import: the root account it is sent to, and the objects its rows
/// create.
fn allowed_outside(grant: &Grant, op: &Operation, target: &Target) -> bool {
    if !grant.sis_import {
        return false;
    }
    match (target.may_be, target.found) {
        (Outside::ImportRoot, Found::Root) => match op.endpoint.needs {
            Needs::SisImport => true,
            Needs::SisImportStatus => op.own_import,
            Needs::Nothing => false,
        },
        (Outside::Created | Outside::OnlyNew, Found::Missing) => true,
        _ => false,
    }
}

/// Why a SIS import row may not create `target`, an object not in the
/// school: its SIS id lies outside the school's SIS-id prefix (or the
/// school has none). Canvas's importer finds objects by SIS id even when
/// they are deleted, and answers 404 for those; only a prefix that no
/// other school may use proves the id was never another school's, and
/// keeps another school from taking it between the check and the import.
/// A login is not a SIS id: it is checked by existence alone.
fn outside_namespace(grant: &Grant, target: &Target) -> Option<String> {
    if !matches!(target.may_be, Outside::Created | Outside::OnlyNew) {
        return None;
    }
    let crate::operation::ObjectKey::Sis(form, value) = &target.object.key else {
        return None;
    };
    if form == "sis_login_id" {
        return None;
    }
    let kind = target.object.kind.name();
    match grant.sis_id_prefix.as_deref() {
        Some(prefix) if value.starts_with(prefix) && value.len() > prefix.len() => None,
        Some(prefix) => Some(format!(
            "{kind} {} is not the school's, and a SIS import may create only objects whose SIS id starts with \
             the school's prefix {prefix:?}",
            target.object.key
        )),
        None => Some(format!(
            "{kind} {} is not the school's, and the school has no SIS-id prefix, so a SIS import may not create \
             objects in it (an admin sets one with `easel schools sis-prefix`)",
            target.object.key
        )),
    }
}

/// The granted schools as shown in a denial (at most ten).
fn shorten_schools(schools: &[u64]) -> Vec<u64> {
    schools.iter().copied().take(10).collect()
}
