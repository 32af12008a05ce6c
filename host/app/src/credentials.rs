//! Instances, tokens and the vault as a service: add, list, check, rotate
//! and remove, each for an actor who may manage credentials (the token
//! inventory, without secrets, for those who read everything), each change
//! audited with the token's keyed fingerprint, never its secret.

use std::path::{Path, PathBuf};

use easel_store::{Action, AuditEntry, InstanceRow, now};
use easel_vault::{NewSecret, TokenInfo, VaultError};
use serde::{Deserialize, Serialize};

use crate::connection::{Connection, SIM_INSTANCE};
use crate::error::{AppError, Kind};
use crate::home::Home;
use crate::principal::{Act, Actor};

fn vault_err(e: VaultError) -> AppError {
    match e {
        e @ VaultError::NotFound(_) => AppError::new(Kind::NotFound, e.to_string()),
        e @ VaultError::Invalid(_) => AppError::invalid(e.to_string()),
        e => AppError::new(Kind::Internal, e.to_string()),
    }
}

/// An instance's origin as easel keeps it: https, or http on loopback only
/// (the simulator, local tests); the origin alone.
pub fn check_url(url: &str) -> Result<String, AppError> {
    let parsed = url::Url::parse(url).map_err(|e| {
        if matches!(e, url::ParseError::RelativeUrlWithoutBase) {
            AppError::invalid(format!(
                "--url {url:?} has no scheme: add https://, e.g. https://{}",
                url.trim_start_matches('/')
            ))
        } else {
            AppError::invalid(format!("--url {url:?}: {e}"))
        }
    })?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
        return Err(AppError::invalid(format!(
            "--url {url:?} must be https://your.instructure.com"
        )));
    }
    if parsed.path() != "/" || parsed.query().is_some() {
        return Err(AppError::invalid(format!(
            "--url {url:?} must be just the origin, e.g. https://district.instructure.com"
        )));
    }
    Ok(parsed.origin().ascii_serialization())
}

/// Add an instance: `name` at `url`, a declared copy of `copy_of` (Canvas
/// test and beta are refreshed from production and accept its tokens).
pub fn add_instance(
    home: &Home,
    by: &Actor,
    name: &str,
    url: &str,
    copy_of: Option<&str>,
) -> Result<InstanceRow, AppError> {
    by.require(Act::ManageCredentials)?;
    if name == SIM_INSTANCE
        || name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(AppError::invalid(format!(
            "instance name {name:?} must be letters, digits or '-' (and not {SIM_INSTANCE:?})"
        )));
    }
    if home.store.instance(name)?.is_some() {
        return Err(AppError::new(
            Kind::Conflict,
            format!("instance {name} exists; remove it first to change its URL"),
        ));
    }
    if let Some(c) = copy_of
        && home.store.instance(c)?.is_none()
    {
        return Err(AppError::invalid(format!(
            "--copy-of {c}: no such instance"
        )));
    }
    let row = InstanceRow {
        name: name.to_owned(),
        url: check_url(url)?,
        copy_of: copy_of.map(str::to_owned),
        created_at: now(),
    };
    home.store.add_instance(&row)?;
    Ok(row)
}

/// Every instance.
pub fn instances(home: &Home, by: &Actor) -> Result<Vec<InstanceRow>, AppError> {
    by.require(Act::ManageCredentials)?;
    Ok(home.store.instances()?)
}

/// Remove an instance that has no tokens, no declared copies and no
/// sign-in key.
pub fn remove_instance(home: &Home, by: &Actor, name: &str) -> Result<(), AppError> {
    by.require(Act::ManageCredentials)?;
    if home.store.sign_in_key(name)?.is_some() {
        return Err(AppError::invalid(format!(
            "Sign in with Canvas is on for {name}: turn it off first with `easel instance sign-in {name} --off`"
        )));
    }
    let copies: Vec<String> = home
        .store
        .instances()?
        .into_iter()
        .filter(|i| i.copy_of.as_deref() == Some(name))
        .map(|i| i.name)
        .collect();
    if !copies.is_empty() {
        return Err(AppError::invalid(format!(
            "{} {} declared a copy of {name}: remove {} first",
            copies.join(", "),
            if copies.len() == 1 { "is" } else { "are" },
            if copies.len() == 1 { "it" } else { "them" }
        )));
    }
    let using: Vec<String> = home
        .store
        .tokens()?
        .into_iter()
        .filter(|t| t.instance == name)
        .map(|t| t.id)
        .collect();
    if !using.is_empty() {
        return Err(AppError::invalid(format!(
            "instance {name} still has tokens ({}): remove them first",
            using.join(", ")
        )));
    }
    if !home.store.remove_instance(name)? {
        return Err(AppError::new(
            Kind::NotFound,
            format!("no instance {name:?}"),
        ));
    }
    Ok(())
}

/// Check what a new token would be added with, before its secret is asked
/// for: who adds it, its instance and its expiry.
pub fn check_new_token(
    home: &Home,
    by: &Actor,
    instance: &str,
    expires_at: Option<&str>,
) -> Result<InstanceRow, AppError> {
    by.require(Act::ManageCredentials)?;
    let Some(row) = crate::connection::choose_instance(home, Some(instance))? else {
        return Err(AppError::invalid(
            "the embedded simulator brings its own token; add a real instance first",
        ));
    };
    if let Some(e) = expires_at {
        time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339).map_err(
            |_| {
                AppError::invalid(format!(
                    "--expires-at {e:?} must be RFC 3339, e.g. 2027-06-30T00:00:00Z"
                ))
            },
        )?;
    }
    Ok(row)
}

/// Seal a new token for `instance`.
pub fn add_token(
    home: &Home,
    by: &Actor,
    id: &str,
    instance: &str,
    secret: &NewSecret,
    expires_at: Option<String>,
) -> Result<TokenInfo, AppError> {
    let row = check_new_token(home, by, instance, expires_at.as_deref())?;
    let info = home
        .vault()?
        .add(id, &row.name, secret, expires_at)
        .map_err(vault_err)?;
    home.audit(&AuditEntry {
        instance: Some(info.instance.clone()),
        token: Some(info.fingerprint.clone()),
        detail: Some(format!("token {} ({})", info.id, info.kind)),
        ..AuditEntry::new(by.audit_name(), Action::TokenAdded)
    })?;
    Ok(info)
}

/// Ask Canvas whose a new token is (`/api/v1/users/self`) before it is
/// stored: a token Canvas refuses, or cannot be asked about, is not added.
/// An OAuth2 grant is checked once stored (its refresh needs the vault) and
/// removed again if Canvas refuses it.
pub async fn add_verified_token(
    home: &Home,
    by: &Actor,
    id: &str,
    instance: &str,
    secret: &NewSecret,
    expires_at: Option<String>,
) -> Result<(TokenInfo, TokenOwner), AppError> {
    let row = check_new_token(home, by, instance, expires_at.as_deref())?;
    let refused = |e: AppError| {
        AppError::invalid(format!(
            "token {id} was not added: asking {} ({}) whose it is failed: {}",
            row.name, row.url, e.message
        ))
        .hint("check that the token was pasted whole and is not expired or revoked; if Canvas cannot be reached from here, add it with --no-verify")
    };
    match secret {
        NewSecret::User { token } => {
            let conn = Connection::to_url(
                &row.url,
                easel_canvas::Token::new(token.clone()),
                easel_canvas::GovernorConfig::default(),
            )?;
            let owner: TokenOwner = conn
                .get_json("token-add", "/api/v1/users/self", &[])
                .await
                .and_then(|o: Option<TokenOwner>| {
                    o.ok_or_else(|| AppError::new(Kind::Upstream, "Canvas has no /users/self"))
                })
                .map_err(refused)?;
            let info = add_token(home, by, id, instance, secret, expires_at)?;
            Ok((info, owner))
        }
        _ => {
            let info = add_token(home, by, id, instance, secret, expires_at)?;
            match check_token(home, by, id).await {
                Ok((_, owner)) => Ok((info, owner)),
                Err(e) => {
                    remove_token(home, by, id, false)?;
                    Err(refused(e))
                }
            }
        }
    }
}

/// The token inventory: ids, instances, kinds, fingerprints, dates; never
/// a secret. For those who read everything.
pub fn tokens(home: &Home, by: &Actor) -> Result<Vec<TokenInfo>, AppError> {
    by.require(Act::ReadAllRuns)?;
    home.vault()?.list().map_err(vault_err)
}

/// One token, without its secret.
pub fn token(home: &Home, by: &Actor, id: &str) -> Result<TokenInfo, AppError> {
    by.require(Act::ManageCredentials)?;
    home.vault()?.info(id).map_err(vault_err)
}

/// Whose a token is, as Canvas says (`/api/v1/users/self`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenOwner {
    /// Canvas user id.
    pub id: u64,
    /// Their name.
    pub name: String,
    /// Their login id, when Canvas shows it.
    #[serde(default)]
    pub login_id: Option<String>,
}

/// Ask Canvas whose token `id` is: its instance and owner.
pub async fn check_token(
    home: &Home,
    by: &Actor,
    id: &str,
) -> Result<(InstanceRow, TokenOwner), AppError> {
    let info = token(home, by, id)?;
    let instance = home.store.instance(&info.instance)?.ok_or_else(|| {
        AppError::new(
            Kind::Internal,
            format!("instance {} is gone", info.instance),
        )
    })?;
    let conn = Connection::to_instance(home, &instance, Some(id)).await?;
    let me: Option<TokenOwner> = conn
        .get_json("token-check", "/api/v1/users/self", &[])
        .await?;
    let me = me
        .ok_or_else(|| AppError::new(Kind::Upstream, "Canvas has no /users/self for this token"))?;
    Ok((instance, me))
}

/// Replace a token's secret in place (grants keep naming it): the old
/// fingerprint and the token now.
pub fn rotate_token(
    home: &Home,
    by: &Actor,
    id: &str,
    secret: &NewSecret,
) -> Result<(String, TokenInfo), AppError> {
    let old = token(home, by, id)?;
    let info = home.vault()?.rotate(id, secret).map_err(vault_err)?;
    home.audit(&AuditEntry {
        instance: Some(info.instance.clone()),
        token: Some(info.fingerprint.clone()),
        detail: Some(format!("token {id}, was {}", old.fingerprint)),
        ..AuditEntry::new(by.audit_name(), Action::TokenRotated)
    })?;
    Ok((old.fingerprint, info))
}

/// [`rotate_token`] with a user token Canvas is asked about first
/// (`/api/v1/users/self` on the token's instance): a new secret Canvas
/// refuses, or an empty one, replaces nothing. Whose the new token is.
pub async fn rotate_verified_token(
    home: &Home,
    by: &Actor,
    id: &str,
    token: secrecy::SecretString,
) -> Result<(String, TokenInfo, TokenOwner), AppError> {
    use secrecy::ExposeSecret as _;
    let old = self::token(home, by, id)?;
    if token.expose_secret().trim().is_empty() {
        return Err(AppError::invalid(format!(
            "no new secret given for token {id}: paste the new Canvas access token"
        )));
    }
    let instance = home.store.instance(&old.instance)?.ok_or_else(|| {
        AppError::new(Kind::Internal, format!("instance {} is gone", old.instance))
    })?;
    let conn = Connection::to_url(
        &instance.url,
        easel_canvas::Token::new(token.clone()),
        easel_canvas::GovernorConfig::default(),
    )?;
    let owner: TokenOwner = conn
        .get_json("token-rotate", "/api/v1/users/self", &[])
        .await
        .and_then(|o: Option<TokenOwner>| {
            o.ok_or_else(|| AppError::new(Kind::Upstream, "Canvas has no /users/self"))
        })
        .map_err(|e| {
            AppError::invalid(format!(
                "token {id} was not rotated: asking {} ({}) whose the new secret is failed: {}",
                instance.name, instance.url, e.message
            ))
            .hint("check that the token was pasted whole and is not expired or revoked")
        })?;
    let (was, info) = rotate_token(home, by, id, &NewSecret::User { token })?;
    Ok((was, info, owner))
}

/// Remove a token; refused while grants use it, unless `force`, which
/// disables them. How many grants were disabled.
pub fn remove_token(home: &Home, by: &Actor, id: &str, force: bool) -> Result<usize, AppError> {
    let info = token(home, by, id)?;
    let using = home.store.approvals_using_token(id)?;
    if using > 0 && !force {
        return Err(AppError::invalid(format!(
            "{using} grant(s) use token {id}: rotate it instead, or remove it with --force, which disables those grants"
        )));
    }
    home.audit(&AuditEntry {
        instance: Some(info.instance.clone()),
        token: Some(info.fingerprint.clone()),
        detail: Some(format!("token {id}; {using} grant(s) disabled")),
        ..AuditEntry::new(by.audit_name(), Action::TokenRemoved)
    })?;
    let disabled = home.store.disable_approvals_using_token(id)?;
    home.store.remove_token(id)?;
    Ok(disabled)
}

/// `vault reset --forget-tokens`: when the master key is lost (or the file
/// holds another key), replace it and forget every sealed token and
/// sign-in key, keeping plugins, approvals, runs, users and the audit log.
/// The reset is the first thing recorded under the new key; the records
/// before it, keyed by the lost key, can no longer be verified (their
/// order and links still are). Works on a data directory that does not
/// open: no [`Home`] is needed.
pub fn reset_vault(root: &Path, by: &Actor) -> Result<easel_vault::Reset, AppError> {
    by.require(Act::ManageCredentials)?;
    refuse_on_shared_database("vault reset", &crate::database::Database::from_env()?)?;
    if let Ok(store) = easel_store::Store::open(&root.join("easel.db")) {
        refuse_if_copied("vault reset", &store)?;
    }
    let db = root.join("easel.db");
    if !db.exists() {
        return Err(AppError::invalid(format!(
            "{} holds no easel database: there is nothing to reset",
            root.display()
        )));
    }
    let internal = |e: VaultError| AppError::new(Kind::Internal, e.to_string());
    easel_vault::Vault::reset_forgetting_tokens(root, |keys| {
        let log = easel_store::AuditLog::open(&db, keys)?;
        log.append(&AuditEntry {
            detail: Some(
                "the master key was replaced and every sealed token and sign-in key forgotten; records before this one were keyed by the lost key"
                    .into(),
            ),
            ..AuditEntry::new(by.audit_name(), Action::VaultReset)
        })?;
        Ok(())
    })
    .map_err(internal)
}

/// A new master key has to reach every host at once: not done on a
/// database shared by many hosts (docs/DEPLOY.md says how to change it).
fn refuse_on_shared_database(
    what: &str,
    database: &crate::database::Database,
) -> Result<(), AppError> {
    match database {
        crate::database::Database::Sqlite => Ok(()),
        crate::database::Database::Postgres(_) => Err(AppError::invalid(format!(
            "`easel {what}` works on one host's SQLite database; this one is PostgreSQL ({}), shared by hosts that would all need the new key at once. Nothing was changed: see docs/DEPLOY.md, \"The master key\"",
            database.describe()
        ))),
    }
}

/// A SQLite database whose state was copied into PostgreSQL is the
/// shared database's past: a new key made here would not reach it.
fn refuse_if_copied(what: &str, store: &dyn crate::Storage) -> Result<(), AppError> {
    match store.setting(crate::database::COPIED_TO)? {
        None => Ok(()),
        Some(to) => Err(AppError::invalid(format!(
            "this data directory's SQLite database was copied into PostgreSQL ({to}), where its state now lives; `easel {what}` here would change a key the other hosts do not have. Nothing was changed: see docs/DEPLOY.md, \"The master key\""
        ))),
    }
}

/// What `vault rekey` did.
#[derive(Debug, Clone)]
pub struct Rekeyed {
    /// Tokens re-encrypted.
    pub tokens: usize,
    /// Audit records re-MACed.
    pub records: u64,
    /// Where the new master key is.
    pub key_path: PathBuf,
    /// The audit witness file, whose earlier lines the old key signed.
    pub witness: Option<PathBuf>,
}

/// Re-encrypt every token and sign-in key under a new master key, and
/// re-MAC the audit log under keys derived from it. Refused, changing
/// nothing, if the log does not verify under the old key.
pub fn rekey(home: &Home, by: &Actor) -> Result<Rekeyed, AppError> {
    by.require(Act::ManageCredentials)?;
    refuse_on_shared_database("vault rekey", home.database())?;
    refuse_if_copied("vault rekey", home.store.as_ref())?;
    let internal = |e: VaultError| AppError::new(Kind::Internal, e.to_string());
    let mut v = easel_vault::Vault::open(home.root()).map_err(internal)?;
    // The audit log is keyed by the master key too: it must verify under
    // the old key before it is re-MACed under the new one.
    if let easel_store::Verdict::Broken { seq, reason } = home.audit.verify()? {
        return Err(AppError::new(
            Kind::Internal,
            format!(
                "the audit log is broken at record {seq} ({reason}); rekeying would re-MAC it and hide that, so nothing was changed: see `easel audit verify`"
            ),
        ));
    }
    let current = v.audit_keys().map_err(internal)?;
    let tokens = v.rekey().map_err(internal)?;
    let next = v.audit_keys().map_err(internal)?;
    let db = home.root().join("easel.db");
    let records = match easel_store::rekey_log(&db, current, &next)? {
        Ok(n) => n,
        Err(verdict) => {
            return Err(AppError::new(
                Kind::Internal,
                format!(
                    "the tokens are re-encrypted under the new master key, but the audit log changed while rekeying and was not re-MACed ({verdict:?}); see `easel audit verify`"
                ),
            ));
        }
    };
    let log = easel_store::AuditLog::open_with(
        &db,
        next,
        easel_store::AuditOptions {
            witness: home.audit.witness().map(Path::to_path_buf),
            ..easel_store::AuditOptions::default()
        },
    )?;
    log.append(&AuditEntry {
        detail: Some(format!(
            "{tokens} token(s) re-encrypted, {records} audit record(s) re-MACed; checkpoint key {}",
            log.public_key()
        )),
        ..AuditEntry::new(by.audit_name(), Action::VaultRekeyed)
    })?;
    if let Err(e) = log.checkpoint(easel_store::checkpoint::reason::REKEY) {
        tracing::warn!("could not sign a checkpoint after the rekey: {e}");
    }
    Ok(Rekeyed {
        tokens,
        records,
        key_path: v.key_path().to_path_buf(),
        witness: home.audit.witness().map(Path::to_path_buf),
    })
}
