// The execution page: the graph coloured by the history, each state's
// attempts, the event table with its filters, and live updates.
"use strict";

// Every task attempt of a state: who ran it, when, how it ended, its data.
function attemptsTable(s) {
  if (!s.attempts.length) return null;
  const rows = s.attempts.map((a) => h("tr", { class: `attempt ${a.fate || a.outcome}` },
    h("td", {}, a.n), h("td", {}, a.worker || h("span", { class: "muted" }, "not started")),
    h("td", {}, a.startedMs ? new Date(a.startedMs).toLocaleTimeString() : "—"),
    h("td", {}, a.endedMs && a.startedMs ? duration(a.endedMs - a.startedMs) : "—"),
    h("td", {}, a.fate && a.fate !== a.outcome ? `${a.outcome}, ${a.fate}` : a.outcome,
      a.error ? h("div", { class: "error" }, `${a.error}${a.cause ? `: ${a.cause}` : ""}`) : null,
      h("details", {}, h("summary", {}, "input / output"), h("pre", {}, pretty(a.input)), h("pre", {}, pretty(a.output))))));
  return h("div", {}, h("h2", {}, "Attempts"),
    h("table", { id: "attempts" }, h("tr", {}, ["#", "Worker", "Started", "Took", "Outcome"].map((t) => h("th", {}, t))), rows));
}

function stateDetail(name, s) {
  if (!name) return h("p", { class: "muted" }, "Click a state to see its attempts, input and output.");
  if (!s) return h("h2", {}, name, " ", h("span", { class: "muted" }, "not reached"));
  const it = s.iterations;
  return h("div", {}, h("h2", {}, name, " ", s.status ? pill(s.status) : h("span", { class: "muted" }, "not reached")),
    h("div", { class: "kv" }, h("span", { class: "muted" }, "entered"), `${s.entered}×`,
      h("span", { class: "muted" }, "took"), s.firstMs !== null && s.lastMs !== null ? duration(s.lastMs - s.firstMs) : "—",
      it.started ? [h("span", { class: "muted" }, "items"), `${it.started} started, ${it.succeeded} succeeded, ${it.failed} failed`] : null),
    s.error ? h("p", { class: "error" }, `${s.error}: ${s.cause || ""}`) : null,
    attemptsTable(s),
    h("h2", {}, "Input"), h("pre", {}, pretty(s.input)), h("h2", {}, "Output"), h("pre", {}, pretty(s.output)));
}

// Filters of the event table live in the address (`etype`, `estate`), so a
// filtered history can be linked to and survives the live refresh.
function eventTable(id, all) {
  const q = new URLSearchParams((location.hash.split("?")[1]) || "");
  const distinct = (f) => [...new Set(all.map(f).filter(Boolean))].sort();
  const pick = (key, label, values) => {
    const el = h("select", { id: `f-${key}` }, h("option", { value: "" }, label), values.map((v) => {
      const o = h("option", { value: v }, v);
      if (q.get(key) === v) o.selected = true;
      return o;
    }));
    el.addEventListener("change", () => {
      if (el.value) q.set(key, el.value); else q.delete(key);
      history.replaceState(null, "", `#/exec/${encodeURIComponent(id)}?${q}`);
      route();
    });
    return el;
  };
  const [type, state] = [q.get("etype"), q.get("estate")];
  const shown = all.filter((ev) => (!type || ev.type === type) && (!state || (ev.details || {}).name === state));
  const rows = shown.map((ev) => h("tr", {}, h("td", {}, ev.id), h("td", {}, new Date(ev.timestamp_ms).toLocaleTimeString()),
    h("td", {}, ev.type), h("td", {}, h("code", {}, JSON.stringify(ev.details).slice(0, 240)))));
  return h("div", {}, h("div", { class: "filters" }, pick("etype", "any type", distinct((ev) => ev.type)),
    pick("estate", "any state", distinct((ev) => (ev.details || {}).name)),
    h("span", { class: "muted" }, shown.length === all.length ? "" : `${shown.length} of ${all.length} shown`)),
  h("table", { id: "events" }, h("tr", {}, ["#", "Time", "Type", "Details"].map((t) => h("th", {}, t))), rows));
}

// Draws the execution page from `data` (/api/executions/{id}, with events
// the live stream appended since).
function renderExecution(id, data) {
  const e = data.execution;
  const layout = data.state_machine && data.state_machine.layout;
  const statuses = stateStatuses(data.events, e.status, layout);
  // A selected state is part of the address, so it can be linked to.
  const select = (n) => {
    selectedState = n;
    const q = new URLSearchParams((location.hash.split("?")[1]) || "");
    q.set("state", n);
    history.replaceState(null, "", `#/exec/${encodeURIComponent(id)}?${q}`);
    renderExecution(id, data);
  };
  const graph = layout ? drawGraph(layout, statuses, selectedState, select) : h("div", {});
  graph.id = "execution-graph";
  const mayStop = session && session.may_stop;
  const stop = e.status === "RUNNING" && mayStop ? h("button", { class: "danger", id: "stop", onclick: async () => {
    if (!confirm(`Stop ${e.name}? The execution ends ABORTED and its tasks are cancelled.`)) return;
    try { await change(`/api/executions/${encodeURIComponent(id)}/stop`); } catch (err) { alert(`Not stopped: ${err.message}`); }
    execution(id);
  } }, "Stop execution") : null;
  const events = eventTable(id, data.events);
  view.replaceChildren(
    h("h1", {}, e.name, " ", pill(e.status), " ", stop),
    h("div", { class: "card kv" }, h("span", { class: "muted" }, "execution"), e.id,
      h("span", { class: "muted" }, "state machine"), h("a", { href: `#/sm/${encodeURIComponent(e.state_machine)}/${e.version}` }, `${e.state_machine} v${e.version}`),
      h("span", { class: "muted" }, "started"), when(e.start_ms), h("span", { class: "muted" }, "stopped"), when(e.stop_ms),
      e.error ? [h("span", { class: "muted" }, "error"), h("span", { class: "error" }, `${e.error}: ${e.cause || ""}`)] : null,
      h("span", { class: "muted" }, "CLI"), h("code", {}, `raftflow execution history ${e.id}`)),
    h("div", { class: "split wide" }, h("div", { class: "card" }, legend(), graph),
      h("div", { class: "card", id: "state-detail" }, stateDetail(selectedState, selectedState && statuses.get(selectedState)))),
    h("div", { class: "split" }, h("div", { class: "card" }, h("h2", {}, "Input"), h("pre", {}, pretty(e.input))),
      h("div", { class: "card" }, h("h2", {}, "Output"), h("pre", {}, pretty(e.output)))),
    h("div", { class: "card" }, h("h2", {}, `Events (${data.events.length}${data.history_truncated ? ", first part" : ""})`), events));
  if (layout) mountGraph(graph, `exec/${id}`);
}


// The open stream of a live execution page: {id, source, data}.
let live = null;

function closeLive() {
  if (live) live.source.close();
  live = null;
}

// Loads and draws an execution; while it runs, follows it through
// /api/executions/{id}/live (server-sent events) and redraws as each
// event arrives. Returns "stream" when following, else whether to poll.
async function execution(id) {
  const data = await api(`/api/executions/${encodeURIComponent(id)}`);
  renderExecution(id, data);
  if (data.execution.status !== "RUNNING") { closeLive(); return false; }
  if (live && live.id === id) { live.data = data; return "stream"; }
  closeLive();
  // `live=off` in the address: reload every 1.5 s instead of holding a
  // stream (for a proxy that buffers or cuts long requests).
  const off = new URLSearchParams(location.hash.split("?")[1] || "").get("live") === "off";
  if (off || typeof EventSource === "undefined") return true;
  const last = data.events.length ? data.events[data.events.length - 1].id : 0;
  const source = new EventSource(`/api/executions/${encodeURIComponent(id)}/live?after=${last}`);
  live = { id, source, data, drawing: false };
  document.body.dataset.live = "open";
  const fallBack = () => { closeLive(); document.body.dataset.live = "polling"; refreshTimer = setTimeout(refresh, 1500); };
  source.addEventListener("history", (message) => {
    if (!live || live.id !== id) return;
    const ev = JSON.parse(message.data);
    const events = live.data.events;
    if (events.length && ev.id <= events[events.length - 1].id) return; // a reconnect sends again
    events.push(ev);
    document.body.dataset.liveEvents = String(Number(document.body.dataset.liveEvents || 0) + 1);
    if (live.drawing) return;
    live.drawing = true; // one redraw for a burst of events
    setTimeout(() => { if (live && live.id === id) { live.drawing = false; renderExecution(id, live.data); } }, 50);
  });
  source.addEventListener("end", () => { closeLive(); document.body.dataset.live = "ended"; route(); });
  source.addEventListener("failed", fallBack);
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) fallBack(); };
  return "stream";
}
