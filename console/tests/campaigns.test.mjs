// The Campaigns page against the appliance with a simulated carrier and agent
// (agent5-demo --control), whose dialler really dials: a supervisor drafts a campaign
// with its window, pacing and retries, previews it, starts it, and watches its live
// figures move as the dialler's calls are placed, answered and ended; the attempts
// table links each attempt to its call; stopping it stops the dialling.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo, openBrowser, accessibility, screenshot, signIn } from "./harness.mjs";

let demo;
before(async () => { demo = await startDemo(); });
after(() => { if (demo) demo.stop(); });

async function clean(t, page, problems, name) {
  await screenshot(page, name);
  assert.deepEqual(await accessibility(page), [], `${name}: accessibility`);
  assert.deepEqual(problems, [], `${name}: console errors or foreign requests`);
}

/** A figure of the live panel, as a number. */
const figure = (page, name) => page.locator(`[data-figure="${name}"]`).textContent().then(Number);

async function figureAbove(page, name, above, ms = 20000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await figure(page, name).catch(() => NaN);
    if (last > above) return last;
    await page.waitForTimeout(200);
  }
  assert.fail(`${name} never rose above ${above} (last ${last})`);
}

test("a campaign is drafted, previewed and started, and its live figures move as the dialler calls", async (t) => {
  const { browser, page, problems } = await openBrowser(demo.base);
  page.on("dialog", (d) => d.accept());
  try {
    await signIn(page, demo.base, demo.email, demo.password);
    await page.getByRole("link", { name: "Campaigns" }).click();
    await page.getByRole("button", { name: "New campaign" }).click();
    const form = page.getByRole("form", { name: "Campaign" });
    await form.getByLabel("Name", { exact: true }).fill("Demo outreach");
    // Open whatever the time of day the test runs at: all day, every day, with the
    // documented override of the 08:00-21:00 rule.
    await form.getByLabel("From (HH:MM)").fill("00:00");
    await form.getByLabel("To (HH:MM)").fill("24:00");
    await form.getByLabel("sat").check();
    await form.getByLabel("sun").check();
    await form.getByLabel(/Allow windows outside/).check();
    await form.getByLabel("Calls at once").fill("3");
    await form.getByLabel("New calls per second").fill("5");
    await form.getByLabel("Retry busy").uncheck();
    await form.getByRole("button", { name: "Save draft" }).click();
    await page.getByRole("status").getByText("Saved Demo outreach (draft).").waitFor();
    const row = page.getByRole("table", { name: "Campaigns" }).getByRole("row").filter({ hasText: "Demo outreach" });

    await row.getByRole("button", { name: "Preview" }).click();
    await page.getByRole("region", { name: "Preview" }).getByText(/40 contacts would be called/).waitFor({ timeout: 10000 });

    await row.getByRole("button", { name: "Start", exact: true }).click();
    await page.getByRole("status").getByText("Demo outreach: running.").waitFor();
    await row.getByRole("button", { name: "Figures" }).click();
    const panel = page.getByRole("region", { name: "Campaign figures" });
    await panel.getByText("(live)").waitFor({ timeout: 10000 });
    assert.equal(await figureAbove(page, "contacts", 39), 40);
    // The dialler places calls; the demo's phones answer and hang up a few seconds
    // later: dialled, then answered, move without reloading the page.
    await figureAbove(page, "dialed", 0);
    await figureAbove(page, "answered", 0, 30000);
    await panel.getByText(/Dispositions: .*completed \d+/).waitFor({ timeout: 10000 });
    const attempts = panel.getByRole("table", { name: "Attempts" });
    const callLink = attempts.getByRole("link", { name: "call" }).first();
    await callLink.waitFor();
    await clean(t, page, problems, "campaign-figures");

    // At most three calls at once, as set.
    const live = await (await page.request.get(`${demo.base}/api/calls/live`)).json();
    assert.ok(live.items.length <= 3, `${live.items.length} live calls`);

    await row.getByRole("button", { name: "Stop", exact: true }).click();
    await page.getByRole("status").getByText("Demo outreach: stopped.").waitFor();
    const dialed = await figure(page, "dialed");
    await callLink.click();
    await page.getByRole("heading", { name: /Call/ }).first().waitFor();
    assert.ok(dialed > 0);
  } finally {
    await browser.close();
  }
});
