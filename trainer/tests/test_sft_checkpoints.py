"""SFT learning and checkpoint round trips (full, LoRA adapter-only, LoRA merged)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pairwise_trainer import task
from pairwise_trainer.data import SFTExample
from pairwise_trainer.generate import GenerateConfig, generate
from pairwise_trainer.modeling import load_causal_lm, load_tokenizer
from pairwise_trainer.sft import SFTConfig, encode_sft, train_sft

CPU = torch.device("cpu")
PROMPTS = task.make_prompts(24, seed=99)


def demos(n: int, seed: int) -> list[SFTExample]:
    return [SFTExample(p, str(task.answer(p))) for p in task.make_prompts(n, seed)]


def greedy(model, tok) -> list[str]:
    rows = generate(model, tok, PROMPTS, GenerateConfig(max_new_tokens=6, temperature=0.0))
    return [r["response"] for r in rows]


def test_sft_loss_mask_covers_response_only(tiny_model):
    tok = load_tokenizer(tiny_model)
    ids, labels = encode_sft(tok, SFTExample("12+34=", "46"), 64)
    supervised = [t for t, y in zip(ids, labels) if y != -100]
    assert tok.decode(supervised) == "46<eos>", f"supervised tokens {tok.decode(supervised)!r}"


def test_sft_lowers_heldout_loss_and_round_trips(tiny_model, tmp_path):
    out = tmp_path / "sft"
    cfg = SFTConfig(lr=1e-3, batch_size=32, epochs=2, seed=0)
    m = train_sft(tiny_model, demos(1200, 1), str(out), cfg, eval_examples=demos(200, 2), cpu=True)
    before, after = m["eval_before"]["loss"], m["eval"]["loss"]
    assert after < before - 0.1, f"SFT held-out loss {before:.3f} -> {after:.3f} did not fall"
    tok = load_tokenizer(str(out), padding_side="left")
    reloaded = load_causal_lm(str(out), CPU)
    assert greedy(m["model"], tok) == greedy(reloaded, tok), "full checkpoint greedy text changed"
    assert (out / "model.safetensors").exists()


@pytest.mark.parametrize("merge", [False, True])
def test_lora_sft_round_trip(tiny_model, tmp_path, merge):
    out = tmp_path / "lora"
    cfg = SFTConfig(lr=3e-3, batch_size=32, epochs=1, lora=True, lora_r=4, merge_lora=merge, seed=0)
    m = train_sft(tiny_model, demos(400, 3), str(out), cfg, eval_examples=demos(64, 4), cpu=True)
    assert m["eval"]["loss"] < m["eval_before"]["loss"], "LoRA SFT did not lower held-out loss"
    assert Path(out / "adapter_config.json").exists() != merge
    assert Path(out / "model.safetensors").exists() == merge
    tok = load_tokenizer(str(out), padding_side="left")
    want = greedy(m["model"], tok)
    assert greedy(load_causal_lm(str(out), CPU), tok) == want, "reloaded checkpoint differs"
    if not merge:
        # adapter-only checkpoint merged at load time gives the same text too
        assert greedy(load_causal_lm(str(out), CPU, merge=True), tok) == want
