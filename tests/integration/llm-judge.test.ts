import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_RUBRIC, LlmJudge, llmJudgeConfigSchema, type PairForJudge } from "../../server/domain/judges/llm-judge.ts";
import { DomainError } from "../../server/domain/shared/errors.ts";

type Seen = { url: string | undefined; auth: string | undefined; body: any; slotA: string; slotB: string };

let fake: Server | null = null;
afterEach(async () => {
  if (fake) {
    fake.closeAllConnections();
    await new Promise<void>((r) => fake!.close(() => r()));
  }
  fake = null;
});

function between(text: string, start: string, end: string): string {
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  return i >= 0 && j > i ? text.slice(i + start.length, j).trim() : "";
}

/**
 * A scripted OpenAI-compatible judge served over real HTTP. The model name picks the judge's
 * character; its answer depends on what it was shown in the Assistant A / Assistant B slots.
 */
async function serveJudge(): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  let calls = 0;
  fake = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const body = JSON.parse(raw);
      const user = body.messages.at(-1).content as string;
      const slotA = between(user, "[The Start of Assistant A's Answer]", "[The End of Assistant A's Answer]");
      const slotB = between(user, "[The Start of Assistant B's Answer]", "[The End of Assistant B's Answer]");
      seen.push({ url: req.url, auth: req.headers.authorization, body, slotA, slotB });
      calls++;
      const reply = (content: string) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ id: "x", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }] }));
      };
      const better = slotA.includes("correct") ? "A" : slotB.includes("correct") ? "B" : "C";
      switch (body.model) {
        case "prefers-correct":
          return reply(`Assistant ${better} is right; the other is wrong. Format reminder: [[A]], [[B]] or [[C]].\n\n[[${better}]]\nConfidence: 90`);
        case "prefers-correct-no-confidence":
          return reply(`Final verdict: [[ ${better.toLowerCase()} ]]`);
        case "always-a":
          return reply("The first answer reads better.\n[[A]]\nConfidence: 80%");
        case "tie":
          return reply("Both are equally good. [[C]]\nConfidence: 60");
        case "garbage":
          return reply("I think they are both fine, hard to say. {{A}} [A] Confidence");
        case "decisive-only-when-correct-first":
          return reply(better === "A" ? "[[A]]\n**Confidence:** 70" : "Hmm. Not sure.");
        case "verbose":
          return reply(`${"Long deliberation. ".repeat(2000)}\n[[${better}]]\nConfidence: 95`);
        case "flaky":
          if (calls === 1) {
            res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "upstream overloaded" } }));
            return;
          }
          return reply(`[[${better}]]\nConfidence: 90`);
        case "always-503":
          res.writeHead(503).end("service unavailable");
          return;
        case "unauthorized":
          res.writeHead(401, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${req.headers.authorization?.replace("Bearer ", "")}`, code: "invalid_api_key" } }));
          return;
        case "silent":
          return; // never answers: the client must time out
        default:
          res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((r) => fake!.listen(0, "127.0.0.1", () => r()));
  const addr = fake.address();
  return { url: `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/v1`, seen };
}

const KEY = "sk-judge-secret-key-9876543210";
const pair: PairForJudge = { pair_id: 7, prompt: "What is 2+2?", response_a: "It is 5.", response_b: "It is 4, which is correct." };

function judgeFor(url: string, model: string, opts: { key?: string | null; rubric?: string; retries?: number; timeoutMs?: number } = {}) {
  const config = llmJudgeConfigSchema.parse({ base_url: url, model, ...(opts.rubric ? { rubric: opts.rubric } : {}) });
  return new LlmJudge(config, opts.key === undefined ? KEY : opts.key, fetch, { retries: opts.retries ?? 2, backoffMs: 1, timeoutMs: opts.timeoutMs ?? 5000 });
}

describe("LLM judge over an OpenAI-compatible endpoint", () => {
  it("asks in both orders and maps the swapped answer back: a consistent pick of response B", async () => {
    const ep = await serveJudge();
    const rubric = "Prefer the factually correct answer. RUBRIC-MARKER-42.";
    const v = await judgeFor(`${ep.url}/`, "prefers-correct", { rubric }).judge(pair);

    expect(v).toMatchObject({ pair_id: 7, choice: "b", consistent: 1, members: null });
    expect(v.p_a).toBeCloseTo(0.1, 9);
    expect(v.confidence).toBeCloseTo(0.9, 9);

    expect(ep.seen, "one request per order").toHaveLength(2);
    for (const r of ep.seen) {
      expect(r.url, "trailing slash of base_url stripped").toBe("/v1/chat/completions");
      expect(r.auth).toBe(`Bearer ${KEY}`);
      expect(r.body).toMatchObject({ model: "prefers-correct", temperature: 0, max_tokens: 512 });
      expect(r.body.messages.map((m: { role: string }) => m.role)).toEqual(["system", "user"]);
      expect(r.body.messages[0].content).toContain("RUBRIC-MARKER-42");
      expect(r.body.messages[0].content, "answer format always appended to the rubric").toMatch(/\[\[A\]\].*\[\[B\]\].*\[\[C\]\][\s\S]*Confidence: NN/);
      expect(r.body.messages[1].content).toContain("What is 2+2?");
    }
    const slots = ep.seen.map((r) => [r.slotA, r.slotB]);
    expect(slots, "A/B in one request, B/A in the other").toEqual(
      expect.arrayContaining([
        ["It is 5.", "It is 4, which is correct."],
        ["It is 4, which is correct.", "It is 5."],
      ]),
    );

    const raw = JSON.parse(v.raw_output);
    expect(raw.model).toBe("prefers-correct");
    expect(raw.orders.map((o: { order: string }) => o.order)).toEqual(["ab", "ba"]);
    expect(raw.orders[0]).toMatchObject({ verdict: "b", confidence: 90 });
    // The judge literally answered [[A]] in the swapped order; that is response B.
    expect(raw.orders[1].text).toMatch(/\[\[A\]\]\s*Confidence: 90$/);
    expect(raw.orders[1]).toMatchObject({ verdict: "b", confidence: 90 });
  });

  it("picks response A when A is the correct one", async () => {
    const ep = await serveJudge();
    const v = await judgeFor(ep.url, "prefers-correct").judge({ ...pair, response_a: "Four: correct.", response_b: "Five." });
    expect(v.choice).toBe("a");
    expect(v.consistent).toBe(1);
    expect(v.p_a).toBeCloseTo(0.9, 9);
  });

  it("marks a position-biased judge inconsistent: [[A]] in both orders cancels out", async () => {
    const ep = await serveJudge();
    const v = await judgeFor(ep.url, "always-a").judge(pair);
    expect(v.consistent).toBe(0);
    expect(v.p_a).toBeCloseTo(0.5, 9); // 0.8 for a, then 0.8 for b: mean 0.5
    expect(v.choice).toBe("tie");
    expect(v.confidence).toBeCloseTo(0.5, 9);
    const raw = JSON.parse(v.raw_output);
    expect(raw.orders.map((o: { verdict: string }) => o.verdict)).toEqual(["a", "b"]);
  });

  it("reads [[C]] as a consistent tie at p_a 0.5", async () => {
    const ep = await serveJudge();
    const v = await judgeFor(ep.url, "tie").judge(pair);
    expect(v).toMatchObject({ choice: "tie", consistent: 1, p_a: 0.5, confidence: 0.5 });
  });

  it("defaults a decisive verdict without a confidence line to 75 and tolerates case and spaces", async () => {
    const ep = await serveJudge();
    const v = await judgeFor(ep.url, "prefers-correct-no-confidence").judge(pair);
    expect(v).toMatchObject({ choice: "b", consistent: 1, p_a: 0.25, confidence: 0.75 });
  });

  it("gives no choice when neither answer carries a verdict", async () => {
    const ep = await serveJudge();
    const v = await judgeFor(ep.url, "garbage").judge(pair);
    expect(v).toMatchObject({ pair_id: 7, p_a: null, choice: null, confidence: null, consistent: 0 });
    const raw = JSON.parse(v.raw_output);
    expect(raw.orders.map((o: { verdict: unknown }) => o.verdict)).toEqual([null, null]);
    expect(raw.orders[0].text).toContain("hard to say");
  });

  it("uses the one usable order but marks the verdict inconsistent", async () => {
    const ep = await serveJudge();
    const v = await judgeFor(ep.url, "decisive-only-when-correct-first").judge({ ...pair, response_a: "Four: correct.", response_b: "Five." });
    expect(v).toMatchObject({ choice: "a", consistent: 0, p_a: 0.7, confidence: 0.7 });
  });

  it("caps each order's stored text but reads the verdict from the whole answer", async () => {
    const ep = await serveJudge();
    const v = await judgeFor(ep.url, "verbose").judge(pair);
    expect(v).toMatchObject({ choice: "b", consistent: 1, p_a: 0.05 });
    const raw = JSON.parse(v.raw_output);
    for (const o of raw.orders) expect(o.text.length).toBe(8000);
  });

  it("renders a chat-transcript prompt as role-labelled turns and a transcript response as its assistant text", async () => {
    const ep = await serveJudge();
    const v = await judgeFor(ep.url, "prefers-correct").judge({
      pair_id: 1,
      prompt: [
        { role: "user", content: "Hi there" },
        { role: "assistant", content: "Hello! How can I help?" },
        { role: "user", content: "What is 2+2?" },
      ],
      response_a: [{ role: "assistant", content: "It is 4, correct." }],
      response_b: "It is 22.",
    });
    expect(v.choice).toBe("a");
    const user = ep.seen[0]!.body.messages[1].content as string;
    expect(user).toMatch(/### User:\nHi there\n\n### Assistant:\nHello! How can I help\?\n\n### User:\nWhat is 2\+2\?/);
    expect(ep.seen.map((r) => r.slotA).sort()).toEqual(["It is 22.", "It is 4, correct."]);
  });

  it("sends no Authorization header without a key", async () => {
    const ep = await serveJudge();
    await judgeFor(ep.url, "tie", { key: null }).judge(pair);
    expect(ep.seen).toHaveLength(2);
    expect(ep.seen.every((r) => r.auth === undefined)).toBe(true);
  });

  it("retries a 500 and still returns the verdict", async () => {
    const ep = await serveJudge();
    const v = await judgeFor(ep.url, "flaky").judge(pair);
    expect(v).toMatchObject({ choice: "b", consistent: 1 });
    expect(ep.seen, "two orders plus one retry").toHaveLength(3);
  });

  it("gives up after the configured retries on a server that keeps failing", async () => {
    const ep = await serveJudge();
    const err = await judgeFor(ep.url, "always-503", { retries: 1 }).judge(pair).catch((e) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect(err.message).toMatch(/failed after 2 attempts.*503/);
    expect(ep.seen, "2 orders × 2 attempts").toHaveLength(4);
  });

  it("fails at once on 401, with a message that never contains the key (even when the endpoint echoes it)", async () => {
    const ep = await serveJudge();
    const err = await judgeFor(ep.url, "unauthorized").judge(pair).catch((e) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect(err.message).toContain("401");
    expect(err.message).toContain("API key");
    expect(err.message).not.toContain(KEY);
    expect(err.message).not.toContain("9876543210");
    expect(ep.seen, "a 401 is not retried").toHaveLength(2);
    expect(ep.seen[0]!.auth, "the key did go to the endpoint").toBe(`Bearer ${KEY}`);
  });

  it("times out a silent endpoint", async () => {
    const ep = await serveJudge();
    const err = await judgeFor(ep.url, "silent", { retries: 0, timeoutMs: 200 }).judge(pair).catch((e) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect(err.message).toContain("no answer within 200 ms");
  });

  it("reports an unreachable endpoint after retrying", async () => {
    const ep = await serveJudge();
    fake!.closeAllConnections();
    await new Promise<void>((r) => fake!.close(() => r()));
    fake = null;
    const err = await judgeFor(ep.url, "m", { retries: 1 }).judge(pair).catch((e) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect(err.message).toMatch(/failed after 2 attempts: could not reach it \(.*ECONNREFUSED\)/);
  });
});

describe("LLM judge config", () => {
  it("fills the documented defaults and refuses unknown or out-of-range fields", () => {
    expect(llmJudgeConfigSchema.parse({ base_url: "https://api.example.com/v1", model: "gpt-x" })).toEqual({
      base_url: "https://api.example.com/v1",
      model: "gpt-x",
      rubric: DEFAULT_RUBRIC,
      temperature: 0,
      max_tokens: 512,
    });
    expect(DEFAULT_RUBRIC).toMatch(/helpful/i);
    expect(DEFAULT_RUBRIC).toMatch(/correct/i);
    expect(DEFAULT_RUBRIC).toMatch(/harm/i);
    expect(DEFAULT_RUBRIC).toMatch(/concise/i);
    expect(DEFAULT_RUBRIC).toMatch(/position/i);
    const bad = [
      { base_url: "not a url", model: "m" },
      { base_url: "https://x/v1", model: "" },
      { base_url: "https://x/v1", model: "m", temperature: 3 },
      { base_url: "https://x/v1", model: "m", max_tokens: 0 },
      { base_url: "https://x/v1", model: "m", max_tokens: 9000 },
      { base_url: "https://x/v1", model: "m", rubric: "x".repeat(20_001) },
      { base_url: "https://x/v1", model: "m", api_key: "sk-no" },
    ];
    for (const b of bad) expect(llmJudgeConfigSchema.safeParse(b).success, JSON.stringify(b).slice(0, 80)).toBe(false);
  });
});
