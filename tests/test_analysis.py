"""The analysis API over a real store: the runs table, run Datasets, sweeps, NetCDF."""

import json
import math
import os
import shutil
import warnings

import numpy as np
import pytest
import xarray as xr
import zarr
from analysis_stores import build_store

import dynet
from dynet import analysis
from dynet import store as S
from dynet.analysis import AnalysisError


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    return build_store(tmp_path_factory)


@pytest.fixture(scope="module")
def store(path):
    return dynet.open_store(path)


def zarr_records(path):
    """Every run's attributes, read through zarr (independently of the fast reader)."""
    return {rid: dict(g.attrs) for rid, g in zarr.open_group(path, mode="r")["runs"].groups()}


def test_runs_table_matches_the_stored_records(path, store):
    records = zarr_records(path)
    runs = store.runs
    assert sorted(runs.run_id) == sorted(records) and len(runs) == 30
    assert list(runs.columns[:4]) == ["run_id", "scenario", "job", "model"]
    for col in (
        "network.rule",
        "init.fraction",
        "patterns.count",
        "lattice.size",
        "dynamics.temperature",
        "optimizer.lr",
        "replicate",
        "status",
        "final_overlap",
        "binder",
        "train_loss",
    ):
        assert col in runs.columns, col
    assert runs.job.isna().all()
    for row in runs.itertuples(index=False):
        rec = records[row.run_id]
        d = dict(zip(runs.columns, row))
        assert d["scenario"] == rec["scenario"] and d["model"] == rec["model"]
        assert d["replicate"] == rec["replicate"] and d["status"] == rec["status"]
        for k, v in rec["params"].items():
            assert d[k] == v
        for k, v in rec["metrics"].items():
            v = tuple(v) if isinstance(v, list) else v  # lists are tuples in the table (hashable)
            assert d[k] == v or (isinstance(v, float) and math.isnan(v) and math.isnan(d[k])), (k, v, d[k])
        if rec["status"] == S.FAILED:
            assert d["error"] == rec["error"].split("\n")[0] and math.isnan(d["train_loss"])
    assert store.scenarios == ["ff-tiny", "hop-grid", "hop-zip", "ising-tiny"]
    assert set(store.runs.query("scenario == 'ff-tiny' and status == 'failed'")["optimizer.lr"]) == {1e30}
    sel = store.runs.query("`init.fraction` > 0.2 and scenario == 'hop-grid'")
    assert len(sel) == 6 and set(sel["init.fraction"]) == {0.3}


def test_run_dataset_coords_attrs_and_values(path, store):
    records = zarr_records(path)
    rid = store.runs.query("scenario == 'hop-grid'").run_id.iloc[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. zarr's or xarray's about consolidated metadata
        ds = store.run(rid[:7])
    assert ds.attrs["run_id"] == rid
    for dim in ds.dims:
        assert dim in ds.coords, dim
    assert set(ds.dims) == {"sweep", "pattern", "unit"}
    assert ds.temperature.dims == ("sweep",) and "temperature" in ds.coords
    assert ds.energy.attrs == {"long_name": "energy", "units": "1"}
    assert ds.sweep.attrs["long_name"] == "Monte Carlo sweep"
    for key in ("config", "params", "seed", "metrics", "timings"):
        assert json.loads(ds.attrs[key]) == records[rid][key]
    assert ds.attrs["checkpoint"] == "" and ds.attrs["error"] == "" and ds.attrs["job"] == ""
    group = zarr.open_group(path, mode="r")[S.run_path(rid)]
    for name, arr in group.arrays():
        np.testing.assert_array_equal(ds[name].values, arr[...])
    np.testing.assert_array_equal(ds.sweep.values, group["sweep"][...])


def test_run_dataset_is_lazy_and_dask_backed_when_large(store):
    rid = store.runs.query("scenario == 'hop-grid'").run_id.iloc[0]
    ds = store.run(rid, dask_bytes=100)  # every array above 100 bytes as dask
    assert ds.state.chunks is not None and ds.energy.chunks is None  # state 64 units x sweeps int8
    small = store.run(rid)
    assert small.state.chunks is None and not small.state.variable._in_memory


def test_run_dataset_of_other_models(store):
    ising = store.run(store.runs.query("scenario == 'ising-tiny' and `lattice.size` == 6").run_id.iloc[0])
    assert ising.energy.attrs["long_name"] == "energy per spin"
    assert ising.snapshot_sweep.dims == ("snapshot",) and "snapshot_sweep" in ising.coords
    assert list(ising.snapshot_sweep.values) == [100, 200, 300, 400]
    assert ising.lattice.dims == ("snapshot", "row", "col") and ising.sizes["row"] == 6
    ff = store.run(store.runs.query("scenario == 'ff-tiny' and status == 'complete'").run_id.iloc[0])
    assert ff.weight_norm.dims == ("epoch", "layer") and list(ff.epoch.values) == list(range(7))
    assert ff.weight_0.attrs["long_name"] == "weights of layer 0" and ff.weight_0.attrs["frozen"] == 0
    assert ff.initial_weight_0.attrs["long_name"] == "initial weights of layer 0"


def test_netcdf_round_trip(store, tmp_path):
    for q in (
        "scenario == 'hop-grid'",
        "scenario == 'ising-tiny'",
        "scenario == 'ff-tiny' and status == 'complete'",
        "scenario == 'ff-tiny' and status == 'failed'",
    ):
        rid = store.runs.query(q).run_id.iloc[0]
        ds = store.run(rid)
        out = tmp_path / f"{rid}.nc"
        ds.to_netcdf(out)
        with xr.open_dataset(out) as back:
            assert set(back.variables) == set(ds.variables)
            for name in ds.variables:
                np.testing.assert_array_equal(back[name].values, ds[name].values, err_msg=name)
            assert back.attrs["run_id"] == rid
            assert json.loads(back.attrs["config"]) == json.loads(ds.attrs["config"])
            assert back.energy.attrs.get("units") == ds.energy.attrs.get("units") if "energy" in ds else True


def test_prefix_resolution_and_errors(store):
    rid = store.runs.run_id.iloc[0]
    assert store.resolve(rid[:5]) == rid and store.resolve(rid) == rid
    assert store.attrs(rid[:6]) == store.records[rid] and store.attrs(rid)["run_id"] == rid
    with pytest.raises(AnalysisError, match="no run 'zzz'"):
        store.run("zzz")
    first = {r[0] for r in store.runs.run_id}
    ambiguous = next(c for c in first if sum(r.startswith(c) for r in store.runs.run_id) > 1)
    with pytest.raises(AnalysisError, match="ambiguous"):
        store.run(ambiguous)
    with pytest.raises(AnalysisError, match="no runs of scenario 'nope'.*hop-grid"):
        store.sweep("nope")
    with pytest.raises(S.StoreError, match="no dynet store here"):
        dynet.open_store(os.path.join(store.path, "missing"))


def test_grid_sweep_metrics_and_statistics(store):
    sw = store.sweep("hop-grid")
    assert sw.attrs["layout"] == "grid" and json.loads(sw.attrs["sweep_keys"]) == ["network.rule", "init.fraction"]
    assert dict(sw.sizes) == {"network.rule": 2, "init.fraction": 2, "replicate": 3}
    assert list(sw["network.rule"].values) == ["hebbian", "storkey"]
    assert list(sw["init.fraction"].values) == [0.1, 0.3]
    runs = store.runs.query("scenario == 'hop-grid'")
    for row in runs.itertuples(index=False):
        d = dict(zip(runs.columns, row))
        cell = sw.sel(
            {"network.rule": d["network.rule"], "init.fraction": d["init.fraction"], "replicate": d["replicate"]}
        )
        assert cell.run_id.item() == d["run_id"] and cell.status.item() == "complete"
        assert cell.final_overlap.item() == d["final_overlap"]
        assert cell.recalled.item() == float(d["recalled"]) and cell.stop_reason.item() == d["stop_reason"]
    mean, sem, n = analysis.mean_sem(sw)
    assert "stop_reason" not in mean
    for (rule, frac), grp in runs.groupby(["network.rule", "init.fraction"]):
        vals = grp.final_overlap.to_numpy(float)
        at = {"network.rule": rule, "init.fraction": frac}
        assert mean.final_overlap.sel(at).item() == pytest.approx(vals.mean())
        assert sem.final_overlap.sel(at).item() == pytest.approx(vals.std(ddof=1) / math.sqrt(len(vals)))
        assert n.final_overlap.sel(at).item() == 3
        # the xarray spelling the docs promise
        assert (sw.final_overlap.std("replicate", ddof=1) / np.sqrt(3)).sel(at).item() == pytest.approx(
            sem.final_overlap.sel(at).item()
        )
    table = store.summary("hop-grid")
    assert list(table.columns[:5]) == ["network.rule", "init.fraction", "runs", "complete", "failed"]
    assert "final_overlap_sem" in table.columns and len(table) == 4
    row = table[(table["network.rule"] == "storkey") & (table["init.fraction"] == 0.3)].iloc[0]
    vals = runs[(runs["network.rule"] == "storkey") & (runs["init.fraction"] == 0.3)].final_overlap.to_numpy(float)
    assert row.final_overlap == pytest.approx(vals.mean()) and row.runs == 3


def test_sweep_trajectories_align_with_nan_past_the_end(store):
    sw = store.sweep("hop-grid", trajectories=["energy", "overlap"])
    lengths = set()
    for rid in sw.run_id.values.ravel():
        run = store.run(rid)
        cell = sw.where(sw.run_id == rid, drop=True)
        energy = cell.energy.values.ravel()
        n = run.sizes["sweep"]
        lengths.add(n)
        np.testing.assert_array_equal(energy[:n], run.energy.values)
        assert np.isnan(energy[n:]).all()
        np.testing.assert_array_equal(sw.sweep.values[:n], run.sweep.values)
        ov = cell.overlap.values.reshape(-1, sw.sizes["pattern"])
        np.testing.assert_array_equal(ov[:n], run.overlap.values)
    assert len(lengths) > 1, "the runs should stop at different sweeps"
    assert sw.sizes["sweep"] == max(lengths)
    assert sw.energy.attrs["long_name"] == "energy"


def test_zip_sweep_has_a_point_dimension_and_pads_widths(store):
    sw = store.sweep("hop-zip", trajectories=["overlap"])
    assert sw.attrs["layout"] == "zip" and dict(sw.sizes)["point"] == 3
    assert list(sw["patterns.count"].values) == [2, 4, 6] and list(sw["init.fraction"].values) == [0.1, 0.2, 0.4]
    assert sw["patterns.count"].dims == ("point",)
    assert sw.sizes["pattern"] == 6
    first = sw.overlap.isel(point=0, replicate=0)
    assert np.isnan(first.isel(pattern=slice(2, None))).all() and not np.isnan(first.isel(sweep=0, pattern=0))
    assert (sw.n_patterns.values == np.array([[2, 2], [4, 4], [6, 6]])).all()


def test_failed_runs_are_nan_and_name_collisions(store):
    ff = store.sweep("ff-tiny", trajectories=["train_loss"])
    assert list(ff.status.sel({"optimizer.lr": 1e30}).values) == ["failed", "failed"]
    assert np.isnan(ff.train_loss.sel({"optimizer.lr": 1e30})).all()
    assert not np.isnan(ff.train_loss.sel({"optimizer.lr": 0.05})).any()
    # train_loss is also a final metric: the trajectory is named apart
    traj = ff.train_loss_trajectory
    assert traj.dims[-1] == "epoch" and np.isnan(traj.sel({"optimizer.lr": 1e30})).all()
    assert not np.isnan(traj.sel({"optimizer.lr": 0.05})).any()
    summary = store.summary("ff-tiny")
    bad = summary[summary["optimizer.lr"] == 1e30].iloc[0]
    assert bad.failed == 2 and bad.complete == 0 and math.isnan(bad.train_loss)
    ising = store.sweep("ising-tiny", trajectories=["energy", "lattice"])
    assert ising.energy.dims == ("lattice.size", "dynamics.temperature", "replicate")
    assert ising.energy_trajectory.dims[-1] == "sweep" and ising.sizes["sweep"] == 40
    small = ising.lattice.sel({"lattice.size": 4})
    assert np.isnan(small.isel(row=slice(4, None))).all() and set(
        np.unique(small.isel(row=slice(0, 4), col=slice(0, 4)))
    ) <= {-1, 1}


def test_sweep_netcdf_round_trip(store, tmp_path):
    sw = store.sweep("hop-zip", trajectories=["energy", "overlap"])
    sw.to_netcdf(tmp_path / "zip.nc")
    with xr.open_dataset(tmp_path / "zip.nc") as back:
        for name in sw.variables:
            a, b = sw[name].values, back[name].values
            if a.dtype.kind == "f":
                np.testing.assert_array_equal(a, b, err_msg=name)
            else:
                assert [str(x) for x in a.ravel()] == [str(x) for x in b.ravel()], name


def test_damaged_and_empty_groups_are_skipped_and_reported(path, tmp_path):
    copy = tmp_path / "copy.zarr"
    shutil.copytree(path, copy)
    os.mkdir(copy / "runs" / "emptyfolder")
    os.mkdir(copy / "runs" / "damaged")
    (copy / "runs" / "damaged" / "zarr.json").write_text("{not json")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no zarr warnings about folders that are not groups
        st = dynet.open_store(copy)
        assert len(st.runs) == 30
    assert set(st.problems) == {"emptyfolder", "damaged"}
    assert "no zarr.json" in st.problems["emptyfolder"] and st.problems["damaged"].startswith(
        "runs/damaged/zarr.json: not valid JSON"
    )
    assert len(st.sweep("hop-grid").run_id.values.ravel()) == 12


def test_forced_grid_layout_fills_missing_points(store):
    sw = store.sweep("hop-zip", layout="grid")
    assert dict(sw.sizes) == {"patterns.count": 3, "init.fraction": 3, "replicate": 2}
    assert (sw.status != "").sum().item() == 6  # the diagonal only
    assert np.isnan(sw.final_overlap.sel({"patterns.count": 2, "init.fraction": 0.4})).all()


def test_sweep_table_and_binder_helpers_still_work(path):
    rows = analysis.sweep_table(path, "hop-grid", ("final_overlap",))
    assert len(rows) == 4 and all(r["replicates"] == 3 for r in rows)


def _record(params, replicate, metrics, status="complete", started="2026-01-01T00:00:00"):
    return {
        "scenario": "x",
        "model": "feedforward",
        "params": params,
        "replicate": replicate,
        "status": status,
        "metrics": metrics,
        "timings": {"started": started},
    }


def test_sweep_placement_of_mixed_values_and_no_sweep():
    from dynet.analysis.reader import sweep_dataset

    recs = {
        f"r{i}{r}": _record({"training.batch_size": b, "optimizer.lr": lr}, r, {"m": 10 * i + r})
        for i, (b, lr) in enumerate([(1, 0.01), (16, 0.05), ("full", 0.5)])
        for r in range(2)
    }
    ds = sweep_dataset("", "x", recs, [])
    assert ds.attrs["layout"] == "zip" and list(ds["training.batch_size"].values) == ["1", "16", "full"]
    assert ds.m.values.tolist() == [[0, 1], [10, 11], [20, 21]]
    grid = sweep_dataset("", "x", recs, [], layout="grid")
    assert grid.m.sel({"training.batch_size": "full", "optimizer.lr": 0.5}).values.tolist() == [20, 21]
    single = sweep_dataset("", "x", {"a": _record({}, 0, {"m": 1.5}), "b": _record({}, 1, {"m": 2.5})}, [])
    assert dict(single.sizes) == {"replicate": 2} and single.m.values.tolist() == [1.5, 2.5]
    with pytest.raises(AnalysisError, match="sweep different parameters"):
        sweep_dataset("", "x", {"a": _record({"p": 1}, 0, {}), "b": _record({"q": 1}, 0, {})}, [])


def test_sweep_keeps_the_later_of_two_runs_in_one_cell():
    from dynet.analysis.reader import sweep_dataset

    recs = {
        "old": _record({"p": 1}, 0, {"m": 1.0}, started="2026-01-01T00:00:00"),
        "new": _record({"p": 1}, 0, {"m": 2.0}, started="2026-01-02T00:00:00"),
    }
    with pytest.warns(UserWarning, match="1 run\\(s\\) share a sweep point"):
        ds = sweep_dataset("", "x", recs, [])
    assert ds.run_id.values.tolist() == [["new"]] and ds.m.values.tolist() == [[2.0]]


def test_listing_cache_follows_changes_to_the_store(path, tmp_path):
    copy = str(tmp_path / "copy.zarr")
    shutil.copytree(path, copy)
    first = dynet.open_store(copy)
    rid = min(first.records)
    assert first.records[rid]["status"] == "complete"  # listed; its table is not built yet
    # a record rewritten, a run deleted: a later Store sees both; the earlier one keeps its snapshot
    zarr.open_group(copy, path=S.run_path(rid), mode="r+").attrs.update({"status": "failed", "error": "x\ny"})
    gone = sorted(first.records)[1]
    shutil.rmtree(os.path.join(copy, "runs", gone))
    second = dynet.open_store(copy)
    assert second.records[rid]["status"] == "failed" and gone not in second.records
    first.runs  # noqa: B018 - built from the older listing after the newer one was read ...
    third = dynet.open_store(copy)  # ... which must not leave a stale table for later Stores
    table = third.runs.set_index("run_id")
    assert table.loc[rid, "status"] == "failed" and table.loc[rid, "error"] == "x" and gone not in table.index
    assert first.runs.set_index("run_id").loc[rid, "status"] == "complete" and len(first.runs) == 30
    assert len(second.runs) == len(third.runs) == 29
    third.runs.loc[0, "status"] = "edited"  # a caller's edits stay in its own table
    assert dynet.open_store(copy).runs.loc[0, "status"] != "edited"
    os.mkdir(os.path.join(copy, "runs", "empty"))
    assert dynet.open_store(copy).problems == {"empty": "no zarr.json (an empty or partly deleted run group)"}
