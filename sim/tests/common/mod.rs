//! A small client for the simulator's tests: one call, its status, JSON
//! body and headers.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)] // shared by test crates that use parts of it

use easel_sim::{SimConfig, SimHandle, Simulator};
use serde_json::Value;

/// What came back.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// The `Link` header ("" when absent).
    pub fn link(&self) -> String {
        self.headers
            .get("link")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    /// The URL of one `Link` relation.
    pub fn rel(&self, rel: &str) -> Option<String> {
        self.link().split(',').find_map(|l| {
            let (url, r) = l.split_once(';')?;
            (r.trim() == format!("rel=\"{rel}\"")).then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
        })
    }

    /// The body as a list's ids.
    pub fn ids(&self) -> Vec<u64> {
        self.body
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {}", self.body))
            .iter()
            .map(|v| v["id"].as_u64().unwrap())
            .collect()
    }
}

/// A client with a token.
pub struct Api<'a> {
    pub sim: &'a SimHandle,
    pub token: String,
    client: reqwest::Client,
}

impl<'a> Api<'a> {
    /// As the root admin.
    pub fn admin(sim: &'a SimHandle) -> Self {
        Self::with_token(sim, sim.admin_token())
    }

    pub fn with_token(sim: &'a SimHandle, token: &str) -> Self {
        Api {
            sim,
            token: token.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    /// Any call: `body` is (content type, text).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
    ) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.sim.url())
        };
        let mut req = self
            .client
            .request(method, url)
            .bearer_auth(&self.token)
            .header("user-agent", "easel-sim-tests");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some((ct, b)) = body {
            req = req.header("content-type", ct).body(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(reqwest::Method::GET, path, &[], None).await
    }

    pub async fn form(&self, method: reqwest::Method, path: &str, form: &str) -> Answer {
        self.call(
            method,
            path,
            &[],
            Some(("application/x-www-form-urlencoded", form.to_owned())),
        )
        .await
    }

    pub async fn json(&self, method: reqwest::Method, path: &str, body: Value) -> Answer {
        self.call(
            method,
            path,
            &[],
            Some(("application/json", body.to_string())),
        )
        .await
    }
}

/// A simulator with regular data (no seeded irregularities), for tests
/// that need exact data.
pub async fn regular_sim() -> SimHandle {
    Simulator::start(SimConfig {
        irregular_rate: 0.0,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// A simulator with the default irregularities.
pub async fn sim() -> SimHandle {
    Simulator::start(SimConfig::default()).await.unwrap()
}
