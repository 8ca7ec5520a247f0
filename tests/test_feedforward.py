"""Feedforward networks: whole-network gradients, the epoch kernel, the driver, validation, real runs.

* Gradients: ``forward`` + ``loss_and_grad`` + ``backward`` in float64 (the kernels are
  dtype-generic) against central finite differences of the loss, for every hidden
  activation and every loss, with dropout masks held fixed; ``penalize`` likewise.
* ``train_epoch``: one epoch recomputed step by step in plain float64 numpy from the
  same batches (the permutation / draws reconstructed from a copied xoshiro state).
* The driver (``setup`` / ``train``) on problems whose answer is known: linear
  regression, XOR, early stopping, schedules, divergence, dropout scaling, ReLU stats.
* ``api.validate`` error lines, and one real LocalCluster run into a Zarr store.

Tolerances are derived in comments next to each assertion. Float32 results are
compared with ``U32 = 2**-24`` (float32 unit roundoff) based bounds.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

from dynet import api
from dynet import store as S
from dynet.kernels.rng import next_below, permutation, seed_state
from dynet.models.feedforward import driver as F
from dynet.models.feedforward import kernels as K
from dynet.scenario import ScenarioError, parse_scenario, run_settings
from dynet.train import activations as A
from dynet.train import losses as L
from dynet.train import optimizers as O
from dynet.train import schedules as SCH

U32 = 2.0**-24  # float32 unit roundoff


# =========================================================================== helpers


class Net:
    """Buffers for the kernels of one network of ``sizes`` on ``rows`` rows, in ``dtype``;
    ``bn``: batch norm on every hidden layer (True) or per hidden layer (a list)."""

    def __init__(
        self,
        sizes,
        rows,
        act="tanh",
        act_param=None,
        drop=None,
        inverted=True,
        dtype=np.float64,
        bn=False,
        momentum=0.1,
        eps=1e-5,
    ):
        self.sizes = list(sizes)
        self.rows = rows
        self.layout = F.make_layout(self.sizes, rows)
        n_layers = len(sizes) - 1
        n_hidden = n_layers - 1
        units = int(self.layout[-1, 4] + rows * self.layout[-1, 1])
        self.z, self.a, self.d, self.mask = (np.full(units, np.nan, dtype) for _ in range(4))
        self.wt = np.zeros(max(a * b for a, b in zip(sizes[:-1], sizes[1:])), dtype)
        self.act_codes = np.full(max(1, n_hidden), A.ACTIVATION_CODES[act], np.int64)
        param = A.DEFAULT_PARAMS[act] if act_param is None else act_param
        self.act_params = np.full(max(1, n_hidden), float(param), np.float64)
        self.drop = np.zeros(n_layers, np.float64)
        if drop is not None:
            self.drop[:n_hidden] = drop
        self.inverted = inverted
        self.bn, n_feat = F.batch_norm_table(F.per_hidden(bn, n_hidden), self.layout)
        self.bn_mean, self.bn_var = np.zeros(n_feat, dtype), np.ones(n_feat, dtype)
        self.momentum, self.eps = momentum, eps
        self.xhat = np.full(units, np.nan, dtype)
        self.inv_std = np.full(n_feat, np.nan, dtype)
        self.frozen = np.zeros(n_layers, np.bool_)
        self.n_params = F.n_params(self.layout) + 2 * n_feat

    def units(self, buf, l):
        n_out = self.layout[l, 1]
        u = self.layout[l, 4]
        return buf[u : u + self.rows * n_out].reshape(self.rows, n_out)

    def forward(self, params, x, rng_state, training=True):
        return K.forward(
            params,
            self.layout,
            self.act_codes,
            self.act_params,
            self.drop,
            self.inverted,
            self.bn,
            self.bn_mean,
            self.bn_var,
            self.momentum,
            self.eps,
            training,
            x,
            self.z,
            self.a,
            self.mask,
            self.xhat,
            self.inv_std,
            rng_state,
        )

    def loss(self, params, x, code, Y, lab, rng_state):
        """Forward (training mode, masks from a copy of ``rng_state``) and loss; fills dL/dlogits."""
        out = self.forward(params, x, rng_state.copy())
        return L.loss_and_grad(code, out, Y, lab, self.units(self.d, len(self.sizes) - 2))

    def backward(self, params, x, lowest=0):
        grads = np.full(self.n_params, np.nan, params.dtype)  # every entry of the layers >= lowest is written
        K.backward(
            params,
            grads,
            self.layout,
            self.act_codes,
            self.act_params,
            self.drop,
            self.inverted,
            self.bn,
            lowest,
            x,
            self.z,
            self.a,
            self.d,
            self.mask,
            self.xhat,
            self.inv_std,
            self.wt,
        )
        return grads


def offsets(sizes):
    """Documented flat layout, computed independently: per layer W (n_in x n_out, row-major) then b."""
    out, off = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        out.append((off, off + n_in * n_out))
        off += n_in * n_out + n_out
    return out


def unpack(params, sizes):
    return [
        (params[w:b].reshape(n_in, n_out), params[b : b + n_out])
        for (w, b), n_in, n_out in zip(offsets(sizes), sizes[:-1], sizes[1:])
    ]


def central_fd(f, p, h):
    g = np.empty_like(p)
    for i in range(p.size):
        keep = p[i]
        p[i] = keep + h
        fp = f(p)
        p[i] = keep - h
        fm = f(p)
        p[i] = keep
        g[i] = (fp - fm) / (2 * h)
    return g


def targets(loss, rng, rows, n_out):
    """(Y float64 2-D, labels int64) for ``loss``; the unused one empty."""
    empty_y, empty_l = np.zeros((0, 0)), np.zeros(0, np.int64)
    if L.LOSS_TARGETS[loss] == "labels":
        return empty_y, rng.integers(0, n_out, rows).astype(np.int64)
    if loss == "mse":
        return rng.normal(size=(rows, n_out)), empty_l
    if loss == "bce_with_logits":
        return rng.uniform(0.05, 0.95, (rows, n_out)), empty_l  # soft targets: any y in [0, 1]
    return rng.choice([-1.0, 1.0], (rows, n_out)), empty_l  # hinge, perceptron


def kink_distance(loss, out, Y, lab):
    """Smallest distance of a logit-space quantity to a kink of the (piecewise-linear) loss."""
    if loss == "hinge":
        return np.abs(1.0 - Y * out).min()
    if loss == "perceptron":
        return np.abs(Y * out).min()
    if loss == "multi_margin":
        zt = out[np.arange(len(lab)), lab][:, None]
        v = 1.0 - zt + out
        v[np.arange(len(lab)), lab] = np.inf
        return np.abs(v).min()
    return np.inf


# =========================================================================== 1. gradients

# Non-default parameters, so a kernel that ignored act_params would be caught.
ACTS = {"tanh": None, "sigmoid": None, "relu": None, "leaky_relu": 0.1, "elu": 0.7, "softplus": 1.5}
KINKED = ("relu", "leaky_relu", "elu")  # derivative jumps at z = 0 (elu with alpha != 1)
LOSSES = ("mse", "bce_with_logits", "cross_entropy", "hinge", "multi_margin", "perceptron")

# Float64 central differences with h = 1e-5 on O(1) quantities: truncation error
# h^2 |f'''| / 6 ~ 1e-11, rounding error ~ eps64 |L| / h ~ 2e-11; piecewise-linear losses
# and activations are exactly linear within h of a point that is > 1e-3 from every kink
# (a step of h moves any pre-activation or logit by at most h * max|input| < 1e-4).
# So rtol 1e-6 / atol 1e-8 is a >100x margin, while any real error (a missing dropout
# scale, a wrong activation parameter, a transposed weight) is O(1e-2) or more.
H = 1e-5
FD_RTOL, FD_ATOL = 1e-6, 1e-8
KINK_MARGIN = 1e-3


def check_gradients(sizes, act, loss, seed, drop=None, inverted=True, rows=7, bn=False):
    rng = np.random.default_rng(seed)
    net = Net(sizes, rows, act, ACTS[act], drop=drop, inverted=inverted, bn=bn)
    x = rng.normal(size=(rows, sizes[0]))
    params = rng.normal(0.0, 0.8, net.n_params)
    Y, lab = targets(loss, rng, rows, sizes[-1])
    code = L.LOSS_CODES[loss]
    state = seed_state(np.random.SeedSequence(seed))
    value = net.loss(params, x, code, Y, lab, state)
    assert np.isfinite(value)
    # preconditions: the finite differences must not straddle a kink
    if act in KINKED:
        for l in range(len(sizes) - 2):
            assert np.abs(net.units(net.z, l)).min() > KINK_MARGIN, "choose another seed: a unit sits on a kink"
    out = net.units(net.a, len(sizes) - 2).copy()
    assert kink_distance(loss, out, Y, lab) > KINK_MARGIN, "choose another seed: a margin sits on a kink"
    grads = net.backward(params, x)
    masks = [net.units(net.mask, l).copy() for l in range(len(sizes) - 2)] if drop is not None else []
    fd = central_fd(lambda p: net.loss(p, x, code, Y, lab, state), params.copy(), H)
    np.testing.assert_allclose(grads, fd, rtol=FD_RTOL, atol=FD_ATOL, err_msg=f"{sizes} {act} {loss}")
    assert np.abs(fd).max() > 1e-3  # the check is not vacuous
    return params, grads, masks, net


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", list(ACTS))
def test_two_hidden_layer_gradients_match_finite_differences(act, loss):
    check_gradients([3, 5, 4, 3], act, loss, seed=11)


@pytest.mark.parametrize("loss,act", list(zip(LOSSES, ["softplus", "elu", "relu", "sigmoid", "leaky_relu", "tanh"])))
def test_one_hidden_layer_gradients_match_finite_differences(act, loss):
    check_gradients([4, 6, 2], act, loss, seed=5, rows=9)


@pytest.mark.parametrize("inverted", [True, False], ids=["inverted", "classic"])
@pytest.mark.parametrize(
    "sizes,act,loss",
    [
        ([3, 5, 4, 3], "tanh", "cross_entropy"),
        ([3, 5, 4, 3], "elu", "mse"),
        ([4, 8, 1], "leaky_relu", "bce_with_logits"),
    ],
)
def test_dropout_gradients_with_a_fixed_mask(sizes, act, loss, inverted):
    p = 0.4
    _, _, masks, _ = check_gradients(sizes, act, loss, seed=23, drop=p, inverted=inverted)
    flat = np.concatenate([m.ravel() for m in masks])
    assert set(np.unique(flat)) == {0.0, 1.0} and 0 < flat.mean() < 1  # both kept and dropped units


def test_dropout_mask_is_the_documented_stream():
    """The training-mode mask of layer l is ``next_double >= p`` in row-major order, layer by layer."""
    from dynet.kernels.rng import next_double

    sizes, rows, p = [3, 5, 4, 2], 6, 0.3
    net = Net(sizes, rows, "tanh", drop=p)
    rng = np.random.default_rng(1)
    x, params = rng.normal(size=(rows, 3)), rng.normal(size=net.n_params)
    state = seed_state(np.random.SeedSequence(9))
    copy = state.copy()
    net.forward(params, x, state)
    for l in range(2):
        expect = np.array([[1.0 if next_double(copy) >= p else 0.0 for _ in range(sizes[l + 1])] for _ in range(rows)])
        np.testing.assert_array_equal(net.units(net.mask, l), expect)
    np.testing.assert_array_equal(state, copy)  # nothing else was drawn
    # evaluation mode draws nothing
    net.forward(params, x, state, training=False)
    np.testing.assert_array_equal(state, copy)


@pytest.mark.parametrize("l1,l2", [(0.03, 0.0), (0.0, 0.2), (0.03, 0.2)])
def test_penalize_value_and_gradient(l1, l2):
    sizes = [3, 5, 4, 3]
    layout = F.make_layout(sizes, 1)
    rng = np.random.default_rng(4)
    params = rng.normal(0.0, 0.8, F.n_params(layout))
    weights = np.zeros(params.size, bool)
    for w, b in offsets(sizes):
        weights[w:b] = True
    assert np.abs(params[weights]).min() > 10 * H  # L1 kink at 0 not within the FD step

    def penalty(p):
        w = p[weights]
        return l1 * np.abs(w).sum() + 0.5 * l2 * (w**2).sum()

    g0 = rng.normal(size=params.size)
    g = g0.copy()
    value = K.penalize(params, g, layout, l1, l2)
    # one sum of 47 O(1) terms in float64: 1e-12 relative is ~100x the rounding error
    assert value == pytest.approx(penalty(params), rel=1e-12)
    added = g - g0  # penalize adds to the data gradient
    np.testing.assert_array_equal(added[~weights], 0.0)  # biases are not penalized
    np.testing.assert_allclose(added, central_fd(penalty, params.copy(), H), rtol=FD_RTOL, atol=FD_ATOL)
    np.testing.assert_allclose(added[weights], l1 * np.sign(params[weights]) + l2 * params[weights], rtol=1e-12)


def test_layout_is_the_documented_one():
    sizes, batch = [3, 5, 4, 2], 6
    layout = F.make_layout(sizes, batch)
    np.testing.assert_array_equal(layout[:, :2], np.c_[sizes[:-1], sizes[1:]])
    np.testing.assert_array_equal(layout[:, 2:4], offsets(sizes))
    np.testing.assert_array_equal(layout[:, 4], [0, 6 * 5, 6 * 9])
    assert F.n_params(layout) == 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2


# =========================================================================== 2. train_epoch


def ref_loss_grad(params, sizes, X, Y, l2=0.0):
    """Plain float64 numpy: tanh hidden layers, linear output, mse loss (+ l2/2 ||W||^2 gradient)."""
    layers = unpack(params, sizes)
    acts, zs = [X], []
    for l, (W, b) in enumerate(layers):
        z = acts[-1] @ W + b
        zs.append(z)
        acts.append(np.tanh(z) if l < len(layers) - 1 else z)
    out = acts[-1]
    loss = ((out - Y) ** 2).mean()
    dz = 2.0 * (out - Y) / out.size
    grads = np.zeros_like(params)
    for l in range(len(layers) - 1, -1, -1):
        W, _ = layers[l]
        w, b = offsets(sizes)[l]
        grads[w:b] = (acts[l].T @ dz + l2 * W).ravel()
        grads[b : b + W.shape[1]] = dz.sum(axis=0)
        if l:
            dz = (dz @ W.T) * (1.0 - np.tanh(zs[l - 1]) ** 2)
    return loss, grads


class Epoch:
    """One call of ``K.train_epoch`` (plain SGD, tanh, mse) with the driver's argument types."""

    def __init__(self, sizes, X, Y, batch, sampling):
        self.sizes, self.X, self.Y, self.batch, self.sampling = sizes, X, Y, batch, sampling
        n = len(X)
        self.steps = (n + batch - 1) // batch
        self.net = Net(sizes, batch, "tanh", dtype=np.float32)
        self.idx = np.full(self.steps * batch if sampling == K.SAMPLE_REPLACEMENT else n, -1, np.int64)
        n_layers = len(sizes) - 1
        self.step_loss = np.full(self.steps, np.nan)
        self.grad_sum = np.zeros(n_layers)
        self.ratio = np.zeros(n_layers)

    def __call__(self, params, lrs, rng_state, l2=0.0):
        net, sizes, batch = self.net, self.sizes, self.batch
        opt = O.SGDParams(lr=0.1)  # the kernel uses lrs, not this lr
        done, diverged = K.train_epoch(
            params,
            np.zeros_like(params),
            opt.code,
            opt.init_state(len(params), np.float32),
            opt.pack_hyper(),
            0,
            np.asarray(lrs, np.float64),
            net.layout,
            net.act_codes,
            net.act_params,
            net.drop,
            True,
            net.bn,
            net.bn_mean,
            net.bn_var,
            net.momentum,
            net.eps,
            net.frozen,
            L.LOSS_CODES["mse"],
            0.0,
            float(l2),
            0.0,
            0.0,
            self.sampling,
            batch,
            self.X,
            self.Y,
            np.zeros(0, np.int64),
            np.empty(batch * sizes[0], np.float32),
            np.empty(batch * sizes[-1], np.float32),
            np.empty(batch, np.int64),
            self.idx,
            net.z,
            net.a,
            net.d,
            net.mask,
            net.xhat,
            net.inv_std,
            net.wt,
            rng_state,
            self.step_loss,
            self.grad_sum,
            self.ratio,
            np.empty_like(params),
        )
        return done, diverged


def tiny_problem(n=10, sizes=(3, 4, 2), seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, sizes[0])).astype(np.float32)
    Y = rng.normal(size=(n, sizes[-1])).astype(np.float32)
    params = rng.normal(0.0, 0.7, F.n_params(F.make_layout(list(sizes), 1))).astype(np.float32)
    return list(sizes), X, Y, params


# Float32 kernel vs float64 reference of the same arithmetic, all quantities O(1): each
# forward/backward value is a sum of <= 12 products through 2 layers, so its relative
# rounding error is below ~50 U32 = 3e-6 (Higham's gamma_K bound per dot product, times
# depth); a step moves params by lr * grad with lr <= 0.3. atol 2e-5 on params (a few
# steps accumulate) and rtol 1e-5 on losses are ~5x those bounds, and far below the
# O(1e-2) effect of a wrong batch, a missing l2 term or a skipped step.
P_ATOL = 2e-5
LOSS_RTOL = 1e-5


def test_full_batch_epoch_is_one_gradient_descent_step():
    sizes, X, Y, params = tiny_problem(n=12)
    ep = Epoch(sizes, X, Y, batch=12, sampling=K.SAMPLE_PERMUTATION)
    lr, l2 = 0.3, 0.05
    state = seed_state(np.random.SeedSequence(1))
    after_perm = state.copy()
    permutation(np.empty(12, np.int64), after_perm)
    p = params.copy()
    done, diverged = ep(p, [lr], state, l2=l2)
    assert (done, diverged) == (1, -1)
    p64 = params.astype(np.float64)
    loss, g = ref_loss_grad(p64, sizes, X.astype(np.float64), Y.astype(np.float64), l2=l2)
    assert ep.step_loss[0] == pytest.approx(loss, rel=LOSS_RTOL)  # data loss, before the step, no penalty
    np.testing.assert_allclose(p, p64 - lr * g, rtol=0, atol=P_ATOL)
    np.testing.assert_array_equal(state, after_perm)  # no dropout: only the permutation's draws
    # per-layer records: ||dW_l|| (after the penalty) and ||dW_l|| / ||W_l|| of the step
    for l, (w, b) in enumerate(offsets(sizes)):
        assert ep.grad_sum[l] == pytest.approx(np.linalg.norm(g[w:b]), rel=1e-5)
        # the ratio is a norm of float32 differences of O(1) numbers (absolute error
        # ~U32 per entry) over an O(0.1) step: relative error < 1e-5, checked at 1e-4
        assert ep.ratio[l] == pytest.approx(lr * np.linalg.norm(g[w:b]) / np.linalg.norm(p64[w:b]), rel=1e-4)


def reference_epoch(params, sizes, X, Y, rows_per_step, lrs):
    p = params.astype(np.float64)
    losses = []
    for rows, lr in zip(rows_per_step, lrs):
        loss, g = ref_loss_grad(p, sizes, X[rows].astype(np.float64), Y[rows].astype(np.float64))
        losses.append(loss)
        p = p - lr * g
    return p, np.array(losses)


def test_permutation_batches_partition_the_training_set():
    sizes, X, Y, params = tiny_problem(n=10)
    ep = Epoch(sizes, X, Y, batch=4, sampling=K.SAMPLE_PERMUTATION)
    state = seed_state(np.random.SeedSequence(2))
    perm = np.empty(10, np.int64)
    after = state.copy()
    permutation(perm, after)
    assert not np.array_equal(perm, np.arange(10))
    batches = [perm[0:4], perm[4:8], perm[8:10]]  # ceil(10 / 4) = 3 steps, the last one smaller
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(10))

    # lr = 0: nothing changes, and every step loss is the loss of its permuted batch
    p = params.copy()
    s = state.copy()
    assert ep(p, [0.0, 0.0, 0.0], s) == (3, -1)
    np.testing.assert_array_equal(p, params)
    np.testing.assert_array_equal(ep.idx, perm)
    np.testing.assert_array_equal(s, after)
    _, losses = reference_epoch(params, sizes, X, Y, batches, [0.0] * 3)
    np.testing.assert_allclose(ep.step_loss, losses, rtol=LOSS_RTOL)

    # lr > 0 (a different rate per step): sequential SGD on the same batches
    p = params.copy()
    lrs = [0.3, 0.2, 0.1]
    assert ep(p, lrs, state.copy()) == (3, -1)
    ref, losses = reference_epoch(params, sizes, X, Y, batches, lrs)
    np.testing.assert_allclose(ep.step_loss, losses, rtol=LOSS_RTOL)
    np.testing.assert_allclose(p, ref, rtol=0, atol=P_ATOL)


def test_sampling_with_replacement_draws_next_below_per_row():
    sizes, X, Y, params = tiny_problem(n=10, seed=3)
    ep = Epoch(sizes, X, Y, batch=4, sampling=K.SAMPLE_REPLACEMENT)
    state = seed_state(np.random.SeedSequence(3))
    copy = state.copy()
    draws = np.array([next_below(copy, 10) for _ in range(12)])  # 3 steps x 4 rows, all full
    assert len(np.unique(draws)) < 12  # with replacement: repeats (12 draws of 10 rows must repeat)
    p = params.copy()
    lrs = [0.3, 0.2, 0.1]
    assert ep(p, lrs, state) == (3, -1)
    np.testing.assert_array_equal(ep.idx, draws)
    np.testing.assert_array_equal(state, copy)
    ref, losses = reference_epoch(params, sizes, X, Y, [draws[0:4], draws[4:8], draws[8:12]], lrs)
    np.testing.assert_allclose(ep.step_loss, losses, rtol=LOSS_RTOL)
    np.testing.assert_allclose(p, ref, rtol=0, atol=P_ATOL)


def test_train_epoch_stops_at_a_non_finite_loss():
    sizes, X, Y, params = tiny_problem(n=8)
    ep = Epoch(sizes, X, Y, batch=2, sampling=K.SAMPLE_PERMUTATION)
    p = params.copy()
    p[-1] = np.inf  # an output bias: every logit of output 1 is inf, so the first loss is inf
    assert ep(p, [0.1] * 4, seed_state(np.random.SeedSequence(4))) == (0, 0)
    assert np.isinf(ep.step_loss[0])
    np.testing.assert_array_equal(p[:-1], params[:-1])  # no step taken


# =========================================================================== 3. the driver


def scenario(**tables):
    doc = {"name": "t", "model": "feedforward", "seed": tables.pop("seed", 1)}
    doc.update(tables)
    return doc


def runs_of(doc):
    return parse_scenario(doc, "<test>").runs


class Rows:
    """Collects the rows handed to on_epoch / on_steps, and the params at each epoch row."""

    def __init__(self, st=None):
        self.epoch, self.steps, self.params, self.st = {}, {}, [], st

    def on_epoch(self, **cols):
        for k, v in cols.items():
            self.epoch.setdefault(k, []).append(v)
        if self.st is not None:
            self.params.append(self.st.params.copy())

    def on_steps(self, **cols):
        for k, v in cols.items():
            self.steps.setdefault(k, []).append(v)

    def get(self, name):
        table = self.epoch if name in self.epoch else self.steps
        return np.concatenate(table[name])


def train_spec(spec, **kw):
    st = F.setup(spec.settings, spec.seed_sequence(), spec.base_dir)
    rows = Rows(st)
    state = seed_state(spec.seed_sequence().spawn(4)[3])  # what models.feedforward.run uses
    metrics = F.train(spec.settings, st, state, on_epoch=rows.on_epoch, on_steps=rows.on_steps, **kw)
    return st, metrics, rows


LINEAR = dict(
    data={"source": "linear", "n_samples": 1000, "noise": 0.5, "validation": 0.2},
    network={"kind": "linear"},
    init={"weights": "zeros"},
)


@pytest.mark.parametrize("batch,lr", [(1, 0.01), (16, 0.05), ("full", 0.5)])
def test_linear_regression_recovers_the_coefficients(batch, lr):
    (spec,) = runs_of(
        scenario(seed=5, **LINEAR, optimizer={"name": "sgd", "lr": lr}, training={"epochs": 30, "batch_size": batch})
    )
    st, metrics, rows = train_spec(spec)
    ((W, b),) = unpack(st.params.astype(np.float64), st.sizes)
    est = np.r_[b, W[:, 0]]
    truth = np.array([5.0, 2.0, -3.0])
    x, y, _ = st.splits["train"]
    n, sigma = len(x), 0.5
    assert n == 800
    ols = np.linalg.lstsq(np.c_[np.ones(n), x.astype(np.float64)], y[:, 0].astype(np.float64), rcond=None)[0]
    # OLS standard errors with x ~ U(-1, 1) (variance 1/3): intercept sigma / sqrt(n) = 0.018,
    # slopes sigma / sqrt(n / 3) = 0.031. Constant-step SGD with batch B fluctuates around the
    # minimum with stationary variance ~ lr sigma^2 / B per coefficient (from the Lyapunov
    # equation of e <- (I - 2 lr H) e + lr xi, cov(xi) = 4 sigma^2 H / B): sd 0.05 at B = 1,
    # 0.028 at B = 16, 0 for full batch. 4 combined sd of the worst case is 0.24.
    se_ols = sigma / np.sqrt(n * np.array([1.0, 1 / 3, 1 / 3]))
    b_eff = n if batch == "full" else batch
    sd = np.sqrt(se_ols**2 + lr * sigma**2 / b_eff)
    assert np.all(np.abs(ols - truth) < 4 * se_ols)  # the data are what LinearData says
    assert np.all(np.abs(est - truth) < 4 * sd), (est, truth, sd)
    if batch == "full":
        # gradient descent converges to the OLS solution: contraction |1 - 2 lr lambda| <= 2/3
        # per epoch (H has eigenvalues ~1, 1/3, 1/3), so 30 epochs leave < 1e-5 of the initial
        # 5. The float32 fixed point is off by (gradient rounding) / (2 lambda_min): the
        # worst-case bound gamma_800 sum|2 r x / n| ~ 800 U32 * 1 = 5e-5 gives 7.5e-5, the
        # typical (random-walk) error sqrt(800) U32 gives ~2e-6. atol 1e-4 covers both.
        np.testing.assert_allclose(est, ols, rtol=0, atol=1e-4)
    assert metrics["task"] == "regression" and metrics["metric"] == "r2"
    # R^2 = 1 - noise / total variance = 1 - 0.25 / (0.25 + (4 + 9) / 3) = 0.945. On 200
    # validation rows SSR / n has relative sd sqrt(2 / 200) = 0.1, so R^2 has sd ~0.0055;
    # SGD's coefficient noise adds < 0.002 to 1 - R^2. [0.92, 0.97] is > 4 sd either way.
    assert 0.92 < metrics["val_metric"] < 0.97
    assert metrics["steps_per_epoch"] == math.ceil(800 / (800 if batch == "full" else batch))


XOR = dict(
    data={"source": "xor"},
    optimizer={"name": "sgd", "lr": 0.5, "momentum": 0.9},
    training={"epochs": 300, "batch_size": 4},
)


def test_perceptron_never_solves_xor():
    for seed in range(4):
        (spec,) = runs_of(scenario(seed=seed, network={"kind": "perceptron"}, **XOR))
        st, metrics, rows = train_spec(spec)
        assert st.sizes == [2, 1] and metrics["loss"] == "perceptron"
        acc = rows.get("train_metric")
        assert len(acc) == 301
        # a linear threshold unit gets at most 3 of the 4 XOR points right, at every epoch
        assert acc.max() <= 0.75, seed
        # the accuracy is that of the step output: class 1 where the logit is > 0
        x, y, _ = st.splits["train"]
        ((W, b),) = unpack(st.params, st.sizes)
        assert metrics["train_metric"] == np.mean(((x @ W + b)[:, 0] > 0) == (y[:, 0] > 0))


def test_mlp_solves_xor_for_several_seeds():
    # A 2-4-2 tanh net lands in XOR's local minimum (accuracy 0.5) from a few percent of
    # initializations (3 of 32 replicates of this root seed); with 8 hidden units none of 32
    # did, so the test does not hang on which streams the resolved config's hash picks.
    specs = runs_of(
        scenario(
            seed=1970, network={"kind": "mlp", "hidden": [8], "activation": "tanh"}, **XOR, sweep={"replicates": 4}
        )
    )
    assert len({s.run_id for s in specs}) == 4
    for spec in specs:
        st, metrics, rows = train_spec(spec)
        assert st.sizes == [2, 8, 2] and metrics["loss"] == "cross_entropy"
        assert metrics["train_metric"] == 1.0, spec.seed
        assert metrics["train_loss"] < 0.1


DETERMINISM = dict(
    data={"source": "blobs", "n_samples": 120, "n_classes": 3},
    network={"kind": "mlp", "hidden": [8, 6], "activation": "relu"},
    optimizer={"name": "adam", "lr": 0.01},
    training={"epochs": 4, "batch_size": 16},
    regularization={"dropout": 0.2, "l2": 0.001},
    record={"per_step": True},
)


def test_same_seed_is_bit_identical_and_another_seed_differs():
    a = train_spec(runs_of(scenario(seed=8, **DETERMINISM))[0])
    b = train_spec(runs_of(scenario(seed=8, **DETERMINISM))[0])
    c = train_spec(runs_of(scenario(seed=9, **DETERMINISM))[0])
    np.testing.assert_array_equal(a[0].params, b[0].params)
    assert sorted(a[2].epoch) == sorted(b[2].epoch) and sorted(a[2].steps) == sorted(b[2].steps) == [
        "step",
        "step_loss",
        "step_lr",
    ]
    for name in [*a[2].epoch, *a[2].steps]:
        np.testing.assert_array_equal(a[2].get(name), b[2].get(name), err_msg=name)  # NaN == NaN here
    assert {k: v for k, v in a[1].items() if k != "_final_params"} == {
        k: v for k, v in b[1].items() if k != "_final_params"
    }
    assert not np.array_equal(a[0].params, c[0].params)
    assert not np.array_equal(a[2].get("step_loss"), c[2].get("step_loss"))


def test_early_stopping_stops_when_validation_stalls_and_restores_the_best():
    # 181 training digits and a wide net: the training loss keeps falling while the
    # validation loss flattens out within ~20 epochs (overfitting)
    epochs, patience = 200, 4
    (spec,) = runs_of(
        scenario(
            seed=3,
            data={"source": "digits", "validation": 0.5, "test": 0.4},
            network={"kind": "mlp", "hidden": [128], "activation": "relu"},
            optimizer={"name": "adam", "lr": 0.01},
            training={"epochs": epochs, "batch_size": 32},
            early_stopping={"patience": patience, "restore_best": True},
        )
    )
    st, m, rows = train_spec(spec)
    val = rows.get("val_loss")
    train_loss = rows.get("train_loss")
    assert m["stopped_early"] and m["epochs_run"] < epochs
    assert len(val) == m["epochs_run"] + 1  # row 0 is before training
    best = 1 + int(np.argmin(val[1:]))
    assert m["best_epoch"] == best and m["best_val_loss"] == val[best]
    # stopped after `patience` epochs without a new minimum (min_delta = 0)
    assert m["epochs_run"] == best + patience
    assert np.all(val[best + 1 :] >= val[best])
    assert train_loss[-1] < train_loss[best]  # it was still fitting the training set: overfitting
    # restore_best: the params are those recorded at the best epoch, not the last ones
    assert m["restored_best"]
    np.testing.assert_array_equal(st.params, rows.params[best])
    assert not np.array_equal(st.params, rows.params[-1])
    np.testing.assert_array_equal(m["_final_params"], rows.params[-1])
    assert m["val_loss"] == val[best]  # final metrics are evaluated on the restored params


def test_early_stopping_without_restore_keeps_the_last_params():
    (spec,) = runs_of(
        scenario(
            seed=3,
            data={"source": "digits", "validation": 0.5, "test": 0.4},
            network={"kind": "mlp", "hidden": [128], "activation": "relu"},
            optimizer={"name": "adam", "lr": 0.01},
            training={"epochs": 200, "batch_size": 32},
            early_stopping={"patience": 4, "restore_best": False},
        )
    )
    st, m, rows = train_spec(spec)
    assert m["stopped_early"] and not m["restored_best"]
    np.testing.assert_array_equal(st.params, rows.params[-1])


SCHED_BASE = dict(
    data={"source": "blobs", "n_samples": 60, "n_classes": 2},
    network={"kind": "mlp", "hidden": [4], "activation": "tanh"},
    training={"epochs": 6, "batch_size": 16},
    record={"per_step": True},
)


@pytest.mark.parametrize(
    "sched,spec_extra",
    [
        ({"name": "step", "step_size": 2, "gamma": 0.5}, {"lr": 0.1}),
        ({"name": "exponential", "gamma": 0.8, "warmup_steps": 2}, {"lr": 0.1}),
        ({"name": "cosine", "T_max": 4, "eta_min": 0.01, "lr": 0.2}, {}),
    ],
)
def test_per_epoch_schedule_is_recorded_per_epoch(sched, spec_extra):
    (spec,) = runs_of(scenario(**SCHED_BASE, optimizer={"name": "sgd", "lr": 0.1}, schedule={**sched, "per": "epoch"}))
    st, m, rows = train_spec(spec)
    steps = m["steps_per_epoch"]
    assert steps == 3  # 48 training rows in batches of 16
    expect = SCH.lr_array({**{k: v for k, v in sched.items()}, **spec_extra}, 6)
    lr = rows.get("lr")
    np.testing.assert_array_equal(lr[1:], expect)
    assert lr[0] == expect[0]
    # every step of epoch e runs at the epoch's rate
    np.testing.assert_array_equal(rows.get("step_lr"), np.repeat(expect, steps))
    assert len(set(expect)) > 2  # the schedule does change the rate


@pytest.mark.parametrize(
    "sched",
    [
        {"name": "onecycle", "max_lr": 0.2, "total_steps": 18},
        {"name": "cyclic", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4},
    ],
)
def test_per_step_schedule_is_recorded_per_step(sched):
    (spec,) = runs_of(scenario(**SCHED_BASE, optimizer={"name": "sgd", "lr": 0.1}, schedule={**sched, "per": "step"}))
    st, m, rows = train_spec(spec)
    expect = SCH.lr_array(sched, 18)  # 6 epochs x 3 steps
    np.testing.assert_array_equal(rows.get("step_lr"), expect)
    np.testing.assert_array_equal(rows.get("step"), np.arange(1, 19))
    np.testing.assert_array_equal(rows.get("lr")[1:], expect[::3])  # the epoch row shows its first step's rate
    assert np.all(np.ptp(expect.reshape(6, 3), axis=1) > 0)  # the rate changes within every epoch


def test_the_kernel_uses_the_scheduled_rates():
    """Full-batch SGD on linear regression: each epoch's update is -lr_e * grad, so the
    scheduled rate really reaches the kernel (not only the record)."""
    sched = {"name": "step", "step_size": 1, "gamma": 0.5}
    (spec,) = runs_of(
        scenario(
            seed=2,
            **{**LINEAR, "data": {**LINEAR["data"], "n_samples": 100}},
            optimizer={"name": "sgd", "lr": 0.4},
            schedule=sched,
            training={"epochs": 4, "batch_size": "full"},
        )
    )
    st, m, rows = train_spec(spec)
    x, y, _ = st.splits["train"]
    lrs = SCH.lr_array({**sched, "lr": 0.4}, 4)
    assert lrs.tolist() == [0.4, 0.2, 0.1, 0.05]
    n = len(x)
    X1 = np.c_[x.astype(np.float64), np.ones(n)]
    for e in range(4):
        p0 = rows.params[e].astype(np.float64)
        _, g = ref_loss_grad(p0, st.sizes, x.astype(np.float64), y.astype(np.float64))
        # a float32 gradient is a sum of n terms 2 r x / n: rounding below gamma_(n+3) sum|terms|
        # (Higham 3.1; +3 for the forward pass), plus one rounding of the new params
        r = X1 @ p0[[0, 1, 2]] - y[:, 0]
        bound = lrs[e] * (n + 3) * U32 * (np.abs(2 * r / n)[:, None] * np.abs(X1)).sum(axis=0) + U32 * np.abs(p0)
        expect = p0 - lrs[e] * g
        assert np.all(np.abs(rows.params[e + 1] - expect) <= 2 * bound), (e, rows.params[e + 1] - expect, bound)
        # and a step with the wrong rate would be far off (the check can fail)
        assert np.all(np.abs((p0 - 2 * lrs[e] * g) - expect) > 10 * bound)


def test_absurd_learning_rate_raises_training_diverged():
    (spec,) = runs_of(scenario(**LINEAR, optimizer={"name": "sgd", "lr": 1e6}, training={"epochs": 3}))
    st = F.setup(spec.settings, spec.seed_sequence())
    with pytest.raises(F.TrainingDiverged, match=r"training diverged: .* at epoch 1\b"):
        F.train(spec.settings, st, seed_state(spec.seed_sequence().spawn(4)[3]))


def test_weights_overflowing_in_the_last_step_raise_training_diverged():
    # one full-batch step at lr 1e38 from zero weights: the loss before it is finite
    # (~25), the step sends the float32 weights past 3.4e38 to inf
    (spec,) = runs_of(
        scenario(**LINEAR, optimizer={"name": "sgd", "lr": 1e38}, training={"epochs": 1, "batch_size": "full"})
    )
    st = F.setup(spec.settings, spec.seed_sequence())
    with pytest.raises(F.TrainingDiverged, match=r"the weights became non-finite at epoch 1$"):
        F.train(spec.settings, st, seed_state(spec.seed_sequence().spawn(4)[3]))


def test_diverged_run_is_stored_as_failed_and_others_complete(tmp_path):
    (bad,) = runs_of(scenario(**LINEAR, optimizer={"name": "sgd", "lr": 1e6}, training={"epochs": 3}))
    (good,) = runs_of(scenario(**LINEAR, optimizer={"name": "sgd", "lr": 0.05}, training={"epochs": 2}))
    path = tmp_path / "s.zarr"
    S.open_store(path, create=True)
    r_bad = api.execute_run(str(path), bad)
    r_good = api.execute_run(str(path), good)
    assert r_bad["status"] == S.FAILED and r_good["status"] == S.COMPLETE
    assert r_bad["error"].startswith("TrainingDiverged: training diverged") and "at epoch 1," in r_bad["error"]
    root = S.open_store(path)
    attrs = S.run_attrs(root, bad.run_id)
    assert attrs["status"] == "failed" and attrs["error"].split("\n")[0] == r_bad["error"]
    listed = {r["run_id"]: r for r in api.list_runs(path)}
    assert listed[bad.run_id]["error"] == r_bad["error"]
    assert listed[good.run_id]["status"] == "complete"
    arrays = api.load_run(path, good.run_id)
    assert len(arrays["train_loss"]) == 3 and arrays["weight_0"].shape == (2, 1)
    # re-running the failed run (as a resume would) fails the same way, cleanly
    assert api.execute_run(str(path), bad)["error"] == r_bad["error"]


def test_dropout_inverted_and_classic_scale_evaluation_outputs():
    p = 0.3
    cfgs = {}
    for mode in ("inverted", "classic"):
        (spec,) = runs_of(
            scenario(
                data={"source": "blobs", "n_samples": 50, "n_classes": 3},
                network={"kind": "mlp", "hidden": [6], "activation": "tanh"},
                regularization={"dropout": p, "dropout_mode": mode},
            )
        )
        cfgs[mode] = spec

    def seed():  # setup spawns children, which advances a SeedSequence: a fresh one each time
        return np.random.SeedSequence(12)

    inv = F.setup(cfgs["inverted"].settings, seed())
    cls = F.setup(cfgs["classic"].settings, seed())
    np.testing.assert_array_equal(inv.params, cls.params)  # same weights
    assert inv.inverted and not cls.inverted
    x, y, lab = inv.splits["train"]
    e_inv = F.Evaluator(inv, x, y, lab, 16)
    e_cls = F.Evaluator(cls, x, y, lab, 16)
    r_inv, r_cls = e_inv(inv.params), e_cls(cls.params)
    (_, _), (_, b2) = unpack(inv.params, inv.sizes)
    # classic evaluation multiplies hidden outputs by 1 - p, inverted leaves them: with
    # one hidden layer, logits - b2 scale by exactly 1 - p up to float32 rounding of a
    # 6-term dot product (|error| <~ 6 U32 sum|terms| ~ 1e-6 here; checked at 1e-5)
    np.testing.assert_allclose(e_cls.out - b2, (1 - p) * (e_inv.out - b2), rtol=0, atol=1e-5)
    np.testing.assert_allclose(r_cls["act_mean"], (1 - p) * r_inv["act_mean"], rtol=1e-6)
    np.testing.assert_allclose(r_cls["act_std"], (1 - p) * r_inv["act_std"], rtol=1e-5)
    # inverted evaluation is the network without dropout, bit for bit
    config = cfgs["inverted"].config
    none = F.setup(
        run_settings("feedforward", {**config, "regularization": {**config["regularization"], "dropout": 0.0}}), seed()
    )
    e_none = F.Evaluator(none, x, y, lab, 16)
    e_none(none.params)
    np.testing.assert_array_equal(e_none.out, e_inv.out)


def numpy_forward32(params, sizes, X):
    """The kernel's float32 arithmetic in numpy: b + sum_k x_k W[k] accumulated in increasing k."""
    acts = []
    a = X
    for l, (W, b) in enumerate(unpack(params, sizes)):
        z = np.repeat(b[None, :], len(a), axis=0).astype(np.float32)
        for k in range(W.shape[0]):
            z += a[:, k : k + 1] * W[k]
        a = np.maximum(z, np.float32(0)) if l < len(sizes) - 2 else z
        acts.append(a)
    return acts[:-1]


def test_dead_relu_fraction_and_activation_stats_match_numpy():
    (spec,) = runs_of(
        scenario(
            seed=4,
            data={"source": "blobs", "n_samples": 90, "n_classes": 3, "n_features": 4},
            network={"kind": "mlp", "hidden": [12, 7], "activation": "relu"},
            init={"weights": "glorot_uniform", "bias": -0.6},
            optimizer={"name": "sgd", "lr": 0.05},
            training={"epochs": 3, "batch_size": 8},
        )
    )
    st, m, rows = train_spec(spec)
    x = st.splits["train"][0]
    dead_rec, mean_rec, std_rec = rows.get("dead_fraction"), rows.get("act_mean"), rows.get("act_std")
    assert dead_rec.shape == (4, 2)
    some_dead = False
    for e, params in enumerate(rows.params):
        acts = numpy_forward32(params, st.sizes, x)
        for l, a in enumerate(acts):
            dead = np.mean(~(a != 0).any(axis=0))
            a64 = a.astype(np.float64)
            # dead units are an exact property of float32 values computed in the same order
            assert dead_rec[e, l] == dead, (e, l)
            # the mean: float32 values summed in float64 in another order, ~1e-15 relative
            assert mean_rec[e, l] == pytest.approx(a64.mean(), rel=1e-10)
            # the std: the kernel squares a float32 value in float32 (v * v, one rounding,
            # relative <= U32) before adding it in float64, so E[a^2] is off by <= U32 E[a^2],
            # and std = sqrt(E[a^2] - mean^2) by <= U32 E[a^2] / (2 var) relative
            sq, var = (a64**2).mean(), a64.var()
            assert std_rec[e, l] == pytest.approx(a64.std(), rel=2 * U32 * sq / (2 * var) + 1e-12)
            some_dead |= 0 < dead < 1
    assert some_dead  # the check saw both dead and live units
    # the Evaluator batches rows (here 7 at a time, the last batch short): same statistics
    ev = F.Evaluator(st, *st.splits["train"], 7)(rows.params[-1])
    np.testing.assert_array_equal(ev["dead"], dead_rec[-1])
    np.testing.assert_allclose(ev["act_mean"], mean_rec[-1], rtol=1e-12)


# =========================================================================== 4. validation

HEAD = """
name = "v"
model = "feedforward"
seed = 1
"""


def validation_lines(tmp_path, body, files=None):
    for name, writer in (files or {}).items():
        writer(tmp_path / name)
    path = tmp_path / "s.toml"
    path.write_text(HEAD + textwrap.dedent(body))
    with pytest.raises(ScenarioError) as info:
        api.validate(path)
    assert len(info.value.lines) == 1, info.value.lines
    line = info.value.lines[0]
    assert line.startswith(f"{path}: ") and "\n" not in line
    return line[len(f"{path}: ") :]


def _nan_npz(path):
    x = np.random.default_rng(0).normal(size=(20, 3))
    x[4, 1] = np.nan
    np.savez(path, x=x, y=np.arange(20) % 2)


def _ragged_csv(path):
    path.write_text("0.1,0.2,0\n0.3,0.4\n0.5,0.6,1\n0.7,0.8,1\n")  # row 2 has no target


def _mismatched_npz(path):
    np.savez(path, x=np.zeros((20, 3)), y=np.arange(19) % 2)


def _one_column_csv(path):
    path.write_text("1\n2\n3\n4\n5\n")


# (id, scenario body, data files, key path that must be named, essential words)
VALIDATION = [
    (
        "negative-lr",
        '[data]\nsource = "xor"\n[optimizer]\nname = "sgd"\nlr = -0.1\n',
        None,
        "optimizer.lr",
        ["greater than 0", "-0.1"],
    ),
    (
        "dropout-1",
        '[data]\nsource = "xor"\n[network]\nhidden = [4]\n[regularization]\ndropout = 1.0\n',
        None,
        "regularization.dropout",
        ["must be in [0, 1)", "1.0"],
    ),
    (
        "unknown-optimizer",
        '[data]\nsource = "xor"\n[optimizer]\nname = "adma"\nlr = 0.1\n',
        None,
        "optimizer.name",
        ["unknown 'adma'", "did you mean 'adam'"],
    ),
    (
        "unknown-optimizer-param",
        '[data]\nsource = "xor"\n[optimizer]\nname = "sgd"\nlr = 0.1\nmomentun = 0.9\n',
        None,
        "optimizer.momentun",
        ["unknown key", "did you mean 'momentum'"],
    ),
    (
        "dropout-list-length",
        '[data]\nsource = "xor"\n[network]\nhidden = [4, 4]\n[regularization]\ndropout = [0.1]\n',
        None,
        "regularization.dropout",
        ["1 values", "2 hidden layers"],
    ),
    (
        "classification-loss-on-regression",
        '[data]\nsource = "linear"\n[network]\nhidden = [3]\nloss = "cross_entropy"\n',
        None,
        "network.loss",
        ["cross_entropy", "regression", "mse"],
    ),
    (
        "mse-on-classification",
        '[data]\nsource = "xor"\n[network]\nhidden = [3]\nloss = "mse"\n',
        None,
        "network.loss",
        ["mse", "regression data"],
    ),
    (
        "missing-file",
        '[data]\nsource = "file"\npath = "nope.npz"\n',
        None,
        "data.path",
        ["nope.npz", "no such data file"],
    ),
    ("nan-npz", '[data]\nsource = "file"\npath = "nan.npz"\n', {"nan.npz": _nan_npz}, "data.path", ["nan.npz", "NaN"]),
    (
        "npz-x-y-lengths",
        '[data]\nsource = "file"\npath = "mis.npz"\n',
        {"mis.npz": _mismatched_npz},
        "data.path",
        ["mis.npz", "(20, 3)", "19 targets"],
    ),
    (
        "csv-one-column",
        '[data]\nsource = "file"\npath = "one.csv"\n',
        {"one.csv": _one_column_csv},
        "data.path",
        ["one.csv", "more than 1 column"],
    ),
    (
        "early-stopping-without-validation",
        '[data]\nsource = "xor"\n[early_stopping]\npatience = 3\n',
        None,
        "early_stopping",
        ["validation", "data.validation"],
    ),
]


@pytest.mark.parametrize("body,files,key,words", [v[1:] for v in VALIDATION], ids=[v[0] for v in VALIDATION])
def test_validation_names_the_key(tmp_path, body, files, key, words):
    msg = validation_lines(tmp_path, body, files)
    assert key in msg, msg
    for w in words:
        assert w in msg, (w, msg)


# DESIGN.md: error lines are "FILE: key.path: what is wrong".
def _form_case(v):
    case, body, files, key, _ = v
    return pytest.param(body, files, key, id=case)


@pytest.mark.parametrize("body,files,key", [_form_case(v) for v in VALIDATION])
def test_validation_line_has_the_documented_form(tmp_path, body, files, key):
    msg = validation_lines(tmp_path, body, files)
    assert msg.startswith(key + ": "), msg


def _text_label_csv(path):
    path.write_text("a,b,label\n0.1,0.2,setosa\n0.3,0.4,virginica\n0.5,0.6,setosa\n")


@pytest.mark.parametrize("writer", [_ragged_csv, _text_label_csv], ids=["row-without-target", "text-labels"])
def test_csv_whose_inputs_and_targets_do_not_match(tmp_path, writer):
    msg = validation_lines(tmp_path, '[data]\nsource = "file"\npath = "bad.csv"\n', {"bad.csv": writer})
    assert msg.startswith("data.path: ") and "bad.csv" in msg


def test_valid_file_data_passes_validation(tmp_path):
    rng = np.random.default_rng(0)
    table = np.c_[rng.normal(size=(30, 2)), np.arange(30) % 2]
    np.savetxt(tmp_path / "ok.csv", table, delimiter=",", header="a,b,label", comments="")
    path = tmp_path / "s.toml"
    path.write_text(
        HEAD + '[data]\nsource = "file"\npath = "ok.csv"\n[network]\nhidden = [3]\n[training]\nbatch_size = 8\n'
    )
    sc = api.validate(path)
    st = F.setup(sc.runs[0].settings, sc.runs[0].seed_sequence(), sc.runs[0].base_dir)
    assert st.task == "classification" and st.sizes == [2, 3, 2] and len(st.splits["train"][0]) == 24


# =========================================================================== 5. a real run

E2E = """
name = "ff-e2e"
model = "feedforward"
seed = 77

[data]
source = "blobs"
n_samples = 80
n_classes = 3

[network]
kind = "mlp"
hidden = [5, 4]
activation = "relu"

[optimizer]
name = "adam"
lr = 0.01

[training]
epochs = 4
batch_size = 16

[regularization]
dropout = 0.1

[early_stopping]
patience = 50

[record]
per_step = true
snapshot_every = 2

[sweep]
replicates = 2
grid = { "regularization.dropout_mode" = ["inverted", "classic"] }
"""

DIMS = {
    "epoch": ("epoch",),
    "lr": ("epoch",),
    "batch_loss": ("epoch",),
    "train_loss": ("epoch",),
    "train_metric": ("epoch",),
    "val_loss": ("epoch",),
    "val_metric": ("epoch",),
    "weight_norm": ("epoch", "layer"),
    "grad_norm": ("epoch", "layer"),
    "update_ratio": ("epoch", "layer"),
    "act_mean": ("epoch", "hidden"),
    "act_std": ("epoch", "hidden"),
    "dead_fraction": ("epoch", "hidden"),
    "step": ("step",),
    "step_loss": ("step",),
    "step_lr": ("step",),
    "layer_sizes": ("size",),
    "snapshot": ("snapshot",),
    **{f"{p}weight_{l}": (f"unit_{l}", f"unit_{l + 1}") for p in ("", "initial_", "last_") for l in range(3)},
    **{f"{p}bias_{l}": (f"unit_{l + 1}",) for p in ("", "initial_", "last_") for l in range(3)},
    **{f"snapshot_weight_{l}": ("snapshot", f"unit_{l}", f"unit_{l + 1}") for l in range(3)},
}


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    d = tmp_path_factory.mktemp("ff")
    path = d / "ff.toml"
    path.write_text(E2E)
    one = api.run_scenario(path, store=d / "one.zarr", workers=1)
    return path, d, one


def test_end_to_end_run_into_a_store(e2e):
    path, d, report = e2e
    assert len(report.results) == 4 and not report.failed and not report.skipped
    store = d / "one.zarr"
    runs = api.list_runs(store)
    assert len(runs) == 4 and all(r["status"] == "complete" and r["model"] == "feedforward" for r in runs)
    sc = api.validate(path)
    for spec in sc.runs:
        info = api.show_run(store, spec.run_id)
        # early_stopping.restore_best (default) stores best (weight_l) and last (last_weight_l)
        assert set(info["arrays"]) == set(DIMS)
        for name, meta in info["arrays"].items():
            assert tuple(meta["dims"]) == DIMS[name], name
        arrays = api.load_run(store, spec.run_id)
        assert arrays["epoch"].tolist() == [0, 1, 2, 3, 4]
        assert arrays["weight_norm"].shape == (5, 3) and arrays["act_mean"].shape == (5, 2)
        assert arrays["step"].tolist() == list(range(1, 4 * 4 + 1))  # 64 training rows / 16
        assert arrays["layer_sizes"].tolist() == [2, 5, 4, 3]
        assert arrays["snapshot"].tolist() == [0, 2, 4]
        # the stored run is what training this spec in-process gives, bit for bit
        st, metrics, rows = train_spec(spec)
        for name in rows.epoch:
            np.testing.assert_array_equal(arrays[name], rows.get(name), err_msg=name)
        np.testing.assert_array_equal(arrays["step_loss"], rows.get("step_loss"))
        (W0, b0), *_ = unpack(st.params, st.sizes)
        np.testing.assert_array_equal(arrays["weight_0"], W0)
        np.testing.assert_array_equal(arrays["bias_0"], b0)
        attrs = S.run_attrs(S.open_store(store), spec.run_id)
        assert attrs["metrics"]["epochs_run"] == 4 and attrs["metrics"]["n_params"] == len(st.params)
        assert attrs["metrics"]["val_loss"] == metrics["val_loss"]


def test_end_to_end_store_opens_in_xarray(e2e):
    xr = pytest.importorskip("xarray")
    _, d, report = e2e
    rid = report.results[0].run_id
    ds = xr.open_zarr(str(d / "one.zarr"), group=f"runs/{rid}", consolidated=False)
    assert ds["weight_norm"].dims == ("epoch", "layer")
    assert ds["act_mean"].dims == ("epoch", "hidden")
    assert ds["weight_1"].dims == ("unit_1", "unit_2") and ds.sizes["unit_1"] == 5
    assert ds["snapshot_weight_2"].dims == ("snapshot", "unit_2", "unit_3")
    assert ds.attrs["status"] == "complete" and ds.attrs["model"] == "feedforward"
    assert int(ds["epoch"][-1]) == 4


def test_end_to_end_rerun_skips_and_two_workers_are_bit_identical(e2e):
    from support import assert_same_runs, store_contents

    path, d, _ = e2e
    again = api.run_scenario(path, store=d / "one.zarr", workers=1)
    assert not again.results and len(again.skipped) == 4
    two = api.run_scenario(path, store=d / "two.zarr", workers=2)
    assert len(two.results) == 4 and not two.failed
    assert_same_runs(store_contents(d / "one.zarr"), store_contents(d / "two.zarr"))


def test_batch_larger_than_training_set_is_one_full_batch():
    # as PyTorch's DataLoader: a batch_size above the training set gives one batch of all rows
    base = {
        "name": "b",
        "model": "feedforward",
        "seed": 3,
        "data": {"source": "xor"},
        "network": {"hidden": [4], "activation": "tanh"},
        "optimizer": {"name": "sgd", "lr": 0.5},
        "training": {"epochs": 5},
    }
    for b in (32, "full"):
        spec = parse_scenario({**base, "training": {"epochs": 5, "batch_size": b}}).runs[0]
        st = F.setup(spec.settings, spec.seed_sequence())
        rows = []
        metrics = F.train(spec.settings, st, np.array([1, 2, 3, 4], np.uint64), on_epoch=lambda **c: rows.append(c))
        assert metrics["steps_per_epoch"] == 1
        # one step per epoch over all 4 rows: the batch loss is the full training loss before the step
        for before, after in zip(rows[:-1], rows[1:]):
            assert after["batch_loss"][0] == pytest.approx(before["train_loss"][0], rel=1e-5)


def test_cost_follows_the_data_and_the_layers():
    """cost(config) counts 6 multiply-adds per weight, sample and epoch, with the widths of the data."""

    def cost(data, network, epochs=3):
        (spec,) = runs_of(scenario(data=data, network=network, training={"epochs": epochs}))
        return F.cost(spec.config)

    blobs = {"source": "blobs", "n_samples": 50, "n_classes": 3, "n_features": 5}
    assert cost(blobs, {"kind": "mlp", "hidden": [7]}) == 6.0 * 50 * (5 * 7 + 7 * 3) * 3
    wide = {**blobs, "n_features": 20, "n_samples": 80}
    assert cost(wide, {"kind": "mlp", "hidden": [7]}) == 6.0 * 80 * (20 * 7 + 7 * 3) * 3
    # an autoencoder's outputs are its inputs; the digits are 1797 rows of 64 pixels
    ae = cost({"source": "digits"}, {"kind": "autoencoder", "hidden": [16], "bottleneck": 4}, epochs=1)
    assert ae == 6.0 * 1797 * (64 * 16 + 16 * 4 + 4 * 16 + 16 * 64)
    # a data file of unknown size: the stated guess of dynet.train.loop
    from dynet.train import loop

    rows, cols, outs = (*loop.FILE_DATA_GUESS, loop.FILE_OUTPUTS_GUESS)
    spec = runs_of(scenario(data={"source": "file", "path": "x.npy"}, network={"kind": "mlp", "hidden": [7]}))[0]
    assert F.cost(spec.config) == 6.0 * rows * (cols * 7 + 7 * outs) * spec.settings.training.epochs
