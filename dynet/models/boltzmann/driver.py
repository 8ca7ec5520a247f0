"""General Boltzmann machines: sampling, simulated annealing, parallel tempering, learning.

``n`` binary units (``network.spins``: ``{0, 1}`` or ``{-1, +1}``), the visible ones first,
then the hidden layers in order; one dense symmetric ``W`` (zero diagonal) and biases
``b``; ``E(s) = -1/2 s^T W s - b^T s`` and ``p(s) = exp(-E(s) / T) / Z(T)``. The topology
(``full``, ``bipartite``, ``layered`` visible-h1-h2-..., or a periodic ``lattice``) is a
symmetric 0/1 ``mask`` of the couplings that exist: weights are zero off it and learning
never touches them. Kernels: :mod:`dynet.models.boltzmann.kernels` (conventions there).

**Sampling runs** (``[weights]``): couplings from the Sherrington-Kirkpatrick ensemble
(``N(J0/n, J^2/n)``), one constant coupling, Hebbian weights of random +-1 patterns
(``W = (1/n) sum_mu xi xi^T``), or a user file; the initial state from ``[init]``. Then
Gibbs or Metropolis sweeps (``dynamics.method``, ``dynamics.order``) with
``dynamics.schedule``:

* ``constant``: ``burn_in`` unrecorded sweeps, then ``sweeps`` at ``temperature``;
* ``quench``: ``T = 0`` sweeps until a fixed point (at most ``sweeps``);
* ``linear`` / ``geometric``: simulated annealing, sweep ``t = 1 .. sweeps`` at
  ``t_start + (t_end - t_start) (t - 1) / (sweeps - 1)`` or ``t_start (t_end / t_start) ** ((t - 1) /
  (sweeps - 1))``; ``custom``: ``anneal.temperatures[k]`` held for sweeps
  ``t`` with ``floor((t - 1) K / sweeps) = k`` (``K`` temperatures); all followed, when
  ``anneal.quench``, by up to ``quench_sweeps`` sweeps at ``T = 0`` that stop at a fixed point;
* ``tempering``: parallel tempering over the ladder of ``[tempering]``, one replica per
  temperature, ``burn_in`` unrecorded rounds (swap counts restart after them), then ``sweeps``.

Hebbian and constant weights are simulated in a unit of energy of their own: ``W = unit *
J`` with integer ``J`` (``unit = 1/n``, or ``|c|``; :func:`make_weights`), and the kernels
get ``J``, ``b / unit`` and ``T / unit`` (the same ``E / T``), energies coming back times
``unit``. So every local field is an exact integer: the ``T = 0`` rule (the lower-energy
state, kept on a tie ``u_i = 0``) is decided exactly, and where the kernel calls start
does not change a run.

Records go along ``sweep``: sweep (round) 0 is the state after any ``burn_in``, then
every ``record.every`` sweeps and always the last. One chain records ``energy``,
``mean_state`` (magnetization for +-1 units, mean activity for 0/1), ``flips`` (since the
previous record), ``temperature`` and, with Hebbian weights, ``overlap`` (``sweep x
pattern``, ``xi^mu . s / n``). Parallel tempering records ``energy``, ``mean_state``
(``sweep x temperature``) and ``swap_acceptance`` (``sweep x pair``: accepted / attempted
swaps of the pair ``(T_k, T_{k+1})`` since the burn-in; NaN before the pair's first
attempt, so at round 0). ``record.snapshot_every`` stores ``state`` (``snapshot x unit``,
or ``snapshot x temperature x unit``). Static arrays: ``initial_state``, ``final_state``,
``patterns`` (Hebbian), ``temperatures`` and ``swap_attempts`` / ``swap_accepts``
(tempering), and with ``record.weights`` ``weights``, ``bias``, ``mask``.
Metrics: ``initial_energy`` (before any burn-in), ``final_energy``, ``lowest_energy``
(the lowest energy from sweep 0 on: the state at sweep 0 and after every later sweep),
``mean_energy``, ``mean_state``, ``mean_abs_state`` (<|m|>) and ``abs_mean_state`` (|<m>|)
(over the records after sweep 0), ``sweeps_done``,
``fixed_point``; Hebbian: ``max_overlap`` (largest ``|overlap|`` at the end),
``nearest_pattern``, ``pattern_energy`` (mean energy of the stored patterns); tempering:
those at the lowest temperature, ``lowest_energy_any`` over the ladder and
``swap_acceptance`` (mean over pairs), ``min_swap_acceptance``; constant schedule with
exact sums: ``exact_mean_energy`` and ``log_z`` at ``T``.

**Learning runs** (``[training]`` and ``[data]``, any source of the RBM's data): the
Boltzmann learning rule at ``T = 1``,
``dW_ij = lr (<s_i s_j>_data - <s_i s_j>_model)`` on existing couplings (and likewise
the biases), with momentum and weight decay, one compiled call per epoch
(:func:`dynet.models.boltzmann.kernels.train_epoch`). The data phase uses one persistent
clamped chain per training row (its hidden units take ``clamped_sweeps`` Gibbs sweeps
per update with the visibles clamped; without hidden units the rows themselves), the
model phase ``training.chains`` persistent free chains (``free_sweeps`` sweeps per
update). Records along ``epoch`` (0 is the initialization; every ``record.every`` and
the last): ``lr``, ``weight_norm`` (Frobenius norm of ``W``), ``bias_norm``,
``free_mean_state`` (mean state of the free chains) and, with exact sums (``record.exact``,
default up to 20 units), ``log_z`` and ``train_log_likelihood`` / ``val_log_likelihood``
(mean ``log p(v)`` per row, ``p(v) = sum_h exp(-E(v, h)) / Z``, every configuration
enumerated). Static: ``weights``, ``bias``, ``mask``, ``initial_weights``,
``validation_index``, ``image_shape``; ``record.snapshot_every`` stores ``snapshot_weights``.
Metrics: the last record, ``max_train_log_likelihood`` (the data's own entropy bound) and
``independent_log_likelihood`` (the best model without couplings, matched marginals).

Random streams (children of the run's SeedSequence): 0 the parameters (couplings or
patterns, unless ``weights.seed`` gives them their own ``SeedSequence``; initial weights
when learning), 1 the initial states (the chain, every
tempering replica in order; the clamped chains' hidden units then the free chains),
2 the kernel's xoshiro256** state, 3 the validation split (learning).
"""

from __future__ import annotations

import math
import os

import numpy as np

from dynet import data as data_sources
from dynet.kernels.rng import seed_state
from dynet.models.hopfield.driver import random_patterns
from dynet.models.rbm.driver import base_rate_biases, empirical_log_likelihood, file_hash, load_data
from dynet.scenario import run_settings
from dynet.store import TrajectorySpec, chunk_rows
from dynet.train import loop as L

from . import kernels as K
from .config import BM_EXACT_AUTO, BMFileWeights, BMInit, BMNetwork, BMTraining, BoltzmannScenario

SPIN_VALUES = {"binary": (0, 1), "ising": (-1, 1)}


# --------------------------------------------------------------------------- structure


def coupling_mask(network: BMNetwork) -> np.ndarray:
    """float64 (n, n) 0/1: which couplings the validated ``network``'s topology has (symmetric, zero diagonal)."""
    layers = network.layers
    n = sum(layers)
    topology = network.topology
    if topology == "full":
        return 1.0 - np.eye(n)
    mask = np.zeros((n, n))
    if topology == "lattice":
        size = network.size
        site = np.arange(n).reshape(size, size)
        for nb in (np.roll(site, -1, axis=0), np.roll(site, -1, axis=1)):
            mask[site.ravel(), nb.ravel()] = 1.0
            mask[nb.ravel(), site.ravel()] = 1.0
        return mask
    starts = np.concatenate([[0], np.cumsum(layers)])
    for k in range(len(layers) - 1):  # bipartite: visible-hidden; layered: each adjacent pair
        a = slice(starts[k], starts[k + 1])
        c = slice(starts[k + 1], starts[k + 2])
        mask[a, c] = 1.0
        mask[c, a] = 1.0
    return mask


def symmetric_on(g: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The symmetric matrix of ``g``'s strict upper triangle, zero off the topology ``mask``."""
    upper = np.triu(g, 1)
    return (upper + upper.T) * mask


def energies(W: np.ndarray, b: np.ndarray, states: np.ndarray) -> np.ndarray:
    """``E(s) = -1/2 s^T W s - b^T s`` of each row of ``states`` (numpy)."""
    s = np.atleast_2d(states).astype(np.float64)
    return -0.5 * np.einsum("ri,ij,rj->r", s, W, s) - s @ b


def log_sums(
    W: np.ndarray, b: np.ndarray, states: np.ndarray, free: np.ndarray, spins: str, temperature: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(``log sum exp(-E / T)``, Boltzmann mean of ``E``) over the units ``free`` of each row of
    ``states``, the others held (:func:`dynet.models.boltzmann.kernels.log_sums`)."""
    lo, hi = SPIN_VALUES[spins]
    states = np.ascontiguousarray(np.atleast_2d(states), np.int8)
    out_log = np.empty(len(states))
    out_mean = np.empty(len(states))
    K.log_sums(
        np.ascontiguousarray(W, np.float64),
        np.asarray(b, np.float64),
        states,
        np.asarray(free, np.int64),
        lo,
        hi,
        1.0 / temperature,
        out_log,
        out_mean,
    )
    return out_log, out_mean


def log_partition(W: np.ndarray, b: np.ndarray, spins: str, temperature: float = 1.0) -> tuple[float, float]:
    """Exact ``(log Z(T), <E>_T)`` by enumerating all ``2**n`` states."""
    n = len(b)
    lz, me = log_sums(W, b, np.zeros((1, n), np.int8), np.arange(n), spins, temperature)
    return float(lz[0]), float(me[0])


def exact_enabled(config: BoltzmannScenario, n: int) -> bool:
    exact = config.record.exact
    return n <= BM_EXACT_AUTO if exact is None else bool(exact)


# --------------------------------------------------------------------------- weights and states


def load_weight_file(
    wcfg: BMFileWeights, mask: np.ndarray, topology: str, base_dir: str, sha256: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) from a user file, checked: (n, n), finite, symmetric, zero diagonal, on the topology;
    ``sha256``: the file's expected hash (the resolved config's).

    Raises :class:`dynet.data.DataError` with a one-line message.
    """
    path = wcfg.path if os.path.isabs(wcfg.path) else os.path.join(base_dir, wcfg.path)
    n = len(mask)
    W = data_sources.load_array(path, wcfg.key, sha256)
    if W.dtype.kind not in "biuf":
        raise data_sources.DataError(f"{path}: weights must be numeric, got dtype {W.dtype}")
    if W.shape != (n, n):
        raise data_sources.DataError(f"{path}: weights have shape {W.shape}; the network has {n} units ({n}, {n})")
    W = W.astype(np.float64)
    if not np.isfinite(W).all():
        raise data_sources.DataError(f"{path}: weights contain NaN or infinite values")
    asym = np.abs(W - W.T)
    tol = 1e-12 * max(1.0, float(np.abs(W).max()))
    if asym.max() > tol:
        i, j = np.unravel_index(int(np.argmax(asym)), W.shape)
        raise data_sources.DataError(
            f"{path}: weights are not symmetric: W[{i}, {j}] = {W[i, j]:g} but W[{j}, {i}] = {W[j, i]:g}"
        )
    diag = np.abs(np.diag(W))
    if diag.max() > 0:
        i = int(np.argmax(diag))
        raise data_sources.DataError(
            f"{path}: weights have a non-zero diagonal: W[{i}, {i}] = {W[i, i]:g} (a unit does not couple to itself)"
        )
    off = (W != 0) & (mask == 0)
    if off.any():
        i, j = np.argwhere(off)[0]
        raise data_sources.DataError(
            f"{path}: W[{i}, {j}] = {W[i, j]:g} couples units the {topology!r} topology does not connect"
        )
    W = 0.5 * (W + W.T)
    if wcfg.bias_key is None:
        return W, np.full(n, float(wcfg.bias))
    b = data_sources.load_array(path, wcfg.bias_key, sha256)
    if b.shape != (n,) or b.dtype.kind not in "biuf" or not np.isfinite(b).all():
        raise data_sources.DataError(f"{path}: bias '{wcfg.bias_key}' must be {n} finite numbers, got shape {b.shape}")
    return W, b.astype(np.float64)


def make_weights(
    config: BoltzmannScenario, rng: np.random.Generator, base_dir: str = ".", sha256: str | None = None
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray | None]:
    """``(J, unit, b, patterns or None)`` of a sampling run: the couplings are ``W = unit * J``.

    Hebbian weights are ``J = x^T x`` on the topology (exact integers, zero diagonal) with
    ``unit = 1/n``; a constant coupling ``c`` is ``J = sign(c) mask`` with ``unit = |c|``; SK
    and file weights are ``J = W`` with ``unit = 1``. Random draws from ``rng``, or from
    ``SeedSequence(weights.seed)`` when that is set.
    """
    net, w = config.network, config.weights
    mask = coupling_mask(net)
    n = len(mask)
    patterns = None
    src = w.source
    unit = 1.0
    if src in ("sk", "hebbian") and w.seed is not None:  # (constant and file weights draw nothing)
        rng = np.random.default_rng(np.random.SeedSequence(w.seed))
    if src == "sk":
        J = symmetric_on(rng.normal(w.mean / n, w.coupling / math.sqrt(n), (n, n)), mask)
    elif src == "constant":
        J = math.copysign(1.0, w.coupling) * mask
        unit = abs(float(w.coupling))
    elif src == "hebbian":
        patterns = random_patterns(w.patterns, n, rng, w.pattern_bias)
        x = patterns.astype(np.float64)
        J = (x.T @ x) * mask  # integers below 2**53: exact in float64
        unit = 1.0 / n
    else:
        W, b = load_weight_file(w, mask, net.topology, base_dir, sha256)
        return W, 1.0, b, None
    return np.ascontiguousarray(J), unit, np.full(n, float(w.bias)), patterns


def initial_state(
    init: BMInit, n: int, spins: str, patterns: np.ndarray | None, rng: np.random.Generator
) -> np.ndarray:
    """int8 (n,) initial state of ``[init]``."""
    lo, hi = SPIN_VALUES[spins]
    if init.kind == "random":
        return np.where(rng.random(n) < init.activity, hi, lo).astype(np.int8)
    if init.kind == "pattern":
        s = patterns[init.pattern].copy()
        idx = rng.choice(n, size=int(round(init.flip * n)), replace=False)
        s[idx] = -s[idx]
        return s
    return np.sign(patterns[init.patterns].astype(np.int64).sum(axis=0)).astype(np.int8)


def temperatures(config: BoltzmannScenario) -> np.ndarray:
    """Temperature of each sweep of a one-chain run (the module docstring gives the formulas)."""
    dyn, a = config.dynamics, config.anneal
    n = dyn.sweeps
    sched = dyn.schedule
    if sched == "constant":
        return np.full(n, float(dyn.temperature))
    if sched == "quench":
        return np.zeros(n)
    if sched == "linear":
        temps = np.linspace(a.t_start, a.t_end, n)
    elif sched == "geometric":
        temps = np.geomspace(a.t_start, a.t_end, n)
    else:
        ladder = np.asarray(a.temperatures, np.float64)
        temps = ladder[(np.arange(n) * len(ladder)) // n]
    if a.quench:
        temps = np.concatenate([temps, np.zeros(a.quench_sweeps)])
    return temps


def _block(every: int, snap_every: int, record_bytes: int, snapshot_bytes: int) -> int:
    """Sweeps per kernel call: about one chunk of records and at most one of snapshots (the
    kernels count sweeps from the start of the run, so blocks need no alignment)."""
    block = chunk_rows(record_bytes) * every
    if snap_every:
        block = min(block, chunk_rows(snapshot_bytes) * snap_every)
    return block


# --------------------------------------------------------------------------- sampling runs


def _averages(energies: np.ndarray, means: np.ndarray) -> dict:
    """Averages over the records: ``mean_energy``, ``mean_state``, ``mean_abs_state`` (<|m|>) and
    ``abs_mean_state`` (|<m>|: near <|m|> when a chain keeps one sign, near 0 when it visits both)."""
    if len(energies) == 0:
        return dict(mean_energy=None, mean_state=None, mean_abs_state=None, abs_mean_state=None)
    m = float(means.mean())
    return dict(
        mean_energy=float(energies.mean()),
        mean_state=m,
        mean_abs_state=float(np.abs(means).mean()),
        abs_mean_state=abs(m),
    )


def _overlap_metrics(patterns: np.ndarray, s: np.ndarray) -> dict:
    """``max_overlap`` (largest ``|xi^mu . s / n|``) and ``nearest_pattern`` of the state ``s``."""
    ov = np.abs((patterns.astype(np.float64) @ s) / len(s))
    return dict(max_overlap=float(ov.max()), nearest_pattern=int(np.argmax(ov)))


def _energy(J: np.ndarray, unit: float, b: np.ndarray, s: np.ndarray) -> float:
    """Energy of ``s`` with couplings ``unit * J`` and biases ``unit * b`` (fields from scratch)."""
    h = np.empty(len(s))
    K.local_fields(J, s, h)
    return float(unit * K.energy(s, h, b))


def _one_chain(config, record, J, unit, b, patterns, s, rng_state) -> dict:
    """One chain from ``s`` (updated in place); ``J, b`` and the temperatures in the kernels'
    unit (:func:`_sample`). Stores the trajectories, returns the metrics."""
    net, dyn, rec = config.network, config.dynamics, config.record
    lo, hi = SPIN_VALUES[net.spins]
    n = len(s)
    method, order = K.METHODS[dyn.method], K.ORDERS[dyn.order]
    units = np.arange(n, dtype=np.int64)
    h = np.empty(n)
    perm = np.empty(n, np.int64)
    pats = patterns if patterns is not None else np.zeros((0, n), np.int8)
    n_pat = len(pats)
    every, snap_every = rec.every, rec.snapshot_every

    def buffers(rows, snaps):
        return dict(
            sweep=np.empty(rows, np.int64),
            energy=np.empty(rows),
            mean_state=np.empty(rows),
            flips=np.empty(rows, np.int64),
            overlap=np.empty((rows, n_pat)),
            snap_sweep=np.empty(snaps, np.int64),
            snap_state=np.empty((snaps, n), np.int8),
        )

    def call(buf, ktemps, first, n_sweeps, every_, snap_every_, pending):
        K.local_fields(J, s, h)  # exact fields and energy at every block start
        e = K.energy(s, h, b)
        return K.run_sweeps(
            J,
            b,
            s,
            h,
            e,
            units,
            lo,
            hi,
            method,
            order,
            ktemps,
            first,
            n_sweeps,
            every_,
            snap_every_,
            rng_state,
            perm,
            pending,
            pats,
            buf["sweep"],
            buf["energy"],
            buf["mean_state"],
            buf["flips"],
            buf["overlap"],
            buf["snap_sweep"],
            buf["snap_state"],
        )

    def state_row(sweep, flips):
        """A record row from the state as it is (sweep 0, and a last sweep off the ``every`` grid)."""
        row = dict(
            sweep=[sweep],
            energy=[_energy(J, unit, b, s)],
            mean_state=[s.mean()],
            flips=[flips],
            temperature=[temps[max(sweep, 1) - 1]],
        )
        if n_pat:
            row["overlap"] = ((pats.astype(np.float64) @ s) / n)[None]
        return {k: np.asarray(v) for k, v in row.items()}

    if dyn.schedule == "constant" and dyn.burn_in:
        call(buffers(1, 1), np.full(dyn.burn_in, dyn.temperature / unit), 0, dyn.burn_in, dyn.burn_in + 1, 0, 0)

    temps = temperatures(config)
    ktemps = temps / unit
    total = len(temps)
    specs = {
        "sweep": TrajectorySpec(("sweep",), "int64"),
        "energy": TrajectorySpec(("sweep",), "float64"),
        "mean_state": TrajectorySpec(("sweep",), "float64"),
        "flips": TrajectorySpec(("sweep",), "int64"),
        "temperature": TrajectorySpec(("sweep",), "float64"),
    }
    if n_pat:
        specs["overlap"] = TrajectorySpec(("sweep", "pattern"), "float64", (n_pat,))
    traj = record.trajectory(specs)
    snaps = (
        record.trajectory(
            {
                "snapshot_sweep": TrajectorySpec(("snapshot",), "int64"),
                "state": TrajectorySpec(("snapshot", "unit"), "int8", (n,)),
            }
        )
        if snap_every
        else None
    )
    first = state_row(0, 0)
    traj.append(**first)
    block = _block(every, snap_every, 8 * (5 + n_pat), n)
    buf = buffers(block // every + 1, block // snap_every + 1 if snap_every else 0)
    done = 0
    pending = 0
    lowest = float(first["energy"][0])
    stopped = False
    rec_e, rec_m = [], []
    while done < total and not stopped:
        n_sw = min(block, total - done)
        ran, n_rec, n_snap, stopped, pending, _, low = call(buf, ktemps, done, n_sw, every, snap_every, pending)
        lowest = min(lowest, unit * low)
        cols = {k: buf[k][:n_rec].copy() for k in specs if k not in ("energy", "temperature")}
        cols["energy"] = unit * buf["energy"][:n_rec]
        cols["temperature"] = temps[cols["sweep"] - 1]
        last = done + ran
        if (stopped or last == total) and (n_rec == 0 or cols["sweep"][-1] != last):
            extra = state_row(last, pending)  # the last sweep is always recorded
            cols = {k: np.concatenate([cols[k], extra[k]]) for k in specs}
            pending = 0
        traj.append(**cols)
        rec_e.append(cols["energy"])
        rec_m.append(cols["mean_state"])
        if snaps is not None and n_snap:
            snaps.append(snapshot_sweep=buf["snap_sweep"][:n_snap], state=buf["snap_state"][:n_snap])
        done = last
    traj.close()
    if snaps is not None:
        snaps.close()
    final = _energy(J, unit, b, s)
    metrics = dict(
        final_energy=final,
        lowest_energy=float(min(lowest, final)),
        sweeps_done=int(done),
        fixed_point=bool(stopped),
        final_temperature=float(temps[done - 1]),
        **_averages(np.concatenate(rec_e), np.concatenate(rec_m)),
    )
    if n_pat:
        metrics.update(_overlap_metrics(pats, s))
    if dyn.schedule == "constant" and exact_enabled(config, n):
        log_z, mean_e = log_partition(J, b, net.spins, dyn.temperature / unit)
        metrics.update(exact_mean_energy=unit * mean_e, log_z=log_z)
    return metrics


def _tempering(config, record, J, unit, b, patterns, S, rng_state) -> tuple[dict, np.ndarray]:
    """Parallel tempering of the replicas ``S`` (updated in place); ``J, b`` and the temperatures
    in the kernels' unit (:func:`_sample`). Stores the trajectories; returns the metrics and
    the final states by temperature."""
    net, dyn, rec = config.network, config.dynamics, config.record
    lo, hi = SPIN_VALUES[net.spins]
    temps = np.asarray(config.tempering.ladder, np.float64)
    ktemps = temps / unit
    n_rep, n = S.shape
    method, order = K.METHODS[dyn.method], K.ORDERS[dyn.order]
    units = np.arange(n, dtype=np.int64)
    perm = np.empty(n, np.int64)
    H = np.empty((n_rep, n))
    E = np.empty(n_rep)
    at = np.arange(n_rep, dtype=np.int64)
    attempts = np.zeros(n_rep - 1, np.int64)
    accepts = np.zeros(n_rep - 1, np.int64)
    lowest = np.full(n_rep, np.inf)
    swap_every, every, snap_every = config.tempering.swap_every, rec.every, rec.snapshot_every

    def buffers(rows, snaps):
        return dict(
            sweep=np.empty(rows, np.int64),
            energy=np.empty((rows, n_rep)),
            mean_state=np.empty((rows, n_rep)),
            swap_acceptance=np.empty((rows, n_rep - 1)),
            snap_sweep=np.empty(snaps, np.int64),
            snap_state=np.empty((snaps, n_rep, n), np.int8),
        )

    def exact_fields():
        for r in range(n_rep):
            K.local_fields(J, S[r], H[r])
            E[r] = K.energy(S[r], H[r], b)

    def call(buf, first, n_sweeps, every_, snap_every_):
        exact_fields()  # exact fields and energies at every block start
        return K.tempering_sweeps(
            J,
            b,
            S,
            H,
            E,
            at,
            units,
            lo,
            hi,
            method,
            order,
            ktemps,
            first,
            n_sweeps,
            swap_every,
            every_,
            snap_every_,
            rng_state,
            perm,
            attempts,
            accepts,
            lowest,
            buf["sweep"],
            buf["energy"],
            buf["mean_state"],
            buf["swap_acceptance"],
            buf["snap_sweep"],
            buf["snap_state"],
        )

    def state_row(sweep):
        """A record row from the states as they are (round 0, and a last round off the ``every`` grid)."""
        exact_fields()
        rates = np.full(n_rep - 1, np.nan)
        tried = attempts > 0
        rates[tried] = accepts[tried] / attempts[tried]
        return dict(
            sweep=np.array([sweep]),
            energy=unit * E[at][None],
            mean_state=S[at].mean(axis=1)[None],
            swap_acceptance=rates[None],
        )

    if dyn.burn_in:
        call(buffers(1, 1), 0, dyn.burn_in, dyn.burn_in + 1, 0)
        attempts[:] = 0
        accepts[:] = 0
    record.static("temperatures", temps, ("temperature",))
    specs = {
        "sweep": TrajectorySpec(("sweep",), "int64"),
        "energy": TrajectorySpec(("sweep", "temperature"), "float64", (n_rep,)),
        "mean_state": TrajectorySpec(("sweep", "temperature"), "float64", (n_rep,)),
        "swap_acceptance": TrajectorySpec(("sweep", "pair"), "float64", (n_rep - 1,)),
    }
    traj = record.trajectory(specs)
    snaps = (
        record.trajectory(
            {
                "snapshot_sweep": TrajectorySpec(("snapshot",), "int64"),
                "state": TrajectorySpec(("snapshot", "temperature", "unit"), "int8", (n_rep, n)),
            }
        )
        if snap_every
        else None
    )
    traj.append(**state_row(0))
    lowest[:] = E[at]  # from round 0 (the states after any burn-in) on
    total = dyn.sweeps
    block = _block(every, snap_every, 8 * 3 * n_rep, n_rep * n)
    buf = buffers(block // every + 1, block // snap_every + 1 if snap_every else 0)
    done = 0
    rec_e, rec_m = [], []
    while done < total:
        n_sw = min(block, total - done)
        n_rec, n_snap = call(buf, done, n_sw, every, snap_every)
        cols = {k: buf[k][:n_rec].copy() for k in ("sweep", "mean_state", "swap_acceptance")}
        cols["energy"] = unit * buf["energy"][:n_rec]
        done += n_sw
        if done == total and (n_rec == 0 or cols["sweep"][-1] != total):
            extra = state_row(total)  # the last round is always recorded
            cols = {k: np.concatenate([cols[k], extra[k]]) for k in specs}
        traj.append(**cols)
        rec_e.append(cols["energy"][:, 0])
        rec_m.append(cols["mean_state"][:, 0])
        if snaps is not None and n_snap:
            snaps.append(snapshot_sweep=buf["snap_sweep"][:n_snap], state=buf["snap_state"][:n_snap])
    traj.close()
    if snaps is not None:
        snaps.close()
    record.static("swap_attempts", attempts, ("pair",))
    record.static("swap_accepts", accepts, ("pair",))
    s = S[at[0]]
    rates = accepts / np.maximum(attempts, 1)
    metrics = dict(
        final_energy=_energy(J, unit, b, s),
        lowest_energy=float(unit * lowest[0]),
        lowest_energy_any=float(unit * lowest.min()),
        swap_acceptance=float(rates.mean()),
        min_swap_acceptance=float(rates.min()),
        sweeps_done=int(done),
        t_min=float(temps[0]),
        t_max=float(temps[-1]),
        **_averages(np.concatenate(rec_e), np.concatenate(rec_m)),
    )
    if patterns is not None:
        metrics.update(_overlap_metrics(patterns, s))
    return metrics, S[at]


def _sample(spec, record) -> dict:
    """A sampling run. The kernels get the couplings ``J``, biases ``b / unit`` and temperatures
    ``T / unit`` of :func:`make_weights` (the same Boltzmann distribution and dynamics:
    ``E / T`` is unchanged) and energies come back times ``unit``: with Hebbian or constant
    weights every field ``J s`` is an exact integer, so ``T = 0`` ties are exact and do not
    depend on where a block starts."""
    cfg = spec.settings
    net = cfg.network
    par_ss, init_ss, dyn_ss = spec.seed_sequence().spawn(3)
    J, unit, b, patterns = make_weights(
        cfg, np.random.default_rng(par_ss), spec.base_dir, spec.config["weights"].get("sha256")
    )
    W = unit * J
    bk = b / unit
    n = len(b)
    init_rng = np.random.default_rng(init_ss)
    rng_state = seed_state(dyn_ss)
    if cfg.record.weights:
        record.static("weights", W, ("unit", "unit_b"))
        record.static("bias", b, ("unit",))
        record.static("mask", coupling_mask(net).astype(np.uint8), ("unit", "unit_b"))
    if patterns is not None:
        record.static("patterns", patterns, ("pattern", "unit"))
        metrics_extra = {"pattern_energy": float(energies(W, b, patterns).mean())}
    else:
        metrics_extra = {}
    if cfg.dynamics.schedule == "tempering":
        n_rep = len(cfg.tempering.ladder)
        S = np.stack([initial_state(cfg.init, n, net.spins, patterns, init_rng) for _ in range(n_rep)])
        record.static("initial_state", S, ("temperature", "unit"))
        initial = _energy(J, unit, bk, S[0])
        metrics, final = _tempering(cfg, record, J, unit, bk, patterns, S, rng_state)
        record.static("final_state", final, ("temperature", "unit"))
    else:
        s = initial_state(cfg.init, n, net.spins, patterns, init_rng)
        record.static("initial_state", s, ("unit",))
        initial = _energy(J, unit, bk, s)
        metrics = _one_chain(cfg, record, J, unit, bk, patterns, s, rng_state)
        record.static("final_state", s, ("unit",))
    metrics.update(initial_energy=initial, n_units=int(n), **metrics_extra)
    return metrics


# --------------------------------------------------------------------------- learning runs


class Learner:
    """Parameters, momentum, persistent clamped and free chains of one learning run.

    ``rows`` (int8 (m, nv) in the unit values) are the training rows; ``epoch(lrs)``
    runs one epoch in one compiled call (``lrs``: one rate per update).
    """

    def __init__(
        self,
        network: BMNetwork,
        rows: np.ndarray,
        W: np.ndarray,
        b: np.ndarray,
        training: BMTraining,
        rng: np.random.Generator,
        rng_state: np.ndarray,
    ):
        self.spins = network.spins
        self.lo, self.hi = SPIN_VALUES[self.spins]
        self.mask = coupling_mask(network)
        n = len(self.mask)
        nv = network.layers[0]
        self.W = np.ascontiguousarray(W * self.mask)
        self.b = np.array(b, np.float64)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self.G = np.zeros_like(self.W)
        self.g = np.zeros_like(self.b)
        self.hidden = np.arange(nv, n, dtype=np.int64)
        self.units = np.arange(n, dtype=np.int64)
        self.clamped = np.empty((len(rows), n), np.int8)
        self.clamped[:, :nv] = rows
        self.clamped[:, nv:] = self._random((len(rows), n - nv), rng)
        self.free = self._random((training.chains, n), rng)
        self.t = training
        self.batch_size = training.batch_size  # at most len(rows): checked in preflight
        self.steps = (len(rows) + self.batch_size - 1) // self.batch_size
        self.order = np.empty(len(rows), np.int64)
        self.h = np.empty(n)
        self.perm = np.empty(n, np.int64)
        self.rng_state = rng_state

    def _random(self, shape, rng):
        return np.where(rng.random(shape) < 0.5, self.hi, self.lo).astype(np.int8)

    def epoch(self, lrs: np.ndarray) -> None:
        t = self.t
        K.train_epoch(
            self.W,
            self.b,
            self.mask,
            self.dW,
            self.db,
            self.G,
            self.g,
            self.clamped,
            self.free,
            self.order,
            bool(t.shuffle),
            int(self.batch_size),
            self.hidden,
            self.units,
            self.lo,
            self.hi,
            int(t.clamped_sweeps),
            int(t.free_sweeps),
            np.ascontiguousarray(lrs, np.float64),
            float(t.momentum),
            float(t.weight_decay),
            self.rng_state,
            self.h,
            self.perm,
        )

    def params(self) -> tuple[np.ndarray, ...]:
        """``(W, b)``."""
        return self.W, self.b

    def log_likelihood(self, rows: np.ndarray, log_z: float) -> float:
        """Mean exact ``log p(v)`` of ``rows`` (visible values)."""
        if len(rows) == 0:
            return math.nan
        states = np.zeros((len(rows), len(self.b)), np.int8)
        states[:, : rows.shape[1]] = rows
        lp, _ = log_sums(self.W, self.b, states, self.hidden, self.spins)
        return float(lp.mean() - log_z)


def initial_bias(x_train: np.ndarray, n: int, training: BMTraining, spins: str) -> np.ndarray:
    """Zero, or for the visible units the independent-unit model of the training data:
    :func:`dynet.models.rbm.driver.base_rate_biases` (``logit(p)``) for 0/1 units, half of it for +-1
    units (``p(s = +1) = sigmoid(2 b)``)."""
    b = np.zeros(n)
    if training.visible_bias == "data" and len(x_train):
        b[: x_train.shape[1]] = base_rate_biases(x_train) * (1.0 if spins == "binary" else 0.5)
    return b


def independent_log_likelihood(x: np.ndarray) -> float:
    """Mean log-likelihood of 0/1 rows under the product of their marginals (no couplings)."""
    p = x.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.where(x == 1, np.log(p), np.log(1.0 - p))
    return float(np.nan_to_num(ll, nan=0.0).sum(axis=1).mean())


def _learn(spec, record) -> dict:
    cfg = spec.settings
    net, tr, rec = cfg.network, cfg.training, cfg.record
    par_ss, init_ss, train_ss, split_ss = spec.seed_sequence().spawn(4)
    x, image_shape = load_data(cfg.data, spec.base_dir, file_hash(spec.config))
    tr_idx, va_idx = L.validation_split(cfg.data.validation, len(x), split_ss)
    lo, hi = SPIN_VALUES[net.spins]
    rows = np.where(x == 1, hi, lo).astype(np.int8)
    mask = coupling_mask(net)
    n = len(mask)
    W0 = symmetric_on(np.random.default_rng(par_ss).normal(0.0, tr.init_std, (n, n)), mask)
    b0 = initial_bias(x[tr_idx], n, tr, net.spins)
    learner = Learner(net, rows[tr_idx], W0, b0, tr, np.random.default_rng(init_ss), seed_state(train_ss))
    record.static("initial_weights", learner.W, ("unit", "unit_b"))
    record.static("mask", mask.astype(np.uint8), ("unit", "unit_b"))
    exact = exact_enabled(cfg, n)
    cols = ["lr", "weight_norm", "bias_norm", "free_mean_state", "log_z", "train_log_likelihood", "val_log_likelihood"]
    specs = {"epoch": TrajectorySpec(("epoch",), "int64"), **{c: TrajectorySpec(("epoch",), "float64") for c in cols}}
    snap_every = rec.snapshot_every
    snap_specs = {
        "snapshot_epoch": TrajectorySpec(("snapshot",), "int64"),
        "snapshot_weights": TrajectorySpec(("snapshot", "unit", "unit_b"), "float64", (n, n)),
    }

    def row(epoch, lr):
        log_z = log_partition(learner.W, learner.b, net.spins)[0] if exact else math.nan
        return dict(
            epoch=epoch,
            lr=lr,
            weight_norm=float(np.sqrt(np.sum(learner.W**2))),
            bias_norm=float(np.sqrt(np.sum(learner.b**2))),
            free_mean_state=float(learner.free.mean()),
            log_z=log_z,
            train_log_likelihood=learner.log_likelihood(rows[tr_idx], log_z) if exact else math.nan,
            val_log_likelihood=learner.log_likelihood(rows[va_idx], log_z) if exact else math.nan,
        )

    with L.trajectories(record, specs, snap_specs if snap_every else None) as (traj, snaps):
        last = L.run_epochs(
            learner,
            L.epoch_schedule(cfg.schedule.model_dump(), tr.lr),
            tr.epochs,
            row,
            traj,
            every=rec.every,
            snapshots=snaps,
            snapshot_every=snap_every,
            snapshot=lambda: {"snapshot_weights": learner.W[None]},
        )
    record.static("weights", learner.W, ("unit", "unit_b"))
    record.static("bias", learner.b, ("unit",))
    record.static("validation_index", va_idx.astype(np.int64), ("validation_row",))
    if image_shape is not None:
        record.static("image_shape", np.array(image_shape, np.int64), ("image_axis",))
    metrics = L.final_metrics(last)
    metrics.update(
        n_train=int(len(tr_idx)),
        n_validation=int(len(va_idx)),
        n_units=int(n),
        n_visible=int(net.layers[0]),
        steps_per_epoch=int(learner.steps),
        exact=bool(exact),
        independent_log_likelihood=independent_log_likelihood(x[tr_idx]),
    )
    if exact:
        metrics["max_train_log_likelihood"] = empirical_log_likelihood(x[tr_idx])
    return metrics


# --------------------------------------------------------------------------- the model contract


def run(spec, record) -> dict:
    """Run one boltzmann run (a :class:`dynet.scenario.RunSpec`) into ``record``; return its metrics."""
    if spec.settings.training is not None:
        return _learn(spec, record)
    return _sample(spec, record)


def preflight(config: dict, base_dir: str, store: str | None = None) -> list[str]:
    """Problems that need files: the weight file (shape, symmetry, diagonal, topology); the
    data (readable, binary, as many columns as visible units, training rows left after the
    validation split, at least ``training.batch_size`` of them)."""
    cfg = run_settings("boltzmann", config)
    if cfg.training is not None:
        try:
            x, _ = load_data(cfg.data, base_dir, file_hash(config))
        except data_sources.DataError as exc:
            return [f"data.path: {exc}"]
        nv = cfg.network.layers[0]
        if x.shape[1] != nv:
            return [f"network.visible: the data have {x.shape[1]} columns, the network {nv} visible units"]
        n_train = len(x) - int(cfg.data.validation * len(x))
        if n_train < 1:
            return [f"data.validation: leaves no training rows of {len(x)}"]
        batch = cfg.training.batch_size
        if batch > n_train:
            return [f"training.batch_size: {batch} is larger than the {n_train} training rows"]
        return []
    w = cfg.weights
    if w.source != "file":
        return []
    try:
        load_weight_file(w, coupling_mask(cfg.network), cfg.network.topology, base_dir, config["weights"].get("sha256"))
    except data_sources.DataError as exc:
        return [f"weights.path: {exc}"]
    return []


def cost(config: dict) -> float:
    """Rough work of a run (multiply-adds), for batching small runs into one task."""
    cfg = run_settings("boltzmann", config)
    n = sum(cfg.network.layers)
    exact = exact_enabled(cfg, n)
    if cfg.training is not None:
        tr, rec = cfg.training, cfg.record
        rows, _ = L.data_size(cfg.data)
        steps = -(-rows // tr.batch_size)
        work = tr.epochs * (rows * n * n * (1 + tr.clamped_sweeps) + steps * tr.chains * n * n * (1 + tr.free_sweeps))
        if exact:
            work += (tr.epochs // rec.every + 1) * 2.0**n * n * 4
        return float(work)
    dyn = cfg.dynamics
    reps = len(cfg.tempering.ladder) if dyn.schedule == "tempering" else 1
    sweeps = dyn.sweeps + dyn.burn_in + (cfg.anneal.quench_sweeps if cfg.anneal is not None else 0)
    work = sweeps * reps * n * (10 + n / 2)
    if exact and dyn.schedule == "constant":
        work += 2.0**n * n * 4
    return float(work)


#: Tiny runs that call every kernel with the argument types of real runs.
_WARMUP = (
    {
        "network": {"visible": 3},
        "weights": {"source": "sk"},
        "dynamics": {"temperature": 1.0, "sweeps": 2},
        "record": {"exact": True},
    },
    {
        "network": {"visible": 3},
        "weights": {"source": "sk"},
        "dynamics": {"schedule": "tempering", "sweeps": 2},
        "tempering": {"temperatures": [1.0, 2.0]},
    },
    {
        "network": {"topology": "bipartite", "visible": 4, "hidden": 1},
        "data": {"source": "bars-stripes", "size": 2},
        "training": {"epochs": 1, "chains": 2, "batch_size": 2},
        "record": {"exact": True},
    },
)


def warmup() -> None:
    """Compile (or load from cache) every kernel a run calls, on tiny runs."""
    from dynet.scenario import parse_scenario

    for doc in _WARMUP:
        spec = parse_scenario({"name": "warmup", "model": "boltzmann", "seed": 0, **doc}).runs[0]
        run(spec, L.NullRecord())
