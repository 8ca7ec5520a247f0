"""The README's cluster walkthrough, as a new user would do it, with real processes: start a
scheduler and two workers with workers/, submit a sweep and leave, kill a worker, kill the
scheduler and start it again, come back, read `dynet status`, submit again, and find a
store identical to an uninterrupted run with nothing complete computed twice."""

import json
import os
import signal
import time

import psutil
import pytest
from support import assert_same_runs, store_contents
from test_workers import cli, free_port, script, stop, wait_for_workers

from dynet import api
from dynet import store as S

SWEEP = """
name = "walkthrough"
model = "hopfield"
seed = 5

[network]
n_units = 800
rule = "storkey"

[patterns]
source = "random"
count = 25

[init]
kind = "flip"
pattern = 0
fraction = 0.3

[dynamics]
update = "async-random"
temperature = 0.3
max_sweeps = 500

[record]
every = 50

[sweep]
replicates = 12
grid = {"init.fraction" = [0.1, 0.2, 0.3]}
"""


def status(store, job):
    proc = cli("status", store, job, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def attempts(store) -> dict:
    """run id -> (status, attempt id) of every run written so far."""
    root = S.open_store(store)
    return {rid: (a.get("status"), (a.get("attempt") or {}).get("id")) for rid, a in S.list_runs(root).items()}


def worker_processes(script_proc) -> list[psutil.Process]:
    """The dask worker processes (the nannies' children) under a start-worker.sh."""
    nannies = [p for p in psutil.Process(script_proc.pid).children(recursive=True) if "dask" in " ".join(p.cmdline())]
    return [c for n in nannies for c in n.children() if c.is_running()]


@pytest.mark.skipif(
    not os.path.exists(os.path.join(os.path.dirname(os.sys.executable), "dask")),
    reason="dask CLI not installed next to this python",
)
def test_submit_kill_a_worker_kill_the_scheduler_come_back_and_finish(tmp_path, write_scenario):
    scenario = write_scenario(SWEEP, "walkthrough.toml")
    store = tmp_path / "runs.zarr"
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = []
    with open(tmp_path / "scheduler.log", "w") as slog, open(tmp_path / "worker.log", "w") as wlog:
        try:
            procs.append(script("start-scheduler.sh", "127.0.0.1", port, log=slog))
            wait_for_workers(address, 0)
            workers = script("start-worker.sh", address, 2, log=wlog)
            procs.append(workers)
            wait_for_workers(address, 2)

            # submit and leave: the client exits at once
            proc = cli(
                "submit",
                scenario,
                "--scheduler",
                address,
                "--store",
                store,
                "--json",
                extra_env={"DYNET_LEASE_SECONDS": "6"},
            )
            assert proc.returncode == 0, proc.stderr
            job = json.loads(proc.stdout)["job_id"]

            # a few runs complete; then one worker process is killed (its nanny starts another)
            deadline = time.monotonic() + 240
            while sum(s == "complete" for s, _ in attempts(store).values()) < 1:
                assert time.monotonic() < deadline, "no run completed"
                time.sleep(0.2)
            os.kill(worker_processes(workers)[0].pid, signal.SIGKILL)
            done_before = {rid: a for rid, (s, a) in attempts(store).items() if s == "complete"}

            # ... and the scheduler dies and is started again on the same port
            os.killpg(procs[0].pid, signal.SIGKILL)
            procs[0].wait()
            procs.append(script("start-scheduler.sh", "127.0.0.1", port, log=slog))
            wait_for_workers(address, 2, timeout=240)

            # coming back: the store says what happened (no run is left "running" for ever)
            deadline = time.monotonic() + 240
            while True:
                st = status(store, job)
                if st["counts"]["running"] == 0:
                    break
                assert time.monotonic() < deadline, st["counts"]
                time.sleep(1.0)
            c = st["counts"]
            assert c["complete"] >= len(done_before) and c["complete"] < 36, c
            assert c["complete"] + c["pending"] + c["stale"] + c["failed"] == 36, c

            # submitting again finishes only what is missing
            proc = cli(
                "submit",
                scenario,
                "--scheduler",
                address,
                "--store",
                store,
                "--json",
                extra_env={"DYNET_LEASE_SECONDS": "6"},
            )
            assert proc.returncode == 0, proc.stderr
            again = json.loads(proc.stdout)
            assert again["already_complete"] == c["complete"]
            deadline = time.monotonic() + 300
            while status(store, again["job_id"])["counts"]["complete"] < 36:
                assert time.monotonic() < deadline
                time.sleep(1.0)
        finally:
            for p in reversed(procs):
                stop(p)

    # nothing that was complete was computed again, and the store equals an uninterrupted run's
    final = attempts(store)
    assert all(final[rid] == ("complete", a) for rid, a in done_before.items())
    clean = tmp_path / "clean.zarr"
    api.run_scenario(scenario, store=clean, workers=1)
    assert_same_runs(store_contents(store), store_contents(clean))
