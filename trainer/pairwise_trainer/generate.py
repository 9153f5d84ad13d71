"""Batched, seeded sampling with a KV cache from any checkpoint (base, base+adapter, merged).

We use our own small sampling loop instead of ``model.generate`` so PPO and ``generate`` share one
exact definition of the sampling distribution: logits divided by the temperature, optional nucleus
(top-p) filtering, no top-k (N+ implementation details, Huang et al. 2024: PPO's logprobs must be of
the distribution actually sampled from), left-padded prompts with explicit position ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .modeling import position_ids_from_mask


@dataclass
class GenerateConfig:
    """Sampling settings."""

    max_new_tokens: int = 16
    """Maximum tokens generated per response."""
    temperature: float = 1.0
    """Softmax temperature; 0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling mass (1.0 = sample from the full distribution, as PPO requires)."""
    samples_per_prompt: int = 1
    """Responses drawn per prompt."""
    batch_size: int = 64
    """Prompts per forward batch."""
    seed: int = 0
    """Seed for the sampling generator."""


def _filter_top_p(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    if top_p >= 1.0:
        return logits
    sorted_logits, sorted_idx = torch.sort(logits, descending=True, dim=-1)
    probs = sorted_logits.softmax(-1)
    # Remove tokens once the mass *before* them already exceeds top_p (always keep the first).
    remove = probs.cumsum(-1) - probs > top_p
    sorted_logits = sorted_logits.masked_fill(remove, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(-1, sorted_idx, sorted_logits)


@torch.no_grad()
def sample_tokens(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    max_new_tokens: int,
    eos_token_id: int,
    pad_token_id: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sample continuations of left-padded prompts with a KV cache.

    Returns ``(batch, new_tokens)`` response ids; everything after a row's first EOS is ``pad``.
    """
    mask = attention_mask.clone()
    pos = position_ids_from_mask(mask)
    out = model(input_ids=input_ids, attention_mask=mask, position_ids=pos, use_cache=True)
    # transformers >= 5.x names the KV cache ``cache``; older releases ``past_key_values``.
    cache_kw = "cache" if "cache" in out else "past_key_values"
    past = out[cache_kw]
    logits = out.logits[:, -1, :].float()
    next_pos = pos[:, -1:] + 1
    finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    tokens = []
    for t in range(max_new_tokens):
        if temperature <= 0:
            nxt = logits.argmax(-1)
        else:
            probs = _filter_top_p(logits / temperature, top_p).softmax(-1)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        nxt = torch.where(finished, torch.full_like(nxt, pad_token_id), nxt)
        tokens.append(nxt)
        finished |= nxt == eos_token_id
        if bool(finished.all()) or t == max_new_tokens - 1:
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = model(
            input_ids=nxt[:, None],
            attention_mask=mask,
            position_ids=next_pos,
            use_cache=True,
            **{cache_kw: past},
        )
        past = out[cache_kw]
        logits = out.logits[:, -1, :].float()
        next_pos = next_pos + 1
    return torch.stack(tokens, dim=1)


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """A torch generator on ``device`` seeded with ``seed`` (sampling is reproducible per seed)."""
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


def generate(
    model, tokenizer, prompts: list[str], cfg: GenerateConfig, progress=None
) -> list[dict]:
    """Generate ``cfg.samples_per_prompt`` responses per prompt.

    Returns rows ``{"prompt", "response", "sample", "finished"}`` (``finished``: ended with EOS).
    """
    device = next(model.parameters()).device
    gen = make_generator(cfg.seed, device)
    tokenizer.padding_side = "left"
    expanded = [(p, s) for p in prompts for s in range(cfg.samples_per_prompt)]
    rows: list[dict] = []
    model.eval()
    total = (len(expanded) + cfg.batch_size - 1) // cfg.batch_size
    if progress is not None:
        progress.start(total)
    for bi, i in enumerate(range(0, len(expanded), cfg.batch_size)):
        chunk = expanded[i : i + cfg.batch_size]
        enc = tokenizer([p for p, _ in chunk], return_tensors="pt", padding=True).to(device)
        resp = sample_tokens(
            model,
            enc["input_ids"],
            enc["attention_mask"],
            cfg.max_new_tokens,
            tokenizer.eos_token_id,
            tokenizer.pad_token_id,
            cfg.temperature,
            cfg.top_p,
            gen,
        )
        for (p, s), ids in zip(chunk, resp.tolist()):
            finished = tokenizer.eos_token_id in ids
            if finished:
                ids = ids[: ids.index(tokenizer.eos_token_id)]
            text = tokenizer.decode(ids, skip_special_tokens=True)
            rows.append({"prompt": p, "response": text, "sample": s, "finished": finished})
        if progress is not None:
            progress.step(bi + 1, total)
    return rows
