/** What the annotator has picked on the current pair, and how it reads back in words. */
export type Choice = "left" | "right" | "tie" | "both_bad";
export type Side = "left" | "right" | "tie";
export type Flag = "unsafe" | "personal_data" | "broken";
export type RewriteMode = "off" | "worse" | "both";
export type RewriteSide = "left" | "right";
export type Rewrite = { side: RewriteSide; text: string };

export type Selection = {
  choice: Choice | null;
  strength: number | null;
  criteria: Record<string, Side>;
  rationale: string;
  flags: Flag[];
  /** Drafts of rewritten responses, by side; only the allowed, changed ones are sent. */
  rewrites: Partial<Record<RewriteSide, string>>;
};

export const emptySelection: Selection = { choice: null, strength: null, criteria: {}, rationale: "", flags: [], rewrites: {} };

/** Max characters of one rewrite (the API takes 1–20,000). */
export const REWRITE_MAX = 20_000;

/**
 * Which responses may be rewritten, given the project's mode and the current choice: with
 * `worse`, only the one not chosen (either after a tie or both-bad; none before a choice).
 */
export function rewritableSides(mode: RewriteMode | undefined, choice: Choice | null): RewriteSide[] {
  if (!mode || mode === "off") return [];
  if (mode === "both") return ["left", "right"];
  if (choice === "left") return ["right"];
  if (choice === "right") return ["left"];
  if (choice === "tie" || choice === "both_bad") return ["left", "right"];
  return [];
}

/** The rewrites to send: allowed for the current choice, non-empty, and different from the original. */
export function rewritesToSend(sel: Selection, mode: RewriteMode | undefined, originals: Record<RewriteSide, string>): Rewrite[] {
  const allowed = rewritableSides(mode, sel.choice);
  const out: Rewrite[] = [];
  for (const side of allowed) {
    const text = sel.rewrites[side]?.trim();
    if (text && text !== originals[side].trim()) out.push({ side, text: text.slice(0, REWRITE_MAX) });
  }
  return out;
}

export type SchemeView = {
  allowTie: boolean;
  allowBothBad: boolean;
  strength: "off" | "llama2";
  criteria: string[];
  rationale: { mode: "off" | "optional" | "required"; minLength: number };
  flags: Flag[];
  showLengthHint: boolean;
};

/** Llama 2's four strength levels (Touvron et al. 2023, §3.2.1), 1 = weakest; keys q w e r. */
export const STRENGTHS = [
  { value: 1, key: "q", label: "negligibly better" },
  { value: 2, key: "w", label: "slightly better" },
  { value: 3, key: "e", label: "better" },
  { value: 4, key: "r", label: "significantly better" },
] as const;

export const FLAGS: { value: Flag; key: string; label: string }[] = [
  { value: "unsafe", key: "u", label: "Unsafe" },
  { value: "personal_data", key: "p", label: "Personal data" },
  { value: "broken", key: "k", label: "Broken" },
];

export const SKIP_REASONS = [
  { key: "1", reason: "I can't judge this topic" },
  { key: "2", reason: "A response is broken or empty" },
  { key: "3", reason: "The prompt is unclear" },
  { key: "4", reason: "Both responses are identical" },
] as const;

export function humanizeCriterion(name: string): string {
  const s = name.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function describeSelection(sel: Selection, scheme: SchemeView): string | null {
  if (!sel.choice) return null;
  if (sel.choice === "tie") return "Tie";
  if (sel.choice === "both_bad") return "Both bad";
  const who = sel.choice === "left" ? "A" : "B";
  if (scheme.strength === "off") return `${who} is better`;
  const s = STRENGTHS.find((x) => x.value === sel.strength);
  return s ? `${who}, ${s.label}` : `${who} is better`;
}

/** The first thing still missing before this selection can be sent, in words; null when complete. */
export function missingPart(sel: Selection, scheme: SchemeView): string | null {
  if (!sel.choice) return "Pick which response is better first.";
  const decisive = sel.choice === "left" || sel.choice === "right";
  if (decisive && scheme.strength !== "off" && sel.strength === null) return "Say how much better (Q W E R).";
  const missing = scheme.criteria.find((c) => !(c in sel.criteria));
  if (missing) return `Choose A, tie or B for ${humanizeCriterion(missing)}.`;
  const min = Math.max(1, scheme.rationale.minLength);
  if (scheme.rationale.mode === "required" && sel.rationale.trim().length < min) {
    return min > 1 ? `Write a rationale of at least ${min} characters.` : "Write a short rationale.";
  }
  return null;
}

export function judgmentBody(sel: Selection, scheme: SchemeView, timeOnTaskMs: number, key: string, rewrites: Rewrite[] = []) {
  const decisive = sel.choice === "left" || sel.choice === "right";
  const body: Record<string, unknown> = { choice: sel.choice, time_on_task_ms: Math.max(0, Math.min(86_400_000, Math.round(timeOnTaskMs))), idempotency_key: key };
  if (scheme.strength !== "off" && decisive) body.strength = sel.strength;
  if (scheme.criteria.length) body.criteria = Object.fromEntries(scheme.criteria.map((c) => [c, sel.criteria[c]]));
  if (scheme.rationale.mode !== "off" && sel.rationale.trim()) body.rationale = sel.rationale.trim();
  if (sel.flags.length) body.flags = sel.flags;
  if (rewrites.length) body.rewrites = rewrites;
  return body;
}
