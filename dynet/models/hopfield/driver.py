"""Hopfield networks: patterns, learning rules, initial states and the run driver.

The driver reads the run's typed scenario (:class:`~dynet.models.hopfield.config.HopfieldScenario`,
``spec.settings``), builds everything from the run's seed, then calls
:func:`dynet.models.hopfield.kernels.run_block` for whole blocks of sweeps and hands
recorded rows to the run record. Random streams (from the run's SeedSequence):
child 0 draws the patterns, child 1 the initial state, child 2 seeds the
kernel's xoshiro256** state that drives the dynamics. A multi-cue run (``init.pattern`` a list
or "all") draws the patterns from child 0 as ever; cue ``k`` (the pattern index) draws its initial
state from ``SeedSequence(child 1's entropy, spawn_key=child 1's key + (k,))`` and its dynamics
from child 2's likewise (:func:`cue_streams`), so its trajectory does not depend on the other cues.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from dynet import data as _data
from dynet.kernels.rng import seed_state
from dynet.scenario import run_settings
from dynet.store import TrajectorySpec, chunk_rows

from . import kernels as K
from .config import (
    HopfieldDynamics,
    HopfieldInit,
    HopfieldRecord,
    HopfieldScenario,
    ImagePatterns,
    RandomPatterns,
    cue_list,
    cue_problem,
)

#: A final state counts as retrieving a stored pattern when |overlap| >= this.
RETRIEVAL_OVERLAP = 0.9


# --------------------------------------------------------------------------- patterns


def random_patterns(n_patterns: int, n_units: int, rng: np.random.Generator, bias: float = 0.0) -> np.ndarray:
    """``int8`` array of shape (n_patterns, n_units), ``P(+1) = (1 + bias) / 2``."""
    up = rng.random((n_patterns, n_units)) < (1.0 + bias) / 2.0
    return np.where(up, 1, -1).astype(np.int8)


def digit_patterns(count: int) -> np.ndarray:
    """Mean image of each digit 0..count-1 from the bundled digits, binarized at its own mean."""
    images, labels = _data.load_digits()
    out = np.empty((count, images.shape[1]), np.int8)
    for d in range(count):
        mean = images[labels == d].mean(axis=0)
        out[d] = np.where(mean > mean.mean(), 1, -1)
    return out


def file_patterns(path: str, key: str | None, sha256: str | None = None) -> np.ndarray:
    """Patterns from a user file: shape (P, N), values {-1, +1} or {0, 1} (0 maps to -1);
    ``sha256``: the content the run's identity names (checked)."""
    arr = _data.load_array(path, key, sha256)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] < 2 or arr.shape[0] < 1:
        raise _data.DataError(f"{path}: patterns must have shape (P, N) with N >= 2, got {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise _data.DataError(f"{path}: patterns must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise _data.DataError(f"{path}: patterns contain NaN or infinite values")
    values = set(np.unique(arr).tolist())
    if values <= {-1, 1}:
        return arr.astype(np.int8)
    if values <= {0, 1}:
        return np.where(arr > 0, 1, -1).astype(np.int8)
    raise _data.DataError(f"{path}: pattern values must be -1/+1 or 0/1, found {sorted(values)[:6]}")


def make_patterns(
    cfg: HopfieldScenario, rng: np.random.Generator, base_dir: str = ".", sha256: str | None = None
) -> np.ndarray:
    """The run's stored patterns, ``int8`` of shape (P, N); ``sha256``: the content of a pattern
    file that the run's identity names (``spec.config["patterns"]["sha256"]``), checked when given."""
    p = cfg.patterns
    if isinstance(p, RandomPatterns):
        n = cfg.network.n_units
        return random_patterns(p.n_patterns(n), n, rng, p.bias)
    if isinstance(p, ImagePatterns):
        return digit_patterns(p.count)
    path = p.path if os.path.isabs(p.path) else os.path.join(base_dir, p.path)
    return file_patterns(path, p.key, sha256)


# --------------------------------------------------------------------------- learning rules


def hebbian(patterns: np.ndarray) -> tuple[np.ndarray, float]:
    """Hebbian weights ``W = (1/N) sum_mu xi^mu xi^mu^T`` with zero diagonal.

    Returned unscaled as exact integers ``(xi^T xi, 1/N)``: ``int16`` when
    ``P <= 32767``, else ``int32``.
    """
    n_pat, n = patterns.shape
    x = patterns.astype(np.int32)
    w = x.T @ x
    np.fill_diagonal(w, 0)
    return w.astype(np.int16 if n_pat <= np.iinfo(np.int16).max else np.int32), 1.0 / n


def storkey(patterns: np.ndarray) -> tuple[np.ndarray, float]:
    """Storkey's (1997) incremental rule, zero diagonal.

    For each pattern xi in turn, with local fields ``h_ij = sum_{k != i, j} w_ik xi_k``::

        w_ij += (1/N) * (xi_i xi_j - xi_i h_ji - h_ij xi_j)

    Vectorised with ``g = W xi`` (``W`` symmetric, zero diagonal), ``h_ij = g_i - w_ij xi_j``,
    so ``xi_i h_ji + h_ij xi_j = xi_i g_j + g_i xi_j - 2 w_ij``.
    """
    n = patterns.shape[1]
    w = np.zeros((n, n))
    for xi in patterns.astype(np.float64):
        g = w @ xi
        w += (np.outer(xi, xi) - np.outer(xi, g) - np.outer(g, xi) + 2.0 * w) / n
        np.fill_diagonal(w, 0.0)
    return w, 1.0


def pseudoinverse(patterns: np.ndarray) -> tuple[np.ndarray, float]:
    """Projection (pseudo-inverse) rule ``W = X^+ X`` (X of shape (P, N)), zero diagonal.

    ``W`` projects onto the span of the patterns, so ``W xi = xi`` for each stored
    pattern; removing the diagonal leaves unit i the field ``(1 - W_ii) xi_i``, which
    keeps its sign when ``W_ii < 1``. When ``W_ii = 1`` the unit vector ``e_i`` lies in
    the span (e.g. two patterns differ only at unit i): row i is zero in exact
    arithmetic, so such units are disconnected exactly (their round-off would
    otherwise decide their sign), and every stored pattern stays a fixed point.
    """
    x = patterns.astype(np.float64)
    w = np.linalg.pinv(x) @ x
    w = 0.5 * (w + w.T)
    free = np.diag(w) > 1.0 - 1e-9
    w[free, :] = 0.0
    w[:, free] = 0.0
    np.fill_diagonal(w, 0.0)
    return w, 1.0


RULES = {"hebbian": hebbian, "storkey": storkey, "pseudoinverse": pseudoinverse}


# --------------------------------------------------------------------------- initial states, schedules


def initial_state(init: HopfieldInit, patterns: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The initial state (``int8``, length N) of the ``init`` table: a cued pattern with bits
    flipped or masked, or a random state."""
    n = patterns.shape[1]
    if init.kind == "random":
        return random_patterns(1, n, rng, init.bias)[0]
    s = patterns[init.pattern].copy()
    k = int(round(init.fraction * n))
    if init.kind == "flip":
        idx = rng.choice(n, size=k, replace=False)
        s[idx] *= -1
        return s
    # mask
    if init.region == "tail":
        idx = np.arange(n - k, n)
    elif init.region == "head":
        idx = np.arange(k)
    else:
        idx = rng.choice(n, size=k, replace=False)
    if init.fill == "random":
        s[idx] = random_patterns(1, k, rng)[0] if k else s[idx]
    else:
        s[idx] = 1 if init.fill == "positive" else -1
    return s


def temperatures(dynamics: HopfieldDynamics) -> np.ndarray:
    """Temperature of each sweep 1..max_sweeps (float64 array of length max_sweeps).

    An annealing schedule runs from ``t_start`` (sweep 1) to exactly ``t_end`` (sweep
    ``anneal.sweeps``), linearly or geometrically, and ``t_after`` (default ``t_end``)
    after that; a schedule longer than the run is cut off, never compressed.
    """
    n = dynamics.max_sweeps
    a = dynamics.anneal
    if a is None:
        return np.full(n, float(dynamics.temperature))
    m = a.sweeps or n
    if a.schedule == "linear":
        sched = np.linspace(a.t_start, a.t_end, m)
    else:
        sched = np.geomspace(a.t_start, a.t_end, m)
    out = np.full(n, float(a.t_end if a.t_after is None else a.t_after))
    k = min(m, n)
    out[:k] = sched[:k]
    return out


# --------------------------------------------------------------------------- validation before running


def preflight(config: dict, base_dir: str, store: str | None = None) -> list[str]:
    """Problems with this resolved config (``RunSpec.config``) that need its data (file patterns,
    image sizes)."""
    cfg = run_settings("hopfield", config)
    if isinstance(cfg.patterns, RandomPatterns):
        return []
    try:
        pats = make_patterns(cfg, np.random.default_rng(0), base_dir, config["patterns"].get("sha256"))
    except _data.DataError as exc:
        return [f"patterns.path: {exc}"]
    problems = []
    n_pat, n = pats.shape
    if cfg.network.n_units not in (None, n):
        problems.append(f"network.n_units: {cfg.network.n_units} does not match the patterns' N = {n}")
    problem = cue_problem(cued_pattern(cfg), n_pat)
    if problem:
        problems.append(problem)
    return problems


# --------------------------------------------------------------------------- the run


def cued_pattern(cfg: HopfieldScenario) -> int | list[int] | str | None:
    """``init.pattern``: index of the stored pattern the initial state is cued with, or the list
    (or "all") of a multi-cue run (None: a random start)."""
    return getattr(cfg.init, "pattern", None)


def build(cfg: HopfieldScenario, seed_sequence: np.random.SeedSequence, base_dir: str = ".", sha256: str | None = None):
    """Patterns, weights, scale, initial state and kernel RNG state of a run (``sha256``: see
    :func:`make_patterns`)."""
    pat_ss, init_ss, dyn_ss = seed_sequence.spawn(3)
    patterns = make_patterns(cfg, np.random.default_rng(pat_ss), base_dir, sha256)
    weights, scale = RULES[cfg.network.rule](patterns)
    s0 = initial_state(cfg.init, patterns, np.random.default_rng(init_ss))
    return patterns, weights, scale, s0, seed_state(dyn_ss)


def trajectory_specs(n_units: int, n_patterns: int, record: HopfieldRecord) -> dict[str, TrajectorySpec]:
    specs = {
        "sweep": TrajectorySpec(("sweep",), "int64"),
        "energy": TrajectorySpec(("sweep",), "float64"),
        "flips": TrajectorySpec(("sweep",), "int64"),
        "temperature": TrajectorySpec(("sweep",), "float64"),
    }
    if record.state:
        specs["state"] = TrajectorySpec(("sweep", "unit"), "int8", (n_units,))
    if record.overlaps:
        specs["overlap"] = TrajectorySpec(("sweep", "pattern"), "float64", (n_patterns,))
    return specs


def field_buffer(weights: np.ndarray) -> np.ndarray:
    """Array for the fields ``W @ s``: exact int32 (or int64) for integer weights, else float64."""
    n = weights.shape[0]
    if np.issubdtype(weights.dtype, np.integer):
        bound = int(np.abs(weights.astype(np.int64)).sum(axis=1).max()) if n else 0
        return np.zeros(n, np.int32 if bound < 2**31 else np.int64)
    return np.zeros(n, np.float64)


def lowrank_ok(rule: str, weights: np.ndarray, patterns: np.ndarray) -> bool:
    """Whether fields may be computed in pattern space (Hebbian integer weights, P < N)."""
    return (
        rule == "hebbian"
        and np.issubdtype(weights.dtype, np.integer)
        and patterns.shape[0] < patterns.shape[1]
        and patterns.shape[1] * patterns.shape[0] < 2**31
    )


def simulate(cfg: HopfieldScenario, patterns, weights, scale, s0, rng_state, *, sink=None, block_sweeps=None, cue=None):
    """Run the dynamics; feed recorded rows to ``sink(**columns)`` block by block.

    Returns a dict of final metrics. ``block_sweeps`` bounds the sweeps per kernel
    call (default: enough to fill about one 1 MB chunk of states). ``cue``: the cued
    pattern's index (default: ``init.pattern``; a multi-cue run passes each of its cues).
    """
    dyn, rec = cfg.dynamics, cfg.record
    n_pat, n = patterns.shape
    theta = np.full(n, float(cfg.network.threshold))
    temps = temperatures(dyn)
    update = K.UPDATE_CODES[dyn.update]
    every = rec.every
    max_sweeps = dyn.max_sweeps
    if block_sweeps is None:
        block_sweeps = chunk_rows(n) * every
    block_sweeps = max(every, (block_sweeps // every) * every)

    s = s0.astype(np.int8).copy()
    s_prev = s.copy()
    h = field_buffer(weights)
    lowrank = lowrank_ok(cfg.network.rule, weights, patterns)
    K.fields(weights, patterns, lowrank, s, h)
    n_state = n if rec.state else 0
    n_over = n_pat if rec.overlaps else 0

    def buffers(rows):
        return dict(
            sweep=np.empty(rows, np.int64),
            state=np.empty((rows, n_state), np.int8),
            energy=np.empty(rows, np.float64),
            overlap=np.empty((rows, n_over), np.float64),
            flips=np.empty(rows, np.int64),
            temperature=np.empty(rows, np.float64),
        )

    def emit(buf, rows):
        cols = {k: v[:rows] for k, v in buf.items()}
        if not n_state:
            cols.pop("state")
        if not n_over:
            cols.pop("overlap")
        if sink is not None:
            sink(**cols)
        return cols

    first = buffers(1)
    K.record_initial(
        scale,
        theta,
        patterns,
        s,
        h,
        first["sweep"],
        first["state"],
        first["energy"],
        first["overlap"],
        first["flips"],
        first["temperature"],
        temps[0],
    )
    initial = emit(first, 1)
    energies = [initial["energy"][0]]

    done = 0
    stop = K.RUNNING
    pending = 0
    buf = buffers(block_sweeps // every + 1)
    while done < max_sweeps and stop == K.RUNNING:
        # re-derive the fields exactly at each block so float round-off cannot accumulate
        K.fields(weights, patterns, lowrank, s, h)
        n_sw = min(block_sweeps, max_sweeps - done)
        ran, n_rec, stop, pending = K.run_block(
            weights,
            lowrank,
            scale,
            theta,
            patterns,
            s,
            s_prev,
            h,
            temps,
            update,
            rng_state,
            done,
            n_sw,
            every,
            dyn.stop_at_fixed_point,
            pending,
            buf["sweep"],
            buf["state"],
            buf["energy"],
            buf["overlap"],
            buf["flips"],
            buf["temperature"],
        )
        done += ran
        if done == max_sweeps and stop == K.RUNNING and (n_rec == 0 or buf["sweep"][n_rec - 1] != done):
            # always record the last sweep
            K.fields(weights, patterns, lowrank, s, h)
            last = buffers(1)
            K.record_initial(
                scale,
                theta,
                patterns,
                s,
                h,
                last["sweep"],
                last["state"],
                last["energy"],
                last["overlap"],
                last["flips"],
                last["temperature"],
                temps[done - 1],
            )
            last["sweep"][0] = done
            last["flips"][0] = pending
            for k in buf:
                buf[k][n_rec] = last[k][0]
            n_rec += 1
        if n_rec:
            cols = emit(buf, n_rec)
            energies.append(cols["energy"][-1])

    final_over = np.empty(n_pat)
    K.overlaps(patterns, s, final_over)
    nearest = int(np.argmax(np.abs(final_over)))
    if cue is None:
        cue = cued_pattern(cfg)
    retrieved_any = bool(np.abs(final_over).max() >= RETRIEVAL_OVERLAP)
    metrics = {
        "sweeps": int(done),
        "stop_reason": K.STOP_REASONS[stop],
        "converged": bool(stop == K.FIXED_POINT),
        "converged_sweep": int(done) if stop == K.FIXED_POINT else None,
        "final_energy": float(energies[-1]),
        "initial_overlap": float(_overlap(patterns[cue], s0)) if cue is not None else None,
        "final_overlap": float(final_over[cue]) if cue is not None else None,
        "recalled": bool(final_over[cue] >= RETRIEVAL_OVERLAP) if cue is not None else None,
        "nearest_pattern": nearest,
        "nearest_overlap": float(final_over[nearest]),
        "max_abs_overlap": float(abs(final_over[nearest])),
        "spurious": bool(stop == K.FIXED_POINT and not retrieved_any),
        "n_patterns": int(n_pat),
        "n_units": int(n),
        "load": float(n_pat / n),
    }
    return metrics, s


def _overlap(xi, s) -> float:
    return float(np.dot(xi.astype(np.int64), s.astype(np.int64)) / len(s))


def run(spec, record) -> dict:
    """Run one Hopfield run (a :class:`dynet.scenario.RunSpec`) into ``record``; return its metrics."""
    cfg = spec.settings
    sha256 = spec.config["patterns"].get("sha256")
    if isinstance(cued_pattern(cfg), (list, str)):
        return run_cues(cfg, spec.seed_sequence(), record, spec.base_dir, sha256)
    patterns, weights, scale, s0, rng_state = build(cfg, spec.seed_sequence(), spec.base_dir, sha256)
    n_pat, n = patterns.shape
    record.static("patterns", patterns, ("pattern", "unit"))
    record.static("initial_state", s0, ("unit",))
    if cfg.record.weights:
        record.static("weights", (weights * scale).astype(np.float64), ("post", "pre"))
    traj = record.trajectory(trajectory_specs(n, n_pat, cfg.record))
    metrics, final = simulate(cfg, patterns, weights, scale, s0, rng_state, sink=traj.append)
    traj.close()
    record.static("final_state", final, ("unit",))
    return metrics


# --------------------------------------------------------------------------- several cues of one network


def cue_streams(init_ss: np.random.SeedSequence, dyn_ss: np.random.SeedSequence, cue: int) -> tuple:
    """The initial-state and dynamics streams of cue ``cue`` (a pattern index) of a multi-cue run:
    the children ``(cue,)`` of the run's children 1 (``init_ss``) and 2 (``dyn_ss``), made by key
    (not ``spawn``, which counts), so they are the same whatever the other cues are."""
    return tuple(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, cue)) for ss in (init_ss, dyn_ss))


#: What a multi-cue run stores where a cue recorded nothing (after it stopped, or at another
#: cue's last sweep): per column of :func:`simulate`'s rows.
CUE_PAD = {"state": 0, "energy": np.nan, "overlap": np.nan, "flips": -1}


def _collect(rows: dict, **cols) -> None:
    for k, v in cols.items():
        rows.setdefault(k, []).append(np.array(v))


def simulate_cues(cfg: HopfieldScenario, seed_sequence, base_dir: str = ".", sha256: str | None = None):
    """Build the network once and run one trajectory per cue of ``init.pattern`` (a list or "all").

    Returns ``(patterns, weights, scale, cues, arrays, metrics)``: ``arrays`` name -> (data, dims),
    each cue's rows placed on the sweeps any cue recorded (``CUE_PAD`` where it recorded none)."""
    pat_ss, init_ss, dyn_ss = seed_sequence.spawn(3)
    patterns = make_patterns(cfg, np.random.default_rng(pat_ss), base_dir, sha256)
    weights, scale = RULES[cfg.network.rule](patterns)
    n_pat, n = patterns.shape
    problem = cue_problem(cued_pattern(cfg), n_pat)
    if problem:
        raise ValueError(problem)
    cues = cue_list(cued_pattern(cfg), n_pat)
    runs = []
    for cue in cues:
        cue_init, cue_dyn = cue_streams(init_ss, dyn_ss, cue)
        s0 = initial_state(cfg.init.model_copy(update={"pattern": cue}), patterns, np.random.default_rng(cue_init))
        rows: dict[str, list] = {}
        metrics, final = simulate(
            cfg,
            patterns,
            weights,
            scale,
            s0,
            seed_state(cue_dyn),
            sink=functools.partial(_collect, rows),
            cue=cue,
        )
        runs.append((s0, final, metrics, {k: np.concatenate(v) for k, v in rows.items()}))
    sweep = np.unique(np.concatenate([r[3]["sweep"] for r in runs]))
    temperature = np.empty(len(sweep))
    arrays = {}
    for name in ("state", "energy", "overlap", "flips"):
        if name not in runs[0][3]:
            continue
        first = runs[0][3][name]
        data = np.full((len(cues), len(sweep), *first.shape[1:]), CUE_PAD[name], first.dtype)
        for c, (_, _, _, rows) in enumerate(runs):
            data[c, np.searchsorted(sweep, rows["sweep"])] = rows[name]
        arrays[name] = (data, ("cue", "sweep", *{"state": ("unit",), "overlap": ("pattern",)}.get(name, ())))
    for _, _, _, rows in runs:
        temperature[np.searchsorted(sweep, rows["sweep"])] = rows["temperature"]  # the same at a sweep for every cue
    arrays["sweep"] = (sweep, ("sweep",))
    arrays["temperature"] = (temperature, ("sweep",))
    arrays["initial_state"] = (np.stack([r[0] for r in runs]), ("cue", "unit"))
    arrays["final_state"] = (np.stack([r[1] for r in runs]), ("cue", "unit"))
    per = [r[2] for r in runs]
    for name, dtype in (("final_overlap", np.float64), ("recalled", np.bool_), ("sweeps", np.int64)):
        arrays[f"cue_{name}"] = (np.array([m[name] for m in per], dtype), ("cue",))
    recalled = arrays["cue_recalled"][0]
    metrics = {
        "n_cues": len(cues),
        "recall_fraction": float(recalled.mean()),
        "mean_final_overlap": float(arrays["cue_final_overlap"][0].mean()),
        "converged_fraction": float(np.mean([m["converged"] for m in per])),
        "spurious_fraction": float(np.mean([m["spurious"] for m in per])),
        "sweeps": int(max(m["sweeps"] for m in per)),
        "mean_sweeps": float(np.mean([m["sweeps"] for m in per])),
        "n_patterns": int(n_pat),
        "n_units": int(n),
        "load": float(n_pat / n),
    }
    return patterns, weights, scale, np.array(cues, np.int64), arrays, metrics


def run_cues(cfg: HopfieldScenario, seed_sequence, record, base_dir: str = ".", sha256: str | None = None) -> dict:
    """A multi-cue run into ``record``: the patterns (and weights) once, every trajectory and
    per-cue result along ``cue`` (the cued pattern indices), chunked by whole cues."""
    patterns, weights, scale, cues, arrays, metrics = simulate_cues(cfg, seed_sequence, base_dir, sha256)
    record.static("patterns", patterns, ("pattern", "unit"))
    if cfg.record.weights:
        record.static("weights", (weights * scale).astype(np.float64), ("post", "pre"))
    record.static("cue", cues, ("cue",))
    for name, (data, dims) in arrays.items():
        record.static(name, data, dims)
    return metrics


#: What :func:`cost` assumes of pattern files, whose size is known only once read.
FILE_GUESS = (10, 64)  # patterns, units


def cost(config: dict) -> float:
    """Rough work of a run in synapse updates, for batching small runs into one task."""
    cfg = run_settings("hopfield", config)
    p = cfg.patterns
    if isinstance(p, RandomPatterns):
        n = cfg.network.n_units
        n_pat = p.n_patterns(n)
    elif isinstance(p, ImagePatterns):
        n, n_pat = ImagePatterns.N_UNITS, p.count
    else:
        n_pat, n = FILE_GUESS
        n = cfg.network.n_units or n
    learn = n * n * n_pat * (3 if cfg.network.rule != "hebbian" else 1)
    sweeps = min(cfg.dynamics.max_sweeps, 20 if cfg.dynamics.stop_at_fixed_point else 10**9)
    cues = len(cue_list(cued_pattern(cfg), n_pat) or [None])  # a multi-cue run: one trajectory per cue
    return float(learn + cues * (sweeps * n * n * 0.2 + n * n))


def warmup() -> None:
    """Compile (or load from cache) every kernel a Hopfield run uses, on tiny inputs."""
    pats = random_patterns(2, 8, np.random.default_rng(0))
    for rule in ("hebbian", "pseudoinverse"):
        w, scale = RULES[rule](pats)
        for update in ("async-permutation", "synchronous"):
            for t in (0.0, 1.0):
                cfg = HopfieldScenario.model_validate(
                    {
                        "name": "warmup",
                        "model": "hopfield",
                        "seed": 0,
                        "network": {"n_units": 8, "rule": rule},
                        "patterns": {"source": "random", "count": 2},
                        "init": {"kind": "flip", "pattern": 0},
                        "dynamics": {"max_sweeps": 3, "temperature": t, "update": update},
                    }
                )
                simulate(cfg, pats, w, scale, pats[0].copy(), np.array([1, 2, 3, 4], np.uint64))
