//! The web console in a real browser (headless Chromium over WebDriver),
//! against `easel serve` and the simulator as the district's Canvas, both
//! on loopback:
//!
//! 1. a school's IT person signs in with a password and uploads a plugin,
//!    sees the check's findings, and submits it; bad uploads are refused
//!    on the page and store nothing;
//! 2. a district admin signs in with Canvas, reads what the version asks
//!    for, and approves it for two schools with a narrowed scope (a grant
//!    wider than the manifest is refused);
//! 3. runs it, watches it end without reloading, and downloads the report,
//!    whose bytes equal the file on disk;
//! 4. dry-runs the publisher and applies its plan (each write reaches
//!    Canvas once);
//! 5. the audit page shows each step with its principal, and verifies;
//! 6. the IT person typing another school's run gets 403, audited;
//! 7. a form posted without its CSRF token is refused;
//! 8. the token page never shows a secret: every page the browser saw, and
//!    every answer, is scanned for the Canvas token.
//!
//! Screenshots of each page are saved under target/tmp/console-screenshots.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::path::Path;
use std::time::Duration;

use browser::Browser;
use common::{serve, text};
use easel_sim::{Faults, Preset, Role, SimConfig, Simulator};

/// The course report's component, with a manifest that lists the
/// endpoints it calls and one it does not need (which the approver
/// unticks).
const REPORT_SCOPES: &str = r#"scopes = ["url:GET|/api/v1/accounts/:account_id/courses", "url:GET|/api/v1/courses/:course_id/sections", "url:GET|/api/v1/accounts/:account_id/users"]"#;

fn report_manifest() -> String {
    easel_bundled::COURSE_REPORT.manifest.replace(
        "[capabilities]\n",
        &format!("[capabilities]\n{REPORT_SCOPES}\n"),
    )
}

/// Sign in with a password on the console's sign-in page.
async fn sign_in(b: &mut Browser, url: &str, name: &str, password: &str) {
    b.goto(&format!("{url}/console")).await;
    assert!(
        b.url().await.contains("/console/sign-in"),
        "{}",
        b.url().await
    );
    b.fill("#name", name).await;
    b.fill("#password", password).await;
    b.click("form.stack button[type=submit]").await;
    b.wait_for(&format!("<strong>{name}</strong>"), 20).await;
}

/// Sign in with the keyboard alone: the name field has the focus, Tab
/// moves to the password, Enter sends the form.
async fn sign_in_by_keyboard(b: &mut Browser, url: &str, name: &str, password: &str) {
    b.goto(&format!("{url}/console/sign-in")).await;
    let focused = b.c.active_element().await.unwrap();
    assert_eq!(focused.attr("id").await.unwrap().as_deref(), Some("name"));
    focused.send_keys(name).await.unwrap();
    focused.send_keys("\u{E004}").await.unwrap();
    let focused = b.c.active_element().await.unwrap();
    assert_eq!(
        focused.attr("id").await.unwrap().as_deref(),
        Some("password")
    );
    focused.send_keys(password).await.unwrap();
    focused.send_keys("\u{E007}").await.unwrap();
    b.wait_for(&format!("<strong>{name}</strong>"), 20).await;
}

/// The page has one `h1`, the header, navigation and main landmarks when
/// signed in, and every visible control has a label.
async fn accessible(b: &mut Browser, what: &str) {
    let found = b
        .c
        .execute(
            r#"
            const unlabelled = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                .map(e => e.name || e.id || e.outerHTML);
            return {
                h1: document.querySelectorAll('h1').length,
                main: document.querySelectorAll('main').length,
                unlabelled: unlabelled,
            };"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(found["h1"], 1, "{what}: one h1");
    assert_eq!(found["main"], 1, "{what}: a main landmark");
    assert_eq!(
        found["unlabelled"],
        serde_json::json!([]),
        "{what}: controls without a label"
    );
}

async fn sign_out(b: &mut Browser) {
    b.click("header.top form button").await;
    b.wait_for("Sign in to easel", 20).await;
}

/// Post `fields` to `path` as the browser's session would, but without
/// going through a page (so without the form's CSRF token unless given).
async fn post_as(url: &str, path: &str, cookies: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{url}{path}"))
        .header("cookie", cookies)
        .header("origin", url)
        .form(fields)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn get_as(url: &str, path: &str, cookies: &str) -> (u16, Vec<u8>) {
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{url}{path}"))
        .header("cookie", cookies)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

/// The value of the first `attr="..."` after `marker` in `html`.
fn attr_after(html: &str, marker: &str, attr: &str) -> String {
    let rest = html
        .split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no {marker} in {html}"));
    rest.split(&format!("{attr}=\""))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .replace("&amp;", "&")
}

/// The run id in a run page's URL.
fn run_id(url: &str) -> String {
    url.rsplit("/console/runs/")
        .next()
        .unwrap()
        .split(['?', '#'])
        .next()
        .unwrap()
        .to_owned()
}

/// Wait on a run's page until it says `state`, without reloading it (the
/// page follows the run by itself); whether it was still going when first
/// shown.
async fn watch_run(b: &mut Browser, state: &str) -> bool {
    let first = b.source().await;
    let live = first.contains("data-live-log");
    b.wait_for(&format!("class=\"state ok\">{state}"), 60).await;
    live
}

#[test]
fn the_console_in_a_browser_from_upload_to_approved_run_to_audit() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            preset: Preset::District,
            record_requests: true,
            ..SimConfig::default()
        }))
        .unwrap();
    let root_admin = sim
        .role_tokens()
        .iter()
        .find(|(r, _, _)| *r == Role::RootAdmin)
        .map(|(_, u, _)| *u)
        .unwrap();
    let (school, other) = sim.with_data(|d| (d.schools()[0].id, d.schools()[1].id));
    let canary = sim.admin_token().to_owned();
    // Slow enough that a run is still going when its page first shows.
    sim.set_faults(Faults {
        latency: Some(Duration::from_millis(30)),
        ..Faults::default()
    });

    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("server");
    common::easel(&home, &["instance", "add", "prod", "--url", sim.url()]);
    let out = common::easel_with(
        &home,
        &["--instance", "prod", "token", "add", "admin"],
        &format!("{canary}\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let it_pw = common::add_user(
        &home,
        &[
            "user",
            "add",
            "school-it",
            "--role",
            "contributor",
            "--school",
            &school.to_string(),
        ],
    );
    let served = serve(&home);
    let url = served.url.clone();
    let (client_id, secret) = sim.add_developer_key_for(&format!("{url}/auth/canvas/callback"));
    let out = common::easel_with(
        &home,
        &[
            "instance",
            "sign-in",
            "prod",
            "--client-id",
            &client_id,
            "--root-admins-are-district-admins",
        ],
        &format!("{secret}\n"),
    );
    assert!(out.status.success(), "{}", text(&out));

    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let wasm = files.join("course-report.wasm");
    std::fs::write(&wasm, easel_bundled::COURSE_REPORT.wasm).unwrap();
    let manifest = files.join("easel.toml");
    std::fs::write(&manifest, report_manifest()).unwrap();
    let pub_wasm = files.join("course-publisher.wasm");
    std::fs::write(&pub_wasm, easel_bundled::COURSE_PUBLISHER.wasm).unwrap();
    let pub_manifest = files.join("publisher.toml");
    std::fs::write(&pub_manifest, easel_bundled::COURSE_PUBLISHER.manifest).unwrap();
    let not_wasm = files.join("notes.wasm");
    std::fs::write(&not_wasm, "this is not a component").unwrap();
    let unknown_key = files.join("unknown.toml");
    std::fs::write(
        &unknown_key,
        format!(
            "{}\nsurprise = true\n",
            easel_bundled::COURSE_REPORT.manifest
        ),
    )
    .unwrap();
    let huge = files.join("huge.wasm");
    std::fs::write(&huge, vec![0u8; 33 * 1024 * 1024]).unwrap();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let stored = || {
        let out = common::easel(&home, &["plugin", "list", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };

    rt.block_on(async {
        let mut b = Browser::start(&shots).await;

        // 1. The school's IT person signs in and uploads.
        sign_in_by_keyboard(&mut b, &url, "school-it", &it_pw).await;
        accessible(&mut b, "home").await;
        b.shot("home-contributor").await;
        b.goto(&format!("{url}/console/submit")).await;
        let upload = |w: &Path, m: &Path| {
            (
                w.to_str().unwrap().to_owned(),
                m.to_str().unwrap().to_owned(),
            )
        };
        for (w, says) in [
            (upload(&not_wasm, &manifest), "not a"),
            (upload(&wasm, &unknown_key), "surprise"),
            (upload(&huge, &manifest), "over 32 MiB"),
        ] {
            b.goto(&format!("{url}/console/submit")).await;
            b.fill("#component", &w.0).await;
            b.fill("#manifest", &w.1).await;
            b.click("button[value=submit]").await;
            let page = b.wait_for("notice error", 30).await;
            assert!(page.contains(says), "expected {says:?}: {page}");
            assert_eq!(
                stored(),
                serde_json::json!([]),
                "a refused upload stores nothing"
            );
        }
        accessible(&mut b, "submit-refused").await;
        b.shot("submit-refused").await;
        b.goto(&format!("{url}/console/submit")).await;
        b.fill("#component", wasm.to_str().unwrap()).await;
        b.fill("#manifest", manifest.to_str().unwrap()).await;
        b.click("button[value=check]").await;
        let page = b.wait_for("What the check found", 30).await;
        assert!(page.contains("Nothing was stored"), "{page}");
        assert!(page.contains("course-report"), "{page}");
        assert_eq!(stored(), serde_json::json!([]));
        accessible(&mut b, "submit-checked").await;
        b.shot("submit-checked").await;
        b.goto(&format!("{url}/console/submit")).await;
        b.fill("#component", wasm.to_str().unwrap()).await;
        b.fill("#manifest", manifest.to_str().unwrap()).await;
        b.click("button[value=submit]").await;
        let page = b
            .wait_for("Submitted: an approver will review it", 30)
            .await;
        assert!(
            page.contains("reads Canvas"),
            "imports in plain words: {page}"
        );
        b.goto(&format!("{url}/console/submit")).await;
        b.fill("#component", pub_wasm.to_str().unwrap()).await;
        b.fill("#manifest", pub_manifest.to_str().unwrap()).await;
        b.click("button[value=submit]").await;
        b.wait_for("Submitted: an approver will review it", 30)
            .await;
        assert_eq!(stored().as_array().unwrap().len(), 2);
        let home_page = b.goto(&format!("{url}/console")).await;
        assert!(home_page.contains("Your submissions"), "{home_page}");
        assert!(home_page.contains("course-publisher"), "{home_page}");
        let it_cookies = b.cookie_header().await;
        sign_out(&mut b).await;

        // 2. A district admin signs in with Canvas.
        b.goto(&format!("{url}/console/sign-in")).await;
        b.click("a[href^=\"/console/sign-in/canvas\"]").await;
        // The simulator has no login page: the person "signs in" as the
        // root admin by naming them.
        let at_canvas = b.url().await;
        assert!(at_canvas.starts_with(sim.url()), "{at_canvas}");
        b.goto(&format!("{at_canvas}&sim_user={root_admin}")).await;
        let page = b.wait_for("Signed in as", 30).await;
        assert!(page.contains("district-admin"), "{page}");
        let waiting = b.source().await;
        assert!(waiting.contains("Waiting for approval"), "{waiting}");
        accessible(&mut b, "home-admin").await;
        b.shot("home-admin").await;

        // What the report asks for, and the approval with a narrowed scope
        // for two schools.
        b.goto(&format!("{url}/console/plugins/course-report"))
            .await;
        let page = b.source().await;
        for shown in [
            "Digest (sha256)",
            "reads Canvas",
            "Changes since the approved version",
            "url:GET|/api/v1/accounts/:account_id/users",
        ] {
            assert!(page.contains(shown), "{shown}: {page}");
        }
        let admin_cookies = b.cookie_header().await;
        let csrf = attr_after(&page, "action=\"/console/plugins/course-report@", "value");
        let approve_path = page
            .split("action=\"")
            .map(|r| r.split('"').next().unwrap())
            .find(|a| a.ends_with("/approve"))
            .unwrap()
            .to_owned();
        // A grant wider than the manifest is refused, and nothing changes.
        let (status, body) = post_as(
            &url,
            &approve_path,
            &admin_cookies,
            &[
                ("csrf", csrf.as_str()),
                ("scope", "url:GET|/api/v1/users/:id"),
                ("school", &school.to_string()),
            ],
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("notice error"), "{body}");
        assert!(stored().to_string().contains("pending"), "{}", stored());
        b.click("input[value=\"url:GET|/api/v1/accounts/:account_id/users\"]")
            .await;
        b.fill("#school-search", "").await;
        b.click(&format!("input[name=school][value=\"{school}\"]"))
            .await;
        b.click(&format!("input[name=school][value=\"{other}\"]"))
            .await;
        accessible(&mut b, "approve").await;
        b.shot("approve").await;
        b.click("section[aria-labelledby=approve] button[type=submit]")
            .await;
        let page = b.wait_for("Approved for 2 school(s)", 30).await;
        assert!(page.contains("read only"), "{page}");
        let grant = common::easel(&home, &["plugin", "inspect", "course-report", "--json"]);
        let grant = text(&grant);
        assert!(grant.contains(&school.to_string()), "{grant}");

        // 3. It runs for each school; the page follows the run to its end.
        let mut runs = Vec::new();
        // Slow Canvas answers while these run, so each page is first shown
        // while its run still goes.
        sim.set_faults(Faults {
            latency: Some(Duration::from_millis(150)),
            ..Faults::default()
        });
        for s in [school, other] {
            b.goto(&format!("{url}/console/plugins/course-report"))
                .await;
            b.c.find(fantoccini::Locator::Css("#run-school"))
                .await
                .unwrap()
                .select_by_value(&s.to_string())
                .await
                .unwrap();
            b.click("input[name=dry_run]").await; // live: it only reads
            if s == school {
                // One call per course more: a run long enough to watch.
                b.fill("#param-sections", "true").await;
            }
            b.click("section[aria-labelledby=run-h] button[type=submit]")
                .await;
            b.wait_for("<h1>Run ", 30).await;
            let id = run_id(&b.url().await);
            // What the page's script listens to, read alongside it.
            let events = tokio::spawn({
                let (url, cookies, id) = (url.clone(), admin_cookies.clone(), id.clone());
                async move { get_as(&url, &format!("/console/runs/{id}/events"), &cookies).await }
            });
            let followed = watch_run(&mut b, "succeeded").await;
            let (status, stream) = events.await.unwrap();
            let stream = String::from_utf8_lossy(&stream).into_owned();
            assert_eq!(status, 200);
            assert!(stream.ends_with("event: end\ndata: over\n\n"), "{stream}");
            if s == school {
                assert!(
                    stream.contains("event: log\ndata: [info] listing courses of"),
                    "the log, live: {stream}"
                );
                assert!(stream.contains("event: call\ndata: {"), "{stream}");
            }
            runs.push((id, followed));
        }
        accessible(&mut b, "run").await;
        b.shot("run").await;
        sim.set_faults(Faults {
            latency: Some(Duration::from_millis(30)),
            ..Faults::default()
        });
        // The simulator's latency keeps a run going for a while: at least
        // one page was first shown while its run went, and followed it to
        // its end by itself (server-sent events, then a reload).
        assert!(
            runs.iter().any(|(_, followed)| *followed),
            "no run page was shown while its run went: {runs:?}"
        );
        let (report_run, _) = runs[0].clone();
        let page = b.goto(&format!("{url}/console/runs/{report_run}")).await;
        assert!(page.contains("courses.csv"), "{page}");
        assert!(
            page.contains("<table aria-label=\"The report courses.csv\">"),
            "{page}"
        );
        assert!(page.contains("GET"), "the run's calls: {page}");
        let (status, bytes) = get_as(
            &url,
            &format!("/console/runs/{report_run}/reports/courses.csv"),
            &admin_cookies,
        )
        .await;
        assert_eq!(status, 200);
        let on_disk =
            std::fs::read(home.join("runs").join(&report_run).join("courses.csv")).unwrap();
        assert_eq!(bytes, on_disk, "the download is the file on disk");

        // 4. The publisher: approve, dry-run, apply the plan.
        b.goto(&format!("{url}/console/plugins/course-publisher"))
            .await;
        b.click(&format!("input[name=school][value=\"{school}\"]"))
            .await;
        b.click("section[aria-labelledby=approve] button[type=submit]")
            .await;
        b.wait_for("Approved for 1 school(s)", 30).await;
        b.goto(&format!("{url}/console/plugins/course-publisher"))
            .await;
        b.fill("#param-limit", "3").await;
        b.click("section[aria-labelledby=run-h] button[type=submit]")
            .await;
        b.wait_for("<h1>Run ", 30).await;
        let dry = run_id(&b.url().await);
        watch_run(&mut b, "succeeded").await;
        let page = b.wait_for("Apply this plan", 10).await;
        assert!(page.contains("Planned writes"), "{page}");
        let plan_table = page
            .split("Planned writes")
            .nth(1)
            .and_then(|r| r.split("</table>").next())
            .unwrap();
        let planned = plan_table
            .matches("<td class=\"mono\">/api/v1/courses/")
            .count();
        assert!(planned > 0, "{page}");
        accessible(&mut b, "plan").await;
        b.shot("plan").await;
        sim.clear_requests();
        b.click("section[aria-labelledby=plan] button[type=submit]")
            .await;
        b.wait_for("Applies the plan of", 30).await;
        watch_run(&mut b, "succeeded").await;
        let page = b.wait_for("What became of each planned step", 30).await;
        assert!(page.contains(&format!("/console/runs/{dry}")), "{page}");
        let writes: Vec<String> = sim
            .requests()
            .iter()
            .filter(|r| r.method == "PUT")
            .map(|r| r.path.clone())
            .collect();
        assert_eq!(writes.len(), planned, "{writes:?}");
        let mut once = writes.clone();
        once.sort();
        once.dedup();
        assert_eq!(once.len(), writes.len(), "no write sent twice: {writes:?}");

        // 5. The audit log, with each step's principal, verified.
        let page = b
            .goto(&format!("{url}/console/audit?plugin=course-report"))
            .await;
        let admin_name = page
            .split("Signed in as <strong>")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .unwrap()
            .to_owned();
        let row_of = |action: &str| {
            page.split("<tr>")
                .find(|r| r.contains(&format!("<td>{action}</td>")))
                .unwrap_or_else(|| panic!("no {action} record: {page}"))
                .to_owned()
        };
        assert!(row_of("plugin-submitted").contains("school-it"), "{page}");
        assert!(row_of("plugin-approved").contains(&admin_name), "{page}");
        assert!(row_of("run-started").contains(&admin_name), "{page}");
        b.goto(&format!("{url}/console/audit")).await;
        b.click("section[aria-labelledby=verify-h] button").await;
        let page = b.wait_for("Head hash", 30).await;
        assert!(page.contains("class=\"state ok\">intact"), "{page}");
        accessible(&mut b, "audit").await;
        b.shot("audit").await;

        // 8. The tokens page: a gauge, a chart, write-only secret fields.
        let page = b.goto(&format!("{url}/console/tokens")).await;
        assert!(page.contains("Token admin on prod"), "{page}");
        assert!(page.contains("type=\"password\""), "{page}");
        let (status, svg) = get_as(&url, "/console/tokens/chart/admin", &admin_cookies).await;
        assert_eq!(status, 200);
        assert!(
            String::from_utf8_lossy(&svg).contains("class=\"level\""),
            "{}",
            String::from_utf8_lossy(&svg)
        );
        // An empty secret, or one Canvas refuses, replaces nothing.
        let csrf = attr_after(&page, "action=\"/console/tokens/admin/rotate\"", "value");
        for bad in ["", "7~not-a-token"] {
            let (status, body) = post_as(
                &url,
                "/console/tokens/admin/rotate",
                &admin_cookies,
                &[("csrf", csrf.as_str()), ("secret", bad)],
            )
            .await;
            assert_eq!(status, 400, "{body}");
            assert!(
                body.contains("was not rotated") || body.contains("no new secret"),
                "{body}"
            );
            assert!(!body.contains("7~not-a-token"), "the secret is not echoed");
        }
        let out = common::easel(&home, &["token", "check", "admin"]);
        assert!(
            out.status.success(),
            "the token still works: {}",
            text(&out)
        );
        b.fill("#rotate-admin", &canary).await;
        b.click("form[action=\"/console/tokens/admin/rotate\"] button")
            .await;
        let page = b.wait_for("Rotated token admin", 30).await;
        assert!(!page.contains(&canary));
        accessible(&mut b, "tokens").await;
        b.shot("tokens").await;
        sign_out(&mut b).await;

        // 6. The IT person types another school's run: 403, and audited.
        sign_in(&mut b, &url, "school-it", &it_pw).await;
        let foreign = &runs[1].0;
        let page = b.goto(&format!("{url}/console/runs/{foreign}")).await;
        assert!(page.contains("Not allowed"), "{page}");
        let it_cookies_now = b.cookie_header().await;
        let (status, _) = get_as(&url, &format!("/console/runs/{foreign}"), &it_cookies_now).await;
        assert_eq!(status, 403);
        let (status, _) = get_as(
            &url,
            &format!("/console/runs/{foreign}/reports/courses.csv"),
            &it_cookies_now,
        )
        .await;
        assert_eq!(status, 403);
        let own = b.goto(&format!("{url}/console/runs/{report_run}")).await;
        assert!(own.contains("courses.csv"), "their own school's run: {own}");
        let denied = common::easel(&home, &["audit", "export", "--format", "jsonl"]);
        let denied = text(&denied);
        assert!(
            denied.lines().any(|l| l.contains("access-denied")
                && l.contains("school-it")
                && l.contains(foreign.as_str())),
            "{denied}"
        );

        // 7. A form without its CSRF token changes nothing.
        let (status, body) = post_as(
            &url,
            "/console/plugins/course-report/deny",
            &it_cookies_now,
            &[("reason", "no")],
        )
        .await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("security token"), "{body}");
        // Nor does a stale session's.
        let (status, _) = post_as(&url, "/console/sign-out", &it_cookies, &[]).await;
        assert_eq!(status, 303, "the old session sends the browser to sign in");

        // No page the browser saw, and no answer, holds the Canvas token.
        for s in &b.seen {
            assert!(!s.contains(&canary), "a page showed the Canvas token");
        }
        b.quit().await;
    });

    let log = served.log.lock().unwrap().clone();
    assert!(
        !log.contains(&canary),
        "the server's log holds the Canvas token"
    );
    for r in sim.requests() {
        assert!(!r.query.contains(&canary), "{r:?}");
    }
}
