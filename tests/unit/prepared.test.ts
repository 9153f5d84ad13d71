import { describe, expect, it } from "vitest";
import { migrateToLatest, openDb } from "../../server/db/database.ts";
import { param, prepareSync } from "../../server/db/prepared.ts";

describe("compiled-once queries", () => {
  it("substitute named values on each run and keep constants", async () => {
    const { db, sqlite } = openDb({ path: ":memory:" });
    await migrateToLatest(db);
    await db.insertInto("users").values([
      { email: "a@x", name: "a", password_hash: "h", role: "admin", created_at: 1, disabled_at: null },
      { email: "b@x", name: "b", password_hash: "h", role: "annotator", created_at: 2, disabled_at: null },
    ]).execute();
    const q = prepareSync<{ after: number }, { email: string }>(
      sqlite,
      db.selectFrom("users").select("email").where("created_at", ">", param<number>("after")).where("role", "!=", "researcher").orderBy("id"),
    );
    expect(q.all({ after: 0 }).map((r) => r.email)).toEqual(["a@x", "b@x"]);
    expect(q.all({ after: 1 }).map((r) => r.email)).toEqual(["b@x"]);
    expect(q.get({ after: 1 })?.email).toBe("b@x");
    expect(() => q.all({} as { after: number })).toThrow("missing value for after");
    const rename = prepareSync<{ name: string; email: string }, never>(sqlite, db.updateTable("users").set({ name: param<string>("name") }).where("email", "=", param<string>("email")));
    expect(rename.run({ name: "renamed", email: "a@x" }), "run returns the rows changed").toBe(1);
    expect(rename.run({ name: "x", email: "nobody@x" })).toBe(0);
    await db.destroy();
  });
});
