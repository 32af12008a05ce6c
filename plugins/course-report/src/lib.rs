//! course-report: every course in the school with its term, state, teacher
//! count and student count, as `courses.csv`.
//!
//! A count Canvas did not send is an empty cell, never 0: Canvas sends
//! `teachers` and `total_students` only for the `include[]`s asked for, and
//! cuts `include[]` silently for a token whose scopes do not allow includes,
//! so a 0 there would claim an empty course.
//!
//! One paged list call per 100 courses (`include[]=term,teachers,total_students`),
//! so a school with 2,000 courses costs 20 Canvas calls. With `sections=true`
//! it also lists each course's sections (one more call per course) and adds
//! their count and names.

use easel_sdk::models::{Course, Section};
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

/// Extra columns with `sections=true`.
const SECTION_COLUMNS: &[&str] = &["sections", "section_names"];

/// A count as a cell: empty when Canvas did not send it.
fn count(n: Option<impl ToString>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

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
    let with_sections = cx.param_bool("sections")?;
    let mut header = HEADER.to_vec();
    if with_sections {
        header.extend_from_slice(SECTION_COLUMNS);
    }
    let mut csv = Csv::create("courses.csv", &header)?;
    for course in canvas::list::<Course>(&path, &query) {
        let c = course?;
        let teachers = c.teachers.as_ref().map(Vec::len);
        let mut row = vec![
            c.id.to_string(),
            c.sis_course_id.clone().unwrap_or_default(),
            c.course_code.clone().unwrap_or_default(),
            c.name.clone(),
            c.account_id.map(|a| a.to_string()).unwrap_or_default(),
            c.term.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
            c.workflow_state.clone().unwrap_or_default(),
            count(teachers),
            count(c.total_students),
        ];
        if with_sections {
            let sections =
                canvas::list::<Section>(&format!("/api/v1/courses/{}/sections", c.id), &[])
                    .collect::<Result<Vec<_>>>()?;
            let names: Vec<&str> = sections.iter().map(|s| s.name.as_str()).collect();
            row.push(sections.len().to_string());
            row.push(names.join("; "));
        }
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        csv.row(&cells)?;
    }
    log::info(format!("wrote {} courses to courses.csv", csv.rows()));
    Ok(())
}

easel_sdk::plugin!(run);
