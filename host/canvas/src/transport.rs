//! How bytes reach Canvas: reqwest over rustls in production, a fake in tests.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

/// A boxed future, so [`Transport`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A fully built request: absolute URL, method, headers (including the
/// credential) and body. Only [`crate::CanvasClient`] constructs one.
pub type OutboundRequest = http::Request<Bytes>;

/// A transport failure (no HTTP answer). Never contains header values.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// Sends one request and returns the answer. Must not follow redirects.
pub trait Transport: Send + Sync + 'static {
    /// Send `req`; the response body is read in full.
    fn send(
        &self,
        req: OutboundRequest,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, TransportError>>;
}

/// The production transport: reqwest with rustls, redirects never followed
/// (a redirect could carry the credential to another origin).
#[derive(Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// A transport with `timeout` per request.
    pub fn new(timeout: Duration) -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| TransportError(format!("cannot build HTTP client: {e}")))?;
        Ok(Self { client })
    }
}

/// Largest response body easel reads from Canvas (64 MiB); a run's own
/// limit on what reaches the plugin is lower (16 MiB by default).
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

impl Transport for ReqwestTransport {
    fn send(
        &self,
        req: OutboundRequest,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, TransportError>> {
        Box::pin(async move {
            let req = reqwest::Request::try_from(req)
                .map_err(|e| TransportError(format!("bad request: {}", e.without_url())))?;
            let resp = self
                .client
                .execute(req)
                .await
                .map_err(|e| TransportError(describe(&e)))?;
            let status = resp.status();
            let headers = resp.headers().clone();
            // Read at most MAX_RESPONSE_BYTES: a hostile or broken upstream
            // cannot make the host hold an unbounded body.
            let mut resp = resp;
            let mut body = bytes::BytesMut::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| TransportError(describe(&e)))?
            {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(TransportError(format!(
                        "the response body is over {} MiB; easel stopped reading it",
                        MAX_RESPONSE_BYTES >> 20
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            let body = body.freeze();
            let mut out = http::Response::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(out)
        })
    }
}

/// A reqwest error in words, with the URL (never the headers).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "broken response body"
    } else {
        "request failed"
    };
    match e.url() {
        Some(u) => format!("{kind}: {}{}", u.origin().ascii_serialization(), u.path()),
        None => kind.to_owned(),
    }
}
