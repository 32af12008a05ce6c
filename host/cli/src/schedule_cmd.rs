//! `easel schedule add|list|show|pause|resume|remove`: parse, call the
//! application layer, print.

use easel_app::Home;
use easel_app::schedules::{self, NewSchedule, ScheduleView};

use crate::args::ScheduleCommand;
use crate::error::{CliError, Outcome};
use crate::json_out;

fn targets(v: &ScheduleView) -> String {
    let s = &v.schedule;
    if s.all_schools {
        "all schools".into()
    } else if s.schools.len() > 3 {
        format!("{} schools", s.schools.len())
    } else {
        s.schools
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn state(v: &ScheduleView) -> String {
    match (&v.schedule.paused_at, &v.schedule.paused_why) {
        (Some(at), Some(why)) => format!("paused since {}: {why}", at.get(..16).unwrap_or(at)),
        (Some(_), None) => "paused".into(),
        _ => "active".into(),
    }
}

/// `easel schedule ...`.
pub(crate) fn command(home: &Home, command: ScheduleCommand) -> Result<Outcome, CliError> {
    let me = crate::local_actor(home)?;
    let now = jiff::Timestamp::now();
    match command {
        ScheduleCommand::Add {
            plugin,
            school,
            schools,
            all_schools,
            cron,
            tz,
            dry_run,
            params,
            overlap,
            misfire,
            retry_interrupted,
            json,
        } => {
            let new = NewSchedule {
                plugin,
                schools: schools.into_iter().chain(school).collect(),
                all_schools,
                cron,
                tz,
                dry_run,
                params: easel_app::parse_params(&params)?,
                overlap,
                misfire,
                retry_interrupted,
            };
            let row = schedules::add(home, &me, &new, now)?;
            let view = schedules::show(home, &me, &row.id, now)?.0;
            if json {
                return json_out(&view);
            }
            println!(
                "added schedule {} of {} for {} at \"{}\" ({}); `easel serve` fires it",
                row.id,
                row.plugin_id,
                targets(&view),
                row.cron,
                row.tz
            );
            if !view.next.is_empty() {
                println!("next: {}", view.next.join(", "));
            }
            Ok(Outcome::Success)
        }
        ScheduleCommand::List { json } => {
            let list = schedules::list(home, &me, now)?;
            if json {
                return json_out(&list);
            }
            println!(
                "{:<9} {:<18} {:<12} {:<16} {:<20} {:<24} LAST",
                "ID", "PLUGIN", "SCHOOLS", "CRON", "ZONE", "NEXT"
            );
            for v in &list {
                let s = &v.schedule;
                let next = match v.next.first() {
                    Some(n) => n.clone(),
                    None => state(v),
                };
                let last = v
                    .last
                    .as_ref()
                    .map(|f| format!("{} {}", f.fire_at, f.outcome))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<9} {:<18} {:<12} {:<16} {:<20} {:<24} {last}",
                    s.id,
                    s.plugin_id,
                    targets(v),
                    s.cron,
                    s.tz,
                    next
                );
            }
            Ok(Outcome::Success)
        }
        ScheduleCommand::Show { id, json } => {
            let (view, fires) = schedules::show(home, &me, &id, now)?;
            if json {
                return json_out(&serde_json::json!({"schedule": view, "fires": fires}));
            }
            let s = &view.schedule;
            println!(
                "schedule {} of {} ({}) for {}",
                s.id,
                s.plugin_id,
                if s.dry_run { "dry runs" } else { "live runs" },
                targets(&view)
            );
            println!("  when      \"{}\" in {}", s.cron, s.tz);
            println!("  state     {}", state(&view));
            if !view.next.is_empty() {
                println!("  next      {}", view.next.join(", "));
            }
            println!(
                "  overlap   {}; misfire {}{}",
                s.overlap,
                s.misfire,
                if s.retry_interrupted {
                    "; interrupted read-only runs run again once"
                } else {
                    ""
                }
            );
            println!("  added     {} by {}", s.created_at, s.created_by);
            for f in fires {
                println!(
                    "  fire      {} {}{}{}",
                    f.fire_at,
                    f.outcome,
                    f.batch
                        .map(|b| format!(" (batch {b}: `easel runs --batch {b}`)"))
                        .unwrap_or_default(),
                    f.detail.map(|d| format!(": {d}")).unwrap_or_default()
                );
            }
            Ok(Outcome::Success)
        }
        ScheduleCommand::Pause { id, json } => {
            schedules::pause(home, &me, &id)?;
            said(json, &id, "paused", format!("paused schedule {id}"))
        }
        ScheduleCommand::Resume { id, json } => {
            schedules::resume(home, &me, &id, now)?;
            said(
                json,
                &id,
                "active",
                format!(
                    "resumed schedule {id}: it fires from now on (times missed while paused do not)"
                ),
            )
        }
        ScheduleCommand::Remove { id, json } => {
            schedules::remove(home, &me, &id)?;
            said(json, &id, "removed", format!("removed schedule {id}"))
        }
    }
}

fn said(json: bool, id: &str, state: &str, text: String) -> Result<Outcome, CliError> {
    if json {
        return json_out(&serde_json::json!({"id": id, "state": state}));
    }
    println!("{text}");
    Ok(Outcome::Success)
}
