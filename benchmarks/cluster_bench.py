"""Cluster benchmarks: scaling of a CPU-bound sweep from 1 to 2 workers, and the time from
`dynet submit` to the first complete run on a warm cluster.

    python benchmarks/cluster_bench.py            # both, with targets
    python benchmarks/cluster_bench.py --runs 8   # a shorter sweep

Scaling: the same sweep (Hopfield, N = 1500, Glauber dynamics that never settle, so every
run does all its sweeps, ~0.7 s each) run on the embedded cluster with 1 and with 2
workers; the time counts from the first progress call (the cluster is up) to the end, and
the kernels are compiled before either run. Target: >= 1.85x on 2 workers (issue 8).
Submit latency: a `dask scheduler` and one `dask worker` process, warmed by one job; then
the time from calling `jobs.submit` to the first run of a new job being complete.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import cpu_model, loadavg, table  # noqa: E402

from dynet import api, jobs  # noqa: E402
from dynet import store as S  # noqa: E402

SWEEP = """
name = "scaling"
model = "hopfield"
seed = {seed}

[network]
n_units = 1500
rule = "storkey"

[patterns]
source = "random"
count = 40

[init]
kind = "flip"
pattern = 0
fraction = 0.3

[dynamics]
update = "async-random"
temperature = 0.3
max_sweeps = 300

[record]
every = 100

[sweep]
replicates = {runs}
"""


def timed_sweep(folder: str, runs: int, workers: int, seed: int) -> float:
    path = os.path.join(folder, f"s{seed}-{workers}.toml")
    with open(path, "w") as f:
        f.write(SWEEP.format(seed=seed, runs=runs))
    start = {}

    def progress(done, total):
        start.setdefault("t", time.perf_counter())

    api.run_scenario(path, store=os.path.join(folder, f"w{workers}-{seed}.zarr"), workers=workers, progress=progress)
    return time.perf_counter() - start["t"]


def submit_latency(folder: str) -> list[float]:
    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    sched_file = os.path.join(folder, "scheduler.json")
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", sched_file],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        while not os.path.exists(sched_file):
            time.sleep(0.1)
        time.sleep(0.2)
        address = json.load(open(sched_file))["address"]
        procs.append(
            subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        out = []
        for seed in range(4):  # the first job warms the worker (imports, kernels)
            path = os.path.join(folder, f"submit{seed}.toml")
            with open(path, "w") as f:
                f.write(SWEEP.format(seed=100 + seed, runs=2).replace("max_sweeps = 300", "max_sweeps = 5"))
            store = os.path.join(folder, "submit.zarr")
            t0 = time.perf_counter()
            sub = jobs.submit(path, scheduler=address, store=store, connect_timeout=30)
            record = S.read_job(store, sub.job_id)
            while not any((S.read_run_attrs(store, rid) or {}).get("status") == "complete" for rid in record["runs"]):
                time.sleep(0.005)
            out.append(time.perf_counter() - t0)
        return out
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=16, help="runs in the scaling sweep (default 16)")
    args = ap.parse_args()
    folder = tempfile.mkdtemp(prefix="dynet-cluster-bench-")
    try:
        print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average before: {loadavg():.2f}")
        timed_sweep(folder, 2, 1, seed=0)  # compile (numba's cache) before timing anything
        one = timed_sweep(folder, args.runs, 1, seed=1)
        two = timed_sweep(folder, args.runs, 2, seed=1)
        ratio = one / two
        lat = submit_latency(folder)
        rows = [
            ["sweep on 1 worker", f"{one:.2f} s", ""],
            ["sweep on 2 workers", f"{two:.2f} s", ""],
            ["speed-up 2 vs 1 workers", f"{ratio:.2f}x", f">= 1.85x: {'met' if ratio >= 1.85 else 'MISSED'}"],
            ["submit -> first run complete (cold)", f"{lat[0] * 1e3:.0f} ms", ""],
            [
                "submit -> first run complete (warm)",
                f"{min(lat[1:]) * 1e3:.0f} ms",
                f"median {sorted(lat[1:])[len(lat[1:]) // 2] * 1e3:.0f} ms",
            ],
        ]
        print(table(["figure", "value", "target / note"], rows))
        print(f"load average after: {loadavg():.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
