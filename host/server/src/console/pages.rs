//! The console's pages. Each reads and changes through the application
//! layer, as the signed-in person; nothing here decides who may do what.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use easel_app::{Act, AppError, Home, Kind, RunRequest};
use easel_runtime::Limits;
use easel_store::{AuditFilter, RunFilter, RunRow, RunStatus};
use maud::{Markup, html};

use super::{
    Answer, Connect, Ctx, Form, PRE_COOKIE, Req, SESSION_HOURS, clean, layout, next_page, page,
    same_site, set_cookie, sign_in_nonce, state,
};
use crate::{Peer, Server};

/// How old a school listing the approval form may show (the approval
/// itself checks each school with Canvas).
const SCHOOLS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(300);

/// Most runs one runs page lists.
const MAX_RUNS_SHOWN: usize = 1_000;

/// Most audit records one page lists.
const AUDIT_PAGE: usize = 200;

/// Most report rows shown as a table (the download has them all).
const REPORT_ROWS_SHOWN: usize = 200;

/// Back to `to` with `message` shown as done (the console signs it on the
/// way out, so only the server's own messages are shown).
fn done_at(to: &str, message: &str) -> Answer {
    Answer::Redirect(format!(
        "{to}?done={}",
        url::form_urlencoded::byte_serialize(message.as_bytes()).collect::<String>()
    ))
}

fn query_form(q: &Option<String>, allowed: &[&str]) -> Result<Form, AppError> {
    Form::parse(q.as_deref().unwrap_or("").as_bytes(), allowed)
}

fn path_with_query(path: &str, q: &Option<String>) -> String {
    match q {
        Some(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_owned(),
    }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}

fn num<T: std::str::FromStr>(form: &Form, name: &str) -> Result<Option<T>, AppError> {
    form.one(name)
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| AppError::invalid(format!("{name} must be a whole number, not {v:?}")))
        })
        .transpose()
}

// ---------------------------------------------------------------- sign in

/// `GET /console/sign-in`.
pub(crate) async fn sign_in_page(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let form = Form::parse(q.as_deref().unwrap_or("").as_bytes(), &["next", "ended"])
        .unwrap_or(Form(Vec::new()));
    let next = next_page(form.one("next"));
    let notice = form
        .has("ended")
        .then_some("Your session ended: sign in again.");
    let s = server.clone();
    let canvas = tokio::task::spawn_blocking(move || {
        s.home()
            .and_then(|h| easel_app::canvas_sign_in::instances(&h))
            .map(|v| !v.is_empty())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    sign_in_form(
        &server,
        &headers,
        &next,
        notice,
        None,
        canvas,
        StatusCode::OK,
    )
}

fn sign_in_form(
    server: &Server,
    headers: &HeaderMap,
    next: &str,
    notice: Option<&str>,
    error: Option<&str>,
    canvas: bool,
    status: StatusCode,
) -> Response {
    let (nonce, _) = sign_in_nonce(server, headers);
    let token = server.console.sign_in_csrf(&nonce);
    let body = html! {
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        @if let Some(e) = error { p.notice.error role="alert" { (e) } }
        section.card {
            form.stack method="post" action="/console/sign-in" {
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="next" value=(next);
                label for="name" { "Name" input id="name" name="name" autocomplete="username" required autofocus; }
                label for="password" { "Password" input id="password" name="password" type="password" autocomplete="current-password" required; }
                div { button type="submit" { "Sign in" } }
            }
        }
        @if canvas {
            section.card {
                h2 { "Sign in with Canvas" }
                p { "School and district admins can sign in with their Canvas account: easel gives them the roles Canvas says they hold." }
                p { a href={"/console/sign-in/canvas?next=" (url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>())} { "Sign in with Canvas" } }
            }
        }
    };
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        layout(None, "Sign in to easel", "", body).into_string(),
    )
        .into_response();
    if let Ok(v) = set_cookie(server, PRE_COOKIE, &nonce, 600, "Lax").parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// A session cookie for a freshly issued console token.
fn session_cookie(server: &Server, token: &str) -> String {
    set_cookie(server, super::COOKIE, token, SESSION_HOURS * 3600, "Strict")
}

/// `POST /console/sign-in`: a name and password for a console session.
pub(crate) async fn sign_in(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let refuse = |e: &str, next: &str, status| {
        sign_in_form(&server, &headers, next, None, Some(e), false, status)
    };
    if let Err(e) = same_site(&server, &headers) {
        return refuse(&e.message, "/console", StatusCode::FORBIDDEN);
    }
    let form = match Form::parse(&body, &["name", "password", "next"]) {
        Ok(f) => f,
        Err(e) => return refuse(&e.message, "/console", StatusCode::BAD_REQUEST),
    };
    let next = next_page(form.one("next"));
    let nonce = super::read_cookie(&server, &headers, PRE_COOKIE).unwrap_or_default();
    let expected = server.console.sign_in_csrf(&nonce);
    if nonce.is_empty()
        || !super::same(
            form.one("csrf").unwrap_or_default().as_bytes(),
            expected.as_bytes(),
        )
    {
        return refuse(
            "this sign-in form is out of date: it has been reloaded, sign in again",
            &next,
            StatusCode::FORBIDDEN,
        );
    }
    let (name, password) = (
        form.one("name").unwrap_or_default().to_owned(),
        form.0
            .iter()
            .find(|(k, _)| k == "password")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
    );
    let s = server.clone();
    let issued = tokio::task::spawn_blocking(move || {
        let home = s.home()?;
        let p = home.principals();
        let actor = p.sign_in(&name, &password, &addr.ip().to_string())?;
        let t = p.issue_console_session(&actor, "console", time::Duration::hours(SESSION_HOURS))?;
        s.console.start(&t.id);
        Ok::<_, AppError>(t)
    })
    .await
    .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))
    .and_then(|r| r);
    match issued {
        Ok(t) => {
            let mut r = super::see_other(&next);
            if let Ok(v) = session_cookie(&server, &t.token).parse() {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => refuse(&e.message, &next, super::status_of(&e)),
    }
}

/// `GET /console/sign-in/canvas`: Sign in with Canvas for this browser.
pub(crate) async fn canvas_start(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
) -> Response {
    let (nonce, _) = sign_in_nonce(&server, &headers);
    let started = crate::canvas::start_console(&server, &nonce).await;
    let mut r = match started {
        Ok(r) => r,
        Err(e) => {
            return super::html_response(super::status_of(&e), super::error_page(None, &e));
        }
    };
    if let Ok(v) = set_cookie(&server, PRE_COOKIE, &nonce, 600, "Lax").parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// A console session for `name` after Sign in with Canvas; the page that
/// takes the browser on (a same-site navigation, so the `Strict` cookie
/// goes with it).
pub(crate) fn canvas_session(server: &Server, name: &str) -> Result<Response, AppError> {
    let home = server.home()?;
    let p = home.principals();
    let actor = p.canvas_actor(name)?;
    let t = p.issue_console_session(
        &actor,
        "console (canvas)",
        time::Duration::hours(SESSION_HOURS.min(easel_app::canvas_sign_in::CANVAS_SESSION_HOURS)),
    )?;
    server.console.start(&t.id);
    let page = layout(
        None,
        "Signed in",
        "",
        html! {
            meta http-equiv="refresh" content="0; url=/console";
            p { "Canvas signed you in as " strong { (actor.name) } "." }
            p { a href="/console" { "Continue to the console" } }
        },
    );
    let mut r = super::html_response(StatusCode::OK, page);
    if let Ok(v) = session_cookie(server, &t.token).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    if let Ok(v) = set_cookie(server, PRE_COOKIE, "", 0, "Lax").parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// `POST /console/sign-out`.
pub(crate) async fn sign_out(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let site = same_site(&server, &headers);
    let mut r = page(
        &server,
        Req::new(&headers, addr, "/console"),
        move |server, home, ctx| {
            site?;
            Form::parse(&body, &[])?.check_csrf(ctx)?;
            server.console.end(&ctx.token_id);
            home.principals().revoke_token(&ctx.actor, &ctx.token_id)?;
            Ok(Answer::Redirect("/console/sign-in".into()))
        },
    )
    .await;
    if r.status() == StatusCode::SEE_OTHER
        && let Ok(v) = set_cookie(&server, super::COOKIE, "", 0, "Strict").parse()
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

// ------------------------------------------------------------------- home

/// `GET /console`: what needs the person's attention.
pub(crate) async fn home(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
) -> Response {
    page(
        &server,
        Req::new(&headers, addr, "/console"),
        |_, home, ctx| {
            let a = &ctx.actor;
            let versions = easel_app::versions(home)?;
            let waiting: Vec<&easel_app::VersionState> = versions
                .iter()
                .filter(|v| v.pending() || v.schools.iter().any(|(_, s)| *s == "awaiting-second"))
                .collect();
            let mine: Vec<&easel_app::VersionState> = versions
                .iter()
                .filter(|v| v.row.added_by == a.name)
                .collect();
            let runs = easel_app::reads::list_runs(home, a, 10, &RunFilter::default())?;
            Ok(layout(
                Some(ctx),
                "Console",
                "/console",
                html! {
                    @if a.may(Act::Approve) {
                        section.card aria-labelledby="waiting" {
                            h2 id="waiting" { "Waiting for approval" }
                            @if waiting.is_empty() {
                                p.muted { "Nothing is waiting." }
                            } @else {
                                (versions_table(&waiting))
                            }
                        }
                    }
                    @if a.may(Act::Submit) {
                        section.card aria-labelledby="mine" {
                            h2 id="mine" { "Your submissions" }
                            @if mine.is_empty() {
                                p.muted { "You have submitted nothing yet. " a href="/console/submit" { "Submit a plugin" } }
                            } @else {
                                (versions_table(&mine))
                            }
                        }
                    }
                    section.card aria-labelledby="recent" {
                        h2 id="recent" { "Recent runs" }
                        @if runs.is_empty() {
                            p.muted { "No runs you may read yet." }
                        } @else {
                            (runs_table(&runs))
                            p { a href="/console/runs" { "All runs" } }
                        }
                    }
                },
            )
            .into())
        },
    )
    .await
}

fn versions_table(versions: &[&easel_app::VersionState]) -> Markup {
    html! {
        table {
            thead { tr { th scope="col" { "Plugin" } th scope="col" { "Version" } th scope="col" { "Digest" } th scope="col" { "Submitted" } th scope="col" { "State" } } }
            tbody {
                @for v in versions {
                    tr {
                        td { a href={"/console/plugins/" (v.row.id) "@" (short(&v.row.digest))} { (v.row.id) } }
                        td { (v.row.version) }
                        td.mono { (short(&v.row.digest)) }
                        td { (v.row.added_at) " by " (v.row.added_by) }
                        td {
                            @if v.pending() { (state("pending")) }
                            @else if v.live() { (state("approved")) " " span.muted { (v.summary()) } }
                            @else { span.muted { (v.summary()) } }
                        }
                    }
                }
            }
        }
    }
}

// ------------------------------------------------------------------- runs

fn runs_table(runs: &[RunRow]) -> Markup {
    html! {
        table {
            thead {
                tr {
                    th scope="col" { "Run" } th scope="col" { "Plugin" } th scope="col" { "School" }
                    th scope="col" { "Instance" } th scope="col" { "Mode" } th scope="col" { "State" }
                    th scope="col" { "Started" } th.num scope="col" { "Calls" } th.num scope="col" { "Denied" }
                }
            }
            tbody {
                @for r in runs {
                    tr {
                        td.mono { a href={"/console/runs/" (r.id)} { (r.id) } }
                        td { (r.plugin_id) }
                        td { (r.school) }
                        td { (r.instance) }
                        td { @if r.dry_run { "dry run" } @else { "live" } }
                        td { (state(r.status.as_str())) @if r.outputs.iter().any(|o| o.ends_with(".partial")) { " " (state("partial")) } }
                        td { (r.started_at) }
                        td.num { (r.calls) }
                        td.num { (r.denied) }
                    }
                }
            }
        }
    }
}

const STATUSES: &[&str] = &[
    "queued",
    "running",
    "succeeded",
    "failed",
    "refused",
    "interrupted",
];

/// `GET /console/runs?plugin&school&status&instance&batch&limit`.
pub(crate) async fn runs(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let path = path_with_query("/console/runs", &q);
    page(
        &server,
        Req::new(&headers, addr, &path),
        move |_, home, ctx| {
            let f = query_form(
                &q,
                &["plugin", "school", "status", "instance", "batch", "limit"],
            )?;
            let status = f.one("status").map(str::to_owned);
            if let Some(s) = &status
                && !STATUSES.contains(&s.as_str())
            {
                return Err(AppError::invalid(format!(
                    "status is one of {}, not {s:?}",
                    STATUSES.join(", ")
                )));
            }
            let filter = RunFilter {
                plugin: f.one("plugin").map(str::to_owned),
                school: num(&f, "school")?,
                status,
                since: None,
                batch: f.one("batch").map(str::to_owned),
                instance: f.one("instance").map(str::to_owned),
            };
            let limit = num::<usize>(&f, "limit")?
                .unwrap_or(100)
                .clamp(1, MAX_RUNS_SHOWN);
            let runs = easel_app::reads::list_runs(home, &ctx.actor, limit, &filter)?;
            let plugins: std::collections::BTreeSet<String> = home
                .store
                .plugins()?
                .into_iter()
                .map(|p| p.id)
                .collect();
            let chosen = |v: Option<&str>, want: &str| v == Some(want);
            Ok(layout(
                Some(ctx),
                "Runs",
                "/console/runs",
                html! {
                    form.filters method="get" action="/console/runs" role="search"
                        hx-get="/console/runs" hx-target="#results" hx-select="#results" hx-swap="outerHTML" hx-push-url="true" hx-trigger="change, submit" {
                        label { "Plugin"
                            select name="plugin" {
                                option value="" { "any" }
                                @for p in &plugins { option value=(p) selected[chosen(f.one("plugin"), p)] { (p) } }
                            }
                        }
                        label { "School" input name="school" inputmode="numeric" size="8" value=[f.one("school")]; }
                        label { "State"
                            select name="status" {
                                option value="" { "any" }
                                @for s in STATUSES { option value=(s) selected[chosen(f.one("status"), s)] { (s) } }
                            }
                        }
                        label { "Instance" input name="instance" size="12" value=[f.one("instance")]; }
                        label { "Batch" input name="batch" size="12" value=[f.one("batch")]; }
                        button type="submit" { "Filter" }
                    }
                    div id="results" {
                        p.muted role="status" { (runs.len()) " run(s), newest first" @if runs.len() == limit { " (the newest " (limit) ")" } }
                        @if let Some(b) = f.one("batch") {
                            p { a href={"/console/batches/" (b) "/report"} { "Download the batch's merged report" } }
                        }
                        (runs_table(&runs))
                    }
                },
            )
            .into())
        },
    )
    .await
}

fn facts(r: &RunRow) -> Markup {
    html! {
        dl.facts {
            dt { "Plugin" } dd { a href={"/console/plugins/" (r.plugin_id) "@" (short(&r.digest))} { (r.plugin_id) } " " span.mono.muted { (short(&r.digest)) } }
            dt { "School" } dd { (r.school) }
            dt { "Instance" } dd { (r.instance) }
            dt { "Mode" } dd { @if r.dry_run { "dry run: writes are planned, not sent" } @else { "live" } }
            dt { "State" } dd id="run-status" { (state(r.status.as_str())) }
            dt { "Started" } dd { (r.started_at) }
            @if let Some(f) = &r.finished_at { dt { "Finished" } dd { (f) } }
            @if let Some(ms) = r.duration_ms { dt { "Took" } dd { (format!("{:.1} s", ms as f64 / 1000.0)) } }
            dt { "Canvas calls" } dd { (r.calls) @if r.denied > 0 { ", " (r.denied) " denied" } }
            @if let Some(w) = r.writes { dt { "Writes answered" } dd { (w) } }
            @if !r.params.is_empty() {
                dt { "Parameters" } dd { @for (k, v) in &r.params { code { (k) "=" (clean(v)) } " " } }
            }
            @if let Some(b) = &r.batch { dt { "Batch" } dd { a href={"/console/runs?batch=" (b)} { (b) } } }
            @if let Some(p) = &r.applies { dt { "Applies the plan of" } dd { a href={"/console/runs/" (p)} { (p) } } }
            @if let Some(e) = &r.error { dt { "Error" } dd { (clean(e)) } }
        }
    }
}

/// `GET /console/runs/{run}`.
pub(crate) async fn run(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/console/runs/{id}");
    page(
        &server,
        Req::new(&headers, addr, &path),
        move |_, home, ctx| {
            let r = easel_app::reads::run_or_refuse(home, &ctx.actor, &id)?;
            let calls = easel_app::reads::run_records(home, &ctx.actor, &r.id, None, 2_000)?;
            let live = matches!(r.status, RunStatus::Queued | RunStatus::Running);
            let may_apply = r.dry_run
                && !r.plan.is_empty()
                && r.status == RunStatus::Succeeded
                && ctx.actor.may(Act::RunLive(r.school));
            let mut reports = Vec::new();
            for o in &r.outputs {
                let p = std::path::PathBuf::from(o);
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let table = if name.ends_with(".csv") || name.ends_with(".csv.partial") {
                    easel_app::reads::report(home, &ctx.actor, &r.id, &name)
                        .ok()
                        .and_then(|p| std::fs::read(p).ok())
                        .map(|b| csv_rows(&b))
                } else {
                    None
                };
                reports.push((name, table));
            }
            Ok(layout(
                Some(ctx),
                &format!("Run {}", r.id),
                "/console/runs",
                html! {
                    section.card { (facts(&r)) }
                    @if !r.unknown.is_empty() {
                        section.card aria-labelledby="unknown" {
                            h2 id="unknown" { "Writes whose outcome is unknown" }
                            p { "easel sent these (or was about to) when its process ended, and no answer was recorded: check them in Canvas." }
                            ul { @for u in &r.unknown { li.mono { (u["method"].as_str().unwrap_or("?")) " " (u["path"].as_str().unwrap_or("?")) } } }
                        }
                    }
                    @if !r.plan.is_empty() {
                        section.card aria-labelledby="plan" {
                            h2 id="plan" { "Planned writes" }
                            table {
                                thead { tr { th.num scope="col" { "Step" } th scope="col" { "Method" } th scope="col" { "Path" } } }
                                tbody { @for s in &r.plan { tr { td.num { (s["step"]) } td { (s["method"].as_str().unwrap_or("?")) } td.mono { (s["path"].as_str().unwrap_or("?")) } } } }
                            }
                            @if may_apply {
                                form method="post" action={"/console/runs/" (r.id) "/apply"} {
                                    input type="hidden" name="csrf" value=(ctx.csrf);
                                    p { "Applying sends exactly these writes, in this order, live; Canvas may have changed since this dry run, and any step it no longer matches is skipped." }
                                    button type="submit" { "Apply this plan" }
                                }
                            }
                        }
                    }
                    @if !r.plan_result.is_empty() {
                        section.card aria-labelledby="applied" {
                            h2 id="applied" { "What became of each planned step" }
                            table {
                                thead { tr { th.num scope="col" { "Step" } th scope="col" { "Method" } th scope="col" { "Path" } th scope="col" { "Outcome" } } }
                                tbody { @for s in &r.plan_result { tr {
                                    td.num { (s["step"]) } td { (s["method"].as_str().unwrap_or("?")) } td.mono { (s["path"].as_str().unwrap_or("?")) }
                                    td { (state(match s["state"].as_str().unwrap_or("?") { "applied" => "succeeded", "failed" => "failed", other => other })) " " (s["state"].as_str().unwrap_or("")) @if let Some(why) = s["reason"].as_str() { ": " (clean(why)) } }
                                } } }
                            }
                        }
                    }
                    @if !reports.is_empty() {
                        section.card aria-labelledby="reports" {
                            h2 id="reports" { "Reports" }
                            @for (name, table) in &reports {
                                h3 { (name) }
                                p { a href={"/console/runs/" (r.id) "/reports/" (name)} download=(name) { "Download " (name) } }
                                @if let Some(rows) = table { (csv_table(rows, name)) }
                            }
                        }
                    }
                    section.card aria-labelledby="log-h" {
                        h2 id="log-h" { "Log" }
                        @if live {
                            p.muted data-live-log={"/console/runs/" (r.id) "/events"} { "The run is " (r.status.as_str()) ": its log and its Canvas calls appear below as they happen." }
                        }
                        pre.log id="log" tabindex="0" aria-label="The run's log" { (clean(&r.log)) }
                    }
                    section.card aria-labelledby="calls" {
                        h2 id="calls" { "Canvas calls (from the audit log)" }
                        table {
                            thead { tr { th.num scope="col" { "#" } th scope="col" { "At" } th scope="col" { "What" } th scope="col" { "Method" } th scope="col" { "Path" } th.num scope="col" { "Status" } th scope="col" { "Detail" } } }
                            tbody id="calls-body" {
                                @for c in &calls {
                                    tr { td.num { (c.seq) } td { (c.at) } td { (c.action) } td { (c.method.as_deref().unwrap_or("")) } td.mono { (c.path.as_deref().unwrap_or("")) } td.num { @if let Some(s) = c.status { (s) } } td { (clean(c.detail.as_deref().unwrap_or(""))) } }
                                }
                            }
                        }
                    }
                },
            )
            .into())
        },
    )
    .await
}

/// A CSV's rows (at most [`REPORT_ROWS_SHOWN`] after the header), and
/// whether there were more.
fn csv_rows(bytes: &[u8]) -> (Vec<Vec<String>>, bool) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut rows = Vec::new();
    let mut more = false;
    for rec in reader.records() {
        let Ok(rec) = rec else { break };
        if rows.len() > REPORT_ROWS_SHOWN {
            more = true;
            break;
        }
        rows.push(rec.iter().map(clean).collect());
    }
    (rows, more)
}

fn csv_table((rows, more): &(Vec<Vec<String>>, bool), name: &str) -> Markup {
    let Some((head, body)) = rows.split_first() else {
        return html! { p.muted { "The report is empty." } };
    };
    html! {
        table aria-label={"The report " (name)} {
            thead { tr { @for h in head { th scope="col" { (h) } } } }
            tbody { @for row in body { tr { @for c in row { td { (c) } } } } }
        }
        @if *more { p.muted { "Only the first " (REPORT_ROWS_SHOWN) " rows are shown: download the report for all of them." } }
    }
}

/// `GET /console/runs/{run}/events`: server-sent events while the run is
/// queued or running: `log` for each line it logs (when it runs in this
/// process), `call` for each audit record of its Canvas requests (JSON),
/// `status` when its state changes, `end` when it is over.
pub(crate) async fn run_events(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    // Checked once, as any page: the stream then follows the run it found.
    let path = format!("/console/runs/{id}");
    let checked = page(
        &server,
        Req::new(&headers, addr, &path),
        move |_, home, ctx| {
            let r = easel_app::reads::run_or_refuse(home, &ctx.actor, &id)?;
            Ok(Answer::Redirect(format!("{} {}", r.id, ctx.token_id)))
        },
    )
    .await;
    let Some((run, session)) = (checked.status() == StatusCode::SEE_OTHER)
        .then(|| checked.headers().get(header::LOCATION).cloned())
        .flatten()
        .and_then(|v| v.to_str().ok().map(str::to_owned))
        .filter(|v| !v.starts_with('/'))
        .and_then(|v| v.split_once(' ').map(|(r, t)| (r.to_owned(), t.to_owned())))
    else {
        return checked;
    };
    if server.console.open_stream(&session).is_none() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many pages are following runs: close some and reload",
        )
            .into_response();
    }
    let stream = events(server, run, session);
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// How often a run's event stream looks at the run.
const EVENT_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Longest a run's event stream stays open (the page then shows the run
/// as it is; a reload follows it again).
const EVENT_STREAM_MAX: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// How often a stream checks that its session is still live.
const EVENT_SESSION_CHECK: u32 = 10;

/// Follow run `run` for session `session`: stops when the run ends, the
/// client goes, the session ends, or after [`EVENT_STREAM_MAX`].
fn events(
    server: Arc<Server>,
    run: String,
    session: String,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        // Counted from here: `run_events` checked there was room.
        let Some(_open) = server.console.open_stream(&session) else {
            return;
        };
        let mut polls = 0u32;
        let started = std::time::Instant::now();
        let mut after: Option<u64> = None;
        let mut logged = 0usize;
        let mut last_status = String::new();
        let mut store: Option<(Home, ())> = None;
        loop {
            let (s, r, held) = (server.clone(), run.clone(), store.take());
            let got = tokio::task::spawn_blocking(move || {
                let home = match held {
                    Some((h, ())) => h,
                    None => s.home()?,
                };
                let row = home.store.run(&r)?;
                let records = home.audit.records(
                    &AuditFilter {
                        run: Some(r.clone()),
                        after_seq: after,
                        ..AuditFilter::default()
                    },
                    Some(500),
                )?;
                Ok::<_, AppError>((home, row, records))
            })
            .await;
            let Ok(Ok((home, row, records))) = got else {
                break;
            };
            store = Some((home, ()));
            let mut out = String::new();
            for c in &records {
                after = Some(c.seq);
                let call = serde_json::json!({
                    "seq": c.seq, "at": c.at, "action": c.action,
                    "method": c.method, "path": c.path, "status": c.status,
                    "detail": c.detail.as_deref().map(clean),
                });
                out.push_str(&format!("event: call\ndata: {call}\n\n"));
            }
            // The run's own log, as it is written (while it runs here).
            if let Some(new) = easel_runtime::live::log_since(&run, logged) {
                logged += new.len();
                for line in new.lines() {
                    out.push_str(&format!("event: log\ndata: {}\n\n", clean(line)));
                }
            }
            let Some(row) = row else { break };
            let status = row.status.as_str().to_owned();
            if status != last_status {
                out.push_str(&format!("event: status\ndata: {status}\n\n"));
                last_status = status;
            }
            let over = !matches!(row.status, RunStatus::Queued | RunStatus::Running);
            if over {
                out.push_str("event: end\ndata: over\n\n");
            }
            if !out.is_empty() && tx.send(Ok(Bytes::from(out))).await.is_err() {
                break;
            }
            if over || started.elapsed() > EVENT_STREAM_MAX {
                break;
            }
            polls += 1;
            if polls.is_multiple_of(EVENT_SESSION_CHECK) && !server.console.alive(&session) {
                break;
            }
            tokio::select! {
                _ = tx.closed() => break,
                _ = tokio::time::sleep(EVENT_POLL) => {}
            }
        }
    });
    tokio_stream(rx)
}

/// A receiver as a stream.
fn tokio_stream<T>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// `POST /console/runs/{run}/apply`: queue the live run that sends a
/// reviewed dry run's planned writes; on to its page.
pub(crate) async fn apply(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let site = same_site(&server, &headers);
    let path = format!("/console/runs/{id}");
    page(
        &server,
        Req::new(&headers, addr, &path),
        move |server, home, ctx| {
            site?;
            Form::parse(&body, &[])?.check_csrf(ctx)?;
            let plan = easel_app::reads::run_or_refuse(home, &ctx.actor, &id)?;
            ctx.actor.require(Act::RunLive(plan.school))?;
            let req = RunRequest {
                plugin: plan.plugin_id.clone(),
                school: plan.school,
                dry_run: false,
                params: plan.params.clone(),
                limits: Limits::default(),
                plan: Some(easel_app::PlanRef {
                    run: plan.id.clone(),
                    apply_only: true,
                }),
            };
            match crate::queue_one(server, home, &ctx.actor, req, true)? {
                crate::Asked::Answer(v, _) => Ok(Answer::Redirect(format!(
                    "/console/runs/{}",
                    v["run"].as_str().unwrap_or_default()
                ))),
                _ => Err(AppError::new(Kind::Internal, "the run was not queued")),
            }
        },
    )
    .await
}

/// `GET /console/runs/{run}/reports/{name}`: the report's bytes.
pub(crate) async fn report(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    Path((id, name)): Path<(String, String)>,
) -> Response {
    let path = format!("/console/runs/{id}");
    page(
        &server,
        Req::new(&headers, addr, &path),
        move |_, home, ctx| {
            easel_app::reads::run_or_refuse(home, &ctx.actor, &id)?;
            let file = easel_app::reads::report(home, &ctx.actor, &id, &name)?;
            let bytes = std::fs::read(&file).map_err(|e| {
                AppError::internal(anyhow::anyhow!("cannot read {}: {e}", file.display()))
            })?;
            Ok(Answer::File {
                kind: if name.ends_with(".csv") {
                    "text/csv; charset=utf-8"
                } else if name.ends_with(".json") {
                    "application/json"
                } else {
                    "application/octet-stream"
                },
                name,
                bytes,
            })
        },
    )
    .await
}

/// `GET /console/batches/{batch}/report`: the batch's reports merged into
/// one CSV, each row led by its school.
pub(crate) async fn batch_report(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    Path(batch): Path<String>,
) -> Response {
    let path = format!("/console/runs?batch={batch}");
    page(
        &server,
        Req::new(&headers, addr, &path),
        move |_, home, ctx| {
            let filter = RunFilter {
                batch: Some(batch.clone()),
                ..RunFilter::default()
            };
            let mut runs = easel_app::reads::list_runs(home, &ctx.actor, 100_000, &filter)?;
            if runs.is_empty() {
                return Err(AppError::not_found(format!(
                    "no runs you may read in batch {batch:?}"
                )));
            }
            runs.sort_by_key(|r| r.school);
            let mut out = csv::Writer::from_writer(Vec::new());
            let mut header_written = false;
            for r in &runs {
                for o in &r.outputs {
                    let p = std::path::PathBuf::from(o);
                    let Some(name) = p.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                        continue;
                    };
                    if !name.ends_with(".csv") {
                        continue;
                    }
                    let file = easel_app::reads::report(home, &ctx.actor, &r.id, &name)?;
                    let bytes = std::fs::read(&file).map_err(|e| {
                        AppError::internal(anyhow::anyhow!("cannot read {}: {e}", file.display()))
                    })?;
                    let mut reader = csv::ReaderBuilder::new()
                        .flexible(true)
                        .from_reader(bytes.as_slice());
                    if !header_written {
                        let head = reader.headers().map_err(AppError::internal)?.clone();
                        let mut h = vec!["school", "run", "report"];
                        h.extend(head.iter());
                        out.write_record(h).map_err(AppError::internal)?;
                        header_written = true;
                    }
                    for rec in reader.records() {
                        let rec = rec.map_err(AppError::internal)?;
                        let mut row = vec![r.school.to_string(), r.id.clone(), name.clone()];
                        row.extend(rec.iter().map(str::to_owned));
                        out.write_record(row).map_err(AppError::internal)?;
                    }
                }
            }
            let bytes = out.into_inner().map_err(AppError::internal)?;
            Ok(Answer::File {
                kind: "text/csv; charset=utf-8",
                name: format!("batch-{batch}.csv"),
                bytes,
            })
        },
    )
    .await
}

// ---------------------------------------------------------------- plugins

/// `GET /console/plugins`.
pub(crate) async fn plugins(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
) -> Response {
    page(
        &server,
        Req::new(&headers, addr, "/console/plugins"),
        |_, home, ctx| {
            let versions = easel_app::versions(home)?;
            let mut newest_first: Vec<&easel_app::VersionState> = versions.iter().collect();
            newest_first.reverse();
            Ok(layout(
                Some(ctx),
                "Plugins",
                "/console/plugins",
                html! {
                    @if newest_first.is_empty() {
                        p { "No plugins yet." @if ctx.actor.may(Act::Submit) { " " a href="/console/submit" { "Submit one" } } }
                    } @else {
                        (versions_table(&newest_first))
                    }
                },
            )
            .into())
        },
    )
    .await
}

/// What a WIT import lets a plugin do, in plain words.
fn import_words(import: &str) -> &'static str {
    if import.contains("canvas-write") || import.contains("/write") {
        "writes Canvas (through easel, within its grant; planned, not sent, in dry runs)"
    } else if import.contains("canvas-read") || import.contains("/read") {
        "reads Canvas (through easel, within its grant)"
    } else if import.contains("report") {
        "writes reports (files easel keeps with the run)"
    } else if import.contains("log") {
        "writes to the run's log"
    } else if import.contains("context") {
        "learns its school and parameters"
    } else if import.starts_with("wasi:") {
        "standard WASI (clocks, random, its own stdout and stderr; no files, no network)"
    } else {
        "an interface easel provides"
    }
}

/// `GET /console/plugins/{plugin}`: what the version asks for, and the
/// forms to approve and revoke it.
pub(crate) async fn plugin(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let path = format!("/console/plugins/{name}");
    page(
        &server,
        Req::new(&headers, addr, &path),
        move |server, home, ctx| {
            let f = query_form(&q, &["done", "sig"])?;
            let done = server.console.done(&f);
            let i = easel_app::inspect(home, &ctx.actor, &name)?;
            let may_approve = ctx.actor.may(Act::Approve);
            let own = i.added_by == ctx.actor.name;
            let schools = if may_approve && !own {
                let handle = tokio::runtime::Handle::current();
                let conn = handle.block_on(server.connections.default_instance(home))?;
                handle.block_on(conn.schools_within(SCHOOLS_MAX_AGE))?
            } else {
                Vec::new()
            };
            let approved: std::collections::BTreeSet<u64> =
                i.approvals.iter().map(|a| a.school).collect();
            let denial = home
                .store
                .denials(&i.digest, &i.manifest_digest)?
                .into_iter()
                .next();
            // The schools this person may run it for, live or dry.
            let runnable: Vec<(u64, bool)> = approved
                .iter()
                .filter(|s| ctx.actor.may(Act::RunDry(**s)))
                .map(|s| (*s, ctx.actor.may(Act::RunLive(*s))))
                .collect();
            let target = format!("{}@{}", i.id, short(&i.digest));
            Ok(layout(
                Some(ctx),
                &format!("{} {}", i.id, i.version),
                "/console/plugins",
                html! {
                    @if let Some(done) = done { p.notice.ok role="status" { (done) } }
                    section.card aria-labelledby="what" {
                        h2 id="what" { "What it is" }
                        dl.facts {
                            dt { "Description" } dd { (clean(&i.description)) }
                            dt { "Author" } dd { (clean(&i.author)) }
                            dt { "Digest (sha256)" } dd.mono { (i.digest) }
                            dt { "Manifest digest" } dd.mono { (i.manifest_digest) }
                            dt { "Size" } dd { (i.size) " bytes" }
                            dt { "Submitted" } dd { (i.added_at) " by " (i.added_by) }
                        }
                    }
                    section.card aria-labelledby="imports" {
                        h2 id="imports" { "What the component can reach (its WIT imports)" }
                        table {
                            thead { tr { th scope="col" { "Import" } th scope="col" { "Meaning" } } }
                            tbody { @for imp in &i.imports { tr { td.mono { (imp) } td { (import_words(imp)) } } } }
                        }
                    }
                    section.card aria-labelledby="asks" {
                        h2 id="asks" { "What the manifest asks for" }
                        dl.facts {
                            dt { "Capabilities" } dd { (i.requests.capabilities.join(", ")) }
                            dt { "Calls per run" } dd { (i.requests.max_calls) }
                            dt { "Memory per run" } dd { (i.requests.memory_mib) " MiB" }
                            dt { "Masquerade" } dd { @if i.requests.masquerade { "yes" } @else { "no" } }
                            dt { "SIS imports" } dd { @if i.requests.sis_import { "yes" } @else { "no" } }
                            dt { "Reports" } dd { (i.requests.reports.join(", ")) }
                        }
                        h3 { "Endpoints (scopes)" }
                        ul { @for s in &i.requests.scopes { li.mono { (s) } } }
                        @if !i.requests.params.is_empty() {
                            h3 { "Parameters" }
                            table {
                                thead { tr { th scope="col" { "Name" } th scope="col" { "Type" } th scope="col" { "Default" } th scope="col" { "Meaning" } } }
                                tbody { @for p in &i.requests.params { tr { td.mono { (p.name) } td { (p.ty) } td { (p.default.as_deref().unwrap_or(if p.required { "(required)" } else { "" })) } td { (clean(&p.description)) } } } }
                            }
                        }
                    }
                    section.card aria-labelledby="diff" {
                        h2 id="diff" { "Changes since the approved version" }
                        @match &i.changes {
                            None => p.muted { "No version of this plugin has been approved before: everything above is new." },
                            Some(c) => {
                                p { "Since version " (c.since_version) " (" span.mono { (short(&c.since_digest)) } "):" }
                                @if c.lines.is_empty() { p.muted { "It asks for nothing new." } }
                                ul { @for l in &c.lines {
                                    @if let Some(rest) = l.strip_prefix('+') { li.diff-add { (rest.trim()) } }
                                    @else if let Some(rest) = l.strip_prefix('-') { li.diff-del { (rest.trim()) } }
                                    @else { li { (l) } }
                                } }
                            }
                        }
                    }
                    section.card aria-labelledby="approvals" {
                        h2 id="approvals" { "Approvals" }
                        @if i.approvals.is_empty() { p.muted { (state("pending")) " Not approved for any school." } }
                        @else {
                            table {
                                thead { tr { th scope="col" { "School" } th scope="col" { "Access" } th scope="col" { "By" } th scope="col" { "At" } } }
                                tbody { @for a in &i.approvals { tr { td { (a.school) } td { @if a.write { "read and write" } @else { "read only" } } td { (a.by) } td { (a.at) } } } }
                            }
                        }
                    }
                    @if let Some(d) = &denial {
                        section.card aria-labelledby="denied" {
                            h2 id="denied" { "Denied" }
                            p { (state("denied")) " by " (d.denied_by) " at " (d.denied_at) ":" }
                            blockquote { (clean(&d.reason)) }
                        }
                    }
                    @if !runnable.is_empty() {
                        (run_form(ctx, &target, &i, &runnable))
                    }
                    @if may_approve && own {
                        p.notice { "You submitted this version, so someone else approves it." }
                    }
                    @if may_approve && !own {
                        (approve_form(ctx, &target, &i, &schools))
                        section.card aria-labelledby="deny" {
                            h2 id="deny" { "Deny" }
                            form.stack method="post" action={"/console/plugins/" (target) "/deny"} {
                                input type="hidden" name="csrf" value=(ctx.csrf);
                                label for="reason" { "Why (the submitter sees this)" textarea id="reason" name="reason" rows="3" maxlength="1000" required {} }
                                div { button.danger type="submit" { "Deny" } }
                            }
                        }
                    }
                    @if ctx.actor.may(Act::Revoke) && !approved.is_empty() {
                        section.card aria-labelledby="revoke" {
                            h2 id="revoke" { "Revoke" }
                            form.stack method="post" action={"/console/plugins/" (i.id) "/revoke"} {
                                input type="hidden" name="csrf" value=(ctx.csrf);
                                fieldset {
                                    legend { "Schools to revoke (none ticked: all of them)" }
                                    @for s in &approved { label { input type="checkbox" name="school" value=(s); (s) } }
                                }
                                div { button.danger type="submit" { "Revoke" } }
                            }
                        }
                    }
                },
            )
            .into())
        },
    )
    .await
}

fn approve_form(
    ctx: &Ctx,
    target: &str,
    i: &easel_app::Inspection,
    schools: &[easel_runtime::School],
) -> Markup {
    let writes = i.requests.capabilities.iter().any(|c| c.contains("write"));
    html! {
        section.card aria-labelledby="approve" {
            h2 id="approve" { "Approve" }
            form.stack method="post" action={"/console/plugins/" (target) "/approve"} {
                input type="hidden" name="csrf" value=(ctx.csrf);
                fieldset {
                    legend { "Endpoints granted (untick to narrow the manifest's)" }
                    @if i.requests.scopes.is_empty() {
                        p.muted { "The manifest lists no endpoints: the grant allows what easel's other rules allow for its capabilities." }
                    }
                    @for s in &i.requests.scopes { label { input type="checkbox" name="scope" value=(s) checked; span.mono { (s) } } }
                }
                fieldset {
                    legend { "Schools" }
                    label { input type="checkbox" name="all_schools" value="1"; "All schools (" (schools.len()) ")" }
                    label for="school-search" { "Find a school" input id="school-search" type="search" data-filter-for="school-list" autocomplete="off"; }
                    div.schools id="school-list" {
                        @for s in schools {
                            label data-filter-text={(s.name) " " (s.id)} { input type="checkbox" name="school" value=(s.id); (clean(&s.name)) " " span.muted { "(" (s.id) ")" } }
                        }
                    }
                }
                fieldset {
                    legend { "Limits" }
                    label for="max_calls" { "Calls per run (empty: the manifest's " (i.requests.max_calls) ")" input id="max_calls" name="max_calls" type="number" min="1"; }
                    label for="max_writes" { "Writes per run (empty: no limit beyond calls)" input id="max_writes" name="max_writes" type="number" min="0"; }
                    label for="runs_per_day" { "Runs per school per day (empty: no limit)" input id="runs_per_day" name="runs_per_day" type="number" min="1"; }
                    label for="expires" { "Expires on (empty: never)" input id="expires" name="expires" type="date"; }
                }
                @if writes {
                    fieldset {
                        legend { "Writes" }
                        label { input type="checkbox" name="dry_run_only" value="1"; "Dry runs only: writes are planned, never sent" }
                        label { input type="checkbox" name="read_only" value="1"; "Read only: no writes at all" }
                    }
                }
                div { button type="submit" { "Approve" } }
            }
        }
    }
}

/// `POST /console/plugins/{plugin}/approve`.
pub(crate) async fn approve(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let site = same_site(&server, &headers);
    let path = format!("/console/plugins/{name}");
    page(
        &server,
        Req::new(&headers, addr, &path),
        move |server, home, ctx| {
            site?;
            let f = Form::parse(
                &body,
                &[
                    "scope",
                    "all_schools",
                    "school",
                    "max_calls",
                    "max_writes",
                    "runs_per_day",
                    "expires",
                    "dry_run_only",
                    "read_only",
                ],
            )?;
            f.check_csrf(ctx)?;
            ctx.actor.require(Act::Approve)?;
            let i = easel_app::inspect(home, &ctx.actor, &name)?;
            let scopes: Vec<String> = f.all("scope").into_iter().map(str::to_owned).collect();
            if scopes.is_empty() && !i.requests.scopes.is_empty() {
                return Err(AppError::invalid(
                    "tick at least one endpoint: a grant with none lets the plugin call nothing",
                ));
            }
            let handle = tokio::runtime::Handle::current();
            let conn = handle.block_on(server.connections.default_instance(home))?;
            let mut schools: Vec<u64> = if f.has("all_schools") {
                handle
                    .block_on(conn.schools())?
                    .iter()
                    .map(|s| s.id)
                    .collect()
            } else {
                f.all("school")
                    .into_iter()
                    .map(|s| {
                        s.parse::<u64>()
                            .map_err(|_| AppError::invalid(format!("{s:?} is not a school id")))
                    })
                    .collect::<Result<_, _>>()?
            };
            schools.sort_unstable();
            schools.dedup();
            if schools.is_empty() || schools.len() > crate::MAX_SCHOOLS {
                return Err(AppError::invalid(format!(
                    "tick 1 to {} schools, or all schools",
                    crate::MAX_SCHOOLS
                )));
            }
            handle.block_on(conn.approval_schools(&schools, false))?;
            let expires_at = match f.one("expires") {
                None => None,
                Some(d) => {
                    let date: jiff::civil::Date = d.parse().map_err(|_| {
                        AppError::invalid(format!("expires is a date such as 2027-06-30, not {d:?}"))
                    })?;
                    Some(format!("{date}T23:59:59Z"))
                }
            };
            let terms = easel_store::GrantTerms {
                // The manifest's own list (or none listed, none ticked): as
                // the manifest asks. Anything else is a narrowing the
                // application layer checks against the manifest.
                scopes: (scopes != i.requests.scopes).then_some(scopes),
                dry_run_only: f.has("dry_run_only"),
                max_calls: num(&f, "max_calls")?,
                max_writes: num(&f, "max_writes")?,
                runs_per_day: num(&f, "runs_per_day")?,
                expires_at,
                ..easel_store::GrantTerms::default()
            };
            let target = easel_app::Target {
                instance: conn.token_id.as_ref().map(|_| conn.instance.clone()),
                token_id: conn.token_id.clone(),
            };
            let options = easel_app::ApproveOptions {
                write: !f.has("read_only"),
                target,
                allow_downgrade: false,
                terms,
                manifest_digest: Some(i.manifest_digest.clone()),
            };
            let rows = easel_app::approve_with(
                home,
                &format!("{}@{}", i.id, i.digest),
                &schools,
                &ctx.actor,
                &options,
            )?;
            let waiting = rows.iter().filter(|r| r.awaiting_second).count();
            let done = if waiting > 0 {
                format!(
                    "Approved for {} school(s); {waiting} wait for a second approver (writes need two)",
                    rows.len()
                )
            } else {
                format!("Approved for {} school(s)", rows.len())
            };
            Ok(done_at(&format!("/console/plugins/{}@{}", i.id,
                short(&i.digest)), &done))
        },
    )
    .await
}

fn run_form(ctx: &Ctx, target: &str, i: &easel_app::Inspection, schools: &[(u64, bool)]) -> Markup {
    html! {
        section.card aria-labelledby="run-h" {
            h2 id="run-h" { "Run" }
            form.stack method="post" action={"/console/plugins/" (target) "/run"} {
                input type="hidden" name="csrf" value=(ctx.csrf);
                label for="run-school" { "School"
                    select id="run-school" name="school" {
                        @for (s, live) in schools { option value=(s) { (s) @if !live { " (dry runs only)" } } }
                    }
                }
                @for p in &i.requests.params {
                    label for={"param-" (p.name)} { (p.name) " (" (p.ty) ")" @if !p.description.is_empty() { " — " (clean(&p.description)) }
                        input id={"param-" (p.name)} name={"param." (p.name)} value=[p.default.as_deref()] required[p.required];
                    }
                }
                label { input type="checkbox" name="dry_run" value="1" checked; "Dry run: writes are planned, not sent" }
                div { button type="submit" { "Run" } }
            }
        }
    }
}

/// `POST /console/plugins/{plugin}/run`: queue a run; on to its page.
pub(crate) async fn start_run(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let site = same_site(&server, &headers);
    let path = format!("/console/plugins/{name}");
    page(
        &server,
        Req::new(&headers, addr, &path),
        move |server, home, ctx| {
            site?;
            let i = easel_app::inspect(home, &ctx.actor, &name)?;
            let fields: Vec<String> = i
                .requests
                .params
                .iter()
                .map(|p| format!("param.{}", p.name))
                .chain(["school".to_owned(), "dry_run".to_owned()])
                .collect();
            let allowed: Vec<&str> = fields.iter().map(String::as_str).collect();
            let f = Form::parse(&body, &allowed)?;
            f.check_csrf(ctx)?;
            let school: u64 = num(&f, "school")?
                .ok_or_else(|| AppError::invalid("choose the school to run it for"))?;
            let dry_run = f.has("dry_run");
            ctx.actor.require(if dry_run {
                Act::RunDry(school)
            } else {
                Act::RunLive(school)
            })?;
            let params: Vec<(String, String)> = i
                .requests
                .params
                .iter()
                .filter_map(|p| {
                    f.one(&format!("param.{}", p.name))
                        .map(|v| (p.name.clone(), v.to_owned()))
                })
                .collect();
            let req = RunRequest {
                plugin: i.id.clone(),
                school,
                dry_run,
                params,
                limits: Limits::default(),
                plan: None,
            };
            match crate::queue_one(server, home, &ctx.actor, req, true)? {
                crate::Asked::Answer(v, _) => Ok(Answer::Redirect(format!(
                    "/console/runs/{}",
                    v["run"].as_str().unwrap_or_default()
                ))),
                _ => Err(AppError::new(Kind::Internal, "the run was not queued")),
            }
        },
    )
    .await
}

/// `POST /console/plugins/{plugin}/deny`.
pub(crate) async fn deny(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let site = same_site(&server, &headers);
    let path = format!("/console/plugins/{name}");
    page(
        &server,
        Req::new(&headers, addr, &path),
        move |_, home, ctx| {
            site?;
            let f = Form::parse(&body, &["reason"])?;
            f.check_csrf(ctx)?;
            let d = easel_app::deny(home, &ctx.actor, &name, f.one("reason").unwrap_or_default())?;
            Ok(done_at(
                &format!("/console/plugins/{}@{}", d.plugin_id, short(&d.digest)),
                "Denied: the submitter sees why",
            ))
        },
    )
    .await
}

/// `POST /console/plugins/{plugin}/revoke`.
pub(crate) async fn revoke(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let site = same_site(&server, &headers);
    let path = format!("/console/plugins/{name}");
    page(
        &server,
        Req::new(&headers, addr, &path),
        move |_, home, ctx| {
            site?;
            let f = Form::parse(&body, &["school"])?;
            f.check_csrf(ctx)?;
            let schools: Vec<u64> = f
                .all("school")
                .into_iter()
                .map(|s| {
                    s.parse::<u64>()
                        .map_err(|_| AppError::invalid(format!("{s:?} is not a school id")))
                })
                .collect::<Result<_, _>>()?;
            let revoked = easel_app::revoke(home, &ctx.actor, &name, &schools)?;
            let done = format!("Revoked for {} school(s)", revoked.len());
            Ok(done_at(&format!("/console/plugins/{name}"), &done))
        },
    )
    .await
}

// ----------------------------------------------------------------- submit

fn submit_form(ctx: &Ctx, error: Option<&str>, found: Option<Markup>) -> Markup {
    layout(
        Some(ctx),
        "Submit a plugin",
        "/console/submit",
        html! {
            @if let Some(e) = error { p.notice.error role="alert" { (e) } }
            @if let Some(f) = found { (f) }
            section.card {
                p { "Upload the component (" code { ".wasm" } ") and its manifest (" code { "easel.toml" } "). easel checks them at once; " strong { "Check" } " stores nothing, " strong { "Submit" } " stores the version for an approver." }
                form.stack method="post" action="/console/submit" enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(ctx.csrf);
                    label for="component" { "Component (.wasm)" input id="component" name="component" type="file" accept=".wasm" required; }
                    label for="manifest" { "Manifest (easel.toml)" input id="manifest" name="manifest" type="file" accept=".toml" required; }
                    div { button type="submit" name="action" value="check" class="plain" { "Check" } " " button type="submit" name="action" value="submit" { "Submit" } }
                }
            }
        },
    )
}

/// `GET /console/submit`.
pub(crate) async fn submit_page(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
) -> Response {
    page(
        &server,
        Req::new(&headers, addr, "/console/submit"),
        |_, _, ctx| {
            ctx.actor.require(Act::Submit)?;
            Ok(submit_form(ctx, None, None).into())
        },
    )
    .await
}

/// An upload's parts.
struct Upload {
    csrf: String,
    action: String,
    component: Vec<u8>,
    component_name: String,
    manifest: String,
    manifest_name: String,
}

async fn read_upload(mut m: axum::extract::Multipart) -> Result<Upload, AppError> {
    let mut u = Upload {
        csrf: String::new(),
        action: String::new(),
        component: Vec::new(),
        component_name: "component".into(),
        manifest: String::new(),
        manifest_name: "manifest".into(),
    };
    let too_big = || {
        AppError::invalid(format!(
            "the upload is over {} MiB: a plugin's component and manifest must fit in that",
            super::MAX_UPLOAD_BYTES / (1024 * 1024)
        ))
    };
    while let Some(field) = m.next_field().await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_big()
        } else {
            AppError::invalid(format!("cannot read the upload: {e}"))
        }
    })? {
        let name = field.name().unwrap_or_default().to_owned();
        let file = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_big()
            } else {
                AppError::invalid(format!("cannot read the upload: {e}"))
            }
        })?;
        match name.as_str() {
            "csrf" => u.csrf = String::from_utf8_lossy(&bytes).into_owned(),
            "action" => u.action = String::from_utf8_lossy(&bytes).into_owned(),
            "component" => {
                u.component = bytes.to_vec();
                if let Some(f) = file {
                    u.component_name = f;
                }
            }
            "manifest" => {
                u.manifest = String::from_utf8(bytes.to_vec())
                    .map_err(|_| AppError::invalid("the manifest is not UTF-8 text"))?;
                if let Some(f) = file {
                    u.manifest_name = f;
                }
            }
            other => {
                return Err(AppError::invalid(format!(
                    "this form has no field {other:?}; reload the page and try again"
                )));
            }
        }
    }
    Ok(u)
}

/// `POST /console/submit` (multipart): check, or check and store.
pub(crate) async fn submit(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Response {
    let site = same_site(&server, &headers);
    // Whoever it is must be signed in and may submit before the body is
    // read: an unknown caller costs no memory.
    let allowed = page(
        &server,
        Req::new(&headers, addr, "/console/submit"),
        |_, _, ctx| {
            ctx.actor.require(Act::Submit)?;
            Ok(Answer::Redirect("ok".into()))
        },
    )
    .await;
    if allowed.status() != StatusCode::SEE_OTHER
        || allowed
            .headers()
            .get(header::LOCATION)
            .map(|v| v.as_bytes())
            != Some(b"ok")
    {
        return allowed;
    }
    let upload = match axum::extract::Multipart::from_request(request, &()).await {
        Ok(m) => read_upload(m).await,
        Err(e) => Err(AppError::invalid(format!(
            "send the form as multipart/form-data: {e}"
        ))),
    };
    page(
        &server,
        Req::new(&headers, addr, "/console/submit"),
        move |server, home, ctx| {
            site?;
            let u = match upload {
                Ok(u) => u,
                Err(e) => {
                    return Ok(Answer::Status(
                        StatusCode::BAD_REQUEST,
                        submit_form(ctx, Some(&e.message), None),
                    ));
                }
            };
            if !super::same(u.csrf.as_bytes(), ctx.csrf.as_bytes()) {
                return Err(AppError::forbidden(
                    "this form's security token is missing or out of date, so nothing was stored",
                )
                .hint("reload the page and send the form again"));
            }
            if u.component.is_empty() || u.manifest.trim().is_empty() {
                return Ok(Answer::Status(
                    StatusCode::BAD_REQUEST,
                    submit_form(ctx, Some("choose both files: the component (.wasm) and its manifest (easel.toml)"), None),
                ));
            }
            let checked = easel_app::check(
                &server.runtime,
                (&u.manifest, &u.manifest_name),
                Some((&u.component, &u.component_name)),
            );
            let report = match checked {
                Ok(r) => r,
                Err(e) => {
                    return Ok(Answer::Status(
                        StatusCode::BAD_REQUEST,
                        submit_form(ctx, Some(&e.message), None),
                    ));
                }
            };
            let findings = html! {
                section.card aria-labelledby="findings" {
                    h2 id="findings" { "What the check found" }
                    dl.facts {
                        dt { "Plugin" } dd { (report.id) " " (report.version) }
                        dt { "Writes Canvas" } dd { @if report.write { "yes" } @else { "no" } }
                        dt { "Calls per run" } dd { (report.max_calls) }
                        dt { "Memory per run" } dd { (report.memory_mib) " MiB" }
                        dt { "Endpoints" } dd { (report.scopes) }
                        dt { "Parameters" } dd { (report.params) }
                        @if let Some(c) = &report.component {
                            dt { "Digest" } dd.mono { (c.digest) }
                            dt { "Imports" } dd { @for i in &c.imports { span.mono { (i) } " (" (import_words(i)) ")" br; } }
                            @if let Some(n) = &c.note { dt { "Note" } dd { (n) } }
                        }
                    }
                }
            };
            if u.action != "submit" {
                let mut f = findings;
                f = html! { p.notice.ok role="status" { "The component and manifest check out. Nothing was stored." } (f) };
                return Ok(submit_form(ctx, None, Some(f)).into());
            }
            match easel_app::add(home, &ctx.actor, &u.component, &u.manifest, &u.component_name) {
                Ok(row) => Ok(done_at(&format!("/console/plugins/{}@{}", row.id,
                    short(&row.digest)), "Submitted: an approver will review it")),
                Err(e) => Ok(Answer::Status(
                    super::status_of(&e),
                    submit_form(ctx, Some(&e.message), Some(findings)),
                )),
            }
        },
    )
    .await
}

use axum::extract::FromRequest as _;

// ------------------------------------------------------------------ audit

const AUDIT_FIELDS: &[&str] = &[
    "plugin",
    "school",
    "principal",
    "run",
    "action",
    "since",
    "until",
    "after",
    "verify",
];

fn audit_filter(f: &Form) -> Result<AuditFilter, AppError> {
    for t in ["since", "until"] {
        if let Some(v) = f.one(t)
            && !v.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(AppError::invalid(format!(
                "{t} is a time such as 2026-12-01 or 2026-12-01T06:00:00Z, not {v:?}"
            )));
        }
    }
    Ok(AuditFilter {
        since: f.one("since").map(str::to_owned),
        plugin: f.one("plugin").map(str::to_owned),
        school: num(f, "school")?,
        after_seq: num(f, "after")?,
        until: f.one("until").map(str::to_owned),
        run: f.one("run").map(str::to_owned),
        actor: f.one("principal").map(str::to_owned),
        action: f.one("action").map(str::to_owned),
    })
}

/// `GET /console/audit`: search, verify, export.
pub(crate) async fn audit(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let path = path_with_query("/console/audit", &q);
    page(
        &server,
        Req::new(&headers, addr, &path),
        move |_, home, ctx| {
            ctx.actor.require(Act::ReadAudit)?;
            let f = query_form(&q, AUDIT_FIELDS)?;
            let filter = audit_filter(&f)?;
            let searching = AUDIT_FIELDS
                .iter()
                .any(|k| *k != "verify" && f.one(k).is_some());
            let records = if searching {
                easel_app::audit::records(home, &ctx.actor, &filter, Some(AUDIT_PAGE))?
            } else {
                easel_app::audit::last(home, &ctx.actor, AUDIT_PAGE)?
            };
            let verdict = if f.has("verify") {
                Some(easel_app::audit::verify(home, &ctx.actor, None)?)
            } else {
                None
            };
            let mut next = f.0.iter().filter(|(k, _)| k != "after" && k != "verify").cloned().collect::<Vec<_>>();
            if let Some(last) = records.last() {
                next.push(("after".into(), last.seq.to_string()));
            }
            let next_q = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&next)
                .finish();
            let export_q = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(f.0.iter().filter(|(k, _)| k != "after" && k != "verify"))
                .finish();
            let actions = easel_store::Action::all_names();
            Ok(layout(
                Some(ctx),
                "Audit log",
                "/console/audit",
                html! {
                    section.card aria-labelledby="verify-h" {
                        h2 id="verify-h" { "Integrity" }
                        @match &verdict {
                            None => form method="get" action="/console/audit" { input type="hidden" name="verify" value="1"; button type="submit" { "Verify the log" } },
                            Some(v) => {
                                @match &v.log {
                                    easel_store::Verdict::Intact { records, head, checkpoints, .. } => {
                                        p role="status" { (state("intact")) " " (records) " records; every MAC and link holds, and " (checkpoints) " signed checkpoint(s) agree." }
                                        p { "Head hash: " span.mono { (head) } }
                                    }
                                    easel_store::Verdict::Broken { seq, reason, .. } => {
                                        p.notice.error role="alert" { (state("broken")) " at record " (seq) ": " (reason) }
                                    }
                                }
                            }
                        }
                    }
                    form.filters method="get" action="/console/audit" role="search" {
                        label { "Plugin" input name="plugin" size="14" value=[f.one("plugin")]; }
                        label { "School" input name="school" inputmode="numeric" size="7" value=[f.one("school")]; }
                        label { "Principal" input name="principal" size="14" value=[f.one("principal")]; }
                        label { "Run" input name="run" size="14" value=[f.one("run")]; }
                        label { "Action"
                            select name="action" {
                                option value="" { "any" }
                                @for a in &actions { option value=(a) selected[f.one("action") == Some(*a)] { (a) } }
                            }
                        }
                        label { "From" input name="since" type="date" value=[f.one("since")]; }
                        label { "Before" input name="until" type="date" value=[f.one("until")]; }
                        button type="submit" { "Search" }
                    }
                    p {
                        @if searching { (records.len()) " record(s), oldest first" } @else { "The newest " (records.len()) " record(s)" }
                        " · " a href={"/console/audit/export?" (export_q)} { "Export these as JSON lines" }
                    }
                    table {
                        thead { tr { th.num scope="col" { "#" } th scope="col" { "At" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "Plugin" } th scope="col" { "School" } th scope="col" { "Run" } th scope="col" { "Call" } th scope="col" { "Detail" } } }
                        tbody {
                            @for r in &records {
                                tr {
                                    td.num { (r.seq) } td { (r.at) } td { (clean(&r.actor)) } td { (clean(&r.action)) }
                                    td { (r.plugin.as_deref().unwrap_or("")) } td { @if let Some(s) = r.school { (s) } }
                                    td.mono { @if let Some(run) = &r.run { a href={"/console/runs/" (run)} { (run) } } }
                                    td.mono { (r.method.as_deref().unwrap_or("")) " " (r.path.as_deref().unwrap_or("")) @if let Some(s) = r.status { " → " (s) } }
                                    td { (clean(r.detail.as_deref().unwrap_or(""))) }
                                }
                            }
                        }
                    }
                    @if searching && records.len() == AUDIT_PAGE {
                        p.pager { a href={"/console/audit?" (next_q)} { "Next " (AUDIT_PAGE) " records" } }
                    }
                },
            )
            .into())
        },
    )
    .await
}

/// `GET /console/audit/export?filters`: the records as JSON lines.
pub(crate) async fn audit_export(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let path = path_with_query("/console/audit", &q);
    page(
        &server,
        Req::new(&headers, addr, &path),
        move |_, home, ctx| {
            let f = query_form(&q, AUDIT_FIELDS)?;
            let records = easel_app::audit::records(home, &ctx.actor, &audit_filter(&f)?, None)?;
            let mut bytes = Vec::new();
            for r in &records {
                serde_json::to_writer(&mut bytes, r).map_err(AppError::internal)?;
                bytes.push(b'\n');
            }
            Ok(Answer::File {
                kind: "application/x-ndjson",
                name: "easel-audit.jsonl".into(),
                bytes,
            })
        },
    )
    .await
}

// ----------------------------------------------------------------- tokens

/// `GET /console/tokens`: each instance's tokens, their buckets now and
/// over the last minutes.
pub(crate) async fn tokens(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    page(
        &server,
        Req::new(&headers, addr, "/console/tokens"),
        move |server, home, ctx| {
            let f = query_form(&q, &["done", "sig"])?;
            let done = server.console.done(&f).map(|d| (true, d.to_owned()));
            Ok(tokens_page(server, home, ctx, done)?.into())
        },
    )
    .await
}

fn tokens_page(
    server: &Server,
    home: &Home,
    ctx: &Ctx,
    notice: Option<(bool, String)>,
) -> Result<Markup, AppError> {
    let tokens = easel_app::credentials::tokens(home, &ctx.actor)?;
    let manage = ctx.actor.may(Act::ManageCredentials);
    let instances = if manage {
        easel_app::credentials::instances(home, &ctx.actor)?
    } else {
        Vec::new()
    };
    let mut shown: Vec<(String, String)> = tokens
        .iter()
        .map(|t| (t.instance.clone(), t.id.clone()))
        .collect();
    if tokens.is_empty() {
        // The embedded simulator's own token, when no instance is set up.
        shown.push((
            easel_app::SIM_INSTANCE.to_owned(),
            easel_app::SIM_INSTANCE.to_owned(),
        ));
    }
    Ok(layout(
        Some(ctx),
        "Canvas tokens",
        "/console/tokens",
        html! {
            @match &notice {
                Some((true, m)) => p.notice.ok role="status" { (m) },
                Some((false, m)) => p.notice.error role="alert" { (m) },
                None => {},
            }
            p { "The Canvas tokens easel holds. Their secrets are never shown: a secret field here is write-only. Each token's bucket is modelled from Canvas's answers; the gauges and charts show what easel's governor believes." }
            div id="gauges" hx-get="/console/tokens" hx-trigger="every 5s" hx-select="#gauges" hx-swap="outerHTML" {
                table {
                    thead { tr { th scope="col" { "Instance" } th scope="col" { "Token" } th scope="col" { "Fingerprint" } th scope="col" { "Added" } th scope="col" { "Last used" } th scope="col" { "Bucket level" } th.num scope="col" { "Requests" } th.num scope="col" { "Throttled" } } }
                    tbody {
                        @for t in &tokens {
                            tr {
                                td { (t.instance) } td.mono { (t.id) } td.mono { (t.fingerprint) }
                                td { (t.created_at) @if let Some(r) = &t.rotated_at { br; "rotated " (r) } } td { (t.last_used_at.as_deref().unwrap_or("never")) }
                                (gauge(server.samples.last(&t.id)))
                            }
                        }
                        @if tokens.is_empty() {
                            tr { td { "sim" } td.mono { "(embedded simulator)" } td {} td {} td {} (gauge(server.samples.last(easel_app::SIM_INSTANCE))) }
                        }
                    }
                }
            }
            @for (instance, id) in &shown {
                section.card {
                    h2 { "Token " (id) " on " (instance) }
                    img src={"/console/tokens/chart/" (id)} alt={"Bucket level and requests per second of token " (id) " over the last 10 minutes"} width="720" height="200";
                    @if manage && tokens.iter().any(|t| &t.id == id) {
                        form.stack method="post" action={"/console/tokens/" (id) "/rotate"} autocomplete="off" {
                            input type="hidden" name="csrf" value=(ctx.csrf);
                            label for={"rotate-" (id)} { "New secret for " (id) " (replaces the old one; grants keep using the token)" input id={"rotate-" (id)} name="secret" type="password" autocomplete="new-password" required; }
                            div { button type="submit" { "Rotate" } }
                        }
                    }
                }
            }
            @if manage {
                section.card aria-labelledby="add-token" {
                    h2 id="add-token" { "Add a token" }
                    @if instances.is_empty() {
                        p { "Add the district's Canvas first: " code { "easel instance add NAME --url https://district.instructure.com" } "." }
                    } @else {
                        form.stack method="post" action="/console/tokens/add" autocomplete="off" {
                            input type="hidden" name="csrf" value=(ctx.csrf);
                            label for="token-instance" { "Instance" select id="token-instance" name="instance" { @for i in &instances { option value=(i.name) { (i.name) " (" (i.url) ")" } } } }
                            label for="token-id" { "Name for the token (e.g. admin)" input id="token-id" name="id" required pattern="[a-z0-9][a-z0-9-]{0,31}"; }
                            label for="token-secret" { "Canvas access token" input id="token-secret" name="secret" type="password" autocomplete="new-password" required; }
                            p.muted { "easel asks Canvas whose the token is (/api/v1/users/self) before storing it; a token Canvas refuses is not stored." }
                            div { button type="submit" { "Add" } }
                        }
                    }
                }
            }
        },
    ))
}

fn gauge(s: Option<crate::samples::Sample>) -> Markup {
    html! {
        @match s {
            Some(s) => {
                td { meter min="0" max=(format!("{:.0}", s.hwm)) value=(format!("{:.0}", s.level())) { (format!("{:.0}", s.level())) } " " (format!("{:.0} of {:.0} units", s.level(), s.hwm)) }
                td.num { (s.granted) }
                td.num { (s.throttled) }
            }
            None => { td { span.muted { "not used since the server started" } } td {} td {} }
        }
    }
}

/// `POST /console/tokens/add`: a new token, verified with Canvas first.
pub(crate) async fn add_token(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let site = same_site(&server, &headers);
    page(
        &server,
        Req::new(&headers, addr, "/console/tokens"),
        move |server, home, ctx| {
            site?;
            let f = Form::parse(&body, &["instance", "id", "secret"])?;
            f.check_csrf(ctx)?;
            ctx.actor.require(Act::ManageCredentials)?;
            let secret = easel_vault::NewSecret::User {
                token: secrecy::SecretString::from(f.one("secret").unwrap_or_default().to_owned()),
            };
            let (instance, id) = (
                f.one("instance").unwrap_or_default().to_owned(),
                f.one("id").unwrap_or_default().to_owned(),
            );
            drop(f);
            let added = tokio::runtime::Handle::current().block_on(
                easel_app::credentials::add_verified_token(
                    home, &ctx.actor, &id, &instance, &secret, None,
                ),
            );
            match added {
                Ok((info, owner)) => Ok(done_at(
                    "/console/tokens",
                    &format!(
                        "Added token {} on {}: Canvas says it is {}'s (user {})",
                        info.id, info.instance, owner.name, owner.id
                    ),
                )),
                Err(e) => Ok(Answer::Status(
                    super::status_of(&e),
                    tokens_page(server, home, ctx, Some((false, e.message)))?,
                )),
            }
        },
    )
    .await
}

/// `POST /console/tokens/{token}/rotate`.
pub(crate) async fn rotate_token(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let site = same_site(&server, &headers);
    page(
        &server,
        Req::new(&headers, addr, "/console/tokens"),
        move |server, home, ctx| {
            site?;
            let f = Form::parse(&body, &["secret"])?;
            f.check_csrf(ctx)?;
            let secret =
                secrecy::SecretString::from(f.one("secret").unwrap_or_default().to_owned());
            drop(f);
            let rotated = tokio::runtime::Handle::current().block_on(
                easel_app::credentials::rotate_verified_token(home, &ctx.actor, &id, secret),
            );
            match rotated {
                Ok((old, info, _)) => Ok(done_at(
                    "/console/tokens",
                    &format!(
                        "Rotated token {}: fingerprint {} was {old}",
                        info.id, info.fingerprint
                    ),
                )),
                Err(e) => Ok(Answer::Status(
                    super::status_of(&e),
                    tokens_page(server, home, ctx, Some((false, e.message)))?,
                )),
            }
        },
    )
    .await
}

/// `GET /console/tokens/chart/{token}`: an SVG of the token's modelled
/// bucket level and requests per second over the last 10 minutes.
pub(crate) async fn token_chart(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    page(
        &server,
        Req::new(&headers, addr, "/console/tokens"),
        move |server, _, ctx| {
            if !ctx.actor.may(Act::ManageCredentials) {
                ctx.actor.require(Act::ReadAllRuns)?;
            }
            let samples = server.samples.of(&token);
            Ok(Answer::Raw(
                (
                    [(header::CONTENT_TYPE, "image/svg+xml")],
                    crate::samples::chart(&samples),
                )
                    .into_response(),
            ))
        },
    )
    .await
}

// -------------------------------------------------------------- schedules

/// `GET /console/schedules`.
pub(crate) async fn schedules(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    page(
        &server,
        Req::new(&headers, addr, "/console/schedules"),
        move |server, home, ctx| {
            let f = query_form(&q, &["done", "sig"])?;
            let done = server.console.done(&f);
            let list = easel_app::schedules::list(home, &ctx.actor, jiff::Timestamp::now())?;
            Ok(layout(
                Some(ctx),
                "Schedules",
                "/console/schedules",
                html! {
                    @if let Some(done) = done { p.notice.ok role="status" { (done) } }
                    @if list.is_empty() { p.muted { "No schedules. Add one with " code { "easel schedule add" } "." } }
                    @else {
                        table {
                            thead { tr { th scope="col" { "Schedule" } th scope="col" { "Plugin" } th scope="col" { "Schools" } th scope="col" { "When" } th scope="col" { "Mode" } th scope="col" { "State" } th scope="col" { "Next fires" } th scope="col" { "Last" } th scope="col" { "Change" } } }
                            tbody {
                                @for v in &list {
                                    @let s = &v.schedule;
                                    tr {
                                        td.mono { (s.id) } td { (s.plugin_id) }
                                        td { @if s.all_schools { "all" } @else { (s.schools.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")) } }
                                        td { code { (s.cron) } " " (s.tz) }
                                        td { @if s.dry_run { "dry run" } @else { "live" } }
                                        td { @if s.paused_at.is_some() { (state("paused")) @if let Some(w) = &s.paused_why { " " (clean(w)) } } @else { (state("active")) } }
                                        td { @for n in &v.next { (n) br; } }
                                        td { @if let Some(l) = &v.last { (l.fire_at) ": " (l.outcome) @if let Some(b) = &l.batch { " " a href={"/console/runs?batch=" (b)} { "runs" } } } }
                                        td {
                                            form method="post" action={"/console/schedules/" (s.id) "/" (if s.paused_at.is_some() { "resume" } else { "pause" })} {
                                                input type="hidden" name="csrf" value=(ctx.csrf);
                                                button type="submit" class="plain" { @if s.paused_at.is_some() { "Resume" } @else { "Pause" } " " span.skip { (s.id) } }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                },
            )
            .into())
        },
    )
    .await
}

/// `POST /console/schedules/{schedule}/{pause|resume}`.
pub(crate) async fn schedule_act(
    State(server): State<Arc<Server>>,
    Connect(Peer(addr)): Connect<Peer>,
    headers: HeaderMap,
    Path((id, act)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let site = same_site(&server, &headers);
    page(
        &server,
        Req::new(&headers, addr, "/console/schedules"),
        move |_, home, ctx| {
            site?;
            Form::parse(&body, &[])?.check_csrf(ctx)?;
            let done = match act.as_str() {
                "pause" => {
                    easel_app::schedules::pause(home, &ctx.actor, &id)?;
                    format!("Paused {id}")
                }
                "resume" => {
                    easel_app::schedules::resume(home, &ctx.actor, &id, jiff::Timestamp::now())?;
                    format!("Resumed {id}")
                }
                _ => return Err(AppError::not_found("a schedule is paused or resumed")),
            };
            Ok(done_at("/console/schedules", &done))
        },
    )
    .await
}
