"""The verifiable task, the shipped corpus and the oracle."""

from __future__ import annotations

import random

import torch

from pairwise_trainer import task
from pairwise_trainer.cli import evaluate_policy_on_task
from pairwise_trainer.modeling import load_causal_lm, load_tokenizer


def test_prompts_are_seeded_and_two_digit():
    a, b = task.make_prompts(50, seed=3), task.make_prompts(50, seed=3)
    assert a == b, "make_prompts must be deterministic for a seed"
    assert a != task.make_prompts(50, seed=4)
    for p in a:
        x, y = task.parse_prompt(p)
        assert 10 <= x <= 99 and 10 <= y <= 99, p


def test_score_and_correctness():
    assert task.is_correct("12+34=", "46") and task.is_correct("12+34=", " 46 ")
    assert not task.is_correct("12+34=", "45")
    assert task.score("12+34=", "46") == 1.0
    assert task.score("12+34=", "45") > task.score("12+34=", "36") > task.score("12+34=", "99")
    assert task.score("12+34=", "abc") == 0.0
    assert 0.0 <= task.score("12+34=", "1000") < 0.5


def test_oracle_prefers_better_and_flips_with_noise():
    assert task.oracle_prefer("12+34=", "46", "45") == "a"
    assert task.oracle_prefer("12+34=", "36", "46") == "b"
    assert task.oracle_prefer("12+34=", "45", "36") == "a", "closer wrong answer wins"
    assert task.oracle_prefer("12+34=", "45", "47") == "tie"
    rng = random.Random(0)
    flips = sum(
        task.oracle_prefer("12+34=", "46", "45", noise=0.3, rng=rng) == "b" for _ in range(2000)
    )
    assert 500 < flips < 700, f"noise=0.3 should flip ~30% of labels, flipped {flips}/2000"


def test_corpus_is_small_and_noisy():
    lines = task.load_corpus()
    assert task.corpus_path().stat().st_size < 1_000_000, "corpus must stay under 1 MB"
    right = sum(task.is_correct(*task.split_line(ln)) for ln in lines) / len(lines)
    assert 0.4 < right < 0.7, f"corpus should be deliberately noisy, {right:.2f} correct"


def test_synthetic_preferences_follow_oracle():
    rows = task.synthetic_preferences(200, seed=0)
    assert len(rows) == 200
    for r in rows:
        assert task.score(r["prompt"], r["chosen"]) > task.score(r["prompt"], r["rejected"])


def test_base_policy_is_between_20_and_60_percent(tiny_model):
    torch.manual_seed(0)
    tok = load_tokenizer(tiny_model, padding_side="left")
    model = load_causal_lm(tiny_model, torch.device("cpu"))
    m = evaluate_policy_on_task(model, tok, n=400, seed=11, temperature=1.0, max_new_tokens=6)
    assert 0.2 <= m["accuracy"] <= 0.6, (
        f"base policy accuracy {m['accuracy']:.3f} outside [0.2, 0.6]"
    )
    assert m["eos_rate"] > 0.95, f"base policy should stop with EOS, eos_rate={m['eos_rate']}"
