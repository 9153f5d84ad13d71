import http from "node:http";
import { type AddressInfo } from "node:net";
import { type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SessionUser } from "../../server/domain/auth/auth-service.ts";
import { type E2E, launchBrowser, makeUser, seedProject, shoot, signedInContext, simplePairs, startApp } from "./harness.ts";

let app: E2E;
let browser: Browser;
let researcher: SessionUser;
let annotator: SessionUser;
let judgeServer: http.Server;
let judgeUrl: string;
const API_KEY = "sk-scripted-test-key-123";
const seenAuth: (string | undefined)[] = [];

/** simplePairs' response A starts with this; the scripted judge always prefers it. */
const A_MARK = "Use slicing";

/**
 * An OpenAI-compatible chat endpoint with a fixed opinion: whichever answer is response A of the
 * pair wins with 95% confidence, in both orders (so every verdict is consistent).
 */
function startJudgeServer(): Promise<void> {
  judgeServer = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
        res.writeHead(404).end("{}");
        return;
      }
      seenAuth.push(req.headers.authorization);
      const body = JSON.parse(raw) as { messages: { role: string; content: string }[] };
      const user = body.messages.find((m) => m.role === "user")?.content ?? "";
      const first = /\[The Start of Assistant A's Answer\]\n([\s\S]*?)\n\[The End of Assistant A's Answer\]/.exec(user)?.[1] ?? "";
      const verdict = first.includes(A_MARK) ? "[[A]]" : "[[B]]";
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: "x", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: `The preferred answer is clearer.\n\n${verdict}\nConfidence: 95` }, finish_reason: "stop" }] }));
    });
  });
  return new Promise((r) =>
    judgeServer.listen(0, "127.0.0.1", () => {
      judgeUrl = `http://127.0.0.1:${(judgeServer.address() as AddressInfo).port}/v1`;
      r();
    }),
  );
}

const textOf = (c: unknown) => (typeof c === "string" ? c : (c as { content: string }[]).map((m) => m.content).join("\n\n"));

/** The annotator judges `n` pairs through the service; `agree[i]` says whether vote i picks response A (the judge's pick). */
async function judgeSome(projectId: number, agree: boolean[]): Promise<void> {
  const { annotation } = app.pw.services;
  for (const [i, withJudge] of agree.entries()) {
    const view = await annotation.next(annotator, projectId);
    expect(view, `pair ${i + 1} to judge`).not.toBeNull();
    const leftIsA = textOf(view!.left).includes(A_MARK);
    const choice = leftIsA === withJudge ? "left" : "right";
    await annotation.judge(annotator, view!.assignment_id, { choice, strength: 2, time_on_task_ms: 4000, idempotency_key: `hybrid-seed-${projectId}-${i}` });
  }
}

beforeAll(async () => {
  await startJudgeServer();
  app = await startApp();
  browser = await launchBrowser();
  researcher = await makeUser(app, "hybrid-res@example.com", "researcher", "Rhea Researcher");
  annotator = await makeUser(app, "hybrid-ann@example.com", "annotator", "Ann Rewriter");
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await new Promise((r) => judgeServer?.close(r));
});

describe("hybrid human–AI feedback", () => {
  it("a researcher adds an LLM judge, turns routing on, runs it, and sees AI labels, agreement and the alert", async () => {
    const projectId = await seedProject(app, researcher, { name: "Hybrid chat", annotators: [annotator], pairs: simplePairs(6, "h"), settings: { judgmentsPerPair: 1, quality: { goldShare: 0 } } });
    // Two pairs judged by a person first: one with the judge, one against it (agreement 50%).
    await judgeSome(projectId, [true, false]);

    const ctx = await signedInContext(browser, app, researcher);
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${app.url}/projects/${projectId}`);
    await page.getByRole("link", { name: "AI judges", exact: true }).click();
    await page.waitForURL(`**/projects/${projectId}/judges`);
    await page.getByTestId("live-state").filter({ hasText: "Live" }).waitFor();

    // Create the judge; the rubric comes prefilled with the default.
    await page.getByTestId("judge-new").click();
    const form = page.getByTestId("judge-form");
    expect(await form.getByLabel("Rubric").inputValue(), "rubric prefilled").toContain("impartial judge");
    await form.getByLabel("Name").fill("Scripted judge");
    await form.getByLabel("Base URL").fill("not a url");
    await form.getByLabel("Model").fill("scripted-1");
    await form.getByLabel("API key").fill(API_KEY);
    await form.getByRole("button", { name: "Add judge" }).click();
    // The server's field path (config.base_url) lands under the Base URL field.
    await expect.poll(() => form.getByLabel("Base URL").getAttribute("aria-invalid"), { message: "base URL flagged inline" }).toBe("true");
    await form.getByLabel("Base URL").fill(judgeUrl);
    await form.getByRole("button", { name: "Add judge" }).click();
    const row = page.getByTestId("judge-row").filter({ hasText: "Scripted judge" });
    await row.waitFor();
    expect(await row.textContent(), "key shown only as set").toContain("key set");
    expect(await page.content(), "the key never reaches the page").not.toContain(API_KEY);

    // Routing on, trusting the judge at once and with no audits so the counts are exact; the alert
    // fires under 70% over 2 pairs.
    const hybrid = page.getByTestId("hybrid-form");
    await hybrid.getByLabel("Audit share").fill("1.5");
    await page.getByTestId("routing-enabled").check();
    await page.getByTestId("hybrid-save").click();
    await hybrid.getByText("Number must be less than or equal to 1").waitFor();
    expect(await hybrid.getByLabel("Audit share").getAttribute("aria-invalid"), "audit share flagged inline").toBe("true");
    await hybrid.getByLabel("Audit share").fill("0");
    await hybrid.getByLabel("Audits before trust").fill("0");
    await hybrid.getByLabel("Minimum compared pairs").fill("2");
    await page.getByTestId("hybrid-save").click();
    await hybrid.getByText("Saved.").waitFor();
    expect((await app.pw.services.judges.hybridSettings(researcher, projectId)).routing).toMatchObject({ enabled: true, auditShare: 0, minAudits: 0 });

    // Run it; the page follows the job live and shows the AI-labeled pairs.
    await row.getByTestId("judge-run").click();
    const result = row.getByTestId("judge-run-result");
    await result.waitFor();
    const jobHref = await result.getByRole("link").getAttribute("href");
    expect(jobHref, "links to the job page").toMatch(new RegExp(`^/projects/${projectId}/jobs/\\d+$`));
    await app.pw.services.judges.idle();
    await page.getByTestId("fig-route-ai").filter({ hasText: /^4$/ }).waitFor({ timeout: 20_000 });
    await row.getByTestId("judge-verdicts").filter({ hasText: /^6$/ }).waitFor();
    expect(seenAuth.length, "both orders asked for every pair").toBe(12);
    expect(new Set(seenAuth), "the key goes to the endpoint").toEqual(new Set([`Bearer ${API_KEY}`]));

    const panel = page.getByTestId("agreement-judge").filter({ hasText: "Scripted judge" });
    expect(await panel.getByTestId("agreement-compared").textContent()).toBe("2");
    expect(await panel.getByTestId("agreement-overall").textContent()).toBe("50%");
    expect(await panel.getByTestId("agreement-inconsistent").textContent(), "every verdict survived the swap").toBe("0%");
    await panel.getByTestId("agreement-alert").waitFor();
    await panel.getByTestId("calibration-chart").waitFor();
    expect(await panel.getByTestId("calibration-table").locator("tbody tr").count(), "five confidence buckets").toBe(5);
    await shoot(page, "judges");

    // Editing the config bumps the version (noted before saving).
    await row.getByTestId("judge-edit").click();
    const edit = page.getByTestId("judge-form");
    await edit.getByLabel("Model").fill("scripted-2");
    await edit.getByTestId("version-note").filter({ hasText: "version 2" }).waitFor();
    await edit.getByRole("button", { name: "Save judge" }).click();
    await row.getByTestId("judge-version").filter({ hasText: "v2" }).waitFor();

    // The overview warns about the judge, with a way to the judges page.
    await page.getByRole("link", { name: "Overview", exact: true }).click();
    await page.waitForURL(`**/projects/${projectId}`);
    // Version 2 has no verdicts yet, so the alert is gone: re-run and watch it come back live.
    expect(await page.getByTestId("judge-alert").count(), "no alert for a judge version without verdicts").toBe(0);
    await page.getByTestId("live-state").filter({ hasText: "Live" }).waitFor();
    const judges = await app.pw.services.judges.list(researcher, projectId);
    await app.pw.services.judges.run(researcher, projectId, judges[0]!.id, { scope: "unjudged" });
    await app.pw.services.judges.idle();
    const banner = page.getByTestId("judge-alert");
    await banner.waitFor({ timeout: 15_000 });
    expect(await banner.textContent()).toContain("Scripted judge");
    expect(await banner.textContent()).toContain("50%");
    await banner.getByRole("link", { name: "Review AI judges" }).click();
    await page.waitForURL(`**/projects/${projectId}/judges`);
    expect(errors, "no page errors").toEqual([]);
    await ctx.close();
  });

  it("an annotator sees the AI's pick before choosing and rewrites the worse response with the keyboard", async () => {
    const projectId = await seedProject(app, researcher, { name: "Hybrid rewrites", annotators: [annotator], pairs: simplePairs(3, "r"), settings: { judgmentsPerPair: 1, quality: { goldShare: 0 } } });
    const { judges } = app.pw.services;
    const judge = await judges.create(researcher, projectId, { kind: "llm", name: "Secret judge model", config: { base_url: judgeUrl, model: "scripted-secret" }, api_key: API_KEY });
    await judges.run(researcher, projectId, judge.id, { scope: "unjudged" });
    await judges.idle();
    await judges.updateHybridSettings(researcher, projectId, { assist: { mode: "before", share: 1 }, rewrites: { mode: "worse" } });

    const ctx = await signedInContext(browser, app, annotator);
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${app.url}/projects/${projectId}/annotate`);
    await page.locator('[data-testid="panels"][data-keys="ready"]').waitFor();

    // The chip names the side the judge prefers (response A of the pair), never the model.
    const leftIsA = ((await page.getByTestId("response-left").textContent()) ?? "").includes(A_MARK);
    const chip = page.getByTestId("assist-chip");
    expect(await chip.textContent()).toBe(`AI suggests: ${leftIsA ? "A" : "B"} (95%)`);
    expect(await page.locator("body").textContent(), "no judge or model names on the annotator screen").not.toMatch(/Secret judge|scripted-secret/);

    // The keyboard map lists the rewrite key.
    await page.keyboard.press("?");
    await page.getByTestId("help-overlay").filter({ hasText: "Rewrite the response you did not choose" }).waitFor();
    await page.keyboard.press("Escape");

    // A is better, slightly; Shift+R opens B's text for rewriting.
    await page.keyboard.press("1");
    await page.keyboard.press("w");
    const firstAssignment = await page.getByTestId("panels").getAttribute("data-assignment");
    const originalRight = (await page.getByTestId("response-right").textContent()) ?? "";
    await page.keyboard.press("Shift+R");
    const box = page.getByTestId("rewrite-right");
    await box.waitFor();
    expect(await box.evaluate((el) => el === document.activeElement), "the rewrite box has focus").toBe(true);
    // The box holds the raw text; the panel showed it rendered, so compare the opening words.
    expect((await box.inputValue()).slice(0, 12), "prefilled with B's text").toBe(originalRight.trim().slice(0, 12));
    await box.fill("Use `reversed(xs)` for an iterator, or `xs[::-1]` for a new list.");
    // Esc leaves the box without trapping focus; single keys work again.
    await shoot(page, "annotate-rewrite");
    await page.keyboard.press("Escape");
    expect(await box.evaluate((el) => el === document.activeElement), "Esc left the box").toBe(false);
    await page.getByTestId("submit").filter({ hasText: "Submit: A, slightly better + rewrite" }).waitFor();
    await page.keyboard.press("Enter");
    await page.getByTestId("toast").filter({ hasText: "Saved: A, slightly better + rewrite" }).waitFor();

    await expect.poll(async () => (await judges.report(researcher, projectId)).rewrites, { message: "the rewrite was stored", timeout: 10_000 }).toBe(1);
    const report = await judges.report(researcher, projectId);
    expect(report.routes.known, "the rewrite became a known-preference pair").toBe(1);
    expect(report.assist.find((a) => a.arm === "before")?.judgments, "counted in the before arm").toBe(1);

    // The next pair (prefetched) carries its own hint.
    await page.locator(`[data-testid="panels"]:not([data-assignment="${firstAssignment}"])`).waitFor();
    await chip.waitFor();
    expect(await page.getByTestId("rewrite-right").count(), "the rewrite box closes with its pair").toBe(0);
    expect(errors, "no page errors").toEqual([]);
    await ctx.close();
  });

  it("in the after arm the AI's pick appears only once the judgment is stored", async () => {
    const projectId = await seedProject(app, researcher, { name: "Hybrid after", annotators: [annotator], pairs: simplePairs(2, "f"), settings: { judgmentsPerPair: 1, quality: { goldShare: 0 } } });
    const { judges } = app.pw.services;
    const judge = await judges.create(researcher, projectId, { kind: "llm", name: "After judge", config: { base_url: judgeUrl, model: "scripted" } });
    await judges.run(researcher, projectId, judge.id, {});
    await judges.idle();
    await judges.updateHybridSettings(researcher, projectId, { assist: { mode: "after", share: 1 } });

    const ctx = await signedInContext(browser, app, annotator);
    const page = await ctx.newPage();
    // The judges page is for researchers: an annotator lands on the annotator screen instead.
    await page.goto(`${app.url}/projects/${projectId}/judges`);
    await page.waitForURL(`**/projects/${projectId}/annotate`);
    await page.locator('[data-testid="panels"][data-keys="ready"]').waitFor();
    expect(await page.getByTestId("assist-chip").count(), "no hint before choosing in the after arm").toBe(0);
    expect(await page.getByTestId("rewrite").count(), "no rewrite button while rewrites are off").toBe(0);
    const leftIsA = ((await page.getByTestId("response-left").textContent()) ?? "").includes(A_MARK);
    await page.keyboard.press("2");
    await page.keyboard.press("e");
    await page.keyboard.press("Enter");
    const toast = page.getByTestId("toast");
    await toast.filter({ hasText: "Saved: B, better" }).waitFor();
    await page.getByTestId("assist-after").filter({ hasText: `AI picked: ${leftIsA ? "A" : "B"} (95%)` }).waitFor();
    await ctx.close();
  });
});
