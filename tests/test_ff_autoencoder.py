"""Autoencoders (``network.kind = "autoencoder"``): shape, targets, metric, training, records.

* The mirrored layer sizes, targets = inputs, labels unused, the bottleneck layer.
* The reconstruction R^2 of the Evaluator against numpy (a float64 forward pass of the
  same parameters), for MSE and for BCE (where the reconstruction is sigmoid(logits)).
* A linear autoencoder with a bottleneck of 1 on 3-d data: its R^2 can never exceed the
  share of variance of the first principal component, lambda_1 / (lambda_1 + lambda_2 +
  lambda_3) (Eckart-Young: the best rank-1 affine reconstruction), and training takes
  it to within 1e-3 of that bound; with a bottleneck of 3 it reaches R^2 = 1.
* The stored codes, labels and encoder/decoder attributes in a real store; validation.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_feedforward import runs_of, scenario, validation_lines

from dynet import api
from dynet import store as S
from dynet.models.feedforward import driver as F

BLOBS = {"source": "blobs", "n_samples": 120, "n_classes": 3, "n_features": 6}


def test_layers_mirror_the_encoder_and_targets_are_the_inputs():
    (a,) = runs_of(scenario(data=BLOBS, network={"kind": "autoencoder", "hidden": [5, 3]}))
    (b,) = runs_of(scenario(data=BLOBS, network={"kind": "autoencoder", "hidden": [5], "bottleneck": 3}))
    for spec in (a, b):
        st = F.setup(spec.settings, spec.seed_sequence())
        assert st.sizes == [6, 5, 3, 5, 6] and st.code_layer == 1
        assert st.task == F.RECONSTRUCTION and st.loss == "mse" and st.n_out == 6
        for x, y, lab in st.splits.values():
            np.testing.assert_array_equal(y, x)  # the targets are the (standardized) inputs
            assert lab.shape == (0,)
        assert len(st.labels["train"]) == len(st.splits["train"][0])  # kept for the stored codes only


def numpy_forward(params, st, x):
    """Float64 forward pass (ELU hidden layers, alpha 1) of st's network; returns (logits, hidden outputs)."""
    a, hidden = x.astype(np.float64), []
    p = params.astype(np.float64)
    for l, (n_in, n_out, w, b, _) in enumerate(st.layout):
        z = a @ p[w : w + n_in * n_out].reshape(n_in, n_out) + p[b : b + n_out]
        if l == len(st.layout) - 1:
            return z, hidden
        a = np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
        hidden.append(a)


@pytest.mark.parametrize("loss", ["mse", "bce_with_logits"])
def test_reconstruction_r2_against_numpy(loss):
    data = {"source": "digits", "standardize": loss == "mse", "scale": 1 / 16, "validation": 0.1}
    (spec,) = runs_of(
        scenario(data=data, network={"kind": "autoencoder", "hidden": [12, 4], "activation": "elu", "loss": loss})
    )
    st = F.setup(spec.settings, spec.seed_sequence())
    x, y, lab = st.splits["validation"]
    ev = F.Evaluator(st, x, y, lab, 64)
    res = ev(st.params)
    logits, _ = numpy_forward(st.params, st, x)
    rec = logits if loss == "mse" else 1 / (1 + np.exp(-logits))
    y64 = y.astype(np.float64)
    r2 = 1 - ((y64 - rec) ** 2).sum() / ((y64 - y64.mean(axis=0)) ** 2).sum()
    # float32 logits (sums of <= 64 O(1) products, relative error ~1e-6) against float64
    assert res["metric"] == pytest.approx(r2, rel=1e-4, abs=1e-5)
    assert res["metric"] < 0.5  # untrained: a poor reconstruction, so the check is not vacuous


def test_linear_autoencoder_reaches_the_principal_component_bound(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3)) * [3.0, 1.5, 0.5] @ np.linalg.qr(rng.normal(size=(3, 3)))[0]
    np.savez(tmp_path / "d.npz", x=x, y=np.zeros(300, np.int64))
    results = {}
    for k in (1, 3):
        path = tmp_path / f"ae{k}.toml"
        path.write_text(f"""
name = "lin-ae"
model = "feedforward"
seed = 5
[data]
source = "file"
path = "d.npz"
validation = 0.0
standardize = false
[network]
kind = "autoencoder"
bottleneck = {k}
activation = "identity"
[optimizer]
name = "adam"
lr = 0.01
[training]
epochs = 150
batch_size = 30
""")
        (spec,) = api.validate(path).runs
        st = F.setup(spec.settings, spec.seed_sequence(), spec.base_dir)
        results[k] = F.train(spec.settings, st, st.rng_state)["train_metric"]
        xt = st.splits["train"][0].astype(np.float64)
    lam = np.linalg.eigvalsh(np.cov(xt.T))[::-1]
    bound = lam[0] / lam.sum()
    assert 0.7 < bound < 0.9  # a bound that leaves room on both sides
    # the bound holds exactly in exact arithmetic; float32 evaluation adds ~1e-6
    assert results[1] <= bound + 1e-5
    assert results[1] > bound - 1e-3  # and training reaches it
    assert results[3] > 1 - 1e-4  # a full-width linear autoencoder reconstructs exactly


def test_run_stores_codes_labels_and_encoder_parts(tmp_path):
    (spec,) = runs_of(
        scenario(
            data={"source": "digits", "validation": 0.2},
            network={"kind": "autoencoder", "hidden": [16], "bottleneck": 4, "activation": "elu"},
            optimizer={"name": "adam", "lr": 0.003},
            training={"epochs": 3, "batch_size": 64},
        )
    )
    path = tmp_path / "ae.zarr"
    S.open_store(path, create=True)
    result = api.execute_run(str(path), spec)
    assert result["status"] == "complete", result["error"]
    assert result["metrics"]["metric"] == "r2" and result["metrics"]["task"] == "reconstruction"
    arrays = api.load_run(path, spec.run_id)
    group = S.open_store(path)[S.run_path(spec.run_id)]
    assert [group[f"weight_{l}"].attrs["part"] for l in range(4)] == ["encoder", "encoder", "decoder", "decoder"]
    assert tuple(group["val_code"].metadata.dimension_names) == ("val_sample", "code")
    st = F.setup(spec.settings, spec.seed_sequence())
    x_val = st.splits["validation"][0]
    assert arrays["val_code"].shape == (len(x_val), 4)
    np.testing.assert_array_equal(arrays["val_label"], st.labels["validation"])
    # the codes are the bottleneck outputs of the stored (final) weights
    params = np.concatenate([np.r_[arrays[f"weight_{l}"].ravel(), arrays[f"bias_{l}"]] for l in range(4)])
    _, hidden = numpy_forward(params, st, x_val)
    np.testing.assert_allclose(arrays["val_code"], hidden[1], rtol=1e-4, atol=1e-5)  # float32 vs float64


@pytest.mark.parametrize(
    "body,key,words",
    [
        (
            '[data]\nsource = "iris"\n[network]\nkind = "autoencoder"\nhidden = [3]\nloss = "cross_entropy"\n',
            "network.loss",
            ["'mse' or 'bce_with_logits'"],
        ),
        (
            '[data]\nsource = "iris"\n[network]\nkind = "autoencoder"\nhidden = [3]\nloss = "bce_with_logits"\n',
            "network.loss",
            ["data.standardize = false"],
        ),
        (
            '[data]\nsource = "iris"\nstandardize = false\n[network]\nkind = "autoencoder"\nhidden = [3]\n'
            'loss = "bce_with_logits"\n',
            "network.loss",
            ["[0, 1]", "data.scale"],
        ),
        ('[data]\nsource = "iris"\n[network]\nkind = "autoencoder"\n', "network.hidden", ["bottleneck"]),
        (
            '[data]\nsource = "iris"\n[network]\nhidden = [3]\nbottleneck = 2\n',
            "network.bottleneck",
            ["only an autoencoder"],
        ),
        (
            '[data]\nsource = "iris"\n[network]\nkind = "autoencoder"\nhidden = [3, 2]\n[regularization]\n'
            "dropout = [0.1, 0.1]\n",
            "regularization.dropout",
            ["2 values for 3 hidden layers"],
        ),
    ],
    ids=[
        "classification-loss",
        "bce-standardized",
        "bce-out-of-range",
        "no-encoder",
        "bottleneck-on-mlp",
        "per-layer-list",
    ],
)
def test_autoencoder_validation(tmp_path, body, key, words):
    msg = validation_lines(tmp_path, body)
    assert msg.startswith(key + ": "), msg
    for w in words:
        assert w in msg, (w, msg)
