//! A trigger runs through every fault: each workload execution that ended
//! starts exactly one receipt execution (named after it), in the apply that
//! ended it, whatever the leader changes, partitions and clock skews.

use std::collections::HashSet;

use raftflow_client::proto::{ExecutionEnd, ExecutionInfo, TriggerDefinition};
use raftflow_client::Client;

const TRIGGER: &str = "receipt";
const TARGET: &str = "chaos-receipt";
const PASS: &str = r#"{"StartAt": "R", "States": {"R": {"Type": "Pass",
  "Parameters": {"order.$": "$.detail.name", "status.$": "$.detail.status"}, "End": true}}}"#;

/// Registers the receipt state machine and a trigger on every end of `source`.
pub async fn create(client: &Client, source: &str) -> anyhow::Result<()> {
    client
        .create_state_machine(TARGET, PASS, "chaos trigger target")
        .await?;
    let on = [
        ExecutionEnd::Succeeded,
        ExecutionEnd::Failed,
        ExecutionEnd::TimedOut,
        ExecutionEnd::Aborted,
    ];
    client
        .create_trigger(TriggerDefinition {
            name: TRIGGER.into(),
            source: source.into(),
            on: on.iter().map(|e| *e as i32).collect(),
            start_state_machine: TARGET.into(),
            description: "one receipt per ended execution, through every fault".into(),
            disabled: false,
        })
        .await?;
    Ok(())
}

/// Every execution of `state_machine`, page by page.
pub(crate) async fn all(
    client: &Client,
    state_machine: &str,
) -> Result<Vec<ExecutionInfo>, String> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_executions(state_machine, "", 1000, &token)
            .await
            .map_err(|e| format!("list {state_machine}: {e}"))?;
        out.extend(page.executions);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        token = page.next_page_token;
    }
}

/// Checks the receipts: a summary line, or the violations found.
pub async fn check(client: &Client, source: &str) -> Result<String, Vec<String>> {
    let listed = |e: String| vec![format!("trigger: {e}")];
    let sources = all(client, source).await.map_err(listed)?;
    // Listed after the sources: a source that ended meanwhile may have a
    // receipt while listed as running; that is not counted against it.
    let receipts = all(client, TARGET).await.map_err(listed)?;
    let names: HashSet<&str> = receipts.iter().map(|r| r.name.as_str()).collect();
    let ended: Vec<&ExecutionInfo> = sources.iter().filter(|s| s.status != "RUNNING").collect();
    let mut violations = Vec::new();
    for source in &ended {
        let expected = raftflow_store::triggers::execution_name(TRIGGER, &source.name);
        if !names.contains(expected.as_str()) {
            violations.push(format!(
                "trigger: {} ended {} but has no receipt {expected}",
                source.execution_id, source.status
            ));
        }
    }
    let running = sources.len() - ended.len();
    if receipts.len() > sources.len() || receipts.len() + running < ended.len() {
        violations.push(format!(
            "trigger: {} receipts for {} ended and {running} running executions",
            receipts.len(),
            ended.len()
        ));
    }
    match client.describe_trigger(TRIGGER).await {
        Ok(info) if info.failed > 0 => {
            violations.push(format!("trigger: {} starts failed", info.failed))
        }
        Ok(_) => {}
        Err(e) => violations.push(format!("trigger: describe: {e}")),
    }
    if violations.is_empty() {
        Ok(format!(
            "trigger: {} ended executions, one receipt each",
            ended.len()
        ))
    } else {
        Err(violations)
    }
}
