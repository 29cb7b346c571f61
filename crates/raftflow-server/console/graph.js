// The state machine graph: draws the server's layout as SVG and colours each
// state by what the execution's history says happened to it.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, parent) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

// What happened to each state, from the history (events name their state).
// status: running | succeeded | failed | retried | caught (absent: not reached).
function stateStatuses(events, executionStatus, layout) {
  const states = new Map();
  const kinds = new Map((layout ? layout.nodes : []).map((n) => [n.name, n.kind]));
  const get = (name) => {
    if (!states.has(name)) {
      states.set(name, { entered: 0, exited: 0, open: 0, attempts: 0, failures: 0, retried: false,
        caught: false, pendingFailure: false, input: undefined, output: undefined, error: null, cause: null });
    }
    return states.get(name);
  };
  for (const e of events) {
    const d = e.details || {};
    if (!d.name) continue;
    const s = get(d.name);
    const t = e.type;
    if (t.endsWith("StateEntered")) {
      s.entered += 1; s.open += 1; s.input = d.input;
    } else if (t.endsWith("StateExited")) {
      s.exited += 1; s.open = Math.max(0, s.open - 1); s.output = d.output;
      if (s.pendingFailure) { s.caught = true; s.pendingFailure = false; }
    } else if (t === "ActivityScheduled") {
      s.attempts += 1;
      if (s.pendingFailure) { s.retried = true; s.pendingFailure = false; }
    } else if (t === "ActivityReturned") {
      // A hand-out to a withdrawn poll: scheduled again, not a new attempt.
      s.attempts = Math.max(0, s.attempts - 1);
    } else if (t === "ActivityFailed" || t === "ActivityTimedOut" || t === "ParallelStateFailed" || t === "MapStateFailed") {
      s.failures += 1; s.pendingFailure = true; s.error = d.error; s.cause = d.cause || null;
    }
  }
  for (const [name, s] of states) {
    if (s.entered === 0) { s.status = null; continue; }
    if (kinds.get(name) === "Fail") s.status = "failed";
    else if (s.open > 0) s.status = executionStatus === "RUNNING" ? "running" : "failed";
    else if (s.caught) s.status = "caught";
    else if (s.retried) s.status = "retried";
    else s.status = "succeeded";
  }
  return states;
}

// Draws `layout` (from /api/state-machines/{name}); `statuses` may be empty.
function drawGraph(layout, statuses, selected, onSelect) {
  const root = svg("svg", { width: layout.width, height: layout.height, viewBox: `0 0 ${layout.width} ${layout.height}` });
  const defs = svg("defs", {}, root);
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
  svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#8791a5" }, marker);
  const byName = new Map(layout.nodes.map((n) => [n.name, n]));
  // Containers first, so that the states inside them are drawn on top.
  const ordered = [...layout.nodes].sort((a, b) => (b.container ? 1 : 0) - (a.container ? 1 : 0));
  for (const n of ordered) {
    const s = statuses.get(n.name);
    const classes = n.kind === "Branch" ? ["branch"] : ["state"];
    if (n.container && n.kind !== "Branch") classes.push("container");
    if (s && s.status) classes.push(`st-${s.status}`);
    if (n.name === selected) classes.push("selected");
    const g = svg("g", { class: classes.join(" "), "data-state": n.name, "data-status": (s && s.status) || "not-reached" }, root);
    svg("rect", { x: n.x, y: n.y, width: n.w, height: n.h }, g);
    if (n.kind === "Branch") {
      svg("text", { x: n.x + 8, y: n.y + 16, class: "edge-label" }, g).textContent = n.name;
      continue;
    }
    const titleY = n.container ? n.y + 17 : n.y + 19;
    svg("text", { x: n.x + n.w / 2, y: titleY, "text-anchor": "middle", "font-weight": 600 }, g).textContent = n.name;
    let sub = n.kind;
    if (s && s.entered > 1) sub += ` ×${s.entered}`;
    if (s && s.attempts > 1) sub += ` · ${s.attempts} attempts`;
    if (!n.container) svg("text", { x: n.x + n.w / 2, y: n.y + 35, "text-anchor": "middle", class: "edge-label" }, g).textContent = sub;
    g.addEventListener("click", (ev) => { ev.stopPropagation(); onSelect(n.name); });
  }
  for (const e of layout.edges) {
    const a = byName.get(e.from), b = byName.get(e.to);
    if (!a || !b) continue;
    let d;
    if (e.back) {
      const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x + b.w, y2 = b.y + b.h / 2;
      const out = Math.max(x1, x2) + 40;
      d = `M ${x1} ${y1} C ${out} ${y1}, ${out} ${y2}, ${x2} ${y2}`;
    } else {
      const x1 = a.x + a.w / 2, y1 = a.y + a.h, x2 = b.x + b.w / 2, y2 = b.y;
      const mid = (y1 + y2) / 2;
      d = `M ${x1} ${y1} C ${x1} ${mid}, ${x2} ${mid}, ${x2} ${y2}`;
    }
    svg("path", { d, class: "edge", "marker-end": "url(#arrow)" }, root);
    if (e.label) {
      const lx = e.back ? Math.max(a.x + a.w, b.x + b.w) + 14 : (a.x + a.w / 2 + b.x + b.w / 2) / 2 + 4;
      const ly = e.back ? (a.y + b.y) / 2 + a.h / 2 : (a.y + a.h + b.y) / 2;
      svg("text", { x: lx, y: ly, class: "edge-label" }, root).textContent = e.label;
    }
  }
  return root;
}

function legend() {
  const el = document.createElement("div");
  el.className = "legend";
  for (const [label, color] of [["not reached", "#fff"], ["running", "#dbe7fd"], ["succeeded", "#d9f2e3"],
    ["retried", "#fbefcf"], ["caught", "#fde5cf"], ["failed", "#fbdcdc"]]) {
    const span = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = color;
    span.append(swatch, label);
    el.appendChild(span);
  }
  return el;
}
