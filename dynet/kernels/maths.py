"""Numba primitives shared by the Boltzmann-family kernels (RBM, DBM, Boltzmann machines).

* :func:`exp_` and :func:`sigmoid`: ``exp`` written out in arithmetic (within 1 ulp of
  libm's over the whole range) so that loops of sigmoids vectorize: numba calls libm's
  ``exp`` one element at a time. Plain IEEE arithmetic, no ``fastmath``, so results
  are bit-identical across machines of the same ISA and do not depend on the libm version.
* :func:`softplus` (libm's ``exp`` and ``log1p``, for evaluations).
* Row sums over lists of active units (:func:`row_sum`, :func:`accumulate`): a binary
  vector is handled as the ``int64`` indices of its on units plus a count, so every
  product with it is a sum of contiguous rows that vectorizes without reordering any sum.
* :func:`sigmoid_into`, :func:`transpose_into`, and :func:`log_partition`, the exact
  log-partition sum of a bipartite binary model (an RBM, or a DBM's middle layer
  against the other two).

``error_model="numpy"`` drops Python's zero-division checks (every divisor here is
``1 + exp(.) >= 1`` or a positive count), which would otherwise keep loops from vectorizing.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["accumulate", "exp_", "log_partition", "row_sum", "sigmoid", "sigmoid_into", "softplus", "transpose_into"]


# --------------------------------------------------------------------------- exp and the logistic function


@intrinsic
def _bits_to_float(typingctx, bits):
    """Reinterpret an ``int64`` as the ``float64`` with the same bits."""
    if bits != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _float_to_bits(typingctx, x):
    """Reinterpret a ``float64`` as the ``int64`` with the same bits."""
    if x != types.float64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


_LOG2E = 1.4426950408889634
_SHIFT = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer kept in the low mantissa bits
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: t * _LN2_HI is exact for |t| < 2**11
_LN2_LO = 1.90821492927058770002e-10
_E2 = 1.0 / 2
_E3 = 1.0 / 6
_E4 = 1.0 / 24
_E5 = 1.0 / 120
_E6 = 1.0 / 720
_E7 = 1.0 / 5040
_E8 = 1.0 / 40320
_E9 = 1.0 / 362880
_E10 = 1.0 / 3628800
_E11 = 1.0 / 39916800
_E12 = 1.0 / 479001600
_E13 = 1.0 / 6227020800


@njit(cache=True, inline="always", error_model="numpy")
def exp_(x):
    """``exp(x)`` for ``x`` clamped to [-708, 709], within 1 ulp (tests check it against numpy).

    ``x = t ln2 + r`` with ``t = round(x / ln2)`` and ``|r| <= ln2 / 2`` (Cody-Waite),
    ``exp(r)`` by its Taylor series to ``r**13 / 13!`` (truncation below 5e-18),
    times ``2**t`` built from its bits. The clamp only matters to the logistic
    function: ``1 / (1 + exp(709))`` is 1.2e-308 instead of 0.

    Parameters
    ----------
    x : float64
        The exponent.

    Returns
    -------
    float64
        ``exp(x)`` (``exp(-708)`` below -708, ``exp(709)`` above 709).
    """
    x = x if x > -708.0 else -708.0
    x = x if x < 709.0 else 709.0
    kf = x * _LOG2E + _SHIFT
    t = kf - _SHIFT
    r = (x - t * _LN2_HI) - t * _LN2_LO
    p = _E13 * r + _E12
    p = p * r + _E11
    p = p * r + _E10
    p = p * r + _E9
    p = p * r + _E8
    p = p * r + _E7
    p = p * r + _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + _E2
    p = p * r + 1.0
    p = p * r + 1.0
    return p * _bits_to_float((_float_to_bits(kf) + 1023) << 52)


@njit(cache=True, inline="always", error_model="numpy")
def sigmoid(x):
    """The logistic function ``1 / (1 + exp(-x))`` with :func:`exp_`.

    Parameters
    ----------
    x : float64
        The input.

    Returns
    -------
    float64
        ``sigmoid(x)`` in (0, 1] (``1.2e-308`` rather than 0 below ``x = -709``).
    """
    return 1.0 / (1.0 + exp_(-x))


# --------------------------------------------------------------------------- small pieces


@njit(cache=True, error_model="numpy")
def softplus(x):
    """``log(1 + exp(x))`` without overflow (``max(x, 0) + log1p(exp(-|x|))``, numpy's ``logaddexp(0, x)``).

    Parameters
    ----------
    x : float64
        The input.

    Returns
    -------
    float64
        ``softplus(x)``, computed with libm's ``exp`` and ``log1p``.
    """
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


@njit(cache=True, error_model="numpy")
def row_sum(M, bias, act, n_act, out):
    """``out = bias + sum_t M[act[t]]``: the input of one layer from the other's active units.

    The rows are added in the order of ``act``, each row element by element.

    Parameters
    ----------
    M : ndarray of float64, shape (n_other, m)
        Weights, one C-contiguous row per unit of the other layer.
    bias : ndarray of float64, shape (m,)
        Biases of this layer.
    act : ndarray of int64, shape (>= n_act,)
        Indices of the other layer's active units (rows of ``M``); the first ``n_act`` are used.
    n_act : int
        How many units of ``act`` are active.
    out : ndarray of float64, shape (m,)
        Receives the inputs (overwritten).
    """
    m = out.shape[0]
    for j in range(m):
        out[j] = bias[j]
    for t in range(n_act):
        row = M[act[t]]
        for j in range(m):
            out[j] += row[j]


@njit(cache=True, error_model="numpy")
def sigmoid_into(a, p):
    """``p[j] = sigmoid(a[j])`` for every ``j`` (:func:`sigmoid`).

    Parameters
    ----------
    a : ndarray of float64, shape (m,)
        Inputs.
    p : ndarray of float64, shape (m,)
        Receives the probabilities (overwritten; may be ``a`` itself).
    """
    for j in range(a.shape[0]):
        p[j] = sigmoid(a[j])


@njit(cache=True, error_model="numpy")
def accumulate(G, gb, gc, act, n_act, p, scale):
    """Add one row's gradient statistics: ``G[i] += scale * p`` and ``gb[i] += scale`` for the
    active visible units ``i``, and ``gc += scale * p``.

    Parameters
    ----------
    G : ndarray of float64, shape (nv, nh)
        Weight statistics, updated in place.
    gb : ndarray of float64, shape (nv,)
        Visible-bias statistics, updated in place.
    gc : ndarray of float64, shape (nh,)
        Hidden-bias statistics, updated in place.
    act : ndarray of int64, shape (>= n_act,)
        Indices of the active visible units; the first ``n_act`` are used.
    n_act : int
        How many units of ``act`` are active.
    p : ndarray of float64, shape (nh,)
        Hidden probabilities (or states) paired with the visible row.
    scale : float64
        Weight of the row (e.g. ``1 / batch`` for the data, ``-1 / chains`` for the model).
    """
    m = p.shape[0]
    for t in range(n_act):
        i = act[t]
        row = G[i]
        for j in range(m):
            row[j] += scale * p[j]
        gb[i] += scale
    for j in range(m):
        gc[j] += scale * p[j]


@njit(cache=True, error_model="numpy")
def transpose_into(W, WT):
    """``WT[:] = W.T`` in 16 x 16 tiles.

    Parameters
    ----------
    W : ndarray of float64, shape (nv, nh)
        The matrix.
    WT : ndarray of float64, shape (nh, nv)
        Receives its transpose (overwritten).
    """
    nv, nh = W.shape
    for i0 in range(0, nv, 16):
        i1 = min(i0 + 16, nv)
        for j0 in range(0, nh, 16):
            j1 = min(j0 + 16, nh)
            for j in range(j0, j1):
                for i in range(i0, i1):
                    WT[j, i] = W[i, j]


# --------------------------------------------------------------------------- exact sums


@njit(cache=True, error_model="numpy")
def log_partition(M, bias_x, bias_y):
    """``log sum_x exp(bias_x.x + sum_k softplus(bias_y_k + (x M)_k))`` over all binary ``x``.

    With ``M = W.T`` (hidden x visible), ``x = h`` enumerates the hidden configurations:
    ``log Z = logsumexp_h [c.h + sum_i softplus(b_i + W_i h)]``; with ``M = W``, ``x = v``
    the visible ones (the same ``log Z``). ``2**n_x`` terms in Gray-code order, so each
    term updates the inputs ``bias_y + x M`` by one row of ``M``; a running
    log-sum-exp keeps the sum finite.

    Parameters
    ----------
    M : ndarray of float64, shape (nx, ny)
        Weights between the enumerated layer ``x`` (rows) and the summed-out layer ``y``, C-contiguous.
    bias_x : ndarray of float64, shape (nx,)
        Biases of the enumerated layer.
    bias_y : ndarray of float64, shape (ny,)
        Biases of the summed-out layer.

    Returns
    -------
    float64
        The log-partition sum.
    """
    nx, ny = M.shape
    pre = bias_y.copy()
    lin = 0.0
    x = np.zeros(nx, np.int8)
    best = 0.0
    for k in range(ny):
        best += softplus(pre[k])
    acc = 1.0
    total = np.int64(1) << nx
    for g in range(1, total):
        # the bit that changes between Gray codes g-1 and g: the lowest set bit of g
        i = 0
        while not (g >> i) & 1:
            i += 1
        row = M[i]
        if x[i]:
            x[i] = 0
            lin -= bias_x[i]
            for k in range(ny):
                pre[k] -= row[k]
        else:
            x[i] = 1
            lin += bias_x[i]
            for k in range(ny):
                pre[k] += row[k]
        s = lin
        for k in range(ny):
            s += softplus(pre[k])
        if s <= best:
            acc += math.exp(s - best)
        else:
            acc = acc * math.exp(best - s) + 1.0
            best = s
    return best + math.log(acc)
