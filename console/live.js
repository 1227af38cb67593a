// Live pages: the Monitor (the live-call list from Server-Sent Events; per call listen,
// take over, whisper, hang up) and Agent Studio (talk with an agent profile). Audio
// goes through the AudioWorklets in audio-worklets.js; the WebSocket messages are
// docs/websocket-protocol.md's.

import { html, useState, useEffect, useRef, useCallback } from "./vendor/preact-htm.module.js";
import { api, ErrorLine } from "./api.js";

const RATE = 48000;
// Listen-in comes at the call's own rate; the Speaker resamples (an operator's socket,
// which also carries the microphone, stays at RATE).
const LISTEN_RATE = 8000;
const MIC_HELP = "The microphone works only on a secure page: open the console over HTTPS (the appliance's TLS or ACME) or on localhost.";

const micUsable = () => Boolean(window.isSecureContext && navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
const wsUrl = (path) => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;

function pcmOf(base64) {
  const bin = atob(base64);
  const bytes = new Uint8Array(bin.length & ~1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Int16Array(bytes.buffer);
}

function base64Of(pcm) {
  const bytes = new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/**
 * PCM16 at a rate that divides the context's, up to the context's rate: a polyphase
 * windowed-sinc filter (Kaiser window, 16 taps of the lower rate per phase, cut-off at
 * 0.95 of its Nyquist frequency), the appliance's own design (bridge/src/resample.rs).
 * One per track and rate, so chunks join without a click. Listen-in asks for the call's
 * own 8 kHz and resamples here: one browser resamples the calls it plays, the appliance
 * none (that was most of what a listener cost it).
 */
class Upsampler {
  constructor(factor, taps = 16) {
    const i0 = (x) => {
      let sum = 1, term = 1;
      for (let k = 1; k < 50; k++) {
        term *= x / 2 / k;
        sum += term * term;
        if (term * term < 1e-12 * sum) break;
      }
      return sum;
    };
    const len = taps * factor, cutoff = (0.5 / factor) * 0.95, beta = 7, center = (len - 1) / 2;
    const h = new Float64Array(len);
    for (let n = 0; n < len; n++) {
      const x = n - center;
      const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
      const r = x / Math.max(center, 1);
      // Gain `factor` restores the level lost between the input samples.
      h[n] = (sinc * i0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0(beta)) * factor;
    }
    // coeffs[p * taps + k]: phase p's weight of the k-th oldest sample of the window.
    this.coeffs = new Float32Array(factor * taps);
    for (let p = 0; p < factor; p++) for (let k = 0; k < taps; k++) this.coeffs[p * taps + k] = h[(taps - 1 - k) * factor + p];
    this.factor = factor;
    this.taps = taps;
    // The window twice over: the last `taps` samples are always one run.
    this.history = new Float32Array(2 * taps);
    this.next = 0;
  }
  /** Int16Array in, Float32Array (-1..1) at `factor` times the rate out. */
  process(pcm) {
    const { factor, taps, coeffs, history } = this;
    const out = new Float32Array(pcm.length * factor);
    for (let i = 0; i < pcm.length; i++) {
      const x = pcm[i] / 32768;
      history[this.next] = x;
      history[this.next + taps] = x;
      this.next = (this.next + 1) % taps;
      for (let p = 0; p < factor; p++) {
        let acc = 0;
        for (let k = 0, c = p * taps; k < taps; k++) acc += coeffs[c + k] * history[this.next + k];
        out[i * factor + p] = acc;
      }
    }
    return out;
  }
}

/** One AudioContext at 48 kHz: the player of both sides and, when asked, the microphone. */
class Speaker {
  static async open(onStats) {
    const ctx = new AudioContext({ sampleRate: RATE, latencyHint: "interactive" });
    await ctx.audioWorklet.addModule("/audio-worklets.js");
    const node = new AudioWorkletNode(ctx, "agent5-player", { numberOfInputs: 0, outputChannelCount: [1] });
    node.connect(ctx.destination);
    node.port.onmessage = (e) => onStats(e.data);
    await ctx.resume();
    return new Speaker(ctx, node);
  }
  constructor(ctx, node) {
    this.ctx = ctx;
    this.node = node;
    this.upsamplers = new Map();
  }
  /** `track` 0 caller, 1 agent; `pcm` PCM16 at `rate`. */
  play(track, pcm, rate) {
    const factor = Math.max(1, Math.round(this.ctx.sampleRate / rate));
    let samples;
    if (factor === 1) {
      samples = Float32Array.from(pcm, (v) => v / 32768);
    } else {
      const key = `${track}/${factor}`;
      if (!this.upsamplers.has(key)) this.upsamplers.set(key, new Upsampler(factor));
      samples = this.upsamplers.get(key).process(pcm);
    }
    this.node.port.postMessage({ type: "audio", track, samples }, [samples.buffer]);
  }
  gain(track, value) { this.node.port.postMessage({ type: "gain", track, value }); }
  clear() { this.node.port.postMessage({ type: "clear" }); }
  /** Captures the microphone (echo cancellation on) as 20 ms PCM16 chunks at `rate`; a stop function. */
  async mic(rate, onChunk) {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1, sampleRate: RATE },
    });
    const source = this.ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(this.ctx, "agent5-mic", { outputChannelCount: [1], processorOptions: { rate } });
    // A silent path to the output keeps the worklet running.
    const mute = this.ctx.createGain();
    mute.gain.value = 0;
    source.connect(node).connect(mute).connect(this.ctx.destination);
    node.port.onmessage = (e) => onChunk(e.data.pcm, e.data.rms);
    return () => {
      node.port.onmessage = null;
      source.disconnect();
      node.disconnect();
      for (const t of stream.getTracks()) t.stop();
    };
  }
  close() { this.ctx.close(); }
}

function Meter({ label, value }) {
  const v = Math.min(1, Math.max(0, value || 0));
  return html`<meter class="level" aria-label=${label} min="0" max="1" low="0.6" high="0.9" optimum="0.3"
    value=${v.toFixed(3)} title=${`${label}: ${v.toFixed(2)}`}></meter>`;
}

const duration = (ms) => {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

/** The live calls from `/api/calls/live/events`, re-rendered at most 4 times a second. */
function useLiveCalls() {
  const calls = useRef(new Map());
  const [, setVersion] = useState(0);
  const [state, setState] = useState("connecting");
  useEffect(() => {
    let source = null;
    let retry = null;
    let dirty = false;
    const touch = () => {
      if (dirty) return;
      dirty = true;
      setTimeout(() => { dirty = false; setVersion((v) => v + 1); }, 250);
    };
    const replace = (items) => {
      calls.current = new Map(items.map((c) => [c.call_id, c]));
      touch();
    };
    const merge = (c) => {
      calls.current.set(c.call_id, { ...calls.current.get(c.call_id), ...c });
      touch();
    };
    const open = () => {
      source = new EventSource("/api/calls/live/events");
      source.addEventListener("snapshot", (e) => { setState("live"); replace(JSON.parse(e.data).items); });
      source.addEventListener("call.started", (e) => merge(JSON.parse(e.data)));
      source.addEventListener("call.updated", (e) => merge(JSON.parse(e.data)));
      source.addEventListener("call.ended", (e) => { calls.current.delete(JSON.parse(e.data).call_id); touch(); });
      source.addEventListener("levels", (e) => {
        for (const l of JSON.parse(e.data).items) {
          const c = calls.current.get(l.call_id);
          if (c) { c.caller_level = l.caller_level; c.agent_level = l.agent_level; }
        }
        touch();
      });
      // Fell behind: read the whole list again.
      source.addEventListener("resync", () => api("GET", "/api/calls/live").then((l) => replace(l.items), () => {}));
      source.onerror = () => {
        if (source.readyState !== EventSource.CLOSED) { setState("reconnecting"); return; }
        // Refused (a lost session, a draining appliance): ask again shortly; a 401
        // from the probe returns to the sign-in page.
        setState("reconnecting");
        api("GET", "/api/auth/me").catch(() => {});
        retry = setTimeout(open, 3000);
      };
    };
    open();
    return () => { clearTimeout(retry); if (source) source.close(); };
  }, []);
  return [calls.current, state];
}

export function Monitor({ me, id }) {
  const [calls, state] = useLiveCalls();
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const list = [...calls.values()].sort((a, b) => a.since - b.since);
  const selected = id ? calls.get(id) : null;
  return html`<section aria-labelledby="monitor-title">
    <h2 id="monitor-title">Monitor</h2>
    <p class="muted" role="status">${state === "live" ? `${list.length} live call${list.length === 1 ? "" : "s"}, updated as they change.`
      : state === "connecting" ? "Connecting…" : "Connection lost: reconnecting…"}</p>
    <table>
      <thead><tr><th>Prospect</th><th>Phone</th><th>Campaign</th><th>Agent</th><th>State</th><th>Duration</th>
        <th>Controlled by</th><th>Caller</th><th>Agent audio</th><th></th></tr></thead>
      <tbody>${list.map((c) => html`<tr key=${c.call_id} class=${c.call_id === id ? "selected" : ""}>
        <td>${c.prospect_id ? html`<a href=${"#/prospects/" + c.prospect_id}>${c.prospect_name || "prospect"}</a>` : "—"}</td>
        <td>${c.phone || "—"}</td><td>${c.campaign_name || c.campaign_id || "—"}</td><td>${c.agent_profile || "default"}</td>
        <td>${c.state}${c.local === false ? ` · on ${c.node}` : ""}</td><td>${duration(now - (c.answered_at || c.since))}</td><td>${c.controller}</td>
        <td><${Meter} label=${"Caller level of " + (c.phone || c.call_id)} value=${c.caller_level} /></td>
        <td><${Meter} label=${"Agent level of " + (c.phone || c.call_id)} value=${c.agent_level} /></td>
        <td><a href=${"#/monitor/" + c.call_id}>Open</a></td>
      </tr>`)}</tbody>
    </table>
    ${id && !selected && state === "live" && html`<p>This call is not live (any more). <a href=${"#/calls/" + id}>Its record</a>.</p>`}
    ${selected && html`<${LiveCall} key=${id} call=${selected} me=${me} />`}
  </section>`;
}

const can = (me, p) => me.permissions.includes(p);

/** One live call: its transcript and levels always; listen, take over, whisper, hang up. */
function LiveCall({ call, me }) {
  const [turns, setTurns] = useState([]);
  const [mode, setMode] = useState("watch");
  const [stats, setStats] = useState({ levels: [0, 0], buffered: [0, 0], underruns: 0 });
  const [volume, setVolume] = useState([1, 1]);
  const [micLevel, setMicLevel] = useState(0);
  const [talking, setTalking] = useState(false);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState("");
  const speaker = useRef(null);
  const socket = useRef(null);
  const stopMic = useRef(null);
  const talkingRef = useRef(false);

  const onTranscript = (m) => setTurns((t) => [...t.slice(-199), m]);
  const onAudio = (track, pcm, rate) => { if (speaker.current) speaker.current.play(track, pcm, rate); };

  // The listen socket stays open while the call is shown (transcript, levels); it plays
  // only after Listen. Takeover and whisper replace it with the operator socket.
  const openMonitor = useCallback(() => {
    const ws = new WebSocket(wsUrl(`/monitor?call=${encodeURIComponent(call.call_id)}&rate=${LISTEN_RATE}&binary=1`));
    ws.binaryType = "arraybuffer";
    ws.onmessage = (e) => {
      if (typeof e.data !== "string") {
        const bytes = new Uint8Array(e.data);
        onAudio(bytes[0], new Int16Array(e.data.slice(1, 1 + ((bytes.length - 1) & ~1))), LISTEN_RATE);
        return;
      }
      const m = JSON.parse(e.data);
      if (m.type === "transcript") onTranscript(m);
    };
    ws.onclose = (e) => { if (e.code === 1008 && e.reason) setNotice(`Listening stopped: ${e.reason}.`); };
    return ws;
  }, [call.call_id]);

  useEffect(() => {
    socket.current = openMonitor();
    return () => {
      if (socket.current) socket.current.close();
      if (stopMic.current) stopMic.current();
      if (speaker.current) speaker.current.close();
    };
  }, [openMonitor]);

  const ensureSpeaker = async () => {
    if (!speaker.current) {
      speaker.current = await Speaker.open(setStats);
      volume.forEach((v, track) => speaker.current.gain(track, v));
    }
    return speaker.current;
  };

  const listen = async () => {
    setError(null);
    try { await ensureSpeaker(); setMode("listen"); } catch (e) { setError(e); }
  };
  const stopListening = () => {
    if (speaker.current) { speaker.current.close(); speaker.current = null; }
    setMode("watch");
  };

  /** Takeover or whisper: the operator socket and the microphone. */
  const operate = async (kind) => {
    setError(null);
    setNotice("");
    if (!micUsable()) { setNotice(MIC_HELP); return; }
    try {
      const sp = await ensureSpeaker();
      if (socket.current) socket.current.close();
      const ws = new WebSocket(wsUrl(`/operator-bridge?call=${encodeURIComponent(call.call_id)}&rate=${RATE}&mode=${kind}`));
      ws.binaryType = "arraybuffer";
      socket.current = ws;
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.type === "audio") onAudio(m.track === "agent" ? 1 : 0, pcmOf(m.audio), RATE);
        else if (m.type === "transcript") onTranscript(m);
      };
      ws.onclose = (e) => {
        if (socket.current !== ws) return;
        if (stopMic.current) { stopMic.current(); stopMic.current = null; }
        setMicLevel(0);
        if (e.code === 4409) setNotice(`Someone else holds this call (${e.reason || "call_already_taken"}).`);
        else if (e.code !== 1000 && e.code !== 1005) setNotice(`The operator connection closed (${e.code} ${e.reason}).`);
        setMode("listen");
        socket.current = openMonitor();
      };
      ws.onopen = async () => {
        try {
          stopMic.current = await sp.mic(RATE, (pcm, rms) => {
            setMicLevel(rms);
            // Whisper is push-to-talk: audio only while the button is held.
            if (ws.readyState === WebSocket.OPEN && (kind === "takeover" || talkingRef.current)) ws.send(pcm.buffer);
          });
          setMode(kind);
        } catch (err) {
          setNotice(`The microphone could not be opened: ${err.message}`);
          ws.close(1000);
        }
      };
    } catch (e) { setError(e); }
  };

  const handBack = () => {
    const ws = socket.current;
    if (ws) { ws.send(JSON.stringify({ type: "commit" })); ws.close(1000); }
  };

  const talk = (on) => {
    talkingRef.current = on;
    setTalking(on);
    const ws = socket.current;
    if (!on && ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "commit" }));
  };

  const hangUp = () => {
    if (!window.confirm(`Hang up the call with ${call.phone || call.call_id}? The person hears the line close.`)) return;
    api("POST", `/api/calls/${encodeURIComponent(call.call_id)}/hangup`).then(() => setNotice("Hung up."), setError);
  };

  const setSide = (track, v) => {
    const next = [...volume];
    next[track] = v;
    setVolume(next);
    if (speaker.current) speaker.current.gain(track, v);
  };

  const holding = call.controller !== "agent";
  const operating = mode === "takeover" || mode === "whisper";
  return html`<section class="panel" aria-labelledby="live-call-title">
    <h3 id="live-call-title">${call.prospect_name || call.phone || call.call_id}</h3>
    <p>${`${call.phone || ""} · ${call.state} · controlled by `}<strong>${call.controller}</strong>
      ${holding && !operating ? " (an operator has this call)" : ""}</p>
    <${ErrorLine} error=${error} />
    ${notice && html`<p class="notice" role="status">${notice}</p>`}
    ${call.local === false && html`<p class="muted">This call is on appliance ${call.node}: listening, takeover and whisper work from that appliance's console; hanging up works from here.</p>`}
    <div class="row">
      ${call.local !== false && can(me, "monitor.listen") && (mode === "watch"
        ? html`<button type="button" onClick=${listen}>Listen</button>`
        : !operating && html`<button type="button" onClick=${stopListening}>Stop listening</button>`)}
      ${call.local !== false && can(me, "monitor.takeover") && (mode === "takeover"
        ? html`<button type="button" class="primary" onClick=${handBack}>Hand back</button>`
        : !operating && html`<button type="button" disabled=${holding} onClick=${() => operate("takeover")}>Take over</button>`)}
      ${call.local !== false && can(me, "monitor.whisper") && (mode === "whisper"
        ? html`<button type="button" aria-pressed=${talking} onPointerDown=${() => talk(true)} onPointerUp=${() => talk(false)}
            onPointerLeave=${() => talking && talk(false)}
            onKeyDown=${(e) => { if (e.key === " " && !e.repeat) { e.preventDefault(); talk(true); } }}
            onKeyUp=${(e) => { if (e.key === " ") talk(false); }}>${talking ? "Speaking to the agent…" : "Hold to whisper"}</button>
          <button type="button" onClick=${handBack}>Stop whispering</button>`
        : !operating && html`<button type="button" disabled=${holding} onClick=${() => operate("whisper")}>Whisper</button>`)}
      ${can(me, "calls.place") && html`<button type="button" class="danger" onClick=${hangUp}>Hang up</button>`}
    </div>
    ${!micUsable() && (can(me, "monitor.takeover") || can(me, "monitor.whisper")) && html`<p class="muted">${MIC_HELP}</p>`}
    ${mode !== "watch" && html`<div class="row audio">
      <div><label for="vol-caller">Caller volume</label>
        <input id="vol-caller" type="range" min="0" max="2" step="0.1" value=${volume[0]} onInput=${(e) => setSide(0, Number(e.target.value))} /></div>
      <div><label for="vol-agent">Agent volume</label>
        <input id="vol-agent" type="range" min="0" max="2" step="0.1" value=${volume[1]} onInput=${(e) => setSide(1, Number(e.target.value))} /></div>
      <div>Playing: caller <${Meter} label="Caller playback level" value=${stats.levels[0] * 3} />
        agent <${Meter} label="Agent playback level" value=${stats.levels[1] * 3} /></div>
      <div data-underruns=${stats.underruns}>Buffer ${Math.max(...stats.buffered)} ms${stats.target ? ` (target ${Math.max(...stats.target)} ms)` : ""}, ${stats.underruns} gaps</div>
      ${operating && html`<div>Microphone <${Meter} label="Microphone level" value=${micLevel * 3} /></div>`}
    </div>`}
    <h4>Transcript</h4>
    <ol class="transcript" aria-live="polite">${turns.map((t) => html`<li class=${t.role}>
      <strong>${t.role}</strong>${`: ${t.text}`}${t.interrupted ? html` <em>(interrupted)</em>` : ""}</li>`)}</ol>
  </section>`;
}

/** Agent Studio: talk with an agent profile through the microphone. */
export function Studio() {
  const [profiles, setProfiles] = useState([]);
  const [profile, setProfile] = useState("");
  const [lang, setLang] = useState("en");
  const [running, setRunning] = useState(false);
  const [speaking, setSpeaking] = useState(false);
  const [agentText, setAgentText] = useState([]);
  const [latencies, setLatencies] = useState([]);
  const [micLevel, setMicLevel] = useState(0);
  const [stats, setStats] = useState({ levels: [0, 0], buffered: [0, 0], underruns: 0 });
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState("");
  const session = useRef(null);

  useEffect(() => {
    api("GET", "/api/agents").then((p) => setProfiles(p.items || p), setError);
    return () => stop();
  }, []);

  const stop = () => {
    const s = session.current;
    session.current = null;
    if (!s) return;
    if (s.stopMic) s.stopMic();
    if (s.ws.readyState <= WebSocket.OPEN) s.ws.close(1000);
    s.speaker.close();
    setRunning(false);
    setSpeaking(false);
    setMicLevel(0);
  };

  const start = async () => {
    setError(null);
    setNotice("");
    if (!micUsable()) { setNotice(MIC_HELP); return; }
    try {
      const speaker = await Speaker.open(setStats);
      const q = new URLSearchParams({ lang });
      if (profile) q.set("profile", profile);
      const ws = new WebSocket(wsUrl(`/agent-stream?${q}`));
      const s = { ws, speaker, stopMic: null };
      session.current = s;
      setAgentText([]);
      setLatencies([]);
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.type === "agent_audio_24k") speaker.play(1, pcmOf(m.audio), 24000);
        else if (m.type === "transcript_delta") setAgentText((t) => [...t.slice(0, -1), (t[t.length - 1] || "") + m.text]);
        else if (m.type === "first_audio_delta") setAgentText((t) => [...t.slice(-49), ""]);
        else if (m.type === "agent_speaking") setSpeaking(m.speaking);
        // The person spoke over the agent: what is queued is dropped at once.
        else if (m.type === "barge_in") { speaker.clear(); setSpeaking(false); }
        else if (m.type === "latency") setLatencies((l) => [...l.slice(-49), m.ms]);
      };
      ws.onclose = (e) => {
        if (session.current !== s) return;
        if (e.code !== 1000 || (e.reason && e.reason !== "")) setNotice(`The session ended (${e.code} ${e.reason || "closed"}).`);
        stop();
      };
      ws.onopen = async () => {
        try {
          s.stopMic = await speaker.mic(24000, (pcm, rms) => {
            setMicLevel(rms);
            if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "audio", audio: base64Of(pcm) }));
          });
          setRunning(true);
        } catch (err) {
          setNotice(`The microphone could not be opened: ${err.message}`);
          stop();
        }
      };
    } catch (e) { setError(e); stop(); }
  };

  const last = latencies[latencies.length - 1];
  return html`<section aria-labelledby="studio-title">
    <h2 id="studio-title">Agent Studio</h2>
    <p class="muted">Talk with an agent profile through your microphone before a campaign uses it. The session is recorded and listed in Calls (direction studio).</p>
    <${ErrorLine} error=${error} />
    ${notice && html`<p class="notice" role="status">${notice}</p>`}
    ${!micUsable() && html`<p class="muted">${MIC_HELP}</p>`}
    <div class="row">
      <div><label for="studio-profile">Agent profile</label>
        <select id="studio-profile" value=${profile} disabled=${running} onChange=${(e) => setProfile(e.target.value)}>
          <option value="">default</option>
          ${profiles.map((p) => html`<option value=${p.name}>${p.name}</option>`)}</select></div>
      <div><label for="studio-lang">Language</label>
        <select id="studio-lang" value=${lang} disabled=${running} onChange=${(e) => setLang(e.target.value)}>
          ${["en", "nl", "fr", "de"].map((l) => html`<option value=${l}>${l}</option>`)}</select></div>
      <div>${running ? html`<button type="button" onClick=${stop}>End session</button>`
        : html`<button type="button" class="primary" onClick=${start}>Start talking</button>`}</div>
    </div>
    ${running && html`<div class="row audio">
      <div>Microphone <${Meter} label="Microphone level" value=${micLevel * 3} /></div>
      <div>Agent <${Meter} label="Agent playback level" value=${stats.levels[1] * 3} /> ${speaking ? "speaking" : "listening"}</div>
    </div>`}
    <p class="latency" role="status">${last == null ? "Voice-to-voice latency: speak, then pause; the agent's answer is timed."
      : `Voice-to-voice latency: last ${last} ms, turns ${latencies.join(", ")} ms.`}</p>
    <h3>What the agent said</h3>
    <ol class="transcript" aria-live="polite">${agentText.filter((t) => t).map((t) => html`<li class="agent">${t}</li>`)}</ol>
  </section>`;
}
