//! Step Functions' own bounds on the numbers of a definition, and the
//! checked time arithmetic every deadline goes through.
//!
//! The parser accepts any `u64` where ASL asks for an integer: that is what
//! release 0.1.0 accepted and stored, and stored definitions must still load.
//! These bounds are checked separately: always at the door (before a
//! definition is proposed) and, from apply version 2 on, inside apply too.
//! Deadlines are computed with `deadline_ms`, which cannot overflow, so that
//! a number that slipped past the door fails its execution instead of
//! panicking the apply (the defect that stopped every node of 0.1.0).

use crate::definition::{Retrier, Seconds, StateKind, StateMachine, WaitFor};
use crate::eval::Failure;
use crate::parse::Diagnostic;

/// Step Functions' largest wait, timeout, heartbeat and retry interval.
pub const MAX_SECONDS: u64 = 99_999_999;
/// Step Functions' largest `MaxAttempts`.
pub const MAX_ATTEMPTS: u32 = 99_999_999;

/// `now_ms` plus `seconds`, or a `States.Runtime` failure naming `what` when
/// the sum leaves the clock's range.
pub fn deadline_ms(now_ms: u64, seconds: u64, what: &str) -> Result<u64, Failure> {
    seconds
        .checked_mul(1000)
        .and_then(|ms| now_ms.checked_add(ms))
        .ok_or_else(|| {
            Failure::new(
                "States.Runtime",
                format!("{what} of {seconds} seconds is out of range (at most {MAX_SECONDS})"),
            )
        })
}

/// What the door accepts: a definition that parses and stays within
/// Step Functions' bounds. (Apply checks the bounds from version 2 on.)
pub fn parse_checked(text: &str) -> Result<StateMachine, Vec<Diagnostic>> {
    let def = crate::parse_definition(text)?;
    match check_bounds(&def) {
        problems if problems.is_empty() => Ok(def),
        problems => Err(problems),
    }
}

/// Every number of `def` (nested branches and item processors included)
/// that exceeds Step Functions' bounds. Empty when the definition is within.
pub fn check_bounds(def: &StateMachine) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // A work list, not recursion: nesting depth is the definition's to choose.
    let mut machines: Vec<(&StateMachine, String)> = vec![(def, String::new())];
    while let Some((machine, at)) = machines.pop() {
        if let Some(t) = machine.timeout_seconds {
            seconds_within(&mut out, &format!("{at}/TimeoutSeconds"), t);
        }
        for state in &machine.states {
            let here = format!("{at}/States/{}", state.name);
            match &state.kind {
                StateKind::Task {
                    timeout,
                    heartbeat,
                    handling,
                    ..
                } => {
                    for (field, value) in
                        [("TimeoutSeconds", timeout), ("HeartbeatSeconds", heartbeat)]
                    {
                        if let Some(Seconds::Fixed(s)) = value {
                            seconds_within(&mut out, &format!("{here}/{field}"), *s);
                        }
                    }
                    retriers_within(&mut out, &here, &handling.retry);
                }
                StateKind::Wait {
                    wait: WaitFor::Seconds(s),
                } => seconds_within(&mut out, &format!("{here}/Seconds"), *s),
                StateKind::Parallel { branches, handling } => {
                    retriers_within(&mut out, &here, &handling.retry);
                    for (i, branch) in branches.iter().enumerate() {
                        machines.push((branch, format!("{here}/Branches/{i}")));
                    }
                }
                StateKind::Map {
                    processor,
                    handling,
                    ..
                } => {
                    retriers_within(&mut out, &here, &handling.retry);
                    machines.push((processor, format!("{here}/ItemProcessor")));
                }
                _ => {}
            }
        }
    }
    out
}

fn seconds_within(out: &mut Vec<Diagnostic>, location: &str, seconds: u64) {
    if seconds > MAX_SECONDS {
        out.push(out_of_range(location, seconds, MAX_SECONDS));
    }
}

fn retriers_within(out: &mut Vec<Diagnostic>, state: &str, retriers: &[Retrier]) {
    for (i, r) in retriers.iter().enumerate() {
        let at = format!("{state}/Retry/{i}");
        seconds_within(out, &format!("{at}/IntervalSeconds"), r.interval_seconds);
        if let Some(max) = r.max_delay_seconds {
            seconds_within(out, &format!("{at}/MaxDelaySeconds"), max);
        }
        if r.max_attempts > MAX_ATTEMPTS {
            out.push(out_of_range(
                &format!("{at}/MaxAttempts"),
                u64::from(r.max_attempts),
                u64::from(MAX_ATTEMPTS),
            ));
        }
    }
}

fn out_of_range(location: &str, value: u64, max: u64) -> Diagnostic {
    Diagnostic {
        location: location.to_string(),
        code: "OUT_OF_RANGE".into(),
        message: format!("{value} is larger than {max}, the most Step Functions allows"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_definition;

    #[test]
    fn numbers_past_step_functions_bounds_are_named() {
        let def = parse_definition(
            r#"{"StartAt": "P", "TimeoutSeconds": 18446744073709551615, "States": {
              "P": {"Type": "Parallel", "End": true, "Branches": [{"StartAt": "T", "States": {
                "T": {"Type": "Task", "Resource": "activity:a", "HeartbeatSeconds": 100000000,
                  "Retry": [{"ErrorEquals": ["X"], "IntervalSeconds": 100000000}], "Next": "W"},
                "W": {"Type": "Wait", "Seconds": 99999999, "End": true}}}]}}}"#,
        )
        .expect("release 0.1.0's parser accepts it");
        let found: Vec<String> = check_bounds(&def)
            .iter()
            .map(|d| d.location.clone())
            .collect();
        assert_eq!(
            found,
            [
                "/TimeoutSeconds",
                "/States/P/Branches/0/States/T/HeartbeatSeconds",
                "/States/P/Branches/0/States/T/Retry/0/IntervalSeconds",
            ]
        );
    }

    #[test]
    fn deadlines_never_overflow() {
        assert_eq!(deadline_ms(1_000, 2, "Wait").unwrap(), 3_000);
        let failure = deadline_ms(1_000, u64::MAX, "TimeoutSeconds").unwrap_err();
        assert_eq!(failure.error, "States.Runtime");
        assert!(failure
            .cause
            .contains("TimeoutSeconds of 18446744073709551615"));
        assert!(deadline_ms(u64::MAX - 10, 1, "Wait").is_err());
    }
}
