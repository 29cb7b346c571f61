//! Triggers on a real cluster: B starts exactly once per A that succeeds,
//! in the apply that ends A, across a leader stop; the replicas agree.

use std::time::Duration;

use raftflow_client::proto::{ExecutionEnd, TriggerDefinition};

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(60);
const PACKED: &str = r#"{"StartAt": "Pack", "States": {"Pack": {"Type": "Task",
  "Resource": "activity:trig.pack", "End": true}}}"#;
const SHIP: &str = r#"{"StartAt": "Ship", "States": {"Ship": {"Type": "Pass",
  "Parameters": {"order.$": "$.detail.name", "status.$": "$.detail.status"}, "End": true}}}"#;
const ORDERS: usize = 4;

/// Takes one `trig.pack` task and completes it with the order's name.
async fn pack_one(client: &raftflow_client::Client) {
    let activities = ["trig.pack".to_string()];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no task to pack");
        let Ok(Some(task)) = client.poll_task(&activities, "packer", 5_000).await else {
            continue;
        };
        if client
            .complete_task(&task.token, r#"{"packed": true}"#)
            .await
            .is_ok()
        {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn b_starts_exactly_once_per_a_across_a_leader_stop() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let client = cluster.client_with("orders", PACKED).await;
    client
        .create_state_machine("shipping", SHIP, "")
        .await
        .unwrap();
    cluster
        .wait_apply_version(raftflow_store::version::APPLY_VERSION_MAX, WAIT)
        .await;
    let trigger = TriggerDefinition {
        name: "ship".into(),
        source: "orders".into(),
        on: vec![ExecutionEnd::Succeeded as i32],
        start_state_machine: "shipping".into(),
        ..Default::default()
    };
    assert!(
        client
            .create_trigger(trigger.clone())
            .await
            .unwrap()
            .created
    );
    assert!(!client.create_trigger(trigger).await.unwrap().created);
    for i in 0..ORDERS {
        let name = format!("o-{i}");
        client
            .start_execution("orders", Some(&name), "{}")
            .await
            .unwrap();
    }
    for _ in 0..ORDERS / 2 {
        pack_one(&client).await;
    }
    let leader = cluster.wait_leader(WAIT).await;
    cluster.stop(leader).await;
    for _ in ORDERS / 2..ORDERS {
        pack_one(&client).await;
    }
    for i in 0..ORDERS {
        let a = client.wait_for_end(&format!("orders:o-{i}")).await.unwrap();
        assert_eq!(a.status, "SUCCEEDED");
        let b = client
            .wait_for_end(&format!("shipping:ship-o-{i}"))
            .await
            .unwrap();
        assert_eq!(b.status, "SUCCEEDED");
        let output: serde_json::Value = serde_json::from_str(&b.output).unwrap();
        assert_eq!(output["order"], format!("o-{i}"));
        assert_eq!(output["status"], "SUCCEEDED");
    }
    let shipped = client
        .list_executions("shipping", "", 100, "")
        .await
        .unwrap();
    assert_eq!(shipped.executions.len(), ORDERS, "one B per A, none twice");
    let info = client.describe_trigger("ship").await.unwrap();
    assert_eq!((info.started, info.failed), (ORDERS as u64, 0));
    cluster.restart(leader).await;
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}
