"""Feedforward networks trained by backpropagation: data, network, training loop, records.

The driver prepares the data splits and the flat float32 parameter buffer, then calls
:func:`dynet.models.feedforward.kernels.train_epoch` once per epoch (the whole epoch in
compiled code) and :func:`~dynet.models.feedforward.kernels.evaluate` for the per-epoch
metrics. Random streams (children of the run's SeedSequence): 0 generates the data,
1 splits it, 2 initializes the weights, 3 seeds the kernel's xoshiro256** state
(mini-batch sampling and dropout masks). Transferred layers (``init.transfer``) are
copied from another run after the initialization, so seed child 2 is drawn either way.

Parameters (``Setup.params``, float32): every dense layer's ``W`` then ``b`` in layer
order at the offsets of ``Setup.layout``, then ``gamma`` and ``beta`` of each batch-norm
layer (``Setup.bn``); the running statistics of batch norm are state
(``Setup.bn_mean``, ``Setup.bn_var``), not parameters.

``network.kind = "autoencoder"``: the encoder is ``hidden`` (+ ``bottleneck``), the
decoder its mirror image, the output layer as wide as the input; the targets are the
inputs (labels ignored), the loss MSE or BCE-with-logits, and the metric the
reconstruction R^2 ``1 - SSE / SST`` over all inputs of the split (scikit-learn's
``r2_score(..., multioutput="variance_weighted")``; for BCE of ``sigmoid(logits)``).

Stored arrays: per layer ``weight_l`` / ``bias_l`` (best or final), ``initial_*``,
``last_*`` (when the best epoch was restored), batch-norm ``bn_gamma_l``, ``bn_beta_l``,
``bn_running_mean_l``, ``bn_running_var_l`` beside them; the attributes of ``weight_l``
name the layer's ``part`` (encoder/decoder of an autoencoder), whether it was ``frozen``
and where it was ``transferred_from``. An autoencoder also stores its bottleneck codes of
the validation split (``val_code``, with ``val_label`` for labelled data).

The output layer is linear and every loss takes logits; the output nonlinearity of
the task (softmax for cross-entropy, sigmoid for binary cross-entropy, the step for
the perceptron and hinge) is used for predictions: class = argmax of the logits, or
logit > 0 with one output.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from dynet import data as _data
from dynet import store as _store
from dynet.errors import DynetError, TrainingDiverged
from dynet.kernels.rng import seed_state
from dynet.scenario import run_settings
from dynet.store import TrajectorySpec
from dynet.train import activations as A
from dynet.train import initializers as I
from dynet.train import losses as L
from dynet.train import schedules as S
from dynet.train.loop import data_dims

from . import kernels as K
from .config import (
    FeedforwardData,
    FeedforwardScenario,
    FeedforwardTransfer,
    FileData,
    encoder_sizes,
    hidden_sizes,
    layer_widths,
)

CLASSIFICATION = "classification"
REGRESSION = "regression"
RECONSTRUCTION = "reconstruction"  # an autoencoder's task: the targets are the inputs

# --------------------------------------------------------------------------- data


def load_data(
    data: FeedforwardData, rng: np.random.Generator, base_dir: str = ".", sha256: str | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """(X float64 (n, d), y, task) of the typed ``data`` table: y is int64 labels (classification)
    or float64 (n, k) targets. ``sha256``: a data file's expected hash (None: not checked)."""
    src = data.source
    if src == "xor":
        x, y = _data.xor(rng, data.n_samples, data.noise)
    elif src == "parity":
        x, y = _data.parity(rng, data.n_bits, data.n_samples, data.noise)
    elif src == "linear":
        x, y = _data.linear(rng, data.n_samples, data.noise)
        return x, y, REGRESSION
    elif src == "blobs":
        x, y = _data.blobs(rng, data.n_samples, data.n_classes, data.n_features, data.spread)
    elif src == "moons":
        x, y = _data.moons(rng, data.n_samples, data.noise)
    elif src == "spirals":
        x, y = _data.spirals(rng, data.n_samples, data.n_classes, data.turns, data.noise)
    elif src == "iris":
        x, y = _data.load_iris()
    elif src == "digits":
        images, y = _data.load_digits()
        x = images.astype(np.float64)
    else:
        return _file_data(data, base_dir, sha256)
    return np.asarray(x, np.float64), np.asarray(y, np.int64), CLASSIFICATION


def _file_data(data: FileData, base_dir: str, sha256: str | None):
    path = data.path if os.path.isabs(data.path) else os.path.join(base_dir, data.path)
    if path.endswith(".csv"):
        table = _data.load_csv(path, sha256)
        k = data.target_columns
        if table.shape[1] <= k:
            raise _data.DataError(f"{path}: needs more than {k} column(s) (inputs and targets)")
        x, y = table[:, :-k], table[:, -k:]
    else:
        x = _data.load_array(path, data.x_key, sha256)
        y = _data.load_array(path, data.y_key, sha256)
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or len(x) != len(y):
        raise _data.DataError(f"{path}: inputs of shape {x.shape} do not match {len(y)} targets")
    if not np.isfinite(x).all() or not np.isfinite(np.asarray(y, np.float64)).all():
        raise _data.DataError(f"{path}: data contain NaN or infinite values")
    if data.task == CLASSIFICATION:
        y = np.asarray(y).reshape(len(y), -1)
        if y.shape[1] != 1 or not np.all(y == np.round(y)) or y.min() < 0:
            raise _data.DataError(f"{path}: classification targets must be one column of labels 0, 1, 2, ...")
        return x, y[:, 0].astype(np.int64), CLASSIFICATION
    y = np.asarray(y, np.float64)
    return x, (y[:, None] if y.ndim == 1 else y), REGRESSION


# --------------------------------------------------------------------------- the network


@dataclass
class Setup:
    """Everything a run's training needs, derived from its config and seed."""

    task: str
    n_classes: int
    loss: str
    loss_code: int
    n_out: int
    sizes: list[int]
    layout: np.ndarray
    act_codes: np.ndarray
    act_params: np.ndarray
    drop: np.ndarray
    inverted: bool
    params: np.ndarray
    splits: dict  # name -> (X float32, Y float32 (n, k) or (0, 0), labels int64 or (0,))
    rng_state: np.ndarray  # the kernel's xoshiro256** state (seed child 3)
    # batch norm: (L, 2) rows (gamma offset in params, offset in bn_mean / bn_var), -1 without
    bn: np.ndarray = field(default_factory=lambda: np.full((1, 2), -1, np.int64))
    bn_mean: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # running statistics (state)
    bn_var: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    bn_momentum: float = 0.1
    bn_eps: float = 1e-5
    frozen: np.ndarray = field(default_factory=lambda: np.zeros(1, np.bool_))  # per layer
    code_layer: int = -1  # an autoencoder's bottleneck layer (its outputs are the codes)
    labels: dict = field(default_factory=dict)  # split -> class labels of an autoencoder's data
    transfer: dict | None = None  # where transferred layers came from (see load_transfer)
    last_running: tuple | None = None  # train(): the final running statistics when the best were restored


def resolve_loss(cfg: FeedforwardScenario, task: str, n_classes: int) -> tuple[str, int]:
    """(loss name, number of outputs) for the network kind, task and classes; ValueError if they clash.

    An autoencoder's outputs are its inputs: the number returned is 0 (the caller knows the width).
    """
    net = cfg.network
    kind = net.kind
    loss = net.loss
    if kind == "autoencoder":
        if loss not in (None, "mse", "bce_with_logits"):
            raise ValueError(
                f"network.loss: an autoencoder reconstructs its inputs with 'mse' or 'bce_with_logits', not '{loss}'"
            )
        return loss or "mse", 0
    if kind == "linear" and task != REGRESSION:
        raise ValueError("network.kind: 'linear' is linear regression: it needs regression data")
    if kind in ("logistic", "perceptron") and task != CLASSIFICATION:
        raise ValueError(f"network.kind: '{kind}' needs classification data")
    if loss is None:
        if task == REGRESSION:
            loss = "mse"
        elif kind == "perceptron":
            loss = "perceptron"
        elif kind == "logistic" and n_classes == 2:
            loss = "bce_with_logits"
        else:
            loss = "cross_entropy"
    if task == REGRESSION and loss != "mse":
        raise ValueError(f"network.loss: '{loss}' is a classification loss; regression uses 'mse'")
    if task == CLASSIFICATION and loss == "mse":
        raise ValueError("network.loss: 'mse' needs regression data (use cross_entropy for classes)")
    if loss in ("bce_with_logits", "hinge", "perceptron"):
        if n_classes != 2:
            raise ValueError(f"network.loss: '{loss}' is binary; the data have {n_classes} classes")
        return loss, 1
    return loss, n_classes


def _targets(loss: str, y: np.ndarray, task: str):
    """(Y float32 (n, k), labels int64) in the form loss ``loss`` reads (the other one empty)."""
    if task in (REGRESSION, RECONSTRUCTION):
        return y.astype(np.float32), np.zeros(0, np.int64)
    if L.LOSS_TARGETS[loss] == "labels":
        return np.zeros((0, 0), np.float32), y.astype(np.int64)
    if loss == "bce_with_logits":
        return y.astype(np.float32)[:, None], np.zeros(0, np.int64)
    return np.where(y > 0, 1.0, -1.0).astype(np.float32)[:, None], np.zeros(0, np.int64)  # hinge, perceptron


def make_layout(sizes: list[int], batch: int) -> np.ndarray:
    """The (L, 5) layout table ``(n_in, n_out, w_off, b_off, u_off)`` for layer sizes."""
    rows = []
    off = 0
    unit = 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        rows.append((n_in, n_out, off, off + n_in * n_out, unit))
        off += n_in * n_out + n_out
        unit += batch * n_out
    return np.array(rows, dtype=np.int64).reshape(-1, 5)


def n_params(layout: np.ndarray) -> int:
    """Number of dense-layer parameters (batch norm's gamma and beta follow them in ``Setup.params``)."""
    last = layout[-1]
    return int(last[3] + last[1])


def per_hidden(value, n_hidden: int) -> list:
    """A setting given once for every hidden layer or as a list of one value per hidden layer."""
    return list(value) if isinstance(value, list) else [value] * n_hidden


def batch_norm_table(flags: list[bool], layout: np.ndarray) -> tuple[np.ndarray, int]:
    """The (L, 2) table ``(gamma offset, running-statistics offset)`` (-1: no batch norm) and the number
    of normalised features. Gamma and beta of the normalised layers follow the dense parameters."""
    bn = np.full((len(layout), 2), -1, np.int64)
    off, feat = n_params(layout), 0
    for l, flag in enumerate(flags):
        if flag:
            n_out = int(layout[l, 1])
            bn[l] = off, feat
            off += 2 * n_out
            feat += n_out
    return bn, feat


def init_params(cfg: FeedforwardScenario, layout: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    init, net = cfg.init, cfg.network
    params = dict(init.params)
    if init.weights.startswith(("glorot", "xavier")) and "gain" not in params and net.kind in ("mlp", "autoencoder"):
        params["gain"] = A.gain(net.activation, net.activation_param)
    flat = np.empty(n_params(layout), np.float32)
    for n_in, n_out, w, b, _ in layout:
        flat[w : w + n_in * n_out] = I.initialize(init.weights, rng, (int(n_in), int(n_out)), **params).ravel()
        flat[b : b + n_out] = init.bias
    return flat


def prepare_data(
    cfg: FeedforwardScenario, data_rng: np.random.Generator, base_dir: str, sha256: str | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """The data as the network sees it before splitting: (X scaled by ``data.scale``, y, task);
    an autoencoder's task is reconstruction (its targets are X itself, set after standardizing).
    ``sha256``: the data file's hash (``RunSpec.config["data"]["sha256"]``; None: not checked)."""
    x, y, task = load_data(cfg.data, data_rng, base_dir, sha256)
    if cfg.data.scale != 1.0:
        x = x * cfg.data.scale
    if cfg.network.kind == "autoencoder":
        task = RECONSTRUCTION
    return x, y, task


def network_sizes(cfg: FeedforwardScenario, x: np.ndarray, y: np.ndarray, task: str) -> tuple[list[int], str, int]:
    """(layer sizes from inputs to outputs, loss name, number of classes) of a run on this data."""
    n_classes = int(y.max()) + 1 if task == CLASSIFICATION else 0
    loss, n_out = resolve_loss(cfg, task, n_classes)
    if task == REGRESSION:
        n_out = y.shape[1]
    elif task == RECONSTRUCTION:
        n_out = x.shape[1]
    return [x.shape[1], *hidden_sizes(cfg.network), n_out], loss, n_classes


def setup(
    cfg: FeedforwardScenario,
    seed_sequence: np.random.SeedSequence,
    base_dir: str = ".",
    store: str | None = None,
    sha256: str | None = None,
) -> Setup:
    """Data splits, network and initial parameters of a run (``cfg``: its typed settings, ``RunSpec.settings``).
    ``store``: where ``init.transfer`` looks for its source run when it names no store (the store the run
    writes to); ``sha256``: the data file's hash (``RunSpec.config["data"]["sha256"]``; None: not checked)."""
    data_ss, split_ss, init_ss, train_ss = seed_sequence.spawn(4)
    d = cfg.data
    x, y, task = prepare_data(cfg, np.random.default_rng(data_ss), base_dir, sha256)
    sizes, loss, n_classes = network_sizes(cfg, x, y, task)
    tr, va, te = _data.split(
        len(x), (1.0 - d.validation - d.test, d.validation, d.test), np.random.default_rng(split_ss)
    )
    xs = [x[tr], x[va], x[te]]
    if d.standardize:
        xs = list(_data.standardize(*xs))
    splits = {}
    labels = {}
    for name, idx, xx in zip(("train", "validation", "test"), (tr, va, te), xs):
        if task == RECONSTRUCTION:
            yy, lab = _targets(loss, xx, task)
            if y.ndim == 1 and y.dtype.kind == "i":
                labels[name] = y[idx]
        else:
            yy, lab = _targets(loss, y[idx], task)
        splits[name] = (np.ascontiguousarray(xx, np.float32), yy, lab)
    net = cfg.network
    hidden = sizes[1:-1]
    batch = _batch_size(cfg, len(tr))
    layout = make_layout(sizes, batch)
    act = net.activation
    param = net.activation_param
    param = A.DEFAULT_PARAMS.get(act, 0.0) if param is None else param
    n_hidden = len(hidden)
    act_codes = np.full(max(1, n_hidden), A.ACTIVATION_CODES[act], np.int64)
    act_params = np.full(max(1, n_hidden), float(param), np.float64)
    reg = cfg.regularization
    drop = np.array(per_hidden(reg.dropout, n_hidden) + [0.0], np.float64)  # the output layer has none
    bn, n_feat = batch_norm_table(per_hidden(reg.batch_norm, n_hidden), layout)
    params = init_params(cfg, layout, np.random.default_rng(init_ss))
    gamma_beta = [
        np.r_[np.ones(int(layout[l, 1])), np.zeros(int(layout[l, 1]))] for l in range(len(layout)) if bn[l, 0] >= 0
    ]
    params = np.concatenate([params, *gamma_beta]).astype(np.float32)
    frozen = np.zeros(len(layout), np.bool_)
    frozen[cfg.training.freeze] = True
    st = Setup(
        task=task,
        n_classes=n_classes,
        loss=loss,
        loss_code=L.LOSS_CODES[loss],
        n_out=sizes[-1],
        sizes=sizes,
        layout=layout,
        act_codes=act_codes,
        act_params=act_params,
        drop=drop,
        inverted=reg.dropout_mode == "inverted",
        params=params,
        splits=splits,
        rng_state=seed_state(train_ss),
        bn=bn,
        bn_mean=np.zeros(n_feat, np.float32),
        bn_var=np.ones(n_feat, np.float32),
        bn_momentum=float(reg.batch_norm_momentum),
        bn_eps=float(reg.batch_norm_eps),
        frozen=frozen,
        code_layer=len(encoder_sizes(net)) - 1 if net.kind == "autoencoder" else -1,
        labels=labels,
    )
    transfer = cfg.init.transfer
    if transfer is not None:
        apply_transfer(st, load_transfer(transfer, sizes, list(bn[:, 0] >= 0), base_dir, store))
    return st


def _batch_size(cfg: FeedforwardScenario, n_train: int) -> int:
    b = cfg.training.batch_size
    return n_train if b == "full" else min(int(b), n_train)


# --------------------------------------------------------------------------- transfer


class TransferError(DynetError, ValueError):
    """The source run of ``init.transfer`` is missing, incomplete, ambiguous or does not fit."""


def _source_run(tr: FeedforwardTransfer, base_dir: str, default_store: str | None):
    """(store path, store root group, run id, run attributes) of the run ``init.transfer`` names."""
    if tr.store:
        path = tr.store if os.path.isabs(tr.store) else os.path.join(base_dir, tr.store)
        key = "init.transfer.store"
    elif default_store is not None:
        path, key = os.fspath(default_store), "init.transfer"
    else:
        raise TransferError("init.transfer.store: no store given and the run's own store is not known here")
    try:
        root = _store.open_store(path)
    except _store.StoreError as exc:
        raise TransferError(f"{key}: {exc}") from None
    if tr.run:
        try:
            rid = _store.find_run(root, tr.run)
        except _store.StoreError as exc:
            raise TransferError(f"init.transfer.run: {exc} ({path})") from None
    else:
        point = tr.point
        with warnings.catch_warnings():  # runs being written meanwhile leave files that are not groups yet
            warnings.filterwarnings("ignore", message=r"Object at .* is not recognized as a component")
            runs = _store.list_runs(root)
        matches = [
            r
            for r, a in runs.items()
            if a.get("scenario") == tr.scenario
            and a.get("replicate") == tr.replicate
            and all(a.get("params", {}).get(k) == v for k, v in point.items())
        ]
        selection = f"replicate {tr.replicate}" + (f", point {point}" if point else "")
        what = f"scenario '{tr.scenario}' ({selection})"
        if not matches:
            raise TransferError(f"init.transfer.scenario: no run of {what} in {path}")
        if len(matches) > 1:
            keys = sorted({k for r in matches for k in runs[r].get("params", {})})
            raise TransferError(
                f"init.transfer.point: {len(matches)} runs of {what} in {path}; choose one "
                f"with init.transfer.point (sweep keys: {', '.join(keys)}) or init.transfer.run"
            )
        rid = matches[0]
    attrs = _store.run_attrs(root, rid)
    if attrs.get("model") != "feedforward":
        raise TransferError(f"init.transfer: run {rid} in {path} is a {attrs.get('model')} run, not feedforward")
    if attrs.get("status") != _store.COMPLETE:
        raise TransferError(f"init.transfer: run {rid} in {path} is not complete (status {attrs.get('status')})")
    return path, root, rid, attrs


def load_transfer(
    tr: FeedforwardTransfer, sizes: list[int], bn_layers: list[bool], base_dir: str, default_store: str | None = None
) -> dict:
    """Read the layers ``init.transfer`` copies and check they fit a network of ``sizes`` whose layers
    ``l`` have batch norm where ``bn_layers[l]`` (in the source and destination alike).

    Returns ``{"store", "run", "scenario", "layers", "into", "arrays"}`` with ``arrays[m]`` the
    destination layer ``m``'s ``weight``, ``bias`` (and ``bn_gamma``, ``bn_beta``,
    ``bn_running_mean``, ``bn_running_var`` when the source layer has batch norm).
    Raises :class:`TransferError` with a one-line ``key.path: message``.
    """
    path, root, rid, attrs = _source_run(tr, base_dir, default_store)
    names = set(_store.array_names(root, rid))
    layers = list(tr.layers)
    into = list(tr.into or layers)
    arrays = {}
    for src, dst in zip(layers, into):
        if f"weight_{src}" not in names:
            n_src = sum(1 for n in names if n.startswith("weight_"))
            raise TransferError(f"init.transfer.layers: run {rid} has no layer {src} (it has {n_src})")
        w = _store.load_array(root, rid, f"weight_{src}")
        want = (sizes[dst], sizes[dst + 1])
        if w.shape != want:
            raise TransferError(
                f"init.transfer.layers: source layer {src} of run {rid} is {w.shape[0]} x "
                f"{w.shape[1]}, destination layer {dst} is {want[0]} x {want[1]}"
            )
        arrays[dst] = {"weight": w, "bias": _store.load_array(root, rid, f"bias_{src}")}
        src_bn = f"bn_gamma_{src}" in names
        if src_bn != bn_layers[dst]:
            raise TransferError(
                f"init.transfer.layers: source layer {src} of run {rid} "
                f"{'has' if src_bn else 'has no'} batch norm but destination layer {dst} "
                f"{'has' if bn_layers[dst] else 'has none'} (set regularization.batch_norm to match)"
            )
        if bn_layers[dst]:
            for part in ("bn_gamma", "bn_beta", "bn_running_mean", "bn_running_var"):
                arrays[dst][part] = _store.load_array(root, rid, f"{part}_{src}")
    return {
        "store": os.path.abspath(path),
        "run": rid,
        "scenario": attrs.get("scenario"),
        "layers": layers,
        "into": into,
        "arrays": arrays,
    }


def apply_transfer(st: Setup, transfer: dict) -> None:
    """Copy the transferred layers (:func:`load_transfer`) into ``st``: weights, bias, and batch norm's
    gamma, beta and running statistics."""
    for dst, arrs in transfer["arrays"].items():
        n_in, n_out, w, b, _ = (int(v) for v in st.layout[dst])
        st.params[w : w + n_in * n_out] = arrs["weight"].ravel()
        st.params[b : b + n_out] = arrs["bias"]
        if "bn_gamma" in arrs:
            g, s = (int(v) for v in st.bn[dst])
            st.params[g : g + n_out] = arrs["bn_gamma"]
            st.params[g + n_out : g + 2 * n_out] = arrs["bn_beta"]
            st.bn_mean[s : s + n_out] = arrs["bn_running_mean"]
            st.bn_var[s : s + n_out] = arrs["bn_running_var"]
    st.transfer = {k: v for k, v in transfer.items() if k != "arrays"}


# --------------------------------------------------------------------------- evaluation


class Evaluator:
    """Evaluation-mode forward passes over a split: loss, metric, activation statistics.

    With ``keep_layer >= 0`` the outputs of that hidden layer are kept in ``self.kept``
    (an autoencoder's codes)."""

    def __init__(self, st: Setup, x: np.ndarray, y: np.ndarray, labels: np.ndarray, batch: int, keep_layer: int = -1):
        self.st, self.x, self.y, self.labels = st, x, y, labels
        self.keep_layer = keep_layer
        self.kept = np.empty((len(x), st.sizes[keep_layer + 1] if keep_layer >= 0 else 0), np.float32)
        self.batch = batch
        self.n = len(x)
        layout = make_layout(st.sizes, batch)
        self.layout = layout
        units = int(layout[-1, 4] + batch * layout[-1, 1])
        self.z = np.empty(units, np.float32)
        self.a = np.empty(units, np.float32)
        self.mask = np.empty(units, np.float32)
        self.xb = np.empty(batch * st.sizes[0], np.float32)
        self.out = np.empty((self.n, st.n_out), np.float32)
        self.grad = np.empty((self.n, st.n_out), np.float32)
        n_hidden = len(st.sizes) - 2
        self.act_sum = np.zeros(max(1, n_hidden))
        self.act_sq = np.zeros(max(1, n_hidden))
        self.alive = np.zeros(max(1, sum(st.sizes[1:-1])), np.bool_)
        self.rng = np.zeros(4, np.uint64)

    def __call__(self, params: np.ndarray) -> dict:
        st = self.st
        K.evaluate(
            params,
            self.layout,
            st.act_codes,
            st.act_params,
            st.drop,
            st.inverted,
            st.bn,
            st.bn_mean,
            st.bn_var,
            st.bn_eps,
            self.x,
            self.batch,
            self.z,
            self.a,
            self.mask,
            self.xb,
            self.out,
            self.act_sum,
            self.act_sq,
            self.alive,
            self.keep_layer,
            self.kept,
            self.rng,
        )
        loss = L.loss_and_grad(st.loss_code, self.out, self.y, self.labels, self.grad)
        res = {"loss": float(loss), "metric": self.metric()}
        hidden = st.sizes[1:-1]
        if hidden:
            counts = np.array(hidden, np.float64) * self.n
            mean = self.act_sum[: len(hidden)] / counts
            var = np.maximum(self.act_sq[: len(hidden)] / counts - mean**2, 0.0)
            bounds = np.cumsum([0, *hidden])
            dead = np.array([1.0 - self.alive[a:b].mean() for a, b in zip(bounds[:-1], bounds[1:])])
            res.update(act_mean=mean, act_std=np.sqrt(var), dead=dead)
        return res

    def metric(self) -> float:
        """Accuracy (classification), R^2 averaged over target columns (regression), or the
        reconstruction R^2 ``1 - SSE / SST`` summed over every input (autoencoder)."""
        if self.st.task == RECONSTRUCTION:
            y = self.y.astype(np.float64)
            rec = self.out.astype(np.float64)
            if self.st.loss == "bce_with_logits":
                rec = 1.0 / (1.0 + np.exp(-rec))
            total = ((y - y.mean(axis=0)) ** 2).sum()
            return float(1.0 - ((y - rec) ** 2).sum() / total) if total > 0 else math.nan
        if self.st.task == REGRESSION:
            resid = ((self.y - self.out) ** 2).sum(axis=0)
            total = ((self.y - self.y.mean(axis=0)) ** 2).sum(axis=0)
            return float(np.mean(1.0 - resid / np.where(total > 0, total, np.nan)))
        if self.st.n_out == 1:
            pred = (self.out[:, 0] > 0).astype(np.int64)
            truth = (self.y[:, 0] > 0).astype(np.int64)
        else:
            pred = self.out.argmax(axis=1)
            truth = self.labels
        return float((pred == truth).mean())


# --------------------------------------------------------------------------- training


def trajectory_specs(st: Setup, record_steps: bool) -> tuple[dict, dict]:
    n_layers = len(st.sizes) - 1
    n_hidden = len(st.sizes) - 2
    epoch = {
        "epoch": TrajectorySpec(("epoch",), "int64"),
        "lr": TrajectorySpec(("epoch",), "float64"),
        "batch_loss": TrajectorySpec(("epoch",), "float64"),
        "train_loss": TrajectorySpec(("epoch",), "float64"),
        "train_metric": TrajectorySpec(("epoch",), "float64"),
        "val_loss": TrajectorySpec(("epoch",), "float64"),
        "val_metric": TrajectorySpec(("epoch",), "float64"),
        "weight_norm": TrajectorySpec(("epoch", "layer"), "float64", (n_layers,)),
        "grad_norm": TrajectorySpec(("epoch", "layer"), "float64", (n_layers,)),
        "update_ratio": TrajectorySpec(("epoch", "layer"), "float64", (n_layers,)),
    }
    if n_hidden:
        for name in ("act_mean", "act_std", "dead_fraction"):
            epoch[name] = TrajectorySpec(("epoch", "hidden"), "float64", (n_hidden,))
    steps = (
        {
            "step": TrajectorySpec(("step",), "int64"),
            "step_loss": TrajectorySpec(("step",), "float64"),
            "step_lr": TrajectorySpec(("step",), "float64"),
        }
        if record_steps
        else {}
    )
    return epoch, steps


class _Schedule:
    def __init__(self, cfg: FeedforwardScenario, steps_per_epoch: int):
        sched = cfg.schedule
        # the parameters given (a schedule's own defaults are filled in by dynet.train.schedules)
        self.spec = {"name": sched.name, **{k: getattr(sched, k) for k in sched.model_fields_set if k != "per"}}
        if "lr" in type(sched).model_fields and self.spec.get("lr") is None:
            self.spec["lr"] = cfg.optimizer.resolved()["lr"]
        self.per_step = sched.per == "step"
        self.steps = steps_per_epoch
        self.plateau = S.ReduceLROnPlateau.from_spec(self.spec) if self.spec["name"] == "plateau" else None

    def epoch_rates(self, epoch: int) -> np.ndarray:
        """Rates for the steps of epoch ``epoch`` (0-based)."""
        if self.plateau is not None:
            return np.full(self.steps, self.plateau.lr)
        if self.per_step:
            return S.lr_array(self.spec, self.steps, start=epoch * self.steps)
        return np.full(self.steps, S.lr_array(self.spec, 1, start=epoch)[0])

    def end_epoch(self, val_loss: float) -> None:
        if self.plateau is not None:
            self.plateau.step(val_loss)


def train(
    cfg: FeedforwardScenario,
    st: Setup,
    rng_state: np.ndarray,
    *,
    on_epoch=None,
    on_steps=None,
    on_snapshot=None,
    on_checkpoint=None,
    resume: tuple[dict, dict] | None = None,
) -> dict:
    """Train ``st.params`` (and batch norm's running statistics) in place; returns final metrics.

    Callbacks receive recorded rows. With early stopping's ``restore_best``, the parameters
    and running statistics of the best epoch are restored; the final ones are in
    ``metrics["_final_params"]`` and ``st.last_running``.

    Checkpoints: after every epoch that does not end training, ``on_checkpoint(epoch,
    capture)`` may call ``capture()`` for ``(state, arrays)``: everything the loop needs to
    continue (parameters, optimizer state, the kernel's random state, running statistics,
    the best epoch so far, early stopping's and reduce-on-plateau's counters). Passing
    that pair back as ``resume`` (to a fresh :func:`setup` of the same run) continues with
    the next epoch, bit-identical to a run that was never stopped; the rows recorded up to
    the checkpoint are not sent again.
    """
    tr = cfg.training
    x, y, lab = st.splits["train"]
    n = len(x)
    batch = _batch_size(cfg, n)
    sampling = K.SAMPLE_PERMUTATION if tr.sampling == "permutation" else K.SAMPLE_REPLACEMENT
    steps = (n + batch - 1) // batch
    opt = cfg.optimizer
    opt_hyper = opt.pack_hyper()
    opt_state = opt.init_state(len(st.params), np.float32)
    sched = _Schedule(cfg, steps)
    reg = cfg.regularization
    n_layers = len(st.sizes) - 1
    units = int(st.layout[-1, 4] + batch * st.layout[-1, 1])
    buf = dict(
        z=np.empty(units, np.float32),
        a=np.empty(units, np.float32),
        d=np.empty(units, np.float32),
        mask=np.empty(units, np.float32),
        xhat=np.empty(units if len(st.bn_mean) else 0, np.float32),
    )
    inv_std = np.empty(len(st.bn_mean), np.float32)
    grads = np.zeros_like(st.params)
    x_buf = np.empty(batch * st.sizes[0], np.float32)
    y_buf = np.empty(batch * max(1, y.shape[1]), np.float32)
    lab_buf = np.empty(batch, np.int64)
    idx = np.empty(steps * batch if sampling == K.SAMPLE_REPLACEMENT else n, np.int64)
    wt_buf = np.empty(max(int(a * b) for a, b in zip(st.sizes[:-1], st.sizes[1:])), np.float32)
    before = np.empty_like(st.params)
    step_loss = np.empty(steps)
    grad_sum = np.zeros(n_layers)
    update_ratio = np.zeros(n_layers)
    wnorm = np.zeros(n_layers)

    eval_batch = min(1024, max(1, n))
    evals = {
        name: Evaluator(st, *st.splits[name], eval_batch)
        for name in ("train", "validation", "test")
        if len(st.splits[name][0])
    }
    has_val = "validation" in evals
    es = cfg.early_stopping
    best = {"loss": math.inf, "epoch": 0, "params": st.params.copy(), "running": (st.bn_mean.copy(), st.bn_var.copy())}
    wait = 0
    snap = cfg.record.snapshot_every

    def row(epoch, lr, batch_loss, grad_norm, ratio):
        ev = evals["train"](st.params)
        ve = evals["validation"](st.params) if has_val else {"loss": math.nan, "metric": math.nan}
        K.layer_norms(st.params, st.layout, wnorm)
        cols = dict(
            epoch=[epoch],
            lr=[lr],
            batch_loss=[batch_loss],
            train_loss=[ev["loss"]],
            train_metric=[ev["metric"]],
            val_loss=[ve["loss"]],
            val_metric=[ve["metric"]],
            weight_norm=[wnorm.copy()],
            grad_norm=[grad_norm],
            update_ratio=[ratio],
        )
        if "act_mean" in ev:
            cols.update(act_mean=[ev["act_mean"]], act_std=[ev["act_std"]], dead_fraction=[ev["dead"]])
        if on_epoch is not None:
            on_epoch(**{k: np.asarray(v) for k, v in cols.items()})
        return ev, ve

    def capture() -> tuple[dict, dict]:
        plateau = sched.plateau
        scalars = [best["loss"]] + ([plateau.lr, plateau.best] if plateau is not None else [])
        state = {
            "epoch": epochs_run,
            "best_epoch": best["epoch"],
            "wait": wait,
            "plateau": None
            if plateau is None
            else {
                "num_bad_epochs": plateau.num_bad_epochs,
                "cooldown_counter": plateau.cooldown_counter,
                "last_epoch": plateau.last_epoch,
            },
        }
        arrays = {
            "params": st.params,
            "opt_state": opt_state,
            "rng_state": rng_state,
            "bn_mean": st.bn_mean,
            "bn_var": st.bn_var,
            "best_params": best["params"],
            "best_bn_mean": best["running"][0],
            "best_bn_var": best["running"][1],
            "scalars": np.array(scalars, np.float64),
        }
        return state, arrays

    epochs_run = 0
    stopped_early = False
    if resume is None:
        nan_layers = np.full(n_layers, np.nan)
        ev, ve = row(0, float(sched.epoch_rates(0)[0]), math.nan, nan_layers, nan_layers)
        if on_snapshot is not None:
            on_snapshot(0, st.params)
    else:
        state, arrays = resume
        for name, target in (
            ("params", st.params),
            ("opt_state", opt_state),
            ("rng_state", rng_state),
            ("bn_mean", st.bn_mean),
            ("bn_var", st.bn_var),
        ):
            target[...] = arrays[name]
        scalars = arrays["scalars"]
        best.update(
            loss=float(scalars[0]),
            epoch=state["best_epoch"],
            params=arrays["best_params"].copy(),
            running=(arrays["best_bn_mean"].copy(), arrays["best_bn_var"].copy()),
        )
        wait = state["wait"]
        epochs_run = state["epoch"]
        if sched.plateau is not None:
            sched.plateau.lr, sched.plateau.best = float(scalars[1]), float(scalars[2])
            for key, value in state["plateau"].items():
                setattr(sched.plateau, key, value)
    for epoch in range(epochs_run + 1, tr.epochs + 1):
        lrs = sched.epoch_rates(epoch - 1)
        grad_sum[:] = 0.0
        done, diverged = K.train_epoch(
            st.params,
            grads,
            opt.code,
            opt_state,
            opt_hyper,
            (epoch - 1) * steps,
            lrs,
            st.layout,
            st.act_codes,
            st.act_params,
            st.drop,
            st.inverted,
            st.bn,
            st.bn_mean,
            st.bn_var,
            st.bn_momentum,
            st.bn_eps,
            st.frozen,
            st.loss_code,
            reg.l1,
            reg.l2,
            tr.clip_norm,
            tr.clip_value,
            sampling,
            batch,
            x,
            y,
            lab,
            x_buf,
            y_buf,
            lab_buf,
            idx,
            buf["z"],
            buf["a"],
            buf["d"],
            buf["mask"],
            buf["xhat"],
            inv_std,
            wt_buf,
            rng_state,
            step_loss,
            grad_sum,
            update_ratio,
            before,
        )
        if diverged >= 0:
            raise TrainingDiverged(
                f"training diverged: the loss became {step_loss[diverged]} at epoch {epoch}, "
                f"step {diverged + 1} of {steps}"
            )
        if not np.isfinite(st.params).all():
            raise TrainingDiverged(f"training diverged: the weights became non-finite at epoch {epoch}")
        if on_steps is not None:
            on_steps(
                step=np.arange((epoch - 1) * steps + 1, epoch * steps + 1),
                step_loss=step_loss.copy(),
                step_lr=lrs.astype(np.float64),
            )
        ev, ve = row(epoch, float(lrs[0]), float(step_loss[:done].mean()), grad_sum / done, update_ratio.copy())
        epochs_run = epoch
        if snap and epoch % snap == 0 and on_snapshot is not None:
            on_snapshot(epoch, st.params)
        if has_val:
            sched.end_epoch(ve["loss"])
            if ve["loss"] < best["loss"] - (es.min_delta if es else 0.0):
                best.update(
                    loss=ve["loss"], epoch=epoch, params=st.params.copy(), running=(st.bn_mean.copy(), st.bn_var.copy())
                )
                wait = 0
            else:
                wait += 1
            if es and wait >= es.patience:
                stopped_early = True
                break
        if on_checkpoint is not None and epoch < tr.epochs:
            on_checkpoint(epoch, capture)
    final_params = st.params.copy()
    if es and es.restore_best and best["epoch"] > 0:
        st.last_running = (st.bn_mean.copy(), st.bn_var.copy())
        st.params[:] = best["params"]
        st.bn_mean[:], st.bn_var[:] = best["running"]
    ev = evals["train"](st.params)
    ve = evals["validation"](st.params) if has_val else {}
    metrics = {
        "task": st.task,
        "loss": st.loss,
        "metric": "accuracy" if st.task == CLASSIFICATION else "r2",
        "n_params": int(len(st.params)),
        "epochs_run": epochs_run,
        "stopped_early": stopped_early,
        "steps_per_epoch": steps,
        "train_loss": ev["loss"],
        "train_metric": ev["metric"],
        "val_loss": ve["loss"] if has_val else None,
        "val_metric": ve["metric"] if has_val else None,
        "best_epoch": best["epoch"] if has_val else None,
        "best_val_loss": best["loss"] if has_val else None,
        "restored_best": bool(es and es.restore_best and best["epoch"] > 0),
    }
    if "test" in evals:
        te = evals["test"](st.params)
        metrics.update(test_loss=te["loss"], test_metric=te["metric"])
    else:
        metrics.update(test_loss=None, test_metric=None)
    metrics["_final_params"] = final_params
    return metrics


# --------------------------------------------------------------------------- the run


def _write_weights(record, st: Setup, params: np.ndarray, prefix: str = "", running: tuple | None = None) -> None:
    """Every layer's weights and bias, and batch norm's gamma, beta and running statistics
    (``running = (mean, var)``, default ``st``'s)."""
    running = (st.bn_mean, st.bn_var) if running is None else running
    transferred = {} if st.transfer is None else dict(zip(st.transfer["into"], st.transfer["layers"]))
    for l, (n_in, n_out, w, b, _) in enumerate(st.layout):
        attrs = {"frozen": bool(st.frozen[l])}
        if st.code_layer >= 0:
            attrs["part"] = "encoder" if l <= st.code_layer else "decoder"
        if l in transferred:
            attrs["transferred_from"] = f"{st.transfer['run']}:weight_{transferred[l]}"
        dims = (f"unit_{l}", f"unit_{l + 1}")
        record.static(f"{prefix}weight_{l}", params[w : w + n_in * n_out].reshape(n_in, n_out), dims, attrs)
        record.static(f"{prefix}bias_{l}", params[b : b + n_out], dims[1:])
        if l < len(st.layout) - 1 and st.bn[l, 0] >= 0:
            g, f = (int(v) for v in st.bn[l])
            record.static(f"{prefix}bn_gamma_{l}", params[g : g + n_out], dims[1:])
            record.static(f"{prefix}bn_beta_{l}", params[g + n_out : g + 2 * n_out], dims[1:])
            record.static(f"{prefix}bn_running_mean_{l}", running[0][f : f + n_out], dims[1:])
            record.static(f"{prefix}bn_running_var_{l}", running[1][f : f + n_out], dims[1:])


def _record_store(record) -> str | None:
    """The path of the store a run record writes to (None for a stand-in without one)."""
    group = getattr(record, "group", None)
    root = getattr(getattr(group, "store", None), "root", None)
    return None if root is None else os.fspath(root)


def run(spec, record) -> dict:
    """Train one feedforward run (a :class:`dynet.scenario.RunSpec`) into ``record``; return its metrics."""
    cfg = spec.settings
    st = setup(
        cfg, spec.seed_sequence(), spec.base_dir, store=_record_store(record), sha256=spec.config["data"].get("sha256")
    )
    return train_and_record(cfg, st, record)


def train_and_record(cfg: FeedforwardScenario, st: Setup, record) -> dict:
    """Train the network of ``st`` into ``record`` (trajectories, checkpoints, weights, codes); its metrics.

    Resumes from the record's checkpoint when an earlier attempt of the run saved one."""
    epoch_specs, step_specs = trajectory_specs(st, cfg.record.per_step)
    epochs = record.trajectory(epoch_specs)
    steps = record.trajectory(step_specs) if step_specs else None
    snapshots = []
    initial = st.params.copy()
    initial_running = (st.bn_mean.copy(), st.bn_var.copy())
    resume = None
    if record.resumed is not None:  # an earlier attempt of this run saved a checkpoint: continue it
        arrays = record.checkpoint_arrays()
        snapshots = [(int(e), p) for e, p in zip(record.resumed["snapshots"], arrays.pop("snapshots", []))]
        resume = (record.resumed, arrays)
    every, seconds = cfg.record.checkpoint_every, cfg.record.checkpoint_seconds
    last = [time.monotonic()]

    def checkpoint(epoch, capture):
        if not (every and epoch % every == 0 or seconds and time.monotonic() - last[0] >= seconds):
            return
        state, arrays = capture()
        state["snapshots"] = [e for e, _ in snapshots]
        if snapshots:
            arrays["snapshots"] = np.stack([p for _, p in snapshots])
        record.save_checkpoint(state, arrays, [t for t in (epochs, steps) if t is not None])
        last[0] = time.monotonic()

    try:
        metrics = train(
            cfg,
            st,
            st.rng_state,
            on_epoch=epochs.append,
            on_steps=steps.append if steps else None,
            on_snapshot=lambda e, p: snapshots.append((e, p.copy())),
            on_checkpoint=checkpoint,
            resume=resume,
        )
    finally:  # a diverged run keeps the epochs it recorded, for diagnosis
        epochs.close()
        if steps is not None:
            steps.close()
    final = metrics.pop("_final_params")
    _write_weights(record, st, initial, "initial_", initial_running)
    _write_weights(record, st, st.params)  # best when restored, else final
    if metrics["restored_best"]:
        _write_weights(record, st, final, "last_", st.last_running)
    if len(snapshots) > 1:
        record.static("snapshot", np.array([e for e, _ in snapshots], np.int64), ("snapshot",))
        for l, (n_in, n_out, w, _b, _) in enumerate(st.layout):
            record.static(
                f"snapshot_weight_{l}",
                np.stack([p[w : w + n_in * n_out].reshape(n_in, n_out) for _, p in snapshots]),
                ("snapshot", f"unit_{l}", f"unit_{l + 1}"),
            )
    record.static("layer_sizes", np.array(st.sizes, np.int64), ("size",))
    if st.code_layer >= 0 and len(st.splits["validation"][0]):
        ev = Evaluator(st, *st.splits["validation"], min(1024, len(st.splits["validation"][0])), st.code_layer)
        ev(st.params)
        record.static("val_code", ev.kept, ("val_sample", "code"))
        if "validation" in st.labels:
            record.static("val_label", st.labels["validation"], ("val_sample",))
    if st.transfer is not None:
        metrics.update(
            transfer_run=st.transfer["run"],
            transfer_scenario=st.transfer["scenario"],
            transfer_store=st.transfer["store"],
            transfer_layers=st.transfer["layers"],
            transfer_into=st.transfer["into"],
        )
    metrics["frozen_layers"] = [int(l) for l in np.flatnonzero(st.frozen)]
    return metrics


def preflight(config: dict, base_dir: str, store: str | None = None) -> list[str]:
    """:func:`check` of a resolved config dict (``RunSpec.config``, with the data file's hash)."""
    return check(run_settings("feedforward", config), base_dir, store, config["data"].get("sha256"))


def check(cfg: FeedforwardScenario, base_dir: str, store: str | None = None, sha256: str | None = None) -> list[str]:
    """Problems that need the data or another run: missing files, NaNs, task/loss clashes, tiny splits,
    a batch of one row under batch norm, and a transfer source run (in ``init.transfer.store``, else
    in ``store``, the store the runs will write to) that is missing, incomplete, ambiguous or of the
    wrong shape. ``sha256``: the data file's hash (``RunSpec.config["data"]["sha256"]``)."""
    try:
        x, y, task = prepare_data(cfg, np.random.default_rng(0), base_dir, sha256)
    except _data.DataError as exc:
        return [f"data.path: {exc}"]
    if not np.isfinite(x).all():
        return ["data: the inputs contain NaN or infinite values"]
    try:
        sizes, loss, _ = network_sizes(cfg, x, y, task)
    except ValueError as exc:
        return [str(exc)]
    d = cfg.data
    n_train = len(x) - int(d.validation * len(x)) - int(d.test * len(x))
    if n_train < 1:
        return [f"data: no training samples left after the splits ({len(x)} samples)"]
    problems = []
    if task == RECONSTRUCTION and loss == "bce_with_logits":
        if d.standardize:
            problems.append(
                "network.loss: 'bce_with_logits' reconstructs inputs in [0, 1]: set "
                "data.standardize = false (and data.scale to bring the inputs into [0, 1])"
            )
        elif x.min() < 0 or x.max() > 1:
            problems.append(
                f"network.loss: 'bce_with_logits' reconstructs inputs in [0, 1]; these span "
                f"[{x.min():g}, {x.max():g}] (set data.scale)"
            )
    bn_layers = per_hidden(cfg.regularization.batch_norm, len(sizes) - 2) + [False]
    batch = _batch_size(cfg, n_train)
    if any(bn_layers) and (batch < 2 or cfg.training.sampling == "permutation" and n_train % batch == 1):
        problems.append(
            f"regularization.batch_norm: a batch of 1 row ({n_train} training samples in batches of "
            f"{batch}) has no batch statistics; change training.batch_size"
        )
    transfer = cfg.init.transfer
    if transfer is not None and (transfer.store or store is not None):
        try:
            load_transfer(transfer, sizes, bn_layers, base_dir, store)
        except TransferError as exc:
            problems.append(str(exc))
    return problems


def cost(config: dict) -> float:
    """Rough work of a run of a resolved config dict (multiply-adds), for batching small runs into one task."""
    return work(run_settings("feedforward", config))


def work(cfg: FeedforwardScenario) -> float:
    """Rough work of a run (multiply-adds) of typed settings: forward and backward passes over every
    sample of the data (:func:`dynet.train.loop.data_dims`) through its layers, every epoch."""
    rows, inputs, outputs = data_dims(cfg.data)
    widths = layer_widths(cfg.network, inputs, outputs)
    size = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    return 6.0 * rows * size * cfg.training.epochs


def warmup() -> None:
    """Compile (or load from cache) the training kernels on a tiny problem."""
    cfg = FeedforwardScenario.model_validate(
        {
            "name": "warmup",
            "model": "feedforward",
            "seed": 0,
            "data": {"source": "xor", "n_samples": 8, "noise": 0.1, "validation": 0.25},
            "network": {"kind": "mlp", "hidden": [3], "activation": "tanh"},
            "optimizer": {"name": "adam", "lr": 0.01},
            "training": {"epochs": 1, "batch_size": 2, "clip_norm": 1.0, "clip_value": 1.0},
            "regularization": {"l2": 0.01, "dropout": 0.1},
        }
    )
    st = setup(cfg, np.random.SeedSequence(0))
    train(cfg, st, np.array([1, 2, 3, 4], np.uint64))
