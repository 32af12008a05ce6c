//! Cron expressions (the five standard fields) and their fire times in a
//! time zone, daylight saving included.
//!
//! A schedule names wall-clock times in its zone. Each matching wall-clock
//! time fires once: on the spring-forward day a time in the skipped hour
//! (02:30) fires at the first instant after the gap (03:30 in the new
//! offset); on the fall-back day a time in the repeated hour (01:30) fires
//! at its first occurrence only. Two wall-clock times that land on the same
//! instant fire once.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// How far ahead a next fire time is looked for (a `30 2 29 2 *` schedule
/// fires every leap year; no valid expression waits longer).
const SEARCH_DAYS: i32 = 366 * 8 + 2;

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: Vec<i8>,
    hours: Vec<i8>,
    days: Vec<i8>,
    months: Vec<i8>,
    weekdays: Vec<i8>,
    /// Day of month restricted (not `*`).
    days_restricted: bool,
    /// Day of week restricted (not `*`).
    weekdays_restricted: bool,
}

fn field(text: &str, name: &str, lo: i8, hi: i8, names: &[&str]) -> Result<Vec<i8>, String> {
    let value = |s: &str| -> Result<i8, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(lo + i as i8);
        }
        s.parse::<i8>()
            .ok()
            .filter(|v| (lo..=hi).contains(v) || (name == "day of week" && *v == 7))
            .map(|v| {
                if name == "day of week" && v == 7 {
                    0
                } else {
                    v
                }
            })
            .ok_or_else(|| format!("{name} {s:?} is not a number from {lo} to {hi}"))
    };
    let mut out = Vec::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step = s
                    .parse::<i8>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{name}: step {s:?} is not a positive number"))?;
                (r, step)
            }
            None => (part, 1),
        };
        let (from, to) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if part.contains('/') { hi } else { v })
        };
        if from > to {
            return Err(format!("{name}: range {range:?} runs backwards"));
        }
        let mut v = from;
        while v <= to {
            out.push(v);
            v = v.saturating_add(step);
            if step == 0 {
                break;
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

impl Cron {
    /// Parse `minute hour day-of-month month day-of-week`, each `*`, a
    /// number, a range `a-b`, a step `*/n` or `a-b/n`, or a list of those;
    /// months and weekdays also by name (`jan`, `mon`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = parts.as_slice() else {
            return Err(format!(
                "{text:?} is not a cron expression: give five fields, minute hour day-of-month month day-of-week, e.g. \"0 6 * * 1-5\""
            ));
        };
        const MONTHS: &[&str] = &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ];
        const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
        Ok(Self {
            text: parts.join(" "),
            minutes: field(minute, "minute", 0, 59, &[])?,
            hours: field(hour, "hour", 0, 23, &[])?,
            days: field(day, "day of month", 1, 31, &[])?,
            months: field(month, "month", 1, 12, MONTHS)?,
            weekdays: field(weekday, "day of week", 0, 6, DAYS)?,
            days_restricted: *day != "*",
            weekdays_restricted: *weekday != "*",
        })
    }

    /// The expression, normalised.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn day_matches(&self, d: Date) -> bool {
        if !self.months.contains(&d.month()) {
            return false;
        }
        let dom = self.days.contains(&d.day());
        let dow = self.weekdays.contains(&d.weekday().to_sunday_zero_offset());
        // As cron has it: when both are restricted, either one will do.
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first fire time strictly after `after`, in `tz`.
    pub fn next_after(&self, tz: &TimeZone, after: Timestamp) -> Option<Timestamp> {
        let start = after.to_zoned(tz.clone()).date();
        // A day back: a wall-clock time of the day before can land after
        // `after` across an offset change.
        let mut date = start.yesterday().ok()?;
        for _ in 0..SEARCH_DAYS {
            if self.day_matches(date) {
                let mut last: Option<Timestamp> = None;
                for &h in &self.hours {
                    for &m in &self.minutes {
                        let civil = DateTime::from_parts(date, jiff::civil::time(h, m, 0, 0));
                        let Ok(at) = tz.to_zoned(civil) else {
                            continue;
                        };
                        let at = at.timestamp();
                        // Two wall-clock times on one instant fire once.
                        if last.is_some_and(|l| at <= l) {
                            continue;
                        }
                        last = Some(at);
                        if at > after {
                            return Some(at);
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// Up to `n` fire times after `after`.
    pub fn next(&self, tz: &TimeZone, after: Timestamp, n: usize) -> Vec<Timestamp> {
        let mut out = Vec::with_capacity(n);
        let mut at = after;
        while out.len() < n {
            match self.next_after(tz, at) {
                Some(t) => {
                    out.push(t);
                    at = t;
                }
                None => break,
            }
        }
        out
    }
}

/// A time zone by its IANA name, e.g. `America/Chicago`.
pub fn time_zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!("{name:?} is not a time zone easel knows: give an IANA name such as America/Chicago or UTC")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn fires(cron: &str, tz: &str, from: &str, n: usize) -> Vec<String> {
        let tz = time_zone(tz).unwrap();
        Cron::parse(cron)
            .unwrap()
            .next(&tz, at(from), n)
            .into_iter()
            .map(|t| t.to_zoned(tz.clone()).to_string())
            .collect()
    }

    #[test]
    fn weekday_mornings_in_chicago() {
        // 2026-12-04 is a Friday.
        assert_eq!(
            fires("0 6 * * 1-5", "America/Chicago", "2026-12-04T13:00:00Z", 3),
            [
                "2026-12-07T06:00:00-06:00[America/Chicago]",
                "2026-12-08T06:00:00-06:00[America/Chicago]",
                "2026-12-09T06:00:00-06:00[America/Chicago]",
            ]
        );
    }

    #[test]
    fn a_time_in_the_skipped_hour_fires_once_on_the_spring_forward_day() {
        // Chicago springs forward at 02:00 on 2027-03-14: 02:30 does not
        // exist that day.
        assert_eq!(
            fires("30 2 * * *", "America/Chicago", "2027-03-13T00:00:00Z", 3),
            [
                "2027-03-13T02:30:00-06:00[America/Chicago]",
                "2027-03-14T03:30:00-05:00[America/Chicago]",
                "2027-03-15T02:30:00-05:00[America/Chicago]",
            ]
        );
        // 02:30 and 03:30 land on one instant that day: one fire.
        assert_eq!(
            fires("30 2,3 * * *", "America/Chicago", "2027-03-14T06:00:00Z", 2),
            [
                "2027-03-14T03:30:00-05:00[America/Chicago]",
                "2027-03-15T02:30:00-05:00[America/Chicago]",
            ]
        );
    }

    #[test]
    fn times_fire_once_on_the_fall_back_day() {
        // Chicago falls back at 02:00 on 2026-11-01: 01:30 happens twice.
        assert_eq!(
            fires("30 1 * * *", "America/Chicago", "2026-10-31T12:00:00Z", 3),
            [
                "2026-11-01T01:30:00-05:00[America/Chicago]",
                "2026-11-02T01:30:00-06:00[America/Chicago]",
                "2026-11-03T01:30:00-06:00[America/Chicago]",
            ]
        );
        assert_eq!(
            fires("30 2 * * *", "America/Chicago", "2026-10-31T12:00:00Z", 2),
            [
                "2026-11-01T02:30:00-06:00[America/Chicago]",
                "2026-11-02T02:30:00-06:00[America/Chicago]",
            ]
        );
        // Every half hour across the repeated hour: 01:00 and 01:30 once
        // each, not twice.
        let got = fires("0,30 * * * *", "America/Chicago", "2026-11-01T05:45:00Z", 4);
        assert_eq!(
            got,
            [
                "2026-11-01T01:00:00-05:00[America/Chicago]",
                "2026-11-01T01:30:00-05:00[America/Chicago]",
                "2026-11-01T02:00:00-06:00[America/Chicago]",
                "2026-11-01T02:30:00-06:00[America/Chicago]",
            ]
        );
    }

    #[test]
    fn fields_parse_as_cron_has_them() {
        // Day of month and day of week both restricted: either will do.
        assert_eq!(
            fires("0 0 1 * mon", "UTC", "2026-12-01T00:00:00Z", 3),
            [
                "2026-12-07T00:00:00+00:00[UTC]",
                "2026-12-14T00:00:00+00:00[UTC]",
                "2026-12-21T00:00:00+00:00[UTC]",
            ]
        );
        assert_eq!(
            fires("*/20 9 * jan sun", "UTC", "2027-01-01T00:00:00Z", 4),
            [
                "2027-01-03T09:00:00+00:00[UTC]",
                "2027-01-03T09:20:00+00:00[UTC]",
                "2027-01-03T09:40:00+00:00[UTC]",
                "2027-01-10T09:00:00+00:00[UTC]",
            ]
        );
        // Leap day, years apart; 7 is Sunday too.
        assert_eq!(
            fires("0 12 29 2 *", "UTC", "2026-12-01T00:00:00Z", 1),
            ["2028-02-29T12:00:00+00:00[UTC]"]
        );
        assert_eq!(Cron::parse("0 0 * * 7").unwrap().weekdays, vec![0]);
        for bad in [
            "0 6 * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "5-1 * * * *",
            "*/0 * * * *",
            "a * * * *",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad}");
        }
        assert!(time_zone("America/Nowhere").is_err());
    }
}
