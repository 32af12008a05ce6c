//! Token records: add, rotate, list, remove, rekey, and hand-over as
//! credentials.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use easel_store::{Store, StoreError, TokenRow, VaultRecords, now};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::key::{MASTER_KEY_FILE, MasterKey};
use crate::seal::{fingerprint, open, seal};

const CHECK_KEY: &str = "master_key_check";

/// Errors from the vault. None of them contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The master key file is missing, unreadable or too open.
    #[error("master key file {path}: {problem}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
    /// The key does not match the database.
    #[error(
        "master key file {path} does not match this database: nothing was decrypted or changed; restore the right key file"
    )]
    WrongKey {
        /// The file.
        path: PathBuf,
    },
    /// Sealing or opening failed.
    #[error("{0}")]
    Crypto(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such token.
    #[error("no token {0:?}: see `easel token list`")]
    NotFound(String),
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
}

/// How a token authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// A manually generated user access token.
    User,
    /// A developer-key OAuth2 grant (refreshed by easel).
    Oauth2,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::User => "user",
            TokenKind::Oauth2 => "oauth2",
        }
    }
}

/// Secret material for a new or rotated token.
pub enum NewSecret {
    /// A user access token.
    User {
        /// The token.
        token: SecretString,
    },
    /// An OAuth2 developer-key grant.
    Oauth2 {
        /// Developer key id.
        client_id: String,
        /// Developer key secret.
        client_secret: SecretString,
        /// Refresh token.
        refresh_token: SecretString,
    },
}

/// What `token list` shows: never the secret.
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    /// Token id.
    pub id: String,
    /// Instance it is pinned to.
    pub instance: String,
    /// `user` or `oauth2`.
    pub kind: String,
    /// Keyed fingerprint.
    pub fingerprint: String,
    /// Developer key id (OAuth2).
    pub client_id: Option<String>,
    /// Created.
    pub created_at: String,
    /// Last rotated.
    pub rotated_at: Option<String>,
    /// Last used.
    pub last_used_at: Option<String>,
    /// Expiry.
    pub expires_at: Option<String>,
}

impl From<&TokenRow> for TokenInfo {
    fn from(r: &TokenRow) -> Self {
        Self {
            id: r.id.clone(),
            instance: r.instance.clone(),
            kind: r.kind.clone(),
            fingerprint: r.fingerprint.clone(),
            client_id: r.client_id.clone(),
            created_at: r.created_at.clone(),
            rotated_at: r.rotated_at.clone(),
            last_used_at: r.last_used_at.clone(),
            expires_at: r.expires_at.clone(),
        }
    }
}

/// The sealed payload of a token record.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Material {
    pub(crate) access_token: Option<String>,
    pub(crate) refresh_token: Option<String>,
    pub(crate) client_secret: Option<String>,
    pub(crate) access_expires_unix: Option<u64>,
}

impl Drop for Material {
    fn drop(&mut self) {
        for s in [
            &mut self.access_token,
            &mut self.refresh_token,
            &mut self.client_secret,
        ]
        .into_iter()
        .flatten()
        {
            s.zeroize();
        }
    }
}

/// An instance's developer key for Sign in with Canvas.
#[derive(Debug, Clone)]
pub struct SignInKey {
    /// The key (its secret redacted in `Debug`).
    pub key: easel_canvas::sign_in::DeveloperKey,
    /// May an admin of the root account sign in as a district admin?
    pub root_admins_are_district_admins: bool,
    /// The root account roles are read against (`None`: set by an older
    /// easel; the key must be set again).
    pub root_account_id: Option<u64>,
}

/// The record name a sign-in key is sealed under (token ids have no `:`,
/// so no token's ciphertext opens as a key's, nor the other way).
fn sign_in_record(instance: &str) -> String {
    format!("sign-in:{instance}")
}

/// The vault over one data directory.
pub struct Vault {
    store: Mutex<Box<dyn VaultRecords>>,
    key: MasterKey,
    key_path: PathBuf,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

fn pending_path(key_path: &Path) -> PathBuf {
    key_path.with_extension("key.new")
}

/// What `vault reset --forget-tokens` did.
#[derive(Debug, Clone)]
pub struct Reset {
    /// Tokens forgotten.
    pub tokens: usize,
    /// Sign-in (developer) keys forgotten.
    pub sign_in_keys: usize,
    /// Where the new master key is.
    pub key_path: PathBuf,
    /// Where the old key file was moved, if there was one.
    pub old_key: Option<PathBuf>,
}

impl Vault {
    /// The way out when the master key is lost or wrong: a new master key,
    /// and every sealed token and sign-in key forgotten (they cannot be
    /// opened). Plugins, approvals, runs, users and the audit log stay.
    /// `record` appends the reset to the audit log under the new key's
    /// audit keys before anything else changes, so a reset is never
    /// unrecorded; an old key file is kept beside the new one, renamed.
    /// Interrupted, it leaves either the old state or the new one.
    pub fn reset_forgetting_tokens(
        home: &Path,
        record: impl FnOnce(easel_store::AuditKeys) -> Result<(), VaultError>,
    ) -> Result<Reset, VaultError> {
        let store = Store::open(&home.join("easel.db"))?;
        let key_path = std::env::var_os("EASEL_MASTER_KEY_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(MASTER_KEY_FILE));
        let key = MasterKey::generate();
        let pending = pending_path(&key_path);
        let _ = std::fs::remove_file(&pending);
        key.write_new(&pending)?;
        record(easel_store::AuditKeys::derive(key.bytes())?)?;
        let old_key = if key_path.exists() {
            let aside = key_path.with_extension(format!(
                "key.lost-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            ));
            std::fs::rename(&key_path, &aside).map_err(|e| VaultError::KeyFile {
                path: key_path.clone(),
                problem: format!("cannot move the old key aside: {e}"),
            })?;
            Some(aside)
        } else {
            None
        };
        let (tokens, sign_in_keys) = store.forget_sealed((CHECK_KEY, &key.check_value()))?;
        std::fs::rename(&pending, &key_path).map_err(|e| VaultError::KeyFile {
            path: key_path.clone(),
            problem: format!(
                "cannot put the new key in place (it is in {}): {e}",
                pending.display()
            ),
        })?;
        Ok(Reset {
            tokens,
            sign_in_keys,
            key_path,
            old_key,
        })
    }

    /// Open the vault of the data directory `home` (database `easel.db`,
    /// key `master.key`). A key is created only when the database has never
    /// had one; a missing, loose or wrong key is an error that changes
    /// nothing.
    pub fn open(home: &Path) -> Result<Self, VaultError> {
        let store = Store::open(&home.join("easel.db"))?;
        Self::open_records(Box::new(store), &Self::key_path_in(home))
    }

    /// Where the master key of data directory `home` is:
    /// `EASEL_MASTER_KEY_FILE`, or `master.key` in it.
    pub fn key_path_in(home: &Path) -> PathBuf {
        std::env::var_os("EASEL_MASTER_KEY_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(MASTER_KEY_FILE))
    }

    /// Open the vault whose records `store` keeps (a database shared by
    /// many hosts, say), with the master key at `key_path`. The key is
    /// the operator's to bring to every host: a key that does not match
    /// the database's check value is refused, and a new database takes
    /// the first key it is opened with (creating one at `key_path` only
    /// if there is none).
    pub fn open_records(store: Box<dyn VaultRecords>, key_path: &Path) -> Result<Self, VaultError> {
        let key_path = key_path.to_path_buf();
        let check = store.vault_meta(CHECK_KEY)?;
        // Finish a rekey interrupted after its database commit.
        let pending = pending_path(&key_path);
        if pending.exists() {
            let next = MasterKey::load(&pending)?;
            if check.as_deref() == Some(next.check_value().as_str()) {
                std::fs::rename(&pending, &key_path).map_err(|e| VaultError::KeyFile {
                    path: key_path.clone(),
                    problem: format!("cannot finish an interrupted rekey: {e}"),
                })?;
            } else {
                let _ = std::fs::remove_file(&pending);
            }
        }
        let key = match check {
            Some(expected) => {
                let key = MasterKey::load(&key_path)?;
                if key.check_value() != expected {
                    return Err(VaultError::WrongKey { path: key_path });
                }
                key
            }
            None => {
                let made = !key_path.exists();
                let key = if made {
                    let key = MasterKey::generate();
                    key.write_new(&key_path)?;
                    tracing::info!(path = %key_path.display(), "created a new master key; back it up");
                    key
                } else {
                    MasterKey::load(&key_path)?
                };
                // Another host may have set it meanwhile: the first wins,
                // and a key made here for nothing is not left behind.
                if store.claim_vault_meta(CHECK_KEY, &key.check_value())? != key.check_value() {
                    if made {
                        let _ = std::fs::remove_file(&key_path);
                        return Err(VaultError::KeyFile {
                            path: key_path,
                            problem: "another host set this database's master key first: copy its master key file here".into(),
                        });
                    }
                    return Err(VaultError::WrongKey { path: key_path });
                }
                key
            }
        };
        Ok(Self {
            store: Mutex::new(store),
            key,
            key_path,
        })
    }

    /// The audit log's MAC and checkpoint-signing keys, derived from the
    /// master key (HKDF-SHA256; see `easel_store::AuditKeys`).
    pub fn audit_keys(&self) -> Result<easel_store::AuditKeys, VaultError> {
        Ok(easel_store::AuditKeys::derive(self.key.bytes())?)
    }

    /// Where the master key lives.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    pub(crate) fn store(&self) -> std::sync::MutexGuard<'_, Box<dyn VaultRecords>> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn material(secret: &NewSecret) -> (Material, String, Option<String>, TokenKind) {
        match secret {
            NewSecret::User { token } => (
                Material {
                    access_token: Some(token.expose_secret().to_owned()),
                    refresh_token: None,
                    client_secret: None,
                    access_expires_unix: None,
                },
                token.expose_secret().to_owned(),
                None,
                TokenKind::User,
            ),
            NewSecret::Oauth2 {
                client_id,
                client_secret,
                refresh_token,
            } => (
                Material {
                    access_token: None,
                    refresh_token: Some(refresh_token.expose_secret().to_owned()),
                    client_secret: Some(client_secret.expose_secret().to_owned()),
                    access_expires_unix: None,
                },
                refresh_token.expose_secret().to_owned(),
                Some(client_id.clone()),
                TokenKind::Oauth2,
            ),
        }
    }

    pub(crate) fn seal_material(&self, id: &str, m: &Material) -> Result<Vec<u8>, VaultError> {
        let mut plain = serde_json::to_vec(m).map_err(|e| VaultError::Crypto(e.to_string()))?;
        let sealed = seal(&self.key, id, &plain);
        plain.zeroize();
        sealed
    }

    pub(crate) fn open_material(&self, row: &TokenRow) -> Result<Material, VaultError> {
        let plain = open(&self.key, &row.id, &row.sealed)?;
        serde_json::from_slice(&plain)
            .map_err(|_| VaultError::Crypto(format!("token {} is corrupt", row.id)))
    }

    /// Store a new token. `id`: letters, digits, `-`, `_`.
    pub fn add(
        &self,
        id: &str,
        instance: &str,
        secret: &NewSecret,
        expires_at: Option<String>,
    ) -> Result<TokenInfo, VaultError> {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(VaultError::Invalid(format!(
                "token id {id:?} must be letters, digits, - or _"
            )));
        }
        let store = self.store();
        if store.token(id)?.is_some() {
            return Err(VaultError::Invalid(format!(
                "token {id} exists: use `easel token rotate {id}` to replace its secret"
            )));
        }
        let (material, fp_source, client_id, kind) = Self::material(secret);
        let row = TokenRow {
            id: id.to_owned(),
            instance: instance.to_owned(),
            kind: kind.as_str().to_owned(),
            fingerprint: fingerprint(&self.key, &fp_source),
            client_id,
            sealed: self.seal_material(id, &material)?,
            generation: 1,
            created_at: now(),
            rotated_at: None,
            last_used_at: None,
            expires_at,
        };
        store.add_token(&row)?;
        Ok(TokenInfo::from(&row))
    }

    /// Replace a token's secret in place; grants keep naming it.
    pub fn rotate(&self, id: &str, secret: &NewSecret) -> Result<TokenInfo, VaultError> {
        let store = self.store();
        let row = store
            .token(id)?
            .ok_or_else(|| VaultError::NotFound(id.to_owned()))?;
        let (material, fp_source, _, kind) = Self::material(secret);
        if kind.as_str() != row.kind {
            return Err(VaultError::Invalid(format!(
                "token {id} is a {} token; rotate it with a secret of the same kind",
                row.kind
            )));
        }
        let sealed = self.seal_material(id, &material)?;
        store.reseal_token(id, &fingerprint(&self.key, &fp_source), &sealed, true)?;
        let row = store
            .token(id)?
            .ok_or_else(|| VaultError::NotFound(id.to_owned()))?;
        Ok(TokenInfo::from(&row))
    }

    /// Every token, without secrets.
    pub fn list(&self) -> Result<Vec<TokenInfo>, VaultError> {
        Ok(self.store().tokens()?.iter().map(TokenInfo::from).collect())
    }

    /// One token, without its secret.
    pub fn info(&self, id: &str) -> Result<TokenInfo, VaultError> {
        let row = self
            .store()
            .token(id)?
            .ok_or_else(|| VaultError::NotFound(id.to_owned()))?;
        Ok(TokenInfo::from(&row))
    }

    /// Re-encrypt every token under a new master key, atomically: the new
    /// key is written beside the old, the database switches in one
    /// transaction, then the new key replaces the old file.
    pub fn rekey(&mut self) -> Result<usize, VaultError> {
        let next = MasterKey::generate();
        let pending = pending_path(&self.key_path);
        let _ = std::fs::remove_file(&pending);
        next.write_new(&pending)?;
        let rows = self.store().tokens()?;
        let mut resealed = Vec::new();
        for row in &rows {
            let material = self.open_material(row)?;
            let mut plain =
                serde_json::to_vec(&material).map_err(|e| VaultError::Crypto(e.to_string()))?;
            let sealed = seal(&next, &row.id, &plain)?;
            plain.zeroize();
            let identifying = if row.kind == "oauth2" {
                &material.refresh_token
            } else {
                &material.access_token
            };
            let fp = fingerprint(&next, identifying.as_deref().unwrap_or(""));
            resealed.push((row.id.clone(), sealed, fp));
        }
        let mut keys = Vec::new();
        for row in self.store().sign_in_keys()? {
            let aad = sign_in_record(&row.instance);
            let plain = open(&self.key, &aad, &row.sealed)?;
            let sealed = seal(&next, &aad, &plain)?;
            keys.push((row.instance, sealed));
        }
        self.store()
            .reseal_all(&resealed, &keys, (CHECK_KEY, &next.check_value()))?;
        std::fs::rename(&pending, &self.key_path).map_err(|e| VaultError::KeyFile {
            path: self.key_path.clone(),
            problem: format!("the database now uses the new key in {}, but it could not replace the old file: {e}; move it into place by hand", pending.display()),
        })?;
        self.key = next;
        Ok(rows.len())
    }

    /// Credentials for token `id`, pinned to `origin`.
    pub fn credentials(
        self: &Arc<Self>,
        id: &str,
        origin: &str,
        transport: Arc<dyn easel_canvas::Transport>,
    ) -> Result<Arc<dyn easel_canvas::Credentials>, VaultError> {
        crate::credentials::for_token(self, id, origin, transport)
    }

    /// Set (or replace) `instance`'s developer key for Sign in with
    /// Canvas; `root_admins_are_district_admins`: may an admin of the root
    /// account sign in as a district admin?
    pub fn set_sign_in_key(
        &self,
        instance: &str,
        client_id: &str,
        client_secret: &SecretString,
        root_admins_are_district_admins: bool,
        root_account_id: u64,
        set_by: &str,
    ) -> Result<(), VaultError> {
        let client_id = client_id.trim();
        if client_id.is_empty()
            || client_id.len() > 64
            || !client_id.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(VaultError::Invalid(format!(
                "{client_id:?} is not a developer key's client id (Canvas's are digits, e.g. 170000000000123)"
            )));
        }
        if client_secret.expose_secret().trim().is_empty() {
            return Err(VaultError::Invalid("the client secret is empty".into()));
        }
        let sealed = seal(
            &self.key,
            &sign_in_record(instance),
            client_secret.expose_secret().trim().as_bytes(),
        )?;
        self.store().set_sign_in_key(&easel_store::SignInKeyRow {
            instance: instance.to_owned(),
            client_id: client_id.to_owned(),
            sealed,
            root_admins_are_district_admins,
            root_account_id: Some(root_account_id),
            set_at: now(),
            set_by: set_by.to_owned(),
        })?;
        Ok(())
    }

    /// `instance`'s developer key for Sign in with Canvas, if it has one.
    pub fn sign_in_key(&self, instance: &str) -> Result<Option<SignInKey>, VaultError> {
        let Some(row) = self.store().sign_in_key(instance)? else {
            return Ok(None);
        };
        let plain = open(&self.key, &sign_in_record(instance), &row.sealed)?;
        let secret = std::str::from_utf8(&plain)
            .map_err(|_| VaultError::Crypto(format!("the sign-in key of {instance} is corrupt")))?
            .to_owned();
        Ok(Some(SignInKey {
            key: easel_canvas::sign_in::DeveloperKey {
                client_id: row.client_id,
                client_secret: easel_canvas::Token::new(SecretString::from(secret)),
            },
            root_admins_are_district_admins: row.root_admins_are_district_admins,
            root_account_id: row.root_account_id,
        }))
    }

    pub(crate) fn row(&self, id: &str) -> Result<TokenRow, VaultError> {
        self.store()
            .token(id)?
            .ok_or_else(|| VaultError::NotFound(id.to_owned()))
    }
}
