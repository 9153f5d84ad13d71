"""Readers for TRL-format JSONL files and the one chat template used by policy and reward model.

Preference rows (TRL "standard" or "conversational" format)::

    {"prompt": "12+34=", "chosen": "46", "rejected": "36"}
    {"prompt": [{"role": "user", "content": "hi"}],
     "chosen": [{"role": "assistant", "content": "hello"}],
     "rejected": [{"role": "assistant", "content": "go away"}]}

optionally with ``margin`` (float, added inside the Bradley-Terry loss), ``weight`` (float, per-pair
loss weight) and ``strength`` (any label, e.g. "clear"/"slight", for accuracy-by-strength in eval).

SFT rows: ``{"prompt": ..., "completion": ...}`` (standard or conversational) or ``{"messages": [...]}``
(the last assistant message is the completion).

Every reader raises ``UserError`` with the file name and line number for a bad line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .modeling import UserError

# A fixed chat template used when the tokenizer ships none (the tiny tokenizer has none). The same
# function renders prompts for the policy (SFT, PPO, generate) and for the reward model, so both
# see byte-identical text for the same conversation.
CHAT_TEMPLATE_SAMPLES = [
    "<|system|>\nYou are helpful.\n<|user|>\nWhat is 12+34?\n<|assistant|>\n46\n",
    "<|user|>\nhello\n<|assistant|>\nhi there\n",
]


def render_chat(messages: list[dict], add_generation_prompt: bool, tokenizer=None) -> str:
    """Render messages to text: ``tokenizer.apply_chat_template`` when the tokenizer has a chat
    template, else the package's fixed template ``<|role|>\\ncontent\\n`` per message, followed by
    ``<|assistant|>\\n`` when ``add_generation_prompt``."""
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    text = "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages)
    if add_generation_prompt:
        text += "<|assistant|>\n"
    return text


def _is_messages(x) -> bool:
    return isinstance(x, list) and all(
        isinstance(m, dict) and "role" in m and "content" in m for m in x
    )


def to_prompt_completion(prompt, completion, tokenizer=None) -> tuple[str, str]:
    """Turn a (prompt, completion) pair in standard or conversational form into two strings whose
    concatenation is the full rendered conversation. Standard strings pass through unchanged."""
    if isinstance(prompt, str) and isinstance(completion, str):
        return prompt, completion
    if _is_messages(prompt) and _is_messages(completion):
        p = render_chat(prompt, add_generation_prompt=True, tokenizer=tokenizer)
        full = render_chat(prompt + completion, add_generation_prompt=False, tokenizer=tokenizer)
        if full.startswith(p):
            return p, full[len(p) :]
        return p, "".join(m["content"] for m in completion)
    raise ValueError("prompt and completion must both be strings or both be message lists")


@dataclass
class PreferencePair:
    """One comparison, already rendered to text."""

    prompt: str
    chosen: str
    rejected: str
    margin: float = 0.0
    weight: float = 1.0
    strength: str | None = None


@dataclass
class SFTExample:
    """One demonstration, rendered to text."""

    prompt: str
    completion: str


def _iter_jsonl(path: str | Path):
    p = Path(path)
    if not p.exists():
        raise UserError(f"file not found: {path}")
    if p.is_dir():
        raise UserError(f"expected a JSONL file, got a directory: {path}")
    with p.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise UserError(f"{path}:{lineno}: expected a JSON object")
            yield lineno, row


def read_preferences(path: str | Path, tokenizer=None) -> list[PreferencePair]:
    """Read a TRL preference JSONL file (standard or conversational, optional margin/weight/strength)."""
    out: list[PreferencePair] = []
    for lineno, row in _iter_jsonl(path):
        missing = [k for k in ("chosen", "rejected") if k not in row]
        if missing:
            raise UserError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
        prompt = row.get("prompt", "" if isinstance(row["chosen"], str) else [])
        try:
            p, c = to_prompt_completion(prompt, row["chosen"], tokenizer)
            p2, r = to_prompt_completion(prompt, row["rejected"], tokenizer)
            margin = float(row.get("margin", 0.0) or 0.0)
            weight = float(row.get("weight", 1.0) if row.get("weight") is not None else 1.0)
        except (ValueError, TypeError, KeyError) as e:
            raise UserError(f"{path}:{lineno}: {e}") from None
        if weight < 0:
            raise UserError(f"{path}:{lineno}: weight must be >= 0")
        strength = row.get("strength")
        out.append(
            PreferencePair(p, c, r, margin, weight, None if strength is None else str(strength))
        )
    if not out:
        raise UserError(f"empty dataset: {path}")
    return out


def read_sft(path: str | Path, tokenizer=None) -> list[SFTExample]:
    """Read SFT demonstrations: ``{prompt, completion}`` or ``{messages}`` rows."""
    out: list[SFTExample] = []
    for lineno, row in _iter_jsonl(path):
        try:
            if "messages" in row:
                msgs = row["messages"]
                if not _is_messages(msgs) or not msgs or msgs[-1]["role"] != "assistant":
                    raise ValueError("messages must be a list ending with an assistant message")
                p, c = to_prompt_completion(msgs[:-1], msgs[-1:], tokenizer)
            elif "prompt" in row and "completion" in row:
                p, c = to_prompt_completion(row["prompt"], row["completion"], tokenizer)
            else:
                raise ValueError("expected fields prompt+completion or messages")
        except (ValueError, TypeError, KeyError) as e:
            raise UserError(f"{path}:{lineno}: {e}") from None
        out.append(SFTExample(p, c))
    if not out:
        raise UserError(f"empty dataset: {path}")
    return out


def read_prompts(path: str | Path, tokenizer=None) -> list[str]:
    """Read prompts for PPO/generation: ``{"prompt": str | messages}`` rows."""
    out: list[str] = []
    for lineno, row in _iter_jsonl(path):
        pr = row.get("prompt")
        if isinstance(pr, str):
            out.append(pr)
        elif _is_messages(pr):
            out.append(render_chat(pr, add_generation_prompt=True, tokenizer=tokenizer))
        else:
            raise UserError(f"{path}:{lineno}: missing or invalid field prompt")
    if not out:
        raise UserError(f"empty dataset: {path}")
    return out


def write_jsonl(path: str | Path, rows: list[dict]) -> None:
    """Write rows as JSONL (helper for tests, demo and benchmark)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
