import { describe, expect, it } from "vitest";
import { csvRowToObject, normalizePairRecord, normalizePromptRecord, parseHhTranscript, splitHh } from "../../server/domain/imports/records.ts";
import { detectFormat, readCsv, readJsonl } from "../../server/domain/imports/readers.ts";
import { readable } from "../helpers/server.ts";

async function collect<T>(gen: AsyncGenerator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of gen) out.push(x);
  return out;
}

describe("pair records", () => {
  it("accepts the explicit shape with optional models and metadata", () => {
    const r = normalizePairRecord({ prompt: "p", response_a: "a", response_b: "b", model_a: "m1", metadata: { k: 1 } });
    expect(r).toEqual({ ok: true, value: { prompt: "p", responseA: "a", responseB: "b", modelA: "m1", modelB: null, metadata: { k: 1 }, reference: null, gold: false } });
  });

  it("keeps TRL chosen as A with a reference answer, and margin/weight in metadata", () => {
    const r = normalizePairRecord({ prompt: "p", chosen: "c", rejected: "r", margin: 2 });
    expect(r).toMatchObject({ ok: true, value: { responseA: "c", responseB: "r", reference: "a", metadata: { margin: 2 } } });
    expect(normalizePairRecord({ prompt: "p", chosen: "c", rejected: "r" }, { keepReference: false })).toMatchObject({ value: { reference: null } });
  });

  it("splits HH transcripts at the shared prefix", () => {
    const chosen = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: 2+2?\n\nAssistant: 4";
    const rejected = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: 2+2?\n\nAssistant: 5";
    const r = normalizePairRecord({ chosen, rejected });
    expect(r).toEqual({
      ok: true,
      value: {
        prompt: [
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Hello!" },
          { role: "user", content: "2+2?" },
        ],
        responseA: "4",
        responseB: "5",
        modelA: null,
        modelB: null,
        metadata: null,
        reference: "a",
        gold: false,
      },
    });
    expect(splitHh("\n\nHuman: a\n\nAssistant: b", "\n\nHuman: DIFFERENT\n\nAssistant: c")).toMatchObject({ ok: false });
    expect(parseHhTranscript("no markers")).toBeNull();
  });

  it("accepts HH as message lists", () => {
    const base = [{ role: "user", content: "q" }];
    const r = normalizePairRecord({ chosen: [...base, { role: "assistant", content: "good" }], rejected: [...base, { role: "assistant", content: "bad" }] });
    expect(r).toMatchObject({ ok: true, value: { prompt: base, responseA: "good", responseB: "bad" } });
  });

  it("rejects bad records with a reason", () => {
    expect(normalizePairRecord([1, 2])).toEqual({ ok: false, message: "expected a JSON object" });
    expect(normalizePairRecord({ prompt: "p", response_a: "a" })).toMatchObject({ ok: false, message: expect.stringContaining("response_b") });
    expect(normalizePairRecord({ prompt: "p", response_a: "a", response_b: "b", extra: 1 })).toMatchObject({ ok: false, message: expect.stringContaining("extra") });
    expect(normalizePairRecord({ prompt: [{ role: "wizard", content: "x" }], response_a: "a", response_b: "b" })).toMatchObject({ ok: false });
    expect(normalizePairRecord({ foo: 1 })).toMatchObject({ ok: false, message: expect.stringContaining("unrecognized shape") });
    expect(normalizePromptRecord({ prompt: "" })).toMatchObject({ ok: false });
  });

  it("reads CSV cells: JSON message lists, metadata JSON, empty optionals", () => {
    expect(csvRowToObject({ prompt: '[{"role":"user","content":"hi"}]', response_a: "a", response_b: "b", model_a: "", metadata: '{"x":1}' })).toEqual({
      ok: true,
      value: { prompt: [{ role: "user", content: "hi" }], response_a: "a", response_b: "b", metadata: { x: 1 } },
    });
    expect(csvRowToObject({ prompt: "p", metadata: "{bad" })).toEqual({ ok: false, message: "metadata: not valid JSON" });
  });
});

describe("streaming readers", () => {
  it("numbers JSONL lines across chunk boundaries, skipping blank lines and CRLF", async () => {
    const text = '{"a":1}\r\n\n{"a":2}\n{bad\n{"a":3}';
    const chunks = [text.slice(0, 5), text.slice(5, 13), text.slice(13)];
    const { Readable } = await import("node:stream");
    const recs = await collect(readJsonl(Readable.from(chunks.map((c) => Buffer.from(c)))));
    expect(recs.map((r) => [r.line, r.value ?? r.error?.slice(0, 14)])).toEqual([
      [1, { a: 1 }],
      [3, { a: 2 }],
      [4, "not valid JSON"],
      [5, { a: 3 }],
    ]);
  });

  it("splits multi-byte characters across chunks correctly", async () => {
    const buf = Buffer.from('{"t":"héllo ✓"}\n');
    const { Readable } = await import("node:stream");
    const recs = await collect(readJsonl(Readable.from([buf.subarray(0, 9), buf.subarray(9)])));
    expect(recs[0]!.value).toEqual({ t: "héllo ✓" });
  });

  it("reads CSV with line numbers that count the header", async () => {
    const recs = await collect(readCsv(readable('prompt,response_a,response_b\n"multi\nline",a,b\nx,y,z\n')));
    expect(recs.map((r) => r.line)).toEqual([3, 4]);
    expect(recs[0]!.value).toEqual({ prompt: "multi\nline", response_a: "a", response_b: "b" });
  });

  it("detects the format from query, filename or content type", () => {
    expect(detectFormat({ format: "CSV" })).toBe("csv");
    expect(detectFormat({ format: "xml" })).toBeNull();
    expect(detectFormat({ filename: "x.csv" })).toBe("csv");
    expect(detectFormat({ contentType: "text/csv; charset=utf-8" })).toBe("csv");
    expect(detectFormat({})).toBe("jsonl");
  });
});
