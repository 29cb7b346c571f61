//! A parsed, validated state machine: the typed form of an ASL document.

use serde_json::Value;

use crate::choice::ChoiceRule;
use crate::intrinsic::Call;
use crate::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct StateMachine {
    pub start_at: String,
    /// In document order, so graphs and listings follow the author's order.
    pub states: Vec<State>,
    pub timeout_seconds: Option<u64>,
    pub comment: Option<String>,
}

impl StateMachine {
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.iter().find(|s| s.name == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub name: String,
    pub kind: StateKind,
    /// `None` when the document says `null` (the state sees `{}`).
    pub input_path: Option<Path>,
    pub output_path: Option<Path>,
    pub transition: Transition,
    /// Whether any field of the state reads the context object `$$`; the
    /// engine builds the context only for states that do.
    pub uses_context: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Next(String),
    End,
    /// Choice, Succeed and Fail decide for themselves.
    None,
}

/// A JSON template with `.$` keys compiled: what `Parameters`,
/// `ResultSelector` and `ItemSelector` hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    Literal(Value),
    Path(Path),
    Intrinsic(Call),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
}

/// Where a state's result goes: discarded (`null`), or at a reference path.
#[derive(Debug, Clone, PartialEq)]
pub enum ResultPath {
    Discard,
    At(Path),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Seconds {
    Fixed(u64),
    Path(Path),
}

/// A number given in the definition or read from the input by a `…Path` field.
#[derive(Debug, Clone, PartialEq)]
pub enum Amount {
    Fixed(f64),
    Path(Path),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    Fixed(String),
    Path(Path),
    Intrinsic(Call),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub full_jitter: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: ResultPath,
}

/// What a Task, Parallel or Map state shares: data shaping and error handling.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Handling {
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: Option<ResultPath>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WaitFor {
    Seconds(u64),
    SecondsPath(Path),
    Timestamp(String),
    TimestampPath(Path),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub name: String,
    /// `.waitForTaskToken`: the task ends only when someone reports its token.
    pub wait_for_token: bool,
    pub resource: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StateKind {
    Pass {
        parameters: Option<Template>,
        result: Option<Value>,
        result_path: Option<ResultPath>,
    },
    Task {
        activity: Activity,
        handling: Handling,
        timeout: Option<Seconds>,
        heartbeat: Option<Seconds>,
    },
    Choice {
        choices: Vec<(ChoiceRule, String)>,
        default: Option<String>,
    },
    Wait {
        wait: WaitFor,
    },
    Succeed,
    Fail {
        error: Option<Text>,
        cause: Option<Text>,
    },
    Parallel {
        branches: Vec<StateMachine>,
        handling: Handling,
    },
    Map {
        processor: Box<StateMachine>,
        handling: Handling,
        items_path: Option<Path>,
        item_selector: Option<Template>,
        max_concurrency: Option<Amount>,
        tolerated_failure_percentage: Option<Amount>,
        tolerated_failure_count: Option<Amount>,
    },
}

impl StateKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            StateKind::Pass { .. } => "Pass",
            StateKind::Task { .. } => "Task",
            StateKind::Choice { .. } => "Choice",
            StateKind::Wait { .. } => "Wait",
            StateKind::Succeed => "Succeed",
            StateKind::Fail { .. } => "Fail",
            StateKind::Parallel { .. } => "Parallel",
            StateKind::Map { .. } => "Map",
        }
    }
}

impl State {
    /// The states this one can go to, each with a label for drawings:
    /// `Next` (no label), Choice rules (`rule N`, `default`) and Catch
    /// (`catch <errors>`). Parallel branches and Map processors are nested
    /// machines, not successors.
    pub fn successors(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Transition::Next(n) = &self.transition {
            out.push((n.clone(), String::new()));
        }
        match &self.kind {
            StateKind::Choice { choices, default } => {
                for (i, (_, next)) in choices.iter().enumerate() {
                    out.push((next.clone(), format!("rule {}", i + 1)));
                }
                if let Some(d) = default {
                    out.push((d.clone(), "default".into()));
                }
            }
            StateKind::Task { handling, .. }
            | StateKind::Parallel { handling, .. }
            | StateKind::Map { handling, .. } => {
                for c in &handling.catch {
                    out.push((
                        c.next.clone(),
                        format!("catch {}", c.error_equals.join(",")),
                    ));
                }
            }
            _ => {}
        }
        out
    }
}
