"""RBMs, DBMs, DBNs and learning Boltzmann machines: training curves, filters and samples as
image grids, AIS estimates with error bars beside the exact values."""

from __future__ import annotations

import math

import numpy as np

from .common import (
    PlotError,
    caption_for_run,
    caption_for_sweep,
    figure,
    finish,
    fmt,
    image_grid,
    image_shape_of,
    legend,
    run_info,
    sweep_keys,
    time_axis,
    values,
)
from .hopfield import figure_for_images

MAX_FILTERS = 64


def isnan(da):
    import xarray as xr

    return xr.apply_ufunc(np.isnan, da, dask="allowed")


def _curve(ax, x, ds, name, label, **kw) -> bool:
    """Plot column ``name`` where it is finite; False when it is absent or all NaN."""
    if name not in ds:
        return False
    y = values(ds[name]).astype(float)
    ok = np.isfinite(y)
    if not ok.any():
        return False
    ax.plot(x[ok], y[ok], label=label, marker="." if ok.sum() < 40 else None, **kw)
    return True


def _empty(ax, why: str):
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _panels(ds, title: str, spec: list[tuple[str, str, list[tuple[str, str]]]], xlabel: str = "epoch"):
    """A 2-column grid of curve panels: ``(panel title, y label, [(column, legend label), ...])``;
    panels without any data are left out."""
    _, x = time_axis(ds, spec[0][2][0][0]) if spec[0][2][0][0] in ds else time_axis(ds, "epoch")
    have = [p for p in spec if any(c in ds and np.isfinite(values(ds[c]).astype(float)).any() for c, _ in p[2])]
    if not have:
        raise PlotError("this run recorded none of " + ", ".join(c for p in spec for c, _ in p[2]))
    ncols = 1 if len(have) == 1 else 2
    nrows = -(-len(have) // ncols)
    fig, axes = figure(nrows, ncols, width=11 if ncols == 2 else 7.5, height=3.3 * nrows + 1.0)
    for i, (ptitle, ylabel, cols) in enumerate(have):
        ax = axes[i // ncols, i % ncols]
        for c, label in cols:
            _curve(ax, x, ds, c, label)
        ax.set_title(ptitle, fontsize=10)
        ax.set_ylabel(ylabel)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.25)
        legend(ax)
    for j in range(len(have), nrows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    return fig, axes


def rbm_training(ds):
    """Reconstruction error, pseudo-likelihood, log-likelihood (exact, and AIS with its standard
    error) and the validation - training free-energy gap against epoch."""
    info = run_info(ds)
    gaussian = info["config"].get("network", {}).get("visible") == "gaussian"
    spec = [
        (
            "reconstruction",
            "reconstruction " + ("MSE" if gaussian else "error (mean squared)"),
            [("train_recon_error", "train"), ("val_recon_error", "validation")],
        ),
        (
            "pseudo-likelihood",
            "log pseudo-likelihood per sample (nats)",
            [("train_pseudo_likelihood", "train"), ("val_pseudo_likelihood", "validation")],
        ),
        (
            "log-likelihood",
            "log p(v) per sample (nats)",
            [
                ("train_log_likelihood", "train (exact)"),
                ("val_log_likelihood", "validation (exact)"),
                ("train_log_likelihood_ais", "train (AIS)"),
                ("val_log_likelihood_ais", "validation (AIS)"),
            ],
        ),
        ("free-energy gap", "F(validation) − F(train) (nats)", [("free_energy_gap", "gap")]),
    ]
    fig, axes = _panels(ds, "", spec)
    # AIS error bars on the log-likelihood panel
    for ax in fig.axes:
        if ax.get_title() == "log-likelihood" and "log_z_ais_se" in ds:
            _, x = time_axis(ds, "epoch")
            se = values(ds["log_z_ais_se"]).astype(float)
            for col in ("train_log_likelihood_ais", "val_log_likelihood_ais"):
                if col in ds:
                    y = values(ds[col]).astype(float)
                    ok = np.isfinite(y) & np.isfinite(se)
                    if ok.any():
                        ax.errorbar(x[ok], y[ok], yerr=se[ok], fmt="none", ecolor="0.3", capsize=3, lw=0.8)
    kind = "Gaussian-Bernoulli RBM" if gaussian else "RBM"
    bound = info["metrics"].get("max_train_log_likelihood")
    return finish(
        fig,
        f"{kind} training ({info.get('scenario')})",
        caption_for_run(info, {"empirical log-likelihood bound (train)": bound} if bound else None),
    )


def filters(ds, name: str = "weights", most: int = MAX_FILTERS):
    """Each hidden unit's incoming weights (a column of ``name``, visible x hidden) as an image,
    blue negative, red positive; the units with the largest weight norms first when there are
    more than ``most``."""
    info = run_info(ds)
    W = values(ds[name]).astype(float)
    nv, nh = W.shape
    shape = image_shape_of(ds, info, nv)
    if shape is None:
        side = int(round(math.sqrt(nv)))
        shape = (side, side) if side * side == nv else None
    if shape is None:
        fig, axes = figure(1, 1, height=4.8)
        ax = axes[0, 0]
        lim = float(np.abs(W).max()) or 1.0
        im = ax.imshow(W, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        fig.colorbar(im, ax=ax, label="weight")
        ax.set_xlabel("hidden unit")
        ax.set_ylabel("visible unit")
        return finish(fig, f"Weights {name}", caption_for_run(info))
    order = np.arange(nh)
    if nh > most:
        order = np.sort(np.argsort(-np.sqrt((W**2).sum(axis=0)))[:most])
    images = [W[:, j].reshape(shape) for j in order]
    ncols = min(len(images), 8)
    fig = figure_for_images(len(images), ncols=ncols, cell=1.05)
    image_grid(fig, images, [f"h{j}" for j in order], ncols=ncols, cmap="RdBu_r", symmetric=True)
    note = f"{len(order)} of {nh} units (largest weight norms)" if nh > most else f"all {nh} hidden units"
    return finish(fig, f"Filters: {name} ({note}; red +, blue −)", caption_for_run(info))


def samples(ds, chains: int = 8, steps: int = 8):
    """Gibbs samples as images: rows are chains, columns recorded steps (strided); reads only
    the samples drawn."""
    info = run_info(ds)
    step = values(ds["sample_step"])
    chain = values(ds["sample_chain"])
    n_vis = ds.sizes["visible"]
    shape = image_shape_of(ds, info, n_vis)
    if shape is None:
        side = int(round(math.sqrt(n_vis)))
        if side * side != n_vis:
            raise PlotError(f"the {n_vis} visible units are not an image")
        shape = (side, side)
    steps_all = np.unique(step)
    pick_steps = steps_all[
        np.unique(np.linspace(0, len(steps_all) - 1, min(steps, len(steps_all))).round().astype(int))
    ]
    pick_chains = np.unique(chain)[:chains]
    rows = [int(np.flatnonzero((step == s) & (chain == c))[0]) for c in pick_chains for s in pick_steps]
    data = values(ds["samples"].isel(sample=rows)).astype(float)
    images = [d.reshape(shape) for d in data]
    titles = [f"step {int(s)}" for s in pick_steps] + [""] * (len(images) - len(pick_steps))
    fig = figure_for_images(len(images), ncols=len(pick_steps), cell=1.05)
    gaussian = info["config"].get("network", {}).get("visible") == "gaussian"
    image_grid(fig, images, titles, ncols=len(pick_steps), vmin=None if gaussian else 0, vmax=None if gaussian else 1)
    return finish(
        fig,
        f"Gibbs samples: {len(pick_chains)} chains (rows) × {len(pick_steps)} recorded steps",
        caption_for_run(info),
    )


def ais(ds):
    """AIS estimates of log Z (± standard error) at the epochs where they were made, beside the
    exact log Z where it was summed; and the AIS log-likelihoods."""
    info = run_info(ds)
    _, x = time_axis(ds, "epoch")
    z = values(ds["log_z_ais"]).astype(float)
    se = values(ds["log_z_ais_se"]).astype(float)
    ok = np.isfinite(z)
    if not ok.any():
        raise PlotError("this run made no AIS estimate (record.ais_runs = 0)")
    fig, axes = figure(1, 2, width=11, height=4.4)
    ax = axes[0, 0]
    ax.errorbar(x[ok], z[ok], yerr=np.nan_to_num(se[ok]), fmt="o", capsize=4, color="C1", label="AIS ± se", gid="ais")
    if "log_z" in ds and np.isfinite(values(ds["log_z"]).astype(float)).any():
        _curve(ax, x, ds, "log_z", "exact log Z", color="k", lw=1.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("log Z (nats)")
    ax.set_title("partition function", fontsize=10)
    legend(ax)
    ax = axes[0, 1]
    for col, label, c in (
        ("train_log_likelihood_ais", "train (AIS)", "C0"),
        ("val_log_likelihood_ais", "validation (AIS)", "C2"),
    ):
        y = values(ds[col]).astype(float)
        good = np.isfinite(y)
        if good.any():
            ax.errorbar(x[good], y[good], yerr=np.nan_to_num(se[good]), fmt="o-", capsize=3, color=c, label=label)
    _curve(ax, x, ds, "train_log_likelihood", "train (exact)", color="C0", ls="--", lw=1)
    _curve(ax, x, ds, "val_log_likelihood", "validation (exact)", color="C2", ls="--", lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("log p(v) per sample (nats)")
    ax.set_title("log-likelihood", fontsize=10)
    legend(ax)
    runs = info["config"].get("record", {}).get("ais_runs")
    betas = info["config"].get("record", {}).get("ais_betas")
    return finish(fig, "Annealed importance sampling", caption_for_run(info, {"ais_runs": runs, "ais_betas": betas}))


def ais_sweep(df):
    """The final AIS log Z of each run (± its standard error) beside the exact log Z, one row per
    sweep point (replicates side by side)."""
    if "log_z_ais" not in df:
        raise PlotError("the runs have no AIS estimates")
    keys = sweep_keys(df)
    d = df[df["log_z_ais"].notna()].reset_index(drop=True)
    if d.empty:
        raise PlotError("the runs have no AIS estimates")
    labels = [
        ", ".join(f"{k}={fmt(r[k])}" for k in keys) + (f" r{r['replicate']}" if d["replicate"].max() else "")
        for _, r in d.iterrows()
    ]
    y = np.arange(len(d))
    has_exact = "log_z" in d and d["log_z"].notna().any()
    fig, axes = figure(
        1, 2 if has_exact else 1, width=12 if has_exact else 8.5, height=1.2 + 0.45 * len(d) + 1.2, sharey=True
    )
    ax = axes[0, 0]
    se = d["log_z_ais_se"].astype(float).fillna(0).to_numpy()
    z = d["log_z_ais"].astype(float).to_numpy()
    ax.errorbar(z, y, xerr=se, fmt="o", capsize=4, color="C1", label="AIS ± se", gid="ais")
    if has_exact:
        ok = d["log_z"].notna().to_numpy()
        exact = d["log_z"].astype(float).to_numpy()
        ax.plot(exact[ok], y[ok], "k|", ms=16, mew=2, label="exact log Z")
        diff = axes[0, 1]
        delta = z - exact
        diff.errorbar(
            delta[ok],
            y[ok],
            xerr=se[ok],
            fmt="o",
            capsize=4,
            color="C1",
            label="AIS − exact ± se",
            gid="ais_minus_exact",
        )
        diff.axvline(0, color="k", lw=1)
        diff.set_xlabel("AIS − exact log Z (nats)")
        diff.set_title("where log Z was summed exactly", fontsize=10)
        diff.grid(alpha=0.25, axis="x")
        legend(diff)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("log Z (nats)")
    ax.set_title("log Z", fontsize=10)
    ax.grid(alpha=0.25, axis="x")
    legend(ax)
    scen = d["scenario"].iloc[0]
    return finish(fig, f"AIS log Z at the end of training ({scen})", caption_for_sweep(scen, d, keys))


def dbm_training(ds):
    """Exact log-likelihood, its mean-field lower bound, reconstruction error and mean-field
    iterations against epoch."""
    info = run_info(ds)
    spec = [
        (
            "log-likelihood and lower bound",
            "nats per sample",
            [
                ("train_log_likelihood", "train log p(v)"),
                ("val_log_likelihood", "validation log p(v)"),
                ("train_lower_bound", "train bound"),
                ("val_lower_bound", "validation bound"),
            ],
        ),
        ("reconstruction", "reconstruction error", [("train_recon_error", "train"), ("val_recon_error", "validation")]),
        ("weights", "Frobenius norm", [("w1_norm", "‖W1‖"), ("w2_norm", "‖W2‖")]),
        ("mean field", "iterations to converge", [("mf_iterations", "iterations")]),
    ]
    fig, _ = _panels(ds, "", spec)
    return finish(fig, f"Deep Boltzmann machine training ({info.get('scenario')})", caption_for_run(info))


def bm_training(ds):
    """A learning Boltzmann machine: exact log-likelihood (train, validation), weight and bias
    norms against epoch."""
    info = run_info(ds)
    spec = [
        (
            "log-likelihood",
            "log p(v) per sample (nats)",
            [("train_log_likelihood", "train"), ("val_log_likelihood", "validation")],
        ),
        ("parameters", "norm", [("weight_norm", "‖W‖"), ("bias_norm", "‖b‖")]),
    ]
    fig, axes = _panels(ds, "", spec)
    m = info["metrics"]
    for ax in fig.axes:
        if ax.get_title() == "log-likelihood":
            if m.get("independent_log_likelihood") is not None:
                ax.axhline(m["independent_log_likelihood"], color="C3", ls="--", lw=0.8, label="independent units")
            legend(ax)
    bound = m.get("max_train_log_likelihood")
    return finish(
        fig,
        f"Boltzmann machine learning ({info.get('scenario')})",
        caption_for_run(info, {"empirical log-likelihood bound (train)": bound} if bound is not None else None),
    )


def weight_matrix(ds):
    """The symmetric coupling matrix (visible units first), red positive, blue negative."""
    info = run_info(ds)
    W = values(ds["weights"]).astype(float)
    fig, axes = figure(1, 1, width=6.5, height=6.0)
    ax = axes[0, 0]
    lim = float(np.abs(W).max()) or 1.0
    im = ax.imshow(W, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    fig.colorbar(im, ax=ax, label="coupling W_ij", shrink=0.8)
    nv = info["metrics"].get("n_visible")
    if nv and nv < len(W):
        ax.axhline(nv - 0.5, color="k", lw=0.8)
        ax.axvline(nv - 0.5, color="k", lw=0.8)
    ax.set_xlabel("unit j")
    ax.set_ylabel("unit i")
    return finish(fig, "Boltzmann machine couplings", caption_for_run(info))


def dbn_pretraining(ds):
    """Each RBM's reconstruction error and pseudo-likelihood (train, validation) against
    pretraining epoch, one colour per layer."""
    info = run_info(ds)
    layer = values(ds["pretrain_layer"])
    epoch = values(ds["pretrain_epoch"])
    fig, axes = figure(1, 2, width=11, height=4.4)
    for ax, col, ylabel in (
        (axes[0, 0], "recon_error", "reconstruction error"),
        (axes[0, 1], "pseudo_likelihood", "log pseudo-likelihood (nats)"),
    ):
        for l in np.unique(layer):
            sel = layer == l
            for split, ls in (("train", "-"), ("val", "--")):
                name = f"pretrain_{split}_{col}"
                if name in ds:
                    y = values(ds[name]).astype(float)[sel]
                    if np.isfinite(y).any():
                        ax.plot(
                            epoch[sel],
                            y,
                            ls=ls,
                            color=f"C{int(l)}",
                            label=f"RBM {int(l)} {'train' if split == 'train' else 'validation'}",
                        )
        ax.set_xlabel("pretraining epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.25)
        legend(ax)
    axes[0, 0].set_title("reconstruction", fontsize=10)
    axes[0, 1].set_title("pseudo-likelihood", fontsize=10)
    return finish(fig, "DBN greedy pretraining, layer by layer", caption_for_run(info))
