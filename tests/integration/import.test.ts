import { afterEach, describe, expect, it } from "vitest";
import { api, jsonl, makeUser, setupProject, startServer, type TestServer } from "../helpers/server.ts";

let s: TestServer;
afterEach(async () => {
  await s?.close();
});

async function world() {
  s = await startServer();
  const res = await makeUser(s, "r@example.com", "researcher");
  const id = await setupProject(s, res);
  return { res, id };
}

const post = (id: number, token: string, body: BodyInit, query = "", kind = "pairs", headers: Record<string, string> = {}) =>
  api(s, "POST", `/projects/${id}/${kind}${query}`, { token, body, headers });

describe("imports", () => {
  it("imports every accepted shape and does not duplicate on re-import", async () => {
    const { res, id } = await world();
    const file = jsonl([
      { prompt: "p1", response_a: "a", response_b: "b", model_a: "m1", model_b: "m2", metadata: { topic: "x" } },
      { prompt: [{ role: "system", content: "Be brief." }, { role: "user", content: "hi" }], response_a: [{ role: "assistant", content: "hello" }], response_b: "hey" },
      { prompt: "p3", chosen: "good", rejected: "bad", margin: 1.5 },
      { prompt: [{ role: "user", content: "q" }], chosen: [{ role: "assistant", content: "c" }], rejected: [{ role: "assistant", content: "r" }] },
      { chosen: "\n\nHuman: What is 2+2?\n\nAssistant: 4", rejected: "\n\nHuman: What is 2+2?\n\nAssistant: 5" },
    ]);
    const r1 = await post(id, res.token, file);
    expect(r1.status).toBe(201);
    expect(r1.body).toMatchObject({ imported: 5, duplicates: 0 });
    const r2 = await post(id, res.token, file);
    expect(r2.body).toMatchObject({ imported: 0, duplicates: 5 });
    const progress = await api(s, "GET", `/projects/${id}/progress`, { token: res.token });
    expect(progress.body.pairs.total).toBe(5);
  });

  it("a file with any bad line imports nothing and names each bad line", async () => {
    const { res, id } = await world();
    const file = [
      JSON.stringify({ prompt: "ok", response_a: "a", response_b: "b" }),
      "{oops",
      "",
      JSON.stringify({ prompt: "", response_a: "a", response_b: "b" }),
      JSON.stringify({ something: "else" }),
      JSON.stringify({ prompt: "ok2", response_a: "a", response_b: "b" }),
    ].join("\n");
    const r = await post(id, res.token, file);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("import_invalid");
    expect(r.body.error.lines.map((l: { line: number }) => l.line)).toEqual([2, 4, 5]);
    expect(r.body.error.lines[1].message).toContain("prompt");
    const progress = await api(s, "GET", `/projects/${id}/progress`, { token: res.token });
    expect(progress.body.pairs.total, "nothing from the bad file was stored").toBe(0);
  });

  it("imports CSV as a multipart upload, including quoted multi-line cells", async () => {
    const { res, id } = await world();
    const csv = 'prompt,response_a,response_b,model_a,model_b,metadata\n"Write code","```py\nprint(1)\n```","print 1",m1,m2,"{""k"":1}"\nsecond,x,y,,,\n';
    const form = new FormData();
    form.append("file", new Blob([csv], { type: "text/csv" }), "pairs.csv");
    const r = await post(id, res.token, form);
    expect(r.status, r.text).toBe(201);
    expect(r.body).toMatchObject({ imported: 2, duplicates: 0 });
    const bad = new FormData();
    bad.append("file", new Blob(["prompt,response_a,response_b\nonly,two\n"], { type: "text/csv" }), "bad.csv");
    const rb = await post(id, res.token, bad);
    expect(rb.status).toBe(400);
    expect(rb.body.error.lines[0].line).toBe(2);
  });

  it("imports prompts and rejects empty files", async () => {
    const { res, id } = await world();
    const r = await post(id, res.token, jsonl([{ prompt: "a" }, { prompt: [{ role: "user", content: "b" }] }, { prompt: "a" }]), "", "prompts");
    expect(r.body).toMatchObject({ imported: 2, duplicates: 1 });
    const empty = await post(id, res.token, "\n\n");
    expect(empty.status).toBe(400);
    expect(empty.body.error.code).toBe("import_invalid");
    const history = await api(s, "GET", `/projects/${id}/imports`, { token: res.token });
    expect(history.body.imports).toHaveLength(1);
  });
});
