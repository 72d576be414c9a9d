// vocable Talk: browser microphone -> /v1/realtime (binary PCM16 at 16 kHz) -> gapless playback.
// State shows on #vt-state (data-state: idle, connecting, listening, thinking, speaking).
// Keys: hold Space to talk (push-to-talk), Esc interrupts the reply.
(() => {
  const IN_RATE = 16000;
  const OUT_RATE = 24000;
  const T = {
    ws: null, mic: null, micCtx: null, node: null, playCtx: null, nextTime: 0,
    sources: [], chunks: 0, handsFree: true, spaceHeld: false, assistant: null, user: null,
  };
  const $ = (id) => document.getElementById(id);

  function setState(state) {
    const el = $("vt-state");
    if (el) { el.textContent = state; el.dataset.state = state; }
    const root = $("vocable-talk");
    if (root) root.dataset.state = state;
  }

  function showError(message) {
    const el = $("vt-error");
    if (el) { el.textContent = message; el.hidden = !message; }
  }

  function line(role, text) {
    const log = $("vt-log");
    if (!log) return null;
    const empty = $("vt-empty");
    if (empty) empty.remove();
    const div = document.createElement("div");
    div.className = "vt-line vt-" + role;
    div.dataset.role = role;
    div.textContent = text;
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  function setLevel(samples) {
    let sum = 0;
    for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
    const db = 10 * Math.log10(sum / samples.length + 1e-10);
    const pct = Math.max(0, Math.min(100, (db + 60) * (100 / 60)));
    const bar = $("vt-level");
    if (bar) { bar.style.width = pct.toFixed(0) + "%"; bar.dataset.db = db.toFixed(1); }
  }

  function gateOpen() {
    return T.handsFree || T.spaceHeld;
  }

  async function startMic() {
    T.mic = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
    T.micCtx = new AudioContext({ sampleRate: IN_RATE });
    await T.micCtx.resume();
    const source = T.micCtx.createMediaStreamSource(T.mic);
    T.node = T.micCtx.createScriptProcessor(1024, 1, 1);
    T.node.onaudioprocess = (e) => {
      const f = e.inputBuffer.getChannelData(0);
      setLevel(f);
      if (!T.ws || T.ws.readyState !== WebSocket.OPEN || !gateOpen()) return;
      const pcm = new Int16Array(f.length);
      for (let i = 0; i < f.length; i++) {
        const s = Math.max(-1, Math.min(1, f[i]));
        pcm[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
      }
      T.ws.send(pcm.buffer);
    };
    source.connect(T.node);
    T.node.connect(T.micCtx.destination);
  }

  function play(buffer) {
    const ctx = T.playCtx;
    if (!ctx || buffer.byteLength < 2) return;
    const pcm = new Int16Array(buffer, 0, buffer.byteLength >> 1);
    const audio = ctx.createBuffer(1, pcm.length, OUT_RATE);
    const data = audio.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) data[i] = pcm[i] / 32768;
    const src = ctx.createBufferSource();
    src.buffer = audio;
    src.connect(ctx.destination);
    // Each chunk starts exactly where the previous one ends: no gap, no overlap.
    const when = Math.max(T.nextTime, ctx.currentTime + 0.05);
    src.start(when);
    T.nextTime = when + audio.duration;
    T.sources.push(src);
    src.onended = () => {
      T.sources = T.sources.filter((s) => s !== src);
      if (!T.sources.length && T.ws) setState("listening");
    };
    T.chunks += 1;
    const root = $("vocable-talk");
    if (root) {
      root.dataset.audioChunks = String(T.chunks);
      T.scheduledMs = (T.scheduledMs || 0) + audio.duration * 1000;
      root.dataset.audioScheduledMs = String(Math.round(T.scheduledMs));
    }
    setState("speaking");
  }

  function stopPlayback() {
    for (const s of T.sources) { try { s.stop(); } catch (e) { /* already stopped */ } }
    T.sources = [];
    T.nextTime = 0;
  }

  function onEvent(ev) {
    switch (ev.type) {
      case "session.updated":
        startMic().then(() => setState("listening")).catch((err) => {
          showError("Microphone unavailable: " + err.message);
          stop();
        });
        break;
      case "input_audio_buffer.speech_started":
        if (!T.sources.length) setState("listening");
        T.user = line("user", "…");
        break;
      case "input_audio_buffer.speech_stopped":
        setState("thinking");
        break;
      case "conversation.item.input_audio_transcription.completed":
        if (!T.user) T.user = line("user", "");
        if (T.user) T.user.textContent = ev.transcript || "(no words heard)";
        if (!ev.transcript) setState("listening"); // no words, so no reply
        T.user = null;
        break;
      case "response.created":
        T.assistant = line("assistant", "");
        setState("thinking");
        break;
      case "response.output_text.delta":
        if (!T.assistant) T.assistant = line("assistant", "");
        if (T.assistant) T.assistant.textContent += ev.delta;
        break;
      case "response.output_audio.delta": {
        const bin = atob(ev.delta);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        play(bytes.buffer);
        break;
      }
      case "response.done":
        if (T.assistant && ev.response && ev.response.status === "cancelled") {
          T.assistant.classList.add("vt-cancelled");
        }
        T.assistant = null;
        break;
      case "error":
        showError((ev.error && ev.error.message) || "error");
        break;
      default:
        break;
    }
  }

  function start(configJson) {
    let cfg = {};
    try { cfg = JSON.parse(configJson || "{}"); } catch (e) { cfg = { error: "bad session config" }; }
    stop();
    showError(cfg.error || "");
    if (cfg.error) return;
    T.handsFree = cfg.hands_free !== false;
    T.playCtx = new AudioContext({ sampleRate: OUT_RATE });
    T.playCtx.resume();
    setState("connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = cfg.ticket ? "?ticket=" + encodeURIComponent(cfg.ticket) : "";
    const ws = new WebSocket(scheme + "://" + location.host + "/v1/realtime" + query);
    ws.binaryType = "arraybuffer";
    T.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({
        type: "session.update",
        session: {
          type: "realtime",
          audio: {
            input: {
              format: { type: "audio/pcm", rate: IN_RATE },
              turn_detection: { type: "semantic_vad", eagerness: cfg.eagerness || "auto" },
            },
            output: { format: { type: "audio/pcm", rate: OUT_RATE } },
          },
        },
      }));
    };
    ws.onmessage = (m) => {
      if (typeof m.data === "string") onEvent(JSON.parse(m.data));
      else play(m.data);
    };
    ws.onclose = (e) => {
      if (T.ws !== ws) return;
      if (e.code === 1008) showError("The session was refused: sign in again.");
      else if (e.code === 1013) showError("The engines are still loading; try again in a moment.");
      stop();
    };
  }

  function interrupt() {
    stopPlayback();
    if (T.ws && T.ws.readyState === WebSocket.OPEN) T.ws.send(JSON.stringify({ type: "response.cancel" }));
    if (T.assistant) T.assistant.classList.add("vt-cancelled");
    if (T.ws) setState("listening");
  }

  function stop() {
    const ws = T.ws;
    T.ws = null;
    if (ws) ws.close();
    stopPlayback();
    if (T.node) { T.node.disconnect(); T.node = null; }
    if (T.mic) { T.mic.getTracks().forEach((t) => t.stop()); T.mic = null; }
    if (T.micCtx) { T.micCtx.close(); T.micCtx = null; }
    if (T.playCtx) { T.playCtx.close(); T.playCtx = null; }
    setState("idle");
  }

  function typing(target) {
    const tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || (target && target.isContentEditable);
  }

  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { interrupt(); return; }
    if (e.code === "Space" && !typing(e.target) && T.ws) {
      e.preventDefault();
      if (!T.spaceHeld) { T.spaceHeld = true; stopPlayback(); }
    }
  });
  document.addEventListener("keyup", (e) => {
    if (e.code === "Space" && T.spaceHeld) {
      T.spaceHeld = false;
      if (!T.handsFree && T.ws && T.ws.readyState === WebSocket.OPEN) {
        T.ws.send(JSON.stringify({ type: "input_audio_buffer.commit" }));
      }
    }
  });
  document.addEventListener("click", (e) => {
    const id = e.target && e.target.id;
    if (id === "vt-interrupt") interrupt();
    if (id === "vt-stop") stop();
  });

  window.vocableTalk = { start, stop, interrupt, state: () => T };
})();
