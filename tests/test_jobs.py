"""Detached jobs against real `dask scheduler` / `dask worker` processes: submit and leave,
status from the store, cancel, and finishing a cancelled job with a later run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from support import DaskProcesses, assert_same_runs, store_contents

from dynet import api, jobs
from dynet import store as S

CLI = [sys.executable, "-m", "dynet.cli"]

MANY = """
name = "many"
model = "hopfield"
seed = 11

[network]
n_units = 700
rule = "storkey"

[patterns]
source = "random"
count = 20

[init]
kind = "flip"
pattern = 0
fraction = 0.3

[dynamics]
update = "async-random"
temperature = 0.3          # Glauber dynamics never settle: every run does all its sweeps
max_sweeps = 150

[record]
every = 50

[sweep]
replicates = 12
grid = {"init.fraction" = [0.1, 0.2, 0.3, 0.4]}
"""


# a short lease: heartbeats (and the progress they carry) every second. The lease is the
# submitter's setting (the job's tasks carry it), so it is set for the commands that submit.
# With the default 60 s lease a heartbeat comes every 10 s, and an 8 s run could end
# before any heartbeat carried its progress.
SHORT_LEASE = {**os.environ, "DYNET_LEASE_SECONDS": "6"}


def _cli(*args, timeout=180):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=SHORT_LEASE)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with DaskProcesses(tmp_path_factory.mktemp("cluster"), workers=1) as procs:
        yield procs


def _wait_finished(store, job_id, deadline_s=240):
    deadline = time.monotonic() + deadline_s
    while True:
        proc = _cli("status", str(store), job_id, "--json")
        assert proc.returncode == 0, proc.stderr
        st = json.loads(proc.stdout)
        c = st["counts"]
        if c["pending"] == 0 and c["running"] == 0:
            return st
        assert time.monotonic() < deadline, st["counts"]
        time.sleep(0.5)


def test_submit_returns_at_once_and_the_job_completes_without_the_client(tmp_path, cluster, small_scenario):
    store = tmp_path / "jobs.zarr"
    proc = _cli("submit", small_scenario, "--scheduler", cluster.address, "--store", str(store), "--json")
    assert proc.returncode == 0, proc.stderr
    sub = json.loads(proc.stdout)
    assert sub["runs"] == 12 and sub["already_complete"] == 0
    # the submitting process has exited; the runs go on and the store tells how they went
    st = _wait_finished(store, sub["job_id"])
    assert st["counts"]["complete"] == 12 and st["scenario"] == "small"
    assert st["user"] and st["host"] and st["dynet_version"]
    record = S.read_job(str(store), sub["job_id"])
    assert sorted(record["runs"]) == sorted(r["run_id"] for r in api.list_runs(store))
    # the same arrays as a blocking local run
    local = tmp_path / "local.zarr"
    api.run_scenario(small_scenario, store=local)  # small: in this process
    assert_same_runs(store_contents(store), store_contents(local))

    # the summary lists the job; a second submission has nothing left to do
    proc = _cli("status", str(store))
    assert proc.returncode == 0 and sub["job_id"] in proc.stdout and "12 complete" in proc.stdout
    proc = _cli("submit", small_scenario, "--scheduler", cluster.address, "--store", str(store), "--json")
    again = json.loads(proc.stdout)
    assert again["already_complete"] == 12 and again["tasks"] == 0


def test_cancel_stops_pending_runs_and_a_later_run_finishes_them(tmp_path, cluster, write_scenario):
    scenario = write_scenario(MANY, "many.toml")
    store = tmp_path / "cancel.zarr"
    proc = _cli("submit", scenario, "--scheduler", cluster.address, "--store", str(store), "--json")
    assert proc.returncode == 0, proc.stderr
    job_id = json.loads(proc.stdout)["job_id"]
    deadline = time.monotonic() + 120
    while not any(r["status"] == "complete" for r in api.list_runs(store)):  # let a few runs finish
        assert time.monotonic() < deadline
        time.sleep(0.2)
    proc = _cli("cancel", str(store), job_id[:6])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"job {job_id} cancelled:")
    st = _wait_finished(store, job_id)
    c = st["counts"]
    assert c["cancelled"] > 0 and c["complete"] > 0 and c["complete"] + c["cancelled"] == 48, c
    # a cancelled run that never started left nothing in the store
    never = [rid for rid, s in st["runs"].items() if s == "cancelled" and S.read_run_attrs(str(store), rid) is None]
    assert never
    # running the scenario again finishes exactly the runs that are not complete
    report = api.run_scenario(scenario, store=store, workers=1)
    assert len(report.skipped) == c["complete"] and len(report.results) == 48 - c["complete"]
    assert {r["status"] for r in api.list_runs(store)} == {"complete"}


def test_status_and_cancel_errors_are_one_line(tmp_path, cluster, small_scenario):
    store = tmp_path / "err.zarr"
    api.run_scenario(small_scenario, store=store)
    proc = _cli("status", str(store), "nosuchjob")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: no job 'nosuchjob' in {store}"]
    proc = _cli("cancel", str(tmp_path / "missing.zarr"), "abc")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert _cli("status", str(store)).stdout.strip() == "no jobs"


LONG_TRAINING = """
name = "long-xor"
model = "feedforward"
seed = 3

[data]
source = "xor"
n_samples = 64
noise = 0.1

[network]
kind = "mlp"
hidden = [16, 16]
activation = "tanh"

[optimizer]
name = "adam"
lr = 0.01

[training]
epochs = 8000
batch_size = 8

[record]
checkpoint_every = 100
"""


def test_cancel_stops_a_running_run_at_its_checkpoint_and_a_rerun_finishes_it_bit_identical(
    tmp_path, cluster, write_scenario
):
    scenario = write_scenario(LONG_TRAINING, "long.toml")
    store = tmp_path / "ckpt.zarr"
    proc = _cli("submit", scenario, "--scheduler", cluster.address, "--store", str(store), "--json")
    assert proc.returncode == 0, proc.stderr
    job_id = json.loads(proc.stdout)["job_id"]
    [run_id] = S.read_job(str(store), job_id)["runs"]
    deadline = time.monotonic() + 300  # the worker may compile the feedforward kernels first
    while not (S.read_run_attrs(str(store), run_id) or {}).get("checkpoint"):
        assert time.monotonic() < deadline, "the run saved no checkpoint"
        time.sleep(0.2)
    # the heartbeat carries the run's progress, and the job's status shows it
    while not (claim := S.read_claim(str(store), run_id) or {}).get("progress"):
        assert time.monotonic() < deadline, "no progress in the run's heartbeat"
        time.sleep(0.1)
    assert claim["lease_s"] == 6  # the submitter's lease, carried by the job's tasks
    progress = jobs.job_status(store, job_id).progress[run_id]
    # epoch 0 is the evaluation before training: a run just started reports it
    assert progress["unit"] == "epoch" and progress["total"] == 8000 and 0 <= progress["done"] < 8000
    jobs.cancel(store, job_id)  # at once (the command itself is tested above)
    st = _wait_finished(store, job_id)
    assert st["runs"] == {run_id: "cancelled"}
    attrs = S.read_run_attrs(str(store), run_id)
    assert attrs["status"] == "cancelled" and attrs["checkpoint"]["state"]
    stopped_at = attrs["checkpoint"]["lengths"]
    # a later run continues from that checkpoint and ends where an uninterrupted run ends
    report = api.run_scenario(scenario, store=store)  # in this process: the same results
    assert [r.status for r in report.results] == ["complete"]
    assert S.read_run_attrs(str(store), run_id)["resumed_at"] == attrs["checkpoint"]["saved"]
    assert min(stopped_at.values()) < 8000
    clean = tmp_path / "clean.zarr"
    api.run_scenario(scenario, store=clean)
    assert_same_runs(store_contents(store), store_contents(clean))
