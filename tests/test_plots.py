"""Plots of stored runs: each test reads what a figure drew (line data, images, labels) and
compares it with the stored arrays and with exact formulas."""

import math
import os
import textwrap

import numpy as np
import pytest

pytest.importorskip("matplotlib")
xr = pytest.importorskip("xarray")
pytest.importorskip("pandas")

from click.testing import CliRunner

from dynet import api, plots
from dynet.cli import main
from dynet.plots import common, feedforward, generative, hopfield, ising, source, sweep

HOPFIELD = """
name = "hop"
model = "hopfield"
seed = 11
[network]
n_units = 64
[patterns]
source = "random"
load = 0.05
[init]
kind = "flip"
pattern = 0
fraction = 0.1
[dynamics]
update = "async-permutation"
max_sweeps = 20
[sweep]
replicates = 2
grid = { "network.rule" = ["hebbian", "pseudoinverse"], "patterns.load" = [0.05, 0.25] }
"""

DIGITS = """
name = "hop-digits"
model = "hopfield"
seed = 5
[network]
rule = "pseudoinverse"
[patterns]
source = "images"
count = 3
[init]
kind = "mask"
pattern = 1
fraction = 0.375
region = "tail"
fill = "random"
[dynamics]
update = "async-permutation"
max_sweeps = 10
"""

ISING = """
name = "ising-tiny"
model = "ising"
seed = 3
[lattice]
size = 4
[dynamics]
temperature = 2.0
thermalize = 100
sweeps = 400
[record]
every = 1
blocks = 4
snapshot_every = 100
[sweep]
replicates = 2
grid = { "lattice.size" = [4, 8], "dynamics.temperature" = [1.8, 2.3, 2.8] }
"""

XOR = """
name = "xor-tiny"
model = "feedforward"
seed = 1969
[data]
source = "xor"
n_samples = 64
validation = 0.25
[network]
kind = "mlp"
hidden = [4]
activation = "tanh"
[optimizer]
name = "adam"
lr = 0.05
[training]
epochs = 25
batch_size = 8
"""

RBM = """
name = "rbm-tiny"
model = "rbm"
seed = 2003
[data]
source = "bars-stripes"
size = 3
validation = 0.25
[network]
n_hidden = 4
[training]
method = "cd"
k = 1
epochs = 6
batch_size = 2
lr = 0.05
[sampling]
chains = 3
steps = 20
every = 5
[record]
every = 1
ais_runs = 4
ais_betas = 50
ais_every = 3
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store with tiny Hopfield, Ising, XOR and RBM sweeps, run on one 1-worker cluster."""
    import logging

    from distributed import LocalCluster

    d = tmp_path_factory.mktemp("plots")
    path = str(d / "runs.zarr")
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # no HTTP on 8787 or on every address
        silence_logs=logging.ERROR,
    ) as cluster:
        for name, text in (("hop", HOPFIELD), ("digits", DIGITS), ("ising", ISING), ("xor", XOR), ("rbm", RBM)):
            f = d / f"{name}.toml"
            f.write_text(textwrap.dedent(text))
            report = api.run_scenario(str(f), store=path, scheduler=cluster.scheduler_address)
            assert not report.failed
    return path


def run_id(store, scenario, **params):
    for r in api.list_runs(store):
        if (
            r["scenario"] == scenario
            and all(r["params"].get(k) == v for k, v in params.items())
            and r["replicate"] == 0
        ):
            return r["run_id"]
    raise AssertionError(f"no run {scenario} {params}")


def lines(ax):
    """Label -> data line of every line of ``ax``, error-bar lines included (their label is the
    container's)."""
    out = {ln.get_label(): ln for ln in ax.get_lines()}
    for c in ax.containers:
        if hasattr(c, "lines") and c.lines[0] is not None:
            out[c.get_label()] = c.lines[0]
    return out


def caption(fig):
    return getattr(fig, "_dynet_caption", "")


# --------------------------------------------------------------------------- Hopfield


def test_hopfield_energy_and_overlaps_are_the_stored_arrays(store):
    rid = run_id(store, "hop", **{"network.rule": "hebbian", "patterns.load": 0.05})
    ds = source.open_run(store, rid)
    fig = hopfield.energy_overlaps(ds)
    top, bottom = fig.axes[0], fig.axes[1]
    e = lines(top)["E / N"]
    np.testing.assert_array_equal(e.get_xdata(), ds["sweep"].values)
    np.testing.assert_allclose(e.get_ydata(), ds["energy"].values / 64)
    cue = lines(bottom)["pattern 0 (cue)"]
    np.testing.assert_array_equal(cue.get_ydata(), ds["overlap"].values[:, 0])
    assert top.get_ylabel() == "energy per unit E / N"
    assert bottom.get_xlabel() == "sweep" and bottom.get_ylabel() == "overlap m"
    assert fig._suptitle.get_text().startswith("Hopfield dynamics")
    assert rid[:10] in caption(fig) and "network.rule=hebbian" in caption(fig) and "network.n_units=64" in caption(fig)
    assert bottom.get_legend() is not None


def test_state_raster_draws_the_states_and_strides_long_runs(store):
    ds = source.open_run(store, run_id(store, "hop", **{"network.rule": "hebbian", "patterns.load": 0.25}))
    state = ds["state"].values
    fig = hopfield.state_raster(ds)
    img = fig.axes[0].get_images()[0].get_array()
    np.testing.assert_array_equal(np.asarray(img), state)
    fig = hopfield.state_raster(ds, most_rows=2, most_cols=10)
    img = np.asarray(fig.axes[0].get_images()[0].get_array())
    s0 = math.ceil(state.shape[0] / 2)
    s1 = math.ceil(64 / 10)
    np.testing.assert_array_equal(img, state[::s0, ::s1])
    assert img.shape[0] <= 2 and img.shape[1] <= 10
    assert "every 7th" in fig.axes[0].get_xlabel()


def test_hopfield_digits_patterns_and_recall_as_images(store):
    ds = source.open_run(store, run_id(store, "hop-digits"))
    fig = hopfield.patterns_recall(ds)
    panels = common.image_panels(fig)
    assert len(panels) == 3 + 2  # the patterns, the cue state, the final state
    np.testing.assert_array_equal(
        np.asarray(panels[1].get_images()[0].get_array()), ds["patterns"].values[1].reshape(8, 8)
    )
    np.testing.assert_array_equal(
        np.asarray(panels[-1].get_images()[0].get_array()), ds["final_state"].values.reshape(8, 8)
    )
    assert panels[1].get_title() == "pattern 1 (cue)"
    assert panels[-2].get_title() == "initial state"
    # random patterns are not images
    other = source.open_run(store, run_id(store, "hop", **{"network.rule": "hebbian", "patterns.load": 0.05}))
    with pytest.raises(common.PlotError, match="not images"):
        hopfield.patterns_recall(other)


def test_capacity_curve_is_the_replicate_mean_per_rule_with_alpha_c(store):
    df = source.runs_frame(store, "hop")
    fig = hopfield.capacity(df)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "load α = P / N"
    vlines = [ln for ln in ax.get_lines() if ln.get_label().startswith("α_c")]
    assert len(vlines) == 1 and list(vlines[0].get_xdata()) == [0.138, 0.138]
    for rule in ("hebbian", "pseudoinverse"):
        line = lines(ax)[rule]
        sub = df[df["network.rule"] == rule]
        loads = sorted(sub["load"].unique())
        np.testing.assert_allclose(line.get_xdata(), loads)
        want = [sub[sub["load"] == a]["recalled"].astype(float).mean() for a in loads]
        np.testing.assert_allclose(line.get_ydata(), want)
    assert "hop" in caption(fig) and "standard error" in caption(fig)


# --------------------------------------------------------------------------- Ising


def test_transition_draws_onsager_exact_curves(store):
    from scipy.special import ellipk

    df = source.runs_frame(store, "ising-tiny")
    fake = [{"sizes": (4, 8), "t_cross": 2.25, "binder": 0.61}]
    fig = ising.transition(df, fake)
    by_title = {ax.get_title(): ax for ax in fig.axes}
    mag = next(ln for ln in by_title["magnetization"].get_lines() if ln.get_gid() == "onsager_magnetization")
    t, m = mag.get_xdata(), mag.get_ydata()
    for temp in (1.9, 2.1, 2.2):
        i = np.argmin(abs(t - temp))
        assert m[i] == pytest.approx((1 - math.sinh(2 / t[i]) ** -4) ** 0.125, rel=1e-12)
    assert np.all(m[t > ising.T_C] == 0)
    en = next(ln for ln in by_title["energy"].get_lines() if ln.get_gid() == "onsager_energy")
    t, u = en.get_xdata(), en.get_ydata()
    for temp in (1.9, 2.5, 2.9):
        i = np.argmin(abs(t - temp))
        b = 1 / t[i]
        k = 2 * math.sinh(2 * b) / math.cosh(2 * b) ** 2
        exact = -1 / math.tanh(2 * b) * (1 + 2 / math.pi * (2 * math.tanh(2 * b) ** 2 - 1) * ellipk(k * k))
        assert u[i] == pytest.approx(exact, rel=1e-10)
    cross = next(ln for ln in by_title["Binder cumulant"].get_lines() if ln.get_gid() == "binder_crossing")
    assert list(cross.get_xdata()) == [2.25] and list(cross.get_ydata()) == [0.61]
    # the measured curves are the replicate means per size
    l8 = lines(by_title["Binder cumulant"])["L = 8"]
    sub = df[df["size"] == 8]
    np.testing.assert_allclose(l8.get_xdata(), [1.8, 2.3, 2.8])
    np.testing.assert_allclose(l8.get_ydata(), [sub[sub["temperature"] == x]["binder"].mean() for x in (1.8, 2.3, 2.8)])
    for ax in fig.axes[:5]:
        assert ax.get_xlabel().startswith("temperature T") and ax.get_ylabel()
        tc = [ln for ln in ax.get_lines() if ln.get_label().startswith("T_c")]
        assert tc and tc[0].get_xdata()[0] == pytest.approx(2 / math.log(1 + math.sqrt(2)))


def test_transition_through_the_registry_marks_binder_crossings(store):
    t = plots.load_target(store, "ising-tiny")
    assert plots.natural_kind(t) == "transition"
    fig = plots.draw(t)
    from dynet.analysis import binder_crossings

    want = binder_crossings(store, "ising-tiny")
    ax = next(a for a in fig.axes if a.get_title() == "Binder cumulant")
    got = [(ln.get_xdata()[0], ln.get_ydata()[0]) for ln in ax.get_lines() if ln.get_gid() == "binder_crossing"]
    assert got == [(c["t_cross"], c["binder"]) for c in want]


def test_ising_series_and_lattice_snapshots(store):
    ds = source.open_run(store, run_id(store, "ising-tiny", **{"lattice.size": 8, "dynamics.temperature": 2.3}))
    fig = ising.ising_series(ds)
    m = lines(fig.axes[0])["m(t)"]
    np.testing.assert_array_equal(m.get_xdata(), ds["sweep"].values)
    np.testing.assert_array_equal(m.get_ydata(), ds["magnetization"].values)
    fig = ising.ising_series(ds, most=50)
    assert len(lines(fig.axes[0])["m(t)"].get_xdata()) <= 50
    fig = ising.lattice_snapshots(ds)
    panels = common.image_panels(fig)
    assert len(panels) == 2 + ds.sizes["snapshot"]
    np.testing.assert_array_equal(np.asarray(panels[-1].get_images()[0].get_array()), ds["final_lattice"].values)
    np.testing.assert_array_equal(np.asarray(panels[1].get_images()[0].get_array()), ds["lattice"].values[0])


# --------------------------------------------------------------------------- feedforward


def test_training_curves_and_learning_rate_twin_axis(store):
    ds = source.open_run(store, run_id(store, "xor-tiny"))
    fig = feedforward.training(ds)
    loss_ax = fig.axes[0]
    np.testing.assert_allclose(lines(loss_ax)["train loss"].get_ydata(), ds["train_loss"].values)
    np.testing.assert_array_equal(lines(loss_ax)["train loss"].get_xdata(), ds["epoch"].values)
    lr_ax = next(ax for ax in fig.axes if ax.get_ylabel() == "learning rate")
    np.testing.assert_allclose(lines(lr_ax)["learning rate"].get_ydata(), ds["lr"].values)
    assert fig.axes[1].get_ylabel() == "accuracy"
    np.testing.assert_allclose(lines(fig.axes[1])["validation"].get_ydata(), ds["val_metric"].values)


def test_gradient_norms_per_layer_on_a_log_scale(store):
    ds = source.open_run(store, run_id(store, "xor-tiny"))
    fig = feedforward.gradients(ds)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "epoch"
    g = ds["grad_norm"].values
    for l in range(g.shape[1]):
        line = lines(ax)[f"layer {l}"]
        ok = np.isfinite(g[:, l]) & (g[:, l] > 0)
        np.testing.assert_allclose(line.get_ydata(), g[ok, l])


def test_decision_regions_rebuild_the_trained_network(store):
    ds = source.open_run(store, run_id(store, "xor-tiny"))
    info = common.run_info(ds)
    x, y, splits, norm = feedforward.rebuild_data(info)
    # the forward pass from the stored weights reproduces the stored training accuracy
    tr = splits["train"]
    logits = feedforward.forward(ds, info, x[tr] if norm is None else (x[tr] - norm[0]) / norm[1])
    acc = (
        float(((logits[:, 0] > 0).astype(int) == y[tr]).mean())
        if logits.shape[1] == 1
        else float((logits.argmax(axis=1) == y[tr]).mean())
    )
    assert acc == pytest.approx(info["metrics"]["train_metric"])
    fig = feedforward.decision_regions(ds, resolution=60)
    ax = fig.axes[0]
    assert ax._dynet_predicted.shape == (60, 60)
    pts = [c for c in ax.collections if (c.get_gid() or "").startswith("points_train")]
    assert sum(len(c.get_offsets()) for c in pts) == len(tr)
    assert ax.get_xlabel().startswith("x₁") and ax.get_legend() is not None


def test_weight_histograms_count_every_weight(store):
    ds = source.open_run(store, run_id(store, "xor-tiny"))
    fig = feedforward.weight_histograms(ds)
    for l in (0, 1):
        ax = fig.axes[l]
        final = [p for p in ax.patches if p.get_label() == "final" or p.get_facecolor()[:3] != (0.75, 0.75, 0.75)]
        assert ax.get_xlabel() == "weight"
        heights = sum(p.get_height() for p in ax.containers[-1])
        assert heights == ds[f"weight_{l}"].size
        assert final


# --------------------------------------------------------------------------- RBM


def test_rbm_filters_and_samples_as_image_grids(store):
    ds = source.open_run(store, run_id(store, "rbm-tiny"))
    fig = generative.filters(ds)
    panels = common.image_panels(fig)
    W = ds["weights"].values
    assert len(panels) == W.shape[1]
    np.testing.assert_allclose(np.asarray(panels[2].get_images()[0].get_array()), W[:, 2].reshape(3, 3))
    fig = generative.samples(ds)
    panels = common.image_panels(fig)
    assert len(panels) == 3 * 4  # 3 chains x 4 recorded steps
    step, chain = ds["sample_step"].values, ds["sample_chain"].values
    row = np.flatnonzero((step == 5) & (chain == 0))[0]
    np.testing.assert_array_equal(
        np.asarray(panels[0].get_images()[0].get_array()), ds["samples"].values[row].reshape(3, 3)
    )


def test_ais_estimates_with_error_bars_beside_the_exact_value(store):
    ds = source.open_run(store, run_id(store, "rbm-tiny"))
    fig = generative.ais(ds)
    ax = fig.axes[0]
    z, se = ds["log_z_ais"].values, ds["log_z_ais_se"].values
    ok = np.isfinite(z)
    assert ok.sum() == 3  # epochs 0, 3 and 6
    pts = next(c for c in ax.containers if c.lines[0].get_gid() == "ais" or c.get_label() == "AIS ± se")
    np.testing.assert_allclose(pts.lines[0].get_ydata(), z[ok])
    exact = lines(ax)["exact log Z"]
    np.testing.assert_allclose(exact.get_ydata(), ds["log_z"].values)
    assert ax.get_ylabel() == "log Z (nats)"
    seg = pts.lines[2][0].get_segments()
    np.testing.assert_allclose([s[1][1] - s[0][1] for s in seg], 2 * se[ok])


def test_rbm_training_panels(store):
    ds = source.open_run(store, run_id(store, "rbm-tiny"))
    fig = generative.rbm_training(ds)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert {"reconstruction", "pseudo-likelihood", "log-likelihood", "free-energy gap"} <= set(titles)
    ll = next(ax for ax in fig.axes if ax.get_title() == "log-likelihood")
    np.testing.assert_allclose(lines(ll)["train (exact)"].get_ydata(), ds["train_log_likelihood"].values)


# --------------------------------------------------------------------------- sweeps


def test_sweep_metric_lines_are_replicate_means_with_sem(store):
    df = source.runs_frame(store, "hop")
    fig = sweep.metric_plot(df, "final_overlap", "patterns.load")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "patterns.load" and ax.get_ylabel() == "final_overlap"
    heb = lines(ax)["network.rule=hebbian"]
    sub = df[df["network.rule"] == "hebbian"]
    want = [sub[sub["patterns.load"] == a]["final_overlap"] for a in (0.05, 0.25)]
    np.testing.assert_allclose(heb.get_ydata(), [w.mean() for w in want])
    cont = next(c for c in ax.containers if c.get_label() == "network.rule=hebbian")
    seg = cont.lines[2][0].get_segments()
    sems = [w.std(ddof=1) / math.sqrt(len(w)) for w in want]
    np.testing.assert_allclose([(s[1][1] - s[0][1]) / 2 for s in seg], sems, atol=1e-12)
    with pytest.raises(common.PlotError, match="not in these runs"):
        sweep.metric_plot(df, "no_such_metric")


def test_every_registered_kind_draws(store):
    """Each kind the registry offers for these runs and sweeps draws a titled, captioned figure."""
    targets = ["hop", "hop-digits", "ising-tiny", "xor-tiny", "rbm-tiny"]
    targets += [run_id(store, s) for s in ("hop-digits", "xor-tiny", "rbm-tiny")]
    targets.append(run_id(store, "ising-tiny", **{"lattice.size": 4, "dynamics.temperature": 1.8}))
    drawn = 0
    for name in targets:
        t = plots.load_target(store, name)
        for kind in plots.target_kinds(t):
            fig = plots.draw(t, kind)
            assert fig._suptitle.get_text(), (name, kind)
            assert caption(fig), (name, kind)
            for ax in fig.axes:
                if (
                    ax.get_visible()
                    and ax.has_data()
                    and not getattr(ax, "_dynet_image_panel", False)
                    and ax.get_images() == []
                ):
                    assert ax.get_xlabel() or ax.get_ylabel(), (name, kind, ax.get_title())
            drawn += 1
    assert drawn >= 25


# --------------------------------------------------------------------------- CLI


def test_cli_plot_writes_images_and_lists_kinds(store, tmp_path):
    runner = CliRunner()
    rid = run_id(store, "hop-digits")
    out = tmp_path / "p.png"
    res = runner.invoke(main, ["plot", store, rid[:8], "--kind", "patterns", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "cap.svg"
    res = runner.invoke(main, ["plot", store, "hop", "-o", str(svg)])  # natural kind: the capacity curve
    assert res.exit_code == 0, res.output
    assert "capacity" in res.output and b"<svg" in svg.read_bytes()[:400]
    res = runner.invoke(main, ["plot", store, rid, "--kind", "list"])
    assert res.exit_code == 0
    assert {"energy", "raster", "patterns"} <= {line.split()[0] for line in res.output.splitlines()}


def test_cli_plot_errors_are_one_line_exit_2(store, tmp_path):
    runner = CliRunner()
    rid = run_id(store, "xor-tiny")
    res = runner.invoke(main, ["plot", store, rid, "--kind", "capacity", "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 2
    assert res.stderr.splitlines()[0].startswith("error: no plot kind 'capacity'")
    assert "decision" in res.stderr and not (tmp_path / "x.png").exists()
    res = runner.invoke(main, ["plot", store, "nonesuch", "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and res.stderr.startswith("error: 'nonesuch' is neither a scenario nor a run id")
    res = runner.invoke(main, ["plot", store, rid, "-o", str(tmp_path / "x.gif")])
    assert res.exit_code == 2 and ".png, .svg or .pdf" in res.stderr
    res = runner.invoke(main, ["plot", str(tmp_path / "nostore"), rid, "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and res.stderr.startswith("error: ") and "Traceback" not in res.output
    assert not os.path.exists(tmp_path / "x.png")


def test_raster_of_a_long_run_reads_only_what_it_draws():
    """A 20000-sweep state array (lazy, chunked) is strided before it is read: the raster
    reads exactly the 400 rows it draws."""
    import dask.array as dsa

    class Counting:  # an array that counts the elements read from it
        def __init__(self, a):
            self.a, self.shape, self.dtype, self.ndim, self.read = a, a.shape, a.dtype, a.ndim, 0

        def __getitem__(self, key):
            out = self.a[key]
            self.read += out.size
            return out

    state = np.where(np.random.default_rng(0).random((20000, 300)) < 0.5, 1, -1).astype(np.int8)
    backing = Counting(state)
    ds = xr.Dataset(
        {"state": (("sweep", "unit"), dsa.from_array(backing, chunks=(1000, 300), asarray=False))},
        coords={"sweep": np.arange(0, 40000, 2)},
    )
    ds.attrs.update(run_id="r", scenario="s", model="hopfield", config={}, params={}, replicate=0, metrics={})
    fig = hopfield.state_raster(ds)
    img = np.asarray(fig.axes[0].get_images()[0].get_array())
    np.testing.assert_array_equal(img, state[::50])
    assert backing.read == img.size == 400 * 300
    assert fig.axes[0].get_ylabel() == "sweep (every 50th record)"


def test_ais_sweep_shows_the_difference_from_the_exact_log_z(store):
    df = source.runs_frame(store, "rbm-tiny")
    fig = generative.ais_sweep(df)
    diff = next(c for ax in fig.axes for c in ax.containers if c.lines[0].get_gid() == "ais_minus_exact")
    want = df["log_z_ais"].astype(float).to_numpy() - df["log_z"].astype(float).to_numpy()
    np.testing.assert_allclose(np.asarray(diff.lines[0].get_xdata(), float), want)
    assert fig.axes[1].get_xlabel() == "AIS − exact log Z (nats)"


def test_gradient_profile_against_depth(store):
    t = plots.load_target(store, "xor-tiny")
    assert "gradients" in plots.target_kinds(t)
    fig = plots.draw(t, "gradients")
    ds = source.open_run(store, run_id(store, "xor-tiny"))
    g = ds["grad_norm"].values
    epoch = ds["epoch"].values
    first = next(ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "profile_first_0")
    last = next(ln for ln in fig.axes[1].get_lines() if ln.get_gid() == "profile_last_0")
    np.testing.assert_allclose(first.get_ydata(), g[np.flatnonzero(epoch == 1)[0]])
    np.testing.assert_allclose(last.get_ydata(), g[-1])
    np.testing.assert_array_equal(first.get_xdata(), np.arange(g.shape[1]))
    assert fig.axes[0].get_yscale() == "log" and fig.axes[0].get_xlabel() == "layer (0 = input side)"


def test_curves_are_replicate_means_per_sweep_point(store):
    t = plots.load_target(store, "hop")
    fig = plots.draw(t, "curves")
    ax = fig.axes[0]
    label = "network.rule=hebbian, patterns.load=0.05 (mean of 2)"
    line = lines(ax)[label]
    runs = [
        source.open_run(store, r["run_id"])
        for r in api.list_runs(store)
        if r["scenario"] == "hop" and r["params"] == {"network.rule": "hebbian", "patterns.load": 0.05}
    ]
    n = max(ds.sizes["sweep"] for ds in runs)
    padded = [np.r_[ds["energy"].values, np.full(n - ds.sizes["sweep"], ds["energy"].values[-1])] for ds in runs]
    np.testing.assert_allclose(line.get_ydata(), np.mean(padded, axis=0))
    assert ax.get_xlabel() == "sweep"


def test_every_model_kind_has_default_curves():
    """`dynet plot --kind curves` without --metric draws a kind's default trajectory: every kind
    names one (the dam and modern-hopfield kinds once had none: 'these runs recorded none of ?')."""
    from dynet import models

    assert set(models.REGISTRY) <= set(sweep.CURVE_DEFAULTS)
    with pytest.raises(plots.PlotError, match="toy runs have no default trajectory: name one with --metric"):
        sweep.curves([xr.Dataset({"energy": ("sweep", [1.0, 0.5])})], None, "toy")
