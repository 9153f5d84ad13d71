/**
 * The verifiable task's scripted annotator, the same rules as trainer/pairwise_trainer/task.py:
 * the exact sum scores 1; a number off by d scores 0.5·(1 − min(d, 50)/50); no number scores 0.
 * The higher score wins, equal scores tie, and a non-tie label flips with probability `noise`.
 * The simulated annotators of `npm run demo -- --simulate` judge through the REST API with it.
 */

const PROMPT_RE = /^\s*(\d+)\s*\+\s*(\d+)\s*=\s*$/;
const ANSWER_RE = /^\s*(-?\d+)/;

export function taskAnswer(prompt: string): number | null {
  const m = PROMPT_RE.exec(prompt);
  return m ? Number(m[1]) + Number(m[2]) : null;
}

export function taskScore(prompt: string, response: string): number {
  const ans = taskAnswer(prompt);
  if (ans === null) return 0;
  if (response.trim() === String(ans)) return 1;
  const m = ANSWER_RE.exec(response);
  if (!m) return 0;
  const d = Math.abs(Number(m[1]) - ans);
  return 0.5 * (1 - Math.min(d, 50) / 50);
}

export function oraclePrefer(prompt: string, a: string, b: string, noise: number, rand: () => number): "a" | "b" | "tie" {
  const sa = taskScore(prompt, a);
  const sb = taskScore(prompt, b);
  if (sa === sb) return "tie";
  let label: "a" | "b" = sa > sb ? "a" : "b";
  if (noise > 0 && rand() < noise) label = label === "a" ? "b" : "a";
  return label;
}
