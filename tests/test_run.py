"""Running scenarios for real: LocalCluster, a dask scheduler + worker, kills and resumes."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import zarr
from distributed import Client, LocalCluster
from support import LONG_HOPFIELD, DaskProcesses, assert_same_runs, store_contents

from dynet import api
from dynet import store as S
from dynet.cluster import ClusterError
from dynet.scenario import RunSpec, load_scenario


@pytest.fixture(scope="module")
def two_stores(tmp_path_factory):
    """The small scenario run with 1 worker and with 2 workers."""
    from conftest import SMALL

    d = tmp_path_factory.mktemp("runs")
    scenario = d / "small.toml"
    scenario.write_text(SMALL)
    one = api.run_scenario(scenario, store=d / "one.zarr", workers=1)
    two = api.run_scenario(scenario, store=d / "two.zarr", workers=2)
    return scenario, d / "one.zarr", d / "two.zarr", one, two


def test_a_small_sweep_runs_in_process_with_the_same_results(two_stores, tmp_path, monkeypatch):
    """Without --workers, a sweep with little work starts no cluster, and gives the same arrays."""
    import dynet.cluster

    def no_cluster(**kwargs):
        raise AssertionError("a small local sweep must not start a cluster")

    monkeypatch.setattr(dynet.cluster, "connect", no_cluster)
    scenario, one_path, _, _, _ = two_stores
    seen = []
    report = api.run_scenario(scenario, store=tmp_path / "here.zarr", progress=lambda d, t: seen.append((d, t)))
    assert len(report.results) == 12 and not report.failed
    assert seen[0] == (0, 12) and seen[-1] == (12, 12)
    assert_same_runs(store_contents(tmp_path / "here.zarr"), store_contents(one_path))
    again = api.run_scenario(scenario, store=tmp_path / "here.zarr")
    assert len(again.skipped) == 12 and not again.results


def test_local_cluster_runs_every_run(two_stores):
    scenario, one_path, _, one, _ = two_stores
    assert len(one.results) == 12 and not one.failed and not one.skipped
    runs = api.list_runs(one_path)
    assert len(runs) == 12 and all(r["status"] == "complete" for r in runs)
    for r in runs:
        x = api.load_run(one_path, r["run_id"])
        energy = x["energy"]
        assert np.all(np.diff(energy) <= 1e-9), "asynchronous T = 0 dynamics never raise the energy"
        assert x["sweep"][0] == 0 and x["state"].shape == (len(energy), 64)
        np.testing.assert_array_equal(x["state"][-1], x["final_state"])
        m = r["metrics"]
        assert m["stop_reason"] == "fixed_point" and m["n_patterns"] == 4
        assert m["final_overlap"] == pytest.approx(x["overlap"][-1, 1])
    # low load, mild noise: the cued pattern is recalled in every run
    assert all(r["metrics"]["recalled"] for r in runs if r["params"]["init.fraction"] == 0.1)


def test_bit_identical_with_one_or_two_workers(two_stores):
    _, one_path, two_path, _, _ = two_stores
    assert_same_runs(store_contents(one_path), store_contents(two_path))


def test_xarray_opens_a_run_as_labelled_dataset(two_stores):
    xr = pytest.importorskip("xarray")
    _, one_path, _, _, _ = two_stores
    rid = api.list_runs(one_path)[0]["run_id"]
    ds = api.open_run(one_path, rid)
    assert isinstance(ds, xr.Dataset)
    assert ds["state"].dims == ("sweep", "unit") and ds["overlap"].dims == ("sweep", "pattern")
    assert ds["patterns"].dims == ("pattern", "unit")
    assert ds.attrs["status"] == "complete" and ds.attrs["run_id"] == rid
    assert int(ds["sweep"][0]) == 0
    ds2 = xr.open_zarr(str(one_path), group=f"runs/{rid}", consolidated=False)
    np.testing.assert_array_equal(ds2["energy"].values, ds["energy"].values)


def test_rerun_skips_complete_and_redoes_incomplete(two_stores, tmp_path):
    import shutil

    scenario, one_path, two_path, _, _ = two_stores
    path = tmp_path / "partial.zarr"
    shutil.copytree(one_path, path)
    ids = sorted(store_contents(path))
    # one run interrupted mid-write, one failed, one never started
    g = zarr.open_group(str(path), path=f"runs/{ids[0]}", mode="r+")
    g.attrs.update({"status": "running"})
    g["state"].resize((1, 64))
    zarr.open_group(str(path), path=f"runs/{ids[1]}", mode="r+").attrs.update({"status": "failed", "error": "x"})
    shutil.rmtree(path / "runs" / ids[2])
    report = api.run_scenario(scenario, store=path, workers=1)
    assert sorted(r.run_id for r in report.results) == sorted(ids[:3])
    assert len(report.skipped) == 9
    assert_same_runs(store_contents(path), store_contents(two_path))


def test_killed_run_resumes_bit_identical(tmp_path):
    scenario = tmp_path / "kill.toml"
    scenario.write_text(LONG_HOPFIELD)
    killed = tmp_path / "killed.zarr"
    cmd = [sys.executable, "-m", "dynet.cli", "run", str(scenario), "--store", str(killed), "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                statuses = [a["status"] for a in S.list_runs(S.open_store(killed)).values()]
            except (S.StoreError, KeyError, FileNotFoundError, ValueError):
                statuses = []
            if statuses.count("complete") >= 2:
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    statuses = [a["status"] for a in S.list_runs(S.open_store(killed)).values()]
    assert statuses.count("complete") >= 2
    assert statuses.count("complete") < 12, "the kill should land before the scenario finishes"
    before = {rid: v for rid, v in store_contents(killed).items() if v[0] == "complete"}

    report = api.run_scenario(scenario, store=killed, workers=2)
    assert len(report.skipped) == len(before) and not report.failed
    after = store_contents(killed)
    for rid, v in before.items():  # finished work is kept as it was
        assert after[rid][1] == v[1]
    fresh = tmp_path / "fresh.zarr"
    api.run_scenario(scenario, store=fresh, workers=1)
    assert_same_runs(after, store_contents(fresh))


def test_failed_run_is_stored_and_the_others_go_on(tmp_path, small_scenario):
    sc = load_scenario(small_scenario)
    good = sc.runs[:2]
    cfg = dict(good[0].config, patterns={"source": "file", "path": "gone.npy", "key": None})
    bad = RunSpec(
        run_id="bad0000000000000",
        model="hopfield",
        scenario="small",
        config=cfg,
        params={},
        replicate=0,
        seed=good[0].seed,
        base_dir=str(tmp_path),
    )
    path = tmp_path / "s.zarr"
    S.open_store(path, create=True)
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):
        results = client.submit(api.execute_batch, str(path), [good[0], bad, good[1]]).result()
    assert [r["status"] for r in results] == ["complete", "failed", "complete"]
    assert "gone.npy: no such data file" in results[1]["error"]
    attrs = S.run_attrs(S.open_store(path), "bad0000000000000")
    assert attrs["status"] == "failed" and "DataError" in attrs["error"]


def test_unreachable_scheduler_fails_cleanly(tmp_path, small_scenario):
    path = tmp_path / "never.zarr"
    with pytest.raises(ClusterError, match="cannot reach Dask scheduler at tcp://127.0.0.1:9"):
        api.run_scenario(small_scenario, store=path, scheduler="tcp://127.0.0.1:9", connect_timeout=2)
    assert not path.exists()


def test_invalid_scenario_creates_nothing(tmp_path, write_scenario):
    from dynet.scenario import ScenarioError

    bad = write_scenario("name = 'x'\nmodel = 'hopfield'\nseed = -1\n")
    path = tmp_path / "never.zarr"
    with pytest.raises(ScenarioError):
        api.run_scenario(bad, store=path)
    assert not path.exists()


def test_dask_scheduler_and_worker_processes(tmp_path, two_stores):
    """The same runs sent to `dask scheduler` + `dask worker` processes give the same arrays."""
    scenario, _, two_path, _, _ = two_stores
    if not os.path.exists(os.path.join(os.path.dirname(sys.executable), "dask")):
        pytest.skip("dask CLI not installed next to this python")
    with DaskProcesses(tmp_path, workers=2) as procs:
        assert procs.address.startswith("tcp://127.0.0.1:")
        path = tmp_path / "remote.zarr"
        report = api.run_scenario(scenario, store=path, scheduler=procs.address)
        assert len(report.results) == 12 and not report.failed
        assert_same_runs(store_contents(path), store_contents(two_path))
