"""The command line through click's CliRunner."""

import json

import pytest
import zarr
from click.testing import CliRunner

from dynet import __version__
from dynet import store as S
from dynet.cli import main


@pytest.fixture
def runner():
    return CliRunner()


def test_help_and_version(runner):
    res = runner.invoke(main, ["-h"])
    assert res.exit_code == 0
    for cmd in ("run", "validate", "schema", "ls", "show"):
        assert cmd in res.output
    res = runner.invoke(main, ["--version"])
    assert res.exit_code == 0 and __version__ in res.output


def test_validate_ok_and_json(runner, small_scenario):
    res = runner.invoke(main, ["validate", small_scenario])
    assert res.exit_code == 0 and "ok (hopfield, 4 sweep point(s), 12 run(s))" in res.output
    res = runner.invoke(main, ["validate", small_scenario, "--json"])
    data = json.loads(res.output)
    assert data["scenario"] == "small" and len(data["runs"]) == 12


def test_validate_error_is_one_line_exit_2(runner, write_scenario):
    path = write_scenario("""
        name = "x"
        model = "hopfield"
        seed = 1
        [network]
        n_units = 20
        [patterns]
        source = "random"
        count = 2
        [init]
        kind = "flip"
        [dynamics]
        max_sweps = 10
        """)
    res = runner.invoke(main, ["validate", path])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {path}: dynamics.max_sweps: unknown key (did you mean 'max_sweeps'?)"
    assert res.stdout == ""


def test_run_invalid_scenario_writes_nothing(runner, write_scenario, tmp_path):
    path = write_scenario("name = 'x'\nmodel = 'hopfield'\nseed = 1\nlearning_rate = -1\n")
    store = tmp_path / "s.zarr"
    res = runner.invoke(main, ["run", path, "--store", str(store)])
    assert res.exit_code == 2 and "learning_rate: unknown key" in res.stderr
    assert not store.exists()


def test_schema_is_json(runner):
    res = runner.invoke(main, ["schema"])
    assert res.exit_code == 0
    schema = json.loads(res.output)
    assert "patterns" in schema["$defs"]["HopfieldScenario"]["properties"]
    assert "optimizer" in schema["$defs"]["FeedforwardScenario"]["properties"]


def test_models_and_one_kinds_schema_come_from_the_registry(runner):
    from dynet import models

    res = runner.invoke(main, ["models", "--json"])
    assert res.exit_code == 0
    kinds = json.loads(res.output)
    assert [k["model"] for k in kinds] == list(models.REGISTRY)
    assert kinds[0]["summary_metrics"] == list(models.REGISTRY[kinds[0]["model"]].summary)
    res = runner.invoke(main, ["models"])
    assert res.exit_code == 0 and all(name in res.output for name in models.REGISTRY)
    res = runner.invoke(main, ["schema", "ising"])
    schema = json.loads(res.output)
    assert schema["title"] == "IsingScenario" and schema["properties"]["model"]["const"] == "ising"
    res = runner.invoke(main, ["schema", "isng"])
    assert res.exit_code == 2 and res.stderr.strip().startswith("error: unknown model kind 'isng'")


def test_run_ls_show(runner, small_scenario, tmp_path):
    store = tmp_path / "s.zarr"
    res = runner.invoke(main, ["run", small_scenario, "--store", str(store), "--workers", "1", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["executed"] == 12 and report["failed"] == 0
    res = runner.invoke(main, ["run", small_scenario, "--store", str(store), "--workers", "1"])
    assert res.exit_code == 0
    assert "0 run(s) executed, 12 already complete, 0 failed" in res.stdout
    assert "network.rule" in res.stdout and "final_overlap" in res.stdout  # summary table header

    res = runner.invoke(main, ["ls", str(store), "--json"])
    runs = json.loads(res.stdout)
    assert len(runs) == 12 and {r["status"] for r in runs} == {"complete"}
    res = runner.invoke(main, ["ls", str(store)])
    assert res.exit_code == 0 and len(res.stdout.strip().splitlines()) == 13

    rid = runs[0]["run_id"]
    res = runner.invoke(main, ["show", str(store), rid[:6], "--json"])
    info = json.loads(res.stdout)
    assert info["run_id"] == rid and info["status"] == "complete"
    assert info["arrays"]["state"]["dims"] == ["sweep", "unit"]
    res = runner.invoke(main, ["show", str(store), rid])
    assert res.exit_code == 0 and "stop_reason" in res.stdout and "dims=('sweep', 'unit')" in res.stdout


def test_store_errors_exit_2(runner, tmp_path, small_scenario):
    res = runner.invoke(main, ["ls", str(tmp_path / "none.zarr")])
    assert res.exit_code == 2 and "no dynet store here" in res.stderr
    path = tmp_path / "old.zarr"
    S.open_store(path, create=True)
    zarr.open_group(str(path), mode="r+").attrs.update({S.STORE_ATTR: {"format": 0, "dynet_version": "0.0"}})
    res = runner.invoke(main, ["run", small_scenario, "--store", str(path)])
    assert res.exit_code == 2 and "store format 0" in res.stderr
    res = runner.invoke(main, ["show", str(path), "abc"])
    assert res.exit_code == 2


def test_unreachable_scheduler_exit_1(runner, small_scenario, tmp_path, monkeypatch):
    store = tmp_path / "s.zarr"
    res = runner.invoke(main, ["run", small_scenario, "--store", str(store), "--scheduler", "tcp://127.0.0.1:9"])
    assert res.exit_code == 1
    assert res.stderr.strip().startswith("error: cannot reach Dask scheduler at tcp://127.0.0.1:9")
    assert not store.exists()


def test_warmup_compiles_the_kinds_named(runner):
    from dynet import models
    from dynet.models.ising import kernels as K

    res = runner.invoke(main, ["warmup", "ising"])
    assert res.exit_code == 0 and res.output.startswith("ising: ready (")
    assert K.sweeps.signatures, "warmup compiled nothing"
    res = runner.invoke(main, ["warmup", "ising", "ferro"])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: unknown model kind 'ferro' (one of {', '.join(models.REGISTRY)})"
