"""The initializers' parameter tables: one pydantic model per initializer (no numba).

:data:`PARAMS` maps an initializer's name (the keys of ``dynet.train.initializers.INITIALIZERS``,
aliases included) to the model of its parameters, a scenario's ``init.params``; :func:`validate`
checks a name and its parameters. Scenarios validate with this module alone; the initializers
(:mod:`dynet.train.initializers`) import it, not the reverse.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .hyper import Hyper, Real, problems, unknown_name

#: He/Kaiming's ``mode``: preserve the forward (fan_in) or the backward (fan_out) variance.
FAN_MODES = ("fan_in", "fan_out")
_NONLINEARITIES = ("linear", "identity", "step", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "softmax")


class InitParams(Hyper):
    """The parameters of an initializer (the fields), given in a scenario's ``init.params``."""


class NoParams(InitParams):
    """zeros, lecun_uniform, lecun_normal: no parameters."""


class ConstantParams(InitParams):
    value: Real = Field(0.0, description="Every entry.")


class UniformParams(InitParams):
    a: Real = Field(0.0, description="Lower bound.")
    b: Real = Field(1.0, description="Upper bound (> a).")

    @model_validator(mode="after")
    def _order(self):
        if self.a >= self.b:
            raise ValueError(f"a: must be < b (got a={self.a!r}, b={self.b!r})")
        return self


class NormalParams(InitParams):
    mean: Real = Field(0.0, description="Mean.")
    std: Real = Field(1.0, gt=0, description="Standard deviation.")


class GlorotParams(InitParams):
    gain: Real = Field(
        1.0,
        gt=0,
        description="Scale of the limit / std; in a feedforward scenario it defaults "
        "to the hidden activation's recommended gain.",
    )


class HeParams(InitParams):
    a: Real = Field(0.0, description="Negative slope of leaky_relu (for the gain).")
    mode: Literal[FAN_MODES] = Field(
        "fan_in", description="fan_in preserves the forward variance, fan_out the backward."
    )
    nonlinearity: Literal[_NONLINEARITIES] = Field(
        "leaky_relu", description="Activation whose gain (calculate_gain) scales the std."
    )


#: initializer name -> the model of its parameters (aliases share their target's)
PARAMS: dict[str, type[InitParams]] = {
    "zeros": NoParams,
    "constant": ConstantParams,
    "uniform": UniformParams,
    "normal": NormalParams,
    "glorot_uniform": GlorotParams,
    "glorot_normal": GlorotParams,
    "xavier_uniform": GlorotParams,
    "xavier_normal": GlorotParams,
    "he_uniform": HeParams,
    "he_normal": HeParams,
    "kaiming_uniform": HeParams,
    "kaiming_normal": HeParams,
    "lecun_uniform": NoParams,
    "lecun_normal": NoParams,
}


def validate(name, params=None):
    """Problems with an initializer ``name`` and its ``params`` dict, one line each; ``[]`` when fine.

    Checks (pydantic, :data:`PARAMS`): the name (with a did-you-mean), unknown parameter names
    (did-you-mean), numbers that are not finite numbers, ``std <= 0``, ``a >= b`` for ``uniform``,
    ``gain <= 0``, ``mode`` and ``nonlinearity`` for He/Kaiming.
    """
    if not isinstance(name, str) or name not in PARAMS:
        return ["weights: " + unknown_name(name, PARAMS, "initializer")[len("name: ") :]]
    found = problems(PARAMS[name], dict(params or {}))
    if not PARAMS[name].model_fields:
        found = [p.replace(": unknown key", f": unknown key ({name} takes no parameters)") for p in found]
    return found
