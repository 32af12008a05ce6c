//! What an actor may read: runs, their plans and reports, each limited to
//! the schools the actor's roles reach. A run the actor may not read is
//! "not found", the same as one that does not exist.

use std::path::PathBuf;

use easel_store::{RunFilter, RunRow};

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
