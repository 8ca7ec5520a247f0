"""Deep belief networks: greedy layer-wise RBM pretraining, then backpropagation fine-tuning.

A run (Hinton, Osindero & Teh 2006; Hinton & Salakhutdinov 2006) has two stages.

**Pretraining** (``pretrain = true``). A stack of Bernoulli-Bernoulli RBMs with
``network.hidden`` hidden units, bottom up, each trained by CD-k / PCD-k with the
``[pretraining]`` options through :class:`dynet.models.rbm.driver.Trainer` (one compiled call
per epoch). RBM 1 is trained on the digits of the *training split only*; RBM ``l + 1`` on
RBM ``l``'s hidden representation of those same rows. The representation passed up is
the mean-field one, ``P_{l+1} = sigmoid(P_l W_l + c_l)`` (float64), ``P_0`` the input
(below), which is exactly what the classifier's hidden layers compute from the same
weights. The RBM kernels train on binary rows, so every epoch of RBM ``l`` draws a fresh
binary sample ``v ~ Bernoulli(P_l)`` of its training rows (whose expectation over the
draws is ``P_l``; a sampled-once data set would fix one noisy draw per digit for every
epoch).

Input: ``data.visible = "probability"`` (default) uses ``P_0 = pixel / 16`` as the
network's input, and RBM 1 trains on a fresh Bernoulli sample of it every epoch (pixel
``i`` of a row is on with probability ``pixel_i / 16``), so no gray level is thresholded
away; ``"binary"`` uses ``pixel / 16 > threshold`` for both (then the per-epoch draws
reproduce the same rows).

**Fine-tuning.** The classifier is :mod:`dynet.models.feedforward`'s mlp with the same
hidden sizes, sigmoid units and a linear output layer with softmax cross-entropy, built
by :func:`dynet.models.feedforward.driver.setup` from the typed feedforward scenario
:meth:`~dynet.models.dbn.config.DBNScenario.fine_tuning` (built by
:func:`~dynet.models.dbn.config.dbn_feedforward_doc` from the dbn scenario's ``init``,
``optimizer``, ``schedule``, ``training``, ``regularization``, ``early_stopping``, ``record``
tables) and trained by :func:`~dynet.models.feedforward.driver.train`. With pretraining, hidden layer
``l`` starts from RBM ``l``'s ``W_l`` and hidden biases ``c_l`` (rounded to float32);
the output layer keeps ``init.weights``. Without, every layer keeps ``init.weights``: the
same network from its random initialization.

Random streams. The data split, the network's initialization and the fine-tuning kernel
come from ``SeedSequence(seed, spawn_key=(point key of the config without pretrain and
pretraining, replicate))`` (:func:`shared_seed_sequence`), so the pretrained and the
randomly initialized network of one replicate share the split, the output layer's
initial weights and the mini-batch order: ``pretrain = [true, false]`` in a sweep is a
paired comparison. Its children are a feedforward run's: 0 data (unused for digits),
1 split, 2 initial weights, 3 the fine-tuning kernel's xoshiro256** state. Pretraining
draws from the run's own SeedSequence: child ``l`` for RBM ``l``, whose children are
0 the initial weights, 1 the training kernel's xoshiro256** state (permutations, Gibbs
draws), 2 the per-epoch binary training rows, 3 the evaluation (fixed binary samples of
the training and validation inputs and their flipped units; its child 0 seeds the
reconstruction draws).

Stored: the pretraining trajectory along ``pretrain_record`` (one row per layer and
recorded epoch, epoch 0 the initialization): ``pretrain_layer``, ``pretrain_epoch``,
``pretrain_lr``, ``pretrain_weight_norm``, ``pretrain_hidden_mean`` and the RBM
statistics of :class:`dynet.models.rbm.driver.Evaluator` on a fixed binary sample of the
layer's training input and of the validation split's input (validation rows are only
evaluated, never trained on): ``pretrain_train_recon_error``,
``pretrain_val_recon_error``, ``pretrain_train_pseudo_likelihood``,
``pretrain_val_pseudo_likelihood``, ``pretrain_train_free_energy``,
``pretrain_val_free_energy``, ``pretrain_free_energy_gap``; the RBMs
(``rbm_weight_l`` (unit_l x unit_{l+1}), ``rbm_visible_bias_l``, ``rbm_hidden_bias_l``,
float64); then everything a feedforward run stores: the fine-tuning trajectories along
``epoch`` (and ``step``), ``initial_weight_l`` / ``initial_bias_l`` (the pretrained or
random initialization), ``weight_l`` / ``bias_l`` (final, or best when restored),
``last_*``, snapshots, ``layer_sizes``.

Metrics: the feedforward run's (``train_metric``, ``val_metric``, ``test_metric`` are
accuracies), ``pretrained``, ``n_train``, and per layer ``pretrain_recon_error_l`` and
``pretrain_val_recon_error_l`` (the last pretraining epoch's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from dynet import data as data_sources
from dynet.kernels.rng import seed_state
from dynet.models.feedforward import driver as ff
from dynet.models.feedforward.config import FeedforwardScenario
from dynet.models.rbm import driver as rbm
from dynet.models.rbm.config import RBMNetwork
from dynet.scenario import run_identity, run_settings
from dynet.store import TrajectorySpec
from dynet.train import loop as L

from .config import DBNPretraining, DBNScenario

#: The columns of the pretraining trajectory besides ``pretrain_layer`` and ``pretrain_epoch``.
PRETRAIN_COLUMNS = (
    "lr",
    "weight_norm",
    "hidden_mean",
    "train_recon_error",
    "val_recon_error",
    "train_pseudo_likelihood",
    "val_pseudo_likelihood",
    "train_free_energy",
    "val_free_energy",
    "free_energy_gap",
)


# --------------------------------------------------------------------------- configs and seeds


def shared_seed_sequence(spec) -> np.random.SeedSequence:
    """The SeedSequence of the split, the network's initialization and fine-tuning: keyed by the
    config without ``pretrain`` and ``pretraining``, so both arms of the comparison share it."""
    shared = {k: v for k, v in spec.config.items() if k not in ("pretrain", "pretraining")}
    _, point_key = run_identity(shared, spec.replicate)
    return np.random.SeedSequence(spec.seed["entropy"], spawn_key=(point_key, spec.replicate))


def network_setup(
    settings: DBNScenario,
    fine_tuning: FeedforwardScenario,
    seed_sequence: np.random.SeedSequence,
    base_dir: str = ".",
) -> ff.Setup:
    """:func:`dynet.models.feedforward.driver.setup` of the classifier (``fine_tuning``:
    ``settings.fine_tuning()``), with the inputs of every split turned from pixels (0..16) into
    ``data.visible``'s values: pixel / 16, or 0/1 by threshold (``settings``: the run's typed scenario)."""
    st = ff.setup(fine_tuning, seed_sequence, base_dir)
    d = settings.data
    for name, (x, y, labels) in st.splits.items():
        p = x / np.float32(16.0)  # exact: 0..16 / 16 are binary fractions
        if d.visible == "binary":
            p = (p > d.binary_threshold).astype(np.float32)
        st.splits[name] = (np.ascontiguousarray(p, np.float32), y, labels)
    return st


# --------------------------------------------------------------------------- pretraining


@dataclass
class RBMLayer:
    """One pretrained RBM: ``W`` (visible x hidden), visible biases ``b``, hidden biases ``c`` (float64)."""

    W: np.ndarray
    b: np.ndarray
    c: np.ndarray


def up_pass(p: np.ndarray, layer: RBMLayer) -> np.ndarray:
    """Mean-field hidden probabilities ``sigmoid(p W + c)`` of input probabilities ``p`` (float64)."""
    a = np.asarray(p, np.float64) @ layer.W + layer.c
    return np.exp(-np.logaddexp(0.0, -a))  # sigmoid without overflow


def sample_rows(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A Bernoulli sample of the probabilities ``p``: uint8, unit on when ``u < p``, ``u ~ U[0, 1)``."""
    return (rng.random(p.shape) < p).astype(np.uint8)


def _rbm_network(pre: DBNPretraining, n_hidden: int) -> RBMNetwork:
    return RBMNetwork(
        n_hidden=n_hidden, init_std=pre.init_std, visible_bias=pre.visible_bias, hidden_bias=pre.hidden_bias
    )


def pretrain(
    x_train: np.ndarray, x_val: np.ndarray, config: DBNScenario, seed_sequence: np.random.SeedSequence, on_epoch=None
) -> list[RBMLayer]:
    """Greedy layer-wise training of the RBM stack of ``network.hidden`` on the input
    probabilities ``x_train`` (rows x visible, in [0, 1]); ``x_val`` is only evaluated.

    RBM ``l`` trains for ``pretraining.epochs`` epochs, each on a fresh binary sample of
    its input probabilities ``P_l`` (``P_0 = x_train``, ``P_{l+1} = up_pass(P_l, RBM l)``).
    ``on_epoch(**columns)`` receives the pretraining trajectory's rows (one-element
    arrays, see the module docstring), after the initialization and every epoch.
    """
    pre = config.pretraining
    schedule = L.epoch_schedule(pre.schedule.model_dump(), pre.lr)
    rows = SimpleNamespace(append=on_epoch) if on_epoch is not None else L.NullRecord()
    p_tr = np.asarray(x_train, np.float64)
    p_va = np.asarray(x_val, np.float64)
    hidden = config.network.hidden
    layers = []
    for l, (nh, ss) in enumerate(zip(hidden, seed_sequence.spawn(len(hidden)))):
        init_ss, train_ss, rows_ss, eval_ss = ss.spawn(4)
        nv = p_tr.shape[1]
        W, b, c = rbm.init_params(_rbm_network(pre, nh), p_tr, nv, np.random.default_rng(init_ss))
        rows_rng = np.random.default_rng(rows_ss)
        trainer = rbm.Trainer(
            sample_rows(p_tr, rows_rng),
            W,
            b,
            c,
            **rbm.trainer_options(pre, pre.sparsity),
            rng_state=seed_state(train_ss),
        )
        ev_rng = np.random.default_rng(eval_ss)
        recon_state = seed_state(eval_ss.spawn(1)[0])
        ev_train = rbm.Evaluator(sample_rows(p_tr, ev_rng), ev_rng.integers(0, nv, len(p_tr)), recon_state)
        ev_val = rbm.Evaluator(sample_rows(p_va, ev_rng), ev_rng.integers(0, nv, len(p_va)), recon_state)

        def row(epoch: int, lr: float) -> dict:
            et = ev_train(trainer.W, trainer.WT, trainer.b, trainer.c)
            ev = ev_val(trainer.W, trainer.WT, trainer.b, trainer.c)
            vals = dict(
                lr=lr,
                weight_norm=float(np.sqrt(np.sum(trainer.W**2))),
                hidden_mean=et["hidden_mean"],
                train_recon_error=et["recon_error"],
                val_recon_error=ev["recon_error"],
                train_pseudo_likelihood=et["pseudo_likelihood"],
                val_pseudo_likelihood=ev["pseudo_likelihood"],
                train_free_energy=et["free_energy"],
                val_free_energy=ev["free_energy"],
                free_energy_gap=ev["free_energy"] - et["free_energy"],
            )
            return {"pretrain_layer": l, "pretrain_epoch": epoch, **{f"pretrain_{k}": v for k, v in vals.items()}}

        def resample(epoch: int) -> None:
            if epoch > 1:  # the rows of epoch 1 were drawn for the Trainer above
                trainer.data = sample_rows(p_tr, rows_rng)
                trainer.idx, trainer.ptr = rbm.to_csr(trainer.data)

        L.run_epochs(
            trainer,
            schedule,
            pre.epochs,
            row,
            rows,
            before_epoch=resample,
            diverged=f"pretraining diverged: RBM {l}'s parameters became non-finite at epoch {{epoch}} "
            "(lower pretraining.lr)",
        )
        layer = RBMLayer(trainer.W.copy(), trainer.b.copy(), trainer.c.copy())
        layers.append(layer)
        if l + 1 < len(hidden):
            p_tr, p_va = up_pass(p_tr, layer), up_pass(p_va, layer)
    return layers


def load_pretrained(st: ff.Setup, layers: list[RBMLayer]) -> None:
    """Overwrite hidden layer ``l``'s weights and biases in ``st.params`` with RBM ``l``'s ``W``
    and hidden biases ``c`` (float32); the output layer keeps its initialization."""
    for (n_in, n_out, w, b, _), layer in zip(st.layout, layers):
        if layer.W.shape != (n_in, n_out):
            raise ValueError(f"RBM of shape {layer.W.shape} does not fit a {n_in} x {n_out} layer")
        st.params[w : w + n_in * n_out] = layer.W.astype(np.float32).ravel()
        st.params[b : b + n_out] = layer.c.astype(np.float32)


def pretrain_specs() -> dict:
    return {
        "pretrain_layer": TrajectorySpec(("pretrain_record",), "int64"),
        "pretrain_epoch": TrajectorySpec(("pretrain_record",), "int64"),
        **{f"pretrain_{c}": TrajectorySpec(("pretrain_record",), "float64") for c in PRETRAIN_COLUMNS},
    }


# --------------------------------------------------------------------------- the run


def run(spec, record) -> dict:
    """Pretrain (or not) and fine-tune one dbn run (a :class:`dynet.scenario.RunSpec`) into ``record``."""
    cfg = spec.settings
    ff_cfg = cfg.fine_tuning()
    st = network_setup(cfg, ff_cfg, shared_seed_sequence(spec), spec.base_dir)
    metrics = {"pretrained": bool(cfg.pretrain), "n_train": int(len(st.splits["train"][0]))}
    if cfg.pretrain:
        last = {}
        with L.trajectories(record, pretrain_specs()) as (traj,):

            def on_epoch(**cols):
                traj.append(**cols)
                last[int(cols["pretrain_layer"][0])] = cols

            layers = pretrain(st.splits["train"][0], st.splits["validation"][0], cfg, spec.seed_sequence(), on_epoch)
        for l, layer in enumerate(layers):
            record.static(f"rbm_weight_{l}", layer.W, (f"unit_{l}", f"unit_{l + 1}"))
            record.static(f"rbm_visible_bias_{l}", layer.b, (f"unit_{l}",))
            record.static(f"rbm_hidden_bias_{l}", layer.c, (f"unit_{l + 1}",))
            for name in ("train_recon_error", "val_recon_error"):
                v = float(last[l][f"pretrain_{name}"][0])
                metrics[f"pretrain_{name.replace('train_', '')}_{l}"] = None if math.isnan(v) else v
        load_pretrained(st, layers)
    metrics.update(ff.train_and_record(ff_cfg, st, record))
    return metrics


# --------------------------------------------------------------------------- contract


def preflight(config: dict, base_dir: str, store: str | None = None) -> list[str]:
    """The feedforward checks of the fine-tuning scenario, and a pretraining batch that fits
    (``config``: a resolved config dict)."""
    cfg = run_settings("dbn", config)
    problems = ff.check(cfg.fine_tuning(), base_dir, store)
    if problems:
        return problems
    d = cfg.data
    n = len(data_sources.load_digits()[1])
    n_train = n - int(d.validation * n) - int(d.test * n)
    b = cfg.pretraining.batch_size
    if cfg.pretrain and b > n_train:
        return [f"pretraining.batch_size: {b} is larger than the {n_train} training samples"]
    return []


def cost(config: dict) -> float:
    """Rough work of a run (multiply-adds), for batching small runs into one task."""
    cfg = run_settings("dbn", config)
    d = cfg.data
    n_all, nv = L.data_size(d)
    n = n_all * (1.0 - d.validation - d.test)
    work = ff.work(cfg.fine_tuning())
    if cfg.pretrain:
        pre = cfg.pretraining
        sizes = [nv, *cfg.network.hidden]
        # training (k + 1 Gibbs half-steps per row) plus the evaluation of every epoch
        work += sum(pre.epochs * (n * (pre.k + 1) + n_all * 3) * a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return float(work)


def warmup() -> None:
    """Compile (or load from cache) the RBM and feedforward kernels."""
    rbm.warmup()
    ff.warmup()
