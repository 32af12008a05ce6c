//! Write endpoints: create a course, enroll a user, batch-update courses
//! (answered with a Progress object, as Canvas does).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::data::{Course, Enrollment};
use crate::http_util::{bad_request, not_found, query_pairs, values};
use crate::routes::{St, course_json, resolve_account, resolve_course};

/// Canvas's limit on one batch update.
const MAX_BATCH: usize = 500;

/// Fields under `prefix[...]` from a form or JSON body (and the query).
fn fields(
    headers: &HeaderMap,
    body: &[u8],
    query: &[(String, String)],
    prefix: &str,
) -> Result<Map<String, Value>, String> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let mut out = Map::new();
    if json {
        let v: Value =
            serde_json::from_slice(body).map_err(|_| "body is not valid JSON".to_owned())?;
        if let Some(Value::Object(m)) = v.get(prefix) {
            out.extend(m.clone());
        }
        if let Value::Object(m) = v {
            for (k, v) in m {
                if k != prefix {
                    out.insert(format!("^{k}"), v);
                }
            }
        }
        return Ok(out);
    }
    let open = format!("{prefix}[");
    for (k, v) in url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .chain(query.iter().cloned())
    {
        match k.strip_prefix(&open).and_then(|r| r.strip_suffix(']')) {
            Some(name) => {
                out.insert(name.to_owned(), Value::String(v));
            }
            None => {
                out.insert(format!("^{k}"), Value::String(v));
            }
        }
    }
    Ok(out)
}

fn text(m: &Map<String, Value>, k: &str) -> Option<String> {
    match m.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `POST /api/v1/accounts/:id/courses`.
pub(crate) async fn create_course(
    State(s): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let q = query_pairs(q.as_deref());
    let f = match fields(&headers, &body, &q, "course") {
        Ok(f) => f,
        Err(m) => return bad_request("body", &m),
    };
    let mut inst = s.data.write().unwrap_or_else(|p| p.into_inner());
    let Some(account) = resolve_account(&inst, &id) else {
        return not_found();
    };
    let sis = text(&f, "sis_course_id");
    if sis.as_ref().is_some_and(|x| {
        inst.courses
            .values()
            .any(|c| c.sis_course_id.as_ref() == Some(x))
    }) {
        return bad_request("sis_source_id", "SIS ID is already in use");
    }
    let id = inst.courses.keys().next_back().copied().unwrap_or(100) + 1;
    let term = text(&f, "term_id")
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let offer = text(&f, "^offer").as_deref() == Some("true");
    let name = text(&f, "name").unwrap_or_else(|| "Unnamed Course".into());
    let course = Course {
        id,
        course_code: text(&f, "course_code").unwrap_or_else(|| name.clone()),
        name,
        account_id: account,
        root_account_id: crate::data::ROOT_ACCOUNT_ID,
        enrollment_term_id: term,
        workflow_state: if offer { "available" } else { "unpublished" }.into(),
        start_at: text(&f, "start_at"),
        end_at: text(&f, "end_at"),
        sis_course_id: sis,
        uuid: crate::auth::random_string(40),
        time_zone: "America/Chicago".into(),
        blueprint: false,
        default_view: "modules".into(),
        is_public: false,
    };
    inst.add_course(course.clone());
    let section = inst.sections.keys().next_back().copied().unwrap_or(5000) + 1;
    inst.sections.insert(
        section,
        crate::data::Section {
            id: section,
            course_id: id,
            name: course.name.clone(),
            sis_section_id: None,
            start_at: None,
            end_at: None,
        },
    );
    axum::Json(course_json(&inst, &course, &[])).into_response()
}

/// `POST /api/v1/courses/:id/enrollments`.
pub(crate) async fn enroll(
    State(s): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let q = query_pairs(q.as_deref());
    let f = match fields(&headers, &body, &q, "enrollment") {
        Ok(f) => f,
        Err(m) => return bad_request("body", &m),
    };
    let mut inst = s.data.write().unwrap_or_else(|p| p.into_inner());
    let Some(course) = resolve_course(&inst, &id) else {
        return not_found();
    };
    let Some(user) = text(&f, "user_id")
        .and_then(|u| u.parse::<u64>().ok())
        .filter(|u| inst.users.contains_key(u))
    else {
        return bad_request("user_id", "The specified user does not exist");
    };
    let kind = text(&f, "type").unwrap_or_else(|| "StudentEnrollment".into());
    if !matches!(
        kind.as_str(),
        "StudentEnrollment"
            | "TeacherEnrollment"
            | "TaEnrollment"
            | "ObserverEnrollment"
            | "DesignerEnrollment"
    ) {
        return bad_request("type", "must be a valid enrollment type");
    }
    let section = text(&f, "course_section_id")
        .and_then(|x| x.parse().ok())
        .or_else(|| {
            inst.sections
                .values()
                .find(|x| x.course_id == course)
                .map(|x| x.id)
        })
        .unwrap_or(0);
    let id = inst
        .enrollments
        .keys()
        .next_back()
        .copied()
        .unwrap_or(50_000)
        + 1;
    let e = Enrollment {
        id,
        course_id: course,
        course_section_id: section,
        user_id: user,
        role: kind.clone(),
        kind,
        enrollment_state: text(&f, "enrollment_state").unwrap_or_else(|| "invited".into()),
    };
    inst.add_enrollment(e.clone());
    let mut v = serde_json::to_value(&e).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert(
            "root_account_id".into(),
            json!(crate::data::ROOT_ACCOUNT_ID),
        );
    }
    (StatusCode::OK, axum::Json(v)).into_response()
}

/// `PUT /api/v1/accounts/:id/courses` with `event` and `course_ids[]`:
/// answered with a queued Progress; the change is applied by the time the
/// Progress reports `completed`.
pub(crate) async fn batch_update_courses(
    State(s): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: axum::body::Bytes,
) -> Response {
    let mut q = query_pairs(q.as_deref());
    q.extend(url::form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&body) {
        for (k, v) in m {
            match v {
                Value::Array(items) => q.extend(
                    items
                        .iter()
                        .map(|i| (k.clone(), i.to_string().trim_matches('"').to_owned())),
                ),
                other => q.push((k, other.to_string().trim_matches('"').to_owned())),
            }
        }
    }
    let event = values(&q, "event")
        .first()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let next = match event.as_str() {
        "offer" => "available",
        "conclude" => "completed",
        "delete" => "deleted",
        "undelete" => "unpublished",
        _ => return bad_request("event", "must be one of offer, conclude, delete, undelete"),
    };
    let ids: Vec<u64> = values(&q, "course_ids")
        .iter()
        .filter_map(|x| x.parse().ok())
        .collect();
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return bad_request("course_ids", &format!("must name 1 to {MAX_BATCH} courses"));
    }
    let mut inst = s.data.write().unwrap_or_else(|p| p.into_inner());
    let Some(account) = resolve_account(&inst, &id) else {
        return not_found();
    };
    let owned: Vec<u64> = ids
        .into_iter()
        .filter(|c| {
            inst.courses
                .get(c)
                .is_some_and(|c| inst.is_within(c.account_id, account))
        })
        .collect();
    for c in &owned {
        if let Some(course) = inst.courses.get_mut(c) {
            course.workflow_state = next.to_owned();
        }
    }
    drop(inst);
    let pid = new_progress(&s, account, "course_batch_update");
    axum::Json(progress_json(
        &s.base_url,
        pid,
        account,
        "course_batch_update",
        0,
    ))
    .into_response()
}

/// Start a Progress record for a background job; returns its id.
pub(crate) fn new_progress(s: &crate::server::SimState, context: u64, tag: &'static str) -> u64 {
    let mut progress = s.progress.lock().unwrap_or_else(|p| p.into_inner());
    let id = progress.len() as u64 + 1;
    progress.push(Progress {
        id,
        account: context,
        tag,
        polls: 0,
    });
    id
}

/// A batch job's progress record.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    id: u64,
    account: u64,
    tag: &'static str,
    polls: u32,
}

fn progress_json(base: &str, id: u64, account: u64, tag: &str, polls: u32) -> Value {
    let (state, completion) = match polls {
        0 => ("queued", 0),
        1 => ("running", 50),
        _ => ("completed", 100),
    };
    json!({
        "id": id,
        "context_id": account,
        "context_type": "Account",
        "user_id": crate::data::ADMIN_USER_ID,
        "tag": tag,
        "completion": completion,
        "workflow_state": state,
        "created_at": "2026-11-29T12:00:00Z",
        "updated_at": "2026-11-29T12:00:00Z",
        "message": null,
        "url": format!("{base}/api/v1/progress/{id}"),
    })
}

/// `GET /api/v1/progress/:id`: queued, then running, then completed.
pub(crate) async fn progress(State(s): St, Path(id): Path<u64>) -> Response {
    let mut all = s.progress.lock().unwrap_or_else(|p| p.into_inner());
    match all.iter_mut().find(|p| p.id == id) {
        Some(p) => {
            p.polls += 1;
            axum::Json(progress_json(&s.base_url, p.id, p.account, p.tag, p.polls)).into_response()
        }
        None => not_found(),
    }
}
