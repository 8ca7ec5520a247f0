"""The optimizers' hyper-parameter tables: one pydantic model per optimizer (no numba).

:data:`OPTIMIZERS` maps a name to its model (an :class:`OptimizerParams`: its fields are the
hyper-parameters with PyTorch's names, defaults, allowed ranges and descriptions, declared
once); :data:`OptimizerConfig` is the scenario's ``[optimizer]`` table, one of them by
``name``. Scenarios validate with this module alone; the njit steps that use these tables
(:mod:`dynet.train.optimizers`) import it, not the reverse.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from .hyper import Hyper, Real, name_of, problems, real, tagged_union, unknown_name

#: The optimizer codes of ``dynet.train.optimizers.optimizer_step`` (``OptimizerParams.code``).
SGD = 0
ADAGRAD = 1
ADADELTA = 2
RMSPROP = 3
ADAM = 4
ADAMW = 5


# ----------------------------------------------------------------------------
# optimizers as typed tables
# ----------------------------------------------------------------------------

_LR_DOC = "Learning rate (a schedule's starting rate)."
_WD_DOC = "L2 penalty: weight_decay * p added to the gradient."


class OptimizerParams(Hyper):
    """An optimizer: its hyper-parameters (fields, PyTorch's names and defaults), state and step.

    Class attributes: ``torch_name`` (the PyTorch class), ``code`` (for
    :func:`dynet.train.optimizers.optimizer_step`; ``dynet.train.optimizers.STEPS[code]`` is the
    named njit step) and ``state`` (PyTorch's ``state_dict`` names: the rows of the ``state``
    array of ``optimizer_step``). The ``hyper`` vector of ``optimizer_step`` holds the fields
    after ``lr`` in declaration order, ``betas`` as ``beta1, beta2`` and booleans as 0.0 / 1.0
    (:meth:`pack_hyper`).
    """

    torch_name: ClassVar[str]
    code: ClassVar[int]
    state: ClassVar[tuple[str, ...]]

    @classmethod
    def hyper_layout(cls) -> tuple[str, ...]:
        """Names of the ``hyper`` vector's entries."""
        out = []
        for k in cls.parameters():
            if k == "lr":
                continue
            out += ["beta1", "beta2"] if k == "betas" else [k]
        return tuple(out)

    def pack_hyper(self) -> np.ndarray:
        """The ``hyper`` vector (float64, :meth:`hyper_layout` order) of ``optimizer_step``."""
        values = []
        for k, v in self.resolved().items():
            if k != "lr":
                values += list(v) if isinstance(v, tuple) else [v]
        return np.array([float(v) for v in values], dtype=np.float64)

    def init_state(self, n: int, dtype=np.float32) -> np.ndarray:
        """Zeroed state, shape ``(len(state), n)`` (Adagrad's ``sum`` starts at
        ``initial_accumulator_value``)."""
        state = np.zeros((len(self.state), n), dtype=dtype)
        if self.code == ADAGRAD:
            state[0] = self.resolved()["initial_accumulator_value"]
        return state


class SGDParams(OptimizerParams):
    """``torch.optim.SGD``."""

    torch_name: ClassVar[str] = "torch.optim.SGD"
    code: ClassVar[int] = SGD
    state: ClassVar[tuple[str, ...]] = ("momentum_buffer",)
    name: Literal["sgd"] = "sgd"
    lr: Real = Field(gt=0, description=_LR_DOC + " Required (torch.optim.SGD has no default).")
    momentum: Real = Field(0.0, ge=0, description="Momentum factor (0: plain SGD).")
    dampening: Real = Field(0.0, ge=0, description="Dampening of the momentum: b <- momentum b + (1 - dampening) g.")
    weight_decay: Real = Field(0.0, ge=0, description=_WD_DOC)
    nesterov: bool = Field(False, description="Nesterov momentum (needs momentum > 0 and dampening = 0).")

    @model_validator(mode="after")
    def _nesterov(self):
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(
                f"nesterov: requires momentum > 0 and dampening == 0 "
                f"(got momentum={self.momentum!r}, dampening={self.dampening!r})"
            )
        return self


class AdagradParams(OptimizerParams):
    """``torch.optim.Adagrad``."""

    torch_name: ClassVar[str] = "torch.optim.Adagrad"
    code: ClassVar[int] = ADAGRAD
    state: ClassVar[tuple[str, ...]] = ("sum",)
    name: Literal["adagrad"] = "adagrad"
    lr: Real = Field(1e-2, gt=0, description=_LR_DOC)
    lr_decay: Real = Field(0.0, ge=0, description="Step t uses lr / (1 + (t - 1) lr_decay).")
    weight_decay: Real = Field(0.0, ge=0, description=_WD_DOC)
    initial_accumulator_value: Real = Field(0.0, ge=0, description="Starting value of the sum of squared gradients.")
    eps: Real = Field(1e-10, gt=0, description="Added to the denominator.")


class AdadeltaParams(OptimizerParams):
    """``torch.optim.Adadelta``."""

    torch_name: ClassVar[str] = "torch.optim.Adadelta"
    code: ClassVar[int] = ADADELTA
    state: ClassVar[tuple[str, ...]] = ("square_avg", "acc_delta")
    name: Literal["adadelta"] = "adadelta"
    lr: Real = Field(1.0, gt=0, description=_LR_DOC + " Scales the delta.")
    rho: Real = Field(0.9, ge=0, le=1, description="Decay of the running averages of g^2 and delta^2.")
    eps: Real = Field(1e-6, gt=0, description="Added inside the square roots.")
    weight_decay: Real = Field(0.0, ge=0, description=_WD_DOC)


class RMSpropParams(OptimizerParams):
    """``torch.optim.RMSprop``."""

    torch_name: ClassVar[str] = "torch.optim.RMSprop"
    code: ClassVar[int] = RMSPROP
    state: ClassVar[tuple[str, ...]] = ("square_avg", "grad_avg", "momentum_buffer")
    name: Literal["rmsprop"] = "rmsprop"
    lr: Real = Field(1e-2, gt=0, description=_LR_DOC)
    alpha: Real = Field(0.99, ge=0, description="Smoothing constant of the running average of g^2.")
    eps: Real = Field(1e-8, gt=0, description="Added to the denominator.")
    weight_decay: Real = Field(0.0, ge=0, description=_WD_DOC)
    momentum: Real = Field(0.0, ge=0, description="Momentum factor (0: none).")
    centered: bool = Field(False, description="Normalize by the estimated variance of the gradient.")


_BETA = real(ge=0, lt=1)
_BETAS_DOC = "Decay rates (beta1, beta2) of the first and second moment estimates, each in [0, 1)."
_EPS_DOC = "Added to the denominator."
_AMSGRAD_DOC = "Use the running maximum of exp_avg_sq (AMSGrad)."


class AdamParams(OptimizerParams):
    """``torch.optim.Adam`` (L2 weight decay added to the gradient)."""

    torch_name: ClassVar[str] = "torch.optim.Adam"
    code: ClassVar[int] = ADAM
    state: ClassVar[tuple[str, ...]] = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    name: Literal["adam"] = "adam"
    lr: Real = Field(1e-3, gt=0, description=_LR_DOC)
    betas: tuple[_BETA, _BETA] = Field((0.9, 0.999), strict=False, description=_BETAS_DOC)
    eps: Real = Field(1e-8, gt=0, description=_EPS_DOC)
    weight_decay: Real = Field(0.0, ge=0, description=_WD_DOC)
    amsgrad: bool = Field(False, description=_AMSGRAD_DOC)


class AdamWParams(OptimizerParams):
    """``torch.optim.AdamW`` (decoupled weight decay)."""

    torch_name: ClassVar[str] = "torch.optim.AdamW"
    code: ClassVar[int] = ADAMW
    state: ClassVar[tuple[str, ...]] = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    name: Literal["adamw"] = "adamw"
    lr: Real = Field(1e-3, gt=0, description=_LR_DOC)
    betas: tuple[_BETA, _BETA] = Field((0.9, 0.999), strict=False, description=_BETAS_DOC)
    eps: Real = Field(1e-8, gt=0, description=_EPS_DOC)
    weight_decay: Real = Field(1e-2, ge=0, description="Decoupled decay: p <- p (1 - lr weight_decay).")
    amsgrad: bool = Field(False, description=_AMSGRAD_DOC)


#: name -> optimizer class, in ``code`` order
OPTIMIZERS: dict[str, type[OptimizerParams]] = {
    name_of(c): c for c in sorted(OptimizerParams.__subclasses__(), key=lambda c: c.code)
}
assert [c.code for c in OPTIMIZERS.values()] == list(range(len(OPTIMIZERS)))

#: The type of a scenario's ``[optimizer]`` table: one of :data:`OPTIMIZERS` by ``name`` (default sgd).
OptimizerConfig = tagged_union("OptimizerConfig", OPTIMIZERS, "sgd")


def get_spec(name: str) -> type[OptimizerParams]:
    """The class of optimizer ``name``; ``ValueError`` with a did-you-mean otherwise."""
    if isinstance(name, str) and name in OPTIMIZERS:
        return OPTIMIZERS[name]
    raise ValueError("optimizer." + unknown_name(name, OPTIMIZERS, "optimizer"))


def validate(name: str, params: dict) -> list[str]:
    """One line per problem with optimizer ``name`` and hyper-parameters ``params``."""
    if not isinstance(name, str) or name not in OPTIMIZERS:
        return ["optimizer." + unknown_name(name, OPTIMIZERS, "optimizer")]
    return problems(OPTIMIZERS[name], params)
