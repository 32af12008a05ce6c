//! Sign in with Canvas: who someone is, and which roles they hold, as
//! their Canvas account admin rights say.
//!
//! An instance gets a developer key ([`configure`]); the server sends a
//! person to Canvas's authorization page, and with the code that comes back
//! [`identify`] learns their Canvas user and the accounts they administer
//! (the Canvas token is deleted at once and never stored). [`complete`]
//! maps that to roles ([`roles_for`]: a sub-account admin becomes a school
//! contributor for it; a root-account admin becomes a district admin only
//! if a district admin allowed it) and to an easel user linked to that
//! Canvas user by id, never by name.

use std::sync::Arc;

use easel_canvas::sign_in::{AdminAccount, CanvasIdentity, SignInError};
use easel_store::{Action, AuditEntry, InstanceRow};
use easel_vault::SignInKey;
use secrecy::SecretString;

use crate::error::{AppError, Kind};
use crate::home::Home;
use crate::principal::{Act, Actor, Role, SignIn, fold_name};

/// How long an API token from a Canvas sign-in lasts: roles follow Canvas's
/// admin rights, so they are asked again at least this often.
pub const CANVAS_SESSION_HOURS: i64 = crate::principals::CANVAS_TOKEN_HOURS;

/// Give `instance` a developer key for Sign in with Canvas (replacing any).
/// Roles are read against `root_account` (default: the root account the
/// instance's token administers). Refused for a copy of another instance
/// (its account ids are its original's) and while another instance has
/// sign-in on (roles name bare account ids, so one Canvas maps to them).
/// Users of an earlier setting lose their roles and tokens: they sign in
/// again under this one.
pub async fn configure(
    home: &Home,
    by: &Actor,
    instance: &str,
    client_id: &str,
    client_secret: &SecretString,
    root_admins_are_district_admins: bool,
    root_account: Option<u64>,
) -> Result<usize, AppError> {
    by.require(Act::ManageCredentials)?;
    let row = instance_row(home, instance)?;
    if let Some(original) = &row.copy_of {
        return Err(AppError::invalid(format!(
            "{} is a copy of {original}, with its account ids: turn Sign in with Canvas on for {original}",
            row.name
        )));
    }
    if let Some(other) = home
        .store
        .sign_in_keys()?
        .into_iter()
        .find(|k| k.instance != row.name)
    {
        return Err(AppError::new(
            Kind::Conflict,
            format!(
                "Sign in with Canvas is on for {} already: roles name account ids, which only one Canvas may map to",
                other.instance
            ),
        )
        .hint(format!("`easel instance sign-in {} --off` first", other.instance)));
    }
    let root = match root_account {
        Some(id) => id,
        None => {
            let conn = crate::connection::Connection::to_instance(home, &row, None).await?;
            match conn.root_accounts().await?.as_slice() {
                [id] => *id,
                [] => {
                    return Err(AppError::invalid(format!(
                        "the token of {} administers no root account, so easel cannot tell which is the district's",
                        row.name
                    ))
                    .hint("give it with --root-account ID"));
                }
                many => {
                    return Err(AppError::invalid(format!(
                        "the token of {} administers several root accounts ({many:?})",
                        row.name
                    ))
                    .hint("say which is the district's with --root-account ID"));
                }
            }
        }
    };
    home.vault()?
        .set_sign_in_key(
            &row.name,
            client_id,
            client_secret,
            root_admins_are_district_admins,
            root,
            &by.audit_name(),
        )
        .map_err(|e| AppError::invalid(e.to_string()))?;
    let reset = reset_users(home, &row.name)?;
    home.audit(&AuditEntry {
        instance: Some(row.name.clone()),
        detail: Some(format!(
            "sign in with canvas on {}: developer key {}, root account {root}; root-account admins {}; {reset} earlier Canvas user(s) must sign in again",
            row.name,
            client_id.trim(),
            if root_admins_are_district_admins {
                "sign in as district admins"
            } else {
                "are not district admins"
            }
        )),
        ..AuditEntry::new(by.audit_name(), Action::SettingChanged)
    })?;
    Ok(reset)
}

/// Turn Sign in with Canvas off for `instance`. Users it made stay, with no
/// roles and no live tokens.
pub fn disable(home: &Home, by: &Actor, instance: &str) -> Result<usize, AppError> {
    by.require(Act::ManageCredentials)?;
    let row = instance_row(home, instance)?;
    if !home.store.remove_sign_in_key(&row.name)? {
        return Err(AppError::new(
            Kind::Conflict,
            format!("sign in with canvas is not on for {}", row.name),
        ));
    }
    let reset = reset_users(home, &row.name)?;
    home.audit(&AuditEntry {
        instance: Some(row.name.clone()),
        detail: Some(format!(
            "sign in with canvas on {}: off; {reset} Canvas user(s) lost their roles and tokens",
            row.name
        )),
        ..AuditEntry::new(by.audit_name(), Action::SettingChanged)
    })?;
    Ok(reset)
}

/// Take every role and live token from the users Canvas users of
/// `instance` signed in as; how many users.
fn reset_users(home: &Home, instance: &str) -> Result<usize, AppError> {
    let users = home.store.canvas_users(instance)?;
    for name in &users {
        home.store.set_user_roles(name, "[]")?;
        home.store.revoke_user_tokens(name)?;
    }
    Ok(users.len())
}

fn instance_row(home: &Home, instance: &str) -> Result<InstanceRow, AppError> {
    home.store.instance(instance)?.ok_or_else(|| {
        AppError::new(Kind::NotFound, format!("no instance {instance:?}"))
            .hint("see `easel instance list`")
    })
}

/// The instances a person may sign in with: (name, origin), by name.
pub fn instances(home: &Home) -> Result<Vec<(String, String)>, AppError> {
    let mut out = Vec::new();
    for key in home.store.sign_in_keys()? {
        if let Some(i) = home.store.instance(&key.instance)? {
            out.push((i.name, i.url));
        }
    }
    Ok(out)
}

/// `instance`'s origin and developer key, or why it has none.
pub fn key_for(home: &Home, instance: &str) -> Result<(InstanceRow, SignInKey), AppError> {
    let row = instance_row(home, instance)?;
    let key = home
        .vault()?
        .sign_in_key(&row.name)
        .map_err(|e| AppError::new(Kind::Internal, e.to_string()))?
        .ok_or_else(|| {
            AppError::new(
                Kind::NotFound,
                format!("sign in with canvas is not on for {}", row.name),
            )
            .hint(format!(
                "a district admin turns it on with `easel instance sign-in {} --client-id ID`",
                row.name
            ))
        })?;
    Ok((row, key))
}

/// Ask Canvas (at `origin`, through `key`) who the code belongs to.
pub async fn identify(
    origin: &str,
    key: &SignInKey,
    code: &str,
    redirect_uri: &str,
) -> Result<CanvasIdentity, AppError> {
    let transport: Arc<dyn easel_canvas::Transport> = Arc::new(
        easel_canvas::ReqwestTransport::new(std::time::Duration::from_secs(30))
            .map_err(|e| AppError::new(Kind::Internal, e.to_string()))?,
    );
    easel_canvas::sign_in::identify(origin, transport, &key.key, code, redirect_uri)
        .await
        .map_err(|e| match e {
            SignInError::Refused(_) => AppError::forbidden(e.to_string())
                .hint("start the sign-in again: a code is good once, for ten minutes"),
            SignInError::Upstream(_) => AppError::new(Kind::Upstream, e.to_string()),
        })
}

/// The roles Canvas's admin rights map to, or why they map to none. Only
/// the instance's root account `root` and its direct sub-accounts (its
/// schools) count: an account of another root, or deeper down, maps to
/// nothing.
pub fn roles_for(
    admin_of: &[AdminAccount],
    root: u64,
    root_admins_are_district_admins: bool,
) -> Result<Vec<Role>, String> {
    let is_root = admin_of
        .iter()
        .any(|a| a.id == root && a.parent_account_id.is_none() && a.root_account_id.is_none());
    if is_root && root_admins_are_district_admins {
        return Ok(vec![Role::DistrictAdmin]);
    }
    let mut schools: Vec<u64> = admin_of
        .iter()
        .filter(|a| a.parent_account_id == Some(root) && a.root_account_id == Some(root))
        .map(|a| a.id)
        .collect();
    schools.sort_unstable();
    schools.dedup();
    if !schools.is_empty() {
        return Ok(vec![Role::SchoolContributor { schools }]);
    }
    if is_root {
        return Err("administers the root account, but district admins have not let root-account admins sign in as district admins".into());
    }
    Err("administers none of this district's schools in Canvas, and easel's roles from Canvas come from a school's admin rights".into())
}

/// The easel user a Canvas identity signs in as, with the roles its admin
/// rights map to now (a user made by an earlier sign-in takes them over).
pub fn complete(
    home: &Home,
    instance: &str,
    key: &SignInKey,
    who: &CanvasIdentity,
    address: &str,
) -> Result<Actor, AppError> {
    let canvas_user = format!("canvas user {} on {instance}", who.user_id);
    let root = key.root_account_id.ok_or_else(|| {
        AppError::new(
            Kind::Conflict,
            format!(
                "the sign-in key of {instance} does not say which root account is the district's"
            ),
        )
        .hint(format!(
            "a district admin sets it again with `easel instance sign-in {instance} --client-id ID`"
        ))
    })?;
    let roles = match roles_for(&who.admin_of, root, key.root_admins_are_district_admins) {
        Ok(roles) => roles,
        Err(why) => {
            // Someone who signed in before holds nothing now.
            if let Some(name) = home.store.canvas_identity(instance, who.user_id)? {
                home.store.set_user_roles(&name, "[]")?;
                home.store.revoke_user_tokens(&name)?;
            }
            home.audit(&AuditEntry {
                instance: Some(instance.to_owned()),
                detail: Some(format!("from {address}: {canvas_user} {why}")),
                ..AuditEntry::new(canvas_user.clone(), Action::SignInFailed)
            })?;
            let root_admin = who
                .admin_of
                .iter()
                .any(|a| Some(a.id) == key.root_account_id);
            return Err(
                AppError::forbidden(format!("{} ({canvas_user}) {why}", who.name)).hint(if root_admin {
                    "a district admin can let root-account admins in with `easel instance sign-in … --root-admins-are-district-admins`"
                } else {
                    "sign-in with Canvas is for admins of a school's account; ask a district admin for an easel user (`easel user add`)"
                }),
            );
        }
    };
    let roles_json =
        serde_json::to_string(&roles).map_err(|e| AppError::new(Kind::Internal, e.to_string()))?;
    let name = match home.store.canvas_identity(instance, who.user_id)? {
        Some(name) => {
            let user = home
                .store
                .user(&name)?
                .filter(|u| u.disabled_at.is_none())
                .ok_or_else(|| {
                    AppError::forbidden(format!("easel user {name} ({canvas_user}) is disabled"))
                })?;
            if user.roles != roles_json {
                home.store.set_user_roles(&name, &roles_json)?;
            }
            name
        }
        None => {
            let name = new_name(home, instance, who)?;
            home.store
                .add_canvas_user(instance, who.user_id, &name, &roles_json)?;
            home.audit(&AuditEntry {
                instance: Some(instance.to_owned()),
                detail: Some(format!(
                    "user {name} for {canvas_user} ({})",
                    role_names(&roles)
                )),
                ..AuditEntry::new(format!("{name} (canvas)"), Action::UserAdded)
            })?;
            name
        }
    };
    home.audit(&AuditEntry {
        instance: Some(instance.to_owned()),
        detail: Some(format!(
            "from {address}: {canvas_user} as {name} ({}){}",
            role_names(&roles),
            if who.token_deleted {
                ""
            } else {
                "; Canvas did not confirm the deletion of its token"
            }
        )),
        ..AuditEntry::new(format!("{name} (canvas)"), Action::SignedInWithCanvas)
    })?;
    Ok(Actor {
        name,
        roles,
        via: SignIn::Canvas,
    })
}

fn role_names(roles: &[Role]) -> String {
    roles.iter().map(Role::name).collect::<Vec<_>>().join(", ")
}

/// A name for a Canvas user's new easel user: their login id if easel can
/// take it and no one has it, else `canvas-<instance>-<user id>`.
fn new_name(home: &Home, instance: &str, who: &CanvasIdentity) -> Result<String, AppError> {
    if let Some(login) = who.login_id.as_deref().and_then(|l| fold_name(l).ok())
        && !login.starts_with("canvas-")
        && home.store.user(&login)?.is_none()
    {
        return Ok(login);
    }
    let fallback = fold_name(&format!("canvas-{instance}-{}", who.user_id))?;
    if home.store.user(&fallback)?.is_some() {
        return Err(AppError::new(
            Kind::Conflict,
            format!(
                "the easel user {fallback} exists and is not canvas user {} on {instance}",
                who.user_id
            ),
        )
        .hint("a district admin renames or removes that user"));
    }
    Ok(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: u64, parent: Option<u64>) -> AdminAccount {
        AdminAccount {
            id,
            name: format!("a{id}"),
            parent_account_id: parent,
            root_account_id: parent.map(|_| 1),
        }
    }

    fn of_root(id: u64, parent: Option<u64>, root: Option<u64>) -> AdminAccount {
        AdminAccount {
            id,
            name: format!("a{id}"),
            parent_account_id: parent,
            root_account_id: root,
        }
    }

    #[test]
    fn admin_rights_map_to_roles_as_the_table_says() {
        let school = |ids: &[u64]| {
            Ok(vec![Role::SchoolContributor {
                schools: ids.to_vec(),
            }])
        };
        type Case<'a> = (&'a [AdminAccount], bool, Result<Vec<Role>, ()>);
        let cases: &[Case<'_>] = &[
            // A sub-account admin contributes to that school.
            (&[account(2, Some(1))], false, school(&[2])),
            (&[account(2, Some(1))], true, school(&[2])),
            // Several, deduplicated and sorted.
            (
                &[
                    account(5, Some(1)),
                    account(2, Some(1)),
                    account(5, Some(1)),
                ],
                false,
                school(&[2, 5]),
            ),
            // A root admin is a district admin only when allowed.
            (&[account(1, None)], true, Ok(vec![Role::DistrictAdmin])),
            (&[account(1, None)], false, Err(())),
            // Not allowed: what else they administer is what they get.
            (
                &[account(1, None), account(3, Some(1))],
                false,
                school(&[3]),
            ),
            (
                &[account(1, None), account(3, Some(1))],
                true,
                Ok(vec![Role::DistrictAdmin]),
            ),
            // No admin rights: no roles.
            (&[], true, Err(())),
            // Another root's accounts, and accounts below a school, are
            // nothing here.
            (&[of_root(9, None, None)], true, Err(())),
            (&[of_root(12, Some(9), Some(9))], true, Err(())),
            (&[of_root(30, Some(2), Some(1))], true, Err(())),
            // A "root" that names a root of its own is no root.
            (&[of_root(1, None, Some(7))], true, Err(())),
        ];
        for (accounts, allowed, want) in cases {
            let got = roles_for(accounts, 1, *allowed).map_err(|_| ());
            assert_eq!(&got, want, "{accounts:?} allowed={allowed}");
        }
    }
}
