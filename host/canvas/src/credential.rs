//! Where the client's bearer token comes from, and how it is renewed.
//!
//! Threat: a refresh storm. Canvas invalidates an OAuth2 access token the
//! moment it is refreshed, so two refreshes racing would each kill the
//! other's token. Renewal is single-flight: callers say which generation of
//! the token Canvas rejected, and only the first caller for a generation
//! refreshes; the rest get its result.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Deserialize;
use url::Url;

use crate::client::USER_AGENT_PRODUCT;
use crate::token::Token;
use crate::transport::{BoxFuture, Transport};

/// Refresh an OAuth2 token this long before Canvas says it expires.
const EXPIRY_SKEW: Duration = Duration::from_secs(60);

/// A token and its generation (incremented on each refresh or rotation).
#[derive(Clone, Debug)]
pub struct Credential {
    pub(crate) token: Token,
    /// Which version of the secret this is.
    pub generation: u64,
}

impl Credential {
    /// Wrap a token of a given generation.
    pub fn new(token: Token, generation: u64) -> Self {
        Self { token, generation }
    }
}

/// Why no token could be had. Never contains a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CredentialError(pub String);

/// A source of bearer tokens for one stored Canvas token.
pub trait Credentials: Send + Sync + 'static {
    /// The token to use now.
    fn current(&self) -> BoxFuture<'_, Result<Credential, CredentialError>>;
    /// Canvas rejected generation `stale` as invalid or expired: a newer
    /// token if one can be had (refreshed, or rotated in meanwhile).
    fn renew(&self, stale: u64) -> BoxFuture<'_, Result<Option<Credential>, CredentialError>>;
}

/// A user access token that never changes (until easel restarts).
pub struct StaticCredentials(pub Token);

impl Credentials for StaticCredentials {
    fn current(&self) -> BoxFuture<'_, Result<Credential, CredentialError>> {
        let c = Credential::new(self.0.clone(), 0);
        Box::pin(async move { Ok(c) })
    }

    fn renew(&self, _stale: u64) -> BoxFuture<'_, Result<Option<Credential>, CredentialError>> {
        Box::pin(async { Ok(None) })
    }
}

/// An OAuth2 developer-key grant: what refreshing needs.
pub struct OAuthGrant {
    /// Developer key id (not secret).
    pub client_id: String,
    /// Developer key secret.
    pub client_secret: Token,
    /// The long-lived refresh token.
    pub refresh_token: Token,
}

/// Called after every refresh with the new access token and its expiry, so
/// the vault can store it (sealed).
pub type OnRefresh = Box<dyn Fn(&str, Duration) + Send + Sync>;

struct AccessState {
    access: Option<(Token, Instant)>,
    generation: u64,
}

/// OAuth2 credentials: refreshes on expiry or when Canvas rejects the
/// access token, one refresh at a time.
pub struct OAuthCredentials {
    origin: Url,
    transport: Arc<dyn Transport>,
    grant: OAuthGrant,
    state: tokio::sync::Mutex<AccessState>,
    on_refresh: Option<OnRefresh>,
    refreshes: std::sync::atomic::AtomicU64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl OAuthCredentials {
    /// Credentials for `origin`; `access` is the last known access token and
    /// how long it has left, if any.
    pub fn new(
        origin: &str,
        transport: Arc<dyn Transport>,
        grant: OAuthGrant,
        access: Option<(Token, Duration)>,
        on_refresh: Option<OnRefresh>,
    ) -> Result<Self, CredentialError> {
        let origin =
            Url::parse(origin).map_err(|e| CredentialError(format!("bad Canvas URL: {e}")))?;
        Ok(Self {
            origin,
            transport,
            grant,
            state: tokio::sync::Mutex::new(AccessState {
                access: access.map(|(t, left)| (t, Instant::now() + left)),
                generation: 1,
            }),
            on_refresh,
            refreshes: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Refreshes made by this process.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn refresh(&self, state: &mut AccessState) -> Result<Credential, CredentialError> {
        let url = self
            .origin
            .join("/login/oauth2/token")
            .map_err(|e| CredentialError(format!("bad Canvas URL: {e}")))?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("client_id", &self.grant.client_id)
            .append_pair("client_secret", self.grant.client_secret.expose())
            .append_pair("refresh_token", self.grant.refresh_token.expose())
            .finish();
        let mut req = http::Request::new(Bytes::from(body));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = url
            .as_str()
            .parse()
            .map_err(|_| CredentialError("bad Canvas URL".into()))?;
        let h = req.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        if let Ok(ua) = http::HeaderValue::from_str(&format!(
            "{USER_AGENT_PRODUCT} (admin; command=oauth-refresh)"
        )) {
            h.insert(http::header::USER_AGENT, ua);
        }
        let resp = self
            .transport
            .send(req)
            .await
            .map_err(|e| CredentialError(format!("token refresh failed: {e}")))?;
        if !resp.status().is_success() {
            let error: serde_json::Value = serde_json::from_slice(resp.body()).unwrap_or_default();
            let code = error
                .get("error")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown error");
            let text = error
                .get("error_description")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            return Err(CredentialError(format!(
                "token refresh refused by Canvas ({}): {code} {text}; check the developer key and refresh token with `easel token check`",
                resp.status().as_u16()
            )));
        }
        let parsed: TokenResponse = serde_json::from_slice(resp.body())
            .map_err(|e| CredentialError(format!("token refresh answer is not understood: {e}")))?;
        let token = Token::new(secrecy::SecretString::from(parsed.access_token));
        let life = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        state.access = Some((token.clone(), Instant::now() + life));
        state.generation += 1;
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(hook) = &self.on_refresh {
            hook(token.expose(), life);
        }
        tracing::info!(origin = %self.origin.origin().ascii_serialization(), "refreshed an OAuth2 access token");
        Ok(Credential::new(token, state.generation))
    }
}

impl Credentials for OAuthCredentials {
    fn current(&self) -> BoxFuture<'_, Result<Credential, CredentialError>> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            if let Some((token, expires)) = &state.access
                && Instant::now() + EXPIRY_SKEW < *expires
            {
                return Ok(Credential::new(token.clone(), state.generation));
            }
            self.refresh(&mut state).await
        })
    }

    fn renew(&self, stale: u64) -> BoxFuture<'_, Result<Option<Credential>, CredentialError>> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            if state.generation != stale
                && let Some((token, _)) = &state.access
            {
                return Ok(Some(Credential::new(token.clone(), state.generation)));
            }
            self.refresh(&mut state).await.map(Some)
        })
    }
}
