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
