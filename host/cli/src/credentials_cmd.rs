//! `easel instance ...`, `easel token ...`, `easel vault rekey`.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use easel_store::{InstanceRow, now};
use easel_vault::{NewSecret, TokenInfo};
use secrecy::SecretString;
use serde::Deserialize;

use crate::args::{InstanceCommand, TokenCommand, VaultCommand};
use crate::error::{CliError, Outcome};
use easel_app::Home;
use easel_app::{ConnectOptions, Connection, SIM_INSTANCE, choose_instance};
use easel_store::{Action, AuditEntry};

fn failed(e: impl Into<anyhow::Error>) -> CliError {
    CliError::Failed(e.into())
}

fn vault_err(e: easel_vault::VaultError) -> CliError {
    match e {
        e @ (easel_vault::VaultError::NotFound(_) | easel_vault::VaultError::Invalid(_)) => {
            CliError::input(e.to_string())
        }
        e => failed(e),
    }
}

/// Only https, except on loopback (the simulator, local tests).
fn check_url(url: &str) -> Result<String, CliError> {
    let parsed = url::Url::parse(url).map_err(|e| {
        if matches!(e, url::ParseError::RelativeUrlWithoutBase) {
            CliError::input(format!(
                "--url {url:?} has no scheme: add https://, e.g. https://{}",
                url.trim_start_matches('/')
            ))
        } else {
            CliError::input(format!("--url {url:?}: {e}"))
        }
    })?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
        return Err(CliError::input(format!(
            "--url {url:?} must be https://your.instructure.com"
        )));
    }
    if parsed.path() != "/" || parsed.query().is_some() {
        return Err(CliError::input(format!(
            "--url {url:?} must be just the origin, e.g. https://district.instructure.com"
        )));
    }
    Ok(parsed.origin().ascii_serialization())
}

pub(crate) async fn instance(home: &Home, command: InstanceCommand) -> Result<Outcome, CliError> {
    crate::local_actor(home)?.require(easel_app::Act::ManageCredentials)?;
    match command {
        InstanceCommand::Add { name, url, copy_of } => {
            if name == SIM_INSTANCE
                || name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(CliError::input(format!(
                    "instance name {name:?} must be letters, digits or '-' (and not {SIM_INSTANCE:?})"
                )));
            }
            if home.store.instance(&name)?.is_some() {
                return Err(CliError::input(format!(
                    "instance {name} exists; remove it first to change its URL"
                )));
            }
            if let Some(c) = &copy_of
                && home.store.instance(c)?.is_none()
            {
                return Err(CliError::input(format!("--copy-of {c}: no such instance")));
            }
            let url = check_url(&url)?;
            home.store.add_instance(&InstanceRow {
                name: name.clone(),
                url: url.clone(),
                copy_of: copy_of.clone(),
                created_at: now(),
            })?;
            match copy_of {
                Some(c) => {
                    println!("added instance {name} at {url}, a copy of {c} (its tokens work here)")
                }
                None => println!(
                    "added instance {name} at {url}; next: `easel token add <id> --instance {name}`"
                ),
            }
            Ok(Outcome::Success)
        }
        InstanceCommand::List { json } => {
            let list = home.store.instances()?;
            if json {
                let v: Vec<_> = list.iter().map(|i| serde_json::json!({"name": i.name, "url": i.url, "copy_of": i.copy_of, "created_at": i.created_at})).collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                println!("{:<12} {:<40} COPY OF", "NAME", "URL");
                println!(
                    "{:<12} {:<40} (embedded simulator, used when no instance is configured)",
                    SIM_INSTANCE, "-"
                );
                for i in list {
                    println!(
                        "{:<12} {:<40} {}",
                        i.name,
                        i.url,
                        i.copy_of.unwrap_or_default()
                    );
                }
            }
            Ok(Outcome::Success)
        }
        InstanceCommand::Remove { name } => {
            if home.store.sign_in_key(&name)?.is_some() {
                return Err(CliError::input(format!(
                    "Sign in with Canvas is on for {name}: turn it off first with `easel instance sign-in {name} --off`"
                )));
            }
            let copies: Vec<String> = home
                .store
                .instances()?
                .into_iter()
                .filter(|i| i.copy_of.as_deref() == Some(name.as_str()))
                .map(|i| i.name)
                .collect();
            if !copies.is_empty() {
                return Err(CliError::input(format!(
                    "{} {} declared a copy of {name}: remove {} first",
                    copies.join(", "),
                    if copies.len() == 1 { "is" } else { "are" },
                    if copies.len() == 1 { "it" } else { "them" }
                )));
            }
            let tokens = home.store.tokens()?;
            let using: Vec<&str> = tokens
                .iter()
                .filter(|t| t.instance == name)
                .map(|t| t.id.as_str())
                .collect();
            if !using.is_empty() {
                return Err(CliError::input(format!(
                    "instance {name} still has tokens ({}): remove them first",
                    using.join(", ")
                )));
            }
            if !home.store.remove_instance(&name).map_err(failed)? {
                return Err(CliError::input(format!("no instance {name:?}")));
            }
            println!("removed instance {name}");
            Ok(Outcome::Success)
        }
        InstanceCommand::SignIn {
            name,
            client_id,
            root_admins_are_district_admins,
            root_account,
            off,
        } => {
            let actor = crate::local_actor(home)?;
            if off {
                let reset = easel_app::canvas_sign_in::disable(home, &actor, &name)?;
                println!(
                    "sign in with canvas is off for {name}; its {reset} Canvas user(s) lost their roles and tokens"
                );
                return Ok(Outcome::Success);
            }
            let client_id = client_id
                .ok_or_else(|| CliError::input("give the developer key's --client-id, or --off"))?;
            let stdin = std::io::stdin();
            let mut lines = stdin.lock().lines();
            let secret = read_secret("developer key secret: ", &mut lines)?;
            no_more_lines(&mut lines)?;
            let reset = easel_app::canvas_sign_in::configure(
                home,
                &actor,
                &name,
                &client_id,
                &secret,
                root_admins_are_district_admins,
                root_account,
            )
            .await?;
            if reset > 0 {
                println!(
                    "{reset} Canvas user(s) of the earlier setting lost their roles and tokens: they sign in again"
                );
            }
            println!(
                "sign in with canvas is on for {name} (developer key {}): sub-account admins sign in as contributors for their schools; root-account admins {}",
                client_id.trim(),
                if root_admins_are_district_admins {
                    "as district admins"
                } else {
                    "are refused (--root-admins-are-district-admins lets them in)"
                }
            );
            println!(
                "register exactly <server URL>/auth/canvas/callback (`easel serve` prints it) under the key's Redirect URIs, and leave its legacy Redirect URI empty; people sign in with `easel login --server URL --canvas`"
            );
            Ok(Outcome::Success)
        }
    }
}

/// Read one secret: a line on stdin when it is not a terminal, else a
/// prompt that does not echo. Never from arguments or the environment.
fn read_secret(
    prompt: &str,
    lines: &mut dyn Iterator<Item = std::io::Result<String>>,
) -> Result<SecretString, CliError> {
    let text = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)
            .map_err(|e| CliError::input(format!("cannot read the secret: {e}")))?
    } else {
        lines
            .next()
            .transpose()
            .map_err(|e| {
                CliError::input(format!("cannot read the secret from standard input: {e}"))
            })?
            .unwrap_or_default()
    };
    let what = prompt.trim_end_matches(": ");
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(CliError::input(format!(
            "no secret given ({what}); pipe it on standard input or type it at the prompt"
        )));
    }
    // Common paste mistakes; the messages never echo the secret.
    if trimmed.len() > 7 && trimmed[..7].eq_ignore_ascii_case("bearer ") {
        return Err(CliError::input(format!(
            "the {what} starts with \"Bearer \": give the token alone, easel adds the header"
        )));
    }
    if trimmed.chars().any(char::is_whitespace) {
        return Err(CliError::input(format!(
            "the {what} holds whitespace inside it: paste it again, whole and on one line"
        )));
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

/// Refuse input left over after the secrets: a pasted file or several
/// tokens at once is a mistake, not something to ignore.
fn no_more_lines(lines: &mut dyn Iterator<Item = std::io::Result<String>>) -> Result<(), CliError> {
    if std::io::stdin().is_terminal() {
        return Ok(());
    }
    for line in lines {
        if line.is_ok_and(|l| !l.trim().is_empty()) {
            return Err(CliError::input(
                "standard input holds more lines than the secrets asked for: give one secret per line, nothing else",
            ));
        }
    }
    Ok(())
}

fn read_new_secret(oauth_client_id: Option<String>) -> Result<NewSecret, CliError> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let secret = match oauth_client_id {
        None => NewSecret::User {
            token: read_secret("Canvas access token: ", &mut lines)?,
        },
        Some(client_id) => NewSecret::Oauth2 {
            client_id,
            client_secret: read_secret("developer key secret: ", &mut lines)?,
            refresh_token: read_secret("refresh token: ", &mut lines)?,
        },
    };
    no_more_lines(&mut lines)?;
    Ok(secret)
}

fn print_tokens(list: &[TokenInfo], json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(list).unwrap_or_default());
        return;
    }
    println!(
        "{:<16} {:<10} {:<7} {:<20} {:<21} {:<21} EXPIRES",
        "ID", "INSTANCE", "KIND", "FINGERPRINT", "CREATED", "LAST USED"
    );
    for t in list {
        println!(
            "{:<16} {:<10} {:<7} {:<20} {:<21} {:<21} {}",
            t.id,
            t.instance,
            t.kind,
            t.fingerprint,
            t.created_at.chars().take(20).collect::<String>(),
            t.last_used_at
                .as_deref()
                .unwrap_or("never")
                .chars()
                .take(20)
                .collect::<String>(),
            t.expires_at.as_deref().unwrap_or("never")
        );
    }
}

#[derive(Deserialize)]
struct SelfJson {
    id: u64,
    name: String,
    #[serde(default)]
    login_id: Option<String>,
}

pub(crate) async fn token(
    home: &Home,
    command: TokenCommand,
    connect: &ConnectOptions,
) -> Result<Outcome, CliError> {
    if matches!(command, TokenCommand::List { .. }) {
        // The token inventory (ids, fingerprints, last use), not secrets:
        // for those who read everything.
        crate::local_actor(home)?.require(easel_app::Act::ReadAllRuns)?;
    } else {
        crate::local_actor(home)?.require(easel_app::Act::ManageCredentials)?;
    }
    match command {
        TokenCommand::Add {
            id,
            oauth2_client_id,
            expires_at,
        } => {
            let instance = connect.instance.as_deref().ok_or_else(|| {
                CliError::input("say which instance the token belongs to: --instance <name>")
            })?;
            let Some(row) = choose_instance(home, Some(instance))? else {
                return Err(CliError::input(
                    "the embedded simulator brings its own token; add a real instance first",
                ));
            };
            if let Some(e) = &expires_at {
                time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        CliError::input(format!(
                            "--expires-at {e:?} must be RFC 3339, e.g. 2027-06-30T00:00:00Z"
                        ))
                    })?;
            }
            let secret = read_new_secret(oauth2_client_id)?;
            let info = home
                .vault()?
                .add(&id, &row.name, &secret, expires_at)
                .map_err(vault_err)?;
            home.audit(&AuditEntry {
                instance: Some(info.instance.clone()),
                token: Some(info.fingerprint.clone()),
                detail: Some(format!("token {} ({})", info.id, info.kind)),
                ..AuditEntry::new(crate::local_actor(home)?.audit_name(), Action::TokenAdded)
            })?;
            println!(
                "added token {} for {} ({}, {}); check it with `easel token check {}`",
                info.id, info.instance, info.kind, info.fingerprint, info.id
            );
            Ok(Outcome::Success)
        }
        TokenCommand::List { json } => {
            print_tokens(&home.vault()?.list().map_err(vault_err)?, json);
            Ok(Outcome::Success)
        }
        TokenCommand::Check { id } => {
            let info = home.vault()?.info(&id).map_err(vault_err)?;
            let instance = home
                .store
                .instance(&info.instance)?
                .ok_or_else(|| failed(anyhow::anyhow!("instance {} is gone", info.instance)))?;
            let conn = Connection::to_instance(home, &instance, Some(&id)).await?;
            let me: Option<SelfJson> = conn
                .get_json("token-check", "/api/v1/users/self", &[])
                .await?;
            let me = me.ok_or_else(|| {
                failed(anyhow::anyhow!("Canvas has no /users/self for this token"))
            })?;
            println!(
                "token {id} works on {} ({}): it belongs to {} (user {}{})",
                instance.name,
                instance.url,
                me.name,
                me.id,
                me.login_id
                    .map(|l| format!(", login {l}"))
                    .unwrap_or_default()
            );
            Ok(Outcome::Success)
        }
        TokenCommand::Rotate { id } => {
            let vault = home.vault()?;
            let old = vault.info(&id).map_err(vault_err)?;
            let client_id =
                (old.kind == "oauth2").then(|| old.client_id.clone().unwrap_or_default());
            let secret = read_new_secret(client_id)?;
            let info = vault.rotate(&id, &secret).map_err(vault_err)?;
            home.audit(&AuditEntry {
                instance: Some(info.instance.clone()),
                token: Some(info.fingerprint.clone()),
                detail: Some(format!("token {id}, was {}", old.fingerprint)),
                ..AuditEntry::new(crate::local_actor(home)?.audit_name(), Action::TokenRotated)
            })?;
            println!(
                "rotated token {id}: {} -> {}; grants naming it use the new secret from their next call",
                old.fingerprint, info.fingerprint
            );
            Ok(Outcome::Success)
        }
        TokenCommand::Remove { id, force } => {
            let vault = home.vault()?;
            let info = vault.info(&id).map_err(vault_err)?;
            let using = home.store.approvals_using_token(&id)?;
            if using > 0 && !force {
                return Err(CliError::input(format!(
                    "{using} grant(s) use token {id}: rotate it instead, or remove it with --force, which disables those grants"
                )));
            }
            home.audit(&AuditEntry {
                instance: Some(info.instance.clone()),
                token: Some(info.fingerprint.clone()),
                detail: Some(format!("token {id}; {using} grant(s) disabled")),
                ..AuditEntry::new(crate::local_actor(home)?.audit_name(), Action::TokenRemoved)
            })?;
            let disabled = home.store.disable_approvals_using_token(&id)?;
            home.store.remove_token(&id)?;
            println!(
                "removed token {id}{}",
                if disabled > 0 {
                    format!("; disabled {disabled} grant(s) that used it")
                } else {
                    String::new()
                }
            );
            Ok(Outcome::Success)
        }
    }
}

pub(crate) fn vault(home: &Home, command: VaultCommand) -> Result<Outcome, CliError> {
    crate::local_actor(home)?.require(easel_app::Act::ManageCredentials)?;
    match command {
        VaultCommand::Rekey => {
            let mut v = easel_vault::Vault::open(home.root()).map_err(failed)?;
            // The audit log is keyed by the master key too: it must verify
            // under the old key before it is re-MACed under the new one.
            if let easel_store::Verdict::Broken { seq, reason } = home.audit.verify()? {
                return Err(CliError::Failed(anyhow::anyhow!(
                    "the audit log is broken at record {seq} ({reason}); rekeying would re-MAC it and hide that, so nothing was changed: see `easel audit verify`"
                )));
            }
            let current = v.audit_keys().map_err(failed)?;
            let n = v.rekey().map_err(failed)?;
            let next = v.audit_keys().map_err(failed)?;
            let db = home.root().join("easel.db");
            let remaced = match easel_store::rekey_log(&db, current, &next)? {
                Ok(n) => n,
                Err(verdict) => {
                    return Err(CliError::Failed(anyhow::anyhow!(
                        "the tokens are re-encrypted under the new master key, but the audit log changed while rekeying and was not re-MACed ({verdict:?}); see `easel audit verify`"
                    )));
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
                    "{n} token(s) re-encrypted, {remaced} audit record(s) re-MACed; checkpoint key {}",
                    log.public_key()
                )),
                ..AuditEntry::new(
                    crate::local_actor(home)?.audit_name(),
                    Action::VaultRekeyed,
                )
            })?;
            if let Err(e) = log.checkpoint(easel_store::checkpoint::reason::REKEY) {
                eprintln!("warning: {e}");
            }
            println!(
                "re-encrypted {n} token(s) and re-MACed {remaced} audit record(s) under a new master key in {}; back it up",
                v.key_path().display()
            );
            if let Some(w) = home.audit.witness() {
                println!(
                    "witness lines before this one in {} are signed by the old key: archive that file and start a new witness (easel config set audit-witness ...)",
                    w.display()
                );
            }
            Ok(Outcome::Success)
        }
    }
}
