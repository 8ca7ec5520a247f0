"""Hopfield's graded-response network: weights, cue and the run driver.

The driver reads the run's typed scenario
(:class:`~dynet.models.graded_hopfield.config.GradedHopfieldScenario`, ``spec.settings``), builds the
patterns, the Hebbian weights and the cue from the run's seed, then calls
:func:`dynet.models.graded_hopfield.kernels.run_block` for whole blocks of accepted steps and hands
the recorded rows to the run record. Random streams (from the run's SeedSequence): child 0 draws the
patterns, child 1 the cue's flipped units (the Hopfield kind's
:func:`~dynet.models.hopfield.driver.random_patterns` and
:func:`~dynet.models.hopfield.driver.initial_state`). The dynamics are deterministic.
"""

from __future__ import annotations

import numpy as np

from dynet.models.hopfield.driver import RETRIEVAL_OVERLAP, hebbian, initial_state, random_patterns
from dynet.scenario import run_settings
from dynet.store import TrajectorySpec, chunk_rows

from . import kernels as K
from .config import GradedHopfieldScenario

#: ``recalled`` by the signs alone needs a state away from the origin: a mean |V| of at least this
#: (below the critical gain V decays to 0 along W's leading eigenvector, whose signs may be the
#: cued pattern's while V itself vanishes).
MIN_OUTPUT = 0.1


def weights(patterns: np.ndarray) -> np.ndarray:
    """Hebbian ``W = (1/N) sum_mu xi_mu xi_mu^T`` with zero diagonal, ``float64`` (N, N)."""
    w, scale = hebbian(patterns)
    return w.astype(np.float64) * scale


def initial_potentials(s0: np.ndarray, amplitude: float, gain: float) -> np.ndarray:
    """``u(0)`` with ``V(0) = tanh(gain u(0)) = amplitude * s0``: ``artanh(amplitude) s0 / gain``."""
    return s0.astype(np.float64) * (float(np.arctanh(amplitude)) / gain)


def critical_gain(w: np.ndarray, tau: float) -> float:
    """``1 / (tau mu_max)``, ``mu_max`` the largest eigenvalue of ``W``: below it (and at I = 0)
    ``u = 0`` is the only fixed point and attracts every state (``|g'| <= lambda``, so
    ``-u/tau + W g(u)`` contracts); above it the origin is unstable. ``inf`` when ``mu_max <= 0``."""
    mu = float(np.linalg.eigvalsh(w)[-1])
    return 1.0 / (tau * mu) if mu > 0 else float("inf")


def build(cfg: GradedHopfieldScenario, seed_sequence: np.random.SeedSequence):
    """Patterns (``int8``, (P, N)), weights (``float64``, (N, N)), the cue's signs (``int8``, (N,))
    and ``u(0)`` (``float64``, (N,)) of a run."""
    pat_ss, init_ss = seed_sequence.spawn(2)
    n = cfg.network.n_units
    patterns = random_patterns(cfg.patterns.n_patterns(n), n, np.random.default_rng(pat_ss), cfg.patterns.bias)
    s0 = initial_state(cfg.init, patterns, np.random.default_rng(init_ss))
    u0 = initial_potentials(s0, cfg.init.amplitude, cfg.network.gain)
    return patterns, weights(patterns), s0, u0


def trajectory_specs(n_units: int, record_state: bool) -> dict[str, TrajectorySpec]:
    specs = {
        "step": TrajectorySpec(("step",), "int64"),
        "t": TrajectorySpec(("step",), "float64"),
        "dt": TrajectorySpec(("step",), "float64"),
        "energy": TrajectorySpec(("step",), "float64"),
        "overlap": TrajectorySpec(("step",), "float64"),
        "speed": TrajectorySpec(("step",), "float64"),
    }
    if record_state:
        specs["state"] = TrajectorySpec(("step", "unit"), "float64", (n_units,))
    return specs


def simulate(cfg: GradedHopfieldScenario, patterns, w, u0, *, sink=None, block_rows=None):
    """Integrate from ``u0``; feed recorded rows (step 0 is the cue at t = 0, then one row per
    accepted step) to ``sink(**columns)`` block by block.

    Returns ``(metrics, final potentials u)``. ``block_rows`` bounds the steps per kernel call
    (default: about one 1 MB chunk of the widest row); it never changes a result.
    """
    net, itg, dyn = cfg.network, cfg.integrator, cfg.dynamics
    n = patterns.shape[1]
    cue = cfg.init.pattern
    xi = patterns[cue].astype(np.float64)
    inp, tau, gain = float(net.input), float(net.tau), float(net.gain)
    method = K.METHOD_CODES[itg.method]
    n_state = n if cfg.record.state else 0
    if block_rows is None:
        block_rows = chunk_rows(8 * max(n_state, 1))
    block_rows = max(1, block_rows)
    w = np.ascontiguousarray(w, np.float64)

    u = np.ascontiguousarray(u0, np.float64).copy()
    work = np.zeros((K.WORK_ROWS, n))
    K.derivative(w, inp, tau, gain, u, work[1], work[2], work[0])

    def buffers(rows):
        return dict(
            step=np.zeros(rows, np.int64),
            t=np.zeros(rows),
            dt=np.zeros(rows),
            energy=np.empty(rows),
            overlap=np.empty(rows),
            speed=np.empty(rows),
            state=np.empty((rows, n_state)),
        )

    def emit(buf, rows):
        cols = {k: v[:rows].copy() for k, v in buf.items()}
        if not n_state:
            cols.pop("state")
        if sink is not None:
            sink(**cols)
        return cols

    first = buffers(1)
    K.measure(inp, tau, gain, xi, u, work[1], work[2], work[0], 0, first["energy"], first["overlap"],
              first["speed"], first["state"])  # fmt: skip
    last = emit(first, 1)
    initial = {k: v[0] for k, v in last.items() if v.ndim == 1}

    clock = np.array([0.0, float(itg.dt)])
    counts = np.zeros(2, np.int64)
    stop = K.CONVERGED if initial["speed"] < dyn.tol else K.RUNNING
    buf = buffers(block_rows)
    dts = []
    while stop == K.RUNNING:
        rows, stop = K.run_block(
            w, inp, tau, gain, method, xi, u, work, clock, counts,
            float(dyn.t_max), float(itg.dt), float(itg.rtol), float(itg.atol), float(dyn.tol), int(dyn.max_steps),
            block_rows, buf["step"], buf["t"], buf["dt"], buf["energy"], buf["overlap"], buf["speed"], buf["state"],
        )  # fmt: skip
        if rows:
            last = emit(buf, rows)
            dts.append(last["dt"])
    final = {k: v[-1] for k, v in last.items() if v.ndim == 1}
    steps_dt = np.concatenate(dts) if dts else np.zeros(0)

    v = np.tanh(gain * u)
    xi_int = patterns[cue]
    final_overlap = float(final["overlap"])
    exact = bool(np.array_equal(np.where(v > 0, 1, np.where(v < 0, -1, 0)), xi_int))
    metrics = {
        "steps": int(counts[0]),
        "rejected_steps": int(counts[1]),
        "stop_reason": K.STOP_REASONS[stop],
        "converged": bool(stop == K.CONVERGED),
        "t_final": float(clock[0]),
        "initial_energy": float(initial["energy"]),
        "final_energy": float(final["energy"]),
        "initial_overlap": float(initial["overlap"]),
        "final_overlap": final_overlap,
        "recalled": bool(final_overlap >= RETRIEVAL_OVERLAP or (exact and float(np.abs(v).mean()) >= MIN_OUTPUT)),
        "exact": exact,
        "final_speed": float(final["speed"]),
        "mean_abs_output": float(np.abs(v).mean()),
        "min_dt": float(steps_dt.min()) if steps_dt.size else None,
        "max_dt": float(steps_dt.max()) if steps_dt.size else None,
        "critical_gain": critical_gain(w, tau),
        "n_patterns": int(patterns.shape[0]),
        "n_units": int(n),
    }
    return metrics, u


def run(spec, record) -> dict:
    """Run one graded-response Hopfield run (a :class:`dynet.scenario.RunSpec`) into ``record``."""
    cfg = spec.settings
    patterns, w, s0, u0 = build(cfg, spec.seed_sequence())
    n = patterns.shape[1]
    record.static("patterns", patterns, ("pattern", "unit"))
    record.static("initial_state", np.tanh(cfg.network.gain * u0), ("unit",))
    traj = record.trajectory(trajectory_specs(n, cfg.record.state))
    metrics, u = simulate(cfg, patterns, w, u0, sink=traj.append)
    traj.close()
    record.static("final_state", np.tanh(cfg.network.gain * u), ("unit",))
    record.static("final_potential", u, ("unit",))
    return metrics


def preflight(config: dict, base_dir: str, store: str | None = None) -> list[str]:
    """Nothing to check beyond the schema: the patterns are drawn, not read."""
    return []


def cost(config: dict) -> float:
    """Rough work of a run (weight reads): N^2 per derivative, ~6 per step, a few hundred steps
    (dopri5) or t_max / dt (fixed steps)."""
    cfg = run_settings("graded-hopfield", config)
    n = cfg.network.n_units
    if cfg.integrator.method == "dopri5":
        steps = 300.0
    else:
        steps = min(cfg.dynamics.t_max / cfg.integrator.dt, cfg.dynamics.max_steps)
    per_step = {"euler": 1, "rk4": 4, "dopri5": 6}[cfg.integrator.method]
    return float(n * n * (per_step * steps + 2) + n**3 / 3)


def warmup() -> None:
    """Compile (or load from cache) every kernel a run uses, on tiny inputs."""
    for method in K.METHOD_CODES:
        for state in (False, True):
            cfg = GradedHopfieldScenario.model_validate(
                {
                    "name": "warmup",
                    "model": "graded-hopfield",
                    "seed": 0,
                    "network": {"n_units": 8},
                    "patterns": {"source": "random", "count": 2},
                    "init": {"kind": "flip", "pattern": 0},
                    "integrator": {"method": method, "dt": 0.1},
                    "dynamics": {"t_max": 0.5},
                    "record": {"state": state},
                }
            )
            patterns, w, _, u0 = build(cfg, np.random.SeedSequence(0))
            simulate(cfg, patterns, w, u0)
