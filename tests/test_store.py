"""The Zarr run store: layout, round trips, chunking, format checks."""

import json
import os

import numpy as np
import pytest
import zarr

from dynet import store as S


def test_create_and_reopen_store(tmp_path):
    path = tmp_path / "s.zarr"
    with pytest.raises(S.StoreError, match="no dynet store here"):
        S.open_store(path)
    root = S.open_store(path, create=True)
    assert root.attrs[S.STORE_ATTR]["format"] == S.FORMAT
    assert S.list_runs(S.open_store(path)) == {}


def test_incompatible_format_is_refused(tmp_path):
    path = tmp_path / "s.zarr"
    S.open_store(path, create=True)
    root = zarr.open_group(str(path), mode="r+")
    root.attrs.update({S.STORE_ATTR: {"format": 99, "dynet_version": "9.0"}})
    with pytest.raises(S.StoreError, match="store format 99 was written by dynet 9.0; .* reads format 1 only"):
        S.open_store(path)
    with pytest.raises(S.StoreError, match="format 99"):
        S.open_store(path, create=True)


def test_foreign_zarr_or_directory_is_refused(tmp_path):
    zarr.open_group(str(tmp_path / "other.zarr"), mode="w")
    with pytest.raises(S.StoreError, match="not a dynet store"):
        S.open_store(tmp_path / "other.zarr", create=True)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "notes.txt").write_text("mine")
    with pytest.raises(S.StoreError, match="not a Zarr store"):
        S.open_store(tmp_path / "dir", create=True)
    assert os.listdir(tmp_path / "dir") == ["notes.txt"]


def test_run_record_round_trip_and_status(tmp_path):
    path = tmp_path / "s.zarr"
    S.open_store(path, create=True)
    rec = S.RunRecord(path, "abc", {"params": {"x": 1}})
    assert S.run_attrs(S.open_store(path), "abc")["status"] == S.RUNNING
    rec.static("patterns", np.ones((3, 5), np.int8), ("pattern", "unit"))
    traj = rec.trajectory(
        {"sweep": S.TrajectorySpec(("sweep",), "int64"), "state": S.TrajectorySpec(("sweep", "unit"), "int8", (5,))}
    )
    for k in range(4):
        traj.append(sweep=np.arange(3 * k, 3 * k + 3), state=np.full((3, 5), k, np.int8))
    assert traj.close() == 12
    rec.complete({"final": 1.5}, elapsed=0.25)
    root = S.open_store(path)
    attrs = S.run_attrs(root, "abc")
    assert attrs["status"] == S.COMPLETE and attrs["metrics"] == {"final": 1.5} and attrs["params"] == {"x": 1}
    assert attrs["store_format"] == S.FORMAT and attrs["timings"]["elapsed_s"] == 0.25
    np.testing.assert_array_equal(S.load_array(root, "abc", "sweep"), np.arange(12))
    state = root["runs/abc/state"]
    assert state.metadata.dimension_names == ("sweep", "unit")
    np.testing.assert_array_equal(state[:, 0], np.repeat(np.arange(4), 3))
    json.dumps(attrs)  # attributes are plain JSON


def test_trajectory_chunks_are_about_a_megabyte_and_grow_in_whole_chunks(tmp_path):
    path = tmp_path / "s.zarr"
    S.open_store(path, create=True)
    rec = S.RunRecord(path, "r", {})
    n = 1000
    traj = rec.trajectory(
        {"state": S.TrajectorySpec(("sweep", "unit"), "int8", (n,)), "energy": S.TrajectorySpec(("sweep",), "float64")}
    )
    rows = traj.chunk
    assert rows * n == pytest.approx(S.CHUNK_BYTES, rel=0.01)
    shapes = []
    rng = np.random.default_rng(0)
    total = 0
    for _ in range(30):
        k = int(rng.integers(1, 400))
        traj.append(state=np.full((k, n), 1, np.int8), energy=np.arange(total, total + k, dtype=float))
        total += k
        shapes.append(rec.group["state"].shape[0])
    assert all(s % rows == 0 for s in shapes)  # resized only in whole chunks
    assert shapes[-1] >= total - rows and len(set(shapes)) > 3
    assert traj.close() == total
    arr = rec.group["state"]
    assert arr.shape == (total, n) and arr.chunks == (rows, n)
    np.testing.assert_array_equal(rec.group["energy"][:], np.arange(total, dtype=float))


def test_reopening_a_run_clears_the_unfinished_attempt(tmp_path):
    path = tmp_path / "s.zarr"
    S.open_store(path, create=True)
    rec = S.RunRecord(path, "r", {})
    rec.static("junk", np.zeros(3), ("x",))
    S.RunRecord(path, "r", {})
    assert S.array_names(S.open_store(path), "r") == []


def test_find_run_by_prefix(tmp_path):
    path = tmp_path / "s.zarr"
    S.open_store(path, create=True)
    for rid in ("abc1", "abd2"):
        S.RunRecord(path, rid, {})
    root = S.open_store(path)
    assert S.find_run(root, "abc") == "abc1"
    with pytest.raises(S.StoreError, match="ambiguous"):
        S.find_run(root, "ab")
    with pytest.raises(S.StoreError, match="no run 'zz'"):
        S.find_run(root, "zz")


def _traj(rec):
    return rec.trajectory(
        {"epoch": S.TrajectorySpec(("epoch",), "int64"), "norm": S.TrajectorySpec(("epoch", "layer"), "float32", (2,))}
    )


def test_a_checkpointed_run_resumes_with_its_state_and_trajectories_cut_to_the_checkpoint(tmp_path):
    path = tmp_path / "s.zarr"
    S.open_store(path, create=True)
    attrs = {"config": {"a": [1, 2]}, "replicate": 0, "seed": 7}
    rec = S.RunRecord(path, "r", attrs)
    assert rec.resumed is None
    traj = _traj(rec)
    traj.append(epoch=np.arange(5), norm=np.ones((5, 2), np.float32))
    rec.save_checkpoint({"epoch": 5, "best": 0.5}, {"params": np.arange(4.0)}, [traj])
    traj.append(epoch=np.arange(5, 8), norm=np.zeros((3, 2), np.float32))
    rec.save_checkpoint({"epoch": 8, "best": 0.25}, {"params": np.arange(4.0) * 2}, [traj])
    traj.append(epoch=np.arange(8, 10), norm=np.zeros((2, 2), np.float32))
    traj.flush()  # rows after the last checkpoint reached the disk, then the worker died
    rec.static("late", np.zeros(3), ("x",))

    again = S.RunRecord(path, "r", attrs)
    assert again.resumed == {"epoch": 8, "best": 0.25}
    np.testing.assert_array_equal(again.checkpoint_arrays()["params"], np.arange(4.0) * 2)
    traj = _traj(again)
    assert again.group["epoch"].shape == (8,)  # the rows past the checkpoint are gone
    traj.append(epoch=np.arange(8, 12), norm=np.full((4, 2), 3, np.float32))
    assert traj.close() == 12
    again.static("late", np.ones(3), ("x",))  # rewritten, not refused
    again.complete({"m": 1}, 0.1)
    root = S.open_store(path)
    np.testing.assert_array_equal(S.load_array(root, "r", "epoch"), np.arange(12))
    np.testing.assert_array_equal(S.load_array(root, "r", "norm")[:, 0], [1] * 5 + [0] * 3 + [3] * 4)
    attrs_done = S.run_attrs(root, "r")
    assert attrs_done["status"] == S.COMPLETE and attrs_done["checkpoint"] is None
    assert S.CHECKPOINT not in root["runs/r"]


def test_a_checkpoint_of_another_config_or_a_torn_slot_is_not_resumed(tmp_path):
    path = tmp_path / "s.zarr"
    S.open_store(path, create=True)
    attrs = {"config": {"a": 1}, "replicate": 0, "seed": 7}
    rec = S.RunRecord(path, "r", attrs)
    traj = _traj(rec)
    traj.append(epoch=np.arange(2), norm=np.ones((2, 2), np.float32))
    rec.save_checkpoint({"epoch": 2}, {"params": np.arange(3.0)}, [traj])
    # a worker killed while writing the next checkpoint leaves a torn slot "b": the good slot stays "a"
    import zarr

    zarr.open_group(str(path), path="runs/r/checkpoint/b", mode="w").create_array("params", data=np.zeros(1))
    again = S.RunRecord(path, "r", attrs)
    assert again.resumed == {"epoch": 2}
    np.testing.assert_array_equal(again.checkpoint_arrays()["params"], np.arange(3.0))
    other = S.RunRecord(path, "r", {**attrs, "config": {"a": 2}})  # the same id reused for other work: afresh
    assert other.resumed is None and S.array_names(S.open_store(path), "r") == []


def test_batched_writes_store_the_same_bytes_as_one_zarr_call_per_array(tmp_path):
    """RunRecord queues small static arrays and writes a trajectory's arrays together: the files
    are those that plain Zarr calls (one per array, shape grown then trimmed) write."""
    path = tmp_path / "s.zarr"
    S.open_store(path, create=True)
    rng = np.random.default_rng(1)
    patterns = rng.integers(-1, 2, (3, 40)).astype(np.int8)
    big = rng.random((400, 400))  # over 1 MB: written at once
    rows = [(np.arange(k, k + 7), rng.random((7, 40)).astype(np.float32)) for k in range(0, 70, 7)]

    rec = S.RunRecord(path, "batched", {})
    rec.static("patterns", patterns, ("pattern", "unit"))
    rec.static("weights", big, ("post", "pre"))
    traj = rec.trajectory(
        {"sweep": S.TrajectorySpec(("sweep",), "int64"), "state": S.TrajectorySpec(("sweep", "unit"), "float32", (40,))}
    )
    for sweep, state in rows:
        traj.append(sweep=sweep, state=state)
    traj.close()
    rec.static("final", patterns[0], ("unit",))
    rec.complete({}, 0.0)

    g = zarr.open_group(str(path), path="runs/plain", mode="w")
    for name, data, dims in (
        ("patterns", patterns, ("pattern", "unit")),
        ("weights", big, ("post", "pre")),
        ("final", patterns[0], ("unit",)),
    ):
        row_bytes = data.dtype.itemsize * int(np.prod(data.shape[1:]))
        chunks = (min(data.shape[0], S.chunk_rows(row_bytes)), *data.shape[1:])
        g.create_array(name, data=data, chunks=chunks, dimension_names=dims, attributes={})
    chunk = traj.chunk
    for name, data, dims in (
        ("sweep", np.concatenate([r[0] for r in rows]), ("sweep",)),
        ("state", np.concatenate([r[1] for r in rows]), ("sweep", "unit")),
    ):
        a = g.create_array(
            name,
            shape=(0, *data.shape[1:]),
            chunks=(chunk, *data.shape[1:]),
            dtype=data.dtype,
            dimension_names=dims,
            fill_value=0,
        )
        a.resize((chunk, *data.shape[1:]))
        a[: len(data)] = data
        a.resize(data.shape)

    def files(d):
        return {
            os.path.relpath(os.path.join(dp, f), d): open(os.path.join(dp, f), "rb").read()
            for dp, _, fs in os.walk(d)
            for f in fs
            if f != "zarr.json" or dp != str(d)
        }

    got, want = files(path / "runs" / "batched"), files(path / "runs" / "plain")
    assert sorted(got) == sorted(want)
    for name in got:
        assert got[name] == want[name], name
