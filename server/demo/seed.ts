import fs from "node:fs";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { type Services } from "../services.ts";

const DEMO_PAIRS = fileURLToPath(new URL("./demo-pairs.jsonl", import.meta.url));

export const DEMO_ACCOUNTS = {
  admin: { email: process.env.PAIRWISE_DEMO_ADMIN_EMAIL ?? "admin@pairwise.local", password: process.env.PAIRWISE_DEMO_ADMIN_PASSWORD ?? "pairwise-admin" },
  annotator: { email: process.env.PAIRWISE_DEMO_ANNOTATOR_EMAIL ?? "annotator@pairwise.local", password: process.env.PAIRWISE_DEMO_ANNOTATOR_PASSWORD ?? "pairwise-annotator" },
};

export const DEMO_GUIDELINES = `# How to judge

Read the prompt, then both responses. Pick the response that is **more helpful, honest and harmless**.

- Prefer correct answers over confident wrong ones.
- Length is not quality: a short correct answer beats a long wrong one.
- Use **Tie** when both are about equally good, **Both bad** when neither is acceptable.
- Flag anything unsafe or containing personal data.
`;

export const ARITHMETIC_GUIDELINES = `# Arithmetic answers

Each prompt is a two-digit addition such as \`12+34=\`. Pick the response with the **correct
sum**. When both are wrong, pick the one **closer** to the right answer; when they are equally
good, choose **Tie**.
`;

/**
 * The loop demo: a project on the built-in verifiable task whose base policy is the tiny model at
 * `modelPath`; its first pairs come from a generate job that the local worker runs.
 */
async function seedArithmetic(services: Services, admin: { id: number; email: string; name: string; role: "admin" | "researcher" | "annotator" }, annotatorEmail: string, modelPath: string, lines: string[]) {
  const existing = (await services.projects.listForUser(admin)).find((p) => p.name === "Demo: arithmetic RLHF loop");
  if (existing) {
    lines.push(`Demo project "${existing.name}" already exists (id ${existing.id}).`);
    return;
  }
  const project = await services.projects.create(admin, {
    name: "Demo: arithmetic RLHF loop",
    guidelines: ARITHMETIC_GUIDELINES,
    scheme: { strength: "off", criteria: [], rationale: { mode: "off", minLength: 0 } },
    judgmentsPerPair: 1,
    leaseSeconds: 600,
    quality: { goldShare: 0 },
  });
  await services.projects.addMember(admin, project.id, { email: annotatorEmail, role: "annotator" });
  const base = await services.checkpoints.register(admin, project.id, { kind: "base", name: "tiny base policy", model_ref: modelPath, champion: true });
  await services.jobs.createByUser(admin, project.id, {
    kind: "generate",
    params: { mode: "self", purpose: "seed", num_prompts: 60, seed: 1, temperature: 1.0, top_p: 1, max_new_tokens: 8, model_a_name: base.name, model_b_name: base.name },
    checkpoints: { model_a: base.id },
  });
  lines.push(`Demo project "${project.name}" created: base policy ${modelPath}; the local worker is generating its first 60 pairs.`);
}

/** Creates the demo accounts and projects once; running it again changes nothing. */
export async function seedDemo(services: Services, opts: { tinyModelPath?: string } = {}): Promise<{ projectId: number; lines: string[] }> {
  const lines: string[] = [];
  const ensure = async (role: "admin" | "annotator", name: string) => {
    const acct = DEMO_ACCOUNTS[role];
    const existing = await services.auth.findUserByEmail(acct.email);
    if (existing) return { user: existing, created: false };
    return { user: await services.auth.createUser({ email: acct.email, password: acct.password, role, name }), created: true };
  };
  const admin = await ensure("admin", "Demo Admin");
  const annotator = await ensure("annotator", "Demo Annotator");
  const projects = await services.projects.listForUser(admin.user);
  let project = projects.find((p) => p.name === "Demo: helpful chat");
  if (!project) {
    const created = await services.projects.create(admin.user, {
      name: "Demo: helpful chat",
      guidelines: DEMO_GUIDELINES,
      scheme: { criteria: ["helpfulness", "harmlessness"], rationale: { mode: "optional", minLength: 0 } },
      judgmentsPerPair: 3,
      leaseSeconds: 600,
    });
    project = { ...created, memberRole: "admin" };
    await services.projects.addMember(admin.user, created.id, { email: annotator.user.email, role: "annotator" });
    const r = await services.imports.importPairs(admin.user, created.id, Readable.from(fs.createReadStream(DEMO_PAIRS)), { format: "jsonl", filename: "demo-pairs.jsonl" });
    lines.push(`Demo project "${created.name}" created with ${r.imported} pairs.`);
  } else {
    lines.push(`Demo project "${project.name}" already exists (id ${project.id}).`);
  }
  if (opts.tinyModelPath) await seedArithmetic(services, admin.user, annotator.user.email, opts.tinyModelPath, lines);
  for (const [role, r] of [["admin", admin], ["annotator", annotator]] as const) {
    const acct = DEMO_ACCOUNTS[role];
    lines.push(r.created ? `  ${role.padEnd(9)} ${acct.email}  password: ${acct.password}` : `  ${role.padEnd(9)} ${acct.email}  (existing account; password unchanged)`);
  }
  return { projectId: project.id, lines };
}
