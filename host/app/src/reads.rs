//! What an actor may read: runs, their plans and reports, each limited to
//! the schools the actor's roles reach. A run the actor may not read is
//! "not found", the same as one that does not exist.

use std::path::PathBuf;

use easel_store::{Action, AuditEntry, AuditFilter, AuditRecord, RunFilter, RunRow};

use crate::error::AppError;
use crate::home::Home;
use crate::principal::{Act, Actor, Role};

/// The schools `actor` may read runs of (`None`: every school).
fn readable_schools(actor: &Actor) -> Option<Vec<u64>> {
    if actor.may(Act::ReadAllRuns) {
        return None;
    }
    let mut schools: Vec<u64> = actor
        .roles
        .iter()
        .flat_map(|r| match r {
            Role::SchoolContributor { schools } => schools.clone(),
            _ => Vec::new(),
        })
        .filter(|s| actor.may(Act::ReadRuns(*s)))
        .collect();
    schools.sort_unstable();
    schools.dedup();
    Some(schools)
}

/// The newest `limit` runs matching `filter` that `actor` may read.
pub fn list_runs(
    home: &Home,
    actor: &Actor,
    limit: usize,
    filter: &RunFilter,
) -> Result<Vec<RunRow>, AppError> {
    if let Some(since) = &filter.since
        && !since.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(AppError::invalid(format!(
            "--since takes a time such as 2026-12-01 or 2026-12-01T06:00:00Z, not {since:?}"
        )));
    }
    let Some(schools) = readable_schools(actor) else {
        return Ok(home.store.runs_where(limit, filter)?);
    };
    let mut runs = Vec::new();
    for school in schools {
        if filter.school.is_some_and(|s| s != school) {
            continue;
        }
        let one = RunFilter {
            school: Some(school),
            ..filter.clone()
        };
        runs.extend(home.store.runs_where(limit, &one)?);
    }
    runs.sort_by(|a, b| b.started_at.cmp(&a.started_at));
    runs.truncate(limit);
    Ok(runs)
}

/// Run `id`, if `actor` may read it.
pub fn run(home: &Home, actor: &Actor, id: &str) -> Result<RunRow, AppError> {
    home.store
        .run(id)?
        .filter(|r| actor.may(Act::ReadRuns(r.school)))
        .ok_or_else(|| AppError::not_found(format!("no run {id:?}: see `easel runs`")))
}

/// Run `id`, if `actor` may read it; a run that exists but belongs to a
/// school the actor's roles do not reach is refused (forbidden, not "not
/// found": the console links runs by id, and a guessed id should say why)
/// and the attempt is audited.
pub fn run_or_refuse(home: &Home, actor: &Actor, id: &str) -> Result<RunRow, AppError> {
    let Some(row) = home.store.run(id)? else {
        return Err(AppError::not_found(format!("no run {id:?}")));
    };
    if actor.may(Act::ReadRuns(row.school)) {
        return Ok(row);
    }
    home.audit(&AuditEntry {
        school: Some(row.school),
        plugin: Some(row.plugin_id.clone()),
        run: Some(row.id.clone()),
        detail: Some(format!("refused: read run {id}")),
        ..AuditEntry::new(actor.audit_name(), Action::AccessDenied)
    })?;
    Err(AppError::forbidden(format!(
        "run {id} is school {}'s, and your roles do not reach that school",
        row.school
    )))
}

/// The audit records of run `id` (its start, each Canvas request allowed,
/// denied and answered, its end), oldest first, at most `limit`, if
/// `actor` may read the run: a school's people see their runs' calls
/// without reading the whole audit log.
pub fn run_records(
    home: &Home,
    actor: &Actor,
    id: &str,
    after_seq: Option<u64>,
    limit: usize,
) -> Result<Vec<AuditRecord>, AppError> {
    let row = run(home, actor, id)?;
    Ok(home.audit.records(
        &AuditFilter {
            run: Some(row.id),
            after_seq,
            ..AuditFilter::default()
        },
        Some(limit),
    )?)
}

/// The file of report `name` that run `id` wrote, if `actor` may read it.
/// `name` is a file name the run recorded, never a path.
pub fn report(home: &Home, actor: &Actor, id: &str, name: &str) -> Result<PathBuf, AppError> {
    let row = run(home, actor, id)?;
    let dir = home.run_dir(&row.id);
    row.outputs
        .iter()
        .map(PathBuf::from)
        .find(|p| p.file_name().is_some_and(|n| n == name) && p.parent() == Some(dir.as_path()))
        .ok_or_else(|| {
            AppError::not_found(format!(
                "run {id} wrote no report {name:?}: `easel runs show {id}` lists its reports"
            ))
        })
}
