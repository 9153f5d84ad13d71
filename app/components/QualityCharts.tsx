/** Small inline SVG figures for the quality page (no chart library installed; see BarChart.tsx). */

/** Judgments per UTC day. Shows the last `maxDays` days that have data. */
export function DailyBarChart({ data, maxDays = 30 }: { data: { day: string; count: number }[]; maxDays?: number }) {
  const days = data.slice(-maxDays);
  const max = Math.max(1, ...days.map((d) => d.count));
  const w = 22;
  const gap = 6;
  const h = 120;
  const pad = 12;
  // At least two weeks of slots, so a young project's single bar is not stretched across the card.
  const width = pad * 2 + Math.max(days.length, 14) * (w + gap);
  const total = days.reduce((s, d) => s + d.count, 0);
  const labelEvery = Math.max(1, Math.ceil(days.length / 8));
  return (
    <figure>
      <svg viewBox={`0 0 ${width} ${h + 18}`} className="h-40 w-full" preserveAspectRatio="xMinYMid meet" role="img" aria-label={`Judgments per day, ${days.length} days: ${total} in total`}>
        <line x1="0" x2={width} y1={h} y2={h} stroke="var(--pw-line)" />
        {total === 0 ? (
          <text x={width / 2} y={h / 2} textAnchor="middle" fontSize="11" fill="var(--pw-muted)">
            No judgments yet
          </text>
        ) : null}
        {days.map((d, i) => {
          const bh = Math.round((d.count / max) * (h - 14));
          const x = pad + i * (w + gap);
          return (
            <g key={d.day}>
              <title>{`${d.day}: ${d.count}`}</title>
              <rect x={x} y={h - bh} width={w} height={bh} rx="2" fill="var(--pw-accent)" />
              <text x={x + w / 2} y={h - bh - 3} textAnchor="middle" fontSize="9" fill="var(--pw-muted)">
                {d.count}
              </text>
              {i % labelEvery === 0 || i === days.length - 1 ? (
                <text x={x + w / 2} y={h + 13} textAnchor="middle" fontSize="9" fill="var(--pw-muted)">
                  {d.day.slice(5)}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption className="mt-1 text-xs text-muted">Days in UTC (month-day); days without judgments are left out.</figcaption>
    </figure>
  );
}

/** One row's rating with its 95% interval, on a shared scale [min, max]. */
export function IntervalBar({ rating, lo, hi, min, max, label }: { rating: number; lo: number; hi: number; min: number; max: number; label: string }) {
  const span = max - min || 1;
  const x = (v: number) => 4 + ((v - min) / span) * 192;
  return (
    <svg viewBox="0 0 200 16" className="h-4 w-full min-w-32" role="img" aria-label={`${label}: ${Math.round(rating)}, 95% interval ${Math.round(lo)} to ${Math.round(hi)}`}>
      <line x1="4" x2="196" y1="8" y2="8" stroke="var(--pw-line)" />
      <line x1={x(lo)} x2={x(hi)} y1="8" y2="8" stroke="var(--pw-accent)" strokeWidth="4" strokeLinecap="round" opacity="0.45" />
      <line x1={x(lo)} x2={x(lo)} y1="3" y2="13" stroke="var(--pw-accent)" />
      <line x1={x(hi)} x2={x(hi)} y1="3" y2="13" stroke="var(--pw-accent)" />
      <circle cx={x(rating)} cy="8" r="3.5" fill="var(--pw-accent)" />
    </svg>
  );
}

/** Row model's win rate against the column model (ties count half), shaded by value and printed as text. */
export function WinRateMatrix({ models, winRate }: { models: string[]; winRate: (number | null)[][] }) {
  return (
    <div className="overflow-x-auto">
      <table className="text-sm" data-testid="winrate-matrix">
        <caption className="mb-2 text-left text-xs text-muted">Row model's win rate against the column model; ties count as half a win.</caption>
        <thead>
          <tr>
            <th className="px-2 py-1 text-left text-xs font-medium text-muted">vs →</th>
            {models.map((m) => (
              <th key={m} scope="col" className="max-w-48 truncate px-2 py-1 text-xs font-medium text-muted" title={m}>
                {m}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {models.map((row, i) => (
            <tr key={row}>
              <th scope="row" className="max-w-48 truncate px-2 py-1 text-left text-xs font-medium" title={row}>
                {row}
              </th>
              {models.map((col, j) => {
                const v = winRate[i]?.[j] ?? null;
                return (
                  <td
                    key={col}
                    className="px-2 py-1 text-center tabular-nums"
                    style={v === null ? undefined : { background: `color-mix(in srgb, var(--pw-accent) ${Math.round(v * 40)}%, transparent)` }}
                    title={v === null ? `${row} has not met ${col}` : `${row} vs ${col}: ${Math.round(v * 100)}%`}
                  >
                    {i === j ? "" : v === null ? <span className="text-muted">—</span> : `${Math.round(v * 100)}%`}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
