"""The model registry and the typed run settings every driver reads."""

import glob
import os
import pickle
import subprocess
import sys

import pytest

from dynet import models, scenario
from dynet.config import ScenarioBase
from dynet.models.kind import ModelKind

SHIPPED = sorted(glob.glob("scenarios/*.toml"))


def test_the_registry_is_the_only_list_of_kinds():
    assert list(scenario.scenario_models()) == list(models.REGISTRY) == list(models.MODEL_NAMES)
    for name, kind in models.REGISTRY.items():
        assert kind.name == name and issubclass(kind.config, ScenarioBase)
        package = name.replace("-", "_")  # a kind name may hold hyphens, a package name cannot
        assert kind.package == f"dynet.models.{package}" and kind.summary and kind.description
        assert models.get(name) is kind
    union = scenario.json_schema()["oneOf"]
    assert len(union) == len(models.REGISTRY)
    with pytest.raises(KeyError):
        models.get("ferro")


def test_a_kind_whose_config_names_another_model_is_refused():
    with pytest.raises(ValueError, match=r"model kind 'ising2': its config's `model` is \('ising',\)"):
        ModelKind(name="ising2", config=models.get("ising").config, package="x", description="", summary=("a",))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.split("/")[-1])
def test_every_shipped_runs_config_revalidates_to_itself(path):
    """Workers rebuild RunSpec.settings from the config: it must be the run's own scenario again."""
    sc = scenario.load_scenario(path)
    for spec in sc.runs:
        rebuilt = scenario.run_settings(spec.model, spec.config, sc.name)
        assert type(rebuilt) is type(spec.settings) is models.get(spec.model).config
        assert rebuilt.model_dump(mode="json", exclude={"description"}) == spec.settings.model_dump(
            mode="json", exclude={"description"}
        )
        assert rebuilt.model_dump(mode="json", exclude={"name", "description", "sweep"}) == spec.config


def test_a_pickled_run_spec_carries_the_config_and_rebuilds_its_settings():
    spec = scenario.load_scenario("scenarios/hopfield-quickstart.toml").runs[3]
    copy = pickle.loads(pickle.dumps(spec))
    assert copy.__dict__["_settings"] is None  # not shipped: a dict pickles smaller
    assert copy.config == spec.config and copy.run_id == spec.run_id
    assert copy.settings.model_dump() == spec.settings.model_dump() | {"description": ""}


def test_file_hashes_stay_in_the_config_not_in_the_settings(tmp_path):
    import numpy as np

    np.save(tmp_path / "p.npy", np.where(np.random.default_rng(0).random((3, 16)) < 0.5, 1, -1).astype(np.int8))
    doc = {
        "name": "f",
        "model": "hopfield",
        "seed": 1,
        "patterns": {"source": "file", "path": "p.npy"},
        "init": {"kind": "flip", "pattern": 0, "fraction": 0.1},
    }
    (tmp_path / "f.toml").write_text("")
    spec = scenario.parse_scenario(doc, str(tmp_path / "f.toml")).runs[0]
    assert len(spec.config["patterns"]["sha256"]) == 64
    rebuilt = scenario.run_settings(spec.model, spec.config)
    assert rebuilt.patterns.path == "p.npy" and "sha256" not in rebuilt.patterns.model_dump()


def test_validating_the_shipped_scenarios_imports_no_numba():
    """Scenario schemas (optimizer, schedule and initializer tables included) import no kernels:
    loading and validating every shipped scenario in a fresh interpreter leaves numba unimported."""
    code = (
        "import sys\n"
        "import dynet.scenario as S\n"
        "for path in sys.argv[1:]:\n"
        "    S.load_scenario(path)\n"
        "print(sorted(m for m in sys.modules if m == 'numba' or m.startswith('numba.'))[:1])\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", code, *SHIPPED], capture_output=True, text=True, cwd=root, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert SHIPPED and out.stdout.strip() == "[]", out.stdout
