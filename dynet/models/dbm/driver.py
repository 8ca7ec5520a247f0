"""Two-layer deep Boltzmann machines (Salakhutdinov & Hinton 2009): training, evaluation, sampling.

``E(v, h1, h2) = -v.W1.h1 - h1.W2.h2 - b.v - c1.h1 - c2.h2`` over binary visible ``v``
(nv), first hidden ``h1`` (n1) and second hidden ``h2`` (n2) units, ``W1`` (nv, n1),
``W2`` (n1, n2); ``p(v) = sum_{h1, h2} exp(-E) / Z``.

A run loads binary data exactly as the RBM does (:func:`dynet.models.rbm.driver.load_data`:
bundled digits thresholded, bars-and-stripes, a user file), splits off a validation
set and trains with one compiled call per epoch (:func:`dynet.models.dbm.kernels.train_epoch`):
per mini-batch, the positive phase is the mean-field fixed point ``q1, q2`` of each
row (``[mean_field]`` iterations, tolerance, damping), the negative phase
``training.chains`` persistent chains advanced ``training.k`` block Gibbs steps
(``h1 | v, h2``; then ``v, h2 | h1``); gradient = data statistics - chain statistics,
with momentum, weight decay on ``W1, W2`` and the shared learning-rate schedules.

With ``pretraining.epochs > 0`` the weights first come from greedy layer-wise
pretraining (the paper's section 3.1, :func:`pretrain`): CD-k on the bottom RBM
``(v, h1)`` with its visible layer doubled and weights tied (``p(h1 | v) = sigmoid(c1 +
2 v W1)``, ``p(v | h1) = sigmoid(b + W1 h1)``), then on the top RBM ``(h1, h2)`` with its
hidden layer doubled (``p(h2 | h1) = sigmoid(c2 + h1 W2)``, ``p(h1 | h2) = sigmoid(c1' + 2
W2 h2)``) trained on the bottom RBM's ``p(h1 | v)`` of the training rows. Composed,
``h1`` gets each input once: ``W1, W2, b, c2`` are kept and ``c1 = (c1 + c1') / 2`` (half
the sum of the two doubled inputs). The per-epoch reconstruction errors of the two
RBMs are stored as ``pretrain_error1`` / ``pretrain_error2`` (``pretrain_epoch``).

After the initialization and every ``record.every`` epochs (and the last) it records
along ``epoch``, over every training row and every validation row:

* ``train_recon_error`` / ``val_recon_error``: mean over rows and visible units of
  ``(v_i - sigmoid(b + W1 q1)_i)**2`` with ``q1`` from mean field given ``v`` (mean-field
  up, mean-field down: deterministic);
* ``h1_mean``, ``h2_mean``: mean ``q1``, ``q2`` over training rows and units;
  ``mf_iterations``: mean number of mean-field iterations the training rows needed;
* ``log_z`` and, for both sets, ``*_log_likelihood`` (mean exact ``log p(v)``) and
  ``*_lower_bound`` (mean variational bound ``sum_h q(h) (-E(v, h)) + H(q) - log Z``,
  never above the log-likelihood), when ``min(n1, nv + n2) <= record.exact_max``:
  ``log Z`` sums ``h1`` exactly with ``v`` and ``h2`` summed analytically (``2**n1``
  terms), or ``(v, h2)`` with ``h1`` summed analytically (``2**(nv + n2)``), whichever is
  fewer; ``log p(v) + log Z`` sums the smaller hidden layer (``2**min(n1, n2)`` terms per
  row). NaN otherwise (no AIS estimate for DBMs);
* ``lr``, ``w1_norm``, ``w2_norm`` (Frobenius norms).

After training, ``sampling.chains`` block Gibbs chains start from uniformly random
``(v, h1, h2)`` and run ``sampling.steps`` steps; every ``sampling.every``-th step each
chain's visible state is stored (``samples``, int8, ``sample x visible``; row ``s`` is
chain ``sample_chain[s]`` at step ``sample_step[s]``) with ``p(v | h1)`` it was drawn
from (``sample_mean``, float32). ``weights1`` (visible x hidden1), ``weights2`` (hidden1 x
hidden2), ``visible_bias``, ``hidden1_bias``, ``hidden2_bias``, ``initial_weights1`` and
``initial_weights2`` (the random start, before any pretraining), ``validation_index`` and
``image_shape`` are stored whole.

Precision: float64 throughout, as the RBM (exact sums of up to 2**24 terms, bounds
compared with log-likelihoods).

Random streams (children of the run's SeedSequence): 0 data (unused by the current
sources), 1 the validation split, 2 the initial weights, 3 the training kernel's
xoshiro256** state (permutations, the chains' Gibbs draws), 4 the persistent chains'
initial states (uniform bits), 5 the sampling chains (its child 0: initial states,
child 1: the sampling kernel's state), 6 the pretraining kernel's state (both RBMs, in
turn). Evaluation is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dynet import data as data_sources
from dynet.errors import TrainingDiverged
from dynet.kernels import maths
from dynet.kernels.rng import seed_state
from dynet.models.rbm import driver as R
from dynet.models.rbm.config import RBMSampling
from dynet.scenario import run_settings
from dynet.store import TrajectorySpec, chunk_rows
from dynet.train import loop as L

from . import kernels as K
from .config import DBMMeanField, DBMNetwork, DBMScenario

# --------------------------------------------------------------------------- numpy reference formulas


def energy(v, h1, h2, W1, W2, b, c1, c2) -> np.ndarray:
    """``E(v, h1, h2) = -v.W1.h1 - h1.W2.h2 - b.v - c1.h1 - c2.h2`` (rows paired)."""
    v, h1, h2 = (np.atleast_2d(a).astype(np.float64) for a in (v, h1, h2))
    return -np.einsum("ri,ij,rj->r", v, W1, h1) - np.einsum("rj,jk,rk->r", h1, W2, h2) - v @ b - h1 @ c1 - h2 @ c2


def log_partition(W1, W2, b, c1, c2) -> float:
    """Exact ``log Z``: ``h1`` against ``(v, h2)`` is an RBM with weights ``[W1^T | W2]``;
    enumerate its smaller side (``2**min(n1, nv + n2)`` terms)."""
    M = np.ascontiguousarray(np.concatenate([np.asarray(W1, np.float64).T, np.asarray(W2, np.float64)], axis=1))
    outer = np.concatenate([np.asarray(b, np.float64), np.asarray(c2, np.float64)])
    c1 = np.asarray(c1, np.float64)
    if M.shape[0] <= M.shape[1]:
        return maths.log_partition(M, c1, outer)
    return maths.log_partition(np.ascontiguousarray(M.T), outer, c1)


def exact_terms(nv: int, n1: int, n2: int) -> int:
    """The exponent of the exact log Z sum: ``min(n1, nv + n2)``."""
    return min(n1, nv + n2)


# --------------------------------------------------------------------------- training state


@dataclass
class Trainer:
    """Parameters, momentum, persistent chains and gradient buffers of one training run.

    ``epoch(lrs)`` runs one epoch in one compiled call (``lrs``: the rate of each of its
    ``steps`` updates) and returns the mean number of mean-field iterations per row.
    Parameters and the chain states (uint8 ``chain_v, chain_h1, chain_h2``) are copied on
    construction and updated in place; ``rng_state`` is advanced in place.
    """

    data: np.ndarray  # uint8 (n, nv) training rows
    W1: np.ndarray
    W2: np.ndarray
    b: np.ndarray
    c1: np.ndarray
    c2: np.ndarray
    chain_v: np.ndarray
    chain_h1: np.ndarray
    chain_h2: np.ndarray
    k: int = 1
    batch_size: int = 10
    momentum: float = 0.0
    weight_decay: float = 0.0
    mf_iterations: int = 30
    mf_tolerance: float = 1e-6
    mf_damping: float = 0.0
    shuffle: bool = True
    rng_state: np.ndarray = field(default_factory=lambda: np.array([1, 2, 3, 4], np.uint64))

    def __post_init__(self):
        for name in ("W1", "W2", "b", "c1", "c2"):
            setattr(self, name, np.array(getattr(self, name), np.float64, order="C"))
        for name in ("chain_v", "chain_h1", "chain_h2"):
            setattr(self, name, np.array(getattr(self, name), np.uint8, order="C"))
        self.n = len(self.data)
        self.batch_size = min(self.batch_size, self.n)
        self.steps = (self.n + self.batch_size - 1) // self.batch_size
        self.idx, self.ptr = R.to_csr(self.data)
        self.W1T = np.ascontiguousarray(self.W1.T)
        self.W2T = np.ascontiguousarray(self.W2.T)
        self.moments = [np.zeros_like(p) for p in self.params()]
        self.grads = [np.zeros_like(p) for p in self.params()]
        self.order = np.empty(self.n, np.int64)
        self.epochs = 0

    def params(self) -> tuple[np.ndarray, ...]:
        """``(W1, W2, b, c1, c2)``."""
        return self.W1, self.W2, self.b, self.c1, self.c2

    def epoch(self, lrs: np.ndarray) -> float:
        lrs = np.ascontiguousarray(lrs, np.float64)
        if len(lrs) != self.steps:
            raise ValueError(f"need {self.steps} learning rates, got {len(lrs)}")
        dW1, dW2, db, dc1, dc2 = self.moments
        G1, G2, gb, gc1, gc2 = self.grads
        total = K.train_epoch(
            self.W1,
            self.W1T,
            self.W2,
            self.W2T,
            self.b,
            self.c1,
            self.c2,
            dW1,
            dW2,
            db,
            dc1,
            dc2,
            G1,
            G2,
            gb,
            gc1,
            gc2,
            self.idx,
            self.ptr,
            self.order,
            bool(self.shuffle),
            int(self.batch_size),
            int(self.mf_iterations),
            float(self.mf_tolerance),
            float(self.mf_damping),
            int(self.k),
            self.chain_v,
            self.chain_h1,
            self.chain_h2,
            lrs,
            float(self.momentum),
            float(self.weight_decay),
            self.rng_state,
        )
        self.epochs += 1
        return total / self.n


# --------------------------------------------------------------------------- evaluation


class Evaluator:
    """Mean field, reconstruction error, bounds and exact log-likelihoods of one set of rows."""

    def __init__(self, x: np.ndarray, n1: int, n2: int, mean_field: DBMMeanField):
        self.x = np.ascontiguousarray(x, np.uint8)
        self.n = len(x)
        self.idx, self.ptr = R.to_csr(self.x)
        self.mf = (int(mean_field.iterations), float(mean_field.tolerance), float(mean_field.damping))
        self.q1 = np.empty((self.n, n1))
        self.q2 = np.empty((self.n, n2))
        self.bound = np.empty(self.n)
        self.sq_err = np.empty(self.n)
        self.n_iter = np.empty(self.n, np.int64)
        self.log_marginal = np.empty(self.n)

    def __call__(self, t: Trainer, log_z: float | None = None) -> dict:
        nan = math.nan
        if self.n == 0:
            return dict(
                recon_error=nan, h1_mean=nan, h2_mean=nan, mf_iterations=nan, lower_bound=nan, log_likelihood=nan
            )
        K.mean_field_rows(
            t.W1,
            t.W1T,
            t.W2,
            t.W2T,
            t.b,
            t.c1,
            t.c2,
            self.idx,
            self.ptr,
            self.x,
            *self.mf,
            self.q1,
            self.q2,
            self.bound,
            self.sq_err,
            self.n_iter,
        )
        res = dict(
            recon_error=float(self.sq_err.sum() / self.sq_err.size / self.x.shape[1]),
            h1_mean=float(self.q1.mean()),
            h2_mean=float(self.q2.mean()),
            mf_iterations=float(self.n_iter.mean()),
            lower_bound=nan,
            log_likelihood=nan,
        )
        if log_z is not None:
            K.log_marginals(t.W1, t.W2, t.W2T, t.b, t.c1, t.c2, self.idx, self.ptr, self.log_marginal)
            res["lower_bound"] = float(self.bound.mean() - log_z)
            res["log_likelihood"] = float(self.log_marginal.mean() - log_z)
        return res


# --------------------------------------------------------------------------- the run


def init_params(net: DBMNetwork, x_train: np.ndarray, n_visible: int, rng: np.random.Generator):
    """``(W1, W2, b, c1, c2)`` of a validated ``network`` table: weights ~ N(0, init_std^2) (W1
    drawn first), biases as configured."""
    n1, n2 = net.n_hidden1, net.n_hidden2
    W1 = rng.normal(0.0, net.init_std, (n_visible, n1))
    W2 = rng.normal(0.0, net.init_std, (n1, n2))
    if net.visible_bias == "data" and len(x_train):
        b = R.base_rate_biases(x_train)
    else:
        b = np.zeros(n_visible)
    return W1, W2, b, np.full(n1, float(net.hidden_bias)), np.full(n2, float(net.hidden_bias))


def pretrain_layer(
    X,
    W,
    b,
    c,
    up: float,
    down: float,
    epochs: int,
    lr: float,
    k: int,
    batch_size: int,
    momentum: float,
    weight_decay: float,
    shuffle: bool,
    rng_state: np.ndarray,
):
    """Train one pretraining RBM (:func:`dynet.models.dbm.kernels.pretrain_epoch`) on rows ``X``;
    returns copies ``(W, b, c)`` and the reconstruction error of each epoch (mean over
    rows and inputs)."""
    W, b, c = (np.array(a, np.float64, order="C") for a in (W, b, c))
    X = np.ascontiguousarray(X, np.float64)
    WT = np.ascontiguousarray(W.T)
    moments = [np.zeros_like(a) for a in (W, b, c)]
    grads = [np.zeros_like(a) for a in (W, b, c)]
    n = len(X)
    batch_size = min(batch_size, n)
    lrs = np.full(-(-n // batch_size), lr)
    order = np.empty(n, np.int64)
    errors = np.empty(epochs)
    for e in range(epochs):
        err = K.pretrain_epoch(
            W,
            WT,
            b,
            c,
            *moments,
            *grads,
            X,
            order,
            shuffle,
            batch_size,
            float(up),
            float(down),
            k,
            lrs,
            float(momentum),
            float(weight_decay),
            rng_state,
        )
        errors[e] = err / X.size
    return W, b, c, errors


def pretrain(cfg: DBMScenario, x_train: np.ndarray, W1, W2, b, c1, c2, rng_state: np.ndarray):
    """Greedy layer-wise pretraining (see the module docstring) from the initial
    parameters; returns ``(W1, W2, b, c1, c2, errors1, errors2)``."""
    p, tr = cfg.pretraining, cfg.training
    common = dict(
        epochs=p.epochs,
        lr=p.lr,
        k=p.k,
        batch_size=tr.batch_size,
        momentum=tr.momentum,
        weight_decay=tr.weight_decay,
        shuffle=tr.shuffle,
        rng_state=rng_state,
    )
    X = x_train.astype(np.float64)
    W1, b, c1_bottom, err1 = pretrain_layer(X, W1, b, c1, 2.0, 1.0, **common)
    H1 = np.empty((len(X), len(c1)))
    K.up_probabilities(W1, c1_bottom, X, 2.0, H1)
    W2, c1_top, c2, err2 = pretrain_layer(H1, W2, c1, c2, 1.0, 2.0, **common)
    if not all(np.isfinite(a).all() for a in (W1, W2, b, c1_bottom, c1_top, c2)):
        raise TrainingDiverged("pretraining diverged: the parameters became non-finite (lower pretraining.lr)")
    return W1, W2, b, 0.5 * (c1_bottom + c1_top), c2, err1, err2


def random_states(rng: np.random.Generator, chains: int, nv: int, n1: int, n2: int):
    """Uniformly random binary ``(v, h1, h2)`` of ``chains`` chains (drawn in that order)."""
    return tuple((rng.random((chains, m)) < 0.5).astype(np.uint8) for m in (nv, n1, n2))


def epoch_specs() -> dict:
    cols = [
        "lr",
        "w1_norm",
        "w2_norm",
        "mf_iterations",
        "h1_mean",
        "h2_mean",
        "train_recon_error",
        "val_recon_error",
        "log_z",
        "train_lower_bound",
        "val_lower_bound",
        "train_log_likelihood",
        "val_log_likelihood",
    ]
    return {"epoch": TrajectorySpec(("epoch",), "int64"), **{c: TrajectorySpec(("epoch",), "float64") for c in cols}}


def run(spec, record) -> dict:
    """Train one DBM run (a :class:`dynet.scenario.RunSpec`) into ``record``; return its metrics."""
    cfg = spec.settings
    tr_cfg, rec_cfg, mf_cfg, smp = cfg.training, cfg.record, cfg.mean_field, cfg.sampling
    _, split_ss, init_ss, train_ss, chain_ss, sample_ss, pre_ss = spec.seed_sequence().spawn(7)
    x, image_shape = R.load_data(cfg.data, spec.base_dir, R.file_hash(spec.config))
    n, nv = x.shape
    n1, n2 = cfg.network.n_hidden1, cfg.network.n_hidden2
    tr, va = L.validation_split(cfg.data.validation, n, split_ss)
    x_tr, x_va = x[tr], x[va]
    W1, W2, b, c1, c2 = init_params(cfg.network, x_tr, nv, np.random.default_rng(init_ss))
    record.static("initial_weights1", W1, ("visible", "hidden1"))
    record.static("initial_weights2", W2, ("hidden1", "hidden2"))
    pre_metrics = {}
    if cfg.pretraining.epochs:
        W1, W2, b, c1, c2, err1, err2 = pretrain(cfg, x_tr, W1, W2, b, c1, c2, seed_state(pre_ss))
        record.static("pretrain_error1", err1, ("pretrain_epoch",))
        record.static("pretrain_error2", err2, ("pretrain_epoch",))
        pre_metrics = {"pretrain_recon_error1": float(err1[-1]), "pretrain_recon_error2": float(err2[-1])}
    chains = random_states(np.random.default_rng(chain_ss), tr_cfg.chains, nv, n1, n2)
    trainer = Trainer(
        x_tr,
        W1,
        W2,
        b,
        c1,
        c2,
        *chains,
        k=tr_cfg.k,
        batch_size=tr_cfg.batch_size,
        momentum=tr_cfg.momentum,
        weight_decay=tr_cfg.weight_decay,
        mf_iterations=mf_cfg.iterations,
        mf_tolerance=mf_cfg.tolerance,
        mf_damping=mf_cfg.damping,
        shuffle=tr_cfg.shuffle,
        rng_state=seed_state(train_ss),
    )
    ev_train = Evaluator(x_tr, n1, n2, mf_cfg)
    ev_val = Evaluator(x_va, n1, n2, mf_cfg)
    exact = exact_terms(nv, n1, n2) <= rec_cfg.exact_max

    def row(epoch: int, lr: float) -> dict:
        log_z = log_partition(*trainer.params()) if exact else None
        et, ev = ev_train(trainer, log_z), ev_val(trainer, log_z)
        return dict(
            epoch=epoch,
            lr=lr,
            w1_norm=float(np.sqrt(np.sum(trainer.W1**2))),
            w2_norm=float(np.sqrt(np.sum(trainer.W2**2))),
            mf_iterations=et["mf_iterations"],
            h1_mean=et["h1_mean"],
            h2_mean=et["h2_mean"],
            train_recon_error=et["recon_error"],
            val_recon_error=ev["recon_error"],
            log_z=log_z if exact else math.nan,
            train_lower_bound=et["lower_bound"],
            val_lower_bound=ev["lower_bound"],
            train_log_likelihood=et["log_likelihood"],
            val_log_likelihood=ev["log_likelihood"],
        )

    with L.trajectories(record, epoch_specs()) as (traj,):
        last = L.run_epochs(
            trainer,
            L.epoch_schedule(cfg.schedule.model_dump(), tr_cfg.lr),
            tr_cfg.epochs,
            row,
            traj,
            every=rec_cfg.every,
        )

    record.static("weights1", trainer.W1, ("visible", "hidden1"))
    record.static("weights2", trainer.W2, ("hidden1", "hidden2"))
    record.static("visible_bias", trainer.b, ("visible",))
    record.static("hidden1_bias", trainer.c1, ("hidden1",))
    record.static("hidden2_bias", trainer.c2, ("hidden2",))
    record.static("validation_index", va.astype(np.int64), ("validation_row",))
    if image_shape is not None:
        record.static("image_shape", np.array(image_shape, np.int64), ("image_axis",))

    metrics = L.final_metrics(last)
    metrics.update(
        n_train=int(len(tr)),
        n_validation=int(len(va)),
        n_visible=int(nv),
        n_hidden1=int(n1),
        n_hidden2=int(n2),
        steps_per_epoch=int(trainer.steps),
        exact_log_likelihood=bool(exact),
        **pre_metrics,
    )
    if exact:
        metrics["max_train_log_likelihood"] = R.empirical_log_likelihood(x_tr)
    if smp.chains:
        metrics.update(sample(trainer, smp, record, sample_ss))
    return metrics


def sample(trainer: Trainer, smp: RBMSampling, record, ss: np.random.SeedSequence) -> dict:
    """Run the block Gibbs chains of ``[sampling]`` from random states into the ``sample`` trajectory."""
    nv, n1 = trainer.W1.shape
    n2 = trainer.W2.shape[1]
    chains, steps, every = smp.chains, smp.steps, smp.every
    init_ss, kernel_ss = ss.spawn(2)
    v, h1, h2 = random_states(np.random.default_rng(init_ss), chains, nv, n1, n2)
    state = seed_state(kernel_ss)
    traj = record.trajectory(
        {
            "sample_step": TrajectorySpec(("sample",), "int64"),
            "sample_chain": TrajectorySpec(("sample",), "int64"),
            "samples": TrajectorySpec(("sample", "visible"), "int8", (nv,)),
            "sample_mean": TrajectorySpec(("sample", "visible"), "float32", (nv,)),
        }
    )
    per_block = max(1, chunk_rows(nv * 4) // chains)  # whole records, about a chunk of samples each
    out_v = np.empty((per_block, chains, nv), np.int8)
    out_p = np.empty((per_block, chains, nv), np.float32)
    done, n_rec, on = 0, 0, 0.0
    total = (steps // every) * every
    try:
        while done < total:
            n_steps = min(per_block * every, total - done)
            got = K.gibbs_chains(
                trainer.W1,
                trainer.W1T,
                trainer.W2,
                trainer.W2T,
                trainer.b,
                trainer.c1,
                trainer.c2,
                v,
                h1,
                h2,
                n_steps,
                every,
                out_v,
                out_p,
                0,
                state,
            )
            step_at = done + every * np.arange(1, got + 1)
            traj.append(
                sample_step=np.repeat(step_at, chains),
                sample_chain=np.tile(np.arange(chains), got),
                samples=out_v[:got].reshape(-1, nv),
                sample_mean=out_p[:got].reshape(-1, nv),
            )
            on += float(out_v[:got].sum())
            n_rec += got
            done += n_steps
    finally:
        traj.close()
    return {"samples_stored": int(n_rec * chains), "sample_activity": on / max(1, n_rec * chains * nv)}


def preflight(config: dict, base_dir: str, store: str | None = None) -> list[str]:
    """Problems that need the data (the RBM's checks: files, binary values, split, batch size)."""
    cfg = run_settings("dbm", config)
    try:
        x, _ = R.load_data(cfg.data, base_dir, R.file_hash(config))
    except data_sources.DataError as exc:
        return [f"data.path: {exc}"]
    return R.split_problems(len(x), cfg.data, cfg.training.batch_size)


def cost(config: dict) -> float:
    """Rough work of a run (multiply-adds), for batching small runs into one task."""
    cfg = run_settings("dbm", config)
    n, nv = L.data_size(cfg.data)
    n1, n2 = cfg.network.n_hidden1, cfg.network.n_hidden2
    tr, mf, rec = cfg.training, cfg.mean_field, cfg.record
    per_row = nv * n1 + mf.iterations * 2 * n1 * n2
    per_chain_step = 2 * nv * n1 + n1 * n2
    steps = -(-n // tr.batch_size)
    work = tr.epochs * (n * per_row + steps * tr.chains * tr.k * per_chain_step)
    evals = tr.epochs // rec.every + 1
    work += evals * n * per_row
    if exact_terms(nv, n1, n2) <= rec.exact_max:
        work += evals * (2.0 ** exact_terms(nv, n1, n2) * (nv + n1 + n2) + n * 2.0 ** min(n1, n2) * max(n1, n2)) * 20
    pre = cfg.pretraining
    work += pre.epochs * n * (pre.k + 1) * 2 * (nv * n1 + n1 * n2)
    smp = cfg.sampling
    return float(work + smp.chains * smp.steps * per_chain_step)


def warmup() -> None:
    """Compile (or load from cache) the kernels on a tiny problem."""
    x = R.bars_and_stripes(2)
    rng = np.random.default_rng(0)
    W1, W2, b, c1, c2 = rng.normal(0, 0.1, (4, 3)), rng.normal(0, 0.1, (3, 2)), np.zeros(4), np.zeros(3), np.zeros(2)
    t = Trainer(x, W1, W2, b, c1, c2, *random_states(rng, 2, 4, 3, 2), batch_size=2)
    t.epoch(np.full(t.steps, 0.01))
    pretrain_layer(
        x,
        W1,
        b,
        c1,
        2.0,
        1.0,
        epochs=1,
        lr=0.01,
        k=1,
        batch_size=2,
        momentum=0.0,
        weight_decay=0.0,
        shuffle=True,
        rng_state=np.array([1, 2, 3, 4], np.uint64),
    )
    K.up_probabilities(W1, c1, x.astype(np.float64), 2.0, np.empty((len(x), 3)))
    Evaluator(x, 3, 2, DBMMeanField(iterations=5))(t, log_partition(*t.params()))
    v, h1, h2 = random_states(rng, 1, 4, 3, 2)
    K.gibbs_chains(
        t.W1,
        t.W1T,
        t.W2,
        t.W2T,
        t.b,
        t.c1,
        t.c2,
        v,
        h1,
        h2,
        1,
        1,
        np.empty((1, 1, 4), np.int8),
        np.empty((1, 1, 4), np.float32),
        0,
        np.array([1, 2, 3, 4], np.uint64),
    )
