"""The modern (continuous) Hopfield network of Ramsauer et al. 2020 ("Hopfield Networks is All You
Need", ICLR 2021): the numba kernels against float64 numpy references that share no code with them
(softmax and lse through ``np.logaddexp.reduce`` in log space, where the kernels subtract the
maximum; matrix products through BLAS, where the kernels loop), torch float64 where it is installed,
and the paper's results: the energy never increases (Theorems 1 and 2), one update retrieves a
well-separated pattern with an exponentially small error (Theorem 5, derived below), and the two
limits of beta.
"""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pytest

import dynet
from dynet.errors import ScenarioError
from dynet.models.modern_hopfield import driver as D
from dynet.models.modern_hopfield import kernels as K
from dynet.models.modern_hopfield.config import ModernHopfieldScenario

EPS = np.finfo(np.float64).eps


def ref_softmax(X, beta, xi):
    """``(p, lse, entropy)`` of ``softmax(beta X^T xi)`` in log space (``X``: patterns as rows)."""
    a = beta * (X @ xi)
    log_z = np.logaddexp.reduce(a)
    log_p = a - log_z
    p = np.exp(log_p)
    return p, log_z / beta, float(-(p * log_p).sum())


def ref_update(X, beta, xi):
    """``X softmax(beta X^T xi)`` (the paper's X is our ``X.T``)."""
    return X.T @ ref_softmax(X, beta, xi)[0]


def ref_energy(X, beta, xi):
    """``E = -lse(beta, X^T xi) + 1/2 xi^T xi + beta^-1 log N + 1/2 M^2``."""
    _, lse, _ = ref_softmax(X, beta, xi)
    m_sq = float((X * X).sum(axis=1).max())
    return -lse + 0.5 * float(xi @ xi) + math.log(X.shape[0]) / beta + 0.5 * m_sq


def scenario(**tables) -> ModernHopfieldScenario:
    doc = {
        "name": "t",
        "model": "modern-hopfield",
        "seed": 1,
        "network": {"dim": 32, "beta": 1.0},
        "patterns": {"source": "gaussian", "count": 16},
        "cue": {"kind": "noise", "pattern": 0, "std": 0.05},
    }
    for k, v in tables.items():
        doc[k] = {**doc.get(k, {}), **v} if k != "cue" and k != "patterns" else v
    return ModernHopfieldScenario.model_validate(doc)


def instances(n_cases: int, seed: int):
    """Random (patterns, beta, cue): Gaussian (unit norm or not) and +-1 patterns, beta over 5
    decades, cues from noisy, masked, mean and random states."""
    rng = np.random.default_rng(seed)
    for _ in range(n_cases):
        d, n = int(rng.integers(2, 40)), int(rng.integers(1, 30))
        kind = rng.integers(3)
        if kind == 0:
            X = rng.standard_normal((n, d))
            X /= np.linalg.norm(X, axis=1, keepdims=True)
        elif kind == 1:
            X = rng.standard_normal((n, d)) * rng.uniform(0.1, 3)
        else:
            X = np.where(rng.random((n, d)) < 0.5, 1.0, -1.0)
        beta = float(10 ** rng.uniform(-2, 2)) / float(np.sqrt((X * X).sum(axis=1).max()))
        cue = rng.integers(4)
        if cue == 0:
            xi = X[rng.integers(n)] + rng.uniform(0, 1) * rng.standard_normal(d)
        elif cue == 1:
            xi = X[rng.integers(n)] * (rng.random(d) < 0.5)
        elif cue == 2:
            xi = X.mean(axis=0)
        else:
            xi = rng.standard_normal(d) * rng.uniform(0.1, 3)
        yield X, beta, xi


def kernel_update(X, beta, xi):
    n, d = X.shape
    z, p, out = np.empty(n), np.empty(n), np.empty(d)
    lse, entropy = K.update(X, beta, xi, z, p, out)
    return out, p, lse, entropy


def run_states(X, beta, xi, max_steps=200, tol=1e-13):
    """The kernel's iteration from ``xi``: (rows of ``run_block``'s records, states), row 0 = ``xi``."""
    n, d = X.shape
    sq = (X * X).sum(axis=1)
    rows = max_steps
    rec = dict(
        step=np.zeros(rows, np.int64),
        energy=np.empty(rows),
        max_weight=np.empty(rows),
        entropy=np.empty(rows),
        distance_cued=np.empty(rows),
        distance_nearest=np.empty(rows),
        nearest=np.empty(rows, np.int64),
        state=np.empty((rows, d)),
        weights=np.empty((rows, n)),
    )
    x = xi.copy()
    ran, stop = K.run_block(
        X, sq, beta, math.log(n), float(sq.max()), 0, x, np.empty(d), np.empty(n), np.empty(n), max_steps, tol, 0,
        *rec.values(),
    )  # fmt: skip
    rec = {k: v[:ran] for k, v in rec.items()}
    return rec, np.vstack([xi[None, :], rec["state"]]), stop


# --------------------------------------------------------------------------- (1) the update


def test_the_update_equals_a_float64_numpy_reference():
    for X, beta, xi in instances(300, 1):
        out, p, lse, entropy = kernel_update(X, beta, xi)
        p_ref, lse_ref, h_ref = ref_softmax(X, beta, xi)
        scale = float(np.abs(X).max())
        np.testing.assert_allclose(p, p_ref, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(out, X.T @ p_ref, rtol=0, atol=1e-12 * scale)
        # lse is of the size of the similarities: compare relative to their largest magnitude
        assert abs(lse - lse_ref) <= 1e-12 * max(1.0, float(np.abs(X @ xi).max()) + math.log(len(p)) / beta)
        assert abs(entropy - h_ref) <= 1e-12 * max(1.0, math.log(len(p)))


def test_a_softmax_of_huge_similarities_does_not_overflow():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    xi = np.array([1e6, 0.0])
    out, p, lse, entropy = kernel_update(X, 1e3, xi)  # beta z up to 1e9: exp would overflow
    np.testing.assert_array_equal(out, X[0])
    assert p[0] == 1.0 and entropy == 0.0 and lse == 1e6


def test_the_update_equals_torch_float64():
    torch = pytest.importorskip("torch")
    for X, beta, xi in instances(100, 2):
        out, p, _, _ = kernel_update(X, beta, xi)
        Xt = torch.from_numpy(X)
        ref = (Xt.T @ torch.softmax(beta * (Xt @ torch.from_numpy(xi)), dim=0)).numpy()
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12 * float(np.abs(X).max()))


def test_iterated_updates_equal_the_reference_step_by_step():
    for X, beta, xi in instances(60, 3):
        rec, states, _ = run_states(X, beta, xi, max_steps=30)
        scale = float(np.abs(X).max())
        for t in range(len(states) - 1):
            np.testing.assert_allclose(states[t + 1], ref_update(X, beta, states[t]), rtol=0, atol=1e-12 * scale)
            p_ref, _, h_ref = ref_softmax(X, beta, states[t + 1])
            assert abs(rec["max_weight"][t] - p_ref.max()) <= 1e-12
            assert abs(rec["entropy"][t] - h_ref) <= 1e-12 * max(1.0, math.log(len(p_ref)))
            dist = np.linalg.norm(X - states[t + 1], axis=1)
            assert rec["distance_cued"][t] == pytest.approx(dist[0], rel=1e-12, abs=1e-12 * scale)
            assert rec["distance_nearest"][t] == pytest.approx(dist.min(), rel=1e-9, abs=1e-7 * scale)


# --------------------------------------------------------------------------- (2) the energy


def test_the_energy_never_increases_and_stays_in_its_bounds():
    """Theorem 2 (the update is CCCP): E(xi_{t+1}) <= E(xi_t). Theorem 1: 0 <= E, and E <= 2 M^2 for a
    state in the convex hull of the patterns (every state after the first update). The energies are
    recomputed by the numpy reference from the kernel's states; round-off allowance ``1e-12`` of the
    energy's largest term."""
    decreased = 0
    for X, beta, xi in instances(300, 4):
        rec, states, _ = run_states(X, beta, xi, max_steps=100)
        m_sq = float((X * X).sum(axis=1).max())
        energies = np.array([ref_energy(X, beta, s) for s in states])
        size = 1e-12 * max(1.0, m_sq, float(np.abs(states).max()) ** 2 * X.shape[1], math.log(X.shape[0]) / beta)
        np.testing.assert_allclose(rec["energy"], energies[1:], rtol=0, atol=size)
        steps = np.diff(energies)
        assert (steps <= size).all(), (steps.max(), size)
        decreased += int(steps[0] < -size)
        assert (energies >= -size).all() and (energies[1:] <= 2 * m_sq + size).all()
    assert decreased > 150  # most cues are not fixed points: the check saw the energy move


# --------------------------------------------------------------------------- (3) one-step retrieval


def test_one_update_retrieves_within_the_papers_error_bound():
    r"""Theorem 5 (exponentially small retrieval error) of Ramsauer et al. 2020, in the form

        ||f(xi) - x_i|| <= 2 eps M,   eps = (N - 1) exp(-beta (Delta_i - 2 ||xi - x_i|| M)),

    with ``Delta_i = x_i^T x_i - max_{j != i} x_i^T x_j`` and ``M = max_j ||x_j||``; and, for
    ``||xi - x_i|| <= 1 / (2 beta M)``, ``||f(xi) - x_i|| <= 2 e (N - 1) M exp(-beta Delta_i)``.
    (The paper states the first with ``max(||xi - x_i||, ||x_i^* - x_i||)`` in place of
    ``||xi - x_i||``, x_i^* the fixed point near x_i: a larger exponent's subtrahend, so a weaker bound
    than the one checked here, which holds for every xi.)

    Derivation. ``f(xi) - x_i = sum_j p_j (x_j - x_i) = sum_{j != i} p_j (x_j - x_i)``, so
    ``||f(xi) - x_i|| <= 2 M sum_{j != i} p_j = 2 M (1 - p_i)``, and
    ``1 - p_i <= sum_{j != i} p_j / p_i = sum_{j != i} exp(-beta (x_i^T xi - x_j^T xi))``. Writing
    ``xi = x_i + e``: ``x_i^T xi - x_j^T xi = x_i^T x_i - x_j^T x_i + (x_i - x_j)^T e
    >= Delta_i - ||x_i - x_j|| ||e|| >= Delta_i - 2 M ||e||``. Hence ``1 - p_i <= eps``. For
    ``||e|| <= 1 / (2 beta M)``, ``exp(2 beta M ||e||) <= e`` gives the second form.

    Checked on the exact sum ``sum_{j != i} p_j ||x_j - x_i||`` (numpy, log-space weights: relative
    round-off only) and on the kernel's update (plus its absolute round-off, a few ulps of M per
    pattern summed).
    """
    rng = np.random.default_rng(5)
    tight = second = 0
    for case in range(400):
        d, n = int(rng.integers(8, 200)), int(rng.integers(2, 200))
        X = rng.standard_normal((n, d))
        if case % 2:
            X /= np.linalg.norm(X, axis=1, keepdims=True)
        i = int(rng.integers(n))
        M = float(np.linalg.norm(X, axis=1).max())
        G = X @ X[i]
        delta = float(G[i] - np.delete(G, i).max())
        beta = float(10 ** rng.uniform(-1, 1.5)) / M**2 * max(1.0, math.log(n))
        # radii from inside the paper's sphere S_i (1 / (beta N M)) to well outside it
        r = float(10 ** rng.uniform(-3, 0)) * (delta / (2 * M) if delta > 0 else 1.0)
        if case % 5 == 0:
            r = 1.0 / (beta * n * M) * rng.uniform(0, 1)
        e = rng.standard_normal(d)
        xi = X[i] + r * e / np.linalg.norm(e)
        eps = (n - 1) * math.exp(-beta * (delta - 2 * r * M))
        bound = 2 * eps * M
        p, _, _ = ref_softmax(X, beta, xi)
        exact = float(sum(p[j] * np.linalg.norm(X[j] - X[i]) for j in range(n) if j != i))
        assert exact <= bound * (1 + 1e-12), (case, exact, bound)
        out, _, _, _ = kernel_update(X, beta, xi)
        assert np.linalg.norm(out - X[i]) <= bound * (1 + 1e-12) + 4 * n * EPS * M * math.sqrt(d), case
        if r <= 1 / (2 * beta * M):
            second += 1
            assert exact <= 2 * math.e * (n - 1) * M * math.exp(-beta * delta) * (1 + 1e-12), case
        tight += bound < 0.1 * M
    assert tight > 100 and second > 50, (tight, second)  # the bound said something in many cases


def test_a_well_separated_pattern_is_retrieved_in_one_update():
    cfg = scenario(
        network={"dim": 64, "beta": 200.0},
        patterns={"source": "gaussian", "count": 32},
        cue={"kind": "noise", "pattern": 3, "std": 0.02},
        record={"state": True},
    )
    patterns, cue = D.build(cfg, np.random.SeedSequence(7))
    rows = {}
    metrics, final = D.simulate(cfg, patterns, cue, sink=lambda **c: rows.setdefault("r", []).append(c))
    assert metrics["retrieval_step"] == 1 and metrics["retrieved"] and metrics["steps"] <= 2
    first = rows["r"][1]  # the block after the cue's row
    assert first["step"][0] == 1 and first["distance_cued"][0] <= 1e-12
    np.testing.assert_allclose(final, patterns[3], rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- (4) the limits of beta


@pytest.mark.parametrize("beta", [1e-4, 1e-3, 1e-2])
def test_small_beta_converges_to_the_mean_of_the_patterns(beta):
    r"""At a fixed point xi* = f(xi*) = sum_j p_j x_j. With ``R = max_j z_j - min_j z_j`` the spread of
    the similarities, every ``p_j`` lies in ``[exp(-beta R) / N, exp(beta R) / N]``, so
    ``||xi* - mean|| = ||sum_j (p_j - 1/N) x_j|| <= M (exp(beta R) - 1)``. xi* lies in the convex
    hull, so ``||xi*|| <= M`` and ``R <= 2 M^2``: ``||xi* - mean|| <= M (exp(2 beta M^2) - 1)``.
    Likewise ``-log p_j >= log N - beta R`` gives ``H(p) >= log N - 2 beta M^2``."""
    for source in ({"source": "gaussian", "count": 20}, {"source": "gaussian", "count": 5, "normalize": False}):
        for cue in ({"kind": "noise", "pattern": 1, "std": 0.3}, {"kind": "mean"}, {"kind": "mask", "pattern": 0}):
            cfg = scenario(network={"dim": 16, "beta": beta}, patterns=source, cue=cue, dynamics={"tol": 1e-14})
            patterns, xi = D.build(cfg, np.random.SeedSequence(11))
            metrics, final = D.simulate(cfg, patterns, xi)
            M = float(np.linalg.norm(patterns, axis=1).max())
            assert metrics["converged"]
            mean = patterns.mean(axis=0)
            assert np.linalg.norm(final - mean) <= M * math.expm1(2 * beta * M**2) + 1e-14 * M
            assert metrics["entropy"] >= math.log(len(patterns)) - 2 * beta * M**2 - 1e-12
            # and the fixed point is one: one more update moves it by at most tol
            assert np.linalg.norm(ref_update(patterns, beta, final) - final) <= 1e-13 * max(1.0, M)


def test_large_beta_retrieves_single_patterns_and_small_beta_averages():
    for beta, low, high in ((0.01, math.log(16) - 0.05, math.log(16) + 1e-12), (1000.0, 0.0, 1e-6)):
        cfg = scenario(network={"dim": 32, "beta": beta}, cue={"kind": "noise", "pattern": 5, "std": 0.03})
        patterns, xi = D.build(cfg, np.random.SeedSequence(3))
        metrics, _ = D.simulate(cfg, patterns, xi)
        assert low <= metrics["entropy"] <= high, (beta, metrics)
        assert metrics["retrieved"] is (beta > 1)
        if beta > 1:
            assert metrics["retrieval_step"] == 1 and metrics["max_weight"] == pytest.approx(1.0, abs=1e-6)


# --------------------------------------------------------------------------- driver, scenarios


def test_blocks_do_not_change_the_records():
    cfg = scenario(network={"dim": 24, "beta": 6.0}, record={"state": True, "weights": True})
    patterns, xi = D.build(cfg, np.random.SeedSequence(2))

    def collect(block):
        cols = {}
        metrics, final = D.simulate(
            cfg,
            patterns,
            xi,
            block_steps=block,
            sink=lambda **c: [cols.setdefault(k, []).append(v.copy()) for k, v in c.items()],
        )
        return metrics, final, {k: np.concatenate(v) for k, v in cols.items()}

    m1, f1, c1 = collect(1)
    m2, f2, c2 = collect(None)
    assert m1 == m2 and m1["steps"] > 3
    np.testing.assert_array_equal(f1, f2)
    for k in c1:
        np.testing.assert_array_equal(c1[k], c2[k])
    assert list(c1["step"]) == list(range(m1["steps"] + 1))
    np.testing.assert_array_equal(c1["state"][-1], f1)
    np.testing.assert_array_equal(c1["state"][0], xi)


def test_cues_and_patterns_are_what_the_scenario_says():
    cfg = scenario(
        network={"dim": 40},
        patterns={"source": "binary", "count": 6},
        cue={"kind": "mask", "pattern": 2, "fraction": 0.25},
    )
    patterns, xi = D.build(cfg, np.random.SeedSequence(0))
    assert patterns.shape == (6, 40) and set(np.unique(patterns)) == {-1.0, 1.0}
    assert (xi == 0).sum() == 10 and ((xi == 0) | (xi == patterns[2])).all()
    cfg = scenario(patterns={"source": "gaussian", "count": 4})
    patterns, xi = D.build(cfg, np.random.SeedSequence(0))
    np.testing.assert_allclose(np.linalg.norm(patterns, axis=1), 1.0, rtol=1e-14)
    again, xi2 = D.build(cfg, np.random.SeedSequence(0))
    np.testing.assert_array_equal(patterns, again)
    np.testing.assert_array_equal(xi, xi2)
    metrics, _ = D.simulate(scenario(cue={"kind": "mean"}), patterns, patterns.mean(axis=0))
    assert metrics["retrieved"] is None and metrics["final_distance"] is None


def test_a_cue_out_of_range_is_refused_in_one_line(tmp_path):
    with open("scenarios/modern-hopfield-recall.toml", "rb") as fh:
        text = fh.read().decode()
    path = tmp_path / "bad.toml"
    path.write_text(text.replace("pattern = 7", "pattern = 2000"))
    with pytest.raises(ScenarioError) as exc:
        dynet.validate(path)
    assert len(exc.value.lines) == 1 and "cue.pattern: 2000 is out of range for 2000 patterns" in exc.value.lines[0]


def _shipped_runs(name):
    scenario_ = dynet.validate(f"scenarios/{name}.toml")
    for spec in scenario_.runs:
        patterns, xi = D.build(spec.settings, spec.seed_sequence())
        metrics, _ = D.simulate(spec.settings, patterns, xi)
        yield spec.settings, metrics


def test_the_recall_scenario_retrieves_in_one_update():
    ((cfg, metrics),) = _shipped_runs("modern-hopfield-recall")
    assert metrics["retrieved"] and metrics["retrieval_step"] == 1 and metrics["steps"] <= 3
    assert metrics["initial_distance"] == pytest.approx(math.sqrt(cfg.network.dim / 2))


def test_the_beta_scenario_shows_the_regimes():
    with open("scenarios/modern-hopfield-beta.toml", "rb") as fh:
        betas = tomllib.load(fh)["sweep"]["grid"]["network.beta"]
    assert betas == sorted(betas) and betas[-1] / betas[0] >= 1e4
    by_beta = {}
    for cfg, m in _shipped_runs("modern-hopfield-beta"):
        by_beta.setdefault(cfg.network.beta, []).append(m)
    log_n = math.log(32)
    for m in by_beta[betas[0]]:  # unit-norm patterns (M = 1): H >= log N - 2 beta
        assert m["entropy"] >= log_n - 2 * betas[0] and not m["retrieved"]
    for m in by_beta[betas[-1]]:
        assert m["entropy"] < 1e-9 and m["retrieved"] and m["retrieval_step"] == 1
    mean_h = [np.mean([m["entropy"] for m in by_beta[b]]) for b in betas]
    assert any(0.05 < h < log_n - 0.05 for h in mean_h)  # the transition passes through mixtures


# --------------------------------------------------------------------------- plots

BETA_SWEEP = """
name = "mh-plot"
model = "modern-hopfield"
seed = 4
[network]
dim = 24
[patterns]
source = "gaussian"
count = 10
[cue]
kind = "noise"
pattern = 2
std = 0.05
[sweep]
replicates = 2
grid = { "network.beta" = [0.01, 1000.0] }
"""


@pytest.fixture(scope="module")
def plot_store(tmp_path_factory):
    pytest.importorskip("matplotlib")
    pytest.importorskip("xarray")
    d = tmp_path_factory.mktemp("mh-plots")
    (d / "s.toml").write_text(BETA_SWEEP)
    report = dynet.run_scenario(str(d / "s.toml"), store=str(d / "runs.zarr"))
    assert not report.failed
    return str(d / "runs.zarr"), report


def test_the_run_plot_draws_the_stored_trajectories(plot_store):
    from dynet import plots
    from dynet.plots import modern_hopfield, source

    store, report = plot_store
    big = next(r for r in report.results if r.params["network.beta"] == 1000.0 and r.replicate == 0)
    ds = source.open_run(store, big.run_id)
    fig = modern_hopfield.dynamics(ds)
    energy_ax, weights_ax, distance_ax = fig.axes
    drawn = {ln.get_label(): ln for ax in fig.axes for ln in ax.get_lines()}
    step = ds["step"].values
    assert list(step) == list(range(big.metrics["steps"] + 1))
    np.testing.assert_array_equal(drawn["E"].get_xdata(), step)
    np.testing.assert_array_equal(drawn["E"].get_ydata(), ds["energy"].values)
    np.testing.assert_array_equal(drawn["max weight max_i p_i"].get_ydata(), ds["max_weight"].values)
    np.testing.assert_allclose(drawn["entropy H(p) / log N"].get_ydata(), ds["entropy"].values / math.log(10))
    np.testing.assert_array_equal(drawn["to the cued pattern"].get_ydata(), ds["distance_cued"].values)
    np.testing.assert_array_equal(drawn["to the nearest pattern"].get_ydata(), ds["distance_nearest"].values)
    assert drawn["max weight max_i p_i"].get_ydata()[-1] == pytest.approx(1.0)
    assert distance_ax.get_xlabel() == "step" and energy_ax.get_ylabel() == "energy E"
    assert big.run_id[:10] in fig._dynet_caption and "network.beta=1000" in fig._dynet_caption
    assert list(plots.kinds(store, big.run_id)) == ["dynamics"]
    assert len(plots.plot(store, big.run_id).axes) == 3  # the natural plot of a run


def test_the_sweep_plot_draws_the_regimes_on_a_log_axis(plot_store):
    from dynet import plots

    store, report = plot_store
    fig = plots.plot(store, "mh-plot")  # the natural plot of a beta sweep
    top, bottom = fig.axes[:2]
    assert top.get_xscale() == "log" and bottom.get_xlabel() == "inverse temperature β"
    drawn = {c.get_label(): c.lines[0] for c in top.containers}
    for label, metric in (("max weight max_i p_i", "max_weight"), ("entropy H(p) / log N", "entropy")):
        line = drawn[label]
        np.testing.assert_array_equal(line.get_xdata(), [0.01, 1000.0])
        for beta, y in zip(line.get_xdata(), line.get_ydata()):
            runs = [r.metrics for r in report.results if r.params["network.beta"] == beta]
            vals = [m[metric] / (m["max_entropy"] if metric == "entropy" else 1.0) for m in runs]
            assert y == pytest.approx(np.mean(vals), rel=1e-12, abs=1e-15)
    retrieved = bottom.containers[0].lines[0].get_ydata()
    np.testing.assert_array_equal(retrieved, [0.0, 1.0])


def test_the_analysis_view_names_the_variables(plot_store):
    store, report = plot_store
    ds = dynet.open_store(store).run(report.results[0].run_id)
    assert ds["step"].attrs["long_name"] == "update step (0: the cue)"  # not an optimizer's step
    assert ds["max_weight"].attrs == {"long_name": "largest softmax weight", "units": "1"}
    assert ds["distance_cued"].dims == ("step",) and ds["patterns"].dims == ("pattern", "component")
    assert ds["entropy"].values[-1] == pytest.approx(report.results[0].metrics["entropy"], rel=1e-15)
