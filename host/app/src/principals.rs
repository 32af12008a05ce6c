//! Principals as a service: add users, set passwords, sign in, and issue,
//! check and revoke personal API tokens. Every change and every failed
//! sign-in is audited.
//!
//! Threat: someone claiming to be another person. A name is no longer
//! whatever a flag says: it is proved with a password (argon2id; only the
//! PHC hash is stored) or an API token (256 random bits; only its sha256 is
//! stored, and it is shown once). Failed sign-ins are counted per name and
//! per address and, past a limit, refused without checking the password.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use easel_store::{Action, ApiTokenRow, AuditEntry, AuditLog};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::error::{AppError, Kind};
use crate::principal::{Act, Actor, Role, SignIn, fold_name};
use crate::storage::Storage;

/// Every personal API token starts with this.
pub const TOKEN_PREFIX: &str = "easel_pat_";

/// Failed sign-ins for one name from one address within the window before
/// it is refused there (another address is not locked out by them).
pub const MAX_FAILURES_PER_NAME: u32 = 5;

/// Failed sign-ins from one address within the window before it is refused.
pub const MAX_FAILURES_PER_ADDRESS: u32 = 20;

/// Refused API tokens from one address recorded (and audited) within the
/// window; past it, refusals are answered but not recorded.
pub const MAX_TOKEN_FAILURES_RECORDED: u32 = 50;

/// Longest life of a token for a user who signs in with Canvas (their
/// roles are asked of Canvas again at least this often).
pub const CANVAS_TOKEN_HOURS: i64 = 12;

/// The window failed sign-ins are counted in.
const FAILURE_WINDOW: time::Duration = time::Duration::minutes(15);

/// A user just added: their one-time password, shown once.
#[derive(Debug)]
pub struct NewUser {
    /// The folded name.
    pub name: String,
    /// A random password to give them (change it with `easel user password`).
    pub password: String,
}

/// A token just issued: shown once, never stored.
#[derive(Debug)]
pub struct IssuedToken {
    /// Its public id.
    pub id: String,
    /// The whole token, for the `Authorization: Bearer` header.
    pub token: String,
    /// When it stops working, if ever.
    pub expires_at: Option<String>,
}

/// The principals service.
pub struct Principals<'a> {
    store: &'a dyn Storage,
    audit: &'a AuditLog,
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill(&mut b[..]);
    hex::encode(b)
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn roles_json(roles: &[Role]) -> String {
    serde_json::to_string(roles).unwrap_or_else(|_| "[]".into())
}

fn roles_of(json: &str) -> Result<Vec<Role>, AppError> {
    serde_json::from_str(json)
        .map_err(|e| AppError::new(Kind::Internal, format!("stored roles are unreadable: {e}")))
}

/// Equal in time whatever the inputs' contents.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hash_password(password: &str) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| AppError::new(Kind::Internal, format!("cannot make a salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::new(Kind::Internal, format!("cannot hash the password: {e}")))
}

/// A hash to verify against when the name is unknown, so an unknown name
/// costs the same time as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_hex(16)).unwrap_or_default())
}

impl<'a> Principals<'a> {
    /// The service over a store and its audit log.
    pub fn new(store: &'a dyn Storage, audit: &'a AuditLog) -> Self {
        Self { store, audit }
    }

    /// The actor of a local command: the OS user, all-powerful (they hold
    /// the data directory and the master key).
    pub fn local(os_user: &str) -> Actor {
        let name = fold_name(os_user).unwrap_or_else(|_| "local".into());
        Actor {
            name,
            roles: vec![Role::DistrictAdmin],
            via: SignIn::Local(os_user.to_owned()),
        }
    }

    fn record(&self, by: &str, action: Action, detail: String) -> Result<(), AppError> {
        self.audit
            .append(&AuditEntry {
                detail: Some(detail),
                ..AuditEntry::new(by.to_owned(), action)
            })
            .map(|_| ())
            .map_err(|e| {
                AppError::new(
                    Kind::Internal,
                    format!("the audit log could not be written: {e}"),
                )
            })
    }

    /// Add a user with `roles` and a one-time password.
    pub fn add_user(&self, by: &Actor, name: &str, roles: Vec<Role>) -> Result<NewUser, AppError> {
        by.require(Act::ManageUsers)?;
        let name = fold_name(name)?;
        if roles.is_empty() {
            return Err(AppError::invalid("a user needs at least one role"));
        }
        let password = random_hex(12);
        let hash = hash_password(&password)?;
        self.store
            .add_user(&name, &roles_json(&roles), &by.audit_name())?;
        self.store.set_password_hash(&name, &hash)?;
        self.record(
            &by.audit_name(),
            Action::UserAdded,
            format!(
                "user {name} with role(s) {}",
                roles.iter().map(Role::name).collect::<Vec<_>>().join(", ")
            ),
        )?;
        Ok(NewUser { name, password })
    }

    /// Set `name`'s password: the user themself, or a user manager.
    pub fn set_password(&self, by: &Actor, name: &str, password: &str) -> Result<(), AppError> {
        let name = fold_name(name)?;
        if by.name != name {
            by.require(Act::ManageUsers)?;
        }
        let user = self
            .store
            .user(&name)?
            .ok_or_else(|| AppError::new(Kind::NotFound, format!("no user {name}")))?;
        if by.name == name && roles_of(&user.roles)?.iter().any(|r| !by.roles.contains(r)) {
            // A password signs in with every role the user holds.
            return Err(AppError::forbidden(
                "this token carries fewer roles than its user: sign in with the password, or use a token with all of them, to change the password",
            ));
        }
        if self.store.is_canvas_user(&name)? {
            return Err(AppError::forbidden(format!(
                "{name} signs in with Canvas, which gives their roles: a password would outlive what Canvas says"
            )));
        }
        if password.chars().count() < 12 {
            return Err(AppError::invalid("a password has at least 12 characters"));
        }
        self.store
            .set_password_hash(&name, &hash_password(password)?)?;
        self.record(
            &by.audit_name(),
            Action::PasswordSet,
            format!("password of {name}"),
        )
    }

    /// Sign in with a password from `address`. Past the failure limits the
    /// attempt is refused without checking the password.
    pub fn sign_in(&self, name: &str, password: &str, address: &str) -> Result<Actor, AppError> {
        let name = fold_name(name)?;
        // The attempt is recorded before it is judged, so attempts made at
        // the same moment all count against the limit; a right password
        // takes its record back.
        let attempt = self.store.record_sign_in_failure(&name, address)?;
        let since = rfc3339(time::OffsetDateTime::now_utc() - FAILURE_WINDOW);
        let (by_name, by_address) = self.store.sign_in_failures_since(&name, address, &since)?;
        if by_name > MAX_FAILURES_PER_NAME || by_address > MAX_FAILURES_PER_ADDRESS {
            self.record(
                &name,
                Action::SignInFailed,
                format!("from {address}: refused: too many failed sign-ins"),
            )?;
            return Err(AppError::forbidden(
                "too many failed sign-ins from here: wait 15 minutes, or ask an admin to reset the password",
            ));
        }
        let user = self.store.user(&name)?;
        let stored = user
            .as_ref()
            .and_then(|u| u.password_hash.clone())
            .unwrap_or_else(|| dummy_hash().to_owned());
        let ok = PasswordHash::new(&stored)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        match user {
            Some(u) if ok && u.disabled_at.is_none() && u.password_hash.is_some() => {
                self.store.forget_sign_in_attempt(attempt)?;
                Ok(Actor {
                    name,
                    roles: roles_of(&u.roles)?,
                    via: SignIn::Password,
                })
            }
            _ => {
                self.record(
                    &name,
                    Action::SignInFailed,
                    format!("from {address}: wrong name or password"),
                )?;
                Err(AppError::forbidden("wrong name or password"))
            }
        }
    }

    fn fail(&self, name: &str, address: &str, why: &str) -> Result<(), AppError> {
        self.store.record_sign_in_failure(name, address)?;
        self.record(name, Action::SignInFailed, format!("from {address}: {why}"))
    }

    /// Issue a personal API token for `user` (themself, or by a user
    /// manager), with the user's roles or the `roles` given (which must be
    /// among the user's).
    pub fn issue_token(
        &self,
        by: &Actor,
        user: &str,
        label: &str,
        valid_for: Option<time::Duration>,
        roles: Option<Vec<Role>>,
    ) -> Result<IssuedToken, AppError> {
        self.issue(by, user, label, valid_for, roles, false)
    }

    /// A web console session for `actor` (who just signed in): a token
    /// with their roles that only the console takes ([`Self::authenticate`]
    /// refuses it), for `valid_for`.
    pub fn issue_console_session(
        &self,
        actor: &Actor,
        label: &str,
        valid_for: time::Duration,
    ) -> Result<IssuedToken, AppError> {
        self.issue(actor, &actor.name, label, Some(valid_for), None, true)
    }

    /// End every console session still live (a server's start: the last
    /// process's sessions can no longer be checked for idleness); how many.
    pub fn end_console_sessions(&self) -> Result<usize, AppError> {
        Ok(self.store.revoke_console_tokens()?)
    }

    fn issue(
        &self,
        by: &Actor,
        user: &str,
        label: &str,
        valid_for: Option<time::Duration>,
        roles: Option<Vec<Role>>,
        console: bool,
    ) -> Result<IssuedToken, AppError> {
        let user = fold_name(user)?;
        if by.name != user {
            by.require(Act::ManageUsers)?;
        }
        let row = self
            .store
            .user(&user)?
            .ok_or_else(|| AppError::new(Kind::NotFound, format!("no user {user}")))?;
        if self.store.is_canvas_user(&user)?
            && valid_for.is_none_or(|d| d > time::Duration::hours(CANVAS_TOKEN_HOURS))
        {
            return Err(AppError::forbidden(format!(
                "{user} signs in with Canvas, which gives their roles: their tokens last at most {CANVAS_TOKEN_HOURS} hours"
            )));
        }
        let mut held = roles_of(&row.roles)?;
        if by.name == user {
            // A narrowed token cannot mint a wider one: a user's own new
            // token carries at most the roles of the credential asking.
            held.retain(|r| by.roles.contains(r));
        }
        let roles = match roles {
            None => held,
            Some(r) => {
                if let Some(extra) = r.iter().find(|x| !held.contains(x)) {
                    return Err(AppError::forbidden(format!(
                        "{user} does not hold {}; a token carries the user's roles or fewer",
                        extra.name()
                    )));
                }
                r
            }
        };
        let label = label.trim();
        if label.is_empty() || label.len() > 64 || label.chars().any(char::is_control) {
            return Err(AppError::invalid(
                "a token's label is 1 to 64 printable characters",
            ));
        }
        let (id, secret) = (random_hex(6), random_hex(32));
        let now = time::OffsetDateTime::now_utc();
        let expires_at = valid_for.map(|d| rfc3339(now + d));
        self.store.add_api_token(&ApiTokenRow {
            id: id.clone(),
            user_name: user.clone(),
            label: label.to_owned(),
            secret_sha256: hex::encode(Sha256::digest(secret.as_bytes())),
            roles: roles_json(&roles),
            created_at: rfc3339(now),
            expires_at: expires_at.clone(),
            revoked_at: None,
            console,
        })?;
        self.record(
            &by.audit_name(),
            Action::ApiTokenIssued,
            format!(
                "token {id} ({label}) for {user}, expires {}",
                expires_at.as_deref().unwrap_or("never")
            ),
        )?;
        Ok(IssuedToken {
            token: format!("{TOKEN_PREFIX}{id}_{secret}"),
            id,
            expires_at,
        })
    }

    /// The actor an API token proves, or why it proves nothing (refusals
    /// are audited). A console session is refused: it works only in the
    /// console.
    pub fn authenticate(&self, token: &str, address: &str) -> Result<Actor, AppError> {
        self.authenticate_as(token, address, false)
    }

    /// The actor a console session's token proves; any other token is
    /// refused.
    pub fn authenticate_console(&self, token: &str, address: &str) -> Result<Actor, AppError> {
        self.authenticate_as(token, address, true)
    }

    fn authenticate_as(
        &self,
        token: &str,
        address: &str,
        console: bool,
    ) -> Result<Actor, AppError> {
        let refused = |why: &str, id: &str| -> AppError {
            // Recorded (and audited) up to a bound per address, so a flood
            // of bad tokens cannot grow the log; they never count against
            // password sign-ins, so they lock no one out.
            let since = rfc3339(time::OffsetDateTime::now_utc() - FAILURE_WINDOW);
            let seen = self
                .store
                .token_failures_since(address, &since)
                .unwrap_or(u32::MAX);
            if seen < MAX_TOKEN_FAILURES_RECORDED {
                let _ = self.fail(&format!("api-token {id}"), address, why);
            }
            AppError::forbidden(format!("the API token is {why}"))
                .hint("sign in again, or ask an admin for a new token")
        };
        let Some((id, secret)) = token
            .trim()
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|rest| rest.split_once('_'))
        else {
            return Err(refused("not an easel API token", "?"));
        };
        let id: String = id.chars().take(16).collect();
        let Some(row) = self.store.api_token(&id)? else {
            return Err(refused("unknown", &id));
        };
        if !same(
            hex::encode(Sha256::digest(secret.as_bytes())).as_bytes(),
            row.secret_sha256.as_bytes(),
        ) {
            return Err(refused("unknown", &id));
        }
        if row.revoked_at.is_some() {
            return Err(refused("revoked", &id));
        }
        if row.console != console {
            return Err(refused(
                if row.console {
                    "a web console session, which works only in the console"
                } else {
                    "not a web console session"
                },
                &id,
            ));
        }
        if let Some(exp) = &row.expires_at {
            let at =
                time::OffsetDateTime::parse(exp, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| refused("unreadable", &id))?;
            if time::OffsetDateTime::now_utc() >= at {
                return Err(refused("expired", &id));
            }
        }
        let user = self
            .store
            .user(&row.user_name)?
            .filter(|u| u.disabled_at.is_none())
            .ok_or_else(|| refused("for a user who is gone or disabled", &id))?;
        // The token's roles, as far as the user still holds them.
        let held = roles_of(&user.roles)?;
        let roles: Vec<Role> = roles_of(&row.roles)?
            .into_iter()
            .filter(|r| held.contains(r))
            .collect();
        Ok(Actor {
            name: user.name,
            roles,
            via: SignIn::ApiToken(id),
        })
    }

    /// The actor a completed Sign in with Canvas is: the user `name`, with
    /// the roles it holds now (`canvas_sign_in::complete` set them).
    pub fn canvas_actor(&self, name: &str) -> Result<Actor, AppError> {
        let user = self
            .store
            .user(name)?
            .filter(|u| u.disabled_at.is_none())
            .ok_or_else(|| AppError::forbidden(format!("easel user {name} is gone or disabled")))?;
        Ok(Actor {
            name: user.name,
            roles: roles_of(&user.roles)?,
            via: SignIn::Canvas,
        })
    }

    /// Revoke a token: its user, or a user manager.
    pub fn revoke_token(&self, by: &Actor, id: &str) -> Result<(), AppError> {
        let row = self
            .store
            .api_token(id)?
            .ok_or_else(|| AppError::new(Kind::NotFound, format!("no API token {id}")))?;
        if row.user_name != by.name {
            by.require(Act::ManageUsers)?;
        }
        if !self.store.revoke_api_token(id)? {
            return Err(AppError::new(
                Kind::Conflict,
                format!("API token {id} was revoked already"),
            ));
        }
        self.record(
            &by.audit_name(),
            Action::ApiTokenRevoked,
            format!("token {id} ({}) of {}", row.label, row.user_name),
        )
    }
}
