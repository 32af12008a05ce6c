//! Cron expressions (the five standard fields) and their fire times in a
//! time zone, daylight saving included.
//!
//! A schedule names wall-clock times in its zone. Each matching wall-clock
//! time fires at most once: on the spring-forward day a time in the
//! skipped hour (02:30) fires shifted by the gap (03:30 in the new offset);
//! on the fall-back day a time in the repeated hour (01:30) fires at its
//! first occurrence only. Two wall-clock times that land on the same
//! instant fire once; a day's times fire in the order of their instants
//! (zones that shift by half an hour included).

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
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse::<i8>().ok())
            .flatten()
            .filter(|v| (lo..=hi).contains(v))
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
    if name == "day of week" {
        // 7 is Sunday too.
        for v in &mut out {
            if *v == 7 {
                *v = 0;
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
            weekdays: field(weekday, "day of week", 0, 7, DAYS)?,
            // As Vixie cron has it: a field starting with `*` (`*/2`
            // included) does not restrict.
            days_restricted: !day.starts_with('*'),
            weekdays_restricted: !weekday.starts_with('*'),
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
        // As Vixie cron has it: when both are restricted, either one will
        // do; otherwise both must hold (a `*` field holds every day).
        if self.days_restricted && self.weekdays_restricted {
            dom || dow
        } else {
            dom && dow
        }
    }

    /// Fire times strictly after `after`, in `tz`, in order.
    pub fn fires_after(&self, tz: &TimeZone, after: Timestamp) -> Fires<'_> {
        // From the day before: a wall-clock time of the day before can
        // land after `after` across an offset change.
        let start = after.to_zoned(tz.clone()).date();
        Fires {
            cron: self,
            tz: tz.clone(),
            after,
            date: start.yesterday().ok(),
            days_left: SEARCH_DAYS,
            pending: std::collections::VecDeque::new(),
        }
    }

    /// The first fire time strictly after `after`, in `tz`.
    pub fn next_after(&self, tz: &TimeZone, after: Timestamp) -> Option<Timestamp> {
        self.fires_after(tz, after).next()
    }

    /// Up to `n` fire times after `after`.
    pub fn next(&self, tz: &TimeZone, after: Timestamp, n: usize) -> Vec<Timestamp> {
        self.fires_after(tz, after).take(n).collect()
    }

    /// Does it ever fire (`0 0 31 2 *` does not)?
    pub fn ever_fires(&self, tz: &TimeZone) -> bool {
        self.next_after(tz, Timestamp::now()).is_some()
    }

    /// The fire times in a day, by instant, once each.
    fn day(&self, tz: &TimeZone, date: Date) -> Vec<Timestamp> {
        if !self.day_matches(date) {
            return Vec::new();
        }
        let mut out: Vec<Timestamp> = self
            .hours
            .iter()
            .flat_map(|&h| self.minutes.iter().map(move |&m| (h, m)))
            .filter_map(|(h, m)| {
                let civil = DateTime::from_parts(date, jiff::civil::time(h, m, 0, 0));
                tz.to_zoned(civil).ok().map(|z| z.timestamp())
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// A cron expression's fire times after some instant, day by day.
pub struct Fires<'a> {
    cron: &'a Cron,
    tz: TimeZone,
    /// Only times after this (moves to each time given).
    after: Timestamp,
    date: Option<Date>,
    days_left: i32,
    pending: std::collections::VecDeque<Timestamp>,
}

impl Iterator for Fires<'_> {
    type Item = Timestamp;

    fn next(&mut self) -> Option<Timestamp> {
        loop {
            if let Some(t) = self.pending.pop_front() {
                self.after = t;
                return Some(t);
            }
            if self.days_left <= 0 {
                return None;
            }
            let date = self.date?;
            let after = self.after;
            self.pending = self
                .cron
                .day(&self.tz, date)
                .into_iter()
                .filter(|t| *t > after)
                .collect();
            self.date = date.tomorrow().ok();
            self.days_left -= 1;
        }
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
    fn a_half_hour_shift_keeps_every_time_in_order() {
        // Lord Howe springs forward half an hour at 02:00 on 2026-10-04:
        // 02:00..02:29 do not exist. 02:00 fires shifted to 02:30, 02:20 to
        // 02:50, and 02:40, which exists, between them: all three, in order.
        assert_eq!(
            fires(
                "*/20 2 4 10 *",
                "Australia/Lord_Howe",
                "2026-10-03T00:00:00Z",
                3
            ),
            [
                "2026-10-04T02:30:00+11:00[Australia/Lord_Howe]",
                "2026-10-04T02:40:00+11:00[Australia/Lord_Howe]",
                "2026-10-04T02:50:00+11:00[Australia/Lord_Howe]",
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
        assert_eq!(
            Cron::parse("0 0 * * 0-7").unwrap().weekdays,
            vec![0, 1, 2, 3, 4, 5, 6]
        );
        assert_eq!(Cron::parse("0 0 * * 5-7").unwrap().weekdays, vec![0, 5, 6]);
        // `*/2` days do not restrict: with a weekday, both must hold.
        assert_eq!(
            fires("0 0 */2 * 1", "UTC", "2026-12-01T00:00:00Z", 2),
            [
                "2026-12-07T00:00:00+00:00[UTC]",
                "2026-12-21T00:00:00+00:00[UTC]",
            ]
        );
        let utc = time_zone("UTC").unwrap();
        assert!(!Cron::parse("0 0 31 2 *").unwrap().ever_fires(&utc));
        assert!(Cron::parse("0 0 29 2 *").unwrap().ever_fires(&utc));
        for bad in [
            "0 6 * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "5-1 * * * *",
            "*/0 * * * *",
            "a * * * *",
            "+1 * * * *",
            "* * * * 8",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad}");
        }
        assert!(time_zone("America/Nowhere").is_err());
    }
}
