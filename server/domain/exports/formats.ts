import { type Content, type Message } from "../imports/records.ts";

export const PAIR_FORMATS = ["trl", "trl-chat", "openai", "hh", "sft"] as const;
export type PairFormat = (typeof PAIR_FORMATS)[number];

export function toMessages(c: Content, defaultRole: Message["role"]): Message[] {
  return typeof c === "string" ? [{ role: defaultRole, content: c }] : c;
}

/** Plain text of a response: a string as is, a message list as its contents joined. */
export function responseText(c: Content): string {
  return typeof c === "string" ? c : c.map((m) => m.content).join("\n\n");
}

const ROLE_LABEL: Record<Message["role"], string> = { system: "System", user: "User", assistant: "Assistant", tool: "Tool" };

/** A chat prompt flattened for TRL's standard (text) format: "User: …\n\nAssistant:" style turns. */
export function promptText(c: Content): string {
  if (typeof c === "string") return c;
  return c.map((m) => `${ROLE_LABEL[m.role]}: ${m.content}`).join("\n\n");
}

/** Anthropic HH transcript: "\n\nHuman: …\n\nAssistant: …"; a system message leads the first human turn. */
export function hhTranscript(prompt: Content, response: Content): string {
  const msgs = toMessages(prompt, "user");
  let out = "";
  let pendingSystem = "";
  for (const m of msgs) {
    if (m.role === "system") pendingSystem += `${m.content}\n\n`;
    else if (m.role === "assistant") out += `\n\nAssistant: ${m.content}`;
    else {
      out += `\n\nHuman: ${pendingSystem}${m.content}`;
      pendingSystem = "";
    }
  }
  return `${out}\n\nAssistant: ${responseText(response)}`;
}

/**
 * Llama 2's margin (Touvron et al. 2023, Table 28, "margin large"): significantly better 3,
 * better 2, slightly better 1, negligibly better 0. `meanLevel` is the mean strength level (1..4).
 */
export function marginFromStrength(meanLevel: number): number {
  if (!meanLevel) return 0;
  return Math.round((meanLevel - 1) * 1000) / 1000;
}

export type PairRow = { prompt: Content; chosen: Content; rejected: Content; margin?: number; weight?: number };

export function formatPairRow(format: PairFormat, r: PairRow): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  if (r.margin !== undefined) extra.margin = r.margin;
  if (r.weight !== undefined) extra.weight = r.weight;
  switch (format) {
    case "trl":
      return { prompt: promptText(r.prompt), chosen: responseText(r.chosen), rejected: responseText(r.rejected), ...extra };
    case "trl-chat":
      return {
        prompt: toMessages(r.prompt, "user"),
        chosen: [{ role: "assistant", content: responseText(r.chosen) }],
        rejected: [{ role: "assistant", content: responseText(r.rejected) }],
        ...extra,
      };
    case "openai":
      return {
        input: { messages: toMessages(r.prompt, "user") },
        preferred_output: [{ role: "assistant", content: responseText(r.chosen) }],
        non_preferred_output: [{ role: "assistant", content: responseText(r.rejected) }],
      };
    case "hh":
      return { chosen: hhTranscript(r.prompt, r.chosen), rejected: hhTranscript(r.prompt, r.rejected) };
    case "sft":
      return typeof r.prompt === "string"
        ? { prompt: r.prompt, completion: responseText(r.chosen) }
        : { messages: [...r.prompt, { role: "assistant", content: responseText(r.chosen) }] };
  }
}

/** RFC 4180 CSV field. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
