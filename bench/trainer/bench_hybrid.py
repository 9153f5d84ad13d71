"""Hybrid feedback efficacy (issue 6, item 9): human labels needed to reach a reward-model accuracy,
random human-only labelling versus active learning + AI labels from the reward-model judge.

    trainer/.venv/bin/python bench/trainer/bench_hybrid.py [--quick] [--seeds 0,1,2] [--json out.json]

The task is the verifiable addition task (``pairwise_trainer.task``): a pool of unlabelled candidate
pairs (``candidate_responses``), people simulated by ``oracle_prefer`` with label noise, and accuracy
measured against the noise-free oracle on held-out pairs from the same distribution (no held-out
pair occurs in the pool). The reward model is the trainer's own (``reward.train_reward`` on the tiny
2-layer Llama, trained from the base model every time), and the AI labels come from the worker's
reward-model judge (``judge.judge_pairs``: p = sigma(r_A - r_B)).

Arms, all fed the same pool, the same 100-pair seed set and the same human answer for every pair
(default: ``random`` and ``active_ai_guarded``, the server's current policy):

* ``random``: people label pairs in random order; the RM is trained on the first n labels.
* ``active_ai``: people label a random seed set; then every round the RM is trained on human + AI
  labels, the judge scores every pair people have not labelled, pairs with confidence
  max(p, 1-p) >= threshold carry the judge's pick as an AI label (refreshed every round, dropped
  when confidence falls), an ``audit_share`` of pairs, when they are first routed to the judge, go to
  people too (their human label then replaces the AI one), and the next human batch is the audit
  queue, then the most uncertain pairs (p nearest 0.5) mixed with a ``random_share`` of random
  ones. These are the server's defaults (routing threshold 0.9, audit 0.1, random 0.2); this arm
  trusts the judge's stated confidence from the start (the server before ``minAudits``).
* ``active_ai_guarded``: as ``active_ai``, with the server's trust rule: until the judge has
  ``min_audits`` (20) comparisons with people on audited pairs, every pair it is confident about
  is audited and it labels nothing; while its agreement with people is under ``alert_threshold``
  (0.7, over at least ``alert_min_pairs`` = 20) it labels nothing and only the audit share of its
  confident pairs goes to people; otherwise it labels as ``active_ai``. The audit queue is
  rebuilt each round from a per-pair draw fixed once, as the server re-routes on each judge run.
* ``active``: the ``active_ai`` selection without AI labels, to separate the two effects.
* ``active_cal`` (needs ``--recipe es``): a calibrated ensemble judge. ``--ensemble`` (3) reward
  models differing in seed, each temperature-scaled (sigma((r_A - r_B) / T), T fitted by NLL) on
  the human labels held out from training (``--val-share`` 0.2, fixed per pair); a pair gets an AI
  label only when every member picks the same side and the mean calibrated confidence is
  >= threshold; audits as ``active_ai``; the human queue is audits, then the largest spread of the
  members' P (``--strategy ensemble``, the server's "ensemble" strategy) or the mean P nearest
  0.5 (``--strategy uncertainty``), with the random share. Accuracy is member 0's, one model as
  in the other arms (the ensemble mean's is recorded as ``ensemble_accuracy``).
* ``active_ens``: the ``active_cal`` selection without AI labels.

``--recipe es`` (every arm that trains through it: random, active_cal, active_ens; the older
arms keep the fixed-step recipe) holds out ``--val-share`` of the human labels and keeps the
weights with the lowest validation loss (checked every ``--eval-every`` steps) within the same
step budget.

Human labels to a target are read off the seed-averaged accuracy curve (linear interpolation
between measured points; "not reached" when the curve never gets there). Prints tables and writes
``bench/trainer/hybrid_results.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from pairwise_trainer import task
from pairwise_trainer.data import PreferencePair
from pairwise_trainer.judge import JudgeConfig, judge_pairs
from pairwise_trainer.reward import RewardConfig, train_reward

DEFAULTS = {
    "pool": 3000,
    "eval": 1000,
    "noise": 0.1,
    "seed_labels": 100,
    "human_schedule": "100,150,200,300,400,500,600,800,1000",
    "random_schedule": "100,150,200,300,400,500,600,800,1000,1200,1600,2000",
    "targets": "0.7,0.75,0.8",
    "threshold": 0.9,
    "audit_share": 0.1,
    "random_share": 0.2,
    "min_audits": 20,
    "alert_threshold": 0.7,
    "alert_min_pairs": 20,
    "lr": 1e-3,
    "batch_size": 32,
    "epochs": 4.0,
    "min_steps": 150,
    "max_length": 64,
    "ensemble": 3,
    "val_share": 0.2,
    "eval_every": 10,
}
QUICK = {
    "pool": 1200,
    "eval": 400,
    "human_schedule": "100,200,300,400",
    "random_schedule": "100,200,300,400,600,800",
    "min_steps": 60,
    "epochs": 2.0,
    "targets": "0.6,0.65,0.7",
}


# --------------------------------------------------------------------------------------------------
# data


def make_data(n_pool: int, n_eval: int, noise: float, seed: int) -> dict:
    """Pool pairs (with the simulated person's answer and the noise-free truth) and held-out pairs
    drawn from the same prompt distribution; no held-out pair (prompt and both responses) occurs in
    the pool. Ties (equal task scores) are left out of both."""
    rng = random.Random(seed)
    seen: set[tuple] = set()

    def pairs(n: int, exclude: set[tuple]) -> list[dict]:
        out: list[dict] = []
        for p in task.make_prompts(50 * n, seed=rng.randrange(2**31)):
            if len(out) == n:
                break
            a, b = task.candidate_responses(p, rng)
            truth = task.oracle_prefer(p, a, b)
            key = (p, *sorted((a, b)))
            if truth == "tie" or key in exclude:
                continue
            seen.add(key)
            human = task.oracle_prefer(p, a, b, noise=noise, rng=rng)
            out.append(
                {"pair_id": len(out), "prompt": p, "response_a": a, "response_b": b,
                 "truth": truth, "human": human}
            )  # fmt: skip
        return out

    pool = pairs(n_pool, set())
    ev = pairs(n_eval, set(seen))
    eval_pairs = [_pref(p, p["truth"]) for p in ev]
    return {"pool": pool, "eval": eval_pairs}


def _pref(p: dict, label: str) -> PreferencePair:
    a, b = p["response_a"], p["response_b"]
    chosen, rejected = (a, b) if label == "a" else (b, a)
    return PreferencePair(p["prompt"], chosen, rejected)


def train(base: str, pairs: list[PreferencePair], eval_pairs, args, seed: int, out=None) -> float:
    """Held-out accuracy of a reward model trained from ``base`` on ``pairs``. Small sets get
    at least ``min_steps`` optimizer steps (the same rule in every arm)."""
    epochs = max(args.epochs, args.min_steps * args.batch_size / max(1, len(pairs)))
    cfg = RewardConfig(
        lr=args.lr,
        batch_size=args.batch_size,
        epochs=epochs,
        warmup_ratio=0.05,
        max_length=args.max_length,
        seed=seed,
    )
    m = train_reward(base, pairs, out, cfg, eval_pairs=eval_pairs, cpu=True)
    return float(m["eval"]["accuracy"])


# --------------------------------------------------------------------------------------------------
# arms


def label_order(n: int, seed: int) -> list[int]:
    """The order people label pairs in the random arm; its head is every arm's seed set."""
    order = list(range(n))
    random.Random(seed + 1).shuffle(order)
    return order


def run_random(base: str, data: dict, args, seed: int) -> dict:
    order = label_order(len(data["pool"]), seed)
    curve = []
    for n in args.random_schedule:
        if args.recipe == "es":
            acc = train_es(base, data, sorted(order[:n]), {}, args, seed, 1)["accuracy"]
        else:
            labelled = [_pref(data["pool"][i], data["pool"][i]["human"]) for i in sorted(order[:n])]
            acc = train(base, labelled, data["eval"], args, seed)
        curve.append({"human": n, "accuracy": acc, "ai_labels": 0})
        print(f"  seed {seed} random    human {n:5d}  acc {acc:.3f}", flush=True)
    return {"curve": curve}


def run_active(
    base: str, data: dict, args, seed: int, ai_labels: bool, work: Path, guarded: bool = False
) -> dict:
    pool = data["pool"]
    rng = random.Random(seed + 2)
    # The server's per-pair audit draw, fixed once (guarded policy; v1 draws when first routed).
    draw_rng = random.Random(seed + 3)
    audit_draw = [draw_rng.random() for _ in pool]
    trust = "warmup"
    human: set[int] = set(label_order(len(pool), seed)[: args.human_schedule[0]])
    routed: set[int] = set()  # pairs the judge has ever been confident on (audit drawn once)
    audit_queue: list[int] = []
    audits: list[tuple[str, str]] = []  # (AI label, human label) on audited pairs
    curve = []
    name = "active_ai_guarded" if guarded else "active_ai" if ai_labels else "active"
    ai: dict[int, str] = {}
    for r in range(len(args.human_schedule)):
        # Train on human labels (+ the judge's confident labels from the previous round).
        train_set = [_pref(pool[i], pool[i]["human"]) for i in sorted(human)]
        train_set += [_pref(pool[i], lab) for i, lab in sorted(ai.items()) if i not in human]
        out = work / f"{name}-{seed}-{r}"
        acc = train(base, train_set, data["eval"], args, seed, str(out))
        ai_correct = [pool[i]["truth"] == lab for i, lab in ai.items() if i not in human]
        point = {
            "human": len(human),
            "accuracy": acc,
            "ai_labels": len(ai_correct),
            "ai_label_accuracy": sum(ai_correct) / len(ai_correct) if ai_correct else None,
        }
        if guarded:
            point["trust"] = trust  # the judge's standing when its labels were given
        curve.append(point)
        ai_acc = point["ai_label_accuracy"]
        print(
            f"  seed {seed} {name:9s} human {len(human):5d}  acc {acc:.3f}  ai labels "
            f"{len(ai_correct):5d}" + (f" (correct {ai_acc:.3f})" if ai_acc is not None else ""),
            flush=True,
        )
        if r + 1 == len(args.human_schedule):
            break
        # The judge scores every pair people have not labelled.
        rest = [i for i in range(len(pool)) if i not in human]
        verdicts = judge_pairs(
            [str(out)],
            [pool[i] for i in rest],
            JudgeConfig(batch_size=128, max_length=args.max_length),
        )
        shutil.rmtree(out, ignore_errors=True)
        p_a = {i: v["p_a"] for i, v in zip(rest, verdicts)}
        conf = {i: max(p, 1 - p) for i, p in p_a.items()}
        confident = [i for i in rest if conf[i] >= args.threshold]
        if guarded:
            # Routing since the server's minAudits / agreement-alert rule: a judge with fewer
            # than min_audits comparisons on audited pairs has every confident pair audited and
            # labels nothing; one whose agreement is under the alert keeps only the audit share;
            # otherwise confident pairs get its label and the audit share goes to people too.
            n_cmp = len(audits)
            agree_now = sum(a == h for a, h in audits) / n_cmp if n_cmp else 0.0
            if n_cmp < args.min_audits:
                trust = "warmup"
            elif n_cmp >= args.alert_min_pairs and agree_now < args.alert_threshold:
                trust = "paused"
            else:
                trust = "trusted"
            ai = (
                {i: ("a" if p_a[i] > 0.5 else "b") for i in confident} if trust == "trusted" else {}
            )
            audit_queue = [
                i for i in confident if trust == "warmup" or audit_draw[i] < args.audit_share
            ]
        else:
            ai = {i: ("a" if p_a[i] > 0.5 else "b") for i in confident} if ai_labels else {}
            for i in confident:
                if i not in routed:
                    routed.add(i)
                    if rng.random() < args.audit_share:
                        audit_queue.append(i)
        # Next human batch: audits first, then uncertain pairs mixed with a random share.
        budget = args.human_schedule[r + 1] - len(human)
        batch, audited, audit_queue = next_human_batch(
            budget, audit_queue, rest, conf.__getitem__, args.random_share, rng
        )
        for i in audited:
            audits.append((ai.get(i) or ("a" if p_a[i] > 0.5 else "b"), pool[i]["human"]))
        human.update(batch)
    agree = sum(a == h for a, h in audits)
    return {
        "curve": curve,
        "trust": [p.get("trust") for p in curve] if guarded else None,
        "audits": len(audits),
        "audit_agreement": agree / len(audits) if audits else None,
    }


def next_human_batch(budget, audit_queue, rest, order_key, random_share, rng):
    """The next ``budget`` pairs for people, as the server's queue serves them: audits first, then
    the rest by ``order_key`` (most informative first) with a ``random_share`` drawn at random.
    Returns ``(batch, audited, remaining_audit_queue)``."""
    audited = audit_queue[:budget]
    left = budget - len(audited)
    n_random = round(left * random_share)
    chosen = set(audited)
    batch = audited + sorted((i for i in rest if i not in chosen), key=order_key)[: left - n_random]
    chosen = set(batch)
    others = [i for i in rest if i not in chosen]
    batch += rng.sample(others, min(n_random, len(others)))
    return batch, audited, audit_queue[budget:]


# --------------------------------------------------------------------------------------------------
# calibrated / ensemble / early-stopping variants (``--recipe es``, arms ``active_cal``, ``active_ens``)


def val_split(idx: list[int], share: float, seed: int) -> tuple[list[int], list[int]]:
    """Human-labelled pairs held out from RM training: a fixed per-pair draw, so a pair stays in
    the validation split as the labelled set grows (the server would keep such a split too)."""
    draw = random.Random(seed + 4)  # the i-th draw belongs to pool pair i, whatever is labelled
    vals = [draw.random() for _ in range(max(idx) + 1 if idx else 0)]
    val = [i for i in sorted(idx) if vals[i] < share]
    tr = [i for i in sorted(idx) if vals[i] >= share]
    return tr, val


def fit_temperature(diff: torch.Tensor, y: torch.Tensor) -> float:
    """T minimising the NLL of sigma(diff / T) for labels y (1 = A preferred); grid search."""
    best, best_t = float("inf"), 1.0
    for k in range(81):
        t = math.exp(math.log(0.25) + k * (math.log(50.0) - math.log(0.25)) / 80)
        nll = torch.nn.functional.binary_cross_entropy_with_logits(diff / t, y).item()
        if nll < best:
            best, best_t = nll, t
    return best_t


def _pair_diff(model, tok, pool: list[dict], idx: list[int], max_length: int) -> torch.Tensor:
    """r_A - r_B for pool pairs ``idx`` (the judge's quantity)."""
    from pairwise_trainer.reward import score_texts

    if not idx:
        return torch.zeros(0)
    prompts = [pool[i]["prompt"] for i in idx]
    ra = score_texts(model, tok, prompts, [pool[i]["response_a"] for i in idx], 128, max_length)
    rb = score_texts(model, tok, prompts, [pool[i]["response_b"] for i in idx], 128, max_length)
    return (ra - rb).double()


def train_es(
    base: str,
    data: dict,
    human: list[int],
    ai: dict[int, str],
    args,
    seed: int,
    members: int,
    score: list[int] | None = None,
) -> dict:
    """The ``--recipe es`` reward model(s): human labels split into train / validation
    (``val_share``, fixed per pair); each member trains on the train split + AI labels with the
    same step budget as ``train`` (lr, batch, max(epochs, min_steps)) but keeps the weights with
    the lowest validation BT loss, checked every ``eval_every`` steps (early stopping); a
    temperature is fitted on the validation split. Member ``j`` differs in seed (head init, data
    order). Returns the held-out accuracy of member 0 (the arm's reward model, one model as in
    every arm), the ensemble-mean accuracy, and per member the calibrated P(A) on ``score``."""
    from pairwise_trainer.common import make_optimizer, make_scheduler
    from pairwise_trainer.modeling import load_tokenizer, seed_everything
    from pairwise_trainer.reward import (
        RewardConfig,
        _collate,
        _PairData,
        bt_loss,
        load_rm_for_training,
        reward_forward,
        score_texts,
    )

    pool = data["pool"]
    tr_idx, val_idx = val_split(human, args.val_share, seed)
    if len(val_idx) < 2:  # too few to stop on: train on everything, no early stopping
        tr_idx, val_idx = sorted(human), []
    train_pairs = [_pref(pool[i], pool[i]["human"]) for i in tr_idx]
    train_pairs += [_pref(pool[i], lab) for i, lab in sorted(ai.items()) if i not in set(human)]
    epochs = max(args.epochs, args.min_steps * args.batch_size / max(1, len(train_pairs)))
    tok = load_tokenizer(base, padding_side="right")
    ev = data["eval"]
    y_val = torch.tensor([1.0 if pool[i]["human"] == "a" else 0.0 for i in val_idx]).double()
    out: dict = {"members": [], "val": len(val_idx)}
    test_diffs = []
    for j in range(members):
        mseed = seed if j == 0 else seed * 1000 + j
        seed_everything(mseed)
        cfg = RewardConfig(lr=args.lr, batch_size=args.batch_size, epochs=epochs,
                           warmup_ratio=0.05, max_length=args.max_length, seed=mseed)  # fmt: skip
        model = load_rm_for_training(base, tok, cfg)
        g = torch.Generator().manual_seed(mseed)
        loader = torch.utils.data.DataLoader(
            _PairData(train_pairs, tok, cfg.max_length), batch_size=cfg.batch_size,
            shuffle=True, generator=g, collate_fn=_collate(tok.pad_token_id),
        )  # fmt: skip
        total = max(1, math.ceil(len(loader) * cfg.epochs))
        opt = make_optimizer(model, cfg.lr, cfg.weight_decay)
        sched = make_scheduler(opt, int(cfg.warmup_ratio * total), total)

        def val_loss(model) -> float:
            model.eval()
            with torch.no_grad():
                d = _pair_diff(model, tok, pool, val_idx, args.max_length)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(d, y_val).item()
            model.train()
            return loss

        best = (val_loss(model), 0, None) if val_idx else None
        step = 0
        model.train()
        while step < total:
            for batch in loader:
                r = reward_forward(model, batch["input_ids"], batch["attention_mask"])
                b = batch["margin"].shape[0]
                loss = bt_loss(r[:b], r[b:], batch["margin"], batch["weight"])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                opt.step()
                sched.step()
                opt.zero_grad()
                step += 1
                if val_idx and (step % args.eval_every == 0 or step == total):
                    vl = val_loss(model)
                    if vl < best[0]:
                        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                        best = (vl, step, state)
                if step >= total:
                    break
        if best is not None and best[2] is not None:
            model.load_state_dict(best[2])
        model.eval()
        with torch.no_grad():
            rc = score_texts(model, tok, [p.prompt for p in ev], [p.chosen for p in ev], 128,
                             args.max_length)  # fmt: skip
            rr = score_texts(model, tok, [p.prompt for p in ev], [p.rejected for p in ev], 128,
                             args.max_length)  # fmt: skip
            d_test = (rc - rr).double()
            test_diffs.append(d_test)
            t = 1.0
            if val_idx:
                dv = _pair_diff(model, tok, pool, val_idx, args.max_length)
                t = fit_temperature(dv, y_val)
            p_a = None
            if score is not None:
                p_a = torch.sigmoid(_pair_diff(model, tok, pool, score, args.max_length) / t)
        acc = ((d_test > 0).double() + 0.5 * (d_test == 0).double()).mean().item()
        out["members"].append(
            {"accuracy": acc, "temperature": t, "best_step": best[1] if best else step,
             "steps": step, "p_a": p_a}
        )  # fmt: skip
        del model, opt
    out["accuracy"] = out["members"][0]["accuracy"]
    d = torch.stack(test_diffs).mean(0)
    out["ensemble_accuracy"] = ((d > 0).double() + 0.5 * (d == 0).double()).mean().item()
    return out


def run_active_cal(base: str, data: dict, args, seed: int, ai_labels: bool) -> dict:
    """Active learning + AI labels from a calibrated ensemble judge (``--recipe es`` training):
    k members (``--ensemble``), each temperature-scaled on the held-out human labels; a pair
    gets an AI label only when every member picks the same side and the mean calibrated
    confidence is >= threshold; the audit share of newly routed pairs goes to people (their
    label wins); the human queue is audits, then ``--strategy`` (uncertainty: mean calibrated
    P nearest 0.5; ensemble: largest spread of members' P) with a random share."""
    pool = data["pool"]
    rng = random.Random(seed + 2)
    human: set[int] = set(label_order(len(pool), seed)[: args.human_schedule[0]])
    routed: set[int] = set()
    audit_queue: list[int] = []
    audits: list[tuple[str, str]] = []
    curve = []
    ai: dict[int, str] = {}
    name = "active_cal" if ai_labels else "active_ens"
    for r in range(len(args.human_schedule)):
        last = r + 1 == len(args.human_schedule)
        rest = [i for i in range(len(pool)) if i not in human]
        res = train_es(base, data, sorted(human), ai, args, seed, args.ensemble,
                       None if last else rest)  # fmt: skip
        ai_correct = [pool[i]["truth"] == lab for i, lab in ai.items() if i not in human]
        point = {
            "human": len(human),
            "accuracy": res["accuracy"],
            "ensemble_accuracy": res["ensemble_accuracy"],
            "ai_labels": len(ai_correct),
            "ai_label_accuracy": sum(ai_correct) / len(ai_correct) if ai_correct else None,
            "temperatures": [m["temperature"] for m in res["members"]],
            "best_steps": [m["best_step"] for m in res["members"]],
        }
        curve.append(point)
        ai_acc = point["ai_label_accuracy"]
        print(
            f"  seed {seed} {name:9s} human {len(human):5d}  acc {res['accuracy']:.3f} "
            f"(ens {res['ensemble_accuracy']:.3f})  T {point['temperatures'][0]:.2f} "
            f"stop {point['best_steps'][0]}  ai labels {len(ai_correct):5d}"
            + (f" (correct {ai_acc:.3f})" if ai_acc is not None else ""),
            flush=True,
        )
        if last:
            break
        pm = torch.stack([m["p_a"] for m in res["members"]])  # (members, rest)
        mean = pm.mean(0)
        agree = ((pm > 0.5).all(0) | (pm < 0.5).all(0)).tolist()
        conf = {i: max(float(mean[k]), 1 - float(mean[k])) for k, i in enumerate(rest)}
        spread = {i: 2 * float(pm[:, k].std()) if len(pm) > 1 else 0.0
                  for k, i in enumerate(rest)}  # fmt: skip
        p_a = {i: float(mean[k]) for k, i in enumerate(rest)}
        confident = [i for k, i in enumerate(rest) if agree[k] and conf[i] >= args.threshold]
        ai = {i: ("a" if p_a[i] > 0.5 else "b") for i in confident} if ai_labels else {}
        for i in confident:
            if i not in routed:
                routed.add(i)
                if rng.random() < args.audit_share:
                    audit_queue.append(i)
        budget = args.human_schedule[r + 1] - len(human)
        ensemble = args.strategy == "ensemble" and len(pm) > 1
        order = (lambda i, s=spread: -s[i]) if ensemble else conf.__getitem__
        batch, audited, audit_queue = next_human_batch(
            budget, audit_queue, rest, order, args.random_share, rng
        )
        for i in audited:
            audits.append((ai.get(i) or ("a" if p_a[i] > 0.5 else "b"), pool[i]["human"]))
        human.update(batch)
    agree_n = sum(a == h for a, h in audits)
    return {
        "curve": curve,
        "audits": len(audits),
        "audit_agreement": agree_n / len(audits) if audits else None,
    }


# --------------------------------------------------------------------------------------------------
# summary


def mean_curve(runs: list[dict]) -> list[dict]:
    pts = zip(*[r["curve"] for r in runs])
    out = []
    for group in pts:
        accs = [p["accuracy"] for p in group]
        row = {"human": group[0]["human"], "accuracy": sum(accs) / len(accs), "per_seed": accs}
        ai = [p.get("ai_label_accuracy") for p in group if p.get("ai_label_accuracy") is not None]
        row["ai_labels"] = sum(p.get("ai_labels", 0) for p in group) / len(group)
        row["ai_label_accuracy"] = sum(ai) / len(ai) if ai else None
        out.append(row)
    return out


def labels_to_reach(curve: list[dict], target: float) -> float | None:
    """Human labels at which the curve first reaches ``target`` (linear between points)."""
    prev = None
    for p in curve:
        if p["accuracy"] >= target:
            if prev is None:
                return float(p["human"])
            h0, a0 = prev["human"], prev["accuracy"]
            return h0 + (target - a0) / (p["accuracy"] - a0) * (p["human"] - h0)
        prev = p
    return None


def accuracy_at(curve: list[dict], human: int) -> float | None:
    """Accuracy at ``human`` labels (linear between measured points; None outside the curve)."""
    for p0, p1 in zip(curve, curve[1:]):
        if p0["human"] <= human <= p1["human"]:
            w = (human - p0["human"]) / (p1["human"] - p0["human"])
            return p0["accuracy"] + w * (p1["accuracy"] - p0["accuracy"])
    return curve[-1]["accuracy"] if curve and curve[-1]["human"] == human else None


def fmt(x, spec=".0f"):
    return "-" if x is None else format(x, spec)


def loglinear_reach(curve: list[dict], target: float) -> float | None:
    """Human labels at ``target`` on a least-squares fit acc = a + b ln(n) to the curve; None
    when the fit reaches it only beyond the measured range. Less sensitive than first crossing to
    one lucky or unlucky training run."""
    xs = [math.log(p["human"]) for p in curve]
    ys = [p["accuracy"] for p in curve]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0
    if b <= 0:
        return None
    n = math.exp(mx + (target - my) / b)
    lo, hi = curve[0]["human"], curve[-1]["human"]
    return None if n > hi else max(float(lo), n)


def ratio(r: float | None, a: float | None) -> float | None:
    return r / a if r is not None and a is not None else None


def summarize(runs: dict[str, list[dict]], params: dict) -> dict:
    """Print the tables and return the summary figures (for the JSON)."""
    arms = list(runs)
    targets = [float(x) for x in str(params["targets"]).split(",")]
    seeds = [r["seed"] for r in runs[arms[0]]]
    curves = {a: mean_curve(rs) for a, rs in runs.items()}
    others = [a for a in arms if a != "random"]
    points = [p["human"] for p in curves[others[0]]] if others else []
    print(f"\nReward-model held-out accuracy by human labels (mean of seeds {seeds}):")
    print(f"  {'human':>6}" + "".join(f"{a:>19}" for a in arms))
    at = {a: {str(n): accuracy_at(curves[a], n) for n in points} for a in arms}
    for n in points:
        print(f"  {n:>6}" + "".join(f"{fmt(at[a][str(n)], '.3f'):>19}" for a in arms))
    if "random" in arms:
        tail = [p for p in curves["random"] if not points or p["human"] > points[-1]]
        if tail:
            print(
                "  random beyond: " + ", ".join(f"{p['human']}: {p['accuracy']:.3f}" for p in tail)
            )
    reach = {a: {str(t): labels_to_reach(c, t) for t in targets} for a, c in curves.items()}
    fit = {a: {str(t): loglinear_reach(c, t) for t in targets} for a, c in curves.items()}
    per_seed = {
        a: [{str(t): labels_to_reach(r["curve"], t) for t in targets} for r in rs]
        for a, rs in runs.items()
    }
    out: dict = {
        "seeds": seeds,
        "curves": curves,
        "accuracy_at_human_labels": at,
        "human_labels_to_target": reach,
        "human_labels_to_target_loglinear_fit": fit,
        "human_labels_to_target_per_seed": per_seed,
    }
    print("\nHuman labels to reach a held-out accuracy (first crossing of the seed-mean curve;")
    print("in brackets: from a fit acc = a + b ln n to it; - = not reached within the budget):")
    both = "random" in arms and "active_ai" in arms
    print(
        f"  {'target':>7}"
        + "".join(f"{a:>20}" for a in arms)
        + (f"{'random/active_ai':>24}" if both else "")
    )
    for t in map(str, targets):
        line = f"  {float(t):>7.2f}" + "".join(
            f"{fmt(reach[a][t]) + ' [' + fmt(fit[a][t]) + ']':>20}" for a in arms
        )
        if both:
            r1, r2 = (
                ratio(reach["random"][t], reach["active_ai"][t]),
                ratio(fit["random"][t], fit["active_ai"][t]),
            )
            line += f"{fmt(r1, '.2f') + 'x [' + fmt(r2, '.2f') + 'x]':>24}"
        print(line)
    if both:
        out["ratio_random_over_active_ai"] = {
            t: ratio(reach["random"][t], reach["active_ai"][t]) for t in map(str, targets)
        }
        out["ratio_random_over_active_ai_fit"] = {
            t: ratio(fit["random"][t], fit["active_ai"][t]) for t in map(str, targets)
        }
        seed_ratios = {
            t: [ratio(r[t], a[t]) for r, a in zip(per_seed["random"], per_seed["active_ai"])]
            for t in map(str, targets)
        }
        out["ratio_random_over_active_ai_per_seed"] = seed_ratios
        for t, rs in seed_ratios.items():
            print(f"  per-seed ratio at {t}: " + ", ".join(fmt(x, ".2f") for x in rs))
    for arm in others:
        ai = [p["ai_label_accuracy"] for p in curves[arm] if p["ai_label_accuracy"] is not None]
        n_ai = [p["ai_labels"] for p in curves[arm]]
        audits = [r["audits"] for r in runs[arm]]
        agree = [r["audit_agreement"] for r in runs[arm] if r["audit_agreement"] is not None]
        if ai:
            print(
                f"\n{arm}: AI labels per round {', '.join(f'{x:.0f}' for x in n_ai)}; "
                f"AI-label accuracy vs the truth {', '.join(f'{x:.3f}' for x in ai)}"
            )
        if audits:
            mean_agree = sum(agree) / len(agree) if agree else None
            print(
                f"{arm}: audits per seed {audits}; judge = person on audited pairs "
                f"{fmt(mean_agree, '.3f')} (people are wrong {params['noise']:.0%} of the time)"
            )
            out.setdefault("audits", {})[arm] = {"per_seed": audits, "agreement": mean_agree}
        trusts = [r.get("trust") for r in runs[arm] if r.get("trust")]
        if trusts:
            print(f"{arm}: judge standing per round, per seed:")
            for r, t in zip(runs[arm], trusts):
                print(f"  seed {r['seed']}: {' '.join(x or '-' for x in t)}")
    walls = {a: sum(r["wall_s"] for r in rs) for a, rs in runs.items()}
    print("\narm wall time: " + ", ".join(f"{a} {w:.0f} s" for a, w in walls.items()))
    return out


def merge(files: list[str], out: str) -> int:
    """Combine runs (different seeds, same parameters) from several result files."""
    loaded = [json.loads(Path(f).read_text()) for f in files]
    for d in loaded:  # files from before --recipe / --strategy existed
        d["params"].setdefault("recipe", "steps")
        d["params"].setdefault("strategy", "ensemble")
    skip = {"seeds", "arms"}  # per file; the merged runs say which arms and seeds there are
    params = {k: v for k, v in loaded[0]["params"].items() if k not in skip}
    for d in loaded[1:]:
        shared = (set(d["params"]) & set(params)) - skip
        if any(d["params"][k] != params[k] for k in shared):
            raise SystemExit("error: the files were made with different parameters")
        params.update({k: v for k, v in d["params"].items() if k not in skip})
    runs: dict[str, list[dict]] = {}
    for d in loaded:
        for a, rs in d["runs"].items():
            runs.setdefault(a, []).extend(rs)
    for rs in runs.values():
        rs.sort(key=lambda r: r["seed"])
    params["seeds"] = [r["seed"] for r in next(iter(runs.values()))]
    params["arms"] = list(runs)
    res = {
        "command": " + ".join(d["command"] for d in loaded),
        "machine": loaded[0]["machine"],
        "params": params,
        "runs": runs,
        "wall_s": sum(d["wall_s"] for d in loaded),
        "wall_s_per_file": [d["wall_s"] for d in loaded],
    }
    res.update(summarize(runs, params))
    Path(out).write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def base_model(arg: str | None, tmp: Path) -> str:
    for cand in (arg, os.environ.get("PAIRWISE_TINY_MODEL")):
        if cand:
            return cand
    cached = Path(__file__).resolve().parents[2] / "data" / "test-cache" / "tiny-base"
    if (cached / "model.safetensors").exists():
        return str(cached)
    from pairwise_trainer.modeling import build_tiny_model

    print("building the tiny base model (~40 s)", flush=True)
    build_tiny_model(str(tmp / "tiny"))
    return str(tmp / "tiny")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small pool and schedule (~2 min)")
    ap.add_argument("--seeds", default="0,1,2", help="comma list; figures are averaged")
    ap.add_argument(
        "--arms",
        default="random,active_ai_guarded",
        help="comma list of random, active_ai, active, active_ai_guarded, active_cal, active_ens",
    )
    ap.add_argument(
        "--recipe",
        choices=("steps", "es"),
        default="steps",
        help="RM training for every arm: steps = max(epochs, min-steps) (the default); es = "
        "early stopping on a val-share split of the human labels (needed by active_cal/active_ens)",
    )
    ap.add_argument(
        "--strategy",
        choices=("uncertainty", "ensemble"),
        default="ensemble",
        help="human queue order of active_cal / active_ens",
    )
    ap.add_argument("--model", help="base model (default: data/test-cache/tiny-base or built)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=str(Path(__file__).parent / "hybrid_results.json"))
    ap.add_argument("--merge", nargs="+", help="summarise runs from these result files into --json")
    for k, v in DEFAULTS.items():
        ap.add_argument(f"--{k.replace('_', '-')}", type=type(v), default=None)
    args = ap.parse_args()
    if args.merge:
        return merge(args.merge, args.json)
    for k, v in DEFAULTS.items():
        if getattr(args, k) is None:
            setattr(args, k, QUICK.get(k, v) if args.quick else v)
    args.human_schedule = [int(x) for x in args.human_schedule.split(",")]
    args.random_schedule = [int(x) for x in args.random_schedule.split(",")]
    if args.human_schedule[0] != args.seed_labels:
        raise SystemExit("error: --human-schedule must start at --seed-labels (the seed set)")
    seeds = [int(x) for x in args.seeds.split(",")]
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    for arm in arms:
        if arm in ("active_cal", "active_ens") and args.recipe != "es":
            raise SystemExit(f"error: {arm} needs --recipe es")
        if arm in ("active_ai", "active", "active_ai_guarded") and args.recipe != "steps":
            raise SystemExit(f"error: {arm} trains with --recipe steps only")
    torch.set_num_threads(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    t0 = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="bench-hybrid-"))
    runs: dict[str, list[dict]] = {a: [] for a in arms}
    try:
        base = base_model(args.model, tmp)
        for seed in seeds:
            data = make_data(args.pool, args.eval, args.noise, seed)
            for arm in arms:
                t = time.time()
                if arm == "random":
                    res = run_random(base, data, args, seed)
                elif arm in ("active_cal", "active_ens"):
                    res = run_active_cal(base, data, args, seed, arm == "active_cal")
                elif arm in ("active_ai", "active", "active_ai_guarded"):
                    res = run_active(
                        base, data, args, seed, arm != "active", tmp, arm == "active_ai_guarded"
                    )
                else:
                    raise SystemExit(f"unknown arm {arm!r}")
                res["seed"], res["wall_s"] = seed, time.time() - t
                runs[arm].append(res)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    wall = time.time() - t0

    res = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": args.threads,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "params": {
            **{k: getattr(args, k) for k in DEFAULTS},
            "seeds": seeds,
            "arms": arms,
            "quick": args.quick,
            "recipe": args.recipe,
            "strategy": args.strategy,
        },
        "runs": runs,
        "wall_s": wall,
    }
    res.update(summarize(runs, res["params"]))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
