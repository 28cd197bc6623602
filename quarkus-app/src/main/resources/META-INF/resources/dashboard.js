// OmniCall dashboard: one snapshot (/api/snapshot), then live events (/api/events, SSE).
// Every value from the pipeline is written with textContent, never as HTML: transcripts are caller input.
"use strict";

const STAGES = [
  ["vad_wait", "VAD end-of-turn wait", "#94a3b8"],
  ["bridge_to_request", "bridge → request on Kafka", "#60a5fa"],
  ["request_to_worker", "request → worker (Kafka hop)", "#818cf8"],
  ["worker_queue", "worker queue (batch slot)", "#c084fc"],
  ["request_to_inference", "request → inference start (not split: older worker)", "#a78bfa"],
  ["encoder_prefill", "encoder + prefill", "#f472b6"],
  ["first_units", "first Ω units", "#fb923c"],
  ["vocoder", "vocoder", "#facc15"],
  ["chunk_to_bridge", "chunk → bridge", "#34d399"],
  ["bridge_to_rtp", "bridge → first RTP", "#2dd4bf"],
];

const calls = new Map(); // callId -> {callId, info, turns: Map(turnId -> turn)}
const deadLetters = [];
const workers = new Map(); // workerId -> latest load {runningTurns, waitingTurns, leastMarginMs, admissionHolding, ...}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "style") e.style.cssText = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c instanceof Node ? c : String(c));
  return e;
}

function call(callId) {
  let c = calls.get(callId);
  if (!c) { c = { callId, info: { state: "unknown" }, turns: new Map() }; calls.set(callId, c); }
  return c;
}

function turn(c, turnId) {
  let t = c.turns.get(turnId);
  if (!t) { t = { turnId, attempt: -1, pieces: new Map(), last: false, cancelled: false }; c.turns.set(turnId, t); }
  return t;
}

function turnText(t) {
  if (t.pieces.size === 0) return t.finalText || "";
  return [...t.pieces.entries()].sort((a, b) => a[0] - b[0]).map(e => e[1]).join("");
}

function loadSnapshot(s) {
  calls.clear();
  for (const cv of [...s.calls].reverse()) {
    const c = call(cv.callId);
    const { turns, callId, ...info } = cv;
    c.info = info;
    for (const tv of turns) {
      const t = turn(c, tv.turnId);
      Object.assign(t, { attempt: tv.attempt, last: tv.last, cancelled: tv.cancelled, bargedIn: tv.bargedIn,
        userText: tv.userText, firstAudioMs: tv.firstAudioMs, stagesMs: tv.stagesMs, interrupted: tv.interrupted,
        heardChars: tv.heardChars, generatedChars: tv.generatedChars });
      t.pieces = new Map(tv.pieces);
      t.finalText = tv.finalText;
    }
  }
  deadLetters.length = 0;
  deadLetters.push(...s.deadLetters);
  workers.clear();
  for (const w of s.workers || []) workers.set(w.workerId, w);
  renderWorkers();
  renderStatus(s.status);
  renderCounters(s.counters);
  renderAll();
}

function apply(ev) {
  switch (ev.type) {
    case "counters": renderCounters(ev); return;
    case "dead-letter":
      deadLetters.unshift(ev); if (deadLetters.length > 20) deadLetters.pop(); renderDeadLetters(); return;
  }
  const c = call(ev.callId);
  if (ev.type === "call") {
    if (ev.kind === "started") Object.assign(c.info, { state: "live", from: ev.from, to: ev.to, codec: ev.codec });
    else if (ev.kind === "ended") Object.assign(c.info, { state: "ended", endReason: ev.reason });
    else if (ev.kind === "barge-in") {
      const t = turn(c, ev.turnId);
      t.bargedIn = true;
      t.interrupted = true;
      // what the caller heard of the reply; the transcript's cut text replaces it when it arrives
      if (ev.playedTextChars != null && ev.playedTextChars >= 0 && !t.fromTranscript) t.heardChars = ev.playedTextChars;
    }
    else if (ev.kind === "dtmf") c.info.dtmf = (c.info.dtmf || "") + ev.digit;
    // a speculative turn the caller talked on from: nothing of it played, its utterance continues in a later turn
    else if (ev.kind === "speculation-cancelled") turn(c, ev.turnId).speculation = "CANCELLED";
    else if (ev.kind === "speculation-confirmed") turn(c, ev.turnId).speculation = "CONFIRMED";
  } else if (ev.type === "text") {
    const t = turn(c, ev.turnId);
    if (ev.attempt < t.attempt) return; // late delta of an abandoned attempt
    if (ev.attempt > t.attempt) { t.attempt = ev.attempt; t.pieces = new Map(); t.last = false; t.cancelled = false; }
    t.pieces.set(ev.seq, ev.text);
    t.last = t.last || ev.last;
    t.cancelled = t.cancelled || ev.cancelled;
    const seen = workers.get(ev.workerId);
    // a worker's newest load wins: deltas of different calls (partitions) may be read out of order
    if (ev.workerLoad && ev.workerId && !(seen && seen.stampedUs > ev.workerLoad.stampedUs)) {
      workers.set(ev.workerId, { workerId: ev.workerId, ...ev.workerLoad });
      renderWorkers();
    }
  } else if (ev.type === "caller-text") {
    const t = turn(c, ev.turnId);
    // the transcript's caller text (redacted as the topic keeps it) wins; a retry's text replaces an older attempt's
    if (t.userFromTranscript || (t.userAttempt != null && ev.attempt < t.userAttempt)) return;
    t.userAttempt = ev.attempt;
    t.userText = ev.text;
  } else if (ev.type === "metrics") {
    Object.assign(turn(c, ev.turnId), { firstAudioMs: ev.firstAudioMs, stagesMs: ev.stagesMs,
      speculation: ev.speculation !== "NONE" ? ev.speculation : turn(c, ev.turnId).speculation,
      confirmWaitMs: ev.confirmWaitMs, endOfTurnConfirmMs: ev.endOfTurnConfirmMs, cancelledWorkMs: ev.cancelledWorkMs });
  } else if (ev.type === "transcript") {
    for (const tt of ev.turns) {
      const t = turn(c, tt.turnId);
      if (tt.userText != null) { t.userText = tt.userText; t.userFromTranscript = true; } // none: keep what was shown
      if (t.pieces.size === 0) t.finalText = tt.assistantText;
      if (tt.interrupted) {
        Object.assign(t, { interrupted: true, fromTranscript: true, heardChars: tt.assistantText.length,
          generatedChars: tt.generatedChars >= 0 ? tt.generatedChars : null });
      }
    }
    if (ev.ended) c.info.state = "ended";
  }
  renderCall(c);
}

function renderAll() {
  document.getElementById("calls").replaceChildren();
  for (const c of calls.values()) renderCall(c);
  renderDeadLetters();
}

function renderCall(c) {
  const box = document.getElementById("calls");
  let card = box.querySelector(`[data-call="${CSS.escape(c.callId)}"]`);
  const fresh = el("div", { class: "call", "data-call": c.callId });
  const state = c.info.state || "unknown";
  fresh.append(el("div", { class: "call-head" },
    el("span", { class: "call-id" }, c.callId),
    el("span", { class: "state-" + state, "data-role": "call-state" }, state),
    c.info.from ? el("span", { class: "muted" }, `${c.info.from} → ${c.info.to || ""}`) : null,
    c.info.codec ? el("span", { class: "badge" }, c.info.codec) : null,
    c.info.dtmf ? el("span", { class: "badge" }, "DTMF " + c.info.dtmf) : null,
    c.info.endReason ? el("span", { class: "badge" }, c.info.endReason) : null,
    el("a", { href: `api/calls/${encodeURIComponent(c.callId)}/transcript`, "data-role": "transcript-link", class: "muted" },
      "transcript (JSON)")));
  for (const t of [...c.turns.values()].sort((a, b) => a.turnId - b.turnId)) fresh.append(renderTurn(t));
  if (card) card.replaceWith(fresh); else box.prepend(fresh);
  document.getElementById("no-calls").hidden = calls.size > 0;
}

function renderTurn(t) {
  const div = el("div", { class: "turn", "data-turn": String(t.turnId) });
  // The caller's line comes first: it is what the bot answered, whenever its text arrived.
  if (t.userText != null) {
    div.append(el("div", { class: "line caller-line", "data-role": "caller-line" },
      el("span", { class: "who" }, "Caller:"), " ",
      t.userText === "" ? el("span", { class: "user-text muted", "data-role": "user-text" }, "(no words recognised)")
        : el("span", { class: "user-text", "data-role": "user-text" }, t.userText)));
  }
  const streaming = !t.last && !t.cancelled && t.pieces.size > 0;
  const text = turnText(t);
  const cut = t.heardChars != null && (t.heardChars < text.length || (t.generatedChars != null && t.heardChars < t.generatedChars));
  const said = el("span", { class: "assistant-text" + (streaming ? " streaming" : ""), "data-role": "assistant-text" });
  if (cut) {
    // heard: what went out as audio before the barge-in; the rest was generated (or streamed) but never heard
    said.append(el("span", { class: "heard", "data-role": "heard-text" }, text.slice(0, t.heardChars)),
      el("span", { class: "unheard", "data-role": "unheard-text", title: "cut: the caller barged in before hearing this" },
        text.slice(t.heardChars)));
  } else {
    said.append(text);
  }
  const generated = t.generatedChars != null ? t.generatedChars : text.length;
  div.append(el("div", { class: "line bot-line", "data-role": "bot-line" },
    el("span", { class: "who" }, `Bot · turn ${t.turnId}:`), " ",
    said,
    t.attempt > 0 ? el("span", { class: "badge" }, "attempt " + t.attempt) : null,
    t.cancelled ? el("span", { class: "badge bad" }, "cancelled") : null,
    t.bargedIn || t.interrupted ? el("span", { class: "badge bad", "data-role": "cut-badge" },
      t.heardChars != null ? `cut: heard ${t.heardChars} of ${generated} chars` : "barge-in") : null));
  if (t.speculation === "CANCELLED") {
    div.append(el("div", { class: "muted", "data-role": "speculation" }, "speculative turn, cancelled: the caller went on;"
      + " nothing of it was played" + (t.cancelledWorkMs != null ? ` (model time spent ${t.cancelledWorkMs} ms)` : "")));
    return div;
  }
  if (t.firstAudioMs != null || t.stagesMs) div.append(renderLatency(t));
  if (t.speculation === "CONFIRMED") {
    div.append(el("div", { class: "muted", "data-role": "speculation" }, "speculative turn: started before the end of turn"
      + (t.endOfTurnConfirmMs != null ? ` (confirmed ${t.endOfTurnConfirmMs} ms after the caller stopped)` : "")
      + (t.confirmWaitMs != null ? `, reply held ${t.confirmWaitMs} ms for the confirmation` : "")));
  }
  return div;
}

function renderLatency(t) {
  const stages = t.stagesMs || {};
  const total = t.firstAudioMs != null ? t.firstAudioMs : Object.values(stages).reduce((a, b) => a + b, 0);
  const wrap = el("div", { class: "latency" },
    el("span", {}, "first audio "), el("strong", { "data-role": "first-audio-ms" }, total != null ? `${total} ms` : "—"));
  const bar = el("div", { class: "bar" });
  const parts = [];
  for (const [key, label, color] of STAGES) {
    const v = stages[key];
    if (v == null) continue;
    parts.push(`${label} ${v} ms`);
    bar.append(el("span", { title: `${label}: ${v} ms`, style: `width:${total > 0 ? Math.max(0.5, 100 * v / total) : 0}%;background:${color}` }));
  }
  wrap.append(bar, el("div", { class: "muted", "data-role": "stage-breakdown" }, parts.join(" · ")));
  return wrap;
}

function renderCounters(c) {
  document.getElementById("active-calls").textContent = c.activeCalls;
  document.getElementById("active-turns").textContent = c.activeTurns;
  const dl = Object.values(c.deadLetters || {}).reduce((a, b) => a + b, 0);
  document.getElementById("dead-letter-count").textContent = dl;
  const topics = Object.entries(c.topics || {}).map(([k, v]) => `${k} ${v}`);
  const bad = Object.entries(c.unreadable || {}).map(([k, v]) => `${k} unreadable ${v}`);
  document.getElementById("topic-counts").textContent = [...topics, ...bad].join(" · ") || "—";
}

// Per worker: running turns, the least playback margin (— when no turn has sent audio: no margin, not 0) and
// whether real-time admission holds newcomers (off when the worker has no admission margin set).
function renderWorkers() {
  const rows = [...workers.values()].sort((a, b) => a.workerId.localeCompare(b.workerId)).map(w => {
    const margin = w.leastMarginMs == null ? "—" : `${w.leastMarginMs} ms`;
    const holding = w.admissionMarginMs == null ? "off" : w.admissionHolding ? "yes" : "no";
    const rule = w.admissionMarginMs == null ? "real-time admission off" : `admission margin ${w.admissionMarginMs} ms`;
    return el("tr", { "data-worker": w.workerId },
      el("td", { class: "worker-id" }, w.workerId),
      el("td", { "data-role": "worker-running", title: `${w.waitingTurns} waiting` }, w.runningTurns),
      el("td", { "data-role": "worker-margin", class: w.leastMarginMs != null && w.leastMarginMs < 0 ? "bad" : "" }, margin),
      el("td", { "data-role": "worker-holding", title: rule, class: w.admissionHolding ? "warn" : "" }, holding));
  });
  document.querySelector("#workers tbody").replaceChildren(...rows);
  document.getElementById("no-workers").hidden = rows.length > 0;
}

function renderDeadLetters() {
  const ul = document.getElementById("dead-letters");
  ul.replaceChildren(...deadLetters.map(d => el("li", {},
    el("strong", {}, `${d.sourceTopic}`), ` [${d.stage}] ${d.errorClass}: ${d.errorMessage}`,
    d.callId ? el("div", { class: "muted" }, `call ${d.callId}, partition ${d.partition}, offset ${d.offset}`) : null)));
  if (deadLetters.length === 0) ul.append(el("li", { class: "muted", style: "border:0;background:none" }, "none"));
}

function renderStatus(s) {
  const phase = document.getElementById("phase");
  phase.textContent = s.phase.toLowerCase();
  phase.className = "pill " + (s.phase === "RUNNING" ? "ok" : s.phase === "FAILED" ? "bad" : "warn");
  const roles = document.getElementById("roles");
  roles.replaceChildren(...Object.entries(s.roles).filter(([, r]) => r.detail !== "not selected in omnicall.roles")
    .map(([name, r]) => el("span", { class: "pill " + (r.state === "RUNNING" ? "ok" : r.state === "PENDING" || r.state === "STARTING" ? "warn" : "bad"),
      title: r.detail }, `${name}: ${r.state.toLowerCase()}`)));
  document.getElementById("steps").replaceChildren(...s.steps.map(st => el("li", {}, `${st.name}: ${st.millis} ms — ${st.detail}`)));
}

function legend() {
  document.getElementById("legend").replaceChildren(...STAGES.map(([, label, color]) => el("li", { style: `--c:${color}` }, label)));
}

// Events that arrive while a snapshot loads are held and replayed on top of it. The page asks for a snapshot twice
// as it opens (on load and when the stream connects) and again on every reconnect: requests may overlap and answer
// out of order, so only the newest request's answer is loaded, and events stay held from the first request until
// that answer is in (an older snapshot loaded after a live event would wipe that event from the page).
//
// Every event the server streams carries eventSeq (1, 2, 3... in the order the server applied them) and the snapshot
// the eventSeq of the latest event it holds. An event at or below the page's latest is in what the page shows already
// (a DTMF digit would otherwise show twice); one above latest + 1 means the page missed some (a stream that dropped
// or lagged, an event published between a snapshot and a subscription): the page loads the snapshot again. The
// counters tick carries the server's latest eventSeq: a page still below the previous tick's number lost the stream's
// tail, with no later event to show the gap, and loads the snapshot too.
let held = null;
let snapshotRequest = 0;
let latestSeq = null;     // eventSeq of the latest event shown (from the snapshot, then the stream); null: none loaded
let tickSeq = null;       // the server's latest eventSeq at the previous counters tick
let resyncs = 0;          // snapshots loaded again for a gap (shown in the page's data-resyncs, for tests and support)

async function refreshSnapshot() {
  const mine = ++snapshotRequest;
  if (held === null) held = [];
  let snapshot = null;
  try {
    const r = await fetch("api/snapshot");
    snapshot = await r.json();
  } finally {
    if (mine === snapshotRequest) {
      const replay = held;
      held = null;
      try {
        if (snapshot !== null) { loadSnapshot(snapshot); latestSeq = snapshot.eventSeq; tickSeq = null; }
      } finally {
        replay.forEach(live); // even if the snapshot did not load: events must not stay held for good
      }
    }
  }
}

function resync(why) {
  resyncs++;
  document.body.dataset.resyncs = String(resyncs);
  console.warn(`dashboard: loading the snapshot again (${why})`);
  refreshSnapshot().catch(() => { /* the next gap or tick tries again */ });
}

function live(ev) {
  if (held) { held.push(ev); return; }
  if (ev.type === "counters") {
    if (latestSeq !== null && tickSeq !== null && latestSeq < tickSeq) {
      renderCounters(ev);
      resync(`behind the server: shown ${latestSeq}, server had ${tickSeq} two seconds ago`);
      return;
    }
    tickSeq = ev.eventSeq != null ? ev.eventSeq : null;
    apply(ev);
    return;
  }
  if (ev.eventSeq != null && latestSeq !== null) {
    if (ev.eventSeq <= latestSeq) return; // in the snapshot already
    if (ev.eventSeq > latestSeq + 1) {
      held = [ev];
      resync(`missed events ${latestSeq + 1}..${ev.eventSeq - 1}`);
      return;
    }
  }
  if (ev.eventSeq != null) latestSeq = ev.eventSeq;
  apply(ev);
}

function connect() {
  const state = document.getElementById("stream-state");
  const es = new EventSource("api/events");
  es.onopen = () => { state.textContent = "stream: live"; state.className = "pill ok"; refreshSnapshot(); };
  es.onmessage = m => live(JSON.parse(m.data));
  es.onerror = () => { state.textContent = "stream: reconnecting"; state.className = "pill warn"; };
}

legend();
refreshSnapshot().catch(() => { /* the stream's reconnect loads it again */ });
connect();
setInterval(async () => { try { renderStatus(await (await fetch("api/status")).json()); } catch (e) { /* shown by stream state */ } }, 3000);
