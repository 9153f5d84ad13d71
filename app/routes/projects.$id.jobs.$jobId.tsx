import { type ActionFunctionArgs, data, type LoaderFunctionArgs, type MetaFunction, redirect } from "@remix-run/node";
import { Link, useFetcher, useLoaderData, useRevalidator } from "@remix-run/react";
import { useCallback, useEffect, useRef, useState } from "react";
import { ProjectNav } from "../components/ProjectNav";
import { durationMs, formatMetric, mergeSeries, MetricChart, ProgressBar, StateBadge } from "../components/Training";
import { Alert, Button, Card, LiveHeader } from "../components/ui";
import { friendlyMessage, isDomainError } from "../lib/errors";
import { formatDate, formatDuration } from "../lib/format";
import { orRespond, parseId, requireUser } from "../lib/session.server";
import { useProjectSocket } from "../lib/socket";

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: `Job ${data?.job.id ?? ""} · ${data?.project.name ?? "Project"} · Pairwise` }];

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const user = requireUser(context, request);
  const projectId = parseId(params.id);
  const jobId = parseId(params.jobId);
  const { project, memberRole } = await orRespond(context.services.projects.requireMember(user, projectId));
  if (memberRole === "annotator") throw redirect(`/projects/${projectId}/annotate`);
  const detail = await orRespond(context.services.jobs.detail(user, jobId));
  // Links from the global workers panel may name another project; send the reader to the right one.
  if (detail.job.project_id !== projectId) throw redirect(`/projects/${detail.job.project_id}/jobs/${jobId}`);
  return { project: { id: project.id, name: project.name }, ...detail, now: Date.now() };
}

export async function action({ context, request, params }: ActionFunctionArgs) {
  const user = requireUser(context, request);
  try {
    await context.services.jobs.cancel(user, parseId(params.jobId));
    return data({ ok: true as const, error: null });
  } catch (e) {
    if (isDomainError(e)) return data({ ok: false as const, error: friendlyMessage(e) }, { status: 400 });
    throw e;
  }
}

type Series = Record<string, { step: number; value: number }[]>;

function KeyValues({ values, empty }: { values: Record<string, unknown> | null; empty: string }) {
  const entries = Object.entries(values ?? {});
  if (!entries.length) return <p className="text-sm text-muted">{empty}</p>;
  return (
    <dl className="grid grid-cols-[minmax(8rem,max-content)_1fr] gap-x-4 gap-y-1 text-sm">
      {entries.map(([k, v]) => (
        <div key={k} className="contents">
          <dt className="font-mono text-xs text-muted">{k}</dt>
          <dd className="min-w-0 break-words font-mono text-xs">{typeof v === "number" ? formatMetric(v) : typeof v === "string" ? v : <ValueJson value={v} />}</dd>
        </div>
      ))}
    </dl>
  );
}

/** Long values (prompt lists, configs) stay folded until asked for. */
function ValueJson({ value }: { value: unknown }) {
  const text = JSON.stringify(value, null, 2);
  if (text.length < 120) return <>{JSON.stringify(value)}</>;
  const n = Array.isArray(value) ? `${value.length} items` : `${Object.keys(value as object).length} keys`;
  return (
    <details>
      <summary className="cursor-pointer text-muted">{n}</summary>
      <pre className="mt-1 max-h-64 overflow-auto rounded bg-sunken p-2">{text}</pre>
    </details>
  );
}

export default function JobPage() {
  const d = useLoaderData<typeof loader>();
  const job = d.job;
  const revalidator = useRevalidator();
  const revalidateRef = useRef(revalidator.revalidate);
  revalidateRef.current = revalidator.revalidate;
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const refresh = useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      revalidateRef.current();
    }, 1000);
  }, []);
  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);

  const [live, setLive] = useState<Series>({});
  const [progress, setProgress] = useState<{ step: number; total: number } | null>(null);
  const [now, setNow] = useState(d.now);
  const cancel = useFetcher<typeof action>();
  const series = mergeSeries(d.metrics, live);

  const state = useProjectSocket(d.project.id, "watch", {
    "job:updated": (p) => {
      if (p.job.id === job.id) refresh();
    },
    "job:progress": (p) => {
      if (p.jobId !== job.id) return;
      if (p.progress) setProgress(p.progress);
      if (p.metrics.length) {
        setLive((cur) => {
          const add: Series = {};
          for (const row of p.metrics) for (const [name, value] of Object.entries(row.values)) (add[name] ??= []).push({ step: row.step, value });
          return mergeSeries(cur, add);
        });
      }
      refresh(); // the log tail arrives with the same heartbeat
    },
  });

  useEffect(() => {
    if (job.status !== "running") return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [job.status]);

  const p = job.status === "running" && progress && progress.step >= job.progress.step ? progress : job.progress;
  const names = Object.keys(series).sort();
  const logRef = useRef<HTMLPreElement>(null);
  useEffect(() => {
    logRef.current?.scrollTo({ top: logRef.current.scrollHeight });
  }, [d.log]);

  return (
    <div>
      <LiveHeader title={d.project.name} state={state} />
      <ProjectNav projectId={d.project.id} />
      <p className="mb-3 text-sm">
        <Link to={`/projects/${d.project.id}/training`} className="underline">
          ← Training
        </Link>
      </p>
      <Card
        title={
          <span className="flex items-center gap-3">
            Job {job.id} · {job.kind}
            <StateBadge state={job.status} testId="job-state" label={job.cancel_requested && job.status === "running" ? "Cancelling" : undefined} />
          </span>
        }
        actions={
          job.status === "queued" || (job.status === "running" && !job.cancel_requested) ? (
            <cancel.Form method="post">
              <Button type="submit" variant="danger" disabled={cancel.state !== "idle"}>
                Cancel job
              </Button>
            </cancel.Form>
          ) : null
        }
      >
        {cancel.data && !cancel.data.ok ? <Alert>{cancel.data.error}</Alert> : null}
        <div className="grid gap-4 md:grid-cols-2 xl:grid-cols-4">
          <div>
            <div className="text-xs font-medium uppercase tracking-wide text-muted">Progress</div>
            <div className="mt-1">
              <ProgressBar step={p.step} total={p.total} label={`Job ${job.id} progress`} testId="job-progress" />
            </div>
          </div>
          <div className="text-sm">
            <div className="text-xs font-medium uppercase tracking-wide text-muted">Worker</div>
            <div className="mt-1">{job.worker_name ?? "—"}</div>
            <div className="text-xs text-muted">
              attempt {job.attempts} of {job.max_attempts}
            </div>
          </div>
          <div className="text-sm">
            <div className="text-xs font-medium uppercase tracking-wide text-muted">Started</div>
            <div className="mt-1">{job.started_at ? formatDate(Date.parse(job.started_at)) : "not yet"}</div>
            <div className="text-xs text-muted">created {formatDate(Date.parse(job.created_at))}</div>
          </div>
          <div className="text-sm">
            <div className="text-xs font-medium uppercase tracking-wide text-muted">Duration</div>
            <div className="mt-1 tabular-nums">{formatDuration(durationMs(job.started_at, job.finished_at, now))}</div>
            {job.round_id ? <div className="text-xs text-muted">part of a training round</div> : null}
          </div>
        </div>
        {job.error ? (
          <div className="mt-4">
            <Alert>
              <span className="whitespace-pre-wrap font-mono text-xs" data-testid="job-error">
                {job.error}
              </span>
            </Alert>
          </div>
        ) : null}
      </Card>

      <Card title="Metrics" className="mt-6">
        {names.length === 0 ? (
          <p className="text-sm text-muted">No metrics yet; they appear as the worker reports them.</p>
        ) : (
          <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3 xl:grid-cols-4" data-testid="metric-charts">
            {names.map((n) => (
              <MetricChart key={n} name={n} points={series[n]!} />
            ))}
          </div>
        )}
      </Card>

      <div className="mt-6 grid gap-6 lg:grid-cols-2">
        <Card title="Parameters">
          <KeyValues values={job.params} empty="None." />
        </Card>
        <div className="flex flex-col gap-6">
          <Card title="Inputs and outputs">
            <h3 className="mb-1 text-xs font-medium uppercase tracking-wide text-muted">Inputs (artifacts)</h3>
            <KeyValues values={job.inputs} empty="None." />
            <h3 className="mb-1 mt-3 text-xs font-medium uppercase tracking-wide text-muted">Outputs (artifacts)</h3>
            <KeyValues values={job.outputs} empty={job.status === "succeeded" ? "None." : "Not finished yet."} />
          </Card>
          <Card title="Result">
            <KeyValues values={job.result} empty={job.status === "succeeded" ? "Empty." : "Not finished yet."} />
          </Card>
        </div>
      </div>

      <Card title="Log" className="mt-6">
        {d.log.length ? (
          <pre ref={logRef} className="max-h-80 overflow-auto rounded-md bg-sunken p-3 font-mono text-xs leading-5" data-testid="job-log">
            {d.log.join("\n")}
          </pre>
        ) : (
          <p className="text-sm text-muted">No log lines yet.</p>
        )}
        <p className="mt-2 text-xs text-muted">The last {d.log.length} lines (the server keeps 500).</p>
      </Card>
    </div>
  );
}
