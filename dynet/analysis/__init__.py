"""Reading a run store for analysis (needs ``pip install 'dynet[analysis]'``: xarray, pandas).

Usage::

    import dynet
    store = dynet.open_store("runs.zarr")          # a dynet.analysis.Store
    store.runs                                     # pandas DataFrame, one row per run: run_id, scenario,
                                                   # job, model, <swept params, dotted>, replicate, status,
                                                   # error, elapsed_s, <final metrics>
    store.runs.query("`init.fraction` > 0.1 and status == 'complete'")   # or store.select(where=...)
    ds = store.run("0c287d")                       # xarray.Dataset of one run (any unique id prefix), lazy
    sw = store.sweep("small", trajectories=["energy"])  # dims: one per swept parameter (or `point`), replicate
    mean, sem, n = dynet.analysis.mean_sem(sw)     # replicate mean, standard error, count
    store.summary("small")                         # DataFrame: one row per sweep point, mean and <m>_sem
    store.problems                                 # run groups skipped as unreadable: {name: why}

Listing parses each run's ``zarr.json`` once per process (later listings stat them and reread
only the changed ones). ``sweep_table`` and ``binder_crossings`` (Ising T_c from Binder cumulants) work on the same
records; :func:`export` (:mod:`dynet.analysis.writers`) writes runs and sweeps to NetCDF, CSV and Parquet.
"""

from .reader import AnalysisError, Store, list_runs, open_store
from .stats import mean_sem, summarize, summary_frame
from .tables import binder_crossings, sweep_table
from .writers import export

__all__ = [
    "AnalysisError",
    "Store",
    "binder_crossings",
    "export",
    "list_runs",
    "mean_sem",
    "open_store",
    "summarize",
    "summary_frame",
    "sweep_table",
]
