//! A one-second schedule runs through every fault: after healing, every
//! scheduled second since its creation has exactly one execution (named
//! after it), none is missing, none is twice, and the schedule counted
//! as many fires as there are executions.
//!
//! The catch-up window (an hour) covers every outage of a run, so a second
//! missed while the cluster had no leader must still be started, late.

use raftflow_client::proto::{OverlapPolicy, ScheduleDefinition};
use raftflow_client::Client;

const SCHEDULE: &str = "chaos-tick";
const TARGET: &str = "chaos-tick";
const PASS: &str = r#"{"StartAt": "P", "States": {"P": {"Type": "Pass",
  "Parameters": {"scheduled.$": "$$.Schedule.ScheduledTime"}, "End": true}}}"#;

/// Registers the target and the schedule.
pub async fn create(client: &Client) -> anyhow::Result<()> {
    client
        .create_state_machine(TARGET, PASS, "chaos schedule target")
        .await?;
    client
        .create_schedule(ScheduleDefinition {
            name: SCHEDULE.into(),
            state_machine: TARGET.into(),
            spec: "* * * * * *".into(),
            overlap: OverlapPolicy::AllowAll as i32,
            catchup_window_s: 3600,
            description: "one execution per second, through every fault".into(),
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// Pauses the schedule and checks its executions: a summary line, or the
/// violations found.
pub async fn check(client: &Client) -> Result<String, Vec<String>> {
    let failed =
        |what: &str, e: raftflow_client::ClientError| vec![format!("schedule: {what}: {e}")];
    client
        .pause_schedule(SCHEDULE, true, "chaos run over")
        .await
        .map_err(|e| failed("pause after healing", e))?;
    let info = client
        .describe_schedule(SCHEDULE)
        .await
        .map_err(|e| failed("describe", e))?;
    let executions = crate::trigger::all(client, TARGET)
        .await
        .map_err(|e| vec![format!("schedule: {e}")])?;
    let mut names: Vec<&str> = executions.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    let first_ms = (info.created_ms / 1000 + 1) * 1000;
    let mut violations = Vec::new();
    let mut max_lag_ms = 0;
    for (i, name) in names.iter().enumerate() {
        let scheduled_ms = first_ms + 1000 * i as u64;
        let expected = raftflow_store::schedules::execution_name(SCHEDULE, scheduled_ms, false);
        if *name != expected {
            violations.push(format!(
                "schedule: execution {i} is {name}, expected {expected} (a second missed or started twice)"
            ));
            break;
        }
        let start_ms = executions
            .iter()
            .find(|e| e.name == *name)
            .map_or(0, |e| e.start_ms);
        max_lag_ms = max_lag_ms.max(start_ms.saturating_sub(scheduled_ms));
    }
    if info.fired != names.len() as u64 {
        violations.push(format!(
            "schedule: it counted {} fires but {} executions exist",
            info.fired,
            names.len()
        ));
    }
    if names.is_empty() {
        violations.push("schedule: it started nothing".into());
    }
    if violations.is_empty() {
        Ok(format!(
            "schedule: {} seconds, one execution each; latest start {max_lag_ms} ms after its time",
            names.len()
        ))
    } else {
        Err(violations)
    }
}
