"""Reward model learning, saved artifacts and LoRA round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pairwise_trainer.modeling import load_reward_model, load_tokenizer, reward_stats
from pairwise_trainer.reward import RewardConfig, evaluate_reward, train_reward

CFG = dict(lr=1e-3, batch_size=32, epochs=4, warmup_ratio=0.05, seed=0)


@pytest.fixture(scope="module")
def clean_run(tiny_model, clean_prefs, tmp_path_factory):
    out = tmp_path_factory.mktemp("rm") / "rm"
    tr, ev = clean_prefs
    m = train_reward(tiny_model, tr, str(out), RewardConfig(**CFG), eval_pairs=ev, cpu=True)
    return m, out


def test_reward_model_learns_oracle_preferences(clean_run):
    m, _ = clean_run
    acc = m["eval"]["accuracy"]
    assert acc >= 0.9, f"held-out accuracy {acc:.3f} < 0.9 on noise-free oracle preferences"
    assert m["train_loss_last"] < m["train_loss_first"] - 0.3, "training loss should fall"
    assert m["eval"]["mean_margin"] > 0
    assert 0 <= m["eval"]["ece"] < 0.2
    assert set(m["eval"]["accuracy_by_strength"]) == {"clear", "slight"}


def test_reward_model_on_shuffled_labels_stays_at_chance(tiny_model, shuffled_prefs):
    tr, ev = shuffled_prefs
    m = train_reward(
        tiny_model, tr, None, RewardConfig(**{**CFG, "epochs": 2}), eval_pairs=ev, cpu=True
    )
    acc = m["eval"]["accuracy"]
    assert 0.35 <= acc <= 0.65, f"shuffled labels gave held-out accuracy {acc:.3f}, expected ~0.5"


def test_reward_artifacts_and_reload(clean_run, clean_prefs):
    m, out = clean_run
    for f in (
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "metrics.json",
        "reward_stats.json",
        "training_config.json",
    ):
        assert (out / f).exists(), f"missing {f} in reward-model output"
    saved = json.loads((out / "metrics.json").read_text())
    assert abs(saved["eval"]["accuracy"] - m["eval"]["accuracy"]) < 1e-9
    mean, std = reward_stats(str(out))
    assert std > 0 and abs(mean - m["reward_mean"]) < 1e-6
    # reloading gives the same held-out metrics
    tok = load_tokenizer(str(out))
    rm = load_reward_model(str(out), torch.device("cpu"))
    again = evaluate_reward(rm, tok, clean_prefs[1])
    assert abs(again["accuracy"] - m["eval"]["accuracy"]) < 1e-6, "reloaded RM scores differently"


@pytest.mark.parametrize("merge", [False, True])
def test_lora_reward_model_round_trip(tiny_model, clean_prefs, tmp_path, merge):
    tr, ev = clean_prefs
    cfg = RewardConfig(**{**CFG, "epochs": 1}, lora=True, lora_r=4, merge_lora=merge)
    m = train_reward(tiny_model, tr[:256], str(tmp_path / "rm"), cfg, eval_pairs=ev[:64], cpu=True)
    is_adapter = (Path(tmp_path / "rm") / "adapter_config.json").exists()
    assert is_adapter != merge, "merge_lora decides adapter-only vs merged output"
    tok = load_tokenizer(str(tmp_path / "rm"))
    rm = load_reward_model(str(tmp_path / "rm"), torch.device("cpu"))
    again = evaluate_reward(rm, tok, ev[:64])
    assert abs(again["mean_margin"] - m["eval"]["mean_margin"]) < 1e-4, "LoRA RM reload mismatch"
