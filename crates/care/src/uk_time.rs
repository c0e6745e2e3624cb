//! UK local time (GMT, or BST from 01:00 UTC on the last Sunday of March to 01:00 UTC on
//! the last Sunday of October), as the people in a home read a clock: the pages show it,
//! the documents print it, and the rules count a person's life from midnight of their
//! birthday in it. Pure arithmetic on chrono, no time zone database: the UK's rule has been
//! the same since 1996, and the ledger's times before then are rare (a date of birth is a
//! date, not an instant).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Weekday};

/// The last Sunday of `month` in `year`, at 01:00 (UTC): when the clocks change.
fn change(year: i32, month: u32) -> NaiveDateTime {
    let first_of_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    let mut d = first_of_next.and_then(|d| d.pred_opt()).unwrap_or_default();
    while d.weekday() != Weekday::Sun {
        d = d.pred_opt().unwrap_or_default();
    }
    d.and_hms_opt(1, 0, 0).unwrap_or_default()
}

/// UK local time for a UTC instant, in microseconds since the Unix epoch.
pub fn local(us: i64) -> NaiveDateTime {
    let utc = chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .naive_utc();
    if utc >= change(utc.year(), 3) && utc < change(utc.year(), 10) {
        utc + Duration::hours(1)
    } else {
        utc
    }
}

/// The UTC instant of a UK local time. In the hour the clocks go back, which repeats, the
/// first (BST) is meant; in the hour they go forward, which does not exist, `None`.
pub fn instant(local_time: NaiveDateTime) -> Option<i64> {
    [1, 0]
        .into_iter()
        .filter_map(|offset| local_time.checked_sub_signed(Duration::hours(offset)))
        .map(|t| t.and_utc().timestamp_micros())
        .find(|us| local(*us) == local_time)
}

/// The instant a UK day begins: midnight, which always exists (the clocks change at 01:00
/// GMT and 02:00 BST).
pub fn start_of_day(day: NaiveDate) -> i64 {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    instant(midnight).unwrap_or_else(|| midnight.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn british_summer_time_starts_and_ends_at_one_in_the_morning_utc() {
        let show = |us| local(us).format("%d %b %H:%M").to_string();
        assert_eq!(show(at("2026-12-01T09:14:00Z")), "01 Dec 09:14");
        assert_eq!(show(at("2026-07-01T09:14:00Z")), "01 Jul 10:14");
        assert_eq!(show(at("2026-03-29T00:59:00Z")), "29 Mar 00:59");
        assert_eq!(show(at("2026-03-29T01:00:00Z")), "29 Mar 02:00");
        assert_eq!(show(at("2026-10-25T00:59:00Z")), "25 Oct 01:59");
        assert_eq!(show(at("2026-10-25T01:00:00Z")), "25 Oct 01:00");
        // A December change date computes its month's end in the next year.
        assert_eq!(change(2026, 12).date().to_string(), "2026-12-27");
    }

    #[test]
    fn a_uk_day_starts_at_its_midnight() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // Summer: midnight BST is 23:00 UTC the day before.
        assert_eq!(start_of_day(day("1948-07-05")), at("1948-07-04T23:00:00Z"));
        assert_eq!(start_of_day(day("2026-07-05")), at("2026-07-04T23:00:00Z"));
        // Winter, and both change days (midnight is before 01:00 UTC on each).
        assert_eq!(start_of_day(day("2026-12-05")), at("2026-12-05T00:00:00Z"));
        assert_eq!(start_of_day(day("2026-03-29")), at("2026-03-29T00:00:00Z"));
        assert_eq!(start_of_day(day("2026-10-25")), at("2026-10-24T23:00:00Z"));
    }

    #[test]
    fn the_hour_that_repeats_means_the_first_and_the_hour_skipped_is_none() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        assert_eq!(
            instant(t("2026-10-25 01:30")),
            Some(at("2026-10-25T00:30:00Z"))
        );
        assert_eq!(instant(t("2026-03-29 01:30")), None);
        assert_eq!(
            instant(t("2026-03-29 02:30")),
            Some(at("2026-03-29T01:30:00Z"))
        );
    }
}
