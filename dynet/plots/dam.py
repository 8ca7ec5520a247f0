"""Dense associative memories: energy, overlap with the cue and flips against sweep, and recall
against the number of stored patterns per energy function."""

from __future__ import annotations

import numpy as np

from .common import (
    PlotError,
    caption_for_run,
    caption_for_sweep,
    config_get,
    figure,
    finish,
    fmt,
    grouped,
    integer_ticks,
    legend,
    line_style,
    run_info,
    sweep_keys,
    time_axis,
    values,
)

#: The recall threshold the driver's ``recalled`` metric uses (overlap >= 0.9), drawn as a guide.
RECALL_LINE = 0.9


def energy_label(config: dict) -> str:
    """What the stored ``energy`` is: E / N, or -log(-E) / N for the exponential F."""
    if config_get(config, "energy.function") == "exponential":
        return "-log(-E) / N"
    return "E / N"


def energy_function(config: dict) -> str:
    function = config_get(config, "energy.function", "polynomial")
    if function == "exponential":
        return "F(x) = exp(x)"
    n = config_get(config, "energy.n", "?")
    return f"F(x) = max(x, 0)^{n}" if function == "rectified" else f"F(x) = x^{n}"


def energy_overlap(ds):
    """The stored energy per unit, the overlap with the cued pattern and the flips per sweep
    against sweep (sweep 0 is the cue)."""
    info = run_info(ds)
    cfg = info["config"]
    _, sweep = time_axis(ds, "energy")
    fig, axes = figure(2, 1, height=6.2, sharex=True)
    ax = axes[0, 0]
    label = energy_label(cfg)
    ax.plot(sweep, values(ds["energy"]), color="C0", marker="." if len(sweep) < 60 else None, label=label)
    ax.set_ylabel(f"energy per unit {label}")
    if "flips" in ds:
        ax2 = ax.twinx()
        ax2.bar(sweep, values(ds["flips"]), color="C3", alpha=0.3, width=0.6, label="flips in the sweep")
        ax2.set_ylabel("flips", color="C3")
        ax.set_zorder(ax2.get_zorder() + 1)  # the energy line above the bars
        ax.patch.set_visible(False)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=8, frameon=False)
    else:
        legend(ax)
    ax.set_title(f"energy, {energy_function(cfg)}", fontsize=10)
    ax = axes[1, 0]
    cue = config_get(cfg, "init.pattern")
    ax.plot(
        sweep,
        values(ds["overlap"]),
        color="C1",
        lw=2,
        marker="." if len(sweep) < 60 else None,
        label=f"pattern {cue} (cue)",
    )
    ax.axhline(RECALL_LINE, color="0.5", lw=0.8, ls=":", label=f"recall threshold {RECALL_LINE}")
    ax.set_ylim(-1.05, 1.05)
    ax.set_title("overlap with the cued pattern m = ξ · s / N", fontsize=10)
    legend(ax, loc="lower right")
    ax.set_ylabel("overlap m")
    ax.set_xlabel("sweep")
    integer_ticks(ax)
    m = info["metrics"]
    extra = {"network.n_units": config_get(cfg, "network.n_units")}
    extra.update({k: m[k] for k in ("final_overlap", "converged", "n_patterns") if m.get(k) is not None})
    return finish(
        fig, f"Dense associative memory: energy and overlap ({info.get('scenario')})", caption_for_run(info, extra)
    )


def capacity(df):
    """Recall against the number of stored patterns P, one line per energy function, replicate means
    with standard errors."""
    if df.empty:
        raise PlotError("no complete runs to draw")
    if "n_patterns" not in df:
        raise PlotError("the runs have no 'n_patterns' metric")
    by = [c for c in ("energy.function", "energy.n") if c in df and df[c].nunique() > 1]
    fig, axes = figure(1, 2, width=11, height=4.4)
    for ax, metric, label in (
        (axes[0, 0], "recalled", f"fraction recalled (overlap ≥ {RECALL_LINE})"),
        (axes[0, 1], "final_overlap", "final overlap with the cue"),
    ):
        lines = {}
        for k, mean, err, _ in grouped(df, [*by, "n_patterns"], metric):
            name = ", ".join(f"{c.split('.')[-1]}={fmt(v)}" for c, v in zip(by, k[:-1])) or "all"
            lines.setdefault(name, []).append((k[-1], mean, err))
        for i, (name, pts) in enumerate(lines.items()):
            pts.sort()
            x, y, e = (np.array(v, float) for v in zip(*pts))
            ax.errorbar(x, y, yerr=np.nan_to_num(e), capsize=2.5, label=name, **line_style(i))
        if "n_units" in df and df["n_units"].nunique() == 1:
            ax.axvline(0.138 * df["n_units"].iloc[0], color="0.3", ls="--", lw=1, label="0.138 N (Hopfield, n = 2)")
        ax.set_xscale("log")
        ax.set_xlabel("stored patterns P")
        ax.set_ylabel(label)
        ax.set_ylim(-0.05 if metric == "recalled" else None, 1.05)
        legend(ax, loc="lower left")
    axes[0, 0].set_title("recall", fontsize=10)
    axes[0, 1].set_title("final overlap", fontsize=10)
    n = df["n_units"].iloc[0] if "n_units" in df else "?"
    return finish(
        fig,
        f"Dense associative memory capacity: recall against P (N = {fmt(n)})",
        caption_for_sweep(df["scenario"].iloc[0], df, sweep_keys(df), "error bars: standard error over replicates"),
    )
