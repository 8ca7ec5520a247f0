"""The scenario schema of deep Boltzmann machines: every table, its defaults and its checks, declared once."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dynet.config import (
    RBMData,
    RBMSchedule,
    ScenarioBase,
    Strict,
    check_schedule,
    data_shape,
    default_schedule,
    rbm_layers_memory,
)
from dynet.models.rbm.config import RBMSampling


class DBMNetwork(Strict):
    n_hidden1: int = Field(ge=1, le=100_000, description="Binary units of the first hidden layer h1 (joined to v).")
    n_hidden2: int = Field(ge=1, le=100_000, description="Binary units of the second hidden layer h2 (joined to h1).")
    init_std: float = Field(0.01, gt=0, le=10, description="Initial W1, W2 ~ N(0, init_std^2).")
    visible_bias: Literal["zero", "data"] = Field(
        "zero", description="Initial visible biases: zero or log(p_i / (1 - p_i)) of the training data."
    )
    hidden_bias: float = Field(0.0, description="Initial biases of both hidden layers.")


class DBMTraining(Strict):
    epochs: int = Field(20, ge=1, le=1_000_000)
    batch_size: int = Field(10, ge=1, le=1_000_000, description="Data rows per update (mean-field positive phase).")
    chains: int = Field(100, ge=1, le=1_000_000, description="Persistent Gibbs chains of the negative phase.")
    k: int = Field(1, ge=1, le=100_000, description="Block Gibbs steps of every chain per update.")
    lr: float = Field(0.01, gt=0, description="Learning rate (the schedule's starting rate).")
    momentum: float = Field(0.0, ge=0, lt=1, description="d = momentum * d + lr * gradient; param += d.")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty on W1 and W2: gradient - weight_decay * W.")
    shuffle: bool = Field(True, description="A fresh permutation of the rows every epoch.")


class DBMMeanField(Strict):
    """Mean-field inference of q(h1), q(h2) given v (the positive phase and the evaluation)."""

    iterations: int = Field(30, ge=1, le=100_000, description="At most this many iterations (both blocks each).")
    tolerance: float = Field(
        1e-6,
        ge=0,
        description="Stop when every q changed by less than this in an iteration (0: always run every iteration).",
    )
    damping: float = Field(0.0, ge=0, lt=1, description="q <- damping * q + (1 - damping) * update.")


class DBMPretraining(Strict):
    """Greedy layer-wise pretraining (Salakhutdinov & Hinton 2009): CD-k on the bottom RBM with its
    visible layer doubled, then on the top RBM with its hidden layer doubled; batch size, momentum,
    weight decay and shuffling as in [training]."""

    epochs: int = Field(0, ge=0, le=1_000_000, description="Epochs of each of the two RBMs (0: no pretraining).")
    lr: float = Field(0.05, gt=0, description="Constant learning rate of both RBMs.")
    k: int = Field(1, ge=1, le=100_000, description="Gibbs steps per update (CD-k).")


class DBMRecord(Strict):
    every: int = Field(1, ge=1, description="Evaluate every k epochs (and the last).")
    exact_max: int = Field(
        20,
        ge=0,
        le=24,
        description="Exact log Z, log-likelihood and lower bound when "
        "min(n_hidden1, n_visible + n_hidden2) <= this (2^that terms for log Z).",
    )


class DBMScenario(ScenarioBase):
    """A two-layer deep Boltzmann machine: mean-field positive phase, persistent chains (Salakhutdinov &
    Hinton 2009)."""

    model: Literal["dbm"]
    data: RBMData
    network: DBMNetwork
    training: DBMTraining = Field(default_factory=DBMTraining)
    mean_field: DBMMeanField = Field(default_factory=DBMMeanField)
    pretraining: DBMPretraining = Field(default_factory=DBMPretraining)
    schedule: RBMSchedule = Field(default_factory=default_schedule)
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
        check_schedule(self.schedule, self.training.lr, no_plateau="dbm")
        if self.sampling.chains and self.sampling.every > self.sampling.steps:
            raise ValueError(
                f"sampling.every {self.sampling.every} is larger than sampling.steps "
                f"{self.sampling.steps}: nothing would be stored"
            )
        return self

    def memory(self) -> list[tuple[float, str, str]]:
        shape = data_shape(self.data)
        if shape is None:
            return []
        rows, nv, _ = shape
        chains = max(self.training.chains, self.sampling.chains, self.training.batch_size)
        return rbm_layers_memory(
            nv, [self.network.n_hidden1, self.network.n_hidden2], rows, chains, "network.n_hidden1"
        )
