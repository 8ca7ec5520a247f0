import os
import textwrap

import numpy as np
import pytest

HERE = os.path.dirname(__file__)
ROOT = os.path.dirname(HERE)
SCENARIOS = os.path.join(ROOT, "scenarios")

SMALL = """
name = "small"
model = "hopfield"
seed = 7

[network]
n_units = 64
rule = "hebbian"

[patterns]
source = "random"
count = 4

[init]
kind = "flip"
pattern = 1
fraction = 0.2

[dynamics]
update = "async-permutation"
max_sweeps = 30

[sweep]
replicates = 3
grid = {"network.rule" = ["hebbian", "storkey"], "init.fraction" = [0.1, 0.3]}
"""


@pytest.fixture
def write_scenario(tmp_path):
    """Write a scenario text to tmp_path and return its path."""

    def _write(text: str, name: str = "scenario.toml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return str(path)

    return _write


@pytest.fixture
def small_scenario(write_scenario):
    return write_scenario(SMALL, "small.toml")


class MemoryRecord:
    """An in-memory stand-in for store.RunRecord: model drivers can run without a store."""

    resumed = None  # never a checkpoint to resume from

    def __init__(self):
        self.static_arrays = {}
        self.columns = {}
        self.checkpoints = []

    def save_checkpoint(self, state, arrays, trajectories):
        self.checkpoints.append((state, {k: np.array(v) for k, v in arrays.items()}))

    def static(self, name, data, dims, attributes=None):
        self.static_arrays[name] = np.array(data)

    def trajectory(self, specs):
        rec = self

        class _Trajectory:
            def append(self, **cols):
                for k, v in cols.items():
                    rec.columns.setdefault(k, []).append(np.array(v))

            def flush(self):
                return 0

            def close(self):
                return 0

        return _Trajectory()

    def col(self, name):
        return np.concatenate(self.columns[name])
