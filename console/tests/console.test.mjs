// The console in a real browser against the real appliance: signing in (and the
// wrong-password answer), the pages a role may see, tokens shown once, the audit log,
// signing out and a lost session; every page without console errors, without a request
// leaving the appliance, and without serious accessibility violations.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startAppliance, addUser, openBrowser, accessibility, screenshot, signIn, PASSWORD,
} from "./harness.mjs";

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
    assert.deepEqual(nav, ["Overview", "Audit log", "Users & roles", "API tokens"]);
    await page.getByText("Readiness:").waitFor();
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
    assert.deepEqual(nav, ["Overview", "API tokens"]);
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
    await page.getByRole("button", { name: "Add" }).click();
    assert.match(await page.getByRole("alert").textContent(), /at least 12 characters \(password\)/);
    await page.locator("#user-password").fill(PASSWORD);
    await page.getByRole("button", { name: "Add" }).click();
    await page.getByRole("status").getByText("Added new@example.be.").waitFor();
    await page.getByRole("cell", { name: "new@example.be" }).waitFor();
    await clean(t, page, problems, "users");

    await page.getByRole("link", { name: "API tokens" }).click();
    await page.getByLabel("Name").fill("laptop");
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
