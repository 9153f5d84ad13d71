import { type Ref } from "react";
import { REWRITE_MAX } from "../lib/judgment";

/**
 * The annotator's rewrite of one response, in that response's panel. Esc leaves the box (the
 * screen's key handler blurs text fields), so focus is never trapped; the draft stays until discarded.
 */
export function RewriteBox({
  side,
  value,
  onChange,
  onDiscard,
  textareaRef,
  note,
}: {
  side: "left" | "right";
  value: string;
  onChange: (text: string) => void;
  onDiscard: () => void;
  textareaRef?: Ref<HTMLTextAreaElement>;
  note?: string | null;
}) {
  const label = side === "left" ? "A" : "B";
  const id = `rewrite-${side}`;
  return (
    <div className="flex min-h-0 flex-1 flex-col gap-2 px-4 py-3 wide:px-5">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <label htmlFor={id} className="text-sm font-medium">
          Your rewrite of response {label}
        </label>
        <span className="text-xs text-muted">
          <kbd>Esc</kbd> leaves the box · <kbd>Ctrl Enter</kbd> submits
        </span>
      </div>
      <textarea
        id={id}
        ref={textareaRef}
        value={value}
        maxLength={REWRITE_MAX}
        onChange={(e) => onChange(e.target.value)}
        data-testid={id}
        className="min-h-48 w-full flex-1 resize-y rounded-md border border-line bg-surface px-3 py-2 text-base leading-relaxed"
        aria-describedby={note ? `${id}-note` : undefined}
      />
      <div className="flex flex-wrap items-center justify-between gap-2">
        {note ? (
          <p id={`${id}-note`} className="text-xs text-bad" role="status">
            {note}
          </p>
        ) : (
          <p className="text-xs text-muted">Write the response as it should have been. It is sent with your judgment and becomes an example to learn from.</p>
        )}
        <button type="button" onClick={onDiscard} className="rounded-md border border-line px-2 py-0.5 text-sm hover:bg-sunken" data-testid={`rewrite-discard-${side}`}>
          Discard rewrite
        </button>
      </div>
    </div>
  );
}
