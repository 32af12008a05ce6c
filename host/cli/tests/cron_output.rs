//! Without a terminal (cron, CI), a many-school run says how each run went
//! as it ends, on standard error, instead of nothing until the end.

#![allow(clippy::unwrap_used)]

mod common;

use common::easel;

#[test]
fn each_schools_run_is_reported_as_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (wasm, manifest) = common::bundled_files(dir.path(), &easel_bundled::COURSE_REPORT);
    let (wasm, manifest) = (wasm.as_str(), manifest.as_str());
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
    );
    easel(
        &home,
        &[
            "plugin",
            "approve",
            "course-report",
            "--all-schools",
            "--by",
            "ana",
        ],
    );
    let out = easel(&home, &["run", "course-report", "--all-schools"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.starts_with(&format!("[{}/4] ", i + 1)), "{l}");
        assert!(l.contains("succeeded in"), "{l}");
    }
}

#[test]
fn run_json_and_runs_show_json_use_the_same_fields() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (wasm, manifest) = common::bundled_files(dir.path(), &easel_bundled::COURSE_REPORT);
    let (wasm, manifest) = (wasm.as_str(), manifest.as_str());
    easel(
        &home,
        &[
            "plugin",
            "submit",
            wasm,
            "--manifest",
            manifest,
            "--by",
            "it",
        ],
    );
    easel(
        &home,
        &[
            "plugin",
            "approve",
            "course-report",
            "--school",
            "2",
            "--by",
            "ana",
        ],
    );
    let out = easel(&home, &["run", "course-report", "--school", "2", "--json"]);
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = run["id"].as_str().unwrap().to_owned();
    let out = easel(&home, &["runs", "show", &id, "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "partial")
            .cloned()
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&run), keys(&shown));
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["partial"], false);
    assert_eq!(run["calls"], shown["calls"]);
}

#[test]
fn runs_can_be_filtered_by_plugin_school_status_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (wasm, manifest) = common::bundled_files(dir.path(), &easel_bundled::COURSE_REPORT);
    let (wasm, manifest) = (wasm.as_str(), manifest.as_str());
    easel(
        &home,
        &[
            "plugin",
            "submit",
            wasm,
            "--manifest",
            manifest,
            "--by",
            "it",
        ],
    );
    easel(
        &home,
        &[
            "plugin",
            "approve",
            "course-report",
            "--school",
            "2,4",
            "--by",
            "ana",
        ],
    );
    easel(&home, &["run", "course-report", "--school", "2"]);
    easel(&home, &["run", "course-report", "--school", "4"]);
    let ids = |args: &[&str]| -> Vec<u64> {
        let mut all = vec!["runs", "--json"];
        all.extend_from_slice(args);
        let v: serde_json::Value = serde_json::from_slice(&easel(&home, &all).stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["school"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids(&[]).len(), 2);
    assert_eq!(ids(&["--school", "4"]), vec![4]);
    assert_eq!(
        ids(&["--plugin", "course-report", "--status", "succeeded"]).len(),
        2
    );
    assert!(ids(&["--status", "failed"]).is_empty());
    assert!(ids(&["--plugin", "nope"]).is_empty());
    assert!(ids(&["--since", "2999-01-01"]).is_empty());
    assert_eq!(ids(&["--since", "2000-01-01"]).len(), 2);
}

#[test]
fn a_batchs_reports_merge_into_one_csv_with_a_school_column() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (wasm, manifest) = common::bundled_files(dir.path(), &easel_bundled::COURSE_REPORT);
    let (wasm, manifest) = (wasm.as_str(), manifest.as_str());
    easel(
        &home,
        &[
            "plugin",
            "submit",
            wasm,
            "--manifest",
            manifest,
            "--by",
            "it",
        ],
    );
    easel(
        &home,
        &[
            "plugin",
            "approve",
            "course-report",
            "--all-schools",
            "--by",
            "ana",
        ],
    );
    let out = easel(&home, &["run", "course-report", "--all-schools", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let batch = v["batch"].as_str().unwrap().to_owned();
    assert_eq!(batch.len(), 16);
    let runs: serde_json::Value =
        serde_json::from_slice(&easel(&home, &["runs", "--batch", &batch, "--json"]).stdout)
            .unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 4);
    // Every run's CSV, each row with its school in front.
    let mut expected = Vec::new();
    let mut header = String::new();
    for r in runs {
        let text = std::fs::read_to_string(r["outputs"][0].as_str().unwrap()).unwrap();
        let mut lines = text.lines();
        header = lines.next().unwrap().to_owned();
        expected.extend(lines.map(|l| format!("{},{l}", r["school"])));
    }
    let merged = dir.path().join("all.csv");
    let out = easel(
        &home,
        &[
            "runs",
            "export",
            "--batch",
            &batch,
            "--merge",
            merged.to_str().unwrap(),
            "--json",
        ],
    );
    let said: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            said["batch"].as_str(),
            said["report"].as_str(),
            said["runs_merged"].as_u64(),
            said["rows"].as_u64(),
            said["left_out"].as_array().map(Vec::len),
        ),
        (
            Some(batch.as_str()),
            Some("courses.csv"),
            Some(4),
            Some(expected.len() as u64),
            Some(0)
        ),
        "{said}"
    );
    // One run's report, written to a file, says what it wrote.
    let one = dir.path().join("one.csv");
    let run_id = runs[0]["id"].as_str().unwrap();
    let out = easel(
        &home,
        &[
            "runs",
            "report",
            run_id,
            "courses.csv",
            "-o",
            one.to_str().unwrap(),
            "--json",
        ],
    );
    let said: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(said["run"].as_str(), Some(run_id), "{said}");
    assert_eq!(
        said["bytes"].as_u64(),
        Some(std::fs::metadata(&one).unwrap().len())
    );
    let text = std::fs::read_to_string(&merged).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), format!("school,{header}"));
    let mut got: Vec<String> = lines.map(str::to_owned).collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn log_lines_to_a_file_or_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    // -vv logs at debug level: there are lines to look at.
    let out = common::command(&home, &["-vv", "schools"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DEBUG"), "some log lines were written: {err}");
    assert!(
        !err.contains('\u{1b}'),
        "no ANSI escape codes when standard error is not a terminal: {err}"
    );
}
