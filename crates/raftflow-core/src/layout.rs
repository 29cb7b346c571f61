//! A state machine laid out for drawing (the web console's graph).
//!
//! ```text
//!   StateMachine ─> layers by breadth-first distance from StartAt
//!               ─> each layer a centred row; Parallel branches and the Map
//!                  processor laid out the same way inside their state's box
//!               ─> Layout { nodes, edges } in pixels, top-left origin
//! ```
//!
//! Pure and deterministic, so every node draws the same picture and tests can
//! pin it down. Edges carry only their ends; the browser routes them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::definition::{StateKind, StateMachine};

const STATE_W: u32 = 180;
const STATE_H: u32 = 44;
const GAP_X: u32 = 28;
const GAP_Y: u32 = 44;
const PAD: u32 = 14;
const HEADER: u32 = 26;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// A state, or a Parallel branch / Map processor box (`kind` "Branch").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    pub name: String,
    pub kind: &'static str,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    /// Whether other nodes are drawn inside this one.
    pub container: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: String,
    /// Goes up (a loop): drawn around the side.
    pub back: bool,
}

/// Lays out a block (the machine, a branch or a Map processor) with its
/// top-left corner at (0, 0).
fn block(machine: &StateMachine) -> Layout {
    // Layers: breadth-first distance from StartAt; unreachable states last.
    let mut layer_of: BTreeMap<&str, usize> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([(machine.start_at.as_str(), 0usize)]);
    while let Some((name, layer)) = queue.pop_front() {
        if layer_of.contains_key(name) {
            continue;
        }
        let Some(state) = machine.states.iter().find(|s| s.name == name) else {
            continue;
        };
        layer_of.insert(name, layer);
        for (next, _) in state.successors() {
            if let Some(s) = machine.states.iter().find(|s| s.name == next) {
                queue.push_back((s.name.as_str(), layer + 1));
            }
        }
    }
    let deepest = layer_of.values().max().copied().unwrap_or(0);
    for s in &machine.states {
        layer_of.entry(s.name.as_str()).or_insert(deepest + 1);
    }
    // Each state's own layout: a plain box, or a box around its branches.
    let mut inner: BTreeMap<&str, Layout> = BTreeMap::new();
    for s in &machine.states {
        let branches: Vec<(String, &StateMachine)> = match &s.kind {
            StateKind::Parallel { branches, .. } => branches
                .iter()
                .enumerate()
                .map(|(i, b)| (format!("{} branch {}", s.name, i + 1), b))
                .collect(),
            StateKind::Map { processor, .. } => {
                vec![(format!("{} each item", s.name), processor.as_ref())]
            }
            _ => continue,
        };
        let mut row = Layout {
            width: 0,
            height: 0,
            nodes: Vec::new(),
            edges: Vec::new(),
        };
        for (label, b) in branches {
            let sub = block(b);
            let (bw, bh) = (sub.width + 2 * PAD, sub.height + HEADER + PAD);
            let x = if row.nodes.is_empty() {
                PAD
            } else {
                row.width + GAP_X
            };
            row.nodes.push(Node {
                name: label,
                kind: "Branch",
                x,
                y: HEADER,
                w: bw,
                h: bh,
                container: true,
            });
            merge(&mut row, sub, x + PAD, HEADER + HEADER);
            row.width = x + bw;
            row.height = row.height.max(HEADER + bh);
        }
        row.width += PAD;
        row.height += PAD;
        inner.insert(s.name.as_str(), row);
    }
    let sizes: BTreeMap<&str, (u32, u32)> = machine
        .states
        .iter()
        .map(|s| {
            let size = inner
                .get(s.name.as_str())
                .map_or((STATE_W, STATE_H), |l| (l.width.max(STATE_W), l.height));
            (s.name.as_str(), size)
        })
        .collect();
    let size = |name: &str| sizes[name];
    let mut rows: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for s in &machine.states {
        rows.entry(layer_of[s.name.as_str()])
            .or_default()
            .push(s.name.as_str());
    }
    let row_width =
        |row: &[&str]| row.iter().map(|n| size(n).0).sum::<u32>() + GAP_X * (row.len() as u32 - 1);
    let width = rows.values().map(|r| row_width(r)).max().unwrap_or(STATE_W);
    let mut out = Layout {
        width,
        height: 0,
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    let mut y = 0;
    for row in rows.values() {
        let mut x = (width - row_width(row)) / 2;
        let row_h = row.iter().map(|n| size(n).1).max().unwrap_or(STATE_H);
        for name in row {
            let state = machine
                .states
                .iter()
                .find(|s| s.name == *name)
                .expect("rows hold states");
            let (w, h) = size(name);
            let container = inner.contains_key(name);
            out.nodes.push(Node {
                name: name.to_string(),
                kind: state.kind.type_name(),
                x,
                y,
                w,
                h,
                container,
            });
            if let Some(sub) = inner.remove(name) {
                let dx = (w - sub.width) / 2;
                merge(&mut out, sub, x + dx, y);
            }
            for (next, label) in state.successors() {
                let back = layer_of
                    .get(next.as_str())
                    .is_some_and(|l| *l <= layer_of[name]);
                out.edges.push(Edge {
                    from: name.to_string(),
                    to: next,
                    label,
                    back,
                });
            }
            x += w + GAP_X;
        }
        y += row_h + GAP_Y;
    }
    out.height = y - GAP_Y;
    out
}

fn merge(into: &mut Layout, from: Layout, dx: u32, dy: u32) {
    into.nodes.extend(from.nodes.into_iter().map(|n| Node {
        x: n.x + dx,
        y: n.y + dy,
        ..n
    }));
    into.edges.extend(from.edges);
}

/// The whole machine's layout, with a margin around it.
pub fn layout(machine: &StateMachine) -> Layout {
    let mut l = block(machine);
    let margin = 16;
    for n in &mut l.nodes {
        n.x += margin;
        n.y += margin;
    }
    l.width += 2 * margin;
    l.height += 2 * margin;
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_follow_transitions_and_branches_nest_inside_their_state() {
        let def = crate::parse_definition(r#"{"StartAt":"A","States":{
            "A":{"Type":"Pass","Next":"P"},
            "P":{"Type":"Parallel","Next":"C","Branches":[
               {"StartAt":"B1","States":{"B1":{"Type":"Pass","End":true}}},
               {"StartAt":"B2","States":{"B2":{"Type":"Task","Resource":"activity:x","End":true}}}]},
            "C":{"Type":"Choice","Choices":[{"Variable":"$.x","IsPresent":true,"Next":"A"}],"Default":"D"},
            "D":{"Type":"Succeed"}}}"#)
        .unwrap();
        let l = layout(&def);
        let node = |n: &str| {
            l.nodes
                .iter()
                .find(|x| x.name == n)
                .unwrap_or_else(|| panic!("{n} drawn"))
        };
        let (a, p, c, d) = (node("A"), node("P"), node("C"), node("D"));
        assert!(
            a.y < p.y && p.y < c.y && c.y < d.y,
            "one layer per step: {l:?}"
        );
        assert!(p.container && p.h > STATE_H);
        for b in ["B1", "B2", "P branch 1", "P branch 2"] {
            let b = node(b);
            assert!(
                b.x >= p.x && b.x + b.w <= p.x + p.w && b.y > p.y && b.y + b.h <= p.y + p.h,
                "{b:?} inside {p:?}"
            );
        }
        assert!(
            node("B1").x + STATE_W <= node("B2").x,
            "branches side by side"
        );
        assert!(l
            .edges
            .iter()
            .any(|e| e.from == "C" && e.to == "A" && e.back && e.label == "rule 1"));
        assert!(l
            .edges
            .iter()
            .any(|e| e.from == "C" && e.to == "D" && !e.back));
        assert!(l
            .nodes
            .iter()
            .all(|n| n.x + n.w <= l.width && n.y + n.h <= l.height));
    }
}
