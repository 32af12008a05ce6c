//! Sign in with Canvas, for a command line on the person's own machine
//! (the loopback pattern of RFC 8252, with a PKCE-style proof).
//!
//! 1. `easel login --canvas` listens on a loopback port, makes a secret
//!    verifier, and opens `GET /auth/canvas?instance&port&challenge`
//!    (challenge: base64url of the verifier's sha256) in a browser.
//! 2. easel redirects to the instance's Canvas authorization page; Canvas
//!    sends the browser back to `GET /auth/canvas/callback?code&state`.
//! 3. easel learns who it is from Canvas (the app layer: the Canvas token
//!    is deleted at once) and shows a confirmation page: who will be signed
//!    in, and the code the command line shows. Only a same-origin form post
//!    (`POST /auth/canvas/confirm`) sends the browser on to
//!    `http://127.0.0.1:<port>/?code=<one-time code>`, never elsewhere.
//! 4. The command line posts that code with its verifier to
//!    `POST /api/v1/sessions/canvas` and gets an API token.
//!
//! Threats: a code caught on the way (a browser history, another local
//! program) is worthless without the verifier, which never left the command
//! line. A sign-in someone else started, sent to a victim as a link, stops
//! at the confirmation page, whose code the victim's terminal does not
//! show. The state is signed by this process, not stored, so no flood of
//! started sign-ins can push out anyone's; states and codes are good once,
//! for minutes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use easel_app::{AppError, Home, Kind, canvas_sign_in};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{ApiError, ApiResult, Peer, Server, body, to_json};

/// How long a sign-in may wait at Canvas.
const STATE_LIFETIME: Duration = Duration::from_secs(600);

/// How long the command line has to redeem its code.
const HANDOFF_LIFETIME: Duration = Duration::from_secs(120);

/// Most sign-ins confirmed at Canvas and not yet redeemed (each needs a
/// real Canvas sign-in; the oldest are dropped past it).
const MAX_PENDING: usize = 1_000;

/// Sign-ins under way, in this process only (a restart asks people to
/// start again).
pub(crate) struct SignIns {
    /// Signs states: what a sign-in carries to Canvas and back.
    key: [u8; 32],
    /// States already answered, with when (kept while they could be valid).
    spent: Mutex<HashMap<String, Instant>>,
    handoffs: Mutex<HashMap<String, Handoff>>,
}

impl Default for SignIns {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut key);
        Self {
            key,
            spent: Mutex::new(HashMap::new()),
            handoffs: Mutex::new(HashMap::new()),
        }
    }
}

type Mac = hmac::Hmac<Sha256>;

impl SignIns {
    /// A state for `w`: its fields and a MAC, so nothing is stored until
    /// Canvas answers.
    fn seal(&self, w: &Waiting) -> Option<String> {
        let payload = serde_json::json!([w.instance, w.port, w.challenge, w.expires]).to_string();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut mac = <Mac as hmac::Mac>::new_from_slice(&self.key).ok()?;
        hmac::Mac::update(&mut mac, payload.as_bytes());
        let tag = hmac::Mac::finalize(mac).into_bytes();
        Some(format!("{}.{}", b64.encode(payload), b64.encode(tag)))
    }

    /// The sign-in a state carries, if this process made it, it has not
    /// expired and it was not answered before.
    fn open(&self, state: &str) -> Option<Waiting> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (payload, tag) = state.split_once('.')?;
        let payload = b64.decode(payload).ok()?;
        let tag = b64.decode(tag).ok()?;
        let mut mac = <Mac as hmac::Mac>::new_from_slice(&self.key).ok()?;
        hmac::Mac::update(&mut mac, &payload);
        hmac::Mac::verify_slice(mac, &tag).ok()?;
        let (instance, port, challenge, expires): (String, u16, String, u64) =
            serde_json::from_slice(&payload).ok()?;
        if expires <= unix_now() {
            return None;
        }
        let spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        if spent.contains_key(state) {
            return None;
        }
        Some(Waiting {
            instance,
            port,
            challenge,
            expires,
        })
    }

    /// `state` was answered: it is good no more.
    fn spend(&self, state: &str) {
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        spent.retain(|_, at| at.elapsed() < STATE_LIFETIME);
        spent.insert(state.to_owned(), Instant::now());
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A sign-in sent to Canvas.
struct Waiting {
    instance: String,
    port: u16,
    challenge: String,
    /// Unix seconds.
    expires: u64,
}

/// A sign-in Canvas confirmed, for the person to confirm and the command
/// line to redeem.
struct Handoff {
    name: String,
    challenge: String,
    port: u16,
    at: Instant,
    /// The person confirmed it on the page.
    confirmed: bool,
}

fn put_handoff(map: &Mutex<HashMap<String, Handoff>>, key: String, value: Handoff) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    map.retain(|_, v| v.at.elapsed() < HANDOFF_LIFETIME);
    if map.len() >= MAX_PENDING {
        let oldest = map.iter().min_by_key(|(_, v)| v.at).map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            map.remove(&k);
        }
    }
    map.insert(key, value);
}

/// The code the command line shows and the confirmation page repeats:
/// `xxxx-xxxx` from the sign-in's challenge.
pub fn confirmation_code(challenge: &str) -> String {
    let h = hex::encode(Sha256::digest(
        format!("easel sign-in {challenge}").as_bytes(),
    ));
    format!("{}-{}", &h[..4], &h[4..8])
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::Rng::fill(&mut rand::rng(), &mut b[..]);
    hex::encode(b)
}

/// Equal in time whatever the inputs' contents.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// base64url (no padding) of sha256(`verifier`).
pub fn challenge_of(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Start {
    #[serde(default)]
    instance: Option<String>,
    port: u16,
    challenge: String,
}

/// `GET /auth/canvas?instance&port&challenge`: off to Canvas.
pub(crate) async fn start(
    State(server): State<Arc<Server>>,
    query: Result<Query<Start>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = query.map_err(|e| {
        AppError::invalid(format!("{e}")).hint(
            "this address is opened by `easel login --server URL --canvas`, which fills in port and challenge",
        )
    })?;
    if q.port < 1024 {
        return Err(
            AppError::invalid("port is the command line's loopback port (1024 and up)").into(),
        );
    }
    if q.challenge.len() != 43
        || !q
            .challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(AppError::invalid("challenge is a base64url sha256 (43 characters)").into());
    }
    let redirect_uri = server.callback_url()?;
    let s = server.clone();
    let wanted = q.instance.clone();
    let (instance, origin, client_id) = tokio::task::spawn_blocking(move || {
        let home = s.home()?;
        let instance = match wanted {
            Some(i) => i,
            None => only_instance(&home)?,
        };
        let (row, key) = canvas_sign_in::key_for(&home, &instance)?;
        Ok::<_, AppError>((row.name, row.url, key.key.client_id))
    })
    .await
    .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))??;
    let state = server
        .sign_ins
        .seal(&Waiting {
            instance,
            port: q.port,
            challenge: q.challenge,
            expires: unix_now() + STATE_LIFETIME.as_secs(),
        })
        .ok_or_else(|| AppError::new(Kind::Internal, "cannot sign the sign-in's state"))?;
    let url = easel_canvas::sign_in::authorize_url(&origin, &client_id, &redirect_uri, &state)
        .map_err(|e| AppError::new(Kind::Internal, e.to_string()))?;
    Ok(redirect(&url))
}

/// Off to Canvas for a console sign-in: the state carries port 0 (no
/// command line) and, as its challenge, the sha256 of `nonce`, which only
/// the browser that started it holds (in a cookie), so a sign-in someone
/// else started cannot be finished in a victim's browser.
pub(crate) async fn start_console(server: &Arc<Server>, nonce: &str) -> Result<Response, AppError> {
    let redirect_uri = server.callback_url()?;
    let s = server.clone();
    let (instance, origin, client_id) = tokio::task::spawn_blocking(move || {
        let home = s.home()?;
        let instance = only_instance(&home)?;
        let (row, key) = canvas_sign_in::key_for(&home, &instance)?;
        Ok::<_, AppError>((row.name, row.url, key.key.client_id))
    })
    .await
    .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))??;
    let state = server
        .sign_ins
        .seal(&Waiting {
            instance,
            port: CONSOLE_PORT,
            challenge: challenge_of(nonce),
            expires: unix_now() + STATE_LIFETIME.as_secs(),
        })
        .ok_or_else(|| AppError::new(Kind::Internal, "cannot sign the sign-in's state"))?;
    let url = easel_canvas::sign_in::authorize_url(&origin, &client_id, &redirect_uri, &state)
        .map_err(|e| AppError::new(Kind::Internal, e.to_string()))?;
    Ok(redirect(&url))
}

/// The port a console sign-in's state carries: none (a command line's is
/// 1024 and up).
const CONSOLE_PORT: u16 = 0;

/// The end of a console sign-in: a session for this browser, if it is the
/// one that started it.
async fn finish_console(
    server: &Arc<Server>,
    headers: &axum::http::HeaderMap,
    state: &str,
    w: Waiting,
    q: Callback,
    addr: std::net::SocketAddr,
) -> ApiResult {
    let nonce = crate::console::sign_in_cookie(server, headers).unwrap_or_default();
    if nonce.is_empty() || !same(challenge_of(&nonce).as_bytes(), w.challenge.as_bytes()) {
        return Ok(page(
            StatusCode::FORBIDDEN,
            "<!doctype html><meta charset=\"utf-8\"><title>easel</title><p>This sign-in was started in another browser (or its cookie has expired), so no one was signed in. <a href=\"/console/sign-in\">Sign in again</a>.</p>".into(),
        ));
    }
    server.sign_ins.spend(state);
    let failed = |message: &str| {
        page(
            StatusCode::FORBIDDEN,
            format!(
                "<!doctype html><meta charset=\"utf-8\"><title>easel</title><p>{}</p><p><a href=\"/console/sign-in\">Back to sign in</a></p>",
                html(message)
            ),
        )
    };
    if let Some(error) = q.error {
        return Ok(failed(&if error == "access_denied" {
            "You declined at Canvas, so you are not signed in.".to_owned()
        } else {
            format!("Canvas answered {error}, so you are not signed in.")
        }));
    }
    let Some(code) = q.code else {
        return Ok(failed("Canvas sent no code, so you are not signed in."));
    };
    let redirect_uri = server.callback_url()?;
    match identify_and_complete(server, &w.instance, &code, &redirect_uri, addr).await {
        Ok((name, _, _)) => {
            let s = server.clone();
            tokio::task::spawn_blocking(move || crate::console::canvas_session(&s, &name))
                .await
                .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?
                .map_err(ApiError)
        }
        Err(e) => Ok(failed(&format!(
            "{}{}",
            e.message,
            e.hint.map(|h| format!(" ({h})")).unwrap_or_default()
        ))),
    }
}

fn only_instance(home: &Home) -> Result<String, AppError> {
    let on = canvas_sign_in::instances(home)?;
    match on.as_slice() {
        [(name, _)] => Ok(name.clone()),
        [] => Err(AppError::new(
            Kind::NotFound,
            "sign in with canvas is not on for any instance",
        )
        .hint(
            "a district admin turns it on with `easel instance sign-in INSTANCE --client-id ID`",
        )),
        many => Err(AppError::invalid(format!(
            "say which Canvas to sign in with: --instance {}",
            many.iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        ))),
    }
}

fn redirect(url: &str) -> Response {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, url.to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response()
}

/// Back to the command line's loopback port with `pairs`.
fn to_command_line(port: u16, pairs: &[(&str, &str)]) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    redirect(&format!("http://127.0.0.1:{port}/?{query}"))
}

#[derive(Deserialize)]
pub(crate) struct Callback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `GET /auth/canvas/callback?code&state` (or `?error&state`): Canvas's
/// answer, passed on to the command line as a one-time code.
pub(crate) async fn callback(
    State(server): State<Arc<Server>>,
    ConnectInfo(Peer(addr)): ConnectInfo<Peer>,
    headers: axum::http::HeaderMap,
    query: Result<Query<Callback>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = query.map_err(|e| AppError::invalid(e.to_string()))?;
    let state = q.state.clone().unwrap_or_default();
    let Some(w) = server.sign_ins.open(&state) else {
        return Err(
            AppError::forbidden("this sign-in is unknown or has expired")
                .hint("start again with `easel login --server URL --canvas`, or from the console's sign-in page")
                .into(),
        );
    };
    if w.port == CONSOLE_PORT {
        return finish_console(&server, &headers, &state, w, q, addr).await;
    }
    if let Some(error) = q.error {
        return Ok(to_command_line(
            w.port,
            &[
                ("error", "canvas"),
                (
                    "error_description",
                    &if error == "access_denied" {
                        "you declined at Canvas: run `easel login --canvas` again to sign in"
                            .to_owned()
                    } else {
                        format!("Canvas answered {error}")
                    },
                ),
            ],
        ));
    }
    let Some(code) = q.code else {
        return Ok(to_command_line(
            w.port,
            &[
                ("error", "canvas"),
                ("error_description", "Canvas sent no code"),
            ],
        ));
    };
    let redirect_uri = server.callback_url()?;
    match identify_and_complete(&server, &w.instance, &code, &redirect_uri, addr).await {
        Ok((name, canvas_name, roles)) => {
            server.sign_ins.spend(&state);
            let one_time = random_hex(32);
            let code = confirmation_code(&w.challenge);
            put_handoff(
                &server.sign_ins.handoffs,
                one_time.clone(),
                Handoff {
                    name: name.clone(),
                    challenge: w.challenge,
                    port: w.port,
                    at: Instant::now(),
                    confirmed: false,
                },
            );
            Ok(confirm_page(&canvas_name, &name, &roles, &code, &one_time))
        }
        Err(e) => Ok(to_command_line(
            w.port,
            &[
                ("error", e.kind.name()),
                ("error_description", &e.message),
                ("hint", e.hint.as_deref().unwrap_or("")),
            ],
        )),
    }
}

async fn identify_and_complete(
    server: &Arc<Server>,
    instance: &str,
    code: &str,
    redirect_uri: &str,
    addr: std::net::SocketAddr,
) -> Result<(String, String, String), AppError> {
    let s = server.clone();
    let i = instance.to_owned();
    let (row, key) = tokio::task::spawn_blocking(move || {
        let home = s.home()?;
        canvas_sign_in::key_for(&home, &i)
    })
    .await
    .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))??;
    let who = canvas_sign_in::identify(&row.url, &key, code, redirect_uri).await?;
    let s = server.clone();
    let i = instance.to_owned();
    tokio::task::spawn_blocking(move || {
        let home = s.home()?;
        let actor = canvas_sign_in::complete(&home, &i, &key, &who, &addr.ip().to_string())?;
        let roles = actor
            .roles
            .iter()
            .map(easel_app::Role::name)
            .collect::<Vec<_>>()
            .join(", ");
        Ok((actor.name, who.name, roles))
    })
    .await
    .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Redeem {
    /// The one-time code the callback sent to the command line.
    code: String,
    /// The verifier whose sha256 was the sign-in's challenge.
    verifier: String,
}

#[utoipa::path(post, path = "/api/v1/sessions/canvas", tag = "sessions", request_body = Redeem,
    responses((status = 200, description = "an API token (12 hours) for the user Canvas signed in", content_type = "application/json"),
              (status = 403, description = "the code is unknown, spent, expired, or not this verifier's", content_type = "application/json")))]
/// `POST /api/v1/sessions/canvas`: a Canvas sign-in's one-time code and
/// verifier for an API token.
pub(crate) async fn redeem(
    State(server): State<Arc<Server>>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let req: Redeem = body(raw)?;
    // Taken out whatever follows: a code is good for one try.
    let handoff = server
        .sign_ins
        .handoffs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&req.code);
    let refused = || {
        ApiError(
            AppError::forbidden("this sign-in code is unknown, spent, expired or not yours")
                .hint("start again with `easel login --server URL --canvas`"),
        )
    };
    let Some(h) = handoff.filter(|h| h.at.elapsed() < HANDOFF_LIFETIME && h.confirmed) else {
        return Err(refused());
    };
    if !same(
        challenge_of(&req.verifier).as_bytes(),
        h.challenge.as_bytes(),
    ) {
        return Err(refused());
    }
    let s = server.clone();
    let (actor, t) = tokio::task::spawn_blocking(move || {
        let home = s.home()?;
        let p = home.principals();
        let actor = p.canvas_actor(&h.name)?;
        let t = p.issue_token(
            &actor,
            &actor.name,
            "canvas sign-in",
            Some(time::Duration::hours(canvas_sign_in::CANVAS_SESSION_HOURS)),
            None,
        )?;
        Ok::<_, AppError>((actor, t))
    })
    .await
    .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))??;
    to_json(json!({
        "name": actor.name,
        "roles": actor.roles,
        "token": t.token,
        "token_id": t.id,
        "expires_at": t.expires_at,
    }))
}

fn html(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c if c.is_control() => String::new(),
            c => c.to_string(),
        })
        .collect()
}

/// Headers of easel's own pages in this flow: no framing, no scripts, no
/// referrer, forms only to easel and on to the command line's port.
fn page(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://127.0.0.1:*; frame-ancestors 'none'; base-uri 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The page that asks the person to confirm the sign-in.
fn confirm_page(canvas_name: &str, name: &str, roles: &str, code: &str, handoff: &str) -> Response {
    page(
        StatusCode::OK,
        format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>easel: confirm the sign-in</title>\
             <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">\
             <h1>Sign in to easel</h1>\
             <p>Canvas says you are <b>{}</b>. easel will sign a command line in as <b>{}</b> ({}).</p>\
             <p>Continue only if you started <code>easel login --canvas</code> yourself and it shows the code <b>{}</b>.</p>\
             <form method=\"post\" action=\"/auth/canvas/confirm\"><input type=\"hidden\" name=\"handoff\" value=\"{}\">\
             <button type=\"submit\">Continue</button></form>\
             <p>If you did not start it, close this page: no one is signed in.</p></body></html>",
            html(canvas_name),
            html(name),
            html(roles),
            html(code),
            html(handoff)
        ),
    )
}

/// `POST /auth/canvas/confirm` (a form with `handoff`): the person
/// confirmed; on to the command line's port.
pub(crate) async fn confirm(
    State(server): State<Arc<Server>>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let bytes = raw.map_err(|e| AppError::invalid(e.to_string()))?;
    let handoff = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "handoff")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let port = {
        let mut map = server
            .sign_ins
            .handoffs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match map.get_mut(&handoff) {
            Some(h) if h.at.elapsed() < HANDOFF_LIFETIME => {
                h.confirmed = true;
                Some(h.port)
            }
            _ => None,
        }
    };
    let Some(port) = port else {
        return Ok(page(
            StatusCode::FORBIDDEN,
            "<!doctype html><meta charset=\"utf-8\"><title>easel</title><p>This sign-in is unknown or has expired: start again with <code>easel login --canvas</code>.</p>".into(),
        ));
    };
    Ok(to_command_line(port, &[("code", &handoff)]))
}
