import { z } from "zod";

/**
 * Per-project hybrid human–AI settings. Everything is off by default: a project labels with
 * people only, in completion order, until a researcher turns a piece on.
 */
export const hybridSettingsSchema = z
  .object({
    routing: z
      .object({
        /** Pairs a judge is confident about get the AI label instead of going to people. */
        enabled: z.boolean().default(false),
        /** Confidence, max(P, 1 − P), at or above which an AI label is accepted. */
        threshold: z.number().min(0.5).max(1).default(0.9),
        /** LLM judges: accept only answers that survive swapping the two responses. */
        requireConsistent: z.boolean().default(true),
        /** Share of AI-labeled pairs that also go to people, to keep measuring the judges. */
        auditShare: z.number().min(0).max(1).default(0.1),
        /**
         * Trust is earned on audits: until a judge has this many comparisons with people on
         * audited and gold pairs, its confident pairs are audited rather than labeled; while its
         * agreement alert is on, it labels nothing (only the audit share keeps measuring it).
         * 0 trusts a judge's confidence from the start.
         */
        minAudits: z.number().int().min(0).max(100_000).default(20),
        /** Judges whose labels may be accepted; empty means every enabled judge. */
        judgeIds: z.array(z.number().int().positive()).max(50).default([]),
      })
      .strict()
      .default({}),
    activeLearning: z
      .object({
        /** How the human queue is ordered among pairs not yet started. */
        strategy: z.enum(["off", "uncertainty", "disagreement", "ensemble", "combined"]).default("off"),
        /** Share of human leases drawn in random order so the labeled data stays unbiased. */
        randomShare: z.number().min(0).max(1).default(0.2),
      })
      .strict()
      .default({}),
    agreementAlert: z
      .object({
        /** Alert on the project page when a judge's agreement with people falls under this. */
        threshold: z.number().min(0).max(1).default(0.7),
        /** Compared pairs needed before the alert can fire. */
        minPairs: z.number().int().min(1).max(100_000).default(20),
      })
      .strict()
      .default({}),
    assist: z
      .object({
        /** Show annotators the AI's pick: off, before they choose, or after they submit. */
        mode: z.enum(["off", "before", "after"]).default("off"),
        /** Share of leases (on pairs with a verdict) that show it; the rest are the control arm. */
        share: z.number().min(0).max(1).default(0.5),
        /** The judge whose pick is shown; null means the most confident verdict. */
        judgeId: z.number().int().positive().nullable().default(null),
      })
      .strict()
      .default({}),
    rewrites: z
      .object({
        /** Let annotators rewrite the worse response (worse) or either response (both). */
        mode: z.enum(["off", "worse", "both"]).default("off"),
      })
      .strict()
      .default({}),
  })
  .strict();

export type HybridSettings = z.output<typeof hybridSettingsSchema>;
export type HybridSettingsInput = z.input<typeof hybridSettingsSchema>;

export function parseStoredHybrid(json: string | null | undefined): HybridSettings {
  const parsed = hybridSettingsSchema.safeParse(JSON.parse(json || "{}"));
  return parsed.success ? parsed.data : hybridSettingsSchema.parse({});
}
