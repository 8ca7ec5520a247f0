"""The public API: ``import dynet`` and its ``__all__``, the error hierarchy, typed results."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest
from support import assert_same_runs, store_contents

import dynet
from dynet import api

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("numba", "dask", "distributed", "matplotlib", "zarr", "pandas", "xarray", "pydantic")


def test_every_public_name_resolves():
    assert len(dynet.__all__) == len(set(dynet.__all__))
    for name in dynet.__all__:
        assert getattr(dynet, name) is not None, name
    assert set(dynet.__all__) <= set(dir(dynet))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dynet.nope  # noqa: B018
    from dynet import run_scenario, validate  # from-imports see the lazy names too

    assert run_scenario is api.run_scenario and validate is api.validate


def test_import_dynet_is_light():
    """``import dynet`` imports none of the heavy dependencies; the first use of a name does."""
    code = f"import sys, dynet; heavy = {HEAVY!r}; print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": ROOT}
    ).stdout
    assert out.strip() == "[]"


def test_error_hierarchy():
    errors = [n for n in dynet.__all__ if n.endswith("Error") or n == "TrainingDiverged"]
    assert {
        "DynetError",
        "ScenarioError",
        "StoreError",
        "ClusterError",
        "DataError",
        "TrainingDiverged",
        "PlotError",
    } <= set(errors)
    for name in errors:
        cls = getattr(dynet, name)
        assert issubclass(cls, dynet.DynetError), name
    assert issubclass(dynet.ClusterLostError, dynet.ClusterError)
    assert issubclass(dynet.JobError, dynet.StoreError) and issubclass(dynet.AnalysisError, dynet.StoreError)
    assert dynet.ScenarioError(["a: x", "b: y"]).lines == ["a: x", "b: y"]


def test_py_typed_ships():
    assert os.path.isfile(os.path.join(ROOT, "dynet", "py.typed"))
    with open(os.path.join(ROOT, "pyproject.toml")) as fh:
        assert "py.typed" in fh.read()


def test_a_run_through_the_public_api(small_scenario, tmp_path):
    scenario = dynet.validate(small_scenario)
    assert isinstance(scenario, dynet.Scenario) and len(scenario.runs) == 12
    assert all(isinstance(s, dynet.RunSpec) for s in scenario.runs)
    with pytest.raises(dynet.ScenarioError):
        dynet.validate(tmp_path / "missing.toml")

    report = dynet.run_scenario(small_scenario, store=tmp_path / "a.zarr")
    assert isinstance(report, dynet.RunReport) and dataclasses.is_dataclass(report)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.store = "elsewhere"
    assert not report.failed and not report.skipped and len(report.results) == 12
    assert [r.run_id for r in report.results] == [s.run_id for s in scenario.runs]  # the scenario's order
    r = report.results[0]
    assert isinstance(r, dynet.RunResult) and r.ok and r.status == "complete" and r.elapsed_s > 0
    assert set(dynet.REGISTRY["hopfield"].summary) <= set(r.metrics)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.status = "failed"
    # what `dynet run --json` prints: the entries of run_result, and the counts
    doc = report.to_json()
    assert doc["executed"] == 12 and doc["skipped"] == doc["failed"] == doc["elsewhere"] == 0
    assert list(doc["runs"][0]) == ["run_id", "params", "replicate", "status", "metrics", "error", "elapsed_s"]
    assert doc["runs"][0] == {**api.run_result(scenario.runs[0], "complete", r.metrics, None, r.elapsed_s)}
    json.dumps(doc)

    # a second call finds every run complete: skipped entries carry no elapsed time
    again = dynet.run_scenario(small_scenario, store=tmp_path / "a.zarr")
    assert not again.results and len(again.skipped) == 12
    s0 = again.skipped[0]
    assert s0.skipped and not s0.elsewhere and s0.elapsed_s is None and s0.metrics == r.metrics
    assert list(s0.to_dict()) == ["run_id", "params", "replicate", "status", "metrics", "error", "skipped"]
    assert dynet.RunResult.from_dict(s0.to_dict()) == s0

    # the store readers
    listed = dynet.list_runs(tmp_path / "a.zarr")
    assert sorted(x["run_id"] for x in listed) == sorted(s.run_id for s in scenario.runs)
    shown = dynet.show_run(tmp_path / "a.zarr", r.run_id[:8])
    assert shown["run_id"] == r.run_id and shown["status"] == "complete" and "energy" in shown["arrays"]
    arrays = dynet.load_run(tmp_path / "a.zarr", r.run_id)
    assert arrays["state"].shape[1] == 64
    store = dynet.open_store(tmp_path / "a.zarr")
    assert len(store.runs) == 12
    with pytest.raises(dynet.StoreError):
        dynet.list_runs(tmp_path / "none.zarr")

    # the same runs in another store are the same, bit for bit
    dynet.run_scenario(small_scenario, store=tmp_path / "b.zarr")
    assert_same_runs(store_contents(tmp_path / "a.zarr"), store_contents(tmp_path / "b.zarr"))


def test_failed_runs_in_the_report_and_on_the_command_line(small_scenario, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from dynet.cli import main
    from dynet.models.hopfield import driver

    def boom(spec, record):
        raise RuntimeError(f"boom {spec.replicate}")

    monkeypatch.setattr(driver, "run", boom)
    report = dynet.run_scenario(small_scenario, store=tmp_path / "a.zarr")
    assert len(report.failed) == len(report.results) == 12
    r = report.failed[0]
    assert r.status == "failed" and not r.ok and r.metrics == {} and r.error == "RuntimeError: boom 0"
    assert r.to_dict() == api.run_result(dynet.validate(small_scenario).runs[0], "failed", {}, r.error, r.elapsed_s)
    assert report.to_json()["failed"] == 12

    out = CliRunner().invoke(main, ["run", small_scenario, "--store", str(tmp_path / "b.zarr")])
    assert out.exit_code == 1
    errors = [line for line in out.output.splitlines() if line.startswith("error: run ")]
    assert len(errors) == 12 and errors[0] == f"error: run {r.run_id} failed: RuntimeError: boom 0"
