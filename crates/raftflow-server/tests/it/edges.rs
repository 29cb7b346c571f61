//! Edges an outside client found: starts repeated with the input written
//! differently, and refusals that name what is wrong.

use std::time::Duration;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(30);
const WAITS: &str =
    r#"{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}"#;

/// A client that re-serialises its input before retrying a start (keys in
/// another order, other spacing) gets the same execution back; a different
/// value is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_repeated_with_the_same_json_value_is_the_same_execution() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let client = cluster.client_with("waits", WAITS).await;
    let first = client
        .start_execution("waits", Some("order-1"), r#"{"id":12,"items":["a","b"]}"#)
        .await
        .unwrap();
    assert!(first.created);
    let again = client
        .start_execution(
            "waits",
            Some("order-1"),
            "{ \"items\": [\"a\", \"b\"],\n  \"id\": 12 }",
        )
        .await
        .unwrap();
    assert!(!again.created, "the same execution: {again:?}");
    assert_eq!(again.start_ms, first.start_ms);
    let other = client
        .start_execution("waits", Some("order-1"), r#"{"id":13,"items":["a","b"]}"#)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        other.contains("ALREADY_EXISTS") || other.contains("already exists"),
        "{other}"
    );
    let info = client.describe_execution("waits:order-1").await.unwrap();
    assert_eq!(
        info.input, r#"{"id":12,"items":["a","b"]}"#,
        "the first text is kept"
    );
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

/// A name with control characters is echoed escaped, never raw.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_name_is_echoed_escaped() {
    let cluster = TestCluster::start(1, |_| {}).await;
    let client = cluster.client_with("waits", WAITS).await;
    let err = match client
        .start_execution("waits", Some("a\nb\u{1}"), "{}")
        .await
    {
        Err(raftflow_client::ClientError::Status(status)) => status.message().to_string(),
        other => panic!("refused with a status: {other:?}"),
    };
    assert!(err.contains(r"a\nb\u{1}"), "{err}");
    assert!(!err.contains('\n') && !err.contains('\u{1}'), "{err}");
    cluster.shutdown().await;
}
