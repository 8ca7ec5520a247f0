"""Analysis over stored runs: tables across a sweep, and physics read off them."""

from __future__ import annotations

import itertools
import math
import os
from collections import defaultdict

import numpy as np

from .reader import Store


def sweep_table(store: str | os.PathLike, scenario: str, metrics: tuple[str, ...]) -> list[dict]:
    """One row per sweep point of ``scenario``: its parameters, the replicate count, and
    each metric's mean and standard error over replicates (``<metric>`` and ``<metric>_sem``)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in Store(store).records.values():
        if r.get("scenario") == scenario and r.get("status") == "complete":
            groups[repr(sorted((r.get("params") or {}).items()))].append(r)
    rows = []
    for runs in groups.values():
        row = {"params": runs[0]["params"], "replicates": len(runs)}
        for m in metrics:
            vals = np.array([r["metrics"][m] for r in runs if (r.get("metrics") or {}).get(m) is not None], float)
            row[m] = float(vals.mean()) if len(vals) else math.nan
            row[m + "_sem"] = float(vals.std(ddof=1) / math.sqrt(len(vals))) if len(vals) > 1 else math.nan
        rows.append(row)
    return rows


def binder_crossings(store: str | os.PathLike, scenario: str) -> list[dict]:
    """Temperatures where the Binder cumulants of successive lattice sizes cross.

    For each pair of sizes (L1 < L2, consecutive) the replicate-mean curves U_L(T) are
    compared at the common temperatures; where ``U_L2 - U_L1`` changes sign from + to -
    (large lattices order more sharply below T_c) the crossing is found by linear
    interpolation. Returns ``{"sizes": (L1, L2), "t_cross": T, "binder": U}`` per crossing.
    """
    rows = sweep_table(store, scenario, ("binder",))
    curves: dict[int, dict[float, float]] = defaultdict(dict)
    for row in rows:
        p = row["params"]
        size = p.get("lattice.size")
        temp = p.get("dynamics.temperature")
        if size is None or temp is None:
            raise ValueError("binder_crossings needs a sweep over lattice.size and dynamics.temperature")
        curves[int(size)][float(temp)] = row["binder"]
    sizes = sorted(curves)
    out = []
    for a, b in itertools.pairwise(sizes):
        temps = sorted(set(curves[a]) & set(curves[b]))
        diff = [curves[b][t] - curves[a][t] for t in temps]
        for i in range(len(temps) - 1):
            if diff[i] > 0 >= diff[i + 1]:
                t0, t1 = temps[i], temps[i + 1]
                f = diff[i] / (diff[i] - diff[i + 1])
                t = t0 + f * (t1 - t0)
                u = curves[a][t0] + f * (curves[a][t1] - curves[a][t0])
                out.append({"sizes": (a, b), "t_cross": t, "binder": u})
    return out
