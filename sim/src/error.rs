//! Canvas's error answers, all JSON (shared/CANVAS.md, Errors and Tokens).
//!
//! Handlers return [`ApiError`] and never build an error body themselves,
//! so each shape is written once. The shapes are Canvas's own: which one
//! an endpoint uses follows Canvas's controller for it. No error body
//! carries anything from the request's credentials.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A handler's result.
pub(crate) type ApiResult = Result<Response, ApiError>;

/// Why a request failed, in the shape Canvas answers it with.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// 404 `{"errors":[{"message":"The specified resource does not exist."}]}`.
    NotFound,
    /// 400 for a request Rails could not take (malformed body, unknown
    /// role): `{"errors":[{"message":"An error occurred.","error_code":"bad_request"}]}`.
    BadRequest,
    /// 400 for a record that failed validation:
    /// `{"errors":{attr:[{"attribute","type","message"}]}}`.
    Invalid {
        attribute: String,
        kind: &'static str,
        message: String,
    },
    /// `{"message": ...}`, as batch updates and enrollment creation answer.
    Message { status: StatusCode, message: String },
    /// `{"error": ...}`, as invitation and state checks answer.
    Error { status: StatusCode, message: String },
    /// 422 `{"errors":[{"field","message","error_code"}]}`.
    Unprocessable {
        field: &'static str,
        message: String,
    },
    /// `{"errors":[message]}` (SIS imports).
    List { status: StatusCode, message: String },
    /// An endpoint's own error body (user creation's nested errors).
    Shaped { status: StatusCode, body: Value },
}

impl ApiError {
    /// A validation failure on `attribute`.
    pub(crate) fn invalid(attribute: &str, kind: &'static str, message: &str) -> Self {
        ApiError::Invalid {
            attribute: attribute.to_owned(),
            kind,
            message: message.to_owned(),
        }
    }

    /// `{"message": ...}` with 400.
    pub(crate) fn message(message: impl Into<String>) -> Self {
        ApiError::Message {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::NotFound => return not_found(),
            ApiError::BadRequest => return generic(StatusCode::BAD_REQUEST),
            ApiError::Invalid {
                attribute,
                kind,
                message,
            } => (
                StatusCode::BAD_REQUEST,
                json!({"errors": {&attribute: [{"attribute": &attribute, "type": kind, "message": message}]}}),
            ),
            ApiError::Message { status, message } => (status, json!({ "message": message })),
            ApiError::Error { status, message } => (status, json!({ "error": message })),
            ApiError::Unprocessable { field, message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"errors": [{"field": field, "message": message, "error_code": "invalid"}]}),
            ),
            ApiError::List { status, message } => (status, json!({ "errors": [message] })),
            ApiError::Shaped { status, body } => (status, body),
        };
        (status, Json(body)).into_response()
    }
}

fn errors(message: &str) -> Value {
    json!({"errors": [{"message": message}]})
}

/// 404 with Canvas's body (also for paths no route serves).
pub(crate) fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(errors("The specified resource does not exist.")),
    )
        .into_response()
}

/// 403 for a caller without permission.
pub(crate) fn unauthorized() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"status": "unauthorized", "errors": [{"message": "user not authorized to perform that action"}]})),
    )
        .into_response()
}

/// Rails's answer for an error it has no better words for:
/// `{"errors":[{"message":"An error occurred.","error_code":"<status>"}]}`.
pub(crate) fn generic(status: StatusCode) -> Response {
    let code = status
        .canonical_reason()
        .unwrap_or("error")
        .to_lowercase()
        .replace([' ', '-'], "_");
    (
        status,
        Json(json!({"errors": [{"message": "An error occurred.", "error_code": code}]})),
    )
        .into_response()
}

/// 401 for an invalid, expired or unknown token.
pub(crate) fn invalid_token() -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        Json(errors("Invalid access token.")),
    )
        .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"canvas-lms\""),
    );
    r
}

/// 401 when no credentials were sent.
pub(crate) fn unauthenticated() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"status": "unauthenticated", "errors": [{"message": "user authorization required"}]})),
    )
        .into_response()
}

/// 401 for a scoped token calling outside its scopes (no WWW-Authenticate).
pub(crate) fn insufficient_scopes() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(errors("Insufficient scopes on access token.")),
    )
        .into_response()
}

/// 401 for a masquerade the caller may not make (errors is a string here).
pub(crate) fn invalid_as_user_id() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"errors": "Invalid as_user_id"})),
    )
        .into_response()
}

/// Canvas's 500.
pub(crate) fn internal_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({
            "errors": [{"message": "An error occurred.", "error_code": "internal_server_error"}],
            "error_report_id": rand::random::<u32>() % 1_000_000,
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> (u16, Value) {
        let status = r.status().as_u16();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn each_error_has_canvas_s_shape() {
        let cases: Vec<(ApiError, u16, Value)> = vec![
            (
                ApiError::NotFound,
                404,
                json!({"errors":[{"message":"The specified resource does not exist."}]}),
            ),
            (
                ApiError::BadRequest,
                400,
                json!({"errors":[{"message":"An error occurred.","error_code":"bad_request"}]}),
            ),
            (
                ApiError::invalid("name", "blank", "can't be blank"),
                400,
                json!({"errors":{"name":[{"attribute":"name","type":"blank","message":"can't be blank"}]}}),
            ),
            (
                ApiError::message("invalid event"),
                400,
                json!({"message":"invalid event"}),
            ),
            (
                ApiError::Unprocessable {
                    field: "posted_grade",
                    message: "is not a valid grade".into(),
                },
                422,
                json!({"errors":[{"field":"posted_grade","message":"is not a valid grade","error_code":"invalid"}]}),
            ),
        ];
        for (error, status, want) in cases {
            assert_eq!(body(error.into_response()).await, (status, want));
        }
        assert_eq!(
            body(generic(StatusCode::PAYLOAD_TOO_LARGE)).await.1["errors"][0]["error_code"],
            "payload_too_large"
        );
    }
}
