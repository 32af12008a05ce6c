//! Lists page as Canvas pages them: wrapped lists too, `next` links that
//! name numeric ids for a list asked for by SIS id, and relative links on
//! demand.
#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use common::{Api, regular_sim};
use easel_sim::Faults;
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrapped_lists_page_with_link_headers_like_the_others() {
    let sim = regular_sim().await;
    let api = Api::admin(&sim);
    let first = api.get("/api/v1/accounts/1/terms?per_page=1").await;
    assert_eq!(first.body["enrollment_terms"].as_array().unwrap().len(), 1);
    assert_eq!(first.body["enrollment_terms"][0]["id"], 1);
    let next = first.rel("next").unwrap();
    assert_eq!(
        next,
        format!("{}/api/v1/accounts/1/terms?page=2&per_page=1", sim.url())
    );
    assert_eq!(
        first.rel("last").unwrap(),
        format!("{}/api/v1/accounts/1/terms?page=3&per_page=1", sim.url())
    );
    let second = api.get(&next).await;
    assert_eq!(second.body["enrollment_terms"][0]["id"], 2);
    let past = api.get("/api/v1/accounts/1/terms?per_page=1&page=9").await;
    assert_eq!(past.body, serde_json::json!({"enrollment_terms": []}));

    for n in 0..3 {
        let r = api
            .call(
                Method::POST,
                "/api/v1/accounts/1/sis_imports?import_type=instructure_csv",
                &[],
                Some((
                    "text/csv",
                    format!("user_id,login_id,full_name\nW{n},w{n}@x.edu,W {n}\n"),
                )),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let page = api.get("/api/v1/accounts/1/sis_imports?per_page=2").await;
    let ids: Vec<u64> = page.body["sis_imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [3, 2], "newest first");
    let rest = api.get(&page.rel("next").unwrap()).await;
    assert_eq!(rest.body["sis_imports"][0]["id"], 1);
    assert!(rest.rel("next").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_asked_for_by_sis_id_links_its_next_page_by_numeric_id() {
    let sim = regular_sim().await;
    let api = Api::admin(&sim);
    let (school, sis, course, course_sis) = sim.with_data(|d| {
        let s = d.schools()[0];
        let c = d
            .courses_in(s.id)
            .into_iter()
            .find(|c| d.enrollments_of(c.id).count() > 3)
            .unwrap();
        (
            s.id,
            s.sis_account_id.clone().unwrap(),
            c.id,
            c.sis_course_id.clone().unwrap(),
        )
    });
    let r = api
        .get(&format!(
            "/api/v1/accounts/sis_account_id:{sis}/courses?per_page=5"
        ))
        .await;
    assert_eq!(
        r.rel("next").unwrap(),
        format!(
            "{}/api/v1/accounts/{school}/courses?page=2&per_page=5",
            sim.url()
        )
    );
    let r = api
        .get(&format!(
            "/api/v1/courses/sis_course_id:{course_sis}/enrollments?per_page=2"
        ))
        .await;
    let next = r.rel("next").unwrap();
    assert!(
        next.starts_with(&format!(
            "{}/api/v1/courses/{course}/enrollments?",
            sim.url()
        )),
        "{next}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relative_links_fault_makes_every_link_relative() {
    let sim = regular_sim().await;
    let api = Api::admin(&sim);
    sim.set_faults(Faults {
        relative_links: true,
        ..Faults::default()
    });
    let r = api.get("/api/v1/accounts/2/courses?per_page=5").await;
    assert_eq!(
        r.rel("next").unwrap(),
        "/api/v1/accounts/2/courses?page=2&per_page=5"
    );
    assert!(
        r.link().split(',').all(|l| l.starts_with("</api/v1/")),
        "{}",
        r.link()
    );
    // Resolved against the request URL, it is the next page.
    let second = api.get(&r.rel("next").unwrap()).await;
    let first = r.ids();
    assert!(second.ids().iter().all(|id| !first.contains(id)));
    let terms = api.get("/api/v1/accounts/1/terms?per_page=1").await;
    assert!(
        terms.link().starts_with("</api/v1/accounts/1/terms?"),
        "{}",
        terms.link()
    );
    sim.set_faults(Faults::default());
    let r = api.get("/api/v1/accounts/2/courses?per_page=5").await;
    assert!(
        r.rel("next").unwrap().starts_with(sim.url()),
        "absolute by default"
    );
}
