//! After the faults: wait for the workload to settle, run fresh work, read
//! everything back, and wait for the replicas to agree.

use std::collections::BTreeMap;
use std::time::Duration;

use raftflow_client::Client;

use crate::check::Observed;
use crate::history::{Outcome, Record, Recorder};
use crate::workload::STATE_MACHINE;

/// Waits until every execution of the workload has ended, or the deadline.
pub async fn wait_settled(client: &Client, recorder: &Recorder, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        if let Ok(executions) = list_all(client).await {
            let acked_done = recorder.records().iter().all(|r| match r {
                Record::Start {
                    outcome: Outcome::Ok,
                    execution_id: Some(id),
                    ..
                } => executions.get(id).is_some_and(|s| s != "RUNNING"),
                _ => true,
            });
            if acked_done && executions.values().all(|s| s != "RUNNING") {
                break;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Each execution's status and the attempts its history completed.
pub async fn read_back(client: &Client) -> Observed {
    let mut executions = None;
    for _ in 0..30 {
        match list_all(client).await {
            Ok(all) => {
                executions = Some(all);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    let listed = executions.is_some();
    let executions = executions.unwrap_or_default();
    let mut succeeded_attempts = BTreeMap::new();
    let mut unread = std::collections::BTreeSet::new();
    for id in executions.keys() {
        let mut events = None;
        for _ in 0..10 {
            match client.history(id, false).await {
                Ok(all) => {
                    events = Some(all);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        // A history that could not be read proves nothing either way.
        let Some(events) = events else {
            unread.insert(id.clone());
            continue;
        };
        let attempts: Vec<String> = events
            .iter()
            .filter(|e| e.r#type == "ActivitySucceeded")
            .filter_map(|e| {
                let details: serde_json::Value = serde_json::from_str(&e.details).ok()?;
                let output = match &details["output"] {
                    serde_json::Value::String(text) => serde_json::from_str(text).ok()?,
                    other => other.clone(),
                };
                output["by"].as_str().map(String::from)
            })
            .collect();
        succeeded_attempts.insert(id.clone(), attempts);
    }
    Observed {
        listed,
        executions,
        succeeded_attempts,
        unread,
    }
}

async fn list_all(
    client: &Client,
) -> Result<BTreeMap<String, String>, raftflow_client::ClientError> {
    let mut all = BTreeMap::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_executions(STATE_MACHINE, "", 1000, &token)
            .await?;
        all.extend(
            page.executions
                .into_iter()
                .map(|e| (e.execution_id, e.status)),
        );
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        token = page.next_page_token;
    }
}

/// Fresh work on the healed cluster must succeed.
pub async fn fresh_work(client: &Client, recorder: &Recorder, run_id: &str) -> Result<(), String> {
    let name = format!("{run_id}-fresh");
    let started = client
        .start_execution(STATE_MACHINE, Some(&name), "{}")
        .await;
    let id = started.as_ref().map(|r| r.execution_id.clone()).ok();
    let outcome = if started.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Unknown
    };
    recorder.record(Record::Start {
        t_ms: recorder.now_ms(),
        name,
        outcome,
        execution_id: id.clone(),
        error: None,
    });
    let id = id.ok_or_else(|| format!("fresh work could not start: {:?}", started.err()))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match client.describe_execution(&id).await {
            Ok(info) if info.status == "SUCCEEDED" => return Ok(()),
            Ok(info) if info.status != "RUNNING" => {
                return Err(format!("fresh work ended {}", info.status))
            }
            _ if tokio::time::Instant::now() >= deadline => {
                return Err("fresh work did not finish within 60 s".into())
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// All replicas reach the same applied index with the same digest.
pub async fn converge(
    client: &Client,
    recorder: &Recorder,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let status: Vec<_> = client
            .status_all(true)
            .await
            .into_iter()
            .filter_map(|(_, s)| s.ok())
            .collect();
        let same = status.len() == crate::cluster::NODES
            && status.iter().all(|s| {
                (s.applied_index, &s.state_digest)
                    == (status[0].applied_index, &status[0].state_digest)
            });
        if same || tokio::time::Instant::now() >= deadline {
            for s in &status {
                recorder.record(Record::Final {
                    node: s.id,
                    applied_index: s.applied_index,
                    digest: s.state_digest.clone(),
                });
            }
            return if same {
                Ok(())
            } else {
                let seen: Vec<_> = status
                    .iter()
                    .map(|s| {
                        format!(
                            "node {} at {} {:.12}",
                            s.id, s.applied_index, s.state_digest
                        )
                    })
                    .collect();
                Err(format!("replicas did not converge: {}", seen.join("; ")))
            };
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
