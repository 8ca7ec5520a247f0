"""The scenario schema of Elman recurrent networks trained by backpropagation through time: every
table, its defaults and its checks, declared once."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from dynet.config import ScenarioBase, Strict, check_schedule
from dynet.train.init_params import PARAMS as INIT_PARAMS
from dynet.train.init_params import validate as validate_init
from dynet.train.optimizer_params import AdamParams, OptimizerConfig
from dynet.train.schedules import ConstantSchedule, ScheduleConfig


class _TaskBase(Strict):
    length: int = Field(20, ge=2, le=10_000, description="Steps T of every sequence.")
    n_train: int = Field(1000, ge=1, le=1_000_000, description="Training sequences.")
    n_validation: int = Field(200, ge=1, le=1_000_000, description="Validation sequences.")


class AddingTask(_TaskBase):
    """The adding problem (Hochreiter & Schmidhuber 1997): inputs (value ~ U(0, 1), marker); one
    marker in the first half, one in the second; the target, read after the last step, is the sum
    of the two marked values (MSE; predicting 1.0 gives 1/6)."""

    name: Literal["adding"]


class ParityTask(_TaskBase):
    """Bit-sequence parity: one random bit per step; after the last step, the parity of all bits
    (two classes, cross-entropy)."""

    name: Literal["parity"]


class RecallTask(_TaskBase):
    """Delayed recall: a symbol (one of ``symbols``, one-hot) at step 0, blanks, and a recall cue at
    the last step, when the symbol is to be named (cross-entropy). The delay is ``length - 1``."""

    name: Literal["recall"]
    symbols: int = Field(4, ge=2, le=1000, description="Number of distinct symbols.")


class SinesTask(_TaskBase):
    """Next-value prediction of noisy sines ``sin(omega t + phi) + noise`` (omega ~ U(omega_min,
    omega_max), phi ~ U(0, 2 pi) per sequence): the output at every step predicts the next
    observation (MSE averaged over the steps)."""

    name: Literal["sines"]
    omega_min: float = Field(0.1, gt=0, description="Smallest angular frequency (radians per step).")
    omega_max: float = Field(0.5, gt=0, description="Largest angular frequency (radians per step).")
    noise: float = Field(0.05, ge=0, description="Standard deviation of the Gaussian noise of each observation.")

    @model_validator(mode="after")
    def _range(self):
        if self.omega_min > self.omega_max:
            raise ValueError(f"omega_min: must be <= omega_max (got {self.omega_min} > {self.omega_max})")
        return self


RnnTask = Annotated[AddingTask | ParityTask | RecallTask | SinesTask, Field(discriminator="name")]


class RnnNetwork(Strict):
    """One tanh recurrent layer ``h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)`` and a linear readout."""

    hidden: int = Field(32, ge=1, le=4096, description="Hidden units H.")


class RnnInit(Strict):
    weights: Literal[tuple(INIT_PARAMS)] = Field(
        "glorot_uniform", description="Initializer of W_xh and W_hy (dynet.train.initializers)."
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters of the initializer named by weights (dynet.train.initializers.PARAMS).",
        json_schema_extra={"anyOf": [c.model_json_schema() for c in dict.fromkeys(INIT_PARAMS.values())]},
    )
    recurrent: Literal["orthogonal", "gaussian"] = Field(
        "orthogonal",
        description="W_hh: a random orthogonal matrix, or Gaussian N(0, 1/H); scaled to spectral_radius.",
    )
    spectral_radius: float = Field(
        1.0, ge=0, le=100, description="Spectral radius (largest |eigenvalue|) of W_hh at initialization."
    )
    bias: float = Field(0.0, description="Constant initial biases b_h and b_y.")

    @model_validator(mode="after")
    def _known(self):
        found = validate_init(self.weights, self.params)
        if found:
            raise ValueError("; ".join("params." + p for p in found))
        return self


class RnnTraining(Strict):
    epochs: int = Field(20, ge=1, le=1_000_000)
    batch_size: int = Field(32, ge=1, le=1_000_000, description="Sequences per step.")
    truncation: int = Field(
        0,
        ge=0,
        description="Truncated BPTT: the gradient flows back at most this many steps within chunks of "
        "this length counted from the last step (0: full BPTT).",
    )
    clip_norm: float = Field(0.0, ge=0, description="Clip the global gradient norm to this value (0: off).")


class RnnScenario(ScenarioBase):
    """An Elman recurrent network trained by backpropagation through time on a generated sequence task."""

    model: Literal["rnn"]
    task: RnnTask
    network: RnnNetwork = Field(default_factory=RnnNetwork)
    init: RnnInit = Field(default_factory=RnnInit)
    optimizer: OptimizerConfig = Field(
        default_factory=AdamParams,
        description="The optimizer (name) and its hyper-parameters, with PyTorch's names and defaults.",
    )
    schedule: ScheduleConfig = Field(
        default_factory=ConstantSchedule,
        description="Learning-rate schedule (name) and its parameters (dynet.train.schedules); lr defaults "
        "to the optimizer's.",
    )
    training: RnnTraining = Field(default_factory=RnnTraining)

    @model_validator(mode="after")
    def _consistent(self):
        check_schedule(self.schedule, self.optimizer.resolved()["lr"], no_plateau="rnn")
        return self

    def memory(self) -> list[tuple[float, str, str]]:
        t, h = self.task.length, self.network.hidden
        n = self.task.n_train + self.task.n_validation
        return [
            (8.0 * n * t * (h + 4), "task.n_train", f"{n:,} sequences of {t} steps, {h} hidden units"),
        ]
