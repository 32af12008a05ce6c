//! Asynchronous account jobs: SIS imports (CSV applied in the background)
//! and account reports (a file when complete).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::data::{Course, Enrollment, Institution, ROOT_ACCOUNT_ID, Section, User};
use crate::http_util::{not_found, query_pairs, value};
use crate::routes::{St, read_data, resolve_account};

/// A SIS import and what it did.
#[derive(Debug, Clone)]
pub(crate) struct SisImport {
    id: u64,
    account: u64,
    csv: String,
    state: &'static str,
    errors: Vec<(String, String)>,
    counts: serde_json::Map<String, Value>,
}

/// An account report run.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    id: u64,
    account: u64,
    name: String,
    polls: u32,
}

fn sis_json(base: &str, i: &SisImport) -> Value {
    let done = i.state.starts_with("imported") || i.state.starts_with("failed");
    json!({
        "id": i.id, "created_at": "2026-11-29T12:00:00Z", "ended_at": if done { Some("2026-11-29T12:00:05Z") } else { None },
        "workflow_state": i.state, "progress": if done { 100 } else { 0 },
        "data": {"import_type": "instructure_csv", "supplied_batches": ["csv"], "counts": i.counts},
        "processing_errors": i.errors.iter().map(|(f, m)| json!([f, m])).collect::<Vec<_>>(),
        "errors_attachment": null, "batch_mode": false, "override_sis_stickiness": false,
        "url": format!("{base}/api/v1/accounts/{}/sis_imports/{}", i.account, i.id),
    })
}

/// The CSV inside a raw or multipart body.
fn csv_of(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let text = String::from_utf8_lossy(body).into_owned();
    if let Some(boundary) = ct.split("boundary=").nth(1) {
        let boundary = format!("--{}", boundary.trim_matches('"'));
        let part = text
            .split(&boundary)
            .find(|p| p.contains("filename=") || p.contains("name=\"attachment\""))?;
        let (_, content) = part.split_once("\r\n\r\n")?;
        return Some(
            content
                .trim_end_matches("\r\n")
                .trim_end_matches("--")
                .to_owned(),
        );
    }
    (!text.trim().is_empty()).then_some(text)
}

/// `POST /api/v1/accounts/:id/sis_imports`.
pub(crate) async fn create_sis_import(
    State(s): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let q = query_pairs(q.as_deref());
    if value(&q, "import_type").is_some_and(|t| t != "instructure_csv") {
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"errors": [{"field": "import_type", "message": "unsupported import type", "error_code": "invalid"}]}))).into_response();
    }
    let Some(account) = resolve_account(&read_data(&s), &id) else {
        return not_found();
    };
    if account != ROOT_ACCOUNT_ID {
        return not_root();
    }
    let Some(csv) = csv_of(&headers, &body) else {
        return crate::http_util::bad_request("attachment", "no CSV data was given");
    };
    let mut imports = s.sis_imports.lock().unwrap_or_else(|p| p.into_inner());
    let import = SisImport {
        id: imports.len() as u64 + 1,
        account,
        csv,
        state: "created",
        errors: Vec::new(),
        counts: serde_json::Map::new(),
    };
    let answer = sis_json(&s.base_url, &import);
    imports.push(import);
    axum::Json(answer).into_response()
}

/// Canvas takes SIS imports only on a root account.
fn not_root() -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"errors": ["SIS imports can only be executed on root accounts"]})),
    )
        .into_response()
}

/// `GET /api/v1/accounts/:id/sis_imports/:sid`: the first look applies it.
pub(crate) async fn sis_import(State(s): St, Path((id, sid)): Path<(String, u64)>) -> Response {
    match resolve_account(&read_data(&s), &id) {
        None => return not_found(),
        Some(a) if a != ROOT_ACCOUNT_ID => return not_root(),
        Some(_) => {}
    }
    let mut imports = s.sis_imports.lock().unwrap_or_else(|p| p.into_inner());
    let Some(import) = imports.iter_mut().find(|i| i.id == sid) else {
        return not_found();
    };
    if import.state == "created" {
        let mut inst = s.data.write().unwrap_or_else(|p| p.into_inner());
        apply(&mut inst, import);
    }
    axum::Json(sis_json(&s.base_url, import)).into_response()
}

/// `GET /api/v1/accounts/:id/sis_imports` (wrapped, as Canvas does).
pub(crate) async fn sis_imports(State(s): St, Path(id): Path<String>) -> Response {
    let Some(account) = resolve_account(&read_data(&s), &id) else {
        return not_found();
    };
    if account != ROOT_ACCOUNT_ID {
        return not_root();
    }
    let imports = s.sis_imports.lock().unwrap_or_else(|p| p.into_inner());
    let list: Vec<Value> = imports
        .iter()
        .filter(|i| i.account == account)
        .map(|i| sis_json(&s.base_url, i))
        .collect();
    axum::Json(json!({"sis_imports": list})).into_response()
}

fn apply(inst: &mut Institution, import: &mut SisImport) {
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
    let id =
        existing.unwrap_or_else(|| inst.users.keys().next_back().copied().unwrap_or(10_000) + 1);
    let (given, family) = name
        .split_once(' ')
        .map(|(g, f)| (g.to_owned(), f.to_owned()))
        .unwrap_or((name.clone(), String::new()));
    inst.users.insert(
        id,
        User {
            id,
            sortable_name: format!("{family}, {given}"),
            short_name: given,
            name,
            sis_user_id: Some(sis),
            login_id: login,
            created_at: "2026-11-29T12:00:00Z".into(),
        },
    );
    Ok(())
}

fn sis_course(
    inst: &mut Institution,
    import_account: u64,
    row: &Vec<String>,
    get: &Get<'_>,
) -> Result<(), String> {
    let sis = get(row, "course_id").ok_or("course_id is required")?;
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
        c.name = name;
        c.course_code = code;
        c.enrollment_term_id = term;
        if state != "unpublished" || c.workflow_state == "deleted" {
            c.workflow_state = state.into();
        }
        return Ok(());
    }
    let id = inst.courses.keys().next_back().copied().unwrap_or(100) + 1;
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
        .unwrap_or_else(|| inst.sections.keys().next_back().copied().unwrap_or(5000) + 1);
    inst.sections.insert(
        id,
        Section {
            id,
            course_id: course,
            name: get(row, "name").unwrap_or_else(|| sis.clone()),
            sis_section_id: Some(sis),
            start_at: None,
            end_at: None,
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
        return Ok(());
    }
    let id = inst
        .enrollments
        .keys()
        .next_back()
        .copied()
        .unwrap_or(50_000)
        + 1;
    inst.add_enrollment(Enrollment {
        id,
        course_id: course,
        course_section_id: section,
        user_id: user,
        kind: kind.into(),
        role: kind.into(),
        enrollment_state: state.into(),
    });
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

fn report_json(base: &str, r: &Report) -> Value {
    let complete = r.polls >= 2;
    json!({"id": r.id, "report": r.name, "status": if complete { "complete" } else { "running" },
           "progress": if complete { 100 } else { 50 * r.polls },
           "file_url": complete.then(|| format!("{base}/files/reports/{}/{}.csv", r.id, r.name)),
           "created_at": "2026-11-29T12:00:00Z", "parameters": {}})
}

/// `POST /api/v1/accounts/:id/reports/:report`.
pub(crate) async fn start_report(
    State(s): St,
    Path((id, name)): Path<(String, String)>,
) -> Response {
    let Some(account) = resolve_account(&read_data(&s), &id) else {
        return not_found();
    };
    let mut reports = s.reports.lock().unwrap_or_else(|p| p.into_inner());
    let r = Report {
        id: reports.len() as u64 + 1,
        account,
        name,
        polls: 0,
    };
    let answer = report_json(&s.base_url, &r);
    reports.push(r);
    axum::Json(answer).into_response()
}

/// `GET /api/v1/accounts/:id/reports/:report/:rid`: running, then complete.
pub(crate) async fn report_status(
    State(s): St,
    Path((_, _, rid)): Path<(String, String, u64)>,
) -> Response {
    let mut reports = s.reports.lock().unwrap_or_else(|p| p.into_inner());
    let Some(r) = reports.iter_mut().find(|r| r.id == rid) else {
        return not_found();
    };
    r.polls += 1;
    axum::Json(report_json(&s.base_url, r)).into_response()
}

/// `GET /files/reports/:rid/:name`: the report's CSV (courses of the account).
pub(crate) async fn report_file(State(s): St, Path((rid, _)): Path<(u64, String)>) -> Response {
    let account = {
        let reports = s.reports.lock().unwrap_or_else(|p| p.into_inner());
        match reports.iter().find(|r| r.id == rid && r.polls >= 2) {
            Some(r) => r.account,
            None => return not_found(),
        }
    };
    let inst = read_data(&s);
    let mut out =
        String::from("canvas_course_id,course_id,short_name,long_name,canvas_account_id,status\n");
    for c in inst.courses_in(account) {
        let quote = |v: &str| {
            if v.contains([',', '"']) {
                format!("\"{}\"", v.replace('"', "\"\""))
            } else {
                v.to_owned()
            }
        };
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            c.id,
            quote(c.sis_course_id.as_deref().unwrap_or("")),
            quote(&c.course_code),
            quote(&c.name),
            c.account_id,
            c.workflow_state
        ));
    }
    ([(header::CONTENT_TYPE, "text/csv")], out).into_response()
}
