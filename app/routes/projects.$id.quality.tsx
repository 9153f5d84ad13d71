import { type ActionFunctionArgs, data, type LoaderFunctionArgs, type MetaFunction, redirect } from "@remix-run/node";
import { useFetcher, useLoaderData, useRevalidator } from "@remix-run/react";
import { type ReactNode, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ProjectNav } from "../components/ProjectNav";
import { DailyBarChart, IntervalBar, WinRateMatrix } from "../components/QualityCharts";
import { Button, Card, LiveHeader } from "../components/ui";
import { friendlyMessage, isDomainError } from "../lib/errors";
import { formatCount, formatDuration, formatP, formatShare, formatStat } from "../lib/format";
import { orRespond, parseId, requireUser } from "../lib/session.server";
import { useProjectSocket } from "../lib/socket";

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: `Quality · ${data?.project.name ?? "Project"} · Pairwise` }];

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const user = requireUser(context, request);
  const projectId = parseId(params.id);
  const { project, memberRole } = await orRespond(context.services.projects.requireMember(user, projectId));
  if (memberRole === "annotator") throw redirect(`/projects/${projectId}/annotate`);
  const report = await orRespond(context.services.quality.report(user, projectId));
  return { project: { id: project.id, name: project.name, quality: project.quality }, report };
}

export async function action({ context, request, params }: ActionFunctionArgs) {
  const user = requireUser(context, request);
  const projectId = parseId(params.id);
  const fd = await request.formData();
  const userId = Number(fd.get("userId"));
  const paused = fd.get("paused") === "true";
  try {
    await context.services.projects.setPausedByResearcher(user, projectId, userId, paused);
    return data({ ok: true as const, error: null });
  } catch (e) {
    if (isDomainError(e)) return data({ ok: false as const, error: friendlyMessage(e) }, { status: 400 });
    throw e;
  }
}

type Report = ReturnType<typeof useLoaderData<typeof loader>>["report"];
type Annotator = Report["annotators"][number];

/** Bias is flagged at the same level the server uses for annotators (metrics.ts BIAS_P). */
const BIAS_P = 0.01;
const REFRESH_MS = 3000;

const FLAG_TEXT: Record<Annotator["flags"][number], { label: string; why: string }> = {
  gold: { label: "Low gold accuracy", why: "Gold accuracy is below the project's minimum" },
  too_fast: { label: "Too fast", why: "Many judgments were faster than the project's too-fast threshold" },
  position_bias: { label: "Position bias", why: "Picks the left response more often than chance would explain (p < 0.01)" },
  low_agreement: { label: "Low agreement", why: "Agrees with the other annotators' majority less than 40% of the time" },
};

function Badge({ children, tone = "bad", title }: { children: ReactNode; tone?: "bad" | "neutral"; title?: string }) {
  const cls = tone === "bad" ? "border-bad text-bad bg-bad-soft" : "border-line text-muted bg-sunken";
  return (
    <span title={title} className={`inline-flex items-center whitespace-nowrap rounded border px-1.5 py-0.5 text-xs font-medium ${cls}`}>
      {children}
    </span>
  );
}

function StatFigure({ label, value, sub, help, testId, flag }: { label: ReactNode; value: string; sub?: ReactNode; help: string; testId: string; flag?: ReactNode }) {
  return (
    <div className="rounded-lg border border-line bg-surface px-4 py-3" title={help}>
      <div className="flex items-center justify-between gap-2 text-xs font-medium uppercase tracking-wide text-muted">
        <span>{label}</span>
        <span aria-hidden className="cursor-help rounded-full border border-line px-1 text-[10px] leading-4 normal-case">
          ?
        </span>
      </div>
      <div className="mt-1 flex flex-wrap items-baseline gap-2">
        <span className="text-2xl font-semibold tabular-nums" data-testid={testId} aria-live="polite">
          {value}
        </span>
        {flag}
      </div>
      {sub ? <div className="text-xs text-muted">{sub}</div> : null}
      <p className="sr-only">{help}</p>
    </div>
  );
}

type SortKey = "name" | "judgments" | "medianMs" | "agreement" | "goldAccuracy" | "leftShare" | "flags";

const COLUMNS: { key: SortKey; label: string; numeric: boolean }[] = [
  { key: "name", label: "Name", numeric: false },
  { key: "judgments", label: "Judgments", numeric: true },
  { key: "medianMs", label: "Median time", numeric: true },
  { key: "agreement", label: "Agreement", numeric: true },
  { key: "goldAccuracy", label: "Gold accuracy", numeric: true },
  { key: "leftShare", label: "Left share", numeric: true },
  { key: "flags", label: "Flags", numeric: false },
];

function sortValue(a: Annotator, key: SortKey): string | number | null {
  if (key === "name") return a.name.toLowerCase();
  if (key === "flags") return a.flags.length;
  return a[key];
}

function sortAnnotators(rows: Annotator[], key: SortKey, dir: "asc" | "desc"): Annotator[] {
  const sign = dir === "asc" ? 1 : -1;
  return [...rows].sort((x, y) => {
    const a = sortValue(x, key);
    const b = sortValue(y, key);
    // Missing values (no gold answered yet, no overlap) go last in either direction.
    if (a === null && b === null) return x.annotatorId - y.annotatorId;
    if (a === null) return 1;
    if (b === null) return -1;
    if (a < b) return -sign;
    if (a > b) return sign;
    return x.annotatorId - y.annotatorId;
  });
}

function PauseButton({ annotator }: { annotator: Annotator }) {
  const fetcher = useFetcher<typeof action>();
  const pending = fetcher.state !== "idle";
  // Optimistic: show the state being asked for until the report catches up.
  const paused = pending ? fetcher.formData?.get("paused") === "true" : annotator.paused;
  return (
    <fetcher.Form method="post" className="flex flex-col items-end gap-1">
      <input type="hidden" name="userId" value={annotator.annotatorId} />
      <input type="hidden" name="paused" value={paused ? "false" : "true"} />
      <Button type="submit" variant={paused ? "secondary" : "danger"} disabled={pending} aria-label={`${paused ? "Resume" : "Pause"} ${annotator.name}`}>
        {paused ? "Resume" : "Pause"}
      </Button>
      {fetcher.data && !fetcher.data.ok ? <span className="text-xs text-bad">{fetcher.data.error}</span> : null}
    </fetcher.Form>
  );
}

function AnnotatorTable({ annotators }: { annotators: Annotator[] }) {
  const [sort, setSort] = useState<{ key: SortKey; dir: "asc" | "desc" }>({ key: "judgments", dir: "desc" });
  const rows = useMemo(() => sortAnnotators(annotators, sort.key, sort.dir), [annotators, sort]);
  const onSort = (key: SortKey, numeric: boolean) =>
    setSort((s) => (s.key === key ? { key, dir: s.dir === "asc" ? "desc" : "asc" } : { key, dir: numeric ? "desc" : "asc" }));
  if (annotators.length === 0) return <p className="text-sm text-muted">No human judgments yet.</p>;
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-sm" data-testid="quality-annotators">
        <thead>
          <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
            {COLUMNS.map((c) => (
              <th key={c.key} scope="col" aria-sort={sort.key === c.key ? (sort.dir === "asc" ? "ascending" : "descending") : "none"} className={`py-2 pr-3 font-medium ${c.numeric ? "text-right" : ""}`}>
                <button type="button" onClick={() => onSort(c.key, c.numeric)} className="inline-flex items-center gap-1 uppercase tracking-wide hover:text-ink">
                  {c.label}
                  <span aria-hidden className="w-2 text-[10px]">
                    {sort.key === c.key ? (sort.dir === "asc" ? "▲" : "▼") : ""}
                  </span>
                </button>
              </th>
            ))}
            <th className="py-2 font-medium">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((a) => (
            <tr key={a.annotatorId} className="border-b border-line align-top last:border-0" data-testid="quality-annotator-row">
              <td className="py-2 pr-3">
                <div className="font-medium" data-testid="annotator-name">
                  {a.name}
                </div>
                <div className="text-xs text-muted">{a.email}</div>
              </td>
              <td className="py-2 pr-3 text-right tabular-nums">{formatCount(a.judgments)}</td>
              <td className="py-2 pr-3 text-right tabular-nums">
                {formatDuration(a.medianMs)}
                {a.tooFastShare > 0 ? <div className="text-xs text-muted">{formatShare(a.tooFastShare)} too fast</div> : null}
              </td>
              <td className="py-2 pr-3 text-right tabular-nums">
                {formatShare(a.agreement)}
                <div className="text-xs text-muted">n = {formatCount(a.agreementN)}</div>
              </td>
              <td className="py-2 pr-3 text-right tabular-nums">
                {formatShare(a.goldAccuracy)}
                <div className="text-xs text-muted">n = {formatCount(a.goldN)}</div>
              </td>
              <td className="py-2 pr-3 text-right tabular-nums">
                {formatShare(a.leftShare)}
                <div className="text-xs text-muted">{a.leftP === null ? `n = ${a.decisiveN}` : `${formatP(a.leftP)} · n = ${a.decisiveN}`}</div>
              </td>
              <td className="py-2 pr-3">
                <div className="flex flex-wrap gap-1">
                  {a.paused ? (
                    <Badge tone="neutral" title="This annotator gets no new pairs until resumed">
                      Paused
                    </Badge>
                  ) : null}
                  {a.flags.map((f) => (
                    <Badge key={f} title={FLAG_TEXT[f].why}>
                      {FLAG_TEXT[f].label}
                    </Badge>
                  ))}
                  {!a.paused && a.flags.length === 0 ? <span className="text-xs text-muted">none</span> : null}
                </div>
              </td>
              <td className="py-2 text-right">
                <PauseButton annotator={a} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Leaderboard({ leaderboard }: { leaderboard: NonNullable<Report["leaderboard"]> }) {
  const models = leaderboard.models;
  const min = Math.min(...models.map((m) => m.lo));
  const max = Math.max(...models.map((m) => m.hi));
  return (
    <div className="flex flex-col gap-6">
      <div className="overflow-x-auto">
        <table className="w-full text-sm" data-testid="leaderboard">
          <thead>
            <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
              <th className="py-2 pr-3 font-medium">#</th>
              <th className="py-2 pr-3 font-medium">Model</th>
              <th className="py-2 pr-3 text-right font-medium">Rating</th>
              <th className="py-2 pr-3 font-medium">95% interval</th>
              <th className="w-2/5 py-2 pr-3 font-medium">
                <span className="sr-only">Interval chart</span>
              </th>
              <th className="py-2 pr-3 text-right font-medium" title="Wins / ties / losses">
                W / T / L
              </th>
              <th className="py-2 text-right font-medium">Battles</th>
            </tr>
          </thead>
          <tbody>
            {models.map((m, i) => (
              <tr key={m.model} className="border-b border-line last:border-0" data-testid="leaderboard-row">
                <td className="py-2 pr-3 tabular-nums text-muted">{i + 1}</td>
                <td className="py-2 pr-3 font-medium">{m.model}</td>
                <td className="py-2 pr-3 text-right tabular-nums">{Math.round(m.rating)}</td>
                <td className="whitespace-nowrap py-2 pr-3 tabular-nums text-muted" data-testid="leaderboard-interval">
                  [{Math.round(m.lo)}, {Math.round(m.hi)}]
                </td>
                <td className="py-2 pr-3">
                  <IntervalBar rating={m.rating} lo={m.lo} hi={m.hi} min={min} max={max} label={m.model} />
                </td>
                <td className="whitespace-nowrap py-2 pr-3 text-right tabular-nums">
                  {m.wins} / {m.ties} / {m.losses}
                </td>
                <td className="py-2 text-right tabular-nums">{formatCount(m.battles)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p className="mt-2 text-xs text-muted">
          Bradley–Terry ratings on the Elo scale, as in Chatbot Arena; intervals from a bootstrap over battles. Overlapping intervals mean the data cannot yet tell the models apart. Both-bad counts as a tie.
        </p>
      </div>
      <WinRateMatrix models={models.map((m) => m.model)} winRate={leaderboard.winRate} />
    </div>
  );
}

function KappaTable({ kappa, names }: { kappa: Report["kappa"]; names: Map<number, string> }) {
  if (kappa.length === 0) return <p className="text-sm text-muted">No two annotators have judged the same pairs yet.</p>;
  const rows = [...kappa].sort((x, y) => y.overlap - x.overlap);
  return (
    <div className="max-h-96 overflow-auto">
      <table className="w-full text-sm" data-testid="kappa-table">
        <thead className="sticky top-0 bg-surface">
          <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
            <th className="py-2 pr-3 font-medium">Annotator</th>
            <th className="py-2 pr-3 font-medium">Annotator</th>
            <th className="py-2 pr-3 text-right font-medium">Shared pairs</th>
            <th className="py-2 text-right font-medium normal-case">κ</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((k) => (
            <tr key={`${k.a}-${k.b}`} className="border-b border-line last:border-0">
              <td className="py-1.5 pr-3">{names.get(k.a) ?? `#${k.a}`}</td>
              <td className="py-1.5 pr-3">{names.get(k.b) ?? `#${k.b}`}</td>
              <td className="py-1.5 pr-3 text-right tabular-nums">{formatCount(k.overlap)}</td>
              <td className="py-1.5 text-right tabular-nums">{k.kappa === null ? <span className="text-muted" title="Too few shared pairs">—</span> : formatStat(k.kappa)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="mt-2 text-xs text-muted">Cohen's κ over the pairs both judged (1 = always agree, 0 = chance level); shown once they share at least 10 pairs.</p>
    </div>
  );
}

/** Revalidates on socket events, at most once every REFRESH_MS (the report is not free to compute). */
function useThrottledRevalidate(): () => void {
  const revalidator = useRevalidator();
  const revalidateRef = useRef(revalidator.revalidate);
  revalidateRef.current = revalidator.revalidate;
  const last = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);
  return useCallback(() => {
    if (timer.current) return;
    const wait = Math.max(0, last.current + REFRESH_MS - Date.now());
    timer.current = setTimeout(() => {
      timer.current = null;
      last.current = Date.now();
      revalidateRef.current();
    }, wait);
  }, []);
}

export default function QualityPage() {
  const { project, report } = useLoaderData<typeof loader>();
  const refresh = useThrottledRevalidate();
  const live = useProjectSocket(project.id, "watch", {
    "judgment:created": refresh,
    "annotators:updated": refresh,
  });
  const names = useMemo(() => new Map(report.annotators.map((a) => [a.annotatorId, a.name])), [report.annotators]);
  const bias = report.positionBias;
  const biased = bias.p !== null && bias.p < BIAS_P;

  return (
    <div>
      <LiveHeader title={project.name} state={live} />
      <ProjectNav projectId={project.id} />
      <div className="grid grid-cols-2 gap-3 md:grid-cols-3 xl:grid-cols-6">
        <StatFigure
          label={<>Agreement <span className="normal-case">α</span></>}
          value={formatStat(report.alphaNominal)}
          testId="fig-alpha"
          sub={<>ordinal α {formatStat(report.alphaOrdinal)} · {formatCount(report.pairsWithOverlap)} pairs with 2+ votes</>}
          help="Krippendorff's alpha: 1 = perfect agreement, 0 = no better than chance. Nominal treats A / B / tie / both bad as plain categories; ordinal also uses the strength (A much better … B much better). Above 0.67 is usually taken as acceptable."
        />
        <StatFigure
          label="Pair agreement"
          value={formatShare(report.meanPairAgreement)}
          testId="fig-pair-agreement"
          sub={`${formatCount(report.splitPairs)} split pairs`}
          help="On an average pair with two or more votes, the chance that two of its votes agree."
        />
        <StatFigure
          label="Gold accuracy"
          value={formatShare(report.goldAccuracy)}
          testId="fig-gold"
          sub={`n = ${formatCount(report.goldN)} gold judgments`}
          help="Share of judgments on gold pairs (pairs with a known answer) that match that answer."
        />
        <StatFigure
          label="Left share"
          value={formatShare(bias.leftShare)}
          testId="fig-position-bias"
          flag={biased ? <Badge title="Two-sided binomial test against 50%, p < 0.01">Position bias</Badge> : null}
          sub={bias.p === null ? `n = ${formatCount(bias.n)} decisive` : `${formatP(bias.p)} · n = ${formatCount(bias.n)} decisive`}
          help="How often a decisive choice went to the response shown on the left. Around 50% is expected because sides are shuffled; it is flagged when a binomial test gives p < 0.01."
        />
        <StatFigure
          label="Median time"
          value={formatDuration(report.medianMs)}
          testId="fig-median-time"
          sub="per judgment"
          help="Median time on task per human judgment, from pair shown to submit."
        />
        <StatFigure
          label="Judgments"
          value={formatCount(report.humanJudgments)}
          testId="fig-human-judgments"
          sub={report.judgments > report.humanJudgments ? `+ ${formatCount(report.judgments - report.humanJudgments)} AI labels` : "human, current"}
          help="Current human judgments (corrections replace what they correct; AI labels are counted apart)."
        />
      </div>

      <Card title="Annotators" className="mt-6">
        <AnnotatorTable annotators={report.annotators} />
        <p className="mt-2 text-xs text-muted">
          Agreement: share of shared pairs where the annotator matches the other annotators' majority. Left share: decisive choices that went to the left response, with a binomial test against 50%. Flags use the
          thresholds on the Settings tab (gold below {formatShare(project.quality.goldMinAccuracy)} after {project.quality.goldMinJudgments} gold judgments; too fast under {formatDuration(project.quality.tooFastMs)}).
        </p>
      </Card>

      <Card title="Model leaderboard" className="mt-6">
        {report.leaderboard ? (
          <Leaderboard leaderboard={report.leaderboard} />
        ) : (
          <p className="text-sm text-muted">No battles yet: the leaderboard appears once pairs with two different model names have been judged.</p>
        )}
      </Card>

      <div className="mt-6 grid gap-6 lg:grid-cols-2">
        <Card title="Judgments per day">
          <DailyBarChart data={report.perDay} />
        </Card>
        <Card title="Annotator agreement (Cohen's κ)">
          <KappaTable kappa={report.kappa} names={names} />
        </Card>
      </div>
      <p className="mt-4 text-xs text-muted">Computed in {report.computedMs.toFixed(0)} ms; refreshes by itself as judgments arrive.</p>
    </div>
  );
}

