/** Browser-side helpers for the hybrid human–AI pages: form parsing and labels. */
import { type HybridSettings } from "../../server/domain/judges/hybrid-settings";
import { type AssistHint, type JudgeKindName } from "../../server/domain/judges/types";

export const JUDGE_KIND_LABEL: Record<JudgeKindName, string> = { reward_model: "Reward model", llm: "LLM" };

export const STRATEGY_LABEL: Record<string, string> = {
  off: "Completion order",
  order: "Completion order",
  random: "Random share",
  gold: "Gold questions",
  audit: "Audit of AI labels",
  uncertainty: "Uncertainty",
  disagreement: "Judge disagreement",
  ensemble: "Ensemble spread",
  combined: "Combined",
};

/** The AI's pick in the annotator's terms: the screen calls the responses A and B, never models. */
export function assistText(h: AssistHint): string {
  const who = h.choice === "left" ? "A" : h.choice === "right" ? "B" : "Tie";
  return `${who} (${Math.round(h.confidence * 100)}%)`;
}

/** Field issues from the server keyed by their full path ("routing.threshold", "config.base_url"). */
export function errorsByPath(fields: { path: string; message: string }[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields ?? []) out[f.path] ??= f.message;
  return out;
}

/** Reads a number field; a blank or malformed entry becomes a field error instead of NaN. */
function num(fd: FormData, name: string, errors: Record<string, string>, opts: { integer?: boolean } = {}): number | undefined {
  const raw = String(fd.get(name) ?? "").trim();
  if (raw === "") {
    errors[name] = "Enter a number.";
    return undefined;
  }
  const n = Number(raw);
  if (!Number.isFinite(n) || (opts.integer && !Number.isInteger(n))) {
    errors[name] = opts.integer ? "Enter a whole number." : "Enter a number.";
    return undefined;
  }
  return n;
}

const ids = (fd: FormData, name: string) =>
  fd
    .getAll(name)
    .map((v) => Number(v))
    .filter((n) => Number.isInteger(n) && n > 0);

/** The hybrid settings form → the PUT body, with blank or malformed numbers reported per field. */
export function hybridFromForm(fd: FormData): { body: unknown; fields: Record<string, string> } {
  const fields: Record<string, string> = {};
  const assistJudge = String(fd.get("assist.judgeId") ?? "");
  const body = {
    routing: {
      enabled: fd.get("routing.enabled") === "on",
      threshold: num(fd, "routing.threshold", fields),
      requireConsistent: fd.get("routing.requireConsistent") === "on",
      auditShare: num(fd, "routing.auditShare", fields),
      minAudits: num(fd, "routing.minAudits", fields),
      judgeIds: ids(fd, "routing.judgeIds"),
    },
    activeLearning: {
      strategy: String(fd.get("activeLearning.strategy") ?? "off"),
      randomShare: num(fd, "activeLearning.randomShare", fields),
    },
    agreementAlert: {
      threshold: num(fd, "agreementAlert.threshold", fields),
      minPairs: num(fd, "agreementAlert.minPairs", fields, { integer: true }),
    },
    assist: {
      mode: String(fd.get("assist.mode") ?? "off"),
      share: num(fd, "assist.share", fields),
      judgeId: assistJudge ? Number(assistJudge) : null,
    },
    rewrites: { mode: String(fd.get("rewrites.mode") ?? "off") },
  } satisfies Record<keyof HybridSettings, unknown>;
  return { body, fields };
}

/** The judge form → the POST/PUT body. The key is sent only when typed (or cleared on purpose). */
export function judgeFromForm(fd: FormData): { body: Record<string, unknown>; fields: Record<string, string> } {
  const fields: Record<string, string> = {};
  const kind = String(fd.get("kind") ?? "llm");
  const body: Record<string, unknown> = { kind, name: String(fd.get("name") ?? "").trim() };
  if (kind === "reward_model") {
    body.config = { checkpoint_ids: ids(fd, "config.checkpoint_ids") };
  } else {
    body.config = {
      base_url: String(fd.get("config.base_url") ?? "").trim(),
      model: String(fd.get("config.model") ?? "").trim(),
      rubric: String(fd.get("config.rubric") ?? ""),
      temperature: num(fd, "config.temperature", fields),
      max_tokens: num(fd, "config.max_tokens", fields, { integer: true }),
    };
    const key = String(fd.get("api_key") ?? "");
    if (fd.get("clear_api_key") === "on") body.api_key = "";
    else if (key.trim()) body.api_key = key.trim();
  }
  return { body, fields };
}
