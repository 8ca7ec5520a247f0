"""RBM training: dynet's PCD-1 against scikit-learn's BernoulliRBM on binarized digits.

    python benchmarks/rbm_bench.py [--quick] [--epochs N] [--lr LR] [--seeds S] [--json PATH]

The same algorithm on both sides: the 1,797 bundled 8x8 digits binarized at
pixel/16 > 0.5 (64 visible units), 256 hidden units, batch 10, learning rate 0.05,
PCD-1 with one persistent chain per batch row, no momentum or weight decay, batches in
data order every epoch (scikit-learn does not shuffle), W ~ N(0, 0.01^2), zero biases.
tests/test_rbm.py checks that the two produce the same weights step for step when fed
the same random draws; here each uses its own generator.

Both train in this process on one thread (OMP/OPENBLAS/MKL_NUM_THREADS=1 set before
numpy is imported). Reported: training samples per second (rows x epochs / wall time
of the training alone; dynet's kernels are compiled first), and the final
pseudo-likelihood of each model on the whole data set with scikit-learn's estimator
(one flipped unit per row, the same units for both models) and exactly (every unit
flipped: the mean of sum_i log p(v_i | v_-i)). Target: dynet >= 2x scikit-learn's
samples/s at equal or better pseudo-likelihood (dynet's mean over seeds at least
scikit-learn's minus twice the standard error of the difference).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

for _v in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

from dynet.config import RBMDigitsData  # noqa: E402
from dynet.kernels.rng import seed_state  # noqa: E402
from dynet.models.rbm import driver as M  # noqa: E402

N_HIDDEN = 256
BATCH = 10


def digits() -> np.ndarray:
    return M.load_data(RBMDigitsData(source="digits", threshold=0.5))[0]


def pseudo_likelihoods(W, b, c, x, bits) -> tuple[float, float]:
    """(scikit-learn's estimator with the given flipped units, the exact pseudo-log-likelihood), means over rows."""
    xf = x.astype(np.float64)
    f0 = M.free_energy(xf, W, b, c)
    nv = x.shape[1]
    flipped = xf.copy()
    flipped[np.arange(len(x)), bits] = 1.0 - flipped[np.arange(len(x)), bits]
    est = -nv * np.logaddexp(0.0, -(M.free_energy(flipped, W, b, c) - f0))
    total = np.zeros(len(x))
    for i in range(nv):
        flipped = xf.copy()
        flipped[:, i] = 1.0 - flipped[:, i]
        total -= np.logaddexp(0.0, -(M.free_energy(flipped, W, b, c) - f0))
    return float(est.mean()), float(total.mean())


def run_dynet(x, epochs, lr, seed, method="pcd", k=1):
    rng = np.random.default_rng(seed)
    W = rng.normal(0.0, 0.01, (x.shape[1], N_HIDDEN))
    t = M.Trainer(
        x,
        W,
        np.zeros(x.shape[1]),
        np.zeros(N_HIDDEN),
        method=method,
        k=k,
        batch_size=BATCH,
        shuffle=False,
        rng_state=seed_state(np.random.SeedSequence(seed)),
    )
    lrs = np.full(t.steps, lr)
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(epochs):
        t.epoch(lrs)
    wall = time.perf_counter() - t0
    return t.W, t.b, t.c, wall, (time.process_time() - c0) / wall


def run_sklearn(x, epochs, lr, seed):
    from sklearn.neural_network import BernoulliRBM

    rbm = BernoulliRBM(n_components=N_HIDDEN, learning_rate=lr, batch_size=BATCH, n_iter=epochs, random_state=seed)
    xf = x.astype(np.float64)
    t0 = time.perf_counter()
    c0 = time.process_time()
    rbm.fit(xf)
    wall = time.perf_counter() - t0
    return (
        rbm.components_.T.copy(),
        rbm.intercept_visible_.copy(),
        rbm.intercept_hidden_.copy(),
        wall,
        (time.process_time() - c0) / wall,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 epochs, 2 seeds")
    ap.add_argument("--epochs", type=int, default=20, help="n_iter (default 20)")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seeds", type=int, default=5, help="independent trainings per library (default 5)")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    epochs, seeds = (5, 2) if args.quick else (args.epochs, args.seeds)
    x = digits()
    n = len(x)
    print(
        f"RBM benchmark: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, one thread; "
        f"digits {x.shape[0]} x {x.shape[1]} binarized, {N_HIDDEN} hidden, batch {BATCH}, lr {args.lr}, "
        f"PCD-1, {epochs} epochs, {seeds} seed(s)"
    )
    run_dynet(x[:20], 1, args.lr, 0)  # compile (or load the cache)
    run_dynet(x[:20], 1, args.lr, 0, method="cd", k=1)
    bits = np.random.default_rng(12345).integers(0, x.shape[1], n)
    try:
        import sklearn  # noqa: F401

        have_peer = True
    except ImportError:
        have_peer = False
        print("scikit-learn is not installed (pip install scikit-learn): dynet's figures only")
    rows = {"dynet": [], "sklearn": []}
    for seed in range(seeds):
        for lib in ("dynet", "sklearn") if have_peer else ("dynet",):
            W, b, c, wall, cpu = (run_dynet if lib == "dynet" else run_sklearn)(x, epochs, args.lr, seed)
            est, exact = pseudo_likelihoods(W, b, c, x, bits)
            rows[lib].append(
                {
                    "seed": seed,
                    "seconds": wall,
                    "samples_per_s": epochs * n / wall,
                    "cpu_wall": cpu,
                    "pl_estimator": est,
                    "pl_exact": exact,
                }
            )

    def summary(lib):
        r = rows[lib]
        keys = ("samples_per_s", "cpu_wall", "pl_estimator", "pl_exact")
        return {k: float(np.mean([q[k] for q in r])) for k in keys} | {
            "pl_exact_sd": float(np.std([q["pl_exact"] for q in r], ddof=1)) if len(r) > 1 else 0.0,
            "samples_per_s_best": float(max(q["samples_per_s"] for q in r)),
        }

    print()
    print("| library | samples/s (mean) | best | cpu/wall | PL, sklearn estimator | PL, exact (mean +- sd) |")
    print("|---|---|---|---|---|---|")
    results = {
        "config": {"epochs": epochs, "lr": args.lr, "seeds": seeds, "n_hidden": N_HIDDEN, "batch": BATCH},
        "runs": rows,
    }
    for lib in rows:
        if not rows[lib]:
            continue
        s = summary(lib)
        results[lib] = s
        print(
            f"| {lib} | {s['samples_per_s']:,.0f} | {s['samples_per_s_best']:,.0f} | {s['cpu_wall']:.2f} | "
            f"{s['pl_estimator']:.3f} | {s['pl_exact']:.3f} +- {s['pl_exact_sd']:.3f} |"
        )
    # dynet's other estimators, for scale (no peer)
    extra = []
    for method, k in (("cd", 1), ("cd", 10), ("pcd", 10)):
        W, b, c, wall, _ = run_dynet(x, max(1, epochs // 4), args.lr, 0, method=method, k=k)
        extra.append((f"{method.upper()}-{k}", max(1, epochs // 4) * n / wall))
    print()
    print(
        "dynet, other estimators (same data and sizes): "
        + ", ".join(f"{name} {rate:,.0f} samples/s" for name, rate in extra)
    )
    results["dynet_other"] = dict(extra)
    if have_peer:
        d, s = results["dynet"], results["sklearn"]
        ratio = d["samples_per_s"] / s["samples_per_s"]
        diff = d["pl_exact"] - s["pl_exact"]
        print()
        if seeds > 1:
            se = float(np.sqrt((d["pl_exact_sd"] ** 2 + s["pl_exact_sd"] ** 2) / seeds))
            met = ratio >= 2.0 and diff >= -2 * se
            verdict = "met" if met else "MISSED"
        else:  # one training per library says nothing about the seed-to-seed spread
            se, met = math.nan, None
            verdict = "speed " + ("met" if ratio >= 2.0 else "MISSED") + ", pseudo-likelihood not assessed (one seed)"
        results["target"] = {"ratio": ratio, "pl_difference": diff, "pl_tolerance": 2 * se, "met": met}
        print(
            f"speed: dynet / scikit-learn = {ratio:.2f}x (target >= 2x); exact pseudo-likelihood: dynet "
            f"{d['pl_exact']:.3f}, scikit-learn {s['pl_exact']:.3f} (difference {diff:+.3f}, "
            f"tolerance {2 * se:.3f}): target {verdict}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
