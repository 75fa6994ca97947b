// Hotline agent desktop and wallboard: protocol v1 over /ws (see PROTOCOL.md).
// Plain JS, no build step. The session token lives in sessionStorage so a
// reload or a dropped connection resumes the same seat.
"use strict";

const $ = (id) => document.getElementById(id);
const S = {
  ws: null, seq: 0, pending: new Map(), token: sessionStorage.getItem("hotline.token"),
  me: null, role: null, seat: null, calls: new Map(), agents: new Map(), stats: null,
  selected: null, skew: 0, retry: 0, wantClose: false,
};

// ---- connection -----------------------------------------------------------
function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  const ws = new WebSocket(url);
  S.ws = ws;
  ws.onopen = async () => {
    S.retry = 0;
    setConn(true);
    if (S.token) {
      try { onSignedIn(await req("resume", { token: S.token })); }
      catch (e) { S.token = null; sessionStorage.removeItem("hotline.token"); showLogin(); }
    } else showLogin();
  };
  ws.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch { return; }
    if (msg.type === "reply") {
      const p = S.pending.get(msg.id);
      if (!p) return;
      S.pending.delete(msg.id);
      msg.ok ? p.resolve(msg) : p.reject(msg.error || { code: "internal", message: "?" });
    } else if (msg.type === "event") onEvent(msg);
  };
  ws.onclose = (ev) => {
    setConn(false);
    for (const p of S.pending.values()) p.reject({ code: "disconnected", message: "connection lost" });
    S.pending.clear();
    if (ev.code === 4001) { alertMsg("Signed in elsewhere: " + (ev.reason || "session taken over")); S.token = null; sessionStorage.removeItem("hotline.token"); showLogin(); return; }
    // Calls carry on without us; reconnect and resume.
    const delay = Math.min(10000, 500 * 2 ** S.retry++);
    setTimeout(connect, delay);
  };
}

function req(type, fields = {}) {
  return new Promise((resolve, reject) => {
    if (!S.ws || S.ws.readyState !== WebSocket.OPEN) return reject({ code: "disconnected", message: "not connected" });
    const id = String(++S.seq);
    S.pending.set(id, { resolve, reject });
    S.ws.send(JSON.stringify({ id, type, ...fields }));
  });
}

// act runs a request and reports refusals to the agent.
async function act(type, fields) {
  try { const r = await req(type, fields); log(type + " ok"); return r; }
  catch (e) { alertMsg(type + ": " + e.message + " (" + e.code + ")"); return null; }
}

// ---- sign-in --------------------------------------------------------------
function showLogin() {
  if (window.HotlinePhone) HotlinePhone.signedOut(); // phone.js
  $("login-view").hidden = false;
  $("agent-view").hidden = $("sup-view").hidden = $("logout").hidden = true;
  $("who").textContent = "";
  $("login-agent").focus();
}

$("login-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const f = { agent: $("login-agent").value.trim(), password: $("login-password").value };
  if ($("login-ext").value.trim()) f.extension = $("login-ext").value.trim();
  try { onSignedIn(await req("login", f)); $("login-password").value = ""; }
  catch (e) { alertMsg("Sign-in refused: " + e.message); }
};

function onSignedIn(r) {
  if (r.role === "agent" && r.seat && r.seat.state === "logged-out") {
    // Resumed a session whose seat was signed out meanwhile.
    alertMsg("Your seat was signed out. Sign in again to take calls.");
    S.token = null; sessionStorage.removeItem("hotline.token");
    showLogin();
    return;
  }
  S.token = r.token; sessionStorage.setItem("hotline.token", r.token);
  if (window.HotlinePhone) HotlinePhone.signedIn(r, req); // phone.js
  S.me = r.agent; S.role = r.role;
  if (r.now) S.skew = Date.now() - Date.parse(r.now);
  $("who").textContent = (r.name || r.agent) + " (" + r.role + ")";
  $("login-view").hidden = true; $("logout").hidden = false;
  fillSelect($("break-reason"), r.break_reasons || ["lunch", "rest"]);
  fillSelect($("nr-reason"), r.not_ready_reasons || ["busy", "meeting", "training"]);
  fillSelect($("dispo"), r.disposition_codes || []);
  $("dispo").hidden = !(r.disposition_codes || []).length;
  $("dispo-free").hidden = !$("dispo").hidden;
  S.calls.clear();
  for (const c of r.calls || []) S.calls.set(c.id, c);
  if (r.seat) { S.seat = r.seat; $("agent-view").hidden = false; $("seat-id").textContent = r.seat.agent + " @ " + (r.seat.seat || r.seat.agent); }
  else $("agent-view").hidden = true;
  if (r.role === "supervisor" || r.role === "admin") {
    $("sup-view").hidden = false;
    S.agents.clear();
    for (const a of r.agents || []) S.agents.set(a.agent, a);
    S.stats = r.queues || null;
    renderSup();
  } else $("sup-view").hidden = true;
  renderSeat(); renderCall();
  log("signed in as " + r.agent);
}

$("logout").onclick = async () => {
  if (await act("logout")) { S.token = null; sessionStorage.removeItem("hotline.token"); S.seat = null; showLogin(); }
};

$("shift-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const r = await act("shift_change", { agent: $("shift-agent").value.trim(), password: $("shift-password").value });
  $("shift-password").value = "";
  if (r) onSignedIn(r);
};

// ---- events ---------------------------------------------------------------
function onEvent(e) {
  if (/^webrtc\./.test(e.event)) { if (window.HotlinePhone) HotlinePhone.event(e); return; } // phone.js
  switch (e.event) {
    case "agent.state":
      if (S.seat && e.agent === S.me) {
        if (e.state === "logged-out" && S.role === "agent") {
          // Signed out by a supervisor or by the phone going away.
          alertMsg("You were signed out (" + (e.reason || "logged out") + "). Sign in again to take calls.");
          S.seat = null; S.token = null; sessionStorage.removeItem("hotline.token");
          showLogin();
          break;
        }
        Object.assign(S.seat, { state: e.state, reason: e.reason, since: e.at, call_id: e.call_id || "", caller: e.caller || "" });
        S.seat.wrap_until = e.seat ? e.seat.wrap_until : null;
        renderSeat(); renderCall();
      }
      if (S.role === "supervisor" || S.role === "admin") {
        if (e.state === "logged-out") S.agents.delete(e.agent);
        else {
          if (!S.agents.has(e.agent)) refreshSeats(); // a new seat: fetch its name and skills
          const a = S.agents.get(e.agent) || { agent: e.agent };
          Object.assign(a, { state: e.state, reason: e.reason, since: e.at, call_id: e.call_id || "", caller: e.caller || "" });
          S.agents.set(e.agent, a);
        }
        renderSeats();
      }
      break;
    case "call.offered":
      if (e.call) S.calls.set(e.call_id, Object.assign(e.call, { agent: e.agent, state: "ringing" }));
      if (e.agent === S.me) { log("call offered from " + (e.caller || "?")); renderCall(); }
      break;
    case "call.answered": {
      // The engine's call.state (announcing, talking…) may arrive first: keep it.
      const cur = S.calls.get(e.call_id);
      setCall(e.call_id, cur && cur.state && cur.state !== "ringing" ? { agent: e.agent } : { state: "talking", agent: e.agent });
      break;
    }
    case "call.held": setCall(e.call_id, { held: true, state: "held" }); break;
    case "call.retrieved": setCall(e.call_id, { held: false, state: "talking" }); break;
    case "call.state": setCall(e.call_id, { state: e.state, held: e.state === "held" || e.state === "consulting", agent: e.agent }); break;
    case "call.muted": setCall(e.call_id, { muted: true }); break;
    case "call.unmuted": setCall(e.call_id, { muted: false }); break;
    case "call.rona": case "call.ended": case "call.abandoned": case "call.transferred": case "call.internal_cut":
      S.calls.delete(e.call_id); log(e.event + " " + e.call_id + (e.reason ? " (" + e.reason + ")" : "")); renderCall(); break;
    case "agent.break_overrun": alertMsg("Break overrun: agent " + e.agent + " on " + e.reason + " for " + fmtDur(e.wait_ms)); break;
    case "agent.adjust_warning": alertMsg("Adjust warning: agent " + e.agent + " for " + fmtDur(e.wait_ms)); break;
    case "queue.stats": S.stats = e.stats; renderSup(); renderMyQueues(); break;
    case "snapshot":
      if (e.seat) S.seat = e.seat;
      S.calls.clear(); for (const c of e.calls || []) S.calls.set(c.id, c);
      if (e.agents) { S.agents.clear(); for (const a of e.agents) S.agents.set(a.agent, a); }
      if (e.stats) S.stats = e.stats;
      renderSeat(); renderCall(); renderSup();
      break;
    case "session.ended": alertMsg("Session ended: " + (e.data && e.data.message || e.reason)); break;
    default: log(e.event + (e.agent ? " " + e.agent : ""));
  }
}

function setCall(id, patch) {
  const c = S.calls.get(id) || { id };
  S.calls.set(id, Object.assign(c, patch));
  renderCall();
}

// ---- agent view -----------------------------------------------------------
document.querySelectorAll("#state-buttons [data-state]").forEach((b) => {
  b.onclick = () => {
    const st = b.dataset.state, f = { state: st };
    if (st === "not_ready") f.reason = $("nr-reason").value;
    if (st === "break") f.reason = $("break-reason").value;
    act("set_state", f).then((r) => { if (r && r.seat) { S.seat = r.seat; renderSeat(); } });
  };
});
$("request-call").onclick = () => act("request_call");

function myCall() {
  if (!S.seat) return null;
  // The seat names a call only while ringing or connected (wrap-up keeps
  // the id of the call just ended).
  const seatCall = ["reserved", "talking", "held"].includes(S.seat.state) ? S.seat.call_id : "";
  if (seatCall && S.calls.get(seatCall)) return S.calls.get(seatCall);
  for (const c of S.calls.values()) if (c.agent === S.me && c.id !== S.seat.call_id) return c;
  if (seatCall) return { id: seatCall, caller: S.seat.caller, state: S.seat.state };
  return null;
}
const callArg = () => { const c = myCall(); return c ? { call: c.id } : {}; };

$("answer").onclick = () => act("answer", callArg());
$("hold").onclick = () => { const c = myCall(); act(c && c.held ? "unhold" : "hold", callArg()); };
$("mute").onclick = () => { const c = myCall(); act(c && c.muted ? "unmute" : "mute", callArg()); };
$("hangup").onclick = () => act("hangup", callArg());
const target = () => ({ kind: $("xfer-kind").value, value: $("xfer-value").value.trim() });
$("transfer").onclick = () => act("transfer", { ...callArg(), target: target() });
$("consult").onclick = () => act("consult", { ...callArg(), target: target() });
$("complete").onclick = () => act("complete_transfer", callArg());
$("conference").onclick = () => act("conference", callArg());
$("return").onclick = () => act("return_to_caller", callArg());
$("outbound").onclick = () => act("outbound", { number: $("out-number").value.trim() });
$("internal").onclick = () => act("internal_call", { agent: $("int-agent").value.trim() });
$("wrap-end").onclick = () => {
  const code = $("dispo").hidden ? $("dispo-free").value.trim() : $("dispo").value;
  act("wrap_up_end", { code }).then((r) => { if (r && r.seat) { S.seat = r.seat; renderSeat(); } });
};
for (const d of "123456789*0#") {
  const b = document.createElement("button");
  b.textContent = d; b.setAttribute("aria-label", "DTMF " + d);
  b.onclick = () => act("dtmf", { ...callArg(), digits: d });
  $("dtmf-pad").append(b);
}

function renderSeat() {
  if (!S.seat) return;
  const st = $("state");
  st.textContent = S.seat.state; st.className = "state st-" + S.seat.state;
  $("state-reason").textContent = S.seat.reason ? "(" + S.seat.reason + ")" : "";
  $("wrap-card").hidden = S.seat.state !== "wrap-up";
  $("request-call").hidden = S.seat.mode !== "manual";
}

function renderCall() {
  const c = myCall(), onCall = S.seat && ["reserved", "talking", "held"].includes(S.seat.state);
  $("call-card").hidden = !c;
  if (!c) return;
  $("call-id").textContent = c.id;
  $("call-state").textContent = c.state || "";
  rows($("call-info"), [["Caller", c.caller || c.callee], ["Tier", c.tier], ["Queue", c.queue], ["Direction", c.direction],
    ["Waited", c.wait_ms != null ? fmtDur(c.wait_ms) : ""], ["Offers", c.offers]]);
  rows($("customer"), Object.entries(c.customer || {}));
  const tr = $("trace"); tr.textContent = "";
  const steps = Array.isArray(c.trace) ? c.trace : c.trace ? [c.trace] : [];
  for (const s of steps) { const li = document.createElement("li"); li.textContent = traceText(s); tr.append(li); }
  $("hold").textContent = c.held ? "Unhold" : "Hold"; $("hold").classList.toggle("on", !!c.held);
  $("mute").textContent = c.muted ? "Unmute" : "Mute"; $("mute").classList.toggle("on", !!c.muted);
  // Each button only in the states where the engine can carry it out.
  const st = c.state || "";
  const is = (...states) => states.includes(st);
  $("answer").disabled = st !== "ringing";
  $("hangup").disabled = !onCall && !c.direction;
  $("hold").disabled = !is("announcing", "talking", "held");
  $("mute").disabled = !is("announcing", "talking", "held", "consulting", "conference");
  $("transfer").disabled = !is("talking", "held");
  $("consult").disabled = !is("talking");
  $("complete").disabled = !is("consulting", "conference");
  $("conference").disabled = !is("consulting");
  $("return").disabled = !is("consulting");
  for (const b of $("dtmf-pad").querySelectorAll("button")) b.disabled = !is("talking");
}

// Waiting callers in the agent's own queues.
function renderMyQueues() {
  if (!S.seat || !S.stats) return;
  const skills = S.seat.skills || {};
  const parts = (S.stats.queues || []).filter((q) => q.name in skills)
    .map((q) => q.name + ": " + q.waiting + " waiting" + (q.waiting ? " (longest " + fmtDur(q.longest_wait_ms) + ")" : ""));
  $("my-queues").textContent = parts.length ? "Queues — " + parts.join(" · ") : "";
}

// traceText renders one IVR trace entry ({at, flow, node, event, digits,
// detail} from the IVR, or plain text).
function traceText(s) {
  if (typeof s !== "object" || s === null) return String(s);
  if (!s.node && !s.event) return JSON.stringify(s);
  let t = (s.at ? new Date(s.at).toLocaleTimeString() + " " : "") + (s.flow ? s.flow + "/" : "") + (s.node || "") + " " + (s.event || "");
  if (s.digits) t += " [" + s.digits + "]";
  if (s.detail) t += " " + Object.entries(s.detail).map(([k, v]) => k + "=" + v).join(" ");
  return t;
}

// ---- supervisor view ------------------------------------------------------
function renderSup() {
  if ($("sup-view").hidden) return;
  const st = S.stats;
  if (st) {
    rows($("sl"), (st.service_levels || []).map((s) => [s.tier + (s.queue ? "/" + s.queue : ""),
      cell(pct(s.actual), s.met ? "met" : "miss"), "target " + pct(s.target) + " in " + s.threshold_s + " s",
      s.answered_within + "/" + s.answered + " answered in time", s.abandoned + " abandoned"]), ["Tier", "Actual", "Target", "", ""]);
    rows($("queues"), (st.queues || []).map((q) => [q.name, q.waiting, fmtDur(q.longest_wait_ms), byState(q.agents_by_state)]),
      ["Queue", "Waiting", "Longest", "Agents"]);
    const w = [];
    for (const q of st.queues || []) for (const c of q.callers || []) w.push([q.name, c.caller, c.tier, c.customer && c.customer.name || "", fmtDur(c.wait_ms)]);
    rows($("waiting"), w, ["Queue", "Caller", "Tier", "Customer", "Waiting"]);
  }
  renderSeats();
}

function renderSeats() {
  if ($("sup-view").hidden) return;
  const t = $("seats"); t.textContent = "";
  head(t, ["Agent", "Name", "State", "Reason", "Time", "Call", "Actions"]);
  const ids = [...S.agents.keys()].sort();
  for (const id of ids) {
    const a = S.agents.get(id), tr = t.insertRow();
    tr.className = S.selected === id ? "sel" : "";
    tr.insertCell().textContent = id;
    tr.insertCell().textContent = a.name || "";
    const s = tr.insertCell(); s.textContent = a.state; s.className = "state st-" + a.state;
    tr.insertCell().textContent = a.reason || "";
    const tm = tr.insertCell(); tm.dataset.since = a.since || ""; tm.className = "since";
    tr.insertCell().textContent = a.call_id ? a.call_id + " " + (a.caller || "") : "";
    const acts = tr.insertCell();
    for (const [label, fn] of [["Listen", () => mon(id, "listen")], ["Whisper", () => mon(id, "whisper")], ["Barge", () => mon(id, "barge")],
      ["Take over", () => mon(id, "takeover")], ["Ready", () => act("force_ready", { agent: id })],
      ["Not ready", () => act("force_not_ready", { agent: id, reason: $("force-reason").value })],
      ["Sign out", () => act("force_sign_out", { agent: id })]]) {
      const b = document.createElement("button"); b.textContent = label; b.onclick = fn;
      b.setAttribute("aria-label", label + " agent " + id); acts.append(b);
    }
    tr.onclick = () => { S.selected = id; };
  }
  tick();
}
const mon = (agent, mode) => act("monitor", { agent, mode });

// refreshSeats reloads the seat map, at most once a second.
let refreshing = null;
function refreshSeats() {
  if (refreshing) return;
  refreshing = setTimeout(async () => {
    try {
      const r = await req("list_agents");
      S.agents.clear();
      for (const a of r.agents || []) S.agents.set(a.agent, a);
      renderSeats();
    } catch (e) { /* the next state change retries */ }
    refreshing = null;
  }, 1000);
}

// ---- helpers --------------------------------------------------------------
function rows(t, data, hdr) {
  t.textContent = "";
  if (hdr) head(t, hdr);
  for (const r of data) {
    const tr = t.insertRow();
    for (const v of r) {
      const td = tr.insertCell();
      if (v && v.nodeType) td.append(v); else td.textContent = v == null ? "" : String(v);
    }
  }
}
function head(t, cols) { const tr = t.createTHead().insertRow(); for (const c of cols) { const th = document.createElement("th"); th.textContent = c; tr.append(th); } }
function cell(text, cls) { const s = document.createElement("span"); s.textContent = text; s.className = cls; return s; }
function fillSelect(sel, opts) { sel.textContent = ""; for (const o of opts) sel.append(new Option(o, o)); }
const pct = (x) => (x * 100).toFixed(1) + " %";
const byState = (m) => Object.entries(m || {}).map(([k, v]) => k + " " + v).join(", ");
function fmtDur(ms) { if (ms == null) return ""; const s = Math.max(0, Math.floor(ms / 1000)); return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); }
function since(iso) { return iso ? Date.now() - S.skew - Date.parse(iso) : null; }
function setConn(on) {
  const c = $("conn"); c.textContent = on ? "online" : "offline — reconnecting"; c.className = "pill " + (on ? "on" : "off");
  $("login-form").querySelector("button").disabled = !on;
}
function log(s) { const li = document.createElement("li"); li.textContent = new Date().toLocaleTimeString() + " " + s; $("log").prepend(li); while ($("log").children.length > 100) $("log").lastChild.remove(); }
function alertMsg(s) {
  log(s);
  const d = document.createElement("div"); d.textContent = s; d.tabIndex = 0;
  d.onclick = d.onkeydown = () => d.remove();
  $("alerts").prepend(d); setTimeout(() => d.remove(), 15000);
}

// Time in state, redrawn every second without touching the rest.
function tick() {
  if (S.seat) {
    $("state-time").textContent = fmtDur(since(S.seat.since));
    $("wrap-left").textContent = S.seat.wrap_until ? "(wrap-up ends in " + fmtDur(-since(S.seat.wrap_until)) + ")" : "";
  }
  document.querySelectorAll("td.since").forEach((td) => { td.textContent = fmtDur(since(td.dataset.since)); });
}
setInterval(tick, 1000);

// Digits typed while a call is up go to the DTMF pad (not while typing in a field).
document.addEventListener("keydown", (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey || /INPUT|SELECT|TEXTAREA/.test(document.activeElement.tagName)) return;
  if ("0123456789*#".includes(e.key) && e.key.length === 1 && myCall()) act("dtmf", { ...callArg(), digits: e.key });
});

setConn(false);
connect();
