import { z } from "zod";
import { FLAG_NAMES, type Scheme } from "../projects/scheme.ts";

export const judgmentInputSchema = z
  .object({
    choice: z.enum(["left", "right", "tie", "both_bad"]),
    strength: z.number().int().min(1).max(4).nullable().optional(),
    criteria: z.record(z.enum(["left", "right", "tie"])).optional(),
    rationale: z.string().max(20_000).optional(),
    flags: z.array(z.enum(FLAG_NAMES)).max(FLAG_NAMES.length).optional(),
    time_on_task_ms: z.number().int().min(0).max(86_400_000).optional(),
    idempotency_key: z.string().min(8, "must be at least 8 characters").max(100).regex(/^[A-Za-z0-9_.:-]+$/, "use letters, digits and _ . : -"),
    /** Rewrites of the shown responses (projects with rewrites on): SFT demonstrations and new pairs. */
    rewrites: z
      .array(z.object({ side: z.enum(["left", "right"]), text: z.string().trim().min(1, "must not be empty").max(20_000) }).strict())
      .max(2)
      .optional(),
  })
  .strict();

export type JudgmentInput = z.output<typeof judgmentInputSchema>;

export const skipInputSchema = z
  .object({
    reason: z.string().trim().min(1, "is required").max(500),
    idempotency_key: z.string().min(8).max(100).optional(),
  })
  .strict();

type Issue = { path: string[]; message: string };

/** Which shown sides the annotator may rewrite, given the project's mode and the choice made. */
export function rewritableSides(mode: "off" | "worse" | "both", choice: JudgmentInput["choice"]): ("left" | "right")[] {
  if (mode === "off") return [];
  if (mode === "both" || choice === "tie" || choice === "both_bad") return ["left", "right"];
  return choice === "left" ? ["right"] : ["left"];
}

/** Checks rewrites against the project's rewrite mode; returns the problems (empty when valid). */
export function checkRewrites(j: JudgmentInput, mode: "off" | "worse" | "both"): Issue[] {
  const rewrites = j.rewrites ?? [];
  if (!rewrites.length) return [];
  if (mode === "off") return [{ path: ["rewrites"], message: "this project does not take rewrites" }];
  const allowed = rewritableSides(mode, j.choice);
  const issues: Issue[] = [];
  const seen = new Set<string>();
  rewrites.forEach((r, i) => {
    if (seen.has(r.side)) issues.push({ path: ["rewrites", String(i), "side"], message: "each side can be rewritten once" });
    seen.add(r.side);
    if (!allowed.includes(r.side)) issues.push({ path: ["rewrites", String(i), "side"], message: "only the worse response may be rewritten in this project" });
  });
  return issues;
}

/** Checks a judgment against the project's labeling scheme; returns the problems (empty when valid). */
export function checkAgainstScheme(j: JudgmentInput, scheme: Scheme): Issue[] {
  const issues: Issue[] = [];
  if (j.choice === "tie" && !scheme.allowTie) issues.push({ path: ["choice"], message: "this project does not allow ties" });
  if (j.choice === "both_bad" && !scheme.allowBothBad) issues.push({ path: ["choice"], message: "this project does not allow both-bad" });
  const decisive = j.choice === "left" || j.choice === "right";
  if (scheme.strength === "off") {
    if (j.strength != null) issues.push({ path: ["strength"], message: "this project does not collect strength" });
  } else if (decisive && j.strength == null) {
    issues.push({ path: ["strength"], message: "is required when one response is better (1 = negligibly … 4 = significantly)" });
  } else if (!decisive && j.strength != null) {
    issues.push({ path: ["strength"], message: "only applies when one response is better" });
  }
  const criteria = j.criteria ?? {};
  for (const name of scheme.criteria) {
    if (!(name in criteria)) issues.push({ path: ["criteria", name], message: "is required" });
  }
  for (const name of Object.keys(criteria)) {
    if (!scheme.criteria.includes(name)) issues.push({ path: ["criteria", name], message: "is not a criterion of this project" });
  }
  const rationale = j.rationale?.trim() ?? "";
  if (scheme.rationale.mode === "off" && rationale) issues.push({ path: ["rationale"], message: "this project does not collect rationales" });
  if (scheme.rationale.mode === "required" && rationale.length < Math.max(1, scheme.rationale.minLength)) {
    issues.push({ path: ["rationale"], message: `is required (at least ${Math.max(1, scheme.rationale.minLength)} characters)` });
  }
  for (const f of j.flags ?? []) {
    if (!scheme.flags.includes(f)) issues.push({ path: ["flags"], message: `${f} is not a flag of this project` });
  }
  if (j.flags && new Set(j.flags).size !== j.flags.length) issues.push({ path: ["flags"], message: "flags must be unique" });
  return issues;
}

/** Maps what the annotator saw (left/right) to the pair's own A/B. */
export function shownToCanonical<T extends string>(shown: T | "left" | "right", leftIsA: boolean): T | "a" | "b" {
  if (shown === "left") return leftIsA ? "a" : "b";
  if (shown === "right") return leftIsA ? "b" : "a";
  return shown as T;
}
