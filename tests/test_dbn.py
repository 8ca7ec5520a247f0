"""Deep belief networks: the layer-wise stacking (each RBM trains on the one below's
representation of the training split only), the exact transfer of the RBMs into the
classifier (its first forward pass computed by hand), pretrain = false is the plain
feedforward run, determinism, validation, and a run through the store."""

import dataclasses

import numpy as np
import pytest
from conftest import MemoryRecord

from dynet import api
from dynet import data as D
from dynet import store as S
from dynet.models.dbn import driver as dbn
from dynet.models.feedforward import driver as F
from dynet.models.rbm import driver as rbm
from dynet.scenario import ScenarioError, parse_scenario

# 360 training digits (0.3 validation, 0.5 test), a 64-16-8-10 network, a few epochs of each stage
SMALL = {
    "name": "dbn-t",
    "model": "dbn",
    "seed": 11,
    "data": {"source": "digits", "validation": 0.3, "test": 0.5},
    "network": {"hidden": [16, 8]},
    "pretraining": {"epochs": 2, "lr": 0.05, "momentum": 0.5, "visible_bias": "data"},
    "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
    "training": {"epochs": 3, "batch_size": 32},
    "regularization": {"dropout": 0.1},
    "early_stopping": {"patience": 5},
}


def spec_of(**changes):
    return parse_scenario({**SMALL, **changes}, "<test>").runs[0]


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def run(spec):
    rec = MemoryRecord()
    metrics = dbn.run(spec, rec)
    return metrics, rec


@pytest.fixture(scope="module")
def runs():
    """The small scenario with and without pretraining (same seed), and the pretrained one again."""
    spec = spec_of()
    return {"spec": spec, "pre": run(spec), "again": run(spec), "plain": run(spec_of(pretrain=False))}


# --------------------------------------------------------------------------- pretraining


def test_each_rbm_trains_on_fresh_samples_of_the_representation_below(monkeypatch):
    """RBM 0 sees Bernoulli(pixel / 16) samples of the training rows, RBM 1 samples of
    sigmoid(P0 W0 + c0) of the same rows -- drawn from the documented stream every epoch --
    and the validation rows change nothing but the evaluation."""
    seen = []

    class Spy(rbm.Trainer):
        def epoch(self, lrs):
            idx, ptr = rbm.to_csr(self.data)  # the rows the kernel trains on are self.data
            np.testing.assert_array_equal(self.idx, idx)
            np.testing.assert_array_equal(self.ptr, ptr)
            seen.append((self.W.shape, self.data.copy()))
            super().epoch(lrs)

    monkeypatch.setattr(rbm, "Trainer", Spy)
    rng = np.random.default_rng(0)
    x_tr = rng.integers(0, 17, (30, 12)) / 16.0
    x_va = rng.integers(0, 17, (7, 12)) / 16.0
    cfg = (
        parse_scenario(
            {**SMALL, "network": {"hidden": [6, 4]}, "pretraining": {"epochs": 3, "batch_size": 5}}, "<test>"
        )
        .runs[0]
        .settings
    )
    ss = np.random.SeedSequence(5)
    rows = []
    layers = dbn.pretrain(x_tr, x_va, cfg, ss, on_epoch=lambda **c: rows.append(c))
    assert [(l.W.shape, l.b.shape, l.c.shape) for l in layers] == [((12, 6), (12,), (6,)), ((6, 4), (6,), (4,))]
    assert [s for s, _ in seen] == [(12, 6)] * 3 + [(6, 4)] * 3

    # the documented streams: child l of the run's seed, its child 2 draws the rows of every epoch
    p1 = sigmoid(x_tr @ layers[0].W + layers[0].c)
    for l, p in enumerate([x_tr, p1]):
        draw = np.random.default_rng(np.random.SeedSequence(5).spawn(2)[l].spawn(4)[2])
        for e in range(3):
            expected = (draw.random(p.shape) < p).astype(np.uint8)
            np.testing.assert_array_equal(seen[3 * l + e][1], expected, err_msg=f"layer {l} epoch {e + 1}")
    assert not np.array_equal(seen[3][1], seen[4][1])  # fresh samples every epoch

    # one trajectory row per layer and epoch (0 = the initialization)
    col = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    assert col["pretrain_layer"].tolist() == [0] * 4 + [1] * 4
    assert col["pretrain_epoch"].tolist() == [0, 1, 2, 3] * 2
    assert set(col) == {"pretrain_layer", "pretrain_epoch", *(f"pretrain_{c}" for c in dbn.PRETRAIN_COLUMNS)}
    assert np.isfinite(col["pretrain_val_recon_error"]).all()

    # other validation rows: the same RBMs bit for bit
    seen.clear()
    other = dbn.pretrain(x_tr, x_va[::-1][:5], cfg, np.random.SeedSequence(5))
    for a, b in zip(layers, other):
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.c, b.c)


def test_pretraining_sees_the_feedforward_training_split_only(runs):
    spec = runs["spec"]
    ff_cfg = spec.settings.fine_tuning()
    st = dbn.network_setup(spec.settings, ff_cfg, dbn.shared_seed_sequence(spec))
    # the split is the feedforward run's: pixel / 16 of the rows feedforward.setup picks
    raw = F.setup(ff_cfg, dbn.shared_seed_sequence(spec))
    for name in ("train", "validation", "test"):
        np.testing.assert_array_equal(st.splits[name][0], raw.splits[name][0] / 16)
        np.testing.assert_array_equal(st.splits[name][2], raw.splits[name][2])
    assert [len(st.splits[n][0]) for n in ("train", "validation", "test")] == [360, 539, 898]
    # the stored RBMs are those pretrained on exactly these training rows
    layers = dbn.pretrain(st.splits["train"][0], st.splits["validation"][0], spec.settings, spec.seed_sequence())
    _, rec = runs["pre"]
    for l, layer in enumerate(layers):
        np.testing.assert_array_equal(rec.static_arrays[f"rbm_weight_{l}"], layer.W)
        np.testing.assert_array_equal(rec.static_arrays[f"rbm_hidden_bias_{l}"], layer.c)
        np.testing.assert_array_equal(rec.static_arrays[f"rbm_visible_bias_{l}"], layer.b)


# --------------------------------------------------------------------------- transfer and fine-tuning


def test_the_network_starts_as_the_rbm_stack_computed_by_hand(runs):
    spec = runs["spec"]
    metrics, rec = runs["pre"]
    arr = rec.static_arrays
    W = [arr[f"initial_weight_{l}"] for l in range(3)]
    c = [arr[f"initial_bias_{l}"] for l in range(3)]
    for l in range(2):  # the RBMs' W and hidden biases, rounded to float32
        np.testing.assert_array_equal(W[l], arr[f"rbm_weight_{l}"].astype(np.float32))
        np.testing.assert_array_equal(c[l], arr[f"rbm_hidden_bias_{l}"].astype(np.float32))
    # the first forward pass (epoch 0 of the trajectory): sigmoid(v W + c) up the stack, in float64
    st = dbn.network_setup(spec.settings, spec.settings.fine_tuning(), dbn.shared_seed_sequence(spec))
    x, _, labels = st.splits["train"]
    h1 = sigmoid(x.astype(np.float64) @ W[0] + c[0])
    h2 = sigmoid(h1 @ W[1] + c[1])
    logits = h2 @ W[2] + c[2]
    m = logits.max(axis=1, keepdims=True)
    loss = np.mean(m[:, 0] + np.log(np.exp(logits - m).sum(axis=1)) - logits[np.arange(len(x)), labels])
    # float32 kernel vs float64 by hand: sums of <= 64 float32 products, relative error ~1e-6
    assert rec.col("epoch")[0] == 0
    np.testing.assert_allclose(rec.col("act_mean")[0], [h1.mean(), h2.mean()], rtol=1e-5)
    np.testing.assert_allclose(rec.col("train_loss")[0], loss, rtol=1e-5)
    np.testing.assert_allclose(rec.col("train_metric")[0], np.mean(logits.argmax(axis=1) == labels))
    # the evaluator's logits themselves
    ev = F.Evaluator(st, *st.splits["train"], 64)
    st.params[:] = np.concatenate([np.r_[w.ravel(), b] for w, b in zip(W, c)])
    ev(st.params)
    np.testing.assert_allclose(ev.out, logits, rtol=1e-5, atol=1e-5)


def test_both_arms_share_the_split_and_the_output_layer(runs):
    (pm, pre), (fm, plain) = runs["pre"], runs["plain"]
    # the output layer's initial weights and the split are the same; the hidden layers are not
    np.testing.assert_array_equal(pre.static_arrays["initial_weight_2"], plain.static_arrays["initial_weight_2"])
    assert not np.array_equal(pre.static_arrays["initial_weight_0"], plain.static_arrays["initial_weight_0"])
    assert pm["n_train"] == fm["n_train"] == 360
    assert pm["pretrained"] and not fm["pretrained"]
    assert not any(k.startswith(("rbm_", "pretrain_")) for k in [*plain.static_arrays, *plain.columns])
    # metrics: the recon error per layer is the last recorded epoch's
    for l in range(2):
        last = np.flatnonzero(pre.col("pretrain_layer") == l)[-1]
        assert pm[f"pretrain_recon_error_{l}"] == pre.col("pretrain_train_recon_error")[last]
        assert pm[f"pretrain_val_recon_error_{l}"] == pre.col("pretrain_val_recon_error")[last]
    for key in ("train_metric", "val_metric", "test_metric"):
        assert 0.0 <= pm[key] <= 1.0 and 0.0 <= fm[key] <= 1.0


def test_pretrain_false_is_the_plain_feedforward_run(tmp_path):
    # the same network as a feedforward scenario on the same inputs (pixel / 16 in a file)
    images, labels = D.load_digits()
    np.savez(tmp_path / "digits.npz", x=images / 16.0, y=labels)
    tables = {k: v for k, v in SMALL.items() if k not in ("model", "data", "network", "pretraining")}
    ff_doc = {
        **tables,
        "model": "feedforward",
        "data": {
            "source": "file",
            "path": str(tmp_path / "digits.npz"),
            "validation": 0.3,
            "test": 0.5,
            "standardize": False,
        },
        "network": {"hidden": [16, 8], "activation": "sigmoid"},
    }
    spec = spec_of(pretrain=False)
    ss = dbn.shared_seed_sequence(spec)
    ff_spec = dataclasses.replace(
        parse_scenario(ff_doc, "<test>").runs[0], seed={"entropy": ss.entropy, "spawn_key": list(ss.spawn_key)}
    )
    ff_rec = MemoryRecord()
    fm = F.run(ff_spec, ff_rec)
    dm, rec = run(spec)
    assert sorted(rec.columns) == sorted(ff_rec.columns)
    for name in ff_rec.columns:
        np.testing.assert_array_equal(rec.col(name), ff_rec.col(name), err_msg=name)
    assert sorted(rec.static_arrays) == sorted(ff_rec.static_arrays)
    for name, a in ff_rec.static_arrays.items():
        np.testing.assert_array_equal(rec.static_arrays[name], a, err_msg=name)
    assert {k: dm[k] for k in fm} == fm


def test_same_seed_is_bit_identical_and_another_seed_differs(runs):
    (ma, a), (mb, b) = runs["pre"], runs["again"]
    assert ma == mb
    assert sorted(a.columns) == sorted(b.columns) and sorted(a.static_arrays) == sorted(b.static_arrays)
    for name in a.columns:
        np.testing.assert_array_equal(a.col(name), b.col(name), err_msg=name)
    for name in a.static_arrays:
        np.testing.assert_array_equal(a.static_arrays[name], b.static_arrays[name], err_msg=name)
    _, c = run(spec_of(seed=12, pretraining={**SMALL["pretraining"], "epochs": 1}, training={"epochs": 1}))
    assert not np.array_equal(a.static_arrays["initial_weight_2"], c.static_arrays["initial_weight_2"])


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "changes,line",
    [
        ({"network": {"hidden": []}}, "network.hidden: needs at least one hidden layer"),
        ({"pretraining": {"k": 0}}, "pretraining.k: input should be greater than or equal to 1"),
        ({"pretraining": {"epoch": 3}}, "pretraining.epoch: unknown key (did you mean 'epochs'?)"),
        ({"pretraining": {"schedule": {"name": "plateau"}}}, "pretraining.schedule.name: 'plateau' is not available"),
        ({"data": {"source": "digits", "threshold": 0.3}}, "data.threshold: only applies to visible = 'binary'"),
        ({"data": {"source": "digits", "validation": 0.0}}, "early_stopping: needs a validation split"),
        ({"regularization": {"dropout": [0.1]}}, "regularization.dropout: lists 1 values for 2 hidden layers"),
        ({"optimizer": {"name": "adam", "lr": -1.0}}, "optimizer.lr: input should be greater than 0"),
    ],
)
def test_bad_settings_are_rejected_in_one_line(changes, line):
    with pytest.raises(ScenarioError) as exc:
        parse_scenario({**SMALL, **changes}, "f.toml")
    assert len(exc.value.lines) == 1 and exc.value.lines[0].startswith("f.toml: " + line), exc.value.lines


def test_preflight_rejects_a_pretraining_batch_larger_than_the_training_split(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text(
        'name = "b"\nmodel = "dbn"\nseed = 1\n[data]\nsource = "digits"\nvalidation = 0.5\n'
        "test = 0.45\n[network]\nhidden = [8]\n[pretraining]\nbatch_size = 100\n"
    )
    with pytest.raises(ScenarioError) as exc:
        api.validate(path)
    assert exc.value.lines == [f"{path}: pretraining.batch_size: 100 is larger than the 91 training samples"]


# --------------------------------------------------------------------------- the store

E2E = """
name = "dbn-e2e"
model = "dbn"
seed = 5

[data]
source = "digits"
visible = "binary"
validation = 0.3
test = 0.5

[network]
hidden = [12, 6]

[pretraining]
epochs = 2
method = "pcd"

[optimizer]
name = "adam"
lr = 0.01

[training]
epochs = 2

[sweep]
grid = { pretrain = [true, false] }
"""


def test_end_to_end_run_through_the_store(tmp_path):
    path = tmp_path / "dbn.toml"
    path.write_text(E2E)
    report = api.run_scenario(path, store=tmp_path / "runs.zarr", workers=1)
    assert len(report.results) == 2 and not report.failed
    root = S.open_store(tmp_path / "runs.zarr")
    for spec in api.validate(path).runs:
        arrays = {n: S.load_array(root, spec.run_id, n) for n in S.array_names(root, spec.run_id)}
        attrs = S.run_attrs(root, spec.run_id)
        assert attrs["status"] == "complete" and attrs["model"] == "dbn"
        metrics, rec = run(spec)  # the stored run is the in-process run, bit for bit
        assert attrs["metrics"] == metrics
        assert sorted(arrays) == sorted([*rec.static_arrays, *rec.columns])
        for name, a in arrays.items():
            np.testing.assert_array_equal(a, rec.static_arrays[name] if name in rec.static_arrays else rec.col(name))
        info = api.show_run(tmp_path / "runs.zarr", spec.run_id)["arrays"]
        if spec.params["pretrain"]:
            assert tuple(info["rbm_weight_1"]["dims"]) == ("unit_1", "unit_2")
            assert arrays["rbm_weight_1"].shape == (12, 6)
            assert tuple(info["pretrain_val_recon_error"]["dims"]) == ("pretrain_record",)
            assert arrays["pretrain_layer"].tolist() == [0, 0, 0, 1, 1, 1]
        else:
            assert "rbm_weight_0" not in arrays
        assert arrays["epoch"].tolist() == [0, 1, 2] and arrays["layer_sizes"].tolist() == [64, 12, 6, 10]
