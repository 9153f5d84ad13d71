/**
 * Agreement and rating statistics, as pure functions over plain arrays so they can be checked
 * against hand-computed values and published worked examples.
 */

export type AlphaMetric = "nominal" | "ordinal" | "interval";

/**
 * Krippendorff's α (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"), via the
 * coincidence matrix. `units` holds each unit's pairable values (missing values left out);
 * units with fewer than two values are not pairable and are ignored. Returns NaN when there is
 * no disagreement to expect (a single value overall) or nothing pairable.
 */
export function krippendorffAlpha(units: number[][], metric: AlphaMetric): number {
  const valueIndex = new Map<number, number>();
  for (const u of units) if (u.length >= 2) for (const v of u) if (!valueIndex.has(v)) valueIndex.set(v, 0);
  const values = [...valueIndex.keys()].sort((a, b) => a - b);
  values.forEach((v, i) => valueIndex.set(v, i));
  const V = values.length;
  if (V === 0) return NaN;
  const o = Array.from({ length: V }, () => new Float64Array(V));
  const counts = new Float64Array(V);
  for (const u of units) {
    const m = u.length;
    if (m < 2) continue;
    counts.fill(0);
    for (const v of u) counts[valueIndex.get(v)!]! += 1;
    for (let c = 0; c < V; c++) {
      const nc = counts[c]!;
      if (nc === 0) continue;
      for (let k = 0; k < V; k++) {
        const nk = counts[k]!;
        if (nk === 0) continue;
        o[c]![k]! += (c === k ? nc * (nc - 1) : nc * nk) / (m - 1);
      }
    }
  }
  return alphaFromCoincidences(
    o.map((r) => Array.from(r)),
    values,
    metric,
  );
}

/** α from a coincidence matrix `o` over sorted `values` (exposed for incremental callers). */
export function alphaFromCoincidences(o: number[][], values: number[], metric: AlphaMetric): number {
  const V = values.length;
  const nMarg = o.map((row) => row.reduce((a, b) => a + b, 0));
  const n = nMarg.reduce((a, b) => a + b, 0);
  if (n <= 1) return NaN;
  const delta = (c: number, k: number): number => {
    if (c === k) return 0;
    if (metric === "nominal") return 1;
    if (metric === "interval") return (values[c]! - values[k]!) ** 2;
    // ordinal: (Σ_{g=c..k} n_g − (n_c + n_k)/2)²
    const lo = Math.min(c, k);
    const hi = Math.max(c, k);
    let s = 0;
    for (let g = lo; g <= hi; g++) s += nMarg[g]!;
    return (s - (nMarg[c]! + nMarg[k]!) / 2) ** 2;
  };
  let observed = 0;
  let expected = 0;
  for (let c = 0; c < V; c++) {
    for (let k = 0; k < V; k++) {
      if (c === k) continue;
      const d = delta(c, k);
      observed += o[c]![k]! * d;
      expected += nMarg[c]! * nMarg[k]! * d;
    }
  }
  if (expected === 0) return NaN;
  return 1 - ((n - 1) * observed) / expected;
}

/** Cohen's κ for two raters' labels on the same items. NaN when chance agreement is 1. */
export function cohenKappa(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error("cohenKappa: label arrays differ in length");
  const n = a.length;
  if (n === 0) return NaN;
  const ca = new Map<number, number>();
  const cb = new Map<number, number>();
  let agree = 0;
  for (let i = 0; i < n; i++) {
    if (a[i] === b[i]) agree++;
    ca.set(a[i]!, (ca.get(a[i]!) ?? 0) + 1);
    cb.set(b[i]!, (cb.get(b[i]!) ?? 0) + 1);
  }
  const po = agree / n;
  let pe = 0;
  for (const [k, v] of ca) pe += (v / n) * ((cb.get(k) ?? 0) / n);
  if (pe === 1) return NaN;
  return (po - pe) / (1 - pe);
}

/** Cohen's κ from a K×K confusion table (row-major: rater one's label × rater two's label). */
export function kappaFromTable(t: ArrayLike<number>, K: number): number {
  let n = 0;
  let agree = 0;
  const rows = new Float64Array(K);
  const cols = new Float64Array(K);
  for (let i = 0; i < K; i++)
    for (let j = 0; j < K; j++) {
      const v = t[i * K + j]!;
      n += v;
      rows[i]! += v;
      cols[j]! += v;
      if (i === j) agree += v;
    }
  if (n === 0) return NaN;
  let pe = 0;
  for (let k = 0; k < K; k++) pe += (rows[k]! / n) * (cols[k]! / n);
  if (pe === 1) return NaN;
  return (agree / n - pe) / (1 - pe);
}

/** log Γ(x) by the Lanczos approximation (g = 7, n = 9), accurate to ~1e-13 for x > 0. */
export function logGamma(x: number): number {
  const g = 7;
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + g + 0.5;
  for (let i = 1; i < g + 2; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

function logBinomPmf(k: number, n: number, p: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1) + k * Math.log(p) + (n - k) * Math.log(1 - p);
}

/**
 * Exact two-sided binomial test (the "minimum likelihood" method R's binom.test uses): the
 * probability of outcomes no more likely than the observed k.
 */
export function binomialTestTwoSided(k: number, n: number, p = 0.5): number {
  if (n === 0) return 1;
  // Past a few thousand trials the exact sum costs O(n) per call; the normal approximation with a
  // continuity correction is then accurate to well under 1e-3 (and p-values that small are moot).
  if (n > 5000) {
    const mean = n * p;
    const sd = Math.sqrt(n * p * (1 - p));
    const z = (Math.abs(k - mean) - 0.5) / sd;
    return z <= 0 ? 1 : Math.min(1, 2 * (1 - normalCdf(z)));
  }
  const logObs = logBinomPmf(k, n, p);
  const eps = 1e-7;
  let total = 0;
  for (let i = 0; i <= n; i++) {
    const lp = logBinomPmf(i, n, p);
    if (lp <= logObs + eps) total += Math.exp(lp);
  }
  return Math.min(1, total);
}

/** Φ(z), the standard normal CDF (Abramowitz & Stegun 7.1.26 erf, |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = Float64Array.from(xs).sort();
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Dawid & Skene (1979) EM: per-annotator confusion matrices and per-item class posteriors.
 * Items are initialised from the majority vote; smoothing keeps confusion rows away from zero.
 */
export function dawidSkene(
  labels: { item: number; annotator: number; label: number }[],
  nItems: number,
  nAnnotators: number,
  nClasses: number,
  opts: { iterations?: number; smoothing?: number } = {},
): { posteriors: Float64Array[]; confusion: Float64Array[][]; priors: Float64Array } {
  const iterations = opts.iterations ?? 30;
  const smoothing = opts.smoothing ?? 0.5;
  const K = nClasses;
  const posteriors = Array.from({ length: nItems }, () => new Float64Array(K));
  for (const l of labels) posteriors[l.item]![l.label]! += 1;
  for (const p of posteriors) {
    const s = p.reduce((a, b) => a + b, 0);
    if (s > 0) for (let k = 0; k < K; k++) p[k]! /= s;
    else p.fill(1 / K);
  }
  const confusion = Array.from({ length: nAnnotators }, () => Array.from({ length: K }, () => new Float64Array(K)));
  const priors = new Float64Array(K);
  for (let it = 0; it < iterations; it++) {
    // M-step
    priors.fill(0);
    for (const p of posteriors) for (let k = 0; k < K; k++) priors[k]! += p[k]!;
    const pSum = priors.reduce((a, b) => a + b, 0);
    for (let k = 0; k < K; k++) priors[k] = (priors[k]! + 1) / (pSum + K);
    for (const c of confusion) for (const row of c) row.fill(smoothing);
    for (const l of labels) {
      const p = posteriors[l.item]!;
      const c = confusion[l.annotator]!;
      for (let k = 0; k < K; k++) c[k]![l.label]! += p[k]!;
    }
    for (const c of confusion) for (const row of c) {
      const s = row.reduce((a, b) => a + b, 0);
      for (let j = 0; j < K; j++) row[j]! /= s;
    }
    // E-step (log space)
    const logp = Array.from({ length: nItems }, () => Float64Array.from(priors, (x) => Math.log(x)));
    for (const l of labels) {
      const lp = logp[l.item]!;
      const c = confusion[l.annotator]!;
      for (let k = 0; k < K; k++) lp[k]! += Math.log(c[k]![l.label]!);
    }
    for (let i = 0; i < nItems; i++) {
      const lp = logp[i]!;
      const mx = Math.max(...lp);
      let s = 0;
      for (let k = 0; k < K; k++) s += Math.exp(lp[k]! - mx);
      for (let k = 0; k < K; k++) posteriors[i]![k] = Math.exp(lp[k]! - mx) / s;
    }
  }
  return { posteriors, confusion, priors };
}

/** Outcome counts between two models: i beat j, j beat i, and ties. */
export type BattleCounts = { i: number; j: number; winsI: number; winsJ: number; ties: number };

/**
 * Bradley–Terry strengths by Hunter's (2004) MM algorithm; a tie counts as half a win for each
 * side (as Chatbot Arena does). Returned on the Elo scale (400 / ln 10 per unit of log-strength),
 * anchored so the mean rating is 1000.
 */
export function bradleyTerry(nModels: number, battles: BattleCounts[], opts: { iterations?: number; tol?: number } = {}): Float64Array {
  const iterations = opts.iterations ?? 500;
  const tol = opts.tol ?? 1e-9;
  const wins = new Float64Array(nModels);
  for (const b of battles) {
    wins[b.i]! += b.winsI + b.ties / 2;
    wins[b.j]! += b.winsJ + b.ties / 2;
  }
  // A small prior (one virtual tie against every other model) keeps undefeated models finite.
  const prior = 0.5;
  let p = new Float64Array(nModels).fill(1);
  for (let it = 0; it < iterations; it++) {
    const denom = new Float64Array(nModels);
    for (const b of battles) {
      const n = b.winsI + b.winsJ + b.ties;
      if (n === 0) continue;
      const s = n / (p[b.i]! + p[b.j]!);
      denom[b.i]! += s;
      denom[b.j]! += s;
    }
    const next = new Float64Array(nModels);
    let maxChange = 0;
    for (let m = 0; m < nModels; m++) {
      let priorDenom = 0;
      for (let o = 0; o < nModels; o++) if (o !== m) priorDenom += (2 * prior) / (p[m]! + p[o]!);
      next[m] = (wins[m]! + prior * (nModels - 1)) / (denom[m]! + priorDenom);
    }
    // Normalize (geometric mean 1) for identifiability.
    let logMean = 0;
    for (let m = 0; m < nModels; m++) logMean += Math.log(next[m]!);
    logMean /= nModels;
    for (let m = 0; m < nModels; m++) {
      next[m] = next[m]! / Math.exp(logMean);
      maxChange = Math.max(maxChange, Math.abs(Math.log(next[m]!) - Math.log(p[m]!)));
    }
    p = next;
    if (maxChange < tol) break;
  }
  return Float64Array.from(p, (x) => 1000 + (400 / Math.LN10) * Math.log(x));
}

/** A seeded PRNG (mulberry32) so bootstrap intervals are reproducible. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Poisson(λ) draw (Knuth for small λ, normal approximation above 30). */
export function poisson(lambda: number, rand: () => number): number {
  if (lambda <= 0) return 0;
  if (lambda > 30) {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * z));
  }
  const L = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rand();
  } while (p > L);
  return k - 1;
}

/**
 * Bootstrap 95% intervals for Bradley–Terry ratings. Resampling battles with replacement is
 * approximated by Poisson(count) weights per outcome cell (the Poisson bootstrap), which works on
 * aggregated counts and so costs the same at a million judgments as at a thousand.
 */
export function bradleyTerryBootstrap(nModels: number, battles: BattleCounts[], rounds = 200, seed = 1): { lo: Float64Array; hi: Float64Array } {
  const rand = mulberry32(seed);
  const samples = Array.from({ length: nModels }, () => new Float64Array(rounds));
  for (let r = 0; r < rounds; r++) {
    const resampled = battles.map((b) => ({ i: b.i, j: b.j, winsI: poisson(b.winsI, rand), winsJ: poisson(b.winsJ, rand), ties: poisson(b.ties, rand) }));
    const ratings = bradleyTerry(nModels, resampled, { iterations: 200, tol: 1e-7 });
    for (let m = 0; m < nModels; m++) samples[m]![r] = ratings[m]!;
  }
  const lo = new Float64Array(nModels);
  const hi = new Float64Array(nModels);
  for (let m = 0; m < nModels; m++) {
    const s = samples[m]!.sort();
    lo[m] = s[Math.floor(0.025 * (rounds - 1))]!;
    hi[m] = s[Math.ceil(0.975 * (rounds - 1))]!;
  }
  return { lo, hi };
}
