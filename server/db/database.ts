import fs from "node:fs";
import path from "node:path";
import SQLite from "better-sqlite3";
import { type Kysely as KyselyType, Kysely, type Migration, type MigrationProvider, Migrator, SqliteDialect, type Transaction } from "kysely";
import * as init from "./migrations/2026-11-28T00-00_init.ts";
import * as qualityExports from "./migrations/2026-11-28T01-00_quality_exports.ts";
import * as jobsWorkers from "./migrations/2026-11-28T02-00_jobs_workers.ts";
import * as rounds from "./migrations/2026-11-28T03-00_rounds.ts";
import * as generationBackends from "./migrations/2026-11-28T04-00_generation_backends.ts";
import * as hybridFeedback from "./migrations/2026-11-29T00-00_hybrid_feedback.ts";
import { type Database } from "./schema.ts";

export type Db = KyselyType<Database>;
export type Executor = Db | Transaction<Database>;

// Listed explicitly (not read from disk) so the bundled production server carries its migrations.
const migrations: Record<string, Migration> = {
  "2026-11-28T00-00_init": init,
  "2026-11-28T01-00_quality_exports": qualityExports,
  "2026-11-28T02-00_jobs_workers": jobsWorkers,
  "2026-11-28T03-00_rounds": rounds,
  "2026-11-28T04-00_generation_backends": generationBackends,
  "2026-11-29T00-00_hybrid_feedback": hybridFeedback,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

export type OpenDbOptions = { path: string; synchronous?: "FULL" | "NORMAL" };

export function openDb(opts: OpenDbOptions): { db: Db; sqlite: SQLite.Database } {
  if (opts.path !== ":memory:") fs.mkdirSync(path.dirname(opts.path), { recursive: true });
  const sqlite = new SQLite(opts.path);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma(`synchronous = ${opts.synchronous ?? "FULL"}`);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  return { db, sqlite };
}

/**
 * Kysely prepares every statement afresh; on the hot path (next → judgment) preparing cost as
 * much as running. Statements are cached by SQL text. Safe because Kysely's SQLite driver runs
 * one query at a time on its single connection.
 */
function withStatementCache(sqlite: SQLite.Database, max = 500) {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sqlText: string) {
      let stmt = cache.get(sqlText);
      if (!stmt) {
        stmt = sqlite.prepare(sqlText);
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
        cache.set(sqlText, stmt);
      }
      return stmt;
    },
  };
}

export async function migrateToLatest(db: Db): Promise<void> {
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider() });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error || failed) {
    throw new Error(`Database migration failed${failed ? ` at ${failed.migrationName}` : ""}: ${String(error)}`);
  }
}
