// The console in a real browser against the real appliance: signing in (and the
// wrong-password answer), the pages a role may see, tokens shown once, the audit log,
// signing out and a lost session; every page without console errors, without a request
// leaving the appliance, and without serious accessibility violations.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import {
  startAppliance, addUser, openBrowser, accessibility, screenshot, signIn, asAdmin, PASSWORD,
} from "./harness.mjs";

const fixture = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "api", "tests", "fixtures", "csv", "bad_phones.csv");

let app;
before(async () => { app = await startAppliance(); });
after(() => app && app.stop());

async function clean(t, page, problems, name) {
  await screenshot(page, name);
  assert.deepEqual(await accessibility(page), [], `${name}: accessibility`);
  assert.deepEqual(problems, [], `${name}: console errors or foreign requests`);
}

test("a wrong password is refused in words, the right one opens the console", async (t) => {
  await addUser(app.base, "ann@example.be", "admin");
  const { browser, page, problems } = await openBrowser(app.base);
  try {
    await signIn(page, app.base, "ann@example.be", "not the password at all");
    await page.getByRole("alert").waitFor();
    assert.match(await page.getByRole("alert").textContent(), /email or the password is wrong/);
    await clean(t, page, problems.filter((p) => !p.includes("401")), "login-refused");
    problems.length = 0;

    await signIn(page, app.base, "ann@example.be");
    await page.getByRole("navigation", { name: "Pages" }).waitFor();
    const nav = await page.getByRole("navigation", { name: "Pages" }).getByRole("link").allTextContents();
    assert.deepEqual(nav, ["Overview", "Monitor", "Prospects", "Prospect fields", "Do not call", "Calls", "Campaigns", "Agents", "Agent Studio", "Audit log", "Users & roles", "API tokens"]);
    await page.getByText("Readiness:").waitFor();
    // A fresh appliance: nothing live, no calls today, figures never invented.
    for (const label of ["Live calls now", "Calls today", "Opt-outs today"]) await page.getByText(label).waitFor();
    const tiles = await page.locator(".tile").allTextContents();
    assert.deepEqual(tiles, [
      "Live calls now0", "Calls today0", "Answer rate—", "Average duration—", "Opt-outs today0",
      "Voice-to-voice p50—", "Voice-to-voice p95—",
    ]);
    await clean(t, page, problems, "overview");
  } finally {
    await browser.close();
  }
});

test("a viewer sees only what a viewer may use", async (t) => {
  await addUser(app.base, "vic@example.be", "viewer");
  const { browser, page, problems } = await openBrowser(app.base);
  try {
    await signIn(page, app.base, "vic@example.be");
    await page.getByRole("navigation", { name: "Pages" }).waitFor();
    const nav = await page.getByRole("navigation", { name: "Pages" }).getByRole("link").allTextContents();
    assert.deepEqual(nav, ["Overview", "Monitor", "Prospects", "Prospect fields", "Do not call", "Calls", "Campaigns", "Agents", "API tokens"]);
    // Asking for a page by its address shows the first allowed page instead.
    await page.goto(app.base + "/#/users");
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await clean(t, page, problems, "viewer");
  } finally {
    await browser.close();
  }
});

test("an admin adds a user, a token is shown once, the audit log names them", async (t) => {
  await addUser(app.base, "root@example.be", "admin");
  const { browser, page, problems } = await openBrowser(app.base);
  try {
    await signIn(page, app.base, "root@example.be");
    await page.getByRole("link", { name: "Users & roles" }).click();
    await page.locator("#user-email").fill("new@example.be");
    await page.locator("#user-display_name").fill("New Person");
    await page.locator("#user-password").fill("short");
    await page.getByRole("button", { name: "Add", exact: true }).click();
    assert.match(await page.getByRole("alert").textContent(), /at least 12 characters \(password\)/);
    await page.locator("#user-password").fill(PASSWORD);
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await page.getByRole("status").getByText("Added new@example.be.").waitFor();
    await page.getByRole("cell", { name: "new@example.be" }).waitFor();
    // A role made of two permissions, then deleted.
    await page.getByLabel("Role name (a-z, 0-9, - and _)").fill("auditor");
    await page.getByLabel("audit.view").check();
    await page.getByLabel("calls.view").check();
    await page.getByRole("button", { name: "Add role" }).click();
    await page.getByRole("status").getByText("Role auditor added.").waitFor();
    const auditor = page.getByRole("table", { name: "Roles" }).getByRole("row").filter({ hasText: "auditor (added)" });
    assert.match(await auditor.textContent(), /calls\.view, audit\.view|audit\.view, calls\.view/);
    await clean(t, page, problems, "users");
    page.once("dialog", (d) => d.accept());
    await auditor.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("status").getByText("Role auditor deleted.").waitFor();
    await auditor.waitFor({ state: "detached" });

    await page.getByRole("link", { name: "API tokens" }).click();
    // Within the tokens page: until it renders, the users page's "Name" fields match too.
    await page.getByRole("region", { name: "API tokens" }).getByLabel("Name").fill("laptop");
    await page.getByRole("button", { name: "Create" }).click();
    const secret = (await page.locator(".secret").textContent()).trim();
    assert.match(secret, /^a5_[A-Za-z0-9_-]{43}$/);
    await page.getByRole("cell", { name: "laptop" }).waitFor();
    const table = await page.locator("table").textContent();
    assert.ok(!table.includes(secret), "the list never shows the secret");
    await clean(t, page, problems, "tokens");

    await page.getByRole("link", { name: "Audit log" }).click();
    await page.getByRole("cell", { name: "token.create" }).waitFor();
    await page.getByLabel("Action").fill("user.create");
    await page.getByLabel("Action").press("Enter");
    // The filtered page has replaced the whole list once the token's row is gone.
    await page.getByRole("cell", { name: "token.create" }).waitFor({ state: "detached" });
    const rows = await page.locator("tbody tr").allTextContents();
    assert.ok(rows.every((r) => r.includes("user.create")), rows.join("\n"));
    await clean(t, page, problems, "audit");

    // Signing out returns to the sign-in form; the session is gone.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    const me = await page.evaluate(async () => (await fetch("/api/auth/me")).status);
    assert.equal(me, 401);
  } finally {
    await browser.close();
  }
});

test("an upload is checked, its failed rows downloaded, fixed and imported; an opt-out is stored", async (t) => {
  await addUser(app.base, "op@example.be", "operator");
  const { browser, page, problems } = await openBrowser(app.base);
  try {
    await signIn(page, app.base, "op@example.be");
    await page.getByRole("link", { name: "Prospects" }).click();
    await page.getByLabel("CSV file").setInputFiles(fixture);
    await page.getByRole("button", { name: "Check (dry run)" }).click();
    const failed = page.getByRole("table", { name: "Failed rows" });
    await failed.waitFor();
    const rows = await failed.locator("tbody tr td:first-child").allTextContents();
    assert.deepEqual(rows, ["3", "4", "5"], "spreadsheet row numbers");
    assert.match(await failed.textContent(), /INVALID_PHONE/);
    assert.match(await page.getByRole("status").textContent(), /Dry run: 4 rows read, 1 would be stored/);
    await clean(t, page, problems, "prospects-dry-run");

    const [file] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download failed rows" }).click(),
    ]);
    const csv = readFileSync(await file.path(), "utf8");
    const lines = csv.trim().split(/\r\n/);
    assert.equal(lines.length, 4, csv);
    assert.ok(lines[0].startsWith("invoice_contact_name,invoice_phone"), lines[0]);
    // Fixed: every phone made a real one, then the whole file imported.
    const fixedPhones = ["0475 11 22 33", "0475 11 22 44", "0475 11 22 55"];
    const fixed = [lines[0], ...lines.slice(1).map((l, i) => {
      const cells = l.split(",");
      cells[1] = fixedPhones[i];
      // BadDelivery's delivery gets a real number too.
      if (cells.length > 2) cells[2] = cells[2] ? "0475 11 22 66" : "";
      return cells.join(",");
    })].join("\r\n") + "\r\n";
    await page.getByLabel("CSV file").setInputFiles({ name: "fixed.csv", mimeType: "text/csv", buffer: Buffer.from(fixed) });
    await page.getByRole("button", { name: "Import" }).click();
    await page.getByRole("status").getByText(/Imported: 3 rows read, 3 stored/).waitFor();
    await page.getByRole("cell", { name: "Short", exact: true }).waitFor();
    // The order: by name, both ways (the table re-renders once the answer is in).
    const order = async (want) => {
      const rows = page.locator('table[aria-label="Prospects"] tbody tr td:first-child a');
      const deadline = Date.now() + 10000;
      let got;
      while ((got = (await rows.allTextContents()).join(",")) !== want) {
        assert.ok(Date.now() < deadline, `order ${got}, wanted ${want}`);
        await page.waitForTimeout(50);
      }
    };
    await page.getByLabel("Order").selectOption("name");
    await order("BadDelivery,Short,Words");
    await page.getByLabel("Order").selectOption("-name");
    await order("Words,Short,BadDelivery");

    // The search narrows the rows; the opt-out is stored in the DNC list.
    await page.getByLabel("Search").fill("Words");
    await page.getByLabel("Search").press("Enter");
    await page.getByRole("cell", { name: "Short", exact: true }).waitFor({ state: "detached" });
    const [patched] = await Promise.all([
      page.waitForResponse((r) => r.url().includes("/opt-out")),
      page.getByLabel("Words opted out").click(),
    ]);
    assert.equal(patched.status(), 200);
    await page.locator('input[aria-label="Words opted out"]:checked').waitFor();
    const dnc = await asAdmin(app.base, "GET", "/api/dnc");
    const phones = (dnc.items || []).map((d) => d.phone_e164);
    assert.ok(phones.includes("+32475112244"), JSON.stringify(dnc));
    await clean(t, page, problems, "prospects");

    // A prospect's page: a bad email is named on its field, a good one is saved.
    await page.getByRole("link", { name: "Words" }).click();
    await page.getByRole("heading", { name: "Words" }).waitFor();
    const invoice = page.getByRole("form", { name: "Invoice contact" });
    await invoice.getByLabel("Email").fill("not an email");
    await invoice.getByRole("button", { name: "Save" }).click();
    await page.locator('#inv-email[aria-invalid="true"]').waitFor();
    assert.match(await page.locator("#inv-error").textContent(), /email/i);
    await invoice.getByLabel("Email").fill("words@example.be");
    await invoice.getByRole("button", { name: "Save" }).click();
    await invoice.getByRole("status").getByText("Saved.").waitFor();
    assert.equal(await page.getByLabel("+32475112244 opted out").isChecked(), true);
    await clean(t, page, problems, "prospect");

    // A delivery of another prospect: its tags edited in place.
    await page.getByRole("link", { name: "All prospects" }).click();
    await page.getByRole("link", { name: "BadDelivery" }).click();
    await page.getByText("delivery_1:").click();
    const delivery = page.getByRole("form", { name: "Delivery delivery_1" });
    await delivery.getByLabel("Tags (comma separated)").fill("dock 3, morning");
    await delivery.getByRole("button", { name: "Save" }).click();
    await page.getByText("· dock 3, morning").waitFor();
    const id = new URL(page.url()).hash.split("/").pop();
    const stored = await asAdmin(app.base, "GET", `/api/prospects/${id}`);
    assert.deepEqual(stored.delivery_addresses[0].tags, ["dock 3", "morning"]);
    await clean(t, page, problems, "prospect-delivery");
  } finally {
    await browser.close();
  }
});

test("a supervisor manages agent profiles; calls list and a call's page answer in words", async (t) => {
  await addUser(app.base, "sup@example.be", "supervisor");
  const { browser, page, problems } = await openBrowser(app.base);
  try {
    await signIn(page, app.base, "sup@example.be");
    await page.getByRole("link", { name: "Agents" }).click();
    await page.getByRole("button", { name: "New profile" }).click();
    await page.getByLabel("Name").fill("Invoices NL");
    await page.getByLabel("Instructions").fill("Remind the customer of the open invoice, politely.");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("cell", { name: "Invoices NL" }).waitFor();
    await clean(t, page, problems, "agents");

    await page.getByRole("link", { name: "Calls" }).click();
    await page.getByRole("table", { name: "Calls" }).waitFor();
    await clean(t, page, problems, "calls");
    await page.goto(app.base + "/#/calls/nosuchcall");
    await page.getByRole("alert").waitFor();
    assert.match(await page.getByRole("alert").textContent(), /no such/i);
  } finally {
    await browser.close();
  }
});

test("numbers are added to, found in and removed from the do-not-call list", async (t) => {
  await addUser(app.base, "dnc@example.be", "operator");
  const { browser, page, problems } = await openBrowser(app.base);
  page.on("dialog", (d) => d.accept());
  try {
    await signIn(page, app.base, "dnc@example.be");
    await page.getByRole("link", { name: "Do not call" }).click();
    await page.getByLabel("Number (E.164, e.g. +32475123456)").fill("+32470998877");
    await page.getByLabel("Reason").fill("asked by phone");
    await page.getByRole("button", { name: "Add to the list" }).click();
    await page.getByRole("cell", { name: "+32470998877" }).waitFor();
    await page.getByLabel("Number (E.164, e.g. +32475123456)").fill("0470 99");
    await page.getByRole("button", { name: "Add to the list" }).click();
    assert.match(await page.getByRole("alert").textContent(), /e164/);
    await page.getByLabel("Search (start of the number)").fill("+3247099");
    await page.getByLabel("Search (start of the number)").press("Enter");
    await page.getByRole("cell", { name: "asked by phone" }).waitFor();
    await clean(t, page, problems, "dnc");
    await page.getByRole("button", { name: "Remove" }).click();
    await page.getByRole("cell", { name: "+32470998877" }).waitFor({ state: "detached" });
    const dnc = await asAdmin(app.base, "GET", "/api/dnc?q=%2B3247099");
    assert.deepEqual(dnc.items, []);
  } finally {
    await browser.close();
  }
});

test("a prospect field is defined with its key checked, then removed", async (t) => {
  await addUser(app.base, "fields@example.be", "operator");
  const { browser, page, problems } = await openBrowser(app.base);
  page.on("dialog", (d) => d.accept());
  try {
    await signIn(page, app.base, "fields@example.be");
    await page.getByRole("link", { name: "Prospect fields" }).click();
    await page.getByRole("button", { name: "New field" }).click();
    await page.getByLabel("Key (a-z, 0-9, _)").fill("Bad Key");
    await page.getByLabel("Label").fill("Account manager");
    await page.getByRole("button", { name: "Save" }).click();
    assert.match(await page.getByRole("alert").textContent(), /\(key\)/);
    await page.getByLabel("Key (a-z, 0-9, _)").fill("account_manager");
    await page.getByLabel("Type").selectOption("enum");
    await page.getByLabel("Options (comma-separated)").fill("Ann, Bob");
    // A default outside the options is refused, naming the field.
    await page.getByLabel(/^Default/).fill("Carl");
    await page.getByRole("button", { name: "Save" }).click();
    assert.match(await page.getByRole("alert").textContent(), /\(default\)/);
    await page.getByLabel(/^Default/).fill("Bob");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("cell", { name: "account_manager" }).waitFor();
    assert.match(await page.getByRole("table", { name: "Fields" }).textContent(), /enum \(Ann, Bob\)/);
    assert.equal(await page.getByRole("row").filter({ hasText: "account_manager" }).getByRole("cell", { name: "Bob", exact: true }).count(), 1);
    await clean(t, page, problems, "fields");
    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("cell", { name: "account_manager" }).waitFor({ state: "detached" });
  } finally {
    await browser.close();
  }
});

test("a supervisor drafts a campaign (a window before 08:00 refused on its field), previews it, starts, pauses and stops it", async (t) => {
  await addUser(app.base, "camp@example.be", "supervisor");
  const { browser, page, problems } = await openBrowser(app.base);
  page.on("dialog", (d) => d.accept());
  try {
    await signIn(page, app.base, "camp@example.be");
    await page.getByRole("link", { name: "Campaigns" }).click();
    await page.getByRole("button", { name: "New campaign" }).click();
    const form = page.getByRole("form", { name: "Campaign" });
    await form.getByLabel("Name", { exact: true }).fill("Winter invoices");
    await form.getByLabel("From (HH:MM)").fill("07:30");
    await form.getByRole("button", { name: "Save draft" }).click();
    await page.locator('#cmp-start[aria-invalid="true"]').waitFor();
    assert.match(await page.locator("#cmp-error").textContent(), /08:00-21:00/);
    await form.getByLabel("From (HH:MM)").fill("09:00");
    await form.getByLabel("sat").check();
    await form.getByRole("button", { name: "Save draft" }).click();
    await page.getByRole("status").getByText("Saved Winter invoices (draft).").waitFor();
    const row = page.getByRole("table", { name: "Campaigns" }).getByRole("row").filter({ hasText: "Winter invoices" });
    assert.match(await row.textContent(), /draft/);
    assert.match(await row.textContent(), /mon tue wed thu fri sat 09:00-17:00/);

    await row.getByRole("button", { name: "Preview" }).click();
    await page.getByRole("region", { name: "Preview" }).getByText(/contacts would be called/).waitFor({ timeout: 5000 }).catch(async (e) => { console.log(await page.locator("main").innerText()); throw e; });
    await clean(t, page, problems, "campaigns");

    for (const [action, status] of [["Start", "running"], ["Pause", "paused"], ["Resume", "running"], ["Stop", "stopped"]]) {
      await row.getByRole("button", { name: action, exact: true }).click();
      await page.getByRole("status").getByText(`Winter invoices: ${status}.`).waitFor();
    }
    assert.equal(await row.getByRole("button", { name: "Start", exact: true }).count(), 0);
    const audit = await asAdmin(app.base, "GET", "/api/audit?action=campaign.stop");
    assert.equal(audit.items[0].actor, "camp@example.be");
  } finally {
    await browser.close();
  }
});
