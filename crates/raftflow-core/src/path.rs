//! JSONPath as the Amazon States Language uses it.
//!
//! Paths start with `$` (the state's data) or `$$` (the context object).
//! Supported: `.name`, `['name']`, `[n]` (negative counts from the end),
//! `[*]` and `.*`, `[a:b]` slices, `[a,b]` unions and `..name` descent.
//! A *reference path* (the only kind allowed in `ResultPath` and in Choice
//! `Variable`s) names one node: fields and indexes only.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Field(String),
    Index(i64),
    Wildcard,
    Slice(Option<i64>, Option<i64>),
    Union(Vec<i64>),
    Descend(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub raw: String,
    /// `$$…`: the path reads the context object.
    pub context: bool,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSONPath `{path}`: {reason}")]
pub struct PathSyntaxError {
    pub path: String,
    pub reason: String,
}

impl Path {
    pub fn parse(raw: &str) -> Result<Path, PathSyntaxError> {
        let err = |reason: &str| PathSyntaxError {
            path: raw.to_string(),
            reason: reason.to_string(),
        };
        let (context, rest) = if let Some(r) = raw.strip_prefix("$$") {
            (true, r)
        } else if let Some(r) = raw.strip_prefix('$') {
            (false, r)
        } else {
            return Err(err("must start with `$`"));
        };
        let chars: Vec<char> = rest.chars().collect();
        let mut segments = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '.' if chars.get(i + 1) == Some(&'.') => {
                    let (name, next) = read_name(&chars, i + 2);
                    if name.is_empty() {
                        return Err(err("`..` must be followed by a field name"));
                    }
                    segments.push(Segment::Descend(name));
                    i = next;
                }
                '.' if chars.get(i + 1) == Some(&'*') => {
                    segments.push(Segment::Wildcard);
                    i += 2;
                }
                '.' => {
                    let (name, next) = read_name(&chars, i + 1);
                    if name.is_empty() {
                        return Err(err("`.` must be followed by a field name"));
                    }
                    segments.push(Segment::Field(name));
                    i = next;
                }
                '[' => {
                    let close = find_close(&chars, i).ok_or_else(|| err("unclosed `[`"))?;
                    let inner: String = chars[i + 1..close].iter().collect();
                    segments.push(parse_bracket(inner.trim()).map_err(|r| err(&r))?);
                    i = close + 1;
                }
                c => return Err(err(&format!("unexpected `{c}`"))),
            }
        }
        Ok(Path {
            raw: raw.to_string(),
            context,
            segments,
        })
    }

    /// Whether the path names at most one node (fields and indexes only).
    pub fn is_reference(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Field(_) | Segment::Index(_)))
    }

    /// Selects from `root`. A reference path yields its node or `None`; any
    /// other path yields an array of every match (possibly empty).
    pub fn select(&self, root: &Value) -> Option<Value> {
        if self.is_reference() {
            let mut node = root;
            for segment in &self.segments {
                node = match (segment, node) {
                    (Segment::Field(name), Value::Object(map)) => map.get(name)?,
                    (Segment::Index(i), Value::Array(items)) => {
                        items.get(resolve_index(*i, items.len())?)?
                    }
                    _ => return None,
                };
            }
            return Some(node.clone());
        }
        let mut nodes = vec![root];
        for segment in &self.segments {
            let mut next = Vec::new();
            for node in nodes {
                step(segment, node, &mut next);
            }
            nodes = next;
        }
        Some(Value::Array(nodes.into_iter().cloned().collect()))
    }

    /// Writes `value` at this reference path inside `root`, creating objects
    /// on the way (as `ResultPath` does). Fails where a step meets a non-object.
    pub fn set(&self, root: &mut Value, value: Value) -> Result<(), String> {
        assert!(self.is_reference(), "only reference paths can be written");
        let mut node = root;
        for segment in &self.segments {
            node = match segment {
                Segment::Field(name) => {
                    if node.is_null() {
                        *node = Value::Object(Default::default());
                    }
                    match node {
                        Value::Object(map) => map.entry(name.clone()).or_insert(Value::Null),
                        other => {
                            return Err(format!(
                                "cannot set field `{name}` on a {}",
                                type_name(other)
                            ))
                        }
                    }
                }
                Segment::Index(i) => match node {
                    Value::Array(items) => {
                        let len = items.len();
                        let idx = resolve_index(*i, len)
                            .ok_or_else(|| format!("index {i} is out of bounds"))?;
                        &mut items[idx]
                    }
                    other => return Err(format!("cannot index a {}", type_name(other))),
                },
                _ => unreachable!("reference paths hold fields and indexes only"),
            };
        }
        *node = value;
        Ok(())
    }
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn resolve_index(i: i64, len: usize) -> Option<usize> {
    let idx = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&idx).then_some(idx as usize)
}

fn step<'a>(segment: &Segment, node: &'a Value, out: &mut Vec<&'a Value>) {
    match (segment, node) {
        (Segment::Field(name), Value::Object(map)) => out.extend(map.get(name)),
        (Segment::Index(i), Value::Array(items)) => {
            out.extend(resolve_index(*i, items.len()).and_then(|idx| items.get(idx)))
        }
        (Segment::Wildcard, Value::Array(items)) => out.extend(items.iter()),
        (Segment::Wildcard, Value::Object(map)) => out.extend(map.values()),
        (Segment::Slice(a, b), Value::Array(items)) => {
            let len = items.len() as i64;
            let clamp = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
            let start = clamp(a.unwrap_or(0));
            let end = clamp(b.unwrap_or(len));
            if start < end {
                out.extend(items[start as usize..end as usize].iter());
            }
        }
        (Segment::Union(indexes), Value::Array(items)) => {
            for i in indexes {
                out.extend(resolve_index(*i, items.len()).and_then(|idx| items.get(idx)));
            }
        }
        (Segment::Descend(name), _) => descend(name, node, out),
        _ => {}
    }
}

fn descend<'a>(name: &str, node: &'a Value, out: &mut Vec<&'a Value>) {
    match node {
        Value::Object(map) => {
            if let Some(v) = map.get(name) {
                out.push(v);
            }
            map.values().for_each(|v| descend(name, v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| descend(name, v, out)),
        _ => {}
    }
}

fn read_name(chars: &[char], start: usize) -> (String, usize) {
    let mut end = start;
    while end < chars.len() && !matches!(chars[end], '.' | '[') {
        end += 1;
    }
    (chars[start..end].iter().collect(), end)
}

fn find_close(chars: &[char], open: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (j, c) in chars.iter().enumerate().skip(open + 1) {
        match (quote, c) {
            (Some(q), c) if *c == q => quote = None,
            (None, '\'' | '"') => quote = Some(*c),
            (None, ']') => return Some(j),
            _ => {}
        }
    }
    None
}

fn parse_bracket(inner: &str) -> Result<Segment, String> {
    if inner == "*" {
        return Ok(Segment::Wildcard);
    }
    if (inner.starts_with('\'') && inner.ends_with('\'')
        || inner.starts_with('"') && inner.ends_with('"'))
        && inner.len() >= 2
    {
        return Ok(Segment::Field(inner[1..inner.len() - 1].to_string()));
    }
    if inner.starts_with('?') {
        return Err("filter expressions are not supported".into());
    }
    if let Some((a, b)) = inner.split_once(':') {
        let bound = |s: &str| -> Result<Option<i64>, String> {
            let s = s.trim();
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse()
                    .map(Some)
                    .map_err(|_| format!("bad slice bound `{s}`"))
            }
        };
        if b.contains(':') {
            return Err("slice steps are not supported".into());
        }
        return Ok(Segment::Slice(bound(a)?, bound(b)?));
    }
    if inner.contains(',') {
        let indexes: Result<Vec<i64>, _> =
            inner.split(',').map(|s| s.trim().parse::<i64>()).collect();
        return indexes
            .map(Segment::Union)
            .map_err(|_| format!("bad index list `{inner}`"));
    }
    inner
        .parse::<i64>()
        .map(Segment::Index)
        .map_err(|_| format!("bad index `{inner}`"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reference_paths_select_one_node() {
        let data = json!({"a": {"b": [1, 2, {"c": "x"}]}, "weird key": 5});
        assert_eq!(Path::parse("$").unwrap().select(&data), Some(data.clone()));
        assert_eq!(
            Path::parse("$.a.b[2].c").unwrap().select(&data),
            Some(json!("x"))
        );
        assert_eq!(
            Path::parse("$.a.b[-1].c").unwrap().select(&data),
            Some(json!("x"))
        );
        assert_eq!(
            Path::parse("$['weird key']").unwrap().select(&data),
            Some(json!(5))
        );
        assert_eq!(Path::parse("$.missing").unwrap().select(&data), None);
    }

    #[test]
    fn other_paths_select_arrays() {
        let data = json!({"items": [{"p": 1}, {"p": 2}, {"p": 3}]});
        assert_eq!(
            Path::parse("$.items[*].p").unwrap().select(&data),
            Some(json!([1, 2, 3]))
        );
        assert_eq!(
            Path::parse("$.items[0:2].p").unwrap().select(&data),
            Some(json!([1, 2]))
        );
        assert_eq!(
            Path::parse("$..p").unwrap().select(&data),
            Some(json!([1, 2, 3]))
        );
        assert_eq!(
            Path::parse("$.items[0,2].p").unwrap().select(&data),
            Some(json!([1, 3]))
        );
    }

    #[test]
    fn set_creates_objects() {
        let mut data = json!({"a": 1});
        Path::parse("$.b.c")
            .unwrap()
            .set(&mut data, json!(2))
            .unwrap();
        assert_eq!(data, json!({"a": 1, "b": {"c": 2}}));
        assert!(Path::parse("$.a.x")
            .unwrap()
            .set(&mut data, json!(3))
            .is_err());
    }

    #[test]
    fn syntax_errors_name_the_problem() {
        assert!(Path::parse("a.b").unwrap_err().reason.contains('$'));
        assert!(Path::parse("$.a[").unwrap_err().reason.contains("unclosed"));
        assert!(Path::parse("$.a[?(@.x)]").is_err());
        assert!(Path::parse("$$.Execution.Id").unwrap().context);
    }
}
