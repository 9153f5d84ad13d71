import { z } from "zod";
import { type Db } from "../../db/database.ts";
import { type SessionUser } from "../auth/auth-service.ts";
import { type Content } from "../imports/records.ts";
import { type ProjectService } from "../projects/project-service.ts";
import { validationError } from "../shared/errors.ts";
import { type DomainEvents } from "../shared/events.ts";
import { computeConsensus, type Consensus } from "./consensus.ts";
import { CHOICES, type JudgmentIndexRegistry, type ProjectJudgmentIndex } from "./judgment-index.ts";
import { computeQuality, type QualityReport } from "./metrics.ts";

export const goldInputSchema = z
  .object({
    pairs: z
      .array(
        z.object({
          pair_id: z.number().int().positive(),
          answer: z.enum(["a", "b", "tie", "both_bad"]).nullable(),
        }),
      )
      .min(1)
      .max(10_000),
  })
  .strict();

type Cached<T> = { version: number; key: string; at: number; value: T };

/** How stale a cached report may be while newer judgments arrive (recomputed at most this often). */
const REPORT_MAX_AGE_MS = 2000;

/**
 * Research-data quality: agreement, annotator quality, gold, leaderboard, consensus. Reads the
 * in-memory judgment index; writes only gold marks.
 */
export class QualityService {
  private reports = new Map<number, Cached<QualityReport>>();
  private consensusCache = new Map<number, Cached<Consensus>>();

  constructor(
    private readonly db: Db,
    private readonly projects: ProjectService,
    private readonly registry: JudgmentIndexRegistry,
    private readonly events: DomainEvents,
  ) {}

  index(projectId: number): Promise<ProjectJudgmentIndex> {
    return this.registry.get(projectId);
  }

  async report(user: SessionUser, projectId: number) {
    const { project } = await this.projects.requireResearcher(user, projectId);
    const report = await this.reportUnchecked(projectId, project.quality);
    return this.withNames(projectId, report);
  }

  async reportUnchecked(projectId: number, settings?: Parameters<typeof computeQuality>[1]): Promise<QualityReport> {
    const quality = settings ?? (await this.projects.get(projectId))!.quality;
    const index = await this.registry.get(projectId);
    const key = JSON.stringify(quality);
    const hit = this.reports.get(projectId);
    const now = Date.now();
    if (hit && hit.key === key && (hit.version === index.version || now - hit.at < REPORT_MAX_AGE_MS)) return hit.value;
    const value = computeQuality(index, quality);
    this.reports.set(projectId, { version: index.version, key, at: now, value });
    return value;
  }

  async consensus(projectId: number): Promise<{ index: ProjectJudgmentIndex; consensus: Consensus }> {
    const index = await this.registry.get(projectId);
    const hit = this.consensusCache.get(projectId);
    if (hit && hit.version === index.version) return { index, consensus: hit.value };
    const value = computeConsensus(index);
    this.consensusCache.set(projectId, { version: index.version, key: "", at: Date.now(), value });
    return { index, consensus: value };
  }

  private async withNames(projectId: number, report: QualityReport) {
    const users = await this.db
      .selectFrom("users")
      .leftJoin("project_members", (j) => j.onRef("project_members.user_id", "=", "users.id").on("project_members.project_id", "=", projectId))
      .select(["users.id", "users.name", "users.email", "project_members.paused_at"])
      .where("users.id", "in", report.annotators.length ? report.annotators.map((a) => a.annotatorId) : [-1])
      .execute();
    const byId = new Map(users.map((u) => [u.id, u]));
    return {
      ...report,
      annotators: report.annotators.map((a) => ({ ...a, name: byId.get(a.annotatorId)?.name ?? "?", email: byId.get(a.annotatorId)?.email ?? "?", paused: byId.get(a.annotatorId)?.paused_at != null })),
    };
  }

  /** Marks pairs as gold with their known answer (null clears the mark). */
  async setGold(user: SessionUser, projectId: number, body: unknown): Promise<{ updated: number }> {
    await this.projects.requireResearcher(user, projectId);
    const parsed = goldInputSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error.issues);
    const updated = await this.db.transaction().execute(async (trx) => {
      let n = 0;
      for (const item of parsed.data.pairs) {
        const r = await trx
          .updateTable("pairs")
          .set(item.answer ? { gold: 1, reference: item.answer } : { gold: 0 })
          .where("id", "=", item.pair_id)
          .where("project_id", "=", projectId)
          .executeTakeFirst();
        n += Number(r.numUpdatedRows);
      }
      if (n !== parsed.data.pairs.length) {
        throw validationError([{ path: ["pairs"], message: "some pair ids are not in this project; nothing was changed" }]);
      }
      return n;
    });
    this.registry.invalidate(projectId);
    this.events.progressChanged(projectId);
    return { updated };
  }

  /** Pairs whose current human votes are split, most-voted first, with each vote's rationale. */
  async disagreements(user: SessionUser, projectId: number, opts: { limit: number; offset: number }) {
    await this.projects.requireResearcher(user, projectId);
    const { index, consensus } = await this.consensus(projectId);
    const split: number[] = [];
    for (let p = 0; p < index.pairIds.length; p++) if (consensus.votes[p]! >= 2 && consensus.majorityShare[p]! < 1) split.push(p);
    split.sort((x, y) => consensus.majorityShare[x]! - consensus.majorityShare[y]! || consensus.votes[y]! - consensus.votes[x]! || index.pairIds[x]! - index.pairIds[y]!);
    const page = split.slice(opts.offset, opts.offset + opts.limit);
    const pairIds = page.map((p) => index.pairIds[p]!);
    if (pairIds.length === 0) return { total: split.length, pairs: [] };
    const pairs = await this.db.selectFrom("pairs").select(["id", "prompt", "response_a", "response_b", "model_a", "model_b", "gold", "reference"]).where("id", "in", pairIds).execute();
    const votes = await this.db
      .selectFrom("judgments as j")
      .innerJoin("users as u", "u.id", "j.annotator_id")
      .select(["j.id", "j.pair_id", "j.choice", "j.strength", "j.rationale", "j.flags", "j.time_on_task_ms", "u.name", "u.id as annotator_id"])
      .where("j.pair_id", "in", pairIds)
      .where("j.source", "=", "human")
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom("judgments as j2").select("j2.id").whereRef("j2.supersedes_id", "=", "j.id"))))
      .orderBy("j.id")
      .execute();
    const byPair = new Map<number, typeof votes>();
    for (const v of votes) {
      if (!byPair.has(v.pair_id)) byPair.set(v.pair_id, []);
      byPair.get(v.pair_id)!.push(v);
    }
    const pairById = new Map(pairs.map((p) => [p.id, p]));
    return {
      total: split.length,
      pairs: page.map((dense) => {
        const id = index.pairIds[dense]!;
        const p = pairById.get(id)!;
        return {
          pair_id: id,
          prompt: JSON.parse(p.prompt) as Content,
          response_a: JSON.parse(p.response_a) as Content,
          response_b: JSON.parse(p.response_b) as Content,
          model_a: p.model_a,
          model_b: p.model_b,
          gold_answer: p.gold ? p.reference : null,
          agreement: consensus.majorityShare[dense]!,
          consensus: consensus.dsLabel[dense]! >= 0 ? CHOICES[consensus.dsLabel[dense]!] : null,
          confidence: consensus.dsConfidence[dense]!,
          votes: (byPair.get(id) ?? []).map((v) => ({
            judgment_id: v.id,
            annotator_id: v.annotator_id,
            annotator: v.name,
            choice: v.choice,
            strength: v.strength,
            rationale: v.rationale,
            flags: v.flags ? (JSON.parse(v.flags) as string[]) : [],
            time_on_task_ms: v.time_on_task_ms,
          })),
        };
      }),
    };
  }
}
