//! Coordinates: rows stacked top to bottom; within a row, boxes in the
//! order crossing reduction chose, each pulled towards its neighbours in
//! the next rows (weighted isotonic regression: the closest placement to
//! the targets that keeps the order and the gaps), long edges weighted
//! most so that they run straight.

use super::rank::Layered;

/// Gaps between neighbours in a row, and between rows.
const GAP_STATES: f64 = 32.0;
const GAP_STATE_DUMMY: f64 = 16.0;
const GAP_DUMMIES: f64 = 10.0;
const GAP_ROWS: f64 = 20.0;
/// Down-and-up rounds, then rounds looking both ways.
const ROUNDS: usize = 8;
const BALANCE_ROUNDS: usize = 3;
const STRAIGHTEN_ROUNDS: usize = 4;

pub(super) struct Placed {
    /// Left and top of each vertex's box.
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub row_top: Vec<f64>,
    pub row_bottom: Vec<f64>,
    pub width: f64,
    pub height: f64,
}

/// Where edges meet a vertex, from its left: a state's middle, a dummy's
/// left side (its label is right of the edge).
fn anchor(graph: &Layered, v: usize) -> f64 {
    let vertex = &graph.vertices[v];
    match vertex.state {
        Some(_) => f64::from(vertex.w) / 2.0,
        None => 0.0,
    }
}

fn gap(graph: &Layered, a: usize, b: usize) -> f64 {
    match (graph.vertices[a].state, graph.vertices[b].state) {
        (Some(_), Some(_)) => GAP_STATES,
        (None, None) => GAP_DUMMIES,
        _ => GAP_STATE_DUMMY,
    }
}

/// How strongly an edge pulls its ends into line: dummy to dummy most
/// (long edges straight), state to state least.
fn pull(graph: &Layered, a: usize, b: usize) -> f64 {
    match (graph.vertices[a].state, graph.vertices[b].state) {
        (None, None) => 8.0,
        (Some(_), Some(_)) => 1.0,
        _ => 2.0,
    }
}

pub(super) fn place(graph: &Layered) -> Placed {
    let mut x = vec![0.0; graph.vertices.len()];
    for layer in &graph.layers {
        let mut left = 0.0;
        for (i, &v) in layer.iter().enumerate() {
            if i > 0 {
                left += gap(graph, layer[i - 1], v);
            }
            x[v] = left;
            left += slot(graph, v);
        }
    }
    let last = graph.layers.len().saturating_sub(1);
    for _ in 0..ROUNDS {
        for r in 1..=last {
            align(graph, &mut x, r, (true, false));
        }
        for r in (0..last).rev() {
            align(graph, &mut x, r, (false, true));
        }
    }
    for _ in 0..BALANCE_ROUNDS {
        for r in 0..=last {
            align(graph, &mut x, r, (true, true));
        }
    }
    straighten(graph, &mut x);
    let min = x.iter().copied().fold(f64::INFINITY, f64::min);
    let min = if min.is_finite() { min } else { 0.0 };
    x.iter_mut().for_each(|v| *v -= min);
    let width = (0..x.len())
        .map(|v| x[v] + slot(graph, v))
        .fold(0.0, f64::max);
    let (y, row_top, row_bottom) = rows(graph);
    let height = row_bottom.last().copied().unwrap_or(0.0);
    Placed {
        x,
        y,
        row_top,
        row_bottom,
        width,
        height,
    }
}

/// Pulls each long edge's dummies onto one vertical line (their mean),
/// leaving states where they are as far as the gaps allow.
fn straighten(graph: &Layered, x: &mut [f64]) {
    let mut chain_of = vec![None; graph.vertices.len()];
    for (k, c) in graph.chains.iter().enumerate() {
        for &d in &c.path[1..c.path.len() - 1] {
            chain_of[d] = Some(k);
        }
    }
    for _ in 0..STRAIGHTEN_ROUNDS {
        let lines: Vec<f64> = graph
            .chains
            .iter()
            .map(|c| {
                let inner = &c.path[1..c.path.len() - 1];
                inner.iter().map(|d| x[*d]).sum::<f64>() / inner.len().max(1) as f64
            })
            .collect();
        for layer in &graph.layers {
            let mut targets = Vec::with_capacity(layer.len());
            let mut offset = 0.0;
            for (i, &v) in layer.iter().enumerate() {
                if i > 0 {
                    offset += slot(graph, layer[i - 1]) + gap(graph, layer[i - 1], v);
                }
                let (target, weight) = match chain_of[v] {
                    Some(k) => (lines[k], 10.0),
                    None => (x[v], 1.0),
                };
                targets.push((target - offset, weight, offset));
            }
            let solved = isotonic(&targets);
            for (i, &v) in layer.iter().enumerate() {
                x[v] = solved[i] + targets[i].2;
            }
        }
    }
}

fn slot(graph: &Layered, v: usize) -> f64 {
    let vertex = &graph.vertices[v];
    f64::from(vertex.w + vertex.extra_w)
}

/// Places rank `r` as near as its order and gaps allow to the weighted
/// mean of its neighbours above and/or below (`look`).
fn align(graph: &Layered, x: &mut [f64], r: usize, look: (bool, bool)) {
    let layer = &graph.layers[r];
    let mut targets = Vec::with_capacity(layer.len());
    let mut offset = 0.0;
    for (i, &v) in layer.iter().enumerate() {
        if i > 0 {
            offset += slot(graph, layer[i - 1]) + gap(graph, layer[i - 1], v);
        }
        let near = graph.up[v]
            .iter()
            .filter(|_| look.0)
            .chain(graph.down[v].iter().filter(|_| look.1));
        let (mut sum, mut weight) = (0.0, 0.0);
        for &w in near {
            let p = pull(graph, v, w);
            sum += p * (x[w] + anchor(graph, w));
            weight += p;
        }
        let (target, weight) = if weight > 0.0 {
            (sum / weight - anchor(graph, v), weight)
        } else {
            (x[v], 0.01)
        };
        targets.push((target - offset, weight, offset));
    }
    let solved = isotonic(&targets);
    for (i, &v) in layer.iter().enumerate() {
        x[v] = solved[i] + targets[i].2;
    }
}

/// The non-decreasing sequence closest to `targets` (value, weight) in
/// weighted least squares: pool-adjacent-violators.
fn isotonic(targets: &[(f64, f64, f64)]) -> Vec<f64> {
    // Blocks: (mean, weight, length).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(targets.len());
    for &(value, weight, _) in targets {
        blocks.push((value, weight, 1));
        while blocks.len() > 1 {
            let (b, a) = (blocks[blocks.len() - 1], blocks[blocks.len() - 2]);
            if a.0 <= b.0 {
                break;
            }
            let w = a.1 + b.1;
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = ((a.0 * a.1 + b.0 * b.1) / w, w, a.2 + b.2);
        }
    }
    blocks
        .into_iter()
        .flat_map(|(mean, _, len)| std::iter::repeat_n(mean, len))
        .collect()
}

/// Each vertex's top (centred in its row) and each row's extent.
fn rows(graph: &Layered) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut y = vec![0.0; graph.vertices.len()];
    let (mut tops, mut bottoms) = (Vec::new(), Vec::new());
    let mut top = 0.0;
    for layer in &graph.layers {
        let h = layer
            .iter()
            .map(|v| f64::from(graph.vertices[*v].h))
            .fold(0.0, f64::max);
        for &v in layer {
            y[v] = top + (h - f64::from(graph.vertices[v].h)) / 2.0;
        }
        tops.push(top);
        bottoms.push(top + h);
        top += h + GAP_ROWS;
    }
    (y, tops, bottoms)
}
