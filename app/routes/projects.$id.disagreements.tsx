import { type ActionFunctionArgs, data, type LoaderFunctionArgs, type MetaFunction, redirect } from "@remix-run/node";
import { Link, useFetcher, useLoaderData } from "@remix-run/react";
import { useState } from "react";
import { ChatContent } from "../components/ChatContent";
import { ProjectNav } from "../components/ProjectNav";
import { Button, Card } from "../components/ui";
import { friendlyMessage, isDomainError } from "../lib/errors";
import { formatCount, formatDuration, formatShare } from "../lib/format";
import { orRespond, parseId, requireUser } from "../lib/session.server";

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: `Disagreements · ${data?.project.name ?? "Project"} · Pairwise` }];

const PAGE_SIZE = 10;

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const user = requireUser(context, request);
  const projectId = parseId(params.id);
  const { project, memberRole } = await orRespond(context.services.projects.requireMember(user, projectId));
  if (memberRole === "annotator") throw redirect(`/projects/${projectId}/annotate`);
  const raw = Number(new URL(request.url).searchParams.get("page") ?? "1");
  const page = Number.isInteger(raw) && raw >= 1 ? raw : 1;
  const result = await orRespond(context.services.quality.disagreements(user, projectId, { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE }));
  return { project: { id: project.id, name: project.name, allowTie: project.scheme.allowTie, allowBothBad: project.scheme.allowBothBad }, page, pageSize: PAGE_SIZE, ...result };
}

const ANSWERS = ["a", "b", "tie", "both_bad"] as const;
type Answer = (typeof ANSWERS)[number];
const ANSWER_TEXT: Record<Answer, string> = { a: "A is better", b: "B is better", tie: "Tie", both_bad: "Both bad" };
const STRENGTH_TEXT: Record<number, string> = { 1: "negligibly better", 2: "slightly better", 3: "better", 4: "significantly better" };

export async function action({ context, request, params }: ActionFunctionArgs) {
  const user = requireUser(context, request);
  const projectId = parseId(params.id);
  const fd = await request.formData();
  const pairId = Number(fd.get("pairId"));
  const raw = String(fd.get("answer") ?? "");
  const answer = fd.get("intent") === "clear" ? null : (ANSWERS as readonly string[]).includes(raw) ? (raw as Answer) : null;
  try {
    await context.services.quality.setGold(user, projectId, { pairs: [{ pair_id: pairId, answer }] });
    return data({ ok: true as const, error: null, answer });
  } catch (e) {
    if (isDomainError(e)) return data({ ok: false as const, error: friendlyMessage(e), answer: null }, { status: 400 });
    throw e;
  }
}

type Disagreement = ReturnType<typeof useLoaderData<typeof loader>>["pairs"][number];

function voteText(choice: string, strength: number | null): string {
  const base = ANSWER_TEXT[choice as Answer] ?? choice;
  if ((choice === "a" || choice === "b") && strength) return `${choice.toUpperCase()} ${STRENGTH_TEXT[strength] ?? "better"}`;
  return base;
}

function GoldControl({ pair, answers }: { pair: Disagreement; answers: Answer[] }) {
  const fetcher = useFetcher<typeof action>();
  const [answer, setAnswer] = useState<Answer>((pair.gold_answer as Answer | null) ?? (pair.consensus as Answer | null) ?? "a");
  const current = fetcher.state === "idle" && fetcher.data?.ok ? fetcher.data.answer : (pair.gold_answer as Answer | null);
  const selectId = `gold-${pair.pair_id}`;
  return (
    <fetcher.Form method="post" className="flex flex-wrap items-center gap-2" data-testid={`gold-control-${pair.pair_id}`}>
      <input type="hidden" name="pairId" value={pair.pair_id} />
      <label htmlFor={selectId} className="text-sm font-medium">
        Mark as gold with answer
      </label>
      <select id={selectId} name="answer" value={answer} onChange={(e) => setAnswer(e.target.value as Answer)} className="rounded-md border border-line bg-surface px-2 py-1 text-sm">
        {answers.map((a) => (
          <option key={a} value={a}>
            {ANSWER_TEXT[a]}
          </option>
        ))}
      </select>
      <Button type="submit" variant="primary" disabled={fetcher.state !== "idle"}>
        {current ? "Update gold" : "Mark as gold"}
      </Button>
      {current ? (
        <>
          <span className="rounded border border-good px-1.5 py-0.5 text-xs font-medium text-good" data-testid={`gold-state-${pair.pair_id}`}>
            Gold: {ANSWER_TEXT[current]}
          </span>
          <Button type="submit" name="intent" value="clear" variant="ghost" disabled={fetcher.state !== "idle"}>
            Clear gold
          </Button>
        </>
      ) : null}
      {fetcher.data && !fetcher.data.ok ? (
        <span role="alert" className="text-sm text-bad">
          {fetcher.data.error}
        </span>
      ) : null}
    </fetcher.Form>
  );
}

function PairCard({ pair, answers }: { pair: Disagreement; answers: Answer[] }) {
  return (
    <Card className="mb-6" title={<span>Pair #{pair.pair_id}</span>} actions={
      <span className="text-sm text-muted">
        {formatShare(pair.agreement)} agree · {pair.votes.length} votes
        {pair.consensus ? <> · Dawid–Skene: {ANSWER_TEXT[pair.consensus as Answer] ?? pair.consensus} ({formatShare(pair.confidence)})</> : null}
      </span>
    }>
      <div data-testid="disagreement">
        <div className="mb-3 rounded-md bg-sunken p-3">
          <div className="mb-1 text-xs font-semibold uppercase tracking-wide text-muted">Prompt</div>
          <ChatContent content={pair.prompt} />
        </div>
        <div className="grid gap-3 md:grid-cols-2">
          {(["a", "b"] as const).map((side) => (
            <section key={side} className="flex min-w-0 flex-col rounded-md border border-line">
              <header className="flex items-baseline justify-between gap-2 border-b border-line px-3 py-1.5">
                <span className="text-sm font-semibold">Response {side.toUpperCase()}</span>
                <span className="truncate font-mono text-xs text-muted" title="Model">
                  {(side === "a" ? pair.model_a : pair.model_b) ?? "unknown model"}
                </span>
              </header>
              <div className="max-h-96 overflow-auto px-3 py-2">
                <ChatContent content={side === "a" ? pair.response_a : pair.response_b} hideSingleRole />
              </div>
            </section>
          ))}
        </div>
        <h3 className="mt-4 mb-2 text-sm font-semibold">Votes</h3>
        <div className="grid gap-2 sm:grid-cols-2 xl:grid-cols-3">
          {pair.votes.map((v) => (
            <div key={v.judgment_id} className="rounded-md border border-line p-2 text-sm">
              <div className="flex items-baseline justify-between gap-2">
                <span className="font-medium">{v.annotator}</span>
                <span className="text-xs text-muted">{formatDuration(v.time_on_task_ms)}</span>
              </div>
              <div className="font-semibold">{voteText(v.choice, v.strength)}</div>
              {v.flags.length ? <div className="text-xs text-bad">Flags: {v.flags.join(", ")}</div> : null}
              <p className={`mt-1 whitespace-pre-wrap ${v.rationale ? "" : "text-muted"}`}>{v.rationale || "No rationale."}</p>
            </div>
          ))}
        </div>
        <div className="mt-4 border-t border-line pt-3">
          <GoldControl pair={pair} answers={answers} />
        </div>
      </div>
    </Card>
  );
}

export default function Disagreements() {
  const { project, pairs, total, page, pageSize } = useLoaderData<typeof loader>();
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const answers = ANSWERS.filter((a) => (a !== "tie" || project.allowTie) && (a !== "both_bad" || project.allowBothBad));
  const pager = (
    <nav aria-label="Pages" className="flex items-center gap-3 text-sm">
      {page > 1 ? (
        <Link to={`?page=${page - 1}`} className="underline" prefetch="intent">
          ← Previous
        </Link>
      ) : (
        <span className="text-muted">← Previous</span>
      )}
      <span className="tabular-nums">
        Page {page} of {pages}
      </span>
      {page < pages ? (
        <Link to={`?page=${page + 1}`} className="underline" prefetch="intent">
          Next →
        </Link>
      ) : (
        <span className="text-muted">Next →</span>
      )}
    </nav>
  );
  return (
    <div>
      <h1 className="mb-4 text-xl font-semibold">{project.name}</h1>
      <ProjectNav projectId={project.id} />
      <div className="mb-4 flex flex-wrap items-baseline justify-between gap-3">
        <p className="text-sm text-muted" data-testid="disagreement-total">
          {formatCount(total)} pair{total === 1 ? "" : "s"} with split votes, least agreement first. Model names are shown here only; annotators never see them.
        </p>
        {total > pageSize ? pager : null}
      </div>
      {pairs.length === 0 ? <Card><p className="text-sm text-muted">No split votes{page > 1 ? " on this page" : " yet"}.</p></Card> : pairs.map((p) => <PairCard key={p.pair_id} pair={p} answers={answers} />)}
      {total > pageSize ? <div className="flex justify-end">{pager}</div> : null}
    </div>
  );
}
