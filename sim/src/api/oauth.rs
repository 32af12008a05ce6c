//! OAuth2 at `/login/oauth2`: the authorization endpoint (the simulator has
//! no login page: the test user is chosen with `sim_user=<id>`), the token
//! endpoint (`authorization_code` and `refresh_token`: a refresh gives a new
//! access token, no new refresh token, and the old access token dies at
//! once, shared/CANVAS.md, Tokens), and logout. Errors are OAuth2's own
//! shape.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthorizeError;
use crate::server::SimState;

/// `GET /login/oauth2/auth?client_id&response_type=code&redirect_uri&state`
/// plus `sim_user=<id>` (who signs in) or `sim_deny=1` (who declines).
pub(crate) async fn authorize(
    State(s): State<std::sync::Arc<SimState>>,
    crate::params::Query(q): crate::params::Query,
) -> Response {
    let q: HashMap<String, String> = q.pairs().iter().cloned().collect();
    let user = match (q.get("sim_user"), q.get("sim_deny")) {
        (_, Some(_)) => None,
        (Some(id), None) => match id.parse::<u64>() {
            Ok(id) if s.read().users.contains_key(&id) => Some(id),
            _ => return page(400, &format!("no user {id} in this simulator")),
        },
        (None, None) => {
            return page(
                400,
                "the simulator has no login page: choose who signs in with sim_user=<user id> (or decline with sim_deny=1)",
            );
        }
    };
    let now = s.clock.now();
    let result = s.auth().authorize(&q, user, now);
    let state = q.get("state").cloned();
    match result {
        Ok((redirect, code)) => back(&redirect, &[("code", &code)], state.as_deref()),
        Err(AuthorizeError::Back(redirect, error)) => {
            back(&redirect, &[("error", error)], state.as_deref())
        }
        Err(AuthorizeError::Here(status, message)) => page(status, &message),
    }
}

/// A redirect to the client's redirect URI with `pairs` and `state`.
fn back(redirect: &str, pairs: &[(&str, &str)], state: Option<&str>) -> Response {
    let Ok(mut url) = url::Url::parse(redirect) else {
        return page(400, "invalid_request: redirect_uri is not a URL");
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        if let Some(state) = state {
            q.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

fn page(status: u16, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

/// `POST /login/oauth2/token`.
pub(crate) async fn token(
    State(s): State<std::sync::Arc<SimState>>,
    body: crate::params::Body,
) -> Response {
    let form: HashMap<String, String> = body.params.pairs().iter().cloned().collect();
    let now = s.clock.now();
    let result = s.auth().token(&form, now);
    match result {
        Ok((access, refresh, user_id)) => {
            let name = s
                .read()
                .users
                .get(&user_id)
                .map(|u| u.name.clone())
                .unwrap_or_default();
            let mut answer = json!({
                "access_token": access,
                "token_type": "Bearer",
                "user": {"id": user_id, "name": name},
                "expires_in": crate::auth::ACCESS_TOKEN_LIFETIME.as_secs(),
            });
            if let Some(refresh) = refresh {
                answer["refresh_token"] = json!(refresh);
            }
            Json(answer).into_response()
        }
        Err((status, body)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            Json(body),
        )
            .into_response(),
    }
}

/// `DELETE /login/oauth2/token`: the bearer token (and its refresh token)
/// stop working.
pub(crate) async fn log_out(
    State(s): State<std::sync::Arc<SimState>>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let now = s.clock.now();
    match token {
        Some(t) if s.auth().log_out(t, now) => Json(json!({})).into_response(),
        _ => crate::error::invalid_token(),
    }
}
