"""General Boltzmann machines: energy by hand, exact sums against brute force, the Gibbs and
Metropolis samplers and parallel tempering against the exact Boltzmann distribution
(chi-squared), swap acceptance against its exact value, the learning-rule estimator
against the exact gradient, learning on bars and stripes, annealing, runs, validation.

Chi-squared critical values: the 0.999 quantile of chi^2 with k degrees of freedom by
the Wilson-Hilferty approximation, k (1 - 2/(9k) + z sqrt(2/(9k)))^3 with z = 3.0902
(the standard normal 0.999 quantile); for k = 31 it gives 61.1 (tables: 61.10).
Samples are thinned so that successive ones are close to independent (the test's
assumption); a deliberately wrong temperature must fail the same test.
"""

import math
import os

import numpy as np
import pytest
from conftest import SCENARIOS, MemoryRecord

from dynet import api
from dynet.models.boltzmann import driver as M
from dynet.models.boltzmann import kernels as K
from dynet.models.boltzmann.config import BMNetwork
from dynet.scenario import ScenarioError, parse_scenario

Z_999 = 3.0902  # standard normal quantile 0.999


def chi2_critical(k: int) -> float:
    """Wilson-Hilferty approximation of the 0.999 quantile of chi^2 with k degrees of freedom."""
    c = 2.0 / (9.0 * k)
    return k * (1.0 - c + Z_999 * math.sqrt(c)) ** 3


def chi2_statistic(counts: np.ndarray, probs: np.ndarray) -> tuple[float, int]:
    """Pearson's statistic and degrees of freedom, bins with expected count < 5 pooled."""
    expected = probs * counts.sum()
    small = expected < 5
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    return float(np.sum((obs - exp) ** 2 / exp)), len(exp) - 1


# --------------------------------------------------------------------------- brute force


def all_states(n, lo, hi):
    """Every state of n units, (2**n, n) int8, unit 0 the lowest bit of the row index."""
    bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    return np.where(bits == 1, hi, lo).astype(np.int8)


def codes(states, hi):
    """Row index in all_states of each state."""
    return ((np.asarray(states) == hi).astype(np.int64) << np.arange(states.shape[1])).sum(axis=1)


def boltzmann(W, b, lo, hi, T):
    """(states, energies, exact probabilities at temperature T)."""
    X = all_states(len(b), lo, hi)
    E = M.energies(W, b, X)
    a = -E / T
    return X, E, np.exp(a - np.logaddexp.reduce(a))


def random_couplings(seed, n, scale, bias_scale=0.3):
    rng = np.random.default_rng(seed)
    W = np.triu(rng.normal(0, scale, (n, n)), 1)
    return W + W.T, rng.normal(0, bias_scale, n)


def chain(W, b, lo, hi, method, order, temps, snap_every, every=None, seed=5, s=None):
    """Run one chain over ``temps`` from ``s`` (default all-lo, updated in place); returns
    (kernel result, snapshots, recorded energies)."""
    n = len(b)
    s = np.full(n, lo, np.int8) if s is None else s
    h = np.empty(n)
    total = len(temps)
    every = every or total
    rows = total // every + 1
    snaps = np.empty((total // snap_every + 1, n), np.int8)
    rec_e = np.empty(rows)
    K.local_fields(W, s, h)
    out = K.run_sweeps(
        W,
        b,
        s,
        h,
        K.energy(s, h, b),
        np.arange(n, dtype=np.int64),
        lo,
        hi,
        method,
        order,
        np.asarray(temps, np.float64),
        0,
        total,
        every,
        snap_every,
        np.array([seed, 7, 11, 13], np.uint64),
        np.empty(n, np.int64),
        0,
        np.zeros((0, n), np.int8),
        np.empty(rows, np.int64),
        rec_e,
        np.empty(rows),
        np.empty(rows, np.int64),
        np.empty((rows, 0)),
        np.empty(len(snaps), np.int64),
        snaps,
    )
    return out, snaps[: out[2]], rec_e[: out[1]]


def scenario(**tables):
    return parse_scenario({"name": "t", "model": "boltzmann", "seed": 3, **tables}).runs


# --------------------------------------------------------------------------- energy and exact sums


def test_energy_by_hand():
    W = np.array([[0.0, 1.0, -2.0], [1.0, 0.0, 0.5], [-2.0, 0.5, 0.0]])
    b = np.array([0.5, -1.0, 0.25])
    h = np.empty(3)
    # {0,1}, s = (1, 0, 1): -(W02) - (b0 + b2) = 2 - 0.75
    s = np.array([1, 0, 1], np.int8)
    K.local_fields(W, s, h)
    assert K.energy(s, h, b) == 1.25
    # +-1, s = (1, -1, 1): -(W01 (-1) + W02 + W12 (-1)) - (b0 - b1 + b2) = 3.5 - 1.75
    s = np.array([1, -1, 1], np.int8)
    K.local_fields(W, s, h)
    assert K.energy(s, h, b) == 1.75
    assert M.energies(W, b, s)[0] == 1.75


@pytest.mark.parametrize("spins", ["binary", "ising"])
def test_exact_sums_match_brute_force(spins):
    lo, hi = M.SPIN_VALUES[spins]
    W, b = random_couplings(1, 6, 0.8, 0.5)
    for T in (1.0, 0.7):
        X, E, p = boltzmann(W, b, lo, hi, T)
        log_z, mean_e = M.log_partition(W, b, spins, T)
        assert log_z == pytest.approx(np.logaddexp.reduce(-E / T), rel=1e-12, abs=1e-12)
        assert mean_e == pytest.approx(p @ E, rel=1e-10, abs=1e-12)
    # clamped: units 0..2 fixed to each row, units 3..5 summed over
    rows = all_states(3, lo, hi)[[1, 4, 6]]
    states = np.zeros((3, 6), np.int8)
    states[:, :3] = rows
    got, _ = M.log_sums(W, b, states, np.arange(3, 6), spins)
    X, E, _ = boltzmann(W, b, lo, hi, 1.0)
    for r, v in enumerate(rows):
        match = (X[:, :3] == v).all(axis=1)
        assert got[r] == pytest.approx(np.logaddexp.reduce(-E[match]), rel=1e-12)


# --------------------------------------------------------------------------- samplers


@pytest.mark.parametrize(
    "method,spins,order,T",
    [
        ("gibbs", "binary", "sequential", 1.0),
        ("gibbs", "ising", "permutation", 0.6),
        ("metropolis", "binary", "permutation", 2.0),
        ("metropolis", "ising", "sequential", 1.0),
    ],
)
def test_sampler_matches_boltzmann_distribution(method, spins, order, T):
    lo, hi = M.SPIN_VALUES[spins]
    W, b = random_couplings(2, 5, 0.6 if spins == "binary" else 0.3)
    thin, n_samples = 10, 30000
    temps = np.full(thin * n_samples, T)
    (_, _, n_snap, *_), snaps, _ = chain(W, b, lo, hi, K.METHODS[method], K.ORDERS[order], temps, thin)
    assert n_snap == n_samples
    counts = np.bincount(codes(snaps, hi), minlength=32)
    stat, dof = chi2_statistic(counts, boltzmann(W, b, lo, hi, T)[2])
    assert stat < chi2_critical(dof), (stat, dof)
    # the same counts against the distribution at a 25% higher temperature must fail: the test has power
    wrong, dof_w = chi2_statistic(counts, boltzmann(W, b, lo, hi, 1.25 * T)[2])
    assert wrong > chi2_critical(dof_w)


def test_parallel_tempering_matches_boltzmann_and_exact_swap_rates():
    lo, hi = -1, 1
    W, b = random_couplings(4, 5, 0.5)
    temps = np.array([0.5, 0.8, 1.3, 2.0])
    R, n = len(temps), len(b)
    rng = np.random.default_rng(0)
    S = np.where(rng.random((R, n)) < 0.5, hi, lo).astype(np.int8)
    H = np.empty((R, n))
    E = np.empty(R)
    at = np.arange(R, dtype=np.int64)
    attempts = np.zeros(R - 1, np.int64)
    accepts = np.zeros(R - 1, np.int64)
    lowest = np.full(R, np.inf)
    state = np.array([3, 1, 4, 1], np.uint64)
    thin, blocks, per_block = 6, 40, 900  # 40 batches of 900 thinned samples
    rounds = thin * per_block
    snaps = np.empty((per_block + 1, R, n), np.int8)
    rec = (np.empty(2, np.int64), np.empty((2, R)), np.empty((2, R)), np.empty((2, R - 1)))
    counts = np.zeros((R, 2**n), np.int64)
    rates = []
    for blk in range(blocks + 1):
        for r in range(R):
            K.local_fields(W, S[r], H[r])
            E[r] = K.energy(S[r], H[r], b)
        a0, c0 = attempts.copy(), accepts.copy()
        _, n_snap = K.tempering_sweeps(
            W,
            b,
            S,
            H,
            E,
            at,
            np.arange(n, dtype=np.int64),
            lo,
            hi,
            K.GIBBS,
            K.SEQUENTIAL,
            temps,
            blk * rounds,
            rounds,
            1,
            rounds + 1,
            thin,
            state,
            np.empty(n, np.int64),
            attempts,
            accepts,
            lowest,
            *rec,
            np.empty(per_block + 1, np.int64),
            snaps,
        )
        if blk == 0:
            continue  # burn-in
        for k in range(R):
            counts[k] += np.bincount(codes(snaps[:n_snap, k], hi), minlength=2**n)
        rates.append((accepts - c0) / (attempts - a0))
    assert sorted(at) == list(range(R))
    for k, T in enumerate(temps):
        stat, dof = chi2_statistic(counts[k], boltzmann(W, b, lo, hi, T)[2])
        assert stat < chi2_critical(dof), (T, stat, dof)
    # in equilibrium the two states of a pair are independent Boltzmann draws at their temperatures
    rates = np.array(rates)
    for k in range(R - 1):
        _, Ea, pa = boltzmann(W, b, lo, hi, temps[k])
        _, Eb, pb = boltzmann(W, b, lo, hi, temps[k + 1])
        acc = np.minimum(1.0, np.exp((1 / temps[k] - 1 / temps[k + 1]) * (Ea[:, None] - Eb[None, :])))
        exact = pa @ acc @ pb
        se = rates[:, k].std(ddof=1) / math.sqrt(blocks)
        assert abs(rates[:, k].mean() - exact) < 5 * se, (k, rates[:, k].mean(), exact, se)
        assert se < 0.01


def test_quench_descends_to_a_fixed_point_and_stored_patterns_are_stable():
    W, b = random_couplings(6, 40, 1.0)
    s = np.full(40, -1, np.int8)
    (done, n_rec, _, stopped, _, e, lowest), _, rec_e = chain(
        W, b, -1, 1, K.METROPOLIS, K.PERMUTATION, np.zeros(100), 1000, every=1, s=s
    )
    assert stopped and 1 < done < 100 and n_rec == done
    assert np.all(s * (W @ s + b) >= 0)  # every unit agrees with the sign of its field (or sits at 0)
    assert np.all(np.diff(rec_e[:-1]) < 0)  # T = 0: every sweep with a flip lowers the energy ...
    assert rec_e[-1] == rec_e[-2]  # ... and the last one flips nothing
    assert e == pytest.approx(M.energies(W, b, s)[0], abs=1e-9) and lowest == e  # the tracked energy is E(s)
    # Hebbian weights at low load: a stored pattern is a fixed point (no flip in the first sweep)
    runs = scenario(
        network={"visible": 200, "spins": "ising"},
        weights={"source": "hebbian", "patterns": 3},
        init={"kind": "pattern", "pattern": 1},
        dynamics={"schedule": "quench", "sweeps": 50},
    )
    rec = MemoryRecord()
    m = M.run(runs[0], rec)
    assert m["fixed_point"] and m["sweeps_done"] == 1 and m["max_overlap"] == 1.0 and m["nearest_pattern"] == 1
    assert rec.col("flips")[-1] == 0


def exact_quench_sweep(J, s):
    """One sequential T = 0 sweep in integer arithmetic (couplings J, no bias): each unit takes
    the sign of its field J_i . s and keeps its state when the field is exactly 0 (a tie)."""
    s = s.astype(np.int64)
    ties = 0
    for i in range(len(s)):
        u = J[i] @ s
        if u == 0:
            ties += 1
        else:
            s[i] = 1 if u > 0 else -1
    return s, ties


def test_zero_temperature_ties_follow_exact_arithmetic_whatever_the_blocks(monkeypatch):
    """Hebbian weights x^T x / n of an even number of patterns (and a constant coupling 0.3 on a
    lattice) give fields that are exactly 0: every T = 0 sweep must equal the integer-arithmetic
    sweep (a tie keeps the state), whether the run is one kernel call or one call per sweep."""
    docs = [
        dict(network={"visible": 50, "spins": "ising"}, weights={"source": "hebbian", "patterns": 4}),
        dict(
            network={"topology": "lattice", "size": 6, "spins": "ising"},
            weights={"source": "constant", "coupling": 0.3},
        ),
    ]
    ties = 0
    for doc in docs:
        for seed in range(30):
            spec = parse_scenario(
                {
                    "name": "t",
                    "model": "boltzmann",
                    "seed": seed,
                    **doc,
                    "dynamics": {"schedule": "quench", "sweeps": 50},
                    "record": {"every": 1, "snapshot_every": 1},
                }
            ).runs[0]
            whole = MemoryRecord()
            m = M.run(spec, whole)
            if "patterns" in whole.static_arrays:
                x = whole.static_arrays["patterns"].astype(np.int64)
                J, unit = x.T @ x, 1.0 / 50
                np.fill_diagonal(J, 0)
            else:
                J, unit = M.coupling_mask(spec.settings.network).astype(np.int64), 0.3
            s = whole.static_arrays["initial_state"]
            for snap in whole.col("state"):
                s, k = exact_quench_sweep(J, s)
                ties += k
                np.testing.assert_array_equal(snap, s)
            assert m["fixed_point"] and exact_quench_sweep(J, s)[0].tolist() == s.tolist()
            # energies: -1/2 s^T J s is an exact integer; one rounding when multiplied by the unit
            states = np.vstack([whole.static_arrays["initial_state"], whole.col("state")]).astype(np.int64)
            exact_e = -0.5 * np.einsum("ri,ij,rj->r", states, J, states) * unit
            np.testing.assert_allclose(whole.col("energy"), exact_e, rtol=1e-15, atol=0)
            monkeypatch.setattr(M, "_block", lambda *args: 1)  # one kernel call per sweep
            pieces = MemoryRecord()
            assert M.run(spec, pieces) == m
            monkeypatch.undo()
            for name in whole.columns:
                np.testing.assert_array_equal(whole.col(name), pieces.col(name), err_msg=name)
    assert ties > 100  # the runs did meet exact ties


def test_annealing_escapes_the_spurious_mixture_a_quench_keeps():
    base = dict(
        network={"visible": 200, "spins": "ising"},
        weights={"source": "hebbian", "patterns": 3},
        init={"kind": "mixture", "patterns": [0, 1, 2]},
        anneal={"t_start": 0.8, "t_end": 0.05},
        sweep={"replicates": 3},
    )
    for schedule in ("quench", "linear"):
        for spec in scenario(**base, dynamics={"schedule": schedule, "sweeps": 200, "order": "permutation"}):
            m = M.run(spec, rec := MemoryRecord())
            ov = rec.col("overlap")
            assert np.all(np.abs(ov[0] - 0.5) < 0.15)  # sign(xi0 + xi1 + xi2): overlap ~1/2 with each
            if schedule == "quench":
                assert m["fixed_point"] and m["sweeps_done"] == 1 and rec.col("flips").sum() == 0  # stuck
                np.testing.assert_array_equal(ov[-1], ov[0])
            else:
                assert m["fixed_point"] and m["max_overlap"] == 1.0
                assert m["final_energy"] == pytest.approx(m["pattern_energy"], rel=0.05)
                # theory for large N: -N/2 sum_mu m_mu^2 = -3N/8 for the mixture, -N/2 for a pattern
                assert m["final_energy"] < m["initial_energy"] - 0.05 * 200


def test_annealing_schedules():
    base = dict(network={"visible": 4}, weights={"source": "sk"})
    lin = scenario(
        **base, dynamics={"schedule": "linear", "sweeps": 5}, anneal={"t_start": 3.0, "t_end": 1.0, "quench": False}
    )[0].settings
    assert M.temperatures(lin).tolist() == [3.0, 2.5, 2.0, 1.5, 1.0]
    geo = scenario(
        **base,
        dynamics={"schedule": "geometric", "sweeps": 4},
        anneal={"t_start": 8.0, "t_end": 1.0, "quench_sweeps": 3},
    )[0].settings
    np.testing.assert_allclose(M.temperatures(geo), [8.0, 4.0, 2.0, 1.0, 0.0, 0.0, 0.0], rtol=1e-14)
    cus = scenario(
        **base, dynamics={"schedule": "custom", "sweeps": 7}, anneal={"temperatures": [2.0, 1.0, 0.5], "quench": False}
    )[0].settings
    assert M.temperatures(cus).tolist() == [2.0, 2.0, 2.0, 1.0, 1.0, 0.5, 0.5]


# --------------------------------------------------------------------------- learning


def test_gradient_estimator_matches_exact_gradient():
    """Persistent clamped chains (one per data row) and free chains, long run: the mean of
    the estimates <s_i s_j>_data - <s_i s_j>_model is the exact gradient of the mean
    log-likelihood (3 visible + 2 hidden +-1 units, every pair coupled)."""
    lo, hi = -1, 1
    W, b = random_couplings(8, 5, 0.4)
    nv, n = 3, 5
    data = np.array([[1, 1, -1], [-1, 1, 1], [1, 1, 1], [-1, -1, 1]], np.int8)
    X, E, p = boltzmann(W, b, lo, hi, 1.0)
    Xf = X.astype(np.float64)
    model = np.einsum("s,si,sj->ij", p, Xf, Xf)
    data_ss = np.zeros((n, n))
    data_s = np.zeros(n)
    for v in data:
        match = (X[:, :nv] == v).all(axis=1)
        q = np.exp(-E[match] - np.logaddexp.reduce(-E[match]))
        data_ss += np.einsum("s,si,sj->ij", q, Xf[match], Xf[match]) / len(data)
        data_s += q @ Xf[match] / len(data)
    exact_G, exact_g = data_ss - model, data_s - p @ Xf

    # the same gradient by finite differences of the exact mean log-likelihood (one coupling, one bias)
    def mean_ll(W_, b_):
        states = np.zeros((len(data), n), np.int8)
        states[:, :nv] = data
        lp, _ = M.log_sums(W_, b_, states, np.arange(nv, n), "ising")
        return lp.mean() - M.log_partition(W_, b_, "ising")[0]

    eps = 1e-5
    dW = np.zeros((n, n))
    dW[0, 4] = dW[4, 0] = eps
    assert (mean_ll(W + dW, b) - mean_ll(W - dW, b)) / (2 * eps) == pytest.approx(exact_G[0, 4], abs=1e-7)
    db = np.zeros(n)
    db[3] = eps
    assert (mean_ll(W, b + db) - mean_ll(W, b - db)) / (2 * eps) == pytest.approx(exact_g[3], abs=1e-7)

    rng = np.random.default_rng(1)
    clamped = np.where(rng.random((len(data), n)) < 0.5, hi, lo).astype(np.int8)
    clamped[:, :nv] = data
    free = np.where(rng.random((100, n)) < 0.5, hi, lo).astype(np.int8)
    state = np.array([9, 8, 7, 6], np.uint64)
    rows = np.arange(len(data), dtype=np.int64)
    hidden, units = np.arange(nv, n, dtype=np.int64), np.arange(n, dtype=np.int64)
    G, g, h, perm = np.zeros((n, n)), np.zeros(n), np.empty(n), np.empty(n, np.int64)
    for _ in range(20):  # burn-in
        K.batch_gradient(W, b, clamped, free, rows, hidden, units, lo, hi, 1, 1, G, g, h, state, perm)
    batches, per = 20, 100
    est_G = np.zeros((batches, n, n))
    est_g = np.zeros((batches, n))
    for k in range(batches):
        G[:] = 0.0
        g[:] = 0.0
        for _ in range(per):
            K.batch_gradient(W, b, clamped, free, rows, hidden, units, lo, hi, 1, 1, G, g, h, state, perm)
        est_G[k], est_g[k] = G / per, g / per
    off = ~np.eye(n, dtype=bool)
    se_G = est_G.std(axis=0, ddof=1) / math.sqrt(batches)
    se_g = est_g.std(axis=0, ddof=1) / math.sqrt(batches)
    assert np.all(np.abs(est_G.mean(axis=0) - exact_G)[off] < 5 * se_G[off])
    assert np.all(np.abs(est_g.mean(axis=0) - exact_g) < 5 * se_g)
    # a sharp test: the standard errors are below 2% of the gradient's scale (about 1.3 here)
    assert se_G[off].max() < 0.02 * np.abs(exact_G[off]).max()
    assert (clamped[:, :nv] == data).all()  # the clamped units never move


def test_learning_raises_the_exact_log_likelihood_of_bars_and_stripes():
    runs = scenario(
        network={"visible": 16},
        data={"source": "bars-stripes", "size": 4},
        training={"epochs": 40, "batch_size": 10, "lr": 0.05, "momentum": 0.5, "chains": 50},
    )
    rec = MemoryRecord()
    m = M.run(runs[0], rec)
    ll = rec.col("train_log_likelihood")
    assert len(ll) == 41 and m["exact"]
    # W ~ N(0, 0.01^2), b = 0 starts at 16 log(1/2); the product of the data's marginals (p = 1/2) is no better
    assert ll[0] == pytest.approx(16 * math.log(0.5), abs=0.01)
    assert m["independent_log_likelihood"] == pytest.approx(16 * math.log(0.5))
    assert ll[-1] > ll[0] + 3.0  # couplings learned what no independent-unit model can
    assert ll[-1] < m["max_train_log_likelihood"] == pytest.approx(math.log(1 / 30))
    assert np.all(np.diff(ll[::10]) > 0)
    assert np.isnan(rec.col("val_log_likelihood")).all()  # no validation rows


def test_learning_only_touches_existing_couplings():
    for net in ({"topology": "layered", "visible": 4, "hidden": [3, 2]}, {"topology": "lattice", "size": 3}):
        data = {"source": "bars-stripes", "size": 2 if net["topology"] == "layered" else 3}
        m = M.run(
            scenario(network=net, data=data, training={"epochs": 3, "lr": 0.1, "chains": 5})[0], rec := MemoryRecord()
        )
        W, mask = rec.static_arrays["weights"], rec.static_arrays["mask"]
        assert np.all(W[mask == 0] == 0) and np.all(W == W.T) and np.abs(W[mask == 1]).min() > 0
        assert m["train_log_likelihood"] is not None
    lattice = M.coupling_mask(BMNetwork(topology="lattice", size=4, visible=None, hidden=0))
    assert (lattice.sum(axis=1) == 4).all() and lattice[0, 1] == lattice[0, 3] == lattice[0, 4] == lattice[0, 12] == 1
    layered = M.coupling_mask(BMNetwork(topology="layered", visible=4, hidden=[3, 2]))
    assert layered[:4, 7:].sum() == 0 and layered[:4, 4:7].all() and layered[4:7, 7:].all()
    assert layered[:4, :4].sum() == layered[4:7, 4:7].sum() == 0


# --------------------------------------------------------------------------- runs


def test_same_seed_same_run_and_tempering_records():
    docs = [
        dict(
            network={"visible": 30, "spins": "ising"},
            weights={"source": "hebbian", "patterns": 3},
            init={"kind": "mixture", "patterns": [0, 1, 2]},
            dynamics={"schedule": "geometric", "sweeps": 60, "order": "permutation"},
            anneal={"t_start": 1.0, "t_end": 0.1},
            record={"snapshot_every": 10},
        ),
        dict(
            network={"visible": 12},
            weights={"source": "sk"},
            dynamics={"schedule": "tempering", "sweeps": 40, "method": "metropolis"},
            tempering={"t_min": 0.3, "t_max": 2.0, "replicas": 4},
            record={"every": 5, "snapshot_every": 20},
        ),
    ]
    for doc in docs:
        spec = scenario(**doc)[0]
        a, b = MemoryRecord(), MemoryRecord()
        assert M.run(spec, a) == M.run(spec, b)
        for name in a.columns:
            np.testing.assert_array_equal(a.col(name), b.col(name))
    # the tempering run of the last doc: records along sweep x temperature and sweep x pair, as one
    # chain's: round 0 (the initial states, no swap tried yet), every 5 rounds
    np.testing.assert_array_equal(a.col("sweep"), np.arange(0, 41, 5))
    assert a.col("energy").shape == (9, 4) and a.col("swap_acceptance").shape == (9, 3)
    assert np.isnan(a.col("swap_acceptance")[0]).all()
    assert a.col("state").shape == (2, 4, 12)
    rates = a.col("swap_acceptance")[-1]
    assert np.all((rates >= 0) & (rates <= 1))
    np.testing.assert_allclose(rates, a.static_arrays["swap_accepts"] / a.static_arrays["swap_attempts"])
    # the recorded energies are the energies of the recorded states
    J, unit, bias, _ = M.make_weights(spec.settings, np.random.default_rng(spec.seed_sequence().spawn(3)[0]))
    W = unit * J
    np.testing.assert_allclose(M.energies(W, bias, a.static_arrays["initial_state"]), a.col("energy")[0], atol=1e-9)
    for snap, row in ((0, 4), (1, 8)):  # snapshots at sweeps 20 and 40, records every 5 sweeps
        np.testing.assert_allclose(M.energies(W, bias, a.col("state")[snap]), a.col("energy")[row], atol=1e-9)
    spec = scenario(**{**doc, "dynamics": {**doc["dynamics"], "sweeps": 42}})[0]
    m = M.run(spec, c := MemoryRecord())
    np.testing.assert_array_equal(c.col("sweep"), [0, 5, 10, 15, 20, 25, 30, 35, 40, 42])  # and the last round
    J, unit, bias, _ = M.make_weights(spec.settings, np.random.default_rng(spec.seed_sequence().spawn(3)[0]))
    W = unit * J
    np.testing.assert_allclose(M.energies(W, bias, c.static_arrays["final_state"]), c.col("energy")[-1], atol=1e-9)
    # lowest_energy: the lowest energy at T_min from round 0 on, never above a recorded one
    assert m["lowest_energy"] <= c.col("energy")[:, 0].min() and m["lowest_energy_any"] <= m["lowest_energy"]


def test_exact_mean_energy_metric_matches_the_chain():
    spec = scenario(
        network={"visible": 6},
        weights={"source": "sk", "coupling": 1.5},
        dynamics={"temperature": 1.0, "sweeps": 20000, "burn_in": 100},
    )[0]
    m = M.run(spec, rec := MemoryRecord())
    e = rec.col("energy")[1:]  # the records after sweep 0: those mean_energy averages
    assert m["mean_energy"] == e.mean()
    se = e.reshape(20, -1).mean(axis=1).std(ddof=1) / math.sqrt(20)  # 20 batches of 1000 sweeps
    assert abs(m["mean_energy"] - m["exact_mean_energy"]) < 5 * se


# --------------------------------------------------------------------------- validation

BAD = [
    (dict(weights={"source": "sk"}, dynamics={"temperature": 0.0}), "dynamics.temperature: must be > 0"),
    (dict(weights={"source": "sk"}, dynamics={"temperature": -1.0}), "dynamics.temperature: must be > 0"),
    (
        dict(weights={"source": "sk"}, dynamics={"schedule": "custom"}, anneal={"temperatures": []}),
        "anneal.temperatures: a custom schedule needs a non-empty list",
    ),
    (
        dict(weights={"source": "sk"}, dynamics={"schedule": "custom"}, anneal={"temperatures": [1.0, -0.5]}),
        "anneal.temperatures: every temperature must be > 0",
    ),
    (
        dict(weights={"source": "sk"}, dynamics={"schedule": "linear"}, anneal={"t_start": 2.0, "t_end": 0.0}),
        "anneal.t_end: must be > 0",
    ),
    (
        dict(weights={"source": "sk"}, dynamics={"schedule": "tempering"}, tempering={"temperatures": [1.0, 0.5]}),
        "tempering.temperatures: must be strictly increasing",
    ),
    (
        dict(weights={"source": "sk"}, dynamics={"temperature": 1.0}, record={"exact": True}, network={"visible": 30}),
        "record.exact: exact enumeration needs at most 24 units",
    ),
    (
        dict(weights={"source": "hebbian"}, dynamics={"temperature": 1.0}),
        "weights.source: hebbian weights need network.spins = 'ising'",
    ),
    (
        dict(weights={"source": "sk"}, training={}, data={"source": "bars-stripes"}),
        "weights: give [weights] (a sampling run) or [training]",
    ),
    (
        dict(network={"topology": "bipartite", "visible": 4}, weights={"source": "sk"}, dynamics={"temperature": 1.0}),
        "network.hidden: a bipartite (restricted) machine needs hidden units",
    ),
    (dict(training={}, data={"source": "bars-stripes"}), "network.visible: bars-stripes data have 16 visible units"),
    (
        dict(weights={"source": "sk"}, dynamics={"temperature": 1.0}, init={"kind": "mixture"}),
        "init.kind: 'mixture' starts from stored patterns: needs hebbian weights",
    ),
]


@pytest.mark.parametrize("doc,message", BAD)
def test_bad_settings_give_one_line_errors(doc, message):
    doc = {"network": {"visible": 4}, **doc}
    with pytest.raises(ScenarioError) as exc:
        scenario(**doc)
    assert len(exc.value.lines) == 1
    assert exc.value.lines[0].startswith("<scenario>: " + message), exc.value.lines


def test_weight_files_are_checked_in_preflight(tmp_path, write_scenario):
    W = np.zeros((4, 4))
    W[0, 1], W[1, 0] = 1.0, 0.5
    np.save(tmp_path / "asym.npy", W)
    sym = W.copy()
    sym[1, 0] = 1.0
    diag = sym.copy()
    diag[2, 2] = 0.3
    np.save(tmp_path / "diag.npy", diag)
    np.save(tmp_path / "ok.npy", sym)
    np.savez(tmp_path / "wb.npz", W=sym, b=np.arange(4.0))
    text = """
    name = "f"
    model = "boltzmann"
    seed = 1
    [network]
    topology = "{topology}"
    visible = {visible}
    hidden = {hidden}
    [weights]
    source = "file"
    path = "{path}"
    [dynamics]
    temperature = 1.0
    sweeps = 10
    """
    cases = [
        ("asym.npy", "full", 4, 0, "weights are not symmetric: W[0, 1] = 1 but W[1, 0] = 0.5"),
        ("diag.npy", "full", 4, 0, "weights have a non-zero diagonal: W[2, 2] = 0.3"),
        ("ok.npy", "full", 5, 0, "weights have shape (4, 4); the network has 5 units"),
        ("ok.npy", "bipartite", 2, 2, "W[0, 1] = 1 couples units the 'bipartite' topology does not connect"),
        ("missing.npy", "full", 4, 0, "no such data file"),
    ]
    for name, topology, visible, hidden, message in cases:
        path = write_scenario(text.format(topology=topology, visible=visible, hidden=hidden, path=name))
        with pytest.raises(ScenarioError) as exc:
            api.validate(path)
        assert len(exc.value.lines) == 1 and "weights.path: " in exc.value.lines[0]
        assert message in exc.value.lines[0], exc.value.lines
    path = write_scenario(text.format(topology="full", visible=4, hidden=0, path="ok.npy"))
    assert api.validate(path).runs
    W_, unit, b_, _ = M.make_weights(
        parse_scenario(
            {
                "name": "f",
                "model": "boltzmann",
                "seed": 1,
                "network": {"visible": 4},
                "weights": {"source": "file", "path": str(tmp_path / "wb.npz"), "key": "W", "bias_key": "b"},
                "dynamics": {"temperature": 1.0},
            }
        )
        .runs[0]
        .settings,
        np.random.default_rng(0),
    )
    np.testing.assert_array_equal(W_, sym)
    assert unit == 1.0
    np.testing.assert_array_equal(b_, np.arange(4.0))


def test_block_boundaries_do_not_change_a_run(monkeypatch):
    docs = [
        dict(
            network={"visible": 40, "spins": "ising"},
            weights={"source": "hebbian", "patterns": 2},
            init={"kind": "pattern", "flip": 0.3},
            dynamics={"schedule": "linear", "sweeps": 50},
            anneal={"t_start": 1.5, "t_end": 0.2},
            record={"every": 3, "snapshot_every": 4},
        ),
        dict(
            network={"topology": "lattice", "size": 4, "spins": "ising"},
            weights={"source": "constant"},
            dynamics={"schedule": "tempering", "sweeps": 50, "burn_in": 5},
            tempering={"temperatures": [1.5, 2.5, 4.0], "swap_every": 2},
            record={"every": 3, "snapshot_every": 4},
        ),
    ]
    for doc in docs:
        spec = scenario(**doc)[0]
        whole, pieces = MemoryRecord(), MemoryRecord()
        m_whole = M.run(spec, whole)
        monkeypatch.setattr(M, "_block", lambda *args: 7)  # blocks that cut records, snapshots and swap rounds
        m_pieces = M.run(spec, pieces)
        monkeypatch.undo()
        # integer couplings in the kernels (Hebbian, constant): fields and energies are exact, so
        # every record and metric is bit-identical
        for name in whole.columns:
            np.testing.assert_array_equal(whole.col(name), pieces.col(name), err_msg=name)
        assert m_whole == m_pieces
    np.testing.assert_array_equal(whole.col("snapshot_sweep"), np.arange(4, 51, 4))


def test_warmup_and_cost_cover_every_mode():
    M.warmup()  # a sampling, a tempering and a learning run on tiny machines
    for f in ("bm-annealing-spurious", "bm-bars-stripes", "bm-tempering-lattice"):
        for spec in api.validate(os.path.join(SCENARIOS, f + ".toml")).runs:
            assert M.cost(spec.config) > 0


def test_learning_data_files_are_checked_in_preflight(tmp_path, write_scenario):
    np.save(tmp_path / "x.npy", np.array([[0, 1, 1], [1, 0, 1]]))
    np.save(tmp_path / "bad.npy", np.array([[0, 2, 1], [1, 0, 1]]))
    text = """
    name = "d"
    model = "boltzmann"
    seed = 1
    [network]
    visible = {visible}
    [data]
    source = "file"
    path = "{path}"
    validation = 0.0
    [training]
    epochs = 1
    batch_size = {batch}
    """
    for name, visible, batch, message in [
        ("x.npy", 4, 2, "network.visible: the data have 3 columns, the network 4 visible"),
        ("bad.npy", 3, 2, "data.path: "),
        ("x.npy", 3, 3, "training.batch_size: 3 is larger than the 2 training rows"),
        ("x.npy", 3, 2, None),
    ]:
        path = write_scenario(text.format(visible=visible, path=name, batch=batch))
        if message is None:
            assert api.validate(path).runs
            continue
        with pytest.raises(ScenarioError) as exc:
            api.validate(path)
        assert len(exc.value.lines) == 1 and message in exc.value.lines[0], exc.value.lines
