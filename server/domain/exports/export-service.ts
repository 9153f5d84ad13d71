import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { finished } from "node:stream/promises";
import { z } from "zod";
import { type Db } from "../../db/database.ts";
import { type ExportSource } from "../../db/judgment-source.ts";
import { type SessionUser } from "../auth/auth-service.ts";
import { type Content } from "../imports/records.ts";
import { type ProjectService } from "../projects/project-service.ts";
import { computeConsensus } from "../quality/consensus.ts";
import { CHOICES, type ProjectJudgmentIndex } from "../quality/judgment-index.ts";
import { type QualityService } from "../quality/quality-service.ts";
import { type Clock } from "../shared/clock.ts";
import { notFound, validationError } from "../shared/errors.ts";
import { csvField, formatPairRow, marginFromStrength, PAIR_FORMATS, type PairFormat } from "./formats.ts";
import { Scrubber } from "./scrub.ts";

export const EXPORT_SCHEMA_VERSION = 1;
export const APP_VERSION = "0.1.0";

const boolParam = z.union([z.boolean(), z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1")]);
const idList = z.union([z.array(z.coerce.number().int().positive()), z.string().transform((s, ctx) => {
  const ids = s.split(",").filter(Boolean).map(Number);
  if (ids.some((x) => !Number.isInteger(x) || x <= 0)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: "must be a comma-separated list of ids" });
    return z.NEVER;
  }
  return ids;
})]);
const timeParam = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "must be an ISO date or time").transform((s) => Date.parse(s));

export const exportFiltersSchema = z
  .object({
    format: z.enum([...PAIR_FORMATS, "votes"]),
    /** votes only: jsonl (default), csv or parquet. */
    file: z.enum(["jsonl", "csv", "parquet"]).default("jsonl"),
    rounds: idList.optional(),
    from: timeParam.optional(),
    to: timeParam.optional(),
    annotators: idList.optional(),
    /**
     * Which labels count: human (default), ai, all, or agree: only pairs where the AI judges'
     * label equals the human majority, with both sources' votes counted.
     */
    source: z.enum(["human", "ai", "all", "agree"]).default("human"),
    /** Rewrite pairs (an annotator's rewrite against the original, `pairs.derived_from`). */
    rewrites: z.enum(["include", "exclude", "only"]).default("include"),
    /** Pair-level exports: the share of votes for the consensus label (0..1). */
    min_agreement: z.coerce.number().min(0).max(1).optional(),
    /** Pair-level exports: Dawid–Skene posterior of the consensus label (0..1). */
    min_confidence: z.coerce.number().min(0).max(1).optional(),
    gold: z.enum(["include", "exclude", "only"]).default("include"),
    /** Pair-level: which consensus decides chosen/rejected. */
    label: z.enum(["majority", "dawid_skene"]).default("majority"),
    margin: boolParam.default(false),
    weight: boolParam.default(false),
    pseudonymize: boolParam.default(true),
    scrub: boolParam.default(false),
    /** votes: include superseded rows (corrections' originals) too. */
    include_superseded: boolParam.default(false),
  })
  .strict()
  .superRefine((f, ctx) => {
    if (f.file !== "jsonl" && f.format !== "votes") ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["file"], message: "only the votes format has csv and parquet files" });
    if (f.from !== undefined && f.to !== undefined && f.from > f.to) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["to"], message: "must not be before from" });
  });

export type ExportFilters = z.output<typeof exportFiltersSchema>;

export type ExportManifest = {
  export_id: number;
  project_id: number;
  format: string;
  file: string;
  schema_version: number;
  app_version: string;
  filters: Record<string, unknown>;
  counts: Record<string, number>;
  scrubbed: { email: number; phone: number; api_key: number } | null;
  sha256: string;
  bytes: number;
  created_at: string;
};

const VOTE_COLUMNS = [
  "judgment_id", "pair_id", "assignment_id", "annotator", "source", "choice", "choice_shown", "left", "strength", "criteria", "rationale", "flags",
  "time_on_task_ms", "idempotency_key", "supersedes_id", "superseded", "scheme_version", "model_a", "model_b", "checkpoint_a", "checkpoint_b",
  "response_a_sha256", "response_b_sha256", "gold", "round_id", "created_at", "judge_id", "judge_version", "confidence",
] as const;

const PAIR_CHUNK = 500;
const VOTE_CHUNK = 20_000;

/** A file sink that hashes what it writes and keeps memory flat (awaits drain). */
class HashedFile {
  private readonly out: fs.WriteStream;
  private readonly hash = crypto.createHash("sha256");
  private buf = "";
  bytes = 0;
  constructor(readonly file: string) {
    this.out = fs.createWriteStream(file);
  }
  async write(s: string): Promise<void> {
    this.buf += s;
    if (this.buf.length >= 1 << 20) await this.flush();
  }
  async writeBytes(b: Uint8Array): Promise<void> {
    await this.flush();
    this.hash.update(b);
    this.bytes += b.byteLength;
    if (!this.out.write(b)) await new Promise<void>((r) => this.out.once("drain", () => r()));
  }
  private async flush(): Promise<void> {
    if (!this.buf) return;
    const b = Buffer.from(this.buf, "utf8");
    this.buf = "";
    this.hash.update(b);
    this.bytes += b.byteLength;
    if (!this.out.write(b)) await new Promise<void>((r) => this.out.once("drain", () => r()));
  }
  async close(): Promise<string> {
    await this.flush();
    this.out.end();
    await finished(this.out);
    return this.hash.digest("hex");
  }
}

const tick = () => new Promise((r) => setImmediate(r));

/**
 * Exports researchers can train on. Files are written under PAIRWISE_DATA_DIR/exports with a
 * manifest (counts, filters, schema version, sha256); the same filters over the same data give
 * byte-identical files (fixed ordering, no timestamps in the data, deterministic pseudonyms).
 */
export class ExportService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly projects: ProjectService,
    private readonly quality: QualityService,
    private readonly source: ExportSource,
    private readonly dataDir: string,
  ) {}

  parseFilters(raw: unknown): ExportFilters {
    const parsed = exportFiltersSchema.safeParse(raw);
    if (!parsed.success) throw validationError(parsed.error.issues);
    return parsed.data;
  }

  async run(user: SessionUser, projectId: number, rawFilters: unknown): Promise<ExportManifest & { path: string }> {
    await this.projects.requireResearcher(user, projectId);
    const f = this.parseFilters(rawFilters);
    const dir = path.join(this.dataDir, "exports", `project-${projectId}`);
    fs.mkdirSync(dir, { recursive: true });
    const ext = f.format === "votes" ? f.file : "jsonl";
    const tmp = path.join(dir, `.tmp-${crypto.randomUUID()}.${ext}`);
    const scrub = new Scrubber(f.scrub);
    const salt = await this.projects.pseudonymSalt(projectId);
    const pseudonyms = new Map<number, string>();
    const who = (id: number) => {
      if (!f.pseudonymize) return String(id);
      let p = pseudonyms.get(id);
      if (!p) pseudonyms.set(id, (p = `annotator-${crypto.createHmac("sha256", salt).update(String(id)).digest("hex").slice(0, 12)}`));
      return p;
    };
    let counts: Record<string, number>;
    let sha: string;
    let bytes: number;
    try {
      if (f.format === "votes") {
        ({ counts, sha, bytes } = await this.writeVotes(projectId, f, tmp, scrub, who));
      } else {
        ({ counts, sha, bytes } = await this.writePairs(projectId, f, f.format, tmp, scrub));
      }
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    const filters = Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined));
    const now = this.clock.now();
    const row = await this.db
      .insertInto("exports")
      .values({ project_id: projectId, format: f.format, filters: JSON.stringify(filters), manifest: "{}", sha256: sha, rows: counts.rows ?? 0, bytes, path: "", user_id: user.id, created_at: now })
      .returning("id")
      .executeTakeFirstOrThrow();
    const file = path.join(dir, `${row.id}-${f.format}.${ext}`);
    fs.renameSync(tmp, file);
    const manifest: ExportManifest = {
      export_id: row.id,
      project_id: projectId,
      format: f.format,
      file: path.basename(file),
      schema_version: EXPORT_SCHEMA_VERSION,
      app_version: APP_VERSION,
      filters,
      counts,
      scrubbed: f.scrub ? scrub.counts : null,
      sha256: sha,
      bytes,
      created_at: new Date(now).toISOString(),
    };
    fs.writeFileSync(`${file}.manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);
    await this.db.updateTable("exports").set({ manifest: JSON.stringify(manifest), path: file }).where("id", "=", row.id).execute();
    return { ...manifest, path: file };
  }

  /** Which current judgment rows the filters admit, whatever their source (time, annotators, rounds, gold, rewrites). */
  private baseFilter(index: ProjectJudgmentIndex, f: ExportFilters): (r: number) => boolean {
    const annotators = f.annotators ? new Set(f.annotators) : null;
    const rounds = f.rounds ? new Set(f.rounds) : null;
    return (r) => {
      if (!index.alive.data[r]) return false;
      const t = index.createdAt.data[r]!;
      if (f.from !== undefined && t < f.from) return false;
      if (f.to !== undefined && t > f.to) return false;
      if (annotators && !annotators.has(index.annotatorIds[index.annotator.data[r]!]!)) return false;
      const p = index.pair.data[r]!;
      if (rounds && !rounds.has(index.pairRound[p]!)) return false;
      const gold = index.pairGold[p] === 1;
      if (f.gold === "exclude" && gold) return false;
      if (f.gold === "only" && !gold) return false;
      const derived = index.pairDerived[p] === 1;
      if (f.rewrites === "exclude" && derived) return false;
      if (f.rewrites === "only" && !derived) return false;
      return true;
    };
  }

  /** Which judgment rows the filters admit, source included; with `agree`, the agreeing pairs too. */
  private rowFilter(index: ProjectJudgmentIndex, f: ExportFilters): { include: (r: number) => boolean; agreement: Agreement | null } {
    const base = this.baseFilter(index, f);
    const ai = index.ai.data;
    if (f.source === "human") return { include: (r) => ai[r] === 0 && base(r), agreement: null };
    if (f.source === "ai") return { include: (r) => ai[r] === 1 && base(r), agreement: null };
    if (f.source === "all") return { include: base, agreement: null };
    const agreement = agreeingPairs(index, base);
    const pair = index.pair.data;
    return { include: (r) => agreement.agree[pair[r]!] === 1 && base(r), agreement };
  }

  private async writePairs(projectId: number, f: ExportFilters, format: PairFormat, file: string, scrub: Scrubber) {
    const index = await this.quality.index(projectId);
    const { include, agreement } = this.rowFilter(index, f);
    // Dawid–Skene only when the export asks for it (its label or its confidence filter).
    const consensus = computeConsensus(index, { include, dawidSkene: f.label === "dawid_skene" || f.min_confidence !== undefined });
    const counts: Record<string, number> = {
      rows: 0, pairs_with_votes: 0, skipped_tie: 0, skipped_both_bad: 0, skipped_split: 0, skipped_min_agreement: 0, skipped_min_confidence: 0,
      // Per source: the votes behind the exported rows; and how many rows are annotators' rewrites.
      human: 0, ai: 0, rewrites: 0,
    };
    if (agreement) {
      counts.agree_pairs = agreement.pairs;
      counts.skipped_disagree = agreement.disagree;
    }
    const aiVotes = new Int32Array(index.pairIds.length);
    for (let r = 0; r < index.size; r++) if (index.ai.data[r] === 1 && include(r)) aiVotes[index.pair.data[r]!]!++;
    // Typed arrays over the index's dense pair numbers, not a map of objects: flat memory at 1M.
    const chosenA = new Uint8Array(index.pairIds.length);
    const keep = new Int32Array(index.pairIds.length);
    let kept = 0;
    for (let p = 0; p < index.pairIds.length; p++) {
      if (!consensus.votes[p]) continue;
      counts.pairs_with_votes!++;
      const label = f.label === "dawid_skene" ? consensus.dsLabel[p]! : consensus.majority[p]!;
      if (label < 0) {
        counts.skipped_split!++;
        continue;
      }
      if (CHOICES[label] === "tie") {
        counts.skipped_tie!++;
        continue;
      }
      if (CHOICES[label] === "both_bad") {
        counts.skipped_both_bad!++;
        continue;
      }
      if (f.min_agreement !== undefined && consensus.majorityShare[p]! < f.min_agreement) {
        counts.skipped_min_agreement!++;
        continue;
      }
      if (f.min_confidence !== undefined && consensus.dsConfidence[p]! < f.min_confidence) {
        counts.skipped_min_confidence!++;
        continue;
      }
      chosenA[p] = label === 0 ? 1 : 0;
      keep[kept++] = p;
      counts.ai! += aiVotes[p]!;
      counts.human! += consensus.votes[p]! - aiVotes[p]!;
      if (index.pairDerived[p] === 1) counts.rewrites!++;
    }
    // Pair id order makes the file independent of the order judgments arrived in.
    const dense = keep.subarray(0, kept).sort((x, y) => index.pairIds[x]! - index.pairIds[y]!);
    const out = new HashedFile(file);
    for (let i = 0; i < dense.length; i += PAIR_CHUNK) {
      let text = "";
      const chunk = dense.subarray(i, i + PAIR_CHUNK);
      const byId = new Map<number, number>();
      for (const p of chunk) byId.set(index.pairIds[p]!, p);
      for (const row of this.source.pairs(projectId, [...byId.keys()])) {
        const p = byId.get(row.id)!;
        const weight = f.label === "dawid_skene" ? consensus.dsConfidence[p]! : consensus.majorityShare[p]!;
        const side = { chosenA: chosenA[p] === 1, margin: marginFromStrength(consensus.meanStrength[p]!), weight: Math.round(weight * 1e6) / 1e6 };
        const prompt = scrub.content(JSON.parse(row.prompt) as Content);
        const a = scrub.content(JSON.parse(row.response_a) as Content);
        const b = scrub.content(JSON.parse(row.response_b) as Content);
        const rec = formatPairRow(format, {
          prompt,
          chosen: side.chosenA ? a : b,
          rejected: side.chosenA ? b : a,
          margin: f.margin ? side.margin : undefined,
          weight: f.weight ? side.weight : undefined,
        });
        text += `${JSON.stringify(rec)}\n`;
        counts.rows!++;
      }
      await out.write(text);
      if ((i / PAIR_CHUNK) % 20 === 19) await tick();
    }
    const sha = await out.close();
    return { counts, sha, bytes: out.bytes };
  }

  private async writeVotes(projectId: number, f: ExportFilters, file: string, scrub: Scrubber, who: (id: number) => string) {
    const annotators = f.annotators ? new Set(f.annotators) : null;
    const rounds = f.rounds ? new Set(f.rounds) : null;
    const counts: Record<string, number> = { rows: 0, human: 0, ai: 0, superseded: 0 };
    // agree: the pairs whose AI label equals the human majority (judged on current rows), all their votes.
    let agreeIds: Set<number> | null = null;
    if (f.source === "agree") {
      const index = await this.quality.index(projectId);
      const agreement = agreeingPairs(index, this.baseFilter(index, f));
      agreeIds = new Set();
      for (let p = 0; p < index.pairIds.length; p++) if (agreement.agree[p]) agreeIds.add(index.pairIds[p]!);
      counts.agree_pairs = agreement.pairs;
      counts.skipped_disagree = agreement.disagree;
    }
    // Parquet writes its own file; the hashed text sink must not open (and truncate) the same path.
    const parquet = f.file === "parquet" ? await ParquetSink.open(file) : null;
    const out = parquet ? null : new HashedFile(file);
    if (f.file === "csv") await out!.write(`${VOTE_COLUMNS.join(",")}\n`);
    const q = (v: unknown) => (v === null ? "null" : JSON.stringify(v));
    const supersededIds = this.source.superseded(projectId);
    const marked = this.source.markedPairs(projectId);
    let after = 0;
    for (;;) {
      // Raw rows and hand-built lines: at a million votes, per-row objects cost more than SQLite.
      let read = 0;
      let text = "";
      const records: Record<(typeof VOTE_COLUMNS)[number], unknown>[] = [];
      for (const r of this.source.votesRaw(projectId, after, VOTE_CHUNK)) {
        read++;
        const [id, pairId, assignmentId, annotatorId, source, choice, choiceShown, leftIsA, strength, criteria, rationale, flags, timeMs, key, supersedesId, , schemeVersion, modelA, modelB, ckA, ckB, shaA, shaB, createdAt, , , judgeId, judgeVersion, confidence] = r as [
          number, number, number, number, string, string, string, number, number | null, string | null, string | null, string | null, number | null, string, number | null, number, number, string | null, string | null, number | null, number | null, string, string, number, number, number | null,
          number | null, number | null, number | null,
        ];
        after = id;
        const mark = marked.get(pairId);
        const gold = mark?.gold ?? 0;
        const roundId = mark?.round_id ?? null;
        const superseded = supersededIds.has(id) ? 1 : 0;
        if (superseded && !f.include_superseded) continue;
        if (f.source === "human" && source !== "human") continue;
        if (f.source === "ai" && source !== "ai") continue;
        if (agreeIds && !agreeIds.has(pairId)) continue;
        if (f.rewrites === "exclude" && mark?.derived) continue;
        if (f.rewrites === "only" && !mark?.derived) continue;
        if (f.from !== undefined && createdAt < f.from) continue;
        if (f.to !== undefined && createdAt > f.to) continue;
        if (annotators && !annotators.has(annotatorId)) continue;
        if (rounds && (roundId === null || !rounds.has(roundId))) continue;
        if (f.gold === "exclude" && gold) continue;
        if (f.gold === "only" && !gold) continue;
        counts.rows!++;
        counts[source === "ai" ? "ai" : "human"]!++;
        if (superseded) counts.superseded!++;
        const annotator = who(annotatorId);
        const scrubbedRationale = rationale === null ? null : scrub.text(rationale);
        const createdIso = new Date(createdAt).toISOString();
        if (f.file === "jsonl") {
          // criteria and flags are stored as JSON written by JSON.stringify, so they embed as is;
          // annotator (a number or hex pseudonym), source, choices and hashes are plain ASCII tokens
          // by construction, so they need no escaping. Free text goes through JSON.stringify.
          text += `{"judgment_id":${id},"pair_id":${pairId},"assignment_id":${assignmentId},"annotator":"${annotator}","source":"${source}","choice":"${choice}","choice_shown":"${choiceShown}","left":"${leftIsA ? "a" : "b"}","strength":${strength ?? "null"},"criteria":${criteria ?? "null"},"rationale":${q(scrubbedRationale)},"flags":${flags ?? "[]"},"time_on_task_ms":${timeMs ?? "null"},"idempotency_key":${q(key)},"supersedes_id":${supersedesId ?? "null"},"superseded":${superseded === 1},"scheme_version":${schemeVersion},"model_a":${q(modelA)},"model_b":${q(modelB)},"checkpoint_a":${ckA ?? "null"},"checkpoint_b":${ckB ?? "null"},"response_a_sha256":"${shaA}","response_b_sha256":"${shaB}","gold":${gold === 1},"round_id":${roundId ?? "null"},"created_at":"${createdIso}","judge_id":${judgeId ?? "null"},"judge_version":${judgeVersion ?? "null"},"confidence":${confidence ?? "null"}}\n`;
          if (text.length > 1 << 20) {
            await out!.write(text);
            text = "";
          }
          continue;
        }
        const rec = {
          judgment_id: id,
          pair_id: pairId,
          assignment_id: assignmentId,
          annotator,
          source,
          choice,
          choice_shown: choiceShown,
          left: leftIsA ? "a" : "b",
          strength,
          criteria,
          rationale: scrubbedRationale,
          flags,
          time_on_task_ms: timeMs,
          idempotency_key: key,
          supersedes_id: supersedesId,
          superseded: superseded === 1,
          scheme_version: schemeVersion,
          model_a: modelA,
          model_b: modelB,
          checkpoint_a: ckA,
          checkpoint_b: ckB,
          response_a_sha256: shaA,
          response_b_sha256: shaB,
          gold: gold === 1,
          round_id: roundId,
          created_at: createdIso,
          judge_id: judgeId,
          judge_version: judgeVersion,
          confidence,
        };
        if (f.file === "csv") {
          text += `${VOTE_COLUMNS.map((c) => csvField(c === "flags" ? (flags ?? "[]") : rec[c])).join(",")}\n`;
        } else {
          records.push({ ...rec, criteria: criteria ? JSON.parse(criteria) : null, flags: flags ? JSON.parse(flags) : [] });
        }
        if (text.length > 1 << 20) {
          await out!.write(text);
          text = "";
        }
      }
      if (text) await out!.write(text);
      if (records.length) await parquet!.write(records);
      if (read < VOTE_CHUNK) break;
      await tick();
    }
    if (parquet) {
      await parquet.close();
      const sha = await hashFile(file);
      return { counts, sha, bytes: fs.statSync(file).size };
    }
    const sha = await out!.close();
    return { counts, sha, bytes: out!.bytes };
  }

  async history(user: SessionUser, projectId: number) {
    await this.projects.requireResearcher(user, projectId);
    const rows = await this.db
      .selectFrom("exports")
      .innerJoin("users", "users.id", "exports.user_id")
      .select(["exports.id", "exports.format", "exports.rows", "exports.bytes", "exports.sha256", "exports.filters", "exports.created_at", "users.email"])
      .where("exports.project_id", "=", projectId)
      .orderBy("exports.id", "desc")
      .limit(100)
      .execute();
    return rows.map((r) => ({ ...r, filters: JSON.parse(r.filters) as Record<string, unknown>, created_at: new Date(r.created_at).toISOString() }));
  }

  async get(user: SessionUser, exportId: number): Promise<{ manifest: ExportManifest; path: string }> {
    const row = await this.db.selectFrom("exports").select(["project_id", "manifest", "path"]).where("id", "=", exportId).executeTakeFirst();
    if (!row) throw notFound("Export");
    await this.projects.requireResearcher(user, row.project_id);
    return { manifest: JSON.parse(row.manifest) as ExportManifest, path: row.path };
  }
}

async function hashFile(file: string): Promise<string> {
  const h = crypto.createHash("sha256");
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** Votes as Parquet, one row group per chunk, written incrementally so memory stays flat. */
class ParquetSink {
  private constructor(
    private readonly writer: { write(o: { columnData: { name: string; data: unknown[]; type?: string }[]; rowGroupSize?: number }): void | Promise<void>; finish(): void | Promise<void> },
  ) {}

  static async open(file: string): Promise<ParquetSink> {
    const { ParquetWriter, fileWriter, schemaFromColumnData } = (await import("hyparquet-writer")) as any;
    const columnData = ParquetSink.columns([]);
    const schema = schemaFromColumnData({ columnData });
    return new ParquetSink(new ParquetWriter({ writer: fileWriter(file), schema, createdBy: `pairwise ${APP_VERSION}` }));
  }

  static columns(records: Record<string, unknown>[]) {
    const col = (name: string, type: string, map: (r: Record<string, unknown>) => unknown = (r) => r[name] ?? null) => ({ name, type, data: records.map(map), nullable: true });
    const json = (name: string) => col(name, "STRING", (r) => (r[name] === null || r[name] === undefined ? null : JSON.stringify(r[name])));
    return [
      col("judgment_id", "INT64", (r) => BigInt(r.judgment_id as number)),
      col("pair_id", "INT64", (r) => BigInt(r.pair_id as number)),
      col("assignment_id", "INT64", (r) => BigInt(r.assignment_id as number)),
      col("annotator", "STRING"),
      col("source", "STRING"),
      col("choice", "STRING"),
      col("choice_shown", "STRING"),
      col("left", "STRING"),
      col("strength", "INT32"),
      json("criteria"),
      col("rationale", "STRING"),
      json("flags"),
      col("time_on_task_ms", "INT64", (r) => (r.time_on_task_ms === null ? null : BigInt(r.time_on_task_ms as number))),
      col("idempotency_key", "STRING"),
      col("supersedes_id", "INT64", (r) => (r.supersedes_id === null ? null : BigInt(r.supersedes_id as number))),
      col("superseded", "BOOLEAN"),
      col("scheme_version", "INT32"),
      col("model_a", "STRING"),
      col("model_b", "STRING"),
      col("checkpoint_a", "INT64", (r) => (r.checkpoint_a === null ? null : BigInt(r.checkpoint_a as number))),
      col("checkpoint_b", "INT64", (r) => (r.checkpoint_b === null ? null : BigInt(r.checkpoint_b as number))),
      col("response_a_sha256", "STRING"),
      col("response_b_sha256", "STRING"),
      col("gold", "BOOLEAN"),
      col("round_id", "INT64", (r) => (r.round_id === null ? null : BigInt(r.round_id as number))),
      col("created_at", "STRING"),
      col("judge_id", "INT64", (r) => (r.judge_id === null ? null : BigInt(r.judge_id as number))),
      col("judge_version", "INT32"),
      col("confidence", "DOUBLE"),
    ];
  }

  async write(records: Record<string, unknown>[]): Promise<void> {
    if (!records.length) return;
    await this.writer.write({ columnData: ParquetSink.columns(records), rowGroupSize: records.length });
  }

  async close(): Promise<void> {
    await this.writer.finish();
  }
}

type Agreement = {
  /** Per dense pair: 1 when the AI label equals the human majority. */
  agree: Uint8Array;
  /** Pairs that agree, and pairs with both an AI and a human label that don't. */
  pairs: number;
  disagree: number;
};

/** The class with the most votes at dense pair `p`, or −1 with none or a split top. */
function topClass(counts: Int32Array, p: number): number {
  let best = -1;
  let bestN = 0;
  let split = false;
  for (let c = 0; c < CHOICES.length; c++) {
    const n = counts[p * CHOICES.length + c]!;
    if (n > bestN) {
      best = c;
      bestN = n;
      split = false;
    } else if (n === bestN && n > 0) split = true;
  }
  return split ? -1 : best;
}

/**
 * Pairs where AI judges and people agree: the AI label (the majority of the pair's AI judgments)
 * equals the human majority. A split on either side is no label, so it never agrees. Labels that
 * agree on a tie or both-bad still count here; pair-level exports then skip them as usual.
 */
export function agreeingPairs(index: ProjectJudgmentIndex, include: (r: number) => boolean): Agreement {
  const nP = index.pairIds.length;
  const K = CHOICES.length;
  const human = new Int32Array(nP * K);
  const ai = new Int32Array(nP * K);
  for (let r = 0; r < index.size; r++) {
    if (!include(r)) continue;
    (index.ai.data[r] === 1 ? ai : human)[index.pair.data[r]! * K + index.choice.data[r]!]!++;
  }
  const agree = new Uint8Array(nP);
  let pairs = 0;
  let disagree = 0;
  for (let p = 0; p < nP; p++) {
    let hasAi = false;
    let hasHuman = false;
    for (let c = 0; c < K; c++) {
      if (ai[p * K + c]) hasAi = true;
      if (human[p * K + c]) hasHuman = true;
    }
    if (!hasAi || !hasHuman) continue;
    const label = topClass(human, p);
    if (label >= 0 && label === topClass(ai, p)) {
      agree[p] = 1;
      pairs++;
    } else disagree++;
  }
  return { agree, pairs, disagree };
}
