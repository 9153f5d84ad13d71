import { z } from "zod";

export const FLAG_NAMES = ["unsafe", "personal_data", "broken"] as const;
export type FlagName = (typeof FLAG_NAMES)[number];

/** Llama 2's four preference-strength levels (Touvron et al. 2023, §3.2.1), 1 = weakest. */
export const STRENGTH_LEVELS = [
  { value: 1, key: "negligibly", label: "negligibly better" },
  { value: 2, key: "slightly", label: "slightly better" },
  { value: 3, key: "better", label: "better" },
  { value: 4, key: "significantly", label: "significantly better" },
] as const;

const criterionName = z
  .string()
  .trim()
  .min(1)
  .max(40)
  .regex(/^[a-z][a-z0-9_]*$/, "use lowercase letters, digits and _ (e.g. helpfulness)");

export const schemeSchema = z
  .object({
    allowTie: z.boolean().default(true),
    allowBothBad: z.boolean().default(true),
    strength: z.enum(["off", "llama2"]).default("llama2"),
    criteria: z.array(criterionName).max(8).default([]),
    rationale: z
      .object({
        mode: z.enum(["off", "optional", "required"]).default("optional"),
        minLength: z.number().int().min(0).max(2000).default(0),
      })
      .default({}),
    flags: z.array(z.enum(FLAG_NAMES)).default([...FLAG_NAMES]),
    showLengthHint: z.boolean().default(false),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (new Set(s.criteria).size !== s.criteria.length) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["criteria"], message: "criteria must be unique" });
    }
  });

export type Scheme = z.output<typeof schemeSchema>;
export const defaultScheme: Scheme = schemeSchema.parse({});

export function parseStoredScheme(json: string): Scheme {
  return schemeSchema.parse(JSON.parse(json));
}
