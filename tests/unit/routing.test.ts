import { describe, expect, it } from "vitest";
import { calibrationBuckets } from "../../server/domain/judges/agreement.ts";
import { hybridSettingsSchema } from "../../server/domain/judges/hybrid-settings.ts";
import { judgeTrust } from "../../server/domain/judges/judge-service.ts";
import { AI_PRIORITY, AUDIT_PRIORITY, decideRoute, informationScores, priorityFor, uncertainty, type VerdictSignal } from "../../server/domain/judges/routing.ts";

const settings = (over: Record<string, unknown> = {}) =>
  hybridSettingsSchema.parse({ routing: { enabled: true, threshold: 0.9, auditShare: 0.1, ...over }, activeLearning: { strategy: "uncertainty" } });
const rm = (pA: number, judgeId = 1, members: number[] | null = null): VerdictSignal => ({ judgeId, kind: "reward_model", pA, consistent: null, members });
const llm = (pA: number, consistent: 0 | 1, judgeId = 2): VerdictSignal => ({ judgeId, kind: "llm", pA, consistent, members: null });
const all = new Set([1, 2, 3]);
const opts = { gold: false, auditDraw: 0.5, enabledJudgeIds: all };

describe("routing rules", () => {
  it("a confident judge labels the pair; the label follows its side", () => {
    expect(decideRoute([rm(0.95)], settings(), opts)).toMatchObject({ route: "ai", label: { judgeId: 1, choice: "a", confidence: 0.95 }, priority: AI_PRIORITY });
    expect(decideRoute([rm(0.02)], settings(), opts).label).toMatchObject({ choice: "b", confidence: 0.98 });
  });

  it("under the threshold the pair goes to people, ordered by uncertainty", () => {
    const d = decideRoute([rm(0.6)], settings(), opts);
    expect(d.route).toBe("human");
    expect(d.label).toBeNull();
    expect(d.priority).toBeCloseTo(0.8);
    expect(d.strategy).toBe("uncertainty");
  });

  it("the audit share of confident pairs goes to people too, ahead of the rest", () => {
    expect(decideRoute([rm(0.95)], settings(), { ...opts, auditDraw: 0.05 })).toMatchObject({ route: "audit", label: { choice: "a" }, priority: AUDIT_PRIORITY, strategy: "audit" });
    expect(decideRoute([rm(0.95)], settings({ auditShare: 0 }), { ...opts, auditDraw: 0 }).route).toBe("ai");
  });

  it("an LLM judge must be consistent across both orders, unless the project waives it", () => {
    expect(decideRoute([llm(0.95, 0)], settings(), opts).route).toBe("human");
    expect(decideRoute([llm(0.95, 1)], settings(), opts).route).toBe("ai");
    expect(decideRoute([llm(0.95, 0)], settings({ requireConsistent: false }), opts).route).toBe("ai");
  });

  it("confident judges that contradict each other send the pair to people", () => {
    expect(decideRoute([rm(0.95), llm(0.05, 1)], settings(), opts).route).toBe("human");
    // Agreeing judges: the most confident one supplies the label.
    expect(decideRoute([rm(0.93), llm(0.97, 1)], settings(), opts).label).toMatchObject({ judgeId: 2, confidence: 0.97 });
  });

  it("gold pairs, routing off, disabled or unlisted judges never produce AI labels", () => {
    expect(decideRoute([rm(0.99)], settings(), { ...opts, gold: true }).route).toBe("human");
    expect(decideRoute([rm(0.99)], settings({ enabled: false }), opts).route).toBe("human");
    expect(decideRoute([rm(0.99)], settings(), { ...opts, enabledJudgeIds: new Set([2]) }).route).toBe("human");
    expect(decideRoute([rm(0.99, 1)], settings({ judgeIds: [3] }), opts).route).toBe("human");
  });

  it("information scores: uncertainty, committee disagreement, ensemble spread", () => {
    expect(uncertainty(0.5)).toBe(1);
    expect(uncertainty(1)).toBe(0);
    expect(informationScores([rm(0.9), llm(0.3, 1)]).disagreement).toBeCloseTo(0.6);
    expect(informationScores([llm(0.9, 0)]).disagreement, "an LLM that flips with the order disagrees with itself").toBe(1);
    // Members 0.2 and 0.8: std 0.3, scaled ×2 → 0.6.
    expect(informationScores([rm(0.5, 1, [0.2, 0.8])]).ensemble).toBeCloseTo(0.6);
    expect(informationScores([rm(0.5, 1, [0.5, 0.5])]).ensemble).toBe(0);
    // Uncertainty prefers the reward model over other judges when it has one.
    expect(informationScores([rm(0.9), llm(0.5, 1)]).uncertainty).toBeCloseTo(0.2);
    const combined = priorityFor([rm(0.9, 1, [0.1, 0.9]), llm(0.85, 1)], "combined");
    expect(combined.strategy).toBe("ensemble");
    expect(combined.priority).toBeCloseTo(0.8);
    expect(priorityFor([rm(0.5)], "off")).toEqual({ priority: 0, strategy: null });
  });
});

describe("calibration buckets", () => {
  it("puts each comparison in its confidence bucket with observed agreement and mean confidence", () => {
    const rows = [
      { confidence: 0.55, agree: true },
      { confidence: 0.58, agree: false },
      { confidence: 0.75, agree: true },
      { confidence: 0.9, agree: true },
      { confidence: 1, agree: true },
      { confidence: 0.95, agree: false },
    ];
    const b = calibrationBuckets(rows);
    expect(b.map((x) => [x.lo, x.hi, x.n])).toEqual([
      [0.5, 0.6, 2],
      [0.6, 0.7, 0],
      [0.7, 0.8, 1],
      [0.8, 0.9, 0],
      [0.9, 1, 3],
    ]);
    expect(b[0]!.agreement).toBe(0.5);
    expect(b[0]!.mean_confidence).toBeCloseTo(0.565);
    expect(b[1]!.agreement).toBeNull();
    expect(b[4]!.agreement).toBeCloseTo(2 / 3);
    expect(b[4]!.mean_confidence).toBeCloseTo(0.95);
  });
});

describe("trust earned on audits", () => {
  it("a warming-up judge's confident pairs are all audited; a paused judge labels nothing beyond the audit share", () => {
    const s = settings({ auditShare: 0.1 });
    expect(decideRoute([rm(0.95)], s, { ...opts, trust: () => "warmup" })).toMatchObject({ route: "audit", label: { choice: "a" }, strategy: "audit" });
    const paused = decideRoute([rm(0.95)], s, { ...opts, trust: () => "paused" });
    expect(paused.route).toBe("human");
    expect(paused.label).toBeNull();
    expect(decideRoute([rm(0.95)], s, { ...opts, auditDraw: 0.05, trust: () => "paused" }).route, "the audit share keeps measuring it").toBe("audit");
    expect(decideRoute([rm(0.95)], s, { ...opts, trust: () => "trusted" }).route).toBe("ai");
  });

  it("standing follows the audited record: warm-up, then paused under the alert threshold, else trusted", () => {
    expect(judgeTrust({ n: 19, agree: 19 }, 20, 0.7, 20)).toBe("warmup");
    expect(judgeTrust({ n: 20, agree: 13 }, 20, 0.7, 20)).toBe("paused");
    expect(judgeTrust({ n: 20, agree: 14 }, 20, 0.7, 20)).toBe("trusted");
    expect(judgeTrust({ n: 0, agree: 0 }, 0, 0.7, 20), "minAudits 0 trusts at once").toBe("trusted");
    expect(judgeTrust({ n: 5, agree: 0 }, 0, 0.7, 20), "the alert needs minPairs comparisons").toBe("trusted");
  });
});
