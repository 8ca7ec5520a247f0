"""Deep belief networks: RBM pretraining, then fine-tuning.

``config.py`` the scenario schema, ``driver.py`` the run driver
(see :mod:`dynet.models.kind`).
"""

from dynet.models.kind import ModelKind

from .config import DBNScenario

KIND = ModelKind(
    name="dbn",
    config=DBNScenario,
    package=__name__,
    description="Deep belief networks: RBM pretraining, then fine-tuning.",
    summary=("pretrain_recon_error_0", "train_metric", "val_metric", "test_metric", "epochs_run"),
)
