/** Injected so tests can move time (lease expiry) without sleeping. */
export type Clock = { now(): number };
export const systemClock: Clock = { now: () => Date.now() };
