//! `easel serve`: easel's own JSON API under `/api/v1`, over the
//! application layer. Every request is authenticated (an API token as
//! `Authorization: Bearer`, or a password exchanged for one at
//! `POST /api/v1/sessions`) and the application layer decides what the
//! principal may do. Errors are `{"error":{"kind","message","hint"}}` with
//! the status of their kind.
//!
//! Runs started here execute in this process, through connections kept
//! open per instance and token, so every client's runs on a token share
//! that token's governor.
//!
//! The store is one SQLite connection per request (opened on a blocking
//! thread): it is not shared between threads.

mod canvas;
mod console;
mod listen;
pub mod notify;
pub mod samples;

pub use canvas::{challenge_of, confirmation_code};
pub use listen::{ConnectionLimits, serve, serve_limited, serve_tls};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use easel_app::database::Database;
use easel_app::queue::{Queue, QueueConfig, QueueHost};
use easel_app::{
    Act, Actor, AppError, ApproveOptions, Connections, Home, Kind, RunRequest, Target,
};
use easel_runtime::{Limits, Runtime};
use serde::Deserialize;
use serde_json::{Value, json};

/// Largest request body: a plugin's component, base64-encoded, and its
/// manifest.
pub const MAX_BODY_BYTES: usize = 48 * 1024 * 1024;

/// Largest body of any other request.
pub const MAX_SMALL_BODY_BYTES: usize = 256 * 1024;

/// Most schools one approval names.
pub const MAX_SCHOOLS: usize = 1_000;

/// How long a token issued for a password sign-in lasts.
pub const SESSION_DAYS: i64 = 30;

/// What every request shares.
pub struct Server {
    root: PathBuf,
    /// Where the state is kept (SQLite in `root`, or PostgreSQL).
    database: Database,
    /// On PostgreSQL: this host as a node holding token leases.
    node: Option<Arc<easel_app::nodes::Node>>,
    cache: Option<PathBuf>,
    runtime: Runtime,
    connections: Connections,
    queue: Queue,
    /// How long runs in flight may take to finish when the server stops.
    grace: std::sync::Mutex<std::time::Duration>,
    /// Where failed runs are reported, if anywhere.
    webhook: std::sync::OnceLock<Arc<notify::Webhook>>,
    /// Failures that ended at or after this time (RFC 3339) are reported:
    /// [`REPORT_LOOKBACK`] before the server started.
    report_since: String,
    /// The URL people reach this server at (Canvas sends them back to it).
    public_url: std::sync::OnceLock<String>,
    sign_ins: canvas::SignIns,
    console: console::Console,
    /// Each token's governor over the last minutes (the console's charts).
    pub samples: samples::Samples,
}

impl Server {
    /// A server over the data directory `root` (`cache`: a compile cache
    /// to use instead of the one under `root`).
    pub fn new(root: PathBuf, cache: Option<PathBuf>) -> Result<Arc<Self>, AppError> {
        Self::with_queue(root, cache, QueueConfig::default())
    }

    /// [`Server::new`] running at most as many runs at once as `config`
    /// says.
    pub fn with_queue(
        root: PathBuf,
        cache: Option<PathBuf>,
        config: QueueConfig,
    ) -> Result<Arc<Self>, AppError> {
        Self::with_database(root, cache, config, Database::from_env()?)
    }

    /// [`Server::with_queue`] keeping its state in `database` (PostgreSQL
    /// shared with other hosts, or the data directory's SQLite).
    pub fn with_database(
        root: PathBuf,
        cache: Option<PathBuf>,
        config: QueueConfig,
        database: Database,
    ) -> Result<Arc<Self>, AppError> {
        let home = Home::open_in(Some(root.clone()), database.clone())?;
        let home = match &cache {
            Some(c) => home.with_cache_dir(c.clone()),
            None => home,
        };
        let runtime = home.runtime_for(config.workers.max(1) as u32 * 2)?;
        // The last process's console sessions cannot be checked for
        // idleness any more: they end.
        // On a database shared by many hosts the sessions are the other
        // hosts' too: they are left to their idle time.
        if database == Database::Sqlite {
            home.principals().end_console_sessions()?;
        }
        let queue = Queue::new(config);
        let node = easel_app::nodes::join_if_shared(&database, &queue, "")?;
        Ok(Arc::new(Self {
            root,
            node,
            database,
            cache,
            runtime,
            connections: Connections::new(),
            queue,
            grace: std::sync::Mutex::new(DEFAULT_GRACE),
            webhook: std::sync::OnceLock::new(),
            report_since: (time::OffsetDateTime::now_utc() - REPORT_LOOKBACK)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            public_url: std::sync::OnceLock::new(),
            sign_ins: canvas::SignIns::default(),
            console: console::Console::default(),
            samples: samples::Samples::default(),
        }))
    }

    /// Set the URL people reach this server at, e.g.
    /// `https://easel.district.example` (once; later calls change nothing).
    pub fn set_public_url(&self, url: &str) -> Result<(), AppError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| AppError::invalid(format!("--public-url {url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "https" | "http") || parsed.host().is_none() {
            return Err(AppError::invalid(format!(
                "--public-url {url:?}: expected https://host[:port]"
            )));
        }
        let _ = self
            .public_url
            .set(parsed.as_str().trim_end_matches('/').to_owned());
        Ok(())
    }

    /// Where Canvas sends people back to after they sign in.
    fn callback_url(&self) -> Result<String, AppError> {
        self.public_url
            .get()
            .map(|u| format!("{u}/auth/canvas/callback"))
            .ok_or_else(|| {
                AppError::new(Kind::Internal, "this server does not know its public URL")
                    .hint("start it with `easel serve --public-url URL`")
            })
    }

    /// How long runs in flight may take to finish when the server stops
    /// (default [`DEFAULT_GRACE`]).
    pub fn set_grace(&self, grace: std::time::Duration) {
        if let Ok(mut g) = self.grace.lock() {
            *g = grace;
        }
    }

    /// Report every run the queue ran that did not succeed (and every run
    /// marked interrupted) to `webhook` (once; later calls change nothing).
    pub fn set_webhook(&self, webhook: notify::Webhook) {
        let _ = self.webhook.set(Arc::new(webhook));
    }

    /// Report, every [`REPORT_EVERY`] from now until the task is aborted,
    /// the queued runs that did not succeed and no server reported yet:
    /// those this server ended are sent as they end, and this finds the
    /// rest (marked interrupted by another process, or at this start after
    /// a crash). Nothing to do without a webhook.
    pub fn spawn_reporter(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let webhook = self.webhook.get()?.clone();
        let server = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(REPORT_EVERY);
            loop {
                tick.tick().await;
                let (h, since) = (server.home(), server.report_since.clone());
                let ids = tokio::task::spawn_blocking(move || {
                    h.and_then(|h| Ok(h.store.unreported_failures(&since, 500)?))
                })
                .await;
                match ids {
                    Ok(Ok(ids)) if !ids.is_empty() => {
                        Self::notify(
                            webhook.clone(),
                            server.home(),
                            ids,
                            server.public_url.get().cloned(),
                        )
                        .await;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!("cannot look for runs to report: {}", e.message);
                    }
                    _ => {}
                }
            }
        }))
    }

    /// Send the failures among runs `ids` to the webhook, each claimed
    /// first so that it is sent once across servers and restarts (at most
    /// once: a server that dies between claim and send loses that one);
    /// returns when sent (or given up).
    async fn notify(
        webhook: Arc<notify::Webhook>,
        home: Result<Home, AppError>,
        ids: Vec<String>,
        server: Option<String>,
    ) {
        let rows = tokio::task::spawn_blocking(move || {
            let home = home?;
            let mut rows = Vec::new();
            for id in &ids {
                if home.store.claim_report(id)?
                    && let Some(row) = home.store.run(id)?
                {
                    rows.push(row);
                }
            }
            Ok::<_, AppError>(rows)
        })
        .await;
        let rows = match rows {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                tracing::warn!("cannot read runs to report: {}", e.message);
                return;
            }
            Err(_) => return,
        };
        for row in rows {
            webhook.send(&row, server.as_deref()).await;
        }
    }

    /// On PostgreSQL: this server as a node of the deployment.
    pub fn node(&self) -> Option<&Arc<easel_app::nodes::Node>> {
        self.node.as_ref()
    }

    /// Stop taking runs: queued runs stay queued for the next start; runs
    /// in flight have the grace period to finish, and those still going
    /// then are marked interrupted (said on standard error). Called when
    /// the server stops.
    pub async fn stop_runs(&self) {
        self.queue.stop_claiming();
        // A claim under way ends (run, or put back in the queue) first.
        self.queue
            .claims_stopped(std::time::Duration::from_secs(10))
            .await;
        let grace = self.grace.lock().map(|g| *g).unwrap_or(DEFAULT_GRACE);
        let going = self.queue.in_flight();
        if !going.is_empty() {
            eprintln!(
                "easel serve: stopping; {} run(s) in flight have {}s to finish, queued runs wait for the next start",
                going.len(),
                grace.as_secs()
            );
        }
        let left = self.queue.wait_idle(grace).await;
        // With many hosts: this node's tokens go to the others now, not
        // when their leases run out (once its runs are ended or marked).
        let leave = || {
            if let Some(node) = &self.node {
                node.leave();
            }
        };
        if left.is_empty() {
            leave();
            return;
        }
        // Stopped before the data directory is opened (which takes a
        // while, and may fail): nothing more is sent from here.
        easel_app::stop_recording();
        let marked = match self.home() {
            Ok(home) => home.interrupt_own_runs(),
            Err(e) => {
                eprintln!(
                    "easel serve: cannot mark the runs still going interrupted: {}",
                    e.message
                );
                leave();
                return;
            }
        };
        leave();
        eprintln!(
            "easel serve: {} run(s) did not finish within {}s and are marked interrupted (their counts come from the audit log, their reports are partial): {}",
            marked.len(),
            grace.as_secs(),
            marked.join(", ")
        );
        if let Some(webhook) = self.webhook.get() {
            let send = Self::notify(
                webhook.clone(),
                self.home(),
                marked,
                self.public_url.get().cloned(),
            );
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), send).await;
        }
    }

    fn home(&self) -> Result<Home, AppError> {
        let home = Home::open_in(Some(self.root.clone()), self.database.clone())?;
        Ok(match &self.cache {
            Some(c) => home.with_cache_dir(c.clone()),
            None => home,
        })
    }
}

/// How far back, from its start, a server reports failures no server
/// reported: runs a crash left, marked interrupted by whichever process
/// opened the data directory first.
pub const REPORT_LOOKBACK: time::Duration = time::Duration::hours(1);

/// How often a server with a failure webhook looks for failures to report
/// that it did not end itself.
pub const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// How long runs in flight may take to finish when the server stops,
/// unless `easel serve --grace` says otherwise.
pub const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

impl QueueHost for Server {
    fn open_home(&self) -> Result<Home, AppError> {
        self.home()
    }

    fn connections(&self) -> &Connections {
        &self.connections
    }

    fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn queue(&self) -> &Queue {
        &self.queue
    }

    fn node(&self) -> Option<&Arc<easel_app::nodes::Node>> {
        self.node.as_ref()
    }

    fn runs_ended(&self, ids: &[String]) {
        if let Some(webhook) = self.webhook.get() {
            tokio::spawn(Self::notify(
                webhook.clone(),
                self.home(),
                ids.to_vec(),
                self.public_url.get().cloned(),
            ));
        }
    }
}

/// How often the scheduler looks for due fires.
pub const SCHEDULER_TICK: std::time::Duration = std::time::Duration::from_secs(15);

/// Run schedules in this process until the task is dropped or aborted:
/// every [`SCHEDULER_TICK`], the fires due are claimed (each once) and
/// their batches run here, through the same connections (and token
/// governors) as the API's runs. A schedule with `overlap = queue` waits
/// for its last fire; with `skip`, a fire while the last still runs is
/// recorded as skipped.
pub fn spawn_scheduler(server: Arc<Server>) -> tokio::task::JoinHandle<()> {
    use std::collections::{HashMap, HashSet};
    type Set = Arc<std::sync::Mutex<HashSet<String>>>;
    /// Takes a schedule out of a set when the fire ends, however it ends.
    struct Leave(Set, String);
    impl Drop for Leave {
        fn drop(&mut self) {
            if let Ok(mut s) = self.0.lock() {
                s.remove(&self.1);
            }
        }
    }
    let snapshot = |s: &Set| s.lock().map(|r| r.clone()).unwrap_or_default();
    tokio::spawn(async move {
        let running: Set = Arc::default();
        let waiting: Set = Arc::default();
        let turns: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
            Arc::default();
        let mut tick = tokio::time::interval(SCHEDULER_TICK);
        loop {
            tick.tick().await;
            let s = server.clone();
            let (busy, queued) = (snapshot(&running), snapshot(&waiting));
            let due = tokio::task::spawn_blocking(move || {
                let home = s.home()?;
                easel_app::schedules::due(&home, jiff::Timestamp::now(), &busy, &queued)
            })
            .await;
            let due = match due {
                Ok(Ok(due)) => due,
                Ok(Err(e)) => {
                    tracing::warn!("the scheduler could not look for due fires: {}", e.message);
                    continue;
                }
                Err(e) => {
                    tracing::warn!("the scheduler's task failed: {e}");
                    continue;
                }
            };
            for d in due {
                let id = d.schedule.id.clone();
                // At most one fire runs and one waits per schedule (`due`
                // skips more); a waiting fire waits here, holding no thread.
                let queued = running.lock().map(|r| r.contains(&id)).unwrap_or(false);
                let wait = queued.then(|| {
                    if let Ok(mut w) = waiting.lock() {
                        w.insert(id.clone());
                    }
                    Leave(waiting.clone(), id.clone())
                });
                let turn = turns
                    .lock()
                    .map(|mut t| t.entry(id.clone()).or_default().clone())
                    .unwrap_or_default();
                let (s, running) = (server.clone(), running.clone());
                tokio::spawn(async move {
                    let _turn = turn.lock_owned().await;
                    drop(wait);
                    if let Ok(mut r) = running.lock() {
                        r.insert(id.clone());
                    }
                    let _done = Leave(running, id.clone());
                    let ran = tokio::task::spawn_blocking(move || {
                        let handle = tokio::runtime::Handle::current();
                        let home = s.home()?;
                        let result = handle.block_on(easel_app::schedules::run(
                            &home,
                            &d,
                            &s.connections,
                            &s.queue,
                        ));
                        easel_app::schedules::finished(&home, &d, &result)
                    })
                    .await;
                    match ran {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::warn!(schedule = %id, "a fire could not be run or recorded: {}", e.message);
                        }
                        Err(e) => tracing::warn!(schedule = %id, "a fire's task failed: {e}"),
                    }
                });
            }
        }
    })
}

/// The API's routes.
pub fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/api/v1/sessions", post(sign_in).delete(sign_out))
        .route("/api/v1/sessions/canvas", post(canvas::redeem))
        .route("/auth/canvas", get(canvas::start))
        .route("/auth/canvas/callback", get(canvas::callback))
        .route("/auth/canvas/confirm", post(canvas::confirm))
        .route("/api/v1/me", get(me))
        .route(
            "/api/v1/plugins",
            get(list_plugins)
                .post(submit)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/v1/plugin-checks",
            post(check_plugin).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/plugins/{plugin}", get(inspect_plugin))
        .route("/api/v1/plugins/{plugin}/approve", post(approve))
        .route("/api/v1/plugins/{plugin}/revoke", post(revoke))
        .route("/api/v1/plugins/{plugin}/deny", post(deny))
        .route("/api/v1/runs", get(list_runs).post(start_run))
        .route("/api/v1/runs/{run}", get(show_run))
        .route("/api/v1/runs/{run}/apply", post(apply_plan))
        .route("/api/v1/runs/{run}/reports/{name}", get(report))
        .route("/api/v1/schools", get(schools))
        .route("/api/v1/audit", get(audit_records))
        .route("/api/v1/audit/verify", get(verify_audit))
        .route("/api/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .merge(console::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(no_secrets_in_queries))
        .layer(DefaultBodyLimit::max(MAX_SMALL_BODY_BYTES))
        .layer(axum::middleware::from_fn(console::headers))
        .with_state(server)
}

/// The address a request came from, over TCP or TLS.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The API's description, generated from the handlers.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "easel", description = "easel's JSON API: plugins, approvals, runs and their reports, for authenticated principals. Errors are {\"error\":{\"kind\",\"message\",\"hint\"}}."),
    paths(sign_in, sign_out, canvas::redeem, me, list_plugins, inspect_plugin, check_plugin, submit, approve, revoke, deny, start_run, apply_plan, list_runs, show_run, report, schools, audit_records, verify_audit),
    components(schemas(SignIn, canvas::Redeem, Submit, Check, Approve, Revoke, Deny, StartRun)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// `GET /api/openapi.json`.
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(<ApiDoc as utoipa::OpenApi>::openapi())
}

/// An error as the API answers it.
pub struct ApiError(AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status =
            StatusCode::from_u16(e.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if e.kind == Kind::Internal {
            tracing::error!("internal error: {}", e.message);
        }
        (
            status,
            Json(json!({"error": {"kind": e.kind.name(), "message": e.message, "hint": e.hint}})),
        )
            .into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

async fn not_found() -> ApiError {
    ApiError(AppError::not_found(
        "no such endpoint: the API is under /api/v1 (plugins, runs, schools, sessions, me, audit/verify)",
    ))
}

async fn method_not_allowed() -> Response {
    let mut r =
        ApiError(AppError::invalid("this endpoint does not take that method")).into_response();
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}

/// A credential in a query string ends up in logs and histories: refuse
/// the request rather than read it.
async fn no_secrets_in_queries(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let query = request.uri().query().unwrap_or_default();
    // Read as a server reads it (percent-decoded), and raw, so an encoded
    // name or token is caught too.
    let leaks = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_ascii_lowercase()))
        .chain(std::iter::once((query.to_ascii_lowercase(), String::new())))
        .any(|(k, v)| {
            matches!(
                k.as_str(),
                "token" | "access_token" | "api_token" | "password"
            ) || v.contains(easel_app::TOKEN_PREFIX)
                || k.contains(easel_app::TOKEN_PREFIX)
        });
    if leaks {
        return ApiError(AppError::invalid(
            "credentials do not go in the URL: send the token as `Authorization: Bearer <token>` (and revoke this one: it may be in a log now)",
        ))
        .into_response();
    }
    next.run(request).await
}

/// The bearer token of a request.
fn bearer(headers: &HeaderMap) -> Result<String, AppError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            AppError::new(Kind::Forbidden, "sign in first").hint(
                "send `Authorization: Bearer <api token>`; get one with `easel login` or POST /api/v1/sessions",
            )
        })?
        .to_str()
        .map_err(|_| AppError::new(Kind::Forbidden, "the Authorization header is not text"))?;
    value
        .strip_prefix("Bearer ")
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| {
            AppError::new(
                Kind::Forbidden,
                "the Authorization header must be `Bearer <api token>`",
            )
        })
}

/// Who is asking, and where from.
struct Caller {
    token: Result<String, AppError>,
    address: String,
}

impl Caller {
    fn new(headers: &HeaderMap, addr: SocketAddr) -> Self {
        Self {
            token: bearer(headers),
            address: addr.ip().to_string(),
        }
    }

    fn actor(self, home: &Home) -> Result<Actor, AppError> {
        let token = self.token?;
        home.principals().authenticate(&token, &self.address)
    }
}

/// Run `f` on a blocking thread with its own view of the data directory
/// (the store's connection is not shared between threads), as the caller.
async fn as_caller<T: Send + 'static>(
    server: &Arc<Server>,
    caller: Caller,
    f: impl FnOnce(&Server, &Home, &Actor) -> Result<T, AppError> + Send + 'static,
) -> Result<T, ApiError> {
    let server = server.clone();
    tokio::task::spawn_blocking(move || {
        let home = server.home()?;
        let actor = caller.actor(&home)?;
        f(&server, &home, &actor)
    })
    .await
    .map_err(|e| AppError::internal(anyhow::anyhow!("a request's task failed: {e}")))?
    .map_err(ApiError)
}

/// A JSON body, read strictly: unknown fields and malformed JSON are
/// refused.
fn body<T: serde::de::DeserializeOwned>(raw: Result<Bytes, BytesRejection>) -> Result<T, AppError> {
    let bytes = raw.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::invalid(format!(
                "the request body is over {MAX_SMALL_BODY_BYTES} bytes"
            ))
        } else {
            AppError::invalid(format!("cannot read the request body: {e}"))
        }
    })?;
    parse_json(&bytes)
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(bytes).map_err(|e| {
        AppError::invalid(format!(
            "the JSON body is not what this endpoint takes: {e}"
        ))
    })
}

fn to_json(v: impl serde::Serialize) -> ApiResult {
    Ok(Json(serde_json::to_value(v).map_err(AppError::internal)?).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SignIn {
    name: String,
    password: String,
    #[serde(default)]
    label: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", request_body = SignIn,
    responses((status = 200, description = "a personal API token (30 days) for the user", content_type = "application/json"),
              (status = 403, description = "wrong name or password, or too many failed sign-ins", content_type = "application/json")))]
/// `POST /api/v1/sessions`: a password for a personal API token (the
/// client keeps the token, never the password).
async fn sign_in(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    // A page on another site can post a form or text, but not JSON without
    // the browser asking first (and easel answers no CORS).
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim() == "application/json")
        });
    if !json_type {
        return Err(AppError::invalid("sign in with Content-Type: application/json").into());
    }
    let req: SignIn = body(raw)?;
    let server = server.clone();
    let issued = tokio::task::spawn_blocking(move || {
        let home = server.home()?;
        let p = home.principals();
        let actor = p.sign_in(&req.name, &req.password, &addr.ip().to_string())?;
        let label = req.label.unwrap_or_else(|| "easel login".into());
        let t = p.issue_token(
            &actor,
            &actor.name,
            &label,
            Some(time::Duration::days(SESSION_DAYS)),
            None,
        )?;
        Ok::<_, AppError>((actor, t))
    })
    .await
    .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))??;
    let (actor, t) = issued;
    to_json(json!({
        "name": actor.name,
        "roles": actor.roles,
        "token": t.token,
        "token_id": t.id,
        "expires_at": t.expires_at,
    }))
}

#[utoipa::path(delete, path = "/api/v1/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, description = "the API token this request used is revoked", content_type = "application/json")))]
/// `DELETE /api/v1/sessions`: sign out (the token used is revoked).
async fn sign_out(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> ApiResult {
    let revoked = as_caller(&server, Caller::new(&headers, addr), |_, home, actor| {
        let easel_app::SignIn::ApiToken(id) = &actor.via else {
            return Err(AppError::invalid("only an API token signs out"));
        };
        home.principals().revoke_token(actor, id)?;
        Ok(id.clone())
    })
    .await?;
    to_json(json!({"revoked": revoked}))
}

#[utoipa::path(get, path = "/api/v1/me", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, description = "the signed-in principal: name, roles, how they signed in", content_type = "application/json")))]
/// `GET /api/v1/me`.
async fn me(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> ApiResult {
    let actor = as_caller(
        &server,
        Caller::new(&headers, addr),
        |_, _, a| Ok(a.clone()),
    )
    .await?;
    to_json(actor)
}

#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins", security(("bearer" = [])),
    responses((status = 200, description = "every stored plugin version, with the schools it is approved for, its state in words and any denial", content_type = "application/json")))]
/// `GET /api/v1/plugins`: every stored version, with its live approvals.
async fn list_plugins(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> ApiResult {
    let v = as_caller(&server, Caller::new(&headers, addr), |_, home, _| {
        let approvals = home.store.approvals()?;
        let versions = easel_app::versions(home)?;
        Ok(versions
            .iter()
            .map(|v| {
                let p = &v.row;
                let mut schools: Vec<u64> = approvals
                    .iter()
                    .filter(|a| {
                        a.plugin_id == p.id
                            && a.digest == p.digest
                            && a.manifest_digest == p.manifest_digest
                    })
                    .map(|a| a.school)
                    .collect();
                schools.sort_unstable();
                schools.dedup();
                json!({"id": p.id, "version": p.version, "digest": p.digest, "size": p.size,
                       "added_at": p.added_at, "added_by": p.added_by, "approved_schools": schools,
                       "state": v.summary(), "denial": v.denial})
            })
            .collect::<Vec<Value>>())
    })
    .await?;
    to_json(v)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Submit {
    manifest: String,
    component_base64: String,
    #[serde(default)]
    label: Option<String>,
}

/// A plugin-sized JSON body (up to [`MAX_BODY_BYTES`]), read only once the
/// caller is known to be one who may submit: an unknown caller costs no
/// memory.
async fn submitter_body<T: serde::de::DeserializeOwned>(
    server: &Arc<Server>,
    headers: &HeaderMap,
    addr: SocketAddr,
    raw: axum::body::Body,
) -> Result<T, ApiError> {
    as_caller(server, Caller::new(headers, addr), |_, _, actor| {
        actor.require(Act::Submit)
    })
    .await?;
    let bytes = axum::body::to_bytes(raw, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            AppError::invalid(format!("the request body is over {MAX_BODY_BYTES} bytes"))
        })?;
    Ok(parse_json(&bytes)?)
}

#[utoipa::path(post, path = "/api/v1/plugins", tag = "plugins", security(("bearer" = [])), request_body = Submit,
    responses((status = 201, description = "the stored version: id, version, digest, size", content_type = "application/json"),
              (status = 400, description = "not a plugin easel runs, or a manifest it refuses", content_type = "application/json")))]
/// `POST /api/v1/plugins`: submit a component and its manifest.
async fn submit(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    headers: HeaderMap,
    raw: axum::body::Body,
) -> ApiResult {
    let req: Submit = submitter_body(&server, &headers, addr, raw).await?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(req.component_base64.as_bytes())
        .map_err(|e| AppError::invalid(format!("component_base64 is not base64: {e}")))?;
    let row = as_caller(
        &server,
        Caller::new(&headers, addr),
        move |_, home, actor| {
            let label = req.label.unwrap_or_else(|| "component".into());
            easel_app::add(home, actor, &bytes, &req.manifest, &label)
        },
    )
    .await?;
    let mut r = to_json(
        json!({"id": row.id, "version": row.version, "digest": row.digest,
        "size": row.size, "added_by": row.added_by, "added_at": row.added_at}),
    )?;
    *r.status_mut() = StatusCode::CREATED;
    Ok(r)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Check {
    /// The manifest (easel.toml) text.
    manifest: String,
    /// The component, base64, to cross-check (optional).
    #[serde(default)]
    component_base64: Option<String>,
    /// What to call the manifest and component in messages.
    #[serde(default)]
    labels: Option<(String, String)>,
}

#[utoipa::path(post, path = "/api/v1/plugin-checks", tag = "plugins", security(("bearer" = [])), request_body = Check,
    responses((status = 200, description = "the manifest's request, and whether the component matches it; nothing is stored", content_type = "application/json"),
              (status = 400, description = "a manifest easel refuses, or a component that does not match it", content_type = "application/json")))]
/// `POST /api/v1/plugin-checks`: what `easel plugin check` says, without
/// storing anything.
async fn check_plugin(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    headers: HeaderMap,
    raw: axum::body::Body,
) -> ApiResult {
    let req: Check = submitter_body(&server, &headers, addr, raw).await?;
    let component = match &req.component_base64 {
        Some(b) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|e| AppError::invalid(format!("component_base64 is not base64: {e}")))?,
        ),
        None => None,
    };
    let (manifest_label, label) = req
        .labels
        .clone()
        .unwrap_or_else(|| ("manifest".into(), "component".into()));
    let s = server.clone();
    let report = tokio::task::spawn_blocking(move || {
        easel_app::check(
            &s.runtime,
            (&req.manifest, &manifest_label),
            component.as_deref().map(|b| (b, label.as_str())),
        )
    })
    .await
    .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))??;
    to_json(report)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Approve {
    schools: Vec<u64>,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    district_wide: bool,
    #[serde(default)]
    allow_downgrade: bool,
    #[serde(default)]
    #[schema(value_type = Object)]
    terms: easel_store::GrantTerms,
    /// Which manifest to approve (a prefix of its sha256), when the
    /// component was submitted with several.
    #[serde(default)]
    manifest_digest: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/plugins/{plugin}/approve", tag = "plugins", security(("bearer" = [])),
    params(("plugin" = String, Path, description = "plugin id, id@digest-prefix, or digest prefix")),
    request_body = Approve,
    responses((status = 200, description = "the approvals made", content_type = "application/json"),
              (status = 403, description = "not an approver, or the plugin's submitter", content_type = "application/json")))]
/// `POST /api/v1/plugins/{plugin}/approve`: the grant runs on the
/// server's instance (the only one configured, else the simulator).
async fn approve(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    Path(plugin): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let mut req: Approve = body(raw)?;
    req.schools.sort_unstable();
    req.schools.dedup();
    if req.schools.is_empty() || req.schools.len() > MAX_SCHOOLS {
        return Err(AppError::invalid(format!(
            "name 1 to {MAX_SCHOOLS} schools to approve for: \"schools\": [2, 4]"
        ))
        .into());
    }
    let rows = as_caller(
        &server,
        Caller::new(&headers, addr),
        move |server, home, actor| {
            // The role first: looking schools up spends the district's
            // token, and says which account ids exist.
            actor.require(Act::Approve)?;
            let handle = tokio::runtime::Handle::current();
            let conn = handle.block_on(server.connections.default_instance(home))?;
            handle.block_on(conn.approval_schools(&req.schools, req.district_wide))?;
            let target = Target {
                instance: conn.token_id.as_ref().map(|_| conn.instance.clone()),
                token_id: conn.token_id.clone(),
            };
            let options = ApproveOptions {
                write: !req.read_only,
                target,
                allow_downgrade: req.allow_downgrade,
                terms: req.terms,
                manifest_digest: req.manifest_digest,
            };
            easel_app::approve_with(home, &plugin, &req.schools, actor, &options)
        },
    )
    .await?;
    to_json(rows)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Deny {
    /// Why, for the submitter.
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/plugins/{plugin}/deny", tag = "plugins", security(("bearer" = [])),
    params(("plugin" = String, Path, description = "plugin id, or id@digest-prefix")),
    request_body = Deny,
    responses((status = 200, description = "the denial: plugin, digests, by, at, reason", content_type = "application/json"),
              (status = 403, description = "not an approver, or the plugin's submitter", content_type = "application/json")))]
/// `POST /api/v1/plugins/{plugin}/deny`: deny a version, saying why.
async fn deny(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    Path(plugin): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let req: Deny = body(raw)?;
    let d = as_caller(
        &server,
        Caller::new(&headers, addr),
        move |_, home, actor| easel_app::deny(home, actor, &plugin, &req.reason),
    )
    .await?;
    to_json(d)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Revoke {
    #[serde(default)]
    schools: Vec<u64>,
}

#[utoipa::path(post, path = "/api/v1/plugins/{plugin}/revoke", tag = "plugins", security(("bearer" = [])),
    params(("plugin" = String, Path, description = "plugin id")),
    request_body = Revoke,
    responses((status = 200, description = "the schools whose approval was revoked", content_type = "application/json")))]
/// `POST /api/v1/plugins/{plugin}/revoke` (no schools: all of them).
async fn revoke(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    Path(plugin): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let req: Revoke = body(raw)?;
    let p = plugin.clone();
    let revoked = as_caller(
        &server,
        Caller::new(&headers, addr),
        move |_, home, actor| easel_app::revoke(home, actor, &p, &req.schools),
    )
    .await?;
    to_json(json!({"plugin": plugin, "revoked_schools": revoked}))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StartRun {
    plugin: String,
    /// One school (or give `schools`, `all_schools` or `after_plan`).
    #[serde(default)]
    school: Option<u64>,
    /// A batch: these schools.
    #[serde(default)]
    schools: Vec<u64>,
    /// A batch: every school the plugin is approved for that the caller
    /// may run.
    #[serde(default)]
    all_schools: bool,
    /// Live, after this reviewed dry run: its school and params, and only
    /// its planned writes.
    #[serde(default)]
    after_plan: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    params: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    max_writes: Option<u32>,
    /// Answer at once (202) with the queued run ids, instead of when the
    /// runs have ended.
    #[serde(default)]
    detach: bool,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ApplyPlan {
    /// Answer at once (202) with the queued run's id.
    #[serde(default)]
    detach: bool,
}

/// How often a request that waits for its runs looks at them.
const WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// The stored run `row` as the API answers it.
fn row_json(row: &easel_store::RunRow, school_name: &str) -> Result<Value, AppError> {
    let mut v = serde_json::to_value(row).map_err(AppError::internal)?;
    v["partial"] = Value::Bool(row.outputs.iter().any(|o| o.ends_with(".partial")));
    v["school_name"] = Value::String(school_name.to_owned());
    Ok(v)
}

fn created(v: Value) -> ApiResult {
    let mut r = Json(v).into_response();
    *r.status_mut() = StatusCode::CREATED;
    Ok(r)
}

fn accepted(v: Value) -> ApiResult {
    let mut r = Json(v).into_response();
    *r.status_mut() = StatusCode::ACCEPTED;
    Ok(r)
}

/// What a run request queued, to be waited for outside the blocking
/// thread (a waiting request holds no thread and no database connection
/// but its own).
enum Asked {
    /// The answer already (`detach`): the body, and whether it is 202.
    Answer(Value, bool),
    /// One run.
    One { run: String, school_name: String },
    /// A batch.
    Batch {
        req: easel_app::BatchRequest,
        queued: easel_app::queue::QueuedBatch,
        conn: Arc<easel_app::Connection>,
    },
}

/// Queue one run: its id, or (`detach`) the answer.
fn queue_one(
    server: &Server,
    home: &Home,
    actor: &Actor,
    run: RunRequest,
    detach: bool,
) -> Result<Asked, AppError> {
    server.queue.require_accepting()?;
    let handle = tokio::runtime::Handle::current();
    let conn = handle.block_on(server.connections.for_grant(home, &run.plugin, run.school))?;
    let queued = handle.block_on(easel_app::queue::enqueue(
        home, actor, &conn, run, None, None,
    ))?;
    server.queue.wake();
    if detach {
        return Ok(Asked::Answer(
            json!({"run": queued.run, "school": queued.school, "school_name": queued.school_name,
                   "instance": conn.instance, "status": "queued"}),
            true,
        ));
    }
    Ok(Asked::One {
        run: queued.run,
        school_name: queued.school_name,
    })
}

/// Wait for runs `ids` to end (or, once the server stops taking runs, for
/// those still queued to be left waiting); their records, in order.
async fn wait_rows(
    server: &Arc<Server>,
    ids: Vec<String>,
) -> Result<Vec<easel_store::RunRow>, AppError> {
    let db = server.root.join("easel.db");
    let mut store: Option<easel_store::Store> = None;
    loop {
        let (ids2, db2, held) = (ids.clone(), db.clone(), store.take());
        let (s, rows) = tokio::task::spawn_blocking(move || {
            let s = match held {
                Some(s) => s,
                None => easel_store::Store::open(&db2)?,
            };
            let mut rows = Vec::with_capacity(ids2.len());
            for id in &ids2 {
                if let Some(r) = s.run(id)? {
                    rows.push(r);
                }
            }
            Ok::<_, AppError>((s, rows))
        })
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("a wait's task failed: {e}")))??;
        store = Some(s);
        let running = rows
            .iter()
            .any(|r| r.status == easel_store::RunStatus::Running);
        let queued = rows
            .iter()
            .any(|r| r.status == easel_store::RunStatus::Queued);
        if !running && (!queued || !server.queue.accepting()) {
            return Ok(rows);
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

/// The answer to a run request, once what it queued has ended.
async fn answer(server: &Arc<Server>, asked: Asked) -> ApiResult {
    let (v, waiting) = match asked {
        Asked::Answer(v, accepted) => (v, accepted),
        Asked::One { run, school_name } => {
            let rows = wait_rows(server, vec![run.clone()]).await?;
            let row = rows
                .first()
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("run {run} vanished")))?;
            (
                row_json(row, &school_name)?,
                row.status == easel_store::RunStatus::Queued,
            )
        }
        Asked::Batch { req, queued, conn } => {
            let rows = wait_rows(server, queued.run_ids()).await?;
            let throttled = conn.client.governor().stats().throttled;
            let r = easel_app::queue::batch_result(&req, &queued, &rows, throttled);
            let waiting = rows
                .iter()
                .any(|r| r.status == easel_store::RunStatus::Queued);
            (
                serde_json::to_value(r).map_err(AppError::internal)?,
                waiting,
            )
        }
    };
    if waiting { accepted(v) } else { created(v) }
}

#[utoipa::path(post, path = "/api/v1/runs", tag = "runs", security(("bearer" = [])), request_body = StartRun,
    responses((status = 201, description = "the stored run (or, for a batch, the batch's result) once it ended", content_type = "application/json"),
              (status = 202, description = "with detach: the queued run (or batch) ids", content_type = "application/json"),
              (status = 403, description = "the principal may not run it (live, or for that school)", content_type = "application/json"),
              (status = 409, description = "the server is stopping and takes no new runs", content_type = "application/json")))]
/// `POST /api/v1/runs`: check a run (or one per school) and put it in the
/// queue; answer once it ended, or at once with `detach`.
async fn start_run(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let req: StartRun = body(raw)?;
    let batch = req.all_schools || !req.schools.is_empty();
    let ways = usize::from(batch)
        + usize::from(req.school.is_some())
        + usize::from(req.after_plan.is_some());
    if ways != 1 {
        return Err(AppError::invalid(
            "give exactly one of school, schools (or all_schools) and after_plan",
        )
        .into());
    }
    let asked = as_caller(
        &server,
        Caller::new(&headers, addr),
        move |server, home, actor| {
            let handle = tokio::runtime::Handle::current();
            let mut params: Vec<(String, String)> = req.params.into_iter().collect();
            if batch {
                server.queue.require_accepting()?;
                let b = easel_app::BatchRequest {
                    plugin: req.plugin,
                    schools: req.schools,
                    all_schools: req.all_schools,
                    dry_run: req.dry_run,
                    params,
                    max_writes: req.max_writes,
                    concurrency: server.queue.config().per_instance,
                };
                // Refused, before anything is queued, for a school the
                // caller may not run.
                let schools = easel_app::batch_schools(home, actor, &b)?;
                let conn =
                    handle.block_on(server.connections.for_grant(home, &b.plugin, schools[0]))?;
                let queued = handle.block_on(easel_app::queue::enqueue_batch(
                    home, actor, &conn, &b, &schools, None,
                ))?;
                server.queue.wake();
                if !req.detach {
                    return Ok(Asked::Batch {
                        req: b,
                        queued,
                        conn,
                    });
                }
                let runs: Vec<Value> = queued
                    .runs
                    .iter()
                    .map(|(school, name, r)| match r {
                        Ok(id) => json!({"school": school, "name": name, "run": id, "status": "queued"}),
                        Err(e) => json!({"school": school, "name": name, "status": "not-run", "error": e.to_string()}),
                    })
                    .collect();
                return Ok(Asked::Answer(
                    json!({"batch": queued.batch, "plugin": b.plugin, "instance": queued.instance, "runs": runs}),
                    true,
                ));
            }
            let school = match (&req.after_plan, req.school) {
                (Some(plan), _) => {
                    // Only a plan the caller may read is followed.
                    easel_app::reads::run(home, actor, plan)?;
                    let (school, planned) =
                        easel_app::after_plan(home, &req.plugin, plan, &params)?;
                    params = planned;
                    school
                }
                (None, Some(school)) => school,
                (None, None) => return Err(AppError::invalid("name the school")),
            };
            // Refused before a connection is opened.
            actor.require(if req.dry_run {
                Act::RunDry(school)
            } else {
                Act::RunLive(school)
            })?;
            let run = RunRequest {
                plugin: req.plugin,
                school,
                dry_run: req.dry_run,
                params,
                limits: Limits {
                    max_writes: req.max_writes,
                    ..Limits::default()
                },
                plan: req.after_plan.map(|run| easel_app::PlanRef {
                    run,
                    apply_only: false,
                }),
            };
            queue_one(server, home, actor, run, req.detach)
        },
    )
    .await?;
    answer(&server, asked).await
}

#[utoipa::path(post, path = "/api/v1/runs/{run}/apply", tag = "runs", security(("bearer" = [])),
    params(("run" = String, Path, description = "the dry run whose plan to apply")), request_body = ApplyPlan,
    responses((status = 201, description = "the live run that sent exactly the plan's writes, once it ended", content_type = "application/json"),
              (status = 202, description = "with detach: the queued run", content_type = "application/json"),
              (status = 403, description = "the principal may not run it live", content_type = "application/json")))]
/// `POST /api/v1/runs/{run}/apply`: send a reviewed dry run's planned
/// writes, in order, without running the plugin (`easel plan apply`).
async fn apply_plan(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(run): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let opts: ApplyPlan = match raw {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => ApplyPlan::default(),
        raw => body(raw)?,
    };
    let asked = as_caller(
        &server,
        Caller::new(&headers, addr),
        move |server, home, actor| {
            let plan = easel_app::reads::run(home, actor, &run)?;
            actor.require(Act::RunLive(plan.school))?;
            let req = RunRequest {
                plugin: plan.plugin_id.clone(),
                school: plan.school,
                dry_run: false,
                params: plan.params.clone(),
                limits: Limits::default(),
                plan: Some(easel_app::PlanRef {
                    run: plan.id.clone(),
                    apply_only: true,
                }),
            };
            queue_one(server, home, actor, req, opts.detach)
        },
    )
    .await?;
    answer(&server, asked).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    plugin: Option<String>,
    school: Option<u64>,
    status: Option<String>,
    since: Option<String>,
    batch: Option<String>,
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", security(("bearer" = [])), params(RunsQuery),
    responses((status = 200, description = "the runs the principal may read, newest first", content_type = "application/json")))]
/// `GET /api/v1/runs`: the runs the caller may read, newest first.
async fn list_runs(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    headers: HeaderMap,
    query: Result<Query<RunsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) =
        query.map_err(|e| AppError::invalid(format!("the query is not what /runs takes: {e}")))?;
    let runs = as_caller(
        &server,
        Caller::new(&headers, addr),
        move |_, home, actor| {
            let filter = easel_store::RunFilter {
                plugin: q.plugin,
                school: q.school,
                status: q.status,
                since: q.since,
                batch: q.batch,
                instance: None,
            };
            easel_app::reads::list_runs(home, actor, q.limit.unwrap_or(50).min(10_000), &filter)
        },
    )
    .await?;
    to_json(runs)
}

#[utoipa::path(get, path = "/api/v1/runs/{run}", tag = "runs", security(("bearer" = [])),
    params(("run" = String, Path, description = "run id")),
    responses((status = 200, description = "the run", content_type = "application/json"),
              (status = 404, description = "no such run the principal may read", content_type = "application/json")))]
/// `GET /api/v1/runs/{run}`.
async fn show_run(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    Path(run): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let row = as_caller(
        &server,
        Caller::new(&headers, addr),
        move |_, home, actor| easel_app::reads::run(home, actor, &run),
    )
    .await?;
    to_json(row)
}

#[utoipa::path(get, path = "/api/v1/runs/{run}/reports/{name}", tag = "runs", security(("bearer" = [])),
    params(("run" = String, Path, description = "run id"), ("name" = String, Path, description = "the report's file name")),
    responses((status = 200, description = "the report file", content_type = "text/csv"),
              (status = 404, description = "no such run or report the principal may read", content_type = "application/json")))]
/// `GET /api/v1/runs/{run}/reports/{name}`: the report file's bytes.
async fn report(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    Path((run, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let n = name.clone();
    let bytes = as_caller(
        &server,
        Caller::new(&headers, addr),
        move |_, home, actor| {
            let path = easel_app::reads::report(home, actor, &run, &n)?;
            std::fs::read(&path).map_err(|e| {
                AppError::internal(anyhow::anyhow!("cannot read {}: {e}", path.display()))
            })
        },
    )
    .await?;
    let kind = if name.ends_with(".csv") {
        "text/csv; charset=utf-8"
    } else if name.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    Ok(([(header::CONTENT_TYPE, kind)], bytes).into_response())
}

#[utoipa::path(get, path = "/api/v1/schools", tag = "schools", security(("bearer" = [])),
    responses((status = 200, description = "the instance's schools, with their SIS-id prefixes", content_type = "application/json")))]
/// `GET /api/v1/schools`: the server's instance's schools.
async fn schools(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> ApiResult {
    let v = as_caller(&server, Caller::new(&headers, addr), |server, home, _| {
        let handle = tokio::runtime::Handle::current();
        let conn = handle.block_on(server.connections.default_instance(home))?;
        let schools = handle.block_on(conn.schools())?;
        let namespace = easel_app::namespace_instance(home, &conn.instance)?;
        let prefixes = home.store.sis_prefixes(&namespace)?;
        Ok(schools
            .iter()
            .map(|s| {
                let prefix = prefixes
                    .iter()
                    .find(|p| p.school == s.id)
                    .map(|p| p.prefix.clone());
                json!({"id": s.id, "name": s.name, "sis_id_prefix": prefix})
            })
            .collect::<Vec<Value>>())
    })
    .await?;
    to_json(v)
}

/// A label value in the Prometheus text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Run duration histogram bounds, in seconds.
const DURATION_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0];

/// `GET /metrics`: Prometheus text format, for a principal who reads every
/// school's runs (scrape with `authorization: {type: Bearer, credentials:
/// <API token>}`). Token labels are ids and keyed fingerprints, never a
/// secret.
async fn metrics(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> ApiResult {
    let text = as_caller(&server, Caller::new(&headers, addr), |server, home, actor| {
        actor.require(Act::ReadAllRuns)?;
        let stats = home.store.run_stats()?;
        let schedules = home.store.schedules()?;
        let queued = home.store.queued_runs()?;
        let governors = tokio::runtime::Handle::current().block_on(server.connections.governors(home));
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(out, "# HELP easel_runs Runs recorded, by plugin and status.\n# TYPE easel_runs gauge");
        for (plugin, status, n) in &stats.counts {
            let _ = writeln!(out, "easel_runs{{plugin=\"{}\",status=\"{}\"}} {n}", label(plugin), label(status));
        }
        let _ = writeln!(out, "# HELP easel_run_duration_seconds How long finished runs took.\n# TYPE easel_run_duration_seconds histogram");
        let secs: Vec<f64> = stats.durations_ms.iter().map(|ms| *ms as f64 / 1000.0).collect();
        for le in DURATION_BUCKETS {
            let n = secs.iter().filter(|s| **s <= *le).count();
            let _ = writeln!(out, "easel_run_duration_seconds_bucket{{le=\"{le}\"}} {n}");
        }
        let _ = writeln!(out, "easel_run_duration_seconds_bucket{{le=\"+Inf\"}} {}", secs.len());
        let _ = writeln!(out, "easel_run_duration_seconds_sum {}", secs.iter().sum::<f64>());
        let _ = writeln!(out, "easel_run_duration_seconds_count {}", secs.len());
        let _ = writeln!(out, "# HELP easel_canvas_calls_total Canvas calls runs made (sent, or planned in dry runs).\n# TYPE easel_canvas_calls_total counter\neasel_canvas_calls_total {}", stats.calls);
        let _ = writeln!(out, "# HELP easel_canvas_calls_denied_total Calls the policy denied.\n# TYPE easel_canvas_calls_denied_total counter\neasel_canvas_calls_denied_total {}", stats.denied);
        let gauges: [(&str, &str, &str); 5] = [
            ("easel_token_requests_total", "counter", "Requests each token's governor let through since the server started."),
            ("easel_token_throttled_total", "counter", "Throttled answers Canvas gave each token (each retried)."),
            ("easel_token_in_flight", "gauge", "Requests in flight on each token."),
            ("easel_token_waiting", "gauge", "Requests queued for each token's bucket."),
            ("easel_token_headroom", "gauge", "Each token's modelled bucket headroom (Canvas's units)."),
        ];
        for (i, (name, kind, help)) in gauges.iter().enumerate() {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (instance, token, fp, g) in &governors {
                let v = match i {
                    0 => g.granted as f64,
                    1 => g.throttled as f64,
                    2 => f64::from(g.in_flight),
                    3 => g.waiting as f64,
                    _ => g.headroom,
                };
                let _ = writeln!(out, "{name}{{instance=\"{}\",token=\"{}\",fingerprint=\"{}\"}} {v}", label(instance), label(token), label(fp));
            }
        }
        let _ = writeln!(out, "# HELP easel_canvas_answers_total Canvas's answers to each token since the server started, by HTTP status (throttles included).\n# TYPE easel_canvas_answers_total counter");
        for (instance, token, fp, g) in &governors {
            for (status, n) in &g.answers {
                let _ = writeln!(out, "easel_canvas_answers_total{{instance=\"{}\",token=\"{}\",fingerprint=\"{}\",status=\"{status}\"}} {n}", label(instance), label(token), label(fp));
            }
        }
        let _ = writeln!(out, "# HELP easel_canvas_unanswered_total Requests each token sent that got no answer (whether Canvas ran them is unknown).\n# TYPE easel_canvas_unanswered_total counter");
        for (instance, token, fp, g) in &governors {
            let _ = writeln!(out, "easel_canvas_unanswered_total{{instance=\"{}\",token=\"{}\",fingerprint=\"{}\"}} {}", label(instance), label(token), label(fp), g.lost);
        }
        let _ = writeln!(out, "# HELP easel_canvas_retries_total Requests each token sent again, by why: throttled, server_error (a 5xx to an idempotent request), connection (no answer to one).\n# TYPE easel_canvas_retries_total counter");
        for (instance, token, fp, g) in &governors {
            let r = g.retries;
            for (reason, n) in [("throttled", r.throttled), ("server_error", r.server_error), ("connection", r.connection)] {
                let _ = writeln!(out, "easel_canvas_retries_total{{instance=\"{}\",token=\"{}\",fingerprint=\"{}\",reason=\"{reason}\"}} {n}", label(instance), label(token), label(fp));
            }
        }
        let paused = schedules.iter().filter(|s| s.paused_at.is_some()).count();
        let _ = writeln!(out, "# HELP easel_schedules Schedules, by state.\n# TYPE easel_schedules gauge");
        let _ = writeln!(out, "easel_schedules{{state=\"active\"}} {}", schedules.len() - paused);
        let _ = writeln!(out, "easel_schedules{{state=\"paused\"}} {paused}");
        let _ = writeln!(out, "# HELP easel_queue_depth Runs waiting in the queue.\n# TYPE easel_queue_depth gauge\neasel_queue_depth {queued}");
        let _ = writeln!(out, "# HELP easel_queue_running Queued runs this server is running now.\n# TYPE easel_queue_running gauge\neasel_queue_running {}", server.queue.in_flight().len());
        if let Some(node) = &server.node {
            let (handovers, rounds) = node.counters();
            let _ = writeln!(out, "# HELP easel_node This server as a node of a deployment on PostgreSQL (its id).\n# TYPE easel_node gauge\neasel_node{{node=\"{}\"}} 1", label(node.id()));
            let _ = writeln!(out, "# HELP easel_node_token_owned Tokens whose lease this node holds (it spends these only).\n# TYPE easel_node_token_owned gauge");
            for token in node.owned() {
                let _ = writeln!(out, "easel_node_token_owned{{node=\"{}\",token=\"{}\"}} 1", label(node.id()), label(&token));
            }
            let _ = writeln!(out, "# HELP easel_node_token_handovers_total Tokens this node took from another node (or took back) since it started.\n# TYPE easel_node_token_handovers_total counter\neasel_node_token_handovers_total {handovers}");
            let _ = writeln!(out, "# HELP easel_node_lease_rounds_total Rounds of lease renewal this node has made.\n# TYPE easel_node_lease_rounds_total counter\neasel_node_lease_rounds_total {rounds}");
        }
        Ok(out)
    })
    .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Most audit records one request returns.
pub const MAX_AUDIT_RECORDS: usize = 5_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// Records at or after this time (RFC 3339 or a prefix, e.g. 2026-11-29).
    since: Option<String>,
    /// Only this plugin's records.
    plugin: Option<String>,
    /// Only this school's records.
    school: Option<u64>,
    /// Only records after this sequence number (the next page).
    after_seq: Option<u64>,
    /// The last this many records instead (`easel audit tail`).
    last: Option<usize>,
    /// At most this many records (default and most: 5000).
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, description = "audit records, oldest first; page on with after_seq", content_type = "application/json"),
              (status = 403, description = "not allowed to read the audit log", content_type = "application/json")))]
/// `GET /api/v1/audit`: records, as `easel audit export` and `tail` print.
async fn audit_records(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = query.map_err(|e| AppError::invalid(e.to_string()))?;
    let v = as_caller(
        &server,
        Caller::new(&headers, addr),
        move |_, home, actor| {
            let limit = q.limit.unwrap_or(MAX_AUDIT_RECORDS).min(MAX_AUDIT_RECORDS);
            let records = match q.last {
                Some(n) => easel_app::audit::last(home, actor, n.min(MAX_AUDIT_RECORDS))?,
                None => easel_app::audit::records(
                    home,
                    actor,
                    &easel_store::AuditFilter {
                        since: q.since,
                        plugin: q.plugin,
                        school: q.school,
                        after_seq: q.after_seq,
                        ..Default::default()
                    },
                    Some(limit),
                )?,
            };
            Ok(records)
        },
    )
    .await?;
    to_json(v)
}

#[utoipa::path(get, path = "/api/v1/plugins/{plugin}", tag = "plugins", security(("bearer" = [])),
    params(("plugin" = String, Path, description = "plugin id")),
    responses((status = 200, description = "the plugin's newest version: digests, imports, what it requests, changes since the approved version, approvals", content_type = "application/json"),
              (status = 400, description = "no such plugin", content_type = "application/json")))]
/// `GET /api/v1/plugins/{plugin}`: what `easel plugin inspect` shows.
async fn inspect_plugin(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(plugin): Path<String>,
) -> ApiResult {
    let v = as_caller(
        &server,
        Caller::new(&headers, addr),
        move |_, home, actor| easel_app::inspect(home, actor, &plugin),
    )
    .await?;
    to_json(v)
}

#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "whether the audit log's MACs and checkpoints check out", content_type = "application/json"),
              (status = 403, description = "not allowed to read the audit log", content_type = "application/json")))]
/// `GET /api/v1/audit/verify`.
async fn verify_audit(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> ApiResult {
    let v = as_caller(&server, Caller::new(&headers, addr), |_, home, actor| {
        let verdict = easel_app::audit::verify(home, actor, None)?.log;
        Ok(match verdict {
            easel_store::Verdict::Intact { records, head, checkpoints, .. } => {
                json!({"intact": true, "records": records, "head": head, "checkpoints": checkpoints})
            }
            easel_store::Verdict::Broken { seq, reason, .. } => {
                json!({"intact": false, "broken_at": seq, "reason": reason})
            }
        })
    })
    .await?;
    to_json(v)
}

/// TLS for `easel serve`: a certificate chain and its private key, PEM.
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<tokio_rustls::rustls::ServerConfig>, AppError> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| {
            AppError::invalid(format!(
                "cannot read the certificate {}: {e}",
                cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(AppError::invalid(format!(
            "{} holds no PEM certificate",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        AppError::invalid(format!(
            "cannot read the private key {}: {e}",
            key.display()
        ))
    })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(AppError::internal)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            AppError::invalid(format!(
                "the certificate and key do not make a TLS identity: {e}"
            ))
        })?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_describes_every_route_and_the_bearer_scheme() {
        let doc = serde_json::to_value(<ApiDoc as utoipa::OpenApi>::openapi()).unwrap_or_default();
        let mut paths: Vec<&str> = doc["paths"]
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        paths.sort_unstable();
        assert_eq!(
            paths,
            [
                "/api/v1/audit",
                "/api/v1/audit/verify",
                "/api/v1/me",
                "/api/v1/plugin-checks",
                "/api/v1/plugins",
                "/api/v1/plugins/{plugin}",
                "/api/v1/plugins/{plugin}/approve",
                "/api/v1/plugins/{plugin}/deny",
                "/api/v1/plugins/{plugin}/revoke",
                "/api/v1/runs",
                "/api/v1/runs/{run}",
                "/api/v1/runs/{run}/apply",
                "/api/v1/runs/{run}/reports/{name}",
                "/api/v1/schools",
                "/api/v1/sessions",
                "/api/v1/sessions/canvas",
            ]
        );
        assert!(doc["paths"]["/api/v1/runs"]["post"].is_object());
        assert!(doc["paths"]["/api/v1/runs"]["get"]["parameters"].is_array());
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert!(doc["components"]["schemas"]["StartRun"]["properties"]["school"].is_object());
    }
}
