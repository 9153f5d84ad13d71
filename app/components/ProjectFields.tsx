import { Checkbox, Select, TextArea, TextInput } from "./ui";

export type ProjectFormValues = {
  name: string;
  guidelines: string;
  scheme: {
    allowTie: boolean;
    allowBothBad: boolean;
    strength: "off" | "llama2";
    criteria: string[];
    rationale: { mode: "off" | "optional" | "required"; minLength: number };
    flags: string[];
    showLengthHint: boolean;
  };
  judgmentsPerPair: number;
  leaseSeconds: number;
  quality: {
    goldShare: number;
    goldMinAccuracy: number;
    goldMinJudgments: number;
    pauseBelowGold: boolean;
    tooFastMs: number;
  };
};

export const emptyProject: ProjectFormValues = {
  name: "",
  guidelines: "",
  scheme: {
    allowTie: true,
    allowBothBad: true,
    strength: "llama2",
    criteria: [],
    rationale: { mode: "optional", minLength: 0 },
    flags: ["unsafe", "personal_data", "broken"],
    showLengthHint: false,
  },
  judgmentsPerPair: 3,
  leaseSeconds: 600,
  quality: { goldShare: 0.1, goldMinAccuracy: 0.7, goldMinJudgments: 5, pauseBelowGold: false, tooFastMs: 3000 },
};

const FLAG_LABELS: Record<string, string> = { unsafe: "Unsafe", personal_data: "Personal data", broken: "Broken" };

/** Reads the form below back into the shape ProjectService validates (it re-validates with zod). */
export function projectInputFromForm(fd: FormData): ProjectFormValues {
  const num = (k: string, d: number) => {
    const v = String(fd.get(k) ?? "").trim();
    return v === "" ? d : Number(v);
  };
  return {
    name: String(fd.get("name") ?? ""),
    guidelines: String(fd.get("guidelines") ?? ""),
    scheme: {
      allowTie: fd.get("allowTie") === "on",
      allowBothBad: fd.get("allowBothBad") === "on",
      strength: fd.get("strength") === "off" ? "off" : "llama2",
      criteria: String(fd.get("criteria") ?? "")
        .split(/[,\n]/)
        .map((s) => s.trim())
        .filter(Boolean),
      rationale: {
        mode: (["off", "optional", "required"].includes(String(fd.get("rationaleMode"))) ? String(fd.get("rationaleMode")) : "optional") as "off" | "optional" | "required",
        minLength: num("rationaleMinLength", 0),
      },
      flags: fd.getAll("flags").map(String),
      showLengthHint: fd.get("showLengthHint") === "on",
    },
    judgmentsPerPair: num("judgmentsPerPair", 3),
    leaseSeconds: num("leaseSeconds", 600),
    // Shares are edited as percentages and times in seconds; the service stores fractions and ms.
    quality: {
      goldShare: num("goldSharePct", 10) / 100,
      goldMinAccuracy: num("goldMinAccuracyPct", 70) / 100,
      goldMinJudgments: num("goldMinJudgments", 5),
      pauseBelowGold: fd.get("pauseBelowGold") === "on",
      tooFastMs: Math.round(num("tooFastSeconds", 3) * 1000),
    },
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

export function ProjectFields({ values, errors }: { values: ProjectFormValues; errors: Record<string, string> }) {
  const s = values.scheme;
  const q = values.quality ?? emptyProject.quality;
  return (
    <div className="flex flex-col gap-4">
      <TextInput label="Name" name="name" defaultValue={values.name} required maxLength={200} error={errors.name} />
      <TextArea
        label="Guidelines (markdown)"
        name="guidelines"
        defaultValue={values.guidelines}
        rows={6}
        error={errors.guidelines}
        hint="Annotators see these in a drawer next to every pair."
      />
      <fieldset className="flex flex-col gap-3 rounded-md border border-line p-3">
        <legend className="px-1 text-sm font-semibold">Labeling scheme</legend>
        <div className="flex flex-wrap gap-x-6 gap-y-2">
          <Checkbox label="Allow tie" name="allowTie" defaultChecked={s.allowTie} />
          <Checkbox label="Allow both bad" name="allowBothBad" defaultChecked={s.allowBothBad} />
          <Checkbox label='Show "longer by N words" hint' name="showLengthHint" defaultChecked={s.showLengthHint} />
        </div>
        <div className="grid gap-3 sm:grid-cols-2">
          <Select label="Preference strength" name="strength" defaultValue={s.strength} error={errors["scheme.strength"]}>
            <option value="llama2">Four levels (Llama 2)</option>
            <option value="off">Off</option>
          </Select>
          <TextInput
            label="Criteria"
            name="criteria"
            defaultValue={s.criteria.join(", ")}
            placeholder="helpfulness, harmlessness"
            error={errors["scheme.criteria"]}
            hint="Comma-separated, lowercase; annotators pick A / tie / B for each."
          />
          <Select label="Rationale" name="rationaleMode" defaultValue={s.rationale.mode} error={errors["scheme.rationale.mode"]}>
            <option value="optional">Optional</option>
            <option value="required">Required</option>
            <option value="off">Off</option>
          </Select>
          <TextInput
            label="Rationale minimum length (characters)"
            name="rationaleMinLength"
            type="number"
            min={0}
            max={2000}
            defaultValue={s.rationale.minLength}
            error={errors["scheme.rationale.minLength"]}
          />
        </div>
        <fieldset>
          <legend className="mb-1 text-sm font-medium">Flags annotators can raise</legend>
          <div className="flex flex-wrap gap-x-6 gap-y-2">
            {Object.entries(FLAG_LABELS).map(([value, label]) => (
              <Checkbox key={value} label={label} name="flags" value={value} defaultChecked={s.flags.includes(value)} />
            ))}
          </div>
          {errors["scheme.flags"] ? <p className="text-sm text-bad">{errors["scheme.flags"]}</p> : null}
        </fieldset>
      </fieldset>
      <div className="grid gap-3 sm:grid-cols-2">
        <TextInput
          label="Judgments per pair"
          name="judgmentsPerPair"
          type="number"
          min={1}
          max={100}
          defaultValue={values.judgmentsPerPair}
          error={errors.judgmentsPerPair}
        />
        <TextInput
          label="Lease length (seconds)"
          name="leaseSeconds"
          type="number"
          min={30}
          max={86400}
          defaultValue={values.leaseSeconds}
          error={errors.leaseSeconds}
          hint="How long an annotator holds a pair before it goes back to the pool (600 = 10 minutes)."
        />
      </div>
      <fieldset className="flex flex-col gap-3 rounded-md border border-line p-3">
        <legend className="px-1 text-sm font-semibold">Quality control</legend>
        <div className="grid gap-3 sm:grid-cols-2">
          <TextInput
            label="Gold share (%)"
            name="goldSharePct"
            type="number"
            min={0}
            max={50}
            step="any"
            defaultValue={round(q.goldShare * 100)}
            error={errors["quality.goldShare"]}
            hint="How often an annotator is given a gold pair (one with a known answer). They look like any other pair. 0 turns gold checks off."
          />
          <TextInput
            label="Minimum gold accuracy (%)"
            name="goldMinAccuracyPct"
            type="number"
            min={0}
            max={100}
            step="any"
            defaultValue={round(q.goldMinAccuracy * 100)}
            error={errors["quality.goldMinAccuracy"]}
            hint="Annotators who match fewer gold answers than this are flagged on the Quality tab."
          />
          <TextInput
            label="Gold judgments before flagging"
            name="goldMinJudgments"
            type="number"
            min={1}
            max={1000}
            defaultValue={q.goldMinJudgments}
            error={errors["quality.goldMinJudgments"]}
            hint="Nobody is flagged on fewer gold answers than this; a few early misses say little."
          />
          <TextInput
            label="Too fast under (seconds)"
            name="tooFastSeconds"
            type="number"
            min={0}
            max={600}
            step="any"
            defaultValue={round(q.tooFastMs / 1000)}
            error={errors["quality.tooFastMs"]}
            hint="Judgments quicker than this count as too fast to have read both responses."
          />
        </div>
        <Checkbox label="Pause annotators automatically when their gold accuracy falls below the minimum" name="pauseBelowGold" defaultChecked={q.pauseBelowGold} />
        <p className="text-xs text-muted">A paused annotator sees a message instead of pairs until a researcher resumes them on the Quality tab.</p>
      </fieldset>
    </div>
  );
}
