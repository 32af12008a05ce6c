//! Every endpoint admins automate most answers with Canvas's shapes, and
//! writes persist for the life of the server.
#![allow(clippy::unwrap_used)] // test code fails loudly

use easel_sim::{SimConfig, SimHandle, Simulator};
use serde_json::Value;

struct Api<'a> {
    sim: &'a SimHandle,
    client: reqwest::Client,
}

impl Api<'_> {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, String)>,
    ) -> (u16, Value, String) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.sim.url()));
        if let Some((ct, b)) = body {
            req = req.header("content-type", ct).body(b);
        }
        let r = req
            .bearer_auth(self.sim.admin_token())
            .header("user-agent", "t")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let link = r
            .headers()
            .get("link")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            link,
        )
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        let (s, v, _) = self.send(reqwest::Method::GET, path, None).await;
        (s, v)
    }
    async fn form(&self, method: reqwest::Method, path: &str, form: &str) -> (u16, Value) {
        let (s, v, _) = self
            .send(
                method,
                path,
                Some(("application/x-www-form-urlencoded", form.to_owned())),
            )
            .await;
        (s, v)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_answer_with_canvas_shapes() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let api = Api {
        sim: &sim,
        client: reqwest::Client::new(),
    };
    let (school, course, section, user) = sim.with_data(|d| {
        let school = d.schools()[0].id;
        let course = d
            .courses_in(school)
            .into_iter()
            .find(|c| d.count_enrollments(c.id, "StudentEnrollment") > 0)
            .unwrap()
            .id;
        let section = d
            .sections
            .values()
            .find(|s| s.course_id == course)
            .unwrap()
            .id;
        // An active student: Canvas lists a user's active and invited
        // enrollments unless asked, and the data has concluded ones too.
        let user = d
            .enrollments_of(course)
            .find(|e| e.kind == "StudentEnrollment" && e.enrollment_state == "active")
            .unwrap()
            .user_id;
        (school, course, section, user)
    });
    for path in [
        format!("/api/v1/sections/{section}/enrollments"),
        format!("/api/v1/users/{user}/enrollments"),
        format!("/api/v1/accounts/{school}/users?per_page=100"),
        format!("/api/v1/users/{user}/logins"),
        format!("/api/v1/courses/{course}/assignments"),
        format!("/api/v1/courses/{course}/students/submissions?student_ids[]=all"),
        format!("/api/v1/users/{user}/page_views"),
        format!("/api/v1/accounts/{school}/admins"),
    ] {
        let (status, body) = api.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            body.as_array().is_some_and(|a| !a.is_empty()),
            "{path}: {body}"
        );
    }
    let (_, views, link) = api
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/users/{user}/page_views"),
            None,
        )
        .await;
    assert_eq!(views.as_array().unwrap().len(), 10);
    assert!(
        link.contains("page=bookmark") && !link.contains("rel=\"last\""),
        "{link}"
    );
    let (_, terms) = api.get(&format!("/api/v1/accounts/{school}/terms")).await;
    assert!(terms["enrollment_terms"].is_array(), "terms are wrapped");
    let (_, admins) = api.get(&format!("/api/v1/accounts/{school}/admins")).await;
    assert_eq!(admins[0]["user"]["id"], easel_sim::SCHOOL_ADMIN_USER_ID);
    let (status, err) = api.get("/api/v1/courses/999999/assignments").await;
    assert_eq!(
        (status, err["errors"][0]["message"].as_str()),
        (404, Some("The specified resource does not exist."))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_persist_and_jobs_complete() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let api = Api {
        sim: &sim,
        client: reqwest::Client::new(),
    };
    let school = sim.with_data(|d| d.schools()[0].id);
    let sis_school = sim.with_data(|d| d.accounts[&school].sis_account_id.clone().unwrap());
    use reqwest::Method as M;

    let (status, user) = api.form(M::POST, &format!("/api/v1/accounts/{school}/users"), "user[name]=Ada+Lovelace&pseudonym[unique_id]=ada%40example.edu&pseudonym[sis_user_id]=ADA1").await;
    assert_eq!(status, 200, "{user}");
    let uid = user["id"].as_u64().unwrap();
    let (status, taken) = api
        .form(
            M::POST,
            &format!("/api/v1/accounts/{school}/users"),
            "pseudonym[unique_id]=ada%40example.edu",
        )
        .await;
    assert_eq!(status, 400, "{taken}");
    assert_eq!(
        api.form(
            M::PUT,
            &format!("/api/v1/users/{uid}"),
            "user[short_name]=Ada"
        )
        .await
        .1["short_name"],
        "Ada"
    );

    let (course, section, assignment) = sim.with_data(|d| {
        let c = d.courses_in(school)[0].id;
        (
            c,
            d.sections.values().find(|s| s.course_id == c).unwrap().id,
            d.assignments
                .values()
                .find(|a| a.course_id == c)
                .unwrap()
                .id,
        )
    });
    let (status, e) = api
        .form(
            M::POST,
            &format!("/api/v1/sections/{section}/enrollments"),
            &format!("enrollment[user_id]={uid}&enrollment[enrollment_state]=active"),
        )
        .await;
    assert_eq!(
        (status, e["course_section_id"].as_u64()),
        (200, Some(section)),
        "{e}"
    );
    let eid = e["id"].as_u64().unwrap();
    let (_, graded) = api
        .form(
            M::PUT,
            &format!("/api/v1/courses/{course}/assignments/{assignment}/submissions/{uid}"),
            "submission[posted_grade]=7",
        )
        .await;
    assert_eq!(graded["score"], 7.0);
    let (status, bad) = api
        .form(
            M::PUT,
            &format!("/api/v1/courses/{course}/assignments/{assignment}/submissions/{uid}"),
            "submission[posted_grade]=seven",
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["errors"][0]["field"], "posted_grade");
    let (_, ended, _) = api
        .send(
            M::DELETE,
            &format!("/api/v1/courses/{course}/enrollments/{eid}?task=conclude"),
            None,
        )
        .await;
    assert_eq!(ended["enrollment_state"], "completed");

    // SIS imports run on the root account only, as in Canvas.
    let (s, refused, _) = api
        .send(
            M::POST,
            &format!(
                "/api/v1/accounts/{school}/sis_imports?import_type=instructure_csv&extension=csv"
            ),
            Some(("text/csv", "course_id,user_id,role,status\n".to_owned())),
        )
        .await;
    assert_eq!(s, 400, "{refused}");
    assert_eq!(
        refused["errors"][0],
        "SIS imports can only be executed on root accounts"
    );
    let (s, _) = api
        .get(&format!("/api/v1/accounts/{school}/sis_imports"))
        .await;
    assert_eq!(s, 400);
    // SIS import: users, then courses, then enrollments, each applied in the background.
    for csv in [
        "user_id,login_id,first_name,last_name,status\nSIS-U1,u1@example.edu,Grace,Hopper,active\n"
            .to_owned(),
        format!(
            "course_id,short_name,long_name,account_id,term_id,status\nSIS-C1,CS-1,Compilers,{sis_school},2026FA,active\n"
        ),
        "course_id,user_id,role,status\nSIS-C1,SIS-U1,teacher,active\nSIS-C1,NOPE,student,active\n"
            .to_owned(),
    ] {
        let (s, created, _) = api
            .send(
                M::POST,
                "/api/v1/accounts/1/sis_imports?import_type=instructure_csv&extension=csv",
                Some(("text/csv", csv)),
            )
            .await;
        assert_eq!(
            (s, created["workflow_state"].as_str()),
            (200, Some("created")),
            "{created}"
        );
        let (_, done) = api
            .get(&format!("/api/v1/accounts/1/sis_imports/{}", created["id"]))
            .await;
        assert!(
            done["workflow_state"]
                .as_str()
                .unwrap()
                .starts_with("imported"),
            "{done}"
        );
    }
    let ok = sim.with_data(|d| {
        let c = d
            .courses
            .values()
            .find(|c| c.sis_course_id.as_deref() == Some("SIS-C1"))
            .unwrap();
        let u = d
            .users
            .values()
            .find(|u| u.sis_user_id.as_deref() == Some("SIS-U1"))
            .unwrap();
        c.account_id == school && d.teaches(u.id, c.id)
    });
    assert!(ok, "the import created the course and enrolled its teacher");
    let (_, list) = api.get("/api/v1/accounts/1/sis_imports").await;
    // Newest first, as Canvas lists them.
    let last = &list["sis_imports"][0];
    assert_eq!(last["workflow_state"], "imported_with_messages");
    assert!(
        last["processing_errors"][0][1]
            .as_str()
            .unwrap()
            .contains("NOPE")
    );

    // A login already held by a user with another SIS id is not taken.
    let taken = sim.with_data(|d| {
        d.users
            .values()
            .find(|u| u.sis_user_id.is_some())
            .unwrap()
            .login_id
            .clone()
    });
    let (_, created, _) = api
        .send(
            M::POST,
            "/api/v1/accounts/1/sis_imports?import_type=instructure_csv&extension=csv",
            Some((
                "text/csv",
                format!("user_id,login_id,full_name,status\nSIS-U2,{taken},Taker,active\n"),
            )),
        )
        .await;
    let (_, done) = api
        .get(&format!("/api/v1/accounts/1/sis_imports/{}", created["id"]))
        .await;
    assert_eq!(done["workflow_state"], "imported_with_messages", "{done}");
    assert!(
        sim.with_data(|d| d
            .users
            .values()
            .all(|u| u.sis_user_id.as_deref() != Some("SIS-U2"))),
        "the login was not taken"
    );

    // Account report: running, then complete with a file.
    let (_, report) = api
        .form(
            M::POST,
            &format!("/api/v1/accounts/{school}/reports/provisioning_csv"),
            "parameters[courses]=true",
        )
        .await;
    let rid = report["id"].as_u64().unwrap();
    let path = format!("/api/v1/accounts/{school}/reports/provisioning_csv/{rid}");
    assert_eq!(api.get(&path).await.1["status"], "running");
    let (_, done) = api.get(&path).await;
    assert_eq!(done["status"], "complete");
    let file = reqwest::get(done["file_url"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        file.starts_with("canvas_course_id,") && file.contains("SIS-C1"),
        "{file}"
    );

    // Blueprint and course copy.
    let (s, _) = api
        .form(
            M::PUT,
            &format!("/api/v1/courses/{course}/blueprint_templates/default/update_associations"),
            "course_ids_to_add[]=1",
        )
        .await;
    assert_eq!(s, 200);
    let (_, m) = api
        .form(
            M::POST,
            &format!("/api/v1/courses/{course}/blueprint_templates/default/migrations"),
            "",
        )
        .await;
    assert_eq!(m["workflow_state"], "queued");
    let (_, copy) = api
        .form(
            M::POST,
            &format!("/api/v1/courses/{course}/content_migrations"),
            "migration_type=course_copy_importer&settings[source_course_id]=101",
        )
        .await;
    let progress = copy["progress_url"].as_str().unwrap().to_owned();
    let polled = reqwest::Client::new()
        .get(progress)
        .bearer_auth(sim.admin_token())
        .header("user-agent", "t")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(polled.contains("content_migration"), "{polled}");
}
