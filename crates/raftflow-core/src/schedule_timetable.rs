//! A schedule's whole timetable: one or more specs (a time of any of them
//! is a scheduled time, once), within the schedule's bounds, less the
//! excluded dates (whole days of the schedule's zone), and the jitter the
//! leader waits after each time.
//!
//! ```text
//!  specs ──min next_after──▶ candidate ──on an excluded date?──▶ jump past that day, again
//!                                        └─ no ──▶ the next scheduled time
//! ```
//! Pure, like schedule_spec: the leader asks it; apply never does.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, TimeZone};
use chrono_tz::Tz;

use crate::schedule_spec::{wall_clock_ms, Spec, SpecError};

/// Specs per schedule, at most.
pub const MAX_SPECS: usize = 8;
/// Excluded dates per schedule, at most (a year of holidays and then some).
pub const MAX_EXCLUDED_DATES: usize = 400;

/// The specs of one schedule, read in its zone, with its bounds and dates.
#[derive(Debug, Clone)]
pub struct Timetable {
    specs: Vec<Spec>,
    zone: Tz,
    /// Excluded dates, as days since 1970-01-01 in the zone's calendar.
    excluded: BTreeSet<i32>,
}

impl Timetable {
    /// Reads every spec in `zone`; `start_ms`/`end_ms` bound them all.
    pub fn parse(
        texts: &[String],
        zone: &str,
        bounds: (Option<u64>, Option<u64>),
        excluded_days: &[i32],
    ) -> Result<Self, SpecError> {
        let invalid = |why: String| SpecError::Invalid {
            spec: texts.join("; "),
            why,
        };
        if texts.is_empty() || texts.len() > MAX_SPECS {
            return Err(invalid(format!(
                "a schedule has 1 to {MAX_SPECS} specs, not {}",
                texts.len()
            )));
        }
        if excluded_days.len() > MAX_EXCLUDED_DATES {
            return Err(invalid(format!(
                "at most {MAX_EXCLUDED_DATES} excluded dates, not {}",
                excluded_days.len()
            )));
        }
        let mut specs = Vec::with_capacity(texts.len());
        for text in texts {
            let mut spec = Spec::parse(text, zone)?;
            (spec.start_ms, spec.end_ms) = bounds;
            specs.push(spec);
        }
        let zone = specs[0].zone();
        Ok(Self {
            specs,
            zone,
            excluded: excluded_days.iter().copied().collect(),
        })
    }

    /// The first scheduled time strictly after `after_ms`: the earliest of
    /// the specs' next times that is not on an excluded date.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        let mut after_ms = after_ms;
        // Each pass that finds an excluded date moves past that date, so
        // there are at most as many passes as excluded dates, plus one.
        for _ in 0..=self.excluded.len() {
            let candidate = self
                .specs
                .iter()
                .filter_map(|s| s.next_after(after_ms))
                .min()?;
            let day = self.local_day(candidate)?;
            if !self.excluded.contains(&day) {
                return Some(candidate);
            }
            after_ms = self.day_start_ms(day.checked_add(1)?)?.checked_sub(1)?;
        }
        None
    }

    /// The next `count` scheduled times after `after_ms` (for `describe`).
    pub fn upcoming(&self, after_ms: u64, count: usize) -> Vec<u64> {
        crate::schedule_spec::upcoming_by(|at| self.next_after(at), after_ms, count)
    }

    /// The scheduled times from `from_ms` to `to_ms`, both included, for a
    /// backfill; `Err(max)` when there are more than `max`.
    pub fn between(&self, from_ms: u64, to_ms: u64, max: usize) -> Result<Vec<u64>, usize> {
        let mut out = Vec::new();
        let first = match from_ms.checked_sub(1) {
            Some(before) => self.next_after(before),
            None => self.next_after(0),
        };
        let mut next = first;
        while let Some(at) = next.filter(|at| *at <= to_ms) {
            if out.len() == max {
                return Err(max);
            }
            out.push(at);
            next = self.next_after(at);
        }
        Ok(out)
    }

    /// The date of an instant in the zone, as days since 1970-01-01.
    fn local_day(&self, at_ms: u64) -> Option<i32> {
        let at = self
            .zone
            .timestamp_millis_opt(i64::try_from(at_ms).ok()?)
            .single()?;
        Some(days_since_epoch(at.date_naive()))
    }

    /// The first instant of a date in the zone (after a gap at midnight,
    /// the first valid one).
    fn day_start_ms(&self, day: i32) -> Option<u64> {
        let date = epoch().checked_add_signed(chrono::Duration::days(i64::from(day)))?;
        wall_clock_ms(&self.zone, &date.and_hms_opt(0, 0, 0)?)
    }
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")
}

fn days_since_epoch(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - epoch().num_days_from_ce()
}

/// `2026-12-25` → days since 1970-01-01; `None` when it is not a date.
pub fn parse_date(text: &str) -> Option<i32> {
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    Some(days_since_epoch(date))
}

/// Days since 1970-01-01 → `2026-12-25`.
pub fn format_date(day: i32) -> String {
    epoch()
        .checked_add_signed(chrono::Duration::days(i64::from(day)))
        .map_or_else(
            || format!("day {day}"),
            |d| d.format("%Y-%m-%d").to_string(),
        )
}

/// How long after `scheduled_ms` the leader fires a schedule with a jitter
/// of up to `max_ms`: drawn from a seed made of the schedule's name and the
/// time, so that every leader waits the same delay for one time (a fire
/// retried after a failover does not draw again). Uniform in 0..=max_ms.
pub fn jitter_ms(name: &str, scheduled_ms: u64, max_ms: u64) -> u64 {
    if max_ms == 0 {
        return 0;
    }
    // FNV-1a over the name, then splitmix64 with the time.
    let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        seed = (seed ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = (seed ^ scheduled_ms).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    z % max_ms.saturating_add(1)
}

#[cfg(test)]
#[path = "schedule_timetable_tests.rs"]
mod tests;
