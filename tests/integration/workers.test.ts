import crypto from "node:crypto";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { api, makeUser, setupProject, startServer, TestClock, type TestServer } from "../helpers/server.ts";

let s: TestServer;
afterEach(async () => {
  await s?.close();
});

const CAPS = { device: "cpu", gpu_name: null, gpu_memory_mb: null, kinds: ["train_reward", "generate", "ppo", "sft"], torch: "2.13.0" };

async function worker(name: string) {
  const admin = await s.pw.services.auth.findUserByEmail("res@example.com");
  const { token } = await s.pw.services.jobs.createWorkerToken(admin!, name);
  const call = (method: string, url: string, json?: unknown) => api(s, method, `/worker${url}`, { token, json });
  expect((await call("POST", "/register", { name, capabilities: CAPS })).status).toBe(200);
  return { token, call };
}

async function world(clock?: TestClock) {
  s = await startServer({ clock });
  const res = await makeUser(s, "res@example.com", "researcher");
  const id = await setupProject(s, res);
  return { res, id };
}

async function upload(token: string, bytes: Buffer, sha = crypto.createHash("sha256").update(bytes).digest("hex")) {
  const r = await fetch(`${s.url}/api/v1/worker/artifacts?name=model.tar.gz&kind=checkpoint`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "x-pairwise-sha256": sha, "content-type": "application/octet-stream" },
    body: new Uint8Array(bytes),
  });
  return { status: r.status, body: (await r.json()) as any };
}

describe("worker protocol", () => {
  it("keeps worker tokens and user tokens apart", async () => {
    const { res, id } = await world();
    const w = await worker("w1");
    expect((await api(s, "GET", "/projects", { token: w.token })).status, "a worker token is no user token").toBe(401);
    expect((await api(s, "POST", "/worker/claim", { token: res.token, json: {} })).status, "a user token is no worker token").toBe(401);
    const ann = await makeUser(s, "ann@example.com", "annotator");
    expect((await api(s, "POST", "/workers", { token: ann.token, json: { name: "x" } })).status).toBe(403);
    expect((await api(s, "GET", "/workers", { token: ann.token })).status, "annotators cannot list workers").toBe(403);
    expect((await api(s, "GET", "/workers", { token: res.token })).body.workers.map((x: { name: string }) => x.name)).toEqual(["w1"]);
    expect((await api(s, "POST", `/projects/${id}/jobs`, { token: ann.token, json: { kind: "generate" } })).status).toBe(404);
  });

  it("claim → heartbeat with metrics → upload → complete registers a candidate checkpoint with lineage", async () => {
    const { res, id } = await world();
    const base = await api(s, "POST", `/projects/${id}/checkpoints`, { token: res.token, json: { name: "tiny base", model_ref: "/models/tiny" } });
    expect(base.status).toBe(201);
    const dataset = await s.pw.services.artifacts.putBuffer(Buffer.from('{"prompt":"p","chosen":"a","rejected":"b"}\n'), { name: "snapshot.jsonl", kind: "dataset" });
    const created = await api(s, "POST", `/projects/${id}/jobs`, {
      token: res.token,
      json: { kind: "train_reward", params: { config: { learning_rate: 1e-4 } }, inputs: { dataset: dataset.artifact_id }, checkpoints: { model: base.body.checkpoint.id } },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body.job.params).toMatchObject({ model_ref: "/models/tiny", model_checkpoint_id: base.body.checkpoint.id });
    const w = await worker("w1");
    const claim = await w.call("POST", "/claim", {});
    expect(claim.status).toBe(200);
    expect(claim.body.job).toMatchObject({ id: created.body.job.id, kind: "train_reward", attempt: 1, inputs: { dataset: { artifact_id: dataset.artifact_id, sha256: dataset.sha256 } } });
    const dl = await fetch(`${s.url}/api/v1/worker/artifacts/${dataset.artifact_id}`, { headers: { authorization: `Bearer ${w.token}` } });
    expect(dl.headers.get("x-pairwise-sha256")).toBe(dataset.sha256);
    expect(await dl.text()).toContain('"chosen"');
    const hb = await w.call("POST", `/jobs/${claim.body.job.id}/heartbeat`, {
      progress: { step: 5, total: 10 },
      metrics: [{ step: 5, values: { "train/loss": 0.5, "eval/accuracy": 0.8 } }],
      log: ["step 5 loss 0.5"],
    });
    expect(hb.body.cancel).toBe(false);
    const model = await upload(w.token, Buffer.from("pretend this is a tarball"));
    expect(model.status).toBe(201);
    const done = await w.call("POST", `/jobs/${claim.body.job.id}/complete`, { outputs: { model: model.body.artifact_id }, result: { "eval/accuracy": 0.9 } });
    expect(done.status, done.text).toBe(200);
    const detail = await api(s, "GET", `/jobs/${claim.body.job.id}`, { token: res.token });
    expect(detail.body.job).toMatchObject({ status: "succeeded", progress: { step: 5, total: 10 }, worker_name: "w1" });
    expect(detail.body.metrics["train/loss"]).toEqual([{ step: 5, value: 0.5 }]);
    expect(detail.body.log).toEqual(["step 5 loss 0.5"]);
    const cps = (await api(s, "GET", `/projects/${id}/checkpoints`, { token: res.token })).body.checkpoints;
    const reward = cps.find((c: { kind: string }) => c.kind === "reward");
    expect(reward).toMatchObject({ state: "candidate", job_id: claim.body.job.id, artifact_id: model.body.artifact_id, dataset_artifact_id: dataset.artifact_id, parent_id: base.body.checkpoint.id, hyperparams: { learning_rate: 1e-4 }, metrics: { "eval/accuracy": 0.9 } });
    const promoted = await api(s, "POST", `/checkpoints/${reward.id}/promote`, { token: res.token });
    expect(promoted.body.checkpoint.state).toBe("champion");
  });

  it("a job never runs on two workers at once", async () => {
    const { res, id } = await world();
    await api(s, "POST", `/projects/${id}/jobs`, { token: res.token, json: { kind: "generate", params: { prompts: ["1+1="] } } });
    const ws = await Promise.all([worker("a"), worker("b"), worker("c")]);
    const claims = await Promise.all(ws.map((w) => w.call("POST", "/claim", {})));
    expect(claims.filter((c) => c.status === 200)).toHaveLength(1);
    expect(claims.filter((c) => c.status === 204)).toHaveLength(2);
  });

  it("a worker that dies loses its lease; the job is re-queued, resumed by another worker, and the late worker is refused", async () => {
    const clock = new TestClock();
    const { res, id } = await world(clock);
    const job = (await api(s, "POST", `/projects/${id}/jobs`, { token: res.token, json: { kind: "ppo", params: {} } })).body.job;
    const w1 = await worker("doomed");
    const c1 = await w1.call("POST", "/claim", {});
    const ckpt = await upload(w1.token, Buffer.from("step 40 state"));
    expect((await w1.call("POST", `/jobs/${job.id}/checkpoint`, { artifact_id: ckpt.body.artifact_id, step: 40 })).status).toBe(200);
    // kill -9: no more heartbeats. The lease (30 s) runs out.
    clock.advance(31_000);
    const w2 = await worker("survivor");
    const c2 = await w2.call("POST", "/claim", {});
    expect(c2.status).toBe(200);
    expect(c2.body.job).toMatchObject({ id: c1.body.job.id, attempt: 2, resume: { artifact_id: ckpt.body.artifact_id, step: 40 } });
    const late = await w1.call("POST", `/jobs/${job.id}/complete`, { outputs: {}, result: {} });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe("lease_lost");
    expect((await w1.call("POST", `/jobs/${job.id}/heartbeat`, {})).status).toBe(409);
    const model = await upload(w2.token, Buffer.from("final"));
    expect((await w2.call("POST", `/jobs/${job.id}/complete`, { outputs: { model: model.body.artifact_id }, result: {} })).status).toBe(200);
    const db = new Database(s.dbPath, { readonly: true });
    const row = db.prepare("SELECT status, attempts, worker_id FROM jobs WHERE id = ?").get(job.id) as { status: string; attempts: number };
    db.close();
    expect(row).toMatchObject({ status: "succeeded", attempts: 2 });
  });

  it("cancel: a queued job ends at once; a running one stops at its next heartbeat", async () => {
    const { res, id } = await world();
    const queued = (await api(s, "POST", `/projects/${id}/jobs`, { token: res.token, json: { kind: "sft" } })).body.job;
    const running = (await api(s, "POST", `/projects/${id}/jobs`, { token: res.token, json: { kind: "generate" } })).body.job;
    const w = await worker("w");
    await api(s, "POST", `/jobs/${queued.id}/cancel`, { token: res.token });
    // The sft job was cancelled before anyone took it, so the worker gets the generate job.
    const claim = await w.call("POST", "/claim", {});
    expect(claim.body.job.id).toBe(running.id);
    expect((await api(s, "POST", `/jobs/${running.id}/cancel`, { token: res.token })).body.job).toMatchObject({ status: "running", cancel_requested: true });
    const hb = await w.call("POST", `/jobs/${running.id}/heartbeat`, { progress: { step: 1, total: 9 } });
    expect(hb.body.cancel).toBe(true);
    expect((await w.call("POST", `/jobs/${running.id}/fail`, { error: "cancelled", cancelled: true })).body.status).toBe("cancelled");
    const jobs = (await api(s, "GET", `/projects/${id}/jobs`, { token: res.token })).body.jobs;
    expect(jobs.map((j: { status: string }) => j.status).sort()).toEqual(["cancelled", "cancelled"]);
  });

  it("retryable failures re-queue until max attempts; artifacts are checksummed and deduplicated", async () => {
    const { res, id } = await world();
    const job = (await api(s, "POST", `/projects/${id}/jobs`, { token: res.token, json: { kind: "generate", max_attempts: 2 } })).body.job;
    const w = await worker("w");
    await w.call("POST", "/claim", {});
    expect((await w.call("POST", `/jobs/${job.id}/fail`, { error: "CUDA out of memory", retryable: true })).body.status).toBe("queued");
    await w.call("POST", "/claim", {});
    expect((await w.call("POST", `/jobs/${job.id}/fail`, { error: "CUDA out of memory", retryable: true })).body.status).toBe("failed");
    const bad = await upload(w.token, Buffer.from("bytes"), "0".repeat(64));
    expect(bad.status).toBe(400);
    const one = await upload(w.token, Buffer.from("same bytes"));
    const two = await upload(w.token, Buffer.from("same bytes"));
    expect(two.body.artifact_id).toBe(one.body.artifact_id);
    const db = new Database(s.dbPath, { readonly: true });
    expect((db.prepare("SELECT count(*) AS n FROM artifacts").get() as { n: number }).n, "the mismatched upload stored nothing").toBe(1);
    db.close();
  });
});
