"""The pairwise-train CLI: one-line errors (exit 2), progress JSONL, end-to-end commands."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pairwise_trainer import task
from pairwise_trainer.cli import main
from pairwise_trainer.data import write_jsonl

VENV_BIN = Path(sys.executable).parent


def run_main(capsys, argv):
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def assert_one_line_error(rc, err, expect):
    assert rc == 2, f"exit code {rc}, expected 2; stderr={err!r}"
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one stderr line, got {lines}"
    assert lines[0].startswith("error: ") and expect in lines[0], f"{lines[0]!r} lacks {expect!r}"
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    write_jsonl(d / "prefs.jsonl", task.synthetic_preferences(300, seed=3))
    (d / "empty.jsonl").write_text("\n")
    write_jsonl(d / "prompts.jsonl", [{"prompt": p} for p in task.make_prompts(16, 2)])
    return d


def test_missing_data_file(capsys, tiny_model, tmp_path):
    rc, _, err = run_main(
        capsys,
        [
            "reward",
            "--model",
            tiny_model,
            "--data",
            str(tmp_path / "nope.jsonl"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert_one_line_error(rc, err, "file not found")


def test_empty_dataset(capsys, tiny_model, files, tmp_path):
    rc, _, err = run_main(
        capsys,
        [
            "sft",
            "--model",
            tiny_model,
            "--data",
            str(files / "empty.jsonl"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert_one_line_error(rc, err, "empty dataset")


def test_unknown_model_path(capsys, files, tmp_path):
    rc, _, err = run_main(
        capsys,
        [
            "reward",
            "--model",
            str(tmp_path / "no/such/model"),
            "--data",
            str(files / "prefs.jsonl"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert_one_line_error(rc, err, "model path not found")


def test_tokenizer_without_pad_token(capsys, tiny_model, files, tmp_path):
    from transformers import AutoTokenizer

    broken = tmp_path / "nopad"
    shutil.copytree(tiny_model, broken)
    tok = AutoTokenizer.from_pretrained(broken)
    tok.pad_token = None
    tok.save_pretrained(broken)
    rc, _, err = run_main(
        capsys,
        [
            "ppo",
            "--model",
            str(broken),
            "--reward-fn",
            "task",
            "--task-prompts",
            "8",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert_one_line_error(rc, err, "has no pad token")


def test_bad_line_error_through_console_script(tiny_model, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "1+1=", "chosen": "2", "rejected": "3"}\n{oops\n')
    p = subprocess.run(
        [
            str(VENV_BIN / "pairwise-train"),
            "reward",
            "--model",
            tiny_model,
            "--data",
            str(bad),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2, p.stderr
    assert (
        p.stderr.strip()
        == f"error: {bad}:2: invalid JSON (Expecting property name enclosed in double quotes)"
    ), p.stderr


def test_help_lists_every_hyperparameter_with_default(capsys):
    with pytest.raises(SystemExit):
        main(["ppo", "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--lr",
        "--rollout-batch-size",
        "--mini-batch-size",
        "--grad-accum",
        "--ppo-epochs",
        "--weight-decay",
        "--warmup-updates",
        "--lora-r",
        "--lora-alpha",
        "--lora-target-modules",
        "--beta",
        "--kl-target",
        "--kl-horizon",
        "--cliprange",
        "--cliprange-value",
        "--gamma",
        "--lam",
        "--temperature",
        "--max-new-tokens",
        "--seed",
        "--progress-jsonl",
    ):
        assert flag in out, f"ppo --help lacks {flag}"
    assert "(default: 0.95)" in out and "GAE lambda" in out


def test_reward_ppo_generate_eval_end_to_end(capsys, tiny_model, files, tmp_path):
    rm, prog = tmp_path / "rm", tmp_path / "rm.jsonl"
    rc, out, err = run_main(
        capsys,
        [
            "reward",
            "--model",
            tiny_model,
            "--data",
            str(files / "prefs.jsonl"),
            "--out",
            str(rm),
            "--lr",
            "1e-3",
            "--batch-size",
            "16",
            "--epochs",
            "1",
            "--log-every",
            "2",
            "--progress-jsonl",
            str(prog),
            "--cpu",
        ],
    )
    assert rc == 0, err
    assert "eval" in json.loads(out)
    events = [json.loads(ln) for ln in prog.read_text().splitlines()]
    assert events[0] == {"event": "start", "command": "reward", "total": events[0]["total"]}
    steps = [e for e in events if e["event"] == "progress"]
    assert steps and steps[-1]["step"] == steps[-1]["total"] == events[0]["total"]
    mets = [e for e in events if e["event"] == "metrics"]
    assert mets and {"loss", "accuracy", "lr"} <= set(mets[0]["metrics"])
    assert events[-1]["event"] == "done" and events[-1]["output"] == str(rm)

    pol, prog2 = tmp_path / "pol", tmp_path / "ppo.jsonl"
    rc, out, err = run_main(
        capsys,
        [
            "ppo",
            "--model",
            tiny_model,
            "--reward-model",
            str(rm),
            "--prompts",
            str(files / "prompts.jsonl"),
            "--out",
            str(pol),
            "--num-updates",
            "2",
            "--rollout-batch-size",
            "8",
            "--mini-batch-size",
            "4",
            "--max-new-tokens",
            "4",
            "--lr",
            "1e-4",
            "--kl-target",
            "6",
            "--progress-jsonl",
            str(prog2),
            "--cpu",
        ],
    )
    assert rc == 0, err
    mets = [json.loads(ln) for ln in prog2.read_text().splitlines()]
    mets = [e for e in mets if e["event"] == "metrics"]
    assert len(mets) == 2 and "objective/score" in mets[0]["metrics"]
    assert (pol / "value_head.safetensors").exists()

    gen = tmp_path / "gen.jsonl"
    rc, _, err = run_main(
        capsys,
        [
            "generate",
            "--model",
            str(pol),
            "--task-prompts",
            "4",
            "--samples-per-prompt",
            "2",
            "--max-new-tokens",
            "4",
            "--out",
            str(gen),
            "--cpu",
        ],
    )
    assert rc == 0, err
    rows = [json.loads(ln) for ln in gen.read_text().splitlines()]
    assert len(rows) == 8 and {"prompt", "response", "sample", "finished"} <= set(rows[0])

    rc, out, err = run_main(
        capsys,
        [
            "eval",
            "--reward-model",
            str(rm),
            "--data",
            str(files / "prefs.jsonl"),
            "--policy",
            str(pol),
            "--n",
            "32",
            "--cpu",
        ],
    )
    assert rc == 0, err
    res = json.loads(out)
    assert 0 <= res["reward"]["accuracy"] <= 1 and 0 <= res["task"]["accuracy"] <= 1
