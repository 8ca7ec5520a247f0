"""dynet: classic neural networks as dynamical systems, simulated on Dask, stored in Zarr."""

__version__ = "0.1.0"

__all__ = ["open_store"]


def __getattr__(name):
    # dynet.open_store imports pandas and xarray only when first used (the CLI stays quick)
    if name == "open_store":
        from .analysis import open_store

        return open_store
    raise AttributeError(f"module 'dynet' has no attribute {name!r}")
