"""SLURM and PBS clusters through dask-jobqueue: the generated job scripts (as dask-jobqueue's
own tests check them), the command's errors, and a whole `dynet cluster slurm` whose batch
jobs are run by a stand-in `sbatch` on this machine."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("dask_jobqueue", reason="dask-jobqueue is not installed (pip install 'dynet[jobqueue]')")

from dynet import api  # noqa: E402
from dynet.jobqueue import JobSettingsError, JobSpec, job_script  # noqa: E402

CLI = [sys.executable, "-m", "dynet.cli"]


def _cli(*args, env=None, timeout=120):
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def test_slurm_job_script():
    script = job_script(
        "slurm",
        JobSpec(
            cores=4,
            memory="8GB",
            walltime="01:30:00",
            queue="short",
            account="nn1234k",
            prologue=("source ~/dynet/bin/activate",),
            extra_directives=("--exclusive",),
        ),
    )
    assert script.startswith("#!/usr/bin/env bash")
    for line in (
        "#SBATCH -p short",
        "#SBATCH -A nn1234k",
        "#SBATCH -n 1",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=8G",
        "#SBATCH -t 01:30:00",
        "#SBATCH --exclusive",
        "export NUMBA_NUM_THREADS=1",
        "export OMP_NUM_THREADS=1",
        "export OPENBLAS_NUM_THREADS=1",
        "source ~/dynet/bin/activate",
    ):
        assert line in script.splitlines(), line
    worker = next(line for line in script.splitlines() if "dask_worker" in line)
    # one single-threaded worker process per core, no dashboard, survives a scheduler restart
    assert worker.startswith(sys.executable + " -m distributed.cli.dask_worker tcp://127.0.0.1:")
    for arg in ("--nthreads 1", "--nworkers 4", "--nanny", "--no-dashboard", "--death-timeout 600"):
        assert arg in worker, arg
    # the thread pins and the prologue come before the worker starts
    lines = script.splitlines()
    assert lines.index("export NUMBA_NUM_THREADS=1") < lines.index(worker)
    assert lines.index("source ~/dynet/bin/activate") < lines.index(worker)


def test_pbs_job_script():
    script = job_script("pbs", JobSpec(cores=8, memory="16GB", walltime="02:00:00", queue="workq", account="proj"))
    lines = script.splitlines()
    for line in ("#PBS -q workq", "#PBS -A proj", "#PBS -l walltime=02:00:00", "export NUMBA_NUM_THREADS=1"):
        assert line in lines, line
    select = next(line for line in lines if line.startswith("#PBS -l select="))
    assert re.fullmatch(r"#PBS -l select=1:ncpus=8:mem=1[56]GB", select)  # 16 GB, ceiled to whole GiB
    worker = next(line for line in lines if "dask_worker" in line)
    assert "--nthreads 1" in worker and "--nworkers 8" in worker


def test_settings_from_dask_config_profile():
    # a site profile in Dask's config (here through its environment variables) fills unset options
    env = {
        "DASK_JOBQUEUE__SLURM__CORES": "3",
        "DASK_JOBQUEUE__SLURM__MEMORY": "6GB",
        "DASK_JOBQUEUE__SLURM__QUEUE": "gpu-free",
    }
    proc = _cli("cluster", "slurm", "--print-script", "--host", "127.0.0.1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "#SBATCH -p gpu-free" in proc.stdout and "#SBATCH --cpus-per-task=3" in proc.stdout
    assert "--nworkers 3" in proc.stdout
    # and the command line wins over the profile
    proc = _cli("cluster", "slurm", "--print-script", "--host", "127.0.0.1", "--cores", "2", env=env)
    assert "#SBATCH --cpus-per-task=2" in proc.stdout and "--nworkers 2" in proc.stdout


def test_missing_settings_and_missing_batch_system_are_one_line_errors(tmp_path):
    with pytest.raises(JobSettingsError, match="set --cores and --memory"):
        job_script("slurm", JobSpec())
    proc = _cli("cluster", "slurm", "--print-script", "--host", "127.0.0.1")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: slurm: set --cores and --memory (or jobqueue.slurm.cores and jobqueue.slurm.memory in Dask's config)"
    ]
    # no sbatch on PATH: say where to run it, exit 1, nothing started
    proc = _cli(
        "cluster", "slurm", "--host", "127.0.0.1", "--cores", "1", "--memory", "1GB", env={"PATH": str(tmp_path)}
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == ["error: slurm: 'sbatch' is not on PATH: run this on a SLURM login node"]


FAKE_SBATCH = """\
#!/usr/bin/env bash
# stand-in for SLURM's sbatch: run the job script on this machine, detached
set -euo pipefail
dir="{dir}"
n=$(( $(cat "$dir/next" 2>/dev/null || echo 100) + 1 )); echo "$n" > "$dir/next"
cp "$1" "$dir/job-$n.sh"
setsid bash "$dir/job-$n.sh" > "$dir/job-$n.log" 2>&1 < /dev/null &
echo $! > "$dir/job-$n.pid"
echo "Submitted batch job $n"
"""

FAKE_SCANCEL = """\
#!/usr/bin/env bash
# stand-in for SLURM's scancel: stop the job's process group
dir="{dir}"
echo "$1" >> "$dir/cancelled"
kill -TERM -- -"$(cat "$dir/job-$1.pid")" 2>/dev/null || true
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_cluster_command_runs_a_scenario_on_batch_jobs(tmp_path, small_scenario):
    bindir = tmp_path / "bin"
    jobs = tmp_path / "jobs"
    bindir.mkdir()
    jobs.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("scancel", FAKE_SCANCEL)):
        (bindir / name).write_text(textwrap.dedent(text.format(dir=jobs)))
        (bindir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen(
        [
            *CLI,
            "cluster",
            "slurm",
            "--jobs",
            "1",
            "--cores",
            "2",
            "--memory",
            "2GB",
            "--walltime",
            "00:10:00",
            "--interface",
            "lo",
            "--host",
            "127.0.0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    job_pids = []
    try:
        first = proc.stdout.readline()
        match = re.match(r"scheduler (tcp://127\.0\.0\.1:\d+): 1 slurm job\(s\) requested", first)
        assert match, (first, proc.stderr.read() if proc.poll() is not None else "")
        address = match.group(1)
        assert proc.stdout.readline().startswith(f"send runs with: dynet run SCENARIO --scheduler {address}")
        deadline = time.monotonic() + 60  # the job is submitted in the background
        while not (jobs / "job-101.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        script = (jobs / "job-101.sh").read_text()
        assert f"dask_worker {address}" in script and "--nworkers 2" in script
        job_pids.append(int((jobs / "job-101.pid").read_text()))

        report = api.run_scenario(small_scenario, store=tmp_path / "runs.zarr", scheduler=address, connect_timeout=60)
        assert not report.failed and len(report.results) == 12
        assert {r["status"] for r in api.list_runs(tmp_path / "runs.zarr")} == {"complete"}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopping: cancelling the batch jobs" in out
    assert (jobs / "cancelled").read_text().split() == ["101"]
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in job_pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in job_pids), "the batch job's workers outlived scancel"
