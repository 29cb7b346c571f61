//! A state machine as a graph, in Graphviz DOT or Mermaid.
//!
//! Parallel branches and Map processors become nested clusters (subgraphs),
//! so the drawing reads like Step Functions' console graph.

use crate::definition::{StateKind, StateMachine};

struct Edge {
    from: String,
    to: String,
    label: String,
}

fn id(scope: &str, name: &str) -> String {
    let raw = format!("{scope}{name}");
    let mut out: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    out.insert(0, 's');
    out
}

fn walk(
    machine: &StateMachine,
    scope: &str,
    lines: &mut Vec<String>,
    edges: &mut Vec<Edge>,
    dot: bool,
    depth: usize,
) {
    let pad = "  ".repeat(depth);
    for state in &machine.states {
        let me = id(scope, &state.name);
        let label = format!("{}\\n({})", state.name, state.kind.type_name());
        let nested: Vec<(String, &StateMachine)> = match &state.kind {
            StateKind::Parallel { branches, .. } => branches
                .iter()
                .enumerate()
                .map(|(i, b)| (format!("branch {}", i + 1), b))
                .collect(),
            StateKind::Map { processor, .. } => vec![("each item".to_string(), processor.as_ref())],
            _ => Vec::new(),
        };
        if dot {
            let shape = match state.kind {
                StateKind::Choice { .. } => "diamond",
                StateKind::Succeed | StateKind::Fail { .. } => "doublecircle",
                _ => "box",
            };
            lines.push(format!("{pad}{me} [label=\"{label}\", shape={shape}];"));
        } else {
            let shape = match state.kind {
                StateKind::Choice { .. } => {
                    format!("{me}{{\"{}\"}}", label.replace("\\n", "<br/>"))
                }
                StateKind::Succeed | StateKind::Fail { .. } => {
                    format!("{me}((\"{}\"))", label.replace("\\n", "<br/>"))
                }
                _ => format!("{me}[\"{}\"]", label.replace("\\n", "<br/>")),
            };
            lines.push(format!("{pad}{shape}"));
        }
        for (i, (title, sub)) in nested.iter().enumerate() {
            let inner = format!("{scope}{}__{i}__", state.name);
            let cluster = id(&inner, "cluster");
            if dot {
                lines.push(format!(
                    "{pad}subgraph cluster_{cluster} {{ label=\"{} {title}\";",
                    state.name
                ));
            } else {
                lines.push(format!(
                    "{pad}subgraph {cluster} [\"{} {title}\"]",
                    state.name
                ));
            }
            walk(sub, &inner, lines, edges, dot, depth + 1);
            lines.push(format!("{pad}{}", if dot { "}" } else { "end" }));
            edges.push(Edge {
                from: me.clone(),
                to: id(&inner, &sub.start_at),
                label: String::new(),
            });
        }
        for (next, label) in state.successors() {
            edges.push(Edge {
                from: me.clone(),
                to: id(scope, &next),
                label,
            });
        }
    }
}

pub fn to_dot(machine: &StateMachine) -> String {
    let (mut lines, mut edges) = (Vec::new(), Vec::new());
    walk(machine, "", &mut lines, &mut edges, true, 1);
    let mut out = String::from("digraph statemachine {\n  rankdir=TB;\n  start [shape=point];\n");
    out.push_str(&format!("  start -> {};\n", id("", &machine.start_at)));
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    for e in edges {
        if e.label.is_empty() {
            out.push_str(&format!("  {} -> {};\n", e.from, e.to));
        } else {
            out.push_str(&format!(
                "  {} -> {} [label=\"{}\"];\n",
                e.from, e.to, e.label
            ));
        }
    }
    out.push_str("}\n");
    out
}

pub fn to_mermaid(machine: &StateMachine) -> String {
    let (mut lines, mut edges) = (Vec::new(), Vec::new());
    walk(machine, "", &mut lines, &mut edges, false, 1);
    let mut out = String::from("flowchart TD\n  start(( ))\n");
    out.push_str(&format!("  start --> {}\n", id("", &machine.start_at)));
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    for e in edges {
        if e.label.is_empty() {
            out.push_str(&format!("  {} --> {}\n", e.from, e.to));
        } else {
            out.push_str(&format!("  {} -->|{}| {}\n", e.from, e.label, e.to));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_nested_states_and_every_edge() {
        let def = crate::parse_definition(r#"{"StartAt":"C","States":{
            "C":{"Type":"Choice","Choices":[{"Variable":"$.x","IsPresent":true,"Next":"P"}],"Default":"F"},
            "P":{"Type":"Parallel","Branches":[{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"activity:t","End":true}}}],
                 "Catch":[{"ErrorEquals":["States.ALL"],"Next":"F"}],"End":true},
            "F":{"Type":"Fail","Error":"E"}}}"#).unwrap();
        let dot = to_dot(&def);
        assert!(dot.contains("sC -> sP [label=\"rule 1\"]"), "{dot}");
        assert!(dot.contains("sC -> sF [label=\"default\"]"));
        assert!(dot.contains("subgraph cluster_"));
        assert!(dot.contains("sP -> sP__0__T"));
        assert!(dot.contains("catch States.ALL"));
        let mermaid = to_mermaid(&def);
        assert!(mermaid.starts_with("flowchart TD"));
        assert!(mermaid.contains("sC -->|default| sF"));
    }
}
