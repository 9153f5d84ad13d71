"""Data-parallel reward training with 2 CPU processes under `accelerate launch`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pairwise_trainer import task
from pairwise_trainer.data import read_preferences, write_jsonl
from pairwise_trainer.reward import RewardConfig, train_reward

VENV_BIN = Path(sys.executable).parent


def test_two_process_accelerate_matches_single_process(tiny_model, tmp_path):
    rows = task.synthetic_preferences(1700, seed=8)
    write_jsonl(tmp_path / "train.jsonl", rows[:1500])
    write_jsonl(tmp_path / "eval.jsonl", rows[1500:])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    # On CPU, `accelerate launch --cpu` starts a single process; `--multi_gpu` selects the torchrun
    # launcher and our `--cpu` flag makes each process use gloo on CPU (docs/decisions/102).
    cmd = [
        str(VENV_BIN / "accelerate"),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "pairwise_trainer.cli",
        "reward",
        "--model",
        tiny_model,
        "--data",
        str(tmp_path / "train.jsonl"),
        "--eval-data",
        str(tmp_path / "eval.jsonl"),
        "--out",
        str(tmp_path / "rm2"),
        "--batch-size",
        "16",
        "--lr",
        "1e-3",
        "--epochs",
        "3",
        "--no-progress-bar",
        "--cpu",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, f"accelerate launch failed:\n{p.stderr[-3000:]}"
    two = json.loads((tmp_path / "rm2" / "metrics.json").read_text())
    assert two["num_processes"] == 2, "expected a 2-process run"

    # Same effective batch (2 x 16) in one process.
    one = train_reward(
        tiny_model,
        read_preferences(tmp_path / "train.jsonl"),
        None,
        RewardConfig(lr=1e-3, batch_size=32, epochs=3),
        eval_pairs=read_preferences(tmp_path / "eval.jsonl"),
        cpu=True,
    )
    assert two["steps"] == one["steps"], f"steps {two['steps']} vs {one['steps']}"
    for name, m in (("2-proc", two), ("1-proc", one)):
        assert m["train_loss_last"] < m["train_loss_first"] - 0.03, f"{name} loss did not fall"
    # Same trend: mean loss over each third of training agrees (data order differs, so not exact).
    h1, h2 = one["train_loss_history"], two["train_loss_history"]
    k = len(h1) // 3
    for i in range(3):
        a, b = sum(h1[i * k : (i + 1) * k]) / k, sum(h2[i * k : (i + 1) * k]) / k
        print(f"third {i}: 1-proc {a:.3f} 2-proc {b:.3f}")
        assert abs(a - b) < 0.08, f"third {i}: mean loss 1-proc {a:.3f} vs 2-proc {b:.3f}"
    print("eval acc", one["eval"]["accuracy"], two["eval"]["accuracy"])
    acc_gap = abs(two["eval"]["accuracy"] - one["eval"]["accuracy"])
    assert acc_gap < 0.15, f"held-out accuracy differs by {acc_gap:.3f}"
