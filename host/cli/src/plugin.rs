//! `easel plugin submit | check | list | inspect | approve | revoke`.

use std::path::Path;

use easel_store::GrantTerms;

use crate::args::{ConfigCommand, PluginCommand};
use crate::error::{CliError, Outcome};
use easel_app::{AUDIT_WITNESS, ApproveOptions, Home, Target, WRITE_APPROVERS};
use easel_app::{ConnectOptions, Connection};

pub(crate) async fn dispatch(
    home: &Home,
    command: PluginCommand,
    connect: &ConnectOptions,
) -> Result<Outcome, CliError> {
    match command {
        PluginCommand::Build { dir, json } => build(&dir, json),
        PluginCommand::New {
            name,
            lang,
            writes,
            dir,
            sdk,
            json,
        } => crate::plugin::new(&name, &lang, writes, dir.as_deref(), sdk.as_deref(), json),
        PluginCommand::Test {
            dir,
            scenario,
            live,
            json,
        } => crate::plugin::test(&dir, scenario.as_deref(), live, json).await,
        PluginCommand::Add {
            component,
            manifest,
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
            let me = crate::local_actor(home)?;
            let row = easel_app::add(home, &me, &bytes, &text, &label(&component))?;
            print_added(
                &serde_json::json!({"id": row.id, "version": row.version, "digest": row.digest,
                    "size": row.size, "added_by": row.added_by, "added_at": row.added_at}),
                json,
            )
        }
        PluginCommand::List { json } => list(home, json),
        PluginCommand::Check {
            manifest,
            component,
            json,
        } => check(home, &manifest, component.as_deref(), json),
        PluginCommand::Inspect { plugin, json } => inspect(home, &plugin, json),
        PluginCommand::Deny {
            plugin,
            reason,
            json,
        } => {
            let me = crate::local_actor(home)?;
            let d = easel_app::deny(home, &me, &plugin, &reason)?;
            print_denied(&d, json)
        }
        PluginCommand::Revoke {
            plugin,
            schools_from: _,
            schools,
            json,
        } => {
            let me = crate::local_actor(home)?;
            let revoked = easel_app::revoke(home, &me, &plugin, &schools)?;
            print_revoked(&plugin, &revoked, json)
        }
        PluginCommand::Approve {
            plugin,
            schools_from: _,
            mut schools,
            all_schools,
            read_only,
            district_wide,
            manifest_digest,
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
                conn.approval_schools(&schools, district_wide).await?;
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
                manifest_digest,
            };
            let me = crate::local_actor(home)?;
            let rows = easel_app::approve_with(home, &plugin, &schools, &me, &options)?;
            let namespace = easel_app::namespace_instance(home, &conn.instance)?;
            print_approvals(&rows, json, |school| {
                Ok(home.store.sis_prefix(&namespace, school)?.is_none())
            })
        }
    }
}

/// `easel plugin revoke`'s output, locally or from a server.
/// Where `easel plugin build` keeps its venv, the SDK it builds Python
/// with, and built components: `$XDG_CACHE_HOME/easel/build`, else
/// `~/.cache/easel/build`.
fn build_cache() -> Result<std::path::PathBuf, CliError> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .ok_or_else(|| CliError::input("set HOME or XDG_CACHE_HOME: plugin builds keep a cache"))?;
    Ok(base.join("easel").join("build"))
}

/// `easel plugin build [DIR]`.
pub(crate) fn build(dir: &Path, json: bool) -> Result<Outcome, CliError> {
    let cache = build_cache()?;
    let lang = easel_wasm_build::plugin::detect(dir).map_err(CliError::input)?;
    if !json {
        eprintln!(
            "building the {} plugin in {}{}",
            lang.name(),
            dir.display(),
            if lang == easel_wasm_build::plugin::Lang::Python {
                " (the first Python build installs componentize-py from PyPI)"
            } else {
                ""
            }
        );
    }
    let built = easel_wasm_build::plugin::build(dir, &cache).map_err(CliError::input)?;
    if json {
        println!(
            "{:#}",
            serde_json::json!({"lang": built.lang.name(), "component": built.wasm, "manifest": built.manifest})
        );
        return Ok(Outcome::Success);
    }
    println!("{}", built.wasm.display());
    eprintln!(
        "built {}; check it with `easel plugin check {} {}`, then submit it with `easel plugin submit {} --manifest {}`",
        built.wasm.display(),
        built.manifest.display(),
        built.wasm.display(),
        built.wasm.display(),
        built.manifest.display()
    );
    Ok(Outcome::Success)
}

pub(crate) fn print_denied(d: &easel_store::DenialRow, json: bool) -> Result<Outcome, CliError> {
    if json {
        println!("{:#}", serde_json::json!(d));
        return Ok(Outcome::Success);
    }
    println!(
        "denied {} ({}); its submitter sees why: {}",
        d.plugin_id,
        &d.digest[..d.digest.len().min(12)],
        d.reason
    );
    Ok(Outcome::Success)
}

pub(crate) fn print_revoked(
    plugin: &str,
    revoked: &[u64],
    json: bool,
) -> Result<Outcome, CliError> {
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

/// `easel plugin submit`'s output, locally or from a server: `row` holds
/// id, version, digest, size, added_by and added_at.
pub(crate) fn print_added(row: &serde_json::Value, json: bool) -> Result<Outcome, CliError> {
    if json {
        println!("{row:#}");
        return Ok(Outcome::Success);
    }
    let text = |k: &str| row[k].as_str().unwrap_or_default().to_owned();
    let (id, digest) = (text("id"), text("digest"));
    println!(
        "added {id} {} (sha256 {})\nnext: review it with `easel plugin inspect {id}`, then `easel plugin approve {id} --school <account>`",
        text("version"),
        &digest[..16.min(digest.len())],
    );
    Ok(Outcome::Success)
}

/// `easel plugin approve`'s output, locally or from a server.
/// `lacks_prefix` says whether a school has no SIS-id prefix.
pub(crate) fn print_approvals(
    rows: &[easel_store::ApprovalRow],
    json: bool,
    lacks_prefix: impl Fn(u64) -> Result<bool, CliError>,
) -> Result<Outcome, CliError> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(rows).map_err(|e| CliError::Failed(e.into()))?
        );
        return Ok(Outcome::Success);
    }
    for a in rows {
        println!(
            "approved {}@{} for school {} ({}) by {}{}",
            a.plugin_id,
            &a.digest[..12],
            a.school,
            match (a.write, a.terms.dry_run_only) {
                (true, true) => "read, and write in dry runs only: writes are planned, never sent",
                (true, false) => "read and write",
                (false, _) => "read only",
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
        if a.terms.sis_import && lacks_prefix(a.school)? {
            println!(
                "  school {} has no SIS-id prefix: its SIS imports may update its own objects but create none; \
                 set one with `easel schools sis-prefix {} PREFIX`",
                a.school, a.school
            );
        }
        if a.awaiting_second {
            println!(
                "  write grants need two admins here: it runs once another admin approves it too: `easel plugin approve {}@{} --school {}` by another approver",
                a.plugin_id,
                &a.digest[..12],
                a.school
            );
        }
    }
    Ok(Outcome::Success)
}

fn label(path: &Path) -> String {
    path.display().to_string()
}

/// `easel config`.
pub(crate) fn config(home: &Home, command: ConfigCommand) -> Result<Outcome, CliError> {
    match command {
        ConfigCommand::Show { json } => {
            let settings = easel_app::settings::show(home)?;
            if json {
                let v = serde_json::to_value(&settings).map_err(|e| CliError::Failed(e.into()))?;
                println!("{v:#}");
                return Ok(Outcome::Success);
            }
            println!(
                "{WRITE_APPROVERS} = {} (admins who approve a grant with write access)",
                settings.write_approvers
            );
            println!(
                "{} = {} (hours a dry run's plan may wait to be applied)",
                easel_app::PLAN_EXPIRY_HOURS,
                settings.plan_expiry_hours
            );
            println!(
                "{AUDIT_WITNESS} = {} (where audit checkpoints are also written{})",
                settings
                    .audit_witness
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                if settings.witness_is_default {
                    "; the default, beside the database: move it"
                } else {
                    ""
                }
            );
        }
        ConfigCommand::Set { key, value, json } => {
            let me = crate::local_actor(home)?;
            let value = easel_app::settings::set(home, &me, &key, &value)?;
            if json {
                return crate::json_out(&serde_json::json!({"key": key, "value": value}));
            }
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

/// Read `--grant FILE` and apply the flags over it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn terms_from(
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

fn list(home: &Home, json: bool) -> Result<Outcome, CliError> {
    let versions = easel_app::versions(home)?;
    let v: Vec<serde_json::Value> = versions
        .iter()
        .map(|v| {
            let p = &v.row;
            serde_json::json!({"id": p.id, "version": p.version, "digest": p.digest, "size": p.size,
                               "added_at": p.added_at, "added_by": p.added_by, "state": v.summary()})
        })
        .collect();
    print_list(&v, json)
}

/// `easel plugin list`'s output, locally or from a server: each version
/// as `{id, version, digest, size, added_at, added_by, state}`.
pub(crate) fn print_list(versions: &[serde_json::Value], json: bool) -> Result<Outcome, CliError> {
    if json {
        println!("{}", serde_json::Value::Array(versions.to_vec()));
        return Ok(Outcome::Success);
    }
    if versions.is_empty() {
        println!(
            "no plugins yet: submit one with `easel plugin submit <component.wasm> --manifest easel.toml`"
        );
        return Ok(Outcome::Success);
    }
    println!(
        "{:<20} {:<9} {:<14} {:>9}  STATE",
        "ID", "VERSION", "DIGEST", "SIZE"
    );
    for p in versions {
        let digest = p["digest"].as_str().unwrap_or_default();
        println!(
            "{:<20} {:<9} {:<14} {:>9}  {}",
            p["id"].as_str().unwrap_or_default(),
            p["version"].as_str().unwrap_or_default(),
            &digest[..12.min(digest.len())],
            p["size"].as_u64().unwrap_or_default(),
            p["state"].as_str().unwrap_or_default()
        );
    }
    Ok(Outcome::Success)
}

/// `easel plugin check`: validate a manifest, and cross-check it against a
/// component's imports.
fn check(
    home: &Home,
    manifest_path: &Path,
    component: Option<&Path>,
    json: bool,
) -> Result<Outcome, CliError> {
    let (text, bytes) = check_inputs(manifest_path, component)?;
    let runtime = home.runtime()?;
    let label = component.map(label).unwrap_or_default();
    let manifest_label = manifest_path.display().to_string();
    let report = easel_app::check(
        &runtime,
        (&text, &manifest_label),
        bytes.as_deref().map(|b| (b, label.as_str())),
    )?;
    print_check(&report, manifest_path, component, json)
}

/// The manifest's text and the component's bytes, read for `plugin check`.
pub(crate) fn check_inputs(
    manifest_path: &Path,
    component: Option<&Path>,
) -> Result<(String, Option<Vec<u8>>), CliError> {
    let text = std::fs::read_to_string(manifest_path)
        .map_err(|e| CliError::input(format!("cannot read {}: {e}", manifest_path.display())))?;
    let bytes = match component {
        Some(c) => Some(
            std::fs::read(c)
                .map_err(|e| CliError::input(format!("cannot read {}: {e}", c.display())))?,
        ),
        None => None,
    };
    Ok((text, bytes))
}

/// `easel plugin check`'s output, local or from a server.
pub(crate) fn print_check(
    r: &easel_app::CheckReport,
    manifest_path: &Path,
    component: Option<&Path>,
    json: bool,
) -> Result<Outcome, CliError> {
    if json {
        return crate::json_out(r);
    }
    println!(
        "{}: manifest of {} {} is valid: {} access, at most {} calls, {} MiB of memory, {} scope(s), {} param(s)",
        manifest_path.display(),
        r.id,
        r.version,
        if r.write { "read and write" } else { "read" },
        r.max_calls,
        r.memory_mib,
        r.scopes,
        r.params
    );
    if let (Some(c), Some(path)) = (&r.component, component) {
        if let Some(note) = &c.note {
            println!("note: {note}");
        }
        println!(
            "{}: component matches the manifest (sha256 {}, imports {})",
            path.display(),
            &c.digest[..16.min(c.digest.len())],
            c.imports.join(", ")
        );
    }
    Ok(Outcome::Success)
}

fn inspect(home: &Home, name: &str, json: bool) -> Result<Outcome, CliError> {
    let me = crate::local_actor(home)?;
    print_inspection(&easel_app::inspect(home, &me, name)?, json)
}

/// `easel plugin inspect`'s output, local or from a server.
pub(crate) fn print_inspection(i: &easel_app::Inspection, json: bool) -> Result<Outcome, CliError> {
    if json {
        let v = serde_json::to_value(i).map_err(|e| CliError::Failed(e.into()))?;
        println!("{v:#}");
        return Ok(Outcome::Success);
    }
    println!("{} {} by {}", i.id, i.version, i.author);
    println!("  {}", i.description);
    println!("  digest    sha256:{}", i.digest);
    println!("  manifest  sha256:{}", i.manifest_digest);
    println!("  size      {} bytes", i.size);
    println!("  added     {} by {}", i.added_at, i.added_by);
    for (n, imp) in i.imports.iter().enumerate() {
        println!(
            "  {}{imp}",
            if n == 0 { "imports   " } else { "          " }
        );
    }
    println!("  exports   {}", i.exports.join(", "));
    let r = &i.requests;
    println!(
        "  requests  {} access, at most {} Canvas calls and {} MiB of memory per run",
        r.capabilities.join(" and "),
        r.max_calls,
        r.memory_mib
    );
    for scope in &r.scopes {
        println!("  scope     {scope}");
    }
    if r.masquerade {
        println!("  requests  to act as other users (as_user_id)");
    }
    if r.sis_import {
        println!(
            "  requests  to send SIS imports (each row's SIS ids checked against the school; new objects only under the school's SIS-id prefix)"
        );
    }
    if !r.reports.is_empty() {
        println!("  reports   {}", r.reports.join(", "));
    }
    for p in &r.params {
        println!("  param     {} {}", p.name, p.summary);
    }
    if let Some(c) = &i.changes {
        println!();
        println!(
            "changes since the approved version {} ({}):",
            &c.since_digest[..12.min(c.since_digest.len())],
            c.since_version
        );
        if c.lines.is_empty() {
            println!("  none an approval depends on (the bytes differ)");
        }
        for line in &c.lines {
            println!("  {line}");
        }
        println!();
    }
    if i.approvals.is_empty() {
        println!(
            "  approval  none yet: `easel plugin approve {} --school <account>`",
            i.id
        );
    }
    for a in &i.approvals {
        let which = if a.digest == i.digest && a.manifest_digest == i.manifest_digest {
            "this version".to_owned()
        } else if a.digest == i.digest {
            format!(
                "this component with manifest {}",
                &a.manifest_digest[..12.min(a.manifest_digest.len())]
            )
        } else {
            format!("version {}", &a.digest[..12.min(a.digest.len())])
        };
        println!(
            "  approval  school {} ({}), {which}, by {} at {}",
            a.school,
            if a.write {
                "read and write"
            } else {
                "read only"
            },
            a.by,
            a.at
        );
    }
    Ok(Outcome::Success)
}

/// `easel plugin new NAME`.
pub(crate) fn new(
    name: &str,
    lang: &str,
    writes: bool,
    dir: Option<&Path>,
    sdk: Option<&str>,
    json: bool,
) -> Result<Outcome, CliError> {
    use easel_wasm_build::plugin::Lang;
    use easel_wasm_build::scaffold::{NewPlugin, Sdk, scaffold};
    let lang = match lang {
        "rust" => Lang::Rust,
        _ => Lang::Python,
    };
    if sdk.is_some() && lang != Lang::Rust {
        return Err(CliError::input(
            "--sdk is for Rust plugins (a Python plugin's SDK is built in): drop it, or add --lang rust",
        ));
    }
    let dir = dir.map_or_else(|| Path::new(name).to_path_buf(), Path::to_path_buf);
    let spec = NewPlugin {
        id: name.to_owned(),
        lang,
        writes,
        sdk: sdk.map_or(Sdk::Carried, Sdk::parse),
    };
    let files = scaffold(&dir, &spec).map_err(CliError::input)?;
    if json {
        println!(
            "{:#}",
            serde_json::json!({
                "id": name,
                "lang": lang.name(),
                "writes": writes,
                "dir": dir,
                "files": files,
            })
        );
        return Ok(Outcome::Success);
    }
    println!(
        "created the {} plugin {name} in {} ({}):",
        lang.name(),
        dir.display(),
        if writes { "writes" } else { "read-only" }
    );
    for f in files.iter().filter(|f| !f.starts_with("easel-sdk")) {
        println!("  {}", f.display());
    }
    if files.iter().any(|f| f.starts_with("easel-sdk")) {
        println!("  easel-sdk/  (easel's Rust SDK)");
    }
    let shown = dir.display();
    println!("next:");
    if lang == Lang::Rust {
        println!("  rustup target add wasm32-wasip2   # once");
    }
    println!(
        "  easel plugin test {shown}      # build it and run it against a simulated Canvas (scenario.toml)"
    );
    println!("  easel plugin build {shown}     # then submit the component it prints:");
    println!("  easel plugin submit COMPONENT --manifest {shown}/easel.toml");
    Ok(Outcome::Success)
}

/// `easel plugin test [DIR]`.
pub(crate) async fn test(
    dir: &Path,
    scenario: Option<&Path>,
    live: bool,
    json: bool,
) -> Result<Outcome, CliError> {
    use easel_app::author::{ScenarioFile, test_plugin};
    let cache = build_cache()?;
    let lang = easel_wasm_build::plugin::detect(dir).map_err(CliError::input)?;
    if !json {
        eprintln!(
            "building the {} plugin in {}{}",
            lang.name(),
            dir.display(),
            if lang == easel_wasm_build::plugin::Lang::Python {
                " (the first Python build installs componentize-py from PyPI)"
            } else {
                ""
            }
        );
    }
    let built = tokio::task::block_in_place(|| easel_wasm_build::plugin::build(dir, &cache))
        .map_err(CliError::input)?;
    let bytes = std::fs::read(&built.wasm)
        .map_err(|e| CliError::input(format!("cannot read {}: {e}", built.wasm.display())))?;
    let manifest = std::fs::read_to_string(&built.manifest)
        .map_err(|e| CliError::input(format!("cannot read {}: {e}", built.manifest.display())))?;
    let default_scenario = dir.join("scenario.toml");
    let scenario_path = match scenario {
        Some(p) => Some(p.to_path_buf()),
        None => default_scenario.is_file().then_some(default_scenario),
    };
    let scenario = match &scenario_path {
        None => ScenarioFile::default(),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                CliError::input(format!("cannot read the scenario {}: {e}", p.display()))
            })?;
            ScenarioFile::parse(&text, &p.display().to_string())?
        }
    };
    if !json {
        match &scenario_path {
            Some(p) => eprintln!(
                "running it against a simulated Canvas seeded by {}",
                p.display()
            ),
            None => eprintln!(
                "running it against a simulated Canvas (no scenario.toml: on a generated school)"
            ),
        }
    }
    let t = test_plugin(&bytes, &manifest, &scenario, live, &cache.join("compiled")).await?;
    let outcome = if t.succeeded() {
        Outcome::Success
    } else {
        Outcome::RunFailed
    };
    if json {
        println!("{:#}", serde_json::json!(t));
        return Ok(outcome);
    }
    println!(
        "{} {} on {} (account {}{}): {} in {:.2} s, {}",
        t.plugin,
        t.version,
        t.school_name,
        t.school,
        if t.seeded_courses.is_empty() {
            String::new()
        } else {
            format!(", {} courses from the scenario", t.seeded_courses.len())
        },
        t.status,
        t.seconds,
        if t.dry_run {
            "dry run: writes planned, not sent"
        } else {
            "live: writes sent to the simulator"
        }
    );
    if let Some(e) = &t.error {
        println!("  error: {e}");
    }
    if !t.params.is_empty() {
        let p: Vec<String> = t.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("  params: {}", p.join(" "));
    }
    println!("\nCanvas calls ({}):", t.calls.len());
    for c in &t.calls {
        println!(
            "  {} {} -> {}",
            c.method,
            c.path,
            c.status.map_or("no answer".to_owned(), |s| s.to_string())
        );
    }
    println!("\nDenied by easel ({}):", t.denials.len());
    for d in &t.denials {
        println!("  {} {}: {}", d.method, d.path, d.detail);
    }
    if t.dry_run {
        println!("\nPlan ({} write(s) a live run would send):", t.plan.len());
        // A plan holds each body once; a later step with the same body
        // names the step that shows it.
        let mut shown: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
        for step in &t.plan {
            let body = match (&step.body, &step.body_sha256) {
                (Some(b), digest) => {
                    if let Some(d) = digest {
                        shown.insert(d, step.step);
                    }
                    b.get().to_owned()
                }
                (None, Some(d)) => shown
                    .get(d.as_str())
                    .map(|n| format!("(the body of step {n})"))
                    .unwrap_or_default(),
                (None, None) => String::new(),
            };
            println!("  {}. {} {} {body}", step.step, step.method, step.path);
        }
    }
    for r in &t.reports {
        let lines: Vec<&str> = r.text.lines().collect();
        println!(
            "\nReport {} ({} bytes, {} lines):",
            r.name,
            r.bytes,
            lines.len()
        );
        for l in lines.iter().take(20) {
            println!("  {l}");
        }
        if lines.len() > 20 {
            println!(
                "  ... {} more lines (--json has them all)",
                lines.len() - 20
            );
        }
    }
    if !t.log.trim().is_empty() {
        println!("\nLog:");
        for l in t.log.lines() {
            println!("  {l}");
        }
    }
    if t.succeeded() {
        println!(
            "\nnext: `easel plugin submit {} --manifest {}`",
            built.wasm.display(),
            built.manifest.display()
        );
    }
    Ok(outcome)
}
