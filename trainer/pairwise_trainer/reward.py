"""Reward model training with the Bradley-Terry loss.

Model: any causal LM backbone loaded as ``AutoModelForSequenceClassification(num_labels=1)`` -- the LM
with a scalar head -- scored at the last non-pad token (the EOS we append), full fine-tuning or LoRA.

Loss (Bradley & Terry 1952; Ouyang et al. 2022; margin as in Touvron et al. 2023, Llama 2):

    L = -w * log sigma(r_chosen - r_rejected - margin)  [+ c * (r_chosen + r_rejected)^2]

The optional second term is reward centering (Eisenstein et al. 2023, "Helping or Herding?"): it
keeps rewards near zero mean, since the BT loss only sees differences.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .common import (
    config_dict,
    make_accelerator,
    make_optimizer,
    make_scheduler,
    save_json,
    save_model,
)
from .data import PreferencePair
from .modeling import UserError, lora_config, position_ids_from_mask, seed_everything


@dataclass
class RewardConfig:
    """Reward-model hyperparameters (defaults follow Ouyang et al. 2022 / TRL where sensible)."""

    lr: float = 1e-5
    """Peak AdamW learning rate (InstructGPT RM used 9e-6; raise for LoRA or tiny models)."""
    batch_size: int = 8
    """Preference pairs per device per micro-batch."""
    grad_accum: int = 1
    """Micro-batches accumulated per optimizer step."""
    epochs: float = 1.0
    """Passes over the training pairs (InstructGPT: 1, to avoid RM overfitting)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    warmup_ratio: float = 0.03
    """Fraction of steps with linear warmup."""
    max_length: int = 512
    """Max tokens of prompt+response; longer sequences are truncated from the left."""
    center_coef: float = 0.0
    """Reward-centering auxiliary loss coefficient (Eisenstein et al. 2023 use 0.01)."""
    use_margin: bool = True
    """Subtract the data's ``margin`` column inside the sigmoid (Llama 2)."""
    lora: bool = False
    """Train LoRA adapters (peft) instead of all weights."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA scaling alpha (alpha/r scales the update)."""
    lora_dropout: float = 0.0
    """LoRA dropout."""
    lora_target_modules: str = "all-linear"
    """Comma list of module names, or ``all-linear``."""
    merge_lora: bool = False
    """Save LoRA merged into the base weights instead of the adapter alone."""
    eval_fraction: float = 0.1
    """Fraction of pairs held out for evaluation when no eval file is given."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    seed: int = 0
    """Seed for init, split and data order."""
    log_every: int = 10
    """Optimizer steps between metrics lines."""


def bt_loss(
    r_chosen: torch.Tensor,
    r_rejected: torch.Tensor,
    margin: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    center_coef: float = 0.0,
) -> torch.Tensor:
    """Weighted Bradley-Terry loss ``-log sigma(r_c - r_r - margin)`` plus optional centering."""
    diff = r_chosen - r_rejected
    if margin is not None:
        diff = diff - margin
    losses = -F.logsigmoid(diff)
    if center_coef > 0:
        losses = losses + center_coef * (r_chosen + r_rejected) ** 2
    if weight is None:
        return losses.mean()
    return (losses * weight).sum() / weight.sum().clamp(min=1e-8)


def _encode(tokenizer, prompt: str, response: str, max_length: int) -> list[int]:
    # Append EOS so the score is read at the same token PPO responses end with.
    ids = tokenizer(prompt + response + tokenizer.eos_token)["input_ids"]
    return ids[-max_length:]


class _PairData(torch.utils.data.Dataset):
    def __init__(self, pairs: list[PreferencePair], tokenizer, max_length: int):
        self.items = [
            (
                _encode(tokenizer, p.prompt, p.chosen, max_length),
                _encode(tokenizer, p.prompt, p.rejected, max_length),
                p.margin,
                p.weight,
            )
            for p in pairs
        ]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def pad_right(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(len(s) for s in seqs)
    # One tensor construction per batch (building row by row costs more than the tiny model's step).
    ids = torch.tensor([s + [pad_id] * (n - len(s)) for s in seqs], dtype=torch.long)
    mask = torch.tensor([[1] * len(s) + [0] * (n - len(s)) for s in seqs], dtype=torch.long)
    return ids, mask


def _collate(pad_id: int):
    def f(batch):
        # Chosen and rejected go through the model in one forward pass (halves launches).
        ids, mask = pad_right([b[0] for b in batch] + [b[1] for b in batch], pad_id)
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "margin": torch.tensor([b[2] for b in batch], dtype=torch.float32),
            "weight": torch.tensor([b[3] for b in batch], dtype=torch.float32),
        }

    return f


def reward_forward(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Scalar rewards, read at each row's last non-pad token (HF sequence-classification pooling
    finds it from ``pad_token_id``; explicit position ids make left padding safe too)."""
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
        use_cache=False,  # no KV cache when scoring whole sequences
    )
    return out.logits[:, 0].float()


@torch.no_grad()
def score_texts(
    model,
    tokenizer,
    prompts: list[str],
    responses: list[str],
    batch_size: int = 64,
    max_length: int = 512,
) -> torch.Tensor:
    """Reward of each (prompt, response) exactly as seen in training (response + EOS)."""
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(prompts), batch_size):
        seqs = [
            _encode(tokenizer, p, r, max_length)
            for p, r in zip(prompts[i : i + batch_size], responses[i : i + batch_size])
        ]
        ids, mask = pad_right(seqs, tokenizer.pad_token_id)
        out.append(reward_forward(model, ids.to(device), mask.to(device)).cpu())
    return torch.cat(out)


def expected_calibration_error(p_chosen: torch.Tensor, n_bins: int = 10) -> float:
    """ECE of the BT probability ``sigma(r_c - r_r)`` that the labelled-chosen response wins.

    Each pair is a binary prediction with confidence ``max(p, 1-p)`` that is correct when p > 0.5.
    """
    conf = torch.maximum(p_chosen, 1 - p_chosen)
    correct = (p_chosen > 0.5).float()
    edges = torch.linspace(0.5, 1.0, n_bins + 1)
    ece = 0.0
    n = len(p_chosen)
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi) if lo > 0.5 else (conf >= lo) & (conf <= hi)
        if sel.any():
            ece += sel.sum().item() / n * abs(correct[sel].mean().item() - conf[sel].mean().item())
    return float(ece)


@torch.no_grad()
def evaluate_reward(
    model, tokenizer, pairs: list[PreferencePair], batch_size: int = 32, max_length: int = 512
) -> dict:
    """Held-out metrics: accuracy, mean margin, loss, ECE and accuracy by strength."""
    model.eval()
    rc = score_texts(
        model,
        tokenizer,
        [p.prompt for p in pairs],
        [p.chosen for p in pairs],
        batch_size,
        max_length,
    )
    rr = score_texts(
        model,
        tokenizer,
        [p.prompt for p in pairs],
        [p.rejected for p in pairs],
        batch_size,
        max_length,
    )
    diff = rc - rr
    margin = torch.tensor([p.margin for p in pairs])
    acc = ((diff > 0).float() + 0.5 * (diff == 0).float()).mean().item()
    metrics = {
        "accuracy": acc,
        "mean_margin": diff.mean().item(),
        "loss": bt_loss(rc, rr, margin).item(),
        "ece": expected_calibration_error(torch.sigmoid(diff)),
        "n": len(pairs),
    }
    by = defaultdict(list)
    for p, d in zip(pairs, diff.tolist()):
        if p.strength is not None:
            by[p.strength].append(1.0 if d > 0 else 0.5 if d == 0 else 0.0)
    if by:
        metrics["accuracy_by_strength"] = {k: sum(v) / len(v) for k, v in sorted(by.items())}
    return metrics


def split_pairs(pairs: list, fraction: float, seed: int) -> tuple[list, list]:
    """Deterministic train/eval split."""
    idx = list(range(len(pairs)))
    random.Random(seed).shuffle(idx)
    n_eval = max(1, int(round(len(pairs) * fraction))) if fraction > 0 and len(pairs) > 1 else 0
    ev = [pairs[i] for i in idx[:n_eval]]
    tr = [pairs[i] for i in idx[n_eval:]]
    return tr, ev


def load_rm_for_training(model_path: str, tokenizer, cfg: RewardConfig):
    from transformers import AutoModelForSequenceClassification

    from .modeling import _check_model_ref

    _check_model_ref(model_path)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=1)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load model from {model_path}: {str(e).splitlines()[0]}") from e
    model.config.pad_token_id = tokenizer.pad_token_id
    if cfg.lora:
        from peft import get_peft_model

        model = get_peft_model(
            model,
            lora_config(
                "SEQ_CLS", cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_target_modules
            ),
        )
    return model


def train_reward(
    model_path: str,
    train_pairs: list[PreferencePair],
    out: str | None,
    cfg: RewardConfig,
    eval_pairs: list[PreferencePair] | None = None,
    progress=None,
    cpu: bool = False,
) -> dict:
    """Train a reward model; returns final metrics (also written to ``out/metrics.json``)."""
    from .modeling import load_tokenizer

    seed_everything(cfg.seed)
    tokenizer = load_tokenizer(model_path, padding_side="right")
    if eval_pairs is None:
        train_pairs, eval_pairs = split_pairs(train_pairs, cfg.eval_fraction, cfg.seed)
    if not train_pairs:
        raise UserError("empty dataset: no training pairs left after the eval split")
    accelerator = make_accelerator(cfg.grad_accum, cpu=cpu)
    model = load_rm_for_training(model_path, tokenizer, cfg)
    data = _PairData(train_pairs, tokenizer, cfg.max_length)
    g = torch.Generator().manual_seed(cfg.seed)
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=cfg.batch_size,
        shuffle=True,
        generator=g,
        collate_fn=_collate(tokenizer.pad_token_id),
    )
    steps_per_epoch = math.ceil(len(loader) / accelerator.num_processes / cfg.grad_accum)
    total_steps = max(1, math.ceil(steps_per_epoch * cfg.epochs))
    opt = make_optimizer(model, cfg.lr, cfg.weight_decay)
    sched = make_scheduler(opt, int(cfg.warmup_ratio * total_steps), total_steps)
    model, opt, loader, sched = accelerator.prepare(model, opt, loader, sched)
    if progress is not None:
        progress.start(total_steps)
    step, history, t0, n_pairs = 0, [], time.time(), 0
    c0 = time.process_time()  # CPU seconds: a throughput measure that survives a shared machine
    model.train()
    done = False
    while not done:
        for batch in loader:
            with accelerator.accumulate(model):
                rewards = reward_forward(model, batch["input_ids"], batch["attention_mask"])
                b = batch["margin"].shape[0]
                r_c, r_r = rewards[:b], rewards[b:]
                loss = bt_loss(
                    r_c,
                    r_r,
                    batch["margin"] if cfg.use_margin else None,
                    batch["weight"],
                    cfg.center_coef,
                )
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                opt.step()
                sched.step()
                opt.zero_grad()
            n_pairs += b * accelerator.num_processes
            if accelerator.sync_gradients:
                step += 1
                loss_avg = accelerator.reduce(loss.detach(), reduction="mean").item()
                acc = accelerator.reduce((r_c > r_r).float().mean(), reduction="mean").item()
                history.append(loss_avg)
                m = {"loss": loss_avg, "accuracy": acc, "lr": sched.get_last_lr()[0]}
                if progress is not None:
                    progress.step(step, total_steps, m)
                    if step % cfg.log_every == 0 or step == total_steps:
                        progress.metrics(step, m)
                if step >= total_steps:
                    done = True
                    break
    elapsed = time.time() - t0
    cpu_s = time.process_time() - c0
    accelerator.wait_for_everyone()
    model = accelerator.unwrap_model(model)
    model.eval()
    metrics: dict = {
        "train_cpu_s": cpu_s,
        "pairs_per_cpu_s": n_pairs / max(cpu_s, 1e-9),
        "train_loss_first": history[0] if history else float("nan"),
        "train_loss_last": sum(history[-5:]) / max(1, len(history[-5:])),
        "train_loss_history": history,
        "steps": step,
        "pairs_per_s": n_pairs / max(elapsed, 1e-9),
        "train_time_s": elapsed,
        "num_processes": accelerator.num_processes,
    }
    if eval_pairs:
        metrics["eval"] = evaluate_reward(model, tokenizer, eval_pairs, max_length=cfg.max_length)
    # Training-set reward statistics let PPO normalise rewards to mean 0, std 1 (N+ details #10).
    all_r = torch.cat(
        [
            score_texts(
                model, tokenizer, [p.prompt for p in train_pairs], [p.chosen for p in train_pairs]
            ),
            score_texts(
                model, tokenizer, [p.prompt for p in train_pairs], [p.rejected for p in train_pairs]
            ),
        ]
    )
    stats = {"mean": all_r.mean().item(), "std": all_r.std().item()}
    metrics["reward_mean"], metrics["reward_std"] = stats["mean"], stats["std"]
    if out and accelerator.is_main_process:
        save_model(model, tokenizer, out, cfg.lora, cfg.merge_lora)
        save_json(f"{out}/reward_stats.json", stats)
        save_json(f"{out}/training_config.json", {"model": model_path, **config_dict(cfg)})
        save_json(f"{out}/metrics.json", metrics)
    accelerator.wait_for_everyone()
    if progress is not None:
        progress.done({k: v for k, v in metrics.items() if k != "train_loss_history"}, out)
    metrics["model"] = model  # the trained (unwrapped; merged if merge_lora) model, for callers
    return metrics
