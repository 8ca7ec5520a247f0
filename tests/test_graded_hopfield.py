"""Hopfield's graded-response network (Hopfield 1984, "Neurons with graded response have collective
computational properties like those of two-state neurons"): the numba kernels against references
that cannot be wrong the same way: hand-written numpy steps (matrix products through BLAS where the
kernels loop; the Dormand-Prince tableau as a matrix), scipy's DOP853 at a tight tolerance, the
closed-form energy against a quadrature of g^-1, a finite-difference dE/dt against Hopfield's
-sum g'(u) (du/dt)^2, and the binary Hopfield network's fixed point at large gain.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import dynet
from dynet.errors import ScenarioError
from dynet.models.graded_hopfield import driver as D
from dynet.models.graded_hopfield import kernels as K
from dynet.models.graded_hopfield.config import GradedHopfieldScenario

EPS = np.finfo(np.float64).eps


def scenario(**tables) -> GradedHopfieldScenario:
    doc = {
        "name": "t",
        "model": "graded-hopfield",
        "seed": 1,
        "network": {"n_units": 40, "gain": 4.0},
        "patterns": {"source": "random", "count": 3},
        "init": {"kind": "flip", "pattern": 0, "fraction": 0.2, "amplitude": 0.5},
    }
    for k, v in tables.items():
        doc[k] = {**doc.get(k, {}), **v}
    return GradedHopfieldScenario.model_validate(doc)


def random_net(rng, n=None):
    """A random symmetric, zero-diagonal W (Hebbian or Gaussian), input, tau, gain and u."""
    n = n or int(rng.integers(3, 30))
    if rng.random() < 0.5:
        x = np.where(rng.random((int(rng.integers(1, 6)), n)) < 0.5, 1.0, -1.0)
        w = x.T @ x / n
    else:
        a = rng.standard_normal((n, n)) / math.sqrt(n)
        w = (a + a.T) / 2
    np.fill_diagonal(w, 0.0)
    inp = float(rng.normal(0, 0.2)) if rng.random() < 0.5 else 0.0
    tau, gain = float(rng.uniform(0.3, 3)), float(10 ** rng.uniform(-0.5, 1.5))
    u = rng.normal(0, 1.5 / gain, n)
    return w, inp, tau, gain, u


def f_ref(w, inp, tau, gain, u):
    return -u / tau + w @ np.tanh(gain * u) + inp


def energy_ref(w, inp, tau, gain, u):
    """Hopfield's energy with the integral in its V form: (V artanh V + 1/2 log(1 - V^2)) / gain."""
    v = np.tanh(gain * u)
    integral = (v * np.arctanh(v) + 0.5 * np.log1p(-v * v)) / gain
    return -0.5 * v @ w @ v - inp * v.sum() + integral.sum() / tau


def kernel_steps(w, inp, tau, gain, u0, method, *, dt=0.05, t_max=10.0, rtol=1e-6, atol=1e-9, tol=0.0, rows=None,
                 xi=None, max_steps=10**6):  # fmt: skip
    """Run ``run_block`` one row per call; returns u after every step (row 0 = u0), the records and
    ``k1 = f(u)`` before every step, and the final counts and stop code."""
    n = u0.shape[0]
    xi = np.ones(n) if xi is None else xi
    u = u0.copy()
    work = np.zeros((K.WORK_ROWS, n))
    K.derivative(w, inp, tau, gain, u, work[1], work[2], work[0])
    clock, counts = np.array([0.0, dt]), np.zeros(2, np.int64)
    us, ks, recs, stop = [u.copy()], [work[0].copy()], [], K.RUNNING
    while stop == K.RUNNING and (rows is None or len(recs) < rows):
        out = dict(step=np.zeros(1, np.int64), t=np.zeros(1), dt=np.zeros(1), energy=np.zeros(1),
                   overlap=np.zeros(1), speed=np.zeros(1), state=np.zeros((1, 0)))  # fmt: skip
        got, stop = K.run_block(w, inp, tau, gain, K.METHOD_CODES[method], xi, u, work, clock, counts, t_max, dt,
                                rtol, atol, tol, max_steps, 1, *out.values())  # fmt: skip
        assert got == 1
        recs.append({k: v[0] for k, v in out.items() if k != "state"})
        us.append(u.copy())
        ks.append(work[0].copy())
    return np.array(us), np.array(ks), recs, counts.copy(), stop


# --------------------------------------------------------------------------- one step, exactly


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_one_fixed_step_equals_a_numpy_step(method):
    rng = np.random.default_rng(1)
    for _ in range(20):
        w, inp, tau, gain, u = random_net(rng)
        h = float(rng.uniform(0.001, 0.2))
        us, _, recs, _, _ = kernel_steps(w, inp, tau, gain, u, method, dt=h, rows=1)
        if method == "euler":
            ref = u + h * f_ref(w, inp, tau, gain, u)
        else:
            k1 = f_ref(w, inp, tau, gain, u)
            k2 = f_ref(w, inp, tau, gain, u + h / 2 * k1)
            k3 = f_ref(w, inp, tau, gain, u + h / 2 * k2)
            k4 = f_ref(w, inp, tau, gain, u + h * k3)
            ref = u + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        np.testing.assert_allclose(us[1], ref, rtol=0, atol=1e-13)
        assert recs[0]["t"] == h and recs[0]["dt"] == h and recs[0]["step"] == 1
        assert recs[0]["energy"] == pytest.approx(energy_ref(w, inp, tau, gain, us[1]), rel=1e-12, abs=1e-13)
        assert recs[0]["speed"] == pytest.approx(np.abs(f_ref(w, inp, tau, gain, us[1])).max(), rel=1e-12)


# Dormand & Prince (1980) as printed (Hairer, Norsett & Wanner, Table II.5.2), written independently
DP_C = np.array([0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1])
DP_A = np.array(
    [
        [0, 0, 0, 0, 0, 0],
        [1 / 5, 0, 0, 0, 0, 0],
        [3 / 40, 9 / 40, 0, 0, 0, 0],
        [44 / 45, -56 / 15, 32 / 9, 0, 0, 0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0, 0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0],
        [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
    ]
)
DP_B5 = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0])
DP_B4 = np.array([5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40])


def test_one_dopri5_step_equals_the_tableau():
    rng = np.random.default_rng(2)
    assert np.allclose(DP_A.sum(axis=1), DP_C[: -0 or None][: DP_A.shape[0]])  # the rows sum to c
    for _ in range(20):
        w, inp, tau, gain, u = random_net(rng)
        h, rtol, atol = float(rng.uniform(0.001, 0.3)), 1e-3, 1e-6
        ks = np.zeros((7, u.size))
        for s in range(7):
            ks[s] = f_ref(w, inp, tau, gain, u + h * DP_A[s, :s] @ ks[:s] if s else u)
        u5 = u + h * DP_B5 @ ks
        ks7 = f_ref(w, inp, tau, gain, u5)
        err = h * ((DP_B5 - DP_B4)[:6] @ ks[:6] - DP_B4[6] * ks7)
        norm = math.sqrt(np.mean((err / (atol + rtol * np.maximum(abs(u), abs(u5)))) ** 2))
        n = u.size
        k = [np.zeros(n) for _ in range(7)]
        k[0][:] = f_ref(w, inp, tau, gain, u)
        u_new, tmp, v, wv = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
        got = K.dopri5_step(w, inp, tau, gain, u, h, rtol, atol, *k, tmp, v, wv, u_new)
        np.testing.assert_allclose(u_new, u5, rtol=0, atol=1e-13)
        np.testing.assert_allclose(k[6], ks7, rtol=0, atol=1e-12)
        np.testing.assert_allclose(v, np.tanh(gain * u_new), rtol=0, atol=2e-16)  # left at u_new (FSAL)
        assert got == pytest.approx(norm, rel=1e-9, abs=1e-9)


def test_the_energy_is_the_closed_form_of_hopfields_integral():
    quad = pytest.importorskip("scipy.integrate").quad
    rng = np.random.default_rng(3)
    for _ in range(10):
        w, inp, tau, gain, u = random_net(rng)
        v = np.tanh(gain * u)
        integral = sum(quad(lambda x, g=gain: np.arctanh(x) / g, 0.0, vi, epsabs=1e-14, epsrel=1e-12)[0] for vi in v)
        ref = -0.5 * v @ w @ v - inp * v.sum() + integral / tau
        n = u.size
        vv, wv, out = np.zeros(n), np.zeros(n), np.zeros(n)
        K.derivative(w, inp, tau, gain, u, vv, wv, out)
        assert K.energy(inp, tau, gain, u, vv, wv) == pytest.approx(ref, rel=1e-9, abs=1e-11)
    # where V rounds to +-1 the potential form stays finite and exact: log cosh(x) = |x| - log 2 + ...
    assert K.log_cosh(800.0) == 800.0 - math.log(2.0) and K.log_cosh(-1e-3) == pytest.approx(5e-7, rel=1e-6)


# --------------------------------------------------------------------------- against scipy


def test_the_adaptive_solution_agrees_with_scipy_within_its_tolerance():
    solve_ivp = pytest.importorskip("scipy.integrate").solve_ivp
    rng = np.random.default_rng(4)
    for _ in range(6):
        w, inp, tau, gain, u0 = random_net(rng, n=int(rng.integers(5, 25)))
        rtol, atol = 1e-8, 1e-10
        us, _, recs, counts, stop = kernel_steps(w, inp, tau, gain, u0, "dopri5", t_max=8.0, rtol=rtol, atol=atol)
        t = np.array([r["t"] for r in recs])
        assert stop == K.T_MAX and t[-1] == 8.0 and counts[0] == len(recs)
        ref = solve_ivp(lambda _, y, a=(w, inp, tau, gain): f_ref(*a, y), (0, 8.0), u0, method="DOP853", t_eval=t,
                        rtol=1e-13, atol=1e-15)  # fmt: skip
        # a global error bound from the local one: each accepted step's error is at most
        # sqrt(N) (atol + rtol |u|) in its largest component (the error norm is an rms <= 1); the
        # sum of those over the steps bounds the global error of a contracting or mildly
        # expanding flow over this span (exp(L t) with L t <~ 1 over a step of the trajectory).
        scale = math.sqrt(u0.size) * (atol + rtol * np.abs(us[1:]).max(axis=1))
        bound = np.cumsum(scale) * math.e
        dev = np.abs(us[1:] - ref.y.T).max(axis=1)
        assert (dev <= bound).all(), (dev / bound).max()


# --------------------------------------------------------------------------- the Lyapunov function


def rounding(w, inp, tau, gain, u):
    """A few ulps of the energy's largest terms: what its evaluation may lose."""
    v = np.tanh(gain * u)
    x = gain * u
    terms = 0.5 * np.abs(v * (w @ v)).sum() + abs(inp) * np.abs(v).sum() + np.abs(x * v).sum() / (gain * tau)
    return 8 * u.size * EPS * max(terms, 1.0)


def test_the_energy_never_increases_beyond_the_integrators_tolerance():
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(8):
        w, inp, tau, gain, u0 = random_net(rng)
        for method, kw in (("dopri5", dict(rtol=1e-6, atol=1e-9)), ("rk4", dict(dt=0.01)), ("euler", dict(dt=0.002))):
            us, ks, recs, _, _ = kernel_steps(w, inp, tau, gain, u0, method, t_max=5.0, **kw)
            e = np.array([energy_ref(w, inp, tau, gain, us[0])] + [r["energy"] for r in recs])
            de = np.diff(e)
            # the exact flow's energy falls; a dopri5 step may raise it by at most |dE/du| . (local
            # error), dE/du = -g'(u) f(u), the local error at most sqrt(N)(atol + rtol |u|) per component
            # (its rms norm is <= 1). The fixed steps get nothing beyond rounding: at dt = 0.01 (RK4,
            # local error ~dt^5) and 0.002 (Euler, ~dt^2) their errors stay below the energy's fall.
            gp = gain * (1 - np.tanh(gain * us[:-1]) ** 2)
            if method == "dopri5":
                loc = math.sqrt(u0.size) * (kw["atol"] + kw["rtol"] * np.maximum(abs(us[:-1]), abs(us[1:])))
                allowance = (gp * np.abs(ks[:-1]) * loc).sum(axis=1)
            else:
                allowance = np.zeros(len(de))
            allowance += np.array([rounding(w, inp, tau, gain, x) for x in us[1:]])
            assert (de <= allowance).all(), (method, (de - allowance).max())
            checked += len(de)
    assert checked > 1000


def test_de_dt_is_minus_the_sum_of_g_prime_times_du_dt_squared():
    rng = np.random.default_rng(6)
    for _ in range(4):
        w, inp, tau, gain, u0 = random_net(rng, n=20)
        h = 1e-3
        us, ks, recs, _, _ = kernel_steps(w, inp, tau, gain, u0, "rk4", dt=h, t_max=1.0)
        e = np.array([energy_ref(w, inp, tau, gain, us[0])] + [r["energy"] for r in recs])
        fd = (e[2:] - e[:-2]) / (2 * h)  # central differences at steps 1 .. n-1
        gp = gain * (1 - np.tanh(gain * us[1:-1]) ** 2)
        hopfield = -(gp * ks[1:-1] ** 2).sum(axis=1)
        assert (hopfield <= 0).all()
        # the central difference errs by h^2/6 |E'''| plus rounding of E over 2h
        np.testing.assert_allclose(fd, hopfield, rtol=1e-4, atol=1e-9)


# --------------------------------------------------------------------------- limits


def binary_fixed_point(w, s, order):
    """Asynchronous zero-temperature Hopfield updates in ``order`` (repeated) to a fixed point."""
    s = s.copy()
    while True:
        flips = 0
        for i in order:
            h = w[i] @ s
            new = s[i] if h == 0 else (1.0 if h > 0 else -1.0)
            flips += new != s[i]
            s[i] = new
        if not flips:
            return s


def test_at_high_gain_the_signs_end_at_the_binary_networks_fixed_point():
    compared, spurious = 0, 0
    for seed in range(30):
        cfg = scenario(
            network={"n_units": 100, "gain": 200.0},
            patterns={"source": "random", "count": 12},
            init={"kind": "flip", "pattern": 0, "fraction": 0.15, "amplitude": 0.5},
            integrator={"rtol": 1e-10, "atol": 1e-12},
            dynamics={"t_max": 100.0, "tol": 1e-6},
        )
        patterns, w, s0, u0 = D.build(cfg, np.random.SeedSequence(seed))
        rng = np.random.default_rng(seed)
        fixed = {tuple(binary_fixed_point(w, s0.astype(float), rng.permutation(100))) for _ in range(8)}
        if len(fixed) != 1:
            continue  # the binary network's fixed point depends on the order: no single answer
        (target,) = fixed
        metrics, u = D.simulate(cfg, patterns, w, u0)
        assert metrics["converged"]
        np.testing.assert_array_equal(np.sign(u), target)
        compared += 1
        spurious += not np.array_equal(target, patterns[0])
    assert compared >= 20 and spurious >= 2  # some fixed points are not the cued pattern


def test_below_the_critical_gain_every_state_decays_to_zero():
    cfg = scenario(network={"n_units": 50, "gain": 1.0}, patterns={"source": "random", "count": 4})
    patterns, w, _, u0 = D.build(cfg, np.random.SeedSequence(7))
    mu = np.linalg.eigvalsh(w)[-1]
    lam_c = 1.0 / mu
    low = scenario(
        network={"n_units": 50, "gain": 0.8 * lam_c},
        patterns={"source": "random", "count": 4},
        dynamics={"tol": 1e-9, "t_max": 300.0},
    )
    m, u = D.simulate(low, patterns, w, u0)
    assert m["critical_gain"] == pytest.approx(lam_c, rel=1e-12)
    assert m["converged"] and m["mean_abs_output"] < 1e-6 and abs(m["final_overlap"]) < 1e-6 and not m["recalled"]
    high = scenario(network={"n_units": 50, "gain": 4 * lam_c}, patterns={"source": "random", "count": 4})
    m, u = D.simulate(high, patterns, w, u0)
    assert m["mean_abs_output"] > 0.5


# --------------------------------------------------------------------------- the driver


def test_blocks_do_not_change_the_records():
    cfg = scenario(record={"state": True}, dynamics={"t_max": 20.0})
    patterns, w, s0, u0 = D.build(cfg, np.random.SeedSequence(2))

    def collect(block):
        cols = {}
        metrics, final = D.simulate(
            cfg, patterns, w, u0, block_rows=block,
            sink=lambda **c: [cols.setdefault(k, []).append(v.copy()) for k, v in c.items()],
        )  # fmt: skip
        return metrics, final, {k: np.concatenate(v) for k, v in cols.items()}

    m1, f1, c1 = collect(1)
    m2, f2, c2 = collect(None)
    assert m1 == m2 and m1["steps"] > 10
    np.testing.assert_array_equal(f1, f2)
    for k in c1:
        np.testing.assert_array_equal(c1[k], c2[k])
    assert list(c1["step"]) == list(range(m1["steps"] + 1)) and c1["t"][0] == 0 and c1["dt"][0] == 0
    np.testing.assert_allclose(np.cumsum(c1["dt"]), c1["t"], rtol=1e-12)
    np.testing.assert_allclose(c1["state"][0], 0.5 * s0, rtol=1e-15)
    np.testing.assert_allclose(c1["state"][-1], np.tanh(cfg.network.gain * f1), rtol=0, atol=2e-16)
    assert m1["min_dt"] == c1["dt"][1:].min() and m1["max_dt"] == c1["dt"][1:].max()


def test_the_cue_weights_and_fixed_steps_are_what_the_scenario_says():
    cfg = scenario(integrator={"method": "rk4", "dt": 0.3}, dynamics={"t_max": 1.0, "tol": 0.0})
    patterns, w, s0, u0 = D.build(cfg, np.random.SeedSequence(0))
    assert patterns.shape == (3, 40) and (np.abs(s0) == 1).all() and (s0 != patterns[0]).sum() == 8
    x = patterns.astype(float)
    np.testing.assert_allclose(w, (x.T @ x - 3 * np.eye(40)) / 40, rtol=0, atol=1e-16)
    np.testing.assert_allclose(np.tanh(cfg.network.gain * u0), 0.5 * s0, rtol=1e-15)
    cols = {}
    m, _ = D.simulate(cfg, patterns, w, u0, sink=lambda **c: [cols.setdefault(k, []).append(v) for k, v in c.items()])
    t = np.concatenate(cols["t"])
    np.testing.assert_allclose(t, [0, 0.3, 0.6, 0.3 * 3, 1.0], rtol=0, atol=1e-15)  # the last step ends at t_max
    assert m["steps"] == 4 and m["stop_reason"] == "t_max" and m["rejected_steps"] == 0 and m["t_final"] == 1.0


def test_settings_out_of_range_are_refused_in_one_line(tmp_path):
    text = open("scenarios/graded-hopfield-recall.toml").read()
    for old, new, message in (
        ("pattern = 3", "pattern = 10", "init.pattern: 10 is out of range for 10 patterns"),
        ("dt = 0.05", 'dt = 1e-6\nmethod = "rk4"', "integrator.dt: t_max / dt = 100000000 fixed steps"),
        ("amplitude = 0.2", "amplitude = 1.0", "init.amplitude"),
    ):
        path = tmp_path / "bad.toml"
        bad = text.replace(old, new).replace('method = "dopri5"\n', "")
        path.write_text(bad)
        with pytest.raises(ScenarioError) as exc:
            dynet.validate(path)
        assert len(exc.value.lines) == 1 and message in exc.value.lines[0], exc.value.lines


# --------------------------------------------------------------------------- the shipped scenarios


def _shipped_runs(name):
    for spec in dynet.validate(f"scenarios/{name}.toml").runs:
        patterns, w, _, u0 = D.build(spec.settings, spec.seed_sequence())
        cols = {}
        metrics, _ = D.simulate(
            spec.settings,
            patterns,
            w,
            u0,
            sink=lambda cols=cols, **c: [cols.setdefault(k, []).append(v) for k, v in c.items()],
        )
        yield spec.settings, metrics, {k: np.concatenate(v) for k, v in cols.items()}


def test_the_gain_scenario_goes_from_zero_to_recall():
    by_gain = {}
    for cfg, m, _ in _shipped_runs("graded-hopfield-gain"):
        by_gain.setdefault(cfg.network.gain, []).append(m)
    gains = sorted(by_gain)
    for g in gains:
        for m in by_gain[g]:
            if g < m["critical_gain"] * 0.9:  # a contraction: the origin attracts everything
                assert m["mean_abs_output"] < 1e-4 and not m["recalled"]
    assert all(m["mean_abs_output"] < 1e-6 and m["converged"] for m in by_gain[gains[0]])
    for g in gains[-3:]:
        assert sum(m["recalled"] for m in by_gain[g]) >= 1
    assert all(m["exact"] and m["final_overlap"] > 0.999 for m in by_gain[gains[-1]])
    mean_overlap = [np.mean([m["final_overlap"] for m in by_gain[g]]) for g in gains]
    assert mean_overlap[0] < 0.01 and mean_overlap[-1] > 0.99


def test_the_recall_scenario_recalls_with_a_falling_energy_and_adapted_steps():
    ((cfg, m, cols),) = _shipped_runs("graded-hopfield-recall")
    assert m["recalled"] and m["exact"] and m["converged"] and m["final_overlap"] > 0.999
    assert m["initial_overlap"] == pytest.approx(0.2 * 0.5)  # 25% flipped: overlap 0.5 times |V| = 0.2
    assert (np.diff(cols["energy"]) <= 1e-9).all()
    assert cols["dt"][1:].max() > 20 * cols["dt"][1:].min()  # the step adapts to the dynamics
    assert cols["speed"][-1] < cfg.dynamics.tol <= cols["speed"][-2]


# --------------------------------------------------------------------------- plots

GAIN_SWEEP = """
name = "gh-plot"
model = "graded-hopfield"
seed = 4
[network]
n_units = 40
[patterns]
source = "random"
count = 3
[init]
kind = "flip"
pattern = 1
fraction = 0.1
[dynamics]
t_max = 60.0
[sweep]
grid = { "network.gain" = [0.3, 10.0] }
"""


@pytest.fixture(scope="module")
def plot_store(tmp_path_factory):
    pytest.importorskip("matplotlib")
    pytest.importorskip("xarray")
    d = tmp_path_factory.mktemp("gh-plots")
    (d / "s.toml").write_text(GAIN_SWEEP)
    report = dynet.run_scenario(str(d / "s.toml"), store=str(d / "runs.zarr"))
    assert not report.failed
    return str(d / "runs.zarr"), report


def test_the_run_plot_draws_the_stored_trajectories(plot_store):
    from dynet import plots
    from dynet.plots import graded_hopfield, source

    store, report = plot_store
    high = next(r for r in report.results if r.params["network.gain"] == 10.0)
    ds = source.open_run(store, high.run_id)
    fig = graded_hopfield.dynamics(ds)
    energy_ax, overlap_ax, step_ax, speed_ax = fig.axes
    drawn = {ln.get_label(): ln for ax in fig.axes for ln in ax.get_lines()}
    t = ds["t"].values
    assert len(t) == high.metrics["steps"] + 1 and t[0] == 0 and t[-1] == high.metrics["t_final"]
    np.testing.assert_array_equal(drawn["E"].get_xdata(), t)
    np.testing.assert_array_equal(drawn["E"].get_ydata(), ds["energy"].values)
    np.testing.assert_array_equal(drawn["pattern 1 (cue)"].get_ydata(), ds["overlap"].values)
    np.testing.assert_array_equal(drawn["step size (dopri5)"].get_xdata(), t[1:])
    np.testing.assert_array_equal(drawn["step size (dopri5)"].get_ydata(), ds["dt"].values[1:])
    np.testing.assert_array_equal(drawn["max |du/dt|"].get_ydata(), ds["speed"].values)
    assert step_ax.get_yscale() == "log" and speed_ax.get_yscale() == "log" and step_ax.get_xlabel() == "time t"
    assert drawn["pattern 1 (cue)"].get_ydata()[-1] == pytest.approx(high.metrics["final_overlap"])
    assert high.run_id[:10] in fig._dynet_caption and "network.gain=10" in fig._dynet_caption
    assert list(plots.kinds(store, high.run_id)) == ["dynamics"]
    assert len(plots.plot(store, high.run_id).axes) == 4  # the natural plot of a run


def test_the_sweep_plot_draws_overlap_and_recall_against_the_gain(plot_store):
    from dynet import plots

    store, report = plot_store
    fig = plots.plot(store, "gh-plot")  # the natural plot of a gain sweep
    top, bottom = fig.axes[:2]
    assert top.get_xscale() == "log" and bottom.get_xlabel() == "gain λ"
    by_gain = {r.params["network.gain"]: r.metrics for r in report.results}
    drawn = {c.get_label(): c.lines[0] for c in top.containers}
    for label, metric in (("final overlap with the cue", "final_overlap"), ("mean |V|", "mean_abs_output")):
        np.testing.assert_array_equal(drawn[label].get_xdata(), [0.3, 10.0])
        np.testing.assert_allclose(
            np.asarray(drawn[label].get_ydata(), float), [by_gain[g][metric] for g in (0.3, 10.0)], rtol=1e-12
        )
    np.testing.assert_array_equal(bottom.containers[0].lines[0].get_ydata(), [0.0, 1.0])
    # at gain 0.3 V decays to 0 with the cued pattern's signs: not a recall (driver.MIN_OUTPUT)
    assert by_gain[0.3]["exact"] and by_gain[0.3]["mean_abs_output"] < D.MIN_OUTPUT and not by_gain[0.3]["recalled"]
    crit = [ln for ln in top.get_lines() if ln.get_label().startswith("critical gain")]
    mean_crit = np.mean([m["critical_gain"] for m in by_gain.values()])
    assert len(crit) == 1 and crit[0].get_xdata()[0] == pytest.approx(mean_crit)


def test_the_analysis_view_names_the_variables(plot_store):
    store, report = plot_store
    ds = dynet.open_store(store).run(report.results[0].run_id)
    assert ds["step"].attrs["long_name"] == "accepted integration step (0: the cue)"
    assert ds["dt"].attrs == {"long_name": "size of the accepted step", "units": "tau"}
    assert ds["overlap"].dims == ("step",) and ds["patterns"].dims == ("pattern", "unit")
    assert ds["energy"].values[-1] == pytest.approx(report.results[0].metrics["final_energy"], rel=1e-15)
