import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { api, makeUser, setupProject, startServer, type TestServer } from "../helpers/server.ts";

let s: TestServer;
let fake: Server | null = null;
afterEach(async () => {
  await s?.close();
  await new Promise<void>((r) => (fake ? fake.close(() => r()) : r()));
  fake = null;
});

/** A scripted OpenAI-compatible chat endpoint served over real HTTP by the test itself. */
async function serveFakeOpenAI(): Promise<{ url: string; seen: { auth: string | undefined; body: any }[] }> {
  const seen: { auth: string | undefined; body: any }[] = [];
  fake = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const body = JSON.parse(raw);
      seen.push({ auth: req.headers.authorization, body });
      if (req.url !== "/v1/chat/completions") {
        res.writeHead(404).end();
        return;
      }
      const user = body.messages.at(-1).content as string;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: `answer to ${user} (seed ${body.seed})` } }] }));
    });
  });
  await new Promise<void>((r) => fake!.listen(0, "127.0.0.1", () => r()));
  const addr = fake.address();
  return { url: `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/v1`, seen };
}

describe("OpenAI-compatible generation backend", () => {
  it("generates pairs server-side; the key goes only to the endpoint and never back to a client", async () => {
    s = await startServer();
    const res = await makeUser(s, "res@example.com", "researcher");
    const id = await setupProject(s, res);
    const endpoint = await serveFakeOpenAI();
    const set = await api(s, "PUT", `/projects/${id}/generation`, { token: res.token, json: { backend: "openai", base_url: endpoint.url, model: "served-model", api: "chat", api_key: "sk-test-secret-key-123456" } });
    expect(set.status, set.text).toBe(200);
    expect(set.body.generation).toEqual({ backend: "openai", base_url: endpoint.url, model: "served-model", api: "chat", has_api_key: true });
    expect(set.text).not.toContain("sk-test");
    expect((await api(s, "GET", `/projects/${id}/generation`, { token: res.token })).text).not.toContain("sk-test");
    expect((await api(s, "GET", `/projects/${id}`, { token: res.token })).text).not.toContain("sk-test");

    const started = await api(s, "POST", `/projects/${id}/generate`, { token: res.token, json: { prompts: ["What is 2+2?", [{ role: "user", content: "Name a color." }]], max_new_tokens: 32 } });
    expect(started.status, started.text).toBe(202);
    const jobId = started.body.job.id;
    let job;
    for (let i = 0; i < 50; i++) {
      job = (await api(s, "GET", `/jobs/${jobId}`, { token: res.token })).body.job;
      if (job.status === "succeeded" || job.status === "failed") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(job.status, job.error).toBe("succeeded");
    expect(endpoint.seen).toHaveLength(4);
    expect(endpoint.seen.every((r) => r.auth === "Bearer sk-test-secret-key-123456")).toBe(true);
    expect(endpoint.seen[0]!.body).toMatchObject({ model: "served-model", max_tokens: 32 });
    const progress = await api(s, "GET", `/projects/${id}/progress`, { token: res.token });
    expect(progress.body.pairs.total).toBe(2);
    const ann = await makeUser(s, "a@example.com", "annotator");
    await api(s, "POST", `/projects/${id}/members`, { token: res.token, json: { email: ann.email, role: "annotator" } });
    const lease = await api(s, "GET", `/projects/${id}/assignments/next`, { token: ann.token });
    expect([lease.body.left, lease.body.right].every((t: string) => t.startsWith("answer to"))).toBe(true);
    expect((await api(s, "GET", `/projects/${id}/generation`, { token: ann.token })).status).toBe(403);
  });

  it("refuses a backend without URL and model, and a failing endpoint fails the job", async () => {
    s = await startServer();
    const res = await makeUser(s, "res@example.com", "researcher");
    const id = await setupProject(s, res);
    const bad = await api(s, "PUT", `/projects/${id}/generation`, { token: res.token, json: { backend: "openai" } });
    expect(bad.status).toBe(400);
    await api(s, "PUT", `/projects/${id}/generation`, { token: res.token, json: { backend: "openai", base_url: "http://127.0.0.1:9/v1", model: "m" } });
    const started = await api(s, "POST", `/projects/${id}/generate`, { token: res.token, json: { prompts: ["x"] } });
    let job;
    for (let i = 0; i < 100; i++) {
      job = (await api(s, "GET", `/jobs/${started.body.job.id}`, { token: res.token })).body.job;
      if (job.status !== "queued" && job.status !== "running") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(job.status).toBe("failed");
    expect((await api(s, "GET", `/projects/${id}/progress`, { token: res.token })).body.pairs.total).toBe(0);
  });
});
