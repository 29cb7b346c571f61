//! Intrinsic functions (`States.Format(...)` and friends): syntax only here;
//! evaluation lives in `eval`.

use crate::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Str(String),
    Number(serde_json::Number),
    Bool(bool),
    Null,
    Path(Path),
    Call(Call),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: String,
    pub args: Vec<Arg>,
}

pub const FUNCTIONS: &[&str] = &[
    "States.Format",
    "States.StringToJson",
    "States.JsonToString",
    "States.Array",
    "States.ArrayPartition",
    "States.ArrayContains",
    "States.ArrayRange",
    "States.ArrayGetItem",
    "States.ArrayLength",
    "States.ArrayUnique",
    "States.Base64Encode",
    "States.Base64Decode",
    "States.Hash",
    "States.JsonMerge",
    "States.MathRandom",
    "States.MathAdd",
    "States.StringSplit",
    "States.UUID",
];

pub fn is_intrinsic(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

/// Parses one call, e.g. `States.Format('Hello, {}', $.name)`.
pub fn parse(text: &str) -> Result<Call, String> {
    let chars: Vec<char> = text.trim().chars().collect();
    let mut pos = 0;
    let call = parse_call(&chars, &mut pos)?;
    skip_ws(&chars, &mut pos);
    if pos != chars.len() {
        return Err(format!("unexpected text after the call at character {pos}"));
    }
    Ok(call)
}

fn skip_ws(chars: &[char], pos: &mut usize) {
    while *pos < chars.len() && chars[*pos].is_whitespace() {
        *pos += 1;
    }
}

fn parse_call(chars: &[char], pos: &mut usize) -> Result<Call, String> {
    let start = *pos;
    while *pos < chars.len() && (chars[*pos].is_alphanumeric() || chars[*pos] == '.') {
        *pos += 1;
    }
    let name: String = chars[start..*pos].iter().collect();
    if !FUNCTIONS.contains(&name.as_str()) {
        return Err(format!("unknown intrinsic function `{name}`"));
    }
    skip_ws(chars, pos);
    if chars.get(*pos) != Some(&'(') {
        return Err(format!("`{name}` must be followed by `(`"));
    }
    *pos += 1;
    let mut args = Vec::new();
    skip_ws(chars, pos);
    if chars.get(*pos) == Some(&')') {
        *pos += 1;
        return Ok(Call { name, args });
    }
    loop {
        skip_ws(chars, pos);
        args.push(parse_arg(chars, pos)?);
        skip_ws(chars, pos);
        match chars.get(*pos) {
            Some(',') => *pos += 1,
            Some(')') => {
                *pos += 1;
                return Ok(Call { name, args });
            }
            _ => return Err(format!("expected `,` or `)` in the arguments of `{name}`")),
        }
    }
}

fn parse_arg(chars: &[char], pos: &mut usize) -> Result<Arg, String> {
    match chars.get(*pos) {
        Some('\'') => {
            *pos += 1;
            let mut s = String::new();
            loop {
                match chars.get(*pos) {
                    None => return Err("unterminated string argument".into()),
                    Some('\\') => {
                        let next = chars
                            .get(*pos + 1)
                            .ok_or("dangling `\\` in a string argument")?;
                        s.push(*next);
                        *pos += 2;
                    }
                    Some('\'') => {
                        *pos += 1;
                        return Ok(Arg::Str(s));
                    }
                    Some(c) => {
                        s.push(*c);
                        *pos += 1;
                    }
                }
            }
        }
        Some('$') => {
            let start = *pos;
            let mut depth = 0;
            while let Some(c) = chars.get(*pos) {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    ',' | ')' if depth == 0 => break,
                    c if c.is_whitespace() && depth == 0 => break,
                    _ => {}
                }
                *pos += 1;
            }
            let raw: String = chars[start..*pos].iter().collect();
            Path::parse(&raw).map(Arg::Path).map_err(|e| e.to_string())
        }
        Some(c) if c.is_ascii_digit() || *c == '-' => {
            let start = *pos;
            while chars
                .get(*pos)
                .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '.' | 'e' | 'E' | '+'))
            {
                *pos += 1;
            }
            let raw: String = chars[start..*pos].iter().collect();
            // A literal argument is read as a 64-bit integer or a double in
            // every apply version (numbers.rs), as release 0.1.0 read it.
            match crate::numbers::from_str_legacy(&raw) {
                Ok(serde_json::Value::Number(number)) => Ok(Arg::Number(number)),
                _ => Err(format!("bad number argument `{raw}`")),
            }
        }
        Some(_) => {
            let rest: String = chars[*pos..].iter().collect();
            for (word, arg) in [
                ("true", Arg::Bool(true)),
                ("false", Arg::Bool(false)),
                ("null", Arg::Null),
            ] {
                if rest.starts_with(word) {
                    *pos += word.len();
                    return Ok(arg);
                }
            }
            parse_call(chars, pos).map(Arg::Call)
        }
        None => Err("missing argument".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_calls() {
        let call =
            parse("States.Format('Hi {} \\'x\\'', States.ArrayGetItem($.a[0], 1), true, null)")
                .unwrap();
        assert_eq!(call.name, "States.Format");
        assert_eq!(call.args.len(), 4);
        assert_eq!(call.args[0], Arg::Str("Hi {} 'x'".into()));
        assert!(
            matches!(&call.args[1], Arg::Call(c) if c.name == "States.ArrayGetItem" && c.args.len() == 2)
        );
    }

    #[test]
    fn rejects_bad_syntax() {
        assert!(parse("States.Nope(1)").unwrap_err().contains("unknown"));
        assert!(parse("States.Format('x'").is_err());
        assert!(parse("States.Array(1) extra").is_err());
    }
}
