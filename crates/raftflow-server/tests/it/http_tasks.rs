//! HTTP Tasks on a real cluster against a server in this process: a GET
//! with query parameters, a 500 retried, a destination refused, and a call
//! in flight when the leader stops — ended at once by the new leader and
//! retried with the same Idempotency-Key.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(60);
const CALL: &str = r#"{"StartAt": "Call", "States": {"Call": {"Type": "Task",
  "Resource": "arn:aws:states:::http:invoke",
  "Parameters": {"ApiEndpoint.$": "$.url", "Method": "GET", "QueryParameters": {"id": 7}},
  "Retry": [{"ErrorEquals": ["States.Http.StatusCode.500", "States.Http.Socket"],
             "IntervalSeconds": 1, "MaxAttempts": 1, "BackoffRate": 1}],
  "ResultSelector": {"status.$": "$.StatusCode", "body.$": "$.ResponseBody"},
  "End": true}}}"#;

/// What the server saw: the request line and the two raftflow headers.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    key: String,
    attempt: String,
    trace: String,
}

/// `/items` answers JSON; `/flaky` and `/slow` fail (500) or hang on their
/// first request and answer the second.
/// Each request's target also goes to the returned channel.
type Arrivals = tokio::sync::mpsc::UnboundedReceiver<String>;

async fn serve() -> (u16, Arc<Mutex<Vec<Seen>>>, Arrivals) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let (tx, arrivals) = tokio::sync::mpsc::unbounded_channel();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let log = log.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut text = String::new();
                let mut buf = [0u8; 4096];
                while !text.contains("\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
                    }
                }
                let header = |name: &str| {
                    text.lines()
                        .find_map(|l| {
                            let (n, v) = l.split_once(':')?;
                            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                        })
                        .unwrap_or_default()
                };
                let target = text.split_whitespace().nth(1).unwrap_or("").to_string();
                let earlier = {
                    let mut log = log.lock().unwrap();
                    let earlier = log.iter().filter(|s| s.target == target).count();
                    log.push(Seen {
                        target: target.clone(),
                        key: header("idempotency-key"),
                        attempt: header("x-raftflow-attempt"),
                        trace: header("traceparent"),
                    });
                    earlier
                };
                let _ = tx.send(target.clone());
                let reply = match (target.split('?').next().unwrap_or(""), earlier) {
                    ("/flaky", 0) => "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
                    ("/slow", 0) => return std::future::pending().await,
                    _ => "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{\"id\":7}",
                };
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    (port, seen, arrivals)
}

async fn run(
    client: &raftflow_client::Client,
    name: &str,
    url: String,
) -> raftflow_client::proto::ExecutionInfo {
    let input = json!({ "url": url }).to_string();
    let started = client
        .start_execution("call", Some(name), &input)
        .await
        .unwrap();
    client.wait_for_end(&started.execution_id).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_tasks_call_retry_refuse_and_survive_a_leader_stop() {
    let mut cluster = TestCluster::calling_loopback().await;
    let client = cluster.client_with("call", CALL).await;
    let (port, seen, mut arrivals) = serve().await;
    let base = format!("http://127.0.0.1:{port}");

    // Started in a trace: the endpoint is called in it (this cluster
    // exports no spans, so the caller's context arrives unchanged).
    let caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let traced = cluster.client().with_trace_parent(caller).unwrap();
    let got = run(&traced, "get", format!("{base}/items")).await;
    assert_eq!(got.status, "SUCCEEDED", "{got:?}");
    let output: Value = serde_json::from_str(&got.output).unwrap();
    assert_eq!(output, json!({"status": 200, "body": {"id": 7}}));
    assert_eq!(seen.lock().unwrap()[0].target, "/items?id=7");
    assert_eq!(seen.lock().unwrap()[0].trace, caller);

    let flaky = run(&client, "flaky", format!("{base}/flaky")).await;
    assert_eq!(flaky.status, "SUCCEEDED", "{flaky:?}");
    let tries: Vec<Seen> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.target.starts_with("/flaky"))
        .cloned()
        .collect();
    assert_eq!(tries.len(), 2);
    assert_eq!(tries[0].key, tries[1].key, "one state entry, one key");
    assert_eq!(tries[0].trace, "", "an untraced start sends no traceparent");
    let entered = tries[0]
        .key
        .strip_prefix("call:flaky/Call@")
        .unwrap_or_default();
    assert!(
        entered.ends_with('Z') && entered.len() > 20,
        "the entered time: {tries:?}"
    );
    assert_eq!(
        (tries[0].attempt.as_str(), tries[1].attempt.as_str()),
        ("1", "2")
    );

    let refused = run(&client, "refused", "http://10.255.255.1/".into()).await;
    assert_eq!(refused.status, "FAILED");
    assert_eq!(refused.error, "States.Http.Socket");
    assert!(
        refused.cause.contains("private address"),
        "{}",
        refused.cause
    );

    let input = json!({ "url": format!("{base}/slow") }).to_string();
    let slow = client
        .start_execution("call", Some("slow"), &input)
        .await
        .unwrap();
    tokio::time::timeout(WAIT, async {
        while let Some(target) = arrivals.recv().await {
            if target.starts_with("/slow") {
                return;
            }
        }
    })
    .await
    .expect("the slow call came");
    let leader = cluster.wait_leader(WAIT).await;
    cluster.stop(leader).await;
    let ended = client.wait_for_end(&slow.execution_id).await.unwrap();
    assert_eq!(ended.status, "SUCCEEDED", "{ended:?}");
    let tries: Vec<Seen> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.target.starts_with("/slow"))
        .cloned()
        .collect();
    assert_eq!(tries.len(), 2, "ended at once and retried: {tries:?}");
    assert_eq!(tries[0].key, tries[1].key);
    cluster.restart(leader).await;
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}
