//! Tokens, developer keys and OAuth2 refresh, on a clock tests can advance.
//!
//! Canvas's rules (shared/CANVAS.md): OAuth2 access tokens expire after an
//! hour; a refresh returns a new access token and no new refresh token, and
//! the previous access token stops working at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

/// Lifetime of an OAuth2 access token.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

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

#[derive(Debug, Default)]
pub(crate) struct Auth {
    tokens: HashMap<String, TokenInfo>,
    keys: HashMap<String, String>,
    refresh: HashMap<String, RefreshGrant>,
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

    pub(crate) fn add_developer_key(&mut self) -> (String, String) {
        let id = format!("1000000000{}", self.keys.len() + 1);
        let secret = random_string(64);
        self.keys.insert(id.clone(), secret.clone());
        (id, secret)
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
        let client_id = form.get("client_id").cloned().unwrap_or_default();
        let secret_ok = self
            .keys
            .get(&client_id)
            .is_some_and(|s| Some(s) == form.get("client_secret"));
        if !secret_ok {
            return Err((
                401,
                serde_json::json!({"error": "invalid_client", "error_description": "unknown client"}),
            ));
        }
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
