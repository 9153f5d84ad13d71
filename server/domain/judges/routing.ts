import { type HybridSettings } from "./hybrid-settings.ts";

/** What routing needs to know of one judge's current verdict on a pair. */
export type VerdictSignal = {
  judgeId: number;
  kind: "reward_model" | "llm";
  pA: number | null;
  consistent: number | null;
  /** Reward-model ensemble members' P(A better). */
  members: number[] | null;
};

export type AiLabel = { judgeId: number; choice: "a" | "b"; confidence: number; pA: number };

export type RouteDecision = {
  route: "human" | "ai" | "audit";
  /** The AI label to record (ai and audit routes). */
  label: AiLabel | null;
  /** Expected information of a human label; the human queue serves higher first. */
  priority: number;
  strategy: string | null;
};

/** Audited pairs come before everything else in the human queue: they keep the judges measured. */
export const AUDIT_PRIORITY = 2;
/** AI-labeled pairs sort after every pair people should see (they are filtered out anyway). */
export const AI_PRIORITY = -1;
export const AI_RAND_KEY = 2;

export function confidenceOf(pA: number): number {
  return Math.max(pA, 1 - pA);
}

/** Uncertainty sampling (Lewis & Gale 1994): 1 at P = 0.5, 0 at P ∈ {0, 1}. */
export function uncertainty(pA: number): number {
  return 1 - Math.abs(2 * pA - 1);
}

function mean(xs: number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length;
}

/** Population standard deviation scaled to [0, 1] (the largest spread of values in [0, 1] is 0.5). */
function spread(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.min(1, 2 * Math.sqrt(mean(xs.map((x) => (x - m) ** 2))));
}

/**
 * Information scores of a pair for each active-learning strategy, from its judges' verdicts:
 * - uncertainty: how close the reward model (or, without one, the other judges) is to a coin flip;
 * - disagreement: query-by-committee (Seung et al. 1992): the range of the judges' P, and an LLM
 *   judge that contradicts itself when the responses swap places counts as full disagreement;
 * - ensemble: the spread of a reward-model ensemble's members (Lakshminarayanan et al. 2017).
 */
export function informationScores(verdicts: VerdictSignal[]): { uncertainty: number; disagreement: number; ensemble: number } {
  const usable = verdicts.filter((v) => v.pA !== null);
  const rm = usable.filter((v) => v.kind === "reward_model");
  const basis = rm.length ? rm : usable;
  const u = basis.length ? uncertainty(mean(basis.map((v) => v.pA!))) : 0;
  let d = 0;
  if (usable.length >= 2) {
    const ps = usable.map((v) => v.pA!);
    d = Math.max(...ps) - Math.min(...ps);
  }
  if (verdicts.some((v) => v.kind === "llm" && v.consistent === 0)) d = 1;
  const e = Math.max(0, ...rm.map((v) => (v.members && v.members.length >= 2 ? spread(v.members) : 0)));
  return { uncertainty: u, disagreement: d, ensemble: e };
}

export function priorityFor(verdicts: VerdictSignal[], strategy: HybridSettings["activeLearning"]["strategy"]): { priority: number; strategy: string | null } {
  if (strategy === "off" || verdicts.length === 0) return { priority: 0, strategy: null };
  const s = informationScores(verdicts);
  if (strategy === "combined") {
    const best = (Object.entries(s) as [string, number][]).reduce((a, b) => (b[1] > a[1] ? b : a));
    return { priority: best[1], strategy: best[0] };
  }
  return { priority: s[strategy], strategy };
}

/**
 * Where a pair goes, given its judges' current verdicts.
 *
 * An AI label is accepted when routing is on, the pair is not gold (gold pairs measure people and
 * judges alike), at least one accepted judge is confident (confidence ≥ threshold; for an LLM
 * judge also consistent across both orders when required), and no confident verdict of any
 * accepted judge points the other way. The most confident verdict supplies the label. An
 * `auditShare` of AI-labeled pairs goes to people as well; so do all of a judge's confident
 * pairs while it warms up, and a paused judge (agreement alert on) labels nothing.
 */
/** How far routing may rely on a judge, from its record on audits (see `minAudits`). */
export type JudgeTrust = "trusted" | "warmup" | "paused";

export function decideRoute(
  verdicts: VerdictSignal[],
  settings: HybridSettings,
  opts: { gold: boolean; auditDraw: number; enabledJudgeIds: ReadonlySet<number>; trust?: (judgeId: number) => JudgeTrust },
): RouteDecision {
  const r = settings.routing;
  const accepted = (v: VerdictSignal) => opts.enabledJudgeIds.has(v.judgeId) && (r.judgeIds.length === 0 || r.judgeIds.includes(v.judgeId));
  if (r.enabled && !opts.gold) {
    const confident = verdicts.filter((v) => accepted(v) && v.pA !== null && v.pA !== 0.5 && confidenceOf(v.pA) >= r.threshold);
    const eligible = confident.filter((v) => v.kind !== "llm" || !r.requireConsistent || v.consistent === 1);
    const sides = new Set(confident.map((v) => (v.pA! > 0.5 ? "a" : "b")));
    if (eligible.length && sides.size === 1) {
      const best = eligible.reduce((a, b) => (confidenceOf(b.pA!) > confidenceOf(a.pA!) ? b : a));
      const label: AiLabel = { judgeId: best.judgeId, choice: best.pA! > 0.5 ? "a" : "b", confidence: confidenceOf(best.pA!), pA: best.pA! };
      const trust = opts.trust?.(best.judgeId) ?? "trusted";
      // A judge still proving itself is audited on every pair it is sure of; one under its
      // agreement alert keeps only the audit share, so it stays measured without labeling.
      if (trust === "warmup" || opts.auditDraw < r.auditShare) return { route: "audit", label, priority: AUDIT_PRIORITY, strategy: "audit" };
      if (trust === "trusted") return { route: "ai", label, priority: AI_PRIORITY, strategy: null };
    }
  }
  return { route: "human", label: null, ...priorityFor(verdicts.filter((v) => opts.enabledJudgeIds.has(v.judgeId)), settings.activeLearning.strategy) };
}
