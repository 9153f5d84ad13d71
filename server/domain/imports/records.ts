import { z } from "zod";

export const MAX_TEXT_CHARS = 200_000;

export const messageSchema = z
  .object({
    role: z.enum(["system", "user", "assistant", "tool"]),
    content: z.string().max(MAX_TEXT_CHARS),
  })
  .passthrough()
  .transform((m) => ({ role: m.role, content: m.content }));

export type Message = { role: "system" | "user" | "assistant" | "tool"; content: string };
/** A prompt or a response: plain text, or a chat transcript. */
export type Content = string | Message[];

const contentSchema = z.union([z.string().min(1, "must not be empty").max(MAX_TEXT_CHARS), z.array(messageSchema).min(1, "must not be empty")]);
const modelSchema = z.string().trim().min(1).max(200).optional().nullable();
const metadataSchema = z
  .record(z.unknown())
  .optional()
  .nullable()
  .refine((m) => m == null || JSON.stringify(m).length <= 16_384, "metadata must be at most 16 KB as JSON");

export type PairRecord = {
  prompt: Content;
  responseA: Content;
  responseB: Content;
  modelA: string | null;
  modelB: string | null;
  metadata: Record<string, unknown> | null;
  /** The known answer, when the source carries one (TRL chosen/rejected, HH, or given). */
  reference: "a" | "b" | "tie" | "both_bad" | null;
  /** Use the pair as a gold question (needs a reference). */
  gold: boolean;
};

const explicitPair = z
  .object({
    prompt: contentSchema,
    response_a: contentSchema,
    response_b: contentSchema,
    model_a: modelSchema,
    model_b: modelSchema,
    metadata: metadataSchema,
    reference: z.enum(["a", "b", "tie", "both_bad"]).optional().nullable(),
    gold: z.boolean().optional(),
  })
  .strict()
  .refine((p) => !p.gold || p.reference, { message: "a gold pair needs a reference answer", path: ["reference"] });

const trlPair = z
  .object({
    prompt: contentSchema,
    chosen: contentSchema,
    rejected: contentSchema,
    metadata: metadataSchema,
    margin: z.number().optional(),
    weight: z.number().optional(),
    id: z.union([z.string(), z.number()]).optional(),
  })
  .strict();

const hhPair = z
  .object({
    chosen: contentSchema,
    rejected: contentSchema,
    metadata: metadataSchema,
    id: z.union([z.string(), z.number()]).optional(),
  })
  .strict();

export const promptRecordSchema = z
  .object({ prompt: contentSchema, metadata: metadataSchema, id: z.union([z.string(), z.number()]).optional() })
  .strict();

export type PromptRecord = { prompt: Content; metadata: Record<string, unknown> | null };

type Result<T> = { ok: true; value: T } | { ok: false; message: string };

function describe(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message))
    .join("; ");
}

const HH_HUMAN = "\n\nHuman:";
const HH_ASSISTANT = "\n\nAssistant:";

/** Splits an Anthropic HH transcript ("\n\nHuman: …\n\nAssistant: …") into messages. */
export function parseHhTranscript(text: string): Message[] | null {
  const re = /\n\n(Human|Assistant):/g;
  const marks = [...text.matchAll(re)];
  if (marks.length === 0 || marks[0]!.index !== 0) return null;
  return marks.map((m, i) => {
    const start = m.index! + m[0].length;
    const end = i + 1 < marks.length ? marks[i + 1]!.index! : text.length;
    return { role: m[1] === "Human" ? "user" : "assistant", content: text.slice(start, end).trim() } as Message;
  });
}

/**
 * HH pairs share the whole conversation except the final assistant turn: the shared prefix
 * becomes the prompt and the last assistant turns become the two responses.
 */
export function splitHh(chosen: Content, rejected: Content): Result<{ prompt: Message[]; chosen: Content; rejected: Content }> {
  const c = typeof chosen === "string" ? parseHhTranscript(chosen.startsWith("\n\n") ? chosen : `\n\n${chosen.trimStart()}`) : chosen;
  const r = typeof rejected === "string" ? parseHhTranscript(rejected.startsWith("\n\n") ? rejected : `\n\n${rejected.trimStart()}`) : rejected;
  if (!c || !r) return { ok: false, message: `HH transcripts must be "${HH_HUMAN.trim()} … ${HH_ASSISTANT.trim()} …" text or message lists` };
  const lastC = c[c.length - 1];
  const lastR = r[r.length - 1];
  if (!lastC || !lastR || lastC.role !== "assistant" || lastR.role !== "assistant") {
    return { ok: false, message: "HH transcripts must end with an assistant turn" };
  }
  const prefixC = c.slice(0, -1);
  const prefixR = r.slice(0, -1);
  const same = prefixC.length === prefixR.length && prefixC.every((m, i) => m.role === prefixR[i]!.role && m.content === prefixR[i]!.content);
  if (!same || prefixC.length === 0) return { ok: false, message: "chosen and rejected must share the conversation up to the final assistant turn" };
  if (!lastC.content || !lastR.content) return { ok: false, message: "final assistant turns must not be empty" };
  return { ok: true, value: { prompt: prefixC, chosen: lastC.content, rejected: lastR.content } };
}

/** Accepts the three pair shapes the issue names and normalizes them to one record. */
export function normalizePairRecord(raw: unknown, opts: { keepReference: boolean } = { keepReference: true }): Result<PairRecord> {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return { ok: false, message: "expected a JSON object" };
  const obj = raw as Record<string, unknown>;
  if ("response_a" in obj || "response_b" in obj) {
    const p = explicitPair.safeParse(obj);
    if (!p.success) return { ok: false, message: describe(p.error) };
    const v = p.data;
    return {
      ok: true,
      value: {
        prompt: v.prompt,
        responseA: v.response_a,
        responseB: v.response_b,
        modelA: v.model_a ?? null,
        modelB: v.model_b ?? null,
        metadata: v.metadata ?? null,
        reference: opts.keepReference || v.gold ? (v.reference ?? null) : null,
        gold: v.gold ?? false,
      },
    };
  }
  if ("chosen" in obj && "prompt" in obj) {
    const p = trlPair.safeParse(obj);
    if (!p.success) return { ok: false, message: describe(p.error) };
    const v = p.data;
    const extra: Record<string, unknown> = {};
    if (v.margin !== undefined) extra.margin = v.margin;
    if (v.weight !== undefined) extra.weight = v.weight;
    if (v.id !== undefined) extra.source_id = v.id;
    const metadata = v.metadata || Object.keys(extra).length ? { ...(v.metadata ?? {}), ...extra } : null;
    return {
      ok: true,
      value: { prompt: v.prompt, responseA: v.chosen, responseB: v.rejected, modelA: null, modelB: null, metadata, reference: opts.keepReference ? "a" : null, gold: false },
    };
  }
  if ("chosen" in obj) {
    const p = hhPair.safeParse(obj);
    if (!p.success) return { ok: false, message: describe(p.error) };
    const split = splitHh(p.data.chosen, p.data.rejected);
    if (!split.ok) return split;
    const metadata = p.data.metadata || p.data.id !== undefined ? { ...(p.data.metadata ?? {}), ...(p.data.id !== undefined ? { source_id: p.data.id } : {}) } : null;
    return {
      ok: true,
      value: {
        prompt: split.value.prompt,
        responseA: split.value.chosen,
        responseB: split.value.rejected,
        modelA: null,
        modelB: null,
        metadata,
        reference: opts.keepReference ? "a" : null,
        gold: false,
      },
    };
  }
  return { ok: false, message: "unrecognized shape: expected {prompt, response_a, response_b}, {prompt, chosen, rejected} or {chosen, rejected}" };
}

export function normalizePromptRecord(raw: unknown): Result<PromptRecord> {
  const p = promptRecordSchema.safeParse(raw);
  if (!p.success) return { ok: false, message: describe(p.error) };
  const metadata = p.data.metadata || p.data.id !== undefined ? { ...(p.data.metadata ?? {}), ...(p.data.id !== undefined ? { source_id: p.data.id } : {}) } : null;
  return { ok: true, value: { prompt: p.data.prompt, metadata } };
}

/**
 * CSV cells are text; a prompt or response cell holding a JSON message list is read as one, and
 * `metadata` is a JSON object. Empty optional cells mean "absent".
 */
export function csvRowToObject(row: Record<string, string>): Result<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    const key = k.trim();
    if (!key) continue;
    if (v === "" && key !== "prompt" && key !== "response_a" && key !== "response_b" && key !== "chosen" && key !== "rejected") continue;
    if (key === "metadata") {
      try {
        out.metadata = JSON.parse(v);
      } catch {
        return { ok: false, message: "metadata: not valid JSON" };
      }
    } else if (key === "margin" || key === "weight") {
      const n = Number(v);
      if (!Number.isFinite(n)) return { ok: false, message: `${key}: not a number` };
      out[key] = n;
    } else if (v.trimStart().startsWith("[{")) {
      try {
        out[key] = JSON.parse(v);
      } catch {
        out[key] = v;
      }
    } else {
      out[key] = v;
    }
  }
  return { ok: true, value: out };
}
