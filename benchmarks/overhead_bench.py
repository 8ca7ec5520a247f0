"""Per-run overhead of dynet's run lifecycle: claim, run group, arrays, status.

    python benchmarks/overhead_bench.py [--runs 1000] [--workers 2] [--quick] [--json PATH]

A sweep of tiny Hopfield runs (16 units, 2 patterns, a few sweeps: the model itself
takes ~0.1 ms), so nearly all of a run's time is the store's bookkeeping and Dask's.
Three figures, each in ms per run:

* ``cluster``: ``api.run_scenario`` on a LocalCluster of ``--workers`` workers, timed from
  the first progress call (cluster up, store created) to the return; wall time over
  runs, so with 2 workers it is about half a run's cost on one worker;
* ``in-process``: ``api.execute_run`` of the same runs one after another in this process
  (claim, run group, arrays, status, release) -- the store's cost of a run on one core,
  in wall time and in CPU time of all the process's threads (on a loaded machine the wall
  time is mostly waiting for a core: Zarr does each file operation on a thread pool);
* ``model only``: the model's ``run`` against an in-memory record: what is not overhead.

Target (issue 13): <= 10 ms a run (``cluster``) for 1,000 tiny runs on 2 workers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from dynet import api, models  # noqa: E402

TINY = """
name = "overhead"
model = "hopfield"
seed = 1

[network]
n_units = 16

[patterns]
source = "random"
count = 2

[init]
kind = "flip"
pattern = 0
fraction = 0.2

[dynamics]
update = "async-permutation"
max_sweeps = 5

[sweep]
replicates = {runs}
"""


class _NullRecord:
    resumed = None

    def static(self, name, data, dims, attributes=None):
        np.asarray(data)

    def trajectory(self, specs):
        class _T:
            def append(self, **cols):
                pass

            def flush(self):
                return 0

            def close(self):
                return 0

        return _T()

    def save_checkpoint(self, *a):
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="200 runs")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    n = 200 if args.quick else args.runs
    tmp = tempfile.mkdtemp(prefix="dynet-overhead-")
    try:
        scenario = os.path.join(tmp, "tiny.toml")
        with open(scenario, "w") as f:
            f.write(TINY.format(runs=n))
        sc = api.validate(scenario)
        hop = models.get("hopfield")
        hop.warmup()

        t0 = time.perf_counter()
        for spec in sc.runs:
            hop.run(spec, _NullRecord())
        model_ms = (time.perf_counter() - t0) / n * 1e3

        from dynet import store as S

        path = os.path.join(tmp, "inproc.zarr")
        S.open_store(path, create=True)
        t0, c0 = time.perf_counter(), time.process_time()
        for spec in sc.runs:
            api.execute_run(path, spec)
        inproc_ms = (time.perf_counter() - t0) / n * 1e3
        inproc_cpu_ms = (time.process_time() - c0) / n * 1e3  # every thread of this process

        started = {}

        def progress(done, total):
            started.setdefault("t", time.perf_counter())

        report = api.run_scenario(
            scenario, store=os.path.join(tmp, "cluster.zarr"), workers=args.workers, progress=progress
        )
        cluster_s = time.perf_counter() - started["t"]
        assert len(report.results) == n and not report.failed
        cluster_ms = cluster_s / n * 1e3
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{n} tiny Hopfield runs (16 units, 5 sweeps), load average {os.getloadavg()[0]:.1f}")
    print(f"  cluster ({args.workers} workers) {cluster_ms:8.2f} ms a run  ({cluster_s:.1f} s)   target <= 10")
    print(f"  in-process, 1 core     {inproc_ms:8.2f} ms a run  (CPU {inproc_cpu_ms:.2f} ms, all threads)")
    print(f"  model only             {model_ms:8.2f} ms a run")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "runs": n,
                    "workers": args.workers,
                    "cluster_ms": cluster_ms,
                    "in_process_ms": inproc_ms,
                    "in_process_cpu_ms": inproc_cpu_ms,
                    "model_ms": model_ms,
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
