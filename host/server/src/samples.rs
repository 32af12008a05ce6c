//! Each token's governor, sampled every second for the last 10 minutes:
//! the modelled bucket level and the requests let through. The console's
//! token charts draw them, as server-rendered SVG.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the governors are sampled.
pub const EVERY: Duration = Duration::from_secs(1);

/// How many samples are kept per token: 10 minutes.
pub const KEPT: usize = 600;

/// One reading of one token's governor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix seconds.
    pub at: u64,
    /// The modelled bucket's free units.
    pub headroom: f64,
    /// The bucket's high-water mark.
    pub hwm: f64,
    /// Requests let through so far.
    pub granted: u64,
    /// Throttled answers so far.
    pub throttled: u64,
}

impl Sample {
    /// The bucket's modelled level (units in it).
    pub fn level(&self) -> f64 {
        (self.hwm - self.headroom).clamp(0.0, self.hwm)
    }
}

/// The samples of every token (by token id), newest last.
#[derive(Default)]
pub struct Samples {
    by_token: Mutex<HashMap<String, VecDeque<Sample>>>,
}

impl Samples {
    /// Keep `s` for `token`, dropping what is older than [`KEPT`] samples.
    pub fn record(&self, token: &str, s: Sample) {
        let mut map = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        let q = map.entry(token.to_owned()).or_default();
        q.push_back(s);
        while q.len() > KEPT {
            q.pop_front();
        }
    }

    /// `token`'s samples, oldest first.
    pub fn of(&self, token: &str) -> Vec<Sample> {
        let map = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        map.get(token)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// `token`'s newest sample.
    pub fn last(&self, token: &str) -> Option<Sample> {
        let map = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        map.get(token).and_then(|q| q.back().copied())
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Sample every open connection's governor every [`EVERY`] until the task
/// is aborted.
pub fn spawn(server: Arc<crate::Server>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let at = unix_now();
            for (_, token, g, hwm) in server.connections.stats().await {
                server.samples.record(
                    &token,
                    Sample {
                        at,
                        headroom: g.headroom,
                        hwm,
                        granted: g.granted,
                        throttled: g.throttled,
                    },
                );
            }
        }
    })
}

/// Chart size.
const W: f64 = 720.0;
const H: f64 = 200.0;
const PAD_L: f64 = 44.0;
const PAD_R: f64 = 44.0;
const PAD_T: f64 = 16.0;
const PAD_B: f64 = 24.0;

/// An SVG of `samples`: the bucket's level (solid, left axis, units) and
/// requests per second (dashed, right axis), over the last 10 minutes.
pub fn chart(samples: &[Sample]) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">"#
    );
    let _ = write!(
        svg,
        "<title>Bucket level (solid, units) and requests per second (dashed) over the last minutes</title>"
    );
    let _ = write!(
        svg,
        r#"<style>.level{{fill:none;stroke:#1f5fa8;stroke-width:2}}.rate{{fill:none;stroke:#8a5a00;stroke-width:1.5;stroke-dasharray:4 3}}.axis{{stroke:#d5dae0}}text{{font:11px sans-serif;fill:#56606b}}</style>"#
    );
    let (x0, x1, y0, y1) = (PAD_L, W - PAD_R, H - PAD_B, PAD_T);
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}"/><line class="axis" x1="{x0}" y1="{y1}" x2="{x0}" y2="{y0}"/><line class="axis" x1="{x1}" y1="{y1}" x2="{x1}" y2="{y0}"/>"#
    );
    let Some(last) = samples.last() else {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}">No requests on this token since the server started.</text></svg>"#,
            PAD_L + 10.0,
            H / 2.0
        );
        return svg;
    };
    let hwm = last.hwm.max(1.0);
    let end = last.at;
    // The last 10 minutes, or less while the server has sampled less (at
    // least a minute), so a young server's chart is not a sliver.
    let span = end
        .saturating_sub(samples[0].at)
        .clamp(60, KEPT as u64 * EVERY.as_secs());
    let start = end.saturating_sub(span);
    let x = |t: u64| x0 + (t.saturating_sub(start)) as f64 / span as f64 * (x1 - x0);
    // Requests per second between consecutive samples.
    let rates: Vec<(u64, f64)> = samples
        .windows(2)
        .map(|w| {
            let dt = w[1].at.saturating_sub(w[0].at).max(1) as f64;
            (
                w[1].at,
                w[1].granted.saturating_sub(w[0].granted) as f64 / dt,
            )
        })
        .collect();
    let max_rate = rates.iter().map(|r| r.1).fold(1.0_f64, f64::max).ceil();
    let level_y = |l: f64| y0 - l / hwm * (y0 - y1);
    let rate_y = |r: f64| y0 - r / max_rate * (y0 - y1);
    let points = |pts: &mut dyn Iterator<Item = (f64, f64)>| {
        pts.map(|(a, b)| format!("{a:.1},{b:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let level = points(&mut samples.iter().map(|s| (x(s.at), level_y(s.level()))));
    let rate = points(&mut rates.iter().map(|(t, r)| (x(*t), rate_y(*r))));
    let _ = write!(svg, r#"<polyline class="level" points="{level}"/>"#);
    if !rates.is_empty() {
        let _ = write!(svg, r#"<polyline class="rate" points="{rate}"/>"#);
    }
    let _ = write!(
        svg,
        r#"<text x="2" y="{}">{hwm:.0}</text><text x="2" y="{y0}">0</text><text x="{}" y="{}">{max_rate:.0}/s</text><text x="{}" y="{y0}">0/s</text>"#,
        y1 + 8.0,
        x1 + 4.0,
        y1 + 8.0,
        x1 + 4.0
    );
    let _ = write!(
        svg,
        r#"<text x="{x0}" y="{}">{} ago</text><text x="{}" y="{}">now: level {:.0} of {hwm:.0}, {} requests, {} throttled</text></svg>"#,
        H - 6.0,
        if span >= 120 {
            format!("{} min", span / 60)
        } else {
            format!("{span} s")
        },
        x1 - 300.0,
        H - 6.0,
        last.level(),
        last.granted,
        last.throttled
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at: u64, headroom: f64, granted: u64) -> Sample {
        Sample {
            at,
            headroom,
            hwm: 700.0,
            granted,
            throttled: 0,
        }
    }

    #[test]
    fn only_the_last_ten_minutes_are_kept() {
        let samples = Samples::default();
        for i in 0..(KEPT as u64 + 50) {
            samples.record("t1", s(i, 700.0, i));
        }
        let kept = samples.of("t1");
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].at, 50);
        assert_eq!(samples.last("t1").map(|s| s.at), Some(KEPT as u64 + 49));
        assert!(samples.of("t2").is_empty());
    }

    #[test]
    fn the_chart_draws_the_level_and_the_rate() {
        // 10 requests a second, the bucket filling to 100 units.
        let samples: Vec<Sample> = (0..60).map(|i| s(1_000 + i, 600.0, i * 10)).collect();
        let svg = chart(&samples);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains(r#"class="level""#));
        assert!(svg.contains(r#"class="rate""#));
        assert!(
            svg.contains("10/s"),
            "the rate axis tops at the peak: {svg}"
        );
        assert!(svg.contains("level 100 of 700"), "{svg}");
        assert!(
            svg.contains("60 s ago"),
            "a minute of samples spans the chart: {svg}"
        );
        let empty = chart(&[]);
        assert!(empty.contains("No requests"), "{empty}");
    }
}
