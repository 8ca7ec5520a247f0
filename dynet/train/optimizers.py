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
scenario's ``[optimizer]`` table, one of them by ``name``). They live in
:mod:`dynet.train.optimizer_params`, which imports no numba (scenarios validate without
the kernels), and are re-exported here; :data:`STEPS` maps an optimizer's ``code`` to its
named step. :class:`Optimizer` allocates state for a list of parameter arrays and steps
them (tests, drivers). Gradient clipping: :func:`clip_norm_flat` /
:func:`clip_value_flat` over one flat buffer (njit), :func:`clip_grad_norm_` /
:func:`clip_grad_value_` over a list of arrays.

Validation is pydantic's, as for scenarios (:mod:`dynet.train.hyper`), shared with
:mod:`dynet.train.schedules` and :mod:`dynet.train.initializers`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .hyper import REQUIRED as REQUIRED  # noqa: F401 (a missing default, as OPTIMIZERS[name].defaults() gives it)
from .hyper import build
from .optimizer_params import (  # noqa: F401 (the tables, re-exported beside the steps that use them)
    ADADELTA,
    ADAGRAD,
    ADAM,
    ADAMW,
    OPTIMIZERS,
    RMSPROP,
    SGD,
    AdadeltaParams,
    AdagradParams,
    AdamParams,
    AdamWParams,
    OptimizerConfig,
    OptimizerParams,
    RMSpropParams,
    SGDParams,
    get_spec,
    validate,
)

# error_model="numpy": division follows IEEE (no zero-division check), which lets LLVM
# vectorize the element loops (Adam's step is 4x faster); every divisor here is > 0.


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


#: optimizer code -> its named njit step
STEPS = {
    SGD: sgd_step,
    ADAGRAD: adagrad_step,
    ADADELTA: adadelta_step,
    RMSPROP: rmsprop_step,
    ADAM: adam_step,
    ADAMW: adamw_step,
}
assert STEPS.keys() == {c.code for c in OPTIMIZERS.values()}


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
