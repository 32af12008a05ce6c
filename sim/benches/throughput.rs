//! Benchmark: requests per second the simulator serves for a paged list
//! endpoint over loopback, throttling cost zero, `district` preset.
//!
//! Run: `cargo bench -p easel-sim --bench throughput`
//! The load generator shares the machine's two cores with the server, so
//! the figure is a lower bound on what the simulator can serve.
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code fails loudly

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use easel_sim::{Preset, SimConfig, Simulator, ThrottleConfig};

const CONCURRENCY: usize = 32;
const DURATION: Duration = Duration::from_secs(5);

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let started = Instant::now();
        let sim = Simulator::start(SimConfig {
            preset: Preset::District,
            admin_token: Some("7~bench".into()),
            throttle: ThrottleConfig {
                request_cost: 0.0,
                ..ThrottleConfig::default()
            },
            record_requests: false,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let (schools, courses) = sim.with_data(|d| (d.schools().iter().map(|s| s.id).collect::<Vec<_>>(), d.courses.len()));
        println!("district preset: {} schools, {courses} courses, generated and served in {:?}", schools.len(), started.elapsed());
        let client = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY).build().unwrap();
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + DURATION;
        let tasks: Vec<_> = (0..CONCURRENCY)
            .map(|i| {
                let (client, done, failed, url, schools) = (client.clone(), done.clone(), failed.clone(), sim.url().to_owned(), schools.clone());
                tokio::spawn(async move {
                    let mut n = i;
                    while Instant::now() < deadline {
                        let school = schools[n % schools.len()];
                        let page = n % 3 + 1;
                        n += CONCURRENCY;
                        let r = client
                            .get(format!("{url}/api/v1/accounts/{school}/courses?per_page=20&page={page}"))
                            .bearer_auth("7~bench")
                            .header("user-agent", "bench")
                            .send()
                            .await;
                        match r {
                            Ok(r) if r.status().is_success() => {
                                r.bytes().await.unwrap();
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        let t = Instant::now();
        for task in tasks {
            task.await.unwrap();
        }
        let secs = t.elapsed().as_secs_f64();
        let n = done.load(Ordering::Relaxed);
        println!("GET /api/v1/accounts/:school/courses?per_page=20&page=1..3, {CONCURRENCY} connections, {secs:.1} s:");
        println!("  {n} requests, {:.0} requests/s, {} failed   target >= 5000 requests/s", n as f64 / secs, failed.load(Ordering::Relaxed));
    });
}
