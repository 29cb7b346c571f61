//! Subscription events through every fault (rule 9): a subscription on
//! the HTTP rule's executions POSTs their `started` and `succeeded` events
//! to the harness's endpoint. Every acknowledged execution's two events
//! must arrive — none lost to a leader change, whatever was pending — and
//! its `started` first (in order per execution); repeats are allowed (at
//! least once) and counted.

use std::collections::BTreeMap;
use std::time::Duration;

use raftflow_client::proto::{ExecutionChange, SaveSubscriptionRequest};
use raftflow_client::Client;

use crate::http::{Calls, STATE_MACHINE};

const SUBSCRIPTION: &str = "chaos-events";

/// Subscribes to the HTTP rule's executions.
pub async fn create(client: &Client, host: &str, port: u16) -> anyhow::Result<()> {
    let request = SaveSubscriptionRequest {
        name: SUBSCRIPTION.into(),
        state_machine: STATE_MACHINE.into(),
        on: vec![
            ExecutionChange::Started as i32,
            ExecutionChange::Succeeded as i32,
        ],
        url: format!("http://{host}:{port}/events"),
        signing_secret: "chaos-signing-secret-0123".into(),
        max_attempts: 185,
        ..Default::default()
    };
    client.save_subscription(request, true).await?;
    Ok(())
}

/// Waits for the outbox to drain, then checks what the endpoint received.
pub async fn check(
    client: &Client,
    acknowledged: &[String],
    events: &Calls,
) -> Result<String, Vec<String>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut info = None;
    while tokio::time::Instant::now() < deadline {
        info = client.describe_subscription(SUBSCRIPTION).await.ok();
        if info.as_ref().is_some_and(|i| i.pending == 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let Some(info) = info else {
        return Err(vec!["events: the subscription cannot be read".into()]);
    };
    let received = events.0.lock().expect("events").clone();
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, key) in received.iter().enumerate() {
        first.entry(key.as_str()).or_insert(i);
    }
    let mut violations = Vec::new();
    if info.pending > 0 || info.dead_letters > 0 || info.discarded > 0 {
        violations.push(format!(
            "events: {} pending, {} dead letters, {} discarded after the run",
            info.pending, info.dead_letters, info.discarded
        ));
    }
    for name in acknowledged {
        let id = format!("{STATE_MACHINE}:{name}");
        let started = first.get(format!("{id}/RUNNING").as_str());
        let ended = first.get(format!("{id}/SUCCEEDED").as_str());
        match (started, ended) {
            (Some(s), Some(e)) if s < e => {}
            (Some(_), Some(_)) => violations.push(format!("events: {id} ended before it started")),
            _ => violations.push(format!(
                "events: {id} lost an event (started {}, succeeded {})",
                started.is_some(),
                ended.is_some()
            )),
        }
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    let repeated = received.len().saturating_sub(first.len());
    Ok(format!(
        "events: {} executions' started and succeeded events arrived, in order ({} POSTs, {repeated} repeated after a fault)",
        acknowledged.len(),
        received.len()
    ))
}
