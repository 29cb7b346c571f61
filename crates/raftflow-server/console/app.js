// The raftflow console: hash routes, JSON from /api, a poll while the page
// shows something that can change. No framework, no build step.
"use strict";

const view = document.getElementById("view");
const banner = document.getElementById("banner");
let refreshTimer = null;
let selectedState = null;
// Who is signed in: {name, role, may_stop, csrf} from /api/session.
let session = null;

class SignInNeeded extends Error {}

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (response.status === 401 && body.login) throw new SignInNeeded(body.error || "sign in");
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

// A change: the session's CSRF token goes with it.
const change = (path) => api(path, { method: "POST", headers: { "x-csrf-token": session ? session.csrf : "" } });

async function signIn(token) {
  session = await api("/api/session", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token }) });
}

function signInView(message) {
  const input = h("input", { type: "password", id: "token", placeholder: "rfs_…", autocomplete: "off", size: "72" });
  const error = h("p", { class: "error", id: "sign-in-error" }, message || "");
  const submit = async (event) => {
    event.preventDefault();
    try { await signIn(input.value); route(); } catch (e) { error.textContent = e.message; }
  };
  const form = h("form", { id: "sign-in" }, h("p", {}, "An API token (`raftflow token create`; the local cluster's admin token is in data/admin.token):"),
    input, " ", h("button", {}, "Sign in"), error);
  form.addEventListener("submit", submit);
  banner.textContent = "signed out";
  view.replaceChildren(h("h1", {}, "Sign in"), h("div", { class: "card" }, form));
}

function whoView() {
  const who = document.getElementById("who");
  if (!who) return;
  if (!session || session.insecure) { who.replaceChildren(); return; }
  const out = h("a", { href: "#/", onclick: async () => { await change("/api/session/logout").catch(() => {}); session = null; route(); } }, "sign out");
  who.replaceChildren(`${session.name} (${session.role}) · `, out);
}

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") el.addEventListener("click", v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

const pill = (text) => h("span", { class: `pill ${text}` }, text);
const when = (ms) => (ms ? new Date(ms).toLocaleString() : "—");
const pretty = (v) => (v === undefined || v === null ? "—" : typeof v === "string" ? tryJson(v) : JSON.stringify(v, null, 2));
function tryJson(text) { try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; } }
const go = (hash) => () => { location.hash = hash; };

async function updateBanner() {
  try {
    const c = await api("/api/cluster");
    const me = `node ${c.node} (${c.role})`;
    if (!c.leader_id) {
      banner.textContent = `${me} · the cluster has no leader: reads may be stale, writes wait`;
      banner.className = "banner bad";
    } else {
      banner.textContent = `${me} · leader: node ${c.leader_id} · epoch ${c.epoch}`;
      banner.className = "banner";
    }
    const short = c.alarms.map((a) => [a.node, a.detail])
      .concat(c.nodes.filter((n) => n.short_of_space && !c.alarms.some((a) => a.node === n.id))
        .map((n) => [n.id, n.short_of_space]));
    for (const [node, detail] of short) {
      banner.textContent += ` · NOSPACE on node ${node}: ${detail}; new executions are refused until space is back`;
      banner.className = "banner bad";
    }
    if (c.insecure) {
      banner.textContent += " · INSECURE: this cluster runs without TLS; anyone on the network can read and change it";
      banner.className = "banner bad";
    }
    return c;
  } catch (e) {
    banner.textContent = `this node does not answer: ${e.message}`;
    banner.className = "banner bad";
    return null;
  }
}

function clusterCard(c) {
  const rows = (c ? c.nodes : []).map((n) => h("tr", {},
    h("td", {}, `node ${n.id}`, n.id === c.node ? h("span", { class: "muted" }, " (serving this page)") : null),
    h("td", {}, pill(n.role)), h("td", {}, n.api_addr), h("td", {}, n.term ?? "—"),
    h("td", {}, n.last_log_index ?? "—"), h("td", {}, n.applied_index ?? "—"),
    h("td", {}, n.lag ?? "—"),
    h("td", { class: n.short_of_space ? "error" : "" }, n.disk_free_mb ?? "—"),
    h("td", { class: "error" }, n.error || n.short_of_space || "")));
  return h("div", { class: "card" }, h("h2", {}, "Cluster"),
    h("table", {}, h("tr", {}, ["Node", "Role", "API", "Term", "Last log", "Applied", "Lag", "Free MiB", ""].map((t) => h("th", {}, t))), rows));
}

async function overview() {
  const [c, machines] = await Promise.all([updateBanner(), api("/api/state-machines")]);
  const list = machines.map((m) => h("tr", { class: "clickable", onclick: go(`#/sm/${encodeURIComponent(m.name)}`) },
    h("td", {}, m.name), h("td", {}, `v${m.latest}`), h("td", {}, m.description || ""), h("td", {}, when(m.created_ms))));
  const busy = await busiestCard().catch((e) => h("p", { class: "error" }, e.message));
  view.replaceChildren(h("h1", {}, "Overview"), clusterCard(c), cliHint("raftflow cluster status"), busy,
    h("div", { class: "card" }, h("h2", {}, "State machines"),
      h("table", {}, h("tr", {}, ["Name", "Latest", "Description", "Created"].map((t) => h("th", {}, t))), list)));
}

async function executions(params) {
  const q = new URLSearchParams(params);
  const page = await api(`/api/executions?${q}`);
  const machines = await api("/api/state-machines");
  const apply = () => {
    const next = new URLSearchParams();
    for (const id of ["state_machine", "status", "name"]) {
      const v = document.getElementById(`f-${id}`).value;
      if (v) next.set(id, v);
    }
    for (const id of ["from_ms", "to_ms"]) {
      const v = document.getElementById(`f-${id}`).value;
      if (v) next.set(id, String(new Date(v).getTime()));
    }
    location.hash = `#/executions?${next}`;
  };
  const select = (id, options) => h("select", { id: `f-${id}` }, options.map(([v, label]) => {
    const o = h("option", { value: v }, label);
    if ((params.get(id) || "") === v) o.selected = true;
    return o;
  }));
  const name = h("input", { id: "f-name", placeholder: "name contains…", value: params.get("name") || "" });
  // Local time in the inputs, milliseconds since the epoch in the address.
  const local = (ms) => (ms ? new Date(Number(ms) - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16) : "");
  const range = (id, title) => h("input", { id: `f-${id}`, type: "datetime-local", title, value: local(params.get(id)) });
  const rows = page.executions.map((e) => h("tr", { class: "clickable", onclick: go(`#/exec/${encodeURIComponent(e.id)}`) },
    h("td", {}, e.name), h("td", {}, e.state_machine, h("span", { class: "muted" }, ` v${e.version}`)),
    h("td", {}, pill(e.status)), h("td", {}, when(e.start_ms)), h("td", {}, when(e.stop_ms))));
  const more = page.next_page_token
    ? h("button", { onclick: () => { params.set("page_token", page.next_page_token); location.hash = `#/executions?${params}`; } }, "Older →")
    : null;
  view.replaceChildren(h("h1", {}, "Executions"), h("div", { class: "card" },
    h("div", { class: "filters" },
      select("state_machine", [["", "any state machine"], ...machines.map((m) => [m.name, m.name])]),
      select("status", [["", "any status"], ...["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"].map((s) => [s, s])]),
      name, range("from_ms", "started from"), range("to_ms", "started before"), h("button", { onclick: apply }, "Filter")),
    cliHint(`raftflow execution list${params.get("state_machine") ? ` --state-machine ${params.get("state_machine")}` : ""}${params.get("status") ? ` --status ${params.get("status")}` : ""}`),
    h("table", {}, h("tr", {}, ["Name", "State machine", "Status", "Started", "Stopped"].map((t) => h("th", {}, t))), rows),
    rows.length ? null : h("p", { class: "muted" }, "No executions match."), more));
}

// Schedules: state, next times, recent runs linked to their executions.
async function schedulesPage() {
  const list = await api("/api/schedules");
  const mayChange = session && session.may_schedule;
  const toggle = (s) => (mayChange ? h("button", { class: "pause", onclick: async () => {
    const verb = s.paused ? "unpause" : "pause";
    try { await change(`/api/schedules/${encodeURIComponent(s.name)}/${verb}`); } catch (err) { alert(`Not done: ${err.message}`); }
    route();
  } }, s.paused ? "Unpause" : "Pause") : null);
  const runs = (s) => s.recent.slice(0, 3).map((a) => h("div", {},
    a.execution_id ? h("a", { href: `#/exec/${encodeURIComponent(a.execution_id)}` }, when(a.scheduled_ms)) : when(a.scheduled_ms),
    " ", h("span", { class: "muted" }, a.outcome + (a.trigger ? " (trigger)" : ""))));
  const rows = list.map((s) => h("tr", { class: "schedule" },
    h("td", {}, s.name), h("td", {}, h("a", { href: `#/sm/${encodeURIComponent(s.state_machine)}` }, s.state_machine)),
    h("td", {}, h("code", {}, s.spec), h("span", { class: "muted" }, ` ${s.zone}`)),
    h("td", {}, pill(s.paused ? "PAUSED" : "ACTIVE"), s.note ? h("span", { class: "muted" }, ` ${s.note}`) : null),
    h("td", {}, s.problem ? h("span", { class: "error" }, s.problem) : s.next_ms.map((t) => h("div", {}, when(t)))),
    h("td", {}, runs(s)), h("td", {}, `${s.fired} / ${s.skipped}`), h("td", {}, toggle(s))));
  view.replaceChildren(h("h1", {}, "Schedules"), h("div", { class: "card" },
    cliHint("raftflow schedule list"),
    h("table", { id: "schedules" }, h("tr", {}, ["Name", "State machine", "Spec", "State", "Next", "Recent runs", "Fired / skipped", ""].map((t) => h("th", {}, t))), rows),
    rows.length ? null : h("p", { class: "muted" }, "No schedules yet: raftflow schedule create …")));
}

// Triggers: what each watches and starts, its recent starts linked to both executions.
async function triggersPage() {
  const list = await api("/api/triggers");
  const link = (id) => h("a", { href: `#/exec/${encodeURIComponent(id)}` }, id);
  const starts = (t) => t.recent.slice(0, 3).map((a) => h("div", {}, link(a.source), ` ${a.when} → `,
    a.execution_id ? link(a.execution_id) : h("span", { class: "error" }, a.detail || a.outcome)));
  const machine = (name) => h("a", { href: `#/sm/${encodeURIComponent(name)}` }, name);
  const rows = list.map((t) => h("tr", { class: "trigger" },
    h("td", {}, t.name), h("td", {}, machine(t.source), h("span", { class: "muted" }, ` ${t.when.join(", ")}`)),
    h("td", {}, machine(t.start), t.version ? h("span", { class: "muted" }, `:${t.version}`) : null),
    h("td", {}, pill(t.enabled ? "ENABLED" : "DISABLED")), h("td", {}, starts(t)), h("td", {}, `${t.started} / ${t.failed}`)));
  view.replaceChildren(h("h1", {}, "Triggers"), h("div", { class: "card" },
    cliHint("raftflow trigger list"),
    h("table", { id: "triggers" }, h("tr", {}, ["Name", "When", "Starts", "State", "Recent starts", "Started / failed"].map((x) => h("th", {}, x))), rows),
    rows.length ? null : h("p", { class: "muted" }, "No triggers yet: raftflow trigger create …")));
}

// Subscriptions: where each sends, its counts, its oldest dead letters linked to their executions.
async function subscriptionsPage() {
  const list = await api("/api/subscriptions");
  const mayRedrive = session && session.may_redrive;
  const link = (id) => h("a", { href: `#/exec/${encodeURIComponent(id)}` }, id);
  const letters = (events) => events.slice(0, 3).map((e) => h("div", {}, `#${e.seq} `, link(e.execution_id),
    ` ${e.change} `, h("span", { class: "error" }, `${e.attempts}× ${e.last_error}`)));
  const redrive = (s) => (mayRedrive && s.dead_letters > 0 ? h("button", { class: "redrive", onclick: async () => {
    try { await change(`/api/subscriptions/${encodeURIComponent(s.name)}/redrive`); } catch (err) { alert(`Not done: ${err.message}`); }
    route();
  } }, "Redrive") : null);
  const rows = list.map((s) => h("tr", { class: "subscription" },
    h("td", {}, s.name), h("td", {}, h("a", { href: `#/sm/${encodeURIComponent(s.source)}` }, s.source), h("span", { class: "muted" }, ` ${s.on.join(", ")}`)),
    h("td", {}, h("code", {}, s.url)), h("td", {}, pill(s.enabled ? "ENABLED" : "DISABLED")),
    h("td", {}, `${s.pending} / ${s.delivered} / ${s.dead_letters}` + (s.discarded ? ` (${s.discarded} discarded)` : "")),
    h("td", {}, letters(s.oldest_dead)), h("td", {}, redrive(s))));
  view.replaceChildren(h("h1", {}, "Subscriptions"), h("div", { class: "card" },
    cliHint("raftflow subscription list"),
    h("table", { id: "subscriptions" }, h("tr", {}, ["Name", "Watches", "URL", "State", "Pending / delivered / dead", "Oldest dead letters", ""].map((x) => h("th", {}, x))), rows),
    rows.length ? null : h("p", { class: "muted" }, "No subscriptions yet: raftflow subscription create …")));
}

async function stateMachine(name, version) {
  const sm = await api(`/api/state-machines/${encodeURIComponent(name)}?version=${version || 0}`);
  const versions = h("select", {}, Array.from({ length: sm.latest }, (_, i) => sm.latest - i).map((v) => {
    const o = h("option", { value: v }, `version ${v}`);
    if (v === sm.version) o.selected = true;
    return o;
  }));
  versions.addEventListener("change", () => { location.hash = `#/sm/${encodeURIComponent(name)}/${versions.value}`; });
  const graph = drawGraph(sm.layout, new Map(), null, () => {});
  view.replaceChildren(h("h1", {}, sm.name, " ", versions),
    h("div", { class: "card" }, h("p", {}, sm.description || h("span", { class: "muted" }, "no description")),
      h("button", { onclick: go(`#/executions?state_machine=${encodeURIComponent(name)}`) }, "Executions of this state machine"), " ",
      h("button", { onclick: go(`#/stats/${encodeURIComponent(name)}`) }, "Statistics"),
      cliHint(`raftflow workflow describe ${name} --version ${sm.version}`)),
    h("div", { class: "split" }, h("div", { class: "card" }, graph), h("div", { class: "card" }, h("h2", {}, "Definition"), h("pre", {}, tryJson(sm.definition)))));
  mountGraph(graph, `sm/${name}/${sm.version}`);
}

const cliHint = (command) => h("p", { class: "cli muted" }, "CLI: ", h("code", {}, command));

// `#login=<token>&then=/exec/<id>`: signs in and goes on, with the token
// taken out of the address at once (for scripts and the browser test).
async function fragmentSignIn() {
  const m = location.hash.match(/^#login=([^&]*)(?:&then=(.*))?$/);
  if (!m) return;
  history.replaceState(null, "", `${location.pathname}#${m[2] ? decodeURIComponent(m[2]) : "/"}`);
  await signIn(decodeURIComponent(m[1]));
}

async function route() {
  clearTimeout(refreshTimer);
  try {
    await fragmentSignIn();
    if (!session) session = await api("/api/session");
  } catch (e) {
    if (e instanceof SignInNeeded || !session) { session = null; whoView(); return signInView(e instanceof SignInNeeded ? "" : e.message); }
  }
  whoView();
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== "exec" || !live || live.id !== parts.slice(1).join("/")) closeLive();
  let follow = true;
  try {
    if (parts[0] === "exec") {
      selectedState = new URLSearchParams(query || "").get("state") || selectedState;
      follow = await execution(parts.slice(1).join("/"));
    }
    else if (parts[0] === "sm") { await stateMachine(parts[1], parts[2]); follow = false; }
    else if (parts[0] === "executions") await executions(new URLSearchParams(query || ""));
    else if (parts[0] === "stats") { await statsPage(parts[1], new URLSearchParams(query || "")); follow = false; }
    else if (parts[0] === "schedules") await schedulesPage();
    else if (parts[0] === "triggers") await triggersPage();
    else if (parts[0] === "subscriptions") await subscriptionsPage();
    else await overview();
    if (parts[0] !== "" && parts[0] !== undefined) await updateBanner();
  } catch (e) {
    if (e instanceof SignInNeeded) { session = null; whoView(); return signInView(e.message); }
    view.replaceChildren(h("h1", {}, "Something went wrong"), h("p", { class: "error" }, e.message));
  }
  // A live execution page is driven by its event stream, not by a timer.
  if (follow !== "stream") refreshTimer = setTimeout(refresh, follow ? 1500 : 5000);
}

// A refresh redraws the page: not while someone types in a filter.
function refresh() {
  const typing = ["INPUT", "SELECT"].includes(document.activeElement && document.activeElement.tagName);
  if (typing) refreshTimer = setTimeout(refresh, 2000);
  else route();
}

window.addEventListener("hashchange", () => { selectedState = null; route(); });
route();
