"""The exceptions dynet raises on purpose, under one base.

``except dynet.DynetError`` catches every error dynet reports to a user (bad scenario,
store, cluster, data, plot, diverged training); anything else is a bug. The CLI prints
their message as one ``error: ...`` line.
"""

from __future__ import annotations


class DynetError(Exception):
    """Base of every error dynet raises on purpose."""


class ScenarioError(DynetError):
    """A scenario file is invalid; ``lines`` holds one message per problem."""

    def __init__(self, lines: list[str]):
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


class TrainingDiverged(DynetError, RuntimeError):
    """Training produced a non-finite loss or parameters; the run is stored ``failed``."""


class ClusterError(DynetError):
    """The Dask scheduler cannot be reached or the cluster cannot start (exit status 1).

    Declared here, not in :mod:`dynet.cluster`, so that catching it does not import Dask."""

    exit_code = 1


class ClusterConfigError(ClusterError):
    """A bad scheduler address or TLS setting: bad input (exit status 2)."""

    exit_code = 2
