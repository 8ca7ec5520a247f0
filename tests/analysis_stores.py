"""One real store, written once per test session by running small scenarios through
``api.run_scenario`` (one worker), for the analysis and data-command tests."""

import os
import textwrap

SCENARIOS = {
    # a Hopfield grid sweep: runs stop at different sweeps (fixed points), so trajectories differ in length
    "hop-grid": """
        name = "hop-grid"
        model = "hopfield"
        seed = 7
        [network]
        n_units = 64
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
        """,
    # a zip sweep whose pattern counts differ: the overlap trajectories have different widths
    "hop-zip": """
        name = "hop-zip"
        model = "hopfield"
        seed = 8
        [network]
        n_units = 48
        [patterns]
        source = "random"
        count = 2
        [init]
        kind = "flip"
        pattern = 1
        fraction = 0.2
        [dynamics]
        update = "async-permutation"
        max_sweeps = 20
        [sweep]
        replicates = 2
        zip = {"patterns.count" = [2, 4, 6], "init.fraction" = [0.1, 0.2, 0.4]}
        """,
    "ising-tiny": """
        name = "ising-tiny"
        model = "ising"
        seed = 3
        [dynamics]
        temperature = 2.0
        thermalize = 50
        sweeps = 400
        [record]
        every = 10
        snapshot_every = 100
        [sweep]
        replicates = 2
        grid = {"lattice.size" = [4, 6], "dynamics.temperature" = [2.0, 3.0]}
        """,
    # a tiny feedforward sweep whose huge learning rate diverges: those runs are stored as failed
    "ff-tiny": """
        name = "ff-tiny"
        model = "feedforward"
        seed = 5
        [data]
        source = "linear"
        n_samples = 64
        validation = 0.25
        [network]
        kind = "linear"
        [optimizer]
        name = "sgd"
        lr = 0.05
        [training]
        epochs = 6
        batch_size = 16
        [sweep]
        replicates = 2
        grid = {"optimizer.lr" = [0.05, 1e30]}
        """,
}

_built: dict[str, str] = {}


def build_store(tmp_path_factory) -> str:
    """The path of the session's store (built on first use)."""
    if "path" not in _built:
        from dynet import api

        base = tmp_path_factory.mktemp("analysis")
        store = os.path.join(base, "runs.zarr")
        for name, text in SCENARIOS.items():
            path = os.path.join(base, f"{name}.toml")
            with open(path, "w") as f:
                f.write(textwrap.dedent(text))
            api.run_scenario(path, store=store, workers=1)
        _built["path"] = store
        _built["base"] = str(base)
    return _built["path"]
