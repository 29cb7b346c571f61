//! Choice states: rules, operators and their operands.

use serde_json::{Map, Value};

use super::{loc, Parser};
use crate::choice::{operator, ChoiceRule, Operand};
use crate::definition::*;

impl Parser {
    pub(super) fn choice(&mut self, obj: &Map<String, Value>, at: &str) -> Option<StateKind> {
        let here = loc(at, "Choices");
        let mut choices = Vec::new();
        match obj.get("Choices") {
            Some(Value::Array(items)) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    let item_loc = format!("{here}/{i}");
                    let Some(o) = self.object(item, &item_loc, "a choice rule") else {
                        continue;
                    };
                    let next = self.string(o, "Next", &item_loc);
                    if next.is_none() {
                        self.err(
                            loc(&item_loc, "Next"),
                            "MISSING_FIELD",
                            "a top-level choice rule needs `Next`",
                        );
                    }
                    if let (Some(rule), Some(next)) = (self.rule(o, &item_loc, true), next) {
                        choices.push((rule, next));
                    }
                }
            }
            _ => self.err(
                here,
                "MISSING_FIELD",
                "a Choice state needs a non-empty `Choices` array",
            ),
        }
        Some(StateKind::Choice {
            choices,
            default: self.string(obj, "Default", at),
        })
    }

    fn rule(&mut self, obj: &Map<String, Value>, at: &str, top: bool) -> Option<ChoiceRule> {
        let allowed_extra = if top {
            &["Next", "Comment"][..]
        } else {
            &["Comment"][..]
        };
        for combinator in ["And", "Or"] {
            if let Some(v) = obj.get(combinator) {
                let here = loc(at, combinator);
                let Some(items) = v.as_array().filter(|a| !a.is_empty()) else {
                    self.err(
                        here,
                        "WRONG_TYPE",
                        format!("`{combinator}` must be a non-empty array of rules"),
                    );
                    return None;
                };
                let mut rules = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let item_loc = format!("{here}/{i}");
                    let o = self.object(item, &item_loc, "a choice rule")?;
                    rules.push(self.rule(o, &item_loc, false)?);
                }
                return Some(if combinator == "And" {
                    ChoiceRule::And(rules)
                } else {
                    ChoiceRule::Or(rules)
                });
            }
        }
        if let Some(v) = obj.get("Not") {
            let here = loc(at, "Not");
            let o = self.object(v, &here, "`Not`")?;
            return Some(ChoiceRule::Not(Box::new(self.rule(o, &here, false)?)));
        }
        let variable = match obj.get("Variable") {
            Some(_) => self.path(obj, "Variable", at, false)?,
            None => {
                self.err(
                    loc(at, "Variable"),
                    "MISSING_FIELD",
                    "a comparison needs `Variable` (or use And, Or, Not)",
                );
                return None;
            }
        };
        let ops: Vec<&String> = obj
            .keys()
            .filter(|k| k.as_str() != "Variable" && !allowed_extra.contains(&k.as_str()))
            .collect();
        if ops.len() != 1 {
            self.err(
                at.to_string(),
                "INVALID_VALUE",
                format!(
                    "a comparison needs exactly one operator, found {}",
                    ops.len()
                ),
            );
            return None;
        }
        let key = ops[0];
        let (name, is_path) = match key.strip_suffix("Path") {
            Some(n) if !matches!(key.as_str(), "IsPresentPath") => (n, true),
            _ => (key.as_str(), false),
        };
        let Some(op) = operator(name) else {
            self.err(
                loc(at, key),
                "UNKNOWN_FIELD",
                format!("unknown comparison operator `{key}`"),
            );
            return None;
        };
        let operand = if is_path {
            Operand::Path(self.path(obj, key, at, false)?)
        } else {
            let v = obj[key].clone();
            if let Err(message) = check_operand(op, &v) {
                self.err(loc(at, key), "WRONG_TYPE", format!("`{key}` {message}"));
                return None;
            }
            Operand::Value(v)
        };
        Some(ChoiceRule::Compare {
            variable,
            op,
            operand,
        })
    }
}

fn check_operand(op: crate::choice::Op, v: &Value) -> Result<(), &'static str> {
    use crate::choice::{Kind, Op};
    let ok = match op {
        Op::Compare(Kind::String, _) | Op::StringMatches => v.is_string(),
        Op::Compare(Kind::Numeric, _) => v.is_number(),
        Op::Compare(Kind::Boolean, _) => v.is_boolean(),
        Op::Compare(Kind::Timestamp, _) => {
            v.as_str().and_then(crate::time::parse_timestamp).is_some()
        }
        _ => v.is_boolean(),
    };
    if ok {
        Ok(())
    } else {
        Err("has an operand of the wrong type")
    }
}
