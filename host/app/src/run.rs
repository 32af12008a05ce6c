//! `easel run`: run an approved plugin for one school and record the run.

use std::path::PathBuf;

use easel_policy::{ApprovalState, Grant, Manifest, RunFacts};
use easel_runtime::{Limits, PlanBinding, RunReport, RunSpec, Runtime, School};
use easel_store::{Action, ApprovalRow, AuditEntry, NewRun, RunFinish, RunStatus};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::connection::{ConnectOptions, Connection};
use crate::error::AppError;
use crate::home::Home;
use crate::principal::{Act, Actor};
use crate::run_audit::RunAudit;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Plugin id.
    pub plugin: String,
    /// School account id.
    pub school: u64,
    /// Dry run?
    pub dry_run: bool,
    /// Params as name/value pairs.
    pub params: Vec<(String, String)>,
    /// Limits (defaults unless a test or an admin tightens them).
    pub limits: Limits,
    /// A reviewed plan the live run is bound to.
    pub plan: Option<PlanRef>,
}

/// The plan of a dry run, for a live run to follow.
#[derive(Debug, Clone)]
pub struct PlanRef {
    /// The dry run that made the plan.
    pub run: String,
    /// `plan apply`: send the plan's writes without running the plugin;
    /// else the plugin runs and may make only the plan's writes.
    pub apply_only: bool,
}

/// How long a plan may wait to be applied, in hours (setting).
pub const PLAN_EXPIRY_HOURS: &str = "plan-expiry-hours";

/// The default of [`PLAN_EXPIRY_HOURS`].
pub const DEFAULT_PLAN_EXPIRY_HOURS: u64 = 24;

/// How a run went.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Run id.
    pub run_id: String,
    /// Plugin id.
    pub plugin_id: String,
    /// School name.
    pub school_name: String,
    /// The Canvas instance it ran on.
    pub instance: String,
    /// The batch it belongs to (a many-school command), if any.
    pub batch: Option<String>,
    /// The runtime's report.
    pub report: RunReport,
    /// Where its reports are.
    pub output_dir: PathBuf,
}

/// A new id for a run or a batch of runs: 16 hex digits.
pub fn new_run_id() -> String {
    let mut rng = rand::rng();
    format!("{:016x}", rng.random::<u64>())
}

/// `--param name=value` pairs, split at the first `=`.
pub fn parse_params(raw: &[String]) -> Result<Vec<(String, String)>, AppError> {
    raw.iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| AppError::invalid(format!("--param {p:?} must be NAME=VALUE")))
        })
        .collect()
}

fn status_of(report: &RunReport) -> RunStatus {
    match report.outcome {
        easel_runtime::RunOutcome::Succeeded => RunStatus::Succeeded,
        easel_runtime::RunOutcome::Failed(_) => RunStatus::Failed,
        easel_runtime::RunOutcome::TimedOut(_) => RunStatus::TimedOut,
        easel_runtime::RunOutcome::MemoryLimit(_) => RunStatus::MemoryLimit,
        easel_runtime::RunOutcome::Refused(_) => RunStatus::Refused,
    }
}

/// Run an approved plugin for a school and record it. Bad input (unknown
/// plugin, no approval, bad params, unknown school) is an error; a plugin
/// that fails is a recorded run with a failed status.
pub async fn execute_run(
    home: &Home,
    conn: &Connection,
    runtime: &Runtime,
    req: RunRequest,
) -> Result<RunResult, AppError> {
    let me = crate::process::local_actor();
    execute_run_for(home, &me, conn, runtime, req, None, None).await
}

/// [`execute_run`] on behalf of `by`, who must be allowed to run it (live,
/// or dry for the school).
pub async fn execute_run_as(
    home: &Home,
    by: &Actor,
    conn: &Connection,
    runtime: &Runtime,
    req: RunRequest,
) -> Result<RunResult, AppError> {
    execute_run_for(home, by, conn, runtime, req, None, None).await
}

/// [`execute_run_as`] for a school already looked up (`None`: look it up),
/// as one of a batch.
pub async fn execute_run_for(
    home: &Home,
    by: &Actor,
    conn: &Connection,
    runtime: &Runtime,
    req: RunRequest,
    known: Option<School>,
    batch: Option<String>,
) -> Result<RunResult, AppError> {
    let prepared = prepare(home, by, conn, &req, known, None).await?;
    launch(home, by, conn, runtime, req, prepared, batch, None).await
}

/// A run checked and ready to start: everything admission found.
pub(crate) struct Prepared {
    pub(crate) row: easel_store::PluginRow,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) grant: Grant,
    pub(crate) binding: Option<PlanBinding>,
    pub(crate) limits: Limits,
    /// The school it runs for.
    pub(crate) school: School,
}

/// Check that `by` may run `req` now and that it is admitted (approval,
/// limits, plan, stored bytes), and gather what the run needs. Nothing is
/// recorded but a hash mismatch.
pub(crate) async fn prepare(
    home: &Home,
    by: &Actor,
    conn: &Connection,
    req: &RunRequest,
    known: Option<School>,
    claimed: Option<&str>,
) -> Result<Prepared, AppError> {
    by.require(if req.dry_run {
        Act::RunDry(req.school)
    } else {
        Act::RunLive(req.school)
    })?;
    let live = home.store.approval(&req.plugin, req.school)?;
    if live.is_none() && home.store.find_plugin(&req.plugin)?.is_none() {
        return Err(AppError::invalid(format!(
            "no plugin {:?}: see `easel plugin list`",
            req.plugin
        )));
    }
    let facts = admission_facts(home, req, live.as_ref(), conn, claimed)?;
    easel_policy::admit(&facts).map_err(|n| AppError::invalid(n.reason))?;
    let Some(approval) = live else {
        return Err(AppError::internal(anyhow::anyhow!(
            "admitted a run without a live approval"
        )));
    };
    let row = home
        .store
        .plugin_version(&approval.digest, &approval.manifest_digest)?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the approved version {} of {} is missing from the database",
                approval.digest,
                approval.plugin_id
            )
        })?;
    let manifest_digest = hex::encode(Sha256::digest(row.manifest.as_bytes()));
    let actual = home.stored_component_digest(&row.digest)?;
    if actual != approval.digest || manifest_digest != approval.manifest_digest {
        home.audit(&AuditEntry {
            instance: Some(conn.instance.clone()),
            school: Some(req.school),
            plugin: Some(row.id.clone()),
            digest: Some(approval.digest.clone()),
            detail: Some(format!(
                "component sha256 {actual}, manifest sha256 {manifest_digest}; not run"
            )),
            ..AuditEntry::new("easel", Action::HashMismatch)
        })?;
        return Err(AppError::internal(anyhow::anyhow!(
            "refusing to run {}: its stored bytes no longer match the approved digest {} (found {}); add and approve it again",
            row.id,
            &approval.digest[..12],
            &actual[..12]
        )));
    }
    let manifest = Manifest::parse(&row.manifest).map_err(AppError::internal)?;
    let params = manifest
        .resolve_params(&req.params)
        .map_err(|e| AppError::invalid(e.to_string()))?;
    let mut grant = grant_for(&approval, &manifest, req)?;
    // Every write grant holds the school's SIS-id prefix: SIS imports create
    // only under it, and a SIS id set through the API must start with it.
    if grant.write {
        let namespace = crate::connection::namespace_instance(home, &conn.instance)?;
        grant.sis_id_prefix = home.store.sis_prefix(&namespace, req.school)?;
    }
    let binding = match &req.plan {
        None => None,
        Some(plan) => Some(bound_plan(
            home,
            req,
            plan,
            &approval.digest,
            &params,
            claimed,
        )?),
    };
    let mut limits = req.limits.clone();
    // The manifest sizes the plugin's memory (shown at inspect and approval).
    limits.memory_bytes = usize::try_from(manifest.memory_bytes).unwrap_or(usize::MAX);
    if !manifest.reports.is_empty() {
        limits.report_names = Some(manifest.reports.clone());
    }
    let school = match known {
        Some(school) if school.id == req.school => school,
        _ => conn.school("run", req.school).await?,
    };
    Ok(Prepared {
        row,
        params,
        grant,
        binding,
        limits,
        school,
    })
}

/// Start the prepared run and record it: a new run, or (`claimed`) the
/// queued run a worker claimed, whose record says `running` already.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn launch(
    home: &Home,
    by: &Actor,
    conn: &Connection,
    runtime: &Runtime,
    req: RunRequest,
    prepared: Prepared,
    batch: Option<String>,
    claimed: Option<String>,
) -> Result<RunResult, AppError> {
    let Prepared {
        row,
        params,
        grant,
        binding,
        limits,
        school,
    } = prepared;
    let component = match runtime.loaded(&row.digest) {
        Some(component) => component,
        None => {
            let bytes = home.component_bytes(&row.digest)?;
            let component = runtime.load(&bytes, &row.id).map_err(AppError::internal)?;
            // Read again since admission checked them: bytes changed in
            // between are refused here.
            if component.info.digest != row.digest {
                return Err(AppError::internal(anyhow::anyhow!(
                    "refusing to run {}: its stored bytes changed while the run started (they hash to {}, approved {}); add and approve it again",
                    row.id,
                    &component.info.digest[..12],
                    &row.digest[..12]
                )));
            }
            component
        }
    };
    let run_id = claimed.clone().unwrap_or_else(new_run_id);
    let output_dir = home.run_dir(&run_id);
    let token = match &conn.token_id {
        Some(id) => home.store.token(id)?.map(|t| t.fingerprint),
        None => None,
    };
    let mut audit = RunAudit::new(home.audit.clone(), run_id.clone());
    audit.plugin = row.id.clone();
    audit.digest = row.digest.clone();
    audit.school = school.id;
    audit.instance = conn.instance.clone();
    audit.token = token;
    home.audit(&AuditEntry {
        actor: by.audit_name(),
        detail: Some(format!(
            "{}; params {}",
            if req.dry_run { "dry run" } else { "live" },
            serde_json::to_string(&params).unwrap_or_default()
        )),
        ..audit.entry(Action::RunStarted)
    })?;
    if claimed.is_none() {
        home.store
            .start_run(&NewRun {
                id: run_id.clone(),
                plugin_id: row.id.clone(),
                digest: row.digest.clone(),
                school: school.id,
                instance: conn.instance.clone(),
                dry_run: req.dry_run,
                params: params.clone(),
                applies: req.plan.as_ref().map(|p| p.run.clone()),
                owner: Some(crate::process::me()),
                batch: batch.clone(),
                token: conn.token_id.clone(),
            })
            .map_err(|e| match e {
                easel_store::StoreError::Invalid(m) => AppError::invalid(m),
                e => e.into(),
            })?;
    }
    let spec = RunSpec {
        run_id: run_id.clone(),
        plugin_id: row.id.clone(),
        component,
        school: school.clone(),
        instance: conn.instance.clone(),
        dry_run: req.dry_run,
        params,
        grant,
        client: conn.client.clone(),
        output_dir: output_dir.clone(),
        limits,
        audit: std::sync::Arc::new(audit.clone()),
        binding,
    };
    let report = match &req.plan {
        Some(p) if p.apply_only => runtime.apply_plan(spec).await,
        _ => runtime.run(spec).await,
    };
    let ended = match report.outcome.error() {
        None => audit.entry(Action::RunFinished),
        Some(e) => AuditEntry {
            detail: Some(format!("{}: {e}", report.outcome.status())),
            ..audit.entry(Action::RunFailed)
        },
    };
    // The run already happened: a failure to record its end is reported
    // after the run record is saved.
    let end_recorded = home.audit(&AuditEntry {
        detail: ended.detail.clone().or(Some(format!(
            "{} call(s), {} denied",
            report.calls, report.denied
        ))),
        ..ended
    });
    let finish = RunFinish {
        status: Some(status_of(&report)),
        duration_ms: report.duration.as_millis() as u64,
        calls: report.calls,
        denied: report.denied,
        error: report.outcome.error().map(str::to_owned),
        outputs: report
            .outputs
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        log: report.log.clone(),
        plan: report
            .plan
            .iter()
            .filter_map(|p| serde_json::to_value(p).ok())
            .collect(),
        plan_result: report
            .plan_result
            .iter()
            .filter_map(|p| serde_json::to_value(p).ok())
            .collect(),
    };
    // A process stopping its runs marks them interrupted, with the audit
    // log's counts: a run cut off by the stop is not recorded as failed.
    if !crate::run_audit::recording_stopped() {
        home.store.finish_run(&run_id, &finish)?;
        end_recorded?;
    }
    home.checkpoint(easel_store::checkpoint::reason::RUN_END);
    Ok(RunResult {
        run_id,
        plugin_id: row.id,
        school_name: school.name,
        instance: conn.instance.clone(),
        batch,
        report,
        output_dir,
    })
}

/// `--after-plan <run>`: the school and params of a reviewed dry run, if
/// the approved version is still the one that planned it and the params
/// given (if any) are the planned ones.
pub fn after_plan(
    home: &Home,
    plugin: &str,
    plan_run: &str,
    given: &[(String, String)],
) -> Result<(u64, Vec<(String, String)>), AppError> {
    let plan = home
        .store
        .run(plan_run)?
        .ok_or_else(|| AppError::invalid(format!("no run {plan_run}: see `easel runs`")))?;
    if !plan.dry_run {
        return Err(AppError::invalid(format!(
            "run {plan_run} was live, not a dry run: there is no plan to follow"
        )));
    }
    if plan.plugin_id != plugin {
        return Err(AppError::invalid(format!(
            "run {plan_run} planned {}, not {plugin}",
            plan.plugin_id
        )));
    }
    if plan.status != RunStatus::Succeeded {
        return Err(AppError::invalid(format!(
            "dry run {plan_run} ended {}: fix it and plan again",
            plan.status.as_str()
        )));
    }
    let approval = home.store.approval(plugin, plan.school)?.ok_or_else(|| {
        AppError::invalid(format!(
            "plugin {plugin} is no longer approved for school {}",
            plan.school
        ))
    })?;
    if approval.digest != plan.digest {
        return Err(AppError::invalid(format!(
            "the plan was made by {plugin}@{}, but {}@{} is approved now: dry-run the approved version again",
            &plan.digest[..12],
            plugin,
            &approval.digest[..12]
        )));
    }
    if !given.is_empty() {
        let row = home
            .store
            .find_plugin(&format!("{plugin}@{}", plan.digest))?
            .ok_or_else(|| AppError::invalid(format!("{plugin}@{} is gone", &plan.digest[..12])))?;
        let manifest = Manifest::parse(&row.manifest).map_err(AppError::internal)?;
        let resolved = manifest
            .resolve_params(given)
            .map_err(|e| AppError::invalid(e.to_string()))?;
        if resolved != plan.params {
            return Err(AppError::invalid(format!(
                "the params differ from the plan's ({}): leave them out to use the plan's",
                plan.params
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )));
        }
    }
    Ok((plan.school, plan.params))
}

/// The plan a live run is bound to, checked: a succeeded dry run of the
/// same approved version, school and params, not expired, not applied yet.
fn bound_plan(
    home: &Home,
    req: &RunRequest,
    plan: &PlanRef,
    approved: &str,
    params: &[(String, String)],
    claimed: Option<&str>,
) -> Result<PlanBinding, AppError> {
    let id = &plan.run;
    if req.dry_run {
        return Err(AppError::invalid(
            "a plan is applied by a live run: leave out --dry-run",
        ));
    }
    let row = home
        .store
        .run(id)?
        .ok_or_else(|| AppError::invalid(format!("no run {id}: see `easel runs`")))?;
    let id = &row.id;
    if !row.dry_run {
        return Err(AppError::invalid(format!(
            "run {id} was live, not a dry run: there is no plan to apply"
        )));
    }
    if row.status != RunStatus::Succeeded {
        return Err(AppError::invalid(format!(
            "dry run {id} ended {}: fix it and plan again",
            row.status.as_str()
        )));
    }
    if row.plugin_id != req.plugin || row.school != req.school {
        return Err(AppError::invalid(format!(
            "run {id} planned {} for school {}, not {} for school {}",
            row.plugin_id, row.school, req.plugin, req.school
        )));
    }
    if row.digest != approved {
        return Err(AppError::invalid(format!(
            "the plan was made by {}@{}, but {}@{} is approved now: dry-run the approved version again",
            row.plugin_id,
            &row.digest[..12],
            row.plugin_id,
            &approved[..12]
        )));
    }
    if row.params != params {
        return Err(AppError::invalid(format!(
            "the params differ from the plan's ({}): leave them out to use the plan's",
            row.params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    // A queued run holds its plan from the moment it is queued.
    if let Some(by) = home
        .store
        .run_applying(id)?
        .filter(|by| Some(by.id.as_str()) != claimed)
    {
        return Err(AppError::invalid(format!(
            "the plan of run {id} was applied already, by run {} ({}); a plan is applied once: dry-run again",
            by.id,
            by.status.as_str()
        )));
    }
    let hours = match home.store.setting(PLAN_EXPIRY_HOURS)? {
        Some(h) => h.parse::<u64>().unwrap_or(DEFAULT_PLAN_EXPIRY_HOURS),
        None => DEFAULT_PLAN_EXPIRY_HOURS,
    };
    let planned_at = row.finished_at.as_deref().unwrap_or(&row.started_at);
    let age =
        time::OffsetDateTime::parse(planned_at, &time::format_description::well_known::Rfc3339)
            .map(|t| time::OffsetDateTime::now_utc() - t)
            .map_err(|_| {
                AppError::internal(anyhow::anyhow!(
                    "run {id} has an unreadable time {planned_at:?}"
                ))
            })?;
    if age > time::Duration::hours(hours as i64) {
        return Err(AppError::invalid(format!(
            "the plan of run {id} was made {} hour(s) ago and expired after {hours} (setting {PLAN_EXPIRY_HOURS}): dry-run again, so the plan reflects Canvas as it is now",
            age.whole_hours()
        )));
    }
    PlanBinding::from_stored(id, &row.plan).map_err(|e| AppError::internal(anyhow::anyhow!(e)))
}

/// What [`easel_policy::admit`] judges a run by: the approval's state and
/// terms, the clock, the day's runs, and the token the run would use.
fn admission_facts(
    home: &Home,
    req: &RunRequest,
    live: Option<&ApprovalRow>,
    conn: &Connection,
    claimed: Option<&str>,
) -> Result<RunFacts, AppError> {
    let now = time::OffsetDateTime::now_utc();
    let approval = match live {
        Some(_) => ApprovalState::Live,
        None => match home.store.approval_history(&req.plugin, req.school)? {
            None => ApprovalState::Missing,
            Some(h) => match (h.revoked_at, h.disabled, h.awaiting_second_after) {
                (Some(at), ..) => ApprovalState::Revoked { at },
                (None, true, _) => ApprovalState::Disabled,
                (None, false, Some(first_by)) => ApprovalState::AwaitingSecond { first_by },
                (None, false, None) => ApprovalState::Missing,
            },
        },
    };
    let terms = live.map(|a| a.terms.clone()).unwrap_or_default();
    let expires_at = match &terms.expires_at {
        None => None,
        Some(exp) => Some(
            time::OffsetDateTime::parse(exp, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    AppError::internal(anyhow::anyhow!(
                        "the grant of {} for school {} has an unreadable expiry {exp:?}",
                        req.plugin,
                        req.school
                    ))
                })?
                .unix_timestamp(),
        ),
    };
    // A queued run was counted against the daily limit when it was queued
    // (queued runs count); its worker does not count it again.
    let runs_last_day = match terms.runs_per_day {
        Some(_) if claimed.is_some() => 0,
        None => 0,
        Some(_) => {
            let since = (now - time::Duration::days(1))
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            home.store.runs_since(&req.plugin, req.school, &since)?
        }
    };
    Ok(RunFacts {
        plugin: req.plugin.clone(),
        school: req.school,
        approval,
        expires_at,
        expires_text: terms.expires_at.clone(),
        now: now.unix_timestamp(),
        dry_run_only: terms.dry_run_only,
        dry_run: req.dry_run,
        runs_per_day: terms.runs_per_day,
        runs_last_day,
        grant_token: live.and_then(|a| a.token_id.clone()),
        run_token: conn.token_id.clone(),
    })
}

/// The grant a run holds: the approval's school and write access, the
/// manifest's request narrowed by the admin's terms.
fn grant_for(
    approval: &ApprovalRow,
    manifest: &Manifest,
    req: &RunRequest,
) -> Result<Grant, AppError> {
    let t = &approval.terms;
    let scopes = match &t.scopes {
        Some(list) => Some(
            list.iter()
                .map(|s| easel_policy::Scope::parse(s))
                .collect::<Result<Vec<_>, _>>()
                .map_err(AppError::internal)?,
        ),
        None if !manifest.scopes.is_empty() => Some(manifest.scopes.clone()),
        None => None,
    };
    Ok(Grant {
        schools: vec![approval.school],
        write: approval.write,
        max_calls: t
            .max_calls
            .unwrap_or(manifest.max_calls)
            .min(manifest.max_calls),
        scopes,
        masquerade: t.masquerade && manifest.masquerade,
        // A run may tighten the grant's write limit, never loosen it.
        max_writes: match (req.limits.max_writes, t.max_writes) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        shared_users: match t.shared_users.as_deref() {
            Some("read") => easel_policy::SharedUsers::Read,
            _ => easel_policy::SharedUsers::Deny,
        },
        sis_import: t.sis_import && manifest.sis_import && approval.write,
        // Set by the caller from the school's record.
        sis_id_prefix: None,
    })
}

/// Where a grant's runs go: the instance (or a declared copy of it given
/// with `--instance`) and the token; `None`: the embedded simulator.
pub fn grant_target(
    home: &Home,
    plugin: &str,
    school: u64,
    connect: &ConnectOptions,
) -> Result<Option<(easel_store::InstanceRow, String)>, AppError> {
    // An --instance that names nothing is an error, never ignored.
    let asked = match connect.instance.as_deref() {
        Some(name) => Some(
            crate::connection::choose_instance(home, Some(name))?
                .map_or_else(|| crate::connection::SIM_INSTANCE.to_owned(), |i| i.name),
        ),
        None => None,
    };
    let Some(approval) = home.store.approval(plugin, school)? else {
        // execute_run explains what is missing.
        return Ok(None);
    };
    let (Some(instance), Some(token)) = (&approval.instance, &approval.token_id) else {
        if let Some(name) = asked.filter(|n| n != crate::connection::SIM_INSTANCE) {
            return Err(AppError::invalid(format!(
                "the grant of {plugin} for school {school} runs on the embedded simulator, not {name}: approve it with --instance {name}"
            )));
        }
        return Ok(None);
    };
    let target = match &connect.instance {
        Some(name) if name != instance => crate::connection::choose_instance(home, Some(name))?
            .ok_or_else(|| {
                AppError::invalid(format!(
                    "the grant runs on {instance}, not the embedded simulator"
                ))
            })?,
        _ => home.store.instance(instance)?.ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "the grant's instance {instance} was removed"
            ))
        })?,
    };
    Ok(Some((target, token.clone())))
}

/// The connection a grant's runs use, opened for this command.
pub async fn connection_for_grant(
    home: &Home,
    plugin: &str,
    school: u64,
    connect: &ConnectOptions,
) -> Result<Connection, AppError> {
    match grant_target(home, plugin, school, connect)? {
        None => Connection::embedded_sim().await,
        Some((target, token)) => Connection::to_instance(home, &target, Some(&token)).await,
    }
}
