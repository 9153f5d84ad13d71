import { type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";
import { useCallback, useEffect, useRef, useState } from "react";
import { type AssignmentView } from "../../server/domain/annotation/annotation-service";
import { type AssistHint } from "../../server/domain/judges/types";
import { AppHeader } from "../components/AppHeader";
import { ChatContent } from "../components/ChatContent";
import { Markdown } from "../components/Markdown";
import { Overlay } from "../components/Overlay";
import { type PanelMark, ResponsePanel } from "../components/ResponsePanel";
import { RewriteBox } from "../components/RewriteBox";
import { api, apiWithRetry, newIdempotencyKey } from "../lib/api";
import { contentText } from "../lib/content";
import { friendlyMessage } from "../lib/errors";
import { formatCount, formatCountdown, wordCount } from "../lib/format";
import { assistText } from "../lib/judges";
import {
  type Choice,
  describeSelection,
  emptySelection,
  type Flag,
  FLAGS,
  humanizeCriterion,
  judgmentBody,
  missingPart,
  rewritableSides,
  type RewriteMode,
  type RewriteSide,
  rewritesToSend,
  type SchemeView,
  type Selection,
  type Side,
  SKIP_REASONS,
  STRENGTHS,
} from "../lib/judgment";
import { orRespond, parseId, requireUser } from "../lib/session.server";
import { useProjectSocket } from "../lib/socket";
import { type RouteHandle } from "../root";

export const handle: RouteHandle = { ownHeader: true };

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: `Annotate · ${data?.project.name ?? "Project"} · Pairwise` }];

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const user = requireUser(context, request);
  const projectId = parseId(params.id);
  const { project, memberRole } = await orRespond(context.services.projects.requireMember(user, projectId));
  // The server hands back the lease already held, so a reload shows the same pair.
  const [assignment, stats] = await Promise.all([context.services.annotation.next(user, projectId), context.services.annotation.myStats(user, projectId)]);
  return {
    project: { id: project.id, name: project.name, guidelines: project.guidelines, scheme: project.scheme as SchemeView, leaseSeconds: project.leaseSeconds },
    user: { name: user.name, email: user.email, role: user.role },
    isStaff: memberRole !== "annotator",
    assignment,
    stats,
  };
}

/** The hybrid additions: what may be rewritten, and (assist `before` arm only) the AI's pick. */
type View = AssignmentView & { rewrites?: RewriteMode; assist?: AssistHint | null };
type Receipt = { judgment_id: number; assist?: AssistHint | null };
type Toast = { id: number; text: string; kind: "info" | "error" | "undo"; until?: number; assignmentId?: number; extra?: string };
type Undo = { view: View; sel: Selection };

const PREFETCH_MIN_LEFT_MS = 5_000;

function isTyping(t: EventTarget | null): boolean {
  const el = t as HTMLElement | null;
  if (!el) return false;
  return el.tagName === "TEXTAREA" || el.tagName === "SELECT" || (el.tagName === "INPUT" && (el as HTMLInputElement).type !== "checkbox") || el.isContentEditable;
}

export default function Annotate() {
  const data = useLoaderData<typeof loader>();
  const { project } = data;
  const scheme = project.scheme;

  const [cur, setCur] = useState<View | null>(data.assignment);
  const [phase, setPhase] = useState<"ready" | "loading" | "done">(data.assignment ? "ready" : "done");
  // Keys typed before hydration are lost (the listener is attached in an effect); tests wait for this.
  const [keysReady, setKeysReady] = useState(false);
  const [sel, setSel] = useState<Selection>(emptySelection);
  const [stats, setStats] = useState(data.stats);
  const [now, setNow] = useState(() => Date.now());
  const [toast, setToast] = useState<Toast | null>(null);
  const [hint, setHint] = useState<string | null>(null);
  const [overlay, setOverlay] = useState<"help" | "guidelines" | "skip" | null>(null);
  const [activeCriterion, setActiveCriterion] = useState(0);
  const [correcting, setCorrecting] = useState(false);
  const [newPairs, setNewPairs] = useState(false);
  const [undo, setUndo] = useState<Undo | null>(null);
  const [rewriting, setRewriting] = useState<RewriteSide | null>(null);
  const [focusRewrite, setFocusRewrite] = useState(0);

  const curRef = useRef<View | null>(data.assignment);
  const selRef = useRef<Selection>(emptySelection);
  selRef.current = sel;
  const nextRef = useRef<View | null>(null);
  const prefetching = useRef<Promise<void> | null>(null);
  const inflight = useRef(new Map<number, Promise<boolean>>());
  const finished = useRef(new Set<number>());
  const shownAt = useRef(0);
  const expiring = useRef(false);
  const rationaleRef = useRef<HTMLTextAreaElement>(null);
  const rewriteRef = useRef<HTMLTextAreaElement>(null);
  const toastSeq = useRef(0);

  const showToast = useCallback((text: string, kind: Toast["kind"] = "info", until?: number, assignmentId?: number) => {
    toastSeq.current += 1;
    setToast({ id: toastSeq.current, text, kind, until, assignmentId });
  }, []);

  useEffect(() => {
    if (!toast) return;
    // The undo toast fades after a while; Ctrl+Z keeps working for as long as the lease lasts.
    const t = setTimeout(() => setToast((cur) => (cur?.id === toast.id ? null : cur)), toast.kind === "info" ? 5000 : 10000);
    return () => clearTimeout(t);
  }, [toast]);

  const show = useCallback((v: View | null, restore?: Selection) => {
    curRef.current = v;
    setCur(v);
    setSel(restore ?? emptySelection);
    // A restored answer (undo) reopens its rewrite draft, if it had one.
    const drafted = restore ? (["left", "right"] as const).find((side) => restore.rewrites[side] !== undefined) : undefined;
    setRewriting(drafted ?? null);
    setHint(null);
    setActiveCriterion(0);
    shownAt.current = performance.now();
    expiring.current = false;
    setPhase(v ? "ready" : "done");
    if (v) document.querySelectorAll<HTMLElement>("[data-scroll-reset]").forEach((el) => (el.scrollTop = 0));
  }, []);

  useEffect(() => {
    shownAt.current = performance.now();
  }, []);

  /** Leases a second pair in the background so the next one appears at once after a submit. */
  const prefetch = useCallback(() => {
    const c = curRef.current;
    if (!c || nextRef.current || prefetching.current) return prefetching.current ?? Promise.resolve();
    const p = (async () => {
      const r = await api<View>(`/projects/${project.id}/assignments/next?after=${c.assignment_id}`);
      if (r.ok && r.data && r.data.assignment_id !== curRef.current?.assignment_id && !finished.current.has(r.data.assignment_id)) {
        nextRef.current = r.data;
      }
    })().finally(() => {
      prefetching.current = null;
    });
    prefetching.current = p;
    return p;
  }, [project.id]);

  const refreshStats = useCallback(async () => {
    const r = await api<{ today: number; total: number; remaining: number }>(`/projects/${project.id}/me`);
    if (r.ok && r.data) setStats(r.data);
  }, [project.id]);

  /** Shows the prefetched pair, or asks the server for one (after pending writes land, so it can't hand back a finished pair). */
  const advance = useCallback(async () => {
    if (prefetching.current) await prefetching.current;
    const pre = nextRef.current;
    nextRef.current = null;
    if (pre && new Date(pre.expires_at).getTime() - Date.now() > PREFETCH_MIN_LEFT_MS && !finished.current.has(pre.assignment_id)) {
      show(pre);
      if (inflight.current.size === 0) void prefetch();
      return;
    }
    setPhase("loading");
    await Promise.all([...inflight.current.values()]);
    for (let attempt = 0; ; attempt++) {
      const r = await api<View>(`/projects/${project.id}/assignments/next`);
      if (!r.ok) {
        setPhase("ready");
        showToast(friendlyMessage(r.error), "error");
        return;
      }
      // The server may still count a lease as live for a moment after this clock says it ran
      // out (clock skew); wait for it rather than show the same pair again.
      if (r.data && finished.current.has(r.data.assignment_id) && attempt < 5) {
        await new Promise((res) => setTimeout(res, 1500));
        continue;
      }
      if (r.data) finished.current.delete(r.data.assignment_id);
      show(r.data);
      if (r.data) void prefetch();
      return;
    }
  }, [project.id, prefetch, show, showToast]);

  // First pair on screen: start prefetching the second.
  useEffect(() => {
    if (data.assignment) void prefetch();
  }, [data.assignment, prefetch]);

  // Countdown tick.
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, []);

  const leaseLeft = cur ? new Date(cur.expires_at).getTime() - now : 0;

  // The lease ran out on screen: fetch a fresh pair and say so in plain words.
  useEffect(() => {
    if (phase !== "ready" || !cur || leaseLeft > 0 || expiring.current) return;
    expiring.current = true;
    finished.current.add(cur.assignment_id);
    setCorrecting(false);
    showToast("This pair's time ran out; here is a fresh one.", "info");
    void advance();
  }, [phase, cur, leaseLeft, advance, showToast]);

  const submit = useCallback(() => {
    const c = curRef.current;
    const s = selRef.current;
    if (!c || phase !== "ready") return;
    const missing = missingPart(s, scheme);
    if (missing) {
      setHint(missing);
      return;
    }
    const rewrites = rewritesToSend(s, c.rewrites, { left: contentText(c.left), right: contentText(c.right) });
    const body = judgmentBody(s, scheme, performance.now() - shownAt.current, newIdempotencyKey(), rewrites);
    finished.current.add(c.assignment_id);
    const post = (async () => {
      const r = await apiWithRetry<Receipt>(`/assignments/${c.assignment_id}/judgment`, { method: "POST", body });
      if (r.ok) {
        void refreshStats();
        // Assist `after` arm: the AI's pick, shown only once the judgment is stored.
        const hint = r.data?.assist;
        if (hint) setToast((t) => (t && t.assignmentId === c.assignment_id ? { ...t, extra: `AI picked: ${assistText(hint)}` } : t));
        return true;
      }
      setUndo((u) => (u?.view.assignment_id === c.assignment_id ? null : u));
      if (r.error.code === "lease_expired" || r.error.code === "lease_foreign") {
        showToast("The last pair's time ran out before your answer arrived, so it wasn't counted. Here is a fresh one.", "error");
      } else {
        showToast(`Your last answer couldn't be saved: ${friendlyMessage(r.error)}`, "error");
      }
      return false;
    })();
    inflight.current.set(c.assignment_id, post);
    void post.finally(() => {
      inflight.current.delete(c.assignment_id);
      void prefetch();
    });
    const until = new Date(c.expires_at).getTime();
    setUndo({ view: c, sel: s });
    showToast(`Saved: ${describeSelection(s, scheme)}${rewrites.length ? " + rewrite" : ""}`, "undo", until, c.assignment_id);
    setCorrecting(false);
    void advance();
  }, [phase, scheme, advance, prefetch, refreshStats, showToast]);

  const doUndo = useCallback(async () => {
    const u = undo;
    if (!u) return;
    setUndo(null);
    setToast(null);
    const pending = inflight.current.get(u.view.assignment_id);
    if (pending && !(await pending)) return;
    const r = await api<View & { status: string }>(`/assignments/${u.view.assignment_id}`);
    if (!r.ok || !r.data || r.data.status !== "judged" || new Date(r.data.expires_at).getTime() <= Date.now()) {
      showToast("That pair's time has run out, so the answer can no longer be changed.", "error");
      return;
    }
    const c = curRef.current;
    if (c) nextRef.current = c;
    finished.current.delete(u.view.assignment_id);
    setCorrecting(true);
    // The single-assignment view may not repeat the hybrid fields; keep what the pair was shown with.
    show({ ...r.data, rewrites: r.data.rewrites ?? u.view.rewrites, assist: r.data.assist ?? u.view.assist }, u.sel);
  }, [undo, show, showToast]);

  const skip = useCallback(
    async (reason: string) => {
      const c = curRef.current;
      setOverlay(null);
      if (!c || !reason.trim()) return;
      finished.current.add(c.assignment_id);
      const post = (async () => {
        const r = await apiWithRetry(`/assignments/${c.assignment_id}/skip`, { method: "POST", body: { reason: reason.trim() } });
        if (!r.ok && r.error.code !== "lease_expired") showToast(`The skip couldn't be saved: ${friendlyMessage(r.error)}`, "error");
        return r.ok;
      })();
      inflight.current.set(c.assignment_id, post);
      void post.finally(() => {
        inflight.current.delete(c.assignment_id);
        void prefetch();
      });
      setUndo(null);
      setCorrecting(false);
      showToast("Skipped.", "info");
      await advance();
    },
    [advance, prefetch, showToast],
  );

  const loadNewPairs = useCallback(async () => {
    setNewPairs(false);
    await advance();
  }, [advance]);

  useProjectSocket(project.id, "annotate", {
    "pairs:imported": (p) => {
      if (p.kind === "pairs" && p.imported > 0) {
        setNewPairs(true);
        void refreshStats();
      }
    },
    "progress:updated": (p) => setStats((s) => ({ ...s, remaining: p.counts.pairs.total - p.counts.pairs.complete })),
  });

  // --- selection helpers
  const choose = useCallback(
    (choice: Choice) => {
      if (choice === "tie" && !scheme.allowTie) return;
      if (choice === "both_bad" && !scheme.allowBothBad) return;
      setHint(null);
      setSel((s) => ({ ...s, choice, strength: choice === "left" || choice === "right" ? s.strength : null }));
    },
    [scheme],
  );
  const setStrength = useCallback(
    (value: number) => {
      if (scheme.strength === "off") return;
      setHint(null);
      setSel((s) => (s.choice === "left" || s.choice === "right" ? { ...s, strength: value } : s));
      if (selRef.current.choice !== "left" && selRef.current.choice !== "right") setHint("Pick A or B first; strength says how much better it is.");
    },
    [scheme.strength],
  );
  const setCriterion = useCallback(
    (name: string, side: Side) => {
      setHint(null);
      setSel((s) => ({ ...s, criteria: { ...s.criteria, [name]: side } }));
      const idx = scheme.criteria.indexOf(name);
      if (idx >= 0 && idx < scheme.criteria.length - 1) setActiveCriterion(idx + 1);
    },
    [scheme.criteria],
  );
  const toggleFlag = useCallback((f: Flag) => {
    setSel((s) => ({ ...s, flags: s.flags.includes(f) ? s.flags.filter((x) => x !== f) : [...s.flags, f] }));
  }, []);

  // --- rewrites
  /**
   * Opens the rewrite box on the side that may be rewritten (the one not chosen, by default),
   * prefilled with that response; pressed again where both sides are allowed, it moves to the other.
   */
  const openRewrite = useCallback(() => {
    const c = curRef.current;
    if (!c || !c.rewrites || c.rewrites === "off") return;
    const s = selRef.current;
    const allowed = rewritableSides(c.rewrites, s.choice);
    if (allowed.length === 0) {
      setHint("Pick which response is better first; then you can rewrite the other one.");
      return;
    }
    const preferred: RewriteSide = s.choice === "left" ? "right" : "left";
    const other = (x: RewriteSide): RewriteSide => (x === "left" ? "right" : "left");
    const side = allowed.length === 1 ? allowed[0]! : rewriting ? other(rewriting) : preferred;
    setHint(null);
    setSel((cur) => (cur.rewrites[side] !== undefined ? cur : { ...cur, rewrites: { ...cur.rewrites, [side]: contentText(c[side]) } }));
    setRewriting(side);
    setFocusRewrite((n) => n + 1);
  }, [rewriting]);
  const discardRewrite = useCallback((side: RewriteSide) => {
    setSel((s) => {
      const rewrites = { ...s.rewrites };
      delete rewrites[side];
      return { ...s, rewrites };
    });
    setRewriting(null);
  }, []);
  useEffect(() => {
    if (focusRewrite) rewriteRef.current?.focus();
  }, [focusRewrite]);

  // --- keyboard
  useEffect(() => {
    function onKey(e: KeyboardEvent) {
      if (e.defaultPrevented) return;
      if (overlay) {
        if (overlay === "help" && (e.key === "?" || e.key === "Escape")) {
          e.preventDefault();
          setOverlay(null);
        }
        if (overlay === "guidelines" && (e.key === "g" || e.key === "G" || e.key === "Escape")) {
          e.preventDefault();
          setOverlay(null);
        }
        return;
      }
      if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "z" && !isTyping(e.target)) {
        e.preventDefault();
        void doUndo();
        return;
      }
      if (isTyping(e.target)) {
        if (e.key === "Escape") {
          e.preventDefault();
          (e.target as HTMLElement).blur();
        } else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          submit();
        }
        return;
      }
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "?") {
        e.preventDefault();
        setOverlay("help");
        return;
      }
      if (e.key === "g" || e.key === "G") {
        e.preventDefault();
        setOverlay("guidelines");
        return;
      }
      if (phase === "done") {
        if (e.key === "Enter" && newPairs) {
          e.preventDefault();
          void loadNewPairs();
        }
        return;
      }
      if (phase !== "ready") return;
      const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
      const target = e.target as HTMLElement | null;
      // Shift+R rewrites; a plain R stays "significantly better".
      if (k === "r" && e.shiftKey && curRef.current?.rewrites && curRef.current.rewrites !== "off") {
        e.preventDefault();
        openRewrite();
        return;
      }
      switch (k) {
        case "1":
        case "ArrowLeft":
          e.preventDefault();
          choose("left");
          return;
        case "2":
        case "ArrowRight":
          e.preventDefault();
          choose("right");
          return;
        case "t":
          if (!scheme.allowTie) return;
          e.preventDefault();
          choose("tie");
          return;
        case "b":
          if (!scheme.allowBothBad) return;
          e.preventDefault();
          choose("both_bad");
          return;
        case "s":
          e.preventDefault();
          setOverlay("skip");
          return;
        case "n":
          if (scheme.rationale.mode === "off") return;
          e.preventDefault();
          rationaleRef.current?.focus();
          return;
        case "Enter": {
          // Enter on a focused link or non-choice button keeps its native meaning.
          const native = target?.closest("a, summary, button:not([data-choice])");
          if (native) return;
          e.preventDefault();
          submit();
          return;
        }
      }
      const st = STRENGTHS.find((s) => s.key === k);
      if (st && scheme.strength !== "off") {
        e.preventDefault();
        setStrength(st.value);
        return;
      }
      const fl = FLAGS.find((f) => f.key === k);
      if (fl && scheme.flags.includes(fl.value)) {
        e.preventDefault();
        toggleFlag(fl.value);
        return;
      }
      if (scheme.criteria.length) {
        const name = scheme.criteria[activeCriterion];
        if (k === "ArrowUp" || k === "ArrowDown") {
          e.preventDefault();
          setActiveCriterion((i) => Math.max(0, Math.min(scheme.criteria.length - 1, i + (k === "ArrowDown" ? 1 : -1))));
          return;
        }
        const side: Side | null = k === "z" ? "left" : k === "x" ? "tie" : k === "c" ? "right" : null;
        if (side && name) {
          e.preventDefault();
          setCriterion(name, side);
        }
      }
    }
    window.addEventListener("keydown", onKey);
    setKeysReady(true);
    return () => window.removeEventListener("keydown", onKey);
  }, [overlay, phase, scheme, activeCriterion, newPairs, choose, setStrength, toggleFlag, setCriterion, submit, doUndo, loadNewPairs, openRewrite]);

  // --- derived view
  const summary = describeSelection(sel, scheme);
  const decisive = sel.choice === "left" || sel.choice === "right";
  const markFor = (side: "left" | "right"): PanelMark =>
    sel.choice === side ? "chosen" : sel.choice === "tie" ? "tie" : sel.choice === "both_bad" ? "both_bad" : null;
  let lengthHints: { left: string | null; right: string | null } = { left: null, right: null };
  if (cur && scheme.showLengthHint) {
    const l = wordCount(contentText(cur.left));
    const r = wordCount(contentText(cur.right));
    if (l !== r) lengthHints = l > r ? { left: `longer by ${l - r} words`, right: null } : { left: null, right: `longer by ${r - l} words` };
  }
  const undoLeft = undo && toast?.kind === "undo" ? new Date(undo.view.expires_at).getTime() - now : 0;
  const rewriteMode: RewriteMode = cur?.rewrites ?? "off";
  const originals = cur ? { left: contentText(cur.left), right: contentText(cur.right) } : { left: "", right: "" };
  const allowedRewrites = rewritableSides(rewriteMode, sel.choice);
  const sending = cur ? rewritesToSend(sel, rewriteMode, originals) : [];
  const submitLabel = summary ? `${summary}${sending.length ? " + rewrite" : ""}` : null;
  const panelFor = (side: RewriteSide) => {
    const draft = sel.rewrites[side];
    const changed = draft !== undefined && draft.trim() !== "" && draft.trim() !== originals[side].trim();
    const blocked = draft !== undefined && !allowedRewrites.includes(side);
    return {
      rewritten: changed && !blocked,
      editor:
        rewriting === side && draft !== undefined ? (
          <RewriteBox
            side={side}
            value={draft}
            onChange={(text) => setSel((s) => ({ ...s, rewrites: { ...s.rewrites, [side]: text } }))}
            onDiscard={() => discardRewrite(side)}
            textareaRef={rewriteRef}
            note={
              blocked
                ? "Not sent: in this project only the response you did not choose may be rewritten."
                : draft.trim() === ""
                  ? "Empty: nothing will be sent."
                  : null
            }
          />
        ) : undefined,
    };
  };
  const leaseLow = leaseLeft < 60_000;

  const headerFigures = (
    <div className="flex items-center gap-3 text-sm tabular-nums max-sm:gap-2 max-sm:text-xs">
      <span>
        <strong data-testid="stat-today">{formatCount(stats.today)}</strong> <span className="text-muted">today</span>
      </span>
      <span aria-hidden className="text-muted">
        ·
      </span>
      <span>
        <strong data-testid="stat-left">{formatCount(stats.remaining)}</strong> <span className="text-muted">left</span>
      </span>
      {cur && phase !== "done" ? (
        <>
          <span aria-hidden className="text-muted">
            ·
          </span>
          <span
            data-testid="lease"
            className={leaseLow ? "font-semibold text-bad" : ""}
            title="Time left to judge this pair before it goes back to the pool"
            aria-label={`Time left on this pair: ${formatCountdown(leaseLeft)}`}
          >
            <svg aria-hidden viewBox="0 0 16 16" className="mr-1 inline size-3.5 -translate-y-px" fill="none" stroke="currentColor" strokeWidth="1.6">
              <circle cx="8" cy="9" r="5.5" />
              <path d="M8 6v3l2 1.5M6 1.5h4" strokeLinecap="round" />
            </svg>
            {formatCountdown(leaseLeft)}
          </span>
        </>
      ) : null}
      <button type="button" onClick={() => setOverlay("help")} className="grid size-7 place-items-center rounded-md border border-line font-semibold hover:bg-sunken" aria-label="Keyboard shortcuts" data-testid="help-button">
        ?
      </button>
    </div>
  );

  return (
    <div className="flex min-h-screen flex-col wide:h-screen">
      <AppHeader user={data.user} project={{ id: project.id, name: project.name }}>
        {headerFigures}
      </AppHeader>

      {toast ? (
        <div className="pointer-events-none fixed inset-x-0 top-14 z-40 flex justify-center px-4">
          <div
            role={toast.kind === "error" ? "alert" : "status"}
            data-testid="toast"
            className={`pointer-events-auto flex items-center gap-3 rounded-lg border px-4 py-2 text-sm shadow-lg ${toast.kind === "error" ? "border-bad bg-bad-soft text-bad" : "border-line bg-surface"}`}
          >
            <span>{toast.text}</span>
            {toast.extra ? (
              <span className="border-l border-line pl-3 text-muted" data-testid="assist-after">
                {toast.extra}
              </span>
            ) : null}
            {toast.kind === "undo" && undo && undoLeft > 0 ? (
              <button type="button" onClick={() => void doUndo()} className="rounded-md border border-line px-2 py-0.5 font-medium text-accent hover:bg-sunken" data-testid="undo">
                Undo <kbd>Ctrl Z</kbd>
              </button>
            ) : null}
            <button type="button" aria-label="Dismiss" onClick={() => setToast(null)} className="text-muted hover:text-ink">
              ×
            </button>
          </div>
        </div>
      ) : null}

      <main className="mx-auto flex w-full max-w-[1600px] flex-1 flex-col gap-3 px-4 py-3 wide:min-h-0">
        {phase === "done" ? (
          <div className="m-auto max-w-md py-16 text-center" data-testid="all-done">
            <div aria-hidden className="mb-3 text-4xl">
              ✓
            </div>
            <h1 className="text-xl font-semibold">All done — nothing left for you</h1>
            <p className="mt-2 text-muted">Thank you! You've judged every pair available to you. We'll let you know here when new pairs arrive.</p>
            {newPairs ? (
              <button type="button" onClick={() => void loadNewPairs()} className="mt-6 rounded-md bg-accent px-4 py-2 font-medium text-accent-ink" data-testid="new-pairs">
                New pairs available — start <kbd>Enter</kbd>
              </button>
            ) : (
              <p className="mt-6 text-sm text-muted">Waiting for new pairs…</p>
            )}
            <div className="mt-6 flex justify-center gap-4 text-sm">
              <Link to="/projects" className="text-accent underline">
                Your projects
              </Link>
              {data.isStaff ? (
                <Link to={`/projects/${project.id}`} className="text-accent underline">
                  Project overview
                </Link>
              ) : null}
            </div>
          </div>
        ) : cur ? (
          <>
            {correcting ? (
              <div className="rounded-md border border-accent bg-accent-soft px-3 py-1.5 text-sm" role="status" data-testid="correcting">
                You're changing your answer to the previous pair. Submitting replaces it.
              </div>
            ) : null}
            <section aria-label="Prompt" className="flex flex-col gap-1">
              <div className="flex items-center justify-between">
                <h2 className="text-xs font-semibold uppercase tracking-wide text-muted">Prompt</h2>
                <button type="button" onClick={() => setOverlay("guidelines")} className="rounded-md px-2 py-1 text-sm text-accent hover:bg-sunken" data-testid="guidelines-button">
                  Guidelines <kbd>G</kbd> ▸
                </button>
              </div>
              <div data-scroll-reset data-testid="prompt" className="max-h-[28vh] overflow-auto rounded-lg border border-line bg-surface px-4 py-3 wide:max-h-[22vh]">
                <ChatContent content={cur.prompt} />
              </div>
            </section>

            <div
              className={`grid grid-cols-1 gap-3 wide:min-h-0 wide:flex-1 wide:grid-cols-2 ${phase === "loading" ? "opacity-50" : ""}`}
              data-testid="panels"
              data-assignment={cur.assignment_id}
              data-keys={keysReady ? "ready" : undefined}
              aria-busy={phase === "loading"}
            >
              <ResponsePanel key={`l-${cur.assignment_id}`} side="left" content={cur.left} mark={markFor("left")} lengthHint={lengthHints.left} {...panelFor("left")} />
              <ResponsePanel key={`r-${cur.assignment_id}`} side="right" content={cur.right} mark={markFor("right")} lengthHint={lengthHints.right} {...panelFor("right")} />
            </div>

            <section
              aria-label="Your judgment"
              data-testid="controls"
              className="sticky bottom-0 z-20 -mx-4 flex flex-col gap-2 border-t border-line bg-bg/95 px-4 py-3 backdrop-blur wide:static wide:mx-0 wide:rounded-lg wide:border wide:bg-surface"
            >
              {cur.assist ? (
                <p className="self-start rounded-full border border-line bg-sunken px-3 py-0.5 text-sm text-muted" data-testid="assist-chip" title="An AI's pick for this pair, with how sure it is. It can be wrong: judge for yourself.">
                  AI suggests: <span className="font-medium text-ink">{assistText(cur.assist)}</span>
                </p>
              ) : null}
              <div className="grid grid-cols-2 gap-2 sm:flex sm:flex-wrap sm:items-center">
                <ChoiceButton k="1" label="A is better" active={sel.choice === "left"} onClick={() => choose("left")} testId="choice-left" />
                {scheme.allowTie ? <ChoiceButton k="T" label="Tie" active={sel.choice === "tie"} onClick={() => choose("tie")} testId="choice-tie" /> : null}
                {scheme.allowBothBad ? (
                  <ChoiceButton k="B" label="Both bad" active={sel.choice === "both_bad"} onClick={() => choose("both_bad")} testId="choice-both_bad" danger />
                ) : null}
                <ChoiceButton k="2" label="B is better" active={sel.choice === "right"} onClick={() => choose("right")} testId="choice-right" />
              </div>
              {scheme.strength !== "off" ? (
                <div className={`flex flex-wrap items-center gap-2 ${decisive ? "" : "opacity-50"}`} role="group" aria-label="How much better">
                  <span className="w-24 text-sm text-muted max-sm:w-full">How much?</span>
                  {STRENGTHS.map((s) => (
                    <ChoiceButton
                      key={s.value}
                      k={s.key.toUpperCase()}
                      label={s.label === "better" ? "better" : s.label.replace(" better", "")}
                      active={decisive && sel.strength === s.value}
                      onClick={() => setStrength(s.value)}
                      testId={`strength-${s.value}`}
                      small
                      disabled={!decisive}
                    />
                  ))}
                </div>
              ) : null}
              {scheme.criteria.length ? (
                <div className="flex flex-wrap gap-x-5 gap-y-2" data-testid="criteria">
                  {scheme.criteria.map((c, i) => (
                    <div
                      key={c}
                      role="radiogroup"
                      aria-label={humanizeCriterion(c)}
                      className={`flex items-center gap-1 rounded-md px-1 py-0.5 ${i === activeCriterion ? "bg-accent-soft" : ""}`}
                      onFocus={() => setActiveCriterion(i)}
                    >
                      <span className="mr-1 text-sm">{humanizeCriterion(c)}</span>
                      {(["left", "tie", "right"] as const).map((side) => (
                        <button
                          key={side}
                          type="button"
                          role="radio"
                          aria-checked={sel.criteria[c] === side}
                          data-choice
                          data-testid={`criterion-${c}-${side}`}
                          onClick={() => {
                            setActiveCriterion(i);
                            setCriterion(c, side);
                          }}
                          className={`min-w-8 rounded border px-2 py-0.5 text-sm font-medium ${sel.criteria[c] === side ? "border-accent bg-accent text-accent-ink" : "border-line bg-surface hover:bg-sunken"}`}
                        >
                          {side === "left" ? "A" : side === "right" ? "B" : "Tie"}
                        </button>
                      ))}
                    </div>
                  ))}
                  <span className="self-center text-xs text-muted max-wide:hidden">
                    <kbd>Z</kbd> <kbd>X</kbd> <kbd>C</kbd> for the highlighted one, <kbd>↑</kbd> <kbd>↓</kbd> to move
                  </span>
                </div>
              ) : null}
              <div className="flex flex-col gap-2 wide:flex-row wide:items-end">
                {scheme.rationale.mode !== "off" ? (
                  <div className="flex min-w-0 flex-1 flex-col gap-1">
                    <label htmlFor="rationale" className="text-sm text-muted">
                      Rationale {scheme.rationale.mode === "required" ? "(required)" : "(optional)"} <kbd>N</kbd> · <kbd>Esc</kbd> leaves
                    </label>
                    <textarea
                      id="rationale"
                      ref={rationaleRef}
                      rows={2}
                      value={sel.rationale}
                      onChange={(e) => setSel((s) => ({ ...s, rationale: e.target.value }))}
                      data-testid="rationale"
                      className="w-full resize-y rounded-md border border-line bg-surface px-3 py-1.5 text-sm"
                      placeholder="Why is one better? (Ctrl+Enter submits)"
                    />
                  </div>
                ) : (
                  <div className="flex-1" />
                )}
                {scheme.flags.length ? (
                  <div className="flex flex-wrap items-center gap-2" role="group" aria-label="Flags">
                    <span className="text-sm text-muted">Flags</span>
                    {FLAGS.filter((f) => scheme.flags.includes(f.value)).map((f) => {
                      const on = sel.flags.includes(f.value);
                      return (
                        <button
                          key={f.value}
                          type="button"
                          aria-pressed={on}
                          data-choice
                          data-testid={`flag-${f.value}`}
                          onClick={() => toggleFlag(f.value)}
                          className={`rounded-full border px-2.5 py-0.5 text-sm ${on ? "border-bad bg-bad-soft font-medium text-bad" : "border-line bg-surface hover:bg-sunken"}`}
                        >
                          {on ? "⚑ " : ""}
                          {f.label} <kbd>{f.key.toUpperCase()}</kbd>
                        </button>
                      );
                    })}
                  </div>
                ) : null}
                <div className="flex items-center gap-2 wide:ml-3">
                  {rewriteMode !== "off" ? (
                    <button
                      type="button"
                      onClick={openRewrite}
                      aria-disabled={allowedRewrites.length === 0 || undefined}
                      title={rewriteMode === "worse" ? "Rewrite the response you did not choose" : "Rewrite a response (again for the other one)"}
                      className={`rounded-md border border-line bg-surface px-3 py-2 text-sm hover:bg-sunken ${allowedRewrites.length ? "" : "text-muted"}`}
                      data-testid="rewrite"
                    >
                      Rewrite <kbd>⇧R</kbd>
                    </button>
                  ) : null}
                  <button type="button" onClick={() => setOverlay("skip")} className="rounded-md border border-line bg-surface px-3 py-2 text-sm hover:bg-sunken" data-testid="skip">
                    Skip <kbd>S</kbd>
                  </button>
                  <button
                    type="button"
                    data-choice
                    onClick={submit}
                    aria-disabled={!summary}
                    data-testid="submit"
                    className={`min-w-[14rem] flex-1 rounded-md border px-4 py-2 text-sm font-semibold ${summary ? "border-accent bg-accent text-accent-ink hover:opacity-90" : "border-line bg-sunken text-muted"}`}
                  >
                    {submitLabel ? `Submit: ${submitLabel}` : "Choose A or B first"} <kbd>Enter</kbd>
                  </button>
                </div>
              </div>
              {hint ? (
                <p className="text-sm text-bad" role="alert" data-testid="hint">
                  {hint}
                </p>
              ) : null}
            </section>
          </>
        ) : (
          <p className="m-auto text-muted">Loading the next pair…</p>
        )}
      </main>

      {overlay === "help" ? <KeyboardMap scheme={scheme} rewrites={rewriteMode} onClose={() => setOverlay(null)} /> : null}
      {overlay === "guidelines" ? (
        <Overlay title="Guidelines" side onClose={() => setOverlay(null)} testId="guidelines-drawer">
          {project.guidelines.trim() ? <Markdown text={project.guidelines} /> : <p className="text-muted">This project has no written guidelines yet.</p>}
        </Overlay>
      ) : null}
      {overlay === "skip" ? <SkipDialog onCancel={() => setOverlay(null)} onSkip={(r) => void skip(r)} /> : null}
    </div>
  );
}

function ChoiceButton({
  k,
  label,
  active,
  onClick,
  testId,
  small = false,
  danger = false,
  disabled = false,
}: {
  k: string;
  label: string;
  active: boolean;
  onClick: () => void;
  testId: string;
  small?: boolean;
  danger?: boolean;
  disabled?: boolean;
}) {
  const on = danger ? "border-bad bg-bad text-white dark:text-black" : "border-accent bg-accent text-accent-ink";
  return (
    <button
      type="button"
      data-choice
      aria-pressed={active}
      aria-disabled={disabled || undefined}
      onClick={onClick}
      data-testid={testId}
      className={`inline-flex items-center justify-center gap-2 rounded-md border font-medium transition-colors ${small ? "px-2.5 py-1 text-sm" : "px-4 py-2"} ${active ? on : "border-line bg-surface hover:bg-sunken"}`}
    >
      <kbd>{k}</kbd>
      {label}
      {active ? <span aria-hidden>✓</span> : null}
    </button>
  );
}

function SkipDialog({ onCancel, onSkip }: { onCancel: () => void; onSkip: (reason: string) => void }) {
  const [other, setOther] = useState("");
  return (
    <Overlay title="Skip this pair?" onClose={onCancel} testId="skip-dialog">
      <div
        onKeyDown={(e) => {
          if (isTyping(e.target)) return;
          const r = SKIP_REASONS.find((x) => x.key === e.key);
          if (r) {
            e.preventDefault();
            e.stopPropagation();
            onSkip(r.reason);
          }
        }}
      >
        <p className="mb-3 text-sm text-muted">Pick a reason (press its number). The pair goes back to the pool for someone else.</p>
        <ul className="flex flex-col gap-2">
          {SKIP_REASONS.map((r) => (
            <li key={r.key}>
              <button type="button" onClick={() => onSkip(r.reason)} className="flex w-full items-center gap-3 rounded-md border border-line px-3 py-2 text-left hover:bg-sunken" data-testid={`skip-reason-${r.key}`}>
                <kbd>{r.key}</kbd>
                {r.reason}
              </button>
            </li>
          ))}
        </ul>
        <form
          className="mt-4 flex gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            if (other.trim()) onSkip(other);
          }}
        >
          <label htmlFor="skip-other" className="sr-only">
            Other reason
          </label>
          <input
            id="skip-other"
            value={other}
            onChange={(e) => setOther(e.target.value)}
            placeholder="Other reason…"
            maxLength={500}
            className="min-w-0 flex-1 rounded-md border border-line bg-surface px-3 py-1.5 text-sm"
          />
          <button type="submit" className="rounded-md border border-accent bg-accent px-3 py-1.5 text-sm font-medium text-accent-ink disabled:opacity-50" disabled={!other.trim()}>
            Skip
          </button>
        </form>
      </div>
    </Overlay>
  );
}

function KeyboardMap({ scheme, rewrites, onClose }: { scheme: SchemeView; rewrites: RewriteMode; onClose: () => void }) {
  const rows: [string, string][] = [
    ["1  or  ←", "A is better"],
    ["2  or  →", "B is better"],
  ];
  if (scheme.allowTie) rows.push(["T", "Tie"]);
  if (scheme.allowBothBad) rows.push(["B", "Both bad"]);
  if (scheme.strength !== "off") for (const s of STRENGTHS) rows.push([s.key.toUpperCase(), `…${s.label}`]);
  if (scheme.criteria.length) {
    rows.push(["Z  X  C", "Criterion: A / tie / B (highlighted criterion)"]);
    rows.push(["↑  ↓", "Move between criteria"]);
  }
  for (const f of FLAGS) if (scheme.flags.includes(f.value)) rows.push([f.key.toUpperCase(), `Flag: ${f.label.toLowerCase()}`]);
  if (scheme.rationale.mode !== "off") rows.push(["N", "Write a rationale (Esc leaves the box, Ctrl+Enter submits)"]);
  if (rewrites !== "off")
    rows.push(["Shift R", rewrites === "worse" ? "Rewrite the response you did not choose (Esc leaves the box)" : "Rewrite a response; again for the other one (Esc leaves the box)"]);
  rows.push(["Enter", "Submit"], ["S", "Skip (then 1–4 picks a reason)"], ["Ctrl Z", "Undo the last submit"], ["G", "Guidelines"], ["?", "This keyboard map"], ["Esc", "Close a dialog"]);
  return (
    <Overlay title="Keyboard shortcuts" onClose={onClose} testId="help-overlay">
      <table className="w-full text-sm">
        <tbody>
          {rows.map(([k, d]) => (
            <tr key={k + d} className="border-b border-line last:border-0">
              <td className="w-32 py-1.5 pr-4">
                {k.split(/\s{2}/).map((part, i) => (
                  <span key={i}>
                    {i > 0 ? <span className="text-muted"> </span> : null}
                    {part === "or" ? <span className="text-muted">or</span> : part.split(" ").map((p) => <kbd key={p} className="mr-1">{p}</kbd>)}
                  </span>
                ))}
              </td>
              <td className="py-1.5">{d}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Overlay>
  );
}
