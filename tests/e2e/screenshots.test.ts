import path from "node:path";
import { describe, it } from "vitest";
import { launchBrowser, makeUser, seedProject, signedInContext, simplePairs, startApp } from "./harness.ts";

/** Not a check: writes screenshots for a person to look at. PAIRWISE_SCREENSHOTS=<dir> turns it on. */
const dir = process.env.PAIRWISE_SCREENSHOTS;

describe.skipIf(!dir)("screenshots", () => {
  it("annotator screen and project page, light and dark", async () => {
    const app = await startApp();
    const browser = await launchBrowser();
    try {
      const researcher = await makeUser(app, "rita@example.com", "researcher", "Rita Researcher");
      const annotator = await makeUser(app, "ann@example.com", "annotator", "Ann Annotator");
      const long = `Here is a fuller answer.\n\n## Option 1: slicing\n\n\`\`\`python\nxs = [1, 2, 3]\nprint(xs[::-1])  # [3, 2, 1]\n\`\`\`\n\n## Option 2: \`reversed\`\n\n- returns an iterator\n- does not copy until you ask\n\n| method | copies | in place |\n|---|---|---|\n| \`xs[::-1]\` | yes | no |\n| \`xs.reverse()\` | no | yes |\n\nSee [the docs](https://docs.python.org/3/library/stdtypes.html).`;
      const pairs = [{ ...simplePairs(1)[0]!, response_b: long }, ...simplePairs(5, "more")];
      const projectId = await seedProject(app, researcher, {
        name: "Helpful chat v2",
        annotators: [annotator],
        pairs,
        settings: { judgmentsPerPair: 2, scheme: { criteria: ["helpfulness", "harmlessness"], showLengthHint: true } },
      });
      for (const scheme of ["light", "dark"] as const) {
        const ctx = await signedInContext(browser, app, annotator, { width: 1400, height: 900 });
        const page = await ctx.newPage();
        await page.emulateMedia({ colorScheme: scheme });
        await page.goto(`${app.url}/projects/${projectId}/annotate`);
        await page.locator('[data-testid="panels"][data-keys="ready"]').waitFor();
        await page.keyboard.press("2");
        await page.keyboard.press("r");
        await page.keyboard.press("z");
        await page.screenshot({ path: path.join(dir!, `annotate-${scheme}.png`) });
        await page.setViewportSize({ width: 760, height: 900 });
        await page.screenshot({ path: path.join(dir!, `annotate-narrow-${scheme}.png`) });
        await page.setViewportSize({ width: 1400, height: 900 });
        await page.keyboard.press("?");
        await page.getByTestId("help-overlay").waitFor();
        await page.screenshot({ path: path.join(dir!, `help-${scheme}.png`) });
        await ctx.close();
        const rctx = await signedInContext(browser, app, researcher, { width: 1400, height: 900 });
        const rpage = await rctx.newPage();
        await rpage.emulateMedia({ colorScheme: scheme });
        await rpage.goto(`${app.url}/projects/${projectId}`);
        await rpage.getByTestId("fig-judgments").waitFor();
        await rpage.waitForTimeout(500);
        await rpage.screenshot({ path: path.join(dir!, `project-${scheme}.png`), fullPage: true });
        await rpage.goto(`${app.url}/projects`);
        await rpage.screenshot({ path: path.join(dir!, `projects-${scheme}.png`), fullPage: true });
        await rctx.close();
      }
    } finally {
      await browser.close();
      await app.close();
    }
  });
});
