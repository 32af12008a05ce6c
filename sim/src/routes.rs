//! The Canvas endpoints the simulator serves.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::auth::Rejection;
use crate::data::{Course, Institution};
use crate::extra;
use crate::http_util::{
    bad_request, invalid_token, not_found, page_of, paginate, paginate_bookmark,
    paginate_without_last, query_pairs, unauthenticated, unauthorized, value, values,
};
use crate::server::{RecordedRequest, SimState};
use crate::throttle::ThrottleAnswer;

pub(crate) type St = State<Arc<SimState>>;

/// Largest request body the simulator reads.
const MAX_BODY: usize = 8 * 1024 * 1024;

pub(crate) fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/login/oauth2/token", axum::routing::post(oauth_token))
        .route("/api/v1/users/self", get(user_self))
        .route("/api/v1/users/{id}", get(user_show).put(extra::update_user))
        .route("/api/v1/accounts", get(accounts_index))
        .route("/api/v1/accounts/{id}", get(account_show))
        .route("/api/v1/accounts/{id}/sub_accounts", get(sub_accounts))
        .route("/api/v1/accounts/{id}/terms", get(terms))
        .route(
            "/api/v1/accounts/{id}/courses",
            get(account_courses)
                .post(crate::writes::create_course)
                .put(crate::writes::batch_update_courses),
        )
        .route("/api/v1/progress/{id}", get(crate::writes::progress))
        .route(
            "/api/v1/accounts/{id}/sis_imports",
            get(crate::jobs::sis_imports).post(crate::jobs::create_sis_import),
        )
        .route(
            "/api/v1/accounts/{id}/sis_imports/{sid}",
            get(crate::jobs::sis_import),
        )
        .route(
            "/api/v1/accounts/{id}/reports/{report}",
            axum::routing::post(crate::jobs::start_report),
        )
        .route(
            "/api/v1/accounts/{id}/reports/{report}/{rid}",
            get(crate::jobs::report_status),
        )
        .route("/files/reports/{rid}/{name}", get(crate::jobs::report_file))
        .route("/api/v1/sections/{id}", get(extra::section_show))
        .route(
            "/api/v1/accounts/{id}/enrollments/{eid}",
            get(extra::enrollment_show),
        )
        .route(
            "/api/v1/sections/{id}/enrollments",
            get(extra::section_enrollments).post(extra::section_enroll),
        )
        .route(
            "/api/v1/users/{id}/enrollments",
            get(extra::user_enrollments),
        )
        .route("/api/v1/users/{id}/logins", get(extra::user_logins))
        .route("/api/v1/users/{id}/page_views", get(extra::page_views))
        .route(
            "/api/v1/accounts/{id}/users",
            get(extra::account_users).post(extra::create_user),
        )
        .route("/api/v1/accounts/{id}/admins", get(extra::account_admins))
        .route("/api/v1/courses/{id}/assignments", get(extra::assignments))
        .route(
            "/api/v1/courses/{id}/students/submissions",
            get(extra::student_submissions),
        )
        .route(
            "/api/v1/courses/{id}/assignments/{a}/submissions/{u}",
            axum::routing::put(extra::grade),
        )
        .route(
            "/api/v1/courses/{id}/enrollments/{e}",
            axum::routing::delete(extra::end_enrollment),
        )
        .route(
            "/api/v1/courses/{id}/blueprint_templates/default/update_associations",
            axum::routing::put(extra::blueprint_associations),
        )
        .route(
            "/api/v1/courses/{id}/blueprint_templates/default/migrations",
            axum::routing::post(extra::blueprint_migration),
        )
        .route(
            "/api/v1/courses/{id}/content_migrations",
            axum::routing::post(extra::content_migration),
        )
        .route("/api/v1/courses/{id}", get(course_show).put(course_update))
        .route("/api/v1/courses/{id}/sections", get(course_sections))
        .route(
            "/api/v1/courses/{id}/enrollments",
            get(course_enrollments).post(crate::writes::enroll),
        )
        .fallback(|| async { not_found() })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_and_authenticate,
        ))
        .with_state(state)
}

/// Record every request, then apply Canvas's authentication rules.
async fn record_and_authenticate(State(state): St, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let bytes = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response(),
    };
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    if state.record_requests
        && let Ok(mut log) = state.log.lock()
    {
        log.push(recorded);
    }
    // Token endpoint and pre-signed file URLs carry no bearer token.
    if parts.uri.path() == "/login/oauth2/token" || parts.uri.path().starts_with("/files/") {
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    }
    if state
        .faults()
        .echo_headers
        .is_some_and(|prefix| parts.uri.path().starts_with(&prefix))
    {
        return crate::faults::echo_headers(&parts.headers);
    }
    if let Some(target) = state.faults().redirect_to {
        let location = format!("{target}{}", parts.uri);
        return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    }
    let authn = match authenticate(&state, &parts.headers) {
        Ok(authn) => authn,
        Err(answer) => return answer(),
    };
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    if let Some(scopes) = &authn.scopes
        && !scopes.iter().any(|s| s.matches(&method, &path))
    {
        return insufficient_scopes();
    }
    let query = query_pairs(parts.uri.query());
    let user = {
        let inst = read_data(&state);
        let mut user = authn.user_id;
        if let Some(target) = value(&query, "as_user_id") {
            let target = target
                .parse::<u64>()
                .ok()
                .filter(|t| inst.users.contains_key(t));
            match target {
                Some(t) if inst.is_admin_of(user, crate::data::ROOT_ACCOUNT_ID) => user = t,
                _ => return invalid_as_user_id(),
            }
        }
        if !crate::permissions::permitted(&inst, user, &method, &path) {
            return unauthorized();
        }
        user
    };
    if authn.scopes.is_some() && !authn.allow_includes {
        // Without "allow includes", Canvas silently cuts include[] to uuid.
        let kept: Vec<(String, String)> = query
            .into_iter()
            .filter(|(k, v)| !(k == "include[]" || k == "include") || v == "uuid")
            .collect();
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.extend_pairs(&kept);
        if let Ok(uri) = format!("{path}?{}", ser.finish()).parse() {
            parts.uri = uri;
        }
    }
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v))
        .unwrap_or("")
        .to_owned();
    let (config, admitted) = state.throttle.admit(&token);
    if let Err(remaining) = admitted {
        let mut r = match config.answer {
            ThrottleAnswer::Forbidden => (
                StatusCode::FORBIDDEN,
                "403 Forbidden (Rate Limit Exceeded)\n",
            )
                .into_response(),
            ThrottleAnswer::TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "429 Too Many Requests (Rate Limit Exceeded)\n",
            )
                .into_response(),
        };
        rate_headers(r.headers_mut(), 0.0, remaining);
        return r;
    }
    let faults = state.faults();
    if let Some(latency) = faults.latency {
        tokio::time::sleep(latency).await;
    }
    let fails = faults
        .error_method
        .as_ref()
        .is_none_or(|m| *m == parts.method);
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(Caller(user));
    let roll = |rate: f64| rate > 0.0 && rand::random::<f64>() < rate;
    let mut resp = if fails && roll(faults.error_rate) {
        internal_error()
    } else {
        next.run(req).await
    };
    let remaining = state.throttle.finish(&token, &config);
    rate_headers(resp.headers_mut(), config.request_cost, remaining);
    if roll(faults.drop_rate) {
        return crate::faults::dropped(resp);
    }
    if let Some(gap) = faults.slow_body {
        return crate::faults::slow(resp, gap).await;
    }
    resp
}

/// Canvas's 500.
fn internal_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({
            "errors": [{"message": "An error occurred.", "error_code": "internal_server_error"}],
            "error_report_id": rand::random::<u32>() % 1_000_000,
        })),
    )
        .into_response()
}

/// `x-request-cost` and `x-rate-limit-remaining`, as Canvas sends them.
fn rate_headers(headers: &mut HeaderMap, cost: f64, remaining: f64) {
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("{cost:.4}")) {
        headers.insert("x-request-cost", v);
    }
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("{remaining:.4}")) {
        headers.insert("x-rate-limit-remaining", v);
    }
}

/// The authenticated user of a request.
#[derive(Debug, Clone, Copy)]
struct Caller(u64);

/// 401 for a scoped token calling outside its scopes (no WWW-Authenticate).
fn insufficient_scopes() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"errors":[{"message":"Insufficient scopes on access token."}]})),
    )
        .into_response()
}

/// 401 for a masquerade the caller may not make (errors is a string here).
fn invalid_as_user_id() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"errors": "Invalid as_user_id"})),
    )
        .into_response()
}

/// The caller, or the response Canvas gives instead.
fn authenticate(
    state: &SimState,
    headers: &HeaderMap,
) -> Result<crate::auth::Authn, fn() -> Response> {
    if headers.get(header::USER_AGENT).is_none() {
        return Err(unauthorized);
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|a| a.strip_prefix("Bearer ").map(str::trim).unwrap_or(""));
    match state.auth().authenticate(token, state.clock.now()) {
        Ok(authn) => Ok(authn),
        Err(Rejection::Missing) => Err(unauthenticated),
        Err(Rejection::Invalid) => Err(invalid_token),
    }
}

/// `POST /login/oauth2/token` with `grant_type=refresh_token`.
async fn oauth_token(State(s): St, body: axum::body::Bytes) -> Response {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let now = s.clock.now();
    let result = s.auth().refresh(&form, now);
    match result {
        Ok((access, user_id)) => {
            let name = read_data(&s)
                .users
                .get(&user_id)
                .map(|u| u.name.clone())
                .unwrap_or_default();
            axum::Json(json!({
                "access_token": access,
                "token_type": "Bearer",
                "user": {"id": user_id, "name": name},
                "expires_in": crate::auth::ACCESS_TOKEN_LIFETIME.as_secs(),
            }))
            .into_response()
        }
        Err((status, body)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            axum::Json(body),
        )
            .into_response(),
    }
}

pub(crate) fn read_data(state: &SimState) -> std::sync::RwLockReadGuard<'_, Institution> {
    state.data.read().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn resolve_account(inst: &Institution, raw: &str) -> Option<u64> {
    if raw == "self" {
        return Some(crate::data::ROOT_ACCOUNT_ID);
    }
    if let Some(sis) = raw.strip_prefix("sis_account_id:") {
        return inst
            .accounts
            .values()
            .find(|a| a.sis_account_id.as_deref() == Some(sis))
            .map(|a| a.id);
    }
    raw.parse().ok().filter(|id| inst.accounts.contains_key(id))
}

pub(crate) fn resolve_course(inst: &Institution, raw: &str) -> Option<u64> {
    if let Some(sis) = raw.strip_prefix("sis_course_id:") {
        return inst
            .courses
            .values()
            .find(|c| c.sis_course_id.as_deref() == Some(sis))
            .map(|c| c.id);
    }
    raw.parse().ok().filter(|id| inst.courses.contains_key(id))
}

async fn user_self(
    State(s): St,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
) -> Response {
    user_show(State(s), Path(user.to_string())).await
}

async fn user_show(State(s): St, Path(id): Path<String>) -> Response {
    let inst = read_data(&s);
    match id.parse::<u64>().ok().and_then(|id| inst.users.get(&id)) {
        Some(u) => axum::Json(u).into_response(),
        None => not_found(),
    }
}

/// Accounts the caller administers: the root account for the admin.
async fn accounts_index(
    State(s): St,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query_pairs(q.as_deref());
    let inst = read_data(&s);
    let roots: Vec<_> = inst
        .admins
        .iter()
        .filter(|(_, u)| *u == user)
        .filter_map(|(a, _)| inst.accounts.get(a))
        .collect();
    paginate(&s.link_base(), "/api/v1/accounts", &q, &roots)
}

async fn account_show(State(s): St, Path(id): Path<String>) -> Response {
    let inst = read_data(&s);
    match resolve_account(&inst, &id).and_then(|id| inst.accounts.get(&id)) {
        Some(a) => axum::Json(a).into_response(),
        None => not_found(),
    }
}

async fn sub_accounts(State(s): St, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    let q = query_pairs(q.as_deref());
    let inst = read_data(&s);
    let Some(id) = resolve_account(&inst, &id) else {
        return not_found();
    };
    let recursive = value(&q, "recursive") == Some("true");
    let subs: Vec<_> = inst
        .accounts
        .values()
        .filter(|a| a.id != id)
        .filter(|a| {
            if recursive {
                inst.is_within(a.id, id)
            } else {
                a.parent_account_id == Some(id)
            }
        })
        .collect();
    let path = format!("/api/v1/accounts/{id}/sub_accounts");
    if recursive {
        paginate_without_last(&s.link_base(), &path, &q, &subs)
    } else {
        paginate(&s.link_base(), &path, &q, &subs)
    }
}

async fn terms(State(s): St, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    let q = query_pairs(q.as_deref());
    let inst = read_data(&s);
    let Some(account) = resolve_account(&inst, &id) else {
        return not_found();
    };
    let terms: Vec<_> = inst.terms.values().collect();
    // Canvas wraps this list; the Link header still describes the pages.
    let (headers, page) = page_of(
        &s.link_base(),
        &format!("/api/v1/accounts/{account}/terms"),
        &q,
        &terms,
    );
    (headers, axum::Json(json!({ "enrollment_terms": page }))).into_response()
}

pub(crate) fn course_json(inst: &Institution, c: &Course, include: &[&str]) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        if let Some(t) = inst
            .terms
            .get(&c.enrollment_term_id)
            .filter(|_| include.contains(&"term"))
        {
            {
                map.insert("term".into(), json!({"id": t.id, "name": t.name, "start_at": t.start_at, "end_at": t.end_at, "workflow_state": t.workflow_state}));
            }
        }
        if include.contains(&"teachers") {
            let teachers: Vec<Value> = inst
                .enrollments_of(c.id)
                .filter(|e| e.kind == "TeacherEnrollment" && e.enrollment_state == "active")
                .filter_map(|e| inst.users.get(&e.user_id))
                .map(|u| json!({"id": u.id, "display_name": u.short_name, "anonymous_id": format!("{:x}", u.id), "html_url": format!("/courses/{}/users/{}", c.id, u.id)}))
                .collect();
            map.insert("teachers".into(), Value::Array(teachers));
        }
        if include.contains(&"total_students") {
            map.insert(
                "total_students".into(),
                json!(inst.count_enrollments(c.id, "StudentEnrollment")),
            );
        }
    }
    v
}

async fn account_courses(State(s): St, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    let q = query_pairs(q.as_deref());
    let inst = read_data(&s);
    let Some(account) = resolve_account(&inst, &id) else {
        return not_found();
    };
    let states = values(&q, "state");
    let term = value(&q, "enrollment_term_id").and_then(|t| t.parse::<u64>().ok());
    let published = value(&q, "published");
    let search = value(&q, "search_term").map(str::to_lowercase);
    let include = values(&q, "include");
    let courses: Vec<&Course> = inst
        .courses_in(account)
        .into_iter()
        .filter(|c| {
            if states.is_empty() {
                c.workflow_state != "deleted"
            } else {
                states.iter().any(|s| {
                    *s == c.workflow_state
                        || (*s == "all")
                        || (*s == "created" && c.workflow_state == "unpublished")
                        || (*s == "claimed" && c.workflow_state == "unpublished")
                })
            }
        })
        .filter(|c| term.is_none_or(|t| c.enrollment_term_id == t))
        .filter(|c| match published {
            Some("true") => c.workflow_state == "available",
            Some("false") => c.workflow_state == "unpublished",
            _ => true,
        })
        .filter(|c| {
            search.as_deref().is_none_or(|t| {
                c.name.to_lowercase().contains(t) || c.course_code.to_lowercase().contains(t)
            })
        })
        .collect();
    // Build JSON only for the page asked for.
    let (headers, page) = page_of(
        &s.link_base(),
        &format!("/api/v1/accounts/{account}/courses"),
        &q,
        &courses,
    );
    let body: Vec<Value> = page
        .iter()
        .map(|c| course_json(&inst, c, &include))
        .collect();
    (headers, axum::Json(body)).into_response()
}

async fn course_show(State(s): St, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    let q = query_pairs(q.as_deref());
    let inst = read_data(&s);
    match resolve_course(&inst, &id).and_then(|id| inst.courses.get(&id)) {
        Some(c) if c.workflow_state != "deleted" => {
            axum::Json(course_json(&inst, c, &values(&q, "include"))).into_response()
        }
        _ => not_found(),
    }
}

/// `course[event]` and other course fields from a JSON or form body.
fn course_fields(
    headers: &HeaderMap,
    body: &[u8],
    query: &[(String, String)],
) -> Result<serde_json::Map<String, Value>, Box<Response>> {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let mut fields = serde_json::Map::new();
    if json_body {
        let v: Value = serde_json::from_slice(body)
            .map_err(|_| Box::new(bad_request("body", "is not valid JSON")))?;
        if let Some(Value::Object(c)) = v.get("course") {
            fields.extend(c.clone());
        }
    } else {
        for (k, v) in url::form_urlencoded::parse(body).chain(
            query
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.as_str().into())),
        ) {
            if let Some(name) = k.strip_prefix("course[").and_then(|r| r.strip_suffix(']')) {
                fields.insert(name.to_owned(), Value::String(v.into_owned()));
            }
        }
    }
    Ok(fields)
}

async fn course_update(
    State(s): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let q = query_pairs(q.as_deref());
    let fields = match course_fields(&headers, &body, &q) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let mut inst = s.data.write().unwrap_or_else(|p| p.into_inner());
    let Some(cid) = resolve_course(&inst, &id) else {
        return not_found();
    };
    let Some(course) = inst.courses.get_mut(&cid) else {
        return not_found();
    };
    if let Some(event) = fields.get("event").and_then(Value::as_str) {
        let next = match (event, course.workflow_state.as_str()) {
            ("offer", "unpublished" | "available") => "available",
            ("claim", "unpublished" | "available") => "unpublished",
            ("conclude", "available" | "unpublished" | "completed") => "completed",
            ("delete", _) => "deleted",
            ("undelete", "deleted") => "unpublished",
            ("offer" | "claim" | "conclude" | "undelete", _) => {
                return bad_request(
                    "event",
                    &format!("cannot {event} a course that is {}", course.workflow_state),
                );
            }
            _ => {
                return bad_request(
                    "event",
                    "must be one of offer, claim, conclude, delete, undelete",
                );
            }
        };
        course.workflow_state = next.to_owned();
    }
    if let Some(name) = fields.get("name").and_then(Value::as_str) {
        if name.trim().is_empty() {
            return bad_request("name", "can't be blank");
        }
        course.name = name.to_owned();
    }
    let course = course.clone();
    axum::Json(course_json(&inst, &course, &[])).into_response()
}

async fn course_sections(State(s): St, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    let q = query_pairs(q.as_deref());
    let inst = read_data(&s);
    let Some(cid) = resolve_course(&inst, &id) else {
        return not_found();
    };
    let sections: Vec<_> = inst
        .sections
        .values()
        .filter(|x| x.course_id == cid)
        .collect();
    paginate(
        &s.link_base(),
        &format!("/api/v1/courses/{cid}/sections"),
        &q,
        &sections,
    )
}

async fn course_enrollments(
    State(s): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query_pairs(q.as_deref());
    let inst = read_data(&s);
    let Some(cid) = resolve_course(&inst, &id) else {
        return not_found();
    };
    let types = values(&q, "type");
    let list: Vec<Value> = inst
        .enrollments_of(cid)
        .filter(|e| types.is_empty() || types.contains(&e.kind.as_str()))
        .map(|e| extra::enrollment_json(&inst, e))
        .collect();
    paginate_bookmark(
        &s.link_base(),
        &format!("/api/v1/courses/{cid}/enrollments"),
        &q,
        &list,
        |v| v.get("id").and_then(Value::as_u64).unwrap_or(0),
    )
}
