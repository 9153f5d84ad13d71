import { type Readable } from "node:stream";
import { type Db, type Executor } from "../../db/database.ts";
import { type SessionUser } from "../auth/auth-service.ts";
import { type ProjectService } from "../projects/project-service.ts";
import { type Clock } from "../shared/clock.ts";
import { DomainError, type LineIssue } from "../shared/errors.ts";
import { type DomainEvents } from "../shared/events.ts";
import { sha256 } from "../shared/hash.ts";
import { type ImportFormat, readRecords } from "./readers.ts";
import { normalizePairRecord, normalizePromptRecord, type PairRecord, type PromptRecord } from "./records.ts";

const MAX_REPORTED_LINES = 200;
const INSERT_CHUNK = 400;

export type ImportResult = { importId: number | null; imported: number; duplicates: number };
export type ImportOptions = { format: ImportFormat; filename?: string | null; keepReference?: boolean; gold?: boolean };

export function pairContentHash(r: Pick<PairRecord, "prompt" | "responseA" | "responseB" | "modelA" | "modelB">): string {
  return sha256(JSON.stringify([r.prompt, r.responseA, r.responseB, r.modelA, r.modelB]));
}

export function promptContentHash(r: Pick<PromptRecord, "prompt">): string {
  return sha256(JSON.stringify(r.prompt));
}

/**
 * Writes normalized pairs in chunks, skipping content already in the project; returns how many
 * were new. The caller owns the transaction (imports, and generate jobs completing).
 */
export async function insertPairs(
  trx: Executor,
  projectId: number,
  records: PairRecord[],
  opts: { importId: number | null; now: number; gold?: boolean; checkpointA?: number | null; checkpointB?: number | null; roundId?: number | null },
): Promise<number> {
  let imported = 0;
  for (let i = 0; i < records.length; i += INSERT_CHUNK) {
    const chunk = records.slice(i, i + INSERT_CHUNK).map((r) => ({
      project_id: projectId,
      prompt: JSON.stringify(r.prompt),
      response_a: JSON.stringify(r.responseA),
      response_b: JSON.stringify(r.responseB),
      model_a: r.modelA,
      model_b: r.modelB,
      checkpoint_a: opts.checkpointA ?? null,
      checkpoint_b: opts.checkpointB ?? null,
      metadata: r.metadata ? JSON.stringify(r.metadata) : null,
      reference: r.reference,
      // `?gold=true` turns every pair with a known answer into a gold question.
      gold: (r.gold || opts.gold) && r.reference ? 1 : 0,
      round_id: opts.roundId ?? null,
      content_hash: pairContentHash(r),
      // A fixed random order key: the unbiased share of the human queue walks pairs by it.
      rand_key: Math.random(),
      import_id: opts.importId,
      created_at: opts.now,
    }));
    const res = await trx
      .insertInto("pairs")
      .values(chunk)
      .onConflict((oc) => oc.columns(["project_id", "content_hash"]).doNothing())
      .executeTakeFirst();
    imported += Number(res.numInsertedOrUpdatedRows ?? 0);
  }
  return imported;
}

/**
 * Imports are all-or-nothing: the whole file is parsed and validated first (as a stream), and only a
 * file without a single bad line is written, in one transaction.
 */
export class ImportService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly projects: ProjectService,
    private readonly events: DomainEvents,
  ) {}

  private async collect<T>(stream: Readable, format: ImportFormat, normalize: (raw: unknown) => { ok: true; value: T } | { ok: false; message: string }) {
    const rows: { line: number; value: T }[] = [];
    const errors: LineIssue[] = [];
    let badLines = 0;
    for await (const rec of readRecords(stream, format)) {
      const result = rec.error !== undefined ? { ok: false as const, message: rec.error } : normalize(rec.value);
      if (result.ok) rows.push({ line: rec.line, value: result.value });
      else {
        badLines += 1;
        if (errors.length < MAX_REPORTED_LINES) errors.push({ line: rec.line, message: result.message });
      }
    }
    if (badLines > 0) {
      const shown = errors.slice(0, 5).map((e) => `line ${e.line}: ${e.message}`).join("; ");
      throw new DomainError("import_invalid", `${badLines} bad line${badLines === 1 ? "" : "s"}; nothing was imported. ${shown}`, {
        lines: errors,
        badLines,
      });
    }
    if (rows.length === 0) throw new DomainError("import_invalid", "The file holds no records; nothing was imported", { lines: [] });
    return rows;
  }

  async importPairs(user: SessionUser, projectId: number, stream: Readable, opts: ImportOptions): Promise<ImportResult> {
    await this.projects.requireResearcher(user, projectId);
    const keepReference = opts.keepReference ?? true;
    const rows = await this.collect(stream, opts.format, (raw) => normalizePairRecord(raw, { keepReference }));
    const now = this.clock.now();
    const result = await this.db.transaction().execute(async (trx) => {
      const imp = await trx
        .insertInto("imports")
        .values({ project_id: projectId, kind: "pairs", format: opts.format, filename: opts.filename ?? null, imported: 0, duplicates: 0, user_id: user.id, created_at: now })
        .returning("id")
        .executeTakeFirstOrThrow();
      const imported = await insertPairs(
        trx,
        projectId,
        rows.map((r) => r.value),
        { importId: imp.id, now, gold: opts.gold ?? false },
      );
      const duplicates = rows.length - imported;
      await trx.updateTable("imports").set({ imported, duplicates }).where("id", "=", imp.id).execute();
      return { importId: imp.id, imported, duplicates };
    });
    this.events.pairsImported({ projectId, imported: result.imported, duplicates: result.duplicates, kind: "pairs" });
    if (result.imported > 0) this.events.progressChanged(projectId);
    return result;
  }

  async importPrompts(user: SessionUser, projectId: number, stream: Readable, opts: ImportOptions): Promise<ImportResult> {
    await this.projects.requireResearcher(user, projectId);
    const rows = await this.collect(stream, opts.format, normalizePromptRecord);
    const now = this.clock.now();
    const result = await this.db.transaction().execute(async (trx) => {
      const imp = await trx
        .insertInto("imports")
        .values({ project_id: projectId, kind: "prompts", format: opts.format, filename: opts.filename ?? null, imported: 0, duplicates: 0, user_id: user.id, created_at: now })
        .returning("id")
        .executeTakeFirstOrThrow();
      let imported = 0;
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        const chunk = rows.slice(i, i + INSERT_CHUNK).map(({ value: r }) => ({
          project_id: projectId,
          prompt: JSON.stringify(r.prompt),
          metadata: r.metadata ? JSON.stringify(r.metadata) : null,
          content_hash: promptContentHash(r),
          import_id: imp.id,
          created_at: now,
        }));
        const res = await trx
          .insertInto("prompts")
          .values(chunk)
          .onConflict((oc) => oc.columns(["project_id", "content_hash"]).doNothing())
          .executeTakeFirst();
        imported += Number(res.numInsertedOrUpdatedRows ?? 0);
      }
      const duplicates = rows.length - imported;
      await trx.updateTable("imports").set({ imported, duplicates }).where("id", "=", imp.id).execute();
      return { importId: imp.id, imported, duplicates };
    });
    this.events.pairsImported({ projectId, imported: result.imported, duplicates: result.duplicates, kind: "prompts" });
    return result;
  }

  async history(user: SessionUser, projectId: number) {
    await this.projects.requireResearcher(user, projectId);
    return this.db
      .selectFrom("imports")
      .innerJoin("users", "users.id", "imports.user_id")
      .select(["imports.id", "imports.kind", "imports.format", "imports.filename", "imports.imported", "imports.duplicates", "imports.created_at", "users.email"])
      .where("imports.project_id", "=", projectId)
      .orderBy("imports.id", "desc")
      .limit(50)
      .execute();
  }
}
