import { type AppLoadContext, redirect } from "@remix-run/node";
import { type SessionUser } from "../../server/domain/auth/auth-service";

/** Same name as server/api/http-auth.ts (routes may not import server values). */
export const SESSION_COOKIE = "pairwise_session";

export function requireUser(context: AppLoadContext, request: Request): SessionUser {
  if (context.user) return context.user;
  const url = new URL(request.url);
  const next = url.pathname + url.search;
  throw redirect(next === "/" ? "/login" : `/login?next=${encodeURIComponent(next)}`);
}

export function sessionTokenFrom(request: Request): string | undefined {
  const header = request.headers.get("cookie");
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === SESSION_COOKIE) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

export function parseId(raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Response("Not found", { status: 404 });
  return n;
}

/** Runs a service call; DomainError not_found/forbidden become 404/403 responses for the ErrorBoundary. */
export async function orRespond<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    const code = (e as { code?: string })?.code;
    const message = (e as { message?: string })?.message ?? "";
    if (code === "not_found") throw new Response(message || "Not found", { status: 404 });
    if (code === "forbidden") throw new Response(message || "Forbidden", { status: 403 });
    throw e;
  }
}
