//! `easel instance ...`, `easel token ...`, `easel vault rekey`.

use std::io::{BufRead, IsTerminal};

use easel_vault::{NewSecret, TokenInfo};
use secrecy::SecretString;

use crate::args::{InstanceCommand, TokenCommand, VaultCommand};
use crate::error::{CliError, Outcome};
use crate::say;
use easel_app::Home;
use easel_app::credentials;
use easel_app::{ConnectOptions, SIM_INSTANCE};

pub(crate) async fn instance(home: &Home, command: InstanceCommand) -> Result<Outcome, CliError> {
    let me = crate::local_actor(home)?;
    match command {
        InstanceCommand::Add {
            name,
            url,
            copy_of,
            json,
        } => {
            let row = credentials::add_instance(home, &me, &name, &url, copy_of.as_deref())?;
            say(json, instance_json(&row), || match &row.copy_of {
                Some(c) => println!(
                    "added instance {} at {}, a copy of {c} (its tokens work here)",
                    row.name, row.url
                ),
                None => println!(
                    "added instance {} at {}; next: `easel token add <id> --instance {}`",
                    row.name, row.url, row.name
                ),
            })
        }
        InstanceCommand::List { json } => {
            let list = credentials::instances(home, &me)?;
            if json {
                let v: Vec<_> = list.iter().map(instance_json).collect();
                return crate::json_out(&v);
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
        InstanceCommand::Remove { name, json } => {
            credentials::remove_instance(home, &me, &name)?;
            say(
                json,
                serde_json::json!({"instance": name, "removed": true}),
                || println!("removed instance {name}"),
            )
        }
        InstanceCommand::SignIn {
            name,
            client_id,
            root_admins_are_district_admins,
            root_account,
            off,
            json,
        } => {
            let actor = me;
            if off {
                let reset = easel_app::canvas_sign_in::disable(home, &actor, &name)?;
                return say(
                    json,
                    serde_json::json!({"instance": name, "sign_in_with_canvas": false, "users_reset": reset}),
                    || {
                        println!(
                            "sign in with canvas is off for {name}; its {reset} Canvas user(s) lost their roles and tokens"
                        )
                    },
                );
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
            if json {
                return crate::json_out(&serde_json::json!({
                    "instance": name,
                    "sign_in_with_canvas": true,
                    "client_id": client_id.trim(),
                    "root_admins_are_district_admins": root_admins_are_district_admins,
                    "root_account": root_account,
                    "users_reset": reset,
                    "redirect_path": "/auth/canvas/callback",
                }));
            }
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

/// An instance as `--json` shows it.
fn instance_json(i: &easel_store::InstanceRow) -> serde_json::Value {
    serde_json::json!({"name": i.name, "url": i.url, "copy_of": i.copy_of, "created_at": i.created_at})
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

fn print_tokens(list: &[TokenInfo], json: bool) -> Result<Outcome, CliError> {
    if json {
        return crate::json_out(&list);
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
    Ok(Outcome::Success)
}

pub(crate) async fn token(
    home: &Home,
    command: TokenCommand,
    connect: &ConnectOptions,
) -> Result<Outcome, CliError> {
    let me = crate::local_actor(home)?;
    match command {
        TokenCommand::Add {
            id,
            oauth2_client_id,
            expires_at,
            no_verify,
            json,
        } => {
            let instance = connect.instance.as_deref().ok_or_else(|| {
                CliError::input("say which instance the token belongs to: --instance <name>")
            })?;
            // Who may, where, until when: before a secret is asked for.
            credentials::check_new_token(home, &me, instance, expires_at.as_deref())?;
            let secret = read_new_secret(oauth2_client_id)?;
            if no_verify {
                let info = credentials::add_token(home, &me, &id, instance, &secret, expires_at)?;
                return say(
                    json,
                    serde_json::json!({"token": info, "verified": false, "owner": null}),
                    || {
                        println!(
                            "added token {} for {} ({}, {}), not verified; check it with `easel token check {}`",
                            info.id, info.instance, info.kind, info.fingerprint, info.id
                        )
                    },
                );
            }
            let (info, owner) =
                credentials::add_verified_token(home, &me, &id, instance, &secret, expires_at)
                    .await?;
            say(
                json,
                serde_json::json!({"token": info, "verified": true, "owner": owner}),
                || {
                    println!(
                        "added token {} for {} ({}, {}): it belongs to {} (user {})",
                        info.id, info.instance, info.kind, info.fingerprint, owner.name, owner.id
                    )
                },
            )
        }
        TokenCommand::List { json } => print_tokens(&credentials::tokens(home, &me)?, json),
        TokenCommand::Check { id, json } => {
            let (instance, owner) = credentials::check_token(home, &me, &id).await?;
            if json {
                return crate::json_out(&serde_json::json!({
                    "token": id,
                    "works": true,
                    "instance": {"name": instance.name, "url": instance.url},
                    "owner": owner,
                }));
            }
            println!(
                "token {id} works on {} ({}): it belongs to {} (user {}{})",
                instance.name,
                instance.url,
                owner.name,
                owner.id,
                owner
                    .login_id
                    .map(|l| format!(", login {l}"))
                    .unwrap_or_default()
            );
            Ok(Outcome::Success)
        }
        TokenCommand::Rotate { id, json } => {
            let old = credentials::token(home, &me, &id)?;
            let client_id =
                (old.kind == "oauth2").then(|| old.client_id.clone().unwrap_or_default());
            let secret = read_new_secret(client_id)?;
            let (was, info) = credentials::rotate_token(home, &me, &id, &secret)?;
            say(
                json,
                serde_json::json!({"token": info, "previous_fingerprint": was}),
                || {
                    println!(
                        "rotated token {id}: {was} -> {}; grants naming it use the new secret from their next call",
                        info.fingerprint
                    )
                },
            )
        }
        TokenCommand::Remove { id, force, json } => {
            let disabled = credentials::remove_token(home, &me, &id, force)?;
            say(
                json,
                serde_json::json!({"token": id, "removed": true, "grants_disabled": disabled}),
                || {
                    println!(
                        "removed token {id}{}",
                        if disabled > 0 {
                            format!("; disabled {disabled} grant(s) that used it")
                        } else {
                            String::new()
                        }
                    )
                },
            )
        }
    }
}

/// `easel vault reset --forget-tokens`, on a data directory whose master
/// key is lost: as the OS user who holds it.
pub(crate) fn vault_reset(
    root: &std::path::Path,
    forget_tokens: bool,
    json: bool,
) -> Result<Outcome, CliError> {
    if !forget_tokens {
        return Err(CliError::input(
            "vault reset replaces the master key and forgets every stored Canvas token and sign-in key for good: \
             say so with --forget-tokens (if the key file was only moved, put it back instead)",
        ));
    }
    if std::env::var_os("EASEL_API_TOKEN").is_some_and(|t| !t.is_empty()) {
        return Err(CliError::input(
            "vault reset is for the OS user who holds the data directory: unset EASEL_API_TOKEN",
        ));
    }
    let me = easel_app::process::local_actor();
    let r = credentials::reset_vault(root, &me)?;
    // A first checkpoint under the new key.
    if let Ok(home) = Home::open(Some(root.to_path_buf())) {
        home.checkpoint(easel_store::checkpoint::reason::MANUAL);
    }
    if json {
        return crate::json_out(&serde_json::json!({
            "key_path": r.key_path,
            "tokens_forgotten": r.tokens,
            "sign_in_keys_forgotten": r.sign_in_keys,
            "old_key_kept_as": r.old_key,
        }));
    }
    println!(
        "a new master key is in {}; back it up. Forgot {} token(s) and {} sign-in key(s): add them again with `easel --instance NAME token add ID` (grants naming a token id work again once it is back).",
        r.key_path.display(),
        r.tokens,
        r.sign_in_keys
    );
    if let Some(old) = r.old_key {
        println!("the key file that was there is kept as {}", old.display());
    }
    println!(
        "plugins, approvals, runs, users and the audit log are kept; `easel audit verify` checks the records before the reset for order only (their key is lost)."
    );
    Ok(Outcome::Success)
}

pub(crate) fn vault(home: &Home, command: VaultCommand) -> Result<Outcome, CliError> {
    let me = crate::local_actor(home)?;
    match command {
        VaultCommand::Reset { .. } => Err(CliError::input("vault reset runs on its own")),
        VaultCommand::Rekey { json } => {
            let r = credentials::rekey(home, &me)?;
            if json {
                return crate::json_out(&serde_json::json!({
                    "tokens": r.tokens,
                    "audit_records": r.records,
                    "key_path": r.key_path,
                    "witness_to_archive": r.witness,
                }));
            }
            println!(
                "re-encrypted {} token(s) and re-MACed {} audit record(s) under a new master key in {}; back it up",
                r.tokens,
                r.records,
                r.key_path.display()
            );
            if let Some(w) = r.witness {
                println!(
                    "witness lines before this one in {} are signed by the old key: archive that file and start a new witness (easel config set audit-witness ...)",
                    w.display()
                );
            }
            Ok(Outcome::Success)
        }
    }
}
