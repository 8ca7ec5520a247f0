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
``code``, a 2-D ``state`` array with one row per name in the spec's ``state``
(:data:`OPTIMIZERS`), and a ``float64`` ``hyper`` vector in the spec's
``hyper_layout`` order, so one compiled kernel serves every optimizer.

State that a setting does not use (the momentum buffer of plain SGD,
``max_exp_avg_sq`` without ``amsgrad``, ``grad_avg`` of an uncentred RMSprop) may
be passed as an empty array to the named steps; it is never touched.

The Python side: :data:`OPTIMIZERS` maps a name to an :class:`OptimizerSpec` (its
hyper-parameters with PyTorch's defaults and allowed ranges, its state names and
``validate``); :class:`Optimizer` allocates state for a list of parameter arrays
and steps them (tests, drivers). Gradient clipping: :func:`clip_norm_flat` /
:func:`clip_value_flat` over one flat buffer (njit), :func:`clip_grad_norm_` /
:func:`clip_grad_value_` over a list of arrays.

The small declarative validation machinery (:class:`Interval`, :class:`HyperParam`,
:class:`Rule`, :func:`check_params`) is shared with :mod:`dynet.train.schedules`.
"""

from __future__ import annotations

import difflib
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from numba import njit

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
def rmsprop_step(params, grads, square_avg, grad_avg, momentum_buffer, t, lr, alpha, eps,
                 weight_decay, momentum, centered):
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
def _adam(params, grads, exp_avg, exp_avg_sq, max_exp_avg_sq, t, lr, beta1, beta2, eps,
          weight_decay, amsgrad, decoupled):
    n = params.shape[0]
    _check_len(grads, n)
    _check_len(exp_avg, n)
    _check_len(exp_avg_sq, n)
    if amsgrad:
        _check_len(max_exp_avg_sq, n)
    step_size = lr / (1.0 - beta1 ** t)
    bc2_sqrt = math.sqrt(1.0 - beta2 ** t)
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
def adam_step(params, grads, exp_avg, exp_avg_sq, max_exp_avg_sq, t, lr, beta1, beta2, eps,
              weight_decay, amsgrad):
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
    _adam(params, grads, exp_avg, exp_avg_sq, max_exp_avg_sq, t, lr, beta1, beta2, eps,
          weight_decay, amsgrad, False)


@njit(cache=True, error_model="numpy")
def adamw_step(params, grads, exp_avg, exp_avg_sq, max_exp_avg_sq, t, lr, beta1, beta2, eps,
               weight_decay, amsgrad):
    """One AdamW step (``torch.optim.AdamW``; decoupled weight decay).

    Same arguments and moment updates as :func:`adam_step`, but the gradient is not
    changed; instead, before the moments are updated::

        p <- p * (1 - lr * weight_decay)

    and then, with ``g`` the raw gradient, the Adam update of :func:`adam_step`.
    PyTorch's default ``weight_decay`` for AdamW is 0.01.
    """
    _adam(params, grads, exp_avg, exp_avg_sq, max_exp_avg_sq, t, lr, beta1, beta2, eps,
          weight_decay, amsgrad, True)


@njit(cache=True, error_model="numpy")
def optimizer_step(code, params, grads, state, t, lr, hyper):
    """Dispatch one step of optimizer ``code`` (``SGD``, ..., ``ADAMW``), in place.

    Parameters
    ----------
    code : int
        ``OPTIMIZERS[name].code``.
    params, grads : ndarray, shape (n,)
    state : ndarray, shape (n_state, n)
        One row per name in ``OPTIMIZERS[name].state``, in that order
        (``OptimizerSpec.init_state`` allocates and initialises it).
    t : int
        1-based step number.
    lr : float
        Learning rate for this step.
    hyper : ndarray of float64, shape (len(hyper_layout),)
        The other hyper-parameters in ``OPTIMIZERS[name].hyper_layout`` order, booleans
        as 0.0 / 1.0 (``OptimizerSpec.pack_hyper`` builds it).
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
        rmsprop_step(params, grads, state[0], state[1], state[2], t, lr, hyper[0], hyper[1],
                     hyper[2], hyper[3], hyper[4] != 0.0)
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
    norms = np.array([grad_norm_flat(np.ascontiguousarray(a).reshape(-1), norm_type)
                      for a in arrays])
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
# declarative hyper-parameter tables
# ----------------------------------------------------------------------------


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()
"""Default of a hyper-parameter that has none (e.g. SGD's ``lr``)."""


def _fmt(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_fmt(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    return repr(value)


def _num(x: float) -> str:
    return repr(int(x)) if float(x).is_integer() else repr(float(x))


@dataclass(frozen=True)
class Interval:
    """A range of numbers, like scikit-learn's ``Interval``.

    ``closed`` is ``"both"``, ``"left"``, ``"right"`` or ``"neither"``; a ``None``
    bound is unbounded.
    """

    low: float | None
    high: float | None
    closed: str = "both"

    def __contains__(self, x: float) -> bool:
        if self.low is not None:
            if self.closed in ("both", "left"):
                if not x >= self.low:
                    return False
            elif not x > self.low:
                return False
        if self.high is not None:
            if self.closed in ("both", "right"):
                if not x <= self.high:
                    return False
            elif not x < self.high:
                return False
        return True

    def describe(self) -> str:
        """``'> 0'``, ``'>= 0'``, ``'<= 1'``, ``'in [0, 1)'``..."""
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.high is None:
            return (">= " if left else "> ") + _num(self.low)
        if self.low is None:
            return ("<= " if right else "< ") + _num(self.high)
        return (f"in {'[' if left else '('}{_num(self.low)}, {_num(self.high)}"
                f"{']' if right else ')'}")


@dataclass(frozen=True)
class HyperParam:
    """One hyper-parameter: name, default, kind and allowed values.

    ``kind`` is one of ``"real"`` (a finite number), ``"int"``, ``"bool"``,
    ``"choice"`` (one of ``choices``), ``"pair"`` (two reals, each in ``interval``;
    Adam's ``betas``), ``"int_list"`` (strictly increasing integers, each in
    ``interval``; MultiStepLR's ``milestones``), or ``"optional_int"`` (an ``"int"``
    or ``None``).
    """

    name: str
    default: Any
    kind: str = "real"
    interval: Interval | None = None
    choices: tuple = ()
    doc: str = ""

    def check(self, value: Any) -> list[str]:
        """Messages for one value (empty when valid)."""
        name = self.name
        kind = self.kind
        if kind == "optional_int":
            if value is None:
                return []
            kind = "int"
        if kind == "real":
            return _check_real(name, value, self.interval)
        if kind == "int":
            if not _is_int(value):
                return [f"{name}: must be an integer{self._range(' ')} (got {_fmt(value)})"]
            if self.interval is not None and value not in self.interval:
                return [f"{name}: must be an integer {self.interval.describe()} (got {_fmt(value)})"]
            return []
        if kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                return [f"{name}: must be true or false (got {_fmt(value)})"]
            return []
        if kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                allowed = ", ".join(repr(c) for c in self.choices)
                hint = ""
                if isinstance(value, str):
                    close = difflib.get_close_matches(value, list(self.choices), n=1)
                    hint = f"; did you mean '{close[0]}'?" if close else ""
                return [f"{name}: must be one of {allowed} (got {_fmt(value)}){hint}"]
            return []
        if kind == "pair":
            if (isinstance(value, (str, bytes)) or not hasattr(value, "__len__")
                    or len(value) != 2):
                return [f"{name}: must be a pair of numbers{self._range(' each ')} (got {_fmt(value)})"]
            out = []
            for k, v in enumerate(value):
                out += _check_real(f"{name}[{k}]", v, self.interval)
            return out
        if kind == "int_list":
            rng = self._range(" ")
            msg = f"{name}: must be a strictly increasing list of integers{rng} (got {_fmt(value)})"
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                return [msg]
            items = list(value)
            if not all(_is_int(v) for v in items):
                return [msg]
            if self.interval is not None and not all(v in self.interval for v in items):
                return [msg]
            if any(b <= a for a, b in zip(items, items[1:])):
                return [msg]
            return []
        raise ValueError(f"unknown kind {self.kind!r}")

    def _range(self, sep: str) -> str:
        return f"{sep}{self.interval.describe()}" if self.interval is not None else ""


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_real(name: str, value: Any, interval: Interval | None) -> list[str]:
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        return [f"{name}: must be a number (got {_fmt(value)})"]
    if not math.isfinite(value):
        return [f"{name}: must be a finite number (got {_fmt(value)})"]
    if interval is not None and value not in interval:
        return [f"{name}: must be {interval.describe()} (got {_fmt(value)})"]
    return []


@dataclass(frozen=True)
class Rule:
    """A constraint across hyper-parameters: ``check(values) -> message or None``.

    ``names`` are the parameters it reads; the rule is skipped when any of them is
    itself invalid, so one mistake gives one message.
    """

    names: tuple
    check: Callable[[dict], str | None]


def check_params(table: tuple, rules: tuple, params: dict, what: str = "") -> list[str]:
    """Validate ``params`` against a table of :class:`HyperParam` and :class:`Rule`.

    Returns one line per problem: unknown names (with a did-you-mean), missing
    required values, values of the wrong type or out of range, violated rules.
    """
    if not isinstance(params, dict):
        return [f"{what or 'parameters'}: must be a table of parameters (got {_fmt(params)})"]
    by_name = {p.name: p for p in table}
    problems = []
    bad = set()
    for key in params:
        if key not in by_name:
            close = difflib.get_close_matches(str(key), list(by_name), n=1)
            hint = (f" (did you mean '{close[0]}'?)" if close
                    else f" (allowed: {', '.join(by_name)})")
            problems.append(f"{key}: unknown parameter{' for ' + what if what else ''}{hint}")
    values = {}
    for p in table:
        if p.name in params:
            value = params[p.name]
        elif p.default is REQUIRED:
            problems.append(f"{p.name}: required{' for ' + what if what else ''} (no default)")
            bad.add(p.name)
            continue
        else:
            value = p.default
        msgs = p.check(value)
        if msgs:
            problems += msgs
            bad.add(p.name)
        values[p.name] = value
    for rule in rules:
        if bad.intersection(rule.names):
            continue
        msg = rule.check(values)
        if msg:
            problems.append(msg)
    return problems


def _resolve(table: tuple, rules: tuple, params: dict, what: str) -> dict:
    problems = check_params(table, rules, params, what)
    if problems:
        raise ValueError("\n".join(problems))
    out = {}
    for p in table:
        value = params.get(p.name, p.default)
        if isinstance(value, np.generic):
            value = value.item()
        if p.kind == "real":
            value = float(value)
        elif p.kind == "pair":
            value = tuple(float(v) for v in value)
        elif p.kind == "int_list":
            value = [int(v) for v in value]
        out[p.name] = value
    return out


# ----------------------------------------------------------------------------
# optimizer registry
# ----------------------------------------------------------------------------

POSITIVE = Interval(0.0, None, "neither")
NON_NEGATIVE = Interval(0.0, None, "left")
UNIT_OPEN_RIGHT = Interval(0.0, 1.0, "left")
UNIT_CLOSED = Interval(0.0, 1.0, "both")


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer: its hyper-parameters, state, njit step and validation.

    Attributes
    ----------
    name, torch_name : str
        Registry name (``"adam"``) and the PyTorch class (``"torch.optim.Adam"``).
    code : int
        Code for :func:`optimizer_step`.
    params : tuple of HyperParam
        Hyper-parameters with PyTorch's names, defaults and allowed values.
    state : tuple of str
        State arrays (PyTorch's ``state_dict`` names), rows of the ``state`` array
        given to :func:`optimizer_step`.
    hyper_layout : tuple of str
        Order of the ``hyper`` vector of :func:`optimizer_step` (``lr`` excluded: it
        is passed per step; ``betas`` split into ``beta1, beta2``).
    rules : tuple of Rule
        Cross-parameter constraints.
    step : numba dispatcher
        The named step function (``adam_step``...).
    """

    name: str
    torch_name: str
    code: int
    params: tuple
    state: tuple
    hyper_layout: tuple
    rules: tuple = field(default=())
    step: Any = None

    def defaults(self) -> dict:
        """PyTorch's defaults (``REQUIRED`` where there is none)."""
        return {p.name: p.default for p in self.params}

    def validate(self, params: dict) -> list[str]:
        """One line per problem in ``params`` (empty when valid)."""
        return check_params(self.params, self.rules, params, self.name)

    def resolve(self, params: dict) -> dict:
        """Defaults filled in and values normalised; ``ValueError`` listing every problem."""
        return _resolve(self.params, self.rules, params, self.name)

    def pack_hyper(self, resolved: dict) -> np.ndarray:
        """The ``hyper`` vector (float64, ``hyper_layout`` order) of :func:`optimizer_step`."""
        flat = dict(resolved)
        if "betas" in flat:
            flat["beta1"], flat["beta2"] = flat.pop("betas")
        return np.array([float(flat[k]) for k in self.hyper_layout], dtype=np.float64)

    def init_state(self, n: int, resolved: dict, dtype=np.float32) -> np.ndarray:
        """Zeroed state, shape ``(len(state), n)`` (Adagrad's ``sum`` starts at
        ``initial_accumulator_value``)."""
        state = np.zeros((len(self.state), n), dtype=dtype)
        if self.code == ADAGRAD:
            state[0] = resolved["initial_accumulator_value"]
        return state


def _nesterov_rule(v: dict) -> str | None:
    if v["nesterov"] and (v["momentum"] <= 0 or v["dampening"] != 0):
        return (f"nesterov: requires momentum > 0 and dampening == 0 "
                f"(got momentum={_fmt(v['momentum'])}, dampening={_fmt(v['dampening'])})")
    return None


def _lr(default) -> HyperParam:
    return HyperParam("lr", default, "real", POSITIVE, doc="learning rate")


_WD = HyperParam("weight_decay", 0.0, "real", NON_NEGATIVE, doc="L2 penalty added to the gradient")
_BETAS = HyperParam("betas", (0.9, 0.999), "pair", UNIT_OPEN_RIGHT,
                    doc="decay rates of the first and second moment estimates")
_AMSGRAD = HyperParam("amsgrad", False, "bool", doc="use the running maximum of exp_avg_sq")

OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec(
        "sgd", "torch.optim.SGD", SGD,
        params=(
            _lr(REQUIRED),
            HyperParam("momentum", 0.0, "real", NON_NEGATIVE),
            HyperParam("dampening", 0.0, "real", NON_NEGATIVE),
            _WD,
            HyperParam("nesterov", False, "bool"),
        ),
        state=("momentum_buffer",),
        hyper_layout=("momentum", "dampening", "weight_decay", "nesterov"),
        rules=(Rule(("nesterov", "momentum", "dampening"), _nesterov_rule),),
        step=sgd_step,
    ),
    "adagrad": OptimizerSpec(
        "adagrad", "torch.optim.Adagrad", ADAGRAD,
        params=(
            _lr(1e-2),
            HyperParam("lr_decay", 0.0, "real", NON_NEGATIVE),
            _WD,
            HyperParam("initial_accumulator_value", 0.0, "real", NON_NEGATIVE),
            HyperParam("eps", 1e-10, "real", POSITIVE),
        ),
        state=("sum",),
        hyper_layout=("lr_decay", "weight_decay", "initial_accumulator_value", "eps"),
        step=adagrad_step,
    ),
    "adadelta": OptimizerSpec(
        "adadelta", "torch.optim.Adadelta", ADADELTA,
        params=(
            _lr(1.0),
            HyperParam("rho", 0.9, "real", UNIT_CLOSED),
            HyperParam("eps", 1e-6, "real", POSITIVE),
            _WD,
        ),
        state=("square_avg", "acc_delta"),
        hyper_layout=("rho", "eps", "weight_decay"),
        step=adadelta_step,
    ),
    "rmsprop": OptimizerSpec(
        "rmsprop", "torch.optim.RMSprop", RMSPROP,
        params=(
            _lr(1e-2),
            HyperParam("alpha", 0.99, "real", NON_NEGATIVE),
            HyperParam("eps", 1e-8, "real", POSITIVE),
            _WD,
            HyperParam("momentum", 0.0, "real", NON_NEGATIVE),
            HyperParam("centered", False, "bool"),
        ),
        state=("square_avg", "grad_avg", "momentum_buffer"),
        hyper_layout=("alpha", "eps", "weight_decay", "momentum", "centered"),
        step=rmsprop_step,
    ),
    "adam": OptimizerSpec(
        "adam", "torch.optim.Adam", ADAM,
        params=(_lr(1e-3), _BETAS, HyperParam("eps", 1e-8, "real", POSITIVE), _WD, _AMSGRAD),
        state=("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
        hyper_layout=("beta1", "beta2", "eps", "weight_decay", "amsgrad"),
        step=adam_step,
    ),
    "adamw": OptimizerSpec(
        "adamw", "torch.optim.AdamW", ADAMW,
        params=(_lr(1e-3), _BETAS, HyperParam("eps", 1e-8, "real", POSITIVE),
                HyperParam("weight_decay", 1e-2, "real", NON_NEGATIVE,
                           doc="decoupled decay: p *= 1 - lr * weight_decay"),
                _AMSGRAD),
        state=("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
        hyper_layout=("beta1", "beta2", "eps", "weight_decay", "amsgrad"),
        step=adamw_step,
    ),
}


def get_spec(name: str) -> OptimizerSpec:
    """The spec of optimizer ``name``; ``ValueError`` with a did-you-mean otherwise."""
    if name in OPTIMIZERS:
        return OPTIMIZERS[name]
    raise ValueError(_unknown_optimizer(name))


def _unknown_optimizer(name: Any) -> str:
    close = difflib.get_close_matches(str(name).lower(), list(OPTIMIZERS), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(OPTIMIZERS)})"
    return f"optimizer: unknown optimizer {_fmt(name)}{hint}"


def validate(name: str, params: dict) -> list[str]:
    """One line per problem with optimizer ``name`` and hyper-parameters ``params``."""
    if not isinstance(name, str) or name not in OPTIMIZERS:
        return [_unknown_optimizer(name)]
    return OPTIMIZERS[name].validate(params)


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
    hyper : dict
        The resolved hyper-parameters.
    states : list of ndarray
        One ``(len(spec.state), size)`` array per parameter array.
    """

    def __init__(self, name: str, params, **hyper):
        self.spec = get_spec(name)
        self.hyper = self.spec.resolve(hyper)
        self._packed = self.spec.pack_hyper(self.hyper)
        self.params = [params] if isinstance(params, np.ndarray) else list(params)
        for k, p in enumerate(self.params):
            if not isinstance(p, np.ndarray) or not p.flags.c_contiguous:
                raise ValueError(f"params[{k}]: must be a C-contiguous numpy array")
            if p.dtype not in (np.float32, np.float64):
                raise ValueError(f"params[{k}]: must be float32 or float64 (got {p.dtype})")
        self.states = [self.spec.init_state(p.size, self.hyper, p.dtype) for p in self.params]
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
