"""Learning-rate schedules with ``torch.optim.lr_scheduler`` semantics.

Indexing: ``t`` is the number of scheduler steps taken so far, PyTorch's
``last_epoch``: ``t = 0`` is the learning rate right after the scheduler is
built (used for the first optimizer step), ``t = k`` the one after ``k`` calls of
``scheduler.step()``. Whether a step is a batch or an epoch is the driver's
choice, as in PyTorch. Every schedule function takes ``t`` as an integer or an
integer array and returns a float or a float64 array.

Schedules that depend only on ``t`` are precomputed: :func:`lr_array` turns a
schedule spec (a dict with ``name`` and parameters, validated against
:data:`SCHEDULES`) into the per-step learning rates of ``n_steps`` consecutive
steps, which a driver hands to a training kernel. Any of them can be preceded by a
linear warm-up (``warmup_steps``, ``warmup_start_factor``), equivalent to
``SequentialLR([LinearLR(start_factor, total_iters=warmup_steps), main],
milestones=[warmup_steps])``. :class:`ReduceLROnPlateau` depends on a metric and
is a small stateful class fed once per epoch.

Closed forms are used throughout (PyTorch's ``_get_closed_form_lr`` where it has
one); PyTorch's recursive updates agree to rounding.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .optimizers import (
    NON_NEGATIVE,
    POSITIVE,
    REQUIRED,
    HyperParam,
    Interval,
    Rule,
    _fmt,
    _resolve,
    check_params,
)

# ----------------------------------------------------------------------------
# schedule functions
# ----------------------------------------------------------------------------


def _steps(t):
    arr = np.asarray(t)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"t must be an integer or an integer array (got {arr.dtype})")
    if np.any(arr < 0):
        raise ValueError("t must be >= 0")
    return arr.astype(np.int64), arr.ndim == 0


def _out(values, scalar):
    values = np.asarray(values, dtype=np.float64)
    return float(values) if scalar else values


def constant_lr(t, lr):
    """``eta_t = lr``."""
    t, scalar = _steps(t)
    return _out(np.full(t.shape, lr, dtype=np.float64), scalar)


def inverse_time_lr(t, lr, decay):
    """Inverse-time decay: ``eta_t = lr / (1 + decay * t)``."""
    t, scalar = _steps(t)
    return _out(lr / (1.0 + decay * t), scalar)


def min_inverse_lr(t, lr, c):
    """``eta_t = min(lr, c / t)`` (``c / 0 = inf``, so ``eta_0 = lr``)."""
    t, scalar = _steps(t)
    ratio = np.where(t > 0, c / np.maximum(t, 1), np.inf)
    return _out(np.minimum(lr, ratio), scalar)


def step_lr(t, lr, step_size, gamma=0.1):
    """``StepLR``: ``eta_t = lr * gamma ** (t // step_size)``."""
    t, scalar = _steps(t)
    return _out(lr * np.power(gamma, (t // step_size).astype(np.float64)), scalar)


def multistep_lr(t, lr, milestones, gamma=0.1):
    """``MultiStepLR``: ``eta_t = lr * gamma ** #{m in milestones : m <= t}``."""
    t, scalar = _steps(t)
    k = np.searchsorted(np.asarray(sorted(milestones), dtype=np.int64), t, side="right")
    return _out(lr * np.power(gamma, k.astype(np.float64)), scalar)


def exponential_lr(t, lr, gamma):
    """``ExponentialLR``: ``eta_t = lr * gamma ** t``."""
    t, scalar = _steps(t)
    return _out(lr * np.power(gamma, t.astype(np.float64)), scalar)


def cosine_annealing_lr(t, lr, T_max, eta_min=0.0):
    """``CosineAnnealingLR`` (closed form, continued periodically past ``T_max``).

    ``eta_t = eta_min + (lr - eta_min) * (1 + cos(pi * t / T_max)) / 2``.
    """
    t, scalar = _steps(t)
    return _out(eta_min + (lr - eta_min) * (1.0 + np.cos(np.pi * t / T_max)) / 2.0, scalar)


def cosine_annealing_warm_restarts_lr(t, lr, T_0, T_mult=1, eta_min=0.0):
    """``CosineAnnealingWarmRestarts`` (SGDR).

    Cycle ``k = 0, 1, ...`` lasts ``T_k = T_0 * T_mult**k`` steps and starts at
    ``b_k = T_0 * (1 + T_mult + ... + T_mult**(k-1))``; in it ``T_cur = t - b_k`` and
    ``eta_t = eta_min + (lr - eta_min) * (1 + cos(pi * T_cur / T_k)) / 2``.
    Restarts are found in integer arithmetic, so they fall exactly where PyTorch's
    step-by-step counting puts them.
    """
    t, scalar = _steps(t)
    if T_mult == 1:
        t_cur = t % T_0
        t_i = np.full(t.shape, T_0, dtype=np.int64)
    else:
        top = int(t.max()) if t.size else 0
        starts = [0]
        lengths = [T_0]
        while starts[-1] + lengths[-1] <= top:
            starts.append(starts[-1] + lengths[-1])
            lengths.append(lengths[-1] * T_mult)
        k = np.searchsorted(np.asarray(starts, dtype=np.int64), t, side="right") - 1
        t_cur = t - np.asarray(starts, dtype=np.int64)[k]
        t_i = np.asarray(lengths, dtype=np.int64)[k]
    return _out(eta_min + (lr - eta_min) * (1.0 + np.cos(np.pi * t_cur / t_i)) / 2.0, scalar)


def cyclic_lr(t, base_lr, max_lr, step_size_up=2000, step_size_down=None,
              mode="triangular", gamma=1.0):
    """``CyclicLR`` (learning rate only; PyTorch also cycles momentum by default).

    With ``total = step_size_up + step_size_down`` and ``r = step_size_up / total``::

        cycle = floor(1 + t / total);   x = 1 + t / total - cycle
        s = x / r  if x <= r  else  (x - 1) / (r - 1)
        eta_t = base_lr + (max_lr - base_lr) * s * scale

    ``scale`` is 1 (``triangular``), ``1 / 2**(cycle - 1)`` (``triangular2``) or
    ``gamma**t`` (``exp_range``).
    """
    t, scalar = _steps(t)
    up = float(step_size_up)
    down = float(step_size_down) if step_size_down is not None else up
    total = up + down
    ratio = up / total
    cycle = np.floor(1.0 + t / total)
    x = 1.0 + t / total - cycle
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(x <= ratio, x / ratio, (x - 1.0) / (ratio - 1.0))
    if mode == "triangular":
        scale = 1.0
    elif mode == "triangular2":
        scale = 1.0 / (2.0 ** (cycle - 1.0))
    elif mode == "exp_range":
        scale = np.power(gamma, t.astype(np.float64))
    else:
        raise ValueError(f"mode: must be one of 'triangular', 'triangular2', 'exp_range' (got {mode!r})")
    return _out(base_lr + (max_lr - base_lr) * s * scale, scalar)


def _one_cycle_phases(total_steps, pct_start, three_phase):
    if three_phase:
        return [float(pct_start * total_steps) - 1, float(2 * pct_start * total_steps) - 2,
                float(total_steps - 1)]
    return [float(pct_start * total_steps) - 1, float(total_steps - 1)]


def one_cycle_lr(t, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos",
                 div_factor=25.0, final_div_factor=1e4, three_phase=False):
    """``OneCycleLR`` (learning rate only; PyTorch also cycles momentum by default).

    ``initial = max_lr / div_factor``, ``min = initial / final_div_factor``. Phase
    ends (inclusive, as floats): ``e1 = pct_start * total_steps - 1`` and
    ``e2 = total_steps - 1``; with ``three_phase``, ``e1``, ``e2 = 2 * pct_start *
    total_steps - 2`` and ``e3 = total_steps - 1``. Step ``t`` falls in the first
    phase with ``t <= end`` (the last phase otherwise); with ``start`` the previous
    end (0 for the first), ``pct = (t - start) / (end - start)`` and the rate anneals
    ``initial -> max_lr -> min`` (``initial -> max_lr -> initial -> min`` with three
    phases)::

        cos:     end_lr + (start_lr - end_lr) / 2 * (1 + cos(pi * pct))
        linear:  (end_lr - start_lr) * pct + start_lr

    PyTorch allows ``t <= total_steps``.
    """
    t, scalar = _steps(t)
    if np.any(t > total_steps):
        raise ValueError(f"onecycle: step {int(t.max())} is past total_steps={total_steps} "
                         "(PyTorch raises too)")
    initial = max_lr / div_factor
    low = initial / final_div_factor
    ends = _one_cycle_phases(total_steps, pct_start, three_phase)
    if three_phase:
        lrs = [(initial, max_lr), (max_lr, initial), (initial, low)]
    else:
        lrs = [(initial, max_lr), (max_lr, low)]
    out = np.empty(t.shape, dtype=np.float64)
    done = np.zeros(t.shape, dtype=bool)
    start = 0.0
    for i, (end, (a, b)) in enumerate(zip(ends, lrs)):
        sel = ~done & ((t <= end) | (i == len(ends) - 1))
        pct = (t[sel] - start) / (end - start)
        if anneal_strategy == "cos":
            out[sel] = b + (a - b) / 2.0 * (np.cos(np.pi * pct) + 1)
        else:
            out[sel] = (b - a) * pct + a
        done |= sel
        start = end
    return _out(out, scalar)


def warmup_factor(t, warmup_steps, start_factor=1.0 / 3):
    """Linear warm-up factor (``LinearLR`` to 1): ``start_factor + (1 - start_factor)
    * min(t, warmup_steps) / warmup_steps`` (1 when ``warmup_steps == 0``)."""
    t, scalar = _steps(t)
    if warmup_steps == 0:
        return _out(np.ones(t.shape), scalar)
    return _out(start_factor + (1.0 - start_factor) * np.minimum(t, warmup_steps) / warmup_steps,
                scalar)


class ReduceLROnPlateau:
    """``torch.optim.lr_scheduler.ReduceLROnPlateau`` for one learning rate.

    Feed one metric per epoch to :meth:`step`; it returns the learning rate for the
    next epoch. A metric is *better* than ``best`` when (``rel``/``abs``
    ``threshold_mode``) ``a < best * (1 - threshold)`` / ``a < best - threshold``
    (``mode="min"``) or ``a > best * (1 + threshold)`` / ``a > best + threshold``
    (``mode="max"``). Each step::

        if better: best = a; num_bad_epochs = 0   else: num_bad_epochs += 1
        if cooldown_counter > 0: cooldown_counter -= 1; num_bad_epochs = 0
        if num_bad_epochs > patience:
            new = max(lr * factor, min_lr);  lr = new if lr - new > eps
            cooldown_counter = cooldown;  num_bad_epochs = 0

    Parameters are validated against ``SCHEDULES["plateau"]`` (``ValueError``).
    """

    def __init__(self, lr, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        hp = SCHEDULES["plateau"].resolve(dict(
            lr=lr, mode=mode, factor=factor, patience=patience, threshold=threshold,
            threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr, eps=eps))
        self.lr = hp["lr"]
        self.mode = hp["mode"]
        self.factor = hp["factor"]
        self.patience = hp["patience"]
        self.threshold = hp["threshold"]
        self.threshold_mode = hp["threshold_mode"]
        self.cooldown = hp["cooldown"]
        self.min_lr = hp["min_lr"]
        self.eps = hp["eps"]
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0

    @classmethod
    def from_spec(cls, spec: dict) -> "ReduceLROnPlateau":
        """Build from a schedule spec with ``name = "plateau"``."""
        problems = validate_schedule(spec)
        if problems:
            raise ValueError("\n".join(problems))
        if spec["name"] != "plateau":
            raise ValueError(f"name: expected 'plateau' (got {spec['name']!r})")
        return cls(**{k: v for k, v in spec.items() if k != "name"})

    def is_better(self, a: float, best: float) -> bool:
        """Whether metric ``a`` improves on ``best`` by more than the threshold."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metric: float) -> float:
        """Record one epoch's metric; return the (possibly reduced) learning rate."""
        current = float(metric)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new_lr = max(self.lr * self.factor, self.min_lr)
            if self.lr - new_lr > self.eps:
                self.lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        return self.lr


# ----------------------------------------------------------------------------
# registry and validation
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule: its parameters (PyTorch names and defaults), rules and function.

    ``fn(t, **params)`` computes the rate (``None`` for the metric-driven
    ``plateau``); ``warmup`` says whether the warm-up parameters apply.
    """

    name: str
    torch_name: str
    params: tuple
    fn: Callable | None
    rules: tuple = ()
    warmup: bool = True

    @property
    def table(self) -> tuple:
        """All parameters, the warm-up ones included."""
        return self.params + (WARMUP_PARAMS if self.warmup else ())

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.table}

    def validate(self, params: dict) -> list[str]:
        """One line per problem in ``params`` (without ``name``)."""
        return check_params(self.table, self.rules, params, f"schedule '{self.name}'")

    def resolve(self, params: dict) -> dict:
        return _resolve(self.table, self.rules, params, f"schedule '{self.name}'")


WARMUP_PARAMS = (
    HyperParam("warmup_steps", 0, "int", Interval(0, None, "left"),
               doc="steps of linear warm-up before the schedule starts"),
    HyperParam("warmup_start_factor", 1.0 / 3, "real", Interval(0.0, 1.0, "right"),
               doc="warm-up starts at start_factor * (the schedule's first rate)"),
)

_LR = HyperParam("lr", REQUIRED, "real", POSITIVE, doc="initial learning rate (the optimizer's lr)")
_GAMMA = HyperParam("gamma", 0.1, "real", POSITIVE)
_COUNT = Interval(1, None, "left")
_ETA_MIN = HyperParam("eta_min", 0.0, "real", NON_NEGATIVE)


def _onecycle_rule(v: dict) -> str | None:
    ends = _one_cycle_phases(v["total_steps"], v["pct_start"], v["three_phase"])
    if ends[0] == 0.0:
        return (f"pct_start: pct_start * total_steps must not be 1 (the first phase would be "
                f"empty; got pct_start={_fmt(v['pct_start'])}, total_steps={v['total_steps']})")
    if v["three_phase"] and not ends[1] < ends[2]:
        return (f"pct_start: three_phase needs 2 * pct_start * total_steps - 2 < total_steps - 1 "
                f"(got pct_start={_fmt(v['pct_start'])}, total_steps={v['total_steps']})")
    if not v["three_phase"] and not ends[0] < ends[1]:
        return f"pct_start: must be < 1 without three_phase (got {_fmt(v['pct_start'])})"
    return None


SCHEDULES: dict[str, ScheduleSpec] = {
    "constant": ScheduleSpec("constant", "(none: no scheduler)", (_LR,), constant_lr),
    "inverse_time": ScheduleSpec(
        "inverse_time", "lr / (1 + decay * t)",
        (_LR, HyperParam("decay", REQUIRED, "real", NON_NEGATIVE)), inverse_time_lr),
    "min": ScheduleSpec(
        "min", "min(lr, c / t)",
        (_LR, HyperParam("c", REQUIRED, "real", POSITIVE)), min_inverse_lr),
    "step": ScheduleSpec(
        "step", "torch.optim.lr_scheduler.StepLR",
        (_LR, HyperParam("step_size", REQUIRED, "int", _COUNT), _GAMMA), step_lr),
    "multistep": ScheduleSpec(
        "multistep", "torch.optim.lr_scheduler.MultiStepLR",
        (_LR, HyperParam("milestones", REQUIRED, "int_list", _COUNT), _GAMMA), multistep_lr),
    "exponential": ScheduleSpec(
        "exponential", "torch.optim.lr_scheduler.ExponentialLR",
        (_LR, HyperParam("gamma", REQUIRED, "real", POSITIVE)), exponential_lr),
    "cosine": ScheduleSpec(
        "cosine", "torch.optim.lr_scheduler.CosineAnnealingLR",
        (_LR, HyperParam("T_max", REQUIRED, "int", _COUNT), _ETA_MIN), cosine_annealing_lr),
    "cosine_restarts": ScheduleSpec(
        "cosine_restarts", "torch.optim.lr_scheduler.CosineAnnealingWarmRestarts",
        (_LR, HyperParam("T_0", REQUIRED, "int", _COUNT),
         HyperParam("T_mult", 1, "int", _COUNT), _ETA_MIN),
        cosine_annealing_warm_restarts_lr),
    "cyclic": ScheduleSpec(
        "cyclic", "torch.optim.lr_scheduler.CyclicLR",
        (HyperParam("base_lr", REQUIRED, "real", POSITIVE),
         HyperParam("max_lr", REQUIRED, "real", POSITIVE),
         HyperParam("step_size_up", 2000, "int", _COUNT),
         HyperParam("step_size_down", None, "optional_int", _COUNT),
         HyperParam("mode", "triangular", "choice", choices=("triangular", "triangular2", "exp_range")),
         HyperParam("gamma", 1.0, "real", Interval(0.0, 1.0, "right"))),
        cyclic_lr),
    "onecycle": ScheduleSpec(
        "onecycle", "torch.optim.lr_scheduler.OneCycleLR",
        (HyperParam("max_lr", REQUIRED, "real", POSITIVE),
         HyperParam("total_steps", REQUIRED, "int", _COUNT),
         HyperParam("pct_start", 0.3, "real", Interval(0.0, 1.0, "both")),
         HyperParam("anneal_strategy", "cos", "choice", choices=("cos", "linear")),
         HyperParam("div_factor", 25.0, "real", POSITIVE),
         HyperParam("final_div_factor", 1e4, "real", POSITIVE),
         HyperParam("three_phase", False, "bool")),
        one_cycle_lr,
        rules=(Rule(("total_steps", "pct_start", "three_phase"), _onecycle_rule),)),
    "plateau": ScheduleSpec(
        "plateau", "torch.optim.lr_scheduler.ReduceLROnPlateau",
        (_LR,
         HyperParam("mode", "min", "choice", choices=("min", "max")),
         HyperParam("factor", 0.1, "real", Interval(0.0, 1.0, "neither")),
         HyperParam("patience", 10, "int", Interval(0, None, "left")),
         HyperParam("threshold", 1e-4, "real", NON_NEGATIVE),
         HyperParam("threshold_mode", "rel", "choice", choices=("rel", "abs")),
         HyperParam("cooldown", 0, "int", Interval(0, None, "left")),
         HyperParam("min_lr", 0.0, "real", NON_NEGATIVE),
         HyperParam("eps", 1e-8, "real", NON_NEGATIVE)),
        None, warmup=False),
}


def validate_schedule(spec: dict) -> list[str]:
    """One line per problem in a schedule spec ``{"name": ..., **params}``."""
    if not isinstance(spec, dict):
        return [f"schedule: must be a table with a 'name' (got {_fmt(spec)})"]
    if "name" not in spec:
        return [f"name: required (one of {', '.join(SCHEDULES)})"]
    name = spec["name"]
    if not isinstance(name, str) or name not in SCHEDULES:
        close = difflib.get_close_matches(str(name), list(SCHEDULES), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(SCHEDULES)})"
        return [f"name: unknown schedule {_fmt(name)}{hint}"]
    return SCHEDULES[name].validate({k: v for k, v in spec.items() if k != "name"})


def resolve_schedule(spec: dict) -> dict:
    """The spec with defaults filled in; ``ValueError`` listing every problem."""
    problems = validate_schedule(spec)
    if problems:
        raise ValueError("\n".join(problems))
    out = SCHEDULES[spec["name"]].resolve({k: v for k, v in spec.items() if k != "name"})
    out["name"] = spec["name"]
    return out


def schedule_lr(spec: dict, t) -> Any:
    """Learning rate(s) of ``spec`` at step(s) ``t`` (int or integer array), warm-up included.

    For ``t < warmup_steps``: ``eta_0 * (s + (1 - s) * t / warmup_steps)`` with
    ``eta_0`` the schedule's own first rate and ``s = warmup_start_factor``; after,
    the schedule shifted by ``warmup_steps``.
    """
    hp = resolve_schedule(spec)
    sched = SCHEDULES[hp.pop("name")]
    if sched.fn is None:
        raise ValueError(f"schedule '{sched.name}' depends on a metric: use ReduceLROnPlateau")
    warm = hp.pop("warmup_steps")
    start_factor = hp.pop("warmup_start_factor")
    t, scalar = _steps(t)
    if warm == 0:
        return _out(sched.fn(t, **hp), scalar)
    first = sched.fn(0, **hp)
    out = np.empty(t.shape, dtype=np.float64)
    ramp = t < warm
    out[ramp] = first * warmup_factor(t[ramp], warm, start_factor)
    out[~ramp] = sched.fn(t[~ramp] - warm, **hp)
    return _out(out, scalar)


def lr_array(spec: dict, n_steps: int, start: int = 0, dtype=np.float64) -> np.ndarray:
    """Per-step learning rates ``[eta_start, ..., eta_{start + n_steps - 1}]`` of ``spec``.

    A driver precomputes an epoch's rates with ``start`` = steps done so far and
    hands the array to the training kernel (step ``k`` of the epoch uses
    ``out[k]``). ``ValueError`` listing every problem for an invalid spec.
    """
    if int(n_steps) < 0 or int(start) < 0:
        raise ValueError("n_steps and start must be >= 0")
    t = np.arange(int(start), int(start) + int(n_steps), dtype=np.int64)
    return np.asarray(schedule_lr(spec, t), dtype=dtype)
