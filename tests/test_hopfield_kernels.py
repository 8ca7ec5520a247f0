"""Correctness of the Hopfield kernels, the driver and the learning rules.

The compiled kernels (dynet.models.hopfield.kernels) are compared against the plain-Python
reference in tests/hopfield_reference.py, which shares no code with them. With
integer (Hebbian) weights every field is an exact integer, so states, flips,
energies and random streams must agree bit for bit. With float Gaussian weights the
kernel's fastmath ``dense_fields`` may sum in another order than numpy's matmul, so
fields and energies agree to round-off (bounded below by ``1e-12`` of the sum of the
absolute terms) while states and flips must still be identical (a tie, or a uniform
draw within one ulp of a Glauber probability, has probability ~0).
"""

from __future__ import annotations

import math
from fractions import Fraction

import hopfield_reference as ref
import numpy as np
import pytest

from dynet.kernels.rng import seed_state
from dynet.models.hopfield import driver as M
from dynet.models.hopfield import kernels as K
from dynet.models.hopfield.config import FlipInit, HopfieldDynamics, HopfieldScenario, MaskInit, RandomInit

ASYNC_ORDERS = ("async-permutation", "async-sequential", "async-random")
ROUNDOFF = 1e-12


# --------------------------------------------------------------------------- helpers


def make_config(
    update,
    temperature=0.0,
    *,
    every=1,
    max_sweeps=12,
    threshold=0.0,
    anneal=None,
    stop=True,
    state=True,
    overlaps=True,
    init=None,
    rule=None,
):
    return {
        "dynamics": {
            "max_sweeps": max_sweeps,
            "temperature": temperature,
            "anneal": anneal,
            "update": update,
            "stop_at_fixed_point": stop,
        },
        "record": {"every": every, "state": state, "overlaps": overlaps},
        "network": {"threshold": threshold, "rule": rule},
        "init": init or {"pattern": 0},
    }


def typed(config, patterns):
    """The driver's typed scenario of a test's ``make_config`` for these patterns. ``rule`` None
    (weights made by hand, not ``X^T X``) is given to the driver as a rule other than Hebbian, so
    that it computes fields from ``W`` itself."""
    n_pat, n = patterns.shape
    network = {**config["network"], "n_units": n, "rule": config["network"]["rule"] or "pseudoinverse"}
    return HopfieldScenario.model_validate(
        {
            "name": "test",
            "model": "hopfield",
            "seed": 0,
            "network": network,
            "patterns": {"source": "random", "count": n_pat},
            "init": {"kind": "flip", **config["init"]},
            "dynamics": config["dynamics"],
            "record": config["record"],
        }
    )


def hebbian_case(n, p, seed):
    rng = np.random.default_rng(seed)
    patterns = M.random_patterns(p, n, rng)
    weights, scale = M.hebbian(patterns)
    s0 = M.random_patterns(1, n, rng)[0]
    return patterns, weights, scale, s0


def gaussian_case(n, seed, n_patterns=3):
    """Symmetric zero-diagonal N(0, 1/N) float weights (an SK spin glass), scale 1."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n))
    weights = (a + a.T) / math.sqrt(2 * n)
    np.fill_diagonal(weights, 0.0)
    patterns = M.random_patterns(n_patterns, n, rng)
    s0 = M.random_patterns(1, n, rng)[0]
    return patterns, weights, 1.0, s0


CASES = {"hebbian": lambda: hebbian_case(64, 4, 11), "gaussian": lambda: gaussian_case(48, 12)}


def energy_tol(weights, scale, theta):
    """Round-off allowance for an energy: ROUNDOFF times the sum of absolute terms."""
    return ROUNDOFF * (0.5 * abs(scale) * float(np.abs(weights).sum()) + float(np.abs(theta).sum()))


def field_tol(weights):
    """Per-unit round-off allowance for a field: ROUNDOFF times sum_j |W_ij|."""
    return ROUNDOFF * np.abs(weights).sum(axis=1)


def is_integer(weights):
    return weights.dtype.kind in "iu"


def run_simulate(config, patterns, weights, scale, s0, rng_state, block_sweeps=None):
    rows = {}

    def sink(**cols):
        for k, v in cols.items():
            rows.setdefault(k, []).append(np.array(v, copy=True))

    metrics, final = M.simulate(
        typed(config, patterns), patterns, weights, scale, s0, rng_state, sink=sink, block_sweeps=block_sweeps
    )
    return metrics, final, {k: np.concatenate(v) for k, v in rows.items()}


def assert_same_run(cols, metrics, final, expected, weights, scale, theta):
    for key in ("sweep", "flips", "temperature", "state", "overlap"):
        assert cols[key].shape == expected[key].shape, key
        assert np.array_equal(cols[key], expected[key]), key
    if is_integer(weights):
        assert np.array_equal(cols["energy"], expected["energy"])
    else:
        assert np.all(np.abs(cols["energy"] - expected["energy"]) <= energy_tol(weights, scale, theta))
    assert metrics["stop_reason"] == expected["stop_reason"]
    assert metrics["sweeps"] == expected["sweeps"]
    assert np.array_equal(final, expected["final_state"])


# --------------------------------------------------------------------------- reference self-checks


def test_reference_energy_matches_definition():
    patterns, w, scale, s = hebbian_case(30, 3, 0)
    theta = np.linspace(-0.2, 0.3, 30)
    e = ref.energy_of_state(w, scale, theta, s)
    x = s.astype(np.float64)
    assert e == pytest.approx(-0.5 * scale * x @ (w.astype(np.float64) @ x) + theta @ x, rel=1e-14)


def test_reference_sweep_orders_visit_units_as_documented():
    # sequential visits 0..N-1 in order; a permutation visits every unit once
    g = ref.Xoshiro256ss([1, 2, 3, 4])
    perm = ref.permutation(50, g)
    assert sorted(perm) == list(range(50)) and perm != list(range(50))


# --------------------------------------------------------------------------- kernels vs reference: whole runs

RECORDINGS = {
    "every1": dict(every=1, block_sweeps=None, threshold=0.0),
    "every3-blocks": dict(every=3, block_sweeps=4, threshold=0.07),
}


@pytest.mark.parametrize("recording", sorted(RECORDINGS))
@pytest.mark.parametrize("temperature", [0.0, 0.6])
@pytest.mark.parametrize("order", ref.ORDERS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_simulate_matches_reference(case, order, temperature, recording):
    patterns, weights, scale, s0 = CASES[case]()
    opts = RECORDINGS[recording]
    config = make_config(
        order,
        temperature,
        every=opts["every"],
        max_sweeps=14,
        threshold=opts["threshold"],
        rule="hebbian" if is_integer(weights) else None,
    )  # hebbian: fields in pattern space
    rng_state = seed_state(np.random.SeedSequence(31))
    expected = ref.run(config, patterns, weights, scale, s0, rng_state.copy(), block_sweeps=opts["block_sweeps"])
    metrics, final, cols = run_simulate(config, patterns, weights, scale, s0, rng_state, opts["block_sweeps"])
    theta = np.full(len(s0), opts["threshold"])
    assert_same_run(cols, metrics, final, expected, weights, scale, theta)
    # the kernel consumed exactly the reference's random numbers
    assert np.array_equal(rng_state, expected["rng_state"])
    assert cols["flips"].sum() > 0  # the run did something
    if temperature > 0:
        assert metrics["stop_reason"] == "max_sweeps" and cols["sweep"][-1] == 14


@pytest.mark.parametrize("order", ref.ORDERS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_simulate_matches_reference_annealed(case, order):
    patterns, weights, scale, s0 = CASES[case]()
    anneal = {"schedule": "linear", "t_start": 1.5, "t_end": 0.0, "sweeps": 8}
    config = make_config(
        order,
        0.0,
        every=2,
        max_sweeps=40,
        threshold=0.03,
        anneal=anneal,
        rule="hebbian" if is_integer(weights) else None,
    )
    rng_state = seed_state(np.random.SeedSequence(77))
    expected = ref.run(config, patterns, weights, scale, s0, rng_state.copy(), block_sweeps=6)
    metrics, final, cols = run_simulate(config, patterns, weights, scale, s0, rng_state, block_sweeps=6)
    assert_same_run(cols, metrics, final, expected, weights, scale, np.full(len(s0), 0.03))
    assert np.array_equal(rng_state, expected["rng_state"])
    assert cols["temperature"][0] == 1.5


def test_simulate_without_state_or_overlap_columns():
    patterns, weights, scale, s0 = CASES["hebbian"]()
    config = make_config("async-permutation", 0.4, every=5, max_sweeps=13, state=False, overlaps=False)
    rng_state = seed_state(np.random.SeedSequence(4))
    expected = ref.run(config, patterns, weights, scale, s0, rng_state.copy())
    metrics, final, cols = run_simulate(config, patterns, weights, scale, s0, rng_state)
    assert set(cols) == {"sweep", "energy", "flips", "temperature"}
    assert cols["sweep"].tolist() == [0, 5, 10, 13]
    for key in cols:
        assert np.array_equal(cols[key], expected[key]), key
    assert np.array_equal(final, expected["final_state"])
    assert cols["flips"].sum() == sum(expected["flips"])


# --------------------------------------------------------------------------- kernels vs reference: single sweeps


def _theta(n, seed):
    return np.random.default_rng(seed).uniform(-0.15, 0.15, n)


@pytest.mark.parametrize("temperature", [0.0, 0.8])
@pytest.mark.parametrize("order", ASYNC_ORDERS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_async_sweep_kernel_matches_reference(case, order, temperature):
    patterns, weights, scale, s0 = CASES[case]()
    n = len(s0)
    theta = _theta(n, 1)
    s_k, s_r = s0.copy(), s0.copy()
    h_k = np.empty(n)
    K.dense_fields(weights, s_k, h_k)
    h_r = ref.fields(weights, s_r)
    rng_k = seed_state(np.random.SeedSequence(9))
    rng_r = ref.Xoshiro256ss(rng_k)
    perm = np.empty(n, np.int64)
    total = 0
    for _ in range(6):
        f_k = K.async_sweep(weights, scale, theta, s_k, h_k, temperature, K.UPDATE_CODES[order], perm, rng_k)
        f_r = ref.async_sweep(weights, scale, theta, s_r, h_r, temperature, order, rng_r)
        assert f_k == f_r
        assert np.array_equal(s_k, s_r)
        assert rng_k.tolist() == rng_r.s
        if is_integer(weights):
            assert np.array_equal(h_k, h_r)
        else:
            assert np.all(np.abs(h_k - h_r) <= field_tol(weights))
        # the incrementally kept fields stay W @ s
        assert np.all(np.abs(h_k - ref.fields(weights, s_k)) <= field_tol(weights))
        total += f_k
    assert total > 0


@pytest.mark.parametrize("temperature", [0.0, 0.8])
@pytest.mark.parametrize("case", sorted(CASES))
def test_sync_step_kernel_matches_reference(case, temperature):
    patterns, weights, scale, s0 = CASES[case]()
    n = len(s0)
    theta = _theta(n, 2)
    s_k, s_r = s0.copy(), s0.copy()
    s_new = np.empty(n, np.int8)
    h_k = np.empty(n)
    K.dense_fields(weights, s_k, h_k)
    h_r = ref.fields(weights, s_r)
    rng_k = seed_state(np.random.SeedSequence(10))
    rng_r = ref.Xoshiro256ss(rng_k)
    for _ in range(6):
        f_k = K.sync_step(weights, patterns, False, scale, theta, s_k, s_new, h_k, temperature, rng_k)
        s_r, h_r, f_r = ref.sync_step(weights, scale, theta, s_r, h_r, temperature, rng_r)
        assert f_k == f_r == int(np.sum(s_new != s_k))
        assert np.array_equal(s_new, s_r)
        assert rng_k.tolist() == rng_r.s
        if is_integer(weights):
            assert np.array_equal(h_k, h_r)
        else:
            assert np.all(np.abs(h_k - h_r) <= field_tol(weights))
        s_k[:] = s_new


@pytest.mark.parametrize("n_pat,n", [(1, 2), (3, 40), (7, 31), (60, 200)])
def test_hebbian_fields_in_pattern_space_are_exact(n_pat, n):
    rng = np.random.default_rng(n_pat + n)
    patterns = M.random_patterns(n_pat, n, rng, bias=0.3)
    w, _ = M.hebbian(patterns)
    for _ in range(5):
        s = M.random_patterns(1, n, rng)[0]
        dense = np.empty(n, np.int64)
        K.dense_fields(w, s, dense)
        for dtype in (np.int32, np.int64, np.float64):
            low = np.empty(n, dtype)
            K.hebbian_fields(patterns, s, low)
            assert np.array_equal(low, dense)
        np.testing.assert_array_equal(dense, ref.fields(w, s))


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_sync_step_in_pattern_space_matches_reference(temperature):
    patterns, weights, scale, s0 = CASES["hebbian"]()
    n = len(s0)
    theta = _theta(n, 2)
    s_k, s_r = s0.copy(), s0.copy()
    s_new = np.empty(n, np.int8)
    h_k = np.empty(n, np.int32)
    K.fields(weights, patterns, True, s_k, h_k)
    h_r = ref.fields(weights, s_r)
    rng_k = seed_state(np.random.SeedSequence(10))
    rng_r = ref.Xoshiro256ss(rng_k)
    for _ in range(6):
        f_k = K.sync_step(weights, patterns, True, scale, theta, s_k, s_new, h_k, temperature, rng_k)
        s_r, h_r, f_r = ref.sync_step(weights, scale, theta, s_r, h_r, temperature, rng_r)
        assert f_k == f_r and np.array_equal(s_new, s_r) and np.array_equal(h_k, h_r)
        s_k[:] = s_new


def test_run_block_carries_pending_flips_across_calls():
    # blocks of 2 sweeps with every=3: records at sweeps 3 and 6 need the carried count
    patterns, weights, scale, s0 = CASES["hebbian"]()
    n_pat, n = patterns.shape
    theta = np.zeros(n)
    temps = np.full(6, 0.7)
    config = make_config("async-permutation", 0.7, every=3, max_sweeps=6)
    rng_state = seed_state(np.random.SeedSequence(3))
    expected = ref.run(config, patterns, weights, scale, s0, rng_state.copy())

    s = s0.copy()
    s_prev = s.copy()
    h = np.empty(n)
    K.dense_fields(weights, s, h)
    rows = {"sweep": [], "state": [], "energy": [], "overlap": [], "flips": [], "temperature": []}
    pending = 0
    for first in (0, 2, 4):
        buf = dict(
            sweep=np.empty(2, np.int64),
            state=np.empty((2, n), np.int8),
            energy=np.empty(2),
            overlap=np.empty((2, n_pat)),
            flips=np.empty(2, np.int64),
            temperature=np.empty(2),
        )
        done, n_rec, stop, pending = K.run_block(
            weights,
            False,
            scale,
            theta,
            patterns,
            s,
            s_prev,
            h,
            temps,
            K.ASYNC_PERMUTATION,
            rng_state,
            first,
            2,
            3,
            True,
            pending,
            buf["sweep"],
            buf["state"],
            buf["energy"],
            buf["overlap"],
            buf["flips"],
            buf["temperature"],
        )
        assert done == 2 and stop == K.RUNNING
        assert n_rec == (0 if first == 0 else 1)
        for k in rows:
            rows[k].extend(buf[k][:n_rec])
    assert pending == 0
    assert rows["sweep"] == [3, 6]
    for k in rows:
        assert np.array_equal(np.array(rows[k]), expected[k][1:]), k
    assert expected["flips"][1:].min() > 0
    assert np.array_equal(rng_state, expected["rng_state"])


# --------------------------------------------------------------------------- small kernels


def test_dense_fields_exact_for_integer_weights():
    rng = np.random.default_rng(5)
    s = M.random_patterns(1, 200, rng)[0]
    # int16 Hebbian from 300 biased patterns (P(+1) = 0.9): |W_ij| <= 300 fits int16, but
    # the fields of the all-ones state are ~ 199 * 0.64 * 300 ~ 38,000 > 32767
    patterns = M.random_patterns(300, 200, rng, bias=0.8)
    w16, _ = M.hebbian(patterns)
    assert w16.dtype == np.int16
    ones = np.ones(200, np.int8)
    h = np.empty(200)
    K.dense_fields(w16, ones, h)
    assert np.array_equal(h, w16.astype(np.int64).sum(axis=1).astype(np.float64))
    assert h.max() > np.iinfo(np.int16).max  # the overflow-prone case was exercised
    big = rng.integers(-(2**20), 2**20, (150, 150)).astype(np.int32)
    for w in (w16, w16.astype(np.int32), big):
        for x in (s, ones, patterns[0]):
            x = x[: w.shape[0]]
            h = np.empty(w.shape[0])
            K.dense_fields(w, x, h)
            exact = w.astype(np.int64) @ x.astype(np.int64)
            assert np.array_equal(h, exact.astype(np.float64))


def test_dense_fields_float_weights():
    for seed, n in ((0, 37), (1, 128), (2, 200)):
        _, w, _, s = gaussian_case(n, seed)
        h = np.empty(n)
        K.dense_fields(w, s, h)
        exact = np.array([math.fsum(w[i] * s) for i in range(n)])  # correctly rounded sums
        assert np.all(np.abs(h - exact) <= field_tol(w))
        assert np.all(np.abs(h - w @ s.astype(np.float64)) <= field_tol(w))


def test_energy_overlaps_is_stable_kernels_match_reference():
    for patterns, w, scale, s in (hebbian_case(200, 7, 3), gaussian_case(60, 4)):
        n = len(s)
        theta = _theta(n, 6)
        h = ref.fields(w, s)
        assert K.energy(scale, theta, s, h) == ref.energy(scale, theta, s, h)  # same sequential sums
        out = np.empty(patterns.shape[0])
        K.overlaps(patterns, s, out)
        assert np.array_equal(out, ref.overlaps(patterns, s))
        out = np.empty(patterns.shape[0])
        K.overlaps(patterns, patterns[0], out)
        assert out[0] == 1.0  # N = 200 > 127: the sum must not wrap in int8
        assert K.is_stable(scale, theta, s, h) == ref.is_stable(scale, theta, s, h)
    # is_stable at a known fixed point and one unit away from it
    patterns, w, scale, _ = hebbian_case(100, 2, 8)
    theta = np.zeros(100)
    assert K.is_stable(scale, theta, patterns[0], ref.fields(w, patterns[0]))
    s = patterns[0].copy()
    s[17] *= -1
    assert not K.is_stable(scale, theta, s, ref.fields(w, s))
    # a zero field counts as stable for either sign
    assert K.is_stable(1.0, np.zeros(2), np.array([1, -1], np.int8), np.zeros(2))


# --------------------------------------------------------------------------- energy descent


def _exact_energy_int(w, scale, theta, s):
    x = s.astype(np.int64)
    return -Fraction(scale) / 2 * int(x @ (w.astype(np.int64) @ x)) + sum(
        Fraction(float(t)) * int(v) for t, v in zip(theta, s)
    )


def _exact_field_int(w, scale, theta, s, i):
    return Fraction(scale) * int(w[i].astype(np.int64) @ s.astype(np.int64)) - Fraction(float(theta[i]))


def _energy_float(w, scale, theta, s):
    x = s.astype(np.float64)
    return -0.5 * scale * math.fsum((w * np.outer(x, x)).ravel()) + math.fsum(theta * x)


def _replay_sweep(w, scale, theta, s_before, s_after, visit_order, energy_tol_):
    """Replay one kernel sweep that visits each unit once; check every visit and flip.

    Units whose value changed are exactly the flipped ones, flipped in visit order.
    At each visit the unit must take ``sign(u)`` (unchanged at ``u == 0``) and each flip
    must lower the energy by exactly ``2|u|`` (exactly, in rationals, for integer weights).
    Returns the number of flips.
    """
    changed = s_before != s_after
    s = s_before.copy()
    integer = is_integer(w)
    e = _exact_energy_int(w, scale, theta, s) if integer else _energy_float(w, scale, theta, s)
    flips = 0
    for i in visit_order:
        if integer:
            u = _exact_field_int(w, scale, theta, s, i)
        else:
            u = scale * float(w[i] @ s.astype(np.float64)) - theta[i]
            assert abs(u) > 1e-9  # far from a tie, so the float sign below is reliable
        if changed[i]:
            assert u != 0 and s[i] * u < 0, "flipped against its field"
            s[i] = -s[i]
            flips += 1
            e_new = _exact_energy_int(w, scale, theta, s) if integer else _energy_float(w, scale, theta, s)
            if integer:
                assert e_new - e == -2 * abs(u) and e_new < e
            else:
                assert e_new < e
                assert abs((e_new - e) + 2 * abs(u)) <= energy_tol_
            e = e_new
        else:
            assert s[i] * u >= 0, "left unstable"
    assert np.array_equal(s, s_after)
    return flips


@pytest.mark.parametrize("order", ["async-sequential", "async-permutation"])
@pytest.mark.parametrize("case", ["hebbian", "gaussian"])
def test_energy_decreases_at_every_flip_kernel(case, order):
    if case == "hebbian":
        patterns, w, scale, s0 = hebbian_case(50, 5, 21)
    else:
        patterns, w, scale, s0 = gaussian_case(40, 22)
    assert np.array_equal(w, w.T) and not np.diag(w).any()
    n = len(s0)
    theta = _theta(n, 23)
    s = s0.copy()
    h = np.empty(n)
    K.dense_fields(w, s, h)
    rng_state = seed_state(np.random.SeedSequence(24))
    perm = np.empty(n, np.int64)
    tol = energy_tol(w, scale, theta)
    total = 0
    for _ in range(30):
        before = s.copy()
        g = ref.Xoshiro256ss(rng_state)
        visit = ref.permutation(n, g) if order == "async-permutation" else range(n)
        flips = K.async_sweep(w, scale, theta, s, h, 0.0, K.UPDATE_CODES[order], perm, rng_state)
        assert rng_state.tolist() == g.s  # at T = 0 only the permutation draws
        assert flips == int(np.sum(before != s))
        assert _replay_sweep(w, scale, theta, before, s, visit, tol) == flips
        total += flips
        if flips == 0:
            break
    assert flips == 0 and total > 0  # reached a fixed point after some flips


@pytest.mark.parametrize("case", ["hebbian", "gaussian"])
def test_energy_decreases_at_every_flip_async_random(case):
    # async-random can visit a unit twice, so replay through the reference (checked equal
    # to the kernel sweep by sweep here) and check the energy at every flip
    patterns, w, scale, s0 = hebbian_case(50, 5, 31) if case == "hebbian" else gaussian_case(60, 32)
    n = len(s0)
    theta = _theta(n, 33)
    tol = energy_tol(w, scale, theta)
    s_k, s_r = s0.copy(), s0.copy()
    h_k = np.empty(n)
    K.dense_fields(w, s_k, h_k)
    h_r = ref.fields(w, s_r)
    rng_k = seed_state(np.random.SeedSequence(34))
    g = ref.Xoshiro256ss(rng_k)
    perm = np.empty(n, np.int64)
    seen = []
    n_flips = [0]

    def on_flip(i, u, old, s, h):
        assert old * u < 0
        e_new = ref.energy_of_state(w, scale, theta, s)
        assert e_new - seen[-1] <= -2 * abs(u) + tol and e_new < seen[-1]
        seen.append(e_new)
        n_flips[0] += 1

    for _ in range(30):
        seen.append(ref.energy_of_state(w, scale, theta, s_r))
        f_r = ref.async_sweep(w, scale, theta, s_r, h_r, 0.0, "async-random", g, on_flip)
        f_k = K.async_sweep(w, scale, theta, s_k, h_k, 0.0, K.ASYNC_RANDOM, perm, rng_k)
        assert f_k == f_r and np.array_equal(s_k, s_r) and rng_k.tolist() == g.s
    assert n_flips[0] >= 10
    assert ref.is_stable(scale, theta, s_k, ref.fields(w, s_k))


@pytest.mark.parametrize("order", ASYNC_ORDERS)
@pytest.mark.parametrize("case", ["hebbian", "gaussian"])
def test_recorded_energy_never_increases(case, order):
    if case == "hebbian":
        patterns, w, scale, s0 = hebbian_case(120, 10, 41)
    else:
        patterns, w, scale, s0 = gaussian_case(80, 42)
    config = make_config(order, 0.0, max_sweeps=60, threshold=-0.04)
    metrics, _, cols = run_simulate(
        config, patterns, w, scale, s0, seed_state(np.random.SeedSequence(43)), block_sweeps=3
    )
    theta = np.full(len(s0), -0.04)
    de = np.diff(cols["energy"])
    moved = cols["flips"][1:] > 0
    tol = 0.0 if is_integer(w) else energy_tol(w, scale, theta)
    assert np.all(de[moved] < 0)
    assert np.all(np.abs(de[~moved]) <= tol)
    assert metrics["stop_reason"] == "fixed_point" and moved.sum() >= 2


# --------------------------------------------------------------------------- stopping


def test_synchronous_antiferromagnet_two_cycle():
    # W = -(J - I): from all +1 every field is -(N-1), so all units flip, then flip back
    n = 6
    w = -(np.ones((n, n), np.int16) - np.eye(n, dtype=np.int16))
    patterns = np.ones((1, n), np.int8)
    s0 = np.ones(n, np.int8)
    config = make_config("synchronous", 0.0, max_sweeps=50)
    metrics, final, cols = run_simulate(config, patterns, w, 1.0 / n, s0, seed_state(np.random.SeedSequence(0)))
    assert metrics["stop_reason"] == "two_cycle" and metrics["sweeps"] == 2
    assert cols["sweep"].tolist() == [0, 1, 2]
    assert cols["flips"].tolist() == [0, n, n]
    assert cols["state"].tolist() == [[1] * n, [-1] * n, [1] * n]
    assert cols["overlap"][:, 0].tolist() == [1.0, -1.0, 1.0]
    assert np.array_equal(final, s0)
    assert metrics["converged"] is False
    expected = ref.run(config, patterns, w, 1.0 / n, s0, np.array([1, 2, 3, 4], np.uint64))
    assert expected["stop_reason"] == "two_cycle"
    assert np.array_equal(cols["energy"], expected["energy"])


def test_synchronous_two_unit_ferromagnet_two_cycle():
    # classic: w_12 = 1, s = (+1, -1): each unit copies the other, so the pair swaps forever
    w = np.array([[0.0, 1.0], [1.0, 0.0]])
    patterns = np.array([[1, 1]], np.int8)
    s0 = np.array([1, -1], np.int8)
    config = make_config("synchronous", 0.0, max_sweeps=10)
    metrics, final, cols = run_simulate(config, patterns, w, 1.0, s0, np.array([1, 2, 3, 4], np.uint64))
    assert metrics["stop_reason"] == "two_cycle" and metrics["sweeps"] == 2
    assert cols["state"].tolist() == [[1, -1], [-1, 1], [1, -1]]
    # without early stopping it keeps oscillating to max_sweeps
    config = make_config("synchronous", 0.0, max_sweeps=7, stop=False)
    metrics, final, cols = run_simulate(config, patterns, w, 1.0, s0, np.array([1, 2, 3, 4], np.uint64))
    assert metrics["stop_reason"] == "max_sweeps" and cols["flips"][1:].tolist() == [2] * 7
    assert final.tolist() == [-1, 1]


def test_synchronous_fixed_point_is_not_a_two_cycle():
    patterns, w, scale, _ = hebbian_case(80, 3, 50)
    config = make_config("synchronous", 0.0, max_sweeps=10)
    metrics, final, cols = run_simulate(
        config, patterns, w, scale, patterns[1].copy(), seed_state(np.random.SeedSequence(1))
    )
    assert metrics["stop_reason"] == "fixed_point" and metrics["sweeps"] == 1
    assert cols["flips"].tolist() == [0, 0] and np.array_equal(final, patterns[1])


@pytest.mark.parametrize("order", ref.ORDERS)
def test_zero_field_leaves_units_unchanged(order):
    # T == 0 and u == 0 exactly: the unit keeps its value, whatever its sign
    n = 10
    s0 = np.array([1, -1, -1, 1, -1, 1, 1, -1, -1, -1], np.int8)
    config = make_config(order, 0.0, max_sweeps=5)
    metrics, final, cols = run_simulate(
        config, s0[None, :].copy(), np.zeros((n, n), np.int16), 0.1, s0, seed_state(np.random.SeedSequence(0))
    )
    assert metrics["stop_reason"] == "fixed_point" and metrics["sweeps"] == 1
    assert cols["flips"].tolist() == [0, 0] and np.array_equal(final, s0)

    # ties through the threshold: N = 4 ferromagnet W = J - I, scale 1/4, theta = 1/4, so
    # u_i = (M - s_i - 1) / 4 with M = sum(s). From (+1, +1, -1, -1): u = (-1/2, -1/2, 0, 0),
    # units 2 and 3 are tied at -1 and must stay there.
    w = np.ones((4, 4), np.int16) - np.eye(4, dtype=np.int16)
    patterns = np.ones((1, 4), np.int8)
    s0 = np.array([1, 1, -1, -1], np.int8)
    config = make_config(order, 0.0, max_sweeps=5, threshold=0.25)
    rng_state = seed_state(np.random.SeedSequence(1))
    expected = ref.run(config, patterns, w, 0.25, s0, rng_state.copy())
    metrics, final, cols = run_simulate(config, patterns, w, 0.25, s0, rng_state)
    assert np.array_equal(cols["state"], expected["state"])
    assert metrics["stop_reason"] == expected["stop_reason"] == "fixed_point"
    assert final.tolist() == [-1, -1, -1, -1]
    if order == "synchronous":
        assert cols["state"].tolist() == [[1, 1, -1, -1], [-1, -1, -1, -1], [-1, -1, -1, -1]]


@pytest.mark.parametrize("order", ASYNC_ORDERS)
@pytest.mark.parametrize("case", ["hebbian", "gaussian", "antiferromagnet"])
def test_async_zero_temperature_reaches_stable_fixed_point(case, order):
    if case == "hebbian":
        patterns, w, scale, s0 = hebbian_case(100, 12, 60)
    elif case == "gaussian":
        patterns, w, scale, s0 = gaussian_case(70, 61)
    else:
        n = 9
        w = -(np.ones((n, n), np.int16) - np.eye(n, dtype=np.int16))
        patterns, scale, s0 = np.ones((1, n), np.int8), 1.0 / n, np.ones(n, np.int8)
    config = make_config(order, 0.0, max_sweeps=300, threshold=0.02)
    metrics, final, cols = run_simulate(config, patterns, w, scale, s0, seed_state(np.random.SeedSequence(62)))
    assert metrics["stop_reason"] == "fixed_point" and metrics["converged"]
    theta = np.full(len(s0), 0.02)
    h = np.empty(len(s0))
    K.dense_fields(w, final, h)
    assert K.is_stable(scale, theta, final, h)
    u = scale * ref.fields(w, final) - theta  # independent check: no unit against its field
    assert np.all(final * u >= 0)
    assert cols["flips"][-1] == 0
    if case == "antiferromagnet":
        assert abs(int(final.sum())) == 1  # N = 9 odd: ground states have magnetization +-1


# --------------------------------------------------------------------------- learning rules


@pytest.mark.parametrize("n, p", [(10, 1), (40, 7), (100, 33)])
def test_hebbian_rule(n, p):
    patterns = M.random_patterns(p, n, np.random.default_rng(n + p))
    w, scale = M.hebbian(patterns)
    assert w.dtype == np.int16 and scale == 1.0 / n
    literal = np.zeros((n, n))
    for xi in patterns.astype(np.float64):
        literal += np.outer(xi, xi)  # integer-valued: exact
    literal /= n
    np.fill_diagonal(literal, 0.0)
    np.testing.assert_array_max_ulp(w * scale, literal, maxulp=1)  # int * (1/N) vs int / N
    assert np.array_equal(w, w.T) and not np.diag(w).any()


def test_hebbian_integer_width():
    ones = np.ones((32767, 2), np.int8)
    w, _ = M.hebbian(ones)
    assert w.dtype == np.int16 and w[0, 1] == 32767
    w, _ = M.hebbian(np.ones((32768, 2), np.int8))
    assert w.dtype == np.int32 and w[0, 1] == 32768  # would wrap to -32768 in int16


def storkey_literal(patterns):
    """Storkey (1997), term by term: for each pattern, every w_ij from the previous weights."""
    p, n = patterns.shape
    w = np.zeros((n, n))
    for xi in patterns.astype(np.float64):
        old = w.copy()

        def local_field(i, j, old=old, xi=xi):  # h_ij = sum_{k != i, j} w_ik xi_k
            return sum(old[i, k] * xi[k] for k in range(n) if k != i and k != j)

        for i in range(n):
            for j in range(n):
                if i == j:
                    w[i, j] = 0.0
                    continue
                w[i, j] = old[i, j] + (xi[i] * xi[j] - xi[i] * local_field(j, i) - local_field(i, j) * xi[j]) / n
    return w


@pytest.mark.parametrize("n, p, bias", [(6, 1, 0.0), (9, 3, 0.0), (12, 5, 0.0), (10, 4, 0.5)])
def test_storkey_rule_matches_literal(n, p, bias):
    patterns = M.random_patterns(p, n, np.random.default_rng(100 + n), bias)
    w, scale = M.storkey(patterns)
    assert scale == 1.0 and w.dtype == np.float64
    lit = storkey_literal(patterns)
    np.testing.assert_allclose(w, lit, rtol=ROUNDOFF, atol=ROUNDOFF)
    assert np.allclose(w, w.T, rtol=0, atol=ROUNDOFF) and not np.diag(w).any()
    # the first pattern alone gives the Hebbian weights
    w1, _ = M.storkey(patterns[:1])
    x = patterns[0].astype(np.float64)
    heb = np.outer(x, x) / n
    np.fill_diagonal(heb, 0.0)
    np.testing.assert_allclose(w1, heb, rtol=0, atol=ROUNDOFF)


def _projector(patterns):
    """Orthogonal projector onto the span of the patterns, via QR (independent of pinv)."""
    q, r = np.linalg.qr(patterns.astype(np.float64).T)
    q = q[:, np.abs(np.diag(r)) > 1e-9 * np.abs(r).max()]
    return q @ q.T


def _pinv_cases():
    cases = []
    for n, p in ((20, 5), (50, 25), (64, 63), (100, 40)):
        cases.append((f"random-{n}-{p}", M.random_patterns(p, n, np.random.default_rng(n * p))))
    rng = np.random.default_rng(7)
    proto = M.random_patterns(1, 80, rng)[0]
    corr = np.tile(proto, (30, 1))
    corr[rng.random(corr.shape) < 0.15] *= -1  # 30 noisy copies of one prototype: overlaps ~ 0.49
    cases.append(("correlated-80-30", corr))
    cases.append(("biased-120-40", M.random_patterns(40, 120, np.random.default_rng(8), bias=0.3)))
    return cases


@pytest.mark.parametrize("name, patterns", _pinv_cases(), ids=[c[0] for c in _pinv_cases()])
def test_pseudoinverse_stores_fixed_points(name, patterns):
    p, n = patterns.shape
    assert p < n
    w, scale = M.pseudoinverse(patterns)
    assert scale == 1.0
    assert np.array_equal(w, w.T) and not np.diag(w).any()
    proj = _projector(patterns)
    margin = 1.0 - np.diag(proj)
    # precondition of the fixed-point argument: no unit vector e_i lies in the span
    assert margin.min() > 1e-6
    off = proj.copy()
    np.fill_diagonal(off, 0.0)
    np.testing.assert_allclose(w, off, rtol=0, atol=1e-9)
    theta = np.zeros(n)
    for xi in patterns:
        h = np.empty(n)
        K.dense_fields(w, xi, h)
        # (P - diag P) xi = xi - diag(P) xi: each field is (1 - P_ii) xi_i, same sign as xi_i
        np.testing.assert_allclose(h, margin * xi, rtol=0, atol=1e-9)
        assert K.is_stable(scale, theta, xi, h)
        assert np.all(xi * h > 0)
    if name.startswith("correlated"):
        m = patterns.astype(np.float64) @ patterns.T / n
        assert np.abs(m[np.triu_indices(p, 1)]).mean() > 0.3  # really correlated
        # Hebbian weights fail on the same patterns: the correlated crosstalk destabilizes them
        wh, sh = M.hebbian(patterns)
        assert not all(ref.is_stable(sh, theta, xi, ref.fields(wh, xi)) for xi in patterns)


def test_pseudoinverse_fixed_points_with_degenerate_units():
    unstable = 0
    for seed in range(5):
        patterns = M.random_patterns(25, 30, np.random.default_rng(seed), bias=0.85)
        w, scale = M.pseudoinverse(patterns)
        for xi in patterns:
            h = np.empty(30)
            K.dense_fields(w, xi, h)
            unstable += not K.is_stable(scale, np.zeros(30), xi, h)
    assert unstable == 0


def test_pseudoinverse_degenerate_unit_is_disconnected():
    # Documents the mechanism handled above: if two stored patterns differ
    # only in unit 3, e_3 is in their span, P_33 = 1 and row 3 of W is zero up to round-off.
    patterns = M.random_patterns(3, 12, np.random.default_rng(0))
    patterns[1] = patterns[0]
    patterns[1, 3] *= -1
    w, _ = M.pseudoinverse(patterns)
    assert np.diag(_projector(patterns))[3] == pytest.approx(1.0, abs=1e-12)
    assert not w[3].any() and not w[:, 3].any()  # disconnected exactly


# --------------------------------------------------------------------------- capacity


def _recall_config(n, p, update="async-permutation"):
    return HopfieldScenario.model_validate(
        {
            "name": "recall",
            "model": "hopfield",
            "seed": 0,
            "network": {"n_units": n, "rule": "hebbian", "threshold": 0.0},
            "patterns": {"source": "random", "count": p, "bias": 0.0},
            "init": {"kind": "flip", "pattern": 0, "fraction": 0.1},
            "dynamics": {
                "max_sweeps": 100,
                "temperature": 0.0,
                "anneal": None,
                "update": update,
                "stop_at_fixed_point": True,
            },
            "record": {"every": 1, "state": False, "overlaps": True},
        }
    )


def _recall(n, p, seed, update="async-permutation"):
    config = _recall_config(n, p, update)
    patterns, w, scale, s0, rng_state = M.build(config, np.random.SeedSequence(seed))
    metrics, final = M.simulate(config, patterns, w, scale, s0, rng_state)
    return metrics, patterns, w, scale


@pytest.mark.parametrize("update", ["async-permutation", "synchronous"])
def test_hebbian_low_load_recalls_exactly(update):
    # alpha = P/N = 0.025. The crosstalk on a stored bit is ~ Normal(0, alpha): a stored bit
    # is unstable with probability Phi(-1/sqrt(alpha)) = Phi(-6.3) ~ 1e-10, and from a cue
    # with overlap 0.8 a unit is wrongly set with probability Phi(-0.8/sqrt(alpha)) ~ 2e-7.
    # So over 200 units and 5 seeds, perfect recall (overlap exactly 1) is certain.
    for seed in range(5):
        metrics, patterns, w, scale = _recall(200, 5, seed, update)
        assert metrics["initial_overlap"] == pytest.approx(0.8)
        assert metrics["final_overlap"] == 1.0 and metrics["recalled"]
        assert metrics["stop_reason"] == "fixed_point" and not metrics["spurious"]


def test_hebbian_overload_fails_to_recall():
    # alpha = 0.4, far above the capacity alpha_c ~ 0.138 (Amit, Gutfreund, Sompolinsky 1985):
    # there is no retrieval state near a stored pattern. Each stored bit is unstable with
    # probability Phi(-1/sqrt(0.4)) = Phi(-1.58) ~ 0.057, i.e. ~11 of 200 bits (P(none) ~ e^-11),
    # so the dynamics leaves the pattern and settles in a spin-glass state with low overlap
    # (about 0.35 on average at this N). We assert the mean stays well below the cue's 0.8.
    finals = []
    for seed in range(6):
        metrics, patterns, w, scale = _recall(200, 80, seed)
        xi = patterns[0]
        u = ref.fields(w, xi) * scale
        assert np.sum(xi * u < 0) >= 1  # the stored pattern itself is not a fixed point
        assert metrics["stop_reason"] == "fixed_point"
        finals.append(metrics["final_overlap"])
    assert np.mean(finals) < 0.6
    assert max(finals) < M.RETRIEVAL_OVERLAP


# --------------------------------------------------------------------------- schedules, initial states

# a naive t_start + (t_end - t_start) * 1.0 misses t_end by an ulp for (0.1, 0.01) and (0.3, 0.01),
# and t_start * (t_end / t_start) ** 1.0 for (3.0, 0.9) and (7.0, 0.03)
ANNEAL_PAIRS = [
    (1.0, 0.0),
    (2.0, 0.5),
    (0.1, 0.01),
    (0.3, 0.01),
    (3.0, 0.1),
    (5.0, 0.05),
    (0.7, 0.2),
    (3.0, 0.9),
    (7.0, 0.03),
]


def _anneal(schedule, t_start, t_end, sweeps, max_sweeps):
    return HopfieldDynamics.model_validate(
        {
            "max_sweeps": max_sweeps,
            "temperature": 0.0,
            "anneal": {"schedule": schedule, "t_start": t_start, "t_end": t_end, "sweeps": sweeps},
        }
    )


def test_temperatures_constant():
    t = M.temperatures(HopfieldDynamics(max_sweeps=7, temperature=0.25, anneal=None))
    assert t.dtype == np.float64 and t.tolist() == [0.25] * 7


@pytest.mark.parametrize("schedule", ["linear", "geometric"])
def test_temperature_schedules_shape(schedule):
    for t_start, t_end in ANNEAL_PAIRS:
        if schedule == "geometric" and t_end == 0:
            continue
        for m, max_sweeps in ((2, 2), (5, 9), (30, 30), (17, 40)):
            t = M.temperatures(_anneal(schedule, t_start, t_end, m, max_sweeps))
            assert t.shape == (max_sweeps,)
            assert t[0] == t_start
            assert np.all(t[m:] == t_end)
            sched = t[:m]
            assert np.all(np.diff(sched) < 0)  # strictly decreasing within the schedule
            assert t[m - 1] == pytest.approx(t_end, rel=1e-14, abs=1e-300)
            k = np.arange(m)
            if schedule == "linear":
                np.testing.assert_allclose(sched, t_start + (t_end - t_start) * k / (m - 1), rtol=1e-13, atol=1e-15)
            else:
                np.testing.assert_allclose(
                    np.log(sched), np.log(t_start) + np.log(t_end / t_start) * k / (m - 1), rtol=0, atol=1e-13
                )
    # default length is max_sweeps
    t = M.temperatures(_anneal("linear", 1.0, 0.0, None, 11))
    assert t[0] == 1.0 and t[-1] == 0.0 and np.all(np.diff(t) < 0)
    # annealing to zero reaches T == 0 exactly, so the run can stop at a fixed point
    t = M.temperatures(_anneal("linear", 2.7, 0.0, 13, 20))
    assert t[12] == 0.0 and np.all(t[12:] == 0.0)


@pytest.mark.parametrize("schedule", ["linear", "geometric"])
def test_temperature_schedules_hit_t_end_exactly(schedule):
    for t_start, t_end in ANNEAL_PAIRS:
        if schedule == "geometric" and t_end == 0:
            continue
        for m in (2, 5, 30):
            t = M.temperatures(_anneal(schedule, t_start, t_end, m, m + 3))
            assert t[0] == t_start and t[m - 1] == t_end, (t_start, t_end, m, t[m - 1])
            assert np.all(np.diff(t) <= 0)  # monotone over the whole run


@pytest.mark.parametrize("schedule", ["linear", "geometric"])
def test_temperature_schedule_longer_than_run_is_cut(schedule):
    full = M.temperatures(_anneal(schedule, 2.0, 0.1, 50, 50))
    cut = M.temperatures(_anneal(schedule, 2.0, 0.1, 50, 10))
    assert np.array_equal(cut, full[:10])


# with N = 50: 0.07 * N = 3.5000000000000004 and 0.19 * N = 9.5 round up (truncation differs),
# 0.21 * N = 10.5 rounds half to even (10)
@pytest.mark.parametrize("fraction", [0.0, 0.07, 0.1, 0.19, 0.21, 0.25, 0.5, 1.0])
def test_initial_state_flip_count(fraction):
    n = 50
    patterns = M.random_patterns(3, n, np.random.default_rng(1))
    for seed in range(3):
        s = M.initial_state(FlipInit(kind="flip", pattern=2, fraction=fraction), patterns, np.random.default_rng(seed))
        assert s.dtype == np.int8 and set(np.unique(s)) <= {-1, 1}
        assert int(np.sum(s != patterns[2])) == round(fraction * n)
    before = patterns.copy()
    M.initial_state(FlipInit(kind="flip", pattern=0, fraction=0.5), patterns, np.random.default_rng(0))
    assert np.array_equal(patterns, before)


@pytest.mark.parametrize("fill", ["positive", "negative", "random"])
@pytest.mark.parametrize("region", ["tail", "head", "random"])
def test_initial_state_mask(region, fill):
    n = 40
    patterns = M.random_patterns(2, n, np.random.default_rng(3))
    before = patterns.copy()
    for fraction in (0.0, 0.25, 0.5, 1.0):
        k = round(fraction * n)
        init = MaskInit(kind="mask", pattern=1, fraction=fraction, region=region, fill=fill)
        s = M.initial_state(init, patterns, np.random.default_rng(9))
        assert s.dtype == np.int8 and set(np.unique(s)) <= {-1, 1}
        xi = patterns[1]
        if region == "tail":
            masked = np.arange(n) >= n - k
        elif region == "head":
            masked = np.arange(n) < k
        else:
            # which units were masked is not observable for every fill; the same draw gives them
            idx = np.random.default_rng(9).choice(n, size=k, replace=False)
            masked = np.zeros(n, bool)
            masked[idx] = True
        assert masked.sum() == k
        assert np.array_equal(s[~masked], xi[~masked])
        if fill == "positive":
            assert np.all(s[masked] == 1)
        elif fill == "negative":
            assert np.all(s[masked] == -1)
        # random fill: values checked to be +-1 above; reproducible for the same seed
        assert np.array_equal(s, M.initial_state(init, patterns, np.random.default_rng(9)))
    assert np.array_equal(patterns, before)


def test_initial_state_mask_random_fill_is_random():
    n = 400
    patterns = np.ones((1, n), np.int8)
    s = M.initial_state(
        MaskInit(kind="mask", pattern=0, fraction=1.0, region="tail", fill="random"), patterns, np.random.default_rng(0)
    )
    # 400 fair coins: the count of +1 is 200 +- 10 (sd); 6 sd bound
    assert abs(int((s == 1).sum()) - 200) < 60


def test_initial_state_random_region_masks_exactly_k_distinct_units():
    n = 60
    patterns = -np.ones((1, n), np.int8)
    for fraction in (0.1, 0.5, 0.9):
        s = M.initial_state(
            MaskInit(kind="mask", pattern=0, fraction=fraction, region="random", fill="positive"),
            patterns,
            np.random.default_rng(4),
        )
        assert int((s == 1).sum()) == round(fraction * n)


def test_initial_state_random_kind():
    patterns = M.random_patterns(2, 1000, np.random.default_rng(0))
    s = M.initial_state(RandomInit(kind="random", bias=0.4), patterns, np.random.default_rng(1))
    assert s.shape == (1000,) and s.dtype == np.int8
    # P(+1) = 0.7: mean 0.4, sd of the mean sqrt(1 - 0.16)/sqrt(1000) ~ 0.029; 6 sd bound
    assert abs(s.mean() - 0.4) < 6 * 0.029
