//! The console's boundaries over plain HTTP (no browser, so no
//! JavaScript): every page needs a session; sessions, forms and answers
//! carry the security they claim; what a role may not do is refused on the
//! server; a denial reaches its submitter; schedules pause and resume;
//! audit and batch reports download. No answer holds a token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;

use common::{serve, serve_with, text};

/// A browser without JavaScript: a cookie jar and no redirects followed.
struct Agent {
    base: String,
    jar: HashMap<String, String>,
    http: reqwest::Client,
    /// Every answer's body, to scan for secrets.
    seen: Vec<String>,
    rt: tokio::runtime::Runtime,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> String {
        self.headers
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    /// The value of the hidden CSRF field of the first form.
    fn csrf(&self) -> String {
        self.body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("no csrf field: {}", self.body))
            .to_owned()
    }
}

impl Agent {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            jar: HashMap::new(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            seen: Vec::new(),
            rt: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    fn cookies(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn send(&mut self, r: reqwest::RequestBuilder) -> Answer {
        let r = r.header("cookie", self.cookies());
        let (status, headers, body) = self.rt.block_on(async {
            let a = r.send().await.unwrap();
            let (s, h) = (a.status().as_u16(), a.headers().clone());
            (s, h, a.text().await.unwrap_or_default())
        });
        for c in headers.get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (kv, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if v.is_empty() {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_owned(), v.to_owned());
            }
        }
        self.seen.push(body.clone());
        Answer {
            status,
            headers,
            body,
        }
    }

    fn get(&mut self, path: &str) -> Answer {
        let r = self.http.get(format!("{}{path}", self.base));
        self.send(r)
    }

    fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("origin", &self.base)
            .form(fields);
        self.send(r)
    }

    fn sign_in(&mut self, name: &str, password: &str) -> Answer {
        let page = self.get("/console/sign-in");
        let csrf = page.csrf();
        self.post(
            "/console/sign-in",
            &[("csrf", &csrf), ("name", name), ("password", password)],
        )
    }
}

#[test]
fn the_console_refuses_what_it_should_and_keeps_its_promises_without_javascript() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("server");
    // Plugins, approvals and runs on the embedded simulator.
    let out = common::easel(&home, &["demo"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = common::easel(
        &home,
        &[
            "schedule",
            "add",
            "course-report",
            "--school",
            "2",
            "--cron",
            "0 6 * * 1-5",
            "--tz",
            "America/Chicago",
        ],
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
            "2",
        ],
    );
    let ana_pw = common::add_user(&home, &["user", "add", "ana", "--role", "district-admin"]);
    // A new version from the school, for the admin to deny.
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let (wasm, manifest) = common::bundled_files(&files, &easel_bundled::COURSE_REPORT);
    std::fs::write(
        &manifest,
        easel_bundled::COURSE_REPORT
            .manifest
            .replace("version = \"0.1.0\"", "version = \"0.2.0\""),
    )
    .unwrap();
    let out = common::easel(
        &home,
        &[
            "plugin",
            "submit",
            &wasm,
            "--manifest",
            &manifest,
            "--by",
            "school-it",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let served = serve(&home);
    let url = served.url.clone();

    // Without a session, every page sends the browser to sign in, and
    // every form is refused the same way.
    let mut anon = Agent::new(&url);
    for path in [
        "/console",
        "/console/runs",
        "/console/plugins",
        "/console/plugins/course-report",
        "/console/submit",
        "/console/audit",
        "/console/audit/export",
        "/console/tokens",
        "/console/tokens/chart/sim",
        "/console/schedules",
        "/console/runs/0000000000000000",
        "/console/runs/0000000000000000/events",
        "/console/runs/0000000000000000/reports/courses.csv",
        "/console/batches/x/report",
    ] {
        let a = anon.get(path);
        assert_eq!(a.status, 303, "{path}: {}", a.body);
        assert!(a.location().starts_with("/console/sign-in?next="), "{path}");
    }
    for path in [
        "/console/plugins/course-report/approve",
        "/console/plugins/course-report/revoke",
        "/console/plugins/course-report/deny",
        "/console/plugins/course-report/run",
        "/console/runs/0000000000000000/apply",
        "/console/tokens/add",
        "/console/schedules/x/pause",
        "/console/sign-out",
    ] {
        let a = anon.post(path, &[("csrf", "x")]);
        assert_eq!(a.status, 303, "{path}: {}", a.body);
    }
    assert_eq!(anon.get("/").location(), "/console");

    // The headers of every page.
    let a = anon.get("/console/sign-in");
    assert_eq!(a.status, 200);
    let csp = a.header("content-security-policy");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(!a.body.contains("<script>"), "no inline script");
    assert!(!a.body.contains(" style=\""), "no inline style");
    assert_eq!(a.header("x-frame-options"), "DENY");
    assert_eq!(a.header("x-content-type-options"), "nosniff");
    assert_eq!(a.header("cache-control"), "no-store");
    // The scripts and styles are easel's own, cached for a year; another
    // version's address is not found.
    let asset = a
        .body
        .split("src=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    assert!(asset.starts_with("/console/assets/"), "{asset}");
    let js = anon.get(&asset);
    assert_eq!(js.status, 200);
    assert!(js.header("cache-control").contains("max-age=31536000"));
    assert!(js.header("content-type").starts_with("text/javascript"));
    let stale = asset.replace("/assets/", "/assets/0");
    assert_eq!(anon.get(&stale).status, 404);

    // Signing in: the sign-in form's token is bound to this browser; a
    // post from another site, or without the token, is refused.
    let mut it = Agent::new(&url);
    let page = it.get("/console/sign-in");
    let csrf = page.csrf();
    let forged = it.post(
        "/console/sign-in",
        &[("csrf", "0"), ("name", "school-it"), ("password", &it_pw)],
    );
    assert_eq!(forged.status, 403, "{}", forged.body);
    let cross = it.send(
        it.http
            .post(format!("{url}/console/sign-in"))
            .header("origin", "https://evil.example")
            .form(&[
                ("csrf", csrf.as_str()),
                ("name", "school-it"),
                ("password", it_pw.as_str()),
            ]),
    );
    assert_eq!(cross.status, 403, "{}", cross.body);
    let signed = it.sign_in("school-it", &it_pw);
    assert_eq!(signed.status, 303, "{}", signed.body);
    let cookie = signed.header("set-cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http on loopback: {cookie}"
    );
    // The session works only in the console: the API refuses it.
    let session = it.jar["easel_session"].clone();
    let api = it.send(
        it.http
            .get(format!("{url}/api/v1/me"))
            .header("authorization", format!("Bearer {session}")),
    );
    assert_eq!(api.status, 403, "{}", api.body);
    assert!(api.body.contains("console"), "{}", api.body);
    // Messages in a link are shown only if this server wrote them.
    let phish = it.get("/console/plugins/course-report?done=Re-enter+your+Canvas+token+at+evil");
    assert!(!phish.body.contains("Re-enter"), "{}", phish.body);
    // Every answer carries the headers, errors included.
    for (path, status) in [("/console/nothing-here", 404), ("/console/sign-out", 405)] {
        let a = it.get(path);
        assert_eq!(a.status, status, "{path}");
        assert_eq!(a.header("x-frame-options"), "DENY", "{path}");
        assert!(
            a.header("content-security-policy")
                .contains("default-src 'none'"),
            "{path}"
        );
    }
    let home_page = it.get("/console");
    assert!(home_page.body.contains("<strong>school-it</strong>"));
    assert_eq!(home_page.body.matches("<h1").count(), 1, "one h1");
    for landmark in ["<header", "<nav", "<main"] {
        assert!(home_page.body.contains(landmark), "{landmark}");
    }
    // A contributor sees no approval form, no audit, no tokens.
    assert!(!home_page.body.contains("href=\"/console/audit\""));
    assert_eq!(it.get("/console/audit").status, 403);
    assert_eq!(it.get("/console/tokens").status, 403);
    let plugin = it.get("/console/plugins/course-report");
    assert!(!plugin.body.contains("/approve\""), "{}", plugin.body);
    let csrf = plugin.csrf();
    let refused = it.post(
        "/console/plugins/course-report/approve",
        &[("csrf", &csrf), ("school", "2")],
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    // Unknown form fields are refused.
    let odd = it.post(
        "/console/plugins/course-report/run",
        &[
            ("csrf", &csrf),
            ("school", "2"),
            ("dry_run", "1"),
            ("as_admin", "1"),
        ],
    );
    assert_eq!(odd.status, 400, "{}", odd.body);
    assert!(odd.body.contains("as_admin"), "{}", odd.body);

    // The district admin denies the school's new version, saying why.
    let mut admin = Agent::new(&url);
    assert_eq!(admin.sign_in("ana", &ana_pw).status, 303);
    let page = admin.get("/console/plugins/course-report");
    assert!(
        page.body.contains("0.2.0"),
        "the newest version: {}",
        page.body
    );
    assert!(page.body.contains("Changes since the approved version"));
    let csrf = page.csrf();
    let denied = admin.post(
        "/console/plugins/course-report/deny",
        &[
            ("csrf", &csrf),
            ("reason", "Please narrow it to the courses endpoint first."),
        ],
    );
    assert_eq!(denied.status, 303, "{}", denied.body);
    let seen_by_it = it.get("/console");
    assert!(
        seen_by_it
            .body
            .contains("Please narrow it to the courses endpoint first."),
        "{}",
        seen_by_it.body
    );
    let out = common::easel(&home, &["plugin", "list"]);
    assert!(text(&out).contains("denied by ana"), "{}", text(&out));
    // A submitter cannot deny (nor approve) their own.
    let csrf = it.get("/console/plugins/course-report").csrf();
    let own = it.post(
        "/console/plugins/course-report/deny",
        &[("csrf", &csrf), ("reason", "mine")],
    );
    assert_eq!(own.status, 403, "{}", own.body);

    // Schedules pause and resume from the page.
    let page = admin.get("/console/schedules");
    let id = page
        .body
        .split("action=\"/console/schedules/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_owned();
    assert!(page.body.contains("state ok\">active"), "{}", page.body);
    let csrf = page.csrf();
    let paused = admin.post(
        &format!("/console/schedules/{id}/pause"),
        &[("csrf", &csrf)],
    );
    assert_eq!(paused.status, 303, "{}", paused.body);
    let page = admin.get("/console/schedules");
    assert!(page.body.contains("state warn\">paused"), "{}", page.body);
    let resumed = admin.post(
        &format!("/console/schedules/{id}/resume"),
        &[("csrf", &csrf)],
    );
    assert_eq!(resumed.status, 303, "{}", resumed.body);

    // A batch run from the API, its merged report from the console.
    let out = common::easel(
        &home,
        &["run", "course-report", "--schools", "2,4", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let batch: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let batch = batch["batch"].as_str().unwrap().to_owned();
    let runs = admin.get(&format!("/console/runs?batch={batch}"));
    assert!(runs.body.contains("2 run(s)"), "{}", runs.body);
    let merged = admin.get(&format!("/console/batches/{batch}/report"));
    assert_eq!(merged.status, 200, "{}", merged.body);
    assert!(merged.header("content-disposition").contains("attachment"));
    let head = merged.body.lines().next().unwrap();
    assert!(head.starts_with("school,run,report,"), "{head}");
    assert!(merged.body.lines().any(|l| l.starts_with("2,")));
    assert!(merged.body.lines().any(|l| l.starts_with("4,")));
    // The filters narrow the list.
    let failed = admin.get("/console/runs?status=failed");
    assert!(failed.body.contains("0 run(s)"), "{}", failed.body);
    assert_eq!(admin.get("/console/runs?status=bogus").status, 400);
    assert_eq!(admin.get("/console/runs?colour=red").status, 400);

    // The audit log searched by action and principal, and exported.
    let found = admin.get("/console/audit?action=plugin-denied&principal=ana");
    assert!(found.body.contains("Please narrow it"), "{}", found.body);
    let export = admin.get("/console/audit/export?action=plugin-denied");
    assert_eq!(export.status, 200);
    assert_eq!(export.body.lines().count(), 1, "{}", export.body);
    let line: serde_json::Value = serde_json::from_str(export.body.trim()).unwrap();
    assert_eq!(line["action"], "plugin-denied");

    // Signing out ends the session: its cookie opens nothing.
    let old = it.cookies();
    let csrf = it.get("/console").csrf();
    let out = it.post("/console/sign-out", &[("csrf", &csrf)]);
    assert_eq!(out.status, 303);
    let mut replay = Agent::new(&url);
    let a = replay.send(
        replay
            .http
            .get(format!("{url}/console"))
            .header("cookie", old),
    );
    assert_eq!(a.status, 303, "a signed-out session opens nothing");

    // Too many wrong passwords: refused, even with the right one after.
    let mut guesser = Agent::new(&url);
    for _ in 0..7 {
        guesser.sign_in("school-it", "wrong");
    }
    let late = guesser.sign_in("school-it", &it_pw);
    assert_eq!(late.status, 403, "{}", late.body);
    assert!(
        late.body.contains("too many failed sign-ins"),
        "{}",
        late.body
    );

    // No answer holds a secret: the console's session tokens are in
    // cookies only, never in a page.
    for agent in [&it, &admin, &anon, &guesser] {
        for body in &agent.seen {
            assert!(!body.contains("easel_pat_"), "an API token in a page");
        }
    }
    drop(served);

    // Under https (a public https URL, as behind a TLS proxy), the session
    // cookie is Secure.
    let tls = serve_with(&home, &["--public-url", "https://easel.district.example"]);
    let mut a = Agent::new(&tls.url);
    let page = a.get("/console/sign-in");
    assert!(
        page.header("set-cookie").contains("; Secure"),
        "{}",
        page.header("set-cookie")
    );
    assert!(
        page.header("set-cookie")
            .starts_with("__Host-easel_signin=")
    );
    let signed = a.sign_in("ana", &ana_pw);
    let cookie = signed.header("set-cookie");
    assert!(cookie.starts_with("__Host-easel_session="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    // A plain-named cookie (one a sibling domain could plant) is not read.
    let planted = a.jar.remove("__Host-easel_session").unwrap();
    a.jar.insert("easel_session".into(), planted.clone());
    assert_eq!(a.get("/console").status, 303);
    a.jar.remove("easel_session");
    a.jar.insert("__Host-easel_session".into(), planted);
    assert_eq!(a.get("/console").status, 200);
    drop(tls);

    // A restart ends every console session (their idleness is this
    // process's to know): the old cookie opens nothing, and the token is
    // revoked, so the API refuses it as revoked.
    let tls = serve_with(&home, &["--public-url", "https://easel.district.example"]);
    let mut again = Agent::new(&tls.url);
    again.jar = a.jar.clone();
    assert_eq!(again.get("/console").status, 303);
    let token = a.jar["__Host-easel_session"].clone();
    let api = again.send(
        again
            .http
            .get(format!("{}/api/v1/me", tls.url))
            .header("authorization", format!("Bearer {token}")),
    );
    assert!(api.body.contains("revoked"), "{}", api.body);
}
