"""Modern (continuous) Hopfield network dynamics (Ramsauer et al. 2020), many updates per compiled call.

Conventions shared by every kernel here (and by the plain-numpy references in
``tests/test_modern_hopfield.py``):

* The stored patterns are the rows of ``patterns``, shape ``(N, d)``, ``float64``: the paper's
  ``X = (x_1 .. x_N)`` of shape ``(d, N)`` is ``patterns.T``. The state ``xi`` has shape ``(d,)``.
* Similarities ``z = X^T xi``; softmax weights ``p = softmax(beta z)`` and
  ``lse(beta, z) = beta^-1 log sum_i exp(beta z_i)`` are computed with the maximum of ``z``
  subtracted, so no exponential overflows.
* Update ``xi <- X p`` (all components at once).
* Energy ``E(xi) = -lse(beta, X^T xi) + 1/2 xi^T xi + beta^-1 log N + 1/2 M^2``,
  ``M = max_i ||x_i||``; the iteration never increases it (the paper's Theorem 2).
* Entropy ``H(p) = -sum_i p_i log p_i``: ``log N`` for the global average (small ``beta``),
  ``0`` for a single retrieved pattern, in between for metastable states.
"""

import numpy as np
from numba import njit

RUNNING = 0
CONVERGED = 1

STOP_REASONS = {RUNNING: "max_steps", CONVERGED: "converged"}


@njit(cache=True)
def similarities(patterns, xi, z):
    """``z = X^T xi``: the dot product of the state with every stored pattern.

    Parameters
    ----------
    patterns : ndarray of float64, shape (N, d)
        The stored patterns, one per row.
    xi : ndarray of float64, shape (d,)
        The state.
    z : ndarray of float64, shape (N,)
        Output.
    """
    n, d = patterns.shape
    for i in range(n):
        row = patterns[i]
        acc = 0.0
        for k in range(d):
            acc += row[k] * xi[k]
        z[i] = acc


@njit(cache=True)
def softmax(beta, z, p):
    """``p = softmax(beta z)`` computed with ``max(z)`` subtracted; returns ``(lse(beta, z), H(p))``.

    Parameters
    ----------
    beta : float
        Inverse temperature, > 0.
    z : ndarray of float64, shape (N,)
        Similarities ``X^T xi``.
    p : ndarray of float64, shape (N,)
        Output: the softmax weights (sum 1).

    Returns
    -------
    tuple of float64
        ``lse(beta, z) = beta^-1 log sum_i exp(beta z_i)`` and the entropy ``-sum_i p_i log p_i``.
    """
    n = z.shape[0]
    m = z[0]
    for i in range(1, n):
        if z[i] > m:
            m = z[i]
    s = 0.0
    for i in range(n):
        p[i] = np.exp(beta * (z[i] - m))
        s += p[i]
    log_s = np.log(s)
    # H = log s - sum_i p_i a_i with a_i = beta (z_i - m) <= 0 and p_i = exp(a_i) / s
    pa = 0.0
    for i in range(n):
        p[i] /= s
        pa += p[i] * (beta * (z[i] - m))
    return m + log_s / beta, log_s - pa


@njit(cache=True)
def combine(patterns, p, out):
    """``out = X p = sum_i p_i x_i``: the update's new state.

    Parameters
    ----------
    patterns : ndarray of float64, shape (N, d)
        The stored patterns, one per row.
    p : ndarray of float64, shape (N,)
        Weights.
    out : ndarray of float64, shape (d,)
        Output.
    """
    n, d = patterns.shape
    for k in range(d):
        out[k] = 0.0
    for i in range(n):
        w = p[i]
        row = patterns[i]
        for k in range(d):
            out[k] += w * row[k]


@njit(cache=True)
def update(patterns, beta, xi, z, p, out):
    """One update ``out = X softmax(beta X^T xi)``; returns ``lse(beta, X^T xi)`` and ``H(p)`` of ``xi``.

    Parameters
    ----------
    patterns : ndarray of float64, shape (N, d)
        The stored patterns, one per row.
    beta : float
        Inverse temperature, > 0.
    xi : ndarray of float64, shape (d,)
        The state.
    z : ndarray of float64, shape (N,)
        Work array: receives ``X^T xi``.
    p : ndarray of float64, shape (N,)
        Work array: receives ``softmax(beta X^T xi)``.
    out : ndarray of float64, shape (d,)
        Output: the new state (must not be ``xi``).

    Returns
    -------
    tuple of float64
        ``(lse(beta, X^T xi), H(p))``.
    """
    similarities(patterns, xi, z)
    lse, entropy = softmax(beta, z, p)
    combine(patterns, p, out)
    return lse, entropy


@njit(cache=True)
def energy(beta, lse, xi, log_n, m_sq):
    """``E = -lse + 1/2 xi^T xi + beta^-1 log N + 1/2 M^2`` from ``lse = lse(beta, X^T xi)``.

    Parameters
    ----------
    beta : float
        Inverse temperature, > 0.
    lse : float
        ``lse(beta, X^T xi)`` (from :func:`softmax`).
    xi : ndarray of float64, shape (d,)
        The state.
    log_n : float
        ``log N``.
    m_sq : float
        ``M^2 = max_i ||x_i||^2``.

    Returns
    -------
    float64
        The energy.
    """
    sq = 0.0
    for k in range(xi.shape[0]):
        sq += xi[k] * xi[k]
    return -lse + 0.5 * sq + log_n / beta + 0.5 * m_sq


@njit(cache=True)
def distance(a, b):
    """``||a - b||`` (Euclidean).

    Parameters
    ----------
    a, b : ndarray of float64, shape (d,)

    Returns
    -------
    float64
    """
    acc = 0.0
    for k in range(a.shape[0]):
        t = a[k] - b[k]
        acc += t * t
    return np.sqrt(acc)


@njit(cache=True)
def nearest(patterns, sq_norms, xi, z):
    """Index of the stored pattern nearest to ``xi`` and its exact distance.

    ``||xi - x_i||^2 = ||x_i||^2 - 2 z_i + const`` ranks the patterns from ``z = X^T xi``; the
    winner's distance is then computed directly (no cancellation).

    Parameters
    ----------
    patterns : ndarray of float64, shape (N, d)
    sq_norms : ndarray of float64, shape (N,)
        ``||x_i||^2``.
    xi : ndarray of float64, shape (d,)
    z : ndarray of float64, shape (N,)
        ``X^T xi``.

    Returns
    -------
    tuple
        ``(index, distance)``.
    """
    best = 0
    best_v = sq_norms[0] - 2.0 * z[0]
    for i in range(1, z.shape[0]):
        v = sq_norms[i] - 2.0 * z[i]
        if v < best_v:
            best_v = v
            best = i
    return best, distance(xi, patterns[best])


@njit(cache=True)
def measure(
    patterns,
    sq_norms,
    beta,
    log_n,
    m_sq,
    cued,
    xi,
    z,
    p,
    row,
    energy_out,
    max_weight_out,
    entropy_out,
    dist_cue_out,
    dist_near_out,
    nearest_out,
):
    """Fill row ``row`` of the per-step records for the state ``xi`` (``z``, ``p`` are overwritten).

    Parameters
    ----------
    patterns : ndarray of float64, shape (N, d)
    sq_norms : ndarray of float64, shape (N,)
        ``||x_i||^2``.
    beta : float
    log_n : float
        ``log N``.
    m_sq : float
        ``M^2``.
    cued : int
        Index of the cued pattern, or -1 (no cued pattern: its distance is NaN).
    xi : ndarray of float64, shape (d,)
        The state.
    z, p : ndarray of float64, shape (N,)
        Work arrays: receive ``X^T xi`` and ``softmax(beta X^T xi)``.
    row : int
        The row written.
    energy_out, max_weight_out, entropy_out, dist_cue_out, dist_near_out : ndarray of float64, shape (rows,)
        Energy, ``max_i p_i``, ``H(p)``, distance to the cued and to the nearest stored pattern.
    nearest_out : ndarray of int64, shape (rows,)
        Index of the nearest stored pattern.
    """
    similarities(patterns, xi, z)
    lse, entropy = softmax(beta, z, p)
    energy_out[row] = energy(beta, lse, xi, log_n, m_sq)
    mx = p[0]
    for i in range(1, p.shape[0]):
        if p[i] > mx:
            mx = p[i]
    max_weight_out[row] = mx
    entropy_out[row] = entropy
    dist_cue_out[row] = distance(xi, patterns[cued]) if cued >= 0 else np.nan
    k, dk = nearest(patterns, sq_norms, xi, z)
    nearest_out[row] = k
    dist_near_out[row] = dk


@njit(cache=True)
def run_block(
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
    n_steps,
    tol,
    step0,
    step_out,
    energy_out,
    max_weight_out,
    entropy_out,
    dist_cue_out,
    dist_near_out,
    nearest_out,
    state_out,
    weights_out,
):
    """Up to ``n_steps`` updates of ``xi`` in place, one recorded row after each; stops after the
    update that moved the state by at most ``tol``.

    Parameters
    ----------
    patterns : ndarray of float64, shape (N, d)
        The stored patterns, one per row.
    sq_norms : ndarray of float64, shape (N,)
        ``||x_i||^2``.
    beta : float
        Inverse temperature, > 0.
    log_n : float
        ``log N``.
    m_sq : float
        ``M^2 = max_i ||x_i||^2``.
    cued : int
        Index of the cued pattern, or -1.
    xi : ndarray of float64, shape (d,)
        The state, updated in place.
    xi_new : ndarray of float64, shape (d,)
        Work array.
    z, p : ndarray of float64, shape (N,)
        Work arrays.
    n_steps : int
        Most updates in this call.
    tol : float
        Convergence threshold on ``||xi_new - xi||``.
    step0 : int
        Updates done before this call (the first row here is step ``step0 + 1``).
    step_out : ndarray of int64, shape (>= n_steps,)
        Step number of each row.
    energy_out, max_weight_out, entropy_out, dist_cue_out, dist_near_out : ndarray of float64, shape (>= n_steps,)
        See :func:`measure`.
    nearest_out : ndarray of int64, shape (>= n_steps,)
        See :func:`measure`.
    state_out : ndarray of float64, shape (>= n_steps, d) or (>= n_steps, 0)
        The state after each update (not written when its second dimension is 0).
    weights_out : ndarray of float64, shape (>= n_steps, N) or (>= n_steps, 0)
        The softmax weights of the state after each update (not written when empty).

    Returns
    -------
    tuple of int
        ``(steps run, stop code)``: ``CONVERGED`` or ``RUNNING``.
    """
    d = xi.shape[0]
    keep_state = state_out.shape[1] > 0
    keep_weights = weights_out.shape[1] > 0
    for t in range(n_steps):
        update(patterns, beta, xi, z, p, xi_new)
        moved = distance(xi_new, xi)
        for k in range(d):
            xi[k] = xi_new[k]
        step_out[t] = step0 + t + 1
        measure(
            patterns,
            sq_norms,
            beta,
            log_n,
            m_sq,
            cued,
            xi,
            z,
            p,
            t,
            energy_out,
            max_weight_out,
            entropy_out,
            dist_cue_out,
            dist_near_out,
            nearest_out,
        )
        if keep_state:
            state_out[t, :] = xi
        if keep_weights:
            weights_out[t, :] = p
        if moved <= tol:
            return t + 1, CONVERGED
    return n_steps, RUNNING
