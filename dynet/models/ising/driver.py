"""The 2D Ising model as a Boltzmann machine on a lattice: sampling and observables.

A run thermalizes for ``dynamics.thermalize`` sweeps, then records the magnetization
and energy per spin every ``record.every`` sweeps (and lattice snapshots every
``record.snapshot_every``). Final metrics are time averages with error bars from
``record.blocks`` contiguous blocks (the standard error of the block estimates, which
accounts for autocorrelation when blocks are longer than it):

* ``abs_magnetization`` = <|m|>, ``energy`` = <e> (per spin);
* ``susceptibility`` chi = N (<m^2> - <|m|>^2) / T;
* ``heat_capacity`` C = N (<e^2> - <e>^2) / T^2 (per spin);
* ``binder`` U = 1 - <m^4> / (3 <m^2>^2);

and, for h = 0 and J > 0, Onsager's exact infinite-lattice values for comparison.
Random streams: child 0 of the run's SeedSequence draws the initial lattice, child 1
seeds the kernel's xoshiro256** state. The driver reads the run's typed scenario
(:class:`~dynet.models.ising.config.IsingScenario`, ``spec.settings``).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from dynet.kernels.rng import seed_state
from dynet.scenario import run_settings
from dynet.store import TrajectorySpec, chunk_rows

from . import kernels as K

#: Onsager's critical temperature for J = 1: 2 / ln(1 + sqrt 2).
T_C = 2.0 / math.log(1.0 + math.sqrt(2.0))


def onsager_magnetization(temperature: float, coupling: float = 1.0) -> float:
    """Spontaneous magnetization per spin (Onsager/Yang): ``(1 - sinh(2J/T)^-4)^(1/8)`` below T_c, else 0."""
    t = temperature / coupling
    if t >= T_C:
        return 0.0
    return (1.0 - math.sinh(2.0 / t) ** -4) ** 0.125


@functools.cache
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    # an eigenvalue problem of size n: computed once per process, not once per run
    nodes, weights = np.polynomial.legendre.leggauss(n)
    nodes.flags.writeable = weights.flags.writeable = False
    return nodes, weights


def onsager_energy(temperature: float, coupling: float = 1.0) -> float:
    """Exact energy per spin at h = 0::

        u = -J coth(2 beta J) [1 + (2/pi) (2 tanh^2(2 beta J) - 1) K(k)],  k = 2 sinh(2 beta J) / cosh^2(2 beta J)

    with ``K`` the complete elliptic integral of the first kind (Gauss-Legendre quadrature).
    """
    x = 2.0 * coupling / temperature
    k = 2.0 * math.sinh(x) / math.cosh(x) ** 2
    nodes, weights = _gauss_legendre(400)
    theta = (nodes + 1.0) * math.pi / 4.0
    with np.errstate(divide="ignore"):
        kk = float(np.sum(weights / np.sqrt(1.0 - (k * np.sin(theta)) ** 2)) * math.pi / 4.0)
    return -coupling / math.tanh(x) * (1.0 + 2.0 / math.pi * (2.0 * math.tanh(x) ** 2 - 1.0) * kk)


def initial_lattice(size: int, init: str, rng: np.random.Generator) -> np.ndarray:
    """The (size, size) ``int8`` starting lattice: all up, all down, or random (P(+1) = 1/2)."""
    if init == "up":
        return np.ones((size, size), np.int8)
    if init == "down":
        return -np.ones((size, size), np.int8)
    return np.where(rng.random((size, size)) < 0.5, 1, -1).astype(np.int8)


def block_stats(m: np.ndarray, e: np.ndarray, n_spins: int, temperature: float, blocks: int) -> dict:
    """Observables of the whole series and their block standard errors."""

    def observables(mm, ee):
        am = np.abs(mm)
        m2 = np.mean(mm**2)
        m4 = np.mean(mm**4)
        return {
            "abs_magnetization": float(am.mean()),
            "magnetization": float(mm.mean()),
            "energy": float(ee.mean()),
            "susceptibility": float(n_spins * (m2 - am.mean() ** 2) / temperature),
            "heat_capacity": float(n_spins * (np.mean(ee**2) - ee.mean() ** 2) / temperature**2),
            "binder": float(1.0 - m4 / (3.0 * m2**2)) if m2 > 0 else math.nan,
        }

    out = observables(m, e)
    b = min(blocks, len(m))
    if b >= 2:
        size = len(m) // b
        per = [observables(m[i * size : (i + 1) * size], e[i * size : (i + 1) * size]) for i in range(b)]
        for key in list(out):
            vals = np.array([p[key] for p in per])
            out[key + "_err"] = float(vals.std(ddof=1) / math.sqrt(b))
    return out


def run(spec, record) -> dict:
    """Run one Ising run (a :class:`dynet.scenario.RunSpec`) into ``record``; return its metrics."""
    cfg = spec.settings
    lat, dyn, rec = cfg.lattice, cfg.dynamics, cfg.record
    size, coupling, field = lat.size, lat.coupling, lat.field
    n_spins = size * size
    temperature = dyn.temperature
    init_ss, dyn_ss = spec.seed_sequence().spawn(2)
    spins = initial_lattice(size, dyn.init, np.random.default_rng(init_ss))
    rng_state = seed_state(dyn_ss)
    algorithm = K.ALGORITHMS[dyn.algorithm]
    thresholds = K.threshold_table(K.acceptance_table(algorithm, 1.0 / temperature, coupling, field))
    record.static("initial_lattice", spins, ("row", "col"))
    m_sum, b_sum = K.sums(spins)
    none = np.empty(0, np.int64)
    if dyn.thermalize:
        m_sum, b_sum, _ = K.sweeps(
            spins, thresholds, algorithm, dyn.thermalize, dyn.thermalize + 1, rng_state, m_sum, b_sum, none, none, 0
        )

    every = rec.every
    n_rec = dyn.sweeps // every
    traj = record.trajectory(
        {
            "sweep": TrajectorySpec(("sweep",), "int64"),
            "magnetization": TrajectorySpec(("sweep",), "float64"),
            "energy": TrajectorySpec(("sweep",), "float64"),
        }
    )
    snap_every = rec.snapshot_every
    snaps = (
        record.trajectory(
            {
                "snapshot_sweep": TrajectorySpec(("snapshot",), "int64"),
                "lattice": TrajectorySpec(("snapshot", "row", "col"), "int8", (size, size)),
            }
        )
        if snap_every
        else None
    )
    # blocks of sweeps: whole records, and snapshot boundaries when snapshots are taken
    block = snap_every if snap_every else max(every, (chunk_rows(8) // 4) * every)
    out_m = np.empty(block // every + 1, np.int64)
    out_b = np.empty(block // every + 1, np.int64)
    all_m = np.empty(n_rec)
    all_e = np.empty(n_rec)
    done = 0
    k = 0
    total = n_rec * every
    while done < total:
        n = min(block, total - done)
        m_sum, b_sum, got = K.sweeps(spins, thresholds, algorithm, n, every, rng_state, m_sum, b_sum, out_m, out_b, 0)
        mm = out_m[:got] / n_spins
        ee = -(coupling * out_b[:got] + field * out_m[:got]) / n_spins
        sweeps_at = done + every * np.arange(1, got + 1)
        traj.append(sweep=sweeps_at, magnetization=mm, energy=ee)
        all_m[k : k + got] = mm
        all_e[k : k + got] = ee
        k += got
        done += n
        if snaps is not None and done % snap_every == 0:
            snaps.append(snapshot_sweep=np.array([done]), lattice=spins[None])
    traj.close()
    if snaps is not None:
        snaps.close()
    record.static("final_lattice", spins, ("row", "col"))
    metrics = block_stats(all_m, all_e, n_spins, temperature, rec.blocks)
    metrics.update(n_spins=n_spins, temperature=temperature, size=size)
    if field == 0 and coupling > 0:
        metrics.update(
            exact_abs_magnetization=onsager_magnetization(temperature, coupling),
            exact_energy=onsager_energy(temperature, coupling),
            t_c=T_C * coupling,
        )
    return metrics


def preflight(config: dict, base_dir: str, store: str | None = None) -> list[str]:
    """Nothing to check beyond the schema: an Ising run reads no data."""
    return []


def cost(config: dict) -> float:
    """Rough work of a run (site updates, ~5 units each), for batching small runs into one task."""
    cfg = run_settings("ising", config)
    return float(cfg.lattice.size**2 * (cfg.dynamics.sweeps + cfg.dynamics.thermalize) * 5)


def warmup() -> None:
    """Compile (or load from cache) the sweep kernels of both algorithms, on a 4 x 4 lattice."""
    spins = np.ones((4, 4), np.int8)
    none = np.empty(1, np.int64)
    for alg in (K.METROPOLIS, K.HEAT_BATH):
        K.sweeps(
            spins,
            K.threshold_table(K.acceptance_table(alg, 0.5, 1.0, 0.0)),
            alg,
            1,
            1,
            np.array([1, 2, 3, 4], np.uint64),
            *K.sums(spins),
            none,
            none,
            0,
        )
