"""In-run checkpoints of feedforward training: a run killed mid-training resumes from its
last checkpoint and ends bit-identical to a run that was never interrupted."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np

from dynet import api
from dynet import store as S
from dynet.models.feedforward import driver as F
from dynet.models.feedforward import kernels as K
from dynet.scenario import parse_scenario

# everything that carries state across epochs: Adam's moments, dropout's random stream,
# batch norm's running statistics, reduce-on-plateau's counters, early stopping's best
# epoch (restored at the end), weight snapshots and per-step rows
DOC = {
    "name": "ckpt",
    "model": "feedforward",
    "seed": 11,
    "data": {"source": "moons", "n_samples": 240, "noise": 0.25, "validation": 0.25, "test": 0.0},
    "network": {"kind": "mlp", "hidden": [16, 16], "activation": "relu"},
    "optimizer": {"name": "adam", "lr": 0.02},
    "schedule": {"name": "plateau", "patience": 1, "factor": 0.5},
    "training": {"epochs": 10, "batch_size": 16},
    "regularization": {"dropout": 0.2, "batch_norm": [True, False]},
    "early_stopping": {"patience": 100, "restore_best": True},
    "record": {"per_step": True, "snapshot_every": 2, "checkpoint_every": 3},
}

KILL = textwrap.dedent("""
    import json, os, signal, sys
    from dynet import api
    from dynet.models.feedforward import kernels as K
    from dynet.scenario import parse_scenario
    doc, store, kill_at = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    spec, = parse_scenario(doc, "<test>").runs
    real, calls = K.train_epoch, [0]
    def train_epoch(*args):
        calls[0] += 1
        if calls[0] == kill_at:  # the worker dies in the middle of this epoch: no cleanup at all
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args)
    K.train_epoch = train_epoch
    api.execute_run(store, spec)
""")


def _everything(path, run_id):
    root = S.open_store(path)
    attrs = S.run_attrs(root, run_id)
    return attrs, {name: S.load_array(root, run_id, name) for name in S.array_names(root, run_id)}


def test_a_killed_run_resumes_from_its_checkpoint_bit_identical(tmp_path, monkeypatch):
    (spec,) = parse_scenario(DOC, "<test>").runs
    whole = tmp_path / "whole.zarr"
    S.open_store(whole, create=True)
    assert api.execute_run(str(whole), spec)["status"] == S.COMPLETE

    broken = tmp_path / "broken.zarr"
    S.open_store(broken, create=True)
    proc = subprocess.run(
        [sys.executable, "-c", KILL, json.dumps(DOC), str(broken), "8"], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == -9, proc.stderr
    attrs = S.run_attrs(S.open_store(broken), spec.run_id)
    assert attrs["status"] == S.RUNNING and attrs["checkpoint"]["state"]["epoch"] == 6

    calls = [0]
    real = K.train_epoch

    def counting(*args):
        calls[0] += 1
        return real(*args)

    monkeypatch.setattr(K, "train_epoch", counting)
    assert api.execute_run(str(broken), spec)["status"] == S.COMPLETE
    assert calls[0] == 4  # epochs 7 to 10: the six checkpointed epochs are not trained again

    a_attrs, a = _everything(whole, spec.run_id)
    b_attrs, b = _everything(broken, spec.run_id)
    assert a_attrs["metrics"] == b_attrs["metrics"]
    assert b_attrs["checkpoint"] is None and "resumed_at" in b_attrs
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert len(a["epoch"]) == 11 and len(a["step"]) == 10 * a_attrs["metrics"]["steps_per_epoch"]
    assert list(a["snapshot"]) == [0, 2, 4, 6, 8, 10]


def test_checkpoints_by_time_do_not_change_the_run(tmp_path, monkeypatch):
    doc = {**DOC, "record": {"checkpoint_every": 0, "checkpoint_seconds": 1e-9}}  # one after every epoch
    (spec,) = parse_scenario(doc, "<test>").runs
    paths = [tmp_path / "a.zarr", tmp_path / "b.zarr"]
    saved = []
    real_save = S.RunRecord.save_checkpoint
    monkeypatch.setattr(S.RunRecord, "save_checkpoint", lambda self, *a: saved.append(1) or real_save(self, *a))
    S.open_store(paths[0], create=True)
    assert api.execute_run(str(paths[0]), spec)["status"] == S.COMPLETE
    assert len(saved) == 9  # after epochs 1..9
    monkeypatch.setattr(F.time, "monotonic", lambda: 0.0)  # the clock stands still: no checkpoint is due
    S.open_store(paths[1], create=True)
    assert api.execute_run(str(paths[1]), spec)["status"] == S.COMPLETE
    assert len(saved) == 9
    (_, a), (_, b) = _everything(paths[0], spec.run_id), _everything(paths[1], spec.run_id)
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_a_deep_belief_network_stopped_in_fine_tuning_resumes_bit_identical(tmp_path, monkeypatch):
    # pretraining is recomputed from the seed, fine-tuning continues from the checkpoint
    doc = {
        "name": "dbn-ckpt",
        "model": "dbn",
        "seed": 11,
        "data": {"source": "digits", "validation": 0.3, "test": 0.5},
        "network": {"hidden": [16, 8]},
        "pretraining": {"epochs": 2, "lr": 0.05},
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
        "training": {"epochs": 5, "batch_size": 32},
        "regularization": {"dropout": 0.1},
        "record": {"checkpoint_every": 2},
    }
    (spec,) = parse_scenario(doc, "<test>").runs
    paths = [tmp_path / "whole.zarr", tmp_path / "broken.zarr"]
    for path in paths:
        S.open_store(path, create=True)
    assert api.execute_run(str(paths[0]), spec)["status"] == S.COMPLETE
    real, calls = K.train_epoch, [0]

    def interrupted(*args):
        calls[0] += 1
        if calls[0] == 4:
            raise KeyboardInterrupt  # not an Exception: the run is left "running", as by a killed worker
        return real(*args)

    monkeypatch.setattr(K, "train_epoch", interrupted)
    try:
        api.execute_run(str(paths[1]), spec)
    except KeyboardInterrupt:
        pass
    assert S.run_attrs(S.open_store(paths[1]), spec.run_id)["checkpoint"]["state"]["epoch"] == 2
    assert api.execute_run(str(paths[1]), spec)["status"] == S.COMPLETE
    assert calls[0] == 4 + 3  # epochs 3, 4 and 5 again
    (a_attrs, a), (b_attrs, b) = _everything(paths[0], spec.run_id), _everything(paths[1], spec.run_id)
    assert a_attrs["metrics"] == b_attrs["metrics"] and sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
