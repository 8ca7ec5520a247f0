"""General Boltzmann machines: single-unit sweeps, parallel tempering, exact sums, learning.

Conventions shared by every kernel here:

* ``n`` binary units with states ``s`` (``int8``) in ``{lo, hi}``: ``{0, 1}`` or
  ``{-1, +1}``; ``W`` is a dense symmetric ``float64`` (n, n) matrix with zero diagonal
  (absent couplings are zeros), ``b`` the biases. Energy ``E(s) = -1/2 s^T W s - b^T s``.
* ``h = W s`` is kept current: changing unit ``i`` by ``d = new - old`` adds ``d * W[i]``
  to ``h`` (``O(n)``, row ``i`` since ``W`` is symmetric) and changes the energy by
  ``dE = -d * u_i`` with the local field ``u_i = h_i + b_i`` (exact: ``W_ii = 0``).
  Drivers recompute ``h`` (:func:`local_fields`) and ``E`` (:func:`energy`) exactly at the
  start of every block, so round-off cannot build up. When ``W`` holds integers (the
  sampling driver passes Hebbian and constant couplings as integers, with the biases and
  temperatures in the same unit of energy: :mod:`dynet.models.boltzmann`), every ``h_i`` is
  an exact integer whatever the order of the updates, so a tie ``u_i = 0`` is exact and
  does not depend on where a block starts.
* A visit of unit ``i`` at temperature ``T``:

  - Gibbs (heat bath, Glauber): ``s_i = hi`` with probability ``sigmoid((hi - lo) u_i / T)``
    (``sigmoid(u_i / T)`` for {0, 1}, ``sigmoid(2 u_i / T)`` for +-1), else ``lo``;
  - Metropolis: propose the other state, accept with probability ``min(1, exp(-dE / T))``;
  - ``T = 0`` (quench): the state of lower energy, kept on a tie (``u_i = 0``); no draw.

  One draw per visit at ``T > 0`` (``u < p`` with ``u`` the top 53 bits of a xoshiro256**
  output times 2**-53, :mod:`dynet.kernels.rng`). A sweep visits the units of ``units`` in
  order (``SEQUENTIAL``) or in a fresh Fisher-Yates permutation of them (``PERMUTATION``,
  drawn first with :func:`dynet.kernels.rng.permutation`).
* The logistic function and ``exp`` of the acceptance are :func:`dynet.kernels.maths.sigmoid`
  and :func:`dynet.kernels.maths.exp_` (IEEE arithmetic, no libm); the exact sums use libm.
  No ``fastmath``: sums keep their order and runs are bit-identical for a seed.
"""

import math

import numpy as np
from numba import njit

from dynet.kernels.maths import exp_, sigmoid
from dynet.kernels.rng import TWO_M53, permutation
from dynet.kernels.rng import step as rng_step

GIBBS = 0
METROPOLIS = 1
METHODS = {"gibbs": GIBBS, "metropolis": METROPOLIS}

SEQUENTIAL = 0
PERMUTATION = 1
ORDERS = {"sequential": SEQUENTIAL, "permutation": PERMUTATION}


# --------------------------------------------------------------------------- fields and energy


@njit(cache=True)
def local_fields(W, s, h):
    """``h = W s``, every sum in index order.

    Parameters
    ----------
    W : ndarray of float64, shape (n, n)
        Symmetric couplings, zero diagonal.
    s : ndarray of int8, shape (n,)
        A state (values ``lo``/``hi``; updated by sweeps).
    h : ndarray of float64, shape (n,)
        Local fields ``W s`` (kept current; work space in learning).
    """
    n = s.shape[0]
    for i in range(n):
        row = W[i]
        acc = 0.0
        for j in range(n):
            acc += row[j] * s[j]
        h[i] = acc


@njit(cache=True)
def energy(s, h, b):
    """``E = -1/2 s.h - b.s`` with ``h = W s`` current.

    Parameters
    ----------
    s : ndarray of int8, shape (n,)
        A state (values ``lo``/``hi``; updated by sweeps).
    h : ndarray of float64, shape (n,)
        Local fields ``W s`` (kept current; work space in learning).
    b : ndarray of float64, shape (n,)
        Biases.
    """
    e_w = 0.0
    e_b = 0.0
    for i in range(s.shape[0]):
        e_w += s[i] * h[i]
        e_b += b[i] * s[i]
    return -0.5 * e_w - e_b


# --------------------------------------------------------------------------- one sweep


@njit(cache=True)
def _sweep(W, b, s, h, units, lo, hi, method, order, temperature, perm, rng_state, s0, s1, s2, s3):
    """One sweep of ``s`` over ``units`` (see the module docstring); ``perm`` is scratch of
    ``len(units)``. Returns ``(flips, dE, s0, s1, s2, s3)``; ``rng_state`` is only a
    buffer for the permutation draw (the live state is in ``s0..s3``)."""
    m = units.shape[0]
    n = s.shape[0]
    if order == PERMUTATION:
        rng_state[0] = s0
        rng_state[1] = s1
        rng_state[2] = s2
        rng_state[3] = s3
        permutation(perm, rng_state)
        s0 = rng_state[0]
        s1 = rng_state[1]
        s2 = rng_state[2]
        s3 = rng_state[3]
    gap = np.float64(hi - lo)
    flips = 0
    de = 0.0
    for k in range(m):
        i = units[perm[k]] if order == PERMUTATION else units[k]
        u = h[i] + b[i]
        old = np.int64(s[i])
        if temperature == 0.0:
            new = hi if u > 0.0 else (lo if u < 0.0 else old)
        elif method == GIBBS:
            x, s0, s1, s2, s3 = rng_step(s0, s1, s2, s3)
            p = sigmoid(gap * u / temperature)
            new = hi if np.float64(x >> np.uint64(11)) * TWO_M53 < p else lo
        else:
            x, s0, s1, s2, s3 = rng_step(s0, s1, s2, s3)
            cand = lo + hi - old
            accept = exp_((cand - old) * u / temperature)  # exp(-dE / T)
            new = cand if np.float64(x >> np.uint64(11)) * TWO_M53 < accept else old
        if new != old:
            d = np.float64(new - old)
            s[i] = new
            row = W[i]
            for j in range(n):
                h[j] += d * row[j]
            de -= d * u
            flips += 1
    return flips, de, s0, s1, s2, s3


# --------------------------------------------------------------------------- one chain


@njit(cache=True)
def run_sweeps(
    W,
    b,
    s,
    h,
    e,
    units,
    lo,
    hi,
    method,
    order,
    temps,
    first,
    n_sweeps,
    every,
    snap_every,
    rng_state,
    perm,
    flips_pending,
    patterns,
    rec_sweep,
    rec_energy,
    rec_mean,
    rec_flips,
    rec_overlap,
    snap_sweep,
    snap_state,
):
    """Up to ``n_sweeps`` sweeps of one chain after sweep ``first``; sweep ``t`` (1-based)
    runs at ``temps[t - 1]``.

    ``e`` is the current energy (kept current with the flips). After every sweep ``t``
    with ``t % every == 0``, and after a sweep that stops the run, a record row gets
    ``t``, the energy, the mean of ``s``, the flips since the previous record
    (``flips_pending`` carries them across blocks) and the overlaps
    ``rec_overlap[row, mu] = patterns[mu] . s / n`` (``patterns`` may have no rows); after every
    ``t % snap_every == 0`` (``snap_every > 0``) the state goes to ``snap_state``. The run
    stops after a sweep at ``T = 0`` that flips nothing (a fixed point: no later sweep
    can change it). The recording buffers need ``n_sweeps // every + 1`` and
    ``n_sweeps // snap_every + 1`` rows.

    Returns ``(sweeps_done, n_records, n_snapshots, stopped, flips_pending, e, lowest)``
    with ``lowest`` the lowest energy after any sweep of the block.

    Parameters
    ----------
    W : ndarray of float64, shape (n, n)
        Symmetric couplings, zero diagonal.
    b : ndarray of float64, shape (n,)
        Biases.
    s : ndarray of int8, shape (n,)
        A state (values ``lo``/``hi``; updated by sweeps).
    h : ndarray of float64, shape (n,)
        Local fields ``W s`` (kept current; work space in learning).
    e : float
        Energy of ``s``.
    units : ndarray of int64, shape (m,)
        The units a sweep visits.
    lo : int
        The low unit state (0 or -1).
    hi : int
        The high unit state (1).
    method : int
        ``GIBBS`` or ``METROPOLIS`` (``METHODS``).
    order : int
        ``SEQUENTIAL`` or ``PERMUTATION`` (``ORDERS``).
    temps : ndarray of float64, shape (sweeps,) or (replicas,)
        Temperatures (of each sweep, or of the ladder).
    first : int
        Sweeps done before this call (sweeps are counted from the run's start).
    n_sweeps : int
        Sweeps of this call.
    every : int
        Record every ``every``-th sweep.
    snap_every : int
        Snapshot every ``snap_every``-th sweep (0: never).
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    perm : ndarray of int64, shape (n,)
        Work space: a sweep's permutation.
    flips_pending : int
        Flips since the last record, carried over from the previous call.
    patterns : ndarray of int8, shape (P, n)
        Stored patterns whose overlaps are recorded (P may be 0).
    rec_sweep : ndarray of int64, shape (records,)
        Receives the recorded sweeps.
    rec_energy : ndarray of float64, shape (records,) or (records, replicas)
        Receives the recorded energies.
    rec_mean : ndarray of float64, shape (records,) or (records, replicas)
        Receives the recorded mean states.
    rec_flips : ndarray of int64, shape (records,)
        Receives the flips since the previous record.
    rec_overlap : ndarray of float64, shape (records, P)
        Receives the recorded overlaps with the patterns.
    snap_sweep : ndarray of int64, shape (snapshots,)
        Receives the snapshot sweeps.
    snap_state : ndarray of int8, shape (snapshots, n) or (snapshots, replicas, n)
        Receives the snapshots.
    """
    n = s.shape[0]
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    n_rec = 0
    n_snap = 0
    stopped = False
    done = 0
    lowest = np.inf
    for step in range(n_sweeps):
        t = first + step + 1
        temperature = temps[t - 1]
        flips, de, s0, s1, s2, s3 = _sweep(
            W, b, s, h, units, lo, hi, method, order, temperature, perm, rng_state, s0, s1, s2, s3
        )
        e += de
        lowest = min(lowest, e)
        flips_pending += flips
        done += 1
        stopped = temperature == 0.0 and flips == 0
        if t % every == 0 or stopped:
            acc = 0.0
            for i in range(n):
                acc += s[i]
            rec_sweep[n_rec] = t
            rec_energy[n_rec] = e
            rec_mean[n_rec] = acc / n
            rec_flips[n_rec] = flips_pending
            for mu in range(patterns.shape[0]):
                ov = 0.0
                for i in range(n):
                    ov += patterns[mu, i] * s[i]
                rec_overlap[n_rec, mu] = ov / n
            n_rec += 1
            flips_pending = 0
        if snap_every > 0 and t % snap_every == 0:
            snap_sweep[n_snap] = t
            snap_state[n_snap, :] = s
            n_snap += 1
        if stopped:
            break
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3
    return done, n_rec, n_snap, stopped, flips_pending, e, lowest


# --------------------------------------------------------------------------- parallel tempering


@njit(cache=True)
def tempering_sweeps(
    W,
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
    temps,
    first,
    n_sweeps,
    swap_every,
    every,
    snap_every,
    rng_state,
    perm,
    attempts,
    accepts,
    lowest,
    rec_sweep,
    rec_energy,
    rec_mean,
    rec_accept,
    snap_sweep,
    snap_state,
):
    """``n_sweeps`` rounds of parallel tempering after round ``first``.

    Replica ``r`` has state ``S[r]``, fields ``H[r]`` and energy ``E[r]``; ``at[k]`` is the
    replica at temperature ``temps[k]`` (increasing). A round: one sweep of every replica
    at its temperature, ``k = 0 .. R-1`` in order; then, when ``t % swap_every == 0``,
    swap attempts between neighbours ``(k, k+1)`` for ``k = p, p + 2, ...`` where
    ``p = (t // swap_every) % 2`` alternates even and odd pairs. A swap is accepted with
    probability ``min(1, exp((1/T_k - 1/T_{k+1}) (E_k - E_{k+1})))`` (one draw per
    attempt) and exchanges the temperatures of the two replicas (``at``), not their
    states. ``attempts[k]`` / ``accepts[k]`` count the pair's attempts and accepts;
    ``lowest[k]`` is the lowest energy seen at temperature ``k`` after any round.

    Records (every ``every`` rounds): ``rec_energy[row, k]`` and ``rec_mean[row, k]`` of
    the replica at temperature ``k``, ``rec_accept[row, k]`` the acceptance rate of pair
    ``k`` so far (NaN before its first attempt); snapshots (every ``snap_every``):
    ``snap_state[row, k]`` the state at temperature ``k``. Returns ``(n_records, n_snapshots)``.

    Parameters
    ----------
    W : ndarray of float64, shape (n, n)
        Symmetric couplings, zero diagonal.
    b : ndarray of float64, shape (n,)
        Biases.
    S : ndarray of int8, shape (replicas, n)
        Replica states (updated).
    H : ndarray of float64, shape (replicas, n)
        Replica local fields (kept current).
    E : ndarray of float64, shape (replicas,)
        Replica energies (kept current).
    at : ndarray of int64, shape (replicas,)
        ``at[k]``: the replica at temperature ``k`` (updated by swaps).
    units : ndarray of int64, shape (m,)
        The units a sweep visits.
    lo : int
        The low unit state (0 or -1).
    hi : int
        The high unit state (1).
    method : int
        ``GIBBS`` or ``METROPOLIS`` (``METHODS``).
    order : int
        ``SEQUENTIAL`` or ``PERMUTATION`` (``ORDERS``).
    temps : ndarray of float64, shape (sweeps,) or (replicas,)
        Temperatures (of each sweep, or of the ladder).
    first : int
        Sweeps done before this call (sweeps are counted from the run's start).
    n_sweeps : int
        Sweeps of this call.
    swap_every : int
        Attempt swaps every ``swap_every``-th round.
    every : int
        Record every ``every``-th sweep.
    snap_every : int
        Snapshot every ``snap_every``-th sweep (0: never).
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    perm : ndarray of int64, shape (n,)
        Work space: a sweep's permutation.
    attempts : ndarray of int64, shape (replicas - 1,)
        Swap attempts per neighbour pair (accumulated).
    accepts : ndarray of int64, shape (replicas - 1,)
        Accepted swaps per neighbour pair (accumulated).
    lowest : ndarray of float64, shape (replicas,)
        Lowest energy seen at each temperature (updated).
    rec_sweep : ndarray of int64, shape (records,)
        Receives the recorded sweeps.
    rec_energy : ndarray of float64, shape (records,) or (records, replicas)
        Receives the recorded energies.
    rec_mean : ndarray of float64, shape (records,) or (records, replicas)
        Receives the recorded mean states.
    rec_accept : ndarray of float64, shape (records, replicas - 1)
        Receives the swap acceptance rates.
    snap_sweep : ndarray of int64, shape (snapshots,)
        Receives the snapshot sweeps.
    snap_state : ndarray of int8, shape (snapshots, n) or (snapshots, replicas, n)
        Receives the snapshots.
    """
    n_rep, n = S.shape
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    n_rec = 0
    n_snap = 0
    for step in range(n_sweeps):
        t = first + step + 1
        for k in range(n_rep):
            r = at[k]
            flips, de, s0, s1, s2, s3 = _sweep(
                W, b, S[r], H[r], units, lo, hi, method, order, temps[k], perm, rng_state, s0, s1, s2, s3
            )
            E[r] += de
        if t % swap_every == 0:
            for k in range((t // swap_every) % 2, n_rep - 1, 2):
                r1 = at[k]
                r2 = at[k + 1]
                x, s0, s1, s2, s3 = rng_step(s0, s1, s2, s3)
                log_a = (1.0 / temps[k] - 1.0 / temps[k + 1]) * (E[r1] - E[r2])
                attempts[k] += 1
                if np.float64(x >> np.uint64(11)) * TWO_M53 < exp_(log_a):
                    accepts[k] += 1
                    at[k] = r2
                    at[k + 1] = r1
        for k in range(n_rep):
            lowest[k] = min(lowest[k], E[at[k]])
        if t % every == 0:
            rec_sweep[n_rec] = t
            for k in range(n_rep):
                r = at[k]
                rec_energy[n_rec, k] = E[r]
                acc = 0.0
                for i in range(n):
                    acc += S[r, i]
                rec_mean[n_rec, k] = acc / n
            for k in range(n_rep - 1):
                rec_accept[n_rec, k] = accepts[k] / attempts[k] if attempts[k] > 0 else np.nan
            n_rec += 1
        if snap_every > 0 and t % snap_every == 0:
            snap_sweep[n_snap] = t
            for k in range(n_rep):
                snap_state[n_snap, k, :] = S[at[k]]
            n_snap += 1
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3
    return n_rec, n_snap


# --------------------------------------------------------------------------- exact sums


@njit(cache=True)
def log_sums(W, b, states, free, lo, hi, beta, out_log, out_mean):
    """Exact Boltzmann sums over the units ``free`` with the other units as in each row of ``states``.

    For row ``r``: ``out_log[r] = log sum exp(-beta E(s))`` and ``out_mean[r]`` the mean of
    ``E`` under ``exp(-beta E) / sum``, over the ``2**len(free)`` settings of the free
    units. With ``free`` = every unit this is ``log Z(beta)`` and ``<E>``; with ``free`` = the
    hidden units and a data row's visibles clamped, ``log sum_h exp(-E(v, h))``. The
    settings are enumerated in Gray-code order (one unit changes per term, its energy
    change from the current fields of the free units, ``O(len(free))`` per term), with a
    running log-sum-exp. ``states`` is not modified.

    Parameters
    ----------
    W : ndarray of float64, shape (n, n)
        Symmetric couplings, zero diagonal.
    b : ndarray of float64, shape (n,)
        Biases.
    states : ndarray of int8, shape (rows, n)
        States whose held units are kept.
    free : ndarray of int64, shape (m,)
        The units summed over.
    lo : int
        The low unit state (0 or -1).
    hi : int
        The high unit state (1).
    beta : float
        Inverse temperature.
    out_log : ndarray of float64, shape (rows,)
        Receives ``log sum exp(-beta E)`` of each row.
    out_mean : ndarray of float64, shape (rows,)
        Receives the Boltzmann mean energy of each row.
    """
    n_rows, n = states.shape
    m = free.shape[0]
    s = np.empty(n, np.int8)
    h = np.empty(n)
    total = np.int64(1) << m
    for r in range(n_rows):
        for i in range(n):
            s[i] = states[r, i]
        for k in range(m):
            s[free[k]] = lo
        local_fields(W, s, h)
        e = energy(s, h, b)
        best = -beta * e
        acc = 1.0
        eacc = e
        for g in range(1, total):
            k = 0
            while not (g >> k) & 1:
                k += 1
            i = free[k]
            u = h[i] + b[i]
            new = hi if s[i] == lo else lo
            d = np.float64(new - s[i])
            s[i] = new
            e -= d * u
            row = W[i]
            for q in range(m):
                j = free[q]
                h[j] += d * row[j]
            x = -beta * e
            if x <= best:
                w = math.exp(x - best)
                acc += w
                eacc += w * e
            else:
                w = math.exp(best - x)
                acc = acc * w + 1.0
                eacc = eacc * w + e
                best = x
        out_log[r] = best + math.log(acc)
        out_mean[r] = eacc / acc


# --------------------------------------------------------------------------- learning


@njit(cache=True)
def _chain_stats(W, b, s, h, units, lo, hi, sweeps, scale, G, g, rng_state, perm, s0, s1, s2, s3):
    """``sweeps`` Gibbs sweeps (T = 1, sequential) of ``s`` over ``units`` from exact fields,
    then ``G += scale * s s^T`` and ``g += scale * s``. Returns the random state."""
    n = s.shape[0]
    if units.shape[0] > 0 and sweeps > 0:
        local_fields(W, s, h)
        for _ in range(sweeps):
            _, _, s0, s1, s2, s3 = _sweep(
                W, b, s, h, units, lo, hi, GIBBS, SEQUENTIAL, 1.0, perm, rng_state, s0, s1, s2, s3
            )
    for i in range(n):
        si = scale * s[i]
        g[i] += si
        if s[i] != 0:
            row = G[i]
            for j in range(n):
                row[j] += si * s[j]
    return s0, s1, s2, s3


@njit(cache=True)
def _batch_stats(
    W,
    b,
    clamped,
    free_chains,
    rows,
    start,
    stop,
    hidden,
    units,
    lo,
    hi,
    clamped_sweeps,
    free_sweeps,
    G,
    g,
    h,
    rng_state,
    perm,
    s0,
    s1,
    s2,
    s3,
):
    """Add ``<s s^T>_data - <s s^T>_model`` (and ``<s>`` likewise) of one batch to ``G, g``.

    Clamped phase: for ``r`` in ``rows[start:stop]`` in order, the persistent clamped chain
    ``clamped[r]`` (its visible units hold data row ``r``) takes ``clamped_sweeps`` Gibbs
    sweeps over the ``hidden`` units (none when there are no hidden units: the data row
    itself), weight ``1 / m``. Free phase: every persistent chain ``free_chains[c]``, in
    order, takes ``free_sweeps`` sweeps over every unit, weight ``-1 / chains``.
    """
    inv_m = 1.0 / (stop - start)
    for t in range(start, stop):
        s0, s1, s2, s3 = _chain_stats(
            W, b, clamped[rows[t]], h, hidden, lo, hi, clamped_sweeps, inv_m, G, g, rng_state, perm, s0, s1, s2, s3
        )
    inv_c = -1.0 / free_chains.shape[0]
    for c in range(free_chains.shape[0]):
        s0, s1, s2, s3 = _chain_stats(
            W, b, free_chains[c], h, units, lo, hi, free_sweeps, inv_c, G, g, rng_state, perm, s0, s1, s2, s3
        )
    return s0, s1, s2, s3


@njit(cache=True)
def batch_gradient(
    W, b, clamped, free_chains, rows, hidden, units, lo, hi, clamped_sweeps, free_sweeps, G, g, h, rng_state, perm
):
    """Add one batch's estimate of the log-likelihood gradient (data rows ``rows``) to ``G, g``:
    the statistics of one step of :func:`train_epoch`, without the update (for tests).

    Parameters
    ----------
    W : ndarray of float64, shape (n, n)
        Symmetric couplings, zero diagonal.
    b : ndarray of float64, shape (n,)
        Biases.
    clamped : ndarray of int8, shape (rows, n)
        Persistent clamped chain of each data row (visible units fixed; updated).
    free_chains : ndarray of int8, shape (chains, n)
        Persistent free chains (updated).
    rows : ndarray of int64, shape (m,)
        Indices of the batch's rows.
    hidden : ndarray of int64, shape (n - nv,)
        The hidden units.
    units : ndarray of int64, shape (m,)
        The units a sweep visits.
    lo : int
        The low unit state (0 or -1).
    hi : int
        The high unit state (1).
    clamped_sweeps : int
        Sweeps of each clamped chain per update.
    free_sweeps : int
        Sweeps of each free chain per update.
    G : ndarray of float64, shape (n, n)
        Work space: coupling statistics.
    g : ndarray of float64, shape (n,)
        Work space: bias statistics.
    h : ndarray of float64, shape (n,)
        Local fields ``W s`` (kept current; work space in learning).
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    perm : ndarray of int64, shape (n,)
        Work space: a sweep's permutation.
    """
    s0, s1, s2, s3 = _batch_stats(
        W,
        b,
        clamped,
        free_chains,
        rows,
        0,
        rows.shape[0],
        hidden,
        units,
        lo,
        hi,
        clamped_sweeps,
        free_sweeps,
        G,
        g,
        h,
        rng_state,
        perm,
        rng_state[0],
        rng_state[1],
        rng_state[2],
        rng_state[3],
    )
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3


@njit(cache=True)
def train_epoch(
    W,
    b,
    mask,
    dW,
    db,
    G,
    g,
    clamped,
    free_chains,
    order,
    shuffle,
    batch_size,
    hidden,
    units,
    lo,
    hi,
    clamped_sweeps,
    free_sweeps,
    lrs,
    momentum,
    weight_decay,
    rng_state,
    h,
    perm,
):
    """One epoch of the Boltzmann learning rule over the ``clamped`` chains (one per training row).

    ``order`` receives the epoch's row order: a fresh Fisher-Yates permutation when
    ``shuffle`` (drawn first), else ``0 .. rows-1``. Batch ``t`` is rows
    ``order[t*B : min(rows, (t+1)*B)]``; its statistics come from :func:`_batch_stats`
    and its update, with ``lr = lrs[t]``, is::

        dW = momentum * dW + lr * mask * (<s s^T>_data - <s s^T>_model - weight_decay * W);  W += dW
        db = momentum * db + lr * (<s>_data - <s>_model);                                    b += db

    ``mask`` (float64 0/1, symmetric, zero diagonal) keeps absent couplings at zero and
    ``W`` exactly symmetric. ``h`` (n,) and ``perm`` (n,) are scratch. Returns the steps.

    Parameters
    ----------
    W : ndarray of float64, shape (n, n)
        Symmetric couplings, zero diagonal.
    b : ndarray of float64, shape (n,)
        Biases.
    mask : ndarray of float64, shape (n, n)
        0/1 couplings of the topology.
    dW : ndarray of float64, shape (n, n)
        Momentum of ``W``.
    db : ndarray of float64, shape (n,)
        Momentum of ``b``.
    G : ndarray of float64, shape (n, n)
        Work space: coupling statistics.
    g : ndarray of float64, shape (n,)
        Work space: bias statistics.
    clamped : ndarray of int8, shape (rows, n)
        Persistent clamped chain of each data row (visible units fixed; updated).
    free_chains : ndarray of int8, shape (chains, n)
        Persistent free chains (updated).
    order : int
        ``SEQUENTIAL`` or ``PERMUTATION`` (``ORDERS``).
    shuffle : bool
        A fresh permutation of the rows (drawn first), else the data order.
    batch_size : int
        Rows per update (the last batch may be smaller).
    hidden : ndarray of int64, shape (n - nv,)
        The hidden units.
    units : ndarray of int64, shape (m,)
        The units a sweep visits.
    lo : int
        The low unit state (0 or -1).
    hi : int
        The high unit state (1).
    clamped_sweeps : int
        Sweeps of each clamped chain per update.
    free_sweeps : int
        Sweeps of each free chain per update.
    lrs : ndarray of float64, shape (steps,)
        Learning rate of each update of the epoch.
    momentum : float
        Momentum of the parameter updates.
    weight_decay : float
        L2 penalty on the weights.
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    h : ndarray of float64, shape (n,)
        Local fields ``W s`` (kept current; work space in learning).
    perm : ndarray of int64, shape (n,)
        Work space: a sweep's permutation.
    """
    n_rows = clamped.shape[0]
    n = b.shape[0]
    if shuffle:
        permutation(order, rng_state)
    else:
        for r in range(n_rows):
            order[r] = r
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    steps = (n_rows + batch_size - 1) // batch_size
    for step in range(steps):
        start = step * batch_size
        stop = min(n_rows, start + batch_size)
        s0, s1, s2, s3 = _batch_stats(
            W,
            b,
            clamped,
            free_chains,
            order,
            start,
            stop,
            hidden,
            units,
            lo,
            hi,
            clamped_sweeps,
            free_sweeps,
            G,
            g,
            h,
            rng_state,
            perm,
            s0,
            s1,
            s2,
            s3,
        )
        lr = lrs[step]
        for i in range(n):
            wrow = W[i]
            drow = dW[i]
            grow = G[i]
            mrow = mask[i]
            for j in range(n):
                d = momentum * drow[j] + lr * mrow[j] * (grow[j] - weight_decay * wrow[j])
                drow[j] = d
                wrow[j] += d
                grow[j] = 0.0
            d = momentum * db[i] + lr * g[i]
            db[i] = d
            b[i] += d
            g[i] = 0.0
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3
    return steps
