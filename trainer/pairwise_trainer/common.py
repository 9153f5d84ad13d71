"""Pieces shared by the training loops: optimizer, schedule, accelerator, saving, masked stats."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import torch


def make_accelerator(grad_accum: int = 1, cpu: bool = False):
    """An ``accelerate.Accelerator`` (bf16 on capable GPUs). Under ``accelerate launch`` it picks up
    the process group, so the same loop runs data-parallel across processes."""
    from accelerate import Accelerator

    from .modeling import mixed_precision

    return Accelerator(
        gradient_accumulation_steps=grad_accum,
        mixed_precision="no" if cpu else mixed_precision(),
        cpu=cpu,
    )


def make_optimizer(
    model, lr: float, weight_decay: float, eps: float = 1e-5
) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and norm weights (standard transformer practice).

    eps=1e-5 as in the N+ implementation details (Huang et al. 2024, following OpenAI's lm-human-
    preferences) rather than PyTorch's 1e-8: it damps updates of parameters with tiny gradients.
    """
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "norm" in n.lower() else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    # Fused AdamW (one kernel for all parameters) is markedly faster for small models on CPU and GPU.
    try:
        return torch.optim.AdamW(groups, lr=lr, eps=eps, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=lr, eps=eps)


def make_scheduler(opt, warmup_steps: int, total_steps: int, kind: str = "linear"):
    """Linear warmup then linear decay to 0 (``linear``) or constant (``constant``)."""

    def f(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        if kind == "constant":
            return 1.0
        rest = max(1, total_steps - warmup_steps)
        return max(0.0, 1.0 - (step - warmup_steps) / rest)

    return torch.optim.lr_scheduler.LambdaLR(opt, f)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim=None) -> torch.Tensor:
    """Mean of ``x`` over positions where ``mask`` is 1."""
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance of ``x`` over valid positions (Bessel-corrected by default, as in the N+ details)."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    if unbiased:
        n = mask.sum()
        if n > 1:
            var = var * n / (n - 1)
    return var


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Whiten ``x`` with mean/variance computed over valid tokens only (padding does not bias the
    statistics; N+ details #8). Padded positions are set to 0."""
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return out * mask.to(x.dtype)


def save_json(path: str | Path, obj) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2, default=float) + "\n")


def config_dict(cfg) -> dict:
    return {k: v for k, v in asdict(cfg).items()}


def save_model(model, tokenizer, out: str, lora: bool, merge: bool) -> None:
    """Save safetensors weights + config + tokenizer. With LoRA, ``merge`` decides whether the adapter
    is merged into the base weights (a plain checkpoint) or saved alone (adapter dir)."""
    Path(out).mkdir(parents=True, exist_ok=True)
    if lora and merge:
        model = model.merge_and_unload()
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def finite(x: float) -> bool:
    return math.isfinite(x)
