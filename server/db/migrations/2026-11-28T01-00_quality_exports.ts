import { type Kysely } from "kysely";

// Frozen history: gold pairs, quality settings, paused members, export history.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("pairs").addColumn("gold", "integer", (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable("pairs").addColumn("round_id", "integer").execute();
  await db.schema.createIndex("pairs_gold").on("pairs").columns(["project_id", "gold", "judged", "id"]).execute();
  await db.schema.alterTable("projects").addColumn("quality", "text", (c) => c.notNull().defaultTo("{}")).execute();
  await db.schema.alterTable("projects").addColumn("pseudonym_salt", "text").execute();
  await db.schema.alterTable("project_members").addColumn("paused_at", "integer").execute();
  await db.schema.alterTable("project_members").addColumn("pause_reason", "text").execute();
  await db.schema.alterTable("assignments").addColumn("gold", "integer", (c) => c.notNull().defaultTo(0)).execute();
  await db.schema
    .createTable("exports")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("format", "text", (c) => c.notNull())
    .addColumn("filters", "text", (c) => c.notNull())
    .addColumn("manifest", "text", (c) => c.notNull())
    .addColumn("sha256", "text", (c) => c.notNull())
    .addColumn("rows", "integer", (c) => c.notNull())
    .addColumn("bytes", "integer", (c) => c.notNull())
    .addColumn("path", "text", (c) => c.notNull())
    .addColumn("user_id", "integer", (c) => c.notNull().references("users.id"))
    .addColumn("created_at", "integer", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("exports_project").on("exports").columns(["project_id", "id"]).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("exports").execute();
}
