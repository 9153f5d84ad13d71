import { z } from "zod";

/** Socket events, declared once and shared with the browser (`entity:verb`). */

export const joinPayloadSchema = z.object({
  projectId: z.number().int().positive(),
  mode: z.enum(["annotate", "watch"]),
});
export const leavePayloadSchema = z.object({ projectId: z.number().int().positive() });

export type JoinPayload = z.infer<typeof joinPayloadSchema>;
export type LeavePayload = z.infer<typeof leavePayloadSchema>;

export type Ack<T> = { data: T } | { error: { code: string; message: string } };

export type ProgressPayload = {
  projectId: number;
  counts: {
    pairs: { total: number; complete: number; partial: number; untouched: number; inProgress: number };
    judgments: { total: number; today: number; lastHour: number };
    target: number;
  };
};

export type AnnotatorRow = {
  id: number;
  email: string;
  name: string;
  judgments: number;
  today: number;
  skips: number;
  median_ms: number | null;
  last_at: number | null;
};

export type PresenceEntry = { userId: number; name: string; mode: "annotate" | "watch"; since: number };

export type JobPayload = {
  id: number;
  project_id: number;
  round_id: number | null;
  kind: string;
  status: string;
  progress: { step: number; total: number };
  attempts: number;
  worker_name: string | null;
  error: string | null;
  result: Record<string, unknown> | null;
};

export interface ServerToClientEvents {
  "job:updated": (p: { projectId: number; job: JobPayload }) => void;
  "job:progress": (p: { projectId: number; jobId: number; progress: { step: number; total: number } | null; metrics: { step: number; values: Record<string, number> }[] }) => void;
  "workers:updated": (p: { at: number }) => void;
  "round:updated": (p: { projectId: number; roundId: number }) => void;
  "progress:updated": (p: ProgressPayload) => void;
  "judgment:created": (p: { projectId: number; judgmentId: number; annotatorId: number; createdAt: number }) => void;
  "annotators:updated": (p: { projectId: number; annotators: AnnotatorRow[] }) => void;
  "pairs:imported": (p: { projectId: number; imported: number; kind: "pairs" | "prompts" }) => void;
  "presence:updated": (p: { projectId: number; online: PresenceEntry[] }) => void;
  /** Verdicts arrived or human labels moved the AI–human agreement figures (staff room, ≤ 1/s). */
  "judges:updated": (p: { projectId: number }) => void;
}

export interface ClientToServerEvents {
  "project:join": (p: JoinPayload, ack: (r: Ack<{ role: string }>) => void) => void;
  "project:leave": (p: LeavePayload) => void;
}

export const rooms = {
  /** Every researcher and admin connection (worker status is global). */
  allStaff: "staff",
  everyone: (projectId: number) => `project:${projectId}`,
  staff: (projectId: number) => `project:${projectId}:staff`,
};
