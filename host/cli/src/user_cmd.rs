//! `easel user`: principals on this data directory. Local commands act as
//! the OS user, who holds the data directory and the master key and so is
//! all-powerful; this is how the first district admin is made.

use easel_app::Role;

use crate::args::UserCommand;
use crate::error::{CliError, Outcome};
use easel_app::Home;

pub(crate) fn command(home: &Home, command: UserCommand) -> Result<Outcome, CliError> {
    let p = home.principals();
    let me = crate::local_actor(home)?;
    match command {
        UserCommand::Add {
            name,
            roles,
            schools,
            json,
        } => {
            if !schools.is_empty() && !roles.iter().any(|r| r.contains("contributor")) {
                return Err(CliError::input(
                    "--school binds a contributor to schools; the other roles reach every school: drop --school, or add --role contributor",
                ));
            }
            let roles = roles
                .iter()
                .map(|r| {
                    let bound = if r.contains("contributor") {
                        &schools[..]
                    } else {
                        &[]
                    };
                    Role::parse(r, bound)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let names: Vec<String> = roles.iter().map(|r| r.name()).collect();
            let new = p.add_user(&me, &name, roles)?;
            if json {
                return crate::json_out(&serde_json::json!({
                    "user": new.name,
                    "roles": names,
                    "schools": schools,
                    "one_time_password": new.password,
                }));
            }
            println!("added {}", new.name);
            println!(
                "one-time password (shown once; change it with `easel user password {}`):",
                new.name
            );
            println!("  {}", new.password);
        }
        UserCommand::List { json } => {
            me.require(easel_app::Act::ManageUsers)?;
            let users = home.store.users()?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&users).map_err(|e| CliError::Failed(e.into()))?
                );
                return Ok(Outcome::Success);
            }
            if users.is_empty() {
                println!("no users yet: `easel user add NAME --role district-admin`");
            }
            for u in users {
                let roles: Vec<Role> = serde_json::from_str(&u.roles).unwrap_or_default();
                println!(
                    "{:<24} {:<40} added {} by {}{}",
                    u.name,
                    roles.iter().map(Role::name).collect::<Vec<_>>().join(", "),
                    u.created_at,
                    u.created_by,
                    if u.disabled_at.is_some() {
                        " (disabled)"
                    } else {
                        ""
                    }
                );
            }
        }
        UserCommand::Password { name, json } => {
            let mut line = String::new();
            eprintln!("new password for {name} (at least 12 characters), then Enter:");
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| CliError::input(format!("cannot read the password: {e}")))?;
            p.set_password(&me, &name, line.trim_end_matches(['\r', '\n']))?;
            if json {
                return crate::json_out(&serde_json::json!({"user": name, "password_set": true}));
            }
            println!("password of {name} set");
        }
        UserCommand::Token {
            name,
            label,
            expires_in_days,
            json,
        } => {
            let valid_for = expires_in_days.map(|d| time::Duration::days(i64::from(d)));
            let t = p.issue_token(&me, &name, &label, valid_for, None)?;
            if json {
                return crate::json_out(&serde_json::json!({
                    "user": name,
                    "id": t.id,
                    "label": label,
                    "expires_at": t.expires_at,
                    "token": t.token,
                }));
            }
            println!(
                "API token {} for {name} ({label}), expires {}; shown once:",
                t.id,
                t.expires_at.as_deref().unwrap_or("never")
            );
            println!("  {}", t.token);
        }
        UserCommand::RevokeToken { id, json } => {
            p.revoke_token(&me, &id)?;
            if json {
                return crate::json_out(&serde_json::json!({"id": id, "revoked": true}));
            }
            println!("API token {id} revoked");
        }
    }
    Ok(Outcome::Success)
}
