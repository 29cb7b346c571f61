//! What the API checks before a trigger reaches the log: names, the ends
//! it acts on, the text sizes. Errors name the field.

use raftflow_proto::v1::{ExecutionEnd, TriggerDefinition};
use raftflow_store::schedules::MAX_TEXT_BYTES;
use raftflow_store::triggers::{Target, TriggerDef, When, MAX_TRIGGER_NAME_CHARS};

use crate::error::ApiError;
use crate::limits;

/// A trigger's name: what `limits::name` allows, in at most 48 characters.
pub fn name(value: &str) -> Result<(), ApiError> {
    limits::name("the trigger name", value)?;
    if value.len() > MAX_TRIGGER_NAME_CHARS {
        return Err(ApiError::InvalidArgument(format!(
            "the trigger name has {} characters; at most {MAX_TRIGGER_NAME_CHARS}, since its executions are named NAME-<source execution>",
            value.len()
        )));
    }
    Ok(())
}

/// The definition as apply will store it.
pub fn checked(def: TriggerDefinition) -> Result<TriggerDef, ApiError> {
    name(&def.name)?;
    limits::name("the source state machine", &def.source)?;
    let (state_machine, version) = crate::schedules::door::target(&def.start_state_machine)?;
    crate::schedules::door::bytes("the description", &def.description, MAX_TEXT_BYTES)?;
    let mut on = def
        .on
        .iter()
        .map(|value| end(*value))
        .collect::<Result<Vec<When>, ApiError>>()?;
    if on.is_empty() {
        on.push(When::Succeeded);
    }
    on.sort_unstable();
    on.dedup();
    Ok(TriggerDef {
        name: def.name,
        source: def.source,
        on,
        target: Target::StartExecution {
            state_machine,
            version,
        },
        description: def.description,
        enabled: !def.disabled,
    })
}

fn end(value: i32) -> Result<When, ApiError> {
    match ExecutionEnd::try_from(value) {
        Ok(ExecutionEnd::Succeeded) => Ok(When::Succeeded),
        Ok(ExecutionEnd::Failed) => Ok(When::Failed),
        Ok(ExecutionEnd::TimedOut) => Ok(When::TimedOut),
        Ok(ExecutionEnd::Aborted) => Ok(When::Aborted),
        _ => Err(ApiError::InvalidArgument(format!(
            "execution end {value} is not one of SUCCEEDED (1), FAILED (2), TIMED_OUT (3) and ABORTED (4)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors_name_the_field() {
        let def = TriggerDefinition {
            name: "ship".into(),
            source: "orders".into(),
            start_state_machine: "shipping:2".into(),
            on: vec![2, 1, 2],
            ..Default::default()
        };
        let ok = checked(def.clone()).unwrap();
        assert_eq!(ok.on, vec![When::Succeeded, When::Failed]);
        assert!(ok.enabled);
        assert_eq!(
            ok.target,
            Target::StartExecution {
                state_machine: "shipping".into(),
                version: 2
            }
        );
        let mut bare = def.clone();
        bare.on.clear();
        assert_eq!(checked(bare).unwrap().on, vec![When::Succeeded]);
        let error = |d| checked(d).unwrap_err().to_string();
        let mut odd = def.clone();
        odd.on = vec![9];
        assert!(error(odd).contains("execution end 9"));
        let mut long = def.clone();
        long.name = "t".repeat(49);
        assert!(error(long).contains("at most 48"));
        let mut nowhere = def;
        nowhere.start_state_machine = String::new();
        assert!(error(nowhere).contains("state machine"));
    }
}
