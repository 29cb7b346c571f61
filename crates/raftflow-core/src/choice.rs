//! Choice rules: comparison operators, `And`/`Or`/`Not`, and their evaluation.

use serde_json::Value;

use crate::path::Path;
use crate::time::parse_timestamp;

#[derive(Debug, Clone, PartialEq)]
pub enum ChoiceRule {
    And(Vec<ChoiceRule>),
    Or(Vec<ChoiceRule>),
    Not(Box<ChoiceRule>),
    Compare {
        variable: Path,
        op: Op,
        operand: Operand,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Value(Value),
    Path(Path),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Compare(Kind, Cmp),
    StringMatches,
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

/// Maps an ASL operator name (without a `Path` suffix) to its meaning.
pub fn operator(name: &str) -> Option<Op> {
    let kinds = [
        ("String", Kind::String),
        ("Numeric", Kind::Numeric),
        ("Boolean", Kind::Boolean),
        ("Timestamp", Kind::Timestamp),
    ];
    let cmps = [
        ("Equals", Cmp::Eq),
        ("LessThan", Cmp::Lt),
        ("GreaterThan", Cmp::Gt),
        ("LessThanEquals", Cmp::Le),
        ("GreaterThanEquals", Cmp::Ge),
    ];
    Some(match name {
        "StringMatches" => Op::StringMatches,
        "IsNull" => Op::IsNull,
        "IsPresent" => Op::IsPresent,
        "IsNumeric" => Op::IsNumeric,
        "IsString" => Op::IsString,
        "IsBoolean" => Op::IsBoolean,
        "IsTimestamp" => Op::IsTimestamp,
        _ => {
            for (prefix, kind) in kinds {
                if let Some(rest) = name.strip_prefix(prefix) {
                    if kind == Kind::Boolean && rest != "Equals" {
                        return None;
                    }
                    return cmps
                        .iter()
                        .find(|(n, _)| *n == rest)
                        .map(|(_, c)| Op::Compare(kind, *c));
                }
            }
            return None;
        }
    })
}

/// Evaluates `rule` against the state's input and the context object.
/// A comparison whose variable is absent or of another type is false.
pub fn evaluate(rule: &ChoiceRule, input: &Value, context: &Value) -> bool {
    match rule {
        ChoiceRule::And(rules) => rules.iter().all(|r| evaluate(r, input, context)),
        ChoiceRule::Or(rules) => rules.iter().any(|r| evaluate(r, input, context)),
        ChoiceRule::Not(rule) => !evaluate(rule, input, context),
        ChoiceRule::Compare {
            variable,
            op,
            operand,
        } => {
            let select = |p: &Path| p.select(if p.context { context } else { input });
            let value = select(variable);
            let expected = match operand {
                Operand::Value(v) => Some(v.clone()),
                Operand::Path(p) => select(p),
            };
            compare(value.as_ref(), *op, expected.as_ref())
        }
    }
}

fn compare(value: Option<&Value>, op: Op, expected: Option<&Value>) -> bool {
    let truth = |v: Option<&Value>| v.and_then(Value::as_bool);
    match op {
        Op::IsPresent => value.is_some() == truth(expected).unwrap_or(true),
        Op::IsNull => value.is_some_and(Value::is_null) == truth(expected).unwrap_or(true),
        Op::IsNumeric => value.is_some_and(Value::is_number) == truth(expected).unwrap_or(true),
        Op::IsString => value.is_some_and(Value::is_string) == truth(expected).unwrap_or(true),
        Op::IsBoolean => value.is_some_and(Value::is_boolean) == truth(expected).unwrap_or(true),
        Op::IsTimestamp => {
            let is_ts = value
                .and_then(Value::as_str)
                .is_some_and(|s| parse_timestamp(s).is_some());
            is_ts == truth(expected).unwrap_or(true)
        }
        Op::StringMatches => match (
            value.and_then(Value::as_str),
            expected.and_then(Value::as_str),
        ) {
            (Some(s), Some(pattern)) => wildcard_match(pattern, s),
            _ => false,
        },
        Op::Compare(kind, cmp) => {
            let (Some(a), Some(b)) = (value, expected) else {
                return false;
            };
            let ordering = match kind {
                Kind::String => a.as_str().zip(b.as_str()).map(|(a, b)| a.cmp(b)),
                Kind::Numeric => a
                    .as_f64()
                    .zip(b.as_f64())
                    .and_then(|(a, b)| a.partial_cmp(&b)),
                Kind::Boolean => a.as_bool().zip(b.as_bool()).map(|(a, b)| a.cmp(&b)),
                Kind::Timestamp => a
                    .as_str()
                    .and_then(parse_timestamp)
                    .zip(b.as_str().and_then(parse_timestamp))
                    .map(|(a, b)| a.cmp(&b)),
            };
            let Some(ordering) = ordering else {
                return false;
            };
            match cmp {
                Cmp::Eq => ordering.is_eq(),
                Cmp::Lt => ordering.is_lt(),
                Cmp::Gt => ordering.is_gt(),
                Cmp::Le => ordering.is_le(),
                Cmp::Ge => ordering.is_ge(),
            }
        }
    }
}

/// `*` matches any run of characters; `\*` and `\\` are literal.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    #[derive(PartialEq)]
    enum Tok {
        Any,
        Char(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => toks.push(Tok::Char(chars.next().unwrap_or('\\'))),
            '*' => toks.push(Tok::Any),
            c => toks.push(Tok::Char(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Classic two-pointer glob match with backtracking to the last `*`.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(Tok::Any) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|t| *t == Tok::Any)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cmp(var: &str, op: &str, operand: Value) -> ChoiceRule {
        ChoiceRule::Compare {
            variable: Path::parse(var).unwrap(),
            op: operator(op).unwrap(),
            operand: Operand::Value(operand),
        }
    }

    #[test]
    fn comparisons() {
        let input =
            json!({"n": 5, "s": "abc", "b": true, "t": "2024-01-02T03:04:05Z", "nil": null});
        let ctx = json!({});
        let cases = [
            (cmp("$.n", "NumericEquals", json!(5)), true),
            (cmp("$.n", "NumericLessThan", json!(5)), false),
            (cmp("$.n", "NumericGreaterThanEquals", json!(5.0)), true),
            (cmp("$.s", "StringEquals", json!("abc")), true),
            (cmp("$.s", "StringLessThan", json!("abd")), true),
            (cmp("$.s", "StringMatches", json!("a*c")), true),
            (cmp("$.s", "StringMatches", json!("a\\*c")), false),
            (cmp("$.b", "BooleanEquals", json!(true)), true),
            (
                cmp(
                    "$.t",
                    "TimestampLessThan",
                    json!("2024-01-02T03:04:06+00:00"),
                ),
                true,
            ),
            (cmp("$.nil", "IsNull", json!(true)), true),
            (cmp("$.missing", "IsPresent", json!(false)), true),
            (cmp("$.n", "StringEquals", json!("5")), false),
            (cmp("$.missing", "NumericEquals", json!(1)), false),
            (cmp("$.t", "IsTimestamp", json!(true)), true),
        ];
        for (rule, expected) in cases {
            assert_eq!(evaluate(&rule, &input, &ctx), expected, "{rule:?}");
        }
        let not = ChoiceRule::Not(Box::new(cmp("$.n", "NumericEquals", json!(5))));
        assert!(!evaluate(&not, &input, &ctx));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.log", "a.log"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b", "ac"));
        assert!(wildcard_match("*", ""));
    }
}
