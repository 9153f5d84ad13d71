/** Optional redaction of personal data and secrets in exported text fields, with counts. */

const PATTERNS: { kind: "email" | "phone" | "api_key"; re: RegExp; replacement: string }[] = [
  { kind: "api_key", re: /\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}|pw_[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35})\b/g, replacement: "[API_KEY]" },
  { kind: "email", re: /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b/g, replacement: "[EMAIL]" },
  // International or national numbers with separators: +1 (555) 010-4477, 555-010-4477, +44 20 7946 0958.
  { kind: "phone", re: /(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}(?!\w)/g, replacement: "[PHONE]" },
];

export type ScrubCounts = { email: number; phone: number; api_key: number };

export class Scrubber {
  readonly counts: ScrubCounts = { email: 0, phone: 0, api_key: 0 };
  constructor(readonly enabled: boolean) {}

  text(s: string): string {
    if (!this.enabled) return s;
    let out = s;
    for (const p of PATTERNS) {
      out = out.replace(p.re, () => {
        this.counts[p.kind]++;
        return p.replacement;
      });
    }
    return out;
  }

  /** Scrubs a prompt or response: a string or a message list. */
  content<T>(c: T): T {
    if (!this.enabled) return c;
    if (typeof c === "string") return this.text(c) as T;
    if (Array.isArray(c)) return c.map((m: { role: string; content: string }) => ({ ...m, content: this.text(m.content) })) as T;
    return c;
  }
}
