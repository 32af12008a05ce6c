//! Failure notifications: when a run the queue ran does not succeed, a JSON
//! summary is POSTed to the operator's webhook, signed with HMAC-SHA256.
//!
//! The body names the run, plugin, school, instance, status and counts:
//! never a token, never the run's error text or report contents (a plugin
//! writes those, and they may hold student data); `easel runs show RUN`
//! has them. The receiver checks `x-easel-signature: sha256=<hex>`, the
//! HMAC of `<x-easel-timestamp>.<body>` under the shared key, and refuses
//! old timestamps.

use std::time::Duration;

use easel_app::AppError;
use easel_store::{RunRow, RunStatus};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Where failures are sent, and the key they are signed with.
pub struct Webhook {
    url: url::Url,
    key: Vec<u8>,
    client: reqwest::Client,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a secret of its own (a path or query token).
        f.debug_struct("Webhook")
            .field("host", &self.url.host_str())
            .finish_non_exhaustive()
    }
}

/// Fewest bytes of signing key.
pub const MIN_KEY_BYTES: usize = 16;

impl Webhook {
    /// A webhook to `url` (https, or http to a loopback address), signing
    /// with `key` (at least [`MIN_KEY_BYTES`]).
    pub fn new(url: &str, key: &[u8]) -> Result<Self, AppError> {
        let parsed = url::Url::parse(url).map_err(|e| {
            AppError::invalid(format!("the failure webhook URL does not parse: {e}"))
                .hint("write it whole, e.g. https://hooks.district.example/easel")
        })?;
        let loopback = matches!(parsed.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(parsed.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            || parsed.host_str() == Some("localhost");
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(AppError::invalid(
                    "the failure webhook must be https:// (or http:// to this machine)",
                ));
            }
        }
        let key: Vec<u8> = key.trim_ascii().to_vec();
        if key.len() < MIN_KEY_BYTES {
            return Err(AppError::invalid(format!(
                "the failure webhook's key has {} byte(s); it needs at least {MIN_KEY_BYTES}",
                key.len()
            ))
            .hint("e.g. `openssl rand -hex 32 > webhook.key`"));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "easel/",
                env!("CARGO_PKG_VERSION"),
                " (failure webhook)"
            ))
            .build()
            .map_err(AppError::internal)?;
        Ok(Self {
            url: parsed,
            key,
            client,
        })
    }

    /// The webhook's host (what logs name; its path and query may hold a
    /// secret).
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or("")
    }

    /// The body sent for `run`, which did not succeed.
    pub fn body(run: &RunRow, server: Option<&str>) -> serde_json::Value {
        serde_json::json!({
            "event": "run.failed",
            "run": run.id,
            "status": run.status.as_str(),
            "plugin": run.plugin_id,
            "digest": run.digest,
            "school": run.school,
            "instance": run.instance,
            "batch": run.batch,
            "dry_run": run.dry_run,
            "calls": run.calls,
            "denied": run.denied,
            "unknown_writes": run.unknown.len(),
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "server": server,
            "see": format!("easel runs show {}", run.id),
        })
    }

    /// `sha256=<hex>`: the HMAC of `<timestamp>.<body>`.
    pub fn signature(&self, timestamp: i64, body: &[u8]) -> String {
        sign(&self.key, timestamp, body)
    }

    /// Send `run`'s failure, retrying twice; a failure to deliver is
    /// logged (with the webhook's host only), never fatal.
    pub async fn send(&self, run: &RunRow, server: Option<&str>) {
        if run.status == RunStatus::Succeeded {
            return;
        }
        let body = Self::body(run, server).to_string();
        for (attempt, pause) in [0u64, 1, 5].into_iter().enumerate() {
            tokio::time::sleep(Duration::from_secs(pause)).await;
            let ts = time::OffsetDateTime::now_utc().unix_timestamp();
            let sent = self
                .client
                .post(self.url.clone())
                .header("content-type", "application/json")
                .header("x-easel-timestamp", ts.to_string())
                .header("x-easel-signature", self.signature(ts, body.as_bytes()))
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => tracing::warn!(
                    run = %run.id,
                    host = self.url.host_str().unwrap_or(""),
                    "the failure webhook answered {} (attempt {})",
                    r.status(),
                    attempt + 1
                ),
                Err(e) => tracing::warn!(
                    run = %run.id,
                    host = self.url.host_str().unwrap_or(""),
                    "the failure webhook could not be reached (attempt {}): {}",
                    attempt + 1,
                    e.without_url()
                ),
            }
        }
        tracing::warn!(
            run = %run.id,
            host = self.url.host_str().unwrap_or(""),
            "gave up reporting the run to the failure webhook after 3 attempts"
        );
    }
}

/// `sha256=<hex of HMAC-SHA256(key, "<timestamp>.<body>")>`.
pub fn sign(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}
