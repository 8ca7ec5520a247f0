"""Bernoulli-Bernoulli restricted Boltzmann machines: data, training, evaluation, sampling.

``E(v, h) = -b.v - c.h - v^T W h`` over binary visible ``v`` and hidden ``h`` units,
``W`` of shape (visible, hidden); ``F(v) = -b.v - sum_j softplus(c_j + v W_j)`` and
``p(v) = exp(-F(v)) / Z``.

A run loads binary data (bundled digits thresholded, bars-and-stripes, or a user file),
splits off a validation set, and trains by CD-k or persistent CD (PCD-k, one chain per
batch row as in scikit-learn's ``BernoulliRBM``) with one compiled call per epoch
(:func:`dynet.kernels.rbm.train_epoch`). After the initialization and every
``record.every`` epochs (and the last) it records along ``epoch``:

* ``train_recon_error`` / ``val_recon_error``: mean over rows and visible units of
  ``(v_i - p(v_i | h))**2`` with ``h`` *sampled* from ``p(h | v)`` (one stochastic
  up-pass, a mean-field down-pass: the quantity most RBM code prints);
* ``train_pseudo_likelihood`` / ``val_pseudo_likelihood``: scikit-learn's
  ``score_samples`` estimator, ``nv * log sigmoid(F(v~) - F(v))`` with ``v~`` = ``v`` with
  one unit flipped, averaged over the rows. As scikit-learn with a fixed
  ``random_state``, the flipped unit of each row is drawn once per run, so the curve
  moves with the model, not with the draw;
* ``train_free_energy`` / ``val_free_energy`` (means) and ``free_energy_gap`` =
  mean F(validation) - mean F(training subset): the overfitting monitor of Hinton's
  guide, rising when the model prefers the training data;
* ``hidden_mean``: mean ``p(h_j = 1 | v)`` over the training subset and units (what a
  sparsity target steers);
* ``log_z``, ``train_log_likelihood``, ``val_log_likelihood``: exact, by enumerating
  the smaller layer (``2**min(nv, nh)`` terms), when ``min(nv, nh) <= record.exact_max``;
  NaN otherwise (AIS estimates are not implemented);
* ``lr``, ``weight_norm`` (Frobenius norm of W).

The training-side statistics use a fixed random subset of the training rows of the
validation set's size (the whole training set when there is no validation set); the
exact log-likelihood uses every training row.

After training, ``sampling.chains`` Gibbs chains start from uniformly random visible
vectors and run ``sampling.steps`` steps; every ``sampling.every``-th step each chain's
visible sample is stored (``samples``, int8, ``sample x visible``; row ``s`` is chain
``sample_chain[s]`` at step ``sample_step[s]``) with the probabilities it was drawn
from (``sample_mean``, float32). ``weights`` (visible x hidden), ``visible_bias``,
``hidden_bias``, ``initial_weights`` and ``image_shape`` (for plotting filters and
samples) are stored whole.

Precision: float64 throughout. The parameters are small (64 x 256 for digits), the
kernels are bound by the sigmoid and row sums more than by memory, and float64 keeps
the exact log-partition sums (up to 2**20 terms in Gray-code order), free-energy gaps
(differences of numbers near 100) and the comparison with scikit-learn (float64) tight.

Random streams (children of the run's SeedSequence): 0 data (unused by the current
sources), 1 the validation split, 2 the initial weights, 3 the training kernel's
xoshiro256** state (permutations, Gibbs draws), 4 the evaluation (training subset,
flipped units; its child 0 seeds the reconstruction draws), 5 the sampling chains.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from .. import data as _data
from ..kernels import rbm as K
from ..kernels.rng import seed_state
from ..store import TrajectorySpec, chunk_rows
from ..train import schedules as S

#: Metrics shown (averaged over replicates) in run summaries.
SUMMARY = ("train_recon_error", "val_pseudo_likelihood", "free_energy_gap", "train_log_likelihood")


class TrainingDiverged(RuntimeError):
    """The parameters became NaN or infinite."""


# --------------------------------------------------------------------------- data

def bars_and_stripes(size: int = 4) -> np.ndarray:
    """Every distinct ``size x size`` bars-and-stripes image (MacKay 2003), uint8 (n, size**2).

    Bars: any subset of the columns on; stripes: any subset of the rows on. The empty
    and the full image are both, so there are ``2**(size + 1) - 2`` patterns (30 for 4 x 4).
    """
    subsets = ((np.arange(2**size)[:, None] >> np.arange(size)) & 1).astype(np.uint8)
    bars = np.repeat(subsets[:, None, :], size, axis=1)  # column pattern repeated on every row
    stripes = np.repeat(subsets[:, :, None], size, axis=2)  # row pattern repeated on every column
    images = np.concatenate([bars, stripes]).reshape(-1, size * size)
    _, first = np.unique(images, axis=0, return_index=True)
    return np.ascontiguousarray(images[np.sort(first)])


def load_data(data: dict, base_dir: str = ".") -> tuple[np.ndarray, tuple[int, ...] | None]:
    """(binary data uint8 (n, nv), image shape or None) for a scenario's ``data`` table."""
    src = data["source"]
    if src == "digits":
        images, _ = _data.load_digits()
        return (images / 16.0 > data["threshold"]).astype(np.uint8), (8, 8)
    if src == "bars-stripes":
        return bars_and_stripes(data["size"]), (data["size"], data["size"])
    path = data["path"] if os.path.isabs(data["path"]) else os.path.join(base_dir, data["path"])
    x = _data.load_array(path, data["key"])
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise _data.DataError(f"{path}: needs a 2-D array (samples x visible units), got shape {x.shape}")
    if x.dtype == bool:
        return x.astype(np.uint8), None
    x = np.asarray(x, np.float64)
    if not np.isfinite(x).all():
        raise _data.DataError(f"{path}: data contain NaN or infinite values")
    if data["threshold"] is not None:
        return (x > data["threshold"]).astype(np.uint8), None
    if not np.isin(x, (0.0, 1.0)).all():
        raise _data.DataError(f"{path}: values must be 0 or 1 (or set data.threshold to binarize them)")
    return x.astype(np.uint8), None


def to_csr(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Active-unit lists of binary rows: (idx int64, ptr int64 (n + 1,))."""
    x = np.asarray(x)
    _, cols = np.nonzero(x)
    ptr = np.zeros(len(x) + 1, np.int64)
    np.cumsum(np.count_nonzero(x, axis=1), out=ptr[1:])
    return cols.astype(np.int64), ptr


# --------------------------------------------------------------------------- numpy reference formulas

def energy(v: np.ndarray, h: np.ndarray, W: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``E(v, h) = -b.v - c.h - v^T W h`` (rows of ``v`` and ``h`` paired)."""
    v = np.atleast_2d(v).astype(np.float64)
    h = np.atleast_2d(h).astype(np.float64)
    return -(v @ b) - (h @ c) - np.einsum("ri,ij,rj->r", v, W, h)


def free_energy(v: np.ndarray, W: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``F(v) = -b.v - sum_j softplus(c_j + v W_j)`` per row."""
    v = np.atleast_2d(v).astype(np.float64)
    return -(v @ b) - np.logaddexp(0.0, v @ W + c).sum(axis=1)


def log_partition(W: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    """Exact ``log Z``, enumerating the smaller layer (``2**min(nv, nh)`` terms)."""
    W = np.asarray(W, np.float64)
    if W.shape[1] <= W.shape[0]:
        return K.log_partition(np.ascontiguousarray(W.T), np.asarray(c, np.float64), np.asarray(b, np.float64))
    return K.log_partition(np.ascontiguousarray(W), np.asarray(b, np.float64), np.asarray(c, np.float64))


# --------------------------------------------------------------------------- training state

@dataclass
class Trainer:
    """Parameters, momentum, persistent chains and work arrays of one training run.

    ``epoch(lrs)`` runs one epoch in one compiled call; ``lrs`` holds the learning
    rate of each of its ``steps`` mini-batch steps. ``W, b, c`` are copied on
    construction and updated in place; ``rng_state`` is advanced in place.
    """

    data: np.ndarray  # uint8 (n, nv) training rows
    W: np.ndarray
    b: np.ndarray
    c: np.ndarray
    method: str = "cd"
    k: int = 1
    batch_size: int = 10
    momentum: float = 0.0
    weight_decay: float = 0.0
    sparsity_target: float = 0.1
    sparsity_cost: float = 0.0
    shuffle: bool = True
    rng_state: np.ndarray = field(default_factory=lambda: np.array([1, 2, 3, 4], np.uint64))

    def __post_init__(self):
        # copies: training updates them in place
        self.W = np.array(self.W, np.float64, order="C")
        self.b = np.array(self.b, np.float64)
        self.c = np.array(self.c, np.float64)
        nv, nh = self.W.shape
        self.n = len(self.data)
        self.batch_size = min(self.batch_size, self.n)
        self.steps = (self.n + self.batch_size - 1) // self.batch_size
        self.idx, self.ptr = to_csr(self.data)
        self.WT = np.ascontiguousarray(self.W.T)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self.dc = np.zeros_like(self.c)
        self.G = np.zeros_like(self.W)
        self.gb = np.zeros_like(self.b)
        self.gc = np.zeros_like(self.c)
        self.order = np.empty(self.n, np.int64)
        chains = self.batch_size if self.method == "pcd" else 0
        # persistent chains start with every hidden unit off, as scikit-learn's h_samples_
        self.chain_act = np.zeros((chains, nh), np.int64)
        self.chain_n = np.zeros(chains, np.int64)
        self.a_h = np.empty(nh)
        self.p_h = np.empty(nh)
        self.a_v = np.empty(nv)
        self.p_v = np.empty(nv)
        self.h_act = np.empty(nh, np.int64)
        self.v_act = np.empty((max(1, chains), nv), np.int64)
        self.v_n = np.zeros(max(1, chains), np.int64)
        self.epochs = 0

    def epoch(self, lrs: np.ndarray) -> None:
        lrs = np.ascontiguousarray(lrs, np.float64)
        if len(lrs) != self.steps:
            raise ValueError(f"need {self.steps} learning rates, got {len(lrs)}")
        K.train_epoch(self.W, self.WT, self.b, self.c, self.dW, self.db, self.dc, self.G, self.gb, self.gc,
                      self.idx, self.ptr, self.order, bool(self.shuffle), int(self.batch_size),
                      K.METHODS[self.method], int(self.k), self.chain_act, self.chain_n, lrs, float(self.momentum),
                      float(self.weight_decay), float(self.sparsity_target), float(self.sparsity_cost),
                      self.rng_state, self.a_h, self.p_h, self.a_v, self.p_v, self.h_act, self.v_act, self.v_n)
        self.epochs += 1

    def chain_hidden(self) -> np.ndarray:
        """The persistent chains' hidden states, uint8 (chains, nh)."""
        out = np.zeros(self.chain_act.shape, np.uint8)
        for r, (act, n) in enumerate(zip(self.chain_act, self.chain_n)):
            out[r, act[:n]] = 1
        return out


# --------------------------------------------------------------------------- evaluation

class Evaluator:
    """The per-epoch statistics of one set of rows (see the module docstring)."""

    def __init__(self, x: np.ndarray, bits: np.ndarray, rng_state: np.ndarray):
        self.x = np.ascontiguousarray(x, np.uint8)
        self.n = len(x)
        self.idx, self.ptr = to_csr(self.x)
        self.bits = np.ascontiguousarray(bits, np.int64)
        self.rng_state = rng_state
        self.out = np.empty(self.n)
        self.out2 = np.empty(self.n)

    def __call__(self, W, WT, b, c, log_z: float | None = None) -> dict:
        if self.n == 0:
            nan = math.nan
            return dict(recon_error=nan, pseudo_likelihood=nan, free_energy=nan, hidden_mean=nan,
                        log_likelihood=nan)
        nv, nh = W.shape
        a_h, p_h, a_v, p_v = np.empty(nh), np.empty(nh), np.empty(nv), np.empty(nv)
        h_act = np.empty(nh, np.int64)
        K.reconstruct(W, WT, b, c, self.idx, self.ptr, self.x, self.rng_state, a_h, p_h, a_v, p_v, h_act,
                      self.out, self.out2)
        res = dict(recon_error=float(self.out.sum() / (self.n * nv)),
                   hidden_mean=float(self.out2.sum() / (self.n * nh)))
        K.pseudo_likelihood(W, b, c, self.idx, self.ptr, self.x, self.bits, a_h, self.out)
        res["pseudo_likelihood"] = float(self.out.mean())
        K.free_energies(W, b, c, self.idx, self.ptr, a_h, self.out)
        res["free_energy"] = float(self.out.mean())
        res["log_likelihood"] = float(-self.out.mean() - log_z) if log_z is not None else math.nan
        return res


def empirical_log_likelihood(x: np.ndarray) -> float:
    """Mean log-probability of the rows under their own empirical distribution: the
    largest mean log-likelihood any model can reach on them."""
    _, counts = np.unique(x, axis=0, return_counts=True)
    p = counts / counts.sum()
    return float(np.sum(counts * np.log(p)) / counts.sum())


# --------------------------------------------------------------------------- schedule

def _schedule_spec(config: dict) -> dict:
    sched = dict(config["schedule"])
    sched.pop("per", None)
    spec = S.SCHEDULES[sched["name"]]
    if "lr" in [p.name for p in spec.params] and "lr" not in sched:
        sched["lr"] = config["training"]["lr"]
    return sched


def epoch_rates(config: dict, epoch: int, steps: int) -> np.ndarray:
    """Learning rates of the ``steps`` steps of epoch ``epoch`` (0-based)."""
    spec = _schedule_spec(config)
    if config["schedule"]["per"] == "step":
        return S.lr_array(spec, steps, start=epoch * steps)
    return np.full(steps, S.lr_array(spec, 1, start=epoch)[0])


# --------------------------------------------------------------------------- the run

def init_params(config: dict, x_train: np.ndarray, n_visible: int, rng: np.random.Generator):
    net = config["network"]
    nh = net["n_hidden"]
    W = rng.normal(0.0, net["init_std"], (n_visible, nh))
    if net["visible_bias"] == "data" and len(x_train):
        p = np.clip(x_train.mean(axis=0), 1e-3, 1.0 - 1e-3)
        b = np.log(p / (1.0 - p))  # Hinton's guide: log(p_i / (1 - p_i))
    else:
        b = np.zeros(n_visible)
    c = np.full(nh, float(net["hidden_bias"]))
    return W, b, c


def _split(config: dict, n: int, ss: np.random.SeedSequence) -> tuple[np.ndarray, np.ndarray]:
    tr, va, _ = _data.split(n, (1.0 - config["data"]["validation"], config["data"]["validation"], 0.0),
                            np.random.default_rng(ss))
    return np.sort(tr), np.sort(va)


def epoch_specs() -> dict:
    cols = ["lr", "weight_norm", "hidden_mean", "train_recon_error", "val_recon_error", "train_pseudo_likelihood",
            "val_pseudo_likelihood", "train_free_energy", "val_free_energy", "free_energy_gap", "log_z",
            "train_log_likelihood", "val_log_likelihood"]
    return {"epoch": TrajectorySpec(("epoch",), "int64"), **{c: TrajectorySpec(("epoch",), "float64") for c in cols}}


def run(spec, record) -> dict:
    """Train one RBM run (a :class:`dynet.scenario.RunSpec`) into ``record``; return its metrics."""
    cfg = spec.config
    tr_cfg, rec_cfg, smp = cfg["training"], cfg["record"], cfg["sampling"]
    _, split_ss, init_ss, train_ss, eval_ss, sample_ss = spec.seed_sequence().spawn(6)
    x, image_shape = load_data(cfg["data"], spec.base_dir)
    n, nv = x.shape
    nh = cfg["network"]["n_hidden"]
    tr, va = _split(cfg, n, split_ss)
    x_tr, x_va = x[tr], x[va]
    W, b, c = init_params(cfg, x_tr, nv, np.random.default_rng(init_ss))
    record.static("initial_weights", W, ("visible", "hidden"))
    sparsity = cfg["sparsity"]
    trainer = Trainer(x_tr, W, b, c, method=tr_cfg["method"], k=tr_cfg["k"], batch_size=tr_cfg["batch_size"],
                      momentum=tr_cfg["momentum"], weight_decay=tr_cfg["weight_decay"],
                      sparsity_target=sparsity["target"] if sparsity else 0.1,
                      sparsity_cost=sparsity["cost"] if sparsity else 0.0, shuffle=tr_cfg["shuffle"],
                      rng_state=seed_state(train_ss))

    # evaluation sets: the validation rows and a fixed training subset of the same size
    ev_ss = eval_ss.spawn(1)[0]
    ev_rng = np.random.default_rng(eval_ss)
    n_sub = len(va) if len(va) else len(tr)
    sub = np.sort(ev_rng.choice(len(tr), n_sub, replace=False))
    recon_state = seed_state(ev_ss)
    ev_train = Evaluator(x_tr[sub], ev_rng.integers(0, nv, n_sub), recon_state)
    ev_val = Evaluator(x_va, ev_rng.integers(0, nv, len(va)), recon_state)
    exact = min(nv, nh) <= rec_cfg["exact_max"]
    ll_train = Evaluator(x_tr, np.zeros(len(tr), np.int64), recon_state) if exact else None

    traj = record.trajectory(epoch_specs())
    snap_every = rec_cfg["snapshot_every"]
    snaps = record.trajectory({"snapshot_epoch": TrajectorySpec(("snapshot",), "int64"),
                               "snapshot_weights": TrajectorySpec(("snapshot", "visible", "hidden"), "float64",
                                                                  (nv, nh))}) if snap_every else None
    epochs = tr_cfg["epochs"]
    last = {}

    def row(epoch: int, lr: float) -> None:
        log_z = log_partition(trainer.W, trainer.b, trainer.c) if exact else None
        et = ev_train(trainer.W, trainer.WT, trainer.b, trainer.c, log_z)
        ev = ev_val(trainer.W, trainer.WT, trainer.b, trainer.c, log_z)
        train_ll = math.nan
        if exact:
            K.free_energies(trainer.W, trainer.b, trainer.c, ll_train.idx, ll_train.ptr, trainer.a_h, ll_train.out)
            train_ll = float(-ll_train.out.mean() - log_z)
        vals = dict(epoch=epoch, lr=lr, weight_norm=float(np.sqrt(np.sum(trainer.W**2))),
                    hidden_mean=et["hidden_mean"], train_recon_error=et["recon_error"],
                    val_recon_error=ev["recon_error"], train_pseudo_likelihood=et["pseudo_likelihood"],
                    val_pseudo_likelihood=ev["pseudo_likelihood"], train_free_energy=et["free_energy"],
                    val_free_energy=ev["free_energy"], free_energy_gap=ev["free_energy"] - et["free_energy"],
                    log_z=log_z if exact else math.nan, train_log_likelihood=train_ll,
                    val_log_likelihood=ev["log_likelihood"])
        traj.append(**{k: np.array([v]) for k, v in vals.items()})
        last.update(vals)

    try:
        row(0, float(epoch_rates(cfg, 0, trainer.steps)[0]))
        if snaps is not None:
            snaps.append(snapshot_epoch=np.array([0]), snapshot_weights=trainer.W[None])
        for epoch in range(1, epochs + 1):
            lrs = epoch_rates(cfg, epoch - 1, trainer.steps)
            trainer.epoch(lrs)
            if not (np.isfinite(trainer.W).all() and np.isfinite(trainer.b).all() and np.isfinite(trainer.c).all()):
                raise TrainingDiverged(f"training diverged: the parameters became non-finite at epoch {epoch} "
                                       "(lower training.lr)")
            if epoch % rec_cfg["every"] == 0 or epoch == epochs:
                row(epoch, float(lrs[0]))
            if snaps is not None and epoch % snap_every == 0:
                snaps.append(snapshot_epoch=np.array([epoch]), snapshot_weights=trainer.W[None])
    finally:
        traj.close()
        if snaps is not None:
            snaps.close()

    record.static("weights", trainer.W, ("visible", "hidden"))
    record.static("visible_bias", trainer.b, ("visible",))
    record.static("hidden_bias", trainer.c, ("hidden",))
    record.static("validation_index", va.astype(np.int64), ("validation_row",))
    if image_shape is not None:
        record.static("image_shape", np.array(image_shape, np.int64), ("image_axis",))

    metrics = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in last.items()}
    metrics.pop("lr", None)
    metrics.update(n_train=int(len(tr)), n_validation=int(len(va)), n_visible=int(nv), n_hidden=int(nh),
                   steps_per_epoch=int(trainer.steps), exact_log_likelihood=bool(exact))
    if exact:
        metrics["max_train_log_likelihood"] = empirical_log_likelihood(x_tr)
    if smp["chains"]:
        metrics.update(sample(trainer, smp, record, sample_ss))
    return metrics


def sample(trainer: Trainer, smp: dict, record, ss: np.random.SeedSequence) -> dict:
    """Run the Gibbs chains of ``[sampling]`` from random visibles into the ``sample`` trajectory."""
    W, WT, b, c = trainer.W, trainer.WT, trainer.b, trainer.c
    nv, nh = W.shape
    chains, steps, every = smp["chains"], smp["steps"], smp["every"]
    init_ss, chain_ss = ss.spawn(2)
    v = (np.random.default_rng(init_ss).random((chains, nv)) < 0.5).astype(np.uint8)
    state = seed_state(chain_ss)
    traj = record.trajectory({"sample_step": TrajectorySpec(("sample",), "int64"),
                              "sample_chain": TrajectorySpec(("sample",), "int64"),
                              "samples": TrajectorySpec(("sample", "visible"), "int8", (nv,)),
                              "sample_mean": TrajectorySpec(("sample", "visible"), "float32", (nv,))})
    # blocks of whole records, about a chunk of samples each
    per_block = max(1, chunk_rows(nv * 4) // chains)
    out_v = np.empty((per_block, chains, nv), np.int8)
    out_p = np.empty((per_block, chains, nv), np.float32)
    work = (np.empty(nh), np.empty(nh), np.empty(nv), np.empty(nv), np.empty(nh, np.int64), np.empty(nv, np.int64))
    done = 0
    total = (steps // every) * every
    mean_on = 0.0
    n_rec = 0
    while done < total:
        n_steps = min(per_block * every, total - done)
        got = K.gibbs_chains(W, WT, b, c, v, n_steps, every, out_v, out_p, 0, state, *work)
        step_at = done + every * np.arange(1, got + 1)
        traj.append(sample_step=np.repeat(step_at, chains), sample_chain=np.tile(np.arange(chains), got),
                    samples=out_v[:got].reshape(-1, nv), sample_mean=out_p[:got].reshape(-1, nv))
        mean_on += float(out_v[:got].sum())
        n_rec += got
        done += n_steps
    traj.close()
    return {"samples_stored": int(n_rec * chains),
            "sample_activity": mean_on / max(1, n_rec * chains * nv)}


def preflight(config: dict, base_dir: str) -> list[str]:
    """Problems that need the data: missing or non-binary files, too few rows for the batch."""
    try:
        x, _ = load_data(config["data"], base_dir)
    except _data.DataError as exc:
        return [f"data.path: {exc}"]
    n = len(x)
    n_val = int(config["data"]["validation"] * n)
    n_train = n - n_val
    if config["data"]["validation"] > 0 and n_val == 0:
        return [f"data.validation: {config['data']['validation']} of {n} samples leaves no validation sample"]
    if n_train < 1:
        return [f"data: no training samples left after the validation split ({n} samples)"]
    b = config["training"]["batch_size"]
    if b > n_train:
        return [f"training.batch_size: {b} is larger than the {n_train} training samples"]
    return []


def cost(config: dict) -> float:
    """Rough work of a run (multiply-adds), for batching small runs into one task."""
    d = config["data"]
    if d["source"] == "digits":
        n, nv = 1797, 64
    elif d["source"] == "bars-stripes":
        n, nv = 2 ** (d["size"] + 1) - 2, d["size"] ** 2
    else:
        n, nv = 1000, 100
    nh = config["network"]["n_hidden"]
    tr = config["training"]
    work = tr["epochs"] * n * (tr["k"] + 1) * nv * nh
    if min(nv, nh) <= config["record"]["exact_max"]:
        work += (tr["epochs"] // config["record"]["every"] + 1) * 2.0 ** min(nv, nh) * max(nv, nh) * 20
    smp = config["sampling"]
    return float(work + smp["chains"] * smp["steps"] * nv * nh)


def warmup() -> None:
    """Compile (or load from cache) the kernels on a tiny problem."""
    x = bars_and_stripes(2)
    for method in ("cd", "pcd"):
        t = Trainer(x, np.full((4, 3), 0.01), np.zeros(4), np.zeros(3), method=method, k=1, batch_size=2)
        t.epoch(np.full(t.steps, 0.01))
    ev = Evaluator(x, np.zeros(len(x), np.int64), np.array([1, 2, 3, 4], np.uint64))
    ev(t.W, t.WT, t.b, t.c, log_partition(t.W, t.b, t.c))
    log_partition(np.zeros((3, 4)), np.zeros(3), np.zeros(4))
    v = np.zeros((1, 4), np.uint8)
    K.gibbs_chains(t.W, t.WT, t.b, t.c, v, 1, 1, np.empty((1, 1, 4), np.int8), np.empty((1, 1, 4), np.float32), 0,
                   np.array([1, 2, 3, 4], np.uint64), np.empty(3), np.empty(3), np.empty(4), np.empty(4),
                   np.empty(3, np.int64), np.empty(4, np.int64))
