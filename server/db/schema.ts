import type { Generated, Insertable, Selectable } from "kysely";

export type Role = "admin" | "researcher" | "annotator";
export type MemberRole = "researcher" | "annotator";

export interface UsersTable {
  id: Generated<number>;
  email: string;
  name: string;
  password_hash: string;
  role: Role;
  created_at: number;
  disabled_at: number | null;
}

export interface SessionsTable {
  token_hash: string;
  user_id: number;
  created_at: number;
  expires_at: number;
}

export interface ApiTokensTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  prefix: string;
  token_hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface ProjectsTable {
  id: Generated<number>;
  name: string;
  guidelines: string;
  scheme: string;
  scheme_version: number;
  judgments_per_pair: number;
  lease_seconds: number;
  created_by: number;
  created_at: number;
  updated_at: number;
  quality: Generated<string>;
  pseudonym_salt: string | null;
  generation: Generated<string>;
  /** Hybrid human–AI settings (routing, active learning, assist, rewrites), JSON. */
  hybrid: Generated<string>;
}

export interface ProjectSecretsTable {
  project_id: number;
  name: string;
  value: string;
  updated_at: number;
}

export interface ProjectMembersTable {
  project_id: number;
  user_id: number;
  role: MemberRole;
  added_by: number | null;
  added_at: number;
  paused_at: Generated<number | null>;
  pause_reason: Generated<string | null>;
}

export interface ImportsTable {
  id: Generated<number>;
  project_id: number;
  kind: "pairs" | "prompts";
  format: "jsonl" | "csv";
  filename: string | null;
  imported: number;
  duplicates: number;
  user_id: number;
  created_at: number;
}

export interface PromptsTable {
  id: Generated<number>;
  project_id: number;
  prompt: string;
  metadata: string | null;
  content_hash: string;
  import_id: number | null;
  created_at: number;
}

export interface PairsTable {
  id: Generated<number>;
  project_id: number;
  prompt: string;
  response_a: string;
  response_b: string;
  model_a: string | null;
  model_b: string | null;
  checkpoint_a: number | null;
  checkpoint_b: number | null;
  metadata: string | null;
  reference: "a" | "b" | "tie" | "both_bad" | null;
  content_hash: string;
  import_id: number | null;
  created_at: number;
  claimed: Generated<number>;
  judged: Generated<number>;
  /** A pair with a known answer (`reference`) used to measure annotators. */
  gold: Generated<number>;
  round_id: number | null;
  /** Who labels the pair: people, an AI judge, an AI judge audited by people, or known (a rewrite). */
  route: Generated<PairRoute>;
  /** Expected information of a human label (active learning); the human queue takes higher first. */
  priority: Generated<number>;
  priority_strategy: Generated<string | null>;
  /** Fixed random order key in [0, 1) for the unbiased share of the queue. */
  rand_key: Generated<number>;
  /** A rewrite pair: the pair whose response was rewritten. */
  derived_from: Generated<number | null>;
}

export type PairRoute = "human" | "ai" | "audit" | "known";

export type AssignmentStatus = "active" | "judged" | "skipped" | "expired";

export interface AssignmentsTable {
  id: Generated<number>;
  project_id: number;
  pair_id: number;
  annotator_id: number;
  left_is_a: number;
  status: AssignmentStatus;
  created_at: number;
  expires_at: number;
  finished_at: number | null;
  skip_reason: string | null;
  gold: Generated<number>;
  /** Why the queue served this pair: order, random, uncertainty, disagreement, ensemble, gold, audit. */
  strategy: Generated<string | null>;
  /** Assist arm for this lease: none (control), before or after; null when assist was off. */
  assist: Generated<"none" | "before" | "after" | null>;
}

export interface JudgmentsTable {
  id: Generated<number>;
  project_id: number;
  pair_id: number;
  assignment_id: number;
  annotator_id: number;
  source: Generated<"human" | "ai">;
  choice: "a" | "b" | "tie" | "both_bad";
  choice_shown: "left" | "right" | "tie" | "both_bad";
  left_is_a: number;
  strength: number | null;
  criteria: string | null;
  rationale: string | null;
  flags: string | null;
  time_on_task_ms: number | null;
  idempotency_key: string;
  supersedes_id: number | null;
  scheme_version: number;
  model_a: string | null;
  model_b: string | null;
  checkpoint_a: number | null;
  checkpoint_b: number | null;
  response_a_sha256: string;
  response_b_sha256: string;
  created_at: number;
  /** AI judgments: the judge, its version and its confidence in the label. */
  judge_id: Generated<number | null>;
  judge_version: Generated<number | null>;
  confidence: Generated<number | null>;
}

export type JudgeKind = "reward_model" | "llm";

export interface JudgesTable {
  id: Generated<number>;
  project_id: number;
  kind: JudgeKind;
  name: string;
  version: Generated<number>;
  config: string;
  /** The judge's own (login-disabled) user, so its labels are ordinary judgment rows. */
  bot_user_id: number;
  enabled: Generated<number>;
  created_by: number | null;
  created_at: number;
  updated_at: number;
}

export interface JudgeVerdictsTable {
  id: Generated<number>;
  project_id: number;
  pair_id: number;
  judge_id: number;
  judge_version: number;
  /** P(response A is better), or null when the judge gave no usable answer. */
  p_a: number | null;
  choice: "a" | "b" | "tie" | null;
  /** max(p_a, 1 - p_a). */
  confidence: number | null;
  /** LLM judges: 1 when both presentation orders agree, 0 when they do not. */
  consistent: number | null;
  /** Reward-model ensembles: each member's P(A better), JSON. */
  members: string | null;
  raw_output: string;
  job_id: number | null;
  created_at: number;
}

export interface RewritesTable {
  id: Generated<number>;
  project_id: number;
  pair_id: number;
  judgment_id: number;
  annotator_id: number;
  side: "a" | "b";
  original: string;
  rewrite: string;
  derived_pair_id: number | null;
  created_at: number;
}

export interface ExportsTable {
  id: Generated<number>;
  project_id: number;
  format: string;
  filters: string;
  manifest: string;
  sha256: string;
  rows: number;
  bytes: number;
  path: string;
  user_id: number;
  created_at: number;
}

export interface WorkersTable {
  id: Generated<number>;
  name: string;
  token_hash: string;
  capabilities: Generated<string>;
  created_by: number | null;
  created_at: number;
  last_seen_at: number | null;
  revoked_at: number | null;
}

export interface ArtifactsTable {
  id: Generated<number>;
  sha256: string;
  size: number;
  kind: string;
  name: string;
  storage_key: string;
  created_at: number;
}

export type JobKind = "generate" | "train_reward" | "sft" | "ppo" | "evaluate" | "judge";
export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface JobsTable {
  id: Generated<number>;
  project_id: number;
  round_id: number | null;
  kind: JobKind;
  params: string;
  inputs: Generated<string>;
  status: JobStatus;
  progress_step: Generated<number>;
  progress_total: Generated<number>;
  attempts: Generated<number>;
  max_attempts: Generated<number>;
  worker_id: number | null;
  lease_expires_at: number | null;
  cancel_requested: Generated<number>;
  resume_artifact_id: number | null;
  resume_step: number | null;
  outputs: string | null;
  result: string | null;
  error: string | null;
  created_by: number | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  updated_at: number;
}

export interface JobMetricsTable {
  job_id: number;
  step: number;
  name: string;
  value: number;
  attempt: number;
  created_at: number;
}

export interface JobLogsTable {
  id: Generated<number>;
  job_id: number;
  line: string;
  created_at: number;
}

export type CheckpointKind = "base" | "sft" | "reward" | "policy";
export type CheckpointState = "candidate" | "champion" | "retired";

export interface CheckpointsTable {
  id: Generated<number>;
  project_id: number;
  kind: CheckpointKind;
  name: string;
  state: CheckpointState;
  parent_id: number | null;
  job_id: number | null;
  artifact_id: number | null;
  model_ref: string | null;
  dataset_artifact_id: number | null;
  dataset_export_id: number | null;
  hyperparams: Generated<string>;
  metrics: Generated<string>;
  created_at: number;
  state_changed_at: number;
}

export type RoundStatus = "running" | "waiting_ab" | "succeeded" | "failed" | "cancelled";

export interface RoundsTable {
  id: Generated<number>;
  project_id: number;
  number: number;
  status: RoundStatus;
  config: string;
  steps: string;
  champion_policy_id: number | null;
  candidate_policy_id: number | null;
  reward_checkpoint_id: number | null;
  snapshot_artifact_id: number | null;
  snapshot_export_id: number | null;
  decision: string | null;
  created_by: number | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

export interface Database {
  judges: JudgesTable;
  judge_verdicts: JudgeVerdictsTable;
  rewrites: RewritesTable;
  project_secrets: ProjectSecretsTable;
  rounds: RoundsTable;
  workers: WorkersTable;
  artifacts: ArtifactsTable;
  jobs: JobsTable;
  job_metrics: JobMetricsTable;
  job_logs: JobLogsTable;
  checkpoints: CheckpointsTable;
  exports: ExportsTable;
  users: UsersTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  projects: ProjectsTable;
  project_members: ProjectMembersTable;
  imports: ImportsTable;
  prompts: PromptsTable;
  pairs: PairsTable;
  assignments: AssignmentsTable;
  judgments: JudgmentsTable;
}

export type User = Selectable<UsersTable>;
export type Project = Selectable<ProjectsTable>;
export type Pair = Selectable<PairsTable>;
export type Assignment = Selectable<AssignmentsTable>;
export type Judgment = Selectable<JudgmentsTable>;
export type NewPair = Insertable<PairsTable>;
export type Job = Selectable<JobsTable>;
export type Checkpoint = Selectable<CheckpointsTable>;
export type Round = Selectable<RoundsTable>;
export type Judge = Selectable<JudgesTable>;
export type JudgeVerdict = Selectable<JudgeVerdictsTable>;
