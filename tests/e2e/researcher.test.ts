import fs from "node:fs";
import path from "node:path";
import { type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type E2E, launchBrowser, loginWithForm, makeUser, signedInContext, simplePairs, startApp } from "./harness.ts";

let app: E2E;
let browser: Browser;

beforeAll(async () => {
  app = await startApp();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe("researcher pages", () => {
  it("wrong password shows a friendly message; / sends a signed-out visitor to sign in", async () => {
    await makeUser(app, "who@example.com", "researcher");
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${app.url}/`);
    await page.waitForURL("**/login");
    await page.getByLabel("Email").fill("who@example.com");
    await page.getByLabel("Password").fill("wrong password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("don't match");
    await ctx.close();
  });

  it("creates a project, imports pairs with progress and bad-line reports, adds a member, edits settings, manages tokens", async () => {
    const researcher = await makeUser(app, "res@example.com", "researcher", "Res");
    await makeUser(app, "newann@example.com", "annotator", "New Ann");
    const ctx = await browser.newContext({ viewport: { width: 1300, height: 900 } });
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await loginWithForm(page, app, researcher.email);
    await page.waitForURL("**/projects");

    // New project: a bad criterion name comes back as a field error, then a good one goes through.
    await page.getByLabel("Name").fill("Summaries");
    await page.getByLabel("Criteria").fill("Bad Name!");
    await page.getByRole("button", { name: "Create project" }).click();
    await expect.poll(() => page.getByText("use lowercase letters").count()).toBeGreaterThan(0);
    await page.getByLabel("Criteria").fill("faithfulness");
    await page.getByRole("button", { name: "Create project" }).click();
    await page.waitForURL(/\/projects\/\d+\/import$/);
    const projectId = Number(/projects\/(\d+)/.exec(page.url())![1]);

    // A file with one bad line: nothing imported, the line is listed.
    const dir = fs.mkdtempSync(path.join(app.dir, "up-"));
    const bad = path.join(dir, "bad.jsonl");
    fs.writeFileSync(bad, `${JSON.stringify(simplePairs(1)[0])}\n{"prompt": "only a prompt"}\n`);
    await page.locator("#import-file").setInputFiles(bad);
    await page.getByRole("button", { name: "Upload" }).click();
    await page.getByTestId("import-error").waitFor();
    expect(await page.getByTestId("import-error").textContent()).toMatch(/2/);

    const good = path.join(dir, "good.jsonl");
    fs.writeFileSync(good, simplePairs(5).map((p) => JSON.stringify(p)).join("\n") + "\n");
    await page.locator("#import-file").setInputFiles(good);
    await page.getByRole("button", { name: "Upload" }).click();
    await expect.poll(() => page.getByTestId("import-result").textContent()).toContain("Imported 5 pairs");
    await expect.poll(() => page.getByTestId("import-history").textContent()).toContain("good.jsonl");

    // Members.
    await page.getByRole("link", { name: "Members" }).click();
    await page.getByLabel("Email").fill("nobody@example.com");
    await page.getByRole("button", { name: "Add member" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("No user with email");
    await page.getByLabel("Email").fill("newann@example.com");
    await page.getByRole("button", { name: "Add member" }).click();
    await expect.poll(() => page.getByTestId("member-table").textContent()).toContain("newann@example.com");

    // Settings: changing the scheme bumps its version.
    await page.getByRole("link", { name: "Settings" }).click();
    expect(await page.getByTestId("scheme-version").textContent()).toContain("1");
    await page.getByLabel("Allow tie").uncheck();
    await page.getByRole("button", { name: "Save settings" }).click();
    await expect.poll(() => page.getByTestId("scheme-version").textContent()).toContain("2");
    const saved = await app.pw.services.projects.get(projectId);
    expect(saved?.scheme.allowTie).toBe(false);
    expect(saved?.scheme.criteria).toEqual(["faithfulness"]);

    // Tokens: shown once, then listed and revocable.
    await page.goto(`${app.url}/account/tokens`);
    await page.getByLabel("Name").fill("export script");
    await page.getByRole("button", { name: "Create token" }).click();
    const token = (await page.getByTestId("new-token").locator("code").textContent())!;
    expect(token).toMatch(/^pw_/);
    expect(await app.pw.services.auth.userForToken(token)).not.toBeNull();
    page.once("dialog", (d) => void d.accept());
    await page.getByRole("button", { name: "Revoke" }).click();
    await expect.poll(() => page.getByText("revoked", { exact: true }).count()).toBe(1);
    expect(await app.pw.services.auth.userForToken(token)).toBeNull();

    // Sign out.
    await page.getByLabel(/Account menu/).click();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL("**/login");
    expect(errors).toEqual([]);
    await ctx.close();
  });

  it("annotators are sent from the project page to the annotator screen and kept out of researcher pages", async () => {
    const researcher = await makeUser(app, "owner2@example.com", "researcher");
    const annotator = await makeUser(app, "ann2@example.com", "annotator");
    const p = await app.pw.services.projects.create(researcher, { name: "Guarded" });
    await app.pw.services.projects.addMember(researcher, p.id, { email: annotator.email, role: "annotator" });
    const ctx = await signedInContext(browser, app, annotator);
    const page = await ctx.newPage();
    await page.goto(`${app.url}/projects/${p.id}`);
    await page.waitForURL(`**/projects/${p.id}/annotate`);
    await page.getByTestId("all-done").waitFor();
    const res = await page.goto(`${app.url}/projects/${p.id}/settings`);
    expect(res?.status()).toBe(403);
    expect(await page.locator("h1").textContent()).toBe("No access");
    await ctx.close();
  });
});
