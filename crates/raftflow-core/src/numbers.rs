//! JSON numbers. raftflow keeps every number as it was written (serde_json's
//! `arbitrary_precision`): an order id of 23 digits, `-0`, `1e-7` or a
//! 17-digit decimal passes through every state that does not compute on it
//! unchanged, as it does through Step Functions. Intrinsics and comparisons
//! read numbers as 64-bit integers or doubles, as before.
//!
//! Until apply version 6, a number was read into a 64-bit integer or a
//! double and written back from it: `12345678901234567890123` came out as
//! `1.2345678901234568e22`, `-0` as `-0.0`, `1.50` as `1.5`. [`to_legacy`]
//! rewrites a value's numbers that way — the rules of serde_json's parser
//! with `float_roundtrip`, which the older binaries used — so that entries
//! written under older versions replay to the same bytes with this binary.

use serde_json::{Number, Value};

/// The apply version from which numbers are kept as written.
pub const EXACT_NUMBERS_FROM: u32 = 6;

/// Rewrites every number in `value` as the parser of older releases read
/// it. Fails, as that parser did, on a number beyond a double's range.
pub fn to_legacy(value: &mut Value) -> Result<(), String> {
    // Depth-first without recursion: values nest up to the door's limit,
    // and stored definitions are re-read leniently.
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Number(n) => *n = legacy_number(n.as_str())?,
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => stack.extend(map.values_mut()),
            Value::Null | Value::Bool(_) | Value::String(_) => {}
        }
    }
    Ok(())
}

/// Parses JSON text as the older releases did (numbers as integers or
/// doubles).
pub fn from_str_legacy(text: &str) -> Result<Value, String> {
    let mut value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    to_legacy(&mut value)?;
    Ok(value)
}

/// Parses JSON text by the rules of `apply_version`.
pub fn from_str_at(text: &str, apply_version: u32) -> Result<Value, String> {
    if apply_version >= EXACT_NUMBERS_FROM {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        from_str_legacy(text)
    }
}

/// One number, from its JSON text, as serde_json's parser (without
/// `arbitrary_precision`, with `float_roundtrip`) read it: an integer that
/// fits stays an integer (`u64`, or `i64` when negative); `-0`, a negative
/// integer below `i64::MIN`, a longer integer, a fraction or an exponent
/// become the nearest double.
fn legacy_number(text: &str) -> Result<Number, String> {
    let integer = !text.contains(['.', 'e', 'E']);
    if integer {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(digits) => (true, digits),
            None => (false, text),
        };
        if let Ok(magnitude) = digits.parse::<u64>() {
            if !negative {
                return Ok(Number::from(magnitude));
            }
            let value = (magnitude as i64).wrapping_neg();
            if value < 0 {
                return Ok(Number::from(value));
            }
            return double(-(magnitude as f64), text); // -0, or below i64::MIN
        }
    }
    let parsed: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a JSON number"))?;
    double(parsed, text)
}

/// A double, written as serde_json writes an `f64` (`1e+22`), which is what
/// the older releases wrote for it.
fn double(value: f64, text: &str) -> Result<Number, String> {
    if !value.is_finite() {
        return Err(format!("number out of range: {text}"));
    }
    let written = serde_json::to_string(&value).map_err(|e| e.to_string())?;
    serde_json::from_str(&written).map_err(|e| e.to_string())
}

/// Whether two JSON values are the same, numbers compared as the older
/// releases read them (`1.50` and `1.5` are the same number; `1` and
/// `1.0` are not, as for a state that reads them).
pub fn same_value(a: &Value, b: &Value) -> bool {
    let (mut a, mut b) = (a.clone(), b.clone());
    match (to_legacy(&mut a), to_legacy(&mut b)) {
        (Ok(()), Ok(())) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(text: &str) -> String {
        from_str_legacy(text).unwrap().to_string()
    }

    #[test]
    fn numbers_are_kept_as_written() {
        for text in [
            r#"{"a":12345678901234567890123}"#,
            "-0",
            "1e-7",
            "0.12345678901234567",
            "1.50",
            "-9223372036854775809",
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(value.to_string(), text);
        }
    }

    #[test]
    fn legacy_numbers_are_what_the_older_parser_made_of_them() {
        assert_eq!(
            legacy(r#"{"a":12345678901234567890123}"#),
            r#"{"a":1.2345678901234568e+22}"#
        );
        assert_eq!(legacy("-0"), "-0.0");
        assert_eq!(legacy("0"), "0");
        assert_eq!(legacy("1e-7"), "1e-7");
        assert_eq!(legacy("1E2"), "100.0");
        assert_eq!(legacy("0.12345678901234567"), "0.12345678901234566");
        assert_eq!(legacy("1.50"), "1.5");
        assert_eq!(legacy("18446744073709551615"), "18446744073709551615");
        assert_eq!(legacy("18446744073709551616"), "1.8446744073709552e+19");
        assert_eq!(legacy("-9223372036854775808"), "-9223372036854775808");
        assert_eq!(legacy("-9223372036854775809"), "-9.223372036854776e+18");
        assert_eq!(legacy("-0.0"), "-0.0");
        assert_eq!(legacy("5e-324"), "5e-324");
        assert_eq!(legacy("2.2250738585072011e-308"), "2.225073858507201e-308");
        assert!(from_str_legacy("1e400").is_err(), "beyond a double");
    }

    #[test]
    fn the_same_value_compares_numbers_as_read() {
        let v = |t: &str| serde_json::from_str::<Value>(t).unwrap();
        assert!(same_value(&v(r#"{"a":1.50}"#), &v(r#"{"a":1.5}"#)));
        assert!(!same_value(&v("1"), &v("1.0")));
        assert!(!same_value(&v("1e400"), &v("1e400")));
    }
}
