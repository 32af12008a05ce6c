//! What an admin approved for one plugin digest.
//!
//! The schools (sub-account subtrees) a run may touch, whether it may write,
//! the endpoints it may call, whether it may masquerade, and its budgets.
//! Deny by default: a grant with no schools allows nothing.

use crate::scope::Scope;

/// A Canvas account id.
pub type AccountId = u64;

/// The capabilities one run holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Roots of the sub-account subtrees the run may act on.
    pub schools: Vec<AccountId>,
    /// Whether POST, PUT and DELETE are allowed at all.
    pub write: bool,
    /// Maximum Canvas calls per run.
    pub max_calls: u32,
    /// The endpoints the run may call, in Canvas's scope grammar (the
    /// manifest's request narrowed by the admin). `None`: any endpoint the
    /// other rules allow (a manifest that requests no scopes).
    pub scopes: Option<Vec<Scope>>,
    /// May the run act as another user (`as_user_id`)?
    pub masquerade: bool,
    /// At most this many writes per run (`None`: no limit beyond the call
    /// budget). The write that would exceed it is refused and ends the run.
    pub max_writes: Option<u32>,
    /// May user-level calls (profile, page views, logins, all
    /// enrollments) reach users also enrolled in another school?
    pub shared_users: SharedUsers,
    /// May the run send SIS imports (each row's ids placed in the school)?
    pub sis_import: bool,
    /// The school's SIS-id prefix: a SIS import may create only objects
    /// whose SIS id starts with it (`None`: it may create none). No two
    /// schools' prefixes overlap.
    pub sis_id_prefix: Option<String>,
}

/// What a run may do with users shared with another school.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SharedUsers {
    /// Only course-scoped calls within the school (the default).
    #[default]
    Deny,
    /// User-level reads are allowed; changes are not.
    Read,
}

impl Grant {
    /// A grant that allows nothing.
    pub fn deny_all() -> Self {
        Self::new(Vec::new(), false, 0)
    }

    /// A grant for `schools` with no scope list, no masquerading and no
    /// write limit.
    pub fn new(schools: Vec<AccountId>, write: bool, max_calls: u32) -> Self {
        Self {
            schools,
            write,
            max_calls,
            scopes: None,
            masquerade: false,
            max_writes: None,
            shared_users: SharedUsers::Deny,
            sis_import: false,
            sis_id_prefix: None,
        }
    }

    /// True when `chain` (an account and its ancestors) lies in a granted
    /// school's subtree.
    pub fn covers(&self, chain: &[AccountId]) -> bool {
        chain.iter().any(|a| self.schools.contains(a))
    }
}
