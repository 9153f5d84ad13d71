import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Db } from "../../server/db/database.ts";
import { sha256 } from "../../server/domain/shared/hash.ts";
import { api, judgmentBody, makeUser, setupProject, startServer, TestClock, type TestServer } from "../helpers/server.ts";

/**
 * The TRL-format files in tests/fixtures/exports are what the exporter writes for a fixed scenario.
 * The trainer's Python tests load them with `datasets` and train TRL's reward and DPO trainers on
 * them (trainer/tests/test_export_compat.py); this test keeps the fixtures equal to the exporter's
 * current output. votes.jsonl and votes.csv pin the votes export's columns (human and AI rows).
 * Regenerate with UPDATE_FIXTURES=1.
 */
const FIXTURES = path.resolve("tests/fixtures/exports");

/** An AI judge's labels, written the way JudgeService writes them (bot user, assignment, judgment). */
async function addAiLabels(db: Db, projectId: number, now: number, labels: { pairId: number; choice: "a" | "b" | "tie"; confidence: number }[]) {
  const bot = await db
    .insertInto("users")
    .values({ email: "judge-1@judges.invalid", name: "Fixture judge", role: "annotator", password_hash: "!", created_at: now, disabled_at: now })
    .returning("id")
    .executeTakeFirstOrThrow();
  const judge = await db
    .insertInto("judges")
    .values({ project_id: projectId, kind: "llm", name: "Fixture judge", version: 2, config: "{}", bot_user_id: bot.id, created_by: null, created_at: now, updated_at: now })
    .returning("id")
    .executeTakeFirstOrThrow();
  const project = await db.selectFrom("projects").select("scheme_version").where("id", "=", projectId).executeTakeFirstOrThrow();
  for (const l of labels) {
    const pair = await db.selectFrom("pairs").selectAll().where("id", "=", l.pairId).executeTakeFirstOrThrow();
    const a = await db
      .insertInto("assignments")
      .values({ project_id: projectId, pair_id: pair.id, annotator_id: bot.id, left_is_a: 1, status: "judged", strategy: "ai", created_at: now, expires_at: now, finished_at: now, skip_reason: null })
      .returning("id")
      .executeTakeFirstOrThrow();
    await db
      .insertInto("judgments")
      .values({
        project_id: projectId, pair_id: pair.id, assignment_id: a.id, annotator_id: bot.id, source: "ai", choice: l.choice, choice_shown: l.choice === "a" ? "left" : l.choice === "b" ? "right" : "tie",
        left_is_a: 1, strength: null, criteria: null, rationale: null, flags: null, time_on_task_ms: null, idempotency_key: `judge:${judge.id}:v2:pair:${pair.id}`, supersedes_id: null,
        scheme_version: project.scheme_version, model_a: pair.model_a, model_b: pair.model_b, checkpoint_a: pair.checkpoint_a, checkpoint_b: pair.checkpoint_b,
        response_a_sha256: sha256(pair.response_a), response_b_sha256: sha256(pair.response_b), created_at: now, judge_id: judge.id, judge_version: 2, confidence: l.confidence,
      })
      .execute();
  }
}

let s: TestServer;
afterEach(async () => {
  await s?.close();
});

describe("export fixtures for the trainer", () => {
  it("trl, trl-chat and votes exports of a fixed scenario match the committed fixtures", async () => {
    s = await startServer({ clock: new TestClock(), random: () => 1, goldDraw: () => 1 });
    const res = await makeUser(s, "res@example.com", "researcher");
    const anns = [await makeUser(s, "a0@example.com", "annotator"), await makeUser(s, "a1@example.com", "annotator"), await makeUser(s, "a2@example.com", "annotator")];
    // Two-digit additions: A is the correct sum, B is off; one pair in five is a chat prompt.
    const pairs = Array.from({ length: 24 }, (_, i) => {
      const a = 11 + ((i * 7) % 80);
      const b = 13 + ((i * 11) % 70);
      const prompt = i % 5 === 0 ? [{ role: "user", content: `${a}+${b}=` }] : `${a}+${b}=`;
      return { prompt, response_a: String(a + b), response_b: String(a + b + (i % 3) + 1), model_a: "tiny-ppo", model_b: "tiny-base" };
    });
    const id = await setupProject(s, res, { annotators: anns, pairs, settings: { quality: { goldShare: 0 } } });
    for (const [k, ann] of anns.entries()) {
      for (let n = 0; ; n++) {
        const lease = await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token });
        if (lease.status === 204) break;
        // Mostly correct annotators; annotator 2 errs on every fourth pair, and a few ties.
        const choice = n % 9 === 8 ? "tie" : k === 2 && n % 4 === 3 ? "right" : "left";
        const body = judgmentBody({ choice, strength: choice === "tie" ? null : 1 + ((n + k) % 4), idempotency_key: `fixture-${k}-${n}` });
        expect((await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, { token: ann.token, json: body })).status).toBe(201);
      }
    }
    const pairIds = (await s.pw.db.selectFrom("pairs").select("id").where("project_id", "=", id).orderBy("id").limit(3).execute()).map((p) => p.id);
    await addAiLabels(s.pw.db, id, s.clock.now(), [
      { pairId: pairIds[0]!, choice: "a", confidence: 0.93 },
      { pairId: pairIds[1]!, choice: "b", confidence: 0.61 },
      { pairId: pairIds[2]!, choice: "tie", confidence: 0.75 },
    ]);
    for (const [name, query] of [
      ["trl.jsonl", "format=trl&margin=true&weight=true"],
      ["trl-chat.jsonl", "format=trl-chat"],
      ["votes.jsonl", "format=votes&source=all&pseudonymize=false"],
      ["votes.csv", "format=votes&file=csv&source=all&pseudonymize=false"],
    ] as const) {
      const r = await fetch(`${s.url}/api/v1/projects/${id}/export?${query}`, { headers: { authorization: `Bearer ${res.token}` } });
      const text = await r.text();
      expect(text.trim().split("\n").length).toBeGreaterThanOrEqual(15);
      const file = path.join(FIXTURES, name);
      if (process.env.UPDATE_FIXTURES === "1") fs.writeFileSync(file, text);
      expect(text, `${name} differs from the exporter's output; regenerate with UPDATE_FIXTURES=1`).toBe(fs.readFileSync(file, "utf8"));
    }
  });
});
