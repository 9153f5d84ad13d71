import { afterEach, describe, expect, it } from "vitest";
import { type Db } from "../../server/db/database.ts";
import { sha256 } from "../../server/domain/shared/hash.ts";
import { type Actor, api, jsonl, judgmentBody, makeUser, setupProject, startServer, type TestServer } from "../helpers/server.ts";

/**
 * Exports over a project labelled by people and AI judges (issue 6): the label source filter
 * (human, ai, agree, all), the AI provenance columns of the votes export, and the rewrites filter
 * that turns annotators' rewrites into SFT demonstrations.
 */

let s: TestServer;
afterEach(async () => {
  await s?.close();
});

const PAIRS = [
  { prompt: "p1", response_a: "A1", response_b: "B1", model_a: "big", model_b: "small" },
  { prompt: "p2", response_a: "A2", response_b: "B2", model_a: "big", model_b: "small" },
  { prompt: "p3", response_a: "A3", response_b: "B3", model_a: "big", model_b: "small" },
  { prompt: "p4", response_a: "A4", response_b: "B4", model_a: "big", model_b: "small" },
];
// Canonical human votes per prompt, annotator 0 then 1: p1 A, p2 B, p3 A, p4 split.
const HUMAN: Record<string, ("a" | "b")[]> = { p1: ["a", "a"], p2: ["b", "b"], p3: ["a", "a"], p4: ["a", "b"] };

// The helpers below write AI labels and rewrites the way JudgeService and the annotation service
// do (bot user, judged assignment, judgment with provenance; rewrite row plus a derived pair).

async function addJudge(db: Db, projectId: number, name: string, version: number, now: number) {
  const bot = await db
    .insertInto("users")
    .values({ email: `judge-pending-${name}@judges.invalid`, name, role: "annotator", password_hash: "!", created_at: now, disabled_at: now })
    .returning("id")
    .executeTakeFirstOrThrow();
  const judge = await db
    .insertInto("judges")
    .values({ project_id: projectId, kind: "llm", name, version, config: "{}", bot_user_id: bot.id, created_by: null, created_at: now, updated_at: now })
    .returning("id")
    .executeTakeFirstOrThrow();
  await db.updateTable("users").set({ email: `judge-${judge.id}@judges.invalid` }).where("id", "=", bot.id).execute();
  return { judgeId: judge.id, botId: bot.id, version };
}

async function aiLabel(db: Db, judge: { judgeId: number; botId: number; version: number }, pairId: number, choice: "a" | "b" | "tie", confidence: number, now: number) {
  const pair = await db.selectFrom("pairs").selectAll().where("id", "=", pairId).executeTakeFirstOrThrow();
  const project = await db.selectFrom("projects").select("scheme_version").where("id", "=", pair.project_id).executeTakeFirstOrThrow();
  const a = await db
    .insertInto("assignments")
    .values({ project_id: pair.project_id, pair_id: pairId, annotator_id: judge.botId, left_is_a: 1, status: "judged", strategy: "ai", created_at: now, expires_at: now, finished_at: now, skip_reason: null })
    .returning("id")
    .executeTakeFirstOrThrow();
  const j = await db
    .insertInto("judgments")
    .values({
      project_id: pair.project_id, pair_id: pairId, assignment_id: a.id, annotator_id: judge.botId, source: "ai", choice, choice_shown: choice === "a" ? "left" : choice === "b" ? "right" : "tie",
      left_is_a: 1, strength: null, criteria: null, rationale: null, flags: null, time_on_task_ms: null, idempotency_key: `judge:${judge.judgeId}:v${judge.version}:pair:${pairId}`,
      supersedes_id: null, scheme_version: project.scheme_version, model_a: pair.model_a, model_b: pair.model_b, checkpoint_a: pair.checkpoint_a, checkpoint_b: pair.checkpoint_b,
      response_a_sha256: sha256(pair.response_a), response_b_sha256: sha256(pair.response_b), created_at: now, judge_id: judge.judgeId, judge_version: judge.version, confidence,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return j.id;
}

async function addRewrite(db: Db, annotatorId: number, sourcePairId: number, side: "a" | "b", text: string, now: number) {
  const src = await db.selectFrom("pairs").selectAll().where("id", "=", sourcePairId).executeTakeFirstOrThrow();
  const project = await db.selectFrom("projects").select("scheme_version").where("id", "=", src.project_id).executeTakeFirstOrThrow();
  const judgment = await db.selectFrom("judgments").select("id").where("pair_id", "=", sourcePairId).where("annotator_id", "=", annotatorId).executeTakeFirstOrThrow();
  const original = side === "a" ? src.response_a : src.response_b;
  const rewrite = JSON.stringify(text);
  const rw = await db
    .insertInto("rewrites")
    .values({ project_id: src.project_id, pair_id: sourcePairId, judgment_id: judgment.id, annotator_id: annotatorId, side, original, rewrite, derived_pair_id: null, created_at: now })
    .returning("id")
    .executeTakeFirstOrThrow();
  const derived = await db
    .insertInto("pairs")
    .values({
      project_id: src.project_id, prompt: src.prompt, response_a: rewrite, response_b: original, model_a: "rewrite", model_b: side === "a" ? src.model_a : src.model_b, checkpoint_a: null, checkpoint_b: null,
      metadata: JSON.stringify({ rewrite_id: rw.id, derived_from: sourcePairId }), reference: "a", content_hash: sha256(`${src.prompt}\n${rewrite}\n${original}`), import_id: null, created_at: now,
      route: "known", derived_from: sourcePairId,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  await db.updateTable("rewrites").set({ derived_pair_id: derived.id }).where("id", "=", rw.id).execute();
  const a = await db
    .insertInto("assignments")
    .values({ project_id: src.project_id, pair_id: derived.id, annotator_id: annotatorId, left_is_a: 1, status: "judged", strategy: "rewrite", created_at: now, expires_at: now, finished_at: now, skip_reason: null })
    .returning("id")
    .executeTakeFirstOrThrow();
  await db
    .insertInto("judgments")
    .values({
      project_id: src.project_id, pair_id: derived.id, assignment_id: a.id, annotator_id: annotatorId, source: "human", choice: "a", choice_shown: "left", left_is_a: 1, strength: null,
      criteria: null, rationale: null, flags: null, time_on_task_ms: null, idempotency_key: `rewrite:${rw.id}`, supersedes_id: null, scheme_version: project.scheme_version,
      model_a: "rewrite", model_b: side === "a" ? src.model_a : src.model_b, checkpoint_a: null, checkpoint_b: null, response_a_sha256: sha256(rewrite), response_b_sha256: sha256(original), created_at: now,
    })
    .execute();
  return derived.id;
}

type World = { res: Actor; anns: Actor[]; id: number; pairId: Record<string, number>; derivedId: number; judge: { judgeId: number; version: number }; aiIds: Record<string, number> };

/**
 * p1: people A, AI A (agree). p2: people B, AI A (disagree), and annotator 0 rewrote A. p3: people A,
 * no AI. p4: people split, AI A. p5: AI only (B). Plus the rewrite pair of p2.
 */
async function world(): Promise<World> {
  s = await startServer({ random: () => 1 });
  const res = await makeUser(s, "res@example.com", "researcher");
  const anns = [await makeUser(s, "a0@example.com", "annotator"), await makeUser(s, "a1@example.com", "annotator")];
  const id = await setupProject(s, res, { annotators: anns, pairs: PAIRS, settings: { quality: { goldShare: 0 } } });
  for (const [i, a] of anns.entries()) {
    for (;;) {
      const lease = await api(s, "GET", `/projects/${id}/assignments/next`, { token: a.token });
      if (lease.status === 204) break;
      const prompt = lease.body.prompt as string;
      const want = HUMAN[prompt]![i]!;
      const leftIsA = lease.body.left === `A${prompt.slice(1)}`;
      const choice = (want === "a") === leftIsA ? "left" : "right";
      const r = await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, { token: a.token, json: judgmentBody({ choice, strength: 3 }) });
      expect(r.status, r.text).toBe(201);
    }
  }
  // p5 arrives after people are done: only the AI judge labels it.
  const more = await api(s, "POST", `/projects/${id}/pairs`, {
    token: res.token,
    body: jsonl([{ prompt: "p5", response_a: "A5", response_b: "B5", model_a: "big", model_b: "small" }]),
    headers: { "content-type": "application/x-ndjson" },
  });
  expect(more.status, more.text).toBe(201);
  const db = s.pw.db;
  const pairId: Record<string, number> = {};
  for (const p of await db.selectFrom("pairs").select(["id", "prompt"]).where("project_id", "=", id).execute()) pairId[JSON.parse(p.prompt) as string] = p.id;
  await db.updateTable("pairs").set({ route: "ai" }).where("id", "=", pairId.p5!).execute();
  const now = s.clock.now();
  const judge = await addJudge(db, id, "GPT judge", 2, now);
  const aiIds: Record<string, number> = {
    p1: await aiLabel(db, judge, pairId.p1!, "a", 0.95, now),
    p2: await aiLabel(db, judge, pairId.p2!, "a", 0.9, now),
    p4: await aiLabel(db, judge, pairId.p4!, "a", 0.8, now),
    p5: await aiLabel(db, judge, pairId.p5!, "b", 0.97, now),
  };
  const derivedId = await addRewrite(db, anns[0]!.id, pairId.p2!, "a", "A2, rewritten to be right", now);
  return { res, anns, id, pairId, derivedId, judge, aiIds };
}

async function exportRaw(w: World, query: string) {
  const r = await fetch(`${s.url}/api/v1/projects/${w.id}/export?${query}`, { headers: { authorization: `Bearer ${w.res.token}` } });
  const buf = Buffer.from(await r.arrayBuffer());
  return { status: r.status, buf, text: buf.toString("utf8"), exportId: Number(r.headers.get("x-pairwise-export-id")) };
}

const lines = (t: string) => t.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));

async function manifest(w: World, exportId: number) {
  return (await api(s, "GET", `/exports/${exportId}/manifest`, { token: w.res.token })).body;
}

describe("hybrid exports", () => {
  it("source picks human, AI, agreeing or all labels; pair rows follow that source's consensus", async () => {
    const w = await world();
    const trl = async (q: string) => {
      const e = await exportRaw(w, `format=trl&${q}`);
      expect(e.status, `${q}: ${e.text}`).toBe(200);
      return { rows: lines(e.text).map((r) => `${r.prompt}:${r.chosen}>${r.rejected}`), manifest: await manifest(w, e.exportId) };
    };

    const human = await trl("source=human");
    expect(human.rows, "human: people's majority; the split p4 and AI-only p5 drop out; the rewrite pair counts").toEqual([
      "p1:A1>B1", "p2:B2>A2", "p3:A3>B3", "p2:A2, rewritten to be right>A2",
    ]);
    expect(human.manifest.filters).toMatchObject({ source: "human", rewrites: "include" });
    expect(human.manifest.counts).toMatchObject({ rows: 4, human: 7, ai: 0, rewrites: 1, skipped_split: 1 });

    const ai = await trl("source=ai");
    expect(ai.rows, "ai: the judge's label alone, including where people disagree").toEqual(["p1:A1>B1", "p2:A2>B2", "p4:A4>B4", "p5:B5>A5"]);
    expect(ai.manifest.counts).toMatchObject({ rows: 4, human: 0, ai: 4, rewrites: 0 });

    const agree = await trl("source=agree");
    expect(agree.rows, "agree: only p1, where the judge and the people's majority pick the same response").toEqual(["p1:A1>B1"]);
    expect(agree.manifest.filters.source).toBe("agree");
    expect(agree.manifest.counts).toMatchObject({ rows: 1, human: 2, ai: 1, agree_pairs: 1, skipped_disagree: 2 });

    const all = await trl("source=all");
    expect(all.rows, "all: every current vote counts; the AI vote breaks p4's split").toEqual([
      "p1:A1>B1", "p2:B2>A2", "p3:A3>B3", "p4:A4>B4", "p5:B5>A5", "p2:A2, rewritten to be right>A2",
    ]);
    expect(all.manifest.counts).toMatchObject({ rows: 6, human: 9, ai: 4, rewrites: 1 });
  });

  it("votes carry judge_id, judge_version and confidence (null for people) in jsonl, csv and parquet; agree keeps both sources of agreeing pairs", async () => {
    const w = await world();
    const all = await exportRaw(w, "format=votes&source=all&pseudonymize=false");
    const rows = lines(all.text);
    expect(rows).toHaveLength(13);
    const byId = new Map(rows.map((r) => [r.judgment_id as number, r]));
    for (const [prompt, jid] of Object.entries(w.aiIds)) {
      expect(byId.get(jid), `AI vote on ${prompt}`).toMatchObject({ source: "ai", pair_id: w.pairId[prompt], judge_id: w.judge.judgeId, judge_version: 2, strength: null });
    }
    expect(byId.get(w.aiIds.p2!)!.confidence).toBe(0.9);
    for (const r of rows.filter((x) => x.source === "human")) expect([r.judge_id, r.judge_version, r.confidence], `human vote ${r.judgment_id}`).toEqual([null, null, null]);
    expect((await manifest(w, all.exportId)).counts).toMatchObject({ rows: 13, human: 9, ai: 4 });

    const human = lines((await exportRaw(w, "format=votes")).text);
    expect(human.every((r) => r.source === "human" && r.judge_id === null)).toBe(true);
    expect(human).toHaveLength(9);
    const ai = lines((await exportRaw(w, "format=votes&source=ai")).text);
    expect(ai.map((r) => r.judgment_id).sort((x, y) => x - y)).toEqual(Object.values(w.aiIds).sort((x, y) => x - y));

    const agree = await exportRaw(w, "format=votes&source=agree&pseudonymize=false");
    const agreeRows = lines(agree.text);
    expect(agreeRows.map((r) => `${r.pair_id}:${r.source}:${r.choice}`), "agree: every current vote of p1 and nothing else").toEqual([
      `${w.pairId.p1}:human:a`, `${w.pairId.p1}:human:a`, `${w.pairId.p1}:ai:a`,
    ]);
    expect((await manifest(w, agree.exportId)).counts).toMatchObject({ rows: 3, human: 2, ai: 1, agree_pairs: 1, skipped_disagree: 2 });

    const csv = (await exportRaw(w, "format=votes&file=csv&source=all&pseudonymize=false")).text.trim().split("\n");
    const header = csv[0]!.split(",");
    expect(header.slice(-3)).toEqual(["judge_id", "judge_version", "confidence"]);
    const csvAi = csv.slice(1).map((l) => l.split(",")).find((c) => Number(c[0]) === w.aiIds.p5)!;
    expect(csvAi.slice(-3)).toEqual([String(w.judge.judgeId), "2", "0.97"]);
    expect(csv.slice(1).map((l) => l.split(",")).find((c) => c[4] === "human")!.slice(-3)).toEqual(["", "", ""]);

    const pq = await exportRaw(w, "format=votes&file=parquet&source=all");
    const { parquetReadObjects } = await import("hyparquet");
    const ab = pq.buf.buffer.slice(pq.buf.byteOffset, pq.buf.byteOffset + pq.buf.byteLength);
    const objs = (await parquetReadObjects({ file: ab })) as Record<string, unknown>[];
    expect(objs).toHaveLength(13);
    const pqAi = objs.find((o) => Number(o.judgment_id) === w.aiIds.p4)!;
    expect([Number(pqAi.judge_id), pqAi.judge_version, pqAi.confidence]).toEqual([w.judge.judgeId, 2, 0.8]);
    const pqHuman = objs.find((o) => o.source === "human")!;
    expect([pqHuman.judge_id, pqHuman.judge_version, pqHuman.confidence]).toEqual([null, null, null]);
  });

  it("rewrites=only gives the annotators' rewrites as SFT demonstrations; exclude drops the rewrite pair", async () => {
    const w = await world();
    const sft = await exportRaw(w, "format=sft&rewrites=only");
    expect(sft.status).toBe(200);
    expect(lines(sft.text), "the rewrite is the completion for the source pair's prompt").toEqual([{ prompt: "p2", completion: "A2, rewritten to be right" }]);
    expect((await manifest(w, sft.exportId)).counts).toMatchObject({ rows: 1, rewrites: 1, human: 1 });

    const excluded = lines((await exportRaw(w, "format=trl&rewrites=exclude")).text);
    expect(excluded.map((r) => `${r.prompt}:${r.chosen}`)).toEqual(["p1:A1", "p2:B2", "p3:A3"]);
    const sftAll = lines((await exportRaw(w, "format=sft")).text);
    expect(sftAll.map((r) => r.completion)).toEqual(["A1", "B2", "A3", "A2, rewritten to be right"]);

    const votes = lines((await exportRaw(w, "format=votes&rewrites=only")).text);
    expect(votes.map((r) => r.pair_id)).toEqual([w.derivedId]);
    const votesExcluded = lines((await exportRaw(w, "format=votes&rewrites=exclude")).text);
    expect(votesExcluded.some((r) => r.pair_id === w.derivedId)).toBe(false);
    expect(votesExcluded).toHaveLength(8);
  });

  it("a rewrite sent with a judgment through the annotation API comes out as the SFT demonstration", async () => {
    s = await startServer({ random: () => 1 });
    const res = await makeUser(s, "res@example.com", "researcher");
    const ann = await makeUser(s, "a0@example.com", "annotator");
    const id = await setupProject(s, res, { annotators: [ann], pairs: PAIRS.slice(0, 1), settings: { quality: { goldShare: 0 } } });
    const put = await api(s, "PUT", `/projects/${id}/hybrid`, { token: res.token, json: { rewrites: { mode: "both" } } });
    expect(put.status, put.text).toBe(200);
    const lease = await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token });
    expect(lease.status, lease.text).toBe(200);
    const worse = lease.body.left === "A1" ? "right" : "left";
    const judged = await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, {
      token: ann.token,
      json: judgmentBody({ choice: worse === "right" ? "left" : "right", rewrites: [{ side: worse, text: "B1, as it should have been" }] }),
    });
    expect(judged.status, judged.text).toBe(201);
    const w = { id, res } as World;
    expect(lines((await exportRaw(w, "format=sft&rewrites=only")).text)).toEqual([{ prompt: "p1", completion: "B1, as it should have been" }]);
    expect(lines((await exportRaw(w, "format=trl&rewrites=exclude")).text)).toEqual([{ prompt: "p1", chosen: "A1", rejected: "B1" }]);
    expect(lines((await exportRaw(w, "format=trl")).text).map((r) => r.chosen)).toEqual(["A1", "B1, as it should have been"]);
  });

  it("unknown source or rewrites values are a 400 with a stable code", async () => {
    const w = await world();
    for (const [q, field] of [
      ["format=trl&source=robots", "source"],
      ["format=votes&source=agreed", "source"],
      ["format=sft&rewrites=yes", "rewrites"],
    ] as const) {
      const r = await api(s, "GET", `/projects/${w.id}/export?${q}`, { token: w.res.token });
      expect(r.status, q).toBe(400);
      expect(r.body.error.code, q).toBe("validation_failed");
      expect(r.body.error.fields.map((f: { path: string }) => f.path), q).toEqual([field]);
    }
  });
});
