"""Two-layer deep Boltzmann machine: training epochs, mean-field inference, exact sums, sampling.

Units are in {0, 1}; visible ``v`` (nv), first hidden layer ``h1`` (n1), second ``h2`` (n2)::

    E(v, h1, h2) = -v.W1.h1 - h1.W2.h2 - b.v - c1.h1 - c2.h2

with ``W1`` (nv, n1) and ``W2`` (n1, n2). No connections within a layer, so given
``h1`` the layers ``v`` and ``h2`` are independent, and given ``(v, h2)`` the units of
``h1`` are: block Gibbs alternates ``h1 | v, h2`` and ``v, h2 | h1``. Parameters are
``float64``; ``W1T``, ``W2T`` are transposed copies that :func:`train_epoch` keeps
current, so every layer input is a sum of contiguous rows (as in :mod:`dynet.models.rbm.kernels`;
the row sums, logistic function and exact log-partition sum are :mod:`dynet.kernels.maths`').

Mean field (Salakhutdinov & Hinton 2009): for a data vector ``v``, the factorial
``q(h1, h2) = prod q1_j^h1_j (1 - q1_j)^(1 - h1_j) prod q2_k^...`` maximizing the bound
``log p(v) >= sum_h q(h) (-E(v, h)) + H(q) - log Z``. Its fixed-point equations are
``q1 = sigmoid(c1 + v W1 + W2 q2)`` and ``q2 = sigmoid(c2 + q1 W2)``;
:func:`_mean_field` starts from the bottom-up pass ``q1 = sigmoid(c1 + v W1)``,
``q2 = sigmoid(c2 + q1 W2)`` and then alternates the two block updates, each damped as
``q <- damping * q + (1 - damping) * update``, until the largest change of a ``q`` in an
iteration is below ``tol`` or after ``iters`` iterations (``tol = 0``: always ``iters``).
Each block update is the exact maximizer of the (concave in that block) bound given
the other block, so the bound never decreases, damped or not.

Random numbers: a xoshiro256** state (:mod:`dynet.kernels.rng`) held in registers and
written back at the end of each kernel; a unit is on when ``u < p`` (``u`` from the top
53 bits of the next draw), units drawn in index order. No ``fastmath``: sums keep
their order, runs are bit-identical across machines of the same ISA.
"""

import math

import numpy as np
from numba import njit

from dynet.kernels.maths import accumulate, log_partition, row_sum, sigmoid, sigmoid_into, transpose_into
from dynet.kernels.rng import TWO_M53, permutation
from dynet.kernels.rng import step as rng_step

# --------------------------------------------------------------------------- small pieces


@njit(cache=True, error_model="numpy")
def _active(x, act):
    """The indices of the non-zero entries of the binary row ``x`` into ``act``; returns how many."""
    n = 0
    for i in range(x.shape[0]):
        act[n] = i
        n += np.int64(x[i] != 0)
    return n


@njit(cache=True, error_model="numpy")
def _add_rows(M, act, n_act, out):
    """``out += sum_t M[act[t]]``."""
    m = out.shape[0]
    for t in range(n_act):
        row = M[act[t]]
        for j in range(m):
            out[j] += row[j]


@njit(cache=True, error_model="numpy")
def _weighted_rows(M, bias, w, out):
    """``out = bias + sum_t w[t] M[t]`` (``bias + w M``: a layer's input from real-valued ``w``)."""
    m = out.shape[0]
    for j in range(m):
        out[j] = bias[j]
    for t in range(w.shape[0]):
        row = M[t]
        wt = w[t]
        for j in range(m):
            out[j] += wt * row[j]


@njit(cache=True, error_model="numpy")
def _draw_dense(p, x, s0, s1, s2, s3):
    """``x[j] = (u_j < p[j])`` for ``j`` in order, one draw each; returns the state."""
    for j in range(p.shape[0]):
        u, s0, s1, s2, s3 = rng_step(s0, s1, s2, s3)
        x[j] = np.uint8(np.float64(u >> np.uint64(11)) * TWO_M53 < p[j])
    return s0, s1, s2, s3


@njit(cache=True, error_model="numpy")
def _entropy(q):
    """``-sum q log q + (1 - q) log(1 - q)`` (terms at 0 and 1 are 0)."""
    h = 0.0
    for j in range(q.shape[0]):
        x = q[j]
        if x > 0.0:
            h -= x * math.log(x)
        if x < 1.0:
            h -= (1.0 - x) * math.log1p(-x)
    return h


# --------------------------------------------------------------------------- mean field


@njit(cache=True, error_model="numpy")
def _mean_field(W2, W2T, c2, a1v, q1, q2, a1, a2, iters, tol, damping):
    """Mean-field ``q1``, ``q2`` (written) for one data vector, given ``a1v = c1 + v W1``.

    See the module docstring; returns the number of iterations run (at most ``iters``).
    ``a1``, ``a2`` are work arrays (n1,), (n2,).
    """
    n1 = q1.shape[0]
    n2 = q2.shape[0]
    sigmoid_into(a1v, q1)
    _weighted_rows(W2, c2, q1, a2)
    sigmoid_into(a2, q2)
    it = 0
    keep = damping
    take = 1.0 - damping
    while it < iters:
        it += 1
        change = 0.0
        _weighted_rows(W2T, a1v, q2, a1)
        for j in range(n1):
            new = keep * q1[j] + take * sigmoid(a1[j])
            d = abs(new - q1[j])
            change = d if d > change else change
            q1[j] = new
        _weighted_rows(W2, c2, q1, a2)
        for k in range(n2):
            new = keep * q2[k] + take * sigmoid(a2[k])
            d = abs(new - q2[k])
            change = d if d > change else change
            q2[k] = new
        if change < tol:
            break
    return it


@njit(cache=True, error_model="numpy")
def mean_field_rows(W1, W1T, W2, W2T, b, c1, c2, idx, ptr, dense, iters, tol, damping, q1, q2, bound, sq_err, n_iter):
    """Mean field for every row (``idx``/``ptr`` CSR, ``dense`` the rows as uint8) and what it gives.

    Writes ``q1[r]``, ``q2[r]`` (the fixed point), ``n_iter[r]`` (iterations run),
    ``bound[r] = sum_h q(h) (-E(v_r, h)) + H(q) = b.v + c1.q1 + c2.q2 + (v W1).q1 +
    q1.W2.q2 + H(q1) + H(q2)`` (the variational lower bound on ``log p(v_r) + log Z``) and
    ``sq_err[r] = sum_i (v_i - sigmoid(b + W1 q1)_i)^2`` (mean-field up, mean-field down).

    Parameters
    ----------
    W1 : ndarray of float64, shape (nv, n1)
        Visible-to-first-hidden weights.
    W1T : ndarray of float64, shape (n1, nv)
        Transposed copy of ``W1``.
    W2 : ndarray of float64, shape (n1, n2)
        First-to-second-hidden weights.
    W2T : ndarray of float64, shape (n2, n1)
        Transposed copy of ``W2``.
    b : ndarray of float64, shape (nv,)
        Visible biases (pretraining: the RBM's visible-side biases).
    c1 : ndarray of float64, shape (n1,)
        First hidden layer's biases.
    c2 : ndarray of float64, shape (n2,)
        Second hidden layer's biases.
    idx : ndarray of int64, shape (nnz,)
        Active visible units of the rows, row after row (CSR indices).
    ptr : ndarray of int64, shape (n + 1,)
        Row ``r``'s active units are ``idx[ptr[r]:ptr[r + 1]]``.
    dense : ndarray of uint8, shape (n, nv)
        The same rows as 0/1 values.
    iters : int
        Most mean-field iterations.
    tol : float
        Mean-field tolerance (0: always ``iters``).
    damping : float
        Mean-field damping in [0, 1).
    q1 : ndarray of float64, shape (n, n1)
        Receives each row's mean-field ``q1``.
    q2 : ndarray of float64, shape (n, n2)
        Receives each row's mean-field ``q2``.
    bound : ndarray of float64, shape (n,)
        Receives each row's variational bound plus ``log Z``.
    sq_err : ndarray of float64, shape (n,)
        Receives each row's squared reconstruction error.
    n_iter : ndarray of int64, shape (n,)
        Receives each row's number of mean-field iterations.
    """
    n = ptr.shape[0] - 1
    nv, n1 = W1.shape
    n2 = W2.shape[1]
    a1v = np.empty(n1)
    a1 = np.empty(n1)
    a2 = np.empty(n2)
    av = np.empty(nv)
    for r in range(n):
        act = idx[ptr[r] : ptr[r + 1]]
        row_sum(W1, c1, act, act.shape[0], a1v)
        n_iter[r] = _mean_field(W2, W2T, c2, a1v, q1[r], q2[r], a1, a2, iters, tol, damping)
        r1 = q1[r]
        r2 = q2[r]
        s = 0.0
        for t in range(act.shape[0]):
            s += b[act[t]]
        for j in range(n1):
            s += a1v[j] * r1[j]  # (c1 + v W1) . q1
        _weighted_rows(W2, c2, r1, a2)
        for k in range(n2):
            s += a2[k] * r2[k]  # (c2 + q1 W2) . q2
        bound[r] = s + _entropy(r1) + _entropy(r2)
        _weighted_rows(W1T, b, r1, av)
        e = 0.0
        for i in range(nv):
            d = dense[r, i] - sigmoid(av[i])
            e += d * d
        sq_err[r] = e


# --------------------------------------------------------------------------- exact sums


@njit(cache=True, error_model="numpy")
def log_marginals(W1, W2, W2T, b, c1, c2, idx, ptr, out):
    """``out[r] = log sum_{h1, h2} exp(-E(v_r, h1, h2))`` (``log p(v_r) + log Z``), exactly.

    ``b.v + log sum_{h1, h2} exp((c1 + v W1).h1 + c2.h2 + h1.W2.h2)``: the log-partition
    sum of the RBM between ``h1`` and ``h2`` with visible-dependent biases, enumerating
    the smaller of the two layers (:func:`dynet.models.rbm.kernels.log_partition`).

    Parameters
    ----------
    W1 : ndarray of float64, shape (nv, n1)
        Visible-to-first-hidden weights.
    W2 : ndarray of float64, shape (n1, n2)
        First-to-second-hidden weights.
    W2T : ndarray of float64, shape (n2, n1)
        Transposed copy of ``W2``.
    b : ndarray of float64, shape (nv,)
        Visible biases (pretraining: the RBM's visible-side biases).
    c1 : ndarray of float64, shape (n1,)
        First hidden layer's biases.
    c2 : ndarray of float64, shape (n2,)
        Second hidden layer's biases.
    idx : ndarray of int64, shape (nnz,)
        Active visible units of the rows, row after row (CSR indices).
    ptr : ndarray of int64, shape (n + 1,)
        Row ``r``'s active units are ``idx[ptr[r]:ptr[r + 1]]``.
    out : ndarray of float64
        Receives the result, one row per input row.
    """
    n = ptr.shape[0] - 1
    n1, n2 = W2.shape
    a1v = np.empty(n1)
    for r in range(n):
        act = idx[ptr[r] : ptr[r + 1]]
        row_sum(W1, c1, act, act.shape[0], a1v)
        s = 0.0
        for t in range(act.shape[0]):
            s += b[act[t]]
        if n1 <= n2:
            out[r] = s + log_partition(W2, a1v, c2)
        else:
            out[r] = s + log_partition(W2T, c2, a1v)


# --------------------------------------------------------------------------- block Gibbs


@njit(cache=True, error_model="numpy")
def _chain_step(W1, W1T, W2, W2T, b, c1, c2, v, h1, h2, a1, p1, av, pv, a2, p2, act, s0, s1, s2, s3):
    """One block Gibbs step of one chain (binary uint8 rows ``v, h1, h2``, updated):
    ``h1 ~ p(h1 | v, h2)`` (n1 draws), then ``v ~ p(v | h1)`` (nv draws), then
    ``h2 ~ p(h2 | h1)`` (n2 draws). ``pv`` keeps ``p(v | h1)``. Returns the state."""
    n_v = _active(v, act)
    row_sum(W1, c1, act, n_v, a1)
    n_h2 = _active(h2, act)
    _add_rows(W2T, act, n_h2, a1)
    sigmoid_into(a1, p1)
    s0, s1, s2, s3 = _draw_dense(p1, h1, s0, s1, s2, s3)
    n_h1 = _active(h1, act)
    row_sum(W1T, b, act, n_h1, av)
    sigmoid_into(av, pv)
    s0, s1, s2, s3 = _draw_dense(pv, v, s0, s1, s2, s3)
    row_sum(W2, c2, act, n_h1, a2)
    sigmoid_into(a2, p2)
    s0, s1, s2, s3 = _draw_dense(p2, h2, s0, s1, s2, s3)
    return s0, s1, s2, s3


@njit(cache=True, error_model="numpy")
def gibbs_chains(W1, W1T, W2, W2T, b, c1, c2, v, h1, h2, n_steps, every, out_v, out_p, n_out, rng_state):
    """``n_steps`` block Gibbs steps (:func:`_chain_step`) of every chain; rows of ``v``
    (chains, nv), ``h1`` (chains, n1), ``h2`` (chains, n2), uint8, are the chain states,
    updated. Chains step one after another. After every ``every``-th step, chain ``r``'s
    ``v`` goes to ``out_v[n_out, r]`` and ``p(v | h1)`` to ``out_p[n_out, r]``. Returns
    the new ``n_out``. After any step, ``(v, h1, h2)`` of a chain in equilibrium is a
    draw from the joint distribution (``h1`` drawn from the previous ``v, h2``).

    Parameters
    ----------
    W1 : ndarray of float64, shape (nv, n1)
        Visible-to-first-hidden weights.
    W1T : ndarray of float64, shape (n1, nv)
        Transposed copy of ``W1``.
    W2 : ndarray of float64, shape (n1, n2)
        First-to-second-hidden weights.
    W2T : ndarray of float64, shape (n2, n1)
        Transposed copy of ``W2``.
    b : ndarray of float64, shape (nv,)
        Visible biases (pretraining: the RBM's visible-side biases).
    c1 : ndarray of float64, shape (n1,)
        First hidden layer's biases.
    c2 : ndarray of float64, shape (n2,)
        Second hidden layer's biases.
    v : ndarray of uint8, shape (chains, nv)
        Chains' visible states (updated).
    h1 : ndarray of uint8, shape (chains, n1)
        Chains' first hidden states (updated).
    h2 : ndarray of uint8, shape (chains, n2)
        Chains' second hidden states (updated).
    n_steps : int
        Gibbs steps of every chain.
    every : int
        Store the chains' visible states every ``every``-th step.
    out_v : ndarray of int8, shape (records, chains, nv)
        Receives the stored visible states.
    out_p : ndarray of float32, shape (records, chains, nv)
        Receives ``p(v | h)`` of each stored step.
    n_out : int
        First record of ``out_v``, ``out_p`` to write.
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    """
    n_chains, nv = v.shape
    n1 = h1.shape[1]
    n2 = h2.shape[1]
    a1, p1, av, pv, a2, p2 = np.empty(n1), np.empty(n1), np.empty(nv), np.empty(nv), np.empty(n2), np.empty(n2)
    act = np.empty(max(nv, n1, n2), np.int64)
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    for step in range(1, n_steps + 1):
        for r in range(n_chains):
            s0, s1, s2, s3 = _chain_step(
                W1, W1T, W2, W2T, b, c1, c2, v[r], h1[r], h2[r], a1, p1, av, pv, a2, p2, act, s0, s1, s2, s3
            )
            if step % every == 0:
                for i in range(nv):
                    out_v[n_out, r, i] = v[r, i]
                    out_p[n_out, r, i] = pv[i]
        if step % every == 0:
            n_out += 1
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3
    return n_out


# --------------------------------------------------------------------------- training


@njit(cache=True, error_model="numpy")
def _scratch(nv, n1, n2):
    """Work arrays of :func:`_batch_stats` (every entry is written before it is read):
    ``a1v, q1, a1, p1`` (n1), ``q2, a2, p2`` (n2), ``av, pv, vact`` (nv), ``act``."""
    return (
        np.empty(n1),
        np.empty(n1),
        np.empty(n1),
        np.empty(n1),
        np.empty(n2),
        np.empty(n2),
        np.empty(n2),
        np.empty(nv),
        np.empty(nv),
        np.empty(nv, np.int64),
        np.empty(max(nv, n1, n2), np.int64),
    )


@njit(cache=True, error_model="numpy")
def _batch_stats(
    W1,
    W1T,
    W2,
    W2T,
    b,
    c1,
    c2,
    idx,
    ptr,
    order,
    start,
    stop,
    iters,
    tol,
    damping,
    k,
    chain_v,
    chain_h1,
    chain_h2,
    G1,
    G2,
    gb,
    gc1,
    gc2,
    scratch,
    s0,
    s1,
    s2,
    s3,
):
    """Add one batch's statistics (data rows ``order[start:stop]``, then the chains) to
    ``G1, G2, gb, gc1, gc2``; returns ``(mean-field iterations, s0, s1, s2, s3)``.
    ``scratch`` is :func:`_scratch`'s. See :func:`train_epoch`."""
    n1 = W1.shape[1]
    n2 = W2.shape[1]
    a1v, q1, a1, p1, q2, a2, p2, av, pv, vact, act = scratch
    mf_total = 0
    inv_m = 1.0 / (stop - start)
    for t in range(start, stop):
        row = order[t]
        on = idx[ptr[row] : ptr[row + 1]]  # the data row's active units
        row_sum(W1, c1, on, on.shape[0], a1v)
        mf_total += _mean_field(W2, W2T, c2, a1v, q1, q2, a1, a2, iters, tol, damping)
        accumulate(G1, gb, gc1, on, on.shape[0], q1, inv_m)
        for j in range(n1):
            g = G2[j]
            s = inv_m * q1[j]
            for kk in range(n2):
                g[kk] += s * q2[kk]
        for kk in range(n2):
            gc2[kk] += inv_m * q2[kk]
    n_chains = chain_v.shape[0]
    for _ in range(k):
        for r in range(n_chains):
            s0, s1, s2, s3 = _chain_step(
                W1,
                W1T,
                W2,
                W2T,
                b,
                c1,
                c2,
                chain_v[r],
                chain_h1[r],
                chain_h2[r],
                a1,
                p1,
                av,
                pv,
                a2,
                p2,
                act,
                s0,
                s1,
                s2,
                s3,
            )
    inv_c = 1.0 / n_chains
    for r in range(n_chains):
        n_v = _active(chain_v[r], vact)
        row_sum(W1, c1, vact, n_v, a1)
        n_h2 = _active(chain_h2[r], act)
        _add_rows(W2T, act, n_h2, a1)
        sigmoid_into(a1, p1)  # p(h1 | v, h2): the chains' h1 statistics, Rao-Blackwellized
        accumulate(G1, gb, gc1, vact, n_v, p1, -inv_c)
        for j in range(n1):
            g = G2[j]
            s = inv_c * p1[j]
            for t in range(n_h2):
                g[act[t]] -= s
        for t in range(n_h2):
            gc2[act[t]] -= inv_c
    return mf_total, s0, s1, s2, s3


@njit(cache=True, error_model="numpy")
def _update(P, D, G, lr, momentum, weight_decay):
    """``D = momentum * D + lr * (G - weight_decay * P)``; ``P += D``; ``G = 0`` (flat views)."""
    for i in range(P.shape[0]):
        d = momentum * D[i] + lr * (G[i] - weight_decay * P[i])
        D[i] = d
        P[i] += d
        G[i] = 0.0


@njit(cache=True, error_model="numpy")
def train_epoch(
    W1,
    W1T,
    W2,
    W2T,
    b,
    c1,
    c2,
    dW1,
    dW2,
    db,
    dc1,
    dc2,
    G1,
    G2,
    gb,
    gc1,
    gc2,
    idx,
    ptr,
    order,
    shuffle,
    batch_size,
    iters,
    tol,
    damping,
    k,
    chain_v,
    chain_h1,
    chain_h2,
    lrs,
    momentum,
    weight_decay,
    rng_state,
):
    """One epoch: every mini-batch of the training set, one update each. Returns the
    total number of mean-field iterations over the epoch's rows.

    ``order`` (length n) receives the row order, a fresh Fisher-Yates permutation when
    ``shuffle`` (drawn first), else ``0 .. n-1``; batch ``t`` is rows
    ``order[t*B : min(n, (t+1)*B)]`` and uses ``lrs[t]``.

    Positive phase: the mean-field ``q1, q2`` of every batch row (no draws).
    Negative phase: the persistent chains (rows of ``chain_v, chain_h1, chain_h2``)
    advance ``k`` block Gibbs steps, every chain one step before the next step
    (:func:`_chain_step`: n1, nv, n2 draws per chain step); then ``p1 = p(h1 | v, h2)``
    of each chain's state. With ``m`` batch rows and ``C`` chains::

        gW1 = v^T q1 / m - v~^T p1 / C - weight_decay * W1
        gW2 = q1^T q2 / m - p1^T h2~ / C - weight_decay * W2
        gb = mean(v) - mean(v~);  gc1 = mean(q1) - mean(p1);  gc2 = mean(q2) - mean(h2~)

    (``v~, h2~`` the chain states). Update with momentum: ``d = momentum * d + lr * g``,
    ``param += d``; ``W1T``, ``W2T`` are refreshed after every update.

    Parameters
    ----------
    W1 : ndarray of float64, shape (nv, n1)
        Visible-to-first-hidden weights.
    W1T : ndarray of float64, shape (n1, nv)
        Transposed copy of ``W1``.
    W2 : ndarray of float64, shape (n1, n2)
        First-to-second-hidden weights.
    W2T : ndarray of float64, shape (n2, n1)
        Transposed copy of ``W2``.
    b : ndarray of float64, shape (nv,)
        Visible biases (pretraining: the RBM's visible-side biases).
    c1 : ndarray of float64, shape (n1,)
        First hidden layer's biases.
    c2 : ndarray of float64, shape (n2,)
        Second hidden layer's biases.
    dW1 : ndarray of float64, shape (nv, n1)
        Momentum of ``W1``.
    dW2 : ndarray of float64, shape (n1, n2)
        Momentum of ``W2``.
    db : ndarray of float64, shape of ``b``
        Momentum of ``b``.
    dc1 : ndarray of float64, shape (n1,)
        Momentum of ``c1``.
    dc2 : ndarray of float64, shape (n2,)
        Momentum of ``c2``.
    G1 : ndarray of float64, shape (nv, n1)
        Gradient sums of ``W1``.
    G2 : ndarray of float64, shape (n1, n2)
        Gradient sums of ``W2``.
    gb : ndarray of float64, shape of ``b``
        Gradient sums of ``b``.
    gc1 : ndarray of float64, shape (n1,)
        Gradient sums of ``c1``.
    gc2 : ndarray of float64, shape (n2,)
        Gradient sums of ``c2``.
    idx : ndarray of int64, shape (nnz,)
        Active visible units of the rows, row after row (CSR indices).
    ptr : ndarray of int64, shape (n + 1,)
        Row ``r``'s active units are ``idx[ptr[r]:ptr[r + 1]]``.
    order : ndarray of int64, shape (n,)
        Receives the epoch's row order.
    shuffle : bool
        A fresh permutation of the rows (drawn first), else the data order.
    batch_size : int
        Rows per update (the last batch may be smaller).
    iters : int
        Most mean-field iterations.
    tol : float
        Mean-field tolerance (0: always ``iters``).
    damping : float
        Mean-field damping in [0, 1).
    k : int
        Gibbs steps of the negative phase per update.
    chain_v : ndarray of uint8, shape (chains, nv)
        Persistent chains' visible states (updated).
    chain_h1 : ndarray of uint8, shape (chains, n1)
        Persistent chains' first hidden states (updated).
    chain_h2 : ndarray of uint8, shape (chains, n2)
        Persistent chains' second hidden states (updated).
    lrs : ndarray of float64, shape (steps,)
        Learning rate of each update of the epoch.
    momentum : float
        Momentum of the parameter updates.
    weight_decay : float
        L2 penalty on the weights.
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    """
    n = ptr.shape[0] - 1
    if shuffle:
        permutation(order, rng_state)
    else:
        for r in range(n):
            order[r] = r
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    mf_total = 0
    scratch = _scratch(W1.shape[0], W1.shape[1], W2.shape[1])
    steps = (n + batch_size - 1) // batch_size
    for step in range(steps):
        start = step * batch_size
        stop = min(n, start + batch_size)
        it, s0, s1, s2, s3 = _batch_stats(
            W1,
            W1T,
            W2,
            W2T,
            b,
            c1,
            c2,
            idx,
            ptr,
            order,
            start,
            stop,
            iters,
            tol,
            damping,
            k,
            chain_v,
            chain_h1,
            chain_h2,
            G1,
            G2,
            gb,
            gc1,
            gc2,
            scratch,
            s0,
            s1,
            s2,
            s3,
        )
        mf_total += it
        lr = lrs[step]
        _update(W1.reshape(-1), dW1.reshape(-1), G1.reshape(-1), lr, momentum, weight_decay)
        _update(W2.reshape(-1), dW2.reshape(-1), G2.reshape(-1), lr, momentum, weight_decay)
        _update(b, db, gb, lr, momentum, 0.0)
        _update(c1, dc1, gc1, lr, momentum, 0.0)
        _update(c2, dc2, gc2, lr, momentum, 0.0)
        transpose_into(W1, W1T)
        transpose_into(W2, W2T)
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3
    return mf_total


@njit(cache=True, error_model="numpy")
def batch_gradient(
    W1,
    W1T,
    W2,
    W2T,
    b,
    c1,
    c2,
    idx,
    ptr,
    rows,
    iters,
    tol,
    damping,
    k,
    chain_v,
    chain_h1,
    chain_h2,
    G1,
    G2,
    gb,
    gc1,
    gc2,
    rng_state,
):
    """Add the statistics of one step of :func:`train_epoch` (data rows ``rows``, no
    weight decay) to ``G1, G2, gb, gc1, gc2``, for tests of the estimator; the chains
    advance as in training. Returns the mean-field iterations.

    Parameters
    ----------
    W1 : ndarray of float64, shape (nv, n1)
        Visible-to-first-hidden weights.
    W1T : ndarray of float64, shape (n1, nv)
        Transposed copy of ``W1``.
    W2 : ndarray of float64, shape (n1, n2)
        First-to-second-hidden weights.
    W2T : ndarray of float64, shape (n2, n1)
        Transposed copy of ``W2``.
    b : ndarray of float64, shape (nv,)
        Visible biases (pretraining: the RBM's visible-side biases).
    c1 : ndarray of float64, shape (n1,)
        First hidden layer's biases.
    c2 : ndarray of float64, shape (n2,)
        Second hidden layer's biases.
    idx : ndarray of int64, shape (nnz,)
        Active visible units of the rows, row after row (CSR indices).
    ptr : ndarray of int64, shape (n + 1,)
        Row ``r``'s active units are ``idx[ptr[r]:ptr[r + 1]]``.
    rows : ndarray of int64, shape (m,)
        Indices of the batch's rows.
    iters : int
        Most mean-field iterations.
    tol : float
        Mean-field tolerance (0: always ``iters``).
    damping : float
        Mean-field damping in [0, 1).
    k : int
        Gibbs steps of the negative phase per update.
    chain_v : ndarray of uint8, shape (chains, nv)
        Persistent chains' visible states (updated).
    chain_h1 : ndarray of uint8, shape (chains, n1)
        Persistent chains' first hidden states (updated).
    chain_h2 : ndarray of uint8, shape (chains, n2)
        Persistent chains' second hidden states (updated).
    G1 : ndarray of float64, shape (nv, n1)
        Gradient sums of ``W1``.
    G2 : ndarray of float64, shape (n1, n2)
        Gradient sums of ``W2``.
    gb : ndarray of float64, shape of ``b``
        Gradient sums of ``b``.
    gc1 : ndarray of float64, shape (n1,)
        Gradient sums of ``c1``.
    gc2 : ndarray of float64, shape (n2,)
        Gradient sums of ``c2``.
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    """
    it, s0, s1, s2, s3 = _batch_stats(
        W1,
        W1T,
        W2,
        W2T,
        b,
        c1,
        c2,
        idx,
        ptr,
        rows,
        0,
        rows.shape[0],
        iters,
        tol,
        damping,
        k,
        chain_v,
        chain_h1,
        chain_h2,
        G1,
        G2,
        gb,
        gc1,
        gc2,
        _scratch(W1.shape[0], W1.shape[1], W2.shape[1]),
        rng_state[0],
        rng_state[1],
        rng_state[2],
        rng_state[3],
    )
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3
    return it


# --------------------------------------------------------------------------- greedy pretraining


@njit(cache=True, error_model="numpy")
def _scaled_up(W, c, x, up, zero, a, q):
    """``q = sigmoid(c + up * x W)`` for a real-valued row ``x``."""
    _weighted_rows(W, zero, x, a)
    for j in range(q.shape[0]):
        q[j] = sigmoid(c[j] + up * a[j])


@njit(cache=True, error_model="numpy")
def up_probabilities(W, c, X, up, out):
    """``out[r] = sigmoid(c + up * X[r] W)`` for every row (the next pretraining RBM's data).

    Parameters
    ----------
    W : ndarray of float64, shape (n_in, n_out)
        Weights of the pretraining RBM (updated by training).
    c : ndarray of float64, shape (n_out,)
        Hidden biases of the pretraining RBM.
    X : ndarray of float64, shape (n, n_in)
        Real-valued input rows (probabilities).
    up : float
        Factor of the input in ``p(h | x)`` (2 doubles the visible side).
    out : ndarray of float64
        Receives the result, one row per input row.
    """
    zero = np.zeros(c.shape[0])
    a = np.empty(c.shape[0])
    for r in range(X.shape[0]):
        _scaled_up(W, c, X[r], up, zero, a, out[r])


@njit(cache=True, error_model="numpy")
def _dense_accumulate(G, gb, gc, x, q, scale):
    """``G += scale * x^T q``; ``gb += scale * x``; ``gc += scale * q``."""
    for i in range(x.shape[0]):
        s = scale * x[i]
        row = G[i]
        for j in range(q.shape[0]):
            row[j] += s * q[j]
        gb[i] += s
    for j in range(q.shape[0]):
        gc[j] += scale * q[j]


@njit(cache=True, error_model="numpy")
def pretrain_epoch(
    W,
    WT,
    b,
    c,
    dW,
    db,
    dc,
    G,
    gb,
    gc,
    X,
    order,
    shuffle,
    batch_size,
    up,
    down,
    k,
    lrs,
    momentum,
    weight_decay,
    rng_state,
):
    """One epoch of CD-k for one RBM of the greedy pretraining (Salakhutdinov & Hinton 2009).

    The RBM joins inputs ``x`` (rows of ``X``, float64 in [0, 1]) to binary outputs ``h``
    through ``W`` (n_in, n_out), with the input to one side scaled: ``p(h | x) =
    sigmoid(c + up * x W)``, ``p(x | h) = sigmoid(b + down * W h)``. ``up = 2, down = 1`` is
    the bottom RBM with its visible layer doubled (weights tied), ``up = 1, down = 2`` the
    top RBM with its hidden layer doubled. Rows, batches and the update are as in
    :func:`train_epoch` (a fresh permutation first when ``shuffle``). Per batch row, in
    order: ``q = p(h | x)``; then ``k`` times ``h ~ q`` (n_out draws), ``x' ~ p(x | h)``
    (n_in draws), ``q = p(h | x')``; statistics ``x^T q_0 - x'^T q_k`` (one copy of the
    doubled layer, as the paper's code). Returns the sum over rows of
    ``sum_i (x_i - p(x_i | h))^2`` of the first down-pass.

    Parameters
    ----------
    W : ndarray of float64, shape (n_in, n_out)
        Weights of the pretraining RBM (updated by training).
    WT : ndarray of float64, shape (n_out, n_in)
        Transposed copy of ``W``.
    b : ndarray of float64, shape (nv,)
        Visible biases (pretraining: the RBM's visible-side biases).
    c : ndarray of float64, shape (n_out,)
        Hidden biases of the pretraining RBM.
    dW : ndarray of float64, shape (n_in, n_out)
        Momentum of ``W``.
    db : ndarray of float64, shape of ``b``
        Momentum of ``b``.
    dc : ndarray of float64, shape (n_out,)
        Momentum of ``c``.
    G : ndarray of float64, shape (n_in, n_out)
        Gradient sums of ``W``.
    gb : ndarray of float64, shape of ``b``
        Gradient sums of ``b``.
    gc : ndarray of float64, shape (n_out,)
        Gradient sums of ``c``.
    X : ndarray of float64, shape (n, n_in)
        Real-valued input rows (probabilities).
    order : ndarray of int64, shape (n,)
        Receives the epoch's row order.
    shuffle : bool
        A fresh permutation of the rows (drawn first), else the data order.
    batch_size : int
        Rows per update (the last batch may be smaller).
    up : float
        Factor of the input in ``p(h | x)`` (2 doubles the visible side).
    down : float
        Factor of the hidden input in ``p(x | h)``.
    k : int
        Gibbs steps of the negative phase per update.
    lrs : ndarray of float64, shape (steps,)
        Learning rate of each update of the epoch.
    momentum : float
        Momentum of the parameter updates.
    weight_decay : float
        L2 penalty on the weights.
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    """
    n, n_in = X.shape
    n_out = c.shape[0]
    if shuffle:
        permutation(order, rng_state)
    else:
        for r in range(n):
            order[r] = r
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    a, q, h = np.empty(n_out), np.empty(n_out), np.empty(n_out, np.uint8)
    ax, px, xs = np.empty(n_in), np.empty(n_in), np.empty(n_in)
    act = np.empty(n_out, np.int64)
    zero = np.zeros(n_out)
    zero_in = np.zeros(n_in)
    err = 0.0
    steps = (n + batch_size - 1) // batch_size
    for step in range(steps):
        start = step * batch_size
        stop = min(n, start + batch_size)
        inv_m = 1.0 / (stop - start)
        for t in range(start, stop):
            x = X[order[t]]
            _scaled_up(W, c, x, up, zero, a, q)
            _dense_accumulate(G, gb, gc, x, q, inv_m)
            for g in range(k):
                s0, s1, s2, s3 = _draw_dense(q, h, s0, s1, s2, s3)
                row_sum(WT, zero_in, act, _active(h, act), ax)
                for i in range(n_in):
                    px[i] = sigmoid(b[i] + down * ax[i])
                if g == 0:
                    for i in range(n_in):
                        d = x[i] - px[i]
                        err += d * d
                for i in range(n_in):
                    u, s0, s1, s2, s3 = rng_step(s0, s1, s2, s3)
                    xs[i] = np.float64(np.float64(u >> np.uint64(11)) * TWO_M53 < px[i])
                _scaled_up(W, c, xs, up, zero, a, q)
            _dense_accumulate(G, gb, gc, xs, q, -inv_m)
        lr = lrs[step]
        _update(W.reshape(-1), dW.reshape(-1), G.reshape(-1), lr, momentum, weight_decay)
        _update(b, db, gb, lr, momentum, 0.0)
        _update(c, dc, gc, lr, momentum, 0.0)
        transpose_into(W, WT)
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3
    return err
