import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./config.ts";
import { migrateToLatest, openDb } from "./db/database.ts";
import { DomainError } from "./domain/shared/errors.ts";
import { noEvents } from "./domain/shared/events.ts";
import { seedDemo } from "./demo/seed.ts";
import { createServices } from "./services.ts";

const USAGE = `pairwise: the Pairwise command line (uses DATABASE_URL, default sqlite:data/pairwise.db)

  pairwise user create --email E --password P --role admin|researcher|annotator [--name N]
  pairwise user list
  pairwise token create --email E [--name N]      prints the new API token alone on its last line
  pairwise worker create --name N [--as EMAIL]     prints a new worker token alone on its last line
  pairwise demo seed                              creates the demo projects and accounts (idempotent); with
                                                  PAIRWISE_DEMO_MODEL=DIR also the arithmetic RLHF-loop project
  pairwise export --project ID --format trl|trl-chat|openai|hh|sft|votes [--out FILE] [--as EMAIL]
                  [--file jsonl|csv|parquet] [--from ISO] [--to ISO] [--annotators 1,2] [--rounds 1,2]
                  [--source human|ai|all|agree] [--rewrites include|exclude|only] [--min-agreement X] [--min-confidence X] [--gold include|exclude|only]
                  [--label majority|dawid_skene] [--margin] [--weight] [--no-pseudonymize] [--scrub] [--include-superseded]
                                                  same filters as GET /api/v1/projects/:id/export; prints the manifest
`;

class UsageError extends Error {}

function need(values: Record<string, unknown>, key: string): string {
  const v = values[key];
  if (typeof v !== "string" || !v) throw new UsageError(`--${key} is required`);
  return v;
}

async function run(argv: string[]): Promise<number> {
  const [group, ...afterGroup] = argv;
  // `export` takes flags right after it; the other groups have an action word first.
  const action = group === "export" ? undefined : afterGroup[0];
  const rest = group === "export" ? afterGroup : afterGroup.slice(1);
  if (!group || group === "help" || group === "--help" || group === "-h") {
    process.stdout.write(USAGE);
    return group ? 0 : 2;
  }
  const config = loadConfig();
  const { db, sqlite } = openDb({ path: config.sqlitePath, synchronous: config.sqliteSynchronous });
  try {
    await migrateToLatest(db);
    const services = createServices({ db, sqlite, dataDir: config.dataDir, events: noEvents, sessionDays: config.sessionDays });
    const { values } = parseArgs({
      args: rest,
      options: {
        email: { type: "string" },
        password: { type: "string" },
        role: { type: "string" },
        name: { type: "string" },
        project: { type: "string" },
        format: { type: "string" },
        out: { type: "string" },
        as: { type: "string" },
        file: { type: "string" },
        from: { type: "string" },
        to: { type: "string" },
        annotators: { type: "string" },
        rounds: { type: "string" },
        source: { type: "string" },
        rewrites: { type: "string" },
        "min-agreement": { type: "string" },
        "min-confidence": { type: "string" },
        gold: { type: "string" },
        label: { type: "string" },
        margin: { type: "boolean" },
        weight: { type: "boolean" },
        "no-pseudonymize": { type: "boolean" },
        scrub: { type: "boolean" },
        "include-superseded": { type: "boolean" },
      },
      strict: true,
    });
    const key = group === "export" ? "export" : `${group} ${action ?? ""}`.trim();
    switch (key) {
      case "user create": {
        const u = await services.auth.createUser({
          email: need(values, "email"),
          password: need(values, "password"),
          role: need(values, "role") as "admin",
          name: values.name,
        });
        console.log(`created ${u.role} ${u.email} (id ${u.id})`);
        return 0;
      }
      case "user list": {
        for (const u of await services.auth.listUsers()) console.log(`${u.id}\t${u.role}\t${u.email}\t${u.name}`);
        return 0;
      }
      case "token create": {
        const t = await services.auth.createTokenForEmail(need(values, "email"), values.name ?? "cli");
        console.log(`API token for ${values.email} (shown once; store it now):`);
        console.log(t.token);
        return 0;
      }
      case "worker create": {
        const actor = values.as ? await services.auth.findUserByEmail(values.as) : (await services.auth.listUsers()).find((u) => u.role === "admin");
        if (!actor) throw new UsageError(values.as ? `no user ${values.as}` : "no admin account exists; pass --as EMAIL");
        const w = await services.jobs.createWorkerToken(actor, need(values, "name"));
        console.log(`worker ${w.worker_id} (shown once; store it now):`);
        console.log(w.token);
        return 0;
      }
      case "demo seed": {
        const r = await seedDemo(services, { tinyModelPath: process.env.PAIRWISE_DEMO_MODEL ? path.resolve(process.env.PAIRWISE_DEMO_MODEL) : undefined });
        for (const line of r.lines) console.log(line);
        return 0;
      }
      case "export": {
        const projectId = Number(need(values, "project"));
        const actor = values.as ? await services.auth.findUserByEmail(values.as) : (await services.auth.listUsers()).find((u) => u.role === "admin");
        if (!actor) throw new UsageError(values.as ? `no user ${values.as}` : "no admin account exists; pass --as EMAIL");
        const filters: Record<string, unknown> = { format: need(values, "format") };
        for (const k of ["file", "from", "to", "annotators", "rounds", "source", "rewrites", "gold", "label"] as const) if (values[k] !== undefined) filters[k] = values[k];
        if (values["min-agreement"] !== undefined) filters.min_agreement = values["min-agreement"];
        if (values["min-confidence"] !== undefined) filters.min_confidence = values["min-confidence"];
        if (values.margin) filters.margin = true;
        if (values.weight) filters.weight = true;
        if (values["no-pseudonymize"]) filters.pseudonymize = false;
        if (values.scrub) filters.scrub = true;
        if (values["include-superseded"]) filters.include_superseded = true;
        const result = await services.exports.run(actor, projectId, filters);
        if (values.out) fs.copyFileSync(result.path, values.out);
        const { path: stored, ...manifest } = result;
        console.log(JSON.stringify({ ...manifest, stored_at: stored, written_to: values.out ?? null }, null, 2));
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${key}"`);
    }
  } finally {
    await db.destroy();
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof UsageError || (e as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      console.error(`pairwise: ${(e as Error).message}\n\n${USAGE}`);
      process.exit(2);
    }
    if (e instanceof DomainError || e instanceof ConfigError) {
      console.error(`pairwise: ${e.message}`);
      process.exit(1);
    }
    console.error("pairwise: unexpected error:", e);
    process.exit(1);
  },
);
