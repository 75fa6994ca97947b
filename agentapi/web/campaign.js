// Outbound campaigns on the desktop (protocol: "Outbound" in PROTOCOL.md).
// Agents: the preview card (the record, earlier attempts, dial or skip)
// and, during a campaign call and its wrap-up, the script — answers, an
// answering-machine mark and a do-not-call request, saved with the call's
// record. Supervisors: the campaigns' progress with start, pause, stop and
// the CSV exports. It plugs into app.js through extend() and reuses its
// helpers ($, req, act, t, S, en, authFetch).
"use strict";

Object.assign(MESSAGES.en, {
  "cp.preview": "Campaign {c} — next contact", "cp.attempt": "attempt {n}", "cp.previous": "Earlier attempts",
  "cp.dial": "Dial", "cp.skip": "Skip", "cp.script": "Script — {c}", "cp.save": "Save answers", "cp.saved": "answers saved",
  "cp.machine": "answering machine", "cp.dnc": "customer asks not to be called", "cp.required": "required",
  "cp.yes": "yes", "cp.no": "no", "cp.withdrawn": "The preview of {c} was taken back",
  "cp.title": "Campaigns", "cp.name": "Campaign", "cp.mode": "Mode", "cp.state": "State", "cp.total": "Contacts",
  "cp.dialled": "Dialled", "cp.reached": "Reached", "cp.finished": "Completed", "cp.remaining": "Remaining",
  "cp.abandon": "Abandon rate", "cp.start": "Start", "cp.pause": "Pause", "cp.stop": "Stop",
  "cp.results": "Results CSV", "cp.attempts": "Attempts CSV", "cp.none": "No campaigns configured",
  "cps.stopped": "stopped", "cps.running": "running", "cps.paused": "paused", "cps.completed": "completed",
  "cpm.preview": "preview", "cpm.progressive": "progressive",
});
Object.assign(MESSAGES["zh-CN"], {
  "cp.preview": "外呼活动 {c} — 下一位联系人", "cp.attempt": "第 {n} 次", "cp.previous": "此前呼叫",
  "cp.dial": "拨打", "cp.skip": "跳过", "cp.script": "话术 — {c}", "cp.save": "保存答案", "cp.saved": "答案已保存",
  "cp.machine": "答录机", "cp.dnc": "客户要求不再来电", "cp.required": "必填",
  "cp.yes": "是", "cp.no": "否", "cp.withdrawn": "{c} 的预览已收回",
  "cp.title": "外呼活动", "cp.name": "活动", "cp.mode": "模式", "cp.state": "状态", "cp.total": "联系人",
  "cp.dialled": "已拨", "cp.reached": "已接通", "cp.finished": "已完成", "cp.remaining": "剩余",
  "cp.abandon": "放弃率", "cp.start": "开始", "cp.pause": "暂停", "cp.stop": "停止",
  "cp.results": "结果 CSV", "cp.attempts": "呼叫明细 CSV", "cp.none": "未配置外呼活动",
  "cps.stopped": "已停止", "cps.running": "进行中", "cps.paused": "已暂停", "cps.completed": "已完成",
  "cpm.preview": "预览式", "cpm.progressive": "渐进式",
});

const CP = {
  preview: null,     // the offer on this desk: {campaign, contact, script, attempt, previous}
  script: null,      // the campaign call's script: {campaign, questions, call}
  saved: false,
  campaigns: new Map(), // supervisors: name → progress
};

// ---- DOM ----------------------------------------------------------------------
function cpEl(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") el.textContent = v; else if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn); else el.setAttribute(k, v);
  }
  el.append(...kids);
  return el;
}

const cpPreviewCard = cpEl("div", { id: "campaign-preview", class: "card", hidden: "" });
const cpScriptCard = cpEl("div", { id: "campaign-script", class: "card", hidden: "" });
$("wrap-card").before(cpPreviewCard, cpScriptCard);
const cpBoard = cpEl("div", { id: "campaigns-card", class: "card", hidden: "" });
$("sup-view").append(cpBoard);

// ---- agent: preview -------------------------------------------------------------
function renderPreview() {
  const p = CP.preview, card = cpPreviewCard;
  card.hidden = !p;
  card.textContent = "";
  if (!p) return;
  const c = p.contact || {};
  card.append(cpEl("h3", { text: t("cp.preview", { c: p.campaign }) + " · " + t("cp.attempt", { n: p.attempt || 1 }) }));
  const dl = cpEl("dl", { class: "facts", id: "campaign-contact" });
  const fact = (k, v) => { if (v) dl.append(cpEl("dt", { text: k }), cpEl("dd", { text: v })); };
  fact(t("card.customer"), c.name); fact(t("card.caller"), c.number); fact(t("card.region"), c.region); fact(t("card.tier"), c.tier ? tOr("tier.", c.tier) : "");
  for (const [k, v] of Object.entries(c.fields || {})) fact(k, v);
  card.append(dl);
  if ((p.previous || []).length) {
    const tbl = cpEl("table", { class: "compact" });
    head(tbl, [t("hist.when"), t("hist.outcome"), t("hist.agent"), t("hist.code")]);
    for (const r of p.previous) {
      const tr = bodyRow(tbl);
      for (const v of [r.ended ? fmtDateTime(r.ended) : "", r.outcome, r.agent || "", r.wrap_up || ""]) tr.insertCell().textContent = v;
    }
    card.append(cpEl("h4", { text: t("cp.previous") }), tbl);
  }
  const dial = cpEl("button", { id: "campaign-dial", class: "primary", text: t("cp.dial"), on: { click: cpDial } });
  const skip = cpEl("button", { id: "campaign-skip", text: t("cp.skip"), on: { click: cpSkip } });
  card.append(cpEl("div", { class: "row" }, dial, skip));
  const busy = S.seat && onCallStates.includes(S.seat.state);
  en(dial, !busy); en(skip, !busy);
}

async function cpDial() {
  const p = CP.preview;
  if (!p) return;
  if (await act("campaign.dial", { campaign: p.campaign, contact: p.contact.id })) {
    CP.script = { campaign: p.campaign, questions: p.script || [], contact: p.contact.id, call: "" };
    CP.saved = false;
    CP.preview = null;
    renderPreview(); renderScript();
  }
}

async function cpSkip() {
  const p = CP.preview;
  if (!p) return;
  if (await act("campaign.skip", { campaign: p.campaign, contact: p.contact.id })) { CP.preview = null; renderPreview(); }
}

// ---- agent: script ----------------------------------------------------------------
function renderScript() {
  const s = CP.script, card = cpScriptCard;
  // The campaign's call: once offered, the call id is known.
  if (s && !s.call) {
    for (const c of S.calls.values()) if (c.campaign === s.campaign && c.agent === S.me) s.call = c.id;
  }
  card.hidden = !s;
  if (!s) { card.textContent = ""; return; }
  if (card.dataset.call === (s.call || "-")) { cpEnableScript(); return; } // keep what the agent typed
  card.dataset.call = s.call || "-";
  card.textContent = "";
  card.append(cpEl("h3", { text: t("cp.script", { c: s.campaign }) }));
  const form = cpEl("form", { id: "campaign-form", on: { submit: (ev) => { ev.preventDefault(); cpSave(); } } });
  for (const q of s.questions) {
    let input;
    const id = "cpq-" + q.id;
    switch (q.kind) {
      case "yesno":
        input = cpEl("select", { id, "data-q": q.id }, new Option("—", ""), new Option(t("cp.yes"), "yes"), new Option(t("cp.no"), "no"));
        break;
      case "choice":
        input = cpEl("select", { id, "data-q": q.id }, new Option("—", ""), ...(q.options || []).map((o) => new Option(o, o)));
        break;
      case "number":
        input = cpEl("input", { id, "data-q": q.id, type: "number", inputmode: "numeric" });
        break;
      default:
        input = cpEl("input", { id, "data-q": q.id });
    }
    input.addEventListener("input", () => { CP.saved = false; cpEnableScript(); });
    const label = cpEl("label", { for: id, text: q.text + (q.required ? " (" + t("cp.required") + ")" : "") });
    form.append(cpEl("div", { class: "row" }, label, input));
  }
  const machine = cpEl("input", { id: "cp-machine", type: "checkbox" });
  const dnc = cpEl("input", { id: "cp-dnc", type: "checkbox" });
  form.append(cpEl("div", { class: "row" }, machine, cpEl("label", { for: "cp-machine", text: t("cp.machine") }), dnc, cpEl("label", { for: "cp-dnc", text: t("cp.dnc") })));
  form.append(cpEl("div", { class: "row" }, cpEl("button", { id: "campaign-save", type: "submit", text: t("cp.save") }), cpEl("span", { id: "campaign-saved", class: "hint" })));
  card.append(form);
  cpEnableScript();
}

function cpAnswers() {
  const answers = {};
  for (const el of cpScriptCard.querySelectorAll("[data-q]")) if (el.value !== "") answers[el.dataset.q] = el.value;
  return answers;
}

function cpEnableScript() {
  const s = CP.script;
  const btn = $("campaign-save");
  if (!s || !btn) return;
  const answers = cpAnswers();
  const complete = s.questions.every((q) => !q.required || answers[q.id] !== undefined) || $("cp-machine").checked;
  en(btn, !!s.call && complete && !CP.saved);
  $("campaign-saved").textContent = CP.saved ? t("cp.saved") : "";
}

async function cpSave() {
  const s = CP.script;
  if (!s || !s.call) return false;
  const f = { call: s.call, answers: cpAnswers() };
  if ($("cp-machine").checked) f.outcome = "machine";
  if ($("cp-dnc").checked) f.dnc = true;
  if (await act("campaign.answers", f)) { CP.saved = true; cpEnableScript(); return true; }
  return false;
}

// Ending the wrap-up ends the script: unsaved answers are saved first.
$("wrap-end").addEventListener("click", () => {
  if (CP.script && CP.script.call && !CP.saved) cpSave();
  setTimeout(() => { if (CP.script && CP.saved) { CP.script = null; renderScript(); } }, 0);
}, true);

// ---- supervisor: campaigns ----------------------------------------------------------
function renderCampaigns() {
  const card = cpBoard;
  card.hidden = !isSup();
  if (!isSup()) return;
  card.textContent = "";
  card.append(cpEl("h3", { text: t("cp.title") }));
  if (!CP.campaigns.size) { card.append(cpEl("p", { class: "hint", text: t("cp.none") })); return; }
  const tbl = cpEl("table", { id: "campaigns" });
  head(tbl, [t("cp.name"), t("cp.mode"), t("cp.state"), t("cp.total"), t("cp.dialled"), t("cp.reached"), t("cp.finished"), t("cp.remaining"), t("cp.abandon"), ""]);
  for (const p of [...CP.campaigns.values()].sort((a, b) => a.campaign.localeCompare(b.campaign))) {
    const tr = bodyRow(tbl); tr.dataset.campaign = p.campaign; tr.dataset.state = p.state;
    tr.insertCell().textContent = p.campaign;
    tr.insertCell().textContent = tOr("cpm.", p.mode);
    tr.insertCell().textContent = tOr("cps.", p.state);
    for (const v of [p.total, p.dialled, p.reached, p.finished, p.remaining]) numCell(tr, fmtNum(v || 0));
    numCell(tr, fmtPct(p.abandon_rate || 0));
    const ops = tr.insertCell();
    for (const [op, ok] of [["start", p.state !== "running" && p.state !== "completed"], ["pause", p.state === "running"], ["stop", p.state === "running" || p.state === "paused"]]) {
      const b = cpEl("button", { "data-op": op, text: t("cp." + op), on: { click: () => cpControl(op, p.campaign) } });
      en(b, ok); ops.append(b);
    }
    for (const [what, label] of [["results.csv", "cp.results"], ["attempts.csv", "cp.attempts"]]) {
      ops.append(cpEl("button", { "data-export": what, text: t(label), on: { click: () => cpExport(p.campaign, what) } }));
    }
  }
  card.append(cpEl("div", { class: "scroll" }, tbl));
}

async function cpControl(op, name) {
  const r = await act("campaign." + op, { campaign: name });
  if (r && r.data) { CP.campaigns.set(name, r.data); renderCampaigns(); }
}

async function cpExport(name, what) {
  try {
    const r = await authFetch("/api/campaigns/" + encodeURIComponent(name) + "/" + what);
    const url = URL.createObjectURL(await r.blob());
    const a = cpEl("a", { href: url, download: name + "-" + what });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) { alertMsg(t("alert.failed", { action: what, msg: e.message, code: e.code })); }
}

async function loadCampaigns() {
  try {
    const r = await req("campaign.list");
    CP.campaigns.clear();
    for (const p of r.data || []) CP.campaigns.set(p.campaign, p);
  } catch { CP.campaigns.clear(); }
  renderCampaigns();
}

// ---- events ---------------------------------------------------------------------------
extend((e) => {
  switch (e.event) {
    case "campaign.preview":
      if (e.agent !== S.me) return true;
      CP.preview = e.data; renderPreview(); log("campaign preview " + (e.data && e.data.contact && e.data.contact.id));
      return true;
    case "campaign.preview_withdrawn":
      if (e.agent !== S.me) return true;
      if (CP.preview && e.data && CP.preview.contact.id === e.data.contact) { CP.preview = null; renderPreview(); alertMsg(t("cp.withdrawn", { c: e.data.campaign })); }
      return true;
    case "campaign.progress": {
      const p = e.data, cur = CP.campaigns.get(p.campaign);
      if (!cur || (p.seq || 0) >= (cur.seq || 0)) { CP.campaigns.set(p.campaign, p); renderCampaigns(); }
      return true;
    }
    case "call.offered":
      if (e.agent === S.me && e.call && e.call.campaign && !CP.script) {
        // A progressive call: no preview came first; fetch the script.
        const s = CP.script = { campaign: e.call.campaign, questions: [], call: e.call_id };
        CP.saved = false;
        req("campaign.script", { campaign: s.campaign }).then((r) => {
          if (CP.script === s) { s.questions = r.data || []; cpScriptCard.dataset.call = ""; renderScript(); }
        }).catch(() => {});
      }
      if (CP.script && e.call && e.call.campaign === CP.script.campaign && e.agent === S.me) CP.script.call = e.call_id;
      setTimeout(renderScript, 0);
      return false;
    case "agent.state":
      // Back to ready after the campaign call's wrap-up: the script is done.
      if (e.agent === S.me && e.state === "ready" && CP.script && CP.script.call && CP.saved) { CP.script = null; renderScript(); }
      return false;
    case "page.signed_in":
      CP.preview = null; CP.script = null;
      if (isSup()) loadCampaigns();
      if (S.seat) req("campaign.current").then((r) => { if (r.data && !CP.preview) { CP.preview = r.data; renderPreview(); } }).catch(() => {});
      renderPreview(); renderScript(); renderCampaigns();
      return true;
    case "page.render": case "page.view":
      renderPreview(); renderScript(); renderCampaigns();
      return true;
  }
  return false;
});
