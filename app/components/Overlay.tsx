import { type ReactNode, useEffect, useRef } from "react";

/** A modal dialog or side drawer: focus moves in on open and returns on close; Esc closes. */
export function Overlay({
  title,
  onClose,
  children,
  side = false,
  testId,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  side?: boolean;
  testId?: string;
}) {
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    closeRef.current?.focus();
    return () => prev?.focus?.();
  }, []);
  return (
    <div className="fixed inset-0 z-50 flex" onKeyDown={(e) => e.key === "Escape" && (e.stopPropagation(), onClose())}>
      <button type="button" aria-label="Close" tabIndex={-1} className="absolute inset-0 cursor-default bg-black/40" onClick={onClose} />
      <div
        role="dialog"
        aria-modal="true"
        aria-label={title}
        data-testid={testId}
        className={
          side
            ? "relative ml-auto flex h-full w-full max-w-xl flex-col border-l border-line bg-surface shadow-xl"
            : "relative m-auto flex max-h-[90vh] w-full max-w-2xl flex-col rounded-lg border border-line bg-surface shadow-xl"
        }
      >
        <div className="flex items-center justify-between border-b border-line px-5 py-3">
          <h2 className="text-base font-semibold">{title}</h2>
          <button ref={closeRef} type="button" onClick={onClose} className="rounded px-2 py-1 text-sm text-muted hover:bg-sunken hover:text-ink">
            Close <kbd>Esc</kbd>
          </button>
        </div>
        <div className="min-h-0 flex-1 overflow-auto px-5 py-4">{children}</div>
      </div>
    </div>
  );
}
