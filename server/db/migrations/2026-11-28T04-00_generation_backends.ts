import { type Kysely } from "kysely";

// Frozen history: per-project generation backend settings and server-side secrets.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("projects").addColumn("generation", "text", (c) => c.notNull().defaultTo("{}")).execute();
  await db.schema
    .createTable("project_secrets")
    .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("value", "text", (c) => c.notNull())
    .addColumn("updated_at", "integer", (c) => c.notNull())
    .addPrimaryKeyConstraint("project_secrets_pk", ["project_id", "name"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("project_secrets").execute();
}
