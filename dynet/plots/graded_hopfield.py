"""Hopfield's graded-response network: energy, overlap and step size against time; the transition
from the single fixed point V = 0 to recall as the gain grows."""

from __future__ import annotations

import numpy as np

from .common import (
    PlotError,
    caption_for_run,
    caption_for_sweep,
    config_get,
    figure,
    finish,
    grouped,
    legend,
    run_info,
    values,
)

#: The recall threshold of the driver's ``recalled`` metric (overlap >= 0.9), drawn as a guide.
RECALL_LINE = 0.9


def dynamics(ds):
    """Against time t (row 0 is the cue at t = 0): the energy (top); the overlap with the cued pattern
    ``m = xi . V / N`` (middle); each accepted step's size (bottom, log axis, with
    ``max_i |du_i/dt|`` on a twin axis: what the adaptive method's step follows)."""
    info = run_info(ds)
    cfg, m = info["config"], info["metrics"]
    t = values(ds["t"])
    marker = "." if len(t) < 80 else None
    fig, axes = figure(3, 1, height=8.4, sharex=True)

    ax = axes[0, 0]
    ax.plot(t, values(ds["energy"]), color="C0", marker=marker, label="E")
    ax.set_ylabel("energy E")
    ax.set_title("E = -½ VᵀWV - I ΣV + (1/τ) Σ ∫₀^V g⁻¹, never increasing", fontsize=10)
    legend(ax)

    ax = axes[1, 0]
    cue = config_get(cfg, "init.pattern")
    ax.plot(t, values(ds["overlap"]), color="C1", lw=2, marker=marker, label=f"pattern {cue} (cue)")
    ax.axhline(RECALL_LINE, color="0.5", lw=0.8, ls=":", label=f"recall threshold {RECALL_LINE}")
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("overlap m")
    ax.set_title("overlap with the cued pattern m = ξ · V / N, V = tanh(λu)", fontsize=10)
    legend(ax, loc="lower right")

    ax = axes[2, 0]
    method = config_get(cfg, "integrator.method", "dopri5")
    dt = values(ds["dt"])
    ax.plot(t[1:], dt[1:], color="C2", marker=marker, drawstyle="steps-pre", label=f"step size ({method})")
    ax.set_yscale("log")
    ax.set_ylabel("step size dt")
    ax.set_xlabel("time t")
    ax2 = ax.twinx()
    ax2.plot(t, values(ds["speed"]), color="C3", lw=0.9, ls="--", label="max |du/dt|")
    ax2.set_yscale("log")
    ax2.set_ylabel("max |du/dt|", color="C3")
    title = "accepted step sizes" + (f" ({m['rejected_steps']} rejected)" if method == "dopri5" else "")
    ax.set_title(title, fontsize=10)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, frameon=False)

    extra = {
        "network.gain": config_get(cfg, "network.gain"),
        "network.n_units": config_get(cfg, "network.n_units"),
    }
    extra.update({k: m[k] for k in ("steps", "final_overlap", "recalled", "stop_reason") if m.get(k) is not None})
    extra = {k: v for k, v in extra.items() if v is not None and k not in (info.get("params") or {})}
    return finish(fig, f"Graded-response Hopfield dynamics ({info.get('scenario')})", caption_for_run(info, extra))


def gain(df):
    """Against the gain lambda (log axis), replicate mean ± sem: the final overlap with the cued
    pattern and the mean |V| (top), the fraction recalled (bottom); the critical gain
    ``1 / (tau mu_max(W))`` (mean over the runs) marked: below it every state decays to V = 0."""
    key = "network.gain"
    if key not in df:
        raise PlotError("gain: the runs do not sweep network.gain")
    fig, axes = figure(2, 1, height=6.4, sharex=True)
    ax = axes[0, 0]
    for metric, label, color in (
        ("final_overlap", "final overlap with the cue", "C1"),
        ("mean_abs_output", "mean |V|", "C0"),
    ):
        rows = grouped(df, [key], metric)
        ax.errorbar(
            [r[0][0] for r in rows],
            [r[1] for r in rows],
            yerr=[r[2] for r in rows],
            color=color,
            marker="o",
            capsize=2,
            label=label,
        )
    crit = float(np.nanmean(df["critical_gain"])) if "critical_gain" in df else None
    for a in axes[:, 0]:
        if crit is not None and np.isfinite(crit):
            a.axvline(crit, color="0.5", lw=0.8, ls=":", label=f"critical gain 1/(τ μ_max) ≈ {crit:.3g}")
    ax.set_xscale("log")
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("final state")
    ax.set_title("V = 0 below the critical gain → recall of the cued pattern", fontsize=10)
    legend(ax)
    ax = axes[1, 0]
    rows = grouped(df, [key], "recalled")
    ax.errorbar(
        [r[0][0] for r in rows], [r[1] for r in rows], yerr=[r[2] for r in rows], color="C3", marker="o", capsize=2
    )
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("fraction recalled")
    ax.set_xlabel("gain λ")
    scenario = df["scenario"].iloc[0] if "scenario" in df and len(df) else "?"
    return finish(
        fig, f"Graded-response Hopfield network against the gain ({scenario})", caption_for_sweep(scenario, df, [key])
    )
