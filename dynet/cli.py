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


@main.command(name="ls")
@click.argument("store", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ls_(store, as_json):
    """List the runs in STORE."""
    from . import api

    runs = _guard(api.list_runs, store)
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
    lease = info.get("lease")
    if lease:  # who runs it (or ran it, for a stale run) and how fresh its heartbeat is
        click.echo(f"lease      host {lease['host']} pid {lease['pid']}  heartbeat {lease['age_s']:.0f} s ago  "
                   f"(lease {lease['lease_s']} s)")
    click.echo("metrics")
    for k, v in (info.get("metrics") or {}).items():
        click.echo(f"  {k:<18} {_fmt(v)}")
    click.echo("arrays")
    for name, a in info["arrays"].items():
        click.echo(f"  {name:<18} {a['dtype']:<8} {tuple(a['shape'])} dims={tuple(a['dims'])}")


if __name__ == "__main__":  # pragma: no cover
    main()
