//! Scheduled backups (docs/operations.md, "Backup and restore"): the leader
//! takes one every interval into a folder off the nodes' disks, keeps the
//! newest `keep`, and records the last one in the replicated state, so that
//! every node shows it and a new leader goes on from the schedule.

use std::path::Path;
use std::time::Duration;

use raftflow_server::backup_schedule::BackupConfig;
use raftflow_store::backup_record::BackupRecord;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(30);
const PASS: &str = r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#;

/// Waits on node `id` for a recorded backup taken after `after_ms`.
async fn next_record(cluster: &TestCluster, id: u64, after_ms: u64) -> BackupRecord {
    let reader = &cluster.node(id).context.reader;
    let mut applied = reader.watch_applied();
    let found = async {
        loop {
            if let Some(r) = reader
                .last_backup()
                .unwrap()
                .filter(|r| r.taken_ms > after_ms)
            {
                return r;
            }
            applied.changed().await.unwrap();
        }
    };
    tokio::time::timeout(WAIT, found)
        .await
        .expect("a backup is recorded")
}

fn backups_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_backs_up_on_schedule_keeps_the_newest_and_a_new_leader_goes_on() {
    let dest = tempfile::tempdir().unwrap();
    let dir = dest.path().to_path_buf();
    let cluster = TestCluster::start(3, move |config| {
        config.backup = BackupConfig {
            interval_s: 2,
            keep: 2,
            dir: Some(dir.clone()),
            command: Vec::new(),
        };
    })
    .await;
    let leader = cluster.wait_leader(WAIT).await;
    cluster
        .wait_apply_version(raftflow_store::version::APPLY_VERSION_MAX, WAIT)
        .await;
    let client = cluster.client_with("nightly", PASS).await;
    client
        .start_execution("nightly", Some("n1"), "{}")
        .await
        .unwrap();
    let follower = if leader == 1 { 2 } else { 1 };
    let first = next_record(&cluster, follower, 0).await;
    let second = next_record(&cluster, follower, first.taken_ms).await;
    let third = next_record(&cluster, follower, second.taken_ms).await;
    assert!(
        second.taken_ms >= first.taken_ms + 2_000,
        "{first:?} then {second:?}"
    );
    assert!(third.index >= second.index);
    let names = backups_in(dest.path());
    assert_eq!(
        names,
        vec![second.destination.clone(), third.destination.clone()],
        "the newest two are kept"
    );
    let inspected = raftflow_store::backup::inspect(&dest.path().join(&third.destination)).unwrap();
    assert_eq!(inspected.header.content_sha256, third.content_sha256);
    assert!(inspected.executions.values().sum::<u64>() >= 1);

    // A new leader goes on from the recorded time, not at once.
    let reply = client.transfer_leader(follower).await.unwrap();
    assert_eq!(reply.leader, follower);
    let fourth = next_record(&cluster, leader, third.taken_ms).await;
    assert_eq!(fourth.node, follower, "the new leader took it");
    assert!(
        fourth.taken_ms >= third.taken_ms + 2_000,
        "{third:?} then {fourth:?}"
    );
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_command_receives_the_file_and_a_failing_one_is_not_recorded() {
    let dest = tempfile::tempdir().unwrap();
    let script = format!(
        "cat > '{}'/\"$RAFTFLOW_BACKUP_NAME\"",
        dest.path().display()
    );
    let cluster = TestCluster::start(1, move |config| {
        config.backup = BackupConfig {
            interval_s: 1,
            keep: 1,
            dir: None,
            command: vec!["sh".into(), "-c".into(), script.clone()],
        };
    })
    .await;
    cluster.wait_leader(WAIT).await;
    let record = next_record(&cluster, 1, 0).await;
    let file = dest.path().join(&record.destination);
    let inspected = raftflow_store::backup::inspect(&file).unwrap();
    assert_eq!(inspected.header.index, record.index);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), record.bytes);
    cluster.shutdown().await;

    // A command that fails stores nothing: no record, a failure counted.
    let failing = TestCluster::start(1, |config| {
        config.backup = BackupConfig {
            interval_s: 1,
            keep: 1,
            dir: None,
            command: vec!["sh".into(), "-c".into(), "cat > /dev/null; exit 3".into()],
        };
    })
    .await;
    failing.wait_leader(WAIT).await;
    let metrics = &failing.node(1).context.metrics;
    let mut applied = failing.node(1).context.reader.watch_applied();
    // No event marks a failure: look again at each apply or every 500 ms.
    let counted = async {
        while metrics
            .backup_failures
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
        {
            let _ = tokio::time::timeout(Duration::from_millis(500), applied.changed()).await;
        }
    };
    tokio::time::timeout(WAIT, counted)
        .await
        .expect("the failure is counted");
    assert_eq!(failing.node(1).context.reader.last_backup().unwrap(), None);
    failing.shutdown().await;
}
