// Hotline browser phone: the page is the agent's or supervisor's phone
// (WebRTC; signalling over the desktop's WebSocket, PROTOCOL.md "Browser
// phone"). Plain JS, no build step, its own panel and styles.
//
// The desktop page (app.js) reaches it through its extensions: loaded after
// app.js, phone.js hooks itself in with extend(fn) and takes the
// pseudo-events "page.signed_in", "page.signed_out", "page.render" and
// every event whose name starts with "webrtc.". A page without extend()
// makes the same three calls itself:
//   HotlinePhone.signedIn(reply, req)  after every sign-in or resume; req(type, fields) -> Promise is the page's request function
//   HotlinePhone.signedOut()           on log-out or a session lost
//   HotlinePhone.event(ev)             every event whose name starts with "webrtc."
// The page's keypad stays the desktop's dtmf request (the engine sends the
// digits to the caller, as for SIP phones). HotlinePhone.state() describes
// the phone (diagnostics and tests).
"use strict";
window.HotlinePhone = (() => {
  const P = {
    req: null, me: null, mode: localStorage.getItem("hotline.phone") || "sip",
    auto: localStorage.getItem("hotline.autoanswer") === "1",
    registered: false, mic: null, problem: "", legs: new Map(), ctx: null,
    micMeter: null, spkMeter: null, ringing: null, lastRegister: 0,
  };
  // Strings: into the page's catalogue when it has one (i18n.js), else English.
  const M = {
    en: {
      "ph.label": "Phone:", "ph.sip": "SIP phone", "ph.browser": "This browser", "ph.auto": "answer automatically",
      "ph.mic": "mic", "ph.spk": "speaker", "ph.answer": "Answer", "ph.decline": "Decline", "ph.hangup": "Hang up",
      "ph.st.sip": "calls ring on your SIP phone", "ph.st.ready": "this browser is your phone", "ph.st.connecting": "connecting the browser phone…",
      "ph.ring": "Incoming call from {caller}", "ph.unknown": "unknown", "ph.lost": "Connection lost — reconnecting…",
      "ph.q": "Call quality: {word}", "ph.q.detail": "Call quality: {word} ({loss} % lost, jitter {jitter} ms)",
      "ph.q.good": "good", "ph.q.fair": "fair", "ph.q.poor": "poor", "ph.q.none": "no audio arriving",
      "ph.e.insecure": "This browser gives the microphone only to secure pages: open the desktop over https:// (or on localhost).",
      "ph.e.blocked": "Microphone blocked: allow the microphone for this site (the icon in the address bar), then choose \"This browser\" again.",
      "ph.e.nomic": "No microphone found: plug in a headset, then choose \"This browser\" again.",
      "ph.e.busy": "The microphone is in use by another program or could not be opened.",
      "ph.e.security": "This page may not use the microphone (open it over https:// or on localhost).",
      "ph.e.other": "Microphone unavailable: {msg}", "ph.e.unavailable": "The browser phone is not available: {msg}",
      "ph.e.answer": "Could not answer: {msg}",
    },
    "zh-CN": {
      "ph.label": "电话：", "ph.sip": "SIP 话机", "ph.browser": "本浏览器", "ph.auto": "自动接听",
      "ph.mic": "麦克风", "ph.spk": "听筒", "ph.answer": "接听", "ph.decline": "拒接", "ph.hangup": "挂断",
      "ph.st.sip": "来电在您的 SIP 话机上响铃", "ph.st.ready": "本浏览器就是您的电话", "ph.st.connecting": "正在连接浏览器电话…",
      "ph.ring": "来电：{caller}", "ph.unknown": "未知号码", "ph.lost": "连接中断，正在重连…",
      "ph.q": "通话质量：{word}", "ph.q.detail": "通话质量：{word}（丢包 {loss} %，抖动 {jitter} 毫秒）",
      "ph.q.good": "良好", "ph.q.fair": "一般", "ph.q.poor": "差", "ph.q.none": "没有收到声音",
      "ph.e.insecure": "浏览器只允许安全页面使用麦克风：请通过 https:// 打开坐席页面（或在本机 localhost 上）。",
      "ph.e.blocked": "麦克风被阻止：请在地址栏的图标中允许本站使用麦克风，然后重新选择“本浏览器”。",
      "ph.e.nomic": "未找到麦克风：请插入耳麦，然后重新选择“本浏览器”。",
      "ph.e.busy": "麦克风正被其他程序使用，或无法打开。",
      "ph.e.security": "此页面不能使用麦克风（请通过 https:// 或在 localhost 上打开）。",
      "ph.e.other": "麦克风不可用：{msg}", "ph.e.unavailable": "浏览器电话不可用：{msg}",
      "ph.e.answer": "无法接听：{msg}",
    },
  };
  const catalogue = typeof MESSAGES === "object" && typeof t === "function";
  if (catalogue) for (const [lang, m] of Object.entries(M)) if (MESSAGES[lang]) Object.assign(MESSAGES[lang], m);
  const tr = (k, p) => catalogue ? t(k, p) : M.en[k].replace(/\{(\w+)\}/g, (x, n) => (p && p[n] != null ? p[n] : x));
  const el = (tag, attrs = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) if (k.startsWith("on")) e[k] = v; else e.setAttribute(k, v);
    e.append(...kids);
    return e;
  };

  // ---- panel --------------------------------------------------------------
  // Its own style sheet: the page's CSP allows no inline styles.
  document.head.append(el("link", { rel: "stylesheet", href: "phone.css" }));
  const sel = el("select", { id: "phone-mode", "aria-label": "Phone" }, new Option("", "sip"), new Option("", "browser"));
  const autoBox = el("input", { type: "checkbox", id: "phone-auto" });
  const status = el("span", { id: "phone-status", role: "status", "aria-live": "polite" });
  const micBar = el("i"), spkBar = el("i");
  const micLabel = el("span"), spkLabel = el("span"), modeLabel = el("span"), autoLabel = el("span");
  const levels = el("span", { id: "phone-levels", hidden: "" }, micLabel, " ", el("span", { class: "meter" }, micBar),
    " ", spkLabel, " ", el("span", { class: "meter" }, spkBar));
  const quality = el("span", { id: "phone-quality", "aria-live": "polite" });
  const ringBox = el("span", { id: "phone-ring", class: "ring", hidden: "" });
  const answerBtn = el("button", { id: "phone-answer", class: "answer", hidden: "", onclick: () => P.ringing && answer(P.ringing) });
  const declineBtn = el("button", { id: "phone-decline", class: "decline", hidden: "", onclick: () => P.ringing && decline(P.ringing) });
  const hangBtn = el("button", { id: "phone-hangup", class: "decline", hidden: "", onclick: hangupAll });
  const audio = el("audio", { id: "phone-audio", autoplay: "" });
  const panel = el("section", { id: "phone", hidden: "", "aria-label": "Phone" },
    el("label", {}, modeLabel, " ", sel), el("label", {}, autoBox, " ", autoLabel), status, levels, quality,
    ringBox, answerBtn, declineBtn, hangBtn, audio);
  document.body.insertBefore(panel, document.querySelector("main"));
  sel.value = P.mode;
  autoBox.checked = P.auto;
  sel.onchange = () => { P.mode = sel.value; localStorage.setItem("hotline.phone", P.mode); apply(); };
  autoBox.onchange = () => { P.auto = autoBox.checked; localStorage.setItem("hotline.autoanswer", P.auto ? "1" : "0"); };

  // relabel writes the panel's fixed texts in the page's language.
  function relabel() {
    modeLabel.textContent = tr("ph.label"); autoLabel.textContent = tr("ph.auto");
    sel.options[0].text = tr("ph.sip"); sel.options[1].text = tr("ph.browser"); sel.setAttribute("aria-label", tr("ph.label"));
    micLabel.textContent = tr("ph.mic"); spkLabel.textContent = tr("ph.spk");
    answerBtn.textContent = tr("ph.answer"); declineBtn.textContent = tr("ph.decline"); hangBtn.textContent = tr("ph.hangup");
  }
  relabel();

  function show() {
    status.className = P.problem ? "problem" : "";
    status.textContent = P.problem ? P.problem : tr(P.mode === "sip" ? "ph.st.sip" : P.registered ? "ph.st.ready" : "ph.st.connecting");
    const up = [...P.legs.values()].some((l) => l.state === "up");
    levels.hidden = !P.mic;
    hangBtn.hidden = !up;
    const r = P.ringing;
    ringBox.hidden = answerBtn.hidden = declineBtn.hidden = !r;
    ringBox.textContent = r ? tr("ph.ring", { caller: (r.sig.caller || tr("ph.unknown")) + (r.sig.caller_name ? " (" + r.sig.caller_name + ")" : "") }) : "";
    if (!up) quality.textContent = "";
  }

  // ---- registration -------------------------------------------------------
  async function apply() {
    if (!P.req) return;
    if (P.mode !== "browser") {
      if (P.registered) { P.registered = false; try { await P.req("webrtc.unregister"); } catch (e) { /* gone anyway */ } }
      P.problem = ""; show(); return;
    }
    if (!(await microphone())) { show(); return; }
    try {
      const r = await P.req("webrtc.register");
      P.registered = true; P.problem = ""; P.lastRegister = Date.now();
      if (r.data && r.data.reattached) status.title = r.data.reattached + " call(s) re-attached";
    } catch (e) {
      P.registered = false;
      P.problem = tr("ph.e.unavailable", { msg: e.message || e.code });
    }
    show();
  }

  // microphone asks for the microphone once and explains a refusal.
  async function microphone() {
    if (P.mic && P.mic.getAudioTracks().some((t) => t.readyState === "live")) return true;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      P.problem = tr("ph.e.insecure");
      return false;
    }
    try {
      P.mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
    } catch (e) {
      const k = { NotAllowedError: "ph.e.blocked", NotFoundError: "ph.e.nomic", NotReadableError: "ph.e.busy", SecurityError: "ph.e.security" }[e.name];
      P.problem = k ? tr(k) : tr("ph.e.other", { msg: e.message });
      P.mic = null;
      return false;
    }
    P.micMeter = meter(P.mic);
    return true;
  }

  // ---- audio helpers ------------------------------------------------------
  function audioCtx() {
    if (!P.ctx) P.ctx = new AudioContext();
    if (P.ctx.state === "suspended") P.ctx.resume().catch(() => {});
    return P.ctx;
  }
  // meter analyses a stream: level 0..1 and the loudest frequency.
  function meter(stream) {
    const ctx = audioCtx(), src = ctx.createMediaStreamSource(stream), an = ctx.createAnalyser();
    an.fftSize = 2048;
    src.connect(an);
    const time = new Float32Array(an.fftSize), freq = new Float32Array(an.frequencyBinCount);
    return {
      an, src,
      read() {
        an.getFloatTimeDomainData(time);
        let sum = 0;
        for (const x of time) sum += x * x;
        an.getFloatFrequencyData(freq);
        let best = 0;
        for (let i = 1; i < freq.length; i++) if (freq[i] > freq[best]) best = i;
        return { level: Math.min(1, Math.sqrt(sum / time.length) * 4), peakHz: Math.round(best * ctx.sampleRate / an.fftSize) };
      },
    };
  }
  let ringTimer = null, ringOsc = [];
  function ringtone(on) {
    clearInterval(ringTimer); ringTimer = null;
    const stop = () => { for (const o of ringOsc) try { o.stop(); } catch (e) { /* already */ } ringOsc = []; };
    stop();
    if (!on) return;
    const burst = () => { // 440 + 480 Hz, 2 s on, 4 s off
      const ctx = audioCtx(), g = ctx.createGain();
      g.gain.value = 0.1; g.connect(ctx.destination);
      for (const f of [440, 480]) { const o = ctx.createOscillator(); o.frequency.value = f; o.connect(g); o.start(); o.stop(ctx.currentTime + 2); ringOsc.push(o); }
    };
    burst(); ringTimer = setInterval(burst, 6000);
  }
  setInterval(() => {
    if (P.micMeter) micBar.style.width = Math.round(P.micMeter.read().level * 100) + "%";
    if (P.spkMeter) spkBar.style.width = Math.round(P.spkMeter.read().level * 100) + "%";
  }, 200);

  // ---- calls --------------------------------------------------------------
  function offered(sig) {
    const old = P.legs.get(sig.leg);
    if (old && old.pc) old.pc.close();
    const leg = { id: sig.leg, sig, state: "ringing", pc: null, prev: null };
    P.legs.set(sig.leg, leg);
    if (sig.reattach || sig.auto_answer || P.auto) { answer(leg); return; }
    P.ringing = leg; ringtone(true); show();
  }

  async function answer(leg) {
    if (P.ringing === leg) { P.ringing = null; ringtone(false); }
    leg.state = "connecting"; show();
    try {
      if (!(await microphone())) throw new Error(P.problem);
      const pc = new RTCPeerConnection({ iceServers: [] });
      leg.pc = pc;
      for (const t of P.mic.getAudioTracks()) pc.addTrack(t, P.mic);
      pc.ontrack = (ev) => {
        const stream = ev.streams[0] || new MediaStream([ev.track]);
        audio.srcObject = stream;
        audio.play().catch(() => {});
        P.spkMeter = meter(stream);
      };
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === "connected") { leg.state = "up"; show(); }
        if (pc.connectionState === "failed" && P.legs.get(leg.id) === leg) {
          // Lost the network: the engine keeps the call for its grace;
          // registering again asks it to re-attach (not more than every 3 s).
          leg.state = "reconnecting"; quality.textContent = tr("ph.lost"); show();
          if (Date.now() - P.lastRegister > 3000) apply();
        }
      };
      await pc.setRemoteDescription({ type: "offer", sdp: leg.sig.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await P.req("webrtc.answer", { leg: leg.id, sdp: pc.localDescription.sdp });
    } catch (e) {
      P.problem = tr("ph.e.answer", { msg: e.message || e.code });
      drop(leg);
      try { await P.req("webrtc.hangup", { leg: leg.id, reason: "answer failed" }); } catch (x) { /* gone */ }
    }
    show();
  }

  function decline(leg) {
    if (P.ringing === leg) { P.ringing = null; ringtone(false); }
    drop(leg);
    P.req("webrtc.hangup", { leg: leg.id, reason: "declined" }).catch(() => {});
    show();
  }

  function hangupAll() {
    for (const leg of [...P.legs.values()]) {
      drop(leg);
      P.req("webrtc.hangup", { leg: leg.id }).catch(() => {});
    }
    show();
  }

  function drop(leg) {
    if (P.ringing === leg) { P.ringing = null; ringtone(false); }
    if (leg.pc) leg.pc.close();
    P.legs.delete(leg.id);
    if (![...P.legs.values()].some((l) => l.pc)) { P.spkMeter = null; spkBar.style.width = "0"; }
  }

  // Call quality from getStats in plain words, every 2 s.
  setInterval(async () => {
    for (const leg of P.legs.values()) {
      if (leg.state !== "up" || !leg.pc) continue;
      let got = 0, lost = 0, jitter = 0;
      (await leg.pc.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "audio") { got = s.packetsReceived || 0; lost = s.packetsLost || 0; jitter = s.jitter || 0; }
      });
      const prev = leg.prev || { got: 0, lost: 0 };
      const dGot = got - prev.got, dLost = Math.max(0, lost - prev.lost);
      leg.prev = { got, lost };
      const loss = dGot + dLost > 0 ? (100 * dLost) / (dGot + dLost) : 0, jms = Math.round(jitter * 1000);
      const word = dGot === 0 ? "none" : loss < 1 && jms < 30 ? "good" : loss < 5 && jms < 60 ? "fair" : "poor";
      leg.quality = { word, loss, jitterMs: jms };
      quality.textContent = dGot ? tr("ph.q.detail", { word: tr("ph.q." + word), loss: loss.toFixed(1), jitter: jms }) : tr("ph.q", { word: tr("ph.q." + word) });
    }
  }, 2000);

  // ---- the page's interface -----------------------------------------------
  const api = {
    signedIn(reply, req) {
      P.req = req; P.me = reply.agent;
      panel.hidden = false;
      apply();
    },
    signedOut() {
      if (P.registered && P.req) P.req("webrtc.unregister").catch(() => {});
      for (const leg of [...P.legs.values()]) drop(leg);
      P.registered = false; P.req = null; panel.hidden = true;
    },
    event(ev) {
      const sig = ev.data || {};
      switch (ev.event) {
        case "webrtc.offer": offered(sig); break;
        case "webrtc.hangup": { const leg = P.legs.get(sig.leg); if (leg) drop(leg); show(); break; }
      }
    },
    state() {
      return {
        mode: P.mode, registered: P.registered, problem: P.problem, ringing: P.ringing ? P.ringing.id : "",
        legs: [...P.legs.values()].map((l) => ({ leg: l.id, state: l.state, reattach: !!l.sig.reattach, quality: l.quality || null })),
        mic: P.micMeter ? P.micMeter.read() : null, speaker: P.spkMeter ? P.spkMeter.read() : null,
      };
    },
    // Tests: drop a call's connection as lost network would, without telling the engine.
    _loseNetwork() { for (const leg of P.legs.values()) if (leg.pc) { leg.pc.close(); leg.pc = null; leg.state = "lost"; } show(); },
  };
  if (typeof extend === "function") { // a page with extensions (app.js's extend)
    extend((e) => {
      if (e.event === "page.signed_in") api.signedIn(e.reply, req);
      else if (e.event === "page.render") { relabel(); show(); }
      else if (e.event === "page.signed_out") api.signedOut();
      else if (/^webrtc\./.test(e.event)) { api.event(e); return true; }
      return false;
    });
  }
  return api;
})();
