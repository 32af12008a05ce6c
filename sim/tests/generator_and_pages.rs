//! The generator is deterministic and sized as asked; pagination follows
//! Canvas's rules; the bucket's clock can be sped up.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::time::Duration;

use easel_sim::{Institution, Preset, SimConfig, Simulator, Sizes, ThrottleConfig};

#[test]
fn the_same_seed_gives_the_same_institution_and_sizes_are_honoured() {
    let sizes = Sizes {
        schools: 3,
        courses_per_school: 5,
        students_per_school: 12,
        teachers_per_school: 2,
    };
    let a = Institution::generate(Preset::Custom(sizes), 9);
    let b = Institution::generate(Preset::Custom(sizes), 9);
    let c = Institution::generate(Preset::Custom(sizes), 10);
    let names = |i: &Institution| i.users.values().map(|u| u.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b));
    assert_ne!(names(&a), names(&c));
    assert_eq!(a.schools().len(), 3);
    assert_eq!(a.courses.len(), 15);
    assert_eq!(a.assignments.len(), 45);
    assert!(
        a.courses
            .values()
            .all(|c| c.sis_course_id.is_some() && c.account_id > 1)
    );
    let district = Preset::District.sizes();
    assert_eq!(district.schools, 320);
}

#[test]
fn sis_user_ids_are_unique_across_the_institution() {
    for preset in [Preset::Demo, Preset::District] {
        let inst = Institution::generate_with(preset, 42, 0.0);
        let mut ids: Vec<&str> = inst
            .users
            .values()
            .filter_map(|u| u.sis_user_id.as_deref())
            .collect();
        let all = ids.len();
        assert_eq!(all, inst.users.len(), "every user has one at rate 0");
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all, "{preset:?}: a SIS user id is shared");
    }
}

async fn get(url: &str) -> (u16, String, String) {
    let r = reqwest::Client::new()
        .get(url)
        .bearer_auth("7~p")
        .header("user-agent", "t")
        .send()
        .await
        .unwrap();
    let link = r
        .headers()
        .get("link")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), link, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_default_to_ten_clamp_at_a_hundred_and_end_empty() {
    let sim = Simulator::start(SimConfig {
        admin_token: Some("7~p".into()),
        preset: Preset::District,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let base = format!("{}/api/v1/accounts/1/courses", sim.url());
    let count = |body: &str| {
        serde_json::from_str::<serde_json::Value>(body)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    let (_, link, body) = get(&base).await;
    assert_eq!(count(&body), 10);
    let rels: Vec<&str> = link
        .split(',')
        .map(|l| l.split("rel=").nth(1).unwrap())
        .collect();
    assert_eq!(rels, ["\"current\"", "\"next\"", "\"first\"", "\"last\""]);
    assert!(
        link.starts_with(&format!(
            "<{}/api/v1/accounts/1/courses?page=1&per_page=10>",
            sim.url()
        )),
        "{link}"
    );
    let (_, link, body) = get(&format!("{base}?per_page=500&page=2&include[]=term")).await;
    assert_eq!(count(&body), 100);
    assert!(
        link.contains("include%5B%5D=term&page=3&per_page=100>; rel=\"next\""),
        "{link}"
    );
    assert!(link.contains("rel=\"prev\""));
    let (status, _, body) = get(&format!("{base}?page=100000")).await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    let (_, link, _) = get(&format!(
        "{}/api/v1/accounts/1/sub_accounts?recursive=true",
        sim.url()
    ))
    .await;
    assert!(!link.contains("rel=\"last\""), "{link}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_scale_runs_the_bucket_faster() {
    let sim = Simulator::start(SimConfig {
        admin_token: Some("7~p".into()),
        throttle: ThrottleConfig {
            request_cost: 300.0,
            time_scale: 60.0,
            ..ThrottleConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let url = format!("{}/api/v1/accounts/2", sim.url());
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&url).await.0);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // 700 units leak in 70 bucket seconds: about 1.2 real seconds at 60x.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(get(&url).await.0, 200);
}
