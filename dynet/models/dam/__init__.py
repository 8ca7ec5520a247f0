"""Dense associative memories (Krotov & Hopfield 2016): E(s) = -sum_mu F(xi_mu . s).

``config.py`` the scenario schema, ``driver.py`` the run driver, ``kernels.py`` the numba kernels
(see :mod:`dynet.models.kind`).
"""

from dynet.models.kind import ModelKind

from .config import DamScenario

KIND = ModelKind(
    name="dam",
    config=DamScenario,
    package=__name__,
    description="Dense associative memories: polynomial, rectified or exponential energies, recall and capacity.",
    summary=("final_overlap", "recalled", "sweeps", "converged"),
)
