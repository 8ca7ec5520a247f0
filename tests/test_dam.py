"""Dense associative memories (model kind ``dam``), checked against independent numpy / exact arithmetic:
the x^2 energy is the Hebbian Hopfield network, energy never rises, every update picks the lower
energy, and the capacity grows with the power n (Krotov & Hopfield 2016) or exponentially
(Demircigil et al. 2017)."""

from __future__ import annotations

import decimal
from collections import Counter

import numpy as np
import pytest

from dynet.kernels.rng import permutation
from dynet.models.dam import kernels as K
from dynet.models.dam.config import DamScenario
from dynet.models.dam.driver import build, energy_table, simulate

FUNCTIONS = [("polynomial", 2), ("polynomial", 3), ("rectified", 3), ("exponential", 3)]


def scenario(n_units, count, function="polynomial", n=3, update="async-random", fraction=0.1, pattern=0, **dyn):
    return DamScenario.model_validate(
        {
            "name": "t",
            "model": "dam",
            "seed": 0,
            "network": {"n_units": n_units},
            "energy": {"function": function, "n": n},
            "patterns": {"source": "random", "count": count},
            "init": {"kind": "flip", "pattern": pattern, "fraction": fraction},
            "dynamics": {"update": update, **dyn},
        }
    )


def trajectory(cfg, seed, **kw):
    """(patterns, cue, kernel rng state before the run, recorded columns, metrics, final state)."""
    patterns, s0, rng_state = build(cfg, np.random.SeedSequence(seed))
    rows = []
    start = rng_state.copy()
    metrics, final = simulate(cfg, patterns, s0, rng_state, sink=lambda **c: rows.append(c), **kw)
    cols = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    return patterns, s0, start, cols, metrics, final


def exact_energy(patterns, s, function, n, digits=60):
    """E(s) = -sum_mu F(xi_mu . s): a Python int, or a Decimal of ``digits`` digits for exp."""
    m = [int(v) for v in patterns.astype(np.int64) @ s.astype(np.int64)]
    if function == "polynomial":
        return -sum(x**n for x in m)
    if function == "rectified":
        return -sum(max(x, 0) ** n for x in m)
    with decimal.localcontext() as ctx:
        ctx.prec = digits
        return -sum(decimal.Decimal(x).exp() for x in m)


# --------------------------------------------------------------------------- (1) x^2 is Hebbian Hopfield


def hebbian_reference(patterns, s0, update, orders, sweeps):
    """The classic Hopfield update with W = X^T X, zero diagonal; ties keep the state."""
    x = patterns.astype(np.int64)
    w = x.T @ x
    np.fill_diagonal(w, 0)
    s = s0.astype(np.int64).copy()
    states = [s.copy()]
    for t in range(sweeps):
        if update == "sync":
            h = w @ s
            s = np.where(h > 0, 1, np.where(h < 0, -1, s))
        else:
            for i in orders[t]:
                h = w[i] @ s
                if h != 0:
                    s[i] = 1 if h > 0 else -1
        states.append(s.copy())
    return np.array(states, np.int8)


@pytest.mark.parametrize("update", ["async-sequential", "async-random", "sync"])
def test_square_energy_is_the_hebbian_hopfield_update_bit_for_bit(update):
    n_units, ties = 60, 0
    for seed in range(6):
        # near the classic capacity, a heavily corrupted cue: many sweeps and flips, some exact ties
        cfg = scenario(n_units, 10, n=2, update=update, fraction=0.3, max_sweeps=30)
        patterns, s0, start, cols, _, final = trajectory(cfg, seed)
        sweeps = len(cols["sweep"]) - 1
        orders = []
        for _ in range(sweeps):
            if update == "async-random":
                perm = np.empty(n_units, np.int64)
                permutation(perm, start)
                orders.append(perm)
            else:
                orders.append(np.arange(n_units))
        ref = hebbian_reference(patterns, s0, update, orders, sweeps)
        assert np.array_equal(cols["state"], ref)
        assert np.array_equal(final, ref[-1])
        x = patterns.astype(np.int64)
        w = x.T @ x
        np.fill_diagonal(w, 0)
        ties += int(np.sum(w @ ref[0].astype(np.int64) == 0))
    assert ties > 0  # the tie rule was exercised


# --------------------------------------------------------------------------- (2) energy never rises


@pytest.mark.parametrize("function,n", FUNCTIONS)
@pytest.mark.parametrize("update", ["async-random", "async-sequential"])
def test_energy_never_increases_along_an_asynchronous_trajectory(function, n, update):
    n_units = 50
    count = {("polynomial", 2): 8, ("polynomial", 3): 60, ("rectified", 3): 60, ("exponential", 3): 150}[(function, n)]
    moved = 0
    for seed in range(4):
        cfg = scenario(n_units, count, function, n, update, fraction=0.45, max_sweeps=50)
        patterns, _, _, cols, metrics, final = trajectory(cfg, seed)
        energies = [exact_energy(patterns, s, function, n) for s in cols["state"]]
        assert cols["flips"][0] == 0
        for t in range(1, len(energies)):
            if cols["flips"][t]:
                assert energies[t] < energies[t - 1]
                moved += 1
            else:
                assert energies[t] == energies[t - 1]
        assert np.array_equal(cols["state"][-1], final)
        # the recorded energy: E/N, or -log(-E)/N for the exponential F
        if function == "exponential":
            expect = [float(-(-e).ln() / n_units) for e in energies]
        else:
            expect = [e / n_units for e in energies]
        np.testing.assert_allclose(cols["energy"], expect, rtol=1e-12)
        assert metrics["final_energy"] == cols["energy"][-1]
        assert metrics["converged"] == (cols["flips"][-1] == 0)
    assert moved >= 4


# --------------------------------------------------------------------------- (3) the lower energy wins


@pytest.mark.parametrize("function,n", FUNCTIONS + [("polynomial", 4), ("rectified", 2)])
def test_each_update_takes_the_state_of_lower_energy(function, n):
    rng = np.random.default_rng(11)
    n_units = 11
    table, shifted = energy_table(function, n, n_units)
    counts = np.zeros(2 * n_units + 1, np.int64)
    ties = 0
    for case in range(60):
        n_pat = int(rng.integers(1, 25))
        patterns = np.where(rng.random((n_pat, n_units)) < 0.5, 1, -1).astype(np.int8)
        s = np.where(rng.random(n_units) < 0.5, 1, -1).astype(np.int8)
        m = np.empty(n_pat, np.int64)
        K.overlaps(patterns, s, m)
        expect = s.copy()
        for i in range(n_units):
            up, down = expect.copy(), expect.copy()
            up[i], down[i] = 1, -1
            e_up, e_down = exact_energy(patterns, up, function, n), exact_energy(patterns, down, function, n)
            if function == "exponential":  # e is transcendental: equal sums of e^k have equal exponents
                mu_up = Counter((patterns.astype(np.int64) @ up.astype(np.int64)).tolist())
                tie = mu_up == Counter((patterns.astype(np.int64) @ down.astype(np.int64)).tolist())
                assert tie == (e_up == e_down)
            else:
                tie = e_up == e_down
            # the kernel's preference, at the state the sweep has reached
            mm = np.empty(n_pat, np.int64)
            K.overlaps(patterns, expect, mm)
            d = K.preference(patterns, table, shifted, expect, mm, i, counts)
            if tie:
                assert d == 0.0
                ties += 1
            else:
                assert (d > 0) == (e_up < e_down), (case, i, d, e_up, e_down)
                expect[i] = 1 if e_up < e_down else -1
        flips = K.async_sweep(patterns, table, shifted, s, m, np.arange(n_units, dtype=np.int64), counts)
        assert np.array_equal(s, expect)
        assert np.array_equal(m, patterns.astype(np.int64) @ s.astype(np.int64))  # kept current exactly
        assert flips >= 0
    assert ties > 0


# --------------------------------------------------------------------------- (4), (5) capacity


def recall_rate(n_units, count, function, n, cues, fraction=0.1):
    hits = 0
    for seed in range(cues):
        cfg = scenario(n_units, count, function, n, fraction=fraction, pattern=seed % count, max_sweeps=50)
        patterns, s0, rng_state = build(cfg, np.random.SeedSequence(seed))
        metrics, final = simulate(cfg, patterns, s0, rng_state)
        assert metrics["recalled"] == (metrics["final_overlap"] >= 0.9)
        assert metrics["exact"] == bool(np.array_equal(final, patterns[cfg.init.pattern]))
        hits += metrics["exact"]
    return hits / cues


def test_cubic_energy_recalls_where_the_classic_network_fails():
    # N = 100: the classic capacity is ~0.138 N ~ 14 patterns; P_max grows as N^(n-1)
    assert recall_rate(100, 40, "polynomial", 2, 20) <= 0.2
    assert recall_rate(100, 40, "polynomial", 3, 20) >= 0.9
    assert recall_rate(100, 200, "polynomial", 3, 20) >= 0.9  # P = 2N, 14 times the classic capacity


def test_exponential_energy_recalls_far_beyond_n_patterns():
    assert recall_rate(50, 200, "exponential", 3, 20) >= 0.9


def test_exponential_energy_is_finite_where_exp_n_overflows():
    # exp(1000) overflows float64: the kernels work with exp(x - top)
    cfg = scenario(1000, 30, "exponential", fraction=0.3, max_sweeps=10)
    patterns, _, _, cols, metrics, final = trajectory(cfg, 5)
    assert np.isfinite(cols["energy"]).all()
    assert metrics["exact"] and metrics["converged"]
    assert metrics["final_energy"] == pytest.approx(-1.0, abs=0.01)  # -log(e^N + ...)/N at a stored pattern


def test_blocks_do_not_change_the_result():
    cfg = scenario(60, 10, n=2, fraction=0.35, max_sweeps=40)
    *_, a, ma, fa = trajectory(cfg, 3)
    *_, b, mb, fb = trajectory(cfg, 3, block_sweeps=1)
    assert len(a["sweep"]) > 3
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert ma == mb and np.array_equal(fa, fb)
    assert np.array_equal(a["sweep"], np.arange(len(a["sweep"])))


# --------------------------------------------------------------------------- plots


def test_plots_draw_the_stored_run_and_the_capacity_sweep(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("pandas")
    from dynet import api, plots
    from dynet.plots import dam, source

    text = """
name = "dam-plot"
model = "dam"
seed = 4
[network]
n_units = 40
[energy]
n = 2
[patterns]
source = "random"
count = 8
[init]
kind = "flip"
fraction = 0.3
[sweep]
grid = { "energy.n" = [2, 3], "patterns.count" = [2, 8] }
"""
    path = tmp_path / "dam-plot.toml"
    path.write_text(text)
    store = tmp_path / "s.zarr"
    report = api.run_scenario(str(path), store=store)
    assert not report.failed and len(report.results) == 4
    rid = next(r.run_id for r in report.results if r.params == {"energy.n": 2, "patterns.count": 8})
    ds = source.open_run(store, rid)
    assert plots.kinds(store, rid) == {"energy": "energy per unit, overlap with the cue and flips against sweep"}
    fig = plots.plot(store, rid)  # the natural plot of a run
    top, bottom = fig.axes[0], fig.axes[1]
    (e,) = [ln for ln in top.get_lines() if ln.get_label() == "E / N"]
    np.testing.assert_array_equal(e.get_xdata(), ds["sweep"].values)
    np.testing.assert_array_equal(e.get_ydata(), ds["energy"].values)
    (o,) = [ln for ln in bottom.get_lines() if ln.get_label() == "pattern 0 (cue)"]
    np.testing.assert_array_equal(o.get_ydata(), ds["overlap"].values)
    bars = [p.get_height() for p in fig.axes[2].patches]
    np.testing.assert_array_equal(bars, ds["flips"].values)
    assert top.get_ylabel() == "energy per unit E / N" and bottom.get_xlabel() == "sweep"
    assert fig._suptitle.get_text().startswith("Dense associative memory")

    fig = plots.plot(store, "dam-plot")  # the natural plot of the sweep: capacity
    recall = fig.axes[0]
    df = source.runs_frame(store, "dam-plot")
    drawn = {c.get_label(): c.lines[0] for c in recall.containers}
    assert set(drawn) == {"n=2", "n=3"}
    for n in (2, 3):
        rows = df[df["energy.n"] == n].sort_values("n_patterns")
        np.testing.assert_array_equal(drawn[f"n={n}"].get_xdata(), rows["n_patterns"].values)
        np.testing.assert_array_equal(drawn[f"n={n}"].get_ydata(), rows["recalled"].astype(float).values)
    assert dam.energy_label({"energy": {"function": "exponential"}}) == "-log(-E) / N"


def test_exponential_preference_is_right_when_the_largest_overlaps_cancel():
    # unit i: patterns 0 and 1 agree except at i, so their terms swap between s_i = +1 and -1 and
    # cancel exactly (at exp(~800)); pattern 2, anti-aligned (exp(~-800)), decides: a sum shifted
    # by the largest overlap would lose it below float64's range (relative size e^-1600)
    rng = np.random.default_rng(3)
    n_units, i = 800, 17
    xi0 = np.where(rng.random(n_units) < 0.5, 1, -1).astype(np.int8)
    xi1 = xi0.copy()
    xi1[i] = -xi0[i]
    xi2 = -xi0
    xi2[:5] = xi0[:5]
    xi2[i] = xi0[i]  # pattern 2 prefers s_i = xi0[i]
    patterns = np.stack([xi0, xi1, xi2])
    table, shifted = energy_table("exponential", 3, n_units)
    counts = np.zeros(2 * n_units + 1, np.int64)
    for flip_i in (False, True):
        s = xi0.copy()
        if flip_i:
            s[i] = -s[i]
        m = patterns.astype(np.int64) @ s.astype(np.int64)
        d = K.preference(patterns, table, shifted, s, m, i, counts)
        up, down = s.copy(), s.copy()
        up[i], down[i] = 1, -1
        # 1500 digits resolve e^-800 against e^800
        e_up = exact_energy(patterns, up, "exponential", 0, digits=1500)
        e_down = exact_energy(patterns, down, "exponential", 0, digits=1500)
        assert e_up != e_down
        assert d != 0 and (d > 0) == (e_up < e_down) == (xi0[i] > 0)
        # and the energy still reads -log(-E)/N at this size
        assert K.energy(table, shifted, m, n_units) == pytest.approx(
            float(-(-exact_energy(patterns, s, "exponential", 0)).ln() / n_units)
        )


def test_a_polynomial_energy_that_would_overflow_is_refused_naming_its_key(tmp_path):
    import dynet
    from dynet.errors import ScenarioError

    text = """
name = "big"
model = "dam"
seed = 1
[network]
n_units = 65536
[energy]
n = {n}
[patterns]
source = "random"
count = 10
[init]
kind = "flip"
"""
    path = tmp_path / "big.toml"
    path.write_text(text.format(n=64))  # 2 * 10 * 65536^64 > 2^1023
    with pytest.raises(ScenarioError) as exc:
        dynet.validate(path)
    (line,) = exc.value.lines
    assert " energy.n: " in line and "overflows float64" in line, line
    path.write_text(text.format(n=63))
    assert dynet.validate(path).runs
    table, _ = energy_table("polynomial", 63, 65536)
    assert np.isfinite(table).all()
