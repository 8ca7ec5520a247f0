"""A store that cannot be written, or whose metadata is damaged: one line, and the rest of it usable."""

import json
import os
import shutil
import warnings

import pytest
import zarr
from click.testing import CliRunner

from dynet import api, cluster
from dynet import store as S
from dynet.cli import main


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def no_cluster(monkeypatch):
    """Fail the test if anything tries to start a cluster."""

    def refuse(**kwargs):
        raise AssertionError("a cluster was started for an unusable store")

    monkeypatch.setattr(cluster, "connect", refuse)


def _one_error_line(res) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.output
    return lines[0]


# --------------------------------------------------------------------------- unwritable stores


def test_a_store_under_proc_is_refused_before_anything_starts(runner, small_scenario, no_cluster):
    path = "/proc/dynet-test-store.zarr"
    with pytest.raises(S.StoreError, match="cannot write the store"):
        S.check_writable(path)
    res = runner.invoke(main, ["run", small_scenario, "--store", path])
    assert res.exit_code == 2
    assert "/proc/dynet-test-store.zarr: cannot write the store" in _one_error_line(res)
    assert not os.path.exists(path)


def test_a_store_below_a_file_is_refused(runner, small_scenario, tmp_path, no_cluster):
    (tmp_path / "file").write_text("x")
    path = tmp_path / "file" / "sub" / "s.zarr"
    res = runner.invoke(main, ["run", small_scenario, "--store", str(path)])
    assert res.exit_code == 2 and "cannot write the store" in _one_error_line(res)
    assert sorted(os.listdir(tmp_path)) == ["file", "small.toml"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_is_refused(runner, small_scenario, tmp_path, no_cluster):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        res = runner.invoke(main, ["run", small_scenario, "--store", str(ro / "s.zarr")])
        assert res.exit_code == 2 and "Permission denied" in _one_error_line(res)
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o755)


def test_the_probe_leaves_nothing_behind(tmp_path):
    path = tmp_path / "a" / "b" / "s.zarr"
    S.check_writable(path)
    assert os.listdir(tmp_path) == []
    S.open_store(path, create=True)
    S.check_writable(path)  # an existing store: probed inside runs/
    assert sorted(os.listdir(path / "runs")) == ["zarr.json"]


# --------------------------------------------------------------------------- damaged metadata


def _store_with_runs(path, ids):
    S.open_store(path, create=True)
    for rid in ids:
        rec = S.RunRecord(path, rid, {"params": {"x": rid}, "scenario": "t", "model": "hopfield"})
        rec.complete({"m": 1.0}, 0.1)


def test_a_damaged_run_is_listed_as_damaged_and_the_others_as_usual(tmp_path, runner):
    path = tmp_path / "s.zarr"
    _store_with_runs(path, ["aaa1", "bbb2", "ccc3"])
    (path / "runs" / "bbb2" / "zarr.json").write_text('{"attributes": {"status": "comp')
    runs = {r["run_id"]: r for r in api.list_runs(path)}
    assert runs["aaa1"]["status"] == runs["ccc3"]["status"] == "complete"
    assert runs["bbb2"]["status"] == "damaged"
    assert runs["bbb2"]["error"].startswith("runs/bbb2/zarr.json: not valid JSON")
    res = runner.invoke(main, ["ls", str(path)])
    assert res.exit_code == 0 and "damaged" in res.stdout and res.stdout.count("complete") == 2
    res = runner.invoke(main, ["show", str(path), "bbb"])
    assert res.exit_code == 0 and "status     damaged" in res.stdout and "not valid JSON" in res.stdout
    info = api.show_run(path, "bbb2")
    assert info["status"] == "damaged" and info["arrays"] == {}


def test_a_damaged_root_is_one_line_naming_the_file(tmp_path, runner, small_scenario, no_cluster):
    path = tmp_path / "s.zarr"
    _store_with_runs(path, ["aaa1"])
    (path / "zarr.json").write_text("{not json")
    with pytest.raises(S.StoreError, match=r"s\.zarr/zarr\.json: not valid JSON .*damaged"):
        S.open_store(path)
    for args in (["ls", str(path)], ["show", str(path), "aaa"], ["run", small_scenario, "--store", str(path)]):
        res = runner.invoke(main, args)
        assert res.exit_code == 2 and f"{path}/zarr.json: not valid JSON" in _one_error_line(res)
    (path / "zarr.json").write_text("")
    res = runner.invoke(main, ["ls", str(path)])
    assert res.exit_code == 2 and "zarr.json: empty file" in _one_error_line(res)


def test_a_zarr_v2_store_is_named_as_such(tmp_path, runner):
    path = tmp_path / "v2.zarr"
    zarr.open_group(str(path), mode="w", zarr_format=2).attrs["x"] = 1
    res = runner.invoke(main, ["ls", str(path)])
    assert res.exit_code == 2
    assert "a Zarr v2 store (it has .zgroup/.zattrs); dynet reads and writes Zarr v3 stores only" in _one_error_line(
        res
    )
    with pytest.raises(S.StoreError, match="Zarr v2"):
        S.open_store(path, create=True)


def test_run_folders_without_metadata_are_not_runs_and_raise_no_warnings(tmp_path, runner):
    path = tmp_path / "s.zarr"
    _store_with_runs(path, ["aaa1"])
    for i in range(20):  # what a full disk leaves: folders, no zarr.json
        (path / "runs" / f"empty{i:02d}").mkdir()
    (path / "runs" / "empty00" / "state").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [r["run_id"] for r in api.list_runs(path)] == ["aaa1"]
        res = runner.invoke(main, ["ls", str(path)])
    assert res.exit_code == 0 and res.stderr == "" and len(res.stdout.strip().splitlines()) == 2


def test_an_ambiguous_prefix_says_how_many_runs_match(tmp_path):
    path = tmp_path / "s.zarr"
    ids = [f"ab{i}" for i in range(7)]
    _store_with_runs(path, ids)
    with pytest.raises(S.StoreError) as err:
        S.find_run(S.open_store(path), "ab")
    assert str(err.value) == "run id 'ab' is ambiguous: matches 7 runs: ab0, ab1, ab2, ab3, ab4, ..."
    two = tmp_path / "two.zarr"
    _store_with_runs(two, ["ab0", "ab1"])
    with pytest.raises(S.StoreError, match=r"matches 2 runs: ab0, ab1$"):
        S.find_run(S.open_store(two), "ab")


def test_run_redoes_damaged_and_never_started_runs(tmp_path, small_scenario):
    """`dynet run` replaces a damaged run group and fills a folder a full disk left empty."""
    first = tmp_path / "s.zarr"
    api.run_scenario(small_scenario, store=first, workers=1)
    reference = {r["run_id"]: r for r in api.list_runs(first)}
    path = tmp_path / "damaged.zarr"
    shutil.copytree(first, path)
    ids = sorted(reference)
    (path / "runs" / ids[0] / "zarr.json").write_text("{")
    os.unlink(path / "runs" / ids[1] / "zarr.json")  # arrays left, group metadata lost
    shutil.rmtree(path / "runs" / ids[2])
    (path / "runs" / ids[2]).mkdir()
    statuses = {r["run_id"]: r["status"] for r in api.list_runs(path)}
    assert statuses[ids[0]] == "damaged" and ids[1] not in statuses and ids[2] not in statuses
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=zarr.errors.ZarrUserWarning)
        report = api.run_scenario(small_scenario, store=path, workers=1)
    assert sorted(r.run_id for r in report.results) == ids[:3] and not report.failed
    assert len(report.skipped) == 9
    from test_run import assert_same_runs, store_contents

    assert_same_runs(store_contents(path), store_contents(first))
    again = {r["run_id"]: r for r in api.list_runs(path)}
    assert json.dumps([again[r]["metrics"] for r in ids]) == json.dumps([reference[r]["metrics"] for r in ids])
