//! A checker for drawings: what "readable" means for the graph, stated as
//! geometry. It runs on the layouts this module makes (every fixture, in
//! the tests) and on what the browser rendered (the console test rebuilds
//! a `Layout` from the SVG, with label boxes as the browser measured them).

use super::{Layout, Node, Rect};

/// One thing wrong with a drawing, naming what is wrong with what.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("states `{0}` and `{1}` overlap")]
    StatesOverlap(String, String),
    #[error("the edge {edge} passes through state `{state}`")]
    EdgeThroughState { edge: String, state: String },
    #[error("the edge {0} does not start at its source and end at its target")]
    Detached(String),
    #[error("the labels of {0} and {1} overlap")]
    LabelsOverlap(String, String),
    #[error("the label of {edge} lies on state `{state}`")]
    LabelOnState { edge: String, state: String },
    #[error("the edge {edge} passes through the label of {label}")]
    EdgeThroughLabel { edge: String, label: String },
    #[error("`{0}` lies outside the drawing")]
    OutOfBounds(String),
}

/// Every problem of `layout`; empty when it is readable.
pub fn check(layout: &Layout) -> Vec<Problem> {
    let mut out = Vec::new();
    let nodes = &layout.nodes;
    for n in nodes {
        if n.x + n.w > layout.width || n.y + n.h > layout.height {
            out.push(Problem::OutOfBounds(n.name.clone()));
        }
    }
    for (i, a) in nodes.iter().enumerate() {
        for b in &nodes[i + 1..] {
            let nested = encloses(a, b) || encloses(b, a);
            if !nested && overlap(rect(a), rect(b)) {
                out.push(Problem::StatesOverlap(a.name.clone(), b.name.clone()));
            }
        }
    }
    let name = |e: &super::Edge| format!("{} → {} ({})", e.from, e.to, e.label);
    for e in &layout.edges {
        edge_problems(layout, e, &name(e), &mut out);
    }
    let labelled: Vec<_> = layout
        .edges
        .iter()
        .filter(|e| e.label_box.is_some())
        .collect();
    for (i, a) in labelled.iter().enumerate() {
        let ra = a.label_box.expect("filtered");
        for b in &labelled[i + 1..] {
            if overlap(ra, b.label_box.expect("filtered")) {
                out.push(Problem::LabelsOverlap(name(a), name(b)));
            }
        }
        for e in &layout.edges {
            let own = std::ptr::eq(e, *a);
            if !own && e.points.windows(2).any(|s| crosses(s[0], s[1], ra)) {
                out.push(Problem::EdgeThroughLabel {
                    edge: name(e),
                    label: name(a),
                });
            }
        }
    }
    out
}

/// What an edge may touch: its ends and the containers around them.
fn edge_problems(layout: &Layout, e: &super::Edge, name: &str, out: &mut Vec<Problem>) {
    let find = |n: &str| layout.nodes.iter().find(|x| x.name == n);
    let (Some(from), Some(to)) = (find(&e.from), find(&e.to)) else {
        out.push(Problem::Detached(name.to_string()));
        return;
    };
    let (first, last) = (e.points.first(), e.points.last());
    let attached = first.is_some_and(|p| on_border(*p, rect(from)))
        && last.is_some_and(|p| on_border(*p, rect(to)));
    if !attached {
        out.push(Problem::Detached(name.to_string()));
    }
    let exempt = |n: &Node| {
        std::ptr::eq(n, from) || std::ptr::eq(n, to) || encloses(n, from) || encloses(n, to)
    };
    for n in layout.nodes.iter().filter(|n| !exempt(n)) {
        if e.points.windows(2).any(|s| crosses(s[0], s[1], rect(n))) {
            out.push(Problem::EdgeThroughState {
                edge: name.to_string(),
                state: n.name.clone(),
            });
        }
    }
    if let Some(label) = e.label_box {
        let on = layout
            .nodes
            .iter()
            .find(|n| !encloses(n, from) && overlap(rect(n), label));
        if let Some(n) = on {
            out.push(Problem::LabelOnState {
                edge: name.to_string(),
                state: n.name.clone(),
            });
        }
    }
}

fn rect(n: &Node) -> Rect {
    Rect {
        x: n.x,
        y: n.y,
        w: n.w,
        h: n.h,
    }
}

/// `outer` is a container drawn around `inner`.
fn encloses(outer: &Node, inner: &Node) -> bool {
    outer.container
        && !std::ptr::eq(outer, inner)
        && outer.x <= inner.x
        && outer.y <= inner.y
        && inner.x + inner.w <= outer.x + outer.w
        && inner.y + inner.h <= outer.y + outer.h
}

/// The interiors meet (touching sides is allowed).
fn overlap(a: Rect, b: Rect) -> bool {
    a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
}

/// Within a pixel of the rectangle's outline.
fn on_border(p: [u32; 2], r: Rect) -> bool {
    let (x, y) = (f64::from(p[0]), f64::from(p[1]));
    let (l, t) = (f64::from(r.x), f64::from(r.y));
    let (rt, b) = (l + f64::from(r.w), t + f64::from(r.h));
    let inside_grown = x >= l - 1.0 && x <= rt + 1.0 && y >= t - 1.0 && y <= b + 1.0;
    let inside_shrunk = x > l + 1.0 && x < rt - 1.0 && y > t + 1.0 && y < b - 1.0;
    inside_grown && !inside_shrunk
}

/// Segment `a`–`b` passes through the inside of `r` shrunk by a pixel
/// (Liang–Barsky clipping).
fn crosses(a: [u32; 2], b: [u32; 2], r: Rect) -> bool {
    let (x0, y0) = (f64::from(a[0]), f64::from(a[1]));
    let (dx, dy) = (f64::from(b[0]) - x0, f64::from(b[1]) - y0);
    let (l, t) = (f64::from(r.x) + 1.0, f64::from(r.y) + 1.0);
    let (rt, bt) = (f64::from(r.x + r.w) - 1.0, f64::from(r.y + r.h) - 1.0);
    if rt <= l || bt <= t {
        return false;
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for (p, q) in [(-dx, x0 - l), (dx, rt - x0), (-dy, y0 - t), (dy, bt - y0)] {
        if p == 0.0 {
            if q <= 0.0 {
                return false;
            }
        } else {
            let ratio = q / p;
            if p < 0.0 {
                lo = lo.max(ratio);
            } else {
                hi = hi.min(ratio);
            }
        }
    }
    lo < hi
}
