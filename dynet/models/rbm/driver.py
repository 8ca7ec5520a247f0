"""Restricted Boltzmann machines (Bernoulli or Gaussian visible units): data, training,
evaluation, annealed importance sampling, sampling.

Bernoulli-Bernoulli (``network.visible = "bernoulli"``, the default):
``E(v, h) = -b.v - c.h - v^T W h`` over binary visible ``v`` and hidden ``h`` units,
``W`` of shape (visible, hidden); ``F(v) = -b.v - sum_j softplus(c_j + v W_j)`` and
``p(v) = exp(-F(v)) / Z``.

Gaussian-Bernoulli (``network.visible = "gaussian"``; Hinton's guide section 13.2, Cho et
al. 2011): real visible units with fixed standard deviations ``sigma``,
``E(v, h) = sum_i (v_i - b_i)**2 / (2 sigma_i**2) - c.h - sum_ij (v_i / sigma_i) W_ij h_j``,
``p(h_j = 1 | v) = sigmoid(c_j + sum_i v_i W_ij / sigma_i)``,
``p(v_i | h) = N(b_i + sigma_i (W h)_i, sigma_i**2)`` and
``F(v) = sum_i (v_i - b_i)**2 / (2 sigma_i**2) - sum_j softplus(c_j + (v / sigma) W_j)``.
sigma is not learned: the usual practice is to standardize the data on the training
split (``data.standardize = "unit"``, the default: mean 0 and std 1 per unit; or
``"global"``: mean 0 per unit and one common scale giving mean variance 1) and keep
``sigma = 1``; ``network.sigma`` sets other values (one, or one per unit). All
statistics (reconstruction error, free energies, log-likelihoods: log densities) are in
the standardized units the model sees.

A run loads its data (Bernoulli: bundled digits thresholded, bars-and-stripes, or a
binary user file; Gaussian: the digits' pixel intensities 0..16, iris, bars-and-stripes
or any real user file), splits off a validation set, and trains by CD-k or persistent CD
(PCD-k, one chain per batch row as in scikit-learn's ``BernoulliRBM``) with one compiled
call per epoch (:func:`dynet.models.rbm.kernels.train_epoch`, :func:`dynet.models.rbm.kernels.gb_train_epoch`).
After the initialization and every ``record.every`` epochs (and the last) it records
along ``epoch``:

* ``train_recon_error`` / ``val_recon_error``: mean over rows and visible units of
  ``(v_i - E[v_i | h])**2`` with ``h`` *sampled* from ``p(h | v)`` (one stochastic
  up-pass, a mean-field down-pass: the quantity most RBM code prints; for Gaussian
  units the reconstruction MSE);
* ``train_pseudo_likelihood`` / ``val_pseudo_likelihood`` (Bernoulli only, NaN for
  Gaussian units): scikit-learn's ``score_samples`` estimator,
  ``nv * log sigmoid(F(v~) - F(v))`` with ``v~`` = ``v`` with one unit flipped, averaged
  over the rows. As scikit-learn with a fixed ``random_state``, the flipped unit of each
  row is drawn once per run, so the curve moves with the model, not with the draw;
* ``train_free_energy`` / ``val_free_energy`` (means) and ``free_energy_gap`` =
  mean F(validation) - mean F(training subset): the overfitting monitor of Hinton's
  guide, rising when the model prefers the training data;
* ``hidden_mean``: mean ``p(h_j = 1 | v)`` over the training subset and units (what a
  sparsity target steers);
* ``log_z``, ``train_log_likelihood``, ``val_log_likelihood``: exact, when
  ``record.exact_max`` allows: Bernoulli by enumerating the smaller layer
  (``2**min(nv, nh)`` terms), Gaussian by summing closed-form Gaussian integrals over the
  ``2**nh`` hidden states; NaN otherwise;
* ``log_z_ais``, ``log_z_ais_se``, ``train_log_likelihood_ais``, ``val_log_likelihood_ais``:
  with ``record.ais_runs > 0``, at every ``record.ais_every``-th epoch (0: none) and after
  the last, an annealed importance sampling estimate of ``log Z`` (Salakhutdinov and
  Murray 2008; :func:`ais_log_partition`): ``ais_runs`` runs through ``ais_betas``
  distributions (``ais_ladder`` spacing) from the base-rate model (W = 0; visible biases
  ``log(p_i / (1 - p_i))`` of the training data, or for Gaussian units ``N(mean of the
  training rows, sigma**2)``), ``log Z = log Z_base + log mean(w)`` with the delta-method
  standard error ``sd(w) / (sqrt(runs) mean(w))``, and the log-likelihoods ``-mean F -
  log_z_ais``; NaN at the other records. Computed also when the exact value is, so the
  two can be compared;
* ``lr``, ``weight_norm`` (Frobenius norm of W).

The training-side statistics use a fixed random subset of the training rows of the
validation set's size (the whole training set when there is no validation set); the
exact and AIS log-likelihoods use every training row.

After training, ``sampling.chains`` Gibbs chains start from uniformly random visible
vectors (Gaussian: standard normal) and run ``sampling.steps`` steps; every
``sampling.every``-th step each chain's visible sample is stored (``samples``,
``sample x visible``, int8 for Bernoulli, float32 in data units ``v * data_scale +
data_shift`` for Gaussian; row ``s`` is chain ``sample_chain[s]`` at step
``sample_step[s]``) with the mean of ``p(v | h)`` it was drawn from (``sample_mean``,
float32, in the same units). ``weights`` (visible x hidden), ``visible_bias``,
``hidden_bias``, ``initial_weights`` and ``image_shape`` (for plotting filters and
samples) are stored whole; Gaussian runs add ``visible_sigma``, ``data_shift`` and
``data_scale`` (the standardization, model units ``(x - data_shift) / data_scale``).

Precision: float64 throughout. The parameters are small (64 x 256 for digits), the
kernels are bound by the sigmoid and row sums more than by memory, and float64 keeps
the exact log-partition sums (up to 2**20 terms in Gray-code order), free-energy gaps
(differences of numbers near 100), AIS log weights (sums of 10**4 small increments)
and the comparison with scikit-learn (float64) tight.

Random streams (children of the run's SeedSequence): 0 data (unused by the current
sources), 1 the validation split, 2 the initial weights, 3 the training kernel's
xoshiro256** state (permutations, Gibbs draws), 4 the evaluation (training subset,
flipped units; its child 0 seeds the reconstruction draws), 5 the sampling chains
(its child 0 the initial visibles, child 1 the chains' xoshiro256** state), 6 the AIS
runs' xoshiro256** state (one stream through all the run's AIS estimates).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from dynet import data as data_sources
from dynet.kernels import maths
from dynet.kernels.rng import seed_state
from dynet.scenario import run_settings
from dynet.store import TrajectorySpec, chunk_rows
from dynet.train import loop as L

from . import kernels as K
from .config import RBMNetwork, RBMSampling

# --------------------------------------------------------------------------- data


def bars_and_stripes(size: int = 4) -> np.ndarray:
    """Every distinct ``size x size`` bars-and-stripes image (MacKay 2003), uint8 (n, size**2).

    Bars: any subset of the columns on; stripes: any subset of the rows on. The empty
    and the full image are both, so there are ``2**(size + 1) - 2`` patterns (30 for 4 x 4).
    """
    subsets = ((np.arange(2**size)[:, None] >> np.arange(size)) & 1).astype(np.uint8)
    bars = np.repeat(subsets[:, None, :], size, axis=1)  # column pattern repeated on every row
    stripes = np.repeat(subsets[:, :, None], size, axis=2)  # row pattern repeated on every column
    images = np.concatenate([bars, stripes]).reshape(-1, size * size)
    _, first = np.unique(images, axis=0, return_index=True)
    return np.ascontiguousarray(images[np.sort(first)])


def _load_file(data, base_dir: str, sha256: str | None) -> tuple[str, np.ndarray]:
    """``(path, array)`` of a user file (``data.path``, ``data.key``), checked to be a non-empty 2-D array."""
    path = data.path if os.path.isabs(data.path) else os.path.join(base_dir, data.path)
    x = data_sources.load_array(path, data.key, sha256)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise data_sources.DataError(f"{path}: needs a 2-D array (samples x visible units), got shape {x.shape}")
    return path, x


def load_data(data, base_dir: str = ".", sha256: str | None = None) -> tuple[np.ndarray, tuple[int, ...] | None]:
    """(binary data uint8 (n, nv), image shape or None) for a scenario's validated ``data`` table
    (:data:`dynet.config.RBMData`); ``sha256``: the file's expected hash (the resolved config's)."""
    src = data.source
    if src == "digits":
        images, _ = data_sources.load_digits()
        return (images / 16.0 > data.threshold).astype(np.uint8), (8, 8)
    if src == "bars-stripes":
        return bars_and_stripes(data.size), (data.size, data.size)
    path, x = _load_file(data, base_dir, sha256)
    if x.dtype == bool:
        return x.astype(np.uint8), None
    x = np.asarray(x, np.float64)
    if not np.isfinite(x).all():
        raise data_sources.DataError(f"{path}: data contain NaN or infinite values")
    if data.threshold is not None:
        return (x > data.threshold).astype(np.uint8), None
    if not np.isin(x, (0.0, 1.0)).all():
        raise data_sources.DataError(f"{path}: values must be 0 or 1 (or set data.threshold to binarize them)")
    return x.astype(np.uint8), None


def load_real_data(data, base_dir: str = ".", sha256: str | None = None) -> tuple[np.ndarray, tuple[int, ...] | None]:
    """(real data float64 (n, nv), image shape or None) for Gaussian visible units: the digits'
    pixel intensities 0..16 (not binarized), iris, bars and stripes as 0.0 / 1.0, or any finite
    2-D array from a user file."""
    src = data.source
    if src == "digits":
        images, _ = data_sources.load_digits()
        return images.astype(np.float64), (8, 8)
    if src == "iris":
        return data_sources.load_iris()[0].copy(), None
    if src == "bars-stripes":
        return bars_and_stripes(data.size).astype(np.float64), (data.size, data.size)
    path, x = _load_file(data, base_dir, sha256)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise data_sources.DataError(f"{path}: needs numbers, got dtype {x.dtype}")
    x = np.asarray(x, np.float64)
    if not np.isfinite(x).all():
        raise data_sources.DataError(f"{path}: data contain NaN or infinite values")
    return x, None


def standardization(x_train: np.ndarray, kind: str = "unit") -> tuple[np.ndarray, np.ndarray]:
    """(shift, scale) per unit for ``(x - shift) / scale``: ``unit`` maps the training rows to
    mean 0 and std 1 per unit (a constant unit keeps scale 1, as :func:`dynet.data.standardize`);
    ``global`` to mean 0 per unit and mean variance 1 (one scale for all units); ``none``
    leaves the data as they are."""
    nv = x_train.shape[1]
    if kind == "none" or len(x_train) == 0:
        return np.zeros(nv), np.ones(nv)
    shift = x_train.mean(axis=0)
    if kind == "global":
        s = math.sqrt(float(x_train.var(axis=0).mean()))
        return shift, np.full(nv, s if s > 0 else 1.0)
    scale = x_train.std(axis=0)
    scale[scale == 0] = 1.0
    return shift, scale


def to_csr(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Active-unit lists of binary rows: (idx int64, ptr int64 (n + 1,))."""
    x = np.asarray(x)
    _, cols = np.nonzero(x)
    ptr = np.zeros(len(x) + 1, np.int64)
    np.cumsum(np.count_nonzero(x, axis=1), out=ptr[1:])
    return cols.astype(np.int64), ptr


# --------------------------------------------------------------------------- numpy reference formulas


def energy(v: np.ndarray, h: np.ndarray, W: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``E(v, h) = -b.v - c.h - v^T W h`` (rows of ``v`` and ``h`` paired)."""
    v = np.atleast_2d(v).astype(np.float64)
    h = np.atleast_2d(h).astype(np.float64)
    return -(v @ b) - (h @ c) - np.einsum("ri,ij,rj->r", v, W, h)


def free_energy(v: np.ndarray, W: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``F(v) = -b.v - sum_j softplus(c_j + v W_j)`` per row."""
    v = np.atleast_2d(v).astype(np.float64)
    return -(v @ b) - np.logaddexp(0.0, v @ W + c).sum(axis=1)


def per_unit(sigma, n_visible: int) -> np.ndarray:
    """Visible standard deviations (one value or one per unit) as a float64 array, one per unit."""
    return np.broadcast_to(np.asarray(sigma, np.float64), (n_visible,)).copy()


def gb_energy(v, h, W, b, c, sigma) -> np.ndarray:
    """Gaussian-Bernoulli ``E(v, h) = sum_i (v_i - b_i)**2 / (2 sigma_i**2) - c.h - (v / sigma)^T W h``."""
    v = np.atleast_2d(v).astype(np.float64)
    h = np.atleast_2d(h).astype(np.float64)
    return (((v - b) / sigma) ** 2).sum(axis=1) / 2 - (h @ c) - np.einsum("ri,ij,rj->r", v / sigma, W, h)


def gb_free_energy(v, W, b, c, sigma) -> np.ndarray:
    """Gaussian-Bernoulli ``F(v) = sum_i (v_i - b_i)**2 / (2 sigma_i**2) - sum_j softplus(c_j + (v / sigma) W_j)``."""
    v = np.atleast_2d(v).astype(np.float64)
    return (((v - b) / sigma) ** 2).sum(axis=1) / 2 - np.logaddexp(0.0, (v / sigma) @ W + c).sum(axis=1)


def gb_log_partition(W: np.ndarray, b: np.ndarray, c: np.ndarray, sigma: np.ndarray) -> float:
    """Exact ``log Z`` of a Gaussian-Bernoulli RBM (``2**nh`` terms, each a closed-form Gaussian integral)."""
    W = np.asarray(W, np.float64)
    sigma = per_unit(sigma, W.shape[0])
    return K.gb_log_partition(np.ascontiguousarray(W.T), np.asarray(b, np.float64), np.asarray(c, np.float64), sigma)


def log_partition(W: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    """Exact ``log Z``, enumerating the smaller layer (``2**min(nv, nh)`` terms)."""
    W = np.asarray(W, np.float64)
    if W.shape[1] <= W.shape[0]:
        return maths.log_partition(np.ascontiguousarray(W.T), np.asarray(c, np.float64), np.asarray(b, np.float64))
    return maths.log_partition(np.ascontiguousarray(W), np.asarray(b, np.float64), np.asarray(c, np.float64))


# --------------------------------------------------------------------------- training state


@dataclass
class Trainer:
    """Parameters, momentum, persistent chains and work arrays of one training run.

    ``epoch(lrs)`` runs one epoch in one compiled call; ``lrs`` holds the learning
    rate of each of its ``steps`` mini-batch steps. ``W, b, c`` are copied on
    construction and updated in place; ``rng_state`` is advanced in place.
    """

    data: np.ndarray  # uint8 (n, nv) training rows
    W: np.ndarray
    b: np.ndarray
    c: np.ndarray
    method: str = "cd"
    k: int = 1
    batch_size: int = 10
    momentum: float = 0.0
    weight_decay: float = 0.0
    sparsity_target: float = 0.1
    sparsity_cost: float = 0.0
    shuffle: bool = True
    rng_state: np.ndarray = field(default_factory=lambda: np.array([1, 2, 3, 4], np.uint64))

    def __post_init__(self):
        # copies: training updates them in place
        self.W = np.array(self.W, np.float64, order="C")
        self.b = np.array(self.b, np.float64)
        self.c = np.array(self.c, np.float64)
        nv, nh = self.W.shape
        self.n = len(self.data)
        self.batch_size = min(self.batch_size, self.n)
        self.steps = (self.n + self.batch_size - 1) // self.batch_size
        self._prepare_data()
        self.WT = np.ascontiguousarray(self.W.T)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self.dc = np.zeros_like(self.c)
        self.G = np.zeros_like(self.W)
        self.gb = np.zeros_like(self.b)
        self.gc = np.zeros_like(self.c)
        self.order = np.empty(self.n, np.int64)
        chains = self.batch_size if self.method == "pcd" else 0
        # persistent chains start with every hidden unit off, as scikit-learn's h_samples_
        self.chain_act = np.zeros((chains, nh), np.int64)
        self.chain_n = np.zeros(chains, np.int64)
        self.a_h = np.empty(nh)
        self.p_h = np.empty(nh)
        self.a_v = np.empty(nv)
        self.p_v = np.empty(nv)
        self.h_act = np.empty(nh, np.int64)
        self.v_act = np.empty((max(1, chains), nv), np.int64)
        self.v_n = np.zeros(max(1, chains), np.int64)
        self.epochs = 0

    def _prepare_data(self) -> None:
        self.idx, self.ptr = to_csr(self.data)

    def params(self) -> tuple[np.ndarray, ...]:
        """``(W, b, c)``."""
        return self.W, self.b, self.c

    def _rates(self, lrs: np.ndarray) -> np.ndarray:
        lrs = np.ascontiguousarray(lrs, np.float64)
        if len(lrs) != self.steps:
            raise ValueError(f"need {self.steps} learning rates, got {len(lrs)}")
        return lrs

    def epoch(self, lrs: np.ndarray) -> None:
        lrs = self._rates(lrs)
        K.train_epoch(
            self.W,
            self.WT,
            self.b,
            self.c,
            self.dW,
            self.db,
            self.dc,
            self.G,
            self.gb,
            self.gc,
            self.idx,
            self.ptr,
            self.order,
            bool(self.shuffle),
            int(self.batch_size),
            K.METHODS[self.method],
            int(self.k),
            self.chain_act,
            self.chain_n,
            lrs,
            float(self.momentum),
            float(self.weight_decay),
            float(self.sparsity_target),
            float(self.sparsity_cost),
            self.rng_state,
            self.a_h,
            self.p_h,
            self.a_v,
            self.p_v,
            self.h_act,
            self.v_act,
            self.v_n,
        )
        self.epochs += 1

    def chain_hidden(self) -> np.ndarray:
        """The persistent chains' hidden states, uint8 (chains, nh)."""
        out = np.zeros(self.chain_act.shape, np.uint8)
        for r, (act, n) in enumerate(zip(self.chain_act, self.chain_n)):
            out[r, act[:n]] = 1
        return out


@dataclass
class GaussianTrainer(Trainer):
    """A Gaussian-Bernoulli RBM's :class:`Trainer`: ``data`` are real rows (float64 (n, nv)),
    ``sigma`` the fixed visible standard deviations (one value or one per unit);
    ``chains_v`` holds the persistent chains' last visible samples (PCD)."""

    sigma: np.ndarray | float = 1.0

    def _prepare_data(self) -> None:
        self.data = np.ascontiguousarray(self.data, np.float64)
        self.sigma = per_unit(self.sigma, self.W.shape[0])
        # the persistent chains start from h = 0, as the Bernoulli ones; their first step draws v
        self.chains_v = np.zeros((self.batch_size if self.method == "pcd" else 1, self.W.shape[0]))

    def epoch(self, lrs: np.ndarray) -> None:
        lrs = self._rates(lrs)
        K.gb_train_epoch(
            self.W,
            self.WT,
            self.b,
            self.c,
            self.sigma,
            self.dW,
            self.db,
            self.dc,
            self.G,
            self.gb,
            self.gc,
            self.data,
            self.order,
            bool(self.shuffle),
            int(self.batch_size),
            K.METHODS[self.method],
            int(self.k),
            self.chain_act,
            self.chain_n,
            self.chains_v,
            lrs,
            float(self.momentum),
            float(self.weight_decay),
            float(self.sparsity_target),
            float(self.sparsity_cost),
            self.rng_state,
            self.a_h,
            self.p_h,
            self.a_v,
            self.h_act,
        )
        self.epochs += 1


# --------------------------------------------------------------------------- evaluation


class Evaluator:
    """The per-epoch statistics of one set of rows (see the module docstring)."""

    def __init__(self, x: np.ndarray, bits: np.ndarray, rng_state: np.ndarray):
        self.x = np.ascontiguousarray(x, np.uint8)
        self.n = len(x)
        self.idx, self.ptr = to_csr(self.x)
        self.bits = np.ascontiguousarray(bits, np.int64)
        self.rng_state = rng_state
        self.out = np.empty(self.n)
        self.out2 = np.empty(self.n)

    def __call__(self, W, WT, b, c, log_z: float | None = None) -> dict:
        if self.n == 0:
            nan = math.nan
            return dict(recon_error=nan, pseudo_likelihood=nan, free_energy=nan, hidden_mean=nan, log_likelihood=nan)
        nv, nh = W.shape
        a_h, p_h, a_v, p_v = np.empty(nh), np.empty(nh), np.empty(nv), np.empty(nv)
        h_act = np.empty(nh, np.int64)
        K.reconstruct(
            W, WT, b, c, self.idx, self.ptr, self.x, self.rng_state, a_h, p_h, a_v, p_v, h_act, self.out, self.out2
        )
        res = dict(
            recon_error=float(self.out.sum() / (self.n * nv)), hidden_mean=float(self.out2.sum() / (self.n * nh))
        )
        K.pseudo_likelihood(W, b, c, self.idx, self.ptr, self.x, self.bits, a_h, self.out)
        res["pseudo_likelihood"] = float(self.out.mean())
        f = float(self.free_energies(W, b, c).mean())
        res["free_energy"] = f
        res["log_likelihood"] = float(-f - log_z) if log_z is not None else math.nan
        return res

    def free_energies(self, W, b, c) -> np.ndarray:
        """``F(v)`` of every row (a view of a buffer the next call overwrites)."""
        K.free_energies(W, b, c, self.idx, self.ptr, np.empty(W.shape[1]), self.out)
        return self.out


class GaussianEvaluator:
    """The per-epoch statistics of real rows under a Gaussian-Bernoulli RBM: reconstruction
    MSE (``h`` sampled, the mean of ``p(v | h)``), mean ``p(h | v)``, free energy, and the
    log-likelihood (a log density) given ``log Z``; no pseudo-likelihood (NaN)."""

    def __init__(self, x: np.ndarray, sigma: np.ndarray, rng_state: np.ndarray):
        self.x = np.ascontiguousarray(x, np.float64)
        self.n = len(x)
        self.sigma = np.ascontiguousarray(sigma, np.float64)
        self.rng_state = rng_state
        self.out = np.empty(self.n)
        self.out2 = np.empty(self.n)

    def free_energies(self, W, b, c) -> np.ndarray:
        K.gb_free_energies(W, b, c, self.sigma, self.x, np.empty(W.shape[1]), self.out)
        return self.out

    def __call__(self, W, WT, b, c, log_z: float | None = None) -> dict:
        nan = math.nan
        if self.n == 0:
            return dict(recon_error=nan, pseudo_likelihood=nan, free_energy=nan, hidden_mean=nan, log_likelihood=nan)
        nv, nh = W.shape
        K.gb_reconstruct(
            W,
            WT,
            b,
            c,
            self.sigma,
            self.x,
            self.rng_state,
            np.empty(nh),
            np.empty(nh),
            np.empty(nv),
            np.empty(nh, np.int64),
            self.out,
            self.out2,
        )
        res = dict(
            recon_error=float(self.out.sum() / (self.n * nv)),
            hidden_mean=float(self.out2.sum() / (self.n * nh)),
            pseudo_likelihood=nan,
        )
        f = float(self.free_energies(W, b, c).mean())
        res["free_energy"] = f
        res["log_likelihood"] = float(-f - log_z) if log_z is not None else nan
        return res


def empirical_log_likelihood(x: np.ndarray) -> float:
    """Mean log-probability of the rows under their own empirical distribution: the
    largest mean log-likelihood any model can reach on them."""
    _, counts = np.unique(x, axis=0, return_counts=True)
    p = counts / counts.sum()
    return float(np.sum(counts * np.log(p)) / counts.sum())


# --------------------------------------------------------------------------- annealed importance sampling

#: The smallest nonzero beta of the geometric AIS ladder.
GEOMETRIC_BETA_MIN = 1e-4


def ais_betas(n: int, ladder: str = "linear") -> np.ndarray:
    """The ``n + 1`` inverse temperatures ``0 = beta_0 < ... < beta_n = 1`` of an AIS run:
    evenly spaced (``linear``), or 0 followed by ``n`` values spaced geometrically from
    :data:`GEOMETRIC_BETA_MIN` to 1 (``geometric``: small steps where the model is switched on)."""
    if ladder == "linear" or n == 1:
        return np.linspace(0.0, 1.0, n + 1)
    if ladder == "geometric":
        return np.concatenate([[0.0], np.geomspace(GEOMETRIC_BETA_MIN, 1.0, n)])
    raise ValueError(f"unknown AIS ladder {ladder!r} (linear, geometric)")


def base_rate_biases(x_train: np.ndarray) -> np.ndarray:
    """Visible biases of the independent model that matches the training units' means:
    ``log(p_i / (1 - p_i))``, ``p`` clipped to [1e-3, 1 - 1e-3] (Hinton's guide; the AIS base model)."""
    p = np.clip(x_train.mean(axis=0), 1e-3, 1.0 - 1e-3)
    return np.log(p / (1.0 - p))


def ais_log_partition(W, b, c, b_base, betas, n_runs: int, rng_state: np.ndarray, sigma=None):
    """Annealed importance sampling estimate of ``log Z`` (Salakhutdinov and Murray 2008).

    ``n_runs`` runs of :func:`dynet.models.rbm.kernels.ais_bernoulli` (``sigma`` None) or
    :func:`dynet.models.rbm.kernels.ais_gaussian` from the base model with visible biases (means)
    ``b_base`` along ``betas``; ``rng_state`` advances. Returns ``(log_z, se, log_w)``:
    ``log_z = log Z_0 + log mean(w)``, the standard error of that by the delta method,
    ``se = sd(w) / (sqrt(n_runs) mean(w))`` (NaN for one run), and the runs' log weights.
    ``log Z_0 = sum_i softplus(b_base_i) + nh log 2`` (Bernoulli) or ``sum_i log(sqrt(2 pi)
    sigma_i) + nh log 2`` (Gaussian). ``mean(w)`` is an unbiased estimate of ``Z / Z_0``; its
    log is biased low by about ``se**2 / 2`` (Jensen), so log-likelihoods from it are high.
    """
    W = np.ascontiguousarray(W, np.float64)
    nv, nh = W.shape
    WT = np.ascontiguousarray(W.T)
    b, c = np.asarray(b, np.float64), np.asarray(c, np.float64)
    b_base = np.ascontiguousarray(b_base, np.float64)
    betas = np.ascontiguousarray(betas, np.float64)
    log_w = np.empty(n_runs)
    a_h, p_h, a_v, h_act = np.empty(nh), np.empty(nh), np.empty(nv), np.empty(nh, np.int64)
    if sigma is None:
        K.ais_bernoulli(
            W, WT, b, c, b_base, betas, log_w, rng_state, a_h, p_h, a_v, np.empty(nv), h_act, np.empty(nv, np.int64)
        )
        log_z0 = float(np.logaddexp(0.0, b_base).sum())
    else:
        sigma = per_unit(sigma, nv)
        K.ais_gaussian(W, WT, b, c, sigma, b_base, betas, log_w, rng_state, a_h, p_h, a_v, np.empty(nv), h_act)
        log_z0 = float(np.log(math.sqrt(2.0 * math.pi) * sigma).sum())
    log_z0 += nh * math.log(2.0)
    top = log_w.max()
    w = np.exp(log_w - top)
    mean = w.mean()
    se = float(w.std(ddof=1) / (math.sqrt(n_runs) * mean)) if n_runs > 1 else math.nan
    return log_z0 + float(top + math.log(mean)), se, log_w


# --------------------------------------------------------------------------- the run


def init_params(net: RBMNetwork, x_train: np.ndarray, n_visible: int, rng: np.random.Generator):
    """``(W, b, c)`` of a validated ``network`` table: ``W ~ N(0, init_std^2)``, biases as configured."""
    nh = net.n_hidden
    W = rng.normal(0.0, net.init_std, (n_visible, nh))
    if net.visible_bias == "data" and len(x_train):
        # Gaussian units: the mean of p(v | h = 0) is b; Bernoulli: Hinton's guide, log(p_i / (1 - p_i))
        b = x_train.mean(axis=0) if net.visible == "gaussian" else base_rate_biases(x_train)
    else:
        b = np.zeros(n_visible)
    c = np.full(nh, float(net.hidden_bias))
    return W, b, c


def trainer_options(training, sparsity) -> dict:
    """The :class:`Trainer` keywords of a validated ``training`` table (an RBM's, or a DBN's
    ``pretraining``) and ``sparsity`` table (None: the Trainer's own, no sparsity term)."""
    opts = dict(
        method=training.method,
        k=training.k,
        batch_size=training.batch_size,
        momentum=training.momentum,
        weight_decay=training.weight_decay,
        shuffle=training.shuffle,
    )
    if sparsity is not None:
        opts.update(sparsity_target=sparsity.target, sparsity_cost=sparsity.cost)
    return opts


def epoch_specs() -> dict:
    cols = [
        "lr",
        "weight_norm",
        "hidden_mean",
        "train_recon_error",
        "val_recon_error",
        "train_pseudo_likelihood",
        "val_pseudo_likelihood",
        "train_free_energy",
        "val_free_energy",
        "free_energy_gap",
        "log_z",
        "train_log_likelihood",
        "val_log_likelihood",
    ]
    return {"epoch": TrajectorySpec(("epoch",), "int64"), **{c: TrajectorySpec(("epoch",), "float64") for c in cols}}


#: The AIS columns of the epoch trajectory (NaN where no AIS estimate was made).
AIS_COLUMNS = ("log_z_ais", "log_z_ais_se", "train_log_likelihood_ais", "val_log_likelihood_ais")


def ais_specs() -> dict:
    return {c: TrajectorySpec(("epoch",), "float64") for c in AIS_COLUMNS}


def run(spec, record) -> dict:
    """Train one RBM run (a :class:`dynet.scenario.RunSpec`) into ``record``; return its metrics."""
    cfg = spec.settings
    tr_cfg, rec_cfg, smp = cfg.training, cfg.record, cfg.sampling
    gaussian = cfg.network.visible == "gaussian"
    _, split_ss, init_ss, train_ss, eval_ss, sample_ss, ais_ss = spec.seed_sequence().spawn(7)
    x, image_shape = (load_real_data if gaussian else load_data)(cfg.data, spec.base_dir, file_hash(spec.config))
    n, nv = x.shape
    nh = cfg.network.n_hidden
    tr, va = L.validation_split(cfg.data.validation, n, split_ss)
    x_tr, x_va = x[tr], x[va]
    if gaussian:
        shift, scale = standardization(x_tr, cfg.data.standardize)
        x_tr, x_va = (x_tr - shift) / scale, (x_va - shift) / scale
        sigma = per_unit(cfg.network.sigma, nv)
    W, b, c = init_params(cfg.network, x_tr, nv, np.random.default_rng(init_ss))
    record.static("initial_weights", W, ("visible", "hidden"))
    opts = dict(trainer_options(tr_cfg, cfg.sparsity), rng_state=seed_state(train_ss))
    trainer = GaussianTrainer(x_tr, W, b, c, sigma=sigma, **opts) if gaussian else Trainer(x_tr, W, b, c, **opts)

    # evaluation sets: the validation rows and a fixed training subset of the same size
    ev_ss = eval_ss.spawn(1)[0]
    ev_rng = np.random.default_rng(eval_ss)
    n_sub = len(va) if len(va) else len(tr)
    sub = np.sort(ev_rng.choice(len(tr), n_sub, replace=False))
    recon_state = seed_state(ev_ss)
    bits_tr, bits_va = ev_rng.integers(0, nv, n_sub), ev_rng.integers(0, nv, len(va))
    if gaussian:
        ev_train, ev_val = GaussianEvaluator(x_tr[sub], sigma, recon_state), GaussianEvaluator(x_va, sigma, recon_state)
    else:
        ev_train, ev_val = Evaluator(x_tr[sub], bits_tr, recon_state), Evaluator(x_va, bits_va, recon_state)
    # exact log Z: a sum over the smaller layer (Bernoulli) or over the hidden states (Gaussian)
    exact = (nh if gaussian else min(nv, nh)) <= rec_cfg.exact_max
    ais_runs = rec_cfg.ais_runs
    if gaussian:
        ll_train = GaussianEvaluator(x_tr, sigma, recon_state) if exact or ais_runs else None
        b_base = x_tr.mean(axis=0)
    else:
        ll_train = Evaluator(x_tr, np.zeros(len(tr), np.int64), recon_state) if exact or ais_runs else None
        b_base = base_rate_biases(x_tr)
    betas = ais_betas(rec_cfg.ais_betas, rec_cfg.ais_ladder)
    ais_state = seed_state(ais_ss)

    def partition() -> float:
        if gaussian:
            return float(K.gb_log_partition(trainer.WT, trainer.b, trainer.c, sigma))
        return log_partition(trainer.W, trainer.b, trainer.c)

    snap_every = rec_cfg.snapshot_every
    snap_specs = {
        "snapshot_epoch": TrajectorySpec(("snapshot",), "int64"),
        "snapshot_weights": TrajectorySpec(("snapshot", "visible", "hidden"), "float64", (nv, nh)),
    }
    epochs = tr_cfg.epochs

    def row(epoch: int, lr: float) -> dict:
        log_z = partition() if exact else None
        et = ev_train(trainer.W, trainer.WT, trainer.b, trainer.c, log_z)
        ev = ev_val(trainer.W, trainer.WT, trainer.b, trainer.c, log_z)
        f_train = float(ll_train.free_energies(trainer.W, trainer.b, trainer.c).mean()) if ll_train else math.nan
        nan = math.nan
        vals = dict(
            epoch=epoch,
            lr=lr,
            weight_norm=float(np.sqrt(np.sum(trainer.W**2))),
            hidden_mean=et["hidden_mean"],
            train_recon_error=et["recon_error"],
            val_recon_error=ev["recon_error"],
            train_pseudo_likelihood=et["pseudo_likelihood"],
            val_pseudo_likelihood=ev["pseudo_likelihood"],
            train_free_energy=et["free_energy"],
            val_free_energy=ev["free_energy"],
            free_energy_gap=ev["free_energy"] - et["free_energy"],
            log_z=log_z if exact else nan,
            train_log_likelihood=-f_train - log_z if exact else nan,
            val_log_likelihood=ev["log_likelihood"],
            log_z_ais=nan,
            log_z_ais_se=nan,
            train_log_likelihood_ais=nan,
            val_log_likelihood_ais=nan,
        )
        every = rec_cfg.ais_every
        if ais_runs and ((every and epoch % every == 0) or epoch == epochs):
            z, se, _ = ais_log_partition(
                trainer.W, trainer.b, trainer.c, b_base, betas, ais_runs, ais_state, sigma if gaussian else None
            )
            vals.update(
                log_z_ais=z,
                log_z_ais_se=se,
                train_log_likelihood_ais=-f_train - z,
                val_log_likelihood_ais=-ev["free_energy"] - z,
            )
        return vals

    with L.trajectories(record, {**epoch_specs(), **ais_specs()}, snap_specs if snap_every else None) as (traj, snaps):
        last = L.run_epochs(
            trainer,
            L.epoch_schedule(cfg.schedule.model_dump(), tr_cfg.lr),
            epochs,
            row,
            traj,
            every=rec_cfg.every,
            snapshots=snaps,
            snapshot_every=snap_every,
            snapshot=lambda: {"snapshot_weights": trainer.W[None]},
        )

    record.static("weights", trainer.W, ("visible", "hidden"))
    record.static("visible_bias", trainer.b, ("visible",))
    record.static("hidden_bias", trainer.c, ("hidden",))
    record.static("validation_index", va.astype(np.int64), ("validation_row",))
    if gaussian:
        record.static("visible_sigma", sigma, ("visible",))
        record.static("data_shift", shift, ("visible",))
        record.static("data_scale", scale, ("visible",))
    if image_shape is not None:
        record.static("image_shape", np.array(image_shape, np.int64), ("image_axis",))

    metrics = L.final_metrics(last)
    metrics.update(
        n_train=int(len(tr)),
        n_validation=int(len(va)),
        n_visible=int(nv),
        n_hidden=int(nh),
        steps_per_epoch=int(trainer.steps),
        exact_log_likelihood=bool(exact),
    )
    if exact and not gaussian:
        metrics["max_train_log_likelihood"] = empirical_log_likelihood(x_tr)
    if smp.chains:
        unscale = (shift, scale) if gaussian else None
        metrics.update(sample(trainer, smp, record, sample_ss, unscale=unscale))
    return metrics


def sample(trainer: Trainer, smp: RBMSampling, record, ss: np.random.SeedSequence, unscale=None) -> dict:
    """Run the Gibbs chains of ``[sampling]`` from random visibles into the ``sample`` trajectory.

    Bernoulli chains start from uniformly random bits; Gaussian chains (a
    :class:`GaussianTrainer`) from standard normal visibles, and their samples and means
    are stored in data units, ``v * scale + shift`` with ``unscale = (shift, scale)``.
    """
    W, WT, b, c = trainer.W, trainer.WT, trainer.b, trainer.c
    nv, nh = W.shape
    gaussian = isinstance(trainer, GaussianTrainer)
    chains, steps, every = smp.chains, smp.steps, smp.every
    init_ss, chain_ss = ss.spawn(2)
    if gaussian:
        v = np.random.default_rng(init_ss).standard_normal((chains, nv))
        shift, scale = unscale if unscale is not None else (np.zeros(nv), np.ones(nv))
    else:
        v = (np.random.default_rng(init_ss).random((chains, nv)) < 0.5).astype(np.uint8)
    state = seed_state(chain_ss)
    dtype = "float32" if gaussian else "int8"
    traj = record.trajectory(
        {
            "sample_step": TrajectorySpec(("sample",), "int64"),
            "sample_chain": TrajectorySpec(("sample",), "int64"),
            "samples": TrajectorySpec(("sample", "visible"), dtype, (nv,)),
            "sample_mean": TrajectorySpec(("sample", "visible"), "float32", (nv,)),
        }
    )
    # blocks of whole records, about a chunk of samples each
    per_block = max(1, chunk_rows(nv * 4) // chains)
    out_v = np.empty((per_block, chains, nv), dtype)
    out_p = np.empty((per_block, chains, nv), np.float32)
    if gaussian:  # kernel work arrays, allocated once for all blocks
        work = (np.empty(nh), np.empty(nh), np.empty(nv), np.empty(nh, np.int64))
        shift32, scale32 = shift.astype(np.float32), scale.astype(np.float32)
    else:
        work = (np.empty(nh), np.empty(nh), np.empty(nv), np.empty(nv), np.empty(nh, np.int64), np.empty(nv, np.int64))
    done = 0
    total = (steps // every) * every
    mean_on = 0.0
    n_rec = 0
    while done < total:
        n_steps = min(per_block * every, total - done)
        if gaussian:
            got = K.gb_gibbs_chains(W, WT, b, c, trainer.sigma, v, n_steps, every, out_v, out_p, 0, state, *work)
            vs = out_v[:got] * scale32 + shift32
            ps = out_p[:got] * scale32 + shift32
        else:
            got = K.gibbs_chains(W, WT, b, c, v, n_steps, every, out_v, out_p, 0, state, *work)
            vs, ps = out_v[:got], out_p[:got]
        step_at = done + every * np.arange(1, got + 1)
        traj.append(
            sample_step=np.repeat(step_at, chains),
            sample_chain=np.tile(np.arange(chains), got),
            samples=vs.reshape(-1, nv),
            sample_mean=ps.reshape(-1, nv),
        )
        mean_on += float(out_v[:got].sum(dtype=np.float64))
        n_rec += got
        done += n_steps
    traj.close()
    key = "sample_mean_value" if gaussian else "sample_activity"  # model units (standardized) for Gaussian
    return {"samples_stored": int(n_rec * chains), key: mean_on / max(1, n_rec * chains * nv)}


def file_hash(config: dict) -> str | None:
    """The expected sha256 of a resolved config's data file (None for a built-in data set): the
    hashes are in the resolved config only, not in the typed settings."""
    return config["data"].get("sha256")


def split_problems(n: int, data, batch_size: int) -> list[str]:
    """Problems of ``n`` rows under the validation split of ``data`` and a batch of ``batch_size`` rows."""
    n_val = int(data.validation * n)
    n_train = n - n_val
    if data.validation > 0 and n_val == 0:
        return [f"data.validation: {data.validation} of {n} samples leaves no validation sample"]
    if n_train < 1:
        return [f"data: no training samples left after the validation split ({n} samples)"]
    if batch_size > n_train:
        return [f"training.batch_size: {batch_size} is larger than the {n_train} training samples"]
    return []


def preflight(config: dict, base_dir: str, store: str | None = None) -> list[str]:
    """Problems that need the data: missing or unusable files, too few rows for the batch,
    a per-unit ``network.sigma`` of the wrong length. (An RBM run reads nothing from ``store``.)"""
    cfg = run_settings("rbm", config)
    gaussian = cfg.network.visible == "gaussian"
    try:
        x, _ = (load_real_data if gaussian else load_data)(cfg.data, base_dir, file_hash(config))
    except data_sources.DataError as exc:
        return [f"data.path: {exc}"]
    n, nv = x.shape
    sigma = cfg.network.sigma
    if gaussian and isinstance(sigma, list) and len(sigma) != nv:
        return [f"network.sigma: {len(sigma)} standard deviations for {nv} visible units"]
    return split_problems(n, cfg.data, cfg.training.batch_size)


def cost(config: dict) -> float:
    """Rough work of a run (multiply-adds), for batching small runs into one task."""
    cfg = run_settings("rbm", config)
    n, nv = L.data_size(cfg.data)
    nh = cfg.network.n_hidden
    tr, rec = cfg.training, cfg.record
    work = tr.epochs * n * (tr.k + 1) * nv * nh
    n_exact = nh if cfg.network.visible == "gaussian" else min(nv, nh)
    if n_exact <= rec.exact_max:
        work += (tr.epochs // rec.every + 1) * 2.0**n_exact * max(nv, nh) * 20
    if rec.ais_runs:
        n_ais = 1 + (tr.epochs // rec.ais_every + 1 if rec.ais_every else 0)
        work += n_ais * rec.ais_runs * rec.ais_betas * 2 * nv * nh
    smp = cfg.sampling
    return float(work + smp.chains * smp.steps * nv * nh)


def warmup() -> None:
    """Compile (or load from cache) the kernels on a tiny problem."""
    x = bars_and_stripes(2)
    state = np.array([1, 2, 3, 4], np.uint64)
    for method in ("cd", "pcd"):
        t = Trainer(x, np.full((4, 3), 0.01), np.zeros(4), np.zeros(3), method=method, k=1, batch_size=2)
        t.epoch(np.full(t.steps, 0.01))
        g = GaussianTrainer(x, np.full((4, 3), 0.01), np.zeros(4), np.zeros(3), method=method, k=1, batch_size=2)
        g.epoch(np.full(g.steps, 0.01))
    ev = Evaluator(x, np.zeros(len(x), np.int64), state)
    ev(t.W, t.WT, t.b, t.c, log_partition(t.W, t.b, t.c))
    GaussianEvaluator(x, g.sigma, state)(g.W, g.WT, g.b, g.c, gb_log_partition(g.W, g.b, g.c, g.sigma))
    log_partition(np.zeros((3, 4)), np.zeros(3), np.zeros(4))
    betas = ais_betas(2)
    ais_log_partition(t.W, t.b, t.c, t.b, betas, 2, state)
    ais_log_partition(g.W, g.b, g.c, g.b, betas, 2, state, g.sigma)
    one = RBMSampling(chains=1, steps=1, every=1)
    sample(t, one, L.NullRecord(), np.random.SeedSequence(0))
    sample(g, one, L.NullRecord(), np.random.SeedSequence(0))
