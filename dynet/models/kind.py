"""What a model kind is to the rest of dynet: :class:`ModelKind`.

A model kind is a package ``dynet/models/<kind>/`` with

* ``config.py``: its scenario class (a :class:`dynet.config.ScenarioBase`, ``model`` a
  ``Literal`` of the kind's name), every table, default and check declared once;
* ``driver.py``: ``run(spec, record) -> metrics``, ``preflight(config, base_dir, store)
  -> [problems]`` (data files exist and fit; a run read from the store exists),
  ``cost(config) -> float`` (work estimate for batching runs into tasks) and
  ``warmup()`` (compile its kernels);
* ``kernels.py`` (if any): its numba kernels;
* ``__init__.py``: ``KIND = ModelKind(...)``, importing only the config, so that
  validating scenarios, listing and plotting never import numba.

:data:`dynet.models.REGISTRY` lists them; nothing else does.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dynet.config import ScenarioBase


@dataclass(frozen=True)
class ModelKind:
    """One model kind: its name, scenario class, summary metrics and (imported on first use)
    its driver."""

    name: str
    config: type[ScenarioBase]
    package: str
    description: str
    summary: tuple[str, ...]
    _driver: list = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self):
        literal = self.config.model_fields["model"].annotation.__args__
        if literal != (self.name,):
            raise ValueError(f"model kind {self.name!r}: its config's `model` is {literal}, not ({self.name!r},)")

    @property
    def driver(self) -> ModuleType:
        """``dynet.models.<kind>.driver`` (imports numba and the kernels)."""
        if not self._driver:
            self._driver.append(importlib.import_module(f"{self.package}.driver"))
        return self._driver[0]

    def run(self, spec, record) -> dict[str, Any]:
        """Run one run (``spec``: :class:`dynet.scenario.RunSpec`) into ``record``; its final metrics."""
        return self.driver.run(spec, record)

    def preflight(self, config: dict, base_dir: str, store: str | None = None) -> list[str]:
        """Problems a run of this resolved config would meet (files, sizes, sources in ``store``)."""
        return self.driver.preflight(config, base_dir, store)

    def cost(self, config: dict) -> float:
        """Estimated work of one run (arbitrary units, ~1e9 per second), for batching."""
        return self.driver.cost(config)

    def warmup(self) -> None:
        """Compile the kind's kernels (numba caches them on disk)."""
        self.driver.warmup()
