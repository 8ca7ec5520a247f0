"""Plots of stored runs and sweeps (matplotlib, no pyplot state: every function returns a Figure).

One module per model family (:mod:`.hopfield`, :mod:`.modern_hopfield`, :mod:`.ising` for the Ising
model and sampling Boltzmann machines, :mod:`.generative` for RBMs, DBMs, DBNs and learning Boltzmann
machines, :mod:`.feedforward`, :mod:`.rnn`), :mod:`.sweep` for comparisons across a sweep, :mod:`.common` helpers and
:mod:`.source` for reading a store. The plotting functions take an :class:`xarray.Dataset` (one
run) or a :class:`pandas.DataFrame` (the runs of a scenario); :func:`plot` reads them from a
store and picks the function by the plot's kind::

    from dynet import plots
    fig = plots.plot("runs.zarr", "hopfield-capacity")            # the sweep's natural plot
    fig = plots.plot("runs.zarr", "0c287d", kind="raster")         # one run
    plots.save(fig, "raster.png")
    plots.kinds("runs.zarr", "0c287d")                             # {kind: description}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .common import PlotError, save, sweep_keys

__all__ = ["PlotError", "Target", "kinds", "natural_kind", "plot", "save", "target_kinds"]


@dataclass
class Target:
    """What a plot is drawn from: one run (``ds``) or the runs of a scenario (``df``)."""

    store: str
    kind: str  # "run" | "sweep"
    name: str  # run id | scenario
    model: str
    ds: object = None
    df: object = None
    metric: str | None = None
    x: str | None = None

    def runs(self, limit: int | None = None, replicate: int | None = None) -> list:
        """The datasets of the scenario's complete runs (for plots that overlay runs), of one
        ``replicate`` if given."""
        from . import source

        df = self.df
        if df is not None and replicate is not None:
            df = df[df["replicate"] == replicate]
        ids = list(df["run_id"])[:limit] if df is not None else []
        return [source.open_run(self.store, rid) for rid in ids]


@dataclass
class Kind:
    fn: Callable[[Target], object]
    doc: str
    applies: Callable[[Target], bool] = lambda t: True


def _has(*names):
    return lambda t: all(n in t.ds for n in names)


def _run_kinds(model: str) -> dict[str, Kind]:
    from . import dam as D
    from . import feedforward as F
    from . import generative as G
    from . import graded_hopfield as GH
    from . import hopfield as H
    from . import ising as I
    from . import modern_hopfield as MH

    if model == "dam":
        return {
            "energy": Kind(
                lambda t: D.energy_overlap(t.ds),
                "energy per unit, overlap with the cue and flips against sweep",
                _has("energy", "overlap"),
            ),
        }
    if model == "modern-hopfield":
        return {
            "dynamics": Kind(
                lambda t: MH.dynamics(t.ds),
                "energy, max softmax weight and entropy, distances to the patterns against step",
                _has("energy", "max_weight"),
            ),
        }
    if model == "graded-hopfield":
        return {
            "dynamics": Kind(
                lambda t: GH.dynamics(t.ds),
                "energy, overlap with the cue and step size against time t",
                _has("energy", "overlap", "dt"),
            ),
        }
    if model == "hopfield":
        return {
            "energy": Kind(
                lambda t: H.energy_overlaps(t.ds), "energy per unit and overlaps against sweep", _has("energy")
            ),
            "raster": Kind(lambda t: H.state_raster(t.ds), "the state of every unit against sweep", _has("state")),
            "patterns": Kind(
                lambda t: H.patterns_recall(t.ds),
                "stored patterns, cue and recalled state as images",
                lambda t: (
                    "patterns" in t.ds and H.image_shape_of(t.ds, H.run_info(t.ds), t.ds.sizes["unit"]) is not None
                ),
            ),
        }
    if model == "ising":
        return {
            "series": Kind(
                lambda t: I.ising_series(t.ds), "magnetization and energy per spin against sweep", _has("magnetization")
            ),
            "lattice": Kind(
                lambda t: I.lattice_snapshots(t.ds),
                "lattice snapshots: initial, recorded, final",
                _has("final_lattice"),
            ),
        }
    if model == "boltzmann":
        return {
            "energy": Kind(
                lambda t: I.bm_energy(t.ds),
                "energy, mean state and overlaps against sweep (temperature schedule on a twin axis)",
                lambda t: "sweep" in t.ds,
            ),
            "tempering": Kind(
                lambda t: I.tempering(t.ds),
                "swap acceptance per temperature pair and energies",
                _has("swap_acceptance"),
            ),
            "states": Kind(
                lambda t: I.bm_states(t.ds),
                "state snapshots (lattices as images)",
                lambda t: "state" in t.ds or "final_state" in t.ds,
            ),
            "training": Kind(
                lambda t: G.bm_training(t.ds), "log-likelihood and weight norm against epoch", _has("epoch")
            ),
            "weights": Kind(lambda t: G.weight_matrix(t.ds), "the coupling matrix", _has("weights")),
        }
    if model == "rbm":
        return {
            "training": Kind(
                lambda t: G.rbm_training(t.ds),
                "reconstruction, pseudo- and log-likelihood, free-energy gap against epoch",
                _has("epoch"),
            ),
            "filters": Kind(lambda t: G.filters(t.ds, "weights"), "hidden units' weights as images", _has("weights")),
            "samples": Kind(lambda t: G.samples(t.ds), "Gibbs samples as images", _has("samples")),
            "ais": Kind(
                lambda t: G.ais(t.ds),
                "AIS log Z with error bars beside the exact value",
                lambda t: "log_z_ais" in t.ds and bool((~G.isnan(t.ds["log_z_ais"])).any()),
            ),
        }
    if model == "dbm":
        return {
            "training": Kind(
                lambda t: G.dbm_training(t.ds),
                "log-likelihood, lower bound and reconstruction against epoch",
                _has("epoch"),
            ),
            "filters": Kind(lambda t: G.filters(t.ds, "weights1"), "first-layer weights as images", _has("weights1")),
            "samples": Kind(lambda t: G.samples(t.ds), "Gibbs samples as images", _has("samples")),
        }
    ff = {
        "training": Kind(
            lambda t: F.training(t.ds),
            "loss and metric against epoch, learning rate on a twin axis",
            _has("train_loss"),
        ),
        "gradients": Kind(
            lambda t: F.gradients(t.ds),
            "per-layer gradient and weight norms and update ratios (log scale)",
            _has("grad_norm"),
        ),
        "weights": Kind(lambda t: F.weight_histograms(t.ds), "histograms of every layer's weights", _has("weight_0")),
        "decision": Kind(
            lambda t: F.decision_regions(t.ds),
            "decision regions of a 2-D classifier",
            lambda t: F.decision_applies(t.ds),
        ),
        "reconstructions": Kind(
            lambda t: F.reconstructions(t.ds),
            "autoencoder inputs and reconstructions",
            lambda t: F.is_autoencoder(t.ds),
        ),
        "codes": Kind(
            lambda t: F.codes(t.ds), "autoencoder bottleneck codes of the validation split", _has("val_code")
        ),
    }
    if model == "rnn":
        from . import rnn as R

        return {
            "training": Kind(
                lambda t: R.training(t.ds),
                "loss against epoch; gradient norm against lag at the first and last epoch (log scales)",
                _has("train_loss", "lag_grad_norm"),
            ),
        }
    if model == "feedforward":
        return ff
    if model == "dbn":
        return {
            "training": ff["training"],
            "pretraining": Kind(
                lambda t: G.dbn_pretraining(t.ds), "each RBM's pretraining curves", _has("pretrain_epoch")
            ),
            "filters": Kind(
                lambda t: G.filters(t.ds, "rbm_weight_0"), "the first RBM's filters as images", _has("rbm_weight_0")
            ),
            "gradients": ff["gradients"],
            "weights": ff["weights"],
        }
    return {}


def _sweep_kinds(model: str) -> dict[str, Kind]:
    from .. import models
    from . import dam as D
    from . import generative as G
    from . import hopfield as H
    from . import ising as I
    from . import sweep as S

    def summary(t):
        return S.summary_panels(t.df, list(models.get(model).summary), t.x)

    def metric(t):
        m = t.metric or _first_metric(model, t.df)
        return S.metric_plot(t.df, m, t.x)

    out = {}
    if model == "modern-hopfield":
        from . import modern_hopfield as MH

        out["regimes"] = Kind(
            lambda t: MH.regimes(t.df),
            "final max softmax weight, entropy / log N and retrieval against beta (log axis)",
            lambda t: _swept(t, "network.beta"),
        )
    if model == "graded-hopfield":
        from . import graded_hopfield as GH

        out["gain"] = Kind(
            lambda t: GH.gain(t.df),
            "final overlap, mean |V| and recall against the gain (log axis), critical gain marked",
            lambda t: _swept(t, "network.gain"),
        )
    if model == "hopfield":
        out["capacity"] = Kind(
            lambda t: H.capacity(t.df),
            "recall against load alpha = P/N per learning rule",
            lambda t: _swept(t, "patterns.load", "patterns.count"),
        )
    if model == "dam":
        out["capacity"] = Kind(
            lambda t: D.capacity(t.df),
            "recall against the number of stored patterns per energy function",
            lambda t: _swept(t, "patterns.count", "patterns.load"),
        )
    if model == "ising":
        out["transition"] = Kind(
            lambda t: I.transition(t.df, I.crossings(t.store, t.name)),
            "<|m|>, <e>, chi, C and the Binder cumulant against T with Onsager's curves",
            lambda t: _swept(t, "dynamics.temperature"),
        )
    if model == "boltzmann":
        out["annealing"] = Kind(
            lambda t: I.annealing_traces(t.runs(limit=60)),
            "energy traces of every run, coloured by sweep point",
            lambda t: "final_energy" in t.df and t.df["final_energy"].notna().any(),
        )
    if model in ("feedforward", "dbn"):
        from . import feedforward as F

        out["gradients"] = Kind(
            lambda t: F.gradient_profile(t.runs(limit=40, replicate=0)),
            "gradient norm against layer depth per sweep point, first and last epoch",
        )
    if model == "rnn":
        from . import rnn as R

        out["lags"] = Kind(
            lambda t: R.lag_sweep(t.runs(limit=40, replicate=0), t.name, t.df),
            "gradient norm against lag at initialization, one line per sweep point (log scale)",
        )
    if model == "rbm":
        out["ais"] = Kind(
            lambda t: G.ais_sweep(t.df),
            "final AIS log Z (error bars) beside the exact value per sweep point",
            lambda t: "log_z_ais" in t.df and t.df["log_z_ais"].notna().any(),
        )
    if model != "ising":
        out["curves"] = Kind(
            lambda t: S.curves(t.runs(limit=200), t.metric, model),
            "a trajectory (--metric, e.g. val_loss) against time per sweep point, replicate mean ± sem",
        )
    out["summary"] = Kind(summary, "the model's summary metrics against the swept parameter")
    out["metric"] = Kind(metric, "one metric (--metric) against a swept parameter (--x), one line per other value")
    return out


def _swept(t: Target, *keys) -> bool:
    return any(k in sweep_keys(t.df) for k in keys)


def _first_metric(model: str, df) -> str:
    from .. import models

    for m in models.get(model).summary:
        if m in df and df[m].notna().any():
            return m
    raise PlotError(f"none of the {model} summary metrics is in these runs")


#: The plot drawn when no kind is asked for (first applicable wins).
NATURAL = {
    ("run", "hopfield"): ("energy",),
    ("run", "dam"): ("energy",),
    ("run", "modern-hopfield"): ("dynamics",),
    ("run", "graded-hopfield"): ("dynamics",),
    ("run", "ising"): ("series",),
    ("run", "boltzmann"): ("training", "tempering", "energy"),
    ("run", "rbm"): ("training",),
    ("run", "dbm"): ("training",),
    ("run", "dbn"): ("training",),
    ("run", "feedforward"): ("decision", "training"),
    ("run", "rnn"): ("training",),
    ("sweep", "hopfield"): ("capacity", "summary"),
    ("sweep", "dam"): ("capacity", "summary"),
    ("sweep", "modern-hopfield"): ("regimes", "summary"),
    ("sweep", "graded-hopfield"): ("gain", "summary"),
    ("sweep", "ising"): ("transition", "summary"),
    ("sweep", "boltzmann"): ("annealing", "summary"),
    ("sweep", "rbm"): ("summary",),
    ("sweep", "rnn"): ("lags", "summary"),
}


def load_target(store, target: str, metric: str | None = None, x: str | None = None) -> Target:
    """Resolve ``target`` (a scenario or a run id prefix) in ``store`` and read its data."""
    import os

    from . import source

    kind, name, model = source.resolve(store, target)
    t = Target(store=os.fspath(store), kind=kind, name=name, model=model, metric=metric, x=x)
    if kind == "run":
        t.ds = source.open_run(store, name)
    else:
        t.df = source.runs_frame(store, name)
        if t.df.empty:
            raise PlotError(f"scenario '{name}' has no complete runs in {os.fspath(store)}")
    return t


def target_kinds(t: Target) -> dict[str, str]:
    """Kind -> description of the plots that apply to this target."""
    table = _run_kinds(t.model) if t.kind == "run" else _sweep_kinds(t.model)
    out = {}
    for name, k in table.items():
        try:
            ok = k.applies(t)
        except Exception:  # noqa: BLE001 - a check that cannot run means the plot does not apply
            ok = False
        if ok:
            out[name] = k.doc
    return out


def natural_kind(t: Target) -> str:
    avail = target_kinds(t)
    for k in NATURAL.get((t.kind, t.model), ()):
        if k in avail:
            return k
    if avail:
        return next(iter(avail))
    raise PlotError(f"no plot applies to {t.kind} {t.name} ({t.model})")


def kinds(store, target: str) -> dict[str, str]:
    """The plot kinds available for a run or scenario of ``store``."""
    return target_kinds(load_target(store, target))


def draw(t: Target, kind: str | None = None):
    """The figure of plot ``kind`` (default: the natural one) of a loaded target."""
    avail = target_kinds(t)
    kind = kind or natural_kind(t)
    if kind not in avail:
        names = ", ".join(avail) or "none"
        raise PlotError(f"no plot kind '{kind}' for {t.kind} {t.name} ({t.model}); available: {names}")
    table = _run_kinds(t.model) if t.kind == "run" else _sweep_kinds(t.model)
    return table[kind].fn(t)


def plot(store, target: str, kind: str | None = None, *, metric: str | None = None, x: str | None = None):
    """The figure of plot ``kind`` of ``target`` (a scenario name or a run id prefix) in ``store``."""
    return draw(load_target(store, target, metric, x), kind)
