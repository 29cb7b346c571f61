//! The load: a multi-step workflow started at a steady rate, and workers
//! that record every task they receive and every report they make.
//!
//! The workers behave like real ones under failure: a report whose outcome
//! is unknown is retried with the same token, some first attempts fail with a
//! retryable error, some acknowledged reports are sent a second time (the
//! server must acknowledge the repeat as already applied, or refuse it, and
//! never apply it again), and a "worker crash" fault makes a worker
//! abandon the task it holds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use raftflow_client::{Client, ClientError, NextTask};
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

use crate::history::{Outcome, Record, Recorder};

pub const STATE_MACHINE: &str = "chaos-order";

/// Task, Retry (with a heartbeat), Parallel of two tasks, Wait, a callback
/// task (`.waitForTaskToken`) and Choice. Every task has a timeout, so a
/// task abandoned by a crashed worker is retried.
pub const DEFINITION: &str = r#"{
  "Comment": "raftflow chaos workload",
  "StartAt": "Prepare",
  "States": {
    "Prepare": {"Type": "Pass", "Result": {"items": 2}, "ResultPath": "$.prep", "Next": "Charge"},
    "Charge": {"Type": "Task", "Resource": "activity:chaos-charge", "TimeoutSeconds": 4, "HeartbeatSeconds": 2,
      "ResultPath": "$.charge", "Next": "Fanout",
      "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "BackoffRate": 1.0, "MaxAttempts": 30}]},
    "Fanout": {"Type": "Parallel", "ResultPath": "$.fanout", "Next": "Pause",
      "Branches": [
        {"StartAt": "Pack", "States": {"Pack": {"Type": "Task", "Resource": "activity:chaos-pack", "TimeoutSeconds": 4,
          "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "BackoffRate": 1.0, "MaxAttempts": 30}], "End": true}}},
        {"StartAt": "Notify", "States": {"Notify": {"Type": "Task", "Resource": "activity:chaos-notify", "TimeoutSeconds": 4,
          "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "BackoffRate": 1.0, "MaxAttempts": 30}], "End": true}}}
      ]},
    "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Approve"},
    "Approve": {"Type": "Task", "Resource": "activity:chaos-approve.waitForTaskToken", "TimeoutSeconds": 6,
      "Parameters": {"token.$": "$$.Task.Token"}, "ResultPath": "$.approval", "Next": "Decide",
      "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "BackoffRate": 1.0, "MaxAttempts": 30}]},
    "Decide": {"Type": "Choice", "Default": "Done",
      "Choices": [{"Variable": "$.prep.items", "NumericEquals": 0, "Next": "Nothing"}]},
    "Nothing": {"Type": "Fail", "Error": "Empty", "Cause": "no items"},
    "Done": {"Type": "Succeed"}
  }
}"#;

/// The workload's definition; with `no_timeouts`, its task states set no
/// `TimeoutSeconds` or `HeartbeatSeconds`.
pub fn definition(no_timeouts: bool) -> String {
    if !no_timeouts {
        return DEFINITION.to_string();
    }
    let mut def: serde_json::Value = serde_json::from_str(DEFINITION).expect("valid JSON");
    strip_timeouts(&mut def);
    def.to_string()
}

fn strip_timeouts(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("TimeoutSeconds");
            map.remove("HeartbeatSeconds");
            map.values_mut().for_each(strip_timeouts);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_timeouts),
        _ => {}
    }
}

pub const ACTIVITIES: [&str; 4] = [
    "chaos-charge",
    "chaos-pack",
    "chaos-notify",
    "chaos-approve",
];

/// Classifies a failed call: a definite refusal changed nothing; anything
/// else (deadline, transport, no leader) may or may not have taken effect.
pub fn outcome_of(error: &ClientError) -> Outcome {
    use tonic::Code;
    match error {
        ClientError::Status(s) => match s.code() {
            Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::FailedPrecondition => Outcome::Refused,
            _ => Outcome::Unknown,
        },
        _ => Outcome::Unknown,
    }
}

/// Starts executions at `rate_per_s` until `stop` turns true; each start is
/// recorded with its outcome. Returns how many starts were offered.
pub async fn load(
    client: Arc<Client>,
    recorder: Recorder,
    run_id: String,
    rate_per_s: u32,
    stop: watch::Receiver<bool>,
) -> usize {
    let mut tick =
        tokio::time::interval(Duration::from_micros(1_000_000 / rate_per_s.max(1) as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut offered = 0;
    let mut starts = tokio::task::JoinSet::new();
    while !*stop.borrow() {
        tick.tick().await;
        let name = format!("{run_id}-{offered}");
        offered += 1;
        let (client, recorder) = (client.clone(), recorder.clone());
        starts.spawn(async move {
            let result = client
                .start_execution(STATE_MACHINE, Some(&name), r#"{"order": 1}"#)
                .await;
            let (outcome, execution_id, error) = match result {
                Ok(reply) => (Outcome::Ok, Some(reply.execution_id), None),
                Err(e) => (outcome_of(&e), None, Some(e.to_string())),
            };
            recorder.record(Record::Start {
                t_ms: recorder.now_ms(),
                name,
                outcome,
                execution_id,
                error,
            });
        });
        while starts.try_join_next().is_some() {}
    }
    while starts.join_next().await.is_some() {}
    offered
}

/// Shared switches of the worker pool.
#[derive(Default)]
pub struct WorkerFaults {
    /// Tasks still to be abandoned by "crashing" workers.
    pub abandon: AtomicUsize,
}

/// One poller: polls, records, works, reports (retrying unknown outcomes).
pub async fn poller(
    index: usize,
    client: Arc<Client>,
    recorder: Recorder,
    faults: Arc<WorkerFaults>,
    (seed, poll_ids): (u64, bool),
    stop: watch::Receiver<bool>,
) {
    let mut rng =
        rand::rngs::StdRng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9E37_79B9));
    let activities: Vec<String> = ACTIVITIES.iter().map(|a| a.to_string()).collect();
    let worker = format!("chaos-worker-{index}");
    let new_id = || {
        if poll_ids {
            raftflow_client::worker::new_poll_id()
        } else {
            String::new()
        }
    };
    // A task that came back with the previous report (DispatchNext), and
    // the poll id it came under.
    let mut carried: Option<(raftflow_client::Task, String)> = None;
    // Kept until a poll is answered: an error means the same poll, retried.
    let mut poll_id = new_id();
    while !*stop.borrow() {
        let polled = match carried.take() {
            Some((task, id)) => Ok(Some((task, id))),
            None => {
                let polled = client
                    .poll_task_with_id(&poll_id, &activities, &worker, 1_000)
                    .await;
                let id = std::mem::replace(&mut poll_id, new_id());
                match polled {
                    Err(e) => {
                        poll_id = id;
                        Err(e)
                    }
                    Ok(task) => Ok(task.map(|t| (t, id))),
                }
            }
        };
        let (task, task_poll_id) = match polled {
            Ok(Some(task)) => task,
            Ok(None) => continue,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let epoch = task
            .token
            .rsplit_once('@')
            .and_then(|(_, e)| e.parse().ok())
            .unwrap_or(0);
        recorder.record(Record::Delivered {
            t_ms: recorder.now_ms(),
            poller: index,
            token: task.token.clone(),
            execution_id: task.execution_id.clone(),
            activity: task.activity.clone(),
            epoch,
            poll_id: (!task_poll_id.is_empty()).then_some(task_poll_id),
        });
        let take = faults.abandon.load(Ordering::SeqCst);
        if take > 0
            && faults
                .abandon
                .compare_exchange(take, take - 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            recorder.record(Record::Abandoned {
                t_ms: recorder.now_ms(),
                token: task.token,
            });
            continue;
        }
        // A callback task is finished through the token in its input.
        let token = if task.callback {
            let input: serde_json::Value = serde_json::from_str(&task.input).unwrap_or_default();
            input["token"].as_str().unwrap_or_default().to_string()
        } else {
            task.token.clone()
        };
        let fail = task.activity == "chaos-charge" && task.attempt <= 1 && rng.gen_bool(0.2);
        let kind = if fail { "failure" } else { "success" };
        // Half the reports also take the poller's next task, under one
        // poll id for every try of the report.
        let next_id = new_id();
        let next = rng.gen_bool(0.5).then_some(NextTask {
            activities: &activities,
            worker: &worker,
            poll_id: Some(&next_id),
        });
        let (acknowledged, taken) = report(&client, &recorder, &token, kind, false, next).await;
        carried = taken.map(|t| (t, next_id));
        if acknowledged && !fail && rng.gen_bool(0.25) {
            report(&client, &recorder, &token, kind, true, None).await;
        }
    }
}

/// Sends one report, retrying while its outcome is unknown (up to 20 s).
/// Returns whether it was acknowledged, and the next task it took.
async fn report(
    client: &Client,
    recorder: &Recorder,
    token: &str,
    kind: &str,
    duplicate: bool,
    next: Option<NextTask<'_>>,
) -> (bool, Option<raftflow_client::Task>) {
    let output = serde_json::json!({ "by": token }).to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let sent_ms = recorder.now_ms();
    loop {
        let result = if kind == "failure" {
            let cause = "the chaos worker failed this attempt";
            client
                .fail_task_and_take(token, "Transient", cause, next)
                .await
        } else {
            client.complete_task_and_take(token, &output, next).await
        };
        let (outcome, error) = match &result {
            Ok(_) => (Outcome::Ok, None),
            Err(e) => (outcome_of(e), Some(e.to_string())),
        };
        let already_applied = result.as_ref().is_ok_and(|r| r.already_applied);
        // A repeat of a report whose first reply was lost, carrying back
        // the next task that first try took (poll ids).
        let next_recovered = already_applied && result.as_ref().is_ok_and(|r| r.next.is_some());
        if outcome == Outcome::Unknown && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        recorder.record(Record::Report {
            t_ms: recorder.now_ms(),
            sent_ms,
            token: token.to_string(),
            kind: kind.to_string(),
            duplicate,
            outcome,
            already_applied,
            next_recovered,
            error,
        });
        return (outcome == Outcome::Ok, result.ok().and_then(|r| r.next));
    }
}
