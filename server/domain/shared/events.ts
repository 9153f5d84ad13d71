import { type ProgressCounts } from "../annotation/progress.ts";

/**
 * What services announce after a write has committed. The realtime layer implements it with
 * socket.io; services never import socket.io themselves.
 */
export type DomainEvents = {
  judgmentCreated(e: { projectId: number; judgmentId: number; annotatorId: number; pairId: number; createdAt: number; timeOnTaskMs: number | null }): void;
  pairsImported(e: { projectId: number; imported: number; duplicates: number; kind: "pairs" | "prompts" }): void;
  progressChanged(projectId: number, counts?: ProgressCounts): void;
  membersChanged(projectId: number): void;
};

export const noEvents: DomainEvents = {
  judgmentCreated: () => {},
  pairsImported: () => {},
  progressChanged: () => {},
  membersChanged: () => {},
};
