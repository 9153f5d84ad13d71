import type SQLite from "better-sqlite3";
import { type Db } from "./db/database.ts";
import { sqliteExportSource, sqliteJudgmentSource } from "./db/judgment-source.ts";
import { ExportService } from "./domain/exports/export-service.ts";
import { CheckpointService } from "./domain/checkpoints/checkpoint-service.ts";
import { ArtifactService, LocalBlobStorage } from "./domain/jobs/artifact-store.ts";
import { JobService } from "./domain/jobs/job-service.ts";
import { GenerationService } from "./domain/generation/generation-service.ts";
import { RoundService } from "./domain/rounds/round-service.ts";
import { JudgeService } from "./domain/judges/judge-service.ts";
import { EndpointBackend } from "./domain/generation/endpoint-backend.ts";
import path from "node:path";
import { JudgmentIndexRegistry } from "./domain/quality/judgment-index.ts";
import { QualityService } from "./domain/quality/quality-service.ts";
import { AnnotationService } from "./domain/annotation/annotation-service.ts";
import { AuthService } from "./domain/auth/auth-service.ts";
import { ImportService } from "./domain/imports/import-service.ts";
import { ProjectService } from "./domain/projects/project-service.ts";
import { type Clock, systemClock } from "./domain/shared/clock.ts";
import { type DomainEvents, noEvents } from "./domain/shared/events.ts";

export type Services = {
  auth: AuthService;
  projects: ProjectService;
  imports: ImportService;
  annotation: AnnotationService;
  quality: QualityService;
  exports: ExportService;
  jobs: JobService;
  artifacts: ArtifactService;
  checkpoints: CheckpointService;
  rounds: RoundService;
  endpoint: EndpointBackend;
  judges: JudgeService;
};

/**
 * Events are delivered through a hub whose listeners are attached later (the realtime layer
 * needs the services to exist before it can listen).
 */
export class EventHub {
  private listeners: Partial<DomainEvents>[] = [];
  readonly events: DomainEvents;
  constructor() {
    const fanOut =
      <K extends keyof DomainEvents>(k: K) =>
      (...args: Parameters<DomainEvents[K]>) => {
        for (const l of this.listeners) (l[k] as ((...a: Parameters<DomainEvents[K]>) => void) | undefined)?.(...args);
      };
    this.events = Object.fromEntries((Object.keys(noEvents) as (keyof DomainEvents)[]).map((k) => [k, fanOut(k)])) as unknown as DomainEvents;
  }
  attach(l: Partial<DomainEvents>): void {
    this.listeners.push(l);
  }
}

export function createServices(opts: { db: Db; sqlite: SQLite.Database; dataDir: string; clock?: Clock; events: DomainEvents; sessionDays?: number; random?: () => number; goldDraw?: () => number; jobLeaseSeconds?: number; heartbeatSeconds?: number; maxArtifactBytes?: number; fetchImpl?: typeof fetch }): Services {
  const clock = opts.clock ?? systemClock;
  const auth = new AuthService(opts.db, clock, opts.sessionDays ?? 14);
  const projects = new ProjectService(opts.db, clock, opts.events);
  const imports = new ImportService(opts.db, clock, projects, opts.events);
  const annotation = new AnnotationService(opts.db, clock, projects, opts.events, opts.random, opts.goldDraw, opts.sqlite);
  const quality = new QualityService(opts.db, projects, new JudgmentIndexRegistry(sqliteJudgmentSource(opts.sqlite)), opts.events);
  const exports = new ExportService(opts.db, clock, projects, quality, sqliteExportSource(opts.sqlite), opts.dataDir);
  const jobs = new JobService(opts.db, clock, projects, opts.events, opts.jobLeaseSeconds ?? 30, opts.heartbeatSeconds ?? 5);
  const artifacts = new ArtifactService(opts.db, clock, new LocalBlobStorage(path.join(opts.dataDir, "artifacts")), opts.maxArtifactBytes ?? 50 * 1024 ** 3);
  const checkpoints = new CheckpointService(opts.db, clock, projects);
  for (const kind of ["train_reward", "sft", "ppo"] as const) jobs.onComplete(kind, async (trx, job, outputs, result) => void (await checkpoints.registerFromJob(trx, job, outputs, result)));
  const generation = new GenerationService(clock, artifacts, opts.events);
  jobs.onComplete("generate", (trx, job, outputs) => generation.onGenerated(trx, job, outputs));
  const rounds = new RoundService(opts.db, clock, projects, jobs, checkpoints, exports, artifacts, opts.events);
  const endpoint = new EndpointBackend(opts.db, clock, projects, jobs, artifacts);
  const judges = new JudgeService(opts.db, clock, projects, jobs, artifacts, quality, opts.events, opts.fetchImpl);
  jobs.onComplete("judge", (trx, job, outputs) => judges.onJudgeJobCompleted(trx, job, outputs));
  return { auth, projects, imports, annotation, quality, exports, jobs, artifacts, checkpoints, rounds, endpoint, judges };
}
