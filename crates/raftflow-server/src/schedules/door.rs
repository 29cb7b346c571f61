//! What the API checks before a schedule reaches the log: every field
//! bounded, the spec read in its zone (apply never reads it), the input
//! JSON, with the defaults filled in. Errors name the field.

use raftflow_core::schedule_timetable::{parse_date, MAX_EXCLUDED_DATES, MAX_SPECS};
use raftflow_proto::v1::{OverlapPolicy, ScheduleDefinition};
use raftflow_store::schedules::{
    Overlap, ScheduleDef, MAX_CATCHUP_WINDOW_S, MAX_JITTER_MS, MAX_SCHEDULE_NAME_CHARS,
    MAX_TEXT_BYTES, MAX_ZONE_BYTES,
};

use crate::error::ApiError;
use crate::limits;

/// The catch-up window when the request leaves it at 0.
pub const DEFAULT_CATCHUP_WINDOW_S: u64 = 3600;
/// The latest bound accepted: the end of year 9999 (names stay in 80 characters).
pub const MAX_BOUND_MS: u64 = 253_402_300_799_999;
/// How many upcoming times create, update and describe show.
pub const UPCOMING: usize = 10;

/// A schedule's name: what `limits::name` allows, in at most 48 characters
/// (its executions' names add the scheduled time).
pub fn name(value: &str) -> Result<(), ApiError> {
    limits::name("the schedule name", value)?;
    if value.chars().count() > MAX_SCHEDULE_NAME_CHARS {
        return Err(ApiError::InvalidArgument(format!(
            "the schedule name has {} characters; at most {MAX_SCHEDULE_NAME_CHARS}, since its executions are named NAME-<scheduled time> within 80",
            value.chars().count()
        )));
    }
    Ok(())
}

/// The definition as apply will store it.
pub fn checked(def: ScheduleDefinition, max_input_bytes: usize) -> Result<ScheduleDef, ApiError> {
    name(&def.name)?;
    let (state_machine, version) = target(&def.state_machine)?;
    let input = if def.input.trim().is_empty() {
        "{}".to_string()
    } else {
        def.input
    };
    limits::json("input", &input, max_input_bytes)?;
    let zone = if def.time_zone.is_empty() {
        "UTC".to_string()
    } else {
        def.time_zone
    };
    bytes("the time zone", &zone, MAX_ZONE_BYTES)?;
    bytes("the description", &def.description, MAX_TEXT_BYTES)?;
    let bound = |field: &str, ms: u64| -> Result<Option<u64>, ApiError> {
        match ms {
            0 => Ok(None),
            ms if ms > MAX_BOUND_MS => Err(ApiError::InvalidArgument(format!(
                "{field} {ms} is after the year 9999"
            ))),
            ms => Ok(Some(ms)),
        }
    };
    let catchup_window_s = match def.catchup_window_s {
        0 => DEFAULT_CATCHUP_WINDOW_S,
        s if s > MAX_CATCHUP_WINDOW_S => {
            return Err(ApiError::InvalidArgument(format!(
                "the catch-up window is {s} s; at most {MAX_CATCHUP_WINDOW_S} (a year)"
            )))
        }
        s => s,
    };
    let specs = specs(&def.spec, &def.more_specs)?;
    let exclude_days = exclude_days(&def.exclude_dates)?;
    if def.jitter_ms > MAX_JITTER_MS || def.jitter_ms >= catchup_window_s.saturating_mul(1000) {
        return Err(ApiError::InvalidArgument(format!(
            "the jitter is {} ms; at most {MAX_JITTER_MS} (a day) and less than the catch-up window ({catchup_window_s} s)",
            def.jitter_ms
        )));
    }
    let checked = ScheduleDef {
        name: def.name,
        state_machine,
        version,
        input,
        specs,
        zone,
        start_ms: bound("start_ms", def.start_ms)?,
        end_ms: bound("end_ms", def.end_ms)?,
        overlap: overlap(def.overlap)?,
        catchup_window_s,
        description: def.description,
        pause_on_failure: def.pause_on_failure,
        exclude_days,
        jitter_ms: def.jitter_ms,
    };
    if let (Some(start), Some(end)) = (checked.start_ms, checked.end_ms) {
        if end < start {
            return Err(ApiError::InvalidArgument(format!(
                "end_ms {end} is before start_ms {start}"
            )));
        }
    }
    super::timetable_of(&checked)
        .map_err(|e| ApiError::InvalidArgument(format!("the spec: {e}")))?;
    Ok(checked)
}

/// `spec` and `more_specs`, trimmed: one to eight.
fn specs(first: &str, more: &[String]) -> Result<Vec<String>, ApiError> {
    let specs: Vec<String> = std::iter::once(first)
        .chain(more.iter().map(String::as_str))
        .map(|s| s.trim().to_string())
        .collect();
    if specs.len() > MAX_SPECS {
        return Err(ApiError::InvalidArgument(format!(
            "a schedule has at most {MAX_SPECS} specs (spec and {} more), not {}",
            MAX_SPECS - 1,
            specs.len()
        )));
    }
    Ok(specs)
}

/// `2026-12-25` dates → days since 1970-01-01, ascending, each once.
fn exclude_days(dates: &[String]) -> Result<Vec<i32>, ApiError> {
    if dates.len() > MAX_EXCLUDED_DATES {
        return Err(ApiError::InvalidArgument(format!(
            "at most {MAX_EXCLUDED_DATES} excluded dates, not {}",
            dates.len()
        )));
    }
    let mut days = dates
        .iter()
        .map(|d| {
            parse_date(d).ok_or_else(|| {
                ApiError::InvalidArgument(format!(
                    "excluded date `{d}` is not a date written yyyy-mm-dd"
                ))
            })
        })
        .collect::<Result<Vec<i32>, ApiError>>()?;
    days.sort_unstable();
    days.dedup();
    Ok(days)
}

/// Text of at most `max` bytes: apply holds these fields to bytes, so the
/// door does too (a multibyte text refused here, not by apply).
pub fn bytes(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::InvalidArgument(format!(
            "{field} is {} bytes (UTF-8); at most {max}",
            value.len()
        )));
    }
    Ok(())
}

/// `name` or `name:version`.
pub fn target(text: &str) -> Result<(String, u32), ApiError> {
    let (name, version) = match text.rsplit_once(':') {
        Some((name, v)) => (
            name,
            v.parse::<u32>().map_err(|_| {
                ApiError::InvalidArgument(format!("`{v}` is not a state machine version"))
            })?,
        ),
        None => (text, 0),
    };
    limits::name("the state machine name", name)?;
    Ok((name.to_string(), version))
}

pub fn overlap(value: i32) -> Result<Overlap, ApiError> {
    match OverlapPolicy::try_from(value) {
        Ok(OverlapPolicy::Unspecified | OverlapPolicy::Skip) => Ok(Overlap::Skip),
        Ok(OverlapPolicy::AllowAll) => Ok(Overlap::AllowAll),
        Ok(OverlapPolicy::TerminateOther) => Ok(Overlap::TerminateOther),
        Ok(OverlapPolicy::BufferOne) => Ok(Overlap::BufferOne),
        Ok(OverlapPolicy::BufferAll) => Ok(Overlap::BufferAll),
        Err(_) => Err(ApiError::InvalidArgument(format!(
            "overlap policy {value} is not one of skip (1), allow_all (2), buffer_one (3), buffer_all (4) and terminate_other (5)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(spec: &str, zone: &str) -> ScheduleDefinition {
        ScheduleDefinition {
            name: "nightly".into(),
            state_machine: "orders:3".into(),
            spec: spec.into(),
            time_zone: zone.into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_filled_and_bad_fields_are_named() {
        let ok = checked(def("cron(30 2 * * ? *)", ""), 1024).unwrap();
        assert_eq!((ok.state_machine.as_str(), ok.version), ("orders", 3));
        assert_eq!((ok.zone.as_str(), ok.input.as_str()), ("UTC", "{}"));
        assert_eq!(ok.catchup_window_s, DEFAULT_CATCHUP_WINDOW_S);
        assert_eq!(ok.overlap, Overlap::Skip);
        let error = |d| checked(d, 1024).unwrap_err().to_string();
        assert!(error(def("cron(30 2 * * ? *)", "Mars/Base")).contains("Mars/Base"));
        assert!(error(def("every day", "UTC")).contains("the spec"));
        let mut long = def("rate(1 minute)", "UTC");
        long.name = "n".repeat(49);
        assert!(error(long).contains("at most 48"));
        let mut late = def("rate(1 minute)", "UTC");
        late.end_ms = MAX_BOUND_MS + 1;
        assert!(error(late).contains("year 9999"));
        let mut backwards = def("rate(1 minute)", "UTC");
        (backwards.start_ms, backwards.end_ms) = (2000, 1000);
        assert!(error(backwards).contains("before start_ms"));
        let mut wordy = def("rate(1 minute)", "UTC");
        wordy.description = "é".repeat(MAX_TEXT_BYTES / 2 + 1);
        assert!(error(wordy).contains("bytes (UTF-8)"));
        let mut odd = def("rate(1 minute)", "UTC");
        odd.overlap = 9;
        assert!(error(odd).contains("overlap policy 9"));
    }

    #[test]
    fn more_specs_dates_and_jitter_are_checked() {
        let mut d = def("cron(0 9 ? * MON-FRI *)", "Europe/Berlin");
        d.more_specs = vec![" 0 18 * * * ".into()];
        d.exclude_dates = vec![
            "2026-12-25".into(),
            "2026-12-24".into(),
            "2026-12-25".into(),
        ];
        d.jitter_ms = 30_000;
        let ok = checked(d.clone(), 1024).unwrap();
        assert_eq!(ok.specs, vec!["cron(0 9 ? * MON-FRI *)", "0 18 * * *"]);
        assert_eq!(ok.exclude_days.len(), 2);
        assert!(ok.exclude_days[0] < ok.exclude_days[1]);
        let error = |d| checked(d, 1024).unwrap_err().to_string();
        let mut bad_date = d.clone();
        bad_date.exclude_dates = vec!["24.12.2026".into()];
        assert!(error(bad_date).contains("`24.12.2026`"));
        let mut bad_spec = d.clone();
        bad_spec.more_specs.push("rate(0 minutes)".into());
        assert!(error(bad_spec).contains("the spec"));
        let mut many = d.clone();
        many.more_specs = vec!["rate(1 hour)".into(); MAX_SPECS];
        assert!(error(many).contains("at most 8 specs"));
        let mut slow = d;
        slow.jitter_ms = DEFAULT_CATCHUP_WINDOW_S * 1000;
        assert!(error(slow).contains("less than the catch-up window"));
    }
}
