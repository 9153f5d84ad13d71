import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { type Actor, api, judgmentBody, makeUser, samplePairs, setupProject, startServer, TestClock, type TestServer } from "../helpers/server.ts";

let s: TestServer;
afterEach(async () => {
  await s?.close();
});

async function world(opts: { pairs?: number; annotators?: number; settings?: Record<string, unknown>; clock?: TestClock; random?: () => number } = {}) {
  s = await startServer({ clock: opts.clock, random: opts.random });
  const researcher = await makeUser(s, "res@example.com", "researcher");
  const annotators: Actor[] = [];
  for (let i = 0; i < (opts.annotators ?? 2); i++) annotators.push(await makeUser(s, `ann${i}@example.com`, "annotator"));
  const projectId = await setupProject(s, researcher, { annotators, pairs: samplePairs(opts.pairs ?? 3), settings: opts.settings });
  return { researcher, annotators, projectId };
}

describe("assignment", () => {
  it("gives a lease with the pair and gives the same pair back on reload", async () => {
    const { annotators, projectId } = await world();
    const a = annotators[0]!;
    const first = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a.token });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ assignment_id: expect.any(Number), pair_id: expect.any(Number), prompt: expect.any(String), left: expect.any(String), right: expect.any(String) });
    expect(new Date(first.body.expires_at).getTime()).toBeGreaterThan(Date.now());
    expect(first.body).not.toHaveProperty("model_a");
    const again = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a.token });
    expect(again.body.assignment_id, "a reload during the lease must return the same assignment").toBe(first.body.assignment_id);
  });

  it("prefers pairs closest to completion and returns 204 when nothing is left", async () => {
    const { annotators, projectId } = await world({ pairs: 2, annotators: 2, settings: { judgmentsPerPair: 2 } });
    const [a0, a1] = annotators as [Actor, Actor];
    const n0 = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a0.token });
    await api(s, "POST", `/assignments/${n0.body.assignment_id}/judgment`, { token: a0.token, json: judgmentBody() });
    // a1 should get the pair a0 already judged (closest to completion), not the untouched one.
    const n1 = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a1.token });
    expect(n1.body.pair_id).toBe(n0.body.pair_id);
    await api(s, "POST", `/assignments/${n1.body.assignment_id}/judgment`, { token: a1.token, json: judgmentBody() });
    // a0 never gets the pair it judged again; it moves to the other pair.
    const n2 = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a0.token });
    expect(n2.body.pair_id).not.toBe(n0.body.pair_id);
    await api(s, "POST", `/assignments/${n2.body.assignment_id}/judgment`, { token: a0.token, json: judgmentBody() });
    const done = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a0.token });
    expect(done.status, "a0 has judged every pair it may").toBe(204);
  });

  it("two annotators racing for the last slot: exactly the target is reached", async () => {
    const { annotators, projectId } = await world({ pairs: 1, annotators: 8, settings: { judgmentsPerPair: 3 } });
    const first = annotators[0]!;
    const n = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: first.token });
    await api(s, "POST", `/assignments/${n.body.assignment_id}/judgment`, { token: first.token, json: judgmentBody() });
    const second = annotators[1]!;
    const n2 = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: second.token });
    await api(s, "POST", `/assignments/${n2.body.assignment_id}/judgment`, { token: second.token, json: judgmentBody() });
    // One slot left; six annotators race for it at once.
    const racers = annotators.slice(2);
    const results = await Promise.all(racers.map((a) => api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a.token })));
    const winners = results.map((r, i) => ({ r, a: racers[i]! })).filter(({ r }) => r.status === 200);
    expect(winners.length, "exactly one racer may hold the last slot").toBe(1);
    expect(results.filter((r) => r.status === 204).length).toBe(racers.length - 1);
    const w = winners[0]!;
    const submit = await api(s, "POST", `/assignments/${w.r.body.assignment_id}/judgment`, { token: w.a.token, json: judgmentBody() });
    expect(submit.status).toBe(201);
    const db = new Database(s.dbPath, { readonly: true });
    const count = db.prepare("SELECT count(*) AS n FROM judgments WHERE supersedes_id IS NULL").get() as { n: number };
    const pair = db.prepare("SELECT claimed, judged FROM pairs").get() as { claimed: number; judged: number };
    db.close();
    expect(count.n).toBe(3);
    expect(pair).toEqual({ claimed: 3, judged: 3 });
  });

  it("an expired lease returns the slot to the pool, and a judgment on it gets 409 and stores nothing", async () => {
    const clock = new TestClock();
    const { annotators, projectId } = await world({ pairs: 1, annotators: 2, settings: { judgmentsPerPair: 1, leaseSeconds: 60 }, clock });
    const [a0, a1] = annotators as [Actor, Actor];
    const lease = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a0.token });
    expect((await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a1.token })).status, "the only slot is leased").toBe(204);
    clock.advance(61_000);
    const late = await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, { token: a0.token, json: judgmentBody() });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe("lease_expired");
    const taken = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a1.token });
    expect(taken.status, "the expired slot went back to the pool").toBe(200);
    expect(taken.body.pair_id).toBe(lease.body.pair_id);
    const db = new Database(s.dbPath, { readonly: true });
    expect((db.prepare("SELECT count(*) AS n FROM judgments").get() as { n: number }).n).toBe(0);
    db.close();
  });

  it("someone else's lease gets 409 lease_foreign and stores nothing", async () => {
    const { annotators, projectId } = await world();
    const [a0, a1] = annotators as [Actor, Actor];
    const lease = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a0.token });
    const r = await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, { token: a1.token, json: judgmentBody() });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe("lease_foreign");
    const unknown = await api(s, "POST", `/assignments/99999/judgment`, { token: a1.token, json: judgmentBody() });
    expect(unknown.status).toBe(404);
  });

  it("a retried submit with the same idempotency key is stored once", async () => {
    const { annotators, projectId } = await world();
    const a = annotators[0]!;
    const lease = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a.token });
    const body = judgmentBody({ idempotency_key: "retry-key-0001" });
    const [r1, r2, r3] = await Promise.all([1, 2, 3].map(() => api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, { token: a.token, json: body })));
    const ids = new Set([r1!.body.id, r2!.body.id, r3!.body.id]);
    expect(ids.size, "all retries return the same judgment").toBe(1);
    expect([r1!.status, r2!.status, r3!.status].sort()).toEqual([200, 200, 201]);
    const db = new Database(s.dbPath, { readonly: true });
    expect((db.prepare("SELECT count(*) AS n FROM judgments").get() as { n: number }).n).toBe(1);
    expect((db.prepare("SELECT judged FROM pairs WHERE id = ?").get(lease.body.pair_id) as { judged: number }).judged).toBe(1);
    db.close();
  });

  it("a correction within the lease is a new row that supersedes the old one", async () => {
    const { annotators, projectId } = await world();
    const a = annotators[0]!;
    const lease = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a.token });
    const first = await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, { token: a.token, json: judgmentBody({ choice: "left" }) });
    const second = await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, { token: a.token, json: judgmentBody({ choice: "tie", strength: null }) });
    expect(second.status).toBe(201);
    expect(second.body.supersedes_id).toBe(first.body.id);
    const db = new Database(s.dbPath, { readonly: true });
    const rows = db.prepare("SELECT id, choice_shown, supersedes_id FROM judgments ORDER BY id").all();
    const pair = db.prepare("SELECT judged, claimed FROM pairs WHERE id = ?").get(lease.body.pair_id);
    db.close();
    expect(rows).toEqual([
      { id: first.body.id, choice_shown: "left", supersedes_id: null },
      { id: second.body.id, choice_shown: "tie", supersedes_id: first.body.id },
    ]);
    expect(pair, "a correction does not count twice").toEqual({ judged: 1, claimed: 1 });
  });

  it("stores the order shown and maps left/right to the pair's A/B with full provenance", async () => {
    let flip = 0;
    const { annotators, projectId } = await world({ pairs: 2, random: () => flip++ % 2 });
    const a = annotators[0]!;
    const seen: { left: string; pair: number; leftIsA: boolean }[] = [];
    for (let i = 0; i < 2; i++) {
      const lease = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a.token });
      seen.push({ left: lease.body.left, pair: lease.body.pair_id, leftIsA: (lease.body.left as string).startsWith("answer A") });
      await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, { token: a.token, json: judgmentBody({ choice: "left", criteria: undefined }) });
    }
    expect(new Set(seen.map((x) => x.leftIsA)).size, "one assignment showed A on the left, the other B").toBe(2);
    const db = new Database(s.dbPath, { readonly: true });
    const rows = db.prepare("SELECT pair_id, choice, choice_shown, left_is_a, model_a, model_b, scheme_version, annotator_id, assignment_id, response_a_sha256 FROM judgments ORDER BY id").all() as any[];
    db.close();
    for (const [i, r] of rows.entries()) {
      expect(r.left_is_a === 1).toBe(seen[i]!.leftIsA);
      expect(r.choice).toBe(seen[i]!.leftIsA ? "a" : "b");
      expect(r).toMatchObject({ choice_shown: "left", model_a: "m1", model_b: "m2", scheme_version: 1, annotator_id: a.id });
      expect(r.response_a_sha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it("a skip records its reason and the pair is never offered to that annotator again", async () => {
    const { annotators, projectId } = await world({ pairs: 1 });
    const a = annotators[0]!;
    const lease = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a.token });
    const bad = await api(s, "POST", `/assignments/${lease.body.assignment_id}/skip`, { token: a.token, json: {} });
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields[0].path).toBe("reason");
    const ok = await api(s, "POST", `/assignments/${lease.body.assignment_id}/skip`, { token: a.token, json: { reason: "not my language" } });
    expect(ok.status).toBe(200);
    expect((await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a.token })).status).toBe(204);
    const other = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: annotators[1]!.token });
    expect(other.status, "the skipped slot is free for others").toBe(200);
    const db = new Database(s.dbPath, { readonly: true });
    expect(db.prepare("SELECT status, skip_reason FROM assignments WHERE id = ?").get(lease.body.assignment_id)).toEqual({ status: "skipped", skip_reason: "not my language" });
    db.close();
  });

  it("prefetch: `after` gives a second lease and never more than two", async () => {
    const { annotators, projectId } = await world({ pairs: 5 });
    const a = annotators[0]!;
    const cur = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a.token });
    const pre = await api(s, "GET", `/projects/${projectId}/assignments/next?after=${cur.body.assignment_id}`, { token: a.token });
    expect(pre.body.assignment_id).not.toBe(cur.body.assignment_id);
    const again = await api(s, "GET", `/projects/${projectId}/assignments/next?after=${pre.body.assignment_id}`, { token: a.token });
    expect(again.body.assignment_id, "with two leases held, `after` returns the other one").toBe(cur.body.assignment_id);
  });

  it("validates judgments against the project's scheme and names the fields", async () => {
    const { annotators, projectId } = await world({ settings: { scheme: { criteria: ["helpfulness"], rationale: { mode: "required", minLength: 10 }, allowTie: false } } });
    const a = annotators[0]!;
    const lease = await api(s, "GET", `/projects/${projectId}/assignments/next`, { token: a.token });
    const r = await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, { token: a.token, json: judgmentBody({ choice: "tie", strength: 2, rationale: "short" }) });
    expect(r.status).toBe(400);
    const paths = (r.body.error.fields as { path: string }[]).map((f) => f.path).sort();
    expect(paths).toEqual(["choice", "criteria.helpfulness", "rationale", "strength"]);
    const unknownField = await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, { token: a.token, json: judgmentBody({ colour: "red" }) });
    expect(unknownField.status).toBe(400);
    const ok = await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, {
      token: a.token,
      json: judgmentBody({ choice: "right", strength: 4, criteria: { helpfulness: "right" }, rationale: "B answers the question", flags: ["unsafe"] }),
    });
    expect(ok.status).toBe(201);
  });
});
