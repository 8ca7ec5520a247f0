"""xoshiro256** pseudo-random generator for numba kernels.

Kernels take their random state explicitly as a ``uint64`` array of length 4 and
advance it in place, as pynndescent's kernels do with their ``rng_state``. The
state is seeded from a :class:`numpy.random.SeedSequence`, so a run's random
stream is a pure function of its seed, and the 4 words are all a checkpoint needs
to resume the stream exactly.

Reference: D. Blackman and S. Vigna, "Scrambled linear pseudorandom number
generators", ACM TOMS 47 (2021); algorithm at https://prng.di.unimi.it/xoshiro256starstar.c
"""

import numpy as np
from numba import njit

__all__ = ["TWO_M53", "next_below", "next_double", "next_u64", "permutation", "seed_state", "step"]

#: ``2**-53``: ``(x >> 11) * TWO_M53`` turns a 64-bit output ``x`` into a uniform float64 in [0, 1).
TWO_M53 = 1.0 / 9007199254740992.0


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True, inline="always")
def step(s0, s1, s2, s3):
    """One xoshiro256** step on the state words, for kernels that keep the state in registers.

    A kernel loads ``state[0..3]`` into locals once, calls ``x, s0, s1, s2, s3 = step(s0,
    s1, s2, s3)`` per draw (``u = float64(x >> 11) * TWO_M53`` for a uniform in [0, 1)),
    and writes the words back at its end: the same stream as :func:`next_u64` on the array.

    Parameters
    ----------
    s0, s1, s2, s3 : uint64
        The four state words.

    Returns
    -------
    tuple of uint64
        ``(output, s0, s1, s2, s3)``: the 64-bit output and the advanced state words.
    """
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(cache=True)
def next_u64(state):
    """Next 64-bit output.

    Parameters
    ----------
    state : ndarray of uint64, shape (4,)
        The generator state, advanced in place.

    Returns
    -------
    uint64
        The output.
    """
    result, state[0], state[1], state[2], state[3] = step(state[0], state[1], state[2], state[3])
    return result


@njit(cache=True)
def next_double(state):
    """Uniform float64 in [0, 1) from the top 53 bits of the next output.

    Parameters
    ----------
    state : ndarray of uint64, shape (4,)
        The generator state, advanced in place (one step).

    Returns
    -------
    float64
        ``(next_u64(state) >> 11) * 2**-53``.
    """
    return np.float64(next_u64(state) >> np.uint64(11)) * TWO_M53


@njit(cache=True)
def next_below(state, n):
    """Integer uniform on ``0 .. n-1`` (``n < 2**31``): ``floor(u * n)``, bias below ``n / 2**53``.

    Parameters
    ----------
    state : ndarray of uint64, shape (4,)
        The generator state, advanced in place (one step).
    n : int
        The number of values, ``1 <= n < 2**31``.

    Returns
    -------
    int64
        ``floor(next_double(state) * n)``.
    """
    return np.int64(next_double(state) * n)


@njit(cache=True)
def permutation(perm, state):
    """Fill ``perm`` with a uniformly random permutation of ``0 .. n-1`` (Fisher-Yates).

    Draws ``j = next_below(k + 1)`` for ``k = n-1 .. 1``, exactly as calling
    :func:`next_below` would, but keeps the state in registers and writes it back once.

    Parameters
    ----------
    perm : ndarray of int64, shape (n,)
        Receives the permutation (overwritten).
    state : ndarray of uint64, shape (4,)
        The generator state, advanced in place (``n - 1`` steps).
    """
    n = perm.shape[0]
    for k in range(n):
        perm[k] = k
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    for k in range(n - 1, 0, -1):
        x, s0, s1, s2, s3 = step(s0, s1, s2, s3)
        j = np.int64(np.float64(x >> np.uint64(11)) * TWO_M53 * (k + 1))
        tmp = perm[k]
        perm[k] = perm[j]
        perm[j] = tmp
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3


def seed_state(seed_sequence):
    """A fresh generator state from a :class:`numpy.random.SeedSequence` (never all zero).

    Parameters
    ----------
    seed_sequence : numpy.random.SeedSequence
        The seed.

    Returns
    -------
    ndarray of uint64, shape (4,)
        ``seed_sequence.generate_state(4, uint64)``, its first word replaced when all four are 0.
    """
    state = seed_sequence.generate_state(4, np.uint64)
    if not state.any():  # the one state xoshiro cannot leave
        state[0] = np.uint64(0x9E3779B97F4A7C15)
    return state
