"""The ``dynet`` command line: a thin layer over :mod:`dynet.api`.

Exit codes: 0 success; 1 a run failed or the cluster could not be reached;
2 bad input (invalid scenario, unusable store, bad arguments). Errors are one line
each on stderr. Heavy imports happen inside commands so ``--help`` is instant.
"""

from __future__ import annotations

import json
import math
import sys

import click

from . import __version__

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _fail(lines, code: int):
    for line in lines:
        click.echo(f"error: {line}", err=True)
    sys.exit(code)


def _guard(fn, *args, **kwargs):
    """Call into the API, turning its known errors into one-line messages and exit codes."""
    from .cluster import ClusterError
    from .scenario import ScenarioError
    from .store import StoreError

    try:
        return fn(*args, **kwargs)
    except ScenarioError as exc:
        _fail(exc.lines, 2)
    except StoreError as exc:
        _fail([str(exc)], 2)
    except ClusterError as exc:
        _fail([str(exc)], 1)


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    if v is None:
        return "-"
    return str(v)


def _table(rows: list[list], header: list[str]) -> str:
    cells = [header] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="dynet")
def main():
    """Simulate and train classic neural networks; store every trajectory in Zarr."""


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--store", default="runs.zarr", show_default=True, type=click.Path(file_okay=False),
              help="Zarr store to write run records into.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes of the embedded cluster (default: one per core).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Send the runs to a running Dask scheduler (e.g. tcp://10.0.0.5:8786) instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def run(scenario, store, workers, scheduler, as_json):
    """Run every run of SCENARIO not already complete in the store."""
    from . import api

    bar = {}

    def progress(done, total):
        if as_json:
            return
        if "bar" not in bar:
            bar["bar"] = click.progressbar(length=max(total, 1), label=f"runs ({total} to do)", file=sys.stderr,
                                           show_pos=True)
            bar["bar"].__enter__()
            bar["last"] = 0
        bar["bar"].update(done - bar["last"])
        bar["last"] = done

    try:
        report = _guard(api.run_scenario, scenario, store=store, workers=workers, scheduler=scheduler,
                        progress=progress)
    finally:
        if "bar" in bar:
            bar["bar"].__exit__(None, None, None)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        rows = api.summarize(report)
        # a model with several modes names the metrics of all of them: show those some run has
        metrics = [m for m in report.summary_metrics if any(not math.isnan(r[m]) for r in rows)]
        header = [*report.sweep_keys, "runs", "failed", *metrics]
        click.echo(_table([[*(r["params"].get(k) for k in report.sweep_keys), r["runs"], r["failed"],
                            *(r[m] for m in metrics)] for r in rows], header))
        click.echo(f"{len(report.results)} run(s) executed, {len(report.skipped)} already complete, "
                   f"{len(report.failed)} failed; store: {report.store}")
        for r in report.failed:
            click.echo(f"error: run {r['run_id']} failed: {r['error']}", err=True)
    if report.failed:
        sys.exit(1)


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--store", default=None, type=click.Path(file_okay=False),
              help="Also check the runs the scenario reads from this store (a transfer source).")
@click.option("--json", "as_json", is_flag=True, help="Print the expanded runs as JSON.")
def validate(scenario, store, as_json):
    """Check a scenario file without running it."""
    from . import api

    sc = _guard(api.validate, scenario, store)
    if as_json:
        click.echo(json.dumps({"scenario": sc.name, "model": sc.model, "runs": [
            {"run_id": r.run_id, "params": r.params, "replicate": r.replicate, "seed": r.seed} for r in sc.runs]},
            indent=2))
    else:
        points = len({repr(sorted(r.params.items())) for r in sc.runs})
        click.echo(f"{scenario}: ok ({sc.model}, {points} sweep point(s), {len(sc.runs)} run(s))")


@main.command()
def schema():
    """Print the JSON Schema of scenario files (for editors)."""
    from .scenario import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


def _read(fn, *args, **kwargs):
    """Call a data command's API function: an unusable store or a bad request is one error line,
    exit 2. (Unlike :func:`_guard` it does not import the cluster code: reading needs none.)"""
    from .store import StoreError

    try:
        return fn(*args, **kwargs)
    except StoreError as exc:
        _fail([str(exc)], 2)


@main.command(name="ls")
@click.argument("store", type=click.Path(file_okay=False))
@click.option("--scenario", default=None, help="Only the runs of this scenario.")
@click.option("--status", default=None, help="Only runs with this status: complete, running or failed.")
@click.option("--where", default=None, metavar="EXPR",
              help='A pandas query over the runs table, e.g. "init.fraction > 0.1 and final_overlap < 0.9" '
                   "(the columns of dynet.open_store(STORE).runs; dotted names need no backticks).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ls_(store, scenario, status, where, as_json):
    """List the runs in STORE."""
    from . import analysis

    runs, problems = _read(analysis.list_runs, store, scenario=scenario, status=status, where=where)
    for name, why in list(problems.items())[:10]:
        click.echo(f"warning: skipped run group {name}: {why}", err=True)
    if len(problems) > 10:
        click.echo(f"warning: skipped {len(problems) - 10} more unreadable run groups", err=True)
    if as_json:
        click.echo(json.dumps(runs, indent=2))
        return
    from . import models

    rows = []
    for r in runs:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in r["params"].items())
        m = r["metrics"] or {}
        try:
            key = models.get(r["model"]).SUMMARY[0]  # the model's headline metric
        except KeyError:
            key = None
        shown = f"{key}={_fmt(m.get(key))}" if key and key in m else "-"
        rows.append([r["run_id"], r["scenario"], r["status"], params or "-", r["replicate"], shown,
                     r["error"] or ""])
    click.echo(_table(rows, ["run", "scenario", "status", "params", "rep", "metric", "error"]))


@main.command()
@click.argument("store", type=click.Path(file_okay=False))
@click.argument("scenario")
@click.option("--metric", "metrics", multiple=True,
              help="A metric to average (repeatable; default: the model's headline metrics).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: one object per sweep point.")
def summary(store, scenario, metrics, as_json):
    """One row per sweep point of SCENARIO: replicate mean +- standard error of its metrics."""
    from . import analysis

    frame = _read(analysis.summarize, store, scenario, list(metrics) or None)
    keys, shown = frame.attrs["sweep_keys"], frame.attrs["metrics"]
    records = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
               for row in frame.to_dict(orient="records")]
    if as_json:
        click.echo(json.dumps(records, indent=2, default=str))
        return

    def pm(row, m):
        mean, sem = row[m], row[f"{m}_sem"]
        if mean is None:
            return "-"
        return _fmt(mean) if sem is None else f"{_fmt(mean)} ± {_fmt(sem)}"

    click.echo(_table([[*(r[k] for k in keys), r["runs"], r["failed"], *(pm(r, m) for m in shown)]
                       for r in records], [*keys, "runs", "failed", *shown]))


_SUFFIXES = {".nc": "netcdf", ".nc4": "netcdf", ".netcdf": "netcdf", ".csv": "csv", ".parquet": "parquet",
             ".pq": "parquet"}


@main.command()
@click.argument("store", type=click.Path(file_okay=False))
@click.argument("target", metavar="RUN|SCENARIO")
@click.option("--format", "fmt", type=click.Choice(["netcdf", "csv", "parquet"]), default=None,
              help="Default: from the output file's suffix (.nc, .csv, .parquet).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--trajectories", default="", metavar="NAMES",
              help="A scenario's NetCDF: also these trajectories, comma-separated (e.g. energy,overlap).")
@click.option("--dim", default=None, help="A run's CSV / Parquet: the time dimension (default: its first of "
                                          "sweep, epoch, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def export(store, target, fmt, output, force, trajectories, dim, as_json):
    """Write a run (its Dataset to NetCDF, its trajectories to CSV / Parquet) or a scenario
    (its sweep Dataset to NetCDF, its runs table to CSV / Parquet) to a file."""
    import os

    from . import analysis

    if fmt is None:
        fmt = _SUFFIXES.get(os.path.splitext(output)[1].lower())
        if fmt is None:
            _fail([f"{output}: give --format (netcdf, csv or parquet): the suffix does not say"], 2)
    names = [n.strip() for n in trajectories.split(",") if n.strip()]
    info = _read(analysis.export, store, target, fmt, output, force=force, trajectories=names, dim=dim)
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        size = f"{info['rows']} rows" if "rows" in info else ", ".join(f"{k}={v}" for k, v in info["dims"].items())
        click.echo(f"wrote {info['path']} ({info['format']}, {info['kind']} {info['target']}: {size})")


@main.command()
@click.argument("store", type=click.Path(file_okay=False))
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(store, run_id, as_json):
    """Show one run's record (RUN_ID may be a unique prefix)."""
    from . import api

    info = _guard(api.show_run, store, run_id)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"run        {info['run_id']}  ({info.get('scenario')}, {info.get('model')}, "
               f"replicate {info.get('replicate')})")
    click.echo(f"status     {info.get('status')}")
    if info.get("error"):
        click.echo(f"error      {info['error'].splitlines()[0]}")
    click.echo(f"params     {json.dumps(info.get('params'))}")
    click.echo(f"seed       {json.dumps(info.get('seed'))}")
    t = info.get("timings", {})
    click.echo(f"timings    started {t.get('started')}  elapsed {t.get('elapsed_s')} s")
    click.echo("metrics")
    for k, v in (info.get("metrics") or {}).items():
        click.echo(f"  {k:<18} {_fmt(v)}")
    click.echo("arrays")
    for name, a in info["arrays"].items():
        click.echo(f"  {name:<18} {a['dtype']:<8} {tuple(a['shape'])} dims={tuple(a['dims'])}")


@main.command()
@click.argument("store", type=click.Path(file_okay=False))
@click.argument("target", metavar="RUN|SCENARIO")
@click.option("--kind", "kind", default=None, metavar="KIND",
              help="The plot to draw (default: the natural one of the run's model or the sweep); "
                   "'list' lists the kinds available.")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Image file to write: .png, .svg or .pdf.")
@click.option("--metric", default=None, help="The metric of --kind metric (a sweep).")
@click.option("--x", "x", default=None, metavar="KEY", help="The swept parameter on the x axis (a sweep).")
def plot(store, target, kind, output, metric, x):
    """Plot a run (RUN: id or unique prefix) or the sweep of a SCENARIO stored in STORE."""
    plots = _plots_module()

    t = _plot_guard(plots.load_target, store, target, metric, x)
    available = _plot_guard(plots.target_kinds, t)
    if kind == "list" or (kind is not None and kind not in available):
        if kind != "list":
            click.echo(f"error: no plot kind '{kind}' for {t.kind} {t.name} ({t.model}); available kinds:", err=True)
        for name, doc in available.items():
            click.echo(f"{name:<16} {doc}", err=kind != "list")
        sys.exit(0 if kind == "list" else 2)
    if output is None:
        _fail(["-o/--output: name the image file to write (.png, .svg or .pdf)"], 2)
    if not output.lower().endswith((".png", ".svg", ".pdf")):
        _fail([f"-o/--output: {output}: the image must end in .png, .svg or .pdf"], 2)
    fig = _plot_guard(plots.draw, t, kind)
    _plot_guard(plots.save, fig, output)
    click.echo(f"{output}: {kind or plots.natural_kind(t)} plot of {t.kind} {t.name} ({t.model})")


@main.command()
@click.argument("store", type=click.Path(file_okay=False))
@click.argument("scenario")
@click.option("-o", "--output", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="The HTML file to write (self-contained: plots embedded).")
def report(store, scenario, output):
    """Write a self-contained HTML report of SCENARIO's runs in STORE."""
    _plots_module()
    from . import report as _report

    path = _plot_guard(_report.write_report, store, scenario, output)
    click.echo(f"{path}: report of {scenario}")


def _plots_module():
    """:mod:`dynet.plots`, or exit 2 naming what to install when matplotlib, xarray or pandas is missing."""
    try:
        import matplotlib  # noqa: F401
        import pandas  # noqa: F401
        import xarray  # noqa: F401

        from . import plots
    except ImportError as exc:
        _fail([f"plots need matplotlib, xarray and pandas ({exc}): pip install 'dynet[analysis]'"], 2)
    return plots


def _plot_guard(fn, *args, **kwargs):
    """``_guard`` plus the plots' own error (a plot that does not apply): exit 2."""
    from .plots import PlotError

    try:
        return _guard(fn, *args, **kwargs)
    except PlotError as exc:
        _fail([str(exc)], 2)
    except OSError as exc:
        _fail([f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")], 2)


if __name__ == "__main__":  # pragma: no cover
    main()
