//! Roles, scoped tokens and masquerading, with Canvas's answers.
#![allow(clippy::unwrap_used)] // test code fails loudly

use easel_sim::{Role, SimConfig, SimHandle, Simulator};

async fn call(
    sim: &SimHandle,
    token: &str,
    method: &str,
    path: &str,
) -> (u16, serde_json::Value, bool) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", sim.url());
    let req = match method {
        "PUT" => client
            .put(url)
            .header("content-type", "application/json")
            .body(r#"{"course":{"name":"x"}}"#),
        _ => client.get(url),
    };
    let r = req
        .bearer_auth(token)
        .header("user-agent", "t")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let www = r.headers().contains_key("www-authenticate");
    (
        status,
        serde_json::from_str(&r.text().await.unwrap()).unwrap_or(serde_json::Value::Null),
        www,
    )
}

fn role(sim: &SimHandle, role: Role) -> (u64, String) {
    sim.role_tokens()
        .iter()
        .find(|(r, _, _)| *r == role)
        .map(|(_, u, t)| (*u, t.clone()))
        .unwrap()
}

fn is_unauthorized_body(v: &serde_json::Value) -> bool {
    v["status"] == "unauthorized" && v["errors"][0]["message"].is_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_reaches_only_what_canvas_would_let_it() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let (teacher_user, _) = role(&sim, Role::Teacher);
    let (own, other, own_course, other_course) = sim.with_data(|d| {
        let s = d.schools();
        // A course of the first school the teacher teaches (some courses
        // have no teacher: the simulator seeds irregular data).
        let taught = d
            .courses_in(s[0].id)
            .into_iter()
            .find(|c| d.teaches(teacher_user, c.id))
            .unwrap()
            .id;
        (s[0].id, s[1].id, taught, d.courses_in(s[1].id)[0].id)
    });
    let sub = sim.token_for(Role::SubAccountAdmin).unwrap().to_owned();
    assert_eq!(
        call(
            &sim,
            &sub,
            "GET",
            &format!("/api/v1/accounts/{own}/courses")
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(&sim, &sub, "PUT", &format!("/api/v1/courses/{own_course}"))
            .await
            .0,
        200
    );
    let (status, body, _) = call(&sim, &sub, "GET", &format!("/api/v1/accounts/{other}")).await;
    assert_eq!(status, 403);
    assert!(is_unauthorized_body(&body), "{body}");
    assert_eq!(
        call(
            &sim,
            &sub,
            "GET",
            &format!("/api/v1/courses/{other_course}")
        )
        .await
        .0,
        403
    );
    let (_, accounts, _) = call(&sim, &sub, "GET", "/api/v1/accounts").await;
    assert_eq!(accounts.as_array().unwrap().len(), 1);
    assert_eq!(accounts[0]["id"], own);

    let teacher = sim.token_for(Role::Teacher).unwrap().to_owned();
    assert_eq!(
        call(
            &sim,
            &teacher,
            "GET",
            &format!("/api/v1/courses/{own_course}")
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            &sim,
            &teacher,
            "PUT",
            &format!("/api/v1/courses/{own_course}")
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &sim,
            &teacher,
            "GET",
            &format!("/api/v1/courses/{other_course}")
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(&sim, &teacher, "GET", &format!("/api/v1/accounts/{own}"))
            .await
            .0,
        403
    );

    let nobody = sim.token_for(Role::NoPermission).unwrap().to_owned();
    let (status, me, _) = call(&sim, &nobody, "GET", "/api/v1/users/self").await;
    assert_eq!(
        (status, me["id"].as_u64()),
        (200, Some(easel_sim::NOBODY_USER_ID))
    );
    assert_eq!(
        call(&sim, &nobody, "GET", &format!("/api/v1/accounts/{own}"))
            .await
            .0,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_tokens_are_held_to_their_scopes_and_lose_includes() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let course = sim.with_data(|d| d.courses_in(d.schools()[0].id)[0].id);
    sim.add_scoped_token("7~scoped", 1, &["url:GET|/api/v1/courses/:id"], false)
        .unwrap();
    sim.add_scoped_token("7~scoped-inc", 1, &["url:GET|/api/v1/courses/:id"], true)
        .unwrap();
    let path = format!("/api/v1/courses/{course}?include[]=term");
    let (status, body, _) = call(&sim, "7~scoped", "GET", &path).await;
    assert_eq!(status, 200);
    assert!(
        body.get("term").is_none(),
        "include[] is cut to uuid without allow-includes"
    );
    let (_, body, _) = call(&sim, "7~scoped-inc", "GET", &path).await;
    assert!(body.get("term").is_some());
    // `:id` is one segment in any id form, with or without a format suffix.
    let sis = sim.with_data(|d| d.courses[&course].sis_course_id.clone().unwrap());
    for path in [
        format!("/api/v1/courses/sis_course_id:{sis}"),
        format!("/api/v1/courses/{course}.json"),
    ] {
        let (status, body, _) = call(&sim, "7~scoped", "GET", &path).await;
        assert_eq!((status, body["id"].as_u64()), (200, Some(course)), "{path}");
    }
    let (status, _, _) = call(
        &sim,
        "7~scoped",
        "GET",
        &format!("/api/v1/courses/{course}/sections"),
    )
    .await;
    assert_eq!(status, 401, "a longer path is outside the scope");
    let (status, body, www) = call(&sim, "7~scoped", "GET", "/api/v1/accounts/2").await;
    assert_eq!(status, 401);
    assert_eq!(
        body["errors"][0]["message"],
        "Insufficient scopes on access token."
    );
    assert!(!www, "no WWW-Authenticate on a scope failure");
    let (status, _, www) = call(&sim, "7~unknown", "GET", "/api/v1/accounts/2").await;
    assert_eq!(status, 401);
    assert!(www, "WWW-Authenticate on an invalid token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_root_admin_may_masquerade() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let admin = sim.admin_token().to_owned();
    let who = format!(
        "/api/v1/users/self?as_user_id={}",
        easel_sim::NOBODY_USER_ID
    );
    let (status, me, _) = call(&sim, &admin, "GET", &who).await;
    assert_eq!(
        (status, me["id"].as_u64()),
        (200, Some(easel_sim::NOBODY_USER_ID))
    );
    let sub = sim.token_for(Role::SubAccountAdmin).unwrap().to_owned();
    let (status, body, _) = call(&sim, &sub, "GET", &who).await;
    assert_eq!(status, 401);
    assert_eq!(body, serde_json::json!({"errors": "Invalid as_user_id"}));
    let (status, _, _) = call(&sim, &admin, "GET", "/api/v1/users/self?as_user_id=999999").await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masquerade_may_name_the_user_by_sis_id_in_the_query_or_the_body() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let admin = sim.admin_token().to_owned();
    let (nobody, sis) = sim.with_data(|d| {
        let u = &d.users[&easel_sim::NOBODY_USER_ID];
        (u.id, u.sis_user_id.clone().unwrap())
    });
    let (status, me, _) = call(
        &sim,
        &admin,
        "GET",
        &format!("/api/v1/users/self?as_user_id=sis_user_id:{sis}"),
    )
    .await;
    assert_eq!((status, me["id"].as_u64()), (200, Some(nobody)));
    // Rails merges the body into the parameters: a masqueraded write is
    // judged as the user it names, who may not edit a course.
    let course = sim.with_data(|d| d.courses_in(d.schools()[0].id)[0].id);
    let r = reqwest::Client::new()
        .put(format!("{}/api/v1/courses/{course}", sim.url()))
        .bearer_auth(&admin)
        .header("user-agent", "t")
        .header("content-type", "application/json")
        .body(
            serde_json::json!({"as_user_id": format!("sis_user_id:{sis}"), "course": {"name": "x"}})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (status, body, _) = call(
        &sim,
        &admin,
        "GET",
        "/api/v1/users/self?as_user_id=sis_user_id:NO-SUCH-ID",
    )
    .await;
    assert_eq!(
        (status, body),
        (401, serde_json::json!({"errors": "Invalid as_user_id"}))
    );
}

/// The authorization-code flow as Canvas runs it: a code for the chosen
/// user, good once, for its key and redirect URI; the token it buys acts as
/// that user; logout kills it and its refresh token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_code_flow_issues_a_token_once_and_logout_ends_it() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let (sub_user, _) = role(&sim, Role::SubAccountAdmin);
    let redirect = "http://127.0.0.1:9/auth/canvas/callback";
    let (client_id, secret) = sim.add_developer_key_for(redirect);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = |extra: &str| {
        format!(
            "{}/login/oauth2/auth?client_id={client_id}&response_type=code&state=s1&redirect_uri={}{extra}",
            sim.url(),
            url_encode(redirect)
        )
    };
    // Who signs in must be chosen; an unknown key or a foreign redirect URI
    // is answered at Canvas, never redirected.
    let r = http.get(authorize("")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("sim_user=<user id>"));
    let foreign = authorize(&format!("&sim_user={sub_user}"))
        .replace(&url_encode(redirect), &url_encode("http://evil.example/cb"));
    assert_eq!(http.get(foreign).send().await.unwrap().status(), 400);
    let denied = http.get(authorize("&sim_deny=1")).send().await.unwrap();
    assert_eq!(denied.status(), 302);
    let loc = denied.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        loc.starts_with(redirect)
            && loc.contains("error=access_denied")
            && loc.contains("state=s1"),
        "{loc}"
    );

    let r = http
        .get(authorize(&format!("&sim_user={sub_user}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let exchange = |code: &str, uri: &str, secret: &str| {
        http.post(format!("{}/login/oauth2/token", sim.url()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", client_id.as_str()),
                ("client_secret", secret),
                ("redirect_uri", uri),
                ("code", code),
            ])
    };
    // A wrong secret is refused; the code is good once.
    let wrong = exchange(&code, redirect, "nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let first = exchange(&code, redirect, &secret).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let again = exchange(&code, redirect, &secret).send().await.unwrap();
    assert_eq!(again.status(), 400);

    let r = http
        .get(authorize(&format!("&sim_user={sub_user}")))
        .send()
        .await
        .unwrap();
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code: String = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    // A redirect URI is matched exactly: a path under it is another one.
    let under = authorize(&format!("&sim_user={sub_user}"))
        .replace(&url_encode(redirect), &url_encode(&format!("{redirect}/x")));
    assert_eq!(http.get(under).send().await.unwrap().status(), 400);
    let ok: serde_json::Value = serde_json::from_str(
        &exchange(&code, redirect, &secret)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(ok["user"]["id"], sub_user);
    assert!(ok["refresh_token"].is_string());
    let access = ok["access_token"].as_str().unwrap().to_owned();
    let (status, me, _) = call(&sim, &access, "GET", "/api/v1/users/self").await;
    assert_eq!((status, me["id"].as_u64()), (200, Some(sub_user)));
    // The accounts it lists are the ones the user administers.
    let (_, accounts, _) = call(&sim, &access, "GET", "/api/v1/accounts").await;
    let ids: Vec<u64> = accounts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_u64().unwrap())
        .collect();
    let first_school = sim.with_data(|d| d.schools()[0].id);
    assert_eq!(ids, vec![first_school]);

    let out = http
        .delete(format!("{}/login/oauth2/token", sim.url()))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    assert_eq!(
        call(&sim, &access, "GET", "/api/v1/users/self").await.0,
        401
    );
    let refresh = http
        .post(format!("{}/login/oauth2/token", sim.url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("refresh_token", ok["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), 400, "logout ends the refresh token too");
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
