import { type CompiledQuery, type Compilable, type QueryResult } from "kysely";
import { type Executor } from "./database.ts";

const PARAM = Symbol("pairwise.param");
type Slot = { [PARAM]: string };

/**
 * A placeholder for a value supplied at execution time. Typed as the column's type so builder
 * calls type-check; at run time it is a marker object that `prepareQuery` finds again.
 */
export function param<T>(name: string): T {
  return { [PARAM]: name } as unknown as T;
}

function isSlot(v: unknown): v is Slot {
  return typeof v === "object" && v !== null && PARAM in v;
}

/**
 * A Kysely query built and compiled once, executed many times with new values. The hot path
 * (next → judgment) runs ~15 statements per cycle; rebuilding and recompiling each one cost more
 * than SQLite took to run it (see docs/benchmarks.md).
 */
export class PreparedQuery<Args extends Record<string, unknown>, Row> {
  private readonly slots: (string | null)[];

  constructor(private readonly compiled: CompiledQuery<Row>) {
    this.slots = compiled.parameters.map((p) => (isSlot(p) ? p[PARAM] : null));
  }

  execute(executor: Executor, args: Args): Promise<QueryResult<Row>> {
    const parameters = this.compiled.parameters.map((p, i) => {
      const name = this.slots[i];
      if (name === null || name === undefined) return p;
      if (!(name in args)) throw new Error(`prepared query: missing value for ${name}`);
      return args[name];
    });
    return executor.executeQuery<Row>({ ...this.compiled, parameters });
  }

  async first(executor: Executor, args: Args): Promise<Row | undefined> {
    return (await this.execute(executor, args)).rows[0];
  }

  async all(executor: Executor, args: Args): Promise<Row[]> {
    return (await this.execute(executor, args)).rows;
  }
}

export function prepareQuery<Args extends Record<string, unknown>, Row>(query: Compilable<Row>): PreparedQuery<Args, Row> {
  return new PreparedQuery<Args, Row>(query.compile());
}
