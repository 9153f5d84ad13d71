import { type Kysely } from "kysely";

// Frozen history: workers, jobs with metrics and logs, content-addressed artifacts, checkpoints.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("workers")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("token_hash", "text", (c) => c.notNull().unique())
    .addColumn("capabilities", "text", (c) => c.notNull().defaultTo("{}"))
    .addColumn("created_by", "integer", (c) => c.references("users.id"))
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addColumn("last_seen_at", "integer")
    .addColumn("revoked_at", "integer")
    .execute();

  await db.schema
    .createTable("artifacts")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("sha256", "text", (c) => c.notNull().unique())
    .addColumn("size", "integer", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("storage_key", "text", (c) => c.notNull())
    .addColumn("created_at", "integer", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("jobs")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("round_id", "integer")
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("params", "text", (c) => c.notNull())
    .addColumn("inputs", "text", (c) => c.notNull().defaultTo("{}"))
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("progress_step", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("progress_total", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("max_attempts", "integer", (c) => c.notNull().defaultTo(3))
    .addColumn("worker_id", "integer", (c) => c.references("workers.id"))
    .addColumn("lease_expires_at", "integer")
    .addColumn("cancel_requested", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("resume_artifact_id", "integer", (c) => c.references("artifacts.id"))
    .addColumn("resume_step", "integer")
    .addColumn("outputs", "text")
    .addColumn("result", "text")
    .addColumn("error", "text")
    .addColumn("created_by", "integer", (c) => c.references("users.id"))
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addColumn("started_at", "integer")
    .addColumn("finished_at", "integer")
    .addColumn("updated_at", "integer", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("jobs_queue").on("jobs").columns(["status", "id"]).execute();
  await db.schema.createIndex("jobs_lease").on("jobs").columns(["status", "lease_expires_at"]).execute();
  await db.schema.createIndex("jobs_project").on("jobs").columns(["project_id", "id"]).execute();

  await db.schema
    .createTable("job_metrics")
    .addColumn("job_id", "integer", (c) => c.notNull().references("jobs.id").onDelete("cascade"))
    .addColumn("step", "integer", (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("value", "real", (c) => c.notNull())
    .addColumn("attempt", "integer", (c) => c.notNull())
    .addColumn("created_at", "integer", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("job_metrics_job").on("job_metrics").columns(["job_id", "name", "step"]).execute();

  await db.schema
    .createTable("job_logs")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("job_id", "integer", (c) => c.notNull().references("jobs.id").onDelete("cascade"))
    .addColumn("line", "text", (c) => c.notNull())
    .addColumn("created_at", "integer", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("job_logs_job").on("job_logs").columns(["job_id", "id"]).execute();

  await db.schema
    .createTable("checkpoints")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("parent_id", "integer", (c) => c.references("checkpoints.id"))
    .addColumn("job_id", "integer", (c) => c.references("jobs.id"))
    .addColumn("artifact_id", "integer", (c) => c.references("artifacts.id"))
    .addColumn("model_ref", "text")
    .addColumn("dataset_artifact_id", "integer", (c) => c.references("artifacts.id"))
    .addColumn("dataset_export_id", "integer", (c) => c.references("exports.id"))
    .addColumn("hyperparams", "text", (c) => c.notNull().defaultTo("{}"))
    .addColumn("metrics", "text", (c) => c.notNull().defaultTo("{}"))
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addColumn("state_changed_at", "integer", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("checkpoints_project").on("checkpoints").columns(["project_id", "kind", "state"]).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ["checkpoints", "job_logs", "job_metrics", "jobs", "artifacts", "workers"]) await db.schema.dropTable(t).execute();
}
