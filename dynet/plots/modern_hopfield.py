"""Modern (continuous) Hopfield networks: energy, softmax weights and distances against step; the
regimes of a beta sweep."""

from __future__ import annotations

import math

import numpy as np

from .common import (
    PlotError,
    caption_for_run,
    caption_for_sweep,
    figure,
    finish,
    grouped,
    integer_ticks,
    legend,
    run_info,
    time_axis,
    values,
)


def dynamics(ds):
    """Three panels against step (step 0 is the cue): the energy; the largest softmax weight
    ``max_i p_i`` and the entropy ``H(p) / log N`` (both 1/N..1 and 0..1: near 1/N and 1 the global
    average, near 1 and 0 a single pattern, in between a mixture); the distance to the cued pattern and
    to the nearest stored pattern."""
    info = run_info(ds)
    _, step = time_axis(ds, "energy")
    m = info["metrics"]
    n = int(ds.sizes.get("pattern", 0)) or int(m.get("n_patterns") or 1)
    marker = "." if len(step) < 60 else None
    fig, axes = figure(3, 1, height=8.0, sharex=True)

    ax = axes[0, 0]
    ax.plot(step, values(ds["energy"]), color="C0", marker=marker, label="E")
    ax.set_ylabel("energy E")
    ax.set_title("energy E = -lse(β, Xᵀξ) + ½ ξᵀξ + β⁻¹ log N + ½ M²", fontsize=10)
    legend(ax)

    ax = axes[1, 0]
    ax.plot(step, values(ds["max_weight"]), color="C1", marker=marker, label="max weight max_i p_i")
    log_n = math.log(n) if n > 1 else 1.0
    ax.plot(step, values(ds["entropy"]) / log_n, color="C2", marker=marker, label="entropy H(p) / log N")
    ax.axhline(1.0 / n, color="0.5", lw=0.8, ls=":", label=f"1/N = {1.0 / n:.3g} (uniform)")
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("softmax weights p")
    ax.set_title(f"p = softmax(β Xᵀξ) over N = {n} patterns", fontsize=10)
    legend(ax)

    ax = axes[2, 0]
    if "distance_cued" in ds and np.isfinite(values(ds["distance_cued"])).any():
        ax.plot(step, values(ds["distance_cued"]), color="C3", lw=2, marker=marker, label="to the cued pattern")
    ax.plot(step, values(ds["distance_nearest"]), color="C4", ls="--", marker=marker, label="to the nearest pattern")
    ax.set_ylabel("distance ||ξ - x||")
    ax.set_xlabel("step")
    ax.set_title("distance of the state to stored patterns", fontsize=10)
    legend(ax)
    integer_ticks(ax)

    cfg = info["config"]
    extra = {
        "network.beta": cfg.get("network", {}).get("beta"),
        "network.dim": cfg.get("network", {}).get("dim"),
        "N": n,
    }
    extra.update({k: m[k] for k in ("steps", "retrieved", "retrieval_step") if m.get(k) is not None})
    extra = {k: v for k, v in extra.items() if v is not None and k not in (info.get("params") or {})}
    return finish(fig, f"Modern Hopfield dynamics ({info.get('scenario')})", caption_for_run(info, extra))


def regimes(df):
    """Against beta (log axis), replicate mean ± sem per point: the final state's largest softmax weight
    and entropy ``H / log N`` (top), and the fraction of runs that retrieved the cued pattern
    (bottom): the global average at small beta (``H / log N`` near 1), a single pattern at large
    beta (``H`` near 0, max weight near 1)."""
    key = "network.beta"
    if key not in df:
        raise PlotError("regimes: the runs do not sweep network.beta")
    fig, axes = figure(2, 1, height=6.4, sharex=True)
    ax = axes[0, 0]
    log_n = df["max_entropy"].where(df["max_entropy"] > 0, 1.0)  # N = 1: H = 0 = log N
    df = df.assign(entropy_ratio=df["entropy"] / log_n)
    for metric, label, color in (
        ("max_weight", "max weight max_i p_i", "C1"),
        ("entropy_ratio", "entropy H(p) / log N", "C2"),
    ):
        rows = grouped(df, [key], metric)
        x = [r[0][0] for r in rows]
        ax.errorbar(x, [r[1] for r in rows], yerr=[r[2] for r in rows], color=color, marker="o", capsize=2, label=label)
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("final softmax weights p")
    ax.set_title("global average (H = log N) → single pattern (H = 0)", fontsize=10)
    legend(ax)
    ax = axes[1, 0]
    rows = grouped(df, [key], "retrieved")
    ax.errorbar(
        [r[0][0] for r in rows], [r[1] for r in rows], yerr=[r[2] for r in rows], color="C3", marker="o", capsize=2
    )
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("fraction retrieved")
    ax.set_xlabel("inverse temperature β")
    scenario = df["scenario"].iloc[0] if "scenario" in df and len(df) else "?"
    return finish(fig, f"Modern Hopfield regimes against β ({scenario})", caption_for_sweep(scenario, df, [key]))
