"""How long `dynet validate` takes on a large 1-D sweep: reading and parsing the TOML, expanding
and validating every point (run ids, seeds), and the model's preflight of every point.

    python benchmarks/validate_bench.py                      # 100,000 points of hopfield-quickstart
    python benchmarks/validate_bench.py --points 20000 --scenario ising-transition ff-xor

Each scenario is a shipped one with its [sweep] replaced by one grid key of N distinct values.
Times are in one process after the imports (which `dynet validate` also pays, ~1-3 s);
`cpu/wall` well below 1 means the machine was busy and the wall figure is not clean (the
process's CPU seconds are then the better figure).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from _common import cpu_model, loadavg, table

from dynet import api
from dynet.scenario import load_scenario

# scenario -> (sweep key, value of point i of n)
SWEEPS = {
    "hopfield-quickstart": ("init.fraction", lambda i, n: i / n),
    "ising-transition": ("dynamics.temperature", lambda i, n: 1.0 + i / n),
    "ff-xor": ("regularization.l2", lambda i, n: i / n),
    "rbm-bars-stripes": ("training.lr", lambda i, n: (i + 1) / n),
}


def scenario_text(name: str, n: int) -> str:
    key, value = SWEEPS[name]
    with open(os.path.join(ROOT, "scenarios", f"{name}.toml")) as fh:
        text = fh.read()
    text = re.sub(r"\n\[sweep[\].][\s\S]*$", "\n", text)  # the sweep tables are the file's last
    values = ", ".join(repr(value(i, n)) for i in range(n))
    return text + f'\n[sweep]\nreplicates = 1\ngrid = {{ "{key}" = [{values}] }}\n'


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--scenario", nargs="+", default=["hopfield-quickstart"], choices=sorted(SWEEPS))
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    load_scenario(os.path.join(ROOT, "scenarios", "hopfield-quickstart.toml"))  # warm imports
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.scenario:
            path = os.path.join(tmp, f"{name}.toml")
            with open(path, "w") as fh:
                fh.write(scenario_text(name, args.points))
            sc, w_load, _ = timed(lambda p=path: load_scenario(p))
            assert len(sc.runs) == args.points
            _, w_all, c_all = timed(lambda p=path: api.validate(p))
            per = 1e6 * w_all / args.points
            rows.append(
                [
                    name,
                    f"{args.points:,}",
                    f"{os.path.getsize(path) / 2**20:.2f}",
                    f"{w_load:.2f}",
                    f"{w_all:.2f}",
                    f"{c_all:.2f}",
                    f"{per:.0f}",
                    f"{c_all / w_all:.2f}",
                ]
            )
            results.append(
                {
                    "scenario": name,
                    "points": args.points,
                    "load_s": w_load,
                    "validate_s": w_all,
                    "validate_cpu_s": c_all,
                }
            )
    print(f"machine: {cpu_model()}, load average {loadavg():.1f}")
    print(
        table(
            ["scenario", "points", "MiB", "load+expand s", "validate s", "validate cpu s", "us/point", "cpu/wall"], rows
        )
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
