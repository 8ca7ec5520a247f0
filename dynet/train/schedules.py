"""Learning-rate schedules with ``torch.optim.lr_scheduler`` semantics.

Indexing: ``t`` is the number of scheduler steps taken so far, PyTorch's
``last_epoch``: ``t = 0`` is the learning rate right after the scheduler is
built (used for the first optimizer step), ``t = k`` the one after ``k`` calls of
``scheduler.step()``. Whether a step is a batch or an epoch is the driver's
choice, as in PyTorch. Every schedule function takes ``t`` as an integer or an
integer array and returns a float or a float64 array.

Schedules that depend only on ``t`` are precomputed: :func:`lr_array` turns a
schedule spec (a dict with ``name`` and parameters, validated by the pydantic model
``SCHEDULES[name]``, whose fields declare each parameter once) into the per-step learning
rates of ``n_steps`` consecutive steps, which a driver hands to a training kernel. Any of them can be preceded by a
linear warm-up (``warmup_steps``, ``warmup_start_factor``), equivalent to
``SequentialLR([LinearLR(start_factor, total_iters=warmup_steps), main],
milestones=[warmup_steps])``. :class:`ReduceLROnPlateau` depends on a metric and
is a small stateful class fed once per epoch.

Closed forms are used throughout (PyTorch's ``_get_closed_form_lr`` where it has
one); PyTorch's recursive updates agree to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from .hyper import Hyper, Real, build, name_of, problems, real, tagged_union, unknown_name

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


def cyclic_lr(t, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular", gamma=1.0):
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
        return [float(pct_start * total_steps) - 1, float(2 * pct_start * total_steps) - 2, float(total_steps - 1)]
    return [float(pct_start * total_steps) - 1, float(total_steps - 1)]


def one_cycle_lr(
    t,
    max_lr,
    total_steps,
    pct_start=0.3,
    anneal_strategy="cos",
    div_factor=25.0,
    final_div_factor=1e4,
    three_phase=False,
):
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
        raise ValueError(f"onecycle: step {int(t.max())} is past total_steps={total_steps} (PyTorch raises too)")
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
    return _out(start_factor + (1.0 - start_factor) * np.minimum(t, warmup_steps) / warmup_steps, scalar)


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

    Parameters are validated by :class:`PlateauSchedule` (``ValueError``).
    """

    def __init__(
        self,
        lr,
        mode="min",
        factor=0.1,
        patience=10,
        threshold=1e-4,
        threshold_mode="rel",
        cooldown=0,
        min_lr=0.0,
        eps=1e-8,
    ):
        hp = build(
            PlateauSchedule,
            dict(
                lr=lr,
                mode=mode,
                factor=factor,
                patience=patience,
                threshold=threshold,
                threshold_mode=threshold_mode,
                cooldown=cooldown,
                min_lr=min_lr,
                eps=eps,
            ),
        ).resolved()
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
    def from_spec(cls, spec: dict) -> ReduceLROnPlateau:
        """Build from a schedule spec with ``name = "plateau"``."""
        found = validate_schedule(spec)
        if found:
            raise ValueError("\n".join(found))
        if spec["name"] != "plateau":
            raise ValueError(f"name: expected 'plateau' (got {spec['name']!r})")
        return cls(**{k: v for k, v in spec.items() if k not in ("name", "per")})

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
# schedules as typed tables
# ----------------------------------------------------------------------------

_LR_DOC = (
    "Initial learning rate; default: the optimizer's lr (training.lr for Boltzmann machines). "
    "Required when a schedule is used on its own."
)
_LR = real(gt=0)


class ScheduleParams(Hyper):
    """A learning-rate schedule: its parameters (fields, PyTorch's names and defaults) and ``fn``,
    ``fn(t, **params)`` computing the rate (``None`` for the metric-driven ``plateau``)."""

    ALWAYS: ClassVar[tuple[str, ...]] = ("per",)
    torch_name: ClassVar[str]
    fn: ClassVar[Callable | None]
    per: Literal["epoch", "step"] = Field(
        "epoch",
        description="Advance the schedule once per epoch (PyTorch's "
        "usual scheduler.step() after each epoch) or once per optimizer step.",
    )

    @classmethod
    def warmup(cls) -> bool:
        """Whether the warm-up parameters apply."""
        return "warmup_steps" in cls.model_fields


class WarmupParams(ScheduleParams):
    """A schedule that a linear warm-up may precede."""

    warmup_steps: int = Field(0, ge=0, description="Steps of linear warm-up before the schedule starts.")
    warmup_start_factor: Real = Field(
        1.0 / 3, gt=0, le=1, description="The warm-up starts at start_factor times the schedule's first rate."
    )


class ConstantSchedule(WarmupParams):
    """``eta_t = lr``."""

    torch_name: ClassVar[str] = "(none: no scheduler)"
    fn: ClassVar[Callable] = constant_lr
    name: Literal["constant"] = "constant"
    lr: _LR | None = Field(None, description=_LR_DOC)


class InverseTimeSchedule(WarmupParams):
    """``eta_t = lr / (1 + decay * t)``."""

    torch_name: ClassVar[str] = "lr / (1 + decay * t)"
    fn: ClassVar[Callable] = inverse_time_lr
    name: Literal["inverse_time"] = "inverse_time"
    lr: _LR | None = Field(None, description=_LR_DOC)
    decay: Real = Field(ge=0, description="Decay per step.")


class MinSchedule(WarmupParams):
    """``eta_t = min(lr, c / t)``."""

    torch_name: ClassVar[str] = "min(lr, c / t)"
    fn: ClassVar[Callable] = min_inverse_lr
    name: Literal["min"] = "min"
    lr: _LR | None = Field(None, description=_LR_DOC)
    c: Real = Field(gt=0, description="Numerator of the 1/t decay.")


_GAMMA_DOC = "Multiplicative factor of the decay."


class StepSchedule(WarmupParams):
    """``StepLR``."""

    torch_name: ClassVar[str] = "torch.optim.lr_scheduler.StepLR"
    fn: ClassVar[Callable] = step_lr
    name: Literal["step"] = "step"
    lr: _LR | None = Field(None, description=_LR_DOC)
    step_size: int = Field(ge=1, description="Steps between decays.")
    gamma: Real = Field(0.1, gt=0, description=_GAMMA_DOC)


class MultiStepSchedule(WarmupParams):
    """``MultiStepLR``."""

    torch_name: ClassVar[str] = "torch.optim.lr_scheduler.MultiStepLR"
    fn: ClassVar[Callable] = multistep_lr
    name: Literal["multistep"] = "multistep"
    lr: _LR | None = Field(None, description=_LR_DOC)
    milestones: list[Annotated[int, Field(ge=1)]] = Field(
        description="Steps at which the rate decays (strictly increasing)."
    )
    gamma: Real = Field(0.1, gt=0, description=_GAMMA_DOC)

    @model_validator(mode="after")
    def _increasing(self):
        m = self.milestones
        if any(b <= a for a, b in zip(m, m[1:])):
            raise ValueError(f"milestones: must be strictly increasing (got {m})")
        return self


class ExponentialSchedule(WarmupParams):
    """``ExponentialLR``."""

    torch_name: ClassVar[str] = "torch.optim.lr_scheduler.ExponentialLR"
    fn: ClassVar[Callable] = exponential_lr
    name: Literal["exponential"] = "exponential"
    lr: _LR | None = Field(None, description=_LR_DOC)
    gamma: Real = Field(gt=0, description=_GAMMA_DOC)


_ETA_MIN_DOC = "Smallest learning rate."


class CosineSchedule(WarmupParams):
    """``CosineAnnealingLR``."""

    torch_name: ClassVar[str] = "torch.optim.lr_scheduler.CosineAnnealingLR"
    fn: ClassVar[Callable] = cosine_annealing_lr
    name: Literal["cosine"] = "cosine"
    lr: _LR | None = Field(None, description=_LR_DOC)
    T_max: int = Field(ge=1, description="Steps of the half cosine (continued periodically after).")
    eta_min: Real = Field(0.0, ge=0, description=_ETA_MIN_DOC)


class CosineRestartsSchedule(WarmupParams):
    """``CosineAnnealingWarmRestarts`` (SGDR)."""

    torch_name: ClassVar[str] = "torch.optim.lr_scheduler.CosineAnnealingWarmRestarts"
    fn: ClassVar[Callable] = cosine_annealing_warm_restarts_lr
    name: Literal["cosine_restarts"] = "cosine_restarts"
    lr: _LR | None = Field(None, description=_LR_DOC)
    T_0: int = Field(ge=1, description="Steps of the first cycle.")
    T_mult: int = Field(1, ge=1, description="Factor by which each cycle is longer than the previous.")
    eta_min: Real = Field(0.0, ge=0, description=_ETA_MIN_DOC)


class CyclicSchedule(WarmupParams):
    """``CyclicLR`` (learning rate only)."""

    torch_name: ClassVar[str] = "torch.optim.lr_scheduler.CyclicLR"
    fn: ClassVar[Callable] = cyclic_lr
    name: Literal["cyclic"] = "cyclic"
    base_lr: Real = Field(gt=0, description="Lower bound of the cycle.")
    max_lr: Real = Field(gt=0, description="Upper bound of the cycle.")
    step_size_up: int = Field(2000, ge=1, description="Steps of the increasing half of a cycle.")
    step_size_down: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Steps of the decreasing half (default: step_size_up)."
    )
    mode: Literal["triangular", "triangular2", "exp_range"] = Field(
        "triangular", description="Amplitude policy: constant, halved each cycle, gamma**t."
    )
    gamma: Real = Field(1.0, gt=0, le=1, description="Base of the exp_range scaling.")


class OneCycleSchedule(WarmupParams):
    """``OneCycleLR`` (learning rate only)."""

    torch_name: ClassVar[str] = "torch.optim.lr_scheduler.OneCycleLR"
    fn: ClassVar[Callable] = one_cycle_lr
    name: Literal["onecycle"] = "onecycle"
    max_lr: Real = Field(gt=0, description="Peak learning rate.")
    total_steps: int = Field(ge=1, description="Steps of the whole cycle.")
    pct_start: Real = Field(0.3, ge=0, le=1, description="Fraction of the cycle spent increasing the rate.")
    anneal_strategy: Literal["cos", "linear"] = Field("cos", description="Annealing shape.")
    div_factor: Real = Field(25.0, gt=0, description="Initial rate = max_lr / div_factor.")
    final_div_factor: Real = Field(1e4, gt=0, description="Final rate = initial rate / final_div_factor.")
    three_phase: bool = Field(False, description="Anneal back to the initial rate before the final decay.")

    @model_validator(mode="after")
    def _phases(self):
        pct, total = self.pct_start, self.total_steps
        ends = _one_cycle_phases(total, pct, self.three_phase)
        if ends[0] == 0.0:
            raise ValueError(
                f"pct_start: pct_start * total_steps must not be 1 (the first phase would be "
                f"empty; got pct_start={pct!r}, total_steps={total})"
            )
        if self.three_phase and not ends[1] < ends[2]:
            raise ValueError(
                f"pct_start: three_phase needs 2 * pct_start * total_steps - 2 < total_steps - 1 "
                f"(got pct_start={pct!r}, total_steps={total})"
            )
        if not self.three_phase and not ends[0] < ends[1]:
            raise ValueError(f"pct_start: must be < 1 without three_phase (got {pct!r})")
        return self


class PlateauSchedule(ScheduleParams):
    """``ReduceLROnPlateau`` (fed the validation loss once per epoch; no warm-up)."""

    torch_name: ClassVar[str] = "torch.optim.lr_scheduler.ReduceLROnPlateau"
    fn: ClassVar[None] = None
    name: Literal["plateau"] = "plateau"
    lr: _LR | None = Field(None, description=_LR_DOC)
    mode: Literal["min", "max"] = Field("min", description="Whether the metric should go down or up.")
    factor: Real = Field(0.1, gt=0, lt=1, description="Factor of each reduction.")
    patience: int = Field(10, ge=0, description="Epochs without improvement before a reduction.")
    threshold: Real = Field(1e-4, ge=0, description="Smallest improvement that counts.")
    threshold_mode: Literal["rel", "abs"] = Field("rel", description="Threshold relative to best, or absolute.")
    cooldown: int = Field(0, ge=0, description="Epochs after a reduction before counting again.")
    min_lr: Real = Field(0.0, ge=0, description="Lower bound of the rate.")
    eps: Real = Field(1e-8, ge=0, description="Smaller changes of the rate are skipped.")


def _leaves(cls):
    for sub in cls.__subclasses__():
        yield from ([sub] if "name" in sub.model_fields else _leaves(sub))


SCHEDULES: dict[str, type[ScheduleParams]] = {name_of(c): c for c in _leaves(ScheduleParams)}

#: The type of a scenario's ``[schedule]`` table: one of :data:`SCHEDULES` by ``name`` (default constant).
ScheduleConfig = tagged_union("ScheduleConfig", SCHEDULES, "constant")


def validate_schedule(spec: dict) -> list[str]:
    """One line per problem in a schedule spec ``{"name": ..., **params}`` (``lr`` required where
    the schedule takes one: there is no optimizer here to take it from)."""
    if not isinstance(spec, dict):
        return [f"schedule: must be a table with a 'name' (got {spec!r})"]
    if "name" not in spec:
        return [f"name: required (one of {', '.join(SCHEDULES)})"]
    name = spec["name"]
    if not isinstance(name, str) or name not in SCHEDULES:
        return [unknown_name(name, SCHEDULES, "schedule")]
    cls = SCHEDULES[name]
    out = problems(cls, spec)
    if "lr" in cls.model_fields and spec.get("lr") is None and not any(p.startswith("lr:") for p in out):
        out.insert(0, "lr: required key is missing")
    return out


def resolve_schedule(spec: dict) -> dict:
    """The spec with defaults filled in (``name`` and every parameter, ``per`` excluded);
    ``ValueError`` listing every problem."""
    found = validate_schedule(spec)
    if found:
        raise ValueError("\n".join(found))
    out = build(SCHEDULES[spec["name"]], spec).resolved()
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
        raise ValueError(f"schedule '{name_of(sched)}' depends on a metric: use ReduceLROnPlateau")
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
