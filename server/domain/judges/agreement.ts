import { type CalibrationBucket } from "./types.ts";

/** Confidence buckets of the calibration chart: [0.5, 0.6), …, [0.9, 1.0]. */
export const BUCKET_EDGES = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0] as const;

export type Comparison = { confidence: number; agree: boolean };

/**
 * Observed agreement per confidence bucket next to the judge's mean stated confidence: a
 * calibrated judge's points lie on the diagonal (Guo et al. 2017's reliability diagram).
 */
export function calibrationBuckets(rows: Comparison[]): CalibrationBucket[] {
  const k = BUCKET_EDGES.length - 1;
  const n = new Array<number>(k).fill(0);
  const agree = new Array<number>(k).fill(0);
  const conf = new Array<number>(k).fill(0);
  for (const r of rows) {
    const c = Math.min(1, Math.max(0.5, r.confidence));
    const b = Math.min(k - 1, Math.floor((c - 0.5) * 10 + 1e-9));
    n[b]!++;
    if (r.agree) agree[b]!++;
    conf[b]! += c;
  }
  return Array.from({ length: k }, (_, b) => ({
    lo: BUCKET_EDGES[b]!,
    hi: BUCKET_EDGES[b + 1]!,
    n: n[b]!,
    agreement: n[b]! ? agree[b]! / n[b]! : null,
    mean_confidence: n[b]! ? conf[b]! / n[b]! : null,
  }));
}

export function rate(agree: number, n: number): number | null {
  return n ? agree / n : null;
}
