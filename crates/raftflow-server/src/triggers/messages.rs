//! Replicated trigger records as the API shows them.

use raftflow_proto::v1::{
    ExecutionEnd, ScheduleOutcome, TriggerAction, TriggerDefinition, TriggerInfo,
};
use raftflow_store::schedules::Outcome;
use raftflow_store::triggers::{Fired, Target, Trigger, When};

pub fn info(trigger: Trigger) -> TriggerInfo {
    TriggerInfo {
        revision: trigger.revision,
        created_ms: trigger.created_ms,
        updated_ms: trigger.updated_ms,
        started: trigger.started,
        failed: trigger.failed,
        recent: trigger.recent.into_iter().map(action).collect(),
        trigger: Some(definition(trigger.def)),
    }
}

fn definition(def: raftflow_store::triggers::TriggerDef) -> TriggerDefinition {
    let Target::StartExecution {
        state_machine,
        version,
    } = def.target;
    let start_state_machine = match version {
        0 => state_machine,
        v => format!("{state_machine}:{v}"),
    };
    TriggerDefinition {
        name: def.name,
        source: def.source,
        on: def.on.into_iter().map(|w| end(w) as i32).collect(),
        start_state_machine,
        description: def.description,
        disabled: !def.enabled,
    }
}

fn end(when: When) -> ExecutionEnd {
    match when {
        When::Succeeded => ExecutionEnd::Succeeded,
        When::Failed => ExecutionEnd::Failed,
        When::TimedOut => ExecutionEnd::TimedOut,
        When::Aborted => ExecutionEnd::Aborted,
    }
}

fn action(fired: Fired) -> TriggerAction {
    let (outcome, execution_id, detail) = match fired.outcome {
        Outcome::Started { execution_id } => {
            (ScheduleOutcome::Started, execution_id, String::new())
        }
        Outcome::AlreadyStarted { execution_id } => {
            (ScheduleOutcome::AlreadyStarted, execution_id, String::new())
        }
        Outcome::StartFailed { message } => (ScheduleOutcome::StartFailed, String::new(), message),
        other => (
            ScheduleOutcome::Unspecified,
            String::new(),
            format!("{other:?}"),
        ),
    };
    TriggerAction {
        at_ms: fired.at_ms,
        source_execution: fired.source_execution,
        end: end(fired.when) as i32,
        outcome: outcome as i32,
        execution_id,
        detail,
    }
}
