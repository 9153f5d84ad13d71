"""PPO with a known reward (the task's scorer): learning, KL control, sanity of the first step."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from pairwise_trainer import task
from pairwise_trainer.modeling import load_causal_lm, load_tokenizer
from pairwise_trainer.ppo import PPOConfig, train_ppo

PROMPTS = task.make_prompts(2000, seed=5)
BASE = dict(
    lr=3e-4,
    num_updates=30,
    rollout_batch_size=128,
    mini_batch_size=32,
    grad_accum=2,
    ppo_epochs=4,
    temperature=1.0,
    max_new_tokens=4,
    seed=0,
)


def task_reward(prompts, responses):
    return [task.score(p, r) for p, r in zip(prompts, responses)]


@pytest.fixture(scope="module")
def runs(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("ppo")
    low = train_ppo(
        tiny_model,
        PROMPTS,
        task_reward,
        str(out / "low"),
        PPOConfig(**BASE, beta=0.01),
        device=torch.device("cpu"),
    )
    high = train_ppo(
        tiny_model,
        PROMPTS,
        task_reward,
        None,
        PPOConfig(**BASE, beta=1.0),
        device=torch.device("cpu"),
    )
    return {"low": low, "high": high, "out": out}


def series(run, key):
    return [h[key] for h in run["history"]]


def test_score_rises_and_kl_stays_bounded(runs):
    s = series(runs["low"], "objective/score")
    first, last = sum(s[:5]) / 5, sum(s[-5:]) / 5
    assert last > first + 0.08, (
        f"mean score did not rise: first5={first:.3f} last5={last:.3f} ({s})"
    )
    kl = series(runs["low"], "objective/kl")
    assert max(kl) < 5.0, f"KL exploded: max {max(kl):.3f} nats/sequence"


def test_larger_beta_ends_with_smaller_kl(runs):
    kl_low = sum(series(runs["low"], "objective/kl")[-5:]) / 5
    kl_high = sum(series(runs["high"], "objective/kl")[-5:]) / 5
    assert kl_high < kl_low, (
        f"beta=1.0 final KL {kl_high:.4f} should be < beta=0.01 KL {kl_low:.4f}"
    )


def test_first_minibatch_ratio_is_one_and_first_kl_zero(runs):
    for name in ("low", "high"):
        h0 = runs[name]["history"][0]
        assert abs(h0["policy/first_ratio"] - 1.0) < 1e-4, (
            f"{name}: first ratio {h0['policy/first_ratio']}"
        )
        assert abs(h0["objective/kl"]) < 1e-4, (
            f"{name}: policy == reference at start, KL {h0['objective/kl']}"
        )


def test_no_nan_and_all_metric_names_logged(runs):
    names = [
        "objective/score",
        "objective/kl",
        "objective/entropy",
        "policy/clipfrac",
        "val/clipfrac",
        "policy/approxkl",
        "val/ratio",
        "response/length",
        "response/eos_rate",
        "lr",
        "perf/tokens_per_s",
        "loss/pg_loss",
        "loss/vf_loss",
    ]
    for name in ("low", "high"):
        for i, h in enumerate(runs[name]["history"]):
            missing = [k for k in names if k not in h]
            assert not missing, f"update {i} lacks {missing}"
            bad = [k for k, v in h.items() if not math.isfinite(v)]
            assert not bad, f"{name} update {i}: non-finite {bad}"
    lr = series(runs["low"], "lr")
    assert lr[0] > lr[-1] > 0, "learning rate anneals linearly towards 0"


def test_saved_policy_reloads(runs):
    out = Path(runs["out"] / "low")
    assert (out / "model.safetensors").exists() and (out / "value_head.safetensors").exists()
    tok = load_tokenizer(str(out))
    model = load_causal_lm(str(out), torch.device("cpu"))
    policy = runs["low"]["policy"]
    ids = torch.tensor([tok("12+34=46")["input_ids"]])
    with torch.no_grad():
        a = model(input_ids=ids).logits
        b = policy.lm(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-5), "reloaded PPO policy differs from the trained one"


def test_lora_ppo_uses_disabled_adapters_as_reference(tiny_model, tmp_path):
    cfg = PPOConfig(
        **{**BASE, "num_updates": 3, "rollout_batch_size": 32, "mini_batch_size": 16, "lr": 1e-3},
        beta=0.05,
        lora=True,
        lora_r=4,
    )
    r = train_ppo(
        tiny_model, PROMPTS, task_reward, str(tmp_path / "lora"), cfg, device=torch.device("cpu")
    )
    h = r["history"]
    assert abs(h[0]["objective/kl"]) < 1e-4, "LoRA starts at B=0, so policy == reference"
    assert h[-1]["objective/kl"] != 0.0, "after updates the adapters must move the policy"
    assert (tmp_path / "lora" / "adapter_config.json").exists()
    assert all(math.isfinite(v) for x in h for v in x.values())


def test_missing_eos_penalty(tiny_model):
    # With max_new_tokens=1 no two-digit answer can end with EOS: every score is the penalty.
    cfg = PPOConfig(
        **{
            **BASE,
            "num_updates": 1,
            "rollout_batch_size": 16,
            "mini_batch_size": 16,
            "max_new_tokens": 1,
        },
        missing_eos_penalty=-1.0,
    )
    h = train_ppo(tiny_model, PROMPTS, task_reward, None, cfg, device=torch.device("cpu"))[
        "history"
    ][0]
    assert h["response/eos_rate"] == 0.0
    assert h["objective/score_with_penalty"] == -1.0, "responses without EOS must get the penalty"
