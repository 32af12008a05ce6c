//! Tokens, developer keys and OAuth2 (the authorization-code flow,
//! refresh, and logout), on a clock tests can advance.
//!
//! Canvas's rules (shared/CANVAS.md): OAuth2 access tokens expire after an
//! hour; a refresh returns a new access token and no new refresh token, and
//! the previous access token stops working at once. An authorization code
//! is good once, for ten minutes, for the developer key it was issued to
//! (Canvas does not check the redirect URI at the exchange);
//! a redirect URI must be one the key registered, exactly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

/// Lifetime of an OAuth2 access token.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Lifetime of an authorization code.
pub const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// Simulated time: real time since start plus whatever tests added.
#[derive(Debug)]
pub(crate) struct Clock {
    start: Instant,
    offset: Mutex<Duration>,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
        }
    }

    pub(crate) fn now(&self) -> Duration {
        self.start.elapsed() + *self.offset.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

#[derive(Debug, Clone)]
struct TokenInfo {
    user_id: u64,
    expires_at: Option<Duration>,
    scopes: Option<Vec<crate::scope::Scope>>,
    allow_includes: bool,
}

/// Who a request is from and what its token may do.
#[derive(Debug, Clone)]
pub(crate) struct Authn {
    pub(crate) user_id: u64,
    /// Developer-key scopes (`None`: an unscoped token).
    pub(crate) scopes: Option<Vec<crate::scope::Scope>>,
    pub(crate) allow_includes: bool,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    client_id: String,
    user_id: u64,
    access: Option<String>,
}

/// Why a token was not accepted.
pub(crate) enum Rejection {
    Missing,
    Invalid,
}

/// Why a refresh failed: (status, Canvas's error body).
pub(crate) type RefreshError = (u16, serde_json::Value);

/// A developer key: its secret and the redirect URIs it registered.
#[derive(Clone)]
struct DevKey {
    secret: String,
    redirect_uris: Vec<String>,
}

impl std::fmt::Debug for DevKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevKey")
            .field("redirect_uris", &self.redirect_uris)
            .finish_non_exhaustive()
    }
}

/// An authorization code not yet exchanged.
#[derive(Debug, Clone)]
struct PendingCode {
    client_id: String,
    user_id: u64,
    expires_at: Duration,
}

/// Why `/login/oauth2/auth` did not issue a code. Canvas answers a bad
/// client or redirect URI itself (a redirect would go who knows where);
/// anything else goes back to the redirect URI as `error=`.
#[derive(Debug)]
pub(crate) enum AuthorizeError {
    /// Answered here: (status, message).
    Here(u16, String),
    /// Sent back to the client's redirect URI: (redirect URI, OAuth2 error).
    Back(String, &'static str),
}

#[derive(Debug, Default)]
pub(crate) struct Auth {
    tokens: HashMap<String, TokenInfo>,
    keys: HashMap<String, DevKey>,
    refresh: HashMap<String, RefreshGrant>,
    codes: HashMap<String, PendingCode>,
    pub(crate) refreshes: u64,
}

pub(crate) fn random_string(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Auth {
    pub(crate) fn add_token(&mut self, token: &str, user_id: u64, expires_at: Option<Duration>) {
        self.tokens.insert(
            token.to_owned(),
            TokenInfo {
                user_id,
                expires_at,
                scopes: None,
                allow_includes: true,
            },
        );
    }

    pub(crate) fn add_scoped_token(
        &mut self,
        token: &str,
        user_id: u64,
        scopes: Vec<crate::scope::Scope>,
        allow_includes: bool,
    ) {
        self.tokens.insert(
            token.to_owned(),
            TokenInfo {
                user_id,
                expires_at: None,
                scopes: Some(scopes),
                allow_includes,
            },
        );
    }

    pub(crate) fn revoke(&mut self, token: &str) {
        self.tokens.remove(token);
    }

    /// The user a bearer token belongs to.
    pub(crate) fn authenticate(
        &self,
        token: Option<&str>,
        now: Duration,
    ) -> Result<Authn, Rejection> {
        let token = token.ok_or(Rejection::Missing)?;
        match self.tokens.get(token) {
            Some(t) if t.expires_at.is_none_or(|e| now < e) => Ok(Authn {
                user_id: t.user_id,
                scopes: t.scopes.clone(),
                allow_includes: t.allow_includes,
            }),
            _ => Err(Rejection::Invalid),
        }
    }

    pub(crate) fn add_developer_key(&mut self, redirect_uris: Vec<String>) -> (String, String) {
        let id = format!("1000000000{}", self.keys.len() + 1);
        let secret = random_string(64);
        self.keys.insert(
            id.clone(),
            DevKey {
                secret: secret.clone(),
                redirect_uris,
            },
        );
        (id, secret)
    }

    /// `GET /login/oauth2/auth` for `user_id`, who (the simulator having no
    /// login page) is taken to have signed in and authorized the key.
    pub(crate) fn authorize(
        &mut self,
        q: &HashMap<String, String>,
        user_id: Option<u64>,
        now: Duration,
    ) -> Result<(String, String), AuthorizeError> {
        let here = |m: &str| AuthorizeError::Here(400, m.to_owned());
        let client_id = q.get("client_id").cloned().unwrap_or_default();
        let key = self
            .keys
            .get(&client_id)
            .ok_or_else(|| here("invalid_client: unknown client_id"))?;
        let redirect_uri = q
            .get("redirect_uri")
            .cloned()
            .ok_or_else(|| here("invalid_request: redirect_uri is required"))?;
        if !key
            .redirect_uris
            .iter()
            .any(|r| redirect_matches(r, &redirect_uri))
        {
            return Err(here(
                "invalid_request: redirect_uri does not match client settings",
            ));
        }
        if q.get("response_type").map(String::as_str) != Some("code") {
            return Err(AuthorizeError::Back(
                redirect_uri,
                "unsupported_response_type",
            ));
        }
        let Some(user_id) = user_id else {
            return Err(AuthorizeError::Back(redirect_uri, "access_denied"));
        };
        let code = random_string(40);
        self.codes.retain(|_, c| c.expires_at > now);
        self.codes.insert(
            code.clone(),
            PendingCode {
                client_id,
                user_id,
                expires_at: now + CODE_LIFETIME,
            },
        );
        Ok((redirect_uri, code))
    }

    fn client(&self, form: &HashMap<String, String>) -> Result<String, RefreshError> {
        let client_id = form.get("client_id").cloned().unwrap_or_default();
        let secret_ok = self
            .keys
            .get(&client_id)
            .is_some_and(|k| Some(&k.secret) == form.get("client_secret"));
        if !secret_ok {
            return Err((
                401,
                serde_json::json!({"error": "invalid_client", "error_description": "unknown client"}),
            ));
        }
        Ok(client_id)
    }

    /// `POST /login/oauth2/token`: `authorization_code` or `refresh_token`.
    /// Answers (access token, refresh token if new, user id).
    pub(crate) fn token(
        &mut self,
        form: &HashMap<String, String>,
        now: Duration,
    ) -> Result<(String, Option<String>, u64), RefreshError> {
        match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") => {
                let (access, refresh, user) = self.exchange(form, now)?;
                Ok((access, Some(refresh), user))
            }
            _ => {
                let (access, user) = self.refresh(form, now)?;
                Ok((access, None, user))
            }
        }
    }

    /// `grant_type=authorization_code`: the code, once, by the key and
    /// redirect URI it was issued to.
    fn exchange(
        &mut self,
        form: &HashMap<String, String>,
        now: Duration,
    ) -> Result<(String, String, u64), RefreshError> {
        let client_id = self.client(form)?;
        let invalid_grant = || {
            (
                400,
                serde_json::json!({"error": "invalid_grant", "error_description": "authorization_code not found"}),
            )
        };
        // Taken out whatever follows: a code is good for one try.
        let code = form
            .get("code")
            .and_then(|c| self.codes.remove(c))
            .ok_or_else(invalid_grant)?;
        // Canvas does not compare the exchange's redirect_uri with the
        // code's: a client must not count on it.
        if code.client_id != client_id || code.expires_at <= now {
            return Err(invalid_grant());
        }
        let (access, refresh) = self.issue(&client_id, code.user_id, now);
        Ok((access, refresh, code.user_id))
    }

    /// `DELETE /login/oauth2/token`: the token, and its refresh token, stop
    /// working. False if the token was not a live one.
    pub(crate) fn log_out(&mut self, token: &str, now: Duration) -> bool {
        let live = self
            .tokens
            .get(token)
            .is_some_and(|t| t.expires_at.is_none_or(|e| now < e));
        self.tokens.remove(token);
        self.refresh
            .retain(|_, g| g.access.as_deref() != Some(token));
        live
    }

    /// Issue an access and refresh token as the OAuth2 flow would.
    pub(crate) fn issue(
        &mut self,
        client_id: &str,
        user_id: u64,
        now: Duration,
    ) -> (String, String) {
        let access = format!("7~{}", random_string(64));
        let refresh = format!("7~{}", random_string(64));
        self.add_token(&access, user_id, Some(now + ACCESS_TOKEN_LIFETIME));
        self.refresh.insert(
            refresh.clone(),
            RefreshGrant {
                client_id: client_id.to_owned(),
                user_id,
                access: Some(access.clone()),
            },
        );
        (access, refresh)
    }

    /// `grant_type=refresh_token`: a new access token; the old one dies.
    pub(crate) fn refresh(
        &mut self,
        form: &HashMap<String, String>,
        now: Duration,
    ) -> Result<(String, u64), RefreshError> {
        let invalid_request = |d: &str| {
            (
                400,
                serde_json::json!({"error": "invalid_request", "error_description": d}),
            )
        };
        if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
            return Err(invalid_request("unsupported grant_type"));
        }
        let client_id = self.client(form)?;
        let Some(grant) = form
            .get("refresh_token")
            .and_then(|r| self.refresh.get_mut(r))
        else {
            return Err(invalid_request("refresh_token not found"));
        };
        if grant.client_id != client_id {
            return Err(invalid_request("refresh_token not found"));
        }
        let old = grant.access.take();
        let access = format!("7~{}", random_string(64));
        grant.access = Some(access.clone());
        let user_id = grant.user_id;
        if let Some(old) = old {
            self.tokens.remove(&old);
        }
        self.add_token(&access, user_id, Some(now + ACCESS_TOKEN_LIFETIME));
        self.refreshes += 1;
        Ok((access, user_id))
    }
}

/// Does `sent` match the registered redirect URI `registered`? As for a
/// key's Redirect URIs in Canvas: exactly (the legacy single Redirect URI,
/// which matched any path on the host and its subdomains, is not modelled).
fn redirect_matches(registered: &str, sent: &str) -> bool {
    registered == sent
}
