//! Evaluating templates, paths and intrinsic functions against data.
//!
//! Randomness (`States.UUID`, `States.MathRandom`) comes from the caller's
//! `Random`, seeded by a value written in the log, never from the OS.

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::definition::Template;
use crate::intrinsic::{Arg, Call};
use crate::path::{type_name, Path};

/// A failure with a Step Functions error name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    pub error: String,
    pub cause: String,
}

impl Failure {
    pub fn new(error: &str, cause: impl Into<String>) -> Self {
        Self {
            error: error.to_string(),
            cause: cause.into(),
        }
    }
}

/// A small deterministic generator (SplitMix64), seeded from the log.
#[derive(Debug, Clone)]
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        let a = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
        let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        )
    }
}

/// What paths read: the state's data (`$`) and the context object (`$$`).
pub struct Scope<'a> {
    pub data: &'a Value,
    pub context: &'a Value,
    /// Numbers that `States.StringToJson` reads are kept as written (apply
    /// version 6 on; numbers.rs), else read as the older releases did.
    pub exact_numbers: bool,
}

impl Scope<'_> {
    pub fn read(&self, path: &Path) -> Option<Value> {
        path.select(if path.context {
            self.context
        } else {
            self.data
        })
    }
}

pub fn render(template: &Template, scope: &Scope, rng: &mut Random) -> Result<Value, Failure> {
    Ok(match template {
        Template::Literal(v) => v.clone(),
        Template::Path(p) => scope.read(p).ok_or_else(|| {
            Failure::new(
                "States.ParameterPathFailure",
                format!(
                    "The JSONPath '{}' could not be found in the input '{}'",
                    p.raw, scope.data
                ),
            )
        })?,
        Template::Intrinsic(call) => call_intrinsic(call, scope, rng)?,
        Template::Object(fields) => {
            let mut map = Map::new();
            for (k, t) in fields {
                map.insert(k.clone(), render(t, scope, rng)?);
            }
            Value::Object(map)
        }
        Template::Array(items) => Value::Array(
            items
                .iter()
                .map(|t| render(t, scope, rng))
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn intrinsic_failure(call: &Call, message: impl std::fmt::Display) -> Failure {
    Failure::new(
        "States.IntrinsicFailure",
        format!("{}: {message}", call.name),
    )
}

fn arg_value(arg: &Arg, scope: &Scope, rng: &mut Random, call: &Call) -> Result<Value, Failure> {
    Ok(match arg {
        Arg::Str(s) => Value::String(s.clone()),
        Arg::Number(n) => Value::Number(n.clone()),
        Arg::Bool(b) => Value::Bool(*b),
        Arg::Null => Value::Null,
        Arg::Path(p) => scope.read(p).ok_or_else(|| {
            intrinsic_failure(call, format!("the path {} matched nothing", p.raw))
        })?,
        Arg::Call(inner) => call_intrinsic(inner, scope, rng)?,
    })
}

pub fn call_intrinsic(call: &Call, scope: &Scope, rng: &mut Random) -> Result<Value, Failure> {
    let args: Vec<Value> = call
        .args
        .iter()
        .map(|a| arg_value(a, scope, rng, call))
        .collect::<Result<_, _>>()?;
    let fail = |m: &str| intrinsic_failure(call, m);
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(fail(&format!("takes {n} arguments, got {}", args.len())))
        }
    };
    let string = |v: &Value| {
        v.as_str()
            .map(String::from)
            .ok_or_else(|| fail(&format!("expected a string, got {}", type_name(v))))
    };
    let integer = |v: &Value| {
        v.as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| fail(&format!("expected an integer, got {v}")))
    };
    // MathAdd rounds its operands half up (-1.5 → -1), as Step Functions does.
    let rounded = |v: &Value| {
        v.as_i64()
            .or_else(|| v.as_f64().map(|f| (f + 0.5).floor() as i64))
            .ok_or_else(|| fail(&format!("expected a number, got {v}")))
    };
    let array = |v: &Value| {
        v.as_array()
            .cloned()
            .ok_or_else(|| fail(&format!("expected an array, got {}", type_name(v))))
    };
    Ok(match call.name.as_str() {
        "States.Format" => {
            let template = string(args.first().ok_or_else(|| fail("needs a format string"))?)?;
            let mut out = String::new();
            let mut rest = args[1..].iter();
            let mut chars = template.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next()),
                    '{' if chars.peek() == Some(&'}') => {
                        chars.next();
                        let v = rest.next().ok_or_else(|| fail("more {} than arguments"))?;
                        format_arg(v, &mut out);
                    }
                    c => out.push(c),
                }
            }
            if rest.next().is_some() {
                return Err(fail("more arguments than {}"));
            }
            Value::String(out)
        }
        "States.StringToJson" => {
            arity(1)?;
            let text = string(&args[0])?;
            if text.trim().is_empty() {
                Value::Null
            } else {
                let parsed = match scope.exact_numbers {
                    true => serde_json::from_str(&text).map_err(|e| e.to_string()),
                    false => crate::numbers::from_str_legacy(&text),
                };
                parsed.map_err(|e| fail(&e))?
            }
        }
        "States.JsonToString" => {
            arity(1)?;
            Value::String(args[0].to_string())
        }
        "States.Array" => Value::Array(args),
        "States.ArrayPartition" => {
            arity(2)?;
            let (items, size) = (array(&args[0])?, integer(&args[1])?);
            if size <= 0 {
                return Err(fail("the chunk size must be positive"));
            }
            Value::Array(
                items
                    .chunks(size as usize)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            )
        }
        "States.ArrayContains" => {
            arity(2)?;
            Value::Bool(array(&args[0])?.contains(&args[1]))
        }
        "States.ArrayRange" => {
            arity(3)?;
            let (start, end, step) = (integer(&args[0])?, integer(&args[1])?, integer(&args[2])?);
            if step == 0 {
                return Err(fail("the step must not be 0"));
            }
            let mut out = Vec::new();
            let mut i = start;
            while (step > 0 && i <= end) || (step < 0 && i >= end) {
                out.push(json!(i));
                if out.len() > 1000 {
                    return Err(fail("the range holds more than 1000 items"));
                }
                i += step;
            }
            Value::Array(out)
        }
        "States.ArrayGetItem" => {
            arity(2)?;
            let (items, index) = (array(&args[0])?, integer(&args[1])?);
            items
                .get(usize::try_from(index).map_err(|_| fail("negative index"))?)
                .cloned()
                .ok_or_else(|| fail("index out of bounds"))?
        }
        "States.ArrayLength" => {
            arity(1)?;
            json!(array(&args[0])?.len())
        }
        "States.ArrayUnique" => {
            arity(1)?;
            let mut out: Vec<Value> = Vec::new();
            for v in array(&args[0])? {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Value::Array(out)
        }
        "States.Base64Encode" => {
            arity(1)?;
            Value::String(base64::engine::general_purpose::STANDARD.encode(string(&args[0])?))
        }
        "States.Base64Decode" => {
            arity(1)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(string(&args[0])?)
                .map_err(|e| fail(&e.to_string()))?;
            Value::String(
                String::from_utf8(bytes).map_err(|_| fail("the decoded bytes are not UTF-8"))?,
            )
        }
        "States.Hash" => {
            arity(2)?;
            let data = match &args[0] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Value::String(hash(&string(&args[1])?, data.as_bytes()).ok_or_else(|| {
                fail("the algorithm must be MD5, SHA-1, SHA-256, SHA-384 or SHA-512")
            })?)
        }
        "States.JsonMerge" => {
            arity(3)?;
            if args[2] != Value::Bool(false) {
                return Err(fail(
                    "only shallow merges (false) are supported, as in Step Functions",
                ));
            }
            let (Value::Object(mut a), Value::Object(b)) = (args[0].clone(), args[1].clone())
            else {
                return Err(fail("both arguments must be objects"));
            };
            a.extend(b);
            Value::Object(a)
        }
        "States.MathRandom" => {
            if !(2..=3).contains(&args.len()) {
                return Err(fail("takes a start, an end and an optional seed"));
            }
            let (start, end) = (integer(&args[0])?, integer(&args[1])?);
            if end <= start {
                return Err(fail("the end must exceed the start"));
            }
            let mut local;
            let source = if let Some(seed) = args.get(2) {
                local = Random::new(integer(seed)? as u64);
                &mut local
            } else {
                rng
            };
            json!(start + (source.next_u64() % (end - start) as u64) as i64)
        }
        "States.MathAdd" => {
            arity(2)?;
            json!(rounded(&args[0])?
                .checked_add(rounded(&args[1])?)
                .ok_or_else(|| fail("overflow"))?)
        }
        "States.StringSplit" => {
            arity(2)?;
            let (s, delimiters) = (string(&args[0])?, string(&args[1])?);
            Value::Array(
                s.split(|c| delimiters.contains(c))
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            )
        }
        "States.UUID" => {
            arity(0)?;
            Value::String(rng.uuid())
        }
        other => return Err(fail(&format!("unknown function {other}"))),
    })
}

/// How `States.Format` prints an argument: strings bare, objects and arrays
/// in Step Functions' own `{key=value, …}` / `[a, b]` notation.
fn format_arg(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                format_arg(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                format_arg(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn hash(algorithm: &str, data: &[u8]) -> Option<String> {
    use sha2::Digest;
    let bytes: Vec<u8> = match algorithm {
        "MD5" => md5::Md5::digest(data).to_vec(),
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    };
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intrinsic::parse;

    fn eval(text: &str, data: Value) -> Result<Value, Failure> {
        let ctx = json!({});
        call_intrinsic(
            &parse(text).unwrap(),
            &Scope {
                data: &data,
                context: &ctx,
                exact_numbers: true,
            },
            &mut Random::new(7),
        )
    }

    #[test]
    fn intrinsics() {
        assert_eq!(
            eval(
                "States.Format('Hello, {}! {}', $.n, 3)",
                json!({"n": "Ann"})
            )
            .unwrap(),
            json!("Hello, Ann! 3")
        );
        assert_eq!(
            eval(
                "States.ArrayPartition(States.Array(1,2,3,4,5), 2)",
                json!({})
            )
            .unwrap(),
            json!([[1, 2], [3, 4], [5]])
        );
        assert_eq!(
            eval("States.ArrayRange(1, 9, 2)", json!({})).unwrap(),
            json!([1, 3, 5, 7, 9])
        );
        assert_eq!(
            eval("States.ArrayUnique(States.Array(1,1,2))", json!({})).unwrap(),
            json!([1, 2])
        );
        assert_eq!(
            eval("States.Base64Decode(States.Base64Encode('hi'))", json!({})).unwrap(),
            json!("hi")
        );
        assert_eq!(
            eval("States.Hash('input', 'SHA-1')", json!({})).unwrap(),
            json!("140f86aae51ab9e1cda9b4254fe98a74eb54c1a1")
        );
        assert_eq!(
            eval(
                "States.JsonMerge($.a, $.b, false)",
                json!({"a": {"x": 1}, "b": {"y": 2}})
            )
            .unwrap(),
            json!({"x": 1, "y": 2})
        );
        assert_eq!(eval("States.MathAdd(3, -1)", json!({})).unwrap(), json!(2));
        assert_eq!(
            eval("States.StringSplit('a,b,,c', ',')", json!({})).unwrap(),
            json!(["a", "b", "c"])
        );
        assert_eq!(
            eval("States.StringToJson('{\"a\":1}')", json!({})).unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            eval("States.JsonToString($.a)", json!({"a": {"b": 1}})).unwrap(),
            json!("{\"b\":1}")
        );
        assert_eq!(
            eval("States.ArrayLength($.a)", json!({"a": [1, 2]})).unwrap(),
            json!(2)
        );
        assert_eq!(
            eval("States.ArrayContains($.a, 2)", json!({"a": [1, 2]})).unwrap(),
            json!(true)
        );
        assert_eq!(
            eval("States.ArrayGetItem($.a, 1)", json!({"a": [1, 2]})).unwrap(),
            json!(2)
        );
    }

    #[test]
    fn randomness_is_seeded() {
        let a = eval("States.UUID()", json!({})).unwrap();
        assert_eq!(
            a,
            eval("States.UUID()", json!({})).unwrap(),
            "same seed, same UUID"
        );
        let n = eval("States.MathRandom(1, 10)", json!({}))
            .unwrap()
            .as_i64()
            .unwrap();
        assert!((1..10).contains(&n));
    }

    #[test]
    fn failures_are_intrinsic_failures() {
        let e = eval("States.ArrayGetItem($.a, 5)", json!({"a": []})).unwrap_err();
        assert_eq!(e.error, "States.IntrinsicFailure");
        assert!(eval("States.Format('{}')", json!({})).is_err());
    }
}
