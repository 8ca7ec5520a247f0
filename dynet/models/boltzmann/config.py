"""The scenario schema of general Boltzmann machines: every table, its defaults and its checks, declared once."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from dynet.config import (
    RBMData,
    RBMSchedule,
    ScenarioBase,
    Strict,
    check_schedule,
    data_shape,
    default_schedule,
)

BM_MAX_UNITS = 4096  # one dense float64 W: 128 MiB at this size
BM_EXACT_MAX = 24  # exact sums enumerate 2^units terms
BM_EXACT_AUTO = 20  # record.exact unset: exact sums up to this many units


class BMNetwork(Strict):
    """Binary units, visible first then hidden (layer by layer); one dense symmetric W with zero
    diagonal and a mask of the couplings the topology has."""

    topology: Literal["full", "bipartite", "layered", "lattice"] = Field(
        "full",
        description="full: every pair coupled; bipartite: visible-hidden only (restricted); layered: "
        "adjacent layers visible-h1-h2-... only (deep); lattice: size x size periodic square lattice, "
        "nearest neighbours only.",
    )
    visible: int | None = Field(None, ge=1, le=BM_MAX_UNITS, description="Visible units (not for lattice).")
    hidden: Annotated[int, Field(ge=0, le=BM_MAX_UNITS)] | list[Annotated[int, Field(ge=1, le=BM_MAX_UNITS)]] = Field(
        0, description="Hidden units; for layered a list of layer sizes (h1, h2, ...)."
    )
    size: int | None = Field(None, ge=3, le=64, description="Lattice side L (lattice only): n = L^2 visible units.")
    spins: Literal["binary", "ising"] = Field("binary", description="Unit states: binary {0, 1} or ising {-1, +1}.")

    @model_validator(mode="after")
    def _shape(self):
        t = self.topology
        if t == "lattice":
            if self.size is None:
                raise ValueError("size: required for topology = 'lattice'")
            if self.visible is not None or self.hidden not in (0, []):
                raise ValueError(
                    "visible: a lattice has size^2 visible units and no hidden units: give only network.size"
                )
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


class BMSKWeights(Strict):
    """Sherrington-Kirkpatrick couplings on the topology's pairs: W_ij ~ N(mean / n, coupling^2 / n)."""

    source: Literal["sk"]
    coupling: float = Field(1.0, gt=0, description="J: the couplings' standard deviation is J / sqrt(n).")
    mean: float = Field(0.0, description="J0: the couplings' mean is J0 / n.")
    bias: float = Field(0.0, description="Bias (field) b of every unit.")
    seed: int | None = Field(
        None,
        ge=0,
        lt=2**63,
        description="Draw the couplings from this seed instead of "
        "the run's: one instance shared by every run (sweep it for several instances).",
    )


class BMConstantWeights(Strict):
    """One coupling J on every pair of the topology (a lattice: the Ising model; full: Curie-Weiss)."""

    source: Literal["constant"]
    coupling: float = Field(1.0, description="J (> 0 ferromagnetic).")
    bias: float = Field(0.0, description="Bias (field) b of every unit.")

    @model_validator(mode="after")
    def _nonzero(self):
        if self.coupling == 0:
            raise ValueError("coupling: must be nonzero")
        return self


class BMHebbianWeights(Strict):
    """Hebbian weights of random +-1 patterns (Hopfield): W = (1/n) sum_mu xi xi^T on the topology's
    pairs, zero diagonal. Needs network.spins = 'ising'."""

    source: Literal["hebbian"]
    patterns: int = Field(3, ge=1, le=BM_MAX_UNITS, description="Number of stored random patterns P.")
    pattern_bias: float = Field(0.0, gt=-1, lt=1, description="P(xi_i = +1) = (1 + pattern_bias) / 2.")
    bias: float = Field(0.0, description="Bias (field) b of every unit.")
    seed: int | None = Field(
        None,
        ge=0,
        lt=2**63,
        description="Draw the patterns from this seed instead of "
        "the run's: the same patterns in every run (sweep it for several sets).",
    )


class BMFileWeights(Strict):
    """Weights from a .npy/.npz file: a symmetric (n, n) matrix with zero diagonal, zero off the topology."""

    source: Literal["file"]
    path: str = Field(description="Path to the file, relative to the scenario file.")
    key: str | None = Field(None, description="Array name of W inside a .npz (default: its only array).")
    bias_key: str | None = Field(
        None, description="Array name of the biases (n,) inside the same .npz (default: the constant 'bias')."
    )
    bias: float = Field(0.0, description="Bias of every unit when bias_key is not given.")


BMWeights = Annotated[BMSKWeights | BMConstantWeights | BMHebbianWeights | BMFileWeights, Field(discriminator="source")]


class BMInit(Strict):
    """Initial state of a sampling run (every replica of parallel tempering draws its own)."""

    kind: Literal["random", "pattern", "mixture"] = Field(
        "random",
        description="random: each unit on with probability 'activity'; pattern: stored pattern "
        "'pattern' with a fraction 'flip' of units flipped; mixture: sign of the sum of stored patterns "
        "'patterns' (hebbian weights).",
    )
    activity: float = Field(0.5, ge=0, le=1, description="random: P(unit = on).")
    pattern: int = Field(0, ge=0, description="pattern: index of the stored pattern.")
    flip: float = Field(0.0, ge=0, le=1, description="pattern: fraction of units flipped.")
    patterns: list[Annotated[int, Field(ge=0)]] = Field(
        [0, 1, 2], description="mixture: an odd number of distinct stored patterns."
    )


class BMDynamics(Strict):
    """Single-unit sweeps of a sampling run and its temperature schedule."""

    method: Literal["gibbs", "metropolis"] = Field(
        "gibbs",
        description="gibbs: s_i on with probability sigmoid(dE_i / T) (heat bath, Glauber); "
        "metropolis: flip with probability min(1, exp(-dE / T)).",
    )
    order: Literal["sequential", "permutation"] = Field(
        "sequential", description="Units in index order every sweep, or a fresh random permutation."
    )
    schedule: Literal["constant", "quench", "linear", "geometric", "custom", "tempering"] = Field(
        "constant",
        description="constant: 'temperature'; quench: T = 0 (descent to a fixed point); "
        "linear/geometric/custom: simulated annealing ([anneal]); tempering: parallel tempering ([tempering]). "
        "Settings of the other schedules are ignored, so one file can sweep this key.",
    )
    temperature: float | None = Field(None, description="T > 0 of the constant schedule.")
    sweeps: int = Field(
        1000,
        ge=1,
        le=100_000_000,
        description="Sweeps (annealing: the schedule's length; quench: the most sweeps; tempering: rounds).",
    )
    burn_in: int = Field(
        0, ge=0, le=100_000_000, description="Sweeps run before 'sweeps' and not recorded (constant and tempering)."
    )


class BMAnneal(Strict):
    """Simulated annealing over dynamics.sweeps sweeps: linear or geometric from t_start to t_end,
    or a custom staircase of temperatures, then (quench) zero-temperature sweeps to a fixed point."""

    t_start: float | None = Field(None, description="First temperature (linear, geometric).")
    t_end: float | None = Field(None, description="Last temperature (linear, geometric).")
    temperatures: list[float] | None = Field(
        None, description="custom: temperatures held for equal shares of the sweeps, in order."
    )
    quench: bool = Field(True, description="Finish with T = 0 sweeps until a fixed point.")
    quench_sweeps: int = Field(100, ge=1, le=1_000_000, description="At most this many T = 0 sweeps.")


class BMTempering(Strict):
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


class BMTraining(Strict):
    """The Boltzmann learning rule dW_ij = lr (<s_i s_j>_data - <s_i s_j>_model), with persistent chains."""

    epochs: int = Field(100, ge=1, le=1_000_000)
    batch_size: int = Field(10, ge=1, le=1_000_000, description="Data rows per update.")
    lr: float = Field(0.05, gt=0, description="Learning rate (the schedule's starting rate).")
    momentum: float = Field(0.0, ge=0, lt=1, description="d = momentum * d + lr * gradient; param += d.")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty on W: gradient - weight_decay * W.")
    chains: int = Field(100, ge=1, le=1_000_000, description="Persistent free-phase chains.")
    free_sweeps: int = Field(1, ge=1, le=100_000, description="Gibbs sweeps of every free chain per update.")
    clamped_sweeps: int = Field(
        1,
        ge=1,
        le=100_000,
        description="Gibbs sweeps over the hidden units of each batch row's persistent clamped chain per update.",
    )
    init_std: float = Field(0.01, ge=0, le=10, description="Initial couplings ~ N(0, init_std^2).")
    visible_bias: Literal["zero", "data"] = Field(
        "zero",
        description="Initial visible biases: zero, or those of the independent-unit model of the "
        "training data (logit of the mean for binary units, atanh of it for ising).",
    )
    shuffle: bool = Field(True, description="A fresh permutation of the rows every epoch.")


class BMRecord(Strict):
    every: int = Field(1, ge=1, description="Record every k sweeps (sampling) or epochs (learning).")
    snapshot_every: int = Field(
        0, ge=0, description="Store the state (sampling) or W (learning) every k sweeps / epochs (0: never)."
    )
    exact: bool | None = Field(
        None,
        description=f"Exact log Z by enumeration (2^units terms): learning "
        f"records the exact log-likelihood, a constant-temperature run the exact <E>. "
        f"Default: when units <= {BM_EXACT_AUTO}; at most {BM_EXACT_MAX} units.",
    )
    weights: bool = Field(
        False,
        description="Store W, the biases and the coupling mask of a sampling run (learning runs always store them).",
    )


class BoltzmannScenario(ScenarioBase):
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
    schedule: RBMSchedule = Field(default_factory=default_schedule)
    record: BMRecord = Field(default_factory=BMRecord)

    @model_validator(mode="after")
    def _consistent(self):
        net = self.network
        n = net.n_units
        if (self.weights is None) == (self.training is None):
            raise ValueError(
                "weights: give [weights] (a sampling run) or [training] with [data] (a learning "
                "run), not both or neither"
            )
        if self.record.exact and n > BM_EXACT_MAX:
            raise ValueError(
                f"record.exact: exact enumeration needs at most {BM_EXACT_MAX} units "
                f"(2^units terms); this network has {n}"
            )
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
                raise ValueError(
                    f"dynamics.temperature: must be > 0 (got {dyn.temperature}); "
                    "zero-temperature dynamics is schedule = 'quench'"
                )
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
                    raise ValueError(
                        f"anneal.temperatures: {len(t)} temperatures for {dyn.sweeps} sweeps "
                        "(dynamics.sweeps): at least one sweep each"
                    )
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
            raise ValueError(
                f"data.source: {d.source!r} data are real-valued; the units of a Boltzmann machine "
                "are binary (digits, bars-stripes or file)"
            )
        if getattr(d, "threshold", 0.0) is None and d.source == "digits":
            raise ValueError("data.threshold: binary units need the digits binarized (a threshold in [0, 1))")
        if getattr(d, "standardize", None) is not None:
            raise ValueError("data.standardize: only for Gaussian visible units; these units are binary")
        nv = self.network.layers[0]
        need = {"digits": 64, "bars-stripes": getattr(d, "size", 0) ** 2}.get(d.source)
        if need is not None and need != nv:
            raise ValueError(f"network.visible: {d.source} data have {need} visible units, not {nv}")
        check_schedule(self.schedule, self.training.lr, no_plateau="boltzmann")
        return self

    def memory(self) -> list[tuple[float, str, str]]:
        n = self.network.n_units
        terms = [(48 * n * n, "network", f"couplings of {n} units")]
        if self.training is not None:
            terms.append(
                (18 * self.training.chains * n, "training.chains", f"{self.training.chains:,} chains of {n} units")
            )
            shape = data_shape(self.data)
            if shape is not None:
                terms.append((16 * shape[0] * n, "data", f"{shape[0]:,} rows of {n} units"))
        return terms
