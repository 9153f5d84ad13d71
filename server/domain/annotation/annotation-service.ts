import crypto from "node:crypto";
import { type ExpressionBuilder, sql } from "kysely";
import { type Db, type Executor } from "../../db/database.ts";
import { param, prepareSync } from "../../db/prepared.ts";
import type SQLite from "better-sqlite3";
import { type Assignment, type Database, type Pair } from "../../db/schema.ts";
import { type SessionUser } from "../auth/auth-service.ts";
import { type Content } from "../imports/records.ts";
import { type ProjectService, type ProjectView } from "../projects/project-service.ts";
import { type Clock } from "../shared/clock.ts";
import { DomainError, notFound, validationError } from "../shared/errors.ts";
import { type DomainEvents } from "../shared/events.ts";
import { sha256 } from "../shared/hash.ts";
import { pairContentHash } from "../imports/import-service.ts";
import { recordedJudgment } from "./recorded-judgment.ts";
import { type AssistHint } from "../judges/types.ts";
import { checkAgainstScheme, checkRewrites, judgmentInputSchema, shownToCanonical, skipInputSchema } from "./judgment-input.ts";
import { type ProgressCounts } from "./progress.ts";

export type AssignmentView = {
  /** Rewrites the annotator may send with the judgment (project setting). */
  rewrites?: "off" | "worse" | "both";
  /** The AI's pick, shown before choosing (assist "before" arm only). */
  assist?: AssistHint;
  assignment_id: number;
  pair_id: number;
  project_id: number;
  prompt: Content;
  left: Content;
  right: Content;
  expires_at: string;
  lease_seconds: number;
  scheme_version: number;
};

export type JudgmentReceipt = {
  judgment_id: number;
  duplicate: boolean;
  supersedes_id: number | null;
  paused?: boolean;
  /** Rewrites stored with this judgment. */
  rewrites?: number;
  /** The AI's pick, revealed after submitting (assist "after" arm only). */
  assist?: AssistHint;
};

const RECLAIM_BATCH = 500;

function pairToView(a: Assignment, p: Pick<Pair, "prompt" | "response_a" | "response_b">, leaseSeconds: number, schemeVersion: number): AssignmentView {
  const a_ = JSON.parse(p.response_a) as Content;
  const b_ = JSON.parse(p.response_b) as Content;
  return {
    assignment_id: a.id,
    pair_id: a.pair_id,
    project_id: a.project_id,
    prompt: JSON.parse(p.prompt) as Content,
    left: a.left_is_a ? a_ : b_,
    right: a.left_is_a ? b_ : a_,
    expires_at: new Date(a.expires_at).toISOString(),
    lease_seconds: leaseSeconds,
    scheme_version: schemeVersion,
  };
}

type Candidate = Pick<Pair, "id" | "prompt" | "response_a" | "response_b" | "route" | "priority_strategy">;

/** A rewrite keeps the shape of what it replaces: text for text, an assistant turn for a transcript. */
function rewriteContent(original: Content, text: string): Content {
  return typeof original === "string" ? text : [{ role: "assistant", content: text }];
}

function startOfUtcDay(ms: number): number {
  return ms - (ms % 86_400_000);
}

type Choice = "a" | "b" | "tie" | "both_bad";
type Shown = "left" | "right" | "tie" | "both_bad";

/** The pair `p` has not been leased to, judged or skipped by the annotator (`userId`). */
const notTouchedByAnnotator = ({ not, exists, selectFrom }: ExpressionBuilder<Database & { p: Database["pairs"] }, "p">) =>
  not(
    exists(
      selectFrom("assignments as a")
        .select(sql`1`.as("one"))
        .whereRef("a.pair_id", "=", "p.id")
        .where("a.annotator_id", "=", param<number>("userId"))
        .where("a.status", "in", ["active", "judged", "skipped"]),
    ),
  );

/**
 * Pairs people may be served, in the queue's first order: closest to completion first (most
 * claimed), which finishes pairs instead of spreading a few judgments over many. AI-labeled and
 * rewrite pairs are not for people; gold pairs are served by their own draw.
 */
const openPairs = (db: Db) =>
  db
    .selectFrom("pairs as p")
    .select(["p.id", "p.prompt", "p.response_a", "p.response_b", "p.route", "p.priority_strategy"])
    .where("p.project_id", "=", param<number>("projectId"))
    .where("p.claimed", "<", param<number>("target"))
    .where("p.gold", "=", 0)
    .where("p.route", "in", ["human", "audit"])
    .where(notTouchedByAnnotator)
    .orderBy("p.claimed", "desc");

/** The hot path's statements, built and compiled once (see server/db/prepared.ts). */
function hotQueries(db: Db, sqlite: SQLite.Database) {
  const prepare = <Args extends Record<string, unknown>, Row>(q: Parameters<typeof prepareSync<Args, Row>>[1]) => prepareSync<Args, Row>(sqlite, q);
  return {
    expired: prepare<{ now: number }, { id: number; pair_id: number }>(
      db.selectFrom("assignments").select(["id", "pair_id"]).where("status", "=", "active").where("expires_at", "<=", param<number>("now")).limit(RECLAIM_BATCH),
    ),
    expire: prepare<{ id: number; now: number }, never>(
      db.updateTable("assignments").set({ status: "expired", finished_at: param<number>("now") }).where("id", "=", param<number>("id")).where("status", "=", "active"),
    ),
    unclaim: prepare<{ id: number }, never>(db.updateTable("pairs").set({ claimed: sql`claimed - 1` }).where("id", "=", param<number>("id"))),
    held: prepare<{ userId: number; projectId: number; now: number; after: number }, Assignment & Pick<Pair, "prompt" | "response_a" | "response_b">>(
      db
        .selectFrom("assignments")
        .innerJoin("pairs", "pairs.id", "assignments.pair_id")
        .selectAll("assignments")
        .select(["pairs.prompt", "pairs.response_a", "pairs.response_b"])
        .where("assignments.annotator_id", "=", param<number>("userId"))
        .where("assignments.project_id", "=", param<number>("projectId"))
        .where("assignments.status", "=", "active")
        // Unary + keeps SQLite on the (annotator, project, status, id) index instead of the expiry one.
        .where(sql`+assignments.expires_at`, ">", param<number>("now"))
        .where("assignments.id", "!=", param<number>("after"))
        .orderBy("assignments.id")
        .limit(1),
    ),
    // Within the same fill level, higher expected information first (active learning; priority
    // is 0 everywhere when it is off, so this is plain oldest-first then).
    candidate: prepare<{ projectId: number; target: number; userId: number }, Candidate>(openPairs(db).orderBy("p.priority", "desc").orderBy("p.id", "asc").limit(1)),
    // The unbiased share of the queue: a fixed random order over the same pairs.
    randomCandidate: prepare<{ projectId: number; target: number; userId: number }, Candidate>(openPairs(db).orderBy("p.rand_key", "asc").limit(1)),
    // The pick assist shows: the most confident current verdict of an enabled judge (or of the chosen one).
    bestVerdict: prepare<{ pairId: number }, { choice: "a" | "b" | "tie"; confidence: number }>(
      db
        .selectFrom("judge_verdicts as v")
        .innerJoin("judges as j", (jn) => jn.onRef("j.id", "=", "v.judge_id").onRef("j.version", "=", "v.judge_version"))
        .select(["v.choice", "v.confidence"])
        .where("v.pair_id", "=", param<number>("pairId"))
        .where("j.enabled", "=", 1)
        .where("v.choice", "is not", null)
        .orderBy("v.confidence", "desc")
        .limit(1) as never,
    ),
    verdictOf: prepare<{ pairId: number; judgeId: number }, { choice: "a" | "b" | "tie"; confidence: number }>(
      db
        .selectFrom("judge_verdicts as v")
        .innerJoin("judges as j", (jn) => jn.onRef("j.id", "=", "v.judge_id").onRef("j.version", "=", "v.judge_version"))
        .select(["v.choice", "v.confidence"])
        .where("v.pair_id", "=", param<number>("pairId"))
        .where("v.judge_id", "=", param<number>("judgeId"))
        .where("v.choice", "is not", null)
        .limit(1) as never,
    ),
    goldCandidate: prepare<{ projectId: number; userId: number }, Candidate>(
      db
        .selectFrom("pairs as p")
        .select(["p.id", "p.prompt", "p.response_a", "p.response_b", "p.route", "p.priority_strategy"])
        .where("p.project_id", "=", param<number>("projectId"))
        .where("p.gold", "=", 1)
        .where(notTouchedByAnnotator)
        .orderBy("p.judged", "asc")
        .orderBy("p.id", "asc")
        .limit(1),
    ),
    goldAccuracy: prepare<{ projectId: number; userId: number }, { n: number; correct: number }>(
      db
        .selectFrom("judgments as j")
        .innerJoin("pairs as p", "p.id", "j.pair_id")
        .select([sql<number>`count(*)`.as("n"), sql<number>`coalesce(sum(j.choice = p.reference), 0)`.as("correct")])
        .where("j.project_id", "=", param<number>("projectId"))
        .where("j.annotator_id", "=", param<number>("userId"))
        .where("p.gold", "=", 1)
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom("judgments as j2").select(sql`1`.as("one")).whereRef("j2.supersedes_id", "=", "j.id")))),
    ),
    insertAssignment: prepare<
      { projectId: number; pairId: number; userId: number; leftIsA: number; now: number; expiresAt: number; gold: number; strategy: string | null; assist: string | null },
      Assignment
    >(
      db
        .insertInto("assignments")
        .values({
          project_id: param<number>("projectId"),
          pair_id: param<number>("pairId"),
          annotator_id: param<number>("userId"),
          left_is_a: param<number>("leftIsA"),
          status: "active",
          created_at: param<number>("now"),
          expires_at: param<number>("expiresAt"),
          finished_at: null,
          skip_reason: null,
          gold: param<number>("gold"),
          strategy: param<string | null>("strategy"),
          assist: param<"none" | "before" | "after" | null>("assist"),
        })
        .returningAll(),
    ),
    claim: prepare<{ id: number; target: number }, never>(
      db.updateTable("pairs").set({ claimed: sql`claimed + 1` }).where("id", "=", param<number>("id")).where("claimed", "<", param<number>("target")),
    ),
    head: prepare<{ id: number }, Pick<Assignment, "project_id" | "annotator_id">>(
      db.selectFrom("assignments").select(["project_id", "annotator_id"]).where("id", "=", param<number>("id")),
    ),
    prior: prepare<{ userId: number; key: string }, { id: number; assignment_id: number; supersedes_id: number | null }>(
      db
        .selectFrom("judgments")
        .select(["id", "assignment_id", "supersedes_id"])
        .where("annotator_id", "=", param<number>("userId"))
        .where("idempotency_key", "=", param<string>("key")),
    ),
    assignment: prepare<{ id: number }, Assignment>(db.selectFrom("assignments").selectAll().where("id", "=", param<number>("id"))),
    latestJudgment: prepare<{ assignmentId: number }, { id: number }>(
      db.selectFrom("judgments").select("id").where("assignment_id", "=", param<number>("assignmentId")).orderBy("id", "desc").limit(1),
    ),
    pairProvenance: prepare<{ id: number }, Pick<Pair, "response_a" | "response_b" | "model_a" | "model_b" | "checkpoint_a" | "checkpoint_b">>(
      db.selectFrom("pairs").select(["response_a", "response_b", "model_a", "model_b", "checkpoint_a", "checkpoint_b"]).where("id", "=", param<number>("id")),
    ),
    insertJudgment: prepare<
      {
        project_id: number; pair_id: number; assignment_id: number; annotator_id: number; choice: Choice; choice_shown: Shown; left_is_a: number;
        strength: number | null; criteria: string | null; rationale: string | null; flags: string | null; time_on_task_ms: number | null;
        idempotency_key: string; supersedes_id: number | null; scheme_version: number; model_a: string | null; model_b: string | null;
        checkpoint_a: number | null; checkpoint_b: number | null; response_a_sha256: string; response_b_sha256: string; created_at: number;
      },
      { id: number }
    >(
      db
        .insertInto("judgments")
        .values({
          project_id: param<number>("project_id"),
          pair_id: param<number>("pair_id"),
          assignment_id: param<number>("assignment_id"),
          annotator_id: param<number>("annotator_id"),
          choice: param<Choice>("choice"),
          choice_shown: param<Shown>("choice_shown"),
          left_is_a: param<number>("left_is_a"),
          strength: param<number | null>("strength"),
          criteria: param<string | null>("criteria"),
          rationale: param<string | null>("rationale"),
          flags: param<string | null>("flags"),
          time_on_task_ms: param<number | null>("time_on_task_ms"),
          idempotency_key: param<string>("idempotency_key"),
          supersedes_id: param<number | null>("supersedes_id"),
          scheme_version: param<number>("scheme_version"),
          model_a: param<string | null>("model_a"),
          model_b: param<string | null>("model_b"),
          checkpoint_a: param<number | null>("checkpoint_a"),
          checkpoint_b: param<number | null>("checkpoint_b"),
          response_a_sha256: param<string>("response_a_sha256"),
          response_b_sha256: param<string>("response_b_sha256"),
          created_at: param<number>("created_at"),
        })
        .returning("id"),
    ),
    pairForRewrite: prepare<{ id: number }, Pick<Pair, "prompt" | "response_a" | "response_b" | "model_a" | "model_b">>(
      db.selectFrom("pairs").select(["prompt", "response_a", "response_b", "model_a", "model_b"]).where("id", "=", param<number>("id")),
    ),
    insertDerivedPair: prepare<
      { projectId: number; prompt: string; responseA: string; responseB: string; modelB: string | null; metadata: string; hash: string; derivedFrom: number; now: number; randKey: number },
      { id: number }
    >(
      db
        .insertInto("pairs")
        .values({
          project_id: param<number>("projectId"),
          prompt: param<string>("prompt"),
          response_a: param<string>("responseA"),
          response_b: param<string>("responseB"),
          model_a: "rewrite",
          model_b: param<string | null>("modelB"),
          checkpoint_a: null,
          checkpoint_b: null,
          metadata: param<string>("metadata"),
          reference: "a",
          content_hash: param<string>("hash"),
          import_id: null,
          created_at: param<number>("now"),
          claimed: 1,
          judged: 1,
          route: "known",
          rand_key: param<number>("randKey"),
          derived_from: param<number>("derivedFrom"),
        })
        .onConflict((oc) => oc.columns(["project_id", "content_hash"]).doNothing())
        .returning("id"),
    ),
    insertRewrite: prepare<
      { projectId: number; pairId: number; judgmentId: number; userId: number; side: "a" | "b"; original: string; rewrite: string; now: number },
      { id: number }
    >(
      db
        .insertInto("rewrites")
        .values({
          project_id: param<number>("projectId"),
          pair_id: param<number>("pairId"),
          judgment_id: param<number>("judgmentId"),
          annotator_id: param<number>("userId"),
          side: param<"a" | "b">("side"),
          original: param<string>("original"),
          rewrite: param<string>("rewrite"),
          derived_pair_id: null,
          created_at: param<number>("now"),
        })
        .returning("id"),
    ),
    sameRewrite: prepare<{ pairId: number; userId: number; side: "a" | "b"; rewrite: string }, { id: number }>(
      db
        .selectFrom("rewrites")
        .select("id")
        .where("pair_id", "=", param<number>("pairId"))
        .where("annotator_id", "=", param<number>("userId"))
        .where("side", "=", param<"a" | "b">("side"))
        .where("rewrite", "=", param<string>("rewrite"))
        .limit(1),
    ),
    linkRewrite: prepare<{ id: number; pairId: number }, never>(
      db.updateTable("rewrites").set({ derived_pair_id: param<number>("pairId") }).where("id", "=", param<number>("id")),
    ),
    markJudged: prepare<{ id: number; now: number }, never>(
      db.updateTable("assignments").set({ status: "judged", finished_at: param<number>("now") }).where("id", "=", param<number>("id")),
    ),
    countJudged: prepare<{ id: number }, never>(db.updateTable("pairs").set({ judged: sql`judged + 1` }).where("id", "=", param<number>("id"))),
    skip: prepare<{ id: number; reason: string; now: number }, never>(
      db.updateTable("assignments").set({ status: "skipped", skip_reason: param<string>("reason"), finished_at: param<number>("now") }).where("id", "=", param<number>("id")),
    ),
    pauseMember: prepare<{ projectId: number; userId: number; now: number; reason: string }, never>(
      db
        .updateTable("project_members")
        .set({ paused_at: param<number>("now"), pause_reason: param<string>("reason") })
        .where("project_id", "=", param<number>("projectId"))
        .where("user_id", "=", param<number>("userId")),
    ),
  };
}

/**
 * The comparison workflow: leases on pairs (assignment), judgments and skips.
 *
 * Invariant: pairs.claimed = judged assignments + active leases on the pair, and the assignment
 * rule never lets claimed exceed the project's target. Every change to it happens inside the
 * same transaction as the assignment change that causes it.
 */
export class AnnotationService {
  private readonly q: ReturnType<typeof hotQueries>;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly projects: ProjectService,
    private readonly events: DomainEvents,
    private readonly random: () => number = () => crypto.randomInt(2),
    private readonly goldDraw: () => number = Math.random,
    sqlite?: SQLite.Database,
  ) {
    if (!sqlite) throw new Error("AnnotationService needs the SQLite connection for its hot path");
    this.sqlite = sqlite;
    this.q = hotQueries(db, sqlite);
  }

  private readonly sqlite: SQLite.Database;

  private pending: { fn: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  private flushScheduled = false;

  /**
   * Runs `fn` synchronously inside SQLite while holding Kysely's connection, so no Kysely
   * transaction can be open at the same time (decision 006). Calls arriving in the same event-loop
   * turn share one transaction (group commit): each runs in its own SAVEPOINT, so a failing call
   * rolls back only its own writes, and every caller hears back only after the COMMIT, so nothing
   * is acknowledged before it is durable. One commit then pays for many requests.
   */
  private inTransaction<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (!batch.length) return;
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      await this.db.connection().execute(async () =>
        this.sqlite.transaction(() => {
          for (const op of batch) {
            this.sqlite.exec("SAVEPOINT op");
            try {
              outcomes.push({ ok: true, value: op.fn() });
              this.sqlite.exec("RELEASE op");
            } catch (error) {
              this.sqlite.exec("ROLLBACK TO op");
              this.sqlite.exec("RELEASE op");
              outcomes.push({ ok: false, error });
            }
          }
        })(),
      );
    } catch (error) {
      for (const op of batch) op.reject(error);
      return;
    }
    batch.forEach((op, i) => {
      const o = outcomes[i]!;
      if (o.ok) op.resolve(o.value);
      else op.reject(o.error);
    });
  }

  /**
   * Returns expired leases' slots to the pool. Runs on a timer (every second, server/app.ts), not
   * on every `next`: until it runs, an expired lease still counts toward its pair's target, which
   * can only under-fill a pair for a moment, never over-fill it; judgments check expiry themselves.
   */
  async reclaimExpiredNow(): Promise<number> {
    const now = this.clock.now();
    return this.inTransaction(() => this.reclaimExpired(now));
  }

  /** Call only inside `inTransaction`. */
  private reclaimExpired(now: number): number {
    const expired = this.q.expired.all({ now });
    for (const e of expired) {
      if (this.q.expire.run({ id: e.id, now })) this.q.unclaim.run({ id: e.pair_id });
    }
    return expired.length;
  }

  /**
   * The annotator's current lease in this project, or a new one. With `after` (the lease on
   * screen) it returns a second lease for prefetching; an annotator holds at most two.
   */
  async next(user: SessionUser, projectId: number, opts: { after?: number } = {}): Promise<AssignmentView | null> {
    const { project, paused } = await this.projects.requireMember(user, projectId);
    if (paused) throw new DomainError("forbidden", "Your work on this project is paused by quality control; the project's researchers can resume it");
    const now = this.clock.now();
    const target = project.judgmentsPerPair;
    const wantGold = project.quality.goldShare > 0 && this.goldDraw() < project.quality.goldShare;
    const { activeLearning, assist } = project.hybrid;
    // The random share keeps the labeled data an unbiased sample even when the rest is chosen by information.
    const wantRandom = activeLearning.strategy !== "off" && this.goldDraw() < activeLearning.randomShare;
    const assistDraw = assist.mode !== "off" ? this.goldDraw() : 1;
    const result = await this.inTransaction(() => {
      const held = this.q.held.get({ userId: user.id, projectId, now, after: opts.after ?? -1 });
      if (held) return { assignment: held as Assignment, pair: held, created: false, hint: this.beforeHint(held as Assignment, assist.judgeId) };
      const gold = wantGold ? this.q.goldCandidate.get({ projectId, userId: user.id }) : undefined;
      const pick = () => (wantRandom ? this.q.randomCandidate : this.q.candidate).get({ projectId, target, userId: user.id });
      let candidate = gold ?? pick();
      // The pool looks empty: expired leases may be holding slots the timer hasn't freed yet.
      if (!candidate && this.reclaimExpired(now) > 0) candidate = pick();
      if (!candidate) return null;
      const strategy = gold ? "gold" : candidate.route === "audit" ? "audit" : wantRandom ? "random" : (candidate.priority_strategy ?? "order");
      // Assist arms only where there is a pick to show, and never on gold (it measures people).
      let arm: "none" | "before" | "after" | null = null;
      if (assist.mode !== "off" && !gold && this.hint(candidate.id, assist.judgeId)) arm = assistDraw < assist.share ? assist.mode : "none";
      const assignment = this.q.insertAssignment.get({
        projectId,
        pairId: candidate.id,
        userId: user.id,
        leftIsA: this.random() === 1 ? 1 : 0,
        now,
        expiresAt: now + project.leaseSeconds * 1000,
        gold: gold ? 1 : 0,
        strategy,
        assist: arm,
      });
      // Gold pairs are judged by everyone, so their counter carries no target.
      const bumped = this.q.claim.run({ id: candidate.id, target: gold ? Number.MAX_SAFE_INTEGER : target });
      if (bumped !== 1 || !assignment) throw new DomainError("conflict", "The pair filled up meanwhile; try again");
      return { assignment, pair: candidate, created: true, hint: this.beforeHint(assignment, assist.judgeId) };
    });
    if (!result) return null;
    if (result.created) this.events.progressChanged(projectId);
    return this.withHybrid(pairToView(result.assignment, result.pair, project.leaseSeconds, project.schemeVersion), result.hint, project.hybrid);
  }

  /** The AI pick for a pair (from the chosen judge, else the most confident enabled one). Sync: call inside SQLite. */
  private hint(pairId: number, judgeId: number | null): { choice: "a" | "b" | "tie"; confidence: number } | undefined {
    return judgeId ? this.q.verdictOf.get({ pairId, judgeId }) : this.q.bestVerdict.get({ pairId });
  }

  private shownHint(a: Pick<Assignment, "pair_id" | "left_is_a">, judgeId: number | null): AssistHint | undefined {
    const h = this.hint(a.pair_id, judgeId);
    if (!h) return undefined;
    const choice = h.choice === "tie" ? "tie" : (h.choice === "a") === (a.left_is_a === 1) ? "left" : "right";
    return { choice, confidence: Math.round(h.confidence * 1000) / 1000 };
  }

  /** Sync: call inside SQLite. */
  private beforeHint(a: Assignment, judgeId: number | null): AssistHint | undefined {
    return a.assist === "before" ? this.shownHint(a, judgeId) : undefined;
  }

  private withHybrid(view: AssignmentView, hint: AssistHint | undefined, hybrid: ProjectView["hybrid"]): AssignmentView {
    return { ...view, rewrites: hybrid.rewrites.mode, ...(hint ? { assist: hint } : {}) };
  }

  /** An assignment the user holds, with its pair, for a page reload or "undo". */
  async getAssignment(user: SessionUser, assignmentId: number): Promise<AssignmentView & { status: Assignment["status"] }> {
    const row = await this.db
      .selectFrom("assignments")
      .innerJoin("pairs", "pairs.id", "assignments.pair_id")
      .selectAll("assignments")
      .select(["pairs.prompt", "pairs.response_a", "pairs.response_b"])
      .where("assignments.id", "=", assignmentId)
      .executeTakeFirst();
    if (!row || row.annotator_id !== user.id) throw notFound("Assignment");
    const { project } = await this.projects.requireMember(user, row.project_id);
    const hint = await this.db.connection().execute(async () => this.beforeHint(row as Assignment, project.hybrid.assist.judgeId));
    return { ...this.withHybrid(pairToView(row as Assignment, row, project.leaseSeconds, project.schemeVersion), hint, project.hybrid), status: row.status };
  }

  private async accessForAssignment(user: SessionUser, assignmentId: number, opts: { allowForeign?: boolean } = {}) {
    const head = await this.db.connection().execute(async () => this.q.head.get({ id: assignmentId }));
    if (!head) throw notFound("Assignment");
    if (head.annotator_id !== user.id && !opts.allowForeign) {
      // Someone else's lease: 409 as the API promises, but only to members of that project.
      await this.projects.requireMember(user, head.project_id);
      throw new DomainError("lease_foreign", "This assignment belongs to someone else");
    }
    return this.projects.requireMember(user, head.project_id);
  }

  async judge(user: SessionUser, assignmentId: number, body: unknown): Promise<JudgmentReceipt> {
    const parsed = judgmentInputSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error.issues);
    const input = parsed.data;
    const now = this.clock.now();
    // Access first (cached per project member; non-members get 404), then one synchronous transaction.
    const { project, paused } = await this.accessForAssignment(user, assignmentId, { allowForeign: true });
    const receipt = this.inTransaction(() => {
      // A retried submit (same client key) returns the stored judgment and writes nothing.
      const prior = this.q.prior.get({ userId: user.id, key: input.idempotency_key });
      if (prior) {
        if (prior.assignment_id !== assignmentId) {
          throw new DomainError("conflict", "This idempotency key was already used for another assignment");
        }
        return { receipt: { judgment_id: prior.id, duplicate: true, supersedes_id: prior.supersedes_id } as JudgmentReceipt, event: null };
      }
      const a = this.q.assignment.get({ id: assignmentId });
      if (!a) throw notFound("Assignment");
      if (a.annotator_id !== user.id) throw new DomainError("lease_foreign", "This assignment belongs to someone else");
      if (paused) throw new DomainError("forbidden", "Your work on this project is paused by quality control");
      const issues = [...checkAgainstScheme(input, project.scheme), ...checkRewrites(input, project.hybrid.rewrites.mode)];
      if (issues.length) throw validationError(issues);
      if (a.status === "skipped") throw new DomainError("lease_expired", "This pair was skipped");
      if (a.status === "expired" || a.expires_at <= now) throw new DomainError("lease_expired", "This pair's time ran out");

      let supersedes: number | null = null;
      if (a.status === "judged") {
        // A correction within the lease: a new row that supersedes the latest one, never an update.
        supersedes = this.q.latestJudgment.get({ assignmentId: a.id })?.id ?? null;
      }
      const pair = this.q.pairProvenance.get({ id: a.pair_id });
      if (!pair) throw notFound("Pair");
      const leftIsA = a.left_is_a === 1;
      const criteria = input.criteria
        ? Object.fromEntries(Object.entries(input.criteria).map(([k, v]) => [k, shownToCanonical(v, leftIsA)]))
        : null;
      const inserted = this.q.insertJudgment.get({
        project_id: a.project_id,
        pair_id: a.pair_id,
        assignment_id: a.id,
        annotator_id: user.id,
        choice: shownToCanonical(input.choice, leftIsA) as Choice,
        choice_shown: input.choice,
        left_is_a: a.left_is_a,
        strength: input.strength ?? null,
        criteria: criteria ? JSON.stringify(criteria) : null,
        rationale: input.rationale?.trim() || null,
        flags: input.flags?.length ? JSON.stringify(input.flags) : null,
        time_on_task_ms: input.time_on_task_ms ?? null,
        idempotency_key: input.idempotency_key,
        supersedes_id: supersedes,
        scheme_version: project.schemeVersion,
        model_a: pair.model_a,
        model_b: pair.model_b,
        checkpoint_a: pair.checkpoint_a,
        checkpoint_b: pair.checkpoint_b,
        response_a_sha256: sha256(pair.response_a),
        response_b_sha256: sha256(pair.response_b),
        created_at: now,
      });
      if (!inserted) throw new Error("judgment insert returned no id");
      if (a.status === "active") {
        this.q.markJudged.run({ id: a.id, now });
        this.q.countJudged.run({ id: a.pair_id });
      }
      for (const r of input.rewrites ?? []) this.storeRewrite(a, inserted.id, r, now, project.schemeVersion);
      let pausedNow = false;
      if (a.gold === 1 && project.quality.pauseBelowGold) {
        const acc = this.q.goldAccuracy.get({ projectId: a.project_id, userId: user.id });
        if (acc && acc.n >= project.quality.goldMinJudgments && acc.correct / acc.n < project.quality.goldMinAccuracy) {
          this.q.pauseMember.run({ projectId: a.project_id, userId: user.id, now, reason: `gold accuracy ${(acc.correct / acc.n).toFixed(2)} under ${project.quality.goldMinAccuracy}` });
          pausedNow = true;
        }
      }
      const reveal = a.assist === "after" ? this.shownHint(a, project.hybrid.assist.judgeId) : undefined;
      return {
        receipt: <JudgmentReceipt>{
          judgment_id: inserted.id,
          duplicate: false,
          supersedes_id: supersedes,
          paused: pausedNow,
          ...(input.rewrites?.length ? { rewrites: input.rewrites.length } : {}),
          ...(reveal ? { assist: reveal } : {}),
        },
        event: { projectId: a.project_id, judgmentId: inserted.id, annotatorId: user.id, pairId: a.pair_id, createdAt: now, timeOnTaskMs: input.time_on_task_ms ?? null },
      };
    }).then((r) => {
      if (r.receipt.paused) this.projects.forgetMembership(project.id, user.id);
      return r;
    });
    const done = await receipt;
    if (done.event) {
      this.events.judgmentCreated(done.event);
      this.events.progressChanged(done.event.projectId);
    }
    return done.receipt;
  }

  /**
   * A rewrite is an SFT demonstration (the `rewrites` row) and a new pair, the rewrite against the
   * original, whose preference is known: the rewriter's own judgment on it is recorded, and the
   * pair never enters the queue. Runs inside the judgment's SAVEPOINT, so both stand or fall together.
   */
  private storeRewrite(a: Assignment, judgmentId: number, r: { side: "left" | "right"; text: string }, now: number, schemeVersion: number): void {
    const pair = this.q.pairForRewrite.get({ id: a.pair_id });
    if (!pair) throw notFound("Pair");
    const side = shownToCanonical(r.side, a.left_is_a === 1) as "a" | "b";
    const originalJson = side === "a" ? pair.response_a : pair.response_b;
    const original = JSON.parse(originalJson) as Content;
    const prompt = JSON.parse(pair.prompt) as Content;
    const rewrite = rewriteContent(original, r.text);
    const rewriteJson = JSON.stringify(rewrite);
    // A correction (undo, then submit again) resends the same rewrite: one demonstration is enough.
    if (this.q.sameRewrite.get({ pairId: a.pair_id, userId: a.annotator_id, side, rewrite: rewriteJson })) return;
    const row = this.q.insertRewrite.get({ projectId: a.project_id, pairId: a.pair_id, judgmentId, userId: a.annotator_id, side, original: originalJson, rewrite: rewriteJson, now });
    if (!row) throw new Error("rewrite insert returned no id");
    const modelB = side === "a" ? pair.model_a : pair.model_b;
    const metadata = JSON.stringify({ rewrite_id: row.id, derived_from: a.pair_id });
    const hash = pairContentHash({ prompt, responseA: rewrite, responseB: original, modelA: "rewrite", modelB });
    const derived = this.q.insertDerivedPair.get({ projectId: a.project_id, prompt: pair.prompt, responseA: rewriteJson, responseB: originalJson, modelB, metadata, hash, derivedFrom: a.pair_id, now, randKey: Math.random() });
    // The same rewrite of the same response again: the demonstration counts, the pair exists already.
    if (!derived) return;
    this.q.linkRewrite.run({ id: row.id, pairId: derived.id });
    const lease = this.q.insertAssignment.get({
      projectId: a.project_id,
      pairId: derived.id,
      userId: a.annotator_id,
      leftIsA: 1,
      now,
      expiresAt: now,
      gold: 0,
      strategy: "rewrite",
      assist: null,
    });
    if (!lease) throw new Error("assignment insert returned no id");
    this.q.markJudged.run({ id: lease.id, now });
    const d = this.q.insertJudgment.get(
      recordedJudgment({
        projectId: a.project_id,
        pairId: derived.id,
        assignmentId: lease.id,
        annotatorId: a.annotator_id,
        choice: "a",
        idempotencyKey: `rewrite:${row.id}`,
        schemeVersion,
        pair: { response_a: rewriteJson, response_b: originalJson, model_a: "rewrite", model_b: modelB, checkpoint_a: null, checkpoint_b: null },
        now,
      }),
    );
    if (!d) throw new Error("judgment insert returned no id");
  }

  async skip(user: SessionUser, assignmentId: number, body: unknown): Promise<{ skipped: true }> {
    const parsed = skipInputSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error.issues);
    const now = this.clock.now();
    await this.accessForAssignment(user, assignmentId);
    const projectId = await this.inTransaction(() => {
      const a = this.q.assignment.get({ id: assignmentId });
      if (!a) throw notFound("Assignment");
      if (a.annotator_id !== user.id) throw new DomainError("lease_foreign", "This assignment belongs to someone else");
      if (a.status === "skipped") return null; // retried skip: already done
      if (a.status !== "active" || a.expires_at <= now) throw new DomainError("lease_expired", "This pair's time ran out or it was already judged");
      this.q.skip.run({ id: a.id, reason: parsed.data.reason, now });
      this.q.unclaim.run({ id: a.pair_id });
      return a.project_id;
    });
    if (projectId !== null) this.events.progressChanged(projectId);
    return { skipped: true };
  }

  async progress(user: SessionUser, projectId: number): Promise<ProgressCounts> {
    const { project } = await this.projects.requireMember(user, projectId);
    return this.progressCounts(projectId, project.judgmentsPerPair);
  }

  /** Counters without an access check, for the realtime layer after it has checked room access. */
  async progressCounts(projectId: number, target: number): Promise<ProgressCounts> {
    const now = this.clock.now();
    const byJudged = await this.db
      .selectFrom("pairs")
      .select(["judged", (eb) => eb.fn.countAll<number>().as("n")])
      .where("project_id", "=", projectId)
      .groupBy("judged")
      .execute();
    // AI-labeled pairs and rewrite pairs need no (more) people: they count as complete.
    const settled = await this.db
      .selectFrom("pairs")
      .select(["judged", (eb) => eb.fn.countAll<number>().as("n")])
      .where("project_id", "=", projectId)
      .where("route", "in", ["ai", "known"])
      .groupBy("judged")
      .execute();
    const counts = new Map<number, number>();
    for (const r of byJudged) counts.set(r.judged, Number(r.n));
    for (const r of settled) {
      counts.set(r.judged, (counts.get(r.judged) ?? 0) - Number(r.n));
      counts.set(target, (counts.get(target) ?? 0) + Number(r.n));
    }
    let total = 0;
    let complete = 0;
    let untouched = 0;
    for (const [judged, n] of counts) {
      total += n;
      if (judged >= target) complete += n;
      else if (judged === 0) untouched += n;
    }
    const active = await this.db
      .selectFrom("assignments")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("status", "=", "active")
      .where("expires_at", ">", now)
      .where("project_id", "=", projectId)
      .executeTakeFirstOrThrow();
    const j = await this.db
      .selectFrom("judgments")
      .select([
        (eb) => eb.fn.countAll<number>().as("total"),
        sql<number>`coalesce(sum(created_at >= ${startOfUtcDay(now)}), 0)`.as("today"),
        sql<number>`coalesce(sum(created_at >= ${now - 3_600_000}), 0)`.as("last_hour"),
      ])
      .where("project_id", "=", projectId)
      .where("supersedes_id", "is", null)
      .where("source", "=", "human")
      .executeTakeFirstOrThrow();
    return {
      pairs: { total, complete, partial: total - complete - untouched, untouched, inProgress: Number(active.n) },
      judgments: { total: Number(j.total), today: Number(j.today), lastHour: Number(j.last_hour) },
      target,
    };
  }

  /** The annotator's own header figures: judged today, and pairs left in the project. */
  async myStats(user: SessionUser, projectId: number): Promise<{ today: number; total: number; remaining: number }> {
    const { project } = await this.projects.requireMember(user, projectId);
    const now = this.clock.now();
    const mine = await this.db
      .selectFrom("judgments")
      .select([(eb) => eb.fn.countAll<number>().as("total"), sql<number>`coalesce(sum(created_at >= ${startOfUtcDay(now)}), 0)`.as("today")])
      .where("annotator_id", "=", user.id)
      .where("project_id", "=", projectId)
      .where("supersedes_id", "is", null)
      .executeTakeFirstOrThrow();
    const open = await this.db
      .selectFrom("pairs")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("project_id", "=", projectId)
      .where("judged", "<", project.judgmentsPerPair)
      .where("route", "in", ["human", "audit"])
      .executeTakeFirstOrThrow();
    return { today: Number(mine.today), total: Number(mine.total), remaining: Number(open.n) };
  }

  /** Researcher view: per-annotator counts and median time on task (exact median, in SQL). */
  async annotatorStats(user: SessionUser, projectId: number) {
    await this.projects.requireResearcher(user, projectId);
    return this.annotatorStatsUnchecked(projectId);
  }

  async annotatorStatsUnchecked(projectId: number) {
    const now = this.clock.now();
    const rows = await sql<{ id: number; email: string; name: string; judgments: number; today: number; skips: number; median_ms: number | null; last_at: number | null }>`
      WITH counts AS (
        SELECT annotator_id, count(*) AS judgments, sum(created_at >= ${startOfUtcDay(now)}) AS today, max(created_at) AS last_at
        FROM judgments WHERE project_id = ${projectId} AND supersedes_id IS NULL GROUP BY annotator_id
      ), ranked AS (
        SELECT annotator_id, time_on_task_ms AS v,
          row_number() OVER (PARTITION BY annotator_id ORDER BY time_on_task_ms) AS rn,
          count(*) OVER (PARTITION BY annotator_id) AS c
        FROM judgments WHERE project_id = ${projectId} AND supersedes_id IS NULL AND time_on_task_ms IS NOT NULL
      ), medians AS (
        SELECT annotator_id, avg(v) AS median_ms FROM ranked WHERE rn IN ((c + 1) / 2, (c + 2) / 2) GROUP BY annotator_id
      ), skips AS (
        SELECT annotator_id, count(*) AS skips FROM assignments WHERE project_id = ${projectId} AND status = 'skipped' GROUP BY annotator_id
      )
      SELECT u.id, u.email, u.name, coalesce(c.judgments, 0) AS judgments, coalesce(c.today, 0) AS today,
        coalesce(s.skips, 0) AS skips, m.median_ms, c.last_at
      FROM project_members pm
      JOIN users u ON u.id = pm.user_id
      LEFT JOIN counts c ON c.annotator_id = u.id
      LEFT JOIN medians m ON m.annotator_id = u.id
      LEFT JOIN skips s ON s.annotator_id = u.id
      WHERE pm.project_id = ${projectId} AND (pm.role = 'annotator' OR c.judgments > 0)
      ORDER BY judgments DESC, u.email
    `.execute(this.db);
    return rows.rows.map((r) => ({ ...r, judgments: Number(r.judgments), today: Number(r.today), skips: Number(r.skips), median_ms: r.median_ms === null ? null : Math.round(r.median_ms) }));
  }

  /** Judgments per hour over the last `hours` hours (oldest first, zero-filled). */
  async judgmentsPerHour(user: SessionUser, projectId: number, hours = 24) {
    await this.projects.requireResearcher(user, projectId);
    const now = this.clock.now();
    const firstHour = Math.floor(now / 3_600_000) - hours + 1;
    const rows = await this.db
      .selectFrom("judgments")
      .select([sql<number>`created_at / 3600000`.as("h"), (eb) => eb.fn.countAll<number>().as("n")])
      .where("project_id", "=", projectId)
      .where("created_at", ">=", firstHour * 3_600_000)
      .where("supersedes_id", "is", null)
      .where("source", "=", "human")
      .groupBy(sql`created_at / 3600000`)
      .execute();
    const byHour = new Map(rows.map((r) => [Number(r.h), Number(r.n)]));
    return Array.from({ length: hours }, (_, i) => ({ hour: new Date((firstHour + i) * 3_600_000).toISOString(), count: byHour.get(firstHour + i) ?? 0 }));
  }

  /** Raw judgments with provenance, streamed in id order (researchers only). */
  async *streamJudgments(user: SessionUser, projectId: number): AsyncGenerator<Record<string, unknown>> {
    await this.projects.requireResearcher(user, projectId);
    let afterId = 0;
    for (;;) {
      const rows = await this.db
        .selectFrom("judgments")
        .innerJoin("users", "users.id", "judgments.annotator_id")
        .selectAll("judgments")
        .select("users.email as annotator_email")
        .where("judgments.project_id", "=", projectId)
        .where("judgments.id", ">", afterId)
        .orderBy("judgments.id")
        .limit(1000)
        .execute();
      if (rows.length === 0) return;
      for (const r of rows) {
        yield {
          id: r.id,
          project_id: r.project_id,
          pair_id: r.pair_id,
          assignment_id: r.assignment_id,
          annotator_id: r.annotator_id,
          annotator_email: r.annotator_email,
          source: r.source,
          choice: r.choice,
          choice_shown: r.choice_shown,
          left: r.left_is_a ? "a" : "b",
          strength: r.strength,
          criteria: r.criteria ? JSON.parse(r.criteria) : null,
          rationale: r.rationale,
          flags: r.flags ? JSON.parse(r.flags) : [],
          time_on_task_ms: r.time_on_task_ms,
          idempotency_key: r.idempotency_key,
          supersedes_id: r.supersedes_id,
          scheme_version: r.scheme_version,
          model_a: r.model_a,
          model_b: r.model_b,
          checkpoint_a: r.checkpoint_a,
          checkpoint_b: r.checkpoint_b,
          response_a_sha256: r.response_a_sha256,
          response_b_sha256: r.response_b_sha256,
          created_at: new Date(r.created_at).toISOString(),
        };
      }
      afterId = rows[rows.length - 1]!.id;
    }
  }
}
