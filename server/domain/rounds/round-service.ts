import fs from "node:fs";
import { sql } from "kysely";
import { z } from "zod";
import { type Db } from "../../db/database.ts";
import { type Checkpoint, type Job, type Round } from "../../db/schema.ts";
import { type SessionUser } from "../auth/auth-service.ts";
import { type CheckpointService } from "../checkpoints/checkpoint-service.ts";
import { type ExportService } from "../exports/export-service.ts";
import { type ArtifactService } from "../jobs/artifact-store.ts";
import { type JobService } from "../jobs/job-service.ts";
import { type ProjectService } from "../projects/project-service.ts";
import { type Clock } from "../shared/clock.ts";
import { DomainError, notFound, validationError } from "../shared/errors.ts";
import { type DomainEvents } from "../shared/events.ts";

/** Training settings with the literature's defaults; each field says what it does (shown in the UI). */
export const roundConfigSchema = z
  .object({
    /** Train on every judgment so far (true) or only on the previous round's pairs. */
    replay_previous: z.boolean().default(true),
    /** Where prompts come from: the project's imported prompts, or the built-in verifiable task. */
    prompts_source: z.enum(["project", "task"]).default("project"),
    /** PPO's reward: the freshly trained reward model, or the task's checker (demo, tests). */
    ppo_reward: z.enum(["reward_model", "task"]).default("reward_model"),
    /** Held-out prompts for evaluation and the candidate-vs-champion A/B test. */
    eval_prompts: z.number().int().min(1).max(5000).default(64),
    ab_prompts: z.number().int().min(1).max(5000).default(50),
    /** Prompts sampled by the candidate for the next round's comparisons. */
    fresh_prompts: z.number().int().min(0).max(50_000).default(100),
    /** PPO prompts per round. */
    ppo_prompts: z.number().int().min(1).max(100_000).default(256),
    /** Promote the candidate when its A/B win rate (ties count half) reaches this. */
    win_rate_threshold: z.number().min(0).max(1).default(0.55),
    /** Promote automatically once every A/B pair is fully judged. */
    auto_promote: z.boolean().default(true),
    /** Overrides for the trainer's reward-model config (learning_rate, num_epochs, lora_r, …). */
    reward: z.record(z.union([z.number(), z.string(), z.boolean()])).default({}),
    /** Which labels the reward model trains on: people's only, or people's and accepted AI labels. */
    label_source: z.enum(["human", "all"]).default("human"),
    /** Fine-tune the champion on annotators' rewrites (SFT) before PPO, when there are any. */
    sft_on_rewrites: z.boolean().default(true),
    /** Overrides for the trainer's SFT config (learning_rate, num_epochs, lora_r, …). */
    sft: z.record(z.union([z.number(), z.string(), z.boolean()])).default({}),
    /** Overrides for the trainer's PPO config (kl_coef, target_kl, cliprange, gamma, lam, …). */
    ppo: z.record(z.union([z.number(), z.string(), z.boolean()])).default({}),
    /** Sampling for generation. */
    temperature: z.number().min(0).max(5).default(0.7),
    top_p: z.number().gt(0).max(1).default(1),
    max_new_tokens: z.number().int().min(1).max(8192).default(64),
    seed: z.number().int().min(0).default(0),
  })
  .strict();

export type RoundConfig = z.output<typeof roundConfigSchema>;

export const STEPS = ["snapshot", "reward", "sft", "ppo", "evaluate", "generate", "ab_test"] as const;
export type StepName = (typeof STEPS)[number];
export type StepState = { status: "pending" | "running" | "succeeded" | "failed" | "skipped"; job_ids: number[]; started_at: number | null; finished_at: number | null; detail: Record<string, unknown> };

export type RoundView = {
  id: number;
  project_id: number;
  number: number;
  status: Round["status"];
  config: RoundConfig;
  steps: Record<StepName, StepState>;
  champion_policy_id: number | null;
  candidate_policy_id: number | null;
  reward_checkpoint_id: number | null;
  snapshot_artifact_id: number | null;
  snapshot_export_id: number | null;
  decision: string | null;
  ab: { pairs: number; judged_pairs: number; candidate_wins: number; champion_wins: number; ties: number; win_rate: number | null } | null;
  created_at: string;
  finished_at: string | null;
};

const emptySteps = (): Record<StepName, StepState> =>
  Object.fromEntries(STEPS.map((s) => [s, { status: "pending", job_ids: [], started_at: null, finished_at: null, detail: {} }])) as unknown as Record<StepName, StepState>;

/** Stored steps, with any step added since the round was stored (rounds before the SFT step). */
function parseSteps(json: string): Record<StepName, StepState> {
  const stored = JSON.parse(json) as Partial<Record<StepName, StepState>>;
  const steps = emptySteps();
  for (const k of STEPS) {
    if (stored[k]) steps[k] = stored[k]!;
    else if (k === "sft" && stored.ppo && stored.ppo.status !== "pending") steps.sft = { ...steps.sft, status: "skipped", detail: { reason: "before SFT on rewrites existed" } };
  }
  return steps;
}

/**
 * The iterated RLHF loop as a small state machine: snapshot the judgments → train a reward model
 * → PPO from the champion policy → evaluate the candidate (reward score, KL to the champion) →
 * generate candidate-vs-champion pairs on held-out prompts (the human A/B test) and candidate
 * samples on fresh prompts → promote when the A/B win rate clears the threshold. Each step is a
 * job; the machine advances when a job finishes.
 */
export class RoundService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly projects: ProjectService,
    private readonly jobs: JobService,
    private readonly checkpoints: CheckpointService,
    private readonly exports: ExportService,
    private readonly artifacts: ArtifactService,
    private readonly events: DomainEvents,
  ) {}

  /** The training settings a new round gets when the researcher changes nothing (the UI prefills them). */
  defaultConfig(): RoundConfig {
    return roundConfigSchema.parse({});
  }

  async start(user: SessionUser, projectId: number, body: unknown): Promise<RoundView> {
    await this.projects.requireResearcher(user, projectId);
    const parsed = roundConfigSchema.safeParse(body ?? {});
    if (!parsed.success) throw validationError(parsed.error.issues);
    const config = parsed.data;
    const base = await this.checkpoints.champion(projectId, "base");
    if (!base) throw new DomainError("conflict", "Register a base model checkpoint first (the reward model and the first policy start from it)");
    const busy = await this.db.selectFrom("rounds").select("id").where("project_id", "=", projectId).where("status", "=", "running").executeTakeFirst();
    if (busy) throw new DomainError("conflict", `Round ${busy.id} is still running`);
    const champion = (await this.checkpoints.champion(projectId, "policy")) ?? base;
    const last = await this.db.selectFrom("rounds").select(["id", "number"]).where("project_id", "=", projectId).orderBy("number", "desc").executeTakeFirst();
    const now = this.clock.now();
    const steps = emptySteps();
    const round = await this.db
      .insertInto("rounds")
      .values({
        project_id: projectId,
        number: (last?.number ?? 0) + 1,
        status: "running",
        config: JSON.stringify(config),
        steps: JSON.stringify(steps),
        champion_policy_id: champion.id,
        candidate_policy_id: null,
        reward_checkpoint_id: null,
        snapshot_artifact_id: null,
        snapshot_export_id: null,
        decision: null,
        created_by: user.id,
        created_at: now,
        updated_at: now,
        finished_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();

    // Step 1, in-process: snapshot the judgments as a TRL export, kept as a dataset artifact.
    steps.snapshot = { ...steps.snapshot, status: "running", started_at: now };
    try {
      const filters: Record<string, unknown> = { format: "trl", margin: true, source: config.label_source };
      if (!config.replay_previous && last) filters.rounds = [last.id];
      const exp = await this.exports.run(user, projectId, filters);
      if ((exp.counts.rows ?? 0) === 0) throw new DomainError("conflict", "There are no decided comparisons to train on yet");
      const art = await this.artifacts.put(fs.createReadStream(exp.path), { name: `round-${round.number}-snapshot.jsonl`, kind: "dataset" });
      steps.snapshot = { ...steps.snapshot, status: "succeeded", finished_at: this.clock.now(), detail: { rows: exp.counts.rows, sha256: exp.sha256, export_id: exp.export_id } };
      // Annotators' rewrites are demonstrations: the SFT step (after the reward model) trains on them.
      if (config.sft_on_rewrites) {
        const demos = await this.exports.run(user, projectId, { format: "sft", rewrites: "only" });
        if ((demos.counts.rows ?? 0) > 0) {
          const dataset = await this.artifacts.put(fs.createReadStream(demos.path), { name: `round-${round.number}-rewrites-sft.jsonl`, kind: "dataset" });
          steps.sft = { ...steps.sft, detail: { rows: demos.counts.rows, export_id: demos.export_id, artifact_id: dataset.artifact_id } };
        } else steps.sft = { ...steps.sft, status: "skipped", detail: { reason: "no rewrites yet" } };
      } else steps.sft = { ...steps.sft, status: "skipped", detail: { reason: "turned off" } };
      await this.db.updateTable("rounds").set({ snapshot_artifact_id: art.artifact_id, snapshot_export_id: exp.export_id, steps: JSON.stringify(steps) }).where("id", "=", round.id).execute();
      // Step 2: reward model from the base.
      const jobId = await this.jobs.create(projectId, {
        kind: "train_reward",
        roundId: round.id,
        createdBy: user.id,
        inputs: { dataset: art.artifact_id, ...(base.artifact_id ? { model: base.artifact_id } : {}) },
        params: {
          name: `reward r${round.number}`,
          config: config.reward,
          dataset_export_id: exp.export_id,
          parent_checkpoint_id: base.id,
          ...(base.model_ref ? { model_ref: base.model_ref } : {}),
          model_checkpoint_id: base.id,
        },
      });
      await this.markStep(round.id, "reward", { status: "running", job_ids: [jobId], started_at: this.clock.now() });
      await this.jobs.announce(jobId);
    } catch (e) {
      steps.snapshot = { ...steps.snapshot, status: "failed", finished_at: this.clock.now(), detail: { error: (e as Error).message } };
      await this.db.updateTable("rounds").set({ status: "failed", steps: JSON.stringify(steps), finished_at: this.clock.now() }).where("id", "=", round.id).execute();
      this.events.roundUpdated(projectId, round.id);
      throw e;
    }
    this.events.roundUpdated(projectId, round.id);
    return this.viewById(round.id);
  }

  private async markStep(roundId: number, step: StepName, patch: Partial<StepState>, roundPatch: Partial<Pick<Round, "status" | "candidate_policy_id" | "reward_checkpoint_id" | "decision" | "finished_at">> = {}) {
    const r = await this.db.selectFrom("rounds").select("steps").where("id", "=", roundId).executeTakeFirstOrThrow();
    const steps = parseSteps(r.steps);
    steps[step] = { ...steps[step], ...patch, detail: { ...steps[step].detail, ...(patch.detail ?? {}) } };
    await this.db.updateTable("rounds").set({ steps: JSON.stringify(steps), updated_at: this.clock.now(), ...roundPatch }).where("id", "=", roundId).execute();
  }

  /** Prompts for a step: the project's prompts (every 5th held out) or task prompts by seed. */
  private async prompts(projectId: number, config: RoundConfig, split: "train" | "heldout", n: number, offset = 0): Promise<Record<string, unknown>> {
    if (config.prompts_source === "task") {
      // Held-out task prompts use a fixed seed across rounds so evaluations compare.
      return { num_prompts: n, seed: split === "heldout" ? 7_777 + offset : 1_000 + config.seed + offset };
    }
    const rows = await this.db
      .selectFrom("prompts")
      .select("prompt")
      .where("project_id", "=", projectId)
      .where(sql<boolean>`(id % 5 = 0) = ${split === "heldout" ? 1 : 0}`)
      .orderBy(sql`(id * 2654435761 + ${offset}) % 4294967296`)
      .limit(n)
      .execute();
    if (!rows.length) throw new DomainError("conflict", `The project has no ${split === "heldout" ? "held-out " : ""}prompts; import prompts or use the task prompts`);
    return { prompts: rows.map((r) => JSON.parse(r.prompt) as unknown) };
  }

  /** Advances the round whose job just finished. Idempotent: safe to call more than once. */
  async onJobFinished(jobId: number): Promise<void> {
    const job = await this.db.selectFrom("jobs").selectAll().where("id", "=", jobId).executeTakeFirst();
    if (!job?.round_id || job.status === "queued" || job.status === "running") return;
    const round = await this.db.selectFrom("rounds").selectAll().where("id", "=", job.round_id).executeTakeFirst();
    if (!round || round.status !== "running") return;
    const config = roundConfigSchema.parse(JSON.parse(round.config));
    const steps = parseSteps(round.steps);
    const step = (Object.keys(steps) as StepName[]).find((s) => steps[s].job_ids.includes(jobId));
    if (!step || steps[step].status !== "running") return;
    const now = this.clock.now();
    if (job.status !== "succeeded") {
      await this.markStep(round.id, step, { status: "failed", finished_at: now, detail: { error: job.error ?? job.status } }, { status: job.status === "cancelled" ? "cancelled" : "failed", finished_at: now });
      this.events.roundUpdated(round.project_id, round.id);
      return;
    }
    const result = JSON.parse(job.result ?? "{}") as Record<string, unknown>;
    const producedCheckpoint = async () => (await this.db.selectFrom("checkpoints").selectAll().where("job_id", "=", job.id).executeTakeFirst()) as Checkpoint | undefined;
    const champion = await this.db.selectFrom("checkpoints").selectAll().where("id", "=", round.champion_policy_id!).executeTakeFirstOrThrow();
    const ref = (c: Checkpoint, name: string) => ({ inputs: c.artifact_id ? { [name]: c.artifact_id } : {}, params: { [`${name}_checkpoint_id`]: c.id, ...(c.model_ref ? { [`${name}_ref`]: c.model_ref } : {}) } });

    // PPO starts from the champion, or from its fine-tune on the rewrites when the round made one.
    const startPpo = async (start: Checkpoint) => {
      const rm = round.reward_checkpoint_id
        ? ((await this.db.selectFrom("checkpoints").selectAll().where("id", "=", round.reward_checkpoint_id).executeTakeFirst()) as Checkpoint | undefined)
        : await producedCheckpoint();
      const policy = ref(start, "policy");
      const reward = config.ppo_reward === "task" || !rm ? { inputs: {}, params: { reward: "task" } } : ref(rm, "reward_model");
      const jobIdNew = await this.jobs.create(round.project_id, {
        kind: "ppo",
        roundId: round.id,
        inputs: { ...policy.inputs, ...reward.inputs },
        // The round's sampling settings apply to PPO's rollouts too; explicit PPO overrides win.
        params: { name: `policy r${round.number}`, config: { temperature: config.temperature, max_new_tokens: config.max_new_tokens, ...config.ppo }, parent_checkpoint_id: start.id, ...policy.params, ...reward.params, ...(await this.prompts(round.project_id, config, "train", config.ppo_prompts, round.number)) },
      });
      await this.markStep(round.id, "ppo", { status: "running", job_ids: [jobIdNew], started_at: now });
      await this.jobs.announce(jobIdNew);
    };

    if (step === "reward") {
      const rm = await producedCheckpoint();
      await this.markStep(round.id, "reward", { status: "succeeded", finished_at: now, detail: { checkpoint_id: rm?.id, ...result } }, { reward_checkpoint_id: rm?.id ?? null });
      const demos = steps.sft.detail.artifact_id as number | undefined;
      if (steps.sft.status === "pending" && demos) {
        const model = ref(champion, "model");
        const jobIdNew = await this.jobs.create(round.project_id, {
          kind: "sft",
          roundId: round.id,
          inputs: { dataset: demos, ...model.inputs },
          params: { name: `sft r${round.number} (rewrites)`, config: config.sft, parent_checkpoint_id: champion.id, dataset_export_id: steps.sft.detail.export_id, ...model.params },
        });
        await this.markStep(round.id, "sft", { status: "running", job_ids: [jobIdNew], started_at: now });
        await this.jobs.announce(jobIdNew);
      } else await startPpo(champion);
    } else if (step === "sft") {
      const tuned = await producedCheckpoint();
      if (!tuned) throw new Error(`sft job ${job.id} registered no checkpoint`);
      await this.markStep(round.id, "sft", { status: "succeeded", finished_at: now, detail: { checkpoint_id: tuned.id, ...result } });
      await startPpo(tuned);
    } else if (step === "ppo") {
      const candidate = await producedCheckpoint();
      if (!candidate) throw new Error(`ppo job ${job.id} registered no checkpoint`);
      await this.markStep(round.id, "ppo", { status: "succeeded", finished_at: now, detail: { checkpoint_id: candidate.id, ...result } }, { candidate_policy_id: candidate.id });
      const rm = round.reward_checkpoint_id ? await this.db.selectFrom("checkpoints").selectAll().where("id", "=", round.reward_checkpoint_id).executeTakeFirst() : undefined;
      const pol = ref(candidate, "policy");
      const refc = ref(champion, "reference");
      const rmr = rm ? ref(rm as Checkpoint, "reward_model") : { inputs: {}, params: {} };
      const jobIdNew = await this.jobs.create(round.project_id, {
        kind: "evaluate",
        roundId: round.id,
        inputs: { ...pol.inputs, ...refc.inputs, ...rmr.inputs },
        params: { ...pol.params, ...refc.params, ...rmr.params, ...(config.prompts_source === "task" ? { reward: "task" } : {}), temperature: config.temperature, max_new_tokens: config.max_new_tokens, seed: config.seed, ...(await this.prompts(round.project_id, config, "heldout", config.eval_prompts)) },
      });
      await this.markStep(round.id, "evaluate", { status: "running", job_ids: [jobIdNew], started_at: now });
      await this.jobs.announce(jobIdNew);
    } else if (step === "evaluate") {
      const candidate = await this.db.selectFrom("checkpoints").selectAll().where("id", "=", round.candidate_policy_id!).executeTakeFirstOrThrow();
      const metrics = { ...(JSON.parse(candidate.metrics) as Record<string, unknown>), ...result };
      await this.db.updateTable("checkpoints").set({ metrics: JSON.stringify(metrics) }).where("id", "=", candidate.id).execute();
      await this.markStep(round.id, "evaluate", { status: "succeeded", finished_at: now, detail: result });
      const a = ref(candidate as Checkpoint, "model_a");
      const b = ref(champion, "model_b");
      const sampling = { temperature: config.temperature, top_p: config.top_p, max_new_tokens: config.max_new_tokens, seed: config.seed + round.number };
      const ab = await this.jobs.create(round.project_id, {
        kind: "generate",
        roundId: round.id,
        inputs: { ...a.inputs, ...b.inputs },
        params: { mode: "ab", purpose: "ab_test", model_a_name: candidate.name, model_b_name: champion.name, ...a.params, ...b.params, ...sampling, ...(await this.prompts(round.project_id, config, "heldout", config.ab_prompts, 1)) },
      });
      const ids = [ab];
      if (config.fresh_prompts > 0) {
        ids.push(
          await this.jobs.create(round.project_id, {
            kind: "generate",
            roundId: round.id,
            inputs: a.inputs,
            params: { mode: "self", purpose: "fresh", model_a_name: candidate.name, model_b_name: candidate.name, ...a.params, ...sampling, ...(await this.prompts(round.project_id, config, "train", config.fresh_prompts, 100 + round.number)) },
          }),
        );
      }
      await this.markStep(round.id, "generate", { status: "running", job_ids: ids, started_at: now });
      for (const id of ids) await this.jobs.announce(id);
    } else if (step === "generate") {
      const all = await this.db.selectFrom("jobs").select(["id", "status"]).where("id", "in", steps.generate.job_ids).execute();
      if (all.some((j) => j.status !== "succeeded")) return; // wait for the other generate job
      await this.markStep(round.id, "generate", { status: "succeeded", finished_at: now });
      await this.markStep(round.id, "ab_test", { status: "running", started_at: now }, { status: "waiting_ab" });
    }
    this.events.roundUpdated(round.project_id, round.id);
  }

  /** Candidate vs champion on this round's A/B pairs (current human judgments; ties count half). */
  async abResult(round: Pick<Round, "id" | "candidate_policy_id" | "champion_policy_id">): Promise<RoundView["ab"]> {
    if (!round.candidate_policy_id) return null;
    const pairs = await this.db
      .selectFrom("pairs")
      .select([(eb) => eb.fn.countAll<number>().as("n"), sql<number>`coalesce(sum(judged >= 1), 0)`.as("judged")])
      .where("round_id", "=", round.id)
      .where("checkpoint_a", "=", round.candidate_policy_id)
      .where("checkpoint_b", "=", round.champion_policy_id)
      .executeTakeFirstOrThrow();
    const votes = await this.db
      .selectFrom("judgments as j")
      .innerJoin("pairs as p", "p.id", "j.pair_id")
      .select(["j.choice", (eb) => eb.fn.countAll<number>().as("n")])
      .where("p.round_id", "=", round.id)
      .where("p.checkpoint_a", "=", round.candidate_policy_id)
      .where("p.checkpoint_b", "=", round.champion_policy_id)
      .where("j.source", "=", "human")
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom("judgments as s").select("s.id").whereRef("s.supersedes_id", "=", "j.id"))))
      .groupBy("j.choice")
      .execute();
    const by = Object.fromEntries(votes.map((v) => [v.choice, Number(v.n)]));
    const wins = by.a ?? 0;
    const losses = by.b ?? 0;
    const ties = (by.tie ?? 0) + (by.both_bad ?? 0);
    const total = wins + losses + ties;
    return { pairs: Number(pairs.n), judged_pairs: Number(pairs.judged), candidate_wins: wins, champion_wins: losses, ties, win_rate: total ? (wins + ties / 2) / total : null };
  }

  /** Decide the A/B test: promote the candidate when it clears the threshold. */
  async decide(user: SessionUser | null, roundId: number, opts: { force?: "promote" | "keep" } = {}): Promise<RoundView> {
    const round = await this.db.selectFrom("rounds").selectAll().where("id", "=", roundId).executeTakeFirst();
    if (!round) throw notFound("Round");
    if (user) await this.projects.requireResearcher(user, round.project_id);
    if (round.status !== "waiting_ab") throw new DomainError("conflict", `The round is ${round.status}, not waiting for its A/B test`);
    const config = roundConfigSchema.parse(JSON.parse(round.config));
    const ab = await this.abResult(round);
    const promote = opts.force ? opts.force === "promote" : (ab?.win_rate ?? 0) >= config.win_rate_threshold;
    const now = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      if (promote) {
        await trx.updateTable("checkpoints").set({ state: "retired", state_changed_at: now }).where("project_id", "=", round.project_id).where("kind", "=", "policy").where("state", "=", "champion").execute();
        await trx.updateTable("checkpoints").set({ state: "champion", state_changed_at: now }).where("id", "=", round.candidate_policy_id!).execute();
        if (round.reward_checkpoint_id) {
          await trx.updateTable("checkpoints").set({ state: "retired", state_changed_at: now }).where("project_id", "=", round.project_id).where("kind", "=", "reward").where("state", "=", "champion").execute();
          await trx.updateTable("checkpoints").set({ state: "champion", state_changed_at: now }).where("id", "=", round.reward_checkpoint_id).execute();
        }
      }
      const steps = parseSteps(round.steps);
      steps.ab_test = { ...steps.ab_test, status: "succeeded", finished_at: now, detail: { ...ab, threshold: config.win_rate_threshold, promoted: promote, forced: opts.force ?? null } };
      await trx.updateTable("rounds").set({ status: "succeeded", steps: JSON.stringify(steps), decision: promote ? "promoted" : "kept_champion", finished_at: now, updated_at: now }).where("id", "=", round.id).execute();
    });
    this.events.roundUpdated(round.project_id, round.id);
    return this.viewById(round.id);
  }

  /** After judgments: a round waiting on its A/B test decides itself once every A/B pair is fully judged. */
  async maybeAutoDecide(projectId: number): Promise<void> {
    const waiting = await this.db.selectFrom("rounds").selectAll().where("project_id", "=", projectId).where("status", "=", "waiting_ab").execute();
    for (const r of waiting) {
      const config = roundConfigSchema.parse(JSON.parse(r.config));
      if (!config.auto_promote) continue;
      const project = await this.projects.get(projectId);
      const open = await this.db
        .selectFrom("pairs")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .where("round_id", "=", r.id)
        .where("checkpoint_a", "=", r.candidate_policy_id)
        .where("checkpoint_b", "=", r.champion_policy_id)
        .where("judged", "<", project?.judgmentsPerPair ?? 1)
        .executeTakeFirstOrThrow();
      if (Number(open.n) === 0) await this.decide(null, r.id);
    }
  }

  async viewById(roundId: number): Promise<RoundView> {
    const r = await this.db.selectFrom("rounds").selectAll().where("id", "=", roundId).executeTakeFirst();
    if (!r) throw notFound("Round");
    return {
      id: r.id,
      project_id: r.project_id,
      number: r.number,
      status: r.status,
      config: roundConfigSchema.parse(JSON.parse(r.config)),
      steps: parseSteps(r.steps),
      champion_policy_id: r.champion_policy_id,
      candidate_policy_id: r.candidate_policy_id,
      reward_checkpoint_id: r.reward_checkpoint_id,
      snapshot_artifact_id: r.snapshot_artifact_id,
      snapshot_export_id: r.snapshot_export_id,
      decision: r.decision,
      ab: await this.abResult(r),
      created_at: new Date(r.created_at).toISOString(),
      finished_at: r.finished_at ? new Date(r.finished_at).toISOString() : null,
    };
  }

  async get(user: SessionUser, roundId: number): Promise<RoundView> {
    const view = await this.viewById(roundId);
    await this.projects.requireResearcher(user, view.project_id);
    return view;
  }

  async list(user: SessionUser, projectId: number): Promise<RoundView[]> {
    await this.projects.requireResearcher(user, projectId);
    const ids = await this.db.selectFrom("rounds").select("id").where("project_id", "=", projectId).orderBy("number", "desc").execute();
    return Promise.all(ids.map((r) => this.viewById(r.id)));
  }

  /** Re-runs a failed step's job(s) and resumes the round. */
  async retry(user: SessionUser, roundId: number): Promise<RoundView> {
    const round = await this.get(user, roundId);
    if (round.status !== "failed" && round.status !== "cancelled") throw new DomainError("conflict", "Only a failed or cancelled round can be retried");
    const failed = STEPS.find((s) => round.steps[s].status === "failed");
    if (!failed || failed === "snapshot") throw new DomainError("conflict", "Start a new round instead: the snapshot step failed");
    const newIds: number[] = [];
    const keep: number[] = [];
    for (const id of round.steps[failed].job_ids) {
      const j = (await this.db.selectFrom("jobs").selectAll().where("id", "=", id).executeTakeFirstOrThrow()) as Job;
      if (j.status === "succeeded") {
        keep.push(id);
        continue;
      }
      newIds.push(await this.jobs.create(j.project_id, { kind: j.kind, roundId: j.round_id, params: JSON.parse(j.params), inputs: JSON.parse(j.inputs), createdBy: user.id }));
    }
    await this.markStep(roundId, failed, { status: "running", job_ids: [...keep, ...newIds], finished_at: null }, { status: "running", finished_at: null });
    for (const id of newIds) await this.jobs.announce(id);
    this.events.roundUpdated(round.project_id, roundId);
    return this.viewById(roundId);
  }
}
