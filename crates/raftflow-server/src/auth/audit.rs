//! The audit trail: one structured line per call that changes something,
//! and per refused call (at most one a second per caller, with a count of
//! the lines left out), under the log target `raftflow::audit`.
//!
//! ```text
//!  audit node=1 accessor=9f… name=ci role=operator method=WorkflowService/StopExecution target=orders:o-17 outcome=OK
//! ```
//! Task traffic (polls, heartbeats, reports) is not audited line by line:
//! a worker makes thousands of calls a minute; the metrics count it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Caller;

/// What the handler acted on, filled in by it for the audit line.
#[derive(Clone, Default)]
pub struct Target(Arc<Mutex<Option<String>>>);

impl Target {
    /// Records the call's target (a state machine, an execution, a token).
    pub fn set<T>(request: &tonic::Request<T>, target: impl Into<String>) {
        if let Some(slot) = request.extensions().get::<Target>() {
            *slot.0.lock().expect("audit lock poisoned") = Some(target.into());
        }
    }

    fn get(&self) -> String {
        self.0
            .lock()
            .expect("audit lock poisoned")
            .clone()
            .unwrap_or_else(|| "-".into())
    }
}

/// Whether a method's successful calls are audited: the ones that change
/// state, except task traffic.
pub fn audited(path: &str) -> bool {
    let method = path.rsplit('/').next().unwrap_or("");
    let reads = [
        "Status",
        "ReadProbe",
        "ValidateStateMachineDefinition",
        "DescribeStateMachine",
        "ListStateMachines",
        "DescribeExecution",
        "ListExecutions",
        "GetExecutionHistory",
        "WatchExecution",
        "GetStatistics",
        "ListTokens",
        "WhoAmI",
        "Check",
        "Watch",
        "ServerReflectionInfo",
    ];
    let tasks = [
        "PollTask",
        "HeartbeatTask",
        "WithdrawPoll",
        "CompleteTask",
        "FailTask",
    ];
    !reads.contains(&method) && !tasks.contains(&method)
}

/// Refused calls logged at most once a second per caller.
#[derive(Default)]
pub struct Limiter {
    last: Mutex<HashMap<String, (Instant, u64)>>,
}

/// Callers remembered at most; past it the memory starts over.
const MAX_CALLERS: usize = 10_000;
const EVERY: Duration = Duration::from_secs(1);

impl Limiter {
    /// Whether a refused call of `who` is logged now, and how many were
    /// left out since the last line.
    pub fn admit(&self, who: &str) -> Option<u64> {
        let mut last = self.last.lock().expect("audit lock poisoned");
        if last.len() >= MAX_CALLERS && !last.contains_key(who) {
            last.clear();
        }
        let now = Instant::now();
        let entry = last.entry(who.to_string()).or_insert((now - EVERY, 0));
        if now.duration_since(entry.0) < EVERY {
            entry.1 += 1;
            return None;
        }
        let skipped = std::mem::take(&mut entry.1);
        entry.0 = now;
        Some(skipped)
    }
}

/// Writes one audit line.
pub fn line(node: u64, caller: &Caller, method: &str, target: &Target, outcome: &str) {
    let (accessor, name) = match caller {
        Caller::Token { accessor, name, .. } => (accessor.as_str(), name.as_str()),
        _ => ("-", "-"),
    };
    let role = caller.role().map_or("-", |r| r.as_str());
    tracing::info!(
        target: "raftflow::audit",
        node,
        accessor,
        name,
        caller = %caller.label(),
        role,
        method,
        target = %target.get(),
        outcome,
        "audit"
    );
}

/// Writes the line of a refused call, unless this caller had one this second.
pub fn refused(node: u64, limiter: &Limiter, who: &str, method: &str, message: &str) {
    if let Some(skipped) = limiter.admit(who) {
        tracing::info!(
            target: "raftflow::audit",
            node,
            caller = who,
            method,
            outcome = "refused",
            reason = message,
            skipped,
            "audit"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_refusals_makes_one_line_a_second() {
        let limiter = Limiter::default();
        assert_eq!(limiter.admit("10.0.0.9"), Some(0));
        for _ in 0..1000 {
            assert_eq!(limiter.admit("10.0.0.9"), None);
        }
        assert_eq!(
            limiter.admit("10.0.0.8"),
            Some(0),
            "another caller is not held back"
        );
    }

    #[test]
    fn reads_and_task_traffic_are_not_audited() {
        assert!(audited("/raftflow.v1.WorkflowService/StopExecution"));
        assert!(audited("/raftflow.v1.AclService/CreateToken"));
        assert!(audited("/raftflow.v1.ClusterService/ChangeMembership"));
        assert!(!audited("/raftflow.v1.WorkflowService/ListExecutions"));
        assert!(!audited("/raftflow.v1.WorkerService/CompleteTask"));
    }
}
