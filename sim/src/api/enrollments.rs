//! Enrollments: a course's (bookmark pages), a section's, a user's; one
//! enrollment; enrolling a user; concluding, deleting or inactivating one.
//!
//! Filters as Canvas's enrollments controller applies them: `type[]`,
//! `role[]` (by role name; an unknown name is 400) or `role_id[]` (which
//! win over `type[]`), `state[]`, `user_id`. Without `state[]` a course or
//! section lists what Canvas calls active-or-pending (so no concluded,
//! rejected or deleted enrollments); a user's list has only active and
//! invited ones.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::generate::enrollment as new_enrollment;
use crate::lookup::Kind;
use crate::model::{ENROLLMENT_TYPES, Enrollment, Institution, role_id};
use crate::pages::{bookmarked, numbered};
use crate::params::{Body, Params, Query};

/// States a course or section lists without `state[]`.
const DEFAULT_ROSTER_STATES: &[&str] = &["active", "invited", "creation_pending", "inactive"];
/// States a user's list has without `state[]`.
const DEFAULT_USER_STATES: &[&str] = &["active", "invited"];
/// States a user may ask for in their own list (with the synthetic ones).
const OWN_STATES: &[&str] = &[
    "active",
    "inactive",
    "rejected",
    "invited",
    "creation_pending",
    "pending_active",
    "pending_invited",
    "completed",
    "current_and_invited",
    "current_and_future",
    "current_and_concluded",
];

/// Which enrollments a list's filters keep.
struct Filter {
    role_ids: Vec<u64>,
    types: Vec<String>,
    states: Vec<String>,
    user: Option<u64>,
}

impl Filter {
    /// The filters of `q`; `default_states` when `state[]` is absent.
    fn from(
        inst: &Institution,
        q: &Params,
        caller: u64,
        default_states: &[&str],
    ) -> Result<Self, ApiError> {
        let mut role_ids: Vec<u64> = q
            .values("role_id")
            .iter()
            .filter_map(|r| r.trim().parse().ok())
            .collect();
        if role_ids.is_empty() {
            for name in q.values("role") {
                // Canvas: "role not found", a 400.
                role_ids.push(role_id(name).ok_or(ApiError::BadRequest)?);
            }
        }
        let mut states: Vec<String> = q.values("state").iter().map(|s| (*s).to_owned()).collect();
        if states.is_empty() {
            states = default_states.iter().map(|s| (*s).to_owned()).collect();
        }
        let user = match q.value("user_id") {
            Some(u) => Some(inst.find(Kind::User, u, caller)?),
            None => None,
        };
        Ok(Filter {
            role_ids,
            types: q.values("type").iter().map(|t| (*t).to_owned()).collect(),
            states,
            user,
        })
    }

    fn keeps(&self, e: &Enrollment) -> bool {
        let by_role = if self.role_ids.is_empty() {
            self.types.is_empty() || self.types.contains(&e.kind)
        } else {
            role_id(&e.role).is_some_and(|id| self.role_ids.contains(&id))
        };
        by_role
            && self.states.contains(&e.enrollment_state)
            && self.user.is_none_or(|u| u == e.user_id)
    }
}

/// `GET /api/v1/courses/:id/enrollments` (bookmark pages).
pub(crate) async fn in_course(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let view = cx.view(&inst);
    let course = inst.find_course(&id)?.id;
    let filter = Filter::from(&inst, &q, cx.caller, DEFAULT_ROSTER_STATES)?;
    let list: Vec<&Enrollment> = inst
        .enrollments_of(course)
        .filter(|e| filter.keeps(e))
        .collect();
    let path = format!("/api/v1/courses/{course}/enrollments");
    Ok(bookmarked(&cx.links(), &path, &q, &list, |e| e.id).json(|e| view.enrollment(e)))
}

/// `GET /api/v1/sections/:id/enrollments`.
pub(crate) async fn in_section(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let view = cx.view(&inst);
    let section = inst.find_section(&id)?;
    let filter = Filter::from(&inst, &q, cx.caller, DEFAULT_ROSTER_STATES)?;
    let list: Vec<&Enrollment> = inst
        .enrollments_of(section.course_id)
        .filter(|e| e.course_section_id == section.id && filter.keeps(e))
        .collect();
    let path = format!("/api/v1/sections/{}/enrollments", section.id);
    Ok(numbered(&cx.links(), &path, &q, &list, true).json(|e| view.enrollment(e)))
}

/// The states a user's own `state[]` stands for, or Canvas's 400
/// `{"error": "Invalid state X"}`.
fn own_states(q: &Params) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for s in q.values("state") {
        if !OWN_STATES.contains(&s) {
            return Err(ApiError::Error {
                status: StatusCode::BAD_REQUEST,
                message: format!("Invalid state {s}"),
            });
        }
        let expanded: Vec<&str> = match s {
            "current_and_invited" => vec!["active", "invited"],
            "current_and_future" => vec!["active", "invited", "creation_pending"],
            "current_and_concluded" => vec!["active", "completed"],
            "pending_active" | "pending_invited" => vec!["creation_pending"],
            other => vec![other],
        };
        out.extend(expanded.into_iter().map(str::to_owned));
    }
    Ok(out)
}

/// `GET /api/v1/users/:id/enrollments` (`self` and SIS forms too).
pub(crate) async fn of_user(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let view = cx.view(&inst);
    let user = inst.find_user(&id, cx.caller)?.id;
    let mut filter = Filter::from(&inst, &q, cx.caller, DEFAULT_USER_STATES)?;
    if user == cx.caller && !q.values("state").is_empty() {
        filter.states = own_states(&q)?;
    }
    let list: Vec<&Enrollment> = inst
        .enrollments
        .values()
        .filter(|e| e.user_id == user && filter.keeps(e))
        .collect();
    let path = format!("/api/v1/users/{user}/enrollments");
    Ok(numbered(&cx.links(), &path, &q, &list, true).json(|e| view.enrollment(e)))
}

/// `GET /api/v1/accounts/:id/enrollments/:id`: one enrollment in the
/// account's subtree.
pub(crate) async fn show(cx: Ctx, Path((account, id)): Path<(String, String)>) -> ApiResult {
    let inst = cx.read();
    let account = inst.find_account(&account)?.id;
    let id: u64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let e = inst
        .enrollments
        .get(&id)
        .filter(|e| {
            inst.courses
                .get(&e.course_id)
                .is_some_and(|c| inst.is_within(c.account_id, account))
        })
        .ok_or(ApiError::NotFound)?;
    Ok(Json(cx.view(&inst).enrollment(e)).into_response())
}

/// `POST /api/v1/courses/:id/enrollments`: enroll `enrollment[user_id]`
/// (any id form) as `enrollment[type]` or `enrollment[role]`, in
/// `enrollment[course_section_id]` or the course's first section; the
/// state is `invited` unless `enrollment[enrollment_state]` says otherwise.
pub(crate) async fn create(cx: Ctx, Path(id): Path<String>, body: Body) -> ApiResult {
    enroll(&cx, &id, &body.params, None)
}

/// `POST /api/v1/sections/:id/enrollments`: as for the course, in this
/// section.
pub(crate) async fn create_in_section(cx: Ctx, Path(id): Path<String>, body: Body) -> ApiResult {
    let (course, section) = {
        let inst = cx.read();
        let s = inst.find_section(&id)?;
        (s.course_id.to_string(), s.id)
    };
    enroll(&cx, &course, &body.params, Some(section))
}

fn enroll(cx: &Ctx, course: &str, f: &Params, section: Option<u64>) -> ApiResult {
    let mut inst = cx.write();
    let course = inst.find_course(course)?.clone();
    if !f.pairs().iter().any(|(k, _)| k.starts_with("enrollment[")) {
        return Err(ApiError::message("No parameters given"));
    }
    let Some(user) = f.text("enrollment[user_id]") else {
        return Err(ApiError::message(
            "Can't create an enrollment without a user. Include enrollment[user_id] to create an enrollment",
        ));
    };
    let user = inst.find(Kind::User, user, cx.caller)?;
    let kind = match (f.text("enrollment[role]"), f.text("enrollment[type]")) {
        (Some(role), _) => {
            role_id(role).ok_or_else(|| ApiError::message("Invalid role"))?;
            role.to_owned()
        }
        (None, Some(t)) if ENROLLMENT_TYPES.iter().any(|(name, _)| *name == t) => t.to_owned(),
        (None, Some(_)) => return Err(ApiError::message("Invalid type")),
        (None, None) => "StudentEnrollment".to_owned(),
    };
    if course.workflow_state == "completed" {
        return Err(ApiError::message(
            "Can't add an enrollment to a concluded course.",
        ));
    }
    let section = match section.or_else(|| {
        f.text("enrollment[course_section_id]")
            .and_then(|s| inst.resolve(Kind::Section, s, cx.caller))
    }) {
        Some(s)
            if inst
                .sections
                .get(&s)
                .is_some_and(|x| x.course_id == course.id) =>
        {
            s
        }
        Some(_) => return Err(ApiError::NotFound),
        None => inst
            .sections
            .values()
            .find(|x| x.course_id == course.id)
            .map_or(0, |x| x.id),
    };
    let state = f
        .text("enrollment[enrollment_state]")
        .filter(|s| matches!(*s, "active" | "invited" | "inactive"))
        .unwrap_or("invited");
    let id = Institution::next_id(&inst.enrollments, 50_000);
    let mut e = new_enrollment(id, course.id, section, user, &kind, state);
    let now = crate::dates::now();
    e.created_at = now.clone();
    e.updated_at = now;
    e.last_activity_at = None;
    inst.add_enrollment(e.clone());
    Ok(Json(cx.view(&inst).enrollment(&e)).into_response())
}

/// `DELETE /api/v1/courses/:id/enrollments/:id` with `task=conclude`
/// (the default, and Canvas's reading of any other value), `delete`, or
/// `inactivate`/`deactivate`.
pub(crate) async fn end(
    cx: Ctx,
    Path((course, id)): Path<(String, String)>,
    body: Body,
) -> ApiResult {
    let next = match body.params.value("task") {
        Some("delete") => "deleted",
        Some("inactivate" | "deactivate") => "inactive",
        _ => "completed",
    };
    let mut inst = cx.write();
    let course = inst.find_course(&course)?.id;
    let id: u64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let e = inst
        .enrollments
        .get_mut(&id)
        .filter(|e| e.course_id == course)
        .ok_or(ApiError::NotFound)?;
    e.enrollment_state = next.to_owned();
    e.updated_at = crate::dates::now();
    let e = e.clone();
    Ok(Json(cx.view(&inst).enrollment(&e)).into_response())
}
