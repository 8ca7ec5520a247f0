"""Weight initializers: float32 arrays drawn from an explicit numpy ``Generator``.

Conventions:

* A dense layer's weight matrix has shape ``(fan_in, fan_out)`` (``Y = X W + b``, see
  :mod:`dynet.train.dense`): ``fan_in = shape[0]``, ``fan_out = shape[1]``. This is the
  transpose of PyTorch's ``nn.Linear.weight`` ``(out, in)``; the formulas below use
  fans, so they agree with PyTorch's for the same layer. Fan-based initializers need a
  2-D shape; ``zeros``, ``constant``, ``uniform`` and ``normal`` take any shape.
* Biases are zero (``zeros``) unless a ``constant`` is asked for.
* Every initializer is ``f(rng, shape, **params)`` and returns a new float32 array.
  Draws are made in float64 and rounded once to float32, so a uniform sample lies in
  the closed interval ``[a, b]`` after rounding. The same generator state gives the
  same array.

Distributions (aliases in brackets; ``L`` a uniform's half-width, ``s`` a normal's std):

* ``zeros``: 0. ``constant(value=0)``: ``value``.
* ``uniform(a=0, b=1)``: ``U(a, b)`` (``torch.nn.init.uniform_``).
* ``normal(mean=0, std=1)``: ``N(mean, std^2)`` (``torch.nn.init.normal_``).
* ``glorot_uniform(gain=1)`` [xavier_uniform]: ``L = gain sqrt(6 / (fan_in + fan_out))``.
* ``glorot_normal(gain=1)`` [xavier_normal]: ``s = gain sqrt(2 / (fan_in + fan_out))``.
* ``he_uniform(a=0, mode="fan_in", nonlinearity="leaky_relu")`` [kaiming_uniform]:
  ``L = sqrt(3) g / sqrt(fan)``.
* ``he_normal(...)`` [kaiming_normal], same parameters: ``s = g / sqrt(fan)``.
* ``lecun_uniform``: ``L = sqrt(3 / fan_in)`` (variance ``1 / fan_in``).
* ``lecun_normal``: ``s = 1 / sqrt(fan_in)`` (untruncated; Keras truncates at 2 s).

He/Kaiming follows ``torch.nn.init.kaiming_*``: ``mode`` is ``"fan_in"`` (default,
preserves forward variance) or ``"fan_out"`` (backward), ``nonlinearity`` (default
``"leaky_relu"``) and ``a`` (its negative slope, default 0) give
``g = calculate_gain(nonlinearity, a)``, so the defaults give ``g = sqrt(2)``.
"""

import math

import numpy as np

from .activations import gain as activation_gain
from .init_params import FAN_MODES, PARAMS, validate


def _fans(shape):
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2:
        raise ValueError(f"fan-based initializers need a 2-D (fan_in, fan_out) shape, got {shape}")
    fan_in, fan_out = shape
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"fans must be positive, got shape {shape}")
    return fan_in, fan_out


def _f32(x):
    return np.asarray(x, dtype=np.float64).astype(np.float32)


def zeros(rng, shape):
    """All zeros (``rng`` unused, accepted for a uniform signature)."""
    return np.zeros(shape, np.float32)


def constant(rng, shape, value=0.0):
    """Every entry ``value``."""
    return np.full(shape, value, np.float32)


def uniform(rng, shape, a=0.0, b=1.0):
    """``U(a, b)``: mean ``(a + b) / 2``, variance ``(b - a)^2 / 12``."""
    return _f32(rng.uniform(a, b, size=shape))


def normal(rng, shape, mean=0.0, std=1.0):
    """``N(mean, std^2)``."""
    return _f32(rng.normal(mean, std, size=shape))


def glorot_uniform(rng, shape, gain=1.0):
    """Glorot & Bengio (2010): ``U(-L, L)``, ``L = gain sqrt(6 / (fan_in + fan_out))``.

    Variance ``L^2 / 3 = gain^2 2 / (fan_in + fan_out)``.
    """
    fan_in, fan_out = _fans(shape)
    limit = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _f32(rng.uniform(-limit, limit, size=shape))


def glorot_normal(rng, shape, gain=1.0):
    """Glorot & Bengio (2010): ``N(0, s^2)``, ``s = gain sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _f32(rng.normal(0.0, std, size=shape))


def he_std(shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """``g / sqrt(fan)`` with ``g = calculate_gain(nonlinearity, a)`` and ``fan`` picked by ``mode``."""
    fan_in, fan_out = _fans(shape)
    if mode not in FAN_MODES:
        raise ValueError(f"mode must be one of {FAN_MODES}, got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    g = activation_gain(nonlinearity, a if nonlinearity == "leaky_relu" else None)
    return g / math.sqrt(fan)


def he_uniform(rng, shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He et al. (2015), ``torch.nn.init.kaiming_uniform_``: ``U(-L, L)``, ``L = sqrt(3) he_std``."""
    limit = math.sqrt(3.0) * he_std(shape, a, mode, nonlinearity)
    return _f32(rng.uniform(-limit, limit, size=shape))


def he_normal(rng, shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He et al. (2015), ``torch.nn.init.kaiming_normal_``: ``N(0, he_std^2)``."""
    std = he_std(shape, a, mode, nonlinearity)
    return _f32(rng.normal(0.0, std, size=shape))


def lecun_uniform(rng, shape):
    """LeCun et al. (1998): ``U(-L, L)``, ``L = sqrt(3 / fan_in)`` (variance ``1 / fan_in``)."""
    fan_in, _ = _fans(shape)
    limit = math.sqrt(3.0 / fan_in)
    return _f32(rng.uniform(-limit, limit, size=shape))


def lecun_normal(rng, shape):
    """LeCun et al. (1998): ``N(0, 1 / fan_in)`` (not truncated)."""
    fan_in, _ = _fans(shape)
    return _f32(rng.normal(0.0, 1.0 / math.sqrt(fan_in), size=shape))


INITIALIZERS = {
    "zeros": zeros,
    "constant": constant,
    "uniform": uniform,
    "normal": normal,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "xavier_uniform": glorot_uniform,
    "xavier_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "kaiming_uniform": he_uniform,
    "kaiming_normal": he_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
}

assert PARAMS.keys() == INITIALIZERS.keys()


def initialize(name, rng, shape, **params):
    """``INITIALIZERS[name](rng, shape, **params)`` after :func:`validate`; ``ValueError`` lists the problems."""
    found = validate(name, params)
    if found:
        raise ValueError("; ".join(found))
    return INITIALIZERS[name](rng, shape, **params)
