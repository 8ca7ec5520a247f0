"""Feedforward networks: training curves with the learning rate, per-layer gradient / weight
norms and update ratios, weight histograms, autoencoder reconstructions and codes, and the
decision regions of a 2-D classifier rebuilt from the stored final weights."""

from __future__ import annotations

import math

import numpy as np

from .common import (
    PlotError,
    caption_for_run,
    config_get,
    figure,
    finish,
    image_grid,
    legend,
    run_info,
    time_axis,
    values,
)
from .hopfield import figure_for_images


def _layers(ds, prefix: str = "") -> list[int]:
    out = []
    while f"{prefix}weight_{len(out)}" in ds:
        out.append(len(out))
    return out


def training(ds):
    """Training and validation loss (log scale) and metric against epoch, the learning rate on a
    twin axis of the loss panel."""
    info = run_info(ds)
    _, epoch = time_axis(ds, "train_loss")
    fig, axes = figure(1, 2, width=11.5, height=4.6)
    ax = axes[0, 0]
    for col, label, c in (
        ("train_loss", "train loss", "C0"),
        ("val_loss", "validation loss", "C1"),
        ("batch_loss", "mean batch loss", "C7"),
    ):
        if col in ds:
            y = values(ds[col]).astype(float)
            ok = np.isfinite(y)
            if ok.any():
                ax.plot(
                    epoch[ok],
                    y[ok],
                    color=c,
                    lw=1.3 if col != "batch_loss" else 0.8,
                    ls="-" if col != "batch_loss" else ":",
                    label=label,
                )
    loss = config_get(info["config"], "network.loss") or info["metrics"].get("loss") or "loss"
    ax.set_ylabel(f"loss ({loss})" if isinstance(loss, str) else "loss")
    ax.set_xlabel("epoch")
    if all(np.nanmin(values(ds[c]).astype(float)) > 0 for c in ("train_loss",) if c in ds):
        ax.set_yscale("log")
    ax.set_title("loss", fontsize=10)
    if "lr" in ds:
        ax2 = ax.twinx()
        ax2.plot(epoch, values(ds["lr"]), color="C3", lw=1, ls="--", label="learning rate")
        ax2.set_ylabel("learning rate", color="C3")
        lr = values(ds["lr"]).astype(float)
        if np.nanmin(lr) > 0 and np.nanmax(lr) / np.nanmin(lr) > 20:
            ax2.set_yscale("log")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=8, frameon=False)
    else:
        legend(ax)
    ax = axes[0, 1]
    task_metric = _metric_name(info)
    for col, label, c in (("train_metric", "train", "C0"), ("val_metric", "validation", "C1")):
        if col in ds:
            y = values(ds[col]).astype(float)
            ok = np.isfinite(y)
            if ok.any():
                ax.plot(epoch[ok], y[ok], color=c, label=label)
    be = info["metrics"].get("best_epoch")
    if be and info["metrics"].get("restored_best"):
        ax.axvline(be, color="0.4", ls=":", label=f"best epoch {be} (restored)")
    tm = info["metrics"].get("test_metric")
    if tm is not None:
        ax.axhline(tm, color="C2", ls="--", lw=1, label=f"test {tm:.3f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(task_metric)
    ax.set_title(task_metric, fontsize=10)
    ax.grid(alpha=0.25)
    legend(ax)
    return finish(fig, f"Training ({info.get('scenario')})", caption_for_run(info))


def _metric_name(info: dict) -> str:
    cfg = info["config"]
    kind = config_get(cfg, "network.kind")
    if kind == "autoencoder":
        return "reconstruction R²"
    if kind == "linear" or config_get(cfg, "data.source") == "linear" or config_get(cfg, "data.task") == "regression":
        return "R²"
    return "accuracy"


def gradients(ds):
    """Per layer, against epoch (log scale): gradient norm, weight norm and update ratio
    ||dW|| / ||W||. Vanishing or exploding gradients show as layers fanning out."""
    info = run_info(ds)
    _, epoch = time_axis(ds, "grad_norm")
    fig, axes = figure(1, 3, width=14, height=4.6)
    n_layers = ds["grad_norm"].shape[1]
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    for ax, col, label in (
        (axes[0, 0], "grad_norm", "gradient norm ‖∂L/∂W‖"),
        (axes[0, 1], "weight_norm", "weight norm ‖W‖"),
        (axes[0, 2], "update_ratio", "update ratio ‖ΔW‖ / ‖W‖"),
    ):
        data = values(ds[col]).astype(float)
        drawn = False
        for l in range(n_layers):
            y = data[:, l]
            ok = np.isfinite(y) & (y > 0)
            if ok.any():
                ax.plot(epoch[ok], y[ok], color=cmap(l / max(1, n_layers - 1)), lw=1.2, label=f"layer {l}")
                drawn = True
        if drawn:
            ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "all zero", ha="center", va="center", transform=ax.transAxes, color="0.4")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.25, which="both")
    axes[0, 0].set_title("gradients", fontsize=10)
    axes[0, 1].set_title("weights", fontsize=10)
    axes[0, 2].set_title("updates", fontsize=10)
    axes[0, 2].legend(fontsize=7, frameon=False, ncol=2 if n_layers > 6 else 1)
    return finish(
        fig,
        f"Per-layer gradients, weights and updates ({n_layers} layers; layer 0 = input side)",
        caption_for_run(info),
    )


def weight_histograms(ds, bins: int = 50):
    """A histogram of each layer's final (or best) weights, the initial weights in grey behind."""
    info = run_info(ds)
    layers = _layers(ds)
    if not layers:
        raise PlotError("this run stored no weights")
    n = len(layers)
    ncols = min(n, 4)
    nrows = -(-n // ncols)
    fig, axes = figure(nrows, ncols, width=3.2 * ncols + 0.6, height=2.8 * nrows + 1.0)
    for l in layers:
        ax = axes[l // ncols, l % ncols]
        w = values(ds[f"weight_{l}"]).astype(float).ravel()
        lo, hi = float(w.min()), float(w.max())
        if f"initial_weight_{l}" in ds:
            w0 = values(ds[f"initial_weight_{l}"]).astype(float).ravel()
            lo, hi = min(lo, float(w0.min())), max(hi, float(w0.max()))
        edges = np.linspace(lo, hi if hi > lo else lo + 1e-6, bins + 1)
        if f"initial_weight_{l}" in ds:
            ax.hist(w0, bins=edges, color="0.75", label="initial")
        ax.hist(w, bins=edges, color="C0", alpha=0.75, label="final")
        shape = ds[f"weight_{l}"].shape
        ax.set_title(f"layer {l}: {shape[0]}→{shape[1]}, std {w.std():.3g}", fontsize=9)
        ax.set_xlabel("weight")
        ax.set_ylabel("count")
        legend(ax)
    for j in range(n, nrows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    return finish(fig, "Weight distributions per layer", caption_for_run(info))


# --------------------------------------------------------------------------- rebuilding the network


def _seed_sequence(info: dict) -> np.random.SeedSequence:
    seed = info.get("seed")
    if not isinstance(seed, dict):
        raise PlotError("the run's record has no seed to rebuild its data from")
    return np.random.SeedSequence(seed["entropy"], spawn_key=tuple(seed["spawn_key"]))


def stored_settings(info: dict):
    """The typed settings of a stored run (its ``config`` attribute validated by its model kind);
    :class:`PlotError` when they do not validate."""
    from ..errors import ScenarioError
    from ..scenario import run_settings

    try:
        return run_settings(info.get("model", "feedforward"), info["config"])
    except ScenarioError as exc:
        raise PlotError(f"the run's stored config does not validate: {exc}") from None


def rebuild_data(info: dict, base_dir: str = "."):
    """The run's data exactly as its driver drew them: ``(x raw (n, d), y, splits {name: index},
    (mean, std) of the training split or None)``."""
    from .. import data as _data
    from ..models.feedforward import driver as F

    cfg = stored_settings(info)
    data_ss, split_ss, _, _ = _seed_sequence(info).spawn(4)
    sha256 = config_get(info["config"], "data.sha256")
    x, y, _task = F.prepare_data(cfg, np.random.default_rng(data_ss), base_dir, sha256)
    d = cfg.data
    tr, va, te = _data.split(
        len(x), (1.0 - d.validation - d.test, d.validation, d.test), np.random.default_rng(split_ss)
    )
    norm = None
    if d.standardize:
        mean = x[tr].mean(axis=0)
        std = x[tr].std(axis=0)
        std[std == 0] = 1.0
        norm = (mean, std)
    return x, y, {"train": tr, "validation": va, "test": te}, norm


def forward(ds, info: dict, x: np.ndarray, upto: int | None = None) -> np.ndarray:
    """The network's evaluation-mode forward pass of inputs ``x`` (already standardized) from the
    stored weights: dense layers, batch norm with the running statistics, the activation,
    dropout's evaluation scaling; the logits of the output layer (or the outputs of layer
    ``upto``)."""
    from ..train import activations as A
    from ..train import dense as D

    cfg = stored_settings(info)
    act = cfg.network.activation
    param = cfg.network.activation_param
    param = A.DEFAULT_PARAMS.get(act, 0.0) if param is None else param
    reg = cfg.regularization
    layers = _layers(ds)
    n_hidden = len(layers) - 1
    drops = reg.dropout
    drops = list(drops) if isinstance(drops, list) else [drops] * n_hidden
    inverted = reg.dropout_mode == "inverted"
    eps = float(reg.batch_norm_eps)
    a = np.ascontiguousarray(x, np.float32)
    last = layers[-1] if upto is None else upto
    for l in layers[: last + 1]:
        W = values(ds[f"weight_{l}"]).astype(np.float32)
        b = values(ds[f"bias_{l}"]).astype(np.float32)
        z = a @ W + b
        if l < layers[-1]:
            if f"bn_gamma_{l}" in ds:
                D.batchnorm_forward_eval(
                    z,
                    values(ds[f"bn_gamma_{l}"]).astype(np.float32),
                    values(ds[f"bn_beta_{l}"]).astype(np.float32),
                    values(ds[f"bn_running_mean_{l}"]).astype(np.float32),
                    values(ds[f"bn_running_var_{l}"]).astype(np.float32),
                    eps,
                    z,
                )
            out = np.empty_like(z)
            A.ACTIVATIONS[act](z, out, float(param))
            p = float(drops[l]) if l < len(drops) else 0.0
            if p > 0.0:
                D.dropout_forward(out, np.ones_like(out), p, inverted, False, out)
            a = out
        else:
            a = z
    return a


def decision_applies(ds) -> bool:
    info = run_info(ds)
    return (
        "weight_0" in ds
        and ds["weight_0"].shape[0] == 2
        and config_get(info["config"], "network.kind") != "autoencoder"
        and config_get(info["config"], "data.source") != "linear"
        and config_get(info["config"], "data.task", "classification") != "regression"
    )


def decision_regions(ds, resolution: int = 300):
    """The class the network predicts over the plane of a 2-D classification problem (from the
    stored final weights and the run's data, redrawn from its seed), with the training
    (circles) and validation (crosses) points in their true classes."""
    info = run_info(ds)
    if not decision_applies(ds):
        raise PlotError("decision regions need a classifier of 2-D inputs")
    x, y, splits, norm = rebuild_data(info)
    pad = 0.15 * (x.max(axis=0) - x.min(axis=0)) + 1e-9
    lo, hi = x.min(axis=0) - pad, x.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.c_[gx.ravel(), gy.ravel()]
    inp = (grid - norm[0]) / norm[1] if norm else grid
    logits = forward(ds, info, inp).astype(np.float64)
    if logits.shape[1] == 1:
        cls = (logits[:, 0] > 0).astype(int)
        conf = 1.0 / (1.0 + np.exp(-np.abs(logits[:, 0])))
    else:
        cls = logits.argmax(axis=1)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        conf = (e / e.sum(axis=1, keepdims=True)).max(axis=1)
    n_cls = int(max(cls.max(), y.max())) + 1
    from matplotlib.colors import ListedColormap

    colors = [f"C{i % 10}" for i in range(n_cls)]
    fig, axes = figure(1, 1, width=7.0, height=6.4)
    ax = axes[0, 0]
    ax.contourf(
        gx, gy, cls.reshape(gx.shape), levels=np.arange(n_cls + 1) - 0.5, cmap=ListedColormap(colors), alpha=0.28
    )
    ax.contour(gx, gy, cls.reshape(gx.shape), levels=np.arange(n_cls) + 0.5, colors="k", linewidths=1)
    ax.contour(gx, gy, conf.reshape(gx.shape), levels=[0.9], colors="0.4", linewidths=0.6, linestyles=":")
    for name, marker in (("train", "o"), ("validation", "x")):
        idx = splits[name]
        for c in range(n_cls):
            sel = idx[y[idx] == c]
            if len(sel):
                big = 3.0 if len(x) < 50 else 1.0  # a handful of points (XOR) drawn larger
                ax.scatter(
                    x[sel, 0],
                    x[sel, 1],
                    marker=marker,
                    s=(22 if marker == "o" else 28) * big,
                    color=colors[c],
                    edgecolors="k" if marker == "o" else None,
                    linewidths=0.4,
                    label=f"class {c} ({name})",
                    gid=f"points_{name}_{c}",
                )
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("x₁ (input units)")
    ax.set_ylabel("x₂ (input units)")
    ax.legend(fontsize=7, frameon=True, framealpha=0.8, loc="upper right", ncol=2)
    ax._dynet_predicted = cls.reshape(gx.shape)
    m = info["metrics"]
    acc = {k: m[k] for k in ("train_metric", "val_metric") if m.get(k) is not None}
    return finish(
        fig,
        f"Decision regions ({config_get(info['config'], 'data.source')}; solid: boundary, dotted: 90% confidence)",
        caption_for_run(info, acc),
    )


def is_autoencoder(ds) -> bool:
    return config_get(run_info(ds)["config"], "network.kind") == "autoencoder"


def reconstructions(ds, count: int = 10):
    """Validation inputs (top row) and their reconstructions (bottom row) as images."""
    info = run_info(ds)
    if not is_autoencoder(ds):
        raise PlotError("reconstructions need an autoencoder run")
    x, _, splits, norm = rebuild_data(info)
    idx = splits["validation"] if len(splits["validation"]) else splits["train"]
    idx = idx[:count]
    inp = x[idx]
    net_in = (inp - norm[0]) / norm[1] if norm else inp
    out = forward(ds, info, net_in).astype(np.float64)
    if config_get(info["config"], "network.loss") == "bce_with_logits":
        out = 1.0 / (1.0 + np.exp(-out))
    if norm:
        out = out * norm[1] + norm[0]
    d = x.shape[1]
    side = int(round(math.sqrt(d)))
    if side * side != d:
        raise PlotError(f"the {d} inputs are not a square image")
    lo, hi = float(inp.min()), float(inp.max())
    images = [r.reshape(side, side) for r in inp] + [r.reshape(side, side) for r in out]
    titles = ["input"] + [""] * (len(idx) - 1) + ["reconstruction"] + [""] * (len(idx) - 1)
    fig = figure_for_images(len(images), ncols=len(idx), cell=1.05)
    image_grid(fig, images, titles, ncols=len(idx), vmin=lo, vmax=hi)
    m = info["metrics"]
    return finish(
        fig,
        "Autoencoder: validation inputs and reconstructions",
        caption_for_run(info, {"val_metric (R²)": m.get("val_metric")}),
    )


def codes(ds):
    """The bottleneck codes of the validation split: the first two code units (or the first two
    principal components of wider codes), coloured by label."""
    info = run_info(ds)
    c = values(ds["val_code"]).astype(float)
    labels = values(ds["val_label"]) if "val_label" in ds else None
    if c.shape[1] > 2:
        cc = c - c.mean(axis=0)
        _, s, vt = np.linalg.svd(cc, full_matrices=False)
        xy = cc @ vt[:2].T
        var = (s[:2] ** 2) / (s**2).sum()
        axis_names = [f"principal component {i + 1} ({100 * v:.0f}% of variance)" for i, v in enumerate(var)]
    elif c.shape[1] == 2:
        xy = c
        axis_names = ["code unit 0", "code unit 1"]
    else:
        xy = np.c_[c[:, 0], np.zeros(len(c))]
        axis_names = ["code unit 0", ""]
    fig, axes = figure(1, 1, width=7.0, height=6.0)
    ax = axes[0, 0]
    if labels is not None:
        for k in np.unique(labels):
            sel = labels == k
            ax.scatter(xy[sel, 0], xy[sel, 1], s=10, color=f"C{int(k) % 10}", label=str(int(k)), alpha=0.8)
        ax.legend(title="label", fontsize=7, frameon=False, markerscale=1.5, ncol=2, loc="best")
    else:
        ax.scatter(xy[:, 0], xy[:, 1], s=10)
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    return finish(
        fig, f"Autoencoder codes of the validation split ({c.shape[1]}-unit bottleneck)", caption_for_run(info)
    )


def gradient_profile(runs: list):
    """Gradient norm against layer depth, one line per run (a sweep's replicate-0 runs), at the
    first training epoch and at the last: vanishing gradients fall towards the input layer,
    exploding ones grow."""
    from .common import fmt, sorted_unique

    runs = [ds for ds in runs if "grad_norm" in ds]
    if not runs:
        raise PlotError("no run recorded per-layer gradient norms")
    infos = [run_info(ds) for ds in runs]
    keys = list(infos[0]["params"])
    fig, axes = figure(1, 2, width=12, height=5.2, sharey=True)
    labels = [", ".join(f"{k}={fmt(i['params'].get(k))}" for k in keys) or i["run_id"][:8] for i in infos]
    order = sorted_unique(labels)
    from matplotlib import colormaps

    cmap = colormaps["tab20" if len(order) > 10 else "tab10"]
    for ax, which in ((axes[0, 0], "first"), (axes[0, 1], "last")):
        for ds, label in zip(runs, labels):
            _, epoch = time_axis(ds, "grad_norm")
            g = values(ds["grad_norm"]).astype(float)
            rows = np.flatnonzero(epoch > 0) if (epoch > 0).any() else np.arange(len(epoch))
            if not len(rows):
                continue
            r = rows[0] if which == "first" else rows[-1]
            y = g[r]
            ok = np.isfinite(y) & (y > 0)
            i = order.index(label)
            ax.plot(
                np.arange(len(y))[ok],
                y[ok],
                marker="o",
                ms=3.5,
                lw=1.2,
                color=cmap(i % cmap.N),
                ls="-" if i < 10 else "--",
                label=label if which == "first" else None,
                gid=f"profile_{which}_{i}",
            )
            ax.set_title(
                f"{which} training epoch" + (f" ({int(epoch[r])})" if which == "last" else f" ({int(epoch[r])})"),
                fontsize=10,
            )
        ax.set_yscale("log")
        ax.set_xlabel("layer (0 = input side)")
        ax.grid(alpha=0.25, which="both")
        integer_ticks_x(ax)
    axes[0, 0].set_ylabel("gradient norm ‖∂L/∂W‖")
    fig.legend(loc="outside right center", fontsize=7, frameon=False)
    scen = infos[0].get("scenario")
    return finish(
        fig,
        f"Gradient norm against depth ({scen})",
        f"{scen} · {len(runs)} runs (replicate 0 of each sweep point) · "
        + "; ".join(f"{k} ∈ {fmt(sorted_unique([i['params'].get(k) for i in infos]))}" for k in keys),
    )


def integer_ticks_x(ax):
    from .common import integer_ticks

    integer_ticks(ax)
