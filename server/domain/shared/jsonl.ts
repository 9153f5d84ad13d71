import { type LineIssue } from "./errors.ts";

export type LineResult<T> = { ok: true; value: T } | { ok: false; message: string };

/**
 * Parses a JSON-lines file a worker produced, line by line, collecting every problem with its
 * line number so the caller can reject the whole file (nothing half-stored).
 */
export function parseJsonLines<T>(text: string, normalize: (raw: unknown) => LineResult<T>): { values: T[]; problems: LineIssue[] } {
  const values: T[] = [];
  const problems: LineIssue[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      problems.push({ line: i + 1, message: "not valid JSON" });
      return;
    }
    const r = normalize(raw);
    if (r.ok) values.push(r.value);
    else problems.push({ line: i + 1, message: r.message });
  });
  return { values, problems };
}
