"""Replicate statistics over sweep Datasets."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np

from .. import store as _store


def numeric_vars(ds) -> list[str]:
    return [n for n, v in ds.data_vars.items() if v.dtype.kind in "biuf"]


def mean_sem(ds, dim: str = "replicate"):
    """``(mean, sem, n)`` over ``dim`` of a sweep Dataset's numeric variables, NaNs skipped:
    ``sem = std(ddof=1) / sqrt(n)`` with ``n`` the number of values (NaN where n < 2)."""
    ds = ds[numeric_vars(ds)]
    n = ds.count(dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells, n < 2
        mean = ds.mean(dim)
        sem = ds.std(dim, ddof=1) / np.sqrt(n)
    return mean, sem.where(n > 1), n


def summarize(url, scenario: str, metrics=None, *, job: str | None = None):
    """``dynet summary``: the summary table of ``scenario`` in the store at ``url``."""
    from .reader import Store

    return Store(url).summary(scenario, metrics, job=job)


def summary_frame(ds, metrics=None):
    """One row per sweep point of a sweep Dataset (see :meth:`dynet.analysis.Store.summary`)."""
    import pandas as pd

    from .. import models

    if metrics is None:
        try:
            metrics = list(models.get(ds.attrs.get("model")).SUMMARY)
        except KeyError:
            metrics = []
    else:
        metrics = list(metrics)
        unknown = [m for m in metrics if m not in ds.data_vars]
        if unknown:
            from .reader import AnalysisError

            raise AnalysisError(f"scenario '{ds.attrs.get('scenario')}' has no metric {', '.join(unknown)} "
                                f"(it has {', '.join(sorted(map(str, ds.data_vars)))})")
    present = set(numeric_vars(ds))
    if not metrics:
        metrics = sorted(present)
    # a model with several modes names the metrics of all of them: keep those some run has
    metrics = [m for m in metrics if m in present and bool(ds[m].notnull().any())]
    mean, sem, _ = mean_sem(ds[metrics]) if metrics else (None, None, None)
    keys = json.loads(ds.attrs.get("sweep_keys", "[]"))
    point_dims = [d for d in ds["status"].dims if d != "replicate"]
    status = ds["status"].transpose(*point_dims, "replicate").values
    shape = status.shape[:-1]
    rows = []
    for idx in np.ndindex(*shape) if shape else [()]:
        st = status[idx]
        runs = int(np.sum(st != ""))
        if runs == 0:
            continue
        sel = dict(zip(point_dims, idx))
        row = {}
        for k in keys:
            v = ds[k].isel({d: i for d, i in sel.items() if d in ds[k].dims}).values
            row[k] = v.item() if hasattr(v, "item") else v
        row.update(runs=runs, complete=int(np.sum(st == _store.COMPLETE)), failed=int(np.sum(st == _store.FAILED)))
        for m in metrics:
            mv = float(mean[m].isel(sel).values)
            sv = float(sem[m].isel(sel).values)
            row[m] = mv
            row[f"{m}_sem"] = sv if not math.isnan(mv) else math.nan
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*keys, "runs", "complete", "failed",
                                        *(c for m in metrics for c in (m, f"{m}_sem"))])
    frame.attrs["metrics"] = metrics
    frame.attrs["sweep_keys"] = keys
    return frame
