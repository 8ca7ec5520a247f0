"""Activation kernels in dynet.train.activations: values, derivatives, dispatch, gains.

Derivatives are checked against central finite differences in float64 (the kernels
are dtype-generic), where the tolerances can be tight: with step ``h`` the truncation
error is ``h^2/6 |f'''|`` (~1e-12 relative for ``h = 1e-6`` and the O(1) third
derivatives here) and the rounding error of ``(L(z+h) - L(z-h)) / 2h`` is at most a few
ulps of the terms that change, divided by ``2h``; the test computes that bound.
Points are kept at least 0.1 away from the kinks (``z = 0`` for step/relu/leaky/elu,
``beta z = 20`` for softplus).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from peers import require

from dynet.train import activations as A

NAMES = list(A.ACTIVATION_CODES)
EPS64 = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps
H = 1e-6
# Non-default parameters, so the FD check exercises each parameter.
PARAMS = {"leaky_relu": 0.2, "elu": 1.3, "softplus": 1.7}


def forward(name, z, param=None):
    out = np.empty_like(z)
    A.ACTIVATIONS[name](z, out, A.DEFAULT_PARAMS[name] if param is None else param)
    return out


def backward(name, z, grad_out, param=None):
    param = A.DEFAULT_PARAMS[name] if param is None else param
    a = forward(name, z, param)
    grad_in = np.empty_like(z)
    A.DERIVATIVES[name](z, a, grad_out, grad_in, param)
    return grad_in


def away_from_zero(rng, shape, scale=3.0, gap=0.1):
    """Normal samples times ``scale``, with ``|z| >= gap`` (kinks of step/relu/leaky/elu at 0)."""
    z = rng.normal(0.0, scale, size=shape)
    return np.sign(z) * (gap + np.abs(z))


# --------------------------------------------------------------------------- tables


def test_tables_agree():
    assert (
        set(A.ACTIVATIONS)
        == set(A.DERIVATIVES)
        == set(A.ACTIVATION_CODES)
        == set(A.DEFAULT_PARAMS)
        == set(A.BACKWARD_READS)
    )
    assert sorted(A.ACTIVATION_CODES.values()) == list(range(len(A.ACTIVATION_CODES)))
    assert set(A.PARAM_NAMES) == {"leaky_relu", "elu", "softplus"}
    assert A.DEFAULT_PARAMS["leaky_relu"] == 0.01 and A.DEFAULT_PARAMS["elu"] == 1.0
    assert A.DEFAULT_PARAMS["softplus"] == 1.0 and A.SOFTPLUS_THRESHOLD == 20.0


# --------------------------------------------------------------------------- values


def test_known_values():
    z = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]])
    assert forward("identity", z).tolist() == z.tolist()
    assert forward("step", z).tolist() == [[0, 0, 0, 1, 1]]  # Heaviside, 0 at z == 0
    assert forward("step", np.array([[1e-30, -1e-30]])).tolist() == [[1.0, 0.0]]
    np.testing.assert_allclose(forward("sigmoid", z), 1 / (1 + np.exp(-z)), rtol=4 * EPS64)
    np.testing.assert_allclose(forward("tanh", z), np.tanh(z), rtol=4 * EPS64)
    assert forward("relu", z).tolist() == [[0, 0, 0, 0.5, 3.0]]
    assert forward("leaky_relu", z).tolist() == [[-0.02, -0.005, 0, 0.5, 3.0]]
    assert forward("leaky_relu", z, 0.5).tolist() == [[-1.0, -0.25, 0, 0.5, 3.0]]
    np.testing.assert_allclose(forward("elu", z), [[math.exp(-2) - 1, math.exp(-0.5) - 1, 0, 0.5, 3]], rtol=4 * EPS64)
    np.testing.assert_allclose(
        forward("elu", z, 2.0)[0, :2], [2 * (math.exp(-2) - 1), 2 * (math.exp(-0.5) - 1)], rtol=4 * EPS64
    )
    np.testing.assert_allclose(forward("softplus", z), np.log1p(np.exp(z)), rtol=4 * EPS64)
    np.testing.assert_allclose(forward("softplus", z, 2.0), np.log1p(np.exp(2 * z)) / 2, rtol=4 * EPS64)
    assert forward("sigmoid", np.zeros((1, 1)))[0, 0] == 0.5
    assert forward("softplus", np.zeros((1, 1)))[0, 0] == math.log(2.0)


def test_softmax_rows():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 3, size=(6, 5))
    a = forward("softmax", z)
    ref = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(a, ref, rtol=1e-14)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=4 * EPS64)
    # shift invariance per row (exact up to rounding)
    np.testing.assert_allclose(forward("softmax", z + np.arange(6)[:, None] * 100.0), a, rtol=1e-12)


def test_softplus_threshold():
    # beta z > 20: the identity (and derivative 1); just below, log1p(exp(beta z)) / beta.
    z = np.array([[25.0, 20.5, 19.5]])
    a = forward("softplus", z)
    assert a[0, 0] == 25.0 and a[0, 1] == 20.5
    assert a[0, 2] == math.log1p(math.exp(19.5))
    g = backward("softplus", z, np.ones_like(z))
    assert g[0, 0] == 1.0 and g[0, 1] == 1.0
    assert g[0, 2] == pytest.approx(1 / (1 + math.exp(-19.5)), rel=4 * EPS64)
    # with beta = 2 the switch is at z = 10
    a2 = forward("softplus", np.array([[10.5, 9.5]]), 2.0)
    assert a2[0, 0] == 10.5 and a2[0, 1] == pytest.approx(math.log1p(math.exp(19.0)) / 2, rel=4 * EPS64)


def test_derivatives_at_kinks_follow_pytorch():
    z = np.zeros((1, 1))
    one = np.ones((1, 1))
    assert backward("relu", z, one)[0, 0] == 0.0
    assert backward("step", z, one)[0, 0] == 0.0
    assert backward("leaky_relu", z, one)[0, 0] == 0.01
    assert backward("elu", z, one, 1.5)[0, 0] == 1.5
    assert backward("sigmoid", z, one)[0, 0] == 0.25
    assert backward("tanh", z, one)[0, 0] == 1.0
    assert backward("softplus", z, one)[0, 0] == 0.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_inputs_are_finite(dtype):
    z = np.array([[-1e4, -30.0, 30.0, 1e4]], dtype)
    for name in NAMES:
        a = forward(name, z)
        g = backward(name, z, np.ones_like(z))
        assert a.dtype == dtype and g.dtype == dtype
        assert np.isfinite(a).all() and np.isfinite(g).all(), name
    rel = 8 * float(np.finfo(dtype).eps)
    assert forward("sigmoid", z).tolist() == [
        [0.0, pytest.approx(1 / (1 + math.exp(30)), rel=rel), pytest.approx(1 / (1 + math.exp(-30)), rel=rel), 1.0]
    ]
    assert forward("tanh", z).tolist() == [[-1.0, pytest.approx(-1.0, rel=rel), pytest.approx(1.0, rel=rel), 1.0]]
    assert forward("softplus", z).tolist() == [[0.0, pytest.approx(math.log1p(math.exp(-30)), rel=rel), 30.0, 1e4]]
    assert forward("elu", z)[0, 0] == -1.0
    assert forward("softmax", z).tolist() == [[0.0, 0.0, 0.0, 1.0]]
    # The derivatives keep their relative precision where a has rounded to +-1
    # (a (1 - a) and 1 - a^2 would give exactly 0 there).
    g = backward("sigmoid", z, np.ones_like(z))
    assert g[0, 2] == pytest.approx(math.exp(-30) / (1 + math.exp(-30)) ** 2, rel=rel)
    assert g[0, 0] == 0.0 and g[0, 3] == 0.0
    g = backward("tanh", z, np.ones_like(z))
    assert g[0, 2] == pytest.approx(4 * math.exp(-60) / (1 + math.exp(-60)) ** 2, rel=rel)


# --------------------------------------------------------------------------- gradients


def fd_check(name, z, param):
    """Analytic ``dL/dz`` of ``L = sum w * f(z)`` against central differences, element by element."""
    rng = np.random.default_rng(7)
    w = rng.normal(size=z.shape)
    analytic = backward(name, z, w, param)
    fd = np.empty_like(z)
    bound = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        zp = z.copy()
        zm = z.copy()
        zp[idx] += H
        zm[idx] -= H
        step = zp[idx] - zm[idx]  # the step actually taken: z +- H is rounded (error ~eps |z| / H)
        tp = w * forward(name, zp, param)
        tm = w * forward(name, zm, param)
        # Only row idx[0] changes (every activation is row-wise), so the other rows are left
        # out: their terms would cancel exactly but add rounding of order eps |L| / step.
        row = idx[0]
        fd[idx] = math.fsum(np.concatenate([tp[row], -tm[row]])) / step
        # rounding: a few ulps of each term of the row (fsum itself is exact, then rounds once)
        bound[idx] = 4 * EPS64 * (np.abs(tp[row]).sum() + np.abs(tm[row]).sum()) / step
    err = np.abs(analytic - fd)
    # 1e-9 relative covers the h^2 truncation term (f''' = O(1) here, h^2 = 1e-12)
    assert (err <= bound + 1e-9 * np.abs(fd) + 1e-12).all(), (name, err.max(), bound.max())
    return analytic, fd


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("param_kind", ["default", "custom"])
def test_backward_matches_finite_differences(name, param_kind):
    param = A.DEFAULT_PARAMS[name] if param_kind == "default" else PARAMS.get(name, 0.0)
    rng = np.random.default_rng(3)
    z = away_from_zero(rng, (4, 5))
    analytic, fd = fd_check(name, z, param)
    if name != "step":
        assert np.abs(analytic).max() > 1e-3  # a real check, not 0 == 0
    else:
        assert (analytic == 0).all() and (fd == 0).all()


def test_softmax_backward_is_jacobian_product():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(3, 4))
    g = rng.normal(size=(3, 4))
    a = forward("softmax", z)
    got = backward("softmax", z, g)
    for i in range(3):
        jac = np.diag(a[i]) - np.outer(a[i], a[i])
        np.testing.assert_allclose(got[i], jac @ g[i], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got.sum(axis=1), 0.0, atol=1e-15)  # softmax is shift-invariant


# --------------------------------------------------------------------------- float32, aliasing, dispatch


@pytest.mark.parametrize("name", NAMES)
def test_float32_agrees_with_float64(name):
    rng = np.random.default_rng(5)
    z32 = away_from_zero(rng, (8, 6)).astype(np.float32)
    g32 = rng.normal(size=z32.shape).astype(np.float32)
    z64, g64 = z32.astype(np.float64), g32.astype(np.float64)
    a32, a64 = forward(name, z32), forward(name, z64)
    d32, d64 = backward(name, z32, g32), backward(name, z64, g64)
    assert a32.dtype == np.float32 and d32.dtype == np.float32
    # float32 rounds each result and (for softmax) a row sum: a few ulps, 8 eps32 relative
    np.testing.assert_allclose(a32, a64, rtol=8 * EPS32, atol=1e-37)
    atol = 1e-37
    if name == "softmax":
        # a_j (g_j - sum_k g_k a_k) cancels when g_j ~ the dot product: its rounding error is
        # relative to a_j (|g_j| + sum_k |g_k| a_k), not to the (small) result
        atol = 8 * EPS32 * a64 * (np.abs(g64) + (np.abs(g64) * a64).sum(axis=1, keepdims=True))
    assert (np.abs(d32 - d64) <= 8 * EPS32 * np.abs(d64) + atol).all()


@pytest.mark.parametrize("name", NAMES)
def test_in_place_forward_and_backward(name):
    rng = np.random.default_rng(6)
    z = away_from_zero(rng, (3, 4)).astype(np.float32)
    param = A.DEFAULT_PARAMS[name]
    a = forward(name, z)
    g = rng.normal(size=z.shape).astype(np.float32)
    expected = backward(name, z, g)
    buf = z.copy()
    A.ACTIVATIONS[name](buf, buf, param)
    assert np.array_equal(buf, a)
    gbuf = g.copy()
    A.DERIVATIVES[name](z, a, gbuf, gbuf, param)
    assert np.array_equal(gbuf, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dispatch_matches_tables(dtype):
    rng = np.random.default_rng(8)
    z = away_from_zero(rng, (3, 4)).astype(dtype)
    g = rng.normal(size=z.shape).astype(dtype)
    for name, code in A.ACTIVATION_CODES.items():
        param = PARAMS.get(name, 0.0)
        out = np.empty_like(z)
        A.activate(code, z, out, param)
        assert np.array_equal(out, forward(name, z, param)), name
        grad_in = np.empty_like(z)
        A.activate_backward(code, z, out, g, grad_in, param)
        assert np.array_equal(grad_in, backward(name, z, g, param)), name
    with pytest.raises(ValueError):
        A.activate(99, z, np.empty_like(z), 0.0)


# --------------------------------------------------------------------------- gains


def test_gains():
    assert A.gain("identity") == A.gain("linear") == A.gain("sigmoid") == 1.0
    assert A.gain("tanh") == 5.0 / 3.0
    assert A.gain("relu") == math.sqrt(2.0)
    assert A.gain("leaky_relu") == math.sqrt(2.0 / (1 + 0.01**2))
    assert A.gain("leaky_relu", 0.2) == math.sqrt(2.0 / 1.04)
    assert A.gain("leaky_relu", 0.0) == math.sqrt(2.0)
    assert A.GAINS["tanh"] == 5.0 / 3.0 and A.GAINS["linear"] == 1.0
    with pytest.raises(ValueError):
        A.gain("selu_typo")


def test_gains_match_torch():
    torch = require("torch")
    for name in ("linear", "sigmoid", "tanh", "relu", "leaky_relu"):
        assert A.gain(name) == pytest.approx(torch.nn.init.calculate_gain(name), rel=1e-15)
    assert A.gain("leaky_relu", 0.3) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.3), rel=1e-15)


# --------------------------------------------------------------------------- against PyTorch


@pytest.mark.parametrize("name", [n for n in NAMES if n != "step"])
def test_against_torch(name):
    torch = require("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(9)
    z = away_from_zero(rng, (5, 4))
    z[0, 0] = 30.0 / PARAMS.get("softplus", 1.0)  # above the softplus threshold
    g = rng.normal(size=z.shape)
    param = PARAMS.get(name, 0.0)
    fns = {
        "identity": lambda t: t,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": F.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, negative_slope=param),
        "elu": lambda t: F.elu(t, alpha=param),
        "softplus": lambda t: F.softplus(t, beta=param, threshold=20.0),
        "softmax": lambda t: F.softmax(t, dim=-1),
    }
    t = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    out = fns[name](t)
    out.backward(torch.tensor(g, dtype=torch.float64))
    np.testing.assert_allclose(forward(name, z, param), out.detach().numpy(), rtol=1e-13, atol=1e-300)
    # PyTorch forms sigmoid' as a (1 - a) and tanh' as 1 - a^2: their absolute error is a few
    # eps64 times |g| (1 - a is rounded), so where a ~ 1 they are the less accurate side.
    np.testing.assert_allclose(
        backward(name, z, g, param), t.grad.numpy(), rtol=1e-12, atol=4 * EPS64 * np.abs(g).max()
    )
