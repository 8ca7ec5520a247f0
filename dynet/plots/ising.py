"""The Ising model and sampling Boltzmann machines: observables against T with Onsager's exact
curves and the Binder crossings, time series, lattice snapshots, parallel-tempering swap rates,
annealing energy traces."""

from __future__ import annotations

import math

import numpy as np

from .common import (
    PlotError,
    caption_for_run,
    caption_for_sweep,
    config_get,
    decimated,
    figure,
    finish,
    fmt,
    grouped,
    image_grid,
    lattice_side,
    legend,
    run_info,
    sorted_unique,
    sweep_keys,
    time_axis,
    values,
)

#: Onsager's critical temperature for J = 1.
T_C = 2.0 / math.log(1.0 + math.sqrt(2.0))


def onsager_magnetization(t: np.ndarray, coupling: float = 1.0) -> np.ndarray:
    """Spontaneous magnetization per spin, ``(1 - sinh(2J/T)^-4)^(1/8)`` below T_c, 0 above."""
    from ..models.ising.driver import onsager_magnetization as m

    return np.array([m(float(x), coupling) for x in np.atleast_1d(t)])


def onsager_energy(t: np.ndarray, coupling: float = 1.0) -> np.ndarray:
    """Exact energy per spin of the infinite lattice at h = 0::

        u = -J coth(2 beta J) [1 + (2/pi) (2 tanh^2(2 beta J) - 1) K(k)],  k = 2 sinh(2 beta J) / cosh^2(2 beta J)

    with ``K`` the complete elliptic integral of the first kind (scipy's ``ellipk`` takes
    ``m = k^2``; at T_c, where K diverges, its factor is exactly 0)."""
    from scipy.special import ellipk

    x = 2.0 * coupling / np.atleast_1d(np.asarray(t, float))
    k = 2.0 * np.sinh(x) / np.cosh(x) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = (2.0 * np.tanh(x) ** 2 - 1.0) * ellipk(np.minimum(k * k, 1.0))
    factor = np.where(np.isfinite(factor), factor, 0.0)
    return -coupling / np.tanh(x) * (1.0 + 2.0 / np.pi * factor)


def crossings(store, scenario: str) -> list[dict]:
    """Binder crossings of a (size x temperature) sweep (:func:`dynet.analysis.binder_crossings`);
    empty when the sweep has one size."""
    from ..analysis import binder_crossings

    try:
        return binder_crossings(store, scenario)
    except ValueError:
        return []


OBSERVABLES = (
    ("abs_magnetization", "⟨|m|⟩ per spin", "magnetization"),
    ("energy", "⟨e⟩ per spin (units of J)", "energy"),
    ("susceptibility", "χ = N(⟨m²⟩ − ⟨|m|⟩²) / T", "susceptibility"),
    ("heat_capacity", "C = N(⟨e²⟩ − ⟨e⟩²) / T² per spin", "heat capacity"),
    ("binder", "U = 1 − ⟨m⁴⟩ / 3⟨m²⟩²", "Binder cumulant"),
)


def transition(df, binder_crossings: list[dict] | None = None):
    """<|m|>, <e>, chi, C and U against temperature, one line per lattice size (replicate means,
    standard errors), with Onsager's exact magnetization and energy (J = 1, h = 0), T_c, and the
    Binder crossings of successive sizes."""
    if df.empty:
        raise PlotError("no complete runs to draw")
    if "temperature" not in df:
        raise PlotError("the runs have no 'temperature' metric")
    size_key = "size" if "size" in df else None
    coupling = float(df["lattice.coupling"].iloc[0]) if "lattice.coupling" in df else 1.0
    fig, axes = figure(3, 2, width=11, height=10.5)
    t = np.asarray(df["temperature"], float)
    tt = np.linspace(max(0.5, t.min() * 0.95), t.max() * 1.02, 400)
    for i, (metric, label, name) in enumerate(OBSERVABLES):
        ax = axes[i // 2, i % 2]
        rows = grouped(df, [size_key, "temperature"] if size_key else ["temperature"], metric)
        lines: dict = {}
        for k, mean, err, _ in rows:
            lines.setdefault(k[0] if size_key else None, []).append((k[-1], mean, err))
        for size, pts in sorted(lines.items(), key=lambda kv: (kv[0] is None, kv[0])):
            pts.sort()
            x, y, e = (np.array(v, float) for v in zip(*pts))
            ax.errorbar(
                x,
                y,
                yerr=np.nan_to_num(e),
                marker="o",
                ms=3.5,
                capsize=2,
                lw=1.2,
                label=f"L = {fmt(size)}" if size is not None else "runs",
            )
        if metric == "abs_magnetization":
            ax.plot(
                tt,
                onsager_magnetization(tt, coupling),
                color="k",
                lw=1.4,
                label="Onsager (L = ∞)",
                gid="onsager_magnetization",
            )
        if metric == "energy":
            ax.plot(tt, onsager_energy(tt, coupling), color="k", lw=1.4, label="Onsager (L = ∞)", gid="onsager_energy")
        ax.axvline(T_C * coupling, color="0.45", ls="--", lw=0.9, label=f"T_c = {T_C * coupling:.4f}")
        if metric == "binder":
            for c in binder_crossings or []:
                ax.plot(
                    [c["t_cross"]],
                    [c["binder"]],
                    marker="x",
                    color="C3",
                    ms=10,
                    mew=2,
                    label=f"crossing L={c['sizes'][0]},{c['sizes'][1]}: T = {c['t_cross']:.3f}",
                    gid="binder_crossing",
                )
        ax.set_xlabel("temperature T (units of J / k_B)")
        ax.set_ylabel(label)
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.25)
        legend(ax, loc="best")
    ax = axes[2, 1]
    ax.axis("off")
    lines = [
        "Onsager (2D, J = 1, h = 0):",
        f"T_c = 2 / ln(1 + √2) = {T_C:.5f}",
        "m₀(T) = (1 − sinh(2/T)⁻⁴)^(1/8), T < T_c",
        "u(T): the elliptic-integral formula",
    ]
    for c in binder_crossings or []:
        lines.append(
            f"Binder crossing L = {c['sizes'][0]}/{c['sizes'][1]}: T = {c['t_cross']:.4f} "
            f"({100 * (c['t_cross'] / T_C - 1):+.2f}% from T_c)"
        )
    ax.text(0.02, 0.95, "\n".join(lines), va="top", fontsize=9, family="monospace", transform=ax.transAxes)
    keys = sweep_keys(df) or ["lattice.size", "dynamics.temperature"]
    return finish(
        fig,
        "Ising model: the transition against temperature",
        caption_for_sweep(df["scenario"].iloc[0], df, keys, "error bars: standard error over replicates"),
    )


def ising_series(ds, most: int = 5000):
    """Magnetization and energy per spin against sweep (long series strided to ``most`` points),
    with the run's averages and Onsager's values."""
    info = run_info(ds)
    _, sweep = time_axis(ds, "magnetization")
    step = max(1, math.ceil(len(sweep) / most))
    m = values(ds["magnetization"][::step])
    e = values(ds["energy"][::step])
    sweep = sweep[::step]
    met = info["metrics"]
    fig, axes = figure(2, 1, height=6.0, sharex=True)
    ax = axes[0, 0]
    ax.plot(sweep, m, lw=0.6, color="C0", label="m(t)")
    if met.get("abs_magnetization") is not None:
        ax.axhline(met["abs_magnetization"], color="C1", lw=1.2, label=f"⟨|m|⟩ = {met['abs_magnetization']:.3f}")
        ax.axhline(-met["abs_magnetization"], color="C1", lw=1.2)
    if met.get("exact_abs_magnetization") is not None:
        ax.axhline(
            met["exact_abs_magnetization"],
            color="k",
            ls="--",
            lw=1,
            label=f"Onsager {met['exact_abs_magnetization']:.3f}",
        )
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("magnetization per spin m")
    legend(ax, loc="lower right", ncol=3)
    ax = axes[1, 0]
    ax.plot(sweep, e, lw=0.6, color="C2", label="e(t)")
    if met.get("energy") is not None:
        ax.axhline(met["energy"], color="C1", lw=1.2, label=f"⟨e⟩ = {met['energy']:.3f}")
    if met.get("exact_energy") is not None:
        ax.axhline(met["exact_energy"], color="k", ls="--", lw=1, label=f"Onsager {met['exact_energy']:.3f}")
    ax.set_ylabel("energy per spin e (J)")
    ax.set_xlabel("sweep" + (f" (every {step}th record drawn)" if step > 1 else ""))
    legend(ax, loc="upper right", ncol=3)
    return finish(
        fig, f"Ising model at T = {fmt(met.get('temperature'))}: magnetization and energy", caption_for_run(info)
    )


def lattice_snapshots(ds, most: int = 11):
    """The initial lattice, up to ``most`` recorded snapshots and the final lattice."""
    info = run_info(ds)
    images, titles = [values(ds["initial_lattice"])], ["initial"]
    if "lattice" in ds:
        n = ds.sizes["snapshot"]
        idx = np.unique(np.linspace(0, n - 1, min(n, most)).round().astype(int)) if n else []
        sweeps = values(ds["snapshot_sweep"]) if "snapshot_sweep" in ds else np.arange(n)
        for i in idx:
            images.append(values(ds["lattice"][int(i)]))
            titles.append(f"sweep {int(sweeps[i])}")
    images.append(values(ds["final_lattice"]))
    titles.append("final")
    from .hopfield import figure_for_images

    fig = figure_for_images(len(images), ncols=min(len(images), 7), cell=1.6)
    image_grid(fig, images, titles, ncols=min(len(images), 7), vmin=-1, vmax=1)
    met = info["metrics"]
    return finish(
        fig,
        f"Ising lattice snapshots (L = {met.get('size')}, T = {fmt(met.get('temperature'))}; white +1, black −1)",
        caption_for_run(info),
    )


# --------------------------------------------------------------------------- sampling Boltzmann machines


def bm_energy(ds):
    """Energy per unit (lowest temperature of a tempering run), mean state and pattern overlaps
    against sweep; the temperature schedule on a twin axis."""
    info = run_info(ds)
    _, sweep = time_axis(ds, "energy")
    n = int(info["metrics"].get("n_units") or ds.sizes.get("unit", 1))
    energy = values(ds["energy"])
    mean_state = values(ds["mean_state"])
    tempering = energy.ndim == 2
    if tempering:
        energy, mean_state = energy[:, 0], mean_state[:, 0]
    has_overlap = "overlap" in ds
    fig, axes = figure(3 if has_overlap else 2, 1, height=8.2 if has_overlap else 5.8, sharex=True)
    ax = axes[0, 0]
    ax.plot(sweep, energy / n, color="C0", lw=1, label="E / N" + (" (lowest T)" if tempering else ""))
    ax.set_ylabel("energy per unit E / N")
    temps = (
        values(ds["temperature"]) if "temperature" in ds and ds["temperature"].dims == ds["energy"].dims[:1] else None
    )
    if temps is not None and np.ptp(temps) > 0:
        ax2 = ax.twinx()
        ax2.plot(sweep, temps, color="C3", ls="--", lw=1, label="temperature T")
        ax2.set_ylabel("temperature T", color="C3")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=8, frameon=False, loc="upper right")
    else:
        legend(ax)
    ax = axes[1, 0]
    ax.plot(sweep, mean_state, color="C2", lw=1, label="mean state")
    ax.set_ylabel("mean state ⟨s⟩")
    legend(ax)
    if has_overlap:
        ax = axes[2, 0]
        over = values(ds["overlap"])
        for p in range(min(over.shape[1], 10)):
            ax.plot(sweep, over[:, p], lw=1, label=f"pattern {p}")
        ax.set_ylabel("overlap m")
        ax.set_ylim(-1.05, 1.05)
        legend(ax, ncol=3, loc="lower right")
    axes[-1, 0].set_xlabel("sweep")
    met = info["metrics"]
    extra = {k: met[k] for k in ("final_energy", "lowest_energy") if met.get(k) is not None}
    schedule = config_get(info["config"], "dynamics.schedule")
    what = {
        "constant": f"T = {fmt(config_get(info['config'], 'dynamics.temperature'))}",
        "quench": "T = 0 quench",
        "tempering": "parallel tempering, lowest T",
    }.get(schedule, f"{schedule} annealing")
    return finish(fig, f"Boltzmann machine sampling ({what})", caption_for_run(info, extra))


def tempering(ds):
    """Parallel tempering: the swap acceptance rate of each neighbouring temperature pair (overall,
    from the attempt counts), and the mean energy per unit at each temperature."""
    info = run_info(ds)
    if "temperatures" in ds:
        temps = values(ds["temperatures"])
    elif "temperature" in ds and ds["temperature"].dims == ("temperature",):  # the ladder as a coordinate
        temps = values(ds["temperature"])
    else:
        temps = None
    if temps is None:
        raise PlotError("not a tempering run (no 'temperatures')")
    att = values(ds["swap_attempts"]).astype(float)
    acc = values(ds["swap_accepts"]).astype(float)
    rate = np.where(att > 0, acc / np.maximum(att, 1), np.nan)
    mid = 0.5 * (temps[:-1] + temps[1:])
    n = int(info["metrics"].get("n_units") or ds.sizes.get("unit", 1))
    fig, axes = figure(1, 2, width=11, height=4.4)
    ax = axes[0, 0]
    ax.plot(mid, rate, marker="o", color="C0", label="accepted / attempted")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("temperature pair midpoint (T_k + T_{k+1}) / 2")
    ax.set_ylabel("swap acceptance rate")
    ax.set_title(f"swaps between {len(temps)} temperatures", fontsize=10)
    legend(ax)
    ax = axes[0, 1]
    e = values(ds["energy"]) / n
    ax.errorbar(
        temps,
        e.mean(axis=0),
        yerr=e.std(axis=0),
        marker="o",
        ms=4,
        capsize=2,
        color="C2",
        label="mean ± std over records",
    )
    ax.set_xlabel("temperature T")
    ax.set_ylabel("energy per unit E / N")
    ax.set_title("energy at each temperature", fontsize=10)
    legend(ax)
    met = info["metrics"]
    return finish(
        fig,
        "Parallel tempering",
        caption_for_run(info, {k: met[k] for k in ("swap_acceptance", "min_swap_acceptance") if k in met}),
    )


def bm_states(ds, most: int = 11):
    """State snapshots (lowest temperature of a tempering run) as images when the units form a
    lattice or images, else as a raster (units against snapshot)."""
    info = run_info(ds)
    where = ""
    if "state" in ds:
        st = ds["state"]
        if st.ndim == 3:
            st = st.isel(temperature=0)
            where = " at the lowest temperature"
        sweeps = values(ds["snapshot_sweep"]) if "snapshot_sweep" in ds else np.arange(st.shape[0])
    else:
        st = ds["final_state"]
        if st.ndim == 2:
            st = st.isel(temperature=0)
            where = " at the lowest temperature"
        st = st.expand_dims("snapshot")
        sweeps = np.array([info["metrics"].get("sweeps_done", 0)])
    n = st.shape[1]
    side = lattice_side(info, n)
    lo = -1 if config_get(info["config"], "network.spins", "ising") == "ising" else 0
    if side is not None:
        k = st.shape[0]
        idx = np.unique(np.linspace(0, k - 1, min(k, most)).round().astype(int))
        images = [values(st[int(i)]).reshape(side, side) for i in idx]
        titles = [f"sweep {int(sweeps[i])}" for i in idx]
        from .hopfield import figure_for_images

        fig = figure_for_images(len(images), cell=2.0)
        image_grid(fig, images, titles, ncols=min(6, len(images)), vmin=lo, vmax=1)
    else:
        data, rows, cols = decimated(st)
        fig, axes = figure(1, 1, height=4.6)
        ax = axes[0, 0]
        ax.imshow(data, aspect="auto", cmap="gray", vmin=lo, vmax=1, interpolation="nearest")
        ax.set_ylabel("snapshot")
        ax.set_xlabel("unit")
        ticks = np.linspace(0, len(rows) - 1, min(len(rows), 6)).round().astype(int)
        ax.set_yticks(ticks, [str(int(sweeps[rows[i]])) for i in ticks])
        ax.set_ylabel("sweep")
    return finish(fig, f"Boltzmann machine states{where}", caption_for_run(info, {"colours": "white high, black low"}))


def annealing_traces(runs: list):
    """Energy per unit against sweep of several runs, one colour per sweep point (replicates in the
    same colour), the temperature schedules on a second panel."""
    if not runs:
        raise PlotError("no runs to draw")
    infos = [run_info(ds) for ds in runs]
    keys = list(infos[0].get("params", {}).keys())
    labels = [", ".join(f"{k}={fmt(i['params'].get(k))}" for k in keys) or "runs" for i in infos]
    order = sorted_unique(labels)
    fig, axes = figure(2, 1, height=7.2, sharex=True)
    seen = set()
    for ds, info, label in zip(runs, infos, labels):
        if "sweep" not in ds or "energy" not in ds:
            continue
        _, sweep = time_axis(ds, "energy")
        e = values(ds["energy"])
        if e.ndim == 2:
            e = e[:, 0]
        n = int(info["metrics"].get("n_units") or 1)
        c = f"C{order.index(label) % 10}"
        short = len(sweep) < 8  # a quench that stopped at once: markers, drawn on top
        axes[0, 0].plot(
            sweep,
            e / n,
            color=c,
            lw=1.6 if short else 0.9,
            alpha=0.9 if short else 0.75,
            marker="o" if short else None,
            ms=4,
            zorder=4 if short else 2,
            label=None if label in seen else label,
        )
        if label not in seen and "temperature" in ds and ds["temperature"].dims == ds["energy"].dims[:1]:
            axes[1, 0].plot(
                sweep,
                values(ds["temperature"]),
                color=c,
                lw=1.2,
                label=label,
                marker="o" if short else None,
                ms=4,
                zorder=4 if short else 2,
            )
        seen.add(label)
    axes[0, 0].set_ylabel("energy per unit E / N")
    axes[0, 0].set_title("energy traces (every replicate)", fontsize=10)
    legend(axes[0, 0])
    axes[1, 0].set_ylabel("temperature T")
    axes[1, 0].set_xlabel("sweep")
    axes[1, 0].set_title("temperature schedule", fontsize=10)
    legend(axes[1, 0])
    scen = infos[0].get("scenario")
    return finish(fig, f"Annealing: energy against sweep ({scen})", f"{scen} · {len(runs)} runs · " + "; ".join(order))
