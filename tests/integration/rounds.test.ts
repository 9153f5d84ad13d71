import crypto from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { type Actor, api, judgmentBody, makeUser, samplePairs, setupProject, startServer, type TestServer } from "../helpers/server.ts";

let s: TestServer;
afterEach(async () => {
  await s?.close();
});

type Call = (method: string, url: string, json?: unknown) => Promise<{ status: number; body: any }>;

async function fakeWorker(): Promise<{ token: string; call: Call }> {
  const admin = await s.pw.services.auth.findUserByEmail("res@example.com");
  const { token } = await s.pw.services.jobs.createWorkerToken(admin!, "fake");
  const call: Call = (method, url, json) => api(s, method, `/worker${url}`, { token, json });
  await call("POST", "/register", { name: "fake", capabilities: { device: "cpu", kinds: ["train_reward", "sft", "ppo", "evaluate", "generate"] } });
  return { token, call };
}

async function upload(token: string, text: string, kind: string) {
  const bytes = Buffer.from(text);
  const r = await fetch(`${s.url}/api/v1/worker/artifacts?name=out&kind=${kind}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "x-pairwise-sha256": crypto.createHash("sha256").update(bytes).digest("hex") },
    body: new Uint8Array(bytes),
  });
  return ((await r.json()) as { artifact_id: number }).artifact_id;
}

/** Does whatever job is next the way a real worker would report it, without training anything. */
async function runOneJob(w: { token: string; call: Call }): Promise<string | null> {
  const c = await w.call("POST", "/claim", {});
  if (c.status === 204) return null;
  const job = c.body.job;
  await w.call("POST", `/jobs/${job.id}/heartbeat`, { progress: { step: 1, total: 1 }, metrics: [{ step: 1, values: { "objective/score": 0.5 } }] });
  let outputs: Record<string, number> = {};
  let result: Record<string, number> = {};
  if (job.kind === "train_reward") {
    outputs = { model: await upload(w.token, `rm ${job.id}`, "checkpoint") };
    result = { "eval/accuracy": 0.91 };
  } else if (job.kind === "sft") {
    outputs = { model: await upload(w.token, `sft ${job.id}`, "checkpoint") };
    result = { "train/loss_last": 0.4 };
  } else if (job.kind === "ppo") {
    outputs = { model: await upload(w.token, `policy ${job.id}`, "checkpoint") };
    result = { "objective/score": 0.8, "objective/kl": 0.02 };
  } else if (job.kind === "evaluate") {
    result = { "eval/score": 0.7, "eval/kl": 0.03, "eval/task_accuracy": 0.6 };
  } else if (job.kind === "generate") {
    const n = job.params.num_prompts as number;
    const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ prompt: `${job.params.seed}-${i}`, response_a: `a-${job.id}-${i}`, response_b: `b-${job.id}-${i}`, model_a: job.params.model_a_name, model_b: job.params.model_b_name }));
    outputs = { generations: await upload(w.token, `${lines.join("\n")}\n`, "generations") };
    result = { count: n };
  }
  const done = await w.call("POST", `/jobs/${job.id}/complete`, { outputs, result });
  expect(done.status, JSON.stringify(done.body)).toBe(200);
  return job.kind;
}

async function judgeAll(anns: Actor[], id: number, pick: (left: string) => "left" | "right") {
  for (const a of anns) {
    for (;;) {
      const lease = await api(s, "GET", `/projects/${id}/assignments/next`, { token: a.token });
      if (lease.status === 204) break;
      const r = await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, { token: a.token, json: judgmentBody({ choice: pick(String(lease.body.left)), strength: 2 }) });
      expect(r.status).toBe(201);
    }
  }
}

describe("training rounds", () => {
  it("snapshot → reward → PPO → evaluate → generate → human A/B → promotion", async () => {
    s = await startServer();
    const res = await makeUser(s, "res@example.com", "researcher");
    const anns = [await makeUser(s, "a0@example.com", "annotator"), await makeUser(s, "a1@example.com", "annotator")];
    const id = await setupProject(s, res, { annotators: anns, pairs: samplePairs(4), settings: { judgmentsPerPair: 2, quality: { goldShare: 0 } } });
    await judgeAll(anns, id, (left) => (left.startsWith("answer A") ? "left" : "right"));
    const noBase = await api(s, "POST", `/projects/${id}/rounds`, { token: res.token, json: {} });
    expect(noBase.status).toBe(409);
    const base = (await api(s, "POST", `/projects/${id}/checkpoints`, { token: res.token, json: { name: "tiny base", model_ref: "/models/tiny" } })).body.checkpoint;
    const started = await api(s, "POST", `/projects/${id}/rounds`, {
      token: res.token,
      json: { prompts_source: "task", ppo_reward: "task", eval_prompts: 4, ab_prompts: 3, fresh_prompts: 2, win_rate_threshold: 0.6 },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const round = started.body.round;
    expect(round.steps.snapshot).toMatchObject({ status: "succeeded", detail: { rows: 4 } });
    expect(round.steps.reward.status).toBe("running");
    expect((await api(s, "POST", `/projects/${id}/rounds`, { token: res.token, json: {} })).status, "one running round at a time").toBe(409);

    const w = await fakeWorker();
    const kinds: string[] = [];
    for (let i = 0; i < 10; i++) {
      const k = await runOneJob(w);
      if (!k) break;
      kinds.push(k);
      await new Promise((r) => setTimeout(r, 50)); // the orchestrator reacts to job events
    }
    expect(kinds).toEqual(["train_reward", "ppo", "evaluate", "generate", "generate"]);
    // The round's sampling settings reach PPO's rollouts and the evaluation.
    const jobs = (await api(s, "GET", `/projects/${id}/jobs`, { token: res.token })).body.jobs as { kind: string; params: any }[];
    expect(jobs.find((j) => j.kind === "ppo")!.params.config).toMatchObject({ temperature: 0.7, max_new_tokens: 64 });
    expect(jobs.find((j) => j.kind === "evaluate")!.params).toMatchObject({ temperature: 0.7, max_new_tokens: 64, num_prompts: 4 });
    let view = (await api(s, "GET", `/rounds/${round.id}`, { token: res.token })).body.round;
    expect(view.status).toBe("waiting_ab");
    expect(view.steps.ppo.detail).toMatchObject({ "objective/kl": 0.02 });
    expect(view.ab).toMatchObject({ pairs: 3, judged_pairs: 0, win_rate: null });
    const cps = (await api(s, "GET", `/projects/${id}/checkpoints`, { token: res.token })).body.checkpoints;
    const candidate = cps.find((c: { id: number }) => c.id === view.candidate_policy_id);
    expect(candidate).toMatchObject({ kind: "policy", state: "candidate", parent_id: base.id, metrics: { "eval/kl": 0.03, "eval/task_accuracy": 0.6 } });
    const rm = cps.find((c: { id: number }) => c.id === view.reward_checkpoint_id);
    expect(rm).toMatchObject({ kind: "reward", dataset_export_id: round.steps.snapshot.detail.export_id });

    // Annotators prefer the candidate (A side) on the A/B pairs, and the fresh pairs too.
    await judgeAll(anns, id, (left) => (left.startsWith("a-") ? "left" : "right"));
    await new Promise((r) => setTimeout(r, 800));
    view = (await api(s, "GET", `/rounds/${round.id}`, { token: res.token })).body.round;
    expect(view.ab).toMatchObject({ pairs: 3, judged_pairs: 3, candidate_wins: 6, win_rate: 1 });
    expect(view.status).toBe("succeeded");
    expect(view.decision).toBe("promoted");
    const after = (await api(s, "GET", `/projects/${id}/checkpoints`, { token: res.token })).body.checkpoints;
    expect(after.find((c: { id: number }) => c.id === view.candidate_policy_id).state).toBe("champion");
    expect(after.find((c: { id: number }) => c.id === view.reward_checkpoint_id).state).toBe("champion");
  });

  it("annotators' rewrites become an SFT step before PPO; PPO starts from the fine-tuned policy", async () => {
    s = await startServer();
    const res = await makeUser(s, "res@example.com", "researcher");
    const ann = await makeUser(s, "a0@example.com", "annotator");
    const id = await setupProject(s, res, { annotators: [ann], pairs: samplePairs(3), settings: { judgmentsPerPair: 1, quality: { goldShare: 0 } } });
    await api(s, "PUT", `/projects/${id}/hybrid`, { token: res.token, json: { rewrites: { mode: "worse" } } });
    for (;;) {
      const lease = await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token });
      if (lease.status === 204) break;
      const chosen = String(lease.body.left).startsWith("answer A") ? "left" : "right";
      const worse = chosen === "left" ? "right" : "left";
      const r = await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, { token: ann.token, json: judgmentBody({ choice: chosen, strength: 2, rewrites: [{ side: worse, text: `rewritten ${lease.body.prompt}` }] }) });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    const base = (await api(s, "POST", `/projects/${id}/checkpoints`, { token: res.token, json: { name: "tiny base", model_ref: "/models/tiny" } })).body.checkpoint;
    const started = await api(s, "POST", `/projects/${id}/rounds`, { token: res.token, json: { prompts_source: "task", ppo_reward: "task", eval_prompts: 2, ab_prompts: 2, fresh_prompts: 0, sft: { num_epochs: 2 } } });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    // 3 original pairs + 3 rewrite pairs (rewrite beats original) in the reward model's snapshot.
    expect(started.body.round.steps.snapshot.detail.rows).toBe(6);
    expect(started.body.round.steps.sft).toMatchObject({ status: "pending", detail: { rows: 3 } });
    const w = await fakeWorker();
    const kinds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const k = await runOneJob(w);
      if (!k) break;
      kinds.push(k);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(kinds).toEqual(["train_reward", "sft", "ppo", "evaluate"]);
    const jobs = (await api(s, "GET", `/projects/${id}/jobs`, { token: res.token })).body.jobs as { id: number; kind: string; params: any; inputs: Record<string, number> }[];
    const sft = jobs.find((j) => j.kind === "sft")!;
    expect(sft.params).toMatchObject({ config: { num_epochs: 2 }, parent_checkpoint_id: base.id, model_ref: "/models/tiny" });
    const demos = await s.pw.services.artifacts.readText(sft.inputs.dataset!);
    expect(demos.trim().split("\n").map((l) => JSON.parse(l).completion).sort()).toEqual(["rewritten q 0?", "rewritten q 1?", "rewritten q 2?"]);
    const view = (await api(s, "GET", `/rounds/${started.body.round.id}`, { token: res.token })).body.round;
    expect(view.steps.sft.status).toBe("succeeded");
    const cps = (await api(s, "GET", `/projects/${id}/checkpoints`, { token: res.token })).body.checkpoints as { id: number; kind: string; parent_id: number | null }[];
    const tuned = cps.find((c) => c.kind === "sft")!;
    expect(tuned.parent_id).toBe(base.id);
    expect(jobs.find((j) => j.kind === "ppo")!.params.parent_checkpoint_id, "PPO starts from the SFT checkpoint").toBe(tuned.id);
    expect(cps.find((c) => c.id === view.candidate_policy_id)!.parent_id).toBe(tuned.id);
  });

  it("a failed step fails the round; retry re-runs the step", async () => {
    s = await startServer();
    const res = await makeUser(s, "res@example.com", "researcher");
    const anns = [await makeUser(s, "a0@example.com", "annotator")];
    const id = await setupProject(s, res, { annotators: anns, pairs: samplePairs(2), settings: { judgmentsPerPair: 1, quality: { goldShare: 0 } } });
    await judgeAll(anns, id, () => "left");
    await api(s, "POST", `/projects/${id}/checkpoints`, { token: res.token, json: { name: "base", model_ref: "/m" } });
    const round = (await api(s, "POST", `/projects/${id}/rounds`, { token: res.token, json: { prompts_source: "task" } })).body.round;
    const w = await fakeWorker();
    const c = await w.call("POST", "/claim", {});
    await w.call("POST", `/jobs/${c.body.job.id}/fail`, { error: "bad data", retryable: false });
    await new Promise((r) => setTimeout(r, 100));
    let view = (await api(s, "GET", `/rounds/${round.id}`, { token: res.token })).body.round;
    expect(view).toMatchObject({ status: "failed", steps: { reward: { status: "failed", detail: { error: "bad data" } } } });
    view = (await api(s, "POST", `/rounds/${round.id}/retry`, { token: res.token })).body.round;
    expect(view.status).toBe("running");
    expect(await runOneJob(w)).toBe("train_reward");
    await new Promise((r) => setTimeout(r, 100));
    view = (await api(s, "GET", `/rounds/${round.id}`, { token: res.token })).body.round;
    expect(view.steps.reward.status).toBe("succeeded");
    expect(view.steps.ppo.status).toBe("running");
  });
});
