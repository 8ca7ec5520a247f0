"""Trustworthy results under bad input: what a run's identity includes (the content of the
files it reads), scenario files that are not text, repeated sweep values, data files that
are not what they claim, and the expansion of large sweeps."""

import copy
import glob
import hashlib
import itertools
import json
import os
import threading

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import SCENARIOS

from dynet import api
from dynet import data as D
from dynet import scenario as S
from dynet.cli import main
from dynet.models.hopfield import driver as H
from dynet.scenario import ScenarioError, load_scenario, parse_scenario

# The run ids of every shipped scenario, computed before run identities included file
# contents: (runs, first run id, sha256 of every "run_id:point_key:replicate"). None of
# these scenarios reads a user file, so none may change.
SHIPPED_IDS = {
    "bm-annealing-spurious.toml": (18, "03426ad37f438fb0", "64c716e595f1566f"),
    "bm-bars-stripes.toml": (3, "72c84d861cab3d73", "fc7a1d6ae2e3c5dc"),
    "bm-tempering-lattice.toml": (8, "08e9e40204ba0b53", "e5c4b8dfd06d6df5"),
    "dam-capacity.toml": (130, "c7c0d4b7783740b0", "26e59246a9a908ac"),
    "dam-recall.toml": (1, "c56138036c0d030e", "d9ebf02b51caafd6"),
    "dbm-bars-stripes.toml": (2, "170a434f5687870f", "f0c0cfcbbc6e0712"),
    "dbm-digits.toml": (2, "7c6c4fc76e7a19b8", "3bcf51f8c57fdbae"),
    "dbn-digits.toml": (16, "4ae04d1d93ff7647", "7564a3e54f5b4f79"),
    "ff-autoencoder-digits.toml": (3, "7f1d0d7d50cb3500", "037f7416bc9d60ef"),
    "ff-init-deep.toml": (10, "0fae95811d79f227", "36cdaa0fc39539f3"),
    "ff-linear-regression.toml": (9, "67a72e77a8a8d559", "25561f842be90025"),
    "ff-optimizers.toml": (28, "14f22b272f487d9a", "66f3ee7560c1323a"),
    "ff-regularization.toml": (12, "1b607105a7e9e614", "de7037b3470b71f5"),
    "ff-schedules.toml": (9, "f7d42d5f2778e0ff", "a3ae4fed76fd220a"),
    "ff-transfer-digits.toml": (9, "9842b973acafa751", "5b5f89bd9246c408"),
    "ff-xor.toml": (10, "1ff8c5a7f0067f42", "f30e9ed17df2543e"),
    "graded-hopfield-gain.toml": (26, "00b27d4bc47602e9", "6c9c87e73b5b37a7"),
    "graded-hopfield-recall.toml": (1, "86d0e9cb9ce1ba05", "004bf2ce353b47a2"),
    "hopfield-annealing.toml": (8, "bcec4c335b861905", "c7818ebfeab05e16"),
    "hopfield-capacity.toml": (165, "8515f2052de51916", "96fee8094f4b210b"),
    "hopfield-capacity-all-cues.toml": (30, "9bb3bb450c5ad1fc", "5ef241f76d564727"),
    "hopfield-digits.toml": (24, "78c26440aca62220", "2c4cf4edc9d97f1a"),
    "hopfield-quickstart.toml": (12, "0c287d7ef4284803", "8fb0de8b50ac604b"),
    "ising-transition.toml": (78, "f83bced69063f085", "c9f73afcb98700f4"),
    "modern-hopfield-beta.toml": (28, "7c4109c84568c016", "34671852cab48756"),
    "modern-hopfield-recall.toml": (1, "a00cb23389ab4867", "d9c2deae327ccd75"),
    "rbm-bars-stripes.toml": (6, "40961cd143d44e00", "f62605951acd3ae5"),
    "rbm-digits-ais.toml": (4, "012d34d20189def4", "da01be8e9798ddf6"),
    "rbm-digits.toml": (6, "32d1c149a9203b6e", "d8b59722d8942f46"),
    "rbm-gaussian-digits.toml": (2, "7215376cdd256978", "8108836599180a8e"),
    "rnn-adding.toml": (2, "c843c125e7ca3a6b", "63c313e5425cda40"),
    "rnn-spectral-radius.toml": (7, "4ba5a64ddf0d8a6a", "3bfe1c3759c58d0f"),
}

PATTERNS_TOML = """
name = "f"
model = "hopfield"
seed = 1
[patterns]
source = "file"
path = "p.npy"
[init]
kind = "flip"
fraction = 0.1
[dynamics]
max_sweeps = 5
"""


@pytest.fixture
def runner():
    return CliRunner()


def _patterns(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(np.array([-1, 1], np.int8), (3, 40))


def _folder(tmp_path, name: str, pattern_seed: int, toml: str = PATTERNS_TOML) -> str:
    d = tmp_path / name
    d.mkdir()
    np.save(d / "p.npy", _patterns(pattern_seed))
    (d / "s.toml").write_text(toml)
    return str(d / "s.toml")


# --------------------------------------------------------------------------- identity


def test_shipped_scenarios_keep_their_run_ids_and_seeds():
    files = sorted(glob.glob(os.path.join(SCENARIOS, "*.toml")))
    assert sorted(os.path.basename(f) for f in files) == sorted(SHIPPED_IDS)
    for f in files:
        runs = load_scenario(f).runs
        digest = hashlib.sha256(
            ";".join(f"{r.run_id}:{r.seed['spawn_key'][0]}:{r.seed['spawn_key'][1]}" for r in runs).encode()
        ).hexdigest()[:16]
        assert (len(runs), runs[0].run_id, digest) == SHIPPED_IDS[os.path.basename(f)], f
        assert all("sha256" not in str(r.config) for r in runs)  # nothing of the new identity leaks in


def test_every_file_source_is_hashed():
    """Each table that may name a file the run reads (a model with a ``path``) is found."""
    tables = {kind: S._file_tables(cls) for kind, cls in S.scenario_models().items()}
    assert tables == {
        "hopfield": (("patterns",),),
        "dam": (),
        "modern-hopfield": (),
        "graded-hopfield": (),
        "feedforward": (("data",),),
        "rnn": (),
        "ising": (),
        "rbm": (("data",),),
        "dbm": (("data",),),
        "dbn": (),
        "boltzmann": (("data",), ("weights",)),
    }


def test_data_content_not_path_decides_the_run_id(tmp_path):
    a = load_scenario(_folder(tmp_path, "a", 1))
    b = load_scenario(_folder(tmp_path, "b", 2))  # same scenario text, other patterns
    same = load_scenario(_folder(tmp_path, "c", 1))  # same text and content in another folder
    (ra,), (rb,), (rc,) = a.runs, b.runs, same.runs
    assert ra.run_id != rb.run_id and ra.seed != rb.seed
    assert ra.run_id == rc.run_id and ra.seed == rc.seed
    digest = hashlib.sha256((tmp_path / "a" / "p.npy").read_bytes()).hexdigest()
    assert ra.config["patterns"]["sha256"] == digest  # recorded in the run's config (its attributes)
    assert ra.config["patterns"]["path"] == "p.npy"

    # edited in place: a new run
    np.save(tmp_path / "a" / "p.npy", _patterns(3))
    (ra2,) = load_scenario(tmp_path / "a" / "s.toml").runs
    assert ra2.run_id not in (ra.run_id, rb.run_id)
    # the run checks that it reads what its id names: an edit after validation fails it
    np.save(tmp_path / "a" / "p.npy", _patterns(4))
    with pytest.raises(D.DataError, match="changed since the scenario was validated"):
        H.build(ra2.settings, ra2.seed_sequence(), ra2.base_dir, ra2.config["patterns"]["sha256"])


def test_each_file_source_records_its_content(tmp_path):
    np.save(tmp_path / "w.npy", np.zeros((4, 4)))
    np.save(tmp_path / "v.npy", np.array([[0, 1, 1, 0], [1, 0, 0, 1]] * 5, np.uint8))
    (tmp_path / "d.csv").write_text("x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n" * 3)
    docs = {
        "weights": {
            "name": "w",
            "model": "boltzmann",
            "seed": 1,
            "network": {"visible": 4},
            "weights": {"source": "file", "path": "w.npy"},
            "dynamics": {"temperature": 1.0},
        },
        "rbm": {
            "name": "r",
            "model": "rbm",
            "seed": 1,
            "network": {"n_hidden": 2},
            "data": {"source": "file", "path": "v.npy"},
            "training": {"batch_size": 2},
        },
        "feedforward": {
            "name": "f",
            "model": "feedforward",
            "seed": 1,
            "data": {"source": "file", "path": "d.csv", "validation": 0.0, "standardize": False},
        },
    }
    for name, doc in docs.items():
        sc = parse_scenario(doc, str(tmp_path / "s.toml"))
        table = sc.runs[0].config["weights" if name == "weights" else "data"]
        path = tmp_path / table["path"]
        assert table["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), name
        before = sc.runs[0].run_id
        path.write_bytes(path.read_bytes() + (b"1,1,0\n" if path.suffix == ".csv" else b"\0"))
        assert parse_scenario(doc, str(tmp_path / "s.toml")).runs[0].run_id != before, name


def test_a_run_after_an_edit_in_place_runs_again(runner, tmp_path):
    path = _folder(tmp_path, "a", 1)
    store = str(tmp_path / "runs.zarr")
    first = json.loads(runner.invoke(main, ["run", path, "--store", store, "--workers", "1", "--json"]).stdout)
    assert (first["executed"], first["skipped"]) == (1, 0)
    again = json.loads(runner.invoke(main, ["run", path, "--store", store, "--workers", "1", "--json"]).stdout)
    assert (again["executed"], again["skipped"]) == (0, 1)
    np.save(tmp_path / "a" / "p.npy", _patterns(2))  # other data, same name
    res = runner.invoke(main, ["run", path, "--store", store, "--workers", "1", "--json"])
    edited = json.loads(res.stdout)
    assert (edited["executed"], edited["skipped"], edited["failed"]) == (1, 0, 0)
    assert edited["runs"][0]["run_id"] != first["runs"][0]["run_id"]
    runs = {r["run_id"]: r for r in api.list_runs(store)}
    assert set(runs) == {first["runs"][0]["run_id"], edited["runs"][0]["run_id"]}
    info = api.show_run(store, edited["runs"][0]["run_id"])
    assert info["config"]["patterns"]["sha256"] == hashlib.sha256((tmp_path / "a" / "p.npy").read_bytes()).hexdigest()


def test_a_missing_file_stays_a_clear_error(runner, tmp_path):
    path = _folder(tmp_path, "a", 1)
    os.remove(tmp_path / "a" / "p.npy")
    res = runner.invoke(main, ["validate", path])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {path}: patterns.path: {tmp_path / 'a' / 'p.npy'}: no such data file"


# --------------------------------------------------------------------------- scenario files


def _one_error(runner, args) -> str:
    res = runner.invoke(main, args)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.output
    return lines[0]


def test_scenario_files_that_are_not_text(runner, tmp_path):
    latin = tmp_path / "latin1.toml"
    latin.write_bytes('name = "café"\nmodel = "hopfield"\n'.encode("latin-1"))
    line = _one_error(runner, ["validate", str(latin)])
    assert "not UTF-8 text: byte 0xe9 at line 1, column 12" in line
    binary = tmp_path / "bin.toml"
    binary.write_bytes(bytes(range(256)) * 4)
    assert "not UTF-8 text" in _one_error(runner, ["validate", str(binary)])
    nul = tmp_path / "nul.toml"
    nul.write_bytes(b"name = 'x'\n\0\0\0")
    assert "invalid TOML" in _one_error(runner, ["validate", str(nul)])
    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * S.MAX_SCENARIO_BYTES + b"\n")
    assert "larger than 1 MiB" in _one_error(runner, ["validate", str(big)])
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply" in _one_error(runner, ["validate", str(deep)])
    assert _one_error(runner, ["validate", str(tmp_path)]) == (
        f"error: {tmp_path}: is a directory, not a scenario file"
    )
    bom = tmp_path / "bom.toml"
    bom.write_bytes(
        b"\xef\xbb\xbf"
        + PATTERNS_TOML.replace('"file"', '"random"\ncount = 2')
        .replace('path = "p.npy"', "")
        .replace("[patterns]", "[network]\nn_units = 20\n[patterns]")
        .encode()
    )
    assert runner.invoke(main, ["validate", str(bom)]).exit_code == 0


def test_devices_and_fifos_are_refused_without_reading(runner, tmp_path):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    out = {}

    def check():
        out["zero"] = _one_error(runner, ["validate", "/dev/zero"])
        out["fifo"] = _one_error(runner, ["validate", str(fifo)])

    t = threading.Thread(target=check, daemon=True)
    t.start()
    t.join(30)  # a generous deadline: reading /dev/zero or opening a FIFO would never return
    assert not t.is_alive()
    assert out["zero"] == "error: /dev/zero: is a character device, not a scenario file (a regular TOML file)"
    assert out["fifo"] == f"error: {fifo}: is a FIFO (named pipe), not a scenario file (a regular TOML file)"


def test_validate_json_reports_failure(runner, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\nmodel = "hopfield"\nseed = -1\n')
    res = runner.invoke(main, ["validate", str(path), "--json"])
    assert res.exit_code == 2
    out = json.loads(res.stdout)
    assert out["ok"] is False and out["scenario"] == str(path)
    assert out["errors"] and all(e.startswith(f"{path}: ") for e in out["errors"])
    assert res.stderr.strip().splitlines() == [f"error: {e}" for e in out["errors"]]
    good = _folder(tmp_path, "a", 1)
    ok = json.loads(runner.invoke(main, ["validate", good, "--json"]).stdout)
    assert ok["ok"] is True and len(ok["runs"]) == 1


# --------------------------------------------------------------------------- sweeps

BASE = {
    "name": "t",
    "model": "hopfield",
    "seed": 1,
    "network": {"n_units": 50},
    "patterns": {"source": "random", "count": 3},
    "init": {"kind": "flip", "fraction": 0.1},
}


def _errors(sweep) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(dict(BASE, sweep=sweep), "x.toml")
    return info.value.lines


def test_repeated_sweep_values_are_refused():
    assert _errors({"grid": {"init.fraction": [0.1, 0.2, 0.1]}}) == [
        "x.toml: sweep.grid.'init.fraction': the value 0.1 appears twice (it would be the same runs)"
    ]
    assert _errors({"zip": {"network.rule": ["hebbian", "storkey", "storkey"]}}) == [
        "x.toml: sweep.zip.'network.rule': the value 'storkey' appears twice (it would be the same runs)"
    ]
    assert _errors({"zip": {"init.fraction": [0.1, 0.2, 0.1], "patterns.count": [2, 3, 2]}}) == [
        "x.toml: sweep.zip: the row {init.fraction=0.1, patterns.count=2} appears twice (it would be the same runs)"
    ]
    # equal once validated: an integer where a float goes
    (line,) = _errors({"grid": {"init.fraction": [1, 1.0]}})
    assert line == (
        "x.toml: sweep: points {init.fraction=1} and {init.fraction=1.0} are the same run "
        "(their values are equal once validated)"
    )
    # a value repeated in one zip list is fine when the rows differ
    sc = parse_scenario(dict(BASE, sweep={"zip": {"init.fraction": [0.1, 0.1], "patterns.count": [2, 3]}}), "x.toml")
    assert len(sc.runs) == 2


def test_too_many_runs_are_refused_before_expanding():
    (line,) = _errors({"replicates": 1000, "grid": {"init.fraction": [i / 1000 for i in range(1000)]}})
    assert line == (
        "x.toml: sweep: 1,000 sweep point(s) x 1,000 replicate(s) = 1,000,000 runs; at most 100,000 "
        "per scenario (split the sweep into several scenarios)"
    )


def _reference_expansion(doc: dict, path: str) -> list[tuple]:
    """The expansion as it was: every point a deep copy of the document, validated in full."""
    cls = S.scenario_models()[doc["model"]]
    sweep = cls.model_validate(doc).sweep
    zip_rows = list(zip(*sweep.zip.values())) if sweep.zip else [()]
    out = []
    for combo in itertools.product(*sweep.grid.values()):
        for zrow in zip_rows:
            params = dict(zip(sweep.grid, combo)) | dict(zip(sweep.zip, zrow))
            d = copy.deepcopy(doc)
            d.pop("sweep", None)
            for key, value in params.items():
                node = d
                for k in key.split(".")[:-1]:
                    node = node.setdefault(k, {})
                node[key.split(".")[-1]] = value
            label = ", ".join(f"{k}={v!r}" for k, v in params.items())
            resolved = S._validate_doc(cls, d, path, context=f"sweep point {{{label}}}: " if params else "")
            config = resolved.model_dump(mode="json", exclude={"name", "description", "sweep"})
            for rep in range(sweep.replicates):
                run_id, point_key = S.run_identity(config, rep)
                out.append((run_id, params, rep, {"entropy": resolved.seed, "spawn_key": [point_key, rep]}, config))
    return out


def _expansion(doc, path="x.toml"):
    return [(r.run_id, r.params, r.replicate, r.seed, r.config) for r in parse_scenario(doc, path).runs]


def test_expansion_equals_full_validation_of_every_point():
    import tomllib

    for f in sorted(glob.glob(os.path.join(SCENARIOS, "*.toml"))):
        with open(f, "rb") as fh:
            doc = tomllib.load(fh)
        assert _expansion(doc, f) == _reference_expansion(doc, f), f
    ff = {
        "name": "t",
        "model": "feedforward",
        "seed": 3,
        "data": {"source": "xor"},
        "network": {"hidden": [4]},
        "optimizer": {"name": "adam", "lr": 0.01},
        "sweep": {
            "replicates": 2,
            "grid": {"optimizer.betas": [[0.9, 0.999], [0.5, 0.9]], "network.hidden": [[3], [5, 5]], "seed": [1, 2]},
            "zip": {"training.epochs": [3, 4], "regularization.l2": [0.0, 0.1]},
        },
    }
    ff["sweep"]["grid"]["regularization.dropout"] = [0.0, 0.2]
    assert _expansion(ff) == _reference_expansion(ff, "x.toml")
    # the rbm's checks fill in fields of its tables for Gaussian units: a table the point does
    # not change must not carry them over from the base or another point
    rbm = {
        "name": "r",
        "model": "rbm",
        "seed": 1,
        "data": {"source": "digits"},
        "network": {"n_hidden": 4, "visible": "gaussian"},
        "sweep": {"grid": {"network.visible": ["bernoulli", "gaussian"], "training.lr": [0.1, 0.2]}},
    }
    assert _expansion(rbm) == _reference_expansion(rbm, "x.toml")
    assert {r.config["data"]["threshold"] for r in parse_scenario(rbm, "x.toml").runs} == {0.5, None}
    # an invalid point: the same message as validating it in full
    bad = dict(BASE, sweep={"grid": {"init.fraction": [0.1, 2.0], "network.rule": ["hebbian", "storkey"]}})
    with pytest.raises(ScenarioError) as ours:
        parse_scenario(bad, "x.toml")
    with pytest.raises(ScenarioError) as theirs:
        _reference_expansion(bad, "x.toml")
    assert ours.value.lines == theirs.value.lines and "sweep point {init.fraction=2.0" in ours.value.lines[0]


def test_a_large_sweep_expands_correctly():
    n = 5000
    values = [i / n for i in range(n)]
    sc = parse_scenario(dict(BASE, sweep={"grid": {"init.fraction": values}}), "x.toml")
    assert [r.params["init.fraction"] for r in sc.runs] == values
    assert len({r.run_id for r in sc.runs}) == n
    for r in sc.runs[:: n // 7]:  # spot checks against a full validation of the point
        (ref,) = _reference_expansion(
            dict(BASE, init={"kind": "flip", "fraction": r.params["init.fraction"]}), "x.toml"
        )
        assert (r.run_id, r.seed, r.config) == (ref[0], ref[3], ref[4])
    assert sc.runs[0].config is not sc.runs[1].config
    assert sc.runs[0].config["network"] is not sc.runs[1].config["network"]  # no table shared between runs


# --------------------------------------------------------------------------- data files


def _hopfield_problem(tmp_path, filename: str) -> str:
    (tmp_path / "s.toml").write_text(PATTERNS_TOML.replace("p.npy", filename))
    with pytest.raises(ScenarioError) as info:
        api.validate(tmp_path / "s.toml")
    (line,) = info.value.lines
    return line


def test_a_file_that_is_not_an_array(tmp_path):
    (tmp_path / "text.npy").write_text("1,2,3\n4,5,6\n")
    line = _hopfield_problem(tmp_path, "text.npy")
    assert line.endswith("text.npy: not a .npy/.npz array file: found text (2 lines)")
    assert "allow_pickle" not in line and "unsafely" not in line
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    line = _hopfield_problem(tmp_path, "objects.npy")
    assert "holds an array of Python objects, which dynet never loads" in line and "allow_pickle" not in line
    import pickle

    (tmp_path / "pickle.npy").write_bytes(pickle.dumps([1, 2, 3]))
    assert "found pickled Python objects, which dynet never loads" in _hopfield_problem(tmp_path, "pickle.npy")
    (tmp_path / "empty.npy").write_bytes(b"")
    assert _hopfield_problem(tmp_path, "empty.npy").endswith("not a .npy/.npz array file: the file is empty")
    np.save(tmp_path / "cut.npy", _patterns(1))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:-7])
    assert "a damaged .npy/.npz file" in _hopfield_problem(tmp_path, "cut.npy")
    os.mkfifo(tmp_path / "pipe.npy")
    assert "not a regular file" in _hopfield_problem(tmp_path, "pipe.npy")


def test_csv_errors_name_the_line_not_its_content(tmp_path):
    secret = "s3cr3t-value"
    (tmp_path / "d.csv").write_text(f"a,b,y\n1,2,0\n3,{secret},1\n")
    with pytest.raises(D.DataError) as info:
        D.load_csv(tmp_path / "d.csv")
    assert str(info.value) == (
        f"{tmp_path / 'd.csv'}: line 3: column 2 is not a number (a numeric CSV table, one header row at most)"
    )
    (tmp_path / "w.csv").write_text("1,2,0\n3,4\n")
    with pytest.raises(D.DataError, match=r"w.csv: line 2: 2 columns, but line 1 has 3$"):
        D.load_csv(tmp_path / "w.csv")
    (tmp_path / "l.csv").write_bytes(b"1,2,0\n3,4,\xe9\n")
    with pytest.raises(D.DataError, match=r"l.csv: line 2: not UTF-8 text"):
        D.load_csv(tmp_path / "l.csv")
    (tmp_path / "e.csv").write_text("a,b\n")
    with pytest.raises(D.DataError, match="e.csv: no rows of numbers"):
        D.load_csv(tmp_path / "e.csv")
    # through a scenario: the key path and the file, not the content
    (tmp_path / "s.toml").write_text(
        'name = "c"\nmodel = "feedforward"\nseed = 1\n[data]\nsource = "file"\npath = "d.csv"\n'
    )
    with pytest.raises(ScenarioError) as info:
        api.validate(tmp_path / "s.toml")
    (line,) = info.value.lines
    assert "data.path: " in line and "d.csv: line 3: column 2" in line and secret not in line
    (tmp_path / "ok.csv").write_text("x,y\n# comment\n1,2\n\n3,4\n")  # header, comment, blank line
    np.testing.assert_array_equal(D.load_csv(tmp_path / "ok.csv"), [[1, 2], [3, 4]])
