"""The shared epoch loop of the Boltzmann-family learners (dynet.train.loop)."""

import math

import numpy as np
import pytest

from dynet.config import RBMBarsStripesData, RBMFileData
from dynet.errors import TrainingDiverged
from dynet.train import loop as L


class Rows:
    def __init__(self):
        self.rows = []

    def append(self, **cols):
        self.rows.append({k: v.tolist() for k, v in cols.items()})


class Toy:
    """A learner whose parameter is the sum of the rates it was given; NaN from epoch ``bad`` on."""

    def __init__(self, steps=3, bad=None):
        self.steps, self.bad, self.epochs, self.w = steps, bad, 0, np.zeros(2)

    def epoch(self, lrs):
        assert len(lrs) == self.steps
        self.epochs += 1
        self.w += lrs.sum()
        if self.bad is not None and self.epochs >= self.bad:
            self.w[0] = math.nan

    def params(self):
        return (self.w,)


def test_rows_snapshots_and_metrics_follow_the_cadence():
    toy, rows, snaps = Toy(), Rows(), Rows()
    sched = L.epoch_schedule({"name": "step", "per": "epoch", "step_size": 2, "gamma": 0.5}, 0.1)
    last = L.run_epochs(
        toy,
        sched,
        5,
        lambda e, lr: {"epoch": e, "lr": lr, "w": float(toy.w[0]), "x": math.nan},
        rows,
        every=2,
        snapshots=snaps,
        snapshot_every=3,
        snapshot=lambda: {"w": toy.w[None]},
    )
    assert [r["epoch"] for r in rows.rows] == [[0], [2], [4], [5]]  # every 2 and the last
    assert [r["lr"][0] for r in rows.rows] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert [r["snapshot_epoch"] for r in snaps.rows] == [[0], [3]]
    assert last["epoch"] == 5 and L.final_metrics(last) == {"epoch": 5, "w": last["w"], "x": None}


def test_per_step_rates_advance_within_an_epoch():
    sched = L.epoch_schedule({"name": "step", "per": "step", "step_size": 2, "gamma": 0.5, "lr": 1.0}, 0.1)
    # steps 3, 4, 5 of lr 1.0 (the table's own, not the 0.1 default) halved every 2 steps
    assert sched.rates(1, 3).tolist() == [0.5, 0.25, 0.25]


def test_divergence_names_the_epoch_and_stops_before_evaluating_it():
    rows = Rows()
    with pytest.raises(TrainingDiverged, match="at epoch 2 "):
        L.run_epochs(
            Toy(bad=2), L.epoch_schedule({"name": "constant", "per": "epoch"}, 0.1), 4, lambda e, lr: {"epoch": e}, rows
        )
    assert [r["epoch"] for r in rows.rows] == [[0], [1]]
    with pytest.raises(TrainingDiverged, match="^RBM 1 diverged at 3$"):
        L.run_epochs(
            Toy(bad=3),
            L.epoch_schedule({"name": "constant", "per": "epoch"}, 0.1),
            4,
            lambda e, lr: {},
            Rows(),
            diverged="RBM 1 diverged at {epoch}",
        )


def test_trajectories_are_closed_on_errors():
    closed = []

    class Rec:
        def trajectory(self, spec):
            return type("T", (), {"close": lambda self: closed.append(spec["k"])})()

    with pytest.raises(RuntimeError), L.trajectories(Rec(), {"k": 1}, None, {"k": 2}) as (a, none, b):
        assert none is None
        raise RuntimeError
    assert closed == [1, 2]


def test_validation_split_and_data_sizes():
    tr, va = L.validation_split(0.25, 20, np.random.SeedSequence(1))
    assert len(va) == 5 and sorted([*tr, *va]) == list(range(20)) and list(tr) == sorted(tr)
    assert L.data_size(RBMBarsStripesData(source="bars-stripes", size=3)) == (14, 9)
    assert L.data_size(RBMFileData(source="file", path="x.npy")) == L.FILE_DATA_GUESS
