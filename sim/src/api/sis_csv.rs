//! Applying a SIS import's CSV (Canvas's `instructure_csv` format): users,
//! courses, sections or enrollments, each row naming objects by SIS id
//! anywhere in the institution. Headers are matched without regard to
//! case and every value is trimmed, as Canvas does; a bad row is reported
//! in `processing_errors` and the rest still apply.

use serde_json::json;

use super::sis::SisImport;
use crate::generate::{enrollment, person};
use crate::model::{Course, Institution, ROOT_ACCOUNT_ID, Section};

pub(super) fn apply(inst: &mut Institution, import: &mut SisImport) {
    let mut rows = csv_rows(&import.csv);
    // Canvas downcases headers and strips every value.
    for row in &mut rows {
        for field in row.iter_mut() {
            *field = field.trim().to_owned();
        }
    }
    let Some(header) = (!rows.is_empty()).then(|| rows.remove(0)) else {
        import.state = "failed_with_messages";
        import
            .errors
            .push(("sis.csv".into(), "the file is empty".into()));
        return;
    };
    let header: Vec<String> = header.iter().map(|h| h.to_lowercase()).collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let get = |row: &Vec<String>, name: &str| {
        col(name)
            .and_then(|i| row.get(i))
            .cloned()
            .filter(|v| !v.is_empty())
    };
    let kind = if col("login_id").is_some() {
        "users"
    } else if col("long_name").is_some() {
        "courses"
    } else if col("role").is_some() {
        "enrollments"
    } else if col("section_id").is_some() {
        "sections"
    } else {
        import.state = "failed_with_messages";
        import.errors.push((
            "sis.csv".into(),
            format!("unknown CSV header: {}", header.join(",")),
        ));
        return;
    };
    let file = format!("{kind}.csv");
    let mut applied = 0u64;
    for (n, row) in rows.iter().enumerate() {
        let line = n + 2;
        let result = match kind {
            "users" => sis_user(inst, row, &get),
            "courses" => sis_course(inst, import.account, row, &get),
            "sections" => sis_section(inst, row, &get),
            _ => sis_enrollment(inst, row, &get),
        };
        match result {
            Ok(()) => applied += 1,
            Err(m) => import
                .errors
                .push((file.clone(), format!("line {line}: {m}"))),
        }
    }
    import.counts.insert(kind.into(), json!(applied));
    import.state = if import.errors.is_empty() {
        "imported"
    } else {
        "imported_with_messages"
    };
}

type Get<'a> = dyn Fn(&Vec<String>, &str) -> Option<String> + 'a;

fn sis_user(inst: &mut Institution, row: &Vec<String>, get: &Get<'_>) -> Result<(), String> {
    let sis = get(row, "user_id").ok_or("user_id is required")?;
    let login = get(row, "login_id").ok_or("login_id is required")?;
    let name = get(row, "full_name").unwrap_or_else(|| {
        format!(
            "{} {}",
            get(row, "first_name").unwrap_or_default(),
            get(row, "last_name").unwrap_or_default()
        )
        .trim()
        .to_owned()
    });
    // As Canvas does: the user with this SIS id, else the user who holds
    // this login and has no SIS id yet (the login is claimed for the row).
    let by_login = inst
        .users
        .values()
        .find(|u| u.login_id.eq_ignore_ascii_case(&login));
    let existing = match inst
        .users
        .values()
        .find(|u| u.sis_user_id.as_deref() == Some(&sis))
    {
        Some(u) => Some(u.id),
        None => match by_login {
            Some(u) if u.sis_user_id.is_none() => Some(u.id),
            Some(_) => return Err(format!("login {login} is already in use by another user")),
            None => None,
        },
    };
    let now = crate::dates::now();
    let id = existing.unwrap_or_else(|| Institution::next_id(&inst.users, 10_000));
    let mut user = person(id, &name, login, Some(sis), crate::auth::random_string(40));
    match inst.users.get(&id) {
        // An update keeps what the row does not say.
        Some(old) => {
            user.uuid = old.uuid.clone();
            user.email = old.email.clone();
            user.created_at = old.created_at.clone();
        }
        None => user.created_at = now,
    }
    inst.users.insert(id, user);
    Ok(())
}

fn sis_course(
    inst: &mut Institution,
    import_account: u64,
    row: &Vec<String>,
    get: &Get<'_>,
) -> Result<(), String> {
    let sis = get(row, "course_id").ok_or("course_id is required")?;
    let named_account = get(row, "account_id").is_some();
    let account = match get(row, "account_id") {
        Some(a) => inst
            .accounts
            .values()
            .find(|x| x.sis_account_id.as_deref() == Some(&a))
            .map(|x| x.id)
            .ok_or(format!("account {a} not found"))?,
        None => import_account,
    };
    if !inst.is_within(account, import_account) {
        return Err(format!("account {account} is outside the import's account"));
    }
    let term = match get(row, "term_id") {
        Some(t) => inst
            .terms
            .values()
            .find(|x| x.sis_term_id.as_deref() == Some(&t))
            .map(|x| x.id)
            .ok_or(format!("term {t} not found"))?,
        None => 1,
    };
    let state = match get(row, "status").as_deref() {
        Some("active") | None => "unpublished",
        Some("completed") => "completed",
        Some("deleted") => "deleted",
        Some(other) => return Err(format!("unknown status {other}")),
    };
    let name = get(row, "long_name").unwrap_or_else(|| sis.clone());
    let code = get(row, "short_name").unwrap_or_else(|| sis.clone());
    if let Some(c) = inst
        .courses
        .values_mut()
        .find(|c| c.sis_course_id.as_deref() == Some(&sis))
    {
        // Canvas's importer finds a course by SIS id even when it is
        // deleted, restores it, and moves it to the row's account.
        c.name = name;
        c.course_code = code;
        c.enrollment_term_id = term;
        let moved = named_account && c.account_id != account;
        if moved {
            c.account_id = account;
        }
        if state != "unpublished" || c.workflow_state == "deleted" {
            c.workflow_state = state.into();
        }
        if moved {
            inst.reindex();
        }
        return Ok(());
    }
    let id = Institution::next_id(&inst.courses, 100);
    inst.add_course(Course {
        id,
        name,
        course_code: code,
        account_id: account,
        root_account_id: ROOT_ACCOUNT_ID,
        enrollment_term_id: term,
        workflow_state: state.into(),
        start_at: None,
        end_at: None,
        sis_course_id: Some(sis),
        uuid: crate::auth::random_string(40),
        time_zone: "America/Chicago".into(),
        blueprint: false,
        default_view: "modules".into(),
        is_public: false,
        created_at: crate::dates::now(),
        syllabus_body: None,
    });
    Ok(())
}

fn sis_section(inst: &mut Institution, row: &Vec<String>, get: &Get<'_>) -> Result<(), String> {
    let sis = get(row, "section_id").ok_or("section_id is required")?;
    let course_sis = get(row, "course_id").ok_or("course_id is required")?;
    let course = inst
        .courses
        .values()
        .find(|c| c.sis_course_id.as_deref() == Some(&course_sis))
        .map(|c| c.id)
        .ok_or(format!("course {course_sis} not found"))?;
    let id = inst
        .sections
        .values()
        .find(|x| x.sis_section_id.as_deref() == Some(&sis))
        .map(|x| x.id)
        .unwrap_or_else(|| Institution::next_id(&inst.sections, 5000));
    inst.sections.insert(
        id,
        Section {
            id,
            course_id: course,
            name: get(row, "name").unwrap_or_else(|| sis.clone()),
            sis_section_id: Some(sis),
            start_at: None,
            end_at: None,
            created_at: crate::dates::now(),
        },
    );
    Ok(())
}

fn sis_enrollment(inst: &mut Institution, row: &Vec<String>, get: &Get<'_>) -> Result<(), String> {
    let course_sis = get(row, "course_id").ok_or("course_id is required")?;
    let user_sis = get(row, "user_id").ok_or("user_id is required")?;
    let course = inst
        .courses
        .values()
        .find(|c| c.sis_course_id.as_deref() == Some(&course_sis))
        .map(|c| c.id)
        .ok_or(format!("course {course_sis} not found"))?;
    let user = inst
        .users
        .values()
        .find(|u| u.sis_user_id.as_deref() == Some(&user_sis))
        .map(|u| u.id)
        .ok_or(format!("user {user_sis} not found"))?;
    let kind = match get(row, "role").as_deref() {
        Some("student") => "StudentEnrollment",
        Some("teacher") => "TeacherEnrollment",
        Some("ta") => "TaEnrollment",
        Some("observer") => "ObserverEnrollment",
        Some("designer") => "DesignerEnrollment",
        other => return Err(format!("unknown role {other:?}")),
    };
    let state = match get(row, "status").as_deref() {
        Some("active") | None => "active",
        Some("deleted") => "deleted",
        Some("completed") => "completed",
        Some("inactive") => "inactive",
        Some(other) => return Err(format!("unknown status {other}")),
    };
    let section = get(row, "section_id")
        .and_then(|x| {
            inst.sections
                .values()
                .find(|s| s.sis_section_id.as_deref() == Some(&x))
                .map(|s| s.id)
        })
        .or_else(|| {
            inst.sections
                .values()
                .find(|s| s.course_id == course)
                .map(|s| s.id)
        })
        .unwrap_or(0);
    if let Some(e) = inst
        .enrollments
        .values_mut()
        .find(|e| e.course_id == course && e.user_id == user && e.kind == kind)
    {
        e.enrollment_state = state.into();
        e.updated_at = crate::dates::now();
        return Ok(());
    }
    let id = Institution::next_id(&inst.enrollments, 50_000);
    let mut e = enrollment(id, course, section, user, kind, state);
    let now = crate::dates::now();
    e.created_at = now.clone();
    e.updated_at = now;
    e.last_activity_at = None;
    inst.add_enrollment(e);
    Ok(())
}

/// RFC 4180 rows (quoted fields, doubled quotes, CRLF or LF).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                if row.iter().any(|f| !f.is_empty()) {
                    rows.push(std::mem::take(&mut row));
                }
                row.clear();
            }
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}
