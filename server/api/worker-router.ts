import express, { type NextFunction, type Request, type Response } from "express";
import { type WorkerIdentity } from "../domain/jobs/job-service.ts";
import { DomainError } from "../domain/shared/errors.ts";
import { type Services } from "../services.ts";
import { apiErrorHandler } from "./router.ts";

type WorkerReq = Request & { worker: WorkerIdentity };

/**
 * The worker protocol (docs/worker-protocol.md). Only worker tokens are accepted here, and
 * worker tokens are accepted nowhere else.
 */
export function createWorkerRouter(services: Services, opts: { maxJsonBytes: number }): express.Router {
  const router = express.Router();
  const json = express.json({ limit: Math.max(opts.maxJsonBytes, 4 * 1024 * 1024), type: () => true });
  const jobId = (req: Request) => {
    const n = Number(req.params.id);
    if (!Number.isInteger(n) || n <= 0) throw new DomainError("not_found", "Job not found");
    return n;
  };

  const worker =
    (fn: (req: WorkerReq, res: Response) => Promise<unknown>) =>
    async (req: Request, res: Response, next: NextFunction) => {
      try {
        const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
        const w = m ? await services.jobs.workerForToken(m[1]!) : null;
        if (!w) throw new DomainError("unauthenticated", "Send a valid worker token (Bearer pww_…); user tokens are not accepted here");
        (req as WorkerReq).worker = w;
        const out = await fn(req as WorkerReq, res);
        if (out === null) res.status(204).end();
        else if (out !== undefined && !res.headersSent) res.json(out);
      } catch (e) {
        next(e);
      }
    };

  router.post("/register", json, worker(async (req) => services.jobs.register(req.worker, req.body)));
  router.post("/claim", json, worker(async (req) => services.jobs.claim(req.worker)));
  router.post("/jobs/:id/heartbeat", json, worker(async (req) => services.jobs.heartbeat(req.worker, jobId(req), req.body)));
  router.post("/jobs/:id/checkpoint", json, worker(async (req) => services.jobs.recordCheckpoint(req.worker, jobId(req), req.body)));
  router.post("/jobs/:id/complete", json, worker(async (req) => services.jobs.complete(req.worker, jobId(req), req.body)));
  router.post("/jobs/:id/fail", json, worker(async (req) => services.jobs.fail(req.worker, jobId(req), req.body)));

  router.put(
    "/artifacts",
    worker(async (req, res) => {
      const name = typeof req.query.name === "string" && req.query.name ? req.query.name.slice(0, 200) : "artifact";
      const kind = ["dataset", "checkpoint", "generations", "file"].includes(String(req.query.kind)) ? (String(req.query.kind) as "file") : "file";
      const expected = req.headers["x-pairwise-sha256"];
      const ref = await services.artifacts.put(req, { name, kind, expectedSha256: typeof expected === "string" ? expected : null });
      res.status(201);
      return ref;
    }),
  );

  router.get(
    "/artifacts/:id",
    worker(async (req, res) => {
      const id = Number(req.params.id);
      if (!Number.isInteger(id) || id <= 0) throw new DomainError("not_found", "Artifact not found");
      const { ref, stream } = await services.artifacts.open(id);
      res.setHeader("Content-Type", "application/octet-stream");
      res.setHeader("Content-Length", String(ref.size));
      res.setHeader("X-Pairwise-Sha256", ref.sha256);
      res.setHeader("Content-Disposition", `attachment; filename="${ref.name.replace(/[^\w.-]/g, "_")}"`);
      await new Promise<void>((resolve, reject) => {
        stream.on("error", reject);
        res.on("finish", resolve);
        res.on("close", resolve);
        stream.pipe(res);
      });
      return undefined;
    }),
  );

  router.use((_req, res) => res.status(404).json({ error: { code: "not_found", message: "No such worker endpoint" } }));
  router.use(apiErrorHandler);
  return router;
}
