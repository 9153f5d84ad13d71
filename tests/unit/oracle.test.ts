import { describe, expect, it } from "vitest";
import { oraclePrefer, taskScore } from "../../server/demo/oracle.ts";

describe("task oracle (mirror of trainer/pairwise_trainer/task.py)", () => {
  it("scores exact, near and non-numeric answers", () => {
    expect(taskScore("12+34=", "46")).toBe(1);
    expect(taskScore("12+34=", " 46 ")).toBe(1);
    expect(taskScore("12+34=", "36")).toBeCloseTo(0.5 * (1 - 10 / 50), 12);
    expect(taskScore("12+34=", "46 apples")).toBe(0.5);
    expect(taskScore("12+34=", "forty-six")).toBe(0);
    expect(taskScore("not a prompt", "1")).toBe(0);
  });

  it("prefers the better answer, ties equal ones, and flips with noise", () => {
    expect(oraclePrefer("12+34=", "46", "45", 0, Math.random)).toBe("a");
    expect(oraclePrefer("12+34=", "40", "45", 0, Math.random)).toBe("b");
    expect(oraclePrefer("12+34=", "47", "45", 0, Math.random)).toBe("tie");
    expect(oraclePrefer("12+34=", "46", "45", 1, () => 0)).toBe("b");
  });
});
