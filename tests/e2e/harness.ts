import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { createApp, type PairwiseApp } from "../../server/app.ts";
import { loadConfig } from "../../server/config.ts";
import { type SessionUser } from "../../server/domain/auth/auth-service.ts";

export const PASSWORD = "correct horse battery";

export type E2E = {
  url: string;
  pw: PairwiseApp;
  dir: string;
  close(): Promise<void>;
};

/**
 * The real app (built Remix + REST + socket.io) on a free port, with a throwaway SQLite file.
 * Expects `npx remix vite:build` to have produced build/server/index.js and build/client.
 */
export async function startApp(opts: { random?: () => number } = {}): Promise<E2E> {
  const buildFile = path.resolve("build/server/index.js");
  if (!fs.existsSync(buildFile)) throw new Error("build/server/index.js is missing: run `npx remix vite:build` before the browser tests");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pairwise-e2e-"));
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: `sqlite:${path.join(dir, "e2e.db")}`,
    PAIRWISE_DATA_DIR: dir,
    NODE_ENV: "production",
    PAIRWISE_SQLITE_SYNCHRONOUS: "NORMAL",
    PAIRWISE_LOG_REQUESTS: "0",
  });
  const pw = await createApp({
    config,
    remix: { kind: "build", buildPath: pathToFileURL(buildFile).href, clientDir: path.resolve("build/client") },
    random: opts.random,
  });
  await new Promise<void>((r) => pw.httpServer.listen(0, "127.0.0.1", () => r()));
  const addr = pw.httpServer.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    pw,
    dir,
    async close() {
      await pw.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

export async function makeUser(app: E2E, email: string, role: "admin" | "researcher" | "annotator", name?: string): Promise<SessionUser> {
  return app.pw.services.auth.createUser({ email, password: PASSWORD, role, name });
}

export type PairLine = { prompt: unknown; response_a: unknown; response_b: unknown; model_a?: string; model_b?: string };

export async function seedProject(
  app: E2E,
  owner: SessionUser,
  opts: { name: string; annotators?: SessionUser[]; pairs: PairLine[]; settings?: Record<string, unknown> },
): Promise<number> {
  const { services } = app.pw;
  const project = await services.projects.create(owner, { name: opts.name, guidelines: "Prefer the **more helpful** answer.", judgmentsPerPair: 1, ...opts.settings });
  for (const a of opts.annotators ?? []) await services.projects.addMember(owner, project.id, { email: a.email, role: "annotator" });
  const lines = opts.pairs.map((p) => `${JSON.stringify(p)}\n`);
  await services.imports.importPairs(owner, project.id, Readable.from(lines), { format: "jsonl", filename: "seed.jsonl" });
  return project.id;
}

/** A browser context already signed in (session cookie made through the service, not the form). */
export async function signedInContext(browser: Browser, app: E2E, user: SessionUser, viewport = { width: 1400, height: 900 }): Promise<BrowserContext> {
  const ctx = await browser.newContext({ viewport });
  const s = await app.pw.services.auth.createSession(user.id);
  await ctx.addCookies([{ name: "pairwise_session", value: encodeURIComponent(s.token), url: app.url, httpOnly: true, sameSite: "Lax" }]);
  return ctx;
}

/** Signs in through the login form, as a person would. */
export async function loginWithForm(page: Page, app: E2E, email: string, next?: string): Promise<void> {
  await page.goto(`${app.url}/login${next ? `?next=${encodeURIComponent(next)}` : ""}`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/login")), page.getByRole("button", { name: "Sign in" }).click()]);
}

export function simplePairs(n: number, tag = "pair"): PairLine[] {
  return Array.from({ length: n }, (_, i) => ({
    prompt: [
      { role: "system", content: "Be brief." },
      { role: "user", content: `Question ${tag} ${i + 1}: how do I reverse a list in Python?` },
    ],
    response_a: `Use slicing:\n\n\`\`\`python\nxs[::-1]\n\`\`\`\n\nThis is answer A for ${tag} ${i + 1}.`,
    response_b: `You can call \`xs.reverse()\`, which reverses **in place**. Answer B for ${tag} ${i + 1}.`,
    model_a: "secret-model-alpha",
    model_b: "secret-model-beta",
  }));
}

/** Screenshots for review, only when PAIRWISE_SCREENSHOTS names a folder. */
export async function shoot(page: Page, name: string) {
  const dir = process.env.PAIRWISE_SCREENSHOTS;
  if (!dir) return;
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(dir, `${name}-${scheme}.png`), fullPage: true });
  }
  await page.emulateMedia({ colorScheme: "light" });
}
