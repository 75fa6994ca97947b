// Message catalogues of the desktop and wallboard (en, zh-CN) and the
// helpers that apply them: t(key, params), localised dates, numbers and
// durations. The language is the user's own choice (saved per user in the
// browser), else the one configured for the agent, else the browser's.
"use strict";

const MESSAGES = {
  en: {
    "app.title": "Hotline desktop",
    "conn.online": "online", "conn.offline": "offline — reconnecting", "conn.lost": "Connection lost. Reconnecting… buttons are off until the connection is back.",
    "nav.desk": "Desk", "nav.wallboard": "Wallboard", "nav.recordings": "Recordings", "nav.reports": "Reports",
    "btn.logout": "Sign out", "btn.tv": "TV mode", "btn.tv.off": "Leave TV mode", "lang.label": "Language",
    "login.title": "Sign in", "login.agent": "Agent id", "login.password": "Password", "login.ext": "Extension",
    "login.ext.ph": "same as agent id", "login.submit": "Sign in", "login.refused": "Sign-in refused: {msg}",
    "seat.title": "Seat {seat}", "state.label": "State", "timer.state": "in state", "timer.call": "handle time",
    "wrap.left": "wrap-up ends in {t}", "break.left": "{t} left of {limit}", "break.over": "over the {limit} limit by {t}",
    "st.logged-out": "signed out", "st.ready": "ready", "st.reserved": "ringing", "st.talking": "talking", "st.held": "on hold",
    "st.wrap-up": "wrap-up", "st.not-ready": "not ready", "st.break": "break", "st.adjust": "adjust", "st.study": "study",
    "btn.ready": "Ready", "btn.notready": "Not ready", "btn.break": "Break", "btn.adjust": "Adjust", "btn.study": "Study",
    "btn.request": "Request call", "nr.reason": "Not ready reason", "break.reason": "Break reason",
    "queues.mine": "Queues — {list}", "queues.item": "{q}: {n} waiting", "queues.longest": "longest {t}",
    "call.title": "Call", "cs.ringing": "ringing", "cs.announcing": "announcing agent id", "cs.talking": "talking", "cs.held": "on hold",
    "cs.consulting": "consulting", "cs.conference": "conference", "cs.transferring": "transferring", "cs.queued": "queued",
    "card.customer": "Customer", "card.unknown": "Unknown caller", "card.id": "Customer id", "card.region": "Region",
    "card.tier": "Tier", "card.caller": "Caller", "card.queue": "Queue", "card.waited": "Waited", "card.offers": "Offers",
    "card.callback": "Call back to", "card.campaign": "Campaign", "card.direction": "Direction", "card.language": "Language", "card.history": "Last calls", "card.nohistory": "No earlier calls",
    "card.trace": "IVR trace", "hist.when": "When", "hist.queue": "Queue", "hist.agent": "Agent", "hist.outcome": "Outcome", "hist.code": "Wrap-up",
    "attr.plan": "Plan", "attr.since": "Customer since",
    "btn.answer": "Answer", "btn.hold": "Hold", "btn.unhold": "Resume", "btn.mute": "Mute", "btn.unmute": "Unmute", "btn.hangup": "Hang up",
    "xfer.kind": "Transfer target kind", "xfer.agent": "agent", "xfer.queue": "queue", "xfer.flow": "IVR flow", "xfer.external": "external number",
    "xfer.target": "Transfer target", "xfer.ph": "1002 / billing / main / number",
    "btn.transfer": "Blind transfer", "btn.consult": "Consult", "btn.complete": "Complete transfer", "btn.conference": "Conference", "btn.return": "Return to caller",
    "dtmf.pad": "Keypad", "wrap.title": "Wrap-up", "wrap.code": "Wrap-up code", "wrap.choose": "— choose a code —", "wrap.note": "Note (optional)",
    "wrap.free": "code", "btn.wrapend": "End wrap-up", "wrap.saved": "Wrap-up code {code} saved",
    "more.title": "Calls out and shift change", "out.number": "Customer number", "btn.outbound": "Call out", "int.agent": "Agent id",
    "btn.internal": "Internal call", "shift.title": "Shift change", "shift.agent": "Incoming agent", "shift.password": "Password", "btn.shift": "Hand over seat",
    "log.title": "Activity",
    "wb.title": "Wallboard", "wb.tiers": "Service level by tier", "wb.queues": "Queues", "wb.chart": "Service level per tier today",
    "wb.waiting": "Waiting callers", "wb.seats": "Seats", "wb.nodata": "no data", "wb.target": "target {p} in {s} s",
    "wb.asa": "ASA", "wb.abandon": "abandoned", "wb.answered": "answered", "wb.inwindow": "{a}/{n} in time",
    "wb.queue": "Queue", "wb.waitingn": "Waiting", "wb.longest": "Longest", "wb.agents": "Agents", "wb.sl": "SL",
    "wb.caller": "Caller", "wb.tier": "Tier", "wb.customer": "Customer", "wb.wait": "Waiting",
    "wb.callbacks": "Callbacks", "wb.callback": "callback to {n} ({a} tries)",
    "wb.forcereason": "Reason for force not ready", "wb.chart.empty": "No calls yet today",
    "seat.agent": "Agent", "seat.name": "Name", "seat.state": "State", "seat.reason": "Reason", "seat.time": "Time", "seat.call": "Call", "seat.actions": "Actions",
    "act.listen": "Listen", "act.whisper": "Whisper", "act.barge": "Barge", "act.takeover": "Take over", "act.ready": "Ready", "act.notready": "Not ready", "act.signout": "Sign out",
    "confirm.title": "Please confirm", "confirm.ok": "Confirm", "confirm.cancel": "Cancel",
    "confirm.barge": "Join agent {agent}'s call so that the caller hears you?", "confirm.takeover": "Take over agent {agent}'s call? The agent is cut off and goes to wrap-up.",
    "confirm.signout": "Sign agent {agent} out now?", "confirm.notready": "Make agent {agent} not ready ({reason})?",
    "alert.behind": "Tier {tier} is behind target: {sl} against {target}", "alert.ack": "Acknowledge", "alert.recovered": "back on target at {time}",
    "alert.overrun": "Break overrun: agent {agent} on {reason} for {t}", "alert.adjust": "Adjust warning: agent {agent} for {t}",
    "alert.signedout": "You were signed out ({reason}). Sign in again to take calls.", "alert.elsewhere": "Signed in elsewhere: {reason}",
    "alert.seatgone": "Your seat was signed out. Sign in again to take calls.", "alert.session": "Session ended: {msg}",
    "alert.failed": "{action}: {msg} ({code})", "alert.dismiss": "Dismiss",
    "rec.title": "Recordings", "rec.date": "Date", "rec.agent": "Agent", "rec.queue": "Queue", "rec.caller": "Caller", "rec.tier": "Tier",
    "rec.any": "any", "btn.search": "Search", "rec.start": "Start", "rec.duration": "Length", "rec.state": "State", "rec.none": "No recordings found",
    "btn.play": "Play", "btn.download": "Download", "rec.playing": "Playing {id}",
    "rep.title": "Reports", "rep.from": "From", "rep.to": "To (inclusive)", "rep.interval": "Interval", "rep.by": "Group by", "rep.totals": "Totals",
    "btn.show": "Show", "btn.csv": "Export CSV", "rep.none": "No calls in this period",
    "by.queue": "queue", "by.tier": "tier", "by.agent": "agent", "by.access_number": "access number", "by.wrap_up_code": "wrap-up code", "by.agent_states": "agent states",
    "col.start": "Start", "col.key": "Key", "col.calls": "Calls", "col.offered": "Offered", "col.answered": "Answered", "col.abandoned": "Abandoned",
    "col.short": "Short ab.", "col.ivr": "IVR ab.", "col.overflowed": "Overflow", "col.rona": "RONA", "col.sl": "SL", "col.target": "Target",
    "col.asa": "ASA", "col.talk": "Talk", "col.hold": "Hold", "col.wrap": "Wrap-up", "col.survey": "Survey",
    "col.agent": "Agent", "col.state": "State", "col.spells": "Spells", "col.time": "Time", "col.share": "Share",
    "dispo.answered": "answered", "dispo.abandoned_ivr": "hung up in IVR", "dispo.completed_ivr": "completed in IVR", "dispo.abandoned_queue": "hung up in queue",
    "dispo.overflowed": "overflowed", "dispo.blacklisted": "refused", "dispo.failed": "failed",
    "code.resolved": "resolved", "code.callback": "call back", "code.escalated": "escalated", "code.complaint": "complaint", "code.refund": "refund",
    "code.payment-plan": "payment plan", "code.ticket": "ticket opened",
    "ev.enter": "entered", "ev.choice": "chose", "ev.invalid": "invalid key", "ev.no_input": "no input", "ev.lookup": "customer lookup", "ev.branch": "branch",
    "ev.queued": "queued", "ev.agent": "agent", "ev.announce": "position announced", "ev.collected": "entered digits", "ev.hangup": "hung up",
    "ev.overflow": "overflow", "ev.left_queue": "left the queue", "ev.bridge_end": "conversation ended", "ev.recorded": "message recorded",
    "ev.retries_out": "out of retries", "ev.survey": "survey",
    "dir.inbound": "inbound", "dir.outbound": "outbound", "dir.internal": "internal", "dir.callback": "callback",
    "signedin": "signed in as {agent}",
    "reason.no answer": "no answer",
  },
  "zh-CN": {
    "app.title": "热线坐席台",
    "conn.online": "已连接", "conn.offline": "已断开 — 正在重连", "conn.lost": "连接已断开，正在重连… 连接恢复前按钮不可用。",
    "nav.desk": "坐席", "nav.wallboard": "监控大屏", "nav.recordings": "录音", "nav.reports": "报表",
    "btn.logout": "退出", "btn.tv": "电视模式", "btn.tv.off": "退出电视模式", "lang.label": "语言",
    "login.title": "登录", "login.agent": "工号", "login.password": "密码", "login.ext": "分机",
    "login.ext.ph": "默认同工号", "login.submit": "登录", "login.refused": "登录失败：{msg}",
    "seat.title": "座席 {seat}", "state.label": "状态", "timer.state": "状态时长", "timer.call": "处理时长",
    "wrap.left": "话后处理剩余 {t}", "break.left": "剩余 {t}（上限 {limit}）", "break.over": "已超出上限 {limit}：{t}",
    "st.logged-out": "已签出", "st.ready": "空闲", "st.reserved": "振铃", "st.talking": "通话中", "st.held": "保持",
    "st.wrap-up": "话后处理", "st.not-ready": "示忙", "st.break": "小休", "st.adjust": "调整", "st.study": "学习",
    "btn.ready": "示闲", "btn.notready": "示忙", "btn.break": "小休", "btn.adjust": "调整", "btn.study": "学习",
    "btn.request": "请求来电", "nr.reason": "示忙原因", "break.reason": "小休原因",
    "queues.mine": "队列 — {list}", "queues.item": "{q}：{n} 人等待", "queues.longest": "最长 {t}",
    "call.title": "通话", "cs.ringing": "振铃", "cs.announcing": "正在播报工号", "cs.talking": "通话中", "cs.held": "保持",
    "cs.consulting": "咨询中", "cs.conference": "三方通话", "cs.transferring": "转接中", "cs.queued": "排队中",
    "card.customer": "客户", "card.unknown": "未知来电", "card.id": "客户编号", "card.region": "地区",
    "card.tier": "等级", "card.caller": "主叫号码", "card.queue": "队列", "card.waited": "等待", "card.offers": "分配次数",
    "card.callback": "回电号码", "card.campaign": "外呼活动", "card.direction": "方向", "card.language": "语言", "card.history": "最近来电", "card.nohistory": "无历史来电",
    "card.trace": "IVR 轨迹", "hist.when": "时间", "hist.queue": "队列", "hist.agent": "坐席", "hist.outcome": "结果", "hist.code": "小结",
    "attr.plan": "套餐", "attr.since": "入网时间",
    "btn.answer": "接听", "btn.hold": "保持", "btn.unhold": "恢复", "btn.mute": "静音", "btn.unmute": "取消静音", "btn.hangup": "挂断",
    "xfer.kind": "转接目标类型", "xfer.agent": "坐席", "xfer.queue": "队列", "xfer.flow": "IVR 流程", "xfer.external": "外部号码",
    "xfer.target": "转接目标", "xfer.ph": "1002 / billing / main / 号码",
    "btn.transfer": "盲转", "btn.consult": "咨询", "btn.complete": "完成转接", "btn.conference": "三方会议", "btn.return": "返回客户",
    "dtmf.pad": "拨号盘", "wrap.title": "话后处理", "wrap.code": "小结代码", "wrap.choose": "— 选择小结 —", "wrap.note": "备注（可选）",
    "wrap.free": "代码", "btn.wrapend": "结束话后处理", "wrap.saved": "已保存小结 {code}",
    "more.title": "外呼与交接班", "out.number": "客户号码", "btn.outbound": "外呼", "int.agent": "工号",
    "btn.internal": "内部呼叫", "shift.title": "交接班", "shift.agent": "接班工号", "shift.password": "密码", "btn.shift": "交接座席",
    "log.title": "操作记录",
    "wb.title": "监控大屏", "wb.tiers": "各等级服务水平", "wb.queues": "队列", "wb.chart": "今日各等级服务水平",
    "wb.waiting": "等待中的来电", "wb.seats": "座席", "wb.nodata": "暂无数据", "wb.target": "目标 {s} 秒内 {p}",
    "wb.asa": "平均应答", "wb.abandon": "放弃率", "wb.answered": "已接听", "wb.inwindow": "{a}/{n} 及时",
    "wb.queue": "队列", "wb.waitingn": "等待", "wb.longest": "最长等待", "wb.agents": "坐席", "wb.sl": "服务水平",
    "wb.caller": "主叫", "wb.tier": "等级", "wb.customer": "客户", "wb.wait": "已等待",
    "wb.callbacks": "待回电", "wb.callback": "回电 {n}（已试 {a} 次）",
    "wb.forcereason": "强制示忙原因", "wb.chart.empty": "今日暂无来电",
    "seat.agent": "工号", "seat.name": "姓名", "seat.state": "状态", "seat.reason": "原因", "seat.time": "时长", "seat.call": "通话", "seat.actions": "操作",
    "act.listen": "监听", "act.whisper": "耳语", "act.barge": "强插", "act.takeover": "拦截", "act.ready": "示闲", "act.notready": "示忙", "act.signout": "强制签出",
    "confirm.title": "请确认", "confirm.ok": "确认", "confirm.cancel": "取消",
    "confirm.barge": "强插坐席 {agent} 的通话？客户将听到您的声音。", "confirm.takeover": "拦截坐席 {agent} 的通话？该坐席将被挂断并进入话后处理。",
    "confirm.signout": "立即签出坐席 {agent}？", "confirm.notready": "将坐席 {agent} 置为示忙（{reason}）？",
    "alert.behind": "等级 {tier} 未达标：{sl}，目标 {target}", "alert.ack": "确认", "alert.recovered": "{time} 已恢复达标",
    "alert.overrun": "小休超时：坐席 {agent}（{reason}）已 {t}", "alert.adjust": "调整超时：坐席 {agent} 已 {t}",
    "alert.signedout": "您已被签出（{reason}），请重新登录以接听来电。", "alert.elsewhere": "已在其他地方登录：{reason}",
    "alert.seatgone": "您的座席已签出，请重新登录以接听来电。", "alert.session": "会话已结束：{msg}",
    "alert.failed": "{action}：{msg}（{code}）", "alert.dismiss": "关闭",
    "rec.title": "录音", "rec.date": "日期", "rec.agent": "坐席", "rec.queue": "队列", "rec.caller": "主叫", "rec.tier": "等级",
    "rec.any": "全部", "btn.search": "查询", "rec.start": "开始时间", "rec.duration": "时长", "rec.state": "状态", "rec.none": "未找到录音",
    "btn.play": "播放", "btn.download": "下载", "rec.playing": "正在播放 {id}",
    "rep.title": "报表", "rep.from": "开始日期", "rep.to": "结束日期（含）", "rep.interval": "时间粒度", "rep.by": "分组", "rep.totals": "合计",
    "btn.show": "查询", "btn.csv": "导出 CSV", "rep.none": "该时段无来电",
    "by.queue": "队列", "by.tier": "等级", "by.agent": "坐席", "by.access_number": "接入号", "by.wrap_up_code": "小结代码", "by.agent_states": "坐席状态",
    "col.start": "开始", "col.key": "分组", "col.calls": "来电", "col.offered": "进线", "col.answered": "接听", "col.abandoned": "放弃",
    "col.short": "短放弃", "col.ivr": "IVR 放弃", "col.overflowed": "溢出", "col.rona": "未应答", "col.sl": "服务水平", "col.target": "目标",
    "col.asa": "平均应答", "col.talk": "通话", "col.hold": "保持", "col.wrap": "话后", "col.survey": "满意度",
    "col.agent": "坐席", "col.state": "状态", "col.spells": "次数", "col.time": "时长", "col.share": "占比",
    "dispo.answered": "已接听", "dispo.abandoned_ivr": "IVR 中挂机", "dispo.completed_ivr": "IVR 完成", "dispo.abandoned_queue": "排队中挂机",
    "dispo.overflowed": "溢出", "dispo.blacklisted": "拒接", "dispo.failed": "失败",
    "code.resolved": "已解决", "code.callback": "需回电", "code.escalated": "已升级", "code.complaint": "投诉", "code.refund": "退款",
    "code.payment-plan": "分期还款", "code.ticket": "已建工单",
    "ev.enter": "进入", "ev.choice": "按键选择", "ev.invalid": "无效按键", "ev.no_input": "未输入", "ev.lookup": "客户查询", "ev.branch": "分支",
    "ev.queued": "排队", "ev.agent": "坐席", "ev.announce": "播报排队位置", "ev.collected": "输入号码", "ev.hangup": "挂断",
    "ev.overflow": "溢出", "ev.left_queue": "离开队列", "ev.bridge_end": "通话结束", "ev.recorded": "已留言",
    "ev.retries_out": "重试用尽", "ev.survey": "满意度调查",
    "dir.inbound": "呼入", "dir.outbound": "外呼", "dir.internal": "内部", "dir.callback": "回电",
    "signedin": "已登录：{agent}",
    "tier.diamond": "钻石", "tier.gold": "金卡", "tier.silver": "银卡", "tier.normal": "普通",
    "reason.lunch": "午餐", "reason.rest": "休息", "reason.meeting": "会议", "reason.training": "培训", "reason.paperwork": "文书工作",
    "reason.no answer": "未应答", "reason.answered": "已接听", "reason.login": "登录", "reason.supervisor": "班长操作", "reason.busy": "忙碌",
    "reason.outbound": "外呼", "reason.internal call": "内部呼叫", "reason.phone registered": "话机注册",
  },
};

const LANGS = [["en", "English"], ["zh-CN", "中文"]];
let LANG = "en";

// pickLanguage: the user's saved choice, else the configured one, else the browser's.
function pickLanguage(user, configured) {
  const saved = (user && localStorage.getItem("hotline.lang." + user)) || (!user && localStorage.getItem("hotline.lang"));
  if (saved && MESSAGES[saved]) return saved;
  if (configured && MESSAGES[configured]) return configured;
  for (const l of navigator.languages || [navigator.language || "en"]) {
    if (/^zh\b/i.test(l)) return "zh-CN";
    if (/^en\b/i.test(l)) return "en";
  }
  return "en";
}

// t looks a key up in the current catalogue (English as fallback) and
// fills {name} parameters.
function t(key, params) {
  let s = (MESSAGES[LANG] && MESSAGES[LANG][key]) ?? MESSAGES.en[key] ?? key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (params[k] ?? m));
  return s;
}
// tOr translates prefix+value when the catalogue knows it, else shows the value.
function tOr(prefix, v) { if (v == null || v === "") return ""; const k = prefix + v; return (MESSAGES[LANG][k] ?? MESSAGES.en[k]) ?? String(v); }

// applyI18n fills every element marked with data-i18n (text),
// data-i18n-ph (placeholder), data-i18n-aria (aria-label) or data-i18n-title.
function applyI18n(root = document) {
  document.documentElement.lang = LANG;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-ph]")) el.placeholder = t(el.dataset.i18nPh);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  document.title = t("app.title");
}

const fmtNum = (x, digits = 0) => new Intl.NumberFormat(LANG, { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(x);
const fmtPct = (x, digits = 1) => x == null || Number.isNaN(x) ? "—" : new Intl.NumberFormat(LANG, { style: "percent", maximumFractionDigits: digits, minimumFractionDigits: digits }).format(x);
const fmtTime = (d) => new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(d));
const fmtDateTime = (d) => new Intl.DateTimeFormat(LANG, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }).format(new Date(d));
const fmtHour = (d) => new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit" }).format(new Date(d));
// fmtDur renders milliseconds as m:ss (h:mm:ss past an hour).
function fmtDur(ms) {
  if (ms == null || Number.isNaN(ms)) return "";
  const neg = ms < 0, s = Math.floor(Math.abs(ms) / 1000), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
  const body = (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(s % 60).padStart(2, "0");
  return (neg ? "-" : "") + body;
}
const fmtSecs = (x) => x == null ? "—" : fmtNum(x, 1) + (LANG === "zh-CN" ? " 秒" : " s");
