"""Sweep comparisons: a final metric against a swept parameter, one line per value of the other
swept parameters, replicate means with standard-error bars."""

from __future__ import annotations

import numpy as np

from .common import (
    LINESTYLES,
    PlotError,
    caption_for_sweep,
    figure,
    finish,
    fmt,
    grouped,
    integer_ticks,
    legend,
    line_style,
    numeric,
    sorted_unique,
    sweep_keys,
)


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
        avail = [
            c
            for c in df.columns
            if c not in ("run_id", "scenario", "model", "replicate", "status")
            and df[c]
            .map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) or isinstance(v, bool))
            .all()
        ]
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
                return finish(
                    fig,
                    title or f"{metric} across the sweep ({scen})",
                    caption_for_sweep(scen, df, keys, "error bars: standard error over replicates"),
                )
            return ax
        if not is_num:
            ax.set_xticks(
                list(pos.values()),
                names,
                rotation=20 if len(xs) > 4 else 0,
                ha="right" if len(xs) > 4 else "center",
                fontsize=8,
            )
        ax.set_xlabel(x)
    ax.set_ylabel(ylabel or metric)
    ax.grid(alpha=0.25)
    if x is None or others:
        legend(ax)
    if own:
        scen = df["scenario"].iloc[0]
        return finish(
            fig,
            title or f"{metric} across the sweep ({scen})",
            caption_for_sweep(scen, df, keys, "error bars: standard error over replicates"),
        )
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
    return finish(
        fig,
        title or f"Summary metrics across the sweep ({scen})",
        caption_for_sweep(scen, df, keys, "error bars: standard error over replicates"),
    )


#: The trajectory a sweep's ``curves`` plot draws by default, first recorded one wins.
CURVE_DEFAULTS = {
    "feedforward": ("val_loss", "train_loss"),
    "dbn": ("val_loss", "train_loss"),
    "rnn": ("val_loss", "train_loss"),
    "rbm": ("train_log_likelihood", "val_pseudo_likelihood", "train_recon_error"),
    "dbm": ("train_log_likelihood", "train_recon_error"),
    "boltzmann": ("train_log_likelihood", "energy"),
    "hopfield": ("energy",),
    "dam": ("overlap", "energy"),
    "modern-hopfield": ("distance_cued", "energy"),
    "graded-hopfield": ("overlap", "energy"),
    "ising": ("magnetization",),
}


#: kinds whose runs end early only at a fixed point: a finished run's last value holds afterwards
FIXED_POINT_STOPS = ("hopfield", "boltzmann", "dam", "modern-hopfield")


def curves(runs: list, var: str | None = None, model: str | None = None):
    """One trajectory (``var``, against its time axis) per sweep point: the replicate mean, a
    band of ± one standard error when there are replicates."""
    from .common import param_order, run_info, time_axis, values

    if not runs:
        raise PlotError("no runs to draw")
    infos = [run_info(ds) for ds in runs]
    model = model or infos[0].get("model")
    if var is None:
        var = next(
            (
                v
                for v in CURVE_DEFAULTS.get(model, ())
                if any(v in ds and ds[v].ndim == 1 and np.isfinite(values(ds[v]).astype(float)).any() for ds in runs)
            ),
            None,
        )
        if var is None:
            if model not in CURVE_DEFAULTS:
                raise PlotError(f"{model} runs have no default trajectory: name one with --metric")
            raise PlotError("these runs recorded none of " + ", ".join(CURVE_DEFAULTS[model]))
    have = [(ds, i) for ds, i in zip(runs, infos) if var in ds]
    if not have:
        raise PlotError(f"no run recorded '{var}'")
    if have[0][0][var].ndim != 1:
        raise PlotError(f"'{var}' is not one value per time step (dims {have[0][0][var].dims})")
    keys = list(infos[0]["params"])
    groups: dict = {}
    order: dict = {}  # label -> its parameter values, to list the points in numeric order
    for ds, info in have:
        label = ", ".join(f"{k}={fmt(info['params'].get(k))}" for k in keys) or "runs"
        order[label] = tuple(param_order(info["params"].get(k)) for k in keys)
        _, t = time_axis(ds, var)
        groups.setdefault(label, []).append((np.asarray(t, float), values(ds[var]).astype(float)))
    fig, axes = figure(1, 1, width=9.5, height=5.2)
    ax = axes[0, 0]
    dim = have[0][0][var].dims[0]
    for i, (label, series) in enumerate(sorted(groups.items(), key=lambda item: order[item[0]])):
        grid = np.unique(np.concatenate([t for t, _ in series]))
        stack = np.full((len(series), len(grid)), np.nan)
        for j, (t, y) in enumerate(series):
            stack[j, np.searchsorted(grid, t)] = y
            if model in FIXED_POINT_STOPS and len(t):  # a run that stopped at a fixed point stays there
                stack[j, np.searchsorted(grid, t[-1]) + 1 :] = y[-1]
        with np.errstate(invalid="ignore"), __import__("warnings").catch_warnings():
            __import__("warnings").simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(stack, axis=0)
            n = np.isfinite(stack).sum(axis=0)
            err = np.nanstd(stack, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1)) if len(series) > 1 else None
        ok = np.isfinite(mean)
        color = f"C{i % 10}"
        ax.plot(
            grid[ok],
            mean[ok],
            color=color,
            lw=1.4,
            ls=LINESTYLES[(i // 10) % len(LINESTYLES)],
            label=label + (f" (mean of {len(series)})" if len(series) > 1 else ""),
            gid=f"curve_{i}",
        )
        if err is not None:
            good = ok & np.isfinite(err)
            ax.fill_between(grid[good], (mean - err)[good], (mean + err)[good], color=color, alpha=0.2, lw=0)
    unit = have[0][0][var].attrs.get("units", "")
    name = have[0][0][var].attrs.get("long_name", var)
    ax.set_ylabel(f"{name}" + (f" ({unit})" if unit and unit != "1" else "") if name != var else var)
    ax.set_xlabel(dim)
    y_all = np.concatenate([y for s in groups.values() for _, y in s])
    y_all = y_all[np.isfinite(y_all)]
    if len(y_all) and (y_all > 0).all() and y_all.max() / y_all.min() > 50:
        ax.set_yscale("log")
    ax.grid(alpha=0.25)
    if len(groups) > 8:  # many sweep points: the legend beside the axes, not over the curves
        fig.set_figwidth(13)
        fig.legend(fontsize=7, frameon=False, loc="outside right center", ncol=1 if len(groups) <= 24 else 2)
    else:
        ax.legend(fontsize=7, frameon=False, loc="best")
    scen = infos[0].get("scenario")
    return finish(
        fig,
        f"{var} against {dim} per sweep point ({scen})",
        f"{scen} · {len(have)} runs · band: ± standard error over replicates",
    )
