import fs from "node:fs";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import Busboy from "busboy";
import express, { type NextFunction, type Request, type Response } from "express";
import { z } from "zod";
import { type SessionUser } from "../domain/auth/auth-service.ts";
import { detectFormat, type ImportFormat } from "../domain/imports/readers.ts";
import { DomainError, httpStatusFor, validationError } from "../domain/shared/errors.ts";
import { type Services } from "../services.ts";
import { userFromRequest } from "./http-auth.ts";

type Authed = Request & { user: SessionUser };
type Handler = (req: Authed, res: Response) => Promise<unknown>;

const idParam = z.coerce.number().int().positive();

function parseId(raw: string | undefined, what: string): number {
  const r = idParam.safeParse(raw);
  if (!r.success) throw new DomainError("not_found", `${what} not found`);
  return r.data;
}

export type ApiOptions = { maxJsonBytes: number; maxImportBytes: number; isReady: () => boolean };

/** Caps a request stream: past `limit` bytes it fails with 413 and the import stores nothing. */
function byteLimit(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > limit) cb(new DomainError("payload_too_large", `The upload is larger than ${limit} bytes`));
      else cb(null, chunk);
    },
  });
}

export function createApiRouter(services: Services, opts: ApiOptions): express.Router {
  const router = express.Router();
  const jsonBody = express.json({ limit: opts.maxJsonBytes, strict: false, type: () => true });

  const authed =
    (fn: Handler) =>
    async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      try {
        const user = await userFromRequest(services, req);
        if (!user) throw new DomainError("unauthenticated", "Sign in or send a valid Bearer token");
        (req as Authed).user = user;
        const out = await fn(req as Authed, res);
        if (out !== undefined && !res.headersSent) res.json(out);
      } catch (e) {
        next(e);
      }
    };

  router.get("/health", (_req, res) => {
    if (opts.isReady()) res.json({ status: "ok" });
    else res.status(503).json({ error: { code: "internal", message: "starting" } });
  });

  router.get(
    "/me",
    authed(async (req) => ({ id: req.user.id, email: req.user.email, name: req.user.name, role: req.user.role })),
  );

  router.get(
    "/projects",
    authed(async (req) => ({ projects: await services.projects.listForUser(req.user) })),
  );

  router.post(
    "/projects",
    jsonBody,
    authed(async (req, res) => {
      const p = await services.projects.create(req.user, req.body);
      res.status(201);
      return { id: p.id, project: p };
    }),
  );

  router.get(
    "/projects/:id",
    authed(async (req) => {
      const { project, memberRole } = await services.projects.requireMember(req.user, parseId(req.params.id, "Project"));
      return { project, member_role: memberRole };
    }),
  );

  router.put(
    "/projects/:id",
    jsonBody,
    authed(async (req) => ({ project: await services.projects.update(req.user, parseId(req.params.id, "Project"), req.body) })),
  );

  router.get(
    "/projects/:id/members",
    authed(async (req) => ({ members: await services.projects.listMembers(req.user, parseId(req.params.id, "Project")) })),
  );

  router.post(
    "/projects/:id/members",
    jsonBody,
    authed(async (req, res) => {
      const m = await services.projects.addMember(req.user, parseId(req.params.id, "Project"), req.body);
      res.status(201);
      return { user_id: m.userId, role: m.role };
    }),
  );

  router.delete(
    "/projects/:id/members/:userId",
    authed(async (req, res) => {
      await services.projects.removeMember(req.user, parseId(req.params.id, "Project"), parseId(req.params.userId, "Member"));
      res.status(204).end();
    }),
  );

  const importRoute = (kind: "pairs" | "prompts") =>
    authed(async (req, res) => {
      const projectId = parseId(req.params.id, "Project");
      // Check access before reading a byte of the body.
      await services.projects.requireResearcher(req.user, projectId);
      const declared = Number(req.headers["content-length"] ?? 0);
      if (declared > opts.maxImportBytes) throw new DomainError("payload_too_large", `The upload is larger than ${opts.maxImportBytes} bytes`);
      const keepReference = req.query.keep_reference !== "false";
      const gold = req.query.gold === "true";
      const contentType = req.headers["content-type"] ?? "";
      const run = (stream: NodeJS.ReadableStream, format: ImportFormat, filename: string | null) => {
        const limited = (stream as NodeJS.ReadableStream & { pipe: typeof Transform.prototype.pipe }).pipe(byteLimit(opts.maxImportBytes));
        stream.on("error", (e) => limited.destroy(e as Error));
        return kind === "pairs"
          ? services.imports.importPairs(req.user, projectId, limited, { format, filename, keepReference, gold })
          : services.imports.importPrompts(req.user, projectId, limited, { format, filename });
      };
      let result;
      if (contentType.startsWith("multipart/form-data")) {
        result = await new Promise<Awaited<ReturnType<typeof run>>>((resolve, reject) => {
          let started = false;
          const bb = Busboy({ headers: req.headers, limits: { files: 1, fileSize: opts.maxImportBytes } });
          bb.on("file", (_field, file, info) => {
            if (started) {
              file.resume();
              return;
            }
            started = true;
            const format = detectFormat({ format: req.query.format as string | undefined, filename: info.filename, contentType: info.mimeType });
            if (!format) {
              file.resume();
              reject(validationError([{ path: ["format"], message: "must be jsonl or csv" }]));
              return;
            }
            file.on("limit", () => file.destroy(new DomainError("payload_too_large", `The upload is larger than ${opts.maxImportBytes} bytes`)));
            run(file, format, info.filename ?? null).then(resolve, reject);
          });
          bb.on("error", reject);
          bb.on("close", () => {
            if (!started) reject(validationError([{ path: ["file"], message: "a multipart upload must carry one file field" }]));
          });
          req.pipe(bb);
        });
      } else {
        const format = detectFormat({ format: req.query.format as string | undefined, filename: (req.query.filename as string | undefined) ?? null, contentType });
        if (!format) throw validationError([{ path: ["format"], message: "must be jsonl or csv" }]);
        result = await run(req, format, (req.query.filename as string | undefined) ?? null);
      }
      res.status(201);
      return { import_id: result.importId, imported: result.imported, duplicates: result.duplicates };
    });

  router.post("/projects/:id/pairs", importRoute("pairs"));
  router.post("/projects/:id/prompts", importRoute("prompts"));

  router.get(
    "/projects/:id/imports",
    authed(async (req) => ({ imports: await services.imports.history(req.user, parseId(req.params.id, "Project")) })),
  );

  router.get(
    "/projects/:id/assignments/next",
    authed(async (req, res) => {
      const after = req.query.after === undefined ? undefined : parseId(String(req.query.after), "Assignment");
      const a = await services.annotation.next(req.user, parseId(req.params.id, "Project"), { after });
      if (!a) {
        res.status(204).end();
        return undefined;
      }
      return a;
    }),
  );

  router.get(
    "/assignments/:id",
    authed(async (req) => services.annotation.getAssignment(req.user, parseId(req.params.id, "Assignment"))),
  );

  router.post(
    "/assignments/:id/judgment",
    jsonBody,
    authed(async (req, res) => {
      const r = await services.annotation.judge(req.user, parseId(req.params.id, "Assignment"), req.body);
      res.status(r.duplicate ? 200 : 201);
      return {
        id: r.judgment_id,
        judgment_id: r.judgment_id,
        duplicate: r.duplicate,
        supersedes_id: r.supersedes_id,
        paused: r.paused ?? false,
        ...(r.rewrites ? { rewrites: r.rewrites } : {}),
        ...(r.assist ? { assist: r.assist } : {}),
      };
    }),
  );

  router.post(
    "/assignments/:id/skip",
    jsonBody,
    authed(async (req) => services.annotation.skip(req.user, parseId(req.params.id, "Assignment"), req.body)),
  );

  router.get(
    "/projects/:id/progress",
    authed(async (req) => services.annotation.progress(req.user, parseId(req.params.id, "Project"))),
  );

  router.get(
    "/projects/:id/me",
    authed(async (req) => services.annotation.myStats(req.user, parseId(req.params.id, "Project"))),
  );

  router.get(
    "/projects/:id/annotators",
    authed(async (req) => ({ annotators: await services.annotation.annotatorStats(req.user, parseId(req.params.id, "Project")) })),
  );

  router.get(
    "/projects/:id/judgments",
    authed(async (req, res) => {
      const gen = services.annotation.streamJudgments(req.user, parseId(req.params.id, "Project"));
      // Pull the first row before writing headers so an access error still becomes a JSON error.
      const first = await gen.next();
      res.status(200).setHeader("Content-Type", "application/x-ndjson; charset=utf-8");
      if (!first.done) {
        let buf = `${JSON.stringify(first.value)}\n`;
        for await (const row of gen) {
          buf += `${JSON.stringify(row)}\n`;
          if (buf.length > 64 * 1024) {
            if (!res.write(buf)) await new Promise((r) => res.once("drain", r));
            buf = "";
          }
        }
        res.write(buf);
      }
      res.end();
      return undefined;
    }),
  );

  router.get(
    "/projects/:id/quality",
    authed(async (req) => services.quality.report(req.user, parseId(req.params.id, "Project"))),
  );

  router.get(
    "/projects/:id/disagreements",
    authed(async (req) => {
      const q = z.object({ limit: z.coerce.number().int().min(1).max(200).default(20), offset: z.coerce.number().int().min(0).default(0) }).safeParse(req.query);
      if (!q.success) throw validationError(q.error.issues);
      return services.quality.disagreements(req.user, parseId(req.params.id, "Project"), q.data);
    }),
  );

  router.post(
    "/projects/:id/gold",
    jsonBody,
    authed(async (req) => services.quality.setGold(req.user, parseId(req.params.id, "Project"), req.body)),
  );

  router.post(
    "/projects/:id/members/:userId/pause",
    jsonBody,
    authed(async (req) => {
      const body = z.object({ paused: z.boolean() }).strict().safeParse(req.body);
      if (!body.success) throw validationError(body.error.issues);
      await services.projects.setPausedByResearcher(req.user, parseId(req.params.id, "Project"), parseId(req.params.userId, "Member"), body.data.paused);
      return { paused: body.data.paused };
    }),
  );

  const sendExport = async (res: Response, manifest: { export_id: number; sha256: string; file: string; format: string }, file: string) => {
    const type = file.endsWith(".csv") ? "text/csv; charset=utf-8" : file.endsWith(".parquet") ? "application/vnd.apache.parquet" : "application/x-ndjson; charset=utf-8";
    res.status(200);
    res.setHeader("Content-Type", type);
    res.setHeader("Content-Disposition", `attachment; filename="${manifest.file}"`);
    res.setHeader("X-Pairwise-Export-Id", String(manifest.export_id));
    res.setHeader("X-Pairwise-Sha256", manifest.sha256);
    await pipeline(fs.createReadStream(file), res);
  };

  router.get(
    "/projects/:id/export",
    authed(async (req, res) => {
      const result = await services.exports.run(req.user, parseId(req.params.id, "Project"), req.query);
      await sendExport(res, result, result.path);
      return undefined;
    }),
  );

  router.get(
    "/projects/:id/exports",
    authed(async (req) => ({ exports: await services.exports.history(req.user, parseId(req.params.id, "Project")) })),
  );

  router.get(
    "/exports/:id/manifest",
    authed(async (req) => (await services.exports.get(req.user, parseId(req.params.id, "Export"))).manifest),
  );

  router.get(
    "/exports/:id/download",
    authed(async (req, res) => {
      const e = await services.exports.get(req.user, parseId(req.params.id, "Export"));
      if (!fs.existsSync(e.path)) throw new DomainError("not_found", "The export file is no longer on disk; run the export again");
      await sendExport(res, e.manifest, e.path);
      return undefined;
    }),
  );

  // ---- workers, jobs, checkpoints (researchers) ----
  router.post(
    "/workers",
    jsonBody,
    authed(async (req, res) => {
      const body = z.object({ name: z.string() }).strict().safeParse(req.body);
      if (!body.success) throw validationError(body.error.issues);
      res.status(201);
      return services.jobs.createWorkerToken(req.user, body.data.name);
    }),
  );

  router.get(
    "/workers",
    authed(async (req) => {
      return { workers: await services.jobs.listWorkers(req.user) };
    }),
  );

  router.post(
    "/projects/:id/jobs",
    jsonBody,
    authed(async (req, res) => {
      res.status(201);
      return { job: await services.jobs.createByUser(req.user, parseId(req.params.id, "Project"), req.body) };
    }),
  );

  router.get(
    "/projects/:id/jobs",
    authed(async (req) => ({ jobs: await services.jobs.list(req.user, parseId(req.params.id, "Project")) })),
  );

  router.get(
    "/jobs/:id",
    authed(async (req) => services.jobs.detail(req.user, parseId(req.params.id, "Job"))),
  );

  router.post(
    "/jobs/:id/cancel",
    authed(async (req) => ({ job: await services.jobs.cancel(req.user, parseId(req.params.id, "Job")) })),
  );

  router.get(
    "/projects/:id/checkpoints",
    authed(async (req) => ({ checkpoints: await services.checkpoints.list(req.user, parseId(req.params.id, "Project")) })),
  );

  router.post(
    "/projects/:id/checkpoints",
    jsonBody,
    authed(async (req, res) => {
      res.status(201);
      return { checkpoint: await services.checkpoints.register(req.user, parseId(req.params.id, "Project"), req.body) };
    }),
  );

  router.post(
    "/checkpoints/:id/promote",
    authed(async (req) => ({ checkpoint: await services.checkpoints.promote(req.user, parseId(req.params.id, "Checkpoint")) })),
  );

  router.post(
    "/checkpoints/:id/retire",
    authed(async (req) => ({ checkpoint: await services.checkpoints.retire(req.user, parseId(req.params.id, "Checkpoint")) })),
  );

  router.get(
    "/projects/:id/rounds",
    authed(async (req) => ({ rounds: await services.rounds.list(req.user, parseId(req.params.id, "Project")) })),
  );

  router.post(
    "/projects/:id/rounds",
    jsonBody,
    authed(async (req, res) => {
      res.status(201);
      return { round: await services.rounds.start(req.user, parseId(req.params.id, "Project"), req.body) };
    }),
  );

  router.get(
    "/rounds/:id",
    authed(async (req) => ({ round: await services.rounds.get(req.user, parseId(req.params.id, "Round")) })),
  );

  router.post(
    "/rounds/:id/decide",
    jsonBody,
    authed(async (req) => {
      const body = z.object({ force: z.enum(["promote", "keep"]).optional() }).strict().safeParse(req.body ?? {});
      if (!body.success) throw validationError(body.error.issues);
      return { round: await services.rounds.decide(req.user, parseId(req.params.id, "Round"), body.data) };
    }),
  );

  router.post(
    "/rounds/:id/retry",
    authed(async (req) => ({ round: await services.rounds.retry(req.user, parseId(req.params.id, "Round")) })),
  );

  router.get(
    "/projects/:id/generation",
    authed(async (req) => ({ generation: await services.endpoint.settings(req.user, parseId(req.params.id, "Project")) })),
  );

  router.put(
    "/projects/:id/generation",
    jsonBody,
    authed(async (req) => ({ generation: await services.endpoint.updateSettings(req.user, parseId(req.params.id, "Project"), req.body) })),
  );

  router.post(
    "/projects/:id/generate",
    jsonBody,
    authed(async (req, res) => {
      res.status(202);
      return { job: await services.endpoint.generate(req.user, parseId(req.params.id, "Project"), req.body) };
    }),
  );

  // ---- hybrid human–AI feedback (docs/api.md) ----
  router.get("/projects/:id/hybrid", authed(async (req) => ({ hybrid: await services.judges.hybridSettings(req.user, parseId(req.params.id, "Project")) })));
  router.put(
    "/projects/:id/hybrid",
    jsonBody,
    authed(async (req) => ({ hybrid: await services.judges.updateHybridSettings(req.user, parseId(req.params.id, "Project"), req.body) })),
  );
  router.get("/projects/:id/hybrid/report", authed(async (req) => ({ report: await services.judges.report(req.user, parseId(req.params.id, "Project")) })));
  router.get("/projects/:id/judges", authed(async (req) => ({ judges: await services.judges.list(req.user, parseId(req.params.id, "Project")) })));
  router.get("/projects/:id/judges/agreement", authed(async (req) => ({ agreement: await services.judges.agreement(req.user, parseId(req.params.id, "Project")) })));
  router.post(
    "/projects/:id/judges",
    jsonBody,
    authed(async (req, res) => {
      res.status(201);
      return { judge: await services.judges.create(req.user, parseId(req.params.id, "Project"), req.body) };
    }),
  );
  router.put(
    "/projects/:id/judges/:judgeId",
    jsonBody,
    authed(async (req) => ({ judge: await services.judges.update(req.user, parseId(req.params.id, "Project"), parseId(req.params.judgeId, "Judge"), req.body) })),
  );
  router.get(
    "/projects/:id/judges/:judgeId/verdicts",
    authed(async (req) => services.judges.verdicts(req.user, parseId(req.params.id, "Project"), parseId(req.params.judgeId, "Judge"), req.query)),
  );
  router.post(
    "/projects/:id/judges/:judgeId/run",
    jsonBody,
    authed(async (req, res) => {
      res.status(202);
      return { job: await services.judges.run(req.user, parseId(req.params.id, "Project"), parseId(req.params.judgeId, "Judge"), req.body) };
    }),
  );

  router.post(
    "/tokens",
    jsonBody,
    authed(async (req, res) => {
      const body = z.object({ name: z.string().optional() }).safeParse(req.body ?? {});
      if (!body.success) throw validationError(body.error.issues);
      const t = await services.auth.createToken(req.user.id, body.data.name ?? "api");
      res.status(201);
      return { id: t.id, token: t.token, prefix: t.prefix };
    }),
  );

  router.use((_req, res) => {
    res.status(404).json({ error: { code: "not_found", message: "No such endpoint" } });
  });

  router.use(apiErrorHandler);
  return router;
}

/** Maps every error to `{error: {code, message}}` once; never leaks stacks or SQL. */
export function apiErrorHandler(err: unknown, _req: Request, res: Response, _next: NextFunction): void {
  let e: DomainError;
  const anyErr = err as { type?: string; status?: number; message?: string };
  if (err instanceof DomainError) e = err;
  else if (anyErr?.type === "entity.too.large") e = new DomainError("payload_too_large", "The request body is too large");
  else if (anyErr?.type === "entity.parse.failed") e = new DomainError("validation_failed", "The body is not valid JSON", { fields: [{ path: "(body)", message: "not valid JSON" }] });
  else {
    console.error("unhandled API error:", err);
    e = new DomainError("internal", "Something went wrong on our side");
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body: { error: { code: string; message: string; fields?: unknown; lines?: unknown } } = { error: { code: e.code, message: e.message } };
  if (e.details?.fields) body.error.fields = e.details.fields;
  if (e.details?.lines) body.error.lines = e.details.lines;
  // Requests whose body we refused to read: close the connection rather than drain it.
  if (e.code === "payload_too_large") res.setHeader("Connection", "close");
  res.status(httpStatusFor[e.code]).json(body);
}
