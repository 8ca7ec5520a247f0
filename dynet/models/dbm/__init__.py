"""Two-layer deep Boltzmann machines.

``config.py`` the scenario schema, ``driver.py`` the run driver, ``kernels.py`` the numba kernels
(see :mod:`dynet.models.kind`).
"""

from dynet.models.kind import ModelKind

from .config import DBMScenario

KIND = ModelKind(
    name="dbm",
    config=DBMScenario,
    package=__name__,
    description="Two-layer deep Boltzmann machines.",
    summary=("train_recon_error", "train_lower_bound", "train_log_likelihood", "val_log_likelihood"),
)
