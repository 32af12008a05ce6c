//! A grant for the root account reaches every school: approving one needs
//! `--district-wide`, said in so many words.

#![allow(clippy::unwrap_used)]

mod common;

#[test]
fn approving_the_root_account_needs_district_wide() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let files = tempfile::tempdir().unwrap();
    let (wasm, manifest) = common::bundled_files(files.path(), &easel_bundled::COURSE_REPORT);
    common::easel(
        home,
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
    let out = common::command(
        home,
        &["plugin", "approve", "course-report", "--school", "1"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is the root account") && err.contains("--district-wide"),
        "{err}"
    );
    let list =
        String::from_utf8(common::easel(home, &["plugin", "list", "--json"]).stdout).unwrap();
    assert!(list.contains("pending"), "nothing was approved: {list}");
    let ok = common::easel(
        home,
        &[
            "plugin",
            "approve",
            "course-report",
            "--school",
            "1",
            "--district-wide",
        ],
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("for school 1"));
    // A school needs no confirmation.
    common::easel(
        home,
        &["plugin", "approve", "course-report", "--school", "2"],
    );
}
