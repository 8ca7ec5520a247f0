"""The data commands (ls options, summary, export) through click's CliRunner on a real store."""

import json
import math
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from analysis_stores import build_store
from click.testing import CliRunner

import dynet
from dynet.cli import main


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    return build_store(tmp_path_factory)


@pytest.fixture(scope="module")
def store(path):
    return dynet.open_store(path)


@pytest.fixture
def runner():
    return CliRunner()


def ok(res):
    assert res.exit_code == 0, (res.output, res.stderr)
    return res


def one_line_error(res, text):
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], res.stderr
    assert res.stdout == ""


def test_ls_filters(runner, path, store):
    runs = json.loads(ok(runner.invoke(main, ["ls", path, "--json"])).stdout)
    assert len(runs) == 30 and {r["run_id"] for r in runs} == set(store.runs.run_id)
    r = next(r for r in runs if r["scenario"] == "hop-grid")
    assert set(r) >= {"run_id", "scenario", "job", "model", "params", "replicate", "status", "metrics", "error"}
    got = json.loads(
        ok(runner.invoke(main, ["ls", path, "--scenario", "ff-tiny", "--status", "failed", "--json"])).stdout
    )
    assert len(got) == 2 and all(
        r["params"] == {"optimizer.lr": 1e30} and r["error"].startswith("TrainingDiverged") for r in got
    )
    got = json.loads(
        ok(
            runner.invoke(
                main, ["ls", path, "--where", ("init.fraction > 0.2 and network.rule == 'storkey'"), "--json"]
            )
        ).stdout
    )
    expect = store.runs[(store.runs["init.fraction"] > 0.2) & (store.runs["network.rule"] == "storkey")]
    assert sorted(r["run_id"] for r in got) == sorted(expect.run_id) and len(got) == 3
    res = ok(runner.invoke(main, ["ls", path, "--where", "final_overlap < 2", "--scenario", "hop-zip"]))
    assert len(res.stdout.strip().splitlines()) == 1 + 6 and "final_overlap=" in res.stdout


def test_ls_errors(runner, path):
    one_line_error(runner.invoke(main, ["ls", path, "--where", "alpha > 0.1"]), "alpha")
    one_line_error(runner.invoke(main, ["ls", path, "--where", "init.fraction >"]), "bad filter expression")
    one_line_error(runner.invoke(main, ["ls", path, "--where", "run_id"]), "not a true/false condition")
    one_line_error(runner.invoke(main, ["ls", path, "--status", "done"]), "--status")


def test_ls_lists_damaged_groups_and_passes_over_never_started_ones(runner, path, tmp_path):
    copy = tmp_path / "copy.zarr"
    shutil.copytree(path, copy)
    os.mkdir(copy / "runs" / "leftover")  # a run folder a full disk left without metadata: never started
    os.mkdir(copy / "runs" / "broken")
    (copy / "runs" / "broken" / "zarr.json").write_text("{not json")
    res = ok(runner.invoke(main, ["ls", str(copy), "--json"]))
    runs = json.loads(res.stdout)
    assert len(runs) == 31 and "leftover" not in {r["run_id"] for r in runs}
    [broken] = [r for r in runs if r["run_id"] == "broken"]
    assert broken["status"] == "damaged" and broken["error"].startswith("runs/broken/zarr.json: not valid JSON")
    assert res.stderr == ""
    only = json.loads(ok(runner.invoke(main, ["ls", str(copy), "--status", "damaged", "--json"])).stdout)
    assert [r["run_id"] for r in only] == ["broken"]


def test_summary(runner, path, store):
    res = ok(runner.invoke(main, ["summary", path, "hop-grid"]))
    lines = res.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["network.rule", "init.fraction", "runs", "failed"] and len(lines) == 5
    assert "final_overlap" in lines[0] and "±" in lines[1]
    rows = json.loads(ok(runner.invoke(main, ["summary", path, "ising-tiny", "--metric", "binder", "--json"])).stdout)
    assert len(rows) == 4
    runs = store.runs[store.runs.scenario == "ising-tiny"]
    for row in rows:
        vals = runs[
            (runs["lattice.size"] == row["lattice.size"])
            & (runs["dynamics.temperature"] == row["dynamics.temperature"])
        ].binder.to_numpy(float)
        assert row["runs"] == 2 and row["binder"] == pytest.approx(vals.mean())
        assert row["binder_sem"] == pytest.approx(vals.std(ddof=1) / math.sqrt(2))
    rows = json.loads(ok(runner.invoke(main, ["summary", path, "ff-tiny", "--json"])).stdout)
    bad = next(r for r in rows if r["optimizer.lr"] == 1e30)
    assert bad["failed"] == 2 and bad["train_loss"] is None
    one_line_error(runner.invoke(main, ["summary", path, "nope"]), "no runs of scenario 'nope'")
    one_line_error(runner.invoke(main, ["summary", path, "hop-grid", "--metric", "nope"]), "no metric nope")


def test_export_run(runner, path, store, tmp_path):
    rid = store.runs.query("scenario == 'hop-grid'").run_id.iloc[0]
    nc = tmp_path / "run.nc"
    res = ok(runner.invoke(main, ["export", path, rid[:8], "-o", str(nc)]))
    assert res.stdout.startswith(f"wrote {nc} (netcdf, run {rid}")
    ds = store.run(rid)
    with xr.open_dataset(nc) as back:
        for name in ds.variables:
            np.testing.assert_array_equal(back[name].values, ds[name].values)
        assert back.attrs["run_id"] == rid and json.loads(back.attrs["params"]) == json.loads(ds.attrs["params"])
    csv = tmp_path / "run.csv"
    info = json.loads(
        ok(runner.invoke(main, ["export", path, rid, "--format", "csv", "-o", str(csv), "--json"])).stdout
    )
    table = pd.read_csv(csv)
    assert (
        info["rows"] == ds.sizes["sweep"]
        and info["dim"] == "sweep"
        and list(table.columns[:2]) == ["sweep", "temperature"]
    )
    np.testing.assert_array_equal(table.energy.to_numpy(), ds.energy.values)
    np.testing.assert_array_equal(table["overlap[1]"].to_numpy(), ds.overlap.sel(pattern=1).values)
    pq = tmp_path / "ff.parquet"
    ff = store.runs.query("scenario == 'ff-tiny' and status == 'complete'").run_id.iloc[0]
    ok(runner.invoke(main, ["export", path, ff, "-o", str(pq)]))
    table = pd.read_parquet(pq)
    np.testing.assert_array_equal(table.train_loss.to_numpy(), store.run(ff).train_loss.values)
    assert "weight_norm[0]" in table.columns


def test_export_scenario(runner, path, store, tmp_path):
    csv = tmp_path / "grid.csv"
    ok(runner.invoke(main, ["export", path, "hop-grid", "-o", str(csv)]))
    table = pd.read_csv(csv)
    runs = store.runs[store.runs.scenario == "hop-grid"].set_index("run_id")
    assert len(table) == 12 and "patterns.count" not in table.columns and "binder" not in table.columns
    for row in table.itertuples(index=False):
        d = dict(zip(table.columns, row))
        assert d["final_overlap"] == runs.loc[d["run_id"], "final_overlap"]
        assert d["network.rule"] == runs.loc[d["run_id"], "network.rule"]
    pq = tmp_path / "ff.parquet"
    ok(runner.invoke(main, ["export", path, "ff-tiny", "--format", "parquet", "-o", str(pq)]))
    table = pd.read_parquet(pq)
    assert sorted(table.status) == ["complete", "complete", "failed", "failed"]
    assert table.frozen_layers.dropna().tolist() == ["[]", "[]"]  # lists as JSON text
    nc = tmp_path / "zip.nc"
    info = json.loads(
        ok(
            runner.invoke(
                main, ["export", path, "hop-zip", "-o", str(nc), "--trajectories", "energy, overlap", "--json"]
            )
        ).stdout
    )
    assert info["dims"]["point"] == 3 and "overlap" in info["variables"]
    sw = store.sweep("hop-zip", trajectories=["energy", "overlap"])
    with xr.open_dataset(nc) as back:
        np.testing.assert_array_equal(back.energy.values, sw.energy.values)
        np.testing.assert_array_equal(back.final_overlap.values, sw.final_overlap.values)
        assert list(back["patterns.count"].values) == [2, 4, 6]


def test_export_errors_write_nothing(runner, path, store, tmp_path):
    out = tmp_path / "x.csv"
    out.write_text("keep me")
    one_line_error(runner.invoke(main, ["export", path, "hop-grid", "-o", str(out)]), "exists (use --force")
    assert out.read_text() == "keep me"
    ok(runner.invoke(main, ["export", path, "hop-grid", "-o", str(out), "--force"]))
    assert len(pd.read_csv(out)) == 12
    one_line_error(
        runner.invoke(main, ["export", path, "nothing", "-o", str(tmp_path / "n.nc")]),
        "'nothing' is neither a scenario",
    )
    one_line_error(runner.invoke(main, ["export", path, "hop-grid", "-o", str(tmp_path / "n.txt")]), "give --format")
    one_line_error(
        runner.invoke(main, ["export", path, "hop-grid", "-o", str(tmp_path / "no" / "n.csv")]), "no such directory"
    )
    one_line_error(
        runner.invoke(main, ["export", path, "hop-grid", "-o", str(tmp_path / "n.nc"), "--trajectories", "nonesuch"]),
        "'nonesuch'",
    )
    rid = store.runs.run_id.iloc[0]
    one_line_error(
        runner.invoke(main, ["export", path, rid, "-o", str(tmp_path / "n.csv"), "--dim", "nope"]),
        "no dimension 'nope'",
    )
    assert sorted(os.listdir(tmp_path)) == ["x.csv"]  # no partial or temporary files
