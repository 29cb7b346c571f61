//! Who may poll and report which tasks: the checks the worker service makes
//! once it knows the activities or the attempt a call is about.

use raftflow_store::records::TaskEntry;
use tonic::Status;

use super::{Caller, Permission};

/// Refuses a poll for an activity outside a worker's scopes.
pub fn check_poll(caller: &Caller, activities: &[String]) -> Result<(), Status> {
    activities
        .iter()
        .try_for_each(|activity| caller.check_activity(activity))
}

/// Whether `caller` may report `task` (the attempt its task token names):
/// a worker, a task of its activities; a caller that reports callbacks
/// only (an operator), a `.waitForTaskToken` task of its state machines.
/// A token that names no open attempt passes: apply refuses it as stale
/// and nothing changes.
pub fn check_report(caller: &Caller, task: Option<&TaskEntry>) -> Result<(), Status> {
    let Some(task) = task else {
        return Ok(());
    };
    if caller.may(Permission::RunTasks) {
        return caller.check_activity(&task.activity);
    }
    if !caller.may(Permission::ReportCallbacks) {
        return Err(Status::permission_denied(format!(
            "{} lacks permission {} (or {})",
            caller.label(),
            Permission::RunTasks,
            Permission::ReportCallbacks
        )));
    }
    if !task.wait_for_token {
        return Err(Status::permission_denied(format!(
            "{} may report callback tasks (.waitForTaskToken) only; this task of activity `{}` is for a worker (permission {})",
            caller.label(),
            task.activity,
            Permission::RunTasks
        )));
    }
    caller.check_execution(&task.execution_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftflow_store::acl::Role;

    fn token(role: Role, scopes: &[&str]) -> Caller {
        Caller::Token {
            accessor: "0".repeat(32),
            name: "t".into(),
            role,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn task(activity: &str, execution_id: &str, wait_for_token: bool) -> TaskEntry {
        TaskEntry {
            token: format!("{execution_id}#1"),
            execution_id: execution_id.into(),
            activity: activity.into(),
            input: "{}".into(),
            attempt: 1,
            heartbeat_ms: None,
            wait_for_token,
            scheduled_ms: 0,
            dispatched: None,
        }
    }

    #[test]
    fn workers_report_their_activities_and_operators_callbacks_only() {
        let worker = token(Role::Worker, &["payments.*"]);
        let charge = task("payments.charge", "orders:1", false);
        let label = task("shipping.label", "orders:1", false);
        assert!(check_report(&worker, Some(&charge)).is_ok());
        assert!(check_report(&worker, Some(&label)).is_err());

        let operator = token(Role::Operator, &["orders*"]);
        assert!(
            check_report(&operator, Some(&charge)).is_err(),
            "not a callback"
        );
        let approval = task("approvals", "orders:1", true);
        assert!(check_report(&operator, Some(&approval)).is_ok());
        let other = task("approvals", "billing:1", true);
        assert!(
            check_report(&operator, Some(&other)).is_err(),
            "outside its scopes"
        );

        let reader = token(Role::Reader, &[]);
        assert!(check_report(&reader, Some(&approval)).is_err());
        assert!(
            check_report(&worker, None).is_ok(),
            "apply refuses it as stale"
        );
    }
}
