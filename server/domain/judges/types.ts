/** Views of the hybrid human–AI feedback layer, shared by the REST API and the Remix routes. */

export type JudgeKindName = "reward_model" | "llm";

export type RewardModelJudgeConfig = { checkpoint_ids: number[] };
export type LlmJudgeConfigView = { base_url: string; model: string; rubric: string; temperature: number; max_tokens: number };

export type JudgeView = {
  id: number;
  project_id: number;
  kind: JudgeKindName;
  name: string;
  version: number;
  enabled: boolean;
  config: RewardModelJudgeConfig | LlmJudgeConfigView;
  has_api_key: boolean;
  /** Verdicts stored for the judge's current version. */
  verdicts: number;
  created_at: string;
  updated_at: string;
};

export type AgreementCell = { n: number; agreement: number | null };

export type CalibrationBucket = { lo: number; hi: number; n: number; agreement: number | null; mean_confidence: number | null };

export type JudgeAgreement = {
  judge_id: number;
  name: string;
  kind: JudgeKindName;
  version: number;
  compared: number;
  agreement: number | null;
  by_category: { audit: AgreementCell; gold: AgreementCell; human: AgreementCell };
  buckets: CalibrationBucket[];
  inconsistent_rate: number | null;
  alert: boolean;
  /** Routing standing: warming up (audited on every confident pair), paused (under the alert), or trusted. */
  routing: "trusted" | "warmup" | "paused";
  /** Comparisons on audited and gold pairs, which trust is earned on. */
  audits: number;
};

export type AgreementReport = {
  threshold: number;
  minPairs: number;
  judges: JudgeAgreement[];
  alerts: { judge_id: number; name: string; agreement: number; compared: number }[];
};

export type StrategyContribution = { strategy: string; leases: number; judgments: number; ai_disagreement: number | null };

export type AssistArm = { arm: "none" | "before" | "after"; judgments: number; agree_with_ai: number | null; agree_with_majority: number | null; median_ms: number | null };

export type HybridReport = {
  routes: { human: number; ai: number; audit: number; known: number };
  strategies: StrategyContribution[];
  assist: AssistArm[];
  rewrites: number;
};

/** What the annotator sees of the AI's pick (assist), in screen terms. */
export type AssistHint = { choice: "left" | "right" | "tie"; confidence: number };
