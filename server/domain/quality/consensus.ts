import { type ProjectJudgmentIndex } from "./judgment-index.ts";

export type Consensus = {
  /** Per dense pair: human votes counted. */
  votes: Int32Array;
  /** Majority class (0 a, 1 b, 2 tie, 3 both-bad), −1 with no votes or a split top. */
  majority: Int8Array;
  /** Share of votes for the majority class (agreement), 0 without votes. */
  majorityShare: Float32Array;
  /** Dawid–Skene class and its posterior probability (annotator-quality weighted); −1 / 0 when not computed. */
  dsLabel: Int8Array;
  dsConfidence: Float32Array;
  /** Mean signed strength of the votes for the majority side (1..4), 0 when none. */
  meanStrength: Float32Array;
};

const K = 4;

/**
 * Consensus per pair: the plain majority, and Dawid & Skene's (1979) EM estimate, which weighs
 * each annotator by a learned confusion matrix. Ties and both-bad are classes of their own, so
 * a pair whose best estimate is "tie" never becomes a chosen/rejected row downstream.
 * Works on the index's typed arrays (no per-judgment objects) so it fits in flat memory.
 */
export function computeConsensus(
  index: ProjectJudgmentIndex,
  opts: { iterations?: number; smoothing?: number; include?: (row: number) => boolean; dawidSkene?: boolean } = {},
): Consensus {
  const iterations = opts.iterations ?? 20;
  const smoothing = opts.smoothing ?? 1;
  const nP = index.pairIds.length;
  const nA = index.annotatorIds.length;
  const n = index.size;
  const alive = index.alive.data;
  const ai = index.ai.data;
  const pair = index.pair.data;
  const ann = index.annotator.data;
  const choice = index.choice.data;
  const strength = index.strength.data;
  // Which rows count: by default current human judgments; exports pass their own filter.
  const use = new Uint8Array(n);
  for (let r = 0; r < n; r++) use[r] = opts.include ? (opts.include(r) ? 1 : 0) : alive[r] && !ai[r] ? 1 : 0;

  const counts = new Int32Array(nP * K);
  const strengthSum = new Float64Array(nP * K);
  for (let r = 0; r < n; r++) {
    if (!use[r]) continue;
    counts[pair[r]! * K + choice[r]!]!++;
    strengthSum[pair[r]! * K + choice[r]!]! += strength[r]!;
  }
  const votes = new Int32Array(nP);
  const majority = new Int8Array(nP).fill(-1);
  const majorityShare = new Float32Array(nP);
  const meanStrength = new Float32Array(nP);
  const post = new Float64Array(nP * K);
  for (let p = 0; p < nP; p++) {
    let m = 0;
    let best = -1;
    let bestN = 0;
    let split = false;
    for (let c = 0; c < K; c++) {
      const nc = counts[p * K + c]!;
      m += nc;
      if (nc > bestN) {
        best = c;
        bestN = nc;
        split = false;
      } else if (nc === bestN && nc > 0) split = true;
    }
    votes[p] = m;
    if (m > 0 && !split) {
      majority[p] = best;
      majorityShare[p] = bestN / m;
      meanStrength[p] = strengthSum[p * K + best]! / bestN;
    } else if (m > 0) majorityShare[p] = bestN / m;
    for (let c = 0; c < K; c++) post[p * K + c] = m ? counts[p * K + c]! / m : 1 / K;
  }

  const dsLabel = new Int8Array(nP).fill(-1);
  const dsConfidence = new Float32Array(nP);
  if (opts.dawidSkene === false) return { votes, majority, majorityShare, dsLabel, dsConfidence, meanStrength };

  // Dawid–Skene EM, initialised from vote shares.
  const conf = new Float64Array(nA * K * K);
  const prior = new Float64Array(K);
  const logPost = new Float64Array(nP * K);
  for (let it = 0; it < iterations; it++) {
    conf.fill(smoothing);
    prior.fill(1);
    for (let p = 0; p < nP; p++) if (votes[p]) for (let c = 0; c < K; c++) prior[c]! += post[p * K + c]!;
    for (let r = 0; r < n; r++) {
      if (!use[r]) continue;
      const base = ann[r]! * K * K;
      const p = pair[r]!;
      for (let t = 0; t < K; t++) conf[base + t * K + choice[r]!]! += post[p * K + t]!;
    }
    for (let a = 0; a < nA; a++)
      for (let t = 0; t < K; t++) {
        const b = a * K * K + t * K;
        let s = 0;
        for (let l = 0; l < K; l++) s += conf[b + l]!;
        for (let l = 0; l < K; l++) conf[b + l] = Math.log(conf[b + l]! / s);
      }
    let ps = 0;
    for (let c = 0; c < K; c++) ps += prior[c]!;
    for (let p = 0; p < nP; p++) for (let c = 0; c < K; c++) logPost[p * K + c] = Math.log(prior[c]! / ps);
    for (let r = 0; r < n; r++) {
      if (!use[r]) continue;
      const base = ann[r]! * K * K;
      const p = pair[r]!;
      for (let t = 0; t < K; t++) logPost[p * K + t]! += conf[base + t * K + choice[r]!]!;
    }
    for (let p = 0; p < nP; p++) {
      if (!votes[p]) continue;
      let mx = -Infinity;
      for (let c = 0; c < K; c++) mx = Math.max(mx, logPost[p * K + c]!);
      let s = 0;
      for (let c = 0; c < K; c++) s += Math.exp(logPost[p * K + c]! - mx);
      for (let c = 0; c < K; c++) post[p * K + c] = Math.exp(logPost[p * K + c]! - mx) / s;
    }
  }
  for (let p = 0; p < nP; p++) {
    if (!votes[p]) continue;
    let best = 0;
    for (let c = 1; c < K; c++) if (post[p * K + c]! > post[p * K + best]!) best = c;
    dsLabel[p] = best;
    dsConfidence[p] = post[p * K + best]!;
  }
  return { votes, majority, majorityShare, dsLabel, dsConfidence, meanStrength };
}
