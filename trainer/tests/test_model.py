"""Tokenizer, padding invariances and the KV-cache sampler."""

from __future__ import annotations

import torch

from pairwise_trainer.generate import GenerateConfig, generate, sample_tokens
from pairwise_trainer.modeling import (
    load_causal_lm,
    load_reward_model,
    load_tokenizer,
    position_ids_from_mask,
)
from pairwise_trainer.reward import reward_forward

CPU = torch.device("cpu")


def test_tiny_tokenizer_has_distinct_pad_and_eos(tiny_model):
    tok = load_tokenizer(tiny_model)
    assert tok.pad_token_id is not None and tok.eos_token_id is not None
    assert tok.pad_token_id != tok.eos_token_id, "PAD and EOS must differ (EOS detection, scoring)"
    assert tok.decode(tok("12+34=46")["input_ids"], skip_special_tokens=True) == "12+34=46"


def test_left_padded_logits_match_unpadded(tiny_model):
    tok = load_tokenizer(tiny_model)
    model = load_causal_lm(tiny_model, CPU).eval()
    ids = torch.tensor([tok("23+45=68")["input_ids"]])
    pad = torch.full((1, 5), tok.pad_token_id)
    padded = torch.cat([pad, ids], 1)
    mask = torch.cat([torch.zeros_like(pad), torch.ones_like(ids)], 1)
    with torch.no_grad():
        a = model(input_ids=ids).logits
        b = model(
            input_ids=padded, attention_mask=mask, position_ids=position_ids_from_mask(mask)
        ).logits
    assert torch.isfinite(b).all(), "left padding produced non-finite logits"
    diff = (a - b[:, 5:]).abs().max().item()
    assert diff < 1e-4, f"left-padded logits differ from unpadded by {diff}"


def test_reward_score_ignores_extra_padding(tiny_model):
    tok = load_tokenizer(tiny_model)
    rm = load_reward_model(tiny_model, CPU).eval()
    rm.config.pad_token_id = tok.pad_token_id
    ids = torch.tensor([tok("23+45=68<eos>")["input_ids"]])
    n = ids.shape[1]
    pad = torch.full((1, 7), tok.pad_token_id)
    with torch.no_grad():
        s0 = reward_forward(rm, ids, torch.ones_like(ids))
        right = reward_forward(
            rm, torch.cat([ids, pad], 1), torch.cat([torch.ones(1, n), torch.zeros(1, 7)], 1).long()
        )
        left = reward_forward(
            rm, torch.cat([pad, ids], 1), torch.cat([torch.zeros(1, 7), torch.ones(1, n)], 1).long()
        )
    assert abs(s0.item() - right.item()) < 1e-4, f"right padding changed the score {s0} -> {right}"
    assert abs(s0.item() - left.item()) < 1e-4, f"left padding changed the score {s0} -> {left}"


def test_kv_cache_greedy_matches_full_recompute(tiny_model):
    tok = load_tokenizer(tiny_model, padding_side="left")
    model = load_causal_lm(tiny_model, CPU).eval()
    enc = tok(["12+3=", "23+45="], return_tensors="pt", padding=True)  # different lengths
    out = sample_tokens(
        model,
        enc["input_ids"],
        enc["attention_mask"],
        4,
        tok.eos_token_id,
        tok.pad_token_id,
        temperature=0.0,
    )
    for row, prompt in enumerate(["12+3=", "23+45="]):
        ids = torch.tensor([tok(prompt)["input_ids"]])
        for t in range(4):
            with torch.no_grad():
                nxt = model(input_ids=ids).logits[0, -1].argmax().item()
            assert out[row, t].item() == nxt, (
                f"row {row} step {t}: cached {out[row, t]} vs full {nxt}"
            )
            if nxt == tok.eos_token_id:
                break
            ids = torch.cat([ids, torch.tensor([[nxt]])], 1)


def test_generate_is_seeded_and_truncates_after_eos(tiny_model):
    tok = load_tokenizer(tiny_model, padding_side="left")
    model = load_causal_lm(tiny_model, CPU)
    cfg = GenerateConfig(max_new_tokens=6, temperature=1.0, samples_per_prompt=3, seed=5)
    a = generate(model, tok, ["12+34=", "40+41="], cfg)
    b = generate(model, tok, ["12+34=", "40+41="], cfg)
    assert a == b, "same seed must give the same samples"
    assert len(a) == 6 and all(r["finished"] for r in a)
    assert all("<eos>" not in r["response"] and "<pad>" not in r["response"] for r in a)
