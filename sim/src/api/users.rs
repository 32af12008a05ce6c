//! Users: one user (numeric, `self`, `sis_user_id:`, `sis_login_id:`),
//! creating and updating users, an account's users, a course's users
//! (with Canvas's enrollment filters), logins and page views.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::generate::person;
use crate::lookup::Kind;
use crate::model::{Enrollment, Institution, User};
use crate::pages::{bookmarked, numbered};
use crate::params::{Body, Query};

/// `enrollment_type[]` values of the course users list, and the types
/// they stand for.
const ENROLLMENT_TYPE_NAMES: &[(&str, &str)] = &[
    ("student", "StudentEnrollment"),
    ("student_view", "StudentViewEnrollment"),
    ("teacher", "TeacherEnrollment"),
    ("ta", "TaEnrollment"),
    ("observer", "ObserverEnrollment"),
    ("designer", "DesignerEnrollment"),
];

/// `GET /api/v1/users/:id` (and `users/self`): the user with their email.
pub(crate) async fn show(cx: Ctx, Path(id): Path<String>) -> ApiResult {
    let inst = cx.read();
    let user = inst.find_user(&id, cx.caller)?;
    let mut v = cx.view(&inst).user(user, true);
    if let Value::Object(map) = &mut v {
        map.insert("locale".into(), Value::Null);
        map.insert("effective_locale".into(), json!("en"));
        map.insert(
            "permissions".into(),
            json!({"can_update_name": true, "can_update_avatar": false,
                   "limit_parent_app_web_access": false}),
        );
    }
    Ok(Json(v).into_response())
}

/// Canvas's user-creation error body: errors under `user` and
/// `pseudonym`.
fn pseudonym_error(attribute: &str, kind: &str, message: &str) -> ApiError {
    ApiError::Shaped {
        status: StatusCode::BAD_REQUEST,
        body: json!({"errors": {
            "user": {},
            "pseudonym": {attribute: [{"attribute": attribute, "type": kind, "message": message}]},
            "observee": {}, "pairing_code": {}, "recaptcha": null,
        }}),
    }
}

/// `POST /api/v1/accounts/:id/users` with `user[name]`,
/// `user[short_name]`, `user[sortable_name]`, `pseudonym[unique_id]`,
/// `pseudonym[sis_user_id]`, `communication_channel[address]`.
pub(crate) async fn create(cx: Ctx, Path(id): Path<String>, body: Body) -> ApiResult {
    let f = &body.params;
    let mut inst = cx.write();
    inst.find_account(&id)?;
    let Some(login) = f.text("pseudonym[unique_id]").map(str::to_owned) else {
        return Err(pseudonym_error("unique_id", "too_short", "is too short"));
    };
    if inst
        .users
        .values()
        .any(|u| u.login_id.eq_ignore_ascii_case(&login))
    {
        return Err(pseudonym_error(
            "unique_id",
            "taken",
            "ID already in use for this account and authentication provider",
        ));
    }
    let sis = f.text("pseudonym[sis_user_id]").map(str::to_owned);
    if let Some(sis) = &sis
        && inst
            .users
            .values()
            .any(|u| u.sis_user_id.as_deref() == Some(sis))
    {
        return Err(pseudonym_error(
            "sis_user_id",
            "taken",
            &format!("SIS ID \"{sis}\" is already in use"),
        ));
    }
    let name = f.text("user[name]").unwrap_or(&login).to_owned();
    let id = Institution::next_id(&inst.users, 10_000);
    let mut user = person(id, &name, login, sis, crate::auth::random_string(40));
    if let Some(short) = f.text("user[short_name]") {
        user.short_name = short.to_owned();
    }
    if let Some(sortable) = f.text("user[sortable_name]") {
        user.sortable_name = sortable.to_owned();
    }
    if let Some(email) = f.text("communication_channel[address]") {
        user.email = Some(email.to_owned());
    }
    user.created_at = crate::dates::now();
    inst.users.insert(id, user.clone());
    Ok(Json(cx.view(&inst).user(&user, false)).into_response())
}

/// `PUT /api/v1/users/:id` with `user[name]`, `user[short_name]`,
/// `user[sortable_name]`, `user[email]`.
pub(crate) async fn update(cx: Ctx, Path(id): Path<String>, body: Body) -> ApiResult {
    let f = &body.params;
    let mut inst = cx.write();
    let id = inst.find_user(&id, cx.caller)?.id;
    let user = inst.users.get_mut(&id).ok_or(ApiError::NotFound)?;
    if let Some(name) = f.value("user[name]") {
        if name.trim().is_empty() {
            return Err(ApiError::invalid("name", "blank", "can't be blank"));
        }
        user.name = name.to_owned();
    }
    if let Some(n) = f.text("user[short_name]") {
        user.short_name = n.to_owned();
    }
    if let Some(n) = f.text("user[sortable_name]") {
        user.sortable_name = n.to_owned();
    }
    if let Some(e) = f.text("user[email]") {
        user.email = Some(e.to_owned());
    }
    let user = user.clone();
    Ok(Json(cx.view(&inst).user(&user, true)).into_response())
}

fn search_matches(u: &User, term: Option<&str>) -> bool {
    term.is_none_or(|t| {
        u.name.to_lowercase().contains(t)
            || u.login_id.to_lowercase().contains(t)
            || u.sis_user_id
                .as_deref()
                .is_some_and(|s| s.to_lowercase() == t)
            || u.email
                .as_deref()
                .is_some_and(|e| e.to_lowercase().contains(t))
    })
}

/// `GET /api/v1/accounts/:id/users`: users enrolled in the subtree's
/// courses and the subtree's admins (`search_term`, `include[]=email`).
pub(crate) async fn in_account(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let view = cx.view(&inst);
    let account = inst.find_account(&id)?.id;
    let mut ids: Vec<u64> = inst
        .courses_in(account)
        .iter()
        .flat_map(|c| inst.enrollments_of(c.id).map(|e| e.user_id))
        .chain(
            inst.admins
                .iter()
                .filter(|(a, _)| inst.is_within(*a, account))
                .map(|(_, u)| *u),
        )
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let search = q.text("search_term").map(str::to_lowercase);
    let users: Vec<&User> = ids
        .iter()
        .filter_map(|id| inst.users.get(id))
        .filter(|u| search_matches(u, search.as_deref()))
        .collect();
    let email = q.has_include("email");
    let path = format!("/api/v1/accounts/{account}/users");
    Ok(numbered(&cx.links(), &path, &q, &users, true).json(|u| view.user(u, email)))
}

/// `GET /api/v1/courses/:id/users`: the course's users, by sortable name,
/// filtered by `enrollment_type[]`, `enrollment_role_id`,
/// `enrollment_state[]` (default active and invited), `user_ids[]` and
/// `search_term`; `include[]=enrollments` adds each user's enrollments,
/// `include[]=email` their email.
pub(crate) async fn in_course(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let view = cx.view(&inst);
    let course = inst.find_course(&id)?.id;
    let types: Vec<&str> = q
        .values("enrollment_type")
        .iter()
        .filter_map(|t| {
            ENROLLMENT_TYPE_NAMES
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(t))
                .map(|(_, kind)| *kind)
        })
        .collect();
    let role: Option<u64> = q.value("enrollment_role_id").and_then(|r| r.parse().ok());
    let mut states = q.values("enrollment_state");
    if states.is_empty() {
        states = vec!["active", "invited"];
    }
    let only: Vec<u64> = q
        .values("user_ids")
        .iter()
        .filter_map(|u| inst.resolve(Kind::User, u, cx.caller))
        .collect();
    let counts = |e: &Enrollment| {
        (types.is_empty() || types.contains(&e.kind.as_str()))
            && role.is_none_or(|r| crate::model::role_id(&e.role) == Some(r))
            && states.contains(&e.enrollment_state.as_str())
    };
    let search = q.text("search_term").map(str::to_lowercase);
    let mut ids: Vec<u64> = inst
        .enrollments_of(course)
        .filter(|e| counts(e))
        .map(|e| e.user_id)
        .filter(|u| only.is_empty() || only.contains(u))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut users: Vec<&User> = ids
        .iter()
        .filter_map(|id| inst.users.get(id))
        .filter(|u| search_matches(u, search.as_deref()))
        .collect();
    users.sort_by(|a, b| (&a.sortable_name, a.id).cmp(&(&b.sortable_name, b.id)));
    let (email, with_enrollments) = (q.has_include("email"), q.has_include("enrollments"));
    let path = format!("/api/v1/courses/{course}/users");
    Ok(numbered(&cx.links(), &path, &q, &users, true).json(|u| {
        let mut v = view.user(u, email);
        if with_enrollments && let Value::Object(map) = &mut v {
            let enrollments: Vec<Value> = inst
                .enrollments_of(course)
                .filter(|e| e.user_id == u.id && counts(e))
                .map(|e| {
                    let mut e = view.enrollment(e);
                    if let Value::Object(m) = &mut e {
                        m.remove("user");
                    }
                    e
                })
                .collect();
            map.insert("enrollments".into(), Value::Array(enrollments));
        }
        v
    }))
}

/// `GET /api/v1/users/:id/logins`.
pub(crate) async fn logins(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let view = cx.view(&inst);
    let user = inst.find_user(&id, cx.caller)?;
    let path = format!("/api/v1/users/{}/logins", user.id);
    Ok(numbered(&cx.links(), &path, &q, &[user], true).json(|u| view.login(u)))
}

/// `GET /api/v1/users/:id/page_views`: synthetic, deterministic, bookmark
/// pages; each view's id is a UUID, as Canvas's are.
pub(crate) async fn page_views(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let user = inst.find_user(&id, cx.caller)?.id;
    let views: Vec<u64> = (1..=25).collect();
    let path = format!("/api/v1/users/{user}/page_views");
    Ok(
        bookmarked(&cx.links(), &path, &q, &views, |n| *n).json(|n| {
            json!({
                "id": format!("{user:08x}-0000-4000-8000-{n:012x}"),
                "url": format!("{}/courses/{}/modules", cx.base(), 100 + n),
                "context_type": "Course", "asset_type": "module", "controller": "context_modules",
                "action": "index", "interaction_seconds": (n * 7) % 60,
                "created_at": format!("2026-11-{:02}T15:{:02}:00Z", 1 + n % 28, n),
                "user_agent": "Mozilla/5.0", "participated": n % 3 == 0, "contributed": false,
                "http_method": "get", "remote_ip": "10.0.0.1", "app_name": null,
                "links": {"user": user, "context": 100 + n, "asset": null, "real_user": null,
                          "account": crate::model::ROOT_ACCOUNT_ID},
            })
        }),
    )
}
