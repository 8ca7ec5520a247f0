"""Compile time: what a new user's first run of each model kind waits for numba.

    python benchmarks/compile_bench.py [KIND ...] [--json PATH]

Each kind is compiled by ``dynet warmup KIND`` in a fresh process with an empty numba cache
(``NUMBA_CACHE_DIR`` pointing at a new temporary folder), so nothing compiled before counts;
then once more against that cache, which is what every later run pays. Target (issue 12):
<= 10 s of compilation for the first use of any kind. Compiling is single-threaded CPU work:
on a loaded machine the wall time grows, so the CPU time of the process is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_model, loadavg, table  # noqa: E402

TARGET_S = 10.0


def _warmup(kind: str, cache: str) -> tuple[float, float, str]:
    """(wall s, CPU s, the command's line) of ``dynet warmup KIND`` against ``cache``."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "dynet.cli", "warmup", kind], env=env, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout.strip()


def main() -> None:
    from dynet import models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kinds", nargs="*", default=list(models.REGISTRY))
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average before: {loadavg():.2f}")
    rows, results = [], []
    for kind in args.kinds:
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
            cold_wall, cold_cpu, line = _warmup(kind, cache)
            warm_wall, warm_cpu, _ = _warmup(kind, cache)
        verdict = "met" if cold_wall <= TARGET_S else "missed"
        rows.append([kind, f"{cold_wall:.1f}", f"{cold_cpu:.1f}", f"{warm_wall:.2f}", f"<= {TARGET_S:g} s: {verdict}"])
        results.append(
            {"kind": kind, "cold_wall_s": cold_wall, "cold_cpu_s": cold_cpu, "cached_wall_s": warm_wall, "line": line}
        )
    print(
        table(
            ["kind", "first use, wall s", "first use, CPU s", "from the cache, wall s", "target (first use)"],
            rows,
        )
    )
    print("(each figure includes starting Python and importing dynet, ~0.5 s)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"cpu": cpu_model(), "target_s": TARGET_S, "results": results}, fh, indent=2)


if __name__ == "__main__":
    main()
