//! The simulated institution: what Canvas stores, and the questions the
//! endpoints ask of it. The generator is in `generate.rs`; how each object
//! looks on the wire is in `render.rs`.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// An account or sub-account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub id: u64,
    pub name: String,
    pub uuid: String,
    pub parent_account_id: Option<u64>,
    pub root_account_id: Option<u64>,
    pub workflow_state: String,
    pub sis_account_id: Option<String>,
    pub default_time_zone: String,
}

/// An enrollment term.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Term {
    pub id: u64,
    pub name: String,
    pub start_at: Option<String>,
    pub end_at: Option<String>,
    pub workflow_state: String,
    pub sis_term_id: Option<String>,
    pub created_at: String,
}

/// A course.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Course {
    pub id: u64,
    pub name: String,
    pub course_code: String,
    pub account_id: u64,
    pub root_account_id: u64,
    pub enrollment_term_id: u64,
    /// `unpublished`, `available`, `completed` or `deleted`.
    pub workflow_state: String,
    pub start_at: Option<String>,
    pub end_at: Option<String>,
    pub sis_course_id: Option<String>,
    pub uuid: String,
    pub time_zone: String,
    pub blueprint: bool,
    pub default_view: String,
    pub is_public: bool,
    pub created_at: String,
    /// HTML, shown with `include[]=syllabus_body`.
    pub syllabus_body: Option<String>,
}

/// A course section.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Section {
    pub id: u64,
    pub course_id: u64,
    pub name: String,
    pub sis_section_id: Option<String>,
    pub start_at: Option<String>,
    pub end_at: Option<String>,
    pub created_at: String,
}

/// A user (with their one login).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub sortable_name: String,
    pub short_name: String,
    pub sis_user_id: Option<String>,
    /// The login's unique id (`sis_login_id:` in paths).
    pub login_id: String,
    pub email: Option<String>,
    pub created_at: String,
    pub uuid: String,
}

/// An enrollment of a user in a course section.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enrollment {
    pub id: u64,
    pub course_id: u64,
    pub course_section_id: u64,
    pub user_id: u64,
    /// `StudentEnrollment`, `TeacherEnrollment`, `TaEnrollment`,
    /// `ObserverEnrollment` or `DesignerEnrollment`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The role's name: the type for built-in roles.
    pub role: String,
    /// `active`, `invited`, `creation_pending`, `inactive`, `completed`,
    /// `rejected` or `deleted`.
    pub enrollment_state: String,
    pub created_at: String,
    pub updated_at: String,
    pub last_activity_at: Option<String>,
}

/// An assignment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    pub id: u64,
    pub course_id: u64,
    pub name: String,
    pub due_at: Option<String>,
    pub points_possible: f64,
    pub published: bool,
    pub workflow_state: String,
    pub submission_types: Vec<String>,
    /// `points`, `percent`, `letter_grade`, `gpa_scale`, `pass_fail` or
    /// `not_graded`.
    pub grading_type: String,
    pub created_at: String,
}

/// A grade given through the API: (score, grade).
pub type Grade = (Option<f64>, Option<String>);

/// The whole simulated institution.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Institution {
    pub accounts: BTreeMap<u64, Account>,
    pub terms: BTreeMap<u64, Term>,
    pub courses: BTreeMap<u64, Course>,
    pub sections: BTreeMap<u64, Section>,
    pub users: BTreeMap<u64, User>,
    pub enrollments: BTreeMap<u64, Enrollment>,
    /// Enrollment ids by course (kept in step with `enrollments` by
    /// [`Institution::add_enrollment`]; rebuilt by [`Institution::reindex`]).
    #[serde(skip)]
    pub by_course: HashMap<u64, Vec<u64>>,
    /// Course ids by owning account (kept in step by
    /// [`Institution::add_course`]; rebuilt by [`Institution::reindex`]).
    #[serde(skip)]
    pub by_account: HashMap<u64, Vec<u64>>,
    /// Account admins: (account, user); each administers the account's subtree.
    pub admins: Vec<(u64, u64)>,
    /// Assignments by id.
    pub assignments: BTreeMap<u64, Assignment>,
    /// Grades given through the API: (assignment, user) → (score, grade).
    #[serde(with = "pairs")]
    pub grades: HashMap<(u64, u64), Grade>,
}

/// The user who administers the first school (sub-account admin role).
pub const SCHOOL_ADMIN_USER_ID: u64 = 2;
/// A user with no permissions anywhere.
pub const NOBODY_USER_ID: u64 = 3;
/// Id of the root account.
pub const ROOT_ACCOUNT_ID: u64 = 1;
/// Id of the root admin user (owner of the admin token).
pub const ADMIN_USER_ID: u64 = 1;

/// The enrollment types Canvas has, with the id of each built-in role.
pub(crate) const ENROLLMENT_TYPES: &[(&str, u64)] = &[
    ("StudentEnrollment", 3),
    ("TeacherEnrollment", 4),
    ("TaEnrollment", 5),
    ("DesignerEnrollment", 6),
    ("ObserverEnrollment", 7),
];

/// The id of a built-in course role, by name.
pub(crate) fn role_id(role: &str) -> Option<u64> {
    ENROLLMENT_TYPES
        .iter()
        .find(|(name, _)| *name == role)
        .map(|(_, id)| *id)
}

impl Institution {
    /// Schools: the direct sub-accounts of the root.
    pub fn schools(&self) -> Vec<&Account> {
        self.accounts
            .values()
            .filter(|a| a.parent_account_id == Some(ROOT_ACCOUNT_ID))
            .collect()
    }

    /// True when `account` is `ancestor` or lies below it.
    pub fn is_within(&self, account: u64, ancestor: u64) -> bool {
        let mut cur = Some(account);
        while let Some(id) = cur {
            if id == ancestor {
                return true;
            }
            cur = self.accounts.get(&id).and_then(|a| a.parent_account_id);
        }
        false
    }

    /// Record a course and index it by account.
    pub fn add_course(&mut self, c: Course) {
        self.by_account.entry(c.account_id).or_default().push(c.id);
        self.courses.insert(c.id, c);
    }

    /// Record an enrollment and index it by course.
    pub fn add_enrollment(&mut self, e: Enrollment) {
        self.by_course.entry(e.course_id).or_default().push(e.id);
        self.enrollments.insert(e.id, e);
    }

    /// Rebuild the indexes from the maps (after loading a snapshot, or
    /// after editing the maps directly).
    pub fn reindex(&mut self) {
        self.by_account.clear();
        self.by_course.clear();
        for c in self.courses.values() {
            self.by_account.entry(c.account_id).or_default().push(c.id);
        }
        for e in self.enrollments.values() {
            self.by_course.entry(e.course_id).or_default().push(e.id);
        }
    }

    /// `account` and every account below it.
    pub fn subtree(&self, account: u64) -> Vec<u64> {
        let mut children: HashMap<u64, Vec<u64>> = HashMap::new();
        for a in self.accounts.values() {
            if let Some(p) = a.parent_account_id {
                children.entry(p).or_default().push(a.id);
            }
        }
        let mut out = vec![account];
        let mut i = 0;
        while i < out.len() {
            out.extend(children.get(&out[i]).into_iter().flatten().copied());
            i += 1;
        }
        out
    }

    /// Courses whose account lies in `account`'s subtree, by id.
    pub fn courses_in(&self, account: u64) -> Vec<&Course> {
        let mut ids: Vec<u64> = self
            .subtree(account)
            .iter()
            .filter_map(|a| self.by_account.get(a))
            .flatten()
            .copied()
            .collect();
        ids.sort_unstable();
        ids.iter().filter_map(|id| self.courses.get(id)).collect()
    }

    /// A course's enrollments, in id order.
    pub fn enrollments_of(&self, course: u64) -> impl Iterator<Item = &Enrollment> {
        self.by_course
            .get(&course)
            .into_iter()
            .flatten()
            .filter_map(|id| self.enrollments.get(id))
    }

    /// Active enrollments of a type in a course.
    pub fn count_enrollments(&self, course: u64, kind: &str) -> usize {
        self.enrollments_of(course)
            .filter(|e| e.kind == kind && e.enrollment_state == "active")
            .count()
    }

    /// Does `user` administer `account` (directly or through an ancestor)?
    pub fn is_admin_of(&self, user: u64, account: u64) -> bool {
        self.admins
            .iter()
            .any(|(a, u)| *u == user && self.is_within(account, *a))
    }

    /// Is `user` an active teacher (or TA) in `course`?
    pub fn teaches(&self, user: u64, course: u64) -> bool {
        self.enrollments_of(course).any(|e| {
            e.user_id == user
                && matches!(e.kind.as_str(), "TeacherEnrollment" | "TaEnrollment")
                && e.enrollment_state == "active"
        })
    }

    /// An active teacher of the first school (the teacher role's user).
    pub fn a_teacher(&self) -> Option<u64> {
        let school = self.schools().first()?.id;
        self.courses_in(school).iter().find_map(|c| {
            self.enrollments_of(c.id)
                .find(|e| e.kind == "TeacherEnrollment" && e.enrollment_state == "active")
                .map(|e| e.user_id)
        })
    }

    /// The next free id after the largest of `map`'s (or `floor`).
    pub(crate) fn next_id<T>(map: &BTreeMap<u64, T>, floor: u64) -> u64 {
        map.keys().next_back().copied().unwrap_or(floor).max(floor) + 1
    }
}

/// `(u64, u64)`-keyed maps as a list of entries, since JSON object keys are
/// strings.
mod pairs {
    use std::collections::HashMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Grade;

    pub(super) fn serialize<S: Serializer>(
        map: &HashMap<(u64, u64), Grade>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&(u64, u64), &Grade)> = map.iter().collect();
        entries.sort_by_key(|(k, _)| **k);
        entries.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<HashMap<(u64, u64), Grade>, D::Error> {
        let entries: Vec<((u64, u64), Grade)> = Vec::deserialize(d)?;
        Ok(entries.into_iter().collect())
    }
}
