// Starts the real agent5 binary on an ephemeral port and a headless Debian Chromium
// driven by playwright-core; collects console errors and every request the page makes
// (none may leave the appliance's origin). Screenshots go to $ARTIFACTS (default
// target/console-screenshots).

import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const ENV_TOKEN = "console-env-token-aaaaaaaa";
export const PASSWORD = "correct horse battery";

/** The agent5 binary under test: $AGENT5_BIN, else the debug build. */
function binary() {
  if (process.env.AGENT5_BIN) return process.env.AGENT5_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(here, "..", "..", "target");
  return join(target, "debug", "agent5");
}

/** Starts agent5; resolves once it logged "agent5 ready" with its address. */
export async function startAppliance() {
  const dir = mkdtempSync(join(tmpdir(), "agent5-console-"));
  writeFileSync(join(dir, "agent5.toml"), [
    "[server]", 'listen = ["127.0.0.1:0"]',
    "[metrics]", 'listen = ""',
    "[auth]", `tokens = ["${ENV_TOKEN}"]`,
  ].join("\n") + "\n");
  const child = spawn(binary(), ["serve", "--config", join(dir, "agent5.toml"), "--data-dir", join(dir, "data")], {
    env: { ...process.env, AUTH_TOKEN: "", MONGO_URI: "" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const log = [];
  const base = await new Promise((resolve, reject) => {
    let addr = null;
    const timer = setTimeout(() => reject(new Error("agent5 did not start:\n" + log.join("\n"))), 30000);
    createInterface({ input: child.stdout }).on("line", (line) => {
      log.push(line);
      let v;
      try { v = JSON.parse(line); } catch { return; }
      if (v.message === "listening" && v.role === "http") addr = v.addr;
      if (v.message === "agent5 ready") { clearTimeout(timer); resolve(`http://${addr}`); }
    });
    child.on("exit", (code) => reject(new Error(`agent5 exited (${code}):\n` + log.join("\n"))));
  });
  const stop = () => { child.kill("SIGTERM"); rmSync(dir, { recursive: true, force: true }); };
  return { base, stop, log };
}

/** Calls the API with the shared token (setting up people for a test). */
export async function asAdmin(base, method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${ENV_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export async function addUser(base, email, role) {
  return asAdmin(base, "POST", "/api/users", { email, role, password: PASSWORD });
}

/** The demo rig (`agent5-demo --control`): the appliance with a simulated carrier and
 * agent; `send` a command, `next` the first event matching a predicate. */
export async function startDemo() {
  const target = process.env.CARGO_TARGET_DIR || join(here, "..", "..", "target");
  const demo = process.env.AGENT5_DEMO_BIN || join(target, "debug", "agent5-demo");
  const child = spawn(demo, ["--bin", binary(), "--control", "--listen", "127.0.0.1:0"], {
    env: { ...process.env, AUTH_TOKEN: "", MONGO_URI: "" },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const events = [];
  const waiters = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    let v;
    try { v = JSON.parse(line); } catch { return; }
    events.push(v);
    for (const w of [...waiters]) if (w.pred(v)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(v); }
  });
  const exited = new Promise((_, reject) => child.on("exit", (code) => reject(new Error(`agent5-demo exited (${code})`))));
  exited.catch(() => {});
  /** The first event (from now on, or already seen and not yet taken) matching `pred`. */
  const next = (pred, ms = 30000) => {
    const i = events.findIndex(pred);
    if (i >= 0) return Promise.resolve(events.splice(i, 1)[0]);
    return Promise.race([exited, new Promise((resolve, reject) => {
      const w = { pred, resolve: (v) => { clearTimeout(timer); events.splice(events.indexOf(v), 1); resolve(v); } };
      const timer = setTimeout(() => { waiters.splice(waiters.indexOf(w), 1); reject(new Error("agent5-demo: no matching event")); }, ms);
      waiters.push(w);
    })]);
  };
  const send = (cmd) => child.stdin.write(JSON.stringify(cmd) + "\n");
  const ready = await next((e) => e.event === "ready", 60000);
  /** What the phone of call `id` heard in its last second. */
  const heard = async (id) => { send({ cmd: "heard", id }); return next((e) => e.event === "heard" && e.id === id); };
  return { base: ready.url, email: ready.email, password: ready.password, send, next, heard, stop: () => child.kill("SIGINT") };
}

/** A mono 16-bit WAV at 48 kHz: `hz` for `onSecs`, then silence for `offSecs` (Chromium loops it). */
export function toneWav(path, hz, onSecs, offSecs, amplitude = 0.5) {
  const rate = 48000;
  const n = Math.round((onSecs + offSecs) * rate);
  const buf = Buffer.alloc(44 + 2 * n);
  buf.write("RIFF", 0); buf.writeUInt32LE(36 + 2 * n, 4); buf.write("WAVE", 8);
  buf.write("fmt ", 12); buf.writeUInt32LE(16, 16); buf.writeUInt16LE(1, 20); buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24); buf.writeUInt32LE(2 * rate, 28); buf.writeUInt16LE(2, 32); buf.writeUInt16LE(16, 34);
  buf.write("data", 36); buf.writeUInt32LE(2 * n, 40);
  for (let i = 0; i < n; i++) {
    const v = i < onSecs * rate ? Math.sin((2 * Math.PI * hz * i) / rate) * amplitude : 0;
    buf.writeInt16LE(Math.round(v * 32767), 44 + 2 * i);
  }
  writeFileSync(path, buf);
  return path;
}

/** A browser page on the appliance that records console errors and foreign requests;
 * `audioFile`: a WAV the fake microphone plays in a loop. */
export async function openBrowser(base, { audioFile } = {}) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // No background connections (the machine's network is closed to the world), and a
    // fake microphone for the pages that use one.
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
      "--autoplay-policy=no-user-gesture-required",
      ...(audioFile ? [`--use-file-for-fake-audio-capture=${audioFile}`] : []),
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  return { browser, page, problems: watch(page, base) };
}

/** Another page (a second person) in the same browser. */
export async function secondPage(browser, base) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  return { page, problems: watch(page, base) };
}

function watch(page, base) {
  const problems = [];
  // Chromium logs every non-2xx fetch as a console error; the API's refusals are part
  // of the tests, so those are judged by the responses below instead.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  page.on("response", (r) => {
    const api = new URL(r.url()).pathname.startsWith("/api/");
    if (r.status() >= 500 || (!api && r.status() >= 400)) problems.push(`${r.status()} ${r.url()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    const local = r.url().startsWith(base) || r.url().startsWith("data:") || r.url().startsWith(`blob:${base}`);
    if (!local) problems.push(`left the origin: ${r.url()}`);
  });
  page.on("websocket", (ws) => {
    if (!ws.url().startsWith(base.replace(/^http/, "ws") + "/")) problems.push(`WebSocket left the origin: ${ws.url()}`);
  });
  return problems;
}

/** axe-core injected into the page: serious and critical violations. */
export async function accessibility(page) {
  const source = readFileSync(join(here, "node_modules", "axe-core", "axe.min.js"), "utf8");
  await page.evaluate(source);
  const result = await page.evaluate(async () => await window.axe.run(document));
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}

export async function screenshot(page, name) {
  const dir = process.env.ARTIFACTS || join(here, "..", "..", "target", "console-screenshots");
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

export async function signIn(page, base, email, password = PASSWORD) {
  await page.goto(base + "/");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}
