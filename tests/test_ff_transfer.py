"""Transfer learning: layers initialized from another run of a store, and frozen layers.

The source runs are a small autoencoder (a sweep of two points, batch norm on its first
layer) trained into a temporary store; the destination is a classifier whose first two
layers have the encoder's shapes.

* Transferred layers (weights, bias, gamma, beta, running statistics) equal the source's
  stored arrays bit for bit before training; the other layers are the usual initialization.
* Frozen layers are bit-identical after training with every mechanism that could move them
  (AdamW's decoupled weight decay, an L2 penalty, gradient clipping), the other layers
  change, and a frozen middle layer still passes gradients down.
* Where the weights came from is in the metrics and the weight arrays' attributes.
* Errors: a missing store, run, scenario or layer, an ambiguous selection, an incomplete
  source, a shape or batch-norm mismatch: one line each, before anything runs.
"""

from __future__ import annotations

import textwrap
import tomllib

import numpy as np
import pytest
from conftest import MemoryRecord

from dynet import api
from dynet import store as S
from dynet.models.feedforward import driver as F
from dynet.scenario import ScenarioError, parse_scenario, run_settings

SOURCE = """
name = "src"
model = "feedforward"
seed = 3

[data]
source = "blobs"
n_samples = 120
n_classes = 3
n_features = 5

[network]
kind = "autoencoder"
hidden = [6]
bottleneck = 3

[regularization]
batch_norm = [true, false, false]

[optimizer]
name = "adam"
lr = 0.01

[training]
epochs = 3
batch_size = 16

[sweep]
grid = { "network.activation" = ["tanh", "elu"] }
"""

HEAD = """
name = "dst"
model = "feedforward"
seed = 4

[data]
source = "blobs"
n_samples = 120
n_classes = 3
n_features = 5
"""

NET = '[network]\nhidden = [6, 3]\nactivation = "tanh"\n[regularization]\nbatch_norm = [true, false]\n'
TRANSFER = (
    '[init.transfer]\nstore = "src.zarr"\nscenario = "src"\npoint = { "network.activation" = "tanh" }\n'
    "layers = [0, 1]\n"
)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    d = tmp_path_factory.mktemp("transfer")
    store = d / "src.zarr"
    S.open_store(store, create=True)
    runs = parse_scenario(tomllib.loads(SOURCE), str(d / "src.toml")).runs
    by_act = {}
    for spec in runs:
        assert api.execute_run(str(store), spec)["status"] == "complete"
        by_act[spec.params["network.activation"]] = spec.run_id
    return d, store, by_act


def destination(d, body, name="dst.toml"):
    path = d / name
    path.write_text(HEAD + textwrap.dedent(body))
    return path


def source_arrays(store, run_id):
    return api.load_run(store, run_id)


def layer(params, st, l):
    n_in, n_out, w, b, _ = (int(v) for v in st.layout[l])
    return params[w : w + n_in * n_out].reshape(n_in, n_out), params[b : b + n_out]


def test_transferred_layers_equal_the_source_exactly(source):
    d, store, by_act = source
    (spec,) = api.validate(destination(d, NET + TRANSFER)).runs
    st = F.setup(spec.settings, spec.seed_sequence(), spec.base_dir)
    src = source_arrays(store, by_act["tanh"])
    for l in (0, 1):
        W, b = layer(st.params, st, l)
        np.testing.assert_array_equal(W, src[f"weight_{l}"])
        np.testing.assert_array_equal(b, src[f"bias_{l}"])
    g = st.bn[0, 0]
    np.testing.assert_array_equal(st.params[g : g + 6], src["bn_gamma_0"])
    np.testing.assert_array_equal(st.params[g + 6 : g + 12], src["bn_beta_0"])
    np.testing.assert_array_equal(st.bn_mean, src["bn_running_mean_0"])
    np.testing.assert_array_equal(st.bn_var, src["bn_running_var_0"])
    assert not np.array_equal(src["bn_gamma_0"], np.ones(6))  # the source trained them
    # the layer that is not transferred is the usual initialization from the same seed
    plain = F.setup(
        run_settings("feedforward", {**spec.config, "init": {**spec.config["init"], "transfer": None}}),
        spec.seed_sequence(),
    )
    np.testing.assert_array_equal(layer(st.params, st, 2)[0], layer(plain.params, plain, 2)[0])
    assert st.transfer["run"] == by_act["tanh"] and st.transfer["layers"] == [0, 1]


def trained(d, body, name):
    (spec,) = api.validate(destination(d, body, name)).runs
    st = F.setup(spec.settings, spec.seed_sequence(), spec.base_dir)
    before = st.params.copy()
    rows = []
    F.train(spec.settings, st, st.rng_state, on_epoch=lambda **c: rows.append(c))
    return st, before, rows


def test_frozen_layers_are_bit_identical_after_training_and_the_others_change(source):
    d, _, _ = source
    body = (
        NET
        + TRANSFER
        + (
            '[optimizer]\nname = "adamw"\nlr = 0.05\nweight_decay = 0.1\n'
            "[training]\nepochs = 3\nbatch_size = 16\nfreeze = [0, 1]\nclip_norm = 0.5\n"
        ).replace("[regularization]\n", "[regularization]\nl2 = 0.01\n")
    )
    st, before, rows = trained(d, body, "frozen.toml")
    np.testing.assert_array_equal(st.params[: st.layout[2, 2]], before[: st.layout[2, 2]])  # W0 b0 W1 b1
    g = st.bn[0, 0]
    np.testing.assert_array_equal(st.params[g:], before[g:])  # gamma and beta of layer 0
    assert (layer(st.params, st, 2)[0] != layer(before, st, 2)[0]).all()
    grad_norm = np.concatenate([r["grad_norm"] for r in rows[1:]])
    assert (grad_norm[:, :2] == 0).all() and (grad_norm[:, 2] > 0).all()
    ratio = np.concatenate([r["update_ratio"] for r in rows[1:]])
    assert (ratio[:, :2] == 0).all()
    # running statistics follow the batches, as in PyTorch's training mode
    (spec,) = api.validate(d / "frozen.toml").runs
    assert not np.array_equal(st.bn_mean, F.setup(spec.settings, spec.seed_sequence(), spec.base_dir).bn_mean)


def test_a_frozen_middle_layer_still_passes_gradients_down(source):
    d, _, _ = source
    st, before, rows = trained(d, NET + "[training]\nepochs = 2\nbatch_size = 16\nfreeze = [1]\n", "middle.toml")
    np.testing.assert_array_equal(layer(st.params, st, 1)[0], layer(before, st, 1)[0])
    np.testing.assert_array_equal(layer(st.params, st, 1)[1], layer(before, st, 1)[1])
    for l in (0, 2):
        assert (layer(st.params, st, l)[0] != layer(before, st, l)[0]).any()
    grad_norm = rows[-1]["grad_norm"][0]  # the last epoch's row
    assert grad_norm[0] > 0 and grad_norm[1] == 0 and grad_norm[2] > 0


def test_run_records_the_source_and_reads_its_own_store_by_default(source):
    d, store, by_act = source
    body = NET + TRANSFER.replace('store = "src.zarr"\n', "") + "[training]\nepochs = 1\nfreeze = [0]\n"
    path = destination(d, body, "own.toml")
    (spec,) = api.validate(path).runs  # no store named and none given: not checked here
    api.validate(path, store)  # the store the runs will write to holds the source
    result = api.execute_run(str(store), spec)
    assert result["status"] == "complete", result["error"]
    m = result["metrics"]
    assert m["transfer_run"] == by_act["tanh"] and m["transfer_scenario"] == "src"
    assert m["transfer_store"] == str(store) and m["transfer_layers"] == [0, 1] and m["frozen_layers"] == [0]
    group = S.open_store(store)[S.run_path(spec.run_id)]
    assert dict(group["weight_0"].attrs) == {"frozen": True, "transferred_from": f"{by_act['tanh']}:weight_0"}
    assert dict(group["weight_2"].attrs) == {"frozen": False}
    # without a store to read (a record that has none), the run says so
    with pytest.raises(F.TransferError, match=r"^init\.transfer\.store: no store given"):
        F.run(spec, MemoryRecord())
    # in a store without the source run, the run fails with the same one-line reason
    other = d / "other.zarr"
    S.open_store(other, create=True)
    failed = api.execute_run(str(other), spec)
    assert failed["status"] == "failed"
    reason = (
        f"init.transfer.scenario: no run of scenario 'src' (replicate 0, point {{'network.activation': "
        f"'tanh'}}) in {other}"
    )
    assert failed["error"] == f"TransferError: {reason}"
    # ... which `dynet run` (api.run_scenario validates against its store) reports before running anything
    with pytest.raises(ScenarioError) as info:
        api.validate(path, other)
    assert info.value.lines == [f"{path}: {reason}"]


def _incomplete(d):
    S.RunRecord(
        d / "src.zarr", "ffff000011112222", {"scenario": "half", "model": "feedforward", "replicate": 0, "params": {}}
    )
    return '[init.transfer]\nstore = "src.zarr"\nscenario = "half"\nlayers = [0]\n'


ERRORS = [
    (
        "missing-store",
        lambda d: TRANSFER.replace("src.zarr", "nope.zarr"),
        "init.transfer.store",
        ["nope.zarr", "no dynet store here"],
    ),
    (
        "unknown-run",
        lambda d: '[init.transfer]\nstore = "src.zarr"\nrun = "abc123"\nlayers = [0]\n',
        "init.transfer.run",
        ["no run 'abc123'"],
    ),
    (
        "unknown-scenario",
        lambda d: TRANSFER.replace('scenario = "src"', 'scenario = "srx"'),
        "init.transfer.scenario",
        ["no run of scenario 'srx'"],
    ),
    (
        "ambiguous",
        lambda d: TRANSFER.replace('point = { "network.activation" = "tanh" }\n', ""),
        "init.transfer.point",
        ["2 runs of scenario 'src'", "network.activation"],
    ),
    ("incomplete", _incomplete, "init.transfer", ["ffff000011112222", "not complete (status running)"]),
    (
        "source-layer-missing",
        lambda d: TRANSFER.replace("layers = [0, 1]", "layers = [5]\ninto = [0]"),
        "init.transfer.layers",
        ["has no layer 5"],
    ),
    (
        "destination-layer-missing",
        lambda d: TRANSFER.replace("layers = [0, 1]", "layers = [0]\ninto = [3]"),
        "init.transfer.into",
        ["layer 3 does not exist", "layers 0..2"],
    ),
    ("freeze-layer-missing", lambda d: "[training]\nfreeze = [4]\n", "training.freeze", ["layer 4 does not exist"]),
    (
        "neither-run-nor-scenario",
        lambda d: '[init.transfer]\nstore = "src.zarr"\nlayers = [0]\n',
        "init.transfer",
        ["'run' or by 'scenario'"],
    ),
]


def _lines(d, body):
    """The one error line of a destination scenario with this body (HEAD has the data)."""
    path = destination(d, body, "err.toml")
    with pytest.raises(ScenarioError) as info:
        api.validate(path)
    assert len(info.value.lines) == 1, info.value.lines
    return info.value.lines[0][len(f"{path}: ") :]


@pytest.mark.parametrize("make,key,words", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_transfer_errors_name_the_key(source, make, key, words):
    d, _, _ = source
    msg = _lines(d, NET + make(d))
    assert msg.startswith(key + ": "), msg
    for w in words:
        assert w in msg, (w, msg)


@pytest.mark.parametrize(
    "net,words",
    [
        (
            '[network]\nhidden = [7, 3]\nactivation = "tanh"\n[regularization]\nbatch_norm = [true, false]\n',
            ["source layer 0", "5 x 6", "destination layer 0 is 5 x 7"],
        ),
        (
            '[network]\nhidden = [6, 3]\nactivation = "tanh"\n',
            ["source layer 0", "has batch norm but destination layer 0 has none"],
        ),
    ],
    ids=["shape", "batch-norm"],
)
def test_transfer_that_does_not_fit(source, net, words):
    d, _, _ = source
    msg = _lines(d, net + TRANSFER)
    assert msg.startswith("init.transfer.layers: "), msg
    for w in words:
        assert w in msg, (w, msg)


def test_a_problem_every_sweep_point_shares_is_one_line(source):
    d, _, _ = source
    body = NET + TRANSFER.replace("src.zarr", "nope.zarr") + '[sweep]\ngrid = { "training.freeze" = [[], [0]] }\n'
    path = destination(d, body, "sweep.toml")
    with pytest.raises(ScenarioError) as info:
        api.validate(path)
    (line,) = info.value.lines
    assert line.startswith(f"{path}: init.transfer.store: ") and line.endswith("no dynet store here (2 sweep points)")
