"""The read side of a run store: a runs table, runs as xarray Datasets, sweeps as one Dataset.

Nothing here knows paths inside a store: :mod:`dynet.store` reads the metadata documents and
arrays; this module turns them into pandas / xarray objects.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import store as _store
from .variables import AUX_COORDS, INDEX_COORDS, describe

#: run variables larger than this are dask arrays (chunked as stored); smaller ones are read
#: lazily on first access
DASK_BYTES = 64 << 20

FIXED_COLUMNS = ("run_id", "scenario", "job", "model")
STATUS_COLUMNS = ("replicate", "status", "error", "elapsed_s")


class AnalysisError(_store.StoreError):
    """A request the store cannot answer: an unknown run or scenario, a bad filter expression,
    an output file that exists, ... (one line; the CLI exits 2)."""


def open_store(url: str | os.PathLike) -> Store:
    """Open a dynet store for reading (see :class:`Store`)."""
    return Store(url)


class Store:
    """A dynet run store opened for analysis.

    ``runs`` is a pandas DataFrame with one row per run; ``run(id)`` opens a run as an
    xarray Dataset; ``sweep(scenario)`` gathers a scenario's runs into one Dataset with a
    dimension per swept parameter and ``replicate``. The runs are listed once, when first
    needed; :meth:`refresh` lists them again. Run groups that cannot be read (an empty
    folder, damaged metadata) are skipped and named in :attr:`problems`.
    """

    def __init__(self, url: str | os.PathLike):
        self.url = os.fspath(url)
        self.path = _store.local_path(url)
        #: the root group's ``dynet_store`` record: format, dynet_version, created
        self.info = _store.read_store_attrs(self.path)[_store.STORE_ATTR]
        self._records: dict[str, dict] | None = None
        self._runs = None
        self._problems: dict[str, str] = {}
        self._generation = 0

    def __repr__(self) -> str:
        n = "?" if self._records is None else len(self._records)
        return f"<dynet Store {self.path!r}: {n} runs>"

    # ------------------------------------------------------------------ listing

    def refresh(self) -> Store:
        """Forget the listing; the next access reads the runs' records again."""
        self._records = self._runs = None
        self._problems = {}
        return self

    @property
    def records(self) -> dict[str, dict]:
        """Run id -> the run's full attributes (its record), for every readable run (shared with
        the process's listing cache: read them, don't modify them)."""
        if self._records is None:
            self._records, self._problems, self._generation = read_listing(self.path)
        return self._records

    @property
    def problems(self) -> dict[str, str]:
        """Run group name -> why it was skipped (empty folder, unreadable or foreign metadata)."""
        self.records  # noqa: B018 - reads the listing
        return dict(self._problems)

    @property
    def runs(self):
        """One row per run: ``run_id, scenario, job, model``, one column per swept parameter
        (dotted names, e.g. ``init.fraction``), ``replicate, status, error`` (its first line),
        ``elapsed_s``, then one column per final metric (a metric whose name is taken is
        ``metrics.<name>``). Values missing for a run (another scenario's parameter, a failed
        run's metrics) are NaN / None; lists are tuples. ``runs.attrs["param_columns"]`` and
        ``["metric_columns"]`` name the parameter and metric columns. Filter with pandas, e.g.
        ``store.runs.query("scenario == 'capacity' and `network.rule` == 'hebbian'")``, or with
        :meth:`select`."""
        if self._runs is None:
            records = self.records
            self._runs = cached_runs_frame(self.path, records, self._generation)
        return self._runs

    def select(self, *, scenario: str | None = None, status: str | None = None, where: str | None = None):
        """The rows of :attr:`runs` of ``scenario``, with ``status``, and matching ``where``: a
        pandas query over the columns, in which dotted column names need no backticks
        (``"init.fraction > 0.1 and final_overlap < 0.9"``). A bad expression raises
        :class:`AnalysisError` naming it."""
        runs = self.runs
        if scenario is not None:
            runs = runs[runs["scenario"] == scenario]
        if status is not None:
            runs = runs[runs["status"] == status]
        if where:
            expr = quote_columns(where, runs.columns)
            try:
                runs = runs.query(expr, engine="python")
            except KeyError:  # a value that is not a condition is taken as column labels
                runs = None
            except Exception as exc:  # noqa: BLE001 - pandas raises many kinds for a bad expression
                msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                msg = msg if len(msg) <= 160 else msg[:157] + "..."
                raise AnalysisError(f"bad filter expression {where!r}: {msg}") from None
            if not hasattr(runs, "columns"):
                raise AnalysisError(f"bad filter expression {where!r}: not a true/false condition on each run")
        return runs

    @property
    def scenarios(self) -> list[str]:
        """The scenario names that have runs in the store, sorted."""
        return sorted({a.get("scenario") for a in self.records.values() if a.get("scenario")})

    def resolve(self, run_id: str) -> str:
        """The full id of the run ``run_id`` (a unique prefix is enough)."""
        try:
            return _store.resolve_run(self.path, run_id)
        except _store.StoreError as exc:
            raise AnalysisError(str(exc)) from None

    def attrs(self, run_id: str) -> dict:
        """A run's record (attributes), read from its group alone."""
        rid = self.resolve(run_id)
        attrs, problems = _store.read_many_run_attrs(self.path, [rid])
        if rid in problems:
            raise AnalysisError(f"run {rid}: {problems[rid]}")
        return attrs[rid]

    # ------------------------------------------------------------------ one run

    def run(self, run_id: str, *, dask_bytes: int = DASK_BYTES):
        """Run ``run_id`` (any unique prefix) as an :class:`xarray.Dataset`, lazily backed by its
        Zarr arrays (variables over ``dask_bytes`` as dask arrays in the stored chunks).

        Every dimension has a coordinate: the stored one (``sweep``, ``epoch``, ``step``,
        ``snapshot``), a variable that labels it (``temperatures`` becomes the ``temperature``
        dimension's; ``temperature`` per sweep, ``snapshot_sweep``, ``sample_step``, ... are
        coordinates along theirs) or else 0, 1, 2, ... Variables carry ``long_name`` /
        ``units``; the run's record is in ``attrs`` with nested values (config, params, seed,
        metrics, timings, checkpoint) as JSON strings and None as ``""``, so the Dataset can
        be written with ``to_netcdf`` as it is."""
        rid = self.resolve(run_id)
        return open_run_dataset(self.path, rid, dask_bytes=dask_bytes)

    # ------------------------------------------------------------------ a sweep

    def scenario_runs(self, scenario: str, *, job: str | None = None) -> dict[str, dict]:
        """Run id -> record of the runs of ``scenario`` (of job ``job`` only, when given)."""
        out = {
            rid: a
            for rid, a in self.records.items()
            if a.get("scenario") == scenario and (job is None or a.get("job") == job)
        }
        if not out:
            known = ", ".join(self.scenarios[:8]) or "none"
            what = f"scenario '{scenario}'" + (f" in job '{job}'" if job is not None else "")
            raise AnalysisError(f"no runs of {what} in {self.url} (scenarios: {known})")
        return out

    def sweep(self, scenario: str, trajectories=False, *, job: str | None = None, layout: str = "auto"):
        """The runs of ``scenario`` as one :class:`xarray.Dataset`.

        Dimensions: one per swept parameter (named by its dotted key, values sorted) for a
        grid sweep, or one ``point`` dimension with the parameters as coordinates for a zip
        sweep (``layout="auto"`` tells them apart by whether every combination of the values
        ran; ``"grid"`` / ``"zip"`` force one), then ``replicate``. Data variables: the final
        metrics (bools as 0/1, NaN where a run is missing, failed or unfinished); coordinates
        ``run_id`` and ``status`` ("" where no run). ``trajectories``: variable names (e.g.
        ``["energy", "overlap"]``) of complete runs to add along their time dimension, aligned
        on its values (sweep / epoch numbers), NaN past a run's end; a trajectory whose name a
        metric has is called ``<name>_trajectory``. ``job`` selects one job's runs (jobs are
        not recorded yet: every run's job is None).

        ``ds.mean("replicate")`` and :func:`mean_sem` give replicate means and standard errors.
        """
        records = self.scenario_runs(scenario, job=job)
        if isinstance(trajectories, str):
            trajectories = [trajectories]
        return sweep_dataset(self.path, scenario, records, list(trajectories or ()), job=job, layout=layout)

    def summary(self, scenario: str, metrics=None, *, job: str | None = None):
        """One row per sweep point (a pandas DataFrame): the parameters, ``runs``, ``complete``,
        ``failed``, and each metric's replicate mean and standard error (``<m>``, ``<m>_sem``)
        over complete runs. ``metrics``: default the model's headline metrics
        (``dynet.models.get(model).summary``) that some run has."""
        from .stats import summary_frame

        return summary_frame(self.sweep(scenario, job=job), metrics)


#: store path -> run id -> (stamp of its zarr.json, attributes or None, problem or None)
_LISTINGS: dict[str, dict[str, tuple]] = {}
_GENERATION: dict[str, int] = {}  # store path -> version of its cached listing (never reused)
_VERSIONS = itertools.count(1)
_FRAMES: dict[str, tuple[int, object]] = {}  # store path -> (generation, runs table of that listing)


def read_listing(path: str) -> tuple[dict[str, dict], dict[str, str], int]:
    """``(attrs, problems, generation)`` of every run group (see :func:`dynet.store.read_many_run_attrs`),
    parsing only the records whose ``zarr.json`` changed since this process last listed the
    store: a second listing of 10,000 runs costs their ``stat`` calls, not their JSON.
    ``generation`` changes whenever the listing does."""
    cache = _LISTINGS.get(path)
    if cache is None:  # the first listing: read every record (with its stamp) in one pass
        cache = _LISTINGS[path] = _store.read_run_records(path)
        changed = True
    else:  # later ones: stat every record, read the new and changed ones
        stamps = _store.run_record_stamps(path)
        gone = [r for r in cache if r not in stamps]
        for rid in gone:
            del cache[rid]
        stale = [rid for rid, st in stamps.items() if st is None or rid not in cache or cache[rid][0] != st]
        if stale:
            cache.update(_store.read_run_records(path, stale))
        changed = bool(stale or gone)
    if changed or path not in _GENERATION:
        _GENERATION[path] = next(_VERSIONS)
    records, problems = {}, {}
    for rid in sorted(cache):
        _, a, problem = cache[rid]
        if a is not None:
            records[rid] = a
        else:
            problems[rid] = problem
    return records, problems, _GENERATION[path]


def forget_listings() -> None:
    """Drop the process's cached listings (they are checked against the files on every use anyway)."""
    _LISTINGS.clear()
    _GENERATION.clear()
    _FRAMES.clear()


def cached_runs_frame(path: str, records: dict[str, dict], generation: int):
    """:func:`runs_frame` of the listing ``generation`` of :func:`read_listing`, built once per
    generation; each caller gets its own shallow copy (pandas' copy-on-write keeps them apart)."""
    cached = _FRAMES.get(path)
    if cached is not None and cached[0] == generation:
        return cached[1].copy(deep=False)
    frame = runs_frame(records)
    if _GENERATION.get(path) == generation:
        _FRAMES[path] = (generation, frame)
    return frame.copy(deep=False)


def list_runs(
    url: str | os.PathLike, *, scenario: str | None = None, status: str | None = None, where: str | None = None
) -> tuple[list[dict], dict[str, str]]:
    """``(runs, problems)`` for ``dynet ls``: one dict per selected run (run_id, scenario, job,
    model, params, replicate, status, metrics, error's first line), and the run groups that
    were skipped as unreadable (see :meth:`Store.select`, :attr:`Store.problems`)."""
    statuses = (_store.RUNNING, _store.COMPLETE, _store.FAILED, _store.CANCELLED, _store.STALE, _store.DAMAGED)
    if status is not None and status not in statuses:
        raise AnalysisError(f"--status: '{status}' is not a run status ({', '.join(statuses)})")
    st = Store(url)
    # running and stale runs are told apart by their claims, not by their records
    stored = status if status in (_store.COMPLETE, _store.FAILED, _store.CANCELLED) else None
    selected = st.select(scenario=scenario, status=stored, where=where)
    out = []
    for rid in selected["run_id"]:
        a = st.records[rid]
        live, error, _ = _store.live_status(st.path, rid, a)
        out.append(
            {
                "run_id": rid,
                "scenario": a.get("scenario"),
                "job": a.get("job"),
                "model": a.get("model"),
                "params": a.get("params") or {},
                "replicate": a.get("replicate"),
                "status": live,
                "metrics": a.get("metrics") or {},
                "error": error,
            }
        )
    if scenario is None and where is None:  # a damaged run is listed (it runs again), not hidden
        for rid, why in st.problems.items():
            if why != _store.NEVER_STARTED:
                out.append(
                    {
                        "run_id": rid,
                        "scenario": None,
                        "job": None,
                        "model": None,
                        "params": {},
                        "replicate": None,
                        "status": _store.DAMAGED,
                        "metrics": {},
                        "error": why,
                    }
                )
        out.sort(key=lambda r: r["run_id"])
    if status is not None:
        out = [r for r in out if r["status"] == status]
    return out, {}


# ---------------------------------------------------------------------------- the runs table


def _cell(v):
    """A value as a DataFrame cell: lists become tuples (hashable, comparable), dicts JSON."""
    if isinstance(v, list):
        return tuple(_cell(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return v


def runs_frame(records: dict[str, dict]):
    import pandas as pd

    rids = list(records)
    n = len(rids)
    params, metrics = {}, {}
    for a in records.values():
        for k in a.get("params") or {}:
            params.setdefault(k, None)
        for k in a.get("metrics") or {}:
            metrics.setdefault(k, None)
    taken = set(FIXED_COLUMNS) | set(STATUS_COLUMNS)
    pcol = {k: (k if k not in taken else f"params.{k}") for k in params}
    taken |= set(pcol.values())
    mcol = {k: (k if k not in taken else f"metrics.{k}") for k in metrics}
    cols = {c: [None] * n for c in (*FIXED_COLUMNS, *pcol.values(), *STATUS_COLUMNS, *mcol.values())}
    for i, rid in enumerate(rids):
        a = records[rid]
        cols["run_id"][i] = rid
        cols["scenario"][i] = a.get("scenario")
        cols["job"][i] = a.get("job")
        cols["model"][i] = a.get("model")
        cols["replicate"][i] = a.get("replicate")
        cols["status"][i] = a.get("status")
        cols["error"][i] = (a.get("error") or "").split("\n")[0] or None
        cols["elapsed_s"][i] = (a.get("timings") or {}).get("elapsed_s")
        for k, v in (a.get("params") or {}).items():
            cols[pcol[k]][i] = _cell(v) if type(v) in (list, dict) else v
        for k, v in (a.get("metrics") or {}).items():
            cols[mcol[k]][i] = _cell(v) if type(v) in (list, dict) else v
    frame = pd.DataFrame(
        {c: pd.Series(v, dtype=object if c in ("job", "error") else None) for c, v in cols.items()}
        if n
        else {c: pd.Series([], dtype=object) for c in cols}
    )
    frame.attrs["param_columns"] = list(pcol.values())
    frame.attrs["metric_columns"] = list(mcol.values())
    return frame


_QUOTED = re.compile(r"""(`[^`]*`|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


def quote_columns(expr: str, columns) -> str:
    """``expr`` with every column name that is not a Python identifier (``init.fraction``)
    wrapped in backticks, outside string literals and existing backticks."""
    names = sorted((c for c in columns if isinstance(c, str) and not c.isidentifier()), key=len, reverse=True)
    if not names:
        return expr
    pattern = re.compile(r"(?<![\w.`])(" + "|".join(re.escape(n) for n in names) + r")(?![\w`])")
    parts = _QUOTED.split(expr)
    return "".join(p if i % 2 else pattern.sub(r"`\1`", p) for i, p in enumerate(parts))


# ---------------------------------------------------------------------------- one run as a Dataset


def nc_attr(v):
    """An attribute value netCDF can store: None -> "", bool -> 0/1, nested -> JSON."""
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return int(v)
    if isinstance(v, int | float | str | np.integer | np.floating):
        return v
    return json.dumps(v, default=_json_default)


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"{type(v).__name__} is not JSON serializable")


def run_attrs(attrs: dict) -> dict:
    """A run's record as Dataset attributes (see :meth:`Store.run`)."""
    out = {k: nc_attr(v) for k, v in attrs.items()}
    out.setdefault("job", "")
    return out


def open_run_dataset(path: str, run_id: str, *, dask_bytes: int = DASK_BYTES):
    import xarray as xr

    try:
        ds = xr.open_zarr(path, group=_store.run_path(run_id), consolidated=False, chunks=None, zarr_format=3)
    except (FileNotFoundError, KeyError, ValueError, OSError) as exc:
        raise AnalysisError(f"run {run_id}: cannot open its group ({type(exc).__name__}: {exc})") from None
    model = ds.attrs.get("model")
    record = dict(ds.attrs)
    big = {}
    for name, var in ds.variables.items():
        chunks = var.encoding.get("chunks")
        var.encoding = {}  # zarr's codecs mean nothing to other writers (to_netcdf)
        if var.nbytes > dask_bytes and chunks:
            big[name] = dict(zip(var.dims, chunks))
    for name, chunks in big.items():
        ds[name] = ds[name].chunk(chunks)
    ds = decorate(ds, model)
    ds.attrs = run_attrs(record)
    return ds


def decorate(ds, model: str | None):
    """Coordinates for every dimension, CF attributes on every variable (see :meth:`Store.run`)."""
    for name, dim in INDEX_COORDS.items():
        if name in ds.data_vars and ds[name].dims == (dim,) and dim not in ds.variables:
            values = ds[name]
            ds = ds.drop_vars(name).assign_coords({dim: values.variable})
            ds[dim].attrs = dict(values.attrs)
    aux = [n for n, dims in AUX_COORDS.items() if n in ds.data_vars and ds[n].dims == dims]
    if aux:
        ds = ds.set_coords(aux)
    missing = {d: np.arange(n) for d, n in ds.sizes.items() if d not in ds.variables}
    if missing:
        ds = ds.assign_coords(missing)
    for name, var in ds.variables.items():
        attrs = {k: nc_attr(v) for k, v in var.attrs.items()}
        if name in missing:
            attrs.setdefault("long_name", f"{name} index")
        else:
            for k, v in describe(name, model).items():
                attrs.setdefault(k, v)
        var.attrs = attrs
    return ds


# ---------------------------------------------------------------------------- a sweep as a Dataset


def _coord_value(v):
    """A parameter value as a coordinate label (non-scalars as JSON)."""
    if isinstance(v, list | tuple | dict):
        return json.dumps(v)
    return v


def _sort_key(v):
    if v is None:
        return (0, 0)
    if isinstance(v, bool | int | float | np.number):
        return (1, float(v))
    return (2, str(v))


def _as_coord(values):
    """Coordinate values (in this order) as an array xarray and netCDF accept: bools, integers,
    floats, or else text."""
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    if all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.float64)
    return np.array([str(v) for v in values], dtype=object)


def _metric_array(values: list, shape: tuple):
    """Per-run metric values -> an array: numbers (bools as 0/1) as float64 with NaN for
    missing, anything else as strings ("" for missing)."""
    numeric = all(v is None or isinstance(v, bool | int | float | np.number) for v in values)
    if numeric:
        return np.array([math.nan if v is None else float(v) for v in values], np.float64).reshape(shape)
    return np.array(
        ["" if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in values], dtype=object
    ).reshape(shape)


def _placement(records: dict[str, dict], layout: str):
    """Sweep keys, dims, coords and each run's position (index tuple of the point)."""
    keysets = {tuple(a.get("params") or {}) for a in records.values()}
    if len(keysets) > 1:
        sets = " vs ".join(sorted("(" + ", ".join(k) + ")" for k in keysets))
        raise AnalysisError(
            f"the runs of this scenario sweep different parameters {sets}: the scenario was changed between runs"
        )
    keys = list(next(iter(keysets)))
    points = {rid: tuple(_coord_value((a.get("params") or {})[k]) for k in keys) for rid, a in records.items()}
    distinct = sorted(set(points.values()), key=lambda p: tuple(_sort_key(v) for v in p))
    values = {k: sorted({p[i] for p in distinct}, key=_sort_key) for i, k in enumerate(keys)}
    full = math.prod(len(v) for v in values.values())
    if layout not in ("auto", "grid", "zip"):
        raise AnalysisError(f"layout must be auto, grid or zip, not {layout!r}")
    if not keys:
        return keys, [], {}, {rid: () for rid in records}, "none"
    if layout == "grid" or (layout == "auto" and len(distinct) == full):
        pos = {k: {v: j for j, v in enumerate(vals)} for k, vals in values.items()}
        where = {rid: tuple(pos[k][p[i]] for i, k in enumerate(keys)) for rid, p in points.items()}
        return keys, keys, {k: _as_coord(values[k]) for k in keys}, where, "grid"
    index = {p: j for j, p in enumerate(distinct)}
    coords = {k: ("point", _as_coord([p[i] for p in distinct])) for i, k in enumerate(keys)}
    coords["point"] = np.arange(len(distinct))
    return keys, ["point"], coords, {rid: (index[p],) for rid, p in points.items()}, "zip"


def sweep_dataset(
    path: str,
    scenario: str,
    records: dict[str, dict],
    trajectories: list[str],
    *,
    job: str | None = None,
    layout: str = "auto",
):
    import xarray as xr

    keys, dims, coords, where, kind = _placement(records, layout)
    n_rep = 1 + max(int(a.get("replicate") or 0) for a in records.values())
    shape = tuple(len(coords[d]) if d != "point" else len(coords["point"]) for d in dims) + (n_rep,)
    # one run per cell: a scenario run again after an edit outside its sweep keys leaves two
    # runs per cell; the one started last wins
    cell: dict[tuple, str] = {}
    superseded = 0
    for rid, a in records.items():
        at = (*where[rid], int(a.get("replicate") or 0))
        if at in cell:
            superseded += 1
            other = records[cell[at]]
            if (a.get("timings") or {}).get("started", "") <= (other.get("timings") or {}).get("started", ""):
                continue
        cell[at] = rid
    if superseded:
        warnings.warn(
            f"scenario '{scenario}': {superseded} run(s) share a sweep point and replicate with a "
            "later run and were left out (the scenario was changed between runs)",
            stacklevel=3,
        )
    flat = {np.ravel_multi_index(at, shape): rid for at, rid in cell.items()}
    size = math.prod(shape)
    run_ids = [""] * size
    status = [""] * size
    for i, rid in flat.items():
        run_ids[i] = rid
        status[i] = records[rid].get("status") or ""
    metric_names: dict[str, None] = {}
    for rid in flat.values():
        if records[rid].get("status") == _store.COMPLETE:
            for m in records[rid].get("metrics") or {}:
                metric_names.setdefault(m, None)
    all_dims = (*dims, "replicate")
    data_vars = {}
    models = {a.get("model") for a in records.values()}
    model = models.pop() if len(models) == 1 else None
    for m in metric_names:
        values = [None] * size
        for i, rid in flat.items():
            a = records[rid]
            if a.get("status") == _store.COMPLETE:
                values[i] = (a.get("metrics") or {}).get(m)
        data_vars[m] = xr.Variable(all_dims, _metric_array(values, shape), describe(m, model))
    ds_coords = {
        **{k: v for k, v in coords.items()},
        "replicate": np.arange(n_rep),
        "run_id": (all_dims, np.array(run_ids, dtype=object).reshape(shape)),
        "status": (all_dims, np.array(status, dtype=object).reshape(shape)),
    }
    ds = xr.Dataset(data_vars, coords=ds_coords)
    ds.attrs = {
        "scenario": scenario,
        "model": model or "",
        "layout": kind,
        "sweep_keys": json.dumps(keys),
        "job": job or "",
        "store": path,
    }
    if trajectories:
        complete = {i: rid for i, rid in flat.items() if records[rid].get("status") == _store.COMPLETE}
        for name, var, tcoord in _trajectory_vars(path, trajectories, complete, shape, all_dims, model):
            out = f"{name}_trajectory" if name in ds.variables else name
            tdim = var.dims[len(all_dims)]
            if tdim in ds.coords and not np.array_equal(ds[tdim].values, tcoord):
                raise AnalysisError(f"trajectory {name}: its {tdim} values differ from another trajectory's")
            ds = ds.assign_coords({tdim: tcoord}) if tdim not in ds.coords else ds
            ds[out] = var
            ds[tdim].attrs = describe(tdim, model)
        ds = ds.assign_coords({d: np.arange(n) for d, n in ds.sizes.items() if d not in ds.variables})
    return ds


def _read_traj(path: str, rid: str, name: str):
    try:
        data, dims = _store.read_run_array(path, rid, name)
    except (KeyError, FileNotFoundError, ValueError):
        return None
    if not dims:
        return None
    try:
        tcoord, tdims = _store.read_run_array(path, rid, dims[0])
        if tdims != dims[:1] or len(tcoord) != len(data):
            tcoord = None
    except (KeyError, FileNotFoundError, ValueError):
        tcoord = None
    return data, dims, tcoord


def _trajectory_vars(path, names, complete: dict[int, str], shape, all_dims, model):
    import xarray as xr

    jobs = [(i, rid, name) for name in names for i, rid in complete.items()]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda j: _read_traj(path, j[1], j[2]), jobs))
    by_name: dict[str, list] = {n: [] for n in names}
    for (i, _rid, name), item in zip(jobs, got):
        if item is not None:
            by_name[name].append((i, *item))
    for name in names:
        items = by_name[name]
        if not items:
            raise AnalysisError(f"no complete run of this scenario stores a variable '{name}'")
        dims = items[0][2]
        if any(it[2] != dims for it in items):
            raise AnalysisError(f"trajectory {name}: the runs store it with different dimensions")
        coords = [it[3] for it in items]
        increasing = all(c is not None and (len(c) < 2 or np.all(np.diff(c) > 0)) for c in coords)
        if increasing:
            tcoord = (
                coords[0] if all(np.array_equal(c, coords[0]) for c in coords) else np.unique(np.concatenate(coords))
            )
        else:  # no usable coordinate: align by position
            tcoord = np.arange(max(len(it[1]) for it in items))
        extra = tuple(max(it[1].shape[k] for it in items) for k in range(1, len(dims)))
        dtype = items[0][1].dtype
        small = dtype.kind in "biu" and dtype.itemsize <= 2 or dtype == np.float32
        out = np.full((math.prod(shape), len(tcoord), *extra), np.nan, np.float32 if small else np.float64)
        for i, data, _dims, c in items:
            rows = np.searchsorted(tcoord, c) if increasing else np.arange(len(data))
            out[(i, rows, *(slice(0, s) for s in data.shape[1:]))] = data
        var = xr.Variable((*all_dims, *dims), out.reshape(*shape, len(tcoord), *extra), describe(name, model))
        yield name, var, tcoord
