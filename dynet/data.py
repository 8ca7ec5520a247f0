"""Data sources: datasets bundled with dynet and user files.

Bundled (in ``dynet/datasets/``, copied from scikit-learn's copies):

* ``digits``: the 1,797 8x8 handwritten digits of the UCI "Optical Recognition of
  Handwritten Digits" test set (E. Alpaydin, C. Kaynak, 1998), pixels 0..16.
  Licence: CC BY 4.0 (UCI Machine Learning Repository).
* ``iris``: Fisher's Iris data (150 x 4, three classes), UCI, CC BY 4.0.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import io
import os
import stat
import warnings
import zipfile
import zlib
from importlib import resources

import numpy as np

from .errors import DynetError


class DataError(DynetError):
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


def file_sha256(path: str | os.PathLike) -> str | None:
    """Hex sha256 of a regular file's bytes, or None when it is not one or cannot be read
    (the loaders then say why)."""
    try:
        with _open_regular(path) as fh:
            if fh is None:
                return None
            h = hashlib.sha256()
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
            return h.hexdigest()
    except OSError:
        return None


def _open_regular(path):
    """A binary file object of ``path`` when it is a regular file, else a context of None; opened
    non-blocking, so a FIFO named as a data file never blocks the open."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return contextlib.nullcontext(None)
    return os.fdopen(fd, "rb")


def read_file(path: str | os.PathLike, sha256: str | None = None) -> bytes:
    """The bytes of a regular data file; with ``sha256`` (the digest the run's identity was
    computed from), checked to be still those bytes, so a run never reads other data than its
    id names."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such data file")
    if not os.path.isfile(path):
        raise DataError(f"{path}: not a regular file (a data file is a .npy, .npz or .csv file)")
    try:
        with _open_regular(path) as fh:
            if fh is None:
                raise DataError(f"{path}: not a regular file (a data file is a .npy, .npz or .csv file)")
            raw = fh.read()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if sha256 is not None:
        _check_digest(path, hashlib.sha256(raw).hexdigest(), sha256)
    return raw


def _describe(sample: bytes, size: int) -> str:
    """What a file that is not a .npy/.npz holds, from its first bytes ``sample`` and its
    ``size``, in a few words (never its content)."""
    if not size:
        return "the file is empty"
    if sample[:1] == b"\x80" and len(sample) > 1 and sample[1] <= 5:
        return "found pickled Python objects, which dynet never loads"
    if sample[:2] == b"\x1f\x8b":
        return "found gzip-compressed data"
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4 or size == len(sample):  # not a character cut by the sample's end
            return f"found {size} bytes of binary data in another format"
        text = sample[: exc.start].decode("utf-8")
    if not all(c.isprintable() or c in "\t\r\n" for c in text):
        return f"found {size} bytes of binary data in another format"
    if size > len(sample):
        return "found text"
    lines = sample.count(b"\n") + (not sample.endswith(b"\n"))
    return f"found text ({lines} line{'s' if lines != 1 else ''})"


def load_array(path: str | os.PathLike, key: str | None = None, sha256: str | None = None) -> np.ndarray:
    """One array from a ``.npy`` or ``.npz`` file (``key`` names it inside a ``.npz``); with
    ``sha256``, the file must still have that content (hashed, then loaded through the same
    open file, which must not change meanwhile). Never unpickles anything."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such data file")
    try:
        with _open_regular(path) as fh:
            if fh is None:
                raise DataError(f"{path}: not a regular file (a data file is a .npy, .npz or .csv file)")
            before = os.fstat(fh.fileno())
            sample = fh.read(65536)
            if sample[:6] != b"\x93NUMPY" and sample[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
                raise DataError(f"{path}: not a .npy/.npz array file: {_describe(sample, before.st_size)}")
            if sha256 is not None:
                fh.seek(0)
                h = hashlib.sha256()
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
                _check_digest(path, h.hexdigest(), sha256)
            fh.seek(0)
            array = _load_npy_npz(path, fh, key)
            after = os.fstat(fh.fileno())
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise DataError(f"{path}: changed while it was read; run again")
    return array


def _check_digest(path: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise DataError(
            f"{path}: changed since the scenario was validated (sha256 {actual[:12]}..., "
            f"expected {expected[:12]}...): validate and run the scenario again"
        )


def _load_npy_npz(path: str, fh, key: str | None) -> np.ndarray:
    try:
        data = np.load(fh, allow_pickle=False)
    except ValueError as exc:
        if "pickled" in str(exc) or "allow_pickle" in str(exc):
            raise DataError(
                f"{path}: holds an array of Python objects, which dynet never loads (save numbers: a numeric dtype)"
            ) from None
        raise DataError(f"{path}: a damaged .npy/.npz file: {_one_line(exc)}") from None
    except (EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: a damaged .npy/.npz file: {_one_line(exc)}") from None
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
            raise DataError(f"{path}: no array '{key}' (has {', '.join(names) or 'none'})")
        try:
            return np.asarray(data[key])
        except ValueError as exc:
            if "pickled" in str(exc) or "allow_pickle" in str(exc):
                raise DataError(
                    f"{path}: array '{key}' holds Python objects, which dynet never loads "
                    "(save numbers: a numeric dtype)"
                ) from None
            raise DataError(f"{path}: array '{key}' is damaged: {_one_line(exc)}") from None
        except (EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise DataError(f"{path}: array '{key}' is damaged: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def load_csv(path: str | os.PathLike, sha256: str | None = None) -> np.ndarray:
    """A numeric CSV table (comma-separated, at most one header row, ``#`` comments) as float64
    (rows, columns); with ``sha256``, the file must still have that content. A problem names
    the file and line, never the line's content."""
    path = os.fspath(path)
    raw = read_file(path, sha256)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}: line {line}: not UTF-8 text (a CSV file of numbers)") from None
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.split("#", 1)[0].strip()), None)
    # a first line that is not numbers is the header; a bad line further down is an error, never
    # a reason to drop the first row
    skip = first + 1 if first is not None and _bad_cell(lines[first]) else 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns about an empty file; we say so below
        try:
            table = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, skiprows=skip)
        except ValueError:
            raise DataError(f"{path}: {_csv_problem(lines, skip)}") from None
    if table.size == 0:
        raise DataError(f"{path}: no rows of numbers")
    return table


def _bad_cell(line: str) -> int | None:
    """The first column (1-based) of a CSV line that is not a number, or None."""
    for j, cell in enumerate(line.split("#", 1)[0].split(","), 1):
        try:
            float(cell.strip().replace("_", "x"))  # no digit separators: numpy does not read them
        except ValueError:
            return j
    return None


def _csv_problem(lines: list[str], skip: int) -> str:
    """Where a CSV table stops being a table of numbers: 'line L: ...' (no content echoed)."""
    width = None
    for i, line in enumerate(lines[skip:], skip + 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        bad = _bad_cell(line)
        if bad is not None:
            return f"line {i}: column {bad} is not a number (a numeric CSV table, one header row at most)"
        cells = line.count(",") + 1
        if width is None:
            width = (i, cells)
        elif cells != width[1]:
            return f"line {i}: {cells} columns, but line {width[0]} has {width[1]}"
    return "not a numeric CSV table (one header row at most)"


# --------------------------------------------------------------------------- synthetic data
# Every generator takes a numpy Generator and returns (X float64 (n, d), y); y is int64
# class labels for classification sets and float64 (n, k) targets for regression sets.


def xor(rng: np.random.Generator, n_samples: int = 4, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """XOR: inputs in {0, 1}^2, label x1 xor x2. ``n_samples = 4`` gives the truth table
    exactly; more samples repeat it with Gaussian input noise of std ``noise``."""
    return parity(rng, n_bits=2, n_samples=n_samples, noise=noise)


def parity(
    rng: np.random.Generator, n_bits: int = 3, n_samples: int | None = None, noise: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
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


def linear(
    rng: np.random.Generator,
    n_samples: int = 200,
    noise: float = 0.5,
    coef: tuple[float, ...] = (2.0, -3.0),
    intercept: float = 5.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The linear model ``y = 5 + 2 x1 - 3 x2 + eps``, x ~ U(-1, 1)^d, eps ~ N(0, noise^2)."""
    coef = np.asarray(coef, np.float64)
    x = rng.uniform(-1.0, 1.0, (n_samples, len(coef)))
    y = intercept + x @ coef + rng.normal(0.0, noise, n_samples)
    return x, y[:, None]


def blobs(
    rng: np.random.Generator,
    n_samples: int = 300,
    n_classes: int = 3,
    n_features: int = 2,
    spread: float = 1.0,
    box: float = 5.0,
) -> tuple[np.ndarray, np.ndarray]:
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


def spirals(
    rng: np.random.Generator, n_samples: int = 300, n_classes: int = 2, turns: float = 1.5, noise: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
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
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


def standardize(train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Scale every array by the training split's mean and std (std 0 -> 1)."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0
    return tuple((a - mean) / std for a in (train, *others))
