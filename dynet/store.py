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

Every array carries ``dimension_names``, so ``xarray.open_zarr(STORE,
group="runs/<run_id>")`` opens a run as a labelled dataset. A run's ``status`` is
``running`` while it is written, ``complete`` once its last array is written, or
``failed`` with the error. Each run is written by exactly one task, so no two
writers share a chunk.

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

import datetime as _dt
import math
import os
from dataclasses import dataclass

import numpy as np
import zarr

from . import __version__

FORMAT = 1
STORE_ATTR = "dynet_store"
RUNS = "runs"
CHUNK_BYTES = 1 << 20  # ~1 MB chunks along time

CHECKPOINT = "checkpoint"

RUNNING = "running"
COMPLETE = "complete"
FAILED = "failed"


class StoreError(Exception):
    """The path is not a usable dynet store (wrong format version, not a dynet store, ...)."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _check_root(root: zarr.Group, path: str) -> None:
    meta = root.attrs.get(STORE_ATTR)
    if meta is None:
        raise StoreError(f"{path}: not a dynet store (no '{STORE_ATTR}' attribute on its root group)")
    fmt = meta.get("format")
    if fmt != FORMAT:
        raise StoreError(
            f"{path}: store format {fmt} was written by dynet {meta.get('dynet_version', '?')}; "
            f"this dynet ({__version__}) reads format {FORMAT} only"
        )


def open_store(path: str | os.PathLike, *, create: bool = False) -> zarr.Group:
    """Open a dynet store's root group, creating it when ``create`` and absent.

    Raises :class:`StoreError` for a missing store (unless ``create``), for a Zarr
    hierarchy that is not a dynet store, and for an incompatible format version.
    """
    path = os.fspath(path)
    exists = os.path.exists(os.path.join(path, "zarr.json"))
    if not exists:
        if not create:
            raise StoreError(f"{path}: no dynet store here")
        if os.path.exists(path) and os.listdir(path):
            raise StoreError(f"{path}: exists and is not a Zarr store; refusing to write into it")
        root = zarr.open_group(path, mode="w")
        root.attrs.update({STORE_ATTR: {"format": FORMAT, "dynet_version": __version__, "created": _now()}})
        root.create_group(RUNS)
        return root
    root = zarr.open_group(path, mode="r+" if create else "r")
    _check_root(root, path)
    return root


def run_path(run_id: str) -> str:
    return f"{RUNS}/{run_id}"


def list_runs(root: zarr.Group) -> dict[str, dict]:
    """Run id -> run attributes, for every run group in the store."""
    runs = root.get(RUNS)
    if runs is None:
        return {}
    return {name: dict(g.attrs) for name, g in sorted(runs.groups())}


def run_attrs(root: zarr.Group, run_id: str) -> dict:
    try:
        return dict(root[run_path(run_id)].attrs)
    except KeyError:
        raise StoreError(f"no run '{run_id}' in this store") from None


def find_run(root: zarr.Group, prefix: str) -> str:
    """The run id that starts with ``prefix`` (unique), as ``git`` resolves short hashes."""
    ids = [r for r in list_runs(root) if r.startswith(prefix)]
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise StoreError(f"no run '{prefix}' in this store")
    raise StoreError(f"run id '{prefix}' is ambiguous: {', '.join(ids[:5])}")


def load_array(root: zarr.Group, run_id: str, name: str) -> np.ndarray:
    return root[f"{run_path(run_id)}/{name}"][...]


def array_names(root: zarr.Group, run_id: str) -> list[str]:
    return sorted(name for name, _ in root[run_path(run_id)].arrays())


def chunk_rows(row_nbytes: int) -> int:
    """Rows per chunk along time so that a chunk holds about ``CHUNK_BYTES``."""
    return max(1, CHUNK_BYTES // max(1, row_nbytes))


@dataclass
class TrajectorySpec:
    dims: tuple[str, ...]  # first dim is the time dimension
    dtype: str
    row_shape: tuple[int, ...] = ()


class Trajectory:
    """Arrays that grow along their first (time) dimension, written chunk by chunk.

    Rows are buffered in memory and written a whole chunk at a time; arrays are
    resized in steps of whole chunks, never one sample at a time, and trimmed to the
    exact length by :meth:`close`.
    """

    def __init__(self, group: zarr.Group, specs: dict[str, TrajectorySpec], resume_rows: int | None = None,
                 overwrite: bool = False):
        self._specs = specs
        self._arrays = {}
        self._buffers = {name: [] for name in specs}
        self._rows = 0  # rows handed in
        self._written = 0  # rows flushed to the arrays
        rows = [chunk_rows(int(np.dtype(s.dtype).itemsize * math.prod(s.row_shape))) for s in specs.values()]
        # one chunk length for every array, so a flush always writes whole chunks
        self.chunk = min(rows)
        if resume_rows is not None:  # continue the arrays of a checkpointed attempt, cut to the checkpoint
            for name, spec in specs.items():
                arr = group[name]
                arr.resize((resume_rows, *spec.row_shape))
                self._arrays[name] = arr
            self._rows = self._written = resume_rows
            return
        for name, spec in specs.items():
            self._arrays[name] = group.create_array(
                name,
                shape=(0, *spec.row_shape),
                chunks=(self.chunk, *(max(1, d) for d in spec.row_shape)),
                dtype=spec.dtype,
                dimension_names=spec.dims,
                fill_value=0,
                overwrite=overwrite,
            )

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
        if self._rows - self._written >= self.chunk:
            self._flush(whole_chunks_only=True)

    def _flush(self, whole_chunks_only: bool) -> None:
        pending = self._rows - self._written
        n = (pending // self.chunk) * self.chunk if whole_chunks_only else pending
        if n == 0:
            return
        start = self._written
        capacity = math.ceil((start + n) / self.chunk) * self.chunk
        for name, arr in self._arrays.items():
            data = np.concatenate(self._buffers[name]) if self._buffers[name] else np.empty((0, *self._specs[name].row_shape))
            if arr.shape[0] < capacity:
                arr.resize((capacity, *arr.shape[1:]))
            arr[start:start + n] = data[:n]
            self._buffers[name] = [data[n:]] if len(data) > n else []
        self._written += n

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def flush(self) -> int:
        """Write every buffered row (a checkpoint needs them on disk); return the length."""
        self._flush(whole_chunks_only=False)
        return self._written

    def close(self) -> int:
        """Write what is buffered, trim the arrays to their length, return the length."""
        self._flush(whole_chunks_only=False)
        for arr in self._arrays.values():
            if arr.shape[0] != self._written:
                arr.resize((self._written, *arr.shape[1:]))
        return self._written


class RunRecord:
    """Writer for one run's group; used by the one task that runs it.

    Opening it clears whatever an earlier, unfinished attempt left in the group and
    marks the run ``running`` -- unless that attempt saved a checkpoint of this very
    run, which is then resumed (:attr:`resumed`). :meth:`complete` marks it
    ``complete`` only after the last array is written; :meth:`fail` stores the error.
    """

    def __init__(self, store_path: str | os.PathLike, run_id: str, attrs: dict):
        self.run_id = run_id
        self._store_path = os.fspath(store_path)
        self._attrs = dict(attrs)
        self._attrs.update(status=RUNNING, error=None, dynet_version=__version__, store_format=FORMAT,
                           timings={"started": _now()}, metrics={})
        #: the state a checkpointed earlier attempt saved (None: this attempt starts afresh)
        self.resumed: dict | None = None
        self._checkpoint = self._resumable()
        if self._checkpoint is not None:
            self.group = zarr.open_group(self._store_path, path=run_path(run_id), mode="r+")
            self.resumed = self._checkpoint["state"]
            self._attrs.update(checkpoint=self._checkpoint, resumed_at=self._checkpoint["saved"])
            self.group.attrs.update(self._attrs)
            return
        # the group is created with its attributes in one metadata write: a killed task
        # leaves either no group or a group marked running, never one without a status
        self.group = zarr.open_group(self._store_path, path=run_path(run_id), mode="w",
                                     attributes=self._attrs)

    def _resumable(self) -> dict | None:
        """The checkpoint of an earlier attempt of exactly this run, if one was saved."""
        try:
            old = dict(zarr.open_group(self._store_path, path=run_path(self.run_id), mode="r").attrs)
        except (FileNotFoundError, KeyError, ValueError, OSError):
            return None
        ckpt = old.get(CHECKPOINT)
        same = all(old.get(k) == self._attrs.get(k) for k in ("config", "replicate", "seed", "dynet_version",
                                                               "store_format"))
        if not ckpt or not same or old.get("status") == COMPLETE:
            return None
        return ckpt

    def static(self, name: str, data: np.ndarray, dims: tuple[str, ...], attributes: dict | None = None) -> None:
        """Write a whole array that does not grow (patterns, weights, ...)."""
        data = np.asarray(data)
        row_bytes = data.dtype.itemsize * math.prod(data.shape[1:])
        chunks = (min(max(1, data.shape[0]), chunk_rows(row_bytes)), *data.shape[1:]) if data.ndim else ()
        chunks = tuple(max(1, c) for c in chunks)
        self.group.create_array(name, data=data, chunks=chunks, dimension_names=dims,
                                attributes=attributes or {}, overwrite=self.resumed is not None)

    def trajectory(self, specs: dict[str, TrajectorySpec]) -> Trajectory:
        """Arrays growing along time. A resumed run continues those its checkpoint holds from the
        checkpoint's length and writes any other afresh (a phase before the checkpointed one,
        recomputed from the seed)."""
        lengths = self._checkpoint["lengths"] if self._checkpoint else {}
        first = next(iter(specs))
        return Trajectory(self.group, specs, lengths.get(first), overwrite=self.resumed is not None)

    def save_checkpoint(self, state: dict, arrays: dict[str, np.ndarray], trajectories: list[Trajectory]) -> None:
        """Make this point of the run resumable: ``state`` (JSON) and ``arrays`` are what the
        model needs to continue; every row appended to ``trajectories`` so far is kept."""
        lengths = {}
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
        self.group.attrs.update({"status": status, "metrics": metrics, "error": error, "timings": timings,
                                 CHECKPOINT: self._checkpoint})

    def complete(self, metrics: dict, elapsed: float) -> None:
        if self._checkpoint is not None:  # a complete run needs no checkpoint
            self._attrs[CHECKPOINT] = self._checkpoint = None
            if CHECKPOINT in self.group:
                del self.group[CHECKPOINT]
        self._finish(COMPLETE, metrics, None, elapsed)

    def fail(self, error: str, elapsed: float) -> None:
        self._finish(FAILED, {}, error, elapsed)


# --------------------------------------------------------------------------- fast reads (analysis)
#
# Listing and filtering many runs must not open every group through zarr (slow, and noisy
# about folders that are not groups): these functions read the metadata documents
# (``zarr.json``) of the store as plain JSON. Local paths only; every path the readers use
# is built here, so another file system needs changes in this section only.

META = "zarr.json"


def local_path(store: str | os.PathLike) -> str:
    """The file-system path of a store given as a path or a ``file://`` URL."""
    path = os.fspath(store)
    if path.startswith("file://"):
        path = path[len("file://"):]
    elif "://" in path:
        raise StoreError(f"{path}: only local stores can be read for now")
    return os.path.abspath(path)


def _read_meta(path: str) -> dict:
    import json

    with open(path, "rb") as f:
        return json.loads(f.read())


def read_store_attrs(store: str | os.PathLike) -> dict:
    """The root group's attributes, after the same checks as :func:`open_store` (a dynet store of
    this format), without opening it through zarr."""
    path = local_path(store)
    try:
        meta = _read_meta(os.path.join(path, META))
    except FileNotFoundError:
        raise StoreError(f"{os.fspath(store)}: no dynet store here") from None
    except (OSError, ValueError) as exc:
        raise StoreError(f"{os.fspath(store)}: unreadable store metadata ({exc})") from None
    attrs = (meta.get("attributes") if isinstance(meta, dict) else None) or {}
    info = attrs.get(STORE_ATTR)
    if not isinstance(info, dict):
        raise StoreError(f"{os.fspath(store)}: not a dynet store (no '{STORE_ATTR}' attribute on its root group)")
    if info.get("format") != FORMAT:
        raise StoreError(
            f"{os.fspath(store)}: store format {info.get('format')} was written by dynet "
            f"{info.get('dynet_version', '?')}; this dynet ({__version__}) reads format {FORMAT} only")
    return attrs


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
    ids = sorted(n for n in names if n.startswith(prefix) and os.path.isdir(os.path.join(runs_dir, n)))
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise StoreError(f"no run '{prefix}' in this store")
    raise StoreError(f"run id '{prefix}' is ambiguous: {', '.join(ids[:5])}")


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
            st = os.stat(os.path.join(runs_dir, name, META))
        except (FileNotFoundError, NotADirectoryError):
            if os.path.isdir(os.path.join(runs_dir, name)):
                out[name] = None
            continue
        out[name] = _stamp(st)
    return out


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _read_record(runs_dir: str, run_id: str) -> tuple[tuple | None, dict | None, str | None]:
    """``(stamp, attrs, problem)`` of one run group's ``zarr.json`` (see :func:`read_run_records`)."""
    import json

    try:
        with open(os.path.join(runs_dir, run_id, META), "rb") as f:
            stamp = _stamp(os.fstat(f.fileno()))
            raw = f.read()
    except FileNotFoundError:
        return None, None, "no zarr.json (an empty or partly deleted run group)"
    except OSError as exc:
        return None, None, f"unreadable zarr.json ({type(exc).__name__}: {exc})"
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        return stamp, None, f"unreadable zarr.json ({type(exc).__name__}: {exc})"
    if not isinstance(meta, dict) or meta.get("node_type") != "group":
        return stamp, None, "zarr.json does not describe a group"
    attrs = meta.get("attributes")
    if not isinstance(attrs, dict) or not attrs.get("status"):
        return stamp, None, "no run record in its attributes"
    return stamp, attrs, None


def read_run_records(store: str | os.PathLike, ids: list[str] | None = None,
                     threads: int = 1) -> dict[str, tuple[tuple | None, dict | None, str | None]]:
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


def read_run_attrs(store: str | os.PathLike, ids: list[str] | None = None,
                   threads: int = 1) -> tuple[dict[str, dict], dict[str, str]]:
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
