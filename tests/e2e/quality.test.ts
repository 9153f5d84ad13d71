import fs from "node:fs";
import path from "node:path";
import { type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SessionUser } from "../../server/domain/auth/auth-service.ts";
import { type E2E, launchBrowser, makeUser, seedProject, signedInContext, simplePairs, startApp } from "./harness.ts";

let app: E2E;
let browser: Browser;
let researcher: SessionUser;
let annotators: SessionUser[];
let latecomer: SessionUser;
let projectId: number;

type Style = "prefers_a" | "left" | "contrary";

/** Judges every pair the annotator is given, through the same services the annotator screen uses. */
async function judgeAll(user: SessionUser, style: Style, seed: number, max = 100): Promise<number> {
  const { annotation } = app.pw.services;
  let n = 0;
  for (;;) {
    const view = await annotation.next(user, projectId);
    if (!view || n >= max) return n;
    const leftIsA = JSON.stringify(view.left).includes("answer A");
    const aSide = leftIsA ? "left" : "right";
    const bSide = leftIsA ? "right" : "left";
    const k = (view.pair_id * 7 + seed) % 10;
    let choice: "left" | "right" | "tie" | "both_bad";
    if (style === "left") choice = "left";
    else if (style === "prefers_a") choice = k < 7 ? aSide : k < 9 ? bSide : "tie";
    else choice = k < 4 ? aSide : k < 8 ? bSide : "both_bad";
    const decisive = choice === "left" || choice === "right";
    await annotation.judge(user, view.assignment_id, {
      choice,
      strength: decisive ? 1 + (k % 4) : null,
      rationale: `${style} reason for pair ${view.pair_id}`,
      time_on_task_ms: style === "left" ? 900 + k * 10 : 8000 + k * 700,
      idempotency_key: `seed-${user.id}-${view.assignment_id}`,
    });
    n++;
  }
}

async function annotatorNames(page: Page): Promise<string[]> {
  return page.getByTestId("annotator-name").allTextContents();
}

beforeAll(async () => {
  // Which side is shown on the left is random per assignment; the always-left annotator's votes
  // (and so the leaderboard's order) depend on it, so the side sequence is fixed here.
  let sideSeed = 12345;
  app = await startApp({ random: () => ((sideSeed = (sideSeed * 1103515245 + 12345) & 0x7fffffff) >> 16) & 1 });
  browser = await launchBrowser();
  researcher = await makeUser(app, "quality-res@example.com", "researcher", "Quinn Researcher");
  annotators = [
    await makeUser(app, "q-ann1@example.com", "annotator", "Bea Careful"),
    await makeUser(app, "q-ann2@example.com", "annotator", "Cy Steady"),
    await makeUser(app, "q-ann3@example.com", "annotator", "Al Lefty"),
  ];
  latecomer = await makeUser(app, "q-ann4@example.com", "annotator", "Dee Late");
  projectId = await seedProject(app, researcher, {
    name: "Quality check",
    annotators: [...annotators, latecomer],
    pairs: simplePairs(24, "q"),
    settings: { judgmentsPerPair: 4, quality: { goldShare: 0 } },
  });
  await judgeAll(annotators[0]!, "prefers_a", 1);
  await judgeAll(annotators[1]!, "contrary", 2);
  await judgeAll(annotators[2]!, "left", 3);
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe("researcher dashboard", () => {
  it("shows α, the annotator table and the leaderboard with intervals, sorts by a clicked column, and updates live", async () => {
    const ctx = await signedInContext(browser, app, researcher);
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${app.url}/projects/${projectId}`);
    await page.getByRole("link", { name: "Quality", exact: true }).click();
    await page.waitForURL(`**/projects/${projectId}/quality`);

    expect(await page.getByTestId("fig-alpha").textContent(), "nominal α is a number").toMatch(/^-?\d\.\d\d$/);
    expect(await page.getByTestId("fig-human-judgments").textContent()).toBe("72");
    expect(await page.getByTestId("quality-annotator-row").count(), "one row per annotator who judged").toBe(3);
    // The always-left annotator is flagged in words, not only in color.
    const lefty = page.getByTestId("quality-annotator-row").filter({ hasText: "Al Lefty" });
    expect(await lefty.textContent()).toContain("Position bias");

    const board = page.getByTestId("leaderboard-row");
    expect(await board.count(), "two models in the leaderboard").toBe(2);
    expect(await board.first().textContent(), "model A wins more often than B").toContain("secret-model-alpha");
    for (const t of await page.getByTestId("leaderboard-interval").allTextContents()) expect(t).toMatch(/^\[-?\d+, -?\d+\]$/);
    expect(await page.getByTestId("leaderboard").locator("svg[role=img]").count(), "each model has an interval bar").toBe(2);
    expect(await page.getByTestId("winrate-matrix").textContent()).toMatch(/\d+%/);
    await page.getByTestId("kappa-table").waitFor();

    // Sorting: Name ascending, then descending; aria-sort follows.
    const nameHeader = page.getByRole("columnheader", { name: /Name/ });
    await nameHeader.getByRole("button").click();
    expect(await annotatorNames(page)).toEqual(["Al Lefty", "Bea Careful", "Cy Steady"]);
    expect(await nameHeader.getAttribute("aria-sort")).toBe("ascending");
    await nameHeader.getByRole("button").click();
    expect(await annotatorNames(page)).toEqual(["Cy Steady", "Bea Careful", "Al Lefty"]);
    // Median time, slowest first on the first click: the fast always-left annotator ends up last.
    await page.getByRole("columnheader", { name: /Median time/ }).getByRole("button").click();
    expect((await annotatorNames(page)).at(-1)).toBe("Al Lefty");

    // Live: a new annotator's judgments show up without a reload.
    await page.getByTestId("live-state").filter({ hasText: "Live" }).waitFor();
    const judged = await judgeAll(latecomer, "prefers_a", 4, 5);
    expect(judged).toBe(5);
    await expect.poll(() => page.getByTestId("fig-human-judgments").textContent(), { timeout: 10_000 }).toBe("77");
    await expect.poll(() => page.getByTestId("quality-annotator-row").count()).toBe(4);

    // Pause and resume from the table.
    const row = page.getByTestId("quality-annotator-row").filter({ hasText: "Al Lefty" });
    await row.getByRole("button", { name: "Pause Al Lefty" }).click();
    await expect.poll(() => row.textContent()).toContain("Paused");
    await expect.poll(async () => (await app.pw.services.projects.requireMember(annotators[2]!, projectId)).paused).toBe(true);
    await row.getByRole("button", { name: "Resume Al Lefty" }).click();
    await expect.poll(async () => (await app.pw.services.projects.requireMember(annotators[2]!, projectId)).paused).toBe(false);

    if (process.env.PAIRWISE_SCREENSHOTS) {
      for (const scheme of ["light", "dark"] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        await page.waitForTimeout(200);
        await page.screenshot({ path: path.join(process.env.PAIRWISE_SCREENSHOTS, `quality-${scheme}.png`), fullPage: true });
      }
      await page.emulateMedia({ colorScheme: "light" });
    }
    expect(errors).toEqual([]);
    await ctx.close();
  });

  it("lists split pairs with votes and rationales and marks one as gold", async () => {
    const ctx = await signedInContext(browser, app, researcher);
    const page = await ctx.newPage();
    await page.goto(`${app.url}/projects/${projectId}/disagreements`);
    const first = page.getByTestId("disagreement").first();
    await first.waitFor();
    expect(await page.getByTestId("disagreement-total").textContent()).toMatch(/^\d+ pairs? with split votes/);
    const text = (await first.textContent())!;
    expect(text, "model names are visible to researchers here").toContain("secret-model-alpha");
    expect(text).toMatch(/reason for pair \d+/);
    const control = first.locator("[data-testid^=gold-control-]");
    const pairId = Number((await control.getAttribute("data-testid"))!.replace("gold-control-", ""));
    await control.getByLabel("Mark as gold with answer").selectOption("b");
    await control.getByRole("button", { name: "Mark as gold" }).click();
    await expect.poll(() => page.getByTestId(`gold-state-${pairId}`).textContent()).toContain("B is better");
    const all = await app.pw.services.quality.disagreements(researcher, projectId, { limit: 100, offset: 0 });
    expect(all.pairs.find((p) => p.pair_id === pairId)?.gold_answer).toBe("b");
    if (process.env.PAIRWISE_SCREENSHOTS) await page.screenshot({ path: path.join(process.env.PAIRWISE_SCREENSHOTS, "disagreements-light.png") });
    await ctx.close();
  });

  it("downloads a trl export from the exports page and lists it in the history", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
    const s = await app.pw.services.auth.createSession(researcher.id);
    await ctx.addCookies([{ name: "pairwise_session", value: encodeURIComponent(s.token), url: app.url, httpOnly: true, sameSite: "Lax" }]);
    const page = await ctx.newPage();
    await page.goto(`${app.url}/projects/${projectId}/exports`);
    expect(await page.getByText("No exports yet.").count()).toBe(1);
    await page.getByLabel("Format").selectOption("trl");
    expect(await page.getByLabel("Pseudonymize annotators").isChecked(), "pseudonymize is on by default").toBe(true);
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download" }).click()]);
    const file = await download.path();
    const firstLine = fs.readFileSync(file, "utf8").split("\n")[0]!;
    const row = JSON.parse(firstLine) as Record<string, unknown>;
    expect(Object.keys(row)).toEqual(expect.arrayContaining(["prompt", "chosen", "rejected"]));
    expect(download.suggestedFilename()).toMatch(/\.jsonl$/);

    const history = page.getByTestId("export-row");
    await expect.poll(() => history.count(), { timeout: 15_000 }).toBe(1);
    expect(await history.first().textContent()).toContain("trl");
    const manifestHref = await history.first().getByRole("link", { name: "Manifest" }).getAttribute("href");
    const manifest = (await (await page.request.get(`${app.url}${manifestHref}`)).json()) as { format: string; sha256: string };
    expect(manifest.format).toBe("trl");
    expect(await history.first().textContent()).toContain(manifest.sha256.slice(0, 12));
    if (process.env.PAIRWISE_SCREENSHOTS) await page.screenshot({ path: path.join(process.env.PAIRWISE_SCREENSHOTS, "exports-light.png"), fullPage: true });
    await ctx.close();
  });

  it("saves the quality settings", async () => {
    const ctx = await signedInContext(browser, app, researcher);
    const page = await ctx.newPage();
    await page.goto(`${app.url}/projects/${projectId}/settings`);
    await page.getByLabel("Gold share (%)").fill("20");
    await page.getByLabel("Too fast under (seconds)").fill("2.5");
    await page.getByLabel(/Pause annotators automatically/).check();
    await page.getByRole("button", { name: "Save settings" }).click();
    await expect.poll(async () => (await app.pw.services.projects.get(projectId))?.quality).toMatchObject({ goldShare: 0.2, tooFastMs: 2500, pauseBelowGold: true });
    await ctx.close();
  });

  it("keeps annotators out of the quality, disagreement and export pages", async () => {
    const ctx = await signedInContext(browser, app, annotators[0]!);
    const page = await ctx.newPage();
    for (const tab of ["quality", "disagreements", "exports"]) {
      await page.goto(`${app.url}/projects/${projectId}/${tab}`);
      await page.waitForURL(`**/projects/${projectId}/annotate`);
      expect(await page.getByText("secret-model-alpha").count(), `no model names leak on the way from /${tab}`).toBe(0);
    }
    const api = await page.request.get(`${app.url}/api/v1/projects/${projectId}/export?format=trl`);
    expect(api.status(), "the export endpoint refuses annotators").toBe(403);
    await ctx.close();
  });
});
