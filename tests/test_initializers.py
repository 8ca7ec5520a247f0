"""Initializers in dynet.train.initializers: distributions, conventions, validation.

Sample statistics are compared with theory within 5 standard errors of their
sampling distribution, computed here from the distribution's moments, on
``N = 200,000`` draws with a fixed seed:

* mean: ``SE = sigma / sqrt(N)``;
* variance: ``SE = sqrt((mu_4 - sigma^4) / N)``, with ``mu_4 = 3 sigma^4`` for a normal and
  ``9/5 sigma^4`` for a uniform (``mu_4 = L^4 / 5``, ``sigma^2 = L^2 / 3`` on ``[-L, L]``);
* normal tail ``P(|x - mu| > 2 sigma) = erfc(sqrt 2)``: binomial ``SE = sqrt(p (1 - p) / N)``;
* uniform range: every draw in ``[lo, hi]``, and the extremes within
  ``delta = 20 (hi - lo) / N`` of the ends (each fails with probability ``(1 - 20/N)^N < e^-20``).

Rounding the float64 draws to float32 shifts these statistics by ~1e-7 relative,
far below every tolerance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from peers import require

from dynet.train import initializers as I

SHAPE = (400, 500)  # fan_in = 400, fan_out = 500
N = SHAPE[0] * SHAPE[1]
FAN_IN, FAN_OUT = SHAPE
Z = 5.0


def check_uniform(x, lo, hi):
    x = x.astype(np.float64).ravel()
    mean, var = (lo + hi) / 2, (hi - lo) ** 2 / 12
    assert abs(x.mean() - mean) <= Z * math.sqrt(var / N)
    assert abs(x.var() - var) <= Z * math.sqrt((9 / 5 - 1) * var**2 / N)
    assert x.min() >= np.float32(lo) and x.max() <= np.float32(hi)
    delta = 20 * (hi - lo) / N
    assert x.min() <= lo + delta and x.max() >= hi - delta


def check_normal(x, mean, std):
    x = x.astype(np.float64).ravel()
    var = std**2
    assert abs(x.mean() - mean) <= Z * std / math.sqrt(N)
    assert abs(x.var() - var) <= Z * math.sqrt(2 * var**2 / N)
    p = math.erfc(math.sqrt(2.0))  # P(|x - mean| > 2 std) = 0.0455
    tail = np.mean(np.abs(x - mean) > 2 * std)
    assert abs(tail - p) <= Z * math.sqrt(p * (1 - p) / N)


def draw(name, seed=0, shape=SHAPE, **params):
    x = I.initialize(name, np.random.default_rng(seed), shape, **params)
    assert x.dtype == np.float32 and x.shape == tuple(shape)
    return x


# --------------------------------------------------------------------------- distributions


def test_zeros_and_constant():
    assert (draw("zeros", shape=(3, 4)) == 0).all()
    assert (draw("constant", shape=(5,), value=0.1) == np.float32(0.1)).all()
    assert (draw("constant", shape=(2, 2)) == 0).all()


def test_uniform_and_normal():
    check_uniform(draw("uniform", a=-2.0, b=3.0), -2.0, 3.0)
    check_uniform(draw("uniform"), 0.0, 1.0)  # PyTorch's default U(0, 1)
    check_normal(draw("normal", mean=1.5, std=0.3), 1.5, 0.3)
    check_normal(draw("normal"), 0.0, 1.0)


@pytest.mark.parametrize("gain", [1.0, 5.0 / 3.0])
def test_glorot(gain):
    limit = gain * math.sqrt(6.0 / (FAN_IN + FAN_OUT))
    check_uniform(draw("glorot_uniform", gain=gain), -limit, limit)
    check_normal(draw("glorot_normal", gain=gain), 0.0, gain * math.sqrt(2.0 / (FAN_IN + FAN_OUT)))


@pytest.mark.parametrize(
    "params, gain, fan",
    [
        ({}, math.sqrt(2.0), FAN_IN),  # PyTorch defaults: leaky_relu with a = 0, fan_in
        ({"nonlinearity": "relu", "mode": "fan_out"}, math.sqrt(2.0), FAN_OUT),
        ({"a": 0.2}, math.sqrt(2.0 / 1.04), FAN_IN),
        ({"nonlinearity": "tanh", "a": 0.2}, 5.0 / 3.0, FAN_IN),  # a only matters for leaky_relu
        ({"nonlinearity": "linear"}, 1.0, FAN_IN),
    ],
)
def test_he(params, gain, fan):
    std = gain / math.sqrt(fan)
    check_uniform(draw("he_uniform", **params), -math.sqrt(3.0) * std, math.sqrt(3.0) * std)
    check_normal(draw("he_normal", **params), 0.0, std)


def test_lecun():
    limit = math.sqrt(3.0 / FAN_IN)
    check_uniform(draw("lecun_uniform"), -limit, limit)
    check_normal(draw("lecun_normal"), 0.0, 1.0 / math.sqrt(FAN_IN))


def test_he_std_formula():
    assert I.he_std((8, 2)) == math.sqrt(2.0) / math.sqrt(8)
    assert I.he_std((8, 2), mode="fan_out") == math.sqrt(2.0) / math.sqrt(2)
    assert I.he_std((9, 2), nonlinearity="tanh") == (5.0 / 3.0) / 3.0


def test_aliases_draw_the_same():
    for alias, name in (
        ("xavier_uniform", "glorot_uniform"),
        ("xavier_normal", "glorot_normal"),
        ("kaiming_uniform", "he_uniform"),
        ("kaiming_normal", "he_normal"),
    ):
        assert np.array_equal(draw(alias, seed=3, shape=(7, 5)), draw(name, seed=3, shape=(7, 5)))


def test_same_seed_same_weights():
    for name in I.INITIALIZERS:
        a = draw(name, seed=42, shape=(6, 3))
        b = draw(name, seed=42, shape=(6, 3))
        assert np.array_equal(a, b), name
    assert not np.array_equal(draw("he_normal", seed=1, shape=(6, 3)), draw("he_normal", seed=2, shape=(6, 3)))


def test_fan_based_need_2d_shapes():
    rng = np.random.default_rng(0)
    for name in ("glorot_uniform", "he_normal", "lecun_uniform"):
        with pytest.raises(ValueError, match="2-D"):
            I.INITIALIZERS[name](rng, (10,))
        with pytest.raises(ValueError, match="positive"):
            I.INITIALIZERS[name](rng, (0, 3))
    assert draw("normal", shape=(4,)).shape == (4,)  # non-fan initializers take any shape


def test_fan_convention_matches_torch():
    torch = require("torch")
    # our W is (fan_in, fan_out); torch's nn.Linear weight is its transpose (out, in)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(FAN_OUT, FAN_IN))
    assert (fan_in, fan_out) == (FAN_IN, FAN_OUT)
    for nl in ("linear", "sigmoid", "tanh", "relu", "leaky_relu"):
        a = 0.2 if nl == "leaky_relu" else 0.0
        expected = torch.nn.init.calculate_gain(nl, a) / math.sqrt(FAN_IN)
        assert I.he_std(SHAPE, a=a, nonlinearity=nl) == pytest.approx(expected, rel=1e-15)


# --------------------------------------------------------------------------- validation


def test_validate_accepts_good_input():
    for name in I.INITIALIZERS:
        assert I.validate(name, {}) == []
    assert I.validate("uniform", {"a": -1, "b": 1}) == []
    assert I.validate("normal", {"mean": 0.0, "std": np.float32(0.1)}) == []
    assert I.validate("he_normal", {"a": 0.1, "mode": "fan_out", "nonlinearity": "leaky_relu"}) == []
    assert I.validate("constant", {"value": -3}) == []


@pytest.mark.parametrize(
    "name, params, expected",
    [
        ("glorot_unifrom", {}, "weights: unknown initializer 'glorot_unifrom' (did you mean 'glorot_uniform'?)"),
        ("normal", {"sdt": 1.0}, "sdt: unknown key (did you mean 'std'?)"),
        ("uniform", {"low": 0.0}, "low: unknown key (allowed: a, b)"),
        ("lecun_normal", {"gain": 2.0}, "gain: unknown key (lecun_normal takes no parameters)"),
        ("normal", {"std": 0.0}, "std: input should be greater than 0 (got 0.0)"),
        ("normal", {"std": -1}, "std: input should be greater than 0 (got -1)"),
        ("uniform", {"a": 1.0, "b": 1.0}, "a: must be < b (got a=1.0, b=1.0)"),
        ("uniform", {"a": 2.0}, "a: must be < b (got a=2.0, b=1.0)"),
        ("glorot_normal", {"gain": 0}, "gain: input should be greater than 0 (got 0)"),
        (
            "he_uniform",
            {"mode": "fan_inn"},
            "mode: input should be 'fan_in' or 'fan_out' (got 'fan_inn') (did you mean 'fan_in'?)",
        ),
        (
            "he_normal",
            {"nonlinearity": "tanhh"},
            "nonlinearity: input should be 'linear', 'identity', 'step', 'sigmoid', 'tanh', 'relu', 'leaky_relu', "
            "'elu', 'softplus' or 'softmax' (got 'tanhh') (did you mean 'tanh'?)",
        ),
        ("normal", {"mean": "0"}, "mean: input should be a valid number (got '0')"),
        ("normal", {"std": float("nan")}, "std: input should be a finite number (got nan)"),
        ("constant", {"value": True}, "value: input should be a valid number (got True)"),
    ],
)
def test_validate_reports_one_line_problems(name, params, expected):
    problems = I.validate(name, params)
    assert problems == [expected]
    assert all("\n" not in p for p in problems)


def test_validate_reports_every_problem():
    problems = I.validate("uniform", {"a": 3.0, "b": 1.0, "c": 0})
    assert len(problems) == 2
    assert problems[0].startswith("c: unknown key")
    assert problems[1] == "a: must be < b (got a=3.0, b=1.0)"


def test_initialize_raises_on_problems():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="std: input should be greater than 0"):
        I.initialize("normal", rng, (3, 3), std=-1.0)
    with pytest.raises(ValueError, match="did you mean 'he_normal'"):
        I.initialize("he_nromal", rng, (3, 3))
