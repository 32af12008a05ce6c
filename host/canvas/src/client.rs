//! [`CanvasClient`]: URL building, origin pinning, credential and User-Agent.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use url::Url;

use crate::credential::{CredentialError, Credentials, StaticCredentials};
use crate::governor::{Governor, Permit, Priority, Settled};
use crate::link::next_link;
use crate::redact::redact_response;
use crate::retry::{RetryPolicy, RetryReason, is_idempotent, is_throttled, retry_answer};
use crate::token::Token;
use crate::transport::{Transport, TransportError};

/// Product token at the start of every User-Agent easel sends.
pub const USER_AGENT_PRODUCT: &str = concat!("easel/", env!("CARGO_PKG_VERSION"));

/// Page size easel asks for on every list (Canvas's maximum).
pub const DEFAULT_PER_PAGE: &str = "100";

/// Who a call is made for; becomes the User-Agent, so Canvas's page views
/// and Canvas Data tell plugins and schools apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTag {
    /// Plugin id from its manifest (or `easel` for the host's own lookups).
    pub plugin: String,
    /// sha256 of the component, hex.
    pub digest: String,
    /// Run id.
    pub run: String,
    /// The school's account id.
    pub school: u64,
    /// easel's own lookup on the run's behalf (to place an object), not a
    /// call the plugin made: the User-Agent says `lookup`.
    pub lookup: bool,
}

impl CallTag {
    /// A tag for easel's own administrative calls (not a plugin's), e.g.
    /// listing schools: `easel/<version> (admin; command=<command>)`.
    pub fn admin(command: &str) -> Self {
        Self {
            plugin: command.to_owned(),
            digest: String::new(),
            run: String::new(),
            school: 0,
            lookup: false,
        }
    }

    /// The same run's tag for easel's own lookups.
    pub fn for_lookups(&self) -> Self {
        Self {
            lookup: true,
            ..self.clone()
        }
    }

    /// The governor's queue key: the run, or the admin command.
    pub fn flow(&self) -> String {
        if self.run.is_empty() {
            format!("admin:{}", self.plugin)
        } else {
            self.run.clone()
        }
    }

    /// `easel/<version> (plugin=<id>@<12 hex>; run=<run>; school=<account>)`,
    /// with `lookup; ` first for easel's own lookups on the run's behalf.
    pub fn user_agent(&self) -> String {
        if self.digest.is_empty() {
            return format!("{USER_AGENT_PRODUCT} (admin; command={})", self.plugin);
        }
        let short: String = self.digest.chars().take(12).collect();
        format!(
            "{USER_AGENT_PRODUCT} ({}plugin={}@{short}; run={}; school={})",
            if self.lookup { "lookup; " } else { "" },
            self.plugin,
            self.run,
            self.school
        )
    }
}

/// Canvas's answer. The body is whatever Canvas sent; `next` is the absolute
/// `next` link, kept on the host side.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Bytes,
    /// The `next` page, if Canvas sent one.
    pub next: Option<String>,
    /// `x-request-cost`, if sent.
    pub request_cost: Option<f64>,
    /// `x-rate-limit-remaining`, if sent.
    pub rate_limit_remaining: Option<f64>,
    /// Scheme, host and port of a redirect's `Location`, if Canvas sent one
    /// (never followed).
    pub redirect_origin: Option<String>,
    /// Why earlier attempts were retried, in order.
    pub retries: Vec<RetryReason>,
    /// Time spent waiting for the token's governor, all attempts.
    pub queued: std::time::Duration,
    /// Time spent sending and waiting for Canvas, all attempts (retry
    /// back-off included).
    pub upstream: std::time::Duration,
}

impl Response {
    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why a request was not answered by Canvas. Never contains a token.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request would leave the token's origin; nothing was sent.
    #[error("refused to send to {url}: the token is pinned to {origin}")]
    OffOrigin {
        /// Where it would have gone (scheme, host, port, path).
        url: String,
        /// Where the token belongs.
        origin: String,
    },
    /// The base URL or a built URL is not usable.
    #[error("bad Canvas URL: {0}")]
    BadUrl(String),
    /// No HTTP answer.
    #[error("Canvas did not answer: {0}")]
    Transport(#[from] TransportError),
    /// No usable token (e.g. a refresh was refused).
    #[error("no usable Canvas token: {0}")]
    Credentials(#[from] CredentialError),
}

/// The single choke point for outbound requests to one Canvas origin with
/// one token.
#[derive(Clone)]
pub struct CanvasClient {
    origin: Url,
    credentials: Arc<dyn Credentials>,
    transport: Arc<dyn Transport>,
    retry: RetryPolicy,
    governor: Governor,
    priority: Priority,
}

impl std::fmt::Debug for CanvasClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CanvasClient")
            .field("origin", &self.origin.as_str())
            .field("credentials", &"<redacted>")
            .finish()
    }
}

/// A request body and the media type it is sent as.
#[derive(Clone)]
pub struct RequestBody {
    bytes: Bytes,
    content_type: &'static str,
}

impl RequestBody {
    /// A JSON body (`application/json`).
    pub fn json(bytes: impl Into<Bytes>) -> Self {
        Self::typed(bytes, "application/json")
    }

    /// A body of the given media type, e.g. `text/csv` for a SIS import.
    pub fn typed(bytes: impl Into<Bytes>, content_type: &'static str) -> Self {
        Self {
            bytes: bytes.into(),
            content_type,
        }
    }
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RequestBody({}, {} bytes)",
            self.content_type,
            self.bytes.len()
        )
    }
}

impl CanvasClient {
    /// A client for `base_url` with one fixed token.
    pub fn with_token(
        base_url: &str,
        token: Token,
        transport: Arc<dyn Transport>,
    ) -> Result<Self, ClientError> {
        Self::new(base_url, Arc::new(StaticCredentials(token)), transport)
    }

    /// A client for `base_url` (e.g. `https://district.instructure.com`);
    /// only its scheme, host and port are kept.
    pub fn new(
        base_url: &str,
        credentials: Arc<dyn Credentials>,
        transport: Arc<dyn Transport>,
    ) -> Result<Self, ClientError> {
        let parsed =
            Url::parse(base_url).map_err(|e| ClientError::BadUrl(format!("{base_url}: {e}")))?;
        if !matches!(parsed.scheme(), "https" | "http") || parsed.host().is_none() {
            return Err(ClientError::BadUrl(format!(
                "{base_url}: expected https://host"
            )));
        }
        let origin = Url::parse(&parsed.origin().ascii_serialization())
            .map_err(|e| ClientError::BadUrl(e.to_string()))?;
        Ok(Self {
            origin,
            credentials,
            transport,
            retry: RetryPolicy::default(),
            governor: Governor::default(),
            priority: Priority::default(),
        })
    }

    /// The pinned origin, e.g. `https://district.instructure.com`.
    pub fn origin(&self) -> String {
        self.origin.origin().ascii_serialization()
    }

    /// Send `method path?query` with an optional body. `path` must be a
    /// validated `/api/v1/...` path.
    pub async fn send(
        &self,
        tag: &CallTag,
        method: http::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<RequestBody>,
    ) -> Result<Response, ClientError> {
        let mut url = self
            .origin
            .join(path)
            .map_err(|e| ClientError::BadUrl(format!("{path}: {e}")))?;
        // What the policy decided on is what is sent: a path the URL parser
        // would trim, normalise or re-encode is refused, not altered.
        if url.path() != path {
            return Err(ClientError::BadUrl(format!(
                "the path would be sent as {} rather than as checked",
                url.path()
            )));
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        self.dispatch(tag, method, url, body).await
    }

    /// GET the first page of a list, with `per_page=100` unless the query
    /// sets a page size.
    pub async fn list_first(
        &self,
        tag: &CallTag,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Response, ClientError> {
        let mut query = query.to_vec();
        if !query.iter().any(|(k, _)| k == "per_page") {
            query.push(("per_page".to_owned(), DEFAULT_PER_PAGE.to_owned()));
        }
        self.send(tag, http::Method::GET, path, &query, None).await
    }

    /// GET a `next` link Canvas sent. Refused unless it is on the token's
    /// origin.
    pub async fn follow(&self, tag: &CallTag, next: &str) -> Result<Response, ClientError> {
        let url = Url::parse(next).map_err(|e| ClientError::BadUrl(format!("next link: {e}")))?;
        self.dispatch(tag, http::Method::GET, url, None).await
    }

    /// Every request passes here: origin re-check, then credential and
    /// User-Agent, then the transport. A 401 "invalid access token" is
    /// retried once with a renewed token (refreshed or rotated); Canvas did
    /// not act on the rejected request, so this is safe for writes too.
    async fn dispatch(
        &self,
        tag: &CallTag,
        method: http::Method,
        url: Url,
        body: Option<RequestBody>,
    ) -> Result<Response, ClientError> {
        if url.origin() != self.origin.origin()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(ClientError::OffOrigin {
                url: format!("{}{}", url.origin().ascii_serialization(), url.path()),
                origin: self.origin(),
            });
        }
        let uri: http::Uri = url.as_str().parse().map_err(|_| {
            ClientError::BadUrl(format!(
                "{}{}",
                url.origin().ascii_serialization(),
                url.path()
            ))
        })?;
        let ua = http::HeaderValue::from_str(&tag.user_agent())
            .map_err(|_| ClientError::BadUrl("plugin id cannot appear in a User-Agent".into()))?;
        let build = |token: &Token| -> Result<http::Request<Bytes>, ClientError> {
            let auth = token.bearer_header().ok_or_else(|| {
                ClientError::BadUrl("the token has characters a header cannot carry".into())
            })?;
            let mut req =
                http::Request::new(body.as_ref().map(|b| b.bytes.clone()).unwrap_or_default());
            *req.method_mut() = method.clone();
            *req.uri_mut() = uri.clone();
            let headers = req.headers_mut();
            headers.insert(http::header::AUTHORIZATION, auth);
            headers.insert(http::header::USER_AGENT, ua.clone());
            headers.insert(
                http::header::ACCEPT,
                http::HeaderValue::from_static("application/json"),
            );
            if let Some(b) = &body {
                headers.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static(b.content_type),
                );
            }
            Ok(req)
        };
        tracing::debug!(method = %method, path = url.path(), ua = %tag.user_agent(), "canvas request");
        let flow = tag.flow();
        let mut retries = Vec::new();
        let (mut attempt, mut throttled) = (1, 0);
        let (mut queued, mut upstream) = (Duration::ZERO, Duration::ZERO);
        let mut resp = loop {
            let permit = self.governor.acquire(&flow, self.priority).await;
            queued += permit.waited();
            let sent_at = tokio::time::Instant::now();
            let sent = self.send_once(&build, &permit).await;
            let reason = match &sent {
                Ok(r) => retry_answer(&method, r.status().as_u16(), r.body()),
                Err(ClientError::Transport(_)) if is_idempotent(&method) => {
                    Some(RetryReason::Connection)
                }
                Err(_) => None,
            };
            permit.settle(match &sent {
                Ok(r) => {
                    let remaining = header_f64(r.headers(), "x-rate-limit-remaining");
                    if reason == Some(RetryReason::Throttled)
                        || is_throttled(r.status().as_u16(), r.body())
                    {
                        Settled::Throttled {
                            status: r.status().as_u16(),
                            remaining,
                        }
                    } else {
                        Settled::Answered {
                            status: r.status().as_u16(),
                            cost: header_f64(r.headers(), "x-request-cost"),
                            remaining,
                            runtime: header_f64(r.headers(), "x-runtime"),
                        }
                    }
                }
                Err(_) => Settled::Lost,
            });
            let again = match reason {
                // Time in easel's own queue does not count: the governor
                // holding requests back while another client fills the
                // bucket is not Canvas refusing this one (the run's
                // deadline bounds that wait).
                Some(RetryReason::Throttled) => {
                    upstream + sent_at.elapsed() < self.retry.throttled_for
                }
                Some(_) => attempt < self.retry.max_attempts,
                None => false,
            };
            match reason {
                Some(reason) if again => {
                    let wait = self.retry.delay(attempt + throttled);
                    tracing::debug!(method = %method, path = url.path(), %reason, ?wait, "retrying");
                    retries.push(reason);
                    self.governor.retried(reason);
                    tokio::time::sleep(wait).await;
                    upstream += sent_at.elapsed();
                    if reason == RetryReason::Throttled {
                        throttled += 1;
                    } else {
                        attempt += 1;
                    }
                }
                _ => {
                    upstream += sent_at.elapsed();
                    break sent?;
                }
            }
        };
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok());
        // A relative target (RFC 8288 allows one) is resolved against the
        // request URL (RFC 3986); the origin pin then applies to the result.
        let next = header("link")
            .and_then(next_link)
            .and_then(|target| url.join(target).ok())
            .map(String::from);
        let request_cost = header_f64(resp.headers(), "x-request-cost");
        let rate_limit_remaining = header_f64(resp.headers(), "x-rate-limit-remaining");
        let redirect_origin = header("location")
            .and_then(|l| url.join(l).ok())
            .map(|u| u.origin().ascii_serialization());
        let status = resp.status().as_u16();
        tracing::debug!(method = %method, path = url.path(), status, "canvas response");
        Ok(Response {
            status,
            body: std::mem::take(resp.body_mut()),
            next,
            request_cost,
            rate_limit_remaining,
            redirect_origin,
            retries,
            queued,
            upstream,
        })
    }

    /// One attempt: current credential, then once more with a renewed one
    /// if Canvas says the token is invalid.
    async fn send_once(
        &self,
        build: &impl Fn(&Token) -> Result<http::Request<Bytes>, ClientError>,
        permit: &Permit,
    ) -> Result<http::Response<Bytes>, ClientError> {
        let credential = self.credentials.current().await?;
        let req = build(&credential.token)?;
        permit.sending();
        let resp = self.transport.send(req).await?;
        if is_invalid_token(&resp)
            && let Some(newer) = self.credentials.renew(credential.generation).await?
        {
            let req = build(&newer.token)?;
            permit.sending();
            let resp = self.transport.send(req).await?;
            return Ok(redact_response(resp, &[&newer.token, &credential.token]));
        }
        Ok(redact_response(resp, &[&credential.token]))
    }

    /// Use `policy` for retries (the default suits hosted Canvas).
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Meter this client's requests with `governor` (share one per token;
    /// clones of a client share it already).
    pub fn with_governor(mut self, governor: Governor) -> Self {
        self.governor = governor;
        self
    }

    /// This client's requests wait in the governor's queue at `priority`.
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// The token's governor.
    pub fn governor(&self) -> &Governor {
        &self.governor
    }
}

fn header_f64(headers: &http::HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Canvas's answer to an invalid or expired token: 401 with
/// `WWW-Authenticate` (a missing scope is a 401 without it).
fn is_invalid_token(resp: &http::Response<Bytes>) -> bool {
    resp.status() == http::StatusCode::UNAUTHORIZED
        && (resp.headers().contains_key(http::header::WWW_AUTHENTICATE)
            || String::from_utf8_lossy(resp.body()).contains("Invalid access token"))
}
