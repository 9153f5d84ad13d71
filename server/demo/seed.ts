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

/** Creates the demo accounts and project once; running it again changes nothing. */
export async function seedDemo(services: Services): Promise<{ projectId: number; lines: string[] }> {
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
  for (const [role, r] of [["admin", admin], ["annotator", annotator]] as const) {
    const acct = DEMO_ACCOUNTS[role];
    lines.push(r.created ? `  ${role.padEnd(9)} ${acct.email}  password: ${acct.password}` : `  ${role.padEnd(9)} ${acct.email}  (existing account; password unchanged)`);
  }
  return { projectId: project.id, lines };
}
