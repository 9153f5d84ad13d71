"""Loss and estimator math against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from pairwise_trainer.common import masked_mean, masked_var, masked_whiten
from pairwise_trainer.generate import _filter_top_p
from pairwise_trainer.ppo import (
    AdaptiveKLController,
    compute_gae,
    first_true_index,
    kl_estimate,
    ppo_losses,
)
from pairwise_trainer.reward import bt_loss, expected_calibration_error


def close(a, b, tol=1e-5):
    return abs(float(a) - float(b)) < tol


def test_bt_loss_without_margin():
    rc, rr = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.0])
    # -log sigmoid(1) = log(1 + e^-1) = 0.3132617; -log sigmoid(0) = log 2 = 0.6931472
    want = (math.log(1 + math.exp(-1)) + math.log(2)) / 2
    got = bt_loss(rc, rr)
    assert close(got, want), f"BT loss {got} != hand value {want}"


def test_bt_loss_with_margin_and_weight():
    rc, rr, m = torch.tensor([2.0, 3.0]), torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])
    # diffs minus margin: 0 and 2 -> losses log 2 and log(1+e^-2)
    l0, l1 = math.log(2), math.log(1 + math.exp(-2))
    assert close(bt_loss(rc, rr, m), (l0 + l1) / 2), "BT loss with margin wrong"
    w = torch.tensor([3.0, 1.0])
    assert close(bt_loss(rc, rr, m, w), (3 * l0 + l1) / 4), "weighted BT loss wrong"


def test_bt_centering_term():
    rc, rr = torch.tensor([1.0]), torch.tensor([1.0])
    # log 2 + 0.01 * (1 + 1)^2
    assert close(bt_loss(rc, rr, center_coef=0.01), math.log(2) + 0.04), "centering term wrong"


def test_gae_hand_computed():
    r = torch.tensor([[0.0, 0.0, 1.0]])
    v = torch.tensor([[0.5, 0.5, 0.5]])
    m = torch.ones(1, 3)
    adv, ret = compute_gae(r, v, m, gamma=1.0, lam=0.5)
    # delta_2 = 1 - 0.5 = 0.5; delta_1 = 0 + 0.5 - 0.5 = 0; delta_0 = 0
    # A_2 = 0.5; A_1 = 0 + 0.5*0.5 = 0.25; A_0 = 0 + 0.5*0.25 = 0.125
    assert torch.allclose(adv, torch.tensor([[0.125, 0.25, 0.5]])), f"GAE advantages {adv}"
    assert torch.allclose(ret, adv + v), "returns must be advantages + values"


def test_gae_respects_padding_and_discount():
    r = torch.tensor([[1.0, 2.0, 99.0]])
    v = torch.tensor([[0.0, 1.0, 99.0]])
    m = torch.tensor([[1.0, 1.0, 0.0]])
    adv, ret = compute_gae(r, v, m, gamma=0.9, lam=1.0)
    # padded step ignored: delta_1 = 2 - 1 = 1; delta_0 = 1 + 0.9*1 - 0 = 1.9; A_0 = 1.9 + 0.9*1 = 2.8
    assert torch.allclose(adv, torch.tensor([[2.8, 1.0, 0.0]])), f"padded GAE {adv}"
    assert torch.allclose(ret, torch.tensor([[2.8, 2.0, 0.0]])), f"padded returns {ret}"


def test_kl_estimators():
    lp, lq = torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)])
    logr = math.log(2)
    assert close(kl_estimate(lp, lq, "k1"), logr)
    assert close(kl_estimate(lp, lq, "k2"), 0.5 * logr**2)
    assert close(kl_estimate(lp, lq, "k3"), (0.5 - 1) + logr), "k3 = (1/r - 1) + log r"
    # k3 is non-negative and zero at r = 1
    x = torch.linspace(-3, 3, 13)
    assert (kl_estimate(x, torch.zeros_like(x), "k3") >= -1e-7).all()
    with pytest.raises(ValueError):
        kl_estimate(lp, lq, "k9")


def test_kl_estimators_unbiased_on_samples():
    torch.manual_seed(0)
    p = torch.tensor([0.7, 0.2, 0.1])
    q = torch.tensor([0.4, 0.4, 0.2])
    true_kl = float((p * (p / q).log()).sum())
    x = torch.multinomial(p, 200000, replacement=True)
    for kind in ("k1", "k3"):
        est = kl_estimate(p.log()[x], q.log()[x], kind).mean()
        assert close(est, true_kl, 0.01), f"{kind} mean {est} far from KL {true_kl}"


def test_masked_whitening():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    m = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    assert close(masked_mean(x, m), 2.0)
    assert close(masked_var(x, m), 1.0), "unbiased variance of 1,2,3 is 1"
    w = masked_whiten(x, m)
    assert torch.allclose(w, torch.tensor([[-1.0, 0.0, 1.0, 0.0]]), atol=1e-4), f"whitened {w}"
    w2 = masked_whiten(x, m, shift_mean=False)
    assert torch.allclose(w2[:, :3], torch.tensor([[1.0, 2.0, 3.0]]), atol=1e-4)


def test_adaptive_kl_controller():
    c = AdaptiveKLController(0.1, target=6.0, horizon=10000)
    c.update(current_kl=9.0, n_steps=1000)  # err = clip(0.5) = 0.2 -> x(1 + 0.2*0.1)
    assert close(c.value, 0.1 * 1.02), f"beta {c.value}"
    c.update(current_kl=3.0, n_steps=1000)  # err = -0.5 -> clipped -0.2 -> x0.98
    assert close(c.value, 0.1 * 1.02 * 0.98)
    c.update(current_kl=6.0, n_steps=1000)  # on target: unchanged
    assert close(c.value, 0.1 * 1.02 * 0.98)


def test_ppo_losses_at_ratio_one_and_clipping():
    m = torch.ones(1, 2)
    lp = torch.log(torch.tensor([[0.5, 0.5]]))
    adv = torch.tensor([[1.0, -1.0]])
    v = torch.zeros(1, 2)
    ret = torch.tensor([[1.0, 0.0]])
    pg, vf, st = ppo_losses(lp, lp, adv, v, v, ret, m, 0.2, 0.2)
    assert close(pg, 0.0) and close(st["val/ratio"], 1.0) and close(st["policy/clipfrac"], 0.0)
    # vf: vpred = 0, returns 1 and 0 -> 0.5 * mean(1, 0) = 0.25
    assert close(vf, 0.25)
    # ratio 2 on a positive advantage is clipped to 1.2 -> loss -1.2 on that token
    new = lp + torch.tensor([[math.log(2.0), 0.0]])
    pg, _, st = ppo_losses(new, lp, adv, v, v, ret, m, 0.2, 0.2)
    assert close(pg, (-1.2 + 1.0) / 2), f"clipped pg_loss {pg}"
    assert close(st["policy/clipfrac"], 0.5)
    assert close(st["policy/approxkl"], 0.5 * (math.log(2) ** 2) / 2)


def test_value_clipping():
    m = torch.ones(1, 1)
    z = torch.zeros(1, 1)
    # vpred moved 1.0 away from old value 0 toward return 1: clipped to 0.2 -> max(0, 0.64)
    _, vf, st = ppo_losses(z, z, z, torch.ones(1, 1), z, torch.ones(1, 1), m, 0.2, 0.2)
    assert close(vf, 0.5 * 0.64) and close(st["val/clipfrac"], 1.0)


def test_first_true_index_and_top_p():
    x = torch.tensor([[False, True, True], [False, False, False]])
    assert first_true_index(x).tolist() == [1, 3]
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]]))
    kept = torch.isfinite(_filter_top_p(logits, 0.6))
    assert kept.tolist() == [[True, True, False]], "top-p 0.6 keeps the 0.5 and 0.3 tokens"


def test_ece():
    p = torch.tensor([0.9, 0.9, 0.9, 0.9, 0.1])
    # conf 0.9 everywhere; correct where p > .5: 4/5 -> |0.8 - 0.9| = 0.1
    assert close(expected_calibration_error(p), 0.1)
