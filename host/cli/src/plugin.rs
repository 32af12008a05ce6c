//! `easel plugin add | list | inspect | approve`.

use std::path::Path;

use anyhow::Context as _;
use easel_policy::{Manifest, Scope};
use easel_runtime::LoadError;
use easel_store::{Action, ApprovalRow, AuditEntry, GrantTerms, PluginRow, now};
use sha2::{Digest, Sha256};

use crate::args::{ConfigCommand, PluginCommand};
use crate::connect::{ConnectOptions, Connection};
use crate::error::{CliError, Outcome};
use crate::home::{AUDIT_WITNESS, Home};

pub(crate) async fn dispatch(
    home: &Home,
    command: PluginCommand,
    connect: &ConnectOptions,
) -> Result<Outcome, CliError> {
    match command {
        PluginCommand::Add {
            component,
            manifest,
            by,
            json,
        } => {
            let bytes = std::fs::read(&component).map_err(|e| {
                CliError::input(format!(
                    "cannot read {}: {e}; give the path of the plugin's .wasm (cargo build --release --target wasm32-wasip2)",
                    component.display()
                ))
            })?;
            let text = std::fs::read_to_string(&manifest).map_err(|e| {
                CliError::input(format!(
                    "cannot read manifest {}: {e}; every plugin ships an easel.toml",
                    manifest.display()
                ))
            })?;
            let row = add(home, &bytes, &text, &label(&component), &who(by))?;
            if json {
                println!(
                    "{:#}",
                    serde_json::json!({"id": row.id, "version": row.version, "digest": row.digest,
                        "size": row.size, "added_by": row.added_by, "added_at": row.added_at})
                );
                return Ok(Outcome::Success);
            }
            println!(
                "added {} {} (sha256 {})\nnext: review it with `easel plugin inspect {}`, then `easel plugin approve {} --school <account>`",
                row.id,
                row.version,
                &row.digest[..16],
                row.id,
                row.id
            );
            Ok(Outcome::Success)
        }
        PluginCommand::List { json } => list(home, json),
        PluginCommand::Check {
            manifest,
            component,
        } => check(home, &manifest, component.as_deref()),
        PluginCommand::Inspect { plugin, json } => inspect(home, &plugin, json),
        PluginCommand::Revoke {
            plugin,
            schools,
            by,
            json,
        } => {
            let by = who(by);
            let live = home.store.live_schools(&plugin, &schools)?;
            if live.is_empty() {
                return Err(CliError::input(format!(
                    "{plugin} has no live approval{}: see `easel plugin list`",
                    if schools.is_empty() {
                        String::new()
                    } else {
                        " for those schools".into()
                    }
                )));
            }
            for school in &live {
                home.audit(&AuditEntry {
                    school: Some(*school),
                    plugin: Some(plugin.clone()),
                    ..AuditEntry::new(format!("admin:{by}"), Action::PluginRevoked)
                })?;
            }
            let revoked = home.store.revoke(&plugin, &schools)?;
            if json {
                println!(
                    "{:#}",
                    serde_json::json!({"plugin": plugin, "revoked_schools": revoked})
                );
                return Ok(Outcome::Success);
            }
            let list: Vec<String> = revoked.iter().map(u64::to_string).collect();
            println!(
                "revoked {plugin} for school(s) {}; its next runs are refused",
                list.join(", ")
            );
            Ok(Outcome::Success)
        }
        PluginCommand::Approve {
            plugin,
            mut schools,
            all_schools,
            read_only,
            by,
            allow_downgrade,
            grant,
            scopes,
            masquerade,
            dry_run_only,
            max_calls,
            max_writes,
            runs_per_day,
            expires_at,
            shared_users,
            sis_import,
            json,
        } => {
            let mut terms = terms_from(
                grant.as_deref(),
                scopes,
                masquerade,
                dry_run_only,
                max_calls,
                max_writes,
                runs_per_day,
                expires_at,
            )?;
            terms.shared_users = shared_users.or(terms.shared_users);
            terms.sis_import |= sis_import;
            let conn = Connection::open(home, connect).await?;
            if all_schools {
                schools = conn.schools().await?.iter().map(|s| s.id).collect();
                if schools.is_empty() {
                    return Err(CliError::input(
                        "the root account has no sub-accounts to approve for: see `easel schools`",
                    ));
                }
                if !json {
                    println!("approving for all {} school(s)", schools.len());
                }
            } else {
                for school in &schools {
                    conn.school("approve", *school).await?;
                }
            }
            let target = Target {
                instance: conn.token_id.as_ref().map(|_| conn.instance.clone()),
                token_id: conn.token_id.clone(),
            };
            let options = ApproveOptions {
                write: !read_only,
                target,
                allow_downgrade,
                terms,
            };
            let rows = approve_with(home, &plugin, &schools, &who(by), &options)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).map_err(|e| CliError::Failed(e.into()))?
                );
                return Ok(Outcome::Success);
            }
            for a in rows {
                println!(
                    "approved {}@{} for school {} ({}) by {}{}",
                    a.plugin_id,
                    &a.digest[..12],
                    a.school,
                    if a.write {
                        "read and write"
                    } else {
                        "read only"
                    },
                    a.approved_by,
                    match (&a.instance, &a.token_id) {
                        (Some(i), Some(t)) => format!(", runs on {i} with token {t}"),
                        _ => ", runs on the embedded simulator".to_owned(),
                    }
                );
                if let Some(second) = &a.second_by {
                    println!("  second approval by {second}: the write grant is live");
                }
                if a.terms.sis_import {
                    let namespace = crate::connect::namespace_instance(home, &conn.instance)?;
                    if home.store.sis_prefix(&namespace, a.school)?.is_none() {
                        println!(
                            "  school {} has no SIS-id prefix: its SIS imports may update its own objects but create none; \
                             set one with `easel schools sis-prefix {} PREFIX`",
                            a.school, a.school
                        );
                    }
                }
                if a.awaiting_second {
                    println!(
                        "  write grants need two admins here: it runs once another admin approves it too: `easel plugin approve {}@{} --school {} --by <admin>`",
                        a.plugin_id,
                        &a.digest[..12],
                        a.school
                    );
                }
            }
            Ok(Outcome::Success)
        }
    }
}

fn label(path: &Path) -> String {
    path.display().to_string()
}

/// `--by`, else `$USER`, else `admin`.
pub(crate) fn who(by: Option<String>) -> String {
    by.or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "admin".to_owned())
}

/// Check a component and its manifest, store both, and record the version.
pub fn add(
    home: &Home,
    bytes: &[u8],
    manifest_text: &str,
    label: &str,
    by: &str,
) -> Result<PluginRow, CliError> {
    let manifest = Manifest::parse(manifest_text).map_err(|e| CliError::input(e.to_string()))?;
    let runtime = home.runtime()?;
    let loaded = runtime.load(bytes, label).map_err(|e| match e {
        e @ (LoadError::NotAComponent(_)
        | LoadError::Invalid(_)
        | LoadError::UnsupportedImports(_)
        | LoadError::WrongWorld { .. }) => CliError::input(format!("refusing {label}: {e}")),
        e => CliError::Failed(e.into()),
    })?;
    if loaded.info.imports_write() && !manifest.requests_write() {
        return Err(CliError::input(format!(
            "refusing {label}: the component imports easel:canvas/write but its manifest does not request write access; set `write = true` under [capabilities]"
        )));
    }
    home.save_component(&loaded.info.digest, bytes)?;
    let row = PluginRow {
        digest: loaded.info.digest.clone(),
        id: manifest.id.clone(),
        version: manifest.version.clone(),
        manifest: manifest_text.to_owned(),
        manifest_digest: hex::encode(Sha256::digest(manifest_text.as_bytes())),
        size: bytes.len() as u64,
        added_at: now(),
        added_by: by.to_owned(),
    };
    home.audit(&AuditEntry {
        plugin: Some(row.id.clone()),
        digest: Some(row.digest.clone()),
        detail: Some(format!(
            "version {}, {} bytes, manifest sha256 {}",
            row.version, row.size, row.manifest_digest
        )),
        ..AuditEntry::new(format!("contributor:{by}"), Action::PluginSubmitted)
    })?;
    home.store.add_plugin(&row)?;
    Ok(row)
}

fn find(home: &Home, name: &str) -> Result<PluginRow, CliError> {
    home.store.find_plugin(name)?.ok_or_else(|| {
        CliError::input(format!(
            "no plugin {name:?}: see `easel plugin list`, or add it with `easel plugin add`"
        ))
    })
}

/// `easel config`.
pub(crate) fn config(home: &Home, command: ConfigCommand) -> Result<Outcome, CliError> {
    match command {
        ConfigCommand::Show { json: true } => {
            let settings = serde_json::json!({
                WRITE_APPROVERS: home.store.setting(WRITE_APPROVERS)?.unwrap_or_else(|| "1".into()),
                crate::run::PLAN_EXPIRY_HOURS: home.store.setting(crate::run::PLAN_EXPIRY_HOURS)?
                    .unwrap_or_else(|| crate::run::DEFAULT_PLAN_EXPIRY_HOURS.to_string()),
                AUDIT_WITNESS: home.audit.witness().map(|p| p.display().to_string()),
            });
            println!("{settings:#}");
        }
        ConfigCommand::Show { json: false } => {
            let approvers = home.store.setting(WRITE_APPROVERS)?;
            println!(
                "{WRITE_APPROVERS} = {} (admins who approve a grant with write access)",
                approvers.as_deref().unwrap_or("1")
            );
            println!(
                "{} = {} (hours a dry run's plan may wait to be applied)",
                crate::run::PLAN_EXPIRY_HOURS,
                home.store
                    .setting(crate::run::PLAN_EXPIRY_HOURS)?
                    .unwrap_or_else(|| crate::run::DEFAULT_PLAN_EXPIRY_HOURS.to_string())
            );
            let witness = home.store.setting(AUDIT_WITNESS)?;
            println!(
                "{AUDIT_WITNESS} = {} (where audit checkpoints are also written{})",
                home.audit
                    .witness()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                if witness.is_none() {
                    "; the default, beside the database: move it"
                } else {
                    ""
                }
            );
        }
        ConfigCommand::Set { key, value, by } => {
            let value = match key.as_str() {
                WRITE_APPROVERS => {
                    if !matches!(value.as_str(), "1" | "2") {
                        return Err(CliError::input(format!(
                            "{WRITE_APPROVERS} is 1 or 2, not {value:?}"
                        )));
                    }
                    value
                }
                AUDIT_WITNESS => witness_setting(&value)?,
                crate::run::PLAN_EXPIRY_HOURS => match value.parse::<u64>() {
                    Ok(h) if (1..=24 * 365).contains(&h) => h.to_string(),
                    _ => {
                        return Err(CliError::input(format!(
                            "{} is a whole number of hours from 1 to 8760, not {value:?}",
                            crate::run::PLAN_EXPIRY_HOURS
                        )));
                    }
                },
                _ => {
                    return Err(CliError::input(format!(
                        "unknown setting {key:?}: the settings are {WRITE_APPROVERS}, {AUDIT_WITNESS} and {}",
                        crate::run::PLAN_EXPIRY_HOURS
                    )));
                }
            };
            home.audit(&AuditEntry {
                detail: Some(format!("setting {key} = {value}")),
                ..AuditEntry::new(format!("admin:{}", who(by.clone())), Action::SettingChanged)
            })?;
            home.store.set_setting(&key, &value)?;
            println!("{key} = {value}");
            if key == AUDIT_WITNESS {
                println!(
                    "checkpoints from now on are appended there; keep the old witness file for `easel audit verify --witness`"
                );
            }
        }
    }
    Ok(Outcome::Success)
}

/// An absolute path to a witness file easel can append to (created if
/// missing).
fn witness_setting(value: &str) -> Result<String, CliError> {
    let path = std::path::absolute(value)
        .map_err(|e| CliError::input(format!("{AUDIT_WITNESS} {value:?}: {e}")))?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| {
            CliError::input(format!(
                "{AUDIT_WITNESS}: cannot append to {}: {e}",
                path.display()
            ))
        })?;
    Ok(path.display().to_string())
}

/// The setting that makes write grants need two admins (`1` or `2`).
pub const WRITE_APPROVERS: &str = "write-approvers";

/// Where approved runs go: an instance and the token they use (`None`:
/// the embedded simulator).
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// Instance name.
    pub instance: Option<String>,
    /// Token id.
    pub token_id: Option<String>,
}

/// Approve the plugin's newest (or named) version for each school, against
/// the embedded simulator.
pub fn approve(
    home: &Home,
    name: &str,
    schools: &[u64],
    write: bool,
    by: &str,
) -> Result<Vec<ApprovalRow>, CliError> {
    approve_on(home, name, schools, write, by, &Target::default())
}

/// Approve for each school, with runs going to `target`.
pub fn approve_on(
    home: &Home,
    name: &str,
    schools: &[u64],
    write: bool,
    by: &str,
    target: &Target,
) -> Result<Vec<ApprovalRow>, CliError> {
    let options = ApproveOptions {
        write,
        target: target.clone(),
        allow_downgrade: false,
        terms: GrantTerms::default(),
    };
    approve_with(home, name, schools, by, &options)
}

/// What an approval grants beyond the schools.
#[derive(Debug, Clone, Default)]
pub struct ApproveOptions {
    /// Grant write access (if the manifest requests it).
    pub write: bool,
    /// Where runs go.
    pub target: Target,
    /// Approving an older version than one already approved is intended.
    pub allow_downgrade: bool,
    /// The grant's other terms.
    pub terms: GrantTerms,
}

/// Read `--grant FILE` and apply the flags over it.
#[allow(clippy::too_many_arguments)]
fn terms_from(
    file: Option<&Path>,
    scopes: Vec<String>,
    masquerade: bool,
    dry_run_only: bool,
    max_calls: Option<u32>,
    max_writes: Option<u32>,
    runs_per_day: Option<u32>,
    expires_at: Option<String>,
) -> Result<GrantTerms, CliError> {
    let mut t = match file {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .map_err(|e| CliError::input(format!("cannot read {}: {e}", f.display())))?;
            toml::from_str::<GrantTerms>(&text).map_err(|e| {
                CliError::input(format!(
                    "{} is not a valid grant: {}",
                    f.display(),
                    e.to_string().trim()
                ))
            })?
        }
        None => GrantTerms::default(),
    };
    if !scopes.is_empty() {
        t.scopes = Some(scopes);
    }
    t.masquerade |= masquerade;
    t.dry_run_only |= dry_run_only;
    t.max_calls = max_calls.or(t.max_calls);
    t.max_writes = max_writes.or(t.max_writes);
    t.runs_per_day = runs_per_day.or(t.runs_per_day);
    t.expires_at = expires_at.or(t.expires_at);
    Ok(t)
}

/// Check a grant's terms against what the manifest requests: the grant
/// may narrow the request, never widen it.
fn check_terms(manifest: &Manifest, t: &GrantTerms) -> Result<(), CliError> {
    if let Some(scopes) = &t.scopes {
        let requested: Vec<String> = manifest.scopes.iter().map(ToString::to_string).collect();
        for s in scopes {
            let parsed = Scope::parse(s).map_err(|e| CliError::input(e.to_string()))?;
            if !requested.contains(&parsed.to_string()) {
                return Err(CliError::input(format!(
                    "{} does not request scope {s}; it requests: {}",
                    manifest.id,
                    if requested.is_empty() {
                        "no scope list".to_owned()
                    } else {
                        requested.join(", ")
                    }
                )));
            }
        }
    }
    if let Some(v) = &t.shared_users
        && !matches!(v.as_str(), "deny" | "read")
    {
        return Err(CliError::input(format!(
            "shared_users must be \"deny\" or \"read\" (got {v:?})"
        )));
    }
    if t.masquerade && !manifest.masquerade {
        return Err(CliError::input(format!(
            "{} does not ask to masquerade; its manifest would need masquerade = true",
            manifest.id
        )));
    }
    if t.sis_import && !manifest.sis_import {
        return Err(CliError::input(format!(
            "{} does not ask to send SIS imports; its manifest would need sis_import = true",
            manifest.id
        )));
    }
    if let Some(n) = t.max_calls
        && n > manifest.max_calls
    {
        return Err(CliError::input(format!(
            "--max-calls {n} is more than the {} calls {} requests",
            manifest.max_calls, manifest.id
        )));
    }
    if let Some(e) = &t.expires_at {
        time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339).map_err(
            |_| {
                CliError::input(format!(
                    "expires_at {e:?} must be RFC 3339, e.g. 2027-06-30T00:00:00Z"
                ))
            },
        )?;
    }
    Ok(())
}

/// [`approve_on`], saying whether approving an older version than one
/// already approved (a downgrade) is intended.
pub fn approve_with(
    home: &Home,
    name: &str,
    schools: &[u64],
    by: &str,
    options: &ApproveOptions,
) -> Result<Vec<ApprovalRow>, CliError> {
    let ApproveOptions {
        write,
        target,
        allow_downgrade,
        terms,
    } = options;
    let (write, allow_downgrade) = (*write, *allow_downgrade);
    let row = find(home, name)?;
    if row.added_by == by {
        return Err(CliError::input(format!(
            "{by} submitted {}@{} and cannot approve it too: another admin approves it (--by names who)",
            row.id,
            &row.digest[..12]
        )));
    }
    if !allow_downgrade && let Some(newer) = home.store.newer_version_approved(&row.digest)? {
        return Err(CliError::input(format!(
            "{}@{} is older than {}@{}, which was approved before: approving it is a downgrade; add --allow-downgrade if that is intended",
            row.id,
            &row.digest[..12],
            row.id,
            &newer[..12]
        )));
    }
    let manifest = Manifest::parse(&row.manifest).map_err(|e| CliError::Failed(e.into()))?;
    check_terms(&manifest, terms)?;
    let write = write && manifest.requests_write();
    if terms.sis_import && !write {
        return Err(CliError::input(
            "--sis-import sends SIS imports, which write; it cannot go with --read-only",
        ));
    }
    let mut out = Vec::new();
    let two_for_writes = home.store.setting(WRITE_APPROVERS)?.as_deref() == Some("2");
    for school in schools {
        // A write grant waiting for a second admin: this approval completes it.
        if let Some(first) = home.store.awaiting_second(&row.digest, *school)? {
            if by == first.approved_by {
                return Err(CliError::input(format!(
                    "{by} already approved {}@{} for school {school}; write grants need a second, different admin",
                    row.id,
                    &row.digest[..12]
                )));
            }
            home.audit(&AuditEntry {
                instance: first.instance.clone(),
                school: Some(*school),
                plugin: Some(row.id.clone()),
                digest: Some(row.digest.clone()),
                token: first.token_id.clone(),
                detail: Some(format!(
                    "second approval of the write grant by {}",
                    first.approved_by
                )),
                ..AuditEntry::new(format!("admin:{by}"), Action::PluginApproved)
            })?;
            home.store.approve_second(&row.digest, *school, by)?;
            out.push(ApprovalRow {
                awaiting_second: false,
                second_by: Some(by.to_owned()),
                ..first
            });
            continue;
        }
        let a = ApprovalRow {
            plugin_id: row.id.clone(),
            digest: row.digest.clone(),
            manifest_digest: row.manifest_digest.clone(),
            school: *school,
            write,
            approved_by: by.to_owned(),
            approved_at: now(),
            instance: target.instance.clone(),
            token_id: target.token_id.clone(),
            terms: terms.clone(),
            awaiting_second: write && two_for_writes,
            second_by: None,
        };
        home.audit(&AuditEntry {
            instance: a.instance.clone(),
            school: Some(a.school),
            plugin: Some(a.plugin_id.clone()),
            digest: Some(a.digest.clone()),
            token: a.token_id.clone(),
            detail: Some(format!(
                "{}{}; manifest sha256 {}; terms {}",
                if a.write {
                    "read and write"
                } else {
                    "read only"
                },
                if a.awaiting_second {
                    ", awaiting a second admin"
                } else {
                    ""
                },
                a.manifest_digest,
                serde_json::to_string(&a.terms).unwrap_or_default()
            )),
            ..AuditEntry::new(format!("admin:{by}"), Action::PluginApproved)
        })?;
        home.store.approve(&a)?;
        out.push(a);
    }
    Ok(out)
}

fn list(home: &Home, json: bool) -> Result<Outcome, CliError> {
    let plugins = home.store.plugins()?;
    let mut states = std::collections::HashMap::new();
    for p in &plugins {
        states.insert(
            (p.digest.clone(), p.manifest_digest.clone()),
            home.store.approval_states(&p.digest, &p.manifest_digest)?,
        );
    }
    // Per school its newest row: live, awaiting a second approver, revoked
    // or disabled; a version never approved anywhere is pending.
    let state = |p: &PluginRow| {
        let rows = &states[&(p.digest.clone(), p.manifest_digest.clone())];
        if rows.is_empty() {
            return "pending".to_owned();
        }
        let mut by_state: Vec<(&str, Vec<String>)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (school, st) in rows {
            if !seen.insert(*school) {
                continue;
            }
            match by_state.iter_mut().find(|(s, _)| s == st) {
                Some((_, list)) => list.push(school.to_string()),
                None => by_state.push((st, vec![school.to_string()])),
            }
        }
        fn word(s: &str) -> &str {
            match s {
                "live" => "approved",
                "awaiting-second" => "awaiting a second approver",
                other => other,
            }
        }
        by_state
            .iter()
            .map(|(s, list)| format!("{}: {}", word(s), list.join(",")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if json {
        let v: Vec<_> = plugins
            .iter()
            .map(|p| serde_json::json!({"id": p.id, "version": p.version, "digest": p.digest, "size": p.size, "added_at": p.added_at, "added_by": p.added_by, "state": state(p)}))
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(Outcome::Success);
    }
    if plugins.is_empty() {
        println!(
            "no plugins yet: add one with `easel plugin add <component.wasm> --manifest easel.toml`"
        );
        return Ok(Outcome::Success);
    }
    println!(
        "{:<20} {:<9} {:<14} {:>9}  STATE",
        "ID", "VERSION", "DIGEST", "SIZE"
    );
    for p in &plugins {
        println!(
            "{:<20} {:<9} {:<14} {:>9}  {}",
            p.id,
            p.version,
            &p.digest[..12],
            p.size,
            state(p)
        );
    }
    Ok(Outcome::Success)
}

fn describe_param(p: &easel_policy::ParamSpec) -> String {
    let default = p
        .default
        .as_deref()
        .map(|d| format!(", default {d:?}"))
        .unwrap_or_default();
    let required = if p.required { ", required" } else { "" };
    format!("({:?}{default}{required}): {}", p.ty, p.description)
}

/// What changed between two versions, one line each: imports, scopes,
/// capabilities, params, size.
fn diff(
    old: &PluginRow,
    old_m: &Manifest,
    old_imports: &[String],
    new: &PluginRow,
    new_m: &Manifest,
    new_imports: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    let set_diff = |what: &str, a: &[String], b: &[String], out: &mut Vec<String>| {
        for x in b.iter().filter(|x| !a.contains(x)) {
            out.push(format!("+ {what} {x}"));
        }
        for x in a.iter().filter(|x| !b.contains(x)) {
            out.push(format!("- {what} {x}"));
        }
    };
    set_diff("import", old_imports, new_imports, &mut out);
    let scopes = |m: &Manifest| m.scopes.iter().map(ToString::to_string).collect::<Vec<_>>();
    set_diff("scope", &scopes(old_m), &scopes(new_m), &mut out);
    if old_m.requests_write() != new_m.requests_write() {
        out.push(format!(
            "{} write access",
            if new_m.requests_write() {
                "+ requests"
            } else {
                "- no longer requests"
            }
        ));
    }
    if old_m.masquerade != new_m.masquerade {
        out.push(format!(
            "{} masquerading (as_user_id)",
            if new_m.masquerade {
                "+ requests"
            } else {
                "- no longer requests"
            }
        ));
    }
    if old_m.sis_import != new_m.sis_import {
        out.push(format!(
            "{} SIS imports",
            if new_m.sis_import {
                "+ requests"
            } else {
                "- no longer requests"
            }
        ));
    }
    if old_m.max_calls != new_m.max_calls {
        out.push(format!(
            "~ max calls {} -> {}",
            old_m.max_calls, new_m.max_calls
        ));
    }
    for (name, p) in &new_m.params {
        match old_m.params.get(name) {
            None => out.push(format!("+ param {name} {}", describe_param(p))),
            Some(o) if o != p => out.push(format!(
                "~ param {name} {} -> {}",
                describe_param(o),
                describe_param(p)
            )),
            Some(_) => {}
        }
    }
    for name in old_m
        .params
        .keys()
        .filter(|n| !new_m.params.contains_key(*n))
    {
        out.push(format!("- param {name}"));
    }
    if old.size != new.size {
        out.push(format!(
            "~ size {} -> {} bytes ({:+})",
            old.size,
            new.size,
            new.size as i64 - old.size as i64
        ));
    }
    if old_m.version != new_m.version {
        out.push(format!("~ version {} -> {}", old_m.version, new_m.version));
    }
    out
}

/// `easel plugin check`: validate a manifest, and cross-check it against a
/// component's imports.
fn check(home: &Home, manifest_path: &Path, component: Option<&Path>) -> Result<Outcome, CliError> {
    let text = std::fs::read_to_string(manifest_path)
        .map_err(|e| CliError::input(format!("cannot read {}: {e}", manifest_path.display())))?;
    let manifest = Manifest::parse(&text)
        .map_err(|e| CliError::input(format!("{}: {e}", manifest_path.display())))?;
    println!(
        "{}: manifest of {} {} is valid: {} access, at most {} calls, {} scope(s), {} param(s)",
        manifest_path.display(),
        manifest.id,
        manifest.version,
        if manifest.requests_write() {
            "read and write"
        } else {
            "read"
        },
        manifest.max_calls,
        manifest.scopes.len(),
        manifest.params.len()
    );
    let Some(component) = component else {
        return Ok(Outcome::Success);
    };
    let bytes = std::fs::read(component)
        .map_err(|e| CliError::input(format!("cannot read {}: {e}", component.display())))?;
    let runtime = home.runtime()?;
    let loaded = runtime
        .load(&bytes, &label(component))
        .map_err(|e| CliError::input(format!("{}: {e}", component.display())))?;
    let imports_write = loaded.info.imports_write();
    if imports_write && !manifest.requests_write() {
        return Err(CliError::input(format!(
            "{} imports easel:canvas/write, but the manifest does not request write access: set write = true under [capabilities], or build without writes",
            component.display()
        )));
    }
    if manifest.requests_write() && !imports_write {
        println!(
            "note: the manifest requests write access the component never uses (it does not import easel:canvas/write); consider write = false"
        );
    }
    println!(
        "{}: component matches the manifest (sha256 {}, imports {})",
        component.display(),
        &loaded.info.digest[..16],
        loaded.info.imports.join(", ")
    );
    Ok(Outcome::Success)
}

fn inspect(home: &Home, name: &str, json: bool) -> Result<Outcome, CliError> {
    let row = find(home, name)?;
    let manifest = Manifest::parse(&row.manifest).map_err(|e| CliError::Failed(e.into()))?;
    let bytes = std::fs::read(home.component_path(&row.digest)).with_context(|| {
        format!(
            "the stored component of {} is missing; add it again",
            row.id
        )
    })?;
    let runtime = home.runtime()?;
    let loaded = runtime
        .load(&bytes, &row.id)
        .map_err(|e| CliError::Failed(e.into()))?;
    let approvals: Vec<_> = home
        .store
        .approvals()?
        .into_iter()
        .filter(|a| a.plugin_id == row.id)
        .collect();
    let caps: Vec<&str> = manifest
        .capabilities
        .iter()
        .map(|c| match c {
            easel_policy::Capability::Read => "read",
            easel_policy::Capability::Write => "write",
        })
        .collect();
    if json {
        let v = serde_json::json!({
            "id": row.id, "version": row.version, "author": manifest.author, "description": manifest.description,
            "digest": row.digest, "manifest_digest": row.manifest_digest, "size": row.size,
            "imports": loaded.info.imports, "exports": loaded.info.exports,
            "requests": {"capabilities": caps, "max_calls": manifest.max_calls,
                "params": manifest.params.iter().map(|(k, p)| serde_json::json!({"name": k, "type": format!("{:?}", p.ty).to_lowercase(), "default": p.default, "required": p.required, "description": p.description})).collect::<Vec<_>>()},
            "approvals": approvals.iter().map(|a| serde_json::json!({"digest": a.digest, "school": a.school, "write": a.write, "by": a.approved_by, "at": a.approved_at})).collect::<Vec<_>>(),
        });
        println!("{v:#}");
        return Ok(Outcome::Success);
    }
    println!("{} {} by {}", row.id, row.version, manifest.author);
    println!("  {}", manifest.description);
    println!("  digest    sha256:{}", row.digest);
    println!("  manifest  sha256:{}", row.manifest_digest);
    println!("  size      {} bytes", row.size);
    println!("  added     {} by {}", row.added_at, row.added_by);
    for (i, imp) in loaded.info.imports.iter().enumerate() {
        println!(
            "  {}{imp}",
            if i == 0 { "imports   " } else { "          " }
        );
    }
    println!("  exports   {}", loaded.info.exports.join(", "));
    println!(
        "  requests  {} access, at most {} Canvas calls per run",
        caps.join(" and "),
        manifest.max_calls
    );
    for scope in &manifest.scopes {
        println!("  scope     {scope}");
    }
    if manifest.masquerade {
        println!("  requests  to act as other users (as_user_id)");
    }
    if manifest.sis_import {
        println!(
            "  requests  to send SIS imports (each row's SIS ids checked against the school; new objects only under the school's SIS-id prefix)"
        );
    }
    if !manifest.reports.is_empty() {
        println!("  reports   {}", manifest.reports.join(", "));
    }
    for (name, p) in &manifest.params {
        println!("  param     {name} {}", describe_param(p));
    }
    // A pending version: what changed against the approved one.
    let approved = approvals
        .first()
        .map(|a| (a.digest.clone(), a.manifest_digest.clone()));
    if let Some((old_digest, old_manifest_digest)) =
        approved.filter(|(d, m)| *d != row.digest || *m != row.manifest_digest)
    {
        let old_row = home
            .store
            .plugin_version(&old_digest, &old_manifest_digest)?
            .ok_or_else(|| {
                CliError::Failed(anyhow::anyhow!(
                    "the approved version {} of {} is missing",
                    &old_digest[..12],
                    row.id
                ))
            })?;
        let old_manifest =
            Manifest::parse(&old_row.manifest).map_err(|e| CliError::Failed(e.into()))?;
        let old_bytes = std::fs::read(home.component_path(&old_digest))
            .with_context(|| format!("the stored component {} is missing", &old_digest[..12]))?;
        let old_loaded = runtime
            .load(&old_bytes, &old_row.id)
            .map_err(|e| CliError::Failed(e.into()))?;
        println!();
        println!(
            "changes since the approved version {} ({}):",
            &old_digest[..12],
            old_row.version
        );
        let changes = diff(
            &old_row,
            &old_manifest,
            &old_loaded.info.imports,
            &row,
            &manifest,
            &loaded.info.imports,
        );
        if changes.is_empty() {
            println!("  none an approval depends on (the bytes differ)");
        }
        for c in changes {
            println!("  {c}");
        }
        println!();
    }
    if approvals.is_empty() {
        println!(
            "  approval  none yet: `easel plugin approve {} --school <account>`",
            row.id
        );
    }
    for a in approvals {
        let which = if a.digest == row.digest && a.manifest_digest == row.manifest_digest {
            "this version".to_owned()
        } else if a.digest == row.digest {
            format!("this component with manifest {}", &a.manifest_digest[..12])
        } else {
            format!("version {}", &a.digest[..12])
        };
        println!(
            "  approval  school {} ({}), {which}, by {} at {}",
            a.school,
            if a.write {
                "read and write"
            } else {
                "read only"
            },
            a.approved_by,
            a.approved_at
        );
    }
    Ok(Outcome::Success)
}
