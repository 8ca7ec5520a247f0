"""The training loop of the epoch-based learners: RBMs, Boltzmann learning, DBMs, DBN pretraining.

Every one of them trains the same way, written once here (:func:`run_epochs`):

* the learning rates of each epoch's updates come from the ``[schedule]`` table
  (:class:`EpochSchedule`: advanced once per epoch or once per update);
* epoch 0 is the evaluation of the initial parameters, then epoch ``e = 1 ..
  epochs`` trains (``learner.epoch(lrs)``), checks that every parameter is finite
  (else :class:`dynet.errors.TrainingDiverged`), evaluates when ``e`` is a multiple of
  ``every`` or the last epoch, and snapshots when ``e`` is a multiple of
  ``snapshot_every`` (and at epoch 0);
* an evaluation is one row of the epoch trajectory (its columns one-element arrays);
  the last row, NaN turned to None and without its ``lr``, is the run's metrics
  (:func:`final_metrics`).

A model plugs in its learner (``steps``, ``epoch(lrs)``, ``params()``) and its
evaluation (``row(epoch, lr) -> dict``). The rest of the module is what the drivers
share besides the loop: the validation split, the data sizes of the cost estimates, and
a record that keeps nothing (for warm-ups).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dynet import data as data_sources
from dynet.config import data_shape
from dynet.errors import TrainingDiverged
from dynet.train import schedules

#: The divergence message of :func:`run_epochs` (``{epoch}``: the epoch that diverged).
DIVERGED = "training diverged: the parameters became non-finite at epoch {epoch} (lower training.lr)"

#: ``(rows, columns)`` the cost estimates assume for a data file (its size is not known before loading it).
FILE_DATA_GUESS = (1000, 100)
#: The number of classes or targets the cost estimates assume for a data file.
FILE_OUTPUTS_GUESS = 10


class Learner(Protocol):
    """What :func:`run_epochs` trains."""

    steps: int  # updates per epoch

    def epoch(self, lrs: np.ndarray):  # one epoch, ``lrs[t]`` the rate of update ``t``
        ...

    def params(self) -> tuple[np.ndarray, ...]:  # the arrays the divergence check looks at
        ...


@dataclass(frozen=True)
class EpochSchedule:
    """A learning-rate schedule (``spec``: its name and parameters, ``lr`` included, as
    :func:`dynet.train.schedules.lr_array` takes it) advanced once per epoch (``per =
    "epoch"``: every update of epoch ``e`` at rate ``eta_e``) or once per update
    (``per = "step"``: update ``t`` of epoch ``e`` at ``eta_{e * steps + t}``)."""

    spec: dict
    per: str

    def rates(self, epoch: int, steps: int) -> np.ndarray:
        """Learning rates (float64, ``steps``) of the updates of epoch ``epoch`` (0-based)."""
        if self.per == "step":
            return schedules.lr_array(self.spec, steps, start=epoch * steps)
        return np.full(steps, schedules.lr_array(self.spec, 1, start=epoch)[0])


def epoch_schedule(table: dict, lr: float) -> EpochSchedule:
    """The :class:`EpochSchedule` of a ``[schedule]`` table (``name``, ``per`` and the schedule's
    parameters), its ``lr`` defaulting to ``lr`` (the training table's rate) when the schedule takes one."""
    spec = dict(table)
    per = spec.pop("per")
    if "lr" in schedules.SCHEDULES[spec["name"]].model_fields and "lr" not in spec:
        spec["lr"] = lr
    return EpochSchedule(spec, per)


def run_epochs(
    learner: Learner,
    schedule: EpochSchedule,
    epochs: int,
    row: Callable[[int, float], dict],
    rows,
    *,
    every: int = 1,
    snapshots=None,
    snapshot: Callable[[], dict] | None = None,
    snapshot_every: int = 0,
    before_epoch: Callable[[int], None] | None = None,
    diverged: str = DIVERGED,
) -> dict:
    """Train ``learner`` for ``epochs`` epochs (see the module docstring); return the last row.

    ``row(epoch, lr)`` evaluates the current parameters into a dict of scalars (``lr`` is
    the rate of the epoch's first update), appended to ``rows`` (a trajectory:
    ``append(**columns)``) as one-element arrays. With ``snapshots`` (a trajectory) and
    ``snapshot_every``, ``snapshot()`` gives the columns stored with ``snapshot_epoch`` at
    epoch 0 and every ``snapshot_every`` epochs. ``before_epoch(e)`` runs before epoch
    ``e``'s rates and training. ``diverged`` is the message of the
    :class:`~dynet.errors.TrainingDiverged` raised when a parameter becomes non-finite.
    """
    last = {}

    def record(epoch: int, lr: float) -> None:
        vals = row(epoch, lr)
        rows.append(**{k: np.array([v]) for k, v in vals.items()})
        last.update(vals)

    def snap(epoch: int) -> None:
        if snapshots is not None and snapshot_every and epoch % snapshot_every == 0:
            snapshots.append(snapshot_epoch=np.array([epoch]), **snapshot())

    record(0, float(schedule.rates(0, learner.steps)[0]))
    snap(0)
    for epoch in range(1, epochs + 1):
        if before_epoch is not None:
            before_epoch(epoch)
        lrs = schedule.rates(epoch - 1, learner.steps)
        learner.epoch(lrs)
        if not all(np.isfinite(p).all() for p in learner.params()):
            raise TrainingDiverged(diverged.format(epoch=epoch))
        if epoch % every == 0 or epoch == epochs:
            record(epoch, float(lrs[0]))
        snap(epoch)
    return last


@contextlib.contextmanager
def trajectories(record, *specs: dict | None):
    """Open one trajectory of ``record`` per spec dict (None for a spec that is None) and
    close them all on the way out, whatever happens."""
    opened = []
    try:
        for spec in specs:
            opened.append(record.trajectory(spec) if spec is not None else None)
        yield tuple(opened)
    finally:
        for t in opened:
            if t is not None:
                t.close()


def final_metrics(last: dict) -> dict:
    """A run's metrics from its last evaluation row: NaN as None (JSON null), without ``lr``."""
    metrics = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in last.items()}
    metrics.pop("lr", None)
    return metrics


def validation_split(fraction: float, n: int, ss: np.random.SeedSequence) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``(training, validation)`` row indices of ``n`` rows, ``fraction`` of them for
    validation (:func:`dynet.data.split`, drawn from ``ss``)."""
    tr, va, _ = data_sources.split(n, (1.0 - fraction, fraction, 0.0), np.random.default_rng(ss))
    return np.sort(tr), np.sort(va)


def data_dims(data) -> tuple[int, int, int]:
    """``(rows, columns, outputs)`` of a validated data table without loading it, for the cost
    estimates: :func:`dynet.config.data_shape`, or :data:`FILE_DATA_GUESS` and
    :data:`FILE_OUTPUTS_GUESS` for a file."""
    shape = data_shape(data)
    return (*FILE_DATA_GUESS, FILE_OUTPUTS_GUESS) if shape is None else shape


def data_size(data) -> tuple[int, int]:
    """``(rows, columns)`` of :func:`data_dims`."""
    rows, columns, _ = data_dims(data)
    return rows, columns


class NullRecord:
    """A record that keeps nothing: trajectories, their rows and static arrays are dropped (for warm-ups)."""

    def trajectory(self, specs):
        return self

    def append(self, **columns):
        pass

    def close(self):
        return 0

    def static(self, *args, **kwargs):
        pass
