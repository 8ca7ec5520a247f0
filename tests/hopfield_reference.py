"""Plain-Python / numpy reference for the Hopfield dynamics in ``dynet.kernels``.

Written from the conventions in the docstrings of ``dynet/kernels/rng.py``,
``dynet/models/hopfield/kernels.py`` and ``dynet/models/hopfield/driver.py``, without calling any
numba kernel, so the tests can compare the compiled kernels against it:

* ``Xoshiro256ss``: xoshiro256** on Python ints masked to 64 bits, with
  ``next_double = (x >> 11) * 2**-53`` and ``next_below(n) = int(next_double * n)``.
* ``decide``: deterministic (``T == 0``) or Glauber (``T > 0``) update of one unit.
* ``async_sweep`` / ``sync_step``: one sweep, consuming random numbers in the same
  order as the kernels (Fisher-Yates permutation first, then one uniform per visit
  at ``T > 0``; random order draws the unit, then the uniform).
* ``energy``, ``overlaps``, ``is_stable`` and ``run`` (the recorded outputs of
  ``dynet.models.hopfield.driver.simulate``).

Every floating-point operation that decides a unit's fate is the same IEEE operation
as in the kernels (``u = scale * h_i - theta_i``, ``h += 2 s_i W[i]`` elementwise,
sequential energy sums), so with integer (Hebbian) weights the reference agrees with
the kernels bit for bit. Full field recomputations use numpy's matmul, which for
float weights may round differently from the kernel's reassociated loop.
"""

from __future__ import annotations

import math

import numpy as np

MASK64 = (1 << 64) - 1
TWO_M53 = 2.0**-53

ORDERS = ("synchronous", "async-permutation", "async-sequential", "async-random")

STOP_MAX_SWEEPS = "max_sweeps"
STOP_FIXED_POINT = "fixed_point"
STOP_TWO_CYCLE = "two_cycle"


# --------------------------------------------------------------------------- RNG


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK64


class Xoshiro256ss:
    """xoshiro256** (Blackman & Vigna) on four 64-bit Python ints."""

    def __init__(self, state):
        self.s = [int(v) & MASK64 for v in state]
        if len(self.s) != 4:
            raise ValueError("xoshiro256** needs 4 state words")

    def next_u64(self) -> int:
        s0, s1, s2, s3 = self.s
        result = (_rotl((s1 * 5) & MASK64, 7) * 9) & MASK64
        t = (s1 << 17) & MASK64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 45)
        self.s = [s0, s1, s2, s3]
        return result

    def next_double(self) -> float:
        return float(self.next_u64() >> 11) * TWO_M53

    def next_below(self, n: int) -> int:
        return int(self.next_double() * n)

    def state_array(self) -> np.ndarray:
        return np.array(self.s, dtype=np.uint64)


# --------------------------------------------------------------------------- single-unit rule


def glauber_p_up(u: float, temperature: float) -> float:
    """``1 / (1 + exp(-2u/T))``; ``exp`` overflow gives probability 0, as in IEEE."""
    try:
        return 1.0 / (1.0 + math.exp(-2.0 * u / temperature))
    except OverflowError:
        return 0.0


def decide(u: float, s_i: int, temperature: float, rng: Xoshiro256ss) -> int:
    if temperature == 0.0:
        if u > 0.0:
            return 1
        if u < 0.0:
            return -1
        return s_i
    return 1 if rng.next_double() < glauber_p_up(u, temperature) else -1


# --------------------------------------------------------------------------- fields, energy, overlaps


def fields(W: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Unscaled fields ``W @ s`` as float64 (exact integer arithmetic for integer ``W``)."""
    if W.dtype.kind in "iu":
        return (W.astype(np.int64) @ s.astype(np.int64)).astype(np.float64)
    return W.astype(np.float64) @ s.astype(np.float64)


def energy(scale: float, theta: np.ndarray, s: np.ndarray, h: np.ndarray) -> float:
    """``-1/2 * scale * s.h + theta.s``, summed sequentially in unit order like the kernel."""
    e_w = 0.0
    e_t = 0.0
    for s_i, h_i, t_i in zip(s.tolist(), h.tolist(), theta.tolist()):
        e_w += s_i * h_i
        e_t += t_i * s_i
    return -0.5 * scale * e_w + e_t


def energy_of_state(W, scale, theta, s) -> float:
    return energy(scale, np.asarray(theta, np.float64), s, fields(W, s))


def overlaps(patterns: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``m_mu = (1/N) sum_i xi^mu_i s_i`` (integer sum, one division)."""
    n = patterns.shape[1]
    return (patterns.astype(np.int64) @ s.astype(np.int64)) / n


def is_stable(scale: float, theta: np.ndarray, s: np.ndarray, h: np.ndarray) -> bool:
    u = scale * h - theta
    return not bool(np.any(((u > 0.0) & (s < 0)) | ((u < 0.0) & (s > 0))))


# --------------------------------------------------------------------------- sweeps


def permutation(n: int, rng: Xoshiro256ss) -> list[int]:
    """Fisher-Yates as in the kernel: k from n-1 down to 1, j = next_below(k + 1)."""
    perm = list(range(n))
    for k in range(n - 1, 0, -1):
        j = rng.next_below(k + 1)
        perm[k], perm[j] = perm[j], perm[k]
    return perm


def async_sweep(W, scale, theta, s, h, temperature, order, rng, on_flip=None) -> int:
    """One asynchronous sweep of ``N`` visits, updating ``s`` and ``h`` in place.

    ``on_flip(i, u, old, s, h)`` (optional) is called after each flip with the unit,
    the effective field that decided it, its old value and the updated arrays.
    Returns the number of flips.
    """
    n = s.shape[0]
    if order == "async-permutation":
        perm = permutation(n, rng)
    elif order not in ("async-sequential", "async-random"):
        raise ValueError(f"not an asynchronous order: {order}")
    flips = 0
    for k in range(n):
        if order == "async-random":
            i = rng.next_below(n)
        elif order == "async-sequential":
            i = k
        else:
            i = perm[k]
        old = int(s[i])
        u = scale * float(h[i]) - float(theta[i])
        new = decide(u, old, temperature, rng)
        if new != old:
            s[i] = new
            h += (2.0 * new) * W[i].astype(np.float64)
            flips += 1
            if on_flip is not None:
                on_flip(i, u, old, s, h)
    return flips


def sync_step(W, scale, theta, s, h, temperature, rng):
    """One synchronous step on the fields of ``s``; returns ``(s_new, h_new, flips)``."""
    n = s.shape[0]
    s_new = s.copy()
    flips = 0
    for i in range(n):
        u = scale * float(h[i]) - float(theta[i])
        s_new[i] = decide(u, int(s[i]), temperature, rng)
        if s_new[i] != s[i]:
            flips += 1
    return s_new, fields(W, s_new), flips


# --------------------------------------------------------------------------- a whole run


def run(config: dict, patterns, weights, scale, s0, rng_state, temps=None, block_sweeps=None, on_flip=None) -> dict:
    """Reference of :func:`dynet.models.hopfield.driver.simulate`'s recorded rows.

    ``temps`` defaults to ``dynet.models.hopfield.driver.temperatures(config["dynamics"])``.
    ``block_sweeps`` mirrors the driver's blocks, at whose start the fields are
    re-derived from scratch (``None``: one block). Returns the record columns
    (``sweep``, ``energy``, ``flips``, ``temperature``, ``state``, ``overlap``) plus
    ``stop_reason``, ``sweeps`` (done), ``final_state`` and ``rng_state`` (after).
    """
    dyn, rec = config["dynamics"], config["record"]
    if temps is None:
        from dynet.models.hopfield.config import HopfieldDynamics
        from dynet.models.hopfield.driver import temperatures

        temps = temperatures(HopfieldDynamics.model_validate(dyn))
    n = patterns.shape[1]
    theta = np.full(n, float(config["network"]["threshold"]))
    order = dyn["update"]
    every = rec["every"]
    max_sweeps = dyn["max_sweeps"]
    stop_at = dyn["stop_at_fixed_point"]
    if block_sweeps is None:
        block = max_sweeps + 1
    else:
        block = max(every, (block_sweeps // every) * every)
    rng = Xoshiro256ss(rng_state)

    rows = {k: [] for k in ("sweep", "energy", "flips", "temperature", "state", "overlap")}

    def record(t, flips, temperature, s, h):
        rows["sweep"].append(t)
        rows["energy"].append(energy(scale, theta, s, h))
        rows["flips"].append(flips)
        rows["temperature"].append(float(temperature))
        rows["state"].append(s.copy())
        rows["overlap"].append(overlaps(patterns, s))

    s = np.asarray(s0).astype(np.int8).copy()
    h = fields(weights, s)
    record(0, 0, temps[0], s, h)
    s_prev = s.copy()
    stop = STOP_MAX_SWEEPS
    pending = 0
    done = 0
    for t in range(1, max_sweeps + 1):
        if (t - 1) % block == 0:
            h = fields(weights, s)
        temperature = float(temps[t - 1])
        stopped = False
        if order == "synchronous":
            s_new, h, flips = sync_step(weights, scale, theta, s, h, temperature, rng)
            if stop_at and temperature == 0.0:
                if flips == 0:
                    stop, stopped = STOP_FIXED_POINT, True
                elif t >= 2 and np.array_equal(s_new, s_prev):
                    stop, stopped = STOP_TWO_CYCLE, True
            s_prev = s
            s = s_new
        else:
            flips = async_sweep(weights, scale, theta, s, h, temperature, order, rng, on_flip)
            if stop_at and temperature == 0.0 and flips == 0:
                if order != "async-random" or is_stable(scale, theta, s, h):
                    stop, stopped = STOP_FIXED_POINT, True
        pending += flips
        done = t
        if t % every == 0 or stopped:
            record(t, pending, temperature, s, h)
            pending = 0
        if stopped:
            break
    if stop == STOP_MAX_SWEEPS and done == max_sweeps and rows["sweep"][-1] != done:
        record(done, pending, temps[done - 1], s, fields(weights, s))

    n_pat = patterns.shape[0]
    out = {
        "sweep": np.array(rows["sweep"], np.int64),
        "energy": np.array(rows["energy"], np.float64),
        "flips": np.array(rows["flips"], np.int64),
        "temperature": np.array(rows["temperature"], np.float64),
        "state": np.array(rows["state"], np.int8).reshape(-1, n),
        "overlap": np.array(rows["overlap"], np.float64).reshape(-1, n_pat),
    }
    out.update(stop_reason=stop, sweeps=done, final_state=s, rng_state=rng.state_array())
    return out
