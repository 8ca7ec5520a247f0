"""Hopfield networks: energy and overlaps against sweep, the state raster, patterns and recalled
states as images, and the capacity curve of a load sweep."""

from __future__ import annotations

import numpy as np

from .common import (
    PlotError,
    caption_for_run,
    caption_for_sweep,
    decimated,
    figure,
    finish,
    fmt,
    grouped,
    image_grid,
    image_shape_of,
    integer_ticks,
    legend,
    line_style,
    run_info,
    sweep_keys,
    time_axis,
    values,
)

#: Amit, Gutfreund & Sompolinsky's capacity of the Hebbian rule, alpha_c = P_max / N.
ALPHA_C = 0.138
MAX_OVERLAP_LINES = 12


def energy_overlaps(ds):
    """Energy per unit and the overlaps with the stored patterns against sweep (the cued
    pattern in bold), the temperature on a twin axis when it changes. A multi-cue run (a ``cue``
    dimension) draws :func:`cue_overlaps`."""
    if "cue" in ds["energy"].dims:
        return cue_overlaps(ds)
    info = run_info(ds)
    _, sweep = time_axis(ds, "energy")
    n = int(ds.sizes.get("unit", 0)) or int(info["metrics"].get("n_units") or 1)
    fig, axes = figure(2, 1, height=6.2, sharex=True)
    ax = axes[0, 0]
    ax.plot(sweep, values(ds["energy"]) / n, color="C0", marker="." if len(sweep) < 60 else None, label="E / N")
    ax.set_ylabel("energy per unit E / N")
    temps = values(ds["temperature"]) if "temperature" in ds else None
    if temps is not None and np.ptp(temps) > 0:
        ax2 = ax.twinx()
        ax2.plot(sweep, temps, color="C3", lw=1, ls="--", label="temperature T")
        ax2.set_ylabel("temperature T", color="C3")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=8, frameon=False)
    else:
        legend(ax)
    ax.set_title("energy", fontsize=10)
    ax = axes[1, 0]
    if "overlap" in ds:
        over = values(ds["overlap"])
        cue = info["config"].get("init", {}).get("pattern")
        n_pat = over.shape[1]
        show = list(range(min(n_pat, MAX_OVERLAP_LINES)))
        if cue is not None and cue not in show:
            show.append(cue)
        others = [f"C{i}" for i in (0, 2, 3, 4, 5, 6, 7, 8, 9)]
        for j, p in enumerate(show):
            bold = p == cue
            ax.plot(
                sweep,
                over[:, p],
                lw=2.2 if bold else 0.9,
                alpha=1.0 if bold else 0.6,
                zorder=3 if bold else 2,
                color="C1" if bold else others[j % len(others)],
                label=f"pattern {p}" + (" (cue)" if bold else ""),
            )
        ax.axhline(0.9, color="0.5", lw=0.8, ls=":", label="recall threshold 0.9")
        ax.set_ylim(-1.05, 1.05)
        ax.set_title(
            f"overlaps m_μ = ξ_μ · s / N ({n_pat} patterns"
            + (f", first {MAX_OVERLAP_LINES} drawn" if n_pat > MAX_OVERLAP_LINES else "")
            + ")",
            fontsize=10,
        )
        ax.legend(fontsize=7, frameon=False, ncol=3 if len(show) > 4 else 1, loc="lower right")
    else:
        ax.text(
            0.5, 0.5, "no overlaps recorded (record.overlaps = false)", ha="center", va="center", transform=ax.transAxes
        )
    ax.set_ylabel("overlap m")
    ax.set_xlabel("sweep")
    integer_ticks(ax)
    m = info["metrics"]
    extra = {k: m[k] for k in ("stop_reason", "final_overlap") if m.get(k) is not None}
    return finish(fig, f"Hopfield dynamics: energy and overlaps ({info.get('scenario')})", caption_for_run(info, extra))


def cue_overlaps(ds, most_lines: int = 200):
    """A multi-cue run: each cue's energy per unit and its overlap with its own cued pattern
    against sweep (up to ``most_lines`` cues), recalled cues in one color, the others in another."""
    info = run_info(ds)
    sweep = values(ds["sweep"])
    cues = values(ds["cue"])
    n = int(ds.sizes.get("unit", 0)) or int(info["metrics"].get("n_units") or 1)
    recalled = values(ds["cue_recalled"]).astype(bool) if "cue_recalled" in ds else np.zeros(len(cues), bool)
    shown = np.arange(len(cues)) if len(cues) <= most_lines else np.linspace(0, len(cues) - 1, most_lines).astype(int)
    fig, axes = figure(2, 1, height=6.2, sharex=True)
    energy = values(ds["energy"][shown]) / n
    over = values(ds["overlap"][shown]) if "overlap" in ds else None
    for panel, ax in enumerate(axes[:, 0]):
        for j, c in enumerate(shown):
            y = energy[j] if panel == 0 else (over[j, :, cues[c]] if over is not None else None)
            if y is None:
                continue
            ok = np.isfinite(y)  # a cue's rows end where it stopped
            ax.plot(sweep[ok], y[ok], lw=0.8, alpha=0.6, color="C0" if recalled[c] else "C3", gid=f"cue {cues[c]}")
    axes[0, 0].set_ylabel("energy per unit E / N")
    axes[0, 0].set_title(
        f"energy of each cue ({len(cues)} cues" + (f", {len(shown)} drawn" if len(shown) < len(cues) else "") + ")",
        fontsize=10,
    )
    ax = axes[1, 0]
    if over is None:
        ax.text(
            0.5, 0.5, "no overlaps recorded (record.overlaps = false)", ha="center", va="center", transform=ax.transAxes
        )
    else:
        ax.axhline(0.9, color="0.5", lw=0.8, ls=":")
        ax.plot([], [], color="C0", label=f"recalled ({int(recalled.sum())})")
        ax.plot([], [], color="C3", label=f"not recalled ({int((~recalled).sum())})")
        ax.plot([], [], color="0.5", lw=0.8, ls=":", label="recall threshold 0.9")
        ax.set_ylim(-1.05, 1.05)
        ax.legend(fontsize=7, frameon=False, loc="lower right")
        ax.set_title("overlap of each cue's state with its cued pattern", fontsize=10)
    ax.set_ylabel("overlap m")
    ax.set_xlabel("sweep")
    integer_ticks(ax)
    m = info["metrics"]
    extra = {k: m[k] for k in ("recall_fraction", "mean_final_overlap") if m.get(k) is not None}
    return finish(fig, f"Hopfield dynamics of every cue ({info.get('scenario')})", caption_for_run(info, extra))


def state_raster(ds, most_rows: int = 400, most_cols: int = 1200):
    """The state (+1 white, -1 black) of every unit against sweep; long runs and wide networks
    are strided (only the strided rows and columns are read)."""
    info = run_info(ds)
    if "state" not in ds:
        raise PlotError("this run stored no states (record.state = false)")
    data, rows, cols = decimated(ds["state"], most_rows, most_cols)
    _, sweep = time_axis(ds, "state")
    sweep = sweep[rows]
    fig, axes = figure(1, 1, height=4.8)
    ax = axes[0, 0]
    y0 = float(sweep[0]) - 0.5 if len(sweep) else -0.5
    y1 = float(sweep[-1]) + 0.5 if len(sweep) else 0.5
    ax.imshow(
        data,
        aspect="auto",
        cmap="gray",
        vmin=-1,
        vmax=1,
        interpolation="nearest",
        extent=(-0.5, ds.sizes[ds["state"].dims[1]] - 0.5, y1, y0),
    )
    ax.set_xlabel("unit" + (f" (every {cols[1] - cols[0]}th)" if len(cols) > 1 and cols[1] > 1 else ""))
    ax.set_ylabel("sweep" + (f" (every {rows[1] - rows[0]}th record)" if len(rows) > 1 and rows[1] > 1 else ""))
    ax.set_title("state s_i(t): white +1, black -1", fontsize=10)
    return finish(fig, "Hopfield state raster", caption_for_run(info))


def patterns_recall(ds):
    """Stored patterns, the initial (cue) state and the final (recalled) state as images."""
    info = run_info(ds)
    pats = values(ds["patterns"])
    n = pats.shape[1]
    shape = image_shape_of(ds, info, n)
    if shape is None:
        raise PlotError("the patterns are not images (patterns.source = 'images' draws them)")
    cue = info["config"].get("init", {}).get("pattern")
    shown = min(len(pats), 16)
    images = [pats[i].reshape(shape) for i in range(shown)]
    titles = [f"pattern {i}" + (" (cue)" if i == cue else "") for i in range(shown)]
    images.append(values(ds["initial_state"]).reshape(shape))
    titles.append("initial state")
    images.append(values(ds["final_state"]).reshape(shape))
    m = info["metrics"]
    fo = m.get("final_overlap")
    titles.append("final state" + (f"\nm = {fo:.2f}" if fo is not None else ""))
    fig = figure_for_images(len(images))
    image_grid(fig, images, titles, ncols=min(len(images), 6), vmin=-1, vmax=1)
    return finish(fig, "Hopfield recall: stored patterns, cue and recalled state", caption_for_run(info))


def figure_for_images(n: int, ncols: int = 6, cell: float = 1.35):
    from matplotlib.figure import Figure

    cols = min(n, ncols)
    rows = -(-n // cols)
    return Figure(figsize=(max(5.0, cols * cell + 0.6), rows * cell * 1.2 + 1.0), layout="constrained")


def capacity(df):
    """Recall against load alpha = P / N, one line per learning rule, replicate means with
    standard errors; the Hebbian capacity alpha_c = 0.138 marked. Runs that cue every pattern
    (``init.pattern`` a list or "all") draw their ``recall_fraction`` and ``mean_final_overlap``."""
    if df.empty:
        raise PlotError("no complete runs to draw")
    if "load" not in df:
        raise PlotError("the runs have no 'load' metric")
    multi = "recall_fraction" in df and df["recall_fraction"].notna().any()
    recall, overlap = ("recall_fraction", "mean_final_overlap") if multi else ("recalled", "final_overlap")
    by = "network.rule" if "network.rule" in df and df["network.rule"].nunique() > 1 else None
    keys = [by, "load"] if by else ["load"]
    fig, axes = figure(1, 2, width=11, height=4.4)
    for ax, metric, label in (
        (axes[0, 0], recall, "fraction recalled (overlap ≥ 0.9)" + (", over every cue" if multi else "")),
        (axes[0, 1], overlap, "final overlap with the cue" + (", mean over the cues" if multi else "")),
    ):
        rows = grouped(df, keys, metric)
        lines = {}
        for k, mean, err, _ in rows:
            lines.setdefault(k[0] if by else "all", []).append((k[-1], mean, err))
        for i, (name, pts) in enumerate(lines.items()):
            pts.sort()
            x, y, e = (np.array(v, float) for v in zip(*pts))
            ax.errorbar(x, y, yerr=np.nan_to_num(e), capsize=2.5, label=str(name), **line_style(i))
        ax.axvline(ALPHA_C, color="0.3", ls="--", lw=1, label="α_c = 0.138 (Hebbian)")
        ax.set_xlabel("load α = P / N")
        ax.set_ylabel(label)
        ax.set_ylim(-0.05 if metric == recall else None, 1.05)
        legend(ax, loc="lower left")
    axes[0, 0].set_title("recall", fontsize=10)
    axes[0, 1].set_title("final overlap", fontsize=10)
    n = df["n_units"].iloc[0] if "n_units" in df else "?"
    keys_all = sweep_keys(df) or [c for c in ("network.rule", "patterns.load") if c in df]
    return finish(
        fig,
        f"Hopfield capacity: recall against load (N = {fmt(n)})",
        caption_for_sweep(df["scenario"].iloc[0], df, keys_all, "error bars: standard error over replicates"),
    )
