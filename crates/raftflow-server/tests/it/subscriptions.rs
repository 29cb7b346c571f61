//! Subscriptions on a real cluster: events arrive signed, as CloudEvents,
//! in order per execution; a receiver that is down gets every event once
//! it is back, even when the leader is killed while events are pending;
//! an event that runs out of attempts becomes a dead letter, and a redrive
//! delivers it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use raftflow_client::proto::{ExecutionChange, SaveSubscriptionRequest, SubscriptionInfo};
use raftflow_client::Client;
use raftflow_server::subscriptions::sign;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(60);
const PASS: &str =
    r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"ok":true},"End":true}}}"#;
const SECRET: &str = "whsec-test-0123456789abcdef";

/// The receiver: answers 503 while `down`, else 200 and passes on the
/// event's body with its signature and idempotency headers.
struct Receiver {
    down: Arc<AtomicBool>,
    refused: Arc<AtomicU64>,
    refusal: Arc<tokio::sync::Notify>,
    events: mpsc::UnboundedReceiver<(String, String, Value)>,
    url: String,
}

async fn receiver() -> Receiver {
    let down = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let refusal = Arc::new(tokio::sync::Notify::new());
    let refusal_told = refusal.clone();
    let (tx, events) = mpsc::unbounded_channel();
    let (is_down, refusals) = (down.clone(), refused.clone());
    let hook = move |headers: HeaderMap, body: String| {
        let (tx, is_down, refusals) = (tx.clone(), is_down.clone(), refusals.clone());
        let told = refusal_told.clone();
        async move {
            if is_down.load(Ordering::SeqCst) {
                refusals.fetch_add(1, Ordering::SeqCst);
                told.notify_one();
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            let text = |name: &str| {
                let value = headers.get(name).and_then(|v| v.to_str().ok());
                value.unwrap_or_default().to_string()
            };
            let now_s = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let signature = text(sign::SIGNATURE_HEADER);
            let signed = sign::verify(SECRET.as_bytes(), &signature, body.as_bytes(), now_s, 300);
            assert!(signed, "a bad signature `{signature}` on {body}");
            assert_eq!(text("content-type"), "application/cloudevents+json");
            // The subscription's connection: its bearer token on every POST.
            assert_eq!(text("authorization"), "Bearer hook-token");
            let event: Value = serde_json::from_str(&body).unwrap();
            let _ = tx.send((text("idempotency-key"), text("x-raftflow-attempt"), event));
            StatusCode::OK
        }
    };
    let app = axum::Router::new().route("/hook", axum::routing::post(hook));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver {
        down,
        refused,
        refusal,
        events,
        url,
    }
}

impl Receiver {
    /// The next `n` events; each one's (subject, type, idempotency key).
    async fn take(&mut self, n: usize) -> Vec<(String, String, String)> {
        let mut got = Vec::new();
        while got.len() < n {
            let (key, _attempt, event) = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("events keep coming")
                .unwrap();
            assert_eq!(event["specversion"], "1.0");
            assert_eq!(event["source"], "raftflow/state-machines/orders");
            assert_eq!(key, event["id"].as_str().unwrap());
            let subject = event["subject"].as_str().unwrap().to_string();
            assert_eq!(event["data"]["executionArn"], subject.as_str());
            got.push((subject, event["type"].as_str().unwrap().to_string(), key));
        }
        got
    }
}

fn request(url: &str, max_attempts: u32) -> SaveSubscriptionRequest {
    SaveSubscriptionRequest {
        name: "hook".into(),
        state_machine: "orders".into(),
        on: vec![
            ExecutionChange::Started as i32,
            ExecutionChange::Succeeded as i32,
        ],
        url: url.into(),
        signing_secret: SECRET.into(),
        connection: "hook-auth".into(),
        max_attempts,
        ..Default::default()
    }
}

/// The connection every POST carries the credentials of.
async fn connect(client: &Client) {
    use raftflow_client::proto::{save_connection_request::Credentials, BearerAuth};
    let save = raftflow_client::proto::SaveConnectionRequest {
        name: "hook-auth".into(),
        credentials: Some(Credentials::Bearer(BearerAuth {
            token: "hook-token".into(),
        })),
        ..Default::default()
    };
    client.save_connection(save, true).await.unwrap();
}

/// Every execution's events came started first, then succeeded (repeats
/// allowed: delivery is at least once).
fn in_order(events: &[(String, String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut by_execution: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (subject, kind, _) in events {
        let seen = by_execution.entry(subject.clone()).or_default();
        if seen.last() != Some(kind) {
            seen.push(kind.clone());
        }
    }
    for (execution, kinds) in &by_execution {
        let expected = ["raftflow.execution.started", "raftflow.execution.succeeded"];
        assert_eq!(kinds, &expected, "{execution}: out of order");
    }
    by_execution
}

async fn start(client: &Client, names: std::ops::Range<u32>) {
    for i in names {
        let name = format!("o{i}");
        let started = client.start_execution("orders", Some(&name), "{}").await;
        client
            .wait_for_end(&started.unwrap().execution_id)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_arrive_signed_in_order_and_none_is_lost_across_an_outage_and_a_leader_kill() {
    let mut cluster = TestCluster::calling_loopback().await;
    let client = cluster.client_with("orders", PASS).await;
    let mut hook = receiver().await;
    connect(&client).await;
    let saved = client
        .save_subscription(request(&hook.url, 0), true)
        .await
        .unwrap();
    assert!(saved.created);
    let again = client
        .save_subscription(request(&hook.url, 0), true)
        .await
        .unwrap();
    assert!(!again.created, "an identical create is recognised");

    start(&client, 0..4).await;
    let events = hook.take(8).await;
    assert_eq!(in_order(&events).len(), 4);

    // The receiver goes down; events wait in the outbox.
    hook.down.store(true, Ordering::SeqCst);
    start(&client, 4..7).await;
    // A refusal before this wait left its permit in the Notify.
    let refusal = hook.refusal.clone();
    tokio::time::timeout(WAIT, refusal.notified())
        .await
        .expect("a delivery was tried");
    assert!(hook.refused.load(Ordering::SeqCst) > 0);
    let info = client.describe_subscription("hook").await.unwrap();
    assert!(info.pending > 0, "{info:?}");
    // The leader dies with events pending; the receiver comes back.
    let leader = cluster.wait_leader(WAIT).await;
    cluster.stop(leader).await;
    hook.down.store(false, Ordering::SeqCst);
    let client = cluster.client();
    let mut later = Vec::new();
    while in_order_count(&later) < 3 || later.len() < 6 {
        later.extend(hook.take(1).await);
    }
    assert_eq!(
        in_order(&later).keys().count(),
        3,
        "every execution's events arrived"
    );
    // The receiver answers before the leader commits the delivery: the last
    // acknowledgement may still be on its way when the event has arrived.
    let info = settled(&client).await;
    assert_eq!((info.pending, info.dead_letters), (0, 0), "{info:?}");
    assert!(info.delivered >= 14);
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

/// The subscription once nothing is pending, or as it stands after `WAIT`.
async fn settled(client: &Client) -> SubscriptionInfo {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let info = client.describe_subscription("hook").await.unwrap();
        if info.pending == 0 || tokio::time::Instant::now() > deadline {
            return info;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn in_order_count(events: &[(String, String, String)]) -> usize {
    let done: std::collections::BTreeSet<&str> = events
        .iter()
        .filter(|(_, kind, _)| kind.ends_with("succeeded"))
        .map(|(subject, _, _)| subject.as_str())
        .collect();
    done.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_out_of_attempts_is_a_dead_letter_until_redriven() {
    let cluster = TestCluster::calling_loopback().await;
    let client = cluster.client_with("orders", PASS).await;
    let mut hook = receiver().await;
    connect(&client).await;
    hook.down.store(true, Ordering::SeqCst);
    let mut one_try = request(&hook.url, 1);
    one_try.on = vec![ExecutionChange::Succeeded as i32];
    client.save_subscription(one_try, true).await.unwrap();
    start(&client, 0..1).await;
    let dead = loop {
        let page = client
            .list_subscription_events("hook", true, 0, 10)
            .await
            .unwrap();
        if !page.events.is_empty() {
            break page.events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].execution_id, "orders:o0");
    assert!(dead[0].last_error.contains("503"), "{:?}", dead[0]);
    console_shows_the_dead_letter(&cluster).await;
    hook.down.store(false, Ordering::SeqCst);
    let redriven = client
        .redrive_dead_letters("hook", Vec::new())
        .await
        .unwrap();
    assert_eq!((redriven.redriven, redriven.left), (1, 0));
    let events = hook.take(1).await;
    assert_eq!(events[0].1, "raftflow.execution.succeeded");
    let refused = client.save_subscription(
        SaveSubscriptionRequest {
            name: "bad".into(),
            signing_secret: "short".into(),
            ..request(&hook.url, 0)
        },
        true,
    );
    let status = refused.await.unwrap_err().to_string();
    assert!(status.contains("signing secret has 5 bytes"), "{status}");
    cluster.shutdown().await;
}

/// The console lists the subscription with its dead letter, from the
/// node's applied state, and renders it (when a browser is installed).
async fn console_shows_the_dead_letter(cluster: &TestCluster) {
    let node = cluster.running().next().unwrap();
    let addr = node.http_addr.unwrap();
    let mut applied = node.context.reader.watch_applied();
    let shown = loop {
        applied.borrow_and_update();
        let (status, body) = crate::harness::http(addr, "GET", "/api/subscriptions").await;
        assert_eq!(status, 200, "{body}");
        let list: Value = serde_json::from_str(&body).unwrap();
        if list[0]["dead_letters"] == 1 {
            break list[0].clone();
        }
        tokio::time::timeout(WAIT, applied.changed())
            .await
            .unwrap()
            .unwrap();
    };
    assert_eq!(shown["name"], "hook");
    assert_eq!(shown["oldest_dead"][0]["execution_id"], "orders:o0");
    let admin = crate::harness::admin_secret();
    let fragment = format!("login={admin}&then=/subscriptions");
    if let Some(dom) = crate::console::browser_dom(addr, &fragment) {
        let row = dom
            .split("<tr class=\"subscription\">")
            .nth(1)
            .unwrap_or_else(|| panic!("a subscription row; the page was:\n{dom}"));
        for text in ["hook", "orders:o0", "0 / 0 / 1", "Redrive"] {
            assert!(row.contains(text), "{text} in the row:\n{row}");
        }
    }
}
