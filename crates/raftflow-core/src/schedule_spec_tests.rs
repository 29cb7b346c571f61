//! The daylight-saving table of docs (and the other spellings) as tests:
//! what raftflow promises, checked against what croner and chrono-tz do.
//!
//! | zone, day | spec | runs at (local) |
//! | --- | --- | --- |
//! | Berlin, 2026-03-29 (02:00 → 03:00) | daily 02:30 | once, 03:00 CEST (the first valid instant after the gap) |
//! | Berlin, 2026-10-25 (03:00 → 02:00) | daily 02:30 | once, 02:30 CEST (the first of the two) |
//! | Berlin, 2026-10-25 | hourly at :00 | every real hour: 02:00 CEST and 02:00 CET both (croner alone skips the second) |
//! | New York, 2026-03-08 (02:00 → 03:00) | daily 02:30 | once, 03:00 EDT |
//! | New York, 2026-11-01 (02:00 → 01:00) | daily 01:30 | once, 01:30 EDT |

use super::*;

/// `2026-03-29T01:00:00Z` → ms since the epoch.
fn ms(utc: &str) -> u64 {
    DateTime::parse_from_rfc3339(utc)
        .unwrap()
        .timestamp_millis() as u64
}

fn next(spec: &str, zone: &str, after: &str, count: usize) -> Vec<u64> {
    Spec::parse(spec, zone).unwrap().upcoming(ms(after), count)
}

fn all(times: &[&str]) -> Vec<u64> {
    times.iter().map(|t| ms(t)).collect()
}

#[test]
fn berlin_spring_forward_runs_the_daily_job_once_after_the_gap() {
    assert_eq!(
        next("30 2 * * *", "Europe/Berlin", "2026-03-28T00:00:00Z", 3),
        all(&[
            "2026-03-28T01:30:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-30T00:30:00Z"
        ])
    );
}

#[test]
fn berlin_fall_back_runs_the_daily_job_once_and_the_hourly_job_every_hour() {
    assert_eq!(
        next("30 2 * * *", "Europe/Berlin", "2026-10-24T00:00:00Z", 3),
        all(&[
            "2026-10-24T00:30:00Z",
            "2026-10-25T00:30:00Z",
            "2026-10-26T01:30:00Z"
        ])
    );
    assert_eq!(
        next("0 * * * *", "Europe/Berlin", "2026-10-24T23:30:00Z", 3),
        all(&[
            "2026-10-25T00:00:00Z",
            "2026-10-25T01:00:00Z",
            "2026-10-25T02:00:00Z"
        ])
    );
    // croner alone runs an interval job once in the repeated hour (it gave
    // 00:00, 02:00, 03:00 UTC here): raftflow adds the second instance.
    assert_eq!(
        next(
            "*/30 * * * *",
            "America/New_York",
            "2026-11-01T05:00:00Z",
            4
        ),
        all(&[
            "2026-11-01T05:30:00Z",
            "2026-11-01T06:00:00Z",
            "2026-11-01T06:30:00Z",
            "2026-11-01T07:00:00Z"
        ])
    );
}

#[test]
fn new_york_gap_and_repeated_hour() {
    assert_eq!(
        next("30 2 * * *", "America/New_York", "2026-03-07T00:00:00Z", 3),
        all(&[
            "2026-03-07T07:30:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-09T06:30:00Z"
        ])
    );
    assert_eq!(
        next("30 1 * * *", "America/New_York", "2026-10-31T00:00:00Z", 3),
        all(&[
            "2026-10-31T05:30:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-02T06:30:00Z"
        ])
    );
}

#[test]
fn eventbridge_cron_reads_six_fields_year_last_and_sunday_as_one() {
    // Sundays at 02:30 in Berlin, across the spring gap.
    assert_eq!(
        next(
            "cron(30 2 ? * SUN *)",
            "Europe/Berlin",
            "2026-03-20T00:00:00Z",
            2
        ),
        all(&["2026-03-22T01:30:00Z", "2026-03-29T01:00:00Z"])
    );
    // 2 is Monday: 2026-12-07.
    assert_eq!(
        next("cron(0 9 ? * 2 *)", "UTC", "2026-12-04T00:00:00Z", 1),
        all(&["2026-12-07T09:00:00Z"])
    );
    assert_eq!(
        next("cron(0 12 * * ? 2027)", "UTC", "2026-12-04T00:00:00Z", 1),
        all(&["2027-01-01T12:00:00Z"])
    );
}

#[test]
fn plain_cron_with_seconds_last_day_and_nth_weekday() {
    assert_eq!(
        next("*/10 * * * * *", "UTC", "2026-12-04T00:00:05Z", 3),
        all(&[
            "2026-12-04T00:00:10Z",
            "2026-12-04T00:00:20Z",
            "2026-12-04T00:00:30Z"
        ])
    );
    assert_eq!(
        next("0 0 12 L * *", "UTC", "2026-02-01T00:00:00Z", 1),
        all(&["2026-02-28T12:00:00Z"])
    );
    assert_eq!(
        next("0 9 * * FRI#2", "UTC", "2026-12-01T00:00:00Z", 1),
        all(&["2026-12-11T09:00:00Z"])
    );
}

#[test]
fn rates_count_from_the_start_and_stop_at_the_end() {
    let mut spec = Spec::parse("rate(5 minutes)", "UTC").unwrap();
    assert_eq!(
        spec.next_after(ms("2026-12-04T10:01:00Z")),
        Some(ms("2026-12-04T10:05:00Z"))
    );
    spec.start_ms = Some(ms("2026-12-04T10:02:00Z"));
    spec.end_ms = Some(ms("2026-12-04T10:12:00Z"));
    assert_eq!(
        spec.upcoming(ms("2026-12-04T00:00:00Z"), 10),
        all(&[
            "2026-12-04T10:02:00Z",
            "2026-12-04T10:07:00Z",
            "2026-12-04T10:12:00Z"
        ])
    );
    let hourly = Spec::parse("rate(1 hour)", "Europe/Berlin").unwrap();
    assert_eq!(
        hourly.next_after(ms("2026-12-04T10:30:00Z")),
        Some(ms("2026-12-04T11:00:00Z"))
    );
}

#[test]
fn at_fires_once_and_a_time_in_the_gap_moves_after_it() {
    let spec = Spec::parse("at(2026-12-24T18:00:00)", "Europe/Berlin").unwrap();
    assert_eq!(
        spec.upcoming(ms("2026-12-01T00:00:00Z"), 5),
        all(&["2026-12-24T17:00:00Z"])
    );
    assert_eq!(spec.next_after(ms("2026-12-24T17:00:00Z")), None);
    let gap = Spec::parse("at(2026-03-29T02:30:00)", "Europe/Berlin").unwrap();
    assert_eq!(gap.next_after(0), Some(ms("2026-03-29T01:00:00Z")));
    let twice = Spec::parse("at(2026-10-25T02:30:00)", "Europe/Berlin").unwrap();
    assert_eq!(twice.next_after(0), Some(ms("2026-10-25T00:30:00Z")));
}

#[test]
fn bad_specs_are_named() {
    let err = |spec: &str, zone: &str| Spec::parse(spec, zone).unwrap_err().to_string();
    assert!(err("rate(1 hour)", "Mars/Base").contains("Mars/Base"));
    assert!(err("cron(0 12 * * ?)", "UTC").contains("six fields"));
    assert!(err("cron(0 12 * * 1 *)", "UTC").contains("exactly one"));
    assert!(err("rate(0 minutes)", "UTC").contains("positive"));
    assert!(err("rate(2 weeks)", "UTC").contains("minute(s), hour(s) or day(s)"));
    assert!(err("every(5)", "UTC").contains("known forms"));
    assert!(err("at(tomorrow)", "UTC").contains("yyyy-mm-dd"));
    assert!(err("61 * * * *", "UTC").contains("61 * * * *"));
    assert!(err(&"* ".repeat(200), "UTC").contains("at most"));
}

#[test]
fn instants_read_and_show_in_a_zone() {
    let at = parse_instant("2026-12-04T03:30:00+01:00").unwrap();
    assert_eq!(at, parse_instant("2026-12-04T02:30:00Z").unwrap());
    assert_eq!(
        wall_clock(at, "Europe/Berlin").as_deref(),
        Some("2026-12-04 03:30:00 CET")
    );
    assert_eq!(
        wall_clock(at, "America/New_York").as_deref(),
        Some("2026-12-03 21:30:00 EST")
    );
    assert_eq!(parse_instant("yesterday"), None);
    assert_eq!(parse_instant("1969-12-31T23:59:59Z"), None);
    assert_eq!(wall_clock(at, "Mars/Base"), None);
}

#[test]
fn cron_times_are_whole_seconds_whatever_the_time_asked_after() {
    let every_second = Spec::parse("* * * * * *", "Europe/Berlin").unwrap();
    let at = parse_instant("2026-12-04T02:30:00Z").unwrap();
    assert_eq!(every_second.next_after(at + 163), Some(at + 1000));
    assert_eq!(every_second.next_after(at + 999), Some(at + 1000));
    assert_eq!(every_second.next_after(at), Some(at + 1000));
    let daily = Spec::parse("cron(30 2 * * ? *)", "UTC").unwrap();
    assert_eq!(daily.next_after(at - 1), Some(at));
}
