"""The app's TRL exports train with TRL as they are.

``tests/fixtures/exports/*.jsonl`` are exactly what the app's exporter writes for a fixed scenario
(``tests/integration/export-fixtures.test.ts`` keeps them equal to its output). Here they are
loaded with the ``datasets`` library and used for a few steps of TRL's RewardTrainer and
DPOTrainer on the tiny model: the loss must be finite and the weights must move.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

datasets = pytest.importorskip("datasets")
trl = pytest.importorskip("trl")

from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification  # noqa: E402

from pairwise_trainer.modeling import load_tokenizer  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "exports"


def _load(name: str):
    ds = datasets.load_dataset("json", data_files=str(FIXTURES / name), split="train")
    assert len(ds) >= 15, f"{name}: expected the fixture's rows"
    return ds


def _common(d: Path) -> dict:
    return dict(
        output_dir=str(d),
        per_device_train_batch_size=4,
        max_steps=4,
        learning_rate=1e-3,
        use_cpu=True,
        bf16=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        seed=0,
        dataloader_num_workers=0,
        disable_tqdm=True,
        gradient_checkpointing=False,
    )


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


def _moved(before: dict[str, torch.Tensor], model) -> bool:
    return any(
        not torch.equal(before[k], v.detach()) for k, v in model.named_parameters() if k in before
    )


@pytest.mark.parametrize("name", ["trl.jsonl", "trl-chat.jsonl"])
def test_reward_trainer_trains_on_export(tiny_model, tmp_path, name):
    ds = _load(name)
    if name == "trl.jsonl":
        assert {"prompt", "chosen", "rejected", "margin"} <= set(ds.column_names)
    tok = load_tokenizer(tiny_model)
    if tok.chat_template is None:
        # The tiny tokenizer has no template of its own; conversational rows need one.
        tok.chat_template = (
            "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        )
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=1)
    model.config.pad_token_id = tok.pad_token_id
    before = _snapshot(model)
    cfg = trl.RewardConfig(**_common(tmp_path), max_length=64)
    out = trl.RewardTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok).train()
    assert math.isfinite(out.training_loss), f"{name}: reward loss is {out.training_loss}"
    assert _moved(before, model), f"{name}: TRL's reward trainer did not update the weights"


@pytest.mark.parametrize("name", ["trl.jsonl", "trl-chat.jsonl"])
def test_dpo_trainer_trains_on_export(tiny_model, tmp_path, name):
    ds = _load(name)
    tok = load_tokenizer(tiny_model)
    if tok.chat_template is None:
        tok.chat_template = (
            "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        )
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    before = _snapshot(model)
    cfg = trl.DPOConfig(**_common(tmp_path), max_length=64, beta=0.1)
    trainer = trl.DPOTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok)
    out = trainer.train()
    assert math.isfinite(out.training_loss), f"{name}: DPO loss is {out.training_loss}"
    assert _moved(before, model), f"{name}: TRL's DPO trainer did not update the weights"
