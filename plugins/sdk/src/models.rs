//! Typed Canvas objects, parsed tolerantly but never silently wrong.
//!
//! Unknown fields are ignored and fields Canvas may leave out or send as
//! null are `Option` (or empty), so an object from an older or newer Canvas,
//! or one trimmed by a token's scopes, still parses. Two things are never
//! guessed:
//!
//! - **`id` is required.** An object without one is a parse error, not id 0
//!   (which would name no object, or the wrong one, in the next call).
//! - **Counts Canvas may omit are `None` when absent,** not 0: Canvas sends
//!   `total_students` only with `include[]=total_students`, and a scoped
//!   token without "allow includes" has its `include[]` cut silently.
//!
//! Ids are 64-bit integers parsed from JSON numbers or strings: Canvas sends
//! every `id` and `*_id` as a string under
//! `Accept: application/json+canvas-string-ids`.

use serde::{Deserialize, Deserializer};

/// Parse an id from a JSON number or string.
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match IdRepr::deserialize(d)? {
        IdRepr::Num(n) => Ok(n),
        IdRepr::Str(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

/// Parse an optional id from a JSON number, string, null or `""`.
fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<IdRepr>::deserialize(d)? {
        None => Ok(None),
        Some(IdRepr::Num(n)) => Ok(Some(n)),
        Some(IdRepr::Str(s)) if s.is_empty() => Ok(None),
        Some(IdRepr::Str(s)) => s.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IdRepr {
    Num(u64),
    Str(String),
}

/// An account or sub-account.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Account {
    #[serde(deserialize_with = "id")]
    pub id: u64,
    #[serde(default)]
    pub name: String,
    pub uuid: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    pub parent_account_id: Option<u64>,
    #[serde(default, deserialize_with = "opt_id")]
    pub root_account_id: Option<u64>,
    pub workflow_state: Option<String>,
    pub sis_account_id: Option<String>,
    pub default_time_zone: Option<String>,
}

/// An enrollment term.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Term {
    #[serde(deserialize_with = "id")]
    pub id: u64,
    #[serde(default)]
    pub name: String,
    pub start_at: Option<String>,
    pub end_at: Option<String>,
    pub workflow_state: Option<String>,
    pub sis_term_id: Option<String>,
}

/// A teacher as listed by `include[]=teachers`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TeacherRef {
    #[serde(deserialize_with = "id")]
    pub id: u64,
    pub display_name: Option<String>,
}

/// A course.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Course {
    #[serde(deserialize_with = "id")]
    pub id: u64,
    #[serde(default)]
    pub name: String,
    pub course_code: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    pub account_id: Option<u64>,
    #[serde(default, deserialize_with = "opt_id")]
    pub root_account_id: Option<u64>,
    #[serde(default, deserialize_with = "opt_id")]
    pub enrollment_term_id: Option<u64>,
    /// `unpublished`, `available`, `completed` or `deleted`.
    pub workflow_state: Option<String>,
    pub start_at: Option<String>,
    pub end_at: Option<String>,
    pub sis_course_id: Option<String>,
    pub uuid: Option<String>,
    pub time_zone: Option<String>,
    pub blueprint: Option<bool>,
    /// With `include[]=term`.
    pub term: Option<Term>,
    /// Only with `include[]=teachers`: `None` is "not sent", not "none".
    pub teachers: Option<Vec<TeacherRef>>,
    /// Only with `include[]=total_students`: `None` is "not sent", not 0.
    pub total_students: Option<u64>,
}

/// A course section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Section {
    #[serde(deserialize_with = "id")]
    pub id: u64,
    #[serde(default, deserialize_with = "opt_id")]
    pub course_id: Option<u64>,
    #[serde(default)]
    pub name: String,
    pub sis_section_id: Option<String>,
    pub start_at: Option<String>,
    pub end_at: Option<String>,
}

/// A user (or the `user` inside an enrollment).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct User {
    #[serde(deserialize_with = "id")]
    pub id: u64,
    #[serde(default)]
    pub name: String,
    pub sortable_name: Option<String>,
    pub short_name: Option<String>,
    pub sis_user_id: Option<String>,
    pub login_id: Option<String>,
    pub email: Option<String>,
}

/// An enrollment of a user in a course section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Enrollment {
    #[serde(deserialize_with = "id")]
    pub id: u64,
    #[serde(default, deserialize_with = "opt_id")]
    pub course_id: Option<u64>,
    #[serde(default, deserialize_with = "opt_id")]
    pub course_section_id: Option<u64>,
    #[serde(default, deserialize_with = "opt_id")]
    pub user_id: Option<u64>,
    /// `StudentEnrollment`, `TeacherEnrollment`, `TaEnrollment`, ...
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub role: Option<String>,
    pub enrollment_state: Option<String>,
    pub user: Option<User>,
}

/// An assignment.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Assignment {
    #[serde(deserialize_with = "id")]
    pub id: u64,
    #[serde(default, deserialize_with = "opt_id")]
    pub course_id: Option<u64>,
    #[serde(default)]
    pub name: String,
    pub due_at: Option<String>,
    pub points_possible: Option<f64>,
    pub published: Option<bool>,
    pub workflow_state: Option<String>,
}

/// A submission.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Submission {
    #[serde(deserialize_with = "id")]
    pub id: u64,
    #[serde(default, deserialize_with = "opt_id")]
    pub assignment_id: Option<u64>,
    #[serde(default, deserialize_with = "opt_id")]
    pub user_id: Option<u64>,
    pub score: Option<f64>,
    pub grade: Option<String>,
    pub submitted_at: Option<String>,
    pub workflow_state: Option<String>,
    pub late: Option<bool>,
    pub missing: Option<bool>,
}

/// A SIS import, as `POST /api/v1/accounts/:id/sis_imports` answers it
/// (see [`crate::canvas::sis_import`]) and `GET .../sis_imports/:id`
/// reports it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SisImport {
    #[serde(deserialize_with = "id")]
    pub id: u64,
    #[serde(default, deserialize_with = "opt_id")]
    pub account_id: Option<u64>,
    /// `created`, `importing`, `imported`, `imported_with_messages`,
    /// `failed`, `failed_with_messages`, `aborted`, ...
    pub workflow_state: Option<String>,
    /// Percent done, 0 to 100.
    pub progress: Option<u64>,
    pub created_at: Option<String>,
    pub ended_at: Option<String>,
    /// `[file, message]` pairs.
    pub processing_warnings: Option<Vec<Vec<String>>>,
    /// `[file, message]` pairs.
    pub processing_errors: Option<Vec<Vec<String>>>,
    /// Who started it.
    pub user: Option<User>,
}
