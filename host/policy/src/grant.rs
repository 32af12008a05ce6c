//! What an admin approved for one plugin digest.
//!
//! The minimal grant of the foundation: the schools (sub-account subtrees) a
//! run may touch, whether it may write, and its call budget. Deny by default:
//! a grant with no schools allows nothing.

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
}

impl Grant {
    /// A grant that allows nothing.
    pub fn deny_all() -> Self {
        Self {
            schools: Vec::new(),
            write: false,
            max_calls: 0,
        }
    }

    /// True when `chain` (an account and its ancestors) lies in a granted
    /// school's subtree.
    pub fn covers(&self, chain: &[AccountId]) -> bool {
        chain.iter().any(|a| self.schools.contains(a))
    }
}
