import type SQLite from "better-sqlite3";
import { type Db } from "./db/database.ts";
import { sqliteExportSource, sqliteJudgmentSource } from "./db/judgment-source.ts";
import { ExportService } from "./domain/exports/export-service.ts";
import { JudgmentIndexRegistry } from "./domain/quality/judgment-index.ts";
import { QualityService } from "./domain/quality/quality-service.ts";
import { AnnotationService } from "./domain/annotation/annotation-service.ts";
import { AuthService } from "./domain/auth/auth-service.ts";
import { ImportService } from "./domain/imports/import-service.ts";
import { ProjectService } from "./domain/projects/project-service.ts";
import { type Clock, systemClock } from "./domain/shared/clock.ts";
import { type DomainEvents } from "./domain/shared/events.ts";

export type Services = {
  auth: AuthService;
  projects: ProjectService;
  imports: ImportService;
  annotation: AnnotationService;
  quality: QualityService;
  exports: ExportService;
};

/**
 * Events are delivered through a hub whose listeners are attached later (the realtime layer
 * needs the services to exist before it can listen).
 */
export class EventHub implements DomainEvents {
  private listeners: DomainEvents[] = [];
  attach(l: DomainEvents): void {
    this.listeners.push(l);
  }
  judgmentCreated(e: Parameters<DomainEvents["judgmentCreated"]>[0]): void {
    for (const l of this.listeners) l.judgmentCreated(e);
  }
  pairsImported(e: Parameters<DomainEvents["pairsImported"]>[0]): void {
    for (const l of this.listeners) l.pairsImported(e);
  }
  progressChanged(projectId: number): void {
    for (const l of this.listeners) l.progressChanged(projectId);
  }
  membersChanged(projectId: number): void {
    for (const l of this.listeners) l.membersChanged(projectId);
  }
}

export function createServices(opts: { db: Db; sqlite: SQLite.Database; dataDir: string; clock?: Clock; events: DomainEvents; sessionDays?: number; random?: () => number; goldDraw?: () => number }): Services {
  const clock = opts.clock ?? systemClock;
  const auth = new AuthService(opts.db, clock, opts.sessionDays ?? 14);
  const projects = new ProjectService(opts.db, clock, opts.events);
  const imports = new ImportService(opts.db, clock, projects, opts.events);
  const annotation = new AnnotationService(opts.db, clock, projects, opts.events, opts.random, opts.goldDraw);
  const quality = new QualityService(opts.db, projects, new JudgmentIndexRegistry(sqliteJudgmentSource(opts.sqlite)), opts.events);
  const exports = new ExportService(opts.db, clock, projects, quality, sqliteExportSource(opts.sqlite), opts.dataDir);
  return { auth, projects, imports, annotation, quality, exports };
}
