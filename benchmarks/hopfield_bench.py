#!/usr/bin/env python
"""Hopfield benchmarks: dynet's numba kernels against a plain-numpy peer.

Run from the repository root::

    python benchmarks/hopfield_bench.py            # full run (about 20 s on a 2-core EPYC VM)
    python benchmarks/hopfield_bench.py --quick    # short run (fewer cues and repeats)
    python benchmarks/hopfield_bench.py --json results.json

Everything runs in one process on one thread (the BLAS thread variables are set
to 1 before numpy is imported). Three parts:

1. Asynchronous recall, sweeps per second, at N = 1000 and 4000: Hebbian weights
   from P = 0.05 N random patterns, a cue = pattern 0 with 20% of its bits flipped,
   T = 0, a fresh random permutation per sweep. Both dynet and the peer (PyPI
   ``hopfieldnetwork`` 1.0.1) do exactly K sweeps from the same cue (dynet with
   ``stop_at_fixed_point=False``), for several fresh cues; both must end in the
   same state. dynet's time includes computing the initial fields ``h = W s``
   (its state carries them; the peer's does not), and is also shown without it.
2. Dense field computation ``h = W s`` (``dynet.models.hopfield.kernels.dense_fields``),
   synapse updates per second per core, for int16 (Hebbian) and float64 weights,
   against numpy's single-threaded BLAS ``W @ s`` in float64 and float32.
3. A breakdown of dynet's asynchronous sweep cost (initial fields, the per-flip
   row update, the per-visit decision, the permutation), to see where time goes.
"""

from __future__ import annotations

import os

# Pin every BLAS / OpenMP pool to one thread before numpy is imported.
for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
):
    os.environ[_var] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")  # the peer imports matplotlib at import time

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
from _common import blas_name as _blas_name
from _common import cpu_model as _cpu_model
from _common import table as _table  # noqa: E402
from numba import njit  # noqa: E402

from dynet.kernels.rng import permutation, seed_state  # noqa: E402
from dynet.models.hopfield import driver as M  # noqa: E402
from dynet.models.hopfield import kernels as K  # noqa: E402
from dynet.models.hopfield.driver import hebbian, pseudoinverse, random_patterns  # noqa: E402

try:  # the peer prints nothing on import, but guard against chatter anyway
    with contextlib.redirect_stdout(io.StringIO()):
        import hopfieldnetwork as _peer
    PEER_VERSION = getattr(_peer, "__version__", "?")
    PEER_ERROR = None
except Exception as exc:  # ImportError, or a missing matplotlib / pillow
    _peer = None
    PEER_VERSION = None
    PEER_ERROR = f"{type(exc).__name__}: {exc}"

TARGET_RATIO = 100.0  # dynet / peer, asynchronous recall sweeps per second
TARGET_SYNAPSE_RATE = 5e9  # dense synapse updates per second per core
LOAD = 0.05  # P = LOAD * N
CUE_NOISE = 0.2  # fraction of pattern 0's bits flipped in the cue

perf = time.perf_counter


# --------------------------------------------------------------------------- helpers


def _stats(times):
    return {"best": min(times), "median": statistics.median(times), "n": len(times)}


def _fmt_rate(x):
    if x is None:
        return "-"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def overlap(xi, s):
    return float(np.dot(xi.astype(np.int64), s.astype(np.int64)) / len(s))


def make_problem(n, seed):
    """Patterns (P = LOAD*N), Hebbian int16 weights and scale."""
    rng = np.random.default_rng(seed)
    n_pat = max(1, int(round(LOAD * n)))
    pats = random_patterns(n_pat, n, rng)
    w, scale = hebbian(pats)
    return pats, w, scale


def make_cue(pattern, rng):
    s = pattern.copy()
    k = int(round(CUE_NOISE * len(s)))
    s[rng.choice(len(s), size=k, replace=False)] *= -1
    return s


# --------------------------------------------------------------------------- dynet side


class DynetRecall:
    """Exactly ``n_sweeps`` asynchronous T = 0 sweeps through ``run_block`` (no early stop)."""

    def __init__(self, pats, w, scale, n_sweeps):
        n = pats.shape[1]
        self.pats, self.w, self.scale, self.k = pats, w, scale, n_sweeps
        self.theta = np.zeros(n)
        self.s = np.empty(n, np.int8)
        self.s_prev = np.empty(n, np.int8)
        # as dynet.models.hopfield.driver.simulate does: exact integer fields, computed in pattern space
        self.h = M.field_buffer(w)
        self.lowrank = bool(np.issubdtype(w.dtype, np.integer)) and pats.shape[0] < n
        self.temps = np.zeros(n_sweeps)
        rows = 2  # every = n_sweeps: one record after the last sweep (+1 spare as run_block requires)
        self.rec = dict(
            sweep=np.empty(rows, np.int64),
            state=np.empty((rows, 0), np.int8),
            energy=np.empty(rows),
            overlap=np.empty((rows, 0)),
            flips=np.empty(rows, np.int64),
            temperature=np.empty(rows),
        )

    def run(self, cue, rng_state, n_sweeps=None):
        """Returns (seconds for h = W s, seconds for the sweeps, flips)."""
        n_sweeps = self.k if n_sweeps is None else n_sweeps
        r = self.rec
        self.s[:] = cue
        t0 = perf()
        K.fields(self.w, self.pats, self.lowrank, self.s, self.h)
        t1 = perf()
        done, n_rec, stop, _ = K.run_block(
            self.w,
            self.lowrank,
            self.scale,
            self.theta,
            self.pats,
            self.s,
            self.s_prev,
            self.h,
            self.temps,
            K.ASYNC_PERMUTATION,
            rng_state,
            0,
            n_sweeps,
            n_sweeps,
            False,
            0,
            r["sweep"],
            r["state"],
            r["energy"],
            r["overlap"],
            r["flips"],
            r["temperature"],
        )
        t2 = perf()
        assert done == n_sweeps and stop == K.RUNNING and n_rec == 1
        return t1 - t0, t2 - t1, int(r["flips"][0])

    def stable(self, s):
        h = np.empty(len(s))
        K.dense_fields(self.w, s, h)
        return bool(K.is_stable(self.scale, self.theta, s, h))


@njit(cache=False)
def _permutations_only(perm, rng_state, n_perm):
    """The Fisher-Yates shuffle of ``async_sweep``, alone (for the cost breakdown)."""
    for _ in range(n_perm):
        permutation(perm, rng_state)
    return perm[0]


@njit(cache=False)
def _sweeps(w, scale, theta, s, h, update, perm, rng_state, n_sweeps):
    """``n_sweeps`` calls of ``async_sweep`` in one compiled call; returns total flips."""
    flips = 0
    for _ in range(n_sweeps):
        flips += K.async_sweep(w, scale, theta, s, h, 0.0, update, perm, rng_state)
    return flips


# --------------------------------------------------------------------------- peer side


class PeerRecall:
    def __init__(self, pats):
        n = pats.shape[1]
        with contextlib.redirect_stdout(io.StringIO()):
            self.net = _peer.HopfieldNetwork(N=n)
            # float64 patterns: its Hebb rule uses einsum, which would overflow int8 sums for P > 127
            self.net.train_pattern(pats.T.astype(np.float64))

    def run(self, cue, n_sweeps, seed):
        np.random.seed(seed)  # the peer draws its permutations from numpy's global generator
        s = cue.copy()
        t0 = perf()
        self.net.set_initial_neurons_state(s)
        self.net.update_neurons(n_sweeps, "async")
        t1 = perf()
        return t1 - t0, self.net.S.astype(np.int8)


# --------------------------------------------------------------------------- part 1: recall


def bench_recall(n, cfg, seed, use_peer, log):
    pats, w, scale = make_problem(n, seed)
    n_pat = pats.shape[0]
    ksw = cfg["sweeps"]
    dyn = DynetRecall(pats, w, scale, ksw)
    peer = PeerRecall(pats) if use_peer else None
    if peer is not None:
        err = float(np.abs(peer.net.w - w * scale).max())
        assert err < 1e-12, f"peer weights differ from dynet's by {err}"

    cue_rng = np.random.default_rng([seed, n, 1])
    cues = [make_cue(pats[0], cue_rng) for _ in range(cfg["cues"])]
    p0_stable = dyn.stable(pats[0].copy())

    # warm-up: compile / load every kernel on this N before timing
    dyn.run(cues[0], seed_state(np.random.SeedSequence([seed, 99])))
    if peer is not None:
        peer.run(cues[0], 1, 0)

    d_init, d_sweep, d_total, flips_all = [], [], [], []
    p_total = []
    agree = 0
    finals = []
    for c, cue in enumerate(cues):
        st0 = seed_state(np.random.SeedSequence([seed, n, c]))
        best = None
        for _ in range(cfg["dyn_repeats"]):
            st = st0.copy()
            ti, ts, fl = dyn.run(cue, st)
            if best is None or ti + ts < best[0] + best[1]:
                best = (ti, ts)
        d_init.append(best[0])
        d_sweep.append(best[1])
        d_total.append(best[0] + best[1])
        flips_all.append(fl)
        s_dyn = dyn.s.copy()
        rec = {"cue": c, "flips": fl, "dynet_overlap": overlap(pats[0], s_dyn), "dynet_fixed_point": dyn.stable(s_dyn)}
        if peer is not None:
            times = []
            for rep in range(cfg["peer_repeats"]):
                tp, s_peer = peer.run(cue, ksw, seed=1000 * c + rep)
                times.append(tp)
            p_total.append(min(times))
            same = bool(np.array_equal(s_dyn, s_peer))
            agree += same
            rec.update(
                peer_overlap=overlap(pats[0], s_peer), peer_fixed_point=dyn.stable(s_peer), same_final_state=same
            )
        finals.append(rec)
        log(
            f"    N={n} cue {c}: dynet {1e3 * (best[0] + best[1]):.3f} ms ({fl} flips)"
            + (
                f", peer {1e3 * p_total[-1]:.1f} ms, same final state: {rec['same_final_state']}"
                if peer is not None
                else ""
            )
        )

    n_runs = len(cues)
    res = {
        "n_units": n,
        "n_patterns": n_pat,
        "sweeps_per_run": ksw,
        "cues": n_runs,
        "pattern0_is_fixed_point": p0_stable,
        "mean_flips_per_run": float(np.mean(flips_all)),
        "dynet_seconds_per_run": statistics.median(d_total),
        "dynet_init_seconds_per_run": statistics.median(d_init),
        "dynet_sweep_seconds_per_run": statistics.median(d_sweep),
        "dynet_sweeps_per_s": ksw / statistics.median(d_total),
        "dynet_sweeps_per_s_excl_init": ksw / statistics.median(d_sweep),
        "dynet_final_overlaps": sorted({round(r["dynet_overlap"], 6) for r in finals}),
        "dynet_all_fixed_points": all(r["dynet_fixed_point"] for r in finals),
        "runs": finals,
    }
    if peer is not None:
        res.update(
            {
                "peer_seconds_per_run": statistics.median(p_total),
                "peer_sweeps_per_s": ksw / statistics.median(p_total),
                "peer_final_overlaps": sorted({round(r["peer_overlap"], 6) for r in finals}),
                "peer_all_fixed_points": all(r["peer_fixed_point"] for r in finals),
                "same_final_state": f"{agree}/{n_runs}",
                "all_same_final_state": agree == n_runs,
            }
        )
        res["ratio"] = res["dynet_sweeps_per_s"] / res["peer_sweeps_per_s"]
        res["ratio_excl_init"] = res["dynet_sweeps_per_s_excl_init"] / res["peer_sweeps_per_s"]

    # steady state: sweeps at the fixed point (no flips), K sweeps per timing
    s_fp = dyn.s.copy()
    h_fp = np.empty(n)
    K.dense_fields(w, s_fp, h_fp)
    perm = np.empty(n, np.int64)
    st = seed_state(np.random.SeedSequence([seed, n, 7]))
    m = cfg["steady_sweeps"]
    _sweeps(w, scale, dyn.theta, s_fp, h_fp, K.ASYNC_PERMUTATION, perm, st, 1)
    ts = []
    for _ in range(cfg["dyn_repeats"]):
        t0 = perf()
        fl = _sweeps(w, scale, dyn.theta, s_fp, h_fp, K.ASYNC_PERMUTATION, perm, st, m)
        ts.append(perf() - t0)
        assert fl == 0
    res["dynet_steady_sweeps_per_s"] = m / statistics.median(ts)
    if peer is not None:
        tp = min(peer.run(s_fp, 2, seed=5 + rep)[0] for rep in range(cfg["peer_repeats"]))
        res["peer_steady_sweeps_per_s"] = 2 / tp
    return res, (pats, w, scale, cues)


# --------------------------------------------------------------------------- part 2: dense fields


def _time_calls(fn, repeats, inner):
    """Per-call seconds (best / median of ``repeats`` timings of ``inner`` calls) and CPU/wall ratio."""
    fn()
    out = []
    cpu0, wall0 = time.process_time(), perf()
    for _ in range(repeats):
        t0 = perf()
        for _ in range(inner):
            fn()
        out.append((perf() - t0) / inner)
    st = _stats(out)
    st["cpu_per_wall"] = (time.process_time() - cpu0) / (perf() - wall0)  # ~1.0 on one thread
    return st


def bench_dense(n, cfg, seed, problem, log):
    pats, w16, _ = problem
    w64, _ = pseudoinverse(pats)
    rng = np.random.default_rng([seed, n, 2])
    s = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)
    h = np.empty(n)
    s64 = s.astype(np.float64)
    s32 = s.astype(np.float32)
    w64_np = w16.astype(np.float64)  # Hebbian weights as BLAS sees them
    w32_np = w16.astype(np.float32)
    h64 = np.empty(n)
    h32 = np.empty(n, np.float32)
    inner = max(1, int(cfg["dense_target_s"] / (n * n * 2e-10)))  # ~dense_target_s per timing
    reps = cfg["dense_repeats"]

    cases = [
        ("dynet dense_fields, int16 W (Hebbian)", lambda: K.dense_fields(w16, s, h), w16.nbytes),
        ("dynet dense_fields, float64 W (pseudo-inverse)", lambda: K.dense_fields(w64, s, h), w64.nbytes),
        ("numpy W @ s, float64 (BLAS dgemv)", lambda: np.dot(w64_np, s64, out=h64), w64_np.nbytes),
        ("numpy W @ s, float32 (BLAS sgemv)", lambda: np.dot(w32_np, s32, out=h32), w32_np.nbytes),
    ]
    # correctness: dynet's integer fields are exact; BLAS agrees on the same weights
    K.dense_fields(w16, s, h)
    np.dot(w64_np, s64, out=h64)
    assert np.array_equal(h, h64), "dense_fields(int16) != float64 BLAS"
    K.dense_fields(w64, s, h)
    assert np.allclose(h, w64 @ s64, rtol=1e-9, atol=1e-9)

    rows = []
    for name, fn, nbytes in cases:
        st = _time_calls(fn, reps, inner)
        rate = n * n / st["median"]
        rows.append(
            {
                "case": name,
                "n_units": n,
                "seconds_median": st["median"],
                "seconds_best": st["best"],
                "synapse_updates_per_s": rate,
                "synapse_updates_per_s_best": n * n / st["best"],
                "weight_bytes": nbytes,
                "bytes_per_s": nbytes / st["median"],
                "cpu_per_wall": st["cpu_per_wall"],
            }
        )
        log(f"    N={n} {name}: {1e6 * st['median']:.1f} us ({_fmt_rate(rate)} synapse updates/s)")
    return rows


# --------------------------------------------------------------------------- part 3: breakdown


def bench_breakdown(n, cfg, seed, problem):
    """Where an asynchronous sweep's time goes (dynet, int16 Hebbian weights)."""
    pats, w, scale, cues = problem
    theta = np.zeros(n)
    perm = np.empty(n, np.int64)
    h = M.field_buffer(w)
    reps = cfg["dyn_repeats"]
    out = {"n_units": n}

    # initial fields (in pattern space, as simulate computes them for Hebbian weights)
    s = cues[0].copy()
    out["init_fields_s"] = _time_calls(lambda: K.fields(w, pats, True, s, h), reps, 1)["median"]

    # first sweep from the cue (most flips happen here), then steady-state sweeps
    st0 = seed_state(np.random.SeedSequence([seed, n, 3]))
    first, flips = [], 0
    for _ in range(reps):
        s[:] = cues[0]
        K.fields(w, pats, True, s, h)
        st = st0.copy()
        t0 = perf()
        flips = _sweeps(w, scale, theta, s, h, K.ASYNC_PERMUTATION, perm, st, 1)
        first.append(perf() - t0)
    out["first_sweep_s"] = statistics.median(first)
    out["first_sweep_flips"] = int(flips)

    m = cfg["steady_sweeps"]
    st = st0.copy()
    _sweeps(w, scale, theta, s, h, K.ASYNC_PERMUTATION, perm, st, 1)
    ts = []
    for _ in range(reps):
        t0 = perf()
        assert _sweeps(w, scale, theta, s, h, K.ASYNC_PERMUTATION, perm, st, m) == 0
        ts.append((perf() - t0) / m)
    out["steady_perm_sweep_s"] = statistics.median(ts)
    st = st0.copy()
    _permutations_only(perm, st, 1)
    ts = []
    for _ in range(reps):
        t0 = perf()
        _permutations_only(perm, st, m)
        ts.append((perf() - t0) / m)
    out["permutation_s"] = statistics.median(ts)

    # derived per-element costs
    row_s = out["first_sweep_s"] - out["steady_perm_sweep_s"]
    out["flip_row_update_s"] = row_s
    out["ns_per_flip_element"] = 1e9 * row_s / max(1, flips * n)
    out["flip_row_updates_per_s"] = flips * n / row_s if row_s > 0 else None
    out["ns_per_unit_permutation"] = 1e9 * out["permutation_s"] / n
    out["ns_per_visit"] = 1e9 * (out["steady_perm_sweep_s"] - out["permutation_s"]) / n
    return out


# --------------------------------------------------------------------------- main

CONFIGS = {
    "full": dict(
        sweeps=5, cues=10, dyn_repeats=25, peer_repeats=3, steady_sweeps=200, dense_repeats=15, dense_target_s=0.02
    ),
    "quick": dict(
        sweeps=5, cues=3, dyn_repeats=5, peer_repeats=1, steady_sweeps=50, dense_repeats=5, dense_target_s=0.005
    ),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run: fewer cues and repeats")
    ap.add_argument("--json", metavar="PATH", help="also write machine-readable results to PATH")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000], help="network sizes N")
    ap.add_argument("--sweeps", type=int, help="sweeps per recall run K (default 5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-peer", action="store_true", help="skip the hopfieldnetwork peer")
    ap.add_argument("--verbose", action="store_true", help="print per-cue timings")
    args = ap.parse_args(argv)

    cfg = dict(CONFIGS["quick" if args.quick else "full"])
    if args.sweeps:
        cfg["sweeps"] = args.sweeps
    use_peer = _peer is not None and not args.no_peer
    log = print if args.verbose else (lambda *a, **k: None)

    machine = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "blas": _blas_name(),
        "blas_threads_env": os.environ["OPENBLAS_NUM_THREADS"],
        "peer": PEER_VERSION,
    }
    print("dynet Hopfield benchmark" + (" (--quick)" if args.quick else ""))
    print(
        f"  CPU: {machine['cpu']} ({machine['logical_cpus']} logical CPUs); one thread (OMP/OPENBLAS/MKL_NUM_THREADS=1)"
    )
    print(f"  Python {machine['python']}, numpy {machine['numpy']} ({machine['blas']}), numba {machine['numba']}")
    if use_peer:
        print(f"  peer: hopfieldnetwork {PEER_VERSION} (plain numpy; async = Python loop over a permutation)")
    elif args.no_peer:
        print("  peer: skipped (--no-peer)")
    else:
        print(f"  peer: hopfieldnetwork NOT INSTALLED ({PEER_ERROR}); dynet figures only.")
        print("        install with: pip install -e '.[bench]'")
    print(f"  config: {cfg}")
    print()

    t_start = perf()
    recall, dense, breakdown = [], [], []
    for n in args.sizes:
        print(f"[N={n}] recall ...", flush=True)
        res, problem = bench_recall(n, cfg, args.seed, use_peer, log)
        recall.append(res)
        print(f"[N={n}] dense fields ...", flush=True)
        dense.extend(bench_dense(n, cfg, args.seed, problem[:3], log))
        print(f"[N={n}] sweep breakdown ...", flush=True)
        breakdown.append(bench_breakdown(n, cfg, args.seed, problem))
    print()

    # ---- part 1 table
    k = cfg["sweeps"]
    print(
        f"1. Asynchronous recall: {k} sweeps from a cue (pattern 0, {CUE_NOISE:.0%} of bits flipped), "
        f"T = 0, random permutation order, P = {LOAD} N, Hebbian."
    )
    print(
        f"   Median over {cfg['cues']} fresh cues (each cue: best of {cfg['dyn_repeats']} dynet / "
        f"{cfg['peer_repeats']} peer repeats). dynet includes the initial h = W s."
    )
    print(f"   Target: dynet / peer >= {TARGET_RATIO:.0f}x.")
    hdr = [
        "N",
        "P",
        "flips/run",
        "dynet sweeps/s",
        "excl. init h",
        "peer sweeps/s",
        "ratio",
        "ratio excl. init",
        "target (ratio)",
    ]
    rows = []
    for r in recall:
        ratio = r.get("ratio")
        rows.append(
            [
                r["n_units"],
                r["n_patterns"],
                f"{r['mean_flips_per_run']:.0f}",
                f"{r['dynet_sweeps_per_s']:,.0f}",
                f"{r['dynet_sweeps_per_s_excl_init']:,.0f}",
                f"{r['peer_sweeps_per_s']:,.1f}" if ratio else "n/a",
                f"{ratio:.0f}x" if ratio else "n/a",
                f"{r['ratio_excl_init']:.0f}x" if ratio else "n/a",
                ("MET" if ratio >= TARGET_RATIO else "MISSED") if ratio else "n/a",
            ]
        )
    print(_table(hdr, rows))
    print()
    print("   Final states (both run exactly K sweeps, no early stop):")
    for r in recall:
        line = (
            f"   N={r['n_units']}: dynet overlap with pattern 0 = {r['dynet_final_overlaps']}, "
            f"fixed point: {r['dynet_all_fixed_points']}"
        )
        if "peer_final_overlaps" in r:
            line += (
                f"; peer overlap = {r['peer_final_overlaps']}, fixed point: {r['peer_all_fixed_points']}; "
                f"identical final states: {r['same_final_state']}"
            )
        print(line)
        if not r["pattern0_is_fixed_point"]:
            print(
                f"     (at this seed pattern 0 itself is not a fixed point of the Hebbian network at N={r['n_units']}:"
                f" the attractor next to it differs in a few units, so the overlap is just below 1)"
            )
    ok = all(r.get("all_same_final_state", True) for r in recall)
    print(
        f"   Same attractor for dynet and peer: {'YES' if ok else 'NO'}"
        if use_peer
        else "   Peer missing: no comparison (pip install -e '.[bench]')."
    )
    print()
    print("   Steady state (at the fixed point, no flips; the peer's cost does not depend on flips):")
    for r in recall:
        print(
            f"   N={r['n_units']}: dynet {r['dynet_steady_sweeps_per_s']:,.0f} sweeps/s"
            + (
                f", peer {r['peer_steady_sweeps_per_s']:,.1f} sweeps/s, ratio "
                f"{r['dynet_steady_sweeps_per_s'] / r['peer_steady_sweeps_per_s']:,.0f}x"
                if "peer_steady_sweeps_per_s" in r
                else ""
            )
        )
    print()

    # ---- part 2 table
    print("2. Dense fields h = W s (every field recomputed): synapse updates (N^2 per call) per second, one core.")
    print(f"   Median of {cfg['dense_repeats']} timings. Target for dynet: >= {TARGET_SYNAPSE_RATE:.0e} /s.")
    hdr = ["case", "N", "us/call", "synapse upd/s", "GB/s of W", "cpu/wall", "target"]
    rows = []
    for d in dense:
        is_dyn = d["case"].startswith("dynet")
        rows.append(
            [
                d["case"],
                d["n_units"],
                f"{1e6 * d['seconds_median']:.1f}",
                f"{d['synapse_updates_per_s']:.3g}",
                f"{d['bytes_per_s'] / 1e9:.1f}",
                f"{d['cpu_per_wall']:.2f}",
                ("MET" if d["synapse_updates_per_s"] >= TARGET_SYNAPSE_RATE else "MISSED") if is_dyn else "ref",
            ]
        )
    print(_table(hdr, rows))
    print()
    if any(d["cpu_per_wall"] > 1.2 for d in dense):
        print("   WARNING: cpu/wall > 1.2 -- some case ran on more than one thread.")
    print("   cpu/wall = process CPU time / wall time while timing: 1.0 = one busy thread; well below 1 means")
    print("   the process was preempted (a busy machine), so rerun for clean figures.")
    print("   Ratios dynet / numpy BLAS (same N):")
    ratios = {}
    for n in args.sizes:
        by = {d["case"]: d["synapse_updates_per_s"] for d in dense if d["n_units"] == n}
        i16 = by["dynet dense_fields, int16 W (Hebbian)"]
        f64 = by["dynet dense_fields, float64 W (pseudo-inverse)"]
        b64 = by["numpy W @ s, float64 (BLAS dgemv)"]
        b32 = by["numpy W @ s, float32 (BLAS sgemv)"]
        ratios[n] = {"int16_vs_blas_f64": i16 / b64, "int16_vs_blas_f32": i16 / b32, "f64_vs_blas_f64": f64 / b64}
        print(
            f"   N={n}: dynet int16 / BLAS float64 = {i16 / b64:.2f}x, dynet int16 / BLAS float32 = "
            f"{i16 / b32:.2f}x, dynet float64 / BLAS float64 = {f64 / b64:.2f}x"
        )
    print()

    # ---- part 3 table
    print("3. dynet asynchronous sweep breakdown (int16 Hebbian W, T = 0, one cue, median per sweep):")
    hdr = ["N", "init h=Ws", "1st sweep", "flips", "ns/flip elem", "steady sweep", "ns/unit perm", "ns/visit"]
    rows = []
    for b in breakdown:
        rows.append(
            [
                b["n_units"],
                f"{1e6 * b['init_fields_s']:.0f} us",
                f"{1e6 * b['first_sweep_s']:.0f} us",
                b["first_sweep_flips"],
                f"{b['ns_per_flip_element']:.3f}",
                f"{1e6 * b['steady_perm_sweep_s']:.1f} us",
                f"{b['ns_per_unit_permutation']:.1f}",
                f"{b['ns_per_visit']:.1f}",
            ]
        )
    print(_table(hdr, rows))
    print("   ns/flip elem: (1st sweep - steady sweep) / (flips * N), the per-flip row update h += 2 s_i W[i];")
    print("   steady sweep: a zero-flip sweep at the fixed point; ns/unit perm: the Fisher-Yates shuffle alone;")
    print("   ns/visit: (steady sweep - shuffle) / N, the decision per visited unit.")
    print()
    print(f"Total benchmark time: {perf() - t_start:.1f} s")

    if args.json:
        doc = {
            "machine": machine,
            "config": cfg,
            "quick": args.quick,
            "seed": args.seed,
            "targets": {"recall_ratio": TARGET_RATIO, "synapse_updates_per_s": TARGET_SYNAPSE_RATE},
            "peer_installed": _peer is not None,
            "recall": recall,
            "dense": dense,
            "dense_ratios": {str(k): v for k, v in ratios.items()},
            "breakdown": breakdown,
        }
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
