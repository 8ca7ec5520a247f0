"""Gaussian-Bernoulli RBMs: energy and free energy by hand, the exact log Z against
quadrature, the CD/PCD estimators against the exact gradient, the Gibbs sampler against
the exact distribution, the documented update, runs, and validation."""

import math

import numpy as np
import pytest
from conftest import MemoryRecord

from dynet.kernels.rng import seed_state
from dynet.models.rbm import driver as M
from dynet.models.rbm import kernels as K
from dynet.scenario import ScenarioError, parse_scenario

# --------------------------------------------------------------------------- brute force over h


def all_states(n):
    """Every binary vector of length n, (2**n, n) float64, unit 0 the lowest bit."""
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.float64)


def logsumexp(a):
    m = a.max()
    return m + math.log(np.exp(a - m).sum())


def hidden_marginal(W, b, c, sigma):
    """(H, p(h), mu(h)): every hidden state, its exact probability and the mean of p(v | h).

    Integrating v out of exp(-E(v, h)) leaves p(h) ~ exp(c.h + sum_i (b_i a_i / sigma_i +
    a_i**2 / 2)) with a = W h (derived in the kernel's docstring; checked against quadrature
    below), and p(v | h) = N(b + sigma a, sigma**2)."""
    H = all_states(len(c))
    A = H @ W.T
    log_p = H @ c + (A * (b / sigma) + A**2 / 2).sum(axis=1)
    p = np.exp(log_p - log_p.max())
    return H, p / p.sum(), b + sigma * A


def tiny_gb(seed=0, nv=3, nh=3, scale=0.7):
    rng = np.random.default_rng(seed)
    W = rng.normal(0, scale, (nv, nh))
    return W, rng.normal(0, 0.5, nv), rng.normal(0, 0.5, nh), rng.uniform(0.6, 1.4, nv)


def work(nv, nh, chains=1):
    """Work arrays of the Gaussian kernels: a_h, p_h, a_v, h_act."""
    return np.empty(nh), np.empty(nh), np.empty(nv), np.empty(nh, np.int64)


# --------------------------------------------------------------------------- formulas


def test_energy_and_free_energy_by_hand():
    W = np.array([[1.0, -2.0], [0.5, 3.0]])
    b = np.array([0.5, -1.0])
    c = np.array([0.25, -0.1])
    sigma = np.array([2.0, 0.5])
    v = np.array([1.5, -0.5])
    h = np.array([1, 1])
    # (v - b) / sigma = (0.5, 1.0): quadratic 0.125 + 0.5; v / sigma = (0.75, -1);
    # (v / sigma)^T W h = 0.75 * (1 - 2) - 1 * (0.5 + 3) = -4.25; c.h = 0.15
    assert M.gb_energy(v, h, W, b, c, sigma)[0] == pytest.approx(0.625 - 0.15 + 4.25, rel=1e-15)
    # F(v) = 0.625 - softplus(0.25 + 0.75 - 0.5) - softplus(-0.1 - 1.5 - 3)
    f = 0.625 - math.log1p(math.exp(0.5)) - math.log1p(math.exp(-4.6))
    assert M.gb_free_energy(v, W, b, c, sigma)[0] == pytest.approx(f, rel=1e-14)
    # F(v) = -log sum_h exp(-E(v, h))
    H = all_states(2)
    e = M.gb_energy(np.repeat(v[None], 4, axis=0), H, W, b, c, sigma)
    assert f == pytest.approx(-logsumexp(-e), rel=1e-14)
    # the kernel on several rows
    X = np.random.default_rng(0).normal(0, 2, (7, 2))
    out = np.empty(7)
    K.gb_free_energies(W, b, c, sigma, X, np.empty(2), out)
    # F sums terms of order 1 to 10 that can cancel (row 2: F = -0.0036): rounding of ~1e-15 absolute
    np.testing.assert_allclose(out, M.gb_free_energy(X, W, b, c, sigma), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("nv", [1, 2])
def test_log_partition_equals_quadrature(nv):
    """log Z = log int sum_h exp(-E(v, h)) dv by the trapezoidal rule on a grid of
    +-12 sigma around every mean b + sigma W h (the integrand is smooth and negligible
    beyond: the rule converges geometrically), against the closed-form sum over h."""
    W, b, c, sigma = tiny_gb(1, nv, 3, scale=1.2)
    log_z = M.gb_log_partition(W, b, c, sigma)
    _, _, mu = hidden_marginal(W, b, c, sigma)
    axes = [
        np.linspace(mu[:, i].min() - 12 * sigma[i], mu[:, i].max() + 12 * sigma[i], 4001 if nv == 1 else 1501)
        for i in range(nv)
    ]
    V = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, nv)
    log_f = -M.gb_free_energy(V, W, b, c, sigma)
    cell = np.prod([a[1] - a[0] for a in axes])
    assert log_z == pytest.approx(logsumexp(log_f) + math.log(cell), abs=1e-10)
    # and the per-h Gaussian integral itself: int exp(-(v-b)^2/(2 s^2) + v a / s) dv
    #   = sqrt(2 pi) s exp(b a / s + a^2 / 2), checked by the same rule in 1-D
    s, bb, a = sigma[0], b[0], 0.8
    g = np.linspace(bb + s * a - 12 * s, bb + s * a + 12 * s, 4001)
    integral = np.exp(-((g - bb) ** 2) / (2 * s * s) + g * a / s).sum() * (g[1] - g[0])
    assert integral == pytest.approx(math.sqrt(2 * math.pi) * s * math.exp(bb * a / s + a * a / 2), rel=1e-12)


def test_log_partition_kernel_matches_the_direct_sum_over_h():
    W, b, c, sigma = tiny_gb(2, 5, 7, scale=1.5)
    H = all_states(7)
    A = H @ W.T
    direct = logsumexp(H @ c + (A * (b / sigma) + A**2 / 2).sum(axis=1)) + np.log(np.sqrt(2 * np.pi) * sigma).sum()
    assert M.gb_log_partition(W, b, c, sigma) == pytest.approx(direct, rel=1e-13)


# --------------------------------------------------------------------------- estimators and sampler


def exact_gradient(W, b, c, sigma, X):
    """The exact mean log-likelihood gradient of rows X (data term - model term) and, per
    negative-phase sample, upper bounds of the variances of the estimator's summands:
    (v_i / sigma_i) q_j(v) has variance <= E[v_i**2 / sigma_i**2] (q in [0, 1]),
    v_i / sigma_i**2 its exact variance, q_j(v) at most 1/4."""
    _, p, mu = hidden_marginal(W, b, c, sigma)
    H = all_states(len(c))
    qd = 1 / (1 + np.exp(-(c + (X / sigma) @ W)))
    model_w = np.einsum("s,si,sj->ij", p, mu / sigma, H)
    model_b = p @ mu / sigma**2
    gW = (X / sigma).T @ qd / len(X) - model_w
    gb = X.mean(axis=0) / sigma**2 - model_b
    gc = qd.mean(axis=0) - p @ H
    second = p @ (sigma**2 + mu**2)  # E[v_i^2]
    var_w = np.repeat((second / sigma**2)[:, None], len(c), axis=1)
    var_b = (second - (p @ mu) ** 2) / sigma**4
    return gW, gb, gc, var_w, var_b


@pytest.mark.parametrize("method", [K.PCD, K.CD])
def test_long_chain_estimators_give_the_exact_log_likelihood_gradient(method):
    """12,000 independent chains of 100 Gibbs steps (PCD from h = 0, CD-100 from the data
    rows) on a 3 x 3 model with moderate weights, which mixes in a few steps: the
    estimator is the exact gradient within 5 standard errors of the negative phase."""
    W, b, c, sigma = tiny_gb(3)
    nv, nh = W.shape
    X = np.random.default_rng(4).normal(0, 1.5, (6, nv))
    n, k = 12_000, 100
    if method == K.PCD:
        rows, chains = np.arange(len(X)), n
    else:
        rows, chains = np.tile(np.arange(len(X)), n // len(X)), 0
    G, gb, gc = np.zeros((nv, nh)), np.zeros(nv), np.zeros(nh)
    K.gb_batch_gradient(
        W,
        np.ascontiguousarray(W.T),
        b,
        c,
        sigma,
        X,
        rows,
        method,
        k,
        np.zeros((chains, nh), np.int64),
        np.zeros(chains, np.int64),
        np.zeros((max(1, chains), nv)),
        seed_state(np.random.SeedSequence(5)),
        G,
        gb,
        gc,
        *work(nv, nh),
    )
    gW, gbe, gce, var_w, var_b = exact_gradient(W, b, c, sigma, X)
    np.testing.assert_array_less(np.abs(G - gW), 5 * np.sqrt(var_w / n))
    np.testing.assert_array_less(np.abs(gb - gbe), 5 * np.sqrt(var_b / n))
    np.testing.assert_array_less(np.abs(gc - gce), 5 * np.sqrt(0.25 / n))


#: chi-square critical value, 7 degrees of freedom, p = 1e-4 (scipy.stats.chi2.ppf(1 - 1e-4, 7)).
CHI2_7_1E4 = 29.8775


def test_gibbs_sampler_has_the_exact_distribution():
    """20,000 chains of 100 steps from standard normal visibles on a 2 x 3 model. The
    stored mean of p(v | h) identifies the last hidden state (the 8 means are distinct),
    whose visit counts must follow the exact p(h) (chi-square, 7 degrees of freedom);
    the first two moments of v must match the exact Gaussian mixture within 5 standard
    errors (variances from its exact 2nd and 4th moments)."""
    W, b, c, sigma = tiny_gb(6, 2, 3, scale=1.0)
    H, p, mu = hidden_marginal(W, b, c, sigma)
    chains = 20_000
    assert (chains * p).min() >= 5
    dist = np.sqrt(((mu[:, None, :] - mu[None, :, :]) ** 2).sum(-1)) + np.eye(8)
    assert dist.min() > 0.05
    v = np.random.default_rng(7).standard_normal((chains, 2))
    out_v = np.empty((1, chains, 2), np.float32)
    out_p = np.empty((1, chains, 2), np.float32)
    got = K.gb_gibbs_chains(
        W,
        np.ascontiguousarray(W.T),
        b,
        c,
        sigma,
        v,
        100,
        100,
        out_v,
        out_p,
        0,
        seed_state(np.random.SeedSequence(8)),
        *work(2, 3),
    )
    assert got == 1
    np.testing.assert_array_equal(out_v[0], v.astype(np.float32))
    d = ((out_p[0][:, None, :] - mu[None, :, :]) ** 2).sum(-1)
    state = d.argmin(axis=1)
    assert d.min(axis=1).max() < 1e-10  # every stored mean is one of the 8 exactly (float32 rounding)
    counts = np.bincount(state, minlength=8)
    assert ((counts - chains * p) ** 2 / (chains * p)).sum() < CHI2_7_1E4
    # power: the counts reject a slightly different model
    _, p2, _ = hidden_marginal(W, b, c + 0.1, sigma)
    assert ((counts - chains * p2) ** 2 / (chains * p2)).sum() > CHI2_7_1E4
    # moments of v: E[v] = sum_h p mu, E[v^2] = sum_h p (mu^2 + s^2), E[v^4] = sum_h p (mu^4 + 6 mu^2 s^2 + 3 s^4)
    m1 = p @ mu
    m2 = p @ (mu**2 + sigma**2)
    m4 = p @ (mu**4 + 6 * mu**2 * sigma**2 + 3 * sigma**4)
    np.testing.assert_array_less(np.abs(v.mean(axis=0) - m1), 5 * np.sqrt((m2 - m1**2) / chains))
    np.testing.assert_array_less(np.abs((v**2).mean(axis=0) - m2), 5 * np.sqrt((m4 - m2**2) / chains))


def test_one_step_is_the_documented_update():
    """A one-batch epoch of GaussianTrainer is lr * (the estimator - weight_decay W) plus
    momentum times the previous step, from the same random stream."""
    rng = np.random.default_rng(13)
    X = rng.normal(0, 1, (8, 5))
    W, b, c = rng.normal(0, 0.3, (5, 4)), rng.normal(0, 0.3, 5), rng.normal(0, 0.3, 4)
    sigma = np.array([1.0, 0.5, 2.0, 1.0, 1.5])
    lr, mom, wd = 0.05, 0.6, 0.01
    t = M.GaussianTrainer(
        X,
        W,
        b,
        c,
        sigma=sigma,
        method="pcd",
        k=2,
        batch_size=8,
        momentum=mom,
        weight_decay=wd,
        shuffle=False,
        rng_state=seed_state(np.random.SeedSequence(14)),
    )
    prev = (0.0, 0.0, 0.0)
    for _ in range(2):
        G, gb, gc = np.zeros((5, 4)), np.zeros(5), np.zeros(4)
        state = t.rng_state.copy()
        K.gb_batch_gradient(
            t.W.copy(),
            t.WT.copy(),
            t.b.copy(),
            t.c.copy(),
            sigma,
            X,
            np.arange(8),
            K.PCD,
            2,
            t.chain_act.copy(),
            t.chain_n.copy(),
            t.chains_v.copy(),
            state,
            G,
            gb,
            gc,
            *work(5, 4),
        )
        d = tuple(mom * p + lr * g for p, g in zip(prev, (G - wd * t.W, gb, gc)))
        before = (t.W.copy(), t.b.copy(), t.c.copy())
        t.epoch(np.array([lr]))
        for got, was, di in zip((t.W, t.b, t.c), before, d):
            np.testing.assert_allclose(got, was + di, rtol=1e-13, atol=1e-15)
        np.testing.assert_array_equal(t.rng_state, state)
        np.testing.assert_array_equal(t.WT, t.W.T)
        prev = d


# --------------------------------------------------------------------------- runs


def gb_doc(**over):
    doc = {
        "name": "g",
        "model": "rbm",
        "seed": 11,
        "data": {"source": "iris", "validation": 0.2},
        "network": {"n_hidden": 6, "visible": "gaussian"},
        "training": {"method": "cd", "k": 1, "epochs": 40, "batch_size": 10, "lr": 0.05, "momentum": 0.5},
        "sampling": {"chains": 3, "steps": 50, "every": 10},
        "record": {"every": 10, "ais_runs": 100, "ais_betas": 1000},
    }
    for k, v in over.items():
        doc[k] = v if k == "data" else {**doc.get(k, {}), **v}
    return doc


def test_a_gaussian_run_learns_iris_and_is_reproducible():
    a, b = MemoryRecord(), MemoryRecord()
    spec = parse_scenario(gb_doc()).runs[0]
    metrics = M.run(spec, a)
    assert M.run(parse_scenario(gb_doc()).runs[0], b) == metrics
    for k in a.columns:
        np.testing.assert_array_equal(a.col(k), b.col(k))
    assert a.col("epoch").tolist() == [0, 10, 20, 30, 40]
    mse, ll = a.col("train_recon_error"), a.col("train_log_likelihood")
    assert mse[-1] < 0.7 * mse[0] and ll[-1] > ll[0] + 0.4
    assert np.isnan(a.col("val_pseudo_likelihood")).all()
    # the recorded exact log-likelihood is -F - log Z of the stored parameters on the standardized rows
    W, bias, c = a.static_arrays["weights"], a.static_arrays["visible_bias"], a.static_arrays["hidden_bias"]
    sigma, shift, scale = (a.static_arrays[k] for k in ("visible_sigma", "data_shift", "data_scale"))
    from dynet import data

    x = data.load_iris()[0]
    val = a.static_arrays["validation_index"]
    train = np.setdiff1d(np.arange(150), val)
    np.testing.assert_allclose(shift, x[train].mean(axis=0), rtol=1e-12)
    z = (x - shift) / scale
    # W ~ N(0, 0.01^2) and b = 0 at the start: the reconstruction is about 0, its MSE the mean square
    assert a.col("val_recon_error")[0] == pytest.approx((z[val] ** 2).mean(), abs=0.02)
    log_z = M.gb_log_partition(W, bias, c, sigma)
    assert a.col("log_z")[-1] == pytest.approx(log_z, rel=1e-12)
    assert ll[-1] == pytest.approx(-M.gb_free_energy(z[train], W, bias, c, sigma).mean() - log_z, rel=1e-10)
    assert a.col("val_log_likelihood")[-1] == pytest.approx(
        -M.gb_free_energy(z[val], W, bias, c, sigma).mean() - log_z, rel=1e-10
    )
    # AIS only at the end (ais_every = 0), within 3 standard errors of the exact log Z
    ais, se = a.col("log_z_ais"), a.col("log_z_ais_se")
    assert np.isnan(ais[:-1]).all() and abs(ais[-1] - log_z) < 3 * se[-1] and se[-1] < 0.05
    assert a.col("train_log_likelihood_ais")[-1] == pytest.approx(ll[-1] + log_z - ais[-1], rel=1e-10)
    # samples in data units (float32), 3 chains x 5 records
    s = a.col("samples")
    assert s.dtype == np.float32 and s.shape == (15, 4)
    assert metrics["log_z_ais"] == ais[-1] and metrics["exact_log_likelihood"] is True


def test_gaussian_pcd_run_on_digits_without_exact_log_z():
    """Pixel intensities (not binarized), 24 hidden units > exact_max: no exact log Z;
    PCD with sparsity and snapshots runs, its reconstruction error falls."""
    rec = MemoryRecord()
    doc = gb_doc(
        data={"source": "digits", "validation": 0.1},
        network={"n_hidden": 24},
        training={"method": "pcd", "epochs": 3, "lr": 0.001, "weight_decay": 1e-4},
        sparsity={"target": 0.1, "cost": 0.1},
        record={"every": 1, "exact_max": 16, "ais_runs": 0, "snapshot_every": 3},
    )
    metrics = M.run(parse_scenario(doc).runs[0], rec)
    mse = rec.col("train_recon_error")
    assert mse[-1] < mse[0] and np.isnan(rec.col("log_z")).all() and metrics["log_z"] is None
    assert np.isfinite(rec.col("free_energy_gap")).all() and rec.static_arrays["image_shape"].tolist() == [8, 8]
    # constant pixels (always 0 in the training rows) keep scale 1
    x = rec.static_arrays["data_scale"]
    assert (x[rec.static_arrays["data_shift"] == 0] == 1).all()


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "over,message",
    [
        (
            {"data": {"source": "digits", "threshold": 0.5}},
            "data.threshold: binarization does not apply to real-valued visible units",
        ),
        ({"network": {"visible": "bernoulli"}}, "data.source: 'iris' is real-valued; set network.visible = 'gaussian'"),
        (
            {"network": {"visible": "bernoulli"}, "data": {"source": "digits", "standardize": "none"}},
            "data.standardize: applies to real-valued visible units only",
        ),
        (
            {"network": {"visible": "bernoulli", "sigma": 1.0}, "data": {"source": "digits"}},
            "network.sigma: applies to network.visible = 'gaussian' only",
        ),
        ({"network": {"sigma": 0.0}}, "network.sigma: every standard deviation must be finite and > 0"),
        ({"network": {"sigma": [1.0, -1.0, 1.0, 1.0]}}, "network.sigma: every standard deviation"),
        ({"network": {"visible": "gauss"}}, "network.visible: input should be 'bernoulli' or 'gaussian'"),
        ({"record": {"ais_runs": 0, "ais_every": 5}}, "record.ais_every: needs record.ais_runs > 0"),
        ({"record": {"ais_every": 15}}, "record.ais_every: 15 is not a multiple of record.every 10"),
        ({"record": {"ais_ladder": "log"}}, "record.ais_ladder: input should be 'linear' or 'geometric'"),
        ({"record": {"ais_betas": 0}}, "record.ais_betas: input should be greater than or equal to 1"),
    ],
)
def test_bad_settings_are_rejected_in_one_line(over, message):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(gb_doc(**over), "g.toml")
    lines = info.value.lines
    assert len(lines) == 1 and lines[0].startswith("g.toml: ") and message in lines[0], lines


def test_resolved_config_and_preflight(tmp_path):
    cfg = parse_scenario(gb_doc(data={"source": "digits"})).runs[0].config
    assert cfg["data"]["threshold"] is None and cfg["data"]["standardize"] == "unit" and cfg["network"]["sigma"] == 1.0
    assert M.preflight(cfg, str(tmp_path)) == []

    def problems(data, network=None):
        return M.preflight(parse_scenario(gb_doc(data=data, network=network or {})).runs[0].config, str(tmp_path))

    assert "3 standard deviations for 4 visible units" in problems({"source": "iris"}, {"sigma": [1.0, 1.0, 2.0]})[0]
    np.save(tmp_path / "real.npy", np.random.default_rng(0).normal(size=(40, 3)))
    assert problems({"source": "file", "path": "real.npy"}) == []
    bad = np.ones((40, 3))
    bad[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    assert "NaN or infinite" in problems({"source": "file", "path": "nan.npy"})[0]
    # a real-valued file is refused by a Bernoulli RBM without a threshold, as before
    doc = gb_doc(data={"source": "file", "path": "real.npy"}, network={"visible": "bernoulli"})
    assert "must be 0 or 1" in M.preflight(parse_scenario(doc).runs[0].config, str(tmp_path))[0]
