//! One Canvas call a guest asked for, validated and ready for [`crate::decide`].
//!
//! An [`Operation`] is built once from the guest's raw method, path, query
//! and body. Building it extracts every account and course the call names, in
//! the path, the query and the JSON body, so the school boundary is checked
//! on all of them, not only on the first path segment.

use crate::grant::AccountId;
use crate::path::{ApiPath, PathError, QueryPair, check_query};

/// HTTP method of a Canvas call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Read.
    Get,
    /// Create.
    Post,
    /// Update.
    Put,
    /// Delete or conclude.
    Delete,
}

impl Method {
    /// True for POST, PUT and DELETE.
    pub fn is_write(self) -> bool {
        !matches!(self, Method::Get)
    }

    /// The method as HTTP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// The kind of Canvas object a call names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// An account or sub-account.
    Account,
    /// A course.
    Course,
    /// A course section.
    Section,
    /// A user (placed by the courses they are enrolled in).
    User,
    /// An enrollment.
    Enrollment,
    /// An assignment (placed by its course).
    Assignment,
}

impl ObjectKind {
    /// The word used in denials and plans.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Account => "account",
            ObjectKind::Course => "course",
            ObjectKind::Section => "section",
            ObjectKind::User => "user",
            ObjectKind::Enrollment => "enrollment",
            ObjectKind::Assignment => "assignment",
        }
    }

    /// The kind a path collection names, e.g. `sections`.
    fn of_collection(segment: &str) -> Option<Self> {
        Some(match segment {
            "accounts" | "sub_accounts" => ObjectKind::Account,
            "courses" => ObjectKind::Course,
            "sections" => ObjectKind::Section,
            "users" => ObjectKind::User,
            "enrollments" => ObjectKind::Enrollment,
            "assignments" => ObjectKind::Assignment,
            _ => return None,
        })
    }

    /// SIS id prefixes Canvas accepts for this kind.
    fn sis_prefixes(self) -> &'static [&'static str] {
        match self {
            ObjectKind::Account => &["sis_account_id"],
            ObjectKind::Course => &["sis_course_id"],
            ObjectKind::Section => &["sis_section_id"],
            ObjectKind::User => &["sis_user_id", "sis_login_id"],
            ObjectKind::Enrollment | ObjectKind::Assignment => &[],
        }
    }
}

/// How the call identifies an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ObjectKey {
    /// A numeric Canvas id.
    Id(u64),
    /// An SIS id form such as `sis_course_id:MATH-101`: (prefix, value).
    Sis(String, String),
    /// Any other form (`self`, `uuid:...`, `lti_context_id:...`); never
    /// resolvable to a school, so always denied.
    Other(String),
}

impl ObjectKey {
    /// Parse a path segment or parameter value naming an object.
    pub fn parse(raw: &str) -> Self {
        if let Ok(id) = raw.parse::<u64>() {
            return ObjectKey::Id(id);
        }
        match raw.split_once(':') {
            Some((prefix, value)) if prefix.starts_with("sis_") && !value.is_empty() => {
                ObjectKey::Sis(prefix.to_owned(), value.to_owned())
            }
            _ => ObjectKey::Other(raw.to_owned()),
        }
    }

    /// Parse `raw` as naming a `kind`: an SIS prefix Canvas does not accept
    /// for that kind (e.g. `sis_user_id:` for a course) cannot be placed.
    pub fn parse_for(kind: ObjectKind, raw: &str) -> Self {
        match Self::parse(raw) {
            ObjectKey::Sis(prefix, _) if !kind.sis_prefixes().contains(&prefix.as_str()) => {
                ObjectKey::Other(raw.to_owned())
            }
            key => key,
        }
    }
}

/// An object named by a call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// Account or course.
    pub kind: ObjectKind,
    /// How it was named.
    pub key: ObjectKey,
}

/// An object named by a call, with the account chain the host resolved for
/// it (the owning account and its ancestors), or `None` when the host could
/// not place it in any granted school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The object.
    pub object: ObjectRef,
    /// Owning account first, then its ancestors up to the granted school.
    pub chain: Option<Vec<AccountId>>,
}

/// A validated Canvas call.
#[derive(Debug, Clone)]
pub struct Operation {
    /// HTTP method.
    pub method: Method,
    /// Normalised path.
    pub path: ApiPath,
    /// Query parameters, checked for credentials.
    pub query: Vec<QueryPair>,
    /// The 1-based ordinal of this call in its run (for the call budget).
    pub seq: u32,
    /// For a write, its 1-based ordinal among the run's writes (planned
    /// ones included); 0 for a read.
    pub write_seq: u32,
    /// The user named by `as_user_id`, if the call masquerades.
    pub masquerade: Option<ObjectKey>,
    /// Every object the call names; the host fills in each `chain`.
    pub targets: Vec<Target>,
}

impl Operation {
    /// Build an operation from a guest's request. Fails on a malformed path
    /// or forbidden query parameter; the caller turns that into a denial.
    pub fn new(
        method: Method,
        path: &str,
        query: Vec<QueryPair>,
        body: Option<&serde_json::Value>,
        seq: u32,
    ) -> Result<Self, PathError> {
        let path = ApiPath::parse(path)?;
        check_query(&query)?;
        let mut refs = Vec::new();
        path_refs(&path, &mut refs);
        let mut masquerade = None;
        for (name, value) in &query {
            if name.trim().eq_ignore_ascii_case("as_user_id") {
                let key = ObjectKey::parse_for(ObjectKind::User, value);
                masquerade = Some(key.clone());
                refs.push(ObjectRef {
                    kind: ObjectKind::User,
                    key,
                });
            } else if let Some(kind) = id_field_kind(name) {
                refs.push(ObjectRef {
                    kind,
                    key: ObjectKey::parse_for(kind, value),
                });
            }
        }
        if let Some(body) = body {
            body_refs(body, None, &mut refs);
        }
        refs.dedup();
        let targets = refs
            .into_iter()
            .map(|object| Target {
                object,
                chain: None,
            })
            .collect();
        Ok(Self {
            method,
            path,
            query,
            seq,
            write_seq: 0,
            masquerade,
            targets,
        })
    }

    /// True when the path is rooted at an object the policy can place in a
    /// school: `/api/v1/{accounts,courses,sections,users}/:id/...`.
    pub fn is_school_rooted(&self) -> bool {
        matches!(
            self.path.resource_segments().first().map(String::as_str),
            Some("accounts" | "courses" | "sections" | "users")
        ) && self.path.resource_segments().len() >= 2
    }
}

/// Objects named by `<collection>/:id` path segments, e.g.
/// `courses/:id/sections/:id`.
fn path_refs(path: &ApiPath, out: &mut Vec<ObjectRef>) {
    let segs = path.resource_segments();
    for (i, pair) in segs.windows(2).enumerate() {
        let Some(kind) = ObjectKind::of_collection(&pair[0]) else {
            continue;
        };
        // `accounts/:id/courses` names the account, not a course "courses".
        if ObjectKind::of_collection(&pair[1]).is_some() {
            continue;
        }
        // `courses/:id/sections/:id` (and users, enrollments, assignments):
        // Canvas looks the inner object up within that course, so the
        // course is what must be in the school.
        if i >= 2 && segs[i - 2] == "courses" && kind != ObjectKind::Course {
            continue;
        }
        out.push(ObjectRef {
            kind,
            key: ObjectKey::parse_for(kind, &pair[1]),
        });
    }
}

/// The object kind a query or body field names, e.g. `course_ids[]`,
/// `enrollment[course_section_id]`.
fn id_field_kind(name: &str) -> Option<ObjectKind> {
    let bare = name.trim_end_matches("[]").rsplit('[').next()?;
    let bare = bare.trim_end_matches(']');
    Some(match bare {
        "account_id" | "account_ids" | "parent_account_id" => ObjectKind::Account,
        "course_id" | "course_ids" | "destination_course_id" | "source_course_id" => {
            ObjectKind::Course
        }
        "section_id" | "section_ids" | "course_section_id" | "course_section_ids" => {
            ObjectKind::Section
        }
        "user_id" | "user_ids" | "student_id" | "student_ids" | "as_user_id" => ObjectKind::User,
        "enrollment_id" | "enrollment_ids" => ObjectKind::Enrollment,
        "assignment_id" | "assignment_ids" => ObjectKind::Assignment,
        _ => return None,
    })
}

/// Objects named anywhere in a JSON body by an `*account_id*` or
/// `*course_id*` field, at any depth.
fn body_refs(value: &serde_json::Value, field: Option<ObjectKind>, out: &mut Vec<ObjectRef>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                body_refs(v, id_field_kind(k), out);
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                body_refs(v, field, out);
            }
        }
        serde_json::Value::Number(n) => {
            if let Some(kind) = field {
                let key = n
                    .as_u64()
                    .map(ObjectKey::Id)
                    .unwrap_or_else(|| ObjectKey::Other(n.to_string()));
                out.push(ObjectRef { kind, key });
            }
        }
        serde_json::Value::String(s) => {
            if let Some(kind) = field {
                out.push(ObjectRef {
                    kind,
                    key: ObjectKey::parse_for(kind, s),
                });
            }
        }
        _ => {}
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObjectKey::Id(id) => write!(f, "{id}"),
            ObjectKey::Sis(prefix, value) => write!(f, "{prefix}:{value}"),
            ObjectKey::Other(s) => write!(f, "{s}"),
        }
    }
}
