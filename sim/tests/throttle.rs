//! The simulator throttles a token over HTTP as Canvas does.
#![allow(clippy::unwrap_used)] // test code fails loudly

use easel_sim::{SimConfig, Simulator, ThrottleAnswer, ThrottleConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_the_bucket_is_throttled_with_canvas_headers() {
    let sim = Simulator::start(SimConfig {
        admin_token: Some("7~t".into()),
        throttle: ThrottleConfig {
            request_cost: 60.0,
            ..ThrottleConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/accounts/2", sim.url());
    let first = client
        .get(&url)
        .bearer_auth("7~t")
        .header("user-agent", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-request-cost"], "60.0000");
    assert_eq!(
        first.headers()["x-rate-limit-remaining"]
            .to_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            .round(),
        640.0
    );
    let mut statuses = Vec::new();
    for _ in 0..15 {
        let r = client
            .get(&url)
            .bearer_auth("7~t")
            .header("user-agent", "t")
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(sim.throttled_count() > 0);

    sim.set_throttle(ThrottleConfig {
        answer: ThrottleAnswer::Forbidden,
        request_cost: 60.0,
        ..ThrottleConfig::default()
    });
    let r = client
        .get(&url)
        .bearer_auth("7~t")
        .header("user-agent", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.text().await.unwrap(),
        "403 Forbidden (Rate Limit Exceeded)\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_endpoint_costs_are_drawn_from_their_ranges_and_charged() {
    use easel_sim::CostModel;
    let sim = Simulator::start(SimConfig {
        admin_token: Some("7~t".into()),
        throttle: ThrottleConfig {
            cost: CostModel::PerEndpoint,
            ..ThrottleConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let (school, course) = sim.with_data(|d| {
        let s = d.schools()[0].id;
        (
            s,
            d.courses.values().find(|c| c.account_id == s).unwrap().id,
        )
    });
    let cases = [
        (format!("/api/v1/courses/{course}"), (0.2, 1.0)),
        (format!("/api/v1/accounts/{school}/courses"), (0.5, 2.0)),
        (
            format!("/api/v1/accounts/{school}/courses?include[]=term"),
            (2.0, 5.0),
        ),
    ];
    let mut total = 0.0;
    for (path, (low, high)) in &cases {
        let mut seen = Vec::new();
        for _ in 0..8 {
            let r = client
                .get(format!("{}{path}", sim.url()))
                .bearer_auth("7~t")
                .header("user-agent", "t")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            let cost: f64 = r.headers()["x-request-cost"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                (*low..=*high).contains(&cost),
                "{path}: {cost} outside {low}..{high}"
            );
            seen.push(cost);
            total += cost;
        }
        // Drawn, not fixed.
        assert!(
            seen.iter().any(|c| (c - seen[0]).abs() > 1e-3),
            "{path}: {seen:?}"
        );
    }
    assert!((sim.charged_units() - total).abs() < 0.01 * 24.0);
    assert_eq!(
        CostModel::range("PUT", &format!("/api/v1/courses/{course}"), None),
        (1.0, 3.0)
    );
}
