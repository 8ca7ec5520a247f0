"""dynet's Python API: what the CLI calls, usable from notebooks and scripts.

Typical use::

    from dynet import api
    report = api.run_scenario("scenarios/hopfield-quickstart.toml", store="runs.zarr")
    runs = api.list_runs("runs.zarr")
    ds = api.open_run("runs.zarr", runs[0]["run_id"])   # an xarray.Dataset
"""

from __future__ import annotations

import math
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

from . import models as _models
from . import store as _store
from .scenario import RunSpec, Scenario, ScenarioError, load_scenario

DEFAULT_STORE = "runs.zarr"
#: Work (in synapse updates) that makes a task last about a second; smaller runs are batched.
TASK_COST = 1e9


def validate(path: str | os.PathLike, store: str | os.PathLike | None = None) -> Scenario:
    """Load, validate and expand a scenario, and check the data it needs (and, given the
    ``store`` its runs will write to, the runs of that store it reads, e.g. a transfer source).

    Raises :class:`ScenarioError` listing every problem; writes nothing.
    """
    scenario = load_scenario(path)
    model = _models.get(scenario.model)
    found: dict[str, list[str]] = {}  # problem -> labels of the sweep points that have it
    checked = set()
    for spec in scenario.runs:
        key = repr(sorted(spec.params.items()))
        if key in checked:
            continue
        checked.add(key)
        label = ", ".join(f"{k}={v!r}" for k, v in spec.params.items())
        for p in model.preflight(spec.config, spec.base_dir, None if store is None else os.fspath(store)):
            found.setdefault(p, []).append(label)
    problems = []
    for p, labels in found.items():  # a problem every point shares is one line, not one per point
        if len(labels) == 1:
            problems.append(f"{scenario.path}: " + (f"sweep point {{{labels[0]}}}: " if labels[0] else "") + p)
        else:
            problems.append(f"{scenario.path}: {p} ({len(labels)} sweep points)")
    if problems:
        raise ScenarioError(problems)
    return scenario


# --------------------------------------------------------------------------- worker side

def execute_run(store_path: str, spec: RunSpec) -> dict:
    """Run one run into its own group of the store; a run that raises is stored as failed."""
    attrs = {
        "run_id": spec.run_id, "scenario": spec.scenario, "model": spec.model, "config": spec.config,
        "params": spec.params, "replicate": spec.replicate, "seed": spec.seed,
    }
    t0 = time.perf_counter()
    record = _store.RunRecord(store_path, spec.run_id, attrs)
    try:
        metrics = _models.get(spec.model).run(spec, record)
    except Exception as exc:  # noqa: BLE001 - a failing run must not stop the others
        error = f"{type(exc).__name__}: {exc}"
        record.fail(error + "\n" + traceback.format_exc(limit=8), time.perf_counter() - t0)
        return _result(spec, _store.FAILED, {}, error, time.perf_counter() - t0)
    elapsed = time.perf_counter() - t0
    record.complete(metrics, elapsed)
    return _result(spec, _store.COMPLETE, metrics, None, elapsed)


def execute_batch(store_path: str, specs: list[RunSpec]) -> list[dict]:
    """A Dask task: several small runs in a row, so the task outlasts its scheduling cost."""
    return [execute_run(store_path, spec) for spec in specs]


def _result(spec: RunSpec, status: str, metrics: dict, error: str | None, elapsed: float) -> dict:
    return {"run_id": spec.run_id, "params": spec.params, "replicate": spec.replicate, "status": status,
            "metrics": metrics, "error": error, "elapsed_s": elapsed}


# --------------------------------------------------------------------------- client side

@dataclass
class RunReport:
    scenario: str
    store: str
    results: list[dict] = field(default_factory=list)  # runs executed now
    skipped: list[dict] = field(default_factory=list)  # runs already complete in the store
    sweep_keys: list[str] = field(default_factory=list)
    summary_metrics: tuple[str, ...] = ()

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.results if r["status"] != _store.COMPLETE]

    def to_json(self) -> dict:
        return {"scenario": self.scenario, "store": self.store, "executed": len(self.results),
                "skipped": len(self.skipped), "failed": len(self.failed), "runs": self.results + self.skipped}


def make_batches(specs: list[RunSpec], n_workers: int, cost: Callable[[dict], float],
                 task_cost: float = TASK_COST) -> list[list[RunSpec]]:
    """Group runs into tasks of about ``task_cost`` work, keeping at least ~2 tasks per worker."""
    if not specs:
        return []
    costs = [max(1.0, cost(s.config)) for s in specs]
    target = min(task_cost, sum(costs) / max(1, 2 * n_workers))
    batches, current, acc = [], [], 0.0
    for spec, c in zip(specs, costs):
        current.append(spec)
        acc += c
        if acc >= target:
            batches.append(current)
            current, acc = [], 0.0
    if current:
        batches.append(current)
    return batches


def run_scenario(path: str | os.PathLike, *, store: str | os.PathLike = DEFAULT_STORE, workers: int | None = None,
                 scheduler: str | None = None, progress: Callable[[int, int], None] | None = None,
                 connect_timeout: float = 10.0, security=None) -> RunReport:
    """Run every run of a scenario that is not already complete in ``store``.

    Validation happens first and writes nothing; then the cluster is started (or the
    scheduler reached); only then is the store created. Complete runs are skipped,
    incomplete or failed ones run again from their seed (or continue from their last
    in-run checkpoint), so the result is bit-identical to an uninterrupted run.
    ``progress(done, total)`` is called as runs finish; ``connect_timeout`` bounds the
    wait for a ``scheduler``; ``security`` (``cluster.tls_security``) is its TLS setup.
    """
    from distributed import as_completed

    from .cluster import connect

    store_path = os.path.abspath(os.fspath(store))
    scenario = validate(path, store_path)
    model = _models.get(scenario.model)
    report = RunReport(scenario=scenario.name, store=store_path, sweep_keys=scenario.sweep_keys,
                       summary_metrics=tuple(getattr(model, "SUMMARY", ())))
    if os.path.exists(os.path.join(store_path, "zarr.json")):
        _store.open_store(store_path)  # refuse an incompatible store before starting anything

    with connect(scheduler=scheduler, workers=workers, models=(scenario.model,), timeout=connect_timeout,
                 security=security) as client:
        root = _store.open_store(store_path, create=True)
        existing = _store.list_runs(root)
        todo = []
        for spec in scenario.runs:
            attrs = existing.get(spec.run_id)
            if attrs is not None and attrs.get("status") == _store.COMPLETE:
                report.skipped.append({"run_id": spec.run_id, "params": spec.params, "replicate": spec.replicate,
                                       "status": "complete", "metrics": attrs.get("metrics", {}), "error": None,
                                       "skipped": True})
            else:
                todo.append(spec)
        total = len(todo)
        if progress:
            progress(0, total)
        n_workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})) or (workers or 1))
        batches = make_batches(todo, n_workers, model.cost)
        futures = {}
        for i, batch in enumerate(batches):
            fut = client.submit(execute_batch, store_path, batch, key=f"dynet-{scenario.name}-{batch[0].run_id}-{i}",
                                pure=False)
            futures[fut] = batch
        done = 0
        for fut in as_completed(list(futures), loop=client.loop):
            batch = futures[fut]
            try:
                results = fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. a worker killed more often than allowed
                error = f"{type(exc).__name__}: {exc}"
                results = []
                for spec in batch:
                    _mark_failed(store_path, spec.run_id, error)
                    results.append(_result(spec, _store.FAILED, {}, error, 0.0))
            report.results.extend(results)
            done += len(batch)
            if progress:
                progress(done, total)
    order = {s.run_id: i for i, s in enumerate(scenario.runs)}
    report.results.sort(key=lambda r: order[r["run_id"]])
    return report


def _mark_failed(store_path: str, run_id: str, error: str) -> None:
    import zarr

    try:
        g = zarr.open_group(store_path, path=_store.run_path(run_id), mode="a")
        g.attrs.update({"status": _store.FAILED, "error": error})
    except Exception:  # noqa: BLE001 - best effort; the run is reported failed either way
        pass


def summarize(report: RunReport) -> list[dict]:
    """One row per sweep point: counts and replicate means of the model's summary metrics."""
    rows: dict[str, dict] = {}
    for r in report.results + report.skipped:
        key = repr(sorted(r["params"].items()))
        row = rows.setdefault(key, {"params": r["params"], "runs": 0, "failed": 0, "_m": {}})
        row["runs"] += 1
        if r["status"] != _store.COMPLETE:
            row["failed"] += 1
            continue
        for m in report.summary_metrics:
            v = r["metrics"].get(m)
            if v is not None:
                row["_m"].setdefault(m, []).append(float(v))
    out = []
    for row in rows.values():
        means = {m: (sum(v) / len(v) if v else math.nan) for m, v in row.pop("_m").items()}
        row.update({m: means.get(m, math.nan) for m in report.summary_metrics})
        out.append(row)
    return out


# --------------------------------------------------------------------------- reading the store

def list_runs(store: str | os.PathLike) -> list[dict]:
    """One dict per run: id, scenario, params, replicate, status, metrics."""
    root = _store.open_store(store)
    return [{"run_id": rid, "scenario": a.get("scenario"), "model": a.get("model"), "params": a.get("params", {}),
             "replicate": a.get("replicate"), "status": a.get("status"), "metrics": a.get("metrics", {}),
             "error": (a.get("error") or "").split("\n")[0] or None}
            for rid, a in _store.list_runs(root).items()]


def show_run(store: str | os.PathLike, run_id: str) -> dict:
    """A run's full record (attributes) and its arrays' shapes and dimension names."""
    root = _store.open_store(store)
    rid = _store.find_run(root, run_id)
    attrs = _store.run_attrs(root, rid)
    group = root[_store.run_path(rid)]
    arrays = {name: {"shape": list(a.shape), "dims": list(a.metadata.dimension_names or ()), "dtype": str(a.dtype)}
              for name, a in sorted(group.arrays())}
    return {"run_id": rid, **attrs, "arrays": arrays}


def load_run(store: str | os.PathLike, run_id: str) -> dict:
    """A run's arrays as numpy arrays (name -> ndarray)."""
    root = _store.open_store(store)
    rid = _store.find_run(root, run_id)
    return {name: _store.load_array(root, rid, name) for name in _store.array_names(root, rid)}


def open_run(store: str | os.PathLike, run_id: str):
    """A run as an :class:`xarray.Dataset` (needs xarray: ``pip install dynet[analysis]``)."""
    import xarray as xr

    root = _store.open_store(store)
    rid = _store.find_run(root, run_id)
    return xr.open_zarr(os.fspath(store), group=_store.run_path(rid), consolidated=False)
