import { z } from "zod";
import { type Db, type Executor } from "../../db/database.ts";
import { type Checkpoint, type CheckpointKind, type Job } from "../../db/schema.ts";
import { type SessionUser } from "../auth/auth-service.ts";
import { type ProjectService } from "../projects/project-service.ts";
import { type Clock } from "../shared/clock.ts";
import { DomainError, notFound, validationError } from "../shared/errors.ts";

export type CheckpointView = {
  id: number;
  project_id: number;
  kind: CheckpointKind;
  name: string;
  state: Checkpoint["state"];
  parent_id: number | null;
  job_id: number | null;
  artifact_id: number | null;
  model_ref: string | null;
  dataset_artifact_id: number | null;
  dataset_export_id: number | null;
  hyperparams: Record<string, unknown>;
  metrics: Record<string, unknown>;
  created_at: string;
  state_changed_at: string;
};

export function toCheckpointView(c: Checkpoint): CheckpointView {
  return {
    id: c.id,
    project_id: c.project_id,
    kind: c.kind,
    name: c.name,
    state: c.state,
    parent_id: c.parent_id,
    job_id: c.job_id,
    artifact_id: c.artifact_id,
    model_ref: c.model_ref,
    dataset_artifact_id: c.dataset_artifact_id,
    dataset_export_id: c.dataset_export_id,
    hyperparams: JSON.parse(c.hyperparams) as Record<string, unknown>,
    metrics: JSON.parse(c.metrics) as Record<string, unknown>,
    created_at: new Date(c.created_at).toISOString(),
    state_changed_at: new Date(c.state_changed_at).toISOString(),
  };
}

export const baseCheckpointSchema = z
  .object({
    kind: z.enum(["base", "sft", "reward", "policy"]).default("base"),
    name: z.string().trim().min(1).max(200),
    /** A Hugging Face hub id or a path on the workers, for models not uploaded as artifacts. */
    model_ref: z.string().trim().min(1).max(500).optional(),
    artifact_id: z.number().int().positive().optional(),
    champion: z.boolean().default(true),
  })
  .strict()
  .refine((b) => b.model_ref || b.artifact_id, { message: "give model_ref or artifact_id", path: ["model_ref"] });

const KIND_FOR_JOB: Partial<Record<Job["kind"], CheckpointKind>> = { train_reward: "reward", sft: "sft", ppo: "policy" };

/**
 * The model registry per project: base, SFT, reward and policy checkpoints with lineage (parent,
 * training job, dataset snapshot, hyperparameters, metrics) and states candidate → champion →
 * retired. One champion per kind; promoting another retires the current one (roll back = promote
 * a retired one again).
 */
export class CheckpointService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly projects: ProjectService,
  ) {}

  async list(user: SessionUser, projectId: number): Promise<CheckpointView[]> {
    await this.projects.requireResearcher(user, projectId);
    const rows = await this.db.selectFrom("checkpoints").selectAll().where("project_id", "=", projectId).orderBy("id", "desc").execute();
    return rows.map(toCheckpointView);
  }

  async get(user: SessionUser, id: number): Promise<CheckpointView> {
    const c = await this.db.selectFrom("checkpoints").selectAll().where("id", "=", id).executeTakeFirst();
    if (!c) throw notFound("Checkpoint");
    await this.projects.requireResearcher(user, c.project_id);
    return toCheckpointView(c);
  }

  async champion(projectId: number, kind: CheckpointKind, executor: Executor = this.db): Promise<Checkpoint | undefined> {
    return executor.selectFrom("checkpoints").selectAll().where("project_id", "=", projectId).where("kind", "=", kind).where("state", "=", "champion").executeTakeFirst();
  }

  async register(user: SessionUser, projectId: number, body: unknown): Promise<CheckpointView> {
    await this.projects.requireResearcher(user, projectId);
    const parsed = baseCheckpointSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error.issues);
    const b = parsed.data;
    const id = await this.db.transaction().execute(async (trx) => {
      if (b.artifact_id && !(await trx.selectFrom("artifacts").select("id").where("id", "=", b.artifact_id).executeTakeFirst())) throw notFound("Artifact");
      const now = this.clock.now();
      if (b.champion) await this.retireChampion(trx, projectId, b.kind, now);
      const row = await trx
        .insertInto("checkpoints")
        .values({
          project_id: projectId,
          kind: b.kind,
          name: b.name,
          state: b.champion ? "champion" : "candidate",
          parent_id: null,
          job_id: null,
          artifact_id: b.artifact_id ?? null,
          model_ref: b.model_ref ?? null,
          dataset_artifact_id: null,
          dataset_export_id: null,
          created_at: now,
          state_changed_at: now,
        })
        .returning("id")
        .executeTakeFirstOrThrow();
      return row.id;
    });
    return this.get(user, id);
  }

  private async retireChampion(trx: Executor, projectId: number, kind: CheckpointKind, now: number) {
    await trx.updateTable("checkpoints").set({ state: "retired", state_changed_at: now }).where("project_id", "=", projectId).where("kind", "=", kind).where("state", "=", "champion").execute();
  }

  /** Promote a candidate (or a retired checkpoint: a roll back) to champion of its kind. */
  async promote(user: SessionUser, id: number): Promise<CheckpointView> {
    const c = await this.get(user, id);
    if (c.state === "champion") throw new DomainError("conflict", "This checkpoint is already the champion");
    await this.db.transaction().execute(async (trx) => {
      const now = this.clock.now();
      await this.retireChampion(trx, c.project_id, c.kind, now);
      await trx.updateTable("checkpoints").set({ state: "champion", state_changed_at: now }).where("id", "=", id).execute();
    });
    return this.get(user, id);
  }

  async retire(user: SessionUser, id: number): Promise<CheckpointView> {
    const c = await this.get(user, id);
    await this.db.updateTable("checkpoints").set({ state: "retired", state_changed_at: this.clock.now() }).where("id", "=", id).execute();
    return this.get(user, c.id);
  }

  /**
   * Completion handler for training jobs: the produced model becomes a candidate checkpoint with
   * its lineage. Runs inside the job's completing transaction.
   */
  async registerFromJob(trx: Executor, job: Job, outputs: Record<string, number>, result: Record<string, unknown>): Promise<number> {
    const kind = KIND_FOR_JOB[job.kind];
    if (!kind) throw new Error(`${job.kind} jobs do not produce checkpoints`);
    const artifactId = outputs.model;
    if (!artifactId) throw new DomainError("validation_failed", `A ${job.kind} job must output a "model" artifact`, { fields: [{ path: "outputs.model", message: "is required" }] });
    const params = JSON.parse(job.params) as Record<string, unknown>;
    const inputs = JSON.parse(job.inputs) as Record<string, number>;
    const now = this.clock.now();
    const row = await trx
      .insertInto("checkpoints")
      .values({
        project_id: job.project_id,
        kind,
        name: typeof params.name === "string" ? params.name : `${kind} from job ${job.id}`,
        state: "candidate",
        parent_id: typeof params.parent_checkpoint_id === "number" ? params.parent_checkpoint_id : null,
        job_id: job.id,
        artifact_id: artifactId,
        model_ref: null,
        dataset_artifact_id: inputs.dataset ?? null,
        dataset_export_id: typeof params.dataset_export_id === "number" ? params.dataset_export_id : null,
        hyperparams: JSON.stringify(params.config ?? {}),
        metrics: JSON.stringify(result),
        created_at: now,
        state_changed_at: now,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return row.id;
  }
}
