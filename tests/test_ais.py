"""Annealed importance sampling: the ladder, an exactly solvable case, log Z of RBMs with
non-trivial weights against exact enumeration (Bernoulli and Gaussian visible units), and
the AIS columns of a run."""

import math

import numpy as np
import pytest
from conftest import MemoryRecord

from dynet.kernels.rng import seed_state
from dynet.models.rbm import driver as M
from dynet.scenario import parse_scenario


def test_ladders_run_from_zero_to_one():
    for ladder in ("linear", "geometric"):
        betas = M.ais_betas(500, ladder)
        assert len(betas) == 501 and betas[0] == 0.0 and betas[-1] == 1.0 and (np.diff(betas) > 0).all()
    assert M.ais_betas(4, "linear").tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    g = M.ais_betas(5, "geometric")
    assert g[1] == pytest.approx(M.GEOMETRIC_BETA_MIN) and np.allclose(g[2:] / g[1:-1], 10.0)
    assert M.ais_betas(1, "geometric").tolist() == [0.0, 1.0]


def test_a_model_without_weights_gives_every_run_the_exact_weight():
    """With W = 0 and the base model's visible biases equal to the model's, p_k(v) does not
    depend on beta and every log weight is sum_j [softplus(c_j) - log 2] exactly: the
    estimate is log Z = sum_i softplus(b_i) + sum_j softplus(c_j) with zero spread."""
    rng = np.random.default_rng(0)
    b, c = rng.normal(0, 1, 7), rng.normal(0, 1, 5)
    exact = np.logaddexp(0, b).sum() + np.logaddexp(0, c).sum()
    z, se, log_w = M.ais_log_partition(
        np.zeros((7, 5)), b, c, b, M.ais_betas(50), 20, seed_state(np.random.SeedSequence(1))
    )
    assert z == pytest.approx(exact, rel=1e-13) and se == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(log_w, np.logaddexp(0, c).sum() - 5 * math.log(2), rtol=1e-12)
    # Gaussian visible units: log Z = sum_i log(sqrt(2 pi) sigma_i) + sum_j softplus(c_j)
    sigma = rng.uniform(0.5, 2.0, 7)
    z, se, _ = M.ais_log_partition(
        np.zeros((7, 5)), b, c, b, M.ais_betas(50), 20, seed_state(np.random.SeedSequence(2)), sigma
    )
    assert z == pytest.approx(np.log(np.sqrt(2 * np.pi) * sigma).sum() + np.logaddexp(0, c).sum(), rel=1e-13)


def random_rbm(seed, nv, nh, scale):
    rng = np.random.default_rng(seed)
    return rng.normal(0, scale, (nv, nh)), rng.normal(0, 1, nv), rng.normal(0, 1, nh)


def test_bernoulli_log_z_within_its_error_bar_and_tightening_with_more_betas():
    """A 16 x 10 RBM with unit-scale random weights (log Z = 35.3, far from the base
    model's): with 100 runs each estimate lies within 3 delta-method standard errors of
    the exact log Z (2**10 terms), and both the standard error and the error shrink as
    the ladder grows from 30 to 3,000 betas."""
    W, b, c = random_rbm(0, 16, 10, 1.0)
    exact = M.log_partition(W, b, c)
    base = M.base_rate_biases((np.random.default_rng(1).random((50, 16)) < 0.3).astype(np.uint8))
    errors, ses = [], []
    for n in (30, 300, 3000):
        z, se, _ = M.ais_log_partition(W, b, c, base, M.ais_betas(n), 100, seed_state(np.random.SeedSequence(n)))
        assert abs(z - exact) < 3 * se, (n, z, exact, se)
        errors.append(abs(z - exact))
        ses.append(se)
    assert ses[0] > ses[1] > ses[2] and ses[2] < 0.02
    assert errors[2] < errors[0]
    # the shortest ladder is far from exact: the test can tell a good estimate from a poor one
    assert ses[0] > 10 * ses[2]


def test_gaussian_log_z_within_its_error_bar():
    W, b, c = random_rbm(3, 6, 10, 0.5)
    sigma = np.random.default_rng(4).uniform(0.5, 1.5, 6)
    exact = M.gb_log_partition(W, b, c, sigma)
    z, se, _ = M.ais_log_partition(
        W, b, c, np.zeros(6), M.ais_betas(1000), 100, seed_state(np.random.SeedSequence(5)), sigma
    )
    assert abs(z - exact) < 3 * se and se < 0.05, (z, exact, se)


def test_a_run_records_ais_every_k_epochs_beside_the_exact_values():
    doc = {
        "name": "a",
        "model": "rbm",
        "seed": 3,
        "data": {"source": "bars-stripes", "size": 4},
        "network": {"n_hidden": 10},
        "training": {"method": "cd", "k": 5, "epochs": 60, "batch_size": 10, "lr": 0.1, "momentum": 0.5},
        "sampling": {"chains": 0},
        "record": {"every": 10, "ais_runs": 100, "ais_betas": 500, "ais_every": 30, "ais_ladder": "geometric"},
    }
    rec = MemoryRecord()
    metrics = M.run(parse_scenario(doc).runs[0], rec)
    epochs = rec.col("epoch")
    ais, se, log_z = rec.col("log_z_ais"), rec.col("log_z_ais_se"), rec.col("log_z")
    done = np.isin(epochs, [0, 30, 60])
    assert epochs.tolist() == [0, 10, 20, 30, 40, 50, 60]
    assert np.isfinite(ais[done]).all() and np.isnan(ais[~done]).all() and np.isnan(se[~done]).all()
    assert (np.abs(ais - log_z)[done] < 3 * se[done]).all()
    assert abs(log_z[-1] - log_z[0]) > 1  # training moved log Z: the later estimates are not of the start model
    # the log-likelihood estimates are the exact ones shifted by the log Z difference
    np.testing.assert_allclose(
        rec.col("train_log_likelihood_ais")[done],
        rec.col("train_log_likelihood")[done] + log_z[done] - ais[done],
        rtol=1e-12,
    )
    assert np.isnan(rec.col("val_log_likelihood_ais")).all()  # bars and stripes: no validation split
    assert metrics["log_z_ais"] == ais[-1] and metrics["log_z_ais_se"] == se[-1]
