"""Restricted Boltzmann machines: training epochs, evaluation, sampling, annealed importance sampling.

Bernoulli-Bernoulli: units are in {0, 1}; ``E(v, h) = -b.v - c.h - v^T W h`` with ``W``
of shape (visible, hidden); the free energy is ``F(v) = -b.v - sum_j softplus(c_j + v W_j)``.
Parameters are ``float64`` (see ``dynet.models.rbm`` for why). The Gaussian-Bernoulli
kernels (``gb_*``, real visible units, dense rows) and the AIS kernels (``ais_*``) have
their own sections below, whose comments give their formulas and order of draws.

Binary vectors are handled as lists of their active units (``idx``/``ptr`` in CSR form
for data sets, an ``int64`` row of indices plus a count for chain states), so every
product with a binary vector is a sum of rows: ``c + v W`` adds the rows ``W[i]`` of
the active visible units, ``b + W h`` the rows ``WT[j]`` of the active hidden units,
where ``WT`` is a transposed copy of ``W`` that :func:`train_epoch` keeps current.
Those row sums (:mod:`dynet.kernels.maths`, shared with the DBM and Boltzmann kernels) run
over contiguous memory and vectorize without reordering any sum.

Random numbers come from a xoshiro256** state (``uint64[4]``, :mod:`dynet.kernels.rng`)
held in registers inside each kernel and written back at the end. A unit is switched
on when ``u < p`` with ``u`` = (top 53 bits of the next draw) * 2**-53 and ``p`` its
conditional probability; units are drawn in index order, chain by chain, so the
stream is a documented function of the seed (:func:`train_epoch` gives the order).

The logistic function uses :func:`dynet.kernels.maths.exp_`, an ``exp`` written out in arithmetic (within
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
from numba import njit

from dynet.kernels.maths import accumulate, row_sum, sigmoid, sigmoid_into, softplus, transpose_into
from dynet.kernels.rng import TWO_M53, permutation
from dynet.kernels.rng import step as rng_step

CD = 0
PCD = 1
METHODS = {"cd": CD, "pcd": PCD}


@njit(cache=True, error_model="numpy")
def _draw(p, act, s0, s1, s2, s3):
    """Switch unit ``j`` on when ``u_j < p[j]``, ``j`` in order (one draw each); the on units
    go to ``act``. Returns ``(n_on, s0, s1, s2, s3)``. Written without branches on ``u < p``."""
    n = 0
    for j in range(p.shape[0]):
        x, s0, s1, s2, s3 = rng_step(s0, s1, s2, s3)
        act[n] = j
        n += np.int64(np.float64(x >> np.uint64(11)) * TWO_M53 < p[j])
    return n, s0, s1, s2, s3


# --------------------------------------------------------------------------- training


@njit(cache=True, error_model="numpy")
def _batch_stats(
    W,
    WT,
    b,
    c,
    idx,
    ptr,
    order,
    start,
    stop,
    method,
    k,
    chain_act,
    chain_n,
    sparsity_target,
    sparsity_cost,
    G,
    gb,
    gc,
    a_h,
    p_h,
    a_v,
    p_v,
    h_act,
    v_act,
    v_n,
    s0,
    s1,
    s2,
    s3,
):
    """Add one batch's gradient statistics (rows ``order[start:stop]``) to ``G, gb, gc``;
    returns the random state. See :func:`train_epoch` for what and in which order."""
    nh = c.shape[0]
    inv_m = 1.0 / (stop - start)
    for t in range(start, stop):
        row = order[t]
        act = idx[ptr[row] : ptr[row + 1]]
        n_act = act.shape[0]
        row_sum(W, c, act, n_act, a_h)
        sigmoid_into(a_h, p_h)
        accumulate(G, gb, gc, act, n_act, p_h, inv_m)
        if sparsity_cost != 0.0:
            for j in range(nh):
                gc[j] += inv_m * sparsity_cost * (sparsity_target - p_h[j])
        if method == CD:
            n_h, s0, s1, s2, s3 = _draw(p_h, h_act, s0, s1, s2, s3)
            n_v = 0
            for g in range(k):
                row_sum(WT, b, h_act, n_h, a_v)
                sigmoid_into(a_v, p_v)
                n_v, s0, s1, s2, s3 = _draw(p_v, v_act[0], s0, s1, s2, s3)
                row_sum(W, c, v_act[0], n_v, a_h)
                sigmoid_into(a_h, p_h)
                if g < k - 1:
                    n_h, s0, s1, s2, s3 = _draw(p_h, h_act, s0, s1, s2, s3)
            accumulate(G, gb, gc, v_act[0], n_v, p_h, -inv_m)
    if method == PCD:
        n_chains = chain_act.shape[0]
        inv_c = 1.0 / n_chains
        for g in range(k):
            for r in range(n_chains):
                row_sum(WT, b, chain_act[r], chain_n[r], a_v)
                sigmoid_into(a_v, p_v)
                v_n[r], s0, s1, s2, s3 = _draw(p_v, v_act[r], s0, s1, s2, s3)
            for r in range(n_chains):
                row_sum(W, c, v_act[r], v_n[r], a_h)
                sigmoid_into(a_h, p_h)
                if g == k - 1:
                    accumulate(G, gb, gc, v_act[r], v_n[r], p_h, -inv_c)
                chain_n[r], s0, s1, s2, s3 = _draw(p_h, chain_act[r], s0, s1, s2, s3)
    return s0, s1, s2, s3


@njit(cache=True, error_model="numpy")
def _update(W, b, c, dW, db, dc, G, gb, gc, lr, momentum, weight_decay):
    """One step with momentum (Hinton's guide): ``d = momentum * d + lr * (g - weight_decay * W)``
    for ``W`` (no decay on the biases), ``param += d``; the gradient sums are zeroed."""
    nv, nh = W.shape
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


@njit(cache=True, error_model="numpy")
def train_epoch(
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
    idx,
    ptr,
    order,
    shuffle,
    batch_size,
    method,
    k,
    chain_act,
    chain_n,
    lrs,
    momentum,
    weight_decay,
    sparsity_target,
    sparsity_cost,
    rng_state,
    a_h,
    p_h,
    a_v,
    p_v,
    h_act,
    v_act,
    v_n,
):
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

    Parameters
    ----------
    W : ndarray of float64, shape (nv, nh)
        Weights (updated in place by training kernels).
    WT : ndarray of float64, shape (nh, nv)
        Transposed copy of ``W`` (kept current by training kernels).
    b : ndarray of float64, shape (nv,)
        Visible biases.
    c : ndarray of float64, shape (nh,)
        Hidden biases.
    dW : ndarray of float64, shape (nv, nh)
        Momentum of ``W``, updated in place.
    db : ndarray of float64, shape (nv,)
        Momentum of ``b``, updated in place.
    dc : ndarray of float64, shape (nh,)
        Momentum of ``c``, updated in place.
    G : ndarray of float64, shape (nv, nh)
        Weight gradient sums (zero on entry to an epoch; accumulated).
    gb : ndarray of float64, shape (nv,)
        Visible-bias gradient sums.
    gc : ndarray of float64, shape (nh,)
        Hidden-bias gradient sums.
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
    method : int
        ``CD`` (0) or ``PCD`` (1).
    k : int
        Gibbs steps of the negative phase per update.
    chain_act : ndarray of int64, shape (chains, nh)
        Active hidden units of each persistent chain (PCD; updated).
    chain_n : ndarray of int64, shape (chains,)
        Number of active hidden units of each persistent chain (updated).
    lrs : ndarray of float64, shape (steps,)
        Learning rate of each update of the epoch.
    momentum : float
        Momentum of the parameter updates.
    weight_decay : float
        L2 penalty on the weights.
    sparsity_target : float
        Target mean hidden activation.
    sparsity_cost : float
        Weight of the sparsity term on the hidden biases (0: none).
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    a_h : ndarray of float64, shape (nh,)
        Work space: hidden inputs.
    p_h : ndarray of float64, shape (nh,)
        Work space: hidden probabilities.
    a_v : ndarray of float64, shape (nv,)
        Work space: visible inputs.
    p_v : ndarray of float64, shape (nv,)
        Work space: visible probabilities.
    h_act : ndarray of int64, shape (nh,)
        Work space: active hidden units.
    v_act : ndarray of int64, shape (max(1, chains), nv) or (nv,)
        Work space: active visible units (training: one row per persistent chain; sampling and AIS: one row).
    v_n : ndarray of int64, shape (max(1, chains),)
        Work space: active visible counts, one per chain.
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
    steps = (n + batch_size - 1) // batch_size
    for step in range(steps):
        start = step * batch_size
        stop = min(n, start + batch_size)
        s0, s1, s2, s3 = _batch_stats(
            W,
            WT,
            b,
            c,
            idx,
            ptr,
            order,
            start,
            stop,
            method,
            k,
            chain_act,
            chain_n,
            sparsity_target,
            sparsity_cost,
            G,
            gb,
            gc,
            a_h,
            p_h,
            a_v,
            p_v,
            h_act,
            v_act,
            v_n,
            s0,
            s1,
            s2,
            s3,
        )
        _update(W, b, c, dW, db, dc, G, gb, gc, lrs[step], momentum, weight_decay)
        transpose_into(W, WT)
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3
    return steps


@njit(cache=True, error_model="numpy")
def batch_gradient(
    W,
    WT,
    b,
    c,
    idx,
    ptr,
    rows,
    method,
    k,
    chain_act,
    chain_n,
    rng_state,
    G,
    gb,
    gc,
    a_h,
    p_h,
    a_v,
    p_v,
    h_act,
    v_act,
    v_n,
):
    """Add the gradient estimate of one batch (data rows ``rows``) to ``G, gb, gc``.

    The statistics of one step of :func:`train_epoch` (no weight decay or sparsity),
    for tests of the estimator: ``G += v0^T q / m - vk^T q' / n_neg`` and likewise for
    the biases. PCD chains advance as in training.

    Parameters
    ----------
    W : ndarray of float64, shape (nv, nh)
        Weights (updated in place by training kernels).
    WT : ndarray of float64, shape (nh, nv)
        Transposed copy of ``W`` (kept current by training kernels).
    b : ndarray of float64, shape (nv,)
        Visible biases.
    c : ndarray of float64, shape (nh,)
        Hidden biases.
    idx : ndarray of int64, shape (nnz,)
        Active visible units of the rows, row after row (CSR indices).
    ptr : ndarray of int64, shape (n + 1,)
        Row ``r``'s active units are ``idx[ptr[r]:ptr[r + 1]]``.
    rows : ndarray of int64, shape (m,)
        Indices of the batch's rows.
    method : int
        ``CD`` (0) or ``PCD`` (1).
    k : int
        Gibbs steps of the negative phase per update.
    chain_act : ndarray of int64, shape (chains, nh)
        Active hidden units of each persistent chain (PCD; updated).
    chain_n : ndarray of int64, shape (chains,)
        Number of active hidden units of each persistent chain (updated).
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    G : ndarray of float64, shape (nv, nh)
        Weight gradient sums (zero on entry to an epoch; accumulated).
    gb : ndarray of float64, shape (nv,)
        Visible-bias gradient sums.
    gc : ndarray of float64, shape (nh,)
        Hidden-bias gradient sums.
    a_h : ndarray of float64, shape (nh,)
        Work space: hidden inputs.
    p_h : ndarray of float64, shape (nh,)
        Work space: hidden probabilities.
    a_v : ndarray of float64, shape (nv,)
        Work space: visible inputs.
    p_v : ndarray of float64, shape (nv,)
        Work space: visible probabilities.
    h_act : ndarray of int64, shape (nh,)
        Work space: active hidden units.
    v_act : ndarray of int64, shape (max(1, chains), nv) or (nv,)
        Work space: active visible units (training: one row per persistent chain; sampling and AIS: one row).
    v_n : ndarray of int64, shape (max(1, chains),)
        Work space: active visible counts, one per chain.
    """
    s0, s1, s2, s3 = _batch_stats(
        W,
        WT,
        b,
        c,
        idx,
        ptr,
        rows,
        0,
        rows.shape[0],
        method,
        k,
        chain_act,
        chain_n,
        0.0,
        0.0,
        G,
        gb,
        gc,
        a_h,
        p_h,
        a_v,
        p_v,
        h_act,
        v_act,
        v_n,
        rng_state[0],
        rng_state[1],
        rng_state[2],
        rng_state[3],
    )
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3


# --------------------------------------------------------------------------- evaluation


@njit(cache=True, error_model="numpy")
def free_energies(W, b, c, idx, ptr, a_h, out):
    """``out[r] = F(v_r) = -b.v_r - sum_j softplus(c_j + v_r W_j)`` for every row.

    Parameters
    ----------
    W : ndarray of float64, shape (nv, nh)
        Weights (updated in place by training kernels).
    b : ndarray of float64, shape (nv,)
        Visible biases.
    c : ndarray of float64, shape (nh,)
        Hidden biases.
    idx : ndarray of int64, shape (nnz,)
        Active visible units of the rows, row after row (CSR indices).
    ptr : ndarray of int64, shape (n + 1,)
        Row ``r``'s active units are ``idx[ptr[r]:ptr[r + 1]]``.
    a_h : ndarray of float64, shape (nh,)
        Work space: hidden inputs.
    out : ndarray of float64, shape (n,)
        Receives one value per row.
    """
    n = ptr.shape[0] - 1
    nh = c.shape[0]
    for r in range(n):
        act = idx[ptr[r] : ptr[r + 1]]
        row_sum(W, c, act, act.shape[0], a_h)
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

    Parameters
    ----------
    W : ndarray of float64, shape (nv, nh)
        Weights (updated in place by training kernels).
    b : ndarray of float64, shape (nv,)
        Visible biases.
    c : ndarray of float64, shape (nh,)
        Hidden biases.
    idx : ndarray of int64, shape (nnz,)
        Active visible units of the rows, row after row (CSR indices).
    ptr : ndarray of int64, shape (n + 1,)
        Row ``r``'s active units are ``idx[ptr[r]:ptr[r + 1]]``.
    dense : ndarray of uint8, shape (n, nv)
        The same rows as 0/1 values.
    bits : ndarray of int64, shape (n,)
        The unit flipped in each row.
    a_h : ndarray of float64, shape (nh,)
        Work space: hidden inputs.
    out : ndarray of float64, shape (n,)
        Receives one value per row.
    """
    n = ptr.shape[0] - 1
    nv, nh = W.shape
    for r in range(n):
        act = idx[ptr[r] : ptr[r + 1]]
        row_sum(W, c, act, act.shape[0], a_h)
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

    Parameters
    ----------
    W : ndarray of float64, shape (nv, nh)
        Weights (updated in place by training kernels).
    WT : ndarray of float64, shape (nh, nv)
        Transposed copy of ``W`` (kept current by training kernels).
    b : ndarray of float64, shape (nv,)
        Visible biases.
    c : ndarray of float64, shape (nh,)
        Hidden biases.
    idx : ndarray of int64, shape (nnz,)
        Active visible units of the rows, row after row (CSR indices).
    ptr : ndarray of int64, shape (n + 1,)
        Row ``r``'s active units are ``idx[ptr[r]:ptr[r + 1]]``.
    dense : ndarray of uint8, shape (n, nv)
        The same rows as 0/1 values.
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    a_h : ndarray of float64, shape (nh,)
        Work space: hidden inputs.
    p_h : ndarray of float64, shape (nh,)
        Work space: hidden probabilities.
    a_v : ndarray of float64, shape (nv,)
        Work space: visible inputs.
    p_v : ndarray of float64, shape (nv,)
        Work space: visible probabilities.
    h_act : ndarray of int64, shape (nh,)
        Work space: active hidden units.
    sq_err : ndarray of float64, shape (n,)
        Receives each row's squared reconstruction error.
    hidden_sum : ndarray of float64, shape (n,)
        Receives each row's sum of ``p(h | v)``.
    """
    n = ptr.shape[0] - 1
    nv = b.shape[0]
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    for r in range(n):
        act = idx[ptr[r] : ptr[r + 1]]
        row_sum(W, c, act, act.shape[0], a_h)
        sigmoid_into(a_h, p_h)
        hs = 0.0
        for j in range(p_h.shape[0]):
            hs += p_h[j]
        hidden_sum[r] = hs
        n_h, s0, s1, s2, s3 = _draw(p_h, h_act, s0, s1, s2, s3)
        row_sum(WT, b, h_act, n_h, a_v)
        sigmoid_into(a_v, p_v)
        e = 0.0
        for i in range(nv):
            d = dense[r, i] - p_v[i]
            e += d * d
        sq_err[r] = e
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3


# --------------------------------------------------------------------------- sampling


@njit(cache=True, error_model="numpy")
def gibbs_chains(W, WT, b, c, v, n_steps, every, out_v, out_p, n_out, rng_state, a_h, p_h, a_v, p_v, h_act, v_act):
    """``n_steps`` Gibbs steps of every chain (rows of ``v``, uint8 (chains, nv), updated).

    A step of a chain: ``h ~ p(h | v)`` (nh draws), ``v ~ p(v | h)`` (nv draws); chains
    step one after another. After every ``every``-th step, chain ``r``'s ``v`` goes to
    ``out_v[n_out, r]`` and ``p(v | h)`` to ``out_p[n_out, r]``. Returns the new ``n_out``.

    Parameters
    ----------
    W : ndarray of float64, shape (nv, nh)
        Weights (updated in place by training kernels).
    WT : ndarray of float64, shape (nh, nv)
        Transposed copy of ``W`` (kept current by training kernels).
    b : ndarray of float64, shape (nv,)
        Visible biases.
    c : ndarray of float64, shape (nh,)
        Hidden biases.
    v : ndarray, shape (chains, nv) or (nv,)
        Chain states, updated in place (uint8 for Bernoulli, float64 for Gaussian units); in the AIS kernels a float64
        (nv,) work row.
    n_steps : int
        Gibbs steps of every chain.
    every : int
        Store the chains' visible states every ``every``-th step.
    out_v : ndarray, shape (records, chains, nv)
        Receives the stored visible states (int8 or float32).
    out_p : ndarray of float32, shape (records, chains, nv)
        Receives ``p(v | h)`` of each stored step.
    n_out : int
        First record of ``out_v``, ``out_p`` to write.
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    a_h : ndarray of float64, shape (nh,)
        Work space: hidden inputs.
    p_h : ndarray of float64, shape (nh,)
        Work space: hidden probabilities.
    a_v : ndarray of float64, shape (nv,)
        Work space: visible inputs.
    p_v : ndarray of float64, shape (nv,)
        Work space: visible probabilities.
    h_act : ndarray of int64, shape (nh,)
        Work space: active hidden units.
    v_act : ndarray of int64, shape (max(1, chains), nv) or (nv,)
        Work space: active visible units (training: one row per persistent chain; sampling and AIS: one row).
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
            row_sum(W, c, v_act, n_v, a_h)
            sigmoid_into(a_h, p_h)
            n_h, s0, s1, s2, s3 = _draw(p_h, h_act, s0, s1, s2, s3)
            row_sum(WT, b, h_act, n_h, a_v)
            sigmoid_into(a_v, p_v)
            for i in range(nv):
                x, s0, s1, s2, s3 = rng_step(s0, s1, s2, s3)
                v[r, i] = np.uint8(np.float64(x >> np.uint64(11)) * TWO_M53 < p_v[i])
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


# --------------------------------------------------------------------------- Gaussian-Bernoulli RBM
#
# Real visible units v with fixed standard deviations sigma (Hinton's guide, section 13.2;
# Cho, Ilin and Raiko 2011):
#
#     E(v, h) = sum_i (v_i - b_i)**2 / (2 sigma_i**2) - c.h - sum_ij (v_i / sigma_i) W_ij h_j
#     p(h_j = 1 | v) = sigmoid(c_j + sum_i (v_i / sigma_i) W_ij)
#     p(v_i | h) = N(b_i + sigma_i (W h)_i, sigma_i**2)
#     F(v) = sum_i (v_i - b_i)**2 / (2 sigma_i**2) - sum_j softplus(c_j + sum_i (v_i / sigma_i) W_ij)
#
# Visible vectors are dense float64 rows; hidden states are active-unit lists as above.
# Gaussian draws use the Box-Muller transform on two uniforms of the same stream:
# u1 = 1 - (top 53 bits) * 2**-53 in (0, 1], u2 = (top 53 bits) * 2**-53,
# z0 = sqrt(-2 log u1) cos(2 pi u2), z1 = sqrt(-2 log u1) sin(2 pi u2). Visible units are
# drawn in pairs (0, 1), (2, 3), ...; an odd last unit takes z0 of a fresh pair. These
# use libm's log, cos and sin, so Gaussian runs are bit-identical on one machine and
# libm version (the Bernoulli kernels above use no libm in training).


@njit(cache=True, inline="always", error_model="numpy")
def _gauss_pair(s0, s1, s2, s3):
    """Two independent N(0, 1) draws (Box-Muller, two uniforms); returns ``(z0, z1, s0, s1, s2, s3)``."""
    x, s0, s1, s2, s3 = rng_step(s0, s1, s2, s3)
    u1 = 1.0 - np.float64(x >> np.uint64(11)) * TWO_M53
    x, s0, s1, s2, s3 = rng_step(s0, s1, s2, s3)
    t = 2.0 * math.pi * (np.float64(x >> np.uint64(11)) * TWO_M53)
    r = math.sqrt(-2.0 * math.log(u1))
    return r * math.cos(t), r * math.sin(t), s0, s1, s2, s3


@njit(cache=True, error_model="numpy")
def _draw_gaussian(mean, sigma, v, s0, s1, s2, s3):
    """``v_i = mean_i + sigma_i z_i``, ``z`` standard normal, pairs of units from one Box-Muller pair."""
    nv = mean.shape[0]
    for i in range(0, nv - 1, 2):
        z0, z1, s0, s1, s2, s3 = _gauss_pair(s0, s1, s2, s3)
        v[i] = mean[i] + sigma[i] * z0
        v[i + 1] = mean[i + 1] + sigma[i + 1] * z1
    if nv % 2:
        z0, z1, s0, s1, s2, s3 = _gauss_pair(s0, s1, s2, s3)
        v[nv - 1] = mean[nv - 1] + sigma[nv - 1] * z0
    return s0, s1, s2, s3


@njit(cache=True, error_model="numpy")
def _hidden_input(W, c, v, inv_sigma, out):
    """``out = c + sum_i (v_i / sigma_i) W[i]`` (``inv_sigma = 1 / sigma``), rows in order."""
    m = out.shape[0]
    for j in range(m):
        out[j] = c[j]
    for i in range(v.shape[0]):
        s = v[i] * inv_sigma[i]
        row = W[i]
        for j in range(m):
            out[j] += s * row[j]


@njit(cache=True, error_model="numpy")
def _visible_mean(WT, b, sigma, act, n_act, out):
    """``out = b + sigma * (W h)``, the mean of ``p(v | h)``, ``h`` given by its active units."""
    nv = out.shape[0]
    for i in range(nv):
        out[i] = 0.0
    for t in range(n_act):
        row = WT[act[t]]
        for i in range(nv):
            out[i] += row[i]
    for i in range(nv):
        out[i] = b[i] + sigma[i] * out[i]


@njit(cache=True, error_model="numpy")
def _gb_accumulate(G, gb, gc, v, p, inv_sigma, scale):
    """``G[i] += scale (v_i / sigma_i) p``; ``gb[i] += scale v_i / sigma_i**2``; ``gc += scale p``."""
    m = p.shape[0]
    for i in range(v.shape[0]):
        s = scale * v[i] * inv_sigma[i]
        row = G[i]
        for j in range(m):
            row[j] += s * p[j]
        gb[i] += s * inv_sigma[i]
    for j in range(m):
        gc[j] += scale * p[j]


@njit(cache=True, error_model="numpy")
def _gb_batch_stats(
    W,
    WT,
    b,
    c,
    sigma,
    inv_sigma,
    X,
    order,
    start,
    stop,
    method,
    k,
    chain_act,
    chain_n,
    chains_v,
    sparsity_target,
    sparsity_cost,
    G,
    gb,
    gc,
    a_h,
    p_h,
    a_v,
    h_act,
    s0,
    s1,
    s2,
    s3,
):
    """Add one batch's gradient statistics (rows ``order[start:stop]`` of ``X``) to ``G, gb, gc``;
    returns the random state. The order of draws is that of :func:`_batch_stats`, with
    ``v ~ p(v | h)`` a Gaussian draw (:func:`_draw_gaussian`); see :func:`gb_train_epoch`."""
    nh = c.shape[0]
    inv_m = 1.0 / (stop - start)
    for t in range(start, stop):
        v0 = X[order[t]]
        _hidden_input(W, c, v0, inv_sigma, a_h)
        sigmoid_into(a_h, p_h)
        _gb_accumulate(G, gb, gc, v0, p_h, inv_sigma, inv_m)
        if sparsity_cost != 0.0:
            for j in range(nh):
                gc[j] += inv_m * sparsity_cost * (sparsity_target - p_h[j])
        if method == CD:
            v = chains_v[0]
            n_h, s0, s1, s2, s3 = _draw(p_h, h_act, s0, s1, s2, s3)
            for g in range(k):
                _visible_mean(WT, b, sigma, h_act, n_h, a_v)
                s0, s1, s2, s3 = _draw_gaussian(a_v, sigma, v, s0, s1, s2, s3)
                _hidden_input(W, c, v, inv_sigma, a_h)
                sigmoid_into(a_h, p_h)
                if g < k - 1:
                    n_h, s0, s1, s2, s3 = _draw(p_h, h_act, s0, s1, s2, s3)
            _gb_accumulate(G, gb, gc, v, p_h, inv_sigma, -inv_m)
    if method == PCD:
        n_chains = chain_act.shape[0]
        inv_c = 1.0 / n_chains
        for g in range(k):
            for r in range(n_chains):
                _visible_mean(WT, b, sigma, chain_act[r], chain_n[r], a_v)
                s0, s1, s2, s3 = _draw_gaussian(a_v, sigma, chains_v[r], s0, s1, s2, s3)
            for r in range(n_chains):
                _hidden_input(W, c, chains_v[r], inv_sigma, a_h)
                sigmoid_into(a_h, p_h)
                if g == k - 1:
                    _gb_accumulate(G, gb, gc, chains_v[r], p_h, inv_sigma, -inv_c)
                chain_n[r], s0, s1, s2, s3 = _draw(p_h, chain_act[r], s0, s1, s2, s3)
    return s0, s1, s2, s3


@njit(cache=True, error_model="numpy")
def gb_train_epoch(
    W,
    WT,
    b,
    c,
    sigma,
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
    method,
    k,
    chain_act,
    chain_n,
    chains_v,
    lrs,
    momentum,
    weight_decay,
    sparsity_target,
    sparsity_cost,
    rng_state,
    a_h,
    p_h,
    a_v,
    h_act,
):
    """One epoch of CD-k or PCD-k of a Gaussian-Bernoulli RBM (``X`` float64 (n, nv), dense).

    Rows, batches, learning rates, the positive phase, the order of draws and the
    update are those of :func:`train_epoch`, with ``v ~ N(b + sigma W h, sigma**2)``
    (Box-Muller pairs) in place of the Bernoulli visible draws. ``chains_v`` (chains or 1,
    nv) holds the visible states of the negative phase: for PCD the persistent chains'
    last visible samples, for CD row 0 is scratch. Gradient per batch of ``m`` rows and
    ``n_neg`` negative rows (the log-likelihood gradient with data and model statistics)::

        gW = (v0 / sigma)^T q / m - (vk / sigma)^T q' / n_neg - weight_decay * W
        gb = (mean(v0) - mean(vk)) / sigma**2
        gc = mean(q) - mean(q') + sparsity_cost * (sparsity_target - mean(q))

    Returns the number of steps.

    Parameters
    ----------
    W : ndarray of float64, shape (nv, nh)
        Weights (updated in place by training kernels).
    WT : ndarray of float64, shape (nh, nv)
        Transposed copy of ``W`` (kept current by training kernels).
    b : ndarray of float64, shape (nv,)
        Visible biases.
    c : ndarray of float64, shape (nh,)
        Hidden biases.
    sigma : ndarray of float64, shape (nv,)
        Fixed visible standard deviations.
    dW : ndarray of float64, shape (nv, nh)
        Momentum of ``W``, updated in place.
    db : ndarray of float64, shape (nv,)
        Momentum of ``b``, updated in place.
    dc : ndarray of float64, shape (nh,)
        Momentum of ``c``, updated in place.
    G : ndarray of float64, shape (nv, nh)
        Weight gradient sums (zero on entry to an epoch; accumulated).
    gb : ndarray of float64, shape (nv,)
        Visible-bias gradient sums.
    gc : ndarray of float64, shape (nh,)
        Hidden-bias gradient sums.
    X : ndarray of float64, shape (n, nv)
        Real-valued rows (C-contiguous).
    order : ndarray of int64, shape (n,)
        Receives the epoch's row order.
    shuffle : bool
        A fresh permutation of the rows (drawn first), else the data order.
    batch_size : int
        Rows per update (the last batch may be smaller).
    method : int
        ``CD`` (0) or ``PCD`` (1).
    k : int
        Gibbs steps of the negative phase per update.
    chain_act : ndarray of int64, shape (chains, nh)
        Active hidden units of each persistent chain (PCD; updated).
    chain_n : ndarray of int64, shape (chains,)
        Number of active hidden units of each persistent chain (updated).
    chains_v : ndarray of float64, shape (chains, nv)
        Last visible sample of each persistent chain (PCD; updated).
    lrs : ndarray of float64, shape (steps,)
        Learning rate of each update of the epoch.
    momentum : float
        Momentum of the parameter updates.
    weight_decay : float
        L2 penalty on the weights.
    sparsity_target : float
        Target mean hidden activation.
    sparsity_cost : float
        Weight of the sparsity term on the hidden biases (0: none).
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    a_h : ndarray of float64, shape (nh,)
        Work space: hidden inputs.
    p_h : ndarray of float64, shape (nh,)
        Work space: hidden probabilities.
    a_v : ndarray of float64, shape (nv,)
        Work space: visible inputs.
    h_act : ndarray of int64, shape (nh,)
        Work space: active hidden units.
    """
    n = X.shape[0]
    if shuffle:
        permutation(order, rng_state)
    else:
        for r in range(n):
            order[r] = r
    inv_sigma = 1.0 / sigma
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    steps = (n + batch_size - 1) // batch_size
    for step in range(steps):
        start = step * batch_size
        stop = min(n, start + batch_size)
        s0, s1, s2, s3 = _gb_batch_stats(
            W,
            WT,
            b,
            c,
            sigma,
            inv_sigma,
            X,
            order,
            start,
            stop,
            method,
            k,
            chain_act,
            chain_n,
            chains_v,
            sparsity_target,
            sparsity_cost,
            G,
            gb,
            gc,
            a_h,
            p_h,
            a_v,
            h_act,
            s0,
            s1,
            s2,
            s3,
        )
        _update(W, b, c, dW, db, dc, G, gb, gc, lrs[step], momentum, weight_decay)
        transpose_into(W, WT)
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3
    return steps


@njit(cache=True, error_model="numpy")
def gb_batch_gradient(
    W, WT, b, c, sigma, X, rows, method, k, chain_act, chain_n, chains_v, rng_state, G, gb, gc, a_h, p_h, a_v, h_act
):
    """Add the gradient estimate of one batch (rows ``rows`` of ``X``) to ``G, gb, gc``: the
    statistics of one step of :func:`gb_train_epoch` (no weight decay or sparsity).

    Parameters
    ----------
    W : ndarray of float64, shape (nv, nh)
        Weights (updated in place by training kernels).
    WT : ndarray of float64, shape (nh, nv)
        Transposed copy of ``W`` (kept current by training kernels).
    b : ndarray of float64, shape (nv,)
        Visible biases.
    c : ndarray of float64, shape (nh,)
        Hidden biases.
    sigma : ndarray of float64, shape (nv,)
        Fixed visible standard deviations.
    X : ndarray of float64, shape (n, nv)
        Real-valued rows (C-contiguous).
    rows : ndarray of int64, shape (m,)
        Indices of the batch's rows.
    method : int
        ``CD`` (0) or ``PCD`` (1).
    k : int
        Gibbs steps of the negative phase per update.
    chain_act : ndarray of int64, shape (chains, nh)
        Active hidden units of each persistent chain (PCD; updated).
    chain_n : ndarray of int64, shape (chains,)
        Number of active hidden units of each persistent chain (updated).
    chains_v : ndarray of float64, shape (chains, nv)
        Last visible sample of each persistent chain (PCD; updated).
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    G : ndarray of float64, shape (nv, nh)
        Weight gradient sums (zero on entry to an epoch; accumulated).
    gb : ndarray of float64, shape (nv,)
        Visible-bias gradient sums.
    gc : ndarray of float64, shape (nh,)
        Hidden-bias gradient sums.
    a_h : ndarray of float64, shape (nh,)
        Work space: hidden inputs.
    p_h : ndarray of float64, shape (nh,)
        Work space: hidden probabilities.
    a_v : ndarray of float64, shape (nv,)
        Work space: visible inputs.
    h_act : ndarray of int64, shape (nh,)
        Work space: active hidden units.
    """
    s0, s1, s2, s3 = _gb_batch_stats(
        W,
        WT,
        b,
        c,
        sigma,
        1.0 / sigma,
        X,
        rows,
        0,
        rows.shape[0],
        method,
        k,
        chain_act,
        chain_n,
        chains_v,
        0.0,
        0.0,
        G,
        gb,
        gc,
        a_h,
        p_h,
        a_v,
        h_act,
        rng_state[0],
        rng_state[1],
        rng_state[2],
        rng_state[3],
    )
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3


@njit(cache=True, error_model="numpy")
def gb_free_energies(W, b, c, sigma, X, a_h, out):
    """``out[r] = F(v_r) = sum_i (v_i - b_i)**2 / (2 sigma_i**2) - sum_j softplus(c_j + (v / sigma) W_j)``.

    Parameters
    ----------
    W : ndarray of float64, shape (nv, nh)
        Weights (updated in place by training kernels).
    b : ndarray of float64, shape (nv,)
        Visible biases.
    c : ndarray of float64, shape (nh,)
        Hidden biases.
    sigma : ndarray of float64, shape (nv,)
        Fixed visible standard deviations.
    X : ndarray of float64, shape (n, nv)
        Real-valued rows (C-contiguous).
    a_h : ndarray of float64, shape (nh,)
        Work space: hidden inputs.
    out : ndarray of float64, shape (n,)
        Receives one value per row.
    """
    n, nv = X.shape
    nh = c.shape[0]
    inv_sigma = 1.0 / sigma
    for r in range(n):
        v = X[r]
        _hidden_input(W, c, v, inv_sigma, a_h)
        f = 0.0
        for i in range(nv):
            d = (v[i] - b[i]) * inv_sigma[i]
            f += 0.5 * d * d
        for j in range(nh):
            f -= softplus(a_h[j])
        out[r] = f


@njit(cache=True, error_model="numpy")
def gb_reconstruct(W, WT, b, c, sigma, X, rng_state, a_h, p_h, a_v, h_act, sq_err, hidden_sum):
    """One stochastic reconstruction per row: ``h ~ p(h | v)`` (nh draws), then the mean of
    ``p(v | h)``: ``sq_err[r] = sum_i (v_i - b_i - sigma_i (W h)_i)**2``, ``hidden_sum[r] = sum_j p(h_j | v)``.

    Parameters
    ----------
    W : ndarray of float64, shape (nv, nh)
        Weights (updated in place by training kernels).
    WT : ndarray of float64, shape (nh, nv)
        Transposed copy of ``W`` (kept current by training kernels).
    b : ndarray of float64, shape (nv,)
        Visible biases.
    c : ndarray of float64, shape (nh,)
        Hidden biases.
    sigma : ndarray of float64, shape (nv,)
        Fixed visible standard deviations.
    X : ndarray of float64, shape (n, nv)
        Real-valued rows (C-contiguous).
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    a_h : ndarray of float64, shape (nh,)
        Work space: hidden inputs.
    p_h : ndarray of float64, shape (nh,)
        Work space: hidden probabilities.
    a_v : ndarray of float64, shape (nv,)
        Work space: visible inputs.
    h_act : ndarray of int64, shape (nh,)
        Work space: active hidden units.
    sq_err : ndarray of float64, shape (n,)
        Receives each row's squared reconstruction error.
    hidden_sum : ndarray of float64, shape (n,)
        Receives each row's sum of ``p(h | v)``.
    """
    n, nv = X.shape
    inv_sigma = 1.0 / sigma
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    for r in range(n):
        v = X[r]
        _hidden_input(W, c, v, inv_sigma, a_h)
        sigmoid_into(a_h, p_h)
        hs = 0.0
        for j in range(p_h.shape[0]):
            hs += p_h[j]
        hidden_sum[r] = hs
        n_h, s0, s1, s2, s3 = _draw(p_h, h_act, s0, s1, s2, s3)
        _visible_mean(WT, b, sigma, h_act, n_h, a_v)
        e = 0.0
        for i in range(nv):
            d = v[i] - a_v[i]
            e += d * d
        sq_err[r] = e
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3


@njit(cache=True, error_model="numpy")
def gb_log_partition(WT, b, c, sigma):
    """Exact ``log Z`` of a Gaussian-Bernoulli RBM, summing over the ``2**nh`` hidden states.

    For fixed ``h``, with ``a = W h``, the integral over ``v`` factorizes into Gaussian
    integrals: ``int exp(-(v_i - b_i)**2 / (2 sigma_i**2) + v_i a_i / sigma_i) dv_i =
    sqrt(2 pi) sigma_i exp(b_i a_i / sigma_i + a_i**2 / 2)``, so

        log Z = sum_i log(sqrt(2 pi) sigma_i) + logsumexp_h [c.h + sum_i (b_i a_i / sigma_i + a_i**2 / 2)].

    ``WT`` is ``W.T`` (hidden x visible); ``h`` in Gray-code order, so each term changes
    ``a`` by one row of ``WT``; a running log-sum-exp keeps the sum finite.

    Parameters
    ----------
    WT : ndarray of float64, shape (nh, nv)
        Transposed copy of ``W`` (kept current by training kernels).
    b : ndarray of float64, shape (nv,)
        Visible biases.
    c : ndarray of float64, shape (nh,)
        Hidden biases.
    sigma : ndarray of float64, shape (nv,)
        Fixed visible standard deviations.
    """
    nh, nv = WT.shape
    a = np.zeros(nv)
    h = np.zeros(nh, np.int8)
    bs = b / sigma
    lin = 0.0
    best = 0.0
    acc = 1.0
    total = np.int64(1) << nh
    for g in range(1, total):
        j = 0
        while not (g >> j) & 1:
            j += 1
        row = WT[j]
        if h[j]:
            h[j] = 0
            lin -= c[j]
            for i in range(nv):
                a[i] -= row[i]
        else:
            h[j] = 1
            lin += c[j]
            for i in range(nv):
                a[i] += row[i]
        s = lin
        for i in range(nv):
            s += bs[i] * a[i] + 0.5 * a[i] * a[i]
        if s <= best:
            acc += math.exp(s - best)
        else:
            acc = acc * math.exp(best - s) + 1.0
            best = s
    base = 0.0
    for i in range(nv):
        base += math.log(math.sqrt(2.0 * math.pi) * sigma[i])
    return base + best + math.log(acc)


@njit(cache=True, error_model="numpy")
def gb_gibbs_chains(W, WT, b, c, sigma, v, n_steps, every, out_v, out_p, n_out, rng_state, a_h, p_h, a_v, h_act):
    """``n_steps`` Gibbs steps of every chain (rows of ``v``, float64 (chains, nv), updated).

    A step of a chain: ``h ~ p(h | v)`` (nh draws), ``v ~ N(b + sigma W h, sigma**2)``
    (Box-Muller pairs); chains step one after another. After every ``every``-th step,
    chain ``r``'s ``v`` goes to ``out_v[n_out, r]`` and the mean of ``p(v | h)`` to
    ``out_p[n_out, r]``. Returns the new ``n_out``.

    Parameters
    ----------
    W : ndarray of float64, shape (nv, nh)
        Weights (updated in place by training kernels).
    WT : ndarray of float64, shape (nh, nv)
        Transposed copy of ``W`` (kept current by training kernels).
    b : ndarray of float64, shape (nv,)
        Visible biases.
    c : ndarray of float64, shape (nh,)
        Hidden biases.
    sigma : ndarray of float64, shape (nv,)
        Fixed visible standard deviations.
    v : ndarray, shape (chains, nv) or (nv,)
        Chain states, updated in place (uint8 for Bernoulli, float64 for Gaussian units); in the AIS kernels a float64
        (nv,) work row.
    n_steps : int
        Gibbs steps of every chain.
    every : int
        Store the chains' visible states every ``every``-th step.
    out_v : ndarray, shape (records, chains, nv)
        Receives the stored visible states (int8 or float32).
    out_p : ndarray of float32, shape (records, chains, nv)
        Receives ``p(v | h)`` of each stored step.
    n_out : int
        First record of ``out_v``, ``out_p`` to write.
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    a_h : ndarray of float64, shape (nh,)
        Work space: hidden inputs.
    p_h : ndarray of float64, shape (nh,)
        Work space: hidden probabilities.
    a_v : ndarray of float64, shape (nv,)
        Work space: visible inputs.
    h_act : ndarray of int64, shape (nh,)
        Work space: active hidden units.
    """
    n_chains, nv = v.shape
    inv_sigma = 1.0 / sigma
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    for step in range(1, n_steps + 1):
        for r in range(n_chains):
            _hidden_input(W, c, v[r], inv_sigma, a_h)
            sigmoid_into(a_h, p_h)
            n_h, s0, s1, s2, s3 = _draw(p_h, h_act, s0, s1, s2, s3)
            _visible_mean(WT, b, sigma, h_act, n_h, a_v)
            s0, s1, s2, s3 = _draw_gaussian(a_v, sigma, v[r], s0, s1, s2, s3)
            if step % every == 0:
                for i in range(nv):
                    out_v[n_out, r, i] = v[r, i]
                    out_p[n_out, r, i] = a_v[i]
        if step % every == 0:
            n_out += 1
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3
    return n_out


# --------------------------------------------------------------------------- annealed importance sampling
#
# Salakhutdinov and Murray, "On the quantitative analysis of deep belief networks" (ICML
# 2008). The path from a base-rate model A (W = 0, visible biases b_A, hidden biases 0)
# to the model B scales the joint energies: p_k(v, h) ~ exp(-(1 - beta_k) E_A(v, h) -
# beta_k E_B(v, h)), whose visible marginal is
#
#     Bernoulli: log f_k(v) = (1 - beta_k) b_A.v + beta_k b.v + sum_j softplus(beta_k (c_j + v W_j))
#     Gaussian:  log f_k(v) = -(1 - beta_k) |(v - b_A) / sigma|**2 / 2 - beta_k |(v - b) / sigma|**2 / 2
#                             + sum_j softplus(beta_k (c_j + (v / sigma) W_j))
#
# f_0 is the base model times 2**nh (its hidden units are free), f_K = exp(-F_B). A run
# draws v from A exactly, then for k = 1 .. K adds log f_k(v) - log f_{k-1}(v) to its log
# weight and, for k < K, moves v by one Gibbs step of p_k (h ~ p_k(h | v), v ~ p_k(v | h)).
# E[w] = Z_B / Z_0. Runs go one after another, each drawing (nv, then per step nh and
# nv) numbers in unit order from one xoshiro256** stream.


@njit(cache=True, error_model="numpy")
def ais_bernoulli(W, WT, b, c, b_base, betas, log_w, rng_state, a_h, p_h, a_v, p_v, h_act, v_act):
    """``log_w[r]``, the log importance weight of AIS run ``r`` (``len(log_w)`` runs) of a
    Bernoulli RBM along ``betas`` (``betas[0] = 0``, ``betas[-1] = 1``, increasing).

    Parameters
    ----------
    W : ndarray of float64, shape (nv, nh)
        Weights (updated in place by training kernels).
    WT : ndarray of float64, shape (nh, nv)
        Transposed copy of ``W`` (kept current by training kernels).
    b : ndarray of float64, shape (nv,)
        Visible biases.
    c : ndarray of float64, shape (nh,)
        Hidden biases.
    b_base : ndarray of float64, shape (nv,)
        Visible biases (Gaussian: means) of the base model.
    betas : ndarray of float64, shape (n_betas,)
        Inverse temperatures from 0 to 1, increasing.
    log_w : ndarray of float64, shape (runs,)
        Receives each run's log importance weight.
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    a_h : ndarray of float64, shape (nh,)
        Work space: hidden inputs.
    p_h : ndarray of float64, shape (nh,)
        Work space: hidden probabilities.
    a_v : ndarray of float64, shape (nv,)
        Work space: visible inputs.
    p_v : ndarray of float64, shape (nv,)
        Work space: visible probabilities.
    h_act : ndarray of int64, shape (nh,)
        Work space: active hidden units.
    v_act : ndarray of int64, shape (max(1, chains), nv) or (nv,)
        Work space: active visible units (training: one row per persistent chain; sampling and AIS: one row).
    """
    nv, nh = W.shape
    n_k = betas.shape[0] - 1
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    for r in range(log_w.shape[0]):
        sigmoid_into(b_base, p_v)
        n_v, s0, s1, s2, s3 = _draw(p_v, v_act, s0, s1, s2, s3)
        lw = 0.0
        for k in range(1, n_k + 1):
            bk = betas[k]
            bp = betas[k - 1]
            row_sum(W, c, v_act, n_v, a_h)  # c + v W
            lin = 0.0
            for t in range(n_v):
                lin += b[v_act[t]] - b_base[v_act[t]]
            hid = 0.0
            for j in range(nh):
                hid += softplus(bk * a_h[j]) - softplus(bp * a_h[j])
            lw += (bk - bp) * lin + hid
            if k < n_k:
                for j in range(nh):
                    p_h[j] = sigmoid(bk * a_h[j])
                n_h, s0, s1, s2, s3 = _draw(p_h, h_act, s0, s1, s2, s3)
                row_sum(WT, b, h_act, n_h, a_v)  # b + W h
                for i in range(nv):
                    p_v[i] = sigmoid((1.0 - bk) * b_base[i] + bk * a_v[i])
                n_v, s0, s1, s2, s3 = _draw(p_v, v_act, s0, s1, s2, s3)
        log_w[r] = lw
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3


@njit(cache=True, error_model="numpy")
def ais_gaussian(W, WT, b, c, sigma, b_base, betas, log_w, rng_state, a_h, p_h, a_v, v, h_act):
    """``log_w[r]``, the log importance weight of AIS run ``r`` of a Gaussian-Bernoulli RBM
    (base model ``N(b_base, sigma**2)``); ``v`` (nv,) is work space.

    Parameters
    ----------
    W : ndarray of float64, shape (nv, nh)
        Weights (updated in place by training kernels).
    WT : ndarray of float64, shape (nh, nv)
        Transposed copy of ``W`` (kept current by training kernels).
    b : ndarray of float64, shape (nv,)
        Visible biases.
    c : ndarray of float64, shape (nh,)
        Hidden biases.
    sigma : ndarray of float64, shape (nv,)
        Fixed visible standard deviations.
    b_base : ndarray of float64, shape (nv,)
        Visible biases (Gaussian: means) of the base model.
    betas : ndarray of float64, shape (n_betas,)
        Inverse temperatures from 0 to 1, increasing.
    log_w : ndarray of float64, shape (runs,)
        Receives each run's log importance weight.
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in place.
    a_h : ndarray of float64, shape (nh,)
        Work space: hidden inputs.
    p_h : ndarray of float64, shape (nh,)
        Work space: hidden probabilities.
    a_v : ndarray of float64, shape (nv,)
        Work space: visible inputs.
    v : ndarray, shape (chains, nv) or (nv,)
        Chain states, updated in place (uint8 for Bernoulli, float64 for Gaussian units); in the AIS kernels a float64
        (nv,) work row.
    h_act : ndarray of int64, shape (nh,)
        Work space: active hidden units.
    """
    nv, nh = W.shape
    n_k = betas.shape[0] - 1
    inv_sigma = 1.0 / sigma
    s0 = rng_state[0]
    s1 = rng_state[1]
    s2 = rng_state[2]
    s3 = rng_state[3]
    for r in range(log_w.shape[0]):
        s0, s1, s2, s3 = _draw_gaussian(b_base, sigma, v, s0, s1, s2, s3)
        lw = 0.0
        for k in range(1, n_k + 1):
            bk = betas[k]
            bp = betas[k - 1]
            _hidden_input(W, c, v, inv_sigma, a_h)
            quad = 0.0
            for i in range(nv):
                da = (v[i] - b_base[i]) * inv_sigma[i]
                db = (v[i] - b[i]) * inv_sigma[i]
                quad += 0.5 * (da * da - db * db)
            hid = 0.0
            for j in range(nh):
                hid += softplus(bk * a_h[j]) - softplus(bp * a_h[j])
            lw += (bk - bp) * quad + hid
            if k < n_k:
                for j in range(nh):
                    p_h[j] = sigmoid(bk * a_h[j])
                n_h, s0, s1, s2, s3 = _draw(p_h, h_act, s0, s1, s2, s3)
                _visible_mean(WT, b, sigma, h_act, n_h, a_v)  # b + sigma W h
                for i in range(nv):
                    a_v[i] = (1.0 - bk) * b_base[i] + bk * a_v[i]
                s0, s1, s2, s3 = _draw_gaussian(a_v, sigma, v, s0, s1, s2, s3)
        log_w[r] = lw
    rng_state[0] = s0
    rng_state[1] = s1
    rng_state[2] = s2
    rng_state[3] = s3
