import { sha256 } from "../shared/hash.ts";

/**
 * The columns of a judgment nobody typed: an AI judge's label, or a rewriter's known preference
 * for their rewrite. Shown as A on the left; no strength, criteria, rationale, flags or timing.
 */
export function recordedJudgment(r: {
  projectId: number;
  pairId: number;
  assignmentId: number;
  annotatorId: number;
  choice: "a" | "b";
  idempotencyKey: string;
  schemeVersion: number;
  pair: { response_a: string; response_b: string; model_a: string | null; model_b: string | null; checkpoint_a: number | null; checkpoint_b: number | null };
  now: number;
}) {
  return {
    project_id: r.projectId,
    pair_id: r.pairId,
    assignment_id: r.assignmentId,
    annotator_id: r.annotatorId,
    choice: r.choice,
    choice_shown: r.choice === "a" ? ("left" as const) : ("right" as const),
    left_is_a: 1,
    strength: null,
    criteria: null,
    rationale: null,
    flags: null,
    time_on_task_ms: null,
    idempotency_key: r.idempotencyKey,
    supersedes_id: null,
    scheme_version: r.schemeVersion,
    model_a: r.pair.model_a,
    model_b: r.pair.model_b,
    checkpoint_a: r.pair.checkpoint_a,
    checkpoint_b: r.pair.checkpoint_b,
    response_a_sha256: sha256(r.pair.response_a),
    response_b_sha256: sha256(r.pair.response_b),
    created_at: r.now,
  };
}
