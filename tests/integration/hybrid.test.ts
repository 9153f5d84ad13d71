import crypto from "node:crypto";
import http from "node:http";
import { type AddressInfo } from "node:net";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { type Actor, api, judgmentBody, makeUser, setupProject, startServer, type TestServer } from "../helpers/server.ts";

let s: TestServer;
let endpoint: http.Server | null = null;
afterEach(async () => {
  await s?.close();
  if (endpoint) await new Promise<void>((r) => endpoint!.close(() => r()));
  endpoint = null;
});

/** Pairs whose answer the test knows: "good" beats "bad"; `hard` ones are close calls. */
function pairs(n: number, prefix: string) {
  return Array.from({ length: n }, (_, i) => ({
    prompt: `${prefix} question ${i}`,
    response_a: i % 2 ? `bad answer ${i}` : `good answer ${i}`,
    response_b: i % 2 ? `good answer ${i}` : `bad answer ${i}`,
    model_a: "m1",
    model_b: "m2",
  }));
}

async function world(opts: { annotators?: number; pairs?: Record<string, unknown>[]; settings?: Record<string, unknown> } = {}) {
  // goldDraw() = 0.99 keeps gold, the random queue share and assist's control draw out of the way.
  s = await startServer({ goldDraw: () => 0.99, random: () => 1 });
  const res = await makeUser(s, "res@example.com", "researcher");
  const anns: Actor[] = [];
  for (let i = 0; i < (opts.annotators ?? 1); i++) anns.push(await makeUser(s, `ann${i}@example.com`, "annotator"));
  const id = await setupProject(s, res, { annotators: anns, pairs: opts.pairs ?? pairs(6, "q"), settings: { judgmentsPerPair: 1, ...(opts.settings ?? {}) } });
  return { res, anns, id };
}

/**
 * A scripted OpenAI-compatible endpoint: it prefers the response containing "good", except on
 * prompts containing "biased", where it always answers [[A]] (a position-biased judge).
 */
async function serveJudge(): Promise<{ url: string; requests: { auth: string | undefined; body: any }[] }> {
  const requests: { auth: string | undefined; body: any }[] = [];
  endpoint = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const body = JSON.parse(raw);
      requests.push({ auth: req.headers.authorization, body });
      const user = String(body.messages.at(-1).content);
      const a = user.indexOf("[The Start of Assistant A's Answer]");
      const b = user.indexOf("[The Start of Assistant B's Answer]");
      const shownA = user.slice(a, b);
      let verdict = shownA.includes("good") ? "[[A]]" : "[[B]]";
      if (user.includes("biased")) verdict = "[[A]]";
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: `Reasoning.\nVerdict: ${verdict}\nConfidence: 95` }, finish_reason: "stop" }] }));
    });
  });
  await new Promise<void>((r) => endpoint!.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(endpoint!.address() as AddressInfo).port}/v1`, requests };
}

function db() {
  return new Database(s.dbPath, { readonly: true });
}

async function drain(ann: Actor, id: number, choose: (body: any) => "left" | "right" = () => "left", extra: Record<string, unknown> = {}) {
  const served: string[] = [];
  for (;;) {
    const next = await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token });
    if (next.status === 204 || !next.body) break;
    served.push(next.body.prompt);
    const r = await api(s, "POST", `/assignments/${next.body.assignment_id}/judgment`, { token: ann.token, json: judgmentBody({ choice: choose(next.body), ...extra }) });
    expect(r.status, r.text).toBe(201);
  }
  return served;
}

const pickGood = (body: any) => (String(body.left).includes("good") ? "left" : "right");

describe("hybrid human–AI feedback", () => {
  it("an LLM judge is asked in both orders over real HTTP; consistent confident verdicts become AI labels, inconsistent ones go to people", async () => {
    const mixed = [...pairs(4, "plain"), ...pairs(2, "biased")];
    const { res, anns, id } = await world({ pairs: mixed });
    const judgeApi = await serveJudge();
    const created = await api(s, "POST", `/projects/${id}/judges`, {
      token: res.token,
      json: { kind: "llm", name: "scripted judge", config: { base_url: judgeApi.url, model: "judge-1", rubric: "Prefer good answers." }, api_key: "sk-test-secret" },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body.judge).toMatchObject({ kind: "llm", version: 1, has_api_key: true, enabled: true });
    expect(JSON.stringify(created.body), "the key is write-only").not.toContain("sk-test-secret");
    const judgeId = created.body.judge.id;

    const hybrid = await api(s, "PUT", `/projects/${id}/hybrid`, { token: res.token, json: { routing: { enabled: true, threshold: 0.9, minAudits: 0, auditShare: 0 }, activeLearning: { strategy: "disagreement", randomShare: 0 } } });
    expect(hybrid.status, hybrid.text).toBe(200);

    const run = await api(s, "POST", `/projects/${id}/judges/${judgeId}/run`, { token: res.token, json: {} });
    expect(run.status, run.text).toBe(202);
    await s.pw.services.judges.idle();
    const job = await api(s, "GET", `/jobs/${run.body.job.id}`, { token: res.token });
    expect(job.body.job).toMatchObject({ kind: "judge", status: "succeeded" });
    expect(job.body.job.result).toMatchObject({ "judge/pairs": 6, "judge/verdicts": 6 });

    // Two requests per pair, the key sent as a bearer token, the rubric in the system message.
    expect(judgeApi.requests).toHaveLength(12);
    expect(judgeApi.requests.every((r) => r.auth === "Bearer sk-test-secret" && r.body.model === "judge-1")).toBe(true);
    expect(judgeApi.requests[0]!.body.messages[0].content).toContain("Prefer good answers.");

    const d = db();
    const verdicts = d.prepare("SELECT p.prompt, v.choice, v.consistent, v.confidence FROM judge_verdicts v JOIN pairs p ON p.id = v.pair_id ORDER BY p.id").all() as { prompt: string; choice: string; consistent: number; confidence: number }[];
    const routes = d.prepare("SELECT prompt, route FROM pairs ORDER BY id").all() as { prompt: string; route: string }[];
    const ai = d.prepare("SELECT j.pair_id, j.choice, j.judge_id, j.judge_version, j.confidence, j.source, p.response_a FROM judgments j JOIN pairs p ON p.id = j.pair_id WHERE j.source = 'ai'").all() as any[];
    d.close();
    expect(verdicts.filter((v) => v.prompt.includes("plain")).every((v) => v.consistent === 1 && v.confidence === 0.95)).toBe(true);
    expect(verdicts.filter((v) => v.prompt.includes("biased")).every((v) => v.consistent === 0), "always-[[A]] flips when the responses swap").toBe(true);
    expect(routes.map((r) => r.route)).toEqual(["ai", "ai", "ai", "ai", "human", "human"]);
    expect(ai).toHaveLength(4);
    for (const row of ai) {
      expect(row).toMatchObject({ judge_id: judgeId, judge_version: 1, confidence: 0.95, source: "ai" });
      expect(row.choice === "a", "the AI label picks the good response").toBe(String(row.response_a).includes("good"));
    }

    // Researchers can read every verdict with the judge's raw answers in both orders.
    const listed = await api(s, "GET", `/projects/${id}/judges/${judgeId}/verdicts?limit=2`, { token: res.token });
    expect(listed.status, listed.text).toBe(200);
    expect(listed.body).toMatchObject({ judge_id: judgeId, version: 1, total: 6 });
    expect(listed.body.verdicts).toHaveLength(2);
    expect(JSON.parse(listed.body.verdicts[0].raw_output).orders.map((o: { order: string }) => o.order)).toEqual(["ab", "ba"]);
    expect((await api(s, "GET", `/projects/${id}/judges/${judgeId}/verdicts?limit=0`, { token: res.token })).status).toBe(400);
    expect((await api(s, "GET", `/projects/${id}/judges/${judgeId}/verdicts`, { token: anns[0]!.token })).status).toBe(403);

    // People get only the pairs the judge could not settle.
    const served = await drain(anns[0]!, id, pickGood);
    expect(served.sort()).toEqual(["biased question 0", "biased question 1"]);

    // Re-running the same version finds nothing new to ask.
    const again = await api(s, "POST", `/projects/${id}/judges/${judgeId}/run`, { token: res.token, json: {} });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("conflict");
    // A changed rubric is a new version, whose verdicts are asked afresh.
    const edited = await api(s, "PUT", `/projects/${id}/judges/${judgeId}`, { token: res.token, json: { config: { base_url: judgeApi.url, model: "judge-1", rubric: "Prefer good answers, strictly." } } });
    expect(edited.body.judge.version).toBe(2);
    expect(edited.body.judge.verdicts).toBe(0);
    expect(edited.body.judge.has_api_key, "editing the config keeps the key").toBe(true);

    const report = await api(s, "GET", `/projects/${id}/hybrid/report`, { token: res.token });
    expect(report.body.report.routes).toEqual({ human: 2, ai: 4, audit: 0, known: 0 });

    // A round's reward model trains on people's labels, or on people's and the AI's.
    await api(s, "POST", `/projects/${id}/checkpoints`, { token: res.token, json: { name: "base", model_ref: "/models/tiny" } });
    const humanOnly = await api(s, "POST", `/projects/${id}/rounds`, { token: res.token, json: { prompts_source: "task" } });
    expect(humanOnly.body.round.steps.snapshot.detail.rows).toBe(2);
    // One running round at a time: end this one by hand (no worker here to run it).
    await s.pw.db.updateTable("rounds").set({ status: "cancelled" }).where("id", "=", humanOnly.body.round.id).execute();
    const withAi = await api(s, "POST", `/projects/${id}/rounds`, { token: res.token, json: { prompts_source: "task", label_source: "all" } });
    expect(withAi.status, withAi.text).toBe(201);
    expect(withAi.body.round.steps.snapshot.detail.rows).toBe(6);
    // The biased judge said A in both orders, i.e. once for each response: it leans nowhere.
    expect(report.body.report.strategies).toEqual([{ strategy: "disagreement", leases: 2, judgments: 2, ai_disagreement: null }]);
  });

  it("a reward-model judge job on a worker labels the confident pairs; annotators get only the uncertain ones, most uncertain first", async () => {
    const { res, anns, id } = await world({ pairs: pairs(10, "q"), annotators: 2 });
    const rm = await api(s, "POST", `/projects/${id}/checkpoints`, { token: res.token, json: { name: "rm", kind: "reward", model_ref: "/models/rm" } });
    expect(rm.status, rm.text).toBe(201);
    const judge = await api(s, "POST", `/projects/${id}/judges`, { token: res.token, json: { kind: "reward_model", name: "RM", config: { checkpoint_ids: [rm.body.checkpoint.id] } } });
    expect(judge.status, judge.text).toBe(201);
    const set = await api(s, "PUT", `/projects/${id}/hybrid`, { token: res.token, json: { routing: { enabled: true, threshold: 0.9, minAudits: 0, auditShare: 0 }, activeLearning: { strategy: "uncertainty", randomShare: 0 } } });
    expect(set.status).toBe(200);
    const run = await api(s, "POST", `/projects/${id}/judges/${judge.body.judge.id}/run`, { token: res.token, json: {} });
    expect(run.status, run.text).toBe(202);
    expect(run.body.job.params).toMatchObject({ judge_id: judge.body.judge.id, judge_version: 1, reward_model_ref: "/models/rm" });

    // A scripted worker: the job's pairs file in, a verdicts file out (the Python worker's contract).
    const admin = await s.pw.services.auth.findUserByEmail("res@example.com");
    const { token } = await s.pw.services.jobs.createWorkerToken(admin!, "w");
    const w = (method: string, url: string, json?: unknown) => api(s, method, `/worker${url}`, { token, json });
    await w("POST", "/register", { name: "w", capabilities: { device: "cpu", kinds: ["judge"], torch: "2.13.0" } });
    const claim = await w("POST", "/claim", {});
    expect(claim.body.job).toMatchObject({ kind: "judge" });
    const file = await fetch(`${s.url}/api/v1/worker/artifacts/${claim.body.job.inputs.pairs.artifact_id}`, { headers: { authorization: `Bearer ${token}` } });
    const jobPairs = (await file.text()).trim().split("\n").map((l) => JSON.parse(l));
    expect(jobPairs).toHaveLength(10);
    // Pairs 0..5: confident and right; 6..9: unsure, 9 the most.
    const pOf = (i: number, goodIsA: boolean) => {
      const conf = [0.97, 0.98, 0.95, 0.99, 0.96, 0.93, 0.8, 0.7, 0.62, 0.52][i]!;
      return goodIsA ? conf : 1 - conf;
    };
    const lines = jobPairs.map((p) => {
      const i = Number(/question (\d+)/.exec(p.prompt)![1]);
      const pa = pOf(i, String(p.response_a).includes("good"));
      return JSON.stringify({ pair_id: p.pair_id, reward_a: Math.log(pa / (1 - pa)), reward_b: 0, p_a: pa, members: null });
    });
    const body = Buffer.from(lines.join("\n") + "\n");
    const sha = crypto.createHash("sha256").update(body).digest("hex");
    const up = await fetch(`${s.url}/api/v1/worker/artifacts?name=verdicts.jsonl&kind=file`, { method: "PUT", headers: { authorization: `Bearer ${token}`, "x-pairwise-sha256": sha, "content-type": "application/octet-stream" }, body: new Uint8Array(body) });
    const art = (await up.json()) as { artifact_id: number };
    const done = await w("POST", `/jobs/${claim.body.job.id}/complete`, { outputs: { verdicts: art.artifact_id }, result: { "judge/pairs": 10 } });
    expect(done.status, done.text).toBe(200);

    // AI-labeled pairs count as complete; annotators see only the open ones as left.
    const progress = await api(s, "GET", `/projects/${id}/progress`, { token: res.token });
    expect(progress.body.pairs).toMatchObject({ total: 10, complete: 6, untouched: 4 });
    expect(progress.body.judgments.total, "AI labels are not counted as people's judgments").toBe(0);
    // Simulated annotators: they get 6..9 only, the most uncertain first.
    const first = await drain(anns[0]!, id, pickGood);
    const second = await drain(anns[1]!, id, pickGood);
    expect(first).toEqual(["q question 9", "q question 8", "q question 7", "q question 6"]);
    expect(second, "every open pair is judged; AI-labeled pairs are never served").toEqual([]);
    const d = db();
    const labels = d.prepare("SELECT count(*) AS n, sum(source = 'ai') AS ai FROM judgments").get() as { n: number; ai: number };
    const strategies = d.prepare("SELECT DISTINCT strategy FROM assignments WHERE annotator_id = ?").all(anns[0]!.id) as { strategy: string }[];
    d.close();
    expect(labels).toEqual({ n: 10, ai: 6 });
    expect(strategies.map((x) => x.strategy)).toEqual(["uncertainty"]);

    // The worker's file must be well formed: a bad line rejects it whole.
    const run2 = await api(s, "PUT", `/projects/${id}/judges/${judge.body.judge.id}`, { token: res.token, json: { config: { checkpoint_ids: [] } } });
    expect(run2.body.judge.version).toBe(2);
    const job2 = await api(s, "POST", `/projects/${id}/judges/${judge.body.judge.id}/run`, { token: res.token, json: { scope: "all" } });
    expect(job2.status, job2.text).toBe(202);
    const claim2 = await w("POST", "/claim", {});
    const bad = Buffer.from('{"pair_id": 1, "p_a": 1.5}\nnot json\n');
    const up2 = await fetch(`${s.url}/api/v1/worker/artifacts?name=verdicts.jsonl&kind=file`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "x-pairwise-sha256": crypto.createHash("sha256").update(bad).digest("hex"), "content-type": "application/octet-stream" },
      body: new Uint8Array(bad),
    });
    const badDone = await w("POST", `/jobs/${claim2.body.job.id}/complete`, { outputs: { verdicts: ((await up2.json()) as { artifact_id: number }).artifact_id }, result: {} });
    expect(badDone.status).toBe(400);
    expect(badDone.body.error.code).toBe("import_invalid");
    expect(badDone.body.error.lines.map((l: { line: number }) => l.line)).toEqual([1, 2]);
  });

  it("audited AI labels go to people first and feed the agreement report, its calibration buckets and the alert", async () => {
    const { res, anns, id } = await world({ pairs: pairs(8, "q") });
    const rm = await api(s, "POST", `/projects/${id}/checkpoints`, { token: res.token, json: { name: "rm", kind: "reward", model_ref: "/models/rm" } });
    const judge = (await api(s, "POST", `/projects/${id}/judges`, { token: res.token, json: { kind: "reward_model", name: "RM", config: { checkpoint_ids: [rm.body.checkpoint.id] } } })).body.judge;
    await api(s, "PUT", `/projects/${id}/hybrid`, { token: res.token, json: { routing: { enabled: true, threshold: 0.9, minAudits: 0, auditShare: 1 }, agreementAlert: { threshold: 0.8, minPairs: 4 } } });
    // Verdicts arrive straight through the service (the worker path is covered above).
    const d0 = db();
    const ids = (d0.prepare("SELECT id, response_a FROM pairs ORDER BY id").all() as { id: number; response_a: string }[]).map((p) => ({ id: p.id, goodIsA: p.response_a.includes("good") }));
    d0.close();
    // The judge is right on 0..4 (confidence 0.95) and wrong on 5..7 (confidence 0.92).
    const drafts = ids.map((p, i) => {
      const right = i < 5;
      const pa = right === p.goodIsA ? (right ? 0.95 : 0.92) : right ? 0.05 : 0.08;
      return { pair_id: p.id, p_a: pa, choice: (pa > 0.5 ? "a" : "b") as "a" | "b", confidence: Math.max(pa, 1 - pa), consistent: null, members: null, raw_output: "{}" };
    });
    const row = db();
    const judgeRow = row.prepare("SELECT id, kind, version, bot_user_id, enabled FROM judges WHERE id = ?").get(judge.id) as never;
    row.close();
    const after = await s.pw.db.transaction().execute((trx) => s.pw.services.judges.ingest(trx, id, judgeRow, drafts, null));
    after();
    const served = await drain(anns[0]!, id, pickGood);
    expect(served).toHaveLength(8);
    const agreement = (await api(s, "GET", `/projects/${id}/judges/agreement`, { token: res.token })).body.agreement;
    const j = agreement.judges[0];
    expect(j).toMatchObject({ judge_id: judge.id, compared: 8, agreement: 5 / 8, by_category: { audit: { n: 8, agreement: 5 / 8 }, gold: { n: 0, agreement: null } }, alert: true });
    expect(j.buckets.find((b: { lo: number }) => b.lo === 0.9)).toMatchObject({ n: 8, agreement: 5 / 8 });
    expect(agreement.alerts).toEqual([{ judge_id: judge.id, name: "RM", agreement: 5 / 8, compared: 8 }]);
  });

  it("gold pairs measure judges as they measure people: judged, never routed to AI, scored against the known answer", async () => {
    const { res, id } = await world({ pairs: pairs(3, "g") });
    const d0 = db();
    const ps = d0.prepare("SELECT id, response_a FROM pairs ORDER BY id").all() as { id: number; response_a: string }[];
    d0.close();
    const gold = await api(s, "POST", `/projects/${id}/gold`, { token: res.token, json: { pairs: ps.map((p) => ({ pair_id: p.id, answer: p.response_a.includes("good") ? "a" : "b" })) } });
    expect(gold.status, gold.text).toBe(200);
    const rm = await api(s, "POST", `/projects/${id}/checkpoints`, { token: res.token, json: { name: "rm", kind: "reward", model_ref: "/models/rm" } });
    const judge = (await api(s, "POST", `/projects/${id}/judges`, { token: res.token, json: { kind: "reward_model", name: "RM", config: { checkpoint_ids: [rm.body.checkpoint.id] } } })).body.judge;
    await api(s, "PUT", `/projects/${id}/hybrid`, { token: res.token, json: { routing: { enabled: true, threshold: 0.9, minAudits: 0, auditShare: 0 } } });
    const run = await api(s, "POST", `/projects/${id}/judges/${judge.id}/run`, { token: res.token, json: {} });
    expect(run.status, "gold pairs are asked too").toBe(202);
    expect(run.body.job.params.pairs).toBe(3);
    const d1 = db();
    const judgeRow = d1.prepare("SELECT id, kind, version, bot_user_id, enabled FROM judges WHERE id = ?").get(judge.id) as never;
    d1.close();
    // Confident on all three, right on the first two.
    const drafts = ps.map((p, i) => {
      const goodIsA = p.response_a.includes("good");
      const pa = (i < 2) === goodIsA ? 0.97 : 0.03;
      return { pair_id: p.id, p_a: pa, choice: (pa > 0.5 ? "a" : "b") as "a" | "b", confidence: 0.97, consistent: null, members: null, raw_output: "{}" };
    });
    (await s.pw.db.transaction().execute((trx) => s.pw.services.judges.ingest(trx, id, judgeRow, drafts, null)))();
    const d2 = db();
    const routes = d2.prepare("SELECT route FROM pairs").all() as { route: string }[];
    d2.close();
    expect(routes.every((r) => r.route === "human"), "gold pairs stay with people").toBe(true);
    const a = (await api(s, "GET", `/projects/${id}/judges/agreement`, { token: res.token })).body.agreement.judges[0];
    expect(a.by_category.gold).toEqual({ n: 3, agreement: 2 / 3 });
    expect(a).toMatchObject({ compared: 3, agreement: 2 / 3 });
  });

  it("a judge earns trust on audits: warm-up audits every confident pair, then it labels if people agreed, and labels nothing if they did not", async () => {
    for (const peopleAgree of [true, false]) {
      const { res, anns, id } = await world({ pairs: pairs(8, "q") });
      const rm = await api(s, "POST", `/projects/${id}/checkpoints`, { token: res.token, json: { name: "rm", kind: "reward", model_ref: "/models/rm" } });
      const judge = (await api(s, "POST", `/projects/${id}/judges`, { token: res.token, json: { kind: "reward_model", name: "RM", config: { checkpoint_ids: [rm.body.checkpoint.id] } } })).body.judge;
      await api(s, "PUT", `/projects/${id}/hybrid`, { token: res.token, json: { routing: { enabled: true, threshold: 0.9, auditShare: 0, minAudits: 4 }, agreementAlert: { threshold: 0.7, minPairs: 4 } } });
      const d0 = db();
      const judgeRow = d0.prepare("SELECT id, kind, version, bot_user_id, enabled FROM judges WHERE id = ?").get(judge.id) as never;
      const ps = d0.prepare("SELECT id, response_a FROM pairs ORDER BY id").all() as { id: number; response_a: string }[];
      d0.close();
      // Confident and right on every pair.
      const verdict = (p: { id: number; response_a: string }) => {
        const pa = p.response_a.includes("good") ? 0.97 : 0.03;
        return { pair_id: p.id, p_a: pa, choice: (pa > 0.5 ? "a" : "b") as "a" | "b", confidence: 0.97, consistent: null, members: null, raw_output: "{}" };
      };
      const ingest = async (batch: typeof ps) => (await s.pw.db.transaction().execute((trx) => s.pw.services.judges.ingest(trx, id, judgeRow, batch.map(verdict), null)))();
      await ingest(ps.slice(0, 4));
      const routes = () => {
        const d = db();
        const r = (d.prepare("SELECT route FROM pairs ORDER BY id").all() as { route: string }[]).map((x) => x.route);
        d.close();
        return r;
      };
      expect(routes().slice(0, 4), "warming up: audited, not labeled alone").toEqual(["audit", "audit", "audit", "audit"]);
      let a = (await api(s, "GET", `/projects/${id}/judges/agreement`, { token: res.token })).body.agreement.judges[0];
      expect(a).toMatchObject({ routing: "warmup", audits: 0 });
      // People judge the audits: with the judge, or against it.
      // Audits come first in the queue: the first four leases are exactly the audited pairs.
      for (let i = 0; i < 4; i++) {
        const next = await api(s, "GET", `/projects/${id}/assignments/next`, { token: anns[0]!.token });
        expect(next.body.pair_id).toBe(ps[i]!.id);
        const good = pickGood(next.body);
        const r = await api(s, "POST", `/assignments/${next.body.assignment_id}/judgment`, { token: anns[0]!.token, json: judgmentBody({ choice: peopleAgree ? good : good === "left" ? "right" : "left" }) });
        expect(r.status).toBe(201);
      }
      a = (await api(s, "GET", `/projects/${id}/judges/agreement`, { token: res.token })).body.agreement.judges[0];
      expect(a).toMatchObject({ routing: peopleAgree ? "trusted" : "paused", audits: 4, agreement: peopleAgree ? 1 : 0 });
      await ingest(ps.slice(4));
      expect(routes().slice(4), peopleAgree ? "trusted: its confident pairs are labeled" : "paused: people get them").toEqual(peopleAgree ? ["ai", "ai", "ai", "ai"] : ["human", "human", "human", "human"]);
      if (peopleAgree) await s.close(); // the second server is closed by afterEach
    }
  });

  it("assist shows the AI's pick before choosing in one arm, after submitting in another, and the report compares the arms with the control", async () => {
    const { res, anns, id } = await world({ pairs: pairs(6, "q"), annotators: 1 });
    const rm = await api(s, "POST", `/projects/${id}/checkpoints`, { token: res.token, json: { name: "rm", kind: "reward", model_ref: "/models/rm" } });
    const judge = (await api(s, "POST", `/projects/${id}/judges`, { token: res.token, json: { kind: "reward_model", name: "RM", config: { checkpoint_ids: [rm.body.checkpoint.id] } } })).body.judge;
    const d0 = db();
    const judgeRow = d0.prepare("SELECT id, kind, version, bot_user_id, enabled FROM judges WHERE id = ?").get(judge.id) as never;
    const ps = d0.prepare("SELECT id, response_a FROM pairs ORDER BY id").all() as { id: number; response_a: string }[];
    d0.close();
    // The judge leans to the good response with 0.8 on every pair (under the routing threshold).
    const drafts = ps.map((p) => {
      const pa = p.response_a.includes("good") ? 0.8 : 0.2;
      return { pair_id: p.id, p_a: pa, choice: (pa > 0.5 ? "a" : "b") as "a" | "b", confidence: 0.8, consistent: null, members: null, raw_output: "{}" };
    });
    (await s.pw.db.transaction().execute((trx) => s.pw.services.judges.ingest(trx, id, judgeRow, drafts, null)))();

    // share 1: every lease with a verdict is in the "before" arm; the hint is in screen terms.
    await api(s, "PUT", `/projects/${id}/hybrid`, { token: res.token, json: { assist: { mode: "before", share: 1 } } });
    const ann = anns[0]!;
    const before = await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token });
    expect(before.body.assist).toEqual({ choice: String(before.body.left).includes("good") ? "left" : "right", confidence: 0.8 });
    const reload = await api(s, "GET", `/assignments/${before.body.assignment_id}`, { token: ann.token });
    expect(reload.body.assist, "a reload shows the same hint").toEqual(before.body.assist);
    const r1 = await api(s, "POST", `/assignments/${before.body.assignment_id}/judgment`, { token: ann.token, json: judgmentBody({ choice: pickGood(before.body), time_on_task_ms: 1000 }) });
    expect(r1.body.assist).toBeUndefined();

    // "after": nothing before choosing; the receipt reveals the pick.
    await api(s, "PUT", `/projects/${id}/hybrid`, { token: res.token, json: { assist: { mode: "after", share: 1 } } });
    const after = await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token });
    expect(after.body.assist).toBeUndefined();
    const r2 = await api(s, "POST", `/assignments/${after.body.assignment_id}/judgment`, { token: ann.token, json: judgmentBody({ choice: pickGood(after.body) === "left" ? "right" : "left", time_on_task_ms: 3000 }) });
    expect(r2.body.assist).toEqual({ choice: pickGood(after.body), confidence: 0.8 });

    // share 0: the control arm, recorded but shown nothing.
    await api(s, "PUT", `/projects/${id}/hybrid`, { token: res.token, json: { assist: { mode: "before", share: 0 } } });
    const control = await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token });
    expect(control.body.assist).toBeUndefined();
    await api(s, "POST", `/assignments/${control.body.assignment_id}/judgment`, { token: ann.token, json: judgmentBody({ choice: pickGood(control.body), time_on_task_ms: 5000 }) });

    const report = (await api(s, "GET", `/projects/${id}/hybrid/report`, { token: res.token })).body.report;
    expect(report.assist).toEqual([
      { arm: "none", judgments: 1, agree_with_ai: 1, agree_with_majority: null, median_ms: 5000 },
      { arm: "before", judgments: 1, agree_with_ai: 1, agree_with_majority: null, median_ms: 1000 },
      { arm: "after", judgments: 1, agree_with_ai: 0, agree_with_majority: null, median_ms: 3000 },
    ]);
  });

  it("a rewrite becomes an SFT demonstration and a known-preference pair that never enters the queue; rewrite rules are enforced", async () => {
    const { res, anns, id } = await world({ pairs: pairs(2, "q"), annotators: 2 });
    const ann = anns[0]!;
    const first = await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token });
    expect(first.body.rewrites).toBe("off");
    const refused = await api(s, "POST", `/assignments/${first.body.assignment_id}/judgment`, { token: ann.token, json: judgmentBody({ choice: "left", rewrites: [{ side: "right", text: "better" }] }) });
    expect(refused.status).toBe(400);
    expect(refused.body.error.fields[0]).toMatchObject({ path: "rewrites", message: "this project does not take rewrites" });

    await api(s, "PUT", `/projects/${id}/hybrid`, { token: res.token, json: { rewrites: { mode: "worse" } } });
    const again = await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token });
    expect(again.body.rewrites).toBe("worse");
    const chosen = pickGood(again.body);
    const worse = chosen === "left" ? "right" : "left";
    const wrongSide = await api(s, "POST", `/assignments/${again.body.assignment_id}/judgment`, { token: ann.token, json: judgmentBody({ choice: chosen, rewrites: [{ side: chosen, text: "x" }] }) });
    expect(wrongSide.status).toBe(400);
    expect(wrongSide.body.error.fields[0].message).toBe("only the worse response may be rewritten in this project");
    const ok = await api(s, "POST", `/assignments/${again.body.assignment_id}/judgment`, { token: ann.token, json: judgmentBody({ choice: chosen, rewrites: [{ side: worse, text: "  A much better answer.  " }] }) });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.body.rewrites).toBe(1);
    // A correction within the lease that resends the same rewrite stores no second demonstration.
    const corrected = await api(s, "POST", `/assignments/${again.body.assignment_id}/judgment`, { token: ann.token, json: judgmentBody({ choice: chosen, strength: 4, rewrites: [{ side: worse, text: "A much better answer." }] }) });
    expect(corrected.status, corrected.text).toBe(201);
    expect(corrected.body.supersedes_id).toBe(ok.body.judgment_id);

    const d = db();
    const rw = d.prepare("SELECT * FROM rewrites").all() as any[];
    const derived = d.prepare("SELECT * FROM pairs WHERE derived_from IS NOT NULL").all() as any[];
    const derivedVotes = d.prepare("SELECT j.choice, j.source, j.annotator_id, a.strategy FROM judgments j JOIN assignments a ON a.id = j.assignment_id WHERE j.pair_id = ?").all(derived[0]?.id) as any[];
    d.close();
    expect(rw).toHaveLength(1);
    expect(JSON.parse(rw[0].rewrite)).toBe("A much better answer.");
    expect(JSON.parse(rw[0].original)).toMatch(/^bad answer/);
    expect(rw[0].side, "q question 0 has the bad answer on side b").toBe("b");
    expect(derived).toHaveLength(1);
    expect(derived[0]).toMatchObject({ route: "known", reference: "a", model_a: "rewrite", derived_from: rw[0].pair_id, claimed: 1, judged: 1 });
    expect(JSON.parse(derived[0].response_a)).toBe("A much better answer.");
    expect(derivedVotes).toEqual([{ choice: "a", source: "human", annotator_id: ann.id, strategy: "rewrite" }]);
    expect(rw[0].derived_pair_id).toBe(derived[0].id);

    // The other annotator gets the remaining original pair, never the rewrite pair.
    expect(await drain(anns[1]!, id)).toEqual(["q question 1"]);
    // The rewrite is an SFT demonstration in the sft export.
    const sft = await api(s, "GET", `/projects/${id}/export?format=sft&rewrites=only`, { token: res.token });
    expect(sft.status, sft.text).toBe(200);
    expect(sft.text.trim().split("\n").map((l) => JSON.parse(l))).toEqual([{ prompt: "q question 0", completion: "A much better answer." }]);
  });

  it("judges and hybrid settings are for researchers only, and settings are validated", async () => {
    const { res, anns, id } = await world();
    const ann = anns[0]!;
    for (const [method, url] of [
      ["GET", `/projects/${id}/judges`],
      ["POST", `/projects/${id}/judges`],
      ["GET", `/projects/${id}/hybrid`],
      ["PUT", `/projects/${id}/hybrid`],
      ["GET", `/projects/${id}/judges/agreement`],
      ["GET", `/projects/${id}/hybrid/report`],
    ] as const) {
      expect((await api(s, method, url, { token: ann.token, json: method === "GET" ? undefined : {} })).status, `${method} ${url} for an annotator`).toBe(403);
    }
    const outsider = await makeUser(s, "out@example.com", "researcher");
    expect((await api(s, "GET", `/projects/${id}/judges`, { token: outsider.token })).status, "non-members do not learn the project exists").toBe(404);
    const bad = await api(s, "PUT", `/projects/${id}/hybrid`, { token: res.token, json: { routing: { threshold: 0.3, judgeIds: [999] }, assist: { mode: "sometimes" } } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields.map((f: { path: string }) => f.path).sort()).toEqual(["assist.mode", "routing.threshold"]);
    const unknownJudge = await api(s, "PUT", `/projects/${id}/hybrid`, { token: res.token, json: { routing: { judgeIds: [999] } } });
    expect(unknownJudge.body.error.fields).toEqual([{ path: "routing.judgeIds.0", message: "judge 999 is not in this project" }]);
    const noRm = await api(s, "POST", `/projects/${id}/judges`, { token: res.token, json: { kind: "reward_model", name: "RM", config: {} } });
    expect(noRm.status).toBe(201);
    const run = await api(s, "POST", `/projects/${id}/judges/${noRm.body.judge.id}/run`, { token: res.token, json: {} });
    expect(run.status).toBe(409);
    expect(run.body.error.message).toMatch(/no reward model yet/);
    // "The current reward model": a newer one makes a new judge version.
    const rm1 = (await api(s, "POST", `/projects/${id}/checkpoints`, { token: res.token, json: { name: "rm1", kind: "reward", model_ref: "/models/rm1" } })).body.checkpoint;
    const first = await api(s, "POST", `/projects/${id}/judges/${noRm.body.judge.id}/run`, { token: res.token, json: {} });
    expect(first.body.job.params).toMatchObject({ judge_version: 1, checkpoint_ids: [rm1.id], reward_model_ref: "/models/rm1" });
    const rm2 = (await api(s, "POST", `/projects/${id}/checkpoints`, { token: res.token, json: { name: "rm2", kind: "reward", model_ref: "/models/rm2" } })).body.checkpoint;
    const second = await api(s, "POST", `/projects/${id}/judges/${noRm.body.judge.id}/run`, { token: res.token, json: {} });
    expect(second.status, "the new version has no verdicts yet, so there is work").toBe(202);
    expect(second.body.job.params).toMatchObject({ judge_version: 2, checkpoint_ids: [rm2.id] });
    const llmNoUrl = await api(s, "POST", `/projects/${id}/judges`, { token: res.token, json: { kind: "llm", name: "x", config: { model: "m" } } });
    expect(llmNoUrl.status).toBe(400);
    expect(llmNoUrl.body.error.fields[0].path).toBe("config.base_url");
    // The judge's own user cannot log in.
    const login = await fetch(`${s.url}/api/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: `judge-${noRm.body.judge.id}@judges.invalid`, password: "!" }) });
    expect(login.status).toBeGreaterThanOrEqual(400);
  });
});
