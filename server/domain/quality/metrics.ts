import { type QualitySettings } from "../projects/project-service.ts";
import { type ProjectJudgmentIndex } from "./judgment-index.ts";
import { alphaFromCoincidences, binomialTestTwoSided, type BattleCounts, bradleyTerry, bradleyTerryBootstrap, kappaFromTable } from "./stats.ts";

export type AnnotatorQuality = {
  annotatorId: number;
  judgments: number;
  medianMs: number | null;
  tooFastShare: number;
  /** Leave-one-out agreement with the majority of the other annotators on shared pairs. */
  agreement: number | null;
  agreementN: number;
  goldAccuracy: number | null;
  goldN: number;
  leftShare: number | null;
  decisiveN: number;
  leftP: number | null;
  flags: ("gold" | "too_fast" | "position_bias" | "low_agreement")[];
};

export type LeaderboardRow = { model: string; rating: number; lo: number; hi: number; wins: number; ties: number; losses: number; battles: number };

export type QualityReport = {
  judgments: number;
  humanJudgments: number;
  pairsWithOverlap: number;
  alphaNominal: number | null;
  alphaOrdinal: number | null;
  meanPairAgreement: number | null;
  splitPairs: number;
  goldAccuracy: number | null;
  goldN: number;
  positionBias: { leftShare: number | null; n: number; p: number | null };
  medianMs: number | null;
  annotators: AnnotatorQuality[];
  kappa: { a: number; b: number; overlap: number; kappa: number | null }[];
  perDay: { day: string; count: number }[];
  leaderboard: { models: LeaderboardRow[]; winRate: (number | null)[][] } | null;
  computedMs: number;
};

const KAPPA_MIN_OVERLAP = 10;
const BIAS_MIN_N = 20;
const BIAS_P = 0.01;
const LOW_AGREEMENT = 0.4;
const AGREEMENT_MIN_N = 10;

/** Left-chosen among decisive choices: the annotator picked what was shown on the left. */
function choseLeft(choice: number, leftIsA: number): boolean {
  return (choice === 0 && leftIsA === 1) || (choice === 1 && leftIsA === 0);
}

/** Signed strength for ordinal α: A better by s → +s, B better → −s, tie → 0 (both-bad: missing). */
function ordinalValue(choice: number, strength: number): number | null {
  if (choice === 3) return null;
  if (choice === 2) return 0;
  const s = strength || 1;
  return choice === 0 ? s : -s;
}

/**
 * Every dashboard figure in a few passes over the project's judgment index. Only current human
 * judgments count (superseded rows and AI labels are left out).
 */
export function computeQuality(index: ProjectJudgmentIndex, settings: QualitySettings, opts: { bootstrapRounds?: number; now?: number } = {}): QualityReport {
  const t0 = performance.now();
  const n = index.size;
  const nPairs = index.pairIds.length;
  const nAnn = index.annotatorIds.length;
  const alive = index.alive.data;
  const ai = index.ai.data;
  const pair = index.pair.data;
  const ann = index.annotator.data;
  const choice = index.choice.data;
  const strength = index.strength.data;
  const leftIsA = index.leftIsA.data;
  const timeMs = index.timeMs.data;

  // Pass 1: per-pair class counts (nominal: 4 classes; ordinal: 9 values −4..4).
  const counts = new Int32Array(nPairs * 4);
  const ordCounts = new Int32Array(nPairs * 9);
  let human = 0;
  for (let r = 0; r < n; r++) {
    if (!alive[r] || ai[r]) continue;
    human++;
    const p = pair[r]!;
    counts[p * 4 + choice[r]!]!++;
    const ov = ordinalValue(choice[r]!, strength[r]!);
    if (ov !== null) ordCounts[p * 9 + ov + 4]!++;
  }

  // Coincidence matrices, pair agreement.
  const oNom = Array.from({ length: 4 }, () => new Array<number>(4).fill(0));
  const oOrd = Array.from({ length: 9 }, () => new Array<number>(9).fill(0));
  let pairsWithOverlap = 0;
  let agreementSum = 0;
  let splitPairs = 0;
  for (let p = 0; p < nPairs; p++) {
    let m = 0;
    let agreeing = 0;
    for (let c = 0; c < 4; c++) {
      const nc = counts[p * 4 + c]!;
      m += nc;
      agreeing += nc * (nc - 1);
    }
    if (m >= 2) {
      pairsWithOverlap++;
      const share = agreeing / (m * (m - 1));
      agreementSum += share;
      if (share < 1) splitPairs++;
      for (let c = 0; c < 4; c++) {
        const nc = counts[p * 4 + c]!;
        if (!nc) continue;
        for (let k = 0; k < 4; k++) {
          const nk = counts[p * 4 + k]!;
          if (nk) oNom[c]![k]! += (c === k ? nc * (nc - 1) : nc * nk) / (m - 1);
        }
      }
    }
    let mo = 0;
    for (let v = 0; v < 9; v++) mo += ordCounts[p * 9 + v]!;
    if (mo >= 2) {
      for (let c = 0; c < 9; c++) {
        const nc = ordCounts[p * 9 + c]!;
        if (!nc) continue;
        for (let k = 0; k < 9; k++) {
          const nk = ordCounts[p * 9 + k]!;
          if (nk) oOrd[c]![k]! += (c === k ? nc * (nc - 1) : nc * nk) / (mo - 1);
        }
      }
    }
  }
  const finite = (x: number) => (Number.isFinite(x) ? x : null);
  const alphaNominal = finite(alphaFromCoincidences(oNom, [0, 1, 2, 3], "nominal"));
  // Drop values nobody used so the ordinal ranks are over observed values only.
  const usedOrd = [...Array(9).keys()].filter((v) => oOrd[v]!.some((x) => x > 0));
  const alphaOrdinal = finite(
    alphaFromCoincidences(
      usedOrd.map((c) => usedOrd.map((k) => oOrd[c]![k]!)),
      usedOrd.map((v) => v - 4),
      "ordinal",
    ),
  );

  // Pass 2: per-annotator figures.
  const aN = new Int32Array(nAnn);
  const aAgree = new Float64Array(nAnn);
  const aAgreeN = new Int32Array(nAnn);
  const aGold = new Int32Array(nAnn);
  const aGoldN = new Int32Array(nAnn);
  const aLeft = new Int32Array(nAnn);
  const aDecisive = new Int32Array(nAnn);
  const aFast = new Int32Array(nAnn);
  const times: number[][] = Array.from({ length: nAnn }, () => []);
  const allTimes: number[] = [];
  let goldCorrect = 0;
  let goldTotal = 0;
  let leftTotal = 0;
  let decisiveTotal = 0;
  for (let r = 0; r < n; r++) {
    if (!alive[r] || ai[r]) continue;
    const a = ann[r]!;
    const p = pair[r]!;
    const c = choice[r]!;
    aN[a]!++;
    // Leave-one-out: the majority of the others on this pair (a split majority shares credit).
    let best = 0;
    let others = 0;
    for (let k = 0; k < 4; k++) {
      const nk = counts[p * 4 + k]! - (k === c ? 1 : 0);
      others += nk;
      if (nk > best) best = nk;
    }
    if (others > 0) {
      let tied = 0;
      for (let k = 0; k < 4; k++) if (counts[p * 4 + k]! - (k === c ? 1 : 0) === best) tied++;
      const mine = counts[p * 4 + c]! - 1;
      aAgree[a]! += mine === best ? 1 / tied : 0;
      aAgreeN[a]!++;
    }
    const ref = index.pairGold[p] ? index.pairReference[p]! : -1;
    if (ref >= 0) {
      aGoldN[a]!++;
      goldTotal++;
      if (c === ref) {
        aGold[a]!++;
        goldCorrect++;
      }
    }
    if (c <= 1) {
      aDecisive[a]!++;
      decisiveTotal++;
      if (choseLeft(c, leftIsA[r]!)) {
        aLeft[a]!++;
        leftTotal++;
      }
    }
    const t = timeMs[r]!;
    if (t >= 0) {
      times[a]!.push(t);
      allTimes.push(t);
      if (t < settings.tooFastMs) aFast[a]!++;
    }
  }
  const med = (xs: number[]): number | null => {
    if (!xs.length) return null;
    const s = Float64Array.from(xs).sort();
    const mid = s.length >> 1;
    return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  };
  const annotators: AnnotatorQuality[] = [];
  for (let a = 0; a < nAnn; a++) {
    if (aN[a] === 0) continue;
    const goldAccuracy = aGoldN[a] ? aGold[a]! / aGoldN[a]! : null;
    const leftShare = aDecisive[a] ? aLeft[a]! / aDecisive[a]! : null;
    const leftP = aDecisive[a] ? binomialTestTwoSided(aLeft[a]!, aDecisive[a]!) : null;
    const agreement = aAgreeN[a] ? aAgree[a]! / aAgreeN[a]! : null;
    const medianMs = med(times[a]!);
    const flags: AnnotatorQuality["flags"] = [];
    if (goldAccuracy !== null && aGoldN[a]! >= settings.goldMinJudgments && goldAccuracy < settings.goldMinAccuracy) flags.push("gold");
    if (medianMs !== null && medianMs < settings.tooFastMs) flags.push("too_fast");
    if (leftP !== null && aDecisive[a]! >= BIAS_MIN_N && leftP < BIAS_P) flags.push("position_bias");
    if (agreement !== null && aAgreeN[a]! >= AGREEMENT_MIN_N && agreement < LOW_AGREEMENT) flags.push("low_agreement");
    annotators.push({
      annotatorId: index.annotatorIds[a]!,
      judgments: aN[a]!,
      medianMs,
      tooFastShare: times[a]!.length ? aFast[a]! / times[a]!.length : 0,
      agreement,
      agreementN: aAgreeN[a]!,
      goldAccuracy,
      goldN: aGoldN[a]!,
      leftShare,
      decisiveN: aDecisive[a]!,
      leftP,
      flags,
    });
  }

  // Cohen's κ for annotator pairs that share enough pairs: group rows by pair (counting sort,
  // no per-pair allocations), then count a 4×4 confusion table per annotator pair.
  const start = new Int32Array(nPairs + 1);
  for (let r = 0; r < n; r++) if (alive[r] && !ai[r]) start[pair[r]! + 1]!++;
  for (let p = 0; p < nPairs; p++) start[p + 1]! += start[p]!;
  const fill = start.slice(0, nPairs);
  const rowsByPair = new Int32Array(start[nPairs]!);
  for (let r = 0; r < n; r++) if (alive[r] && !ai[r]) rowsByPair[fill[pair[r]!]!++] = r;
  const confusion = new Map<number, Int32Array>();
  for (let p = 0; p < nPairs; p++) {
    const lo = start[p]!;
    const hi = start[p + 1]!;
    if (hi - lo < 2) continue;
    for (let i = lo; i < hi; i++) {
      for (let j = i + 1; j < hi; j++) {
        let ru = rowsByPair[i]!;
        let rv = rowsByPair[j]!;
        if (ann[ru] === ann[rv]) continue;
        if (ann[ru]! > ann[rv]!) [ru, rv] = [rv, ru];
        const key = ann[ru]! * nAnn + ann[rv]!;
        let t = confusion.get(key);
        if (!t) confusion.set(key, (t = new Int32Array(16)));
        t[choice[ru]! * 4 + choice[rv]!]!++;
      }
    }
  }
  const kappa = [...confusion.entries()]
    .map(([key, t]) => ({ key, t, overlap: t.reduce((a, b) => a + b, 0) }))
    .filter((e) => e.overlap >= KAPPA_MIN_OVERLAP)
    .map((e) => ({ a: index.annotatorIds[Math.floor(e.key / nAnn)]!, b: index.annotatorIds[e.key % nAnn]!, overlap: e.overlap, kappa: finite(kappaFromTable(e.t, 4)) }))
    .sort((x, y) => y.overlap - x.overlap)
    .slice(0, 100);

  // Judgments per day (UTC).
  const perDayMap = new Map<number, number>();
  const created = index.createdAt.data;
  for (let r = 0; r < n; r++) {
    if (!alive[r] || ai[r]) continue;
    const d = Math.floor(created[r]! / 86_400_000);
    perDayMap.set(d, (perDayMap.get(d) ?? 0) + 1);
  }
  const perDay = [...perDayMap.entries()].sort((x, y) => x[0] - y[0]).map(([d, count]) => ({ day: new Date(d * 86_400_000).toISOString().slice(0, 10), count }));

  const leaderboard = computeLeaderboard(index, opts.bootstrapRounds ?? 200);

  return {
    judgments: n,
    humanJudgments: human,
    pairsWithOverlap,
    alphaNominal,
    alphaOrdinal,
    meanPairAgreement: pairsWithOverlap ? agreementSum / pairsWithOverlap : null,
    splitPairs,
    goldAccuracy: goldTotal ? goldCorrect / goldTotal : null,
    goldN: goldTotal,
    positionBias: { leftShare: decisiveTotal ? leftTotal / decisiveTotal : null, n: decisiveTotal, p: decisiveTotal ? binomialTestTwoSided(leftTotal, decisiveTotal) : null },
    medianMs: med(allTimes),
    annotators: annotators.sort((x, y) => y.judgments - x.judgments),
    kappa,
    perDay,
    leaderboard,
    computedMs: performance.now() - t0,
  };
}

/**
 * Chatbot-Arena-style leaderboard over pairs between different models: each current human vote
 * is a battle (both-bad counts as a tie, as Arena does); Bradley–Terry with bootstrap intervals.
 */
export function computeLeaderboard(index: ProjectJudgmentIndex, rounds: number): QualityReport["leaderboard"] {
  const M = index.models.length;
  if (M < 2) return null;
  const cells = new Float64Array(M * M * 3); // [i][j] i<j: winsI, winsJ, ties
  const n = index.size;
  let any = false;
  for (let r = 0; r < n; r++) {
    if (!index.alive.data[r] || index.ai.data[r]) continue;
    const p = index.pair.data[r]!;
    let i = index.pairModelA[p]!;
    let j = index.pairModelB[p]!;
    if (i < 0 || j < 0 || i === j) continue;
    const c = index.choice.data[r]!;
    let outcome = c === 0 ? 0 : c === 1 ? 1 : 2;
    if (i > j) {
      [i, j] = [j, i];
      if (outcome < 2) outcome = 1 - outcome;
    }
    cells[(i * M + j) * 3 + outcome]!++;
    any = true;
  }
  if (!any) return null;
  const battles: BattleCounts[] = [];
  for (let i = 0; i < M; i++)
    for (let j = i + 1; j < M; j++) {
      const b = (i * M + j) * 3;
      if (cells[b]! + cells[b + 1]! + cells[b + 2]! > 0) battles.push({ i, j, winsI: cells[b]!, winsJ: cells[b + 1]!, ties: cells[b + 2]! });
    }
  const ratings = bradleyTerry(M, battles);
  const { lo, hi } = bradleyTerryBootstrap(M, battles, rounds, 20261128);
  const rows: LeaderboardRow[] = index.models.map((model, m) => ({ model, rating: ratings[m]!, lo: lo[m]!, hi: hi[m]!, wins: 0, ties: 0, losses: 0, battles: 0 }));
  const winRate: (number | null)[][] = Array.from({ length: M }, () => new Array<number | null>(M).fill(null));
  for (const b of battles) {
    const total = b.winsI + b.winsJ + b.ties;
    rows[b.i]!.wins += b.winsI;
    rows[b.i]!.losses += b.winsJ;
    rows[b.j]!.wins += b.winsJ;
    rows[b.j]!.losses += b.winsI;
    rows[b.i]!.ties += b.ties;
    rows[b.j]!.ties += b.ties;
    rows[b.i]!.battles += total;
    rows[b.j]!.battles += total;
    winRate[b.i]![b.j] = (b.winsI + b.ties / 2) / total;
    winRate[b.j]![b.i] = (b.winsJ + b.ties / 2) / total;
  }
  const order = rows.map((_, m) => m).filter((m) => rows[m]!.battles > 0).sort((x, y) => rows[y]!.rating - rows[x]!.rating);
  return { models: order.map((m) => rows[m]!), winRate: order.map((i) => order.map((j) => winRate[i]![j] ?? null)) };
}
