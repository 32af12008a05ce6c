//! The gate every request passes before and after its handler, in
//! Canvas's order:
//!
//! 1. record the request (tests prove what did, and did not, arrive);
//! 2. the token endpoint and pre-signed file URLs carry no token: through;
//!    a `.json` format suffix is dropped (scopes still see it);
//! 3. proxy faults (a `302` elsewhere, headers echoed) answer first;
//! 4. authentication: no User-Agent is 403, no token or a bad one 401;
//! 5. a scoped token outside its scopes is 401 (`scope.rs`); without
//!    "allow includes" its `include[]` is cut to `uuid`;
//! 6. masquerading (`as_user_id` from query or body, any id form) needs a
//!    root admin, else 401 `Invalid as_user_id`;
//! 7. permission (`permissions.rs`): 403;
//! 8. the token's leaky bucket (`throttle.rs`): 429/403 as text, as Canvas;
//! 9. the handler, or a faulted 500;
//! 10. afterwards: any non-JSON error becomes Canvas's JSON, ids become
//!     strings when the client asked, rate headers are set, and body
//!     faults (drop, trickle) apply.
//!
//! Nothing here logs, echoes or returns a token except the `echo_headers`
//! fault, which exists to play a misconfigured proxy.

use std::sync::Arc;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{Authn, Rejection};
use crate::error;
use crate::lookup::Kind;
use crate::params::Params;
use crate::server::{RecordedRequest, SimState};
use crate::throttle::ThrottleAnswer;

/// Largest request body the simulator reads.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// Largest response body the string-ids rewrite reads.
const MAX_REWRITE: usize = 64 * 1024 * 1024;
/// The `Accept` media type asking for ids as strings.
const STRING_IDS: &str = "application/json+canvas-string-ids";

/// The answer that stops a request at the gate.
type Refused = Box<Response>;

/// The user a request acts as (the masqueraded user, if any).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller(pub(crate) u64);

/// The middleware: see the module documentation for its steps.
pub(crate) async fn gate(State(state): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return error::generic(StatusCode::PAYLOAD_TOO_LARGE);
    };
    // Scopes see the path as sent; everything else sees it without a Rails
    // format suffix (`/courses/1.json` is `/courses/1`, see `strip_format`).
    let raw_path = parts
        .extensions
        .get::<SentPath>()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.0.clone());
    record(&state, &parts, &raw_path, &bytes);
    let path = parts.uri.path().to_owned();
    if path.starts_with("/login/oauth2/") || path.starts_with("/files/") {
        let resp = next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
        if path == "/login/oauth2/auth" {
            // A page for a person in a browser, not an API answer: its
            // text says what to do.
            return resp;
        }
        return canvas_errors(resp).await;
    }
    let faults = state.faults();
    if faults
        .echo_headers
        .as_deref()
        .is_some_and(|prefix| path.starts_with(prefix))
    {
        return crate::faults::echo_headers(&parts.headers);
    }
    if let Some(target) = &faults.redirect_to {
        let location = format!("{target}{}", parts.uri);
        return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    }
    let (authn, token) = match authenticate(&state, &parts.headers) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let method = parts.method.as_str().to_owned();
    if let Some(scopes) = &authn.scopes {
        if !scopes.iter().any(|s| s.matches(&method, &raw_path)) {
            return error::insufficient_scopes();
        }
        if !authn.allow_includes {
            cut_includes(&mut parts);
        }
    }
    let params = Params::from_query(parts.uri.query())
        .merge(Params::from_body(content_type(&parts.headers), &bytes).unwrap_or_default());
    let user = match act_as(&state, &authn, &params, &method, &path) {
        Ok(user) => user,
        Err(answer) => return *answer,
    };
    let network = faults.network.filter(|n| !n.is_zero());
    if let Some(n) = network {
        tokio::time::sleep(n).await;
    }
    let (config, admitted) = state.throttle.admit(&token);
    let cost = crate::throttle::Throttle::cost(&config, &method, &path, parts.uri.query());
    if let Err(remaining) = admitted {
        let (status, text) = match config.answer {
            ThrottleAnswer::Forbidden => (
                StatusCode::FORBIDDEN,
                "403 Forbidden (Rate Limit Exceeded)\n",
            ),
            ThrottleAnswer::TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "429 Too Many Requests (Rate Limit Exceeded)\n",
            ),
        };
        let mut r = (status, [(header::CONTENT_TYPE, "text/plain")], text).into_response();
        rate_headers(r.headers_mut(), 0.0, remaining);
        if let Some(n) = network {
            tokio::time::sleep(n).await;
        }
        return r;
    }
    let admitted_at = std::time::Instant::now();
    if let Some(latency) = faults.latency {
        let jitter = faults.latency_jitter.unwrap_or_default().as_secs_f64();
        let drawn = latency.as_secs_f64() + jitter * (2.0 * rand::random::<f64>() - 1.0);
        tokio::time::sleep(std::time::Duration::from_secs_f64(drawn.max(0.0))).await;
    }
    let fails = faults
        .error_method
        .as_ref()
        .is_none_or(|m| *m == parts.method);
    let string_ids = parts
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.contains(STRING_IDS)));
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(Caller(user));
    let roll = |rate: f64| rate > 0.0 && rand::random::<f64>() < rate;
    let mut resp = if fails && roll(faults.error_rate) {
        error::internal_error()
    } else {
        let resp = canvas_errors(next.run(req).await).await;
        if string_ids {
            stringify(resp).await
        } else {
            resp
        }
    };
    let remaining = state.throttle.finish(&token, &config, cost);
    rate_headers(resp.headers_mut(), cost, remaining);
    // Rails's `X-Runtime`: seconds spent on the request inside Canvas,
    // from its admission to its answer.
    let runtime = admitted_at.elapsed().as_secs_f64();
    if let Ok(v) = HeaderValue::from_str(&format!("{runtime:.6}")) {
        resp.headers_mut().insert("x-runtime", v);
    }
    if let Some(n) = network {
        tokio::time::sleep(n).await;
    }
    if roll(faults.drop_rate) {
        return crate::faults::dropped(resp);
    }
    if let Some(gap) = faults.slow_body {
        return crate::faults::slow(resp, gap).await;
    }
    resp
}

fn record(state: &SimState, parts: &Parts, path: &str, bytes: &Bytes) {
    if !state.record_requests {
        return;
    }
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: path.to_owned(),
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
        body: String::from_utf8_lossy(bytes).into_owned(),
    };
    if let Ok(mut log) = state.log.lock() {
        log.push(recorded);
    }
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The caller and their bearer token, or Canvas's answer instead.
fn authenticate(state: &SimState, headers: &HeaderMap) -> Result<(Authn, String), Refused> {
    if headers.get(header::USER_AGENT).is_none() {
        return Err(Box::new(error::unauthorized()));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|a| a.strip_prefix("Bearer ").map(str::trim).unwrap_or(""));
    match state.auth().authenticate(token, state.clock.now()) {
        Ok(authn) => Ok((authn, token.unwrap_or("").to_owned())),
        Err(Rejection::Missing) => Err(Box::new(error::unauthenticated())),
        Err(Rejection::Invalid) => Err(Box::new(error::invalid_token())),
    }
}

/// The request path as the client sent it, before `strip_format`.
#[derive(Debug, Clone)]
pub(crate) struct SentPath(pub(crate) String);

/// Before routing: drop a `.json` suffix from the last path segment, as
/// Rails routes take `(.:format)`, keeping the path as sent for scopes and
/// the request log.
pub(crate) async fn strip_format(mut req: Request) -> Request {
    let sent = req.uri().path().to_owned();
    req.extensions_mut().insert(SentPath(sent.clone()));
    let Some(path) = sent.strip_suffix(".json") else {
        return req;
    };
    if path.ends_with('/') {
        return req;
    }
    let uri = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    if let Ok(uri) = uri.parse() {
        *req.uri_mut() = uri;
    }
    req
}

/// Without "allow includes", Canvas silently cuts `include[]` to `uuid`.
fn cut_includes(parts: &mut Parts) {
    let query = Params::from_query(parts.uri.query());
    let kept = query
        .pairs()
        .iter()
        .filter(|(k, v)| !(k == "include[]" || k == "include") || v == "uuid");
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    ser.extend_pairs(kept);
    let path = parts.uri.path().to_owned();
    if let Ok(uri) = format!("{path}?{}", ser.finish()).parse() {
        parts.uri = uri;
    }
}

/// The user the request acts as: the token's, or the one `as_user_id`
/// names if the token's user may become them; then the permission check.
fn act_as(
    state: &SimState,
    authn: &Authn,
    params: &Params,
    method: &str,
    path: &str,
) -> Result<u64, Refused> {
    let inst = state.read();
    let mut user = authn.user_id;
    if let Some(target) = params.value("as_user_id") {
        let may_become = inst.is_admin_of(user, crate::model::ROOT_ACCOUNT_ID);
        match inst.resolve(Kind::User, target, user) {
            Some(t) if may_become => user = t,
            _ => return Err(Box::new(error::invalid_as_user_id())),
        }
    }
    if !crate::permissions::permitted(&inst, user, method, path) {
        return Err(Box::new(error::unauthorized()));
    }
    Ok(user)
}

/// Errors the router or an extractor produced in text (an unknown path
/// segment, a body it could not read) become Canvas's JSON: 404 for a
/// route or method Canvas does not have, the generic shape otherwise.
async fn canvas_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    match status {
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => error::not_found(),
        other => error::generic(other),
    }
}

/// The response with every id a string (shared/CANVAS.md).
async fn stringify(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_REWRITE).await else {
        return error::internal_error();
    };
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    crate::render::stringify_ids(&mut v);
    let text = serde_json::to_vec(&v).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(text))
}

/// `x-request-cost` and `x-rate-limit-remaining`, as Canvas sends them.
fn rate_headers(headers: &mut HeaderMap, cost: f64, remaining: f64) {
    if let Ok(v) = HeaderValue::from_str(&format!("{cost:.4}")) {
        headers.insert("x-request-cost", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{remaining:.4}")) {
        headers.insert("x-rate-limit-remaining", v);
    }
}
