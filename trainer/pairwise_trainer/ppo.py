"""PPO for RLHF, following "The N+ Implementation Details of RLHF with PPO" (Huang et al. 2024),
CleanRL style: everything in one file, one update = rollout -> rewards -> GAE -> PPO epochs.

* Policy: causal LM + scalar value head on the last hidden state (shared backbone, ``vf_coef``
  weights the value loss as in Ziegler et al. 2019 / TRL).
* Reference: a frozen copy; with LoRA, the same base with adapters disabled (one copy of weights).
* Reward per token: ``-beta * KL_t``; at the last response token add the (normalised) score
  (Ziegler et al. 2019; Ouyang et al. 2022). Responses without EOS get ``missing_eos_penalty``
  instead of their score (N+ details #6, "EOS trick").
* KL controller: fixed beta, or adaptive (Ziegler et al. 2019: target, horizon).
* GAE(gamma, lambda) (Schulman et al. 2016); advantages whitened over valid tokens only.
* Clipped surrogate policy loss and clipped value loss (Schulman et al. 2017), several epochs over
  shuffled minibatches with gradient accumulation.
* Prompts are left-padded with explicit position ids; logits are divided by the sampling
  temperature for both policy and reference (N+ details #4).

The reward can come from a trained reward model or from any Python function
``f(prompts, responses) -> list[float]`` (e.g. the verifiable task's ``score``), which tests use.
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .common import config_dict, make_optimizer, masked_mean, masked_whiten, save_json
from .generate import make_generator, sample_tokens
from .modeling import (
    VALUE_HEAD_FILE,
    UserError,
    ValueHead,
    lora_config,
    position_ids_from_mask,
    seed_everything,
)

RewardFn = Callable[[list[str], list[str]], list[float]]


@dataclass
class PPOConfig:
    """PPO hyperparameters; defaults follow Huang et al. 2024 (N+ details) unless noted."""

    lr: float = 3e-6
    """AdamW learning rate (N+ details, 1B models; tiny models need ~1e-4..1e-3)."""
    rollout_batch_size: int = 64
    """Episodes (prompt + sampled response) per PPO update."""
    mini_batch_size: int = 16
    """Episodes per optimizer step inside the PPO epochs."""
    grad_accum: int = 1
    """Micro-batches per minibatch (micro = mini_batch_size / grad_accum)."""
    ppo_epochs: int = 4
    """Passes over each rollout batch (Ouyang et al. 2022: 4)."""
    num_updates: int = 100
    """Rollout+optimisation iterations."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    warmup_updates: int = 0
    """Updates of linear learning-rate warmup (then linear decay to 0, N+ details #11)."""
    anneal_lr: bool = True
    """Linearly decay the learning rate to 0 over the run."""
    beta: float = 0.05
    """KL penalty coefficient (initial value when adaptive; N+ details: 0.05)."""
    kl_target: float | None = None
    """Target KL (nats per sequence) for the adaptive controller; None = fixed beta (Ziegler: 6)."""
    kl_horizon: int = 10000
    """Adaptive KL horizon in episodes (Ziegler et al. 2019: 10000)."""
    kl_estimator: str = "k1"
    """Per-token KL estimator in the reward: k1 = log p - log q (unbiased), k3 = Schulman's."""
    cliprange: float = 0.2
    """Policy ratio clip epsilon (Schulman et al. 2017: 0.2)."""
    cliprange_value: float = 0.2
    """Value clip range around the rollout values (N+ details: 0.2)."""
    vf_coef: float = 0.1
    """Value-loss weight (shared backbone; TRL/N+ details: 0.1)."""
    gamma: float = 1.0
    """Discount (N+ details: 1.0)."""
    lam: float = 0.95
    """GAE lambda (N+ details: 0.95)."""
    temperature: float = 0.7
    """Sampling temperature; logits of policy and reference are divided by it (N+ details: 0.7)."""
    max_new_tokens: int = 53
    """Response length limit (N+ details, TL;DR: 53)."""
    max_prompt_length: int = 512
    """Prompts are truncated from the left to this many tokens."""
    missing_eos_penalty: float | None = -1.0
    """Score for responses without EOS (N+ details: -1); None disables the penalty."""
    whiten_rewards: bool = False
    """Whiten per-token rewards before GAE (off in N+ details)."""
    normalize_reward: bool = True
    """Normalise reward-model scores with the RM's saved training mean/std (N+ details #10)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    lora: bool = False
    """Train LoRA adapters; the reference is then the base with adapters disabled."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA alpha."""
    lora_dropout: float = 0.0
    """LoRA dropout (0: dropout would make the first ratio differ from 1, N+ details #9)."""
    lora_target_modules: str = "all-linear"
    """Comma list of module names, or ``all-linear``."""
    merge_lora: bool = False
    """Save LoRA merged into the base weights instead of the adapter alone."""
    seed: int = 0
    """Seed for init, prompt order and sampling."""


# --------------------------------------------------------------------------------------------------
# Math (unit-tested against hand-computed values)


def logprobs_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[label] per position."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return torch.gather(logp, -1, labels.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical distribution per position."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def kl_estimate(logp: torch.Tensor, ref_logp: torch.Tensor, kind: str = "k1") -> torch.Tensor:
    """Per-token estimators of KL(pi || ref) from samples of pi (Schulman 2020, "Approximating KL").

    k1 = log r, k2 = (log r)^2 / 2, k3 = (r^-1 - 1) + log r, with log r = logp - ref_logp.
    """
    logr = logp - ref_logp
    if kind == "k1":
        return logr
    if kind == "k2":
        return 0.5 * logr**2
    if kind == "k3":
        return torch.expm1(-logr) + logr
    raise ValueError(f"unknown KL estimator {kind!r} (k1, k2, k3)")


def compute_gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over response tokens (Schulman et al. 2016).

    ``mask`` marks valid tokens (a prefix of each row). Values and rewards at padded positions are
    zeroed, so the last valid token bootstraps from 0 (the episode ends there).
    Returns (advantages, returns = advantages + values).
    """
    mask = mask.to(rewards.dtype)
    rewards, values = rewards * mask, values * mask
    T = rewards.shape[1]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(T)):
        next_v = values[:, t + 1] if t + 1 < T else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_v - values[:, t]
        last = delta + gamma * lam * last
        adv[:, t] = last
    adv = adv * mask
    return adv, (adv + values) * mask


class FixedKLController:
    """Constant beta."""

    def __init__(self, beta: float):
        self.value = beta

    def update(self, current_kl: float, n_steps: int) -> None:
        pass


class AdaptiveKLController:
    """Adaptive beta (Ziegler et al. 2019, eq. 2): proportional control of KL towards ``target``.

    e = clip(KL / target - 1, -0.2, 0.2);  beta <- beta * (1 + e * n_steps / horizon)
    """

    def __init__(self, beta: float, target: float, horizon: int):
        self.value, self.target, self.horizon = beta, target, horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        err = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + err * n_steps / self.horizon


def ppo_losses(
    new_logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    vpred: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    cliprange: float,
    cliprange_value: float,
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Clipped surrogate policy loss and clipped value loss (Schulman et al. 2017), token means over
    valid tokens. Returns (pg_loss, vf_loss, stats)."""
    vpredclipped = old_values + torch.clamp(vpred - old_values, -cliprange_value, cliprange_value)
    vf_losses1 = (vpred - returns) ** 2
    vf_losses2 = (vpredclipped - returns) ** 2
    vf_loss = 0.5 * masked_mean(torch.max(vf_losses1, vf_losses2), mask)
    vf_clipfrac = masked_mean((vf_losses2 > vf_losses1).float(), mask)

    logratio = new_logprobs - old_logprobs
    ratio = torch.exp(logratio)
    pg_losses = -advantages * ratio
    pg_losses2 = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    pg_loss = masked_mean(torch.max(pg_losses, pg_losses2), mask)
    pg_clipfrac = masked_mean((pg_losses2 > pg_losses).float(), mask)
    approx_kl = 0.5 * masked_mean(logratio**2, mask)
    stats = {
        "policy/approxkl": approx_kl.detach(),
        "policy/clipfrac": pg_clipfrac.detach(),
        "val/clipfrac": vf_clipfrac.detach(),
        "val/ratio": masked_mean(ratio, mask).detach(),
        "val/ratio_max": (ratio * mask).max().detach(),
    }
    return pg_loss, vf_loss, stats


def first_true_index(x: torch.Tensor) -> torch.Tensor:
    """Index of the first True per row, or the row length when there is none."""
    T = x.shape[1]
    idx = torch.arange(T, device=x.device).expand_as(x)
    return torch.where(x, idx, torch.full_like(idx, T)).min(-1).values


# --------------------------------------------------------------------------------------------------
# Model


class PolicyWithValue(nn.Module):
    """Causal LM (optionally a peft LoRA model) plus a scalar value head."""

    def __init__(self, lm, hidden_size: int):
        super().__init__()
        self.lm = lm
        self.v_head = ValueHead(hidden_size)

    def forward(self, input_ids, attention_mask, temperature: float):
        out = self.lm(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids_from_mask(attention_mask),
            output_hidden_states=True,
            use_cache=False,
        )
        logits = out.logits.float() / temperature
        values = self.v_head(out.hidden_states[-1].float())
        return logits, values


def response_logprobs(lm, query, q_mask, response, r_mask, temperature: float):
    """Log-probs (and logits) of ``response`` tokens under ``lm`` with temperature-scaled logits."""
    ids = torch.cat([query, response], 1)
    mask = torch.cat([q_mask, r_mask], 1)
    out = lm(
        input_ids=ids,
        attention_mask=mask,
        position_ids=position_ids_from_mask(mask),
        use_cache=False,
    )
    Lq = query.shape[1]
    # Logits at position i predict token i+1: the response is predicted by positions Lq-1 .. end-1.
    logits = out.logits[:, Lq - 1 : -1].float() / temperature
    return logprobs_from_logits(logits, response), logits


# --------------------------------------------------------------------------------------------------
# Training


class RewardModelScorer:
    """Wraps a reward-model checkpoint as a reward function, normalising with its saved stats."""

    def __init__(self, path: str, device: torch.device, normalize: bool = True):
        from .modeling import load_reward_model, load_tokenizer, reward_stats

        self.model = load_reward_model(path, device).eval()
        self.tokenizer = load_tokenizer(path, padding_side="right")
        self.mean, self.std = reward_stats(path) if normalize else (0.0, 1.0)

    def __call__(self, prompts: list[str], responses: list[str]) -> list[float]:
        from .reward import score_texts

        r = score_texts(self.model, self.tokenizer, prompts, responses)
        return ((r - self.mean) / self.std).tolist()


def train_ppo(
    model_path: str,
    prompts: list[str],
    reward_fn: RewardFn,
    out: str | None,
    cfg: PPOConfig,
    progress=None,
    device: torch.device | None = None,
    raw_score_fn: RewardFn | None = None,
    resume_state: dict | None = None,
    on_update: Callable[[int, Callable[[], dict]], None] | None = None,
) -> dict:
    """Run PPO; returns ``{"history": [per-update metrics], ...}`` and saves the policy to ``out``.

    ``raw_score_fn`` (optional) is logged as ``objective/raw_score`` (e.g. task score while
    training against a reward model).

    Resume (used by ``pairwise-worker``): ``on_update(n_done, get_state)`` is called after every
    update; ``get_state()`` returns the state that ``resume_state`` accepts to continue from update
    ``n_done`` (trainable weights incl. value head, optimizer, KL coefficient, RNG states). The
    reference model is always rebuilt from ``model_path``.
    """
    from transformers import AutoModelForCausalLM

    from .modeling import _check_model_ref, load_tokenizer, pick_device

    if not prompts:
        raise UserError("empty dataset: no prompts")
    if cfg.rollout_batch_size % cfg.mini_batch_size or cfg.mini_batch_size % cfg.grad_accum:
        raise UserError(
            "rollout_batch_size must be a multiple of mini_batch_size, and mini_batch_size of grad_accum"
        )
    seed_everything(cfg.seed)
    device = device or pick_device()
    tokenizer = load_tokenizer(model_path, padding_side="left")
    _check_model_ref(model_path)
    try:
        lm = AutoModelForCausalLM.from_pretrained(model_path)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load model from {model_path}: {str(e).splitlines()[0]}") from e
    if cfg.lora:
        from peft import get_peft_model

        lm = get_peft_model(
            lm,
            lora_config(
                "CAUSAL_LM", cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_target_modules
            ),
        )
        ref = None  # reference = the same weights with adapters disabled
    else:
        ref = copy.deepcopy(lm).eval().requires_grad_(False).to(device)
    policy = PolicyWithValue(lm, lm.config.get_text_config().hidden_size).to(device)
    # Dropout off everywhere (N+ details #9): otherwise old and new logprobs differ at ratio=1.
    policy.eval()
    opt = make_optimizer(policy, cfg.lr, cfg.weight_decay)
    # bf16 autocast on capable GPUs (weights and optimizer state stay fp32; losses are computed
    # from fp32-cast logits). CPU runs in fp32.
    use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()

    def amp():
        return (
            torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()
        )

    def lr_at(update: int) -> float:
        if cfg.warmup_updates and update < cfg.warmup_updates:
            return cfg.lr * (update + 1) / cfg.warmup_updates
        if cfg.anneal_lr:
            return cfg.lr * (1.0 - update / cfg.num_updates)
        return cfg.lr

    kl_ctl = (
        AdaptiveKLController(cfg.beta, cfg.kl_target, cfg.kl_horizon)
        if cfg.kl_target
        else FixedKLController(cfg.beta)
    )
    gen = make_generator(cfg.seed, device)
    rng = random.Random(cfg.seed)
    order: list[int] = []
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    history: list[dict] = []
    start_update = 0
    if resume_state is not None:
        start_update, order = _load_ppo_state(resume_state, policy, opt, kl_ctl, gen, rng)

    def get_state(n_done: int) -> dict:
        return _ppo_state(n_done, policy, opt, kl_ctl, gen, rng, order)

    if progress is not None:
        progress.start(cfg.num_updates)
    t_start = time.time()

    for update in range(start_update, cfg.num_updates):
        t0 = time.time()
        for g in opt.param_groups:
            g["lr"] = lr_at(update)
        # ---- rollout
        batch_prompts = []
        while len(batch_prompts) < cfg.rollout_batch_size:
            if not order:
                order = list(range(len(prompts)))
                rng.shuffle(order)
            batch_prompts.append(prompts[order.pop()])
        enc = tokenizer(batch_prompts, return_tensors="pt", padding=True)
        query = enc["input_ids"][:, -cfg.max_prompt_length :].to(device)
        q_mask = enc["attention_mask"][:, -cfg.max_prompt_length :].to(device)
        with torch.no_grad(), amp():
            response = sample_tokens(
                policy.lm, query, q_mask, cfg.max_new_tokens, eos, pad, cfg.temperature, 1.0, gen
            )
            is_eos = response == eos
            has_eos = is_eos.any(1)
            first_eos = first_true_index(is_eos)
            # Valid tokens: up to and including the first EOS (later tokens are already pad).
            idx = torch.arange(response.shape[1], device=device)
            r_mask = (idx[None, :] <= first_eos[:, None]).long()
            seq_len = r_mask.sum(1)
            ids = torch.cat([query, response], 1)
            mask = torch.cat([q_mask, r_mask], 1)
            Lq = query.shape[1]
            logits, values_all = policy(ids, mask, cfg.temperature)
            resp_logits = logits[:, Lq - 1 : -1]
            old_logprobs = logprobs_from_logits(resp_logits, response)
            entropy = entropy_from_logits(resp_logits)
            old_values = values_all[:, Lq - 1 : -1]
            if ref is None:
                with policy.lm.disable_adapter():
                    ref_logprobs, _ = response_logprobs(
                        policy.lm, query, q_mask, response, r_mask, cfg.temperature
                    )
            else:
                ref_logprobs, _ = response_logprobs(
                    ref, query, q_mask, response, r_mask, cfg.temperature
                )
            texts = []
            for row, n, e in zip(response.tolist(), seq_len.tolist(), has_eos.tolist()):
                texts.append(
                    tokenizer.decode(row[: n - 1] if e else row[:n], skip_special_tokens=True)
                )
            scores = torch.tensor(
                reward_fn(batch_prompts, texts), dtype=torch.float32, device=device
            )
            raw_scores = scores.clone()
            if cfg.missing_eos_penalty is not None:
                scores = torch.where(
                    has_eos, scores, torch.full_like(scores, cfg.missing_eos_penalty)
                )
            fmask = r_mask.float()
            kl = kl_estimate(old_logprobs, ref_logprobs, cfg.kl_estimator) * fmask
            beta = kl_ctl.value
            non_score_reward = -beta * kl
            rewards = non_score_reward.clone()
            last = (seq_len - 1).clamp(min=0)
            rewards[torch.arange(len(last), device=device), last] += scores
            if cfg.whiten_rewards:
                rewards = masked_whiten(rewards, fmask, shift_mean=False)
            old_values = old_values * fmask
            advantages, returns = compute_gae(rewards, old_values, fmask, cfg.gamma, cfg.lam)
            advantages = masked_whiten(advantages, fmask)
        t_rollout = time.time() - t0

        # ---- PPO epochs over shuffled minibatches
        B = cfg.rollout_batch_size
        micro = cfg.mini_batch_size // cfg.grad_accum
        stats_acc: dict[str, list[float]] = {}
        first_ratio = None
        for _epoch in range(cfg.ppo_epochs):
            perm = torch.randperm(B, generator=torch.Generator().manual_seed(rng.randrange(2**31)))
            for start in range(0, B, cfg.mini_batch_size):
                mb = perm[start : start + cfg.mini_batch_size]
                opt.zero_grad(set_to_none=True)
                for ms in range(0, cfg.mini_batch_size, micro):
                    mi = mb[ms : ms + micro].to(device)
                    with amp():
                        logits_new, v_new = policy(ids[mi], mask[mi], cfg.temperature)
                    new_logprobs = logprobs_from_logits(logits_new[:, Lq - 1 : -1], response[mi])
                    vpred = v_new[:, Lq - 1 : -1]
                    pg_loss, vf_loss, st = ppo_losses(
                        new_logprobs,
                        old_logprobs[mi],
                        advantages[mi],
                        vpred,
                        old_values[mi],
                        returns[mi],
                        fmask[mi],
                        cfg.cliprange,
                        cfg.cliprange_value,
                    )
                    loss = pg_loss + cfg.vf_coef * vf_loss
                    (loss / cfg.grad_accum).backward()
                    if first_ratio is None:
                        first_ratio = st["val/ratio"].item()
                    st["loss/pg_loss"], st["loss/vf_loss"] = pg_loss.detach(), vf_loss.detach()
                    for k, v in st.items():
                        stats_acc.setdefault(k, []).append(float(v))
                torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
                opt.step()
        dt = time.time() - t0
        mean_kl = kl.sum(1).mean().item()
        metrics = {
            "objective/score": raw_scores.mean().item(),
            "objective/score_with_penalty": scores.mean().item(),
            "objective/kl": mean_kl,
            "objective/entropy": (entropy * fmask).sum(1).mean().item(),
            "objective/non_score_reward": non_score_reward.sum(1).mean().item(),
            "objective/rlhf_reward": (scores - beta * kl.sum(1)).mean().item(),
            "objective/kl_coef": beta,
            "response/length": seq_len.float().mean().item(),
            "response/eos_rate": has_eos.float().mean().item(),
            "lr": opt.param_groups[0]["lr"],
            "perf/tokens_per_s": seq_len.sum().item() / max(dt, 1e-9),
            "perf/episodes_per_s": B / max(dt, 1e-9),
            "perf/rollout_s": t_rollout,
            "perf/update_s": dt,
            "policy/first_ratio": first_ratio,
        }
        metrics.update({k: sum(v) / len(v) for k, v in stats_acc.items()})
        metrics["val/ratio_max"] = max(stats_acc["val/ratio_max"])
        if raw_score_fn is not None:
            metrics["objective/raw_score"] = sum(raw_score_fn(batch_prompts, texts)) / B
        if not all(math.isfinite(v) for v in metrics.values()):
            bad = [k for k, v in metrics.items() if not math.isfinite(v)]
            raise FloatingPointError(f"non-finite PPO metrics at update {update}: {bad}")
        kl_ctl.update(mean_kl, B)
        history.append(metrics)
        if progress is not None:
            progress.step(
                update + 1, cfg.num_updates, {"score": metrics["objective/score"], "kl": mean_kl}
            )
            progress.metrics(update + 1, metrics)
        if on_update is not None:
            on_update(update + 1, lambda n=update + 1: get_state(n))

    result = {
        "history": history,
        "episodes": cfg.num_updates * cfg.rollout_batch_size,
        "train_time_s": time.time() - t_start,
        "samples": [{"prompt": p, "response": r} for p, r in list(zip(batch_prompts, texts))[:8]],
    }
    if out:
        save_policy(policy, tokenizer, out, cfg)
        save_json(f"{out}/training_config.json", {"model": model_path, **config_dict(cfg)})
        save_json(f"{out}/metrics.json", result)
    if progress is not None:
        progress.done(history[-1] if history else {}, out)
    result["policy"] = policy
    return result


def _ppo_state(n_done, policy, opt, kl_ctl, gen, rng, order) -> dict:
    trainable = {n for n, p in policy.named_parameters() if p.requires_grad}
    return {
        "update": n_done,
        # Only trainable tensors: with LoRA that is the adapters + value head, not the base.
        "policy": {k: v.detach().cpu() for k, v in policy.state_dict().items() if k in trainable},
        "optimizer": opt.state_dict(),
        "kl_coef": float(kl_ctl.value),
        "rng": list(rng.getstate()[1]),
        "rng_version": rng.getstate()[0],
        "order": list(order),
        "generator": gen.get_state(),
    }


def _load_ppo_state(state: dict, policy, opt, kl_ctl, gen, rng) -> tuple[int, list[int]]:
    missing = policy.load_state_dict(state["policy"], strict=False).unexpected_keys
    if missing:
        raise UserError(f"resume state does not match the policy (unexpected keys {missing[:3]})")
    if state.get("optimizer") is not None:
        opt.load_state_dict(state["optimizer"])
    kl_ctl.value = float(state["kl_coef"])
    rng.setstate((state["rng_version"], tuple(state["rng"]), None))
    gen.set_state(
        state["generator"].cpu() if hasattr(state["generator"], "cpu") else state["generator"]
    )
    return int(state["update"]), list(state["order"])


def save_policy(policy: PolicyWithValue, tokenizer, out: str, cfg: PPOConfig) -> None:
    """Save the LM (full, adapter-only or merged) + tokenizer, and the value head separately."""
    from safetensors.torch import save_file

    Path(out).mkdir(parents=True, exist_ok=True)
    lm = policy.lm
    if cfg.lora and cfg.merge_lora:
        lm = copy.deepcopy(lm).merge_and_unload()
    lm.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    save_file(
        {k: v.contiguous() for k, v in policy.v_head.state_dict().items()},
        f"{out}/{VALUE_HEAD_FILE}",
    )
