"""Hopfield's graded-response network (Hopfield 1984): continuous-time units with a sigmoid gain.

``config.py`` the scenario schema, ``driver.py`` the run driver, ``kernels.py`` the numba kernels
(see :mod:`dynet.models.kind`).
"""

from dynet.models.kind import ModelKind

from .config import GradedHopfieldScenario

KIND = ModelKind(
    name="graded-hopfield",
    config=GradedHopfieldScenario,
    package=__name__,
    description="Hopfield's graded-response network (1984): du/dt = -u/tau + W tanh(lambda u) + I, integrated.",
    summary=("final_overlap", "recalled", "final_energy", "t_final", "steps", "rejected_steps"),
)
