"""Supervised fine-tuning on demonstrations, loss masked to response tokens, full or LoRA.

Masking the prompt follows InstructGPT (Ouyang et al. 2022): the policy should learn to produce
responses, not to model prompts. The completion is followed by EOS so the policy learns to stop --
PPO later penalises responses without EOS.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from .common import (
    config_dict,
    make_accelerator,
    make_optimizer,
    make_scheduler,
    save_json,
    save_model,
)
from .data import SFTExample
from .modeling import UserError, lora_config, position_ids_from_mask, seed_everything
from .reward import split_pairs


@dataclass
class SFTConfig:
    """SFT hyperparameters."""

    lr: float = 2e-5
    """Peak AdamW learning rate (common full-fine-tuning default; raise for LoRA/tiny models)."""
    batch_size: int = 8
    """Examples per device per micro-batch."""
    grad_accum: int = 1
    """Micro-batches accumulated per optimizer step."""
    epochs: float = 1.0
    """Passes over the demonstrations."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    warmup_ratio: float = 0.03
    """Fraction of steps with linear warmup."""
    max_length: int = 512
    """Max tokens of prompt+completion (truncated from the right)."""
    lora: bool = False
    """Train LoRA adapters (peft) instead of all weights."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA alpha."""
    lora_dropout: float = 0.0
    """LoRA dropout."""
    lora_target_modules: str = "all-linear"
    """Comma list of module names, or ``all-linear``."""
    merge_lora: bool = False
    """Save LoRA merged into the base weights instead of the adapter alone."""
    eval_fraction: float = 0.1
    """Fraction held out for evaluation when no eval file is given."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    seed: int = 0
    """Seed."""
    log_every: int = 10
    """Optimizer steps between metrics lines."""


def encode_sft(tokenizer, ex: SFTExample, max_length: int) -> tuple[list[int], list[int]]:
    """Token ids and labels (-100 on prompt tokens) for prompt + completion + EOS."""
    p_ids = tokenizer(ex.prompt)["input_ids"]
    full = tokenizer(ex.prompt + ex.completion + tokenizer.eos_token)["input_ids"]
    n_prompt = len(p_ids)
    # BPE may merge across the boundary; trust the common prefix only.
    while n_prompt > 0 and full[:n_prompt] != p_ids[:n_prompt]:
        n_prompt -= 1
    full = full[:max_length]
    labels = [-100] * min(n_prompt, len(full)) + full[n_prompt:]
    return full, labels


def _collate(pad_id: int):
    def f(batch):
        n = max(len(b[0]) for b in batch)
        ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), n), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), n), dtype=torch.long)
        for i, (x, y) in enumerate(batch):
            ids[i, : len(x)] = torch.tensor(x)
            labels[i, : len(y)] = torch.tensor(y)
            mask[i, : len(x)] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    return f


def sft_loss(model, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of token NLL over response tokens and the number of those tokens."""
    logits = (
        model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            position_ids=position_ids_from_mask(batch["attention_mask"]),
            use_cache=False,
        )
        .logits[:, :-1]
        .float()
    )
    labels = batch["labels"][:, 1:]
    nll = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="sum"
    )
    return nll, (labels != -100).sum()


@torch.no_grad()
def evaluate_sft(
    model, tokenizer, examples: list[SFTExample], max_length: int = 512, batch_size: int = 32
) -> dict:
    """Mean per-token response NLL and perplexity."""
    model.eval()
    device = next(model.parameters()).device
    col = _collate(tokenizer.pad_token_id)
    tot, n = 0.0, 0
    for i in range(0, len(examples), batch_size):
        batch = col([encode_sft(tokenizer, e, max_length) for e in examples[i : i + batch_size]])
        batch = {k: v.to(device) for k, v in batch.items()}
        s, c = sft_loss(model, batch)
        tot, n = tot + s.item(), n + c.item()
    loss = tot / max(n, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50)), "tokens": n}


def train_sft(
    model_path: str,
    train: list[SFTExample],
    out: str | None,
    cfg: SFTConfig,
    eval_examples: list[SFTExample] | None = None,
    progress=None,
    cpu: bool = False,
) -> dict:
    """Fine-tune a causal LM on demonstrations; returns metrics (also saved to ``out``)."""
    from transformers import AutoModelForCausalLM

    from .modeling import _check_model_ref, load_tokenizer

    seed_everything(cfg.seed)
    tokenizer = load_tokenizer(model_path, padding_side="right")
    if eval_examples is None:
        train, eval_examples = split_pairs(train, cfg.eval_fraction, cfg.seed)
    if not train:
        raise UserError("empty dataset: no training examples left after the eval split")
    accelerator = make_accelerator(cfg.grad_accum, cpu=cpu)
    _check_model_ref(model_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(model_path)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load model from {model_path}: {str(e).splitlines()[0]}") from e
    if cfg.lora:
        from peft import get_peft_model

        model = get_peft_model(
            model,
            lora_config(
                "CAUSAL_LM", cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_target_modules
            ),
        )
    eval_before = (
        evaluate_sft(model.to(accelerator.device), tokenizer, eval_examples, cfg.max_length)
        if eval_examples
        else None
    )
    data = [encode_sft(tokenizer, e, cfg.max_length) for e in train]
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
    step, history, t0 = 0, [], time.time()
    model.train()
    done = False
    while not done:
        for batch in loader:
            with accelerator.accumulate(model):
                nll, count = sft_loss(model, batch)
                loss = nll / count.clamp(min=1)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                opt.step()
                sched.step()
                opt.zero_grad()
            if accelerator.sync_gradients:
                step += 1
                loss_avg = accelerator.reduce(loss.detach(), reduction="mean").item()
                history.append(loss_avg)
                m = {"loss": loss_avg, "lr": sched.get_last_lr()[0]}
                if progress is not None:
                    progress.step(step, total_steps, m)
                    if step % cfg.log_every == 0 or step == total_steps:
                        progress.metrics(step, m)
                if step >= total_steps:
                    done = True
                    break
    elapsed = time.time() - t0
    accelerator.wait_for_everyone()
    model = accelerator.unwrap_model(model)
    model.eval()
    metrics: dict = {
        "train_loss_first": history[0],
        "train_loss_last": sum(history[-5:]) / len(history[-5:]),
        "train_loss_history": history,
        "steps": step,
        "train_time_s": elapsed,
        "num_processes": accelerator.num_processes,
    }
    if eval_examples:
        metrics["eval_before"] = eval_before
        metrics["eval"] = evaluate_sft(model, tokenizer, eval_examples, cfg.max_length)
    if out and accelerator.is_main_process:
        save_model(model, tokenizer, out, cfg.lora, cfg.merge_lora)
        save_json(f"{out}/training_config.json", {"model": model_path, **config_dict(cfg)})
        save_json(f"{out}/metrics.json", metrics)
    accelerator.wait_for_everyone()
    if progress is not None:
        progress.done({k: v for k, v in metrics.items() if k != "train_loss_history"}, out)
    metrics["model"] = model  # the trained (unwrapped; merged if merge_lora) model, for callers
    return metrics
