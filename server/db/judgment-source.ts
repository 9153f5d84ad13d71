import type SQLite from "better-sqlite3";
import { type JudgmentSource, type PairInfo, type ScanRow } from "../domain/quality/judgment-index.ts";

// `+project_id` keeps SQLite walking the primary key (id > ?) in order; with the
// (project_id, created_at) index it would re-read and sort the whole project on every batch.

/**
 * Raw better-sqlite3 reads for the judgment index: a million rows through the query builder
 * would spend most of its time building objects we throw away.
 */
export function sqliteJudgmentSource(sqlite: SQLite.Database): JudgmentSource {
  const scan = sqlite
    .prepare(
      `SELECT id, pair_id, annotator_id, choice, strength, left_is_a, time_on_task_ms, created_at, supersedes_id, source
       FROM judgments WHERE +project_id = ? AND id > ? ORDER BY id LIMIT ?`,
    )
    .raw(true);
  const pairRange = sqlite.prepare("SELECT id, model_a, model_b, gold, reference, round_id, derived_from FROM pairs WHERE +project_id = ? AND id BETWEEN ? AND ?").raw(true);
  return {
    scan(projectId, afterId, limit) {
      const out: ScanRow[] = [];
      for (const r of scan.iterate(projectId, afterId, limit) as Iterable<unknown[]>) {
        out.push({
          id: r[0] as number,
          pairId: r[1] as number,
          annotatorId: r[2] as number,
          choice: r[3] as string,
          strength: r[4] as number | null,
          leftIsA: r[5] as number,
          timeMs: r[6] as number | null,
          createdAt: r[7] as number,
          supersedesId: r[8] as number | null,
          source: r[9] as string,
        });
      }
      return out;
    },
    pairs(projectId, pairIds) {
      if (pairIds.length === 0) return [];
      // One ranged read over the primary key covers a batch's pairs (they are near each other).
      let lo = Infinity;
      let hi = -Infinity;
      for (const id of pairIds) {
        lo = Math.min(lo, id);
        hi = Math.max(hi, id);
      }
      const want = new Set(pairIds);
      const out: PairInfo[] = [];
      for (const p of pairRange.iterate(projectId, lo, hi) as Iterable<unknown[]>) {
        if (!want.has(p[0] as number)) continue;
        out.push({ id: p[0] as number, modelA: p[1] as string | null, modelB: p[2] as string | null, gold: p[3] as number, reference: p[4] as string | null, roundId: p[5] as number | null, derivedFrom: p[6] as number | null });
      }
      return out;
    },
  };
}

export type PairContentRow = {
  id: number;
  prompt: string;
  response_a: string;
  response_b: string;
  model_a: string | null;
  model_b: string | null;
  metadata: string | null;
  round_id: number | null;
  gold: number;
  reference: string | null;
};

export type MarkedPair = { gold: number; round_id: number | null; derived: number };

/** Bulk reads for exports (raw statements; the builder's per-row cost dominates at 1M rows). */
export function sqliteExportSource(sqlite: SQLite.Database) {
  // No join: the few pairs that are gold, belong to a round or are rewrites are looked up from a small map.
  const votes = sqlite.prepare(
    `SELECT j.id, j.pair_id, j.assignment_id, j.annotator_id, j.source, j.choice, j.choice_shown, j.left_is_a, j.strength,
            j.criteria, j.rationale, j.flags, j.time_on_task_ms, j.idempotency_key, j.supersedes_id,
            0 AS superseded,
            j.scheme_version, j.model_a, j.model_b, j.checkpoint_a, j.checkpoint_b, j.response_a_sha256, j.response_b_sha256,
            j.created_at, 0 AS gold, NULL AS round_id, j.judge_id, j.judge_version, j.confidence
     FROM judgments j
     WHERE +j.project_id = ? AND j.id > ? ORDER BY j.id LIMIT ?`,
  );
  const markedPairs = sqlite
    .prepare("SELECT id, gold, round_id, derived_from IS NOT NULL FROM pairs WHERE project_id = ? AND (gold = 1 OR round_id IS NOT NULL OR derived_from IS NOT NULL)")
    .raw(true);
  const pairStmts = new Map<number, SQLite.Statement>();
  const votesRaw = votes.raw(true);
  const supersededIds = sqlite.prepare("SELECT supersedes_id FROM judgments WHERE +project_id = ? AND supersedes_id IS NOT NULL").pluck(true);
  return {
    /** Gold flag, round and rewrite flag of every pair that has any (the rest are non-gold, no round, not rewrites). */
    markedPairs(projectId: number): Map<number, MarkedPair> {
      const m = new Map<number, MarkedPair>();
      for (const r of markedPairs.iterate(projectId) as Iterable<[number, number, number | null, number]>) m.set(r[0], { gold: r[1], round_id: r[2], derived: r[3] });
      return m;
    },
    /** Ids of judgments that a correction replaced (few: one per correction). */
    superseded(projectId: number): Set<number> {
      return new Set(supersededIds.all(projectId) as number[]);
    },
    /** Vote rows as arrays in the SELECT's column order (no per-row objects at a million rows). */
    votesRaw(projectId: number, afterId: number, limit: number): Iterable<unknown[]> {
      return votesRaw.iterate(projectId, afterId, limit) as Iterable<unknown[]>;
    },
    pairs(projectId: number, ids: number[]): PairContentRow[] {
      if (!ids.length) return [];
      let stmt = pairStmts.get(ids.length);
      if (!stmt) {
        stmt = sqlite.prepare(
          `SELECT id, prompt, response_a, response_b, model_a, model_b, metadata, round_id, gold, reference FROM pairs WHERE +project_id = ? AND id IN (${ids.map(() => "?").join(",")}) ORDER BY id`,
        );
        if (pairStmts.size < 8) pairStmts.set(ids.length, stmt);
      }
      return stmt.all(projectId, ...ids) as PairContentRow[];
    },
  };
}

export type ExportSource = ReturnType<typeof sqliteExportSource>;
