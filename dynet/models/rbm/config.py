"""The scenario schema of restricted Boltzmann machines: every table, its defaults and its checks, declared once."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dynet.config import (
    RBMData,
    RBMDigitsData,
    RBMIrisData,
    RBMSchedule,
    ScenarioBase,
    Strict,
    check_schedule,
    data_shape,
    default_schedule,
    rbm_layers_memory,
)


class RBMNetwork(Strict):
    n_hidden: int = Field(ge=1, le=100_000, description="Number of binary hidden units.")
    visible: Literal["bernoulli", "gaussian"] = Field(
        "bernoulli",
        description="bernoulli: binary visible units; gaussian: real visible units "
        "v_i ~ N(b_i + sigma_i (W h)_i, sigma_i^2) (Gaussian-Bernoulli RBM).",
    )
    sigma: float | list[float] | None = Field(
        None,
        description="Gaussian visible units only: the fixed standard deviation of every visible unit "
        "(one value, or one per unit); default 1, for standardized data.",
    )
    init_std: float = Field(0.01, gt=0, le=10, description="Initial weights W ~ N(0, init_std^2) (scikit-learn: 0.01).")
    visible_bias: Literal["zero", "data"] = Field(
        "zero",
        description="Initial visible biases: zero (scikit-learn) or log(p_i / (1 - p_i)) of the "
        "training data (Hinton's guide; Gaussian visible units: the training data's mean).",
    )
    hidden_bias: float = Field(0.0, description="Initial hidden biases.")


class RBMTraining(Strict):
    method: Literal["cd", "pcd"] = Field(
        "cd",
        description="cd: contrastive divergence from the data; pcd: "
        "persistent chains, one per batch row (scikit-learn's BernoulliRBM).",
    )
    k: int = Field(1, ge=1, le=100_000, description="Gibbs steps per update (CD-k, PCD-k).")
    epochs: int = Field(20, ge=1, le=1_000_000)
    batch_size: int = Field(10, ge=1, le=1_000_000, description="Rows per update.")
    lr: float = Field(0.05, gt=0, description="Learning rate (the schedule's starting rate).")
    momentum: float = Field(0.0, ge=0, lt=1, description="d = momentum * d + lr * gradient; param += d.")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty on W: gradient - weight_decay * W.")
    shuffle: bool = Field(
        True,
        description="A fresh permutation of the rows every epoch (false: the data order every epoch, as scikit-learn).",
    )


class RBMSparsity(Strict):
    """Hidden sparsity target (Lee et al. 2008): the hidden biases get cost * (target - mean q)."""

    target: float = Field(gt=0, lt=1, description="Target mean activation p of each hidden unit.")
    cost: float = Field(ge=0, description="Weight lambda of the sparsity term.")


class RBMSampling(Strict):
    """Gibbs chains from random visibles after training; every ``every``-th visible sample is stored."""

    chains: int = Field(10, ge=0, le=100_000, description="Independent chains (0: no sampling).")
    steps: int = Field(1000, ge=1, le=100_000_000, description="Gibbs steps (h ~ p(h|v), v ~ p(v|h)) per chain.")
    every: int = Field(100, ge=1, description="Store the visible state every k steps.")


class RBMRecord(Strict):
    every: int = Field(1, ge=1, description="Evaluate every k epochs (and the last).")
    exact_max: int = Field(
        20,
        ge=0,
        le=26,
        description="Exact log Z and log-likelihood when "
        "min(n_visible, n_hidden) <= this (2^that terms per evaluation); Gaussian visible "
        "units: when n_hidden <= this.",
    )
    snapshot_every: int = Field(0, ge=0, description="Store W every k epochs (0: only initial and final).")
    ais_runs: int = Field(
        0,
        ge=0,
        le=1_000_000,
        description="Annealed importance sampling estimate of log Z with this many runs (0: none).",
    )
    ais_betas: int = Field(
        10_000, ge=1, le=1_000_000, description="Intermediate distributions of each AIS run (steps from beta = 0 to 1)."
    )
    ais_ladder: Literal["linear", "geometric"] = Field(
        "linear", description="Spacing of the AIS betas: linear, or geometric from 1e-4 to 1."
    )
    ais_every: int = Field(
        0, ge=0, description="AIS every k epochs (a multiple of every; and the last epoch); 0: after training only."
    )


class RBMScenario(ScenarioBase):
    """A restricted Boltzmann machine (Bernoulli or Gaussian visible units) trained by CD-k or PCD-k."""

    model: Literal["rbm"]
    data: RBMData
    network: RBMNetwork
    training: RBMTraining = Field(default_factory=RBMTraining)
    sparsity: RBMSparsity | None = None
    schedule: RBMSchedule = Field(default_factory=default_schedule)
    sampling: RBMSampling = Field(default_factory=RBMSampling)
    record: RBMRecord = Field(default_factory=RBMRecord)

    @model_validator(mode="after")
    def _consistent(self):
        check_schedule(self.schedule, self.training.lr, no_plateau="rbm")
        if self.sampling.chains and self.sampling.every > self.sampling.steps:
            raise ValueError(
                f"sampling.every {self.sampling.every} is larger than sampling.steps "
                f"{self.sampling.steps}: nothing would be stored"
            )
        if self.record.ais_every and not self.record.ais_runs:
            raise ValueError("record.ais_every: needs record.ais_runs > 0 (the number of AIS runs)")
        if self.record.ais_every % self.record.every:
            raise ValueError(
                f"record.ais_every: {self.record.ais_every} is not a multiple of record.every "
                f"{self.record.every} (AIS estimates go into recorded epochs)"
            )
        data, net = self.data, self.network
        if net.visible == "gaussian":
            if "threshold" in data.model_fields_set and data.threshold is not None:
                raise ValueError(
                    "data.threshold: binarization does not apply to real-valued visible units "
                    "(network.visible = 'gaussian'); remove it"
                )
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
                raise ValueError(
                    "data.standardize: applies to real-valued visible units only (network.visible = 'gaussian')"
                )
            if net.sigma is not None:
                raise ValueError("network.sigma: applies to network.visible = 'gaussian' only")
            if isinstance(data, RBMIrisData):
                raise ValueError("data.source: 'iris' is real-valued; set network.visible = 'gaussian'")
        return self

    def memory(self) -> list[tuple[float, str, str]]:
        shape = data_shape(self.data)
        if shape is None:
            return []
        rows, nv, _ = shape
        nh = self.network.n_hidden
        chains = max(self.sampling.chains, self.training.batch_size, self.record.ais_runs)
        terms = rbm_layers_memory(nv, [nh], rows, chains, "network.n_hidden")
        small = nh if self.network.visible == "gaussian" else min(nv, nh)
        if small <= self.record.exact_max:
            terms.append((16 * 2.0**small, "record.exact_max", f"exact sums over 2^{small} states"))
        return terms
