import { type ProgressCounts } from "../annotation/progress.ts";
import { type JobView } from "../jobs/job-service.ts";

/**
 * What services announce after a write has committed. The realtime layer implements it with
 * socket.io; services never import socket.io themselves.
 */
export type DomainEvents = {
  judgmentCreated(e: { projectId: number; judgmentId: number; annotatorId: number; pairId: number; createdAt: number; timeOnTaskMs: number | null }): void;
  pairsImported(e: { projectId: number; imported: number; duplicates: number; kind: "pairs" | "prompts" }): void;
  progressChanged(projectId: number, counts?: ProgressCounts): void;
  membersChanged(projectId: number): void;
  jobUpdated(job: JobView): void;
  jobProgress(e: { projectId: number; jobId: number; progress: { step: number; total: number } | null; metrics: { step: number; values: Record<string, number> }[] }): void;
  /** A job reached a final state (or was re-queued); the round orchestrator listens. */
  jobFinished(jobId: number): void;
  workersChanged(): void;
  roundUpdated(projectId: number, roundId: number): void;
  /** Verdicts arrived or judges/settings changed: the AI–human agreement figures may move. */
  judgesUpdated(projectId: number): void;
};

export const noEvents: DomainEvents = {
  judgmentCreated: () => {},
  pairsImported: () => {},
  progressChanged: () => {},
  membersChanged: () => {},
  jobUpdated: () => {},
  jobProgress: () => {},
  jobFinished: () => {},
  workersChanged: () => {},
  roundUpdated: () => {},
  judgesUpdated: () => {},
};
