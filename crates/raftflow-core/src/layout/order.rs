//! Crossing reduction: each rank sorted by the mean position of its
//! neighbours in the rank above (sweeping down) or below (sweeping up), the
//! order with the fewest crossings kept.

use super::rank::Layered;

/// Sweeps tried; a scope's graph is small and each sweep is linear but for
/// the sorts.
const SWEEPS: usize = 24;

pub(super) fn reduce_crossings(mut graph: Layered) -> Layered {
    let mut best = graph.layers.clone();
    let mut fewest = crossings(&graph);
    for sweep in 0..SWEEPS {
        if fewest == 0 {
            break;
        }
        let downward = sweep % 2 == 0;
        let ranks: Vec<usize> = if downward {
            (1..graph.layers.len()).collect()
        } else {
            (0..graph.layers.len().saturating_sub(1)).rev().collect()
        };
        for r in ranks {
            sort_rank(&mut graph, r, downward);
        }
        let now = crossings(&graph);
        if now < fewest {
            fewest = now;
            best = graph.layers.clone();
        }
    }
    graph.layers = best;
    graph
}

/// Positions of every vertex within its rank.
fn positions(graph: &Layered) -> Vec<usize> {
    let mut pos = vec![0; graph.vertices.len()];
    for layer in &graph.layers {
        for (i, v) in layer.iter().enumerate() {
            pos[*v] = i;
        }
    }
    pos
}

/// Sorts rank `r` by barycentre of the neighbours above (`downward`) or
/// below; a vertex without such neighbours keeps its place.
fn sort_rank(graph: &mut Layered, r: usize, downward: bool) {
    let pos = positions(graph);
    let near = if downward { &graph.up } else { &graph.down };
    let mut keyed: Vec<(f64, usize)> = graph.layers[r]
        .iter()
        .map(|&v| {
            let n = &near[v];
            let key = if n.is_empty() {
                pos[v] as f64
            } else {
                n.iter().map(|w| pos[*w] as f64).sum::<f64>() / n.len() as f64
            };
            (key, v)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    graph.layers[r] = keyed.into_iter().map(|(_, v)| v).collect();
}

/// Edge crossings between every two neighbouring ranks: inversions of the
/// lower ends once the edges are sorted by their upper ends (counted with
/// a Fenwick tree, so O(E log V)).
pub(super) fn crossings(graph: &Layered) -> usize {
    let pos = positions(graph);
    let mut total = 0;
    for r in 0..graph.layers.len().saturating_sub(1) {
        let mut ends: Vec<(usize, usize)> = graph.layers[r]
            .iter()
            .flat_map(|&v| graph.down[v].iter().map(move |w| (v, *w)))
            .map(|(v, w)| (pos[v], pos[w]))
            .collect();
        ends.sort_unstable();
        let size = graph.layers[r + 1].len();
        let mut tree = vec![0usize; size + 1];
        for (seen, &(_, lower)) in ends.iter().enumerate() {
            // Edges seen so far whose lower end is right of this one's.
            let mut at_most = 0;
            let mut i = lower + 1;
            while i > 0 {
                at_most += tree[i];
                i -= i & i.wrapping_neg();
            }
            total += seen - at_most;
            let mut i = lower + 1;
            while i <= size {
                tree[i] += 1;
                i += i & i.wrapping_neg();
            }
        }
    }
    total
}
