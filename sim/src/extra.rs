//! The rest of the endpoints admins automate most (shared/CANVAS.md):
//! users and logins, assignments and submissions, page views, admins,
//! enrollment changes, SIS imports, account reports, blueprints and course
//! copies.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::data::{Enrollment, Institution, ROOT_ACCOUNT_ID, User};
use crate::http_util::{
    bad_request, not_found, paginate, paginate_bookmark, query_pairs, value, values,
};
use crate::routes::{St, read_data, resolve_account, resolve_course};

fn user_json(u: &User) -> Value {
    json!({"id": u.id, "name": u.name, "sortable_name": u.sortable_name, "short_name": u.short_name,
           "sis_user_id": u.sis_user_id, "login_id": u.login_id, "created_at": u.created_at})
}

pub(crate) fn enrollment_json(inst: &Institution, e: &Enrollment) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
    if let (Value::Object(m), Some(u)) = (&mut v, inst.users.get(&e.user_id)) {
        m.insert("root_account_id".into(), json!(ROOT_ACCOUNT_ID));
        m.insert("user".into(), json!({"id": u.id, "name": u.name, "sortable_name": u.sortable_name, "short_name": u.short_name, "sis_user_id": u.sis_user_id}));
    }
    v
}

pub(crate) fn resolve_user(inst: &Institution, raw: &str) -> Option<u64> {
    if let Some(sis) = raw.strip_prefix("sis_user_id:") {
        return inst
            .users
            .values()
            .find(|u| u.sis_user_id.as_deref() == Some(sis))
            .map(|u| u.id);
    }
    // Canvas's `sis_login_id:` names a user by their login (unique id).
    if let Some(login) = raw.strip_prefix("sis_login_id:") {
        return inst
            .users
            .values()
            .find(|u| u.login_id.eq_ignore_ascii_case(login))
            .map(|u| u.id);
    }
    raw.parse().ok().filter(|id| inst.users.contains_key(id))
}

/// `GET /api/v1/sections/:id` (also `sis_section_id:X`).
pub(crate) async fn section_show(State(s): St, Path(id): Path<String>) -> Response {
    let inst = read_data(&s);
    let section = match id.strip_prefix("sis_section_id:") {
        Some(sis) => inst
            .sections
            .values()
            .find(|x| x.sis_section_id.as_deref() == Some(sis)),
        None => id.parse().ok().and_then(|n: u64| inst.sections.get(&n)),
    };
    match section {
        Some(x) => axum::Json(json!(x)).into_response(),
        None => not_found(),
    }
}

/// `GET /api/v1/accounts/:id/enrollments/:id`: one enrollment in the
/// account's subtree.
pub(crate) async fn enrollment_show(
    State(s): St,
    Path((account, id)): Path<(String, u64)>,
) -> Response {
    let inst = read_data(&s);
    let Some(account) = resolve_account(&inst, &account) else {
        return not_found();
    };
    let found = inst.enrollments.get(&id).filter(|e| {
        inst.courses
            .get(&e.course_id)
            .is_some_and(|c| inst.is_within(c.account_id, account))
    });
    match found {
        Some(e) => axum::Json(enrollment_json(&inst, e)).into_response(),
        None => not_found(),
    }
}

/// `GET /api/v1/sections/:id/enrollments`.
pub(crate) async fn section_enrollments(
    State(s): St,
    Path(id): Path<u64>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query_pairs(q.as_deref());
    let inst = read_data(&s);
    let Some(section) = inst.sections.get(&id) else {
        return not_found();
    };
    let list: Vec<Value> = inst
        .enrollments_of(section.course_id)
        .filter(|e| e.course_section_id == id)
        .map(|e| enrollment_json(&inst, e))
        .collect();
    paginate(
        &s.link_base(),
        &format!("/api/v1/sections/{id}/enrollments"),
        &q,
        &list,
    )
}

/// `GET /api/v1/users/:id/enrollments`.
pub(crate) async fn user_enrollments(
    State(s): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query_pairs(q.as_deref());
    let inst = read_data(&s);
    let Some(user) = resolve_user(&inst, &id) else {
        return not_found();
    };
    // Canvas lists only active and invited enrollments unless state[] asks.
    let states: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "state[]")
        .map(|(_, v)| v.as_str())
        .collect();
    let wanted = |state: &str| {
        if states.is_empty() {
            matches!(state, "active" | "invited")
        } else {
            states.contains(&state)
        }
    };
    let list: Vec<Value> = inst
        .enrollments
        .values()
        .filter(|e| e.user_id == user && wanted(&e.enrollment_state))
        .map(|e| enrollment_json(&inst, e))
        .collect();
    paginate(
        &s.link_base(),
        &format!("/api/v1/users/{user}/enrollments"),
        &q,
        &list,
    )
}

/// `GET /api/v1/accounts/:id/users`: users enrolled in the subtree's
/// courses, and its admins.
pub(crate) async fn account_users(
    State(s): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query_pairs(q.as_deref());
    let inst = read_data(&s);
    let Some(account) = resolve_account(&inst, &id) else {
        return not_found();
    };
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
    let search = value(&q, "search_term").map(str::to_lowercase);
    let list: Vec<Value> = ids
        .iter()
        .filter_map(|id| inst.users.get(id))
        .filter(|u| {
            search
                .as_deref()
                .is_none_or(|t| u.name.to_lowercase().contains(t) || u.login_id.contains(t))
        })
        .map(user_json)
        .collect();
    paginate(
        &s.link_base(),
        &format!("/api/v1/accounts/{account}/users"),
        &q,
        &list,
    )
}

/// `GET /api/v1/users/:id/logins`.
pub(crate) async fn user_logins(State(s): St, Path(id): Path<String>) -> Response {
    let inst = read_data(&s);
    let Some(u) = resolve_user(&inst, &id).and_then(|id| inst.users.get(&id)) else {
        return not_found();
    };
    axum::Json(json!([{"id": u.id, "user_id": u.id, "account_id": ROOT_ACCOUNT_ID, "unique_id": u.login_id,
        "sis_user_id": u.sis_user_id, "integration_id": null, "authentication_provider_id": null, "created_at": u.created_at}]))
    .into_response()
}

/// `GET /api/v1/users/:id/page_views` (synthetic, deterministic, bookmark pages).
pub(crate) async fn page_views(
    State(s): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query_pairs(q.as_deref());
    let inst = read_data(&s);
    let Some(user) = resolve_user(&inst, &id) else {
        return not_found();
    };
    let views: Vec<Value> = (1..=25u64)
        .map(|n| {
            json!({"id": user * 100 + n, "url": format!("https://canvas.example/courses/{}/modules", 100 + n),
                   "context_type": "Course", "asset_type": "module", "controller": "context_modules", "action": "index",
                   "interaction_seconds": (n * 7) % 60, "created_at": format!("2026-11-{:02}T15:{:02}:00Z", 1 + n % 28, n),
                   "user_agent": "Mozilla/5.0", "participated": n % 3 == 0, "links": {"user": user}})
        })
        .collect();
    paginate_bookmark(
        &s.link_base(),
        &format!("/api/v1/users/{user}/page_views"),
        &q,
        &views,
        |v| v.get("id").and_then(Value::as_u64).unwrap_or(0),
    )
}

/// `GET /api/v1/accounts/:id/admins`.
pub(crate) async fn account_admins(
    State(s): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query_pairs(q.as_deref());
    let inst = read_data(&s);
    let Some(account) = resolve_account(&inst, &id) else {
        return not_found();
    };
    let list: Vec<Value> = inst
        .admins
        .iter()
        .filter(|(a, _)| *a == account)
        .filter_map(|(_, u)| inst.users.get(u))
        .map(|u| json!({"id": u.id * 10, "role": "AccountAdmin", "role_id": 1, "user": user_json(u), "workflow_state": "active"}))
        .collect();
    paginate(
        &s.link_base(),
        &format!("/api/v1/accounts/{account}/admins"),
        &q,
        &list,
    )
}

/// `GET /api/v1/courses/:id/assignments`.
pub(crate) async fn assignments(
    State(s): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query_pairs(q.as_deref());
    let inst = read_data(&s);
    let Some(course) = resolve_course(&inst, &id) else {
        return not_found();
    };
    let list: Vec<&crate::data::Assignment> = inst
        .assignments
        .values()
        .filter(|a| a.course_id == course)
        .collect();
    paginate(
        &s.link_base(),
        &format!("/api/v1/courses/{course}/assignments"),
        &q,
        &list,
    )
}

/// A submission, synthesised from the enrollment unless graded through the API.
fn submission(inst: &Institution, assignment: &crate::data::Assignment, user: u64) -> Value {
    let seed = assignment.id.wrapping_mul(31).wrapping_add(user);
    let (score, grade) = inst
        .grades
        .get(&(assignment.id, user))
        .cloned()
        .unwrap_or_else(|| {
            if seed.is_multiple_of(4) {
                (None, None)
            } else {
                let score = (assignment.points_possible * f64::from((seed % 41 + 60) as u32)
                    / 100.0)
                    .round();
                (Some(score), Some(score.to_string()))
            }
        });
    json!({"id": 2_000_000_000 + seed % 1_000_000_000, "assignment_id": assignment.id, "user_id": user,
           "score": score, "grade": grade, "submitted_at": score.map(|_| "2026-10-01T12:00:00Z"),
           "workflow_state": if score.is_some() { "graded" } else { "unsubmitted" },
           "late": seed.is_multiple_of(9), "missing": score.is_none(), "attempt": score.map(|_| 1)})
}

/// `GET /api/v1/courses/:id/students/submissions`.
pub(crate) async fn student_submissions(
    State(s): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query_pairs(q.as_deref());
    let inst = read_data(&s);
    let Some(course) = resolve_course(&inst, &id) else {
        return not_found();
    };
    let students: Vec<u64> = {
        let wanted = values(&q, "student_ids");
        inst.enrollments_of(course)
            .filter(|e| e.kind == "StudentEnrollment")
            .map(|e| e.user_id)
            .filter(|u| {
                wanted.is_empty()
                    || wanted.contains(&"all")
                    || wanted.contains(&u.to_string().as_str())
            })
            .collect()
    };
    let only: Vec<&str> = values(&q, "assignment_ids");
    let list: Vec<Value> = inst
        .assignments
        .values()
        .filter(|a| {
            a.course_id == course && (only.is_empty() || only.contains(&a.id.to_string().as_str()))
        })
        .flat_map(|a| {
            students
                .iter()
                .map(|u| submission(&inst, a, *u))
                .collect::<Vec<_>>()
        })
        .collect();
    paginate(
        &s.link_base(),
        &format!("/api/v1/courses/{course}/students/submissions"),
        &q,
        &list,
    )
}

/// `PUT /api/v1/courses/:id/assignments/:a/submissions/:u` with
/// `submission[posted_grade]`.
pub(crate) async fn grade(
    State(s): St,
    Path((course, assignment, user)): Path<(String, u64, String)>,
    RawQuery(q): RawQuery,
    body: axum::body::Bytes,
) -> Response {
    let mut q = query_pairs(q.as_deref());
    q.extend(url::form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&body)
        && let Some(g) = m.get("submission").and_then(|s| s.get("posted_grade"))
    {
        q.push((
            "submission[posted_grade]".into(),
            g.to_string().trim_matches('"').to_owned(),
        ));
    }
    let mut inst = s.data.write().unwrap_or_else(|p| p.into_inner());
    let (Some(course), Some(user)) = (resolve_course(&inst, &course), resolve_user(&inst, &user))
    else {
        return not_found();
    };
    let Some(a) = inst
        .assignments
        .get(&assignment)
        .filter(|a| a.course_id == course)
        .cloned()
    else {
        return not_found();
    };
    if let Some(g) = value(&q, "submission[posted_grade]") {
        let score = g.trim_end_matches('%').parse::<f64>().ok();
        if score.is_none() {
            return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"errors": [{"field": "posted_grade", "message": "is not a valid grade", "error_code": "invalid"}]}))).into_response();
        }
        inst.grades
            .insert((a.id, user), (score, Some(g.to_owned())));
    }
    axum::Json(submission(&inst, &a, user)).into_response()
}

/// `POST /api/v1/sections/:id/enrollments`.
pub(crate) async fn section_enroll(
    State(s): St,
    Path(id): Path<u64>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let course = {
        let inst = read_data(&s);
        match inst.sections.get(&id) {
            Some(sec) => sec.course_id,
            None => return not_found(),
        }
    };
    let q = format!(
        "{}{}enrollment[course_section_id]={id}",
        q.as_deref().unwrap_or(""),
        if q.is_some() { "&" } else { "" }
    );
    crate::writes::enroll(
        State(s),
        Path(course.to_string()),
        RawQuery(Some(q)),
        headers,
        body,
    )
    .await
}

/// `DELETE /api/v1/courses/:id/enrollments/:e?task=conclude|delete|inactivate`.
pub(crate) async fn end_enrollment(
    State(s): St,
    Path((course, id)): Path<(String, u64)>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query_pairs(q.as_deref());
    let next = match value(&q, "task").unwrap_or("conclude") {
        "conclude" => "completed",
        "delete" => "deleted",
        "inactivate" | "deactivate" => "inactive",
        _ => return bad_request("task", "must be conclude, delete or inactivate"),
    };
    let mut inst = s.data.write().unwrap_or_else(|p| p.into_inner());
    let Some(course) = resolve_course(&inst, &course) else {
        return not_found();
    };
    let Some(e) = inst
        .enrollments
        .get_mut(&id)
        .filter(|e| e.course_id == course)
    else {
        return not_found();
    };
    e.enrollment_state = next.to_owned();
    let e = e.clone();
    axum::Json(enrollment_json(&inst, &e)).into_response()
}

fn form(body: &[u8], q: Option<&str>) -> Vec<(String, String)> {
    let mut out = query_pairs(q);
    if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) {
        for (outer, v) in m {
            if let Value::Object(inner) = v {
                for (k, v) in inner {
                    out.push((
                        format!("{outer}[{k}]"),
                        v.to_string().trim_matches('"').to_owned(),
                    ));
                }
            }
        }
    } else {
        out.extend(
            url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())),
        );
    }
    out
}

/// `POST /api/v1/accounts/:id/users`.
pub(crate) async fn create_user(
    State(s): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: axum::body::Bytes,
) -> Response {
    let f = form(&body, q.as_deref());
    let mut inst = s.data.write().unwrap_or_else(|p| p.into_inner());
    if resolve_account(&inst, &id).is_none() {
        return not_found();
    }
    let Some(login) = value(&f, "pseudonym[unique_id]").map(str::to_owned) else {
        return bad_request("unique_id", "can't be blank");
    };
    if inst.users.values().any(|u| u.login_id == login) {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"errors": {"pseudonym": {"unique_id": [{"attribute": "unique_id", "type": "taken", "message": "ID already in use for this account and authentication provider"}]}}}))).into_response();
    }
    let name = value(&f, "user[name]").unwrap_or(&login).to_owned();
    let id = inst.users.keys().next_back().copied().unwrap_or(10_000) + 1;
    let (given, family) = name
        .split_once(' ')
        .map(|(g, f)| (g.to_owned(), f.to_owned()))
        .unwrap_or((name.clone(), String::new()));
    let user = User {
        id,
        sortable_name: format!("{family}, {given}"),
        short_name: value(&f, "user[short_name]")
            .map(str::to_owned)
            .unwrap_or(given),
        name,
        sis_user_id: value(&f, "pseudonym[sis_user_id]").map(str::to_owned),
        login_id: login,
        created_at: "2026-11-29T12:00:00Z".into(),
    };
    inst.users.insert(id, user.clone());
    axum::Json(user_json(&user)).into_response()
}

/// `PUT /api/v1/users/:id`.
pub(crate) async fn update_user(
    State(s): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: axum::body::Bytes,
) -> Response {
    let f = form(&body, q.as_deref());
    let mut inst = s.data.write().unwrap_or_else(|p| p.into_inner());
    let Some(user) = resolve_user(&inst, &id).and_then(|id| inst.users.get_mut(&id)) else {
        return not_found();
    };
    if let Some(n) = value(&f, "user[name]") {
        if n.trim().is_empty() {
            return bad_request("name", "can't be blank");
        }
        user.name = n.to_owned();
    }
    if let Some(n) = value(&f, "user[short_name]") {
        user.short_name = n.to_owned();
    }
    if let Some(n) = value(&f, "user[sortable_name]") {
        user.sortable_name = n.to_owned();
    }
    let user = user.clone();
    axum::Json(user_json(&user)).into_response()
}

/// `PUT /api/v1/courses/:id/blueprint_templates/default/update_associations`.
pub(crate) async fn blueprint_associations(State(s): St, Path(id): Path<String>) -> Response {
    let inst = read_data(&s);
    match resolve_course(&inst, &id) {
        Some(_) => axum::Json(json!({"success": true})).into_response(),
        None => not_found(),
    }
}

/// `POST /api/v1/courses/:id/blueprint_templates/default/migrations`.
pub(crate) async fn blueprint_migration(State(s): St, Path(id): Path<String>) -> Response {
    let inst = read_data(&s);
    match resolve_course(&inst, &id) {
        Some(c) => axum::Json(
            json!({"id": c * 10 + 1, "template_id": c, "workflow_state": "queued", "user_id": 1,
                                      "created_at": "2026-11-29T12:00:00Z", "comment": null}),
        )
        .into_response(),
        None => not_found(),
    }
}

/// `POST /api/v1/courses/:id/content_migrations` (course copy).
pub(crate) async fn content_migration(
    State(s): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: axum::body::Bytes,
) -> Response {
    let f = form(&body, q.as_deref());
    let course = {
        let inst = read_data(&s);
        match resolve_course(&inst, &id) {
            Some(c) => c,
            None => return not_found(),
        }
    };
    if value(&f, "migration_type").is_none() {
        return bad_request("migration_type", "can't be blank");
    }
    let progress = crate::writes::new_progress(&s, course, "content_migration");
    axum::Json(json!({"id": progress, "migration_type": value(&f, "migration_type"), "workflow_state": "queued",
                      "progress_url": format!("{}/api/v1/progress/{progress}", s.base_url)}))
    .into_response()
}
