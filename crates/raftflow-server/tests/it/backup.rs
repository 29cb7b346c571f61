//! Disaster recovery (docs/operations.md, "Backup and restore"): a backup
//! saved under load, every node wiped, three new nodes restored from the
//! file: every execution acknowledged before the save is there with the
//! same history, and the running ones finish on the new cluster.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use raftflow_client::Client;
use raftflow_store::backup::{self, RestoreTarget};

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(30);
const ONE_TASK: &str = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:dr.work", "Next": "P"}, "P": {"Type": "Pass", "End": true}}}"#;

/// Saves a backup through the API into `path`, as `raftflow operator snapshot save` does.
async fn save(client: &Client, path: &std::path::Path) {
    let (header_json, mut stream) = client.save_snapshot(true).await.expect("the save starts");
    let header: backup::BackupHeader = serde_json::from_str(&header_json).unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    backup::write_prefix(&mut out, &header).unwrap();
    while let Some(chunk) = stream.message().await.expect("the content streams") {
        out.write_all(&chunk.data).unwrap();
    }
    out.into_inner().unwrap().sync_all().unwrap();
}

/// Completes one task of `dr.work` with the output `{"done": n}`.
async fn complete_one(client: &Client, n: usize) {
    let task = client
        .poll_task(&["dr.work".into()], "dr-worker", 5_000)
        .await
        .unwrap()
        .expect("a task is ready");
    let output = format!(r#"{{"done": {n}}}"#);
    client.complete_task(&task.token, &output).await.unwrap();
}

/// Every execution's status and history (kind and details of each event).
async fn histories(
    client: &Client,
    ids: &[String],
) -> BTreeMap<String, (String, Vec<(String, String)>)> {
    let mut out = BTreeMap::new();
    for id in ids {
        let info = client.describe_execution(id).await.unwrap();
        let events = client.history(id, false).await.unwrap();
        let events = events.into_iter().map(|e| (e.r#type, e.details)).collect();
        out.insert(id.clone(), (info.status, events));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_restored_from_a_backup_holds_every_acknowledged_execution_and_finishes_the_running(
) {
    let old = TestCluster::start(3, |_| {}).await;
    old.wait_leader(WAIT).await;
    old.wait_apply_version(raftflow_store::version::APPLY_VERSION_MAX, WAIT)
        .await;
    let client = old.client_with("dr", ONE_TASK).await;
    let big = format!(r#"{{"pad": "{}"}}"#, "b".repeat(4_000));
    let mut ids = Vec::new();
    for i in 0..12 {
        let input = if i % 3 == 0 { big.as_str() } else { "{}" };
        let started = client
            .start_execution("dr", Some(&format!("e{i}")), input)
            .await
            .unwrap();
        ids.push(started.execution_id);
    }
    for n in 0..5 {
        complete_one(&client, n).await;
    }
    // Handed out to a worker that will report only to the new cluster.
    let held = client
        .poll_task(&["dr.work".into()], "slow", 5_000)
        .await
        .unwrap()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.backup");
    save(&client, &file).await;
    let before = histories(&client, &ids).await;
    let old_id = old
        .node(1)
        .context
        .reader
        .cluster_id()
        .unwrap()
        .expect("the cluster is named");
    old.shutdown().await;

    let inspection = backup::inspect(&file).expect("the backup checks out");
    assert_eq!(inspection.executions.get("SUCCEEDED"), Some(&5));
    assert_eq!(inspection.executions.get("RUNNING"), Some(&7));
    assert_eq!(inspection.state_machines, 1);
    assert_eq!(
        inspection.header.cluster_id, old_id,
        "the header names the cluster"
    );

    // Three new nodes (new ports, new data directories) from the one file.
    let new = TestCluster::start(3, |config| {
        let members = config.initial_membership();
        let target = RestoreTarget {
            node_id: config.id,
            members,
        };
        backup::restore(&file, &config.data_dir, &target).expect("the node restores");
    })
    .await;
    new.wait_leader(WAIT).await;
    let client = new.client();
    assert_eq!(
        histories(&client, &ids).await,
        before,
        "the same executions, the same histories"
    );

    client
        .complete_task(&held.token, r#"{"done": "late"}"#)
        .await
        .expect("a token handed out before the save stays valid");
    for n in 0..6 {
        complete_one(&client, 100 + n).await;
    }
    for id in &ids {
        let end = client.wait_for_end(id).await.unwrap();
        assert_eq!(end.status, "SUCCEEDED", "{id}");
    }
    new.wait_same_digest(WAIT).await;
    let new_id = new
        .node(1)
        .context
        .reader
        .cluster_id()
        .unwrap()
        .expect("named");
    assert_ne!(new_id, old_id, "a restored cluster is a new cluster");
    for node in new.running() {
        assert_eq!(
            node.context.reader.cluster_id().unwrap(),
            Some(new_id.clone())
        );
    }
    new.shutdown().await;
}
