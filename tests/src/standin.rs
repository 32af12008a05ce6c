//! A stand-in Canvas over loopback that answers with recorded responses
//! (canvasapi's fixtures, see [`crate::fixtures`]), so the real host, policy
//! and runtime can run a plugin against JSON nobody on easel wrote.
//!
//! It behaves as hosted Canvas does where easel depends on it: a request
//! without a User-Agent is refused (403), one without a Bearer token gets
//! Canvas's "user authorization required" (401; any token is accepted), and
//! a request it has no answer for gets Canvas's 404 body. A page's `next`
//! link is sent as an absolute URL on the stand-in's own origin (the
//! recordings name `https://example.com`). It does not filter: query
//! parameters other than `page` are recorded but do not change the answer.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::fixtures::{Fixture, endpoint_page, endpoint_path};

/// One answer: to `method path` (page `page`), `status` with `body`.
#[derive(Debug, Clone)]
pub struct Route {
    /// `GET`, `POST`, ...; `ANY` answers every method.
    pub method: String,
    /// e.g. `/api/v1/accounts/1/courses`.
    pub path: String,
    /// The `page` query parameter it answers (1: absent or `page=1`).
    pub page: u32,
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
    /// The next page's path and query (sent as a `Link` on this origin).
    pub next: Option<String>,
}

impl Route {
    /// The answer `fixture` records, at the path and page it was recorded.
    pub fn from_fixture(fixture: &Fixture) -> Self {
        Self {
            method: fixture.method.clone(),
            path: fixture.path(),
            page: fixture.page(),
            status: fixture.status,
            body: fixture.data.clone(),
            next: fixture.next.as_ref().map(|n| format!("/api/v1/{n}")),
        }
    }
}

/// A request the stand-in received, and what it answered.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The status it answered.
    pub status: u16,
}

impl Seen {
    /// The `page` the request asked for (1 when absent).
    pub fn page(&self) -> u32 {
        endpoint_page(&format!("?{}", self.query))
    }
}

struct Shared {
    routes: Vec<Route>,
    origin: String,
    seen: Mutex<Vec<Seen>>,
}

/// A running stand-in; stops when dropped.
pub struct StandIn {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    /// Serve `routes` on a free loopback port.
    pub async fn start(routes: Vec<Route>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback port");
        let origin = format!("http://{}", listener.local_addr().expect("bound address"));
        let shared = Arc::new(Shared {
            routes,
            origin,
            seen: Mutex::new(Vec::new()),
        });
        let state = shared.clone();
        let app =
            axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
                let state = state.clone();
                async move { answer(&state, &method, &uri, &headers) }
            });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { shared, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.shared.origin
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("not poisoned").clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| !t.trim().is_empty());
    let page = endpoint_page(&format!("?{query}"));
    let route = shared.routes.iter().find(|r| {
        (r.method == "ANY" || r.method == method.as_str())
            && endpoint_path(&r.path) == endpoint_path(&path)
            && r.page == page
    });
    let response = if user_agent.as_deref().is_none_or(|ua| ua.trim().is_empty()) {
        (StatusCode::FORBIDDEN, "403 Forbidden\n").into_response()
    } else if !bearer {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"status": "unauthenticated", "errors": [{"message": "user authorization required"}]})),
        )
            .into_response()
    } else if let Some(route) = route {
        let status = StatusCode::from_u16(route.status).unwrap_or(StatusCode::OK);
        let mut response = (status, axum::Json(route.body.clone())).into_response();
        if let Some(next) = &route.next {
            let link = format!("<{}{next}>; rel=\"next\"", shared.origin);
            if let Ok(value) = link.parse() {
                response.headers_mut().insert(header::LINK, value);
            }
        }
        response
    } else {
        (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"errors": [{"message": "The specified resource does not exist."}]})),
        )
            .into_response()
    };
    shared.seen.lock().expect("not poisoned").push(Seen {
        method: method.to_string(),
        path,
        query,
        user_agent,
        status: response.status().as_u16(),
    });
    response
}
