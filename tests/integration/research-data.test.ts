import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Actor, api, jsonl, judgmentBody, makeUser, setupProject, startServer, type TestServer } from "../helpers/server.ts";

let s: TestServer;
afterEach(async () => {
  await s?.close();
});

const PAIRS = [
  { prompt: "p1", response_a: "A1", response_b: "B1", model_a: "big", model_b: "small" },
  { prompt: [{ role: "system", content: "Be brief." }, { role: "user", content: "p2" }], response_a: "A2", response_b: "B2 mail me at ada@example.com", model_a: "big", model_b: "small" },
  { prompt: "p3", response_a: "A3", response_b: "B3", model_a: "small", model_b: "big" },
  { prompt: "p4", response_a: "A4", response_b: "B4", model_a: "small", model_b: "big" },
];
// Votes per pair (A on the left always in these tests): p1 all A; p2 two B one A; p3 ties; p4 both bad.
const VOTES: Record<string, ("left" | "right" | "tie" | "both_bad")[]> = {
  p1: ["left", "left", "left"],
  p2: ["right", "right", "left"],
  p3: ["tie", "tie", "tie"],
  p4: ["both_bad", "both_bad", "left"],
};

function promptKey(prompt: unknown): string {
  return typeof prompt === "string" ? prompt : (prompt as { content: string }[]).at(-1)!.content;
}

async function world(): Promise<{ res: Actor; anns: Actor[]; id: number }> {
  s = await startServer({ random: () => 1 });
  const res = await makeUser(s, "res@example.com", "researcher");
  const anns = [await makeUser(s, "a0@example.com", "annotator"), await makeUser(s, "a1@example.com", "annotator"), await makeUser(s, "a2@example.com", "annotator")];
  const id = await setupProject(s, res, { annotators: anns, pairs: PAIRS, settings: { quality: { goldShare: 0 } } });
  for (const [i, a] of anns.entries()) {
    for (;;) {
      const lease = await api(s, "GET", `/projects/${id}/assignments/next`, { token: a.token });
      if (lease.status === 204) break;
      const choice = VOTES[promptKey(lease.body.prompt)]![i]!;
      const r = await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, {
        token: a.token,
        json: judgmentBody({ choice, strength: choice === "left" || choice === "right" ? 4 - i : null, rationale: `reason ${i}`, time_on_task_ms: 4000 + 1000 * i }),
      });
      expect(r.status).toBe(201);
    }
  }
  return { res, anns, id };
}

async function exportText(id: number, token: string, query: string) {
  const r = await fetch(`${s.url}/api/v1/projects/${id}/export?${query}`, { headers: { authorization: `Bearer ${token}` } });
  const buf = Buffer.from(await r.arrayBuffer());
  return { status: r.status, buf, text: buf.toString("utf8"), sha: r.headers.get("x-pairwise-sha256"), exportId: Number(r.headers.get("x-pairwise-export-id")) };
}

const lines = (t: string) => t.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));

describe("exports", () => {
  it("trl: majority pairs only, ties and both-bad counted in the manifest, margin and weight optional", async () => {
    const { res, id } = await world();
    const e = await exportText(id, res.token, "format=trl&margin=true&weight=true");
    expect(e.status).toBe(200);
    const rows = lines(e.text);
    expect(rows).toEqual([
      { prompt: "p1", chosen: "A1", rejected: "B1", margin: 2, weight: 1 },
      { prompt: "System: Be brief.\n\nUser: p2", chosen: "B2 mail me at ada@example.com", rejected: "A2", margin: 2.5, weight: 0.666667 },
    ]);
    const manifest = (await api(s, "GET", `/exports/${e.exportId}/manifest`, { token: res.token })).body;
    expect(manifest.counts).toMatchObject({ rows: 2, pairs_with_votes: 4, skipped_tie: 1, skipped_both_bad: 1, skipped_split: 0 });
    expect(manifest).toMatchObject({ format: "trl", schema_version: 1, sha256: e.sha, bytes: e.buf.length });
    expect(manifest.sha256).toBe(crypto.createHash("sha256").update(e.buf).digest("hex"));
  });

  it("the same filters over the same data give byte-identical files, and land in the history", async () => {
    const { res, id } = await world();
    for (const q of ["format=trl", "format=votes", "format=votes&file=csv", "format=hh", "format=votes&file=parquet"]) {
      const one = await exportText(id, res.token, q);
      const two = await exportText(id, res.token, q);
      expect(two.buf.equals(one.buf), `${q} is byte-identical`).toBe(true);
      expect(two.sha).toBe(one.sha);
    }
    const history = await api(s, "GET", `/projects/${id}/exports`, { token: res.token });
    expect(history.body.exports).toHaveLength(10);
  });

  it("trl-chat, openai, hh and sft shapes", async () => {
    const { res, id } = await world();
    const chat = lines((await exportText(id, res.token, "format=trl-chat")).text);
    expect(chat[1]).toEqual({
      prompt: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "p2" },
      ],
      chosen: [{ role: "assistant", content: "B2 mail me at ada@example.com" }],
      rejected: [{ role: "assistant", content: "A2" }],
    });
    const openai = lines((await exportText(id, res.token, "format=openai")).text);
    expect(openai[0]).toEqual({
      input: { messages: [{ role: "user", content: "p1" }] },
      preferred_output: [{ role: "assistant", content: "A1" }],
      non_preferred_output: [{ role: "assistant", content: "B1" }],
    });
    const hh = lines((await exportText(id, res.token, "format=hh")).text);
    expect(hh[1]).toEqual({ chosen: "\n\nHuman: Be brief.\n\np2\n\nAssistant: B2 mail me at ada@example.com", rejected: "\n\nHuman: Be brief.\n\np2\n\nAssistant: A2" });
    const sft = lines((await exportText(id, res.token, "format=sft")).text);
    expect(sft[0]).toEqual({ prompt: "p1", completion: "A1" });
    expect(sft[1]).toEqual({ messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "p2" }, { role: "assistant", content: "B2 mail me at ada@example.com" }] });
  });

  it("votes carry provenance with pseudonymous annotators; csv and parquet hold the same rows", async () => {
    const { res, anns, id } = await world();
    const raw = (await exportText(id, res.token, "format=votes")).text;
    const v = lines(raw);
    expect(v).toHaveLength(12);
    for (const line of raw.trim().split("\n")) expect(JSON.stringify(JSON.parse(line)), "hand-built JSONL is canonical JSON").toBe(line);
    expect(v[0]).toMatchObject({ pair_id: expect.any(Number), source: "human", choice_shown: "left", left: "a", model_a: "big", model_b: "small", superseded: false, gold: false });
    expect(v[0].annotator).toMatch(/^annotator-[0-9a-f]{12}$/);
    expect(JSON.stringify(v)).not.toContain("@example.com\"");
    expect(new Set(v.map((r: { annotator: string }) => r.annotator)).size).toBe(3);
    const named = lines((await exportText(id, res.token, `format=votes&pseudonymize=false&annotators=${anns[0]!.id}`)).text);
    expect(named.map((r: { annotator: string }) => r.annotator)).toEqual(Array(4).fill(String(anns[0]!.id)));
    const csv = (await exportText(id, res.token, "format=votes&file=csv")).text.trim().split("\n");
    expect(csv[0]!.startsWith("judgment_id,pair_id,assignment_id,annotator,")).toBe(true);
    expect(csv).toHaveLength(13);
    const pq = await exportText(id, res.token, "format=votes&file=parquet");
    const { parquetReadObjects } = await import("hyparquet");
    const ab = pq.buf.buffer.slice(pq.buf.byteOffset, pq.buf.byteOffset + pq.buf.byteLength);
    const objs = await parquetReadObjects({ file: ab });
    expect(objs).toHaveLength(12);
    expect(objs[0]).toMatchObject({ choice_shown: "left", model_a: "big" });
  });

  it("filters: min agreement, gold, time range; scrubbing counts what it removed", async () => {
    const { res, id } = await world();
    expect(lines((await exportText(id, res.token, "format=trl&min_agreement=1")).text).map((r: { prompt: string }) => r.prompt)).toEqual(["p1"]);
    expect((await exportText(id, res.token, "format=trl&gold=only")).text).toBe("");
    expect((await exportText(id, res.token, "format=votes&from=2999-01-01")).text).toBe("");
    const scrubbed = await exportText(id, res.token, "format=trl&scrub=true");
    expect(scrubbed.text).toContain("B2 mail me at [EMAIL]");
    const manifest = (await api(s, "GET", `/exports/${scrubbed.exportId}/manifest`, { token: res.token })).body;
    expect(manifest.scrubbed).toEqual({ email: 1, phone: 0, api_key: 0 });
    const bad = await api(s, "GET", `/projects/${id}/export?format=xml&min_agreement=2`, { token: res.token });
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields.map((f: { path: string }) => f.path).sort()).toEqual(["format", "min_agreement"]);
  });

  it("annotators cannot export, see quality or history", async () => {
    const { anns, id } = await world();
    for (const url of [`/projects/${id}/export?format=trl`, `/projects/${id}/exports`, `/projects/${id}/quality`, `/projects/${id}/disagreements`]) {
      expect((await api(s, "GET", url, { token: anns[0]!.token })).status, url).toBe(403);
    }
  });

  it("the CLI mirrors the API", async () => {
    const { id } = await world();
    await s.pw.services.auth.createUser({ email: "admin@example.com", password: "long enough pw", role: "admin" });
    const out = path.join(s.dir, "cli.jsonl");
    const stdout = execFileSync("node", ["bin/pairwise.mjs", "export", "--project", String(id), "--format", "trl", "--out", out], {
      env: { ...process.env, DATABASE_URL: `sqlite:${s.dbPath}`, PAIRWISE_DATA_DIR: s.dir },
      encoding: "utf8",
    });
    const manifest = JSON.parse(stdout);
    expect(manifest.counts.rows).toBe(2);
    expect(lines(fs.readFileSync(out, "utf8"))).toHaveLength(2);
  });
});

describe("quality", () => {
  it("reports agreement, per-annotator figures, a leaderboard and the disagreement browser", async () => {
    const { res, anns, id } = await world();
    const q = (await api(s, "GET", `/projects/${id}/quality`, { token: res.token })).body;
    expect(q.humanJudgments).toBe(12);
    expect(q.pairsWithOverlap).toBe(4);
    expect(q.alphaNominal).toBeGreaterThan(0);
    expect(q.alphaNominal).toBeLessThan(1);
    expect(q.annotators).toHaveLength(3);
    const a0 = q.annotators.find((a: { annotatorId: number }) => a.annotatorId === anns[0]!.id);
    expect(a0).toMatchObject({ judgments: 4, medianMs: 4000, leftShare: 0.5, decisiveN: 2 });
    // a0 agrees with the others' majority on p1 (A), p3 (tie), p4 (both-bad), not p2 → 3/4.
    expect(a0.agreement).toBeCloseTo(0.75, 6);
    expect(q.leaderboard.models.map((m: { model: string }) => m.model)).toEqual(["big", "small"]);
    expect(q.leaderboard.models[0]).toMatchObject({ wins: 4, losses: 3, ties: 5, battles: 12 });
    expect(q.leaderboard.models[0].lo).toBeLessThanOrEqual(q.leaderboard.models[0].rating);
    const d = (await api(s, "GET", `/projects/${id}/disagreements?limit=5`, { token: res.token })).body;
    expect(d.total).toBe(2);
    expect(d.pairs.map((p: { prompt: unknown }) => promptKey(p.prompt)).sort()).toEqual(["p2", "p4"]);
    expect(d.pairs[0].votes.map((v: { rationale: string }) => v.rationale).sort()).toEqual(["reason 0", "reason 1", "reason 2"]);
  });

  it("gold pairs are served at the configured share, score annotators and pause them under the threshold", async () => {
    s = await startServer({ random: () => 1, goldDraw: () => 0 });
    const res = await makeUser(s, "res@example.com", "researcher");
    const ann = await makeUser(s, "a@example.com", "annotator");
    const gold = Array.from({ length: 3 }, (_, i) => ({ prompt: `gold ${i}`, chosen: `right ${i}`, rejected: `wrong ${i}` }));
    const id = await setupProject(s, res, {
      annotators: [ann],
      pairs: [{ prompt: "normal", response_a: "x", response_b: "y" }],
      settings: { quality: { goldShare: 0.5, goldMinJudgments: 2, goldMinAccuracy: 0.75, pauseBelowGold: true } },
    });
    const imp = await api(s, "POST", `/projects/${id}/pairs?gold=true`, { token: res.token, body: jsonl(gold) });
    expect(imp.body.imported).toBe(3);
    // goldDraw() = 0 < 0.5: the annotator is served gold first, and answers wrongly (B = rejected).
    const first = await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token });
    expect(first.body.prompt).toMatch(/^gold/);
    expect(Object.keys(first.body).sort()).toEqual(["assignment_id", "expires_at", "lease_seconds", "left", "pair_id", "project_id", "prompt", "rewrites", "right", "scheme_version"]);
    const r1 = await api(s, "POST", `/assignments/${first.body.assignment_id}/judgment`, { token: ann.token, json: judgmentBody({ choice: "right" }) });
    expect(r1.body.paused).toBe(false);
    const second = await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token });
    const r2 = await api(s, "POST", `/assignments/${second.body.assignment_id}/judgment`, { token: ann.token, json: judgmentBody({ choice: "right" }) });
    expect(r2.body.paused, "two wrong gold answers under 0.75 pause the annotator").toBe(true);
    const blocked = await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token });
    expect(blocked.status).toBe(403);
    const q = (await api(s, "GET", `/projects/${id}/quality`, { token: res.token })).body;
    expect(q.annotators[0]).toMatchObject({ goldAccuracy: 0, goldN: 2, paused: true });
    expect(q.annotators[0].flags).toContain("gold");
    await api(s, "POST", `/projects/${id}/members/${ann.id}/pause`, { token: res.token, json: { paused: false } });
    expect((await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token })).status).toBe(200);
  });
});
