//! The checks over the recorded history and the cluster's final state.
//!
//! ```text
//!   history.jsonl (starts, deliveries, reports, faults)  ─┐
//!   executions + their histories, read back at the end   ─┼─> violations + failover figures
//!   applied index and digest of every node               ─┘
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::history::{attempt_of, Outcome, Record};

/// What the cluster holds at the end, read back through the API.
pub struct Observed {
    /// Whether the list of executions could be read at all.
    pub listed: bool,
    /// Every execution of the workload's state machine: id → status.
    pub executions: BTreeMap<String, String>,
    /// Per execution: the attempts named in its ActivitySucceeded events.
    pub succeeded_attempts: BTreeMap<String, Vec<String>>,
    /// Executions whose history could not be read (the run is then invalid,
    /// and their reports are not checked).
    pub unread: BTreeSet<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Figures {
    pub offered: usize,
    pub acknowledged: usize,
    pub unknown: usize,
    pub deliveries: usize,
    pub redeliveries: usize,
    /// Hand-outs whose reply was lost and that a retry got back: repeat
    /// deliveries to the same poll id, and next tasks returned with a
    /// repeated report.
    pub lost_hand_outs_recovered: usize,
    pub duplicate_reports_refused: usize,
    pub abandoned: usize,
    /// Highest leader epoch a worker saw: 1 + the leader changes that
    /// handed out work (a run without faults should stay at 1).
    pub max_epoch: u64,
    pub failover_write_ms: Vec<u64>,
    pub failover_task_ms: Vec<u64>,
    /// Per execution: its Approve hand-out minus the earliest its 1 s Wait
    /// could fire (timers.rs); negative is early.
    pub wait_lateness_ms: Vec<i64>,
}

/// Runs every check; returns the violations (empty when the run passed).
pub fn check(
    records: &[Record],
    observed: &Observed,
    run_id: &str,
    figures: &mut Figures,
) -> Vec<String> {
    let mut violations = Vec::new();
    let mut submitted = BTreeSet::new();
    let mut acknowledged = BTreeMap::new();
    for r in records {
        if let Record::Start {
            name,
            outcome,
            execution_id,
            ..
        } = r
        {
            submitted.insert(name.clone());
            match outcome {
                Outcome::Ok => {
                    let id = execution_id.clone().unwrap_or_default();
                    acknowledged.insert(id, name.clone());
                }
                Outcome::Unknown => figures.unknown += 1,
                Outcome::Refused => {}
            }
        }
    }
    figures.acknowledged = acknowledged.len();

    // 1. Every acknowledged start finished, and succeeded (the workload's
    //    retries outlast every fault).
    for id in acknowledged.keys() {
        match observed.executions.get(id).map(String::as_str) {
            None => violations.push(format!("acknowledged execution {id} is missing")),
            Some("SUCCEEDED") => {}
            Some(status) => violations.push(format!(
                "acknowledged execution {id} ended {status}, not SUCCEEDED"
            )),
        }
    }
    // 2. Nothing appears that was not submitted; one execution per name.
    let prefix = format!("{}:", crate::workload::STATE_MACHINE);
    for id in observed.executions.keys() {
        let name = id.strip_prefix(&prefix).unwrap_or(id);
        if name.starts_with(run_id) && !submitted.contains(name) {
            violations.push(format!("execution {id} was never submitted"));
        }
    }

    // 3. Reports: an acknowledged report appears exactly once in its
    //    execution's history; a repeat is acknowledged as already applied
    //    (or refused, before apply version 4), never applied as new;
    //    nothing appears twice.
    let mut in_history: BTreeMap<&str, usize> = BTreeMap::new();
    for attempts in observed.succeeded_attempts.values() {
        for a in attempts {
            *in_history.entry(attempt_of(a)).or_default() += 1;
        }
    }
    for (attempt, n) in &in_history {
        if *n > 1 {
            violations.push(format!(
                "attempt {attempt} completed {n} times in its history"
            ));
        }
    }
    for r in records {
        let Record::Report {
            token,
            kind,
            duplicate,
            outcome,
            already_applied,
            ..
        } = r
        else {
            continue;
        };
        let attempt = attempt_of(token);
        match (duplicate, outcome) {
            (true, Outcome::Ok) if !already_applied => violations.push(format!(
                "a repeated report for {attempt} was acknowledged as a new one"
            )),
            (true, Outcome::Ok | Outcome::Refused) => figures.duplicate_reports_refused += 1,
            (false, Outcome::Ok)
                if kind != "failure"
                    && !observed
                        .unread
                        .contains(attempt.rsplit_once('#').map_or(attempt, |(e, _)| e))
                    && in_history.get(attempt).copied().unwrap_or(0) != 1 =>
            {
                violations.push(format!(
                    "the acknowledged completion of {attempt} is not in its history"
                ));
            }
            _ => {}
        }
    }

    // 4. Deliveries: an attempt goes to one poll (again only to a retry of
    //    that poll, after its reply was lost); epochs never go back.
    let mut delivered: BTreeMap<&str, Vec<Option<&str>>> = BTreeMap::new();
    let mut last_epoch: BTreeMap<usize, u64> = BTreeMap::new();
    for r in records {
        match r {
            Record::Delivered {
                token,
                poller,
                epoch,
                poll_id,
                ..
            } => {
                figures.deliveries += 1;
                figures.max_epoch = figures.max_epoch.max(*epoch);
                delivered
                    .entry(attempt_of(token))
                    .or_default()
                    .push(poll_id.as_deref());
                let last = last_epoch.entry(*poller).or_default();
                if *epoch < *last {
                    violations.push(format!(
                        "worker {poller} saw epoch {epoch} after epoch {last}"
                    ));
                }
                *last = (*last).max(*epoch);
            }
            Record::Abandoned { .. } => figures.abandoned += 1,
            Record::Report {
                next_recovered: true,
                ..
            } => figures.lost_hand_outs_recovered += 1,
            _ => {}
        }
    }
    for (attempt, polls) in delivered {
        let n = polls.len();
        let one_poll = polls.iter().all(|p| p.is_some() && *p == polls[0]);
        if n > 1 && one_poll {
            figures.lost_hand_outs_recovered += n - 1;
        } else if n > 1 {
            figures.redeliveries += n - 1;
            violations.push(format!(
                "attempt {attempt} was handed out {n} times, to {} polls (the contract allows one poll)",
                polls.iter().collect::<BTreeSet<_>>().len()
            ));
        }
    }

    // 5. Timers fire neither early nor late, and no node led while its
    //    clock was skewed.
    violations.extend(crate::timers::check(
        records,
        &observed.succeeded_attempts,
        &mut figures.wait_lateness_ms,
    ));
    for r in records {
        if let Record::SkewedLeader {
            t_ms,
            node,
            clock_ms,
        } = r
        {
            violations.push(format!(
                "node {node} drove an epoch at {t_ms} ms with its clock {clock_ms:+} ms off"
            ));
        }
    }

    // 6. Failover: kill → first committed write, and → first task handed
    //    out by a newer epoch than any seen before the fault.
    for r in records {
        let Record::Failover {
            fault_t_ms,
            write_ms,
            ..
        } = r
        else {
            continue;
        };
        figures.failover_write_ms.push(*write_ms);
        let before = records
            .iter()
            .filter_map(|d| match d {
                Record::Delivered { t_ms, epoch, .. } if t_ms <= fault_t_ms => Some(*epoch),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let first_task = records.iter().find_map(|d| match d {
            Record::Delivered { t_ms, epoch, .. } if t_ms > fault_t_ms && *epoch > before => {
                Some(t_ms - fault_t_ms)
            }
            _ => None,
        });
        if let Some(ms) = first_task {
            figures.failover_task_ms.push(ms);
        }
    }
    violations
}

/// p50, p99 and max of a list of milliseconds.
pub fn summary(values: &[u64]) -> Option<(u64, u64, u64)> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let at = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize];
    (!sorted.is_empty()).then(|| (at(0.5), at(0.99), *sorted.last().expect("not empty")))
}
