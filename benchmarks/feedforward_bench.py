#!/usr/bin/env python
"""Feedforward benchmarks: dynet's epoch kernel against PyTorch and scikit-learn on one CPU thread.

Run from the repository root::

    python benchmarks/feedforward_bench.py            # full run (about 3 min on a 2-core EPYC VM)
    python benchmarks/feedforward_bench.py --quick    # short run (fewer epochs, one seed)
    python benchmarks/feedforward_bench.py --json results.json

Everything runs in one process on one thread (the BLAS/OpenMP thread variables are set to
1 before numpy is imported; ``torch.set_num_threads(1)``). The task: the bundled digits
(``dynet.data.load_digits``, 1797 x 64, 10 classes), standardized by the training split,
80/20 train/validation split; an MLP 64-256-256-10 with ReLU, softmax cross-entropy,
Adam (lr 1e-3, PyTorch's betas and eps), float32, at batch sizes 32 and 256.

1. Training throughput (training samples per second of training time) and validation
   accuracy after the same number of epochs, for

   * dynet: a scenario dict through ``dynet.scenario.parse_scenario``, then
     ``dynet.models.feedforward.driver.setup()`` and ``train()``. Timed: the sum of the
     ``dynet.models.feedforward.kernels.train_epoch`` calls (one compiled call per epoch:
     batch gather, forward, loss, backward, grad norms, Adam), measured by wrapping that
     module attribute in this process (``train()`` looks it up at call time). Not timed:
     the per-epoch evaluation of the train and validation splits that ``train()`` does
     (reported separately as ``train()`` wall time), compilation (a warm-up run first).
   * PyTorch: ``nn.Sequential(Linear, ReLU, Linear, ReLU, Linear)``, ``CrossEntropyLoss``,
     ``torch.optim.Adam``; a plain loop, a fresh ``torch.randperm`` per epoch and batches
     by index tensors (no DataLoader). Timed: the epoch loop, nothing else.
   * scikit-learn: ``MLPClassifier(hidden_layer_sizes=(256, 256), activation="relu",
     solver="adam", alpha=0, batch_size=B, max_iter=epochs, shuffle=True, tol=0,
     n_iter_no_change=epochs + 1, early_stopping=False)``. Timed: ``fit``.

   The three start from the same weights: dynet's Glorot-uniform draw
   ``U(+-sqrt(6 / (fan_in + fan_out)))`` (the formula scikit-learn uses for ReLU), zero
   biases, copied into the PyTorch layers and into scikit-learn through its ``_init_coef``.
   For each seed, dynet's scenario seed fixes the split, the weights and its sampling; the
   other two train on exactly the same float32 arrays with their own shuffling seeded
   from the same number.
2. Where dynet's time goes: every piece of a training step timed alone, as ``train_epoch``
   runs it on this network, on the real layer shapes and on real mini-batches (8 different
   ones in rotation, so data-dependent branches are not learned by the predictor), next to
   the variants of part 3 and whether they give the same bits.
3. Variants that change dynet's results (nothing in ``dynet/`` is changed): dynet's own
   ``train_epoch`` recompiled with Adam in float32 arithmetic and/or the products compiled
   with fused multiply-adds, run through the same ``train()``; final parameters compared
   bit for bit with dynet's (they differ). Every bit-identical speed-up the earlier
   prototypes here showed is in ``dynet/`` now.
"""

from __future__ import annotations

import os

# Pin every BLAS / OpenMP pool to one thread before numpy (or torch) is imported.
for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
import warnings  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
from _common import blas_name as _blas_name
from _common import cpu_model as _cpu_model
from _common import loadavg as _loadavg
from _common import table as _table  # noqa: E402
from numba import njit  # noqa: E402

from dynet.models.feedforward import driver as M  # noqa: E402
from dynet.models.feedforward import kernels as K  # noqa: E402
from dynet.scenario import parse_scenario  # noqa: E402
from dynet.train import dense as D  # noqa: E402
from dynet.train import optimizers as O  # noqa: E402
from dynet.train.losses import CROSS_ENTROPY, loss_and_grad  # noqa: E402
from dynet.train.optimizers import optimizer_step  # noqa: E402

try:
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    TORCH_ERROR = None
except Exception as exc:  # ImportError, or interop threads already set
    torch = None
    TORCH_ERROR = f"{type(exc).__name__}: {exc}"

try:
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    SKLEARN_ERROR = None
except Exception as exc:
    sklearn = None
    SKLEARN_ERROR = f"{type(exc).__name__}: {exc}"

perf = time.perf_counter

HIDDEN = (256, 256)
LR = 1e-3
BATCHES = (32, 256)
TARGETS = {32: {"torch": 2.0, "sklearn": 1.5}, 256: {"torch": 1.0}}  # dynet / peer, samples per second
ACC_POINTS = 1.0  # |dynet - PyTorch| validation accuracy, percentage points (mean over seeds)

CONFIGS = {
    "full": dict(
        epochs={32: 30, 256: 80},
        seeds=(0, 1, 2),
        piece_target_s=0.05,
        piece_repeats=5,
        variant_seeds=(0, 1, 2),
        variants=("f32adam", "fma", "f32adam_fma"),
    ),
    "quick": dict(
        epochs={32: 10, 256: 25},
        seeds=(0,),
        piece_target_s=0.02,
        piece_repeats=3,
        variant_seeds=(0,),
        variants=("f32adam", "f32adam_fma"),
    ),
}


# --------------------------------------------------------------------------- helpers


def _same_bits(*pairs):
    """Bitwise equality of each (a, b) pair (unlike ==, tells -0.0 from 0.0 and compares NaNs)."""
    for a, b in pairs:
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        u = {4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
        if not np.array_equal(a.view(u), b.view(u)):
            return False
    return True


@contextlib.contextmanager
def _patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


class _Clock:
    """Wall and process-CPU time of a block; cpu/wall ~1.0 means one busy, unpreempted thread."""

    def __enter__(self):
        self.c0, self.t0 = time.process_time(), perf()
        return self

    def __exit__(self, *exc):
        self.wall = perf() - self.t0
        self.cpu = time.process_time() - self.c0


# --------------------------------------------------------------------------- the task


def scenario_doc(batch, epochs, seed):
    return {
        "name": "feedforward-bench",
        "model": "feedforward",
        "seed": seed,
        "data": {"source": "digits", "validation": 0.2, "test": 0.0, "standardize": True},
        "network": {"kind": "mlp", "hidden": list(HIDDEN), "activation": "relu"},
        # Glorot uniform with gain 1: U(+-sqrt(6 / (fan_in + fan_out))), scikit-learn's ReLU init
        "init": {"weights": "glorot_uniform", "params": {"gain": 1.0}, "bias": 0.0},
        "optimizer": {"name": "adam", "lr": LR},  # betas (0.9, 0.999), eps 1e-8: PyTorch's defaults
        "training": {"epochs": epochs, "batch_size": batch, "sampling": "permutation"},
    }


def layer_arrays(st, params):
    """[(W (n_in, n_out), b (n_out,))] views of a flat parameter vector."""
    return [
        (params[w : w + n_in * n_out].reshape(n_in, n_out), params[b : b + n_out]) for n_in, n_out, w, b, _ in st.layout
    ]


# --------------------------------------------------------------------------- part 1: dynet


class _EpochTimer:
    """Stands in for ``K.train_epoch``: calls ``impl`` and adds up the wall time of the calls."""

    def __init__(self, impl):
        self.impl, self.seconds, self.cpu, self.calls = impl, 0.0, 0.0, 0

    def __call__(self, *args):
        c0, t0 = time.process_time(), perf()
        out = self.impl(*args)
        self.seconds += perf() - t0
        self.cpu += time.process_time() - c0
        self.calls += 1
        return out


def run_dynet(batch, epochs, seed, impl=None):
    """One training run through ``setup()`` / ``train()``; ``impl`` replaces ``train_epoch``."""
    spec = parse_scenario(scenario_doc(batch, epochs, seed)).runs[0]
    st = M.setup(spec.settings, spec.seed_sequence())
    init = st.params.copy()
    timer = _EpochTimer(impl if impl is not None else K.train_epoch)
    with _patched(K, "train_epoch", timer), _Clock() as clk:
        metrics = M.train(spec.settings, st, st.rng_state)  # as dynet.models.feedforward.driver.run does
    n = len(st.splits["train"][0])
    assert timer.calls == epochs and metrics["epochs_run"] == epochs
    return {
        "seconds": timer.seconds,
        "cpu_per_wall": timer.cpu / timer.seconds,
        "samples_per_s": n * epochs / timer.seconds,
        "train_call_s": clk.wall,
        "val_acc": float(metrics["val_metric"]),
        "n_train": n,
        "steps_per_epoch": metrics["steps_per_epoch"],
        "_st": st,
        "_init": init,
        "_params": st.params.copy(),
    }


# --------------------------------------------------------------------------- part 1: PyTorch


def _torch_model(st, init):
    model = torch.nn.Sequential(
        torch.nn.Linear(64, HIDDEN[0]),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN[0], HIDDEN[1]),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN[1], 10),
    )
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, (w, b) in zip(linears, layer_arrays(st, init)):
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))  # nn.Linear stores W^T
            lin.bias.copy_(torch.from_numpy(b.copy()))
    return model


def _torch_epochs(model, opt, loss_fn, x, y, batch, epochs, gen):
    n = x.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, batch):
            idx = perm[start : start + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()


def run_torch(st, init, batch, epochs, seed):
    xt, _, yt = st.splits["train"]
    xv, _, yv = st.splits["validation"]
    x, y = torch.from_numpy(xt), torch.from_numpy(yt)
    loss_fn = torch.nn.CrossEntropyLoss()
    # warm-up: one epoch on a throwaway copy (first-call allocations, autograd graph set-up)
    m0 = _torch_model(st, init)
    _torch_epochs(m0, torch.optim.Adam(m0.parameters(), lr=LR), loss_fn, x, y, batch, 1, torch.Generator())
    model = _torch_model(st, init)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(seed)
    with _Clock() as clk:
        _torch_epochs(model, opt, loss_fn, x, y, batch, epochs, gen)
    with torch.no_grad():
        acc = float((model(torch.from_numpy(xv)).argmax(1).numpy() == yv).mean())
    return {
        "seconds": clk.wall,
        "cpu_per_wall": clk.cpu / clk.wall,
        "samples_per_s": len(xt) * epochs / clk.wall,
        "val_acc": acc,
    }


# --------------------------------------------------------------------------- part 1: scikit-learn


def _sklearn_model(st, init, batch, epochs, seed):
    clf = MLPClassifier(
        hidden_layer_sizes=HIDDEN,
        activation="relu",
        solver="adam",
        alpha=0.0,
        learning_rate_init=LR,
        batch_size=batch,
        max_iter=epochs,
        shuffle=True,
        tol=0.0,
        n_iter_no_change=epochs + 1,
        early_stopping=False,
        random_state=seed,
    )
    start = iter([(w.copy(), b.copy()) for w, b in layer_arrays(st, init)])

    def init_coef(fan_in, fan_out, dtype):  # the same starting weights as dynet and PyTorch
        w, b = next(start)
        assert w.shape == (fan_in, fan_out)
        return w.astype(dtype, copy=False), b.astype(dtype, copy=False)

    clf._init_coef = init_coef
    return clf


def run_sklearn(st, init, batch, epochs, seed):
    xt, _, yt = st.splits["train"]
    xv, _, yv = st.splits["validation"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _sklearn_model(st, init, batch, 1, seed).fit(xt, yt)  # warm-up
        clf = _sklearn_model(st, init, batch, epochs, seed)
        with _Clock() as clk:
            clf.fit(xt, yt)
    assert clf.n_iter_ == epochs and clf.coefs_[0].dtype == np.float32
    return {
        "seconds": clk.wall,
        "cpu_per_wall": clk.cpu / clk.wall,
        "samples_per_s": len(xt) * epochs / clk.wall,
        "val_acc": float((clf.predict(xv) == yv).mean()),
    }


# --------------------------------------------------------------------------- part 3: variants that change bits
#
# Everything dynet's benchmark prototypes once showed with the same bits is now in dynet/
# (benchmarks/README.md, "Feedforward"). What is left here are the two changes that do NOT
# keep dynet's results bit for bit, measured as variants of dynet's own train_epoch: Adam
# in float32 arithmetic, and the products compiled with fused multiply-adds. Nothing in
# dynet/ is modified: the variants are dynet's kernels recompiled with some of the
# functions they call replaced (_recompiled).


def _recompiled(dispatcher, replace=None, **flags):
    """``dispatcher``'s Python function compiled again (no cache) with ``flags`` and the global
    names in ``replace`` bound to other functions, e.g. a product compiled with FMA."""
    f = dispatcher.py_func
    glb = dict(f.__globals__)
    glb.update(replace or {})
    clone = types.FunctionType(f.__code__, glb, f.__name__, f.__defaults__, f.__closure__)
    return njit(**flags)(clone)


@njit(error_model="numpy")
def adam_float32(params, grads, exp_avg, exp_avg_sq, t, lr, beta1, beta2, eps, weight_decay):
    """Adam (no amsgrad) in float32 arithmetic, as torch.optim.Adam's single-tensor path does
    for float32 parameters. NOT the same bits as dynet's float64-per-element step."""
    b1 = np.float32(beta1)
    b2 = np.float32(beta2)
    ob1 = np.float32(1.0 - beta1)
    ob2 = np.float32(1.0 - beta2)
    wd = np.float32(weight_decay)
    step_size = np.float32(lr / (1.0 - beta1**t))
    bc2 = np.float32(math.sqrt(1.0 - beta2**t))
    e = np.float32(eps)
    for i in range(params.shape[0]):
        g = grads[i] + wd * params[i]
        m = b1 * exp_avg[i] + ob1 * g
        exp_avg[i] = m
        v = b2 * exp_avg_sq[i] + ob2 * g * g
        exp_avg_sq[i] = v
        params[i] = params[i] - step_size * m / (np.float32(math.sqrt(v)) / bc2 + e)


@njit
def optimizer_step_f32adam(opt_code, params, grads, opt_state, t, lr, hyper):
    """``optimizer_step`` with Adam (without amsgrad) in float32 arithmetic."""
    if opt_code == O.ADAM and hyper[4] == 0.0:
        adam_float32(params, grads, opt_state[0], opt_state[1], t, lr, hyper[0], hyper[1], hyper[2], hyper[3])
    else:
        optimizer_step(opt_code, params, grads, opt_state, t, lr, hyper)


_FMA = {}


def fma_products():
    """dynet's dense kernels with ``fastmath={"contract"}`` on the product: ``o + a * t`` becomes one
    fused multiply-add (one rounding instead of two), NOT dynet's bits. Keyed by dynet's names."""
    if not _FMA:
        then = _recompiled(D.accumulate_product_then, fastmath={"contract"})
        plain = _recompiled(D.accumulate_product, {"accumulate_product_then": then})
        rep = {"accumulate_product_then": then, "accumulate_product": plain}
        _FMA.update(rep)
        for name in (
            "dense_forward",
            "dense_forward_relu",
            "dense_forward_transposed",
            "dense_backward_params",
            "dense_backward_params_transposed",
            "dense_backward_input_transposed",
            "dense_backward_input_relu",
        ):
            _FMA[name] = _recompiled(getattr(D, name), rep)
    return _FMA


def make_variant_train_epoch(f32_adam=False, fma=False):
    """``K.train_epoch`` (same signature) with float32 Adam and/or the FMA products."""
    replace = {}
    if fma:
        P = fma_products()
        forward = _recompiled(
            K._forward_pass, {k: P[k] for k in ("dense_forward", "dense_forward_relu", "dense_forward_transposed")}
        )
        backward = _recompiled(
            K.backward,
            {
                k: P[k]
                for k in (
                    "dense_backward_params",
                    "dense_backward_params_transposed",
                    "dense_backward_input_transposed",
                    "dense_backward_input_relu",
                )
            },
        )
        replace.update(_forward_pass=forward, backward=backward)
    if f32_adam:
        replace["optimizer_step"] = optimizer_step_f32adam
    return _recompiled(K.train_epoch, replace)


# --------------------------------------------------------------------------- part 2: pieces of a step
#
# Each harness runs one piece R times over nb different mini-batches (index r % nb), the
# way train_epoch calls it (same kernels, dtypes and C-contiguous views, in place where
# dynet works in place). Per-call time = harness time / R. Kernels are passed in, so the
# same harness times dynet's kernel and its FMA variant.


@njit
def _h_forward(R, f, X, W, b, Z, A):  # f = dense_forward_relu
    for r in range(R):
        k = r % X.shape[0]
        f(X[k], W, b, Z[k], A[k])


@njit
def _h_forward_narrow(R, f, X, W, b, Z, A, xt, zt):  # K._forward_pass on a narrow output layer
    for r in range(R):
        k = r % X.shape[0]
        D.transpose_into(X[k], xt)
        f(W, xt, b, zt)
        D.transpose_into(zt, Z[k])
        A[k][:, :] = Z[k]


@njit
def _h_loss(R, Z, labels, G):
    y = np.zeros((0, 0), Z.dtype)
    s = 0.0
    for r in range(R):
        s += loss_and_grad(CROSS_ENTROPY, Z[r % Z.shape[0]], y, labels[r % Z.shape[0]], G[r % Z.shape[0]])
    return s


@njit
def _h_backward_params(R, f, X, dY, dW, db):  # f = dense_backward_params
    for r in range(R):
        k = r % X.shape[0]
        f(X[k], dY[k], dW, db)


@njit
def _h_backward_params_narrow(R, f, X, dY, dW, db, dwt):  # f = dense_backward_params_transposed
    for r in range(R):
        k = r % X.shape[0]
        f(X[k], dY[k], dwt, db)
        D.transpose_into(dwt, dW)


@njit
def _h_transpose(R, W, Wt):
    for _r in range(R):
        D.transpose_into(W, Wt)


@njit
def _h_backward_input_relu(R, f, dY, Wt, Z, dX):  # f = dense_backward_input_relu
    for r in range(R):
        k = r % dY.shape[0]
        f(dY[k], Wt, Z[k], dX[k])


@njit
def _h_gather(R, X, labels, idx, xb, lb):
    n = X.shape[0]
    rows = xb.shape[0]
    for r in range(R):
        start = (r * rows) % (n - rows)
        for i in range(rows):
            xb[i, :] = X[idx[start + i]]
            lb[i] = labels[idx[start + i]]


@njit
def _h_layer_norms(R, g, layout, out):
    for _r in range(R):
        K.layer_norms(g, layout, out)


@njit
def _h_adam(R, step, p, g, state, hyper):  # step = optimizer_step or optimizer_step_f32adam
    for r in range(R):
        step(O.ADAM, p, g, state, r + 1, LR, hyper)


@njit
def _h_update_ratio(R, params, before, layout, ratio):
    """train_epoch's last-step extra work (copy, two norm passes, difference), without the step."""
    n_layers = layout.shape[0]
    norms = np.empty(n_layers)
    delta = np.empty(n_layers)
    for _r in range(R):
        before[:] = params
        K.layer_norms(before, layout, norms)
        for i in range(before.shape[0]):
            before[i] = params[i] - before[i]
        K.layer_norms(before, layout, delta)
        for l in range(n_layers):
            ratio[l] = delta[l] / norms[l] if norms[l] > 0 else 0.0


def _per_call(harness, args, nb, cfg):
    """Median seconds per call of ``harness(R, *args)`` over ``piece_repeats`` timings of ~target_s each."""
    harness(nb, *args)  # compile + warm caches
    t0 = perf()
    harness(nb, *args)
    once = max((perf() - t0) / nb, 1e-8)
    reps = max(nb, int(cfg["piece_target_s"] / once) // nb * nb)
    times = []
    for _ in range(cfg["piece_repeats"]):
        t0 = perf()
        harness(reps, *args)
        times.append((perf() - t0) / reps)
    return statistics.median(times)


def _batches(st, params, batch, nb, seed):
    """nb real mini-batches of the training split through dynet's own forward/backward."""
    x, _, lab = st.splits["train"]
    rng = np.random.default_rng(seed)
    reps = -(-nb * batch // len(x))
    order = np.concatenate([rng.permutation(len(x)) for _ in range(reps)])[: nb * batch].reshape(nb, batch)
    sizes = st.sizes
    layout = M.make_layout(sizes, batch)
    units = int(layout[-1, 4] + batch * layout[-1, 1])
    L = len(sizes) - 1
    Z = [np.empty((nb, batch, sizes[l + 1]), np.float32) for l in range(L)]
    A = [np.empty((nb, batch, sizes[l + 1]), np.float32) for l in range(L)]
    G = [np.empty((nb, batch, sizes[l + 1]), np.float32) for l in range(L)]  # dL/dz (after the ReLU mask)
    xs = np.ascontiguousarray(x[order])
    labels = np.ascontiguousarray(lab[order])
    grads = np.empty_like(params)
    wt_buf = np.empty(max(a * b for a, b in zip(sizes[:-1], sizes[1:])), np.float32)
    rs = np.array([1, 2, 3, 4], np.uint64)
    no_bn = np.zeros(0, np.float32)
    for k in range(nb):
        zb, ab, db, mb = (np.empty(units, np.float32) for _ in range(4))
        out = K.forward(
            params,
            layout,
            st.act_codes,
            st.act_params,
            st.drop,
            st.inverted,
            st.bn,
            no_bn,
            no_bn,
            0.1,
            1e-5,
            True,
            xs[k],
            zb,
            ab,
            mb,
            no_bn,
            no_bn,
            rs,
        )
        g_out = K._units(db, layout, L - 1, batch)
        loss_and_grad(CROSS_ENTROPY, out, np.zeros((0, 0), np.float32), labels[k], g_out)
        K.backward(
            params,
            grads,
            layout,
            st.act_codes,
            st.act_params,
            st.drop,
            st.inverted,
            st.bn,
            0,
            xs[k],
            zb,
            ab,
            db,
            mb,
            no_bn,
            no_bn,
            wt_buf,
        )
        for l in range(L):
            Z[l][k] = K._units(zb, layout, l, batch)
            A[l][k] = K._units(ab, layout, l, batch)
            G[l][k] = K._units(db, layout, l, batch)
    return xs, labels, Z, A, G, grads, layout


def bench_pieces(st, params, batch, cfg, steps_per_epoch, log):
    """Per-step cost of every piece of dynet's training step, and of its FMA / float32-Adam variants."""
    nb = 8
    xs, labels, Z, A, G, grads, layout = _batches(st, params, batch, nb, 0)
    Ws = [(np.ascontiguousarray(w), np.ascontiguousarray(b)) for w, b in layer_arrays(st, params)]
    sizes = st.sizes
    L = len(sizes) - 1
    P = fma_products()
    pc = lambda h, *a: _per_call(h, a, nb, cfg)  # noqa: E731
    rows = []

    def row(piece, calls, t_dyn, t_var, same, flops=0.0):
        rows.append(
            {
                "piece": piece,
                "calls_per_step": calls,
                "dynet_us": 1e6 * calls * t_dyn,
                "variant_us": None if t_var is None else 1e6 * calls * t_var,
                "same_bits": same,
                "flops": flops,
            }
        )
        log(
            f"    B={batch} {piece}: dynet {1e6 * t_dyn:.1f} us"
            + ("" if t_var is None else f", variant {1e6 * t_var:.1f} us")
        )

    def variant(h, name, outs, fresh):
        """Time the FMA variant of a product and check whether its outputs equal dynet's ``outs``."""
        mine = [np.empty_like(o) for o in outs]
        t = pc(h, P[name], *fresh(mine))
        return t, _same_bits(*zip(outs, mine))

    x, _, lab = st.splits["train"]
    idx = np.random.default_rng(1).permutation(len(x))
    xb = np.empty((batch, x.shape[1]), np.float32)
    lb = np.empty(batch, np.int64)
    row("batch gather (x rows, labels)", 1, pc(_h_gather, x, lab, idx, xb, lb), None, None)

    # forward, as K._forward_pass runs it on this network
    prev = [xs] + A[:-1]
    for l in range(L):
        W, b = Ws[l]
        n_in, n_out = sizes[l], sizes[l + 1]
        fl = 2.0 * batch * n_in * n_out
        zo, ao = np.empty_like(Z[l]), np.empty_like(A[l])
        if l < L - 1:
            t = pc(_h_forward, D.dense_forward_relu, prev[l], W, b, zo, ao)
            tv, same = variant(_h_forward, "dense_forward_relu", (zo, ao), lambda m: (prev[l], W, b, m[0], m[1]))
            row(f"dense_forward_relu L{l} ({n_in}x{n_out})", 1, t, tv, same, fl)
        else:
            xt, zt = np.empty((n_in, batch), np.float32), np.empty((n_out, batch), np.float32)
            t = pc(_h_forward_narrow, D.dense_forward_transposed, prev[l], W, b, zo, ao, xt, zt)
            tv, same = variant(
                _h_forward_narrow, "dense_forward_transposed", (zo, ao), lambda m: (prev[l], W, b, m[0], m[1], xt, zt)
            )
            row(
                f"transpose + dense_forward_transposed L{l} ({n_in}x{n_out}) + transpose, logits copy",
                1,
                t,
                tv,
                same,
                fl,
            )

    gl = np.empty_like(Z[-1])
    row("loss_and_grad (cross-entropy)", 1, pc(_h_loss, Z[-1], labels, gl), None, None)

    # backward, last layer first (as K.backward)
    for l in range(L - 1, -1, -1):
        n_in, n_out = sizes[l], sizes[l + 1]
        fl = 2.0 * batch * n_in * n_out
        W, _ = Ws[l]
        dW, db = np.empty((n_in, n_out), np.float32), np.empty(n_out, np.float32)
        if n_out < K.NARROW <= n_in:
            dwt = np.empty((n_out, n_in), np.float32)
            t = pc(_h_backward_params_narrow, D.dense_backward_params_transposed, prev[l], G[l], dW, db, dwt)
            tv, same = variant(
                _h_backward_params_narrow,
                "dense_backward_params_transposed",
                (dW, db),
                lambda m: (prev[l], G[l], m[0], m[1], dwt),
            )
            row(f"dense_backward_params_transposed L{l} + transpose", 1, t, tv, same, fl)
        else:
            t = pc(_h_backward_params, D.dense_backward_params, prev[l], G[l], dW, db)
            tv, same = variant(
                _h_backward_params, "dense_backward_params", (dW, db), lambda m: (prev[l], G[l], m[0], m[1])
            )
            row(f"dense_backward_params L{l}", 1, t, tv, same, fl)
        if l > 0:
            Wt = np.empty((n_out, n_in), np.float32)
            row(f"transpose_into W{l} ({n_in}x{n_out})", 1, pc(_h_transpose, W, Wt), None, None)
            dX = np.empty((nb, batch, n_in), np.float32)
            t = pc(_h_backward_input_relu, D.dense_backward_input_relu, G[l], Wt, Z[l - 1], dX)
            tv, same = variant(
                _h_backward_input_relu, "dense_backward_input_relu", (dX,), lambda m: (G[l], Wt, Z[l - 1], m[0])
            )
            row(f"dense_backward_input_relu L{l}", 1, t, tv, same, fl)
            assert _same_bits((dX, G[l - 1])), "the harness does not reproduce K.backward"

    # per-step passes over all parameters
    n_par = len(params)
    g = grads.copy()
    row("layer_norms(grads) (grad-norm record)", 1, pc(_h_layer_norms, g, layout, np.empty(L)), None, None)
    hyper = O.AdamParams(lr=LR).pack_hyper()
    pa, pf = params.copy(), params.copy()
    _h_adam(3, optimizer_step, pa, g, np.zeros((3, n_par), np.float32), hyper)  # three steps, same start
    _h_adam(3, optimizer_step_f32adam, pf, g, np.zeros((3, n_par), np.float32), hyper)
    t_a = pc(_h_adam, optimizer_step, params.copy(), g, np.zeros((3, n_par), np.float32), hyper)
    t_af = pc(_h_adam, optimizer_step_f32adam, params.copy(), g, np.zeros((3, n_par), np.float32), hyper)
    row(
        f"Adam step ({n_par} params)",
        1,
        t_a,
        t_af,
        f"False (max |dp| after 3 steps {float(np.max(np.abs(pf.astype(np.float64) - pa))):.0e})",
    )
    t_ur = pc(_h_update_ratio, params.copy(), np.empty_like(params), layout, np.empty(L))
    row("update-ratio pass (last step of an epoch)", 1.0 / steps_per_epoch, t_ur, None, None)
    return rows


def summarize_pieces(rows, batch):
    dyn = sum(r["dynet_us"] for r in rows)
    fma = sum(
        r["variant_us"] if r["variant_us"] is not None and not r["piece"].startswith("Adam") else r["dynet_us"]
        for r in rows
    )
    both = sum(r["variant_us"] if r["variant_us"] is not None else r["dynet_us"] for r in rows)
    return {
        "batch": batch,
        "dynet_step_us": dyn,
        "fma_step_us": fma,
        "fma_f32adam_step_us": both,
        "dynet_samples_per_s": batch / dyn * 1e6,
    }


# --------------------------------------------------------------------------- main

VARIANTS = {
    "f32adam": dict(label="dynet + float32 Adam", kw={"f32_adam": True}),
    "fma": dict(label="dynet + FMA products", kw={"fma": True}),
    "f32adam_fma": dict(label="dynet + float32 Adam + FMA", kw={"f32_adam": True, "fma": True}),
}


def _med(runs, key="samples_per_s"):
    return statistics.median(r[key] for r in runs)


def _mean(runs, key="val_acc"):
    return statistics.fmean(r[key] for r in runs)


def _met(ok):
    return "MET" if ok else "MISSED"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run: fewer epochs, one seed")
    ap.add_argument("--json", metavar="PATH", help="also write machine-readable results to PATH")
    ap.add_argument("--batches", type=int, nargs="+", default=list(BATCHES), help="batch sizes (default 32 256)")
    ap.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0 1 2; --quick: 0)")
    ap.add_argument("--no-peers", action="store_true", help="dynet only (skip PyTorch and scikit-learn)")
    ap.add_argument(
        "--no-prototypes",
        action="store_true",
        help="part 1 only: skip the pieces of a step (part 2) and the variants that change bits (part 3)",
    )
    ap.add_argument("--verbose", action="store_true", help="print every run and piece as it is timed")
    args = ap.parse_args(argv)

    cfg = dict(CONFIGS["quick" if args.quick else "full"])
    seeds = tuple(args.seeds) if args.seeds else cfg["seeds"]
    use_torch = torch is not None and not args.no_peers
    use_sk = sklearn is not None and not args.no_peers
    variants = [] if args.no_prototypes else list(cfg["variants"])
    log = print if args.verbose else (lambda *a, **k: None)

    machine = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "blas": _blas_name(),
        "torch": torch.__version__ if torch is not None else None,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "sklearn": sklearn.__version__ if sklearn is not None else None,
        "loadavg_start": _loadavg(),
    }
    print("dynet feedforward benchmark" + (" (--quick)" if args.quick else ""))
    print(
        f"  CPU: {machine['cpu']} ({machine['logical_cpus']} logical CPUs); one thread "
        f"(OMP/OPENBLAS/MKL_NUM_THREADS=1, torch.set_num_threads(1))"
    )
    print(
        f"  Python {machine['python']}, numpy {machine['numpy']} ({machine['blas']}), numba {machine['numba']}, "
        f"torch {machine['torch'] or 'NOT INSTALLED'}, scikit-learn {machine['sklearn'] or 'NOT INSTALLED'}"
    )
    if torch is None:
        print(f"  PyTorch missing ({TORCH_ERROR}): no PyTorch figures.")
    if sklearn is None:
        print(f"  scikit-learn missing ({SKLEARN_ERROR}): no scikit-learn figures.")
    print(
        f"  task: digits 64-{HIDDEN[0]}-{HIDDEN[1]}-10 ReLU, cross-entropy, Adam lr {LR}, float32; "
        f"epochs {cfg['epochs']}, seeds {list(seeds)}; load average at start {machine['loadavg_start']:.2f}"
    )
    print()

    t_start = perf()
    impls = {}
    for v in variants:
        t0 = perf()
        impls[v] = make_variant_train_epoch(**VARIANTS[v]["kw"])
        run_dynet(BATCHES[0], 1, 0, impl=impls[v])  # compile
        log(f"  compiled variant {v} in {perf() - t0:.1f} s")

    results = {}
    for batch in args.batches:
        epochs = cfg["epochs"][batch] if batch in cfg["epochs"] else cfg["epochs"][BATCHES[-1]]
        print(f"[batch {batch}] {epochs} epochs x {len(seeds)} seed(s) ...", flush=True)
        run_dynet(batch, 1, seeds[0])  # warm-up: load/compile dynet's kernels
        res = {"epochs": epochs, "dynet": [], "torch": [], "sklearn": [], "variants": {v: [] for v in variants}}
        for seed in seeds:  # interleaved, so a busy spell on the machine hits every library
            d = run_dynet(batch, epochs, seed)
            st, init, ref = d.pop("_st"), d.pop("_init"), d.pop("_params")
            d["eval_s"] = d["train_call_s"] - d["seconds"]
            res["dynet"].append(d | {"seed": seed})
            log(f"    dynet   seed {seed}: {d['samples_per_s']:,.0f} samples/s, val acc {d['val_acc']:.4f}")
            if use_torch:
                r = run_torch(st, init, batch, epochs, seed)
                res["torch"].append(r | {"seed": seed})
                log(f"    PyTorch seed {seed}: {r['samples_per_s']:,.0f} samples/s, val acc {r['val_acc']:.4f}")
            if use_sk:
                r = run_sklearn(st, init, batch, epochs, seed)
                res["sklearn"].append(r | {"seed": seed})
                log(f"    sklearn seed {seed}: {r['samples_per_s']:,.0f} samples/s, val acc {r['val_acc']:.4f}")
            if seed in cfg["variant_seeds"] or args.seeds:
                for v in variants:
                    p = run_dynet(batch, epochs, seed, impl=impls[v])
                    p.pop("_st"), p.pop("_init")
                    p["same_params_as_dynet"] = _same_bits((p.pop("_params"), ref))
                    res["variants"][v].append(p | {"seed": seed})
                    log(
                        f"    variant {v} seed {seed}: {p['samples_per_s']:,.0f} samples/s, "
                        f"same params: {p['same_params_as_dynet']}"
                    )
            if seed == seeds[0]:
                trained = (st, st.params.copy(), d["steps_per_epoch"])
        if not args.no_prototypes:
            print(f"[batch {batch}] pieces of a step ...", flush=True)
            st, params, steps = trained
            res["pieces"] = bench_pieces(st, params, batch, cfg, steps, log)
            res["pieces_summary"] = summarize_pieces(res["pieces"], batch)
        results[batch] = res
    print()

    # ---- part 1
    print("1. Training throughput (training samples / s of training time) and validation accuracy")
    print("   dynet: sum of train_epoch calls (excl. per-epoch evaluation); PyTorch: the epoch loop; scikit-learn:")
    print("   fit(). Median over seeds; accuracy: mean over seeds after the same epochs, identical starting weights.")
    hdr = ["batch", "epochs", "library", "samples/s", "(min - max)", "val acc", "per seed", "cpu/wall"]
    rows = []
    summary = {}
    for batch, res in results.items():
        for lib, name in (("dynet", "dynet"), ("torch", "PyTorch"), ("sklearn", "scikit-learn")):
            runs = res[lib]
            if not runs:
                continue
            sp = [r["samples_per_s"] for r in runs]
            rows.append(
                [
                    batch,
                    res["epochs"],
                    name,
                    f"{_med(runs):,.0f}",
                    f"{min(sp):,.0f} - {max(sp):,.0f}",
                    f"{100 * _mean(runs):.2f}%",
                    " ".join(f"{100 * r['val_acc']:.1f}" for r in runs),
                    f"{statistics.fmean(r['cpu_per_wall'] for r in runs):.2f}",
                ]
            )
        s = {
            "dynet_samples_per_s": _med(res["dynet"]),
            "dynet_val_acc": _mean(res["dynet"]),
            "dynet_train_call_s": statistics.median(r["train_call_s"] for r in res["dynet"]),
            "dynet_eval_s": statistics.median(r["eval_s"] for r in res["dynet"]),
        }
        if res["torch"]:
            s.update(torch_samples_per_s=_med(res["torch"]), torch_val_acc=_mean(res["torch"]))
            s["ratio_torch"] = s["dynet_samples_per_s"] / s["torch_samples_per_s"]
            s["acc_diff_points"] = 100 * (s["dynet_val_acc"] - s["torch_val_acc"])
        if res["sklearn"]:
            s.update(sklearn_samples_per_s=_med(res["sklearn"]), sklearn_val_acc=_mean(res["sklearn"]))
            s["ratio_sklearn"] = s["dynet_samples_per_s"] / s["sklearn_samples_per_s"]
        summary[batch] = s
    print(_table(hdr, rows))
    print()
    print("   Ratios and targets:")
    targets_out = {}
    for batch, s in summary.items():
        tg = TARGETS.get(batch, {})
        parts = []
        for peer, key in (("torch", "ratio_torch"), ("sklearn", "ratio_sklearn")):
            if key not in s:
                continue
            line = f"dynet/{'PyTorch' if peer == 'torch' else 'scikit-learn'} = {s[key]:.2f}x"
            if peer in tg:
                ok = s[key] >= tg[peer]
                targets_out[f"b{batch}_{peer}"] = ok
                line += f" (target >= {tg[peer]:g}x: {_met(ok)})"
            parts.append(line)
        if "acc_diff_points" in s:
            ok = abs(s["acc_diff_points"]) <= ACC_POINTS
            targets_out[f"b{batch}_accuracy"] = ok
            parts.append(
                f"accuracy dynet - PyTorch = {s['acc_diff_points']:+.2f} points "
                f"(target within {ACC_POINTS:g}: {_met(ok)})"
            )
        print(f"   batch {batch}: " + "; ".join(parts))
    print("   dynet's train() wall time including its per-epoch evaluation of the train and validation splits:")
    for batch, s in summary.items():
        print(
            f"   batch {batch}: train() {s['dynet_train_call_s']:.2f} s, of which evaluation and bookkeeping "
            f"{s['dynet_eval_s']:.2f} s"
        )
    print()

    # ---- part 2
    if not args.no_prototypes:
        print("2. Where a dynet training step goes (each piece alone as train_epoch runs it, real mini-batches,")
        print("   median; us per full step), next to the variants of part 3: the products with FMA, Adam in float32.")
        print("   'same bits': the variant's outputs equal dynet's.")
        for batch, res in results.items():
            rs = res["pieces"]
            sm = res["pieces_summary"]
            measured_us = 1e6 * batch / summary[batch]["dynet_samples_per_s"]
            hdr = ["piece", "calls/step", "dynet us", "% of step", "GFLOP/s", "variant us", "speed-up", "same bits"]
            rows = []
            for r in rs:
                vu = r["variant_us"]
                rows.append(
                    [
                        r["piece"],
                        f"{r['calls_per_step']:.3g}",
                        f"{r['dynet_us']:.1f}",
                        f"{100 * r['dynet_us'] / sm['dynet_step_us']:.1f}",
                        f"{r['flops'] * r['calls_per_step'] / r['dynet_us'] / 1e3:.1f}" if r["flops"] else "",
                        "-" if vu is None else f"{vu:.1f}",
                        "" if not vu else f"{r['dynet_us'] / vu:.2f}x",
                        "" if r["same_bits"] is None else str(r["same_bits"]),
                    ]
                )
            print(f"   batch {batch}:")
            print("   " + _table(hdr, rows).replace("\n", "\n   "))
            print(
                f"   sum of pieces: dynet {sm['dynet_step_us']:.0f} us/step ({sm['dynet_samples_per_s']:,.0f} "
                f"samples/s); with FMA products {sm['fma_step_us']:.0f}, and float32 Adam "
                f"{sm['fma_f32adam_step_us']:.0f} us/step. Measured train_epoch: {measured_us:.0f} us per "
                f"{batch} samples."
            )
            print()

        # ---- part 3
        print("3. dynet's train_epoch with changes that alter its results (dynet/ untouched), through the same")
        print("   setup()/train(), same seeds:")
        hdr = ["batch", "variant", "samples/s", "x dynet", "vs PyTorch", "vs sklearn", "val acc", "same params"]
        rows = []
        for batch, res in results.items():
            s = summary[batch]
            tg = TARGETS.get(batch, {})
            for v in variants:
                runs = res["variants"][v]
                if not runs:
                    continue
                sp = _med(runs)
                dyn_same = [r for r in res["dynet"] if r["seed"] in {q["seed"] for q in runs}]
                cell = {}
                out = s.setdefault("variants", {})[v] = {
                    "samples_per_s": sp,
                    "ratio_dynet": sp / _med(dyn_same),
                    "val_acc": _mean(runs),
                    "same_params_as_dynet": f"{sum(r['same_params_as_dynet'] for r in runs)}/{len(runs)}",
                }
                for peer, key in (("torch", "torch_samples_per_s"), ("sklearn", "sklearn_samples_per_s")):
                    if key in s:
                        ratio = sp / s[key]
                        out[f"ratio_{peer}"] = ratio
                        if peer in tg:
                            out[f"met_{peer}"] = ratio >= tg[peer]
                        cell[peer] = f"{ratio:.2f}x" + (f" ({_met(ratio >= tg[peer])})" if peer in tg else "")
                    else:
                        cell[peer] = "n/a"
                rows.append(
                    [
                        batch,
                        VARIANTS[v]["label"],
                        f"{sp:,.0f}",
                        f"{sp / _med(dyn_same):.2f}x",
                        cell["torch"],
                        cell["sklearn"],
                        f"{100 * _mean(runs):.2f}%",
                        f"{sum(r['same_params_as_dynet'] for r in runs)}/{len(runs)}",
                    ]
                )
        print(_table(hdr, rows))
        print("   same params: final parameters bit-identical to dynet's run with the same seed.")
        print()
    machine["loadavg_end"] = _loadavg()
    print(f"Load average at the end: {machine['loadavg_end']:.2f} (a busy machine makes every figure noisier).")
    print(f"Total benchmark time: {perf() - t_start:.1f} s")

    if args.json:
        doc = {
            "machine": machine,
            "config": {k: (v if k != "epochs" else {str(b): e for b, e in v.items()}) for k, v in cfg.items()},
            "quick": args.quick,
            "seeds": list(seeds),
            "targets": {str(k): v for k, v in TARGETS.items()},
            "accuracy_points": ACC_POINTS,
            "met": targets_out,
            "summary": {str(k): v for k, v in summary.items()},
            "results": {str(k): v for k, v in results.items()},
        }
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=2, default=float)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
