//! Several specs, excluded dates and jitter, against hand-made tables.

use super::*;
use chrono::DateTime;

fn ms(utc: &str) -> u64 {
    DateTime::parse_from_rfc3339(utc)
        .unwrap()
        .timestamp_millis() as u64
}

fn all(times: &[&str]) -> Vec<u64> {
    times.iter().map(|t| ms(t)).collect()
}

fn table(specs: &[&str], zone: &str, excluded: &[&str]) -> Timetable {
    let texts: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
    let days: Vec<i32> = excluded.iter().map(|d| parse_date(d).unwrap()).collect();
    Timetable::parse(&texts, zone, (None, None), &days).unwrap()
}

#[test]
fn several_specs_merge_in_order_and_a_shared_time_fires_once() {
    // Weekdays at 09:00 and every day at 09:00 and 18:00: 09:00 is in both.
    let t = table(&["cron(0 9 ? * MON-FRI *)", "0 9,18 * * *"], "UTC", &[]);
    assert_eq!(
        t.upcoming(ms("2026-12-04T08:00:00Z"), 4),
        all(&[
            "2026-12-04T09:00:00Z",
            "2026-12-04T18:00:00Z",
            "2026-12-05T09:00:00Z",
            "2026-12-05T18:00:00Z"
        ])
    );
}

#[test]
fn excluded_dates_are_whole_days_of_the_schedules_zone() {
    // Hourly in Berlin; 2026-12-25 excluded: 23:00 UTC on the 24th is
    // already the 25th in Berlin, and 23:00 UTC on the 25th is the 26th.
    let t = table(&["0 * * * *"], "Europe/Berlin", &["2026-12-25"]);
    assert_eq!(
        t.upcoming(ms("2026-12-24T21:30:00Z"), 3),
        all(&[
            "2026-12-24T22:00:00Z",
            "2026-12-25T23:00:00Z",
            "2026-12-26T00:00:00Z"
        ])
    );
    // Consecutive excluded dates are all passed over.
    let daily = table(
        &["cron(30 2 * * ? *)"],
        "UTC",
        &["2026-12-24", "2026-12-25", "2026-12-26"],
    );
    assert_eq!(
        daily.next_after(ms("2026-12-23T03:00:00Z")),
        Some(ms("2026-12-27T02:30:00Z"))
    );
    // A spec whose only time is excluded has none.
    let once = table(&["at(2026-12-25T10:00:00)"], "UTC", &["2026-12-25"]);
    assert_eq!(once.next_after(0), None);
}

#[test]
fn between_lists_a_range_both_ends_included_and_refuses_too_many() {
    let t = table(&["rate(1 hour)"], "UTC", &[]);
    let (from, to) = (ms("2026-12-01T00:00:00Z"), ms("2026-12-01T03:00:00Z"));
    assert_eq!(t.between(from, to, 10).unwrap().len(), 4);
    assert_eq!(t.between(from + 1, to - 1, 10).unwrap().len(), 2);
    assert_eq!(t.between(from, to, 3), Err(3));
    assert_eq!(t.between(to, from, 3), Ok(vec![]));
}

#[test]
fn bounds_apply_to_every_spec_and_counts_are_checked() {
    let texts = vec!["rate(1 hour)".to_string(), "30 * * * *".to_string()];
    let end = ms("2026-12-01T01:00:00Z");
    let t = Timetable::parse(&texts, "UTC", (None, Some(end)), &[]).unwrap();
    assert_eq!(
        t.upcoming(ms("2026-12-01T00:00:00Z"), 5),
        all(&["2026-12-01T00:30:00Z", "2026-12-01T01:00:00Z"])
    );
    let none: Vec<String> = vec![];
    assert!(Timetable::parse(&none, "UTC", (None, None), &[]).is_err());
    let many = vec!["rate(1 hour)".to_string(); MAX_SPECS + 1];
    let error = Timetable::parse(&many, "UTC", (None, None), &[]).unwrap_err();
    assert!(error.to_string().contains("1 to 8 specs"), "{error}");
    let bad = vec!["rate(1 hour)".to_string(), "cron(1 2 3)".to_string()];
    assert!(Timetable::parse(&bad, "UTC", (None, None), &[]).is_err());
}

#[test]
fn dates_read_and_print_back() {
    assert_eq!(parse_date("1970-01-02"), Some(1));
    assert_eq!(parse_date("1969-12-31"), Some(-1));
    assert_eq!(format_date(parse_date("2026-12-25").unwrap()), "2026-12-25");
    assert_eq!(parse_date("2026-02-30"), None);
    assert_eq!(parse_date("25.12.2026"), None);
}

#[test]
fn jitter_is_the_same_for_one_time_and_spread_within_its_bound() {
    assert_eq!(jitter_ms("nightly", 1_000, 0), 0);
    let a = jitter_ms("nightly", 86_400_000, 60_000);
    assert_eq!(a, jitter_ms("nightly", 86_400_000, 60_000));
    let draws: Vec<u64> = (0..1000)
        .map(|i| jitter_ms("nightly", i * 60_000, 59_999))
        .collect();
    assert!(draws.iter().all(|d| *d < 60_000));
    // Spread: every tenth of the window gets some of 1,000 draws.
    for tenth in 0..10 {
        let (low, high) = (tenth * 6_000, (tenth + 1) * 6_000);
        assert!(draws.iter().any(|d| (low..high).contains(d)), "{tenth}");
    }
    assert_ne!(jitter_ms("a", 5, 1_000_000), jitter_ms("b", 5, 1_000_000));
}
