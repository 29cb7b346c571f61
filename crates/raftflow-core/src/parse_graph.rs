//! Checks on the shape of a machine: transition targets, reachability and
//! terminal states.

use std::collections::{BTreeSet, VecDeque};

use serde_json::{Map, Value};

use super::{loc, Parser};
use crate::definition::*;

impl Parser {
    pub(super) fn check_graph(
        &mut self,
        machine: &StateMachine,
        obj: &Map<String, Value>,
        at: &str,
    ) {
        let Some(Value::Object(raw_states)) = obj.get("States") else {
            return;
        };
        let names: BTreeSet<&str> = raw_states.keys().map(String::as_str).collect();
        if !names.contains(machine.start_at.as_str()) {
            self.err(
                loc(at, "StartAt"),
                "MISSING_TRANSITION_TARGET",
                format!(
                    "`StartAt` names `{}`, which is not a state here",
                    machine.start_at
                ),
            );
        }
        let mut terminal = false;
        for state in &machine.states {
            let here = loc(&loc(at, "States"), &state.name);
            for (field, target) in targets(state) {
                if !names.contains(target.as_str()) {
                    self.err(
                        format!("{here}{field}"),
                        "MISSING_TRANSITION_TARGET",
                        format!("`{target}` is not a state in this scope"),
                    );
                }
            }
            terminal |= matches!(state.transition, Transition::End)
                || matches!(state.kind, StateKind::Succeed | StateKind::Fail { .. });
        }
        if !terminal && !machine.states.is_empty() {
            self.err(
                loc(at, "States"),
                "NO_TERMINAL_STATE",
                "no state ends the machine (`End: true`, Succeed or Fail)",
            );
        }
        // Reachability from StartAt.
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([machine.start_at.clone()]);
        while let Some(name) = queue.pop_front() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(state) = machine.state(&name) {
                queue.extend(targets(state).into_iter().map(|(_, t)| t));
            }
        }
        for state in &machine.states {
            if !seen.contains(&state.name) {
                self.err(
                    loc(&loc(at, "States"), &state.name),
                    "UNREACHABLE_STATE",
                    format!(
                        "`{}` cannot be reached from `{}`",
                        state.name, machine.start_at
                    ),
                );
            }
        }
    }
}

/// Every state name a state can move to, with the JSON location suffix of each.
fn targets(state: &State) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Transition::Next(n) = &state.transition {
        out.push(("/Next".to_string(), n.clone()));
    }
    match &state.kind {
        StateKind::Choice { choices, default } => {
            for (i, (_, next)) in choices.iter().enumerate() {
                out.push((format!("/Choices/{i}/Next"), next.clone()));
            }
            if let Some(d) = default {
                out.push(("/Default".to_string(), d.clone()));
            }
        }
        StateKind::Task { handling, .. }
        | StateKind::Parallel { handling, .. }
        | StateKind::Map { handling, .. } => {
            for (i, c) in handling.catch.iter().enumerate() {
                out.push((format!("/Catch/{i}/Next"), c.next.clone()));
            }
        }
        _ => {}
    }
    out
}
