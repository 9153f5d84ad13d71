import { type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type E2E, launchBrowser, loginWithForm, makeUser, seedProject, signedInContext, simplePairs, startApp } from "./harness.ts";

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

describe("annotator screen", () => {
  it("an annotator judges three pairs with the keyboard alone while a researcher watches the count rise live", async () => {
    const researcher = await makeUser(app, "rita@example.com", "researcher", "Rita");
    const annotator = await makeUser(app, "ann@example.com", "annotator", "Ann");
    const projectId = await seedProject(app, researcher, { name: "Helpful chat v2", annotators: [annotator], pairs: simplePairs(4) });

    // The researcher opens the project page in a second context of the same browser.
    const rctx = await signedInContext(browser, app, researcher);
    const rpage = await rctx.newPage();
    await rpage.goto(`${app.url}/projects/${projectId}`);
    const judgments = rpage.getByTestId("fig-judgments");
    await expect.poll(() => judgments.textContent(), { message: "researcher page should start at 0 judgments" }).toBe("0");
    await expect.poll(() => rpage.getByTestId("live-state").textContent(), { message: "researcher socket should connect" }).toContain("Live");

    const actx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await actx.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await loginWithForm(page, app, annotator.email);
    // Annotators land on the annotator screen from the project list (and /projects/:id redirects there).
    await page.goto(`${app.url}/projects/${projectId}`);
    await page.waitForURL(`**/projects/${projectId}/annotate`);
    await page.locator('[data-testid="panels"][data-keys="ready"]').waitFor();

    const body = await page.locator("body").textContent();
    expect(body, "model names must never be shown to annotators").not.toContain("secret-model");

    const sequences: { keys: string[]; label: RegExp }[] = [
      { keys: ["1", "e"], label: /Submit: A, better/ },
      { keys: ["ArrowRight", "r"], label: /Submit: B, significantly better/ },
      { keys: ["t"], label: /Submit: Tie/ },
    ];
    const seen = new Set<string>();
    for (const [i, seq] of sequences.entries()) {
      const panels = page.getByTestId("panels");
      const id = await panels.getAttribute("data-assignment");
      expect(id, "each pair should be a new assignment").not.toBeNull();
      expect(seen.has(id!), `pair ${i + 1} should not repeat an earlier pair`).toBe(false);
      seen.add(id!);
      for (const k of seq.keys) await page.keyboard.press(k);
      await expect.poll(() => page.getByTestId("submit").textContent()).toMatch(seq.label);
      await page.keyboard.press("Enter");
      await page.waitForFunction((prev) => document.querySelector('[data-testid="panels"]')?.getAttribute("data-assignment") !== prev, id);
    }
    await expect.poll(() => page.getByTestId("stat-today").textContent(), { message: "annotator header should count today's judgments" }).toBe("3");

    // The researcher's page moved without a reload.
    await expect.poll(() => judgments.textContent(), { timeout: 10_000, message: "researcher should see 3 judgments live" }).toBe("3");
    await expect.poll(() => rpage.getByTestId("fig-complete").textContent()).toBe("3");
    await expect.poll(() => rpage.locator('[data-testid^="annotator-"][data-testid$="-judgments"]').first().textContent(), { timeout: 10_000 }).toBe("3");
    expect(errors).toEqual([]);
    await actx.close();
    await rctx.close();
  });

  it("renders hostile model output inert", async () => {
    const researcher = await makeUser(app, "xss-owner@example.com", "researcher");
    const annotator = await makeUser(app, "xss-ann@example.com", "annotator");
    const payload = [
      "Hello <script>window.__pwned = 'script'; alert('script')</script>",
      "",
      `<img src=x onerror="window.__pwned='img'; alert('img')">`,
      "",
      "[click me](javascript:window.__pwned='md-link';alert('md-link'))",
      "",
      `<a href="javascript:window.__pwned='a';alert('a')">html link</a>`,
      "",
      `<iframe src="javascript:alert('iframe')"></iframe>`,
      "",
      "![tracker](http://evil.example/x.png)",
      "",
      `<svg onload="window.__pwned='svg'"></svg> <div onclick="window.__pwned='div'">div</div>`,
      "",
      "[fine link](https://example.org/docs)",
    ].join("\n");
    const projectId = await seedProject(app, researcher, {
      name: "Hostile output",
      annotators: [annotator],
      pairs: [{ prompt: `Prompt with ${payload}`, response_a: payload, response_b: [{ role: "assistant", content: payload }] }],
    });
    const ctx = await signedInContext(browser, app, annotator);
    const page = await ctx.newPage();
    const dialogs: string[] = [];
    const evil: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on("request", (r) => {
      if (r.url().includes("evil.example")) evil.push(r.url());
    });
    await page.goto(`${app.url}/projects/${projectId}/annotate`);
    await page.locator('[data-testid="panels"][data-keys="ready"]').waitFor();
    await expect.poll(() => page.getByTestId("response-left").textContent()).toContain("fine link");

    for (const scope of ["response-left", "response-right", "prompt"]) {
      const root = page.getByTestId(scope);
      expect(await root.locator("script").count(), `${scope}: no <script>`).toBe(0);
      expect(await root.locator("iframe").count(), `${scope}: no <iframe>`).toBe(0);
      expect(await root.locator("img").count(), `${scope}: no <img>`).toBe(0);
      expect(await root.locator("svg").count(), `${scope}: no <svg>`).toBe(0);
      expect(await root.locator('[href^="javascript:" i]').count(), `${scope}: no javascript: hrefs`).toBe(0);
      const handlers = await root.evaluate((el) =>
        [...el.querySelectorAll("*")].flatMap((n) => [...n.attributes].filter((a) => a.name.startsWith("on")).map((a) => `${n.tagName}.${a.name}`)),
      );
      expect(handlers, `${scope}: no inline event handlers`).toEqual([]);
      const rels = await root.locator("a[href]").evaluateAll((as) => as.map((a) => `${a.getAttribute("rel")}|${a.getAttribute("target")}`));
      for (const r of rels) expect(r).toBe("noopener noreferrer nofollow|_blank");
    }
    expect(await page.getByTestId("response-left").locator(".md-img").first().textContent()).toContain("tracker");

    // Interact a little: clicking the would-be links must not run anything either.
    await page.getByText("click me").first().click();
    await page.getByText("div", { exact: true }).first().click();
    expect(await page.evaluate(() => (window as unknown as { __pwned?: string }).__pwned)).toBeUndefined();
    expect(dialogs, "no dialog may fire").toEqual([]);
    expect(evil, "no request to the remote image host").toEqual([]);
    await ctx.close();
  });

  it("undo returns to the previous pair and a new submit supersedes the judgment", async () => {
    const researcher = await makeUser(app, "undo-owner@example.com", "researcher");
    const annotator = await makeUser(app, "undo-ann@example.com", "annotator");
    const projectId = await seedProject(app, researcher, {
      name: "Undo",
      annotators: [annotator],
      pairs: simplePairs(3, "undo"),
      settings: { scheme: { strength: "off", criteria: ["helpfulness", "harmlessness"] } },
    });
    const ctx = await signedInContext(browser, app, annotator);
    const page = await ctx.newPage();
    await page.goto(`${app.url}/projects/${projectId}/annotate`);
    const panels = page.getByTestId("panels");
    await page.locator('[data-testid="panels"][data-keys="ready"]').waitFor();
    const first = await panels.getAttribute("data-assignment");

    // Submitting without the criteria says what is missing instead of sending.
    await page.keyboard.press("1");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.getByTestId("hint").textContent()).toContain("Helpfulness");
    await page.keyboard.press("z"); // helpfulness: A
    await page.keyboard.press("x"); // harmlessness: tie
    expect(await page.getByTestId("criterion-helpfulness-left").getAttribute("aria-checked")).toBe("true");
    expect(await page.getByTestId("criterion-harmlessness-tie").getAttribute("aria-checked")).toBe("true");
    await page.keyboard.press("Enter");
    await page.waitForFunction((prev) => document.querySelector('[data-testid="panels"]')?.getAttribute("data-assignment") !== prev, first);

    await page.getByTestId("undo").waitFor();
    await page.keyboard.press("Control+z");
    await page.waitForFunction((prev) => document.querySelector('[data-testid="panels"]')?.getAttribute("data-assignment") === prev, first);
    await page.getByTestId("correcting").waitFor();
    // The earlier answer comes back selected, and can be changed.
    expect(await page.getByTestId("choice-left").getAttribute("aria-pressed")).toBe("true");
    // Keys typed in the rationale box stay text; Esc leaves the box and shortcuts work again.
    await page.keyboard.press("n");
    await page.keyboard.type("tb2 s is fine");
    await page.keyboard.press("Escape");
    expect(await page.getByTestId("rationale").inputValue()).toBe("tb2 s is fine");
    expect(await page.getByTestId("choice-left").getAttribute("aria-pressed"), "typing must not change the choice").toBe("true");
    expect(await page.getByTestId("skip-dialog").count()).toBe(0);
    await page.keyboard.press("2");
    await page.keyboard.press("Enter");
    await page.waitForFunction((prev) => document.querySelector('[data-testid="panels"]')?.getAttribute("data-assignment") !== prev, first);

    await expect.poll(async () => {
      const rows = await app.pw.db.selectFrom("judgments").select(["assignment_id", "choice_shown", "supersedes_id", "rationale"]).where("project_id", "=", projectId).orderBy("id").execute();
      return rows.map((r) => `${r.assignment_id}:${r.choice_shown}:${r.supersedes_id === null ? "new" : "supersedes"}:${r.rationale ?? ""}`);
    }).toEqual([`${first}:left:new:`, `${first}:right:supersedes:tb2 s is fine`]);
    await page.getByTestId("stat-today").waitFor();
    await expect.poll(() => page.getByTestId("stat-today").textContent()).toBe("1");
    await ctx.close();
  });

  it("stacks the responses on a narrow screen and keeps the choices in reach", async () => {
    const researcher = await makeUser(app, "narrow-owner@example.com", "researcher");
    const annotator = await makeUser(app, "narrow-ann@example.com", "annotator");
    const projectId = await seedProject(app, researcher, { name: "Narrow", annotators: [annotator], pairs: simplePairs(1, "narrow") });
    const ctx = await signedInContext(browser, app, annotator, { width: 800, height: 700 });
    const page = await ctx.newPage();
    await page.goto(`${app.url}/projects/${projectId}/annotate`);
    await page.locator('[data-testid="panels"][data-keys="ready"]').waitFor();
    const a = (await page.getByTestId("panel-left").boundingBox())!;
    const b = (await page.getByTestId("panel-right").boundingBox())!;
    expect(b.y, "B sits below A").toBeGreaterThanOrEqual(a.y + a.height - 1);
    expect(Math.abs(a.x - b.x)).toBeLessThan(2);
    const controls = (await page.getByTestId("controls").boundingBox())!;
    expect(controls.y + controls.height, "choices stick to the bottom of the viewport").toBeLessThanOrEqual(701);
    expect(await page.getByTestId("choice-left").isVisible()).toBe(true);

    // After the only pair, a friendly "all done" state; a new import offers more without a reload.
    await page.keyboard.press("b");
    await page.keyboard.press("Enter");
    await page.getByTestId("all-done").waitFor();
    const { Readable } = await import("node:stream");
    await app.pw.services.imports.importPairs(researcher, projectId, Readable.from([`${JSON.stringify(simplePairs(1, "late")[0])}\n`]), { format: "jsonl" });
    await page.getByTestId("new-pairs").waitFor({ timeout: 10_000 });
    await page.keyboard.press("Enter");
    await page.locator('[data-testid="panels"][data-keys="ready"]').waitFor();
    expect(await page.getByTestId("prompt").textContent()).toContain("late 1");
    await ctx.close();
  });
});

describe("leases", () => {
  it("a lease that runs out on screen brings a fresh pair, and a late submit is explained in plain words", async () => {
    const researcher = await makeUser(app, "lease-owner@example.com", "researcher");
    const annotator = await makeUser(app, "lease-ann@example.com", "annotator");
    const projectId = await seedProject(app, researcher, { name: "Leases", annotators: [annotator], pairs: simplePairs(4, "lease") });
    const ctx = await signedInContext(browser, app, annotator);
    const page = await ctx.newPage();
    await page.goto(`${app.url}/projects/${projectId}/annotate`);
    const first = Number(await page.getByTestId("panels").getAttribute("data-assignment"));

    // Reload gives back the same pair.
    await page.reload();
    expect(Number(await page.getByTestId("panels").getAttribute("data-assignment"))).toBe(first);

    // Shorten the lease on the server, reload: the countdown runs out and a fresh pair appears.
    await app.pw.db.updateTable("assignments").set({ expires_at: Date.now() + 2500 }).where("id", "=", first).execute();
    await page.reload();
    await page.waitForFunction((prev) => document.querySelector('[data-testid="panels"]')?.getAttribute("data-assignment") !== String(prev), first, { timeout: 15_000 });
    await expect.poll(() => page.getByTestId("toast").textContent()).toContain("This pair's time ran out; here is a fresh one");
    const second = Number(await page.getByTestId("panels").getAttribute("data-assignment"));

    // The server expires the lease behind the page's back: the submit is refused and said so.
    await app.pw.db.updateTable("assignments").set({ expires_at: Date.now() - 1000 }).where("id", "=", second).execute();
    await page.keyboard.press("1");
    await page.keyboard.press("q");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.getByTestId("toast").textContent(), { timeout: 10_000 }).toContain("time ran out");
    const text = await page.locator("body").textContent();
    expect(text).not.toMatch(/\b409\b/);
    const stored = await app.pw.db.selectFrom("judgments").select("id").where("assignment_id", "=", second).execute();
    expect(stored).toEqual([]);
    await ctx.close();
  });
});
