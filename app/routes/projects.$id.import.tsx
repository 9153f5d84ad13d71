import { type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { useLoaderData, useRevalidator } from "@remix-run/react";
import { type FormEvent, useRef, useState } from "react";
import { ProjectNav } from "../components/ProjectNav";
import { Alert, Button, Card, Checkbox, Select } from "../components/ui";
import { type ApiErrorBody, friendlyMessage } from "../lib/errors";
import { formatCount, formatDate } from "../lib/format";
import { orRespond, parseId, requireUser } from "../lib/session.server";

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: `Import · ${data?.project.name ?? "Project"} · Pairwise` }];

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const user = requireUser(context, request);
  const projectId = parseId(params.id);
  const { project } = await orRespond(context.services.projects.requireResearcher(user, projectId));
  const history = await context.services.imports.history(user, projectId);
  return { project: { id: project.id, name: project.name }, history };
}

type UploadState =
  | { kind: "idle" }
  | { kind: "uploading"; loaded: number; total: number }
  | { kind: "processing" }
  | { kind: "done"; imported: number; duplicates: number; what: "pairs" | "prompts" }
  | { kind: "error"; error: ApiErrorBody };

/** XHR rather than fetch: only XHR reports upload progress (upload.onprogress). */
function upload(url: string, file: File, onProgress: (loaded: number, total: number) => void, onSent: () => void) {
  return new Promise<{ status: number; body: unknown }>((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.withCredentials = true;
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.upload.onload = onSent;
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      resolve({ status: xhr.status, body });
    };
    xhr.onerror = () => resolve({ status: 0, body: null });
    const fd = new FormData();
    fd.append("file", file, file.name);
    xhr.send(fd);
  });
}

const exampleLine = `{"prompt": "How do I reverse a list in Python?", "response_a": "Use slicing: xs[::-1]", "response_b": "Call xs.reverse()", "model_a": "m1", "model_b": "m2"}`;

export default function ImportPage() {
  const { project, history } = useLoaderData<typeof loader>();
  const revalidator = useRevalidator();
  const [state, setState] = useState<UploadState>({ kind: "idle" });
  const fileRef = useRef<HTMLInputElement>(null);
  const [kind, setKind] = useState<"pairs" | "prompts">("pairs");
  const [gold, setGold] = useState(false);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    const file = fileRef.current?.files?.[0];
    if (!file) {
      setState({ kind: "error", error: { code: "validation_failed", message: "Choose a JSONL or CSV file first." } });
      return;
    }
    setState({ kind: "uploading", loaded: 0, total: file.size });
    const res = await upload(
      `/api/v1/projects/${project.id}/${kind}${kind === "pairs" && gold ? "?gold=true" : ""}`,
      file,
      (loaded, total) => setState({ kind: "uploading", loaded, total }),
      () => setState({ kind: "processing" }),
    );
    if (res.status === 201) {
      const b = res.body as { imported: number; duplicates: number };
      setState({ kind: "done", imported: b.imported, duplicates: b.duplicates, what: kind });
      if (fileRef.current) fileRef.current.value = "";
      revalidator.revalidate();
    } else {
      const err = (res.body as { error?: ApiErrorBody } | null)?.error ?? { code: res.status === 0 ? "network" : "internal", message: "" };
      setState({ kind: "error", error: err });
      revalidator.revalidate();
    }
  }

  const busy = state.kind === "uploading" || state.kind === "processing";
  const pct = state.kind === "uploading" && state.total > 0 ? Math.round((state.loaded / state.total) * 100) : state.kind === "processing" ? 100 : 0;

  return (
    <div>
      <h1 className="mb-4 text-xl font-semibold">{project.name}</h1>
      <ProjectNav projectId={project.id} />
      <div className="grid gap-6 lg:grid-cols-[1fr_1fr]">
        <Card title="Upload a file">
          <form onSubmit={onSubmit} className="flex flex-col gap-4">
            <Select label="What the file holds" name="kind" value={kind} onChange={(e) => setKind(e.target.value === "prompts" ? "prompts" : "pairs")}>
              <option value="pairs">Pairs (prompt + two responses)</option>
              <option value="prompts">Prompts (for generation)</option>
            </Select>
            <div className="flex flex-col gap-1">
              <label htmlFor="import-file" className="text-sm font-medium">
                File (JSONL or CSV)
              </label>
              <input id="import-file" ref={fileRef} type="file" name="file" accept=".jsonl,.json,.ndjson,.csv,text/csv,application/x-ndjson" className="text-sm file:mr-3 file:rounded-md file:border file:border-line file:bg-surface file:px-3 file:py-1.5 file:text-sm file:text-ink" />
              <p className="text-xs text-muted">
                Accepted shapes: prompt/response_a/response_b, TRL prompt/chosen/rejected, or HH chosen/rejected. Imports are all-or-nothing.
              </p>
            </div>
            {kind === "pairs" ? (
              <div className="flex flex-col gap-1">
                <Checkbox label="These pairs are gold questions (use their reference answer)" name="gold" checked={gold} onChange={(e) => setGold(e.target.checked)} />
                <p className="pl-6 text-xs text-muted">
                  Each line needs its known answer (for example <code className="font-mono">"reference": "a"</code>, or TRL/HH chosen and rejected). Gold pairs are mixed into annotators' work to measure accuracy.
                </p>
              </div>
            ) : null}
            <div>
              <Button type="submit" variant="primary" disabled={busy}>
                {busy ? "Uploading…" : "Upload"}
              </Button>
            </div>
            {busy ? (
              <div>
                <div className="mb-1 flex justify-between text-xs text-muted">
                  <span>{state.kind === "processing" ? "Checking every line…" : "Uploading…"}</span>
                  <span>{pct}%</span>
                </div>
                <div className="h-2 overflow-hidden rounded-full bg-sunken" role="progressbar" aria-label="Upload progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
                  <div className="h-full bg-accent transition-[width]" style={{ width: `${pct}%` }} />
                </div>
              </div>
            ) : null}
            {state.kind === "done" ? (
              <Alert kind="success">
                <span data-testid="import-result">
                  Imported {formatCount(state.imported)} {state.what}
                  {state.duplicates ? `; ${formatCount(state.duplicates)} duplicate${state.duplicates === 1 ? "" : "s"} skipped` : ""}.
                </span>
              </Alert>
            ) : null}
            {state.kind === "error" ? (
              <div className="flex flex-col gap-2" data-testid="import-error">
                <Alert>{state.error.code === "import_invalid" ? "Nothing was imported: some lines need fixing." : friendlyMessage(state.error)}</Alert>
                {state.error.lines?.length ? (
                  <div className="max-h-72 overflow-auto rounded-md border border-line">
                    <table className="w-full text-sm">
                      <thead className="sticky top-0 bg-sunken">
                        <tr className="text-left text-xs uppercase tracking-wide text-muted">
                          <th className="px-3 py-1.5 font-medium">Line</th>
                          <th className="px-3 py-1.5 font-medium">Problem</th>
                        </tr>
                      </thead>
                      <tbody>
                        {state.error.lines.map((l) => (
                          <tr key={l.line} className="border-t border-line">
                            <td className="px-3 py-1.5 tabular-nums">{l.line}</td>
                            <td className="px-3 py-1.5 font-mono text-xs">{l.message}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </div>
                ) : null}
              </div>
            ) : null}
          </form>
        </Card>
        <Card title="File format">
          <p className="mb-2 text-sm">One JSON object per line, for example:</p>
          <pre className="overflow-x-auto rounded-md bg-sunken p-3 font-mono text-xs">{exampleLine}</pre>
          <p className="mt-2 text-sm text-muted">
            A prompt or response may also be a chat transcript: a list of {"{"}"role", "content"{"}"} messages. Model names are kept for analysis and never shown to annotators.
          </p>
        </Card>
      </div>
      <Card title="Import history" className="mt-6">
        {history.length === 0 ? (
          <p className="text-sm text-muted">Nothing imported yet.</p>
        ) : (
          <table className="w-full text-sm" data-testid="import-history">
            <thead>
              <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
                <th className="py-2 pr-3 font-medium">When</th>
                <th className="py-2 pr-3 font-medium">Kind</th>
                <th className="py-2 pr-3 font-medium">File</th>
                <th className="py-2 pr-3 text-right font-medium">Imported</th>
                <th className="py-2 pr-3 text-right font-medium">Duplicates</th>
                <th className="py-2 font-medium">By</th>
              </tr>
            </thead>
            <tbody>
              {history.map((h) => (
                <tr key={h.id} className="border-b border-line last:border-0">
                  <td className="py-2 pr-3 text-muted">{formatDate(h.created_at)}</td>
                  <td className="py-2 pr-3">{h.kind}</td>
                  <td className="py-2 pr-3">{h.filename ?? "(request body)"} <span className="text-xs text-muted">{h.format}</span></td>
                  <td className="py-2 pr-3 text-right tabular-nums">{formatCount(h.imported)}</td>
                  <td className="py-2 pr-3 text-right tabular-nums">{formatCount(h.duplicates)}</td>
                  <td className="py-2 text-muted">{h.email}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}
