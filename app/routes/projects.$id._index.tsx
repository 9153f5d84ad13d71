import { type LoaderFunctionArgs, type MetaFunction, redirect } from "@remix-run/node";
import { useLoaderData } from "@remix-run/react";
import { useCallback, useEffect, useRef, useState } from "react";
import { type AnnotatorRow, type PresenceEntry, type ProgressPayload } from "../../server/realtime/contract";
import { HourlyBarChart } from "../components/BarChart";
import { type JudgeAlert, JudgeAlertBanner } from "../components/JudgeAlertBanner";
import { ProjectNav } from "../components/ProjectNav";
import { Card, LiveHeader } from "../components/ui";
import { api } from "../lib/api";
import { formatAgo, formatCount, formatDuration } from "../lib/format";
import { orRespond, parseId, requireUser } from "../lib/session.server";
import { useProjectSocket } from "../lib/socket";

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: `${data?.project.name ?? "Project"} · Pairwise` }];

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const user = requireUser(context, request);
  const projectId = parseId(params.id);
  const { project, memberRole } = await orRespond(context.services.projects.requireMember(user, projectId));
  if (memberRole === "annotator") throw redirect(`/projects/${projectId}/annotate`);
  const [progress, annotators, hourly, judgeAlerts] = await Promise.all([
    context.services.annotation.progress(user, projectId),
    context.services.annotation.annotatorStats(user, projectId),
    context.services.annotation.judgmentsPerHour(user, projectId, 24),
    // The banner is a courtesy: a failing agreement report must not take the overview down with it.
    Promise.resolve()
      .then(() => context.services.judges.agreement(user, projectId))
      .then((r): JudgeAlerts => ({ threshold: r.threshold, alerts: r.alerts }))
      .catch((e: unknown): JudgeAlerts => {
        console.error(`agreement report for project ${projectId} failed:`, e);
        return { threshold: 0, alerts: [] };
      }),
  ]);
  return { project: { id: project.id, name: project.name, schemeVersion: project.schemeVersion, judgmentsPerPair: project.judgmentsPerPair }, progress, annotators, hourly, judgeAlerts, now: Date.now() };
}

type Counts = ProgressPayload["counts"];
type JudgeAlerts = { threshold: number; alerts: JudgeAlert[] };

/** Agreement alerts, refetched (at most every 2 s) when the staff room hears `judges:updated`. */
function useJudgeAlerts(projectId: number, initial: JudgeAlerts): [JudgeAlerts, () => void] {
  const [state, setState] = useState(initial);
  useEffect(() => setState(initial), [initial]);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
  const refetch = useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      // The router answers `{ agreement: AgreementReport }`; take the bare report too, as docs/api.md shows it.
      void api<{ agreement: JudgeAlerts } | JudgeAlerts>(`/projects/${projectId}/judges/agreement`).then((r) => {
        const rep = r.ok && r.data ? ("agreement" in r.data ? r.data.agreement : r.data) : null;
        if (rep && Array.isArray(rep.alerts)) setState({ threshold: rep.threshold, alerts: rep.alerts });
      });
    }, 2000);
  }, [projectId]);
  return [state, refetch];
}

function Figure({ label, value, testId, sub }: { label: string; value: number | string; testId: string; sub?: string }) {
  return (
    <div className="rounded-lg border border-line bg-surface px-4 py-3">
      <div className="text-xs font-medium uppercase tracking-wide text-muted">{label}</div>
      <div className="mt-1 text-2xl font-semibold tabular-nums" data-testid={testId} aria-live="polite">
        {typeof value === "number" ? formatCount(value) : value}
      </div>
      {sub ? <div className="text-xs text-muted">{sub}</div> : null}
    </div>
  );
}

function bumpHourly(hourly: { hour: string; count: number }[], at: number) {
  const hourStart = new Date(Math.floor(at / 3_600_000) * 3_600_000).toISOString();
  const last = hourly[hourly.length - 1];
  if (last && last.hour === hourStart) return [...hourly.slice(0, -1), { ...last, count: last.count + 1 }];
  if (last && last.hour < hourStart) return [...hourly.slice(1), { hour: hourStart, count: 1 }];
  return hourly;
}

export default function ProjectOverview() {
  const initial = useLoaderData<typeof loader>();
  const [counts, setCounts] = useState<Counts>(initial.progress);
  const [annotators, setAnnotators] = useState<AnnotatorRow[]>(initial.annotators);
  const [hourly, setHourly] = useState(initial.hourly);
  const [online, setOnline] = useState<PresenceEntry[] | null>(null);
  const [now, setNow] = useState(initial.now);
  const [judgeAlerts, refetchJudgeAlerts] = useJudgeAlerts(initial.project.id, initial.judgeAlerts as JudgeAlerts);

  // New loader data (e.g. after navigating back) replaces the live copies.
  useEffect(() => {
    setCounts(initial.progress);
    setAnnotators(initial.annotators);
    setHourly(initial.hourly);
  }, [initial]);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(t);
  }, []);

  const live = useProjectSocket(initial.project.id, "watch", {
    "progress:updated": (p) => setCounts(p.counts),
    "annotators:updated": (p) => setAnnotators(p.annotators),
    "judgment:created": (p) => setHourly((h) => bumpHourly(h, p.createdAt)),
    "presence:updated": (p) => setOnline(p.online),
    "judges:updated": refetchJudgeAlerts,
  });

  const p = counts.pairs;
  const annotating = online?.filter((o) => o.mode === "annotate") ?? [];
  return (
    <div>
      <LiveHeader title={initial.project.name} state={live} />
      <ProjectNav projectId={initial.project.id} />
      <JudgeAlertBanner projectId={initial.project.id} threshold={judgeAlerts.threshold} alerts={judgeAlerts.alerts} />
      <div className="grid grid-cols-2 gap-3 sm:grid-cols-4 lg:grid-cols-8">
        <Figure label="Complete" value={p.complete} testId="fig-complete" sub={`of ${formatCount(p.total)} pairs`} />
        <Figure label="Partly judged" value={p.partial} testId="fig-partial" />
        <Figure label="Untouched" value={p.untouched} testId="fig-untouched" />
        <Figure label="In progress" value={p.inProgress} testId="fig-in-progress" sub="leased now" />
        <Figure label="Judgments" value={counts.judgments.total} testId="fig-judgments" sub={`target ${counts.target} per pair`} />
        <Figure label="Today" value={counts.judgments.today} testId="fig-today" sub="UTC day" />
        <Figure label="Last hour" value={counts.judgments.lastHour} testId="fig-last-hour" />
        <Figure label="Online now" value={online ? annotating.length : "…"} testId="fig-online" sub={online ? `${online.length - annotating.length} watching` : undefined} />
      </div>
      <div className="mt-6 grid gap-6 lg:grid-cols-[1fr_1fr]">
        <Card title="Judgments per hour (last 24 h)">
          <HourlyBarChart data={hourly} />
        </Card>
        <Card title="Online now">
          {online === null ? (
            <p className="text-sm text-muted">Connecting…</p>
          ) : online.length === 0 ? (
            <p className="text-sm text-muted">Nobody is here right now.</p>
          ) : (
            <ul className="flex flex-col gap-1 text-sm" data-testid="online-list">
              {online.map((o) => (
                <li key={o.userId} className="flex justify-between gap-2">
                  <span>{o.name}</span>
                  <span className="text-muted">{o.mode === "annotate" ? "annotating" : "watching"}</span>
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
      <Card title="Annotators" className="mt-6">
        {annotators.length === 0 ? (
          <p className="text-sm text-muted">No annotators yet. Add some on the Members tab.</p>
        ) : (
          <div className="overflow-x-auto">
            <table className="w-full text-sm" data-testid="annotator-table">
              <thead>
                <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
                  <th className="py-2 pr-3 font-medium">Name</th>
                  <th className="py-2 pr-3 text-right font-medium">Judgments</th>
                  <th className="py-2 pr-3 text-right font-medium">Today</th>
                  <th className="py-2 pr-3 text-right font-medium">Median time</th>
                  <th className="py-2 pr-3 text-right font-medium">Skips</th>
                  <th className="py-2 font-medium">Last active</th>
                </tr>
              </thead>
              <tbody>
                {annotators.map((a) => (
                  <tr key={a.id} className="border-b border-line last:border-0">
                    <td className="py-2 pr-3">
                      <div className="font-medium">{a.name}</div>
                      <div className="text-xs text-muted">{a.email}</div>
                    </td>
                    <td className="py-2 pr-3 text-right tabular-nums" data-testid={`annotator-${a.id}-judgments`}>
                      {formatCount(a.judgments)}
                    </td>
                    <td className="py-2 pr-3 text-right tabular-nums">{formatCount(a.today)}</td>
                    <td className="py-2 pr-3 text-right tabular-nums">{formatDuration(a.median_ms)}</td>
                    <td className="py-2 pr-3 text-right tabular-nums">{formatCount(a.skips)}</td>
                    <td className="py-2">{formatAgo(a.last_at, now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </div>
  );
}
