//! Definitions, inputs and task answers drawn from a byte string: the one
//! generator behind the proptest harness (`tests/fuzz_engine.rs`, in the
//! test command) and the libFuzzer target (`fuzz/`, run outside CI), so a
//! byte string that breaks one replays in the other.
//!
//! Numbers lean to the edges (0, ±1, u64/i64 extremes, floats past any
//! integer, Step Functions' bounds and one past them); transitions may
//! loop; Map and Parallel nest up to three levels; a Parallel that keeps its
//! result doubles the data each turn of a loop, until the data limit.

use serde_json::{json, Value};

pub struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// The next byte; zeros once the string is used up, so every string
    /// describes one finite case.
    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.byte() as usize % n.max(1)
    }

    pub fn number(&mut self) -> Value {
        match self.below(14) {
            0 => json!(0),
            1 => json!(1),
            2 => json!(-1),
            3 => json!(u64::MAX),
            4 => json!(i64::MIN),
            5 => json!(1e300),
            6 => json!(0.5),
            7 => json!(99_999_999u64),
            8 => json!(100_000_000u64),
            9 => json!(u32::MAX),
            10 => json!(-1e300),
            11 => json!(i64::MAX),
            _ => json!(self.byte() % 8),
        }
    }

    fn seconds(&mut self) -> Value {
        // Mostly small, so that executions run; sometimes at the edges.
        match self.below(4) {
            0 => self.number(),
            _ => json!(1 + self.byte() % 30),
        }
    }
}

fn state_name(i: usize) -> String {
    format!("S{i}")
}

/// A state machine of 1 to 5 states; nested machines down to `depth` 3.
pub fn definition(b: &mut Bytes, depth: u32) -> Value {
    let count = 1 + b.below(5);
    let mut states = serde_json::Map::new();
    for i in 0..count {
        let mut state = state(b, depth, count);
        if let Some(obj) = state.as_object_mut() {
            let terminal = matches!(obj["Type"].as_str(), Some("Choice" | "Succeed" | "Fail"));
            if !terminal {
                if i + 1 < count && b.below(4) > 0 {
                    obj.insert("Next".into(), json!(state_name(i + 1)));
                } else if b.below(3) == 0 {
                    obj.insert("Next".into(), json!(state_name(b.below(count))));
                } else {
                    obj.insert("End".into(), json!(true));
                }
            }
        }
        states.insert(state_name(i), state);
    }
    let mut machine = json!({"StartAt": "S0", "States": states});
    if b.below(6) == 0 {
        machine["TimeoutSeconds"] = b.seconds();
    }
    machine
}

fn state(b: &mut Bytes, depth: u32, count: usize) -> Value {
    let target = |b: &mut Bytes| json!(state_name(b.below(count)));
    match b.below(if depth < 3 { 9 } else { 7 }) {
        0 => json!({"Type": "Pass"}),
        1 => match b.below(4) {
            0 => json!({"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}}),
            1 => {
                json!({"Type": "Pass", "Parameters": {"r.$": "States.ArrayRange(0, $.n, 1)"}, "ResultPath": "$.r"})
            }
            2 => {
                json!({"Type": "Pass", "Parameters": {"xs.$": "$.xs", "n.$": "States.ArrayLength($.xs)"}})
            }
            _ => json!({"Type": "Pass", "Result": b.number(), "ResultPath": "$.n"}),
        },
        2 => {
            let mut task = json!({"Type": "Task", "Resource": "activity:t"});
            if b.below(2) == 0 {
                task["TimeoutSeconds"] = b.seconds();
            }
            if b.below(3) == 0 {
                task["HeartbeatSeconds"] = b.seconds();
            }
            if b.below(2) == 0 {
                task["Retry"] = json!([{"ErrorEquals": ["States.ALL"], "IntervalSeconds": b.seconds(),
                    "MaxAttempts": 1 + b.byte() % 3, "BackoffRate": 1.0 + f64::from(b.byte() % 4)}]);
            }
            if b.below(2) == 0 {
                task["Catch"] = json!([{"ErrorEquals": ["States.ALL"], "Next": target(b)}]);
            }
            task
        }
        3 => {
            json!({"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": b.number(), "Next": target(b)}],
            "Default": target(b)})
        }
        4 => match b.below(3) {
            0 => json!({"Type": "Wait", "Seconds": b.seconds()}),
            1 => json!({"Type": "Wait", "SecondsPath": "$.n"}),
            _ => json!({"Type": "Wait", "Timestamp": "2026-12-03T10:00:00Z"}),
        },
        5 => json!({"Type": "Succeed"}),
        6 => json!({"Type": "Fail", "Error": "E", "Cause": "c"}),
        7 => json!({"Type": "Map", "ItemsPath": "$.xs", "MaxConcurrency": b.byte() % 4,
            "ItemProcessor": definition(b, depth + 1)}),
        // A kept result doubles the data each turn of a loop: the data
        // limit must end it.
        _ => {
            json!({"Type": "Parallel", "ResultPath": if b.below(2) == 0 { json!(null) } else { json!("$.p") },
            "Branches": [definition(b, depth + 1), definition(b, depth + 1)]})
        }
    }
}

pub fn input(b: &mut Bytes) -> Value {
    let items = b.below(40);
    json!({"n": b.number(), "xs": (0..items).map(|i| json!(i)).collect::<Vec<_>>()})
}

/// How a task is answered: succeed with its input, fail, or stay silent.
pub fn answer(byte: u8) -> u8 {
    byte % 3
}
