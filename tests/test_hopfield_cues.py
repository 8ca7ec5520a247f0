"""Multi-cue Hopfield runs: ``init.pattern`` a list of indices or "all" cues each pattern of one
network in turn, one trajectory per cue along a ``cue`` dimension (dynet/models/hopfield/driver.py
``simulate_cues`` / ``run_cues``)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from dynet import api
from dynet import store as S
from dynet.errors import ScenarioError
from dynet.models.hopfield import driver as H
from dynet.scenario import parse_scenario

DOC = {
    "name": "cues",
    "model": "hopfield",
    "seed": 7,
    "network": {"n_units": 64},
    "patterns": {"source": "random", "count": 8},
    "init": {"kind": "flip", "pattern": "all", "fraction": 0.2},
    "dynamics": {"update": "async-permutation", "max_sweeps": 30},
}


def doc(**over):
    d = copy.deepcopy(DOC)
    for key, value in over.items():
        node = d
        *path, last = key.split(".")
        for k in path:
            node = node[k]
        node[last] = value
    return d


def cues_of(d, seed_sequence=None):
    spec = parse_scenario(d).runs[0]
    return H.simulate_cues(spec.settings, seed_sequence or spec.seed_sequence())


@pytest.mark.parametrize(
    "init,temperature",
    [({"kind": "flip"}, 0.0), ({"kind": "mask", "region": "random"}, 0.0), ({"kind": "flip", "fraction": 0.3}, 0.5)],
)
def test_a_cue_trajectory_does_not_depend_on_the_other_cues(init, temperature):
    # the run's seed hashes its config, so both runs get the same seed sequence here: the same network
    def ss():
        return np.random.SeedSequence(2024, spawn_key=(3, 0))  # what RunSpec.seed_sequence() gives, fresh

    over = {"init": {**init, "pattern": [3]}, "record": {"every": 2}, "dynamics.temperature": temperature}
    one = cues_of(doc(**over), ss())
    over["init"] = {**init, "pattern": [0, 3, 5]}
    three = cues_of(doc(**over), ss())
    np.testing.assert_array_equal(one[0], three[0])  # the same patterns
    assert list(one[3]) == [3] and list(three[3]) == [0, 3, 5]
    a, b = one[4], three[4]
    rows = a["flips"][0][0] >= 0  # the sweeps cue 3 recorded (-1: padding)
    sweeps = a["sweep"][0][rows]
    assert len(sweeps) >= 2 and sweeps[-1] == a["cue_sweeps"][0][0]
    assert temperature == 0 or sweeps[-1] == DOC["dynamics"]["max_sweeps"]
    at = np.searchsorted(b["sweep"][0], sweeps)
    np.testing.assert_array_equal(b["sweep"][0][at], sweeps)
    for name in ("state", "energy", "overlap", "flips"):
        np.testing.assert_array_equal(a[name][0][0][rows], b[name][0][1][at], err_msg=name)
        assert a[name][0].dtype == b[name][0].dtype
    np.testing.assert_array_equal(b["flips"][0][1][np.setdiff1d(np.arange(len(b["sweep"][0])), at)], -1)
    for name in ("initial_state", "final_state", "cue_final_overlap", "cue_recalled", "cue_sweeps"):
        np.testing.assert_array_equal(a[name][0][0], b[name][0][1], err_msg=name)


def test_a_cue_list_keeps_the_network_of_a_single_cue_run():
    """Patterns and weights come from the run's child 0 as in a single-cue run; only the cue's
    noise and the update order are drawn from the cue's own streams."""
    single = parse_scenario(doc(**{"init.pattern": 2})).runs[0].settings
    pats, w, scale, _, _ = H.build(single, np.random.SeedSequence(5, spawn_key=(1, 0)))
    multi = cues_of(doc(), np.random.SeedSequence(5, spawn_key=(1, 0)))
    np.testing.assert_array_equal(multi[0], pats)
    np.testing.assert_array_equal(multi[1], w)
    assert multi[2] == scale


def recall_fraction(load, seed):
    d = doc(**{"network.n_units": 200, "patterns": {"source": "random", "load": load}, "seed": seed})
    d["init"]["fraction"] = 0.1
    d["record"] = {"state": False}
    return cues_of(d)[5]["recall_fraction"]


def test_recall_fraction_follows_the_hebbian_capacity():
    # Amit, Gutfreund & Sompolinsky: alpha_c ~ 0.138 for the Hebbian rule
    low = [recall_fraction(0.05, seed) for seed in range(2)]
    high = [recall_fraction(0.3, seed) for seed in range(2)]
    assert min(low) >= 0.95, low
    assert max(high) <= 0.2, high


@pytest.mark.parametrize(
    "pattern,message",
    [
        ([0, 8], "init.pattern: 8 is out of range for 8 patterns"),
        ([1, 2, 1], "init.pattern: 1 is listed twice (each pattern is cued once)"),
        ([], "init.pattern: an empty list cues nothing (give indices, or 'all')"),
        ([-1], "init.pattern: -1 is not a pattern index (indices are >= 0)"),
        ("some", "init.pattern: expected a pattern index, a list of indices or 'all' (got 'some')"),
    ],
)
def test_a_bad_cue_list_is_one_line_naming_init_pattern(pattern, message):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc(**{"init.pattern": pattern}), "x.toml")
    assert info.value.lines == [f"x.toml: {message}"]


def test_a_cue_out_of_range_of_image_patterns_is_a_preflight_problem():
    d = doc(patterns={"source": "images", "count": 4}, network={})
    d["init"]["pattern"] = [1, 4]
    spec = parse_scenario(d).runs[0]
    assert H.preflight(spec.config, ".") == ["init.pattern: 4 is out of range for 4 patterns"]
    d["init"]["pattern"] = "all"
    assert H.preflight(parse_scenario(d).runs[0].config, ".") == []


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("cues") / "runs.zarr")
    S.open_store(path, create=True)
    d = doc(**{"init.pattern": [6, 1, 4], "record": {"every": 3}})
    spec = parse_scenario(d).runs[0]
    result = api.execute_run(path, spec)
    assert result["status"] == "complete", result
    return path, spec, result["metrics"]


def test_a_multi_cue_run_stores_its_cues_along_cue(stored):
    path, spec, metrics = stored
    arrays = {name: S.read_run_array(path, spec.run_id, name) for name in ("cue", "state", "overlap", "cue_recalled")}
    cue, dims = arrays["cue"]
    assert list(cue) == [6, 1, 4] and dims == ("cue",)
    assert arrays["state"][1] == ("cue", "sweep", "unit") and arrays["state"][0].shape[::2] == (3, 64)
    assert arrays["overlap"][1] == ("cue", "sweep", "pattern")
    recalled = arrays["cue_recalled"][0]
    assert metrics["n_cues"] == 3 and metrics["recall_fraction"] == pytest.approx(recalled.mean())
    assert metrics["mean_final_overlap"] == pytest.approx(
        S.read_run_array(path, spec.run_id, "cue_final_overlap")[0].mean()
    )
    group = S.open_store(path)[S.run_path(spec.run_id)]
    rows = group["state"].shape[1]
    assert group["state"].chunks == (3, rows, 64)  # whole cues per chunk: a reader takes one cue whole
    again = H.simulate_cues(spec.settings, spec.seed_sequence())[4]
    np.testing.assert_array_equal(S.read_run_array(path, spec.run_id, "energy")[0], again["energy"][0])


def test_the_analysis_reader_opens_a_multi_cue_run(stored):
    pytest.importorskip("xarray")
    import dynet

    path, spec, metrics = stored
    ds = dynet.open_store(path).run(spec.run_id)
    assert ds["state"].dims == ("cue", "sweep", "unit")
    assert ds["energy"].dims == ("cue", "sweep")
    assert ds["cue_final_overlap"].dims == ("cue",) and ds["initial_state"].dims == ("cue", "unit")
    assert list(ds["cue"].values) == [6, 1, 4]
    assert ds["temperature"].dims == ("sweep",) and "temperature" in ds.coords
    sweeps = ds["sweep"].values
    assert sweeps[0] == 0 and np.all(np.diff(sweeps) > 0)
    one = ds["overlap"].sel(cue=1).values
    last = int(ds["cue_sweeps"].sel(cue=1))
    assert one[list(sweeps).index(last), 1] == pytest.approx(float(ds["cue_final_overlap"].sel(cue=1)))
    assert ds["cue_final_overlap"].attrs.get("long_name")


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory):
    """Every cue of small Hebbian networks at two loads, two replicates each."""
    path = str(tmp_path_factory.mktemp("cue-sweep") / "runs.zarr")
    S.open_store(path, create=True)
    d = doc(**{"network.n_units": 100, "patterns": {"source": "random", "load": 0.05}, "record": {"state": False}})
    d["sweep"] = {"replicates": 2, "grid": {"patterns.load": [0.05, 0.3]}}
    for spec in parse_scenario(d).runs:
        assert api.execute_run(path, spec)["status"] == "complete"
    return path


def test_the_capacity_plot_draws_the_recall_fraction_over_every_cue(sweep_store):
    pytest.importorskip("matplotlib")
    from dynet import plots
    from dynet.plots import hopfield, source

    df = source.runs_frame(sweep_store, "cues")
    fig = hopfield.capacity(df)
    recall_ax, overlap_ax = fig.axes[:2]
    assert "over every cue" in recall_ax.get_ylabel()
    for ax, metric in ((recall_ax, "recall_fraction"), (overlap_ax, "mean_final_overlap")):
        (line,) = [c.lines[0] for c in ax.containers if c.get_label() == "all"]  # the error-bar line
        loads = sorted(df["load"].unique())
        np.testing.assert_allclose(line.get_xdata(), loads)
        np.testing.assert_allclose(line.get_ydata(), [df[df["load"] == a][metric].mean() for a in loads])
        assert line.get_ydata()[0] >= 0.95  # alpha = 0.05: (nearly) every cue recalled
    assert list(plots.kinds(sweep_store, "cues"))[0] == "capacity"


def test_the_run_plot_draws_each_cue_against_its_own_pattern(stored):
    pytest.importorskip("matplotlib")
    from dynet.plots import hopfield, source

    path, spec, metrics = stored
    ds = source.open_run(path, spec.run_id)
    fig = hopfield.energy_overlaps(ds)
    overlap_ax = fig.axes[1]
    drawn = [ln for ln in overlap_ax.get_lines() if (ln.get_gid() or "").startswith("cue ")]
    assert [ln.get_gid() for ln in drawn] == ["cue 6", "cue 1", "cue 4"]
    sweeps = ds["sweep"].values
    for c, line in zip(ds["cue"].values, drawn):
        want = ds["overlap"].sel(cue=c).values[:, c]
        ok = np.isfinite(want)
        np.testing.assert_array_equal(line.get_xdata(), sweeps[ok])
        np.testing.assert_array_equal(line.get_ydata(), want[ok])
    assert "recall_fraction" in fig._dynet_caption
