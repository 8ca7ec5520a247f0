"""Helpers shared by tests: a store's contents for bit-for-bit comparisons, and real
`dask scheduler` / `dask worker` processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from dynet import store as S


def store_contents(path) -> dict:
    """run id -> (status, metrics, {array name: ndarray}) for every run of a store."""
    root = S.open_store(path)
    out = {}
    for rid, attrs in S.list_runs(root).items():
        arrays = {name: S.load_array(root, rid, name) for name in S.array_names(root, rid)}
        out[rid] = (attrs.get("status"), attrs.get("metrics"), arrays)
    return out


def assert_same_runs(a: dict, b: dict) -> None:
    """Two stores' contents hold the same complete runs, bit for bit."""
    assert sorted(a) == sorted(b)
    for rid in a:
        sa, ma, xa = a[rid]
        sb, mb, xb = b[rid]
        assert sa == sb == S.COMPLETE, rid
        assert ma == mb, rid
        assert sorted(xa) == sorted(xb)
        for name in xa:
            assert xa[name].dtype == xb[name].dtype
            np.testing.assert_array_equal(xa[name], xb[name], err_msg=f"{rid}/{name}")


#: A sweep long enough to interrupt: 12 runs of Glauber dynamics that never stop early.
LONG_HOPFIELD = """
name = "long"
model = "hopfield"
seed = 11

[network]
n_units = 600

[patterns]
source = "random"
count = 20

[init]
kind = "random"

[dynamics]
update = "async-permutation"
temperature = 0.6
max_sweeps = 1500
stop_at_fixed_point = false

[record]
every = 5

[sweep]
replicates = 12
"""


class DaskProcesses:
    """A `dask scheduler` and `dask worker` processes on 127.0.0.1, stopped on exit.

    ``address`` is the scheduler's; :meth:`start_worker` / :meth:`kill` manage processes.
    """

    def __init__(self, folder, workers: int = 1, nanny: bool = True, env: dict | None = None):
        self.folder = folder
        self.n_workers = workers
        self.nanny = nanny
        self.env = {**os.environ, **(env or {})}
        self.dask = os.path.join(os.path.dirname(sys.executable), "dask")
        self.procs: list[subprocess.Popen] = []
        self.address = None

    def _spawn(self, args) -> subprocess.Popen:
        proc = subprocess.Popen(
            [self.dask, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=self.env,
        )
        self.procs.append(proc)
        return proc

    def start_scheduler(self, port: int = 0) -> subprocess.Popen:
        sched_file = os.path.join(self.folder, "scheduler.json")
        if os.path.exists(sched_file):
            os.remove(sched_file)
        proc = self._spawn(
            [
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                # --no-dashboard alone still serves HTTP on 0.0.0.0:8787
                "--dashboard-address",
                "127.0.0.1:0",
                # a scheduler this process failed to stop goes away by itself
                "--idle-timeout",
                "600",
                "--scheduler-file",
                sched_file,
            ]
        )
        deadline = time.monotonic() + 60
        while True:  # the file may exist before its content is written
            try:
                with open(sched_file) as f:
                    self.address = json.load(f)["address"]
                return proc
            except (FileNotFoundError, ValueError, KeyError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("dask scheduler did not start") from None
                time.sleep(0.1)

    def start_worker(self, n: int | None = None) -> subprocess.Popen:
        args = [
            "worker",
            self.address,
            "--nthreads",
            "1",
            "--nworkers",
            str(n or self.n_workers),
            "--host",
            "127.0.0.1",
            "--dashboard-address",
            "127.0.0.1:0",
        ]
        if not self.nanny:
            args.append("--no-nanny")
        return self._spawn(args)

    def wait_for_workers(self, n: int, timeout: float = 120) -> None:
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=timeout)

    def kill(self, proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def __enter__(self):
        self.start_scheduler()
        self.start_worker()
        self.wait_for_workers(self.n_workers)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=20)
