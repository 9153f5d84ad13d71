/** Error codes the server uses (server/domain/shared/errors.ts), mapped to words people use. */
export type ApiErrorBody = {
  code: string;
  message: string;
  fields?: { path: string; message: string }[];
  lines?: { line: number; message: string }[];
};

const friendly: Record<string, string> = {
  unauthenticated: "Your session has ended. Please sign in again.",
  forbidden: "You don't have access to this.",
  not_found: "We couldn't find that.",
  lease_expired: "This pair's time ran out; here is a fresh one.",
  lease_foreign: "This pair is being judged by someone else; here is a fresh one.",
  conflict: "Something changed meanwhile. Please try again.",
  payload_too_large: "That file is too large to upload.",
  unsupported_media_type: "That file type isn't supported. Use JSONL or CSV.",
  internal: "Something went wrong on our side. Please try again in a moment.",
  network: "We can't reach the server right now. Check your connection.",
};

/** A sentence for a person, never a status code. Validation messages from the server are already written for people. */
export function friendlyMessage(err: { code: string; message?: string } | null | undefined): string {
  if (!err) return friendly.internal!;
  if ((err.code === "validation_failed" || err.code === "import_invalid") && err.message) return err.message;
  if (err.code === "not_found" && err.message) return `${err.message}.`;
  if (err.code === "forbidden" && err.message) return err.message;
  return friendly[err.code] ?? err.message ?? friendly.internal!;
}

/** Duck-typed check for the server's DomainError (routes must not import server values). */
export function isDomainError(e: unknown): e is { code: string; message: string; details?: { fields?: { path: string; message: string }[] } } {
  return typeof e === "object" && e !== null && typeof (e as { code?: unknown }).code === "string" && typeof (e as { message?: unknown }).message === "string";
}

/** Turns field issues ("scheme.criteria.0: ...") into a map keyed by the first path segments a form uses. */
export function fieldErrors(fields: { path: string; message: string }[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields ?? []) {
    const parts = f.path.split(".");
    const key =
      parts[0] === "scheme" ? parts.slice(0, parts[1] === "rationale" ? 3 : 2).join(".") : parts[0] === "quality" ? parts.slice(0, 2).join(".") : (parts[0] ?? f.path);
    out[key] ??= f.message;
  }
  return out;
}
