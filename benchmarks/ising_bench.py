"""2D Ising: spin-flip attempts per second per core, dynet's kernel vs a numpy peer.

    python benchmarks/ising_bench.py [--quick] [--json PATH]

dynet: ``dynet.models.ising.kernels.sweeps`` (checkerboard Metropolis / heat-bath, lookup
table, one xoshiro256** draw per site). Peer: the vectorised numpy checkerboard update
found in tutorials (whole sublattice at once with ``np.roll``), on the same lattice and
temperature. Target (issue 4): >= 1e8 attempts/s per core at L = 128.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

from dynet.models.ising import kernels as K  # noqa: E402

T_C = 2.0 / np.log(1.0 + np.sqrt(2.0))


def bench_dynet(size, algorithm, temperature, n_sweeps, repeats):
    rng = np.random.default_rng(0)
    spins = np.where(rng.random((size, size)) < 0.5, 1, -1).astype(np.int8)
    thr = K.threshold_table(K.acceptance_table(algorithm, 1.0 / temperature, 1.0, 0.0))
    state = np.array([1, 2, 3, 4], np.uint64)
    out = np.empty(n_sweeps + 1, np.int64)
    m, b = K.sums(spins)
    m, b, _ = K.sweeps(spins, thr, algorithm, 2, 1, state, m, b, out, out.copy(), 0)  # compile / warm
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        m, b, _ = K.sweeps(spins, thr, algorithm, n_sweeps, n_sweeps, state, m, b, out, out.copy(), 0)
        best = min(best, time.perf_counter() - t0)
    return n_sweeps * size * size / best


def numpy_peer_sweep(spins, beta, rng, masks):
    for mask in masks:
        nn = np.roll(spins, 1, 0) + np.roll(spins, -1, 0) + np.roll(spins, 1, 1) + np.roll(spins, -1, 1)
        d_e = 2.0 * spins * nn
        flip = mask & (rng.random(spins.shape) < np.exp(-beta * d_e))
        spins[flip] *= -1


def bench_peer(size, temperature, n_sweeps, repeats):
    rng = np.random.default_rng(0)
    spins = np.where(rng.random((size, size)) < 0.5, 1, -1).astype(np.int64)
    ii, jj = np.indices((size, size))
    masks = [(ii + jj) % 2 == 0, (ii + jj) % 2 == 1]
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n_sweeps):
            numpy_peer_sweep(spins, 1.0 / temperature, rng, masks)
        best = min(best, time.perf_counter() - t0)
    return n_sweeps * size * size / best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    repeats = 3 if args.quick else 7
    print(
        f"2D Ising benchmark: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, one thread; "
        f"T = T_c = {T_C:.4f}, J = 1, h = 0"
    )
    rows = []
    for size in (64, 128, 256):
        n_sweeps = max(20, int(2e7 // (size * size)))
        if args.quick:
            n_sweeps //= 4
        met = bench_dynet(size, K.METROPOLIS, T_C, n_sweeps, repeats)
        hb = bench_dynet(size, K.HEAT_BATH, T_C, n_sweeps, repeats)
        peer = bench_peer(size, T_C, max(5, n_sweeps // 20), max(2, repeats // 2))
        rows.append({"size": size, "dynet_metropolis": met, "dynet_heat_bath": hb, "numpy_peer_metropolis": peer})
    print(f"{'L':>5} {'dynet Metropolis':>18} {'dynet heat-bath':>17} {'numpy peer':>12} {'ratio':>7}  target(L=128)")
    for r in rows:
        target = ("MET" if r["dynet_metropolis"] >= 1e8 else "MISSED") if r["size"] == 128 else ""
        print(
            f"{r['size']:>5} {r['dynet_metropolis']:>18.3g} {r['dynet_heat_bath']:>17.3g} "
            f"{r['numpy_peer_metropolis']:>12.3g} {r['dynet_metropolis'] / r['numpy_peer_metropolis']:>6.0f}x  {target}"
        )
    print("figures: spin-flip attempts per second, best of repeats; target >= 1e8 /s at L = 128")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
