//! Manifest parsing is strict and parameters are checked against it.

#![allow(clippy::expect_used, clippy::panic)] // test code fails loudly

use easel_policy::{Capability, Manifest, ManifestError};

const GOOD: &str = r#"
id = "course-report"
version = "0.1.0"
author = "District IT"
description = "Courses with counts"

[capabilities]
read = true
max_calls = 500

[params.state]
type = "string"
default = "available"

[params.limit]
type = "integer"
required = true
description = "how many"
"#;

#[test]
fn a_good_manifest_parses_with_defaults() {
    let m = Manifest::parse(GOOD).expect("valid manifest");
    assert_eq!(m.id, "course-report");
    assert_eq!(m.capabilities, vec![Capability::Read]);
    assert_eq!(m.max_calls, 500);
    assert!(!m.requests_write());
}

#[test]
fn an_unknown_key_is_an_error_naming_the_line() {
    let text = GOOD.replace("max_calls = 500", "max_calls = 500\nnetwork = true");
    let err = Manifest::parse(&text).expect_err("unknown key");
    let msg = err.to_string();
    assert!(msg.contains("network"), "{msg}");
    assert!(msg.contains("line 10"), "{msg}");
}

#[test]
fn a_bad_id_is_refused() {
    let text = GOOD.replace("course-report", "Course Report");
    assert!(matches!(
        Manifest::parse(&text),
        Err(ManifestError::Invalid(_))
    ));
}

#[test]
fn a_default_of_the_wrong_type_is_refused() {
    let text = GOOD.replace("default = \"available\"", "default = 3");
    assert!(matches!(
        Manifest::parse(&text),
        Err(ManifestError::Invalid(_))
    ));
}

#[test]
fn params_get_defaults_and_are_type_checked() {
    let m = Manifest::parse(GOOD).expect("valid manifest");
    let p = m
        .resolve_params(&[("limit".into(), "5".into())])
        .expect("valid params");
    assert_eq!(
        p,
        vec![
            ("limit".into(), "5".into()),
            ("state".into(), "available".into())
        ]
    );
    let e = m
        .resolve_params(&[("limit".into(), "five".into())])
        .expect_err("not an integer");
    assert!(e.to_string().contains("integer"));
    let e = m.resolve_params(&[]).expect_err("missing required");
    assert!(e.to_string().contains("--param limit="));
    let e = m
        .resolve_params(&[("limit".into(), "1".into()), ("colour".into(), "x".into())])
        .expect_err("unknown");
    assert!(e.to_string().contains("accepts: limit, state"), "{e}");
}

#[test]
fn memory_defaults_to_one_that_fits_cpython_and_may_be_sized() {
    let m = Manifest::parse(GOOD).expect("valid manifest");
    assert_eq!(m.memory_bytes, easel_policy::DEFAULT_MEMORY_BYTES);
    assert_eq!(m.memory_bytes, 64 << 20);
    for (given, bytes) in [
        ("\"128MiB\"", 128u64 << 20),
        ("\"16 MiB\"", 16 << 20),
        ("\"512MiB\"", 512 << 20),
    ] {
        let text = GOOD.replace(
            "max_calls = 500",
            &format!("max_calls = 500\nmemory = {given}"),
        );
        let m = Manifest::parse(&text).expect(given);
        assert_eq!(m.memory_bytes, bytes, "{given}");
    }
}

#[test]
fn memory_outside_the_hosts_range_or_in_unknown_units_is_refused() {
    for given in [
        "\"1GiB\"",
        "\"8MiB\"",
        "\"64MB\"",
        "\"64\"",
        "\"MiB\"",
        "\"-1MiB\"",
        "64",
        "\"99999999999999999999GiB\"",
    ] {
        let text = GOOD.replace(
            "max_calls = 500",
            &format!("max_calls = 500\nmemory = {given}"),
        );
        let err = Manifest::parse(&text).expect_err(given);
        assert!(err.to_string().contains("memory"), "{given}: {err}");
    }
}
