import { type ReactNode } from "react";
import { type Content } from "../lib/content";
import { ChatContent } from "./ChatContent";

export type PanelMark = "chosen" | "tie" | "both_bad" | null;

/** One response (A or B). Equal-size panels scroll inside so length alone does not sway the eye. */
/** `editor` (a rewrite box) takes the place of the response text while the annotator rewrites it. */
export function ResponsePanel({ side, content, mark, lengthHint, editor, rewritten = false }: { side: "left" | "right"; content: Content; mark: PanelMark; lengthHint?: string | null; editor?: ReactNode; rewritten?: boolean }) {
  const label = side === "left" ? "A" : "B";
  const border =
    mark === "chosen" ? "border-accent ring-2 ring-accent" : mark === "both_bad" ? "border-bad ring-1 ring-bad" : mark === "tie" ? "border-accent border-dashed" : "border-line";
  const badge = mark === "chosen" ? "Better" : mark === "tie" ? "Tie" : mark === "both_bad" ? "Bad" : null;
  return (
    <section
      aria-label={`Response ${label}`}
      data-testid={`panel-${side}`}
      data-mark={mark ?? ""}
      className={`flex min-h-0 flex-col rounded-lg border bg-surface ${border} transition-shadow`}
    >
      <div className="flex items-center justify-between gap-2 border-b border-line px-4 py-2">
        <span className="flex items-center gap-2">
          <span className="grid size-6 place-items-center rounded bg-sunken text-sm font-bold">{label}</span>
          {badge ? (
            <span className={`rounded-full px-2 py-0.5 text-xs font-semibold ${mark === "both_bad" ? "bg-bad-soft text-bad" : "bg-accent text-accent-ink"}`}>{badge}</span>
          ) : null}
          {rewritten ? (
            <span className="rounded-full border border-line px-2 py-0.5 text-xs font-medium text-muted" data-testid={`rewritten-${side}`}>
              Rewritten
            </span>
          ) : null}
        </span>
        {lengthHint ? <span className="text-xs text-muted">{lengthHint}</span> : null}
      </div>
      {editor ?? (
        <div className="min-h-0 flex-1 overflow-auto px-4 py-3 wide:px-5" data-testid={`response-${side}`} tabIndex={0} aria-label={`Response ${label} text`}>
          <ChatContent content={content} hideSingleRole />
        </div>
      )}
    </section>
  );
}
