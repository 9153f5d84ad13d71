import { afterEach, describe, expect, it } from "vitest";
import { io as ioClient } from "socket.io-client";
import { type Ack } from "../../server/realtime/contract.ts";
import { api, connectSocket, jsonl, judgmentBody, makeUser, nextEvent, samplePairs, setupProject, startServer, type TestServer, type TypedClient } from "../helpers/server.ts";

let s: TestServer;
const sockets: TypedClient[] = [];
afterEach(async () => {
  for (const so of sockets.splice(0)) so.disconnect();
  await s?.close();
});

async function join(socket: TypedClient, projectId: number, mode: "annotate" | "watch"): Promise<Ack<{ role: string }>> {
  return new Promise((r) => socket.emit("project:join", { projectId, mode }, r));
}

describe("realtime", () => {
  it("the researcher's counters move when an annotator submits; annotators never see others' labels", async () => {
    s = await startServer();
    const res = await makeUser(s, "r@example.com", "researcher");
    const a1 = await makeUser(s, "a1@example.com", "annotator");
    const a2 = await makeUser(s, "a2@example.com", "annotator");
    const id = await setupProject(s, res, { annotators: [a1, a2], pairs: samplePairs(3) });
    const watcher = await connectSocket(s, res.token);
    const other = await connectSocket(s, a2.token);
    sockets.push(watcher, other);
    expect(await join(watcher, id, "watch")).toEqual({ data: { role: "researcher" } });
    expect(await join(other, id, "annotate")).toEqual({ data: { role: "annotator" } });
    const leakedToAnnotator: unknown[] = [];
    other.on("judgment:created", (p) => leakedToAnnotator.push(p));
    other.on("annotators:updated", (p) => leakedToAnnotator.push(p));

    const lease = await api(s, "GET", `/projects/${id}/assignments/next`, { token: a1.token });
    const created = nextEvent(watcher, "judgment:created");
    const annotatorsUpdated = nextEvent(watcher, "annotators:updated", (p) => p.annotators.some((r) => r.id === a1.id && r.judgments === 1));
    const progressed = nextEvent(watcher, "progress:updated", (p) => p.counts.judgments.total === 1);
    const submit = await api(s, "POST", `/assignments/${lease.body.assignment_id}/judgment`, { token: a1.token, json: judgmentBody() });
    const ev = await created;
    expect(ev).toMatchObject({ projectId: id, judgmentId: submit.body.id, annotatorId: a1.id });
    const progress = await progressed;
    expect(progress.counts.pairs).toMatchObject({ total: 3, partial: 1, untouched: 2 });
    const stats = await annotatorsUpdated;
    expect(stats.annotators.find((r) => r.id === a1.id)?.judgments).toBe(1);
    expect(leakedToAnnotator, "annotators receive no judgment or annotator events").toEqual([]);
  });

  it("annotators hear about new pairs; researchers see who is annotating now", async () => {
    s = await startServer();
    const res = await makeUser(s, "r@example.com", "researcher");
    const a1 = await makeUser(s, "a1@example.com", "annotator");
    const id = await setupProject(s, res, { annotators: [a1] });
    const watcher = await connectSocket(s, res.token);
    sockets.push(watcher);
    await join(watcher, id, "watch");
    const ann = await connectSocket(s, a1.token);
    sockets.push(ann);
    const presence = nextEvent(watcher, "presence:updated", (p) => p.online.some((e) => e.userId === a1.id));
    await join(ann, id, "annotate");
    const p = await presence;
    expect(p.online.map((e) => [e.userId, e.mode])).toContainEqual([a1.id, "annotate"]);
    const imported = nextEvent(ann, "pairs:imported");
    await api(s, "POST", `/projects/${id}/pairs`, { token: res.token, body: jsonl(samplePairs(4, "new")) });
    expect(await imported).toMatchObject({ projectId: id, imported: 4, kind: "pairs" });
    const gone = nextEvent(watcher, "presence:updated", (p) => !p.online.some((e) => e.userId === a1.id));
    ann.disconnect();
    expect((await gone).online.map((e) => e.userId)).not.toContain(a1.id);
  });

  it("rejects unauthenticated sockets, bad payloads and foreign project rooms", async () => {
    s = await startServer();
    const res = await makeUser(s, "r@example.com", "researcher");
    const outsider = await makeUser(s, "o@example.com", "annotator");
    const id = await setupProject(s, res);
    const anon = ioClient(s.url, { transports: ["websocket"], reconnection: false, forceNew: true });
    const err = await new Promise<Error>((r) => anon.once("connect_error", r));
    expect(err.message).toBe("unauthenticated");
    anon.close();
    const so = await connectSocket(s, outsider.token);
    sockets.push(so);
    const denied = await join(so, id, "watch");
    expect(denied).toEqual({ error: { code: "not_found", message: "Project not found" } });
    const bad = await new Promise<Ack<{ role: string }>>((r) => (so as any).emit("project:join", { projectId: "x", mode: "spy" }, r));
    expect("error" in bad && bad.error.code).toBe("validation_failed");
  });
});
