import { Link } from "@remix-run/react";
import { formatCount, formatShare } from "../lib/format";

export type JudgeAlert = { judge_id: number; name: string; agreement: number; compared: number };

/** The project page's warning that an AI judge has drifted away from people (researchers only). */
export function JudgeAlertBanner({ projectId, threshold, alerts }: { projectId: number; threshold: number; alerts: JudgeAlert[] }) {
  if (alerts.length === 0) return null;
  return (
    <div role="alert" data-testid="judge-alert" className="mb-4 flex flex-col gap-1 rounded-lg border border-bad bg-bad-soft px-4 py-3 text-sm text-bad">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <strong className="font-semibold">
          <span aria-hidden>⚠ </span>
          {alerts.length === 1 ? "An AI judge disagrees with people" : `${alerts.length} AI judges disagree with people`}
        </strong>
        <Link to={`/projects/${projectId}/judges`} className="font-medium underline">
          Review AI judges
        </Link>
      </div>
      <ul className="flex flex-col gap-0.5">
        {alerts.map((a) => (
          <li key={a.judge_id}>
            <span className="font-medium">{a.name}</span>: agrees on {formatShare(a.agreement)} of {formatCount(a.compared)} compared pairs (alert under {formatShare(threshold)}). Its labels may need a closer look before they train anything.
          </li>
        ))}
      </ul>
    </div>
  );
}
