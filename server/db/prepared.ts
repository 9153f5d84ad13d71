import { type CompiledQuery, type Compilable, type QueryResult } from "kysely";
import { type Executor } from "./database.ts";

const PARAM = Symbol("pairwise.param");
type Slot = { [PARAM]: string };

/**
 * A placeholder for a value supplied at execution time. Typed as the column's type so builder
 * calls type-check; at run time it is a marker object that `prepareSync` finds again.
 */
export function param<T>(name: string): T {
  return { [PARAM]: name } as unknown as T;
}

function isSlot(v: unknown): v is Slot {
  return typeof v === "object" && v !== null && PARAM in v;
}

/**
 * A query written with Kysely's builder, compiled once, and bound to the raw better-sqlite3
 * connection, for code that runs a whole transaction synchronously (the annotation hot path,
 * decision 006): building and compiling per call cost more than SQLite took to run it. Use it
 * only while holding Kysely's connection (`db.connection().execute(...)`), so no Kysely
 * transaction is open meanwhile.
 */
// PAIRWISE_QUERY_STATS=1 prints per-statement time every 5 s (for profiling the hot path).
const STATS = process.env.PAIRWISE_QUERY_STATS === "1";
const stats = new Map<string, { n: number; ms: number }>();
function timed<T>(sqlText: string, fn: () => T): T {
  const t0 = performance.now();
  const out = fn();
  const e = stats.get(sqlText) ?? { n: 0, ms: 0 };
  e.n++;
  e.ms += performance.now() - t0;
  stats.set(sqlText, e);
  return out;
}
if (STATS) {
  setInterval(() => {
    const rows = [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12);
    console.error(rows.map(([q, e]) => `${((e.ms / e.n) * 1000).toFixed(0).padStart(5)}µs ×${e.n} ${q.slice(0, 90)}`).join("\n") + "\n--");
  }, 5000).unref();
}

export class SyncQuery<Args extends Record<string, unknown>, Row> {
  private readonly stmt: import("better-sqlite3").Statement;
  private readonly slots: (string | null)[];
  private readonly params: readonly unknown[];

  constructor(sqlite: import("better-sqlite3").Database, compiled: CompiledQuery<Row>) {
    this.stmt = sqlite.prepare(compiled.sql);
    this.params = compiled.parameters;
    this.slots = compiled.parameters.map((p) => (isSlot(p) ? p[PARAM] : null));
  }

  private bind(args: Args): unknown[] {
    return this.params.map((p, i) => {
      const name = this.slots[i];
      if (name === null || name === undefined) return p;
      if (!(name in args)) throw new Error(`prepared query: missing value for ${name}`);
      const v = args[name];
      return typeof v === "boolean" ? (v ? 1 : 0) : v;
    });
  }

  get(args: Args): Row | undefined {
    if (STATS) return timed(this.stmt.source, () => this.stmt.get(...this.bind(args)) as Row | undefined);
    return this.stmt.get(...this.bind(args)) as Row | undefined;
  }

  all(args: Args): Row[] {
    return this.stmt.all(...this.bind(args)) as Row[];
  }

  run(args: Args): number {
    if (STATS) return timed(this.stmt.source, () => this.stmt.run(...this.bind(args)).changes);
    return this.stmt.run(...this.bind(args)).changes;
  }
}

export function prepareSync<Args extends Record<string, unknown>, Row>(sqlite: import("better-sqlite3").Database, query: Compilable<Row>): SyncQuery<Args, Row> {
  return new SyncQuery<Args, Row>(sqlite, query.compile());
}
