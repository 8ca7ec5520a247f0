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


# --------------------------------------------------------------------------- synthetic data
# Every generator takes a numpy Generator and returns (X float64 (n, d), y); y is int64
# class labels for classification sets and float64 (n, k) targets for regression sets.

def xor(rng: np.random.Generator, n_samples: int = 4, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """XOR: inputs in {0, 1}^2, label x1 xor x2. ``n_samples = 4`` gives the truth table
    exactly; more samples repeat it with Gaussian input noise of std ``noise``."""
    return parity(rng, n_bits=2, n_samples=n_samples, noise=noise)


def parity(rng: np.random.Generator, n_bits: int = 3, n_samples: int | None = None,
           noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """n-bit parity: label = (sum of bits) mod 2. ``n_samples=None`` gives all 2^n inputs once."""
    table = ((np.arange(2**n_bits)[:, None] >> np.arange(n_bits)[::-1]) & 1).astype(np.float64)
    if n_samples is None or n_samples == len(table):
        x = table.copy()
    else:
        x = table[np.arange(n_samples) % len(table)]
    y = (x.sum(axis=1) % 2).astype(np.int64)
    if noise:
        x = x + rng.normal(0.0, noise, x.shape)
    return x, y


def linear(rng: np.random.Generator, n_samples: int = 200, noise: float = 0.5,
           coef: tuple[float, ...] = (2.0, -3.0), intercept: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """The linear model ``y = 5 + 2 x1 - 3 x2 + eps``, x ~ U(-1, 1)^d, eps ~ N(0, noise^2)."""
    coef = np.asarray(coef, np.float64)
    x = rng.uniform(-1.0, 1.0, (n_samples, len(coef)))
    y = intercept + x @ coef + rng.normal(0.0, noise, n_samples)
    return x, y[:, None]


def blobs(rng: np.random.Generator, n_samples: int = 300, n_classes: int = 3, n_features: int = 2,
          spread: float = 1.0, box: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs: class centres uniform in [-box, box]^d, isotropic std ``spread``."""
    centres = rng.uniform(-box, box, (n_classes, n_features))
    y = np.arange(n_samples) % n_classes
    rng.shuffle(y)
    return centres[y] + rng.normal(0.0, spread, (n_samples, n_features)), y.astype(np.int64)


def moons(rng: np.random.Generator, n_samples: int = 300, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (as scikit-learn's make_moons), Gaussian noise ``noise``."""
    n0 = n_samples // 2
    n1 = n_samples - n0
    t0 = np.linspace(0.0, np.pi, n0)
    t1 = np.linspace(0.0, np.pi, n1)
    x = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], np.c_[1.0 - np.cos(t1), 0.5 - np.sin(t1)]])
    y = np.r_[np.zeros(n0, np.int64), np.ones(n1, np.int64)]
    return x + rng.normal(0.0, noise, x.shape), y


def spirals(rng: np.random.Generator, n_samples: int = 300, n_classes: int = 2, turns: float = 1.5,
            noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved Archimedean spirals, one per class (the CS231n toy set)."""
    y = np.arange(n_samples) % n_classes
    r = np.linspace(0.05, 1.0, n_samples)
    t = r * turns * 2 * np.pi + y * (2 * np.pi / n_classes)
    x = np.c_[r * np.cos(t), r * np.sin(t)] + rng.normal(0.0, noise, (n_samples, 2))
    return x, y.astype(np.int64)


def split(n: int, fractions: tuple[float, float, float], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Index arrays (train, validation, test) from one permutation; sizes round down, train gets the rest."""
    order = rng.permutation(n)
    n_val = int(fractions[1] * n)
    n_test = int(fractions[2] * n)
    n_train = n - n_val - n_test
    return order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]


def standardize(train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Scale every array by the training split's mean and std (std 0 -> 1)."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0
    return tuple((a - mean) / std for a in (train, *others))
