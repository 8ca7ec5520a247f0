"""Faults in the middle of a sweep, with real processes: a killed client, a killed worker,
a killed scheduler. The store is the source of truth: finished runs are never computed
again, runs that never started are never written, and running again finishes the rest."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner
from distributed import Client

from dynet import api
from dynet import store as S
from dynet.cli import main

FAULT = """
name = "fault"
model = "hopfield"
seed = 3

[network]
n_units = 400

[patterns]
source = "random"
count = 10

[init]
kind = "random"

[dynamics]
update = "async-permutation"
temperature = 0.6
max_sweeps = 3000
stop_at_fixed_point = false

[record]
every = 5

[sweep]
replicates = 24
"""

DASK = os.path.join(os.path.dirname(sys.executable), "dask")
ENV = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}


@pytest.fixture(scope="module")
def fault(tmp_path_factory):
    """The scenario file and a store of it run without any fault."""
    d = tmp_path_factory.mktemp("fault")
    scenario = d / "fault.toml"
    scenario.write_text(FAULT)
    api.run_scenario(scenario, store=d / "reference.zarr", workers=1)
    return scenario, d / "reference.zarr"


def _statuses(path) -> dict[str, str]:
    try:
        return {rid: a.get("status") for rid, a in S.list_runs(S.open_store(path)).items()}
    except (S.StoreError, FileNotFoundError):
        return {}


def _reached(path, n_complete) -> bool:
    """At least ``n_complete`` runs complete and one running."""
    statuses = list(_statuses(path).values())
    return statuses.count("complete") >= n_complete and "running" in statuses


def _wait_for(cond, proc=None, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the process ended (rc {proc.returncode}) before the fault could be injected")
        time.sleep(0.05)
    pytest.fail("timed out waiting for the sweep to reach the point of the fault")


def _attempts(path) -> dict[str, tuple]:
    """run id -> (status, attempt id, attempts, started) of every run."""
    return {
        rid: (
            a.get("status"),
            (a.get("attempt") or {}).get("id"),
            a.get("attempts"),
            (a.get("timings") or {}).get("started"),
        )
        for rid, a in S.list_runs(S.open_store(path)).items()
    }


def _same_as_reference(path, reference):
    from test_run import assert_same_runs, store_contents

    assert_same_runs(store_contents(path), store_contents(reference))


class Dask:
    """`dask scheduler` and `dask worker --nanny` subprocesses on 127.0.0.1, stopped by the test."""

    def __init__(self, tmp_path, name):
        self.sched_file = tmp_path / f"{name}.json"
        self.procs = {}
        self.procs["scheduler"] = self._start(
            [
                DASK,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                "127.0.0.1:0",
                "--idle-timeout",
                "600",
                "--scheduler-file",
                str(self.sched_file),
            ]
        )
        _wait_for(lambda: self.sched_file.exists(), timeout=60)
        time.sleep(0.2)
        self.address = json.loads(self.sched_file.read_text())["address"]
        self.procs["worker"] = self._start(
            [
                DASK,
                "worker",
                self.address,
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--nanny",
                "--host",
                "127.0.0.1",
                "--dashboard-address",
                "127.0.0.1:0",
            ]
        )
        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(1, timeout=120)
            self.worker_pid = next(iter(client.run(os.getpid).values()))

    @staticmethod
    def _start(cmd):
        return subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=ENV
        )

    def kill(self, which):
        os.killpg(self.procs[which].pid, signal.SIGKILL)
        self.procs[which].wait()

    def close(self):
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def test_a_killed_client_leaves_stale_runs_that_the_next_run_finishes(tmp_path):
    """SIGKILL of a local `dynet run`: its running runs show as stale (not running forever),
    and the next run computes only the runs that were not complete."""
    scenario = tmp_path / "long.toml"  # runs of a few seconds: the kill lands in the middle of one
    scenario.write_text(
        FAULT.replace("max_sweeps = 3000", "max_sweeps = 12000").replace("replicates = 24", "replicates = 6")
    )
    path = tmp_path / "killed.zarr"
    cmd = [sys.executable, "-m", "dynet.cli", "run", str(scenario), "--store", str(path), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=ENV)
    try:
        _wait_for(lambda: _reached(path, 1), proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    runs = {r["run_id"]: r for r in api.list_runs(path)}
    stale = [rid for rid, r in runs.items() if r["status"] == "stale"]
    assert stale and not [r for r in runs.values() if r["status"] == "running"]
    for rid in stale:
        assert "is gone" in runs[rid]["error"] and runs[rid]["lease"]["host"] == S.HOST
    res = CliRunner().invoke(main, ["ls", str(path)])
    assert res.exit_code == 0 and "stale" in res.stdout and " running " not in res.stdout
    res = CliRunner().invoke(main, ["show", str(path), stale[0]])
    assert "status     stale" in res.stdout and "is gone" in res.stdout

    before = {rid: v for rid, v in _attempts(path).items() if v[0] == "complete"}
    report = api.run_scenario(scenario, store=path, workers=1)
    assert not report.failed and len(report.skipped) == len(before)
    assert {r.run_id for r in report.results} == {s.run_id for s in api.validate(scenario).runs} - set(before)
    after = _attempts(path)
    assert all(after[rid] == v for rid, v in before.items())
    assert all(after[rid][2] == 2 for rid in stale)  # the stale run's second attempt
    reference = tmp_path / "reference.zarr"
    api.run_scenario(scenario, store=reference, workers=1)
    _same_as_reference(path, reference)


def test_a_killed_worker_never_recomputes_finished_runs(fault, tmp_path):
    """SIGKILL of the worker process (its nanny restarts it) mid-sweep: the sweep ends, no run
    completed before the kill is computed again, and the arrays equal an uninterrupted run's."""
    scenario, reference = fault
    dask = Dask(tmp_path, "sched")
    try:
        path = tmp_path / "worker-killed.zarr"
        out = {}

        def sweep():
            try:
                out["report"] = api.run_scenario(scenario, store=path, scheduler=dask.address)
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                out["error"] = exc

        thread = threading.Thread(target=sweep)
        thread.start()
        # past the first task (half the runs, its result already read): the kill lands in the second
        _wait_for(lambda: _reached(path, 14))
        os.kill(dask.worker_pid, signal.SIGKILL)
        at_kill = _attempts(path)
        before = {rid: v for rid, v in at_kill.items() if v[0] == "complete"}
        thread.join(timeout=600)
        assert not thread.is_alive() and "error" not in out, out.get("error")
        report = out["report"]
        assert not report.failed and len(report.results) + len(report.skipped) == 24
        after = _attempts(path)
        assert all(after[rid] == v for rid, v in before.items()), "a finished run was computed again"
        for rid, v in at_kill.items():  # a run killed mid-way (if the kill did not land between two) ran once more
            assert after[rid][2] == (2 if v[0] == "running" else 1), rid
        assert all(v[2] == 1 for rid, v in after.items() if rid not in at_kill)
        _same_as_reference(path, reference)
    finally:
        dask.close()


def test_a_killed_scheduler_is_one_error_and_running_again_finishes(fault, tmp_path):
    """SIGKILL of the scheduler mid-sweep: exit 1 with one error line, no run group written for
    a run that did not start, and the next run computes only what is missing."""
    scenario, reference = fault
    path = tmp_path / "sched-killed.zarr"
    dask = Dask(tmp_path, "first")
    try:
        cmd = [
            sys.executable,
            "-m",
            "dynet.cli",
            "run",
            str(scenario),
            "--store",
            str(path),
            "--scheduler",
            dask.address,
            "--json",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        _wait_for(lambda: list(_statuses(path).values()).count("complete") >= 3, proc)
        dask.kill("scheduler")
        _, err = proc.communicate(timeout=120)
    finally:
        dask.close()  # the orphaned worker too: its runs become stale
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: lost the connection to the Dask scheduler: "), err
    assert "run the same command again" in lines[0]
    root = S.open_store(path)
    runs = S.list_runs(root)
    assert runs and all("params" in a and "seed" in a for a in runs.values())
    assert {a["status"] for a in runs.values()} <= {"complete", "running"}
    before = {rid: v for rid, v in _attempts(path).items() if v[0] == "complete"}
    said = int(lines[0].split("scheduler: ")[1].split(" of 24 runs are complete")[0])
    assert 3 <= said <= len(before)  # the orphaned worker may have finished one more meanwhile

    again = Dask(tmp_path, "second")
    try:
        report = api.run_scenario(scenario, store=path, scheduler=again.address)
    finally:
        again.close()
    assert not report.failed and len(report.skipped) == len(before)
    assert {r.run_id for r in report.results} == set(_attempts(reference)) - set(before)
    after = _attempts(path)
    assert all(after[rid] == v for rid, v in before.items())
    _same_as_reference(path, reference)


OOM = """
name = "oom"
model = "hopfield"
seed = 1

[network]
n_units = 64

[patterns]
source = "random"
count = 3

[init]
kind = "random"

[dynamics]
max_sweeps = 5

[sweep]
replicates = 2
grid = {"network.n_units" = [64, 20000]}  # ~0.8-1.6 GB of weights: over the 600 MiB limit, under validation's 4 GiB cap
"""


def test_a_run_that_kills_its_worker_is_failed_and_the_runs_after_it_are_not_written(tmp_path, monkeypatch):
    """A batch whose worker dies (here: out of memory, the nanny kills it) more often than the
    scheduler allows: the run that was running is stored failed with the reason, the runs of
    the batch that did not start are reported but not written, finished ones stay complete."""
    import dask
    from distributed import LocalCluster

    scenario = tmp_path / "oom.toml"
    scenario.write_text(OOM)
    path = tmp_path / "oom.zarr"
    monkeypatch.setattr(api, "make_batches", lambda specs, n_workers, cost: [specs])  # one task, in sweep order
    # the memory estimate would refuse this run before it starts (tests/test_cluster.py checks that);
    # let it through, as a run whose size no estimate knows (data from a file) gets through
    monkeypatch.setattr(api, "check_fits_workers", lambda scenario, client: None)
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(
            n_workers=1, threads_per_worker=1, memory_limit="600MiB", host="127.0.0.1", dashboard_address="127.0.0.1:0"
        ) as cluster,
    ):  # no HTTP on 8787
        report = api.run_scenario(scenario, store=path, scheduler=cluster.scheduler_address)
    by_id = {r.run_id: r for r in report.results}
    runs = api.validate(scenario).runs  # 64 r0, 64 r1, 20000 r0, 20000 r1
    assert [by_id[s.run_id].status for s in runs] == ["complete", "complete", "failed", "not_run"]
    reason = "worker died 1 times while running this run (out of memory?)"
    assert by_id[runs[2].run_id].error == reason
    assert by_id[runs[3].run_id].error.startswith(f"not started: {reason}")
    stored = S.list_runs(S.open_store(path))
    assert sorted(stored) == sorted(s.run_id for s in runs[:3])  # the run that never started is absent
    assert stored[runs[2].run_id]["status"] == "failed" and stored[runs[2].run_id]["error"] == reason
    assert stored[runs[2].run_id]["params"] == {"network.n_units": 20000}
