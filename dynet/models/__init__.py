"""Model drivers: build parameters, call kernels in blocks, record trajectories.

Each model module provides ``run(spec, record) -> metrics``, ``preflight(config,
base_dir, store=None) -> problems`` (``store``: where the runs will be written, for
models that read other runs), ``cost(config) -> float`` (work estimate for batching),
``warmup()`` (compile its kernels) and ``SUMMARY`` (metrics shown in summaries).
"""

import importlib

MODEL_NAMES = ("hopfield", "feedforward", "ising", "rbm", "dbm", "dbn", "boltzmann")


def get(name: str):
    """The driver module of model ``name``."""
    if name not in MODEL_NAMES:
        raise KeyError(name)
    return importlib.import_module(f"dynet.models.{name}")
