"""dynet: classic neural networks as dynamical systems, simulated on Dask, stored in Zarr."""

__version__ = "0.1.0"
