import { describe, expect, it } from "vitest";
import {
  binomialTestTwoSided,
  bradleyTerry,
  bradleyTerryBootstrap,
  cohenKappa,
  dawidSkene,
  krippendorffAlpha,
  logGamma,
  median,
} from "../../server/domain/quality/stats.ts";

// Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4 observers × 12 units
// example with missing values (columns are units, rows observers A–D; null = missing).
const K2011 = [
  [1, 2, 3, 3, 2, 1, 4, 1, 2, null, null, null],
  [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, null, 3],
  [null, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, null],
  [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, null],
];
const units = K2011[0]!.map((_, u) => K2011.map((row) => row[u]).filter((v): v is number => v !== null));

describe("Krippendorff's alpha", () => {
  it("matches the published worked example (nominal 0.743, interval 0.849)", () => {
    expect(krippendorffAlpha(units, "nominal")).toBeCloseTo(0.743, 3);
    expect(krippendorffAlpha(units, "interval")).toBeCloseTo(0.849, 3);
  });

  it("gives the ordinal value of the same example (0.815)", () => {
    expect(krippendorffAlpha(units, "ordinal")).toBeCloseTo(0.815, 3);
  });

  it("is 1 for perfect agreement, ignores unpairable units, and is NaN with no variation", () => {
    expect(krippendorffAlpha([[1, 1], [2, 2, 2], [3]], "nominal")).toBe(1);
    expect(Number.isNaN(krippendorffAlpha([[1, 1], [1, 1]], "nominal"))).toBe(true);
    // Hand computed: units {a,b},{a,a}: o_ab = o_ba = 1, o_aa = 2; n = 4, n_a = 3, n_b = 1.
    // α = 1 − (n−1)·(o_ab+o_ba) / (n_a·n_b + n_b·n_a) = 1 − 3·2/6 = 0.
    expect(krippendorffAlpha([[0, 1], [0, 0]], "nominal")).toBeCloseTo(0, 12);
  });
});

describe("Cohen's kappa", () => {
  it("matches a hand-computed 2×2 example", () => {
    // 50 items: both yes 20, both no 15, a-yes/b-no 5, a-no/b-yes 10.
    // po = 35/50 = 0.7; pe = 0.5·0.6 + 0.5·0.4 = 0.5; κ = 0.4.
    const a = [...Array(20).fill(1), ...Array(15).fill(0), ...Array(5).fill(1), ...Array(10).fill(0)];
    const b = [...Array(20).fill(1), ...Array(15).fill(0), ...Array(5).fill(0), ...Array(10).fill(1)];
    expect(cohenKappa(a, b)).toBeCloseTo(0.4, 12);
    expect(cohenKappa([1, 0, 1], [1, 0, 1])).toBe(1);
  });
});

describe("binomial test and helpers", () => {
  it("logGamma matches factorials", () => {
    expect(Math.exp(logGamma(6))).toBeCloseTo(120, 8);
    expect(logGamma(1)).toBeCloseTo(0, 12);
  });

  it("matches R's binom.test two-sided p-values", () => {
    // binom.test(7, 10)$p.value = 0.34375; binom.test(9, 10) = 0.021484375; binom.test(5, 10) = 1
    expect(binomialTestTwoSided(7, 10)).toBeCloseTo(0.34375, 10);
    expect(binomialTestTwoSided(9, 10)).toBeCloseTo(0.021484375, 10);
    expect(binomialTestTwoSided(5, 10)).toBe(1);
    expect(binomialTestTwoSided(600, 1000)).toBeLessThan(1e-9);
  });

  it("median of odd and even lists", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNull();
  });
});

describe("Dawid-Skene", () => {
  it("trusts the reliable annotators over a contrarian", () => {
    // 3 reliable annotators agree with the truth; annotator 3 always flips.
    const truth = [0, 1, 0, 1, 1, 0, 0, 1, 0, 1];
    const labels = truth.flatMap((t, item) => [
      { item, annotator: 0, label: t },
      { item, annotator: 1, label: t },
      { item, annotator: 2, label: item === 3 ? 1 - t : t },
      { item, annotator: 3, label: 1 - t },
    ]);
    const { posteriors, confusion } = dawidSkene(labels, truth.length, 4, 2);
    truth.forEach((t, i) => expect(posteriors[i]![t]!).toBeGreaterThan(0.9));
    expect(confusion[3]![0]![1]!, "the contrarian's confusion shows the flip").toBeGreaterThan(0.8);
  });
});

describe("Bradley-Terry", () => {
  it("recovers the order and a known gap for two models", () => {
    // 75% win rate ⇒ log-odds ln 3 ⇒ 400/ln10 · ln3 ≈ 190.8 Elo points (small prior shrinks it a little).
    const r = bradleyTerry(2, [{ i: 0, j: 1, winsI: 750, winsJ: 250, ties: 0 }]);
    expect(r[0]! - r[1]!).toBeGreaterThan(185);
    expect(r[0]! - r[1]!).toBeLessThan(191);
    expect((r[0]! + r[1]!) / 2).toBeCloseTo(1000, 6);
  });

  it("orders three models and gives intervals that contain the estimate", () => {
    const battles = [
      { i: 0, j: 1, winsI: 60, winsJ: 40, ties: 10 },
      { i: 1, j: 2, winsI: 60, winsJ: 40, ties: 10 },
      { i: 0, j: 2, winsI: 70, winsJ: 30, ties: 10 },
    ];
    const r = bradleyTerry(3, battles);
    expect(r[0]!).toBeGreaterThan(r[1]!);
    expect(r[1]!).toBeGreaterThan(r[2]!);
    const { lo, hi } = bradleyTerryBootstrap(3, battles, 100, 7);
    for (let m = 0; m < 3; m++) {
      expect(lo[m]!).toBeLessThan(r[m]!);
      expect(hi[m]!).toBeGreaterThan(r[m]!);
    }
    const again = bradleyTerryBootstrap(3, battles, 100, 7);
    expect(Array.from(again.lo)).toEqual(Array.from(lo));
  });
});

describe("large-sample shortcuts", () => {
  it("κ from a confusion table equals κ from label lists", async () => {
    const { kappaFromTable } = await import("../../server/domain/quality/stats.ts");
    // The 2×2 example above as a table: [[15, 10], [5, 20]] with rows = rater a (0, 1).
    expect(kappaFromTable([15, 10, 5, 20], 2)).toBeCloseTo(0.4, 12);
  });

  it("the normal approximation agrees with the exact test where both apply", async () => {
    const { normalCdf } = await import("../../server/domain/quality/stats.ts");
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 5);
    // n = 6000 takes the approximation; 3100 left of 6000: z ≈ 2.57 → p ≈ 0.0102.
    expect(binomialTestTwoSided(3100, 6000)).toBeCloseTo(0.0102, 3);
    expect(binomialTestTwoSided(3000, 6000)).toBe(1);
  });
});
