"""Hopfield network dynamics: whole blocks of sweeps per compiled call.

Conventions shared by every kernel here (and by the plain-numpy reference in
``tests/hopfield_reference.py``):

* ``W`` is the symmetric weight matrix of shape ``(n_units, n_units)``, stored
  *unscaled*: the effective weights are ``scale * W``. Hebbian weights are kept as
  exact integers (``int16``/``int32``, ``scale = 1/N``) so fields are exact and
  dense sweeps stream half the bytes; other rules use ``float64`` with ``scale = 1``.
* ``s`` is the state, ``int8`` in {-1, +1}; ``h`` holds the unscaled fields ``W @ s``
  (exact ``int32``/``int64`` for integer weights, else ``float64``). The effective
  field of unit ``i`` is ``u_i = scale * h_i - theta_i``.
* Hebbian fields can be computed in pattern space, ``W s = X^T (X s) - P s``
  (``lowrank=True``): ``O(P N)`` instead of ``O(N^2)``, exact in integers.
* Energy ``E = -1/2 s^T (scale W) s + theta^T s``.
* Deterministic update (``T == 0``): ``s_i <- sign(u_i)``, unchanged when ``u_i == 0``.
  Glauber update at temperature ``T > 0``: ``P(s_i = +1) = 1 / (1 + exp(-2 u_i / T))``,
  one uniform draw per visited unit.
* Asynchronous sweeps keep ``h`` current and update it on each flip (``O(N)`` per
  flip, using row ``i`` of ``W`` since ``W`` is symmetric). A synchronous step
  recomputes every field (``O(N^2)``).
"""

import numpy as np
from numba import njit

from dynet.kernels.rng import next_below, next_double, permutation

SYNCHRONOUS = 0
ASYNC_PERMUTATION = 1
ASYNC_SEQUENTIAL = 2
ASYNC_RANDOM = 3

UPDATE_CODES = {
    "synchronous": SYNCHRONOUS,
    "async-permutation": ASYNC_PERMUTATION,
    "async-sequential": ASYNC_SEQUENTIAL,
    "async-random": ASYNC_RANDOM,
}

RUNNING = 0
FIXED_POINT = 1
TWO_CYCLE = 2

STOP_REASONS = {RUNNING: "max_sweeps", FIXED_POINT: "fixed_point", TWO_CYCLE: "two_cycle"}


# fastmath: only the order of the sum over j changes; for integer weights the sum is exact.
@njit(cache=True, fastmath=True)
def dense_fields(W, s, h):
    """``h[i] = sum_j W[i, j] * s[j]`` for every unit (``N^2`` synapse updates).

    Parameters
    ----------
    W : ndarray, shape (N, N)
        Unscaled weights: ``int16``/``int32`` (Hebbian, exact) or ``float64``.
    s : ndarray of int8, shape (N,)
        State in {-1, +1}.
    h : ndarray, shape (N,)
        Output: ``int32``/``int64`` for integer ``W`` (exact), else ``float64``.
    """
    n = W.shape[0]
    for i in range(n):
        row = W[i]
        acc = row[0] * s[0]
        for j in range(1, n):
            acc += row[j] * s[j]
        h[i] = acc


@njit(cache=True, fastmath=True)
def hebbian_fields(patterns, s, h):
    """``h = X^T (X s) - P s``, which equals ``W s`` for Hebbian ``W = X^T X`` with zero diagonal.

    Overlaps ``X s`` are summed in int32 (``|X s| <= N``) and fields in the dtype of ``h``
    (integers: exact).

    Parameters
    ----------
    patterns : ndarray of int8, shape (P, N)
        The stored patterns X, in {-1, +1}.
    s : ndarray of int8, shape (N,)
        State in {-1, +1}.
    h : ndarray, shape (N,)
        Output, ``int32``/``int64`` (exact) or ``float64``.
    """
    n_pat, n = patterns.shape
    m = np.empty(n_pat, np.int32)
    for mu in range(n_pat):
        row = patterns[mu]
        acc = np.int32(0)
        for j in range(n):
            acc += np.int16(row[j] * s[j])
        m[mu] = acc
    for j in range(n):
        h[j] = -n_pat * s[j]
    for mu in range(n_pat):
        row = patterns[mu]
        mm = m[mu]
        for j in range(n):
            h[j] += mm * row[j]


@njit(cache=True)
def fields(W, patterns, lowrank, s, h):
    """``h = W @ s``, in pattern space when ``lowrank`` (Hebbian weights only).

    Parameters
    ----------
    W : ndarray, shape (N, N)
        Unscaled weights (see :func:`dense_fields`).
    patterns : ndarray of int8, shape (P, N)
        The stored patterns (read only when ``lowrank``).
    lowrank : bool
        ``W`` is ``X^T X`` with zero diagonal: use :func:`hebbian_fields`.
    s : ndarray of int8, shape (N,)
        State.
    h : ndarray, shape (N,)
        Output (see :func:`dense_fields`).
    """
    if lowrank:
        hebbian_fields(patterns, s, h)
    else:
        dense_fields(W, s, h)


@njit(cache=True)
def _decide(u, s_i, temperature, rng_state):
    if temperature == 0.0:
        # selects, not branches: with a fresh visiting order the sign of u is unpredictable
        d = np.int8(u > 0.0) - np.int8(u < 0.0)
        return d if d != 0 else s_i
    p_up = 1.0 / (1.0 + np.exp(-2.0 * u / temperature))
    if next_double(rng_state) < p_up:
        return 1
    return -1


@njit(cache=True)
def async_sweep(W, scale, theta, s, h, temperature, update, perm, rng_state):
    """One asynchronous sweep of ``N`` unit visits; returns the number of flips.

    Parameters
    ----------
    W : ndarray, shape (N, N)
        Unscaled symmetric weights, ``int16``/``int32`` or ``float64``.
    scale : float
        Effective weights are ``scale * W``.
    theta : ndarray of float64, shape (N,)
        Thresholds.
    s : ndarray of int8, shape (N,)
        State, updated in place.
    h : ndarray, shape (N,)
        Unscaled fields ``W @ s``, kept current in place (dtype as in :func:`dense_fields`).
    temperature : float
        Glauber temperature; 0 is deterministic.
    update : int
        Visiting order: ASYNC_PERMUTATION (a fresh Fisher-Yates permutation per sweep),
        ASYNC_SEQUENTIAL (0..N-1) or ASYNC_RANDOM (N draws with replacement).
    perm : ndarray of int64, shape (N,)
        Scratch space.
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.

    Returns
    -------
    int
        The number of flips.
    """
    n = s.shape[0]
    if update == ASYNC_PERMUTATION:
        permutation(perm, rng_state)
    flips = 0
    for k in range(n):
        if update == ASYNC_RANDOM:
            i = next_below(rng_state, n)
        elif update == ASYNC_SEQUENTIAL:
            i = k
        else:
            i = perm[k]
        new = _decide(scale * h[i] - theta[i], s[i], temperature, rng_state)
        if new != s[i]:
            s[i] = new
            two_s = 2 * new  # integer, so integer fields stay exact
            row = W[i]
            for j in range(n):
                h[j] += two_s * row[j]
            flips += 1
    return flips


@njit(cache=True)
def sync_step(W, patterns, lowrank, scale, theta, s, s_new, h, temperature, rng_state):
    """One synchronous step: every unit decides on the fields of ``s``.

    Writes the new state to ``s_new``, then recomputes every field (``h = W @ s_new``,
    see :func:`fields`).

    Parameters
    ----------
    W, patterns, lowrank
        As in :func:`fields`.
    scale, theta, temperature, rng_state
        As in :func:`async_sweep`.
    s : ndarray of int8, shape (N,)
        State before the step (not modified).
    s_new : ndarray of int8, shape (N,)
        Output: the state after the step.
    h : ndarray, shape (N,)
        Fields of ``s`` on entry, of ``s_new`` on return.

    Returns
    -------
    int
        The number of units that changed.
    """
    n = s.shape[0]
    flips = 0
    for i in range(n):
        s_new[i] = _decide(scale * h[i] - theta[i], s[i], temperature, rng_state)
        if s_new[i] != s[i]:
            flips += 1
    fields(W, patterns, lowrank, s_new, h)
    return flips


@njit(cache=True)
def is_stable(scale, theta, s, h):
    """True when no unit would change under a deterministic update.

    Parameters
    ----------
    scale : float
        Weight scale.
    theta : ndarray of float64, shape (N,)
        Thresholds.
    s : ndarray of int8, shape (N,)
        State.
    h : ndarray, shape (N,)
        Unscaled fields ``W @ s``.
    """
    for i in range(s.shape[0]):
        u = scale * h[i] - theta[i]
        if (u > 0.0 and s[i] < 0) or (u < 0.0 and s[i] > 0):
            return False
    return True


@njit(cache=True)
def energy(scale, theta, s, h):
    """``E = -1/2 * scale * s.h + theta.s`` with ``h = W @ s`` current.

    Parameters
    ----------
    scale, theta, s, h
        As in :func:`is_stable`.

    Returns
    -------
    float
        The energy.
    """
    e_w = 0.0
    e_t = 0.0
    for i in range(s.shape[0]):
        e_w += s[i] * h[i]
        e_t += theta[i] * s[i]
    return -0.5 * scale * e_w + e_t


@njit(cache=True)
def overlaps(patterns, s, out):
    """``out[mu] = (1/N) sum_i patterns[mu, i] * s[i]``.

    Parameters
    ----------
    patterns : ndarray of int8, shape (P, N)
        The stored patterns.
    s : ndarray of int8, shape (N,)
        State.
    out : ndarray of float64, shape (P,)
        Output overlaps.
    """
    n_pat, n = patterns.shape
    for mu in range(n_pat):
        acc = 0
        row = patterns[mu]
        for i in range(n):
            acc += row[i] * s[i]
        out[mu] = acc / n


@njit(cache=True)
def _record(
    k,
    sweep,
    flips,
    temperature,
    scale,
    theta,
    patterns,
    s,
    h,
    rec_sweep,
    rec_state,
    rec_energy,
    rec_overlap,
    rec_flips,
    rec_temperature,
):
    rec_sweep[k] = sweep
    rec_flips[k] = flips
    rec_temperature[k] = temperature
    rec_energy[k] = energy(scale, theta, s, h)
    if rec_state.shape[1] > 0:
        rec_state[k, :] = s
    if rec_overlap.shape[1] > 0:
        overlaps(patterns, s, rec_overlap[k])


@njit(cache=True)
def run_block(
    W,
    lowrank,
    scale,
    theta,
    patterns,
    s,
    s_prev,
    h,
    temperatures,
    update,
    rng_state,
    first_sweep,
    n_sweeps,
    every,
    stop_at_fixed_point,
    flips_pending,
    rec_sweep,
    rec_state,
    rec_energy,
    rec_overlap,
    rec_flips,
    rec_temperature,
):
    """Run up to ``n_sweeps`` sweeps starting after sweep ``first_sweep``.

    ``lowrank`` says ``W`` is Hebbian (``X^T X``, zero diagonal, X = ``patterns``), so
    synchronous steps may compute fields in pattern space.
    Sweep ``t`` (1-based, ``t = first_sweep + 1, ...``) runs at ``temperatures[t - 1]``.
    A record is written after every sweep ``t`` with ``t % every == 0`` and after the
    sweep that stops the run; ``rec_flips`` counts the flips since the previous record
    (``flips_pending`` carries the count from the previous block). The recording
    buffers must have room for ``n_sweeps // every + 1`` rows. ``rec_state`` and
    ``rec_overlap`` may have zero columns to skip recording them.

    The run stops early when ``stop_at_fixed_point`` and, at ``T == 0``, a sweep
    changes nothing (a fixed point) or, for synchronous updates, the new state equals
    the one two steps back (a 2-cycle). ``s_prev`` holds the state before the last
    synchronous step (scratch for asynchronous updates).

    Parameters
    ----------
    W, patterns, lowrank
        As in :func:`fields`.
    scale, theta, s, h, update, rng_state
        As in :func:`async_sweep` (``s``, ``h`` and ``rng_state`` advance in place).
    s_prev : ndarray of int8, shape (N,)
        See above.
    temperatures : ndarray of float64, shape (max_sweeps,)
        Temperature of each sweep of the run.
    first_sweep, n_sweeps, every : int
        Sweeps done before this call, the most to run now, the recording interval.
    stop_at_fixed_point : bool
        Stop at a fixed point or 2-cycle at T = 0.
    flips_pending : int
        Flips since the last record, carried over from the previous call.
    rec_sweep, rec_state, rec_energy, rec_overlap, rec_flips, rec_temperature : ndarray
        Record buffers: ``int64 (rows,)``, ``int8 (rows, N)`` (or ``(rows, 0)``: not recorded),
        ``float64 (rows,)``, ``float64 (rows, P)`` (or ``(rows, 0)``), ``int64 (rows,)``,
        ``float64 (rows,)``.

    Returns
    -------
    tuple of int
        ``(sweeps_done, n_records, stop_code, flips_pending)``; ``stop_code`` is RUNNING,
        FIXED_POINT or TWO_CYCLE.
    """
    n = s.shape[0]
    perm = np.empty(n, np.int64)
    s_new = np.empty(n, np.int8)
    n_rec = 0
    stop = RUNNING
    done = 0
    for step in range(n_sweeps):
        t = first_sweep + step + 1
        temperature = temperatures[t - 1]
        if update == SYNCHRONOUS:
            flips = sync_step(W, patterns, lowrank, scale, theta, s, s_new, h, temperature, rng_state)
            if stop_at_fixed_point and temperature == 0.0:
                if flips == 0:
                    stop = FIXED_POINT
                elif t >= 2:
                    same = True
                    for i in range(n):
                        if s_new[i] != s_prev[i]:
                            same = False
                            break
                    if same:
                        stop = TWO_CYCLE
            s_prev[:] = s
            s[:] = s_new
        else:
            flips = async_sweep(W, scale, theta, s, h, temperature, update, perm, rng_state)
            if stop_at_fixed_point and temperature == 0.0 and flips == 0:
                # random-with-replacement sweeps may skip units: check every unit
                if update != ASYNC_RANDOM or is_stable(scale, theta, s, h):
                    stop = FIXED_POINT
        flips_pending += flips
        done += 1
        if t % every == 0 or stop != RUNNING:
            _record(
                n_rec,
                t,
                flips_pending,
                temperature,
                scale,
                theta,
                patterns,
                s,
                h,
                rec_sweep,
                rec_state,
                rec_energy,
                rec_overlap,
                rec_flips,
                rec_temperature,
            )
            n_rec += 1
            flips_pending = 0
        if stop != RUNNING:
            break
    return done, n_rec, stop, flips_pending


@njit(cache=True)
def record_initial(
    scale, theta, patterns, s, h, rec_sweep, rec_state, rec_energy, rec_overlap, rec_flips, rec_temperature, temperature
):
    """Write record row 0 for the initial state (sweep 0, no flips).

    Parameters
    ----------
    scale, theta, patterns, s, h
        As in :func:`run_block`.
    rec_sweep, rec_state, rec_energy, rec_overlap, rec_flips, rec_temperature : ndarray
        Record buffers: ``int64 (rows,)``, ``int8 (rows, N)`` (or ``(rows, 0)``: not recorded),
        ``float64 (rows,)``, ``float64 (rows, P)`` (or ``(rows, 0)``), ``int64 (rows,)``,
        ``float64 (rows,)``.
    temperature : float
        The temperature recorded with the row.
    """
    _record(
        0,
        0,
        0,
        temperature,
        scale,
        theta,
        patterns,
        s,
        h,
        rec_sweep,
        rec_state,
        rec_energy,
        rec_overlap,
        rec_flips,
        rec_temperature,
    )
