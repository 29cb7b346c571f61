//! From ASL JSON to a typed `StateMachine`, reporting every problem at once.
//!
//! Each `Diagnostic` names its JSON location (`/States/Charge/Next`), a code
//! and a message, in the spirit of Step Functions' ValidateStateMachineDefinition.

use serde_json::{Map, Value};

use crate::definition::*;
use crate::intrinsic;
use crate::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Diagnostic {
    pub location: String,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} [{}]: {}",
            if self.location.is_empty() {
                "/"
            } else {
                &self.location
            },
            self.code,
            self.message
        )
    }
}

/// Parses and validates a definition. Either a machine, or every problem found.
pub fn parse_definition(text: &str) -> Result<StateMachine, Vec<Diagnostic>> {
    parse_definition_at(text, u32::MAX)
}

/// Parses a definition by the rules of `apply_version`: before
/// `numbers::EXACT_NUMBERS_FROM`, its numbers are read as the older
/// releases read them (numbers.rs), so that a `Result` of `1.50` is `1.5`.
pub fn parse_definition_at(
    text: &str,
    apply_version: u32,
) -> Result<StateMachine, Vec<Diagnostic>> {
    let value = crate::numbers::from_str_at(text, apply_version).map_err(|message| {
        vec![Diagnostic {
            location: String::new(),
            code: "INVALID_JSON".into(),
            message,
        }]
    })?;
    let mut parser = Parser {
        diags: Vec::new(),
        apply_version,
    };
    let machine = parser.machine(&value, "");
    match machine {
        Some(m) if parser.diags.is_empty() => Ok(m),
        _ => Err(parser.diags),
    }
}

const COMMON: &[&str] = &["Type", "Comment"];
const IO: &[&str] = &["InputPath", "OutputPath"];
const FLOW: &[&str] = &["Next", "End"];
const HANDLING: &[&str] = &[
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Retry",
    "Catch",
];

fn allowed(type_name: &str) -> Option<Vec<&'static str>> {
    let mut fields: Vec<&'static str> = COMMON.to_vec();
    let extra: &[&[&str]] = match type_name {
        "Pass" => &[IO, FLOW, &["Parameters", "Result", "ResultPath"]],
        "Task" => &[
            IO,
            FLOW,
            HANDLING,
            &[
                "Resource",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
            ],
        ],
        "Choice" => &[IO, &["Choices", "Default"]],
        "Wait" => &[
            IO,
            FLOW,
            &["Seconds", "SecondsPath", "Timestamp", "TimestampPath"],
        ],
        "Succeed" => &[IO],
        "Fail" => &[&["Error", "ErrorPath", "Cause", "CausePath"]],
        "Parallel" => &[IO, FLOW, HANDLING, &["Branches"]],
        "Map" => &[
            IO,
            FLOW,
            HANDLING,
            &[
                "ItemsPath",
                "ItemSelector",
                "ItemProcessor",
                "Iterator",
                "MaxConcurrency",
                "MaxConcurrencyPath",
                "ToleratedFailurePercentage",
                "ToleratedFailurePercentagePath",
                "ToleratedFailureCount",
                "ToleratedFailureCountPath",
                "Label",
                "ItemReader",
                "ResultWriter",
                "ItemBatcher",
            ],
        ],
        _ => return None,
    };
    for group in extra {
        fields.extend_from_slice(group);
    }
    Some(fields)
}

struct Parser {
    diags: Vec<Diagnostic>,
    /// What the definition may hold (HTTP Tasks from `HTTP_TASKS_FROM`).
    apply_version: u32,
}

fn loc(base: &str, field: &str) -> String {
    format!("{base}/{}", field.replace('~', "~0").replace('/', "~1"))
}

impl Parser {
    fn err(&mut self, location: String, code: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            location,
            code: code.into(),
            message: message.into(),
        });
    }

    fn object<'a>(
        &mut self,
        value: &'a Value,
        at: &str,
        what: &str,
    ) -> Option<&'a Map<String, Value>> {
        match value.as_object() {
            Some(o) => Some(o),
            None => {
                self.err(
                    at.to_string(),
                    "WRONG_TYPE",
                    format!("{what} must be a JSON object"),
                );
                None
            }
        }
    }

    fn string(&mut self, obj: &Map<String, Value>, field: &str, at: &str) -> Option<String> {
        match obj.get(field)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.err(
                    loc(at, field),
                    "WRONG_TYPE",
                    format!("`{field}` must be a string"),
                );
                None
            }
        }
    }

    fn uint(&mut self, obj: &Map<String, Value>, field: &str, at: &str) -> Option<u64> {
        let v = obj.get(field)?;
        match v.as_u64() {
            Some(n) => Some(n),
            None => {
                self.err(
                    loc(at, field),
                    "WRONG_TYPE",
                    format!("`{field}` must be a non-negative integer, not {v}"),
                );
                None
            }
        }
    }

    fn path(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        at: &str,
        reference: bool,
    ) -> Option<Path> {
        let raw = self.string(obj, field, at)?;
        self.parse_path(&raw, &loc(at, field), reference)
    }

    fn parse_path(&mut self, raw: &str, at: &str, reference: bool) -> Option<Path> {
        match Path::parse(raw) {
            Ok(p) if reference && !p.is_reference() => {
                self.err(
                    at.to_string(),
                    "INVALID_PATH",
                    format!("`{raw}` must be a reference path (fields and indexes only)"),
                );
                None
            }
            Ok(p) => Some(p),
            Err(e) => {
                self.err(at.to_string(), "INVALID_PATH", e.to_string());
                None
            }
        }
    }

    /// `InputPath`/`OutputPath`: absent ⇒ `$`, `null` ⇒ None (discard).
    fn io_path(&mut self, obj: &Map<String, Value>, field: &str, at: &str) -> Option<Path> {
        match obj.get(field) {
            None => Some(Path::parse("$").expect("`$` parses")),
            Some(Value::Null) => None,
            Some(_) => self.path(obj, field, at, false),
        }
    }

    fn result_path(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        at: &str,
    ) -> Option<ResultPath> {
        match obj.get(field)? {
            Value::Null => Some(ResultPath::Discard),
            _ => {
                let p = self.path(obj, field, at, true)?;
                if p.context {
                    self.err(
                        loc(at, field),
                        "INVALID_PATH",
                        "a ResultPath cannot write to the context object `$$`",
                    );
                    return None;
                }
                Some(ResultPath::At(p))
            }
        }
    }

    pub fn template(&mut self, value: &Value, at: &str) -> Template {
        match value {
            Value::Object(map) => {
                let mut fields = Vec::new();
                for (key, v) in map {
                    let here = loc(at, key);
                    if let Some(name) = key.strip_suffix(".$") {
                        let Some(text) = v.as_str() else {
                            self.err(here, "WRONG_TYPE", format!("`{key}` ends in `.$`, so its value must be a path or an intrinsic function"));
                            continue;
                        };
                        if let Some(t) = self.dynamic(text, &here) {
                            fields.push((name.to_string(), t));
                        }
                    } else {
                        fields.push((key.clone(), self.template(v, &here)));
                    }
                }
                Template::Object(fields)
            }
            Value::Array(items) => Template::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.template(v, &format!("{at}/{i}")))
                    .collect(),
            ),
            other => Template::Literal(other.clone()),
        }
    }

    fn dynamic(&mut self, text: &str, at: &str) -> Option<Template> {
        if intrinsic::is_intrinsic(text) {
            match intrinsic::parse(text) {
                Ok(call) => Some(Template::Intrinsic(call)),
                Err(e) => {
                    self.err(at.to_string(), "INVALID_INTRINSIC", e);
                    None
                }
            }
        } else {
            self.parse_path(text, at, false).map(Template::Path)
        }
    }

    fn machine(&mut self, value: &Value, at: &str) -> Option<StateMachine> {
        let obj = self.object(value, at, "a state machine")?;
        for key in obj.keys() {
            if ![
                "StartAt",
                "States",
                "Comment",
                "TimeoutSeconds",
                "Version",
                "QueryLanguage",
            ]
            .contains(&key.as_str())
            {
                self.err(
                    loc(at, key),
                    "UNKNOWN_FIELD",
                    format!("unknown field `{key}`"),
                );
            }
        }
        if let Some(Value::String(lang)) = obj.get("QueryLanguage") {
            if lang != "JSONPath" {
                self.err(
                    loc(at, "QueryLanguage"),
                    "NOT_SUPPORTED",
                    format!("query language `{lang}` is not supported; use JSONPath"),
                );
            }
        }
        let start_at = self.string(obj, "StartAt", at);
        if !obj.contains_key("StartAt") {
            self.err(loc(at, "StartAt"), "MISSING_FIELD", "`StartAt` is required");
        }
        let states_loc = loc(at, "States");
        let mut states = Vec::new();
        match obj.get("States") {
            None => self.err(states_loc.clone(), "MISSING_FIELD", "`States` is required"),
            Some(v) => {
                if let Some(map) = self.object(v, &states_loc, "`States`") {
                    if map.is_empty() {
                        self.err(
                            states_loc.clone(),
                            "MISSING_FIELD",
                            "`States` must hold at least one state",
                        );
                    }
                    for (name, state) in map {
                        if name.is_empty() || name.chars().count() > 80 {
                            self.err(
                                loc(&states_loc, name),
                                "INVALID_VALUE",
                                "a state name must be 1 to 80 characters",
                            );
                        }
                        if let Some(s) = self.state(name, state, &loc(&states_loc, name)) {
                            states.push(s);
                        }
                    }
                }
            }
        }
        let timeout_seconds = self.uint(obj, "TimeoutSeconds", at);
        let comment = self.string(obj, "Comment", at);
        let machine = StateMachine {
            start_at: start_at?,
            states,
            timeout_seconds,
            comment,
        };
        self.check_graph(&machine, obj, at);
        Some(machine)
    }

    fn state(&mut self, name: &str, value: &Value, at: &str) -> Option<State> {
        let obj = self.object(value, at, "a state")?;
        let Some(type_name) = self.string(obj, "Type", at) else {
            if !obj.contains_key("Type") {
                self.err(loc(at, "Type"), "MISSING_FIELD", "`Type` is required");
            }
            return None;
        };
        let Some(fields) = allowed(&type_name) else {
            self.err(
                loc(at, "Type"),
                "UNKNOWN_STATE_TYPE",
                format!("unknown state type `{type_name}`"),
            );
            return None;
        };
        for key in obj.keys() {
            if !fields.contains(&key.as_str()) {
                let known = [
                    "Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map",
                ]
                .iter()
                .any(|t| allowed(t).is_some_and(|f| f.contains(&key.as_str())));
                let (code, message) = if known {
                    (
                        "FIELD_NOT_ALLOWED",
                        format!("`{key}` is not allowed on a {type_name} state"),
                    )
                } else {
                    ("UNKNOWN_FIELD", format!("unknown field `{key}`"))
                };
                self.err(loc(at, key), code, message);
            }
        }
        let transition = self.transition(obj, &type_name, at);
        let input_path = self.io_path(obj, "InputPath", at);
        let output_path = self.io_path(obj, "OutputPath", at);
        let kind = self.kind(&type_name, obj, at)?;
        let uses_context = value.to_string().contains("$$");
        Some(State {
            name: name.to_string(),
            kind,
            input_path,
            output_path,
            transition: transition?,
            uses_context,
        })
    }

    fn transition(
        &mut self,
        obj: &Map<String, Value>,
        type_name: &str,
        at: &str,
    ) -> Option<Transition> {
        if matches!(type_name, "Choice" | "Succeed" | "Fail") {
            return Some(Transition::None);
        }
        let next = self.string(obj, "Next", at);
        let end = match obj.get("End") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.err(loc(at, "End"), "WRONG_TYPE", "`End` must be a boolean");
                false
            }
        };
        match (next, end) {
            (Some(n), false) => Some(Transition::Next(n)),
            (None, true) => Some(Transition::End),
            (Some(_), true) => {
                self.err(
                    at.to_string(),
                    "INVALID_VALUE",
                    "a state cannot have both `Next` and `End: true`",
                );
                None
            }
            (None, false) => {
                if !obj.contains_key("Next") {
                    self.err(
                        at.to_string(),
                        "MISSING_TRANSITION",
                        format!("a {type_name} state needs `Next` or `End: true`"),
                    );
                }
                None
            }
        }
    }
}

#[path = "parse_states.rs"]
mod states;

#[path = "parse_choice.rs"]
mod choices;

#[path = "parse_graph.rs"]
mod graph_checks;
