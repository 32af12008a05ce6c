//! Faults on demand: 500s, dropped connections, latency, slow bodies.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::time::{Duration, Instant};

use easel_sim::{Faults, SimConfig, Simulator};

async fn answer(url: &str) -> Result<reqwest::Response, reqwest::Error> {
    reqwest::Client::new()
        .get(url)
        .bearer_auth("7~f")
        .header("user-agent", "t")
        .send()
        .await
}

async fn get(url: &str) -> Result<(u16, String), reqwest::Error> {
    let r = answer(url).await?;
    let status = r.status().as_u16();
    Ok((status, r.text().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_misbehaves_as_configured_and_stops_when_cleared() {
    let sim = Simulator::start(SimConfig {
        admin_token: Some("7~f".into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let url = format!("{}/api/v1/accounts/2", sim.url());

    sim.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let (status, body) = get(&url).await.unwrap();
    assert_eq!(status, 500);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["errors"][0]["error_code"], "internal_server_error");
    assert!(v["error_report_id"].is_number());

    sim.set_faults(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    });
    assert!(get(&url).await.is_err(), "the connection drops mid-body");

    sim.set_faults(Faults {
        latency: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    let t = Instant::now();
    let r = answer(&url).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    // Rails's `X-Runtime` counts the time spent in Canvas, latency included.
    let runtime: f64 = r.headers()["x-runtime"].to_str().unwrap().parse().unwrap();
    assert!(
        (0.3..t.elapsed().as_secs_f64()).contains(&runtime),
        "x-runtime {runtime} for an answer that took {:?}",
        t.elapsed()
    );

    // The network each way delays the request and its answer, and is not
    // Canvas's time.
    sim.set_faults(Faults {
        network: Some(Duration::from_millis(150)),
        ..Faults::default()
    });
    let t = Instant::now();
    let r = answer(&url).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let runtime: f64 = r.headers()["x-runtime"].to_str().unwrap().parse().unwrap();
    assert!(runtime < 0.15, "x-runtime {runtime} counts the network");

    // Jitter spreads each answer's latency over latency ± jitter.
    sim.set_faults(Faults {
        latency: Some(Duration::from_millis(200)),
        latency_jitter: Some(Duration::from_millis(150)),
        ..Faults::default()
    });
    let mut took = Vec::new();
    for _ in 0..12 {
        let t = Instant::now();
        assert_eq!(get(&url).await.unwrap().0, 200);
        took.push(t.elapsed());
    }
    assert!(
        took.iter().all(|t| *t >= Duration::from_millis(50)),
        "{took:?}"
    );
    assert!(
        took.iter().any(|t| *t < Duration::from_millis(180)),
        "{took:?}"
    );
    assert!(
        took.iter().any(|t| *t > Duration::from_millis(220)),
        "{took:?}"
    );

    sim.set_faults(Faults {
        slow_body: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    let t = Instant::now();
    let (status, body) = get(&url).await.unwrap();
    assert_eq!(status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"],
        2
    );

    sim.set_faults(Faults::default());
    let t = Instant::now();
    assert_eq!(get(&url).await.unwrap().0, 200);
    assert!(t.elapsed() < Duration::from_millis(300));
}
