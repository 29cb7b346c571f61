// What an execution's history says happened to each state: how often it was
// entered, every task attempt (worker, times, outcome), Map iterations, and
// one status for the colour. Pure: events in, a Map of states out.
"use strict";

function newState() {
  return { entered: 0, exited: 0, open: 0, attempts: [], iterations: { started: 0, succeeded: 0, failed: 0 },
    firstMs: null, lastMs: null, input: undefined, output: undefined, error: null, cause: null,
    failedParts: 0, pendingFailure: false, caught: false, retried: false };
}

// An attempt's outcome once the state moved on: a failure followed by
// another attempt was retried; followed by the state's exit, caught.
function closeFailure(s, how) {
  const last = s.attempts[s.attempts.length - 1];
  if (last && last.outcome !== "succeeded" && last.outcome !== "running") last.fate = how;
  if (how === "retried") s.retried = true; else s.caught = true;
  s.pendingFailure = false;
}

function applyEvent(states, openMaps, e) {
  const d = e.details || {};
  const t = e.type;
  if (t.startsWith("MapIteration")) {
    const map = openMaps[openMaps.length - 1];
    if (!map) return;
    const it = states.get(map).iterations;
    if (t === "MapIterationStarted") it.started += 1;
    else if (t === "MapIterationSucceeded") it.succeeded += 1;
    else if (t === "MapIterationFailed") it.failed += 1;
    return;
  }
  if (!d.name) return;
  if (!states.has(d.name)) states.set(d.name, newState());
  const s = states.get(d.name);
  const attempt = s.attempts[s.attempts.length - 1];
  if (t.endsWith("StateEntered")) {
    s.entered += 1; s.open += 1; s.input = d.input;
    if (s.firstMs === null) s.firstMs = e.timestamp_ms;
    if (t === "MapStateEntered") openMaps.push(d.name);
  } else if (t.endsWith("StateExited")) {
    s.exited += 1; s.open = Math.max(0, s.open - 1); s.output = d.output; s.lastMs = e.timestamp_ms;
    if (s.pendingFailure) closeFailure(s, "caught");
    if (t === "MapStateExited") openMaps.splice(openMaps.lastIndexOf(d.name), 1);
  } else if (t === "ActivityScheduled") {
    if (s.pendingFailure) closeFailure(s, "retried");
    s.attempts.push({ n: s.attempts.length + 1, scheduledMs: e.timestamp_ms, startedMs: null, endedMs: null,
      worker: null, input: d.input, output: undefined, outcome: "running", fate: null, error: null, cause: null });
  } else if (t === "ActivityReturned") {
    s.attempts.pop(); // a hand-out to a withdrawn poll: scheduled again, not a new attempt
  } else if (t === "ActivityStarted" && attempt) {
    attempt.worker = d.workerName || null; attempt.startedMs = e.timestamp_ms;
  } else if (t === "ActivitySucceeded" && attempt) {
    attempt.outcome = "succeeded"; attempt.output = d.output; attempt.endedMs = e.timestamp_ms;
  } else if ((t === "ActivityFailed" || t === "ActivityTimedOut") && attempt) {
    attempt.outcome = t === "ActivityFailed" ? "failed" : "timed out";
    attempt.error = d.error; attempt.cause = d.cause || null; attempt.endedMs = e.timestamp_ms;
    s.pendingFailure = true; s.error = d.error; s.cause = d.cause || null;
  } else if (t === "ParallelStateFailed" || t === "MapStateFailed") {
    s.failedParts += 1; s.pendingFailure = true; s.error = d.error; s.cause = d.cause || null;
  }
}

// status: running | succeeded | failed | retried | caught (null: not reached).
function stateStatuses(events, executionStatus, layout) {
  const states = new Map();
  const openMaps = [];
  const kinds = new Map((layout ? layout.nodes : []).map((n) => [n.name, n.kind]));
  for (const e of events) applyEvent(states, openMaps, e);
  // A state still open when the execution ended took until that end.
  const endMs = events.length ? events[events.length - 1].timestamp_ms : null;
  for (const [name, s] of states) {
    s.running = s.open > 0 && executionStatus === "RUNNING";
    if (s.open > 0 && !s.running) s.lastMs = endMs;
    for (const a of s.attempts) if (a.outcome !== "succeeded" && a.outcome !== "running" && !a.fate) a.fate = "failed";
    if (s.entered === 0) { s.status = null; continue; }
    if (kinds.get(name) === "Fail") s.status = "failed";
    else if (s.open > 0) s.status = executionStatus === "RUNNING" ? "running" : "failed";
    else if (s.caught) s.status = "caught";
    else if (s.retried) s.status = "retried";
    else s.status = "succeeded";
  }
  return states;
}

function duration(ms) {
  if (ms === null || ms === undefined || ms < 0) return "";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3600000) return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
  return `${(ms / 3600000).toFixed(1)} h`;
}

// The line under a state's name: what kind it is and what happened to it.
function stateSummary(kind, s, nowMs) {
  const parts = [kind];
  if (!s || !s.entered) return parts.join("");
  if (s.entered > 1) parts.push(`×${s.entered}`);
  if (s.attempts.length > 0) {
    const count = (fate) => s.attempts.filter((a) => a.fate === fate).length;
    let text = `${s.attempts.length} attempt${s.attempts.length > 1 ? "s" : ""}`;
    const notes = [["retried", count("retried")], ["caught", count("caught")], ["failed", count("failed")]]
      .filter(([, n]) => n > 0).map(([f, n]) => `${n} ${f}`);
    if (notes.length) text += ` (${notes.join(", ")})`;
    parts.push(text);
  }
  const it = s.iterations;
  if (it.started > 0) parts.push(`${it.started} items: ${it.succeeded} ok${it.failed ? `, ${it.failed} failed` : ""}`);
  const end = s.running ? nowMs : s.lastMs;
  if (s.firstMs !== null && end !== null) parts.push(duration(end - s.firstMs));
  return parts.join(" · ");
}
