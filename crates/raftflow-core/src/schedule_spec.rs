//! When a schedule fires: its spec in one of two spellings that cannot be
//! confused, in an IANA time zone, within optional start and end bounds.
//!
//! ```text
//!  cron(0 12 * * ? *)        EventBridge Scheduler: minutes hours day-of-month month day-of-week year,
//!                            `?` for one of the two days, day-of-week 1-7 = SUN-SAT
//!  rate(5 minutes)           EventBridge: every N minutes, hours or days, from the anchor
//!  at(2026-12-24T18:00:00)   EventBridge: once, at that wall-clock time
//!  */10 * * * * *            plain cron as croner reads it: seconds optional first, L, #, W,
//!                            ranges, steps, names, year optional last; day-of-week 0-7 = SUN-SAT
//! ```
//! Pure: the leader asks it for the next scheduled time after a given one
//! and proposes the fire stamped with that time; apply never evaluates a
//! spec (the time zone database is part of the binary and may change with
//! a release). Cron parsing is croner's and time zones are chrono-tz's;
//! the daylight-saving rules they give are checked against the table in
//! docs (schedule_spec_tests.rs), not taken on trust.

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::{Cron, JobType};

/// The longest spec text accepted.
pub const MAX_SPEC_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("`{0}` is not a known time zone (an IANA name such as Europe/Berlin or UTC)")]
    Zone(String),
    #[error("the spec is {0} characters; at most {MAX_SPEC_CHARS}")]
    TooLong(usize),
    #[error("`{spec}`: {why}")]
    Invalid { spec: String, why: String },
}

/// What a spec says, parsed.
#[derive(Debug, Clone)]
enum Rule {
    Cron(Box<Cron>),
    /// Every `every_ms`, counted from the anchor.
    Rate {
        every_ms: u64,
    },
    /// Once, at this wall-clock time in the zone.
    At(NaiveDateTime),
}

/// A spec with its zone and bounds.
#[derive(Debug, Clone)]
pub struct Spec {
    rule: Rule,
    zone: Tz,
    /// No fire before it; a rate counts from it (else from the Unix epoch,
    /// so `rate(1 hour)` fires on the hour).
    pub start_ms: Option<u64>,
    /// No fire after it.
    pub end_ms: Option<u64>,
}

impl Spec {
    /// Reads `text` in the zone named `zone`.
    pub fn parse(text: &str, zone: &str) -> Result<Self, SpecError> {
        let zone = Tz::from_str(zone).map_err(|_| SpecError::Zone(zone.to_string()))?;
        let text = text.trim();
        if text.chars().count() > MAX_SPEC_CHARS {
            return Err(SpecError::TooLong(text.chars().count()));
        }
        let invalid = |why: String| SpecError::Invalid {
            spec: text.to_string(),
            why,
        };
        let rule = if let Some(inner) = wrapped(text, "cron") {
            Rule::Cron(Box::new(eventbridge_cron(inner).map_err(invalid)?))
        } else if let Some(inner) = wrapped(text, "rate") {
            Rule::Rate {
                every_ms: rate_ms(inner).map_err(invalid)?,
            }
        } else if let Some(inner) = wrapped(text, "at") {
            let at = NaiveDateTime::parse_from_str(inner.trim(), "%Y-%m-%dT%H:%M:%S")
                .map_err(|e| invalid(format!("at() takes yyyy-mm-ddThh:mm:ss ({e})")))?;
            Rule::At(at)
        } else if text.contains('(') {
            return Err(invalid(
                "the known forms are cron(…), rate(…), at(…) and a plain cron expression".into(),
            ));
        } else {
            let cron = Cron::from_str(text).map_err(|e| invalid(e.to_string()))?;
            Rule::Cron(Box::new(cron))
        };
        Ok(Self {
            rule,
            zone,
            start_ms: None,
            end_ms: None,
        })
    }

    /// The first scheduled time strictly after `after_ms` (ms since the Unix
    /// epoch), within the bounds; `None` when there is none.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        let from = match self.start_ms {
            // A time at the start bound itself may fire.
            Some(start) if start > after_ms => start - 1,
            _ => after_ms,
        };
        let next = match &self.rule {
            Rule::Cron(cron) => cron_next(cron, &self.zone, from)?,
            Rule::Rate { every_ms } => {
                let anchor = self.start_ms.unwrap_or(0);
                let periods = from.saturating_sub(anchor) / every_ms;
                let next = anchor.checked_add(periods.checked_add(1)?.checked_mul(*every_ms)?)?;
                if from < anchor {
                    anchor
                } else {
                    next
                }
            }
            Rule::At(at) => {
                let at = wall_clock_ms(&self.zone, at)?;
                (at > from).then_some(at)?
            }
        };
        match self.end_ms {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }

    /// The zone the spec reads its wall-clock times in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The next `count` scheduled times after `after_ms` (for `describe`).
    pub fn upcoming(&self, after_ms: u64, count: usize) -> Vec<u64> {
        upcoming_by(|at| self.next_after(at), after_ms, count)
    }
}

/// The next `count` times after `after_ms` by `next_after`.
pub(crate) fn upcoming_by(
    next_after: impl Fn(u64) -> Option<u64>,
    after_ms: u64,
    count: usize,
) -> Vec<u64> {
    let mut out = Vec::with_capacity(count);
    let mut at = after_ms;
    while out.len() < count {
        let Some(next) = next_after(at) else {
            break;
        };
        out.push(next);
        at = next;
    }
    out
}

/// croner's next time, and for an interval job (a wildcard or a step in
/// its hours) also the repeated hour of a fall-back: croner runs such a job
/// once in the hour that comes twice (and, from inside that hour, can even
/// answer a time before the one asked after), while raftflow promises every
/// real hour (docs, the daylight-saving table). The other instances are
/// found by reading the pattern at a fixed UTC offset — the zone's offset
/// at `from` and at croner's answer — and keeping a time only where the
/// zone really has that offset. Every answer is after `from`.
/// `at_ms` as wall-clock time in `zone`, for people (`describe`):
/// `2026-12-04 03:30:00 CET`.
pub fn wall_clock(at_ms: u64, zone: &str) -> Option<String> {
    let zone = Tz::from_str(zone).ok()?;
    let at = utc(at_ms)?.with_timezone(&zone);
    Some(at.format("%Y-%m-%d %H:%M:%S %Z").to_string())
}

/// An instant written as RFC 3339 (`2026-12-04T02:30:00Z`,
/// `2026-12-04T03:30:00+01:00`), in ms since the Unix epoch.
pub fn parse_instant(text: &str) -> Option<u64> {
    let at = DateTime::parse_from_rfc3339(text.trim()).ok()?;
    u64::try_from(at.timestamp_millis()).ok()
}

fn cron_next(cron: &Cron, zone: &Tz, from_ms: u64) -> Option<u64> {
    // Cron times are whole seconds; croner keeps a fraction it is given.
    let from = utc(from_ms - from_ms % 1000)?;
    let croner = croner_after(cron, zone, from);
    let mut best = croner;
    if cron.determine_job_type() == JobType::IntervalWildcard {
        let mut offsets = vec![offset_at(zone, &from)];
        offsets.extend(croner.map(|c| offset_at(zone, &c)));
        for offset in offsets {
            let fixed = from.with_timezone(&offset);
            let Ok(candidate) = cron.find_next_occurrence(&fixed, false) else {
                continue;
            };
            let candidate = candidate.with_timezone(&Utc);
            let real = candidate > from && offset_at(zone, &candidate) == offset;
            if real && best.is_none_or(|b| candidate < b) {
                best = Some(candidate);
            }
        }
    }
    u64::try_from(best?.timestamp_millis()).ok()
}

/// croner's next time strictly after `from`: asked again half an hour
/// later when its answer is not (a few tries, then none). Only an answer
/// from inside a repeated hour has been seen to go back; an interval job's
/// times there come from the fixed-offset reading, and a fixed-time job
/// (one time of day) has no other time within the half hour skipped.
fn croner_after(cron: &Cron, zone: &Tz, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut start = from;
    for _ in 0..4 {
        let local = zone.from_utc_datetime(&start.naive_utc());
        let next = cron
            .find_next_occurrence(&local, false)
            .ok()?
            .with_timezone(&Utc);
        if next > from {
            return Some(next);
        }
        start = start.max(next) + chrono::Duration::minutes(30);
    }
    None
}

/// The zone's UTC offset at an instant.
fn offset_at(zone: &Tz, at: &DateTime<Utc>) -> FixedOffset {
    zone.offset_from_utc_datetime(&at.naive_utc()).fix()
}

fn utc(ms: u64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(i64::try_from(ms).ok()?).single()
}

/// `name(inner)` → `inner`.
fn wrapped<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    text.strip_prefix(name)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
}

/// EventBridge's six fields (minutes … year) as croner reads them: seconds
/// 0 put first, weekdays 1-7 from Sunday (croner's alternative weekdays).
fn eventbridge_cron(inner: &str) -> Result<Cron, String> {
    let fields: Vec<&str> = inner.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(format!(
            "cron() takes six fields (minutes hours day-of-month month day-of-week year), got {}",
            fields.len()
        ));
    }
    let (dom, dow) = (fields[2], fields[4]);
    if (dom == "?") == (dow == "?") {
        return Err("cron() needs `?` in exactly one of day-of-month and day-of-week".into());
    }
    let parser = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .alternative_weekdays(true)
        .build();
    parser
        .parse(&format!("0 {}", fields.join(" ")))
        .map_err(|e| e.to_string())
}

/// `5 minutes` → 300,000 ms.
fn rate_ms(inner: &str) -> Result<u64, String> {
    let bad =
        || "rate() takes a positive whole number and minute(s), hour(s) or day(s)".to_string();
    let (value, unit) = inner
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(bad)?;
    let value: u64 = value.parse().map_err(|_| bad())?;
    let unit_ms: u64 = match unit.trim() {
        "minute" | "minutes" => 60_000,
        "hour" | "hours" => 3_600_000,
        "day" | "days" => 86_400_000,
        _ => return Err(bad()),
    };
    if value == 0 {
        return Err(bad());
    }
    value.checked_mul(unit_ms).ok_or_else(bad)
}

/// A wall-clock time in `zone` as ms since the epoch: in a gap (spring
/// forward), the first valid instant after it; in an overlap (fall back),
/// the earlier of the two.
pub(crate) fn wall_clock_ms(zone: &Tz, at: &NaiveDateTime) -> Option<u64> {
    let instant = match zone.from_local_datetime(at) {
        LocalResult::Single(t) => t,
        LocalResult::Ambiguous(first, _) => first,
        LocalResult::None => {
            // Gaps are whole minutes and at most a few hours: step forward.
            let mut probe = *at;
            loop {
                probe = probe.checked_add_signed(chrono::Duration::minutes(1))?;
                let minute = probe.with_second(0)?;
                if let Some(t) = zone.from_local_datetime(&minute).earliest() {
                    break t;
                }
                if probe.signed_duration_since(*at) > chrono::Duration::hours(26) {
                    return None;
                }
            }
        }
    };
    u64::try_from(instant.timestamp_millis()).ok()
}

use chrono::Timelike as _;

#[cfg(test)]
#[path = "schedule_spec_tests.rs"]
mod tests;
