//! Task tokens that cannot be guessed (apply version 8): a pulled task's
//! token and a callback's `$$.Task.Token` carry a secret. The attempt's
//! name alone, with a changed secret, with another attempt's or another
//! execution's secret, or from another epoch, is refused, and the
//! execution's history stays as it was; the token as handed out reports.
//! (A valid token of another activity: auth.rs, scopes.)

use std::time::Duration;

use raftflow_client::{Client, ClientError};
use raftflow_core::task_token::{self, SECRET_HEX_CHARS};
use raftflow_store::version::APPLY_VERSION_MAX;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(30);
const CALLBACK: &str = r#"{"StartAt": "Approve", "States": {
  "Approve": {"Type": "Task", "Resource": "activity:tt.approve.waitForTaskToken",
    "Parameters": {"token.$": "$$.Task.Token"}, "End": true}}}"#;
const PULLED: &str = r#"{"StartAt": "Work", "States": {
  "Work": {"Type": "Task", "Resource": "activity:tt.work", "TimeoutSeconds": 60, "End": true}}}"#;

/// Every way to name `attempt` without its secret.
fn forgeries(attempt: &str, secret: &str, suffix: &str) -> Vec<String> {
    let mut changed = secret.to_string();
    let last = if secret.ends_with('0') { "1" } else { "0" };
    changed.replace_range(SECRET_HEX_CHARS - 1.., last);
    vec![
        format!("{attempt}{suffix}"),
        format!("{attempt}~{changed}{suffix}"),
        format!("{attempt}~{}{suffix}", &secret[..SECRET_HEX_CHARS - 2]),
        format!("{attempt}~{}{suffix}", "0".repeat(SECRET_HEX_CHARS)),
    ]
}

/// Each forgery is refused and leaves `execution`'s history unchanged.
async fn refused_all(client: &Client, execution: &str, forged: &[String]) {
    let before = client.history(execution, false).await.unwrap().len();
    for token in forged {
        let refused: ClientError = client
            .complete_task(token, r#"{"forged": true}"#)
            .await
            .expect_err(token);
        let text = refused.to_string();
        let attempt = token.rsplit_once('@').map_or(token.as_str(), |(a, _)| a);
        if let (_, Some(given)) = task_token::split(attempt) {
            assert!(
                !text.contains(given),
                "the refusal repeats the secret: {text}"
            );
        }
        client
            .fail_task(token, "Forged", "")
            .await
            .expect_err(token);
    }
    let after = client.history(execution, false).await.unwrap().len();
    assert_eq!(before, after, "refused reports wrote history");
    let info = client.describe_execution(execution).await.unwrap();
    assert_eq!(info.status, "RUNNING");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_token_reports_only_as_it_was_handed_out() {
    let cluster = TestCluster::start(1, |_| {}).await;
    let client = cluster.client_with("cb", CALLBACK).await;
    cluster.wait_apply_version(APPLY_VERSION_MAX, WAIT).await;
    client
        .create_state_machine("pulled", PULLED, "")
        .await
        .unwrap();

    // Two callbacks: each token is in its task's input.
    let mut callbacks = Vec::new();
    for name in ["c1", "c2"] {
        client
            .start_execution("cb", Some(name), "{}")
            .await
            .unwrap();
        let activity = vec!["tt.approve".to_string()];
        let task = client
            .poll_task(&activity, "w", 10_000)
            .await
            .unwrap()
            .unwrap();
        let input: serde_json::Value = serde_json::from_str(&task.input).unwrap();
        callbacks.push(input["token"].as_str().unwrap().to_string());
    }
    let callback = callbacks[0].clone();
    let (attempt, secret) = task_token::split(&callback);
    assert_eq!(attempt, "cb:c1#1");
    let secret = secret.expect("the callback token carries a secret");
    assert_eq!(secret.len(), SECRET_HEX_CHARS);
    let mut forged = forgeries(attempt, secret, "");
    // c1's secret on another attempt of c1, and on c2's open attempt.
    forged.push(format!("cb:c1#2~{secret}"));
    forged.push(format!("cb:c2#1~{secret}"));
    refused_all(&client, "cb:c1", &forged).await;
    refused_all(&client, "cb:c2", &[format!("cb:c2#1~{secret}")]).await;
    client
        .complete_task(&callback, r#"{"ok": 1}"#)
        .await
        .unwrap();
    client.complete_task(&callbacks[1], "{}").await.unwrap();
    let done = client.wait_for_end("cb:c1").await.unwrap();
    assert_eq!(
        (done.status.as_str(), done.output.as_str()),
        ("SUCCEEDED", r#"{"ok":1}"#)
    );

    // A pulled task: the poll reply's token, `@<epoch>` last.
    client
        .start_execution("pulled", Some("p1"), "{}")
        .await
        .unwrap();
    let activity = vec!["tt.work".to_string()];
    let task = client
        .poll_task(&activity, "w", 10_000)
        .await
        .unwrap()
        .unwrap();
    let (sealed, epoch) = task.token.rsplit_once('@').expect("a worker token");
    let (attempt, secret) = task_token::split(sealed);
    assert_eq!(attempt, "pulled:p1#1");
    let suffix = format!("@{epoch}");
    let mut forged = forgeries(attempt, secret.expect("a secret"), &suffix);
    // The right secret from another epoch: not the hand-out.
    let other_epoch = epoch.parse::<u64>().unwrap() + 1;
    forged.push(format!("{sealed}@{other_epoch}"));
    refused_all(&client, "pulled:p1", &forged).await;
    client.heartbeat_task(&task.token).await.unwrap();
    client.complete_task(&task.token, "{}").await.unwrap();
    assert_eq!(
        client.wait_for_end("pulled:p1").await.unwrap().status,
        "SUCCEEDED"
    );
    cluster.shutdown().await;
}
