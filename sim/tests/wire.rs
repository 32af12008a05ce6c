//! What the simulator's answers look like on the wire: JSON errors in
//! Canvas's shapes everywhere, string ids on request, timestamps with
//! offsets where Canvas uses them, and the fields clients read.
#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use common::{Api, regular_sim};
use reqwest::Method;
use serde_json::{Value, json};

/// (method, path, body as (content type, text), status, body expected).
type Case<'a> = (Method, String, Option<(&'a str, String)>, u16, Value);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json_in_the_shape_canvas_uses_there() {
    let sim = regular_sim().await;
    let api = Api::admin(&sim);
    let course = sim.with_data(|d| d.courses_in(d.schools()[0].id)[0].id);
    let not_found = json!({"errors": [{"message": "The specified resource does not exist."}]});
    let bad_request =
        json!({"errors": [{"message": "An error occurred.", "error_code": "bad_request"}]});
    let cases: Vec<Case<'_>> = vec![
        (
            Method::GET,
            "/api/v1/nothing/here".into(),
            None,
            404,
            not_found.clone(),
        ),
        (
            Method::POST,
            "/api/v1/accounts/2".into(),
            None,
            404,
            not_found.clone(),
        ),
        (
            Method::GET,
            "/api/v1/courses/abc".into(),
            None,
            404,
            not_found.clone(),
        ),
        (
            Method::GET,
            "/api/v1/sections/abc/enrollments".into(),
            None,
            404,
            not_found.clone(),
        ),
        (
            Method::GET,
            "/api/v1/progress/abc".into(),
            None,
            404,
            not_found.clone(),
        ),
        (
            Method::GET,
            "/api/v1/accounts/1/enrollments/x".into(),
            None,
            404,
            not_found.clone(),
        ),
        (
            Method::PUT,
            format!("/api/v1/courses/{course}"),
            Some(("application/json", "{\"course\":".into())),
            400,
            bad_request.clone(),
        ),
        (
            Method::PUT,
            "/api/v1/accounts/2/courses".into(),
            Some(("application/x-www-form-urlencoded", "event=offer".into())),
            400,
            json!({"message": "must specify course_ids[]"}),
        ),
        (
            Method::PUT,
            "/api/v1/accounts/2/courses".into(),
            Some((
                "application/json",
                json!({"event": "explode", "course_ids": [course]}).to_string(),
            )),
            400,
            json!({"message": "invalid event"}),
        ),
        (
            Method::POST,
            format!("/api/v1/courses/{course}/enrollments"),
            Some((
                "application/json",
                json!({"enrollment": {"type": "StudentEnrollment"}}).to_string(),
            )),
            400,
            json!({"message": "Can't create an enrollment without a user. Include enrollment[user_id] to create an enrollment"}),
        ),
        (
            Method::POST,
            format!("/api/v1/courses/{course}/enrollments"),
            Some((
                "application/json",
                json!({"enrollment": {"user_id": 3, "type": "Boss"}}).to_string(),
            )),
            400,
            json!({"message": "Invalid type"}),
        ),
        (
            Method::POST,
            format!("/api/v1/courses/{course}/enrollments"),
            Some((
                "application/json",
                json!({"enrollment": {"user_id": "sis_user_id:NOPE"}}).to_string(),
            )),
            404,
            not_found.clone(),
        ),
    ];
    for (method, path, body, status, want) in cases {
        let r = api.call(method.clone(), &path, &[], body).await;
        assert_eq!(
            (r.status, &r.body),
            (status, &want),
            "{method} {path}: {}",
            r.text
        );
        let ct = r.headers["content-type"].to_str().unwrap();
        assert!(ct.starts_with("application/json"), "{method} {path}: {ct}");
    }
    // A path axum cannot even decode is still answered in JSON.
    let r = api.get("/api/v1/courses/%FF").await;
    assert!(
        r.status >= 400 && r.body["errors"][0]["message"].is_string(),
        "{}",
        r.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_ids_are_sent_when_the_client_asks_for_them() {
    let sim = regular_sim().await;
    let api = Api::admin(&sim);
    let course = sim.with_data(|d| d.courses_in(d.schools()[0].id)[0].id);
    let path = format!("/api/v1/courses/{course}/enrollments");
    let accept = [("accept", "application/json+canvas-string-ids")];
    let strings = api.call(Method::GET, &path, &accept, None).await;
    let numbers = api.get(&path).await;
    let (s, n) = (&strings.body[0], &numbers.body[0]);
    for key in [
        "id",
        "course_id",
        "user_id",
        "course_section_id",
        "root_account_id",
        "role_id",
    ] {
        assert_eq!(
            s[key],
            Value::String(n[key].as_u64().unwrap().to_string()),
            "{key}"
        );
    }
    assert_eq!(s["user"]["id"], Value::String(n["user"]["id"].to_string()));
    assert_eq!(
        s["sis_course_id"], n["sis_course_id"],
        "SIS ids are text anyway"
    );
    assert_eq!(
        s["total_activity_time"], n["total_activity_time"],
        "not an id"
    );
    let account = api
        .call(Method::GET, "/api/v1/accounts/2", &accept, None)
        .await;
    assert_eq!(account.body["parent_account_id"], "1");
    assert_eq!(account.body["root_account_id"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_carry_an_offset_only_where_canvas_gives_one() {
    let sim = regular_sim().await;
    let api = Api::admin(&sim);
    let (user, course) = sim.with_data(|d| {
        let c = d.courses_in(d.schools()[0].id)[0].id;
        let u = d.enrollments_of(c).next().unwrap().user_id;
        (u, c)
    });
    // Generated users were created 2024-08-01T15:00:00Z: 10:00 in Chicago.
    let u = api.get(&format!("/api/v1/users/{user}")).await;
    assert_eq!(u.body["created_at"], "2024-08-01T10:00:00-05:00");
    let login = api.get(&format!("/api/v1/users/{user}/logins")).await;
    assert_eq!(login.body[0]["created_at"], "2024-08-01T10:00:00-05:00");
    let e = api
        .get(&format!("/api/v1/courses/{course}/enrollments"))
        .await;
    assert!(e.body[0]["created_at"].as_str().unwrap().ends_with('Z'));
    let c = api.get(&format!("/api/v1/courses/{course}")).await;
    assert!(c.body["created_at"].as_str().unwrap().ends_with('Z'));
    let import = api
        .call(
            Method::POST,
            "/api/v1/accounts/1/sis_imports?import_type=instructure_csv",
            &[],
            Some((
                "text/csv",
                "user_id,login_id,full_name,status\nX1,x1@x.edu,X One,active\n".into(),
            )),
        )
        .await;
    let created = import.body["created_at"].as_str().unwrap();
    assert!(
        created.ends_with("-05:00") || created.ends_with("-06:00"),
        "{created}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_carry_the_fields_canvas_clients_read() {
    let sim = regular_sim().await;
    let api = Api::admin(&sim);
    let (course, student) = sim.with_data(|d| {
        d.courses_in(d.schools()[0].id)
            .into_iter()
            .find_map(|c| {
                d.enrollments_of(c.id)
                    .find(|e| e.kind == "StudentEnrollment")
                    .map(|e| (c.id, e.id))
            })
            .unwrap()
    });
    let list = api
        .get(&format!(
            "/api/v1/courses/{course}/enrollments?per_page=100"
        ))
        .await;
    let e = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == student)
        .unwrap();
    for key in [
        "created_at",
        "updated_at",
        "sis_account_id",
        "sis_course_id",
        "sis_section_id",
        "sis_user_id",
        "html_url",
        "role",
        "role_id",
        "enrollment_state",
    ] {
        assert!(!e[key].is_null(), "{key} in {e}");
    }
    assert!(
        e["grades"]["html_url"]
            .as_str()
            .unwrap()
            .starts_with(sim.url())
    );
    assert!(e["grades"]["final_score"].is_number(), "{}", e["grades"]);
    let a = api
        .get(&format!("/api/v1/courses/{course}/assignments"))
        .await;
    assert_eq!(a.body[0]["grading_type"], "points");
    assert!(a.body[0]["html_url"].as_str().unwrap().ends_with(&format!(
        "/courses/{course}/assignments/{}",
        a.body[0]["id"]
    )));
    let users = api.get("/api/v1/accounts/2/users?include[]=email").await;
    assert!(users.body[0]["email"].is_string(), "{}", users.body[0]);
    let c = api.get(&format!("/api/v1/courses/{course}")).await;
    for key in [
        "created_at",
        "uuid",
        "root_account_id",
        "enrollment_term_id",
        "workflow_state",
    ] {
        assert!(!c.body[key].is_null(), "{key}");
    }
}
