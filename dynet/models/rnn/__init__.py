"""Elman recurrent networks trained by backpropagation through time (full or truncated) on
generated sequence tasks: the adding problem, parity, delayed recall, noisy sines.

``config.py`` the scenario schema, ``driver.py`` the run driver, ``kernels.py`` the numba kernels
(see :mod:`dynet.models.kind`).
"""

from dynet.models.kind import ModelKind

from .config import RnnScenario

KIND = ModelKind(
    name="rnn",
    config=RnnScenario,
    package=__name__,
    description="Elman recurrent networks (tanh) trained by backpropagation through time on sequence tasks.",
    summary=("train_loss", "val_loss", "val_accuracy", "loss_ratio", "spectral_radius_init", "lag_grad_ratio_init"),
)
