// Hotline browser phone: the page is the agent's or supervisor's phone
// (WebRTC; signalling over the desktop's WebSocket, PROTOCOL.md "Browser
// phone"). Plain JS, no build step, its own panel and styles.
//
// The page (app.js) reaches it through three calls, and nothing else:
//   HotlinePhone.signedIn(reply, req)  after every sign-in or resume; req(type, fields) -> Promise is the page's request function
//   HotlinePhone.signedOut()           on log-out or a session lost
//   HotlinePhone.event(ev)             every event whose name starts with "webrtc."
// A page with extensions (extend(fn), pseudo-events "page.signed_in" and
// "page.signed_out") gets them by itself when phone.js loads after app.js.
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
  const el = (tag, attrs = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) if (k.startsWith("on")) e[k] = v; else e.setAttribute(k, v);
    e.append(...kids);
    return e;
  };

  // ---- panel --------------------------------------------------------------
  // Its own style sheet: the page's CSP allows no inline styles.
  document.head.append(el("link", { rel: "stylesheet", href: "phone.css" }));
  const sel = el("select", { id: "phone-mode", "aria-label": "Phone" },
    new Option("SIP phone", "sip"), new Option("This browser", "browser"));
  const autoBox = el("input", { type: "checkbox", id: "phone-auto" });
  const status = el("span", { id: "phone-status", role: "status", "aria-live": "polite" });
  const micBar = el("i"), spkBar = el("i");
  const levels = el("span", { id: "phone-levels", hidden: "" }, "mic ", el("span", { class: "meter", title: "microphone level" }, micBar),
    " speaker ", el("span", { class: "meter", title: "what you hear" }, spkBar));
  const quality = el("span", { id: "phone-quality", "aria-live": "polite" });
  const ringBox = el("span", { id: "phone-ring", class: "ring", hidden: "" });
  const answerBtn = el("button", { id: "phone-answer", class: "answer", hidden: "", onclick: () => P.ringing && answer(P.ringing) }, "Answer");
  const declineBtn = el("button", { id: "phone-decline", class: "decline", hidden: "", onclick: () => P.ringing && decline(P.ringing) }, "Decline");
  const hangBtn = el("button", { id: "phone-hangup", class: "decline", hidden: "", onclick: hangupAll }, "Hang up");
  const audio = el("audio", { id: "phone-audio", autoplay: "" });
  const panel = el("section", { id: "phone", hidden: "", "aria-label": "Phone" },
    el("label", {}, "Phone: ", sel), el("label", {}, autoBox, " answer automatically"), status, levels, quality,
    ringBox, answerBtn, declineBtn, hangBtn, audio);
  document.body.insertBefore(panel, document.querySelector("main"));
  sel.value = P.mode;
  autoBox.checked = P.auto;
  sel.onchange = () => { P.mode = sel.value; localStorage.setItem("hotline.phone", P.mode); apply(); };
  autoBox.onchange = () => { P.auto = autoBox.checked; localStorage.setItem("hotline.autoanswer", P.auto ? "1" : "0"); };

  function show() {
    status.className = P.problem ? "problem" : "";
    status.textContent = P.problem ? P.problem : P.mode === "sip" ? "calls ring on your SIP phone"
      : P.registered ? "this browser is your phone" : "connecting the browser phone…";
    const up = [...P.legs.values()].some((l) => l.state === "up");
    levels.hidden = !P.mic;
    hangBtn.hidden = !up;
    const r = P.ringing;
    ringBox.hidden = answerBtn.hidden = declineBtn.hidden = !r;
    ringBox.textContent = r ? "Incoming call from " + (r.sig.caller || "unknown") + (r.sig.caller_name ? " (" + r.sig.caller_name + ")" : "") : "";
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
      P.problem = "The browser phone is not available: " + (e.message || e.code);
    }
    show();
  }

  // microphone asks for the microphone once and explains a refusal.
  async function microphone() {
    if (P.mic && P.mic.getAudioTracks().some((t) => t.readyState === "live")) return true;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      P.problem = "This browser gives the microphone only to secure pages: open the desktop over https:// (or on localhost).";
      return false;
    }
    try {
      P.mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
    } catch (e) {
      P.problem = {
        NotAllowedError: "Microphone blocked: allow the microphone for this site (the icon in the address bar), then choose \"This browser\" again.",
        NotFoundError: "No microphone found: plug in a headset, then choose \"This browser\" again.",
        NotReadableError: "The microphone is in use by another program or could not be opened.",
        SecurityError: "This page may not use the microphone (open it over https:// or on localhost).",
      }[e.name] || "Microphone unavailable: " + e.message;
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
          leg.state = "reconnecting"; quality.textContent = "Connection lost — reconnecting…"; show();
          if (Date.now() - P.lastRegister > 3000) apply();
        }
      };
      await pc.setRemoteDescription({ type: "offer", sdp: leg.sig.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await P.req("webrtc.answer", { leg: leg.id, sdp: pc.localDescription.sdp });
    } catch (e) {
      P.problem = "Could not answer: " + (e.message || e.code);
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
      const word = dGot === 0 ? "no audio arriving" : loss < 1 && jms < 30 ? "good" : loss < 5 && jms < 60 ? "fair" : "poor";
      leg.quality = { word, loss, jitterMs: jms };
      quality.textContent = "Call quality: " + word + (dGot ? " (" + loss.toFixed(1) + " % lost, jitter " + jms + " ms)" : "");
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
      else if (e.event === "page.signed_out") api.signedOut();
      else if (/^webrtc\./.test(e.event)) { api.event(e); return true; }
      return false;
    });
  }
  return api;
})();
