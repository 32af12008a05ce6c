//! course-publisher: publish (offer) or conclude the school's courses that
//! match a rule, writing `changes.csv`. In a dry run the host sends nothing
//! and records each intended write as the run's plan.

use easel_sdk::canvas::{self, Written};
use easel_sdk::models::Course;
use easel_sdk::report::Csv;
use easel_sdk::{Context, Error, Result, log};

/// (Canvas event, state a course must be in to be changed)
fn rule(action: &str) -> Result<(&'static str, &'static str)> {
    match action {
        "publish" => Ok(("offer", "unpublished")),
        "conclude" => Ok(("conclude", "available")),
        other => Err(Error::Param(format!(
            "action must be publish or conclude, got {other:?}"
        ))),
    }
}

fn run(cx: &Context) -> Result<()> {
    let (event, from_state) = rule(cx.param("action").unwrap_or("publish"))?;
    let limit = cx.param_i64("limit")?.unwrap_or(200).max(0) as usize;
    let needle = cx.param("name_contains").map(str::to_lowercase);
    let term = cx.param_i64("term_id")?.map(|t| t.to_string());
    let mut query = vec![("state[]", from_state)];
    if let Some(term) = &term {
        query.push(("enrollment_term_id", term));
    }
    let path = format!("/api/v1/accounts/{}/courses", cx.school_id());
    let matches = |c: &Course| {
        needle.as_deref().is_none_or(|n| {
            c.name.to_lowercase().contains(n)
                || c.course_code
                    .as_deref()
                    .unwrap_or("")
                    .to_lowercase()
                    .contains(n)
        })
    };
    // Collect first: changing courses while paging a state-filtered list
    // would shift the pages under us.
    let mut targets = Vec::new();
    for course in canvas::list::<Course>(&path, &query) {
        let c = course?;
        if c.workflow_state.as_deref() == Some(from_state) && matches(&c) {
            targets.push(c);
        }
    }
    if targets.len() > limit {
        log::warn(format!(
            "{} courses match; changing the first {limit} (raise --param limit=N to do more)",
            targets.len()
        ));
        targets.truncate(limit);
    }
    let mut csv = Csv::create(
        "changes.csv",
        &["course_id", "name", "from_state", "event", "outcome"],
    )?;
    let body = serde_json::json!({ "course": { "event": event } });
    for c in &targets {
        let outcome = match canvas::put(&format!("/api/v1/courses/{}", c.id), &body)? {
            Written::Sent(v) => v
                .get("workflow_state")
                .and_then(|s| s.as_str())
                .map(|s| format!("now {s}"))
                .unwrap_or_else(|| "sent".to_owned()),
            Written::Planned(step) => format!("planned (step {step})"),
        };
        csv.row(&[&c.id.to_string(), &c.name, from_state, event, &outcome])?;
    }
    let verb = if cx.dry_run() {
        "would change"
    } else {
        "changed"
    };
    log::info(format!(
        "{verb} {} course(s) with event {event}",
        targets.len()
    ));
    Ok(())
}

easel_sdk::plugin!(run);
