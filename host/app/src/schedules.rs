//! Schedules: a plugin run for schools at cron times in a time zone,
//! unattended, by `easel serve`.
//!
//! Each fire time is handled once: [`due`] claims it in the store (a row
//! keyed by schedule and time) before anything runs, so a restart, or a
//! second process, never fires it again. A fire time that passed while
//! easel was down (or could not look in time) is a misfire: `skip`
//! records it as missed, `run-once` runs the latest of them once. A
//! schedule follows its plugin's live approval: when the approval of a
//! school it names is revoked, expired, disabled or waiting for a second
//! approver (or, for all schools, none is left), the schedule pauses and
//! says why, and runs nothing. It runs with its creator's roles as they are
//! at each fire (a local command's creator is a district admin); a creator
//! who may no longer run it pauses it too. With `--all-schools`, a school
//! approved later is run from then on.

use std::collections::HashSet;

use easel_store::{Action, AuditEntry, FireRow, ScheduleRow};
use jiff::Timestamp;
use serde::Serialize;

use crate::batch::BatchRequest;
use crate::cron::{Cron, time_zone};
use crate::error::{AppError, Kind};
use crate::home::Home;
use crate::principal::{Act, Actor, Role, SignIn};

/// How late a fire time may be handled and still count as on time (the
/// scheduler looks every 15 seconds).
pub const ON_TIME_SECS: i64 = 120;

/// Most missed fire times recorded one by one for a schedule at once
/// (beyond, the gap is summarised).
const MAX_MISSED: usize = 10_000;

/// What a new schedule runs, where and when.
#[derive(Debug, Clone)]
pub struct NewSchedule {
    /// Plugin id.
    pub plugin: String,
    /// Schools (or `all_schools`).
    pub schools: Vec<u64>,
    /// Every school the plugin is approved for.
    pub all_schools: bool,
    /// Cron expression, e.g. `0 6 * * 1-5`.
    pub cron: String,
    /// IANA time zone, e.g. `America/Chicago`.
    pub tz: String,
    /// Dry runs only.
    pub dry_run: bool,
    /// Parameters.
    pub params: Vec<(String, String)>,
    /// `skip` (default) or `queue`: a fire while the last still runs.
    pub overlap: String,
    /// `skip` (default) or `run-once`: fire times missed while down.
    pub misfire: String,
    /// Run an interrupted run again, once, if it is read-only (a dry run,
    /// or a grant without write).
    pub retry_interrupted: bool,
}

/// A schedule as listed: its row, its next fire times in its zone, and
/// its last fire.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleView {
    /// The schedule.
    #[serde(flatten)]
    pub schedule: ScheduleRow,
    /// The next three fire times, in the schedule's zone (none if paused).
    pub next: Vec<String>,
    /// The last fire time handled, and how.
    pub last: Option<FireRow>,
}

/// A time as stored: RFC 3339 in UTC, whole seconds (so stored times
/// compare as text the way they do as times).
fn stamp(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

fn random_id() -> String {
    let mut b = [0u8; 4];
    rand::Rng::fill(&mut rand::rng(), &mut b);
    hex::encode(b)
}

fn audit(
    home: &Home,
    by: &str,
    action: Action,
    row: &ScheduleRow,
    detail: String,
) -> Result<(), AppError> {
    home.audit(&AuditEntry {
        plugin: Some(row.plugin_id.clone()),
        detail: Some(format!("schedule {}: {detail}", row.id)),
        ..AuditEntry::new(by.to_owned(), action)
    })
}

/// Add a schedule. Who may approve may schedule; the plugin must be
/// approved now for the schools it names (or for some school).
pub fn add(
    home: &Home,
    by: &Actor,
    new: &NewSchedule,
    now: Timestamp,
) -> Result<ScheduleRow, AppError> {
    by.require(Act::Approve)?;
    let cron = Cron::parse(&new.cron).map_err(AppError::invalid)?;
    let tz = time_zone(&new.tz).map_err(AppError::invalid)?;
    if !cron.ever_fires(&tz) {
        return Err(AppError::invalid(format!(
            "\"{}\" never fires (no such day): check the day of month and month",
            new.cron
        )));
    }
    for (what, v, ok) in [
        ("--overlap", &new.overlap, ["skip", "queue"]),
        ("--misfire", &new.misfire, ["skip", "run-once"]),
    ] {
        if !ok.contains(&v.as_str()) {
            return Err(AppError::invalid(format!(
                "{what} is {} or {}, not {v:?}",
                ok[0], ok[1]
            )));
        }
    }
    if new.all_schools != new.schools.is_empty() {
        return Err(AppError::invalid(
            "give the schools to run for (--school, --schools) or --all-schools, not both",
        ));
    }
    let plugin = crate::plugins::find(home, &new.plugin)?;
    // The parameters, as a run checks them (each fire would fail else).
    easel_policy::Manifest::parse(&plugin.manifest)
        .map_err(|e| AppError::new(Kind::Internal, e.to_string()))?
        .resolve_params(&new.params)
        .map_err(|e| AppError::invalid(e.to_string()))?;
    let tz_name = tz.iana_name().unwrap_or(&new.tz).to_owned();
    let request = BatchRequest {
        plugin: plugin.id.clone(),
        schools: new.schools.clone(),
        all_schools: new.all_schools,
        dry_run: new.dry_run,
        params: new.params.clone(),
        max_writes: None,
        concurrency: 8,
    };
    // Refused now for a school the creator may not run, or none approved.
    crate::batch::batch_schools(home, by, &request)?;
    for &school in &new.schools {
        let Some(a) = home.store.approval(&plugin.id, school)? else {
            return Err(AppError::invalid(format!(
                "{} has no live approval for school {school} (none, revoked, or waiting for a second approver): approve it first",
                plugin.id
            )));
        };
        if expired(a.terms.expires_at.as_deref()) {
            return Err(AppError::invalid(format!(
                "the approval of {} for school {school} has expired",
                plugin.id
            )));
        }
        if new.retry_interrupted && !new.dry_run && a.write {
            return Err(AppError::invalid(format!(
                "only read-only runs are retried, and the grant of {} for school {school} may write: add --dry-run, or leave out --retry-interrupted",
                plugin.id
            )));
        }
        if a.terms.dry_run_only && !new.dry_run {
            return Err(AppError::invalid(format!(
                "the grant of {} for school {school} allows dry runs only: add --dry-run",
                plugin.id
            )));
        }
    }
    let row = ScheduleRow {
        id: random_id(),
        plugin_id: plugin.id.clone(),
        schools: new.schools.clone(),
        all_schools: new.all_schools,
        cron: cron.as_str().to_owned(),
        tz: tz_name,
        dry_run: new.dry_run,
        params: new.params.clone(),
        overlap: new.overlap.clone(),
        misfire: new.misfire.clone(),
        created_at: stamp(now),
        created_by: by.name.clone(),
        paused_at: None,
        paused_why: None,
        handled_until: stamp(now),
        creator_local: matches!(by.via, SignIn::Local(_)),
        retry_interrupted: new.retry_interrupted,
    };
    home.store.add_schedule(&row)?;
    audit(
        home,
        &by.audit_name(),
        Action::ScheduleChanged,
        &row,
        format!(
            "added: {} {} for {} at \"{}\" {}",
            row.plugin_id,
            if row.dry_run { "dry runs" } else { "live runs" },
            schools_text(&row),
            row.cron,
            row.tz
        ),
    )?;
    Ok(row)
}

fn schools_text(row: &ScheduleRow) -> String {
    if row.all_schools {
        "every approved school".into()
    } else if row.schools.len() > 5 {
        format!("{} schools", row.schools.len())
    } else {
        format!(
            "school(s) {}",
            row.schools
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )
    }
}

/// Every schedule, with its next fire times and last fire.
pub fn list(home: &Home, by: &Actor, now: Timestamp) -> Result<Vec<ScheduleView>, AppError> {
    by.require(Act::ReadAllRuns)?;
    home.store
        .schedules()?
        .into_iter()
        .map(|s| view(home, s, now))
        .collect()
}

fn view(home: &Home, schedule: ScheduleRow, now: Timestamp) -> Result<ScheduleView, AppError> {
    let next = match (
        &schedule.paused_at,
        Cron::parse(&schedule.cron),
        time_zone(&schedule.tz),
    ) {
        (None, Ok(cron), Ok(tz)) => cron
            .next(&tz, now, 3)
            .into_iter()
            .map(|t| {
                t.to_zoned(tz.clone())
                    .strftime("%Y-%m-%d %H:%M %Z")
                    .to_string()
            })
            .collect(),
        _ => Vec::new(),
    };
    let last = home.store.fires(&schedule.id, 1)?.into_iter().next();
    Ok(ScheduleView {
        schedule,
        next,
        last,
    })
}

fn find(home: &Home, id: &str) -> Result<ScheduleRow, AppError> {
    home.store.schedule(id)?.ok_or_else(|| {
        AppError::new(Kind::NotFound, format!("no schedule {id:?}"))
            .hint("see `easel schedule list`")
    })
}

/// One schedule, with its last `fires`.
pub fn show(
    home: &Home,
    by: &Actor,
    id: &str,
    now: Timestamp,
) -> Result<(ScheduleView, Vec<FireRow>), AppError> {
    by.require(Act::ReadAllRuns)?;
    let row = find(home, id)?;
    let fires = home.store.fires(id, 20)?;
    Ok((view(home, row, now)?, fires))
}

/// Pause a schedule.
pub fn pause(home: &Home, by: &Actor, id: &str) -> Result<(), AppError> {
    by.require(Act::Approve)?;
    let row = find(home, id)?;
    if row.paused_at.is_some() {
        return Err(AppError::new(
            Kind::Conflict,
            format!("schedule {id} is paused already"),
        ));
    }
    let why = format!("by {}", by.name);
    home.store.set_schedule_paused(id, Some(&why), None)?;
    audit(
        home,
        &by.audit_name(),
        Action::ScheduleChanged,
        &row,
        "paused".into(),
    )
}

/// Resume a schedule: fire times from `now` on; those missed while it was
/// paused are not fired.
pub fn resume(home: &Home, by: &Actor, id: &str, now: Timestamp) -> Result<(), AppError> {
    by.require(Act::Approve)?;
    let row = find(home, id)?;
    if row.paused_at.is_none() {
        return Err(AppError::new(
            Kind::Conflict,
            format!("schedule {id} is not paused"),
        ));
    }
    home.store
        .set_schedule_paused(id, None, Some(&stamp(now)))?;
    audit(
        home,
        &by.audit_name(),
        Action::ScheduleChanged,
        &row,
        "resumed".into(),
    )
}

/// Remove a schedule (its fires stay, as history).
pub fn remove(home: &Home, by: &Actor, id: &str) -> Result<(), AppError> {
    by.require(Act::Approve)?;
    let row = find(home, id)?;
    home.store.remove_schedule(id)?;
    audit(
        home,
        &by.audit_name(),
        Action::ScheduleChanged,
        &row,
        "removed".into(),
    )
}

/// A fire to run now: claimed, so it runs once.
#[derive(Debug, Clone)]
pub struct Due {
    /// The schedule.
    pub schedule: ScheduleRow,
    /// The fire time (RFC 3339).
    pub fire_at: String,
    /// Who the runs act as: the schedule, with its creator's roles now.
    pub actor: Actor,
    /// The batch to run.
    pub request: BatchRequest,
}

/// Has a grant's expiry passed? An expiry that does not read counts as
/// passed, as run admission refuses it too.
fn expired(expires_at: Option<&str>) -> bool {
    expires_at.is_some_and(|e| {
        !time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339)
            .is_ok_and(|at| at > time::OffsetDateTime::now_utc())
    })
}

/// Who the schedule runs as now: its creator with their roles now (a
/// district admin's for a local command's), or why it may not run.
pub(crate) fn acting(home: &Home, row: &ScheduleRow) -> Result<Result<Actor, String>, AppError> {
    let roles = if row.creator_local {
        vec![Role::DistrictAdmin]
    } else {
        match home.store.user(&row.created_by)? {
            Some(u) if u.disabled_at.is_none() => {
                serde_json::from_str::<Vec<Role>>(&u.roles).unwrap_or_default()
            }
            Some(_) => return Ok(Err(format!("its creator {} is disabled", row.created_by))),
            None => return Ok(Err(format!("its creator {} is gone", row.created_by))),
        }
    };
    let actor = Actor {
        name: row.created_by.clone(),
        roles,
        via: SignIn::Local(format!("schedule {}", row.id)),
    };
    let act = |s: u64| {
        if row.dry_run {
            Act::RunDry(s)
        } else {
            Act::RunLive(s)
        }
    };
    if let Some(s) = row.schools.iter().find(|s| !actor.may(act(**s))) {
        return Ok(Err(format!(
            "its creator {} may no longer {} school {s}",
            row.created_by,
            if row.dry_run {
                "dry-run for"
            } else {
                "run live for"
            }
        )));
    }
    if row.all_schools && !actor.may(Act::Approve) {
        return Ok(Err(format!(
            "its creator {} may no longer approve, which an all-schools schedule needs",
            row.created_by
        )));
    }
    Ok(Ok(actor))
}

/// Why the schedule may not run now, if it may not: a school it names
/// without a live, unexpired approval, or (for all schools) none left.
fn blocked(home: &Home, row: &ScheduleRow) -> Result<Option<String>, AppError> {
    if row.all_schools {
        let mut any = false;
        for school in home.store.live_schools(&row.plugin_id, &[])? {
            if let Some(a) = home.store.approval(&row.plugin_id, school)?
                && !expired(a.terms.expires_at.as_deref())
            {
                any = true;
                break;
            }
        }
        return Ok((!any).then(|| {
            format!(
                "{} has no live approval for any school (revoked, disabled or expired)",
                row.plugin_id
            )
        }));
    }
    for &school in &row.schools {
        match home.store.approval(&row.plugin_id, school)? {
            None => {
                return Ok(Some(format!(
                    "{} has no live approval for school {school} (revoked, disabled, or waiting for a second approver)",
                    row.plugin_id
                )));
            }
            Some(a) if expired(a.terms.expires_at.as_deref()) => {
                return Ok(Some(format!(
                    "the approval of {} for school {school} expired",
                    row.plugin_id
                )));
            }
            Some(_) => {}
        }
    }
    Ok(None)
}

/// Pause `row` for `why`, audited.
fn pause_for(home: &Home, row: &ScheduleRow, why: &str) -> Result<(), AppError> {
    let why = format!("{why}; fix that, then `easel schedule resume {}`", row.id);
    let why = why.as_str();
    home.store.set_schedule_paused(&row.id, Some(why), None)?;
    audit(
        home,
        "scheduler",
        Action::ScheduleChanged,
        row,
        format!("paused: {why}"),
    )
}

/// The fires due at `now`, each claimed (so it runs once); missed and
/// skipped fire times recorded and audited; schedules that may not run
/// paused with the reason. `running`: schedules with a fire running;
/// `waiting`: schedules with a fire queued behind it. A schedule that
/// cannot be handled is logged and left for the next look; the others go
/// on.
pub fn due(
    home: &Home,
    now: Timestamp,
    running: &HashSet<String>,
    waiting: &HashSet<String>,
) -> Result<Vec<Due>, AppError> {
    let mut out = Vec::new();
    for row in home.store.schedules()? {
        if row.paused_at.is_some() {
            continue;
        }
        let id = row.id.clone();
        match due_one(home, row, now, running, waiting) {
            Ok(Some(d)) => out.push(d),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(schedule = %id, "could not handle the schedule: {}", e.message)
            }
        }
    }
    Ok(out)
}

fn due_one(
    home: &Home,
    row: ScheduleRow,
    now: Timestamp,
    running: &HashSet<String>,
    waiting: &HashSet<String>,
) -> Result<Option<Due>, AppError> {
    let (Ok(cron), Ok(tz), Ok(since)) = (
        Cron::parse(&row.cron),
        time_zone(&row.tz),
        row.handled_until.parse::<Timestamp>(),
    ) else {
        pause_for(
            home,
            &row,
            "its cron expression, time zone or stored time no longer reads",
        )?;
        return Ok(None);
    };
    // The fire times up to now: the first MAX_MISSED one by one, and the
    // latest and the count beyond.
    let mut times = Vec::new();
    let (mut latest, mut count) = (None, 0usize);
    for t in cron.fires_after(&tz, since) {
        if t > now {
            break;
        }
        if times.len() < MAX_MISSED {
            times.push(t);
        }
        latest = Some(t);
        count += 1;
    }
    let Some(latest) = latest else {
        return Ok(None);
    };
    if let Some(why) = blocked(home, &row)? {
        pause_for(home, &row, &why)?;
        return Ok(None);
    }
    let actor = match acting(home, &row)? {
        Ok(a) => a,
        Err(why) => {
            pause_for(home, &row, &why)?;
            return Ok(None);
        }
    };
    let on_time = now.as_second() - latest.as_second() <= ON_TIME_SECS;
    // The one fire time to run, if any: the latest, when on time or when
    // misfires run once.
    let fire = (on_time || row.misfire == "run-once").then_some(latest);
    let missed: Vec<String> = times
        .iter()
        .filter(|t| Some(**t) != fire)
        .map(|t| stamp(*t))
        .collect();
    let missed_count = count - usize::from(fire.is_some());
    if missed_count > 0 {
        // The handled mark moves to the latest missed time (the fire's own
        // claim moves it on).
        let until = if fire.is_some() {
            missed.last().cloned().unwrap_or_else(|| stamp(latest))
        } else {
            stamp(latest)
        };
        let recorded = home.store.record_missed(
            &row.id,
            &missed,
            &until,
            "not run in time: easel was not running, or could not look in time",
        )?;
        if recorded > 0 || missed_count > missed.len() {
            audit(
                home,
                "scheduler",
                Action::ScheduleSkipped,
                &row,
                format!(
                    "{missed_count} fire time(s) up to {until} not run in time{}",
                    if missed_count > missed.len() {
                        format!(" (the first {} recorded one by one)", missed.len())
                    } else {
                        String::new()
                    }
                ),
            )?;
        }
    }
    let Some(fire) = fire else {
        return Ok(None);
    };
    let fire_at = stamp(fire);
    if running.contains(&row.id) && (row.overlap == "skip" || waiting.contains(&row.id)) {
        let why = if row.overlap == "skip" {
            "the last fire still runs"
        } else {
            "a fire already waits behind the running one"
        };
        if home
            .store
            .claim_fire(&row.id, &fire_at, "skipped", Some(why))?
        {
            audit(
                home,
                "scheduler",
                Action::ScheduleSkipped,
                &row,
                format!("{fire_at} skipped: {why}"),
            )?;
        }
        return Ok(None);
    }
    if !home.store.claim_fire(&row.id, &fire_at, "fired", None)? {
        return Ok(None);
    }
    let request = BatchRequest {
        plugin: row.plugin_id.clone(),
        schools: row.schools.clone(),
        all_schools: row.all_schools,
        dry_run: row.dry_run,
        params: row.params.clone(),
        max_writes: None,
        concurrency: 8,
    };
    let due = Due {
        schedule: row,
        fire_at,
        actor,
        request,
    };
    let schools = match crate::batch::batch_schools(home, &due.actor, &due.request) {
        Ok(s) => s,
        Err(e) => {
            finished(home, &due, &Err(e))?;
            return Ok(None);
        }
    };
    if let Err(e) = audit(
        home,
        "scheduler",
        Action::ScheduleFired,
        &due.schedule,
        format!(
            "fired for {}: {} for school(s) {}",
            due.fire_at,
            if due.schedule.dry_run {
                "dry runs"
            } else {
                "live runs"
            },
            schools
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
    ) {
        // Nothing runs that the log does not show.
        finished(home, &due, &Err(e))?;
        return Ok(None);
    }
    Ok(Some(due))
}

/// Record how a fire's batch ended. A fire whose runs all failed before
/// starting (refused) pauses its schedule with the reason: every later
/// fire would fail the same way.
pub fn finished(
    home: &Home,
    due: &Due,
    result: &Result<crate::batch::BatchResult, AppError>,
) -> Result<(), AppError> {
    let first_error = |r: &crate::batch::BatchResult| {
        r.runs
            .iter()
            .find_map(|row| row.error.clone())
            .unwrap_or_default()
    };
    let (outcome, batch, detail) = match result {
        Ok(r) if r.failed == 0 => ("succeeded", Some(r.batch.clone()), None),
        Ok(r) => (
            "failed",
            Some(r.batch.clone()).filter(|b| !b.is_empty()),
            Some(format!(
                "{} of {} run(s) failed: {}",
                r.failed,
                r.schools,
                first_error(r)
            )),
        ),
        Err(e) if e.kind == Kind::Conflict => ("skipped", None, Some(e.to_string())),
        Err(e) => ("failed", None, Some(e.to_string())),
    };
    home.store.finish_fire(
        &due.schedule.id,
        &due.fire_at,
        outcome,
        batch.as_deref(),
        detail.as_deref(),
    )?;
    if outcome == "failed" {
        tracing::warn!(schedule = %due.schedule.id, fire = %due.fire_at, "a scheduled fire failed: {}", detail.as_deref().unwrap_or(""));
        audit(
            home,
            "scheduler",
            Action::RunFailed,
            &due.schedule,
            format!(
                "fire {} failed: {}",
                due.fire_at,
                detail.as_deref().unwrap_or("")
            ),
        )?;
    }
    let refused = match result {
        Ok(r) => !r.runs.is_empty() && r.runs.iter().all(|row| row.run.is_none()),
        Err(e) => matches!(e.kind, Kind::Invalid | Kind::Forbidden | Kind::NotFound),
    };
    if refused {
        let why = match result {
            Ok(r) => first_error(r),
            Err(e) => e.to_string(),
        };
        pause_for(
            home,
            &due.schedule,
            &format!("its last fire was refused: {why}"),
        )?;
    }
    Ok(())
}

/// Queue a due fire's batch in `queue` (one run per school, as one
/// batch) and wait for its runs to end. A fire that waited is checked
/// again first: a schedule paused or removed meanwhile runs nothing, and
/// the creator's roles are read again.
pub async fn run(
    home: &Home,
    due: &Due,
    connections: &crate::pool::Connections,
    queue: &crate::queue::Queue,
) -> Result<crate::batch::BatchResult, AppError> {
    let current = home.store.schedule(&due.schedule.id)?;
    let Some(row) = current.filter(|r| r.paused_at.is_none()) else {
        return Err(AppError::new(
            Kind::Conflict,
            "the schedule was paused or removed before this fire ran",
        ));
    };
    let actor = match acting(home, &row)? {
        Ok(a) => a,
        Err(why) => {
            pause_for(home, &row, &why)?;
            return Err(AppError::forbidden(why));
        }
    };
    queue.require_accepting()?;
    let schools = crate::batch::batch_schools(home, &actor, &due.request)?;
    let conn = connections
        .for_grant(home, &due.request.plugin, schools[0])
        .await?;
    let queued = crate::queue::enqueue_batch(
        home,
        &actor,
        &conn,
        &due.request,
        &schools,
        Some(&due.schedule.id),
    )
    .await?;
    queue.wake();
    let rows = crate::queue::wait_for(
        home,
        queue,
        &queued.run_ids(),
        std::time::Duration::from_millis(500),
    )
    .await?;
    let throttled = conn.client.governor().stats().throttled;
    Ok(crate::queue::batch_result(
        &due.request,
        &queued,
        &rows,
        throttled,
    ))
}
