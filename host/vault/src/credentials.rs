//! Handing a stored token to the canvas client as `Credentials`.
//!
//! User tokens are re-read from the vault when Canvas rejects them, so a
//! rotation (`easel token rotate`) reaches runs already in flight: their
//! next call after the old token stops working uses the new one. OAuth2
//! tokens refresh single-flight in the canvas client and each new access
//! token is sealed back into the vault.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use easel_canvas::{
    BoxFuture, Credential, CredentialError, Credentials, OAuthCredentials, OAuthGrant, Token,
    Transport,
};
use secrecy::SecretString;

use crate::vault::{Vault, VaultError};

fn cred_err(e: VaultError) -> CredentialError {
    CredentialError(e.to_string())
}

struct UserToken {
    vault: Arc<Vault>,
    id: String,
    cached: Mutex<Option<Credential>>,
}

impl UserToken {
    fn load(&self) -> Result<Credential, CredentialError> {
        let row = self.vault.row(&self.id).map_err(cred_err)?;
        let material = self.vault.open_material(&row).map_err(cred_err)?;
        let secret = material
            .access_token
            .clone()
            .ok_or_else(|| CredentialError(format!("token {} has no access token", self.id)))?;
        let c = Credential::new(Token::new(SecretString::from(secret)), row.generation);
        if let Ok(mut cache) = self.cached.lock() {
            *cache = Some(c.clone());
        }
        let _ = self.vault.store().touch_token(&self.id);
        Ok(c)
    }
}

impl Credentials for UserToken {
    fn current(&self) -> BoxFuture<'_, Result<Credential, CredentialError>> {
        let cached = self.cached.lock().ok().and_then(|c| c.clone());
        Box::pin(async move {
            match cached {
                Some(c) => Ok(c),
                None => self.load(),
            }
        })
    }

    fn renew(&self, stale: u64) -> BoxFuture<'_, Result<Option<Credential>, CredentialError>> {
        Box::pin(async move {
            let fresh = self.load()?;
            Ok((fresh.generation > stale).then_some(fresh))
        })
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn for_token(
    vault: &Arc<Vault>,
    id: &str,
    origin: &str,
    transport: Arc<dyn Transport>,
) -> Result<Arc<dyn Credentials>, VaultError> {
    let row = vault.row(id)?;
    if row.kind != "oauth2" {
        return Ok(Arc::new(UserToken {
            vault: vault.clone(),
            id: id.to_owned(),
            cached: Mutex::new(None),
        }));
    }
    let material = vault.open_material(&row)?;
    let missing = |what: &str| VaultError::Crypto(format!("token {id} has no {what}"));
    let grant = OAuthGrant {
        client_id: row.client_id.clone().ok_or_else(|| missing("client id"))?,
        client_secret: Token::new(SecretString::from(
            material
                .client_secret
                .clone()
                .ok_or_else(|| missing("client secret"))?,
        )),
        refresh_token: Token::new(SecretString::from(
            material
                .refresh_token
                .clone()
                .ok_or_else(|| missing("refresh token"))?,
        )),
    };
    let access = match (&material.access_token, material.access_expires_unix) {
        (Some(t), Some(exp)) if exp > unix_now() => Some((
            Token::new(SecretString::from(t.clone())),
            Duration::from_secs(exp - unix_now()),
        )),
        _ => None,
    };
    let (v, token_id) = (vault.clone(), id.to_owned());
    let on_refresh: easel_canvas::OnRefresh = Box::new(move |access: &str, life: Duration| {
        let result = v.row(&token_id).and_then(|row| {
            let mut m = v.open_material(&row)?;
            m.access_token = Some(access.to_owned());
            m.access_expires_unix = Some(unix_now() + life.as_secs());
            let sealed = v.seal_material(&token_id, &m)?;
            v.store()
                .reseal_token(&token_id, &row.fingerprint, &sealed, false)?;
            Ok(())
        });
        if let Err(e) = result {
            tracing::warn!(token = %token_id, "could not store the refreshed access token: {e}");
        }
    });
    let creds = OAuthCredentials::new(origin, transport, grant, access, Some(on_refresh))
        .map_err(|e| VaultError::Invalid(e.to_string()))?;
    let _ = vault.store().touch_token(id);
    Ok(Arc::new(creds))
}
