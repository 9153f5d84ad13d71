import { type ApiErrorBody } from "./errors";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.message);
  }
  get code(): string {
    return this.body.code;
  }
}

export type ApiResult<T> = { ok: true; status: number; data: T | null } | { ok: false; error: ApiError };

/** fetch against /api/v1 with the session cookie. Network failures become code "network". */
export async function api<T>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<ApiResult<T>> {
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, {
      method: init.method ?? "GET",
      credentials: "same-origin",
      headers: init.body === undefined ? { Accept: "application/json" } : { Accept: "application/json", "Content-Type": "application/json" },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: init.signal,
    });
  } catch (e) {
    if ((e as Error)?.name === "AbortError") throw e;
    return { ok: false, error: new ApiError(0, { code: "network", message: "Network error" }) };
  }
  if (res.status === 204) return { ok: true, status: 204, data: null };
  let json: unknown = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  if (!res.ok) {
    const body = (json as { error?: ApiErrorBody } | null)?.error ?? { code: res.status >= 500 ? "internal" : "network", message: res.statusText };
    return { ok: false, error: new ApiError(res.status, body) };
  }
  return { ok: true, status: res.status, data: json as T };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Retries only when the request may not have arrived (network errors, 5xx); the caller passes an
 * idempotency key in the body so a retry of a request that did arrive is harmless.
 */
export async function apiWithRetry<T>(path: string, init: { method?: string; body?: unknown }, attempts = 5): Promise<ApiResult<T>> {
  let last: ApiResult<T> | null = null;
  for (let i = 0; i < attempts; i++) {
    last = await api<T>(path, init);
    if (last.ok) return last;
    const code = last.error.code;
    if (code !== "network" && code !== "internal" && last.error.status !== 502 && last.error.status !== 503) return last;
    await sleep(Math.min(4000, 300 * 2 ** i));
  }
  return last!;
}

/** crypto.randomUUID needs a secure context; fall back to getRandomValues on plain-http LAN installs. */
export function newIdempotencyKey(): string {
  if (typeof crypto !== "undefined" && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
