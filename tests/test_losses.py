"""Loss kernels in dynet.train.losses: hand values, gradients, stability, PyTorch.

Gradients are checked against central finite differences in float64 (the kernels are
dtype-generic). Every loss is a mean of ``M`` non-negative terms accumulated in
float64, so one evaluation is off by at most ~``M eps64 L``; the difference quotient
inherits that divided by the step, which the test computes as its bound. Points are
kept at least ``GAP`` from every kink (``y z = 1`` for hinge, ``y z = 0`` for the
perceptron, ``1 - z_t + z_j = 0`` for multi_margin), far beyond the step ``H``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from peers import require

from dynet.train import losses as L

NAMES = list(L.LOSS_CODES)
EPS64 = np.finfo(np.float64).eps
EPS32 = float(np.finfo(np.float32).eps)
H = 1e-6
GAP = 0.05
EMPTY_VALUES = np.empty((0, 0))
EMPTY_LABELS = np.empty(0, np.int64)


def run(name, z, target):
    grad = np.empty_like(z)
    value = L.LOSSES[name](z, target, grad)
    return value, grad


def kink_distance(name, z, target):
    """Smallest distance of the inputs to a kink of the loss (inf for smooth losses)."""
    if name == "hinge":
        return np.abs(1.0 - target * z).min()
    if name == "perceptron":
        return np.abs(z).min()
    if name == "multi_margin":
        rows = np.arange(z.shape[0])
        v = 1.0 - z[rows, target][:, None] + z
        v[rows, target] = np.inf
        return np.abs(v).min()
    return np.inf


def make_case(name, rng, shape=(5, 4), dtype=np.float64):
    """Random logits and a target of the right kind, at least GAP away from every kink."""
    while True:
        z = rng.normal(0.0, 2.0, size=shape)
        if L.LOSS_TARGETS[name] == "labels":
            target = rng.integers(0, shape[1], size=shape[0])
        elif name in ("hinge", "perceptron"):
            target = rng.choice([-1.0, 1.0], size=shape)
        elif name == "bce_with_logits":
            target = rng.uniform(0.0, 1.0, size=shape)  # soft targets are allowed
        else:
            target = rng.normal(size=shape)
        if kink_distance(name, z, target) > GAP:
            break
    if L.LOSS_TARGETS[name] == "values":
        target = target.astype(dtype)
    return z.astype(dtype), target


# --------------------------------------------------------------------------- tables


def test_tables_agree():
    assert set(L.LOSSES) == set(L.LOSS_CODES) == set(L.LOSS_TARGETS)
    assert sorted(L.LOSS_CODES.values()) == list(range(len(L.LOSS_CODES)))
    assert set(L.LOSS_TARGETS.values()) == {"values", "labels"}


# --------------------------------------------------------------------------- hand-computed values


def test_mse_by_hand():
    z = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = np.array([[0.0, 2.0], [1.0, 1.0]])
    value, grad = run("mse", z, y)
    # differences 1, 0, 2, 3 -> squares 1 + 0 + 4 + 9 = 14 over 4 elements
    assert value == 3.5
    assert grad.tolist() == [[0.5, 0.0], [1.0, 1.5]]  # 2 d / 4


def test_bce_with_logits_by_hand():
    z = np.array([[0.0, 2.0]])
    y = np.array([[1.0, 0.0]])
    value, grad = run("bce_with_logits", z, y)
    # -log s(0) = log 2; -log(1 - s(2)) = log(1 + e^2); mean over 2
    assert value == pytest.approx((math.log(2) + math.log1p(math.exp(2))) / 2, rel=4 * EPS64)
    s2 = 1 / (1 + math.exp(-2))
    assert grad[0, 0] == pytest.approx((0.5 - 1) / 2, rel=4 * EPS64)
    assert grad[0, 1] == pytest.approx(s2 / 2, rel=4 * EPS64)


def test_cross_entropy_by_hand():
    z = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    t = np.array([0, 2])
    value, grad = run("cross_entropy", z, t)
    lse = math.log(math.exp(1) + math.exp(2) + math.exp(3))
    assert value == pytest.approx((math.log(3) + lse - 3) / 2, rel=4 * EPS64)
    np.testing.assert_allclose(grad[0], [(1 / 3 - 1) / 2, 1 / 6, 1 / 6], rtol=4 * EPS64)
    p = np.exp(np.array([1.0, 2.0, 3.0]) - lse)
    np.testing.assert_allclose(grad[1], [p[0] / 2, p[1] / 2, (p[2] - 1) / 2], rtol=8 * EPS64)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=4 * EPS64)


def test_hinge_by_hand():
    z = np.array([[0.5], [-2.0], [3.0], [1.5]])
    y = np.array([[1.0], [1.0], [-1.0], [1.0]])
    value, grad = run("hinge", z, y)
    # 1 - y z = 0.5, 3, 4, -0.5 -> 0.5 + 3 + 4 + 0 over 4
    assert value == 7.5 / 4
    assert grad.ravel().tolist() == [-0.25, -0.25, 0.25, 0.0]


def test_multi_margin_by_hand():
    # The torch.nn.MultiMarginLoss documentation example: 1/4 (0.3 + 0.4 + 0.6) = 0.325
    z = np.array([[0.1, 0.2, 0.4, 0.8]])
    value, grad = run("multi_margin", z, np.array([3]))
    assert value == pytest.approx(0.325, rel=4 * EPS64)
    assert grad.ravel().tolist() == [0.25, 0.25, 0.25, -0.75]
    # a wrong class beyond the margin contributes nothing
    z = np.array([[0.0, -1.5, 0.5], [2.0, 0.0, 0.0]])
    value, grad = run("multi_margin", z, np.array([0, 0]))
    # row 0: max(0, 1 - 0 - 1.5) = 0, max(0, 1 - 0 + 0.5) = 1.5; row 1: both 1 - 2 + 0 < 0
    assert value == pytest.approx(1.5 / 6, rel=4 * EPS64)
    assert grad.tolist() == [[-1 / 6, 0.0, 1 / 6], [0.0, 0.0, 0.0]]


def test_perceptron_by_hand():
    z = np.array([[0.5], [-2.0], [3.0], [-1.0]])
    y = np.array([[1.0], [1.0], [-1.0], [-1.0]])
    value, grad = run("perceptron", z, y)
    # -y z = -0.5, 2, 3, -1 -> 0 + 2 + 3 + 0 over 4
    assert value == 5.0 / 4
    assert grad.ravel().tolist() == [0.0, -0.25, 0.25, 0.0]


def test_subgradients_at_kinks():
    # hinge and perceptron: -y / M at the kink (scikit-learn's dloss); an all-zero start learns
    _, g = run("perceptron", np.zeros((2, 1)), np.array([[1.0], [-1.0]]))
    assert g.ravel().tolist() == [-0.5, 0.5]
    _, g = run("hinge", np.array([[1.0], [-1.0]]), np.array([[1.0], [-1.0]]))
    assert g.ravel().tolist() == [-0.5, 0.5]
    # multi_margin: PyTorch counts a term only when it is > 0
    value, g = run("multi_margin", np.array([[1.0, 0.0]]), np.array([0]))
    assert value == 0.0 and g.tolist() == [[0.0, 0.0]]


def test_labels_out_of_range_raise():
    z = np.zeros((2, 3))
    for name in ("cross_entropy", "multi_margin"):
        with pytest.raises(ValueError):
            run(name, z, np.array([0, 3]))
        with pytest.raises(ValueError):
            run(name, z, np.array([-1, 0]))
        with pytest.raises(ValueError):
            run(name, z, np.array([0]))


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_finite_differences(name):
    rng = np.random.default_rng(11)
    z, target = make_case(name, rng)
    value, analytic = run(name, z, target)
    fd = np.empty_like(z)
    bound = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        zp = z.copy()
        zm = z.copy()
        zp[idx] += H
        zm[idx] -= H
        step = zp[idx] - zm[idx]  # the step actually taken (z +- H is rounded)
        lp, _ = run(name, zp, target)
        lm, _ = run(name, zm, target)
        fd[idx] = (lp - lm) / step
        # each value: float64 sum of M non-negative terms, error <= ~M eps L
        bound[idx] = 2 * z.size * EPS64 * (lp + lm) / step
    # 1e-8 relative: the truncation term h^2 f''' / 6 is ~1e-12 here
    assert (np.abs(analytic - fd) <= bound + 1e-8 * np.abs(fd)).all(), np.abs(analytic - fd).max()
    assert np.abs(analytic).max() > 1e-3  # not a vacuous 0 == 0


@pytest.mark.parametrize("name", NAMES)
def test_float32_agrees_with_float64(name):
    rng = np.random.default_rng(12)
    z32, t = make_case(name, rng, shape=(16, 5), dtype=np.float32)
    t64 = t.astype(np.float64) if L.LOSS_TARGETS[name] == "values" else t
    v32, g32 = run(name, z32, t)
    v64, g64 = run(name, z32.astype(np.float64), t64)
    assert g32.dtype == np.float32
    # the float32 kernel accumulates in float64 too, but its per-term arithmetic and
    # gradients are float32: a few ulps of float32 per term, 8 eps32 relative
    assert v32 == pytest.approx(v64, rel=8 * EPS32)
    np.testing.assert_allclose(g32, g64, rtol=8 * EPS32, atol=8 * EPS32 * np.abs(g64).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dispatch_matches_tables(dtype):
    rng = np.random.default_rng(13)
    for name, code in L.LOSS_CODES.items():
        z, target = make_case(name, rng, dtype=dtype)
        expected_value, expected_grad = run(name, z, target)
        grad = np.empty_like(z)
        if L.LOSS_TARGETS[name] == "labels":
            value = L.loss_and_grad(code, z, EMPTY_VALUES.astype(dtype), target, grad)
        else:
            value = L.loss_and_grad(code, z, target, EMPTY_LABELS, grad)
        assert value == expected_value, name
        assert np.array_equal(grad, expected_grad), name
    with pytest.raises(ValueError):
        L.loss_and_grad(99, z, EMPTY_VALUES.astype(dtype), EMPTY_LABELS, np.empty_like(z))


# --------------------------------------------------------------------------- stability


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits(dtype):
    z = np.array([[1e4, -1e4], [-1e4, 1e4]], dtype)
    values = np.array([[1.0, 0.0], [1.0, 0.0]], dtype)
    signs = np.array([[-1.0, 1.0], [1.0, -1.0]], dtype)
    labels = np.array([1, 0])
    for name in NAMES:
        target = labels if L.LOSS_TARGETS[name] == "labels" else (signs if name in ("hinge", "perceptron") else values)
        value, grad = run(name, z, target)
        assert math.isfinite(value) and np.isfinite(grad).all(), name
    # BCE: z = 1e4, y = 1 costs 0; z = -1e4, y = 0 costs 0; the other two cost 1e4 each
    value, grad = run("bce_with_logits", z, values)
    assert value == pytest.approx(2e4 / 4, rel=8 * EPS32)
    assert grad.tolist() == [[0.0, 0.0], [-0.25, 0.25]]
    # CE: both rows put the wrong class 2e4 above the right one
    value, grad = run("cross_entropy", z, labels)
    assert value == pytest.approx(2e4, rel=8 * EPS32)
    assert grad.tolist() == [[0.5, -0.5], [-0.5, 0.5]]
    # confident and right: zero loss, zero gradient, no 0 * inf
    value, grad = run("cross_entropy", z, np.array([0, 1]))
    assert value == 0.0 and (grad == 0).all()


# --------------------------------------------------------------------------- against PyTorch


def torch_loss(torch, name, z, target):
    F = torch.nn.functional
    if name == "mse":
        return F.mse_loss(z, torch.tensor(target))
    if name == "bce_with_logits":
        return F.binary_cross_entropy_with_logits(z, torch.tensor(target))
    if name == "cross_entropy":
        return F.cross_entropy(z, torch.tensor(target))
    if name == "multi_margin":
        return F.multi_margin_loss(z, torch.tensor(target), p=1, margin=1.0)
    y = torch.tensor(target)
    if name == "hinge":
        return torch.clamp(1 - y * z, min=0).mean()
    return torch.clamp(-y * z, min=0).mean()  # perceptron


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_against_torch(name, scale):
    torch = require("torch")
    rng = np.random.default_rng(14)
    z, target = make_case(name, rng, shape=(6, 5))
    z = z * scale
    value, grad = run(name, z, target)
    t = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    ref = torch_loss(torch, name, t, target)
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-13)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-13, atol=1e-13 * np.abs(grad).max())
