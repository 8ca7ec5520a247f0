"""General Boltzmann machines: sampling, annealing, tempering, learning.

``config.py`` the scenario schema, ``driver.py`` the run driver, ``kernels.py`` the numba kernels
(see :mod:`dynet.models.kind`).
"""

from dynet.models.kind import ModelKind

from .config import BoltzmannScenario

KIND = ModelKind(
    name="boltzmann",
    config=BoltzmannScenario,
    package=__name__,
    description="General Boltzmann machines: sampling, annealing, tempering, learning.",
    summary=("final_energy", "abs_mean_state", "max_overlap", "swap_acceptance", "train_log_likelihood"),
)
