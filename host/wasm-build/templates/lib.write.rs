//! {{id}}: publish the school's unpublished courses whose name starts with
//! the `prefix` parameter, writing changes.csv.
//!
//! Run it dry first (`easel run {{id}} --school ID --dry-run`): easel sends
//! nothing and records each write as a step of the run's plan, which an
//! approver reviews and applies.

use easel_sdk::canvas::{self, Written};
use easel_sdk::models::Course;
use easel_sdk::report::Csv;
use easel_sdk::{Context, Result, log};

fn run(cx: &Context) -> Result<()> {
    let prefix = cx.require("prefix")?.to_owned();
    let path = format!("/api/v1/accounts/{}/courses", cx.school_id());
    // Collect first: publishing while paging a state-filtered list would
    // shift the pages under us.
    let mut targets = Vec::new();
    for course in canvas::list::<Course>(&path, &[("state[]", "unpublished")]) {
        let c = course?;
        if c.name.starts_with(&prefix) && c.workflow_state.as_deref() == Some("unpublished") {
            targets.push(c);
        }
    }
    let mut out = Csv::create("changes.csv", &["course_id", "name", "outcome"])?;
    let body = serde_json::json!({ "course": { "event": "offer" } });
    for c in &targets {
        let outcome = match canvas::put(&format!("/api/v1/courses/{}", c.id), &body)? {
            Written::Planned(step) => format!("planned (step {step})"),
            Written::Sent(v) => format!(
                "now {}",
                v.get("workflow_state").and_then(|s| s.as_str()).unwrap_or("?")
            ),
        };
        out.row(&[&c.id.to_string(), &c.name, &outcome])?;
    }
    let verb = if cx.dry_run() { "would publish" } else { "published" };
    log::info(format!("{verb} {} course(s) starting with {prefix:?}", targets.len()));
    Ok(())
}

easel_sdk::plugin!(run);
