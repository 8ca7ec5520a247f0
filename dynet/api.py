"""dynet's Python API: what the CLI calls, usable from notebooks and scripts.

Typical use (``import dynet`` gives the same names, see :mod:`dynet`)::

    import dynet
    report = dynet.run_scenario("scenarios/hopfield-quickstart.toml", store="runs.zarr")  # a RunReport
    report.results[0].metrics                              # a RunResult per run executed
    runs = dynet.list_runs("runs.zarr")
    ds = dynet.open_run("runs.zarr", runs[0]["run_id"])    # an xarray.Dataset
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from . import models as _models
from . import store as _store
from .errors import ClusterError
from .kernels import compiling as _compiling
from .scenario import RunSpec, Scenario, ScenarioError, load_scenario

DEFAULT_STORE = "runs.zarr"
#: Work (in synapse updates) that makes a task last about a second; smaller runs are batched.
TASK_COST = 1e9
#: A local sweep expected to take at most this long runs in this process, without a cluster
#: (starting one costs seconds); ``--workers`` asks for the cluster anyway.
IN_PROCESS_SECONDS = 2.0
#: The store's own time per run (claim, metadata, arrays), on one core, for that estimate.
RUN_OVERHEAD_S = 0.06


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

#: result statuses beyond the stored ones: the run is claimed by another live attempt
ELSEWHERE = "elsewhere"
#: a run of a batch whose worker died before the run started (nothing written)
NOT_RUN = "not_run"


def execute_run(
    store_path: str,
    spec: RunSpec,
    *,
    session: str | None = None,
    lease_s: float | None = None,
    stop: Callable[[], bool] | None = None,
) -> dict:
    """Run one run into its own group of the store; a run that raises is stored as failed.

    The run is claimed first (:func:`store.claim_run`): a run that is already complete is
    not run again (status ``complete``, ``skipped``), and one claimed by another live
    attempt is left to it (status ``elsewhere``, with the holder). ``session`` names the
    client that sent the task; it is recorded with the attempt. ``stop()`` is asked after
    each checkpoint the run saves: True stops it there, marked ``cancelled``.
    """
    t0 = time.perf_counter()
    owner = {"attempt": uuid.uuid4().hex[:16], "session": session}
    try:
        claim = _store.claim_run(store_path, spec.run_id, owner, lease_s)
    except (OSError, _store.StoreError) as exc:  # nothing written: the run stays as it was
        return run_result(spec, _store.FAILED, {}, f"cannot claim the run in the store: {exc}", 0.0)
    if not isinstance(claim, _store.Claim):
        return {
            **run_result(spec, ELSEWHERE, {}, None, 0.0),
            "holder": {k: claim.get(k) for k in ("host", "pid", "attempt", "session", "age_s")},
        }
    record = None
    try:
        previous = _store.read_run_attrs(store_path, spec.run_id)
        if previous is not None and previous.get("status") == _store.COMPLETE:  # done by an earlier attempt
            return {**run_result(spec, _store.COMPLETE, previous.get("metrics") or {}, None, 0.0), "skipped": True}
        attrs = {
            "run_id": spec.run_id,
            "scenario": spec.scenario,
            "model": spec.model,
            "config": spec.config,
            "params": spec.params,
            "replicate": spec.replicate,
            "seed": spec.seed,
        }
        attempt = {"id": owner["attempt"], "session": session, "host": _store.HOST, "pid": os.getpid()}
        record = _store.RunRecord(store_path, spec.run_id, attrs, attempt=attempt, previous=previous)
        record.stop_requested = stop
        claim.info["progress"] = None
        record.on_progress = lambda p: claim.info.__setitem__("progress", p)  # written with each heartbeat
        metrics = _models.get(spec.model).run(spec, record)
        elapsed = time.perf_counter() - t0
        if not claim.verify():  # our heartbeat stalled past the lease and another attempt took the run over
            return {**run_result(spec, ELSEWHERE, {}, None, elapsed), "holder": None}
        record.complete(metrics, elapsed)
        return run_result(spec, _store.COMPLETE, metrics, None, elapsed)
    except _store.RunCancelled as exc:
        if not claim.verify():
            return {**run_result(spec, ELSEWHERE, {}, None, time.perf_counter() - t0), "holder": None}
        try:
            record.cancel(str(exc), time.perf_counter() - t0)
        except Exception:  # noqa: BLE001 - e.g. a full disk: the run stays "running", then stale
            pass
        return run_result(spec, _store.CANCELLED, {}, str(exc), time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - a failing run must not stop the others
        error = f"{type(exc).__name__}: {exc}"
        if not claim.verify():  # taken over (its arrays are another attempt's now): write nothing
            return {**run_result(spec, ELSEWHERE, {}, None, time.perf_counter() - t0), "holder": None}
        if record is not None:
            try:
                record.fail(error + "\n" + traceback.format_exc(limit=8), time.perf_counter() - t0)
            except Exception:  # noqa: BLE001, S110 - e.g. a full disk: the run stays "running", then stale
                pass
        return run_result(spec, _store.FAILED, {}, error, time.perf_counter() - t0)
    finally:
        claim.release()


def execute_batch(
    store_path: str, specs: list[RunSpec], *, session: str | None = None, lease_s: float | None = None
) -> list[dict]:
    """A Dask task: several small runs in a row, so the task outlasts its scheduling cost."""
    return [execute_run(store_path, spec, session=session, lease_s=lease_s) for spec in specs]


def run_result(spec: RunSpec, status: str, metrics: dict, error: str | None, elapsed: float) -> dict:
    """What a task returns for one run (a plain dict: it travels back from the workers); the
    client reads it as a :class:`RunResult`."""
    return {
        "run_id": spec.run_id,
        "params": spec.params,
        "replicate": spec.replicate,
        "status": status,
        "metrics": metrics,
        "error": error,
        "elapsed_s": elapsed,
    }


# --------------------------------------------------------------------------- client side


@dataclass(frozen=True)
class RunResult:
    """One run of a :class:`RunReport`: what became of it in this call."""

    run_id: str
    params: dict  # the sweep point: dotted key -> value
    replicate: int
    status: str  # complete, failed, cancelled, or not_run (its worker died before it started)
    metrics: dict  # final metrics (empty unless complete)
    error: str | None = None
    elapsed_s: float | None = None  # None: found complete in the store, not run by this call
    skipped: bool = False  # complete before this call ran it (in the store, or by another client)
    elsewhere: bool = False  # run by another client while this call waited for it

    @property
    def ok(self) -> bool:
        return self.status == _store.COMPLETE

    @classmethod
    def from_dict(cls, r: dict) -> RunResult:
        """From a task's entry (:func:`run_result`, with ``skipped``/``elsewhere`` when true)."""
        return cls(
            run_id=r["run_id"],
            params=r["params"],
            replicate=r["replicate"],
            status=r["status"],
            metrics=r["metrics"],
            error=r["error"],
            elapsed_s=r.get("elapsed_s"),
            skipped=bool(r.get("skipped")),
            elsewhere=bool(r.get("elsewhere")),
        )

    def to_dict(self) -> dict:
        """The entry ``dynet run --json`` prints: ``elapsed_s`` when known, ``skipped`` and
        ``elsewhere`` when true."""
        out = {
            "run_id": self.run_id,
            "params": self.params,
            "replicate": self.replicate,
            "status": self.status,
            "metrics": self.metrics,
            "error": self.error,
        }
        if self.elapsed_s is not None:
            out["elapsed_s"] = self.elapsed_s
        if self.skipped:
            out["skipped"] = True
        if self.elsewhere:
            out["elsewhere"] = True
        return out


@dataclass(frozen=True)
class RunReport:
    """What :func:`run_scenario` did, in the scenario's run order."""

    scenario: str
    store: str
    results: tuple[RunResult, ...] = ()  # runs executed now
    # runs already complete in the store, or completed meanwhile by another client (``elsewhere``)
    skipped: tuple[RunResult, ...] = ()
    sweep_keys: tuple[str, ...] = ()
    summary_metrics: tuple[str, ...] = ()

    @property
    def failed(self) -> list[RunResult]:
        return [r for r in self.results if not r.ok]

    def to_json(self) -> dict:
        """What ``dynet run --json`` prints."""
        return {
            "scenario": self.scenario,
            "store": self.store,
            "executed": len(self.results),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "elsewhere": sum(1 for r in self.skipped if r.elsewhere),
            "runs": [r.to_dict() for r in self.results + self.skipped],
        }


def make_batches(
    specs: list[RunSpec], n_workers: int, cost: Callable[[dict], float], task_cost: float = TASK_COST
) -> list[list[RunSpec]]:
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


class ClusterLostError(ClusterError):
    """The connection to the Dask scheduler was lost in the middle of a sweep."""


def run_scenario(
    path: str | os.PathLike,
    *,
    store: str | os.PathLike = DEFAULT_STORE,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    connect_timeout: float = 10.0,
    security=None,
    lease_s: float | None = None,
    on_compile: Callable[[str], None] | None = None,
) -> RunReport:
    """Run every run of a scenario that is not already complete in ``store``.

    Validation happens first and writes nothing; then the store is checked to be usable
    and writable (a probe file, removed again); then the cluster is started (or the
    scheduler reached); only then is the store created. Complete runs are skipped,
    incomplete or failed ones run again from their seed (or continue from their last
    in-run checkpoint), so the result is bit-identical to an uninterrupted run.

    Each task claims a run before running it (``lease_s``: the claim's lease, default
    ``DYNET_LEASE_SECONDS`` or 60 s): a run another client is running is left to it, and
    this call waits until that run is complete (reported as skipped, ``elsewhere``), runs
    it itself if that claim goes stale, or reports its failure. Losing the scheduler
    raises :class:`ClusterLostError` (nothing is written for runs that did not start).
    ``progress(done, total)`` is called as runs finish; ``connect_timeout`` bounds the
    wait for a ``scheduler``; ``security`` (``cluster.tls_security``) is its TLS setup.

    ``on_compile(kind)`` is called when the model's kernels start compiling, in this process
    or on a worker (a first run on a machine: tens of seconds; numba's cache serves later ones).
    """
    from .cluster import connect

    store_path = os.path.abspath(_store.store_path(store))
    scenario = validate(path, store_path)
    model = _models.get(scenario.model)
    _store.check_writable(store_path)  # refuse an unusable store before starting anything
    lease = float(lease_s or _store.default_lease())

    skipped: list[RunResult] = []
    todo = _not_complete(scenario, store_path, skipped)
    expected_s = sum(model.cost(s.config) for s in todo) / TASK_COST + RUN_OVERHEAD_S * len(todo)
    if scheduler is None and workers is None and expected_s <= IN_PROCESS_SECONDS:
        # about a second of work: no cluster to start (same results: a run depends only on itself)
        _store.open_store(store_path, create=True)
        sweep = _Sweep(None, scenario, store_path, skipped, progress, workers, lease)
        with _compiling.watch(None if on_compile is None else lambda: on_compile(model.name)):
            sweep.run_here(todo)
    else:
        with (
            _quiet_client_log(),
            connect(
                scheduler=scheduler,
                workers=workers,
                models=(scenario.model,),
                timeout=connect_timeout,
                security=security,
                on_compile=on_compile,
            ) as client,
        ):
            check_fits_workers(scenario, client)
            _store.open_store(store_path, create=True)
            sweep = _Sweep(client, scenario, store_path, skipped, progress, workers, lease)
            sweep.run(todo, model.cost)
    order = {s.run_id: i for i, s in enumerate(scenario.runs)}
    return RunReport(
        scenario=scenario.name,
        store=store_path,
        results=tuple(sorted(sweep.results, key=lambda r: order[r.run_id])),
        skipped=tuple(sorted(sweep.skipped, key=lambda r: order[r.run_id])),
        sweep_keys=tuple(scenario.sweep_keys),
        summary_metrics=tuple(model.summary),
    )


def check_fits_workers(scenario: Scenario, client) -> None:
    """Refuse (:class:`ScenarioError`, one line) a scenario with a run larger than the memory the
    client's workers may use, before anything is written: such a run would kill its worker,
    attempt after attempt."""
    from .cluster import MEMORY_PAUSE_FRACTION, worker_memory_limit
    from .scenario import check_memory

    limit = worker_memory_limit(client)
    if limit:
        check_memory(
            scenario,
            MEMORY_PAUSE_FRACTION * limit,
            f"the workers' memory limit is {limit / 2**30:.2f} GiB and Dask pauses a worker at "
            f"{MEMORY_PAUSE_FRACTION:.0%} of it",
        )


def _not_complete(scenario: Scenario, store_path: str, skipped: list[RunResult]) -> list[RunSpec]:
    """The scenario's runs not complete in the store; the complete ones go to ``skipped``."""
    existing = _store.list_runs(_store.open_store(store_path)) if _store.store_exists(store_path) else {}
    todo = []
    for spec in scenario.runs:
        attrs = existing.get(spec.run_id)
        if attrs is not None and attrs.get("status") == _store.COMPLETE:
            skipped.append(
                RunResult(
                    run_id=spec.run_id,
                    params=spec.params,
                    replicate=spec.replicate,
                    status=_store.COMPLETE,
                    metrics=attrs.get("metrics", {}),
                    skipped=True,
                )
            )
        else:
            todo.append(spec)
    return todo


@contextlib.contextmanager
def _quiet_client_log():
    """Keep distributed's client from logging a lost scheduler: :class:`ClusterLostError` says it once."""
    import logging

    log = logging.getLogger("distributed.client")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


class _Sweep:
    """The client's side of one sweep: submit batches, collect results as they arrive
    (dropping each future at once, so a restarted worker never recomputes a finished
    task), wait for runs another client runs, and turn a lost scheduler into one error."""

    def __init__(
        self, client, scenario: Scenario, store_path: str, skipped: list[RunResult], progress, workers, lease_s
    ):
        self.client, self.scenario, self.store_path = client, scenario, store_path
        self.results: list[RunResult] = []  # runs executed now
        self.skipped = skipped  # runs found complete
        self.progress, self.workers, self.lease_s = progress, workers, lease_s
        self.session = uuid.uuid4().hex[:12]
        self.done = 0
        self.total = 0
        self.n_submitted = 0

    def run(self, todo: list[RunSpec], cost) -> None:
        from distributed import as_completed

        self.total = len(todo)
        self._progress()
        n_workers = max(1, len(self.client.scheduler_info(n_workers=-1).get("workers", {})) or (self.workers or 1))
        pending: dict = {}  # future -> its batch; a future is dropped as soon as its result is read
        ac = as_completed(loop=self.client.loop)
        for fut, batch in self._submit(make_batches(todo, n_workers, cost)):
            pending[fut] = batch
            ac.add(fut)
        fut = None  # hold no future longer than needed
        waiting: dict[str, RunSpec] = {}  # runs another live attempt is running
        poll = min(1.0, self.lease_s / 10)
        while pending or waiting:
            if pending and (not waiting or ac.has_ready()):
                for fut in ac.next_batch(block=not waiting):
                    batch = pending.pop(fut)
                    results = self._collect(fut, batch)
                    del fut
                    self._record(results, {s.run_id: s for s in batch}, waiting)
                continue
            again = self._poll(waiting)
            if again:
                for fut, batch in self._submit([again]):
                    pending[fut] = batch
                    ac.add(fut)
                fut = None
            elif waiting:
                time.sleep(poll)

    def run_here(self, todo: list[RunSpec]) -> None:
        """Run the runs in this process, one after another (a sweep too small for a cluster)."""
        self.total = len(todo)
        self._progress()
        waiting: dict[str, RunSpec] = {}
        for spec in todo:
            self._record(
                [execute_run(self.store_path, spec, session=self.session, lease_s=self.lease_s)],
                {spec.run_id: spec},
                waiting,
            )
        while waiting:  # runs another client holds: wait for them, or run them once their claim is stale
            again = self._poll(waiting)
            for spec in again:
                self._record(
                    [execute_run(self.store_path, spec, session=self.session, lease_s=self.lease_s)],
                    {spec.run_id: spec},
                    waiting,
                )
            if waiting and not again:
                time.sleep(min(1.0, self.lease_s / 10))

    def _submit(self, batches: list[list[RunSpec]]):
        for batch in batches:
            self.n_submitted += 1
            key = f"dynet-{self.scenario.name}-{batch[0].run_id}-{self.session}-{self.n_submitted}"
            yield (
                self.client.submit(
                    execute_batch,
                    self.store_path,
                    batch,
                    session=self.session,
                    lease_s=self.lease_s,
                    key=key,
                    pure=False,
                ),
                batch,
            )

    def _progress(self) -> None:
        if self.progress:
            self.progress(self.done, self.total)

    def _record(self, results: list[dict], specs: dict[str, RunSpec], waiting: dict) -> None:
        for r in results:
            if r["status"] == ELSEWHERE:
                waiting[r["run_id"]] = specs[r["run_id"]]
                continue
            (self.skipped if r.get("skipped") else self.results).append(RunResult.from_dict(r))
            self.done += 1
        self._progress()

    def _poll(self, waiting: dict[str, RunSpec]) -> list[RunSpec]:
        """Look at the runs other attempts hold: complete ones are counted, failed ones reported,
        those whose claim is gone or stale come back to be run here."""
        again = []
        for rid, spec in list(waiting.items()):
            claim = _store.read_claim(self.store_path, rid)  # first: a final status is written before release
            attrs = _store.read_run_attrs(self.store_path, rid) or {}
            status = attrs.get("status")
            if status == _store.COMPLETE:
                self.skipped.append(
                    RunResult.from_dict(
                        {
                            **run_result(spec, status, attrs.get("metrics") or {}, None, 0.0),
                            "skipped": True,
                            "elsewhere": True,
                        }
                    )
                )
            elif claim is not None and not claim["stale"]:
                continue  # still running elsewhere
            elif status == _store.FAILED and claim is None:
                error = (attrs.get("error") or "").split("\n")[0]
                self.results.append(
                    RunResult.from_dict({**run_result(spec, status, {}, error, 0.0), "elsewhere": True})
                )
            else:
                again.append(spec)  # its attempt died or gave up: run it here
                del waiting[rid]
                continue
            del waiting[rid]
            self.done += 1
            self._progress()
        return again

    def _collect(self, fut, batch: list[RunSpec]) -> list[dict]:
        try:
            return fut.result()
        except Exception as exc:  # noqa: BLE001 - sorted out below
            if fut.status == "cancelled" or self.client.status != "running":
                complete = sum(
                    1
                    for s in self.scenario.runs
                    if (_store.read_run_attrs(self.store_path, s.run_id) or {}).get("status") == _store.COMPLETE
                )
                raise ClusterLostError(
                    f"lost the connection to the Dask scheduler: {complete} of {len(self.scenario.runs)} runs "
                    f"are complete in {self.store_path}; run the same command again to finish the rest"
                ) from None
            return self._task_failed(batch, exc)

    def _task_failed(self, batch: list[RunSpec], exc: Exception) -> list[dict]:
        """A task that raised instead of returning results (a worker that died too often):
        the runs of the batch this client had started are stored as failed; the others
        are left as they are (complete ones counted, not-started ones reported, not written)."""
        if type(exc).__name__ == "KilledWorker":
            import re

            import dask

            m = re.search(r"on (\d+) different workers", str(exc))
            n = int(m.group(1)) if m else int(dask.config.get("distributed.scheduler.allowed-failures", 3)) + 1
            reason = f"worker died {n} times while running this run (out of memory?)"
        else:
            first = str(exc).splitlines()[0] if str(exc) else ""
            reason = f"its task failed: {type(exc).__name__}: {first}"
        results = []
        for spec in batch:
            attrs = _store.read_run_attrs(self.store_path, spec.run_id) or {}
            status = attrs.get("status")
            if status == _store.COMPLETE:
                results.append(run_result(spec, status, attrs.get("metrics") or {}, None, 0.0))
            elif status == _store.RUNNING and (attrs.get("attempt") or {}).get("session") == self.session:
                claim = _store.read_claim(self.store_path, spec.run_id)
                if claim is not None and not claim["stale"]:  # its process lives on (wrongly declared dead)
                    results.append(run_result(spec, ELSEWHERE, {}, None, 0.0))  # wait for it
                    continue
                try:
                    _store.mark_failed(self.store_path, spec.run_id, reason)
                except (OSError, ValueError, KeyError):  # the report says it failed either way
                    pass
                results.append(run_result(spec, _store.FAILED, {}, reason, 0.0))
            else:
                results.append(run_result(spec, NOT_RUN, {}, f"not started: {reason}; run again", 0.0))
        return results


def summarize(report: RunReport) -> list[dict]:
    """One row per sweep point: counts and replicate means of the model's summary metrics."""
    rows: dict[str, dict] = {}
    for r in report.results + report.skipped:
        key = repr(sorted(r.params.items()))
        row = rows.setdefault(key, {"params": r.params, "runs": 0, "failed": 0, "_m": {}})
        row["runs"] += 1
        if not r.ok:
            row["failed"] += 1
            continue
        for m in report.summary_metrics:
            v = r.metrics.get(m)
            if v is not None:
                row["_m"].setdefault(m, []).append(float(v))
    out = []
    for row in rows.values():
        means = {m: (sum(v) / len(v) if v else math.nan) for m, v in row.pop("_m").items()}
        row.update({m: means.get(m, math.nan) for m in report.summary_metrics})
        out.append(row)
    return out


# --------------------------------------------------------------------------- reading the store


def _lease(claim: dict | None) -> dict | None:
    if claim is None:
        return None
    return {k: claim.get(k) for k in ("host", "pid", "attempt", "session", "claimed", "age_s", "lease_s", "stale")}


def list_runs(store: str | os.PathLike) -> list[dict]:
    """One dict per run: id, scenario, params, replicate, status, metrics, error (its first line).

    Besides the stored statuses (``running``, ``complete``, ``failed``), ``damaged`` is a run
    whose metadata cannot be read (``error`` says why) and ``stale`` a ``running`` run whose
    attempt no longer heartbeats (killed); ``lease`` describes a running run's claim
    (host, pid, heartbeat age ``age_s``)."""
    root = _store.open_store(store)
    path = os.fspath(store)
    out = []
    for rid, a in _store.list_runs(root).items():
        status, error, claim = _store.live_status(path, rid, a)
        out.append(
            {
                "run_id": rid,
                "scenario": a.get("scenario"),
                "model": a.get("model"),
                "params": a.get("params", {}),
                "replicate": a.get("replicate"),
                "status": status,
                "metrics": a.get("metrics", {}),
                "error": error,
                "lease": _lease(claim),
            }
        )
    return out


def show_run(store: str | os.PathLike, run_id: str) -> dict:
    """A run's full record (attributes) and its arrays' shapes and dimension names; ``status``
    as :func:`list_runs` reports it, and ``lease`` (host, pid, heartbeat age) while it runs."""
    root = _store.open_store(store)
    rid = _store.find_run(root, run_id)
    attrs = _store.run_attrs(root, rid)
    status, error, claim = _store.live_status(os.fspath(store), rid, attrs)
    arrays = {}
    if status != _store.DAMAGED:
        group = root[_store.run_path(rid)]
        arrays = {
            name: {"shape": list(a.shape), "dims": list(a.metadata.dimension_names or ()), "dtype": str(a.dtype)}
            for name, a in sorted(group.arrays())
        }
    info = {"run_id": rid, **attrs, "status": status, "lease": _lease(claim), "arrays": arrays}
    if status == _store.STALE:
        info["error"] = error
    return info


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
