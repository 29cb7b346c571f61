//! The calls of the services that keep named records (schedules,
//! triggers, connections, subscriptions) for the role table.

use super::*;

/// The schedule calls: a real create (a yearly spec that never fires
/// during the test), the others on a schedule that does not exist.
pub(super) async fn call_schedule(method: &str, role: &str, ch: Conn) -> (Code, String) {
    let mut sc = ScheduleServiceClient::new(ch);
    let schedule = Some(ScheduleDefinition {
        name: format!("table-{role}"),
        state_machine: "table".into(),
        spec: "cron(0 0 1 1 ? *)".into(),
        ..Default::default()
    });
    let name = "missing".to_string();
    match method {
        "CreateSchedule" => code(sc.create_schedule(CreateScheduleRequest { schedule }).await),
        "UpdateSchedule" => code(sc.update_schedule(UpdateScheduleRequest { schedule }).await),
        "DescribeSchedule" => code(
            sc.describe_schedule(DescribeScheduleRequest {
                name,
                ..Default::default()
            })
            .await,
        ),
        "ListSchedules" => code(sc.list_schedules(ListSchedulesRequest::default()).await),
        "PauseSchedule" => code(
            sc.pause_schedule(PauseScheduleRequest {
                name,
                paused: true,
                note: String::new(),
            })
            .await,
        ),
        "TriggerSchedule" => code(sc.trigger_schedule(TriggerScheduleRequest { name }).await),
        "DeleteSchedule" => code(sc.delete_schedule(DeleteScheduleRequest { name }).await),
        "BackfillSchedule" => code(
            sc.backfill_schedule(BackfillScheduleRequest {
                name,
                from_ms: 0,
                to_ms: 1,
                overlap: 0,
            })
            .await,
        ),
        other => panic!("the table names an unknown method Schedule/{other}"),
    }
}

/// The trigger calls: a real create (watching the table's own state
/// machine, starting one that does not exist), the others on a trigger
/// that does not exist.
pub(super) async fn call_trigger(method: &str, role: &str, ch: Conn) -> (Code, String) {
    let mut tc = TriggerServiceClient::new(ch);
    let trigger = Some(TriggerDefinition {
        name: format!("table-{role}"),
        source: "table".into(),
        start_state_machine: "table-nothing".into(),
        ..Default::default()
    });
    let name = "missing".to_string();
    match method {
        "CreateTrigger" => code(tc.create_trigger(CreateTriggerRequest { trigger }).await),
        "UpdateTrigger" => code(tc.update_trigger(UpdateTriggerRequest { trigger }).await),
        "DescribeTrigger" => code(
            tc.describe_trigger(DescribeTriggerRequest {
                name,
                ..Default::default()
            })
            .await,
        ),
        "ListTriggers" => code(tc.list_triggers(ListTriggersRequest::default()).await),
        "DeleteTrigger" => code(tc.delete_trigger(DeleteTriggerRequest { name }).await),
        other => panic!("the table names an unknown method Trigger/{other}"),
    }
}

/// The connection calls: a real create, the others on one that does not exist.
pub(super) async fn call_connection(method: &str, role: &str, ch: Conn) -> (Code, String) {
    let mut cc = ConnectionServiceClient::new(ch);
    let save = SaveConnectionRequest {
        name: format!("table-{role}"),
        credentials: Some(save_connection_request::Credentials::Bearer(BearerAuth {
            token: "t".into(),
        })),
        ..Default::default()
    };
    let name = "missing".to_string();
    match method {
        "CreateConnection" => code(cc.create_connection(save).await),
        "UpdateConnection" => code(cc.update_connection(save).await),
        "DescribeConnection" => code(
            cc.describe_connection(DescribeConnectionRequest {
                name,
                ..Default::default()
            })
            .await,
        ),
        "ListConnections" => code(cc.list_connections(ListConnectionsRequest::default()).await),
        "DeleteConnection" => code(cc.delete_connection(DeleteConnectionRequest { name }).await),
        "RekeyConnections" => code(cc.rekey_connections(RekeyConnectionsRequest {}).await),
        other => panic!("the table names an unknown method Connection/{other}"),
    }
}

/// The subscription calls: a real create, the others on one that does not exist.
pub(super) async fn call_subscription(method: &str, role: &str, ch: Conn) -> (Code, String) {
    let mut sc = SubscriptionServiceClient::new(ch);
    let save = SaveSubscriptionRequest {
        name: format!("table-{role}"),
        state_machine: "nothing".into(),
        on: vec![ExecutionChange::Succeeded as i32],
        url: "https://hooks.example.com/table".into(),
        signing_secret: "0123456789abcdef".into(),
        ..Default::default()
    };
    let name = "missing".to_string();
    let (seqs, after, limit, dead_letters, consistency) = (Vec::new(), 0, 0, false, 0);
    match method {
        "CreateSubscription" => code(sc.create_subscription(save).await),
        "UpdateSubscription" => code(sc.update_subscription(save).await),
        "DescribeSubscription" => code(
            sc.describe_subscription(DescribeSubscriptionRequest { name, consistency })
                .await,
        ),
        "ListSubscriptions" => code(
            sc.list_subscriptions(ListSubscriptionsRequest::default())
                .await,
        ),
        "ListSubscriptionEvents" => code(
            sc.list_subscription_events(ListSubscriptionEventsRequest {
                name,
                dead_letters,
                after,
                limit,
                consistency,
            })
            .await,
        ),
        "DeleteSubscription" => code(
            sc.delete_subscription(DeleteSubscriptionRequest { name })
                .await,
        ),
        "RedriveDeadLetters" => code(
            sc.redrive_dead_letters(RedriveDeadLettersRequest { name, seqs })
                .await,
        ),
        other => panic!("the table names an unknown method Subscription/{other}"),
    }
}
