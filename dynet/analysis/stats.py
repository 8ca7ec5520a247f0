"""Replicate statistics over sweep Datasets."""

from __future__ import annotations

import json
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
            metrics = list(models.get(ds.attrs.get("model")).summary)
        except KeyError:
            metrics = []
    else:
        metrics = list(metrics)
        unknown = [m for m in metrics if m not in ds.data_vars]
        if unknown:
            from .reader import AnalysisError

            raise AnalysisError(
                f"scenario '{ds.attrs.get('scenario')}' has no metric {', '.join(unknown)} "
                f"(it has {', '.join(sorted(map(str, ds.data_vars)))})"
            )
    present = set(numeric_vars(ds))
    if not metrics:
        metrics = sorted(present)
    # a model with several modes names the metrics of all of them: keep those some run has
    metrics = [m for m in metrics if m in present and bool(ds[m].notnull().any())]
    mean, sem, _ = mean_sem(ds[metrics]) if metrics else (None, None, None)
    keys = json.loads(ds.attrs.get("sweep_keys", "[]"))
    import xarray as xr

    point_dims = [d for d in ds["status"].dims if d != "replicate"]
    status = ds["status"].transpose(*point_dims, "replicate").values
    status = status.reshape(-1, status.shape[-1])  # one row per sweep point, in C order

    def per_point(da):
        """A variable over the sweep points (or some of their dims) as one value per point."""
        return xr.broadcast(da, ds["status"].isel(replicate=0, drop=True))[0].transpose(*point_dims).values.ravel()

    cols = {k: per_point(ds[k]) for k in keys}
    cols["runs"] = (status != "").sum(axis=1)
    cols["complete"] = (status == _store.COMPLETE).sum(axis=1)
    cols["failed"] = (status == _store.FAILED).sum(axis=1)
    for m in metrics:
        cols[m] = per_point(mean[m]).astype(float)
        cols[f"{m}_sem"] = per_point(sem[m]).astype(float)
    frame = pd.DataFrame(cols)
    frame = frame[frame["runs"] > 0].reset_index(drop=True)
    frame.attrs["metrics"] = metrics
    frame.attrs["sweep_keys"] = keys
    return frame
