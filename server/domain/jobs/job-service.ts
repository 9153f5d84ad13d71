import { sql } from "kysely";
import { z } from "zod";
import { type Db, type Executor } from "../../db/database.ts";
import { type Job, type JobKind, type JobStatus } from "../../db/schema.ts";
import { type SessionUser } from "../auth/auth-service.ts";
import { type ProjectService } from "../projects/project-service.ts";
import { type Clock } from "../shared/clock.ts";
import { DomainError, notFound, validationError } from "../shared/errors.ts";
import { type DomainEvents } from "../shared/events.ts";
import { randomToken, sha256 } from "../shared/hash.ts";

export const JOB_KINDS = ["generate", "train_reward", "sft", "ppo", "evaluate", "judge"] as const satisfies readonly JobKind[];

export type WorkerIdentity = { id: number; name: string };

export const registerSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    capabilities: z
      .object({
        device: z.enum(["cpu", "cuda", "mps"]),
        gpu_name: z.string().max(200).nullable().optional(),
        gpu_memory_mb: z.number().int().min(0).nullable().optional(),
        kinds: z.array(z.enum(JOB_KINDS)).min(1),
        torch: z.string().max(50).optional(),
        python: z.string().max(50).optional(),
      })
      .passthrough(),
  })
  .strict();

export const heartbeatSchema = z
  .object({
    progress: z.object({ step: z.number().int().min(0), total: z.number().int().min(0) }).optional(),
    metrics: z
      .array(z.object({ step: z.number().int().min(0), values: z.record(z.number().finite()) }))
      .max(1000)
      .optional(),
    log: z.array(z.string().max(4000)).max(500).optional(),
  })
  .strict();

export const completeSchema = z
  .object({
    outputs: z.record(z.number().int().positive()).default({}),
    result: z.record(z.union([z.number(), z.string(), z.boolean(), z.null()])).default({}),
  })
  .strict();

export const failSchema = z
  .object({ error: z.string().min(1).max(20_000), retryable: z.boolean().default(false), cancelled: z.boolean().default(false) })
  .strict();

export const createJobSchema = z
  .object({
    kind: z.enum(JOB_KINDS),
    params: z.record(z.unknown()).default({}),
    inputs: z.record(z.number().int().positive()).default({}),
    checkpoints: z.record(z.number().int().positive()).default({}),
    max_attempts: z.number().int().min(1).max(10).default(3),
  })
  .strict();

export type JobView = {
  id: number;
  project_id: number;
  round_id: number | null;
  kind: JobKind;
  status: JobStatus;
  params: Record<string, unknown>;
  inputs: Record<string, number>;
  progress: { step: number; total: number };
  attempts: number;
  max_attempts: number;
  worker_id: number | null;
  worker_name: string | null;
  cancel_requested: boolean;
  outputs: Record<string, number> | null;
  result: Record<string, unknown> | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
};

/**
 * Runs inside the completing transaction: register what the job produced. It may return a
 * callback to run after the commit (to announce what it created).
 */
export type CompletionHandler = (trx: Executor, job: Job, outputs: Record<string, number>, result: Record<string, unknown>) => Promise<void | (() => void)>;

const LOG_KEEP = 500;
const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export function toJobView(j: Job & { worker_name?: string | null }): JobView {
  return {
    id: j.id,
    project_id: j.project_id,
    round_id: j.round_id,
    kind: j.kind,
    status: j.status,
    params: JSON.parse(j.params) as Record<string, unknown>,
    inputs: JSON.parse(j.inputs) as Record<string, number>,
    progress: { step: j.progress_step, total: j.progress_total },
    attempts: j.attempts,
    max_attempts: j.max_attempts,
    worker_id: j.worker_id,
    worker_name: j.worker_name ?? null,
    cancel_requested: j.cancel_requested === 1,
    outputs: j.outputs ? (JSON.parse(j.outputs) as Record<string, number>) : null,
    result: j.result ? (JSON.parse(j.result) as Record<string, unknown>) : null,
    error: j.error,
    created_at: new Date(j.created_at).toISOString(),
    started_at: iso(j.started_at),
    finished_at: iso(j.finished_at),
  };
}

/**
 * Persisted jobs and the worker protocol: claim under a lease, heartbeat, complete or fail.
 * A job runs on at most one worker: every transition checks the job's status and worker in the
 * same transaction, and an expired lease re-queues the job for another worker.
 */
export class JobService {
  private readonly handlers = new Map<JobKind, CompletionHandler>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly projects: ProjectService,
    private readonly events: DomainEvents,
    readonly leaseSeconds = 30,
    readonly heartbeatSeconds = 5,
  ) {}

  onComplete(kind: JobKind, handler: CompletionHandler): void {
    this.handlers.set(kind, handler);
  }

  // ---- workers ------------------------------------------------------------------------------

  async createWorkerToken(user: SessionUser, name: string): Promise<{ worker_id: number; token: string }> {
    if (user.role === "annotator") throw new DomainError("forbidden", "Only researchers and admins can add workers");
    const clean = z.string().trim().min(1).max(100).safeParse(name);
    if (!clean.success) throw validationError(clean.error.issues.map((i) => ({ ...i, path: ["name"] })));
    const token = `pww_${randomToken()}`;
    const row = await this.db
      .insertInto("workers")
      .values({ name: clean.data, token_hash: sha256(token), created_by: user.id, created_at: this.clock.now(), last_seen_at: null, revoked_at: null })
      .returning("id")
      .executeTakeFirstOrThrow();
    return { worker_id: row.id, token };
  }

  async workerForToken(token: string): Promise<WorkerIdentity | null> {
    if (!token.startsWith("pww_")) return null;
    const w = await this.db.selectFrom("workers").select(["id", "name"]).where("token_hash", "=", sha256(token)).where("revoked_at", "is", null).executeTakeFirst();
    return w ?? null;
  }

  async register(worker: WorkerIdentity, body: unknown) {
    const parsed = registerSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error.issues);
    await this.db
      .updateTable("workers")
      .set({ name: parsed.data.name, capabilities: JSON.stringify(parsed.data.capabilities), last_seen_at: this.clock.now() })
      .where("id", "=", worker.id)
      .execute();
    this.events.workersChanged();
    return { worker_id: worker.id, heartbeat_seconds: this.heartbeatSeconds, lease_seconds: this.leaseSeconds };
  }

  /** Workers serve every project, so any researcher or admin may see them; annotators may not. */
  async listWorkers(user: SessionUser) {
    if (user.role === "annotator") throw new DomainError("forbidden", "Only researchers and admins can see workers");
    const now = this.clock.now();
    const rows = await this.db
      .selectFrom("workers")
      .leftJoin("jobs", (j) => j.onRef("jobs.worker_id", "=", "workers.id").on("jobs.status", "=", "running"))
      .select(["workers.id", "workers.name", "workers.capabilities", "workers.last_seen_at", "workers.revoked_at", "jobs.id as job_id", "jobs.kind as job_kind"])
      .where("workers.revoked_at", "is", null)
      .orderBy("workers.id")
      .execute();
    return rows.map((w) => ({
      id: w.id,
      name: w.name,
      capabilities: JSON.parse(w.capabilities) as Record<string, unknown>,
      last_seen_at: iso(w.last_seen_at),
      online: w.last_seen_at !== null && now - w.last_seen_at < this.leaseSeconds * 1000,
      job: w.job_id ? { id: w.job_id, kind: w.job_kind } : null,
    }));
  }

  // ---- jobs (researchers) -------------------------------------------------------------------

  async create(
    projectId: number,
    spec: { kind: JobKind; params: Record<string, unknown>; inputs?: Record<string, number>; roundId?: number | null; createdBy?: number | null; maxAttempts?: number },
    executor: Executor = this.db,
  ): Promise<number> {
    const now = this.clock.now();
    const row = await executor
      .insertInto("jobs")
      .values({
        project_id: projectId,
        round_id: spec.roundId ?? null,
        kind: spec.kind,
        params: JSON.stringify(spec.params),
        inputs: JSON.stringify(spec.inputs ?? {}),
        status: "queued",
        max_attempts: spec.maxAttempts ?? 3,
        worker_id: null,
        lease_expires_at: null,
        resume_artifact_id: null,
        resume_step: null,
        outputs: null,
        result: null,
        error: null,
        created_by: spec.createdBy ?? null,
        created_at: now,
        started_at: null,
        finished_at: null,
        updated_at: now,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return row.id;
  }

  /**
   * A researcher starts a job. Inputs are artifacts, or checkpoints (resolved to their artifact;
   * a checkpoint known only by hub id or path is passed as `params.<name>_ref`).
   */
  async createByUser(user: SessionUser, projectId: number, body: unknown): Promise<JobView> {
    await this.projects.requireResearcher(user, projectId);
    const parsed = createJobSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error.issues);
    const b = parsed.data;
    const params: Record<string, unknown> = { ...b.params };
    const inputs: Record<string, number> = { ...b.inputs };
    for (const [name, artifactId] of Object.entries(b.inputs)) {
      if (!(await this.db.selectFrom("artifacts").select("id").where("id", "=", artifactId).executeTakeFirst())) {
        throw validationError([{ path: ["inputs", name], message: `artifact ${artifactId} does not exist` }]);
      }
    }
    for (const [name, checkpointId] of Object.entries(b.checkpoints)) {
      const c = await this.db.selectFrom("checkpoints").select(["id", "artifact_id", "model_ref", "project_id"]).where("id", "=", checkpointId).executeTakeFirst();
      if (!c || c.project_id !== projectId) throw validationError([{ path: ["checkpoints", name], message: `checkpoint ${checkpointId} is not in this project` }]);
      if (c.artifact_id) inputs[name] = c.artifact_id;
      else params[`${name}_ref`] = c.model_ref;
      params[`${name}_checkpoint_id`] = c.id;
    }
    if (typeof params.model_checkpoint_id === "number" || typeof params.policy_checkpoint_id === "number") {
      params.parent_checkpoint_id = params.policy_checkpoint_id ?? params.model_checkpoint_id;
    }
    const id = await this.create(projectId, { kind: b.kind, params, inputs, createdBy: user.id, maxAttempts: b.max_attempts });
    await this.announce(id);
    return (await this.view(id))!;
  }

  /** Announces a job's new state; call after the write committed. */
  async announce(jobId: number): Promise<void> {
    const view = await this.view(jobId);
    if (view) this.events.jobUpdated(view);
  }

  async view(jobId: number): Promise<JobView | undefined> {
    const j = await this.db
      .selectFrom("jobs")
      .leftJoin("workers", "workers.id", "jobs.worker_id")
      .selectAll("jobs")
      .select("workers.name as worker_name")
      .where("jobs.id", "=", jobId)
      .executeTakeFirst();
    return j ? toJobView(j) : undefined;
  }

  async list(user: SessionUser, projectId: number, opts: { roundId?: number } = {}): Promise<JobView[]> {
    await this.projects.requireResearcher(user, projectId);
    let q = this.db
      .selectFrom("jobs")
      .leftJoin("workers", "workers.id", "jobs.worker_id")
      .selectAll("jobs")
      .select("workers.name as worker_name")
      .where("jobs.project_id", "=", projectId);
    if (opts.roundId !== undefined) q = q.where("jobs.round_id", "=", opts.roundId);
    return (await q.orderBy("jobs.id", "desc").limit(200).execute()).map(toJobView);
  }

  async detail(user: SessionUser, jobId: number) {
    const view = await this.view(jobId);
    if (!view) throw notFound("Job");
    await this.projects.requireResearcher(user, view.project_id);
    const metrics = await this.db.selectFrom("job_metrics").select(["step", "name", "value", "attempt"]).where("job_id", "=", jobId).orderBy("name").orderBy("step").execute();
    const log = await this.db.selectFrom("job_logs").select(["line", "created_at"]).where("job_id", "=", jobId).orderBy("id", "desc").limit(200).execute();
    const series: Record<string, { step: number; value: number }[]> = {};
    for (const m of metrics) (series[m.name] ??= []).push({ step: m.step, value: m.value });
    return { job: view, metrics: series, log: log.reverse().map((l) => l.line) };
  }

  async cancel(user: SessionUser, jobId: number): Promise<JobView> {
    const view = await this.view(jobId);
    if (!view) throw notFound("Job");
    await this.projects.requireResearcher(user, view.project_id);
    const now = this.clock.now();
    const finished = await this.db.transaction().execute(async (trx) => {
      const j = await trx.selectFrom("jobs").select(["status"]).where("id", "=", jobId).executeTakeFirstOrThrow();
      if (j.status === "queued") {
        await trx.updateTable("jobs").set({ status: "cancelled", finished_at: now, updated_at: now, error: "cancelled before it started" }).where("id", "=", jobId).execute();
        return true;
      } else if (j.status === "running") {
        // The worker learns on its next heartbeat (seconds) and stops.
        await trx.updateTable("jobs").set({ cancel_requested: 1, updated_at: now }).where("id", "=", jobId).execute();
        return false;
      } else {
        throw new DomainError("conflict", `The job already ${j.status}`);
      }
    });
    await this.announce(jobId);
    // A queued job cancelled here is final at once: its round must hear of it (no worker will report it).
    if (finished) this.events.jobFinished(jobId);
    return (await this.view(jobId))!;
  }

  // ---- worker protocol ----------------------------------------------------------------------

  /** Re-queues running jobs whose lease ran out (their worker died or lost the network). */
  async reclaimExpired(): Promise<number[]> {
    const now = this.clock.now();
    const ids = await this.db.transaction().execute(async (trx) => {
      const expired = await trx.selectFrom("jobs").select(["id", "attempts", "max_attempts", "cancel_requested"]).where("status", "=", "running").where("lease_expires_at", "<=", now).execute();
      for (const j of expired) {
        const status = j.cancel_requested ? "cancelled" : j.attempts >= j.max_attempts ? "failed" : "queued";
        await trx
          .updateTable("jobs")
          .set({
            status,
            worker_id: null,
            lease_expires_at: null,
            updated_at: now,
            finished_at: status === "queued" ? null : now,
            error: status === "failed" ? `the worker stopped responding ${j.attempts} times` : status === "cancelled" ? "cancelled" : null,
          })
          .where("id", "=", j.id)
          .execute();
      }
      return expired.map((j) => j.id);
    });
    for (const id of ids) await this.announce(id);
    return ids;
  }

  async claim(worker: WorkerIdentity) {
    await this.reclaimExpired();
    const now = this.clock.now();
    const caps = await this.db.selectFrom("workers").select("capabilities").where("id", "=", worker.id).executeTakeFirstOrThrow();
    const kinds = ((JSON.parse(caps.capabilities) as { kinds?: JobKind[] }).kinds ?? []) as JobKind[];
    if (kinds.length === 0) throw new DomainError("validation_failed", "Register the worker's capabilities before claiming jobs");
    const claimed = await this.db.transaction().execute(async (trx) => {
      // A worker runs one job at a time: a running job it still holds means it restarted and
      // lost that work, so the job goes back to the queue first.
      await trx
        .updateTable("jobs")
        .set({ status: "queued", worker_id: null, lease_expires_at: null, updated_at: now })
        .where("worker_id", "=", worker.id)
        .where("status", "=", "running")
        .execute();
      const job = await trx
        .selectFrom("jobs")
        .selectAll()
        .where("status", "=", "queued")
        .where("kind", "in", kinds)
        // Jobs on a remote endpoint backend run inside the server, never on a worker.
        .where(sql<string>`coalesce(json_extract(params, '$.backend'), 'worker')`, "=", "worker")
        .orderBy("id")
        .limit(1)
        .executeTakeFirst();
      if (!job) return null;
      await trx
        .updateTable("jobs")
        .set({ status: "running", worker_id: worker.id, attempts: job.attempts + 1, lease_expires_at: now + this.leaseSeconds * 1000, started_at: job.started_at ?? now, updated_at: now })
        .where("id", "=", job.id)
        .where("status", "=", "queued")
        .execute();
      await trx.updateTable("workers").set({ last_seen_at: now }).where("id", "=", worker.id).execute();
      return job.id;
    });
    if (claimed === null) {
      await this.db.updateTable("workers").set({ last_seen_at: now }).where("id", "=", worker.id).execute();
      return null;
    }
    const job = (await this.db.selectFrom("jobs").selectAll().where("id", "=", claimed).executeTakeFirstOrThrow()) as Job;
    const inputIds = JSON.parse(job.inputs) as Record<string, number>;
    const inputs: Record<string, { artifact_id: number; sha256: string; size: number; name: string }> = {};
    for (const [name, id] of Object.entries(inputIds)) {
      const a = await this.db.selectFrom("artifacts").select(["id", "sha256", "size", "name"]).where("id", "=", id).executeTakeFirstOrThrow();
      inputs[name] = { artifact_id: a.id, sha256: a.sha256, size: a.size, name: a.name };
    }
    let resume = null;
    if (job.resume_artifact_id) {
      const a = await this.db.selectFrom("artifacts").select(["id", "sha256", "size"]).where("id", "=", job.resume_artifact_id).executeTakeFirstOrThrow();
      resume = { artifact_id: a.id, sha256: a.sha256, size: a.size, step: job.resume_step };
    }
    await this.announce(job.id);
    this.events.workersChanged();
    return {
      job: {
        id: job.id,
        kind: job.kind,
        attempt: job.attempts,
        params: JSON.parse(job.params) as Record<string, unknown>,
        inputs,
        resume,
        lease_expires_at: new Date(job.lease_expires_at!).toISOString(),
      },
    };
  }

  /** The job must be running on this worker; otherwise the worker lost it (409 lease_lost). */
  private async requireLease(trx: Executor, worker: WorkerIdentity, jobId: number): Promise<Job> {
    const j = await trx.selectFrom("jobs").selectAll().where("id", "=", jobId).executeTakeFirst();
    if (!j) throw notFound("Job");
    if (j.status !== "running" || j.worker_id !== worker.id) {
      throw new DomainError("lease_lost", "This job is no longer yours (its lease expired or it was re-queued); stop working on it");
    }
    return j;
  }

  async heartbeat(worker: WorkerIdentity, jobId: number, body: unknown) {
    const parsed = heartbeatSchema.safeParse(body ?? {});
    if (!parsed.success) throw validationError(parsed.error.issues);
    const hb = parsed.data;
    const now = this.clock.now();
    const out = await this.db.transaction().execute(async (trx) => {
      const j = await this.requireLease(trx, worker, jobId);
      const lease = now + this.leaseSeconds * 1000;
      await trx
        .updateTable("jobs")
        .set({
          lease_expires_at: lease,
          updated_at: now,
          ...(hb.progress ? { progress_step: hb.progress.step, progress_total: hb.progress.total } : {}),
        })
        .where("id", "=", jobId)
        .execute();
      const rows = (hb.metrics ?? []).flatMap((m) => Object.entries(m.values).map(([name, value]) => ({ job_id: jobId, step: m.step, name, value, attempt: j.attempts, created_at: now })));
      for (let i = 0; i < rows.length; i += 200) await trx.insertInto("job_metrics").values(rows.slice(i, i + 200)).execute();
      if (hb.log?.length) {
        await trx.insertInto("job_logs").values(hb.log.map((line) => ({ job_id: jobId, line, created_at: now }))).execute();
        const cutoff = await trx.selectFrom("job_logs").select("id").where("job_id", "=", jobId).orderBy("id", "desc").offset(LOG_KEEP).limit(1).executeTakeFirst();
        if (cutoff) await trx.deleteFrom("job_logs").where("job_id", "=", jobId).where("id", "<=", cutoff.id).execute();
      }
      await trx.updateTable("workers").set({ last_seen_at: now }).where("id", "=", worker.id).execute();
      return { cancel: j.cancel_requested === 1, lease_expires_at: new Date(lease).toISOString(), projectId: j.project_id, metrics: rows };
    });
    if (hb.progress || hb.metrics?.length) {
      this.events.jobProgress({ projectId: out.projectId, jobId, progress: hb.progress ?? null, metrics: (hb.metrics ?? []).map((m) => ({ step: m.step, values: m.values })) });
    }
    return { cancel: out.cancel, lease_expires_at: out.lease_expires_at };
  }

  async recordCheckpoint(worker: WorkerIdentity, jobId: number, body: unknown) {
    const parsed = z.object({ artifact_id: z.number().int().positive(), step: z.number().int().min(0) }).strict().safeParse(body);
    if (!parsed.success) throw validationError(parsed.error.issues);
    await this.db.transaction().execute(async (trx) => {
      await this.requireLease(trx, worker, jobId);
      const a = await trx.selectFrom("artifacts").select("id").where("id", "=", parsed.data.artifact_id).executeTakeFirst();
      if (!a) throw notFound("Artifact");
      await trx.updateTable("jobs").set({ resume_artifact_id: a.id, resume_step: parsed.data.step, updated_at: this.clock.now() }).where("id", "=", jobId).execute();
    });
    return { ok: true };
  }

  /** At start-up: jobs the server itself was running died with the previous process. */
  async failOrphanedInProcessJobs(): Promise<void> {
    const now = this.clock.now();
    await this.db
      .updateTable("jobs")
      .set({ status: "failed", error: "the server restarted while running this job; start it again", finished_at: now, updated_at: now })
      .where("status", "=", "running")
      .where("worker_id", "is", null)
      .execute();
  }

  /** For jobs the server runs itself (remote generation endpoints): no worker, no lease. */
  async runInProcess(jobId: number, run: (job: Job, heartbeat: (step: number, total: number, log?: string) => Promise<void>) => Promise<{ outputs: Record<string, number>; result: Record<string, unknown> }>): Promise<void> {
    const now = this.clock.now();
    await this.db.updateTable("jobs").set({ status: "running", attempts: sql`attempts + 1`, started_at: now, updated_at: now }).where("id", "=", jobId).where("status", "=", "queued").execute();
    await this.announce(jobId);
    const job = (await this.db.selectFrom("jobs").selectAll().where("id", "=", jobId).executeTakeFirstOrThrow()) as Job;
    const heartbeat = async (step: number, total: number, log?: string) => {
      await this.db.updateTable("jobs").set({ progress_step: step, progress_total: total, updated_at: this.clock.now() }).where("id", "=", jobId).execute();
      if (log) await this.db.insertInto("job_logs").values({ job_id: jobId, line: log, created_at: this.clock.now() }).execute();
      this.events.jobProgress({ projectId: job.project_id, jobId, progress: { step, total }, metrics: [] });
    };
    let after: void | (() => void) = undefined;
    try {
      const { outputs, result } = await run(job, heartbeat);
      after = await this.db.transaction().execute(async (trx) => {
        const t = this.clock.now();
        await trx.updateTable("jobs").set({ status: "succeeded", outputs: JSON.stringify(outputs), result: JSON.stringify(result), finished_at: t, updated_at: t }).where("id", "=", jobId).execute();
        const handler = this.handlers.get(job.kind);
        return handler ? await handler(trx, { ...job, status: "succeeded" }, outputs, result) : undefined;
      });
    } catch (e) {
      const t = this.clock.now();
      await this.db.updateTable("jobs").set({ status: "failed", error: (e as Error).message.slice(0, 2000), finished_at: t, updated_at: t }).where("id", "=", jobId).execute();
    }
    if (after) after();
    await this.announce(jobId);
    this.events.jobFinished(jobId);
  }

  async complete(worker: WorkerIdentity, jobId: number, body: unknown) {
    const parsed = completeSchema.safeParse(body ?? {});
    if (!parsed.success) throw validationError(parsed.error.issues);
    const now = this.clock.now();
    const after = await this.db.transaction().execute(async (trx) => {
      const j = await this.requireLease(trx, worker, jobId);
      for (const id of Object.values(parsed.data.outputs)) {
        if (!(await trx.selectFrom("artifacts").select("id").where("id", "=", id).executeTakeFirst())) throw notFound(`Artifact ${id}`);
      }
      await trx
        .updateTable("jobs")
        .set({ status: "succeeded", outputs: JSON.stringify(parsed.data.outputs), result: JSON.stringify(parsed.data.result), lease_expires_at: null, finished_at: now, updated_at: now })
        .where("id", "=", jobId)
        .execute();
      const handler = this.handlers.get(j.kind);
      return handler ? await handler(trx, { ...j, status: "succeeded" }, parsed.data.outputs, parsed.data.result) : undefined;
    });
    if (after) after();
    await this.announce(jobId);
    this.events.workersChanged();
    this.events.jobFinished(jobId);
    return { ok: true };
  }

  async fail(worker: WorkerIdentity, jobId: number, body: unknown) {
    const parsed = failSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error.issues);
    const now = this.clock.now();
    const status = await this.db.transaction().execute(async (trx) => {
      const j = await this.requireLease(trx, worker, jobId);
      const next: JobStatus = parsed.data.cancelled || j.cancel_requested ? "cancelled" : parsed.data.retryable && j.attempts < j.max_attempts ? "queued" : "failed";
      await trx
        .updateTable("jobs")
        .set({ status: next, error: parsed.data.error, worker_id: null, lease_expires_at: null, finished_at: next === "queued" ? null : now, updated_at: now })
        .where("id", "=", jobId)
        .execute();
      return next;
    });
    await this.announce(jobId);
    this.events.workersChanged();
    if (status !== "queued") this.events.jobFinished(jobId);
    return { status };
  }
}
