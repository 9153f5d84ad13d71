/**
 * Research data at scale: 1,000,000 judgments (333,334 pairs × 3 annotators, two models).
 * Measures, each in a fresh child process so peak RSS is the export's own:
 *   - `trl` and `votes` JSONL exports: seconds, rows, peak RSS;
 *   - dashboard metrics: cold index load, a full recompute, and a cached serve.
 * Label Studio users report ~4 minutes for 50,000 records; the target here is ≤10 s and
 * <300 MB RSS per export, ≤300 ms for the dashboard.
 *
 *   npx tsx bench/research-data.ts [--judgments 1000000] [--out bench/results/research-data.json]
 */
import { fork } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { migrateToLatest, openDb } from "../server/db/database.ts";

const { values } = parseArgs({
  options: {
    judgments: { type: "string", default: "1000000" },
    annotators: { type: "string", default: "300" },
    out: { type: "string", default: "bench/results/research-data.json" },
    child: { type: "string" },
    db: { type: "string" },
    dir: { type: "string" },
  },
});

async function childMain(task: string, dbPath: string, dir: string) {
  const { createServices, EventHub } = await import("../server/services.ts");
  const { db, sqlite } = openDb({ path: dbPath, synchronous: "NORMAL" });
  const services = createServices({ db, sqlite, dataDir: dir, events: new EventHub().events });
  const admin = { id: 1, email: "researcher@bench", name: "r", role: "admin" as const };
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const t0 = performance.now();
  let result: Record<string, unknown> = {};
  if (task === "trl" || task === "votes") {
    const m = await services.exports.run(admin, 1, { format: task });
    result = { seconds: (performance.now() - t0) / 1000, rows: m.counts.rows, bytes: m.bytes };
  } else if (task === "dashboard") {
    await services.quality.reportUnchecked(1);
    const coldMs = performance.now() - t0;
    const index = await services.quality.index(1);
    const { computeQuality } = await import("../server/domain/quality/metrics.ts");
    const project = (await services.projects.get(1))!;
    const computeTimes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      computeQuality(index, project.quality);
      computeTimes.push(performance.now() - t);
    }
    const serveTimes: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await services.quality.report(admin, 1);
      serveTimes.push(performance.now() - t);
    }
    serveTimes.sort((a, b) => a - b);
    result = { coldLoadMs: coldMs, recomputeMs: Math.min(...computeTimes), servedP50Ms: serveTimes[10], servedMaxMs: serveTimes[19], judgments: index.size };
  }
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  process.send!({ ...result, peakRssMb: peak / 1024 / 1024 });
  await db.destroy();
  process.exit(0);
}

function seed(dbPath: string, judgments: number, annotators: number) {
  const sq = new Database(dbPath);
  sq.pragma("journal_mode = WAL");
  sq.pragma("synchronous = OFF");
  const now = Date.UTC(2026, 10, 1);
  const pairs = Math.ceil(judgments / 3);
  sq.transaction(() => {
    sq.prepare("INSERT INTO users (email, name, password_hash, role, created_at) VALUES ('researcher@bench', 'r', 'x', 'admin', ?)").run(now);
    sq.prepare(
      `INSERT INTO projects (name, guidelines, scheme, scheme_version, judgments_per_pair, lease_seconds, created_by, created_at, updated_at, quality, pseudonym_salt)
       VALUES ('bench', '', '{}', 1, 3, 600, 1, ?, ?, '{}', 'benchsalt')`,
    ).run(now, now);
    const u = sq.prepare("INSERT INTO users (email, name, password_hash, role, created_at) VALUES (?, ?, 'x', 'annotator', ?)");
    for (let i = 0; i < annotators; i++) u.run(`a${i}@bench`, `a${i}`, now);
    const p = sq.prepare("INSERT INTO pairs (project_id, prompt, response_a, response_b, model_a, model_b, content_hash, created_at, claimed, judged) VALUES (1, ?, ?, ?, ?, ?, ?, ?, 3, 3)");
    const a = sq.prepare("INSERT INTO assignments (project_id, pair_id, annotator_id, left_is_a, status, created_at, expires_at, finished_at) VALUES (1, ?, ?, ?, 'judged', ?, ?, ?)");
    const j = sq.prepare(
      `INSERT INTO judgments (project_id, pair_id, assignment_id, annotator_id, source, choice, choice_shown, left_is_a, strength, rationale, time_on_task_ms,
         idempotency_key, scheme_version, model_a, model_b, response_a_sha256, response_b_sha256, created_at)
       VALUES (1, ?, ?, ?, 'human', ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)`,
    );
    let rng = 12345;
    const rand = () => ((rng = (rng * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    let made = 0;
    for (let i = 0; i < pairs && made < judgments; i++) {
      const ma = i % 2 ? "model-big" : "model-small";
      const mb = i % 2 ? "model-small" : "model-big";
      const pairId = Number(p.run(JSON.stringify(`Question ${i}: what is ${i} + ${i}?`), JSON.stringify(`The answer is ${2 * i}. Here is why: adding a number to itself doubles it.`), JSON.stringify(`I think it is ${2 * i + 1}.`), ma, mb, String(i), now).lastInsertRowid);
      const truthA = rand() < 0.7;
      for (let k = 0; k < 3 && made < judgments; k++, made++) {
        const annotator = 2 + ((i * 3 + k) % annotators);
        const leftIsA = rand() < 0.5 ? 1 : 0;
        const r = rand();
        const choice = r < 0.75 ? (truthA ? "a" : "b") : r < 0.85 ? (truthA ? "b" : "a") : r < 0.95 ? "tie" : "both_bad";
        const shown = choice === "a" ? (leftIsA ? "left" : "right") : choice === "b" ? (leftIsA ? "right" : "left") : choice;
        const t = now + made * 1000;
        const assignment = Number(a.run(pairId, annotator, leftIsA, t, t + 600_000, t).lastInsertRowid);
        j.run(pairId, assignment, annotator, choice, shown, leftIsA, choice === "a" || choice === "b" ? 1 + Math.floor(rand() * 4) : null, rand() < 0.2 ? "clearer and correct" : null, 2000 + Math.floor(rand() * 20000), `k${made}`, ma, mb, "0".repeat(64), "1".repeat(64), t);
      }
    }
  })();
  sq.close();
}

function runChild(task: string, dbPath: string, dir: string): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL(import.meta.url).pathname, ["--child", task, "--db", dbPath, "--dir", dir], { execArgv: ["--import", "tsx", ...(process.env.BENCH_PROF ? ["--cpu-prof", "--cpu-prof-dir=bench/results/prof"] : [])], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    child.once("message", (m) => resolve(m as Record<string, number>));
    child.once("exit", (code) => code !== 0 && reject(new Error(`${task} child exited ${code}`)));
  });
}

if (values.child) {
  await childMain(values.child, values.db!, values.dir!);
} else {
  const N = Number(values.judgments);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pairwise-rd-"));
  const dbPath = path.join(dir, "bench.db");
  const { db } = openDb({ path: dbPath });
  await migrateToLatest(db);
  await db.destroy();
  const t0 = performance.now();
  seed(dbPath, N, Number(values.annotators));
  console.log(`seeded ${N.toLocaleString()} judgments in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const trl = await runChild("trl", dbPath, dir);
  const votes = await runChild("votes", dbPath, dir);
  const dash = await runChild("dashboard", dbPath, dir);
  console.log(`\n${N.toLocaleString()} judgments, ${os.cpus().length} cores\n`);
  console.log("task             seconds   rows        size MB  peak RSS MB");
  for (const [name, r] of [["export trl", trl], ["export votes", votes]] as const) {
    console.log(`${name.padEnd(16)} ${r.seconds!.toFixed(2).padStart(7)}  ${String(r.rows).padEnd(10)} ${(r.bytes! / 1e6).toFixed(1).padStart(8)}  ${r.peakRssMb!.toFixed(0).padStart(11)}`);
  }
  console.log(`\ndashboard: cold index load ${dash.coldLoadMs!.toFixed(0)} ms, full recompute ${dash.recomputeMs!.toFixed(0)} ms, served p50 ${dash.servedP50Ms!.toFixed(1)} ms (max ${dash.servedMaxMs!.toFixed(1)} ms), peak RSS ${dash.peakRssMb!.toFixed(0)} MB`);
  console.log(`vs Label Studio's reported ~240 s for 50,000 records: trl export is ${((240 / 50_000) * N / trl.seconds!).toFixed(0)}x faster per record`);
  fs.mkdirSync(path.dirname(values.out!), { recursive: true });
  fs.writeFileSync(values.out!, JSON.stringify({ judgments: N, trl, votes, dashboard: dash }, null, 2));
  if (process.env.BENCH_KEEP) console.log(`kept ${dbPath}`);
  else fs.rmSync(dir, { recursive: true, force: true });
  void crypto;
}
