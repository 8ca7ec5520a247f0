"""Sweep comparisons: a final metric against a swept parameter, one line per value of the other
swept parameters, replicate means with standard-error bars."""

from __future__ import annotations

import numpy as np

from .common import (PlotError, caption_for_sweep, figure, finish, fmt, grouped, integer_ticks, legend, line_style,
                     numeric, sorted_unique, sweep_keys)


def choose_x(df, keys: list[str]) -> str | None:
    """The swept parameter to put on the x axis: the numeric one with the most values, else the
    one with the most values."""
    if not keys:
        return None
    scored = []
    for k in keys:
        vals = sorted_unique(df[k])
        scored.append((numeric(vals), len(vals), k))
    scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return scored[0][2]


def metric_plot(df, metric: str, x: str | None = None, *, title: str | None = None, ax=None, ylabel: str | None = None):
    """``metric`` against swept parameter ``x`` (default :func:`choose_x`), one line per combination
    of the other swept parameters. Non-numeric x values are placed at 0, 1, 2, ... and named."""
    if df.empty:
        raise PlotError("no complete runs to draw")
    if metric not in df or df[metric].isna().all():
        avail = [c for c in df.columns if c not in ("run_id", "scenario", "model", "replicate", "status")
                 and df[c].map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) or
                               isinstance(v, bool)).all()]
        raise PlotError(f"metric '{metric}' is not in these runs (numeric metrics: {', '.join(avail[:20])})")
    keys = sweep_keys(df)
    x = x or choose_x(df, keys)
    own = ax is None
    if own:
        fig, axes = figure(1, 1, width=7.5, height=4.6)
        ax = axes[0, 0]
    others = [k for k in keys if k != x]
    if x is None:  # no sweep: one point per replicate set
        rows = grouped(df, [], metric)
        _, mean, err, n = rows[0]
        ax.errorbar([0], [mean], yerr=[0 if np.isnan(err) else err], marker="o", capsize=3, label=f"{n} replicate(s)")
        ax.set_xticks([0], ["all runs"])
        ax.set_xlabel("")
    else:
        xs = sorted_unique(df[x])
        is_num = numeric(xs)
        pos = {v: (float(v) if is_num else i) for i, v in enumerate(xs)}
        rows = grouped(df, others + [x], metric)
        lines: dict = {}
        for k, mean, err, _ in rows:
            lines.setdefault(k[:-1], []).append((pos[k[-1]], mean, err))
        names = [fmt(v) for v in xs]
        # categories with long names (learning-rate schedules, initializations) go down the y axis
        horizontal = not is_num and (max(len(n) for n in names) > 14 or len(names) > 8)
        groups = sorted(lines.items(), key=lambda t: str(t[0]))
        for i, (name, pts) in enumerate(groups):
            pts.sort()
            px, py, pe = (np.array(v, float) for v in zip(*pts))
            label = ", ".join(f"{o}={fmt(v)}" for o, v in zip(others, name)) or metric
            style = line_style(i)
            if not is_num:  # no line between categories; groups side by side
                style["ls"] = "none"
                px = px + (i - (len(groups) - 1) / 2) * min(0.12, 0.6 / len(groups))
            if horizontal:
                ax.errorbar(py, px, xerr=np.nan_to_num(pe), capsize=2.5, label=label, **style)
            else:
                ax.errorbar(px, py, yerr=np.nan_to_num(pe), capsize=2.5, label=label, **style)
        if is_num and all(float(v).is_integer() for v in xs):
            integer_ticks(ax)
        if horizontal:
            ax.set_yticks(list(pos.values()), names, fontsize=8)
            ax.invert_yaxis()
            ax.set_ylabel(x)
            ax.set_xlabel(ylabel or metric)
            ax.grid(alpha=0.25)
            if others:
                legend(ax)
            if own:
                fig.set_figheight(max(4.6, 1.6 + 0.42 * len(names)))
                scen = df["scenario"].iloc[0]
                return finish(fig, title or f"{metric} across the sweep ({scen})",
                              caption_for_sweep(scen, df, keys, "error bars: standard error over replicates"))
            return ax
        if not is_num:
            ax.set_xticks(list(pos.values()), names, rotation=20 if len(xs) > 4 else 0,
                          ha="right" if len(xs) > 4 else "center", fontsize=8)
        ax.set_xlabel(x)
    ax.set_ylabel(ylabel or metric)
    ax.grid(alpha=0.25)
    if x is None or others:
        legend(ax)
    if own:
        scen = df["scenario"].iloc[0]
        return finish(fig, title or f"{metric} across the sweep ({scen})",
                      caption_for_sweep(scen, df, keys, "error bars: standard error over replicates"))
    return ax


def keys_of(df) -> list[str]:
    return sweep_keys(df)


def summary_panels(df, metrics: list[str], x: str | None = None, title: str | None = None):
    """One :func:`metric_plot` panel per metric that the runs have (up to 6)."""
    have = [m for m in metrics if m in df and df[m].notna().any()]
    varying = [m for m in have if df[m].dropna().astype(float).nunique() > 1]
    have = (varying or have)[:6]  # a metric equal in every run (epochs_run without early stopping) says nothing
    if not have:
        raise PlotError(f"none of the metrics {', '.join(metrics)} is in these runs")
    ncols = 1 if len(have) == 1 else 2
    nrows = -(-len(have) // ncols)
    n_x = len(sorted_unique(df[x])) if x else max((len(sorted_unique(df[k])) for k in keys_of(df)), default=1)
    per_row = max(3.4, 1.2 + 0.3 * n_x)  # horizontal category panels need room for their names
    fig, axes = figure(nrows, ncols, width=11 if ncols == 2 else 7.5, height=per_row * nrows + 1.0)
    for i, m in enumerate(have):
        metric_plot(df, m, x, ax=axes[i // ncols, i % ncols])
        axes[i // ncols, i % ncols].set_title(m, fontsize=10)
    for j in range(len(have), nrows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    scen = df["scenario"].iloc[0]
    keys = sweep_keys(df)
    return finish(fig, title or f"Summary metrics across the sweep ({scen})",
                  caption_for_sweep(scen, df, keys, "error bars: standard error over replicates"))
