import { type Readable } from "node:stream";
import { parse as parseCsv } from "csv-parse";
import { csvRowToObject } from "./records.ts";

export type RawRecord = { line: number; value?: unknown; error?: string };
export type ImportFormat = "jsonl" | "csv";

/** Reads JSONL as a stream; each yielded record carries its 1-based line number. Blank lines are skipped. */
export async function* readJsonl(stream: Readable): AsyncGenerator<RawRecord> {
  let buffer = "";
  let line = 0;
  const decoder = new TextDecoder("utf-8", { fatal: false });
  function* drain(final: boolean): Generator<RawRecord> {
    let idx: number;
    while ((idx = buffer.indexOf("\n")) >= 0 || (final && buffer.length > 0)) {
      const text = idx >= 0 ? buffer.slice(0, idx) : buffer;
      buffer = idx >= 0 ? buffer.slice(idx + 1) : "";
      line += 1;
      const trimmed = text.replace(/\r$/, "").replace(/^\uFEFF/, "").trim();
      if (!trimmed) continue;
      try {
        yield { line, value: JSON.parse(trimmed) };
      } catch (e) {
        yield { line, error: `not valid JSON (${(e as Error).message.replace(/^.*?: /, "").slice(0, 120)})` };
      }
    }
  }
  for await (const chunk of stream) {
    buffer += typeof chunk === "string" ? chunk : decoder.decode(chunk as Uint8Array, { stream: true });
    yield* drain(false);
  }
  buffer += decoder.decode();
  yield* drain(true);
}

/** Reads CSV with a header row as a stream; line numbers count the header as line 1. */
export async function* readCsv(stream: Readable): AsyncGenerator<RawRecord> {
  const parser = stream.pipe(
    parseCsv({ columns: true, bom: true, skip_empty_lines: true, relax_column_count: false, info: true }),
  );
  try {
    for await (const rec of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      const obj = csvRowToObject(rec.record);
      if (obj.ok) yield { line: rec.info.lines, value: obj.value };
      else yield { line: rec.info.lines, error: obj.message };
    }
  } catch (e) {
    const err = e as Error & { lines?: number };
    yield { line: err.lines ?? 0, error: `CSV could not be parsed: ${err.message}` };
  }
}

export function readRecords(stream: Readable, format: ImportFormat): AsyncGenerator<RawRecord> {
  return format === "csv" ? readCsv(stream) : readJsonl(stream);
}

export function detectFormat(opts: { format?: string | null; filename?: string | null; contentType?: string | null }): ImportFormat | null {
  const f = opts.format?.toLowerCase();
  if (f === "csv" || f === "jsonl") return f;
  if (f) return null;
  const name = opts.filename?.toLowerCase() ?? "";
  if (name.endsWith(".csv")) return "csv";
  if (name.endsWith(".jsonl") || name.endsWith(".ndjson") || name.endsWith(".json")) return "jsonl";
  if (opts.contentType?.includes("text/csv")) return "csv";
  return "jsonl";
}
