//! The layered graph of one scope: states and dummies in ranks, every
//! transition a chain of vertices one rank apart.
//!
//! Loops are broken by reversing the edges a depth-first walk from StartAt
//! finds closing a cycle (the retry loops and compensations that go back
//! up). Ranks are longest paths from the top, then doubled: every edge then
//! spans at least two ranks and has a dummy in between, and a labelled
//! edge's label is that dummy's box — so labels are laid out like states and
//! cannot overlap them or each other.

use super::{cut_label, text_w, Sized, LABEL_CHAR_W, LABEL_H};
use crate::definition::StateMachine;

/// Room a loop from a state to itself takes right of its box (the label
/// comes after it).
pub(super) const LOOP_W: u32 = 22;
/// A label's box is this much wider than its text: the edge runs down its
/// left side.
pub(super) const LABEL_INSET: u32 = 6;

pub(super) struct Vertex {
    /// The state this vertex draws (index into the scope's states); `None`
    /// for a dummy.
    pub state: Option<usize>,
    pub rank: usize,
    /// The drawn box: a state's, a label's, or 0×0 for a bare dummy.
    pub w: u32,
    pub h: u32,
    /// Width kept free right of the box (a self-loop and its label).
    pub extra_w: u32,
}

/// One transition, as a chain of vertices one rank apart.
pub(super) struct Chain {
    pub from: usize,
    pub to: usize,
    pub label: String,
    /// Reversed to break a cycle: `path` runs from `to` down to `from`.
    pub back: bool,
    /// Vertices from the upper end (a state) to the lower end (a state).
    pub path: Vec<usize>,
    /// Position in `path` of the dummy whose box is the label.
    pub label_at: Option<usize>,
}

/// A transition from a state to itself: drawn as a loop on its right.
pub(super) struct SelfLoop {
    pub state: usize,
    pub label: String,
}

pub(super) struct Layered {
    pub vertices: Vec<Vertex>,
    pub chains: Vec<Chain>,
    pub loops: Vec<SelfLoop>,
    /// Vertex ids per rank, left to right.
    pub layers: Vec<Vec<usize>>,
    /// Neighbours one rank up and one rank down.
    pub up: Vec<Vec<usize>>,
    pub down: Vec<Vec<usize>>,
}

/// The scope's transitions, resolved to state indices, in document order.
fn transitions(machine: &StateMachine) -> Vec<(usize, usize, String)> {
    let index = |name: &str| machine.states.iter().position(|s| s.name == name);
    let mut out = Vec::new();
    for (i, state) in machine.states.iter().enumerate() {
        for (next, label) in state.successors() {
            if let Some(j) = index(&next) {
                out.push((i, j, label));
            }
        }
    }
    out
}

/// Which transitions close a cycle, by an iterative depth-first walk from
/// StartAt, then from each state not yet reached, in document order.
fn back_edges(n: usize, start: usize, edges: &[(usize, usize, String)]) -> Vec<bool> {
    let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (k, (a, _, _)) in edges.iter().enumerate() {
        out_edges[*a].push(k);
    }
    let mut back = vec![false; edges.len()];
    // 0: not seen, 1: on the walk's stack, 2: done.
    let mut mark = vec![0u8; n];
    for root in std::iter::once(start).chain(0..n).filter(|r| *r < n) {
        if mark[root] != 0 {
            continue;
        }
        mark[root] = 1;
        let mut stack = vec![(root, 0usize)];
        while let Some((v, next)) = stack.last_mut() {
            let v = *v;
            let Some(&k) = out_edges[v].get(*next) else {
                mark[v] = 2;
                stack.pop();
                continue;
            };
            *next += 1;
            let w = edges[k].1;
            match mark[w] {
                0 => {
                    mark[w] = 1;
                    stack.push((w, 0));
                }
                1 => back[k] = true,
                _ => {}
            }
        }
    }
    back
}

/// Longest-path ranks over the acyclic edges, with states that nothing
/// leads to pulled down next to what they lead to.
fn ranks(n: usize, start: usize, dag: &[(usize, usize)]) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in dag {
        indegree[b] += 1;
        succ[a].push(b);
    }
    let sources: Vec<bool> = indegree.iter().map(|d| *d == 0).collect();
    let mut topo: Vec<usize> = (0..n).filter(|v| indegree[*v] == 0).collect();
    let mut rank = vec![0usize; n];
    let mut i = 0;
    while let Some(&v) = topo.get(i) {
        i += 1;
        for &w in &succ[v] {
            rank[w] = rank[w].max(rank[v] + 1);
            indegree[w] -= 1;
            if indegree[w] == 0 {
                topo.push(w);
            }
        }
    }
    debug_assert_eq!(topo.len(), n, "back edges leave no cycle");
    for &v in topo.iter().rev() {
        if sources[v] && v != start {
            if let Some(lowest) = succ[v].iter().map(|w| rank[*w]).min() {
                rank[v] = lowest.saturating_sub(1);
            }
        }
    }
    rank
}

/// The layered graph of `machine`, its states sized by `sized`.
/// `None` when the graph needs more vertices than `budget` has left.
pub(super) fn build(
    machine: &StateMachine,
    sized: &[Sized],
    budget: &std::cell::Cell<usize>,
) -> Option<Layered> {
    let n = machine.states.len();
    let start = machine
        .states
        .iter()
        .position(|s| s.name == machine.start_at)
        .unwrap_or(0);
    let all = transitions(machine);
    let (loops, edges): (Vec<_>, Vec<_>) = all.into_iter().partition(|(a, b, _)| a == b);
    let back = back_edges(n, start, &edges);
    let dag: Vec<(usize, usize)> = edges
        .iter()
        .zip(&back)
        .map(|((a, b, _), r)| if *r { (*b, *a) } else { (*a, *b) })
        .collect();
    let rank = ranks(n, start, &dag);
    // States, and a dummy per rank an edge crosses (ranks are doubled).
    let dummies: usize = dag
        .iter()
        .map(|(a, b)| (2 * rank[*b]).saturating_sub(2 * rank[*a] + 1))
        .fold(0, usize::saturating_add);
    let needed = dummies.saturating_add(n);
    budget.set(budget.get().checked_sub(needed)?);
    let loops = merge_loops(loops);
    let mut vertices: Vec<Vertex> = (0..n)
        .map(|i| Vertex {
            state: Some(i),
            rank: 2 * rank[i],
            w: sized[i].w,
            h: sized[i].h,
            extra_w: loop_room(&loops, i),
        })
        .collect();
    let mut chains = Vec::with_capacity(edges.len());
    for ((from, to, label), (&(upper, lower), &back)) in
        edges.into_iter().zip(dag.iter().zip(&back))
    {
        let (top, bottom) = (vertices[upper].rank, vertices[lower].rank);
        let mut path = vec![upper];
        for r in top + 1..bottom {
            path.push(vertices.len());
            vertices.push(Vertex {
                state: None,
                rank: r,
                w: 0,
                h: 0,
                extra_w: 0,
            });
        }
        path.push(lower);
        let label_at = (!label.is_empty()).then(|| if back { path.len() - 2 } else { 1 });
        if let Some(at) = label_at {
            let v = &mut vertices[path[at]];
            v.w = text_w(&cut_label(&label), LABEL_CHAR_W) + LABEL_INSET + 4;
            v.h = LABEL_H;
        }
        chains.push(Chain {
            from,
            to,
            label,
            back,
            path,
            label_at,
        });
    }
    Some(link(vertices, chains, loops, start))
}

/// A state's loops to itself as one loop whose label names them all (two
/// loops on one side would draw over each other).
fn merge_loops(loops: Vec<(usize, usize, String)>) -> Vec<SelfLoop> {
    let mut out: Vec<SelfLoop> = Vec::new();
    for (state, _, label) in loops {
        match out.iter_mut().find(|l| l.state == state) {
            Some(l) if !label.is_empty() => {
                if !l.label.is_empty() {
                    l.label.push_str(", ");
                }
                l.label.push_str(&label);
            }
            Some(_) => {}
            None => out.push(SelfLoop { state, label }),
        }
    }
    out
}

fn loop_room(loops: &[SelfLoop], state: usize) -> u32 {
    loops
        .iter()
        .filter(|l| l.state == state)
        .map(|l| LOOP_W + text_w(&cut_label(&l.label), LABEL_CHAR_W) + 8)
        .max()
        .unwrap_or(0)
}

/// Adjacency and a first order of each rank: depth-first from StartAt, so
/// that a branch's states start out side by side.
fn link(vertices: Vec<Vertex>, chains: Vec<Chain>, loops: Vec<SelfLoop>, start: usize) -> Layered {
    let n = vertices.len();
    let mut up = vec![Vec::new(); n];
    let mut down = vec![Vec::new(); n];
    for c in &chains {
        for pair in c.path.windows(2) {
            down[pair[0]].push(pair[1]);
            up[pair[1]].push(pair[0]);
        }
    }
    let mut seen = vec![false; n];
    let depth = vertices.iter().map(|v| v.rank).max().unwrap_or(0);
    let mut layers = vec![Vec::new(); depth + 1];
    for root in std::iter::once(start).chain(0..n) {
        if root >= n || seen[root] {
            continue;
        }
        let mut stack = vec![root];
        while let Some(v) = stack.pop() {
            if std::mem::replace(&mut seen[v], true) {
                continue;
            }
            layers[vertices[v].rank].push(v);
            stack.extend(down[v].iter().rev().filter(|w| !seen[**w]));
        }
    }
    Layered {
        vertices,
        chains,
        loops,
        layers,
        up,
        down,
    }
}
