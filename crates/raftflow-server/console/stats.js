// Statistics pages: a state machine's executions over a window (counts by
// status, success rate, duration percentiles) and the overview's busiest
// state machines. Charts are SVG drawn here; the numbers come from
// /api/statistics (replicated buckets, the same on every node).
"use strict";

const STATUS_COLOURS = [["succeeded", "var(--ok)"], ["failed", "var(--fail)"], ["timed_out", "#9b3b8f"], ["aborted", "var(--caught)"]];

const percent = (rate) => (rate === null || rate === undefined ? "—" : `${rate.toFixed(rate >= 99.95 || rate === 0 ? 0 : 1)}%`);
const ms = (v) => (v === null || v === undefined ? "—" : duration(v));

function chartSvg(width, height) {
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", class: "chart" });
}

// Executions that ended in each bucket, stacked by status; started as a line.
function countsChart(view) {
  const W = 1200, H = 180, pad = 28;
  const root = chartSvg(W, H + pad);
  const n = view.buckets.length;
  const ended = (b) => b.succeeded + b.failed + b.timed_out + b.aborted;
  const top = Math.max(1, ...view.buckets.map((b) => Math.max(ended(b), b.started)));
  const bw = W / n;
  view.buckets.forEach((b, i) => {
    let y = H;
    for (const [key, colour] of STATUS_COLOURS) {
      const h = (b[key] / top) * (H - 8);
      if (h <= 0) continue;
      y -= h;
      svg("rect", { x: i * bw + 0.5, y, width: Math.max(1, bw - 1), height: h, fill: colour, class: `bar ${key}` }, root)
        .appendChild(svg("title", {})).textContent = `${new Date(b.start_ms).toLocaleString()}: ${b[key]} ${key.replace("_", " ")}`;
    }
  });
  const line = view.buckets.map((b, i) => `${i ? "L" : "M"} ${(i + 0.5) * bw} ${H - (b.started / top) * (H - 8)}`).join(" ");
  svg("path", { d: line, class: "started-line" }, root);
  axis(root, view, W, H, `${top}`);
  return root;
}

// p50 and p95 of durations per bucket (buckets without ended runs skipped).
function durationChart(view) {
  const W = 1200, H = 140, pad = 28;
  const root = chartSvg(W, H + pad);
  const n = view.buckets.length;
  const bw = W / n;
  const top = Math.max(1, ...view.buckets.map((b) => b.p95_ms || 0));
  for (const [key, cls] of [["p95_ms", "p95-line"], ["p50_ms", "p50-line"]]) {
    let d = "";
    view.buckets.forEach((b, i) => {
      if (b[key] === null) return;
      const [x, y] = [(i + 0.5) * bw, H - (b[key] / top) * (H - 8)];
      d += `${d ? "L" : "M"} ${x} ${y} `;
      svg("circle", { cx: x, cy: y, r: 2.5, class: cls }, root)
        .appendChild(svg("title", {})).textContent = `${new Date(b.start_ms).toLocaleString()}: ${key.slice(0, 3)} ${duration(b[key])}`;
    });
    if (d) svg("path", { d, class: cls }, root);
  }
  axis(root, view, W, H, duration(top));
  return root;
}

function axis(root, view, W, H, topLabel) {
  svg("line", { x1: 0, y1: H, x2: W, y2: H, class: "axis" }, root);
  svg("text", { x: 2, y: 12, class: "axis-label" }, root).textContent = topLabel;
  const first = new Date(view.from_ms), last = new Date(view.to_ms);
  const fmt = (d) => (view.window === "hour" ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit" }));
  svg("text", { x: 2, y: H + 18, class: "axis-label" }, root).textContent = fmt(first);
  svg("text", { x: W - 2, y: H + 18, class: "axis-label", "text-anchor": "end" }, root).textContent = fmt(last);
}

function sparkline(view) {
  const W = 120, H = 24;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "sparkline" });
  const top = Math.max(1, ...view.buckets.map((b) => b.started));
  const bw = W / view.buckets.length;
  const d = view.buckets.map((b, i) => `${i ? "L" : "M"} ${(i + 0.5) * bw} ${H - 2 - (b.started / top) * (H - 4)}`).join(" ");
  svg("path", { d, class: "started-line" }, root);
  return root;
}

function summaryCards(s) {
  const card = (label, value, cls) => h("div", { class: `stat ${cls || ""}` }, h("div", { class: "stat-value" }, value), h("div", { class: "muted" }, label));
  return h("div", { class: "stats", id: "stats-summary" },
    card("started", s.started), card("succeeded", s.succeeded, "ok"), card("failed", s.failed, s.failed ? "bad" : ""),
    card("timed out", s.timed_out, s.timed_out ? "bad" : ""), card("aborted", s.aborted),
    card("success rate", percent(s.success_rate)), card("p50", ms(s.p50_ms)), card("p95", ms(s.p95_ms)), card("p99", ms(s.p99_ms)));
}

// Each state's visits over the window, where the most time went first;
// the bar is the state's share of all the time spent in states.
function statesCard(states) {
  const all = states.reduce((sum, s) => sum + s.total_ms, 0) || 1;
  const share = (s) => {
    const bar = svg("svg", { viewBox: "0 0 100 8", width: 100, height: 8, class: "share" });
    svg("rect", { x: 0, y: 0, width: (100 * s.total_ms) / all, height: 8, class: "share-bar" }, bar);
    return bar;
  };
  const rows = states.map((s) => h("tr", { class: "state-row" },
    h("td", {}, s.name), h("td", {}, s.succeeded + s.caught + s.failed),
    h("td", { class: s.caught ? "caught" : "" }, s.caught), h("td", { class: s.failed ? "bad" : "" }, s.failed),
    h("td", {}, s.retries), h("td", {}, ms(s.p50_ms)), h("td", {}, ms(s.p95_ms)), h("td", {}, ms(s.p99_ms)),
    h("td", {}, share(s))));
  return h("div", { class: "card" }, h("h2", {}, "States (where the time went)"),
    rows.length ? h("table", { id: "state-stats" }, h("tr", {}, ["State", "Visits", "Caught", "Failed", "Retries", "p50", "p95", "p99", "Time"].map((t) => h("th", {}, t))), rows)
      : h("p", { class: "muted" }, "No state ended a visit in this window."));
}

async function statsPage(name, params) {
  const window_ = params.get("window") || "day";
  const version = params.get("version") || "";
  const q = new URLSearchParams({ state_machine: name, window: window_ });
  if (version) q.set("version", version);
  const [st, sm] = await Promise.all([api(`/api/statistics?${q}`), api(`/api/state-machines/${encodeURIComponent(name)}?version=0`)]);
  const go_ = (key, value) => { const next = new URLSearchParams(params); if (value) next.set(key, value); else next.delete(key); location.hash = `#/stats/${encodeURIComponent(name)}?${next}`; };
  const windows = h("select", { id: "f-window" }, ["hour", "day", "week"].map((w) => {
    const o = h("option", { value: w }, `last ${w}`);
    if (w === window_) o.selected = true;
    return o;
  }));
  windows.addEventListener("change", () => go_("window", windows.value));
  const versions = h("select", { id: "f-version" }, h("option", { value: "" }, "all versions"),
    Array.from({ length: sm.latest }, (_, i) => sm.latest - i).map((v) => {
      const o = h("option", { value: v }, `version ${v}`);
      if (String(v) === version) o.selected = true;
      return o;
    }));
  versions.addEventListener("change", () => go_("version", versions.value));
  const legendRow = h("div", { class: "legend" }, STATUS_COLOURS.map(([k, c]) => {
    const i = h("i", {}); i.style.background = c; return h("span", {}, i, k.replace("_", " "));
  }), h("span", {}, h("b", { class: "started-key" }, "—"), " started"));
  view.replaceChildren(h("h1", {}, "Statistics: ", h("a", { href: `#/sm/${encodeURIComponent(name)}` }, name)),
    h("div", { class: "card" }, h("div", { class: "filters" }, windows, versions,
      h("a", { href: `#/executions?state_machine=${encodeURIComponent(name)}` }, "executions →")),
      summaryCards(st.summary),
      cliHint(`raftflow workflow stats ${name} --window ${window_}${version ? ` --version ${version}` : ""}`)),
    h("div", { class: "card" }, h("h2", {}, "Executions ended per ", st.grain_ms === 60000 ? "minute" : "hour"), legendRow, countsChart(st)),
    h("div", { class: "card" }, h("h2", {}, "Duration (p50, p95)"), durationChart(st)),
    statesCard(st.states || []));
}

// The overview's card: the five state machines busiest over the last day.
async function busiestCard() {
  const views = await api("/api/statistics/busiest");
  const rows = views.map((v) => h("tr", { class: "clickable busy", onclick: go(`#/stats/${encodeURIComponent(v.state_machine)}`) },
    h("td", {}, v.state_machine), h("td", {}, v.summary.started), h("td", {}, percent(v.summary.success_rate)),
    h("td", {}, ms(v.summary.p95_ms)), h("td", {}, sparkline(v))));
  return h("div", { class: "card" }, h("h2", {}, "Busiest state machines (last day)"),
    rows.length ? h("table", { id: "busiest" }, h("tr", {}, ["State machine", "Started", "Success", "p95", "Last 24 h"].map((t) => h("th", {}, t))), rows)
      : h("p", { class: "muted" }, "No executions in the last day."));
}
