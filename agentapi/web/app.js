// Hotline agent desktop and wallboard: protocol v1 over /ws (see PROTOCOL.md),
// recordings and reports over HTTP with the session token. Plain JS, no
// build step; strings in i18n.js, the day's chart in chart.js. The session
// token lives in sessionStorage (and in localStorage on a TV wallboard) so
// a reload, a dropped connection or an engine restart resumes the same seat.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "hotline.token";
const S = {
  ws: null, seq: 0, pending: new Map(), token: sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY),
  me: null, role: null, name: "", seat: null, calls: new Map(), agents: new Map(), stats: null, online: false,
  selected: null, skew: 0, retry: 0, view: null, cfg: {}, history: new Map(), lastCall: null, alerts: new Map(),
  chartRows: [], chartPoints: 0, lastCSV: null, lastReportQuery: null, recordings: [],
};
const isSup = () => S.role === "supervisor" || S.role === "admin";

// Page extensions (campaign.js): each gets every event first (true: handled)
// and a "page.signed_in" / "page.signed_out" / "page.render" / "page.view"
// pseudo-event.
const pageExtensions = [];
function extend(fn) { pageExtensions.push(fn); }
function toExtensions(e) { let done = false; for (const fn of pageExtensions) done = fn(e) || done; return done; }

// ---- connection -----------------------------------------------------------
function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  let ws;
  try { ws = new WebSocket(url); } catch { setTimeout(connect, backoff()); return; }
  S.ws = ws;
  ws.onopen = async () => {
    S.retry = 0;
    setConn(true);
    if (S.token) {
      try { onSignedIn(await req("resume", { token: S.token })); }
      catch (e) { if (e.code !== "disconnected") { saveToken(null); showLogin(); } }
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
    if (S.ws !== ws) return;
    setConn(false);
    for (const p of S.pending.values()) p.reject({ code: "disconnected", message: "connection lost" });
    S.pending.clear();
    if (ev.code === 4001) {
      alertMsg(t("alert.elsewhere", { reason: ev.reason || "session taken over" }));
      saveToken(null); showLogin();
    }
    // Calls carry on without us; reconnect and resume, however long it takes.
    setTimeout(connect, backoff());
  };
}
const backoff = () => Math.min(10000, 500 * 2 ** Math.min(S.retry++, 5));

function req(type, fields = {}) {
  return new Promise((resolve, reject) => {
    if (!S.ws || S.ws.readyState !== WebSocket.OPEN) return reject({ code: "disconnected", message: "not connected" });
    const id = String(++S.seq);
    S.pending.set(id, { resolve, reject });
    S.ws.send(JSON.stringify({ id, type, ...fields }));
  });
}

// act runs a request and reports refusals to the user.
async function act(type, fields) {
  try { const r = await req(type, fields); log(type + " ok"); return r; }
  catch (e) { alertMsg(t("alert.failed", { action: type, msg: e.message, code: e.code })); return null; }
}

function saveToken(tok) {
  S.token = tok;
  if (tok) {
    sessionStorage.setItem(TOKEN_KEY, tok);
    if (document.body.classList.contains("tv")) localStorage.setItem(TOKEN_KEY, tok);
  } else {
    sessionStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(TOKEN_KEY);
  }
}

// authFetch calls the engine's HTTP API with the desktop session.
async function authFetch(url) {
  const r = await fetch(url, { headers: { Authorization: "Bearer " + S.token }, cache: "no-store" });
  if (!r.ok) {
    let msg = r.statusText;
    try { const b = await r.clone().json(); msg = b.error || msg; } catch { try { msg = (await r.text()).trim() || msg; } catch { /* keep */ } }
    throw { code: String(r.status), message: msg };
  }
  return r;
}

// setConn shows the connection state. While offline every control is off
// and the timers stop: nothing the page shows can be trusted or done.
function setConn(on) {
  S.online = on;
  const c = $("conn");
  c.dataset.i18n = on ? "conn.online" : "conn.offline";
  c.textContent = t(c.dataset.i18n); c.className = "pill " + (on ? "on" : "off");
  document.body.classList.toggle("offline", !on);
  $("offline-banner").hidden = on || !S.me;
  $("login-form").querySelector("button").disabled = !on;
  const controls = document.querySelectorAll("main button, main select, main input, main textarea, #logout");
  if (!on) {
    for (const el of controls) if (!el.disabled) { el.disabled = true; el.dataset.off = "1"; }
  } else {
    for (const el of controls) if (el.dataset.off) { el.disabled = false; delete el.dataset.off; }
    renderAll();
  }
}
// en enables a control when cond holds and the connection is up.
function en(el, cond) {
  if (!S.online) { el.disabled = true; if (cond) el.dataset.off = "1"; else delete el.dataset.off; return; }
  el.disabled = !cond;
}

// ---- language ---------------------------------------------------------------
function initLanguages() {
  const sel = $("lang");
  sel.textContent = "";
  for (const [code, label] of LANGS) sel.append(new Option(label, code));
  LANG = pickLanguage(null, null);
  sel.value = LANG;
  sel.onchange = () => setLanguage(sel.value, true);
  applyI18n();
}

function setLanguage(lang, save) {
  if (!MESSAGES[lang]) return;
  LANG = lang;
  $("lang").value = lang;
  if (save) {
    localStorage.setItem("hotline.lang", lang);
    if (S.me) localStorage.setItem("hotline.lang." + S.me, lang);
  }
  applyI18n();
  $("tv").textContent = t(document.body.classList.contains("tv") ? "btn.tv.off" : "btn.tv");
  setConn(S.online);
  fillReasonSelects();
  fillReportSelects();
  if (S.me) $("who").textContent = (S.name || S.me);
  renderAll();
  if (S.view === "wallboard") drawChart();
  if (S.view === "recordings") renderRecordings();
}

// ---- sign-in and views --------------------------------------------------
function showLogin() {
  if (S.me) toExtensions({ event: "page.signed_out" }); // phone.js (the browser phone) lets go
  S.me = null; S.seat = null; S.role = null;
  $("login-view").hidden = false;
  for (const id of ["agent-view", "sup-view", "rec-view", "rep-view", "logout", "nav", "tv"]) $(id).hidden = true;
  $("offline-banner").hidden = true;
  $("who").textContent = "";
  setLanguage(pickLanguage(null, null), false);
  $("login-agent").focus();
}

$("login-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const f = { agent: $("login-agent").value.trim(), password: $("login-password").value };
  if ($("login-ext").value.trim()) f.extension = $("login-ext").value.trim();
  try { const r = await req("login", f); $("login-password").value = ""; onSignedIn(r); }
  catch (e) { alertMsg(t("login.refused", { msg: e.message })); }
};

function onSignedIn(r) {
  if (r.role === "agent" && r.seat && r.seat.state === "logged-out") {
    // Resumed a session whose seat was signed out meanwhile.
    alertMsg(t("alert.seatgone"));
    saveToken(null); showLogin();
    return;
  }
  saveToken(r.token);
  S.me = r.agent; S.role = r.role; S.name = r.name || r.agent;
  if (r.now) S.skew = Date.now() - Date.parse(r.now);
  S.cfg = {
    breaks: r.break_reasons || [], notReady: r.not_ready_reasons || [], dispos: r.disposition_codes || [],
    queueCodes: r.wrap_up_codes || {}, breakLimits: r.break_limits_s || {}, attrs: r.customer_attributes || [], historyOn: !!r.history,
  };
  setLanguage(pickLanguage(S.me, r.language), false);
  $("who").textContent = S.name;
  $("login-view").hidden = true; $("logout").hidden = false;
  S.calls.clear();
  for (const c of r.calls || []) S.calls.set(c.id, c);
  S.seat = r.seat || null;
  if (S.seat) $("seat-id").textContent = S.seat.agent + " @ " + (S.seat.seat || S.seat.agent);
  if (isSup()) {
    S.agents.clear();
    for (const a of r.agents || []) S.agents.set(a.agent, a);
    S.stats = r.queues || null;
  }
  // Navigation: what this role may open.
  const views = [];
  if (S.seat) views.push("desk");
  if (isSup()) views.push("wallboard");
  views.push("recordings");
  if (isSup()) views.push("reports");
  for (const b of $("nav").querySelectorAll("button")) b.hidden = !views.includes(b.dataset.view);
  $("nav").hidden = views.length < 2;
  $("tv").hidden = !isSup();
  if (isSup() && new URLSearchParams(location.search).get("tv") === "1") setTV(true);
  showView(views.includes(S.view) ? S.view : isSup() ? "wallboard" : views[0]);
  renderAll();
  toExtensions({ event: "page.signed_in", reply: r });
  log(t("signedin", { agent: r.agent }));
}

function showView(v) {
  S.view = v;
  $("agent-view").hidden = v !== "desk";
  $("sup-view").hidden = v !== "wallboard";
  $("rec-view").hidden = v !== "recordings";
  $("rep-view").hidden = v !== "reports";
  for (const b of $("nav").querySelectorAll("button")) b.classList.toggle("on", b.dataset.view === v);
  if (v === "wallboard") { renderSup(); loadChart(); }
  if (v === "recordings") initRecordings();
  if (v === "reports") initReports();
  toExtensions({ event: "page.view", view: v });
}
for (const b of $("nav").querySelectorAll("button")) b.onclick = () => showView(b.dataset.view);

$("logout").onclick = async () => {
  if (await act("logout")) { saveToken(null); showLogin(); }
};

function setTV(on) {
  document.body.classList.toggle("tv", on);
  localStorage.setItem("hotline.tv", on ? "1" : "");
  if (on && S.token) localStorage.setItem(TOKEN_KEY, S.token);
  if (!on) localStorage.removeItem(TOKEN_KEY);
  $("tv").textContent = t(on ? "btn.tv.off" : "btn.tv");
  if (on) showView("wallboard");
}
$("tv").onclick = () => setTV(!document.body.classList.contains("tv"));

$("shift-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const r = await act("shift_change", { agent: $("shift-agent").value.trim(), password: $("shift-password").value });
  $("shift-password").value = "";
  if (r) onSignedIn(r);
};

// ---- events -----------------------------------------------------------------
function onEvent(e) {
  if (toExtensions(e)) return;
  switch (e.event) {
    case "agent.state":
      if (S.seat && e.agent === S.me) {
        if (e.state === "logged-out" && S.role === "agent") {
          // Signed out by a supervisor or by the phone going away.
          alertMsg(t("alert.signedout", { reason: e.reason || "logged out" }));
          saveToken(null); showLogin();
          break;
        }
        Object.assign(S.seat, { state: e.state, reason: e.reason, since: e.at, call_id: e.call_id || "", caller: e.caller || "" });
        S.seat.wrap_until = e.seat ? e.seat.wrap_until : null;
        renderSeat(); renderCall();
      }
      if (isSup()) {
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
    case "agent.break_overrun": alertMsg(t("alert.overrun", { agent: e.agent, reason: e.reason, t: fmtDur(e.wait_ms) })); break;
    case "agent.adjust_warning": alertMsg(t("alert.adjust", { agent: e.agent, t: fmtDur(e.wait_ms) })); break;
    case "queue.stats": S.stats = e.stats; renderSup(); renderMyQueues(); break;
    case "snapshot":
      if (e.seat) S.seat = e.seat;
      S.calls.clear(); for (const c of e.calls || []) S.calls.set(c.id, c);
      if (e.agents) { S.agents.clear(); for (const a of e.agents) S.agents.set(a.agent, a); }
      if (e.stats) S.stats = e.stats;
      renderAll();
      break;
    case "session.ended": alertMsg(t("alert.session", { msg: e.data && e.data.message || e.reason })); break;
    default: log(e.event + (e.agent ? " " + e.agent : ""));
  }
}

function setCall(id, patch) {
  const c = S.calls.get(id) || { id };
  if (!c.started && ["talking", "announcing"].includes(patch.state)) c.started = new Date(Date.now() - S.skew).toISOString();
  S.calls.set(id, Object.assign(c, patch));
  renderCall();
}

function renderAll() {
  if (!S.me) return;
  renderSeat(); renderCall(); renderMyQueues(); renderSup();
  toExtensions({ event: "page.render" });
}

// ---- agent desk -------------------------------------------------------------
function fillReasonSelects() {
  fillSelect($("break-reason"), S.cfg.breaks && S.cfg.breaks.length ? S.cfg.breaks : ["lunch", "rest"], "reason.");
  fillSelect($("nr-reason"), S.cfg.notReady && S.cfg.notReady.length ? S.cfg.notReady : ["busy", "meeting", "training"], "reason.");
}

document.querySelectorAll("#state-buttons [data-state]").forEach((b) => {
  b.onclick = () => {
    const st = b.dataset.state, f = { state: st };
    if (st === "not_ready") f.reason = $("nr-reason").value;
    if (st === "break") f.reason = $("break-reason").value;
    act("set_state", f).then((r) => { if (r && r.seat) { S.seat = r.seat; renderSeat(); } });
  };
});
$("request-call").onclick = () => act("request_call");

const onCallStates = ["reserved", "talking", "held"];
function myCall() {
  if (!S.seat) return null;
  // The seat names a call only while ringing or connected (wrap-up keeps
  // the id of the call just ended).
  const seatCall = onCallStates.includes(S.seat.state) ? S.seat.call_id : "";
  if (seatCall && S.calls.get(seatCall)) return S.calls.get(seatCall);
  for (const c of S.calls.values()) if (c.agent === S.me && c.id !== S.seat.call_id) return c;
  if (seatCall) return { id: seatCall, caller: S.seat.caller, state: S.seat.state === "reserved" ? "ringing" : S.seat.state };
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
for (const id of ["xfer-value", "out-number", "int-agent"]) $(id).oninput = () => renderCall();
$("dispo").onchange = $("dispo-free").oninput = () => renderSeat();
$("wrap-end").onclick = async () => {
  const code = $("dispo").hidden ? $("dispo-free").value.trim() : $("dispo").value;
  const f = { code };
  const note = $("dispo-note").value.trim();
  if (note) f.note = note;
  const r = await act("wrap_up_end", f);
  if (r) {
    log(t("wrap.saved", { code }));
    $("dispo-note").value = ""; $("dispo-free").value = "";
    if (r.seat) { S.seat = r.seat; renderSeat(); }
  }
};
for (const d of "123456789*0#") {
  const b = document.createElement("button");
  b.textContent = d; b.setAttribute("aria-label", "DTMF " + d);
  b.onclick = () => act("dtmf", { ...callArg(), digits: d });
  $("dtmf-pad").append(b);
}

// wrapCodes are the codes for the call just ended: its queue's, else the global list.
function wrapCodes() {
  const q = S.lastCall && S.lastCall.queue;
  return (q && S.cfg.queueCodes[q]) || S.cfg.dispos || [];
}

function renderSeat() {
  if (!S.seat) return;
  const st = $("state"), s = S.seat.state;
  st.textContent = tOr("st.", s); st.className = "state st-" + s; st.dataset.state = s;
  $("state-reason").textContent = S.seat.reason ? "(" + tOr("reason.", S.seat.reason) + ")" : "";
  const onCall = onCallStates.includes(s);
  for (const b of document.querySelectorAll("#state-buttons [data-state]")) {
    const target = b.dataset.state.replace("_", "-");
    en(b, !onCall && s !== "logged-out" && (target !== s || target === "not-ready" || target === "break"));
  }
  $("request-call").hidden = S.seat.mode !== "manual";
  en($("request-call"), s === "ready" && !S.seat.requested);
  const inWrap = s === "wrap-up";
  const card = $("wrap-card");
  if (inWrap && card.hidden) {
    // A fresh wrap-up: offer the codes of the call's queue.
    const codes = wrapCodes();
    const sel = $("dispo");
    sel.textContent = "";
    sel.append(new Option(t("wrap.choose"), ""));
    for (const c of codes) sel.append(new Option(tOr("code.", c), c));
    sel.hidden = !codes.length;
    $("dispo-free").hidden = !!codes.length;
  }
  card.hidden = !inWrap;
  const code = $("dispo").hidden ? $("dispo-free").value.trim() : $("dispo").value;
  en($("wrap-end"), inWrap && code !== "");
  tick();
}

function renderCall() {
  const c = myCall();
  const card = $("call-card");
  card.hidden = !c;
  if (c) {
    S.lastCall = { id: c.id, queue: c.queue || (S.lastCall && S.lastCall.id === c.id ? S.lastCall.queue : ""), started: c.started || (S.lastCall && S.lastCall.id === c.id ? S.lastCall.started : null) };
    $("call-id").textContent = c.id;
    const cs = $("call-state");
    cs.textContent = tOr("cs.", c.state); cs.dataset.state = c.state || "";
    renderCustomer(c);
    const tr = $("trace"); tr.textContent = "";
    const steps = Array.isArray(c.trace) ? c.trace : c.trace ? [c.trace] : [];
    for (const s of steps.filter(traceShown)) {
      const li = document.createElement("li");
      if (s && typeof s === "object" && s.at) { const w = document.createElement("span"); w.className = "when"; w.textContent = fmtTime(s.at); li.append(w); }
      li.append(document.createTextNode(traceText(s, true)));
      tr.append(li);
    }
    $("hold").textContent = t(c.held ? "btn.unhold" : "btn.hold"); $("hold").classList.toggle("on", !!c.held);
    $("mute").textContent = t(c.muted ? "btn.unmute" : "btn.mute"); $("mute").classList.toggle("on", !!c.muted);
  }
  // Each button only in the states where the engine can carry it out.
  const st = c ? c.state || "" : "";
  const is = (...states) => states.includes(st);
  const onCall = S.seat && onCallStates.includes(S.seat.state);
  const hasTarget = $("xfer-value").value.trim() !== "";
  en($("answer"), st === "ringing");
  en($("hangup"), !!c && (onCall || !!c.direction));
  en($("hold"), is("announcing", "talking", "held"));
  en($("mute"), is("announcing", "talking", "held", "consulting", "conference"));
  en($("transfer"), is("talking", "held") && hasTarget);
  en($("consult"), is("talking") && hasTarget);
  en($("complete"), is("consulting", "conference"));
  en($("conference"), is("consulting"));
  en($("return"), is("consulting"));
  en($("xfer-kind"), !!c); en($("xfer-value"), !!c);
  for (const b of $("dtmf-pad").querySelectorAll("button")) en(b, is("talking"));
  const idle = S.seat && !onCall && !c;
  en($("outbound"), !!idle && $("out-number").value.trim() !== "");
  en($("internal"), !!idle && $("int-agent").value.trim() !== "");
  tick();
}

// renderCustomer fills the customer card: who, tier colour, region, id,
// the configured CRM attributes, the call's facts and the last calls.
function renderCustomer(c) {
  const cust = c.customer || {};
  const known = cust.lookup === "found" || !!cust.name;
  $("cust-name").textContent = known && cust.name ? cust.name : t("card.unknown");
  const tier = c.tier || cust.tier || "";
  const tb = $("cust-tier");
  tb.textContent = tOr("tier.", tier); tb.hidden = !tier; tb.style.background = tierColour(tier); tb.dataset.tier = tier;
  const facts = [["card.caller", c.caller || c.callee], ["card.id", cust.customer_id], ["card.region", cust.region]];
  for (const a of S.cfg.attrs || []) facts.push(["attr." + a, cust["attr_" + a], a]);
  facts.push(["card.queue", c.queue], ["card.direction", tOr("dir.", c.direction)], ["card.callback", c.callback], ["card.campaign", c.campaign],
    ["card.waited", c.wait_ms != null && !c.started ? fmtDur(c.wait_ms) : ""], ["card.offers", c.offers > 1 ? c.offers : ""]);
  const dl = $("customer"); dl.textContent = "";
  for (const [key, v, raw] of facts) {
    if (v == null || v === "") continue;
    const dt = document.createElement("dt"); dt.textContent = raw && t(key) === key ? raw : t(key);
    const dd = document.createElement("dd"); dd.textContent = v;
    dl.append(dt, dd);
  }
  renderHistory(c);
}

function renderHistory(c) {
  const tbl = $("history");
  tbl.hidden = !S.cfg.historyOn;
  if (!S.cfg.historyOn) return;
  const h = S.history.get(c.id);
  if (h === undefined) {
    S.history.set(c.id, null);
    req("customer_history", { call: c.id }).then((r) => { S.history.set(c.id, r.calls_before || []); if (myCall() && myCall().id === c.id) renderHistory(c); })
      .catch(() => S.history.delete(c.id));
  }
  tbl.textContent = "";
  if (!h) return;
  if (!h.length) { const r = bodyRow(tbl); const td = r.insertCell(); td.className = "hint"; td.textContent = t("card.nohistory"); return; }
  rows(tbl, h.map((p) => [fmtDateTime(p.at), p.queue || "", p.agent || "", tOr("dispo.", p.disposition),
    (tOr("code.", p.wrap_up_code) || "") + (p.wrap_up_note ? " — " + p.wrap_up_note : "")]),
  [t("hist.when"), t("hist.queue"), t("hist.agent"), t("hist.outcome"), t("hist.code")]);
}

// Waiting callers in the agent's own queues.
function renderMyQueues() {
  if (!S.seat || !S.stats) { $("my-queues").textContent = ""; return; }
  const skills = S.seat.skills || {};
  const parts = (S.stats.queues || []).filter((q) => q.name in skills)
    .map((q) => t("queues.item", { q: q.name, n: q.waiting }) + (q.waiting ? " (" + t("queues.longest", { t: fmtDur(q.longest_wait_ms) }) + ")" : ""));
  $("my-queues").textContent = parts.length ? t("queues.mine", { list: parts.join(" · ") }) : "";
}

// traceText renders one IVR trace entry ({at, flow, node, event, digits,
// detail} from the IVR, or plain text) for people: the node, what
// happened in the user's language, the keys pressed and what matters of
// the detail; noTime leaves the time out.
function traceText(s, noTime) {
  if (typeof s !== "object" || s === null) return String(s);
  if (!s.node && !s.event) return JSON.stringify(s);
  let out = (!noTime && s.at ? fmtTime(s.at) + " " : "") + (s.node || s.flow || "") + " · " + tOr("ev.", s.event);
  if (s.digits) out += " [" + s.digits + "]";
  const d = s.detail || {};
  for (const k of ["result", "tier", "queue", "agent", "position", "reason"]) if (d[k]) out += " " + k + "=" + d[k];
  if (d.goto) out += " → " + d.goto;
  return out;
}
// traceShown leaves out the entries that only say a node was entered.
const traceShown = (s) => !(s && typeof s === "object" && s.event === "enter");

// ---- supervisor wallboard -----------------------------------------------------
// sl summarises service-level rows: a share, or null when the window holds no call.
function slOf(rows) {
  let within = 0, den = 0, answered = 0, abandoned = 0, asaSum = 0, asaN = 0, overdue = 0;
  for (const r of rows) {
    within += r.answered_within; answered += r.answered; abandoned += r.abandoned; overdue += r.overdue_waiting;
    den += r.answered + r.abandoned + r.overdue_waiting;
    if (r.asa_s != null && r.answered) { asaSum += r.asa_s * r.answered; asaN += r.answered; }
  }
  return { sl: den ? within / den : null, within, den, answered, abandoned, overdue,
    abandon: answered + abandoned ? abandoned / (answered + abandoned) : null, asa: asaN ? asaSum / asaN : null };
}

function renderSup() {
  if ($("sup-view").hidden || !S.stats) { renderSeats(); return; }
  const st = S.stats, all = st.service_levels || [];
  const tiers = all.filter((s) => !s.queue);
  // Tier tiles: SL against target, ASA, abandon rate.
  const box = $("sl"); box.textContent = "";
  for (const s of tiers) {
    const sum = slOf([s]);
    const nodata = sum.sl == null || s.actual == null;
    const d = document.createElement("div");
    d.className = "tile " + (nodata ? "nodata" : s.met ? "met" : "miss");
    d.dataset.tier = s.tier;
    const name = document.createElement("div"); name.className = "name";
    const sw = document.createElement("i"); sw.style.background = tierColour(s.tier);
    name.append(sw, document.createTextNode(tOr("tier.", s.tier)));
    const big = document.createElement("div"); big.className = "big"; big.textContent = nodata ? t("wb.nodata") : fmtPct(s.actual);
    const sub1 = document.createElement("div"); sub1.className = "sub"; sub1.textContent = t("wb.target", { p: fmtPct(s.target, 0), s: fmtNum(s.threshold_s) });
    const sub2 = document.createElement("div"); sub2.className = "sub";
    sub2.textContent = t("wb.asa") + " " + fmtSecs(s.asa_s) + " · " + t("wb.abandon") + " " + fmtPct(sum.abandon) + " · " + t("wb.inwindow", { a: s.answered_within, n: sum.den });
    d.append(name, big, sub1, sub2);
    box.append(d);
    checkTierAlert(s, nodata);
  }
  // Queues: waiting, longest wait, agents, SL per tier and overall, ASA, abandon rate.
  const tierNames = tiers.map((s) => s.tier);
  const qt = $("queues"); qt.textContent = "";
  head(qt, [t("wb.queue"), t("wb.waitingn"), t("wb.longest"), t("wb.callbacks"), t("wb.agents"), t("wb.sl"), ...tierNames, t("wb.asa"), t("wb.abandon")]);
  for (const q of st.queues || []) {
    const rowsQ = all.filter((s) => s.queue === q.name);
    const sum = slOf(rowsQ);
    const tr = bodyRow(qt); tr.dataset.queue = q.name;
    tr.insertCell().textContent = q.name;
    numCell(tr, fmtNum(q.waiting)); numCell(tr, q.waiting ? fmtDur(q.longest_wait_ms) : "—");
    numCell(tr, fmtNum(q.callbacks || 0)).dataset.col = "callbacks";
    tr.insertCell().textContent = byState(q.agents_by_state);
    const allMet = rowsQ.every((s) => slOf([s]).sl == null || s.met);
    slCell(tr, sum.sl, sum.sl == null ? "nodata" : allMet ? "met" : "miss", q.name, "");
    for (const tn of tierNames) {
      const s = rowsQ.find((r) => r.tier === tn);
      const v = s ? slOf([s]).sl : null;
      slCell(tr, v, v == null ? "nodata" : s.met ? "met" : "miss", q.name, tn);
    }
    numCell(tr, fmtSecs(sum.asa)); numCell(tr, fmtPct(sum.abandon));
  }
  const w = [];
  for (const q of st.queues || []) for (const c of q.callers || []) {
    // A callback keeps its place but nobody is on the line: say so.
    const who = c.direction === "callback" ? t("wb.callback", { n: c.callback, a: c.attempts || 0 }) : c.caller;
    w.push([q.name, who, c.tier, c.customer && c.customer.name || "", fmtDur(c.wait_ms)]);
  }
  rows($("waiting"), w, [t("wb.queue"), t("wb.caller"), t("wb.tier"), t("wb.customer"), t("wb.wait")]);
  renderSeats();
}
function numCell(tr, v) { const td = tr.insertCell(); td.className = "num"; td.textContent = v; return td; }
function slCell(tr, v, cls, queue, tier) {
  const td = numCell(tr, v == null ? "—" : fmtPct(v));
  td.classList.add("cell-sl", cls); td.dataset.queue = queue; td.dataset.tier = tier;
}

// checkTierAlert raises an alert that stays until acknowledged when a tier
// falls behind its target. An acknowledged tier alerts again only after it
// was back on target; an alert not yet acknowledged notes the recovery.
function checkTierAlert(s, nodata) {
  const key = "tier:" + s.tier, cur = S.alerts.get(key);
  const behind = !nodata && !s.met;
  if (behind) {
    if (!cur) stickyAlert(key, t("alert.behind", { tier: s.tier, sl: fmtPct(s.actual), target: fmtPct(s.target, 0) }));
    else if (cur.recovered && !cur.acked) {
      cur.recovered = false;
      cur.el.querySelector("span").textContent = fmtTime(Date.now()) + " " + t("alert.behind", { tier: s.tier, sl: fmtPct(s.actual), target: fmtPct(s.target, 0) });
    }
  } else if (cur) {
    if (cur.acked) S.alerts.delete(key);
    else if (!cur.recovered) {
      cur.recovered = true;
      cur.el.querySelector("span").textContent += " — " + t("alert.recovered", { time: fmtTime(Date.now()) });
    }
  }
}

function renderSeats() {
  if ($("sup-view").hidden) return;
  const tb = $("seats"); tb.textContent = "";
  head(tb, [t("seat.agent"), t("seat.name"), t("seat.state"), t("seat.reason"), t("seat.time"), t("seat.call"), t("seat.actions")]);
  const ids = [...S.agents.keys()].sort();
  for (const id of ids) {
    const a = S.agents.get(id), tr = bodyRow(tb);
    tr.className = S.selected === id ? "sel" : "";
    tr.dataset.agent = id;
    tr.insertCell().textContent = id;
    tr.insertCell().textContent = a.name || "";
    const s = tr.insertCell(); s.textContent = tOr("st.", a.state); s.className = "state st-" + a.state; s.dataset.state = a.state;
    tr.insertCell().textContent = tOr("reason.", a.reason);
    const tm = tr.insertCell(); tm.dataset.since = a.since || ""; tm.className = "since mono";
    tr.insertCell().textContent = a.call_id ? a.call_id + " " + (a.caller || "") : "";
    const acts = tr.insertCell();
    const onCall = onCallStates.includes(a.state);
    const actions = [
      ["act.listen", "Listen", onCall, () => mon(id, "listen")],
      ["act.whisper", "Whisper", onCall, () => mon(id, "whisper")],
      ["act.barge", "Barge", onCall, () => confirmThen(t("confirm.barge", { agent: id }), () => mon(id, "barge"))],
      ["act.takeover", "Take over", onCall, () => confirmThen(t("confirm.takeover", { agent: id }), () => mon(id, "takeover"))],
      ["act.ready", "Ready", a.state !== "ready", () => act("force_ready", { agent: id })],
      ["act.notready", "Not ready", a.state !== "not-ready", () => act("force_not_ready", { agent: id, reason: $("force-reason").value })],
      ["act.signout", "Sign out", true, () => confirmThen(t("confirm.signout", { agent: id }), () => act("force_sign_out", { agent: id }))],
    ];
    for (const [key, label, ok, fn] of actions) {
      const b = document.createElement("button"); b.textContent = t(key); b.onclick = fn;
      if (key === "act.barge" || key === "act.takeover" || key === "act.signout") b.className = "danger";
      // aria-label stays English: a stable handle for assistive tools and tests.
      b.setAttribute("aria-label", label + " agent " + id); b.dataset.action = key.slice(4);
      en(b, ok); acts.append(b);
    }
    tr.onclick = () => { S.selected = id; };
  }
  tick();
}
const mon = (agent, mode) => act("monitor", { agent, mode });

// confirmThen asks before a supervisor action that cuts into a call or a seat.
function confirmThen(text, fn) {
  const d = $("confirm");
  $("confirm-text").textContent = text;
  d.returnValue = "";
  d.onclose = () => { if (d.returnValue === "ok") fn(); };
  d.showModal();
  $("confirm-cancel").focus();
}

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

// loadChart fetches today's service level per tier (hourly) and draws it.
async function loadChart() {
  if (!isSup() || !S.token) return;
  const from = new Date(); from.setHours(0, 0, 0, 0);
  const to = new Date(Date.now() - S.skew);
  try {
    const r = await authFetch("/api/reports?by=tier&interval=1h&from=" + encodeURIComponent(from.toISOString()) + "&to=" + encodeURIComponent(to.toISOString()));
    const body = await r.json();
    S.chartRows = body.rows || []; S.chartFrom = from; S.chartTo = to;
    drawChart();
  } catch (e) { log("chart: " + e.message); }
}
function drawChart() {
  if (!S.chartFrom) return;
  const tiers = ((S.stats && S.stats.service_levels) || []).filter((s) => !s.queue).map((s) => s.tier);
  S.chartPoints = drawSLChart($("chart-box"), S.chartRows, S.chartFrom, S.chartTo, tiers, { title: t("wb.chart"), empty: t("wb.chart.empty") });
}
setInterval(() => { if (S.view === "wallboard" && S.online) loadChart(); }, 60000);

// ---- recordings -------------------------------------------------------------
let recInit = false;
function initRecordings() {
  if (!recInit) { $("rec-date").value = localDate(new Date()); recInit = true; }
  fillReportSelects();
  searchRecordings();
}
$("rec-form").onsubmit = (ev) => { ev.preventDefault(); searchRecordings(); };

async function searchRecordings() {
  const q = new URLSearchParams();
  for (const [k, id] of [["date", "rec-date"], ["agent", "rec-agent"], ["queue", "rec-queue"], ["caller", "rec-caller"], ["tier", "rec-tier"]]) {
    const v = $(id).value.trim(); if (v) q.set(k, v);
  }
  try {
    const r = await authFetch("/recordings/?" + q.toString());
    S.recordings = (await r.json()).recordings || [];
  } catch (e) { S.recordings = []; alertMsg(t("alert.failed", { action: t("nav.recordings"), msg: e.message, code: e.code })); }
  renderRecordings();
}

function renderRecordings() {
  const tbl = $("rec-list"); tbl.textContent = "";
  head(tbl, [t("rec.start"), t("rec.caller"), t("rec.agent"), t("rec.queue"), t("rec.tier"), t("rec.duration"), t("rec.state"), ""]);
  if (!S.recordings.length) { const td = bodyRow(tbl).insertCell(); td.colSpan = 8; td.className = "hint"; td.textContent = t("rec.none"); return; }
  for (const m of S.recordings) {
    const tr = bodyRow(tbl); tr.dataset.call = m.call_id;
    for (const v of [fmtDateTime(m.start), m.caller || "", m.agent || "", m.queue || "", m.tier || ""]) tr.insertCell().textContent = v;
    numCell(tr, fmtDur(m.duration_ms));
    tr.insertCell().textContent = m.state || "";
    const acts = tr.insertCell();
    const url = "/recordings/" + encodeURIComponent(m.call_id) + ".wav?token=" + encodeURIComponent(S.token);
    const play = document.createElement("button"); play.textContent = t("btn.play"); play.className = "play";
    play.setAttribute("aria-label", "Play " + m.call_id);
    play.onclick = () => {
      $("player-box").hidden = false;
      $("player-title").textContent = t("rec.playing", { id: m.call_id }) + " · " + (m.caller || "") + " · " + fmtDateTime(m.start);
      const p = $("player"); p.src = url; p.play().catch(() => { /* autoplay refused: the controls are there */ });
    };
    const dl = document.createElement("a"); dl.href = url; dl.download = m.call_id + ".wav"; dl.textContent = t("btn.download");
    acts.append(play, " ", dl);
  }
}

// ---- reports ----------------------------------------------------------------
let repInit = false;
function initReports() {
  if (!repInit) { const d = localDate(new Date()); $("rep-from").value = d; $("rep-to").value = d; repInit = true; }
  fillReportSelects();
  showReport();
}
function fillReportSelects() {
  const by = $("rep-by"), cur = by.value || "queue";
  by.textContent = "";
  for (const d of ["queue", "tier", "agent", "access_number", "wrap_up_code", "agent_states"]) by.append(new Option(t("by." + d), d));
  by.value = cur;
  const queues = ((S.stats && S.stats.queues) || []).map((q) => q.name);
  const tiers = [...new Set(((S.stats && S.stats.service_levels) || []).map((s) => s.tier))];
  for (const [id, list] of [["rec-queue", queues], ["rec-tier", tiers]]) {
    const sel = $(id), v = sel.value;
    sel.textContent = ""; sel.append(new Option(t("rec.any"), ""));
    for (const x of list) sel.append(new Option(x, x));
    sel.value = list.includes(v) ? v : "";
  }
}
$("rep-form").onsubmit = (ev) => { ev.preventDefault(); showReport(); };

// reportQuery turns the form into the /api/reports query: local days, the
// "to" day included.
function reportQuery(extra) {
  const from = new Date($("rep-from").value + "T00:00:00");
  const to = new Date($("rep-to").value + "T00:00:00"); to.setDate(to.getDate() + 1);
  const q = new URLSearchParams({ interval: $("rep-interval").value, from: from.toISOString(), to: to.toISOString() });
  const by = $("rep-by").value;
  if (by === "agent_states") q.set("report", "agent_states"); else q.set("by", by);
  if ($("rep-totals").checked) q.set("totals", "1");
  for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
  return q;
}

async function showReport() {
  const q = reportQuery();
  S.lastReportQuery = q.toString();
  const tbl = $("rep-table"); tbl.textContent = "";
  let body;
  try { body = await (await authFetch("/api/reports?" + q)).json(); }
  catch (e) { alertMsg(t("alert.failed", { action: t("rep.title"), msg: e.message, code: e.code })); return; }
  const secs = (x) => x == null ? "—" : fmtNum(x, 1);
  if (body.states) {
    rows(tbl, body.states.map((r) => [fmtDateTime(r.start), r.agent, tOr("st.", r.state), r.spells, fmtDur(r.seconds * 1000), fmtPct(r.share)]),
      [t("col.start"), t("col.agent"), t("col.state"), t("col.spells"), t("col.time"), t("col.share")]);
    return;
  }
  const list = body.rows || [];
  rows(tbl, list.map((r) => [fmtDateTime(r.start), r.key === "(all)" ? "Σ" : r.key || "—", r.calls, r.offered, r.answered, r.abandoned, r.short_abandoned,
    r.abandoned_ivr, r.overflowed, r.rona, fmtPct(r.service_level), r.target != null ? fmtPct(r.target, 0) : "—", secs(r.asa_seconds),
    secs(r.avg_talk_seconds), secs(r.avg_hold_seconds), secs(r.avg_wrap_up_seconds), r.survey_avg != null ? fmtNum(r.survey_avg, 2) : "—"]),
  ["col.start", "col.key", "col.calls", "col.offered", "col.answered", "col.abandoned", "col.short", "col.ivr", "col.overflowed", "col.rona",
    "col.sl", "col.target", "col.asa", "col.talk", "col.hold", "col.wrap", "col.survey"].map((k) => t(k)));
  if (!list.length) { const td = bodyRow(tbl).insertCell(); td.colSpan = 17; td.className = "hint"; td.textContent = t("rep.none"); }
}

// The CSV is the server's (the rows of `hotline report -csv`), downloaded as a file.
$("rep-csv").onclick = async () => {
  const q = reportQuery({ format: "csv" });
  try {
    const text = await (await authFetch("/api/reports?" + q)).text();
    S.lastCSV = text; S.lastReportQuery = q.toString();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    a.download = "hotline-report-" + ($("rep-by").value) + "-" + $("rep-from").value + ".csv";
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  } catch (e) { alertMsg(t("alert.failed", { action: "CSV", msg: e.message, code: e.code })); }
};

// ---- helpers ----------------------------------------------------------------
function rows(tbl, data, hdr) {
  tbl.textContent = "";
  if (hdr) head(tbl, hdr);
  for (const r of data) {
    const tr = bodyRow(tbl);
    for (const v of r) {
      const td = tr.insertCell();
      if (v && v.nodeType) td.append(v); else td.textContent = v == null ? "" : String(v);
      if (typeof v === "number") td.className = "num";
    }
  }
}
// bodyRow adds a row to the table's body (insertRow on the table would
// put it in the head after a header row).
function bodyRow(tbl) { return (tbl.tBodies[0] || tbl.createTBody()).insertRow(); }
function head(tbl, cols) { const tr = tbl.createTHead().insertRow(); for (const c of cols) { const th = document.createElement("th"); th.textContent = c; tr.append(th); } }
function fillSelect(sel, opts, prefix) { const v = sel.value; sel.textContent = ""; for (const o of opts) sel.append(new Option(prefix ? tOr(prefix, o) : o, o)); if (opts.includes(v)) sel.value = v; }
const byState = (m) => Object.entries(m || {}).map(([k, v]) => tOr("st.", k) + " " + v).join(", ");
function since(iso) { return iso ? Date.now() - S.skew - Date.parse(iso) : null; }
const localDate = (d) => d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
function log(s) { const li = document.createElement("li"); li.textContent = fmtTime(Date.now()) + " " + s; $("log").prepend(li); while ($("log").children.length > 100) $("log").lastChild.remove(); }

// alertMsg shows a message that goes away by itself (or on a click).
function alertMsg(s) {
  log(s);
  const d = document.createElement("div"); d.className = "alert"; d.setAttribute("role", "alert");
  const span = document.createElement("span"); span.textContent = s;
  const b = document.createElement("button"); b.textContent = t("alert.dismiss"); b.onclick = () => d.remove();
  d.append(span, b);
  $("alerts").prepend(d); setTimeout(() => d.remove(), 15000);
}
// stickyAlert stays until the supervisor acknowledges it.
function stickyAlert(key, s) {
  log(s);
  const d = document.createElement("div"); d.className = "alert sticky"; d.setAttribute("role", "alert"); d.dataset.key = key;
  const span = document.createElement("span"); span.textContent = fmtTime(Date.now()) + " " + s;
  const b = document.createElement("button"); b.textContent = t("alert.ack"); b.className = "ack";
  const entry = { el: d, recovered: false, acked: false };
  b.onclick = () => { d.remove(); entry.acked = true; if (entry.recovered) S.alerts.delete(key); };
  d.append(span, b);
  S.alerts.set(key, entry);
  $("alerts").prepend(d);
}

// tick redraws the timers every second, and only while connected: a frozen
// clock says the figures are stale.
function tick() {
  if (!S.online) return;
  if (S.seat) {
    const s = S.seat.state;
    $("state-time").textContent = fmtDur(since(S.seat.since));
    const c = myCall();
    const started = c ? c.started : s === "wrap-up" && S.lastCall ? S.lastCall.started : null;
    $("call-timer-box").hidden = !started;
    if (started) $("call-time").textContent = fmtDur(since(started));
    const wrap = s === "wrap-up" && S.seat.wrap_until;
    $("wrap-box").hidden = !wrap;
    if (wrap) {
      const left = -since(S.seat.wrap_until), total = Date.parse(S.seat.wrap_until) - Date.parse(S.seat.since);
      $("wrap-left").textContent = t("wrap.left", { t: fmtDur(Math.max(0, left)) });
      $("wrap-bar").value = total > 0 ? Math.max(0, Math.min(1, left / total)) : 0;
    }
    const limit = s === "break" && S.cfg.breakLimits ? S.cfg.breakLimits[S.seat.reason] : 0;
    $("break-box").hidden = !limit;
    if (limit) {
      const left = limit * 1000 - since(S.seat.since);
      $("break-box").classList.toggle("over", left < 0);
      $("break-left").textContent = left >= 0 ? t("break.left", { t: fmtDur(left), limit: fmtDur(limit * 1000) })
        : t("break.over", { t: fmtDur(-left), limit: fmtDur(limit * 1000) });
    }
  }
  document.querySelectorAll("td.since").forEach((td) => { td.textContent = fmtDur(since(td.dataset.since)); });
}
setInterval(tick, 1000);

// Digits typed while a call is up go to the DTMF pad (not while typing in a field).
document.addEventListener("keydown", (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey || /INPUT|SELECT|TEXTAREA/.test(document.activeElement.tagName)) return;
  const c = myCall();
  if ("0123456789*#".includes(e.key) && e.key.length === 1 && c && c.state === "talking" && S.online) act("dtmf", { ...callArg(), digits: e.key });
});

initLanguages();
fillReasonSelects();
fillReportSelects();
if (localStorage.getItem("hotline.tv") === "1" || new URLSearchParams(location.search).get("tv") === "1") document.body.classList.add("tv");
setConn(false);
connect();
