import { type ActionFunctionArgs, data, type LoaderFunctionArgs, type MetaFunction, redirect } from "@remix-run/node";
import { Link, useFetcher, useLoaderData } from "@remix-run/react";
import { type FormEvent, type ReactNode, useEffect, useRef, useState } from "react";
import { type HybridSettings } from "../../server/domain/judges/hybrid-settings";
import { type AgreementReport, type HybridReport, type JudgeView, type LlmJudgeConfigView, type RewardModelJudgeConfig } from "../../server/domain/judges/types";
import { CalibrationChart } from "../components/CalibrationChart";
import { ProjectNav } from "../components/ProjectNav";
import { Alert, Button, Card, Checkbox, Select, TextArea, TextInput, LiveHeader } from "../components/ui";
import { friendlyMessage, isDomainError } from "../lib/errors";
import { formatCount, formatDate, formatDuration, formatShare } from "../lib/format";
import { errorsByPath, hybridFromForm, JUDGE_KIND_LABEL, judgeFromForm, STRATEGY_LABEL } from "../lib/judges";
import { useThrottledRevalidate } from "../lib/revalidate";
import { orRespond, parseId, requireUser } from "../lib/session.server";
import { useProjectSocket } from "../lib/socket";

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: `AI judges · ${data?.project.name ?? "Project"} · Pairwise` }];

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const user = requireUser(context, request);
  const projectId = parseId(params.id);
  const { project, memberRole } = await orRespond(context.services.projects.requireMember(user, projectId));
  if (memberRole === "annotator") throw redirect(`/projects/${projectId}/annotate`);
  const s = context.services;
  const [settings, judges, agreement, report, checkpoints, jobs] = await Promise.all([
    orRespond(s.judges.hybridSettings(user, projectId)),
    orRespond(s.judges.list(user, projectId)),
    orRespond(s.judges.agreement(user, projectId)),
    orRespond(s.judges.report(user, projectId)),
    s.checkpoints.list(user, projectId),
    s.jobs.list(user, projectId),
  ]);
  const judgeJobs = jobs
    .filter((j) => j.kind === "judge")
    .slice(0, 8)
    .map((j) => ({ id: j.id, status: j.status, progress: j.progress, params: j.params, error: j.error, created_at: j.created_at, started_at: j.started_at, finished_at: j.finished_at }));
  return {
    project: { id: project.id, name: project.name },
    defaultRubric: s.judges.defaultRubric(),
    settings,
    judges,
    agreement,
    report,
    rewardCheckpoints: checkpoints.filter((c) => c.kind === "reward").map((c) => ({ id: c.id, name: c.name, state: c.state, created_at: c.created_at })),
    judgeJobs,
  };
}

type Intent = "create_judge" | "update_judge" | "set_enabled" | "run_judge" | "save_hybrid";

export async function action({ context, request, params }: ActionFunctionArgs) {
  const user = requireUser(context, request);
  const projectId = parseId(params.id);
  const fd = await request.formData();
  const intent = String(fd.get("intent")) as Intent;
  const judgeId = Number(fd.get("judgeId"));
  const s = context.services.judges;
  const ok = (extra: { message?: string; jobId?: number } = {}) => data({ intent, judgeId, ok: true as const, error: null, fields: {} as Record<string, string>, ...extra });
  const fail = (error: string, fields: Record<string, string> = {}) => data({ intent, judgeId, ok: false as const, error, fields, message: undefined, jobId: undefined }, { status: 400 });
  const FIX = "Please fix the highlighted fields.";
  try {
    switch (intent) {
      case "create_judge": {
        const { body, fields } = judgeFromForm(fd);
        if (Object.keys(fields).length) return fail(FIX, fields);
        const j = await s.create(user, projectId, body);
        return ok({ message: `Added ${j.name}.` });
      }
      case "update_judge": {
        const { body, fields } = judgeFromForm(fd);
        if (Object.keys(fields).length) return fail(FIX, fields);
        // The kind is fixed once a judge exists; the update body has no such field.
        delete body.kind;
        const before = Number(fd.get("version"));
        const j = await s.update(user, projectId, judgeId, body);
        return ok({ message: j.version !== before ? `Saved. ${j.name} is now version ${j.version}; its earlier verdicts no longer count.` : `Saved ${j.name}.` });
      }
      case "set_enabled": {
        const enabled = fd.get("enabled") === "true";
        const j = await s.update(user, projectId, judgeId, { enabled });
        return ok({ message: `${j.name} ${enabled ? "enabled" : "disabled"}.` });
      }
      case "run_judge": {
        const scope = fd.get("scope") === "all" ? "all" : "unjudged";
        const job = await s.run(user, projectId, judgeId, { scope });
        return ok({ jobId: job.id, message: scope === "all" ? "Re-running on every pair." : "Running on pairs without a verdict." });
      }
      case "save_hybrid": {
        const { body, fields } = hybridFromForm(fd);
        if (Object.keys(fields).length) return fail(FIX, fields);
        await s.updateHybridSettings(user, projectId, body);
        return ok({ message: "Saved. Pairs nobody has started are re-scored with the new settings." });
      }
      default:
        return fail("Unknown action.");
    }
  } catch (e) {
    if (isDomainError(e)) {
      const fields = errorsByPath(e.details?.fields);
      // Conflicts here are sentences for people ("This judge is disabled; enable it first").
      return fail(Object.keys(fields).length ? FIX : e.code === "conflict" ? e.message : friendlyMessage(e), fields);
    }
    throw e;
  }
}

type Data = ReturnType<typeof useLoaderData<typeof loader>>;
type Judge = JudgeView;
type RewardCheckpoint = Data["rewardCheckpoints"][number];

/** A server issue for a form field, under its full path or the bare name (config issues may come either way). */
function fieldError(fields: Record<string, string> | undefined, path: string): string | undefined {
  if (!fields) return undefined;
  return fields[path] ?? fields[path.split(".").slice(1).join(".")] ?? undefined;
}

/** Issues the form has no field for, so none is lost. */
function otherErrors(fields: Record<string, string> | undefined, known: string[]): string[] {
  if (!fields) return [];
  const k = new Set(known.flatMap((p) => [p, p.split(".").slice(1).join(".")]));
  return Object.entries(fields)
    .filter(([p]) => !k.has(p))
    .map(([p, m]) => `${p}: ${m}`);
}

/** A failed save: the message, and the field problems no input shows inline. */
function FormError({ message, others }: { message: string; others: string[] }) {
  return (
    <Alert>
      {message}
      {others.length ? (
        <ul className="mt-1 list-disc pl-5">
          {others.map((o) => (
            <li key={o}>{o}</li>
          ))}
        </ul>
      ) : null}
    </Alert>
  );
}

function Badge({ children, tone = "neutral", title, testId }: { children: ReactNode; tone?: "bad" | "neutral" | "good"; title?: string; testId?: string }) {
  const cls = tone === "bad" ? "border-bad text-bad bg-bad-soft" : tone === "good" ? "border-good text-good bg-surface" : "border-line text-muted bg-sunken";
  return (
    <span title={title} data-testid={testId} className={`inline-flex items-center whitespace-nowrap rounded border px-1.5 py-0.5 text-xs font-medium ${cls}`}>
      {children}
    </span>
  );
}

function Figure({ label, value, sub, help, testId }: { label: string; value: string; sub?: ReactNode; help?: string; testId: string }) {
  return (
    <div className="rounded-lg border border-line bg-surface px-4 py-3" title={help}>
      <div className="text-xs font-medium uppercase tracking-wide text-muted">{label}</div>
      <div className="mt-1 text-2xl font-semibold tabular-nums" data-testid={testId} aria-live="polite">
        {value}
      </div>
      {sub ? <div className="text-xs text-muted">{sub}</div> : null}
      {help ? <p className="sr-only">{help}</p> : null}
    </div>
  );
}

// ---------------------------------------------------------------- judges

function isLlm<T extends Pick<JudgeView, "kind" | "config">>(j: T): j is T & { config: LlmJudgeConfigView } {
  return j.kind === "llm";
}

function configSummary(j: Judge, checkpoints: RewardCheckpoint[]): string {
  if (isLlm(j)) return `${j.config.model} · ${j.config.base_url}`;
  const ids = (j.config as RewardModelJudgeConfig).checkpoint_ids;
  if (!ids.length) return "current reward model";
  const names = ids.map((id) => checkpoints.find((c) => c.id === id)?.name ?? `#${id}`);
  return ids.length > 1 ? `ensemble of ${ids.length}: ${names.join(", ")}` : names[0]!;
}

/** The config fields as the form holds them, to tell whether saving bumps the version. */
function configKey(fd: FormData, kind: string): string {
  if (kind === "reward_model") return JSON.stringify(fd.getAll("config.checkpoint_ids").map(String).sort());
  return JSON.stringify(["config.base_url", "config.model", "config.rubric", "config.temperature", "config.max_tokens"].map((k) => String(fd.get(k) ?? "").trim()));
}

function configKeyOf(j: Judge): string {
  if (!isLlm(j)) return JSON.stringify((j.config as RewardModelJudgeConfig).checkpoint_ids.map(String).sort());
  const c = j.config;
  return JSON.stringify([c.base_url, c.model, c.rubric, String(c.temperature), String(c.max_tokens)].map((v) => v.trim()));
}

const JUDGE_FIELDS = ["kind", "name", "config.checkpoint_ids", "config.base_url", "config.model", "config.rubric", "config.temperature", "config.max_tokens", "api_key", "config"];

function JudgeForm({ judge, checkpoints, onDone }: { judge?: Judge; checkpoints: RewardCheckpoint[]; onDone: () => void }) {
  const fetcher = useFetcher<typeof action>();
  const [kind, setKind] = useState<string>(judge?.kind ?? "llm");
  const [changed, setChanged] = useState(false);
  const res = fetcher.data && (fetcher.data.intent === "create_judge" || fetcher.data.intent === "update_judge") ? fetcher.data : undefined;
  const fields = res && !res.ok ? res.fields : undefined;
  const err = (p: string) => fieldError(fields, p);
  useEffect(() => {
    if (res?.ok) onDone();
  }, [res, onDone]);
  const defaultRubric = useLoaderData<typeof loader>().defaultRubric;
  const llm = judge && isLlm(judge) ? judge.config : null;
  const rm = judge && !isLlm(judge) ? (judge.config as RewardModelJudgeConfig) : null;
  const onChange = (e: FormEvent<HTMLFormElement>) => {
    if (judge) setChanged(configKey(new FormData(e.currentTarget), judge.kind) !== configKeyOf(judge));
  };
  const others = otherErrors(fields, JUDGE_FIELDS);
  return (
    <fetcher.Form method="post" noValidate className="flex flex-col gap-4" aria-label={judge ? `Edit ${judge.name}` : "New judge"} onChange={onChange} data-testid="judge-form">
      <input type="hidden" name="intent" value={judge ? "update_judge" : "create_judge"} />
      {judge ? (
        <>
          <input type="hidden" name="judgeId" value={judge.id} />
          <input type="hidden" name="kind" value={judge.kind} />
          <input type="hidden" name="version" value={judge.version} />
        </>
      ) : null}
      <div className="grid gap-4 md:grid-cols-2">
        {judge ? (
          <div className="flex flex-col gap-1">
            <span className="text-sm font-medium">Kind</span>
            <span className="text-sm">{JUDGE_KIND_LABEL[judge.kind]} (fixed once created)</span>
          </div>
        ) : (
          <Select label="Kind" name="kind" value={kind} onChange={(e) => setKind(e.target.value)} error={err("kind")} hint="An LLM asked over an OpenAI-compatible API, or reward models trained in this project.">
            <option value="llm">LLM (OpenAI-compatible endpoint)</option>
            <option value="reward_model">Reward model</option>
          </Select>
        )}
        <TextInput label="Name" name="name" required maxLength={100} defaultValue={judge?.name ?? ""} placeholder={kind === "llm" ? "GPT judge" : "Reward model judge"} error={err("name")} hint="Shown to researchers only; annotators never see judge or model names." />
      </div>
      {kind === "reward_model" ? (
        <fieldset className="flex flex-col gap-2">
          <legend className="mb-1 text-sm font-medium">Reward checkpoints</legend>
          {checkpoints.length === 0 ? (
            <p className="text-sm text-muted">This project has no reward checkpoints yet. Leave it as is to use the current reward model once a round has trained one.</p>
          ) : (
            <div className="flex flex-col gap-1">
              {checkpoints.map((c) => (
                <Checkbox
                  key={c.id}
                  name="config.checkpoint_ids"
                  value={c.id}
                  defaultChecked={rm?.checkpoint_ids.includes(c.id)}
                  label={
                    <span>
                      {c.name} <span className="text-xs text-muted">#{c.id} · {c.state}</span>
                    </span>
                  }
                />
              ))}
            </div>
          )}
          <p className="text-xs text-muted">None ticked: the project's current reward model (the newest champion or candidate). Two or more make an ensemble whose spread feeds the ensemble strategy.</p>
          {err("config.checkpoint_ids") ? <p className="text-sm text-bad">{err("config.checkpoint_ids")}</p> : null}
        </fieldset>
      ) : (
        <>
          <div className="grid gap-4 md:grid-cols-2">
            <TextInput label="Base URL" name="config.base_url" type="url" required defaultValue={llm?.base_url ?? ""} placeholder="https://api.openai.com/v1" error={err("config.base_url")} hint="Any OpenAI-compatible chat API: vLLM, TGI, Ollama or a hosted one (…/v1)." />
            <TextInput label="Model" name="config.model" required defaultValue={llm?.model ?? ""} placeholder="gpt-4o-mini" error={err("config.model")} />
            <TextInput label="Temperature" name="config.temperature" type="number" min={0} max={2} step="any" required defaultValue={String(llm?.temperature ?? 0)} error={err("config.temperature")} hint="0 for repeatable verdicts (0–2)." />
            <TextInput label="Max tokens" name="config.max_tokens" type="number" min={1} max={8192} step={1} required defaultValue={String(llm?.max_tokens ?? 512)} error={err("config.max_tokens")} hint="Room for the explanation and the verdict (1–8192)." />
          </div>
          <TextArea
            label="Rubric"
            name="config.rubric"
            rows={8}
            defaultValue={llm?.rubric ?? defaultRubric}
            error={err("config.rubric")}
            hint="The judge's instructions. The answer format ([[A]] / [[B]] / [[C]] and a confidence line) is added by the server. Each pair is asked twice, with the responses swapped."
          />
          <div className="grid gap-4 md:grid-cols-2">
            <TextInput
              label="API key"
              name="api_key"
              type="password"
              autoComplete="off"
              placeholder={judge?.has_api_key ? "key set: leave blank to keep it" : "none"}
              error={err("api_key")}
              hint={
                judge?.has_api_key ? (
                  <span data-testid="api-key-state">Key set. It is write-only: stored on the server, sent only to the base URL, never shown again.</span>
                ) : (
                  "Write-only: stored on the server, sent only to the base URL, never shown again. Leave blank for endpoints without one."
                )
              }
            />
            {judge?.has_api_key ? (
              <div className="self-center">
                <Checkbox name="clear_api_key" label="Remove the stored key" />
              </div>
            ) : null}
          </div>
        </>
      )}
      {judge ? (
        <p className={`text-sm ${changed ? "font-medium text-ink" : "text-muted"}`} data-testid="version-note" role={changed ? "status" : undefined}>
          {changed
            ? `The configuration changed: saving makes this version ${judge.version + 1}. Verdicts of version ${judge.version} stop counting; run the judge again afterwards.`
            : `Version ${judge.version}. Changing the configuration starts a new version; renaming does not.`}
        </p>
      ) : null}
      {res && !res.ok ? <FormError message={res.error} others={others} /> : null}
      <div className="flex items-center gap-3">
        <Button type="submit" variant="primary" disabled={fetcher.state !== "idle"}>
          {fetcher.state !== "idle" ? "Saving…" : judge ? "Save judge" : "Add judge"}
        </Button>
        <Button onClick={onDone}>Cancel</Button>
      </div>
    </fetcher.Form>
  );
}

function EnableButton({ judge }: { judge: Judge }) {
  const fetcher = useFetcher<typeof action>();
  const pending = fetcher.state !== "idle";
  const enabled = pending ? fetcher.formData?.get("enabled") === "true" : judge.enabled;
  return (
    <fetcher.Form method="post" className="inline-flex flex-col items-end gap-1">
      <input type="hidden" name="intent" value="set_enabled" />
      <input type="hidden" name="judgeId" value={judge.id} />
      <input type="hidden" name="enabled" value={enabled ? "false" : "true"} />
      <Button type="submit" disabled={pending} aria-label={`${enabled ? "Disable" : "Enable"} ${judge.name}`} data-testid="judge-toggle">
        {enabled ? "Disable" : "Enable"}
      </Button>
      {fetcher.data && !fetcher.data.ok ? (
        <span role="alert" className="text-xs text-bad">
          {fetcher.data.error}
        </span>
      ) : null}
    </fetcher.Form>
  );
}

function RunButtons({ judge, projectId }: { judge: Judge; projectId: number }) {
  const fetcher = useFetcher<typeof action>();
  const res = fetcher.data?.intent === "run_judge" ? fetcher.data : undefined;
  const pending = fetcher.state !== "idle";
  const run = (scope: "unjudged" | "all") => fetcher.submit({ intent: "run_judge", judgeId: String(judge.id), scope }, { method: "post" });
  return (
    <div className="flex flex-col items-end gap-1">
      <div className="flex flex-wrap justify-end gap-2">
        <Button variant="primary" disabled={pending || !judge.enabled} onClick={() => run("unjudged")} data-testid="judge-run" title={judge.enabled ? "Ask the judge about pairs without a verdict from its current version (gold pairs always included)" : "Enable the judge first"}>
          Run on unjudged pairs
        </Button>
        <Button
          disabled={pending || !judge.enabled}
          onClick={() => {
            if (window.confirm(`Ask ${judge.name} about every pair again? This can take a while and, for an LLM, costs API calls.`)) run("all");
          }}
          data-testid="judge-rerun"
        >
          Re-run all
        </Button>
      </div>
      {res?.ok && res.jobId ? (
        <span role="status" className="text-xs" data-testid="judge-run-result">
          {res.message}{" "}
          <Link className="text-accent underline" to={`/projects/${projectId}/jobs/${res.jobId}`}>
            Job #{res.jobId}
          </Link>
        </span>
      ) : null}
      {res && !res.ok ? (
        <span role="alert" className="max-w-xs text-right text-xs text-bad">
          {res.error}
        </span>
      ) : null}
    </div>
  );
}

function JudgesCard({ judges, checkpoints, jobs, projectId }: { judges: Judge[]; checkpoints: RewardCheckpoint[]; jobs: Data["judgeJobs"]; projectId: number }) {
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<number | null>(null);
  const closeCreate = useRef(() => setCreating(false)).current;
  const closeEdit = useRef(() => setEditing(null)).current;
  return (
    <Card
      title="Judges"
      actions={
        creating ? null : (
          <Button variant="primary" onClick={() => setCreating(true)} data-testid="judge-new">
            New judge
          </Button>
        )
      }
    >
      {creating ? (
        <div className="mb-5 rounded-lg border border-line p-4">
          <h3 className="mb-3 text-sm font-semibold">New judge</h3>
          <JudgeForm checkpoints={checkpoints} onDone={closeCreate} />
        </div>
      ) : null}
      {judges.length === 0 ? (
        <p className="text-sm text-muted">No judges yet. A judge gives each pair a verdict with a confidence; with routing on, the confident ones become AI labels and people get the rest.</p>
      ) : (
        <div className="overflow-x-auto">
          <table className="w-full text-sm" data-testid="judges-table">
            <thead>
              <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
                <th className="py-2 pr-3 font-medium">Name</th>
                <th className="py-2 pr-3 font-medium">Kind</th>
                <th className="py-2 pr-3 text-right font-medium">Version</th>
                <th className="py-2 pr-3 font-medium">State</th>
                <th className="py-2 pr-3 text-right font-medium" title="Verdicts stored for the current version">
                  Verdicts
                </th>
                <th className="py-2 font-medium">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {judges.map((j) => (
                <JudgeRow key={j.id} judge={j} checkpoints={checkpoints} projectId={projectId} editing={editing === j.id} onEdit={() => setEditing(editing === j.id ? null : j.id)} onDone={closeEdit} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {jobs.length ? (
        <div className="mt-4">
          <h3 className="mb-1 text-xs font-semibold uppercase tracking-wide text-muted">Recent runs</h3>
          <ul className="flex flex-col gap-1 text-sm" data-testid="judge-jobs">
            {jobs.map((job) => {
              const jid = Number((job.params as { judge_id?: unknown }).judge_id);
              const name = judges.find((j) => j.id === jid)?.name;
              const running = job.status === "running" || job.status === "queued";
              return (
                <li key={job.id} className="flex flex-wrap items-baseline gap-x-3" data-testid="judge-job" data-status={job.status}>
                  <Link className="text-accent underline tabular-nums" to={`/projects/${projectId}/jobs/${job.id}`}>
                    Job #{job.id}
                  </Link>
                  {name ? <span>{name}</span> : null}
                  <Badge tone={job.status === "failed" ? "bad" : job.status === "succeeded" ? "good" : "neutral"}>{job.status}</Badge>
                  <span className="tabular-nums text-muted">
                    {job.progress.total ? `${formatCount(job.progress.step)}/${formatCount(job.progress.total)} pairs` : running ? "starting" : ""}
                  </span>
                  <span className="text-xs text-muted">{formatDate(Date.parse(job.created_at))}</span>
                  {job.started_at && job.finished_at ? <span className="text-xs text-muted">{formatDuration(Date.parse(job.finished_at) - Date.parse(job.started_at))}</span> : null}
                  {job.error ? <span className="text-xs text-bad">{job.error}</span> : null}
                </li>
              );
            })}
          </ul>
        </div>
      ) : null}
    </Card>
  );
}

function JudgeRow({ judge: j, checkpoints, projectId, editing, onEdit, onDone }: { judge: Judge; checkpoints: RewardCheckpoint[]; projectId: number; editing: boolean; onEdit: () => void; onDone: () => void }) {
  return (
    <>
      <tr className="border-b border-line align-top last:border-0" data-testid="judge-row" data-judge={j.id}>
        <td className="py-2 pr-3">
          <div className="font-medium" data-testid="judge-name">
            {j.name}
          </div>
          <div className="max-w-md truncate text-xs text-muted" title={configSummary(j, checkpoints)}>
            {configSummary(j, checkpoints)}
          </div>
          {isLlm(j) ? <div className="text-xs text-muted">{j.has_api_key ? "key set" : "no key"}</div> : null}
        </td>
        <td className="py-2 pr-3">{JUDGE_KIND_LABEL[j.kind]}</td>
        <td className="py-2 pr-3 text-right tabular-nums" data-testid="judge-version">
          v{j.version}
        </td>
        <td className="py-2 pr-3">{j.enabled ? <Badge tone="good">Enabled</Badge> : <Badge>Disabled</Badge>}</td>
        <td className="py-2 pr-3 text-right tabular-nums" data-testid="judge-verdicts">
          {formatCount(j.verdicts)}
        </td>
        <td className="py-2">
          <div className="flex flex-wrap items-start justify-end gap-2">
            <RunButtons judge={j} projectId={projectId} />
            <Button onClick={onEdit} aria-expanded={editing} data-testid="judge-edit">
              {editing ? "Close" : "Edit"}
            </Button>
            <EnableButton judge={j} />
          </div>
        </td>
      </tr>
      {editing ? (
        <tr className="border-b border-line">
          <td colSpan={6} className="py-3">
            <div className="rounded-lg border border-line p-4">
              <JudgeForm judge={j} checkpoints={checkpoints} onDone={onDone} />
            </div>
          </td>
        </tr>
      ) : null}
    </>
  );
}

// ---------------------------------------------------------------- hybrid settings

const HYBRID_FIELDS = [
  "routing.enabled",
  "routing.threshold",
  "routing.requireConsistent",
  "routing.auditShare",
  "routing.minAudits",
  "routing.judgeIds",
  "activeLearning.strategy",
  "activeLearning.randomShare",
  "agreementAlert.threshold",
  "agreementAlert.minPairs",
  "assist.mode",
  "assist.share",
  "assist.judgeId",
  "rewrites.mode",
];

function Section({ title, help, children }: { title: string; help: ReactNode; children: ReactNode }) {
  return (
    <fieldset className="flex flex-col gap-3 border-t border-line pt-4 first:border-0 first:pt-0">
      <legend className="sr-only">{title}</legend>
      <div>
        <h3 className="text-sm font-semibold" aria-hidden>
          {title}
        </h3>
        <p className="text-xs text-muted">{help}</p>
      </div>
      {children}
    </fieldset>
  );
}

function HybridSettingsForm({ settings, judges }: { settings: HybridSettings; judges: Judge[] }) {
  const fetcher = useFetcher<typeof action>();
  const res = fetcher.data?.intent === "save_hybrid" ? fetcher.data : undefined;
  const fields = res && !res.ok ? res.fields : undefined;
  const err = (p: string) => fields?.[p];
  const [assistMode, setAssistMode] = useState(settings.assist.mode);
  const [routing, setRouting] = useState(settings.routing.enabled);
  const others = otherErrors(fields, HYBRID_FIELDS);
  const r = settings.routing;
  return (
    <fetcher.Form method="post" noValidate aria-label="Hybrid settings" className="flex flex-col gap-5" data-testid="hybrid-form">
      <input type="hidden" name="intent" value="save_hybrid" />
      <Section title="Routing" help="Pairs a judge is sure of get the AI's label instead of going to people. Gold pairs, rewrite pairs and pairs people have started always stay with people.">
        <Checkbox name="routing.enabled" label="Route confident pairs to AI judges" checked={routing} onChange={(e) => setRouting(e.target.checked)} data-testid="routing-enabled" />
        <div className={`grid gap-4 md:grid-cols-2 xl:grid-cols-3 ${routing ? "" : "opacity-60"}`}>
          <TextInput label="Confidence threshold" name="routing.threshold" type="number" min={0.5} max={1} step="any" required defaultValue={String(r.threshold)} error={err("routing.threshold")} hint="0.5–1. A verdict at or above it becomes a label (0.9 = 90% sure)." />
          <TextInput label="Audit share" name="routing.auditShare" type="number" min={0} max={1} step="any" required defaultValue={String(r.auditShare)} error={err("routing.auditShare")} hint="0–1. Share of AI-labeled pairs people judge too, to keep measuring the judges." />
          <TextInput label="Audits before trust" name="routing.minAudits" type="number" min={0} max={100000} step={1} required defaultValue={String(r.minAudits)} error={err("routing.minAudits")} hint="Until a judge has this many audited or gold comparisons, its confident pairs go to people as audits. While its agreement alert is on, it labels nothing. 0 trusts it at once." />
          <div className="flex flex-col gap-1">
            <Checkbox name="routing.requireConsistent" label="LLM judges: only consistent answers" defaultChecked={r.requireConsistent} />
            <p className="text-xs text-muted">Accept an LLM verdict only when it picks the same response with the two shown in both orders.</p>
            {err("routing.requireConsistent") ? <p className="text-sm text-bad">{err("routing.requireConsistent")}</p> : null}
          </div>
        </div>
        <div className="flex flex-col gap-1">
          <span className="text-sm font-medium">Judges whose labels are accepted</span>
          {judges.length === 0 ? (
            <p className="text-xs text-muted">Add a judge first.</p>
          ) : (
            <div className="flex flex-wrap gap-x-5 gap-y-1">
              {judges.map((j) => (
                <Checkbox key={j.id} name="routing.judgeIds" value={j.id} defaultChecked={r.judgeIds.includes(j.id)} label={`${j.name}${j.enabled ? "" : " (disabled)"}`} />
              ))}
            </div>
          )}
          <p className="text-xs text-muted">None ticked: every enabled judge.</p>
          {err("routing.judgeIds") ? <p className="text-sm text-bad">{err("routing.judgeIds")}</p> : null}
        </div>
      </Section>

      <Section title="Active learning" help="Which pairs people see first, among pairs nobody has started. A random share keeps the labeled data unbiased.">
        <div className="grid gap-4 md:grid-cols-2 xl:grid-cols-3">
          <Select label="Strategy" name="activeLearning.strategy" defaultValue={settings.activeLearning.strategy} error={err("activeLearning.strategy")} hint="Uncertainty: the judges' least sure pairs. Disagreement: judges split. Ensemble: reward models spread apart. Combined: all three.">
            <option value="off">Off (completion order)</option>
            <option value="uncertainty">Uncertainty</option>
            <option value="disagreement">Judge disagreement</option>
            <option value="ensemble">Ensemble spread</option>
            <option value="combined">Combined</option>
          </Select>
          <TextInput label="Random share" name="activeLearning.randomShare" type="number" min={0} max={1} step="any" required defaultValue={String(settings.activeLearning.randomShare)} error={err("activeLearning.randomShare")} hint="0–1. Share of leases drawn at random instead of by the strategy." />
        </div>
      </Section>

      <Section title="Agreement alert" help="The project page warns when a judge agrees with people less often than this, once enough pairs are compared.">
        <div className="grid gap-4 md:grid-cols-2 xl:grid-cols-3">
          <TextInput label="Alert below agreement" name="agreementAlert.threshold" type="number" min={0} max={1} step="any" required defaultValue={String(settings.agreementAlert.threshold)} error={err("agreementAlert.threshold")} hint="0–1 (0.7 = 70%)." />
          <TextInput label="Minimum compared pairs" name="agreementAlert.minPairs" type="number" min={1} max={100000} step={1} required defaultValue={String(settings.agreementAlert.minPairs)} error={err("agreementAlert.minPairs")} hint="Pairs with both a verdict and a human label before the alert can fire." />
        </div>
      </Section>

      <Section title="Assist" help="Show annotators the AI's pick (as A, B or tie with its confidence; never a model name) on pairs that have a verdict.">
        <div className="grid gap-4 md:grid-cols-2 xl:grid-cols-3">
          <Select label="Mode" name="assist.mode" value={assistMode} onChange={(e) => setAssistMode(e.target.value as HybridSettings["assist"]["mode"])} error={err("assist.mode")} hint="Before: a hint above the choice buttons. After: shown once the judgment is stored.">
            <option value="off">Off</option>
            <option value="before">Before they choose</option>
            <option value="after">After they submit</option>
          </Select>
          <TextInput label="Share of leases" name="assist.share" type="number" min={0} max={1} step="any" required defaultValue={String(settings.assist.share)} error={err("assist.share")} hint="0–1. The rest are the control arm, for the comparison below." />
          <Select label="Judge shown" name="assist.judgeId" defaultValue={settings.assist.judgeId === null ? "" : String(settings.assist.judgeId)} error={err("assist.judgeId")}>
            <option value="">The most confident verdict</option>
            {judges.map((j) => (
              <option key={j.id} value={j.id}>
                {j.name}
              </option>
            ))}
          </Select>
        </div>
        {assistMode === "before" ? (
          <Alert>
            Showing the AI's pick before people choose anchors them: they agree with it more often, right or wrong, and their labels stop measuring the judge. Keep a control arm (share below 1) and watch the assist comparison.
          </Alert>
        ) : assistMode === "after" ? (
          <Alert kind="info">Shown after submit, the AI's pick cannot change the judgment just made, but people may learn to echo the AI on later pairs. Watch the assist comparison.</Alert>
        ) : null}
      </Section>

      <Section title="Rewrites" help="Let annotators rewrite a response. Each rewrite becomes an SFT demonstration and a new pair (rewrite against original) with the rewriter's preference recorded.">
        <div className="max-w-sm">
          <Select label="Who may be rewritten" name="rewrites.mode" defaultValue={settings.rewrites.mode} error={err("rewrites.mode")}>
            <option value="off">Off</option>
            <option value="worse">The worse response (either, after a tie or both bad)</option>
            <option value="both">Either response</option>
          </Select>
        </div>
      </Section>

      {res?.ok ? <Alert kind="success">{res.message}</Alert> : null}
      {res && !res.ok ? <FormError message={res.error} others={others} /> : null}
      <div>
        <Button type="submit" variant="primary" disabled={fetcher.state !== "idle"} data-testid="hybrid-save">
          {fetcher.state !== "idle" ? "Saving…" : "Save hybrid settings"}
        </Button>
      </div>
    </fetcher.Form>
  );
}

// ---------------------------------------------------------------- reports

function Cell({ cell }: { cell: { n: number; agreement: number | null } }) {
  return (
    <>
      <span className="tabular-nums">{formatShare(cell.agreement)}</span> <span className="text-xs text-muted">n = {formatCount(cell.n)}</span>
    </>
  );
}

function AgreementPanel({ agreement, minAudits }: { agreement: AgreementReport; minAudits: number }) {
  if (agreement.judges.length === 0) return <p className="text-sm text-muted">No judges yet.</p>;
  return (
    <div className="flex flex-col gap-6">
      {agreement.judges.map((j) => (
        <section key={j.judge_id} aria-label={`Agreement of ${j.name}`} className="flex flex-col gap-3 border-t border-line pt-4 first:border-0 first:pt-0" data-testid="agreement-judge" data-judge={j.judge_id}>
          <div className="flex flex-wrap items-center gap-2">
            <h3 className="font-semibold">{j.name}</h3>
            <span className="text-xs text-muted">
              {JUDGE_KIND_LABEL[j.kind]} · v{j.version}
            </span>
            {j.alert ? (
              <Badge tone="bad" testId="agreement-alert" title={`Agreement under ${formatShare(agreement.threshold)} over at least ${agreement.minPairs} compared pairs`}>
                Below {formatShare(agreement.threshold)}
              </Badge>
            ) : null}
            {j.routing === "warmup" ? (
              <Badge testId="judge-routing" title="Every pair this judge is sure of goes to people as an audit until it has enough audited or gold comparisons">
                Warming up: {formatCount(j.audits)}/{formatCount(minAudits)} audits
              </Badge>
            ) : j.routing === "paused" ? (
              <Badge tone="bad" testId="judge-routing" title="Under its agreement alert this judge labels nothing; only the audit share keeps measuring it">
                Labeling paused
              </Badge>
            ) : (
              <Badge tone={j.audits ? "good" : "neutral"} testId="judge-routing" title="Its confident verdicts become labels (an audit share still goes to people)">
                {j.audits ? "Trusted" : "Trusted without audits"}
              </Badge>
            )}
          </div>
          <dl className="grid grid-cols-2 gap-x-6 gap-y-2 text-sm sm:grid-cols-3 lg:grid-cols-6">
            <div>
              <dt className="text-xs uppercase tracking-wide text-muted">Compared pairs</dt>
              <dd className="text-lg font-semibold tabular-nums" data-testid="agreement-compared">
                {formatCount(j.compared)}
              </dd>
            </div>
            <div>
              <dt className="text-xs uppercase tracking-wide text-muted">Agreement</dt>
              <dd className={`text-lg font-semibold tabular-nums ${j.alert ? "text-bad" : ""}`} data-testid="agreement-overall">
                {formatShare(j.agreement)}
              </dd>
            </div>
            <div title="AI-labeled pairs people judged as an audit">
              <dt className="text-xs uppercase tracking-wide text-muted">Audit</dt>
              <dd data-testid="agreement-audit">
                <Cell cell={j.by_category.audit} />
              </dd>
            </div>
            <div title="Gold pairs, against their known answer">
              <dt className="text-xs uppercase tracking-wide text-muted">Gold</dt>
              <dd data-testid="agreement-gold">
                <Cell cell={j.by_category.gold} />
              </dd>
            </div>
            <div title="Pairs routed to people">
              <dt className="text-xs uppercase tracking-wide text-muted">Human-routed</dt>
              <dd data-testid="agreement-human">
                <Cell cell={j.by_category.human} />
              </dd>
            </div>
            {j.kind === "llm" ? (
              <div title="Share of verdicts whose two orders (A/B and B/A) picked different responses">
                <dt className="text-xs uppercase tracking-wide text-muted">Inconsistent</dt>
                <dd className="tabular-nums" data-testid="agreement-inconsistent">
                  {formatShare(j.inconsistent_rate)}
                </dd>
              </div>
            ) : null}
          </dl>
          <CalibrationChart buckets={j.buckets} label={j.name} />
        </section>
      ))}
      <p className="text-xs text-muted">
        Agreement: share of pairs with a decisive human majority where the judge picked the same response. Ties and both-bad majorities are left out. Alerts fire under {formatShare(agreement.threshold)} once {formatCount(agreement.minPairs)} pairs are compared.
      </p>
    </div>
  );
}

function ReportPanel({ report }: { report: HybridReport }) {
  const rt = report.routes;
  return (
    <div className="flex flex-col gap-6">
      <div className="grid grid-cols-2 gap-3 md:grid-cols-5">
        <Figure label="To people" value={formatCount(rt.human)} testId="fig-route-human" help="Pairs in the human queue." />
        <Figure label="AI-labeled" value={formatCount(rt.ai)} testId="fig-route-ai" help="Pairs labeled by a confident judge and taken out of the human queue." />
        <Figure label="Audited" value={formatCount(rt.audit)} testId="fig-route-audit" help="AI-labeled pairs that people judge too." />
        <Figure label="Rewrite pairs" value={formatCount(rt.known)} testId="fig-route-known" help="Rewrite-against-original pairs whose preference is known; never queued." />
        <Figure label="Rewrites" value={formatCount(report.rewrites)} testId="fig-rewrites" help="Responses rewritten by annotators (SFT demonstrations)." />
      </div>
      <div className="grid gap-6 lg:grid-cols-2">
        <div>
          <h3 className="mb-1 text-sm font-semibold">What each strategy contributed</h3>
          {report.strategies.length === 0 ? (
            <p className="text-sm text-muted">No leases yet.</p>
          ) : (
            <table className="w-full text-sm" data-testid="strategy-table">
              <thead>
                <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
                  <th className="py-2 pr-3 font-medium">Strategy</th>
                  <th className="py-2 pr-3 text-right font-medium">Leases</th>
                  <th className="py-2 pr-3 text-right font-medium">Judgments</th>
                  <th className="py-2 text-right font-medium" title="How often people disagreed with the AI's lean on these pairs: informative labels">
                    AI disagreement
                  </th>
                </tr>
              </thead>
              <tbody>
                {report.strategies.map((s) => (
                  <tr key={s.strategy} className="border-b border-line last:border-0">
                    <td className="py-1.5 pr-3">{STRATEGY_LABEL[s.strategy] ?? s.strategy}</td>
                    <td className="py-1.5 pr-3 text-right tabular-nums">{formatCount(s.leases)}</td>
                    <td className="py-1.5 pr-3 text-right tabular-nums">{formatCount(s.judgments)}</td>
                    <td className="py-1.5 text-right tabular-nums">{formatShare(s.ai_disagreement)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <p className="mt-1 text-xs text-muted">AI disagreement: how often people went against the AI's lean on the pairs a strategy served; higher means more informative labels.</p>
        </div>
        <div>
          <h3 className="mb-1 text-sm font-semibold">Assist comparison</h3>
          {report.assist.length === 0 ? (
            <p className="text-sm text-muted">No judgments with assist yet.</p>
          ) : (
            <table className="w-full text-sm" data-testid="assist-table">
              <thead>
                <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
                  <th className="py-2 pr-3 font-medium">Arm</th>
                  <th className="py-2 pr-3 text-right font-medium">Judgments</th>
                  <th className="py-2 pr-3 text-right font-medium">Agree with AI</th>
                  <th className="py-2 pr-3 text-right font-medium">Agree with majority</th>
                  <th className="py-2 text-right font-medium">Median time</th>
                </tr>
              </thead>
              <tbody>
                {report.assist.map((a) => (
                  <tr key={a.arm} className="border-b border-line last:border-0">
                    <td className="py-1.5 pr-3">{a.arm === "none" ? "No assist (control)" : a.arm === "before" ? "Shown before" : "Shown after"}</td>
                    <td className="py-1.5 pr-3 text-right tabular-nums">{formatCount(a.judgments)}</td>
                    <td className="py-1.5 pr-3 text-right tabular-nums">{formatShare(a.agree_with_ai)}</td>
                    <td className="py-1.5 pr-3 text-right tabular-nums">{formatShare(a.agree_with_majority)}</td>
                    <td className="py-1.5 text-right tabular-nums">{formatDuration(a.median_ms)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <p className="mt-1 text-xs text-muted">If the "before" arm agrees with the AI much more than the control without agreeing more with the majority, the hint is anchoring people.</p>
        </div>
      </div>
    </div>
  );
}

export default function JudgesPage() {
  const d = useLoaderData<typeof loader>() as Data & { settings: HybridSettings; judges: JudgeView[]; agreement: AgreementReport; report: HybridReport };
  const refresh = useThrottledRevalidate(1500);
  const live = useProjectSocket(d.project.id, "watch", {
    "judges:updated": refresh,
    "progress:updated": refresh,
    "judgment:created": refresh,
    "job:updated": refresh,
  });
  const alerts = d.agreement.alerts;
  return (
    <div>
      <LiveHeader title={d.project.name} state={live} />
      <ProjectNav projectId={d.project.id} />
      {alerts.length ? (
        <div className="mb-4">
          <Alert>
            {alerts.map((a) => (
              <div key={a.judge_id}>
                {a.name} agrees with people on only {formatShare(a.agreement)} of {formatCount(a.compared)} compared pairs (alert under {formatShare(d.agreement.threshold)}).
              </div>
            ))}
          </Alert>
        </div>
      ) : null}
      <JudgesCard judges={d.judges} checkpoints={d.rewardCheckpoints} jobs={d.judgeJobs} projectId={d.project.id} />
      <Card title="Hybrid report" className="mt-6">
        <ReportPanel report={d.report} />
      </Card>
      <Card title="Agreement with people" className="mt-6">
        <AgreementPanel agreement={d.agreement} minAudits={d.settings.routing.minAudits} />
      </Card>
      <Card title="Hybrid settings" className="mt-6">
        <HybridSettingsForm settings={d.settings} judges={d.judges} />
      </Card>
    </div>
  );
}
