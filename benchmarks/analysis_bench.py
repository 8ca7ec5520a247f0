"""Reading a large run store: listing, filtering, opening runs, gathering sweeps.

    python benchmarks/analysis_bench.py [--runs 10000] [--real 100] [--store DIR] [--json PATH]

Builds a store of ``--runs`` runs: ten Hopfield scenarios of 1,000 runs each (a 25 x 4 grid
of ``init.fraction`` x ``patterns.count``, 10 replicates), with the run ids, configs, params
and seeds the scenario expansion gives them. The first ``--real`` runs are run for real
(``api.execute_run``: the driver writes them through ``RunRecord``); every other run group is
a copy of one of those (its array files hard-linked, its ``zarr.json`` rewritten with the
run's own record and the real run's metrics), so the store has the size and layout of a real
one. Then it times what the issue sets targets for (local disk, warm page cache):

- listing and filtering all runs (``dynet.open_store(path).runs`` + a query): < 1 s
- opening a run by id or by prefix (``store.run``): < 50 ms whatever the store's size
- a 1,000-run sweep's final metrics (``store.sweep``): < 2 s

and, for reference, the same listing through zarr's group iteration (``api.list_runs``).
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

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from benchmarks._common import cpu_model, loadavg, table

SCENARIOS = 10
FRACTIONS = [round(0.02 * i, 2) for i in range(1, 26)]
COUNTS = [2, 3, 4, 5]


def scenario_doc(k: int) -> dict:
    return {
        "name": f"bench-{k}",
        "model": "hopfield",
        "seed": 1000 + k,
        "network": {"n_units": 32},
        "patterns": {"source": "random", "count": 2},
        "init": {"kind": "flip", "pattern": 1, "fraction": 0.1},
        "dynamics": {"update": "async-permutation", "max_sweeps": 20},
        "record": {"state": False},
        "sweep": {"replicates": 10, "grid": {"init.fraction": FRACTIONS, "patterns.count": COUNTS}},
    }


def build(path: str, n_runs: int, n_real: int) -> dict:
    from dynet import api
    from dynet import store as S
    from dynet.scenario import parse_scenario

    specs = []
    for k in range(SCENARIOS):
        specs += parse_scenario(scenario_doc(k), f"bench-{k}.toml").runs
    specs = specs[:n_runs]
    S.open_store(path, create=True)
    t0 = time.perf_counter()
    real = [api.execute_run(path, spec) for spec in specs[:n_real]]
    t_real = time.perf_counter() - t0
    runs_dir = os.path.join(path, S.RUNS)
    t0 = time.perf_counter()
    for i, spec in enumerate(specs[n_real:]):
        src = real[i % len(real)]
        dst = os.path.join(runs_dir, spec.run_id)
        shutil.copytree(os.path.join(runs_dir, src["run_id"]), dst, copy_function=os.link)
        meta_path = os.path.join(dst, "zarr.json")
        with open(meta_path) as fh:
            meta = json.load(fh)
        os.remove(meta_path)  # a hard link: write a new file, never through the link
        meta["attributes"].update(
            run_id=spec.run_id,
            scenario=spec.scenario,
            config=spec.config,
            params=spec.params,
            replicate=spec.replicate,
            seed=spec.seed,
        )
        with open(meta_path, "w") as fh:
            json.dump(meta, fh, indent=2)
    return {"runs": len(specs), "real": len(real), "real_s": t_real, "copy_s": time.perf_counter() - t0}


CPU: dict[str, float] = {}  # CPU seconds of the last timed() call's fastest repeat


def timed(fn, repeats: int = 1):
    """``(result, wall seconds per repeat)``; the CPU seconds of the fastest repeat go to CPU["last"]
    (on a shared machine the wall time includes waiting for a core, the CPU time does not)."""
    times, cpus, out = [], [], None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    CPU["last"] = cpus[times.index(min(times))]
    return out, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--real", type=int, default=100, help="runs actually simulated (the rest are copies)")
    ap.add_argument("--store", default=None, help="build here and keep it (default: a temporary folder)")
    ap.add_argument("--json", default=None, help="also write the figures as JSON here")
    args = ap.parse_args()

    import dynet
    from dynet import api
    from dynet import store as S

    tmp = None
    if args.store is None:
        tmp = tempfile.mkdtemp(prefix="dynet-analysis-bench-")
        path = os.path.join(tmp, "runs.zarr")
    else:
        path = os.path.abspath(args.store)
    try:
        if os.path.exists(os.path.join(path, "zarr.json")):
            built = {"runs": len(S.run_ids(path)), "reused": True}
        else:
            built = build(path, args.runs, min(args.real, args.runs))
        print(f"store {path}: {built}", flush=True)
        import pandas  # noqa: F401 - imports are not what the targets time
        import xarray  # noqa: F401

        rows, figures = [], {}

        def add(name, seconds, target=None, per=1):
            cpu = CPU.pop("last", float("nan")) / per
            figures[name] = {"wall_s": seconds, "cpu_s": cpu}
            verdict = "" if target is None else ("ok" if seconds < target else "MISSED")
            rows.append(
                [
                    name,
                    f"{seconds * 1e3:.1f} ms",
                    f"{cpu * 1e3:.1f} ms",
                    "" if target is None else f"< {target * 1e3:.0f} ms",
                    verdict,
                ]
            )

        # listing + filtering from a fresh Store; the process caches what it parsed (checked
        # against each zarr.json's stat on every listing), so only the first listing parses
        from dynet.analysis import reader

        def list_and_filter():
            st = dynet.open_store(path)
            return st, st.select(where="init.fraction > 0.3 and status == 'complete'")

        uncached = []
        for _ in range(3):
            reader.forget_listings()
            (st, sel), t = timed(list_and_filter)
            uncached.append((t[0], CPU["last"]))
        wall, CPU["last"] = min(uncached)
        add("list + filter all runs (best of 3, uncached)", wall, 1.0)
        _, t = timed(list_and_filter, 3)
        add("  again in the same process (cached, stat only)", min(t))
        for threads in (1, 8):
            _, t = timed(lambda: S.read_many_run_attrs(path, threads=threads), 3)  # noqa: B023
            add(f"  read every run's zarr.json ({threads} thread{'s' if threads > 1 else ''})", min(t))
        _, t = timed(lambda: st.runs.query("`init.fraction` > 0.3 and scenario == 'bench-3'"), 3)
        add("  query on the runs table", min(t))
        ids = list(st.runs.run_id)
        rng = np.random.default_rng(0)
        pick = [ids[i] for i in rng.choice(len(ids), 50, replace=False)]
        fresh = dynet.open_store(path)  # no listing read: opening a run must not need it
        _, t = timed(lambda: [fresh.run(r) for r in pick])
        add("open a run by id (mean of 50)", t[0] / len(pick), 0.05, per=len(pick))
        _, t = timed(lambda: [fresh.run(r[:6]) for r in pick])
        add("open a run by 6-char prefix (mean of 50)", t[0] / len(pick), 0.05, per=len(pick))
        _, t = timed(lambda: fresh.run(pick[0]).energy.values, 5)
        add("  read a run's energy trajectory", min(t))

        def sweep_uncached():
            reader.forget_listings()
            return dynet.open_store(path).sweep("bench-3")

        sw, t = timed(sweep_uncached, 3)
        n_sweep = int((sw.status != "").sum())
        add(f"sweep of {n_sweep} runs, final metrics (incl. uncached listing)", min(t), 2.0)
        _, t = timed(lambda: st.sweep("bench-3"), 3)
        add("  the same on a listed Store", min(t))
        _, t = timed(lambda: st.summary("bench-3"), 3)
        add("  summary table of that sweep", min(t))
        _, t = timed(lambda: st.sweep("bench-3", trajectories=["energy"]))
        add(f"sweep of {n_sweep} runs with the energy trajectory", t[0])
        _, t = timed(lambda: api.list_runs(path))
        add("reference: api.list_runs (zarr group iteration)", t[0])
        env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
        CPU.clear()
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "dynet.cli", "ls", path, "--scenario", "bench-3", "--json"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        add("`dynet ls STORE --scenario S --json` (new process)", time.perf_counter() - t0)

        print(
            f"\n{len(ids)} runs in {len(st.scenarios)} scenarios; {len(sel)} match the filter; "
            f"CPU {cpu_model()}, {os.cpu_count()} cores, load {loadavg():.2f}\n"
        )
        print(table(["what", "wall", "cpu", "target", ""], rows))
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"store": built, "seconds": figures}, fh, indent=2)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
