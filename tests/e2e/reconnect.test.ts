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

describe("dropped connections", () => {
  it("the annotator keeps the same pair across a network drop and submits after it; the researcher's page reconnects and moves again", async () => {
    const researcher = await makeUser(app, "drop-res@example.com", "researcher");
    const annotator = await makeUser(app, "drop-ann@example.com", "annotator");
    const projectId = await seedProject(app, researcher, { name: "Drops", annotators: [annotator], pairs: simplePairs(3) });

    const rctx = await signedInContext(browser, app, researcher);
    const rpage = await rctx.newPage();
    await rpage.goto(`${app.url}/projects/${projectId}`);
    const live = rpage.getByTestId("live-state");
    await expect.poll(() => live.textContent(), { message: "researcher socket should connect" }).toContain("Live");

    const actx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await actx.newPage();
    await loginWithForm(page, app, annotator.email);
    await page.goto(`${app.url}/projects/${projectId}/annotate`);
    await page.locator('[data-testid="panels"][data-keys="ready"]').waitFor();
    const before = await page.getByTestId("panels").getAttribute("data-assignment");

    // Both browsers lose the network for a while, then get it back.
    await actx.setOffline(true);
    await rctx.setOffline(true);
    await expect.poll(() => live.textContent(), { timeout: 30_000, message: "researcher page should notice the drop" }).not.toContain("Live");
    await new Promise((r) => setTimeout(r, 1500));
    await actx.setOffline(false);
    await rctx.setOffline(false);
    await expect.poll(() => live.textContent(), { timeout: 30_000, message: "researcher page should reconnect by itself" }).toContain("Live");

    expect(await page.getByTestId("panels").getAttribute("data-assignment"), "the annotator is still on the same pair").toBe(before);
    // A reload during the lease also gives back the same pair.
    await page.reload();
    await page.locator('[data-testid="panels"][data-keys="ready"]').waitFor();
    expect(await page.getByTestId("panels").getAttribute("data-assignment")).toBe(before);

    await page.keyboard.press("1");
    await page.keyboard.press("w");
    await page.keyboard.press("Enter");
    await page.waitForFunction((prev) => document.querySelector('[data-testid="panels"]')?.getAttribute("data-assignment") !== prev, before);
    await expect.poll(() => rpage.getByTestId("fig-judgments").textContent(), { timeout: 15_000, message: "the reconnected researcher page sees the judgment live" }).toBe("1");
    await actx.close();
    await rctx.close();
  });
});
