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

import copy
import difflib
import hashlib
import itertools
import json
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ScenarioError(Exception):
    """A scenario file is invalid; ``lines`` holds one message per problem."""

    def __init__(self, lines: list[str]):
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


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
    """Dense layers: ``kind = mlp`` with ``hidden`` sizes, or a single neuron (logistic,
    linear regression, Rosenblatt perceptron)."""

    kind: Literal["mlp", "logistic", "linear", "perceptron"] = "mlp"
    hidden: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(default_factory=list,
                                                                  description="Hidden layer sizes (mlp only).")
    activation: Literal[HIDDEN_ACTIVATIONS] = Field("relu", description="Activation of every hidden layer.")
    activation_param: float | None = Field(None, description="negative_slope (leaky_relu), alpha (elu) or "
                                           "beta (softplus); PyTorch's default when omitted.")
    loss: Literal[LOSS_NAMES] | None = Field(None, description="Default: cross_entropy for classification "
                                             "(bce_with_logits for binary logistic), mse for regression, "
                                             "perceptron for the perceptron.")

    @model_validator(mode="after")
    def _single_neuron(self):
        if self.kind != "mlp" and self.hidden:
            raise ValueError(f"hidden: a {self.kind} model has no hidden layers (remove 'hidden' or use kind = 'mlp')")
        return self


class FeedforwardInit(_Strict):
    weights: str = Field("glorot_uniform", description="Initializer name (dynet.train.initializers).")
    params: dict[str, Any] = Field(default_factory=dict, description="Initializer parameters; Glorot's gain "
                                   "defaults to the hidden activation's recommended gain.")
    bias: float = Field(0.0, description="Constant initial bias.")

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
        from .train import schedules

        drop = self.regularization.dropout
        if isinstance(drop, list) and len(drop) != len(self.network.hidden):
            raise ValueError(f"regularization.dropout: lists {len(drop)} values for "
                             f"{len(self.network.hidden)} hidden layers")
        if self.early_stopping is not None and self.data.validation == 0:
            raise ValueError("early_stopping: needs a validation split (data.validation > 0)")
        sched = {"name": self.schedule.name, **(self.schedule.model_extra or {})}
        spec = schedules.SCHEDULES.get(sched["name"])
        if spec is not None and "lr" in [p.name for p in spec.params] and "lr" not in sched:
            sched["lr"] = (self.optimizer.model_extra or {}).get("lr", 0.01)
        problems = schedules.validate_schedule(sched)
        if problems:
            raise ValueError("; ".join("schedule." + p for p in problems))
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


class RBMDigitsData(_RBMDataBase):
    """The bundled 8x8 digits (1797 x 64), binarized: v = pixel / 16 > threshold."""

    source: Literal["digits"]
    threshold: float = Field(0.5, ge=0, lt=1, description="Pixel / 16 above this is 1.")


class RBMBarsStripesData(_RBMDataBase):
    """Every distinct size x size bars-and-stripes image (2^(size+1) - 2 of them)."""

    source: Literal["bars-stripes"]
    size: int = Field(4, ge=2, le=8, description="Image side; 4 gives the classic 30 patterns of 16 pixels.")
    validation: float = Field(0.0, ge=0, lt=1, description="Fraction held out (default none: the "
                              "exact log-likelihood of the whole set is the point).")


class RBMFileData(_RBMDataBase):
    """User data: a .npy/.npz array (samples x visible) of 0/1 (or bool), or binarized by threshold."""

    source: Literal["file"]
    path: str = Field(description="Path to the file, relative to the scenario file.")
    key: str | None = Field(None, description="Array name inside a .npz (default: its only array).")
    threshold: float | None = Field(None, description="Binarize: values above it are 1 (default: values "
                                    "must already be 0 or 1).")


RBMData = Annotated[Union[RBMDigitsData, RBMBarsStripesData, RBMFileData], Field(discriminator="source")]


class RBMNetwork(_Strict):
    n_hidden: int = Field(ge=1, le=100_000, description="Number of binary hidden units.")
    init_std: float = Field(0.01, gt=0, le=10, description="Initial weights W ~ N(0, init_std^2) "
                            "(scikit-learn: 0.01).")
    visible_bias: Literal["zero", "data"] = Field(
        "zero", description="Initial visible biases: zero (scikit-learn) or log(p_i / (1 - p_i)) of the "
        "training data (Hinton's guide).")
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


class RBMSampling(_Strict):
    """Gibbs chains from random visibles after training; every ``every``-th visible sample is stored."""

    chains: int = Field(10, ge=0, le=100_000, description="Independent chains (0: no sampling).")
    steps: int = Field(1000, ge=1, le=100_000_000, description="Gibbs steps (h ~ p(h|v), v ~ p(v|h)) per chain.")
    every: int = Field(100, ge=1, description="Store the visible state every k steps.")


class RBMRecord(_Strict):
    every: int = Field(1, ge=1, description="Evaluate every k epochs (and the last).")
    exact_max: int = Field(20, ge=0, le=26, description="Exact log Z and log-likelihood when "
                           "min(n_visible, n_hidden) <= this (2^that terms per evaluation).")
    snapshot_every: int = Field(0, ge=0, description="Store W every k epochs (0: only initial and final).")


class RBMScenario(_ScenarioBase):
    """A Bernoulli-Bernoulli restricted Boltzmann machine trained by CD-k or PCD-k."""

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
        from .train import schedules

        sched = {"name": self.schedule.name, **(self.schedule.model_extra or {})}
        if sched["name"] == "plateau":
            raise ValueError("schedule 'plateau' is not available for rbm (no loss to watch); "
                             "use a fixed schedule")
        spec = schedules.SCHEDULES.get(sched["name"])
        if spec is not None and "lr" in [p.name for p in spec.params] and "lr" not in sched:
            sched["lr"] = self.training.lr
        problems = schedules.validate_schedule(sched)
        if problems:
            raise ValueError("; ".join("schedule." + p for p in problems))
        if self.sampling.chains and self.sampling.every > self.sampling.steps:
            raise ValueError(f"sampling.every {self.sampling.every} is larger than sampling.steps "
                             f"{self.sampling.steps}: nothing would be stored")
        return self


SCENARIO_MODELS: dict[str, type[_ScenarioBase]] = {"hopfield": HopfieldScenario,
                                                  "feedforward": FeedforwardScenario,
                                                  "ising": IsingScenario,
                                                  "rbm": RBMScenario}


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


def _set_path(doc: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    node = doc
    for k in keys[:-1]:
        nxt = node.get(k)
        if nxt is None:
            nxt = node[k] = {}
        if not isinstance(nxt, dict):
            raise KeyError(dotted)
        node = nxt
    node[keys[-1]] = value


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


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def run_identity(config: dict, replicate: int) -> tuple[str, int]:
    """(run id, 32-bit point key) of a resolved config and replicate number."""
    run_id = hashlib.sha256(_canonical({"config": config, "replicate": replicate}).encode()).hexdigest()[:16]
    point = hashlib.sha256(_canonical(config).encode()).digest()
    return run_id, int.from_bytes(point[:4], "little")


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read, validate and expand a scenario file into run specs.

    Raises :class:`ScenarioError` (one line per problem) for anything wrong: a
    missing or unparsable file, unknown keys, wrong types or ranges, a bad sweep,
    or data that does not fit the model. Nothing is written anywhere.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ScenarioError([f"{path}: no such scenario file"]) from None
    except IsADirectoryError:
        raise ScenarioError([f"{path}: is a directory, not a scenario file"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{path}: invalid TOML: {exc}"]) from None
    return parse_scenario(doc, path)


def parse_scenario(doc: dict, path: str = "<scenario>") -> Scenario:
    """Validate a scenario given as a dict (as loaded from TOML) and expand its sweep."""
    kind = doc.get("model")
    if kind not in SCENARIO_MODELS:
        allowed = ", ".join(repr(k) for k in SCENARIO_MODELS)
        if kind is None:
            raise ScenarioError([f"{path}: model: required key is missing (one of {allowed})"])
        close = difflib.get_close_matches(str(kind), list(SCENARIO_MODELS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ScenarioError([f"{path}: model: unknown model {kind!r} (one of {allowed}){hint}"])
    cls = SCENARIO_MODELS[kind]
    base = _validate_doc(cls, doc, path)
    sweep = base.sweep

    # sweep keys must name real settings
    known = _dotted_fields(cls)
    problems = []
    for table in ("grid", "zip"):
        for key, values in getattr(sweep, table).items():
            if not _is_setting(key, known) or key in ("model", "name", "description"):
                close = difflib.get_close_matches(key, [k for k in known if not k.endswith("*")], n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                problems.append(f"{path}: sweep.{table}.'{key}': not a scenario setting{hint}")
            elif not values:
                problems.append(f"{path}: sweep.{table}.'{key}': needs at least one value")
    lengths = {len(v) for v in sweep.zip.values()}
    if len(lengths) > 1:
        problems.append(f"{path}: sweep.zip: lists must have equal lengths (got {sorted(lengths)})")
    dup = set(sweep.grid) & set(sweep.zip)
    if dup:
        problems.append(f"{path}: sweep: {', '.join(sorted(dup))} in both grid and zip")
    if problems:
        raise ScenarioError(problems)

    grid_keys = list(sweep.grid)
    zip_keys = list(sweep.zip)
    zip_rows = list(zip(*sweep.zip.values())) if zip_keys else [()]
    points = []
    for combo in itertools.product(*sweep.grid.values()):
        for zrow in zip_rows:
            points.append(dict(zip(grid_keys, combo)) | dict(zip(zip_keys, zrow)))

    scenario = Scenario(path=path, name=base.name, model=kind, raw=doc, sweep_keys=grid_keys + zip_keys)
    base_dir = os.path.dirname(os.path.abspath(path))
    seen = set()
    for params in points:
        point_doc = copy.deepcopy(doc)
        point_doc.pop("sweep", None)
        for key, value in params.items():
            _set_path(point_doc, key, value)
        label = ", ".join(f"{k}={v!r}" for k, v in params.items())
        resolved = _validate_doc(cls, point_doc, path, context=f"sweep point {{{label}}}: " if params else "")
        config = resolved.model_dump(mode="json", exclude={"name", "description", "sweep"})
        for replicate in range(sweep.replicates):
            run_id, point_key = run_identity(config, replicate)
            if run_id in seen:
                continue  # a sweep that repeats a point gives the same run
            seen.add(run_id)
            scenario.runs.append(RunSpec(
                run_id=run_id, model=kind, scenario=base.name, config=config, params=params,
                replicate=replicate, seed={"entropy": resolved.seed, "spawn_key": [point_key, replicate]},
                base_dir=base_dir))
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
