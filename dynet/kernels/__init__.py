"""Numba kernels: pure functions over arrays, no I/O, no globals.

Random state is always passed in explicitly as a ``uint64[4]`` xoshiro256** state
(see :mod:`dynet.kernels.rng`), so a kernel's output depends only on its arguments.
Primitives shared by several models' kernels (``exp_``, ``sigmoid``, active-unit row
sums, the bipartite log-partition sum) are in :mod:`dynet.kernels.maths`; each model's
own kernels are in ``dynet/models/<kind>/kernels.py``.
"""
