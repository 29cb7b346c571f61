//! The timer checks: no timer fires early, none fires late but for a fault.
//!
//! The leader stamps each command with its log time and arms timers from
//! it; a leader whose clock is wrong would fire them early (clock behind)
//! or an hour late (ahead). The harness's own clock judges them:
//!
//! ```text
//!  Pack and Notify reports sent ──(committed after)──> Parallel done ──Wait 1 s──> Approve handed out
//!  Charge failure report sent ──(committed after)──> attempt failed ──Retry 1 s──> next Charge handed out
//! ```
//!
//! A hand-out may come early by at most the allowed clock offset, and late
//! by at most the pick-up slack unless a fault that delays the cluster
//! overlaps the wait.

use std::collections::BTreeMap;

use crate::faults::FaultKind;
use crate::history::{attempt_of, Outcome, Record};

/// The workload's `Pause` Wait and its Retry interval (workload.rs).
pub const WAIT_MS: u64 = 1_000;
pub const RETRY_INTERVAL_MS: u64 = 1_000;
/// The nodes' `raft.max_clock_offset_ms` (the default): log time may run
/// this far from true time.
pub const CLOCK_BOUND_MS: u64 = 500;
/// From a timer's fire to the harness holding the hand-out, without a
/// fault: the commit of the hand-out and a poller's pick-up under load.
pub const LATE_SLACK_MS: u64 = 5_000;
/// After a fault ends, until elections and catch-up settle.
const FAULT_TAIL_MS: u64 = 5_000;

/// Per execution: when Approve was first handed out, minus when the Wait
/// that precedes it could fire at the earliest (negative: early).
pub type Lateness = Vec<i64>;

/// Checks the Wait and the Retry of every execution; returns violations,
/// and adds each Wait's lateness to `lateness`.
pub fn check(
    records: &[Record],
    succeeded: &BTreeMap<String, Vec<String>>,
    lateness: &mut Lateness,
) -> Vec<String> {
    let facts = Facts::gather(records);
    let mut violations = Vec::new();
    for (execution, attempts) in succeeded {
        check_wait(&facts, execution, attempts, lateness, &mut violations);
    }
    check_retries(&facts, records, &mut violations);
    violations
}

/// What the checks look up, indexed once.
struct Facts<'a> {
    /// attempt → its activity.
    activity: BTreeMap<&'a str, &'a str>,
    /// attempt → first send of a report for it, and first acknowledgement.
    first_sent_ms: BTreeMap<&'a str, u64>,
    first_ack_ms: BTreeMap<&'a str, u64>,
    /// (execution, activity) → hand-outs (attempt number, time).
    handed_out: BTreeMap<(&'a str, &'a str), Vec<(u64, u64)>>,
    /// Faults that delay the cluster: (begin, end).
    delays: Vec<(u64, u64)>,
}

impl<'a> Facts<'a> {
    fn gather(records: &'a [Record]) -> Self {
        let mut facts = Facts {
            activity: BTreeMap::new(),
            first_sent_ms: BTreeMap::new(),
            first_ack_ms: BTreeMap::new(),
            handed_out: BTreeMap::new(),
            delays: Vec::new(),
        };
        let mut begun: BTreeMap<&str, u64> = BTreeMap::new();
        for r in records {
            match r {
                Record::Delivered {
                    t_ms,
                    token,
                    execution_id,
                    activity,
                    ..
                } => {
                    let attempt = attempt_of(token);
                    facts.activity.insert(attempt, activity);
                    facts
                        .handed_out
                        .entry((execution_id, activity))
                        .or_default()
                        .push((number_of(attempt), *t_ms));
                }
                Record::Report {
                    t_ms,
                    sent_ms,
                    token,
                    outcome,
                    ..
                } if *sent_ms > 0 => {
                    let attempt = attempt_of(token);
                    keep_min(&mut facts.first_sent_ms, attempt, *sent_ms);
                    if *outcome == Outcome::Ok {
                        keep_min(&mut facts.first_ack_ms, attempt, *t_ms);
                    }
                }
                Record::Fault {
                    t_ms, kind, phase, ..
                } if FaultKind::parse(kind).is_some_and(FaultKind::delays_timers) => {
                    if phase == "begin" {
                        begun.insert(kind, *t_ms);
                    } else if let Some(began) = begun.remove(kind.as_str()) {
                        facts.delays.push((began, *t_ms));
                    }
                }
                _ => {}
            }
        }
        // A fault still in place at the end delays everything after it.
        facts
            .delays
            .extend(begun.into_values().map(|b| (b, u64::MAX)));
        facts
    }

    /// Whether a delaying fault overlaps `[from_ms, to_ms]`.
    fn delayed(&self, from_ms: u64, to_ms: u64) -> bool {
        self.delays
            .iter()
            .any(|&(b, e)| b <= to_ms && e.saturating_add(FAULT_TAIL_MS) >= from_ms)
    }
}

fn keep_min<'a>(map: &mut BTreeMap<&'a str, u64>, key: &'a str, value: u64) {
    let slot = map.entry(key).or_insert(value);
    *slot = (*slot).min(value);
}

/// The attempt number of `<execution>#<n>`.
fn number_of(attempt: &str) -> u64 {
    attempt
        .rsplit_once('#')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

/// The `Pause` Wait: Approve is handed out no earlier than the Parallel's
/// last branch report was sent + 1 s − the clock bound, and no later than
/// its acknowledgement + 1 s + the slack unless a fault overlaps.
fn check_wait(
    facts: &Facts,
    execution: &str,
    attempts: &[String],
    lateness: &mut Lateness,
    violations: &mut Vec<String>,
) {
    // The attempts of the history name the token that completed them.
    let branch = |activity: &str| {
        attempts
            .iter()
            .map(|a| attempt_of(a))
            .find(|a| facts.activity.get(a) == Some(&activity))
    };
    let (Some(pack), Some(notify)) = (branch("chaos-pack"), branch("chaos-notify")) else {
        return;
    };
    let Some(approve_ms) = facts
        .handed_out
        .get(&(execution, "chaos-approve"))
        .and_then(|h| h.iter().map(|&(_, t)| t).min())
    else {
        return;
    };
    let sent = |a: &str| facts.first_sent_ms.get(a).copied();
    if let (Some(p), Some(n)) = (sent(pack), sent(notify)) {
        let earliest_ms = p.max(n) + WAIT_MS;
        lateness.push(approve_ms as i64 - earliest_ms as i64);
        if approve_ms + CLOCK_BOUND_MS < earliest_ms {
            violations.push(format!(
                "{execution}: its 1 s Wait fired early: Approve was handed out {} ms after the Parallel's last report was sent (a timer may fire at most {CLOCK_BOUND_MS} ms early)",
                approve_ms.saturating_sub(p.max(n))
            ));
        }
    }
    let acked = |a: &str| facts.first_ack_ms.get(a).copied();
    if let (Some(p), Some(n)) = (acked(pack), acked(notify)) {
        let latest_ms = p.max(n) + WAIT_MS + CLOCK_BOUND_MS + LATE_SLACK_MS;
        if approve_ms > latest_ms && !facts.delayed(p.max(n), approve_ms) {
            violations.push(format!(
                "{execution}: its 1 s Wait fired late: Approve was handed out {} ms after the Parallel's last report was acknowledged, with no fault between",
                approve_ms - p.max(n)
            ));
        }
    }
}

/// The Charge Retry: after a failure report applied as new, the next
/// Charge attempt is handed out no earlier than the report's send + 1 s −
/// the clock bound.
fn check_retries(facts: &Facts, records: &[Record], violations: &mut Vec<String>) {
    for r in records {
        let Record::Report {
            sent_ms,
            token,
            kind,
            duplicate: false,
            outcome: Outcome::Ok,
            already_applied: false,
            ..
        } = r
        else {
            continue;
        };
        let attempt = attempt_of(token);
        if kind != "failure" || *sent_ms == 0 {
            continue;
        }
        let Some((execution, _)) = attempt.rsplit_once('#') else {
            continue;
        };
        let n = number_of(attempt);
        let next_ms = facts
            .handed_out
            .get(&(execution, "chaos-charge"))
            .and_then(|h| h.iter().filter(|&&(m, _)| m > n).map(|&(_, t)| t).min());
        if let Some(next_ms) = next_ms {
            if next_ms + CLOCK_BOUND_MS < sent_ms + RETRY_INTERVAL_MS {
                violations.push(format!(
                    "{attempt}: its 1 s Retry fired early: the next Charge attempt was handed out {} ms after the failure was sent",
                    next_ms.saturating_sub(*sent_ms)
                ));
            }
        }
    }
}
