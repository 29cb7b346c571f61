//! Edges as polylines: out of a state's bottom at its own port, down to its
//! row's bottom, across the gap to the next row, straight down through each
//! dummy's reserved slot, and into the target's top at its port. Inside a
//! row an edge only runs vertically where nothing else is; between rows
//! there are no boxes at all — so no edge crosses a state.

use super::place::Placed;
use super::rank::{Layered, LABEL_INSET, LOOP_W};
use super::{cut_label, text_w, Edge, Layout, Node, Rect, LABEL_CHAR_W, LABEL_H};
use crate::definition::{StateKind, StateMachine};

fn px(v: f64) -> u32 {
    // Coordinates are non-negative by construction; `as` saturates.
    v.round() as u32
}

pub(super) fn draw(machine: &StateMachine, graph: &Layered, placed: &Placed) -> Layout {
    let nodes = machine
        .states
        .iter()
        .enumerate()
        .map(|(i, state)| Node {
            name: state.name.clone(),
            kind: state.kind.type_name(),
            x: px(placed.x[i]),
            y: px(placed.y[i]),
            w: graph.vertices[i].w,
            h: graph.vertices[i].h,
            container: matches!(
                state.kind,
                StateKind::Parallel { .. } | StateKind::Map { .. }
            ),
        })
        .collect();
    let ports = Ports::new(graph, placed);
    let mut edges: Vec<Edge> = graph
        .chains
        .iter()
        .enumerate()
        .map(|(k, chain)| {
            let mut points = chain_points(graph, placed, &ports, k);
            if chain.back {
                points.reverse();
            }
            let label_box = chain.label_at.map(|at| {
                let d = chain.path[at];
                let vertex = &graph.vertices[d];
                Rect {
                    x: px(placed.x[d]) + LABEL_INSET,
                    y: px(placed.y[d]),
                    w: vertex.w - LABEL_INSET,
                    h: vertex.h,
                }
            });
            edge(
                machine,
                chain.from,
                chain.to,
                &chain.label,
                chain.back,
                points,
                label_box,
            )
        })
        .collect();
    for l in &graph.loops {
        let (x, y) = (placed.x[l.state], placed.y[l.state]);
        let v = &graph.vertices[l.state];
        let right = px(x) + v.w;
        let (top, bottom) = (
            px(y + f64::from(v.h) / 3.0),
            px(y + f64::from(v.h) * 2.0 / 3.0),
        );
        let out = right + LOOP_W - 6;
        let points = vec![[right, top], [out, top], [out, bottom], [right, bottom]];
        let label_box = (!l.label.is_empty()).then(|| Rect {
            x: right + LOOP_W,
            y: px(y + (f64::from(v.h) - f64::from(LABEL_H)) / 2.0),
            w: text_w(&cut_label(&l.label), LABEL_CHAR_W) + 4,
            h: LABEL_H,
        });
        edges.push(edge(
            machine, l.state, l.state, &l.label, true, points, label_box,
        ));
    }
    Layout {
        width: px(placed.width.ceil()),
        height: px(placed.height.ceil()),
        nodes,
        edges,
        note: None,
    }
}

fn edge(
    machine: &StateMachine,
    from: usize,
    to: usize,
    label: &str,
    back: bool,
    points: Vec<[u32; 2]>,
    label_box: Option<Rect>,
) -> Edge {
    Edge {
        from: machine.states[from].name.clone(),
        to: machine.states[to].name.clone(),
        label: cut_label(label),
        title: label.to_string(),
        back,
        points,
        label_box,
    }
}

/// Where each chain leaves its upper state and enters its lower one:
/// spread along the bottom and top, in the order of where they go.
struct Ports {
    /// Per chain: x at the upper state's bottom, x at the lower's top.
    at: Vec<(f64, f64)>,
}

impl Ports {
    fn new(graph: &Layered, placed: &Placed) -> Ports {
        let n = graph.vertices.len();
        // Per state: (where the chain heads, chain) leaving and entering.
        let mut leaving: Vec<Vec<(f64, usize)>> = vec![Vec::new(); n];
        let mut entering: Vec<Vec<(f64, usize)>> = vec![Vec::new(); n];
        for (k, c) in graph.chains.iter().enumerate() {
            let last = c.path.len() - 1;
            leaving[c.path[0]].push((toward(graph, placed, c.path[1]), k));
            entering[c.path[last]].push((toward(graph, placed, c.path[last - 1]), k));
        }
        let mut at = vec![(0.0, 0.0); graph.chains.len()];
        for s in 0..n {
            let (left, w) = (placed.x[s], f64::from(graph.vertices[s].w));
            for (k, x) in spread(&mut leaving[s], left, w) {
                at[k].0 = x;
            }
            for (k, x) in spread(&mut entering[s], left, w) {
                at[k].1 = x;
            }
        }
        Ports { at }
    }
}

/// Ports evenly along a side from `left` over `w`, in the order of where
/// their edges head.
fn spread(ends: &mut [(f64, usize)], left: f64, w: f64) -> Vec<(usize, f64)> {
    ends.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let n = ends.len() as f64;
    ends.iter()
        .enumerate()
        .map(|(i, (_, k))| (*k, left + w * (i as f64 + 1.0) / (n + 1.0)))
        .collect()
}

/// Where an edge meets vertex `v` (a dummy's line, a state's middle).
fn toward(graph: &Layered, placed: &Placed, v: usize) -> f64 {
    match graph.vertices[v].state {
        Some(_) => placed.x[v] + f64::from(graph.vertices[v].w) / 2.0,
        None => placed.x[v],
    }
}

/// Chain `k`'s polyline from its upper state down to its lower one.
fn chain_points(graph: &Layered, placed: &Placed, ports: &Ports, k: usize) -> Vec<[u32; 2]> {
    let chain = &graph.chains[k];
    let (upper, lower) = (chain.path[0], chain.path[chain.path.len() - 1]);
    let (out_x, in_x) = ports.at[k];
    let rank = |v: usize| graph.vertices[v].rank;
    let mut points = vec![
        [
            px(out_x),
            px(placed.y[upper] + f64::from(graph.vertices[upper].h)),
        ],
        [px(out_x), px(placed.row_bottom[rank(upper)])],
    ];
    for &d in &chain.path[1..chain.path.len() - 1] {
        points.push([px(placed.x[d]), px(placed.row_top[rank(d)])]);
        points.push([px(placed.x[d]), px(placed.row_bottom[rank(d)])]);
    }
    points.push([px(in_x), px(placed.row_top[rank(lower)])]);
    points.push([px(in_x), px(placed.y[lower])]);
    points.dedup();
    points
}
