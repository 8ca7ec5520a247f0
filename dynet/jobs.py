"""Detached jobs: submit a scenario to a Dask cluster, walk away, come back to the store.

``submit`` validates the scenario, connects, checks the store can be written, writes a
job record into the store (``store.write_job``: scenario, resolved run ids, who
submitted it from where and when, dynet version), hands the runs to the scheduler with
``fire_and_forget`` and returns: the runs go on without the client. The store is the
source of truth: each run's own status and claim (``store.read_run_attrs``,
``store.read_claim``) and the job record, never the scheduler's memory, so ``status``
works from any machine that sees the store, after any fault.

A run's state in a job (``STATES``): ``pending`` (no attempt has written anything),
``running`` (claimed, heartbeat fresh), ``stale`` (an attempt stopped without finishing:
its heartbeat is older than the lease or its process is gone), ``complete``, ``failed``,
``cancelled``, ``damaged``. ``cancel`` marks the job: its pending runs never start, and a
running run stops at its next checkpoint (the checkpoint is kept) and is marked
``cancelled``. A later ``submit`` or ``run`` of the same scenario finishes every run that
is not complete, continuing checkpointed ones.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import os
import socket
import uuid
from dataclasses import dataclass, field

from . import __version__
from . import api as _api
from . import models as _models
from . import store as _store
from .scenario import RunSpec

PENDING = "pending"
RUNNING = "running"
STATES = (PENDING, RUNNING, _store.STALE, _store.COMPLETE, _store.FAILED, _store.CANCELLED, _store.DAMAGED)


class JobError(_store.StoreError):
    """No such job, or an ambiguous job id prefix (bad input: the CLI exits 2)."""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


# --------------------------------------------------------------------------- worker side


def run_job_batch(store_path: str, job_id: str, specs: list[RunSpec], lease_s: float | None = None) -> list[dict]:
    """A detached job's Dask task: the batch's runs in a row, none started once the job is cancelled."""
    out = []
    for spec in specs:
        if _store.job_cancelled(store_path, job_id):
            out.append(_api.run_result(spec, _store.CANCELLED, {}, None, 0.0))
            continue
        out.append(
            _api.execute_run(
                store_path, spec, session=job_id, lease_s=lease_s, stop=lambda: _store.job_cancelled(store_path, job_id)
            )
        )
    return out


# --------------------------------------------------------------------------- client side


@dataclass(frozen=True)
class Submitted:
    """What :func:`submit` handed to the scheduler."""

    job_id: str
    scenario: str
    store: str
    runs: int  # runs in the job
    already_complete: int  # of them, complete in the store before the submission
    tasks: int  # Dask tasks handed to the scheduler
    scheduler: str


def submit(
    path: str | os.PathLike,
    *,
    scheduler: str,
    store: str | os.PathLike = _api.DEFAULT_STORE,
    security=None,
    connect_timeout: float = 10.0,
) -> Submitted:
    """Submit every run of a scenario not complete in ``store`` as a detached job; return at once.

    Validates first (nothing written on bad input), checks that the store can be written,
    connects, then writes the job record and hands the tasks over with ``fire_and_forget``.
    """
    from distributed import fire_and_forget

    from .cluster import connect

    store_path = os.path.abspath(_store.store_path(store))
    scenario = _api.validate(path, store_path)
    model = _models.get(scenario.model)
    _store.check_writable(store_path)
    with connect(scheduler=scheduler, models=(scenario.model,), timeout=connect_timeout, security=security) as client:
        _api.check_fits_workers(scenario, client)
        _store.open_store(store_path, create=True)
        done = {
            rid
            for rid, st in _run_states(store_path, [s.run_id for s in scenario.runs]).items()
            if st == _store.COMPLETE
        }
        todo = [s for s in scenario.runs if s.run_id not in done]
        job_id = uuid.uuid4().hex[:12]
        record = {
            "job_id": job_id,
            "scenario": scenario.name,
            "model": scenario.model,
            "scenario_path": os.path.abspath(os.fspath(path)),
            "scenario_doc": scenario.raw,
            "runs": [s.run_id for s in scenario.runs],
            "submitted": _now(),
            "user": _user(),
            "host": socket.gethostname(),
            "scheduler": scheduler,
            "dynet_version": __version__,
            "cancelled": None,
        }
        _store.write_job(store_path, job_id, record)
        n_workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
        batches = _api.make_batches(todo, n_workers, model.cost)
        lease = _store.default_lease()  # the submitter's setting, not each worker's
        futures = [
            client.submit(run_job_batch, store_path, job_id, batch, lease, key=f"dynet-job-{job_id}-{i}", pure=False)
            for i, batch in enumerate(batches)
        ]
        fire_and_forget(futures)
        # the scheduler holds the tasks once they are registered; wait for that before leaving
        client.sync(_flush, client)
    return Submitted(
        job_id=job_id,
        scenario=scenario.name,
        store=store_path,
        runs=len(scenario.runs),
        already_complete=len(done),
        tasks=len(batches),
        scheduler=scheduler,
    )


async def _flush(client) -> None:
    # a round trip to the scheduler: every message sent before it (the submissions) has arrived
    await client.scheduler.identity()


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return str(os.getuid())


# --------------------------------------------------------------------------- reading jobs


def _run_states(store_path: str, run_ids: list[str], job_id: str | None = None) -> dict[str, str]:
    """Each run's state as the store tells it. With ``job_id``, a run not complete whose last
    attempt was not this job's counts as ``pending``: the job has not got to it yet."""
    states = {}
    for rid in run_ids:
        claim = _store.read_claim(store_path, rid)  # first: a final status is written before release
        if claim is not None and not claim["stale"]:
            states[rid] = RUNNING
            continue
        attrs = _store.read_run_attrs(store_path, rid)
        if attrs is None:
            states[rid] = PENDING
            continue
        status = attrs.get("status")
        if status == _store.COMPLETE:
            states[rid] = status
        elif job_id is not None and (attrs.get("attempt") or {}).get("session") != job_id:
            states[rid] = PENDING  # an earlier attempt's failure, stale run or cancellation
        elif status == _store.RUNNING:
            states[rid] = _store.STALE
        else:
            states[rid] = status if status in STATES else _store.DAMAGED
    return states


@dataclass(frozen=True)
class JobStatus:
    """A job's record and each of its runs' state, as the store tells them."""

    job_id: str
    record: dict
    states: dict[str, str] = field(default_factory=dict)  # run id -> state
    errors: dict[str, str] = field(default_factory=dict)  # run id -> first line of the error
    progress: dict[str, dict] = field(default_factory=dict)  # run id -> {"done", "total", "unit"} if known

    @property
    def counts(self) -> dict[str, int]:
        counts = {s: 0 for s in STATES}
        for st in self.states.values():
            counts[st] = counts.get(st, 0) + 1
        return counts

    @property
    def finished(self) -> bool:
        """No run is pending or running: the job has nothing left in flight."""
        c = self.counts
        return c[PENDING] == 0 and c[RUNNING] == 0

    def to_json(self) -> dict:
        r = self.record
        return {
            "job_id": self.job_id,
            "scenario": r.get("scenario"),
            "submitted": r.get("submitted"),
            "user": r.get("user"),
            "host": r.get("host"),
            "scheduler": r.get("scheduler"),
            "dynet_version": r.get("dynet_version"),
            "cancelled": r.get("cancelled"),
            "counts": self.counts,
            "runs": self.states,
            "errors": self.errors,
            "progress": self.progress,
        }


def find_job(store: str | os.PathLike, prefix: str) -> str:
    """The job id that starts with ``prefix`` (unique)."""
    ids = [j for j in _store.list_jobs(os.fspath(store)) if j.startswith(prefix)]
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise JobError(f"no job '{prefix}' in {os.fspath(store)}")
    raise JobError(
        f"job id '{prefix}' matches {len(ids)} jobs: {', '.join(ids[:5])}" + (", ..." if len(ids) > 5 else "")
    )


def job_status(store: str | os.PathLike, job: str) -> JobStatus:
    store_path = _store.store_path(store)
    _store.open_store(store_path)
    job_id = find_job(store_path, job)
    record = _store.read_job(store_path, job_id)
    states = _run_states(store_path, record["runs"], job_id)
    if record.get("cancelled"):
        states = {rid: _store.CANCELLED if st == PENDING else st for rid, st in states.items()}
    status = JobStatus(job_id=job_id, record=record, states=states)
    for rid, st in states.items():
        if st in (_store.FAILED, _store.DAMAGED):
            attrs = _store.read_run_attrs(store_path, rid) or {}
            status.errors[rid] = (attrs.get("error") or st).split("\n")[0]
        elif st == RUNNING:
            claim = _store.read_claim(store_path, rid) or {}
            if claim.get("progress"):
                status.progress[rid] = claim["progress"]
    return status


def list_jobs(store: str | os.PathLike) -> list[JobStatus]:
    store_path = _store.store_path(store)
    _store.open_store(store_path)
    out = [job_status(store_path, j) for j in _store.list_jobs(store_path)]
    return sorted(out, key=lambda s: s.record.get("submitted") or "")


def cancel(store: str | os.PathLike, job: str) -> JobStatus:
    """Cancel a job: pending runs never start, running ones stop at their next checkpoint."""
    store_path = _store.store_path(store)
    _store.open_store(store_path)
    job_id = find_job(store_path, job)
    _store.cancel_job(store_path, job_id, _now())
    return job_status(store_path, job_id)
