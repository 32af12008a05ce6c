//! Sign in with Canvas: the OAuth2 authorization-code flow against an
//! instance's developer key, used only to learn who a person is and which
//! accounts they administer.
//!
//! Threat: a person's Canvas token outliving its one purpose. The token
//! bought with the code never leaves this module: it reads
//! `/api/v1/users/self` and `/api/v1/accounts`, is then deleted at Canvas
//! (`DELETE /login/oauth2/token`, which also ends its refresh token), and
//! is dropped. Nothing of it is returned, logged or stored.

use std::sync::Arc;

use bytes::Bytes;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::client::{CallTag, CanvasClient, USER_AGENT_PRODUCT};
use crate::token::Token;
use crate::transport::Transport;

/// Most pages of `/api/v1/accounts` read for one sign-in.
pub const MAX_ACCOUNT_PAGES: usize = 20;

/// A developer key: what the code exchange needs.
#[derive(Clone)]
pub struct DeveloperKey {
    /// Its client id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: Token,
}

impl std::fmt::Debug for DeveloperKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeveloperKey")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// An account the person administers, as `/api/v1/accounts` lists it.
/// Its parent and root must be present (as `null` for a root account): an
/// account that leaves them out is not taken for a root.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AdminAccount {
    /// Account id.
    pub id: u64,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its parent (`None`: a root account).
    #[serde(deserialize_with = "present")]
    pub parent_account_id: Option<u64>,
    /// Its root account (`None`: it is one).
    #[serde(deserialize_with = "present")]
    pub root_account_id: Option<u64>,
}

/// A field that must be there, though it may be `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<u64>::deserialize(d)
}

/// Who signed in, as Canvas says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanvasIdentity {
    /// Canvas user id.
    pub user_id: u64,
    /// Display name.
    pub name: String,
    /// Login id, when Canvas shows it.
    pub login_id: Option<String>,
    /// The accounts they administer.
    pub admin_of: Vec<AdminAccount>,
    /// Did Canvas confirm the token was deleted?
    pub token_deleted: bool,
}

/// Why a sign-in did not identify anyone. Never holds a token.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Canvas refused the code or the key.
    #[error("Canvas refused the sign-in: {0}")]
    Refused(String),
    /// Canvas did not answer, or answered something not understood.
    #[error("Canvas could not be asked who signed in: {0}")]
    Upstream(String),
}

/// The URL of Canvas's authorization page for this sign-in.
pub fn authorize_url(
    origin: &str,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
) -> Result<String, SignInError> {
    let mut url = Url::parse(origin)
        .and_then(|u| u.join("/login/oauth2/auth"))
        .map_err(|e| SignInError::Upstream(format!("bad Canvas URL {origin}: {e}")))?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state);
    Ok(url.to_string())
}

#[derive(Deserialize)]
struct CodeAnswer {
    access_token: String,
    #[serde(default)]
    user: Option<IdOnly>,
    /// Present when the person was acting as another user at Canvas.
    #[serde(default)]
    real_user: Option<IdOnly>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: u64,
}

#[derive(Deserialize)]
struct SelfAnswer {
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    login_id: Option<String>,
}

/// Exchange `code` for a token, ask Canvas who it belongs to and what they
/// administer, then delete the token at Canvas.
pub async fn identify(
    origin: &str,
    transport: Arc<dyn Transport>,
    key: &DeveloperKey,
    code: &str,
    redirect_uri: &str,
) -> Result<CanvasIdentity, SignInError> {
    let (token, said_user, masquerading) =
        exchange(origin, transport.as_ref(), key, code, redirect_uri).await?;
    let client = CanvasClient::with_token(origin, token, transport)
        .map_err(|e| SignInError::Upstream(e.to_string()))?;
    let tag = CallTag::admin("sign-in");
    let found = if masquerading {
        Err(SignInError::Refused(
            "the sign-in was made while acting as another user in Canvas: stop acting as them, then sign in as yourself".into(),
        ))
    } else {
        who(&client, &tag).await
    };
    // Deleted whatever was learnt: the token has done its one job.
    let token_deleted = client
        .send(&tag, http::Method::DELETE, "/login/oauth2/token", &[], None)
        .await
        .is_ok_and(|r| r.is_success());
    if !token_deleted {
        tracing::warn!(
            origin,
            "Canvas did not confirm that the sign-in token was deleted: the person can remove it in Canvas under Account > Settings > Approved Integrations"
        );
    }
    let (me, admin_of) = found?;
    if let Some(id) = said_user
        && id != me.id
    {
        return Err(SignInError::Refused(format!(
            "the token was issued for user {id} but /users/self is user {}",
            me.id
        )));
    }
    Ok(CanvasIdentity {
        user_id: me.id,
        name: me.name,
        login_id: me.login_id,
        admin_of,
        token_deleted,
    })
}

async fn who(
    client: &CanvasClient,
    tag: &CallTag,
) -> Result<(SelfAnswer, Vec<AdminAccount>), SignInError> {
    let upstream = |e: crate::ClientError| SignInError::Upstream(e.to_string());
    let me = client
        .send(tag, http::Method::GET, "/api/v1/users/self", &[], None)
        .await
        .map_err(upstream)?;
    if !me.is_success() {
        return Err(SignInError::Refused(format!(
            "/api/v1/users/self answered {}",
            me.status
        )));
    }
    let me: SelfAnswer = serde_json::from_slice(&me.body)
        .map_err(|e| SignInError::Upstream(format!("/api/v1/users/self: {e}")))?;
    let mut accounts = Vec::new();
    let mut page = client
        .list_first(tag, "/api/v1/accounts", &[])
        .await
        .map_err(upstream)?;
    for n in 1.. {
        if !page.is_success() {
            return Err(SignInError::Upstream(format!(
                "/api/v1/accounts answered {}",
                page.status
            )));
        }
        let items: Vec<AdminAccount> = serde_json::from_slice(&page.body)
            .map_err(|e| SignInError::Upstream(format!("/api/v1/accounts: {e}")))?;
        accounts.extend(items);
        match &page.next {
            Some(next) if n < MAX_ACCOUNT_PAGES => {
                let next = next.clone();
                page = client.follow(tag, &next).await.map_err(upstream)?;
            }
            Some(_) => {
                return Err(SignInError::Upstream(format!(
                    "/api/v1/accounts has more than {MAX_ACCOUNT_PAGES} pages"
                )));
            }
            None => break,
        }
    }
    Ok((me, accounts))
}

async fn exchange(
    origin: &str,
    transport: &dyn Transport,
    key: &DeveloperKey,
    code: &str,
    redirect_uri: &str,
) -> Result<(Token, Option<u64>, bool), SignInError> {
    let url = Url::parse(origin)
        .and_then(|u| u.join("/login/oauth2/token"))
        .map_err(|e| SignInError::Upstream(format!("bad Canvas URL {origin}: {e}")))?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("client_id", &key.client_id)
        .append_pair("client_secret", key.client_secret.expose())
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code", code)
        .finish();
    let mut req = http::Request::new(Bytes::from(body));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = url
        .as_str()
        .parse()
        .map_err(|_| SignInError::Upstream("bad Canvas URL".into()))?;
    let h = req.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    if let Ok(ua) =
        http::HeaderValue::from_str(&format!("{USER_AGENT_PRODUCT} (admin; command=sign-in)"))
    {
        h.insert(http::header::USER_AGENT, ua);
    }
    let resp = transport
        .send(req)
        .await
        .map_err(|e| SignInError::Upstream(e.to_string()))?;
    if !resp.status().is_success() {
        let error: serde_json::Value = serde_json::from_slice(resp.body()).unwrap_or_default();
        let text = |k: &str| {
            error
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        return Err(SignInError::Refused(format!(
            "the code exchange answered {}: {} {}",
            resp.status().as_u16(),
            text("error"),
            text("error_description")
        )));
    }
    let answer: CodeAnswer = serde_json::from_slice(resp.body())
        .map_err(|_| SignInError::Upstream("the code exchange answer is not understood".into()))?;
    let user = answer.user.as_ref().map(|u| u.id);
    let masquerading = answer
        .real_user
        .as_ref()
        .is_some_and(|r| Some(r.id) != user);
    Ok((
        Token::new(SecretString::from(answer.access_token)),
        user,
        masquerading,
    ))
}
