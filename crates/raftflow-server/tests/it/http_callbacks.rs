//! Callback HTTP Tasks (`http:invoke.waitForTaskToken`) on a real cluster:
//! the call carries the task token (header and, where the definition puts
//! it, the body); a 2xx answer leaves the attempt open until the endpoint
//! reports with that token; a non-2xx answer fails it at once; a leader
//! change does not end it (the endpoint may hold the token). Also a POST
//! with a JSON body, and a call longer than the state's TimeoutSeconds.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(60);
const CALLBACK: &str = r#"{"StartAt": "Ask", "States": {"Ask": {"Type": "Task",
  "Resource": "arn:aws:states:::http:invoke.waitForTaskToken",
  "Parameters": {"ApiEndpoint.$": "$.url", "Method": "POST",
                 "RequestBody": {"order": 7, "token.$": "$$.Task.Token"}},
  "TimeoutSeconds": 120, "End": true}}}"#;

/// A request as the endpoint saw it: target, token header, JSON body.
type Request = (String, String, Value);

/// Answers 202 to `/accept`, 500 to anything else; each request goes to the channel.
async fn serve() -> (u16, mpsc::UnboundedReceiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut bytes = Vec::new();
                let mut buf = [0u8; 4096];
                let (head, length) = loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => bytes.extend_from_slice(&buf[..n]),
                    }
                    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&bytes[..end]).to_string();
                    let length = header(&head, "content-length").parse().unwrap_or(0);
                    bytes.drain(..end + 4);
                    break (head, length);
                };
                while bytes.len() < length {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => bytes.extend_from_slice(&buf[..n]),
                    }
                }
                let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let token = header(&head, "x-raftflow-task-token");
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let echo = String::from_utf8_lossy(&bytes).to_string();
                let reply = match target.as_str() {
                    "/accept" => "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n".to_string(),
                    "/echo" => format!(
                        "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{echo}",
                        echo.len()
                    ),
                    "/hang" => {
                        let _ = tx.send((target, String::new(), Value::Null));
                        return std::future::pending().await;
                    }
                    _ => "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".to_string(),
                };
                let _ = socket.write_all(reply.as_bytes()).await;
                let _ = tx.send((target, token, body));
            });
        }
    });
    (port, rx)
}

fn header(head: &str, name: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_callback_http_task_waits_for_its_token_across_a_leader_stop() {
    let mut cluster = TestCluster::calling_loopback().await;
    let client = cluster.client_with("ask", CALLBACK).await;
    let (port, mut requests) = serve().await;
    let url = |path: &str| json!({"url": format!("http://127.0.0.1:{port}{path}")}).to_string();
    let refused = client
        .start_execution("ask", Some("refused"), &url("/refuse"))
        .await
        .unwrap();
    let ended = client.wait_for_end(&refused.execution_id).await.unwrap();
    assert_eq!(
        (ended.status.as_str(), ended.error.as_str()),
        ("FAILED", "States.Http.StatusCode.500")
    );
    requests.recv().await.expect("the refused call");

    let accepted = client
        .start_execution("ask", Some("accepted"), &url("/accept"))
        .await
        .unwrap();
    let (target, token, body) = tokio::time::timeout(WAIT, requests.recv())
        .await
        .expect("the call came")
        .unwrap();
    assert_eq!(target, "/accept");
    assert!(!token.is_empty());
    assert_eq!(body, json!({"order": 7, "token": token}));
    let leader = cluster.wait_leader(WAIT).await;
    cluster.stop(leader).await;
    cluster.wait_leader(WAIT).await;
    // The new leader's caller has run its takeover once it answers a call.
    let client = cluster.client();
    let input = json!({"url": format!("http://127.0.0.1:{port}/after")}).to_string();
    let after = client
        .start_execution("ask", Some("after"), &input)
        .await
        .unwrap();
    client.wait_for_end(&after.execution_id).await.unwrap();
    requests.recv().await.expect("the call after the stop");
    let info = client
        .describe_execution(&accepted.execution_id)
        .await
        .unwrap();
    assert_eq!(
        info.status, "RUNNING",
        "a new leader leaves a callback open: {info:?}"
    );
    client
        .complete_task(&token, r#"{"approved": true}"#)
        .await
        .unwrap();
    let ended = client.wait_for_end(&accepted.execution_id).await.unwrap();
    assert_eq!(ended.status, "SUCCEEDED", "{ended:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&ended.output).unwrap(),
        json!({"approved": true})
    );
    assert!(requests.try_recv().is_err(), "called once");
    cluster.restart(leader).await;
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

const POST: &str = r#"{"StartAt": "Post", "States": {"Post": {"Type": "Task",
  "Resource": "arn:aws:states:::http:invoke",
  "Parameters": {"ApiEndpoint.$": "$.url", "Method": "POST",
                 "RequestBody": {"order.$": "$.order", "items": ["a", "b"]}},
  "TimeoutSeconds": 2,
  "ResultSelector": {"status.$": "$.StatusCode", "text.$": "$.StatusText", "echo.$": "$.ResponseBody"},
  "End": true}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_post_sends_its_json_body_and_a_hung_call_times_out() {
    let cluster = TestCluster::calling_loopback().await;
    let client = cluster.client_with("post", POST).await;
    let (port, mut requests) = serve().await;
    let run = |name: &'static str, path: &'static str| {
        let input = json!({"url": format!("http://127.0.0.1:{port}{path}"), "order": 7});
        let client = &client;
        async move {
            let started = client
                .start_execution("post", Some(name), &input.to_string())
                .await;
            client
                .wait_for_end(&started.unwrap().execution_id)
                .await
                .unwrap()
        }
    };
    let posted = run("posted", "/echo").await;
    assert_eq!(posted.status, "SUCCEEDED", "{posted:?}");
    let output: Value = serde_json::from_str(&posted.output).unwrap();
    let body = json!({"order": 7, "items": ["a", "b"]});
    assert_eq!(
        output,
        json!({"status": 201, "text": "Created", "echo": body})
    );
    let (_, _, seen) = requests.recv().await.expect("the POST");
    assert_eq!(seen, body);
    let hung = run("hung", "/hang").await;
    assert_eq!(
        (hung.status.as_str(), hung.error.as_str()),
        ("FAILED", "States.Timeout")
    );
    // The leader counted both calls: one answered, one cut at TimeoutSeconds
    // (the cut may come just after the state's timer ended the execution).
    let leader = cluster.wait_leader(WAIT).await;
    let addr = cluster.node(leader).http_addr.unwrap();
    let wanted = [
        r#"raftflow_http_calls_total{outcome="succeeded"} 1"#,
        r#"raftflow_http_calls_total{outcome="cut_at_timeout"} 1"#,
        "raftflow_http_call_duration_seconds_count 2",
    ];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, metrics) = crate::harness::http(addr, "GET", "/metrics").await;
        if wanted.iter().all(|w| metrics.lines().any(|l| l == *w)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all of {wanted:?} in:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.shutdown().await;
}
