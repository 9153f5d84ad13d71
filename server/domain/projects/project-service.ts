import { z } from "zod";
import { type HybridSettings, parseStoredHybrid } from "../judges/hybrid-settings.ts";
import { type Db, type Executor } from "../../db/database.ts";
import { type MemberRole, type Project } from "../../db/schema.ts";
import { type SessionUser } from "../auth/auth-service.ts";
import { type Clock } from "../shared/clock.ts";
import { DomainError, forbidden, notFound, validationError } from "../shared/errors.ts";
import { type DomainEvents } from "../shared/events.ts";
import { randomToken } from "../shared/hash.ts";
import { parseStoredScheme, type Scheme, schemeSchema } from "./scheme.ts";

export const qualitySettingsSchema = z
  .object({
    /** Share of assignments that are gold pairs (indistinguishable to annotators). */
    goldShare: z.number().min(0).max(0.5).default(0.1),
    /** Gold accuracy under which an annotator is flagged. */
    goldMinAccuracy: z.number().min(0).max(1).default(0.7),
    /** Gold judgments needed before an annotator can be flagged. */
    goldMinJudgments: z.number().int().min(1).max(1000).default(5),
    /** Pause flagged annotators automatically (they see a message instead of pairs). */
    pauseBelowGold: z.boolean().default(false),
    /** Judgments faster than this count as too fast. */
    tooFastMs: z.number().int().min(0).max(600_000).default(3000),
  })
  .strict();

export type QualitySettings = z.output<typeof qualitySettingsSchema>;

export const projectSettingsSchema = z
  .object({
    name: z.string().trim().min(1, "is required").max(200),
    guidelines: z.string().max(100_000).default(""),
    scheme: schemeSchema.default({}),
    judgmentsPerPair: z.number().int().min(1).max(100).default(3),
    leaseSeconds: z.number().int().min(30).max(86_400).default(600),
    quality: qualitySettingsSchema.default({}),
  })
  .strict();

export type ProjectSettingsInput = z.input<typeof projectSettingsSchema>;

export type ProjectView = {
  id: number;
  name: string;
  guidelines: string;
  scheme: Scheme;
  schemeVersion: number;
  judgmentsPerPair: number;
  leaseSeconds: number;
  quality: QualitySettings;
  hybrid: HybridSettings;
  createdAt: number;
  updatedAt: number;
};

export type Access = { project: ProjectView; memberRole: MemberRole | "admin"; paused: boolean };

export function toProjectView(p: Project): ProjectView {
  return {
    id: p.id,
    name: p.name,
    guidelines: p.guidelines,
    scheme: parseStoredScheme(p.scheme),
    schemeVersion: p.scheme_version,
    judgmentsPerPair: p.judgments_per_pair,
    leaseSeconds: p.lease_seconds,
    quality: qualitySettingsSchema.parse(JSON.parse(p.quality || "{}")),
    hybrid: parseStoredHybrid(p.hybrid),
    createdAt: p.created_at,
    updatedAt: p.updated_at,
  };
}

export const memberInputSchema = z.object({
  email: z.string().trim().toLowerCase().email(),
  role: z.enum(["researcher", "annotator"]),
});

const ACCESS_CACHE_MS = 5_000;

export class ProjectService {
  // Every annotation call checks access; projects and memberships change rarely, so they are
  // cached briefly in-process and dropped on every change made through this service.
  private projectCache = new Map<number, ProjectView>();
  private memberCache = new Map<string, { role: MemberRole | null; paused: boolean; at: number }>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly events: DomainEvents,
  ) {}

  async create(user: SessionUser, input: unknown): Promise<ProjectView> {
    if (user.role === "annotator") throw forbidden("Only researchers and admins can create projects");
    const parsed = projectSettingsSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error.issues);
    const s = parsed.data;
    const now = this.clock.now();
    const project = await this.db.transaction().execute(async (trx) => {
      const p = await trx
        .insertInto("projects")
        .values({
          name: s.name,
          guidelines: s.guidelines,
          scheme: JSON.stringify(s.scheme),
          scheme_version: 1,
          judgments_per_pair: s.judgmentsPerPair,
          lease_seconds: s.leaseSeconds,
          quality: JSON.stringify(s.quality),
          pseudonym_salt: randomToken(16),
          created_by: user.id,
          created_at: now,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await trx.insertInto("project_members").values({ project_id: p.id, user_id: user.id, role: "researcher", added_by: user.id, added_at: now }).execute();
      return p;
    });
    return toProjectView(project);
  }

  /** Settings changes bump the scheme version when the labeling scheme itself changed. */
  async update(user: SessionUser, projectId: number, input: unknown): Promise<ProjectView> {
    const { project } = await this.requireResearcher(user, projectId);
    const parsed = projectSettingsSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error.issues);
    const s = parsed.data;
    const schemeChanged = JSON.stringify(s.scheme) !== JSON.stringify(project.scheme);
    const row = await this.db
      .updateTable("projects")
      .set({
        name: s.name,
        guidelines: s.guidelines,
        scheme: JSON.stringify(s.scheme),
        scheme_version: project.schemeVersion + (schemeChanged ? 1 : 0),
        judgments_per_pair: s.judgmentsPerPair,
        lease_seconds: s.leaseSeconds,
        quality: JSON.stringify(s.quality),
        updated_at: this.clock.now(),
      })
      .where("id", "=", projectId)
      .returningAll()
      .executeTakeFirstOrThrow();
    this.projectCache.delete(projectId);
    this.events.progressChanged(projectId);
    return toProjectView(row);
  }

  /** Drops the cached project after a change made elsewhere (hybrid settings). */
  forgetProject(projectId: number): void {
    this.projectCache.delete(projectId);
  }

  async get(projectId: number, executor: Executor = this.db): Promise<ProjectView | undefined> {
    const hit = this.projectCache.get(projectId);
    if (hit) return hit;
    const p = await executor.selectFrom("projects").selectAll().where("id", "=", projectId).executeTakeFirst();
    if (!p) return undefined;
    const view = toProjectView(p);
    if (this.projectCache.size > 1000) this.projectCache.clear();
    this.projectCache.set(projectId, view);
    return view;
  }

  private async membership(projectId: number, userId: number, executor: Executor = this.db): Promise<{ role: MemberRole | null; paused: boolean }> {
    const key = `${projectId}:${userId}`;
    const now = this.clock.now();
    const hit = this.memberCache.get(key);
    if (hit && now - hit.at < ACCESS_CACHE_MS && now >= hit.at) return hit;
    const m = await executor
      .selectFrom("project_members")
      .select(["role", "paused_at"])
      .where("project_id", "=", projectId)
      .where("user_id", "=", userId)
      .executeTakeFirst();
    if (this.memberCache.size > 50_000) this.memberCache.clear();
    const entry = { role: m?.role ?? null, paused: m?.paused_at != null, at: now };
    this.memberCache.set(key, entry);
    return entry;
  }

  /** Drops a cached membership after a change made outside this service (the hot path's pause). */
  forgetMembership(projectId: number, userId: number): void {
    this.memberCache.delete(`${projectId}:${userId}`);
  }

  /** Quality control pauses (or resumes) an annotator in one project. */
  async setPaused(projectId: number, userId: number, paused: boolean, reason: string | null, executor: Executor = this.db): Promise<void> {
    await executor
      .updateTable("project_members")
      .set({ paused_at: paused ? this.clock.now() : null, pause_reason: paused ? reason : null })
      .where("project_id", "=", projectId)
      .where("user_id", "=", userId)
      .execute();
    this.memberCache.delete(`${projectId}:${userId}`);
  }

  async setPausedByResearcher(user: SessionUser, projectId: number, userId: number, paused: boolean): Promise<void> {
    await this.requireResearcher(user, projectId);
    const m = await this.db.selectFrom("project_members").select("user_id").where("project_id", "=", projectId).where("user_id", "=", userId).executeTakeFirst();
    if (!m) throw notFound("Member");
    await this.setPaused(projectId, userId, paused, paused ? "paused by a researcher" : null);
    this.events.membersChanged(projectId);
  }

  /** A stable per-project salt for pseudonymous annotator ids in exports. */
  async pseudonymSalt(projectId: number): Promise<string> {
    const row = await this.db.selectFrom("projects").select("pseudonym_salt").where("id", "=", projectId).executeTakeFirstOrThrow();
    if (row.pseudonym_salt) return row.pseudonym_salt;
    const salt = randomToken(16);
    await this.db.updateTable("projects").set({ pseudonym_salt: salt }).where("id", "=", projectId).where("pseudonym_salt", "is", null).execute();
    return (await this.db.selectFrom("projects").select("pseudonym_salt").where("id", "=", projectId).executeTakeFirstOrThrow()).pseudonym_salt!;
  }

  async listForUser(user: SessionUser): Promise<(ProjectView & { memberRole: MemberRole | "admin" })[]> {
    if (user.role === "admin") {
      const rows = await this.db.selectFrom("projects").selectAll().orderBy("id", "desc").execute();
      return rows.map((p) => ({ ...toProjectView(p), memberRole: "admin" as const }));
    }
    const rows = await this.db
      .selectFrom("projects")
      .innerJoin("project_members", "project_members.project_id", "projects.id")
      .selectAll("projects")
      .select("project_members.role as member_role")
      .where("project_members.user_id", "=", user.id)
      .orderBy("projects.id", "desc")
      .execute();
    return rows.map((p) => ({ ...toProjectView(p), memberRole: p.member_role }));
  }

  /**
   * Any member (or an admin) may see the project and annotate in it. Inside a transaction, pass
   * its executor: SQLite's single connection is held by the transaction.
   */
  async requireMember(user: SessionUser, projectId: number, executor: Executor = this.db): Promise<Access> {
    const project = await this.get(projectId, executor);
    if (!project) throw notFound("Project");
    if (user.role === "admin") return { project, memberRole: "admin", paused: false };
    const m = await this.membership(projectId, user.id, executor);
    // Non-members get 404, not 403: a project's existence is not theirs to learn.
    if (!m.role) throw notFound("Project");
    return { project, memberRole: m.role, paused: m.paused };
  }

  /** Settings, imports, members, progress details and raw judgments need a researcher. */
  async requireResearcher(user: SessionUser, projectId: number): Promise<Access> {
    const access = await this.requireMember(user, projectId);
    if (access.memberRole === "annotator") throw forbidden("Only the project's researchers can do this");
    return access;
  }

  async addMember(user: SessionUser, projectId: number, input: unknown): Promise<{ userId: number; role: MemberRole }> {
    await this.requireResearcher(user, projectId);
    const parsed = memberInputSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error.issues);
    const target = await this.db
      .selectFrom("users")
      .select(["id", "role"])
      .where("email", "=", parsed.data.email)
      .where("disabled_at", "is", null)
      .executeTakeFirst();
    if (!target) throw new DomainError("not_found", `No user with email ${parsed.data.email}; create the account first`);
    if (parsed.data.role === "researcher" && target.role === "annotator") {
      throw new DomainError("validation_failed", "An annotator account cannot be a project researcher", {
        fields: [{ path: "role", message: "annotator accounts can only join as annotator" }],
      });
    }
    await this.db
      .insertInto("project_members")
      .values({ project_id: projectId, user_id: target.id, role: parsed.data.role, added_by: user.id, added_at: this.clock.now() })
      .onConflict((oc) => oc.columns(["project_id", "user_id"]).doUpdateSet({ role: parsed.data.role }))
      .execute();
    this.memberCache.delete(`${projectId}:${target.id}`);
    this.events.membersChanged(projectId);
    return { userId: target.id, role: parsed.data.role };
  }

  async removeMember(user: SessionUser, projectId: number, userId: number): Promise<void> {
    await this.requireResearcher(user, projectId);
    const r = await this.db.deleteFrom("project_members").where("project_id", "=", projectId).where("user_id", "=", userId).executeTakeFirst();
    this.memberCache.delete(`${projectId}:${userId}`);
    if (Number(r.numDeletedRows) === 0) throw notFound("Member");
    this.events.membersChanged(projectId);
  }

  async listMembers(user: SessionUser, projectId: number) {
    await this.requireResearcher(user, projectId);
    return this.db
      .selectFrom("project_members")
      .innerJoin("users", "users.id", "project_members.user_id")
      .select(["users.id", "users.email", "users.name", "project_members.role", "project_members.added_at", "project_members.paused_at", "project_members.pause_reason"])
      .where("project_members.project_id", "=", projectId)
      .orderBy("project_members.role")
      .orderBy("users.email")
      .execute();
  }
}
