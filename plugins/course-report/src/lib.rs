//! course-report: every course in the school with its term, state, teacher
//! count and student count, as `courses.csv`.
//!
//! One paged list call per 100 courses (`include[]=term,teachers,total_students`),
//! so a school with 2,000 courses costs 20 Canvas calls.

use easel_sdk::models::Course;
use easel_sdk::report::Csv;
use easel_sdk::{Context, Result, canvas, log};

const HEADER: &[&str] = &[
    "course_id",
    "sis_course_id",
    "course_code",
    "name",
    "account_id",
    "term",
    "state",
    "teachers",
    "students",
];

fn run(cx: &Context) -> Result<()> {
    let path = format!("/api/v1/accounts/{}/courses", cx.school_id());
    let mut query = vec![
        ("include[]", "term"),
        ("include[]", "teachers"),
        ("include[]", "total_students"),
    ];
    let state = cx.param("state");
    if let Some(state) = state {
        query.push(("state[]", state));
    }
    let term = cx.param_i64("term_id")?.map(|t| t.to_string());
    if let Some(term) = &term {
        query.push(("enrollment_term_id", term));
    }
    log::info(format!(
        "listing courses of {} ({})",
        cx.school_name(),
        cx.school_id()
    ));
    let mut csv = Csv::create("courses.csv", HEADER)?;
    for course in canvas::list::<Course>(&path, &query) {
        let c = course?;
        let teachers = c.teachers.as_ref().map_or(0, Vec::len);
        csv.row(&[
            &c.id.to_string(),
            c.sis_course_id.as_deref().unwrap_or(""),
            c.course_code.as_deref().unwrap_or(""),
            &c.name,
            &c.account_id.map(|a| a.to_string()).unwrap_or_default(),
            c.term.as_ref().map_or("", |t| t.name.as_str()),
            c.workflow_state.as_deref().unwrap_or(""),
            &teachers.to_string(),
            &c.total_students.unwrap_or(0).to_string(),
        ])?;
    }
    log::info(format!("wrote {} courses to courses.csv", csv.rows()));
    Ok(())
}

easel_sdk::plugin!(run);
