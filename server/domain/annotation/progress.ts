export type ProgressCounts = {
  pairs: { total: number; complete: number; partial: number; untouched: number; inProgress: number };
  judgments: { total: number; today: number; lastHour: number };
  target: number;
};
