"""Dense layers, dropout and batch normalisation as numba kernels.

Conventions shared by every kernel here:

* Activations are row-major 2-D ``(batch, features)`` arrays; a dense layer's weights
  ``W`` have shape ``(fan_in, fan_out)`` and its bias ``b`` shape ``(fan_out,)``, so
  ``Y = X W + b`` (the transpose of PyTorch's ``nn.Linear.weight``).
* float32 in training; every kernel is dtype-generic (numba compiles one
  specialisation per dtype). Products are accumulated in the arrays' dtype, like a
  BLAS ``sgemm``; batch-norm statistics are accumulated in float64.
* Outputs are allocated by the caller and overwritten (never accumulated into).
  Backward kernels receive ``dY = dL/dY`` and write the gradients of the inputs and
  parameters.
* Random draws come from a xoshiro256** ``uint64[4]`` state (:mod:`dynet.kernels.rng`)
  advanced in place.

Matrix products are explicit loops: numba's ``np.dot`` needs SciPy's BLAS bindings,
which dynet does not depend on. Every product ``C[i, j] += A[i, k] B[k, j]`` runs in
``i-k-j`` order: the innermost loop streams a row of ``B`` and of ``C`` with unit
stride and no reduction, so LLVM vectorises it without ``fastmath``. Each output
element is then summed in a fixed order (increasing ``k``), one rounding per multiply
and per add, whatever the SIMD width (tests compare bit for bit with numpy's
same-order float32 loops). ``dX = dY W^T`` would be a
dot product of two rows (a reduction, which only vectorises with ``fastmath``
reassociation, and then rounds differently with the compilation context);
transposing ``W`` into scratch first was both faster and reproducible.

Variants that compute the same values, for speed: the ReLU fused into the forward
product (:func:`dense_forward_relu`) and its derivative into the ``dX`` product
(:func:`dense_backward_input_relu`), and, for layers with few outputs, the forward
product and ``dW`` computed transposed (:func:`dense_forward_transposed`,
:func:`dense_backward_params_transposed`) so the vectorised loop is long. Each output
element is still the same sum in the same order, so the bits do not change.
"""

import math

import numpy as np
from numba import njit

from dynet.kernels.rng import next_double

# --------------------------------------------------------------------------- dense


@njit(cache=True, inline="always")
def _s(S, col, i, p):
    return S[p, i] if col else S[i, p]


# What a product does to each block of finished output rows while they are still in L1
# (accumulate_product_then): nothing, ``R = max(O, 0)`` (a ReLU layer's activations), or
# ``O = O if R > 0 else 0`` (the ReLU derivative, ``R`` the layer's pre-activations).
THEN_NOTHING = 0
THEN_RELU = 1
THEN_RELU_MASK = 2


@njit(cache=True, inline="always")
def _finish_rows(O, R, then, i0, i1):
    """Apply ``then`` to the output rows ``i0 <= i < i1`` (see :data:`THEN_RELU`)."""
    if then == THEN_RELU:
        for i in range(i0, i1):  # one row per loop: few pointers, so the loop vectorises
            o = O[i]
            r = R[i]
            for j in range(o.shape[0]):
                q = o[j]
                r[j] = q if q > 0.0 else 0.0
    elif then == THEN_RELU_MASK:
        for i in range(i0, i1):
            o = O[i]
            r = R[i]
            for j in range(o.shape[0]):
                g = o[j]  # loaded unconditionally: a select, not an unpredictable branch
                o[j] = g if r[j] > 0.0 else 0.0


@njit(cache=True)
def accumulate_product_then(S, col, V, O, then, R):
    """``O[i, :] += sum_p S(i, p) V[p, :]`` for every row ``i``, ``p`` increasing, then ``then``.

    ``S(i, p)`` is ``S[i, p]`` (``col=False``) or ``S[p, i]`` (``col=True``). The caller
    initialises ``O`` (zeros or the bias). Four output rows share each loaded row of
    ``V`` and the reduction is unrolled four times, ``o = o + a0 t0 + a1 t1 + a2 t2 +
    a3 t3`` evaluated left to right: the same order and roundings as adding one term
    at a time, with a quarter of the loads and stores of the accumulator rows.
    Each block of finished rows then gets ``then`` (:data:`THEN_NOTHING`,
    :data:`THEN_RELU` writing ``R``, :data:`THEN_RELU_MASK` reading ``R``, which has
    ``O``'s shape; pass ``O`` itself with ``THEN_NOTHING``) while it is in L1: the same
    values as a separate elementwise pass afterwards.
    """
    n_out = O.shape[0]
    n_red = V.shape[0]
    width = V.shape[1]
    i = 0
    while i + 4 <= n_out:
        o0 = O[i]
        o1 = O[i + 1]
        o2 = O[i + 2]
        o3 = O[i + 3]
        p = 0
        while p + 4 <= n_red:
            v0 = V[p]
            v1 = V[p + 1]
            v2 = V[p + 2]
            v3 = V[p + 3]
            a0, a1, a2, a3 = _s(S, col, i, p), _s(S, col, i, p + 1), _s(S, col, i, p + 2), _s(S, col, i, p + 3)
            b0, b1, b2, b3 = (
                _s(S, col, i + 1, p),
                _s(S, col, i + 1, p + 1),
                _s(S, col, i + 1, p + 2),
                _s(S, col, i + 1, p + 3),
            )
            c0, c1, c2, c3 = (
                _s(S, col, i + 2, p),
                _s(S, col, i + 2, p + 1),
                _s(S, col, i + 2, p + 2),
                _s(S, col, i + 2, p + 3),
            )
            d0, d1, d2, d3 = (
                _s(S, col, i + 3, p),
                _s(S, col, i + 3, p + 1),
                _s(S, col, i + 3, p + 2),
                _s(S, col, i + 3, p + 3),
            )
            for j in range(width):
                t0 = v0[j]
                t1 = v1[j]
                t2 = v2[j]
                t3 = v3[j]
                o0[j] = o0[j] + a0 * t0 + a1 * t1 + a2 * t2 + a3 * t3
                o1[j] = o1[j] + b0 * t0 + b1 * t1 + b2 * t2 + b3 * t3
                o2[j] = o2[j] + c0 * t0 + c1 * t1 + c2 * t2 + c3 * t3
                o3[j] = o3[j] + d0 * t0 + d1 * t1 + d2 * t2 + d3 * t3
            p += 4
        while p < n_red:
            v0 = V[p]
            a0, b0, c0, d0 = _s(S, col, i, p), _s(S, col, i + 1, p), _s(S, col, i + 2, p), _s(S, col, i + 3, p)
            for j in range(width):
                t0 = v0[j]
                o0[j] = o0[j] + a0 * t0
                o1[j] = o1[j] + b0 * t0
                o2[j] = o2[j] + c0 * t0
                o3[j] = o3[j] + d0 * t0
            p += 1
        _finish_rows(O, R, then, i, i + 4)
        i += 4
    while i < n_out:
        o0 = O[i]
        p = 0
        while p + 4 <= n_red:
            v0 = V[p]
            v1 = V[p + 1]
            v2 = V[p + 2]
            v3 = V[p + 3]
            a0, a1, a2, a3 = _s(S, col, i, p), _s(S, col, i, p + 1), _s(S, col, i, p + 2), _s(S, col, i, p + 3)
            for j in range(width):
                o0[j] = o0[j] + a0 * v0[j] + a1 * v1[j] + a2 * v2[j] + a3 * v3[j]
            p += 4
        while p < n_red:
            v0 = V[p]
            a0 = _s(S, col, i, p)
            for j in range(width):
                o0[j] = o0[j] + a0 * v0[j]
            p += 1
        _finish_rows(O, R, then, i, i + 1)
        i += 1


@njit(cache=True)
def accumulate_product(S, col, V, O):
    """:func:`accumulate_product_then` with nothing after: ``O[i, :] += sum_p S(i, p) V[p, :]``."""
    accumulate_product_then(S, col, V, O, THEN_NOTHING, O)


@njit(cache=True)
def dense_forward(X, W, b, Y):
    """``Y = X W + b``: ``Y[n, j] = b[j] + sum_k X[n, k] W[k, j]``.

    Shapes: ``X (N, K)``, ``W (K, J)``, ``b (J,)``, ``Y (N, J)``. Each ``Y[n, j]`` is
    summed over ``k`` in increasing order, starting from ``b[j]``
    (:func:`accumulate_product`).

    Parameters
    ----------
    X : ndarray of float32 (or float64), shape (N, K)
        Inputs.
    W : ndarray of float32 (or float64), shape (K, J)
    b : ndarray of float32 (or float64), shape (J,)
    Y : ndarray of float32 (or float64), shape (N, J)
        Written.
    """
    for n in range(Y.shape[0]):
        Y[n, :] = b
    accumulate_product(X, False, W, Y)


@njit(cache=True)
def dense_forward_relu(X, W, b, Z, A):
    """:func:`dense_forward` ``Z = X W + b`` and a ReLU layer's activations ``A = max(Z, 0)``.

    The ReLU is applied to each block of rows of ``Z`` as soon as it is complete: the
    values of :func:`dense_forward` followed by ``dynet.train.activations.relu``.

    Parameters
    ----------
    X : ndarray of float32 (or float64), shape (N, K)
    W : ndarray of float32 (or float64), shape (K, J)
    b : ndarray of float32 (or float64), shape (J,)
    Z, A : ndarray of float32 (or float64), shape (N, J)
        Pre-activations and activations, written.
    """
    for n in range(Z.shape[0]):
        Z[n, :] = b
    accumulate_product_then(X, False, W, Z, THEN_RELU, A)


@njit(cache=True)
def dense_forward_transposed(W, Xt, b, Zt):
    """``Zt = (X W + b)^T`` from ``Xt = X^T``: ``Zt[j, n] = b[j] + sum_k W[k, j] Xt[k, n]``.

    The same sums in the same order as :func:`dense_forward` (``W[k, j] X[n, k]`` is the
    same product as ``X[n, k] W[k, j]``), for a narrow layer: the vectorised inner loop
    runs over the ``N`` rows instead of the ``J`` outputs.
    Shapes: ``W (K, J)``, ``Xt (K, N)``, ``b (J,)``, ``Zt (J, N)``.

    Parameters
    ----------
    W : ndarray of float32 (or float64), shape (K, J)
    Xt : ndarray of float32 (or float64), shape (K, N)
    b : ndarray of float32 (or float64), shape (J,)
    Zt : ndarray of float32 (or float64), shape (J, N)
        Written.
    """
    for j in range(Zt.shape[0]):
        Zt[j, :] = b[j]
    accumulate_product(W, True, Xt, Zt)


@njit(cache=True)
def _column_sums(dY, db):
    """``db[j] = sum_n dY[n, j]``, ``n`` increasing."""
    n_out = dY.shape[1]
    for j in range(n_out):
        db[j] = 0.0
    for n in range(dY.shape[0]):
        g = dY[n]
        for j in range(n_out):
            db[j] += g[j]


@njit(cache=True)
def dense_backward_params(X, dY, dW, db):
    """``dW = X^T dY`` and ``db = sum_n dY[n]``.

    ``dW[k, j] = sum_n X[n, k] dY[n, j]``, summed over ``n`` in increasing order
    (:func:`accumulate_product`); ``db[j] = sum_n dY[n, j]``.
    Shapes: ``X (N, K)``, ``dY (N, J)``, ``dW (K, J)``, ``db (J,)``.

    Parameters
    ----------
    X : ndarray of float32 (or float64), shape (N, K)
    dY : ndarray of float32 (or float64), shape (N, J)
    dW : ndarray of float32 (or float64), shape (K, J)
        Written (not accumulated).
    db : ndarray of float32 (or float64), shape (J,)
        Written.
    """
    dW[:, :] = 0.0
    accumulate_product(X, True, dY, dW)
    _column_sums(dY, db)


@njit(cache=True)
def dense_backward_params_transposed(X, dY, dWt, db):
    """:func:`dense_backward_params` with ``dWt = dW^T = dY^T X`` written instead of ``dW``.

    ``dWt[j, k] = sum_n dY[n, j] X[n, k]``: the same sums in the same order, for a narrow
    layer (the inner loop runs over the ``K`` inputs instead of the ``J`` outputs).
    Shapes: ``X (N, K)``, ``dY (N, J)``, ``dWt (J, K)``, ``db (J,)``.

    Parameters
    ----------
    X : ndarray of float32 (or float64), shape (N, K)
    dY : ndarray of float32 (or float64), shape (N, J)
    dWt : ndarray of float32 (or float64), shape (J, K)
        ``dW^T``, written.
    db : ndarray of float32 (or float64), shape (J,)
        Written.
    """
    dWt[:, :] = 0.0
    accumulate_product(dY, True, X, dWt)
    _column_sums(dY, db)


@njit(cache=True)
def transpose_into(W, Wt):
    """``Wt[j, k] = W[k, j]`` (``W (K, J)``, ``Wt (J, K)``), in 8 x 8 blocks that stay in cache.

    The blocks' loops have constant trip counts, so LLVM unrolls them; the last ``J mod 8``
    rows and ``K mod 8`` columns of ``Wt`` follow element by element.

    Parameters
    ----------
    W : ndarray of float32 (or float64), shape (K, J)
    Wt : ndarray of float32 (or float64), shape (J, K)
        Written.
    """
    n_k, n_j = W.shape
    k_blocks = n_k - n_k % 8
    j_blocks = n_j - n_j % 8
    for k0 in range(0, k_blocks, 8):
        for j0 in range(0, j_blocks, 8):
            for j in range(j0, j0 + 8):
                for k in range(k0, k0 + 8):
                    Wt[j, k] = W[k, j]
    for j in range(j_blocks, n_j):
        for k in range(k_blocks):
            Wt[j, k] = W[k, j]
    for k in range(k_blocks, n_k):
        for j in range(n_j):
            Wt[j, k] = W[k, j]


@njit(cache=True)
def dense_backward_input_transposed(dY, Wt, dX):
    """``dX = dY Wt`` with ``Wt = W^T`` given: ``dX[n, k] = sum_j dY[n, j] Wt[j, k]``.

    Each ``dX[n, k]`` is summed over ``j`` in increasing order
    (:func:`accumulate_product`). Shapes: ``dY (N, J)``, ``Wt (J, K)``, ``dX (N, K)``.

    Parameters
    ----------
    dY : ndarray of float32 (or float64), shape (N, J)
    Wt : ndarray of float32 (or float64), shape (J, K)
    dX : ndarray of float32 (or float64), shape (N, K)
        Written.
    """
    dX[:, :] = 0.0
    accumulate_product(dY, False, Wt, dX)


@njit(cache=True)
def dense_backward_input_relu(dY, Wt, Z, dX):
    """:func:`dense_backward_input_transposed` through the ReLU below: ``dX = dY Wt`` where ``Z > 0``, else 0.

    ``Z (N, K)`` are the pre-activations of the ReLU layer that produced this layer's
    input: the values of ``dense_backward_input_transposed`` followed by
    ``dynet.train.activations.relu_backward``, with the mask applied to each block of
    rows while it is in cache.

    Parameters
    ----------
    dY : ndarray of float32 (or float64), shape (N, J)
    Wt : ndarray of float32 (or float64), shape (J, K)
    Z : ndarray of float32 (or float64), shape (N, K)
        The layer below's pre-activations (its ReLU's input).
    dX : ndarray of float32 (or float64), shape (N, K)
        Written.
    """
    dX[:, :] = 0.0
    accumulate_product_then(dY, False, Wt, dX, THEN_RELU_MASK, Z)


@njit(cache=True)
def dense_backward_input(dY, W, dX):
    """``dX = dY W^T``: ``dX[n, k] = sum_j dY[n, j] W[k, j]``.

    Copies ``W`` into a transposed scratch array (``K J`` work, against ``N K J`` for the
    product) and calls :func:`dense_backward_input_transposed`, so the inner loop is
    again reduction-free. Shapes: ``dY (N, J)``, ``W (K, J)``, ``dX (N, K)``.
    """
    Wt = np.empty((W.shape[1], W.shape[0]), W.dtype)
    transpose_into(W, Wt)
    dense_backward_input_transposed(dY, Wt, dX)


@njit(cache=True)
def dense_backward(X, W, dY, dW, db, dX):
    """All three gradients of ``Y = X W + b``: ``dW = X^T dY``, ``db = sum_n dY``, ``dX = dY W^T``.

    A network's first layer needs no ``dX``: call :func:`dense_backward_params` alone.
    """
    dense_backward_params(X, dY, dW, db)
    dense_backward_input(dY, W, dX)


# --------------------------------------------------------------------------- dropout


@njit(cache=True)
def dropout_mask(rng_state, p, mask):
    """Bernoulli keep-mask: ``mask[i, j] = 1`` (keep) with probability ``1 - p``, else 0.

    One ``next_double`` per element in row-major order, kept when ``u >= p``, so the
    stream advances by exactly ``mask.size`` draws whatever ``p`` is.
    """
    for i in range(mask.shape[0]):
        for j in range(mask.shape[1]):
            mask[i, j] = 1 if next_double(rng_state) >= p else 0


@njit(cache=True)
def _dropout_scale(p, inverted, training):
    if training:
        if not inverted:
            return 1.0
        return 1.0 / (1.0 - p) if p < 1.0 else 0.0
    return 1.0 if inverted else 1.0 - p


@njit(cache=True)
def dropout_forward(x, mask, p, inverted, training, out):
    """Dropout with drop probability ``p`` and a keep-``mask`` (nonzero = keep).

    ==========  =========================================  =======================
    variant     training                                   evaluation
    ==========  =========================================  =======================
    inverted    ``out = x * mask / (1 - p)`` (0 if p = 1)   ``out = x``
    classic     ``out = x * mask``                         ``out = x * (1 - p)``
    ==========  =========================================  =======================

    Both keep ``E[out]`` in training equal to ``out`` at evaluation. ``mask`` is not
    read when ``training`` is false. ``out`` may be ``x``.
    """
    scale = _dropout_scale(p, inverted, training)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            if training and mask[i, j] == 0:
                out[i, j] = 0.0
            else:
                out[i, j] = x[i, j] * scale


@njit(cache=True)
def dropout_forward_sample(x, p, inverted, training, rng_state, mask, out):
    """:func:`dropout_forward` with a fresh mask: in training, first :func:`dropout_mask`.

    The mask drawn from ``rng_state`` is left in ``mask`` for :func:`dropout_backward`.
    At evaluation nothing is drawn and ``mask`` is neither read nor written.

    Parameters
    ----------
    x : ndarray of float32 (or float64), shape (N, F)
    p : float
        Drop probability.
    inverted, training : bool
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state, advanced in training.
    mask : ndarray of float32 (or float64), shape (N, F)
        Written in training.
    out : ndarray of float32 (or float64), shape (N, F)
        Written; may be ``x``.
    """
    if training:
        dropout_mask(rng_state, p, mask)
    dropout_forward(x, mask, p, inverted, training, out)


@njit(cache=True)
def dropout_backward(grad_out, mask, p, inverted, training, grad_in):
    """``grad_in = dL/dx`` for :func:`dropout_forward`: ``grad_out`` times the same mask and scale.

    Parameters
    ----------
    grad_out : ndarray of float32 (or float64), shape (N, F)
    mask : ndarray of float32 (or float64), shape (N, F)
    p : float
    inverted, training : bool
    grad_in : ndarray of float32 (or float64), shape (N, F)
        Written; may be ``grad_out``.
    """
    dropout_forward(grad_out, mask, p, inverted, training, grad_in)


# --------------------------------------------------------------------------- batch norm


@njit(cache=True)
def batchnorm_forward_train(x, gamma, beta, running_mean, running_var, momentum, eps, out, xhat, inv_std):
    """Batch normalisation in training mode, with ``torch.nn.BatchNorm1d`` semantics.

    Per feature ``f`` over the ``N`` rows of ``x (N, F)``:
    ``mu_f = (1/N) sum_n x[n, f]``, ``var_f = (1/N) sum_n (x[n, f] - mu_f)^2`` (biased),
    ``inv_std[f] = 1 / sqrt(var_f + eps)``, ``xhat = (x - mu) inv_std``,
    ``out = gamma xhat + beta``. The running statistics are updated in place with the
    *unbiased* variance: ``running_mean = (1 - momentum) running_mean + momentum mu``,
    ``running_var = (1 - momentum) running_var + momentum var N / (N - 1)``
    (PyTorch defaults: ``momentum = 0.1``, ``eps = 1e-5``). ``xhat (N, F)`` and
    ``inv_std (F,)`` are saved for :func:`batchnorm_backward`. ``N < 2`` raises
    ``ValueError``, as in PyTorch. ``out`` may be ``x``.

    Parameters
    ----------
    x : ndarray of float32 (or float64), shape (N, F)
    gamma, beta : ndarray of float32 (or float64), shape (F,)
    running_mean, running_var : ndarray of float32 (or float64), shape (F,)
        Updated in place.
    momentum, eps : float
    out, xhat : ndarray of float32 (or float64), shape (N, F)
        Written (``out`` may be ``x``).
    inv_std : ndarray of float32 (or float64), shape (F,)
        Written.
    """
    n_rows, n_feat = x.shape
    if n_rows < 2:
        raise ValueError("batch norm in training needs more than 1 value per feature")
    mean = np.zeros(n_feat, np.float64)
    var = np.zeros(n_feat, np.float64)
    for n in range(n_rows):
        for f in range(n_feat):
            mean[f] += x[n, f]
    for f in range(n_feat):
        mean[f] /= n_rows
    for n in range(n_rows):
        for f in range(n_feat):
            d = x[n, f] - mean[f]
            var[f] += d * d
    for f in range(n_feat):
        var[f] /= n_rows
        inv_std[f] = 1.0 / math.sqrt(var[f] + eps)
    for n in range(n_rows):
        for f in range(n_feat):
            xh = (x[n, f] - mean[f]) * inv_std[f]
            xhat[n, f] = xh
            out[n, f] = gamma[f] * xh + beta[f]
    unbias = n_rows / (n_rows - 1.0)
    for f in range(n_feat):
        running_mean[f] = (1.0 - momentum) * running_mean[f] + momentum * mean[f]
        running_var[f] = (1.0 - momentum) * running_var[f] + momentum * var[f] * unbias


@njit(cache=True)
def batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, eps, out):
    """Batch normalisation in evaluation mode: the running statistics replace the batch's.

    ``out[n, f] = gamma[f] (x[n, f] - running_mean[f]) / sqrt(running_var[f] + eps) + beta[f]``.

    Parameters
    ----------
    x : ndarray of float32 (or float64), shape (N, F)
    gamma, beta, running_mean, running_var : ndarray of float32 (or float64), shape (F,)
    eps : float
    out : ndarray of float32 (or float64), shape (N, F)
        Written; may be ``x``.
    """
    n_rows, n_feat = x.shape
    for n in range(n_rows):
        for f in range(n_feat):
            inv = 1.0 / math.sqrt(running_var[f] + eps)
            out[n, f] = gamma[f] * (x[n, f] - running_mean[f]) * inv + beta[f]


@njit(cache=True)
def batchnorm_backward(grad_out, xhat, gamma, inv_std, grad_in, dgamma, dbeta):
    """Backward of :func:`batchnorm_forward_train` from its saved ``xhat`` and ``inv_std``.

    With ``g = dL/d out``: ``dbeta[f] = sum_n g[n, f]``,
    ``dgamma[f] = sum_n g[n, f] xhat[n, f]`` and
    ``grad_in[n, f] = gamma[f] inv_std[f] / N * (N g[n, f] - dbeta[f] - xhat[n, f] dgamma[f])``
    (the batch mean and variance depend on ``x``, hence the two correction terms).
    ``grad_in`` may be ``grad_out``.

    Parameters
    ----------
    grad_out, xhat : ndarray of float32 (or float64), shape (N, F)
    gamma, inv_std : ndarray of float32 (or float64), shape (F,)
    grad_in : ndarray of float32 (or float64), shape (N, F)
        Written; may be ``grad_out``.
    dgamma, dbeta : ndarray of float32 (or float64), shape (F,)
        Written.
    """
    n_rows, n_feat = grad_out.shape
    sum_g = np.zeros(n_feat, np.float64)
    sum_gx = np.zeros(n_feat, np.float64)
    for n in range(n_rows):
        for f in range(n_feat):
            g = grad_out[n, f]
            sum_g[f] += g
            sum_gx[f] += g * xhat[n, f]
    for f in range(n_feat):
        dbeta[f] = sum_g[f]
        dgamma[f] = sum_gx[f]
    for n in range(n_rows):
        for f in range(n_feat):
            k = gamma[f] * inv_std[f] / n_rows
            grad_in[n, f] = k * (n_rows * grad_out[n, f] - sum_g[f] - xhat[n, f] * sum_gx[f])
