"""The 2D Ising model sampled by Metropolis / heat-bath sweeps.

``config.py`` the scenario schema, ``driver.py`` the run driver, ``kernels.py`` the numba kernels
(see :mod:`dynet.models.kind`).
"""

from dynet.models.kind import ModelKind

from .config import IsingScenario

KIND = ModelKind(
    name="ising",
    config=IsingScenario,
    package=__name__,
    description="The 2D Ising model sampled by Metropolis / heat-bath sweeps.",
    summary=("abs_magnetization", "energy", "susceptibility", "heat_capacity", "binder"),
)
