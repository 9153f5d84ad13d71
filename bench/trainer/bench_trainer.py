"""Trainer benchmark (not a test): reward-model and PPO throughput on CPU with the tiny model, and
TRL's RewardTrainer on the same model, data and batch size for comparison.

    trainer/.venv/bin/python bench/trainer/bench_trainer.py [--epochs 3] [--json out.json]

Needs the ``bench`` extra for the TRL comparison (``pip install -e 'trainer[bench]'``); without
TRL it reports our figures only. Prints a table and writes a JSON file (default
``bench/trainer/results.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from pairwise_trainer import task
from pairwise_trainer.data import PreferencePair
from pairwise_trainer.modeling import build_tiny_model, load_tokenizer, seed_everything
from pairwise_trainer.ppo import PPOConfig, train_ppo
from pairwise_trainer.reward import RewardConfig, evaluate_reward, train_reward


def prefs(n_train: int, n_eval: int, seed: int):
    rows = task.synthetic_preferences(n_train + n_eval, seed=seed)
    pairs = [
        PreferencePair(r["prompt"], r["chosen"], r["rejected"], strength=r["strength"])
        for r in rows
    ]
    return rows[:n_train], pairs[:n_train], pairs[n_train:]


def bench_ours(model: str, train, ev, args) -> dict:
    cfg = RewardConfig(
        lr=args.lr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        warmup_ratio=0.05,
        max_length=64,
        seed=args.seed,
    )
    m = train_reward(model, train, None, cfg, eval_pairs=ev, cpu=True)
    return {
        "pairs_per_s": m["pairs_per_s"],
        "pairs_per_cpu_s": m["pairs_per_cpu_s"],
        "train_time_s": m["train_time_s"],
        "eval_accuracy": m["eval"]["accuracy"],
        "eval_loss": m["eval"]["loss"],
    }


def bench_trl(model_path: str, rows, ev, args) -> dict | None:
    try:
        import trl
        from datasets import Dataset
        from transformers import AutoModelForSequenceClassification
        from trl import RewardConfig as TRLRewardConfig
        from trl import RewardTrainer
    except ImportError as e:
        print(f"TRL not installed ({e}); skipping the comparison. pip install -e 'trainer[bench]'")
        return None
    seed_everything(args.seed)
    tok = load_tokenizer(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=1)
    model.config.pad_token_id = tok.pad_token_id
    ds = Dataset.from_list(
        [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows]
    )
    with tempfile.TemporaryDirectory() as d:
        cfg = TRLRewardConfig(
            output_dir=d,
            per_device_train_batch_size=args.batch_size,
            num_train_epochs=args.epochs,
            learning_rate=args.lr,
            lr_scheduler_type="linear",
            warmup_steps=0.05,  # a float < 1 is a ratio in transformers 5
            weight_decay=0.0,
            max_grad_norm=1.0,
            max_length=64,
            gradient_checkpointing=False,  # same work as ours: no recomputation
            use_cpu=True,
            bf16=False,
            report_to="none",
            save_strategy="no",
            logging_steps=50,
            seed=args.seed,
            dataloader_num_workers=0,
            disable_tqdm=True,
            log_level="error",
        )
        trainer = RewardTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok)
        t0, c0 = time.time(), time.process_time()
        out = trainer.train()
        wall, cpu = time.time() - t0, time.process_time() - c0
    runtime = out.metrics.get("train_runtime", wall)
    model.eval()
    # Same metric code and eval pairs as ours; TRL also appends EOS to prompt+response.
    m = evaluate_reward(model, tok, ev, max_length=64)
    return {
        "version": trl.__version__,
        "pairs_per_s": len(rows) * args.epochs / runtime,
        "pairs_per_cpu_s": len(rows) * args.epochs / cpu,
        "train_time_s": runtime,
        "eval_accuracy": m["accuracy"],
        "eval_loss": m["loss"],
    }


def bench_ppo(model: str, args) -> dict:
    cfg = PPOConfig(
        lr=3e-4,
        num_updates=args.ppo_updates,
        rollout_batch_size=128,
        mini_batch_size=32,
        grad_accum=1,
        ppo_epochs=4,
        temperature=1.0,
        max_new_tokens=4,
        beta=0.05,
        seed=args.seed,
    )
    prompts = task.make_prompts(2000, seed=5)

    def reward(ps, rs):
        return [task.score(p, r) for p, r in zip(ps, rs)]

    r = train_ppo(model, prompts, reward, None, cfg, device=torch.device("cpu"))
    h = r["history"]
    tokens = sum(x["response/length"] * cfg.rollout_batch_size for x in h)
    return {
        "episodes_per_s": r["episodes"] / r["train_time_s"],
        "generated_tokens_per_s": tokens / r["train_time_s"],
        "train_time_s": r["train_time_s"],
        "score_first": h[0]["objective/score"],
        "score_last": sum(x["objective/score"] for x in h[-3:]) / min(3, len(h)),
        "kl_last": h[-1]["objective/kl"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="existing tiny model dir (default: build one in a temp dir)")
    ap.add_argument("--n-train", type=int, default=4000, help="training pairs (default: 4000)")
    ap.add_argument("--n-eval", type=int, default=300, help="held-out pairs (default: 300)")
    ap.add_argument("--epochs", type=float, default=4, help="reward epochs (default: 4)")
    ap.add_argument("--batch-size", type=int, default=32, help="pairs per batch (default: 32)")
    ap.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: 1e-3)")
    ap.add_argument("--ppo-updates", type=int, default=10, help="PPO updates (default: 10)")
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs of each (default: 2)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    ap.add_argument(
        "--json",
        default=str(Path(__file__).parent / "results.json"),
        help="where to write the JSON results",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()

    tmp = None
    model = args.model
    if not model:
        tmp = tempfile.TemporaryDirectory()
        model = str(Path(tmp.name) / "tiny")
        t0 = time.time()
        build_tiny_model(model)
        print(f"built tiny model in {time.time() - t0:.1f}s")
    rows, train, ev = prefs(args.n_train, args.n_eval, seed=1)

    # Alternate TRL and ours `--repeats` times and keep each one's best throughput, so load from
    # other processes on a shared machine penalises neither side systematically.
    trl_runs, our_runs = [], []
    for _ in range(args.repeats):
        r = bench_trl(model, rows, ev, args)
        if r:
            trl_runs.append(r)
        our_runs.append(bench_ours(model, train, ev, args))
    trl_res = max(trl_runs, key=lambda r: r["pairs_per_cpu_s"]) if trl_runs else None
    ours = max(our_runs, key=lambda r: r["pairs_per_cpu_s"])
    for best, runs in ((ours, our_runs), (trl_res, trl_runs)):
        if best:
            best["all_pairs_per_s"] = [r["pairs_per_s"] for r in runs]
            best["all_pairs_per_cpu_s"] = [r["pairs_per_cpu_s"] for r in runs]
    ppo = bench_ppo(model, args)

    res = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": args.threads,
            "torch": torch.__version__,
            "python": sys.version.split()[0],
        },
        "setup": {
            "model": "tiny Llama (2 layers, width 64)",
            "n_train": args.n_train,
            "n_eval": args.n_eval,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
        },
        "reward_ours": ours,
        "reward_trl": trl_res,
        "ppo": ppo,
    }
    if trl_res:
        # Primary figure: pairs per CPU second (one torch thread each), robust to other load on a
        # shared machine; wall-clock best-of-N is reported too.
        res["reward_throughput_ratio_ours_over_trl"] = (
            ours["pairs_per_cpu_s"] / trl_res["pairs_per_cpu_s"]
        )
        res["reward_wall_ratio_ours_over_trl"] = max(ours["all_pairs_per_s"]) / max(
            trl_res["all_pairs_per_s"]
        )

    print()
    print(
        f"{'reward model':<28}{'pairs/cpu-s':>12}{'pairs/s':>10}{'eval acc':>10}{'eval loss':>11}"
    )
    print(
        f"{'pairwise_trainer':<28}{ours['pairs_per_cpu_s']:>12.1f}{max(ours['all_pairs_per_s']):>10.1f}"
        f"{ours['eval_accuracy']:>10.3f}{ours['eval_loss']:>11.3f}"
    )
    if trl_res:
        name = f"TRL RewardTrainer {trl_res['version']}"
        print(
            f"{name:<28}{trl_res['pairs_per_cpu_s']:>12.1f}{max(trl_res['all_pairs_per_s']):>10.1f}"
            f"{trl_res['eval_accuracy']:>10.3f}{trl_res['eval_loss']:>11.3f}"
        )
        print(
            f"throughput ratio ours/TRL: {res['reward_throughput_ratio_ours_over_trl']:.2f}x per CPU second, "
            f"{res['reward_wall_ratio_ours_over_trl']:.2f}x wall clock (best of {args.repeats})"
        )
    print()
    print(
        f"PPO: {ppo['episodes_per_s']:.1f} episodes/s, {ppo['generated_tokens_per_s']:.1f} generated tokens/s "
        f"(score {ppo['score_first']:.3f} -> {ppo['score_last']:.3f}, final KL {ppo['kl_last']:.3f})"
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.json}")
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
