//! Components that are not plugins, or that want more than easel provides,
//! are refused when added, with an error that says what to do.

use easel_app::{AppError, Kind};
use easel_tests::{programs, test_manifest};

easel_tests::matrix!();

fn add(path: &str, write: bool) -> Result<(), AppError> {
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    let bytes = std::fs::read(path).unwrap();
    easel_app::add(
        &home,
        &easel_tests::person("contributor"),
        &bytes,
        &test_manifest("t", write),
        path,
    )
    .map(|_| ())
}

fn input_error(r: Result<(), AppError>) -> String {
    match r {
        Err(e) if e.kind == Kind::Invalid => {
            // The command line exits 2 for it.
            assert_eq!(easel_cli::CliError::from(e.clone()).exit_code(), 2);
            e.to_string()
        }
        other => panic!("expected bad input, got {other:?}"),
    }
}

#[test]
fn a_plugin_importing_wasi_http_is_refused_naming_the_import() {
    let msg = input_error(add(programs::TEST_WANTS_HTTP, false));
    assert!(msg.contains("wasi:http/outgoing-handler"), "{msg}");
    assert!(msg.contains("easel does not provide"), "{msg}");
}

#[test]
fn a_wasi_command_is_refused_as_the_wrong_world() {
    let msg = input_error(add(programs::TEST_NOT_A_PLUGIN, false));
    assert!(msg.contains("wasi:cli/run"), "{msg}");
    assert!(msg.contains("easel:canvas/plugin"), "{msg}");
}

#[test]
fn a_file_that_is_not_a_component_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.wasm");
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    let msg = input_error(add(path.to_str().unwrap(), false));
    assert!(msg.contains("not a WebAssembly component"), "{msg}");
}

#[test]
fn a_component_that_writes_under_a_read_only_manifest_is_refused() {
    let msg = input_error(add(programs::TEST_PROBE, false));
    assert!(msg.contains("does not request write access"), "{msg}");
}

#[test]
fn the_read_only_report_plugin_does_not_import_the_write_interface() {
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    let runtime = home.runtime().unwrap();
    let report = runtime
        .load(easel_bundled::COURSE_REPORT.wasm, "course-report")
        .unwrap();
    assert!(!report.info.imports_write(), "{:?}", report.info.imports);
    let publisher = runtime
        .load(easel_bundled::COURSE_PUBLISHER.wasm, "course-publisher")
        .unwrap();
    assert!(
        publisher.info.imports_write(),
        "{:?}",
        publisher.info.imports
    );
}
