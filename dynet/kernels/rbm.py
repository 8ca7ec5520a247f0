"""Bernoulli-Bernoulli restricted Boltzmann machine: training epochs, evaluation, sampling.

Units are in {0, 1}; ``E(v, h) = -b.v - c.h - v^T W h`` with ``W`` of shape
(visible, hidden); the free energy is ``F(v) = -b.v - sum_j softplus(c_j + v W_j)``.
Parameters are ``float64`` (see ``dynet.models.rbm`` for why).

Binary vectors are handled as lists of their active units (``idx``/``ptr`` in CSR form
for data sets, an ``int64`` row of indices plus a count for chain states), so every
product with a binary vector is a sum of rows: ``c + v W`` adds the rows ``W[i]`` of
the active visible units, ``b + W h`` the rows ``WT[j]`` of the active hidden units,
where ``WT`` is a transposed copy of ``W`` that :func:`train_epoch` keeps current.
Those row sums run over contiguous memory and vectorize without reordering any sum.

Random numbers come from a xoshiro256** state (``uint64[4]``, :mod:`dynet.kernels.rng`)
held in registers inside each kernel and written back at the end. A unit is switched
on when ``u < p`` with ``u`` = (top 53 bits of the next draw) * 2**-53 and ``p`` its
conditional probability; units are drawn in index order, chain by chain, so the
stream is a documented function of the seed (:func:`train_epoch` gives the order).

The logistic function uses :func:`exp_`, an ``exp`` written out in arithmetic (within
1 ulp of libm's over the whole range) so that loops of sigmoids vectorize: numba calls
libm's ``exp`` one element at a time. No ``fastmath``: every sum keeps its order and
``exp_`` is plain IEEE arithmetic, so runs are bit-identical across machines of the
same ISA, and training and sampling do not depend on the libm version (the evaluation's
``softplus`` uses libm's ``exp`` and ``log1p``). ``error_model="numpy"`` drops
Python's zero-division checks (every divisor here is ``1 + exp(.) >= 1`` or a
positive count), which would otherwise keep loops from vectorizing.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .rng import _TWO_M53, _step, permutation

CD = 0
PCD = 1
METHODS = {"cd": CD, "pcd": PCD}


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
    """``1 / (1 + exp(-x))`` with :func:`exp_`."""
    return 1.0 / (1.0 + exp_(-x))


# --------------------------------------------------------------------------- small pieces

@njit(cache=True, error_model="numpy")
def softplus(x):
    """``log(1 + exp(x))`` without overflow (``max(x, 0) + log1p(exp(-|x|))``, numpy's ``logaddexp(0, x)``)."""
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


@njit(cache=True, error_model="numpy")
def _row_sum(M, bias, act, n_act, out):
    """``out = bias + sum_t M[act[t]]``: the input of one layer from the other's active units."""
    m = out.shape[0]
    for j in range(m):
        out[j] = bias[j]
    for t in range(n_act):
        row = M[act[t]]
        for j in range(m):
            out[j] += row[j]


@njit(cache=True, error_model="numpy")
def _sigmoid_into(a, p):
    for j in range(a.shape[0]):
        p[j] = sigmoid(a[j])


@njit(cache=True, error_model="numpy")
def _draw(p, act, s0, s1, s2, s3):
    """Switch unit ``j`` on when ``u_j < p[j]``, ``j`` in order (one draw each); the on units
    go to ``act``. Returns ``(n_on, s0, s1, s2, s3)``. Written without branches on ``u < p``."""
    n = 0
    for j in range(p.shape[0]):
        x, s0, s1, s2, s3 = _step(s0, s1, s2, s3)
        act[n] = j
        n += np.int64(np.float64(x >> np.uint64(11)) * _TWO_M53 < p[j])
    return n, s0, s1, s2, s3


@njit(cache=True, error_model="numpy")
def _accumulate(G, gb, gc, act, n_act, p, scale):
    """``G[i] += scale * p`` for the active visible units ``i``; ``gb[i] += scale``; ``gc += scale * p``."""
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
    """``WT[:] = W.T`` in 16 x 16 tiles."""
    nv, nh = W.shape
    for i0 in range(0, nv, 16):
        i1 = min(i0 + 16, nv)
        for j0 in range(0, nh, 16):
            j1 = min(j0 + 16, nh)
            for j in range(j0, j1):
                for i in range(i0, i1):
                    WT[j, i] = W[i, j]


# --------------------------------------------------------------------------- training

@njit(cache=True, error_model="numpy")
def _batch_stats(W, WT, b, c, idx, ptr, order, start, stop, method, k, chain_act, chain_n,
                 sparsity_target, sparsity_cost, G, gb, gc, a_h, p_h, a_v, p_v, h_act, v_act, v_n,
                 s0, s1, s2, s3):
    """Add one batch's gradient statistics (rows ``order[start:stop]``) to ``G, gb, gc``;
    returns the random state. See :func:`train_epoch` for what and in which order."""
    nh = c.shape[0]
    inv_m = 1.0 / (stop - start)
    for t in range(start, stop):
        row = order[t]
        act = idx[ptr[row]:ptr[row + 1]]
        n_act = act.shape[0]
        _row_sum(W, c, act, n_act, a_h)
        _sigmoid_into(a_h, p_h)
        _accumulate(G, gb, gc, act, n_act, p_h, inv_m)
        if sparsity_cost != 0.0:
            for j in range(nh):
                gc[j] += inv_m * sparsity_cost * (sparsity_target - p_h[j])
        if method == CD:
            n_h, s0, s1, s2, s3 = _draw(p_h, h_act, s0, s1, s2, s3)
            n_v = 0
            for g in range(k):
                _row_sum(WT, b, h_act, n_h, a_v)
                _sigmoid_into(a_v, p_v)
                n_v, s0, s1, s2, s3 = _draw(p_v, v_act[0], s0, s1, s2, s3)
                _row_sum(W, c, v_act[0], n_v, a_h)
                _sigmoid_into(a_h, p_h)
                if g < k - 1:
                    n_h, s0, s1, s2, s3 = _draw(p_h, h_act, s0, s1, s2, s3)
            _accumulate(G, gb, gc, v_act[0], n_v, p_h, -inv_m)
    if method == PCD:
        n_chains = chain_act.shape[0]
        inv_c = 1.0 / n_chains
        for g in range(k):
            for r in range(n_chains):
                _row_sum(WT, b, chain_act[r], chain_n[r], a_v)
                _sigmoid_into(a_v, p_v)
                v_n[r], s0, s1, s2, s3 = _draw(p_v, v_act[r], s0, s1, s2, s3)
            for r in range(n_chains):
                _row_sum(W, c, v_act[r], v_n[r], a_h)
                _sigmoid_into(a_h, p_h)
                if g == k - 1:
                    _accumulate(G, gb, gc, v_act[r], v_n[r], p_h, -inv_c)
                chain_n[r], s0, s1, s2, s3 = _draw(p_h, chain_act[r], s0, s1, s2, s3)
    return s0, s1, s2, s3


@njit(cache=True, error_model="numpy")
def train_epoch(W, WT, b, c, dW, db, dc, G, gb, gc, idx, ptr, order, shuffle, batch_size, method, k,
                chain_act, chain_n, lrs, momentum, weight_decay, sparsity_target, sparsity_cost, rng_state,
                a_h, p_h, a_v, p_v, h_act, v_act, v_n):
    """One epoch of CD-k or PCD-k: every mini-batch of the training set, one update each.

    Data: ``idx``/``ptr`` hold the training rows as active-unit lists (CSR); ``order``
    (length n) receives the epoch's row order, a fresh Fisher-Yates permutation when
    ``shuffle`` (drawn first, :func:`dynet.kernels.rng.permutation`), else ``0 .. n-1``.
    Batch ``t`` is rows ``order[t*B : min(n, (t+1)*B)]``; step ``t`` uses ``lrs[t]``.

    Positive phase: ``q = p(h | v0)`` of each batch row (no draws). Negative phase:

    * ``CD`` (``method = 0``): per batch row, in order: ``h ~ q`` (nh draws), then ``k``
      times ``v ~ p(v | h)`` (nv draws), ``q' = p(h | v)``, ``h ~ q'`` (nh draws, skipped
      in the last step); the negative statistics are ``v_k`` and ``q'_k``.
    * ``PCD`` (``method = 1``): persistent chains (row ``r`` of ``chain_act`` lists the
      active hidden units of chain ``r``, ``chain_n[r]`` how many); ``k`` times: for every
      chain ``v ~ p(v | h)`` (nv draws per chain, chain by chain), then for every chain
      ``q' = p(h | v)`` and ``h ~ q'`` (nh draws per chain). The negative statistics are
      ``v_k`` and ``q'_k``. With ``k = 1`` this is scikit-learn's ``BernoulliRBM._fit``
      draw for draw (its ``h_samples_`` are the chains).

    Gradient, per batch of ``m`` rows and ``n_neg`` negative rows (``m`` for CD, the
    number of chains for PCD)::

        gW = v0^T q / m - vk^T q' / n_neg - weight_decay * W
        gb = mean(v0) - mean(vk)
        gc = mean(q) - mean(q') + sparsity_cost * (sparsity_target - mean(q))

    and the update with momentum (Hinton's guide): ``d = momentum * d + lr * g``,
    ``param += d``. ``WT`` is refreshed after every update. ``a_h, p_h, a_v, p_v,
    h_act, v_act, v_n`` are work arrays (``v_act`` (chains or 1, nv), ``v_n`` (chains or 1,)).
    Returns the number of steps.
    """
    n = ptr.shape[0] - 1
    nv, nh = W.shape
    if shuffle:
        permutation(order, rng_state)
    else:
        for r in range(n):
            order[r] = r
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    steps = (n + batch_size - 1) // batch_size
    for step in range(steps):
        start = step * batch_size
        stop = min(n, start + batch_size)
        s0, s1, s2, s3 = _batch_stats(W, WT, b, c, idx, ptr, order, start, stop, method, k, chain_act, chain_n,
                                      sparsity_target, sparsity_cost, G, gb, gc, a_h, p_h, a_v, p_v, h_act,
                                      v_act, v_n, s0, s1, s2, s3)
        lr = lrs[step]
        for i in range(nv):
            wrow = W[i]
            drow = dW[i]
            grow = G[i]
            for j in range(nh):
                d = momentum * drow[j] + lr * (grow[j] - weight_decay * wrow[j])
                drow[j] = d
                wrow[j] += d
                grow[j] = 0.0
            d = momentum * db[i] + lr * gb[i]
            db[i] = d
            b[i] += d
            gb[i] = 0.0
        for j in range(nh):
            d = momentum * dc[j] + lr * gc[j]
            dc[j] = d
            c[j] += d
            gc[j] = 0.0
        transpose_into(W, WT)
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3
    return steps


@njit(cache=True, error_model="numpy")
def batch_gradient(W, WT, b, c, idx, ptr, rows, method, k, chain_act, chain_n, rng_state, G, gb, gc,
                   a_h, p_h, a_v, p_v, h_act, v_act, v_n):
    """Add the gradient estimate of one batch (data rows ``rows``) to ``G, gb, gc``.

    The statistics of one step of :func:`train_epoch` (no weight decay or sparsity),
    for tests of the estimator: ``G += v0^T q / m - vk^T q' / n_neg`` and likewise for
    the biases. PCD chains advance as in training.
    """
    s0, s1, s2, s3 = _batch_stats(W, WT, b, c, idx, ptr, rows, 0, rows.shape[0], method, k, chain_act, chain_n,
                                  0.0, 0.0, G, gb, gc, a_h, p_h, a_v, p_v, h_act, v_act, v_n,
                                  rng_state[0], rng_state[1], rng_state[2], rng_state[3])
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3


# --------------------------------------------------------------------------- evaluation

@njit(cache=True, error_model="numpy")
def free_energies(W, b, c, idx, ptr, a_h, out):
    """``out[r] = F(v_r) = -b.v_r - sum_j softplus(c_j + v_r W_j)`` for every row."""
    n = ptr.shape[0] - 1
    nh = c.shape[0]
    for r in range(n):
        act = idx[ptr[r]:ptr[r + 1]]
        _row_sum(W, c, act, act.shape[0], a_h)
        f = 0.0
        for t in range(act.shape[0]):
            f -= b[act[t]]
        for j in range(nh):
            f -= softplus(a_h[j])
        out[r] = f


@njit(cache=True, error_model="numpy")
def pseudo_likelihood(W, b, c, idx, ptr, dense, bits, a_h, out):
    """scikit-learn's ``BernoulliRBM.score_samples`` estimator, row by row.

    Row ``r`` with unit ``i = bits[r]`` flipped gives ``v~``;
    ``out[r] = nv * log sigmoid(F(v~) - F(v)) = -nv * softplus(F(v) - F(v~))``.
    ``dense`` holds the rows as ``uint8`` (n, nv).
    """
    n = ptr.shape[0] - 1
    nv, nh = W.shape
    for r in range(n):
        act = idx[ptr[r]:ptr[r + 1]]
        _row_sum(W, c, act, act.shape[0], a_h)
        i = bits[r]
        sign = 1.0 - 2.0 * dense[r, i]  # +1 switches unit i on, -1 off
        lin = 0.0
        for t in range(act.shape[0]):
            lin += b[act[t]]
        f = -lin
        f2 = -(lin + sign * b[i])
        wi = W[i]
        for j in range(nh):
            f -= softplus(a_h[j])
            f2 -= softplus(a_h[j] + sign * wi[j])
        out[r] = -nv * softplus(f - f2)


@njit(cache=True, error_model="numpy")
def reconstruct(W, WT, b, c, idx, ptr, dense, rng_state, a_h, p_h, a_v, p_v, h_act, sq_err, hidden_sum):
    """One stochastic reconstruction per row: ``h ~ p(h | v)`` (nh draws), ``p(v | h)``.

    ``sq_err[r] = sum_i (v_i - p(v_i | h))^2``; ``hidden_sum[r] = sum_j p(h_j | v)``.
    """
    n = ptr.shape[0] - 1
    nv = b.shape[0]
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    for r in range(n):
        act = idx[ptr[r]:ptr[r + 1]]
        _row_sum(W, c, act, act.shape[0], a_h)
        _sigmoid_into(a_h, p_h)
        hs = 0.0
        for j in range(p_h.shape[0]):
            hs += p_h[j]
        hidden_sum[r] = hs
        n_h, s0, s1, s2, s3 = _draw(p_h, h_act, s0, s1, s2, s3)
        _row_sum(WT, b, h_act, n_h, a_v)
        _sigmoid_into(a_v, p_v)
        e = 0.0
        for i in range(nv):
            d = dense[r, i] - p_v[i]
            e += d * d
        sq_err[r] = e
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3


@njit(cache=True, error_model="numpy")
def log_partition(M, bias_x, bias_y):
    """``log sum_x exp(bias_x.x + sum_k softplus(bias_y_k + (x M)_k))`` over all binary ``x``.

    With ``M = W.T`` (hidden x visible), ``x = h`` enumerates the hidden configurations:
    ``log Z = logsumexp_h [c.h + sum_i softplus(b_i + W_i h)]``; with ``M = W``, ``x = v``
    the visible ones (the same ``log Z``). ``2**n_x`` terms in Gray-code order, so each
    term updates the inputs ``bias_y + x M`` by one row of ``M``; a running
    log-sum-exp keeps the sum finite.
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


# --------------------------------------------------------------------------- sampling

@njit(cache=True, error_model="numpy")
def gibbs_chains(W, WT, b, c, v, n_steps, every, out_v, out_p, n_out, rng_state, a_h, p_h, a_v, p_v, h_act, v_act):
    """``n_steps`` Gibbs steps of every chain (rows of ``v``, uint8 (chains, nv), updated).

    A step of a chain: ``h ~ p(h | v)`` (nh draws), ``v ~ p(v | h)`` (nv draws); chains
    step one after another. After every ``every``-th step, chain ``r``'s ``v`` goes to
    ``out_v[n_out, r]`` and ``p(v | h)`` to ``out_p[n_out, r]``. Returns the new ``n_out``.
    """
    n_chains, nv = v.shape
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    for step in range(1, n_steps + 1):
        for r in range(n_chains):
            n_v = 0
            for i in range(nv):
                v_act[n_v] = i
                n_v += np.int64(v[r, i] != 0)
            _row_sum(W, c, v_act, n_v, a_h)
            _sigmoid_into(a_h, p_h)
            n_h, s0, s1, s2, s3 = _draw(p_h, h_act, s0, s1, s2, s3)
            _row_sum(WT, b, h_act, n_h, a_v)
            _sigmoid_into(a_v, p_v)
            for i in range(nv):
                x, s0, s1, s2, s3 = _step(s0, s1, s2, s3)
                v[r, i] = np.uint8(np.float64(x >> np.uint64(11)) * _TWO_M53 < p_v[i])
            if step % every == 0:
                for i in range(nv):
                    out_v[n_out, r, i] = v[r, i]
                    out_p[n_out, r, i] = p_v[i]
        if step % every == 0:
            n_out += 1
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3
    return n_out
