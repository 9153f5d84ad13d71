/**
 * Hands-free demo of the closed loop on the built-in verifiable task: a real server, a real
 * Python worker, and simulated annotators (the task's scripted oracle with label noise) going
 * through the same REST API as people.
 *
 *   npm run demo -- --simulate [--rounds 3] [--annotators 3] [--noise 0.1] [--pairs 64]
 *
 * Prints per round: the reward model's held-out accuracy, the policy's task accuracy, and the
 * candidate's A/B win rate against the champion.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createApp } from "../server/app.ts";
import { loadConfig } from "../server/config.ts";
import { oraclePrefer } from "../server/demo/oracle.ts";
import { ARITHMETIC_GUIDELINES } from "../server/demo/seed.ts";

const { values } = parseArgs({
  options: {
    simulate: { type: "boolean", default: false },
    rounds: { type: "string", default: "3" },
    annotators: { type: "string", default: "3" },
    noise: { type: "string", default: "0.1" },
    pairs: { type: "string", default: "64" },
    "round-timeout": { type: "string", default: "900" },
    keep: { type: "boolean", default: false },
    // The tiny model needs a larger step than the literature's 1e-5 for 7B-scale reward models.
    "reward-lr": { type: "string", default: "3e-4" },
    "reward-epochs": { type: "string", default: "3" },
    "ppo-reward": { type: "string", default: "reward_model" },
  },
});
if (!values.simulate) {
  console.error("usage: npm run demo -- --simulate [--rounds 3] [--annotators 3] [--noise 0.1] [--pairs 64]\n(the interactive demo is `bash scripts/start.sh`)");
  process.exit(2);
}
const ROUNDS = Number(values.rounds);
const NOISE = Number(values.noise);
const VENV = path.resolve("trainer/.venv/bin");
if (!fs.existsSync(path.join(VENV, "pairwise-worker"))) {
  console.error("The trainer's virtualenv is missing: run `bash scripts/setup-python.sh` first.");
  process.exit(1);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pairwise-demo-"));
const log = (s: string) => console.log(`[demo] ${s}`);
let worker: ChildProcess | null = null;
let seed = 20261128;
const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);

const modelDir = fs.existsSync("data/models/tiny-base/config.json") ? path.resolve("data/models/tiny-base") : path.join(dir, "tiny-base");
if (!fs.existsSync(path.join(modelDir, "config.json"))) {
  log("building the tiny base policy…");
  const r = spawnSync(path.join(VENV, "pairwise-train"), ["tiny-model", "--out", modelDir], { stdio: "inherit" });
  if (r.status !== 0) process.exit(1);
}

const config = loadConfig({ ...process.env, DATABASE_URL: `sqlite:${path.join(dir, "demo.db")}`, PAIRWISE_DATA_DIR: dir, NODE_ENV: "production" });
const pw = await createApp({ config, remix: { kind: "none" } });
await new Promise<void>((r) => pw.httpServer.listen(0, "127.0.0.1", () => r()));
const addr = pw.httpServer.address();
const base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
const s = pw.services;

async function call(token: string, method: string, url: string, json?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/api/v1${url}`, { method, headers: { authorization: `Bearer ${token}`, ...(json ? { "content-type": "application/json" } : {}) }, body: json ? JSON.stringify(json) : undefined });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function shutdown(code: number) {
  worker?.kill("SIGTERM");
  await pw.close();
  if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
  else log(`kept ${dir}`);
  process.exit(code);
}

try {
  const admin = await s.auth.createUser({ email: "researcher@demo.local", password: "demo-password", role: "admin" });
  const adminToken = (await s.auth.createToken(admin.id, "demo")).token;
  const annotators: { id: number; email: string; token: string }[] = [];
  for (let i = 0; i < Number(values.annotators); i++) {
    const u = await s.auth.createUser({ email: `annotator${i}@demo.local`, password: "demo-password", role: "annotator" });
    annotators.push({ ...u, token: (await s.auth.createToken(u.id, "demo")).token });
  }
  const project = await s.projects.create(admin, { name: "Arithmetic RLHF loop (simulated)", guidelines: ARITHMETIC_GUIDELINES, scheme: { strength: "off", rationale: { mode: "off", minLength: 0 } }, judgmentsPerPair: 1, quality: { goldShare: 0 } });
  for (const a of annotators) await s.projects.addMember(admin, project.id, { email: a.email, role: "annotator" });
  const baseCk = await s.checkpoints.register(admin, project.id, { kind: "base", name: "tiny base", model_ref: modelDir, champion: true });
  const { token: workerToken } = await s.jobs.createWorkerToken(admin, "demo-cpu");
  worker = spawn(path.join(VENV, "pairwise-worker"), ["--server", base, "--token", workerToken, "--name", "demo-cpu"], { stdio: ["ignore", "ignore", "inherit"] });

  const waitJob = async (jobId: number, timeoutS: number) => {
    const t0 = Date.now();
    for (;;) {
      const j = (await call(adminToken, "GET", `/jobs/${jobId}`)).body.job;
      if (j.status === "succeeded") return j;
      if (j.status === "failed" || j.status === "cancelled") throw new Error(`job ${jobId} (${j.kind}) ${j.status}: ${j.error}`);
      if (Date.now() - t0 > timeoutS * 1000) throw new Error(`job ${jobId} did not finish within ${timeoutS} s`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  };

  /** Every simulated annotator judges whatever is available to them with the noisy oracle. */
  const judgeEverything = async () => {
    let n = 0;
    for (const a of annotators) {
      for (;;) {
        const lease = await call(a.token, "GET", `/projects/${project.id}/assignments/next`);
        if (lease.status === 204) break;
        const { prompt, left, right, assignment_id } = lease.body as { prompt: string; left: string; right: string; assignment_id: number };
        const pick = oraclePrefer(prompt, left, right, NOISE, rand);
        const choice = pick === "a" ? "left" : pick === "b" ? "right" : "tie";
        const r = await call(a.token, "POST", `/assignments/${assignment_id}/judgment`, { choice, idempotency_key: crypto.randomUUID(), time_on_task_ms: 1500 });
        if (r.status !== 201) throw new Error(`judgment refused: ${JSON.stringify(r.body)}`);
        n++;
      }
    }
    return n;
  };

  log(`generating ${values.pairs} initial pairs from the base policy…`);
  const gen = await s.jobs.createByUser(admin, project.id, {
    kind: "generate",
    params: { mode: "self", purpose: "seed", num_prompts: Number(values.pairs), seed: 1, temperature: 1.0, max_new_tokens: 6, model_a_name: "tiny base", model_b_name: "tiny base" },
    checkpoints: { model_a: baseCk.id },
  });
  await waitJob(gen.id, 300);
  // The base policy on the same held-out prompts and sampling the rounds' evaluations use.
  const baseEval = await s.jobs.createByUser(admin, project.id, {
    kind: "evaluate",
    params: { reward: "task", num_prompts: 64, seed: 7_777, temperature: 0.7, max_new_tokens: 6 },
    checkpoints: { policy: baseCk.id, reference: baseCk.id },
  });
  const baseAccuracy = (await waitJob(baseEval.id, 300)).result?.["eval/task_accuracy"] as number | undefined;
  log(`base policy task accuracy on the held-out prompts: ${baseAccuracy?.toFixed(3)}`);
  const rows: { round: number; rmAccuracy: unknown; taskAccuracy: unknown; winRate: unknown; decision: unknown; judged: number; seconds: number }[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const t0 = Date.now();
    const judged = await judgeEverything();
    log(`round ${r}: ${judged} judgments from ${annotators.length} simulated annotators (noise ${NOISE}); training…`);
    const started = await call(adminToken, "POST", `/projects/${project.id}/rounds`, {
      prompts_source: "task",
      ppo_reward: values["ppo-reward"] === "task" ? "task" : "reward_model",
      reward: { learning_rate: Number(values["reward-lr"]), num_epochs: Number(values["reward-epochs"]) },
      eval_prompts: 64,
      ab_prompts: 32,
      fresh_prompts: Number(values.pairs),
      ppo_prompts: 64,
      max_new_tokens: 6,
      temperature: 0.7,
      win_rate_threshold: 0.5,
      seed: r,
    });
    if (started.status !== 201) throw new Error(`round ${r} did not start: ${JSON.stringify(started.body)}`);
    const roundId = started.body.round.id as number;
    let view;
    for (const deadline = Date.now() + Number(values["round-timeout"]) * 1000; ; ) {
      view = (await call(adminToken, "GET", `/rounds/${roundId}`)).body.round;
      if (view.status === "waiting_ab" || view.status === "succeeded") break;
      if (view.status === "failed" || view.status === "cancelled") throw new Error(`round ${r} ${view.status}: ${JSON.stringify(Object.values(view.steps).find((st: any) => st.status === "failed"))}`);
      if (Date.now() > deadline) throw new Error(`round ${r} timed out`);
      await new Promise((res) => setTimeout(res, 1500));
    }
    const abJudged = await judgeEverything();
    for (let i = 0; i < 20 && view.status !== "succeeded"; i++) {
      await new Promise((res) => setTimeout(res, 500));
      view = (await call(adminToken, "GET", `/rounds/${roundId}`)).body.round;
    }
    if (view.status !== "succeeded") view = (await call(adminToken, "POST", `/rounds/${roundId}/decide`, {})).body.round;
    const rmDetail = view.steps.reward.detail as Record<string, unknown>;
    const rmAccuracy = rmDetail["eval/accuracy"] ?? rmDetail.accuracy ?? Object.entries(rmDetail).find(([k]) => k.includes("accuracy"))?.[1];
    const evalDetail = view.steps.evaluate.detail as Record<string, unknown>;
    rows.push({ round: r, rmAccuracy, taskAccuracy: evalDetail["eval/task_accuracy"], winRate: view.ab?.win_rate, decision: view.decision, judged: judged + abJudged, seconds: (Date.now() - t0) / 1000 });
    const fmt = (x: unknown) => (typeof x === "number" ? x.toFixed(3) : String(x));
    log(`round ${r}: reward model held-out accuracy ${fmt(rmAccuracy)}, policy task accuracy ${fmt(evalDetail["eval/task_accuracy"])}, candidate win rate vs champion ${fmt(view.ab?.win_rate)} → ${view.decision}`);
  }
  console.log(`\nbase policy task accuracy ${baseAccuracy?.toFixed(3) ?? "—"} (64 held-out prompts, T = 0.7)`);
  console.log("\nround  judgments  RM held-out acc  policy task acc  A/B win rate  decision        seconds");
  for (const row of rows) {
    const f = (x: unknown) => (typeof x === "number" ? x.toFixed(3) : "—").padStart(15);
    console.log(`${String(row.round).padEnd(6)} ${String(row.judged).padStart(9)} ${f(row.rmAccuracy)}  ${f(row.taskAccuracy)}  ${f(row.winRate).slice(3)}  ${String(row.decision).padEnd(14)} ${row.seconds.toFixed(0).padStart(7)}`);
  }
  await shutdown(0);
} catch (e) {
  console.error(`[demo] failed: ${(e as Error).message}`);
  await shutdown(1);
}
