"""Where runs execute: an embedded LocalCluster or a running Dask scheduler.

The embedded default is a LocalCluster of worker processes bound to 127.0.0.1, one
thread each, as many as there are cores. Every worker gets :class:`DynetWorkerPlugin`,
which pins numba to one thread (one worker per core already fills the machine),
lowers Zarr's async concurrency, and compiles the kernels before the first task,
so no task pays compile time.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os

from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin


class ClusterError(Exception):
    """The Dask scheduler cannot be reached or the cluster cannot start."""


class DynetWorkerPlugin(WorkerPlugin):
    """Prepare a worker for dynet tasks: thread settings and warm kernels."""

    name = "dynet"

    def __init__(self, models: tuple[str, ...] = ("hopfield",), numba_threads: int = 1, zarr_concurrency: int = 4):
        self.models = tuple(models)
        self.numba_threads = numba_threads
        self.zarr_concurrency = zarr_concurrency

    def setup(self, worker):
        import numba
        import zarr

        numba.set_num_threads(min(self.numba_threads, numba.config.NUMBA_NUM_THREADS))
        zarr.config.set({"async.concurrency": self.zarr_concurrency})
        for model in self.models:
            importlib.import_module(f"dynet.models.{model}").warmup()


def default_workers() -> int:
    return os.cpu_count() or 1


@contextlib.contextmanager
def connect(*, scheduler: str | None = None, workers: int | None = None, models=("hopfield",),
            timeout: float = 10.0):
    """Yield a :class:`distributed.Client` on a scheduler address or an embedded LocalCluster."""
    if scheduler:
        try:
            client = Client(scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"cannot reach Dask scheduler at {scheduler}: {exc}") from None
        try:
            client.register_plugin(DynetWorkerPlugin(models))
            yield client
        finally:
            client.close()
        return
    n = workers or default_workers()
    try:
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.ERROR)
    except Exception as exc:  # noqa: BLE001 - report any start failure as one line
        raise ClusterError(f"cannot start a local Dask cluster with {n} workers: {exc}") from None
    try:
        with Client(cluster, set_as_default=False) as client:
            client.register_plugin(DynetWorkerPlugin(models))
            yield client
    finally:
        cluster.close()
