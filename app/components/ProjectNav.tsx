import { NavLink, useLocation } from "@remix-run/react";

const tabs = [
  { to: "", label: "Overview", end: true },
  { to: "annotate", label: "Annotate" },
  { to: "quality", label: "Quality" },
  { to: "disagreements", label: "Disagreements" },
  { to: "exports", label: "Exports" },
  { to: "training", label: "Training" },
  { to: "judges", label: "AI judges" },
  { to: "import", label: "Import" },
  { to: "members", label: "Members" },
  { to: "settings", label: "Settings" },
];

export function ProjectNav({ projectId }: { projectId: number }) {
  // A job's page belongs to the Training tab.
  const onJob = useLocation().pathname.startsWith(`/projects/${projectId}/jobs/`);
  return (
    <nav aria-label="Project" className="mb-5 flex flex-wrap gap-1 border-b border-line">
      {tabs.map((t) => (
        <NavLink
          key={t.label}
          to={`/projects/${projectId}${t.to ? `/${t.to}` : ""}`}
          end={t.end}
          prefetch="intent"
          className={({ isActive }) =>
            `-mb-px border-b-2 px-3 py-2 text-sm font-medium ${isActive || (onJob && t.to === "training") ? "border-accent text-ink" : "border-transparent text-muted hover:text-ink"}`
          }
        >
          {t.label}
        </NavLink>
      ))}
    </nav>
  );
}
