"""Scenario validation, sweep expansion, seeds and run ids."""

import glob
import os
import re

import numpy as np
import pytest
from conftest import SCENARIOS

from dynet import api
from dynet.scenario import ScenarioError, json_schema, load_scenario, parse_scenario

BASE = {
    "name": "t",
    "model": "hopfield",
    "seed": 1,
    "network": {"n_units": 50},
    "patterns": {"source": "random", "count": 3},
    "init": {"kind": "flip", "fraction": 0.1},
}


def errors(doc) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc, "x.toml")
    return info.value.lines


def with_(path, value, doc=None):
    import copy

    doc = copy.deepcopy(doc or BASE)
    node = doc
    keys = path.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value
    return doc


def test_valid_minimal_scenario_expands_to_one_run():
    sc = parse_scenario(BASE, "x.toml")
    assert len(sc.runs) == 1
    run = sc.runs[0]
    assert run.config["dynamics"]["update"] == "async-permutation"  # defaults are resolved
    assert run.params == {} and run.replicate == 0


def test_unknown_key_names_path_and_suggests():
    lines = errors(with_("patterns.cout", 3))
    assert lines == ["x.toml: patterns.cout: unknown key (did you mean 'count'?)"]
    lines = errors(with_("dynamics.temprature", 1.0))
    assert lines == ["x.toml: dynamics.temprature: unknown key (did you mean 'temperature'?)"]
    lines = errors(with_("netwrk", {}))
    assert lines == ["x.toml: netwrk: unknown key (did you mean 'network'?)"]


def test_wrong_type_and_range_name_key_and_allowed():
    (line,) = errors(with_("dynamics.temperature", -1.0))
    assert line.startswith("x.toml: dynamics.temperature: ") and "greater than or equal to 0" in line and "-1.0" in line
    (line,) = errors(with_("network.n_units", "many"))
    assert line.startswith("x.toml: network.n_units: ") and "'many'" in line
    (line,) = errors(with_("dynamics.update", "asynchronous"))
    assert "dynamics.update" in line and "'async-permutation'" in line and "'synchronous'" in line
    (line,) = errors(with_("patterns.source", "pictures"))
    assert line.startswith("x.toml: patterns.source: ") and "'random'" in line and "'pictures'" in line


def test_several_problems_are_all_reported():
    doc = with_("dynamics.max_sweeps", 0, with_("network.rule", "hebb"))
    lines = errors(doc)
    assert len(lines) == 2
    assert any(l.startswith("x.toml: network.rule") for l in lines)
    assert any(l.startswith("x.toml: dynamics.max_sweeps") for l in lines)


def test_cross_field_rules():
    (line,) = errors(with_("patterns.load", 0.1))  # count and load together
    assert "exactly one of 'count' and 'load'" in line
    (line,) = errors(with_("init.pattern", 3))
    assert line == "x.toml: init.pattern: 3 is out of range for 3 patterns"
    doc = with_("dynamics.anneal", {"schedule": "geometric", "t_start": 2.0, "t_end": 0.0})
    (line,) = errors(doc)
    assert "dynamics.anneal" in line and "t_end > 0" in line
    (line,) = errors(with_("model", "hopfeld"))
    assert "did you mean 'hopfield'" in line


def test_sweep_expansion_grid_zip_replicates():
    doc = with_(
        "sweep",
        {
            "replicates": 2,
            "grid": {"network.rule": ["hebbian", "storkey"]},
            "zip": {"patterns.count": [2, 3, 4], "init.pattern": [0, 1, 2]},
        },
    )
    sc = parse_scenario(doc, "x.toml")
    assert len(sc.runs) == 2 * 3 * 2
    points = {(r.params["network.rule"], r.params["patterns.count"], r.params["init.pattern"]) for r in sc.runs}
    assert ("storkey", 4, 2) in points and ("hebbian", 2, 0) in points and len(points) == 6
    assert len({r.run_id for r in sc.runs}) == len(sc.runs)
    assert sc.sweep_keys == ["network.rule", "patterns.count", "init.pattern"]


def test_sweep_errors():
    (line,) = errors(with_("sweep", {"grid": {"patterns.cont": [1, 2]}}))
    assert line == "x.toml: sweep.grid.'patterns.cont': not a scenario setting (did you mean 'patterns.count'?)"
    (line,) = errors(with_("sweep", {"zip": {"patterns.count": [1, 2], "init.pattern": [0]}}))
    assert "equal lengths" in line
    (line,) = errors(with_("sweep", {"grid": {"dynamics.temperature": [0.5, -2.0]}}))
    assert "sweep point {dynamics.temperature=-2.0}" in line and "dynamics.temperature" in line


def test_run_ids_and_seeds_depend_only_on_what_a_run_is():
    a = parse_scenario(with_("sweep", {"replicates": 2, "grid": {"patterns.count": [2, 3]}}), "x.toml")
    b = parse_scenario(with_("sweep", {"replicates": 2, "grid": {"patterns.count": [3, 5, 2]}}), "x.toml")
    ra = {(r.params["patterns.count"], r.replicate): r for r in a.runs}
    rb = {(r.params["patterns.count"], r.replicate): r for r in b.runs}
    for key in ra:
        assert ra[key].run_id == rb[key].run_id
        assert ra[key].seed == rb[key].seed
        assert np.array_equal(ra[key].seed_sequence().generate_state(4), rb[key].seed_sequence().generate_state(4))
    # a different root seed or a different description changes only what it should
    c = parse_scenario(
        with_("seed", 2, with_("sweep", {"replicates": 2, "grid": {"patterns.count": [2, 3]}})), "x.toml"
    )
    assert not {r.run_id for r in c.runs} & {r.run_id for r in a.runs}
    d = parse_scenario(
        with_("description", "other words", with_("sweep", {"replicates": 2, "grid": {"patterns.count": [2, 3]}})),
        "x.toml",
    )
    assert {r.run_id for r in d.runs} == {r.run_id for r in a.runs}
    states = {tuple(r.seed_sequence().generate_state(2)) for r in a.runs}
    assert len(states) == len(a.runs)  # every run has its own stream


def test_load_scenario_file_errors(tmp_path, write_scenario):
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "missing.toml")
    bad = write_scenario("name = 'x'\nmodel = [", "bad.toml")
    with pytest.raises(ScenarioError, match="invalid TOML"):
        load_scenario(bad)


def test_missing_pattern_file_is_a_validation_error(write_scenario):
    path = write_scenario("""
        name = "f"
        model = "hopfield"
        seed = 1
        [patterns]
        source = "file"
        path = "nowhere.npy"
        [init]
        kind = "flip"
        """)
    with pytest.raises(ScenarioError) as info:
        api.validate(path)
    (line,) = info.value.lines
    assert "patterns.path" in line and "nowhere.npy: no such data file" in line


def test_pattern_file_checks(tmp_path, write_scenario):
    np.save(tmp_path / "bad.npy", np.array([[0.5, 1.0, -1.0]]))
    np.savez(tmp_path / "two.npz", a=np.ones((2, 8)), b=np.ones((2, 8)))
    np.save(tmp_path / "ok.npy", np.array([[0, 1, 1, 0, 1, 0], [1, 1, 0, 0, 1, 1]]))
    text = """
        name = "f"
        model = "hopfield"
        seed = 1
        [network]
        n_units = {n}
        [patterns]
        source = "file"
        path = "{file}"
        [init]
        kind = "flip"
        """
    for file, n, msg in [
        ("bad.npy", 3, "values must be -1/+1 or 0/1"),
        ("two.npz", 8, "say which with 'key'"),
        ("ok.npy", 7, "does not match the patterns' N = 6"),
    ]:
        with pytest.raises(ScenarioError, match=re.escape(msg)):
            api.validate(write_scenario(text.format(file=file, n=n)))
    sc = api.validate(write_scenario(text.format(file="ok.npy", n=6)))
    assert len(sc.runs) == 1


def test_json_schema_describes_the_format():
    schema = json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["discriminator"]["propertyName"] == "model"
    defs = schema["$defs"]
    hop = defs["HopfieldScenario"]
    assert set(hop["required"]) >= {"name", "model", "seed", "patterns", "init"}
    assert hop["additionalProperties"] is False
    assert set(defs["FeedforwardScenario"]["required"]) >= {"name", "model", "seed", "data"}
    assert set(defs["HopfieldDynamics"]["properties"]["update"]["enum"]) == {
        "synchronous",
        "async-permutation",
        "async-sequential",
        "async-random",
    }


def test_json_schema_accepts_shipped_scenarios_and_rejects_typos():
    jsonschema = pytest.importorskip("jsonschema")
    import tomllib

    schema = json_schema()
    files = sorted(glob.glob(os.path.join(SCENARIOS, "*.toml")))
    assert files
    for f in files:
        with open(f, "rb") as fh:
            jsonschema.validate(tomllib.load(fh), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(with_("patterns.cout", 3), schema)


def test_json_schema_describes_every_hyper_parameter():
    """Optimizers, schedules and initializers are typed: the schema names each hyper-parameter with its
    default, range and description, and a misspelled one is refused (by the schema and by dynet)."""
    from dynet.train.initializers import PARAMS
    from dynet.train.optimizers import OPTIMIZERS
    from dynet.train.schedules import SCHEDULES

    defs = json_schema()["$defs"]
    init_params = {s["title"]: s for s in defs["FeedforwardInit"]["properties"]["params"]["anyOf"]}
    for table in (OPTIMIZERS, SCHEDULES, PARAMS):
        for cls in table.values():
            schema = init_params[cls.__name__] if table is PARAMS else defs[cls.__name__]
            assert schema["additionalProperties"] is False
            for key in cls.model_fields:
                assert schema["properties"][key].get("description") or key == "name", (cls.__name__, key)
    adam = defs["AdamParams"]["properties"]
    assert adam["betas"]["default"] == [0.9, 0.999]
    assert adam["betas"]["prefixItems"][0] == {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
    assert adam["lr"]["exclusiveMinimum"] == 0 and adam["lr"]["default"] == 0.001
    assert defs["SGDParams"]["properties"]["momentum"]["minimum"] == 0
    assert "lr" in defs["SGDParams"]["required"]
    assert defs["CosineSchedule"]["properties"]["warmup_steps"]["default"] == 0
    ff = defs["FeedforwardScenario"]["properties"]
    assert ff["optimizer"]["$ref"] == "#/$defs/OptimizerConfig"
    assert ff["schedule"]["$ref"] == "#/$defs/ScheduleConfig"


@pytest.mark.parametrize(
    "table, key, line",
    [
        (
            {"optimizer": {"name": "adam", "beta": [0.9, 0.99]}},
            "optimizer.beta",
            "optimizer.beta: unknown key (did you mean 'betas'?)",
        ),
        (
            {"optimizer": {"name": "adam", "betas": [0.9, 1.0]}},
            "optimizer.betas",
            "optimizer.betas.1: input should be less than 1 (got 1.0)",
        ),
        (
            {"optimizer": {"name": "adma"}},
            "optimizer.name",
            "optimizer.name: unknown 'adma' (known: 'sgd', 'adagrad', 'adadelta', 'rmsprop', 'adam', 'adamw') "
            "(did you mean 'adam'?)",
        ),
        (
            {"schedule": {"name": "cosine", "T_max": 3, "eta_mn": 0.0}},
            "schedule.eta_mn",
            "schedule.eta_mn: unknown key (did you mean 'eta_min'?)",
        ),
        (
            {"init": {"weights": "he_normal", "params": {"mode": "fan_inn"}}},
            "init.params.mode",
            "init.params.mode: input should be 'fan_in' or 'fan_out' (got 'fan_inn') (did you mean 'fan_in'?)",
        ),
    ],
)
def test_hyper_parameter_errors_are_one_line_naming_the_key(table, key, line):
    jsonschema = pytest.importorskip("jsonschema")
    doc = {"name": "x", "model": "feedforward", "seed": 1, "data": {"source": "xor"}, **table}
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(doc, "x.toml")
    assert exc.value.lines == ["x.toml: " + line]
    if "unknown key" in line:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(doc, json_schema())


def test_shipped_scenarios_validate():
    for f in sorted(glob.glob(os.path.join(SCENARIOS, "*.toml"))):
        sc = api.validate(f)
        assert sc.runs, f
