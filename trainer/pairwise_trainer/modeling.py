"""Model and tokenizer loading shared by every algorithm, plus the tiny test model.

All loading goes through ``AutoTokenizer`` / ``AutoModelForCausalLM`` /
``AutoModelForSequenceClassification`` so any Hugging Face causal LM (local path or hub id) works.
Errors a user can cause (missing path, tokenizer without pad token) are raised as ``UserError`` so
the CLI can print one line and exit 2.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

PAD, EOS, BOS, UNK = "<pad>", "<eos>", "<bos>", "<unk>"
VALUE_HEAD_FILE = "value_head.safetensors"


class UserError(Exception):
    """A problem with the user's input; the CLI prints it as one line and exits with code 2."""


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices) so runs are reproducible."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def pick_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(device: torch.device) -> torch.dtype:
    """bf16 on GPUs that support it (halves memory, same exponent range as fp32), fp32 elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def mixed_precision() -> str:
    """Accelerate mixed-precision mode matching ``pick_dtype``."""
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


def _check_model_ref(name_or_path: str) -> None:
    """Fail fast with a one-line error when a local model path does not exist.

    Anything that is not an existing path and looks like a path (starts with ``.``, ``/``, ``~`` or
    has more than one ``/``) is reported missing; ``name`` or ``org/name`` is left to the hub.
    """
    p = Path(name_or_path).expanduser()
    if p.exists():
        if p.is_dir() and not any((p / f).exists() for f in ("config.json", "adapter_config.json")):
            raise UserError(f"not a model directory (no config.json): {name_or_path}")
        return
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1:
        raise UserError(f"model path not found: {name_or_path}")


def load_tokenizer(name_or_path: str, padding_side: str = "right"):
    """Load a tokenizer; it must have a pad token (we never guess one)."""
    from transformers import AutoTokenizer

    _check_model_ref(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError) as e:
        raise UserError(
            f"cannot load tokenizer from {name_or_path}: {str(e).splitlines()[0]}"
        ) from e
    if tok.pad_token_id is None:
        # Guessing (e.g. pad = eos) silently breaks "score at last non-pad token" and EOS detection.
        raise UserError(
            f"tokenizer at {name_or_path} has no pad token; add one (e.g. tokenizer.add_special_tokens"
            "({'pad_token': '<pad>'})) and save it"
        )
    tok.padding_side = padding_side
    return tok


def _is_adapter_dir(path: str) -> bool:
    return (Path(path) / "adapter_config.json").exists()


def load_causal_lm(name_or_path: str, device: torch.device | None = None, merge: bool = False):
    """Load a causal LM: a full checkpoint, or a LoRA adapter directory (base + adapter).

    With ``merge=True`` an adapter is merged into the base weights.
    """
    from transformers import AutoModelForCausalLM

    _check_model_ref(name_or_path)
    device = device or pick_device()
    dtype = pick_dtype(device)
    try:
        if _is_adapter_dir(name_or_path):
            from peft import AutoPeftModelForCausalLM

            model = AutoPeftModelForCausalLM.from_pretrained(name_or_path, dtype=dtype)
            if merge:
                model = model.merge_and_unload()
        else:
            model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load model from {name_or_path}: {str(e).splitlines()[0]}") from e
    return model.to(device)


def load_reward_model(name_or_path: str, device: torch.device | None = None):
    """Load a sequence-classification (scalar) reward model, merging a LoRA adapter if present."""
    from transformers import AutoModelForSequenceClassification

    _check_model_ref(name_or_path)
    device = device or pick_device()
    dtype = pick_dtype(device)
    try:
        if _is_adapter_dir(name_or_path):
            from peft import AutoPeftModelForSequenceClassification

            model = AutoPeftModelForSequenceClassification.from_pretrained(
                name_or_path, num_labels=1, dtype=dtype
            ).merge_and_unload()
        else:
            model = AutoModelForSequenceClassification.from_pretrained(
                name_or_path, num_labels=1, dtype=dtype
            )
    except (OSError, ValueError) as e:
        raise UserError(
            f"cannot load reward model from {name_or_path}: {str(e).splitlines()[0]}"
        ) from e
    return model.to(device)


def reward_stats(path: str) -> tuple[float, float]:
    """Training-set reward mean and std saved next to a reward model (0, 1 when absent)."""
    f = Path(path) / "reward_stats.json"
    if f.exists():
        d = json.loads(f.read_text())
        return float(d["mean"]), float(d["std"]) or 1.0
    return 0.0, 1.0


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 on the first real token, so left padding does not shift them."""
    pos = attention_mask.long().cumsum(-1) - 1
    return pos.clamp(min=0)


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last non-pad token of each row (works for left and right padding)."""
    idx = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask.long() * idx).argmax(-1)


def lora_config(task_type: str, r: int, alpha: int, dropout: float, target_modules: str):
    """A peft LoraConfig; ``target_modules`` is a comma list or ``all-linear``."""
    from peft import LoraConfig

    targets = target_modules if target_modules == "all-linear" else target_modules.split(",")
    return LoraConfig(
        task_type=task_type, r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets
    )


class ValueHead(nn.Module):
    """Scalar value head on the last hidden state (CleanRL / N+ details: zero-initialised bias)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.summary = nn.Linear(hidden_size, 1)
        # N+ implementation details (Huang et al. 2024, detail 6): small init of the value head.
        nn.init.normal_(self.summary.weight, std=1 / np.sqrt(hidden_size + 1))
        nn.init.zeros_(self.summary.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.summary(hidden).squeeze(-1)


@dataclass
class TinyModelConfig:
    """Size and pretraining budget of the tiny test model."""

    layers: int = 2
    """Decoder layers."""
    width: int = 64
    """Hidden size."""
    heads: int = 4
    """Attention heads."""
    vocab_size: int = 320
    """Byte-level BPE vocabulary size (256 bytes + specials + merges)."""
    pretrain_steps: int = 600
    """Optimizer steps of next-token pretraining on the shipped corpus."""
    batch_size: int = 256
    """Sequences per step."""
    lr: float = 5e-3
    """AdamW learning rate (tiny models tolerate a large one)."""
    seed: int = 0
    """Seed for init and data order."""


def train_tiny_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE trained with ``tokenizers``; digits are split individually (arithmetic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, EOS, BOS, UNK],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(texts, trainer=trainer)
    bos_id = tk.token_to_id(BOS)
    # Prepend BOS so the first real token has something to attend to.
    tk.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token=PAD, eos_token=EOS, bos_token=BOS, unk_token=UNK
    )


def build_tiny_model(out: str, cfg: TinyModelConfig | None = None, progress=None) -> dict:
    """Build, briefly pretrain and save a tiny Llama causal LM with its tokenizer to ``out``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from . import task
    from .data import CHAT_TEMPLATE_SAMPLES

    cfg = cfg or TinyModelConfig()
    seed_everything(cfg.seed)
    lines = task.load_corpus()
    tok = train_tiny_tokenizer(lines + CHAT_TEMPLATE_SAMPLES, cfg.vocab_size)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=cfg.width,
        intermediate_size=4 * cfg.width,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.heads,
        max_position_embeddings=256,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    enc = tok([ln + EOS for ln in lines], padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    # Loss on the answer (and EOS) only: the operands are uniformly random, so predicting them
    # teaches nothing and only dilutes the gradient of a 150k-parameter model.
    eq_id = tok.convert_tokens_to_ids("=")
    after_eq = (ids == eq_id).long().cumsum(-1) > 0
    loss_mask = mask.bool() & after_eq & (ids != eq_id)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.pretrain_steps, pct_start=0.1
    )
    g = torch.Generator().manual_seed(cfg.seed)
    model.train()
    loss_val = float("nan")
    if progress is not None:
        progress.start(cfg.pretrain_steps)
    for step in range(cfg.pretrain_steps):
        idx = torch.randint(0, ids.shape[0], (cfg.batch_size,), generator=g)
        x, m = ids[idx], mask[idx]
        labels = x.masked_fill(~loss_mask[idx], -100)
        loss = model(input_ids=x, attention_mask=m, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        loss_val = loss.item()
        if progress is not None:
            progress.step(step + 1, cfg.pretrain_steps, {"loss": loss_val})
    model.eval()
    Path(out).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    result = {"final_loss": loss_val, "params": sum(p.numel() for p in model.parameters())}
    if progress is not None:
        progress.done(result, out)
    return result
