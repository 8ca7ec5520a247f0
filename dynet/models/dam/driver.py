"""Dense associative memories: the energy table, the cue and the run driver.

The driver reads the run's typed scenario (:class:`~dynet.models.dam.config.DamScenario`,
``spec.settings``), builds everything from the run's seed, then calls
:func:`dynet.models.dam.kernels.run_block` for whole blocks of sweeps and hands recorded rows to
the run record. Random streams (from the run's SeedSequence): child 0 draws the patterns, child 1
the cue's flipped units (the Hopfield kind's :func:`~dynet.models.hopfield.driver.random_patterns`
and :func:`~dynet.models.hopfield.driver.initial_state`), child 2 seeds the kernel's xoshiro256**
state that orders asynchronous sweeps.
"""

from __future__ import annotations

import numpy as np

from dynet.kernels.rng import seed_state
from dynet.models.hopfield.driver import RETRIEVAL_OVERLAP, initial_state, random_patterns
from dynet.scenario import run_settings
from dynet.store import TrajectorySpec, chunk_rows

from . import kernels as K
from .config import DamScenario


def energy_table(function: str, power: int, n_units: int) -> tuple[np.ndarray, bool]:
    """The kernels' table of F for N = ``n_units`` and whether it is shifted (see :mod:`.kernels`).

    Powers are taken by repeated multiplication of integers held in float64, exact while
    ``|x|^n < 2^53``.
    """
    if function == "exponential":
        return np.exp(np.arange(-2 * n_units, 1, dtype=np.float64)), True
    x = np.arange(-n_units, n_units + 1, dtype=np.float64)
    if function == "rectified":
        x = np.maximum(x, 0.0)
    out = np.ones_like(x)
    for _ in range(power):
        out *= x
    return out, False


def build(cfg: DamScenario, seed_sequence: np.random.SeedSequence):
    """Patterns (``int8``, (P, N)), the cue (``int8``, (N,)) and the kernel's RNG state of a run."""
    pat_ss, init_ss, dyn_ss = seed_sequence.spawn(3)
    n = cfg.network.n_units
    patterns = random_patterns(cfg.patterns.n_patterns(n), n, np.random.default_rng(pat_ss), cfg.patterns.bias)
    s0 = initial_state(cfg.init, patterns, np.random.default_rng(init_ss))
    return patterns, s0, seed_state(dyn_ss)


def trajectory_specs(n_units: int, record_state: bool) -> dict[str, TrajectorySpec]:
    specs = {
        "sweep": TrajectorySpec(("sweep",), "int64"),
        "energy": TrajectorySpec(("sweep",), "float64"),
        "overlap": TrajectorySpec(("sweep",), "float64"),
        "flips": TrajectorySpec(("sweep",), "int64"),
    }
    if record_state:
        specs["state"] = TrajectorySpec(("sweep", "unit"), "int8", (n_units,))
    return specs


def simulate(cfg: DamScenario, patterns, s0, rng_state, *, sink=None, block_sweeps=None):
    """Run the dynamics from ``s0``; feed recorded rows (sweep 0 is the cue) to ``sink(**columns)``.

    Returns ``(metrics, final state)``. ``block_sweeps`` bounds the sweeps per kernel call
    (default: about one 1 MB chunk of states); it never changes a result.
    """
    n_pat, n = patterns.shape
    table, shifted = energy_table(cfg.energy.function, cfg.energy.n, n)
    update = K.UPDATE_CODES[cfg.dynamics.update]
    cue = cfg.init.pattern
    max_sweeps = cfg.dynamics.max_sweeps
    n_state = n if cfg.record.state else 0
    if block_sweeps is None:
        block_sweeps = chunk_rows(n)
    block_sweeps = max(1, min(block_sweeps, max_sweeps))

    s = s0.astype(np.int8).copy()
    s_new = np.empty_like(s)
    m = np.empty(n_pat, np.int64)
    K.overlaps(patterns, s, m)
    order = np.arange(n, dtype=np.int64)
    counts = np.zeros(2 * n + 1, np.int64)

    def emit(cols):
        if not n_state:
            cols.pop("state")
        if sink is not None:
            sink(**cols)

    e0 = K.energy(table, shifted, m, n)
    emit(
        dict(
            sweep=np.zeros(1, np.int64),
            energy=np.array([e0]),
            overlap=np.array([m[cue] / n]),
            flips=np.zeros(1, np.int64),
            state=s[None, :].copy(),
        )
    )
    buf = dict(
        energy=np.empty(block_sweeps),
        overlap=np.empty(block_sweeps),
        flips=np.empty(block_sweeps, np.int64),
        state=np.empty((block_sweeps, n_state), np.int8),
    )
    done, fixed, final_energy = 0, False, e0
    while done < max_sweeps and not fixed:
        n_sw = min(block_sweeps, max_sweeps - done)
        ran, fixed = K.run_block(
            patterns,
            table,
            shifted,
            s,
            s_new,
            m,
            update,
            order,
            counts,
            rng_state,
            cue,
            n_sw,
            buf["energy"],
            buf["overlap"],
            buf["flips"],
            buf["state"],
        )
        cols = {k: v[:ran].copy() for k, v in buf.items()}
        cols["sweep"] = np.arange(done + 1, done + ran + 1, dtype=np.int64)
        emit(cols)
        done += ran
        final_energy = float(cols["energy"][-1])

    final_overlap = float(m[cue] / n)
    metrics = {
        "sweeps": int(done),
        "converged": bool(fixed),
        "final_energy": final_energy,
        "initial_overlap": float(np.dot(patterns[cue].astype(np.int64), s0.astype(np.int64)) / n),
        "final_overlap": final_overlap,
        "recalled": bool(final_overlap >= RETRIEVAL_OVERLAP),
        "exact": bool(np.array_equal(s, patterns[cue])),
        "n_patterns": int(n_pat),
        "n_units": int(n),
        "load": float(n_pat / n),
    }
    return metrics, s


def run(spec, record) -> dict:
    """Run one dense associative memory run (a :class:`dynet.scenario.RunSpec`) into ``record``."""
    cfg = spec.settings
    patterns, s0, rng_state = build(cfg, spec.seed_sequence())
    n = patterns.shape[1]
    record.static("patterns", patterns, ("pattern", "unit"))
    record.static("initial_state", s0, ("unit",))
    traj = record.trajectory(trajectory_specs(n, cfg.record.state))
    metrics, final = simulate(cfg, patterns, s0, rng_state, sink=traj.append)
    traj.close()
    record.static("final_state", final, ("unit",))
    return metrics


def preflight(config: dict, base_dir: str, store: str | None = None) -> list[str]:
    """Nothing to check beyond the schema: the patterns are drawn, not read."""
    return []


def cost(config: dict) -> float:
    """Rough work of a run (pattern-unit products), for batching small runs into one task."""
    cfg = run_settings("dam", config)
    n = cfg.network.n_units
    n_pat = cfg.patterns.n_patterns(n)
    sweeps = min(cfg.dynamics.max_sweeps, 10)  # runs stop at a fixed point, within a few sweeps
    per_visit = 2 if cfg.energy.function == "exponential" else 1
    return float(sweeps * n * n_pat * per_visit * 5 + n * n_pat)


def warmup() -> None:
    """Compile (or load from cache) every kernel a run uses, on tiny inputs."""
    for function in ("polynomial", "exponential"):
        for update in K.UPDATE_CODES:
            cfg = DamScenario.model_validate(
                {
                    "name": "warmup",
                    "model": "dam",
                    "seed": 0,
                    "network": {"n_units": 8},
                    "energy": {"function": function},
                    "patterns": {"source": "random", "count": 2},
                    "init": {"kind": "flip", "pattern": 0},
                    "dynamics": {"max_sweeps": 3, "update": update},
                }
            )
            patterns, s0, rng_state = build(cfg, np.random.SeedSequence(0))
            simulate(cfg, patterns, s0, rng_state)
