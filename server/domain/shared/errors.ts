export type ErrorCode =
  | "validation_failed"
  | "import_invalid"
  | "unauthenticated"
  | "forbidden"
  | "not_found"
  | "lease_expired"
  | "lease_foreign"
  | "lease_lost"
  | "conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "internal";

export type FieldIssue = { path: string; message: string };
export type LineIssue = { line: number; message: string };

/** The one error type services throw; the API maps `code` to an HTTP status in one place. */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: { fields?: FieldIssue[]; lines?: LineIssue[]; [k: string]: unknown },
  ) {
    super(message);
  }
}

export const httpStatusFor: Record<ErrorCode, number> = {
  validation_failed: 400,
  import_invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  lease_expired: 409,
  lease_foreign: 409,
  lease_lost: 409,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
};

export function notFound(what: string): DomainError {
  return new DomainError("not_found", `${what} not found`);
}

export function forbidden(message = "You do not have access to this"): DomainError {
  return new DomainError("forbidden", message);
}

/** Turns a zod error into field-path issues ("criteria.helpfulness: Invalid enum value"). */
export function validationError(
  issues: { path: (string | number)[]; message: string }[],
  message = "Some fields are invalid",
): DomainError {
  const fields = issues.map((i) => ({ path: i.path.join(".") || "(body)", message: i.message }));
  const summary = fields.map((f) => `${f.path}: ${f.message}`).join("; ");
  return new DomainError("validation_failed", `${message}: ${summary}`, { fields });
}
