//! `easel plugin build` on an author's machine: a Python plugin copied
//! out of this repository builds with the SDK the binary carries, checks,
//! submits and runs; a folder that is no plugin says what it lacks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::text;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn a_python_plugin_outside_the_repository_builds_checks_submits_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let src = dir.path().join("my-plugin");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    copy_dir(&repo.join("plugins/python/unstaffed-courses"), &src);
    // The venv and components are cached across test runs, under target/.
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-build-cache");
    let build = |args: &[&str]| {
        common::command(&home, args)
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .unwrap()
    };
    let out = build(&["plugin", "build", src.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let built: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(built["lang"], "python");
    let wasm = built["component"].as_str().unwrap().to_owned();
    assert!(Path::new(&wasm).is_file());
    let manifest = src.join("easel.toml");
    let manifest = manifest.to_str().unwrap();
    let out = common::easel(&home, &["plugin", "check", manifest, &wasm]);
    assert!(text(&out).contains("unstaffed-courses"), "{}", text(&out));
    common::easel(
        &home,
        &[
            "plugin",
            "submit",
            &wasm,
            "--manifest",
            manifest,
            "--by",
            "school-it",
        ],
    );
    common::easel(
        &home,
        &["plugin", "approve", "unstaffed-courses", "--school", "2"],
    );
    let out = common::easel(
        &home,
        &["run", "unstaffed-courses", "--school", "2", "--dry-run"],
    );
    assert!(
        text(&out).contains("unstaffed_courses.csv"),
        "{}",
        text(&out)
    );

    // Not a plugin folder: refused, saying what a plugin folder holds.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = build(&["plugin", "build", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("neither Cargo.toml"), "{}", text(&out));
}
