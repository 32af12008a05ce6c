//! Canvas's per-token leaky bucket (shared/CANVAS.md, Throttling).
//!
//! Per request: leak at `outflow` units per second, add the up-front cost;
//! at or over the high-water mark the request is throttled (and its
//! up-front cost returned); otherwise it runs and, when done, the bucket
//! gets `cost - up_front` more. Every answer carries `x-request-cost` and
//! `x-rate-limit-remaining` (hwm - level).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// How a throttled request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleAnswer {
    /// `403 Forbidden (Rate Limit Exceeded)`, text/plain (classic Canvas).
    Forbidden,
    /// `429 Too Many Requests` (hosted Canvas since 2025).
    TooManyRequests,
}

/// What a request costs, in bucket units (Canvas charges the CPU and
/// database time a request took).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CostModel {
    /// Every request costs [`ThrottleConfig::request_cost`].
    #[default]
    Fixed,
    /// Drawn per request, uniformly, from its kind of endpoint's range:
    /// a listing with `include[]` 2–5 units, another listing 0.5–2, one
    /// object 0.2–1, a write 1–3 ([`CostModel::range`]).
    PerEndpoint,
}

impl CostModel {
    /// The range a request's cost is drawn from under
    /// [`CostModel::PerEndpoint`]: by method, whether the path ends in an
    /// object (a numeric id or `self`) or a collection, and whether the
    /// query asks for `include[]`.
    pub fn range(method: &str, path: &str, query: Option<&str>) -> (f64, f64) {
        if method != "GET" {
            return (1.0, 3.0);
        }
        let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        let object = last == "self" || last.parse::<u64>().is_ok() || last.starts_with("sis_");
        let includes = query.is_some_and(|q| q.contains("include"));
        match (object, includes) {
            (true, _) => (0.2, 1.0),
            (false, true) => (2.0, 5.0),
            (false, false) => (0.5, 2.0),
        }
    }
}

/// Bucket settings. Defaults are hosted Canvas's.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleConfig {
    /// Throttle at all?
    pub enabled: bool,
    /// High-water mark: at or above it requests are throttled.
    pub hwm: f64,
    /// The bucket never holds more than this.
    pub maximum: f64,
    /// Units leaked per second.
    pub outflow: f64,
    /// Reserved per request in flight.
    pub up_front: f64,
    /// Cost of one request (CPU + DB seconds in real Canvas), under
    /// [`CostModel::Fixed`].
    pub request_cost: f64,
    /// Whether every request costs the same.
    pub cost: CostModel,
    /// How a throttled request is answered.
    pub answer: ThrottleAnswer,
    /// Bucket seconds per real second (60 runs a minute in a second).
    pub time_scale: f64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            hwm: 700.0,
            maximum: 800.0,
            outflow: 10.0,
            up_front: 50.0,
            request_cost: 0.05,
            cost: CostModel::Fixed,
            answer: ThrottleAnswer::TooManyRequests,
            time_scale: 1.0,
        }
    }
}

/// One token's bucket; `now` is in bucket seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bucket {
    /// Current level.
    pub level: f64,
    /// When it last leaked.
    pub at: f64,
}

impl Bucket {
    fn leak(&mut self, now: f64, config: &ThrottleConfig) {
        let elapsed = (now - self.at).max(0.0);
        self.level = (self.level - elapsed * config.outflow).max(0.0);
        self.at = now;
    }

    /// A request arrives: `Ok(remaining)` if it may run (its up-front cost
    /// is now reserved), `Err(remaining)` if throttled.
    pub fn admit(&mut self, now: f64, config: &ThrottleConfig) -> Result<f64, f64> {
        self.leak(now, config);
        self.level = (self.level + config.up_front).min(config.maximum);
        if self.level >= config.hwm {
            self.level = (self.level - config.up_front).max(0.0);
            return Err(config.hwm - self.level);
        }
        Ok(config.hwm - self.level)
    }

    /// A request that was admitted is done; returns the remaining capacity.
    pub fn finish(&mut self, now: f64, cost: f64, config: &ThrottleConfig) -> f64 {
        self.leak(now, config);
        self.level = (self.level + cost - config.up_front).clamp(0.0, config.maximum);
        config.hwm - self.level
    }
}

/// Buckets by token.
#[derive(Debug)]
pub(crate) struct Throttle {
    pub(crate) config: Mutex<ThrottleConfig>,
    buckets: Mutex<HashMap<String, Bucket>>,
    start: Instant,
    pub(crate) throttled: std::sync::atomic::AtomicU64,
    pub(crate) seen: std::sync::atomic::AtomicU64,
    /// Units charged for finished requests, in millionths.
    pub(crate) charged_micro: std::sync::atomic::AtomicU64,
}

impl Throttle {
    pub(crate) fn new(config: ThrottleConfig) -> Self {
        Self {
            config: Mutex::new(config),
            buckets: Mutex::new(HashMap::new()),
            start: Instant::now(),
            throttled: std::sync::atomic::AtomicU64::new(0),
            seen: std::sync::atomic::AtomicU64::new(0),
            charged_micro: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(crate) fn config(&self) -> ThrottleConfig {
        self.config.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn now(&self, config: &ThrottleConfig) -> f64 {
        self.start.elapsed().as_secs_f64() * config.time_scale
    }

    pub(crate) fn admit(&self, token: &str) -> (ThrottleConfig, Result<f64, f64>) {
        self.seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let config = self.config();
        if !config.enabled {
            let hwm = config.hwm;
            return (config, Ok(hwm));
        }
        let now = self.now(&config);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let r = buckets
            .entry(token.to_owned())
            .or_default()
            .admit(now, &config);
        if r.is_err() {
            self.throttled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        (config, r)
    }

    pub(crate) fn level(&self, token: &str) -> f64 {
        let config = self.config();
        let now = self.now(&config);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.get_mut(token).map_or(0.0, |b| {
            b.leak(now, &config);
            b.level
        })
    }

    pub(crate) fn fill(&self, token: &str) {
        let config = self.config();
        let now = self.now(&config);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.insert(
            token.to_owned(),
            Bucket {
                level: config.maximum,
                at: now,
            },
        );
    }

    /// What this request costs under `config`.
    pub(crate) fn cost(
        config: &ThrottleConfig,
        method: &str,
        path: &str,
        query: Option<&str>,
    ) -> f64 {
        match config.cost {
            CostModel::Fixed => config.request_cost,
            CostModel::PerEndpoint => {
                let (low, high) = CostModel::range(method, path, query);
                low + rand::random::<f64>() * (high - low)
            }
        }
    }

    /// Charge a finished request `cost`; the headroom left.
    pub(crate) fn finish(&self, token: &str, config: &ThrottleConfig, cost: f64) -> f64 {
        if !config.enabled {
            return config.hwm;
        }
        self.charged_micro
            .fetch_add((cost * 1e6) as u64, std::sync::atomic::Ordering::Relaxed);
        let now = self.now(config);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets
            .entry(token.to_owned())
            .or_default()
            .finish(now, cost, config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_thirteen_requests_in_flight_fit_an_empty_bucket() {
        let config = ThrottleConfig::default();
        let mut b = Bucket::default();
        let admitted = (0..20)
            .take_while(|_| b.admit(0.0, &config).is_ok())
            .count();
        assert!((11..=13).contains(&admitted), "{admitted}");
    }

    #[test]
    fn the_bucket_leaks_at_the_outflow_rate() {
        let config = ThrottleConfig::default();
        let mut b = Bucket {
            level: 600.0,
            at: 0.0,
        };
        b.leak(10.0, &config);
        assert!((b.level - 500.0).abs() < 1e-9);
        b.leak(100.0, &config);
        assert_eq!(b.level, 0.0, "never below empty");
    }

    #[test]
    fn a_finished_request_leaves_only_its_cost() {
        let config = ThrottleConfig {
            request_cost: 0.5,
            ..ThrottleConfig::default()
        };
        let mut b = Bucket::default();
        assert_eq!(b.admit(0.0, &config), Ok(650.0));
        let remaining = b.finish(0.0, 0.5, &config);
        assert!((remaining - 699.5).abs() < 1e-9, "{remaining}");
    }

    #[test]
    fn sequential_requests_at_the_sustained_rate_are_never_throttled() {
        // outflow / cost requests per second is the sustainable maximum.
        let config = ThrottleConfig {
            request_cost: 1.0,
            ..ThrottleConfig::default()
        };
        let mut b = Bucket::default();
        for i in 0..10_000 {
            let t = f64::from(i) / 10.0; // 10 requests per second, cost 1 each
            assert!(b.admit(t, &config).is_ok(), "throttled at request {i}");
            b.finish(t, 1.0, &config);
        }
    }

    #[test]
    fn a_throttled_request_does_not_fill_the_bucket() {
        let config = ThrottleConfig::default();
        let mut b = Bucket {
            level: 690.0,
            at: 0.0,
        };
        assert!(b.admit(0.0, &config).is_err());
        assert!((b.level - 690.0).abs() < 1e-9);
    }
}
