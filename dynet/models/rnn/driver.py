"""Elman recurrent networks: the generated tasks, the network, BPTT training and the run driver.

The driver reads the run's typed scenario (:class:`~dynet.models.rnn.config.RnnScenario`,
``spec.settings``). Random streams (children of the run's SeedSequence): 0 the training
sequences, 1 the validation sequences, 2 the initial weights, 3 the order of the sequences in
each epoch. The recurrence and its backward pass are :mod:`dynet.models.rnn.kernels`; the
readout ``y = h W_hy + b_y`` (from the last hidden state, or from every one for ``sines``), the
loss (MSE or cross-entropy on the logits) and the optimizer steps
(:func:`dynet.train.optimizers.optimizer_step` over one flat float64 buffer, clipped by
:func:`dynet.train.optimizers.clip_norm_flat`) are numpy here. The epochs run through
:func:`dynet.train.loop.run_epochs` with the ``[schedule]`` table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynet.scenario import run_settings
from dynet.store import TrajectorySpec
from dynet.train import loop as L
from dynet.train.initializers import initialize
from dynet.train.optimizers import clip_norm_flat, grad_norm_flat, optimizer_step

from . import kernels as K
from .config import RnnScenario

#: The adding problem's tolerance (Hochreiter & Schmidhuber 1997): a prediction within it is correct.
ADDING_TOLERANCE = 0.04

#: The parameter tensors in the order of the flat buffer.
PARAM_NAMES = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Sequences:
    """A batch of task sequences: inputs ``x`` (B, T, I) float64 and targets: (B, O) float64 for
    a many-to-one regression, (B,) int64 class labels for a many-to-one classification, (B, T, O)
    float64 for a many-to-many regression."""

    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class TaskShape:
    inputs: int
    outputs: int
    loss: str  # "mse" or "cross_entropy"
    per_step: bool  # an output at every step (many-to-many) or after the last one


def task_shape(task) -> TaskShape:
    """Input width, output width (classes), loss and output placement of a task."""
    if task.name == "adding":
        return TaskShape(2, 1, "mse", False)
    if task.name == "parity":
        return TaskShape(1, 2, "cross_entropy", False)
    if task.name == "recall":
        return TaskShape(task.symbols + 1, task.symbols, "cross_entropy", False)
    return TaskShape(1, 1, "mse", True)


def make_sequences(task, n: int, rng: np.random.Generator) -> Sequences:
    """``n`` sequences of ``task`` drawn from ``rng``."""
    t = task.length
    if task.name == "adding":
        x = np.zeros((n, t, 2))
        x[:, :, 0] = rng.random((n, t))
        half = t // 2
        first = rng.integers(0, half, size=n)
        second = rng.integers(half, t, size=n)
        rows = np.arange(n)
        x[rows, first, 1] = 1.0
        x[rows, second, 1] = 1.0
        y = (x[rows, first, 0] + x[rows, second, 0])[:, None]
        return Sequences(x, y)
    if task.name == "parity":
        bits = rng.integers(0, 2, size=(n, t))
        return Sequences(bits[:, :, None].astype(np.float64), (bits.sum(axis=1) % 2).astype(np.int64))
    if task.name == "recall":
        k = task.symbols
        sym = rng.integers(0, k, size=n)
        x = np.zeros((n, t, k + 1))
        x[np.arange(n), 0, sym] = 1.0
        x[:, t - 1, k] = 1.0
        return Sequences(x, sym.astype(np.int64))
    omega = rng.uniform(task.omega_min, task.omega_max, size=n)
    phi = rng.uniform(0.0, 2 * np.pi, size=n)
    steps = np.arange(t + 1)
    obs = np.sin(omega[:, None] * steps[None, :] + phi[:, None]) + task.noise * rng.standard_normal((n, t + 1))
    return Sequences(obs[:, :t, None].copy(), obs[:, 1:, None].copy())


def baseline_loss(task) -> float:
    """The loss of the best constant prediction, the level a network that learned nothing reaches:
    adding 1/6 (predicting 1.0), parity and recall log(classes) (uniform); sines: the variance of an
    observation, 1/2 + noise^2."""
    if task.name == "adding":
        return 1.0 / 6.0
    if task.name == "parity":
        return float(np.log(2.0))
    if task.name == "recall":
        return float(np.log(task.symbols))
    return 0.5 + task.noise**2


# --------------------------------------------------------------------------- the network


class Network:
    """The parameters of an Elman network as views of one flat float64 buffer (:data:`PARAM_NAMES`
    order), and their gradients as views of another."""

    def __init__(self, inputs: int, hidden: int, outputs: int):
        shapes = {
            "W_xh": (inputs, hidden),
            "W_hh": (hidden, hidden),
            "b_h": (hidden,),
            "W_hy": (hidden, outputs),
            "b_y": (outputs,),
        }
        size = sum(int(np.prod(s)) for s in shapes.values())
        self.flat = np.zeros(size)
        self.grad_flat = np.zeros(size)
        self.params, self.grads, off = {}, {}, 0
        for name, shape in shapes.items():
            n = int(np.prod(shape))
            self.params[name] = self.flat[off : off + n].reshape(shape)
            self.grads[name] = self.grad_flat[off : off + n].reshape(shape)
            off += n

    def __getitem__(self, name: str) -> np.ndarray:
        return self.params[name]


def spectral_radius(w: np.ndarray) -> float:
    """Largest absolute eigenvalue of a square matrix."""
    return float(np.abs(np.linalg.eigvals(w)).max())


def recurrent_init(kind: str, hidden: int, radius: float, rng: np.random.Generator) -> np.ndarray:
    """W_hh (H, H): a random orthogonal matrix (QR of a Gaussian one, signs fixed so that it is
    Haar-distributed) or N(0, 1/H) entries, scaled so that its spectral radius is ``radius``."""
    g = rng.standard_normal((hidden, hidden))
    if kind == "orthogonal":
        q, r = np.linalg.qr(g)
        w = q * np.where(np.diag(r) < 0, -1.0, 1.0)[None, :]
        return w * radius  # every eigenvalue of an orthogonal matrix has modulus 1
    w = g / np.sqrt(hidden)
    rho = spectral_radius(w)
    return w * (radius / rho) if rho > 0 else w


def init_network(cfg: RnnScenario, rng: np.random.Generator) -> Network:
    """The initial network: W_xh then W_hy from ``init.weights`` (dynet.train.initializers, float32
    draws widened to float64), W_hh from :func:`recurrent_init`, biases ``init.bias``."""
    shape = task_shape(cfg.task)
    net = Network(shape.inputs, cfg.network.hidden, shape.outputs)
    ini = cfg.init
    net["W_xh"][:] = initialize(ini.weights, rng, net["W_xh"].shape, **ini.params)
    net["W_hh"][:] = recurrent_init(ini.recurrent, cfg.network.hidden, ini.spectral_radius, rng)
    net["W_hy"][:] = initialize(ini.weights, rng, net["W_hy"].shape, **ini.params)
    net["b_h"][:] = ini.bias
    net["b_y"][:] = ini.bias
    return net


def readout(net: Network, hs: np.ndarray, per_step: bool) -> np.ndarray:
    """Logits: (B, T, O) from every hidden state, or (B, O) from the last."""
    h = hs if per_step else hs[:, -1, :]
    return h @ net["W_hy"] + net["b_y"]


def loss_and_grad(logits: np.ndarray, y: np.ndarray, loss: str) -> tuple[float, np.ndarray, float]:
    """Mean loss over sequences (and steps), its gradient with respect to the logits, and the
    fraction of correct predictions (classes; the adding problem: within :data:`ADDING_TOLERANCE`)."""
    if loss == "mse":
        diff = logits - y
        count = diff.size
        acc = float(np.mean(np.abs(diff) <= ADDING_TOLERANCE))
        return float(np.sum(diff * diff) / count), (2.0 / count) * diff, acc
    z = logits - logits.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=-1, keepdims=True))
    logp = z - lse
    n = y.shape[0]
    rows = np.arange(n)
    value = float(-logp[rows, y].mean())
    g = np.exp(logp)
    g[rows, y] -= 1.0
    acc = float(np.mean(np.argmax(logits, axis=-1) == y))
    return value, g / n, acc


def forward_backward(net: Network, seqs: Sequences, shape: TaskShape, truncation: int = 0):
    """Loss of ``seqs`` and its gradients (written into ``net.grads``) by BPTT; returns
    ``(loss, accuracy, dh_norm (B, T))``."""
    x = np.ascontiguousarray(seqs.x)
    n_b, n_t, _ = x.shape
    hs = np.empty((n_b, n_t, net["W_hh"].shape[0]))
    K.forward(x, net["W_xh"], net["W_hh"], net["b_h"], hs)
    logits = readout(net, hs, shape.per_step)
    value, g_logits, acc = loss_and_grad(logits, seqs.y, shape.loss)
    dh_out = np.zeros_like(hs)
    if shape.per_step:
        net.grads["W_hy"][:] = np.einsum("bth,bto->ho", hs, g_logits)
        net.grads["b_y"][:] = g_logits.sum(axis=(0, 1))
        dh_out[:] = g_logits @ net["W_hy"].T
    else:
        net.grads["W_hy"][:] = hs[:, -1, :].T @ g_logits
        net.grads["b_y"][:] = g_logits.sum(axis=0)
        dh_out[:, -1, :] = g_logits @ net["W_hy"].T
    dh_norm = np.empty((n_b, n_t))
    K.backward(
        x, hs, net["W_hh"], dh_out, int(truncation), net.grads["W_xh"], net.grads["W_hh"], net.grads["b_h"], dh_norm
    )
    return value, acc, dh_norm


def evaluate(net: Network, seqs: Sequences, shape: TaskShape) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``seqs`` (forward pass only)."""
    x = np.ascontiguousarray(seqs.x)
    hs = np.empty((x.shape[0], x.shape[1], net["W_hh"].shape[0]))
    K.forward(x, net["W_xh"], net["W_hh"], net["b_h"], hs)
    value, _, acc = loss_and_grad(readout(net, hs, shape.per_step), seqs.y, shape.loss)
    return value, acc


def lag_gradient_norms(net: Network, seqs: Sequences, shape: TaskShape) -> np.ndarray:
    """Mean over ``seqs`` of ``||dL_last / dh_{T-1-lag}||`` for lag = 0 .. T-1 (full BPTT), with
    ``L_last`` the loss of the last step's output: how the gradient vanishes or explodes going back
    in time. The network's gradients are left as they were."""
    keep = net.grad_flat.copy()
    last = shape
    if shape.per_step:  # only the last step's output
        seqs = Sequences(seqs.x, seqs.y[:, -1, :])
        last = TaskShape(shape.inputs, shape.outputs, shape.loss, False)
    _, _, dh_norm = forward_backward(net, seqs, last)
    net.grad_flat[:] = keep
    return dh_norm.mean(axis=0)[::-1].copy()


# --------------------------------------------------------------------------- training


class Trainer:
    """Mini-batch BPTT with one of dynet.train's optimizers (a :class:`dynet.train.loop.Learner`)."""

    def __init__(self, cfg: RnnScenario, net: Network, train: Sequences, rng: np.random.Generator):
        self.net, self.train, self.rng = net, train, rng
        self.shape = task_shape(cfg.task)
        self.batch = min(cfg.training.batch_size, train.x.shape[0])
        self.steps = -(-train.x.shape[0] // self.batch)
        self.truncation = cfg.training.truncation
        self.clip = float(cfg.training.clip_norm)
        opt = cfg.optimizer
        self.code, self.hyper = opt.code, opt.pack_hyper()
        self.state = opt.init_state(net.flat.size, np.float64)
        self.t = 0
        self.last_loss = np.nan
        self.grad_norms: list[float] = []

    def epoch(self, lrs: np.ndarray) -> None:
        order = self.rng.permutation(self.train.x.shape[0])
        self.grad_norms = []
        losses = []
        for s in range(self.steps):
            idx = np.sort(order[s * self.batch : (s + 1) * self.batch])
            seqs = Sequences(self.train.x[idx], self.train.y[idx])
            value, _, _ = forward_backward(self.net, seqs, self.shape, self.truncation)
            losses.append(value)
            self.step(float(lrs[s]))
        self.last_loss = float(np.mean(losses))

    def step(self, lr: float) -> float:
        """One optimizer step with the gradients in ``net.grads``, clipped to ``clip_norm``; returns
        the gradient norm before clipping."""
        g = self.net.grad_flat
        norm = clip_norm_flat(g, self.clip) if self.clip > 0 else grad_norm_flat(g)
        self.grad_norms.append(float(norm))
        self.t += 1
        optimizer_step(self.code, self.net.flat, g, self.state, self.t, lr, self.hyper)
        return float(norm)

    def params(self):
        return (self.net.flat,)


def data(cfg: RnnScenario, seed_sequence: np.random.SeedSequence):
    """Training and validation sequences, the initial network and the shuffling generator of a run."""
    train_ss, val_ss, init_ss, order_ss = seed_sequence.spawn(4)
    task = cfg.task
    train = make_sequences(task, task.n_train, np.random.default_rng(train_ss))
    val = make_sequences(task, task.n_validation, np.random.default_rng(val_ss))
    net = init_network(cfg, np.random.default_rng(init_ss))
    return train, val, net, np.random.default_rng(order_ss)


def epoch_specs(length: int) -> dict[str, TrajectorySpec]:
    scalar = TrajectorySpec(("epoch",), "float64")
    return {
        "epoch": TrajectorySpec(("epoch",), "int64"),
        "lr": scalar,
        "train_loss": scalar,
        "val_loss": scalar,
        "train_accuracy": scalar,
        "val_accuracy": scalar,
        "grad_norm": scalar,
        "spectral_radius": scalar,
        "lag_grad_norm": TrajectorySpec(("epoch", "lag"), "float64", (length,)),
    }


def train(cfg: RnnScenario, seed_sequence: np.random.SeedSequence, record=None):
    """Train a run's network; returns ``(metrics, network, initial W_hh)``. ``record`` (default: keep
    nothing) receives the epoch trajectory."""
    record = L.NullRecord() if record is None else record
    train_set, val, net, order_rng = data(cfg, seed_sequence)
    shape = task_shape(cfg.task)
    w_hh0 = net["W_hh"].copy()
    trainer = Trainer(cfg, net, train_set, order_rng)
    probe = Sequences(val.x[:256], val.y[:256])
    first_lag = []

    def row(epoch: int, lr: float) -> dict:
        tr_loss, tr_acc = evaluate(net, train_set, shape)
        gnorm = float(np.mean(trainer.grad_norms)) if epoch > 0 else np.nan
        va_loss, va_acc = evaluate(net, val, shape)
        classes = shape.loss == "cross_entropy" or cfg.task.name == "adding"
        lag = lag_gradient_norms(net, probe, shape)
        if not first_lag:
            first_lag.append(lag)
        return dict(
            epoch=epoch,
            lr=lr,
            train_loss=tr_loss,
            val_loss=va_loss,
            train_accuracy=tr_acc if classes else np.nan,
            val_accuracy=va_acc if classes else np.nan,
            grad_norm=gnorm,
            spectral_radius=spectral_radius(net["W_hh"]),
            lag_grad_norm=lag,
        )

    with L.trajectories(record, epoch_specs(cfg.task.length)) as (traj,):
        last = L.run_epochs(
            trainer,
            L.epoch_schedule(cfg.schedule.model_dump(), cfg.optimizer.resolved()["lr"]),
            cfg.training.epochs,
            row,
            traj,
        )
    lag = last.pop("lag_grad_norm")
    metrics = L.final_metrics(last)
    metrics.pop("epoch", None)
    metrics.update(
        spectral_radius_init=spectral_radius(w_hh0),
        spectral_radius_final=metrics.pop("spectral_radius"),
        baseline_loss=baseline_loss(cfg.task),
        loss_ratio=metrics["val_loss"] / baseline_loss(cfg.task),
        lag_grad_ratio=_ratio(lag),
        lag_grad_ratio_init=_ratio(first_lag[0]),
        steps=int(trainer.t),
        length=int(cfg.task.length),
    )
    return metrics, net, w_hh0


def _ratio(lag: np.ndarray) -> float | None:
    """``||dL/dh||`` at the largest lag over lag 0 (None when lag 0's is 0)."""
    return float(lag[-1] / lag[0]) if lag[0] > 0 else None


def run(spec, record) -> dict:
    """Run one recurrent-network run (a :class:`dynet.scenario.RunSpec`) into ``record``; return its metrics."""
    cfg = spec.settings
    metrics, net, w_hh0 = train(cfg, spec.seed_sequence(), record)
    dims = {
        "W_xh": ("input", "hidden"),
        "W_hh": ("hidden", "hidden_to"),
        "b_h": ("hidden",),
        "W_hy": ("hidden", "output"),
        "b_y": ("output",),
    }
    for name in PARAM_NAMES:
        record.static(name, net[name].copy(), dims[name])
    record.static("W_hh_init", w_hh0, dims["W_hh"])
    return metrics


def preflight(config: dict, base_dir: str, store: str | None = None) -> list[str]:
    """Nothing to check beyond the schema: the sequences are generated."""
    return []


def cost(config: dict) -> float:
    """Rough work of a run in multiply-adds: forward and backward through every training sequence
    per epoch, plus the evaluations."""
    cfg = run_settings("rnn", config)
    shape = task_shape(cfg.task)
    h, t = cfg.network.hidden, cfg.task.length
    per_seq = t * h * (h + shape.inputs + shape.outputs)
    n = cfg.task.n_train + cfg.task.n_validation
    return float(cfg.training.epochs * (4 * cfg.task.n_train + n) * per_seq)


def warmup() -> None:
    """Compile (or load from cache) both kernels on tiny inputs."""
    cfg = RnnScenario.model_validate(
        {
            "name": "warmup",
            "model": "rnn",
            "seed": 0,
            "task": {"name": "adding", "length": 4, "n_train": 4, "n_validation": 2},
            "network": {"hidden": 3},
            "training": {"epochs": 1, "batch_size": 2, "truncation": 2, "clip_norm": 1.0},
        }
    )
    train(cfg, np.random.SeedSequence(0))
