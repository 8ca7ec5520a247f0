"""Feedforward networks trained by backpropagation: data, network, training loop, records.

The driver prepares the data splits and the flat float32 parameter buffer, then calls
:func:`dynet.kernels.feedforward.train_epoch` once per epoch (the whole epoch in
compiled code) and :func:`~dynet.kernels.feedforward.evaluate` for the per-epoch
metrics. Random streams (children of the run's SeedSequence): 0 generates the data,
1 splits it, 2 initializes the weights, 3 seeds the kernel's xoshiro256** state
(mini-batch sampling and dropout masks).

The output layer is linear and every loss takes logits; the output nonlinearity of
the task (softmax for cross-entropy, sigmoid for binary cross-entropy, the step for
the perceptron and hinge) is used for predictions: class = argmax of the logits, or
logit > 0 with one output.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from .. import data as _data
from ..kernels import feedforward as K
from ..kernels.rng import seed_state
from ..store import TrajectorySpec
from ..train import activations as A
from ..train import initializers as I
from ..train import losses as L
from ..train import optimizers as O
from ..train import schedules as S

CLASSIFICATION = "classification"
REGRESSION = "regression"

#: Metrics shown (averaged over replicates) in run summaries.
SUMMARY = ("train_loss", "val_loss", "train_metric", "val_metric", "test_metric", "epochs_run")


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite."""


# --------------------------------------------------------------------------- data

def load_data(data: dict, rng: np.random.Generator, base_dir: str = ".") -> tuple[np.ndarray, np.ndarray, str]:
    """(X float64 (n, d), y, task): y is int64 labels (classification) or float64 (n, k) targets."""
    src = data["source"]
    if src == "xor":
        x, y = _data.xor(rng, data["n_samples"], data["noise"])
    elif src == "parity":
        x, y = _data.parity(rng, data["n_bits"], data["n_samples"], data["noise"])
    elif src == "linear":
        x, y = _data.linear(rng, data["n_samples"], data["noise"])
        return x, y, REGRESSION
    elif src == "blobs":
        x, y = _data.blobs(rng, data["n_samples"], data["n_classes"], data["n_features"], data["spread"])
    elif src == "moons":
        x, y = _data.moons(rng, data["n_samples"], data["noise"])
    elif src == "spirals":
        x, y = _data.spirals(rng, data["n_samples"], data["n_classes"], data["turns"], data["noise"])
    elif src == "iris":
        x, y = _data.load_iris()
    elif src == "digits":
        images, y = _data.load_digits()
        x = images.astype(np.float64)
    else:
        return _file_data(data, base_dir)
    return np.asarray(x, np.float64), np.asarray(y, np.int64), CLASSIFICATION


def _file_data(data: dict, base_dir: str):
    path = data["path"] if os.path.isabs(data["path"]) else os.path.join(base_dir, data["path"])
    if path.endswith(".csv"):
        if not os.path.isfile(path):
            raise _data.DataError(f"{path}: no such data file")
        try:
            try:
                table = np.loadtxt(path, delimiter=",", ndmin=2)
            except ValueError:
                table = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)  # a header row
        except ValueError as exc:
            raise _data.DataError(f"{path}: not a numeric CSV table (one header row at most): {exc}") from None
        k = data["target_columns"]
        if table.shape[1] <= k:
            raise _data.DataError(f"{path}: needs more than {k} column(s) (inputs and targets)")
        x, y = table[:, :-k], table[:, -k:]
    else:
        x = _data.load_array(path, data["x_key"])
        y = _data.load_array(path, data["y_key"])
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or len(x) != len(y):
        raise _data.DataError(f"{path}: inputs of shape {x.shape} do not match {len(y)} targets")
    if not np.isfinite(x).all() or not np.isfinite(np.asarray(y, np.float64)).all():
        raise _data.DataError(f"{path}: data contain NaN or infinite values")
    if data["task"] == CLASSIFICATION:
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


def resolve_loss(config: dict, task: str, n_classes: int) -> tuple[str, int]:
    """(loss name, number of outputs) for the network kind, task and classes; ValueError if they clash."""
    net = config["network"]
    kind = net["kind"]
    if kind == "linear" and task != REGRESSION:
        raise ValueError("network.kind: 'linear' is linear regression: it needs regression data")
    if kind in ("logistic", "perceptron") and task != CLASSIFICATION:
        raise ValueError(f"network.kind: '{kind}' needs classification data")
    loss = net["loss"]
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
    if task == REGRESSION:
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
    last = layout[-1]
    return int(last[3] + last[1])


def init_params(config: dict, layout: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    init = config["init"]
    params = dict(init["params"])
    act = config["network"]["activation"]
    if init["weights"].startswith(("glorot", "xavier")) and "gain" not in params and config["network"]["kind"] == "mlp":
        params["gain"] = A.gain(act, config["network"]["activation_param"])
    flat = np.empty(n_params(layout), np.float32)
    for n_in, n_out, w, b, _ in layout:
        flat[w:w + n_in * n_out] = I.initialize(init["weights"], rng, (int(n_in), int(n_out)), **params).ravel()
        flat[b:b + n_out] = init["bias"]
    return flat


def setup(config: dict, seed_sequence: np.random.SeedSequence, base_dir: str = ".") -> Setup:
    data_ss, split_ss, init_ss, train_ss = seed_sequence.spawn(4)
    d = config["data"]
    x, y, task = load_data(d, np.random.default_rng(data_ss), base_dir)
    n_classes = int(y.max()) + 1 if task == CLASSIFICATION else 0
    loss, n_out = resolve_loss(config, task, n_classes)
    if task == REGRESSION:
        n_out = y.shape[1]
    tr, va, te = _data.split(len(x), (1.0 - d["validation"] - d["test"], d["validation"], d["test"]),
                             np.random.default_rng(split_ss))
    xs = [x[tr], x[va], x[te]]
    if d["standardize"]:
        xs = list(_data.standardize(*xs))
    splits = {}
    for name, idx, xx in zip(("train", "validation", "test"), (tr, va, te), xs):
        yy, lab = _targets(loss, y[idx], task)
        splits[name] = (np.ascontiguousarray(xx, np.float32), yy, lab)
    net = config["network"]
    hidden = list(net["hidden"]) if net["kind"] == "mlp" else []
    sizes = [x.shape[1], *hidden, n_out]
    batch = _batch_size(config, len(tr))
    layout = make_layout(sizes, batch)
    act = net["activation"]
    param = net["activation_param"]
    param = A.DEFAULT_PARAMS.get(act, 0.0) if param is None else param
    n_hidden = len(hidden)
    act_codes = np.full(max(1, n_hidden), A.ACTIVATION_CODES[act], np.int64)
    act_params = np.full(max(1, n_hidden), float(param), np.float64)
    dropv = config["regularization"]["dropout"]
    drop = np.array(dropv if isinstance(dropv, list) else [dropv] * n_hidden, np.float64)
    drop = np.concatenate([drop, np.zeros(1)])  # the output layer has none
    params = init_params(config, layout, np.random.default_rng(init_ss))
    return Setup(task=task, n_classes=n_classes, loss=loss, loss_code=L.LOSS_CODES[loss], n_out=n_out, sizes=sizes,
                 layout=layout, act_codes=act_codes, act_params=act_params, drop=drop,
                 inverted=config["regularization"]["dropout_mode"] == "inverted", params=params, splits=splits,
                 rng_state=seed_state(train_ss))


def _batch_size(config: dict, n_train: int) -> int:
    b = config["training"]["batch_size"]
    return n_train if b == "full" else min(int(b), n_train)


# --------------------------------------------------------------------------- evaluation

class Evaluator:
    """Evaluation-mode forward passes over a split: loss, metric, activation statistics."""

    def __init__(self, st: Setup, x: np.ndarray, y: np.ndarray, labels: np.ndarray, batch: int):
        self.st, self.x, self.y, self.labels = st, x, y, labels
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
        K.evaluate(params, self.layout, st.act_codes, st.act_params, st.drop, st.inverted, self.x, self.batch,
                   self.z, self.a, self.mask, self.xb, self.out, self.act_sum, self.act_sq, self.alive, self.rng)
        loss = L.loss_and_grad(st.loss_code, self.out, self.y, self.labels, self.grad)
        res = {"loss": float(loss), "metric": self.metric()}
        hidden = st.sizes[1:-1]
        if hidden:
            counts = np.array(hidden, np.float64) * self.n
            mean = self.act_sum[:len(hidden)] / counts
            var = np.maximum(self.act_sq[:len(hidden)] / counts - mean**2, 0.0)
            bounds = np.cumsum([0, *hidden])
            dead = np.array([1.0 - self.alive[a:b].mean() for a, b in zip(bounds[:-1], bounds[1:])])
            res.update(act_mean=mean, act_std=np.sqrt(var), dead=dead)
        return res

    def metric(self) -> float:
        """Accuracy (classification) or R^2 averaged over target columns (regression)."""
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
    steps = {"step": TrajectorySpec(("step",), "int64"), "step_loss": TrajectorySpec(("step",), "float64"),
             "step_lr": TrajectorySpec(("step",), "float64")} if record_steps else {}
    return epoch, steps


class _Schedule:
    def __init__(self, config: dict, steps_per_epoch: int):
        extra = {k: v for k, v in config["schedule"].items() if k not in ("name", "per")}
        self.spec = {"name": config["schedule"]["name"], **extra}
        sched = S.SCHEDULES[self.spec["name"]]
        if "lr" in [p.name for p in sched.params] and "lr" not in self.spec:
            self.spec["lr"] = O.get_spec(config["optimizer"]["name"]).resolve(
                {k: v for k, v in config["optimizer"].items() if k != "name"})["lr"]
        self.per_step = config["schedule"]["per"] == "step"
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


def train(config: dict, st: Setup, rng_state: np.ndarray, *, on_epoch=None, on_steps=None, on_snapshot=None) -> dict:
    """Train ``st.params`` in place; returns final metrics. Callbacks receive recorded rows."""
    tr = config["training"]
    x, y, lab = st.splits["train"]
    n = len(x)
    batch = _batch_size(config, n)
    sampling = K.SAMPLE_PERMUTATION if tr["sampling"] == "permutation" else K.SAMPLE_REPLACEMENT
    steps = (n + batch - 1) // batch
    opt = O.get_spec(config["optimizer"]["name"])
    hyper = opt.resolve({k: v for k, v in config["optimizer"].items() if k != "name"})
    opt_hyper = opt.pack_hyper(hyper)
    opt_state = opt.init_state(len(st.params), hyper, np.float32)
    sched = _Schedule(config, steps)
    reg = config["regularization"]
    n_layers = len(st.sizes) - 1
    units = int(st.layout[-1, 4] + batch * st.layout[-1, 1])
    buf = dict(z=np.empty(units, np.float32), a=np.empty(units, np.float32), d=np.empty(units, np.float32),
               mask=np.empty(units, np.float32))
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
    evals = {name: Evaluator(st, *st.splits[name], eval_batch) for name in ("train", "validation", "test")
             if len(st.splits[name][0])}
    has_val = "validation" in evals
    es = config["early_stopping"]
    best = {"loss": math.inf, "epoch": 0, "params": st.params.copy()}
    wait = 0
    snap = config["record"]["snapshot_every"]

    def row(epoch, lr, batch_loss, grad_norm, ratio):
        ev = evals["train"](st.params)
        ve = evals["validation"](st.params) if has_val else {"loss": math.nan, "metric": math.nan}
        K.layer_norms(st.params, st.layout, wnorm)
        cols = dict(epoch=[epoch], lr=[lr], batch_loss=[batch_loss], train_loss=[ev["loss"]],
                    train_metric=[ev["metric"]], val_loss=[ve["loss"]], val_metric=[ve["metric"]],
                    weight_norm=[wnorm.copy()], grad_norm=[grad_norm], update_ratio=[ratio])
        if "act_mean" in ev:
            cols.update(act_mean=[ev["act_mean"]], act_std=[ev["act_std"]], dead_fraction=[ev["dead"]])
        if on_epoch is not None:
            on_epoch(**{k: np.asarray(v) for k, v in cols.items()})
        return ev, ve

    nan_layers = np.full(n_layers, np.nan)
    ev, ve = row(0, float(sched.epoch_rates(0)[0]), math.nan, nan_layers, nan_layers)
    if on_snapshot is not None:
        on_snapshot(0, st.params)
    epochs_run = 0
    stopped_early = False
    for epoch in range(1, tr["epochs"] + 1):
        lrs = sched.epoch_rates(epoch - 1)
        grad_sum[:] = 0.0
        done, diverged = K.train_epoch(
            st.params, grads, opt.code, opt_state, opt_hyper, (epoch - 1) * steps, lrs, st.layout, st.act_codes,
            st.act_params, st.drop, st.inverted, st.loss_code, reg["l1"], reg["l2"], tr["clip_norm"],
            tr["clip_value"], sampling, batch, x, y, lab, x_buf, y_buf, lab_buf, idx, buf["z"], buf["a"], buf["d"],
            buf["mask"], wt_buf, rng_state, step_loss, grad_sum, update_ratio, before)
        if diverged >= 0:
            raise TrainingDiverged(f"training diverged: the loss became {step_loss[diverged]} at epoch {epoch}, "
                                   f"step {diverged + 1} of {steps}")
        if not np.isfinite(st.params).all():
            raise TrainingDiverged(f"training diverged: the weights became non-finite at epoch {epoch}")
        if on_steps is not None:
            on_steps(step=np.arange((epoch - 1) * steps + 1, epoch * steps + 1), step_loss=step_loss.copy(),
                     step_lr=lrs.astype(np.float64))
        ev, ve = row(epoch, float(lrs[0]), float(step_loss[:done].mean()), grad_sum / done, update_ratio.copy())
        epochs_run = epoch
        if snap and epoch % snap == 0 and on_snapshot is not None:
            on_snapshot(epoch, st.params)
        if has_val:
            sched.end_epoch(ve["loss"])
            if ve["loss"] < best["loss"] - (es["min_delta"] if es else 0.0):
                best.update(loss=ve["loss"], epoch=epoch, params=st.params.copy())
                wait = 0
            else:
                wait += 1
            if es and wait >= es["patience"]:
                stopped_early = True
                break
    final_params = st.params.copy()
    if es and es["restore_best"] and best["epoch"] > 0:
        st.params[:] = best["params"]
    ev = evals["train"](st.params)
    ve = evals["validation"](st.params) if has_val else {}
    metrics = {
        "task": st.task, "loss": st.loss, "metric": "r2" if st.task == REGRESSION else "accuracy",
        "n_params": int(len(st.params)), "epochs_run": epochs_run, "stopped_early": stopped_early,
        "steps_per_epoch": steps,
        "train_loss": ev["loss"], "train_metric": ev["metric"],
        "val_loss": ve["loss"] if has_val else None,
        "val_metric": ve["metric"] if has_val else None,
        "best_epoch": best["epoch"] if has_val else None,
        "best_val_loss": best["loss"] if has_val else None,
        "restored_best": bool(es and es["restore_best"] and best["epoch"] > 0),
    }
    if "test" in evals:
        te = evals["test"](st.params)
        metrics.update(test_loss=te["loss"], test_metric=te["metric"])
    else:
        metrics.update(test_loss=None, test_metric=None)
    metrics["_final_params"] = final_params
    return metrics


# --------------------------------------------------------------------------- the run

def _write_weights(record, st: Setup, params: np.ndarray, prefix: str = "") -> None:
    for l, (n_in, n_out, w, b, _) in enumerate(st.layout):
        record.static(f"{prefix}weight_{l}", params[w:w + n_in * n_out].reshape(n_in, n_out),
                      (f"unit_{l}", f"unit_{l + 1}"))
        record.static(f"{prefix}bias_{l}", params[b:b + n_out], (f"unit_{l + 1}",))


def run(spec, record) -> dict:
    """Train one feedforward run (a :class:`dynet.scenario.RunSpec`) into ``record``; return its metrics."""
    config = spec.config
    st = setup(config, spec.seed_sequence(), spec.base_dir)
    epoch_specs, step_specs = trajectory_specs(st, config["record"]["per_step"])
    epochs = record.trajectory(epoch_specs)
    steps = record.trajectory(step_specs) if step_specs else None
    snapshots = []
    initial = st.params.copy()
    try:
        metrics = train(config, st, st.rng_state, on_epoch=epochs.append, on_steps=steps.append if steps else None,
                        on_snapshot=lambda e, p: snapshots.append((e, p.copy())))
    finally:  # a diverged run keeps the epochs it recorded, for diagnosis
        epochs.close()
        if steps is not None:
            steps.close()
    final = metrics.pop("_final_params")
    _write_weights(record, st, initial, "initial_")
    _write_weights(record, st, st.params)  # best when restored, else final
    if metrics["restored_best"]:
        _write_weights(record, st, final, "last_")
    if len(snapshots) > 1:
        record.static("snapshot", np.array([e for e, _ in snapshots], np.int64), ("snapshot",))
        for l, (n_in, n_out, w, b, _) in enumerate(st.layout):
            record.static(f"snapshot_weight_{l}", np.stack([p[w:w + n_in * n_out].reshape(n_in, n_out)
                                                            for _, p in snapshots]),
                          ("snapshot", f"unit_{l}", f"unit_{l + 1}"))
    record.static("layer_sizes", np.array(st.sizes, np.int64), ("size",))
    return metrics


def preflight(config: dict, base_dir: str) -> list[str]:
    """Problems that need the data: missing files, NaNs, task/loss clashes, tiny splits."""
    try:
        x, y, task = load_data(config["data"], np.random.default_rng(0), base_dir)
    except _data.DataError as exc:
        return [f"data.path: {exc}"]
    if not np.isfinite(x).all():
        return ["data: the inputs contain NaN or infinite values"]
    n_classes = int(y.max()) + 1 if task == CLASSIFICATION else 0
    try:
        resolve_loss(config, task, n_classes)
    except ValueError as exc:
        return [str(exc)]
    d = config["data"]
    n_train = len(x) - int(d["validation"] * len(x)) - int(d["test"] * len(x))
    if n_train < 1:
        return [f"data: no training samples left after the splits ({len(x)} samples)"]
    return []


def cost(config: dict) -> float:
    """Rough work of a run (multiply-adds), for batching small runs into one task."""
    d = config["data"]
    n = {"xor": 4, "parity": 2 ** d.get("n_bits", 3), "iris": 150, "digits": 1797}.get(d["source"],
                                                                                        d.get("n_samples") or 1000)
    width = [64, *config["network"]["hidden"], 10]
    size = sum(a * b for a, b in zip(width[:-1], width[1:]))
    return 6.0 * n * size * config["training"]["epochs"]


def warmup() -> None:
    """Compile (or load from cache) the training kernels on a tiny problem."""
    cfg = {"data": {"source": "xor", "n_samples": 8, "noise": 0.1, "validation": 0.25, "test": 0.0,
                    "standardize": True},
           "network": {"kind": "mlp", "hidden": [3], "activation": "tanh", "activation_param": None, "loss": None},
           "init": {"weights": "glorot_uniform", "params": {}, "bias": 0.0},
           "optimizer": {"name": "adam", "lr": 0.01}, "schedule": {"name": "constant", "per": "epoch"},
           "training": {"epochs": 1, "batch_size": 2, "sampling": "permutation", "clip_norm": 1.0,
                        "clip_value": 1.0},
           "regularization": {"l1": 0.0, "l2": 0.01, "dropout": 0.1, "dropout_mode": "inverted"},
           "early_stopping": None, "record": {"per_step": False, "snapshot_every": 0}}
    st = setup(cfg, np.random.SeedSequence(0))
    train(cfg, st, np.array([1, 2, 3, 4], np.uint64))
