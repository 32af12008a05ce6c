//! Enrollment filters, includes and the roster endpoints, as Canvas
//! answers them.
#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use common::{Api, regular_sim};
use reqwest::Method;
use serde_json::Value;

/// A course of the first school with at least `n` active students: (course,
/// section, active student enrollment ids).
fn course_with_students(sim: &easel_sim::SimHandle, n: usize) -> (u64, u64, Vec<u64>) {
    sim.with_data(|d| {
        d.courses_in(d.schools()[0].id)
            .into_iter()
            .find_map(|c| {
                let active: Vec<u64> = d
                    .enrollments_of(c.id)
                    .filter(|e| e.kind == "StudentEnrollment" && e.enrollment_state == "active")
                    .map(|e| e.id)
                    .collect();
                let section = d.sections.values().find(|s| s.course_id == c.id)?.id;
                (active.len() >= n).then_some((c.id, section, active))
            })
            .unwrap()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concluded_and_deleted_enrollments_are_listed_only_when_a_state_filter_asks() {
    let sim = regular_sim().await;
    let api = Api::admin(&sim);
    let (course, section, active) = course_with_students(&sim, 3);
    let (concluded, deleted) = (active[0], active[1]);
    for (id, task) in [(concluded, "conclude"), (deleted, "delete")] {
        let r = api
            .call(
                Method::DELETE,
                &format!("/api/v1/courses/{course}/enrollments/{id}?task={task}"),
                &[],
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let list = |q: &str| format!("/api/v1/courses/{course}/enrollments?per_page=100{q}");
    let ids = api.get(&list("")).await.ids();
    assert!(ids.contains(&active[2]));
    assert!(
        !ids.contains(&concluded) && !ids.contains(&deleted),
        "{ids:?}"
    );
    assert_eq!(api.get(&list("&state[]=deleted")).await.ids(), [deleted]);
    assert_eq!(
        api.get(&list("&state[]=completed&state[]=deleted"))
            .await
            .ids(),
        [concluded, deleted]
    );
    let in_section = format!("/api/v1/sections/{section}/enrollments?per_page=100");
    let ids = api.get(&in_section).await.ids();
    assert!(!ids.contains(&deleted) && ids.contains(&active[2]));
    let in_section = api
        .get(&format!("{in_section}&state[]=deleted"))
        .await
        .ids();
    assert_eq!(in_section, [deleted]);

    // A user's own list: active and invited unless asked.
    let user = sim.with_data(|d| d.enrollments[&deleted].user_id);
    let mine = |q: &str| format!("/api/v1/users/{user}/enrollments?per_page=100{q}");
    assert!(!api.get(&mine("")).await.ids().contains(&deleted));
    assert!(
        api.get(&mine("&state[]=deleted"))
            .await
            .ids()
            .contains(&deleted)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_type_and_role_id_filters_select_enrollments() {
    let sim = regular_sim().await;
    let api = Api::admin(&sim);
    let (course, _, students) = course_with_students(&sim, 1);
    let teachers: Vec<u64> = sim.with_data(|d| {
        d.enrollments_of(course)
            .filter(|e| e.kind == "TeacherEnrollment")
            .map(|e| e.id)
            .collect()
    });
    assert!(!teachers.is_empty());
    let list = |q: &str| format!("/api/v1/courses/{course}/enrollments?per_page=100&{q}");
    for q in [
        "role[]=TeacherEnrollment",
        "role=TeacherEnrollment",
        "type[]=TeacherEnrollment",
        "role_id[]=4",
        // A role wins over a type, as in Canvas.
        "role[]=TeacherEnrollment&type[]=StudentEnrollment",
    ] {
        assert_eq!(api.get(&list(q)).await.ids(), teachers, "{q}");
    }
    let ids = api.get(&list("role[]=StudentEnrollment")).await.ids();
    assert!(ids.contains(&students[0]) && !ids.contains(&teachers[0]));
    let r = api.get(&list("role[]=NoSuchRole")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["errors"][0]["error_code"], "bad_request",
        "{}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sections_include_their_students_and_courses_their_syllabus() {
    let sim = regular_sim().await;
    let api = Api::admin(&sim);
    let (course, section, _) = course_with_students(&sim, 1);
    let expected: Vec<u64> = sim.with_data(|d| {
        let mut v: Vec<u64> = d
            .enrollments_of(course)
            .filter(|e| e.course_section_id == section && e.kind == "StudentEnrollment")
            .map(|e| e.user_id)
            .collect();
        v.sort_unstable();
        v
    });
    let r = api
        .get(&format!(
            "/api/v1/courses/{course}/sections?include[]=students&include[]=total_students"
        ))
        .await;
    let s = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == section)
        .unwrap();
    let mut got: Vec<u64> = s["students"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_u64().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, expected);
    assert!(s["students"][0]["sortable_name"].is_string());
    assert!(s["total_students"].as_u64().unwrap() > 0);
    let plain = api.get(&format!("/api/v1/sections/{section}")).await;
    assert!(plain.body.get("students").is_none(), "only when asked");

    // A new course's section has no students: Canvas sends null.
    let school = sim.with_data(|d| d.schools()[0].id);
    let created = api
        .form(
            Method::POST,
            &format!("/api/v1/accounts/{school}/courses"),
            "course[name]=Empty",
        )
        .await;
    let empty = api
        .get(&format!(
            "/api/v1/courses/{}/sections?include[]=students",
            created.body["id"]
        ))
        .await;
    assert_eq!(empty.body[0]["students"], Value::Null, "{}", empty.body);

    let with = api
        .get(&format!("/api/v1/courses/{course}?include[]=syllabus_body"))
        .await;
    assert!(
        with.body["syllabus_body"]
            .as_str()
            .unwrap()
            .starts_with("<h2>"),
        "{}",
        with.body
    );
    let without = api.get(&format!("/api/v1/courses/{course}")).await;
    assert!(without.body.get("syllabus_body").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_courses_users_are_its_current_roster_filtered_by_type_and_state() {
    let sim = regular_sim().await;
    let api = Api::admin(&sim);
    let (course, _, students) = course_with_students(&sim, 2);
    let roster = |pred: &dyn Fn(&easel_sim::Enrollment) -> bool| {
        sim.with_data(|d| {
            let mut v: Vec<u64> = d
                .enrollments_of(course)
                .filter(|e| pred(e))
                .map(|e| e.user_id)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        })
    };
    let sorted = |mut v: Vec<u64>| {
        v.sort_unstable();
        v
    };
    let path = |q: &str| format!("/api/v1/courses/{course}/users?per_page=100{q}");
    let all = api.get(&path("")).await;
    assert_eq!(
        sorted(all.ids()),
        roster(&|e| matches!(e.enrollment_state.as_str(), "active" | "invited"))
    );
    let names: Vec<&str> = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["sortable_name"].as_str().unwrap())
        .collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "by sortable name");
    assert!(all.body[0].get("email").is_none(), "email only when asked");
    assert_eq!(
        sorted(api.get(&path("&enrollment_type[]=teacher")).await.ids()),
        roster(&|e| e.kind == "TeacherEnrollment" && e.enrollment_state == "active")
    );
    // Conclude a student: gone by default, back with enrollment_state[].
    let student = sim.with_data(|d| d.enrollments[&students[0]].user_id);
    api.call(
        Method::DELETE,
        &format!("/api/v1/courses/{course}/enrollments/{}", students[0]),
        &[],
        None,
    )
    .await;
    assert!(!api.get(&path("")).await.ids().contains(&student));
    assert!(
        api.get(&path("&enrollment_state[]=completed"))
            .await
            .ids()
            .contains(&student)
    );
    let detailed = api
        .get(&path("&include[]=enrollments&include[]=email"))
        .await;
    let first = &detailed.body[0];
    assert!(first["email"].is_string(), "{first}");
    assert_eq!(first["enrollments"][0]["course_id"], course);
    assert_eq!(first["enrollments"][0]["user_id"], first["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assignments_submissions_are_one_per_student() {
    let sim = regular_sim().await;
    let api = Api::admin(&sim);
    let (course, _, _) = course_with_students(&sim, 1);
    let (assignment, students, other) = sim.with_data(|d| {
        let a = d
            .assignments
            .values()
            .find(|a| a.course_id == course)
            .unwrap()
            .id;
        let mut s: Vec<u64> = d
            .enrollments_of(course)
            .filter(|e| e.kind == "StudentEnrollment")
            .map(|e| e.user_id)
            .collect();
        s.sort_unstable();
        let other = d
            .assignments
            .values()
            .find(|x| x.course_id != course)
            .unwrap()
            .id;
        (a, s, other)
    });
    let path = format!("/api/v1/courses/{course}/assignments/{assignment}/submissions");
    let r = api
        .get(&format!("{path}?per_page=100&include[]=user"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.body.as_array().unwrap();
    let users: Vec<u64> = list
        .iter()
        .map(|s| s["user_id"].as_u64().unwrap())
        .collect();
    assert_eq!(users, students);
    assert!(list.iter().all(|s| s["assignment_id"] == assignment));
    assert!(list.iter().all(|s| s["user"]["id"] == s["user_id"]));
    assert!(list[0]["html_url"].as_str().unwrap().starts_with(sim.url()));
    let missing = api
        .get(&format!(
            "/api/v1/courses/{course}/assignments/{other}/submissions"
        ))
        .await;
    assert_eq!(missing.status, 404, "another course's assignment");
    assert_eq!(
        missing.body["errors"][0]["message"],
        "The specified resource does not exist."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_is_found_by_each_id_form_canvas_accepts() {
    let sim = regular_sim().await;
    let api = Api::admin(&sim);
    let user = sim.with_data(|d| d.users.values().find(|u| u.id > 10_000).unwrap().clone());
    let sis = user.sis_user_id.clone().unwrap();
    let hex: String = sis.bytes().map(|b| format!("{b:02x}")).collect();
    for form in [
        user.id.to_string(),
        format!("sis_user_id:{sis}"),
        format!("sis_login_id:{}", user.login_id.to_uppercase()),
        format!("hex:sis_user_id:{hex}"),
    ] {
        let r = api.get(&format!("/api/v1/users/{form}")).await;
        assert_eq!(
            (r.status, r.body["id"].as_u64()),
            (200, Some(user.id)),
            "{form}"
        );
        assert_eq!(r.body["login_id"], user.login_id.as_str());
        assert!(r.body["email"].is_string(), "a user's page shows the email");
        let e = api.get(&format!("/api/v1/users/{form}/enrollments")).await;
        assert_eq!(e.status, 200, "{form}: {}", e.body);
    }
    assert_eq!(api.get("/api/v1/users/self").await.body["id"], 1);
    for nothing in ["sis_user_id:NO-SUCH", "abc", "12abc", "sis_course_id:x"] {
        let r = api.get(&format!("/api/v1/users/{nothing}")).await;
        assert_eq!(r.status, 404, "{nothing}");
        assert!(r.body["errors"][0]["message"].is_string());
    }
}
