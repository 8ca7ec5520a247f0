"""Data sources: datasets bundled with dynet and user files.

Bundled (in ``dynet/datasets/``, copied from scikit-learn's copies):

* ``digits``: the 1,797 8x8 handwritten digits of the UCI "Optical Recognition of
  Handwritten Digits" test set (E. Alpaydin, C. Kaynak, 1998), pixels 0..16.
  Licence: CC BY 4.0 (UCI Machine Learning Repository).
* ``iris``: Fisher's Iris data (150 x 4, three classes), UCI, CC BY 4.0.
"""

from __future__ import annotations

import functools
import gzip
import os
from importlib import resources

import numpy as np


class DataError(Exception):
    """A data file is missing, unreadable, or has the wrong shape or values."""


@functools.cache
def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The bundled digits: images ``uint8`` of shape (1797, 64) in 0..16, labels (1797,)."""
    with resources.files("dynet.datasets").joinpath("digits.csv.gz").open("rb") as raw, gzip.open(raw, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    return table[:, :64].astype(np.uint8), table[:, 64].astype(np.int64)


@functools.cache
def load_iris() -> tuple[np.ndarray, np.ndarray]:
    """The bundled Iris data: features float64 (150, 4), labels (150,)."""
    with resources.files("dynet.datasets").joinpath("iris.csv").open("r") as fh:
        table = np.loadtxt(fh, delimiter=",", skiprows=1)
    return table[:, :4], table[:, 4].astype(np.int64)


def load_array(path: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """One array from a ``.npy`` or ``.npz`` file (``key`` names it inside a ``.npz``)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such data file")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read as .npy/.npz: {exc}") from None
    if isinstance(data, np.ndarray):
        if key is not None:
            raise DataError(f"{path}: a .npy file holds one array; 'key' applies to .npz files only")
        return data
    with data:
        names = list(data.files)
        if key is None:
            if len(names) != 1:
                raise DataError(f"{path}: holds {len(names)} arrays ({', '.join(names)}); say which with 'key'")
            key = names[0]
        if key not in names:
            raise DataError(f"{path}: no array '{key}' (has {', '.join(names)})")
        return np.asarray(data[key])
