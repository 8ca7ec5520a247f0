"""Feedforward networks trained by backpropagation.

``config.py`` the scenario schema, ``driver.py`` the run driver, ``kernels.py`` the numba kernels
(see :mod:`dynet.models.kind`).
"""

from dynet.models.kind import ModelKind

from .config import FeedforwardScenario

KIND = ModelKind(
    name="feedforward",
    config=FeedforwardScenario,
    package=__name__,
    description="Feedforward networks trained by backpropagation.",
    summary=("train_loss", "val_loss", "train_metric", "val_metric", "test_metric", "epochs_run"),
)
