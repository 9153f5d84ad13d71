import { type ReactNode } from "react";

/**
 * Small pieces the training pages share: state badges (icon + word, never color alone), a
 * progress bar and a metric line chart as inline SVG (no chart library is installed; see
 * docs/decisions/040-training-pages.md).
 */

type Tone = "neutral" | "active" | "good" | "bad" | "accent";

const TONES: Record<Tone, string> = {
  neutral: "border-line text-muted bg-sunken",
  active: "border-accent text-accent bg-accent-soft",
  accent: "border-accent text-accent bg-surface",
  good: "border-good text-good bg-surface",
  bad: "border-bad text-bad bg-bad-soft",
};

const STATES: Record<string, { icon: string; label: string; tone: Tone }> = {
  pending: { icon: "○", label: "Pending", tone: "neutral" },
  queued: { icon: "◷", label: "Queued", tone: "neutral" },
  running: { icon: "▶", label: "Running", tone: "active" },
  waiting_ab: { icon: "‖", label: "Waiting for A/B", tone: "active" },
  succeeded: { icon: "✓", label: "Succeeded", tone: "good" },
  failed: { icon: "✕", label: "Failed", tone: "bad" },
  cancelled: { icon: "⊘", label: "Cancelled", tone: "neutral" },
  skipped: { icon: "–", label: "Skipped", tone: "neutral" },
  candidate: { icon: "◇", label: "Candidate", tone: "accent" },
  champion: { icon: "★", label: "Champion", tone: "good" },
  retired: { icon: "▽", label: "Retired", tone: "neutral" },
  online: { icon: "●", label: "Online", tone: "good" },
  offline: { icon: "○", label: "Offline", tone: "neutral" },
};

export function StateBadge({ state, label, testId }: { state: string; label?: string; testId?: string }) {
  const s = STATES[state] ?? { icon: "•", label: state, tone: "neutral" as Tone };
  return (
    <span data-testid={testId} data-state={state} className={`inline-flex items-center gap-1 whitespace-nowrap rounded border px-1.5 py-0.5 text-xs font-medium ${TONES[s.tone]}`}>
      <span aria-hidden>{s.icon}</span>
      {label ?? s.label}
    </span>
  );
}

export function ProgressBar({ step, total, label, testId }: { step: number; total: number; label: string; testId?: string }) {
  const share = total > 0 ? Math.min(1, step / total) : 0;
  return (
    <div className="flex items-center gap-2" data-testid={testId}>
      <div role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={total || 1} aria-valuenow={total > 0 ? step : 0} className="h-1.5 min-w-16 flex-1 overflow-hidden rounded-full bg-sunken">
        <div className="h-full rounded-full bg-accent motion-safe:transition-[width]" style={{ width: `${(share * 100).toFixed(1)}%` }} />
      </div>
      <span className="whitespace-nowrap text-xs tabular-nums text-muted">{total > 0 ? `${step}/${total}` : "—"}</span>
    </div>
  );
}

/** 0.91234 → "0.912", 1234.5 → "1,235", 0.00012 → "1.2e-4". */
export function formatMetric(v: unknown): string {
  if (typeof v !== "number" || !Number.isFinite(v)) return typeof v === "string" ? v : "—";
  const a = Math.abs(v);
  if (a !== 0 && a < 0.001) return v.toExponential(1).replace("e-", "e-");
  if (a >= 1000) return new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 }).format(v);
  return String(Number(v.toPrecision(3)));
}

export function Figure({ label, value, testId, title }: { label: ReactNode; value: ReactNode; testId?: string; title?: string }) {
  return (
    <div className="flex items-baseline justify-between gap-2 text-xs" title={title}>
      <dt className="text-muted">{label}</dt>
      <dd className="font-medium tabular-nums" data-testid={testId}>
        {value}
      </dd>
    </div>
  );
}

/** One metric over steps: a small line chart with its last value, min and max. */
export function MetricChart({ name, points }: { name: string; points: { step: number; value: number }[] }) {
  const w = 280;
  const h = 90;
  const pad = { l: 4, r: 4, t: 8, b: 14 };
  const last = points[points.length - 1];
  const xs = points.map((p) => p.step);
  const ys = points.map((p) => p.value);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const y0 = Math.min(...ys);
  const y1 = Math.max(...ys);
  const sx = (x: number) => pad.l + (x1 === x0 ? (w - pad.l - pad.r) / 2 : ((x - x0) / (x1 - x0)) * (w - pad.l - pad.r));
  const sy = (y: number) => pad.t + (y1 === y0 ? (h - pad.t - pad.b) / 2 : (1 - (y - y0) / (y1 - y0)) * (h - pad.t - pad.b));
  const path = points.map((p, i) => `${i ? "L" : "M"}${sx(p.step).toFixed(1)},${sy(p.value).toFixed(1)}`).join(" ");
  return (
    <figure className="rounded-lg border border-line bg-surface p-3" data-testid="metric-chart" data-metric={name} data-points={points.length}>
      <figcaption className="mb-1 flex items-baseline justify-between gap-2">
        <span className="truncate font-mono text-xs" title={name}>
          {name}
        </span>
        <span className="text-sm font-semibold tabular-nums" data-testid="metric-last">
          {last ? formatMetric(last.value) : "—"}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} className="h-24 w-full" role="img" aria-label={`${name}: ${points.length} points${last ? `, last ${formatMetric(last.value)} at step ${last.step}` : ""}`}>
        <line x1={pad.l} x2={w - pad.r} y1={h - pad.b} y2={h - pad.b} stroke="var(--pw-line)" />
        {points.length > 1 ? <path d={path} fill="none" stroke="var(--pw-accent)" strokeWidth="1.75" strokeLinejoin="round" /> : null}
        {points.length <= 30
          ? points.map((p) => (
              <circle key={p.step} cx={sx(p.step)} cy={sy(p.value)} r="2.25" fill="var(--pw-accent)">
                <title>{`step ${p.step}: ${formatMetric(p.value)}`}</title>
              </circle>
            ))
          : null}
        <text x={pad.l} y={h - 2} fontSize="9" fill="var(--pw-muted)">
          {points.length ? `step ${x0}` : ""}
        </text>
        <text x={w - pad.r} y={h - 2} fontSize="9" fill="var(--pw-muted)" textAnchor="end">
          {points.length ? `step ${x1}` : ""}
        </text>
      </svg>
      <div className="flex justify-between text-[11px] tabular-nums text-muted">
        <span>min {formatMetric(y0)}</span>
        <span>max {formatMetric(y1)}</span>
      </div>
    </figure>
  );
}

/** Merges two metric series (by step; the later source wins on the same step). */
export function mergeSeries(a: Record<string, { step: number; value: number }[]>, b: Record<string, { step: number; value: number }[]>) {
  const out: Record<string, { step: number; value: number }[]> = {};
  for (const name of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const m = new Map<number, number>();
    for (const p of a[name] ?? []) m.set(p.step, p.value);
    for (const p of b[name] ?? []) m.set(p.step, p.value);
    out[name] = [...m.entries()].sort((x, y) => x[0] - y[0]).map(([step, value]) => ({ step, value }));
  }
  return out;
}

export function durationMs(startedAt: string | number | null, finishedAt: string | number | null, now: number): number | null {
  if (startedAt === null) return null;
  const s = typeof startedAt === "number" ? startedAt : Date.parse(startedAt);
  const f = finishedAt === null ? now : typeof finishedAt === "number" ? finishedAt : Date.parse(finishedAt);
  return Math.max(0, f - s);
}
