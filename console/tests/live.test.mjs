// The live pages against the appliance with a simulated carrier and agent
// (agent5-demo --control): the Monitor lists a call as it starts and drops it as it
// ends, Listen plays the caller's tone, Take over sends the microphone (a WAV of
// 440 Hz bursts) to the phone and Hand back returns the call to the agent, a second
// supervisor sees who holds it, and Agent Studio answers the microphone with a
// measured latency.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  startDemo, openBrowser, secondPage, accessibility, screenshot, signIn, toneWav, PASSWORD,
} from "./harness.mjs";

let demo;
let dir;
let wav;
before(async () => {
  demo = await startDemo();
  dir = mkdtempSync(join(tmpdir(), "agent5-live-"));
  // 1.2 s of 440 Hz, then 0.8 s of silence: the agent's voice detector hears turns.
  wav = toneWav(join(dir, "mic-440.wav"), 440, 1.2, 0.8);
});
after(() => { if (demo) demo.stop(); if (dir) rmSync(dir, { recursive: true, force: true }); });

async function clean(page, problems, name) {
  await screenshot(page, name);
  assert.deepEqual(await accessibility(page), [], `${name}: accessibility`);
  assert.deepEqual(problems, [], `${name}: console errors or foreign requests`);
}

/** Polls what the phone heard until `ok` holds (each answer covers its last second). */
async function heardUntil(id, ok, ms = 15000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await demo.heard(id);
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`the phone never heard what was expected; last: ${JSON.stringify(last)}`);
}

/** Signs in as the demo's admin, places a call and opens its Monitor panel. */
async function signedInOnACall(page) {
  await signIn(page, demo.base, demo.email, demo.password);
  demo.send({ cmd: "call" });
  const call = await demo.next((e) => e.event === "call");
  await page.goto(`${demo.base}/#/monitor/${call.id}`);
  return call;
}

/** A `<meter>`'s value, by its accessible name. */
const meter = (page, name) => page.getByRole("meter", { name }).first().evaluate((m) => Number(m.value));

async function waitMeter(page, name, above, ms = 15000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if ((await meter(page, name)) > above) return;
    await page.waitForTimeout(100);
  }
  assert.fail(`${name} never rose above ${above}`);
}

test("the Monitor lists a call within a second, plays the caller when listening, and drops it at its end", async () => {
  const { browser, page, problems } = await openBrowser(demo.base);
  try {
    await signIn(page, demo.base, demo.email, demo.password);
    await page.getByRole("link", { name: "Monitor" }).click();
    await page.getByText("0 live calls").waitFor();
    demo.send({ cmd: "call" });
    const call = await demo.next((e) => e.event === "call");
    const row = page.getByRole("row").filter({ hasText: call.phone });
    await row.waitFor({ timeout: 1000 });
    await row.getByRole("link", { name: "Open" }).click();
    await page.getByRole("button", { name: "Listen" }).click();
    // The phone speaks a 660 Hz tone 1.4 s out of every 5: the caller's side plays.
    await waitMeter(page, "Caller playback level", 0.1);
    await page.locator(".transcript li.caller").first().waitFor({ timeout: 15000 });
    await clean(page, problems, "monitor-listening");
    demo.send({ cmd: "end", id: call.id });
    await demo.next((e) => e.event === "ended" && e.id === call.id);
    await row.waitFor({ state: "detached", timeout: 2000 });
    await page.getByText("This call is not live").waitFor();
  } finally {
    await browser.close();
  }
});

test("Take over sends the microphone to the caller, a second supervisor sees who holds the call, Hand back returns it", async () => {
  const { browser, page, problems } = await openBrowser(demo.base, { audioFile: wav });
  try {
    const call = await signedInOnACall(page);
    await page.getByRole("button", { name: "Take over" }).waitFor();
    // Before: the agent speaks at 880 Hz, nobody at 440 Hz.
    const before = await demo.heard(call.id);
    assert.ok(before.hz440 < 0.02, JSON.stringify(before));

    await page.getByRole("button", { name: "Take over" }).click();
    await page.getByRole("button", { name: "Hand back" }).waitFor();
    const during = await heardUntil(call.id, (h) => h.hz440 > 0.05);
    assert.ok(during.hz440 > 0.05, JSON.stringify(during));
    await waitMeter(page, "Microphone level", 0.05);
    await page.getByText("controlled by admin@localhost").waitFor();
    await clean(page, problems, "monitor-takeover");

    // A second supervisor: sees who has the call, and cannot take it.
    const other = await secondPage(browser, demo.base);
    await signIn(other.page, demo.base, demo.email, demo.password);
    await other.page.goto(`${demo.base}/#/monitor/${call.id}`);
    await other.page.getByText("an operator has this call").waitFor();
    assert.equal(await other.page.getByRole("button", { name: "Take over" }).isDisabled(), true);

    await page.getByRole("button", { name: "Hand back" }).click();
    await page.getByRole("button", { name: "Take over" }).waitFor();
    await page.getByText("controlled by agent").waitFor();
    await heardUntil(call.id, (h) => h.hz440 < 0.02 && h.hz880 > 0.05);

    // Hang up, confirmed: the carrier is told, the phone's line closes.
    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: "Hang up" }).click();
    const ended = await demo.next((e) => e.event === "ended" && e.id === call.id);
    assert.equal(ended.by, "appliance");
  } finally {
    await browser.close();
  }
});

test("Whisper speaks to the agent only, while the button is held", async () => {
  const { browser, page, problems } = await openBrowser(demo.base, { audioFile: wav });
  try {
    const call = await signedInOnACall(page);
    await page.getByRole("button", { name: "Whisper", exact: true }).click();
    const hold = page.getByRole("button", { name: "Hold to whisper" });
    await hold.waitFor();
    await clean(page, problems, "monitor-whisper");
    // Held for about two seconds: the microphone goes to the agent, never to the phone.
    await hold.hover();
    await page.mouse.down();
    await page.getByRole("button", { name: "Speaking to the agent…" }).waitFor();
    const during = await heardUntil(call.id, (h) => h.hz880 > 0.05 || h.hz440 > 0.02);
    assert.ok(during.hz440 < 0.02, `the phone heard the whisper: ${JSON.stringify(during)}`);
    await page.waitForTimeout(2000);
    await page.mouse.up();
    const whisper = await demo.next((e) => e.event === "whisper");
    assert.ok(whisper.seconds > 1, JSON.stringify(whisper));
    assert.ok(whisper.hz440 > 0.05, JSON.stringify(whisper));
    assert.ok((await demo.heard(call.id)).hz440 < 0.02);
    await page.getByRole("button", { name: "Stop whispering" }).click();
    await page.getByRole("button", { name: "Whisper", exact: true }).waitFor();
    demo.send({ cmd: "end", id: call.id });
    await demo.next((e) => e.event === "ended" && e.id === call.id);
  } finally {
    await browser.close();
  }
});

test("Agent Studio: the microphone to the agent and back, with the latency of each turn", async () => {
  const { browser, page, problems } = await openBrowser(demo.base, { audioFile: wav });
  try {
    await signIn(page, demo.base, demo.email, demo.password);
    await page.getByRole("link", { name: "Agent Studio" }).click();
    await page.getByRole("button", { name: "Start talking" }).click();
    await page.getByRole("button", { name: "End session" }).waitFor();
    await page.getByText(/Voice-to-voice latency: last \d+ ms/).waitFor({ timeout: 20000 });
    await page.locator(".transcript li.agent").first().waitFor();
    await waitMeter(page, "Agent playback level", 0.05);
    await clean(page, problems, "studio");
    await page.getByRole("button", { name: "End session" }).click();
    await page.getByRole("button", { name: "Start talking" }).waitFor();
  } finally {
    await browser.close();
  }
});

test("a finished call shows its transcript turn by turn; its recording plays and seeks; the overview shows the latency measured", async () => {
  const { browser, page, problems } = await openBrowser(demo.base);
  try {
    await signIn(page, demo.base, demo.email, demo.password);
    demo.send({ cmd: "call" });
    const call = await demo.next((e) => e.event === "call");
    // Talk until the caller has spoken and the agent has answered that turn.
    const deadline = Date.now() + 20000;
    for (;;) {
      const c = await (await page.request.get(`${demo.base}/api/calls/${call.id}`)).json();
      const roles = (c.transcript || []).map((t) => t.role);
      if (roles.indexOf("agent", roles.indexOf("caller")) > 0) break;
      assert.ok(Date.now() < deadline, `no answered caller turn: ${JSON.stringify(c.transcript)}`);
      await page.waitForTimeout(250);
    }
    const ranges = [];
    page.on("response", (r) => { if (r.url().includes("/recording")) ranges.push(r.status()); });
    demo.send({ cmd: "end", id: call.id });
    await demo.next((e) => e.event === "ended" && e.id === call.id);

    await page.goto(`${demo.base}/#/calls/${call.id}`);
    await page.getByText("Status: ended").waitFor();
    const transcript = page.getByRole("table", { name: "Transcript" });
    await transcript.getByRole("cell", { name: "caller", exact: true }).first().waitFor();
    await transcript.getByRole("cell", { name: "agent", exact: true }).first().waitFor();
    await transcript.getByText("Hello, who is calling?").waitFor();
    const audio = page.getByLabel("Recording");
    const duration = await audio.evaluate((a) => new Promise((resolve, reject) => {
      const done = () => resolve(a.duration);
      if (a.readyState >= 1) done(); else { a.onloadedmetadata = done; a.onerror = () => reject(new Error("recording did not load")); }
    }));
    assert.ok(duration > 3, `recording lasts ${duration} s`);
    const playedTo = await audio.evaluate(async (a) => {
      a.muted = true;
      await a.play();
      await new Promise((r) => { a.ontimeupdate = () => { if (a.currentTime > 0.3) r(); }; });
      a.currentTime = a.duration - 1;
      await new Promise((r) => { a.onseeked = r; });
      a.pause();
      return a.currentTime;
    });
    assert.ok(playedTo > duration - 1.5, `seeked to ${playedTo}`);
    // The player asked for ranges and got partial content.
    assert.ok(ranges.includes(206), `recording responses: ${ranges}`);
    await clean(page, problems, "call-finished");

    // The calls list filtered by direction.
    const nav = page.getByRole("navigation", { name: "Pages" });
    await nav.getByRole("link", { name: "Calls", exact: true }).click();
    await page.getByRole("table", { name: "Calls" }).waitFor();
    await Promise.all([
      page.waitForResponse((r) => r.url().includes("/api/calls?") && r.url().includes("direction=outbound")),
      page.getByLabel("Direction").selectOption("outbound"),
    ]);
    // The answer rendered: the Studio session of the test before is gone from the list.
    await page.getByRole("table", { name: "Calls" }).getByRole("cell", { name: "studio", exact: true }).waitFor({ state: "detached" });
    const directions = await page.locator('table[aria-label="Calls"] tbody tr td:nth-child(3)').allTextContents();
    assert.ok(directions.length > 0 && directions.every((d) => d === "outbound"), JSON.stringify(directions));

    // A tablet: the page never scrolls sideways (wide tables scroll inside the page).
    await page.setViewportSize({ width: 820, height: 1180 });
    await nav.getByRole("link", { name: "Monitor" }).click();
    await page.getByRole("heading", { name: "Monitor" }).waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), "no sideways scroll on a tablet");
    await screenshot(page, "monitor-tablet");

    await nav.getByRole("link", { name: "Overview" }).click();
    const p50 = page.locator(".tile").filter({ hasText: "Voice-to-voice p50" });
    await p50.waitFor();
    assert.match(await p50.textContent(), /p50\d+ ms/);
    await page.getByText(/over \d+ turns since the appliance started/).waitFor();
    await clean(page, problems, "overview-after-calls");
  } finally {
    await browser.close();
  }
});
