//! Every RPC of the API port × every role, against a real cluster: the
//! expected table is written out here, independently of the server's.

use raftflow_client::proto::acl_service_client::AclServiceClient;
use raftflow_client::proto::cluster_service_client::ClusterServiceClient;
use raftflow_client::proto::connection_service_client::ConnectionServiceClient;
use raftflow_client::proto::schedule_service_client::ScheduleServiceClient;
use raftflow_client::proto::subscription_service_client::SubscriptionServiceClient;
use raftflow_client::proto::trigger_service_client::TriggerServiceClient;
use raftflow_client::proto::worker_service_client::WorkerServiceClient;
use raftflow_client::proto::workflow_service_client::WorkflowServiceClient;
use raftflow_client::proto::*;
use raftflow_client::{Bearer, Conn};
use std::time::Duration;
use tonic::{Code, Status};

use crate::harness::{tls_channel, TestCluster};

#[path = "auth_table_named.rs"]
mod named;
use named::*;

const WAIT: Duration = Duration::from_secs(30);
const DEFINITION: &str = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:table.work", "End": true}}}"#;

const ADMIN: &str = "admin";
const OPERATOR: &str = "operator";
const WORKER: &str = "worker";
const READER: &str = "reader";
const NONE: &str = "none";
const ALL_ROLES: [&str; 5] = [ADMIN, OPERATOR, WORKER, READER, NONE];

/// Who may call each method (`NONE`: a call without a token).
const TABLE: &[(&str, &[&str])] = &[
    ("Health/Check", &[ADMIN, OPERATOR, WORKER, READER, NONE]),
    ("Cluster/Status", &[ADMIN, OPERATOR, READER]),
    ("Cluster/ReadProbe", &[ADMIN, OPERATOR, READER]),
    ("Cluster/Probe", &[ADMIN]),
    ("Cluster/AddLearner", &[ADMIN]),
    ("Cluster/ChangeMembership", &[ADMIN]),
    ("Cluster/UpgradeApplyVersion", &[ADMIN]),
    ("Cluster/TransferLeader", &[ADMIN]),
    ("Cluster/SaveSnapshot", &[ADMIN]),
    ("Cluster/RemovePeer", &[ADMIN]),
    ("Workflow/CreateStateMachine", &[ADMIN, OPERATOR]),
    (
        "Workflow/ValidateStateMachineDefinition",
        &[ADMIN, OPERATOR, READER],
    ),
    ("Workflow/DescribeStateMachine", &[ADMIN, OPERATOR, READER]),
    ("Workflow/ListStateMachines", &[ADMIN, OPERATOR, READER]),
    ("Workflow/DeleteStateMachine", &[ADMIN]),
    ("Workflow/StartExecution", &[ADMIN, OPERATOR]),
    ("Workflow/DescribeExecution", &[ADMIN, OPERATOR, READER]),
    ("Workflow/ListExecutions", &[ADMIN, OPERATOR, READER]),
    ("Workflow/GetExecutionHistory", &[ADMIN, OPERATOR, READER]),
    ("Workflow/StopExecution", &[ADMIN, OPERATOR]),
    ("Workflow/WatchExecution", &[ADMIN, OPERATOR, READER]),
    ("Workflow/GetStatistics", &[ADMIN, OPERATOR, READER]),
    ("Worker/PollTask", &[ADMIN, WORKER]),
    ("Worker/WithdrawPoll", &[ADMIN, WORKER]),
    ("Worker/CompleteTask", &[ADMIN, OPERATOR, WORKER]),
    ("Worker/FailTask", &[ADMIN, OPERATOR, WORKER]),
    ("Worker/HeartbeatTask", &[ADMIN, OPERATOR, WORKER]),
    ("Acl/Bootstrap", &[ADMIN, OPERATOR, WORKER, READER, NONE]),
    ("Acl/CreateToken", &[ADMIN]),
    ("Acl/ListTokens", &[ADMIN]),
    ("Acl/RevokeToken", &[ADMIN]),
    ("Acl/RotateToken", &[ADMIN]),
    ("Acl/WhoAmI", &[ADMIN, OPERATOR, WORKER, READER]),
    ("Schedule/CreateSchedule", &[ADMIN, OPERATOR]),
    ("Schedule/UpdateSchedule", &[ADMIN, OPERATOR]),
    ("Schedule/DescribeSchedule", &[ADMIN, OPERATOR, READER]),
    ("Schedule/ListSchedules", &[ADMIN, OPERATOR, READER]),
    ("Schedule/PauseSchedule", &[ADMIN, OPERATOR]),
    ("Schedule/TriggerSchedule", &[ADMIN, OPERATOR]),
    ("Schedule/DeleteSchedule", &[ADMIN, OPERATOR]),
    ("Schedule/BackfillSchedule", &[ADMIN, OPERATOR]),
    ("Trigger/CreateTrigger", &[ADMIN, OPERATOR]),
    ("Trigger/UpdateTrigger", &[ADMIN, OPERATOR]),
    ("Trigger/DescribeTrigger", &[ADMIN, OPERATOR, READER]),
    ("Trigger/ListTriggers", &[ADMIN, OPERATOR, READER]),
    ("Trigger/DeleteTrigger", &[ADMIN, OPERATOR]),
    ("Connection/CreateConnection", &[ADMIN]),
    ("Connection/UpdateConnection", &[ADMIN]),
    ("Connection/DescribeConnection", &[ADMIN, OPERATOR, READER]),
    ("Connection/ListConnections", &[ADMIN, OPERATOR, READER]),
    ("Connection/DeleteConnection", &[ADMIN]),
    ("Connection/RekeyConnections", &[ADMIN]),
    ("Subscription/CreateSubscription", &[ADMIN]),
    ("Subscription/UpdateSubscription", &[ADMIN]),
    (
        "Subscription/DescribeSubscription",
        &[ADMIN, OPERATOR, READER],
    ),
    ("Subscription/ListSubscriptions", &[ADMIN, OPERATOR, READER]),
    (
        "Subscription/ListSubscriptionEvents",
        &[ADMIN, OPERATOR, READER],
    ),
    ("Subscription/DeleteSubscription", &[ADMIN]),
    ("Subscription/RedriveDeadLetters", &[ADMIN]),
];

fn code<T>(result: Result<tonic::Response<T>, Status>) -> (Code, String) {
    match result {
        Ok(_) => (Code::Ok, String::new()),
        Err(status) => (status.code(), status.message().to_string()),
    }
}

/// Makes the call `method` names, harmlessly (unknown targets, no-ops).
async fn call(method: &str, role: &str, ch: Conn) -> (Code, String) {
    let mut cl = ClusterServiceClient::new(ch.clone());
    let mut wf = WorkflowServiceClient::new(ch.clone());
    let mut wk = WorkerServiceClient::new(ch.clone());
    let mut acl = AclServiceClient::new(ch.clone());
    let missing = "table:missing".to_string();
    if let Some(method) = method.strip_prefix("Schedule/") {
        return call_schedule(method, role, ch).await;
    }
    if let Some(method) = method.strip_prefix("Trigger/") {
        return call_trigger(method, role, ch).await;
    }
    if let Some(method) = method.strip_prefix("Connection/") {
        return call_connection(method, role, ch).await;
    }
    if let Some(method) = method.strip_prefix("Subscription/") {
        return call_subscription(method, role, ch).await;
    }
    match method {
        "Health/Check" => code(
            tonic_health::pb::health_client::HealthClient::new(ch)
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await,
        ),
        "Cluster/Status" => code(cl.status(StatusRequest { digest: false }).await),
        "Cluster/ReadProbe" => code(
            cl.read_probe(ReadProbeRequest {
                key: "k".into(),
                local: false,
            })
            .await,
        ),
        "Cluster/Probe" => code(
            cl.probe(ProbeRequest {
                key: "k".into(),
                value: vec![1],
            })
            .await,
        ),
        "Cluster/AddLearner" => code(cl.add_learner(AddLearnerRequest::default()).await),
        "Cluster/ChangeMembership" => code(
            cl.change_membership(ChangeMembershipRequest::default())
                .await,
        ),
        "Cluster/TransferLeader" => {
            code(cl.transfer_leader(TransferLeaderRequest { to: 99 }).await)
        }
        // Not linearizable: any node copies its own state (the stream is
        // dropped unread; the copy is removed when it ends).
        "Cluster/SaveSnapshot" => code(
            cl.save_snapshot(SaveSnapshotRequest {
                linearizable: false,
            })
            .await,
        ),
        "Cluster/RemovePeer" => code(cl.remove_peer(RemovePeerRequest { id: 99 }).await),
        "Cluster/UpgradeApplyVersion" => code(
            cl.upgrade_apply_version(UpgradeApplyVersionRequest { version: 0 })
                .await,
        ),
        "Workflow/CreateStateMachine" => code(
            wf.create_state_machine(CreateStateMachineRequest {
                name: "table".into(),
                definition: DEFINITION.into(),
                description: String::new(),
            })
            .await,
        ),
        "Workflow/ValidateStateMachineDefinition" => code(
            wf.validate_state_machine_definition(ValidateRequest {
                definition: DEFINITION.into(),
            })
            .await,
        ),
        "Workflow/DescribeStateMachine" => code(
            wf.describe_state_machine(DescribeStateMachineRequest {
                name: "table".into(),
                ..Default::default()
            })
            .await,
        ),
        "Workflow/ListStateMachines" => code(
            wf.list_state_machines(ListStateMachinesRequest::default())
                .await,
        ),
        "Workflow/DeleteStateMachine" => code(
            wf.delete_state_machine(DeleteStateMachineRequest {
                name: "missing".into(),
                force: false,
            })
            .await,
        ),
        "Workflow/StartExecution" => code(
            wf.start_execution(StartExecutionRequest {
                state_machine: "table".into(),
                name: format!("by-{role}"),
                input: "{}".into(),
            })
            .await,
        ),
        "Workflow/DescribeExecution" => code(
            wf.describe_execution(DescribeExecutionRequest {
                execution_id: missing,
                ..Default::default()
            })
            .await,
        ),
        "Workflow/ListExecutions" => {
            code(wf.list_executions(ListExecutionsRequest::default()).await)
        }
        "Workflow/GetExecutionHistory" => code(
            wf.get_execution_history(GetExecutionHistoryRequest {
                execution_id: missing,
                ..Default::default()
            })
            .await,
        ),
        "Workflow/StopExecution" => code(
            wf.stop_execution(StopExecutionRequest {
                execution_id: missing,
                ..Default::default()
            })
            .await,
        ),
        "Workflow/WatchExecution" => code(
            wf.watch_execution(WatchExecutionRequest {
                execution_id: missing,
                after_event_id: 0,
            })
            .await,
        ),
        "Workflow/GetStatistics" => code(
            wf.get_statistics(GetStatisticsRequest {
                state_machine: "table-missing".into(),
                ..Default::default()
            })
            .await,
        ),
        "Worker/PollTask" => code(
            wk.poll_task(PollTaskRequest {
                activities: vec!["table.nothing".into()],
                timeout_ms: 1,
                ..Default::default()
            })
            .await,
        ),
        "Worker/WithdrawPoll" => code(
            wk.withdraw_poll(WithdrawPollRequest {
                poll_id: format!("p-{role}"),
            })
            .await,
        ),
        "Worker/CompleteTask" => code(
            wk.complete_task(CompleteTaskRequest {
                token: format!("{missing}#1"),
                ..Default::default()
            })
            .await,
        ),
        "Worker/FailTask" => code(
            wk.fail_task(FailTaskRequest {
                token: format!("{missing}#1"),
                ..Default::default()
            })
            .await,
        ),
        "Worker/HeartbeatTask" => code(
            wk.heartbeat_task(HeartbeatTaskRequest {
                token: format!("{missing}#1"),
            })
            .await,
        ),
        "Acl/Bootstrap" => code(acl.bootstrap(BootstrapRequest {}).await),
        "Acl/CreateToken" => code(
            acl.create_token(CreateTokenRequest {
                name: format!("made-by-{role}"),
                role: Role::Reader as i32,
                ..Default::default()
            })
            .await,
        ),
        "Acl/ListTokens" => code(acl.list_tokens(ListTokensRequest {}).await),
        "Acl/RevokeToken" => code(
            acl.revoke_token(RevokeTokenRequest {
                token: "nobody".into(),
            })
            .await,
        ),
        "Acl/RotateToken" => code(
            acl.rotate_token(RotateTokenRequest {
                token: "nobody".into(),
            })
            .await,
        ),
        "Acl/WhoAmI" => code(acl.who_am_i(WhoAmIRequest {}).await),
        other => panic!("the table names an unknown method {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_rpc_admits_exactly_the_roles_of_the_table() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let admin = cluster.client_with("table", DEFINITION).await;
    let leader = cluster.wait_leader(WAIT).await;
    let mut secrets = vec![(ADMIN, Some(crate::harness::admin_secret().to_string()))];
    for (role, proto) in [
        (OPERATOR, Role::Operator),
        (WORKER, Role::Worker),
        (READER, Role::Reader),
    ] {
        let made = admin
            .create_token(role, proto, &[], 0)
            .await
            .expect("token");
        secrets.push((role, Some(made.secret)));
    }
    secrets.push((NONE, None));
    let addr = cluster.node(leader).api_addr;
    let mut wrong = Vec::new();
    for (role, secret) in &secrets {
        let raw = tls_channel(addr).await;
        let ch = match secret {
            Some(s) => Bearer::new(s).unwrap().wrap(raw),
            None => Bearer::default().wrap(raw),
        };
        for (method, allowed) in TABLE {
            let (code, message) = call(method, role, ch.clone()).await;
            let admitted = !matches!(code, Code::Unauthenticated | Code::PermissionDenied);
            if admitted != allowed.contains(role) {
                wrong.push(format!("{role} × {method}: {code:?} {message}"));
            }
            if !admitted {
                assert!(
                    message.contains("permission") || message.contains("token"),
                    "a refusal names what is missing: {message}"
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "calls that broke the table:\n{}",
        wrong.join("\n")
    );
    assert!(ALL_ROLES
        .iter()
        .all(|r| secrets.iter().any(|(s, _)| s == r)));
}
