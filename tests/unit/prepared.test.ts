import { describe, expect, it } from "vitest";
import { migrateToLatest, openDb } from "../../server/db/database.ts";
import { param, prepareQuery } from "../../server/db/prepared.ts";

describe("prepared queries", () => {
  it("substitutes named values on each run and keeps constants", async () => {
    const { db } = openDb({ path: ":memory:" });
    await migrateToLatest(db);
    await db.insertInto("users").values([
      { email: "a@x", name: "a", password_hash: "h", role: "admin", created_at: 1, disabled_at: null },
      { email: "b@x", name: "b", password_hash: "h", role: "annotator", created_at: 2, disabled_at: null },
    ]).execute();
    const q = prepareQuery<{ after: number }, { email: string }>(
      db.selectFrom("users").select("email").where("created_at", ">", param<number>("after")).where("role", "!=", "researcher").orderBy("id"),
    );
    expect((await q.all(db, { after: 0 })).map((r) => r.email)).toEqual(["a@x", "b@x"]);
    expect((await q.all(db, { after: 1 })).map((r) => r.email)).toEqual(["b@x"]);
    await expect(q.all(db, {} as { after: number })).rejects.toThrow("missing value for after");
    await db.destroy();
  });
});
