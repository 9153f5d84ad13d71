"""Built-in verifiable task: two-digit addition, a noisy pretraining corpus and a scripted oracle.

The task is the stand-in for human annotators in tests and in the app's demo:

* ``make_prompts(n, seed)`` -> prompts such as ``"12+34="``.
* ``score(prompt, response)`` -> float in [0, 1]: 1.0 for the exact answer, less the farther off.
* ``is_correct(prompt, response)`` -> bool.
* ``oracle_prefer(prompt, a, b, noise, rng)`` -> ``"a" | "b" | "tie"``: prefers the higher score
  (correct beats wrong; among wrong answers the numerically closer one wins), flipping the
  label with probability ``noise``.

The shipped corpus (``data/arith_corpus.txt``) is deliberately noisy: only about half of its answers
are right, the rest are typical mistakes (forgotten carry, off by a few). A tiny model pretrained on
it therefore starts between 20% and 60% correct, leaving room for preference learning and PPO.
"""

from __future__ import annotations

import random
import re
from importlib import resources
from pathlib import Path

CORPUS_FILE = "arith_corpus.txt"
_PROMPT_RE = re.compile(r"^\s*(\d+)\s*\+\s*(\d+)\s*=\s*$")
_ANSWER_RE = re.compile(r"^\s*(-?\d+)")
# Operands are two-digit numbers in [LO, HI]; keeping sums below 100 keeps every answer two digits,
# which a 2-layer, width-64 model can learn in well under a minute on CPU.
LO, HI = 10, 49


def make_prompts(n: int, seed: int = 0) -> list[str]:
    """Return ``n`` addition prompts ``"a+b="`` with two-digit operands, reproducible from ``seed``."""
    rng = random.Random(seed)
    return [f"{rng.randint(LO, HI)}+{rng.randint(LO, HI)}=" for _ in range(n)]


def parse_prompt(prompt: str) -> tuple[int, int]:
    """Return the two operands of a prompt like ``"12+34="``; raises ValueError otherwise."""
    m = _PROMPT_RE.match(prompt)
    if not m:
        raise ValueError(f"not an addition prompt: {prompt!r}")
    return int(m.group(1)), int(m.group(2))


def answer(prompt: str) -> int:
    """The correct answer to ``prompt``."""
    a, b = parse_prompt(prompt)
    return a + b


def parse_response(response: str) -> int | None:
    """The integer a response starts with, or None when it does not start with one."""
    m = _ANSWER_RE.match(response)
    return int(m.group(1)) if m else None


def is_correct(prompt: str, response: str) -> bool:
    """True when the response is exactly the answer (surrounding whitespace allowed)."""
    return response.strip() == str(answer(prompt))


def score(prompt: str, response: str) -> float:
    """Verifiable reward in [0, 1].

    1.0 for the exact answer; a number that is off by ``d`` gets ``0.5 * (1 - min(d, 50) / 50)``
    (so closer wrong answers score higher); anything without a leading number gets 0.0.
    Trailing text after a correct number makes it "wrong by 0", i.e. 0.5.
    """
    if is_correct(prompt, response):
        return 1.0
    got = parse_response(response)
    if got is None:
        return 0.0
    d = abs(got - answer(prompt))
    return 0.5 * (1.0 - min(d, 50) / 50.0)


def oracle_prefer(
    prompt: str,
    a: str,
    b: str,
    noise: float = 0.0,
    rng: random.Random | None = None,
) -> str:
    """Scripted annotator: ``"a"`` or ``"b"`` for the response with the higher ``score``.

    Equal scores give ``"tie"``. With probability ``noise`` a non-tie label is flipped (label noise).
    """
    sa, sb = score(prompt, a), score(prompt, b)
    if sa == sb:
        return "tie"
    label = "a" if sa > sb else "b"
    rng = rng or random.Random()
    if noise > 0 and rng.random() < noise:
        label = "b" if label == "a" else "a"
    return label


def noisy_answer(a: int, b: int, rng: random.Random, p_correct: float = 0.5) -> int:
    """An answer as the noisy corpus writes it: right with probability ``p_correct``, else a typical
    mistake (forgotten carry when there is one, else off by 1-3 or by 10)."""
    c = a + b
    if rng.random() < p_correct:
        return c
    carry = (a % 10) + (b % 10) >= 10
    if carry and rng.random() < 0.6:
        return c - 10  # forgot the carry into the tens digit
    return max(0, c + rng.choice([-10, -3, -2, -1, 1, 2, 3, 10]))


def candidate_responses(prompt: str, rng: random.Random) -> tuple[str, str]:
    """Two distinct plausible responses to ``prompt`` (used to build synthetic comparisons)."""
    c = answer(prompt)
    # Typical mistakes: a wrong tens digit (forgotten/extra carry, slips) and an off-by-one units
    # digit. The correct answer is over-represented so about half the pairs are right-vs-wrong.
    pool = [c, c, c, c - 10, c + 10, c - 20, c + 20, c + 30, c - 1, c + 1]
    x, y = rng.sample(pool, 2)
    while x == y:
        x, y = rng.sample(pool, 2)
    return str(x), str(y)


def strength_of(prompt: str, chosen: str, rejected: str) -> str:
    """Preference strength the way the app's annotators would label it: ``"clear"`` when the
    chosen response is right and the rejected one wrong, else ``"slight"``."""
    return "clear" if is_correct(prompt, chosen) and not is_correct(prompt, rejected) else "slight"


def synthetic_preferences(n: int, seed: int = 0, noise: float = 0.0) -> list[dict]:
    """``n`` TRL-style preference rows ``{prompt, chosen, rejected, strength}`` labelled by the oracle."""
    rng = random.Random(seed)
    rows: list[dict] = []
    prompts = make_prompts(4 * n, seed)
    for p in prompts:
        if len(rows) >= n:
            break
        a, b = candidate_responses(p, rng)
        label = oracle_prefer(p, a, b, noise=noise, rng=rng)
        if label == "tie":
            continue
        chosen, rejected = (a, b) if label == "a" else (b, a)
        rows.append(
            {
                "prompt": p,
                "chosen": chosen,
                "rejected": rejected,
                "strength": strength_of(p, chosen, rejected),
            }
        )
    return rows


def build_corpus(seed: int = 0, copies: int = 6, p_correct: float = 0.5) -> list[str]:
    """Lines ``"a+b=c"`` for every pair of two-digit operands, ``copies`` times with noisy answers."""
    rng = random.Random(seed)
    lines = []
    for _ in range(copies):
        for a in range(LO, HI + 1):
            for b in range(LO, HI + 1):
                lines.append(f"{a}+{b}={noisy_answer(a, b, rng, p_correct)}")
    rng.shuffle(lines)
    return lines


def corpus_path() -> Path:
    """Path to the shipped noisy corpus."""
    return Path(str(resources.files("pairwise_trainer") / "data" / CORPUS_FILE))


def load_corpus() -> list[str]:
    """The shipped corpus as a list of lines ``"a+b=c"``."""
    return [ln for ln in corpus_path().read_text().splitlines() if ln.strip()]


def split_line(line: str) -> tuple[str, str]:
    """Split a corpus line ``"a+b=c"`` into prompt ``"a+b="`` and completion ``"c"``."""
    p, c = line.split("=", 1)
    return p + "=", c


if __name__ == "__main__":  # regenerate the shipped corpus
    out = Path(__file__).parent / "data" / CORPUS_FILE
    out.write_text("\n".join(build_corpus()) + "\n")
    print(f"wrote {out}")
