//! What an admin reads before approving: `easel plugin check` validates a
//! manifest against the component's imports, and `easel plugin inspect` of
//! a pending version lists what changed against the approved one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code fails loudly

mod common;

use std::path::Path;

fn easel(home: &Path, args: &[&str]) -> (i32, String) {
    let out = common::command(home, args)
        .env("EASEL_LOG", "off")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_owned()
}

/// The same plugin id over both bundled components: v1 reads, v2 writes.
fn manifests(dir: &Path) -> (String, String) {
    let v1 = easel_bundled::COURSE_REPORT
        .manifest
        .replace("id = \"course-report\"", "id = \"p\"");
    let v2 = easel_bundled::COURSE_PUBLISHER
        .manifest
        .replace("id = \"course-publisher\"", "id = \"p\"")
        .replace("version = \"0.1.0\"", "version = \"0.2.0\"")
        .replace(
            "max_calls = 1000\n",
            "max_calls = 1000\nscopes = [\"url:GET|/api/v1/accounts/:account_id/courses\", \"url:PUT|/api/v1/courses/:id\"]\n",
        );
    (
        write(dir, "v1.toml", v1.as_bytes()),
        write(dir, "v2.toml", v2.as_bytes()),
    )
}

#[test]
fn check_validates_the_manifest_and_matches_it_to_the_imports() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (v1, v2) = manifests(dir.path());
    let report = write(dir.path(), "r.wasm", easel_bundled::COURSE_REPORT.wasm);
    let publisher = write(dir.path(), "w.wasm", easel_bundled::COURSE_PUBLISHER.wasm);

    let (code, out) = easel(&home, &["plugin", "check", &v2, &publisher]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("component matches the manifest"), "{out}");
    // A component that imports write under a read-only manifest.
    let (code, out) = easel(&home, &["plugin", "check", &v1, &publisher]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("imports easel:canvas/write"), "{out}");
    // A manifest that requests more than the component uses is allowed,
    // with a note.
    let (code, out) = easel(&home, &["plugin", "check", &v2, &report]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("never uses"), "{out}");
    // Unknown keys name the line.
    let bad = write(
        dir.path(),
        "bad.toml",
        std::fs::read_to_string(&v1)
            .unwrap()
            .replace("max_calls", "max_call")
            .as_bytes(),
    );
    let (code, out) = easel(&home, &["plugin", "check", &bad]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("line") && out.contains("max_call"), "{out}");
    // A scope that is not Canvas's grammar.
    let bad = write(
        dir.path(),
        "bad2.toml",
        std::fs::read_to_string(&v2)
            .unwrap()
            .replace("url:PUT|", "PUT ")
            .as_bytes(),
    );
    let (code, out) = easel(&home, &["plugin", "check", &bad]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("url:GET|/api/v1/courses/:course_id"), "{out}");
}

#[test]
fn inspect_of_a_pending_version_lists_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (v1, v2) = manifests(dir.path());
    let report = write(dir.path(), "r.wasm", easel_bundled::COURSE_REPORT.wasm);
    let publisher = write(dir.path(), "w.wasm", easel_bundled::COURSE_PUBLISHER.wasm);
    let submit = |wasm: &str, manifest: &str| {
        easel(
            &home,
            &[
                "plugin",
                "submit",
                wasm,
                "--manifest",
                manifest,
                "--by",
                "school-it",
            ],
        )
    };
    assert_eq!(submit(&report, &v1).0, 0);
    let (code, out) = easel(
        &home,
        &["plugin", "approve", "p", "--school", "2", "--by", "admin"],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(submit(&publisher, &v2).0, 0);
    let (code, out) = easel(&home, &["plugin", "inspect", "p"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("changes since the approved version"), "{out}");
    for line in [
        "+ import easel:canvas/write@0.1.0",
        "+ scope url:PUT|/api/v1/courses/:id",
        "+ requests write access",
        "+ param action",
        "- param sections",
        "~ max calls 5000 -> 1000",
        "~ version 0.1.0 -> 0.2.0",
        "~ size ",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    // The approved version still runs until the new one is approved.
    let (code, out) = easel(&home, &["run", "p", "--school", "2", "--json"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("courses.csv"),
        "the approved (report) version ran: {out}"
    );
}

#[test]
fn a_changed_manifest_alone_is_a_new_pending_version() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (v1, _) = manifests(dir.path());
    let report = write(dir.path(), "r.wasm", easel_bundled::COURSE_REPORT.wasm);
    let submit = |manifest: &str| {
        easel(
            &home,
            &[
                "plugin",
                "submit",
                &report,
                "--manifest",
                manifest,
                "--by",
                "school-it",
            ],
        )
    };
    assert_eq!(submit(&v1).0, 0);
    assert_eq!(
        easel(
            &home,
            &["plugin", "approve", "p", "--school", "2", "--by", "admin"]
        )
        .0,
        0
    );
    // Same component, one more call requested: one changed byte.
    let wider = write(
        dir.path(),
        "v1b.toml",
        std::fs::read_to_string(&v1)
            .unwrap()
            .replace("max_calls = 5000", "max_calls = 9000")
            .as_bytes(),
    );
    assert_eq!(submit(&wider).0, 0);
    let (code, out) = easel(&home, &["plugin", "list"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.matches("pending").count(),
        1,
        "the new manifest is pending:\n{out}"
    );
    let (code, out) = easel(&home, &["plugin", "inspect", "p"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("~ max calls 5000 -> 9000"), "{out}");
    // The approver names the manifest they reviewed: the same bytes now
    // have two, and another could arrive between inspect and approve.
    let reviewed: String = out
        .split("manifest  sha256:")
        .nth(1)
        .unwrap()
        .chars()
        .take(12)
        .collect();
    // The approved manifest keeps running until the new one is approved.
    let (code, out) = easel(&home, &["run", "p", "--school", "2", "--json"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = easel(
        &home,
        &["plugin", "approve", "p", "--school", "2", "--by", "admin"],
    );
    assert_eq!(code, 2, "ambiguous without the manifest: {out}");
    assert!(out.contains("--manifest-digest"), "{out}");
    let (code, out) = easel(
        &home,
        &[
            "plugin",
            "approve",
            "p",
            "--school",
            "2",
            "--manifest-digest",
            &reviewed,
            "--by",
            "admin",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = easel(&home, &["plugin", "list"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("pending").count(), 0, "{out}");
}
