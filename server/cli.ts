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
  pairwise demo seed                              creates the demo project and accounts (idempotent)
`;

class UsageError extends Error {}

function need(values: Record<string, unknown>, key: string): string {
  const v = values[key];
  if (typeof v !== "string" || !v) throw new UsageError(`--${key} is required`);
  return v;
}

async function run(argv: string[]): Promise<number> {
  const [group, action, ...rest] = argv;
  if (!group || group === "help" || group === "--help" || group === "-h") {
    process.stdout.write(USAGE);
    return group ? 0 : 2;
  }
  const config = loadConfig();
  const { db } = openDb({ path: config.sqlitePath, synchronous: config.sqliteSynchronous });
  try {
    await migrateToLatest(db);
    const services = createServices({ db, events: noEvents, sessionDays: config.sessionDays });
    const { values } = parseArgs({
      args: rest,
      options: { email: { type: "string" }, password: { type: "string" }, role: { type: "string" }, name: { type: "string" } },
      strict: true,
    });
    const key = `${group} ${action ?? ""}`.trim();
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
      case "demo seed": {
        const r = await seedDemo(services);
        for (const line of r.lines) console.log(line);
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
