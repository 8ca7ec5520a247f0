"""Elman recurrent networks: the loss against epoch and the gradient norm against time lag (one run);
the gradient norm against lag at initialization per sweep point (a spectral-radius sweep)."""

from __future__ import annotations

import numpy as np

from .common import (
    PlotError,
    caption_for_run,
    caption_for_sweep,
    figure,
    finish,
    fmt,
    integer_ticks,
    legend,
    param_order,
    run_info,
    sweep_keys,
    time_axis,
    values,
)


def _positive(x: np.ndarray) -> np.ndarray:
    """``x`` with zeros and non-finite values as NaN (a log axis skips them)."""
    x = np.asarray(x, float).copy()
    x[~np.isfinite(x) | (x <= 0)] = np.nan
    return x


def training(ds):
    """Two panels: the training and validation loss against epoch (log scale, the baseline loss of a
    network that learned nothing dotted); the mean norm of ``dL/dh_t`` against the lag ``T-1-t``
    back from the last step (log scale), at the first recorded epoch (initialization) and the last:
    below spectral radius 1 it falls geometrically, above it grows."""
    if "train_loss" not in ds or "lag_grad_norm" not in ds:
        raise PlotError("training: the run has no train_loss / lag_grad_norm trajectory")
    info = run_info(ds)
    m = info["metrics"]
    _, epoch = time_axis(ds, "train_loss")
    fig, axes = figure(1, 2, width=12, height=4.8)

    ax = axes[0, 0]
    ax.plot(epoch, _positive(values(ds["train_loss"])), color="C0", marker=".", label="training", gid="train_loss")
    ax.plot(epoch, _positive(values(ds["val_loss"])), color="C1", marker=".", label="validation", gid="val_loss")
    if m.get("baseline_loss"):
        ax.axhline(m["baseline_loss"], color="0.5", ls=":", lw=1, label=f"baseline {fmt(m['baseline_loss'])}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("loss", fontsize=10)
    integer_ticks(ax)
    legend(ax)

    ax = axes[0, 1]
    lag = values(ds["lag_grad_norm"]).astype(float)
    lags = np.arange(lag.shape[1])
    for row, label, color in ((0, "first", "C2"), (len(epoch) - 1, "last", "C3")):
        ax.plot(
            lags,
            _positive(lag[row]),
            color=color,
            lw=1.5,
            label=f"epoch {int(epoch[row])} ({label})",
            gid=f"lag_{label}",
        )
    ax.set_yscale("log")
    ax.set_xlabel("lag T-1-t (steps back from the last)")
    ax.set_ylabel("mean ||dL/dh_t||")
    ax.set_title("gradient norm against lag", fontsize=10)
    integer_ticks(ax)
    legend(ax)

    cfg = info["config"]
    extra = {
        "task": cfg.get("task", {}).get("name"),
        "T": cfg.get("task", {}).get("length"),
        "H": cfg.get("network", {}).get("hidden"),
        "ρ(W_hh) init": m.get("spectral_radius_init"),
        "ρ final": m.get("spectral_radius_final"),
    }
    extra = {k: v for k, v in extra.items() if v is not None}
    return finish(fig, f"Elman RNN training ({info.get('scenario')})", caption_for_run(info, extra))


def lag_sweep(runs: list, scenario: str, df):
    """The mean norm of ``dL/dh_t`` against lag at initialization (epoch 0), one line per run of a
    sweep (replicate 0), labelled by its swept parameters: vanishing and exploding gradients."""
    runs = [ds for ds in runs if "lag_grad_norm" in ds]
    if not runs:
        raise PlotError("lags: no run recorded lag_grad_norm")
    keys = sweep_keys(df)
    runs = sorted(runs, key=lambda ds: tuple(param_order(run_info(ds)["params"].get(k)) for k in keys))
    infos = [run_info(ds) for ds in runs]
    labels = [", ".join(f"{k}={fmt(i['params'].get(k))}" for k in keys) or i["run_id"][:8] for i in infos]
    order = list(dict.fromkeys(labels))
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    fig, axes = figure(1, 1, width=8, height=5.2)
    ax = axes[0, 0]
    for ds, label in zip(runs, labels):
        lag = values(ds["lag_grad_norm"][0]).astype(float)
        i = order.index(label)
        ax.plot(
            np.arange(lag.size), _positive(lag), color=cmap(i / max(1, len(order) - 1)), label=label, gid=f"lag_{i}"
        )
    ax.set_yscale("log")
    ax.set_xlabel("lag T-1-t (steps back from the last)")
    ax.set_ylabel("mean ||dL/dh_t|| at initialization")
    integer_ticks(ax)
    legend(ax)
    return finish(fig, f"Gradient norm against lag ({scenario})", caption_for_sweep(scenario, df, keys))
