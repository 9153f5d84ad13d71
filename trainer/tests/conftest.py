"""Shared fixtures: the tiny model is built once per test session into a temp dir."""

from __future__ import annotations

import os
import random

import pytest
import torch

from pairwise_trainer import task
from pairwise_trainer.data import PreferencePair
from pairwise_trainer.modeling import build_tiny_model

# Two shared cores: extra intra-op threads only add contention for these tiny tensors.
torch.set_num_threads(int(os.environ.get("PAIRWISE_TEST_THREADS", "1")))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """Path to a tiny pretrained Llama + tokenizer (``PAIRWISE_TINY_MODEL`` reuses a prebuilt one)."""
    pre = os.environ.get("PAIRWISE_TINY_MODEL")
    if pre:
        return pre
    out = tmp_path_factory.mktemp("tiny") / "model"
    build_tiny_model(str(out))
    return str(out)


def pairs_from_rows(rows: list[dict]) -> list[PreferencePair]:
    return [
        PreferencePair(r["prompt"], r["chosen"], r["rejected"], strength=r.get("strength"))
        for r in rows
    ]


@pytest.fixture(scope="session")
def clean_prefs() -> tuple[list[PreferencePair], list[PreferencePair]]:
    """Noise-free oracle preferences: 4000 train and 300 held-out pairs on disjoint prompts."""
    rows = task.synthetic_preferences(4300, seed=1)
    pairs = pairs_from_rows(rows)
    return pairs[:4000], pairs[4000:]


@pytest.fixture(scope="session")
def shuffled_prefs(clean_prefs):
    """The same pairs with chosen/rejected swapped at random: labels carry no signal."""
    rng = random.Random(0)

    def flip(ps):
        return [
            p
            if rng.random() < 0.5
            else PreferencePair(p.prompt, p.rejected, p.chosen, strength=p.strength)
            for p in ps
        ]

    tr, ev = clean_prefs
    return flip(tr[:2000]), flip(ev)
