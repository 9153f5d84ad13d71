import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { api, makeUser, setupProject, startServer, type TestServer } from "../helpers/server.ts";

/**
 * The real Python worker (trainer/.venv/bin/pairwise-worker) against the real server: a reward
 * model trained on an exported snapshot, generations turned into pairs, and a worker killed with
 * SIGKILL mid-PPO whose job another worker resumes and finishes. Needs the trainer virtualenv
 * (`bash scripts/setup-python.sh`; scripts/test.sh sets it up before these tests run).
 */
const VENV = path.resolve("trainer/.venv/bin");
const haveVenv = fs.existsSync(path.join(VENV, "pairwise-worker"));
const MODEL_CACHE = path.resolve("data/test-cache/tiny-base");

let s: TestServer;
const procs: ChildProcess[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) if (p.exitCode === null) p.kill("SIGKILL");
  await s?.close();
});

beforeAll(() => {
  if (!haveVenv || fs.existsSync(path.join(MODEL_CACHE, "config.json"))) return;
  const r = spawnSync(path.join(VENV, "pairwise-train"), ["tiny-model", "--out", MODEL_CACHE], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tiny-model failed: ${r.stderr}`);
}, 300_000);

function startWorker(token: string, name: string): ChildProcess {
  const p = spawn(path.join(VENV, "pairwise-worker"), ["--server", s.url, "--token", token, "--name", name, "--poll-seconds", "0.5", "--work-dir", path.join(s.dir, `work-${name}`)], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, HF_HUB_OFFLINE: "1" },
  });
  p.stderr!.on("data", () => {});
  procs.push(p);
  return p;
}

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe.skipIf(!haveVenv)("the Python worker against the real server", () => {
  it("trains a reward model on an export snapshot and turns generations into pairs", async () => {
    s = await startServer({ env: { PAIRWISE_JOB_LEASE_SECONDS: "10" } });
    const res = await makeUser(s, "res@example.com", "researcher");
    const id = await setupProject(s, res);
    const base = (await api(s, "POST", `/projects/${id}/checkpoints`, { token: res.token, json: { name: "tiny", model_ref: MODEL_CACHE } })).body.checkpoint;
    const dataset = await s.pw.services.artifacts.putBuffer(fs.readFileSync("tests/fixtures/exports/trl.jsonl"), { name: "snapshot.jsonl", kind: "dataset" });
    const rm = (await api(s, "POST", `/projects/${id}/jobs`, { token: res.token, json: { kind: "train_reward", params: { config: { num_epochs: 1 } }, inputs: { dataset: dataset.artifact_id }, checkpoints: { model: base.id } } })).body.job;
    const gen = (await api(s, "POST", `/projects/${id}/jobs`, { token: res.token, json: { kind: "generate", params: { mode: "self", num_prompts: 5, seed: 3, max_new_tokens: 4, model_a_name: "tiny" }, checkpoints: { model_a: base.id } } })).body.job;
    const admin = await s.pw.services.auth.findUserByEmail("res@example.com");
    startWorker((await s.pw.services.jobs.createWorkerToken(admin!, "py")).token, "py");
    const done = await waitFor("both jobs", async () => {
      const jobs = (await api(s, "GET", `/projects/${id}/jobs`, { token: res.token })).body.jobs as { id: number; status: string; error: string | null }[];
      const failed = jobs.find((j) => j.status === "failed");
      if (failed) throw new Error(`job ${failed.id} failed: ${failed.error}`);
      return jobs.every((j) => j.status === "succeeded") && jobs;
    }, 240_000);
    expect(done).toHaveLength(2);
    const detail = (await api(s, "GET", `/jobs/${rm.id}`, { token: res.token })).body;
    expect(Object.keys(detail.metrics).length, "the worker streamed metrics").toBeGreaterThan(0);
    const cps = (await api(s, "GET", `/projects/${id}/checkpoints`, { token: res.token })).body.checkpoints;
    const reward = cps.find((c: { kind: string }) => c.kind === "reward");
    expect(reward).toMatchObject({ state: "candidate", job_id: rm.id, dataset_artifact_id: dataset.artifact_id });
    expect(JSON.stringify(reward.metrics)).toContain("accuracy");
    const progress = (await api(s, "GET", `/projects/${id}/progress`, { token: res.token })).body;
    expect(progress.pairs.total, `generate job ${gen.id} made 5 pairs`).toBe(5);

    // The trained reward model judges the generated pairs on the same worker (issue 6).
    const judge = (await api(s, "POST", `/projects/${id}/judges`, { token: res.token, json: { kind: "reward_model", name: "RM judge", config: {} } })).body.judge;
    const run = await api(s, "POST", `/projects/${id}/judges/${judge.id}/run`, { token: res.token, json: {} });
    expect(run.status, run.text).toBe(202);
    expect(run.body.job.inputs).toMatchObject({ reward_model: reward.artifact_id });
    await waitFor("the judge job", async () => {
      const j = (await api(s, "GET", `/jobs/${run.body.job.id}`, { token: res.token })).body.job;
      if (j.status === "failed") throw new Error(`judge job failed: ${j.error}`);
      return j.status === "succeeded";
    }, 120_000);
    const Database = (await import("better-sqlite3")).default;
    const d = new Database(s.dbPath, { readonly: true });
    const verdicts = d.prepare("SELECT pair_id, p_a, confidence FROM judge_verdicts WHERE judge_id = ? ORDER BY confidence").all(judge.id) as { pair_id: number; p_a: number; confidence: number }[];
    d.close();
    expect(verdicts).toHaveLength(5);
    for (const v of verdicts) {
      expect(v.p_a).toBeGreaterThanOrEqual(0);
      expect(v.p_a).toBeLessThanOrEqual(1);
      expect(v.confidence).toBeCloseTo(Math.max(v.p_a, 1 - v.p_a), 6);
    }
    // Route with the median confidence as the threshold: the confident half gets AI labels,
    // the rest goes to people.
    const threshold = Math.max(0.5, verdicts[2]!.confidence);
    expect((await api(s, "PUT", `/projects/${id}/hybrid`, { token: res.token, json: { routing: { enabled: true, threshold, auditShare: 0, minAudits: 0 } } })).status).toBe(200);
    const d2 = new Database(s.dbPath, { readonly: true });
    const routes = d2.prepare("SELECT p.id, p.route, (SELECT count(*) FROM judgments j WHERE j.pair_id = p.id AND j.source = 'ai') AS ai FROM pairs p ORDER BY p.id").all() as { id: number; route: string; ai: number }[];
    d2.close();
    const confident = new Set(verdicts.filter((v) => v.confidence >= threshold && v.p_a !== 0.5).map((v) => v.pair_id));
    for (const r of routes) {
      expect(r.route, `pair ${r.id}`).toBe(confident.has(r.id) ? "ai" : "human");
      expect(r.ai, `pair ${r.id}'s AI labels`).toBe(confident.has(r.id) ? 1 : 0);
    }
  }, 300_000);

  it("a worker killed with SIGKILL mid-PPO loses its lease; another worker resumes and finishes the job", async () => {
    s = await startServer({ env: { PAIRWISE_JOB_LEASE_SECONDS: "6" } });
    const res = await makeUser(s, "res@example.com", "researcher");
    const id = await setupProject(s, res);
    const base = (await api(s, "POST", `/projects/${id}/checkpoints`, { token: res.token, json: { name: "tiny", model_ref: MODEL_CACHE } })).body.checkpoint;
    const job = (
      await api(s, "POST", `/projects/${id}/jobs`, {
        token: res.token,
        json: { kind: "ppo", params: { reward: "task", num_prompts: 64, checkpoint_every: 2, config: { num_updates: 10, rollout_batch_size: 16, mini_batch_size: 8, ppo_epochs: 1, max_new_tokens: 4 } }, checkpoints: { policy: base.id } },
      })
    ).body.job;
    const admin = await s.pw.services.auth.findUserByEmail("res@example.com");
    const doomed = startWorker((await s.pw.services.jobs.createWorkerToken(admin!, "doomed")).token, "doomed");
    // Wait until the first worker has saved a resume point, then kill it without warning.
    await waitFor("a resume point", async () => {
      const row = await s.pw.db.selectFrom("jobs").select(["resume_step", "status"]).where("id", "=", job.id).executeTakeFirst();
      return row?.resume_step != null && row.status === "running";
    }, 240_000);
    doomed.kill("SIGKILL");
    const resumeStep = (await s.pw.db.selectFrom("jobs").select("resume_step").where("id", "=", job.id).executeTakeFirstOrThrow()).resume_step;
    startWorker((await s.pw.services.jobs.createWorkerToken(admin!, "survivor")).token, "survivor");
    const final = await waitFor("the job to finish on the second worker", async () => {
      const j = (await api(s, "GET", `/jobs/${job.id}`, { token: res.token })).body.job;
      if (j.status === "failed") throw new Error(`ppo failed: ${j.error}`);
      return j.status === "succeeded" && j;
    }, 240_000);
    expect(final).toMatchObject({ attempts: 2, worker_name: "survivor" });
    const log = (await api(s, "GET", `/jobs/${job.id}`, { token: res.token })).body.log as string[];
    expect(log.join("\n"), `the survivor resumed from step ${resumeStep}`).toMatch(/resum/i);
    const cps = (await api(s, "GET", `/projects/${id}/checkpoints`, { token: res.token })).body.checkpoints;
    expect(cps.find((c: { kind: string }) => c.kind === "policy")).toMatchObject({ job_id: job.id, parent_id: base.id });
  }, 400_000);
});
