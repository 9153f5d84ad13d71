import { z } from "zod";
import { type Db } from "../../db/database.ts";
import { type Role, type User } from "../../db/schema.ts";
import { type Clock } from "../shared/clock.ts";
import { DomainError, notFound, validationError } from "../shared/errors.ts";
import { randomToken, sha256 } from "../shared/hash.ts";
import { hashPassword, verifyPassword } from "./passwords.ts";

export const roleSchema = z.enum(["admin", "researcher", "annotator"]);

export const newUserSchema = z.object({
  email: z.string().trim().toLowerCase().email().max(320),
  password: z.string().min(8, "must be at least 8 characters").max(200),
  role: roleSchema,
  name: z.string().trim().min(1).max(100).optional(),
});

export type SessionUser = Pick<User, "id" | "email" | "name" | "role">;

const TOKEN_PREFIX = "pw_";
const LAST_USED_RESOLUTION_MS = 60_000;

const TOKEN_CACHE_MS = 10_000;

export class AuthService {
  // Bearer tokens are checked on every API call; a short cache (dropped on revoke) saves a join.
  private tokenCache = new Map<string, { user: SessionUser; tokenId: number; at: number }>();
  // A dummy hash so a login for an unknown email costs the same as a wrong password.
  private dummyHash: Promise<string> | null = null;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly sessionDays: number,
  ) {}

  async createUser(input: z.input<typeof newUserSchema>): Promise<SessionUser> {
    const parsed = newUserSchema.safeParse(input);
    if (!parsed.success) throw validationError(parsed.error.issues);
    const { email, password, role } = parsed.data;
    const existing = await this.db.selectFrom("users").select("id").where("email", "=", email).executeTakeFirst();
    if (existing) throw new DomainError("conflict", `A user with email ${email} already exists`);
    const row = await this.db
      .insertInto("users")
      .values({
        email,
        name: parsed.data.name ?? email.split("@")[0]!,
        password_hash: await hashPassword(password),
        role,
        created_at: this.clock.now(),
        disabled_at: null,
      })
      .returning(["id", "email", "name", "role"])
      .executeTakeFirstOrThrow();
    return row;
  }

  async findUserByEmail(email: string): Promise<SessionUser | undefined> {
    return this.db
      .selectFrom("users")
      .select(["id", "email", "name", "role"])
      .where("email", "=", email.trim().toLowerCase())
      .where("disabled_at", "is", null)
      .executeTakeFirst();
  }

  /** People only: AI judges' own users (docs/decisions/007) are not listed. */
  async listUsers(): Promise<SessionUser[]> {
    return this.db.selectFrom("users").select(["id", "email", "name", "role"]).where("email", "not like", "%@judges.invalid").orderBy("id").execute();
  }

  async userCount(): Promise<number> {
    const r = await this.db.selectFrom("users").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Returns the user for a correct email and password, or null (never says which was wrong). */
  async verifyLogin(email: string, password: string): Promise<SessionUser | null> {
    const row = await this.db
      .selectFrom("users")
      .select(["id", "email", "name", "role", "password_hash"])
      .where("email", "=", email.trim().toLowerCase())
      .where("disabled_at", "is", null)
      .executeTakeFirst();
    if (!row) {
      this.dummyHash ??= hashPassword("not-a-password");
      await verifyPassword(password, await this.dummyHash);
      return null;
    }
    if (!(await verifyPassword(password, row.password_hash))) return null;
    return { id: row.id, email: row.email, name: row.name, role: row.role };
  }

  async createSession(userId: number): Promise<{ token: string; expiresAt: number }> {
    const token = randomToken();
    const now = this.clock.now();
    const expiresAt = now + this.sessionDays * 86_400_000;
    await this.db.insertInto("sessions").values({ token_hash: sha256(token), user_id: userId, created_at: now, expires_at: expiresAt }).execute();
    return { token, expiresAt };
  }

  async userForSession(token: string | undefined): Promise<SessionUser | null> {
    if (!token) return null;
    const row = await this.db
      .selectFrom("sessions")
      .innerJoin("users", "users.id", "sessions.user_id")
      .select(["users.id", "users.email", "users.name", "users.role", "sessions.expires_at"])
      .where("sessions.token_hash", "=", sha256(token))
      .where("users.disabled_at", "is", null)
      .executeTakeFirst();
    if (!row || row.expires_at <= this.clock.now()) return null;
    return { id: row.id, email: row.email, name: row.name, role: row.role };
  }

  async deleteSession(token: string): Promise<void> {
    await this.db.deleteFrom("sessions").where("token_hash", "=", sha256(token)).execute();
  }

  /** Creates a personal API token; the plain value is returned once and only its hash is kept. */
  async createToken(userId: number, name = "default"): Promise<{ id: number; token: string; prefix: string }> {
    const cleanName = z.string().trim().min(1).max(100).safeParse(name);
    if (!cleanName.success) throw validationError(cleanName.error.issues.map((i) => ({ ...i, path: ["name"] })));
    const token = TOKEN_PREFIX + randomToken();
    const prefix = token.slice(0, 10);
    const row = await this.db
      .insertInto("api_tokens")
      .values({ user_id: userId, name: cleanName.data, prefix, token_hash: sha256(token), created_at: this.clock.now(), last_used_at: null, revoked_at: null })
      .returning("id")
      .executeTakeFirstOrThrow();
    return { id: row.id, token, prefix };
  }

  async createTokenForEmail(email: string, name?: string): Promise<{ id: number; token: string; prefix: string }> {
    const user = await this.findUserByEmail(email);
    if (!user) throw notFound(`User ${email}`);
    return this.createToken(user.id, name);
  }

  async listTokens(userId: number) {
    return this.db
      .selectFrom("api_tokens")
      .select(["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"])
      .where("user_id", "=", userId)
      .orderBy("id", "desc")
      .execute();
  }

  async revokeToken(userId: number, tokenId: number): Promise<void> {
    const r = await this.db
      .updateTable("api_tokens")
      .set({ revoked_at: this.clock.now() })
      .where("id", "=", tokenId)
      .where("user_id", "=", userId)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw notFound("Token");
    for (const [k, v] of this.tokenCache) if (v.tokenId === tokenId) this.tokenCache.delete(k);
  }

  async userForToken(token: string): Promise<SessionUser | null> {
    if (!token.startsWith(TOKEN_PREFIX)) return null;
    const hash = sha256(token);
    const now = this.clock.now();
    const cached = this.tokenCache.get(hash);
    if (cached && now - cached.at < TOKEN_CACHE_MS) return cached.user;
    const row = await this.db
      .selectFrom("api_tokens")
      .innerJoin("users", "users.id", "api_tokens.user_id")
      .select(["users.id", "users.email", "users.name", "users.role", "api_tokens.id as token_id", "api_tokens.last_used_at"])
      .where("api_tokens.token_hash", "=", hash)
      .where("api_tokens.revoked_at", "is", null)
      .where("users.disabled_at", "is", null)
      .executeTakeFirst();
    if (!row) {
      this.tokenCache.delete(hash);
      return null;
    }
    // Coarse last-used stamp: one write a minute per token, not one per request.
    if (row.last_used_at === null || now - row.last_used_at > LAST_USED_RESOLUTION_MS) {
      await this.db.updateTable("api_tokens").set({ last_used_at: now }).where("id", "=", row.token_id).execute();
    }
    const user = { id: row.id, email: row.email, name: row.name, role: row.role as Role };
    if (this.tokenCache.size > 10_000) this.tokenCache.clear();
    this.tokenCache.set(hash, { user, tokenId: row.token_id, at: now });
    return user;
  }
}
