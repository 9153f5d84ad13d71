import { type SessionUser } from "./domain/auth/auth-service.ts";
import { type Services } from "./services.ts";

/** What every Remix loader and action receives as `context` (built in server/app.ts). */
export type PairwiseLoadContext = {
  services: Services;
  user: SessionUser | null;
  cookies: { session(token: string, maxAgeSeconds: number): string; clear(): string };
};

declare module "@remix-run/node" {
  interface AppLoadContext extends PairwiseLoadContext {}
}
