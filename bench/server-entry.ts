// A bare API server for benchmarks: same createApp as production, without the Remix UI.
import { createApp } from "../server/app.ts";
import { loadConfig } from "../server/config.ts";

const config = loadConfig();
const pw = await createApp({ config, remix: { kind: "none" } });
pw.httpServer.listen(0, "127.0.0.1", () => {
  const addr = pw.httpServer.address();
  process.send?.({ port: typeof addr === "object" && addr ? addr.port : 0 });
});
process.on("message", (m) => {
  if (m === "rss") process.send?.({ rss: process.memoryUsage().rss });
});
process.on("SIGTERM", () => void pw.close().then(() => process.exit(0)));
