//! The guest SDK's Canvas models parse tolerantly: unknown fields ignored,
//! nulls and missing fields optional, 64-bit ids from numbers or strings.
//! (The SDK compiles for the host too; only its host calls need wasm.)

use easel_sdk::models::{Account, Assignment, Course, Enrollment, Section, Submission, Term, User};

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
