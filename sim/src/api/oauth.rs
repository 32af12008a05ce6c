//! `POST /login/oauth2/token` with `grant_type=refresh_token`: a new
//! access token, no new refresh token, and the old access token dies at
//! once (shared/CANVAS.md, Tokens). Errors are OAuth2's own shape.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::server::SimState;

pub(crate) async fn token(
    State(s): State<std::sync::Arc<SimState>>,
    body: crate::params::Body,
) -> Response {
    let form: std::collections::HashMap<String, String> =
        body.params.pairs().iter().cloned().collect();
    let now = s.clock.now();
    let result = s.auth().refresh(&form, now);
    match result {
        Ok((access, user_id)) => {
            let name = s
                .read()
                .users
                .get(&user_id)
                .map(|u| u.name.clone())
                .unwrap_or_default();
            Json(json!({
                "access_token": access,
                "token_type": "Bearer",
                "user": {"id": user_id, "name": name},
                "expires_in": crate::auth::ACCESS_TOKEN_LIFETIME.as_secs(),
            }))
            .into_response()
        }
        Err((status, body)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            Json(body),
        )
            .into_response(),
    }
}
