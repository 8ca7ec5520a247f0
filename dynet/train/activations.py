"""Activation functions and their derivatives as numba kernels.

Like scikit-learn's ``sklearn/neural_network/_base.py`` this module keeps
name-keyed tables of plain functions (:data:`ACTIVATIONS`, :data:`DERIVATIVES`),
but every function is ``@njit`` so a training-epoch kernel can call them, either
directly or through the integer-coded dispatchers :func:`activate` and
:func:`activate_backward` (a numba kernel cannot hold a dict of functions).

Conventions shared by every function here:

* Arrays are 2-D ``(batch, units)``; ``float32`` in training, but every function is
  dtype-generic (numba compiles one specialisation per dtype), so tests run them in
  ``float64``. Scalar arithmetic may happen in ``float64`` and is rounded to the
  output's dtype on store.
* Forward: ``name(z, out, param)`` writes ``a = f(z)`` into ``out``. ``z`` is the
  pre-activation. ``out`` may be ``z`` itself (in place); every function reads an
  element (or, for softmax, a whole row) before writing it.
* Backward: ``name_backward(z, a, grad_out, grad_in, param)`` receives the
  pre-activation ``z``, the forward output ``a = f(z)`` and ``grad_out = dL/da``, and
  writes ``grad_in = dL/dz``. For the elementwise functions that is
  ``grad_in = grad_out * f'(z)``; for softmax it is the Jacobian-vector product.
  Both ``z`` and ``a`` must be valid (a kernel that overwrote ``z`` in the forward pass
  cannot backpropagate through the ``z``-reading ones); :data:`BACKWARD_READS` says
  which of them each backward actually reads. ``grad_in`` may be ``grad_out``.
* ``param`` is the one scalar parameter of a family (``negative_slope`` for
  leaky_relu, ``alpha`` for elu, ``beta`` for softplus) and is ignored elsewhere;
  :data:`DEFAULT_PARAMS` holds PyTorch's defaults.
* At kinks the derivative takes PyTorch's value: relu and step 0 at ``z == 0``,
  leaky_relu ``negative_slope`` at ``z == 0``, elu ``alpha`` at ``z == 0``.

Formulas, forward ``a = f(z)`` then derivative ``f'(z)``, with ``s(x) = 1 / (1 + exp(-x))``:

* identity: ``z``; ``1``.
* step (Heaviside): ``1 if z > 0 else 0``; ``0`` (no gradient, see below).
* sigmoid: ``s(z)``, evaluated as ``e / (1 + e)`` with ``e = exp(z)`` for ``z < 0``;
  ``e / (1 + e)^2`` with ``e = exp(-|z|)``.
* tanh: ``tanh(z)``; ``4e / (1 + e)^2`` with ``e = exp(-2|z|)``.
* relu: ``max(z, 0)``; ``1 if z > 0 else 0``.
* leaky_relu: ``z if z > 0 else slope * z``; ``1 if z > 0 else slope``.
* elu: ``z if z > 0 else alpha * expm1(z)``; ``1 if z > 0 else alpha * exp(z)``.
* softplus: ``z if beta z > 20 else log1p(exp(beta z)) / beta``;
  ``1 if beta z > 20 else s(beta z)``.
* softmax (per row): ``a_j = exp(z_j - m) / sum_k exp(z_k - m)`` with ``m = max_k z_k``;
  backward is the Jacobian-vector product ``grad_in_j = a_j (g_j - sum_k g_k a_k)``.

The sigmoid and tanh derivatives are computed from ``z`` in the forms above rather
than as ``a (1 - a)`` / ``1 - a^2``: those lose all relative precision once ``a``
rounds to 1 (``|z| > 17`` for sigmoid in float32), these do not, and neither overflows.
The step function is the Rosenblatt perceptron's output unit: its derivative is 0
almost everywhere, so a perceptron is trained with the perceptron loss on the
pre-activation (:mod:`dynet.train.losses`), not by backpropagating through ``step``.
The softplus threshold (20, PyTorch's default) switches to the identity where
``log1p(exp(beta z))`` equals ``beta z`` to float32 precision.
"""

import math

from numba import njit

SOFTPLUS_THRESHOLD = 20.0

IDENTITY = 0
STEP = 1
SIGMOID = 2
TANH = 3
RELU = 4
LEAKY_RELU = 5
ELU = 6
SOFTPLUS = 7
SOFTMAX = 8

ACTIVATION_CODES = {
    "identity": IDENTITY,
    "step": STEP,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "elu": ELU,
    "softplus": SOFTPLUS,
    "softmax": SOFTMAX,
}

DEFAULT_PARAMS = {
    "identity": 0.0,
    "step": 0.0,
    "sigmoid": 0.0,
    "tanh": 0.0,
    "relu": 0.0,
    "leaky_relu": 0.01,  # negative_slope
    "elu": 1.0,  # alpha
    "softplus": 1.0,  # beta (threshold fixed at SOFTPLUS_THRESHOLD)
    "softmax": 0.0,
}

PARAM_NAMES = {"leaky_relu": "negative_slope", "elu": "alpha", "softplus": "beta"}

# Which of (z, a) each backward reads; grad_out is always read.
BACKWARD_READS = {
    "identity": (),
    "step": (),
    "sigmoid": ("z",),
    "tanh": ("z",),
    "relu": ("z",),
    "leaky_relu": ("z",),
    "elu": ("z",),
    "softplus": ("z",),
    "softmax": ("a",),
}


# --------------------------------------------------------------------------- forward


@njit(cache=True)
def identity(z, out, param):
    """``out = z``."""
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            out[i, j] = z[i, j]


@njit(cache=True)
def step(z, out, param):
    """Heaviside step: ``out = 1 if z > 0 else 0`` (0 at ``z == 0``, as sklearn's Perceptron)."""
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            out[i, j] = 1.0 if z[i, j] > 0.0 else 0.0


@njit(cache=True)
def sigmoid(z, out, param):
    """Logistic ``out = 1 / (1 + exp(-z))``, evaluated as ``e / (1 + e)``, ``e = exp(z)``, for ``z < 0``.

    Neither branch overflows: ``exp`` only sees non-positive arguments.
    """
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j]
            if v >= 0.0:
                out[i, j] = 1.0 / (1.0 + math.exp(-v))
            else:
                e = math.exp(v)
                out[i, j] = e / (1.0 + e)


@njit(cache=True)
def tanh(z, out, param):
    """``out = tanh(z)``."""
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            out[i, j] = math.tanh(z[i, j])


@njit(cache=True)
def relu(z, out, param):
    """``out = max(z, 0)``."""
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j]
            out[i, j] = v if v > 0.0 else 0.0


@njit(cache=True)
def leaky_relu(z, out, param):
    """``out = z if z > 0 else param * z`` with ``param = negative_slope`` (PyTorch default 0.01)."""
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j]
            out[i, j] = v if v > 0.0 else param * v


@njit(cache=True)
def elu(z, out, param):
    """``out = z if z > 0 else param * expm1(z)`` with ``param = alpha`` (default 1.0)."""
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j]
            out[i, j] = v if v > 0.0 else param * math.expm1(v)


@njit(cache=True)
def softplus(z, out, param):
    """``out = log1p(exp(beta z)) / beta``, or ``z`` where ``beta z > 20``; ``param = beta`` (default 1)."""
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            bz = param * z[i, j]
            if bz > SOFTPLUS_THRESHOLD:
                out[i, j] = z[i, j]
            else:
                out[i, j] = math.log1p(math.exp(bz)) / param


@njit(cache=True)
def softmax(z, out, param):
    """Row-wise ``out[i, j] = exp(z[i, j] - m_i) / sum_k exp(z[i, k] - m_i)``, ``m_i = max_k z[i, k]``.

    Subtracting the row maximum keeps every ``exp`` argument ``<= 0``, so nothing
    overflows and the largest term is exactly 1 (the sum is at least 1).
    """
    n = z.shape[1]
    for i in range(z.shape[0]):
        m = z[i, 0]
        for j in range(1, n):
            if z[i, j] > m:
                m = z[i, j]
        total = 0.0
        for j in range(n):
            e = math.exp(z[i, j] - m)
            out[i, j] = e
            total += e
        inv = 1.0 / total
        for j in range(n):
            out[i, j] = out[i, j] * inv


# --------------------------------------------------------------------------- backward


@njit(cache=True)
def identity_backward(z, a, grad_out, grad_in, param):
    """``grad_in = grad_out``."""
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            grad_in[i, j] = grad_out[i, j]


@njit(cache=True)
def step_backward(z, a, grad_out, grad_in, param):
    """``grad_in = 0``: the step function's derivative is 0 wherever it exists."""
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            grad_in[i, j] = 0.0


@njit(cache=True)
def sigmoid_backward(z, a, grad_out, grad_in, param):
    """``grad_in = grad_out * s(z) s(-z) = grad_out * e / (1 + e)^2`` with ``e = exp(-|z|)``."""
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            e = math.exp(-abs(z[i, j]))
            d = 1.0 + e
            grad_in[i, j] = grad_out[i, j] * (e / (d * d))


@njit(cache=True)
def tanh_backward(z, a, grad_out, grad_in, param):
    """``grad_in = grad_out * sech^2(z) = grad_out * 4e / (1 + e)^2`` with ``e = exp(-2|z|)``."""
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            e = math.exp(-2.0 * abs(z[i, j]))
            d = 1.0 + e
            grad_in[i, j] = grad_out[i, j] * (4.0 * e / (d * d))


@njit(cache=True)
def relu_backward(z, a, grad_out, grad_in, param):
    """``grad_in = grad_out if z > 0 else 0``."""
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            g = grad_out[i, j]  # loaded unconditionally: a select, not an unpredictable branch
            grad_in[i, j] = g if z[i, j] > 0.0 else 0.0


@njit(cache=True)
def leaky_relu_backward(z, a, grad_out, grad_in, param):
    """``grad_in = grad_out if z > 0 else param * grad_out``."""
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            g = grad_out[i, j]
            grad_in[i, j] = g if z[i, j] > 0.0 else param * g


@njit(cache=True)
def elu_backward(z, a, grad_out, grad_in, param):
    """``grad_in = grad_out if z > 0 else grad_out * param * exp(z)``."""
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            g = grad_out[i, j]
            v = z[i, j]
            grad_in[i, j] = g if v > 0.0 else g * (param * math.exp(v))


@njit(cache=True)
def softplus_backward(z, a, grad_out, grad_in, param):
    """``grad_in = grad_out * s(beta z)``, or ``grad_out`` where ``beta z > 20``."""
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            g = grad_out[i, j]
            bz = param * z[i, j]
            if bz > SOFTPLUS_THRESHOLD:
                grad_in[i, j] = g
            elif bz >= 0.0:
                grad_in[i, j] = g / (1.0 + math.exp(-bz))
            else:
                e = math.exp(bz)
                grad_in[i, j] = g * (e / (1.0 + e))


@njit(cache=True)
def softmax_backward(z, a, grad_out, grad_in, param):
    """Row-wise Jacobian-vector product ``grad_in[i, j] = a[i, j] (g[i, j] - sum_k g[i, k] a[i, k])``.

    ``J[j, k] = a_j (delta_jk - a_k)`` is symmetric, so this is both ``J g`` and ``J^T g``.
    """
    n = a.shape[1]
    for i in range(a.shape[0]):
        dot = 0.0
        for k in range(n):
            dot += grad_out[i, k] * a[i, k]
        for j in range(n):
            grad_in[i, j] = a[i, j] * (grad_out[i, j] - dot)


# --------------------------------------------------------------------------- dispatch


@njit(cache=True)
def activate(code, z, out, param):
    """Forward of the activation with integer ``code`` (see :data:`ACTIVATION_CODES`).

    Parameters
    ----------
    code : int
        ``ACTIVATION_CODES[name]``.
    z : ndarray of float32 (or float64), shape (N, F)
        Pre-activations.
    out : ndarray of float32 (or float64), shape (N, F)
        Written; may be ``z``.
    param : float
        The activation's parameter (leaky ReLU's slope, ELU's alpha; ignored by the others).
    """
    if code == IDENTITY:
        identity(z, out, param)
    elif code == STEP:
        step(z, out, param)
    elif code == SIGMOID:
        sigmoid(z, out, param)
    elif code == TANH:
        tanh(z, out, param)
    elif code == RELU:
        relu(z, out, param)
    elif code == LEAKY_RELU:
        leaky_relu(z, out, param)
    elif code == ELU:
        elu(z, out, param)
    elif code == SOFTPLUS:
        softplus(z, out, param)
    elif code == SOFTMAX:
        softmax(z, out, param)
    else:
        raise ValueError("unknown activation code")


@njit(cache=True)
def activate_backward(code, z, a, grad_out, grad_in, param):
    """Backward of the activation with integer ``code``: ``grad_in = dL/dz`` from ``grad_out = dL/da``.

    Parameters
    ----------
    code : int
    z, a : ndarray of float32 (or float64), shape (N, F)
        The forward pass's input and output.
    grad_out : ndarray of float32 (or float64), shape (N, F)
        ``dL/da``.
    grad_in : ndarray of float32 (or float64), shape (N, F)
        ``dL/dz``, written; may be ``grad_out``.
    param : float
    """
    if code == IDENTITY:
        identity_backward(z, a, grad_out, grad_in, param)
    elif code == STEP:
        step_backward(z, a, grad_out, grad_in, param)
    elif code == SIGMOID:
        sigmoid_backward(z, a, grad_out, grad_in, param)
    elif code == TANH:
        tanh_backward(z, a, grad_out, grad_in, param)
    elif code == RELU:
        relu_backward(z, a, grad_out, grad_in, param)
    elif code == LEAKY_RELU:
        leaky_relu_backward(z, a, grad_out, grad_in, param)
    elif code == ELU:
        elu_backward(z, a, grad_out, grad_in, param)
    elif code == SOFTPLUS:
        softplus_backward(z, a, grad_out, grad_in, param)
    elif code == SOFTMAX:
        softmax_backward(z, a, grad_out, grad_in, param)
    else:
        raise ValueError("unknown activation code")


ACTIVATIONS = {
    "identity": identity,
    "step": step,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "softplus": softplus,
    "softmax": softmax,
}

DERIVATIVES = {
    "identity": identity_backward,
    "step": step_backward,
    "sigmoid": sigmoid_backward,
    "tanh": tanh_backward,
    "relu": relu_backward,
    "leaky_relu": leaky_relu_backward,
    "elu": elu_backward,
    "softplus": softplus_backward,
    "softmax": softmax_backward,
}


# --------------------------------------------------------------------------- init gains

# torch.nn.init.calculate_gain names accepted in addition to the activation names.
_GAIN_ALIASES = {"linear": "identity"}


def gain(name: str, param: float | None = None) -> float:
    """Recommended initialisation gain for an activation (``torch.nn.init.calculate_gain``).

    ``identity``/``linear`` and ``sigmoid``: 1; ``tanh``: 5/3; ``relu``: ``sqrt(2)``;
    ``leaky_relu``: ``sqrt(2 / (1 + slope^2))`` with ``slope = param`` (default 0.01, as
    :data:`DEFAULT_PARAMS`; note that ``calculate_gain('leaky_relu')`` itself defaults
    to 0.01 while ``kaiming_*`` pass ``a = 0``). ``step``, ``elu``, ``softplus`` and
    ``softmax`` have no entry in PyTorch's table (it raises); they get the linear
    gain 1 here. Raises ``ValueError`` for unknown names.
    """
    key = _GAIN_ALIASES.get(name, name)
    if key not in ACTIVATION_CODES:
        raise ValueError(f"unknown activation {name!r}")
    if key == "tanh":
        return 5.0 / 3.0
    if key == "relu":
        return math.sqrt(2.0)
    if key == "leaky_relu":
        slope = DEFAULT_PARAMS["leaky_relu"] if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope * slope))
    return 1.0


GAINS = {name: gain(name) for name in ACTIVATION_CODES}
GAINS["linear"] = 1.0
