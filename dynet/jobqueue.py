"""Dask clusters on SLURM and PBS batch systems, through dask-jobqueue.

``dynet cluster slurm|pbs`` starts a Dask scheduler on the machine it runs on (a login
node) and submits batch jobs, each of which starts dynet workers on a compute node:
one single-threaded worker process per core, numba and BLAS pinned to one thread, as
``workers/start-worker.sh`` does by hand. Runs are then sent to it from anywhere with
``dynet run --scheduler ADDRESS``. The job settings come from the command line, falling
back to Dask's own configuration (``jobqueue.slurm.*`` / ``jobqueue.pbs.*`` in
``~/.config/dask/jobqueue.yaml``), so a site profile is written once.

Needs the optional extra ``dynet[jobqueue]`` (dask-jobqueue).
"""

from __future__ import annotations

import dataclasses
import shlex
import sys

from .errors import ClusterError, DynetError

#: batch systems dynet knows how to start workers on (name -> dask_jobqueue class name)
SYSTEMS = {"slurm": "SLURMCluster", "pbs": "PBSCluster"}


#: exported in every job before the workers start: one thread per worker process
class JobSettingsError(DynetError):
    """A job setting is missing or wrong (bad input: the CLI exits 2)."""


THREAD_PINS = ("NUMBA_NUM_THREADS=1", "OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", "MKL_NUM_THREADS=1")


@dataclasses.dataclass
class JobSpec:
    """What one batch job asks for. ``None`` leaves a setting to Dask's jobqueue config."""

    cores: int | None = None  # cores per job = worker processes per job
    memory: str | None = None  # per job, e.g. "16GB"
    walltime: str | None = None  # e.g. "02:00:00"
    queue: str | None = None  # partition (SLURM) or queue (PBS)
    account: str | None = None
    interface: str | None = None  # network interface workers listen on (e.g. "ib0")
    host: str = "127.0.0.1"  # the scheduler's listening address: the login node's address for real use
    port: int = 0  # 0: any free port
    death_timeout: int = 600  # seconds a worker waits for a lost scheduler before it exits
    prologue: tuple[str, ...] = ()  # extra lines run before the workers (module load, venv activate)
    extra_directives: tuple[str, ...] = ()  # extra #SBATCH / #PBS lines, without the prefix

    def cluster_kwargs(self) -> dict:
        kw = {
            # the scheduler's HTTP server (health, metrics) binds the same address on a free port
            "scheduler_options": {
                "host": self.host,
                "port": self.port,
                "dashboard": False,
                "dashboard_address": f"{self.host}:0",
            },
            "job_script_prologue": [*(f"export {pin}" for pin in THREAD_PINS), *self.prologue],
            "death_timeout": self.death_timeout,
            "python": sys.executable,
            # no dashboard: the worker's HTTP server then binds the worker's own address
            "worker_extra_args": ["--no-dashboard"],
        }
        if self.cores is not None:
            # processes = cores: single-threaded worker processes, one per core
            kw.update(cores=self.cores, processes=self.cores)
        for name in ("memory", "walltime", "queue", "account", "interface"):
            value = getattr(self, name)
            if value is not None:
                kw[name] = value
        if self.extra_directives:
            kw["job_extra_directives"] = list(self.extra_directives)
        return kw


def cluster_class(system: str):
    """The dask-jobqueue cluster class of a batch system (raises ClusterError if unavailable)."""
    if system not in SYSTEMS:
        raise ClusterError(f"unknown batch system '{system}' (one of {', '.join(SYSTEMS)})")
    try:
        import dask_jobqueue
    except ImportError:
        raise ClusterError("dask-jobqueue is not installed: pip install 'dynet[jobqueue]'") from None
    return getattr(dask_jobqueue, SYSTEMS[system])


def make_cluster(system: str, spec: JobSpec):
    """A dask-jobqueue cluster for ``system`` (its scheduler starts in this process)."""
    cls = cluster_class(system)
    try:
        return cls(**spec.cluster_kwargs())
    except ValueError as exc:  # dask-jobqueue's own checks, e.g. cores or memory missing
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "cores and memory" in first:
            first = (
                f"set --cores and --memory (or jobqueue.{system}.cores and jobqueue.{system}.memory in Dask's config)"
            )
        raise JobSettingsError(f"{system}: {first}") from None
    except OSError as exc:
        raise ClusterError(f"{system}: cannot start the scheduler on {spec.host}:{spec.port}: {exc}") from None


def job_script(system: str, spec: JobSpec) -> str:
    """The batch script one job of ``system`` would run (nothing is submitted)."""
    cluster = make_cluster(system, spec)
    try:
        return cluster.job_script()
    finally:
        cluster.close()


def submit_command(system: str) -> str:
    """The command that submits a job script (``sbatch`` / ``qsub``), for messages."""
    cls = cluster_class(system)
    return shlex.join(shlex.split(cls.job_cls.submit_command))


def serve(
    system: str, spec: JobSpec, *, jobs: int = 1, adapt_max: int | None = None, echo=print, poll: float = 5.0
) -> None:
    """Start the scheduler, submit ``jobs`` batch jobs (or scale adaptively up to ``adapt_max``),
    report the address and the workers as they connect, and run until interrupted (Ctrl-C
    or SIGTERM), then cancel the jobs and stop."""
    import shutil
    import signal
    import time

    command = submit_command(system)
    if shutil.which(shlex.split(command)[0]) is None:
        raise ClusterError(f"{system}: '{command}' is not on PATH: run this on a {system.upper()} login node")
    cluster = make_cluster(system, spec)

    def _terminate(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        address = cluster.scheduler_address
        if adapt_max:
            cluster.adapt(minimum_jobs=0, maximum_jobs=adapt_max)
            echo(f"scheduler {address}: {system} jobs start as runs arrive (up to {adapt_max})")
        else:
            cluster.scale(jobs=jobs)
            echo(f"scheduler {address}: {jobs} {system} job(s) requested")
        echo(f"send runs with: dynet run SCENARIO --scheduler {address} --store PATH_ON_SHARED_DISK")
        seen = -1
        while True:
            n = len(cluster.scheduler_info.get("workers", {}))
            if n != seen:
                echo(f"workers connected: {n}")
                seen = n
            time.sleep(poll)
    except KeyboardInterrupt:
        echo("stopping: cancelling the batch jobs")
    finally:
        signal.signal(signal.SIGTERM, previous)
        cluster.close()
