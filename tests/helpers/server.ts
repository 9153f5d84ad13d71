import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { io as ioClient, type Socket } from "socket.io-client";
import { createApp, type PairwiseApp } from "../../server/app.ts";
import { loadConfig } from "../../server/config.ts";
import { type Clock } from "../../server/domain/shared/clock.ts";
import { type ClientToServerEvents, type ServerToClientEvents } from "../../server/realtime/contract.ts";

/** A clock tests can move forward (lease expiry) without sleeping. */
export class TestClock implements Clock {
  constructor(public t = Date.UTC(2026, 10, 28, 12, 0, 0)) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export type TestServer = {
  url: string;
  pw: PairwiseApp;
  dbPath: string;
  dir: string;
  clock: Clock;
  close(): Promise<void>;
};

/** A real server: real SQLite file in a temp dir, real HTTP on a free port, socket.io attached. */
export async function startServer(opts: { clock?: Clock; env?: Record<string, string>; random?: () => number; goldDraw?: () => number } = {}): Promise<TestServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pairwise-test-"));
  const dbPath = path.join(dir, "test.db");
  const config = loadConfig({ DATABASE_URL: `sqlite:${dbPath}`, PAIRWISE_DATA_DIR: dir, NODE_ENV: "test", PAIRWISE_SQLITE_SYNCHRONOUS: "NORMAL", ...opts.env });
  const pw = await createApp({ config, remix: { kind: "none" }, clock: opts.clock, random: opts.random, goldDraw: opts.goldDraw });
  await new Promise<void>((r) => pw.httpServer.listen(0, "127.0.0.1", () => r()));
  const addr = pw.httpServer.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    pw,
    dbPath,
    dir,
    clock: opts.clock ?? { now: () => Date.now() },
    async close() {
      await pw.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type Actor = { id: number; email: string; token: string };

export async function makeUser(s: TestServer, email: string, role: "admin" | "researcher" | "annotator"): Promise<Actor> {
  const u = await s.pw.services.auth.createUser({ email, password: "correct horse battery", role });
  const t = await s.pw.services.auth.createToken(u.id, "test");
  return { id: u.id, email: u.email, token: t.token };
}

export type ApiResponse = { status: number; body: any; headers: Headers; text: string };

export async function api(s: TestServer, method: string, url: string, opts: { token?: string; json?: unknown; body?: BodyInit; headers?: Record<string, string> } = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body = opts.body;
  if (opts.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(opts.json);
  }
  const res = await fetch(`${s.url}/api/v1${url}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  return { status: res.status, body: parsed, headers: res.headers, text };
}

export function jsonl(rows: unknown[]): string {
  return rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
}

export function samplePairs(n: number, prefix = "q"): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({ prompt: `${prefix} ${i}?`, response_a: `answer A ${i}`, response_b: `answer B ${i}`, model_a: "m1", model_b: "m2" }));
}

/** Creates a project owned by `researcher` with `annotators` as members and `pairs` imported. */
export async function setupProject(
  s: TestServer,
  researcher: Actor,
  opts: { annotators?: Actor[]; pairs?: Record<string, unknown>[]; settings?: Record<string, unknown> } = {},
): Promise<number> {
  const created = await api(s, "POST", "/projects", { token: researcher.token, json: { name: "Test project", ...(opts.settings ?? {}) } });
  if (created.status !== 201) throw new Error(`project create failed: ${created.text}`);
  const id = created.body.id as number;
  for (const a of opts.annotators ?? []) {
    const r = await api(s, "POST", `/projects/${id}/members`, { token: researcher.token, json: { email: a.email, role: "annotator" } });
    if (r.status !== 201) throw new Error(`add member failed: ${r.text}`);
  }
  if (opts.pairs?.length) {
    const r = await api(s, "POST", `/projects/${id}/pairs`, { token: researcher.token, body: jsonl(opts.pairs), headers: { "content-type": "application/x-ndjson" } });
    if (r.status !== 201) throw new Error(`import failed: ${r.text}`);
  }
  return id;
}

export function readable(text: string): Readable {
  return Readable.from([Buffer.from(text)]);
}

export type TypedClient = Socket<ServerToClientEvents, ClientToServerEvents>;

export async function connectSocket(s: TestServer, token: string): Promise<TypedClient> {
  const socket: TypedClient = ioClient(s.url, { auth: { token }, transports: ["websocket"], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", (e) => reject(e));
  });
  return socket;
}

/** Resolves with the first `event` whose payload satisfies `accept` (default: any). */
export function nextEvent<E extends keyof ServerToClientEvents>(
  socket: TypedClient,
  event: E,
  accept: (p: Parameters<ServerToClientEvents[E]>[0]) => boolean = () => true,
  timeoutMs = 5000,
): Promise<Parameters<ServerToClientEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const handler = (payload: any) => {
      if (!accept(payload)) return;
      clearTimeout(timer);
      (socket as any).off(event, handler);
      resolve(payload);
    };
    const timer = setTimeout(() => {
      (socket as any).off(event, handler);
      reject(new Error(`no matching ${String(event)} event within ${timeoutMs} ms`));
    }, timeoutMs);
    (socket as any).on(event, handler);
  });
}

export function judgmentBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { choice: "left", strength: 3, idempotency_key: `key-${Math.random().toString(36).slice(2)}-${Date.now()}`, time_on_task_ms: 1234, ...extra };
}
