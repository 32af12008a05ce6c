//! The path from nothing to a plugin, outside this repository:
//! `easel plugin new` for each language, reading and writing, then `plugin
//! build` and `plugin test` against the simulator its scenario seeds; and
//! the clear errors a new author meets (a syntax error with its file and
//! line, a package not bundled, no `run`, PyPI unreachable).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::text;

/// The venv, Python components and compiled components, cached across
/// test runs under target/ (as `plugin build`'s own test does).
fn cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-build-cache")
}

/// `easel ARGS` as an author runs it: no data directory of theirs is used.
fn author(home: &Path, args: &[&str]) -> Output {
    common::command(home, args)
        .env("XDG_CACHE_HOME", cache())
        // Rust plugins share one target folder, so their dependencies
        // build once.
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-new-target"),
        )
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// CSV rows of a report in `plugin test --json`'s output.
fn report_rows(t: &serde_json::Value, name: &str) -> Vec<Vec<String>> {
    let report = t["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no report {name}: {t:#}"));
    report["text"]
        .as_str()
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

/// Scaffold, build and test one plugin; the test's JSON.
fn new_build_test(
    root: &Path,
    id: &str,
    lang: &str,
    writes: bool,
    extra: &[&str],
) -> serde_json::Value {
    let home = root.join("never-used-home");
    let dir = root.join(id);
    let mut args = vec![
        "plugin",
        "new",
        id,
        "--lang",
        lang,
        "--dir",
        dir.to_str().unwrap(),
        "--json",
    ];
    if writes {
        args.push("--writes");
    }
    let out = author(&home, &args);
    assert!(out.status.success(), "{}", text(&out));
    let made = json(&out);
    assert_eq!(made["lang"], lang);
    for f in ["easel.toml", "scenario.toml", "README.md"] {
        assert!(dir.join(f).is_file(), "{f} in {}", dir.display());
    }

    let out = author(&home, &["plugin", "build", dir.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{id}: {}", text(&out));
    let built = json(&out);
    assert!(Path::new(built["component"].as_str().unwrap()).is_file());

    let mut args = vec!["plugin", "test", dir.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = author(&home, &args);
    assert!(out.status.success(), "{id}: {}", text(&out));
    assert!(
        !home.exists(),
        "plugin new, build and test use no data directory"
    );
    json(&out)
}

fn check_reader(t: &serde_json::Value) {
    assert_eq!(t["status"], "succeeded", "{t:#}");
    assert_eq!(t["school_name"], "Lincoln High School");
    let courses = t["seeded_courses"].as_array().unwrap();
    assert_eq!(courses.len(), 3);
    let rows = report_rows(t, "courses.csv");
    // Algebra I (one teacher) and Biology (none); the unpublished Art
    // Studio is not listed.
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0][0], courses[0].to_string());
    assert_eq!(rows[0][1], "Algebra I");
    assert!(!rows[0][2].is_empty(), "{rows:?}");
    assert_eq!(rows[0][3], "24");
    assert_eq!((rows[1][1].as_str(), rows[1][2].as_str()), ("Biology", ""));
    assert!(
        t["log"].as_str().unwrap().contains("1 without a teacher"),
        "{t:#}"
    );
    let calls = t["calls"].as_array().unwrap();
    assert!(!calls.is_empty());
    assert!(
        calls
            .iter()
            .all(|c| c["method"] == "GET" && c["status"] == 200),
        "{calls:?}"
    );
    assert_eq!(t["denials"].as_array().unwrap().len(), 0);
}

fn check_writer_dry(t: &serde_json::Value) {
    assert_eq!(t["status"], "succeeded", "{t:#}");
    assert_eq!(t["dry_run"], true);
    let courses = t["seeded_courses"].as_array().unwrap();
    // The two unpublished SUMMER courses, and nothing else, are planned.
    let plan = t["plan"].as_array().unwrap();
    let paths: Vec<&str> = plan.iter().map(|s| s["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            format!("/api/v1/courses/{}", courses[0]),
            format!("/api/v1/courses/{}", courses[1])
        ]
    );
    assert!(plan.iter().all(|s| s["method"] == "PUT"));
    let calls = t["calls"].as_array().unwrap();
    assert!(
        calls.iter().all(|c| c["method"] == "GET"),
        "a dry run sends no write: {calls:?}"
    );
    let rows = report_rows(t, "changes.csv");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[0][2].starts_with("planned"), "{rows:?}");
}

#[test]
fn a_new_python_plugin_builds_and_tests_outside_the_repository() {
    let dir = tempfile::tempdir().unwrap();
    check_reader(&new_build_test(
        dir.path(),
        "lincoln-courses",
        "python",
        false,
        &[],
    ));
    let t = new_build_test(dir.path(), "summer-publisher", "python", true, &[]);
    check_writer_dry(&t);
    assert_eq!(t["params"][0], serde_json::json!(["prefix", "SUMMER"]));

    // --live sends the writes to the simulator: no plan, two PUTs answered.
    let home = dir.path().join("never-used-home");
    let plugin = dir.path().join("summer-publisher");
    let out = author(
        &home,
        &[
            "plugin",
            "test",
            plugin.to_str().unwrap(),
            "--live",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let t = json(&out);
    assert_eq!(t["dry_run"], false);
    assert_eq!(t["plan"].as_array().unwrap().len(), 0);
    let puts: Vec<&serde_json::Value> = t["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["method"] == "PUT")
        .collect();
    assert_eq!(puts.len(), 2, "{t:#}");
    assert!(puts.iter().all(|c| c["status"] == 200));
    let rows = report_rows(&t, "changes.csv");
    assert!(rows.iter().all(|r| r[2] == "now available"), "{rows:?}");

    // The text output names each part an author looks for.
    let out = author(&home, &["plugin", "test", plugin.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    for part in [
        "Canvas calls (",
        "Denied by easel (0)",
        "Plan (2 write(s)",
        "Report changes.csv",
        "next: `easel plugin submit",
    ] {
        assert!(shown.contains(part), "{part:?} in\n{shown}");
    }
}

#[test]
fn a_new_rust_plugin_builds_and_tests_outside_the_repository() {
    let dir = tempfile::tempdir().unwrap();
    let t = new_build_test(dir.path(), "rust-courses", "rust", false, &[]);
    check_reader(&t);
    // It built with the SDK copy written beside it, not this repository's.
    let cargo = std::fs::read_to_string(dir.path().join("rust-courses/Cargo.toml")).unwrap();
    assert!(
        cargo.contains("easel-sdk = { path = \"easel-sdk\" }"),
        "{cargo}"
    );
    assert!(
        dir.path()
            .join("rust-courses/easel-sdk/wit/world.wit")
            .is_file()
    );
    check_writer_dry(&new_build_test(
        dir.path(),
        "rust-publisher",
        "rust",
        true,
        &[],
    ));
}

#[test]
fn a_plugin_test_shows_a_call_outside_the_school_denied_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("never-used-home");
    let plugin = dir.path().join("strays");
    let out = author(
        &home,
        &["plugin", "new", "strays", "--dir", plugin.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    // The plugin also lists the root account's courses: an endpoint its
    // manifest lists, but outside its school.
    let app = std::fs::read_to_string(plugin.join("app.py")).unwrap();
    std::fs::write(
        plugin.join("app.py"),
        app.replace(
            "    out = easel.report.csv(",
            "    easel.get(\"/api/v1/accounts/1/courses\")\n    out = easel.report.csv(",
        ),
    )
    .unwrap();
    let out = author(
        &home,
        &["plugin", "test", plugin.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = json(&out);
    assert_eq!(t["status"], "failed");
    let denials = t["denials"].as_array().unwrap();
    assert_eq!(denials.len(), 1, "{t:#}");
    assert_eq!(denials[0]["path"], "/api/v1/accounts/1/courses");
    assert!(
        denials[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("school-boundary"),
        "{denials:?}"
    );
    assert!(
        t["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("denied"),
        "{t:#}"
    );
}

#[test]
fn bad_python_gets_an_error_that_says_where_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("never-used-home");
    let new = |id: &str| {
        let plugin = dir.path().join(id);
        let out = author(
            &home,
            &["plugin", "new", id, "--dir", plugin.to_str().unwrap()],
        );
        assert!(out.status.success(), "{}", text(&out));
        plugin
    };
    let edit = |plugin: &Path, from: &str, to: &str| {
        let app = std::fs::read_to_string(plugin.join("app.py")).unwrap();
        assert!(app.contains(from));
        std::fs::write(plugin.join("app.py"), app.replacen(from, to, 1)).unwrap();
    };
    let build_error = |plugin: &Path| {
        let out = author(&home, &["plugin", "build", plugin.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    // A syntax error: the file, the line and Python's message.
    let p = new("syntax");
    edit(
        &p,
        "def run(cx: easel.Context) -> None:",
        "def run(cx: easel.Context) -> None",
    );
    let line = std::fs::read_to_string(p.join("app.py"))
        .unwrap()
        .lines()
        .position(|l| l.starts_with("def run("))
        .unwrap()
        + 1;
    let e = build_error(&p);
    assert!(
        e.contains(&format!(
            "{}, line {line}: SyntaxError",
            p.join("app.py").display()
        )),
        "{e}"
    );
    assert!(e.contains("Fix the Python there"), "{e}");

    // A package it imports but does not bundle.
    let p = new("missing-dep");
    edit(&p, "import easel\n", "import easel\nimport canvasapi\n");
    let e = build_error(&p);
    assert!(e.contains("No module named 'canvasapi'"), "{e}");
    assert!(e.contains("requirements.txt"), "{e}");

    // A requirement that does not exist on the index.
    let p = new("bad-requirement");
    std::fs::write(
        p.join("requirements.txt"),
        "no-such-package-for-easel==0.0.1\n",
    )
    .unwrap();
    let e = build_error(&p);
    assert!(e.contains("no-such-package-for-easel"), "{e}");
    assert!(e.contains("requirements.txt"), "{e}");

    // No run(cx): the entry point easel calls is missing.
    let p = new("no-run");
    edit(&p, "def run(", "def main(");
    let e = build_error(&p);
    assert!(e.contains("defines no run(cx)"), "{e}");
}

#[test]
fn componentize_py_not_installable_says_what_the_first_build_needs() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("never-used-home");
    let plugin = dir.path().join("offline");
    let out = author(
        &home,
        &[
            "plugin",
            "new",
            "offline",
            "--dir",
            plugin.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    // An empty cache (no venv yet) and a package index that answers nothing.
    let out = common::command(&home, &["plugin", "build", plugin.to_str().unwrap()])
        .env("XDG_CACHE_HOME", dir.path().join("empty-cache"))
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
        .env("PIP_RETRIES", "0")
        .env("PIP_TIMEOUT", "2")
        .env("PIP_NO_CACHE_DIR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("cannot install componentize-py=="), "{e}");
    assert!(e.contains("PIP_INDEX_URL"), "{e}");
}

#[test]
fn plugin_new_refuses_what_it_cannot_make() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("never-used-home");
    let out = author(
        &home,
        &[
            "plugin",
            "new",
            "Bad Name",
            "--dir",
            dir.path().join("x").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not a plugin id"), "{}", text(&out));
    let out = author(&home, &["plugin", "new", "ok", "--sdk", "../sdk"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--sdk is for Rust plugins"),
        "{}",
        text(&out)
    );
    let taken = dir.path().join("taken");
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("keep.txt"), "mine").unwrap();
    let out = author(
        &home,
        &["plugin", "new", "taken", "--dir", taken.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not empty"), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(taken.join("keep.txt")).unwrap(),
        "mine"
    );
}
