"""Modern (continuous) Hopfield networks: patterns, cues and the run driver.

The driver reads the run's typed scenario
(:class:`~dynet.models.modern_hopfield.config.ModernHopfieldScenario`, ``spec.settings``), builds
the patterns and the cue from the run's seed, then calls
:func:`dynet.models.modern_hopfield.kernels.run_block` for whole blocks of updates and hands the
recorded rows to the run record. Random streams (from the run's SeedSequence): child 0 draws the
patterns, child 1 the cue (noise or mask). The dynamics are deterministic.
"""

from __future__ import annotations

import numpy as np

from dynet.scenario import run_settings
from dynet.store import TrajectorySpec, chunk_rows

from . import kernels as K
from .config import GaussianPatterns, ModernHopfieldCue, ModernHopfieldScenario

#: A run has retrieved its cued pattern when the final state's nearest stored pattern is the cued
#: one and ``||xi - x_cued|| <= RETRIEVAL_DISTANCE * ||x_cued||``.
RETRIEVAL_DISTANCE = 0.05


# --------------------------------------------------------------------------- patterns and cues


def make_patterns(cfg: ModernHopfieldScenario, rng: np.random.Generator) -> np.ndarray:
    """The stored patterns, ``float64`` of shape (N, d): Gaussian (unit norm if ``normalize``) or +-1."""
    n, d = cfg.patterns.count, cfg.network.dim
    if isinstance(cfg.patterns, GaussianPatterns):
        x = rng.standard_normal((n, d))
        if cfg.patterns.normalize:
            x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x
    return np.where(rng.random((n, d)) < 0.5, 1.0, -1.0)


def make_cue(cue: ModernHopfieldCue, patterns: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The initial state ``xi`` (``float64``, length d): a stored pattern with Gaussian noise, or with
    a random fraction of its components set to 0, or the mean of all patterns."""
    if cue.kind == "mean":
        return patterns.mean(axis=0)
    xi = patterns[cue.pattern].copy()
    d = xi.shape[0]
    if cue.kind == "noise":
        return xi + cue.std * rng.standard_normal(d)
    xi[rng.choice(d, size=int(round(cue.fraction * d)), replace=False)] = 0.0
    return xi


def cued_pattern(cfg: ModernHopfieldScenario) -> int | None:
    """Index of the stored pattern the cue is made from (None: the mean of all patterns)."""
    return getattr(cfg.cue, "pattern", None)


def build(cfg: ModernHopfieldScenario, seed_sequence: np.random.SeedSequence):
    """Patterns (N, d) and cue (d,) of a run."""
    pat_ss, cue_ss = seed_sequence.spawn(2)
    patterns = make_patterns(cfg, np.random.default_rng(pat_ss))
    return patterns, make_cue(cfg.cue, patterns, np.random.default_rng(cue_ss))


# --------------------------------------------------------------------------- the run


def trajectory_specs(dim: int, n_patterns: int, cfg: ModernHopfieldScenario) -> dict[str, TrajectorySpec]:
    specs = {
        "step": TrajectorySpec(("step",), "int64"),
        "energy": TrajectorySpec(("step",), "float64"),
        "max_weight": TrajectorySpec(("step",), "float64"),
        "entropy": TrajectorySpec(("step",), "float64"),
        "distance_cued": TrajectorySpec(("step",), "float64"),
        "distance_nearest": TrajectorySpec(("step",), "float64"),
        "nearest": TrajectorySpec(("step",), "int64"),
    }
    if cfg.record.state:
        specs["state"] = TrajectorySpec(("step", "component"), "float64", (dim,))
    if cfg.record.weights:
        specs["weights"] = TrajectorySpec(("step", "pattern"), "float64", (n_patterns,))
    return specs


def simulate(cfg: ModernHopfieldScenario, patterns: np.ndarray, cue: np.ndarray, *, sink=None, block_steps=None):
    """Iterate ``xi <- X softmax(beta X^T xi)`` from ``cue``; feed recorded rows (step 0 = the cue,
    then one row per update) to ``sink(**columns)`` block by block.

    Returns ``(metrics, final state)``. ``block_steps`` bounds the updates per kernel call
    (default: about one 1 MB chunk of the widest recorded row).
    """
    n, d = patterns.shape
    beta, dyn = float(cfg.network.beta), cfg.dynamics
    patterns = np.ascontiguousarray(patterns, np.float64)
    sq_norms = np.einsum("ij,ij->i", patterns, patterns)
    m_sq, log_n = float(sq_norms.max()), float(np.log(n))
    cue_index = cued_pattern(cfg)
    cued = -1 if cue_index is None else cue_index
    n_state = d if cfg.record.state else 0
    n_weights = n if cfg.record.weights else 0
    if block_steps is None:
        block_steps = chunk_rows(8 * max(n_state, n_weights, 1))
    block_steps = max(1, min(block_steps, dyn.max_steps))

    def buffers(rows):
        return dict(
            step=np.zeros(rows, np.int64),
            energy=np.empty(rows),
            max_weight=np.empty(rows),
            entropy=np.empty(rows),
            distance_cued=np.empty(rows),
            distance_nearest=np.empty(rows),
            nearest=np.empty(rows, np.int64),
            state=np.empty((rows, n_state)),
            weights=np.empty((rows, n_weights)),
        )

    threshold = RETRIEVAL_DISTANCE * float(np.sqrt(sq_norms[cued])) if cue_index is not None else 0.0
    first_retrieved = []

    def emit(buf, rows):
        cols = {k: v[:rows] for k, v in buf.items()}
        if cue_index is not None and not first_retrieved:
            hit = np.flatnonzero((cols["nearest"] == cue_index) & (cols["distance_cued"] <= threshold))
            if hit.size:
                first_retrieved.append(int(cols["step"][hit[0]]))
        if not n_state:
            cols.pop("state")
        if not n_weights:
            cols.pop("weights")
        if sink is not None:
            sink(**cols)
        return cols

    xi = np.ascontiguousarray(cue, np.float64).copy()
    xi_new, z, p = np.empty(d), np.empty(n), np.empty(n)
    first = buffers(1)
    K.measure(
        patterns,
        sq_norms,
        beta,
        log_n,
        m_sq,
        cued,
        xi,
        z,
        p,
        0,
        first["energy"],
        first["max_weight"],
        first["entropy"],
        first["distance_cued"],
        first["distance_nearest"],
        first["nearest"],
    )
    if n_state:
        first["state"][0] = xi
    if n_weights:
        first["weights"][0] = p
    last = emit(first, 1)
    initial = {k: v[0] for k, v in last.items() if v.ndim == 1}

    done, stop = 0, K.RUNNING
    buf = buffers(block_steps)
    while done < dyn.max_steps and stop == K.RUNNING:
        ran, stop = K.run_block(
            patterns,
            sq_norms,
            beta,
            log_n,
            m_sq,
            cued,
            xi,
            xi_new,
            z,
            p,
            min(block_steps, dyn.max_steps - done),
            float(dyn.tol),
            done,
            buf["step"],
            buf["energy"],
            buf["max_weight"],
            buf["entropy"],
            buf["distance_cued"],
            buf["distance_nearest"],
            buf["nearest"],
            buf["state"],
            buf["weights"],
        )
        done += ran
        last = emit(buf, ran)
    final = {k: v[-1] for k, v in last.items() if v.ndim == 1}

    near = int(final["nearest"])
    final_distance = float(final["distance_cued"]) if cue_index is not None else None
    retrieved = None
    if cue_index is not None:
        retrieved = bool(near == cue_index and final_distance <= threshold)
    metrics = {
        "steps": int(done),
        "stop_reason": K.STOP_REASONS[stop],
        "converged": bool(stop == K.CONVERGED),
        "initial_energy": float(initial["energy"]),
        "final_energy": float(final["energy"]),
        "initial_distance": float(initial["distance_cued"]) if cue_index is not None else None,
        "final_distance": final_distance,
        "retrieved": retrieved,
        "retrieval_step": first_retrieved[0] if first_retrieved else None,
        "nearest_pattern": near,
        "nearest_distance": float(final["distance_nearest"]),
        "max_weight": float(final["max_weight"]),
        "entropy": float(final["entropy"]),
        "max_entropy": log_n,
        "n_patterns": int(n),
        "dim": int(d),
        "beta": beta,
    }
    return metrics, xi


def run(spec, record) -> dict:
    """Run one modern Hopfield run (a :class:`dynet.scenario.RunSpec`) into ``record``; return its metrics."""
    cfg = spec.settings
    patterns, cue = build(cfg, spec.seed_sequence())
    n, d = patterns.shape
    record.static("patterns", patterns, ("pattern", "component"))
    record.static("cue", cue, ("component",))
    traj = record.trajectory(trajectory_specs(d, n, cfg))
    metrics, final = simulate(cfg, patterns, cue, sink=traj.append)
    traj.close()
    record.static("final_state", final, ("component",))
    return metrics


def preflight(config: dict, base_dir: str, store: str | None = None) -> list[str]:
    """Nothing to check beyond the schema: patterns are generated."""
    return []


def cost(config: dict) -> float:
    """Rough work of a run in multiply-adds (two passes over the patterns per update)."""
    cfg = run_settings("modern-hopfield", config)
    n, d = cfg.patterns.count, cfg.network.dim
    steps = min(cfg.dynamics.max_steps, 50)  # most runs converge well before a large max_steps
    return float(n * d * (3 * steps + 2))


def warmup() -> None:
    """Compile (or load from cache) every kernel a run uses, on tiny inputs."""
    for record in ({"state": False, "weights": False}, {"state": True, "weights": True}):
        cfg = ModernHopfieldScenario.model_validate(
            {
                "name": "warmup",
                "model": "modern-hopfield",
                "seed": 0,
                "network": {"dim": 4, "beta": 1.0},
                "patterns": {"source": "gaussian", "count": 3},
                "cue": {"kind": "noise", "pattern": 0},
                "dynamics": {"max_steps": 3},
                "record": record,
            }
        )
        patterns, cue = build(cfg, np.random.SeedSequence(0))
        simulate(cfg, patterns, cue)
