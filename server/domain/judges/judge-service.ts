import crypto from "node:crypto";
import { sql } from "kysely";
import { z } from "zod";
import { type Db, type Executor } from "../../db/database.ts";
import { type Job, type Judge, type JudgeKind } from "../../db/schema.ts";
import { recordedJudgment } from "../annotation/recorded-judgment.ts";
import { type SessionUser } from "../auth/auth-service.ts";
import { type Content } from "../imports/records.ts";
import { type ArtifactService } from "../jobs/artifact-store.ts";
import { type JobService, type JobView } from "../jobs/job-service.ts";
import { type ProjectService, type ProjectView } from "../projects/project-service.ts";
import { CHOICES } from "../quality/judgment-index.ts";
import { type QualityService } from "../quality/quality-service.ts";
import { type Clock } from "../shared/clock.ts";
import { DomainError, notFound, validationError } from "../shared/errors.ts";
import { type DomainEvents } from "../shared/events.ts";
import { parseJsonLines } from "../shared/jsonl.ts";
import { calibrationBuckets, type Comparison, rate } from "./agreement.ts";
import { type HybridSettings, hybridSettingsSchema } from "./hybrid-settings.ts";
import { DEFAULT_RUBRIC, LlmJudge, llmJudgeConfigSchema, type PairForJudge, type VerdictDraft } from "./llm-judge.ts";
import { AI_RAND_KEY, confidenceOf, decideRoute, type JudgeTrust, type VerdictSignal } from "./routing.ts";
import { type AgreementReport, type AssistArm, type HybridReport, type JudgeAgreement, type JudgeView, type StrategyContribution } from "./types.ts";

const rewardModelConfigSchema = z
  .object({
    /** Reward checkpoints of the project; several make an ensemble; none means the current one. */
    checkpoint_ids: z.array(z.number().int().positive()).max(8).default([]),
  })
  .strict();

const createJudgeSchema = z
  .object({
    kind: z.enum(["reward_model", "llm"]),
    name: z.string().trim().min(1, "is required").max(100),
    config: z.record(z.unknown()).default({}),
    enabled: z.boolean().default(true),
    /** LLM judges: write-only; "" clears it. */
    api_key: z.string().max(500).optional(),
  })
  .strict();

const updateJudgeSchema = z
  .object({
    name: z.string().trim().min(1, "is required").max(100).optional(),
    config: z.record(z.unknown()).optional(),
    enabled: z.boolean().optional(),
    api_key: z.string().max(500).optional(),
  })
  .strict();

const runJudgeSchema = z
  .object({
    scope: z.enum(["unjudged", "all"]).default("unjudged"),
    limit: z.number().int().min(1).max(100_000).default(100_000),
  })
  .strict();

/** One line of a reward-model judge's `verdicts` artifact (trainer/pairwise_trainer/judge.py). */
const workerVerdictSchema = z
  .object({
    pair_id: z.number().int().positive(),
    p_a: z.number().min(0).max(1),
    reward_a: z.number().finite().optional(),
    reward_b: z.number().finite().optional(),
    members: z.array(z.number().min(0).max(1)).max(64).nullable().optional(),
  })
  .passthrough();

const ROUTE_CHUNK = 500;
const LLM_CONCURRENCY = 4;
const LLM_FLUSH_EVERY = 20;

type JudgeRow = Pick<Judge, "id" | "kind" | "version" | "bot_user_id" | "enabled">;

/** Routing standing from a judge's audited/gold record (mirrors the agreement alert). */
export function judgeTrust(rec: { n: number; agree: number }, minAudits: number, threshold: number, minPairs: number): JudgeTrust {
  if (rec.n < minAudits) return "warmup";
  if (rec.n >= minPairs && rec.agree / rec.n < threshold) return "paused";
  return "trusted";
}

function secretName(judgeId: number): string {
  return `judge:${judgeId}:api_key`;
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * AI judges and the hybrid human–AI loop: judges' verdicts, routing of confident pairs to AI
 * labels, the information-ordered human queue (priorities on pairs; the annotation service serves
 * them), and the AI–human agreement figures.
 */
export class JudgeService {
  private readonly running = new Set<Promise<void>>();
  private agreementCache = new Map<number, { key: string; value: AgreementReport }>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly projects: ProjectService,
    private readonly jobs: JobService,
    private readonly artifacts: ArtifactService,
    private readonly quality: QualityService,
    private readonly events: DomainEvents,
    private readonly fetchImpl: typeof fetch = fetch,
    private readonly random: () => number = Math.random,
  ) {}

  // ---- settings ---------------------------------------------------------------------------

  async hybridSettings(user: SessionUser, projectId: number): Promise<HybridSettings> {
    const { project } = await this.projects.requireResearcher(user, projectId);
    return project.hybrid;
  }

  async updateHybridSettings(user: SessionUser, projectId: number, body: unknown): Promise<HybridSettings> {
    await this.projects.requireResearcher(user, projectId);
    const parsed = hybridSettingsSchema.safeParse(body ?? {});
    if (!parsed.success) throw validationError(parsed.error.issues);
    const s = parsed.data;
    const ids = [...s.routing.judgeIds, ...(s.assist.judgeId ? [s.assist.judgeId] : [])];
    if (ids.length) {
      const found = await this.db.selectFrom("judges").select("id").where("project_id", "=", projectId).where("id", "in", ids).execute();
      const have = new Set(found.map((r) => r.id));
      const issues = [
        ...s.routing.judgeIds.flatMap((id, i) => (have.has(id) ? [] : [{ path: ["routing", "judgeIds", String(i)], message: `judge ${id} is not in this project` }])),
        ...(s.assist.judgeId && !have.has(s.assist.judgeId) ? [{ path: ["assist", "judgeId"], message: `judge ${s.assist.judgeId} is not in this project` }] : []),
      ];
      if (issues.length) throw validationError(issues);
    }
    await this.db.updateTable("projects").set({ hybrid: JSON.stringify(s), updated_at: this.clock.now() }).where("id", "=", projectId).execute();
    this.projects.forgetProject(projectId);
    await this.rescore(projectId);
    this.events.judgesUpdated(projectId);
    this.events.progressChanged(projectId);
    return s;
  }

  // ---- judges -----------------------------------------------------------------------------

  /** The rubric a new LLM judge starts from (the form prefills it). */
  defaultRubric(): string {
    return DEFAULT_RUBRIC;
  }

  private async parseConfig(projectId: number, kind: JudgeKind, config: unknown): Promise<Record<string, unknown>> {
    if (kind === "llm") {
      const c = llmJudgeConfigSchema.safeParse(config);
      if (!c.success) throw validationError(c.error.issues.map((i) => ({ ...i, path: ["config", ...i.path] })));
      return c.data;
    }
    const c = rewardModelConfigSchema.safeParse(config);
    if (!c.success) throw validationError(c.error.issues.map((i) => ({ ...i, path: ["config", ...i.path] })));
    for (const [i, id] of c.data.checkpoint_ids.entries()) {
      const ck = await this.db.selectFrom("checkpoints").select(["project_id", "kind"]).where("id", "=", id).executeTakeFirst();
      if (!ck || ck.project_id !== projectId || ck.kind !== "reward") {
        throw validationError([{ path: ["config", "checkpoint_ids", String(i)], message: `checkpoint ${id} is not a reward model of this project` }]);
      }
    }
    return c.data;
  }

  private async toView(j: Judge): Promise<JudgeView> {
    const [count, key] = await Promise.all([
      this.db.selectFrom("judge_verdicts").select((eb) => eb.fn.countAll<number>().as("n")).where("judge_id", "=", j.id).where("judge_version", "=", j.version).executeTakeFirstOrThrow(),
      this.db.selectFrom("project_secrets").select("name").where("project_id", "=", j.project_id).where("name", "=", secretName(j.id)).executeTakeFirst(),
    ]);
    return {
      id: j.id,
      project_id: j.project_id,
      kind: j.kind,
      name: j.name,
      version: j.version,
      enabled: j.enabled === 1,
      config: JSON.parse(j.config) as JudgeView["config"],
      has_api_key: !!key,
      verdicts: Number(count.n),
      created_at: new Date(j.created_at).toISOString(),
      updated_at: new Date(j.updated_at).toISOString(),
    };
  }

  async list(user: SessionUser, projectId: number): Promise<JudgeView[]> {
    await this.projects.requireResearcher(user, projectId);
    const rows = (await this.db.selectFrom("judges").selectAll().where("project_id", "=", projectId).orderBy("id").execute()) as Judge[];
    return Promise.all(rows.map((r) => this.toView(r)));
  }

  private async requireJudge(projectId: number, judgeId: number): Promise<Judge> {
    const j = (await this.db.selectFrom("judges").selectAll().where("id", "=", judgeId).where("project_id", "=", projectId).executeTakeFirst()) as Judge | undefined;
    if (!j) throw notFound("Judge");
    return j;
  }

  async create(user: SessionUser, projectId: number, body: unknown): Promise<JudgeView> {
    await this.projects.requireResearcher(user, projectId);
    const parsed = createJudgeSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error.issues);
    const b = parsed.data;
    const config = await this.parseConfig(projectId, b.kind, b.config);
    if (b.api_key !== undefined && b.kind !== "llm") throw validationError([{ path: ["api_key"], message: "only LLM judges take an API key" }]);
    const now = this.clock.now();
    const id = await this.db.transaction().execute(async (trx) => {
      // The judge's labels are ordinary judgment rows, so it needs a user; this one cannot log in.
      const bot = await trx
        .insertInto("users")
        .values({ email: `judge-pending-${crypto.randomUUID()}@judges.invalid`, name: b.name, password_hash: "!", role: "annotator", created_at: now, disabled_at: now })
        .returning("id")
        .executeTakeFirstOrThrow();
      const j = await trx
        .insertInto("judges")
        .values({ project_id: projectId, kind: b.kind, name: b.name, version: 1, config: JSON.stringify(config), bot_user_id: bot.id, enabled: b.enabled ? 1 : 0, created_by: user.id, created_at: now, updated_at: now })
        .returning("id")
        .executeTakeFirstOrThrow();
      await trx.updateTable("users").set({ email: `judge-${j.id}@judges.invalid` }).where("id", "=", bot.id).execute();
      if (b.api_key) await trx.insertInto("project_secrets").values({ project_id: projectId, name: secretName(j.id), value: b.api_key, updated_at: now }).execute();
      return j.id;
    });
    this.events.judgesUpdated(projectId);
    return this.toView(await this.requireJudge(projectId, id));
  }

  async update(user: SessionUser, projectId: number, judgeId: number, body: unknown): Promise<JudgeView> {
    await this.projects.requireResearcher(user, projectId);
    const parsed = updateJudgeSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error.issues);
    const j = await this.requireJudge(projectId, judgeId);
    const b = parsed.data;
    if (b.api_key !== undefined && j.kind !== "llm") throw validationError([{ path: ["api_key"], message: "only LLM judges take an API key" }]);
    const config = b.config ? await this.parseConfig(projectId, j.kind, b.config) : null;
    // A different configuration is a different judge for agreement purposes: a new version.
    const changed = config !== null && JSON.stringify(config) !== j.config;
    const now = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable("judges")
        .set({
          ...(b.name ? { name: b.name } : {}),
          ...(b.enabled !== undefined ? { enabled: b.enabled ? 1 : 0 } : {}),
          ...(changed ? { config: JSON.stringify(config), version: j.version + 1 } : {}),
          updated_at: now,
        })
        .where("id", "=", judgeId)
        .execute();
      if (b.name) await trx.updateTable("users").set({ name: b.name }).where("id", "=", j.bot_user_id).execute();
      if (b.api_key === "") await trx.deleteFrom("project_secrets").where("project_id", "=", projectId).where("name", "=", secretName(judgeId)).execute();
      else if (b.api_key !== undefined) {
        await trx
          .insertInto("project_secrets")
          .values({ project_id: projectId, name: secretName(judgeId), value: b.api_key, updated_at: now })
          .onConflict((oc) => oc.columns(["project_id", "name"]).doUpdateSet({ value: b.api_key!, updated_at: now }))
          .execute();
      }
    });
    if (changed || b.enabled !== undefined) await this.rescore(projectId);
    this.events.judgesUpdated(projectId);
    return this.toView(await this.requireJudge(projectId, judgeId));
  }

  // ---- running judges -----------------------------------------------------------------------

  /** The newest champion (else candidate) reward checkpoint: "the project's current reward model". */
  private async currentRewardModel(projectId: number) {
    return this.db
      .selectFrom("checkpoints")
      .select(["id", "artifact_id", "model_ref"])
      .where("project_id", "=", projectId)
      .where("kind", "=", "reward")
      .where("state", "!=", "retired")
      .orderBy(sql`state = 'champion'`, "desc")
      .orderBy("id", "desc")
      .executeTakeFirst();
  }

  private async pairsToJudge(projectId: number, judge: Judge, scope: "unjudged" | "all", limit: number): Promise<PairForJudge[]> {
    let q = this.db
      .selectFrom("pairs as p")
      .select(["p.id", "p.prompt", "p.response_a", "p.response_b"])
      .where("p.project_id", "=", projectId)
      .where("p.route", "!=", "known");
    if (scope === "unjudged") {
      q = q.where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom("judge_verdicts as v").select(sql`1`.as("one")).whereRef("v.pair_id", "=", "p.id").where("v.judge_id", "=", judge.id).where("v.judge_version", "=", judge.version))),
      );
    }
    const rows = await q.orderBy("p.id").limit(limit).execute();
    return rows.map((r) => ({ pair_id: r.id, prompt: JSON.parse(r.prompt) as Content, response_a: JSON.parse(r.response_a) as Content, response_b: JSON.parse(r.response_b) as Content }));
  }

  async run(user: SessionUser, projectId: number, judgeId: number, body: unknown): Promise<JobView> {
    await this.projects.requireResearcher(user, projectId);
    const parsed = runJudgeSchema.safeParse(body ?? {});
    if (!parsed.success) throw validationError(parsed.error.issues);
    const judge = await this.requireJudge(projectId, judgeId);
    if (!judge.enabled) throw new DomainError("conflict", "This judge is disabled; enable it first");
    const members = judge.kind === "reward_model" ? await this.rewardMembers(projectId, judge) : [];
    const pairs = await this.pairsToJudge(projectId, judge, parsed.data.scope, parsed.data.limit);
    if (!pairs.length) throw new DomainError("conflict", "Every pair already has a verdict from this judge's current version; use scope \"all\" to ask again");
    const params: Record<string, unknown> = { judge_id: judge.id, judge_version: judge.version, judge_kind: judge.kind, pairs: pairs.length, scope: parsed.data.scope };
    if (judge.kind === "reward_model") {
      const inputs: Record<string, number> = {};
      members.forEach((m, i) => {
        const name = i === 0 ? "reward_model" : `reward_model_${i}`;
        if (m.artifact_id) inputs[name] = m.artifact_id;
        else params[`${name}_ref`] = m.model_ref;
      });
      params.checkpoint_ids = members.map((m) => m.id);
      const file = pairs.map((p) => JSON.stringify(p)).join("\n") + "\n";
      const ref = await this.artifacts.putBuffer(Buffer.from(file), { name: `judge-${judge.id}-v${judge.version}-pairs.jsonl`, kind: "dataset" });
      inputs.pairs = ref.artifact_id;
      const jobId = await this.jobs.create(projectId, { kind: "judge", params, inputs, createdBy: user.id });
      await this.jobs.announce(jobId);
      return (await this.jobs.view(jobId))!;
    }
    // LLM judges call a remote endpoint: the server runs them itself, no worker needed.
    // backend "openai": the claim query keeps workers off jobs the server runs itself.
    const jobId = await this.jobs.create(projectId, { kind: "judge", params: { ...params, backend: "openai" }, createdBy: user.id, maxAttempts: 1 });
    await this.jobs.announce(jobId);
    const view = (await this.jobs.view(jobId))!;
    const task = this.jobs.runInProcess(jobId, (job, heartbeat) => this.runLlm(job, judge, pairs, heartbeat)).finally(() => this.running.delete(task));
    this.running.add(task);
    return view;
  }

  /**
   * The reward checkpoints a reward-model judge scores with (several: an ensemble). "The current
   * reward model" moves as rounds train new ones; a different model is a new judge version (bumped
   * here, on `judge`), so agreement and trust are never pooled across models.
   */
  private async rewardMembers(projectId: number, judge: Judge) {
    const cfg = rewardModelConfigSchema.parse(JSON.parse(judge.config));
    if (cfg.checkpoint_ids.length) {
      const rows = await this.db.selectFrom("checkpoints").select(["id", "artifact_id", "model_ref"]).where("id", "in", cfg.checkpoint_ids).execute();
      return cfg.checkpoint_ids.map((id) => rows.find((m) => m.id === id)!);
    }
    const current = await this.currentRewardModel(projectId);
    if (!current) throw new DomainError("conflict", "This project has no reward model yet; train one (a round or a train_reward job) first");
    const last = await this.db
      .selectFrom("jobs")
      .select("params")
      .where("project_id", "=", projectId)
      .where("kind", "=", "judge")
      .where(sql<number>`json_extract(params, '$.judge_id')`, "=", judge.id)
      .where(sql<number>`json_extract(params, '$.judge_version')`, "=", judge.version)
      .orderBy("id", "desc")
      .executeTakeFirst();
    const before = last ? (JSON.parse(last.params) as { checkpoint_ids?: number[] }).checkpoint_ids : undefined;
    if (before && JSON.stringify(before) !== JSON.stringify([current.id])) {
      judge.version += 1;
      await this.db.updateTable("judges").set({ version: judge.version, updated_at: this.clock.now() }).where("id", "=", judge.id).execute();
    }
    return [current];
  }

  /** A judge's verdicts (current version unless asked), newest first, with their raw output. */
  async verdicts(user: SessionUser, projectId: number, judgeId: number, query: unknown) {
    await this.projects.requireResearcher(user, projectId);
    const judge = await this.requireJudge(projectId, judgeId);
    const q = z
      .object({
        version: z.coerce.number().int().min(1).optional(),
        limit: z.coerce.number().int().min(1).max(500).default(50),
        offset: z.coerce.number().int().min(0).default(0),
        pair_id: z.coerce.number().int().positive().optional(),
      })
      .strict()
      .safeParse(query ?? {});
    if (!q.success) throw validationError(q.error.issues);
    const version = q.data.version ?? judge.version;
    let base = this.db.selectFrom("judge_verdicts").where("judge_id", "=", judge.id).where("judge_version", "=", version);
    if (q.data.pair_id) base = base.where("pair_id", "=", q.data.pair_id);
    const [rows, total] = await Promise.all([
      base.selectAll().orderBy("id", "desc").limit(q.data.limit).offset(q.data.offset).execute(),
      base.select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow(),
    ]);
    return {
      judge_id: judge.id,
      version,
      total: Number(total.n),
      verdicts: rows.map((v) => ({
        pair_id: v.pair_id,
        p_a: v.p_a,
        choice: v.choice,
        confidence: v.confidence,
        consistent: v.consistent === null ? null : v.consistent === 1,
        members: v.members ? (JSON.parse(v.members) as number[]) : null,
        raw_output: v.raw_output,
        job_id: v.job_id,
        created_at: new Date(v.created_at).toISOString(),
      })),
    };
  }

  /** Resolves when every judge the server is running itself has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  private async runLlm(job: Job, judge: Judge, pairs: PairForJudge[], heartbeat: (step: number, total: number, log?: string) => Promise<void>) {
    const config = llmJudgeConfigSchema.parse(JSON.parse(judge.config));
    const key = await this.db.selectFrom("project_secrets").select("value").where("project_id", "=", judge.project_id).where("name", "=", secretName(judge.id)).executeTakeFirst();
    const llm = new LlmJudge(config, key?.value ?? null, this.fetchImpl);
    await heartbeat(0, pairs.length, `asking ${config.model} about ${pairs.length} pairs, both orders each`);
    let next = 0;
    let done = 0;
    let failed = 0;
    let stored = 0;
    let inconsistent = 0;
    let fatal: Error | null = null;
    let buffer: VerdictDraft[] = [];
    const flush = async () => {
      if (!buffer.length) return;
      const batch = buffer;
      buffer = [];
      const after = await this.db.transaction().execute((trx) => this.ingest(trx, judge.project_id, judge, batch, job.id));
      after();
      stored += batch.length;
      await heartbeat(done, pairs.length);
      const state = await this.db.selectFrom("jobs").select("cancel_requested").where("id", "=", job.id).executeTakeFirst();
      if (state?.cancel_requested) fatal ??= new Error(`cancelled by a researcher after ${stored} verdicts (they are kept)`);
    };
    let flushing: Promise<void> = Promise.resolve();
    const worker = async () => {
      while (!fatal && next < pairs.length) {
        const pair = pairs[next++]!;
        try {
          const v = await llm.judge(pair);
          if (v.consistent === 0) inconsistent++;
          buffer.push(v);
        } catch (e) {
          // An auth or request error will fail every pair alike: stop at once. Others are per pair.
          if (e instanceof DomainError) fatal = e;
          else failed++;
        }
        done++;
        if (done >= 10 && failed / done > 0.2) fatal = new Error(`${failed} of ${done} requests to the judge endpoint failed; stopped`);
        if (buffer.length >= LLM_FLUSH_EVERY) flushing = flushing.then(flush);
      }
    };
    await Promise.all(Array.from({ length: LLM_CONCURRENCY }, worker));
    await flushing;
    await flush();
    if (fatal) throw fatal;
    return { outputs: {}, result: { "judge/pairs": pairs.length, "judge/verdicts": stored, "judge/failed": failed, "judge/inconsistent_rate": stored ? inconsistent / stored : 0 } };
  }

  /** Completion of a worker's `judge` job: its `verdicts` artifact, one JSON object per line. */
  async onJudgeJobCompleted(trx: Executor, job: Job, outputs: Record<string, number>): Promise<void | (() => void)> {
    const params = JSON.parse(job.params) as { judge_id?: number; judge_version?: number; backend?: string };
    // An LLM judge runs in the server and stores its verdicts as it goes: nothing to ingest here.
    if (params.backend === "openai") return;
    if (!outputs.verdicts) {
      throw new DomainError("validation_failed", 'A judge job must output a "verdicts" artifact', { fields: [{ path: "outputs.verdicts", message: "is required" }] });
    }
    const judge = (await trx.selectFrom("judges").selectAll().where("id", "=", params.judge_id ?? -1).where("project_id", "=", job.project_id).executeTakeFirst()) as Judge | undefined;
    if (!judge) throw notFound("Judge");
    const text = await this.artifacts.readText(outputs.verdicts, trx);
    const { values: drafts, problems } = parseJsonLines<VerdictDraft>(text, (raw) => {
      const v = workerVerdictSchema.safeParse(raw);
      if (!v.success) return { ok: false, message: v.error.issues.map((x) => `${x.path.join(".") || "line"}: ${x.message}`).join("; ") };
      const p = v.data.p_a;
      return {
        ok: true,
        value: {
          pair_id: v.data.pair_id,
          p_a: p,
          choice: p > 0.5 ? "a" : p < 0.5 ? "b" : "tie",
          confidence: confidenceOf(p),
          consistent: null,
          members: v.data.members ?? null,
          raw_output: JSON.stringify(raw).slice(0, 4000),
        },
      };
    });
    if (problems.length) throw new DomainError("import_invalid", `The verdicts file has ${problems.length} bad lines; nothing was stored`, { lines: problems.slice(0, 50) });
    // A verdict for a pair of another project is a broken worker, not a label.
    const ids = [...new Set(drafts.map((d) => d.pair_id))];
    for (let i = 0; i < ids.length; i += ROUTE_CHUNK) {
      const chunk = ids.slice(i, i + ROUTE_CHUNK);
      const found = await trx.selectFrom("pairs").select((eb) => eb.fn.countAll<number>().as("n")).where("project_id", "=", job.project_id).where("id", "in", chunk).executeTakeFirstOrThrow();
      if (Number(found.n) !== chunk.length) throw new DomainError("validation_failed", "The verdicts name pairs that are not in this project; nothing was stored");
    }
    // The version the job was created for: a judge edited meanwhile does not adopt old verdicts.
    return this.ingest(trx, job.project_id, { ...judge, version: params.judge_version ?? judge.version }, drafts, job.id);
  }

  /**
   * Stores verdicts (a re-run of the same judge version replaces its earlier verdict) and routes
   * the pairs they concern. Runs in the caller's transaction; returns what to announce after it.
   */
  async ingest(trx: Executor, projectId: number, judge: JudgeRow, drafts: VerdictDraft[], jobId: number | null): Promise<() => void> {
    const now = this.clock.now();
    for (let i = 0; i < drafts.length; i += ROUTE_CHUNK) {
      const rows = drafts.slice(i, i + ROUTE_CHUNK).map((d) => ({
        project_id: projectId,
        pair_id: d.pair_id,
        judge_id: judge.id,
        judge_version: judge.version,
        p_a: d.p_a,
        choice: d.choice,
        confidence: d.confidence,
        consistent: d.consistent,
        members: d.members ? JSON.stringify(d.members) : null,
        raw_output: d.raw_output,
        job_id: jobId,
        created_at: now,
      }));
      await trx
        .insertInto("judge_verdicts")
        .values(rows)
        .onConflict((oc) =>
          oc.columns(["judge_id", "judge_version", "pair_id"]).doUpdateSet((eb) => ({
            p_a: eb.ref("excluded.p_a"),
            choice: eb.ref("excluded.choice"),
            confidence: eb.ref("excluded.confidence"),
            consistent: eb.ref("excluded.consistent"),
            members: eb.ref("excluded.members"),
            raw_output: eb.ref("excluded.raw_output"),
            job_id: eb.ref("excluded.job_id"),
            created_at: eb.ref("excluded.created_at"),
          })),
        )
        .execute();
    }
    const project = (await this.projects.get(projectId, trx))!;
    const labeled = await this.route(trx, project, [...new Set(drafts.map((d) => d.pair_id))]);
    return () => {
      this.agreementCache.delete(projectId);
      this.events.judgesUpdated(projectId);
      if (labeled) this.events.progressChanged(projectId);
    };
  }

  /**
   * Re-decides route and priority of the given pairs from their judges' current verdicts. Only
   * pairs nobody has started are routed (a lease or judgment already given stays with people);
   * the others only get their priority refreshed. Returns how many pairs got an AI label.
   */
  private async route(trx: Executor, project: ProjectView, pairIds: number[]): Promise<number> {
    const judges = await trx.selectFrom("judges").select(["id", "kind", "version", "bot_user_id", "enabled"]).where("project_id", "=", project.id).execute();
    const byId = new Map(judges.map((j) => [j.id, j]));
    const enabled = new Set(judges.filter((j) => j.enabled === 1).map((j) => j.id));
    const trust = await this.trustOf(trx, project);
    let labeled = 0;
    for (let i = 0; i < pairIds.length; i += ROUTE_CHUNK) {
      const chunk = pairIds.slice(i, i + ROUTE_CHUNK);
      const pairs = await trx.selectFrom("pairs").select(["id", "gold", "route", "claimed", "judged"]).where("project_id", "=", project.id).where("id", "in", chunk).execute();
      const verdicts = await trx
        .selectFrom("judge_verdicts as v")
        .innerJoin("judges as j", (jn) => jn.onRef("j.id", "=", "v.judge_id").onRef("j.version", "=", "v.judge_version"))
        .select(["v.pair_id", "v.judge_id", "j.kind", "v.p_a", "v.consistent", "v.members"])
        .where("v.pair_id", "in", chunk)
        .execute();
      const signals = new Map<number, VerdictSignal[]>();
      for (const v of verdicts) {
        if (!signals.has(v.pair_id)) signals.set(v.pair_id, []);
        signals.get(v.pair_id)!.push({ judgeId: v.judge_id, kind: v.kind, pA: v.p_a, consistent: v.consistent, members: v.members ? (JSON.parse(v.members) as number[]) : null });
      }
      for (const p of pairs) {
        if (p.route !== "human") continue;
        const decision = decideRoute(signals.get(p.id) ?? [], project.hybrid, { gold: p.gold === 1, auditDraw: this.random(), enabledJudgeIds: enabled, trust: (id) => trust.get(id) ?? "warmup" });
        const fresh = p.claimed === 0 && p.judged === 0;
        if (decision.label && fresh) {
          const res = await trx
            .updateTable("pairs")
            .set({ route: decision.route, priority: decision.priority, priority_strategy: decision.strategy, ...(decision.route === "ai" ? { rand_key: AI_RAND_KEY } : {}) })
            .where("id", "=", p.id)
            .where("route", "=", "human")
            .where("claimed", "=", 0)
            .executeTakeFirst();
          if (Number(res.numUpdatedRows) === 1) {
            await this.writeAiLabel(trx, project, p.id, byId.get(decision.label.judgeId)!, decision.label.choice, decision.label.confidence);
            labeled++;
          }
        } else {
          const priority = decision.label ? 0 : decision.priority;
          await trx.updateTable("pairs").set({ priority, priority_strategy: decision.label ? null : decision.strategy }).where("id", "=", p.id).where("route", "=", "human").execute();
        }
      }
    }
    return labeled;
  }

  /**
   * Each judge's standing for routing, from its record on audited and gold pairs (the same
   * comparisons as the agreement report's headline): warming up until `minAudits`, paused while
   * its agreement is under the alert threshold, trusted otherwise. Reads through `trx` only.
   */
  private async trustOf(trx: Executor, project: ProjectView): Promise<Map<number, JudgeTrust>> {
    const rows = await trx
      .selectFrom("judge_verdicts as v")
      .innerJoin("judges as j", (jn) => jn.onRef("j.id", "=", "v.judge_id").onRef("j.version", "=", "v.judge_version"))
      .innerJoin("pairs as p", "p.id", "v.pair_id")
      .select(["v.judge_id", "v.pair_id", "v.choice", "p.gold", "p.reference", "p.route"])
      .where("v.project_id", "=", project.id)
      .where("v.choice", "in", ["a", "b"])
      .where((eb) => eb.or([eb("p.route", "=", "audit"), eb.and([eb("p.gold", "=", 1), eb("p.reference", "in", ["a", "b"])])]))
      .execute();
    const auditPairs = [...new Set(rows.filter((r) => r.gold !== 1).map((r) => r.pair_id))];
    const majority = new Map<number, string>();
    for (let i = 0; i < auditPairs.length; i += ROUTE_CHUNK) {
      const votes = await trx
        .selectFrom("judgments as jd")
        .select(["jd.pair_id", "jd.choice", (eb) => eb.fn.countAll<number>().as("n")])
        .where("jd.pair_id", "in", auditPairs.slice(i, i + ROUTE_CHUNK))
        .where("jd.source", "=", "human")
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom("judgments as j2").select(sql`1`.as("one")).whereRef("j2.supersedes_id", "=", "jd.id"))))
        .groupBy(["jd.pair_id", "jd.choice"])
        .execute();
      const best = new Map<number, { choice: string; n: number; split: boolean }>();
      for (const v of votes) {
        const b = best.get(v.pair_id);
        const n = Number(v.n);
        if (!b || n > b.n) best.set(v.pair_id, { choice: v.choice, n, split: false });
        else if (n === b.n) b.split = true;
      }
      for (const [pairId, b] of best) if (!b.split) majority.set(pairId, b.choice);
    }
    const record = new Map<number, { n: number; agree: number }>();
    for (const r of rows) {
      const truth = r.gold === 1 ? r.reference : majority.get(r.pair_id);
      if (truth !== "a" && truth !== "b") continue;
      const rec = record.get(r.judge_id) ?? { n: 0, agree: 0 };
      rec.n++;
      if (r.choice === truth) rec.agree++;
      record.set(r.judge_id, rec);
    }
    const { minAudits } = project.hybrid.routing;
    const { threshold, minPairs } = project.hybrid.agreementAlert;
    const out = new Map<number, JudgeTrust>();
    const judges = await trx.selectFrom("judges").select("id").where("project_id", "=", project.id).execute();
    for (const { id } of judges) out.set(id, judgeTrust(record.get(id) ?? { n: 0, agree: 0 }, minAudits, threshold, minPairs));
    return out;
  }

  /** An AI label is an ordinary judgment row (source "ai") by the judge's own user. */
  private async writeAiLabel(trx: Executor, project: ProjectView, pairId: number, judge: JudgeRow, choice: "a" | "b", confidence: number): Promise<void> {
    const now = this.clock.now();
    const pair = await trx.selectFrom("pairs").select(["response_a", "response_b", "model_a", "model_b", "checkpoint_a", "checkpoint_b"]).where("id", "=", pairId).executeTakeFirstOrThrow();
    const key = `judge:${judge.id}:v${judge.version}:pair:${pairId}`;
    const prior = await trx.selectFrom("judgments").select("id").where("annotator_id", "=", judge.bot_user_id).where("idempotency_key", "=", key).executeTakeFirst();
    if (prior) return;
    const a = await trx
      .insertInto("assignments")
      .values({ project_id: project.id, pair_id: pairId, annotator_id: judge.bot_user_id, left_is_a: 1, status: "judged", created_at: now, expires_at: now, finished_at: now, skip_reason: null, strategy: "ai" })
      .returning("id")
      .executeTakeFirstOrThrow();
    await trx
      .insertInto("judgments")
      .values({
        ...recordedJudgment({ projectId: project.id, pairId, assignmentId: a.id, annotatorId: judge.bot_user_id, choice, idempotencyKey: key, schemeVersion: project.schemeVersion, pair, now }),
        source: "ai",
        judge_id: judge.id,
        judge_version: judge.version,
        confidence,
      })
      .execute();
  }

  /** Re-routes every not-yet-started pair that has verdicts (after settings or judges change). */
  async rescore(projectId: number): Promise<number> {
    this.projects.forgetProject(projectId);
    const project = (await this.projects.get(projectId))!;
    let afterId = 0;
    let labeled = 0;
    for (;;) {
      const ids = await this.db
        .selectFrom("pairs")
        .select("id")
        .where("project_id", "=", projectId)
        .where("route", "=", "human")
        .where("id", ">", afterId)
        .where(({ exists, selectFrom }) => exists(selectFrom("judge_verdicts as v").select(sql`1`.as("one")).whereRef("v.pair_id", "=", "pairs.id")))
        .orderBy("id")
        .limit(ROUTE_CHUNK)
        .execute();
      if (!ids.length) break;
      // One short transaction per chunk: annotators' leases interleave instead of waiting.
      labeled += await this.db.transaction().execute((trx) => this.route(trx, project, ids.map((r) => r.id)));
      afterId = ids[ids.length - 1]!.id;
    }
    this.agreementCache.delete(projectId);
    return labeled;
  }

  // ---- agreement and reports ----------------------------------------------------------------

  /** Current verdicts (each judge's current version) with their pair's route and gold answer. */
  private async currentVerdicts(projectId: number) {
    return this.db
      .selectFrom("judge_verdicts as v")
      .innerJoin("judges as j", (jn) => jn.onRef("j.id", "=", "v.judge_id").onRef("j.version", "=", "v.judge_version"))
      .innerJoin("pairs as p", "p.id", "v.pair_id")
      .select(["v.id", "v.pair_id", "v.judge_id", "v.p_a", "v.choice", "v.confidence", "v.consistent", "p.route", "p.gold", "p.reference"])
      .where("v.project_id", "=", projectId)
      .execute();
  }

  async agreement(user: SessionUser, projectId: number): Promise<AgreementReport> {
    const { project } = await this.projects.requireResearcher(user, projectId);
    return this.agreementUnchecked(projectId, project.hybrid);
  }

  /**
   * AI–human agreement per judge. A judge's pick (a or b) is compared with the gold answer on gold
   * pairs and with the human majority elsewhere (pairs whose majority is a or b). The headline
   * figure and the alert use audited and gold pairs, an unbiased sample of what the judge labels;
   * pairs people got because the judges were unsure are reported apart (they are hard by design).
   * Without audited or gold comparisons the headline falls back to every compared pair.
   */
  async agreementUnchecked(projectId: number, hybrid: HybridSettings): Promise<AgreementReport> {
    const { index, consensus } = await this.quality.consensus(projectId);
    const judges = await this.db.selectFrom("judges").select(["id", "name", "kind", "version", "enabled"]).where("project_id", "=", projectId).orderBy("id").execute();
    const stamp = await this.db
      .selectFrom("judge_verdicts")
      .select([(eb) => eb.fn.countAll<number>().as("n"), (eb) => eb.fn.max("id").as("max"), (eb) => eb.fn.max("created_at").as("at")])
      .where("project_id", "=", projectId)
      .executeTakeFirstOrThrow();
    const key = `${index.version}:${stamp.n}:${stamp.max}:${stamp.at}:${JSON.stringify(hybrid.agreementAlert)}:${judges.map((j) => `${j.id}.${j.version}`).join(",")}`;
    const hit = this.agreementCache.get(projectId);
    if (hit && hit.key === key) return hit.value;

    const verdicts = await this.currentVerdicts(projectId);
    type Acc = { rows: Comparison[]; audit: [number, number]; gold: [number, number]; human: [number, number]; total: number; inconsistent: number };
    const acc = new Map<number, Acc>(judges.map((j) => [j.id, { rows: [], audit: [0, 0], gold: [0, 0], human: [0, 0], total: 0, inconsistent: 0 }]));
    for (const v of verdicts) {
      const a = acc.get(v.judge_id);
      if (!a) continue;
      a.total++;
      if (v.consistent === 0) a.inconsistent++;
      if (v.p_a === null || (v.choice !== "a" && v.choice !== "b")) continue;
      let truth: string | null = null;
      let cat: "gold" | "audit" | "human";
      if (v.gold === 1 && (v.reference === "a" || v.reference === "b")) {
        truth = v.reference;
        cat = "gold";
      } else {
        const d = index.pairDense.get(v.pair_id);
        const m = d === undefined ? -1 : consensus.majority[d]!;
        if (m !== 0 && m !== 1) continue;
        truth = CHOICES[m]!;
        cat = v.route === "audit" ? "audit" : "human";
      }
      const agree = v.choice === truth;
      a.rows.push({ confidence: v.confidence ?? confidenceOf(v.p_a), agree });
      a[cat][0]++;
      if (agree) a[cat][1]++;
    }
    const { threshold, minPairs } = hybrid.agreementAlert;
    const out: JudgeAgreement[] = judges.map((j) => {
      const a = acc.get(j.id)!;
      const unbiasedN = a.audit[0] + a.gold[0];
      const compared = unbiasedN || a.rows.length;
      const agreeN = unbiasedN ? a.audit[1] + a.gold[1] : a.rows.filter((r) => r.agree).length;
      const agreement = rate(agreeN, compared);
      return {
        judge_id: j.id,
        name: j.name,
        kind: j.kind,
        version: j.version,
        compared,
        agreement,
        by_category: {
          audit: { n: a.audit[0], agreement: rate(a.audit[1], a.audit[0]) },
          gold: { n: a.gold[0], agreement: rate(a.gold[1], a.gold[0]) },
          human: { n: a.human[0], agreement: rate(a.human[1], a.human[0]) },
        },
        buckets: calibrationBuckets(a.rows),
        inconsistent_rate: j.kind === "llm" ? rate(a.inconsistent, a.total) : null,
        alert: j.enabled === 1 && compared >= minPairs && agreement !== null && agreement < threshold,
        routing: judgeTrust({ n: unbiasedN, agree: a.audit[1] + a.gold[1] }, hybrid.routing.minAudits, threshold, minPairs),
        audits: unbiasedN,
      };
    });
    const value: AgreementReport = {
      threshold,
      minPairs,
      judges: out,
      alerts: out.filter((j) => j.alert).map((j) => ({ judge_id: j.judge_id, name: j.name, agreement: j.agreement!, compared: j.compared })),
    };
    this.agreementCache.set(projectId, { key, value });
    return value;
  }

  async report(user: SessionUser, projectId: number): Promise<HybridReport> {
    await this.projects.requireResearcher(user, projectId);
    const routes = { human: 0, ai: 0, audit: 0, known: 0 };
    for (const r of await this.db.selectFrom("pairs").select(["route", (eb) => eb.fn.countAll<number>().as("n")]).where("project_id", "=", projectId).groupBy("route").execute()) {
      routes[r.route] = Number(r.n);
    }
    // The AI's lean on each pair: the mean P(A) of its judges' current verdicts.
    const lean = new Map<number, { sum: number; n: number; best: { choice: string; confidence: number } | null }>();
    for (const v of await this.currentVerdicts(projectId)) {
      if (v.p_a === null) continue;
      const l = lean.get(v.pair_id) ?? { sum: 0, n: 0, best: null };
      l.sum += v.p_a;
      l.n++;
      if (v.choice && (!l.best || (v.confidence ?? 0) > l.best.confidence)) l.best = { choice: v.choice, confidence: v.confidence ?? 0 };
      lean.set(v.pair_id, l);
    }
    const leanChoice = (pairId: number) => {
      const l = lean.get(pairId);
      if (!l) return null;
      const p = l.sum / l.n;
      return p > 0.5 ? "a" : p < 0.5 ? "b" : null;
    };
    const leases = await this.db
      .selectFrom("assignments as a")
      .select(["a.strategy", (eb) => eb.fn.countAll<number>().as("n")])
      .where("a.project_id", "=", projectId)
      .where(sql<boolean>`coalesce(a.strategy, 'order') NOT IN ('ai', 'rewrite')`)
      .groupBy("a.strategy")
      .execute();
    const votes = await this.db
      .selectFrom("judgments as j")
      .innerJoin("assignments as a", "a.id", "j.assignment_id")
      .select(["j.pair_id", "j.annotator_id", "j.choice", "j.time_on_task_ms", "a.strategy", "a.assist"])
      .where("j.project_id", "=", projectId)
      .where("j.source", "=", "human")
      .where(sql<boolean>`coalesce(a.strategy, 'order') NOT IN ('ai', 'rewrite')`)
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom("judgments as j2").select(sql`1`.as("one")).whereRef("j2.supersedes_id", "=", "j.id"))))
      .execute();
    const strat = new Map<string, StrategyContribution & { compared: number; differ: number }>();
    for (const l of leases) {
      const s = l.strategy ?? "order";
      strat.set(s, { strategy: s, leases: Number(l.n), judgments: 0, ai_disagreement: null, compared: 0, differ: 0 });
    }
    const perPair = new Map<number, Map<string, number>>();
    for (const v of votes) {
      const s = strat.get(v.strategy ?? "order") ?? { strategy: v.strategy ?? "order", leases: 0, judgments: 0, ai_disagreement: null, compared: 0, differ: 0 };
      strat.set(s.strategy, s);
      s.judgments++;
      const ai = leanChoice(v.pair_id);
      if (ai && (v.choice === "a" || v.choice === "b")) {
        s.compared++;
        if (v.choice !== ai) s.differ++;
      }
      const m = perPair.get(v.pair_id) ?? new Map<string, number>();
      m.set(v.choice, (m.get(v.choice) ?? 0) + 1);
      perPair.set(v.pair_id, m);
    }
    const strategies = [...strat.values()].map(({ compared, differ, ...s }) => ({ ...s, ai_disagreement: rate(differ, compared) })).sort((a, b) => b.judgments - a.judgments);
    // Assist arms: agreement with the pick that was (or would have been) shown, and with the
    // other annotators' majority on the pair (leave-one-out), and speed.
    const arms = new Map<string, { n: number; ai: [number, number]; maj: [number, number]; ms: number[] }>();
    for (const v of votes) {
      if (!v.assist) continue;
      const arm = arms.get(v.assist) ?? { n: 0, ai: [0, 0], maj: [0, 0], ms: [] };
      arms.set(v.assist, arm);
      arm.n++;
      if (v.time_on_task_ms !== null) arm.ms.push(v.time_on_task_ms);
      const best = lean.get(v.pair_id)?.best;
      if (best) {
        arm.ai[0]++;
        if (best.choice === v.choice) arm.ai[1]++;
      }
      const counts = new Map(perPair.get(v.pair_id));
      counts.set(v.choice, (counts.get(v.choice) ?? 1) - 1);
      let top: string | null = null;
      let topN = 0;
      let tied = false;
      for (const [c, k] of counts) {
        if (k > topN) [top, topN, tied] = [c, k, false];
        else if (k === topN && k > 0) tied = true;
      }
      if (top && !tied) {
        arm.maj[0]++;
        if (top === v.choice) arm.maj[1]++;
      }
    }
    const assist: AssistArm[] = (["none", "before", "after"] as const)
      .filter((a) => arms.has(a))
      .map((a) => {
        const x = arms.get(a)!;
        return { arm: a, judgments: x.n, agree_with_ai: rate(x.ai[1], x.ai[0]), agree_with_majority: rate(x.maj[1], x.maj[0]), median_ms: median(x.ms) };
      });
    const rewrites = await this.db.selectFrom("rewrites").select((eb) => eb.fn.countAll<number>().as("n")).where("project_id", "=", projectId).executeTakeFirstOrThrow();
    return { routes, strategies, assist, rewrites: Number(rewrites.n) };
  }
}
