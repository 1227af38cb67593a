// `make bench-console` (a benchmark, not a test; prints figures):
//  1. the bytes the browser loads, compressed as served (brotli), against the 150 KB budget;
//  2. the first load on loopback: the sign-in page, then a signed-in Overview, cold cache;
//  3. the Monitor with CALLS (200) live calls: every row shown, the page's CPU over
//     30 s of SSE updates (Chromium's TaskDuration), events received;
//  4. listening for LISTEN_SECS (60) to one call alone, then to one of the CALLS:
//     buffer underruns (gaps), the playback buffer's level, the jitter target reached.
// Against agent5-demo --control (simulated carrier and agent) with the release builds
// unless AGENT5_BIN / AGENT5_DEMO_BIN say otherwise.

import { readdirSync, statSync } from "node:fs";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { startDemo, openBrowser, signIn } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const CALLS = Number(process.env.CALLS || 200);
const LISTEN_SECS = Number(process.env.LISTEN_SECS || 60);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The files the appliance embeds (proxy/build.rs's rule). */
function consoleFiles(dir = join(here, "..")) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const rel = relative(join(here, ".."), path);
    if (rel === "tests" || name.startsWith(".") || name.endsWith(".md") || name.endsWith(".LICENSE") || name.startsWith("package")) continue;
    if (statSync(path).isDirectory()) out.push(...consoleFiles(path));
    else out.push(rel);
  }
  return out;
}

async function sizes(base) {
  let raw = 0;
  let br = 0;
  const rows = [];
  for (const file of consoleFiles()) {
    const path = file === "index.html" ? "/" : `/${file}`;
    const plain = (await (await fetch(base + path, { headers: { "accept-encoding": "identity" } })).arrayBuffer()).byteLength;
    const res = await fetch(base + path, { headers: { "accept-encoding": "br" } });
    // fetch decodes; the header says what travelled.
    const sent = Number(res.headers.get("content-length"));
    await res.arrayBuffer();
    raw += plain;
    br += sent;
    rows.push(`${file} ${plain} -> ${sent}`);
  }
  console.log(`assets: ${rows.join(", ")}`);
  console.log(`assets total: ${raw} bytes raw, ${br} bytes brotli (budget 153600)`);
}

async function firstLoad(demo) {
  const signInMs = [];
  const overviewMs = [];
  for (let i = 0; i < 5; i++) {
    const { browser, page } = await openBrowser(demo.base);
    try {
      let t = Date.now();
      await page.goto(demo.base + "/");
      await page.getByRole("button", { name: "Sign in" }).waitFor();
      signInMs.push(Date.now() - t);
      await signIn(page, demo.base, demo.email, demo.password);
      await page.getByText("Readiness:").waitFor();
      // A signed-in first visit in a fresh context: everything fetched again.
      const second = await browser.newContext();
      await second.addCookies(await page.context().cookies());
      const p2 = await second.newPage();
      t = Date.now();
      await p2.goto(demo.base + "/#/overview");
      await p2.locator(".tile").first().waitFor();
      await p2.getByText("Readiness:").waitFor();
      overviewMs.push(Date.now() - t);
    } finally {
      await browser.close();
    }
  }
  console.log(`first load (cold cache, median of 5): sign-in page ${median(signInMs)} ms, signed-in Overview with its figures ${median(overviewMs)} ms`);
}

/** Listens to call `id` for LISTEN_SECS: the gaps and the playback buffer. */
async function listen(page, id, what) {
  await page.goto(`${demo.base}/#/monitor/${id}`);
  await page.getByRole("button", { name: "Listen" }).click();
  const gaps = page.locator("[data-underruns]");
  await gaps.waitFor();
  const buffers = [];
  let target = "";
  const end = Date.now() + LISTEN_SECS * 1000;
  while (Date.now() < end) {
    await page.waitForTimeout(500);
    const text = await gaps.textContent();
    const m = /Buffer (\d+) ms/.exec(text);
    if (m) buffers.push(Number(m[1]));
    target = (/target (\d+) ms/.exec(text) || [])[1] || target;
  }
  const underruns = await gaps.getAttribute("data-underruns");
  console.log(`listen-in: ${LISTEN_SECS} s of ${what}: ${underruns} underruns (audible gaps), playback buffer median ${median(buffers)} ms, max ${Math.max(...buffers)} ms, jitter target at the end ${target} ms`);
}

/** One simulated call alone: listen-in at the jitter of an idle appliance. */
async function listenAlone(demo) {
  demo.send({ cmd: "call" });
  const call = await demo.next((e) => e.event === "call");
  const { browser, page } = await openBrowser(demo.base);
  try {
    await signIn(page, demo.base, demo.email, demo.password);
    await page.getByText("Readiness:").waitFor();
    await listen(page, call.id, "one call alone");
  } finally {
    await browser.close();
  }
  demo.send({ cmd: "end", id: call.id });
  await demo.next((e) => e.event === "ended" && e.id === call.id);
}

async function monitor(demo) {
  for (let i = 0; i < CALLS; i++) demo.send({ cmd: "call" });
  const calls = [];
  for (let i = 0; i < CALLS; i++) calls.push(await demo.next((e) => e.event === "call", 120000));
  const { browser, page } = await openBrowser(demo.base);
  try {
    await signIn(page, demo.base, demo.email, demo.password);
    await page.getByText("Readiness:").waitFor();
    await page.goto(`${demo.base}/#/monitor`);
    await page.getByText(`${CALLS} live calls`).waitFor({ timeout: 60000 });
    const rows = await page.locator("main table tbody tr").count();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    const metric = async () => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));
    await page.evaluate(() => {
      window.__events = 0;
      const es = new EventSource("/api/calls/live/events");
      for (const k of ["snapshot", "levels", "call.started", "call.updated", "call.ended"]) es.addEventListener(k, () => window.__events++);
      window.__es = es;
    });
    const before = await metric();
    const t0 = Date.now();
    await page.waitForTimeout(30000);
    const after = await metric();
    const secs = (Date.now() - t0) / 1000;
    const events = await page.evaluate(() => { window.__es.close(); return window.__events; });
    const cpu = (k) => ((100 * (after[k] - before[k])) / secs).toFixed(1);
    console.log(`monitor: ${CALLS} live calls, ${rows} rows shown; over ${secs.toFixed(0)} s the page's main thread was busy ${cpu("TaskDuration")}% (script ${cpu("ScriptDuration")}%, layout ${cpu("LayoutDuration")}%, style ${cpu("RecalcStyleDuration")}%), ${events} SSE events received (${(events / secs).toFixed(1)}/s), JS heap ${(after.JSHeapUsedSize / 1048576).toFixed(1)} MB`);

    await listen(page, calls[0].id, `one call among ${CALLS}`);
  } finally {
    await browser.close();
  }
  for (const c of calls) demo.send({ cmd: "end", id: c.id });
}

const demo = await startDemo();
try {
  await sizes(demo.base);
  await firstLoad(demo);
  await listenAlone(demo);
  await monitor(demo);
} finally {
  demo.stop();
}
