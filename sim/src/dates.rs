//! Timestamps as Canvas writes them: UTC with `Z` for most fields, and a
//! few in the account's time zone with its offset (a user's `created_at`,
//! a login's, a SIS import's), as Canvas renders those with the request's
//! time zone (shared/CANVAS.md: "usually `Z`, sometimes with an offset").
//!
//! The data keeps every time in UTC; `local` converts one for the wire.
//! Only the US time zones the generator uses are modelled (with the rules
//! in force since 2007); any other zone is shown as UTC.

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

/// Now, in UTC, to the second (for objects created through the API).
pub(crate) fn now() -> String {
    let now = OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&Rfc3339).unwrap_or_default()
}

/// `utc` (RFC 3339) shown in `zone` with its offset, e.g.
/// `2026-08-17T05:00:00Z` in `America/Chicago` is `2026-08-17T00:00:00-05:00`.
/// Text that is not a timestamp is returned as it is.
pub(crate) fn local(utc: &str, zone: &str) -> String {
    let Ok(at) = OffsetDateTime::parse(utc, &Rfc3339) else {
        return utc.to_owned();
    };
    let Some(standard) = standard_offset_hours(zone) else {
        return utc.to_owned();
    };
    let hours = if in_us_daylight_time(at, standard) {
        standard + 1
    } else {
        standard
    };
    let Ok(offset) = UtcOffset::from_hms(hours, 0, 0) else {
        return utc.to_owned();
    };
    at.to_offset(offset)
        .format(&Rfc3339)
        .unwrap_or_else(|_| utc.to_owned())
}

fn standard_offset_hours(zone: &str) -> Option<i8> {
    match zone {
        "America/New_York" => Some(-5),
        "America/Chicago" => Some(-6),
        "America/Denver" => Some(-7),
        "America/Los_Angeles" => Some(-8),
        _ => None,
    }
}

/// US daylight saving time: from 2:00 local standard time on the second
/// Sunday of March to 2:00 local daylight time on the first Sunday of
/// November.
fn in_us_daylight_time(at: OffsetDateTime, standard: i8) -> bool {
    let year = at.year();
    let start = nth_sunday(year, Month::March, 2);
    let end = nth_sunday(year, Month::November, 1);
    let (Some(start), Some(end)) = (start, end) else {
        return false;
    };
    // 02:00 standard time, and 02:00 daylight (= 01:00 standard) time, in UTC.
    let utc = |day: Date, local_hour: i8| {
        let at = PrimitiveDateTime::new(day, Time::MIDNIGHT).assume_utc();
        at + time::Duration::hours(i64::from(local_hour - standard))
    };
    let at = at.to_offset(UtcOffset::UTC);
    at >= utc(start, 2) && at < utc(end, 1)
}

fn nth_sunday(year: i32, month: Month, n: u8) -> Option<Date> {
    let first = Date::from_calendar_date(year, month, 1).ok()?;
    let to_sunday = (7 - first.weekday().number_days_from_sunday()) % 7;
    let day = 1 + to_sunday + 7 * (n - 1);
    let date = Date::from_calendar_date(year, month, day).ok()?;
    (date.weekday() == Weekday::Sunday).then_some(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chicago_is_five_hours_behind_in_summer_and_six_in_winter() {
        assert_eq!(
            local("2026-08-17T05:00:00Z", "America/Chicago"),
            "2026-08-17T00:00:00-05:00"
        );
        assert_eq!(
            local("2027-01-05T06:00:00Z", "America/Chicago"),
            "2027-01-05T00:00:00-06:00"
        );
    }

    #[test]
    fn the_change_happens_at_two_in_the_morning_local_time() {
        // 2026: DST from Sunday 8 March to Sunday 1 November.
        assert_eq!(
            local("2026-03-08T07:59:59Z", "America/Chicago"),
            "2026-03-08T01:59:59-06:00"
        );
        assert_eq!(
            local("2026-03-08T08:00:00Z", "America/Chicago"),
            "2026-03-08T03:00:00-05:00"
        );
        assert_eq!(
            local("2026-11-01T06:59:59Z", "America/Chicago"),
            "2026-11-01T01:59:59-05:00"
        );
        assert_eq!(
            local("2026-11-01T07:00:00Z", "America/Chicago"),
            "2026-11-01T01:00:00-06:00"
        );
    }

    #[test]
    fn an_unknown_zone_or_a_non_timestamp_is_left_as_it_is() {
        assert_eq!(
            local("2026-08-17T05:00:00Z", "Etc/UTC"),
            "2026-08-17T05:00:00Z"
        );
        assert_eq!(local("soon", "America/Chicago"), "soon");
    }
}
