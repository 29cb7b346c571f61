//! Per-state-type parsing: the fields each state type carries.

use serde_json::{Map, Value};

use super::{loc, Parser};
use crate::definition::*;

const ERROR_NAMES: &[&str] = &[
    "States.ALL",
    "States.TaskFailed",
    "States.Timeout",
    "States.HeartbeatTimeout",
    "States.Runtime",
    "States.DataLimitExceeded",
    "States.BranchFailed",
    "States.NoChoiceMatched",
    "States.ParameterPathFailure",
    "States.ResultPathMatchFailure",
    "States.IntrinsicFailure",
    "States.ExceedToleratedFailureThreshold",
    "States.ItemReaderFailed",
    "States.ResultWriterFailed",
    "States.Permissions",
    "States.QueryEvaluationError",
];

impl Parser {
    pub(super) fn kind(
        &mut self,
        type_name: &str,
        obj: &Map<String, Value>,
        at: &str,
    ) -> Option<StateKind> {
        Some(match type_name {
            "Pass" => StateKind::Pass {
                parameters: obj
                    .get("Parameters")
                    .map(|v| self.template(v, &loc(at, "Parameters"))),
                result: obj.get("Result").cloned(),
                result_path: self.result_path(obj, "ResultPath", at),
            },
            "Task" => {
                let resource = self.string(obj, "Resource", at);
                if !obj.contains_key("Resource") {
                    self.err(
                        loc(at, "Resource"),
                        "MISSING_FIELD",
                        "a Task state needs `Resource`",
                    );
                }
                let activity = self.activity(&resource?, &loc(at, "Resource"))?;
                StateKind::Task {
                    activity,
                    handling: self.handling(obj, at),
                    timeout: self.seconds(obj, "TimeoutSeconds", at),
                    heartbeat: self.seconds(obj, "HeartbeatSeconds", at),
                }
            }
            "Choice" => self.choice(obj, at)?,
            "Wait" => StateKind::Wait {
                wait: self.wait(obj, at)?,
            },
            "Succeed" => StateKind::Succeed,
            "Fail" => StateKind::Fail {
                error: self.text(obj, "Error", at),
                cause: self.text(obj, "Cause", at),
            },
            "Parallel" => {
                let branches_loc = loc(at, "Branches");
                let mut branches = Vec::new();
                match obj.get("Branches") {
                    Some(Value::Array(items)) if !items.is_empty() => {
                        for (i, b) in items.iter().enumerate() {
                            branches.extend(self.machine(b, &format!("{branches_loc}/{i}")));
                        }
                    }
                    _ => self.err(
                        branches_loc,
                        "MISSING_FIELD",
                        "a Parallel state needs a non-empty `Branches` array",
                    ),
                }
                StateKind::Parallel {
                    branches,
                    handling: self.handling(obj, at),
                }
            }
            "Map" => self.map(obj, at)?,
            _ => unreachable!("type names were checked by `allowed`"),
        })
    }

    /// `arn:aws:states:<region>:<account>:activity:<name>` or `activity:<name>`,
    /// either with an optional `.waitForTaskToken` suffix.
    fn activity(&mut self, resource: &str, at: &str) -> Option<Activity> {
        let (base, wait_for_token) = match resource.strip_suffix(".waitForTaskToken") {
            Some(b) => (b, true),
            None => (resource, false),
        };
        if base == crate::http_task::RESOURCE
            && self.apply_version >= crate::http_task::HTTP_TASKS_FROM
        {
            if let Some(refused) =
                crate::http_task::callback_refused(wait_for_token, self.apply_version)
            {
                self.err(at.to_string(), "INVALID_RESOURCE", refused);
                return None;
            }
            return Some(Activity {
                name: crate::http_task::ACTIVITY.to_string(),
                wait_for_token,
                resource: resource.to_string(),
            });
        }
        let name = if let Some(rest) = base.strip_prefix("arn:aws:states:") {
            let parts: Vec<&str> = rest.split(':').collect();
            match parts.as_slice() {
                [_region, _account, "activity", name] => Some(*name),
                _ => None,
            }
        } else {
            base.strip_prefix("activity:")
        };
        match name {
            Some(n)
                if !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
            {
                Some(Activity {
                    name: n.to_string(),
                    wait_for_token,
                    resource: resource.to_string(),
                })
            }
            _ => {
                self.err(at.to_string(), "INVALID_RESOURCE", format!(
                    "`{resource}` is not an activity; use `activity:<name>` or `arn:aws:states:<region>:<account>:activity:<name>` (AWS service integrations are not available)"
                ));
                None
            }
        }
    }

    pub(super) fn seconds(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        at: &str,
    ) -> Option<Seconds> {
        let path_field = format!("{field}Path");
        match (obj.contains_key(field), obj.contains_key(&path_field)) {
            (true, true) => {
                self.err(
                    at.to_string(),
                    "INVALID_VALUE",
                    format!("use either `{field}` or `{path_field}`, not both"),
                );
                None
            }
            (true, false) => {
                let n = self.uint(obj, field, at)?;
                if n == 0 {
                    self.err(
                        loc(at, field),
                        "INVALID_VALUE",
                        format!("`{field}` must be positive"),
                    );
                }
                Some(Seconds::Fixed(n))
            }
            (false, true) => self.path(obj, &path_field, at, true).map(Seconds::Path),
            (false, false) => None,
        }
    }

    /// `Field` (a number from 0 to `max`) or `FieldPath` (checked when it runs).
    fn amount(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        at: &str,
        max: f64,
    ) -> Option<Amount> {
        let path_field = format!("{field}Path");
        if obj.contains_key(field) && obj.contains_key(&path_field) {
            self.err(
                at.to_string(),
                "INVALID_VALUE",
                format!("use either `{field}` or `{path_field}`, not both"),
            );
            return None;
        }
        if obj.contains_key(&path_field) {
            return self.path(obj, &path_field, at, true).map(Amount::Path);
        }
        let v = obj.get(field)?;
        match v.as_f64() {
            Some(n) if (0.0..=max).contains(&n) => Some(Amount::Fixed(n)),
            _ => {
                self.err(
                    loc(at, field),
                    "INVALID_VALUE",
                    format!("`{field}` must be a number from 0 to {max}, not {v}"),
                );
                None
            }
        }
    }

    fn text(&mut self, obj: &Map<String, Value>, field: &str, at: &str) -> Option<Text> {
        let path_field = format!("{field}Path");
        if let Some(raw) = self.string(obj, &path_field, at) {
            if obj.contains_key(field) {
                self.err(
                    at.to_string(),
                    "INVALID_VALUE",
                    format!("use either `{field}` or `{path_field}`, not both"),
                );
            }
            return self.dynamic(&raw, &loc(at, &path_field)).map(|t| match t {
                Template::Intrinsic(c) => Text::Intrinsic(c),
                Template::Path(p) => Text::Path(p),
                _ => unreachable!("dynamic yields a path or a call"),
            });
        }
        self.string(obj, field, at).map(Text::Fixed)
    }

    pub(super) fn handling(&mut self, obj: &Map<String, Value>, at: &str) -> Handling {
        Handling {
            parameters: obj
                .get("Parameters")
                .map(|v| self.template(v, &loc(at, "Parameters"))),
            result_selector: obj
                .get("ResultSelector")
                .map(|v| self.template(v, &loc(at, "ResultSelector"))),
            result_path: self.result_path(obj, "ResultPath", at),
            retry: self.list(obj, "Retry", at, Self::retrier),
            catch: self.list(obj, "Catch", at, Self::catcher),
        }
    }

    fn list<T>(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        at: &str,
        f: fn(&mut Self, &Map<String, Value>, &str) -> Option<T>,
    ) -> Vec<T> {
        let here = loc(at, field);
        match obj.get(field) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let item_loc = format!("{here}/{i}");
                    let o = self.object(item, &item_loc, "each entry")?;
                    f(self, o, &item_loc)
                })
                .collect(),
            Some(_) => {
                self.err(here, "WRONG_TYPE", format!("`{field}` must be an array"));
                Vec::new()
            }
        }
    }

    fn error_equals(&mut self, obj: &Map<String, Value>, at: &str) -> Vec<String> {
        let here = loc(at, "ErrorEquals");
        let names: Vec<String> = match obj.get("ErrorEquals") {
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => {
                self.err(
                    here,
                    "MISSING_FIELD",
                    "`ErrorEquals` must be a non-empty array of error names",
                );
                return Vec::new();
            }
        };
        for (i, n) in names.iter().enumerate() {
            let http = self.apply_version >= crate::http_task::HTTP_TASKS_FROM
                && crate::http_task::is_error_name(n);
            if n.starts_with("States.") && !ERROR_NAMES.contains(&n.as_str()) && !http {
                self.err(
                    format!("{here}/{i}"),
                    "INVALID_VALUE",
                    format!("`{n}` is not a predefined error"),
                );
            }
            if n == "States.ALL" && names.len() > 1 {
                self.err(
                    format!("{here}/{i}"),
                    "INVALID_VALUE",
                    "`States.ALL` must appear alone",
                );
            }
        }
        names
    }

    fn retrier(&mut self, obj: &Map<String, Value>, at: &str) -> Option<Retrier> {
        for key in obj.keys() {
            if ![
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            ]
            .contains(&key.as_str())
            {
                self.err(
                    loc(at, key),
                    "UNKNOWN_FIELD",
                    format!("unknown field `{key}` in a retrier"),
                );
            }
        }
        let error_equals = self.error_equals(obj, at);
        let interval_seconds = self.uint(obj, "IntervalSeconds", at).unwrap_or(1);
        let max_attempts = self.uint(obj, "MaxAttempts", at).unwrap_or(3);
        let backoff_rate = match obj.get("BackoffRate") {
            None => 2.0,
            Some(v) => match v.as_f64() {
                Some(r) if r >= 1.0 => r,
                _ => {
                    self.err(
                        loc(at, "BackoffRate"),
                        "INVALID_VALUE",
                        "`BackoffRate` must be a number of at least 1.0",
                    );
                    2.0
                }
            },
        };
        let full_jitter = match self.string(obj, "JitterStrategy", at).as_deref() {
            None | Some("NONE") => false,
            Some("FULL") => true,
            Some(other) => {
                self.err(
                    loc(at, "JitterStrategy"),
                    "INVALID_VALUE",
                    format!("`JitterStrategy` must be FULL or NONE, not `{other}`"),
                );
                false
            }
        };
        Some(Retrier {
            error_equals,
            interval_seconds: interval_seconds.max(1),
            max_attempts: max_attempts.min(99_999_999) as u32,
            backoff_rate,
            max_delay_seconds: self.uint(obj, "MaxDelaySeconds", at),
            full_jitter,
        })
    }

    fn catcher(&mut self, obj: &Map<String, Value>, at: &str) -> Option<Catcher> {
        for key in obj.keys() {
            if !["ErrorEquals", "Next", "ResultPath", "Comment"].contains(&key.as_str()) {
                self.err(
                    loc(at, key),
                    "UNKNOWN_FIELD",
                    format!("unknown field `{key}` in a catcher"),
                );
            }
        }
        let error_equals = self.error_equals(obj, at);
        let next = self.string(obj, "Next", at);
        if next.is_none() {
            self.err(loc(at, "Next"), "MISSING_FIELD", "a catcher needs `Next`");
        }
        let result_path = self
            .result_path(obj, "ResultPath", at)
            .unwrap_or(ResultPath::At(
                crate::path::Path::parse("$").expect("`$` parses"),
            ));
        Some(Catcher {
            error_equals,
            next: next?,
            result_path,
        })
    }

    fn wait(&mut self, obj: &Map<String, Value>, at: &str) -> Option<WaitFor> {
        let present: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
            .into_iter()
            .filter(|k| obj.contains_key(*k))
            .collect();
        if present.len() != 1 {
            self.err(
                at.to_string(),
                "INVALID_VALUE",
                "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath",
            );
            return None;
        }
        Some(match present[0] {
            "Seconds" => WaitFor::Seconds(self.uint(obj, "Seconds", at)?),
            "SecondsPath" => WaitFor::SecondsPath(self.path(obj, "SecondsPath", at, true)?),
            "Timestamp" => {
                let ts = self.string(obj, "Timestamp", at)?;
                if crate::time::parse_timestamp(&ts).is_none() {
                    self.err(
                        loc(at, "Timestamp"),
                        "INVALID_VALUE",
                        format!("`{ts}` is not an RFC 3339 timestamp"),
                    );
                }
                WaitFor::Timestamp(ts)
            }
            _ => WaitFor::TimestampPath(self.path(obj, "TimestampPath", at, true)?),
        })
    }

    fn map(&mut self, obj: &Map<String, Value>, at: &str) -> Option<StateKind> {
        for unsupported in ["ItemReader", "ResultWriter", "ItemBatcher"] {
            if obj.contains_key(unsupported) {
                self.err(
                    loc(at, unsupported),
                    "NOT_SUPPORTED",
                    format!(
                        "`{unsupported}` (distributed Map) is not supported; use an inline Map"
                    ),
                );
            }
        }
        let (field, processor) = match (obj.get("ItemProcessor"), obj.get("Iterator")) {
            (Some(p), None) => ("ItemProcessor", p),
            (None, Some(p)) => ("Iterator", p),
            _ => {
                self.err(
                    at.to_string(),
                    "MISSING_FIELD",
                    "a Map state needs exactly one of `ItemProcessor` or `Iterator`",
                );
                return None;
            }
        };
        let mut processor_value = processor.clone();
        if let Some(o) = processor_value.as_object_mut() {
            // DISTRIBUTED mode without an ItemReader or ResultWriter runs the
            // same iterations; raftflow runs them inline (see docs/asl.md).
            if let Some(cfg) = o.remove("ProcessorConfig") {
                if let Some(mode) = cfg
                    .get("Mode")
                    .and_then(Value::as_str)
                    .filter(|m| !matches!(*m, "INLINE" | "DISTRIBUTED"))
                {
                    self.err(
                        loc(&loc(at, field), "ProcessorConfig"),
                        "INVALID_VALUE",
                        format!("unknown Map processing mode `{mode}`"),
                    );
                }
            }
        }
        let processor = self.machine(&processor_value, &loc(at, field))?;
        if obj.contains_key("Parameters") && obj.contains_key("ItemSelector") {
            self.err(
                at.to_string(),
                "INVALID_VALUE",
                "use either `ItemSelector` or `Parameters`, not both",
            );
        }
        let item_selector = obj
            .get("ItemSelector")
            .map(|v| self.template(v, &loc(at, "ItemSelector")))
            .or_else(|| {
                obj.get("Parameters")
                    .map(|v| self.template(v, &loc(at, "Parameters")))
            });
        let mut handling = self.handling(obj, at);
        handling.parameters = None;
        Some(StateKind::Map {
            processor: Box::new(processor),
            handling,
            items_path: match obj.get("ItemsPath") {
                Some(_) => Some(self.path(obj, "ItemsPath", at, true)?),
                None => None,
            },
            item_selector,
            max_concurrency: self.amount(obj, "MaxConcurrency", at, f64::MAX),
            tolerated_failure_percentage: self.amount(obj, "ToleratedFailurePercentage", at, 100.0),
            tolerated_failure_count: self.amount(obj, "ToleratedFailureCount", at, f64::MAX),
        })
    }
}
