"""2D Ising model on an L x L periodic square lattice: checkerboard sweeps.

``E = -J sum_<ij> s_i s_j - h sum_i s_i`` over nearest-neighbour bonds, spins ``int8``
in {-1, +1}. A sweep visits the even sublattice (``(i + j) % 2 == 0``) then the odd one,
row by row; sites of one colour have no common bonds, so the order inside a colour
does not change the physics (and the kernel stays sequential and reproducible).

Acceptance comes from a lookup table indexed by the spin and its neighbour sum
``nn`` in {-4, -2, 0, 2, 4} (``table[(s + 1) // 2, (nn + 4) // 2]``), compared in
integers (:func:`threshold_table`):

* Metropolis: flip with probability ``min(1, exp(-beta dE))``, ``dE = 2 s (J nn + h)``;
* heat-bath (Glauber): set ``s = +1`` with probability ``1 / (1 + exp(-2 beta (J nn + h)))``
  regardless of the current spin (the table holds P(new spin = +1) in both rows).

The magnetization sum ``M = sum s`` and bond sum ``B = sum_<ij> s_i s_j`` are kept as
exact integers, updated on each flip.
"""

import numpy as np
from numba import njit

from dynet.kernels.rng import step as rng_step

METROPOLIS = 0
HEAT_BATH = 1
ALGORITHMS = {"metropolis": METROPOLIS, "heat-bath": HEAT_BATH}


def acceptance_table(algorithm: int, beta: float, coupling: float, field: float) -> np.ndarray:
    """The acceptance lookup table described in the module docstring.

    Parameters
    ----------
    algorithm : int
        METROPOLIS or HEAT_BATH.
    beta : float
        Inverse temperature 1 / T.
    coupling, field : float
        J and h.

    Returns
    -------
    ndarray of float64, shape (2, 5)
        ``table[(s + 1) // 2, (nn + 4) // 2]``: a probability in [0, 1].
    """
    table = np.empty((2, 5))
    for si, s in enumerate((-1, 1)):
        for k, nn in enumerate((-4, -2, 0, 2, 4)):
            local = coupling * nn + field
            if algorithm == METROPOLIS:
                table[si, k] = min(1.0, np.exp(-beta * 2.0 * s * local))
            else:
                table[si, k] = 1.0 / (1.0 + np.exp(-2.0 * beta * local))
    return table


@njit(cache=True)
def sums(spins):
    """(M, B): the magnetization sum and the bond sum of a periodic lattice (exact integers).

    Parameters
    ----------
    spins : ndarray of int8, shape (L, L)
        Spins in {-1, +1}.

    Returns
    -------
    tuple of int
        ``M = sum_i s_i`` and ``B = sum_<ij> s_i s_j`` over the 2 L^2 bonds.
    """
    n = spins.shape[0]
    m = 0
    b = 0
    for i in range(n):
        down = (i + 1) % n
        for j in range(n):
            s = np.int64(spins[i, j])
            m += s
            b += s * (spins[down, j] + spins[i, (j + 1) % n])
    return m, b


def threshold_table(table: np.ndarray) -> np.ndarray:
    """Integer form of an acceptance table for :func:`sweeps`: ``ceil(p * 2**53)`` as uint64,
    flattened to index ``((s + 1) * 5 + nn + 4) // 2``.

    A uniform ``u = k * 2**-53`` (``k`` the top 53 bits of a draw) satisfies ``u < p``
    exactly when ``k < ceil(p * 2**53)``, so the kernel compares integers.

    Parameters
    ----------
    table : ndarray of float64, shape (2, 5)
        From :func:`acceptance_table`.

    Returns
    -------
    ndarray of uint64, shape (10,)
    """
    return np.ceil(table.reshape(10) * 2.0**53).astype(np.uint64)


@njit(cache=True)
def sweeps(spins, thresholds, algorithm, n_sweeps, every, rng_state, m_sum, b_sum, out_m, out_b, n_out):
    """``n_sweeps`` checkerboard sweeps; after every ``every``-th, record ``M`` and ``B``.

    ``thresholds`` comes from :func:`threshold_table`. ``m_sum``, ``b_sum`` are the
    current sums (see :func:`sums`); records go to ``out_m[n_out:], out_b[n_out:]``.
    One draw per site visit; the update is written without branches (acceptance near T_c
    is a coin flip the CPU cannot predict).

    Parameters
    ----------
    spins : ndarray of int8, shape (L, L)
        The lattice (L even), updated in place.
    thresholds : ndarray of uint64, shape (10,)
        From :func:`threshold_table`.
    algorithm : int
        METROPOLIS or HEAT_BATH (must match the table).
    n_sweeps, every : int
        Sweeps to run; record after every ``every``-th.
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    m_sum, b_sum : int
        ``M`` and ``B`` of ``spins`` on entry.
    out_m, out_b : ndarray of int64, shape (>= n_out + n_sweeps // every,)
        Output: ``M`` and ``B`` at each record.
    n_out : int
        Index of the first record to write.

    Returns
    -------
    tuple of int
        ``(m_sum, b_sum, n_out)`` after the sweeps.
    """
    n = spins.shape[0]
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    metropolis = algorithm == METROPOLIS
    for sweep in range(1, n_sweeps + 1):
        for colour in range(2):
            for i in range(n):
                up = i - 1 if i > 0 else n - 1
                down = i + 1 if i < n - 1 else 0
                row = spins[i]
                row_up = spins[up]
                row_down = spins[down]
                for j in range((i + colour) % 2, n, 2):
                    left = j - 1 if j > 0 else n - 1
                    right = j + 1 if j < n - 1 else 0
                    nn = np.int64(row_up[j]) + row_down[j] + row[left] + row[right]
                    s = np.int64(row[j])
                    x, s0, s1, s2, s3 = rng_step(s0, s1, s2, s3)
                    hit = np.int64((x >> np.uint64(11)) < thresholds[((s + 1) * 5 + nn + 4) >> 1])
                    if metropolis:
                        new = s - 2 * s * hit  # flip when hit
                    else:
                        new = 2 * hit - 1  # +1 when hit
                    row[j] = new
                    m_sum += new - s
                    b_sum += (new - s) * nn
        if sweep % every == 0:
            out_m[n_out] = m_sum
            out_b[n_out] = b_sum
            n_out += 1
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3
    return m_sum, b_sum, n_out
