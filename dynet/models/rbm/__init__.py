"""Restricted Boltzmann machines trained by CD-k / PCD-k.

``config.py`` the scenario schema, ``driver.py`` the run driver, ``kernels.py`` the numba kernels
(see :mod:`dynet.models.kind`).
"""

from dynet.models.kind import ModelKind

from .config import RBMScenario

KIND = ModelKind(
    name="rbm",
    config=RBMScenario,
    package=__name__,
    description="Restricted Boltzmann machines trained by CD-k / PCD-k.",
    summary=(
        "train_recon_error",
        "val_pseudo_likelihood",
        "free_energy_gap",
        "train_log_likelihood",
        "val_log_likelihood_ais",
    ),
)
