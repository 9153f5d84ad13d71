import { type Kysely, sql } from "kysely";

// Frozen history: never edit after it has shipped; add a new dated file instead.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("users")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("email", "text", (c) => c.notNull().unique())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("password_hash", "text", (c) => c.notNull())
    .addColumn("role", "text", (c) => c.notNull())
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addColumn("disabled_at", "integer")
    .execute();

  await db.schema
    .createTable("sessions")
    .addColumn("token_hash", "text", (c) => c.primaryKey())
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addColumn("expires_at", "integer", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("sessions_user").on("sessions").column("user_id").execute();

  await db.schema
    .createTable("api_tokens")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("prefix", "text", (c) => c.notNull())
    .addColumn("token_hash", "text", (c) => c.notNull().unique())
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addColumn("last_used_at", "integer")
    .addColumn("revoked_at", "integer")
    .execute();

  await db.schema
    .createTable("projects")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("guidelines", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("scheme", "text", (c) => c.notNull())
    .addColumn("scheme_version", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("judgments_per_pair", "integer", (c) => c.notNull().defaultTo(3))
    .addColumn("lease_seconds", "integer", (c) => c.notNull().defaultTo(600))
    .addColumn("created_by", "integer", (c) => c.notNull().references("users.id"))
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addColumn("updated_at", "integer", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("project_members")
    .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("role", "text", (c) => c.notNull())
    .addColumn("added_by", "integer", (c) => c.references("users.id"))
    .addColumn("added_at", "integer", (c) => c.notNull())
    .addPrimaryKeyConstraint("project_members_pk", ["project_id", "user_id"])
    .execute();
  await db.schema.createIndex("project_members_user").on("project_members").column("user_id").execute();

  await db.schema
    .createTable("imports")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("format", "text", (c) => c.notNull())
    .addColumn("filename", "text")
    .addColumn("imported", "integer", (c) => c.notNull())
    .addColumn("duplicates", "integer", (c) => c.notNull())
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id"))
    .addColumn("created_at", "integer", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("prompts")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("prompt", "text", (c) => c.notNull())
    .addColumn("metadata", "text")
    .addColumn("content_hash", "text", (c) => c.notNull())
    .addColumn("import_id", "integer", (c) => c.references("imports.id"))
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addUniqueConstraint("prompts_project_hash", ["project_id", "content_hash"])
    .execute();

  await db.schema
    .createTable("pairs")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("prompt", "text", (c) => c.notNull())
    .addColumn("response_a", "text", (c) => c.notNull())
    .addColumn("response_b", "text", (c) => c.notNull())
    .addColumn("model_a", "text")
    .addColumn("model_b", "text")
    .addColumn("checkpoint_a", "integer")
    .addColumn("checkpoint_b", "integer")
    .addColumn("metadata", "text")
    .addColumn("reference", "text")
    .addColumn("content_hash", "text", (c) => c.notNull())
    .addColumn("import_id", "integer", (c) => c.references("imports.id"))
    .addColumn("created_at", "integer", (c) => c.notNull())
    // claimed = judged assignments + active leases; the assignment rule keeps it <= target.
    .addColumn("claimed", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("judged", "integer", (c) => c.notNull().defaultTo(0))
    .addUniqueConstraint("pairs_project_hash", ["project_id", "content_hash"])
    .execute();
  // Serves "closest to completion first" as one ordered index walk.
  await sql`CREATE INDEX pairs_queue ON pairs (project_id, claimed DESC, id ASC)`.execute(db);
  await db.schema.createIndex("pairs_progress").on("pairs").columns(["project_id", "judged"]).execute();

  await db.schema
    .createTable("assignments")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("pair_id", "integer", (c) => c.notNull().references("pairs.id").onDelete("cascade"))
    .addColumn("annotator_id", "integer", (c) => c.notNull().references("users.id"))
    .addColumn("left_is_a", "integer", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addColumn("expires_at", "integer", (c) => c.notNull())
    .addColumn("finished_at", "integer")
    .addColumn("skip_reason", "text")
    .execute();
  await db.schema.createIndex("assignments_annotator_pair").on("assignments").columns(["annotator_id", "pair_id"]).execute();
  await db.schema
    .createIndex("assignments_annotator_active")
    .on("assignments")
    .columns(["annotator_id", "project_id", "status", "id"])
    .execute();
  await db.schema.createIndex("assignments_expiry").on("assignments").columns(["status", "expires_at"]).execute();

  await db.schema
    .createTable("judgments")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("pair_id", "integer", (c) => c.notNull().references("pairs.id").onDelete("cascade"))
    .addColumn("assignment_id", "integer", (c) => c.notNull().references("assignments.id"))
    .addColumn("annotator_id", "integer", (c) => c.notNull().references("users.id"))
    .addColumn("source", "text", (c) => c.notNull().defaultTo("human"))
    .addColumn("choice", "text", (c) => c.notNull())
    .addColumn("choice_shown", "text", (c) => c.notNull())
    .addColumn("left_is_a", "integer", (c) => c.notNull())
    .addColumn("strength", "integer")
    .addColumn("criteria", "text")
    .addColumn("rationale", "text")
    .addColumn("flags", "text")
    .addColumn("time_on_task_ms", "integer")
    .addColumn("idempotency_key", "text", (c) => c.notNull())
    .addColumn("supersedes_id", "integer", (c) => c.references("judgments.id"))
    .addColumn("scheme_version", "integer", (c) => c.notNull())
    .addColumn("model_a", "text")
    .addColumn("model_b", "text")
    .addColumn("checkpoint_a", "integer")
    .addColumn("checkpoint_b", "integer")
    .addColumn("response_a_sha256", "text", (c) => c.notNull())
    .addColumn("response_b_sha256", "text", (c) => c.notNull())
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addUniqueConstraint("judgments_idempotency", ["annotator_id", "idempotency_key"])
    .execute();
  await db.schema.createIndex("judgments_project_time").on("judgments").columns(["project_id", "created_at"]).execute();
  await db.schema.createIndex("judgments_pair").on("judgments").column("pair_id").execute();
  await db.schema.createIndex("judgments_assignment").on("judgments").column("assignment_id").execute();
  await db.schema.createIndex("judgments_supersedes").on("judgments").column("supersedes_id").execute();
  await db.schema
    .createIndex("judgments_annotator_time")
    .on("judgments")
    .columns(["annotator_id", "project_id", "created_at"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ["judgments", "assignments", "pairs", "prompts", "imports", "project_members", "projects", "api_tokens", "sessions", "users"]) {
    await db.schema.dropTable(t).execute();
  }
}
