"""The Zarr v3 run store: the only module that knows paths inside a store.

Layout (format 1)::

    STORE/                         root group, attrs["dynet_store"] = {"format": 1, ...}
      runs/                        one group per run
        <run_id>/                  attrs: run record (see ``RunRecord``)
          <trajectory arrays>      e.g. sweep (sweep,), state (sweep, unit), ...
          <static arrays>          e.g. patterns (pattern, unit)
          checkpoint/a, b/         in-run checkpoints of a long run (two slots, written
                                   alternately; attrs["checkpoint"] names the good one);
                                   removed when the run completes
      claims/                      a group holding no arrays: one small JSON file
        <run_id>.<gen>.json        per run being run now (its lease; see ``claim_run``)

Every array carries ``dimension_names``, so ``xarray.open_zarr(STORE,
group="runs/<run_id>")`` opens a run as a labelled dataset. A run's ``status`` is
``running`` while it is written, ``complete`` once its last array is written, or
``failed`` with the error. Readers also report ``damaged`` (the run group's
``zarr.json`` is not valid JSON: the run is listed with the reason and run again) and,
from the claims, ``stale`` (``running`` but its attempt's heartbeat stopped). A run
folder without a ``zarr.json`` (e.g. left by a full disk) is a run that never
started: it is not listed, and the next ``dynet run`` runs it.

Each run is written by exactly one attempt at a time: before writing, a task claims
the run (:func:`claim_run`, an exclusive create of ``claims/<run_id>.<gen>.json``
holding host, pid, attempt id and a heartbeat that a background thread refreshes);
a run claimed by a live attempt is left to it, a claim whose heartbeat is older than
its lease (or whose process is gone, on the same host) is ``stale`` and may be taken
over by creating the next generation.

A long run may save checkpoints (:meth:`RunRecord.save_checkpoint`): its trajectories
are flushed, the model's state arrays are written into the slot not named by the
run's ``checkpoint`` attribute, and only then the attribute is switched to that slot
(with the model's JSON state and the trajectory lengths). A later attempt of the same
run (same config, replicate, seed, dynet version) reopens the group instead of
clearing it, truncates the trajectories to the saved lengths and hands the state to
the model (:attr:`RunRecord.resumed`), so it continues where the checkpoint was taken
and ends bit-identical to an uninterrupted run. A kill while a slot is written leaves
the other slot and the attribute intact.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import functools
import json
import logging
import math
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import zarr

from . import __version__
from .errors import DynetError

FORMAT = 1
STORE_ATTR = "dynet_store"
RUNS = "runs"
CLAIMS = "claims"
ZARR_JSON = "zarr.json"
CHUNK_BYTES = 1 << 20  # ~1 MB chunks along time

CHECKPOINT = "checkpoint"

RUNNING = "running"
COMPLETE = "complete"
FAILED = "failed"
#: a run stopped at a checkpoint because its job was cancelled (resumable like any unfinished run)
CANCELLED = "cancelled"
JOBS = "jobs"
#: statuses readers derive (never written): a run group whose metadata is unreadable, and a
#: ``running`` run whose attempt stopped heartbeating
DAMAGED = "damaged"
STALE = "stale"

#: seconds a claim stays valid without a heartbeat (``DYNET_LEASE_SECONDS`` overrides)
LEASE_S = 60.0
HOST = socket.gethostname()


class StoreError(DynetError):
    """The path is not a usable dynet store (wrong format version, not a dynet store, ...)."""


class RunCancelled(Exception):
    """Raised by :meth:`RunRecord.save_checkpoint` once the checkpoint is safe and a stop was requested."""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def default_lease() -> float:
    """The lease (seconds) of a claim: ``DYNET_LEASE_SECONDS`` or :data:`LEASE_S`."""
    try:
        return max(0.5, float(os.environ.get("DYNET_LEASE_SECONDS", LEASE_S)))
    except ValueError:
        return LEASE_S


def _read_json(path: str) -> dict:
    """A metadata file's JSON; :class:`ValueError` with the reason when it is not valid JSON."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})" if raw.strip() else "empty file") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")  # noqa: TRY004 - one error type for "unreadable metadata"
    return doc


def _check_meta(path: str) -> dict:
    """Read a metadata file the whole store depends on; a damaged one is a one-line StoreError naming it."""
    try:
        return _read_json(path)
    except ValueError as exc:
        raise StoreError(f"{path}: {exc}: the store's metadata is damaged") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _check_root(meta: dict, path: str) -> None:
    if meta.get("zarr_format") != 3 or meta.get("node_type") != "group":
        raise StoreError(f"{path}: not a dynet store (its root is not a Zarr v3 group)")
    meta = (meta.get("attributes") or {}).get(STORE_ATTR)
    if meta is None:
        raise StoreError(f"{path}: not a dynet store (no '{STORE_ATTR}' attribute on its root group)")
    fmt = meta.get("format")
    if fmt != FORMAT:
        raise StoreError(
            f"{path}: store format {fmt} was written by dynet {meta.get('dynet_version', '?')}; "
            f"this dynet ({__version__}) reads format {FORMAT} only"
        )


def store_path(location: str | os.PathLike) -> str:
    """The local folder of a store location: a path, or a ``file://`` URL.

    Other URLs (``s3://``, ``gs://``, ``memory://``, ...) are refused with a one-line
    :class:`StoreError` rather than written as a local folder named ``s3:``: dynet stores
    live on a local or shared file system (where every worker sees the same path).
    """
    loc = os.fspath(location)
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", loc)
    if m is None:
        return loc
    scheme = m.group(1).lower()
    if scheme == "file":
        return loc[len(m.group(0)) :] or "/"
    raise StoreError(
        f"{loc}: '{scheme}://' stores are not supported: a dynet store is a folder on a local or "
        "shared file system (a path, or a file:// URL)"
    )


def _is_zarr_v2(path: str) -> bool:
    return any(os.path.exists(os.path.join(path, n)) for n in (".zgroup", ".zattrs", ".zarray", ".zmetadata"))


def store_exists(path: str | os.PathLike) -> bool:
    """Whether a store (or something claiming to be one) is at ``path``."""
    return os.path.exists(os.path.join(store_path(path), ZARR_JSON))


def open_store(path: str | os.PathLike, *, create: bool = False) -> zarr.Group:
    """Open a dynet store's root group, creating it when ``create`` and absent.

    Raises :class:`StoreError` for a missing store (unless ``create``), for a Zarr
    hierarchy that is not a dynet store (a Zarr v2 store included), for damaged root
    metadata, for an incompatible format version, and when it cannot be created.
    """
    path = store_path(path)
    meta_path = os.path.join(path, ZARR_JSON)
    if not os.path.exists(meta_path):
        if _is_zarr_v2(path):
            raise StoreError(
                f"{path}: a Zarr v2 store (it has .zgroup/.zattrs); dynet reads and writes Zarr v3 stores only"
            )
        if not create:
            raise StoreError(f"{path}: no dynet store here")
        if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
            raise StoreError(f"{path}: exists and is not a Zarr store; refusing to write into it")
        try:
            # the root is created with its attributes in one write and never with mode "w": two
            # clients creating the same store at once must not wipe each other's runs
            try:
                root = zarr.create_group(
                    path, attributes={STORE_ATTR: {"format": FORMAT, "dynet_version": __version__, "created": _now()}}
                )
            except zarr.errors.ContainsGroupError:
                root = zarr.open_group(path, mode="r+")
            root.require_group(RUNS)
            root.require_group(CLAIMS)
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the store: {exc.strerror or exc}") from None
        return root
    _check_root(_check_meta(meta_path), path)
    runs_meta = os.path.join(path, RUNS, ZARR_JSON)
    if os.path.exists(runs_meta):
        _check_meta(runs_meta)
    return zarr.open_group(path, mode="r+" if create else "r")


def check_writable(path: str | os.PathLike) -> None:
    """Check, before anything starts, that runs can be written into the store at ``path``.

    An existing store is checked (format, metadata) and a probe file is written into and
    removed from its ``runs`` folder; for a new store, the folders are created, probed and
    removed again. Raises :class:`StoreError` (one line); leaves nothing behind.
    """
    path = os.path.abspath(store_path(path))
    probe_name = f".dynet-probe-{uuid.uuid4().hex}"
    if os.path.exists(os.path.join(path, ZARR_JSON)):
        open_store(path)
        target = os.path.join(path, RUNS)
        made: list[str] = []
    else:
        if _is_zarr_v2(path):
            open_store(path)  # raises the Zarr v2 message
        if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
            raise StoreError(f"{path}: exists and is not a Zarr store; refusing to write into it")
        target, made = path, []
        parent = path
        while not os.path.exists(parent):
            made.append(parent)
            parent = os.path.dirname(parent)
    probe = os.path.join(target, probe_name)
    try:
        for d in reversed(made):
            os.mkdir(d)
        os.makedirs(target, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"dynet")
        os.unlink(probe)
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot write the store: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename and exc.filename != path else "")
        ) from None
    finally:
        for d in made:  # deepest first
            try:
                os.rmdir(d)
            except OSError:
                pass


def run_path(run_id: str) -> str:
    return f"{RUNS}/{run_id}"


def _local_dir(root: zarr.Group) -> str | None:
    base = getattr(root.store, "root", None)
    if base is None:
        return None
    return os.path.join(os.fspath(base), root.path) if root.path else os.fspath(base)


def _damaged(reason: str) -> dict:
    return {"status": DAMAGED, "error": reason}


def read_run_attrs(store_path: str | os.PathLike, run_id: str) -> dict | None:
    """A run's attributes read straight from its group's metadata: ``None`` when the run
    never started (no group, or a folder without ``zarr.json``); ``{"status": "damaged",
    "error": reason}`` when the metadata is unreadable."""
    _, attrs, problem = _read_record(os.path.join(os.fspath(store_path), RUNS), run_id)
    if problem == NEVER_STARTED:
        return None
    return _damaged(problem) if problem is not None else dict(attrs)


def list_runs(root: zarr.Group) -> dict[str, dict]:
    """Run id -> run attributes, for every run group in the store.

    A run whose group metadata is not valid JSON is listed as ``{"status": "damaged",
    "error": reason}``; a run folder without metadata (never started) is not listed.
    """
    base = _local_dir(root)
    if base is None:  # not a local folder: ask zarr, one group at a time
        runs = root.get(RUNS)
        out = {}
        for name in sorted(runs.group_keys()) if runs is not None else ():
            try:
                out[name] = dict(runs[name].attrs)
            except (ValueError, KeyError) as exc:
                out[name] = _damaged(str(exc))
        return out
    try:
        names = sorted(e.name for e in os.scandir(os.path.join(base, RUNS)) if e.is_dir())
    except FileNotFoundError:
        return {}
    out = {}
    for name in names:
        attrs = read_run_attrs(base, name)
        if attrs is not None:
            out[name] = attrs
    return out


def run_attrs(root: zarr.Group, run_id: str) -> dict:
    base = _local_dir(root)
    if base is not None:
        attrs = read_run_attrs(base, run_id)
        if attrs is None:
            raise StoreError(f"no run '{run_id}' in this store")
        return attrs
    try:
        return dict(root[run_path(run_id)].attrs)
    except KeyError:
        raise StoreError(f"no run '{run_id}' in this store") from None


def find_run(root: zarr.Group, prefix: str) -> str:
    """The run id that starts with ``prefix`` (unique), as ``git`` resolves short hashes."""
    base = _local_dir(root)
    if base is not None:  # from the folder names alone, without reading every run's record
        return resolve_run(base, prefix)
    return _the_one(prefix, [r for r in list_runs(root) if r.startswith(prefix)])


def _the_one(prefix: str, ids: list[str]) -> str:
    """The only id of ``ids`` (those matching ``prefix``), or a one-line error saying how many match."""
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise StoreError(f"no run '{prefix}' in this store")
    more = ", ..." if len(ids) > 5 else ""
    raise StoreError(f"run id '{prefix}' is ambiguous: matches {len(ids)} runs: {', '.join(ids[:5])}{more}")


def load_array(root: zarr.Group, run_id: str, name: str) -> np.ndarray:
    return root[f"{run_path(run_id)}/{name}"][...]


def array_names(root: zarr.Group, run_id: str) -> list[str]:
    return sorted(name for name, _ in root[run_path(run_id)].arrays())


# --------------------------------------------------------------------------- claims (leases)
#
# A claim is a small JSON file ``claims/<run_id>.<gen>.json`` created exclusively
# (O_CREAT | O_EXCL): of two attempts creating the same generation, one wins. The highest
# generation is the run's current claim. Its owner's heartbeat thread rewrites it in place
# (never re-creating it) every ``lease_s / 6`` seconds; a claim whose heartbeat is older than its
# ``lease_s``, or whose process is gone (same host), is stale and is taken over by creating
# the next generation. Releasing deletes the file. Everything goes through ``claim_run``,
# ``read_claim`` and :class:`Claim`, so another backend (an object store's conditional
# write) can replace the file system here.


def _claims_dir(store_path: str) -> str:
    return os.path.join(store_path, CLAIMS)


def _ensure_claims_dir(store_path: str) -> str:
    d = _claims_dir(store_path)
    if not os.path.exists(os.path.join(d, ZARR_JSON)):  # a store made before claims existed
        zarr.open_group(store_path, mode="r+").require_group(CLAIMS)
    return d


def _claim_files(store_path: str, run_id: str) -> list[tuple[int, str]]:
    prefix = run_id + "."
    try:
        names = os.listdir(_claims_dir(store_path))
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        gen = n[len(prefix) : -5]
        if n.startswith(prefix) and n.endswith(".json") and gen.isdigit():
            out.append((int(gen), os.path.join(_claims_dir(store_path), n)))
    return sorted(out)


def _pid_gone(pid) -> bool:
    """Whether process ``pid`` of this host is gone (a zombie counts as gone)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, TypeError, OverflowError):
        return False
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


#: every claim file has this size (JSON padded with spaces), so a heartbeat rewrites it in
#: place with one write that readers see whole, and never leaves a longer old tail behind
CLAIM_BYTES = 4096


def _claim_bytes(info: dict) -> bytes:
    raw = json.dumps(info).encode()
    if len(raw) > CLAIM_BYTES:
        raise StoreError(f"claim of run {info.get('run_id')} does not fit in {CLAIM_BYTES} bytes")
    return raw.ljust(CLAIM_BYTES)


def _claim_info(path: str, now: float | None = None) -> dict | None:
    """A claim file's content plus ``age_s`` (since its heartbeat), ``stale`` and ``why``;
    None once it is gone."""
    now = time.time() if now is None else now
    try:
        mtime = os.stat(path).st_mtime
        info = _read_json(path)
    except FileNotFoundError:
        return None
    except (ValueError, OSError):  # being created this instant (empty), or garbage: judged by its age
        info = {}
    lease = float(info.get("lease_s") or LEASE_S)
    age = now - float(info.get("heartbeat") or mtime)
    info.update(age_s=round(age, 3), stale=False, why=None)
    if info.get("host") == HOST and info.get("pid") is not None and _pid_gone(info["pid"]):
        info.update(stale=True, why=f"its process {info['pid']} on {HOST} is gone")
    elif age > lease:
        info.update(stale=True, why=f"no heartbeat for {age:.0f} s (lease {lease:g} s)")
    return info


def read_claim(store_path: str | os.PathLike, run_id: str) -> dict | None:
    """The run's current claim (see :func:`_claim_info`), or None when nobody claims it."""
    store_path = os.fspath(store_path)
    for _ in range(5):
        files = _claim_files(store_path, run_id)
        if not files:
            return None
        info = _claim_info(files[-1][1])
        if info is not None:
            return info
    return None


def live_status(store_path: str | os.PathLike, run_id: str, attrs: dict) -> tuple[str | None, str | None, dict | None]:
    """(status, error line, claim) of a run as a reader should see it: a ``running`` run whose
    attempt stopped heartbeating (or never claimed it) is ``stale``."""
    status, error = attrs.get("status"), (attrs.get("error") or "").split("\n")[0] or None
    if status != RUNNING:
        return status, error, None
    claim = read_claim(store_path, run_id)
    if claim is None:
        return STALE, "stale: no live attempt holds this run; `dynet run` runs it again", None
    if claim["stale"]:
        who = f"host {claim.get('host')} pid {claim.get('pid')}, heartbeat {claim['age_s']:.0f} s ago"
        return STALE, f"stale: {claim['why']} ({who}); `dynet run` runs it again", claim
    return status, None, claim


class Claim:
    """This process's claim on one run; a background thread keeps its heartbeat fresh."""

    def __init__(self, store_path: str, run_id: str, gen: int, path: str, info: dict):
        self.store_path, self.run_id, self.gen, self.path, self.info = store_path, run_id, gen, path, info
        self.lost = False  # another attempt took the claim over (our heartbeat stalled past the lease)
        self._released = False
        self._lock = threading.Lock()

    @property
    def lease_s(self) -> float:
        return float(self.info["lease_s"])

    def _superseded(self) -> bool:
        """Another attempt holds the run: our file is gone (taken over, then released) or a
        higher generation exists. Call with ``_lock`` held."""
        return not os.path.exists(self.path) or any(g > self.gen for g, _ in _claim_files(self.store_path, self.run_id))

    def beat(self) -> None:
        """Refresh the heartbeat (an in-place rewrite of the claim file); notice a takeover. A claim
        whose file is gone is lost and never written again."""
        with self._lock:
            if self._released or self.lost:
                return
            if self._superseded():
                self.lost = True
                return
            self.info["heartbeat"] = time.time()
            # rewritten in place, never re-created: a claim file another attempt removed stays
            # removed (a create-and-rename here could bring back a claim that was taken over)
            try:
                fd = os.open(self.path, os.O_WRONLY)
            except FileNotFoundError:
                self.lost = True
                return
            except OSError:  # a lost mount: the next beat tries again
                return
            try:
                os.pwrite(fd, _claim_bytes(self.info), 0)
            except OSError:  # a full disk: the next beat tries again
                pass
            finally:
                os.close(fd)

    def verify(self) -> bool:
        """Whether this attempt still holds the run, checked now (not at the last heartbeat):
        asked right before the run's final write, so an attempt that was taken over never
        writes over the attempt that took it."""
        with self._lock:
            if not self.lost and not self._released:
                try:
                    with open(self.path) as f:
                        mine = json.load(f).get("attempt") == self.info.get("attempt")
                    self.lost = not mine or self._superseded()
                except (OSError, ValueError):
                    self.lost = True
            return not self.lost

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        _HEARTBEATS.remove(self)
        if not self.lost:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


class _Heartbeats:
    """One daemon thread per process refreshing every claim it holds."""

    def __init__(self):
        self._claims: set[Claim] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()  # set by add(): a new claim's lease may be shorter
        self._thread: threading.Thread | None = None

    def add(self, claim: Claim) -> None:
        with self._lock:
            self._claims.add(claim)
            self._wake.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="dynet-heartbeat", daemon=True)
                self._thread.start()

    def remove(self, claim: Claim) -> None:
        with self._lock:
            self._claims.discard(claim)

    def _loop(self) -> None:
        while True:
            with self._lock:
                claims = list(self._claims)
            interval = min((c.lease_s for c in claims), default=LEASE_S) / 6
            self._wake.wait(min(10.0, max(0.1, interval)))
            self._wake.clear()
            with self._lock:
                claims = list(self._claims)
            for c in claims:
                try:
                    c.beat()
                except Exception:  # noqa: BLE001 - e.g. ESTALE on NFS: the thread must live on
                    logging.getLogger("dynet.store").warning("heartbeat of run %s failed", c.run_id, exc_info=True)


_HEARTBEATS = _Heartbeats()


def claim_run(store_path: str | os.PathLike, run_id: str, owner: dict, lease_s: float | None = None) -> Claim | dict:
    """Claim ``run_id`` for one attempt described by ``owner`` (``attempt``, ``session``, ...).

    Returns a :class:`Claim` (heartbeating until :meth:`Claim.release`) when the run was
    unclaimed or its claim stale; otherwise the live claim's info (host, pid, attempt,
    ``age_s``): another attempt is running it.
    """
    store_path = os.fspath(store_path)
    lease = float(lease_s or default_lease())
    d = _ensure_claims_dir(store_path)
    for _ in range(50):
        files = _claim_files(store_path, run_id)
        gen = 1
        if files:
            info = _claim_info(files[-1][1])
            if info is None:
                continue  # released this instant: look again
            if not info["stale"]:
                return info
            gen = files[-1][0] + 1
        path = os.path.join(d, f"{run_id}.{gen}.json")
        info = {
            **owner,
            "run_id": run_id,
            "gen": gen,
            "host": HOST,
            "pid": os.getpid(),
            "claimed": _now(),
            "heartbeat": time.time(),
            "lease_s": lease,
        }
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue  # another attempt won this generation
        with os.fdopen(fd, "wb") as f:
            f.write(_claim_bytes(info))
        for _, old in files:  # the stale claims this one supersedes
            try:
                os.unlink(old)
            except FileNotFoundError:
                pass
        claim = Claim(store_path, run_id, gen, path, info)
        _HEARTBEATS.add(claim)
        return claim
    raise StoreError(f"{store_path}: could not claim run {run_id}: its claim keeps changing")


def mark_failed(store_path: str | os.PathLike, run_id: str, error: str) -> None:
    """Mark a started run failed from outside its attempt (its worker died): one attribute write."""
    g = zarr.open_group(os.fspath(store_path), path=run_path(run_id), mode="r+")
    timings = dict(g.attrs.get("timings") or {}, finished=_now())
    g.attrs.update({"status": FAILED, "error": error, "timings": timings})


# --------------------------------------------------------------------------- jobs
#
# A detached job (dynet.jobs) is a group ``jobs/<job_id>`` holding no arrays; its attributes
# are the job record (scenario, run ids, who submitted it from where, ``cancelled``).


def write_job(store_path: str | os.PathLike, job_id: str, record: dict) -> None:
    """Create a job's record (one metadata write)."""
    zarr.open_group(os.fspath(store_path), path=f"{JOBS}/{job_id}", mode="w", attributes=record)


def read_job(store_path: str | os.PathLike, job_id: str) -> dict:
    path = os.path.join(os.fspath(store_path), JOBS, job_id, ZARR_JSON)
    try:
        return dict(_read_json(path).get("attributes") or {})
    except FileNotFoundError:
        raise StoreError(f"no job '{job_id}' in {os.fspath(store_path)}") from None
    except (ValueError, OSError) as exc:
        raise StoreError(f"{path}: {getattr(exc, 'strerror', None) or exc}: the job record is damaged") from None


def list_jobs(store_path: str | os.PathLike) -> list[str]:
    """The ids of the jobs recorded in the store."""
    try:
        entries = os.scandir(os.path.join(os.fspath(store_path), JOBS))
    except FileNotFoundError:
        return []
    with entries:
        return sorted(e.name for e in entries if e.is_dir() and os.path.exists(os.path.join(e.path, ZARR_JSON)))


def job_cancelled(store_path: str | os.PathLike, job_id: str) -> bool:
    """Whether the job was cancelled (read from its record each time: a worker asks before each run)."""
    try:
        return bool(read_job(store_path, job_id).get("cancelled"))
    except StoreError:
        return False


def cancel_job(store_path: str | os.PathLike, job_id: str, when: str) -> None:
    g = zarr.open_group(os.fspath(store_path), path=f"{JOBS}/{job_id}", mode="r+")
    if not g.attrs.get("cancelled"):
        g.attrs["cancelled"] = when


#: where a run's planned length sits in its config, by the name of its time column
_PLANNED = {
    "epoch": (("training", "epochs"),),
    "sweep": (("dynamics", "max_sweeps"), ("dynamics", "sweeps"), ("sampling", "sweeps")),
}


def planned_length(config: dict, unit: str) -> int | None:
    """The number of ``unit`` (epochs, sweeps) a run's config plans, where the config says it."""
    for path in _PLANNED.get(unit, ()):
        node = config
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, int):
            return node
    return None


def chunk_rows(row_nbytes: int) -> int:
    """Rows per chunk along time so that a chunk holds about ``CHUNK_BYTES``."""
    return max(1, CHUNK_BYTES // max(1, row_nbytes))


@dataclass
class TrajectorySpec:
    dims: tuple[str, ...]  # first dim is the time dimension
    dtype: str
    row_shape: tuple[int, ...] = ()


def _together(coros: list, then=None):
    """Run Zarr coroutines concurrently in one round trip to Zarr's event loop thread (each
    synchronous Zarr call is one such round trip, and their file operations overlap);
    ``then`` is awaited after all of them."""
    from zarr.core.sync import sync

    async def _all():
        out = await asyncio.gather(*coros)
        if then is not None:
            await then
        return out

    return sync(_all()) if coros or then is not None else []


class Trajectory:
    """Arrays that grow along their first (time) dimension, written chunk by chunk.

    Rows are buffered in memory and written a whole chunk at a time; arrays are
    resized in steps of whole chunks, never one sample at a time, and trimmed to the
    exact length by :meth:`close`. The arrays are created, grown and written together
    (one round trip to Zarr for all of them).
    """

    def __init__(
        self,
        group: zarr.Group,
        specs: dict[str, TrajectorySpec],
        resume_rows: int | None = None,
        overwrite: bool = False,
        before: list | None = None,
        on_time: Callable[[int], None] | None = None,
    ):
        self._specs = specs
        self._on_time = on_time  # told the last value of the time column after each append
        self._arrays = {}  # name -> zarr AsyncArray
        self._buffers = {name: [] for name in specs}
        self._rows = 0  # rows handed in
        self._written = 0  # rows flushed to the arrays
        rows = [chunk_rows(int(np.dtype(s.dtype).itemsize * math.prod(s.row_shape))) for s in specs.values()]
        # one chunk length for every array, so a flush always writes whole chunks
        self.chunk = min(rows)
        before = list(before or [])  # writes the record queued: done in the same round trip
        if resume_rows is not None:  # continue the arrays of a checkpointed attempt, cut to the checkpoint
            _together(before)
            for name, spec in specs.items():
                arr = group[name]
                arr.resize((resume_rows, *spec.row_shape))
                self._arrays[name] = arr.async_array
            self._rows = self._written = resume_rows
            return
        ag = group._async_group
        made = _together(
            before
            + [
                ag.create_array(
                    name,
                    shape=(0, *spec.row_shape),
                    chunks=(self.chunk, *(max(1, d) for d in spec.row_shape)),
                    dtype=spec.dtype,
                    dimension_names=spec.dims,
                    fill_value=0,
                    overwrite=overwrite,
                )
                for name, spec in specs.items()
            ]
        )
        self._arrays = dict(zip(specs, made[len(before) :]))

    def append(self, **columns: np.ndarray) -> None:
        n = None
        for name in self._specs:
            block = columns[name]
            n = len(block) if n is None else n
            if len(block) != n:
                raise ValueError("trajectory columns of unequal length")
            if n:
                self._buffers[name].append(np.array(block, dtype=self._specs[name].dtype, copy=True))
        self._rows += n or 0
        if n and self._on_time is not None:
            self._on_time(int(np.asarray(columns[next(iter(self._specs))])[-1]))
        if self._rows - self._written >= self.chunk:
            self._flush(whole_chunks_only=True)

    def _flush(self, whole_chunks_only: bool, trim: bool = False) -> None:
        pending = self._rows - self._written
        n = (pending // self.chunk) * self.chunk if whole_chunks_only else pending
        start = self._written
        # grow in whole chunks; on close (``trim``) straight to the exact length
        length = start + n if trim else math.ceil((start + n) / self.chunk) * self.chunk
        jobs = []
        for name, arr in self._arrays.items():
            if n:
                data = (
                    np.concatenate(self._buffers[name])
                    if self._buffers[name]
                    else np.empty((0, *self._specs[name].row_shape))
                )
                self._buffers[name] = [data[n:]] if len(data) > n else []
                block = data[:n]
            else:
                block = None
            if block is None and (arr.shape[0] == length or not trim):
                continue
            jobs.append(self._grow_and_write(arr, length, start, block))
        _together(jobs)
        self._written += n

    @staticmethod
    async def _grow_and_write(arr, length: int, start: int, block) -> None:
        if arr.shape[0] != length:
            await arr.resize((length, *arr.shape[1:]))
        if block is not None:
            await arr.setitem(slice(start, start + len(block)), block)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def flush(self) -> int:
        """Write every buffered row (a checkpoint needs them on disk); return the length."""
        self._flush(whole_chunks_only=False)
        return self._written

    def close(self) -> int:
        """Write what is buffered, trim the arrays to their length, return the length."""
        self._flush(whole_chunks_only=False, trim=True)
        return self._written


class RunRecord:
    """Writer for one run's group; used by the one task that runs it.

    Opening it clears whatever an earlier, unfinished attempt left in the group and
    marks the run ``running`` -- unless that attempt saved a checkpoint of this very
    run, which is then resumed (:attr:`resumed`). :meth:`complete` marks it
    ``complete`` only after the last array is written; :meth:`fail` stores the error.
    """

    def __init__(
        self,
        store_path: str | os.PathLike,
        run_id: str,
        attrs: dict,
        *,
        attempt: dict | None = None,
        previous: dict | None | bool = False,
    ):
        """``attempt`` (id, session, host, pid) is recorded with the run; ``previous`` is the run's
        attributes as the caller already read them (None: no group; False: read them here)."""
        self.run_id = run_id
        self._store_path = os.fspath(store_path)
        self._attrs = dict(attrs)
        self._pending: list = []  # small static arrays, written with the next round trip to Zarr
        if previous is False:
            previous = read_run_attrs(self._store_path, run_id)
        previous = previous or {}
        self._attrs.update(
            status=RUNNING,
            error=None,
            dynet_version=__version__,
            store_format=FORMAT,
            timings={"started": _now()},
            metrics={},
            attempt=dict(attempt or {}),
            attempts=int(previous.get("attempts") or 0) + 1,
        )
        #: the state a checkpointed earlier attempt saved (None: this attempt starts afresh)
        self.resumed: dict | None = None
        #: asked after each checkpoint is saved; True stops the run there (:class:`RunCancelled`)
        self.stop_requested: Callable[[], bool] | None = None
        #: told ``{"unit", "done", "total"}`` as the run's first trajectory grows (e.g. epoch 40 of 200)
        self.on_progress: Callable[[dict], None] | None = None
        self._progress_unit: str | None = None
        self._checkpoint = self._resumable(previous)
        if self._checkpoint is not None:
            self.group = zarr.open_group(self._store_path, path=run_path(run_id), mode="r+")
            self.resumed = self._checkpoint["state"]
            self._attrs.update(checkpoint=self._checkpoint, resumed_at=self._checkpoint["saved"])
            self.group.update_attributes(self._attrs)  # one metadata write
            return
        # the group is created with its attributes in one metadata write: a killed task
        # leaves either no group or a group marked running, never one without a status
        # (mode "w" also replaces a damaged group or a folder a full disk left without metadata)
        self.group = zarr.open_group(self._store_path, path=run_path(run_id), mode="w", attributes=self._attrs)

    def _resumable(self, old: dict) -> dict | None:
        """The checkpoint of an earlier attempt of exactly this run, if one was saved."""
        ckpt = old.get(CHECKPOINT)
        same = all(
            old.get(k) == self._attrs.get(k) for k in ("config", "replicate", "seed", "dynet_version", "store_format")
        )
        if not ckpt or not same or old.get("status") in (COMPLETE, DAMAGED):
            return None
        return ckpt

    def static(self, name: str, data: np.ndarray, dims: tuple[str, ...], attributes: dict | None = None) -> None:
        """Write a whole array that does not grow (patterns, weights, ...).

        An array of up to ~1 MB is copied and written with the record's next round trip to
        Zarr (the trajectory's creation, a checkpoint, or :meth:`complete`, always before the
        status); a larger one is written at once."""
        data = np.asarray(data)
        row_bytes = data.dtype.itemsize * math.prod(data.shape[1:])
        chunks = (min(max(1, data.shape[0]), chunk_rows(row_bytes)), *data.shape[1:]) if data.ndim else ()
        chunks = tuple(max(1, c) for c in chunks)
        small = data.nbytes <= CHUNK_BYTES
        # queued as a call, not a coroutine: an attempt that stops before its next round trip
        # leaves nothing half made (and no coroutine never awaited)
        self._pending.append(
            functools.partial(
                self.group._async_group.create_array,
                name,
                data=np.array(data, copy=True) if small else data,
                chunks=chunks,
                dimension_names=dims,
                attributes=attributes or {},
                overwrite=self.resumed is not None,
            )
        )
        if not small:
            _together(self._take_pending())

    def _take_pending(self) -> list:
        """The queued writes, as coroutines to await now."""
        pending, self._pending = self._pending, []
        return [call() for call in pending]

    def trajectory(self, specs: dict[str, TrajectorySpec]) -> Trajectory:
        """Arrays growing along time. A resumed run continues those its checkpoint holds from the
        checkpoint's length and writes any other afresh (a phase before the checkpointed one,
        recomputed from the seed)."""
        lengths = self._checkpoint["lengths"] if self._checkpoint else {}
        first = next(iter(specs))
        on_time = None
        if self.on_progress is not None and not self._progress_unit:  # the run's first trajectory tells it
            self._progress_unit = first
            total = planned_length(self._attrs.get("config") or {}, first)
            on_time = lambda t: self.on_progress({"unit": first, "done": t, "total": total})  # noqa: E731
        return Trajectory(
            self.group,
            specs,
            lengths.get(first),
            overwrite=self.resumed is not None,
            before=self._take_pending(),
            on_time=on_time,
        )

    def save_checkpoint(self, state: dict, arrays: dict[str, np.ndarray], trajectories: list[Trajectory]) -> None:
        """Make this point of the run resumable: ``state`` (JSON) and ``arrays`` are what the
        model needs to continue; every row appended to ``trajectories`` so far is kept."""
        lengths = {}
        _together(self._take_pending())
        for traj in trajectories:
            n = traj.flush()
            lengths.update({name: n for name in traj.names})
        slot = "b" if self._checkpoint and self._checkpoint["slot"] == "a" else "a"
        g = zarr.open_group(self._store_path, path=self._slot_path(slot), mode="w")
        for name, data in arrays.items():
            data = np.asarray(data)
            g.create_array(name, data=data, chunks=tuple(max(1, d) for d in data.shape))
        self._checkpoint = {"slot": slot, "state": state, "lengths": lengths, "saved": _now()}
        self._attrs[CHECKPOINT] = self._checkpoint
        self.group.attrs[CHECKPOINT] = self._checkpoint
        if self.stop_requested is not None and self.stop_requested():
            raise RunCancelled(f"run {self.run_id} stopped at its checkpoint: its job was cancelled")

    def checkpoint_arrays(self) -> dict[str, np.ndarray]:
        """The arrays of the checkpoint this attempt resumes from."""
        if self._checkpoint is None:
            raise StoreError(f"run {self.run_id} has no checkpoint")
        g = zarr.open_group(self._store_path, path=self._slot_path(self._checkpoint["slot"]), mode="r")
        return {name: arr[...] for name, arr in g.arrays()}

    def _slot_path(self, slot: str) -> str:
        return f"{run_path(self.run_id)}/{CHECKPOINT}/{slot}"

    def _finish(self, status: str, metrics: dict, error: str | None, elapsed: float) -> None:
        timings = dict(self._attrs["timings"], finished=_now(), elapsed_s=round(elapsed, 6))
        self._attrs.update(status=status, metrics=metrics, error=error, timings=timings)
        # one metadata write, after every array the run queued (a failed run's arrays do not matter)
        pending = self._take_pending() if status == COMPLETE else []
        self._pending = []
        _together(
            pending,
            then=self.group._async_group.update_attributes(
                {"status": status, "metrics": metrics, "error": error, "timings": timings, CHECKPOINT: self._checkpoint}
            ),
        )

    def complete(self, metrics: dict, elapsed: float) -> None:
        if self._checkpoint is not None:  # a complete run needs no checkpoint
            self._attrs[CHECKPOINT] = self._checkpoint = None
            if CHECKPOINT in self.group:
                del self.group[CHECKPOINT]
        self._finish(COMPLETE, metrics, None, elapsed)

    def fail(self, error: str, elapsed: float) -> None:
        self._finish(FAILED, {}, error, elapsed)

    def cancel(self, reason: str, elapsed: float) -> None:
        """Mark the run cancelled, keeping its checkpoint for the attempt that finishes it."""
        self._finish(CANCELLED, {}, reason, elapsed)


# --------------------------------------------------------------------------- fast reads (analysis)
#
# Listing and filtering many runs must not open every group through zarr (slow, and noisy
# about folders that are not groups): these functions read the metadata documents
# (``zarr.json``) of the store as plain JSON. Local paths only; every path the readers use
# is built here, so another file system needs changes in this section only.


def local_path(store: str | os.PathLike) -> str:
    """The absolute file-system path of a store given as a path or a ``file://`` URL."""
    return os.path.abspath(store_path(store))


def read_store_attrs(store: str | os.PathLike) -> dict:
    """The root group's attributes, after the same checks as :func:`open_store` (a dynet store of
    this format), without opening it through zarr."""
    path = local_path(store)
    meta_path = os.path.join(path, ZARR_JSON)
    if not os.path.exists(meta_path):
        if _is_zarr_v2(path):
            open_store(path)  # raises the Zarr v2 message
        raise StoreError(f"{os.fspath(store)}: no dynet store here")
    meta = _check_meta(meta_path)
    _check_root(meta, os.fspath(store))
    return meta["attributes"]


def run_ids(store: str | os.PathLike) -> list[str]:
    """The names of the folders under ``runs/``, sorted (not checked to be run groups)."""
    try:
        with os.scandir(os.path.join(local_path(store), RUNS)) as it:
            return sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))
    except FileNotFoundError:
        return []


def resolve_run(store: str | os.PathLike, prefix: str) -> str:
    """The run id starting with ``prefix`` (unique), from the folder names alone."""
    if not prefix or "/" in prefix or prefix.startswith("."):
        raise StoreError(f"no run '{prefix}' in this store")
    runs_dir = os.path.join(local_path(store), RUNS)
    if os.path.isdir(os.path.join(runs_dir, prefix)):  # a whole id: no listing
        return prefix
    try:
        names = os.listdir(runs_dir)  # plain names: cheaper than scandir's entries for 10^4+ runs
    except FileNotFoundError:
        names = []
    return _the_one(
        prefix, sorted(n for n in names if n.startswith(prefix) and os.path.isdir(os.path.join(runs_dir, n)))
    )


def run_record_stamps(store: str | os.PathLike) -> dict[str, tuple[int, int, int] | None]:
    """Folder name under ``runs/`` -> ``(inode, mtime_ns, size)`` of its ``zarr.json`` (None when it
    has none). zarr replaces a metadata document by renaming a new file over it, so a rewritten
    record always changes its stamp: a reader can keep what it parsed until the stamp moves."""
    runs_dir = os.path.join(local_path(store), RUNS)
    out = {}
    try:
        names = os.listdir(runs_dir)
    except FileNotFoundError:
        return out
    for name in names:
        if name.startswith("."):
            continue
        try:
            st = os.stat(os.path.join(runs_dir, name, ZARR_JSON))
        except (FileNotFoundError, NotADirectoryError):
            if os.path.isdir(os.path.join(runs_dir, name)):
                out[name] = None
            continue
        out[name] = _stamp(st)
    return out


#: the problem :func:`read_run_records` reports for a run folder without metadata: a run that
#: never started (e.g. a full disk), not listed and run again by the next ``dynet run``
NEVER_STARTED = "no zarr.json (an empty or partly deleted run group)"


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _read_record(runs_dir: str, run_id: str) -> tuple[tuple | None, dict | None, str | None]:
    """``(stamp, attrs, problem)`` of one run group's ``zarr.json`` (see :func:`read_run_records`):
    the one parser of run records, for listing, analysis and the workers alike."""
    name = f"{RUNS}/{run_id}/{ZARR_JSON}"
    try:
        with open(os.path.join(runs_dir, run_id, ZARR_JSON), "rb") as f:
            stamp = _stamp(os.fstat(f.fileno()))
            raw = f.read()
    except FileNotFoundError:
        return None, None, NEVER_STARTED
    except OSError as exc:
        return None, None, f"{name}: cannot read: {exc.strerror or exc}"
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        return stamp, None, f"{name}: {f'not valid JSON ({exc})' if raw.strip() else 'empty file'}"
    if not isinstance(meta, dict) or meta.get("node_type") != "group":
        return stamp, None, f"{name}: not a Zarr group"
    attrs = meta.get("attributes")
    if not isinstance(attrs, dict) or not attrs.get("status"):
        return stamp, None, f"{name}: no run record in its attributes"
    return stamp, attrs, None


def read_run_records(
    store: str | os.PathLike, ids: list[str] | None = None, threads: int = 1
) -> dict[str, tuple[tuple | None, dict | None, str | None]]:
    """Run group name -> ``(stamp, attrs, problem)`` for every folder under ``runs/`` (or ``ids``):
    the stamp of its ``zarr.json`` as :func:`run_record_stamps` gives it (None when unreadable),
    and either the run's attributes or what is wrong with the group (empty folder, damaged or
    foreign metadata). Reads plain JSON; ``threads`` > 1 reads in a thread pool, which pays
    only where reading waits on the disk (parsing holds the GIL)."""
    runs_dir = os.path.join(local_path(store), RUNS)
    ids = run_ids(store) if ids is None else list(ids)
    if threads > 1 and len(ids) > 256:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(lambda r: _read_record(runs_dir, r), ids, chunksize=64))
    else:
        results = [_read_record(runs_dir, r) for r in ids]
    return dict(zip(ids, results))


def read_many_run_attrs(
    store: str | os.PathLike, ids: list[str] | None = None, threads: int = 1
) -> tuple[dict[str, dict], dict[str, str]]:
    """``(attrs, problems)``: run id -> run attributes for every readable run group (all of
    ``runs/`` unless ``ids``), and run id -> what is wrong with each group that could not be
    read (see :func:`read_run_records`)."""
    attrs, problems = {}, {}
    for rid, (_, a, problem) in read_run_records(store, ids, threads).items():
        if problem is None:
            attrs[rid] = a
        else:
            problems[rid] = problem
    return attrs, problems


def read_run_array(store: str | os.PathLike, run_id: str, name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """One array of a run, read whole, and its dimension names. Raises FileNotFoundError
    (zarr's ArrayNotFoundError) when the run has no such array."""
    arr = zarr.open_array(local_path(store), path=f"{run_path(run_id)}/{name}", mode="r", zarr_format=3)
    return arr[...], tuple(arr.metadata.dimension_names or ())
