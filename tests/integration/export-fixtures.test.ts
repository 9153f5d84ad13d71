import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { api, judgmentBody, makeUser, setupProject, startServer, TestClock, type TestServer } from "../helpers/server.ts";

/**
 * The TRL-format files in tests/fixtures/exports are what the exporter writes for a fixed scenario.
 * The trainer's Python tests load them with `datasets` and train TRL's reward and DPO trainers on
 * them (trainer/tests/test_export_compat.py); this test keeps the fixtures equal to the exporter's
 * current output. Regenerate with UPDATE_FIXTURES=1.
 */
const FIXTURES = path.resolve("tests/fixtures/exports");

let s: TestServer;
afterEach(async () => {
  await s?.close();
});

describe("export fixtures for the trainer", () => {
  it("trl and trl-chat exports of a fixed scenario match the committed fixtures", async () => {
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
    for (const [name, query] of [
      ["trl.jsonl", "format=trl&margin=true&weight=true"],
      ["trl-chat.jsonl", "format=trl-chat"],
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
