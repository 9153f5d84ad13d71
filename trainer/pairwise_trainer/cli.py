"""``pairwise-train`` command line: tiny-model | reward | sft | ppo | generate | eval.

Every field of the algorithm's config dataclass becomes a flag (``lr`` -> ``--lr``) whose help is the
field's docstring and whose default is the dataclass default, so the CLI cannot drift from the code.
User errors print one line ``error: ...`` to stderr and exit with code 2 (no traceback).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import json
import os
import sys
import textwrap
from pathlib import Path

from .modeling import UserError


def _field_docs(cls) -> dict[str, str]:
    """Docstrings written under dataclass fields (``x: int = 1`` then ``\"\"\"doc\"\"\"``)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for a, b in zip(body, body[1:]):
        if (
            isinstance(a, ast.AnnAssign)
            and isinstance(a.target, ast.Name)
            and isinstance(b, ast.Expr)
            and isinstance(b.value, ast.Constant)
            and isinstance(b.value.value, str)
        ):
            docs[a.target.id] = b.value.value.strip()
    return docs


def _opt_float(s: str) -> float | None:
    return None if s.lower() in ("none", "null", "") else float(s)


def add_config_flags(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = ()) -> None:
    """Add one flag per dataclass field with its docstring and default as help."""
    docs = _field_docs(cls)
    group = parser.add_argument_group(f"{cls.__name__} hyperparameters")
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_ = f"{docs.get(f.name, '')} (default: {f.default})"
        t = str(f.type)
        if t == "bool":
            group.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=f.default,
                help=help_,
            )
        elif t == "float | None":
            group.add_argument(
                flag,
                dest=f.name,
                type=_opt_float,
                default=f.default,
                metavar="FLOAT|none",
                help=help_,
            )
        else:
            conv = {"int": int, "float": float, "str": str}[t]
            group.add_argument(flag, dest=f.name, type=conv, default=f.default, help=help_)


def config_from_args(cls, args: argparse.Namespace):
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(args).items() if k in names})


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress-jsonl",
        metavar="FILE",
        help="append machine-readable progress/metrics lines (JSONL) to FILE",
    )
    p.add_argument("--no-progress-bar", action="store_true", help="disable the tqdm bar")


def build_parser() -> argparse.ArgumentParser:
    from .generate import GenerateConfig
    from .modeling import TinyModelConfig
    from .ppo import PPOConfig
    from .reward import RewardConfig
    from .sft import SFTConfig

    ap = argparse.ArgumentParser(
        prog="pairwise-train",
        description="Reward models, SFT and PPO for Pairwise. See docs/trainer.md.",
    )
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "tiny-model", help="build + briefly pretrain a tiny Llama on the task corpus"
    )
    p.add_argument("--out", required=True, help="output directory")
    add_config_flags(p, TinyModelConfig)
    _common(p)

    p = sub.add_parser("reward", help="train a Bradley-Terry reward model on preference JSONL")
    p.add_argument("--model", required=True, help="base causal LM: local path or hub id")
    p.add_argument("--data", required=True, help="TRL preference JSONL (prompt/chosen/rejected)")
    p.add_argument("--eval-data", help="held-out preference JSONL (default: split --eval-fraction)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--cpu", action="store_true", help="force CPU even when CUDA is available")
    add_config_flags(p, RewardConfig)
    _common(p)

    p = sub.add_parser("sft", help="supervised fine-tuning on demonstrations (response-only loss)")
    p.add_argument("--model", required=True, help="base causal LM: local path or hub id")
    p.add_argument("--data", required=True, help="SFT JSONL ({prompt, completion} or {messages})")
    p.add_argument("--eval-data", help="held-out SFT JSONL (default: split --eval-fraction)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--cpu", action="store_true", help="force CPU even when CUDA is available")
    add_config_flags(p, SFTConfig)
    _common(p)

    p = sub.add_parser("ppo", help="PPO against a reward model or a Python reward function")
    p.add_argument("--model", required=True, help="initial policy: local path or hub id")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--reward-model", help="reward-model directory (from `reward`)")
    src.add_argument("--reward-fn", help="`task` (built-in arithmetic score) or `module:function`")
    p.add_argument("--prompts", help="JSONL with a `prompt` field per line")
    p.add_argument(
        "--task-prompts",
        type=int,
        default=0,
        help="use N built-in task prompts instead of --prompts (default: 0)",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--cpu", action="store_true", help="force CPU even when CUDA is available")
    add_config_flags(p, PPOConfig)
    _common(p)

    p = sub.add_parser("generate", help="sample responses from a checkpoint")
    p.add_argument("--model", required=True, help="checkpoint: full, adapter dir, or hub id")
    p.add_argument("--merge", action="store_true", help="merge a LoRA adapter before sampling")
    p.add_argument("--prompts", help="JSONL with a `prompt` field per line")
    p.add_argument("--task-prompts", type=int, default=0, help="use N built-in task prompts")
    p.add_argument("--out", help="write rows as JSONL here (default: stdout)")
    p.add_argument("--cpu", action="store_true", help="force CPU even when CUDA is available")
    add_config_flags(p, GenerateConfig)
    _common(p)

    p = sub.add_parser(
        "eval", help="evaluate a reward model on preferences or a policy on the task"
    )
    p.add_argument("--reward-model", help="reward-model directory")
    p.add_argument("--data", help="preference JSONL for --reward-model")
    p.add_argument("--policy", help="policy checkpoint to evaluate on the arithmetic task")
    p.add_argument("--n", type=int, default=200, help="task prompts for --policy (default: 200)")
    p.add_argument(
        "--seed", type=int, default=1234, help="task prompt + sampling seed (default: 1234)"
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="policy sampling temperature; 0 = greedy (default: 1.0)",
    )
    p.add_argument("--max-new-tokens", type=int, default=8, help="response limit (default: 8)")
    p.add_argument("--out", help="also write the metrics JSON here")
    p.add_argument("--cpu", action="store_true", help="force CPU even when CUDA is available")
    _common(p)
    return ap


def _progress(args, command: str):
    from .progress import Progress

    enabled = int(os.environ.get("RANK", "0")) == 0  # only the main process reports
    return Progress(
        command, args.progress_jsonl, enabled=enabled, bar=False if args.no_progress_bar else None
    )


def _device(args):
    import torch

    from .modeling import pick_device

    return torch.device("cpu") if args.cpu else pick_device()


def _load_reward_fn(spec: str):
    if spec == "task":
        from . import task

        return lambda ps, rs: [task.score(p, r) for p, r in zip(ps, rs)]
    if ":" not in spec:
        raise UserError(f"--reward-fn must be `task` or `module:function`, got {spec!r}")
    mod, fn = spec.split(":", 1)
    try:
        f = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        raise UserError(f"cannot import reward function {spec}: {e}") from None
    return lambda ps, rs: [float(f(p, r)) for p, r in zip(ps, rs)]


def _prompts(args, tokenizer=None) -> list[str]:
    from . import task
    from .data import read_prompts

    if args.prompts:
        return read_prompts(args.prompts, tokenizer)
    if args.task_prompts > 0:
        return task.make_prompts(args.task_prompts, seed=getattr(args, "seed", 0))
    raise UserError("give --prompts FILE or --task-prompts N")


def cmd_tiny_model(args, prog) -> dict:
    from .modeling import TinyModelConfig, build_tiny_model

    return build_tiny_model(args.out, config_from_args(TinyModelConfig, args), prog)


def cmd_reward(args, prog) -> dict:
    from .data import read_preferences
    from .modeling import load_tokenizer
    from .reward import RewardConfig, train_reward

    tok = load_tokenizer(args.model)
    train = read_preferences(args.data, tok)
    ev = read_preferences(args.eval_data, tok) if args.eval_data else None
    m = train_reward(
        args.model, train, args.out, config_from_args(RewardConfig, args), ev, prog, args.cpu
    )
    m.pop("train_loss_history", None)
    m.pop("model", None)
    return m


def cmd_sft(args, prog) -> dict:
    from .data import read_sft
    from .modeling import load_tokenizer
    from .sft import SFTConfig, train_sft

    tok = load_tokenizer(args.model)
    train = read_sft(args.data, tok)
    ev = read_sft(args.eval_data, tok) if args.eval_data else None
    m = train_sft(
        args.model, train, args.out, config_from_args(SFTConfig, args), ev, prog, args.cpu
    )
    m.pop("train_loss_history", None)
    m.pop("model", None)
    return m


def cmd_ppo(args, prog) -> dict:
    from .modeling import load_tokenizer
    from .ppo import PPOConfig, RewardModelScorer, train_ppo

    cfg = config_from_args(PPOConfig, args)
    tok = load_tokenizer(args.model)
    prompts = _prompts(args, tok)
    dev = _device(args)
    raw = None
    if args.reward_model:
        reward_fn = RewardModelScorer(args.reward_model, dev, cfg.normalize_reward)
        if args.task_prompts > 0:
            # On built-in task prompts, also log the true task score (objective/raw_score) so
            # reward-model over-optimisation is visible.
            raw = _load_reward_fn("task")
    else:
        reward_fn = _load_reward_fn(args.reward_fn)
    r = train_ppo(args.model, prompts, reward_fn, args.out, cfg, prog, dev, raw_score_fn=raw)
    return {
        "final": r["history"][-1],
        "first": r["history"][0],
        "episodes": r["episodes"],
        "train_time_s": r["train_time_s"],
    }


def cmd_generate(args, prog) -> dict:
    from .data import write_jsonl
    from .generate import GenerateConfig, generate
    from .modeling import load_causal_lm, load_tokenizer

    tok = load_tokenizer(args.model, padding_side="left")
    prompts = _prompts(args, tok)
    model = load_causal_lm(args.model, _device(args), merge=args.merge)
    rows = generate(model, tok, prompts, config_from_args(GenerateConfig, args), prog)
    if args.out:
        write_jsonl(args.out, rows)
    else:
        for r in rows:
            print(json.dumps(r))
    return {"rows": len(rows), "eos_rate": sum(r["finished"] for r in rows) / max(1, len(rows))}


def evaluate_policy_on_task(
    model, tok, n: int, seed: int, temperature: float, max_new_tokens: int
) -> dict:
    """Accuracy and mean score of a policy on ``n`` task prompts."""
    from . import task
    from .generate import GenerateConfig, generate

    prompts = task.make_prompts(n, seed)
    rows = generate(
        model,
        tok,
        prompts,
        GenerateConfig(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed),
    )
    acc = sum(task.is_correct(r["prompt"], r["response"]) for r in rows) / len(rows)
    sc = sum(task.score(r["prompt"], r["response"]) for r in rows) / len(rows)
    return {
        "accuracy": acc,
        "mean_score": sc,
        "n": len(rows),
        "eos_rate": sum(r["finished"] for r in rows) / len(rows),
    }


def cmd_eval(args, prog) -> dict:
    from .modeling import load_causal_lm, load_reward_model, load_tokenizer

    if not args.reward_model and not args.policy:
        raise UserError("give --reward-model with --data, and/or --policy")
    out: dict = {}
    if args.reward_model:
        from .data import read_preferences
        from .reward import evaluate_reward

        if not args.data:
            raise UserError("--reward-model needs --data PREFERENCES.jsonl")
        tok = load_tokenizer(args.reward_model)
        pairs = read_preferences(args.data, tok)
        model = load_reward_model(args.reward_model, _device(args))
        out["reward"] = evaluate_reward(model, tok, pairs)
    if args.policy:
        tok = load_tokenizer(args.policy, padding_side="left")
        model = load_causal_lm(args.policy, _device(args))
        out["task"] = evaluate_policy_on_task(
            model, tok, args.n, args.seed, args.temperature, args.max_new_tokens
        )
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return out


COMMANDS = {
    "tiny-model": cmd_tiny_model,
    "reward": cmd_reward,
    "sft": cmd_sft,
    "ppo": cmd_ppo,
    "generate": cmd_generate,
    "eval": cmd_eval,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # keep stderr to our one-line errors and the progress bar
    hf_logging.disable_progress_bar()
    import logging

    # huggingface_hub logs every retry of an unreachable hub; the final error is enough.
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    prog = _progress(args, args.command)
    try:
        result = COMMANDS[args.command](args, prog)
    except UserError as e:
        msg = str(e).splitlines()[0] if str(e) else "invalid input"
        prog.error(msg)
        prog.close()
        print(f"error: {msg}", file=sys.stderr)
        return 2
    prog.close()
    if (args.command != "generate" or args.out) and int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(result, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
