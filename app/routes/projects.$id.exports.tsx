import { type LoaderFunctionArgs, type MetaFunction, redirect } from "@remix-run/node";
import { useLoaderData, useRevalidator } from "@remix-run/react";
import { type FormEvent, useEffect, useRef, useState } from "react";
import { ProjectNav } from "../components/ProjectNav";
import { Alert, Button, Card, Checkbox, Select, TextInput } from "../components/ui";
import { formatBytes, formatCount, formatDate } from "../lib/format";
import { orRespond, parseId, requireUser } from "../lib/session.server";

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: `Exports · ${data?.project.name ?? "Project"} · Pairwise` }];

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const user = requireUser(context, request);
  const projectId = parseId(params.id);
  const { project, memberRole } = await orRespond(context.services.projects.requireMember(user, projectId));
  if (memberRole === "annotator") throw redirect(`/projects/${projectId}/annotate`);
  const [history, members] = await Promise.all([context.services.exports.history(user, projectId), context.services.projects.listMembers(user, projectId)]);
  return {
    project: { id: project.id, name: project.name },
    history,
    members: members.map((m) => ({ id: m.id, name: m.name, email: m.email, role: m.role })),
  };
}

const FORMATS = [
  { value: "trl", label: "TRL preference (prompt / chosen / rejected)" },
  { value: "trl-chat", label: "TRL conversational (chat messages)" },
  { value: "openai", label: "OpenAI preference fine-tuning" },
  { value: "hh", label: "Anthropic HH (chosen / rejected transcripts)" },
  { value: "sft", label: "SFT (prompt / completion of the winner)" },
  { value: "votes", label: "Votes (every judgment, one row each)" },
] as const;

type Format = (typeof FORMATS)[number]["value"];

type FormState = {
  format: Format;
  file: "jsonl" | "csv" | "parquet";
  from: string;
  to: string;
  annotators: string[];
  source: "human" | "ai" | "all" | "agree";
  minAgreement: string;
  minConfidence: string;
  gold: "include" | "exclude" | "only";
  rewrites: "include" | "exclude" | "only";
  label: "majority" | "dawid_skene";
  margin: boolean;
  weight: boolean;
  pseudonymize: boolean;
  scrub: boolean;
  includeSuperseded: boolean;
};

const initialForm: FormState = {
  format: "trl",
  file: "jsonl",
  from: "",
  to: "",
  annotators: [],
  source: "human",
  minAgreement: "",
  minConfidence: "",
  gold: "include",
  rewrites: "include",
  label: "majority",
  margin: false,
  weight: false,
  pseudonymize: true,
  scrub: false,
  includeSuperseded: false,
};

/** The query string GET /api/v1/projects/:id/export takes (server/domain/exports/export-service.ts). */
function exportQuery(f: FormState): { query: string; problems: string[] } {
  const q = new URLSearchParams();
  const problems: string[] = [];
  q.set("format", f.format);
  if (f.format === "votes") q.set("file", f.file);
  // Dates are whole UTC days; "to" includes its whole day.
  if (f.from) q.set("from", `${f.from}T00:00:00.000Z`);
  if (f.to) q.set("to", `${f.to}T23:59:59.999Z`);
  if (f.from && f.to && f.from > f.to) problems.push("The end date is before the start date.");
  if (f.annotators.length) q.set("annotators", f.annotators.join(","));
  q.set("source", f.source);
  const share = (raw: string, name: string, label: string) => {
    if (raw.trim() === "") return;
    const n = Number(raw) / 100;
    if (!Number.isFinite(n) || n < 0 || n > 1) problems.push(`${label} must be between 0 and 100%.`);
    else q.set(name, String(n));
  };
  if (f.format !== "votes") {
    share(f.minAgreement, "min_agreement", "Minimum agreement");
    share(f.minConfidence, "min_confidence", "Minimum confidence");
    q.set("label", f.label);
    if (f.margin) q.set("margin", "true");
    if (f.weight) q.set("weight", "true");
  } else if (f.includeSuperseded) q.set("include_superseded", "true");
  q.set("gold", f.gold);
  q.set("rewrites", f.rewrites);
  q.set("pseudonymize", String(f.pseudonymize));
  if (f.scrub) q.set("scrub", "true");
  return { query: q.toString(), problems };
}

function filtersSummary(filters: Record<string, unknown>): string {
  const parts: string[] = [];
  const skip = new Set(["format", "file"]);
  // Defaults say nothing; pseudonymize is the exception worth seeing either way.
  const defaults: Record<string, unknown> = { source: "human", gold: "include", rewrites: "include", label: "majority" };
  for (const [k, v] of Object.entries(filters)) {
    if (k === "pseudonymize" && v === false) {
      parts.push("real annotator ids");
      continue;
    }
    if (skip.has(k) || v === undefined || v === null || v === false || defaults[k] === v) continue;
    if (k === "from" || k === "to") parts.push(`${k} ${typeof v === "number" ? new Date(v).toISOString().slice(0, 10) : String(v).slice(0, 10)}`);
    else if (Array.isArray(v)) parts.push(`${k} ${v.join(",")}`);
    else if (v === true) parts.push(k);
    else parts.push(`${k} ${String(v)}`);
  }
  return parts.join(" · ");
}

export default function ExportsPage() {
  const { project, history, members } = useLoaderData<typeof loader>();
  const revalidator = useRevalidator();
  const [f, setF] = useState<FormState>(initialForm);
  const [problems, setProblems] = useState<string[]>([]);
  const [waiting, setWaiting] = useState<{ since: number; top: number | null } | null>(null);
  const revalidateRef = useRef(revalidator.revalidate);
  revalidateRef.current = revalidator.revalidate;
  const set = <K extends keyof FormState>(k: K, v: FormState[K]) => setF((s) => ({ ...s, [k]: v }));
  const pairLevel = f.format !== "votes";

  // The browser downloads the file itself (no page event), so poll the history until the new export shows up.
  const top = history[0]?.id ?? null;
  useEffect(() => {
    if (!waiting) return;
    if (top !== waiting.top || Date.now() - waiting.since > 60_000) {
      setWaiting(null);
      return;
    }
    const t = setTimeout(() => revalidateRef.current(), 1000);
    return () => clearTimeout(t);
  }, [waiting, top, history]);

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    const { query, problems } = exportQuery(f);
    setProblems(problems);
    if (problems.length) return;
    setWaiting({ since: Date.now(), top });
    window.location.assign(`/api/v1/projects/${project.id}/export?${query}`);
  }

  return (
    <div>
      <h1 className="mb-4 text-xl font-semibold">{project.name}</h1>
      <ProjectNav projectId={project.id} />
      <Card title="New export">
        <form onSubmit={onSubmit} className="flex flex-col gap-4" aria-label="Export">
          <div className="grid gap-4 md:grid-cols-3">
            <Select label="Format" name="format" value={f.format} onChange={(e) => set("format", e.target.value as Format)}>
              {FORMATS.map((x) => (
                <option key={x.value} value={x.value}>
                  {x.label}
                </option>
              ))}
            </Select>
            <Select label="File type" name="file" value={pairLevel ? "jsonl" : f.file} disabled={pairLevel} onChange={(e) => set("file", e.target.value as FormState["file"])} hint={pairLevel ? "Pair formats are JSONL; CSV and Parquet are for votes." : undefined}>
              <option value="jsonl">JSONL</option>
              <option value="csv">CSV</option>
              <option value="parquet">Parquet</option>
            </Select>
            <Select
              label="Labels from"
              name="source"
              value={f.source}
              onChange={(e) => set("source", e.target.value as FormState["source"])}
              hint={f.source === "agree" ? "Only pairs where the AI judges' label matches the people's majority; both count." : undefined}
            >
              <option value="human">Humans</option>
              <option value="ai">AI judges</option>
              <option value="all">Both</option>
              <option value="agree">Both agree</option>
            </Select>
            <TextInput label="From (UTC day)" type="date" name="from" value={f.from} onChange={(e) => set("from", e.target.value)} />
            <TextInput label="To (UTC day, inclusive)" type="date" name="to" value={f.to} onChange={(e) => set("to", e.target.value)} />
            <Select label="Gold pairs" name="gold" value={f.gold} onChange={(e) => set("gold", e.target.value as FormState["gold"])}>
              <option value="include">Include</option>
              <option value="exclude">Exclude</option>
              <option value="only">Only gold</option>
            </Select>
            <Select
              label="Rewrite pairs"
              name="rewrites"
              value={f.rewrites}
              onChange={(e) => set("rewrites", e.target.value as FormState["rewrites"])}
              hint={f.format === "sft" && f.rewrites === "only" ? "The annotators' rewrites as SFT demonstrations." : "An annotator's rewrite against the original response."}
            >
              <option value="include">Include</option>
              <option value="exclude">Exclude</option>
              <option value="only">Only rewrites</option>
            </Select>
          </div>
          <div className="grid gap-4 md:grid-cols-3">
            <Select
              label="Annotators"
              name="annotators"
              multiple
              size={Math.min(6, Math.max(3, members.length))}
              value={f.annotators}
              onChange={(e) => set("annotators", Array.from(e.target.selectedOptions, (o) => o.value))}
              hint="None selected means everyone. Ctrl/⌘-click to pick several."
            >
              {members.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name} ({m.email}){m.role === "annotator" ? "" : ` · ${m.role}`}
                </option>
              ))}
            </Select>
            <div className="flex flex-col gap-4">
              <Select label="Consensus label" name="label" value={f.label} disabled={!pairLevel} onChange={(e) => set("label", e.target.value as FormState["label"])} hint="Which vote count decides chosen and rejected.">
                <option value="majority">Majority vote</option>
                <option value="dawid_skene">Dawid–Skene (weights reliable annotators)</option>
              </Select>
              <TextInput label="Minimum agreement (%)" type="number" min={0} max={100} step={1} name="min_agreement" value={f.minAgreement} disabled={!pairLevel} onChange={(e) => set("minAgreement", e.target.value)} hint="Share of votes for the winning label." />
            </div>
            <div className="flex flex-col gap-4">
              <TextInput label="Minimum confidence (%)" type="number" min={0} max={100} step={1} name="min_confidence" value={f.minConfidence} disabled={!pairLevel} onChange={(e) => set("minConfidence", e.target.value)} hint="Dawid–Skene posterior of the winning label." />
              <fieldset className="flex flex-col gap-2">
                <legend className="mb-1 text-sm font-medium">Options</legend>
                <Checkbox label="Margin (preference strength)" checked={f.margin} disabled={!pairLevel} onChange={(e) => set("margin", e.target.checked)} />
                <Checkbox label="Weight by agreement" checked={f.weight} disabled={!pairLevel} onChange={(e) => set("weight", e.target.checked)} />
                <Checkbox label="Pseudonymize annotators" checked={f.pseudonymize} onChange={(e) => set("pseudonymize", e.target.checked)} />
                <Checkbox label="Scrub emails, phone numbers, API keys" checked={f.scrub} onChange={(e) => set("scrub", e.target.checked)} />
                {!pairLevel ? <Checkbox label="Include superseded votes" checked={f.includeSuperseded} onChange={(e) => set("includeSuperseded", e.target.checked)} /> : null}
              </fieldset>
            </div>
          </div>
          {problems.length ? <Alert>{problems.join(" ")}</Alert> : null}
          <div className="flex items-center gap-3">
            <Button type="submit" variant="primary">
              Download
            </Button>
            {waiting ? (
              <span className="text-sm text-muted" role="status">
                Preparing the file; your browser will save it…
              </span>
            ) : null}
          </div>
        </form>
      </Card>
      <Card title="Export history" className="mt-6">
        {history.length === 0 ? (
          <p className="text-sm text-muted">No exports yet.</p>
        ) : (
          <div className="overflow-x-auto">
            <table className="w-full text-sm" data-testid="export-history">
              <thead>
                <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
                  <th className="py-2 pr-3 font-medium">#</th>
                  <th className="py-2 pr-3 font-medium">Format</th>
                  <th className="py-2 pr-3 text-right font-medium">Rows</th>
                  <th className="py-2 pr-3 text-right font-medium">Size</th>
                  <th className="py-2 pr-3 font-medium">SHA-256</th>
                  <th className="py-2 pr-3 font-medium">Filters</th>
                  <th className="py-2 pr-3 font-medium">When</th>
                  <th className="py-2 pr-3 font-medium">By</th>
                  <th className="py-2 font-medium">
                    <span className="sr-only">Links</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {history.map((h) => {
                  const file = typeof h.filters.file === "string" && h.format === "votes" ? ` · ${h.filters.file}` : "";
                  return (
                    <tr key={h.id} className="border-b border-line align-top last:border-0" data-testid="export-row">
                      <td className="py-2 pr-3 tabular-nums text-muted">{h.id}</td>
                      <td className="py-2 pr-3 font-medium">
                        {h.format}
                        {file}
                      </td>
                      <td className="py-2 pr-3 text-right tabular-nums">{formatCount(h.rows)}</td>
                      <td className="whitespace-nowrap py-2 pr-3 text-right tabular-nums">{formatBytes(h.bytes)}</td>
                      <td className="py-2 pr-3 font-mono text-xs" title={h.sha256}>
                        {h.sha256.slice(0, 12)}
                      </td>
                      <td className="max-w-xs py-2 pr-3 text-xs text-muted">{filtersSummary(h.filters) || "none"}</td>
                      <td className="whitespace-nowrap py-2 pr-3 text-muted">{formatDate(Date.parse(h.created_at))}</td>
                      <td className="py-2 pr-3 text-muted">{h.email}</td>
                      <td className="whitespace-nowrap py-2">
                        <a className="underline" href={`/api/v1/exports/${h.id}/download`} download>
                          Download
                        </a>
                        <span className="px-1 text-muted">·</span>
                        <a className="underline" href={`/api/v1/exports/${h.id}/manifest`} target="_blank" rel="noreferrer">
                          Manifest
                        </a>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
        <p className="mt-2 text-xs text-muted">The same filters over the same judgments give a byte-identical file; the manifest records the filters, counts and checksum.</p>
      </Card>
    </div>
  );
}
