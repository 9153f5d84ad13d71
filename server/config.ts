import path from "node:path";
import { z } from "zod";

const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default("0.0.0.0"),
  DATABASE_URL: z
    .string()
    .default("sqlite:data/pairwise.db")
    .refine((v) => v.startsWith("sqlite:"), {
      message: "only sqlite:<path> is supported in this release (Postgres is planned), e.g. sqlite:data/pairwise.db",
    }),
  PAIRWISE_DATA_DIR: z.string().min(1).default("data/"),
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  /** "FULL" survives power loss for every acknowledged write; "NORMAL" survives process crashes only. */
  PAIRWISE_SQLITE_SYNCHRONOUS: z.enum(["FULL", "NORMAL"]).default("FULL"),
  PAIRWISE_MAX_JSON_BYTES: z.coerce.number().int().positive().default(256 * 1024),
  PAIRWISE_MAX_IMPORT_BYTES: z.coerce.number().int().positive().default(200 * 1024 * 1024),
  PAIRWISE_SESSION_DAYS: z.coerce.number().positive().default(14),
  /** How long a worker's claim on a job lasts without a heartbeat. */
  PAIRWISE_JOB_LEASE_SECONDS: z.coerce.number().int().min(2).max(3600).default(30),
  PAIRWISE_LOG_REQUESTS: z
    .enum(["0", "1"])
    .default("0")
    .transform((v) => v === "1"),
});

export type Config = {
  port: number;
  host: string;
  databaseUrl: string;
  sqlitePath: string;
  dataDir: string;
  env: "development" | "production" | "test";
  sqliteSynchronous: "FULL" | "NORMAL";
  maxJsonBytes: number;
  maxImportBytes: number;
  sessionDays: number;
  logRequests: boolean;
  jobLeaseSeconds: number;
};

export class ConfigError extends Error {}

/** Parses the environment once; a bad value throws one readable line per problem. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  }
  const c = parsed.data;
  const sqliteTarget = c.DATABASE_URL.slice("sqlite:".length);
  return {
    port: c.PORT,
    host: c.HOST,
    databaseUrl: c.DATABASE_URL,
    sqlitePath: sqliteTarget === ":memory:" ? ":memory:" : path.resolve(sqliteTarget),
    dataDir: path.resolve(c.PAIRWISE_DATA_DIR),
    env: c.NODE_ENV,
    sqliteSynchronous: c.PAIRWISE_SQLITE_SYNCHRONOUS,
    maxJsonBytes: c.PAIRWISE_MAX_JSON_BYTES,
    maxImportBytes: c.PAIRWISE_MAX_IMPORT_BYTES,
    sessionDays: c.PAIRWISE_SESSION_DAYS,
    logRequests: c.PAIRWISE_LOG_REQUESTS,
    jobLeaseSeconds: c.PAIRWISE_JOB_LEASE_SECONDS,
  };
}
