import { createServer, type Server as HttpServer } from "node:http";
import path from "node:path";
import { createRequestHandler } from "@remix-run/express";
import { type ServerBuild } from "@remix-run/node";
import express from "express";
import { type Config } from "./config.ts";
import { type Db, migrateToLatest, openDb } from "./db/database.ts";
import { type Clock, systemClock } from "./domain/shared/clock.ts";
import { apiErrorHandler, createApiRouter } from "./api/router.ts";
import { createWorkerRouter } from "./api/worker-router.ts";
import { clearSessionCookie, sessionCookie, userFromRequest } from "./api/http-auth.ts";
import { registerRealtime } from "./realtime/register.ts";
import { createServices, EventHub, type Services } from "./services.ts";

export type RemixMode =
  | { kind: "none" }
  | { kind: "build"; buildPath: string; clientDir: string }
  | { kind: "vite" };

export type AppDeps = {
  config: Config;
  remix: RemixMode;
  clock?: Clock;
  random?: () => number;
  goldDraw?: () => number;
};

export type PairwiseApp = {
  app: express.Express;
  httpServer: HttpServer;
  services: Services;
  db: Db;
  close(): Promise<void>;
};

/** Builds the whole server (express + Remix + socket.io) without listening; tests use it directly. */
export async function createApp(deps: AppDeps): Promise<PairwiseApp> {
  const { config } = deps;
  const { db, sqlite } = openDb({ path: config.sqlitePath, synchronous: config.sqliteSynchronous });
  await migrateToLatest(db);

  const hub = new EventHub();
  const services = createServices({ db, sqlite, dataDir: config.dataDir, clock: deps.clock ?? systemClock, events: hub.events, sessionDays: config.sessionDays, random: deps.random, goldDraw: deps.goldDraw, jobLeaseSeconds: config.jobLeaseSeconds, heartbeatSeconds: Math.max(1, Math.floor(config.jobLeaseSeconds / 6)) });

  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", "loopback");
  const httpServer = createServer(app);
  const realtime = registerRealtime(httpServer, services);
  hub.attach(realtime.events);
  // The round state machine advances when its jobs finish, and decides A/B tests as judgments land.
  const autoDecide = new Map<number, NodeJS.Timeout>();
  hub.attach({
    jobFinished: (jobId) => void services.rounds.onJobFinished(jobId).catch((e) => console.error(`round advance after job ${jobId} failed:`, e)),
    judgmentCreated: (e) => {
      if (autoDecide.has(e.projectId)) return;
      autoDecide.set(
        e.projectId,
        setTimeout(() => {
          autoDecide.delete(e.projectId);
          services.rounds.maybeAutoDecide(e.projectId).catch((err) => console.error("A/B auto-decision failed:", err));
        }, 500),
      );
    },
  });

  let ready = false;
  app.use((_req, res, next) => {
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Referrer-Policy", "same-origin");
    next();
  });
  if (config.logRequests) {
    app.use((req, res, next) => {
      const t0 = performance.now();
      res.on("finish", () => console.log(`${req.method} ${req.originalUrl} ${res.statusCode} ${(performance.now() - t0).toFixed(1)}ms`));
      next();
    });
  }
  // Mounted first: worker tokens work here and nowhere else.
  app.use("/api/v1/worker", createWorkerRouter(services, { maxJsonBytes: config.maxJsonBytes }));
  app.use("/api/v1", createApiRouter(services, { maxJsonBytes: config.maxJsonBytes, maxImportBytes: config.maxImportBytes, isReady: () => ready }));

  let viteClose: (() => Promise<void>) | null = null;
  if (deps.remix.kind !== "none") {
    let build: ServerBuild | (() => Promise<ServerBuild>);
    if (deps.remix.kind === "vite") {
      const vite = await import("vite");
      const viteDevServer = await vite.createServer({ server: { middlewareMode: true, hmr: { server: httpServer } } });
      viteClose = () => viteDevServer.close();
      app.use(viteDevServer.middlewares);
      build = () => viteDevServer.ssrLoadModule("virtual:remix/server-build") as Promise<ServerBuild>;
    } else {
      const clientDir = deps.remix.clientDir;
      app.use("/assets", express.static(path.join(clientDir, "assets"), { immutable: true, maxAge: "1y" }));
      app.use(express.static(clientDir, { maxAge: "1h" }));
      build = (await import(/* @vite-ignore */ deps.remix.buildPath)) as ServerBuild;
    }
    app.use(express.static("public", { maxAge: "1h" }));
    app.all(
      "*",
      createRequestHandler({
        build,
        mode: config.env === "production" ? "production" : "development",
        getLoadContext: async (req) => ({
          services,
          user: await userFromRequest(services, req),
          cookies: {
            session: (token: string, maxAgeSeconds: number) => sessionCookie(token, maxAgeSeconds, req.secure),
            clear: () => clearSessionCookie(req.secure),
          },
        }),
      }),
    );
  }
  app.use(apiErrorHandler);
  await services.jobs.failOrphanedInProcessJobs();
  ready = true;
  // Dead workers' jobs go back to the queue even when no other worker is asking for work.
  const reclaimTimer = setInterval(() => {
    services.jobs.reclaimExpired().catch((e) => console.error("job lease reclaim failed:", e));
  }, 5000);
  reclaimTimer.unref();
  // Expired annotation leases go back to the pool within a second.
  const leaseTimer = setInterval(() => {
    services.annotation.reclaimExpiredNow().catch((e) => console.error("annotation lease reclaim failed:", e));
  }, 1000);
  leaseTimer.unref();

  return {
    app,
    httpServer,
    services,
    db,
    async close() {
      clearInterval(reclaimTimer);
      clearInterval(leaseTimer);
      for (const t of autoDecide.values()) clearTimeout(t);
      await realtime.close();
      if (viteClose) await viteClose();
      await new Promise<void>((r) => (httpServer.listening ? httpServer.close(() => r()) : r()));
      await db.destroy();
    },
  };
}
