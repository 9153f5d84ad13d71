/**
 * An in-memory, columnar copy of one project's judgments, loaded once and then appended to as
 * judgments arrive. Dashboard metrics over a million judgments are a few linear passes over typed
 * arrays instead of a million-row query per page view (see docs/decisions/003).
 */

export const CHOICES = ["a", "b", "tie", "both_bad"] as const;
export type ChoiceCode = 0 | 1 | 2 | 3;

export type ScanRow = {
  id: number;
  pairId: number;
  annotatorId: number;
  choice: string;
  strength: number | null;
  leftIsA: number;
  timeMs: number | null;
  createdAt: number;
  supersedesId: number | null;
  source: string;
};

export type PairInfo = {
  id: number;
  modelA: string | null;
  modelB: string | null;
  gold: number;
  reference: string | null;
  roundId: number | null;
  /** A rewrite pair (issue 6): the pair whose response an annotator rewrote; null otherwise. */
  derivedFrom?: number | null;
};

/** Where the index reads from (implemented over SQLite in server/db/judgment-source.ts). */
export interface JudgmentSource {
  /** Judgments of the project with id > afterId, in id order, at most `limit`. */
  scan(projectId: number, afterId: number, limit: number): ScanRow[];
  pairs(projectId: number, pairIds: number[]): PairInfo[];
}

class Column<T extends Float64Array | Int32Array | Uint8Array> {
  data: T;
  length = 0;
  constructor(private readonly make: (n: number) => T) {
    this.data = make(1024);
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = this.make(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
}

export class ProjectJudgmentIndex {
  readonly id = new Column((n) => new Float64Array(n));
  readonly pair = new Column((n) => new Int32Array(n)); // dense pair index
  readonly annotator = new Column((n) => new Int32Array(n)); // dense annotator index
  readonly choice = new Column((n) => new Uint8Array(n));
  readonly strength = new Column((n) => new Uint8Array(n)); // 0 = none
  readonly leftIsA = new Column((n) => new Uint8Array(n));
  readonly timeMs = new Column((n) => new Float64Array(n)); // -1 = unknown
  readonly createdAt = new Column((n) => new Float64Array(n));
  readonly alive = new Column((n) => new Uint8Array(n)); // 0 once superseded
  readonly ai = new Column((n) => new Uint8Array(n));

  readonly pairIds: number[] = [];
  readonly pairDense = new Map<number, number>();
  pairModelA: Int32Array = new Int32Array(1024); // -1 = unknown model
  pairModelB: Int32Array = new Int32Array(1024);
  pairGold: Uint8Array = new Uint8Array(1024);
  pairReference: Int8Array = new Int8Array(1024); // -1 = none
  pairRound: Int32Array = new Int32Array(1024);
  /** 1 for a rewrite pair (rewrite vs original, `pairs.derived_from` set). */
  pairDerived: Uint8Array = new Uint8Array(1024);

  readonly annotatorIds: number[] = [];
  readonly annotatorDense = new Map<number, number>();
  readonly models: string[] = [];
  readonly modelDense = new Map<string, number>();

  lastId = 0;
  /** Bumped on every change; cached results keyed by it. */
  version = 0;

  constructor(readonly projectId: number) {}

  get size(): number {
    return this.id.length;
  }

  private model(name: string | null): number {
    if (!name) return -1;
    let m = this.modelDense.get(name);
    if (m === undefined) {
      m = this.models.length;
      this.models.push(name);
      this.modelDense.set(name, m);
    }
    return m;
  }

  private growPairs(n: number): void {
    if (n <= this.pairModelA.length) return;
    let cap = this.pairModelA.length;
    while (cap < n) cap *= 2;
    const grow = <T extends Int32Array | Uint8Array | Int8Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.pairModelA = grow(this.pairModelA, (k) => new Int32Array(k));
    this.pairModelB = grow(this.pairModelB, (k) => new Int32Array(k));
    this.pairGold = grow(this.pairGold, (k) => new Uint8Array(k));
    this.pairReference = grow(this.pairReference, (k) => new Int8Array(k));
    this.pairRound = grow(this.pairRound, (k) => new Int32Array(k));
    this.pairDerived = grow(this.pairDerived, (k) => new Uint8Array(k));
  }

  setPair(p: PairInfo): void {
    let d = this.pairDense.get(p.id);
    if (d === undefined) {
      d = this.pairIds.length;
      this.pairIds.push(p.id);
      this.pairDense.set(p.id, d);
      this.growPairs(this.pairIds.length);
    }
    this.pairModelA[d] = this.model(p.modelA);
    this.pairModelB[d] = this.model(p.modelB);
    this.pairGold[d] = p.gold ? 1 : 0;
    const ref = p.reference ? CHOICES.indexOf(p.reference as (typeof CHOICES)[number]) : -1;
    this.pairReference[d] = ref;
    this.pairRound[d] = p.roundId ?? -1;
    this.pairDerived[d] = p.derivedFrom ? 1 : 0;
    this.version++;
  }

  /** Row of a judgment id (ids are appended in ascending order, so a binary search finds it). */
  rowOf(judgmentId: number): number {
    const ids = this.id.data;
    let lo = 0;
    let hi = this.id.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = ids[mid]!;
      if (v === judgmentId) return mid;
      if (v < judgmentId) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  append(rows: ScanRow[]): void {
    for (const r of rows) {
      const p = this.pairDense.get(r.pairId);
      if (p === undefined) throw new Error(`judgment ${r.id}: pair ${r.pairId} not loaded`);
      let a = this.annotatorDense.get(r.annotatorId);
      if (a === undefined) {
        a = this.annotatorIds.length;
        this.annotatorIds.push(r.annotatorId);
        this.annotatorDense.set(r.annotatorId, a);
      }
      const row = this.id.length;
      this.id.push(r.id);
      this.pair.push(p);
      this.annotator.push(a);
      this.choice.push(Math.max(0, CHOICES.indexOf(r.choice as (typeof CHOICES)[number])));
      this.strength.push(r.strength ?? 0);
      this.leftIsA.push(r.leftIsA);
      this.timeMs.push(r.timeMs ?? -1);
      this.createdAt.push(r.createdAt);
      this.alive.push(1);
      this.ai.push(r.source === "ai" ? 1 : 0);
      void row;
      if (r.supersedesId !== null) {
        const old = this.rowOf(r.supersedesId);
        if (old >= 0) this.alive.data[old] = 0;
      }
      this.lastId = Math.max(this.lastId, r.id);
    }
    if (rows.length) this.version++;
  }
}

const SCAN_BATCH = 50_000;

/** Keeps one index per project, loading lazily and catching up before each use. */
export class JudgmentIndexRegistry {
  private readonly indexes = new Map<number, ProjectJudgmentIndex>();
  private readonly loading = new Map<number, Promise<ProjectJudgmentIndex>>();

  constructor(private readonly source: JudgmentSource) {}

  /** Drops a project's index (after pair metadata such as gold answers changed). */
  invalidate(projectId: number): void {
    this.indexes.delete(projectId);
  }

  async get(projectId: number): Promise<ProjectJudgmentIndex> {
    const existing = this.indexes.get(projectId);
    if (existing) {
      this.catchUp(existing);
      return existing;
    }
    let p = this.loading.get(projectId);
    if (!p) {
      p = this.load(projectId).finally(() => this.loading.delete(projectId));
      this.loading.set(projectId, p);
    }
    return p;
  }

  private async load(projectId: number): Promise<ProjectJudgmentIndex> {
    const index = new ProjectJudgmentIndex(projectId);
    // Batches, yielding between them, so a cold load of a large project doesn't stall requests.
    for (;;) {
      const n = this.step(index, SCAN_BATCH);
      if (n < SCAN_BATCH) break;
      await new Promise((r) => setImmediate(r));
    }
    this.indexes.set(projectId, index);
    return index;
  }

  private catchUp(index: ProjectJudgmentIndex): void {
    while (this.step(index, SCAN_BATCH) === SCAN_BATCH) {
      /* keep reading */
    }
  }

  private step(index: ProjectJudgmentIndex, limit: number): number {
    const rows = this.source.scan(index.projectId, index.lastId, limit);
    const missing = new Set<number>();
    for (const r of rows) if (!index.pairDense.has(r.pairId)) missing.add(r.pairId);
    if (missing.size) {
      const ids = [...missing].sort((a, b) => a - b);
      // Ranged reads in slices of nearby ids (pair ids of one batch are mostly contiguous).
      let start = 0;
      for (let i = 1; i <= ids.length; i++) {
        if (i === ids.length || ids[i]! - ids[start]! > 20_000) {
          for (const p of this.source.pairs(index.projectId, ids.slice(start, i))) index.setPair(p);
          start = i;
        }
      }
    }
    index.append(rows);
    return rows.length;
  }
}
