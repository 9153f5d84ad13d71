import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../server/config.ts";
import { checkAgainstScheme, judgmentInputSchema, shownToCanonical } from "../../server/domain/annotation/judgment-input.ts";
import { hashPassword, verifyPassword } from "../../server/domain/auth/passwords.ts";
import { defaultScheme, schemeSchema } from "../../server/domain/projects/scheme.ts";

const input = (x: Record<string, unknown>) => judgmentInputSchema.parse({ idempotency_key: "abcdefgh", ...x });

describe("judgment rules", () => {
  it("maps what was shown to the pair's A/B", () => {
    expect(shownToCanonical("left", true)).toBe("a");
    expect(shownToCanonical("left", false)).toBe("b");
    expect(shownToCanonical("right", true)).toBe("b");
    expect(shownToCanonical("right", false)).toBe("a");
    expect(shownToCanonical("tie", false)).toBe("tie");
    expect(shownToCanonical("both_bad", true)).toBe("both_bad");
  });

  it("requires strength for a decisive choice and forbids it otherwise (Llama 2 scale)", () => {
    expect(checkAgainstScheme(input({ choice: "left" }), defaultScheme).map((i) => i.path.join("."))).toEqual(["strength"]);
    expect(checkAgainstScheme(input({ choice: "left", strength: 4 }), defaultScheme)).toEqual([]);
    expect(checkAgainstScheme(input({ choice: "tie", strength: 1 }), defaultScheme).map((i) => i.path.join("."))).toEqual(["strength"]);
    const off = schemeSchema.parse({ strength: "off" });
    expect(checkAgainstScheme(input({ choice: "left", strength: 2 }), off).map((i) => i.path.join("."))).toEqual(["strength"]);
    expect(() => input({ choice: "left", strength: 5 })).toThrow();
  });

  it("checks ties, both-bad, criteria, rationale and flags against the scheme", () => {
    const s = schemeSchema.parse({ allowTie: false, allowBothBad: false, criteria: ["helpfulness", "honesty"], rationale: { mode: "required", minLength: 5 }, flags: ["unsafe"] });
    const issues = checkAgainstScheme(input({ choice: "both_bad", criteria: { helpfulness: "left", style: "tie" }, rationale: "no", flags: ["broken"] }), s);
    expect(issues.map((i) => i.path.join(".")).sort()).toEqual(["choice", "criteria.honesty", "criteria.style", "flags", "rationale"]);
    const offRationale = schemeSchema.parse({ rationale: { mode: "off" } });
    expect(checkAgainstScheme(input({ choice: "tie", rationale: "x" }), offRationale).map((i) => i.path[0])).toEqual(["rationale"]);
  });

  it("rejects malformed idempotency keys and unknown fields", () => {
    expect(judgmentInputSchema.safeParse({ choice: "left", idempotency_key: "short" }).success).toBe(false);
    expect(judgmentInputSchema.safeParse({ choice: "left", idempotency_key: "has spaces in it" }).success).toBe(false);
    expect(judgmentInputSchema.safeParse({ choice: "left", idempotency_key: "abcdefgh", extra: 1 }).success).toBe(false);
  });

  it("validates the labeling scheme", () => {
    expect(schemeSchema.safeParse({ criteria: ["Helpfulness"] }).success).toBe(false);
    expect(schemeSchema.safeParse({ criteria: ["a", "a"] }).success).toBe(false);
    expect(schemeSchema.safeParse({ flags: ["weird"] }).success).toBe(false);
    expect(defaultScheme).toMatchObject({ allowTie: true, allowBothBad: true, strength: "llama2", criteria: [], flags: ["unsafe", "personal_data", "broken"] });
  });
});

describe("passwords", () => {
  it("hashes with a salt and verifies only the right password", async () => {
    const h1 = await hashPassword("correct horse");
    const h2 = await hashPassword("correct horse");
    expect(h1).not.toBe(h2);
    expect(h1.startsWith("scrypt$")).toBe(true);
    expect(await verifyPassword("correct horse", h1)).toBe(true);
    expect(await verifyPassword("wrong horse", h1)).toBe(false);
    expect(await verifyPassword("x", "garbage")).toBe(false);
  });
});

describe("config", () => {
  it("has embedded defaults and names each bad value", () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.databaseUrl).toBe("sqlite:data/pairwise.db");
    expect(c.sqlitePath.endsWith("data/pairwise.db")).toBe(true);
    expect(() => loadConfig({ PORT: "eighty", DATABASE_URL: "mysql://x" })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: "eighty", DATABASE_URL: "mysql://x" });
    } catch (e) {
      expect((e as Error).message).toContain("PORT");
      expect((e as Error).message).toContain("DATABASE_URL");
    }
  });
});
