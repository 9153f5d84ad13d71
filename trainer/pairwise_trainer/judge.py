"""Reward-model judge: verdicts on unlabelled pairs from one reward model or an ensemble.

Each member ``m`` scores both responses exactly as reward training does (prompt + response + EOS,
read at the last token; ``reward.score_texts``), and its Bradley-Terry probability that A is
preferred is ``p_m = sigma(r_a,m - r_b,m)`` (Bradley & Terry 1952). The ensemble's verdict averages
the members' probabilities, not their rewards: members trained separately put their rewards on
different scales, while their probabilities are comparable (Coste et al. 2024, "Reward Model
Ensembles Help Mitigate Overoptimization", average ensemble members the same way).

    p_a      = mean_m sigma(r_a,m - r_b,m)
    reward_a = mean_m r_a,m          (reported for display; the decision uses p_a)

The verdict's confidence is ``max(p_a, 1 - p_a)``; the server routes pairs on it (hybrid feedback).

Pairs are rows ``{"pair_id", "prompt", "response_a", "response_b"}`` in the standard (strings) or
conversational (message lists) form, rendered with ``data.to_prompt_completion`` as
``data.read_preferences`` renders training pairs, so the judge sees the text the model was trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .data import _is_messages, _iter_jsonl, to_prompt_completion
from .modeling import UserError


@dataclass
class JudgeConfig:
    """Reward-model judge settings."""

    batch_size: int = 16
    """Pairs per forward pass (both responses of a pair go through the model together)."""
    max_length: int = 512
    """Max tokens of prompt+response, truncated from the left (as in reward training)."""
    confident_at: float = 0.9
    """Confidence ``max(p, 1-p)`` counted as confident in the summary (the server's routing
    threshold default)."""


def read_judge_pairs(path: str | Path) -> list[dict]:
    """Read the judge's input JSONL; a bad line is a ``UserError`` naming ``file:line``."""
    out: list[dict] = []
    for lineno, row in _iter_jsonl(path):
        missing = [k for k in ("pair_id", "prompt", "response_a", "response_b") if k not in row]
        if missing:
            raise UserError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
        if not isinstance(row["pair_id"], int) or isinstance(row["pair_id"], bool):
            raise UserError(f"{path}:{lineno}: pair_id must be an integer")
        for k in ("prompt", "response_a", "response_b"):
            if not (isinstance(row[k], str) or _is_messages(row[k])):
                raise UserError(f"{path}:{lineno}: {k} must be a string or a list of messages")
        out.append(row)
    return out


def _as_messages(x, role: str) -> list[dict]:
    return x if isinstance(x, list) else [{"role": role, "content": x}]


def render_pair(pair: dict, tokenizer=None) -> tuple[str, str, str]:
    """(prompt, response_a, response_b) as text, rendered as reward training renders a pair.

    Mixed forms (a conversational prompt with a string response, or the reverse) are lifted to
    messages: the string becomes the user's prompt or the assistant's reply."""
    prompt, a, b = pair["prompt"], pair["response_a"], pair["response_b"]
    if isinstance(prompt, list) or isinstance(a, list) or isinstance(b, list):
        prompt = _as_messages(prompt, "user")
        a, b = _as_messages(a, "assistant"), _as_messages(b, "assistant")
    p, ra = to_prompt_completion(prompt, a, tokenizer)
    _, rb = to_prompt_completion(prompt, b, tokenizer)
    return p, ra, rb


def combine_members(r_a: torch.Tensor, r_b: torch.Tensor, pair_ids: list[int]) -> list[dict]:
    """Verdicts from per-member rewards ``r_a``, ``r_b`` of shape ``(members, pairs)``."""
    p_m = torch.sigmoid(r_a.double() - r_b.double())  # (members, pairs)
    p_a = p_m.mean(0)
    ra, rb = r_a.double().mean(0), r_b.double().mean(0)
    several = r_a.shape[0] > 1
    return [
        {
            "pair_id": int(pid),
            "reward_a": float(ra[i]),
            "reward_b": float(rb[i]),
            "p_a": float(p_a[i]),
            "members": [float(x) for x in p_m[:, i]] if several else None,
        }
        for i, pid in enumerate(pair_ids)
    ]


@torch.inference_mode()
def score_pairs(
    model_path: str,
    pairs: list[dict],
    cfg: JudgeConfig,
    device: torch.device | None = None,
    on_batch=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One reward model's (r_a, r_b) for every pair, batched; ``on_batch()`` after each batch
    (progress, and the worker's cancel check)."""
    from .modeling import load_reward_model, load_tokenizer
    from .reward import score_texts

    tok = load_tokenizer(model_path, padding_side="right")
    model = load_reward_model(model_path, device or torch.device("cpu")).eval()
    model.config.pad_token_id = tok.pad_token_id
    rendered = [render_pair(p, tok) for p in pairs]
    r_a, r_b = [], []
    for i in range(0, len(rendered), cfg.batch_size):
        chunk = rendered[i : i + cfg.batch_size]
        n = len(chunk)
        # A and B of a batch in one forward pass, as reward training does.
        r = score_texts(
            model,
            tok,
            [c[0] for c in chunk] * 2,
            [c[1] for c in chunk] + [c[2] for c in chunk],
            batch_size=2 * n,
            max_length=cfg.max_length,
        )
        r_a.append(r[:n])
        r_b.append(r[n:])
        if on_batch is not None:
            on_batch()
    del model
    return torch.cat(r_a), torch.cat(r_b)


def judge_pairs(
    model_paths: list[str],
    pairs: list[dict],
    cfg: JudgeConfig,
    progress=None,
    device: torch.device | None = None,
) -> list[dict]:
    """Verdicts ``{pair_id, reward_a, reward_b, p_a, members}`` for ``pairs``, in input order, from
    the reward models at ``model_paths`` (one = a single judge, more = an ensemble). Members are
    loaded one at a time, so an ensemble needs the memory of one model."""
    if not model_paths:
        raise UserError("the judge needs at least one reward model")
    if not pairs:
        return []
    n_batches = math.ceil(len(pairs) / cfg.batch_size)
    total = n_batches * len(model_paths)
    done = 0
    if progress is not None:
        progress.start(total)

    def on_batch():
        nonlocal done
        done += 1
        if progress is not None:
            progress.step(done, total)

    rewards = [score_pairs(path, pairs, cfg, device, on_batch) for path in model_paths]
    r_a = torch.stack([r[0] for r in rewards])
    r_b = torch.stack([r[1] for r in rewards])
    return combine_members(r_a, r_b, [p["pair_id"] for p in pairs])


def summarize(verdicts: list[dict], confident_at: float = 0.9) -> dict:
    """Flat figures for a job result: how many pairs, members, and how confident the judge was."""
    n = len(verdicts)
    conf = [max(v["p_a"], 1 - v["p_a"]) for v in verdicts]
    members = len(verdicts[0]["members"] or [0]) if verdicts else 0
    out = {
        "judge/pairs": n,
        "judge/members": members,
        "judge/mean_confidence": sum(conf) / n if n else 0.0,
        f"judge/confident_share_{confident_at:g}": (
            sum(c >= confident_at for c in conf) / n if n else 0.0
        ),
        "judge/share_a": sum(v["p_a"] > 0.5 for v in verdicts) / n if n else 0.0,
    }
    if members > 1:
        # Share of pairs on which every member picks the same side.
        agree = sum(
            all(p > 0.5 for p in v["members"]) or all(p < 0.5 for p in v["members"])
            for v in verdicts
        )
        out["judge/member_agreement"] = agree / n if n else 0.0
    return out
