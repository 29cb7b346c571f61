//! What each gRPC method needs, by its path. A method missing from the
//! table needs `cluster:manage` (admins only): a new RPC is closed until
//! someone decides who may call it.

use super::Permission::{self, *};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Health, reflection, and the one-time bootstrap.
    Open,
    /// Any valid token (WhoAmI).
    Authenticated,
    /// A caller holding any of these.
    Needs(&'static [Permission]),
}

/// The rule for `/package.Service/Method`.
pub fn rule(path: &str) -> Rule {
    let Some((service, method)) = path.trim_start_matches('/').split_once('/') else {
        return Rule::Needs(&[ManageCluster]);
    };
    match service {
        "grpc.health.v1.Health"
        | "grpc.reflection.v1.ServerReflection"
        | "grpc.reflection.v1alpha.ServerReflection" => Rule::Open,
        "raftflow.v1.ClusterService" => cluster(method),
        "raftflow.v1.WorkflowService" => workflow(method),
        "raftflow.v1.WorkerService" => worker(method),
        "raftflow.v1.AclService" => acl(method),
        "raftflow.v1.ScheduleService" => schedule(method),
        "raftflow.v1.TriggerService" => trigger(method),
        "raftflow.v1.ConnectionService" => connection(method),
        "raftflow.v1.SubscriptionService" => subscription(method),
        _ => Rule::Needs(&[ManageCluster]),
    }
}

fn cluster(method: &str) -> Rule {
    match method {
        "Status" | "ReadProbe" => Rule::Needs(&[ReadCluster]),
        _ => Rule::Needs(&[ManageCluster]),
    }
}

fn workflow(method: &str) -> Rule {
    match method {
        "CreateStateMachine" => Rule::Needs(&[WriteStateMachines]),
        "DeleteStateMachine" => Rule::Needs(&[DeleteStateMachines]),
        "StartExecution" => Rule::Needs(&[StartExecutions]),
        "StopExecution" => Rule::Needs(&[StopExecutions]),
        "ValidateStateMachineDefinition"
        | "DescribeStateMachine"
        | "ListStateMachines"
        | "DescribeExecution"
        | "ListExecutions"
        | "GetExecutionHistory"
        | "WatchExecution"
        | "GetStatistics" => Rule::Needs(&[ReadWorkflows]),
        _ => Rule::Needs(&[ManageCluster]),
    }
}

fn worker(method: &str) -> Rule {
    match method {
        "PollTask" | "WithdrawPoll" => Rule::Needs(&[RunTasks]),
        // An operator may report a callback task (the handler checks that
        // the task is one); a worker, any task of its activities.
        "CompleteTask" | "FailTask" | "HeartbeatTask" => Rule::Needs(&[RunTasks, ReportCallbacks]),
        _ => Rule::Needs(&[ManageCluster]),
    }
}

fn schedule(method: &str) -> Rule {
    match method {
        "DescribeSchedule" | "ListSchedules" => Rule::Needs(&[ReadWorkflows]),
        "CreateSchedule" | "UpdateSchedule" | "PauseSchedule" | "TriggerSchedule"
        | "DeleteSchedule" | "BackfillSchedule" => Rule::Needs(&[WriteSchedules]),
        _ => Rule::Needs(&[ManageCluster]),
    }
}

fn trigger(method: &str) -> Rule {
    match method {
        "DescribeTrigger" | "ListTriggers" => Rule::Needs(&[ReadWorkflows]),
        "CreateTrigger" | "UpdateTrigger" | "DeleteTrigger" => Rule::Needs(&[WriteTriggers]),
        _ => Rule::Needs(&[ManageCluster]),
    }
}

/// Connections hold credentials: only an admin saves them; a reader sees
/// names and kinds, never a secret.
fn connection(method: &str) -> Rule {
    match method {
        "DescribeConnection" | "ListConnections" => Rule::Needs(&[ReadWorkflows]),
        _ => Rule::Needs(&[WriteConnections]),
    }
}

/// Subscriptions send execution data out: only an admin saves them or
/// redrives; a reader sees them and their events, never the secret.
fn subscription(method: &str) -> Rule {
    match method {
        "DescribeSubscription" | "ListSubscriptions" | "ListSubscriptionEvents" => {
            Rule::Needs(&[ReadWorkflows])
        }
        _ => Rule::Needs(&[WriteSubscriptions]),
    }
}

fn acl(method: &str) -> Rule {
    match method {
        "Bootstrap" => Rule::Open,
        "WhoAmI" => Rule::Authenticated,
        _ => Rule::Needs(&[ManageTokens]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_are_for_admins_only() {
        assert_eq!(
            rule("/raftflow.v1.WorkflowService/SomethingNew"),
            Rule::Needs(&[ManageCluster])
        );
        assert_eq!(rule("/other.Service/Call"), Rule::Needs(&[ManageCluster]));
        assert_eq!(rule("garbage"), Rule::Needs(&[ManageCluster]));
        assert_eq!(rule("/grpc.health.v1.Health/Check"), Rule::Open);
        assert_eq!(rule("/raftflow.v1.AclService/Bootstrap"), Rule::Open);
    }
}
