import { type ActionFunctionArgs, data, type LoaderFunctionArgs, type MetaFunction, redirect } from "@remix-run/node";
import { Link, useFetcher, useLoaderData, useRevalidator } from "@remix-run/react";
import { type ReactNode, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ProjectNav } from "../components/ProjectNav";
import { durationMs, Figure, formatMetric, ProgressBar, StateBadge } from "../components/Training";
import { Alert, Button, Card, Checkbox, Select, TextArea, TextInput, LiveHeader } from "../components/ui";
import { fieldErrors, friendlyMessage, isDomainError } from "../lib/errors";
import { formatDate, formatDuration, formatShare } from "../lib/format";
import { CONFIG_FIELDS, CONFIG_GROUPS, type ConfigKey, configFromForm, parseOverrides } from "../lib/round-config";
import { orRespond, parseId, requireUser } from "../lib/session.server";
import { useProjectSocket } from "../lib/socket";

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: `Training · ${data?.project.name ?? "Project"} · Pairwise` }];

/** The last value of each metric, keyed by name. */
function lastValues(series: Record<string, { step: number; value: number }[]>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pts] of Object.entries(series)) {
    const last = pts[pts.length - 1];
    if (last) out[name] = last.value;
  }
  return out;
}

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const user = requireUser(context, request);
  const projectId = parseId(params.id);
  const { project, memberRole } = await orRespond(context.services.projects.requireMember(user, projectId));
  if (memberRole === "annotator") throw redirect(`/projects/${projectId}/annotate`);
  const s = context.services;
  const [rounds, checkpoints, jobs, workers] = await Promise.all([s.rounds.list(user, projectId), s.checkpoints.list(user, projectId), s.jobs.list(user, projectId), s.jobs.listWorkers(user)]);
  // Running jobs' latest metrics, so a step shows its figures before the next heartbeat arrives.
  const latest: Record<number, Record<string, number>> = {};
  for (const j of jobs.filter((j) => j.status === "running")) latest[j.id] = lastValues((await s.jobs.detail(user, j.id)).metrics);
  return {
    project: { id: project.id, name: project.name },
    rounds,
    checkpoints,
    jobs,
    workers,
    latest,
    defaults: s.rounds.defaultConfig(),
    origin: new URL(request.url).origin,
    now: Date.now(),
  };
}

type Intent = "start_round" | "register_base" | "decide" | "retry" | "promote" | "retire" | "cancel_job" | "add_worker";

export async function action({ context, request, params }: ActionFunctionArgs) {
  const user = requireUser(context, request);
  const projectId = parseId(params.id);
  const fd = await request.formData();
  const intent = String(fd.get("intent")) as Intent;
  const s = context.services;
  const id = Number(fd.get("id"));
  const ok = (extra: { message?: string; token?: string; command?: string } = {}) => data({ intent, ok: true as const, error: null, fields: {} as Record<string, string>, ...extra });
  const fail = (error: string, fields: Record<string, string> = {}) => data({ intent, ok: false as const, error, fields }, { status: 400 });
  try {
    switch (intent) {
      case "start_round": {
        const { config, fields } = configFromForm(fd);
        if (Object.keys(fields).length) return fail("Please fix the highlighted fields.", fields);
        const round = await s.rounds.start(user, projectId, config);
        return ok({ message: `Round ${round.number} started.` });
      }
      case "register_base": {
        const c = await s.checkpoints.register(user, projectId, { kind: "base", name: String(fd.get("name") ?? ""), model_ref: String(fd.get("model_ref") ?? "") || undefined, champion: true });
        return ok({ message: `Registered ${c.name} as the base model.` });
      }
      case "decide": {
        const force = fd.get("force");
        const r = await s.rounds.decide(user, id, force === "promote" || force === "keep" ? { force } : {});
        return ok({ message: r.decision === "promoted" ? `Round ${r.number}: the candidate is the new champion.` : `Round ${r.number}: the champion stays.` });
      }
      case "retry":
        await s.rounds.retry(user, id);
        return ok({ message: "Retrying the failed step." });
      case "promote":
        await s.checkpoints.promote(user, id);
        return ok();
      case "retire":
        await s.checkpoints.retire(user, id);
        return ok();
      case "cancel_job":
        await s.jobs.cancel(user, id);
        return ok();
      case "add_worker": {
        const w = await s.jobs.createWorkerToken(user, String(fd.get("name") ?? ""));
        return ok({ token: w.token });
      }
      default:
        return fail("Unknown action.");
    }
  } catch (e) {
    if (isDomainError(e)) {
      const fields = fieldErrors(e.details?.fields);
      return fail(Object.keys(fields).length ? "Please fix the highlighted fields." : friendlyMessage(e), fields);
    }
    throw e;
  }
}

type Data = ReturnType<typeof useLoaderData<typeof loader>>;
type RoundView = Data["rounds"][number];
type JobView = Data["jobs"][number];
type StepName = keyof RoundView["steps"];
type Progress = { step: number; total: number };

const STEP_TITLES: { key: StepName; title: string }[] = [
  { key: "snapshot", title: "Snapshot" },
  { key: "reward", title: "Reward model" },
  { key: "sft", title: "SFT on rewrites" },
  { key: "ppo", title: "PPO" },
  { key: "evaluate", title: "Evaluate" },
  { key: "generate", title: "Generate" },
  { key: "ab_test", title: "A/B test" },
];

/** The figures that say how a step went, by the trainer's stable metric names. */
const STEP_FIGURES: Partial<Record<StepName, { key: string; label: string; share?: boolean }[]>> = {
  reward: [
    { key: "eval/accuracy", label: "Accuracy", share: true },
    { key: "train/loss", label: "Loss" },
  ],
  ppo: [
    { key: "objective/score", label: "Score" },
    { key: "objective/kl", label: "KL" },
  ],
  evaluate: [
    { key: "eval/score", label: "Score" },
    { key: "eval/kl", label: "KL" },
    { key: "eval/task_accuracy", label: "Task accuracy", share: true },
  ],
};

const CHECKPOINT_METRICS = ["eval/accuracy", "objective/score", "objective/kl", "eval/score", "eval/kl", "eval/task_accuracy"];

const ROUND_STATUS_LABEL: Record<string, string> = { running: "Running", waiting_ab: "Waiting for A/B", succeeded: "Succeeded", failed: "Failed", cancelled: "Cancelled" };

/** Revalidates on socket events, at most every `ms`, so a burst of job events costs one reload. */
function useThrottledRevalidate(ms: number): () => void {
  const revalidator = useRevalidator();
  const ref = useRef(revalidator.revalidate);
  ref.current = revalidator.revalidate;
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const last = useRef(0);
  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);
  return useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      last.current = Date.now();
      ref.current();
    }, Math.max(0, last.current + ms - Date.now()));
  }, [ms]);
}

function ActionButton({ intent, id, label, variant = "secondary", extra, confirm, testId }: { intent: Intent; id: number; label: ReactNode; variant?: "primary" | "secondary" | "danger"; extra?: Record<string, string>; confirm?: string; testId?: string }) {
  const fetcher = useFetcher<typeof action>();
  return (
    <fetcher.Form
      method="post"
      className="inline-flex flex-col items-end gap-1"
      onSubmit={(e) => {
        if (confirm && !window.confirm(confirm)) e.preventDefault();
      }}
    >
      <input type="hidden" name="intent" value={intent} />
      <input type="hidden" name="id" value={id} />
      {Object.entries(extra ?? {}).map(([k, v]) => (
        <input key={k} type="hidden" name={k} value={v} />
      ))}
      <Button type="submit" variant={variant} disabled={fetcher.state !== "idle"} data-testid={testId}>
        {label}
      </Button>
      {fetcher.data && !fetcher.data.ok ? (
        <span role="alert" className="max-w-xs text-right text-xs text-bad">
          {fetcher.data.error}
        </span>
      ) : null}
    </fetcher.Form>
  );
}

function RoundSettingsForm({ defaults, onDone }: { defaults: Data["defaults"]; onDone: () => void }) {
  const fetcher = useFetcher<typeof action>();
  const [json, setJson] = useState({ reward: JSON.stringify(defaults.reward, null, 2), ppo: JSON.stringify(defaults.ppo, null, 2) });
  const jsonErrors = { reward: errorOf(json.reward), ppo: errorOf(json.ppo) };
  const server = fetcher.data?.intent === "start_round" ? fetcher.data : undefined;
  useEffect(() => {
    if (server?.ok) onDone();
  }, [server, onDone]);
  const errors: Record<string, string> = { ...(server?.fields ?? {}) };
  if (jsonErrors.reward) errors.reward = jsonErrors.reward;
  if (jsonErrors.ppo) errors.ppo = jsonErrors.ppo;

  const input = (key: ConfigKey) => {
    const spec = CONFIG_FIELDS[key];
    const value = defaults[key];
    if (spec.kind === "boolean")
      return (
        <div key={key} className="flex flex-col gap-1">
          <Checkbox label={spec.label} name={key} defaultChecked={value === true} />
          <p className="text-xs text-muted">{spec.help}</p>
        </div>
      );
    if (spec.kind === "select")
      return (
        <Select key={key} label={spec.label} name={key} defaultValue={String(value)} hint={spec.help} error={errors[key]}>
          {spec.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </Select>
      );
    if (spec.kind === "json")
      return (
        <TextArea
          key={key}
          label={spec.label}
          name={key}
          rows={4}
          value={json[key as "reward" | "ppo"]}
          placeholder={spec.placeholder}
          onChange={(e) => setJson((j) => ({ ...j, [key]: e.target.value }))}
          hint={spec.help}
          error={errors[key]}
        />
      );
    return <TextInput key={key} label={spec.label} name={key} type="number" defaultValue={String(value)} min={spec.min} max={spec.max} step={spec.step ?? (spec.integer ? 1 : "any")} required hint={spec.help} error={errors[key]} />;
  };

  return (
    <fetcher.Form method="post" aria-label="Training settings" className="flex flex-col gap-5" data-testid="round-form">
      <input type="hidden" name="intent" value="start_round" />
      {CONFIG_GROUPS.map((g) => (
        <fieldset key={g.title} className="flex flex-col gap-3">
          <legend className="mb-2 text-xs font-semibold uppercase tracking-wide text-muted">{g.title}</legend>
          <div className={`grid gap-4 ${g.title === "Trainer overrides" ? "md:grid-cols-2" : "md:grid-cols-2 xl:grid-cols-4"}`}>{g.keys.map(input)}</div>
        </fieldset>
      ))}
      {server && !server.ok ? <Alert>{server.error}</Alert> : null}
      <div className="flex items-center gap-3">
        <Button type="submit" variant="primary" disabled={fetcher.state !== "idle" || Boolean(jsonErrors.reward || jsonErrors.ppo)}>
          {fetcher.state !== "idle" ? "Starting…" : "Start round"}
        </Button>
        <Button onClick={onDone}>Cancel</Button>
        <span className="text-xs text-muted">Prefilled with the defaults from the literature; the snapshot is taken at once.</span>
      </div>
    </fetcher.Form>
  );
}

function errorOf(raw: string): string | undefined {
  const r = parseOverrides(raw);
  return "error" in r ? r.error : undefined;
}

function StepCard({ round, step, title, jobs, progress, live, now, projectId }: { round: RoundView; step: StepName; title: string; jobs: Map<number, JobView>; progress: (j: JobView) => Progress; live: Record<number, Record<string, number>>; now: number; projectId: number }) {
  const st = round.steps[step];
  const stepJobs = st.job_ids.map((id) => jobs.get(id)).filter((j): j is JobView => Boolean(j));
  const running = stepJobs.filter((j) => j.status === "running" || j.status === "queued");
  const liveValues = Object.assign({}, ...stepJobs.map((j) => live[j.id] ?? {})) as Record<string, number>;
  const values = { ...liveValues, ...(st.detail as Record<string, unknown>) };
  const figures = STEP_FIGURES[step] ?? [];
  const d = durationMs(st.started_at, st.finished_at, now);
  const detail = st.detail as Record<string, unknown>;
  const ab = round.ab;
  return (
    <li className="flex min-w-0 flex-col gap-2 rounded-lg border border-line bg-surface p-3" data-testid={`step-${step}`} data-status={st.status}>
      <div className="flex items-start justify-between gap-2">
        <h3 className="text-sm font-semibold">{title}</h3>
        <span className="whitespace-nowrap text-xs tabular-nums text-muted" title="Duration" data-testid="step-duration">
          {d === null ? "" : formatDuration(d)}
        </span>
      </div>
      <StateBadge state={st.status} testId="step-state" label={step === "ab_test" && st.status === "running" ? "Collecting votes" : undefined} />
      {running.map((j) => (
        <div key={j.id}>
          <ProgressBar step={progress(j).step} total={progress(j).total} label={`${title}: job ${j.id} progress`} testId="step-progress" />
          {j.status === "queued" ? <p className="text-xs text-muted">Waiting for a worker</p> : null}
        </div>
      ))}
      <dl className="flex flex-col gap-0.5">
        {step === "snapshot" && typeof detail.rows === "number" ? <Figure label="Rows" value={detail.rows} testId="fig-snapshot-rows" /> : null}
        {step === "snapshot" && round.snapshot_export_id ? (
          <Figure
            label="Export"
            value={
              <a className="underline" href={`/api/v1/exports/${round.snapshot_export_id}/manifest`} target="_blank" rel="noreferrer">
                #{round.snapshot_export_id} manifest
              </a>
            }
          />
        ) : null}
        {figures.map((f) =>
          values[f.key] !== undefined ? (
            <Figure key={f.key} label={f.label} title={f.key} value={f.share && typeof values[f.key] === "number" ? formatShare(values[f.key] as number, 1) : formatMetric(values[f.key])} testId={`fig-${step}-${f.key.replace(/\W/g, "-")}`} />
          ) : null,
        )}
        {step === "generate" && stepJobs.length ? <Figure label="Jobs done" value={`${stepJobs.filter((j) => j.status === "succeeded").length}/${stepJobs.length}`} /> : null}
        {step === "ab_test" && ab ? (
          <>
            <Figure label="Win rate" testId="fig-ab-win-rate" value={formatShare(ab.win_rate, 0)} title="Candidate wins over decided votes; ties count half" />
            <Figure label="Needed" testId="fig-ab-threshold" value={formatShare(round.config.win_rate_threshold, 0)} title="The round's win-rate threshold" />
            <Figure label="Judged pairs" value={`${ab.judged_pairs}/${ab.pairs}`} testId="fig-ab-judged" />
            <Figure label="W / L / T" value={`${ab.candidate_wins} / ${ab.champion_wins} / ${ab.ties}`} title="Votes for the candidate / for the champion / ties and both bad" />
          </>
        ) : null}
      </dl>
      {st.status === "failed" && typeof detail.error === "string" ? (
        <p className="break-words text-xs text-bad" data-testid="step-error">
          {detail.error}
        </p>
      ) : null}
      {stepJobs.length ? (
        <div className="mt-auto flex flex-wrap gap-x-2 text-xs">
          {stepJobs.map((j) => (
            <Link key={j.id} to={`/projects/${projectId}/jobs/${j.id}`} className="underline" prefetch="intent">
              Job {j.id}
            </Link>
          ))}
        </div>
      ) : null}
    </li>
  );
}

function Pipeline({ round, jobs, progress, live, now, projectId }: { round: RoundView; jobs: Map<number, JobView>; progress: (j: JobView) => Progress; live: Record<number, Record<string, number>>; now: number; projectId: number }) {
  return (
    <div data-testid="pipeline" data-round={round.number}>
      <div className="mb-3 flex flex-wrap items-center gap-3">
        <h3 className="text-sm font-semibold">Round {round.number}</h3>
        <StateBadge state={round.status} testId="round-state" />
        {round.decision ? <span className="text-sm text-muted">{round.decision === "promoted" ? "Candidate promoted" : "Champion kept"}</span> : null}
        <span className="ml-auto flex flex-wrap gap-2">
          {round.status === "failed" || round.status === "cancelled" ? <ActionButton intent="retry" id={round.id} label="Retry" variant="primary" /> : null}
          {round.status === "waiting_ab" ? (
            <>
              <ActionButton intent="decide" id={round.id} label="Decide now" variant="primary" />
              <ActionButton intent="decide" id={round.id} extra={{ force: "promote" }} label="Promote anyway" confirm="Promote the candidate whatever its win rate?" />
              <ActionButton intent="decide" id={round.id} extra={{ force: "keep" }} label="Keep champion" />
            </>
          ) : null}
        </span>
      </div>
      <ol className="grid gap-2 sm:grid-cols-2 lg:grid-cols-3 xl:grid-cols-6" aria-label={`Round ${round.number} steps`}>
        {STEP_TITLES.map((s) => (
          <StepCard key={s.key} round={round} step={s.key} title={s.title} jobs={jobs} progress={progress} live={live} now={now} projectId={projectId} />
        ))}
      </ol>
    </div>
  );
}

function RoundsTable({ rounds, selected, onSelect }: { rounds: RoundView[]; selected: number | null; onSelect: (id: number) => void }) {
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-sm" data-testid="rounds-table">
        <thead>
          <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
            <th className="py-2 pr-3 font-medium">Round</th>
            <th className="py-2 pr-3 font-medium">State</th>
            <th className="py-2 pr-3 font-medium">Decision</th>
            <th className="py-2 pr-3 text-right font-medium">A/B win rate</th>
            <th className="py-2 pr-3 font-medium">Started</th>
            <th className="py-2 font-medium">
              <span className="sr-only">Show</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rounds.map((r) => (
            <tr key={r.id} className={`border-b border-line last:border-0 ${r.id === selected ? "bg-sunken" : ""}`} data-testid="round-row">
              <td className="py-1.5 pr-3 font-medium tabular-nums">{r.number}</td>
              <td className="py-1.5 pr-3">
                <StateBadge state={r.status} label={ROUND_STATUS_LABEL[r.status]} />
              </td>
              <td className="py-1.5 pr-3 text-muted">{r.decision === "promoted" ? "Promoted" : r.decision === "kept_champion" ? "Kept champion" : "—"}</td>
              <td className="py-1.5 pr-3 text-right tabular-nums">{r.ab ? formatShare(r.ab.win_rate) : "—"}</td>
              <td className="whitespace-nowrap py-1.5 pr-3 text-muted">{formatDate(Date.parse(r.created_at))}</td>
              <td className="py-1.5 text-right">
                <Button variant="ghost" onClick={() => onSelect(r.id)} aria-pressed={r.id === selected} aria-label={`Show round ${r.number}`}>
                  {r.id === selected ? "Shown" : "Show"}
                </Button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RegisterBaseForm() {
  const fetcher = useFetcher<typeof action>();
  const res = fetcher.data?.intent === "register_base" ? fetcher.data : undefined;
  const formRef = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (res?.ok) formRef.current?.reset();
  }, [res]);
  return (
    <fetcher.Form ref={formRef} method="post" aria-label="Register base model" className="flex flex-wrap items-end gap-3">
      <input type="hidden" name="intent" value="register_base" />
      <div className="w-56">
        <TextInput label="Base model name" name="name" required placeholder="tiny base" error={res && !res.ok ? res.fields.name : undefined} />
      </div>
      <div className="w-80">
        <TextInput label="Hub id or path" name="model_ref" required placeholder="Qwen/Qwen2.5-0.5B-Instruct or /models/base" error={res && !res.ok ? res.fields.model_ref : undefined} />
      </div>
      <Button type="submit" disabled={fetcher.state !== "idle"}>
        Register base model
      </Button>
      {res && !res.ok && !Object.keys(res.fields).length ? <Alert>{res.error}</Alert> : null}
      {res?.ok ? <span role="status" className="text-sm text-good">{res.message}</span> : null}
    </fetcher.Form>
  );
}

function CheckpointsTable({ checkpoints, projectId }: { checkpoints: Data["checkpoints"]; projectId: number }) {
  const byId = new Map(checkpoints.map((c) => [c.id, c]));
  if (checkpoints.length === 0) return <p className="text-sm text-muted">No checkpoints yet. Register the base model the first round starts from.</p>;
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-sm" data-testid="checkpoints-table">
        <thead>
          <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
            <th className="py-2 pr-3 font-medium">Kind</th>
            <th className="py-2 pr-3 font-medium">Name</th>
            <th className="py-2 pr-3 font-medium">State</th>
            <th className="py-2 pr-3 font-medium">Parent</th>
            <th className="py-2 pr-3 font-medium">Job</th>
            <th className="py-2 pr-3 font-medium">Dataset</th>
            <th className="py-2 pr-3 font-medium">Metrics</th>
            <th className="py-2 pr-3 font-medium">Created</th>
            <th className="py-2 font-medium">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {checkpoints.map((c) => {
            const metrics = Object.entries(c.metrics).filter(([, v]) => typeof v === "number");
            const known = CHECKPOINT_METRICS.filter((k) => typeof c.metrics[k] === "number").map((k) => [k, c.metrics[k]] as const);
            const shown = (known.length ? known : metrics).slice(0, 3);
            const parent = c.parent_id ? byId.get(c.parent_id) : undefined;
            return (
              <tr key={c.id} className="border-b border-line align-top last:border-0" data-testid="checkpoint-row" data-kind={c.kind} data-state={c.state}>
                <td className="py-2 pr-3 text-muted">{c.kind}</td>
                <td className="py-2 pr-3">
                  <div className="font-medium">{c.name}</div>
                  {c.model_ref ? <div className="font-mono text-xs text-muted">{c.model_ref}</div> : null}
                </td>
                <td className="py-2 pr-3">
                  <StateBadge state={c.state} testId="checkpoint-state" />
                </td>
                <td className="py-2 pr-3 text-muted">{c.parent_id ? (parent ? `${parent.name} (#${parent.id})` : `#${c.parent_id}`) : "—"}</td>
                <td className="py-2 pr-3">
                  {c.job_id ? (
                    <Link className="underline" to={`/projects/${projectId}/jobs/${c.job_id}`}>
                      Job {c.job_id}
                    </Link>
                  ) : (
                    <span className="text-muted">—</span>
                  )}
                </td>
                <td className="whitespace-nowrap py-2 pr-3">
                  {c.dataset_export_id ? (
                    <>
                      <a className="underline" href={`/api/v1/exports/${c.dataset_export_id}/manifest`} target="_blank" rel="noreferrer">
                        Export #{c.dataset_export_id}
                      </a>
                      <span className="px-1 text-muted">·</span>
                      <Link className="underline" to={`/projects/${projectId}/exports`}>
                        history
                      </Link>
                    </>
                  ) : (
                    <span className="text-muted">—</span>
                  )}
                </td>
                <td className="py-2 pr-3 text-xs tabular-nums">
                  {shown.length ? (
                    shown.map(([k, v]) => (
                      <div key={k}>
                        <span className="text-muted">{k}</span> {formatMetric(v)}
                      </div>
                    ))
                  ) : (
                    <span className="text-muted">—</span>
                  )}
                </td>
                <td className="whitespace-nowrap py-2 pr-3 text-muted">{formatDate(Date.parse(c.created_at))}</td>
                <td className="py-2">
                  <div className="flex justify-end gap-2">
                    {c.state === "candidate" ? <ActionButton intent="promote" id={c.id} label="Promote" testId="checkpoint-promote" /> : null}
                    {c.state === "retired" ? <ActionButton intent="promote" id={c.id} label="Roll back" confirm={`Make ${c.name} the ${c.kind} champion again?`} testId="checkpoint-rollback" /> : null}
                    {c.state !== "retired" ? <ActionButton intent="retire" id={c.id} label="Retire" variant="danger" testId="checkpoint-retire" /> : null}
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function WorkersPanel({ workers, origin, projectId }: { workers: Data["workers"]; origin: string; projectId: number }) {
  const fetcher = useFetcher<typeof action>();
  const [open, setOpen] = useState(false);
  const res = fetcher.data?.intent === "add_worker" ? fetcher.data : undefined;
  const command = res?.ok && res.token ? `pairwise-worker --server ${origin} --token ${res.token}` : null;
  return (
    <div className="flex flex-col gap-3">
      {workers.length === 0 ? (
        <p className="text-sm text-muted">No workers yet. Add one and run the command on a machine with the trainer installed.</p>
      ) : (
        <table className="w-full text-sm" data-testid="workers-table">
          <thead>
            <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
              <th className="py-2 pr-3 font-medium">Name</th>
              <th className="py-2 pr-3 font-medium">State</th>
              <th className="py-2 pr-3 font-medium">Device</th>
              <th className="py-2 font-medium">Current job</th>
            </tr>
          </thead>
          <tbody>
            {workers.map((w) => {
              const caps = w.capabilities as { device?: string; gpu_name?: string | null; gpu_memory_mb?: number | null };
              return (
                <tr key={w.id} className="border-b border-line last:border-0" data-testid="worker-row">
                  <td className="whitespace-nowrap py-1.5 pr-3 font-medium">{w.name}</td>
                  <td className="py-1.5 pr-3">
                    <StateBadge state={w.online ? "online" : "offline"} testId="worker-state" />
                  </td>
                  <td className="py-1.5 pr-3 text-muted">
                    {caps.device ?? "not registered"}
                    {caps.gpu_name ? ` · ${caps.gpu_name}` : ""}
                    {caps.gpu_memory_mb ? ` · ${Math.round(caps.gpu_memory_mb / 1024)} GiB` : ""}
                  </td>
                  <td className="py-1.5">
                    {w.job ? (
                      <Link className="underline" to={`/projects/${projectId}/jobs/${w.job.id}`}>
                        {w.job.kind} · job {w.job.id}
                      </Link>
                    ) : (
                      <span className="text-muted">idle</span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {command ? (
        <div className="flex flex-col gap-1" role="status">
          <p className="text-sm font-medium">Run this on the worker machine. The token is shown only once.</p>
          <code className="block select-all break-all rounded-md border border-line bg-sunken px-3 py-2 font-mono text-xs" data-testid="worker-command">
            {command}
          </code>
        </div>
      ) : null}
      {open ? (
        <fetcher.Form method="post" aria-label="Add worker" className="flex flex-wrap items-end gap-3">
          <input type="hidden" name="intent" value="add_worker" />
          <div className="w-56">
            <TextInput label="Worker name" name="name" required placeholder="gpu-box-1" error={res && !res.ok ? (res.fields.name ?? res.error) : undefined} />
          </div>
          <Button type="submit" variant="primary" disabled={fetcher.state !== "idle"}>
            Create token
          </Button>
          <Button onClick={() => setOpen(false)}>Close</Button>
        </fetcher.Form>
      ) : (
        <div>
          <Button onClick={() => setOpen(true)}>Add worker</Button>
        </div>
      )}
    </div>
  );
}

function JobsTable({ jobs, progress, now, projectId }: { jobs: JobView[]; progress: (j: JobView) => Progress; now: number; projectId: number }) {
  if (jobs.length === 0) return <p className="text-sm text-muted">No jobs yet. Starting a round queues them.</p>;
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-sm" data-testid="jobs-table">
        <thead>
          <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
            <th className="py-2 pr-3 font-medium">Job</th>
            <th className="py-2 pr-3 font-medium">Kind</th>
            <th className="py-2 pr-3 font-medium">State</th>
            <th className="w-48 py-2 pr-3 font-medium">Progress</th>
            <th className="py-2 pr-3 text-right font-medium">Attempts</th>
            <th className="py-2 pr-3 font-medium">Worker</th>
            <th className="py-2 pr-3 font-medium">Started</th>
            <th className="py-2 pr-3 text-right font-medium">Duration</th>
            <th className="py-2 font-medium">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((j) => {
            const p = progress(j);
            return (
              <tr key={j.id} className="border-b border-line last:border-0" data-testid="job-row" data-job={j.id} data-status={j.status}>
                <td className="py-1.5 pr-3">
                  <Link className="underline tabular-nums" to={`/projects/${projectId}/jobs/${j.id}`} prefetch="intent">
                    #{j.id}
                  </Link>
                </td>
                <td className="py-1.5 pr-3">{j.kind}</td>
                <td className="py-1.5 pr-3">
                  <StateBadge state={j.status} testId="job-state" label={j.cancel_requested && j.status === "running" ? "Cancelling" : undefined} />
                </td>
                <td className="py-1.5 pr-3">{j.status === "queued" ? <span className="text-xs text-muted">waiting for a worker</span> : <ProgressBar step={p.step} total={p.total} label={`Job ${j.id} progress`} />}</td>
                <td className="py-1.5 pr-3 text-right tabular-nums">
                  {j.attempts}/{j.max_attempts}
                </td>
                <td className="whitespace-nowrap py-1.5 pr-3 text-muted">{j.worker_name ?? "—"}</td>
                <td className="whitespace-nowrap py-1.5 pr-3 text-muted">{j.started_at ? formatDate(Date.parse(j.started_at)) : "—"}</td>
                <td className="whitespace-nowrap py-1.5 pr-3 text-right tabular-nums">{formatDuration(durationMs(j.started_at, j.finished_at, now))}</td>
                <td className="py-1.5 text-right">
                  {(j.status === "queued" || j.status === "running") && !j.cancel_requested ? (
                    <ActionButton intent="cancel_job" id={j.id} label="Cancel" variant="danger" testId="job-cancel" confirm={j.status === "running" ? `Stop job ${j.id}? The worker stops at its next heartbeat.` : undefined} />
                  ) : null}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export default function TrainingPage() {
  const d = useLoaderData<typeof loader>();
  const refresh = useThrottledRevalidate(400);
  const [liveProgress, setLiveProgress] = useState<Record<number, Progress>>({});
  const [liveMetrics, setLiveMetrics] = useState<Record<number, Record<string, number>>>({});
  const [showForm, setShowForm] = useState(false);
  const [selected, setSelected] = useState<number | null>(null);
  const [now, setNow] = useState(d.now);
  const closeForm = useCallback(() => setShowForm(false), []);

  const live = useProjectSocket(d.project.id, "watch", {
    "job:updated": refresh,
    "round:updated": refresh,
    "workers:updated": refresh,
    "job:progress": (p) => {
      const prog = p.progress;
      if (prog) setLiveProgress((m) => ({ ...m, [p.jobId]: prog }));
      if (p.metrics.length) {
        setLiveMetrics((m) => {
          const cur = { ...(m[p.jobId] ?? {}) };
          for (const row of [...p.metrics].sort((a, b) => a.step - b.step)) Object.assign(cur, row.values);
          return { ...m, [p.jobId]: cur };
        });
      }
    },
  });

  const anyRunning = d.jobs.some((j) => j.status === "running") || d.rounds.some((r) => r.status === "running" || r.status === "waiting_ab");
  const anyOnline = d.workers.some((w) => w.online);
  useEffect(() => {
    if (!anyRunning) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [anyRunning]);
  // A worker that stops sending goes offline without an event; look again now and then.
  useEffect(() => {
    if (!anyOnline) return;
    const t = setInterval(refresh, 15_000);
    return () => clearInterval(t);
  }, [anyOnline, refresh]);

  const jobs = useMemo(() => new Map(d.jobs.map((j) => [j.id, j])), [d.jobs]);
  const progress = useCallback(
    (j: JobView): Progress => {
      const p = liveProgress[j.id];
      return j.status === "running" && p && p.step >= j.progress.step ? p : j.progress;
    },
    [liveProgress],
  );
  const metricsByJob = useMemo(() => {
    const out: Record<number, Record<string, number>> = {};
    for (const [id, m] of Object.entries(d.latest)) out[Number(id)] = { ...m };
    for (const [id, m] of Object.entries(liveMetrics)) out[Number(id)] = { ...(out[Number(id)] ?? {}), ...m };
    return out;
  }, [d.latest, liveMetrics]);

  const round = d.rounds.find((r) => r.id === selected) ?? d.rounds[0];
  const hasBase = d.checkpoints.some((c) => c.kind === "base" && c.state === "champion");
  const busy = d.rounds.some((r) => r.status === "running");

  return (
    <div>
      <LiveHeader title={d.project.name} state={live} />
      <ProjectNav projectId={d.project.id} />

      <Card
        title="Rounds"
        actions={
          showForm ? null : (
            <span className="flex items-center gap-3">
              {busy ? <span className="text-xs text-muted">One round at a time: wait for round {d.rounds.find((r) => r.status === "running")?.number} to finish</span> : null}
              <Button variant="primary" onClick={() => setShowForm(true)} disabled={busy}>
                Start round
              </Button>
            </span>
          )
        }
      >
        {!hasBase ? (
          <div className="mb-3">
            <Alert kind="info">Register a base model below first: the reward model and the first policy start from it.</Alert>
          </div>
        ) : null}
        {showForm ? (
          <div className="mb-5 rounded-lg border border-line p-4">
            <h3 className="mb-3 text-sm font-semibold">Training settings</h3>
            <RoundSettingsForm defaults={d.defaults} onDone={closeForm} />
          </div>
        ) : null}
        {round ? (
          <div className="flex flex-col gap-5">
            <Pipeline round={round} jobs={jobs} progress={progress} live={metricsByJob} now={now} projectId={d.project.id} />
            <RoundsTable rounds={d.rounds} selected={round.id} onSelect={setSelected} />
          </div>
        ) : (
          <p className="text-sm text-muted">No rounds yet. A round snapshots the judgments, trains a reward model, runs PPO from the champion policy, evaluates the candidate and puts it in front of annotators in an A/B test.</p>
        )}
      </Card>

      <Card title="Jobs" className="mt-6">
        <JobsTable jobs={d.jobs} progress={progress} now={now} projectId={d.project.id} />
      </Card>

      <Card title="Checkpoints" className="mt-6">
        <div className="flex flex-col gap-4">
          <CheckpointsTable checkpoints={d.checkpoints} projectId={d.project.id} />
          <RegisterBaseForm />
        </div>
      </Card>

      <Card title="Workers" className="mt-6">
        <WorkersPanel workers={d.workers} origin={d.origin} projectId={d.project.id} />
      </Card>
    </div>
  );
}
