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
     ``dynet.models.feedforward.setup()`` and ``train()``. Timed: the sum of the
     ``dynet.kernels.feedforward.train_epoch`` calls (one compiled call per epoch:
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
2. Where dynet's time goes: every piece of a training step timed alone on the real layer
   shapes and on real mini-batches (8 different ones in rotation, so data-dependent
   branches are not learned by the predictor), next to the prototype replacements of
   part 3 and whether they give the same bits.
3. Prototype speed-ups (nothing in ``dynet/`` is changed): ``train_epoch`` rebuilt in this
   file from dynet's own pieces plus faster kernels, run through the same ``train()``;
   its final parameters are compared bit for bit with dynet's.
"""

from __future__ import annotations

import os

# Pin every BLAS / OpenMP pool to one thread before numpy (or torch) is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from _common import table as _table, cpu_model as _cpu_model, blas_name as _blas_name, loadavg as _loadavg  # noqa: E402
import numba  # noqa: E402
from numba import njit  # noqa: E402

from dynet.kernels import feedforward as K  # noqa: E402
from dynet.kernels.rng import next_below, permutation, seed_state  # noqa: E402
from dynet.models import feedforward as M  # noqa: E402
from dynet.scenario import parse_scenario  # noqa: E402
from dynet.train import dense as D  # noqa: E402
from dynet.train import optimizers as O  # noqa: E402
from dynet.train.activations import RELU, activate, activate_backward  # noqa: E402
from dynet.train.losses import CROSS_ENTROPY, loss_and_grad  # noqa: E402
from dynet.train.optimizers import clip_norm_flat, clip_value_flat, optimizer_step  # noqa: E402

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
    "full": dict(epochs={32: 30, 256: 80}, seeds=(0, 1, 2), piece_target_s=0.05, piece_repeats=5,
                 proto_seeds=(0, 1, 2), variants=("exact", "f32adam", "f32adam_fma")),
    "quick": dict(epochs={32: 10, 256: 25}, seeds=(0,), piece_target_s=0.02, piece_repeats=3,
                  proto_seeds=(0,), variants=("exact", "f32adam")),
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
        "name": "feedforward-bench", "model": "feedforward", "seed": seed,
        "data": {"source": "digits", "validation": 0.2, "test": 0.0, "standardize": True},
        "network": {"kind": "mlp", "hidden": list(HIDDEN), "activation": "relu"},
        # Glorot uniform with gain 1: U(+-sqrt(6 / (fan_in + fan_out))), scikit-learn's ReLU init
        "init": {"weights": "glorot_uniform", "params": {"gain": 1.0}, "bias": 0.0},
        "optimizer": {"name": "adam", "lr": LR},  # betas (0.9, 0.999), eps 1e-8: PyTorch's defaults
        "training": {"epochs": epochs, "batch_size": batch, "sampling": "permutation"},
    }


def layer_arrays(st, params):
    """[(W (n_in, n_out), b (n_out,))] views of a flat parameter vector."""
    return [(params[w:w + n_in * n_out].reshape(n_in, n_out), params[b:b + n_out])
            for n_in, n_out, w, b, _ in st.layout]


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
    st = M.setup(spec.config, spec.seed_sequence())
    init = st.params.copy()
    rng_state = seed_state(spec.seed_sequence().spawn(4)[3])  # as dynet.models.feedforward.run seeds it
    timer = _EpochTimer(impl if impl is not None else K.train_epoch)
    with _patched(K, "train_epoch", timer), _Clock() as clk:
        metrics = M.train(spec.config, st, rng_state)
    n = len(st.splits["train"][0])
    assert timer.calls == epochs and metrics["epochs_run"] == epochs
    return {"seconds": timer.seconds, "cpu_per_wall": timer.cpu / timer.seconds,
            "samples_per_s": n * epochs / timer.seconds, "train_call_s": clk.wall,
            "val_acc": float(metrics["val_metric"]), "n_train": n, "steps_per_epoch": metrics["steps_per_epoch"],
            "_st": st, "_init": init, "_params": st.params.copy()}


# --------------------------------------------------------------------------- part 1: PyTorch

def _torch_model(st, init):
    model = torch.nn.Sequential(torch.nn.Linear(64, HIDDEN[0]), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN[0], HIDDEN[1]), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN[1], 10))
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
            idx = perm[start:start + batch]
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
    return {"seconds": clk.wall, "cpu_per_wall": clk.cpu / clk.wall, "samples_per_s": len(xt) * epochs / clk.wall,
            "val_acc": acc}


# --------------------------------------------------------------------------- part 1: scikit-learn

def _sklearn_model(st, init, batch, epochs, seed):
    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, activation="relu", solver="adam", alpha=0.0,
                        learning_rate_init=LR, batch_size=batch, max_iter=epochs, shuffle=True, tol=0.0,
                        n_iter_no_change=epochs + 1, early_stopping=False, random_state=seed)
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
    return {"seconds": clk.wall, "cpu_per_wall": clk.cpu / clk.wall, "samples_per_s": len(xt) * epochs / clk.wall,
            "val_acc": float((clf.predict(xv) == yv).mean())}


# --------------------------------------------------------------------------- part 3: prototype kernels
#
# Everything below is a proposal for dynet/ prototyped here; nothing in dynet/ is modified.
# Unless marked otherwise each kernel gives the same bits as the dynet kernel it replaces:
# every output element is still summed in the same (increasing) order with one rounding per
# multiply and per add (no fastmath), only the loop structure around it changes.

GENERATED_SOURCE = {}  # name -> Python source of each generated kernel (--print-kernel)


def gen_product(name, MR=4, KU=4, scal="row", init="zero", post=None, fastmath=False):
    """Generate and compile ``O[i, :] = init_i + sum_p S(i, p) * V[p, :]``, ``p`` increasing.

    The loop order of dynet's products (``i-p-j``: the innermost loop streams a row of
    ``V`` into a row of ``O``) with two changes: ``MR`` output rows share each loaded
    row of ``V`` and the reduction is unrolled ``KU`` times, so the innermost loop does
    ``O[i, j] = O[i, j] + s0 * V[p, j] + s1 * V[p+1, j] + ...`` (left to right: the same
    order and roundings as one term at a time) and loads/stores the accumulator rows
    ``KU`` times less often. ``S(i, p)`` is ``S[i, p]`` (``scal="row"``) or ``S[p, i]``
    (``"col"``). ``init``: ``"zero"``, ``"bvec"`` (``O[i, j] = b[j]``) or ``"brow"``
    (``O[i, j] = b[i]``). ``post``: ``"relu"`` also writes ``A = max(O, 0)`` while the rows
    are in L1; ``"mask"`` applies the ReLU derivative, ``O = O if Z > 0 else 0``.

    The dense layer's three products: forward ``Z = X W + b`` is (S=X, V=W, "row",
    "bvec"); ``dW = X^T dZ`` is (S=X, V=dZ, "col"); ``dX = dZ W^T`` is (S=dZ, V=W^T, "row").
    """
    lines = []
    a = lines.append
    sv = (lambda r, u: f"S[i + {r}, p + {u}]") if scal == "row" else (lambda r, u: f"S[p + {u}, i + {r}]")
    first = {"zero": lambda r: "0.0", "bvec": lambda r: "b[j]", "brow": lambda r: f"b[i + {r}]"}[init]
    a(f"def {name}(S, V, b, O, A, Z):")
    a("    n_out = O.shape[0]")
    a("    n_red = V.shape[0]")
    a("    J = V.shape[1]")

    def rows(mr, ind):
        for r in range(mr):
            a(f"{ind}o{r} = O[i + {r}]")
        a(f"{ind}for j in range(J):")
        for r in range(mr):
            a(f"{ind}    o{r}[j] = {first(r)}")
        a(f"{ind}p = 0")
        a(f"{ind}while p + {KU} <= n_red:")
        for u in range(KU):
            a(f"{ind}    v{u} = V[p + {u}]")
        for r in range(mr):
            for u in range(KU):
                a(f"{ind}    s{r}_{u} = {sv(r, u)}")
        a(f"{ind}    for j in range(J):")
        for u in range(KU):
            a(f"{ind}        t{u} = v{u}[j]")
        for r in range(mr):
            a(f"{ind}        o{r}[j] = o{r}[j]" + "".join(f" + s{r}_{u} * t{u}" for u in range(KU)))
        a(f"{ind}    p += {KU}")
        a(f"{ind}while p < n_red:")
        a(f"{ind}    v0 = V[p]")
        for r in range(mr):
            a(f"{ind}    s{r}_0 = {sv(r, 0)}")
        a(f"{ind}    for j in range(J):")
        a(f"{ind}        t0 = v0[j]")
        for r in range(mr):
            a(f"{ind}        o{r}[j] = o{r}[j] + s{r}_0 * t0")
        a(f"{ind}    p += 1")
        for r in range(mr):  # one row per loop: few pointers, so the loop vectorizes
            if post == "relu":
                a(f"{ind}o = O[i + {r}]")
                a(f"{ind}ar = A[i + {r}]")
                a(f"{ind}for j in range(J):")
                a(f"{ind}    q = o[j]")
                a(f"{ind}    ar[j] = q if q > 0.0 else 0.0")
            elif post == "mask":
                a(f"{ind}o = O[i + {r}]")
                a(f"{ind}z = Z[i + {r}]")
                a(f"{ind}for j in range(J):")
                a(f"{ind}    g = o[j]")  # unconditional load: a select, not a branch
                a(f"{ind}    o[j] = g if z[j] > 0.0 else 0.0")

    a("    i = 0")
    a(f"    while i + {MR} <= n_out:")
    rows(MR, " " * 8)
    a(f"        i += {MR}")
    a("    while i < n_out:")
    rows(1, " " * 8)
    a("        i += 1")
    src = "\n".join(lines)
    GENERATED_SOURCE[name] = src
    ns = {}
    exec(compile(src, f"<generated {name}>", "exec"), ns)
    return njit(fastmath=fastmath)(ns[name])


def gen_transpose(BS=8):
    """``Wt = W^T`` in unrolled ``BS x BS`` blocks (dynet's ``transpose_into`` walks a column of
    ``Wt`` per row of ``W``: one scattered store per element)."""
    L = ["def transpose_blocked(W, Wt):", "    K, J = W.shape",
         f"    if K < {2 * BS} or J < {2 * BS}:",  # narrow: the plain loop is faster
         "        for j in range(J):", "            for k in range(K):", "                Wt[j, k] = W[k, j]",
         "        return",
         f"    Kb = K - K % {BS}", f"    Jb = J - J % {BS}",
         f"    for k0 in range(0, Kb, {BS}):", f"        for j0 in range(0, Jb, {BS}):"]
    L += [f"            w{r} = W[k0 + {r}]" for r in range(BS)]
    for c in range(BS):
        L.append(f"            t = Wt[j0 + {c}]")
        L += [f"            t[k0 + {r}] = w{r}[j0 + {c}]" for r in range(BS)]
    L += ["    for j in range(Jb, J):", "        for k in range(Kb):", "            Wt[j, k] = W[k, j]",
          "    for k in range(Kb, K):", "        for j in range(J):", "            Wt[j, k] = W[k, j]"]
    ns = {}
    exec(compile("\n".join(L), "<generated transpose_blocked>", "exec"), ns)
    return njit(ns["transpose_blocked"])


transpose_blocked = gen_transpose()

# dynet's own _adam source, compiled with numba's "numpy" error model: without it every
# float division checks for zero and raises ZeroDivisionError, a branch that keeps LLVM
# from vectorizing the loop. Same arithmetic, same bits.
adam_numpy_errors = njit(error_model="numpy")(O._adam.py_func)


@njit(error_model="numpy")
def adam_float32(params, grads, exp_avg, exp_avg_sq, t, lr, beta1, beta2, eps, weight_decay):
    """Adam (no amsgrad) in float32 arithmetic, as torch.optim.Adam's single-tensor path does
    for float32 parameters. NOT the same bits as dynet's float64-per-element step."""
    b1 = np.float32(beta1)
    b2 = np.float32(beta2)
    ob1 = np.float32(1.0 - beta1)
    ob2 = np.float32(1.0 - beta2)
    wd = np.float32(weight_decay)
    step_size = np.float32(lr / (1.0 - beta1 ** t))
    bc2 = np.float32(math.sqrt(1.0 - beta2 ** t))
    e = np.float32(eps)
    for i in range(params.shape[0]):
        g = grads[i] + wd * params[i]
        m = b1 * exp_avg[i] + ob1 * g
        exp_avg[i] = m
        v = b2 * exp_avg_sq[i] + ob2 * g * g
        exp_avg_sq[i] = v
        params[i] = params[i] - step_size * m / (np.float32(math.sqrt(v)) / bc2 + e)


@njit(fastmath={"reassoc", "nsz"})
def layer_norms_simd(arr, layout, out):
    """``K.layer_norms`` with the same float32 squares summed in float64 in SIMD order
    (``reassoc``), over a 0-based slice. Differs from dynet's sequential sum in the last bits
    of the grad-norm diagnostic only (it does not feed back into training). The slice matters:
    a loop index starting at ``layout[l, 2]`` costs a negative-index wraparound per element,
    which blocks vector loads."""
    for l in range(layout.shape[0]):
        w0 = layout[l, 2]
        seg = arr[w0:w0 + layout[l, 0] * layout[l, 1]]
        acc = 0.0
        for i in range(seg.shape[0]):
            v = seg[i]
            acc += v * v
        out[l] = np.sqrt(acc)


@njit
def relu_backward_select(z, a, grad_out, grad_in, param):
    """``dynet.train.activations.relu_backward`` with the load of ``grad_out`` hoisted out of
    the conditional: a select instead of a data-dependent branch (same bits)."""
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            g = grad_out[i, j]
            grad_in[i, j] = g if z[i, j] > 0.0 else 0.0


@njit
def column_sums(dY, db):
    """``db[j] = sum_n dY[n, j]``, n increasing (dynet's bias gradient, unchanged)."""
    for j in range(dY.shape[1]):
        db[j] = 0.0
    for n in range(dY.shape[0]):
        g = dY[n]
        for j in range(dY.shape[1]):
            db[j] += g[j]


@njit
def forward_skip_zeros(X, W, b, Z, A):
    """Hidden-layer forward + ReLU, one row at a time, skipping the ``k`` where ``X[n, k] == 0``
    (ReLU outputs: about half). The remaining terms are summed in the same increasing order,
    so the values are dynet's (a skipped term is an exact +-0; only an exactly -0 partial sum
    or a non-finite weight could tell). Measured in part 2 only, not used in part 3."""
    N, Kd = X.shape
    J = W.shape[1]
    idx = np.empty(Kd, np.int64)
    for n in range(N):
        x = X[n]
        cnt = 0
        for k in range(Kd):  # branch-free compaction of the nonzero positions
            idx[cnt] = k
            cnt += x[k] != 0.0
        o = Z[n]
        for j in range(J):
            o[j] = b[j]
        p = 0
        while p + 4 <= cnt:
            k0 = idx[p]
            k1 = idx[p + 1]
            k2 = idx[p + 2]
            k3 = idx[p + 3]
            s0, s1, s2, s3 = x[k0], x[k1], x[k2], x[k3]
            v0, v1, v2, v3 = W[k0], W[k1], W[k2], W[k3]
            for j in range(J):
                o[j] = o[j] + s0 * v0[j] + s1 * v1[j] + s2 * v2[j] + s3 * v3[j]
            p += 4
        while p < cnt:
            k0 = idx[p]
            s0 = x[k0]
            v0 = W[k0]
            for j in range(J):
                o[j] = o[j] + s0 * v0[j]
            p += 1
        a = A[n]
        for j in range(J):
            q = o[j]
            a[j] = q if q > 0.0 else 0.0


NARROW = 16  # output layers narrower than this use the transposed products (see make_proto_train_epoch)


@contextlib.contextmanager
def _slp_vectorize():
    """numba compiles with LLVM's SLP vectorizer off (since 0.57, after miscompilations:
    numba PR #8852); this turns it on for what is compiled inside the block."""
    old = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        numba.config.SLP_VECTORIZE = old


def gen_tile_product(name, MR=4, NR=16, scal="row", init="zero", post=None, fastmath=False):
    """``gen_product``'s contract with a register tile: each ``MR x NR`` block of ``O`` is
    accumulated in scalars over the whole reduction (same order, same bits), which LLVM's SLP
    vectorizer packs into ``NR / 8`` ymm registers per row. Unsigned indices spare numba's
    negative-index wraparound, which otherwise defeats SLP. Compiled eagerly (C-contiguous
    float32 signature) with SLP on."""
    f32 = numba.float32
    sig = (f32[:, ::1], f32[:, ::1], f32[::1], f32[:, ::1], f32[:, ::1], f32[:, ::1])
    lines = []
    a = lines.append
    a(f"def {name}(S, V, b, O, A, Z):")
    a("    n_out = O.shape[0]")
    a("    n_red = V.shape[0]")
    a("    J = V.shape[1]")
    for c in range(max(MR, NR)):
        a(f"    u{c} = np.uint64({c})")
    sval = (lambda r: f"S[iu + u{r}, pu]") if scal == "row" else (lambda r: f"S[pu, iu + u{r}]")
    first = {"zero": lambda r, col: "np.float32(0.0)", "bvec": lambda r, col: f"b[{col}]",
             "brow": lambda r, col: f"b[iu + u{r}]"}[init]

    def store(r, col, val, ind):
        if post == "relu":
            a(f"{ind}O[iu + u{r}, {col}] = {val}")
            a(f"{ind}A[iu + u{r}, {col}] = {val} if {val} > 0.0 else np.float32(0.0)")
        elif post == "mask":
            a(f"{ind}O[iu + u{r}, {col}] = {val} if Z[iu + u{r}, {col}] > 0.0 else np.float32(0.0)")
        else:
            a(f"{ind}O[iu + u{r}, {col}] = {val}")

    def tile(mr, nr, ind):
        a(f"{ind}while j + {nr} <= J:")
        a(f"{ind}    ju = np.uint64(j)")
        for r in range(mr):
            for c in range(nr):
                a(f"{ind}    c{r}_{c} = {first(r, f'ju + u{c}')}")
        a(f"{ind}    for p in range(n_red):")
        a(f"{ind}        pu = np.uint64(p)")
        a(f"{ind}        v = V[pu]")
        for c in range(nr):
            a(f"{ind}        v{c} = v[ju + u{c}]")
        for r in range(mr):
            a(f"{ind}        s{r} = {sval(r)}")
            for c in range(nr):
                a(f"{ind}        c{r}_{c} = c{r}_{c} + s{r} * v{c}")
        for r in range(mr):
            for c in range(nr):
                store(r, f"ju + u{c}", f"c{r}_{c}", ind + "    ")
        a(f"{ind}    j += {nr}")

    def block(mr, ind):
        a(f"{ind}iu = np.uint64(i)")
        a(f"{ind}j = 0")
        tile(mr, NR, ind)
        if NR > 8:
            tile(mr, 8, ind)
        a(f"{ind}while j < J:")
        a(f"{ind}    ju = np.uint64(j)")
        for r in range(mr):
            a(f"{ind}    c{r}_0 = {first(r, 'ju')}")
        a(f"{ind}    for p in range(n_red):")
        a(f"{ind}        pu = np.uint64(p)")
        a(f"{ind}        v0 = V[pu, ju]")
        for r in range(mr):
            a(f"{ind}        c{r}_0 = c{r}_0 + {sval(r)} * v0")
        for r in range(mr):
            store(r, "ju", f"c{r}_0", ind + "    ")
        a(f"{ind}    j += 1")

    a("    i = 0")
    a(f"    while i + {MR} <= n_out:")
    block(MR, " " * 8)
    a(f"        i += {MR}")
    a("    while i < n_out:")
    block(1, " " * 8)
    a("        i += 1")
    ns = {"np": np}
    exec(compile("\n".join(lines), f"<generated {name}>", "exec"), ns)
    with _slp_vectorize():
        return njit(sig, fastmath=fastmath)(ns[name])


_PRODUCTS = {}


def proto_products(contract=False, tiles=False):
    """The five generated products (compiled once per variant)."""
    key = (contract, tiles)
    if key not in _PRODUCTS:
        fm = {"contract"} if contract else False
        gen = gen_tile_product if tiles else gen_product
        _PRODUCTS[key] = dict(
            fwd_relu=gen("fwd_relu", scal="row", init="bvec", post="relu", fastmath=fm),
            fwd=gen("fwd", scal="row", init="bvec", fastmath=fm),
            fwd_t=gen("fwd_t", scal="col", init="brow", fastmath=fm),
            bwd_params=gen("bwd_params", scal="col", init="zero", fastmath=fm),
            bwd_input_mask=gen("bwd_input_mask", scal="row", init="zero", post="mask", fastmath=fm),
            bwd_input=gen("bwd_input", scal="row", init="zero", fastmath=fm),
        )
    return _PRODUCTS[key]


_PASSES = {}


def _proto_passes(contract=False, tiles=False, narrow=NARROW):
    """The prototype's forward and backward passes (compiled once per product variant)."""
    key = (contract, tiles, narrow)
    if key in _PASSES:
        return _PASSES[key]
    P = proto_products(contract, tiles)
    fwd_relu, fwd, fwd_t = P["fwd_relu"], P["fwd"], P["fwd_t"]
    bwd_params, bwd_input_mask, bwd_input = P["bwd_params"], P["bwd_input_mask"], P["bwd_input"]
    @njit
    def forward(params, layout, act_codes, act_params, drop, inverted, training, x, z_buf, a_buf, mask_buf,
                rng_state, at_buf, zt_buf):
        rows = x.shape[0]
        n_layers = layout.shape[0]
        prev = x
        empty = np.empty((0, 0), x.dtype)
        for l in range(n_layers):
            z = K._units(z_buf, layout, l, rows)
            a = K._units(a_buf, layout, l, rows)
            W = K._weights(params, layout, l)
            b = K._bias(params, layout, l)
            n_in = layout[l, 0]
            n_out = layout[l, 1]
            if l < n_layers - 1:
                if act_codes[l] == RELU:
                    fwd_relu(prev, W, b, z, a, empty)
                else:
                    fwd(prev, W, b, z, empty, empty)
                    activate(act_codes[l], z, a, act_params[l])
                if drop[l] > 0.0:
                    D.dropout_forward_sample(a, drop[l], inverted, training, rng_state,
                                             K._units(mask_buf, layout, l, rows), a)
            else:
                if n_out < narrow:
                    at = at_buf[:n_in * rows].reshape((n_in, rows))
                    transpose_blocked(prev, at)
                    zt = zt_buf[:n_out * rows].reshape((n_out, rows))
                    fwd_t(W, at, b, zt, empty, empty)  # Z^T[j, :] = b[j] + sum_k W[k, j] A^T[k, :]
                    transpose_blocked(zt, z)
                else:
                    fwd(prev, W, b, z, empty, empty)
                a[:, :] = z
            prev = a
        return K._units(a_buf, layout, n_layers - 1, rows)

    @njit
    def backward(params, grads, layout, act_codes, act_params, drop, inverted, x, z_buf, a_buf, d_buf,
                 mask_buf, wt_buf, zt_buf):
        rows = x.shape[0]
        n_layers = layout.shape[0]
        empty = np.empty((0, 0), x.dtype)
        nob = np.empty(0, x.dtype)
        for l in range(n_layers - 1, -1, -1):
            dz = K._units(d_buf, layout, l, rows)
            prev = x if l == 0 else K._units(a_buf, layout, l - 1, rows)
            n_in = layout[l, 0]
            n_out = layout[l, 1]
            dW = K._weights(grads, layout, l)
            if n_out < narrow:
                dwt = zt_buf[:n_in * n_out].reshape((n_out, n_in))
                bwd_params(dz, prev, nob, dwt, empty, empty)  # dW^T[j, :] = sum_n dz[n, j] prev[n, :]
                transpose_blocked(dwt, dW)
            else:
                bwd_params(prev, dz, nob, dW, empty, empty)  # dW[k, :] = sum_n prev[n, k] dz[n, :]
            column_sums(dz, K._bias(grads, layout, l))
            if l > 0:
                wt = wt_buf[:n_in * n_out].reshape((n_out, n_in))
                transpose_blocked(K._weights(params, layout, l), wt)
                da = K._units(d_buf, layout, l - 1, rows)
                zprev = K._units(z_buf, layout, l - 1, rows)
                if act_codes[l - 1] == RELU and drop[l - 1] == 0.0:
                    bwd_input_mask(dz, wt, nob, da, empty, zprev)
                else:
                    bwd_input(dz, wt, nob, da, empty, empty)
                    if drop[l - 1] > 0.0:
                        D.dropout_backward(da, K._units(mask_buf, layout, l - 1, rows), drop[l - 1], inverted,
                                           True, da)
                    activate_backward(act_codes[l - 1], zprev, K._units(a_buf, layout, l - 1, rows), da, da,
                                      act_params[l - 1])

    _PASSES[key] = (forward, backward)
    return forward, backward


def make_proto_train_epoch(f32_adam=False, contract=False, tiles=False, narrow=NARROW):
    """``K.train_epoch`` (same signature, same semantics) rebuilt from dynet's pieces with:

    * the generated products (``gen_product``, 4 rows x 4-fold unrolled reduction), with the
      ReLU fused into the forward product and its derivative into the ``dX`` product;
    * a narrow output layer (``n_out < narrow``) computed transposed, so the vectorized loop
      runs over the batch instead of 10 outputs: ``Z^T = W^T A^T`` (``S = W``, col) from a
      blocked transpose of ``A``, and ``dW^T = dZ^T A`` (``S = dZ``, col) then transposed;
    * ``transpose_blocked`` for ``W^T``; ``layer_norms_simd`` for the per-step grad norms;
    * Adam compiled with ``error_model="numpy"`` (or, ``f32_adam``, in float32 arithmetic).

    ``contract``: let LLVM fuse multiply-adds into FMA (``fastmath={"contract"}``): one
    rounding per multiply-add, so NOT dynet's bits. ``tiles``: the SLP register tiles.
    """
    forward, backward = _proto_passes(contract, tiles, narrow)
    use_f32 = f32_adam

    @njit
    def opt_step(opt_code, params, grads, opt_state, t, lr, hyper):
        if opt_code == O.ADAM and hyper[4] == 0.0:  # Adam without amsgrad
            if use_f32:
                adam_float32(params, grads, opt_state[0], opt_state[1], t, lr, hyper[0], hyper[1], hyper[2],
                             hyper[3])
            else:
                adam_numpy_errors(params, grads, opt_state[0], opt_state[1], opt_state[2], t, lr, hyper[0],
                                  hyper[1], hyper[2], hyper[3], False, False)
        else:
            optimizer_step(opt_code, params, grads, opt_state, t, lr, hyper)

    @njit
    def train_epoch(params, grads, opt_code, opt_state, opt_hyper, step0, lrs, layout, act_codes, act_params,
                    drop, inverted, loss_code, l1, l2, clip_norm, clip_value, sampling, batch_size,
                    X, Y, labels, x_buf, y_buf, lab_buf, idx, z_buf, a_buf, d_buf, mask_buf, wt_buf, rng_state,
                    step_loss, grad_norm_sum, update_ratio, before):
        n = X.shape[0]
        n_in = X.shape[1]
        n_batches = (n + batch_size - 1) // batch_size
        if sampling == K.SAMPLE_PERMUTATION:
            permutation(idx, rng_state)
        else:
            for i in range(n_batches * batch_size):
                idx[i] = next_below(rng_state, n)
        n_layers = layout.shape[0]
        widest = 0
        for l in range(n_layers):
            widest = max(widest, layout[l, 0], layout[l, 1])
        at_buf = np.empty(widest * batch_size, x_buf.dtype)  # scratch of the transposed products
        zt_buf = np.empty(max(widest * batch_size, wt_buf.shape[0]), x_buf.dtype)
        norms = np.empty(n_layers)
        for k in range(n_batches):
            start = k * batch_size
            stop = min(start + batch_size, n) if sampling == K.SAMPLE_PERMUTATION else start + batch_size
            rows = stop - start
            xb = x_buf[:rows * n_in].reshape((rows, n_in))
            for r in range(rows):
                xb[r, :] = X[idx[start + r]]
            yb = y_buf[:rows * Y.shape[1]].reshape((rows, Y.shape[1]))
            if Y.shape[0] > 0:
                for r in range(rows):
                    yb[r, :] = Y[idx[start + r]]
            lb = lab_buf[:rows]
            if labels.shape[0] > 0:
                for r in range(rows):
                    lb[r] = labels[idx[start + r]]
            out = forward(params, layout, act_codes, act_params, drop, inverted, True, xb, z_buf, a_buf, mask_buf,
                          rng_state, at_buf, zt_buf)
            g_out = K._units(d_buf, layout, n_layers - 1, rows)
            loss = loss_and_grad(loss_code, out, yb, lb, g_out)
            step_loss[k] = loss
            if not np.isfinite(loss):
                return k, k
            backward(params, grads, layout, act_codes, act_params, drop, inverted, xb, z_buf, a_buf, d_buf,
                     mask_buf, wt_buf, zt_buf)
            if l1 != 0.0 or l2 != 0.0:
                K.penalize(params, grads, layout, l1, l2)
            layer_norms_simd(grads, layout, norms)
            for l in range(n_layers):
                grad_norm_sum[l] += norms[l]
            if clip_norm > 0.0:
                clip_norm_flat(grads, clip_norm, 2.0)
            if clip_value > 0.0:
                clip_value_flat(grads, clip_value)
            last = k == n_batches - 1
            if last:
                before[:] = params
            opt_step(opt_code, params, grads, opt_state, step0 + k + 1, lrs[k], opt_hyper)
            if last:
                K.layer_norms(before, layout, norms)
                for i in range(before.shape[0]):
                    before[i] = params[i] - before[i]
                delta = np.empty(n_layers)
                K.layer_norms(before, layout, delta)
                for l in range(n_layers):
                    update_ratio[l] = delta[l] / norms[l] if norms[l] > 0 else np.inf if delta[l] > 0 else 0.0
        return n_batches, -1

    return train_epoch


# --------------------------------------------------------------------------- part 2: pieces of a step
#
# Each harness runs one piece R times over nb different mini-batches (index r % nb), the
# way train_epoch calls it (same dtypes, C-contiguous views, in-place where dynet works in
# place). Per-call time = harness time / R.

@njit
def _h_dense_forward(R, X, W, b, Y):
    for r in range(R):
        D.dense_forward(X[r % X.shape[0]], W, b, Y[r % X.shape[0]])


@njit
def _h_relu(R, Z, A):
    for r in range(R):
        activate(RELU, Z[r % Z.shape[0]], A[r % Z.shape[0]], 0.0)


@njit
def _h_copy(R, Z, A):
    for r in range(R):
        A[r % Z.shape[0]][:, :] = Z[r % Z.shape[0]]


@njit
def _h_loss(R, Z, labels, G):
    y = np.zeros((0, 0), Z.dtype)
    s = 0.0
    for r in range(R):
        s += loss_and_grad(CROSS_ENTROPY, Z[r % Z.shape[0]], y, labels[r % Z.shape[0]], G[r % Z.shape[0]])
    return s


@njit
def _h_backward_params(R, X, dY, dW, db):
    for r in range(R):
        D.dense_backward_params(X[r % X.shape[0]], dY[r % X.shape[0]], dW, db)


@njit
def _h_transpose(R, W, Wt):
    for r in range(R):
        D.transpose_into(W, Wt)


@njit
def _h_backward_input(R, dY, Wt, dX):
    for r in range(R):
        D.dense_backward_input_transposed(dY[r % dY.shape[0]], Wt, dX[r % dY.shape[0]])


@njit
def _h_relu_backward(R, Z, G):  # in place, as train_epoch calls it
    for r in range(R):
        activate_backward(RELU, Z[r % Z.shape[0]], Z[r % Z.shape[0]], G[r % Z.shape[0]], G[r % Z.shape[0]], 0.0)


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
    for r in range(R):
        K.layer_norms(g, layout, out)


@njit
def _h_adam(R, p, g, state, hyper):
    for r in range(R):
        optimizer_step(O.ADAM, p, g, state, r + 1, LR, hyper)


@njit
def _h_update_ratio(R, params, before, layout, ratio):
    """train_epoch's last-step extra work (copy, two norm passes, difference), without the step."""
    n_layers = layout.shape[0]
    norms = np.empty(n_layers)
    delta = np.empty(n_layers)
    for r in range(R):
        before[:] = params
        K.layer_norms(before, layout, norms)
        for i in range(before.shape[0]):
            before[i] = params[i] - before[i]
        K.layer_norms(before, layout, delta)
        for l in range(n_layers):
            ratio[l] = delta[l] / norms[l] if norms[l] > 0 else 0.0


# prototype harnesses (the generated products are passed in as dispatchers)

@njit
def _hp_forward_relu(R, prod, X, W, b, Z, A):
    e = np.empty((0, 0), X.dtype)
    for r in range(R):
        prod(X[r % X.shape[0]], W, b, Z[r % X.shape[0]], A[r % X.shape[0]], e)


@njit
def _hp_forward_skip_zeros(R, X, W, b, Z, A):
    for r in range(R):
        forward_skip_zeros(X[r % X.shape[0]], W, b, Z[r % X.shape[0]], A[r % X.shape[0]])


@njit
def _hp_forward_narrow(R, prod, A, W, b, Z, Aout, at, zt):
    e = np.empty((0, 0), A.dtype)
    for r in range(R):
        k = r % A.shape[0]
        transpose_blocked(A[k], at)
        prod(W, at, b, zt, e, e)
        transpose_blocked(zt, Z[k])
        Aout[k][:, :] = Z[k]


@njit
def _hp_backward_params(R, prod, X, dY, dW, db):
    e = np.empty((0, 0), X.dtype)
    nob = np.empty(0, X.dtype)
    for r in range(R):
        k = r % X.shape[0]
        prod(X[k], dY[k], nob, dW, e, e)
        column_sums(dY[k], db)


@njit
def _hp_backward_params_narrow(R, prod, X, dY, dW, db, dwt):
    e = np.empty((0, 0), X.dtype)
    nob = np.empty(0, X.dtype)
    for r in range(R):
        k = r % X.shape[0]
        prod(dY[k], X[k], nob, dwt, e, e)
        transpose_blocked(dwt, dW)
        column_sums(dY[k], db)


@njit
def _hp_transpose(R, W, Wt):
    for r in range(R):
        transpose_blocked(W, Wt)


@njit
def _hp_backward_input_mask(R, prod, dY, Wt, dX, Zprev):
    nob = np.empty(0, dY.dtype)
    e = np.empty((0, 0), dY.dtype)
    for r in range(R):
        k = r % dY.shape[0]
        prod(dY[k], Wt, nob, dX[k], e, Zprev[k])


@njit
def _hp_relu_backward(R, Z, G):
    for r in range(R):
        relu_backward_select(Z[r % Z.shape[0]], Z[r % Z.shape[0]], G[r % Z.shape[0]], G[r % Z.shape[0]], 0.0)


@njit
def _hp_layer_norms(R, g, layout, out):
    for r in range(R):
        layer_norms_simd(g, layout, out)


@njit
def _hp_adam(R, p, g, state, hyper):
    for r in range(R):
        adam_numpy_errors(p, g, state[0], state[1], state[2], r + 1, LR, hyper[0], hyper[1], hyper[2], hyper[3],
                          False, False)


@njit
def _hp_adam_f32(R, p, g, state, hyper):
    for r in range(R):
        adam_float32(p, g, state[0], state[1], r + 1, LR, hyper[0], hyper[1], hyper[2], hyper[3])


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
    order = np.concatenate([rng.permutation(len(x)) for _ in range(reps)])[:nb * batch].reshape(nb, batch)
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
    for k in range(nb):
        zb, ab, db, mb = (np.empty(units, np.float32) for _ in range(4))
        out = K.forward(params, layout, st.act_codes, st.act_params, st.drop, st.inverted, True, xs[k], zb, ab,
                        mb, rs)
        g_out = K._units(db, layout, L - 1, batch)
        loss_and_grad(CROSS_ENTROPY, out, np.zeros((0, 0), np.float32), labels[k], g_out)
        K.backward(params, grads, layout, st.act_codes, st.act_params, st.drop, st.inverted, xs[k], zb, ab, db, mb,
                   wt_buf)
        for l in range(L):
            Z[l][k] = K._units(zb, layout, l, batch)
            A[l][k] = K._units(ab, layout, l, batch)
            G[l][k] = K._units(db, layout, l, batch)
    return xs, labels, Z, A, G, grads, layout


def bench_pieces(st, params, batch, cfg, steps_per_epoch, log):
    """Per-step cost of every piece of dynet's training step, and of the prototype's replacements."""
    nb = 8
    xs, labels, Z, A, G, grads, layout = _batches(st, params, batch, nb, 0)
    Ws = [(np.ascontiguousarray(w), np.ascontiguousarray(b)) for w, b in layer_arrays(st, params)]
    sizes = st.sizes
    L = len(sizes) - 1
    prod = proto_products()
    pc = lambda h, *a: _per_call(h, a, nb, cfg)  # noqa: E731
    rows = []

    def row(piece, group, calls, t_dyn, t_proto, same, flops=0.0):
        rows.append({"piece": piece, "group": group, "calls_per_step": calls, "dynet_us": 1e6 * calls * t_dyn,
                     "proto_us": None if t_proto is None else 1e6 * calls * t_proto, "same_bits": same,
                     "flops": flops})
        log(f"    B={batch} {piece}: dynet {1e6 * t_dyn:.1f} us" +
            ("" if t_proto is None else f", prototype {1e6 * t_proto:.1f} us"))

    # batch gather (x rows and labels by the permutation)
    x, _, lab = st.splits["train"]
    idx = np.random.default_rng(1).permutation(len(x))
    xb = np.empty((batch, x.shape[1]), np.float32)
    lb = np.empty(batch, np.int64)
    row("batch gather (x rows, labels)", "other", 1, pc(_h_gather, x, lab, idx, xb, lb), None, None)

    # forward
    prev = [xs] + A[:-1]
    for l in range(L):
        W, b = Ws[l]
        zo, ao = np.empty_like(Z[l]), np.empty_like(A[l])
        n_in, n_out = sizes[l], sizes[l + 1]
        fl = 2.0 * batch * n_in * n_out
        t_fwd = pc(_h_dense_forward, prev[l], W, b, zo)
        if l < L - 1:
            t_act = pc(_h_relu, zo, ao)
            zp, ap = np.empty_like(zo), np.empty_like(ao)
            t_p = pc(_hp_forward_relu, prod["fwd_relu"], prev[l], W, b, zp, ap)
            same = _same_bits((zo, zp), (ao, ap))
            row(f"dense_forward L{l} ({n_in}x{n_out})", f"forward L{l} + ReLU", 1, t_fwd, t_p, same, fl)
            row(f"ReLU forward L{l}", f"forward L{l} + ReLU", 1, t_act, 0.0, same)
            if l > 0:  # the input is a ReLU output: try skipping its zeros
                zs, as_ = np.empty_like(zo), np.empty_like(ao)
                t_s = pc(_hp_forward_skip_zeros, prev[l], W, b, zs, as_)
                row(f"  (forward L{l} + ReLU skipping the input's zeros, {100 * np.mean(prev[l] == 0):.0f}% zeros)",
                    "info", 1, t_fwd + t_act, t_s,
                    _same_bits((zo, zs), (ao, as_)))
        else:
            t_copy = pc(_h_copy, zo, ao)
            zp, ap = np.empty_like(zo), np.empty_like(ao)
            at = np.empty((n_in, batch), np.float32)
            zt = np.empty((n_out, batch), np.float32)
            t_p = pc(_hp_forward_narrow, prod["fwd_t"], prev[l], W, b, zp, ap, at, zt)
            same = _same_bits((zo, zp), (ao, ap))
            row(f"dense_forward L{l} ({n_in}x{n_out}) + logits copy", f"forward L{l}", 1, t_fwd + t_copy, t_p,
                same, fl)

    # loss
    gl = np.empty_like(Z[-1])
    row("loss_and_grad (cross-entropy)", "other", 1, pc(_h_loss, Z[-1], labels, gl), None, None)

    # backward, last layer first (as K.backward)
    for l in range(L - 1, -1, -1):
        n_in, n_out = sizes[l], sizes[l + 1]
        fl = 2.0 * batch * n_in * n_out
        W, _ = Ws[l]
        dW, db = np.empty((n_in, n_out), np.float32), np.empty(n_out, np.float32)
        t_bp = pc(_h_backward_params, prev[l], G[l], dW, db)
        dWp, dbp = np.empty_like(dW), np.empty_like(db)
        if n_out < NARROW:
            dwt = np.empty((n_out, n_in), np.float32)
            t_pp = pc(_hp_backward_params_narrow, prod["bwd_params"], prev[l], G[l], dWp, dbp, dwt)
        else:
            t_pp = pc(_hp_backward_params, prod["bwd_params"], prev[l], G[l], dWp, dbp)
        row(f"dense_backward_params L{l}", f"dW, db L{l}", 1, t_bp, t_pp,
            _same_bits((dW, dWp), (db, dbp)), fl)
        if l > 0:
            Wt, Wtp = np.empty((n_out, n_in), np.float32), np.empty((n_out, n_in), np.float32)
            t_tr = pc(_h_transpose, W, Wt)
            t_trp = pc(_hp_transpose, W, Wtp)
            row(f"transpose_into W{l} ({n_in}x{n_out})", f"W{l} transpose", 1, t_tr, t_trp,
                _same_bits((Wt, Wtp)))
            dX = np.empty((nb, batch, n_in), np.float32)
            t_bi = pc(_h_backward_input, G[l], Wt, dX)
            # ReLU backward of layer l-1 in place on dX (cycled over the same nb batches)
            dXr = dX.copy()
            t_rb = pc(_h_relu_backward, Z[l - 1], dXr)
            dXs = dX.copy()
            t_rbs = pc(_hp_relu_backward, Z[l - 1], dXs)
            dXp = np.empty_like(dX)
            t_bip = pc(_hp_backward_input_mask, prod["bwd_input_mask"], G[l], Wt, dXp, Z[l - 1])
            same = _same_bits((dXr, dXp), (dXr, G[l - 1]))
            row(f"dense_backward_input_transposed L{l}", f"dX L{l} + ReLU'", 1, t_bi, t_bip, same,
                2.0 * batch * n_in * n_out)
            row(f"ReLU backward L{l - 1}", f"dX L{l} + ReLU'", 1, t_rb, 0.0, same)
            row(f"  (ReLU backward L{l - 1} alone, select instead of branch)", "info", 1, t_rb, t_rbs,
                _same_bits((dXr, dXs)))

    # per-step passes over all parameters
    P = len(params)
    g = grads.copy()
    out_a, out_b = np.empty(L), np.empty(L)
    t_n = pc(_h_layer_norms, g, layout, out_a)
    t_np = pc(_hp_layer_norms, g, layout, out_b)
    rel = float(np.max(np.abs(out_b / out_a - 1.0)))
    row("layer_norms(grads) (grad-norm record)", "grad norms", 1, t_n, t_np, f"no (rel. diff {rel:.0e})")
    spec = O.get_spec("adam")
    hyper = spec.pack_hyper(spec.resolve({"lr": LR}))
    p0 = params.copy()
    pa, pb, pf = p0.copy(), p0.copy(), p0.copy()
    sa, sb, sf = (np.zeros((3, P), np.float32) for _ in range(3))
    _h_adam(3, pa, g, sa, hyper)  # same three steps from the same start, for the bit check
    _hp_adam(3, pb, g, sb, hyper)
    _hp_adam_f32(3, pf, g, sf, hyper)
    same_adam = _same_bits((pa, pb))
    t_a = pc(_h_adam, p0.copy(), g, np.zeros((3, P), np.float32), hyper)
    t_ap = pc(_hp_adam, p0.copy(), g, np.zeros((3, P), np.float32), hyper)
    t_af = pc(_hp_adam_f32, p0.copy(), g, np.zeros((3, P), np.float32), hyper)
    row(f"Adam step ({P} params)", "Adam", 1, t_a, t_ap, same_adam)
    row("  (Adam in float32 arithmetic)", "info", 1, t_a, t_af,
        f"no (max |dp| {float(np.max(np.abs(pf.astype(np.float64) - pa))):.0e})")
    t_ur = pc(_h_update_ratio, params.copy(), np.empty_like(params), layout, np.empty(L))
    row("update-ratio pass (last step of an epoch)", "other", 1.0 / steps_per_epoch, t_ur, None, None)
    return rows


def summarize_pieces(rows, batch):
    main = [r for r in rows if r["group"] != "info"]
    dyn = sum(r["dynet_us"] for r in main)
    proto = sum(r["proto_us"] if r["proto_us"] is not None else r["dynet_us"] for r in main)
    return {"batch": batch, "dynet_step_us": dyn, "proto_step_us": proto,
            "dynet_samples_per_s": batch / dyn * 1e6, "proto_samples_per_s": batch / proto * 1e6}


# --------------------------------------------------------------------------- main

PROTO_VARIANTS = {
    "exact": dict(label="prototype, same bits", kw={}),
    "f32adam": dict(label="+ float32 Adam", kw={"f32_adam": True}),
    "f32adam_fma": dict(label="+ float32 Adam + FMA", kw={"f32_adam": True, "contract": True}),
    "slp_tiles": dict(label="prototype, SLP register tiles", kw={"tiles": True}),
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
    ap.add_argument("--no-prototypes", action="store_true", help="skip parts 2 and 3's prototype kernels")
    ap.add_argument("--slp-tiles", action="store_true", help="also run the SLP register-tile prototype")
    ap.add_argument("--verbose", action="store_true", help="print every run and piece as it is timed")
    ap.add_argument("--print-kernel", metavar="NAME", choices=["fwd_relu", "fwd", "fwd_t", "bwd_params",
                                                               "bwd_input_mask", "bwd_input"],
                    help="print the generated source of a prototype product and exit")
    args = ap.parse_args(argv)
    if args.print_kernel:
        proto_products()
        print(GENERATED_SOURCE[args.print_kernel])
        return 0

    cfg = dict(CONFIGS["quick" if args.quick else "full"])
    seeds = tuple(args.seeds) if args.seeds else cfg["seeds"]
    use_torch = torch is not None and not args.no_peers
    use_sk = sklearn is not None and not args.no_peers
    variants = [] if args.no_prototypes else list(cfg["variants"]) + (["slp_tiles"] if args.slp_tiles else [])
    log = print if args.verbose else (lambda *a, **k: None)

    machine = {
        "cpu": _cpu_model(), "logical_cpus": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "numba": numba.__version__, "blas": _blas_name(),
        "torch": torch.__version__ if torch is not None else None,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "sklearn": sklearn.__version__ if sklearn is not None else None,
        "loadavg_start": _loadavg(),
    }
    print("dynet feedforward benchmark" + (" (--quick)" if args.quick else ""))
    print(f"  CPU: {machine['cpu']} ({machine['logical_cpus']} logical CPUs); one thread "
          f"(OMP/OPENBLAS/MKL_NUM_THREADS=1, torch.set_num_threads(1))")
    print(f"  Python {machine['python']}, numpy {machine['numpy']} ({machine['blas']}), numba {machine['numba']}, "
          f"torch {machine['torch'] or 'NOT INSTALLED'}, scikit-learn {machine['sklearn'] or 'NOT INSTALLED'}")
    if torch is None:
        print(f"  PyTorch missing ({TORCH_ERROR}): no PyTorch figures.")
    if sklearn is None:
        print(f"  scikit-learn missing ({SKLEARN_ERROR}): no scikit-learn figures.")
    print(f"  task: digits 64-{HIDDEN[0]}-{HIDDEN[1]}-10 ReLU, cross-entropy, Adam lr {LR}, float32; "
          f"epochs {cfg['epochs']}, seeds {list(seeds)}; load average at start {machine['loadavg_start']:.2f}")
    print()

    t_start = perf()
    impls = {}
    for v in variants:
        t0 = perf()
        impls[v] = make_proto_train_epoch(**PROTO_VARIANTS[v]["kw"])
        run_dynet(BATCHES[0], 1, 0, impl=impls[v])  # compile
        log(f"  compiled prototype {v} in {perf() - t0:.1f} s")

    results = {}
    for batch in args.batches:
        epochs = cfg["epochs"][batch] if batch in cfg["epochs"] else cfg["epochs"][BATCHES[-1]]
        print(f"[batch {batch}] {epochs} epochs x {len(seeds)} seed(s) ...", flush=True)
        run_dynet(batch, 1, seeds[0])  # warm-up: load/compile dynet's kernels
        res = {"epochs": epochs, "dynet": [], "torch": [], "sklearn": [], "proto": {v: [] for v in variants}}
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
            if seed in cfg["proto_seeds"] or args.seeds:
                for v in variants:
                    p = run_dynet(batch, epochs, seed, impl=impls[v])
                    p.pop("_st"), p.pop("_init")
                    p["same_params_as_dynet"] = _same_bits((p.pop("_params"), ref))
                    res["proto"][v].append(p | {"seed": seed})
                    log(f"    proto {v} seed {seed}: {p['samples_per_s']:,.0f} samples/s, "
                        f"same params: {p['same_params_as_dynet']}")
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
            rows.append([batch, res["epochs"], name, f"{_med(runs):,.0f}", f"{min(sp):,.0f} - {max(sp):,.0f}",
                         f"{100 * _mean(runs):.2f}%", " ".join(f"{100 * r['val_acc']:.1f}" for r in runs),
                         f"{statistics.fmean(r['cpu_per_wall'] for r in runs):.2f}"])
        s = {"dynet_samples_per_s": _med(res["dynet"]), "dynet_val_acc": _mean(res["dynet"]),
             "dynet_train_call_s": statistics.median(r["train_call_s"] for r in res["dynet"]),
             "dynet_eval_s": statistics.median(r["eval_s"] for r in res["dynet"])}
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
            parts.append(f"accuracy dynet - PyTorch = {s['acc_diff_points']:+.2f} points "
                         f"(target within {ACC_POINTS:g}: {_met(ok)})")
        print(f"   batch {batch}: " + "; ".join(parts))
    print("   dynet's train() wall time including its per-epoch evaluation of the train and validation splits:")
    for batch, s in summary.items():
        print(f"   batch {batch}: train() {s['dynet_train_call_s']:.2f} s, of which evaluation and bookkeeping "
              f"{s['dynet_eval_s']:.2f} s")
    print()

    # ---- part 2
    if not args.no_prototypes:
        print("2. Where a dynet training step goes (each piece alone, real mini-batches, median; us per full step),")
        print("   next to the prototype replacement (part 3). 'same bits': the prototype output equals dynet's.")
        for batch, res in results.items():
            rs = res["pieces"]
            sm = res["pieces_summary"]
            measured_us = 1e6 * batch / summary[batch]["dynet_samples_per_s"]
            hdr = ["piece", "calls/step", "dynet us", "% of step", "GFLOP/s", "prototype us", "speed-up", "same bits"]
            rows = []
            for r in rs:
                info = r["group"] == "info"
                pu = r["proto_us"]
                rows.append([r["piece"], f"{r['calls_per_step']:.3g}", f"{r['dynet_us']:.1f}",
                             "" if info else f"{100 * r['dynet_us'] / sm['dynet_step_us']:.1f}",
                             f"{r['flops'] * r['calls_per_step'] / r['dynet_us'] / 1e3:.1f}" if r["flops"] else "",
                             "-" if pu is None else ("(fused)" if pu == 0 and not info else f"{pu:.1f}"),
                             "" if not pu else f"{r['dynet_us'] / pu:.1f}x",
                             "" if r["same_bits"] is None else str(r["same_bits"])])
            print(f"   batch {batch}:")
            print("   " + _table(hdr, rows).replace("\n", "\n   "))
            print(f"   sum of pieces: dynet {sm['dynet_step_us']:.0f} us/step ({sm['dynet_samples_per_s']:,.0f} "
                  f"samples/s); prototype {sm['proto_step_us']:.0f} us/step ({sm['proto_samples_per_s']:,.0f} "
                  f"samples/s). Measured train_epoch: {measured_us:.0f} us per {batch} samples.")
            print()

        # ---- part 3
        print("3. Prototype train_epoch (this file; dynet/ untouched) through the same setup()/train(), same seeds:")
        hdr = ["batch", "variant", "samples/s", "x dynet", "vs PyTorch", "vs sklearn", "val acc", "same params"]
        rows = []
        for batch, res in results.items():
            s = summary[batch]
            tg = TARGETS.get(batch, {})
            for v in variants:
                runs = res["proto"][v]
                if not runs:
                    continue
                sp = _med(runs)
                dyn_same = [r for r in res["dynet"] if r["seed"] in {q["seed"] for q in runs}]
                cell = {}
                out = s.setdefault("proto", {})[v] = {
                    "samples_per_s": sp, "ratio_dynet": sp / _med(dyn_same), "val_acc": _mean(runs),
                    "same_params_as_dynet": f"{sum(r['same_params_as_dynet'] for r in runs)}/{len(runs)}"}
                for peer, key in (("torch", "torch_samples_per_s"), ("sklearn", "sklearn_samples_per_s")):
                    if key in s:
                        ratio = sp / s[key]
                        out[f"ratio_{peer}"] = ratio
                        if peer in tg:
                            out[f"met_{peer}"] = ratio >= tg[peer]
                        cell[peer] = f"{ratio:.2f}x" + (f" ({_met(ratio >= tg[peer])})" if peer in tg else "")
                    else:
                        cell[peer] = "n/a"
                rows.append([batch, PROTO_VARIANTS[v]["label"], f"{sp:,.0f}", f"{sp / _med(dyn_same):.2f}x",
                             cell["torch"], cell["sklearn"], f"{100 * _mean(runs):.2f}%",
                             f"{sum(r['same_params_as_dynet'] for r in runs)}/{len(runs)}"])
        print(_table(hdr, rows))
        print("   same params: final parameters bit-identical to dynet's run with the same seed.")
        print()
    machine["loadavg_end"] = _loadavg()
    print(f"Load average at the end: {machine['loadavg_end']:.2f} (a busy machine makes every figure noisier).")
    print(f"Total benchmark time: {perf() - t_start:.1f} s")

    if args.json:
        doc = {"machine": machine, "config": {k: (v if k != "epochs" else {str(b): e for b, e in v.items()})
                                              for k, v in cfg.items()},
               "quick": args.quick, "seeds": list(seeds), "targets": {str(k): v for k, v in TARGETS.items()},
               "accuracy_points": ACC_POINTS, "met": targets_out,
               "summary": {str(k): v for k, v in summary.items()},
               "results": {str(k): v for k, v in results.items()}}
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=2, default=float)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
