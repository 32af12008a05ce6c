//! Sign in with Canvas end to end: `easel serve` on loopback, the
//! simulator as the district's Canvas, and `easel login --canvas` as a
//! separate process whose browser the test plays (following each redirect
//! by hand). A sub-account admin becomes a contributor for their school, a
//! root-account admin a district admin once allowed; they submit, approve,
//! run and download as the password flow does. What reached Canvas is read
//! from the simulator's recording: the person's Canvas token reads who
//! they are, is deleted, and appears nowhere afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{serve, text};

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use easel_sim::{Role, SimConfig, Simulator};

/// `easel ARGS` on another machine: its own config directory, no data.
fn client(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(args)
        .env("XDG_CONFIG_HOME", config)
        .env("EASEL_HOME", config.join("no-data-here"))
        .env_remove("EASEL_SERVER")
        .env_remove("EASEL_API_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The browser: GET `url` without following redirects; (status, Location).
fn visit(rt: &tokio::runtime::Runtime, url: &str) -> (u16, String) {
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = http.get(url).send().await.unwrap();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        (status, if location.is_empty() { body } else { location })
    })
}

/// The browser posts the confirmation form; (status, Location or body).
fn post_form(rt: &tokio::runtime::Runtime, url: &str, handoff: &str) -> (u16, String) {
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = http
            .post(url)
            .form(&[("handoff", handoff)])
            .send()
            .await
            .unwrap();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        (status, if location.is_empty() { body } else { location })
    })
}

/// `easel login --server URL --canvas` on the machine `config`, with the
/// test as its browser, signing in at Canvas as `user`: the login's
/// output, and the last redirect (to the command line's port).
fn sign_in_with_canvas(
    rt: &tokio::runtime::Runtime,
    config: &Path,
    server: &str,
    sim_url: &str,
    user: u64,
) -> (Output, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(["login", "--server", server, "--canvas"])
        .env("XDG_CONFIG_HOME", config)
        .env("EASEL_HOME", config.join("no-data-here"))
        .env_remove("EASEL_SERVER")
        .env_remove("EASEL_API_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut printed = String::new();
    let start = loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "{printed}");
        printed.push_str(&line);
        if line.trim().starts_with("http") {
            break line.trim().to_owned();
        }
    };
    assert!(
        start.starts_with(&format!("{server}/auth/canvas?")),
        "{start}"
    );
    // easel sends the browser to Canvas's authorization page.
    let (status, to_canvas) = visit(rt, &start);
    assert_eq!(status, 302, "{to_canvas}");
    assert!(
        to_canvas.starts_with(&format!("{sim_url}/login/oauth2/auth?")),
        "{to_canvas}"
    );
    // The person signs in at Canvas; Canvas sends them back to easel.
    let (status, to_easel) = visit(rt, &format!("{to_canvas}&sim_user={user}"));
    assert_eq!(status, 302, "{to_easel}");
    assert!(
        to_easel.starts_with(&format!("{server}/auth/canvas/callback?")),
        "{to_easel}"
    );
    // easel asks them to confirm with the code the command line shows,
    // then sends them on to the command line's loopback port, only there.
    // (A refusal goes straight back to the command line.)
    let (status, answer) = visit(rt, &to_easel);
    let to_cli = if status == 200 {
        let code = printed
            .split("confirm the code ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap()
            .to_owned();
        assert!(answer.contains(&format!("<b>{code}</b>")), "{answer}");
        let handoff = answer
            .split("name=\"handoff\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_owned();
        // The callback's state is spent: replayed, it signs no one in.
        let (again, page) = visit(rt, &to_easel);
        assert_eq!(again, 403, "{page}");
        let (status, to_cli) = post_form(rt, &format!("{server}/auth/canvas/confirm"), &handoff);
        assert_eq!(status, 302, "{to_cli}");
        to_cli
    } else {
        assert_eq!(status, 302, "{answer}");
        answer
    };
    assert!(to_cli.starts_with("http://127.0.0.1:"), "{to_cli}");
    let (status, page) = visit(rt, &to_cli);
    assert_eq!(status, 200, "{page}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let mut out = child.wait_with_output().unwrap();
    out.stderr = format!("{printed}{rest}").into_bytes();
    (out, to_cli)
}

#[test]
fn canvas_admins_sign_in_with_canvas_and_walk_submit_approve_run_download() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            record_requests: true,
            ..SimConfig::default()
        }))
        .unwrap();
    let user_of = |role: Role| {
        sim.role_tokens()
            .iter()
            .find(|(r, _, _)| *r == role)
            .map(|(_, u, _)| *u)
            .unwrap()
    };
    let (root_admin, school_admin, teacher) = (
        user_of(Role::RootAdmin),
        user_of(Role::SubAccountAdmin),
        user_of(Role::Teacher),
    );
    let school = sim.with_data(|d| d.schools()[0].id);

    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("server");
    common::easel(&home, &["instance", "add", "prod", "--url", sim.url()]);
    let mut add = common::command(&home, &["--instance", "prod", "token", "add", "admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n", sim.admin_token()).as_bytes())
        .unwrap();
    assert!(add.wait_with_output().unwrap().status.success());
    let served = serve(&home);

    // Not on yet: the sign-in says who turns it on.
    let (status, body) = visit(
        &rt,
        &format!(
            "{}/auth/canvas?port=40000&challenge={}",
            served.url,
            "A".repeat(43)
        ),
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("easel instance sign-in"), "{body}");

    // The district registers a developer key whose redirect URI is the
    // server's callback, and turns Sign in with Canvas on for prod.
    let (client_id, secret) =
        sim.add_developer_key_for(&format!("{}/auth/canvas/callback", served.url));
    let mut on = common::command(
        &home,
        &[
            "instance",
            "sign-in",
            "prod",
            "--client-id",
            &client_id,
            "--root-admins-are-district-admins",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    on.stdin
        .take()
        .unwrap()
        .write_all(format!("{secret}\n").as_bytes())
        .unwrap();
    let out = on.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));

    // The school's admin signs in: a contributor for that school.
    let (it, admin, teach) = (
        dir.path().join("it"),
        dir.path().join("admin"),
        dir.path().join("teacher"),
    );
    sim.clear_requests();
    let (out, to_cli) = sign_in_with_canvas(&rt, &it, &served.url, sim.url(), school_admin);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("contributor({school})")),
        "{}",
        text(&out)
    );
    // What reached Canvas: the code exchange, who the user is, what they
    // administer, and the token's deletion; the token is used for nothing
    // else.
    let seen = sim.requests();
    let calls: Vec<(String, String)> = seen
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET", "/login/oauth2/auth"),
            ("POST", "/login/oauth2/token"),
            ("GET", "/api/v1/users/self"),
            ("GET", "/api/v1/accounts"),
            ("DELETE", "/login/oauth2/token"),
        ]
        .map(|(m, p)| (m.to_owned(), p.to_owned())),
    );
    assert!(seen[1].body.contains("grant_type=authorization_code"));
    let bearer = |r: &easel_sim::RecordedRequest| {
        r.headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.trim_start_matches("Bearer ").to_owned())
            .unwrap()
    };
    let canvas_token = bearer(&seen[2]);
    assert_eq!(bearer(&seen[4]), canvas_token);
    // The one-time code caught on its way is worthless without the
    // command line's verifier (and spent).
    let code = url::Url::parse(&to_cli)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let redeem = |code: &str| {
        rt.block_on(async {
            let r = reqwest::Client::new()
                .post(format!("{}/api/v1/sessions/canvas", served.url))
                .json(&serde_json::json!({"code": code, "verifier": "guessed"}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let (status, body) = redeem(&code);
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("easel_pat_"), "{body}");

    // The root-account admin signs in as a district admin.
    let (out, _) = sign_in_with_canvas(&rt, &admin, &served.url, sim.url(), root_admin);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("district-admin"), "{}", text(&out));
    let admin_out = text(&out);

    // A teacher administers nothing: refused, and audited.
    let (out, _) = sign_in_with_canvas(&rt, &teach, &served.url, sim.url(), teacher);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("administers none of this district's schools"),
        "{}",
        text(&out)
    );
    assert!(!teach.join("easel/credentials.json").exists());

    // The same flow as with passwords: submit, approve, dry-run, download.
    let files = tempfile::tempdir().unwrap();
    let (wasm, manifest) = common::bundled_files(files.path(), &easel_bundled::COURSE_REPORT);
    let out = client(&it, &["plugin", "submit", &wasm, "--manifest", &manifest]);
    assert!(out.status.success(), "{}", text(&out));
    let out = client(
        &it,
        &[
            "plugin",
            "approve",
            "course-report",
            "--school",
            &school.to_string(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = client(
        &admin,
        &[
            "plugin",
            "approve",
            "course-report",
            "--school",
            &school.to_string(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = client(
        &it,
        &[
            "run",
            "course-report",
            "--school",
            &school.to_string(),
            "--dry-run",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
    let run_id = run["id"].as_str().unwrap().to_owned();
    let csv = files.path().join("courses.csv");
    let out = client(
        &it,
        &[
            "runs",
            "report",
            &run_id,
            "courses.csv",
            "-o",
            csv.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        std::fs::read_to_string(&csv)
            .unwrap()
            .starts_with("course_id,")
    );

    // The audit log says who signed in how, and who was refused.
    let out = common::easel(&home, &["audit", "export", "--format", "jsonl"]);
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(log.contains("signed-in-with-canvas"), "{log}");
    assert!(
        log.contains(&format!(
            "canvas user {teacher} on prod administers none of this district's schools"
        )),
        "{log}"
    );
    assert!(log.contains("(canvas)"), "{log}");

    // The person's Canvas token was used for the sign-in only: Canvas saw
    // it on no later request, and it is in no file, log line or answer.
    let later = sim.requests();
    for r in &later[5..] {
        assert!(
            !r.headers.iter().any(|(_, v)| v.contains(&canvas_token)),
            "{} {}",
            r.method,
            r.path
        );
    }
    let mut everything = served.log.lock().unwrap().clone();
    everything.push_str(&log);
    for d in [&home, &it, &admin] {
        for f in walk(d) {
            everything.push_str(&String::from_utf8_lossy(&std::fs::read(&f).unwrap()));
        }
    }
    assert!(!everything.contains(&canvas_token));
    assert!(
        !everything.contains(&secret),
        "the developer key's secret is sealed"
    );

    // Signing out revokes the token at the server, not only the file.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(it.join("easel/credentials.json")).unwrap())
            .unwrap();
    let token = saved["token"].as_str().unwrap().to_owned();
    let out = client(&it, &["logout"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("revoked the token"), "{}", text(&out));
    let status = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/api/v1/me", served.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 403);

    // A confirmation nobody was shown is refused.
    let (status, page) = post_form(
        &rt,
        &format!("{}/auth/canvas/confirm", served.url),
        "made-up",
    );
    assert_eq!(status, 403, "{page}");

    // Canvas-made users get no password and no long-lived token: their
    // roles are Canvas's to give.
    let admin_name = admin_out
        .split("with Canvas as ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned();
    for args in [
        vec!["user", "token", admin_name.as_str()],
        vec!["user", "password", admin_name.as_str()],
    ] {
        let mut c = common::command(&home, &args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(b"a-long-enough-password\na-long-enough-password\n")
            .unwrap();
        let out = c.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("signs in with Canvas"),
            "{}",
            text(&out)
        );
    }
    // Turning sign-in off takes their roles and tokens at once.
    let admin_token: String = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(admin.join("easel/credentials.json")).unwrap(),
    )
    .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = common::easel(&home, &["instance", "sign-in", "prod", "--off"]);
    assert!(out.status.success(), "{}", text(&out));
    let status = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/api/v1/me", served.url))
            .bearer_auth(&admin_token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 403);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `easel instance sign-in ARGS` on `home` with `secret` on standard input.
fn sign_in_setting(home: &Path, args: &[&str], secret: &str) -> Output {
    let mut c = common::command(home, &[&["instance", "sign-in"], args].concat())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(format!("{secret}\n").as_bytes())
        .unwrap();
    c.wait_with_output().unwrap()
}

#[test]
fn sign_in_is_on_for_one_canvas_only_never_a_copy_and_stays_until_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("server");
    for args in [
        vec![
            "instance",
            "add",
            "prod",
            "--url",
            "https://district.instructure.com",
        ],
        vec![
            "instance",
            "add",
            "beta",
            "--url",
            "https://district.beta.instructure.com",
            "--copy-of",
            "prod",
        ],
        vec![
            "instance",
            "add",
            "other",
            "--url",
            "https://other.instructure.com",
        ],
    ] {
        assert!(common::easel(&home, &args).status.success());
    }
    let key = ["--client-id", "170000000000001", "--root-account", "1"];
    // A copy has its original's account ids.
    let out = sign_in_setting(&home, &[&["beta"], &key[..]].concat(), "s3cret-value");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("copy of prod"), "{}", text(&out));
    let out = sign_in_setting(&home, &[&["prod"], &key[..]].concat(), "s3cret-value");
    assert!(out.status.success(), "{}", text(&out));
    // One Canvas maps to the account ids roles name.
    let out = sign_in_setting(&home, &[&["other"], &key[..]].concat(), "s3cret-value");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("on for prod already"), "{}", text(&out));
    // Removing the instance would leave its key behind: refused.
    let out = common::command(&home, &["instance", "remove", "prod"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--off"), "{}", text(&out));
    assert!(
        common::easel(&home, &["instance", "sign-in", "prod", "--off"])
            .status
            .success()
    );
    // (A copy of it is removed first, and says so.)
    let out = common::command(&home, &["instance", "remove", "prod"])
        .output()
        .unwrap();
    assert!(
        text(&out).contains("beta is declared a copy of prod"),
        "{}",
        text(&out)
    );
    common::easel(&home, &["instance", "remove", "beta"]);
    common::easel(&home, &["instance", "remove", "prod"]);
    // The secret is sealed, never stored as given.
    let db = std::fs::read(home.join("easel.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains("s3cret-value"));
}
