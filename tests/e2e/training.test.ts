import crypto from "node:crypto";
import { type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SessionUser } from "../../server/domain/auth/auth-service.ts";
import { type E2E, launchBrowser, makeUser, seedProject, shoot, signedInContext, simplePairs, startApp } from "./harness.ts";

let app: E2E;
let browser: Browser;
let researcher: SessionUser;
let annotator: SessionUser;
let projectId: number;

/** A worker speaking the real worker HTTP protocol (docs/worker-protocol.md), training nothing. */
class FakeWorker {
  constructor(private readonly token: string) {}
  async call(method: string, url: string, json?: unknown): Promise<{ status: number; body: any }> {
    const r = await fetch(`${app.url}/api/v1/worker${url}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(json === undefined ? {} : { "content-type": "application/json" }) },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  }
  async upload(text: string, kind: string): Promise<number> {
    const bytes = Buffer.from(text);
    const r = await fetch(`${app.url}/api/v1/worker/artifacts?name=out&kind=${kind}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${this.token}`, "content-type": "application/octet-stream", "x-pairwise-sha256": crypto.createHash("sha256").update(bytes).digest("hex") },
      body: new Uint8Array(bytes),
    });
    expect([200, 201], "artifact upload").toContain(r.status);
    return ((await r.json()) as { artifact_id: number }).artifact_id;
  }
  async heartbeat(jobId: number, body: unknown) {
    const r = await this.call("POST", `/jobs/${jobId}/heartbeat`, body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body as { cancel: boolean };
  }
}

/** Does the next job the way a real worker reports it (copied from tests/integration/rounds.test.ts). */
async function runOneJob(w: FakeWorker): Promise<string> {
  // The round queues its next job when it hears the last one finished; give it a moment.
  let c = await w.call("POST", "/claim", {});
  for (let i = 0; c.status === 204 && i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    c = await w.call("POST", "/claim", {});
  }
  expect(c.status, "a job is waiting").toBe(200);
  const job = c.body.job as { id: number; kind: string; params: Record<string, unknown> };
  await w.heartbeat(job.id, { progress: { step: 1, total: 1 }, metrics: [{ step: 1, values: { "objective/score": 0.5 } }] });
  let outputs: Record<string, number> = {};
  let result: Record<string, number> = {};
  if (job.kind === "ppo") {
    outputs = { model: await w.upload(`policy ${job.id}`, "checkpoint") };
    result = { "objective/score": 0.8, "objective/kl": 0.02 };
  } else if (job.kind === "evaluate") {
    result = { "eval/score": 0.7, "eval/kl": 0.03, "eval/task_accuracy": 0.6 };
  } else if (job.kind === "generate") {
    const n = job.params.num_prompts as number;
    const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ prompt: `${String(job.params.seed)}-${i}`, response_a: `a-${job.id}-${i}`, response_b: `b-${job.id}-${i}`, model_a: job.params.model_a_name, model_b: job.params.model_b_name }));
    outputs = { generations: await w.upload(`${lines.join("\n")}\n`, "generations") };
    result = { count: n };
  }
  const done = await w.call("POST", `/jobs/${job.id}/complete`, { outputs, result });
  expect(done.status, JSON.stringify(done.body)).toBe(200);
  return job.kind;
}

async function judgeAll(user: SessionUser): Promise<number> {
  const { annotation } = app.pw.services;
  let n = 0;
  for (;;) {
    const view = await annotation.next(user, projectId);
    if (!view) return n;
    await annotation.judge(user, view.assignment_id, { choice: "left", strength: 2, time_on_task_ms: 5000, idempotency_key: `train-seed-${view.assignment_id}` });
    n++;
  }
}

const step = (page: Page, name: string) => page.getByTestId(`step-${name}`);

beforeAll(async () => {
  app = await startApp();
  browser = await launchBrowser();
  researcher = await makeUser(app, "train-res@example.com", "researcher", "Tess Trainer");
  annotator = await makeUser(app, "train-ann@example.com", "annotator", "Ann Labeler");
  projectId = await seedProject(app, researcher, { name: "RLHF loop", annotators: [annotator], pairs: simplePairs(6, "t"), settings: { judgmentsPerPair: 1, quality: { goldShare: 0 } } });
  expect(await judgeAll(annotator), "every pair judged, so the snapshot has rows").toBe(6);
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe("training page", () => {
  it("registers a base model, starts a round from the form, and follows a worker's progress live", async () => {
    const ctx = await signedInContext(browser, app, researcher);
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${app.url}/projects/${projectId}`);
    await page.getByRole("link", { name: "Training", exact: true }).click();
    await page.waitForURL(`**/projects/${projectId}/training`);
    await page.getByTestId("live-state").filter({ hasText: "Live" }).waitFor();

    // Register the base model.
    await page.getByLabel("Base model name").fill("tiny base");
    await page.getByLabel("Hub id or path").fill("/models/tiny");
    await page.getByRole("button", { name: "Register base model" }).click();
    const baseRow = page.getByTestId("checkpoint-row").filter({ hasText: "tiny base" });
    await baseRow.waitFor();
    expect(await baseRow.getByTestId("checkpoint-state").textContent(), "a registered base model is the champion").toContain("Champion");

    // The settings form: defaults prefilled, explanations shown, JSON overrides validated.
    await page.getByRole("button", { name: "Start round" }).click();
    const form = page.getByTestId("round-form");
    expect(await form.getByLabel("Evaluation prompts").inputValue()).toBe("64");
    expect(await form.getByLabel("Win-rate threshold").inputValue()).toBe("0.55");
    expect(await form.textContent()).toContain("ties count half");
    const ppo = form.getByLabel("PPO overrides");
    await ppo.fill('{ "kl_coef": ');
    await form.getByText(/Not valid JSON/).waitFor();
    expect(await form.getByRole("button", { name: "Start round" }).isDisabled(), "invalid JSON blocks the submit").toBe(true);
    await shoot(page, "training-form");
    await ppo.fill('{ "kl_coef": 0.05 }');
    await form.getByLabel("Prompts from").selectOption("task");
    await form.getByLabel("PPO reward").selectOption("task");
    await form.getByLabel("Evaluation prompts").fill("4");
    await form.getByLabel("A/B prompts").fill("3");
    await form.getByLabel("Fresh prompts").fill("2");
    await form.getByRole("button", { name: "Start round" }).click();

    await expect.poll(() => step(page, "snapshot").getAttribute("data-status")).toBe("succeeded");
    expect(await step(page, "snapshot").getByTestId("fig-snapshot-rows").textContent()).toBe("6");
    expect(await step(page, "reward").getAttribute("data-status")).toBe("running");
    expect(await step(page, "reward").getByTestId("step-state").textContent(), "state in words, not only color").toContain("Running");
    expect(await page.getByTestId("round-row").count(), "the round list has the new round").toBe(1);
    const round = (await app.pw.services.rounds.list(researcher, projectId))[0]!;
    expect(round.config.ppo).toEqual({ kl_coef: 0.05 });
    expect(round.config.eval_prompts).toBe(4);

    // Everything from here on must arrive over the socket: mark the window and check it survives.
    await page.evaluate(() => ((window as unknown as { __noReload: boolean }).__noReload = true));

    const { token } = await app.pw.services.jobs.createWorkerToken(researcher, "fake-gpu");
    const w = new FakeWorker(token);
    expect((await w.call("POST", "/register", { name: "fake-gpu", capabilities: { device: "cuda", gpu_name: "H200", gpu_memory_mb: 143771, kinds: ["train_reward", "ppo", "evaluate", "generate"] } })).status).toBe(200);
    const claimed = await w.call("POST", "/claim", {});
    expect(claimed.status).toBe(200);
    const rewardJob = claimed.body.job as { id: number; kind: string };
    expect(rewardJob.kind).toBe("train_reward");

    const workerRow = page.getByTestId("worker-row").filter({ hasText: "fake-gpu" });
    await expect.poll(() => workerRow.textContent()).toContain("Online");
    expect(await workerRow.textContent()).toContain("H200");
    await expect.poll(() => workerRow.textContent()).toContain(`job ${rewardJob.id}`);

    await w.heartbeat(rewardJob.id, { progress: { step: 3, total: 10 }, metrics: [{ step: 3, values: { "train/loss": 0.62, "eval/accuracy": 0.7 } }], log: ["epoch 1 step 3 loss 0.62"] });
    const bar = step(page, "reward").getByRole("progressbar");
    await expect.poll(() => bar.getAttribute("aria-valuenow")).toBe("3");
    expect(await bar.getAttribute("aria-valuemax")).toBe("10");
    await expect.poll(() => step(page, "reward").getByTestId("fig-reward-eval-accuracy").textContent()).toBe("70.0%");
    const jobRow = page.locator(`[data-testid="job-row"][data-job="${rewardJob.id}"]`);
    await expect.poll(() => jobRow.getByRole("progressbar").getAttribute("aria-valuenow")).toBe("3");
    expect(await jobRow.textContent()).toContain("fake-gpu");
    await shoot(page, "training");

    // The job page: one chart per metric, growing as heartbeats arrive.
    const jobPage = await ctx.newPage();
    jobPage.on("pageerror", (e) => errors.push(e.message));
    await jobPage.goto(`${app.url}/projects/${projectId}/jobs/${rewardJob.id}`);
    await jobPage.getByTestId("live-state").filter({ hasText: "Live" }).waitFor();
    const lossChart = jobPage.locator('[data-testid="metric-chart"][data-metric="train/loss"]');
    expect(await lossChart.getAttribute("data-points")).toBe("1");
    expect(await jobPage.getByTestId("metric-chart").count(), "one chart per metric name").toBe(2);
    expect(await jobPage.getByTestId("job-log").textContent()).toContain("epoch 1 step 3 loss 0.62");
    await jobPage.evaluate(() => ((window as unknown as { __noReload: boolean }).__noReload = true));
    for (const [i, loss] of [0.51, 0.44, 0.4].entries()) {
      await w.heartbeat(rewardJob.id, { progress: { step: 4 + i * 2, total: 10 }, metrics: [{ step: 4 + i * 2, values: { "train/loss": loss } }], log: [`step ${4 + i * 2} loss ${loss}`] });
    }
    await expect.poll(() => lossChart.getAttribute("data-points"), { timeout: 10_000 }).toBe("4");
    expect(await lossChart.getByTestId("metric-last").textContent()).toBe("0.4");
    await expect.poll(() => jobPage.getByRole("progressbar").getAttribute("aria-valuenow")).toBe("8");
    await expect.poll(() => jobPage.getByTestId("job-log").textContent(), { timeout: 10_000 }).toContain("step 8 loss 0.4");
    await shoot(jobPage, "job");

    // Finish the reward job: upload the model, complete; the pipeline moves on to PPO by itself.
    const model = await w.upload(`reward model ${rewardJob.id}`, "checkpoint");
    const done = await w.call("POST", `/jobs/${rewardJob.id}/complete`, { outputs: { model }, result: { "eval/accuracy": 0.91 } });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    await expect.poll(() => step(page, "reward").getAttribute("data-status"), { timeout: 10_000 }).toBe("succeeded");
    await expect.poll(() => step(page, "ppo").getAttribute("data-status")).toBe("running");
    expect(await step(page, "reward").getByTestId("fig-reward-eval-accuracy").textContent()).toBe("91.0%");
    await expect.poll(() => jobPage.getByTestId("job-state").textContent()).toContain("Succeeded");
    const rmRow = page.getByTestId("checkpoint-row").filter({ hasText: "reward r1" });
    await rmRow.waitFor();
    expect(await rmRow.getByTestId("checkpoint-state").textContent()).toContain("Candidate");
    expect(await rmRow.getByRole("link", { name: `Job ${rewardJob.id}` }).count()).toBe(1);
    expect(await rmRow.getByRole("link", { name: /Export #\d+/ }).count(), "the reward model links its dataset export").toBe(1);

    // The PPO job waits in the queue: cancel it from the jobs table; the round says so, and Retry re-queues it.
    const ppoJobId = (await app.pw.services.rounds.list(researcher, projectId))[0]!.steps.ppo.job_ids[0]!;
    const ppoRow = page.locator(`[data-testid="job-row"][data-job="${ppoJobId}"]`);
    await expect.poll(() => ppoRow.getAttribute("data-status")).toBe("queued");
    await ppoRow.getByRole("button", { name: "Cancel" }).click();
    await expect.poll(() => ppoRow.getAttribute("data-status")).toBe("cancelled");
    expect(await ppoRow.getByTestId("job-state").textContent()).toContain("Cancelled");
    await expect.poll(() => page.getByTestId("round-state").textContent(), { timeout: 10_000 }).toContain("Cancelled");
    await page.getByRole("button", { name: "Retry" }).click();
    await expect.poll(() => step(page, "ppo").getAttribute("data-status")).toBe("running");
    await expect.poll(() => page.getByTestId("round-state").textContent()).toContain("Running");
    expect((await app.pw.services.jobs.list(researcher, projectId)).filter((j) => j.kind === "ppo" && j.status === "queued")).toHaveLength(1);

    // The rest of the round: PPO, evaluate and both generate jobs, then the A/B test waits for people.
    for (let i = 0; i < 4; i++) await runOneJob(w);
    await expect.poll(() => page.getByTestId("round-state").textContent(), { timeout: 10_000 }).toContain("Waiting for A/B");
    expect(await step(page, "ppo").getByTestId("fig-ppo-objective-kl").textContent()).toBe("0.02");
    expect(await step(page, "evaluate").getByTestId("fig-evaluate-eval-task_accuracy").textContent()).toBe("60.0%");
    await expect.poll(() => step(page, "ab_test").getByTestId("fig-ab-judged").textContent()).toBe("0/3");
    expect(await step(page, "ab_test").getByTestId("fig-ab-threshold").textContent()).toBe("55%");
    expect(await step(page, "ppo").getByTestId("step-error").count(), "a retried step no longer shows its old error").toBe(0);
    await shoot(page, "training-ab");
    await page.getByRole("button", { name: "Keep champion" }).click();
    await expect.poll(() => page.getByTestId("round-state").textContent()).toContain("Succeeded");
    expect(await page.getByTestId("pipeline").textContent()).toContain("Champion kept");

    // Checkpoints: promote the candidate policy, retire the base, roll the base back.
    const policyRow = page.locator('[data-testid="checkpoint-row"][data-kind="policy"]');
    await policyRow.getByTestId("checkpoint-promote").click();
    await expect.poll(() => policyRow.getAttribute("data-state")).toBe("champion");
    const base = page.locator('[data-testid="checkpoint-row"][data-kind="base"]');
    await base.getByTestId("checkpoint-retire").click();
    await expect.poll(() => base.getAttribute("data-state")).toBe("retired");
    page.once("dialog", (d) => void d.accept());
    await base.getByTestId("checkpoint-rollback").click();
    await expect.poll(() => base.getAttribute("data-state")).toBe("champion");

    expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload), "the training page never reloaded").toBe(true);
    expect(await jobPage.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload), "the job page never reloaded").toBe(true);
    expect(errors).toEqual([]);
    await ctx.close();
  });

  it("shows a new worker's token once, with the command to run", async () => {
    const ctx = await signedInContext(browser, app, researcher);
    const page = await ctx.newPage();
    await page.goto(`${app.url}/projects/${projectId}/training`);
    await page.getByRole("button", { name: "Add worker" }).click();
    await page.getByLabel("Worker name").fill("gpu-box-2");
    await page.getByRole("button", { name: "Create token" }).click();
    const cmd = await page.getByTestId("worker-command").textContent();
    expect(cmd).toMatch(new RegExp(`^pairwise-worker --server ${app.url.replace(/[.]/g, "\\.")} --token pww_\\S+$`));
    const token = cmd!.split("--token ")[1]!;
    expect(await app.pw.services.jobs.workerForToken(token), "the shown token works").toMatchObject({ name: "gpu-box-2" });
    await page.reload();
    expect(await page.getByTestId("worker-command").count(), "the token is not shown again").toBe(0);
    await ctx.close();
  });

  it("keeps annotators out of the training and job pages", async () => {
    const jobId = (await app.pw.services.jobs.list(researcher, projectId))[0]!.id;
    const ctx = await signedInContext(browser, app, annotator);
    const page = await ctx.newPage();
    for (const url of [`/projects/${projectId}/training`, `/projects/${projectId}/jobs/${jobId}`]) {
      await page.goto(`${app.url}${url}`);
      expect(new URL(page.url()).pathname, `${url} redirects annotators`).toBe(`/projects/${projectId}/annotate`);
    }
    await ctx.close();
  });
});
