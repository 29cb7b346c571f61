//! The console's live execution stream (server-sent events): what is in
//! the history first, then each event as the apply makes it, then `end`;
//! a watch slot held while it is open and given back; refused with 429
//! when the node's watch streams are all taken.

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::harness::{admin_secret, http, tls_connector, TestCluster};

const WAIT: Duration = Duration::from_secs(20);
const ONE_TASK: &str = r#"{"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":"activity:live-work","End":true}}}"#;

type Lines = tokio::io::Lines<BufReader<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>>;

/// Opens the stream and reads past the response head.
async fn open(addr: std::net::SocketAddr, id: &str) -> Lines {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = tls_connector()
        .connect(addr.ip().into(), tcp)
        .await
        .unwrap();
    let request = format!(
        "GET /api/executions/{id}/live?after=0 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        admin_secret()
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut lines = BufReader::new(tls).lines();
    let status = lines.next_line().await.unwrap().unwrap();
    assert!(status.contains(" 200 "), "{status}");
    while !lines.next_line().await.unwrap().unwrap().is_empty() {}
    lines
}

/// The next event's name and data (chunked framing and keep-alives skipped).
async fn next_event(lines: &mut Lines) -> (String, String) {
    let (mut name, mut data) = (String::new(), String::new());
    loop {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("an event within the wait")
            .unwrap()
            .expect("the stream is open");
        if let Some(n) = line.strip_prefix("event: ") {
            name = n.to_string();
        } else if let Some(d) = line.strip_prefix("data: ") {
            data = d.to_string();
        } else if line.is_empty() && !name.is_empty() {
            return (name, data);
        }
    }
}

async fn event_type(lines: &mut Lines) -> String {
    let (name, data) = next_event(lines).await;
    if name != "history" {
        return name;
    }
    let v: serde_json::Value = serde_json::from_str(&data).unwrap();
    v["type"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_execution_streams_its_events_live() {
    let cluster = TestCluster::start(1, |c| c.scheduler.max_watch_streams = 1).await;
    cluster.wait_leader(WAIT).await;
    let client = cluster.client();
    client
        .create_state_machine("live", ONE_TASK, "")
        .await
        .unwrap();
    let id = client
        .start_execution("live", Some("followed"), "{}")
        .await
        .unwrap()
        .execution_id;
    let node = cluster.running().next().unwrap();
    let addr = node.http_addr.unwrap();
    let mut lines = open(addr, &id).await;
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("ActivityScheduled") {
        seen.push(event_type(&mut lines).await);
    }
    assert_eq!(
        seen,
        ["ExecutionStarted", "TaskStateEntered", "ActivityScheduled"]
    );
    assert_eq!(
        node.context.watch_slots.available_permits(),
        0,
        "the stream holds the slot"
    );
    let (status, body) = http(addr, "GET", &format!("/api/executions/{id}/live")).await;
    assert!(
        status == 429 && body.contains("max_watch_streams"),
        "{status} {body}"
    );

    let activities = vec!["live-work".to_string()];
    let task = loop {
        if let Some(t) = client.poll_task(&activities, "w", 5_000).await.unwrap() {
            break t;
        }
    };
    client
        .complete_task(&task.token, r#"{"ok":true}"#)
        .await
        .unwrap();
    let mut after = Vec::new();
    loop {
        let t = event_type(&mut lines).await;
        if t == "end" {
            break;
        }
        after.push(t);
    }
    assert_eq!(
        after,
        [
            "ActivityStarted",
            "ActivitySucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    let deadline = Instant::now() + WAIT;
    while node.context.watch_slots.available_permits() == 0 {
        assert!(
            Instant::now() < deadline,
            "the slot is given back after `end`"
        );
        tokio::task::yield_now().await;
    }
}
