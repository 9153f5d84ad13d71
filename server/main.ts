import path from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError, loadConfig } from "./config.ts";
import { createApp } from "./app.ts";

// The only file that listens.
async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(1);
    }
    throw e;
  }
  const remix =
    config.env === "production"
      ? { kind: "build" as const, buildPath: pathToFileURL(path.resolve("build/server/index.js")).href, clientDir: path.resolve("build/client") }
      : { kind: "vite" as const };
  const pw = await createApp({ config, remix });
  pw.httpServer.listen(config.port, config.host, () => {
    const addr = pw.httpServer.address();
    const port = typeof addr === "object" && addr ? addr.port : config.port;
    console.log(`Pairwise listening on http://localhost:${port} (database ${config.databaseUrl}, ${config.env})`);
  });
  const shutdown = async (signal: string) => {
    console.log(`${signal}: shutting down`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await pw.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

main().catch((e) => {
  console.error("Pairwise failed to start:", e instanceof Error ? e.message : e);
  process.exit(1);
});
