// The console's two AudioWorklet processors (loaded with audioWorklet.addModule).
//
// "agent5-player": plays the two sides of a call (0 caller, 1 agent) from a ring buffer
// each, mixed with a volume per side. An adaptive jitter buffer: a side starts once
// its target delay of audio has arrived (60 ms at first); a side that runs dry and gets
// audio again within GAP counts one underrun (an audible gap) and raises its target by
// half (at most 400 ms); 10 s without a gap lowers it by 10 ms again, never below the
// longest chunk received (counted up to 100 ms) plus 20 ms: listen-in sends 100 ms
// chunks, an operator's socket 20 ms frames. Buffered audio
// beyond twice the target (at least 500 ms) is dropped rather than letting the delay
// grow. A side that stops for longer than GAP simply ended speaking. Every 100 ms it
// posts {levels: [rms, rms], buffered: [ms, ms], target: [ms, ms], underruns}.
//
// "agent5-mic": the microphone in 20 ms chunks as PCM16 at `processorOptions.rate`
// (the context's rate divided by a whole number), each posted with its RMS.

const JITTER = 0.06;
const MAX_JITTER = 0.4;
const MAX_DELAY = 0.5;
const GAP = 0.2;
const CHUNK = 0.1;
const CALM = 10;

class Ring {
  constructor(size) {
    this.buf = new Float32Array(size);
    this.read = 0;
    this.count = 0;
  }
  push(samples) {
    const size = this.buf.length;
    for (let i = 0; i < samples.length; i++) {
      if (this.count === size) { this.read = (this.read + 1) % size; this.count--; }
      this.buf[(this.read + this.count) % size] = samples[i];
      this.count++;
    }
  }
  drop(n) {
    const k = Math.min(n, this.count);
    this.read = (this.read + k) % this.buf.length;
    this.count -= k;
  }
  shift() {
    const v = this.buf[this.read];
    this.read = (this.read + 1) % this.buf.length;
    this.count--;
    return v;
  }
  clear() { this.read = 0; this.count = 0; }
}

class Player extends AudioWorkletProcessor {
  constructor() {
    super();
    this.sides = [0, 1].map(() => ({
      ring: new Ring(Math.ceil(sampleRate * 2)), gain: 1, playing: false, dryAt: -1, sum: 0, n: 0,
      target: JITTER * sampleRate, floor: JITTER * sampleRate, lastGap: 0,
    }));
    this.underruns = 0;
    this.frames = 0;
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.type === "audio") this.audio(this.sides[m.track], m.samples);
      else if (m.type === "gain") this.sides[m.track].gain = m.value;
      else if (m.type === "clear") for (const s of this.sides) { s.ring.clear(); s.playing = false; s.dryAt = -1; }
    };
  }
  audio(side, samples) {
    if (!side) return;
    // Chunks longer than CHUNK come in bursts faster than real time: they fill the
    // ring anyway and do not raise the floor.
    const floor = Math.min(samples.length, CHUNK * sampleRate) + 0.02 * sampleRate;
    if (floor > side.floor) {
      side.floor = floor;
      side.target = Math.max(side.target, floor);
    }
    if (side.dryAt >= 0 && currentFrame - side.dryAt < GAP * sampleRate) {
      this.underruns++;
      side.target = Math.min(MAX_JITTER * sampleRate, side.target * 1.5);
      side.lastGap = currentFrame;
    } else if (currentFrame - side.lastGap > CALM * sampleRate && side.target > side.floor) {
      side.target = Math.max(side.floor, side.target - 0.01 * sampleRate);
      side.lastGap = currentFrame;
    }
    side.dryAt = -1;
    side.ring.push(samples);
    const max = Math.max(MAX_DELAY * sampleRate, 2 * side.target);
    if (side.ring.count > max) side.ring.drop(side.ring.count - side.target);
    if (!side.playing && side.ring.count >= side.target) side.playing = true;
  }
  process(_inputs, outputs) {
    const out = outputs[0][0];
    out.fill(0);
    for (const side of this.sides) {
      if (!side.playing) continue;
      for (let i = 0; i < out.length; i++) {
        if (side.ring.count === 0) {
          side.playing = false;
          side.dryAt = currentFrame + i;
          break;
        }
        const v = side.ring.shift() * side.gain;
        out[i] += v;
        side.sum += v * v;
      }
    }
    for (const side of this.sides) side.n += out.length;
    for (const channel of outputs[0].slice(1)) channel.set(out);
    this.frames += out.length;
    if (this.frames >= sampleRate / 10) {
      this.port.postMessage({
        levels: this.sides.map((s) => (s.n ? Math.sqrt(s.sum / s.n) : 0)),
        buffered: this.sides.map((s) => Math.round((1000 * s.ring.count) / sampleRate)),
        target: this.sides.map((s) => Math.round((1000 * s.target) / sampleRate)),
        underruns: this.underruns,
      });
      for (const s of this.sides) { s.sum = 0; s.n = 0; }
      this.frames = 0;
    }
    return true;
  }
}

class Mic extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const rate = (options.processorOptions && options.processorOptions.rate) || sampleRate;
    this.step = Math.max(1, Math.round(sampleRate / rate));
    this.chunk = new Int16Array(Math.round(rate / 50));
    this.filled = 0;
    this.acc = 0;
    this.accN = 0;
    this.sum = 0;
  }
  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    for (let i = 0; i < input.length; i++) {
      // A whole-number rate divider: the mean of each group of `step` samples.
      this.acc += input[i];
      if (++this.accN < this.step) continue;
      const v = Math.max(-1, Math.min(1, this.acc / this.step));
      this.acc = 0;
      this.accN = 0;
      this.sum += v * v;
      this.chunk[this.filled++] = v < 0 ? v * 0x8000 : v * 0x7fff;
      if (this.filled === this.chunk.length) {
        const pcm = this.chunk;
        const n = pcm.length;
        // Transferred, not copied: `pcm` is empty here afterwards.
        this.port.postMessage({ pcm, rms: Math.sqrt(this.sum / n) }, [pcm.buffer]);
        this.chunk = new Int16Array(n);
        this.filled = 0;
        this.sum = 0;
      }
    }
    return true;
  }
}

registerProcessor("agent5-player", Player);
registerProcessor("agent5-mic", Mic);
