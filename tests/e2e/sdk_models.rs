//! The guest SDK's Canvas models parse tolerantly: unknown fields ignored,
//! nulls and missing fields optional, 64-bit ids from numbers or strings,
//! but an object without an id is an error. Checked on hand-written objects
//! and on every matching object of canvasapi's recorded Canvas responses
//! (`tests/fixtures/canvasapi`), as sent and with Canvas's string ids.
//! (The SDK compiles for the host too; only its host calls need wasm, so
//! this runs as a plain host test.)

use std::collections::BTreeMap;

use easel_sdk::models::{
    Account, Assignment, Course, Enrollment, Section, SisImport, Submission, Term, User,
};
use easel_tests::fixtures;
use easel_tests::fixtures::objects::{ALL_KINDS, GENERIC_FILE, Kind, matches_template, pick};
use serde_json::Value;

#[test]
fn a_course_with_unknown_fields_nulls_and_sharded_ids_parses() {
    let c: Course = serde_json::from_str(
        r#"{"id":80000000001,"name":"Bio","account_id":"80000000002","enrollment_term_id":null,
            "new_field":{"x":1},"term":{"id":3,"name":"Spring"},"teachers":[{"id":5,"display_name":"T"}],"total_students":12}"#,
    )
    .unwrap();
    assert_eq!(c.id, 80_000_000_001);
    assert_eq!(c.account_id, Some(80_000_000_002));
    assert_eq!(c.enrollment_term_id, None);
    assert_eq!(c.term.unwrap().name, "Spring");
    assert_eq!(c.teachers.unwrap().len(), 1);
    assert_eq!(c.total_students, Some(12));
}

#[test]
fn every_model_parses_a_minimal_object() {
    let id = r#"{"id":1}"#;
    assert_eq!(serde_json::from_str::<Account>(id).unwrap().id, 1);
    assert_eq!(serde_json::from_str::<Term>(id).unwrap().id, 1);
    assert_eq!(serde_json::from_str::<Section>(id).unwrap().id, 1);
    assert_eq!(serde_json::from_str::<User>(id).unwrap().id, 1);
    assert_eq!(serde_json::from_str::<Enrollment>(id).unwrap().id, 1);
    assert_eq!(serde_json::from_str::<Assignment>(id).unwrap().id, 1);
    assert_eq!(serde_json::from_str::<Submission>(id).unwrap().id, 1);
    assert_eq!(serde_json::from_str::<SisImport>(id).unwrap().id, 1);
    let course = serde_json::from_str::<Course>(id).unwrap();
    assert_eq!(course.name, "");
    assert_eq!(
        course.total_students, None,
        "an absent count is None, not 0"
    );
    assert_eq!(course.teachers, None);
}

#[test]
fn an_object_without_an_id_is_an_error_for_every_model() {
    for kind in ALL_KINDS {
        for json in [
            r#"{}"#,
            r#"{"name":"Bio","course_id":3}"#,
            r#"{"id":null}"#,
            r#"{"id":""}"#,
        ] {
            let v: Value = serde_json::from_str(json).unwrap();
            assert!(
                parse(kind, &v).is_err(),
                "{kind:?} accepted {json} (it would be id 0)"
            );
        }
    }
}

#[test]
fn string_ids_parse_in_every_model_and_nested_object() {
    for kind in ALL_KINDS {
        let v = serde_json::json!({"id": "80000000001"});
        let parsed = parse(kind, &v).unwrap();
        assert_eq!(parsed.ids()[0], ("id", Some(80_000_000_001)), "{kind:?}");
    }
    let c: Course = serde_json::from_str(
        r#"{"id":"1","account_id":"2","root_account_id":"3","enrollment_term_id":"4",
            "term":{"id":"4","name":"Fall"},"teachers":[{"id":"5","display_name":"T"}]}"#,
    )
    .unwrap();
    assert_eq!(c.term.unwrap().id, 4);
    assert_eq!(c.teachers.unwrap()[0].id, 5);
    let e: Enrollment = serde_json::from_str(
        r#"{"id":"9","course_id":"2","course_section_id":"6","user_id":"7","user":{"id":"7"}}"#,
    )
    .unwrap();
    assert_eq!(
        (e.course_section_id, e.user_id, e.user.unwrap().id),
        (Some(6), Some(7), 7)
    );
    let s: SisImport =
        serde_json::from_str(r#"{"id":"2","account_id":"1","user":{"id":"8"}}"#).unwrap();
    assert_eq!((s.account_id, s.user.unwrap().id), (Some(1), 8));
}

#[test]
fn an_enrollment_carries_its_type_and_user() {
    let e: Enrollment = serde_json::from_str(
        r#"{"id":9,"course_id":2,"type":"StudentEnrollment","enrollment_state":"active",
            "user":{"id":7,"name":"Ava Kim","sis_user_id":null},"grades":{"current_score":91.5}}"#,
    )
    .unwrap();
    assert_eq!(e.kind.as_deref(), Some("StudentEnrollment"));
    assert_eq!(e.user.unwrap().name, "Ava Kim");
}

#[test]
fn a_non_numeric_id_is_an_error_not_a_zero() {
    assert!(serde_json::from_str::<Course>(r#"{"id":"abc"}"#).is_err());
}

// ---------------------------------------------------------------------------
// Every model against canvasapi's recorded responses (tests/fixtures/canvasapi)
// ---------------------------------------------------------------------------

/// A parsed model, for comparing.
#[derive(Debug, PartialEq)]
enum Parsed {
    Account(Account),
    Term(Term),
    Course(Course),
    Section(Section),
    User(User),
    Enrollment(Enrollment),
    Assignment(Assignment),
    Submission(Submission),
    SisImport(SisImport),
}

fn parse(kind: Kind, v: &Value) -> Result<Parsed, serde_json::Error> {
    let v = v.clone();
    Ok(match kind {
        Kind::Account => Parsed::Account(serde_json::from_value(v)?),
        Kind::Term => Parsed::Term(serde_json::from_value(v)?),
        Kind::Course => Parsed::Course(serde_json::from_value(v)?),
        Kind::Section => Parsed::Section(serde_json::from_value(v)?),
        Kind::User => Parsed::User(serde_json::from_value(v)?),
        Kind::Enrollment => Parsed::Enrollment(serde_json::from_value(v)?),
        Kind::Assignment => Parsed::Assignment(serde_json::from_value(v)?),
        Kind::Submission => Parsed::Submission(serde_json::from_value(v)?),
        Kind::SisImport => Parsed::SisImport(serde_json::from_value(v)?),
    })
}

impl Parsed {
    /// Each id the model reads, under the JSON key it reads it from.
    fn ids(&self) -> Vec<(&'static str, Option<u64>)> {
        match self {
            Parsed::Account(a) => vec![
                ("id", Some(a.id)),
                ("parent_account_id", a.parent_account_id),
                ("root_account_id", a.root_account_id),
            ],
            Parsed::Term(t) => vec![("id", Some(t.id))],
            Parsed::Course(c) => vec![
                ("id", Some(c.id)),
                ("account_id", c.account_id),
                ("root_account_id", c.root_account_id),
                ("enrollment_term_id", c.enrollment_term_id),
            ],
            Parsed::Section(s) => vec![("id", Some(s.id)), ("course_id", s.course_id)],
            Parsed::User(u) => vec![("id", Some(u.id))],
            Parsed::Enrollment(e) => vec![
                ("id", Some(e.id)),
                ("course_id", e.course_id),
                ("course_section_id", e.course_section_id),
                ("user_id", e.user_id),
            ],
            Parsed::Assignment(a) => vec![("id", Some(a.id)), ("course_id", a.course_id)],
            Parsed::Submission(s) => vec![
                ("id", Some(s.id)),
                ("assignment_id", s.assignment_id),
                ("user_id", s.user_id),
            ],
            Parsed::SisImport(s) => vec![("id", Some(s.id)), ("account_id", s.account_id)],
        }
    }

    /// The `name` the model read, for models that have one.
    fn name(&self) -> Option<&str> {
        match self {
            Parsed::Account(a) => Some(&a.name),
            Parsed::Term(t) => Some(&t.name),
            Parsed::Course(c) => Some(&c.name),
            Parsed::Section(s) => Some(&s.name),
            Parsed::User(u) => Some(&u.name),
            Parsed::Assignment(a) => Some(&a.name),
            Parsed::Enrollment(_) | Parsed::Submission(_) | Parsed::SisImport(_) => None,
        }
    }
}

/// The id a JSON value holds, as a number or a numeric string.
fn json_id(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Check one object against `kind`: with an `id` it parses, the ids and
/// name read are the JSON's, the same object with Canvas's string ids
/// parses to the same value, and the same object with its `id` taken out is
/// an error. `Ok(false)`: it had no `id` and was refused.
fn check(kind: Kind, object: &Value) -> Result<bool, String> {
    let refused_without_id = |object: &Value| match parse(kind, object) {
        Ok(parsed) => Err(format!("an object without an id parsed as {parsed:?}")),
        Err(e) if e.to_string().contains("`id`") => Ok(false),
        Err(e) => Err(format!("without an id, but failed for another reason: {e}")),
    };
    let Value::Object(fields) = object else {
        return Err("not a JSON object".into());
    };
    if !fields.contains_key("id") {
        return refused_without_id(object);
    }
    let mut without = fields.clone();
    without.remove("id");
    refused_without_id(&Value::Object(without))?;
    let parsed = parse(kind, object).map_err(|e| format!("does not parse: {e}"))?;
    for (key, read) in parsed.ids() {
        let expected = json_id(object.get(key));
        if read != expected {
            return Err(format!(
                "{key} read as {read:?}, the JSON has {:?}",
                object.get(key)
            ));
        }
    }
    if let (Some(read), Some(Value::String(name))) = (parsed.name(), object.get("name"))
        && read != name
    {
        return Err(format!("name read as {read:?}, the JSON has {name:?}"));
    }
    let stringified = fixtures::canvas_string_ids(object);
    match parse(kind, &stringified) {
        Ok(again) if again == parsed => Ok(true),
        Ok(again) => Err(format!("with string ids it parses differently: {again:?}")),
        Err(e) => Err(format!(
            "with string ids ({stringified}) it does not parse: {e}"
        )),
    }
}

#[test]
fn every_model_reads_every_matching_object_in_canvasapis_fixtures() {
    let files = fixtures::files();
    assert!(
        files.len() >= 11,
        "the vendored fixtures are there: {files:?}"
    );
    let mut failures = Vec::new();
    let mut read: BTreeMap<Kind, usize> = BTreeMap::new();
    let mut without_id = 0;
    for file in &files {
        let all = fixtures::load(file);
        let mut from_file = 0;
        for picked in pick(&all) {
            let f = picked.fixture;
            for object in &picked.objects {
                for &kind in &picked.kinds {
                    from_file += 1;
                    match check(kind, object) {
                        Ok(true) if f.file != GENERIC_FILE => *read.entry(kind).or_default() += 1,
                        Ok(true) => {}
                        Ok(false) => without_id += 1,
                        Err(why) => failures.push(format!(
                            "{file} {} ({} {}) as {kind:?}: {why}\n    {object}",
                            f.name, f.method, f.endpoint
                        )),
                    }
                }
            }
        }
        assert!(
            from_file > 0,
            "{file} is vendored but no model reads anything in it"
        );
    }
    assert!(
        failures.is_empty(),
        "{} objects failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("objects read per model: {read:?}; without an id (refused): {without_id}");
    for kind in ALL_KINDS {
        assert!(
            read.get(&kind).copied().unwrap_or(0) >= 2,
            "{kind:?} read fewer than 2 recorded objects: {read:?}"
        );
    }
    assert!(
        without_id > 0,
        "the fixtures' object without an id (account.json update_fail) was checked"
    );
}

#[test]
fn canvas_string_ids_turns_ids_and_only_ids_into_strings() {
    let v = serde_json::json!({"id": 1, "course_id": 2, "uuid": 3, "student_ids": [4, 5],
        "user": {"id": 6, "total_students": 7}, "sis_user_id": "x", "items": [{"root_account_id": 8}]});
    assert_eq!(
        fixtures::canvas_string_ids(&v),
        serde_json::json!({"id": "1", "course_id": "2", "uuid": 3, "student_ids": ["4", "5"],
            "user": {"id": "6", "total_students": 7}, "sis_user_id": "x", "items": [{"root_account_id": "8"}]})
    );
}

#[test]
fn the_fixture_walk_tells_canvas_paths_apart() {
    assert!(matches_template(
        "courses/:id",
        "courses/sis_course_id:test-sis-id"
    ));
    assert!(matches_template("users/:id", "users/self"));
    assert!(!matches_template(
        "courses/:id/assignments/:id",
        "courses/1/assignments/overrides"
    ));
    assert!(!matches_template(
        "accounts/:id/sis_imports/:id",
        "accounts/1/sis_imports/abort_all_pending"
    ));
    let all = fixtures::load("course.json");
    let found: Vec<Kind> = pick(&all)
        .into_iter()
        .find(|p| p.fixture.name == "get_all_assignments2")
        .map(|p| p.kinds)
        .unwrap_or_default();
    assert_eq!(
        found,
        [Kind::Assignment],
        "courses/1/list_assignments?page=2 is found through the Link before it"
    );
    let grouped: Vec<_> = pick(&all)
        .into_iter()
        .filter(|p| p.fixture.name == "list_multiple_submissions_grouped")
        .flat_map(|p| p.objects)
        .collect();
    assert!(
        grouped.len() == 2 && grouped.iter().all(|s| s.get("id").is_some()),
        "grouped submissions are unwrapped: {grouped:?}"
    );
}
