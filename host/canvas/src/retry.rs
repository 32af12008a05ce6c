//! When to try a request again, and how long to wait.
//!
//! A throttled answer (429, or 403 whose body says "Rate Limit Exceeded")
//! means Canvas did not run the request, so any method is retried. A 5xx
//! or a connection failure may have happened after Canvas acted, so only
//! idempotent methods (GET, HEAD, PUT, DELETE) are retried, never POST.
//! Waits grow exponentially with full jitter, so runs sharing a token do
//! not retry in lockstep.

use std::time::Duration;

use bytes::Bytes;
use rand::Rng;

/// How many times and how long to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included, counting those that failed
    /// for a reason other than a throttle.
    pub max_attempts: u32,
    /// How long a request keeps being retried after throttled answers:
    /// its time at Canvas and its waits between tries, not its time in
    /// easel's own queue. A throttled request did not run, so trying
    /// again is always safe; another client holding the token near its
    /// limit can throttle many tries in a row, and a run should wait for
    /// its share rather than fail, within a run's time limit.
    pub throttled_for: Duration,
    /// The first wait's ceiling.
    pub base_delay: Duration,
    /// No wait is longer than this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            throttled_for: Duration::from_secs(240),
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// Why a request is worth another try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    /// Canvas throttled the token.
    Throttled,
    /// A 5xx answer to an idempotent request.
    ServerError(u16),
    /// No answer to an idempotent request.
    Connection,
}

impl std::fmt::Display for RetryReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetryReason::Throttled => f.write_str("throttled"),
            RetryReason::ServerError(s) => write!(f, "Canvas answered {s}"),
            RetryReason::Connection => f.write_str("no answer"),
        }
    }
}

/// Is this answer Canvas's throttle?
pub fn is_throttled(status: u16, body: &[u8]) -> bool {
    status == 429
        || (status == 403 && String::from_utf8_lossy(body).contains("Rate Limit Exceeded"))
}

/// May `method` be sent again after Canvas might have acted on it?
pub fn is_idempotent(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::PUT | http::Method::DELETE
    )
}

/// Whether to retry an answer.
pub(crate) fn retry_answer(
    method: &http::Method,
    status: u16,
    body: &Bytes,
) -> Option<RetryReason> {
    if is_throttled(status, body) {
        Some(RetryReason::Throttled)
    } else if (500..600).contains(&status) && is_idempotent(method) {
        Some(RetryReason::ServerError(status))
    } else {
        None
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt` (1 = the first retry): a random
    /// duration up to `base * 2^(attempt-1)`, capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let millis = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
    }
}
