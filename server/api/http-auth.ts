import { type IncomingMessage } from "node:http";
import { type SessionUser } from "../domain/auth/auth-service.ts";
import { type Services } from "../services.ts";

export const SESSION_COOKIE = "pairwise_session";

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const idx = part.indexOf("=");
    if (idx < 0) continue;
    if (part.slice(0, idx).trim() === name) {
      try {
        return decodeURIComponent(part.slice(idx + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.floor(maxAgeSeconds)}${secure ? "; Secure" : ""}`;
}

export function clearSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure ? "; Secure" : ""}`;
}

/** A bearer token (scripts) or the session cookie (the browser app). */
export async function userFromRequest(services: Services, req: Pick<IncomingMessage, "headers">): Promise<SessionUser | null> {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    return m ? services.auth.userForToken(m[1]!) : null;
  }
  return services.auth.userForSession(readCookie(req.headers.cookie, SESSION_COOKIE));
}
