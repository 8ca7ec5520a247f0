"""Scenario files: schema, validation, sweep expansion, seeds and run ids.

A scenario is a TOML file, validated in full before anything runs or is written.
The schema is declared once as pydantic models (one per model family, chosen by the
top-level ``model`` key); errors come back as :class:`ScenarioError`, one line per
problem, each naming the file, the key path and what is allowed.

Sweeps: ``[sweep]`` takes ``replicates``, a ``grid`` (cartesian product over dotted
key paths) and a ``zip`` (lists of equal length varied together). Every sweep point
is applied to the base scenario and validated as a whole.

Seeds and ids: a run's config is the resolved scenario without ``name``,
``description`` and ``sweep``. Its run id is a hash of that config and the replicate
number; its random streams come from ``SeedSequence(seed, spawn_key=(point_key,
replicate))`` where ``point_key`` is a hash of the config. A run's numbers thus
depend only on what it is, not on sweep order, worker count or placement.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import itertools
import json
import math
import os
import re
import stat
import tomllib
import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import data as _data


class ScenarioError(Exception):
    """A scenario file is invalid; ``lines`` holds one message per problem."""

    def __init__(self, lines: list[str]):
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


class _Strict(BaseModel):
    # NaN and infinity are never a setting: they would pass comparisons like `t <= 0`
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


# --------------------------------------------------------------------------- Hopfield

class HopfieldNetwork(_Strict):
    """The network: size, learning rule, thresholds."""

    n_units: int | None = Field(None, ge=2, le=65536, description="Number of units N; required for random patterns, "
                                "inferred from images and files.")
    rule: Literal["hebbian", "storkey", "pseudoinverse"] = Field(
        "hebbian", description="Learning rule: Hebbian (1/N sum xi xi^T), Storkey (1997) or pseudo-inverse (projection).")
    threshold: float = Field(0.0, description="Threshold theta of every unit; E = -1/2 s^T W s + theta^T s.")


class RandomPatterns(_Strict):
    """Random +-1 patterns, optionally biased."""

    source: Literal["random"]
    count: int | None = Field(None, ge=1, le=65536, description="Number of patterns P (give count or load).")
    load: float | None = Field(None, gt=0, le=4, description="Load alpha = P/N; P = round(alpha * N).")
    bias: float = Field(0.0, gt=-1, lt=1, description="Mean activity a: P(xi = +1) = (1 + a) / 2.")

    @model_validator(mode="after")
    def _count_or_load(self):
        if (self.count is None) == (self.load is None):
            raise ValueError("give exactly one of 'count' and 'load'")
        return self


class ImagePatterns(_Strict):
    """Binarized images from a dataset bundled with dynet."""

    source: Literal["images"]
    dataset: Literal["digits"] = Field("digits", description="digits: 8x8 handwritten digits (UCI, CC BY 4.0), N = 64.")
    count: int = Field(10, ge=1, le=10, description="Store the mean images of digits 0 .. count-1, binarized.")


class FilePatterns(_Strict):
    """Patterns from a .npy/.npz file: shape (P, N), values in {-1, +1} or {0, 1}."""

    source: Literal["file"]
    path: str = Field(description="Path to the file, relative to the scenario file.")
    key: str | None = Field(None, description="Array name inside a .npz (default: its only array).")


HopfieldPatterns = Annotated[Union[RandomPatterns, ImagePatterns, FilePatterns], Field(discriminator="source")]


class FlipInit(_Strict):
    """Start from stored pattern ``pattern`` with ``round(fraction * N)`` bits flipped."""

    kind: Literal["flip"]
    pattern: int = Field(0, ge=0, description="Index of the cued pattern.")
    fraction: float = Field(0.1, ge=0, le=1, description="Fraction of bits flipped, chosen at random.")


class MaskInit(_Strict):
    """Start from stored pattern ``pattern`` with a part of it masked."""

    kind: Literal["mask"]
    pattern: int = Field(0, ge=0, description="Index of the cued pattern.")
    fraction: float = Field(0.25, ge=0, le=1, description="Fraction of units masked.")
    region: Literal["tail", "head", "random"] = Field("tail", description="Which units: the last, the first, or random.")
    fill: Literal["random", "negative", "positive"] = Field("random", description="What masked units are set to.")


class RandomInit(_Strict):
    """Start from a random state, P(s_i = +1) = (1 + bias) / 2."""

    kind: Literal["random"]
    bias: float = Field(0.0, gt=-1, lt=1)


HopfieldInit = Annotated[Union[FlipInit, MaskInit, RandomInit], Field(discriminator="kind")]


class Anneal(_Strict):
    """Temperature schedule from t_start to t_end over ``sweeps`` sweeps, then ``t_after``."""

    schedule: Literal["linear", "geometric"]
    t_start: float = Field(gt=0)
    t_end: float = Field(ge=0)
    sweeps: int | None = Field(None, ge=1, description="Length of the schedule (default: max_sweeps).")
    t_after: float | None = Field(None, ge=0, description="Temperature after the schedule (default: t_end); "
                                  "0 lets the network settle into a fixed point.")

    @model_validator(mode="after")
    def _geometric_positive(self):
        if self.schedule == "geometric" and self.t_end <= 0:
            raise ValueError("t_end: a geometric schedule needs t_end > 0")
        return self


class HopfieldDynamics(_Strict):
    update: Literal["synchronous", "async-permutation", "async-sequential", "async-random"] = Field(
        "async-permutation", description="Synchronous, or asynchronous in a fresh random permutation per sweep, "
        "in fixed sequential order, or random with replacement.")
    temperature: float = Field(0.0, ge=0, description="Glauber temperature T; 0 is deterministic.")
    anneal: Anneal | None = None
    max_sweeps: int = Field(100, ge=1, le=10_000_000)
    stop_at_fixed_point: bool = Field(True, description="Stop at a fixed point (or a synchronous 2-cycle) at T = 0.")

    @model_validator(mode="after")
    def _one_temperature(self):
        if self.anneal is not None and self.temperature != 0:
            raise ValueError("give either 'temperature' or 'anneal', not both")
        return self


class HopfieldRecord(_Strict):
    every: int = Field(1, ge=1, description="Record every k sweeps (and the last sweep).")
    state: bool = Field(True, description="Record the state (int8) at each recorded sweep.")
    overlaps: bool = Field(True, description="Record the overlap with every stored pattern.")
    weights: bool = Field(False, description="Store the weight matrix (N^2 values per run).")


class Sweep(_Strict):
    replicates: int = Field(1, ge=1, le=1_000_000, description="Independent runs per sweep point.")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="Dotted key -> values; cartesian product.")
    zip: dict[str, list[Any]] = Field(default_factory=dict, description="Dotted key -> values; varied together.")


class _ScenarioBase(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Scenario name (letters, digits, _ . -).")
    description: str = ""
    seed: int = Field(ge=0, lt=2**63, description="Root seed; every run's streams derive from it.")
    sweep: Sweep = Field(default_factory=Sweep)


class HopfieldScenario(_ScenarioBase):
    """A Hopfield network recalling stored patterns."""

    model: Literal["hopfield"]
    network: HopfieldNetwork = Field(default_factory=HopfieldNetwork)
    patterns: HopfieldPatterns
    init: HopfieldInit
    dynamics: HopfieldDynamics = Field(default_factory=HopfieldDynamics)
    record: HopfieldRecord = Field(default_factory=HopfieldRecord)

    @model_validator(mode="after")
    def _sizes(self):
        p = self.patterns
        if isinstance(p, RandomPatterns):
            if self.network.n_units is None:
                raise ValueError("network.n_units: required with random patterns")
            n_pat = p.count if p.count is not None else round(p.load * self.network.n_units)
            if n_pat < 1:
                raise ValueError(f"patterns.load: {p.load} gives no pattern at N = {self.network.n_units}")
            if getattr(self.init, "pattern", 0) >= n_pat:
                raise ValueError(f"init.pattern: {self.init.pattern} is out of range for {n_pat} patterns")
        return self


# --------------------------------------------------------------------------- feedforward

class _DataBase(_Strict):
    validation: float = Field(0.2, ge=0, lt=1, description="Fraction of samples held out for validation.")
    test: float = Field(0.0, ge=0, lt=1, description="Fraction of samples held out for the test split.")
    standardize: bool = Field(True, description="Scale inputs by the training split's mean and std.")
    scale: float = Field(1.0, gt=0, description="Multiply the inputs by this first (1/16 maps the digits' "
                         "0..16 to [0, 1]); the same in every run, unlike standardize.")

    @model_validator(mode="after")
    def _fractions(self):
        if self.validation + self.test >= 1:
            raise ValueError("validation: validation + test must leave samples for training")
        return self


class XorData(_DataBase):
    """XOR of two bits (the truth table, or ``n_samples`` noisy copies of it)."""

    source: Literal["xor"]
    n_samples: int = Field(4, ge=4, le=1_000_000)
    noise: float = Field(0.0, ge=0)
    validation: float = Field(0.0, ge=0, lt=1)
    standardize: bool = False


class ParityData(_DataBase):
    """n-bit parity: every input once, or ``n_samples`` (noisy) copies."""

    source: Literal["parity"]
    n_bits: int = Field(3, ge=2, le=20)
    n_samples: int | None = Field(None, ge=4, le=1_000_000)
    noise: float = Field(0.0, ge=0)
    validation: float = Field(0.0, ge=0, lt=1)
    standardize: bool = False


class LinearData(_DataBase):
    """Regression data from y = 5 + 2 x1 - 3 x2 + eps, x ~ U(-1, 1)^2, eps ~ N(0, noise^2)."""

    source: Literal["linear"]
    n_samples: int = Field(200, ge=4, le=10_000_000)
    noise: float = Field(0.5, ge=0)
    standardize: bool = False


class BlobsData(_DataBase):
    source: Literal["blobs"]
    n_samples: int = Field(300, ge=4, le=10_000_000)
    n_classes: int = Field(3, ge=2, le=1000)
    n_features: int = Field(2, ge=1, le=10_000)
    spread: float = Field(1.0, gt=0)


class MoonsData(_DataBase):
    source: Literal["moons"]
    n_samples: int = Field(300, ge=4, le=10_000_000)
    noise: float = Field(0.1, ge=0)


class SpiralsData(_DataBase):
    source: Literal["spirals"]
    n_samples: int = Field(300, ge=4, le=10_000_000)
    n_classes: int = Field(2, ge=2, le=100)
    turns: float = Field(1.5, gt=0)
    noise: float = Field(0.05, ge=0)


class BundledData(_DataBase):
    """Datasets shipped with dynet: iris (150 x 4, 3 classes), digits (1797 x 64, 10 classes)."""

    source: Literal["iris", "digits"]


class FileData(_DataBase):
    """User data: a .npz with arrays ``x_key`` (n, d) and ``y_key`` (n,) or (n, k), or a .csv
    of numbers whose last ``target_columns`` columns are the target."""

    source: Literal["file"]
    path: str = Field(description="Path to a .npz or .csv file, relative to the scenario file.")
    x_key: str = "x"
    y_key: str = "y"
    target_columns: int = Field(1, ge=1)
    task: Literal["classification", "regression"] = Field(
        "classification", description="Integer labels (classification) or real targets (regression).")


FeedforwardData = Annotated[Union[XorData, ParityData, LinearData, BlobsData, MoonsData, SpiralsData, BundledData,
                                  FileData], Field(discriminator="source")]

HIDDEN_ACTIVATIONS = ("identity", "step", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus")
LOSS_NAMES = ("mse", "bce_with_logits", "cross_entropy", "hinge", "multi_margin", "perceptron")


class FeedforwardNetwork(_Strict):
    """Dense layers: ``kind = mlp`` with ``hidden`` sizes, an autoencoder (encoder ``hidden``
    down to the bottleneck, mirrored decoder), or a single neuron (logistic, linear
    regression, Rosenblatt perceptron)."""

    kind: Literal["mlp", "autoencoder", "logistic", "linear", "perceptron"] = "mlp"
    hidden: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(
        default_factory=list, description="Hidden layer sizes (mlp); an autoencoder's encoder down to the "
        "bottleneck ([32, 8]: 32 -> 8 -> 32 -> output).")
    bottleneck: int | None = Field(None, ge=1, le=100_000, description="Autoencoder: the code size, appended "
                                   "to the encoder 'hidden'.")
    activation: Literal[HIDDEN_ACTIVATIONS] = Field("relu", description="Activation of every hidden layer.")
    activation_param: float | None = Field(None, description="negative_slope (leaky_relu), alpha (elu) or "
                                           "beta (softplus); PyTorch's default when omitted.")
    loss: Literal[LOSS_NAMES] | None = Field(None, description="Default: cross_entropy for classification "
                                             "(bce_with_logits for binary logistic), mse for regression, "
                                             "perceptron for the perceptron.")

    @model_validator(mode="after")
    def _single_neuron(self):
        if self.kind not in ("mlp", "autoencoder") and self.hidden:
            raise ValueError(f"hidden: a {self.kind} model has no hidden layers (remove 'hidden' or use kind = 'mlp')")
        if self.bottleneck is not None and self.kind != "autoencoder":
            raise ValueError(f"bottleneck: only an autoencoder has one (kind = '{self.kind}')")
        if self.kind == "autoencoder" and not self.hidden and self.bottleneck is None:
            raise ValueError("hidden: an autoencoder needs its encoder sizes (hidden = [32, 8]) or a bottleneck")
        return self


class FeedforwardTransfer(_Strict):
    """Layers copied from a complete feedforward run of a store (weights, bias and batch norm),
    chosen by ``run`` (id or unique prefix) or by ``scenario`` (+ ``point``, ``replicate``)."""

    store: str | None = Field(None, description="The source store, relative to the scenario file; default: "
                              "the store this run writes to (then checked when the run starts).")
    run: str | None = Field(None, pattern=r"^[0-9a-f]+$", description="Source run id or a unique prefix of it.")
    scenario: str | None = Field(None, description="Source scenario name (with point and replicate).")
    point: dict[str, Any] = Field(default_factory=dict, description="Sweep parameters of the source run "
                                  "(dotted key -> value), when its scenario has a sweep.")
    replicate: int = Field(0, ge=0, description="Replicate number of the source run.")
    layers: list[Annotated[int, Field(ge=0)]] = Field(min_length=1, description="Source layer indices.")
    into: list[Annotated[int, Field(ge=0)]] | None = Field(None, description="Destination layer of each "
                                                           "source layer (default: the same indices).")

    @model_validator(mode="after")
    def _source(self):
        if (self.run is None) == (self.scenario is None):
            raise ValueError("init.transfer: name the source run by 'run' or by 'scenario' (one of them)")
        if self.run is not None and (self.point or self.replicate):
            raise ValueError("init.transfer.run: 'point' and 'replicate' select among a scenario's runs; "
                             "a run id needs neither")
        if self.into is not None and len(self.into) != len(self.layers):
            raise ValueError(f"init.transfer.into: {len(self.into)} destinations for {len(self.layers)} layers")
        dest = self.into if self.into is not None else self.layers
        if len(set(dest)) != len(dest):
            raise ValueError(f"init.transfer.into: a destination layer appears twice ({dest})")
        return self


class FeedforwardInit(_Strict):
    weights: str = Field("glorot_uniform", description="Initializer name (dynet.train.initializers).")
    params: dict[str, Any] = Field(default_factory=dict, description="Initializer parameters; Glorot's gain "
                                   "defaults to the hidden activation's recommended gain.")
    bias: float = Field(0.0, description="Constant initial bias.")
    transfer: FeedforwardTransfer | None = Field(None, description="Initialize chosen layers from another run.")

    @model_validator(mode="after")
    def _known(self):
        from .train import initializers

        problems = initializers.validate(self.weights, self.params)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class FeedforwardOptimizer(BaseModel):
    """``name`` and its hyper-parameters with PyTorch's names (``lr``, ``momentum``, ``betas``, ...)."""

    model_config = ConfigDict(extra="allow", strict=True)
    name: str = "sgd"

    @model_validator(mode="after")
    def _known(self):
        from .train import optimizers

        problems = optimizers.validate(self.name, dict(self.model_extra or {}))
        if problems:
            raise ValueError("; ".join(problems))
        return self


class FeedforwardSchedule(BaseModel):
    """Learning-rate schedule ``name`` and parameters (``dynet.train.schedules``); ``lr`` defaults
    to the optimizer's. ``per``: advance it once per epoch (PyTorch's usual ``scheduler.step()``
    after each epoch) or once per optimizer step (cyclic, one-cycle)."""

    model_config = ConfigDict(extra="allow", strict=True)
    name: str = "constant"
    per: Literal["epoch", "step"] = "epoch"


class FeedforwardTraining(_Strict):
    epochs: int = Field(20, ge=1, le=1_000_000)
    batch_size: int | Literal["full"] = Field(32, description="Rows per step; 'full' for full-batch gradient descent.")
    sampling: Literal["permutation", "replacement"] = Field(
        "permutation", description="A fresh permutation per epoch, or uniform draws with replacement.")
    clip_norm: float = Field(0.0, ge=0, description="Clip the global gradient norm (0: off).")
    clip_value: float = Field(0.0, ge=0, description="Clip every gradient element (0: off).")
    freeze: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list, description="Layers (0 = the first) "
                                                      "that training never changes (weights, bias, batch norm).")

    @model_validator(mode="after")
    def _batch(self):
        if isinstance(self.batch_size, int) and self.batch_size < 1:
            raise ValueError("batch_size: must be >= 1 or 'full'")
        return self


class FeedforwardRegularization(_Strict):
    l1: float = Field(0.0, ge=0, description="L1 penalty on weights (not biases).")
    l2: float = Field(0.0, ge=0, description="L2 penalty l2/2 * ||W||^2 on weights (not biases).")
    dropout: float | list[float] = Field(0.0, description="Drop probability after each hidden layer "
                                         "(one value for all, or one per hidden layer).")
    dropout_mode: Literal["inverted", "classic"] = "inverted"
    batch_norm: bool | list[bool] = Field(False, description="Batch normalization between each hidden layer's "
                                          "linear part and its activation (one value for all, or one per "
                                          "hidden layer).")
    batch_norm_momentum: float = Field(0.1, ge=0, le=1, description="PyTorch's momentum of the running "
                                       "statistics: running = (1 - momentum) running + momentum batch.")
    batch_norm_eps: float = Field(1e-5, gt=0, description="Added to the variance before its square root.")

    @model_validator(mode="after")
    def _dropout(self):
        values = self.dropout if isinstance(self.dropout, list) else [self.dropout]
        for p in values:
            if not 0 <= p < 1:
                raise ValueError(f"dropout: must be in [0, 1) (got {p})")
        return self


class EarlyStopping(_Strict):
    patience: int = Field(10, ge=1, description="Epochs without improvement of the validation loss.")
    min_delta: float = Field(0.0, ge=0, description="Smallest decrease that counts as improvement.")
    restore_best: bool = Field(True, description="End with the weights of the best epoch.")


class FeedforwardRecord(_Strict):
    per_step: bool = Field(False, description="Also record the loss and learning rate of every step.")
    snapshot_every: int = Field(0, ge=0, description="Store all weights every k epochs (0: only initial, best, final).")
    checkpoint_every: int = Field(0, ge=0, description="Save a checkpoint every k epochs (0: by time only). A run "
                                  "stopped mid-training resumes from its last checkpoint, bit-identical.")
    checkpoint_seconds: float = Field(60.0, ge=0, description="Also save one when this much training time has "
                                      "passed since the last (0: never by time).")


class FeedforwardScenario(_ScenarioBase):
    """A feedforward network trained by backpropagation."""

    model: Literal["feedforward"]
    data: FeedforwardData
    network: FeedforwardNetwork = Field(default_factory=FeedforwardNetwork)
    init: FeedforwardInit = Field(default_factory=FeedforwardInit)
    optimizer: FeedforwardOptimizer = Field(default_factory=lambda: FeedforwardOptimizer(name="sgd", lr=0.01))
    schedule: FeedforwardSchedule = Field(default_factory=FeedforwardSchedule)
    training: FeedforwardTraining = Field(default_factory=FeedforwardTraining)
    regularization: FeedforwardRegularization = Field(default_factory=FeedforwardRegularization)
    early_stopping: EarlyStopping | None = None
    record: FeedforwardRecord = Field(default_factory=FeedforwardRecord)

    @model_validator(mode="after")
    def _consistent(self):
        from .models.feedforward import hidden_sizes

        n_hidden = len(hidden_sizes(self.network.model_dump()))
        reg = self.regularization
        for key in ("dropout", "batch_norm"):
            value = getattr(reg, key)
            if isinstance(value, list) and len(value) != n_hidden:
                raise ValueError(f"regularization.{key}: lists {len(value)} values for {n_hidden} hidden layers")
        if reg.batch_norm is True and n_hidden == 0:
            raise ValueError(f"regularization.batch_norm: a {self.network.kind} network has no hidden layer "
                             "to normalize")
        bn_any = any(reg.batch_norm) if isinstance(reg.batch_norm, list) else reg.batch_norm
        if bn_any and self.training.batch_size == 1:
            raise ValueError("training.batch_size: batch norm needs at least 2 rows per batch")
        n_layers = n_hidden + 1
        tr = self.init.transfer
        dest = [] if tr is None else [("init.transfer.into", tr.into)] if tr.into else [("init.transfer.layers",
                                                                                          tr.layers)]
        for key, layers in [("training.freeze", self.training.freeze), *dest]:
            bad = [l for l in layers if l >= n_layers]
            if bad:
                raise ValueError(f"{key}: layer {bad[0]} does not exist (the network has layers 0..{n_layers - 1})")
        if self.early_stopping is not None and self.data.validation == 0:
            raise ValueError("early_stopping: needs a validation split (data.validation > 0)")
        sched = _check_schedule(self.schedule, (self.optimizer.model_extra or {}).get("lr", 0.01))
        if sched["name"] == "plateau" and self.data.validation == 0:
            raise ValueError("schedule.name: 'plateau' watches the validation loss: needs data.validation > 0")
        return self


# --------------------------------------------------------------------------- Ising

class IsingLattice(_Strict):
    """An L x L square lattice with periodic boundaries."""

    size: int = Field(32, ge=4, le=8192, description="L; even, so the lattice splits into two checkerboard colours.")
    coupling: float = Field(1.0, description="J in E = -J sum_<ij> s_i s_j - h sum_i s_i.")
    field: float = Field(0.0, description="External field h.")

    @model_validator(mode="after")
    def _even(self):
        if self.size % 2:
            raise ValueError(f"size: {self.size} is odd: a periodic lattice needs an even size "
                             "to be updated in checkerboard order")
        if self.coupling == 0:
            raise ValueError("coupling: must be nonzero")
        return self


class IsingDynamics(_Strict):
    algorithm: Literal["metropolis", "heat-bath"] = "metropolis"
    temperature: float = Field(gt=0, description="T > 0 (units of J / k_B).")
    thermalize: int = Field(1000, ge=0, le=100_000_000, description="Sweeps discarded before measuring.")
    sweeps: int = Field(10_000, ge=1, le=1_000_000_000, description="Measured sweeps.")
    init: Literal["random", "up", "down"] = "random"


class IsingRecord(_Strict):
    every: int = Field(1, ge=1, description="Record m and e every k sweeps.")
    snapshot_every: int = Field(0, ge=0, description="Store the lattice every k sweeps (0: never).")
    blocks: int = Field(20, ge=2, le=10_000, description="Blocks for the error bars of the averages.")


class IsingScenario(_ScenarioBase):
    """The 2D Ising model sampled at temperature T."""

    model: Literal["ising"]
    lattice: IsingLattice = Field(default_factory=IsingLattice)
    dynamics: IsingDynamics
    record: IsingRecord = Field(default_factory=IsingRecord)

    @model_validator(mode="after")
    def _enough(self):
        if self.record.snapshot_every % self.record.every:
            raise ValueError(f"record.snapshot_every: {self.record.snapshot_every} must be a multiple of "
                             f"record.every {self.record.every}")
        if self.dynamics.sweeps // self.record.every < self.record.blocks:
            raise ValueError(f"record.blocks: {self.record.blocks} needs at least that many records "
                             f"(dynamics.sweeps / record.every = {self.dynamics.sweeps // self.record.every})")
        return self


# --------------------------------------------------------------------------- RBM

class _RBMDataBase(_Strict):
    validation: float = Field(0.2, ge=0, lt=1, description="Fraction of samples held out for validation "
                              "(drawn from the run's seed).")
    standardize: Literal["unit", "global", "none"] | None = Field(
        None, description="Gaussian visible units only: shift every unit to mean 0 on the training split and "
        "scale it to std 1 (unit, the default), or scale all units by one factor to mean variance 1 (global: "
        "keeps nearly constant units, such as the digits' border pixels, from blowing up), or neither (none).")


class RBMDigitsData(_RBMDataBase):
    """The bundled 8x8 digits (1797 x 64), binarized: v = pixel / 16 > threshold (Bernoulli visible
    units), or the pixel intensities 0..16 (Gaussian visible units)."""

    source: Literal["digits"]
    threshold: float | None = Field(0.5, ge=0, lt=1, description="Pixel / 16 above this is 1 (Bernoulli "
                                    "visible units only).")


class RBMBarsStripesData(_RBMDataBase):
    """Every distinct size x size bars-and-stripes image (2^(size+1) - 2 of them)."""

    source: Literal["bars-stripes"]
    size: int = Field(4, ge=2, le=8, description="Image side; 4 gives the classic 30 patterns of 16 pixels.")
    validation: float = Field(0.0, ge=0, lt=1, description="Fraction held out (default none: the "
                              "exact log-likelihood of the whole set is the point).")


class RBMFileData(_RBMDataBase):
    """User data: a .npy/.npz array (samples x visible) of 0/1 (or bool), or binarized by threshold;
    any finite real values for Gaussian visible units."""

    source: Literal["file"]
    path: str = Field(description="Path to the file, relative to the scenario file.")
    key: str | None = Field(None, description="Array name inside a .npz (default: its only array).")
    threshold: float | None = Field(None, description="Binarize: values above it are 1 (default: values "
                                    "must already be 0 or 1).")


class RBMIrisData(_RBMDataBase):
    """The bundled iris measurements (150 x 4, real-valued: Gaussian visible units only)."""

    source: Literal["iris"]


RBMData = Annotated[Union[RBMDigitsData, RBMBarsStripesData, RBMFileData, RBMIrisData],
                    Field(discriminator="source")]


class RBMNetwork(_Strict):
    n_hidden: int = Field(ge=1, le=100_000, description="Number of binary hidden units.")
    visible: Literal["bernoulli", "gaussian"] = Field(
        "bernoulli", description="bernoulli: binary visible units; gaussian: real visible units "
        "v_i ~ N(b_i + sigma_i (W h)_i, sigma_i^2) (Gaussian-Bernoulli RBM).")
    sigma: float | list[float] | None = Field(
        None, description="Gaussian visible units only: the fixed standard deviation of every visible unit "
        "(one value, or one per unit); default 1, for standardized data.")
    init_std: float = Field(0.01, gt=0, le=10, description="Initial weights W ~ N(0, init_std^2) "
                            "(scikit-learn: 0.01).")
    visible_bias: Literal["zero", "data"] = Field(
        "zero", description="Initial visible biases: zero (scikit-learn) or log(p_i / (1 - p_i)) of the "
        "training data (Hinton's guide; Gaussian visible units: the training data's mean).")
    hidden_bias: float = Field(0.0, description="Initial hidden biases.")


class RBMTraining(_Strict):
    method: Literal["cd", "pcd"] = Field("cd", description="cd: contrastive divergence from the data; pcd: "
                                         "persistent chains, one per batch row (scikit-learn's BernoulliRBM).")
    k: int = Field(1, ge=1, le=100_000, description="Gibbs steps per update (CD-k, PCD-k).")
    epochs: int = Field(20, ge=1, le=1_000_000)
    batch_size: int = Field(10, ge=1, le=1_000_000, description="Rows per update.")
    lr: float = Field(0.05, gt=0, description="Learning rate (the schedule's starting rate).")
    momentum: float = Field(0.0, ge=0, lt=1, description="d = momentum * d + lr * gradient; param += d.")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty on W: gradient - weight_decay * W.")
    shuffle: bool = Field(True, description="A fresh permutation of the rows every epoch (false: the data "
                          "order every epoch, as scikit-learn).")


class RBMSparsity(_Strict):
    """Hidden sparsity target (Lee et al. 2008): the hidden biases get cost * (target - mean q)."""

    target: float = Field(gt=0, lt=1, description="Target mean activation p of each hidden unit.")
    cost: float = Field(ge=0, description="Weight lambda of the sparsity term.")


class RBMSchedule(BaseModel):
    """Learning-rate schedule ``name`` and parameters (``dynet.train.schedules``; not ``plateau``);
    ``lr`` defaults to ``training.lr``. ``per``: advance it once per epoch or once per update."""

    model_config = ConfigDict(extra="allow", strict=True)
    name: str = "constant"
    per: Literal["epoch", "step"] = "epoch"


def _check_schedule(schedule: BaseModel, lr: float, *, no_plateau: str | None = None) -> dict:
    """Validate a schedule table (``name`` and its parameters, ``lr`` defaulting to ``lr``); return it.

    ``no_plateau`` names a model with no loss for reduce-on-plateau to watch."""
    from .train import schedules

    sched = {"name": schedule.name, **(schedule.model_extra or {})}
    if no_plateau and sched["name"] == "plateau":
        raise ValueError(f"schedule.name: 'plateau' is not available for {no_plateau} (no loss to watch); "
                         "use a fixed schedule")
    spec = schedules.SCHEDULES.get(sched["name"])
    if spec is not None and "lr" in [p.name for p in spec.params] and "lr" not in sched:
        sched["lr"] = lr
    problems = schedules.validate_schedule(sched)
    if problems:
        raise ValueError("; ".join("schedule." + p for p in problems))
    return sched


class RBMSampling(_Strict):
    """Gibbs chains from random visibles after training; every ``every``-th visible sample is stored."""

    chains: int = Field(10, ge=0, le=100_000, description="Independent chains (0: no sampling).")
    steps: int = Field(1000, ge=1, le=100_000_000, description="Gibbs steps (h ~ p(h|v), v ~ p(v|h)) per chain.")
    every: int = Field(100, ge=1, description="Store the visible state every k steps.")


class RBMRecord(_Strict):
    every: int = Field(1, ge=1, description="Evaluate every k epochs (and the last).")
    exact_max: int = Field(20, ge=0, le=26, description="Exact log Z and log-likelihood when "
                           "min(n_visible, n_hidden) <= this (2^that terms per evaluation); Gaussian visible "
                           "units: when n_hidden <= this.")
    snapshot_every: int = Field(0, ge=0, description="Store W every k epochs (0: only initial and final).")
    ais_runs: int = Field(0, ge=0, le=1_000_000, description="Annealed importance sampling estimate of log Z "
                          "with this many runs (0: none).")
    ais_betas: int = Field(10_000, ge=1, le=1_000_000, description="Intermediate distributions of each AIS "
                           "run (steps from beta = 0 to 1).")
    ais_ladder: Literal["linear", "geometric"] = Field(
        "linear", description="Spacing of the AIS betas: linear, or geometric from 1e-4 to 1.")
    ais_every: int = Field(0, ge=0, description="AIS every k epochs (a multiple of every; and the last epoch); "
                           "0: after training only.")


class RBMScenario(_ScenarioBase):
    """A restricted Boltzmann machine (Bernoulli or Gaussian visible units) trained by CD-k or PCD-k."""

    model: Literal["rbm"]
    data: RBMData
    network: RBMNetwork
    training: RBMTraining = Field(default_factory=RBMTraining)
    sparsity: RBMSparsity | None = None
    schedule: RBMSchedule = Field(default_factory=RBMSchedule)
    sampling: RBMSampling = Field(default_factory=RBMSampling)
    record: RBMRecord = Field(default_factory=RBMRecord)

    @model_validator(mode="after")
    def _consistent(self):
        _check_schedule(self.schedule, self.training.lr, no_plateau="rbm")
        if self.sampling.chains and self.sampling.every > self.sampling.steps:
            raise ValueError(f"sampling.every {self.sampling.every} is larger than sampling.steps "
                             f"{self.sampling.steps}: nothing would be stored")
        if self.record.ais_every and not self.record.ais_runs:
            raise ValueError("record.ais_every: needs record.ais_runs > 0 (the number of AIS runs)")
        if self.record.ais_every % self.record.every:
            raise ValueError(f"record.ais_every: {self.record.ais_every} is not a multiple of record.every "
                             f"{self.record.every} (AIS estimates go into recorded epochs)")
        data, net = self.data, self.network
        if net.visible == "gaussian":
            if "threshold" in data.model_fields_set and data.threshold is not None:
                raise ValueError("data.threshold: binarization does not apply to real-valued visible units "
                                 "(network.visible = 'gaussian'); remove it")
            # the resolved config says: not binarized, standardized, sigma 1 (new tables, not
            # changed ones: a sweep's points share the tables they do not change)
            fill = {"threshold": None} if isinstance(data, RBMDigitsData) else {}
            if data.standardize is None:
                fill["standardize"] = "unit"
            if fill:
                self.data = data = data.model_copy(update=fill)
            if net.sigma is None:
                self.network = net = net.model_copy(update={"sigma": 1.0})
            sigmas = net.sigma if isinstance(net.sigma, list) else [net.sigma]
            if not sigmas or not all(0 < x < float("inf") for x in sigmas):
                raise ValueError(f"network.sigma: every standard deviation must be finite and > 0 (got {net.sigma})")
        else:
            if data.standardize is not None:
                raise ValueError("data.standardize: applies to real-valued visible units only "
                                 "(network.visible = 'gaussian')")
            if net.sigma is not None:
                raise ValueError("network.sigma: applies to network.visible = 'gaussian' only")
            if isinstance(data, RBMIrisData):
                raise ValueError("data.source: 'iris' is real-valued; set network.visible = 'gaussian'")
        return self


# --------------------------------------------------------------------------- DBM

class DBMNetwork(_Strict):
    n_hidden1: int = Field(ge=1, le=100_000, description="Binary units of the first hidden layer h1 (joined to v).")
    n_hidden2: int = Field(ge=1, le=100_000, description="Binary units of the second hidden layer h2 (joined "
                           "to h1).")
    init_std: float = Field(0.01, gt=0, le=10, description="Initial W1, W2 ~ N(0, init_std^2).")
    visible_bias: Literal["zero", "data"] = Field(
        "zero", description="Initial visible biases: zero or log(p_i / (1 - p_i)) of the training data.")
    hidden_bias: float = Field(0.0, description="Initial biases of both hidden layers.")


class DBMTraining(_Strict):
    epochs: int = Field(20, ge=1, le=1_000_000)
    batch_size: int = Field(10, ge=1, le=1_000_000, description="Data rows per update (mean-field positive phase).")
    chains: int = Field(100, ge=1, le=1_000_000, description="Persistent Gibbs chains of the negative phase.")
    k: int = Field(1, ge=1, le=100_000, description="Block Gibbs steps of every chain per update.")
    lr: float = Field(0.01, gt=0, description="Learning rate (the schedule's starting rate).")
    momentum: float = Field(0.0, ge=0, lt=1, description="d = momentum * d + lr * gradient; param += d.")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty on W1 and W2: gradient - weight_decay * W.")
    shuffle: bool = Field(True, description="A fresh permutation of the rows every epoch.")


class DBMMeanField(_Strict):
    """Mean-field inference of q(h1), q(h2) given v (the positive phase and the evaluation)."""

    iterations: int = Field(30, ge=1, le=100_000, description="At most this many iterations (both blocks each).")
    tolerance: float = Field(1e-6, ge=0, description="Stop when every q changed by less than this in an "
                             "iteration (0: always run every iteration).")
    damping: float = Field(0.0, ge=0, lt=1, description="q <- damping * q + (1 - damping) * update.")


class DBMPretraining(_Strict):
    """Greedy layer-wise pretraining (Salakhutdinov & Hinton 2009): CD-k on the bottom RBM with its
    visible layer doubled, then on the top RBM with its hidden layer doubled; batch size, momentum,
    weight decay and shuffling as in [training]."""

    epochs: int = Field(0, ge=0, le=1_000_000, description="Epochs of each of the two RBMs (0: no pretraining).")
    lr: float = Field(0.05, gt=0, description="Constant learning rate of both RBMs.")
    k: int = Field(1, ge=1, le=100_000, description="Gibbs steps per update (CD-k).")


class DBMRecord(_Strict):
    every: int = Field(1, ge=1, description="Evaluate every k epochs (and the last).")
    exact_max: int = Field(20, ge=0, le=24, description="Exact log Z, log-likelihood and lower bound when "
                           "min(n_hidden1, n_visible + n_hidden2) <= this (2^that terms for log Z).")


class DBMScenario(_ScenarioBase):
    """A two-layer deep Boltzmann machine: mean-field positive phase, persistent chains (Salakhutdinov &
    Hinton 2009)."""

    model: Literal["dbm"]
    data: RBMData
    network: DBMNetwork
    training: DBMTraining = Field(default_factory=DBMTraining)
    mean_field: DBMMeanField = Field(default_factory=DBMMeanField)
    pretraining: DBMPretraining = Field(default_factory=DBMPretraining)
    schedule: RBMSchedule = Field(default_factory=RBMSchedule)
    sampling: RBMSampling = Field(default_factory=RBMSampling)
    record: DBMRecord = Field(default_factory=DBMRecord)

    @model_validator(mode="after")
    def _consistent(self):
        data = self.data
        if data.source == "iris":
            raise ValueError("data.source: 'iris' is real-valued; a dbm has binary visible units")
        if data.standardize is not None:
            raise ValueError("data.standardize: applies to real-valued visible units only (not to a dbm)")
        if data.source == "digits" and data.threshold is None:
            raise ValueError("data.threshold: a dbm needs binary digits (pixel / 16 > threshold)")
        _check_schedule(self.schedule, self.training.lr, no_plateau="dbm")
        if self.sampling.chains and self.sampling.every > self.sampling.steps:
            raise ValueError(f"sampling.every {self.sampling.every} is larger than sampling.steps "
                             f"{self.sampling.steps}: nothing would be stored")
        return self


# --------------------------------------------------------------------------- dbn

class DBNData(_Strict):
    """The bundled 8x8 digits (1797 x 64, 10 classes), split into training, validation and test
    rows as a feedforward run splits them; pretraining sees the training rows only."""

    source: Literal["digits"]
    visible: Literal["probability", "binary"] = Field(
        "probability", description="probability: the inputs are pixel / 16 and every pretraining epoch "
        "draws fresh binary visible vectors from them; binary: pixel / 16 > threshold, for both.")
    threshold: float | None = Field(None, ge=0, lt=1, description="visible = 'binary' only: pixel / 16 "
                                    "above this is 1 (default 0.5).")
    validation: float = Field(0.2, ge=0, lt=1, description="Fraction of samples held out for validation.")
    test: float = Field(0.0, ge=0, lt=1, description="Fraction of samples held out for the test split.")

    @model_validator(mode="after")
    def _consistent(self):
        if self.validation + self.test >= 1:
            raise ValueError("validation: validation + test must leave samples for training")
        if self.threshold is not None and self.visible != "binary":
            raise ValueError("threshold: only applies to visible = 'binary' (probability inputs are not "
                             "thresholded)")
        return self


class DBNNetwork(_Strict):
    hidden: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(
        description="Hidden layer sizes, bottom up: RBM l has hidden[l] hidden units; the classifier has "
        "these sigmoid layers and a softmax output layer.")

    @model_validator(mode="after")
    def _not_empty(self):
        if not self.hidden:
            raise ValueError("hidden: needs at least one hidden layer (a DBN is a stack of RBMs)")
        return self


class DBNPretraining(RBMTraining):
    """Greedy layer-wise RBM training: every layer with the rbm scenario's ``[training]`` options
    and these initial parameters (the rbm scenario's ``network`` keys), schedule and sparsity."""

    init_std: float = Field(0.01, gt=0, le=10, description="Initial weights W ~ N(0, init_std^2).")
    visible_bias: Literal["zero", "data"] = Field(
        "zero", description="Initial visible biases: zero or log(p_i / (1 - p_i)) of the layer's training "
        "input (Hinton's guide).")
    hidden_bias: float = Field(0.0, description="Initial hidden biases.")
    schedule: RBMSchedule = Field(default_factory=RBMSchedule)
    sparsity: RBMSparsity | None = None

    @model_validator(mode="after")
    def _schedule(self):
        _check_schedule(self.schedule, self.lr, no_plateau="pretraining")
        return self


#: The dbn scenario's tables that configure fine-tuning: the feedforward scenario's own.
DBN_FINE_TUNING = ("init", "optimizer", "schedule", "training", "regularization", "early_stopping", "record")


def dbn_feedforward_doc(dbn: dict) -> dict:
    """The feedforward scenario (a dict, as from TOML) that fine-tunes a dbn scenario's network:
    the same digits split (unstandardized: the dbn driver rescales the pixels), an mlp with the
    dbn's hidden sizes and sigmoid units, and the dbn's fine-tuning tables."""
    data = dbn["data"]
    doc = {"name": dbn.get("name", "dbn"), "model": "feedforward", "seed": dbn["seed"],
           "data": {"source": "digits", "validation": data.get("validation", 0.2), "test": data.get("test", 0.0),
                    "standardize": False},
           "network": {"kind": "mlp", "hidden": list(dbn["network"]["hidden"]), "activation": "sigmoid"}}
    doc.update({k: dbn[k] for k in DBN_FINE_TUNING if k in dbn})
    return doc


class DBNScenario(_ScenarioBase):
    """A deep belief network: greedy layer-wise RBM pretraining, then a sigmoid classifier
    initialized from it and fine-tuned by backpropagation (or, with ``pretrain = false``, the
    same classifier trained from its random initialization)."""

    model: Literal["dbn"]
    data: DBNData
    network: DBNNetwork
    pretrain: bool = Field(True, description="Initialize the hidden layers from the pretrained RBMs (false: "
                           "from init.weights, the baseline).")
    pretraining: DBNPretraining = Field(default_factory=DBNPretraining)
    # fine-tuning: the feedforward scenario's fields, with its defaults and checks
    init: FeedforwardInit = FeedforwardScenario.model_fields["init"]
    optimizer: FeedforwardOptimizer = FeedforwardScenario.model_fields["optimizer"]
    schedule: FeedforwardSchedule = FeedforwardScenario.model_fields["schedule"]
    training: FeedforwardTraining = FeedforwardScenario.model_fields["training"]
    regularization: FeedforwardRegularization = FeedforwardScenario.model_fields["regularization"]
    early_stopping: EarlyStopping | None = FeedforwardScenario.model_fields["early_stopping"]
    record: FeedforwardRecord = FeedforwardScenario.model_fields["record"]

    @model_validator(mode="after")
    def _fine_tuning(self):
        if getattr(self.init, "transfer", None) is not None:
            raise ValueError("init.transfer: a dbn initializes its hidden layers by pretraining; transfer "
                             "layers in a feedforward scenario")
        bn = getattr(self.regularization, "batch_norm", False)
        if self.pretrain and (any(bn) if isinstance(bn, list) else bn):
            raise ValueError("regularization.batch_norm: normalizing the pretrained layers' pre-activations, "
                             "the network would no longer compute the RBMs' p(h | v); not with pretrain = true")
        # the checks across tables (dropout per layer, early stopping and plateau need a validation split)
        try:
            FeedforwardScenario.model_validate(dbn_feedforward_doc(self.model_dump(mode="json")))
        except ValidationError as exc:
            raise ValueError("; ".join(_format_error(FeedforwardScenario, e) for e in exc.errors())) from None
        return self


# --------------------------------------------------------------------------- boltzmann

BM_MAX_UNITS = 4096  # one dense float64 W: 128 MiB at this size
BM_EXACT_MAX = 24  # exact sums enumerate 2^units terms
BM_EXACT_AUTO = 20  # record.exact unset: exact sums up to this many units


class BMNetwork(_Strict):
    """Binary units, visible first then hidden (layer by layer); one dense symmetric W with zero
    diagonal and a mask of the couplings the topology has."""

    topology: Literal["full", "bipartite", "layered", "lattice"] = Field(
        "full", description="full: every pair coupled; bipartite: visible-hidden only (restricted); layered: "
        "adjacent layers visible-h1-h2-... only (deep); lattice: size x size periodic square lattice, "
        "nearest neighbours only.")
    visible: int | None = Field(None, ge=1, le=BM_MAX_UNITS, description="Visible units (not for lattice).")
    hidden: Annotated[int, Field(ge=0, le=BM_MAX_UNITS)] | list[Annotated[int, Field(ge=1, le=BM_MAX_UNITS)]] = Field(
        0, description="Hidden units; for layered a list of layer sizes (h1, h2, ...).")
    size: int | None = Field(None, ge=3, le=64, description="Lattice side L (lattice only): n = L^2 visible units.")
    spins: Literal["binary", "ising"] = Field("binary", description="Unit states: binary {0, 1} or ising {-1, +1}.")

    @model_validator(mode="after")
    def _shape(self):
        t = self.topology
        if t == "lattice":
            if self.size is None:
                raise ValueError("size: required for topology = 'lattice'")
            if self.visible is not None or self.hidden not in (0, []):
                raise ValueError("visible: a lattice has size^2 visible units and no hidden units: "
                                 "give only network.size")
            return self
        if self.size is not None:
            raise ValueError(f"size: only for topology = 'lattice' (topology is {t!r})")
        if self.visible is None:
            raise ValueError(f"visible: required for topology = {t!r}")
        if isinstance(self.hidden, list) and t != "layered":
            raise ValueError(f"hidden: a list of layers needs topology = 'layered' (topology is {t!r})")
        if t == "bipartite" and self.hidden == 0:
            raise ValueError("hidden: a bipartite (restricted) machine needs hidden units")
        if t == "layered" and self.hidden in (0, []):
            raise ValueError("hidden: a layered machine needs at least one hidden layer")
        if self.n_units > BM_MAX_UNITS:
            raise ValueError(f"hidden: {self.n_units} units in all; at most {BM_MAX_UNITS}")
        return self

    @property
    def layers(self) -> list[int]:
        """Unit counts: the visible layer, then each hidden layer (empty ones left out)."""
        if self.topology == "lattice":
            return [self.size * self.size]
        hidden = self.hidden if isinstance(self.hidden, list) else [self.hidden]
        return [self.visible] + [h for h in hidden if h]

    @property
    def n_units(self) -> int:
        return sum(self.layers)


class BMSKWeights(_Strict):
    """Sherrington-Kirkpatrick couplings on the topology's pairs: W_ij ~ N(mean / n, coupling^2 / n)."""

    source: Literal["sk"]
    coupling: float = Field(1.0, gt=0, description="J: the couplings' standard deviation is J / sqrt(n).")
    mean: float = Field(0.0, description="J0: the couplings' mean is J0 / n.")
    bias: float = Field(0.0, description="Bias (field) b of every unit.")
    seed: int | None = Field(None, ge=0, lt=2**63, description="Draw the couplings from this seed instead of "
                             "the run's: one instance shared by every run (sweep it for several instances).")


class BMConstantWeights(_Strict):
    """One coupling J on every pair of the topology (a lattice: the Ising model; full: Curie-Weiss)."""

    source: Literal["constant"]
    coupling: float = Field(1.0, description="J (> 0 ferromagnetic).")
    bias: float = Field(0.0, description="Bias (field) b of every unit.")

    @model_validator(mode="after")
    def _nonzero(self):
        if self.coupling == 0:
            raise ValueError("coupling: must be nonzero")
        return self


class BMHebbianWeights(_Strict):
    """Hebbian weights of random +-1 patterns (Hopfield): W = (1/n) sum_mu xi xi^T on the topology's
    pairs, zero diagonal. Needs network.spins = 'ising'."""

    source: Literal["hebbian"]
    patterns: int = Field(3, ge=1, le=BM_MAX_UNITS, description="Number of stored random patterns P.")
    pattern_bias: float = Field(0.0, gt=-1, lt=1, description="P(xi_i = +1) = (1 + pattern_bias) / 2.")
    bias: float = Field(0.0, description="Bias (field) b of every unit.")
    seed: int | None = Field(None, ge=0, lt=2**63, description="Draw the patterns from this seed instead of "
                             "the run's: the same patterns in every run (sweep it for several sets).")


class BMFileWeights(_Strict):
    """Weights from a .npy/.npz file: a symmetric (n, n) matrix with zero diagonal, zero off the topology."""

    source: Literal["file"]
    path: str = Field(description="Path to the file, relative to the scenario file.")
    key: str | None = Field(None, description="Array name of W inside a .npz (default: its only array).")
    bias_key: str | None = Field(None, description="Array name of the biases (n,) inside the same .npz "
                                 "(default: the constant 'bias').")
    bias: float = Field(0.0, description="Bias of every unit when bias_key is not given.")


BMWeights = Annotated[Union[BMSKWeights, BMConstantWeights, BMHebbianWeights, BMFileWeights],
                      Field(discriminator="source")]


class BMInit(_Strict):
    """Initial state of a sampling run (every replica of parallel tempering draws its own)."""

    kind: Literal["random", "pattern", "mixture"] = Field(
        "random", description="random: each unit on with probability 'activity'; pattern: stored pattern "
        "'pattern' with a fraction 'flip' of units flipped; mixture: sign of the sum of stored patterns "
        "'patterns' (hebbian weights).")
    activity: float = Field(0.5, ge=0, le=1, description="random: P(unit = on).")
    pattern: int = Field(0, ge=0, description="pattern: index of the stored pattern.")
    flip: float = Field(0.0, ge=0, le=1, description="pattern: fraction of units flipped.")
    patterns: list[Annotated[int, Field(ge=0)]] = Field([0, 1, 2], description="mixture: an odd number of "
                                                        "distinct stored patterns.")


class BMDynamics(_Strict):
    """Single-unit sweeps of a sampling run and its temperature schedule."""

    method: Literal["gibbs", "metropolis"] = Field(
        "gibbs", description="gibbs: s_i on with probability sigmoid(dE_i / T) (heat bath, Glauber); "
        "metropolis: flip with probability min(1, exp(-dE / T)).")
    order: Literal["sequential", "permutation"] = Field(
        "sequential", description="Units in index order every sweep, or a fresh random permutation.")
    schedule: Literal["constant", "quench", "linear", "geometric", "custom", "tempering"] = Field(
        "constant", description="constant: 'temperature'; quench: T = 0 (descent to a fixed point); "
        "linear/geometric/custom: simulated annealing ([anneal]); tempering: parallel tempering ([tempering]). "
        "Settings of the other schedules are ignored, so one file can sweep this key.")
    temperature: float | None = Field(None, description="T > 0 of the constant schedule.")
    sweeps: int = Field(1000, ge=1, le=100_000_000, description="Sweeps (annealing: the schedule's length; "
                        "quench: the most sweeps; tempering: rounds).")
    burn_in: int = Field(0, ge=0, le=100_000_000, description="Sweeps run before 'sweeps' and not recorded "
                         "(constant and tempering).")


class BMAnneal(_Strict):
    """Simulated annealing over dynamics.sweeps sweeps: linear or geometric from t_start to t_end,
    or a custom staircase of temperatures, then (quench) zero-temperature sweeps to a fixed point."""

    t_start: float | None = Field(None, description="First temperature (linear, geometric).")
    t_end: float | None = Field(None, description="Last temperature (linear, geometric).")
    temperatures: list[float] | None = Field(None, description="custom: temperatures held for equal shares "
                                             "of the sweeps, in order.")
    quench: bool = Field(True, description="Finish with T = 0 sweeps until a fixed point.")
    quench_sweeps: int = Field(100, ge=1, le=1_000_000, description="At most this many T = 0 sweeps.")


class BMTempering(_Strict):
    """Parallel tempering: replicas at an increasing ladder of temperatures swap neighbours."""

    temperatures: list[float] | None = Field(None, description="The ladder, strictly increasing, T > 0.")
    t_min: float | None = Field(None, description="Geometric ladder from t_min ...")
    t_max: float | None = Field(None, description="... to t_max ...")
    replicas: int | None = Field(None, ge=2, le=256, description="... with this many temperatures.")
    swap_every: int = Field(1, ge=1, description="Attempt swaps every k rounds (even and odd pairs alternate).")

    @model_validator(mode="after")
    def _ladder(self):
        geo = (self.t_min, self.t_max, self.replicas)
        if self.temperatures is not None:
            if any(v is not None for v in geo):
                raise ValueError("temperatures: give either the ladder or t_min, t_max and replicas, not both")
            t = self.temperatures
            if len(t) < 2:
                raise ValueError(f"temperatures: needs at least 2 temperatures (got {len(t)})")
            if min(t) <= 0:
                raise ValueError(f"temperatures: every temperature must be > 0 (got {min(t)})")
            if any(b <= a for a, b in zip(t, t[1:])):
                raise ValueError(f"temperatures: must be strictly increasing (got {t})")
        else:
            if any(v is None for v in geo):
                raise ValueError("temperatures: give the ladder, or t_min, t_max and replicas")
            if not 0 < self.t_min < self.t_max:
                raise ValueError(f"t_min: need 0 < t_min < t_max (got {self.t_min}, {self.t_max})")
        return self

    @property
    def ladder(self) -> list[float]:
        if self.temperatures is not None:
            return list(self.temperatures)
        return np.geomspace(self.t_min, self.t_max, self.replicas).tolist()


class BMTraining(_Strict):
    """The Boltzmann learning rule dW_ij = lr (<s_i s_j>_data - <s_i s_j>_model), with persistent chains."""

    epochs: int = Field(100, ge=1, le=1_000_000)
    batch_size: int = Field(10, ge=1, le=1_000_000, description="Data rows per update.")
    lr: float = Field(0.05, gt=0, description="Learning rate (the schedule's starting rate).")
    momentum: float = Field(0.0, ge=0, lt=1, description="d = momentum * d + lr * gradient; param += d.")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty on W: gradient - weight_decay * W.")
    chains: int = Field(100, ge=1, le=1_000_000, description="Persistent free-phase chains.")
    free_sweeps: int = Field(1, ge=1, le=100_000, description="Gibbs sweeps of every free chain per update.")
    clamped_sweeps: int = Field(1, ge=1, le=100_000, description="Gibbs sweeps over the hidden units of each "
                                "batch row's persistent clamped chain per update.")
    init_std: float = Field(0.01, ge=0, le=10, description="Initial couplings ~ N(0, init_std^2).")
    visible_bias: Literal["zero", "data"] = Field(
        "zero", description="Initial visible biases: zero, or those of the independent-unit model of the "
        "training data (logit of the mean for binary units, atanh of it for ising).")
    shuffle: bool = Field(True, description="A fresh permutation of the rows every epoch.")


class BMRecord(_Strict):
    every: int = Field(1, ge=1, description="Record every k sweeps (sampling) or epochs (learning).")
    snapshot_every: int = Field(0, ge=0, description="Store the state (sampling) or W (learning) every k "
                                "sweeps / epochs (0: never).")
    exact: bool | None = Field(None, description=f"Exact log Z by enumeration (2^units terms): learning "
                               f"records the exact log-likelihood, a constant-temperature run the exact <E>. "
                               f"Default: when units <= {BM_EXACT_AUTO}; at most {BM_EXACT_MAX} units.")
    weights: bool = Field(False, description="Store W, the biases and the coupling mask of a sampling run "
                          "(learning runs always store them).")


class BoltzmannScenario(_ScenarioBase):
    """A general Boltzmann machine: sampled (weights given) or trained (training and data given)."""

    model: Literal["boltzmann"]
    network: BMNetwork
    weights: BMWeights | None = None
    init: BMInit = Field(default_factory=BMInit)
    dynamics: BMDynamics = Field(default_factory=BMDynamics)
    anneal: BMAnneal | None = None
    tempering: BMTempering | None = None
    data: RBMData | None = None
    training: BMTraining | None = None
    schedule: RBMSchedule = Field(default_factory=RBMSchedule)
    record: BMRecord = Field(default_factory=BMRecord)

    @model_validator(mode="after")
    def _consistent(self):
        net = self.network
        n = net.n_units
        if (self.weights is None) == (self.training is None):
            raise ValueError("weights: give [weights] (a sampling run) or [training] with [data] (a learning "
                             "run), not both or neither")
        if self.record.exact and n > BM_EXACT_MAX:
            raise ValueError(f"record.exact: exact enumeration needs at most {BM_EXACT_MAX} units "
                             f"(2^units terms); this network has {n}")
        if self.training is not None:
            return self._learning(n)
        if self.data is not None:
            raise ValueError("data: only for learning runs (with [training])")
        w = self.weights
        if w.source == "hebbian" and net.spins != "ising":
            raise ValueError("weights.source: hebbian weights need network.spins = 'ising' (+-1 units)")
        init = self.init
        if init.kind != "random":
            if w.source != "hebbian":
                raise ValueError(f"init.kind: {init.kind!r} starts from stored patterns: needs hebbian weights")
            if init.kind == "pattern" and init.pattern >= w.patterns:
                raise ValueError(f"init.pattern: {init.pattern} is out of range for {w.patterns} patterns")
            if init.kind == "mixture":
                p = init.patterns
                if len(p) % 2 == 0 or len(set(p)) != len(p):
                    raise ValueError(f"init.patterns: needs an odd number of distinct patterns (got {p})")
                if max(p) >= w.patterns:
                    raise ValueError(f"init.patterns: {max(p)} is out of range for {w.patterns} patterns")
        dyn = self.dynamics
        if dyn.schedule == "constant":
            if dyn.temperature is None:
                raise ValueError("dynamics.temperature: required with schedule = 'constant'")
            if dyn.temperature <= 0:
                raise ValueError(f"dynamics.temperature: must be > 0 (got {dyn.temperature}); "
                                 "zero-temperature dynamics is schedule = 'quench'")
        elif dyn.schedule in ("linear", "geometric", "custom"):
            a = self.anneal
            if a is None:
                raise ValueError(f"anneal: required with dynamics.schedule = {dyn.schedule!r}")
            if dyn.schedule == "custom":
                t = a.temperatures
                if not t:
                    raise ValueError("anneal.temperatures: a custom schedule needs a non-empty list of temperatures")
                if min(t) <= 0:
                    raise ValueError(f"anneal.temperatures: every temperature must be > 0 (got {min(t)})")
                if len(t) > dyn.sweeps:
                    raise ValueError(f"anneal.temperatures: {len(t)} temperatures for {dyn.sweeps} sweeps "
                                     "(dynamics.sweeps): at least one sweep each")
            else:
                for key in ("t_start", "t_end"):
                    v = getattr(a, key)
                    if v is None:
                        raise ValueError(f"anneal.{key}: required with dynamics.schedule = {dyn.schedule!r}")
                    if v <= 0:
                        raise ValueError(f"anneal.{key}: must be > 0 (got {v})")
        elif dyn.schedule == "tempering" and self.tempering is None:
            raise ValueError("tempering: required with dynamics.schedule = 'tempering'")
        return self

    def _learning(self, n: int):
        if self.data is None:
            raise ValueError("data: required with [training]")
        d = self.data
        if d.source not in ("digits", "bars-stripes", "file"):
            raise ValueError(f"data.source: {d.source!r} data are real-valued; the units of a Boltzmann machine "
                             "are binary (digits, bars-stripes or file)")
        if getattr(d, "threshold", 0.0) is None and d.source == "digits":
            raise ValueError("data.threshold: binary units need the digits binarized (a threshold in [0, 1))")
        if getattr(d, "standardize", None) is not None:
            raise ValueError("data.standardize: only for Gaussian visible units; these units are binary")
        nv = self.network.layers[0]
        need = {"digits": 64, "bars-stripes": getattr(d, "size", 0) ** 2}.get(d.source)
        if need is not None and need != nv:
            raise ValueError(f"network.visible: {d.source} data have {need} visible units, not {nv}")
        _check_schedule(self.schedule, self.training.lr, no_plateau="boltzmann")
        return self


SCENARIO_MODELS: dict[str, type[_ScenarioBase]] = {"hopfield": HopfieldScenario,
                                                  "feedforward": FeedforwardScenario,
                                                  "ising": IsingScenario,
                                                  "rbm": RBMScenario,
                                                  "dbm": DBMScenario,
                                                  "dbn": DBNScenario,
                                                  "boltzmann": BoltzmannScenario}


# --------------------------------------------------------------------------- memory

#: The most memory one run may need (its largest arrays, estimated from its settings before
#: anything is allocated: validation refuses a run that would not fit a worker).
MAX_RUN_BYTES = 4 * 2**30


def _data_shape(data: BaseModel) -> tuple[int, int, int] | None:
    """(rows, input columns, output width) of a data table without loading it; None for a user
    file (its own size bounds it)."""
    src = data.source
    if src == "digits":
        return 1797, 64, 10
    if src == "iris":
        return 150, 4, 3
    if src == "bars-stripes":
        return 2 ** (data.size + 1) - 2, data.size ** 2, 1
    if src == "xor":
        return data.n_samples, 2, 2
    if src == "parity":
        return data.n_samples or 2 ** data.n_bits, data.n_bits, 2
    if src == "blobs":
        return data.n_samples, data.n_features, data.n_classes
    if src == "spirals":
        return data.n_samples, 2, data.n_classes
    if src in ("linear", "moons"):
        return data.n_samples, 2, 2
    return None


def _hopfield_memory(m: HopfieldScenario) -> list[tuple[float, str, str]]:
    p = m.patterns
    if isinstance(p, RandomPatterns):
        n = m.network.n_units
        n_pat = p.count if p.count is not None else round(p.load * n)
    elif isinstance(p, ImagePatterns):
        n, n_pat = 64, p.count
    else:
        return []  # from a file: as large as the file
    per_synapse = {"hebbian": 6, "storkey": 40, "pseudoinverse": 24}[m.network.rule]  # the rule's work arrays
    return [(per_synapse * n * n, "network.n_units", f"{m.network.rule} weights {n} x {n}"),
            (12 * n_pat * n, "patterns", f"{n_pat} patterns of {n} units")]


def _dense_memory(widths: list[int], rows: int, batch: int, key: str) -> list[tuple[float, str, str]]:
    params = sum(a * b + b for a, b in itertools.pairwise(widths))
    # parameters, gradients, optimizer state, best and initial copies (float32); activations of
    # a whole split in evaluation and of a batch in training
    return [(32 * params, key, f"{params:,} parameters"),
            (12 * (rows + batch) * sum(widths), key, f"activations of {rows:,} rows through layers {widths}")]


def _feedforward_memory(m: FeedforwardScenario) -> list[tuple[float, str, str]]:
    from .models.feedforward import hidden_sizes

    shape = _data_shape(m.data)
    if shape is None:
        return []
    rows, d, k = shape
    out = d if m.network.kind == "autoencoder" else k
    widths = [d, *hidden_sizes(m.network.model_dump()), out]
    batch = rows if m.training.batch_size == "full" else min(m.training.batch_size, rows)
    return [(24 * rows * (d + k), "data", f"{rows:,} rows of {d} inputs"),
            *_dense_memory(widths, rows, batch, "network.hidden")]


def _rbm_layers_memory(nv: int, hidden: list[int], rows: int, chains: int, key: str) -> list[tuple[float, str, str]]:
    layers = [nv, *hidden]
    weights = sum(a * b for a, b in itertools.pairwise(layers))
    return [(48 * weights, key, f"weights of layers {layers}"),
            (32 * rows * sum(layers), key, f"{rows:,} rows through layers {layers}"),
            (24 * chains * sum(layers), key, f"{chains:,} chains of {sum(layers):,} units")]


def _rbm_memory(m: RBMScenario) -> list[tuple[float, str, str]]:
    shape = _data_shape(m.data)
    if shape is None:
        return []
    rows, nv, _ = shape
    nh = m.network.n_hidden
    chains = max(m.sampling.chains, m.training.batch_size, m.record.ais_runs)
    terms = _rbm_layers_memory(nv, [nh], rows, chains, "network.n_hidden")
    small = nh if m.network.visible == "gaussian" else min(nv, nh)
    if small <= m.record.exact_max:
        terms.append((16 * 2.0 ** small, "record.exact_max", f"exact sums over 2^{small} states"))
    return terms


def _dbm_memory(m: DBMScenario) -> list[tuple[float, str, str]]:
    shape = _data_shape(m.data)
    if shape is None:
        return []
    rows, nv, _ = shape
    chains = max(m.training.chains, m.sampling.chains, m.training.batch_size)
    return _rbm_layers_memory(nv, [m.network.n_hidden1, m.network.n_hidden2], rows, chains, "network.n_hidden1")


def _dbn_memory(m: DBNScenario) -> list[tuple[float, str, str]]:
    rows, d, k = _data_shape(m.data)
    widths = [d, *m.network.hidden, k]
    batch = rows if m.training.batch_size == "full" else min(m.training.batch_size, rows)
    return [*_rbm_layers_memory(d, list(m.network.hidden), rows, m.pretraining.batch_size, "network.hidden"),
            *_dense_memory(widths, rows, batch, "network.hidden")]


def _boltzmann_memory(m: BoltzmannScenario) -> list[tuple[float, str, str]]:
    n = m.network.n_units
    terms = [(48 * n * n, "network", f"couplings of {n} units")]
    if m.training is not None:
        terms.append((18 * m.training.chains * n, "training.chains", f"{m.training.chains:,} chains of {n} units"))
        shape = _data_shape(m.data)
        if shape is not None:
            terms.append((16 * shape[0] * n, "data", f"{shape[0]:,} rows of {n} units"))
    return terms


_MEMORY = {HopfieldScenario: _hopfield_memory, FeedforwardScenario: _feedforward_memory, RBMScenario: _rbm_memory,
           DBMScenario: _dbm_memory, DBNScenario: _dbn_memory, BoltzmannScenario: _boltzmann_memory}


def memory_problem(m: BaseModel) -> str | None:
    """``key: ...`` when a run of this validated scenario would need more than ``MAX_RUN_BYTES``."""
    terms = _MEMORY.get(type(m), lambda _: [])(m)
    total = sum(t[0] for t in terms)
    if total <= MAX_RUN_BYTES:
        return None
    _, key, what = max(terms)
    return (f"{key}: a run would need about {total / 2**30:,.1f} GiB of memory (mostly {what}); at most "
            f"{MAX_RUN_BYTES / 2**30:g} GiB per run")


# --------------------------------------------------------------------------- errors

def _model_classes(annotation) -> list[type[BaseModel]]:
    """The BaseModel classes an annotation admits (through Optional/Union/Annotated)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _model_classes(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [c for a in typing.get_args(annotation) for c in _model_classes(a)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _tag(cls: type[BaseModel]) -> str | None:
    for name in ("source", "kind", "model"):
        f = cls.model_fields.get(name)
        if f is not None and typing.get_origin(f.annotation) is Literal:
            return typing.get_args(f.annotation)[0]
    return None


def _walk(cls: type[BaseModel], loc: tuple) -> tuple[type[BaseModel] | None, list[str]]:
    """Follow a pydantic error location to the model it points into; strip union tags from the path."""
    path = []
    i = 0
    while i < len(loc) - 1:
        name = loc[i]
        f = cls.model_fields.get(name) if isinstance(name, str) else None
        if f is None:
            return None, path + [str(x) for x in loc[i:-1]]
        path.append(name)
        classes = _model_classes(f.annotation)
        if not classes:
            return None, path + [str(x) for x in loc[i + 1:-1]]
        if len(classes) > 1:
            tagged = {_tag(c): c for c in classes}
            if i + 1 < len(loc) - 1 and loc[i + 1] in tagged:
                cls = tagged[loc[i + 1]]
                i += 2
                continue
        cls = classes[0]
        i += 1
    return cls, path


def _format_error(cls: type[BaseModel], err: dict) -> str:
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        parent, path = _walk(cls, loc)
        key = str(loc[-1])
        where = ".".join(path + [key])
        allowed = sorted(parent.model_fields) if parent is not None else []
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else (f" (allowed: {', '.join(allowed)})" if allowed else "")
        return f"{where}: unknown key{hint}"
    parent, path = _walk(cls, loc + ("",))
    where = ".".join(str(p) for p in path) or "(top level)"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if err["type"] == "union_tag_invalid":
        return f"{where}: {msg}"
    if err["type"] == "value_error":
        # validators that check a table against a spec name the key inside it: "lr: must be > 0"
        if msg.startswith(where + ": ") or msg.startswith(where + "."):
            return msg
        key = re.match(r"^([A-Za-z_][\w\[\]]*(?:\.[\w\[\]]+)*): ", msg)
        if key:
            return msg if where == "(top level)" else f"{where}.{msg}"
        return f"{where}: {msg}"
    if err["type"] == "missing":
        return f"{where}: required key is missing"
    inp = err.get("input")
    got = "" if isinstance(inp, dict) else f" (got {inp!r})"
    return f"{where}: {msg[0].lower() + msg[1:]}{got}"


# --------------------------------------------------------------------------- loading

def _dotted_fields(cls: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key path of a scenario class; tables that take free keys end in ``.*``."""
    out = []
    for name, f in cls.model_fields.items():
        if name == "sweep":
            continue
        out.append(prefix + name)
        if typing.get_origin(f.annotation) is dict:
            out.append(prefix + name + ".*")
        for sub in _model_classes(f.annotation):
            if sub.model_config.get("extra") == "allow":
                out.append(prefix + name + ".*")
            out.extend(_dotted_fields(sub, prefix + name + "."))
    return sorted(set(out))


def _is_setting(key: str, known: list[str]) -> bool:
    if key in known:
        return True
    return any(k.endswith(".*") and key.startswith(k[:-1]) and "." not in key[len(k) - 1:] for k in known)


def _validate_doc(cls, doc: dict, where: str, context: str = "") -> BaseModel:
    try:
        return cls.model_validate(doc)
    except ValidationError as exc:
        raise ScenarioError([f"{where}: {context}{_format_error(cls, e)}" for e in exc.errors()]) from None


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to run (and store) one run."""

    run_id: str
    model: str
    scenario: str
    config: dict  # resolved scenario without name/description/sweep
    params: dict  # the sweep point: dotted key -> value
    replicate: int
    seed: dict  # {"entropy": int, "spawn_key": [point_key, replicate]}
    base_dir: str  # the scenario file's folder, for relative data paths

    def seed_sequence(self) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.seed["entropy"], spawn_key=tuple(self.seed["spawn_key"]))


@dataclass
class Scenario:
    path: str
    name: str
    model: str
    raw: dict
    runs: list[RunSpec] = field(default_factory=list)
    sweep_keys: list[str] = field(default_factory=list)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))  # json.dumps(obj, sort_keys=True, ...)


def _canonical(obj) -> str:
    return _CANONICAL.encode(obj)


def run_identity(config: dict, replicate: int) -> tuple[str, int]:
    """(run id, 32-bit point key) of a resolved config and replicate number."""
    run_id = hashlib.sha256(_canonical({"config": config, "replicate": replicate}).encode()).hexdigest()[:16]
    point = hashlib.sha256(_canonical(config).encode()).digest()
    return run_id, int.from_bytes(point[:4], "little")


#: The largest scenario file read (a scenario is a page of TOML; this bounds what a mistaken
#: path such as /dev/zero or a data file can cost).
MAX_SCENARIO_BYTES = 1 << 20
#: The most runs (sweep points x replicates) one scenario may expand to.
MAX_RUNS = 100_000

_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def read_scenario_text(path: str) -> str:
    """The text of a scenario file: a regular file of at most ``MAX_SCENARIO_BYTES`` bytes of
    UTF-8, read with a bounded read. Raises :class:`ScenarioError` (one line) otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block the open
    except FileNotFoundError:
        raise ScenarioError([f"{path}: no such scenario file"]) from None
    except IsADirectoryError:
        raise ScenarioError([f"{path}: is a directory, not a scenario file"]) from None
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot open the scenario file: {exc.strerror or exc}"]) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ScenarioError([f"{path}: is a directory, not a scenario file"])
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
            raise ScenarioError([f"{path}: is {kind}, not a scenario file (a regular TOML file)"])
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(MAX_SCENARIO_BYTES + 1)
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read the scenario file: {exc.strerror or exc}"]) from None
    finally:
        os.close(fd)
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError([(f"{path}: larger than {MAX_SCENARIO_BYTES // 2**20} MiB: not a scenario file "
                              "(a TOML file of settings)")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError([(f"{path}: not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line}, column "
                              f"{column} (a scenario is a UTF-8 TOML file)")]) from None
    return text.removeprefix("\ufeff")  # a byte-order mark some editors write


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read, validate and expand a scenario file into run specs.

    Raises :class:`ScenarioError` (one line per problem) for anything wrong: a
    missing, oversized, non-text or unparsable file, unknown keys, wrong types or
    ranges, a bad sweep, or data that does not fit the model. Nothing is written anywhere.
    """
    path = os.fspath(path)
    text = read_scenario_text(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{path}: invalid TOML: {' '.join(str(exc).split())}"]) from None
    except RecursionError:
        raise ScenarioError([f"{path}: invalid TOML: arrays or tables nested too deeply"]) from None
    return parse_scenario(doc, path)


def parse_scenario(doc: dict, path: str = "<scenario>") -> Scenario:
    """Validate a scenario given as a dict (as loaded from TOML) and expand its sweep."""
    try:
        return _parse(doc, path)
    except RecursionError:
        raise ScenarioError([f"{path}: values nested too deeply"]) from None


def _sweep_problems(sweep: Sweep, known: list[str], path: str) -> list[str]:
    """Sweep keys that are not settings, empty or repeated value lists, unequal zip lengths,
    a key in both grid and zip, and more runs than ``MAX_RUNS``."""
    problems = []
    for table in ("grid", "zip"):
        for key, values in getattr(sweep, table).items():
            if not _is_setting(key, known) or key in ("model", "name", "description"):
                close = difflib.get_close_matches(key, [k for k in known if not k.endswith("*")], n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                problems.append(f"{path}: sweep.{table}.'{key}': not a scenario setting{hint}")
            elif not values:
                problems.append(f"{path}: sweep.{table}.'{key}': needs at least one value")
            elif table == "grid" or len(sweep.zip) == 1:
                dup = _first_repeat(values)
                if dup is not None:
                    problems.append(f"{path}: sweep.{table}.'{key}': the value {_show(dup)} appears twice "
                                    "(it would be the same runs)")
    lengths = {len(v) for v in sweep.zip.values()}
    if len(lengths) > 1:
        problems.append(f"{path}: sweep.zip: lists must have equal lengths (got {sorted(lengths)})")
    elif len(sweep.zip) > 1:
        dup = _first_repeat(list(zip(*sweep.zip.values())))
        if dup is not None:
            row = ", ".join(f"{k}={_show(v)}" for k, v in zip(sweep.zip, dup))
            problems.append(f"{path}: sweep.zip: the row {{{row}}} appears twice (it would be the same runs)")
    dup = set(sweep.grid) & set(sweep.zip)
    if dup:
        problems.append(f"{path}: sweep: {', '.join(sorted(dup))} in both grid and zip")
    if not problems:
        n_points = math.prod(len(v) for v in sweep.grid.values()) * (len(next(iter(sweep.zip.values())))
                                                                       if sweep.zip else 1)
        if n_points * sweep.replicates > MAX_RUNS:
            problems.append(f"{path}: sweep: {n_points:,} sweep point(s) x {sweep.replicates:,} replicate(s) = "
                            f"{n_points * sweep.replicates:,} runs; at most {MAX_RUNS:,} per scenario "
                            "(split the sweep into several scenarios)")
    return problems


def _first_repeat(values: list):
    seen = set()
    for v in values:
        # 1 and 1.0 (or true) are different TOML values; two points they give the same run are
        # caught once validated
        c = (type(v), v) if isinstance(v, (str, int, float, bool)) else _canonical(v)
        if c in seen:
            return v
        seen.add(c)
    return None


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@functools.cache
def _file_tables(cls: type[BaseModel]) -> tuple[tuple[str, ...], ...]:
    """Key paths of the tables of a scenario class that may name a file the run reads (a model
    with a ``path`` field: file patterns, data, weights)."""
    out = []

    def walk(c, prefix, depth):
        for name, f in c.model_fields.items():
            for sub in _model_classes(f.annotation):
                if "path" in sub.model_fields:
                    out.append(prefix + (name,))
                elif depth < 4:
                    walk(sub, prefix + (name,), depth + 1)

    walk(cls, (), 0)
    return tuple(sorted(set(out)))


def _add_file_hashes(cls, config: dict, base_dir: str, cache: dict) -> None:
    """Put the sha256 of every file the run reads next to its path (``data.sha256`` beside
    ``data.path``), so the run's id and seed name the file's content, not its name."""
    for keys in _file_tables(cls):
        node = config
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get("path"), str):
            full = node["path"] if os.path.isabs(node["path"]) else os.path.join(base_dir, node["path"])
            if full not in cache:
                cache[full] = _data.file_sha256(full)
            node["sha256"] = cache[full]  # None: missing or unreadable (preflight says which)


_NO_SWEEP = Sweep()


@functools.cache
def _field_adapter(cls: type[BaseModel], name: str):
    """A validator of one field of a scenario class on its own (its type and constraints)."""
    from pydantic import TypeAdapter

    f = cls.model_fields[name]
    return TypeAdapter(Annotated[f.annotation, f])


def _with_value(doc: dict, dotted: str, value) -> dict:
    """``doc`` with ``dotted`` set to ``value``: the tables on the path are copied, nothing else."""
    keys = dotted.split(".")
    out = dict(doc)
    node = out
    for k in keys[:-1]:
        nxt = node.get(k)
        nxt = {} if nxt is None else nxt
        if not isinstance(nxt, dict):
            raise KeyError(dotted)
        node[k] = nxt = dict(nxt)
        node = nxt
    node[keys[-1]] = value
    return out


def _identities(config: dict, replicates: int) -> tuple[list[str], int]:
    """The run ids of replicates 0..n-1 of a config, and its point key: :func:`run_identity`
    with the config serialized once."""
    canon = _canonical(config)
    point = hashlib.sha256(canon.encode()).digest()
    head = '{"config":' + canon + ',"replicate":'
    ids = [hashlib.sha256(f"{head}{r}}}".encode()).hexdigest()[:16] for r in range(replicates)]
    return ids, int.from_bytes(point[:4], "little")


def _big_ints(node, where: str = "") -> list[str]:
    """Key paths of integers outside the 64 bits TOML allows (tomllib reads any size; numpy and
    the kernels could not hold them)."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _big_ints(v, f"{where}.{k}" if where else str(k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _big_ints(v, f"{where}[{i}]")]
    if isinstance(node, int) and not isinstance(node, bool) and not -2**63 <= node < 2**63:
        return [where]
    return []


def _parse(doc: dict, path: str) -> Scenario:
    big = _big_ints(doc)
    if big:
        raise ScenarioError([f"{path}: {where}: integer out of range (TOML integers are 64-bit: at most "
                             f"{2**63 - 1})" for where in big[:10]])
    kind = doc.get("model")
    if not isinstance(kind, str) or kind not in SCENARIO_MODELS:
        allowed = ", ".join(repr(k) for k in SCENARIO_MODELS)
        if kind is None:
            raise ScenarioError([f"{path}: model: required key is missing (one of {allowed})"])
        close = difflib.get_close_matches(str(kind), list(SCENARIO_MODELS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ScenarioError([f"{path}: model: unknown model {_show(kind)} (one of {allowed}){hint}"])
    cls = SCENARIO_MODELS[kind]
    base = _validate_doc(cls, doc, path)
    sweep = base.sweep
    problems = _sweep_problems(sweep, _dotted_fields(cls), path)
    if problems:
        raise ScenarioError(problems)
    # every point is the base document with its sweep values set, validated as a whole; the
    # tables a point does not change go in as validated models (pydantic takes an instance of
    # the field's class as it is), so a point costs the validation of what it changes. Those
    # models are validated on their own and shared by the points; a scenario's checks must
    # never change them in place (they replace a table instead), which is verified below.
    try:
        return _expand(cls, doc, base, path, share=True)
    except _SharedTableChanged:
        return _expand(cls, doc, base, path, share=False)


class _SharedTableChanged(Exception):
    """A scenario check changed a table model that sweep points share."""


def _expand(cls, doc: dict, base: BaseModel, path: str, share: bool) -> Scenario:
    kind = doc["model"]
    sweep = base.sweep
    grid_keys = list(sweep.grid)
    zip_keys = list(sweep.zip)
    zip_rows = list(zip(*sweep.zip.values())) if zip_keys else [()]

    scenario = Scenario(path=path, name=base.name, model=kind, raw=doc, sweep_keys=grid_keys + zip_keys)
    base_dir = os.path.dirname(os.path.abspath(path))
    base_doc = {k: v for k, v in doc.items() if k != "sweep"}
    validated = {}
    for k, v in base_doc.items():
        if k in cls.model_fields and isinstance(getattr(base, k, None), BaseModel):
            try:
                validated[k] = _field_adapter(cls, k).validate_python(v)
            except ValidationError:  # not expected: the whole document passed
                pass
    for k, f in cls.model_fields.items():  # tables left out: their defaults, built once
        if k not in base_doc and k != "sweep" and f.default_factory is not None:
            default = f.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                validated[k] = default
    if not share:
        validated = {}
    before = {k: m.model_dump() for k, m in validated.items()}
    changed = {key.split(".", 1)[0] for key in grid_keys + zip_keys}  # the tables the sweep sets
    template = {k: v for k, v in base_doc.items() if k not in validated or k in changed}
    template.update({k: m for k, m in validated.items() if k not in changed})
    template["sweep"] = _NO_SWEEP  # a point has none (the default would be built per point)
    hashes: dict[str, str | None] = {}
    points: dict[str, dict] = {}  # run id of replicate 0 -> the params of the point that gave it

    def label(params: dict) -> str:  # built only for a message
        return ", ".join(f"{k}={v!r}" for k, v in params.items())

    def where(params: dict) -> str:
        return f"sweep point {{{label(params)}}}: " if params else ""

    for combo in itertools.product(*sweep.grid.values()):
        for zrow in zip_rows:
            params = dict(zip(grid_keys, combo)) | dict(zip(zip_keys, zrow))
            point_doc = template
            for key, value in params.items():
                try:
                    point_doc = _with_value(point_doc, key, value)
                except KeyError:
                    raise ScenarioError([f"{path}: sweep: '{key}' sets a key inside a value that is not a table"]) \
                        from None
            try:
                resolved = cls.model_validate(point_doc)
            except ValidationError as exc:
                raise ScenarioError([f"{path}: {where(params)}{_format_error(cls, e)}" for e in exc.errors()]) from None
            too_big = memory_problem(resolved)
            if too_big:
                raise ScenarioError([f"{path}: {where(params)}{too_big}"])
            config = resolved.model_dump(mode="json", exclude={"name", "description", "sweep"})
            _add_file_hashes(cls, config, base_dir, hashes)
            ids, point_key = _identities(config, sweep.replicates)
            if ids[0] in points:
                raise ScenarioError([(f"{path}: sweep: points {{{label(points[ids[0]])}}} and {{{label(params)}}} "
                                      "are the same run (their values are equal once validated)")])
            points[ids[0]] = params
            seed = resolved.seed
            for replicate, run_id in enumerate(ids):
                scenario.runs.append(RunSpec(
                    run_id=run_id, model=kind, scenario=base.name, config=config, params=params,
                    replicate=replicate, seed={"entropy": seed, "spawn_key": [point_key, replicate]},
                    base_dir=base_dir))
    if any(m.model_dump() != before[k] for k, m in validated.items()):
        raise _SharedTableChanged()
    return scenario


def json_schema() -> dict:
    """JSON Schema (draft 2020-12) of the scenario format, for editors."""
    from pydantic import TypeAdapter

    models = tuple(SCENARIO_MODELS.values())
    if len(models) == 1:
        schema = models[0].model_json_schema()
    else:
        schema = TypeAdapter(Annotated[Union[models], Field(discriminator="model")]).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", "dynet scenario")
    return schema
