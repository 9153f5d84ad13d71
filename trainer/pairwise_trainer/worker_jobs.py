"""What ``pairwise-worker`` does for each job kind, through the trainer's Python API.

Each runner takes a ``JobContext`` (see ``worker.py``: inputs, params, progress that raises on
cancel, uploads) and returns ``(outputs, result)`` for ``POST /jobs/:id/complete``: ``outputs``
maps names to artifact ids, ``result`` is a flat dict of numbers/strings (the server stores it as
the job's result and registers checkpoints from it).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import torch

from . import task
from .data import _is_messages, render_chat
from .modeling import UserError

MODEL_NAMES = {
    # input (artifact) name -> params fallbacks (a checkpoint known only by path / hub id)
    "model": ("model_ref", "base_model"),
    "policy": ("policy_ref", "model_ref", "base_model"),
    "reward_model": ("reward_model_ref",),
    "reference": ("reference_ref",),
    "model_a": ("model_a_ref",),
    "model_b": ("model_b_ref",),
}


CONFIG_ALIASES = {
    "learning_rate": "lr",
    "num_epochs": "epochs",
    "num_train_epochs": "epochs",
    "per_device_train_batch_size": "batch_size",
    "gradient_accumulation_steps": "grad_accum",
    "num_ppo_epochs": "ppo_epochs",
    "kl_coef": "beta",
    "init_kl_coef": "beta",
    "response_length": "max_new_tokens",
}


def config_from_params(cls, params: dict, defaults: dict | None = None):
    """A config dataclass from job params: top-level keys that are config fields, then
    ``params["config"]`` (wins; TRL names in ``CONFIG_ALIASES`` accepted). Unknown keys in
    ``config`` are an error, not silently dropped."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    over = dict(defaults or {})
    over.update({k: v for k, v in params.items() if k in fields})
    extra = params.get("config") or {}
    if not isinstance(extra, dict):
        raise UserError("params.config must be an object of config overrides")
    # TRL-style names (the app's round form suggests learning_rate / num_epochs) map to ours.
    aliased = {CONFIG_ALIASES.get(k, k) if k not in fields else k: v for k, v in extra.items()}
    extra = {**aliased, **{k: v for k, v in extra.items() if k in fields}}
    unknown = sorted(set(extra) - set(fields))
    if unknown:
        raise UserError(f"unknown {cls.__name__} field(s) in params.config: {', '.join(unknown)}")
    over.update(extra)
    for k, v in list(over.items()):
        over[k] = _coerce(cls.__name__, k, str(fields[k].type), v)
    return cls(**over)


def _coerce(cls_name: str, name: str, t: str, v):
    bad = UserError(f"{cls_name}.{name} must be {t}, got {v!r}")
    if t == "bool":
        if not isinstance(v, bool):
            raise bad
    elif t == "int":
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool):
            raise bad
    elif t.startswith("float"):
        if v is None and t != "float":
            return None
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise bad
        v = float(v)
    elif t == "str" and not isinstance(v, str):
        raise bad
    return v


def flat_result(metrics: dict, prefix: str = "") -> dict:
    """Flatten nested metrics to ``a/b`` keys, keeping finite numbers, strings and booleans."""
    out: dict = {}
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat_result(v, key + "/"))
        elif (
            isinstance(v, bool | str)
            or v is None
            or (isinstance(v, int | float) and math.isfinite(v))
        ):
            out[key] = v
        elif isinstance(v, torch.Tensor) and v.numel() == 1 and math.isfinite(v.item()):
            out[key] = v.item()
    return out


def _prompts(ctx, tokenizer=None) -> tuple[list, list[str], bool]:
    """(prompts as given, prompts rendered to text, whether they are built-in task prompts)."""
    given = ctx.params.get("prompts")
    if given is None:
        n = int(ctx.params.get("num_prompts", 256))
        ps = task.make_prompts(n, int(ctx.params.get("seed", 0)))
        return ps, ps, True
    if not isinstance(given, list) or not given:
        raise UserError("params.prompts must be a non-empty list of strings or message lists")
    rendered = []
    for i, p in enumerate(given):
        if isinstance(p, str):
            rendered.append(p)
        elif _is_messages(p):
            rendered.append(render_chat(p, add_generation_prompt=True, tokenizer=tokenizer))
        else:
            raise UserError(f"params.prompts[{i}] must be a string or a list of chat messages")
    return given, rendered, all(_is_task_prompt(p) for p in rendered)


def _is_task_prompt(p: str) -> bool:
    try:
        task.parse_prompt(p)
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------------
# train_reward / sft


def run_train_reward(ctx) -> tuple[dict, dict]:
    from .data import read_preferences
    from .modeling import load_tokenizer
    from .reward import RewardConfig, train_reward

    base = ctx.model("model", required=True)
    # Merged LoRA by default: an adapter-only checkpoint names a base path that exists only here.
    cfg = config_from_params(RewardConfig, ctx.params, {"merge_lora": True})
    tok = load_tokenizer(base)
    pairs = read_preferences(ctx.file("dataset"), tok)
    ev = read_preferences(ctx.file("eval_dataset"), tok) if "eval_dataset" in ctx.inputs else None
    ctx.log(
        f"reward model: {len(pairs)} pairs from {Path(base).name}, lr={cfg.lr} epochs={cfg.epochs}"
    )
    out = ctx.job_dir / "model"
    m = train_reward(base, pairs, str(out), cfg, ev, ctx.progress("train"), cpu=ctx.cpu)
    m.pop("model", None)
    m.pop("train_loss_history", None)
    result = flat_result(m.get("eval", {}), "eval/")
    result.update(
        {
            "train/loss_first": m["train_loss_first"],
            "train/loss_last": m["train_loss_last"],
            "train/steps": m["steps"],
            "reward/mean": m["reward_mean"],
            "reward/std": m["reward_std"],
        }
    )
    model_id = ctx.upload_dir(out, f"job-{ctx.job_id}-reward-model.tar.gz")
    return {"model": model_id}, flat_result(result)


def run_sft(ctx) -> tuple[dict, dict]:
    from .data import read_sft
    from .modeling import load_tokenizer
    from .sft import SFTConfig, train_sft

    base = ctx.model("model", required=True)
    cfg = config_from_params(SFTConfig, ctx.params, {"merge_lora": True})
    tok = load_tokenizer(base)
    examples = read_sft(ctx.file("dataset"), tok)
    ev = read_sft(ctx.file("eval_dataset"), tok) if "eval_dataset" in ctx.inputs else None
    ctx.log(f"sft: {len(examples)} examples from {Path(base).name}, lr={cfg.lr}")
    out = ctx.job_dir / "model"
    m = train_sft(base, examples, str(out), cfg, ev, ctx.progress("train"), cpu=ctx.cpu)
    result = {
        "train/loss_first": m["train_loss_first"],
        "train/loss_last": m["train_loss_last"],
        "train/steps": m["steps"],
    }
    if m.get("eval"):
        result.update(flat_result(m["eval"], "eval/"))
        result.update(flat_result(m["eval_before"] or {}, "eval_before/"))
    model_id = ctx.upload_dir(out, f"job-{ctx.job_id}-sft-model.tar.gz")
    return {"model": model_id}, flat_result(result)


# --------------------------------------------------------------------------------------------------
# ppo

RESUME_FILE = "resume_state.pt"


def run_ppo(ctx) -> tuple[dict, dict]:
    from .modeling import load_tokenizer
    from .ppo import PPOConfig, RewardModelScorer, train_ppo

    policy_path = ctx.model("policy", required=True)
    cfg = config_from_params(PPOConfig, ctx.params, {"merge_lora": True})
    tok = load_tokenizer(policy_path, padding_side="left")
    _, prompts, task_prompts = _prompts(ctx, tok)
    use_task = ctx.params.get("reward") == "task"

    def task_reward(ps, rs):
        return [task.score(p, r) for p, r in zip(ps, rs)]

    if use_task:
        if not task_prompts:
            raise UserError('params.reward "task" needs task prompts (omit params.prompts)')
        reward_fn, raw = task_reward, None
    else:
        rm = ctx.model("reward_model")
        if rm is None:
            raise UserError(
                'ppo needs inputs.reward_model, params.reward_model_ref or reward "task"'
            )
        reward_fn = RewardModelScorer(rm, ctx.device, cfg.normalize_reward)
        raw = task_reward if task_prompts else None

    every = int(ctx.params.get("checkpoint_every", 10))
    resume_state = None
    if ctx.resume:
        resume_state = ctx.load_resume(RESUME_FILE)
        ctx.log(f"resuming PPO at update {resume_state['update']} of {cfg.num_updates}")

    def on_update(n_done: int, get_state) -> None:
        if every > 0 and n_done % every == 0 and n_done < cfg.num_updates:
            ctx.save_resume(RESUME_FILE, get_state(), n_done)

    ctx.log(
        f"ppo: {len(prompts)} prompts, {cfg.num_updates} updates, reward={'task' if use_task else 'model'}"
    )
    out = ctx.job_dir / "model"
    r = train_ppo(
        policy_path,
        prompts,
        reward_fn,
        str(out),
        cfg,
        ctx.progress("ppo"),
        ctx.device,
        raw_score_fn=raw,
        resume_state=resume_state,
        on_update=on_update,
    )
    result = dict(r["history"][-1]) if r["history"] else {}
    result["ppo/updates"] = cfg.num_updates
    result["ppo/resumed_from"] = int(resume_state["update"]) if resume_state else 0
    if task_prompts:
        from .cli import evaluate_policy_on_task

        ev = evaluate_policy_on_task(
            r["policy"].lm,
            tok,
            int(ctx.params.get("eval_prompts", 100)),
            int(ctx.params.get("seed", 0)) + 1,
            0.0,
            cfg.max_new_tokens,
        )
        result["eval/task_accuracy"] = ev["accuracy"]
        result["eval/task_score"] = ev["mean_score"]
    model_id = ctx.upload_dir(out, f"job-{ctx.job_id}-ppo-policy.tar.gz")
    return {"model": model_id}, flat_result(result)


# --------------------------------------------------------------------------------------------------
# generate


def run_generate(ctx) -> tuple[dict, dict]:
    from .generate import GenerateConfig, generate
    from .modeling import load_causal_lm, load_tokenizer

    p = ctx.params
    path_a = ctx.model("model_a") or ctx.model("model") or ctx.model("policy")
    if path_a is None:
        raise UserError("generate needs inputs.model_a (or params.model_a_ref)")
    path_b = ctx.model("model_b")
    mode = p.get("mode", "ab" if path_b else "self")
    if mode not in ("self", "ab"):
        raise UserError(f'params.mode must be "self" or "ab", got {mode!r}')
    if mode == "ab" and path_b is None:
        raise UserError('mode "ab" needs inputs.model_b (or params.model_b_ref)')
    name_a = str(p.get("model_a_name") or "model_a")
    name_b = str(p.get("model_b_name") or (name_a if mode == "self" else "model_b"))

    def cfg(samples: int) -> GenerateConfig:
        return GenerateConfig(
            max_new_tokens=int(p.get("max_new_tokens", GenerateConfig.max_new_tokens)),
            temperature=float(p.get("temperature", GenerateConfig.temperature)),
            top_p=float(p.get("top_p", GenerateConfig.top_p)),
            samples_per_prompt=samples,
            batch_size=int(p.get("batch_size", GenerateConfig.batch_size)),
            seed=int(p.get("seed", 0)),
        )

    def sample(path: str, samples: int) -> tuple[list, list[dict]]:
        tok = load_tokenizer(path, padding_side="left")
        given, rendered, _ = _prompts(ctx, tok)
        model = load_causal_lm(path, ctx.device, merge=True)
        rows = generate(model, tok, rendered, cfg(samples), ctx.progress("generate"))
        del model
        return given, rows

    if mode == "self":
        given, rows = sample(path_a, 2)
        resp_a = [r["response"] for r in rows[0::2]]
        resp_b = [r["response"] for r in rows[1::2]]
    else:
        given, rows_a = sample(path_a, 1)
        _, rows_b = sample(path_b, 1)
        resp_a = [r["response"] for r in rows_a]
        resp_b = [r["response"] for r in rows_b]
    out = ctx.job_dir / "generations.jsonl"
    with open(out, "w", encoding="utf-8") as f:
        for prompt, a, b in zip(given, resp_a, resp_b):
            row = {"prompt": prompt, "response_a": a, "response_b": b}
            row.update({"model_a": name_a, "model_b": name_b})
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    ctx.log(f"generated {len(given)} pairs ({mode})")
    art = ctx.upload_file(out, f"job-{ctx.job_id}-generations.jsonl", "generations")
    return {"generations": art}, {"count": len(given)}


# --------------------------------------------------------------------------------------------------
# evaluate


@torch.no_grad()
def run_evaluate(ctx) -> tuple[dict, dict]:
    from .generate import make_generator, sample_tokens
    from .modeling import load_causal_lm, load_tokenizer
    from .ppo import RewardModelScorer, first_true_index, response_logprobs

    p = ctx.params
    policy_path = ctx.model("policy", required=True)
    ref_path = ctx.model("reference")
    rm_path = ctx.model("reward_model")
    temperature = float(p.get("temperature", 1.0))
    max_new = int(p.get("max_new_tokens", 16))
    bs = int(p.get("batch_size", 32))
    tok = load_tokenizer(policy_path, padding_side="left")
    _, prompts, task_prompts = _prompts(ctx, tok)
    policy = load_causal_lm(policy_path, ctx.device, merge=True).eval()
    ref = load_causal_lm(ref_path, ctx.device, merge=True).eval() if ref_path else None
    gen = make_generator(int(p.get("seed", 0)), ctx.device)
    texts, kls, lengths = [], [], []
    prog = ctx.progress("eval")
    total = math.ceil(len(prompts) / bs)
    prog.start(total)
    for bi, i in enumerate(range(0, len(prompts), bs)):
        enc = tok(prompts[i : i + bs], return_tensors="pt", padding=True).to(ctx.device)
        q, qm = enc["input_ids"], enc["attention_mask"]
        resp = sample_tokens(
            policy, q, qm, max_new, tok.eos_token_id, tok.pad_token_id, temperature, 1.0, gen
        )
        is_eos = resp == tok.eos_token_id
        first = first_true_index(is_eos)
        idx = torch.arange(resp.shape[1], device=resp.device)
        r_mask = (idx[None, :] <= first[:, None]).long()
        if ref is not None:
            # k1 estimate of KL(policy || reference) per sequence, on the policy's own samples.
            t = temperature if temperature > 0 else 1.0
            lp, _ = response_logprobs(policy, q, qm, resp, r_mask, t)
            rlp, _ = response_logprobs(ref, q, qm, resp, r_mask, t)
            kls.extend(((lp - rlp) * r_mask).sum(1).tolist())
        for row, f, e in zip(resp.tolist(), first.tolist(), is_eos.any(1).tolist()):
            texts.append(tok.decode(row[:f] if e else row, skip_special_tokens=True))
            lengths.append(min(f + 1, len(row)) if e else len(row))
        prog.step(bi + 1, total)
    result: dict = {"eval/n": len(prompts), "eval/response_length": sum(lengths) / len(lengths)}
    if rm_path:
        scorer = RewardModelScorer(rm_path, ctx.device, bool(p.get("normalize_reward", True)))
        result["eval/score"] = sum(scorer(prompts, texts)) / len(texts)
    if task_prompts:
        scores = [task.score(q, r) for q, r in zip(prompts, texts)]
        result["eval/task_accuracy"] = sum(
            task.is_correct(q, r) for q, r in zip(prompts, texts)
        ) / len(texts)
        result["eval/task_score"] = sum(scores) / len(scores)
        result.setdefault("eval/score", result["eval/task_score"])
    if kls:
        result["eval/kl"] = sum(kls) / len(kls)
    ctx.log(" ".join(f"{k}={v:.4g}" for k, v in result.items()))
    return {}, flat_result(result)


# --------------------------------------------------------------------------------------------------
# judge


def judge_model_inputs(ctx) -> list[str]:
    """The judge's reward models: ``reward_model`` then ensemble members ``reward_model_1``,
    ``reward_model_2``, ... (artifacts, or ``params.reward_model_N_ref``), in numeric order."""
    names = {k for k in ctx.inputs if k.startswith("reward_model_") and k[13:].isdigit()}
    names |= {
        k.removesuffix("_ref")
        for k in ctx.params
        if k.startswith("reward_model_") and k.endswith("_ref") and k[13:-4].isdigit()
    }
    paths = [ctx.model("reward_model", required=True)]
    paths += [ctx.model(n) for n in sorted(names, key=lambda n: int(n[13:]))]
    return [p for p in paths if p]


def run_judge(ctx) -> tuple[dict, dict]:
    from .judge import JudgeConfig, judge_pairs, read_judge_pairs, summarize

    cfg = config_from_params(JudgeConfig, ctx.params)
    if cfg.batch_size < 1:
        raise UserError("params.batch_size must be at least 1")
    pairs = read_judge_pairs(ctx.file("pairs"))
    paths = judge_model_inputs(ctx)
    ctx.log(
        f"judge {ctx.params.get('judge_id')} v{ctx.params.get('judge_version')}: "
        f"{len(pairs)} pairs, {len(paths)} reward model(s)"
    )
    verdicts = judge_pairs(paths, pairs, cfg, ctx.progress("judge"), ctx.device)
    out = ctx.job_dir / "verdicts.jsonl"
    with open(out, "w", encoding="utf-8") as f:
        for v in verdicts:
            f.write(json.dumps(v) + "\n")
    result = summarize(verdicts, cfg.confident_at)
    result["judge/members"] = len(paths)
    ctx.log(" ".join(f"{k}={v:.4g}" for k, v in result.items()))
    art = ctx.upload_file(out, f"job-{ctx.job_id}-verdicts.jsonl", "file")
    return {"verdicts": art}, flat_result(result)


RUNNERS = {
    "train_reward": run_train_reward,
    "sft": run_sft,
    "ppo": run_ppo,
    "generate": run_generate,
    "evaluate": run_evaluate,
    "judge": run_judge,
}
