"""The ``dynet`` command line: a thin layer over :mod:`dynet.api`.

Exit codes: 0 success; 1 a run failed or the cluster could not be reached;
2 bad input (invalid scenario, unusable store, bad arguments). Errors are one line
each on stderr. Heavy imports happen inside commands so ``--help`` is instant.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import sys
import threading
import time

import click

from . import __version__

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _fail(lines, code: int):
    for line in lines:
        click.echo(f"error: {line}", err=True)
    sys.exit(code)


def _guard(fn, *args, **kwargs):
    """Call into the API, turning its known errors into one-line messages and exit codes."""
    from .errors import ClusterError
    from .scenario import ScenarioError
    from .store import StoreError

    try:
        return fn(*args, **kwargs)
    except ScenarioError as exc:
        _fail(exc.lines, 2)
    except StoreError as exc:
        _fail([str(exc)], 2)
    except ClusterError as exc:
        _fail([str(exc)], getattr(exc, "exit_code", 1))


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


def _elapsed(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s // 60 % 60:02d}m{s % 60:02d}s"


class _Progress:
    """Runs done so far, on stderr.

    On a terminal, a bar. Elsewhere (a batch job's log), one line at each 10 % step, at
    most every ``interval`` seconds when runs finished since the last line, and every
    ``6 * interval`` seconds regardless, so a log shows the job is alive.
    """

    def __init__(self, interactive: bool, interval: float = 10.0):
        self.interactive, self.interval = interactive, interval
        self.bar = None
        self.total = self.done = self.last_done = 0
        self.failed = None
        self.started = self.last_line = time.monotonic()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ticker = None

    def __call__(self, done: int, total: int, failed: int | None = None, **_):
        with self.lock:
            first = self.bar is None and self.ticker is None
            step = total and (done * 10 // total) > (self.done * 10 // max(self.total, 1))
            self.done, self.total, self.failed = done, total, failed
            if self.interactive:
                if first:
                    self.bar = click.progressbar(
                        length=max(total, 1), label=f"runs ({total} to do)", file=sys.stderr, show_pos=True
                    )
                    self.bar.__enter__()
                self.bar.update(done - self.last_done)
                self.last_done = done
                return
            if first:
                self.ticker = threading.Thread(target=self._tick, name="dynet-progress", daemon=True)
                self.ticker.start()
            if first or step or done == total:
                self._line()

    def _line(self):
        now = time.monotonic()
        failed = f", {self.failed} failed" if self.failed is not None else ""
        click.echo(f"runs {self.done}/{self.total} done{failed}, {_elapsed(now - self.started)} elapsed", err=True)
        self.last_line, self.last_done = now, self.done

    def _tick(self):
        while not self.stop.wait(min(1.0, self.interval)):
            with self.lock:
                quiet = time.monotonic() - self.last_line
                if (self.done != self.last_done and quiet >= self.interval) or quiet >= 6 * self.interval:
                    self._line()

    def close(self):
        self.stop.set()
        if self.ticker is not None:
            self.ticker.join()
            self.ticker = None
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@contextlib.contextmanager
def _sigint_stops_the_run():
    """First Ctrl-C: KeyboardInterrupt (the run stops and cleans up); a second one exits at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if handler.hit:
            os._exit(130)
        handler.hit = True
        raise KeyboardInterrupt

    handler.hit = False
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _cluster_messages():
    """Show the cluster module's notes (e.g. the scheduler's dashboard link) on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("dynet.cluster")
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def _interrupted(scenario: str, store: str):
    """Say how far the interrupted run got, from the store, and exit 130."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # nothing left to stop: finish the message
    try:
        from . import api

        ids = {r.run_id for r in api.validate(scenario, store).runs}
        statuses = {r["run_id"]: r["status"] for r in api.list_runs(store)} if os.path.isdir(store) else {}
        n = sum(statuses.get(rid) == "complete" for rid in ids)
        what = f": {n} of {len(ids)} runs complete"
    except Exception:  # noqa: BLE001 - e.g. interrupted in an import: the message below is still true
        what = ""
    click.echo(f"interrupted{what}; run the same command again to finish the rest", err=True)
    sys.exit(130)


def _tls_options(fn):
    """--tls-ca-file / --tls-cert / --tls-key, for every command that connects to a scheduler."""
    fn = click.option("--tls-key", default=None, metavar="FILE", help="TLS scheduler: this client's private key.")(fn)
    fn = click.option("--tls-cert", default=None, metavar="FILE", help="TLS scheduler: this client's certificate.")(fn)
    return click.option(
        "--tls-ca-file",
        default=None,
        metavar="FILE",
        help="TLS scheduler (tls://...): the CA certificate (default: Dask's distributed.comm.tls config).",
    )(fn)


def _security(ca_file, cert, key):
    """The TLS setup the options give (None: Dask's config decides)."""
    from .cluster import tls_security

    return _guard(tls_security, ca_file, cert, key) if (ca_file or cert or key) else None


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option(
    "--store",
    default="runs.zarr",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Zarr store to write run records into.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes of the embedded cluster (default: one per core).",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Send the runs to a running Dask scheduler (e.g. tcp://10.0.0.5:8786) instead.",
)
@_tls_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def run(scenario, store, workers, scheduler, tls_ca_file, tls_cert, tls_key, as_json):
    """Run every run of SCENARIO not already complete in the store.

    Ctrl-C stops the runs in flight; running the same command again finishes the rest.
    """
    try:  # seconds between progress lines in a log
        interval = max(0.1, float(os.environ.get("DYNET_PROGRESS_SECONDS") or 10))
    except ValueError:
        interval = 10.0
    progress = None if as_json else _Progress(sys.stderr.isatty(), interval)
    try:
        with _sigint_stops_the_run(), _cluster_messages():
            from . import api

            security = _security(tls_ca_file, tls_cert, tls_key)
            report = _guard(
                api.run_scenario,
                scenario,
                store=store,
                workers=workers,
                scheduler=scheduler,
                progress=progress,
                security=security,
                on_compile=_compiling_notice,
            )
    except KeyboardInterrupt:
        if progress:
            progress.close()
        _interrupted(scenario, store)
    finally:
        if progress:
            progress.close()
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        rows = api.summarize(report)
        # a model with several modes names the metrics of all of them: show those some run has
        metrics = [m for m in report.summary_metrics if any(not math.isnan(r[m]) for r in rows)]
        header = [*report.sweep_keys, "runs", "failed", *metrics]
        click.echo(
            _table(
                [
                    [*(r["params"].get(k) for k in report.sweep_keys), r["runs"], r["failed"], *(r[m] for m in metrics)]
                    for r in rows
                ],
                header,
            )
        )
        click.echo(
            f"{len(report.results)} run(s) executed, {len(report.skipped)} already complete, "
            f"{len(report.failed)} failed; store: {report.store}"
        )
        for r in report.failed:
            click.echo(f"error: run {r.run_id} failed: {r.error}", err=True)
    if report.failed:
        sys.exit(1)


@main.command()
@click.argument("scenario", type=click.Path())  # what is wrong with it: api.validate's one line
@click.option(
    "--store",
    default=None,
    type=click.Path(file_okay=False),
    help="Also check the runs the scenario reads from this store (a transfer source).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the expanded runs as JSON (on failure: ok = false and the errors)."
)
def validate(scenario, store, as_json):
    """Check a scenario file without running it."""
    from . import api
    from .scenario import ScenarioError
    from .store import StoreError

    if as_json:
        try:
            sc = api.validate(scenario, store)
        except (ScenarioError, StoreError) as exc:
            lines = exc.lines if isinstance(exc, ScenarioError) else [str(exc)]
            click.echo(json.dumps({"ok": False, "scenario": scenario, "errors": lines}, indent=2))
            _fail(lines, 2)
        click.echo(
            json.dumps(
                {
                    "ok": True,
                    "scenario": sc.name,
                    "model": sc.model,
                    "runs": [
                        {"run_id": r.run_id, "params": r.params, "replicate": r.replicate, "seed": r.seed}
                        for r in sc.runs
                    ],
                },
                indent=2,
            )
        )
        return
    sc = _guard(api.validate, scenario, store)
    points = len({repr(sorted(r.params.items())) for r in sc.runs})
    click.echo(f"{scenario}: ok ({sc.model}, {points} sweep point(s), {len(sc.runs)} run(s))")


@main.command()
@click.argument("kind", required=False)
def schema(kind):
    """Print the JSON Schema of scenario files (for editors); with KIND, of that model kind's only."""
    from . import models
    from .scenario import json_schema

    if kind is not None and kind not in models.REGISTRY:
        _fail([f"unknown model kind {kind!r} (one of {', '.join(models.REGISTRY)})"], 2)
    click.echo(json.dumps(json_schema(kind), indent=2))


@main.command(name="models")
@click.option("--json", "as_json", is_flag=True, help="Print the kinds as JSON.")
def models_(as_json):
    """List the model kinds a scenario's `model` key can name."""
    from . import models

    kinds = [
        {"model": k.name, "description": k.description, "summary_metrics": list(k.summary)}
        for k in models.REGISTRY.values()
    ]
    if as_json:
        click.echo(json.dumps(kinds, indent=2))
        return
    click.echo(_table([[k["model"], k["description"]] for k in kinds], ["model", "description"]))


def _compiling_notice(kind: str) -> None:
    click.echo(
        f"compiling the {kind} kernels (once per machine; `dynet warmup` does it ahead of time)",
        err=True,
    )


@main.command()
@click.argument("kinds", nargs=-1)
def warmup(kinds):
    """Compile the numba kernels of model KINDS (all kinds by default) ahead of the first run.

    numba keeps compiled kernels in its on-disk cache beside the installed package, so this
    is for images of cluster workers and CI: a later run of these kinds compiles nothing."""
    from . import models

    unknown = [k for k in kinds if k not in models.REGISTRY]
    if unknown:
        _fail([f"unknown model kind {k!r} (one of {', '.join(models.REGISTRY)})" for k in unknown], 2)
    from .kernels import compiling

    for name in kinds or tuple(models.REGISTRY):
        t0 = time.perf_counter()
        with compiling.watch() as compiled:
            models.get(name).warmup()
        how = f"compiled {compiled.count} kernels" if compiled.count else "already compiled, loaded from the cache"
        click.echo(f"{name}: ready ({how}, {time.perf_counter() - t0:.1f} s)")


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
@click.option(
    "--where",
    default=None,
    metavar="EXPR",
    help='A pandas query over the runs table, e.g. "init.fraction > 0.1 and final_overlap < 0.9" '
    "(the columns of dynet.open_store(STORE).runs; dotted names need no backticks).",
)
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
            key = models.get(r["model"]).summary[0]  # the model's headline metric
        except KeyError:
            key = None
        shown = f"{key}={_fmt(m.get(key))}" if key and key in m else "-"
        rows.append([r["run_id"], r["scenario"], r["status"], params or "-", r["replicate"], shown, r["error"] or ""])
    click.echo(_table(rows, ["run", "scenario", "status", "params", "rep", "metric", "error"]))


@main.command()
@click.argument("store", type=click.Path(file_okay=False))
@click.argument("scenario")
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    help="A metric to average (repeatable; default: the model's headline metrics).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: one object per sweep point.")
def summary(store, scenario, metrics, as_json):
    """One row per sweep point of SCENARIO: replicate mean +- standard error of its metrics."""
    from . import analysis

    frame = _read(analysis.summarize, store, scenario, list(metrics) or None)
    keys, shown = frame.attrs["sweep_keys"], frame.attrs["metrics"]
    records = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]
    if as_json:
        click.echo(json.dumps(records, indent=2, default=str))
        return

    def pm(row, m):
        mean, sem = row[m], row[f"{m}_sem"]
        if mean is None:
            return "-"
        return _fmt(mean) if sem is None else f"{_fmt(mean)} ± {_fmt(sem)}"

    click.echo(
        _table(
            [[*(r[k] for k in keys), r["runs"], r["failed"], *(pm(r, m) for m in shown)] for r in records],
            [*keys, "runs", "failed", *shown],
        )
    )


_SUFFIXES = {
    ".nc": "netcdf",
    ".nc4": "netcdf",
    ".netcdf": "netcdf",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@main.command()
@click.argument("store", type=click.Path(file_okay=False))
@click.argument("target", metavar="RUN|SCENARIO")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["netcdf", "csv", "parquet"]),
    default=None,
    help="Default: from the output file's suffix (.nc, .csv, .parquet).",
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option(
    "--trajectories",
    default="",
    metavar="NAMES",
    help="A scenario's NetCDF: also these trajectories, comma-separated (e.g. energy,overlap).",
)
@click.option(
    "--dim", default=None, help="A run's CSV / Parquet: the time dimension (default: its first of sweep, epoch, ...)."
)
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
    click.echo(
        f"run        {info['run_id']}  ({info.get('scenario')}, {info.get('model')}, replicate {info.get('replicate')})"
    )
    click.echo(f"status     {info.get('status')}")
    if info.get("error"):
        click.echo(f"error      {info['error'].splitlines()[0]}")
    click.echo(f"params     {json.dumps(info.get('params'))}")
    click.echo(f"seed       {json.dumps(info.get('seed'))}")
    t = info.get("timings", {})
    click.echo(f"timings    started {t.get('started')}  elapsed {t.get('elapsed_s')} s")
    lease = info.get("lease")
    if lease:  # who runs it (or ran it, for a stale run) and how fresh its heartbeat is
        click.echo(
            f"lease      host {lease['host']} pid {lease['pid']}  heartbeat {lease['age_s']:.0f} s ago  "
            f"(lease {lease['lease_s']} s)"
        )
    click.echo("metrics")
    for k, v in (info.get("metrics") or {}).items():
        click.echo(f"  {k:<18} {_fmt(v)}")
    click.echo("arrays")
    for name, a in info["arrays"].items():
        click.echo(f"  {name:<18} {a['dtype']:<8} {tuple(a['shape'])} dims={tuple(a['dims'])}")


@main.command(name="cluster")
@click.argument("system", type=click.Choice(["slurm", "pbs"]))
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Batch jobs to submit (each starts CORES single-threaded workers).",
)
@click.option(
    "--adapt",
    "adapt_max",
    type=click.IntRange(min=1),
    default=None,
    metavar="MAX",
    help="Instead of --jobs: submit jobs as work arrives, up to MAX at once.",
)
@click.option("--cores", type=click.IntRange(min=1), default=None, help="Cores (= worker processes) per job.")
@click.option("--memory", default=None, help="Memory per job, e.g. 16GB.")
@click.option("--walltime", default=None, help="Wall-time limit per job, e.g. 02:00:00.")
@click.option("--queue", default=None, help="Partition (SLURM) or queue (PBS).")
@click.option("--account", default=None, help="Account or project to charge.")
@click.option("--interface", default=None, help="Network interface the workers listen on (e.g. ib0).")
@click.option(
    "--host",
    required=True,
    help="Address the scheduler listens on: this node's address the compute nodes reach "
    "(127.0.0.1 reaches only jobs on this machine).",
)
@click.option("--port", type=click.IntRange(min=0, max=65535), default=0, help="Scheduler port (0: any free).")
@click.option(
    "--prologue",
    multiple=True,
    help="A shell line each job runs first (repeatable), e.g. 'source ~/dynet-venv/bin/activate'.",
)
@click.option("--directive", multiple=True, help="An extra #SBATCH / #PBS directive, without the prefix.")
@click.option("--print-script", is_flag=True, help="Print the job script and exit; submit nothing.")
def cluster_(
    system,
    jobs,
    adapt_max,
    cores,
    memory,
    walltime,
    queue,
    account,
    interface,
    host,
    port,
    prologue,
    directive,
    print_script,
):
    """Start a Dask cluster on SLURM or PBS (needs dynet[jobqueue]) and keep it until Ctrl-C.

    Unset job settings come from Dask's jobqueue config (~/.config/dask/jobqueue.yaml).
    Then send runs to it from anywhere: dynet run SCENARIO --scheduler ADDRESS.
    """
    from . import jobqueue

    spec = jobqueue.JobSpec(
        cores=cores,
        memory=memory,
        walltime=walltime,
        queue=queue,
        account=account,
        interface=interface,
        host=host,
        port=port,
        prologue=tuple(prologue),
        extra_directives=tuple(directive),
    )
    try:
        if print_script:
            click.echo(_guard(jobqueue.job_script, system, spec))
            return
        _guard(jobqueue.serve, system, spec, jobs=jobs, adapt_max=adapt_max, echo=click.echo)
    except jobqueue.JobSettingsError as exc:
        _fail([str(exc)], 2)


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--scheduler", required=True, metavar="ADDRESS", help="The Dask scheduler, e.g. tcp://10.0.0.5:8786.")
@click.option(
    "--store", default="runs.zarr", show_default=True, help="Zarr store the workers write into (a path they all see)."
)
@_tls_options
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
def submit(scenario, scheduler, store, tls_ca_file, tls_cert, tls_key, as_json):
    """Submit SCENARIO's runs to a Dask cluster as a detached job and return at once."""
    from . import jobs

    sub = _guard(
        jobs.submit, scenario, scheduler=scheduler, store=store, security=_security(tls_ca_file, tls_cert, tls_key)
    )
    if as_json:
        click.echo(json.dumps(sub.__dict__, indent=2))
        return
    todo = sub.runs - sub.already_complete
    click.echo(
        f"job {sub.job_id}: {todo} run(s) of {sub.scenario} submitted to {sub.scheduler} "
        f"({sub.already_complete} already complete); store: {sub.store}"
    )
    click.echo(f"follow it with: dynet status {sub.store} {sub.job_id}  (--watch for live progress)")


def _status_line(st) -> str:
    c = st.counts
    parts = [f"{c[k]} {k}" for k in c if c[k]]
    return f"{len(st.states)} run(s): " + (", ".join(parts) if parts else "none")


@main.command()
@click.argument("store", type=click.Path(file_okay=False))
@click.argument("job", required=False)
@click.option("--watch", is_flag=True, help="Follow the job until no run is pending or running.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between updates with --watch.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(store, job, watch, interval, as_json):
    """Show the jobs in STORE, or one JOB (any unique prefix of its id) in detail."""
    import time

    from . import jobs

    if job is None:
        every = _guard(jobs.list_jobs, store)
        if as_json:
            click.echo(json.dumps([s.to_json() for s in every], indent=2))
            return
        rows = [
            [
                s.job_id,
                s.record.get("scenario"),
                (s.record.get("submitted") or "")[:19],
                "cancelled" if s.record.get("cancelled") else ("finished" if s.finished else "active"),
                _status_line(s),
            ]
            for s in every
        ]
        click.echo(_table(rows, ["job", "scenario", "submitted", "state", "runs"]) if rows else "no jobs")
        return
    st = _guard(jobs.job_status, store, job)
    if watch and not as_json:
        last = None
        while True:
            line = _status_line(st)
            if line != last:
                click.echo(f"{time.strftime('%H:%M:%S')}  {line}")
                last = line
            if st.finished:
                break
            time.sleep(interval)
            st = _guard(jobs.job_status, store, st.job_id)
    if as_json:
        click.echo(json.dumps(st.to_json(), indent=2))
        return
    r = st.record
    click.echo(
        f"job {st.job_id}  {r.get('scenario')}  submitted {r.get('submitted')} by "
        f"{r.get('user')}@{r.get('host')} to {r.get('scheduler')} (dynet {r.get('dynet_version')})"
    )
    if r.get("cancelled"):
        click.echo(f"cancelled {r['cancelled']}")
    click.echo(_status_line(st))
    for rid, p in st.progress.items():
        click.echo(f"  running  {rid}  {p.get('unit', 'step')} {p.get('done')} of {p.get('total')}")
    for rid, err in st.errors.items():
        click.echo(f"  {st.states[rid]:<8} {rid}  {err}")
    stale = [rid for rid, s in st.states.items() if s == "stale"]
    if stale:
        click.echo(
            f"  {len(stale)} stale run(s) (their attempt stopped): submit or run the scenario again to finish them"
        )


@main.command()
@click.argument("store", type=click.Path(file_okay=False))
@click.argument("job")
def cancel(store, job):
    """Cancel JOB: pending runs never start, running runs stop at their next checkpoint."""
    from . import jobs

    st = _guard(jobs.cancel, store, job)
    click.echo(f"job {st.job_id} cancelled: {_status_line(st)}")
    click.echo("submitting or running the scenario again finishes the runs that are not complete")


@main.command()
@click.argument("store", type=click.Path(file_okay=False))
@click.argument("target", metavar="RUN|SCENARIO")
@click.option(
    "--kind",
    "kind",
    default=None,
    metavar="KIND",
    help="The plot to draw (default: the natural one of the run's model or the sweep); "
    "'list' lists the kinds available.",
)
@click.option(
    "-o", "--output", default=None, type=click.Path(dir_okay=False), help="Image file to write: .png, .svg or .pdf."
)
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
@click.option(
    "-o",
    "--output",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The HTML file to write (self-contained: plots embedded).",
)
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
