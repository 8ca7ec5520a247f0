"""Fingerprint every run of a dynet store, or compare two stores' fingerprints.

A refactor or a speed change must leave shipped scenarios' results bit-identical: run
the scenarios into a store before and after, then compare::

    python benchmarks/fingerprint.py before.zarr > before.json
    python benchmarks/fingerprint.py after.zarr --compare before.json

A run's fingerprint is the sha256 of each array's name, dtype, shape and bytes, and of
its final metrics as canonical JSON (the store's own path, which a transfer run names,
replaced by a placeholder); run ids must match too (they are hashes of the
resolved config). Checkpoint slots, timings and the dynet version are left out.
Exit code 1 when the comparison finds a difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np
import zarr


def _canonical(obj) -> str:
    def clean(v):
        if isinstance(v, float) and math.isnan(v):
            return "nan"
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(obj), sort_keys=True, separators=(",", ":"))


def fingerprint_run(group: zarr.Group, store_path: str | None = None) -> dict:
    arrays = {}
    for name, arr in sorted(group.arrays()):
        data = np.ascontiguousarray(arr[...])
        h = hashlib.sha256()
        h.update(f"{name}|{data.dtype.str}|{data.shape}".encode())
        h.update(data.tobytes())
        arrays[name] = h.hexdigest()[:16]
    attrs = dict(group.attrs)
    metrics = _canonical(attrs.get("metrics") or {})
    if store_path:  # a metric naming the store itself (a transfer source in the same store) is not a result
        metrics = metrics.replace(json.dumps(os.path.abspath(store_path)), '"<this store>"')
    return {
        "status": attrs.get("status"),
        "scenario": attrs.get("scenario"),
        "metrics": hashlib.sha256(metrics.encode()).hexdigest()[:16],
        "arrays": arrays,
    }


def fingerprint_store(path: str) -> dict:
    root = zarr.open_group(os.fspath(path), mode="r")
    return {name: fingerprint_run(g, os.fspath(path)) for name, g in sorted(root["runs"].groups())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("store")
    ap.add_argument("--compare", metavar="JSON", help="fingerprints printed earlier to compare against")
    args = ap.parse_args(argv)
    prints = fingerprint_store(args.store)
    if not args.compare:
        json.dump(prints, sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    with open(args.compare) as fh:
        before = json.load(fh)
    differ = 0
    for rid in sorted(set(before) | set(prints)):
        a, b = before.get(rid), prints.get(rid)
        if a is None or b is None:
            print(f"{rid}: only in {'the new store' if a is None else args.compare}")
            differ += 1
        elif a != b:
            what = [k for k in ("status", "metrics") if a[k] != b[k]]
            what += [
                f"array {n}"
                for n in sorted(set(a["arrays"]) | set(b["arrays"]))
                if a["arrays"].get(n) != b["arrays"].get(n)
            ]
            print(f"{rid} ({b['scenario']}): differs in {', '.join(what)}")
            differ += 1
    print(f"{len(prints)} run(s) compared, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
