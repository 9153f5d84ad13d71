import { type Kysely } from "kysely";

// Frozen history: training rounds of the iterated RLHF loop.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("rounds")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("number", "integer", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("config", "text", (c) => c.notNull())
    .addColumn("steps", "text", (c) => c.notNull())
    .addColumn("champion_policy_id", "integer", (c) => c.references("checkpoints.id"))
    .addColumn("candidate_policy_id", "integer", (c) => c.references("checkpoints.id"))
    .addColumn("reward_checkpoint_id", "integer", (c) => c.references("checkpoints.id"))
    .addColumn("snapshot_artifact_id", "integer", (c) => c.references("artifacts.id"))
    .addColumn("snapshot_export_id", "integer", (c) => c.references("exports.id"))
    .addColumn("decision", "text")
    .addColumn("created_by", "integer", (c) => c.references("users.id"))
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addColumn("updated_at", "integer", (c) => c.notNull())
    .addColumn("finished_at", "integer")
    .addUniqueConstraint("rounds_project_number", ["project_id", "number"])
    .execute();
  await db.schema.createIndex("jobs_round").on("jobs").columns(["round_id"]).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("rounds").execute();
}
