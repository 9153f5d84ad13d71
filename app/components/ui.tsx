import { type ButtonHTMLAttributes, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes, useId } from "react";

type Variant = "primary" | "secondary" | "ghost" | "danger";

const variants: Record<Variant, string> = {
  primary: "bg-accent text-accent-ink border-accent hover:opacity-90",
  secondary: "bg-surface text-ink border-line hover:bg-sunken",
  ghost: "bg-transparent text-ink border-transparent hover:bg-sunken",
  danger: "bg-surface text-bad border-line hover:bg-bad-soft",
};

export function buttonClass(variant: Variant = "secondary", extra = ""): string {
  return `inline-flex items-center justify-center gap-2 rounded-md border px-3 py-1.5 text-sm font-medium transition-colors disabled:cursor-not-allowed disabled:opacity-50 ${variants[variant]} ${extra}`;
}

export function Button({ variant = "secondary", className = "", ...rest }: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant }) {
  return <button type="button" {...rest} className={buttonClass(variant, className)} />;
}

const inputClass =
  "w-full rounded-md border border-line bg-surface px-3 py-1.5 text-sm text-ink placeholder:text-muted aria-[invalid=true]:border-bad";

export function Field({ label, error, hint, children }: { label: string; error?: string; hint?: ReactNode; children: (id: string, describedBy: string | undefined) => ReactNode }) {
  const id = useId();
  const describedBy = error ? `${id}-err` : hint ? `${id}-hint` : undefined;
  return (
    <div className="flex flex-col gap-1">
      <label htmlFor={id} className="text-sm font-medium">
        {label}
      </label>
      {children(id, describedBy)}
      {error ? (
        <p id={`${id}-err`} className="text-sm text-bad">
          {error}
        </p>
      ) : hint ? (
        <p id={`${id}-hint`} className="text-xs text-muted">
          {hint}
        </p>
      ) : null}
    </div>
  );
}

export function TextInput({ label, error, hint, ...rest }: InputHTMLAttributes<HTMLInputElement> & { label: string; error?: string; hint?: ReactNode }) {
  return (
    <Field label={label} error={error} hint={hint}>
      {(id, d) => <input id={id} aria-describedby={d} aria-invalid={error ? true : undefined} {...rest} className={inputClass} />}
    </Field>
  );
}

export function TextArea({ label, error, hint, ...rest }: TextareaHTMLAttributes<HTMLTextAreaElement> & { label: string; error?: string; hint?: ReactNode }) {
  return (
    <Field label={label} error={error} hint={hint}>
      {(id, d) => <textarea id={id} aria-describedby={d} aria-invalid={error ? true : undefined} {...rest} className={`${inputClass} font-mono`} />}
    </Field>
  );
}

export function Select({ label, error, hint, children, ...rest }: SelectHTMLAttributes<HTMLSelectElement> & { label: string; error?: string; hint?: ReactNode }) {
  return (
    <Field label={label} error={error} hint={hint}>
      {(id, d) => (
        <select id={id} aria-describedby={d} aria-invalid={error ? true : undefined} {...rest} className={inputClass}>
          {children}
        </select>
      )}
    </Field>
  );
}

export function Checkbox({ label, ...rest }: InputHTMLAttributes<HTMLInputElement> & { label: ReactNode }) {
  return (
    <label className="inline-flex items-center gap-2 text-sm">
      <input type="checkbox" {...rest} className="size-4 accent-[var(--pw-accent)]" />
      {label}
    </label>
  );
}

export function Card({ title, children, className = "", actions }: { title?: ReactNode; children: ReactNode; className?: string; actions?: ReactNode }) {
  return (
    <section className={`rounded-lg border border-line bg-surface p-4 ${className}`}>
      {title || actions ? (
        <div className="mb-3 flex items-center justify-between gap-3">
          {title ? <h2 className="text-base font-semibold">{title}</h2> : <span />}
          {actions}
        </div>
      ) : null}
      {children}
    </section>
  );
}

export function Alert({ kind = "error", children }: { kind?: "error" | "info" | "success"; children: ReactNode }) {
  const cls =
    kind === "error" ? "border-bad text-bad bg-bad-soft" : kind === "success" ? "border-good text-good bg-surface" : "border-line text-ink bg-accent-soft";
  return (
    <div role={kind === "error" ? "alert" : "status"} className={`rounded-md border px-3 py-2 text-sm ${cls}`}>
      {children}
    </div>
  );
}

export function PageTitle({ children, sub }: { children: ReactNode; sub?: ReactNode }) {
  return (
    <div className="mb-5">
      <h1 className="text-xl font-semibold">{children}</h1>
      {sub ? <p className="mt-1 text-sm text-muted">{sub}</p> : null}
    </div>
  );
}

/** A project page's heading with its live-connection state (researcher pages update over socket.io). */
export function LiveHeader({ title, state }: { title: ReactNode; state: "connecting" | "live" | "offline" }) {
  return (
    <div className="mb-4 flex items-baseline justify-between gap-3">
      <h1 className="text-xl font-semibold">{title}</h1>
      <span className="flex items-center gap-2 text-xs text-muted" data-testid="live-state">
        <span aria-hidden className={`inline-block size-2 rounded-full ${state === "live" ? "bg-good" : "bg-line"}`} />
        {state === "live" ? "Live" : state === "connecting" ? "Connecting…" : "Reconnecting…"}
      </span>
    </div>
  );
}
