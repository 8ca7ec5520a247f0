"""Dense associative memory dynamics (Krotov & Hopfield 2016): whole blocks of sweeps per compiled call.

Conventions shared by every kernel here:

* ``patterns`` (``int8``, shape ``(P, N)``) are the stored patterns xi in {-1, +1}; ``s`` (``int8``,
  shape ``(N,)``) is the state; ``m`` (``int64``, shape ``(P,)``) holds the overlaps ``m_mu = xi_mu . s``,
  exact integers, updated on each flip (``O(P)``) and recomputed after a synchronous step.
* The energy is ``E(s) = -sum_mu F(m_mu)``. ``F`` is read from ``table`` (float64):

  - unshifted (polynomial, rectified): ``table[x + N] = F(x)`` for ``x = -N .. N``;
  - shifted (exponential): ``table[k + 2N] = exp(k)`` for ``k = -2N .. 0``; every sum of ``exp``
    is taken relative to its largest argument, so nothing overflows at any N.

* Unit ``i`` compares ``D_i = sum_mu F(r_mu + xi_mu,i) - F(r_mu - xi_mu,i)`` with
  ``r_mu = m_mu - xi_mu,i s_i`` (the overlap without unit i): ``D_i = E(s_i = -1) - E(s_i = +1)``.
  It becomes +1 when ``D_i > 0``, -1 when ``D_i < 0`` and keeps its state when ``D_i == 0``
  (equal energies: a tie keeps the current state).
  For ``F(x) = x^2``, ``D_i = 4 sum_{j != i} W_ij s_j`` with Hebbian ``W = X^T X`` (zero
  diagonal), exact in float64 while ``N^2 P < 2^53``: the classic Hopfield update.
"""

import numpy as np
from numba import njit

from dynet.kernels.rng import permutation

ASYNC_RANDOM = 0
ASYNC_SEQUENTIAL = 1
SYNC = 2

UPDATE_CODES = {"async-random": ASYNC_RANDOM, "async-sequential": ASYNC_SEQUENTIAL, "sync": SYNC}


@njit(cache=True)
def overlaps(patterns, s, m):
    """``m[mu] = patterns[mu] . s`` for every pattern, exact.

    Parameters
    ----------
    patterns : ndarray of int8, shape (P, N)
        Stored patterns in {-1, +1}.
    s : ndarray of int8, shape (N,)
        State in {-1, +1}.
    m : ndarray of int64, shape (P,)
        Output.
    """
    n_pat, n = patterns.shape
    for mu in range(n_pat):
        row = patterns[mu]
        acc = np.int64(0)
        for j in range(n):
            acc += row[j] * s[j]
        m[mu] = acc


@njit(cache=True)
def preference(patterns, table, shifted, s, m, i, counts):
    """``D_i``: how much lower the energy is with ``s_i = +1`` than with ``s_i = -1`` (scaled by a
    positive factor when ``shifted``; the sign is what counts).

    ``D_i = sum_mu xi_mu,i G(r_mu)`` with ``G(r) = F(r + 1) - F(r - 1)``. The unshifted tables hold
    exact integers (while ``N^n < 2^53``), so every sum is exact. For the exponential F the
    coefficients ``c_r = sum_{mu: r_mu = r} xi_mu,i`` are counted first (exact integers): since e is
    transcendental, the energies of the two states are equal exactly when every ``c_r`` is 0, and
    then ``D_i`` is exactly 0 (a tie). Otherwise ``sum_r c_r G(r)`` is taken from the largest r with
    ``c_r != 0`` down, scaled by ``exp(-(that r) - 1)``: the leading term is ``c_r (1 - e^-2)`` and
    the sign is right even when larger overlaps cancel exactly.

    Parameters
    ----------
    patterns : ndarray of int8, shape (P, N)
        Stored patterns.
    table : ndarray of float64, shape (2N + 1,)
        F (see the module's conventions).
    shifted : bool
        The table holds ``exp(k)``, ``k = -2N .. 0`` (exponential F).
    s : ndarray of int8, shape (N,)
        State.
    m : ndarray of int64, shape (P,)
        Overlaps ``patterns @ s``.
    i : int
        The unit.
    counts : ndarray of int64, shape (2N + 1,)
        Scratch space (exponential F).

    Returns
    -------
    float
        ``D_i``; > 0 prefers +1, < 0 prefers -1, 0 keeps the state.
    """
    n_pat, n = patterns.shape
    si = np.int64(s[i])
    if not shifted:
        acc = 0.0
        for mu in range(n_pat):
            xi = np.int64(patterns[mu, i])
            r = m[mu] - xi * si
            acc += table[r + xi + n] - table[r - xi + n]
        return acc
    lo = np.int64(n)
    hi = np.int64(-n)
    for mu in range(n_pat):
        r = m[mu] - patterns[mu, i] * si
        if r < lo:
            lo = r
        if r > hi:
            hi = r
    for k in range(lo + n, hi + n + 1):
        counts[k] = 0
    for mu in range(n_pat):
        xi = np.int64(patterns[mu, i])
        counts[m[mu] - xi * si + n] += xi
    top = hi
    while top >= lo and counts[top + n] == 0:
        top -= 1
    if top < lo:
        return 0.0  # every coefficient is 0: equal energies
    # relative to exp(top + 1), the largest argument with a nonzero coefficient: its term is
    # c_top (1 - e^-2), and every other term is smaller, so no cancellation hides in underflow
    off = 2 * n - (top + 1)  # table index of exp(x - top - 1)
    acc = 0.0
    for r in range(top, lo - 1, -1):
        c = counts[r + n]
        if c != 0:
            acc += c * (table[r + 1 + off] - table[r - 1 + off])
    return acc


@njit(cache=True)
def energy(table, shifted, m, n_units):
    """The recorded energy per unit.

    Parameters
    ----------
    table : ndarray of float64, shape (2N + 1,)
        F (see the module's conventions).
    shifted : bool
        Exponential F.
    m : ndarray of int64, shape (P,)
        Overlaps.
    n_units : int
        N.

    Returns
    -------
    float
        ``E / N = -sum_mu F(m_mu) / N`` (polynomial, rectified); for the exponential F, whose ``E``
        overflows float64 beyond N ~ 709, ``-log(-E) / N = -logsumexp(m) / N`` (increasing in E).
    """
    n_pat = m.shape[0]
    if not shifted:
        acc = 0.0
        for mu in range(n_pat):
            acc += table[m[mu] + n_units]
        return -acc / n_units
    top = m[0]
    for mu in range(1, n_pat):
        if m[mu] > top:
            top = m[mu]
    acc = 0.0
    for mu in range(n_pat):
        acc += table[m[mu] - top + 2 * n_units]
    return -(top + np.log(acc)) / n_units


@njit(cache=True)
def _choose(d, s_i):
    if d > 0.0:
        return np.int8(1)
    if d < 0.0:
        return np.int8(-1)
    return s_i


@njit(cache=True)
def async_sweep(patterns, table, shifted, s, m, order, counts):
    """One asynchronous sweep: units visited in ``order``, each from the current state; returns the flips.

    Parameters
    ----------
    patterns, table, shifted
        As in :func:`preference`.
    s : ndarray of int8, shape (N,)
        State, updated in place.
    m : ndarray of int64, shape (P,)
        Overlaps, kept current in place (``O(P)`` per flip).
    order : ndarray of int64, shape (N,)
        The visiting order.
    counts : ndarray of int64, shape (2N + 1,)
        Scratch space (see :func:`preference`).
    """
    n_pat, n = patterns.shape
    flips = 0
    for k in range(n):
        i = order[k]
        new = _choose(preference(patterns, table, shifted, s, m, i, counts), s[i])
        if new != s[i]:
            two = 2 * np.int64(new)
            for mu in range(n_pat):
                m[mu] += two * patterns[mu, i]
            s[i] = new
            flips += 1
    return flips


@njit(cache=True)
def sync_sweep(patterns, table, shifted, s, s_new, m, counts):
    """One synchronous step: every unit chosen from the same old state; returns the flips.

    Parameters
    ----------
    patterns, table, shifted
        As in :func:`preference`.
    s : ndarray of int8, shape (N,)
        State, replaced in place by the new one.
    s_new : ndarray of int8, shape (N,)
        Scratch space.
    m : ndarray of int64, shape (P,)
        Overlaps of ``s``, recomputed for the new state.
    counts : ndarray of int64, shape (2N + 1,)
        Scratch space (see :func:`preference`).
    """
    n = s.shape[0]
    flips = 0
    for i in range(n):
        s_new[i] = _choose(preference(patterns, table, shifted, s, m, i, counts), s[i])
        if s_new[i] != s[i]:
            flips += 1
    for i in range(n):
        s[i] = s_new[i]
    overlaps(patterns, s, m)
    return flips


@njit(cache=True)
def run_block(
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
    n_sweeps,
    out_energy,
    out_overlap,
    out_flips,
    out_state,
):
    """Up to ``n_sweeps`` sweeps, one recorded row after each; stops after a sweep without a flip.

    Parameters
    ----------
    patterns, table, shifted
        As in :func:`preference`.
    s : ndarray of int8, shape (N,)
        State, updated in place.
    s_new : ndarray of int8, shape (N,)
        Scratch space (synchronous updates).
    m : ndarray of int64, shape (P,)
        Overlaps of ``s``, kept current.
    update : int
        ASYNC_RANDOM (a fresh Fisher-Yates permutation per sweep from ``rng_state``),
        ASYNC_SEQUENTIAL (0 .. N-1) or SYNC.
    order : ndarray of int64, shape (N,)
        The visiting order (overwritten for ASYNC_RANDOM; must hold 0 .. N-1 for ASYNC_SEQUENTIAL).
    counts : ndarray of int64, shape (2N + 1,)
        Scratch space (see :func:`preference`).
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    cue : int
        Index of the cued pattern (its overlap is recorded).
    n_sweeps : int
        Most sweeps to run.
    out_energy : ndarray of float64, shape (>= n_sweeps,)
        Energy per unit after each sweep (see :func:`energy`).
    out_overlap : ndarray of float64, shape (>= n_sweeps,)
        ``m_cue / N`` after each sweep.
    out_flips : ndarray of int64, shape (>= n_sweeps,)
        Flips in each sweep.
    out_state : ndarray of int8, shape (>= n_sweeps, N) or (>= n_sweeps, 0)
        State after each sweep (not written when it has no columns).

    Returns
    -------
    (int, bool)
        Sweeps run, and whether the last one was a fixed point (no flip).
    """
    n = s.shape[0]
    record_state = out_state.shape[1] > 0
    for t in range(n_sweeps):
        if update == SYNC:
            flips = sync_sweep(patterns, table, shifted, s, s_new, m, counts)
        else:
            if update == ASYNC_RANDOM:
                permutation(order, rng_state)
            flips = async_sweep(patterns, table, shifted, s, m, order, counts)
        out_energy[t] = energy(table, shifted, m, n)
        out_overlap[t] = m[cue] / n
        out_flips[t] = flips
        if record_state:
            for j in range(n):
                out_state[t, j] = s[j]
        if flips == 0:
            return t + 1, True
    return n_sweeps, False
