import { z } from "zod";
import { type Db } from "../../db/database.ts";
import { type SessionUser } from "../auth/auth-service.ts";
import { type Content } from "../imports/records.ts";
import { type ArtifactService } from "../jobs/artifact-store.ts";
import { type JobService, type JobView } from "../jobs/job-service.ts";
import { type ProjectService } from "../projects/project-service.ts";
import { type Clock } from "../shared/clock.ts";
import { DomainError, validationError } from "../shared/errors.ts";

/** Per-project generation backend: the worker (a checkpoint) or any OpenAI-compatible API. */
export const generationSettingsSchema = z
  .object({
    backend: z.enum(["worker", "openai"]).default("worker"),
    base_url: z.string().url().max(500).optional(),
    model: z.string().trim().min(1).max(200).optional(),
    api: z.enum(["chat", "completions"]).default("chat"),
    /** Write-only: stored server-side, never returned. Send "" to clear, omit to keep. */
    api_key: z.string().max(500).optional(),
  })
  .strict()
  .refine((g) => g.backend === "worker" || (g.base_url && g.model), { message: "an OpenAI-compatible backend needs base_url and model", path: ["base_url"] });

export type GenerationSettingsView = { backend: "worker" | "openai"; base_url: string | null; model: string | null; api: "chat" | "completions"; has_api_key: boolean };

export const generateRequestSchema = z
  .object({
    prompts: z.array(z.union([z.string().min(1), z.array(z.object({ role: z.enum(["system", "user", "assistant", "tool"]), content: z.string() }).strict()).min(1)])).min(1).max(5000).optional(),
    /** Without explicit prompts: this many of the project's imported prompts. */
    num_prompts: z.number().int().min(1).max(5000).default(20),
    temperature: z.number().min(0).max(2).default(0.9),
    top_p: z.number().gt(0).max(1).default(1),
    max_new_tokens: z.number().int().min(1).max(8192).default(256),
    seed: z.number().int().min(0).default(0),
  })
  .strict();

const REQUEST_TIMEOUT_MS = 120_000;

/**
 * Generates comparison pairs (two samples per prompt) from a remote OpenAI-compatible endpoint
 * (vLLM, TGI, Ollama, a hosted API). The key stays on the server: it is read here, sent only to
 * the configured base URL, and never returned by any API.
 */
export class EndpointBackend {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly projects: ProjectService,
    private readonly jobs: JobService,
    private readonly artifacts: ArtifactService,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async settings(user: SessionUser, projectId: number): Promise<GenerationSettingsView> {
    await this.projects.requireResearcher(user, projectId);
    return this.view(projectId);
  }

  private async view(projectId: number): Promise<GenerationSettingsView> {
    const p = await this.db.selectFrom("projects").select("generation").where("id", "=", projectId).executeTakeFirstOrThrow();
    const g = JSON.parse(p.generation || "{}") as { backend?: "worker" | "openai"; base_url?: string; model?: string; api?: "chat" | "completions" };
    const key = await this.db.selectFrom("project_secrets").select("name").where("project_id", "=", projectId).where("name", "=", "generation_api_key").executeTakeFirst();
    return { backend: g.backend ?? "worker", base_url: g.base_url ?? null, model: g.model ?? null, api: g.api ?? "chat", has_api_key: !!key };
  }

  async updateSettings(user: SessionUser, projectId: number, body: unknown): Promise<GenerationSettingsView> {
    await this.projects.requireResearcher(user, projectId);
    const parsed = generationSettingsSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error.issues);
    const { api_key, ...rest } = parsed.data;
    const now = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable("projects").set({ generation: JSON.stringify(rest), updated_at: now }).where("id", "=", projectId).execute();
      if (api_key === "") await trx.deleteFrom("project_secrets").where("project_id", "=", projectId).where("name", "=", "generation_api_key").execute();
      else if (api_key !== undefined) {
        await trx
          .insertInto("project_secrets")
          .values({ project_id: projectId, name: "generation_api_key", value: api_key, updated_at: now })
          .onConflict((oc) => oc.columns(["project_id", "name"]).doUpdateSet({ value: api_key, updated_at: now }))
          .execute();
      }
    });
    return this.view(projectId);
  }

  /** Queues a generate job that the server runs against the endpoint; returns at once. */
  async generate(user: SessionUser, projectId: number, body: unknown): Promise<JobView> {
    await this.projects.requireResearcher(user, projectId);
    const parsed = generateRequestSchema.safeParse(body ?? {});
    if (!parsed.success) throw validationError(parsed.error.issues);
    const settings = await this.view(projectId);
    if (settings.backend !== "openai") throw new DomainError("conflict", "This project generates with its workers; set an OpenAI-compatible backend first, or start a generate job for a checkpoint");
    let prompts = parsed.data.prompts as Content[] | undefined;
    if (!prompts) {
      const rows = await this.db.selectFrom("prompts").select("prompt").where("project_id", "=", projectId).orderBy("id").limit(parsed.data.num_prompts).execute();
      if (!rows.length) throw new DomainError("conflict", "The project has no prompts; import prompts or pass them in the request");
      prompts = rows.map((r) => JSON.parse(r.prompt) as Content);
    }
    const { prompts: _omit, ...sampling } = parsed.data;
    const jobId = await this.jobs.create(projectId, {
      kind: "generate",
      createdBy: user.id,
      params: { backend: "openai", mode: "self", purpose: "endpoint", model_a_name: settings.model, model_b_name: settings.model, prompts, ...sampling },
    });
    void this.jobs.runInProcess(jobId, (job, heartbeat) => this.run(projectId, JSON.parse(job.params) as { prompts: Content[] } & typeof sampling, heartbeat));
    return (await this.jobs.view(jobId))!;
  }

  private async run(projectId: number, params: { prompts: Content[]; temperature: number; top_p: number; max_new_tokens: number; seed: number }, heartbeat: (step: number, total: number, log?: string) => Promise<void>) {
    const settings = await this.view(projectId);
    const key = await this.db.selectFrom("project_secrets").select("value").where("project_id", "=", projectId).where("name", "=", "generation_api_key").executeTakeFirst();
    const lines: string[] = [];
    for (const [i, prompt] of params.prompts.entries()) {
      const [a, b] = await Promise.all([0, 1].map((k) => this.complete(settings, key?.value ?? null, prompt, { ...params, seed: params.seed + 2 * i + k })));
      lines.push(JSON.stringify({ prompt, response_a: a, response_b: b, model_a: settings.model, model_b: settings.model }));
      await heartbeat(i + 1, params.prompts.length);
    }
    const art = await this.artifacts.putBuffer(Buffer.from(`${lines.join("\n")}\n`), { name: "generations.jsonl", kind: "generations" });
    return { outputs: { generations: art.artifact_id }, result: { count: lines.length } };
  }

  private async complete(settings: GenerationSettingsView, key: string | null, prompt: Content, p: { temperature: number; top_p: number; max_new_tokens: number; seed: number }): Promise<string> {
    const base = settings.base_url!.replace(/\/+$/, "");
    const chat = settings.api === "chat";
    const url = `${base}/${chat ? "chat/completions" : "completions"}`;
    const body = chat
      ? { model: settings.model, messages: typeof prompt === "string" ? [{ role: "user", content: prompt }] : prompt, temperature: p.temperature, top_p: p.top_p, max_tokens: p.max_new_tokens, seed: p.seed }
      : { model: settings.model, prompt: typeof prompt === "string" ? prompt : prompt.map((m) => `${m.role}: ${m.content}`).join("\n"), temperature: p.temperature, top_p: p.top_p, max_tokens: p.max_new_tokens, seed: p.seed };
    const res = await this.fetchImpl(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    if (!res.ok) throw new Error(`the generation endpoint answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const json = (await res.json()) as { choices?: { text?: string; message?: { content?: string } }[] };
    const text = chat ? json.choices?.[0]?.message?.content : json.choices?.[0]?.text;
    if (typeof text !== "string") throw new Error("the generation endpoint's answer has no choices[0] text");
    return text;
  }
}
