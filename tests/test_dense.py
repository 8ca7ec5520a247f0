"""Dense layer, dropout and batch-norm kernels in dynet.train.dense.

Matrix products are compared with numpy in float64 and, for float32 inputs, within
the standard a-priori bound for a length-``K`` dot product accumulated in float32:
``|fl(sum) - sum| <= gamma_K sum |terms|`` with ``gamma_K = K u / (1 - K u)``,
``u = eps32 / 2`` (Higham, *Accuracy and Stability of Numerical Algorithms*, 3.1).
Gradients are checked against central finite differences in float64 of
``L = sum(w * output)`` for a fixed random ``w``.

The products sum each output in a fixed order (no fastmath), so they are also compared
bit for bit with the plain ``i-k-j`` loop (numpy row operations in the same order): the
plain products, the ReLU-fused and the transposed (narrow-layer) variants, on shapes with
row and reduction remainders. ``kernels.feedforward``'s forward and backward passes, which
choose among those variants by shape, are compared bit for bit with the plain kernels
called one by one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from peers import require

from dynet.kernels import rng as R
from dynet.train import dense as D

EPS64 = np.finfo(np.float64).eps
EPS32 = float(np.finfo(np.float32).eps)


def gamma(k, eps):
    u = eps / 2
    return k * u / (1 - k * u)


def layer(rng, n=7, k=5, j=4, dtype=np.float64):
    X = rng.normal(size=(n, k)).astype(dtype)
    W = rng.normal(size=(k, j)).astype(dtype)
    b = rng.normal(size=j).astype(dtype)
    return X, W, b


def forward(X, W, b):
    Y = np.full((X.shape[0], W.shape[1]), np.nan, X.dtype)  # outputs are overwritten
    D.dense_forward(X, W, b, Y)
    return Y


def grads(X, W, dY):
    dW = np.full(W.shape, np.nan, X.dtype)
    db = np.full(W.shape[1], np.nan, X.dtype)
    dX = np.full(X.shape, np.nan, X.dtype)
    D.dense_backward(X, W, dY, dW, db, dX)
    return dW, db, dX


# --------------------------------------------------------------------------- dense


def test_dense_against_numpy_float64():
    rng = np.random.default_rng(20)
    X, W, b = layer(rng)
    dY = rng.normal(size=(7, 4))
    np.testing.assert_allclose(forward(X, W, b), X @ W + b, rtol=1e-13, atol=1e-13)
    dW, db, dX = grads(X, W, dY)
    np.testing.assert_allclose(dW, X.T @ dY, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(db, dY.sum(axis=0), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dX, dY @ W.T, rtol=1e-13, atol=1e-13)


def test_dense_float32_within_rounding_bound():
    rng = np.random.default_rng(21)
    X, W, b = layer(rng, n=16, k=300, j=70, dtype=np.float32)
    dY = rng.normal(size=(16, 70)).astype(np.float32)
    X64, W64, b64, dY64 = (a.astype(np.float64) for a in (X, W, b, dY))
    Y = forward(X, W, b)
    assert Y.dtype == np.float32
    # K + 1 terms (bias first), plus the final rounding to float32
    bound = gamma(301, EPS32) * (np.abs(X64) @ np.abs(W64) + np.abs(b64)) + EPS32 * np.abs(X64 @ W64 + b64)
    assert (np.abs(Y - (X64 @ W64 + b64)) <= bound).all()
    dW, db, dX = grads(X, W, dY)
    assert (np.abs(dW - X64.T @ dY64) <= gamma(16, EPS32) * (np.abs(X64.T) @ np.abs(dY64))).all()
    assert (np.abs(db - dY64.sum(axis=0)) <= gamma(16, EPS32) * np.abs(dY64).sum(axis=0)).all()
    assert (np.abs(dX - dY64 @ W64.T) <= gamma(70, EPS32) * (np.abs(dY64) @ np.abs(W64.T))).all()


def test_dense_float32_sums_in_a_fixed_order():
    # No fastmath: each output is the float32 sum in increasing k (j for dX), one rounding
    # per multiply and per add, whatever the SIMD width. numpy's row operations do the same.
    rng = np.random.default_rng(28)
    X, W, b = layer(rng, n=9, k=37, j=19, dtype=np.float32)
    dY = rng.normal(size=(9, 19)).astype(np.float32)
    Y = np.tile(b, (9, 1))
    for k in range(37):
        Y += X[:, k : k + 1] * W[k]
    assert np.array_equal(forward(X, W, b), Y)
    dW, db, dX = grads(X, W, dY)
    ref_dW = np.zeros_like(W)
    for n in range(9):
        ref_dW += X[n][:, None] * dY[n]
    ref_db = np.zeros_like(b)
    for n in range(9):
        ref_db += dY[n]
    ref_dX = np.zeros_like(X)
    for j in range(19):
        ref_dX += dY[:, j : j + 1] * W[:, j]
    assert np.array_equal(dW, ref_dW) and np.array_equal(db, ref_db) and np.array_equal(dX, ref_dX)


def test_dense_gradients_match_finite_differences():
    rng = np.random.default_rng(22)
    X, W, b = layer(rng, n=3, k=4, j=2)
    w = rng.normal(size=(3, 2))
    dW, db, dX = grads(X, W, w)  # dL/dY = w for L = sum(w * Y)
    # L is linear in each of X, W, b separately, so the central difference has no
    # truncation error and a large step keeps the rounding error (eps |L| / h) small.
    h = 1e-3

    def loss(X_, W_, b_):
        return math.fsum((w * forward(X_, W_, b_)).ravel())

    for arr, analytic in ((X, dX), (W, dW), (b, db)):
        for idx in np.ndindex(arr.shape):
            orig = arr[idx]
            arr[idx] = orig + h
            lp = loss(X, W, b)
            arr[idx] = orig - h
            lm = loss(X, W, b)
            arr[idx] = orig
            assert analytic[idx] == pytest.approx((lp - lm) / (2 * h), rel=1e-9, abs=1e-10)


def test_dense_backward_parts_and_first_layer():
    rng = np.random.default_rng(23)
    X, W, b = layer(rng, dtype=np.float32)
    dY = rng.normal(size=(7, 4)).astype(np.float32)
    dW, db, dX = grads(X, W, dY)
    dW2, db2 = np.empty_like(W), np.empty_like(b)
    D.dense_backward_params(X, dY, dW2, db2)
    dX2 = np.empty_like(X)
    D.dense_backward_input(dY, W, dX2)
    assert np.array_equal(dW, dW2) and np.array_equal(db, db2) and np.array_equal(dX, dX2)


def test_dense_zero_width_output():
    X = np.ones((3, 2), np.float32)
    W = np.ones((2, 0), np.float32)
    dX = np.full((3, 2), np.nan, np.float32)
    D.dense_backward_input(np.ones((3, 0), np.float32), W, dX)
    assert (dX == 0).all()
    assert forward(X, W, np.ones(0, np.float32)).shape == (3, 0)


def same_bits(a, b):
    """Bitwise equality (tells -0.0 from 0.0, unlike ==)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def ikj(S, V, init):
    """The plain i-k-j product ``O[i, :] = init[i, :] + sum_p S[i, p] V[p, :]``, one term at a time
    in increasing ``p``, each multiply and add rounded to the dtype (numpy row operations)."""
    out = init.copy()
    for p in range(S.shape[1]):
        out += S[:, p : p + 1] * V[p]
    return out


def relu_ref(z):
    return np.where(z > 0, z, np.zeros_like(z))


# Awkward shapes: 11 rows = two 4-row blocks + 3, a reduction of 38 = nine 4-term steps + 2,
# outputs 19 (wide) and 5 (narrow, the transposed kernels' case); inputs with exact zeros and
# negatives, so the ReLU and its mask see all three cases.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_and_transposed_products_sum_in_the_plain_order(dtype):
    rng = np.random.default_rng(29)
    n, k = 11, 38
    X = rng.normal(size=(n, k)).astype(dtype)
    X[X < -1.0] = 0.0
    for j in (19, 5):
        W = rng.normal(size=(k, j)).astype(dtype)
        b = rng.normal(size=j).astype(dtype)
        dY = rng.normal(size=(n, j)).astype(dtype)
        Zprev = rng.normal(size=(n, k)).astype(dtype)
        Zprev[:, ::5] = 0.0
        Z_ref = ikj(X, W, np.tile(b, (n, 1)))

        Z, A = np.full((n, j), np.nan, dtype), np.full((n, j), np.nan, dtype)
        D.dense_forward_relu(X, W, b, Z, A)
        assert same_bits(Z, Z_ref) and same_bits(A, relu_ref(Z_ref))

        Zt = np.full((j, n), np.nan, dtype)
        D.dense_forward_transposed(W, np.ascontiguousarray(X.T), b, Zt)
        assert same_bits(Zt, np.ascontiguousarray(Z_ref.T))

        dWt, db = np.full((j, k), np.nan, dtype), np.full(j, np.nan, dtype)
        D.dense_backward_params_transposed(X, dY, dWt, db)
        dW_ref = ikj(np.ascontiguousarray(X.T), dY, np.zeros((k, j), dtype))
        assert same_bits(dWt, np.ascontiguousarray(dW_ref.T))
        assert same_bits(db, ikj(np.ones((1, n), dtype), dY, np.zeros((1, j), dtype))[0])

        Wt = np.full((j, k), np.nan, dtype)
        D.transpose_into(W, Wt)
        assert same_bits(Wt, np.ascontiguousarray(W.T))
        dX = np.full((n, k), np.nan, dtype)
        D.dense_backward_input_relu(dY, Wt, Zprev, dX)
        dX_ref = ikj(dY, Wt, np.zeros((n, k), dtype))
        assert same_bits(dX, np.where(Zprev > 0, dX_ref, np.zeros_like(dX_ref)))
        assert (dX == 0).any() and (dX != 0).any()


@pytest.mark.parametrize("shape", [(37, 19), (19, 37), (24, 16), (5, 40), (8, 8)])
def test_transpose_into_blocks_and_tails(shape):
    W = np.arange(shape[0] * shape[1], dtype=np.float32).reshape(shape)
    Wt = np.full(shape[::-1], np.nan, np.float32)
    D.transpose_into(W, Wt)
    assert np.array_equal(Wt, W.T)


def test_network_passes_equal_the_plain_kernels():
    # kernels.feedforward picks faster kernels by shape: the ReLU fused into the products,
    # a narrow layer (fewer than 16 outputs, at least 16 rows / inputs) computed transposed.
    # Its forward and backward must give exactly what the plain kernels give one by one.
    # float64, the signature the gradient tests of test_feedforward compile anyway; the
    # products are checked in both dtypes above.
    from test_feedforward import Net

    from dynet.models.feedforward import kernels as K
    from dynet.train import activations as A

    dtype = np.float64
    sizes, rows = [20, 24, 12, 5], 18  # layer 1: narrow hidden layer; layer 2: narrow output
    assert K._narrow(12, rows) and K._narrow(5, rows) and K._narrow(12, 24)  # the transposed paths run
    net = Net(sizes, rows, "relu", dtype=dtype)
    rng = np.random.default_rng(30)
    x = rng.normal(size=(rows, sizes[0])).astype(dtype)
    params = rng.normal(0.0, 0.5, net.n_params).astype(dtype)
    state = R.seed_state(np.random.SeedSequence(30))
    out = net.forward(params, x, state)
    g_out = rng.normal(size=out.shape).astype(dtype)
    net.units(net.d, len(sizes) - 2)[:] = g_out
    grads = net.backward(params, x)

    n_layers = len(sizes) - 1
    Ws = [(params[w : w + a * c].reshape(a, c), params[bo : bo + c]) for a, c, w, bo, _ in net.layout]
    zs, acts, prev = [], [], x
    for l, (W, b) in enumerate(Ws):
        z = np.empty((rows, W.shape[1]), dtype)
        D.dense_forward(prev, W, b, z)
        a = z.copy()
        if l < n_layers - 1:
            A.relu(z, a, 0.0)
        zs.append(z)
        acts.append(a)
        prev = a
    for l in range(n_layers):
        assert same_bits(net.units(net.z, l), zs[l]) and same_bits(net.units(net.a, l), acts[l])
    ref = np.empty_like(grads)
    dz = g_out
    for l in range(n_layers - 1, -1, -1):
        n_in, n_out, w, bo, _ = net.layout[l]
        dW, db = ref[w : w + n_in * n_out].reshape(n_in, n_out), ref[bo : bo + n_out]
        D.dense_backward_params(x if l == 0 else acts[l - 1], dz, dW, db)
        if l > 0:
            da = np.empty((rows, n_in), dtype)
            D.dense_backward_input(dz, Ws[l][0], da)
            A.relu_backward(zs[l - 1], acts[l - 1], da, da, 0.0)
            assert same_bits(net.units(net.d, l - 1), da)
            dz = da
    assert same_bits(grads, ref)


# --------------------------------------------------------------------------- dropout

P = 0.25
# two rows, three of four units kept in each: the kept fraction is exactly 1 - P
MASK = np.array([[1, 0, 1, 1], [1, 1, 1, 0]], np.uint8)
X_DROP = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, -2.0, -3.0, -4.0]])


def dropout(x, mask, inverted, training, p=P):
    out = np.full_like(x, np.nan)
    D.dropout_forward(x, mask, p, inverted, training, out)
    return out


def test_dropout_variants_by_hand():
    kept = X_DROP * MASK
    # inverted: scale the kept units by 1 / (1 - p) = 4/3 in training, identity at test
    np.testing.assert_allclose(dropout(X_DROP, MASK, True, True), kept * 4 / 3, rtol=4 * EPS64)
    assert np.array_equal(dropout(X_DROP, MASK, True, False), X_DROP)
    # classic: no scaling in training, multiply by the keep probability 3/4 at test
    assert np.array_equal(dropout(X_DROP, MASK, False, True), kept)
    np.testing.assert_allclose(dropout(X_DROP, MASK, False, False), X_DROP * 0.75, rtol=4 * EPS64)


def test_dropout_expectations_match_between_train_and_test():
    # a constant input with a mask that keeps exactly 1 - p per row: the training row mean
    # equals the test-time row mean in both variants (which is what each scaling is for)
    x = np.full((2, 4), 2.0)
    for inverted in (True, False):
        train = dropout(x, MASK, inverted, True).mean(axis=1)
        test = dropout(x, MASK, inverted, False).mean(axis=1)
        np.testing.assert_allclose(train, test, rtol=4 * EPS64)
    assert dropout(x, MASK, True, False).mean() == 2.0  # inverted: test output is the input
    assert dropout(x, MASK, False, False).mean() == 1.5  # classic: 2 * (1 - p)


@pytest.mark.parametrize("inverted", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_dropout_backward_is_the_transpose(inverted, training):
    rng = np.random.default_rng(24)
    g = rng.normal(size=X_DROP.shape)
    grad_in = np.empty_like(g)
    D.dropout_backward(g, MASK, P, inverted, training, grad_in)
    # dropout is linear in x for a fixed mask (and diagonal): grad_in = dropout(g)
    assert np.array_equal(grad_in, dropout(g, MASK, inverted, training))
    lhs = np.sum(dropout(X_DROP, MASK, inverted, training) * g)
    assert lhs == pytest.approx(np.sum(X_DROP * grad_in), rel=1e-14)


def test_dropout_eval_ignores_mask_and_edge_probabilities():
    empty = np.empty((0, 0), np.uint8)
    assert np.array_equal(dropout(X_DROP, empty, True, False), X_DROP)
    assert (dropout(X_DROP, MASK, True, True, p=1.0) == 0).all()  # not 0 * inf
    ones = np.ones_like(MASK)
    assert np.array_equal(dropout(X_DROP, ones, True, True, p=0.0), X_DROP)


def test_dropout_mask_keep_rate():
    state = R.seed_state(np.random.SeedSequence(2024))
    mask = np.empty((200, 500), np.uint8)
    p = 0.3
    D.dropout_mask(state, p, mask)
    n = mask.size
    kept = int(mask.sum())
    assert set(np.unique(mask).tolist()) == {0, 1}
    # kept ~ Binomial(n, 1 - p): within 5 standard deviations
    assert abs(kept - n * (1 - p)) <= 5 * math.sqrt(n * p * (1 - p))
    # each row and each column is drawn too (no stuck stripes): row rates within 6 sd
    rows = mask.mean(axis=1)
    assert np.abs(rows - (1 - p)).max() <= 6 * math.sqrt(p * (1 - p) / 500)


def test_dropout_mask_uses_one_draw_per_element_in_row_major_order():
    state = R.seed_state(np.random.SeedSequence(7))
    ref = state.copy()
    mask = np.empty((3, 5), np.bool_)
    D.dropout_mask(state, 0.5, mask)
    draws = np.array([R.next_double(ref) for _ in range(15)]).reshape(3, 5)
    assert np.array_equal(mask, draws >= 0.5)
    assert np.array_equal(state, ref)  # advanced by exactly mask.size draws
    D.dropout_mask(state, 0.0, mask)
    assert mask.all()


def test_dropout_forward_sample_draws_then_applies():
    x = np.arange(12.0).reshape(3, 4)
    state = R.seed_state(np.random.SeedSequence(9))
    ref = state.copy()
    mask = np.empty((3, 4), np.uint8)
    out = np.empty_like(x)
    D.dropout_forward_sample(x, 0.5, True, True, state, mask, out)
    ref_mask = np.empty_like(mask)
    D.dropout_mask(ref, 0.5, ref_mask)
    assert np.array_equal(mask, ref_mask) and np.array_equal(state, ref)
    assert np.array_equal(out, x * ref_mask * 2.0)
    # evaluation draws nothing and leaves the mask alone
    D.dropout_forward_sample(x, 0.5, True, False, state, mask, out)
    assert np.array_equal(state, ref) and np.array_equal(mask, ref_mask)
    assert np.array_equal(out, x)


# --------------------------------------------------------------------------- batch norm

BN_X = np.array([[1.0, 0.0], [3.0, 0.0], [5.0, 6.0]])
BN_GAMMA = np.array([2.0, 0.5])
BN_BETA = np.array([0.5, -1.0])
BN_EPS = 1e-5


def bn_train(x, gamma, beta, rm=None, rv=None, momentum=0.1, eps=BN_EPS):
    n, f = x.shape
    rm = np.zeros(f, x.dtype) if rm is None else rm
    rv = np.ones(f, x.dtype) if rv is None else rv
    out = np.full_like(x, np.nan)
    xhat = np.full_like(x, np.nan)
    inv_std = np.full(f, np.nan, x.dtype)
    D.batchnorm_forward_train(x, gamma, beta, rm, rv, momentum, eps, out, xhat, inv_std)
    return out, xhat, inv_std, rm, rv


def bn_backward(g, xhat, gamma, inv_std):
    grad_in = np.full_like(g, np.nan)
    dgamma = np.full(g.shape[1], np.nan, g.dtype)
    dbeta = np.full(g.shape[1], np.nan, g.dtype)
    D.batchnorm_backward(g, xhat, gamma, inv_std, grad_in, dgamma, dbeta)
    return grad_in, dgamma, dbeta


def test_batchnorm_forward_by_hand():
    out, xhat, inv_std, rm, rv = bn_train(BN_X, BN_GAMMA, BN_BETA)
    # feature 0: [1, 3, 5], mean 3, biased var 8/3, unbiased 4
    # feature 1: [0, 0, 6], mean 2, biased var 8, unbiased 12
    s0, s1 = math.sqrt(8 / 3 + BN_EPS), math.sqrt(8 + BN_EPS)
    np.testing.assert_allclose(inv_std, [1 / s0, 1 / s1], rtol=4 * EPS64)
    np.testing.assert_allclose(xhat[:, 0], [-2 / s0, 0, 2 / s0], rtol=4 * EPS64)
    np.testing.assert_allclose(xhat[:, 1], [-2 / s1, -2 / s1, 4 / s1], rtol=4 * EPS64)
    np.testing.assert_allclose(out[:, 0], [0.5 - 4 / s0, 0.5, 0.5 + 4 / s0], rtol=4 * EPS64)
    np.testing.assert_allclose(out[:, 1], [-1 - 1 / s1, -1 - 1 / s1, -1 + 2 / s1], rtol=4 * EPS64)
    # running stats: momentum 0.1 from (0, 1), with the UNBIASED batch variance
    np.testing.assert_allclose(rm, [0.1 * 3, 0.1 * 2], rtol=4 * EPS64)
    np.testing.assert_allclose(rv, [0.9 + 0.1 * 4, 0.9 + 0.1 * 12], rtol=4 * EPS64)


def test_batchnorm_eval_uses_running_stats():
    rm = np.array([1.0, -2.0])
    rv = np.array([4.0, 0.25])
    out = np.full_like(BN_X, np.nan)
    D.batchnorm_forward_eval(BN_X, BN_GAMMA, BN_BETA, rm, rv, BN_EPS, out)
    s = np.sqrt(rv + BN_EPS)
    # e.g. out[0, 0] = 2 (1 - 1) / sqrt(4 + eps) + 0.5 = 0.5
    assert out[0, 0] == 0.5
    np.testing.assert_allclose(out, BN_GAMMA * (BN_X - rm) / s + BN_BETA, rtol=4 * EPS64)


def test_batchnorm_backward_against_explicit_jacobian():
    g = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.5]])
    _, xhat, inv_std, _, _ = bn_train(BN_X, BN_GAMMA, BN_BETA)
    grad_in, dgamma, dbeta = bn_backward(g, xhat, BN_GAMMA, inv_std)
    n = BN_X.shape[0]
    for f in range(2):
        # d out[i] / d x[m] = gamma inv_std (delta_im - 1/N - xhat_i xhat_m / N)
        jac = BN_GAMMA[f] * inv_std[f] * (np.eye(n) - 1 / n - np.outer(xhat[:, f], xhat[:, f]) / n)
        np.testing.assert_allclose(grad_in[:, f], g[:, f] @ jac, rtol=1e-13, atol=1e-15)
        assert dbeta[f] == pytest.approx(g[:, f].sum(), rel=4 * EPS64)
        assert dgamma[f] == pytest.approx(np.dot(g[:, f], xhat[:, f]), rel=4 * EPS64)
    # hand values, feature 0: dbeta = 1 + 0 - 1 = 0; dgamma = (1)(-2/s) + (-1)(2/s) = -4/s
    s0 = math.sqrt(8 / 3 + BN_EPS)
    assert dbeta[0] == 0.0 and dgamma[0] == pytest.approx(-4 / s0, rel=4 * EPS64)
    # the normalised output is invariant to shifting x, so grad_in sums to 0 per feature
    np.testing.assert_allclose(grad_in.sum(axis=0), 0.0, atol=1e-14)


def test_batchnorm_gradients_match_finite_differences():
    rng = np.random.default_rng(25)
    x = rng.normal(1.0, 2.0, size=(5, 3))
    gm = rng.normal(size=3)
    bt = rng.normal(size=3)
    w = rng.normal(size=(5, 3))
    _, xhat, inv_std, _, _ = bn_train(x, gm, bt)
    grad_in, dgamma, dbeta = bn_backward(w, xhat, gm, inv_std)
    h = 1e-6

    for arr, analytic in ((x, grad_in), (gm, dgamma), (bt, dbeta)):
        for idx in np.ndindex(arr.shape):
            orig = arr[idx]
            arr[idx] = orig + h
            tp = (w * bn_train(x, gm, bt)[0]).ravel()
            hp = arr[idx] - orig
            arr[idx] = orig - h
            tm = (w * bn_train(x, gm, bt)[0]).ravel()
            step = hp + (orig - arr[idx])  # the step actually taken
            arr[idx] = orig
            fd = math.fsum(np.concatenate([tp, -tm])) / step
            # rounding: a few ulps of each term over the step; truncation ~h^2 ~ 1e-12
            bound = 16 * EPS64 * (np.abs(tp).sum() + np.abs(tm).sum()) / step + 1e-8 * abs(fd)
            assert abs(analytic[idx] - fd) <= bound, (idx, analytic[idx], fd)


def test_batchnorm_float32():
    rng = np.random.default_rng(26)
    x = rng.normal(3.0, 2.0, size=(32, 6)).astype(np.float32)
    gm = rng.normal(size=6).astype(np.float32)
    bt = rng.normal(size=6).astype(np.float32)
    out32, xhat32, inv32, rm32, rv32 = bn_train(x, gm, bt)
    out64, xhat64, inv64, rm64, rv64 = bn_train(x.astype(np.float64), gm.astype(np.float64), bt.astype(np.float64))
    assert out32.dtype == np.float32 and rm32.dtype == np.float32
    # statistics are accumulated in float64; the results round inv_std to float32 (eps32/2)
    # and then a product and a sum: a few eps32 of the magnitudes involved
    scale = np.abs(gm * xhat64) + np.abs(bt)
    assert (np.abs(out32 - out64) <= 4 * EPS32 * scale).all()
    np.testing.assert_allclose(inv32, inv64, rtol=EPS32)
    np.testing.assert_allclose(rv32, rv64, rtol=4 * EPS32)
    np.testing.assert_allclose(rm32, rm64, rtol=4 * EPS32)


def test_batchnorm_in_place_output_and_single_row():
    out, _, _, _, _ = bn_train(BN_X, BN_GAMMA, BN_BETA)
    x = BN_X.copy()
    xhat = np.empty_like(x)
    D.batchnorm_forward_train(x, BN_GAMMA, BN_BETA, np.zeros(2), np.ones(2), 0.1, BN_EPS, x, xhat, np.empty(2))
    assert np.array_equal(x, out)
    with pytest.raises(ValueError):
        bn_train(BN_X[:1], BN_GAMMA, BN_BETA)


def test_batchnorm_against_torch():
    torch = require("torch")
    rng = np.random.default_rng(27)
    x = rng.normal(1.0, 3.0, size=(8, 4))
    gm, bt = rng.normal(size=4), rng.normal(size=4)
    rm0, rv0 = rng.normal(size=4), rng.uniform(0.5, 2.0, size=4)
    g = rng.normal(size=(8, 4))
    out, xhat, inv_std, rm, rv = bn_train(x, gm, bt, rm0.copy(), rv0.copy())
    grad_in, dgamma, dbeta = bn_backward(g, xhat, gm, inv_std)

    tx = torch.tensor(x, requires_grad=True)
    tg = torch.tensor(gm, requires_grad=True)
    tb = torch.tensor(bt, requires_grad=True)
    trm, trv = torch.tensor(rm0), torch.tensor(rv0)
    tout = torch.nn.functional.batch_norm(tx, trm, trv, tg, tb, training=True, momentum=0.1, eps=1e-5)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rm, trm.numpy(), rtol=1e-13)
    np.testing.assert_allclose(rv, trv.numpy(), rtol=1e-13)
    np.testing.assert_allclose(grad_in, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dgamma, tg.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dbeta, tb.grad.numpy(), rtol=1e-12, atol=1e-12)

    eval_out = np.empty_like(x)
    D.batchnorm_forward_eval(x, gm, bt, rm, rv, 1e-5, eval_out)
    tev = torch.nn.functional.batch_norm(
        torch.tensor(x), trm, trv, torch.tensor(gm), torch.tensor(bt), training=False, eps=1e-5
    )
    np.testing.assert_allclose(eval_out, tev.numpy(), rtol=1e-12, atol=1e-12)
