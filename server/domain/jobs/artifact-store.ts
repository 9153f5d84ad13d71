import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Db, type Executor } from "../../db/database.ts";
import { type Clock } from "../shared/clock.ts";
import { DomainError, notFound } from "../shared/errors.ts";

/**
 * Where artifact bytes live. The local-disk implementation stores them content-addressed under
 * PAIRWISE_DATA_DIR; a shared filesystem or an S3-compatible store can implement the same three
 * calls later.
 */
export interface BlobStorage {
  /** Moves a finished temp file into place under `key` (no-op when the key exists). */
  adopt(tempFile: string, key: string): Promise<void>;
  open(key: string): Readable;
  tempPath(): string;
}

export class LocalBlobStorage implements BlobStorage {
  constructor(private readonly root: string) {
    fs.mkdirSync(path.join(root, "tmp"), { recursive: true });
  }
  tempPath(): string {
    return path.join(this.root, "tmp", `${crypto.randomUUID()}.part`);
  }
  async adopt(tempFile: string, key: string): Promise<void> {
    const dest = path.join(this.root, key);
    if (fs.existsSync(dest)) {
      fs.rmSync(tempFile, { force: true });
      return;
    }
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.renameSync(tempFile, dest);
  }
  open(key: string): Readable {
    return fs.createReadStream(path.join(this.root, key));
  }
}

export type ArtifactKind = "dataset" | "checkpoint" | "generations" | "file";
export type ArtifactRef = { artifact_id: number; sha256: string; size: number; name: string };

export class ArtifactService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly storage: BlobStorage,
    private readonly maxBytes: number,
  ) {}

  /**
   * Streams bytes to storage while hashing; a declared checksum that does not match stores
   * nothing. The same bytes uploaded twice are one artifact.
   */
  async put(stream: Readable, opts: { name: string; kind: ArtifactKind; expectedSha256?: string | null }): Promise<ArtifactRef> {
    const tmp = this.storage.tempPath();
    const hash = crypto.createHash("sha256");
    let size = 0;
    const max = this.maxBytes;
    try {
      await pipeline(
        stream,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            size += chunk.length;
            if (size > max) throw new DomainError("payload_too_large", `Artifacts are limited to ${max} bytes`);
            hash.update(chunk);
            yield chunk;
          }
        },
        fs.createWriteStream(tmp),
      );
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    const sha256 = hash.digest("hex");
    if (opts.expectedSha256 && opts.expectedSha256.toLowerCase() !== sha256) {
      fs.rmSync(tmp, { force: true });
      throw new DomainError("validation_failed", `checksum_mismatch: the upload hashed to ${sha256}, not ${opts.expectedSha256}`, {
        fields: [{ path: "X-Pairwise-Sha256", message: "does not match the uploaded bytes" }],
      });
    }
    const key = `sha256/${sha256.slice(0, 2)}/${sha256}`;
    await this.storage.adopt(tmp, key);
    await this.db
      .insertInto("artifacts")
      .values({ sha256, size, kind: opts.kind, name: opts.name, storage_key: key, created_at: this.clock.now() })
      .onConflict((oc) => oc.column("sha256").doNothing())
      .execute();
    const row = await this.db.selectFrom("artifacts").select(["id", "sha256", "size", "name"]).where("sha256", "=", sha256).executeTakeFirstOrThrow();
    return { artifact_id: row.id, sha256: row.sha256, size: row.size, name: row.name };
  }

  async putBuffer(buf: Buffer, opts: { name: string; kind: ArtifactKind }): Promise<ArtifactRef> {
    const { Readable } = await import("node:stream");
    return this.put(Readable.from([buf]), opts);
  }

  async get(id: number): Promise<ArtifactRef & { kind: string }> {
    const row = await this.db.selectFrom("artifacts").select(["id", "sha256", "size", "name", "kind"]).where("id", "=", id).executeTakeFirst();
    if (!row) throw notFound("Artifact");
    return { artifact_id: row.id, sha256: row.sha256, size: row.size, name: row.name, kind: row.kind };
  }

  async open(id: number, executor: Executor = this.db): Promise<{ ref: ArtifactRef; stream: Readable }> {
    const row = await executor.selectFrom("artifacts").selectAll().where("id", "=", id).executeTakeFirst();
    if (!row) throw notFound("Artifact");
    return { ref: { artifact_id: row.id, sha256: row.sha256, size: row.size, name: row.name }, stream: this.storage.open(row.storage_key) };
  }

  async readText(id: number, executor: Executor = this.db): Promise<string> {
    const { stream } = await this.open(id, executor);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }
}
