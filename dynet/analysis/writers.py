"""Writing runs and sweeps to files other tools read: NetCDF, CSV, Parquet.

A run exports as its Dataset (NetCDF) or its trajectories along one time dimension as a table
(CSV / Parquet: one row per recorded sweep or epoch, a column per variable, ``name[i]`` per
entry of a 2-D variable); a scenario as its sweep Dataset (NetCDF) or its runs table (CSV /
Parquet: one row per run, the parameters, replicate, status and final metrics). Files are
written beside the target under a temporary name and renamed into place, so a failed export
leaves nothing behind. NetCDF goes through xarray's default engine: netCDF4 or h5netcdf where
installed (NetCDF-4), else scipy (NetCDF-3: 64-bit integers stored as 32-bit where they fit).
"""

from __future__ import annotations

import json
import os

import numpy as np

from .reader import AnalysisError, Store
from .variables import TIME_DIMS

FORMATS = ("netcdf", "csv", "parquet")


def _check_out(out: str | os.PathLike, force: bool) -> str:
    out = os.path.abspath(os.fspath(out))
    if os.path.isdir(out):
        raise AnalysisError(f"{out}: is a directory")
    if os.path.exists(out) and not force:
        raise AnalysisError(f"{out}: exists (use --force to overwrite it)")
    parent = os.path.dirname(out)
    if not os.path.isdir(parent):
        raise AnalysisError(f"{parent}: no such directory")
    return out


def _atomic_write(out: str, write) -> None:
    head, tail = os.path.split(out)
    tmp = os.path.join(head, f".{tail}.{os.getpid()}.tmp")  # created by the writer: the usual permissions
    try:
        write(tmp)
        os.replace(tmp, out)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(exc, ValueError | TypeError | OSError):
            raise AnalysisError(f"{out}: cannot write it ({type(exc).__name__}: {exc})") from exc
        raise


def trajectory_table(ds, dim: str | None = None):
    """A run Dataset's trajectories along ``dim`` (default: its first of sweep, epoch,
    pretrain_record, step, sample, snapshot) as a pandas DataFrame: the coordinates along
    ``dim``, each 1-D variable, and ``name[label]`` per entry of each 2-D one."""
    import pandas as pd

    if dim is None:
        dim = next((d for d in TIME_DIMS if d in ds.dims), None)
        if dim is None:
            raise AnalysisError(
                f"run {ds.attrs.get('run_id')}: has no trajectories (no {' / '.join(TIME_DIMS)} dimension)"
            )
    elif dim not in ds.dims:
        raise AnalysisError(
            f"run {ds.attrs.get('run_id')}: has no dimension '{dim}' (it has {', '.join(map(str, ds.dims))})"
        )
    cols = {dim: ds[dim].values}
    for name, var in ds.coords.items():
        if var.dims == (dim,) and name != dim:
            cols[name] = var.values
    for name, var in ds.data_vars.items():
        if var.dims and var.dims[0] == dim:
            if var.ndim == 1:
                cols[name] = var.values
            elif var.ndim == 2:
                labels = ds[var.dims[1]].values
                values = var.values
                for j, label in enumerate(labels):
                    cols[f"{name}[{label}]"] = values[:, j]
    frame = pd.DataFrame(cols)
    frame.attrs["dim"] = dim
    return frame


def _plain(frame):
    """Object columns as text where they hold tuples, dicts or mixed types (CSV, Parquet)."""
    frame = frame.copy()
    for c in frame.columns:
        if frame[c].dtype != object:
            continue
        kinds = {type(v) for v in frame[c] if v is not None and not (isinstance(v, float) and np.isnan(v))}
        if any(k in (tuple, list, dict) for k in kinds):
            frame[c] = [
                None
                if v is None or (isinstance(v, float) and np.isnan(v))
                else json.dumps(list(v) if isinstance(v, tuple) else v)
                for v in frame[c]
            ]
        elif len(kinds) > 1:
            frame[c] = [None if v is None else str(v) for v in frame[c]]
    return frame


def _write_table(frame, fmt: str, out: str) -> None:
    frame = _plain(frame)
    if fmt == "csv":
        _atomic_write(out, lambda p: frame.to_csv(p, index=False))
    else:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise AnalysisError("parquet needs pyarrow: pip install 'dynet[analysis]'") from None
        _atomic_write(out, lambda p: frame.to_parquet(p, index=False))


def scenario_table(store: Store, scenario: str, job: str | None = None):
    """A scenario's runs table: the columns of :attr:`Store.runs` that its runs fill."""
    store.scenario_runs(scenario, job=job)  # raises for an unknown scenario
    runs = store.runs[store.runs["scenario"] == scenario]
    if job is not None:
        runs = runs[runs["job"] == job]
    keep = [
        c
        for c in runs.columns
        if c in ("run_id", "scenario", "job", "model", "replicate", "status", "error") or runs[c].notna().any()
    ]
    return runs[keep].reset_index(drop=True)


def export(
    store: str | os.PathLike | Store,
    target: str,
    fmt: str,
    out: str | os.PathLike,
    *,
    force: bool = False,
    trajectories=(),
    dim: str | None = None,
) -> dict:
    """Write ``target`` of ``store`` to ``out`` in format ``fmt`` (netcdf, csv, parquet).

    ``target`` is a scenario name or else a run id (any unique prefix). ``trajectories`` adds
    those variables to a scenario's NetCDF sweep; ``dim`` picks a run table's time dimension.
    Returns what was written: ``{"path", "format", "kind", "target", ...}``."""
    if fmt not in FORMATS:
        raise AnalysisError(f"unknown format '{fmt}' (use one of {', '.join(FORMATS)})")
    st = store if isinstance(store, Store) else Store(store)
    out = _check_out(out, force)
    is_scenario = target in st.scenarios
    info = {"path": out, "format": fmt, "kind": "scenario" if is_scenario else "run"}
    if is_scenario:
        info["target"] = target
        if fmt == "netcdf":
            ds = st.sweep(target, trajectories=list(trajectories))
            _atomic_write(out, ds.to_netcdf)
            info.update(dims={str(k): int(v) for k, v in ds.sizes.items()}, variables=sorted(map(str, ds.data_vars)))
        else:
            if trajectories:
                raise AnalysisError("trajectories go into a scenario's NetCDF export only")
            frame = scenario_table(st, target)
            _write_table(frame, fmt, out)
            info.update(rows=len(frame), columns=[str(c) for c in frame.columns])
        return info
    try:
        rid = st.resolve(target)
    except AnalysisError as exc:
        known = ", ".join(st.scenarios[:8]) or "none"
        raise AnalysisError(f"'{target}' is neither a scenario (scenarios: {known}) nor a run: {exc}") from None
    if trajectories:
        raise AnalysisError("--trajectories applies to a scenario's export; a run's NetCDF holds every array")
    info["target"] = rid
    ds = st.run(rid)
    if fmt == "netcdf":
        _atomic_write(out, ds.to_netcdf)
        info.update(dims={str(k): int(v) for k, v in ds.sizes.items()}, variables=sorted(map(str, ds.data_vars)))
    else:
        frame = trajectory_table(ds, dim)
        _write_table(frame, fmt, out)
        info.update(rows=len(frame), dim=frame.attrs["dim"], columns=[str(c) for c in frame.columns])
    return info
