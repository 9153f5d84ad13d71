/** A judge's reliability diagram (inline SVG, like QualityCharts.tsx), with the same figures as a table. */
import { formatCount, formatShare } from "../lib/format";

export type CalibrationBucketView = { lo: number; hi: number; n: number; agreement: number | null; mean_confidence: number | null };

/**
 * Observed agreement with people against the judge's stated confidence, per confidence bucket.
 * A calibrated judge sits on the diagonal; points under it are over-confident. Dot area follows
 * the number of compared pairs, so a bucket of three pairs does not look like a verdict.
 */
export function CalibrationChart({ buckets, label }: { buckets: CalibrationBucketView[]; label: string }) {
  const W = 272;
  const H = 200;
  const left = 46;
  const bottom = 28;
  const top = 8;
  const right = 10;
  const pw = W - left - right;
  const ph = H - top - bottom;
  // Confidence is max(P, 1 − P), so the x axis starts at 0.5; agreement can fall anywhere in 0..1.
  const x = (c: number) => left + ((c - 0.5) / 0.5) * pw;
  const y = (a: number) => top + (1 - a) * ph;
  const pts = buckets.filter((b) => b.n > 0 && b.agreement !== null && b.mean_confidence !== null) as (CalibrationBucketView & { agreement: number; mean_confidence: number })[];
  const maxN = Math.max(1, ...pts.map((b) => b.n));
  const summary = pts.length
    ? pts.map((b) => `confidence ${formatShare(b.mean_confidence)}: agreement ${formatShare(b.agreement)} over ${b.n} pairs`).join("; ")
    : "no compared pairs yet";
  return (
    <figure className="flex flex-col gap-3 sm:flex-row sm:items-start">
      <svg viewBox={`0 0 ${W} ${H}`} className="h-48 w-full max-w-xs shrink-0" role="img" aria-label={`Calibration of ${label}: ${summary}`} data-testid="calibration-chart">
        {[0, 0.25, 0.5, 0.75, 1].map((t) => (
          <g key={`y${t}`}>
            <line x1={left} x2={W - right} y1={y(t)} y2={y(t)} stroke="var(--pw-line)" strokeDasharray={t === 0 ? undefined : "2 3"} />
            <text x={left - 4} y={y(t) + 3} textAnchor="end" fontSize="9" fill="var(--pw-muted)">
              {Math.round(t * 100)}%
            </text>
          </g>
        ))}
        {[0.5, 0.6, 0.7, 0.8, 0.9, 1].map((t) => (
          <text key={`x${t}`} x={x(t)} y={H - bottom + 12} textAnchor="middle" fontSize="9" fill="var(--pw-muted)">
            {Math.round(t * 100)}%
          </text>
        ))}
        <text x={left + pw / 2} y={H - 3} textAnchor="middle" fontSize="9" fill="var(--pw-muted)">
          judge's confidence
        </text>
        <text x={10} y={top + ph / 2} textAnchor="middle" fontSize="9" fill="var(--pw-muted)" transform={`rotate(-90 10 ${top + ph / 2})`}>
          agrees with people
        </text>
        {/* Perfect calibration: stated confidence = observed agreement. */}
        <line x1={x(0.5)} y1={y(0.5)} x2={x(1)} y2={y(1)} stroke="var(--pw-muted)" strokeDasharray="4 3" />
        {pts.length > 1 ? (
          <polyline points={pts.map((b) => `${x(b.mean_confidence)},${y(b.agreement)}`).join(" ")} fill="none" stroke="var(--pw-accent)" strokeWidth="1.5" opacity="0.6" />
        ) : null}
        {pts.map((b) => (
          <circle key={b.lo} cx={x(b.mean_confidence)} cy={y(b.agreement)} r={3 + 5 * Math.sqrt(b.n / maxN)} fill="var(--pw-accent)" fillOpacity="0.75" stroke="var(--pw-surface)">
            <title>{`Confidence ${formatShare(b.lo)}–${formatShare(b.hi)}: mean ${formatShare(b.mean_confidence)}, agreement ${formatShare(b.agreement)}, ${b.n} pairs`}</title>
          </circle>
        ))}
        {pts.length === 0 ? (
          <text x={left + pw / 2} y={top + ph / 2} textAnchor="middle" fontSize="11" fill="var(--pw-muted)">
            No compared pairs yet
          </text>
        ) : null}
      </svg>
      <table className="text-xs" data-testid="calibration-table">
        <caption className="mb-1 text-left text-xs text-muted">Dashed diagonal: a calibrated judge. Below it, the judge is more confident than it is right.</caption>
        <thead>
          <tr className="border-b border-line text-left uppercase tracking-wide text-muted">
            <th scope="col" className="py-1 pr-3 font-medium">Confidence</th>
            <th scope="col" className="py-1 pr-3 text-right font-medium">Pairs</th>
            <th scope="col" className="py-1 pr-3 text-right font-medium">Mean conf.</th>
            <th scope="col" className="py-1 text-right font-medium">Agreement</th>
          </tr>
        </thead>
        <tbody>
          {buckets.map((b) => (
            <tr key={b.lo} className="border-b border-line last:border-0">
              <td className="whitespace-nowrap py-1 pr-3 tabular-nums">
                {formatShare(b.lo)}–{formatShare(b.hi)}
              </td>
              <td className="py-1 pr-3 text-right tabular-nums">{formatCount(b.n)}</td>
              <td className="py-1 pr-3 text-right tabular-nums">{formatShare(b.mean_confidence)}</td>
              <td className="py-1 text-right tabular-nums">{formatShare(b.agreement)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
