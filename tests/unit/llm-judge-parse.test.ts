import { describe, expect, it } from "vitest";
import { parseJudgeAnswer } from "../../server/domain/judges/llm-judge.ts";

describe("parseJudgeAnswer", () => {
  it("reads the MT-Bench markers and the confidence line", () => {
    expect(parseJudgeAnswer("A explains better.\n[[A]]\nConfidence: 88")).toEqual({ verdict: "a", confidence: 88 });
    expect(parseJudgeAnswer("[[B]]\nConfidence: 61")).toEqual({ verdict: "b", confidence: 61 });
    expect(parseJudgeAnswer("[[C]]\nConfidence: 70")).toEqual({ verdict: "tie", confidence: 70 });
    expect(parseJudgeAnswer("It is a draw: [[tie]]")).toEqual({ verdict: "tie", confidence: null });
  });

  it("lets the last verdict marker win, since models often restate the format first", () => {
    expect(parseJudgeAnswer('I must answer "[[A]]", "[[B]]" or "[[C]]". Verdict: [[B]]\nConfidence: 90')).toEqual({ verdict: "b", confidence: 90 });
    expect(parseJudgeAnswer("First I leaned [[B]], but on reflection [[A]]")).toEqual({ verdict: "a", confidence: 75 });
  });

  it("tolerates case, inner spaces and markdown around the confidence", () => {
    expect(parseJudgeAnswer("[[ a ]]\nconfidence:92")).toEqual({ verdict: "a", confidence: 92 });
    expect(parseJudgeAnswer("[[b]]\n**Confidence:** 85%")).toEqual({ verdict: "b", confidence: 85 });
    expect(parseJudgeAnswer("[[A]]\nConfidence level = 77")).toEqual({ verdict: "a", confidence: 77 });
    expect(parseJudgeAnswer("[[A]]\nCONFIDENCE: 66.5")).toEqual({ verdict: "a", confidence: 66.5 });
  });

  it("defaults a decisive verdict without confidence to 75, and clamps confidence to 50..100", () => {
    expect(parseJudgeAnswer("[[A]]")).toEqual({ verdict: "a", confidence: 75 });
    expect(parseJudgeAnswer("[[A]]\nConfidence: 30")).toEqual({ verdict: "a", confidence: 50 });
    expect(parseJudgeAnswer("[[B]]\nConfidence: 250")).toEqual({ verdict: "b", confidence: 100 });
    expect(parseJudgeAnswer("[[B]]\nConfidence: 0.8")).toEqual({ verdict: "b", confidence: 80 });
  });

  it("does not read a confidence from prose without a colon", () => {
    expect(parseJudgeAnswer("I have confidence 3 of the facts are wrong. [[B]]")).toEqual({ verdict: "b", confidence: 75 });
  });

  it("finds no verdict in answers without a well-formed marker", () => {
    expect(parseJudgeAnswer("")).toEqual({ verdict: null, confidence: null });
    expect(parseJudgeAnswer("Assistant A is better. [A] {{B}} [[D]] [[AB]]")).toEqual({ verdict: null, confidence: null });
    // A confidence alone is kept for the record but makes no verdict.
    expect(parseJudgeAnswer("Hard to say.\nConfidence: 55")).toEqual({ verdict: null, confidence: 55 });
  });

  it("stays fast on a long adversarial answer", () => {
    const text = `${"[[ ".repeat(50_000)}${"Confidence: ".repeat(50_000)}[[A]]`;
    expect(parseJudgeAnswer(text).verdict).toBe("a");
  });
});
