"""The contract every model kind of ``dynet.models.REGISTRY`` keeps (after scikit-learn's
``parametrize_with_checks``), checked on each kind and on a toy kind defined here.

For each kind: its shipped scenarios (``scenarios/*.toml``) validate; ``warmup`` compiles its
kernels; ``cost`` is positive; its cheapest shipped scenario, shrunk by a few overrides to about
a second, runs in this process into a real store with the kind's summary metrics among its final
metrics; a rerun into a fresh store is bit-identical; and a bad value is refused with one line
naming its key. The toy kind is a config class, a driver module and one registry entry: it runs
through the same pipeline, which is all a new kind needs.
"""

from __future__ import annotations

import glob
import math
import os
import sys
import tomllib
import types
from typing import Literal

import annotated_types
import numpy as np
import pytest
from pydantic import Field
from support import assert_same_runs, store_contents

import dynet
from dynet import api, models
from dynet.config import ScenarioBase, Strict, model_classes
from dynet.errors import ScenarioError
from dynet.report import to_toml
from dynet.store import TrajectorySpec

SCENARIOS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scenarios")

#: Overrides (dotted key -> value) that shrink each kind's cheapest shipped scenario to about a
#: second of work, its sweep dropped. A new kind adds its line here.
SHRINK = {
    "hopfield": {"dynamics.max_sweeps": 10},
    "dam": {"dynamics.max_sweeps": 10},
    "modern-hopfield": {"dynamics.max_steps": 20},
    "graded-hopfield": {"dynamics.t_max": 5.0},
    "feedforward": {"training.epochs": 20},
    "rnn": {"training.epochs": 3},
    "ising": {"lattice.size": 8, "dynamics.thermalize": 100, "dynamics.sweeps": 1000},
    "rbm": {"training.epochs": 10, "schedule.T_max": 10, "sampling.steps": 100, "record.every": 5},
    "dbm": {"training.epochs": 10, "schedule.T_max": 10, "sampling.steps": 100, "record.every": 5},
    "dbn": {"network.hidden": [16], "pretraining.epochs": 2, "training.epochs": 3, "early_stopping.patience": 2},
    "boltzmann": {"network.visible": 40, "dynamics.sweeps": 20},
    "toy": {"walk.steps": 500},
}


# --------------------------------------------------------------------------- a toy model kind


class ToyWalk(Strict):
    steps: int = Field(1000, ge=1, le=1_000_000, description="Steps of the walk.")
    step_size: float = Field(1.0, gt=0, description="Length of each step.")


class ToyScenario(ScenarioBase):
    """A random walk: the smallest model kind."""

    model: Literal["toy"]
    walk: ToyWalk = Field(default_factory=ToyWalk)


def _toy_run(spec, record) -> dict:
    cfg = spec.settings
    rng = np.random.default_rng(spec.seed_sequence())
    x = np.cumsum(rng.choice([-1.0, 1.0], size=cfg.walk.steps) * cfg.walk.step_size)
    traj = record.trajectory(
        {"step": TrajectorySpec(("step",), "int64"), "position": TrajectorySpec(("step",), "float64")}
    )
    traj.append(step=np.arange(1, len(x) + 1), position=x)
    traj.close()
    record.static("final_position", x[-1:], ("one",))
    return {"final": float(x[-1]), "max_abs": float(np.abs(x).max())}


def _toy_cost(config: dict) -> float:
    return float(config["walk"]["steps"] * 10)


def _toy_driver() -> types.ModuleType:
    driver = types.ModuleType("dynet_contract_toy.driver")
    driver.run = _toy_run
    driver.preflight = lambda config, base_dir, store=None: []
    driver.cost = _toy_cost
    driver.warmup = lambda: None
    return driver


TOY_SCENARIO = """
name = "toy-walk"
model = "toy"
seed = 3
[walk]
steps = 20000
step_size = 0.5
[sweep]
replicates = 4
"""


@pytest.fixture(params=[*models.REGISTRY, "toy"])
def kind(request, monkeypatch, tmp_path_factory):
    """(model kind, its shipped scenario files); ``toy`` is registered for the test's duration."""
    name = request.param
    if name == "toy":
        package = types.ModuleType("dynet_contract_toy")
        monkeypatch.setitem(sys.modules, "dynet_contract_toy", package)
        monkeypatch.setitem(sys.modules, "dynet_contract_toy.driver", _toy_driver())
        toy = models.ModelKind(
            name="toy",
            config=ToyScenario,
            package="dynet_contract_toy",
            description="A random walk.",
            summary=("final", "max_abs"),
        )
        monkeypatch.setitem(models.REGISTRY, "toy", toy)
        shipped = tmp_path_factory.mktemp("toy") / "toy-walk.toml"
        shipped.write_text(TOY_SCENARIO)
        return toy, [str(shipped)]
    files = []
    for path in sorted(glob.glob(os.path.join(SCENARIOS, "*.toml"))):
        with open(path, "rb") as fh:
            if tomllib.load(fh).get("model") == name:
                files.append(path)
    return models.get(name), files


def _set(doc: dict, dotted: str, value) -> None:
    *tables, key = dotted.split(".")
    for t in tables:
        doc = doc.setdefault(t, {})
    doc[key] = value


def _shrunk(kind, files: list[str], folder) -> str:
    """The kind's cheapest shipped scenario (by mean cost per run) without its sweep, with the
    kind's ``SHRINK`` overrides, written to ``folder``."""
    assert kind.name in SHRINK, f"add a line for the model kind {kind.name!r} to SHRINK"

    def mean_cost(path):
        runs = api.validate(path).runs
        return sum(kind.cost(s.config) for s in runs) / len(runs)

    cheapest = min(files, key=mean_cost)
    with open(cheapest, "rb") as fh:
        doc = tomllib.load(fh)
    doc.pop("sweep", None)
    for key, value in SHRINK[kind.name].items():
        _set(doc, key, value)
    path = os.path.join(folder, os.path.basename(cheapest))
    with open(path, "w") as fh:
        fh.write(to_toml(doc) + "\n")
    return path


def _bounded_setting(cls) -> tuple[str, object]:
    """A key of one of the kind's own tables with a lower bound, and a value below it."""
    base = set(ScenarioBase.model_fields)
    for table, f in cls.model_fields.items():
        subs = model_classes(f.annotation)
        if table in base or len(subs) != 1:
            continue
        for key, sub in subs[0].model_fields.items():
            if sub.annotation not in (int, float):
                continue
            for m in sub.metadata:
                bound = (
                    getattr(m, "ge", None)
                    if isinstance(m, annotated_types.Ge)
                    else getattr(m, "gt", None)
                    if isinstance(m, annotated_types.Gt)
                    else None
                )
                if bound is not None:
                    return f"{table}.{key}", sub.annotation(bound - 1)
    raise AssertionError(f"{cls.__name__} has no table with a bounded number")


# --------------------------------------------------------------------------- the checks


def test_shipped_scenarios_validate_and_cost_is_positive(kind):
    kind, files = kind
    assert files, f"model kind {kind.name!r} ships no scenario"
    for path in files:
        scenario = dynet.validate(path)
        assert scenario.model == kind.name and scenario.runs
        for spec in scenario.runs:
            assert isinstance(spec.settings, kind.config)
            c = kind.cost(spec.config)
            assert isinstance(c, float) and math.isfinite(c) and c > 0, (path, spec.params, c)


def test_warmup_compiles(kind):
    kind, _ = kind
    kind.warmup()  # compiles the kernels (or loads them from numba's cache); raises on failure


def test_a_small_run_into_a_store_reruns_bit_identical(kind, tmp_path, monkeypatch):
    import dynet.cluster

    kind, files = kind
    path = _shrunk(kind, files, tmp_path)

    def no_cluster(**kwargs):
        raise AssertionError("a shrunk scenario must run in this process (shrink it further)")

    monkeypatch.setattr(dynet.cluster, "connect", no_cluster)
    report = dynet.run_scenario(path, store=tmp_path / "a.zarr")
    assert not report.failed, [r.error for r in report.failed]
    (result,) = report.results
    assert result.status == "complete"
    assert report.summary_metrics == kind.summary
    shown = set(kind.summary) & {m for m, v in result.metrics.items() if v is not None}
    assert shown, f"none of {kind.summary} among the final metrics {sorted(result.metrics)}"
    stored = api.show_run(tmp_path / "a.zarr", result.run_id)
    assert stored["status"] == "complete" and stored["metrics"] == result.metrics and stored["arrays"]
    again = dynet.run_scenario(path, store=tmp_path / "b.zarr")
    assert [r.run_id for r in again.results] == [result.run_id]
    assert_same_runs(store_contents(tmp_path / "a.zarr"), store_contents(tmp_path / "b.zarr"))


def test_a_bad_value_is_refused_in_one_line_naming_its_key(kind, tmp_path):
    kind, files = kind
    key, bad = _bounded_setting(kind.config)
    with open(files[0], "rb") as fh:
        doc = tomllib.load(fh)
    _set(doc, key, bad)
    path = tmp_path / "bad.toml"
    path.write_text(to_toml(doc) + "\n")
    with pytest.raises(ScenarioError) as exc:
        dynet.validate(path)
    assert len(exc.value.lines) == 1 and "\n" not in exc.value.lines[0], exc.value.lines
    assert exc.value.lines[0].startswith(f"{path}: ") and f" {key}: " in exc.value.lines[0], exc.value.lines
