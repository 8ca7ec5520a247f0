"""Batch normalization inside feedforward networks (Linear -> BN -> activation).

* Gradients of the whole network with batch norm (float64 kernels) against central
  finite differences of the training-mode loss, gamma and beta included; the bias of a
  normalized layer has gradient exactly 0 (the batch mean cancels it).
* The running statistics after a training-mode pass, and an evaluation-mode pass, against
  numpy written from PyTorch's documented formulas (biased variance to normalize, unbiased
  in the running variance, momentum 0.1, eps 1e-5).
* PyTorch itself (skipped when torch is not installed): loss, every gradient, running
  statistics and evaluation outputs of the same float64 network.
* The driver: parameter layout, a normalized layer's bias never moving under Adam,
  early stopping restoring the running statistics with the weights, the stored arrays,
  and validation errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MemoryRecord
from peers import require
from test_feedforward import Net, check_gradients, runs_of, scenario, validation_lines

from dynet.kernels.rng import seed_state
from dynet.models.feedforward import driver as F
from dynet.train import losses as L

EPS = 1e-5


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize(
    "sizes,act,loss,bn,drop,seed",
    [
        ([3, 5, 4, 3], "tanh", "cross_entropy", True, None, 31),
        ([3, 5, 4, 2], "elu", "mse", [True, False], None, 31),
        ([4, 6, 5, 1], "relu", "bce_with_logits", [False, True], None, 32),  # 31 puts a unit within 1e-3 of 0
        ([3, 6, 4, 3], "sigmoid", "cross_entropy", True, 0.3, 31),
    ],
)
def test_gradients_with_batch_norm_match_finite_differences(sizes, act, loss, bn, drop, seed):
    # check_gradients: float64, h = 1e-5, rtol 1e-6 / atol 1e-8 (derived in test_feedforward);
    # batch norm is smooth in its input for var >> eps (here var ~ 1), so the same bound holds
    params, grads, _, net = check_gradients(sizes, act, loss, seed=seed, rows=7, bn=bn, drop=drop)
    n_hidden = len(sizes) - 2
    flags = F.per_hidden(bn, n_hidden)
    for l in range(n_hidden):
        n_out = sizes[l + 1]
        b = net.layout[l, 3]
        if flags[l]:
            assert np.all(grads[b : b + n_out] == 0.0)  # written as exactly 0
            g = net.bn[l, 0]
            assert np.abs(grads[g : g + 2 * n_out]).max() > 1e-3  # gamma and beta do get gradients
        else:
            assert net.bn[l, 0] == -1 and np.abs(grads[b : b + n_out]).max() > 1e-4
    assert len(params) == F.n_params(net.layout) + 2 * sum(n for n, f in zip(sizes[1:-1], flags) if f)


# --------------------------------------------------------------------------- statistics


def numpy_bn_forward(params, net, x, training, rm=None, rv=None):
    """PyTorch's BatchNorm1d written out in float64 numpy for a tanh network; returns (logits, zs)."""
    a = x
    pre = []
    L_ = len(net.layout)
    for l, (n_in, n_out, w, b, _) in enumerate(net.layout):
        z = a @ params[w : w + n_in * n_out].reshape(n_in, n_out) + params[b : b + n_out]
        if l == L_ - 1:
            return z, pre
        pre.append(z)
        if net.bn[l, 0] >= 0:
            g, s = net.bn[l]
            gamma, beta = params[g : g + n_out], params[g + n_out : g + 2 * n_out]
            if training:
                mu, var = z.mean(axis=0), z.var(axis=0)  # biased
            else:
                mu, var = rm[s : s + n_out], rv[s : s + n_out]
            z = gamma * (z - mu) / np.sqrt(var + EPS) + beta
        a = np.tanh(z)


def test_running_statistics_and_evaluation_mode():
    sizes, rows = [4, 6, 5, 3], 9
    net = Net(sizes, rows, "tanh", bn=True)
    rng = np.random.default_rng(3)
    x = rng.normal(1.0, 2.0, size=(rows, 4))
    params = rng.normal(0.0, 0.8, net.n_params)
    state = seed_state(np.random.SeedSequence(1))
    copy = state.copy()

    out = net.forward(params, x, state).copy()
    ref_out, pre = numpy_bn_forward(params, net, x, True)
    # float64 kernels vs float64 numpy of the same formulas, O(1) values: 1e-12 is ~1000 ulps
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    for l, z in enumerate(pre):
        s, n = net.bn[l, 1], sizes[l + 1]
        np.testing.assert_allclose(net.bn_mean[s : s + n], 0.1 * z.mean(axis=0), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(net.bn_var[s : s + n], 0.9 + 0.1 * z.var(axis=0, ddof=1), rtol=1e-12)
    # a second batch: the exponential moving average with momentum 0.1
    x2 = rng.normal(-1.0, 0.5, size=(rows, 4))
    rm1, rv1 = net.bn_mean.copy(), net.bn_var.copy()
    net.forward(params, x2, state)
    _, pre2 = numpy_bn_forward(params, net, x2, True)
    for l, z in enumerate(pre2):
        s, n = net.bn[l, 1], sizes[l + 1]
        np.testing.assert_allclose(net.bn_mean[s : s + n], 0.9 * rm1[s : s + n] + 0.1 * z.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(
            net.bn_var[s : s + n], 0.9 * rv1[s : s + n] + 0.1 * z.var(axis=0, ddof=1), rtol=1e-12
        )
    np.testing.assert_array_equal(state, copy)  # batch norm draws nothing

    # evaluation: the running statistics, left unchanged
    rm, rv = net.bn_mean.copy(), net.bn_var.copy()
    ev = net.forward(params, x, state, training=False).copy()
    np.testing.assert_array_equal(net.bn_mean, rm)
    np.testing.assert_array_equal(net.bn_var, rv)
    ref_ev, _ = numpy_bn_forward(params, net, x, False, rm, rv)
    np.testing.assert_allclose(ev, ref_ev, rtol=1e-12, atol=1e-12)
    assert np.abs(ev - out).max() > 0.1  # not the batch statistics


# --------------------------------------------------------------------------- PyTorch


def test_network_with_batch_norm_against_torch():
    torch = require("torch")
    sizes, rows = [4, 6, 5, 3], 8
    net = Net(sizes, rows, "tanh", bn=[True, True])
    rng = np.random.default_rng(8)
    x = rng.normal(size=(rows, 4))
    labels = rng.integers(0, 3, rows).astype(np.int64)
    params = rng.normal(0.0, 0.8, net.n_params)

    layers = []
    for l, (n_in, n_out, w, b, _) in enumerate(net.layout):
        lin = torch.nn.Linear(int(n_in), int(n_out)).double()
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(params[w : w + n_in * n_out].reshape(n_in, n_out).T))
            lin.bias.copy_(torch.tensor(params[b : b + n_out]))
        layers.append(lin)
        if l < len(net.layout) - 1:
            bn = torch.nn.BatchNorm1d(int(n_out), momentum=0.1, eps=EPS).double()
            g = net.bn[l, 0]
            with torch.no_grad():
                bn.weight.copy_(torch.tensor(params[g : g + n_out]))
                bn.bias.copy_(torch.tensor(params[g + n_out : g + 2 * n_out]))
            layers += [bn, torch.nn.Tanh()]
    model = torch.nn.Sequential(*layers).train()
    t_loss = torch.nn.functional.cross_entropy(model(torch.tensor(x)), torch.tensor(labels))
    t_loss.backward()

    loss = net.loss(
        params, x, L.LOSS_CODES["cross_entropy"], np.zeros((0, 0)), labels, seed_state(np.random.SeedSequence(0))
    )
    grads = net.backward(params, x)
    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    lin = [m for m in model if isinstance(m, torch.nn.Linear)]
    bns = [m for m in model if isinstance(m, torch.nn.BatchNorm1d)]
    for l, (n_in, n_out, w, b, _) in enumerate(net.layout):
        np.testing.assert_allclose(
            grads[w : w + n_in * n_out].reshape(n_in, n_out), lin[l].weight.grad.numpy().T, rtol=1e-10, atol=1e-12
        )
        if l < len(bns):
            g, s = net.bn[l]
            # PyTorch's bias gradient before batch norm is round-off around 0; dynet's is exactly 0
            np.testing.assert_allclose(lin[l].bias.grad.numpy(), 0.0, atol=1e-12)
            np.testing.assert_allclose(grads[g : g + n_out], bns[l].weight.grad.numpy(), rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(
                grads[g + n_out : g + 2 * n_out], bns[l].bias.grad.numpy(), rtol=1e-10, atol=1e-12
            )
        else:
            np.testing.assert_allclose(grads[b : b + n_out], lin[l].bias.grad.numpy(), rtol=1e-10, atol=1e-12)

    # running statistics after exactly one training pass each, then evaluation mode
    fresh = Net(sizes, rows, "tanh", bn=[True, True])
    fresh.forward(params, x, seed_state(np.random.SeedSequence(0)))
    for l, bn in enumerate(bns):
        s, n = fresh.bn[l, 1], sizes[l + 1]
        np.testing.assert_allclose(fresh.bn_mean[s : s + n], bn.running_mean.numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(fresh.bn_var[s : s + n], bn.running_var.numpy(), rtol=1e-12)
    ev = fresh.forward(params, x, seed_state(np.random.SeedSequence(0)), training=False)
    with torch.no_grad():
        t_ev = model.eval()(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ev, t_ev, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- the driver

DIGITS_BN = dict(
    data={"source": "digits", "validation": 0.5},
    network={"hidden": [16, 12], "activation": "relu"},
    optimizer={"name": "adam", "lr": 0.01},
    training={"epochs": 4, "batch_size": 64},
    regularization={"batch_norm": [True, False]},
)


def test_setup_places_gamma_and_beta_after_the_dense_parameters():
    (spec,) = runs_of(scenario(**DIGITS_BN))
    st = F.setup(spec.settings, spec.seed_sequence())
    dense = F.n_params(st.layout)
    assert st.sizes == [64, 16, 12, 10]
    np.testing.assert_array_equal(st.bn, [[dense, 0], [-1, -1], [-1, -1]])
    assert len(st.params) == dense + 2 * 16 and st.params.dtype == np.float32
    np.testing.assert_array_equal(st.params[dense : dense + 16], 1.0)  # gamma
    np.testing.assert_array_equal(st.params[dense + 16 :], 0.0)  # beta
    np.testing.assert_array_equal(st.bn_mean, np.zeros(16, np.float32))
    np.testing.assert_array_equal(st.bn_var, np.ones(16, np.float32))
    # the dense parameters are those of the same network without batch norm from the same seed
    (plain,) = runs_of(scenario(**{**DIGITS_BN, "regularization": {}}))
    np.testing.assert_array_equal(F.setup(plain.settings, spec.seed_sequence()).params, st.params[:dense])


def test_training_with_batch_norm_moves_gamma_beta_and_statistics_but_not_the_cancelled_bias():
    (spec,) = runs_of(scenario(**DIGITS_BN))
    st = F.setup(spec.settings, spec.seed_sequence())
    p0 = st.params.copy()
    m = F.train(spec.settings, st, st.rng_state)
    b0 = st.layout[0, 3]
    # Adam on a gradient of exactly 0: m = v = 0, the update 0 * lr / (0 + eps) = 0
    np.testing.assert_array_equal(st.params[b0 : b0 + 16], p0[b0 : b0 + 16])
    dense = F.n_params(st.layout)
    assert np.abs(st.params[dense:] - p0[dense:]).min() > 0  # every gamma and beta moved
    assert np.abs(st.bn_mean).min() > 0 and not np.allclose(st.bn_var, 1.0)
    assert m["val_metric"] > 0.8  # 4 epochs on 900 digits: it learns
    # same seed, same bits
    again = F.setup(spec.settings, spec.seed_sequence())
    F.train(spec.settings, again, again.rng_state)
    np.testing.assert_array_equal(again.params, st.params)
    np.testing.assert_array_equal(again.bn_var, st.bn_var)


def test_restored_best_epoch_comes_with_its_running_statistics():
    doc = scenario(
        **{
            **DIGITS_BN,
            "training": {"epochs": 8, "batch_size": 32},
            "optimizer": {"name": "sgd", "lr": 0.5, "momentum": 0.9},
        },
        early_stopping={"patience": 100, "restore_best": True},
    )
    (spec,) = runs_of(doc)
    st = F.setup(spec.settings, spec.seed_sequence())
    m = F.train(spec.settings, st, st.rng_state)
    assert m["restored_best"] and m["best_epoch"] < m["epochs_run"]  # (lr 0.5: the loss jumps about)
    # the validation loss of the restored network is the best one, bit for bit: with the final
    # running statistics instead, it would differ
    assert m["val_loss"] == m["best_val_loss"]
    final_mean, final_var = st.last_running
    assert not np.array_equal(final_mean, st.bn_mean)


def test_run_stores_batch_norm_arrays():
    (spec,) = runs_of(scenario(**{**DIGITS_BN, "training": {"epochs": 2, "batch_size": 64}}))
    rec = MemoryRecord()
    F.run(spec, rec)
    st = F.setup(spec.settings, spec.seed_sequence())
    arrays = rec.static_arrays
    assert {"bn_gamma_0", "bn_beta_0", "bn_running_mean_0", "bn_running_var_0"} <= set(arrays)
    assert "bn_gamma_1" not in arrays
    np.testing.assert_array_equal(arrays["initial_bn_gamma_0"], np.ones(16))
    np.testing.assert_array_equal(arrays["initial_bn_running_var_0"], np.ones(16))
    F.train(spec.settings, st, st.rng_state)
    dense = F.n_params(st.layout)
    np.testing.assert_array_equal(arrays["bn_gamma_0"], st.params[dense : dense + 16])
    np.testing.assert_array_equal(arrays["bn_beta_0"], st.params[dense + 16 :])
    np.testing.assert_array_equal(arrays["bn_running_mean_0"], st.bn_mean)
    np.testing.assert_array_equal(arrays["bn_running_var_0"], st.bn_var)


@pytest.mark.parametrize(
    "body,key,words",
    [
        (
            '[data]\nsource = "xor"\n[network]\nhidden = [4, 4]\n[regularization]\nbatch_norm = [true]\n',
            "regularization.batch_norm",
            ["1 values", "2 hidden layers"],
        ),
        (
            '[data]\nsource = "xor"\n[network]\nhidden = [4]\n[training]\nbatch_size = 1\n[regularization]\n'
            "batch_norm = true\n",
            "training.batch_size",
            ["at least 2 rows"],
        ),
        (
            '[data]\nsource = "xor"\n[network]\nkind = "logistic"\n[regularization]\nbatch_norm = true\n',
            "regularization.batch_norm",
            ["no hidden layer"],
        ),
        (
            '[data]\nsource = "xor"\n[network]\nhidden = [4]\n[regularization]\nbatch_norm = true\n'
            "batch_norm_momentum = 1.5\n",
            "regularization.batch_norm_momentum",
            ["less than or equal to 1"],
        ),
        # 150 iris rows, 20% validation: 120 training rows in batches of 7 leave a last batch of 1
        (
            '[data]\nsource = "iris"\n[network]\nhidden = [4]\n[training]\nbatch_size = 7\n[regularization]\n'
            "batch_norm = true\n",
            "regularization.batch_norm",
            ["batch of 1 row", "120 training samples"],
        ),
    ],
    ids=["list-length", "batch-1", "no-hidden-layer", "momentum-range", "last-batch-of-1"],
)
def test_batch_norm_validation(tmp_path, body, key, words):
    msg = validation_lines(tmp_path, body)
    assert msg.startswith(key + ": "), msg
    for w in words:
        assert w in msg, (w, msg)
