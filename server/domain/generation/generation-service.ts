import { type Executor } from "../../db/database.ts";
import { type Job } from "../../db/schema.ts";
import { insertPairs } from "../imports/import-service.ts";
import { normalizePairRecord, type PairRecord } from "../imports/records.ts";
import { type ArtifactService } from "../jobs/artifact-store.ts";
import { type Clock } from "../shared/clock.ts";
import { DomainError } from "../shared/errors.ts";
import { parseJsonLines } from "../shared/jsonl.ts";
import { type DomainEvents } from "../shared/events.ts";

/**
 * Turns a finished `generate` job into pairs for annotators: each line of its `generations`
 * artifact is `{prompt, response_a, response_b, model_a, model_b}`. A malformed line fails the
 * completion (the job stays running and the worker's complete call gets the error), so nothing
 * half-imported is ever acknowledged.
 */
export class GenerationService {
  constructor(
    private readonly clock: Clock,
    private readonly artifacts: ArtifactService,
    private readonly events: DomainEvents,
  ) {}

  async onGenerated(trx: Executor, job: Job, outputs: Record<string, number>): Promise<() => void> {
    const artifactId = outputs.generations;
    if (!artifactId) throw new DomainError("validation_failed", 'A generate job must output a "generations" artifact', { fields: [{ path: "outputs.generations", message: "is required" }] });
    const params = JSON.parse(job.params) as Record<string, unknown>;
    const text = await this.artifacts.readText(artifactId, trx);
    const { values: records, problems } = parseJsonLines<PairRecord>(text, (raw) => {
      const obj = raw as Record<string, unknown>;
      return normalizePairRecord(
        {
          prompt: obj.prompt,
          response_a: obj.response_a,
          response_b: obj.response_b,
          model_a: obj.model_a ?? null,
          model_b: obj.model_b ?? null,
          metadata: { source: "generate", job_id: job.id, ...(job.round_id ? { round_id: job.round_id } : {}), ...(typeof params.purpose === "string" ? { purpose: params.purpose } : {}) },
        },
        { keepReference: false },
      );
    });
    if (problems.length) {
      throw new DomainError("import_invalid", `The generations file has ${problems.length} bad lines; no pairs were created`, { lines: problems.slice(0, 50) });
    }
    const imported = await insertPairs(trx, job.project_id, records, {
      importId: null,
      now: this.clock.now(),
      checkpointA: typeof params.model_a_checkpoint_id === "number" ? params.model_a_checkpoint_id : null,
      checkpointB: typeof params.model_b_checkpoint_id === "number" ? params.model_b_checkpoint_id : typeof params.model_a_checkpoint_id === "number" && params.mode !== "ab" ? params.model_a_checkpoint_id : null,
      roundId: job.round_id,
    });
    return () => {
      this.events.pairsImported({ projectId: job.project_id, imported, duplicates: records.length - imported, kind: "pairs" });
      this.events.progressChanged(job.project_id);
    };
  }
}
