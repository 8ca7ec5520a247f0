"""dynet: classic neural networks as dynamical systems, simulated on Dask, stored in Zarr.

The public API is the names below (``dynet.__all__``); everything else is internal and may change::

    import dynet
    dynet.validate("scenarios/hopfield-quickstart.toml")             # a Scenario, or ScenarioError
    report = dynet.run_scenario("scenarios/hopfield-quickstart.toml", store="runs.zarr")
    report.results[0].status, report.results[0].metrics              # RunReport of RunResult
    dynet.list_runs("runs.zarr")                                     # one dict per stored run
    store = dynet.open_store("runs.zarr")                            # pandas/xarray views (analysis extra)

    try:
        ...
    except dynet.DynetError as exc:                                  # every error dynet raises on purpose
        print(exc)

Importing ``dynet`` is quick: each name is imported on first use (numba, Dask, Zarr, pandas
and matplotlib only when a name that needs them is used).
"""

from __future__ import annotations

import importlib

from .errors import DynetError, ScenarioError, TrainingDiverged

__version__ = "0.1.0"

#: public name -> (module, name in it), imported on first use
_LAZY = {
    # scenarios
    "load_scenario": ("dynet.scenario", "load_scenario"),
    "Scenario": ("dynet.scenario", "Scenario"),
    "RunSpec": ("dynet.scenario", "RunSpec"),
    "validate": ("dynet.api", "validate"),
    # running
    "run_scenario": ("dynet.api", "run_scenario"),
    "RunReport": ("dynet.api", "RunReport"),
    "RunResult": ("dynet.api", "RunResult"),
    # detached jobs on a Dask cluster
    "submit": ("dynet.jobs", "submit"),
    "job_status": ("dynet.jobs", "job_status"),
    "list_jobs": ("dynet.jobs", "list_jobs"),
    "cancel": ("dynet.jobs", "cancel"),
    "Submitted": ("dynet.jobs", "Submitted"),
    "JobStatus": ("dynet.jobs", "JobStatus"),
    # reading a store
    "list_runs": ("dynet.api", "list_runs"),
    "show_run": ("dynet.api", "show_run"),
    "load_run": ("dynet.api", "load_run"),
    "open_run": ("dynet.api", "open_run"),
    "open_store": ("dynet.analysis", "open_store"),
    "Store": ("dynet.analysis", "Store"),
    # model kinds
    "REGISTRY": ("dynet.models", "REGISTRY"),
    "ModelKind": ("dynet.models", "ModelKind"),
    # errors (DynetError, ScenarioError and TrainingDiverged are imported above)
    "DataError": ("dynet.data", "DataError"),
    "StoreError": ("dynet.store", "StoreError"),
    "AnalysisError": ("dynet.analysis", "AnalysisError"),
    "JobError": ("dynet.jobs", "JobError"),
    "ClusterError": ("dynet.errors", "ClusterError"),
    "ClusterLostError": ("dynet.api", "ClusterLostError"),
    "PlotError": ("dynet.plots.common", "PlotError"),
}

__all__ = [
    "__version__",
    # scenarios
    "load_scenario",
    "Scenario",
    "RunSpec",
    "validate",
    # running
    "run_scenario",
    "RunReport",
    "RunResult",
    # detached jobs
    "submit",
    "job_status",
    "list_jobs",
    "cancel",
    "Submitted",
    "JobStatus",
    # reading a store
    "list_runs",
    "show_run",
    "load_run",
    "open_run",
    "open_store",
    "Store",
    # model kinds
    "REGISTRY",
    "ModelKind",
    # errors
    "DynetError",
    "ScenarioError",
    "TrainingDiverged",
    "DataError",
    "StoreError",
    "AnalysisError",
    "JobError",
    "ClusterError",
    "ClusterLostError",
    "PlotError",
]

TYPE_CHECKING = False  # type checkers take it as true (importing typing would double the import time)
if TYPE_CHECKING:  # what type checkers and editors see (py.typed): the same names, imported eagerly
    from .analysis import AnalysisError, Store, open_store
    from .api import (
        ClusterLostError,
        RunReport,
        RunResult,
        list_runs,
        load_run,
        open_run,
        run_scenario,
        show_run,
        validate,
    )
    from .cluster import ClusterError
    from .data import DataError
    from .jobs import JobError, JobStatus, Submitted, cancel, job_status, list_jobs, submit
    from .models import REGISTRY, ModelKind
    from .plots.common import PlotError
    from .scenario import RunSpec, Scenario, load_scenario
    from .store import StoreError


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'dynet' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
