// The state machine graph: draws the server's layout (boxes, polylines and
// label boxes computed by raftflow_core::layout) as SVG, colours each state
// by what the history says, and lets the reader zoom, pan and fit.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
// Zoom and pan per page, so a refresh of a live page keeps the view.
const views = new Map();

function svg(tag, attrs, parent) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

function drawState(root, n, s, selected, onSelect, nowMs) {
  const classes = n.kind === "Branch" ? ["branch"] : ["state"];
  if (n.container && n.kind !== "Branch") classes.push("container");
  if (s && s.status) classes.push(`st-${s.status}`);
  if (n.name === selected) classes.push("selected");
  const g = svg("g", { class: classes.join(" "), "data-state": n.name, "data-status": (s && s.status) || "not-reached" }, root);
  svg("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: 6 }, g);
  if (n.kind === "Branch") {
    svg("text", { x: n.x + 8, y: n.y + 16, class: "branch-label" }, g).textContent = n.name;
    return;
  }
  const name = svg("text", { x: n.x + n.w / 2, y: n.y + 19, "text-anchor": "middle", class: "state-name" }, g);
  name.textContent = n.name;
  const sub = stateSummary(n.kind, s, nowMs);
  const line = svg("text", { x: n.x + n.w / 2, y: n.container ? n.y + 19 : n.y + 37, "text-anchor": "middle", class: "state-sub" }, g);
  line.textContent = n.container ? "" : sub;
  line.dataset.full = sub;
  line.dataset.room = n.w - 12;
  svg("title", {}, g).textContent = `${n.name}: ${sub}`;
  g.addEventListener("click", (ev) => { ev.stopPropagation(); onSelect(n.name); });
}

function drawEdge(root, e, k) {
  const d = e.points.map((p, i) => `${i ? "L" : "M"} ${p[0]} ${p[1]}`).join(" ");
  const path = svg("path", { d, class: e.back ? "edge back" : "edge", "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to, "data-edge": k }, root);
  if (e.title) svg("title", {}, path).textContent = e.title;
  if (!e.label_box) return;
  const b = e.label_box;
  svg("rect", { x: b.x, y: b.y, width: b.w, height: b.h, class: "label-back" }, root);
  const text = svg("text", { x: b.x + 2, y: b.y + 12, class: "edge-label", "data-edge": k }, root);
  text.textContent = e.label;
  svg("title", {}, text).textContent = e.title;
}

// Draws `layout` (from /api/state-machines/{name}); `statuses` may be empty.
// Returns the graph's element; call `mountGraph` once it is in the page.
function drawGraph(layout, statuses, selected, onSelect) {
  const root = svg("svg", { class: "graph-svg", "data-width": layout.width, "data-height": layout.height });
  const defs = svg("defs", {}, root);
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
  svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#8791a5" }, marker);
  const nowMs = Date.now();
  // Containers first, so that the states inside them are drawn on top.
  const ordered = [...layout.nodes].sort((a, b) => (b.container ? 1 : 0) - (a.container ? 1 : 0));
  for (const n of ordered) drawState(root, n, statuses.get(n.name), selected, onSelect, nowMs);
  layout.edges.forEach((e, k) => drawEdge(root, e, k));
  const host = document.createElement("div");
  host.className = "graph";
  const tools = document.createElement("div");
  tools.className = "graph-tools";
  for (const [label, act] of [["Fit", "fit"], ["−", "out"], ["+", "in"], ["100%", "one"]]) {
    const b = document.createElement("button");
    b.textContent = label;
    b.dataset.act = act;
    tools.appendChild(b);
  }
  host.append(tools, root);
  if (layout.note) {
    const note = document.createElement("p");
    note.className = "muted graph-note";
    note.textContent = `This definition is ${layout.note}.`;
    host.prepend(note);
  }
  return host;
}

// Once the graph is in the page: measure what the browser drew (labels'
// boxes, for the geometry test; state lines cut to fit), then fit the
// picture to its panel and wire zoom and pan.
function mountGraph(host, key) {
  const root = host.querySelector("svg");
  if (!root) return;
  for (const t of root.querySelectorAll("text.state-sub")) {
    const full = t.dataset.full || "";
    const room = Number(t.dataset.room);
    let cut = full.length;
    while (cut > 0 && t.getComputedTextLength() > room) { cut -= 1; t.textContent = `${full.slice(0, cut)}…`; }
  }
  for (const t of root.querySelectorAll("text.edge-label, text.state-name")) {
    const b = t.getBBox();
    t.dataset.box = [b.x, b.y, b.width, b.height].map((v) => Math.round(v * 10) / 10).join(" ");
  }
  const width = Number(root.dataset.width), height = Number(root.dataset.height);
  const view = views.get(key) || {};
  const apply = () => {
    const w = host.clientWidth || width;
    const h = root.clientHeight || height;
    root.setAttribute("viewBox", `${view.x} ${view.y} ${w / view.k} ${h / view.k}`);
    root.dataset.zoom = view.k.toFixed(3);
    views.set(key, view);
  };
  const fit = () => {
    const w = host.clientWidth || width;
    view.k = Math.min(1, w / width);
    const h = Math.min(height * view.k, Math.max(360, window.innerHeight * 0.8));
    root.style.height = `${Math.ceil(h)}px`;
    view.k = Math.min(view.k, h / height);
    view.x = -(w / view.k - width) / 2;
    view.y = -(h / view.k - height) / 2;
    apply();
  };
  const zoom = (factor, cx, cy) => {
    const k = Math.min(4, Math.max(0.1, view.k * factor));
    view.x = cx - (cx - view.x) * (view.k / k);
    view.y = cy - (cy - view.y) * (view.k / k);
    view.k = k;
    apply();
  };
  const centre = () => [view.x + host.clientWidth / view.k / 2, view.y + root.clientHeight / view.k / 2];
  if (view.k === undefined) fit();
  else { root.style.height = view.h; apply(); }
  host.querySelector(".graph-tools").addEventListener("click", (ev) => {
    const act = ev.target.dataset.act;
    if (act === "fit") fit();
    else if (act === "in") zoom(1.25, ...centre());
    else if (act === "out") zoom(0.8, ...centre());
    else if (act === "one") zoom(1 / view.k, ...centre());
  });
  root.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = root.getBoundingClientRect();
    zoom(ev.deltaY < 0 ? 1.15 : 1 / 1.15, view.x + (ev.clientX - r.left) / view.k, view.y + (ev.clientY - r.top) / view.k);
  }, { passive: false });
  let drag = null;
  root.addEventListener("pointerdown", (ev) => { drag = [ev.clientX, ev.clientY]; });
  for (const end of ["pointerup", "pointerleave"]) root.addEventListener(end, () => { drag = null; });
  root.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    view.x -= (ev.clientX - drag[0]) / view.k;
    view.y -= (ev.clientY - drag[1]) / view.k;
    drag = [ev.clientX, ev.clientY];
    apply();
  });
  view.h = root.style.height;
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
