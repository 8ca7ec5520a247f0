"""Optimizer steps with ``torch.optim`` semantics, callable from numba kernels.

Every step function updates flat 1-D arrays *in place*: ``params`` (the
parameters), ``grads`` (their gradients, read only) and the optimizer's state
arrays, all of the same length ``n`` and dtype (``float32`` in the training
kernels; ``float64`` works too). Arithmetic is done in ``float64`` per element
and rounded on store. Scalars: ``t`` is the 1-based number of this step (the
first call has ``t == 1``), ``lr`` the learning rate for this step (from a
schedule, see :mod:`dynet.train.schedules`); the other hyper-parameters follow
PyTorch's names and defaults. The update rules are the algorithms documented for
``torch.optim`` (and implemented by its single-tensor code path), written out in
each docstring with ``g`` the gradient, ``p`` the parameter, ``i`` one element.

Layouts for kernels: a training kernel keeps every parameter in one flat buffer
and every gradient in another (layers are views). It can call a named step
(``adam_step``) or the dispatcher :func:`optimizer_step`, which takes the optimizer
``code``, a 2-D ``state`` array with one row per name in the class's ``state``
(:data:`OPTIMIZERS`), and a ``float64`` ``hyper`` vector of the hyper-parameters after
``lr`` in the class's field order, so one compiled kernel serves every optimizer.

State that a setting does not use (the momentum buffer of plain SGD,
``max_exp_avg_sq`` without ``amsgrad``, ``grad_avg`` of an uncentred RMSprop) may
be passed as an empty array to the named steps; it is never touched.

The Python side: :data:`OPTIMIZERS` maps a name to its pydantic model (an
:class:`OptimizerParams`: its fields are the hyper-parameters with PyTorch's names,
defaults, allowed ranges and descriptions, declared once; :data:`OptimizerConfig` is the
scenario's ``[optimizer]`` table, one of them by ``name``); :class:`Optimizer` allocates
state for a list of parameter arrays and steps them (tests, drivers). Gradient clipping: :func:`clip_norm_flat` /
:func:`clip_value_flat` over one flat buffer (njit), :func:`clip_grad_norm_` /
:func:`clip_grad_value_` over a list of arrays.

Validation is pydantic's, as for scenarios (:mod:`dynet.train.hyper`), shared with
:mod:`dynet.train.schedules` and :mod:`dynet.train.initializers`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
from numba import njit
from pydantic import Field, model_validator

from .hyper import REQUIRED as REQUIRED  # noqa: F401 (a missing default, as OPTIMIZERS[name].defaults() gives it)
from .hyper import Hyper, Real, build, name_of, problems, real, tagged_union, unknown_name

# error_model="numpy": division follows IEEE (no zero-division check), which lets LLVM
# vectorize the element loops (Adam's step is 4x faster); every divisor here is > 0.

SGD = 0
ADAGRAD = 1
ADADELTA = 2
RMSPROP = 3
ADAM = 4
ADAMW = 5


# ----------------------------------------------------------------------------
# njit steps
# ----------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _check_len(a, n):
    if a.shape[0] != n:
        raise ValueError("optimizer step: a gradient or state array differs in length from params")


@njit(cache=True, error_model="numpy")
def sgd_step(params, grads, momentum_buffer, t, lr, momentum, dampening, weight_decay, nesterov):
    """One SGD step (``torch.optim.SGD``), in place.

    Parameters
    ----------
    params, grads : ndarray, shape (n,)
        Parameters (updated) and their gradients.
    momentum_buffer : ndarray, shape (n,) or (0,)
        Momentum buffer ``b``; may be empty when ``momentum == 0``.
    t : int
        1-based step number; the buffer is initialised at ``t == 1``.
    lr, momentum, dampening, weight_decay : float
        Learning rate and PyTorch's hyper-parameters.
    nesterov : bool
        Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).

    Notes
    -----
    Per element::

        g <- g + weight_decay * p                     (if weight_decay != 0)
        if momentum != 0:
            b <- g                                    (t == 1: no dampening)
            b <- momentum * b + (1 - dampening) * g   (t > 1)
            g <- g + momentum * b   if nesterov   else   g <- b
        p <- p - lr * g
    """
    n = params.shape[0]
    _check_len(grads, n)
    if momentum != 0.0:
        _check_len(momentum_buffer, n)
    for i in range(n):
        g = float(grads[i])
        if weight_decay != 0.0:
            g += weight_decay * params[i]
        if momentum != 0.0:
            if t == 1:
                b = g
            else:
                b = momentum * momentum_buffer[i] + (1.0 - dampening) * g
            momentum_buffer[i] = b
            if nesterov:
                g = g + momentum * b
            else:
                g = b
        params[i] = params[i] - lr * g


@njit(cache=True, error_model="numpy")
def adagrad_step(params, grads, state_sum, t, lr, lr_decay, weight_decay, eps):
    """One Adagrad step (``torch.optim.Adagrad``), in place.

    Parameters
    ----------
    params, grads : ndarray, shape (n,)
    state_sum : ndarray, shape (n,)
        Accumulated squared gradients ``s`` (PyTorch's ``sum``), initialised by the
        caller to ``initial_accumulator_value``.
    t : int
        1-based step number.
    lr, lr_decay, weight_decay, eps : float

    Notes
    -----
    ::

        clr = lr / (1 + (t - 1) * lr_decay)
        g <- g + weight_decay * p                     (if weight_decay != 0)
        s <- s + g^2
        p <- p - clr * g / (sqrt(s) + eps)
    """
    n = params.shape[0]
    _check_len(grads, n)
    _check_len(state_sum, n)
    clr = lr / (1.0 + (t - 1) * lr_decay)
    for i in range(n):
        g = float(grads[i])
        if weight_decay != 0.0:
            g += weight_decay * params[i]
        s = state_sum[i] + g * g
        state_sum[i] = s
        params[i] = params[i] - clr * g / (math.sqrt(s) + eps)


@njit(cache=True, error_model="numpy")
def adadelta_step(params, grads, square_avg, acc_delta, t, lr, rho, eps, weight_decay):
    """One Adadelta step (``torch.optim.Adadelta``), in place.

    Parameters
    ----------
    params, grads : ndarray, shape (n,)
    square_avg, acc_delta : ndarray, shape (n,)
        Running averages ``v`` of ``g^2`` and ``u`` of ``delta^2`` (start at 0).
    t : int
        1-based step number (unused; kept for a uniform signature).
    lr, rho, eps, weight_decay : float

    Notes
    -----
    ::

        g <- g + weight_decay * p                     (if weight_decay != 0)
        v <- rho * v + (1 - rho) * g^2
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u <- rho * u + (1 - rho) * delta^2
        p <- p - lr * delta
    """
    n = params.shape[0]
    _check_len(grads, n)
    _check_len(square_avg, n)
    _check_len(acc_delta, n)
    for i in range(n):
        g = float(grads[i])
        if weight_decay != 0.0:
            g += weight_decay * params[i]
        v = rho * square_avg[i] + (1.0 - rho) * g * g
        square_avg[i] = v
        delta = math.sqrt(acc_delta[i] + eps) / math.sqrt(v + eps) * g
        acc_delta[i] = rho * acc_delta[i] + (1.0 - rho) * delta * delta
        params[i] = params[i] - lr * delta


@njit(cache=True, error_model="numpy")
def rmsprop_step(
    params, grads, square_avg, grad_avg, momentum_buffer, t, lr, alpha, eps, weight_decay, momentum, centered
):
    """One RMSprop step (``torch.optim.RMSprop``), in place.

    Parameters
    ----------
    params, grads : ndarray, shape (n,)
    square_avg : ndarray, shape (n,)
        Running average ``v`` of ``g^2`` (starts at 0).
    grad_avg : ndarray, shape (n,) or (0,)
        Running average ``m`` of ``g`` (starts at 0); may be empty unless ``centered``.
    momentum_buffer : ndarray, shape (n,) or (0,)
        Buffer ``b`` (starts at 0); may be empty when ``momentum == 0``.
    t : int
        1-based step number (unused; kept for a uniform signature).
    lr, alpha, eps, weight_decay, momentum : float
    centered : bool

    Notes
    -----
    ::

        g <- g + weight_decay * p                     (if weight_decay != 0)
        v <- alpha * v + (1 - alpha) * g^2
        if centered:  m <- alpha * m + (1 - alpha) * g;   d = sqrt(v - m^2) + eps
        else:         d = sqrt(v) + eps
        if momentum > 0:  b <- momentum * b + g / d;   p <- p - lr * b
        else:             p <- p - lr * g / d
    """
    n = params.shape[0]
    _check_len(grads, n)
    _check_len(square_avg, n)
    if centered:
        _check_len(grad_avg, n)
    if momentum > 0.0:
        _check_len(momentum_buffer, n)
    for i in range(n):
        g = float(grads[i])
        if weight_decay != 0.0:
            g += weight_decay * params[i]
        v = alpha * square_avg[i] + (1.0 - alpha) * g * g
        square_avg[i] = v
        if centered:
            m = alpha * grad_avg[i] + (1.0 - alpha) * g
            grad_avg[i] = m
            d = math.sqrt(v - m * m) + eps
        else:
            d = math.sqrt(v) + eps
        if momentum > 0.0:
            b = momentum * momentum_buffer[i] + g / d
            momentum_buffer[i] = b
            params[i] = params[i] - lr * b
        else:
            params[i] = params[i] - lr * g / d


@njit(cache=True, error_model="numpy")
def _adam(
    params, grads, exp_avg, exp_avg_sq, max_exp_avg_sq, t, lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled
):
    n = params.shape[0]
    _check_len(grads, n)
    _check_len(exp_avg, n)
    _check_len(exp_avg_sq, n)
    if amsgrad:
        _check_len(max_exp_avg_sq, n)
    step_size = lr / (1.0 - beta1**t)
    bc2_sqrt = math.sqrt(1.0 - beta2**t)
    shrink = 1.0 - lr * weight_decay
    for i in range(n):
        g = float(grads[i])
        if weight_decay != 0.0:
            if decoupled:
                params[i] = params[i] * shrink
            else:
                g += weight_decay * params[i]
        m = beta1 * exp_avg[i] + (1.0 - beta1) * g
        exp_avg[i] = m
        v = beta2 * exp_avg_sq[i] + (1.0 - beta2) * g * g
        exp_avg_sq[i] = v
        if amsgrad:
            if v > max_exp_avg_sq[i]:
                max_exp_avg_sq[i] = v
            v = max_exp_avg_sq[i]
        params[i] = params[i] - step_size * m / (math.sqrt(v) / bc2_sqrt + eps)


@njit(cache=True, error_model="numpy")
def adam_step(params, grads, exp_avg, exp_avg_sq, max_exp_avg_sq, t, lr, beta1, beta2, eps, weight_decay, amsgrad):
    """One Adam step (``torch.optim.Adam``; L2 weight decay added to the gradient).

    Parameters
    ----------
    params, grads : ndarray, shape (n,)
    exp_avg, exp_avg_sq : ndarray, shape (n,)
        First and second moment estimates ``m`` and ``v`` (start at 0).
    max_exp_avg_sq : ndarray, shape (n,) or (0,)
        Running maximum ``v_max`` of ``v`` (starts at 0); may be empty unless ``amsgrad``.
    t : int
        1-based step number (bias corrections).
    lr, beta1, beta2, eps, weight_decay : float
        ``beta1, beta2`` are PyTorch's ``betas``.
    amsgrad : bool

    Notes
    -----
    ::

        g <- g + weight_decay * p                     (if weight_decay != 0)
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        if amsgrad:  v_max <- max(v_max, v);  w = v_max     else  w = v
        p <- p - lr / (1 - beta1^t) * m / (sqrt(w) / sqrt(1 - beta2^t) + eps)

    With ``amsgrad`` the maximum is taken over the raw ``v`` and the bias correction
    applied to the maximum, as PyTorch implements it and its current docs state
    (older docs took the maximum of the bias-corrected ``v``).
    """
    _adam(params, grads, exp_avg, exp_avg_sq, max_exp_avg_sq, t, lr, beta1, beta2, eps, weight_decay, amsgrad, False)


@njit(cache=True, error_model="numpy")
def adamw_step(params, grads, exp_avg, exp_avg_sq, max_exp_avg_sq, t, lr, beta1, beta2, eps, weight_decay, amsgrad):
    """One AdamW step (``torch.optim.AdamW``; decoupled weight decay).

    Same arguments and moment updates as :func:`adam_step`, but the gradient is not
    changed; instead, before the moments are updated::

        p <- p * (1 - lr * weight_decay)

    and then, with ``g`` the raw gradient, the Adam update of :func:`adam_step`.
    PyTorch's default ``weight_decay`` for AdamW is 0.01.
    """
    _adam(params, grads, exp_avg, exp_avg_sq, max_exp_avg_sq, t, lr, beta1, beta2, eps, weight_decay, amsgrad, True)


@njit(cache=True, error_model="numpy")
def optimizer_step(code, params, grads, state, t, lr, hyper):
    """Dispatch one step of optimizer ``code`` (``SGD``, ..., ``ADAMW``), in place.

    Parameters
    ----------
    code : int
        ``OPTIMIZERS[name].code`` (``SGD``, ..., ``ADAMW``).
    params, grads : ndarray, shape (n,)
    state : ndarray, shape (n_state, n)
        One row per name in ``OPTIMIZERS[name].state``, in that order
        (``OptimizerParams.init_state`` allocates and initialises it).
    t : int
        1-based step number.
    lr : float
        Learning rate for this step.
    hyper : ndarray of float64, shape (len(hyper_layout()),)
        The other hyper-parameters in ``OPTIMIZERS[name].hyper_layout()`` order (the
        class's fields after ``lr``), booleans as 0.0 / 1.0 (``OptimizerParams.pack_hyper``
        builds it).
    """
    if code == SGD:
        if state.shape[0] < 1 or hyper.shape[0] < 4:
            raise ValueError("optimizer_step: sgd needs 1 state row and 4 hyper-parameters")
        sgd_step(params, grads, state[0], t, lr, hyper[0], hyper[1], hyper[2], hyper[3] != 0.0)
    elif code == ADAGRAD:
        if state.shape[0] < 1 or hyper.shape[0] < 4:
            raise ValueError("optimizer_step: adagrad needs 1 state row and 4 hyper-parameters")
        adagrad_step(params, grads, state[0], t, lr, hyper[0], hyper[1], hyper[3])
    elif code == ADADELTA:
        if state.shape[0] < 2 or hyper.shape[0] < 3:
            raise ValueError("optimizer_step: adadelta needs 2 state rows and 3 hyper-parameters")
        adadelta_step(params, grads, state[0], state[1], t, lr, hyper[0], hyper[1], hyper[2])
    elif code == RMSPROP:
        if state.shape[0] < 3 or hyper.shape[0] < 5:
            raise ValueError("optimizer_step: rmsprop needs 3 state rows and 5 hyper-parameters")
        rmsprop_step(
            params, grads, state[0], state[1], state[2], t, lr, hyper[0], hyper[1], hyper[2], hyper[3], hyper[4] != 0.0
        )
    elif code == ADAM or code == ADAMW:
        if state.shape[0] < 3 or hyper.shape[0] < 5:
            raise ValueError("optimizer_step: adam/adamw need 3 state rows and 5 hyper-parameters")
        # literal flags, so the inlined loop is specialised and vectorises (runtime flags
        # inside the element loop made this dispatch 9x slower than adam_step)
        b1, b2, eps, wd = hyper[0], hyper[1], hyper[2], hyper[3]
        if hyper[4] != 0.0:
            if code == ADAMW:
                _adam(params, grads, state[0], state[1], state[2], t, lr, b1, b2, eps, wd, True, True)
            else:
                _adam(params, grads, state[0], state[1], state[2], t, lr, b1, b2, eps, wd, True, False)
        elif code == ADAMW:
            _adam(params, grads, state[0], state[1], state[2], t, lr, b1, b2, eps, wd, False, True)
        else:
            _adam(params, grads, state[0], state[1], state[2], t, lr, b1, b2, eps, wd, False, False)
    else:
        raise ValueError("optimizer_step: unknown optimizer code")


# ----------------------------------------------------------------------------
# gradient clipping
# ----------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def grad_norm_flat(grads, norm_type=2.0):
    """Total ``norm_type``-norm of a flat gradient buffer (``inf``: largest ``|g|``).

    ``(sum_i |g_i|^p)^(1/p)``, accumulated in float64.
    """
    n = grads.shape[0]
    if norm_type == math.inf:
        acc = 0.0
        for i in range(n):
            a = abs(float(grads[i]))
            if a > acc or a != a:
                acc = a
        return acc
    acc = 0.0
    if norm_type == 2.0:
        for i in range(n):
            g = float(grads[i])
            acc += g * g
        return math.sqrt(acc)
    for i in range(n):
        acc += abs(float(grads[i])) ** norm_type
    return acc ** (1.0 / norm_type)


@njit(cache=True, error_model="numpy")
def scale_flat(grads, coef):
    """``grads *= coef`` in place."""
    for i in range(grads.shape[0]):
        grads[i] = grads[i] * coef


@njit(cache=True, error_model="numpy")
def clip_coefficient(total_norm, max_norm):
    """``min(max_norm / (total_norm + 1e-6), 1)`` as ``torch.nn.utils.clip_grad_norm_``.

    A NaN total norm gives NaN (PyTorch's ``clamp`` propagates it).
    """
    coef = max_norm / (total_norm + 1e-6)
    if coef >= 1.0:
        return 1.0
    return coef


@njit(cache=True, error_model="numpy")
def clip_norm_flat(grads, max_norm, norm_type=2.0):
    """Clip a flat gradient buffer by its total norm, in place; return the norm.

    ``total = ||g||_p``; ``clip_coef = max_norm / (total + 1e-6)``; when
    ``clip_coef < 1``, ``g <- g * clip_coef``. Returns ``total`` (before clipping).
    As in PyTorch (``error_if_nonfinite=False``) a NaN total turns every gradient
    into NaN and an infinite one scales by 0.
    """
    total = grad_norm_flat(grads, norm_type)
    coef = clip_coefficient(total, max_norm)
    if coef != 1.0:
        scale_flat(grads, coef)
    return total


@njit(cache=True, error_model="numpy")
def clip_value_flat(grads, clip_value):
    """Clamp every gradient to ``[-clip_value, clip_value]`` in place (``clip_grad_value_``)."""
    for i in range(grads.shape[0]):
        g = grads[i]
        if g > clip_value:
            grads[i] = clip_value
        elif g < -clip_value:
            grads[i] = -clip_value


def clip_grad_norm_(grads, max_norm: float, norm_type: float = 2.0) -> float:
    """``torch.nn.utils.clip_grad_norm_`` over a list of gradient arrays, in place.

    The total norm is the ``norm_type``-norm of all elements of all arrays together;
    every array is scaled by ``min(max_norm / (total + 1e-6), 1)``. Returns the total
    norm (before clipping).
    """
    arrays = [grads] if isinstance(grads, np.ndarray) else list(grads)
    norm_type = float(norm_type)
    if not arrays:
        return 0.0
    norms = np.array([grad_norm_flat(np.ascontiguousarray(a).reshape(-1), norm_type) for a in arrays])
    total = float(grad_norm_flat(norms, norm_type))
    coef = clip_coefficient(total, float(max_norm))
    if coef != 1.0:
        for a in arrays:
            a *= a.dtype.type(coef)
    return total


def clip_grad_value_(grads, clip_value: float) -> None:
    """``torch.nn.utils.clip_grad_value_``: clamp every element to ``[-clip_value, clip_value]``."""
    arrays = [grads] if isinstance(grads, np.ndarray) else list(grads)
    for a in arrays:
        np.clip(a, -clip_value, clip_value, out=a)


# ----------------------------------------------------------------------------
# optimizers as typed tables
# ----------------------------------------------------------------------------

_LR_DOC = "Learning rate (a schedule's starting rate)."
_WD_DOC = "L2 penalty: weight_decay * p added to the gradient."


class OptimizerParams(Hyper):
    """An optimizer: its hyper-parameters (fields, PyTorch's names and defaults), state and step.

    Class attributes: ``torch_name`` (the PyTorch class), ``code`` (for :func:`optimizer_step`),
    ``state`` (PyTorch's ``state_dict`` names: the rows of the ``state`` array of
    :func:`optimizer_step`) and ``step`` (the named njit step). The ``hyper`` vector of
    :func:`optimizer_step` holds the fields after ``lr`` in declaration order, ``betas`` as
    ``beta1, beta2`` and booleans as 0.0 / 1.0 (:meth:`pack_hyper`).
    """

    torch_name: ClassVar[str]
    code: ClassVar[int]
    state: ClassVar[tuple[str, ...]]
    step: ClassVar[Any]

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
        """The ``hyper`` vector (float64, :meth:`hyper_layout` order) of :func:`optimizer_step`."""
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
    step: ClassVar[Any] = sgd_step
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
    step: ClassVar[Any] = adagrad_step
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
    step: ClassVar[Any] = adadelta_step
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
    step: ClassVar[Any] = rmsprop_step
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
    step: ClassVar[Any] = adam_step
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
    step: ClassVar[Any] = adamw_step
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


class Optimizer:
    """State and steps of one optimizer over a list of parameter arrays.

    Parameters
    ----------
    name : str
        Key of :data:`OPTIMIZERS`.
    params : list of ndarray
        Parameter arrays, updated in place; each must be C-contiguous (its flat view
        is stepped). State has the dtype of each array.
    **hyper
        Hyper-parameters (PyTorch names); validated, ``ValueError`` listing every
        problem.

    Attributes
    ----------
    t : int
        Steps taken so far.
    spec : OptimizerParams
        The validated hyper-parameters.
    hyper : dict
        The resolved hyper-parameters.
    states : list of ndarray
        One ``(len(spec.state), size)`` array per parameter array.
    """

    def __init__(self, name: str, params, **hyper):
        self.spec = build(get_spec(name), hyper)
        self.hyper = self.spec.resolved()
        self._packed = self.spec.pack_hyper()
        self.params = [params] if isinstance(params, np.ndarray) else list(params)
        for k, p in enumerate(self.params):
            if not isinstance(p, np.ndarray) or not p.flags.c_contiguous:
                raise ValueError(f"params[{k}]: must be a C-contiguous numpy array")
            if p.dtype not in (np.float32, np.float64):
                raise ValueError(f"params[{k}]: must be float32 or float64 (got {p.dtype})")
        self.states = [self.spec.init_state(p.size, p.dtype) for p in self.params]
        self.t = 0

    def state(self, name: str, index: int = 0) -> np.ndarray:
        """State array ``name`` of parameter array ``index`` (shaped like it)."""
        row = self.spec.state.index(name)
        return self.states[index][row].reshape(self.params[index].shape)

    def step(self, grads, lr: float | None = None) -> None:
        """One step with ``grads`` (arrays shaped like ``params``); ``lr`` overrides
        the configured learning rate for this step (schedules)."""
        grads = [grads] if isinstance(grads, np.ndarray) else list(grads)
        if len(grads) != len(self.params):
            raise ValueError(f"expected {len(self.params)} gradient arrays, got {len(grads)}")
        lr = self.hyper["lr"] if lr is None else float(lr)
        self.t += 1
        for p, g, s in zip(self.params, grads, self.states):
            if g.shape != p.shape:
                raise ValueError(f"gradient shape {g.shape} differs from parameter shape {p.shape}")
            flat_g = np.ascontiguousarray(g, dtype=p.dtype).reshape(-1)
            optimizer_step(self.spec.code, p.reshape(-1), flat_g, s, self.t, lr, self._packed)
