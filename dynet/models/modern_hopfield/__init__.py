"""Modern (continuous) Hopfield networks (Ramsauer et al. 2020): softmax retrieval of stored patterns.

``config.py`` the scenario schema, ``driver.py`` the run driver, ``kernels.py`` the numba kernels
(see :mod:`dynet.models.kind`).
"""

from dynet.models.kind import ModelKind

from .config import ModernHopfieldScenario

KIND = ModelKind(
    name="modern-hopfield",
    config=ModernHopfieldScenario,
    package=__name__,
    description="Modern continuous Hopfield networks (Ramsauer et al. 2020): xi <- X softmax(beta X^T xi).",
    summary=("steps", "final_energy", "retrieved", "final_distance", "max_weight", "entropy"),
)
