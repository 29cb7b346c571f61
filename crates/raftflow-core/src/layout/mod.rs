//! A state machine laid out for drawing (the web console's graph).
//!
//! ```text
//!   StateMachine ─> each Parallel branch / Map processor laid out first
//!                   (recursively): its state becomes one big box
//!               ─> layered graph: back edges reversed, ranks by longest
//!                  path, doubled so that every edge has a middle row where
//!                  its label lives, dummies on long edges     (rank.rs)
//!               ─> crossing reduction by barycentre sweeps    (order.rs)
//!               ─> x by weighted isotonic regression, y by row (place.rs)
//!               ─> edges as polylines, labels as boxes         (route.rs)
//! ```
//!
//! The Sugiyama scheme dagre, ELK and Graphviz follow. Edges only ever run
//! inside one scope in ASL (a branch cannot jump out of its Parallel), so a
//! compound graph needs no more than laying out each scope on its own and
//! treating a container as one box of its parent. Every edge passes between
//! rows or through a slot reserved for it in a row, so no edge crosses a
//! state and no label overlaps another: `geometry::check` proves it for any
//! layout, and the tests run it over every fixture.
//!
//! Pure and deterministic (the browser only draws), so every node serves the
//! same picture. Sizes of text are estimated from character counts with
//! generous widths; the browser test measures the real ones.

mod geometry;
mod order;
mod place;
mod rank;
mod route;

use serde::Serialize;

use crate::definition::{StateKind, StateMachine};

pub use geometry::{check, Problem};

/// A state's smallest box.
const STATE_W: u32 = 180;
const STATE_H: u32 = 48;
/// Room around and above the boxes inside a container.
const PAD: u32 = 14;
const HEADER: u32 = 26;
const MARGIN: u32 = 16;
/// Widths the browser's fonts stay under (names: 600 13px sans-serif; edge
/// labels: 11px monospace, 0.6 em per character).
const NAME_CHAR_W: u32 = 9;
const LABEL_CHAR_W: u32 = 7;
const LABEL_H: u32 = 16;
/// Labels longer than this are cut (the full text is the edge's `title`).
const LABEL_CHARS_MAX: usize = 30;
/// Boxes (states and the dummies long edges pass through) a whole drawing
/// may hold: layout time grows with them, and a crafted definition whose
/// every state jumps far back could otherwise keep a node busy for minutes.
pub const MAX_VERTICES: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// Why the drawing leaves something out (too large to route).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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

/// An axis-aligned box: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// What is drawn beside the edge (cut to `LABEL_CHARS_MAX`).
    pub label: String,
    /// The label uncut (the drawing's tooltip).
    pub title: String,
    /// Goes against the flow (a loop back): drawn dashed.
    pub back: bool,
    /// The polyline from `from`'s border to `to`'s border.
    pub points: Vec<[u32; 2]>,
    /// Where the label is drawn; `None` without a label.
    pub label_box: Option<Rect>,
}

/// The whole machine's layout, with a margin around it.
pub fn layout(machine: &StateMachine) -> Layout {
    let budget = std::cell::Cell::new(MAX_VERTICES);
    let mut l = block(machine, &budget).unwrap_or_else(|| too_large(machine));
    shift(&mut l, MARGIN, MARGIN);
    l.width += 2 * MARGIN;
    l.height += 2 * MARGIN;
    l
}

/// What a state's box holds before the block is placed: its size and,
/// for a Parallel or Map, the layout of what it contains.
struct Sized {
    w: u32,
    h: u32,
    inner: Option<Layout>,
}

/// Lays out one scope (the machine, a branch or a Map processor) with its
/// top-left corner at (0, 0).
fn block(machine: &StateMachine, budget: &Budget) -> Option<Layout> {
    let sized = machine
        .states
        .iter()
        .map(|s| size_state(s, budget))
        .collect::<Option<Vec<Sized>>>()?;
    let graph = rank::build(machine, &sized, budget)?;
    let graph = order::reduce_crossings(graph);
    let placed = place::place(&graph);
    let mut out = route::draw(machine, &graph, &placed);
    for (i, s) in sized.into_iter().enumerate() {
        let Some(inner) = s.inner else { continue };
        let node = &out.nodes[i];
        let (dx, dy) = (node.x + (node.w - inner.width) / 2, node.y);
        merge(&mut out, inner, dx, dy);
    }
    Some(out)
}

/// Vertices the drawing may still add (`MAX_VERTICES` in all).
type Budget = std::cell::Cell<usize>;

/// The top-level states in rows, without transitions, and a note saying
/// why: what is drawn for a definition past `MAX_VERTICES`.
fn too_large(machine: &StateMachine) -> Layout {
    const COLUMNS: u32 = 6;
    let mut l = Layout {
        width: 0,
        height: 0,
        nodes: Vec::new(),
        edges: Vec::new(),
        note: Some(format!(
            "too large to route its transitions (more than {MAX_VERTICES} boxes): states only"
        )),
    };
    for (i, state) in machine.states.iter().enumerate() {
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        let (x, y) = (
            (i % COLUMNS) * (STATE_W + 32),
            (i / COLUMNS) * (STATE_H + 20),
        );
        l.nodes.push(Node {
            name: state.name.clone(),
            kind: state.kind.type_name(),
            x,
            y,
            w: STATE_W,
            h: STATE_H,
            container: false,
        });
        l.width = l.width.max(x + STATE_W);
        l.height = l.height.max(y + STATE_H);
    }
    l
}

fn size_state(state: &crate::definition::State, budget: &Budget) -> Option<Sized> {
    let name_w = text_w(&state.name, NAME_CHAR_W) + 24;
    let branches: Vec<(String, &StateMachine)> = match &state.kind {
        StateKind::Parallel { branches, .. } => branches
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("{} branch {}", state.name, i + 1), b))
            .collect(),
        StateKind::Map { processor, .. } => {
            vec![(format!("{} each item", state.name), processor.as_ref())]
        }
        _ => {
            return Some(Sized {
                w: STATE_W.max(name_w),
                h: STATE_H,
                inner: None,
            })
        }
    };
    let inner = containers(branches, budget)?;
    Some(Sized {
        w: inner.width.max(STATE_W).max(name_w),
        h: inner.height,
        inner: Some(inner),
    })
}

/// The branches of a Parallel (or a Map's processor) side by side, each in
/// a "Branch" box under the state's header.
fn containers(branches: Vec<(String, &StateMachine)>, budget: &Budget) -> Option<Layout> {
    let mut row = Layout {
        width: PAD,
        height: 0,
        nodes: Vec::new(),
        edges: Vec::new(),
        note: None,
    };
    for (label, b) in branches {
        let sub = block(b, budget)?;
        let title_w = text_w(&label, LABEL_CHAR_W) + 16;
        let bw = (sub.width + 2 * PAD).max(title_w);
        let bh = sub.height + HEADER + PAD;
        let x = row.width;
        row.nodes.push(Node {
            name: label,
            kind: "Branch",
            x,
            y: HEADER,
            w: bw,
            h: bh,
            container: true,
        });
        let sub_w = sub.width;
        merge(&mut row, sub, x + (bw - sub_w) / 2, 2 * HEADER);
        row.width = x + bw + PAD;
        row.height = row.height.max(HEADER + bh + PAD);
    }
    Some(row)
}

fn text_w(text: &str, char_w: u32) -> u32 {
    let chars = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
    chars.saturating_mul(char_w)
}

/// `label` as drawn: at most `LABEL_CHARS_MAX` characters.
fn cut_label(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS_MAX {
        return label.to_string();
    }
    let mut cut: String = label.chars().take(LABEL_CHARS_MAX - 1).collect();
    cut.push('…');
    cut
}

fn shift(l: &mut Layout, dx: u32, dy: u32) {
    for n in &mut l.nodes {
        n.x += dx;
        n.y += dy;
    }
    for e in &mut l.edges {
        for p in &mut e.points {
            p[0] += dx;
            p[1] += dy;
        }
        if let Some(b) = &mut e.label_box {
            b.x += dx;
            b.y += dy;
        }
    }
}

fn merge(into: &mut Layout, mut from: Layout, dx: u32, dy: u32) {
    shift(&mut from, dx, dy);
    into.nodes.extend(from.nodes);
    into.edges.extend(from.edges);
}

#[cfg(test)]
mod tests;
