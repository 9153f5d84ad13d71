/** Judgments per hour as a small inline SVG bar chart (no chart library installed). */
export function HourlyBarChart({ data }: { data: { hour: string; count: number }[] }) {
  const max = Math.max(1, ...data.map((d) => d.count));
  const w = 24;
  const gap = 4;
  const h = 120;
  const width = data.length * (w + gap);
  const total = data.reduce((s, d) => s + d.count, 0);
  return (
    <figure>
      <svg viewBox={`0 0 ${width} ${h + 18}`} className="h-40 w-full" role="img" aria-label={`Judgments per hour, last ${data.length} hours: ${total} in total`}>
        <line x1="0" x2={width} y1={h} y2={h} stroke="var(--pw-line)" />
        {total === 0 ? (
          <text x={width / 2} y={h / 2} textAnchor="middle" fontSize="11" fill="var(--pw-muted)">
            No judgments in the last 24 hours
          </text>
        ) : null}
        {data.map((d, i) => {
          const bh = Math.round((d.count / max) * (h - 14));
          const x = i * (w + gap);
          const label = new Date(d.hour).getUTCHours();
          return (
            <g key={d.hour}>
              <title>{`${d.hour.slice(11, 16)} UTC: ${d.count}`}</title>
              <rect x={x} y={h - bh} width={w} height={bh} rx="2" fill="var(--pw-accent)" />
              {d.count > 0 ? (
                <text x={x + w / 2} y={h - bh - 3} textAnchor="middle" fontSize="9" fill="var(--pw-muted)">
                  {d.count}
                </text>
              ) : null}
              {i % 3 === 0 ? (
                <text x={x + w / 2} y={h + 13} textAnchor="middle" fontSize="9" fill="var(--pw-muted)">
                  {String(label).padStart(2, "0")}h
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption className="mt-1 text-xs text-muted">Hours in UTC; the last bar is the current hour.</figcaption>
    </figure>
  );
}
