/**
 * Annotation throughput: N simulated annotators over HTTP loop next → judgment against a database
 * holding 1,000,000 pairs (and, for comparison, 10,000). Prints judgments/s, p50/p99 of both
 * calls, peak server RSS, and checks that the stored judgments equal the acknowledged ones.
 *
 *   npm run bench:annotate -- [--annotators 200] [--seconds 20] [--pairs 1000000] [--small 10000]
 */
import { fork } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { Agent, fetch, setGlobalDispatcher } from "undici";
import { migrateToLatest, openDb } from "../server/db/database.ts";

const { values } = parseArgs({
  options: {
    annotators: { type: "string", default: "200" },
    seconds: { type: "string", default: "20" },
    pairs: { type: "string", default: "1000000" },
    small: { type: "string", default: "10000" },
    synchronous: { type: "string", default: "FULL" },
    out: { type: "string", default: "bench/results/annotate.json" },
  },
});
const ANNOTATORS = Number(values.annotators);
const SECONDS = Number(values.seconds);

function sha256(s: string) {
  return crypto.createHash("sha256").update(s).digest("hex");
}

async function seed(dbPath: string, pairs: number, annotators: number): Promise<string[]> {
  const { db } = openDb({ path: dbPath, synchronous: "NORMAL" });
  await migrateToLatest(db);
  await db.destroy();
  const sq = new Database(dbPath);
  sq.pragma("journal_mode = WAL");
  sq.pragma("synchronous = OFF");
  const now = Date.now();
  const tokens: string[] = [];
  sq.transaction(() => {
    sq.prepare("INSERT INTO users (email, name, password_hash, role, created_at) VALUES ('researcher@bench', 'r', 'x', 'researcher', ?)").run(now);
    sq.prepare(
      `INSERT INTO projects (name, guidelines, scheme, scheme_version, judgments_per_pair, lease_seconds, created_by, created_at, updated_at)
       VALUES ('bench', '', '{"allowTie":true,"allowBothBad":true,"strength":"llama2","criteria":[],"rationale":{"mode":"optional","minLength":0},"flags":["unsafe","personal_data","broken"],"showLengthHint":false}', 1, 3, 600, 1, ?, ?)`,
    ).run(now, now);
    const u = sq.prepare("INSERT INTO users (email, name, password_hash, role, created_at) VALUES (?, ?, 'x', 'annotator', ?)");
    const m = sq.prepare("INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (1, ?, 'annotator', ?)");
    const t = sq.prepare("INSERT INTO api_tokens (user_id, name, prefix, token_hash, created_at) VALUES (?, 'bench', 'pw_', ?, ?)");
    for (let i = 0; i < annotators; i++) {
      const id = Number(u.run(`a${i}@bench`, `a${i}`, now).lastInsertRowid);
      m.run(id, now);
      const token = `pw_bench_${i}_${crypto.randomBytes(12).toString("hex")}`;
      t.run(id, sha256(token), now);
      tokens.push(token);
    }
    const p = sq.prepare("INSERT INTO pairs (project_id, prompt, response_a, response_b, model_a, model_b, content_hash, created_at) VALUES (1, ?, ?, ?, 'm1', 'm2', ?, ?)");
    for (let i = 0; i < pairs; i++) {
      p.run(JSON.stringify(`What is ${i} + ${i}?`), JSON.stringify(`It is ${2 * i}.`), JSON.stringify(`Probably ${2 * i + 1}.`), sha256(String(i)), now);
    }
  })();
  sq.close();
  return tokens;
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

type RunResult = { pairs: number; judgmentsPerSec: number; acked: number; stored: number; next: { p50: number; p99: number }; judgment: { p50: number; p99: number }; peakRssMb: number; errors: number };

async function run(pairs: number): Promise<RunResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pairwise-bench-"));
  const dbPath = path.join(dir, "bench.db");
  const t0 = performance.now();
  const tokens = await seed(dbPath, pairs, ANNOTATORS);
  console.log(`seeded ${pairs.toLocaleString()} pairs and ${ANNOTATORS} annotators in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const child = fork(path.resolve("bench/server-entry.ts"), [], {
    execArgv: ["--import", "tsx", ...(process.env.BENCH_PROF ? ["--cpu-prof", "--cpu-prof-dir=bench/results/prof"] : [])],
    env: { ...process.env, DATABASE_URL: `sqlite:${dbPath}`, PAIRWISE_DATA_DIR: dir, NODE_ENV: "production", PAIRWISE_SQLITE_SYNCHRONOUS: values.synchronous },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const port = await new Promise<number>((r) => child.once("message", (m: any) => r(m.port)));
  const base = `http://127.0.0.1:${port}/api/v1`;
  let peakRss = 0;
  const rssTimer = setInterval(() => child.send("rss"), 250);
  child.on("message", (m: any) => {
    if (m.rss) peakRss = Math.max(peakRss, m.rss);
  });

  const nextLat: number[] = [];
  const judgeLat: number[] = [];
  let acked = 0;
  let errors = 0;
  let warm = true;
  const deadline = { t: Infinity };
  const choices = ["left", "right", "tie", "both_bad"] as const;
  const worker = async (token: string) => {
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    while (performance.now() < deadline.t) {
      const a = performance.now();
      const r = await fetch(`${base}/projects/1/assignments/next`, { headers });
      const lease = r.status === 200 ? ((await r.json()) as { assignment_id: number }) : null;
      if (r.status !== 200) {
        await r.arrayBuffer();
        if (r.status !== 204) errors++;
        continue;
      }
      const b = performance.now();
      const choice = choices[Math.floor(Math.random() * 4)]!;
      const body = { choice, strength: choice === "left" || choice === "right" ? 1 + Math.floor(Math.random() * 4) : null, idempotency_key: crypto.randomUUID(), time_on_task_ms: 5000 };
      const j = await fetch(`${base}/assignments/${lease!.assignment_id}/judgment`, { method: "POST", headers, body: JSON.stringify(body) });
      await j.arrayBuffer();
      const c = performance.now();
      if (j.status === 201) {
        if (!warm) acked++;
        else acked++;
      } else errors++;
      if (!warm) {
        nextLat.push(b - a);
        judgeLat.push(c - b);
      }
    }
  };
  // 2 s warm-up (JIT, page cache), then the measured window.
  deadline.t = performance.now() + (SECONDS + 2) * 1000;
  const started = performance.now();
  const workers = tokens.map((t) => worker(t));
  await new Promise((r) => setTimeout(r, 2000));
  warm = false;
  const ackedAtWarm = acked;
  const measuredStart = performance.now();
  await Promise.all(workers);
  const measuredSecs = (performance.now() - measuredStart) / 1000;
  void started;
  clearInterval(rssTimer);
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));

  const sq = new Database(dbPath, { readonly: true });
  const stored = (sq.prepare("SELECT count(*) AS n FROM judgments").get() as { n: number }).n;
  const overfilled = (sq.prepare("SELECT count(*) AS n FROM pairs WHERE judged > 3 OR claimed > 3").get() as { n: number }).n;
  sq.close();
  fs.rmSync(dir, { recursive: true, force: true });
  if (overfilled) throw new Error(`${overfilled} pairs went past their target`);
  return {
    pairs,
    judgmentsPerSec: (acked - ackedAtWarm) / measuredSecs,
    acked,
    stored,
    next: { p50: pct(nextLat, 50), p99: pct(nextLat, 99) },
    judgment: { p50: pct(judgeLat, 50), p99: pct(judgeLat, 99) },
    peakRssMb: peakRss / 1024 / 1024,
    errors,
  };
}

setGlobalDispatcher(new Agent({ connections: ANNOTATORS + 10, pipelining: 1, keepAliveTimeout: 30_000 }));
const small = await run(Number(values.small));
const large = await run(Number(values.pairs));
const rows = [small, large];
console.log(`\n${ANNOTATORS} annotators, ${SECONDS} s measured per run, synchronous=${values.synchronous}, ${os.cpus().length} cores\n`);
console.log("pairs       judgments/s  next p50  next p99  judg p50  judg p99  peak RSS  acked=stored  errors");
for (const r of rows) {
  console.log(
    `${r.pairs.toLocaleString().padEnd(11)} ${r.judgmentsPerSec.toFixed(0).padStart(11)} ${r.next.p50.toFixed(1).padStart(7)}ms ${r.next.p99.toFixed(1).padStart(7)}ms ${r.judgment.p50.toFixed(1).padStart(7)}ms ${r.judgment.p99.toFixed(1).padStart(7)}ms ${r.peakRssMb.toFixed(0).padStart(6)}MB  ${String(r.acked === r.stored).padStart(12)}  ${r.errors}`,
  );
}
const ratio = large.next.p50 / small.next.p50;
const ratio99 = large.next.p99 / small.next.p99;
console.log(`\nnext at ${large.pairs.toLocaleString()} vs ${small.pairs.toLocaleString()} pairs: p50 ratio ${ratio.toFixed(2)}x, p99 ratio ${ratio99.toFixed(2)}x`);
for (const r of rows) if (r.acked !== r.stored) console.log(`MISMATCH at ${r.pairs} pairs: acked ${r.acked}, stored ${r.stored}`);
fs.mkdirSync(path.dirname(values.out!), { recursive: true });
fs.writeFileSync(values.out!, JSON.stringify({ annotators: ANNOTATORS, seconds: SECONDS, synchronous: values.synchronous, runs: rows, nextP50Ratio: ratio, nextP99Ratio: ratio99 }, null, 2));
