//! The web console: server-rendered pages (maud) over the application
//! layer, from the same process as the API. Every read works without
//! JavaScript, and so do approve and revoke; htmx and a small script of
//! easel's own only add partial updates and live logs.
//!
//! Sessions: signing in (a password, or Sign in with Canvas) issues an
//! easel API token for 12 hours, kept in an `HttpOnly`, `SameSite=Strict`
//! cookie (`Secure` when the server's public URL is https). A session also
//! ends after [`IDLE`] without a request, and when the server restarts
//! (the last-seen times are this process's). Every form that changes
//! something carries a CSRF token, an HMAC of the session's token id under
//! a key of this process, and a post whose `Origin` or `Sec-Fetch-Site`
//! says it came from another site is refused too.
//!
//! Authorisation is the application layer's, checked on the server for
//! every page, fragment and download: a link that is not shown is also
//! refused when typed.

mod pages;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use easel_app::{Actor, AppError, Home, Kind, SignIn};
use maud::{DOCTYPE, Markup, html};
use sha2::{Digest, Sha256};

use crate::Server;

/// How long a console session lasts at most.
pub const SESSION_HOURS: i64 = 12;

/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(30 * 60);

/// The session cookie.
const COOKIE: &str = "easel_session";

/// The cookie that binds a sign-in form (or a Sign in with Canvas) to the
/// browser that asked for it.
const PRE_COOKIE: &str = "easel_signin";

/// Largest upload: a component and its manifest.
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

/// What the console keeps in this process.
pub(crate) struct Console {
    key: [u8; 32],
    /// Console sessions (API token ids) and when each was last used.
    seen: Mutex<HashMap<String, Instant>>,
    /// Live event streams open, per session.
    streams: Mutex<HashMap<String, usize>>,
}

/// Most event streams (a run page following its run) open at once.
pub const MAX_STREAMS: usize = 64;

/// Most event streams one session holds open at once.
pub const MAX_STREAMS_PER_SESSION: usize = 4;

/// One open event stream, counted until dropped.
pub(crate) struct Stream<'a> {
    console: &'a Console,
    token_id: String,
}

impl Drop for Stream<'_> {
    fn drop(&mut self) {
        let mut streams = self
            .console
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = streams.get_mut(&self.token_id) {
            *n -= 1;
            if *n == 0 {
                streams.remove(&self.token_id);
            }
        }
    }
}

impl Default for Console {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut key);
        Self {
            key,
            seen: Mutex::new(HashMap::new()),
            streams: Mutex::new(HashMap::new()),
        }
    }
}

type Mac = hmac::Hmac<Sha256>;

impl Console {
    fn mac(&self, what: &str) -> String {
        let Ok(mut mac) = <Mac as hmac::Mac>::new_from_slice(&self.key) else {
            return String::new();
        };
        hmac::Mac::update(&mut mac, what.as_bytes());
        hex::encode(hmac::Mac::finalize(mac).into_bytes())
    }

    /// `to` with its `done=` message signed (`&sig=`), so a page shows only
    /// the messages this server wrote, never one a link carries.
    fn sign_done(&self, to: &str) -> String {
        let Some((_, query)) = to.split_once('?') else {
            return to.to_owned();
        };
        match url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "done") {
            Some((_, text)) => format!("{to}&sig={}", &self.mac(&format!("done {text}"))[..32]),
            None => to.to_owned(),
        }
    }

    /// The `done=` message of a page's query, if this server signed it.
    pub(crate) fn done<'f>(&self, f: &'f Form) -> Option<&'f str> {
        let text = f.one("done")?;
        let sig = f.one("sig")?;
        same(
            sig.as_bytes(),
            &self.mac(&format!("done {text}")).as_bytes()[..32],
        )
        .then_some(text)
    }

    /// The CSRF token of the session whose API token is `token_id`.
    fn csrf(&self, token_id: &str) -> String {
        self.mac(&format!("csrf {token_id}"))
    }

    /// The sign-in form's token for the browser holding `nonce`.
    fn sign_in_csrf(&self, nonce: &str) -> String {
        self.mac(&format!("sign-in {nonce}"))
    }

    pub(crate) fn start(&self, token_id: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, at| at.elapsed() < IDLE);
        seen.insert(token_id.to_owned(), Instant::now());
    }

    /// Open one more event stream for session `token_id`, if neither it
    /// nor the server holds too many.
    pub(crate) fn open_stream(&self, token_id: &str) -> Option<Stream<'_>> {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = streams.values().sum();
        let mine = streams.get(token_id).copied().unwrap_or(0);
        if total >= MAX_STREAMS || mine >= MAX_STREAMS_PER_SESSION {
            return None;
        }
        streams.insert(token_id.to_owned(), mine + 1);
        Some(Stream {
            console: self,
            token_id: token_id.to_owned(),
        })
    }

    /// Is `token_id` a live console session (without counting this as
    /// use)?
    pub(crate) fn alive(&self, token_id: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(token_id).is_some_and(|at| at.elapsed() < IDLE)
    }

    /// Is `token_id` a live console session? Touches it if so.
    fn touch(&self, token_id: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get_mut(token_id) {
            Some(at) if at.elapsed() < IDLE => {
                *at = Instant::now();
                true
            }
            Some(_) => {
                seen.remove(token_id);
                false
            }
            None => false,
        }
    }

    fn end(&self, token_id: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token_id);
    }
}

/// The console's routes, under `/console`, and `/` sending browsers there.
pub(crate) fn router() -> Router<Arc<Server>> {
    Router::new()
        .route("/", get(|| async { see_other("/console") }))
        .route("/console", get(pages::home))
        .route("/console/", get(|| async { see_other("/console") }))
        .route(
            "/console/sign-in",
            get(pages::sign_in_page).post(pages::sign_in),
        )
        .route("/console/sign-in/canvas", get(pages::canvas_start))
        .route("/console/sign-out", post(pages::sign_out))
        .route("/console/runs", get(pages::runs))
        .route("/console/runs/{run}", get(pages::run))
        .route("/console/runs/{run}/events", get(pages::run_events))
        .route("/console/runs/{run}/apply", post(pages::apply))
        .route("/console/runs/{run}/reports/{name}", get(pages::report))
        .route("/console/batches/{batch}/report", get(pages::batch_report))
        .route("/console/plugins", get(pages::plugins))
        .route("/console/plugins/{plugin}", get(pages::plugin))
        .route("/console/plugins/{plugin}/approve", post(pages::approve))
        .route("/console/plugins/{plugin}/revoke", post(pages::revoke))
        .route("/console/plugins/{plugin}/deny", post(pages::deny))
        .route("/console/plugins/{plugin}/run", post(pages::start_run))
        .route(
            "/console/submit",
            get(pages::submit_page)
                .post(pages::submit)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route("/console/audit", get(pages::audit))
        .route("/console/audit/export", get(pages::audit_export))
        .route("/console/tokens", get(pages::tokens))
        .route("/console/tokens/add", post(pages::add_token))
        .route("/console/tokens/{token}/rotate", post(pages::rotate_token))
        .route("/console/tokens/chart/{token}", get(pages::token_chart))
        .route("/console/schedules", get(pages::schedules))
        .route(
            "/console/schedules/{schedule}/{act}",
            post(pages::schedule_act),
        )
        .route("/console/assets/{hash}/{name}", get(asset))
}

/// The security headers of every answer the server gives (the console's
/// pages, the API's JSON, errors, redirects), each unless the handler set
/// its own.
pub(crate) async fn headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut r = next.run(request).await;
    let h = r.headers_mut();
    let defaults = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in defaults {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    r
}

/// A vendored or own file the pages load.
struct Asset {
    name: &'static str,
    kind: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "htmx.min.js",
        kind: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/htmx.min.js"),
    },
    Asset {
        name: "console.js",
        kind: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/console.js"),
    },
    Asset {
        name: "console.css",
        kind: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/console.css"),
    },
];

/// The assets' version: a hash of them all, so a changed file has a new
/// address and old ones can be cached for a year.
fn assets_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let mut h = Sha256::new();
        for a in ASSETS {
            h.update(a.name.as_bytes());
            h.update(a.bytes);
        }
        hex::encode(&h.finalize()[..6])
    })
}

fn asset_url(name: &str) -> String {
    format!("/console/assets/{}/{name}", assets_hash())
}

async fn asset(Path((hash, name)): Path<(String, String)>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) if hash == assets_hash() => (
            [
                (header::CONTENT_TYPE, a.kind),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            a.bytes,
        )
            .into_response(),
        _ => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// A cookie's value from the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Is the server reached over https (its public URL says so)?
fn secure(server: &Server) -> bool {
    server
        .public_url
        .get()
        .is_some_and(|u| u.starts_with("https:"))
}

/// A cookie's name: under https with the `__Host-` prefix, which a browser
/// keeps only for this host, `Secure` and `Path=/`, so a sibling domain
/// cannot plant one.
fn cookie_name(server: &Server, base: &str) -> String {
    if secure(server) {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// The value of this server's cookie `base`.
pub(crate) fn read_cookie(server: &Server, headers: &HeaderMap, base: &str) -> Option<String> {
    cookie(headers, &cookie_name(server, base))
}

/// A `Set-Cookie` value for this server's cookie `base`.
fn set_cookie(server: &Server, base: &str, value: &str, max_age: i64, same_site: &str) -> String {
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{}",
        cookie_name(server, base),
        if secure(server) { "; Secure" } else { "" }
    )
}

/// Equal in time whatever the inputs' contents.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A state-changing request must come from a page of this site: a browser
/// says where a request comes from in `Sec-Fetch-Site` and `Origin`.
fn same_site(server: &Server, headers: &HeaderMap) -> Result<(), AppError> {
    check_site(headers, server.public_url.get().map(String::as_str))
}

/// [`same_site`] for a server reached at `public` (its public URL, when
/// set: behind a proxy, the `Host` easel sees may not be the browser's).
fn check_site(headers: &HeaderMap, public: Option<&str>) -> Result<(), AppError> {
    let refuse = || {
        AppError::forbidden("this form was sent from another site, so it was refused")
            .hint("open the console's own page and send the form from there")
    };
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(refuse());
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
        let public = public.is_some_and(|p| p.trim_end_matches('/') == origin);
        if origin == "null" || (origin_host != host && !public) {
            return Err(refuse());
        }
    }
    Ok(())
}

/// The signed-in person, for a page.
pub(crate) struct Ctx {
    pub actor: Actor,
    pub csrf: String,
    token_id: String,
}

/// Why a request has no session.
enum NoSession {
    /// Not signed in (or the session ended): to the sign-in page.
    SignIn(&'static str),
    /// Something else went wrong.
    Error(AppError),
}

impl From<AppError> for NoSession {
    fn from(e: AppError) -> Self {
        Self::Error(e)
    }
}

/// The session a request carries, checked (on a blocking thread).
fn session(
    server: &Server,
    home: &Home,
    token: Option<String>,
    addr: SocketAddr,
    background: bool,
) -> Result<Ctx, NoSession> {
    let Some(token) = token else {
        return Err(NoSession::SignIn(""));
    };
    let actor = home
        .principals()
        .authenticate_console(&token, &addr.ip().to_string())
        .map_err(|_| NoSession::SignIn("your session has ended: sign in again"))?;
    let SignIn::ApiToken(id) = &actor.via else {
        return Err(NoSession::SignIn(""));
    };
    let live = if background {
        server.console.alive(id)
    } else {
        server.console.touch(id)
    };
    if !live {
        // Idle too long, or made before this server started: the token is
        // good for nothing else, so it ends.
        let _ = home.principals().revoke_token(&actor, id);
        return Err(NoSession::SignIn(
            "your session ended after 30 minutes without use (or the server restarted): sign in again",
        ));
    }
    Ok(Ctx {
        csrf: server.console.csrf(id),
        token_id: id.clone(),
        actor,
    })
}

/// A page's answer: HTML, a redirect, or a file.
pub(crate) enum Answer {
    Page(Markup),
    Status(StatusCode, Markup),
    Redirect(String),
    File {
        kind: &'static str,
        name: String,
        bytes: Vec<u8>,
    },
    Raw(Response),
}

impl From<Markup> for Answer {
    fn from(m: Markup) -> Self {
        Self::Page(m)
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self {
            Answer::Page(m) => html_response(StatusCode::OK, m),
            Answer::Status(s, m) => html_response(s, m),
            Answer::Redirect(to) => see_other(&to),
            Answer::File { kind, name, bytes } => (
                [
                    (header::CONTENT_TYPE, kind.to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!(
                            "attachment; filename=\"{}\"",
                            name.replace(|c: char| !c.is_ascii_graphic() || c == '"', "_")
                        ),
                    ),
                ],
                bytes,
            )
                .into_response(),
            Answer::Raw(r) => r,
        }
    }
}

fn html_response(status: StatusCode, m: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        m.into_string(),
    )
        .into_response()
}

/// The request's essentials, for [`page`].
pub(crate) struct Req {
    /// The session cookie, by its plain and its `__Host-` name (which one
    /// counts is the server's to say).
    token: Option<String>,
    host_token: Option<String>,
    addr: SocketAddr,
    path: String,
    /// A page refreshing itself (htmx polling), not a person: it does not
    /// keep the session from idling out.
    background: bool,
}

/// The id of the element that refreshes the tokens page by itself.
pub(crate) const POLLING: &str = "gauges";

impl Req {
    pub(crate) fn new(headers: &HeaderMap, addr: SocketAddr, path: &str) -> Self {
        let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        Self {
            token: cookie(headers, COOKIE),
            host_token: cookie(headers, &format!("__Host-{COOKIE}")),
            addr,
            path: path.to_owned(),
            background: header("hx-request").is_some() && header("hx-trigger") == Some(POLLING),
        }
    }
}

/// Answer a page for a signed-in person: `f` runs on a blocking thread
/// with the data directory and the session; an error is shown as a page
/// with its status; no session sends the browser to sign in.
pub(crate) async fn page<F>(server: &Arc<Server>, req: Req, f: F) -> Response
where
    F: FnOnce(&Server, &Home, &Ctx) -> Result<Answer, AppError> + Send + 'static,
{
    let s = server.clone();
    let addr = req.addr;
    let token = if secure(server) {
        req.host_token
    } else {
        req.token
    };
    let background = req.background;
    let done = tokio::task::spawn_blocking(move || {
        let home = s.home()?;
        let ctx = session(&s, &home, token, addr, background)?;
        match f(&s, &home, &ctx) {
            Ok(a) => Ok(a),
            Err(e) => Ok(Answer::Status(status_of(&e), error_page(Some(&ctx), &e))),
        }
    })
    .await;
    match done {
        Ok(Ok(Answer::Redirect(to))) => see_other(&server.console.sign_done(&to)),
        Ok(Ok(a)) => a.into_response(),
        Ok(Err(NoSession::SignIn(why))) => {
            let mut to = format!(
                "/console/sign-in?next={}",
                url::form_urlencoded::byte_serialize(req.path.as_bytes()).collect::<String>()
            );
            if !why.is_empty() {
                to.push_str("&ended=1");
            }
            see_other(&to)
        }
        Ok(Err(NoSession::Error(e))) => html_response(status_of(&e), error_page(None, &e)),
        Err(e) => {
            let e = AppError::internal(anyhow::anyhow!("a page's task failed: {e}"));
            html_response(status_of(&e), error_page(None, &e))
        }
    }
}

fn status_of(e: &AppError) -> StatusCode {
    if e.kind == Kind::Internal {
        tracing::error!("internal error: {}", e.message);
    }
    StatusCode::from_u16(e.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn error_page(ctx: Option<&Ctx>, e: &AppError) -> Markup {
    let title = match e.kind {
        Kind::Forbidden => "Not allowed",
        Kind::NotFound => "Not found",
        Kind::Internal => "Something went wrong",
        _ => "That did not work",
    };
    layout(
        ctx,
        title,
        "",
        html! {
            @if e.kind == Kind::Internal {
                // The details (paths, causes) are in the server's log.
                p.notice.error role="alert" { "Something went wrong on the server; its log has the details." }
            } @else {
                p.notice.error role="alert" { (e.message) }
                @if let Some(h) = &e.hint { p { (h) } }
            }
            p { a href="/console" { "Back to the console" } }
        },
    )
}

/// A form's fields, read strictly: a field the form does not have is
/// refused.
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(bytes: &[u8], allowed: &[&str]) -> Result<Self, AppError> {
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some((k, _)) = fields
            .iter()
            .find(|(k, _)| k != "csrf" && !allowed.contains(&k.as_str()))
        {
            return Err(AppError::invalid(format!(
                "this form has no field {k:?}; reload the page and try again"
            )));
        }
        Ok(Self(fields))
    }

    pub(crate) fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }

    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .collect()
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// The form's CSRF token is the session's.
    pub(crate) fn check_csrf(&self, ctx: &Ctx) -> Result<(), AppError> {
        let given = self.one("csrf").unwrap_or_default();
        if same(given.as_bytes(), ctx.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "this form's security token is missing or out of date, so nothing was changed",
            )
            .hint("reload the page and send the form again"))
        }
    }
}

/// The navigation, by what the person may do.
fn nav(ctx: &Ctx, current: &str) -> Markup {
    use easel_app::Act;
    let a = &ctx.actor;
    let mut links: Vec<(&str, &str)> = vec![("/console", "Home"), ("/console/runs", "Runs")];
    links.push(("/console/plugins", "Plugins"));
    if a.may(Act::Submit) {
        links.push(("/console/submit", "Submit"));
    }
    if a.may(Act::ReadAllRuns) || a.may(Act::Approve) {
        links.push(("/console/schedules", "Schedules"));
    }
    if a.may(Act::ManageCredentials) || a.may(Act::ReadAllRuns) {
        links.push(("/console/tokens", "Tokens"));
    }
    if a.may(Act::ReadAudit) {
        links.push(("/console/audit", "Audit"));
    }
    html! {
        nav aria-label="Main" {
            ul {
                @for (href, label) in links {
                    li {
                        @if href == current {
                            a href=(href) aria-current="page" { (label) }
                        } @else {
                            a href=(href) { (label) }
                        }
                    }
                }
            }
        }
    }
}

/// A whole page: one `h1` (the title), landmarks, a skip link.
pub(crate) fn layout(ctx: Option<&Ctx>, title: &str, current: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;
                title { (title) " · easel" }
                link rel="stylesheet" href=(asset_url("console.css"));
                script src=(asset_url("htmx.min.js")) defer {}
                script src=(asset_url("console.js")) defer {}
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    a.brand href="/console" { "easel" }
                    @if let Some(ctx) = ctx {
                        (nav(ctx, current))
                        div.who {
                            span { "Signed in as " strong { (ctx.actor.name) } " (" (roles(&ctx.actor)) ")" }
                            form method="post" action="/console/sign-out" {
                                input type="hidden" name="csrf" value=(ctx.csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn roles(a: &Actor) -> String {
    if a.roles.is_empty() {
        return "no roles".into();
    }
    a.roles
        .iter()
        .map(easel_app::Role::name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A run's state, in words and a mark (never colour alone).
pub(crate) fn state(status: &str) -> Markup {
    let class = match status {
        "succeeded" | "approved" | "intact" | "active" => "ok",
        "failed" | "refused" | "revoked" | "broken" | "denied" | "expired" => "bad",
        "interrupted" | "partial" | "paused" | "disabled" | "pending" => "warn",
        _ => "idle",
    };
    html! { span class={"state " (class)} { (status) } }
}

/// Text that may hold anything, made safe to show (maud escapes; this
/// also drops control characters).
pub(crate) fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

/// The sign-in nonce cookie's value and the form token for it; a new
/// nonce when the browser has none.
fn sign_in_nonce(server: &Server, headers: &HeaderMap) -> (String, bool) {
    match read_cookie(server, headers, PRE_COOKIE) {
        Some(n) if n.len() == 32 && n.bytes().all(|b| b.is_ascii_hexdigit()) => (n, false),
        _ => {
            let _ = server;
            let mut b = [0u8; 16];
            rand::Rng::fill(&mut rand::rng(), &mut b);
            (hex::encode(b), true)
        }
    }
}

/// The sign-in nonce this browser holds, if any.
pub(crate) fn sign_in_cookie(server: &Server, headers: &HeaderMap) -> Option<String> {
    read_cookie(server, headers, PRE_COOKIE)
        .filter(|n| n.len() == 32 && n.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub(crate) use pages::canvas_session;

/// Where to go after signing in: a console page, never elsewhere.
fn next_page(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console")
                && !n.contains("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control)
                && !n.starts_with("/console/sign-") =>
        {
            n.to_owned()
        }
        _ => "/console".into(),
    }
}

pub(crate) use axum::extract::ConnectInfo as Connect;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_after_its_idle_time_and_is_unknown_after_a_restart() {
        let c = Console::default();
        assert!(!c.touch("t1"), "a session this process never started");
        c.start("t1");
        assert!(c.touch("t1"));
        c.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert("t1".into(), Instant::now() - IDLE - Duration::from_secs(1));
        assert!(!c.touch("t1"), "idle too long");
        assert!(!c.touch("t1"), "and gone");
        c.start("t2");
        c.end("t2");
        assert!(!c.touch("t2"), "signed out");
    }

    #[test]
    fn event_streams_are_limited_per_session_and_in_all() {
        let c = Console::default();
        let mine: Vec<_> = (0..MAX_STREAMS_PER_SESSION)
            .map(|_| c.open_stream("t1"))
            .collect();
        assert!(mine.iter().all(Option::is_some));
        assert!(c.open_stream("t1").is_none(), "one session's limit");
        drop(mine);
        assert!(
            c.open_stream("t1").is_some(),
            "closed streams free their place"
        );
        let many: Vec<_> = (0..MAX_STREAMS)
            .map(|i| c.open_stream(&format!("s{}", i / MAX_STREAMS_PER_SESSION)))
            .collect();
        assert!(many.iter().all(Option::is_some));
        assert!(c.open_stream("another").is_none(), "the server's limit");
    }

    #[test]
    fn only_messages_this_server_signed_are_shown() {
        let c = Console::default();
        let to = c.sign_done("/console/schedules?done=Paused+s1");
        let q = to.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let f = Form::parse(q.as_bytes(), &["done", "sig"]).unwrap_or(Form(Vec::new()));
        assert_eq!(c.done(&f), Some("Paused s1"));
        let forged = Form::parse(b"done=Re-enter+your+token+at+evil&sig=00", &["done", "sig"])
            .unwrap_or(Form(Vec::new()));
        assert_eq!(c.done(&forged), None);
        let unsigned = Form::parse(b"done=hello", &["done", "sig"]).unwrap_or(Form(Vec::new()));
        assert_eq!(c.done(&unsigned), None);
        assert_eq!(Console::default().done(&f), None, "another process's key");
    }

    #[test]
    fn a_polling_page_does_not_keep_a_session_alive() {
        let c = Console::default();
        c.start("t1");
        c.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert("t1".into(), Instant::now() - IDLE / 2);
        assert!(c.alive("t1"));
        let before = c.seen.lock().unwrap_or_else(|p| p.into_inner())["t1"];
        assert!(c.alive("t1"));
        assert_eq!(
            c.seen.lock().unwrap_or_else(|p| p.into_inner())["t1"],
            before,
            "alive does not touch"
        );
    }

    #[test]
    fn csrf_tokens_belong_to_one_session_and_one_process() {
        let (a, b) = (Console::default(), Console::default());
        assert_ne!(a.csrf("t1"), a.csrf("t2"));
        assert_ne!(a.csrf("t1"), b.csrf("t1"));
        assert_ne!(a.csrf("t1"), a.sign_in_csrf("t1"));
        assert_eq!(a.csrf("t1").len(), 64);
    }

    #[test]
    fn after_signing_in_only_console_pages_are_next() {
        assert_eq!(
            next_page(Some("/console/runs?school=2")),
            "/console/runs?school=2"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/console",
            "/console//evil.example",
            "/console\\evil",
            "/api/v1/me",
            "/console/sign-out",
            "javascript:alert(1)",
        ] {
            assert_eq!(next_page(Some(bad)), "/console", "{bad}");
        }
        assert_eq!(next_page(None), "/console");
    }

    #[test]
    fn posts_from_another_site_are_refused() {
        let h = |pairs: &[(&str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap_or(header::HOST),
                    HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
                );
            }
            m
        };
        let same_site = |h: &HeaderMap| check_site(h, None);
        assert!(same_site(&h(&[("host", "easel:7070")])).is_ok());
        assert!(
            same_site(&h(&[
                ("host", "easel:7070"),
                ("origin", "http://easel:7070"),
                ("sec-fetch-site", "same-origin")
            ]))
            .is_ok()
        );
        assert!(
            same_site(&h(&[
                ("host", "easel:7070"),
                ("origin", "https://evil.example")
            ]))
            .is_err()
        );
        assert!(same_site(&h(&[("host", "easel:7070"), ("origin", "null")])).is_err());
        assert!(
            same_site(&h(&[
                ("host", "easel:7070"),
                ("sec-fetch-site", "cross-site")
            ]))
            .is_err()
        );
        assert!(
            same_site(&h(&[
                ("host", "easel:7070"),
                ("sec-fetch-site", "same-site")
            ]))
            .is_err()
        );
    }

    #[test]
    fn unknown_form_fields_are_refused() {
        assert!(Form::parse(b"csrf=x&reason=no", &["reason"]).is_ok());
        let e = Form::parse(b"csrf=x&reason=no&admin=1", &["reason"])
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(e.contains("admin"), "{e}");
    }
}
