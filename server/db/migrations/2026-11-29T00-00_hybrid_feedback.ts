import { type Kysely, sql } from "kysely";

// Frozen history: AI judges and their verdicts, routing and active-learning state on pairs,
// assist and strategy on assignments, AI provenance on judgments, and rewrites.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("projects").addColumn("hybrid", "text", (c) => c.notNull().defaultTo("{}")).execute();

  // route: who labels the pair (human | ai | audit | known); priority: expected information for
  // the human queue; rand_key: a fixed random order for the unbiased share of the queue.
  await db.schema.alterTable("pairs").addColumn("route", "text", (c) => c.notNull().defaultTo("human")).execute();
  await db.schema.alterTable("pairs").addColumn("priority", "real", (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable("pairs").addColumn("priority_strategy", "text").execute();
  await db.schema.alterTable("pairs").addColumn("rand_key", "real", (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable("pairs").addColumn("derived_from", "integer").execute();
  await sql`UPDATE pairs SET rand_key = (abs(random()) % 1000000007) / 1000000007.0`.execute(db);
  await sql`DROP INDEX IF EXISTS pairs_queue`.execute(db);
  await sql`CREATE INDEX pairs_queue_priority ON pairs (project_id, claimed DESC, priority DESC, id ASC)`.execute(db);
  await sql`CREATE INDEX pairs_queue_random ON pairs (project_id, claimed DESC, rand_key ASC)`.execute(db);
  await sql`CREATE INDEX pairs_route ON pairs (project_id, route, judged)`.execute(db);

  await db.schema.alterTable("assignments").addColumn("strategy", "text").execute();
  await db.schema.alterTable("assignments").addColumn("assist", "text").execute();

  await db.schema.alterTable("judgments").addColumn("judge_id", "integer").execute();
  await db.schema.alterTable("judgments").addColumn("judge_version", "integer").execute();
  await db.schema.alterTable("judgments").addColumn("confidence", "real").execute();

  await db.schema
    .createTable("judges")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("version", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("config", "text", (c) => c.notNull())
    .addColumn("bot_user_id", "integer", (c) => c.notNull().references("users.id"))
    .addColumn("enabled", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("created_by", "integer")
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addColumn("updated_at", "integer", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("judges_project").on("judges").columns(["project_id", "id"]).execute();

  await db.schema
    .createTable("judge_verdicts")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("pair_id", "integer", (c) => c.notNull().references("pairs.id").onDelete("cascade"))
    .addColumn("judge_id", "integer", (c) => c.notNull().references("judges.id").onDelete("cascade"))
    .addColumn("judge_version", "integer", (c) => c.notNull())
    .addColumn("p_a", "real")
    .addColumn("choice", "text")
    .addColumn("confidence", "real")
    .addColumn("consistent", "integer")
    .addColumn("members", "text")
    .addColumn("raw_output", "text", (c) => c.notNull())
    .addColumn("job_id", "integer")
    .addColumn("created_at", "integer", (c) => c.notNull())
    .addUniqueConstraint("judge_verdicts_once", ["judge_id", "judge_version", "pair_id"])
    .execute();
  await db.schema.createIndex("judge_verdicts_pair").on("judge_verdicts").columns(["project_id", "pair_id"]).execute();

  await db.schema
    .createTable("rewrites")
    .addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
    .addColumn("project_id", "integer", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("pair_id", "integer", (c) => c.notNull().references("pairs.id").onDelete("cascade"))
    .addColumn("judgment_id", "integer", (c) => c.notNull().references("judgments.id"))
    .addColumn("annotator_id", "integer", (c) => c.notNull().references("users.id"))
    .addColumn("side", "text", (c) => c.notNull())
    .addColumn("original", "text", (c) => c.notNull())
    .addColumn("rewrite", "text", (c) => c.notNull())
    .addColumn("derived_pair_id", "integer")
    .addColumn("created_at", "integer", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("rewrites_project").on("rewrites").columns(["project_id", "id"]).execute();
  await db.schema.createIndex("rewrites_judgment").on("rewrites").column("judgment_id").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("rewrites").execute();
  await db.schema.dropTable("judge_verdicts").execute();
  await db.schema.dropTable("judges").execute();
}
