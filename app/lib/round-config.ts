import { type RoundConfig } from "../../server/domain/rounds/round-service";

/**
 * The training-settings form: one entry per roundConfigSchema field (server/domain/rounds/
 * round-service.ts), with the one-line explanation shown under the input. Typed as a Record over
 * the config's keys, so a field added on the server fails `tsc` here until the form knows it.
 */
export type ConfigKey = keyof RoundConfig;

type FieldSpec =
  | { kind: "number"; label: string; help: string; min?: number; max?: number; step?: number; integer?: boolean }
  | { kind: "boolean"; label: string; help: string }
  | { kind: "select"; label: string; help: string; options: { value: string; label: string }[] }
  | { kind: "json"; label: string; help: string; placeholder: string };

export const CONFIG_FIELDS: Record<ConfigKey, FieldSpec> = {
  replay_previous: { kind: "boolean", label: "Replay every judgment so far", help: "Train on all judgments (on) or only on the previous round's pairs (off)." },
  prompts_source: {
    kind: "select",
    label: "Prompts from",
    help: "The project's imported prompts, or the built-in verifiable task.",
    options: [
      { value: "project", label: "Project prompts" },
      { value: "task", label: "Built-in task" },
    ],
  },
  ppo_reward: {
    kind: "select",
    label: "PPO reward",
    help: "The freshly trained reward model, or the task's checker (demo, tests).",
    options: [
      { value: "reward_model", label: "Reward model" },
      { value: "task", label: "Task checker" },
    ],
  },
  ppo_prompts: { kind: "number", label: "PPO prompts", help: "Prompts PPO trains on this round.", min: 1, max: 100_000, integer: true },
  eval_prompts: { kind: "number", label: "Evaluation prompts", help: "Held-out prompts for the candidate's score and KL.", min: 1, max: 5000, integer: true },
  ab_prompts: { kind: "number", label: "A/B prompts", help: "Held-out prompts for the human candidate-vs-champion test.", min: 1, max: 5000, integer: true },
  fresh_prompts: { kind: "number", label: "Fresh prompts", help: "Prompts the candidate samples for the next round's comparisons.", min: 0, max: 50_000, integer: true },
  win_rate_threshold: { kind: "number", label: "Win-rate threshold", help: "Promote when the A/B win rate (ties count half) reaches this (0–1).", min: 0, max: 1, step: 0.01 },
  auto_promote: { kind: "boolean", label: "Decide automatically", help: "Decide as soon as every A/B pair is fully judged." },
  temperature: { kind: "number", label: "Temperature", help: "Sampling temperature for generation.", min: 0, max: 5, step: 0.05 },
  top_p: { kind: "number", label: "Top-p", help: "Nucleus sampling; 1 keeps the whole distribution.", min: 0.01, max: 1, step: 0.01 },
  max_new_tokens: { kind: "number", label: "Max new tokens", help: "Longest response generated.", min: 1, max: 8192, integer: true },
  seed: { kind: "number", label: "Seed", help: "Seeds sampling and prompt selection, for reruns.", min: 0, integer: true },
  reward: { kind: "json", label: "Reward-model overrides", help: "JSON object for the trainer's reward config: learning_rate, num_epochs, lora_r, …", placeholder: '{ "learning_rate": 1e-5, "num_epochs": 1 }' },
  label_source: {
    kind: "select",
    label: "Reward-model labels",
    help: "People's judgments only, or people's and the AI judges' accepted labels.",
    options: [
      { value: "human", label: "People only" },
      { value: "all", label: "People and AI labels" },
    ],
  },
  sft_on_rewrites: { kind: "boolean", label: "SFT on rewrites", help: "Fine-tune the champion on annotators' rewrites before PPO (skipped when there are none)." },
  sft: { kind: "json", label: "SFT overrides", help: "JSON object for the trainer's SFT config: learning_rate, num_epochs, lora_r, …", placeholder: '{ "learning_rate": 2e-5, "num_epochs": 2 }' },
  ppo: { kind: "json", label: "PPO overrides", help: "JSON object for the trainer's PPO config: kl_coef, target_kl, cliprange, gamma, lam, …", placeholder: '{ "kl_coef": 0.05, "target_kl": 6 }' },
};

export const CONFIG_GROUPS: { title: string; keys: ConfigKey[] }[] = [
  { title: "Data", keys: ["replay_previous", "prompts_source", "ppo_reward", "label_source", "sft_on_rewrites"] },
  { title: "Prompts", keys: ["ppo_prompts", "eval_prompts", "ab_prompts", "fresh_prompts"] },
  { title: "Promotion", keys: ["win_rate_threshold", "auto_promote"] },
  { title: "Sampling", keys: ["temperature", "top_p", "max_new_tokens", "seed"] },
  { title: "Trainer overrides", keys: ["reward", "sft", "ppo"] },
];

/** An override map: a JSON object whose values are numbers, strings or booleans. Returns an error sentence or the map. */
export function parseOverrides(raw: string): { value: Record<string, number | string | boolean> } | { error: string } {
  const text = raw.trim();
  if (text === "") return { value: {} };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { error: `Not valid JSON: ${(e as Error).message.replace(/^JSON\.parse: /, "")}` };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { error: 'Write a JSON object, e.g. { "learning_rate": 1e-5 }.' };
  for (const [k, x] of Object.entries(v)) {
    if (!["number", "string", "boolean"].includes(typeof x)) return { error: `"${k}" must be a number, string or true/false.` };
  }
  return { value: v as Record<string, number | string | boolean> };
}

/** Form fields → the body rounds.start takes, plus per-field messages for what cannot be read. */
export function configFromForm(fd: FormData): { config: Record<string, unknown>; fields: Record<string, string> } {
  const config: Record<string, unknown> = {};
  const fields: Record<string, string> = {};
  for (const [key, spec] of Object.entries(CONFIG_FIELDS) as [ConfigKey, FieldSpec][]) {
    const raw = fd.get(key);
    if (spec.kind === "boolean") config[key] = raw === "on" || raw === "true";
    else if (spec.kind === "select") config[key] = String(raw ?? "");
    else if (spec.kind === "json") {
      const r = parseOverrides(String(raw ?? ""));
      if ("error" in r) fields[key] = r.error;
      else config[key] = r.value;
    } else {
      const text = String(raw ?? "").trim();
      const n = Number(text);
      if (text === "" || !Number.isFinite(n)) fields[key] = "Enter a number.";
      else if (spec.integer && !Number.isInteger(n)) fields[key] = "Enter a whole number.";
      else config[key] = n;
    }
  }
  return { config, fields };
}
