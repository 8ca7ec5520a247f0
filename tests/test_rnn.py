"""The rnn kind: BPTT gradients (finite differences, torch.nn.RNN), truncation, clipping, the tasks,
the vanishing / exploding gradient picture at initialization, a small learning run."""

from __future__ import annotations

import time

import numpy as np
import peers
import pytest

from dynet.models.rnn import driver as D
from dynet.models.rnn import kernels as K
from dynet.models.rnn.config import RnnScenario

TASKS = {
    "adding": {"name": "adding"},
    "parity": {"name": "parity"},
    "recall": {"name": "recall", "symbols": 3},
    "sines": {"name": "sines"},
}


def scenario(task: dict, **tables) -> RnnScenario:
    doc = {"name": "t", "model": "rnn", "seed": 1, "task": task, "network": {"hidden": 5}}
    doc.update(tables)
    return RnnScenario.model_validate(doc)


def small(task_name: str, length: int = 7, n: int = 4, seed: int = 0, **init):
    cfg = scenario({**TASKS[task_name], "length": length, "n_train": n, "n_validation": n}, init=init)
    train, _, net, _ = D.data(cfg, np.random.SeedSequence(seed))
    return cfg, train, net


@pytest.mark.parametrize("task", sorted(TASKS))
def test_gradients_match_central_differences(task):
    cfg, seqs, net = small(task, spectral_radius=1.3, weights="normal", params={"std": 0.5}, bias=0.1)
    shape = D.task_shape(cfg.task)
    D.forward_backward(net, seqs, shape)
    analytic = {k: v.copy() for k, v in net.grads.items()}
    eps = 1e-6
    for name in D.PARAM_NAMES:
        p = net[name].reshape(-1)
        numeric = np.empty(p.size)
        for i in range(p.size):
            old = p[i]
            p[i] = old + eps
            up, _ = D.evaluate(net, seqs, shape)
            p[i] = old - eps
            down, _ = D.evaluate(net, seqs, shape)
            p[i] = old
            numeric[i] = (up - down) / (2 * eps)
        a = analytic[name].reshape(-1)
        rel = np.linalg.norm(a - numeric) / max(np.linalg.norm(a), np.linalg.norm(numeric))
        assert rel < 1e-6, (task, name, rel)


def test_forward_and_gradients_match_torch_rnn():
    torch = peers.require("torch")
    rng = np.random.default_rng(5)
    b, t, i, h = 3, 9, 4, 6
    x = rng.standard_normal((b, t, i))
    w_xh, w_hh, b_h = rng.standard_normal((i, h)) * 0.5, rng.standard_normal((h, h)) * 0.4, rng.standard_normal(h) * 0.1
    r = rng.standard_normal((b, t, h))  # the loss is sum(hs * r): dL/dh_t through the outputs is r
    hs = np.empty((b, t, h))
    K.forward(x, w_xh, w_hh, b_h, hs)
    g_xh, g_hh, g_b, norms = np.empty((i, h)), np.empty((h, h)), np.empty(h), np.empty((b, t))
    K.backward(x, hs, w_hh, r, 0, g_xh, g_hh, g_b, norms)

    rnn = torch.nn.RNN(i, h, nonlinearity="tanh", batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(w_xh.T.copy()))
        rnn.weight_hh_l0.copy_(torch.from_numpy(w_hh.T.copy()))
        rnn.bias_ih_l0.copy_(torch.from_numpy(b_h))
        rnn.bias_hh_l0.zero_()
    xt = torch.from_numpy(x).requires_grad_(False)
    out, _ = rnn(xt)
    (out * torch.from_numpy(r)).sum().backward()
    np.testing.assert_allclose(hs, out.detach().numpy(), rtol=0, atol=1e-13)
    np.testing.assert_allclose(g_xh, rnn.weight_ih_l0.grad.numpy().T, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(g_hh, rnn.weight_hh_l0.grad.numpy().T, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(g_b, rnn.bias_ih_l0.grad.numpy(), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(g_b, rnn.bias_hh_l0.grad.numpy(), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("truncation", [0, 3])
def test_whole_network_gradients_match_torch_with_detached_chunks(truncation):
    """Readout, MSE over every step and (truncated) BPTT against torch: nn.RNN run chunk by chunk
    (chunks of k steps counted from the end), the hidden state detached between chunks."""
    torch = peers.require("torch")
    cfg, seqs, net = small("sines", length=7, spectral_radius=1.2, bias=0.1)
    D.forward_backward(net, seqs, D.task_shape(cfg.task), truncation=truncation)

    rnn = torch.nn.RNN(1, 5, nonlinearity="tanh", batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(net["W_xh"].T.copy()))
        rnn.weight_hh_l0.copy_(torch.from_numpy(net["W_hh"].T.copy()))
        rnn.bias_ih_l0.copy_(torch.from_numpy(net["b_h"].copy()))
        rnn.bias_hh_l0.zero_()
    w_hy = torch.from_numpy(net["W_hy"].copy()).requires_grad_(True)
    b_y = torch.from_numpy(net["b_y"].copy()).requires_grad_(True)
    x = torch.from_numpy(seqs.x)
    cuts = [0] if truncation == 0 else sorted({max(0, 7 - m * truncation) for m in range(1, 8)})
    bounds = list(zip(cuts, [*cuts[1:], 7]))
    h, outs = torch.zeros(1, x.shape[0], 5, dtype=torch.float64), []
    for lo, hi in bounds:
        out, h = rnn(x[:, lo:hi], h.detach())
        outs.append(out)
    y = torch.cat(outs, dim=1) @ w_hy + b_y
    torch.nn.functional.mse_loss(y, torch.from_numpy(seqs.y)).backward()
    tol = dict(rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(net.grads["W_xh"], rnn.weight_ih_l0.grad.numpy().T, **tol)
    np.testing.assert_allclose(net.grads["W_hh"], rnn.weight_hh_l0.grad.numpy().T, **tol)
    np.testing.assert_allclose(net.grads["b_h"], rnn.bias_hh_l0.grad.numpy(), **tol)
    np.testing.assert_allclose(net.grads["W_hy"], w_hy.grad.numpy(), **tol)
    np.testing.assert_allclose(net.grads["b_y"], b_y.grad.numpy(), **tol)


@pytest.mark.parametrize("task", ["adding", "sines"])
def test_truncation_at_least_the_length_is_full_bptt(task):
    cfg, seqs, net = small(task, length=8, spectral_radius=1.1)
    shape = D.task_shape(cfg.task)
    D.forward_backward(net, seqs, shape, truncation=0)
    full = net.grad_flat.copy()
    for k in (8, 9, 100):
        D.forward_backward(net, seqs, shape, truncation=k)
        assert np.array_equal(net.grad_flat, full)
    D.forward_backward(net, seqs, shape, truncation=3)
    assert not np.array_equal(net.grad_flat, full)


def test_truncation_stops_the_gradient_k_steps_back():
    cfg, seqs, net = small("adding", length=10, spectral_radius=1.1)
    _, _, norms = D.forward_backward(net, seqs, D.task_shape(cfg.task), truncation=4)
    assert (norms[:, 6:] > 0).all()  # the last 4 steps
    assert (norms[:, :6] == 0).all()


def test_truncated_gradient_is_the_sum_of_its_chunks():
    """Many-to-many with k = 3 over T = 7: chunks [0, 1), [1, 4), [4, 7) counted from the end; each
    chunk's W_xh gradient equals full BPTT of that chunk alone, started from the carried state."""
    cfg, seqs, net = small("sines", length=7, spectral_radius=1.2)
    shape = D.task_shape(cfg.task)
    D.forward_backward(net, seqs, shape, truncation=3)
    got = net.grads["W_xh"].copy()
    hs = np.empty((seqs.x.shape[0], 7, 5))
    K.forward(seqs.x, net["W_xh"], net["W_hh"], net["b_h"], hs)
    logits = D.readout(net, hs, True)
    _, g_logits, _ = D.loss_and_grad(logits, seqs.y, "mse")
    dh_out = g_logits @ net["W_hy"].T
    total = np.zeros_like(got)
    g_xh, g_hh, g_b, norms = np.empty_like(got), np.empty((5, 5)), np.empty(5), np.empty((seqs.x.shape[0], 7))
    for lo, hi in ((0, 1), (1, 4), (4, 7)):
        K.backward(
            np.ascontiguousarray(seqs.x[:, lo:hi]),
            np.ascontiguousarray(hs[:, lo:hi]),
            net["W_hh"],
            np.ascontiguousarray(dh_out[:, lo:hi]),
            0,
            g_xh,
            g_hh,
            g_b,
            norms[:, lo:hi].copy(),
        )
        total += g_xh
    np.testing.assert_allclose(got, total, rtol=1e-12, atol=1e-15)


def test_clipping_scales_the_update_to_the_clip_norm():
    clip, lr = 0.05, 0.1
    cfg = scenario(
        {"name": "adding", "length": 6, "n_train": 8, "n_validation": 2},
        optimizer={"name": "sgd", "lr": lr},
        training={"clip_norm": clip, "batch_size": 8},
        init={"spectral_radius": 2.0},
    )
    train, _, net, rng = D.data(cfg, np.random.SeedSequence(0))
    trainer = D.Trainer(cfg, net, train, rng)
    D.forward_backward(net, train, trainer.shape)
    before_norm = np.linalg.norm(net.grad_flat)
    assert before_norm > 10 * clip
    start = net.flat.copy()
    norm = trainer.step(lr)
    assert norm == pytest.approx(before_norm, rel=1e-12)
    applied = (start - net.flat) / lr
    assert np.linalg.norm(applied) == pytest.approx(clip, rel=1e-6)
    np.testing.assert_allclose(applied, net.grad_flat, rtol=1e-9, atol=1e-12)  # the clipped gradient, applied
    assert np.linalg.norm(net.grad_flat) == pytest.approx(clip, rel=1e-6)
    # below the clip value nothing changes
    cfg2 = cfg.model_copy(update={"training": cfg.training.model_copy(update={"clip_norm": 10 * before_norm})})
    trainer2 = D.Trainer(cfg2, net, train, rng)
    D.forward_backward(net, train, trainer2.shape)
    raw = net.grad_flat.copy()
    trainer2.step(lr)
    assert np.array_equal(net.grad_flat, raw)


def test_tasks_shapes_and_targets():
    rng = np.random.default_rng(0)
    cfg = scenario({"name": "adding", "length": 10})
    s = D.make_sequences(cfg.task, 500, rng)
    assert s.x.shape == (500, 10, 2) and s.y.shape == (500, 1)
    assert (s.x[:, :5, 1].sum(axis=1) == 1).all() and (s.x[:, 5:, 1].sum(axis=1) == 1).all()
    np.testing.assert_allclose(s.y[:, 0], (s.x[:, :, 0] * s.x[:, :, 1]).sum(axis=1))
    assert np.mean((s.y - 1.0) ** 2) == pytest.approx(1 / 6, abs=0.02)  # the trivial baseline
    p = D.make_sequences(scenario({"name": "parity", "length": 6}).task, 50, rng)
    assert np.array_equal(p.y, p.x[:, :, 0].sum(axis=1).astype(int) % 2)
    r = D.make_sequences(scenario({"name": "recall", "length": 5, "symbols": 3}).task, 50, rng)
    assert np.array_equal(r.x[:, 0, :3].argmax(axis=1), r.y) and (r.x[:, 4, 3] == 1).all()
    assert r.x[:, 1:4].sum() == 0
    w = D.make_sequences(scenario({"name": "sines", "length": 12}).task, 5, rng)
    assert w.x.shape == (5, 12, 1) and w.y.shape == (5, 12, 1)
    assert np.array_equal(w.x[:, 1:], w.y[:, :-1])  # the target is the next observation


def test_spectral_radius_init():
    for kind in ("orthogonal", "gaussian"):
        for rho in (0.5, 1.0, 2.5):
            w = D.recurrent_init(kind, 20, rho, np.random.default_rng(1))
            assert D.spectral_radius(w) == pytest.approx(rho, rel=1e-9)
    q = D.recurrent_init("orthogonal", 10, 1.0, np.random.default_rng(2))
    np.testing.assert_allclose(q @ q.T, np.eye(10), atol=1e-12)


def test_gradient_vanishes_or_explodes_with_the_spectral_radius():
    def lags(rho):
        cfg = scenario(
            {"name": "adding", "length": 30, "n_train": 50, "n_validation": 1},
            network={"hidden": 32},
            init={"spectral_radius": rho},
        )
        train, _, net, _ = D.data(cfg, np.random.SeedSequence(3))
        return D.lag_gradient_norms(net, train, D.task_shape(cfg.task))

    low = lags(0.5)
    # orthogonal W_hh * 0.5 and tanh' <= 1: every step back shrinks the gradient by at least half
    assert (low[1:] <= 0.5 * low[:-1] + 1e-300).all()
    assert low[-1] < 1e-6 * low[0]
    high = lags(3.0)
    assert high[-1] > 1e3 * high[0]
    assert high[-1] > high[len(high) // 2] > high[0]


def test_adding_problem_is_learned_quickly():
    cfg = scenario(
        {"name": "adding", "length": 10, "n_train": 1000, "n_validation": 200},
        network={"hidden": 16},
        optimizer={"name": "adam", "lr": 0.01},
        training={"epochs": 10, "batch_size": 20},
    )
    D.warmup()
    start = time.perf_counter()
    metrics, _, _ = D.train(cfg, np.random.SeedSequence(1))
    assert time.perf_counter() - start < 5
    assert metrics["val_loss"] < 0.25 * (1 / 6)
    assert metrics["loss_ratio"] == pytest.approx(metrics["val_loss"] * 6)


def test_parity_and_recall_are_learned():
    recall = scenario(
        {"name": "recall", "length": 8, "symbols": 4, "n_train": 400, "n_validation": 100},
        network={"hidden": 16},
        optimizer={"name": "adam", "lr": 0.02},
        training={"epochs": 15, "batch_size": 20},
    )
    m, _, _ = D.train(recall, np.random.SeedSequence(2))
    assert m["val_accuracy"] == 1.0
    parity = scenario(
        {"name": "parity", "length": 4, "n_train": 400, "n_validation": 100},
        network={"hidden": 16},
        optimizer={"name": "adam", "lr": 0.01},
        training={"epochs": 60, "batch_size": 20},
    )
    m, _, _ = D.train(parity, np.random.SeedSequence(2))
    assert m["val_accuracy"] == 1.0


def test_schedule_and_other_optimizers_run_through_the_shared_stack():
    cfg = scenario(
        {"name": "sines", "length": 12, "n_train": 64, "n_validation": 16},
        optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9},
        schedule={"name": "step", "step_size": 2, "gamma": 0.5},
        training={"epochs": 5, "batch_size": 16, "truncation": 4, "clip_norm": 1.0},
    )
    rec = Recorder()
    m, _, _ = D.train(cfg, np.random.SeedSequence(0), rec)
    np.testing.assert_allclose(rec.cols["lr"], [0.1, 0.1, 0.1, 0.05, 0.05, 0.025])
    assert rec.cols["lag_grad_norm"].shape == (6, 12)
    assert m["train_loss"] < rec.cols["train_loss"][0]
    assert m["val_accuracy"] is None  # no accuracy for a regression of sines


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="plateau"):
        scenario({"name": "adding"}, schedule={"name": "plateau"})
    with pytest.raises(ValueError, match="omega_min"):
        scenario({"name": "sines", "omega_min": 1.0, "omega_max": 0.5})


class Recorder:
    def __init__(self):
        self.cols = {}

    def trajectory(self, specs):
        return self

    def append(self, **columns):
        for k, v in columns.items():
            self.cols[k] = np.concatenate([self.cols[k], v]) if k in self.cols else np.asarray(v)

    def close(self):
        return 0


# --------------------------------------------------------------------------- stored runs and plots

SWEEP = """
name = "rnn-plot"
model = "rnn"
seed = 4
[task]
name = "adding"
length = 6
n_train = 64
n_validation = 32
[network]
hidden = 8
[training]
epochs = 3
batch_size = 16
[sweep.grid]
"init.spectral_radius" = [0.5, 2.0]
"""


@pytest.fixture(scope="module")
def plot_store(tmp_path_factory):
    pytest.importorskip("matplotlib")
    pytest.importorskip("xarray")
    import dynet

    d = tmp_path_factory.mktemp("rnn-plots")
    (d / "s.toml").write_text(SWEEP)
    report = dynet.run_scenario(str(d / "s.toml"), store=str(d / "runs.zarr"))
    assert not report.failed
    return str(d / "runs.zarr"), report


def test_the_run_plot_draws_the_stored_trajectories(plot_store):
    from dynet import plots
    from dynet.plots import rnn, source

    store, report = plot_store
    res = next(r for r in report.results if r.params["init.spectral_radius"] == 0.5)
    ds = source.open_run(store, res.run_id)
    fig = rnn.training(ds)
    loss_ax, lag_ax = fig.axes[:2]
    assert loss_ax.get_yscale() == "log" and lag_ax.get_yscale() == "log"
    lines = {ln.get_gid(): ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid()}
    np.testing.assert_array_equal(lines["train_loss"].get_xdata(), [0, 1, 2, 3])
    np.testing.assert_array_equal(lines["train_loss"].get_ydata(), ds["train_loss"].values)
    np.testing.assert_array_equal(lines["val_loss"].get_ydata(), ds["val_loss"].values)
    lag = ds["lag_grad_norm"].values
    assert lag.shape == (4, 6) and ds["lag_grad_norm"].dims == ("epoch", "lag")
    np.testing.assert_array_equal(lines["lag_first"].get_ydata(), lag[0])
    np.testing.assert_array_equal(lines["lag_last"].get_ydata(), lag[-1])
    assert res.metrics["val_loss"] == pytest.approx(ds["val_loss"].values[-1], rel=1e-15)
    assert res.metrics["spectral_radius_init"] == pytest.approx(0.5, rel=1e-9)
    assert res.metrics["lag_grad_ratio_init"] == lag[0, -1] / lag[0, 0]
    assert res.metrics["lag_grad_ratio"] == lag[-1, -1] / lag[-1, 0]
    assert ds["W_hh_init"].dims == ("hidden", "hidden_to")
    assert list(plots.kinds(store, res.run_id)) == ["training"]
    assert len(plots.plot(store, res.run_id).axes) == 2  # the natural plot of a run


def test_the_sweep_plot_draws_the_lag_profile_at_initialization(plot_store):
    from dynet import plots
    from dynet.plots import source

    store, report = plot_store
    fig = plots.plot(store, "rnn-plot")  # the natural plot of the sweep
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["init.spectral_radius=0.5", "init.spectral_radius=2"]
    for ln, rho in zip(lines, (0.5, 2.0)):
        res = next(r for r in report.results if r.params["init.spectral_radius"] == rho)
        np.testing.assert_array_equal(ln.get_ydata(), source.open_run(store, res.run_id)["lag_grad_norm"].values[0])
    low, high = (ln.get_ydata() for ln in lines)
    assert low[-1] < low[0] and high[-1] > high[0]


def test_the_analysis_view_names_the_variables(plot_store):
    import dynet

    store, report = plot_store
    ds = dynet.open_store(store).run(report.results[0].run_id)
    assert ds["lag_grad_norm"].attrs["units"] == "1"
    assert "dL/dh_t" in ds["lag_grad_norm"].attrs["long_name"]
    assert ds["W_hh"].attrs["long_name"] == "recurrent weights"


def test_the_curves_plot_defaults_to_the_validation_loss(plot_store):
    from dynet import plots
    from dynet.plots import source

    store, report = plot_store
    fig = plots.plot(store, "rnn-plot", kind="curves")
    drawn = sorted(tuple(ln.get_ydata()) for ln in fig.axes[0].get_lines() if len(ln.get_ydata()) == 4)
    stored = sorted(tuple(source.open_run(store, r.run_id)["val_loss"].values) for r in report.results)
    assert drawn == stored
