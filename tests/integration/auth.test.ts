import { afterEach, describe, expect, it } from "vitest";
import { api, judgmentBody, makeUser, samplePairs, setupProject, startServer, type TestServer } from "../helpers/server.ts";

let s: TestServer;
afterEach(async () => {
  await s?.close();
});

describe("authorization", () => {
  it("health needs no token; everything else does", async () => {
    s = await startServer();
    expect((await api(s, "GET", "/health")).status).toBe(200);
    const r = await api(s, "GET", "/projects");
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe("unauthenticated");
    expect((await api(s, "GET", "/projects", { token: "pw_not-a-real-token" })).status).toBe(401);
  });

  it("annotators cannot create projects, import, manage members, read judgments or settings", async () => {
    s = await startServer();
    const res = await makeUser(s, "r@example.com", "researcher");
    const ann = await makeUser(s, "a@example.com", "annotator");
    const id = await setupProject(s, res, { annotators: [ann], pairs: samplePairs(2) });
    expect((await api(s, "POST", "/projects", { token: ann.token, json: { name: "x" } })).status).toBe(403);
    const imp = await api(s, "POST", `/projects/${id}/pairs`, { token: ann.token, body: '{"prompt":"p","response_a":"a","response_b":"b"}\n' });
    expect(imp.status).toBe(403);
    expect((await api(s, "POST", `/projects/${id}/members`, { token: ann.token, json: { email: ann.email, role: "annotator" } })).status).toBe(403);
    expect((await api(s, "GET", `/projects/${id}/members`, { token: ann.token })).status).toBe(403);
    expect((await api(s, "GET", `/projects/${id}/judgments`, { token: ann.token })).status).toBe(403);
    expect((await api(s, "GET", `/projects/${id}/annotators`, { token: ann.token })).status).toBe(403);
    expect((await api(s, "PUT", `/projects/${id}`, { token: ann.token, json: { name: "renamed" } })).status).toBe(403);
    // ...but they can work: next, judge, their own stats and the aggregate progress.
    const lease = await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token });
    expect(lease.status).toBe(200);
    expect((await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, { token: ann.token, json: judgmentBody() })).status).toBe(201);
    expect((await api(s, "GET", `/projects/${id}/me`, { token: ann.token })).body).toMatchObject({ today: 1, total: 1 });
  });

  it("non-members get 404 for the project and everything in it", async () => {
    s = await startServer();
    const res = await makeUser(s, "r@example.com", "researcher");
    const other = await makeUser(s, "r2@example.com", "researcher");
    const outsider = await makeUser(s, "out@example.com", "annotator");
    const id = await setupProject(s, res, { pairs: samplePairs(1) });
    for (const t of [other.token, outsider.token]) {
      expect((await api(s, "GET", `/projects/${id}`, { token: t })).status).toBe(404);
      expect((await api(s, "GET", `/projects/${id}/assignments/next`, { token: t })).status).toBe(404);
      expect((await api(s, "GET", `/projects/${id}/progress`, { token: t })).status).toBe(404);
      expect((await api(s, "GET", `/projects/${id}/judgments`, { token: t })).status).toBe(404);
    }
    const list = await api(s, "GET", "/projects", { token: other.token });
    expect(list.body.projects).toEqual([]);
  });

  it("researchers add existing users as members; unknown emails are 404; annotator accounts cannot be researchers", async () => {
    s = await startServer();
    const res = await makeUser(s, "r@example.com", "researcher");
    const ann = await makeUser(s, "a@example.com", "annotator");
    const id = await setupProject(s, res);
    expect((await api(s, "POST", `/projects/${id}/members`, { token: res.token, json: { email: "nobody@example.com", role: "annotator" } })).status).toBe(404);
    expect((await api(s, "POST", `/projects/${id}/members`, { token: res.token, json: { email: ann.email, role: "researcher" } })).status).toBe(400);
    const bad = await api(s, "POST", `/projects/${id}/members`, { token: res.token, json: { email: "not-an-email", role: "boss" } });
    expect(bad.status).toBe(400);
    expect((bad.body.error.fields as { path: string }[]).map((f) => f.path).sort()).toEqual(["email", "role"]);
    expect((await api(s, "POST", `/projects/${id}/members`, { token: res.token, json: { email: ann.email, role: "annotator" } })).status).toBe(201);
    const members = await api(s, "GET", `/projects/${id}/members`, { token: res.token });
    expect(members.body.members.map((m: { email: string; role: string }) => [m.email, m.role])).toEqual([
      ["a@example.com", "annotator"],
      ["r@example.com", "researcher"],
    ]);
  });

  it("researchers read raw judgments as JSONL; annotator identities and provenance are included", async () => {
    s = await startServer();
    const res = await makeUser(s, "r@example.com", "researcher");
    const ann = await makeUser(s, "a@example.com", "annotator");
    const id = await setupProject(s, res, { annotators: [ann], pairs: samplePairs(2) });
    const lease = await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token });
    await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, { token: ann.token, json: judgmentBody({ rationale: "clearer" }) });
    const r = await api(s, "GET", `/projects/${id}/judgments`, { token: res.token });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("application/x-ndjson");
    const rows = r.text.trim().split("\n").map((l) => JSON.parse(l));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ pair_id: lease.body.pair_id, assignment_id: lease.body.assignment_id, annotator_id: ann.id, choice_shown: "left", strength: 3, rationale: "clearer", model_a: "m1", model_b: "m2" });
  });

  it("rejects bodies that are too large with 413, bad JSON with 400, unknown ids with 404", async () => {
    s = await startServer({ env: { PAIRWISE_MAX_JSON_BYTES: "2048", PAIRWISE_MAX_IMPORT_BYTES: "4096" } });
    const res = await makeUser(s, "r@example.com", "researcher");
    const id = await setupProject(s, res);
    const big = await api(s, "POST", "/projects", { token: res.token, json: { name: "x", guidelines: "g".repeat(5000) } });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe("payload_too_large");
    const bigImport = await api(s, "POST", `/projects/${id}/pairs`, { token: res.token, body: JSON.stringify({ prompt: "p", response_a: "a".repeat(5000), response_b: "b" }) + "\n" });
    expect(bigImport.status).toBe(413);
    const progress = await api(s, "GET", `/projects/${id}/progress`, { token: res.token });
    expect(progress.body.pairs.total, "an oversized import stores nothing").toBe(0);
    const badJson = await api(s, "POST", "/projects", { token: res.token, body: "{not json", headers: { "content-type": "application/json" } });
    expect(badJson.status).toBe(400);
    expect((await api(s, "GET", "/projects/424242", { token: res.token })).status).toBe(404);
    expect((await api(s, "GET", "/projects/abc", { token: res.token })).status).toBe(404);
    expect((await api(s, "GET", "/nope", { token: res.token })).status).toBe(404);
  });
});
