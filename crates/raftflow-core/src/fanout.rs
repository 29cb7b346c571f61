//! Parallel and Map: states that run nested state machines in child frames.
//!
//! ```text
//!  Parallel ──▶ one child frame per branch ──all succeed──▶ [out₀, out₁, …]
//!  Map      ──▶ one child frame per item, ≤ MaxConcurrency at once ──▶ [out₀, …]
//!  a failing child ⇒ the state fails (Map: unless within its tolerated failures)
//! ```

use serde_json::{json, Value};

use crate::definition::{Amount, State, StateKind, StateMachine};
use crate::eval::{render, Failure, Scope};
use crate::execution::*;
use crate::run::machine_at;

pub(crate) fn start(
    exec: &mut Execution,
    def: &StateMachine,
    ctx: &mut Ctx,
    frame: u32,
    state: &State,
    effective: Value,
    context: &Value,
) {
    let scope_base = exec.frames[&frame].scope.clone();
    match &state.kind {
        StateKind::Parallel { branches, handling } => {
            let input = match &handling.parameters {
                Some(p) => match render(
                    p,
                    &Scope {
                        data: &effective,
                        context,
                        exact_numbers: exec.rules.exact_numbers,
                    },
                    &mut ctx.rng,
                ) {
                    Ok(v) => v,
                    Err(f) => return exec.state_failed(def, ctx, frame, f),
                },
                None => effective,
            };
            exec.event(ctx, "ParallelStateStarted", json!({}));
            let mut children = Vec::new();
            for i in 0..branches.len() {
                let mut scope = scope_base.clone();
                scope.push(ScopeStep {
                    state: state.name.clone(),
                    branch: Some(i),
                });
                children.push(exec_new_frame(exec, scope, Some((frame, i)), None));
            }
            exec.set_phase(
                frame,
                Phase::Parallel {
                    results: vec![None; branches.len()],
                    children: children.clone(),
                },
            );
            for (i, child) in children.into_iter().enumerate() {
                if !exec.frames.contains_key(&child) {
                    continue; // an earlier branch failed synchronously and took its siblings down
                }
                let start_at = branches[i].start_at.clone();
                exec.enter(def, ctx, child, &start_at, input.clone());
            }
        }
        StateKind::Map {
            items_path,
            max_concurrency,
            tolerated_failure_count,
            tolerated_failure_percentage,
            ..
        } => {
            let limits = match resolve_limits(
                &effective,
                max_concurrency,
                tolerated_failure_count,
                tolerated_failure_percentage,
            ) {
                Ok(l) => l,
                Err(f) => return exec.state_failed(def, ctx, frame, f),
            };
            let items = match items_path
                .as_ref()
                .map_or(Some(effective.clone()), |p| p.select(&effective))
            {
                Some(Value::Array(items)) => items,
                Some(other) => {
                    return exec.state_failed(
                        def,
                        ctx,
                        frame,
                        Failure::new(
                            "States.Runtime",
                            format!("ItemsPath must select an array, got {other}"),
                        ),
                    )
                }
                None => {
                    return exec.state_failed(
                        def,
                        ctx,
                        frame,
                        Failure::new("States.Runtime", "ItemsPath selected nothing"),
                    )
                }
            };
            exec.event(ctx, "MapStateStarted", json!({"length": items.len()}));
            let count = items.len();
            exec.set_phase(
                frame,
                Phase::Map {
                    items,
                    next: 0,
                    results: vec![None; count],
                    running: Default::default(),
                    failed: 0,
                    limits,
                },
            );
            if count == 0 {
                exec.event(ctx, "MapStateSucceeded", json!({}));
                return exec.state_result(def, ctx, frame, json!([]));
            }
            launch_map_items(exec, def, ctx, frame);
        }
        _ => unreachable!("fanout handles Parallel and Map"),
    }
}

fn exec_new_frame(
    exec: &mut Execution,
    scope: Vec<ScopeStep>,
    parent: Option<(u32, usize)>,
    item: Option<(usize, Value)>,
) -> u32 {
    exec.next_frame += 1;
    exec.frames.insert(
        exec.next_frame,
        Frame {
            scope,
            parent,
            active: None,
            map_item: item,
        },
    );
    exec.next_frame
}

/// Starts iterations until MaxConcurrency (0 = unbounded) are running.
fn launch_map_items(exec: &mut Execution, def: &StateMachine, ctx: &mut Ctx, frame: u32) {
    let Some(f) = exec.frames.get(&frame) else {
        return;
    };
    let Some(active) = f.active.as_ref() else {
        return;
    };
    let scope = f.scope.clone();
    let state = machine_at(def, &scope)
        .state(&active.name)
        .expect("validated");
    let StateKind::Map {
        processor,
        item_selector,
        ..
    } = &state.kind
    else {
        unreachable!("phase is Map")
    };
    loop {
        let Some(active) = exec.frames.get(&frame).and_then(|f| f.active.as_ref()) else {
            return;
        };
        let Phase::Map {
            items,
            next,
            running,
            limits,
            ..
        } = &active.phase
        else {
            return;
        };
        if *next >= items.len()
            || (limits.max_concurrency > 0 && running.len() as u64 >= limits.max_concurrency)
        {
            return;
        }
        let (index, item) = (*next, items[*next].clone());
        let effective = item_selector.as_ref().map(|_| active.effective.clone());
        let mut child_scope = scope.clone();
        child_scope.push(ScopeStep {
            state: state.name.clone(),
            branch: None,
        });
        let child = exec_new_frame(
            exec,
            child_scope,
            Some((frame, index)),
            Some((index, item.clone())),
        );
        let input = match (item_selector, effective) {
            (Some(t), Some(data)) => {
                let context = exec.context(child, ctx, None);
                match render(
                    t,
                    &Scope {
                        data: &data,
                        context: &context,
                        exact_numbers: exec.rules.exact_numbers,
                    },
                    &mut ctx.rng,
                ) {
                    Ok(v) => v,
                    Err(f) => {
                        exec.frames.remove(&child);
                        return exec.state_failed(def, ctx, frame, f);
                    }
                }
            }
            _ => item,
        };
        if let Some(Phase::Map { next, running, .. }) = exec
            .frames
            .get_mut(&frame)
            .and_then(|f| f.active.as_mut())
            .map(|a| &mut a.phase)
        {
            *next += 1;
            running.insert(child, index);
        }
        exec.event(ctx, "MapIterationStarted", json!({"index": index}));
        exec.enter(def, ctx, child, &processor.start_at, input);
    }
}

pub(crate) fn child_succeeded(
    exec: &mut Execution,
    def: &StateMachine,
    ctx: &mut Ctx,
    parent: u32,
    child: u32,
    slot: usize,
    output: Value,
) {
    let Some(phase) = exec
        .frames
        .get_mut(&parent)
        .and_then(|f| f.active.as_mut())
        .map(|a| &mut a.phase)
    else {
        return;
    };
    match phase {
        Phase::Parallel { results, .. } => {
            results[slot] = Some(output);
            if results.iter().all(Option::is_some) {
                let all: Vec<Value> = results
                    .iter()
                    .map(|r| r.clone().expect("all set"))
                    .collect();
                exec.state_result(def, ctx, parent, Value::Array(all));
            }
        }
        Phase::Map {
            results, running, ..
        } => {
            results[slot] = Some(output);
            running.remove(&child);
            exec.event(ctx, "MapIterationSucceeded", json!({"index": slot}));
            map_progress(exec, def, ctx, parent);
        }
        _ => {}
    }
}

pub(crate) fn child_failed(
    exec: &mut Execution,
    def: &StateMachine,
    ctx: &mut Ctx,
    parent: u32,
    child: u32,
    slot: usize,
    failure: Failure,
) {
    let Some(active) = exec.frames.get(&parent).and_then(|f| f.active.clone()) else {
        return;
    };
    match active.phase {
        Phase::Parallel { children, .. } => {
            for c in children {
                exec.drop_frame(ctx, c);
            }
            exec.state_failed(def, ctx, parent, failure);
        }
        Phase::Map { .. } => {
            let (failed, total, limits) = match exec
                .frames
                .get_mut(&parent)
                .and_then(|f| f.active.as_mut())
                .map(|a| &mut a.phase)
            {
                Some(Phase::Map {
                    running,
                    failed,
                    results,
                    limits,
                    ..
                }) => {
                    running.remove(&child);
                    *failed += 1;
                    results[slot] = Some(json!({"Error": failure.error, "Cause": failure.cause}));
                    (*failed, results.len() as u64, *limits)
                }
                _ => return,
            };
            let (tolerated_failure_count, tolerated_failure_percentage) =
                (limits.tolerated_count, limits.tolerated_percentage);
            exec.event(
                ctx,
                "MapIterationFailed",
                json!({"index": slot, "error": failure.error}),
            );
            let tolerated =
                tolerated_failure_count.is_some() || tolerated_failure_percentage.is_some();
            let within_count = tolerated_failure_count.is_some_and(|c| failed <= c);
            let within_pct = tolerated_failure_percentage
                .is_some_and(|p| (failed as f64) * 100.0 / total as f64 <= p);
            if tolerated && (within_count || within_pct) {
                return map_progress(exec, def, ctx, parent);
            }
            let failure = if tolerated {
                Failure::new(
                    "States.ExceedToleratedFailureThreshold",
                    "The number of failed items exceeded the tolerated threshold",
                )
            } else {
                failure
            };
            let running: Vec<u32> =
                match &exec.frames[&parent].active.as_ref().expect("active").phase {
                    Phase::Map { running, .. } => running.keys().copied().collect(),
                    _ => Vec::new(),
                };
            for c in running {
                exec.drop_frame(ctx, c);
            }
            exec.state_failed(def, ctx, parent, failure);
        }
        _ => {}
    }
}

fn map_progress(exec: &mut Execution, def: &StateMachine, ctx: &mut Ctx, frame: u32) {
    launch_map_items(exec, def, ctx, frame);
    let Some(Phase::Map {
        results,
        running,
        next,
        items,
        ..
    }) = exec
        .frames
        .get_mut(&frame)
        .and_then(|f| f.active.as_mut())
        .map(|a| &mut a.phase)
    else {
        return;
    };
    if running.is_empty() && *next >= items.len() {
        let all: Vec<Value> = std::mem::take(results)
            .into_iter()
            .map(|r| r.unwrap_or(Value::Null))
            .collect();
        exec.event(ctx, "MapStateSucceeded", json!({}));
        exec.state_result(def, ctx, frame, Value::Array(all));
    }
}

fn resolve_limits(
    input: &Value,
    max: &Option<Amount>,
    count: &Option<Amount>,
    pct: &Option<Amount>,
) -> Result<MapLimits, Failure> {
    let read = |amount: &Option<Amount>, name: &str, upper: f64| -> Result<Option<f64>, Failure> {
        match amount {
            None => Ok(None),
            Some(Amount::Fixed(n)) => Ok(Some(*n)),
            Some(Amount::Path(p)) => match p.select(input).as_ref().and_then(Value::as_f64) {
                Some(n) if (0.0..=upper).contains(&n) => Ok(Some(n)),
                _ => Err(Failure::new(
                    "States.Runtime",
                    format!("{name}Path {} must name a number from 0 to {upper}", p.raw),
                )),
            },
        }
    };
    let whole = |n: Option<f64>, name: &str| -> Result<Option<u64>, Failure> {
        match n {
            Some(n) if n.fract() != 0.0 => Err(Failure::new(
                "States.Runtime",
                format!("{name} must be a whole number, not {n}"),
            )),
            other => Ok(other.map(|n| n as u64)),
        }
    };
    Ok(MapLimits {
        max_concurrency: whole(
            read(max, "MaxConcurrency", u32::MAX as f64)?,
            "MaxConcurrency",
        )?
        .unwrap_or(0),
        tolerated_count: whole(
            read(count, "ToleratedFailureCount", u32::MAX as f64)?,
            "ToleratedFailureCount",
        )?,
        tolerated_percentage: read(pct, "ToleratedFailurePercentage", 100.0)?,
    })
}
