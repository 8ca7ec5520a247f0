"""Hopfield networks: stored patterns, recall dynamics, capacity.

``config.py`` the scenario schema, ``driver.py`` the run driver, ``kernels.py`` the numba kernels
(see :mod:`dynet.models.kind`).
"""

from dynet.models.kind import ModelKind

from .config import HopfieldScenario

KIND = ModelKind(
    name="hopfield",
    config=HopfieldScenario,
    package=__name__,
    description="Hopfield networks: stored patterns, recall dynamics, capacity.",
    summary=("final_overlap", "max_abs_overlap", "recalled", "spurious", "sweeps"),
)
