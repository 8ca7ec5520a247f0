"""Helpers every plot module shares: figures, captions, run attributes, decimation, image grids,
replicate statistics, and reading runs and sweeps out of a store.

Plotting functions take plain data (an :class:`xarray.Dataset` of one run, a
:class:`pandas.DataFrame` of runs) and return a :class:`matplotlib.figure.Figure`; they never
touch pyplot's global state, so they are safe in servers and tests (the Agg canvas).
"""

from __future__ import annotations

import json
import math
import os
import textwrap

import numpy as np
from matplotlib.figure import Figure

from dynet.errors import DynetError

#: Most rows (time points) and columns (units) a raster draws; longer arrays are strided.
MAX_RASTER_ROWS = 400
MAX_RASTER_COLS = 1200
#: Most panels an image grid draws.
MAX_IMAGES = 64

#: Config keys worth naming in a caption, per model (dotted paths into the run's config).
KEY_PARAMS = {
    "hopfield": (
        "network.n_units",
        "network.rule",
        "patterns.source",
        "patterns.count",
        "patterns.load",
        "init.kind",
        "init.fraction",
        "dynamics.update",
        "dynamics.temperature",
    ),
    "ising": (
        "lattice.size",
        "lattice.coupling",
        "lattice.field",
        "dynamics.algorithm",
        "dynamics.temperature",
        "dynamics.sweeps",
    ),
    "boltzmann": (
        "network.topology",
        "network.visible",
        "network.hidden",
        "network.spins",
        "weights.source",
        "dynamics.method",
        "dynamics.schedule",
        "dynamics.temperature",
        "training.epochs",
        "training.lr",
    ),
    "rbm": (
        "data.source",
        "network.visible",
        "network.n_hidden",
        "training.method",
        "training.k",
        "training.epochs",
        "training.lr",
        "training.batch_size",
    ),
    "dbm": ("data.source", "network.n_hidden1", "network.n_hidden2", "training.k", "training.epochs", "training.lr"),
    "dbn": (
        "data.source",
        "network.hidden",
        "pretrain",
        "pretraining.epochs",
        "optimizer.name",
        "optimizer.lr",
        "training.epochs",
    ),
    "feedforward": (
        "data.source",
        "network.kind",
        "network.hidden",
        "network.activation",
        "init.weights",
        "optimizer.name",
        "optimizer.lr",
        "schedule.name",
        "training.epochs",
        "training.batch_size",
    ),
}


class PlotError(DynetError, ValueError):
    """A plot cannot be drawn from this run or sweep (the message says why, in one line)."""


# --------------------------------------------------------------------------- run attributes


def _decode(value):
    """Run attributes hold nested values as dicts, or (from some readers) as JSON strings."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def run_info(ds) -> dict:
    """The run record of a run's dataset (``ds.attrs``), nested values decoded: run_id, scenario,
    model, config, params, replicate, metrics, ..."""
    info = {k: _decode(v) for k, v in dict(ds.attrs).items()}
    for key in ("config", "params", "metrics"):
        if not isinstance(info.get(key), dict):
            info[key] = {}
    return info


def config_get(config: dict, dotted: str, default=None):
    """``config["a"]["b"]`` for ``"a.b"``; ``default`` where a level is missing."""
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


#: Keys that name what a sweep value is (``{weights = "normal", params = {std = 0.01}}`` reads
#: ``normal(std=0.01)``).
NAME_KEYS = ("name", "weights", "kind", "source", "method")


def _flat(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.extend(_flat(v, "" if k == "params" else f"{prefix}{k}."))
        elif v is not None:
            out.append((f"{prefix}{k}", v))
    return out


def fmt(v) -> str:
    """A value as a short label: numbers to 4 significant digits, a table (a swept sub-table,
    possibly read back as JSON) as ``name(key=value, ...)``."""
    v = _decode(v)
    if isinstance(v, tuple) and v and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in v):
        v = {k: _undo(x) for k, x in v}  # a table made hashable by _hashable
    if isinstance(v, dict):
        items = _flat(v)
        main = next((str(x) for k, x in items if k in NAME_KEYS), None)
        rest = ", ".join(f"{k}={fmt(x)}" for k, x in items if not (k in NAME_KEYS and str(x) == main))
        if main is None:
            return "{" + rest + "}"
        return f"{main}({rest})" if rest else main
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    return str(v)


def caption_for_run(info: dict, extra: dict | None = None) -> str:
    """One caption line or two: the run, its sweep point, and its model's key parameters."""
    cfg = info.get("config", {})
    model = info.get("model", "")
    head = f"{info.get('scenario', '?')} · run {str(info.get('run_id', '?'))[:10]} · replicate {info.get('replicate')}"
    params = info.get("params") or {}
    shown = {k: v for k, v in params.items()}
    for key in KEY_PARAMS.get(model, ()):
        v = config_get(cfg, key)
        covered = any(key == p or key.startswith(p + ".") for p in params)
        if v is not None and not covered:
            shown[key] = v
    if extra:
        shown.update(extra)
    return head + " · " + ", ".join(f"{k}={fmt(v)}" for k, v in shown.items())


def caption_for_sweep(scenario: str, df, keys: list[str], extra: str = "") -> str:
    n = len(df)
    reps = int(df["replicate"].max()) + 1 if "replicate" in df and n else 0
    swept = "; ".join(f"{k} ∈ {fmt(sorted_unique(df[k]))}" for k in keys)
    return f"{scenario} · {n} complete runs, {reps} replicate(s) per point · {swept}" + (f" · {extra}" if extra else "")


def sweep_keys(df) -> list[str]:
    """The swept-parameter columns of a runs DataFrame: ``df.attrs["sweep_keys"]``, else the
    columns of ``df.attrs["param_columns"]`` (``Store.runs``) these rows have values in."""
    keys = df.attrs.get("sweep_keys")
    if keys is None:
        keys = [c for c in df.attrs.get("param_columns", []) if c in df and df[c].notna().any()]
    return list(keys)


def param_order(value) -> tuple:
    """Sort key of a parameter value: numbers first, by value (0.0316 before 1 before 17.8),
    then anything else by its text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return (1, 0.0, str(value))
    return (0, float(value), "")


def sorted_unique(series) -> list:
    vals = []
    for v in series:
        v = _hashable(v)
        if v not in vals:
            vals.append(v)
    try:
        return sorted(vals)
    except TypeError:
        return vals


def _undo(v):
    if isinstance(v, tuple) and v and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in v):
        return {k: _undo(x) for k, x in v}
    return v


def _hashable(v):
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    if isinstance(v, np.generic):
        return v.item()
    return v


# --------------------------------------------------------------------------- figures


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 7.5, height: float | None = None, **kw):
    """A figure and its axes array (always 2-D)."""
    height = height if height is not None else 3.0 * nrows + 0.9
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def finish(fig: Figure, title: str, caption: str, width_chars: int | None = None) -> Figure:
    """Title on top, the caption (key parameters) wrapped in small type at the bottom."""
    fig.suptitle(title, fontsize=12, fontweight="bold")
    for ax in fig.axes:  # counters (sweeps, epochs) get whole-number ticks
        if ax.get_xlabel().split(" ")[0] in ("sweep", "epoch", "pretraining") and ax.get_xscale() == "linear":
            integer_ticks(ax)
    w = fig.get_figwidth()
    width_chars = width_chars or max(60, int(w * 15))
    text = "\n".join(textwrap.wrap(caption, width_chars)) if caption else ""
    if text:
        fig.supxlabel(text, fontsize=7.5, color="0.25", ha="center")
        fig._dynet_caption = caption  # tests read the full caption back
    return fig


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """``fig`` as a compact PNG: rendered, then stored with a palette of 256 colours (plots have
    few colours; this makes the files 2-3 times smaller than full RGBA)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - matplotlib depends on pillow
        return buf.getvalue()
    buf.seek(0)
    img = Image.open(buf).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    img.save(out, format="png", optimize=True)
    return out.getvalue()


def save(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Write ``fig`` as PNG, SVG or PDF (by the file's suffix)."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in (".png", ".svg", ".pdf"):
        raise PlotError(f"{path}: the output must end in .png, .svg or .pdf")
    if ext == ".png":
        data = png_bytes(fig, dpi)
        with open(path, "wb") as f:
            f.write(data)
        return
    fig.savefig(path, dpi=dpi, metadata={"Date": None} if ext == ".svg" else None)


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
LINESTYLES = ("-", "--", "-.", ":")


def line_style(i: int) -> dict:
    """Marker, size and line style of the i-th line of a comparison: lines that coincide stay
    visible (later ones are drawn smaller, with another marker and dash)."""
    return {
        "marker": MARKERS[i % len(MARKERS)],
        "ms": max(3.0, 6.5 - 0.8 * (i % 5)),
        "ls": LINESTYLES[(i // 2) % len(LINESTYLES)] if i else "-",
    }


def integer_ticks(ax, axis: str = "x") -> None:
    """Whole-number ticks (sweeps, epochs)."""
    from matplotlib.ticker import MaxNLocator

    (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))


def legend(ax, **kw):
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=8, frameon=False, **kw)


def twin_legend(ax, ax2, **kw):
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    if h1 or h2:
        ax.legend(h1 + h2, l1 + l2, fontsize=8, frameon=False, **kw)


# --------------------------------------------------------------------------- data helpers


def values(da) -> np.ndarray:
    """A (lazy) DataArray's values as a numpy array."""
    return np.asarray(da.values)


def time_axis(ds, var: str) -> tuple[str, np.ndarray]:
    """(dimension name, coordinate values) of the first dimension of ``ds[var]``; the stored
    counter (``sweep``, ``epoch``, ...) when there is one, else 0, 1, 2, ..."""
    dim = ds[var].dims[0]
    if dim in ds.coords:
        return dim, values(ds[dim])
    if dim in ds.data_vars and ds[dim].dims == (dim,):
        return dim, values(ds[dim])
    return dim, np.arange(ds.sizes[dim])


def stride(n: int, most: int) -> int:
    return max(1, math.ceil(n / most))


def decimated(da, most_rows: int = MAX_RASTER_ROWS, most_cols: int = MAX_RASTER_COLS):
    """``(array, row index, col index)``: ``da`` (2-D, lazy) strided to at most ``most_rows`` x
    ``most_cols``; only the strided slice is read."""
    d0, d1 = da.dims[:2]
    s0, s1 = stride(da.sizes[d0], most_rows), stride(da.sizes[d1], most_cols)
    part = da.isel({d0: slice(None, None, s0), d1: slice(None, None, s1)})
    return values(part), np.arange(0, da.sizes[d0], s0), np.arange(0, da.sizes[d1], s1)


def image_shape_of(ds, info: dict, n: int) -> tuple[int, int] | None:
    """The (rows, cols) of image-like units: the stored ``image_shape``, the bundled digits of a
    Hopfield ``images`` source (8 x 8), else None."""
    if "image_shape" in ds:
        shape = tuple(int(v) for v in values(ds["image_shape"]))
        if len(shape) == 2 and shape[0] * shape[1] == n:
            return shape
    if info.get("model") == "hopfield" and config_get(info.get("config", {}), "patterns.source") == "images":
        side = int(round(math.sqrt(n)))
        if side * side == n:
            return side, side
    return None


def lattice_side(info: dict, n: int) -> int | None:
    """The side of a square lattice of ``n`` units (Boltzmann ``lattice`` topology)."""
    if config_get(info.get("config", {}), "network.topology") == "lattice":
        side = int(round(math.sqrt(n)))
        if side * side == n:
            return side
    return None


def image_grid(
    fig: Figure,
    images: list[np.ndarray],
    titles: list[str] | None = None,
    *,
    ncols: int | None = None,
    cmap: str = "gray",
    symmetric: bool = False,
    spec=None,
    vmin=None,
    vmax=None,
):
    """Draw 2-D arrays as a grid of image panels (without ticks) into ``fig`` (or the subplot
    spec ``spec``); returns the list of image axes."""
    n = len(images)
    if n == 0:
        return []
    ncols = ncols or min(n, int(math.ceil(math.sqrt(n))) if n > 4 else n)
    nrows = int(math.ceil(n / ncols))
    grid = (
        spec.subgridspec(nrows, ncols, wspace=0.05, hspace=0.25)
        if spec is not None
        else fig.add_gridspec(nrows, ncols, wspace=0.05, hspace=0.25)
    )
    axes = []
    for i, img in enumerate(images):
        ax = fig.add_subplot(grid[i // ncols, i % ncols])
        if symmetric:
            lim = float(np.nanmax(np.abs(img))) or 1.0
            ax.imshow(img, cmap=cmap, vmin=-lim, vmax=lim, interpolation="nearest")
        else:
            ax.imshow(img, cmap=cmap, interpolation="nearest", vmin=vmin, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        ax._dynet_image_panel = True
        if titles:
            ax.set_title(titles[i], fontsize=7, pad=2)
        axes.append(ax)
    return axes


def image_panels(fig: Figure) -> list:
    """The axes of ``fig`` drawn by :func:`image_grid`."""
    return [ax for ax in fig.axes if getattr(ax, "_dynet_image_panel", False)]


def sem(x) -> float:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan


def grouped(df, keys: list[str], metric: str):
    """``[(key values, mean, sem, n)]`` of ``metric`` over the rows of each distinct ``keys`` value,
    in sorted key order (replicates are the rows that share every key)."""
    groups: dict = {}
    for _, row in df.iterrows():
        k = tuple(_hashable(row[c]) for c in keys)
        v = row.get(metric)
        if v is None:
            continue
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        groups.setdefault(k, []).append(v)
    out = []
    for k, vals in groups.items():
        arr = np.array(vals)
        ok = arr[np.isfinite(arr)]
        out.append((k, float(ok.mean()) if len(ok) else math.nan, sem(ok), len(ok)))
    try:
        out.sort(key=lambda r: r[0])
    except TypeError:
        pass
    return out


def numeric(values_) -> bool:
    return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values_)
