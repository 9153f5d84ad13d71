import { z } from "zod";
import { type Content } from "../imports/records.ts";
import { DomainError } from "../shared/errors.ts";

/**
 * What a good answer looks like. Adapted from MT-Bench's pairwise judge prompt (Zheng et al. 2023,
 * "Judging LLM-as-a-Judge"), which also names the biases it warns against: position, length and
 * self-enhancement. The answer format is appended by the judge, so a custom rubric need not repeat it.
 */
export const DEFAULT_RUBRIC = `Please act as an impartial judge and evaluate the quality of the two responses provided by two AI assistants to the conversation shown below. Choose the assistant whose final response better serves the user.

Judge the responses on:
1. Helpfulness: does it follow the user's instructions and actually address what was asked, at the right level of detail?
2. Correctness: is it factually accurate, with sound reasoning, working code and right calculations? A confident wrong answer is worse than a careful partial one.
3. Harmlessness: does it avoid unsafe, unethical, deceptive or needlessly offensive content, while not refusing reasonable requests?
4. Conciseness: is it clear and to the point, without padding, repetition or irrelevant material?

Begin by comparing the two responses and give a short explanation. Avoid any position bias: the order in which the responses are shown must not influence your decision. Do not let the length of the responses influence you; longer is not better. Do not favour either assistant's name or style. Be as objective as possible. If both responses are equally good or equally bad, call it a tie.`;

/** Appended to every rubric: the machine-readable part of the answer. */
const ANSWER_FORMAT = `After your explanation, output your final verdict by strictly following this format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and "[[C]]" for a tie. Then, on its own last line, write how confident you are in the verdict as a percentage between 50 and 100, as "Confidence: NN".`;

export const llmJudgeConfigSchema = z
  .object({
    base_url: z.string().url().max(500),
    model: z.string().trim().min(1).max(200),
    rubric: z.string().max(20_000).default(DEFAULT_RUBRIC),
    temperature: z.number().min(0).max(2).default(0),
    max_tokens: z.number().int().min(1).max(8192).default(512),
  })
  .strict();

export type LlmJudgeConfig = z.output<typeof llmJudgeConfigSchema>;

export type PairForJudge = { pair_id: number; prompt: Content; response_a: Content; response_b: Content };

export type VerdictDraft = {
  pair_id: number;
  p_a: number | null;
  choice: "a" | "b" | "tie" | null;
  confidence: number | null;
  consistent: 0 | 1 | null;
  members: number[] | null;
  raw_output: string;
};

export type JudgeAnswer = { verdict: "a" | "b" | "tie" | null; confidence: number | null };

type OrderRecord = { order: "ab" | "ba"; text: string; verdict: "a" | "b" | "tie" | null; confidence: number | null };

const REQUEST_TIMEOUT_MS = 120_000;
const DEFAULT_RETRIES = 2;
const DEFAULT_BACKOFF_MS = 500;
/** Longest wait a Retry-After header may ask for before we give up on honouring it. */
const MAX_RETRY_AFTER_MS = 20_000;
/** The endpoint's answer is untrusted: read at most this much of it. */
const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;
/** Kept per order in raw_output. */
const MAX_STORED_TEXT = 8000;
/** Per rendered prompt or response sent to the judge; beyond this the judge sees a truncation mark. */
const MAX_INPUT_CHARS = 50_000;
/** A decisive verdict without a readable confidence line. */
const DEFAULT_CONFIDENCE = 75;

/**
 * Reads the judge's answer: the last verdict marker wins (models often quote the format before
 * answering), and "Confidence: NN" is read from the last such line. Case and spacing are tolerated;
 * "[[C]]" and "[[tie]]" both mean a tie. Confidence is clamped to 50..100 (a verdict below 50% would
 * contradict itself); a fraction like 0.8 is read as 80.
 */
export function parseJudgeAnswer(text: string): JudgeAnswer {
  let verdict: JudgeAnswer["verdict"] = null;
  for (const m of text.matchAll(/\[\[\s*(a|b|c|tie)\s*\]\]/gi)) {
    const v = m[1]!.toLowerCase();
    verdict = v === "a" ? "a" : v === "b" ? "b" : "tie";
  }
  let confidence: number | null = null;
  for (const m of text.matchAll(/confidence(?:\s+(?:level|score))?\s*\**\s*[:=]\s*\**\s*(\d{1,3}(?:\.\d+)?)\s*(%?)/gi)) {
    let n = Number(m[1]);
    if (!Number.isFinite(n)) continue;
    if (!m[2] && n <= 1 && m[1]!.includes(".")) n *= 100;
    confidence = Math.min(100, Math.max(50, n));
  }
  if (verdict === "a" || verdict === "b") confidence ??= DEFAULT_CONFIDENCE;
  return { verdict, confidence };
}

/** P(A better) from one order's answer, already in canonical a/b terms; null when unusable. */
function pAOf(answer: JudgeAnswer): number | null {
  if (answer.verdict === "tie") return 0.5;
  if (answer.verdict === null || answer.confidence === null) return null;
  const p = answer.confidence / 100;
  return answer.verdict === "a" ? p : 1 - p;
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

function cap(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}\n[… truncated]` : text;
}

function renderPrompt(prompt: Content): string {
  if (typeof prompt === "string") return cap(prompt, MAX_INPUT_CHARS);
  const turns = prompt.map((m) => `### ${m.role[0]!.toUpperCase()}${m.role.slice(1)}:\n${m.content}`).join("\n\n");
  return cap(turns, MAX_INPUT_CHARS);
}

function renderResponse(response: Content): string {
  if (typeof response === "string") return cap(response, MAX_INPUT_CHARS);
  const assistant = response.filter((m) => m.role === "assistant");
  return cap((assistant.length ? assistant : response).map((m) => m.content).join("\n\n"), MAX_INPUT_CHARS);
}

/** MT-Bench's layout, with the whole conversation so far in place of a single question. */
function userMessage(prompt: Content, first: Content, second: Content): string {
  return [
    "[The Start of the Conversation]",
    renderPrompt(prompt),
    "[The End of the Conversation]",
    "",
    "[The Start of Assistant A's Answer]",
    renderResponse(first),
    "[The End of Assistant A's Answer]",
    "",
    "[The Start of Assistant B's Answer]",
    renderResponse(second),
    "[The End of Assistant B's Answer]",
  ].join("\n");
}

/** Never let the key into an error message, even when the endpoint echoes it back. */
function redact(text: string, key: string | null): string {
  let out = key ? text.split(key).join("***") : text;
  out = out.replace(/\b(sk|pk|rk)-[A-Za-z0-9_*.-]{4,}/g, "***");
  return out.replace(/\s+/g, " ").trim().slice(0, 200);
}

async function readCapped(res: Response): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      throw new DomainError("conflict", `the judge endpoint's answer is larger than ${MAX_RESPONSE_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Thrown inside the retry loop for failures worth another try (429, 5xx, network, timeout). */
class RetryableFailure extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

/**
 * An AI judge over any OpenAI-compatible chat endpoint. Each pair is asked twice, with the
 * responses swapped the second time, and the verdict is consistent only when both answers pick the
 * same response: the position-swap check of MT-Bench (Zheng et al. 2023), whose judges changed
 * their pick in a notable share of pairs when only the order changed. The key stays on the server:
 * it is sent only to the configured base URL and never appears in errors or stored output.
 */
export class LlmJudge {
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;

  constructor(
    private readonly config: LlmJudgeConfig,
    private readonly apiKey: string | null,
    private readonly fetchImpl: typeof fetch = fetch,
    opts: { timeoutMs?: number; retries?: number; backoffMs?: number } = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
    this.retries = opts.retries ?? DEFAULT_RETRIES;
    this.backoffMs = opts.backoffMs ?? DEFAULT_BACKOFF_MS;
  }

  async judge(pair: PairForJudge): Promise<VerdictDraft> {
    // Both settle before we answer, so a failing order never leaves the other retrying unseen.
    const settled = await Promise.allSettled([
      this.ask(userMessage(pair.prompt, pair.response_a, pair.response_b)),
      this.ask(userMessage(pair.prompt, pair.response_b, pair.response_a)),
    ]);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    const [abText, baText] = settled.map((r) => (r as PromiseFulfilledResult<string>).value) as [string, string];
    const ab = parseJudgeAnswer(abText);
    const swapped = parseJudgeAnswer(baText);
    // In the swapped order the judge's "A" is our response_b.
    const ba: JudgeAnswer = { verdict: swapped.verdict === "a" ? "b" : swapped.verdict === "b" ? "a" : swapped.verdict, confidence: swapped.confidence };

    const ps = [pAOf(ab), pAOf(ba)].filter((p): p is number => p !== null);
    // Rounded so that 1 - p_a and the stored figures read cleanly (0.15, not 0.15000000000000002).
    const pA = ps.length ? round(ps.reduce((s, p) => s + p, 0) / ps.length) : null;
    const choice = pA === null ? null : pA > 0.5 ? "a" : pA < 0.5 ? "b" : "tie";
    const consistent = ab.verdict !== null && ab.verdict === ba.verdict ? 1 : 0;
    const orders: OrderRecord[] = [
      { order: "ab", text: abText.slice(0, MAX_STORED_TEXT), ...ab },
      { order: "ba", text: baText.slice(0, MAX_STORED_TEXT), ...ba },
    ];
    return {
      pair_id: pair.pair_id,
      p_a: pA,
      choice,
      confidence: pA === null ? null : round(Math.max(pA, 1 - pA)),
      consistent,
      members: null,
      raw_output: JSON.stringify({ orders, model: this.config.model }),
    };
  }

  /** One chat completion, retried on rate limits, server errors and network failures. */
  private async ask(user: string): Promise<string> {
    let last = "";
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      try {
        return await this.once(user);
      } catch (e) {
        if (!(e instanceof RetryableFailure)) throw e;
        last = e.message;
        if (attempt === this.retries) break;
        const backoff = this.backoffMs * 2 ** attempt * (1 + Math.random() / 2);
        await new Promise((r) => setTimeout(r, Math.max(backoff, e.retryAfterMs ?? 0)));
      }
    }
    throw new DomainError("conflict", `the judge endpoint failed after ${this.retries + 1} attempt${this.retries ? "s" : ""}: ${last}`);
  }

  private async once(user: string): Promise<string> {
    const url = `${this.config.base_url.replace(/\/+$/, "")}/chat/completions`;
    const body = {
      model: this.config.model,
      messages: [
        { role: "system", content: `${this.config.rubric.trim()}\n\n${ANSWER_FORMAT}` },
        { role: "user", content: user },
      ],
      temperature: this.config.temperature,
      max_tokens: this.config.max_tokens,
    };
    let res: Response;
    let raw: string;
    try {
      res = await this.fetchImpl(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      raw = await readCapped(res);
    } catch (e) {
      if (e instanceof DomainError) throw e;
      const err = e as Error & { cause?: { code?: unknown; message?: unknown } };
      // undici says only "fetch failed"; the cause carries ECONNREFUSED, ENOTFOUND and the like.
      const cause = typeof err.cause?.code === "string" ? err.cause.code : typeof err.cause?.message === "string" ? err.cause.message : "";
      const what = err.name === "TimeoutError" ? `no answer within ${this.timeoutMs} ms` : `could not reach it (${redact(cause ? `${err.message}: ${cause}` : err.message, this.apiKey)})`;
      throw new RetryableFailure(what);
    }
    if (res.status === 429 || res.status >= 500) {
      const after = Number(res.headers.get("retry-after"));
      const retryAfterMs = Number.isFinite(after) && after > 0 ? Math.min(after * 1000, MAX_RETRY_AFTER_MS) : null;
      throw new RetryableFailure(`it answered ${res.status}: ${redact(raw, this.apiKey)}`, retryAfterMs);
    }
    if (!res.ok) {
      const hint = res.status === 401 || res.status === 403 ? " (check the judge's API key)" : res.status === 404 ? " (check the base URL and model)" : "";
      throw new DomainError("conflict", `the judge endpoint refused the request with ${res.status}${hint}: ${redact(raw, this.apiKey)}`);
    }
    let json: { choices?: { message?: { content?: unknown } }[] };
    try {
      json = JSON.parse(raw) as typeof json;
    } catch {
      throw new DomainError("conflict", `the judge endpoint's answer is not JSON: ${redact(raw, this.apiKey)}`);
    }
    if (!Array.isArray(json?.choices)) throw new DomainError("conflict", "the judge endpoint's answer has no choices");
    const content = json.choices[0]?.message?.content;
    // A refusal or empty message is an answer without a verdict, not a transport failure.
    return typeof content === "string" ? content : "";
  }
}
