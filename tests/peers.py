"""Peer libraries the parity tests compare against (PyTorch, scikit-learn).

They are optional for contributors: without one, its comparisons skip and say what to
install. CI installs them and sets ``DYNET_REQUIRE_PEERS=1`` (see ``.ci/run``), which
turns such a skip into a failure, so a parity test can never pass CI by not running.
"""

from __future__ import annotations

import importlib
import os

import pytest

INSTALL = {
    "torch": "pip install torch==2.13.0 (the CPU build; see README, 'Running the tests')",
    "sklearn": "pip install scikit-learn (in the test extra)",
}


def require(module: str):
    """Import ``module`` (e.g. ``"torch"``, ``"sklearn.neural_network"``) or skip the test;
    under ``DYNET_REQUIRE_PEERS=1`` a missing peer fails it instead."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        why = f"peer library {top} is not installed ({exc}); install it with: {INSTALL.get(top, 'pip install ' + top)}"
        if os.environ.get("DYNET_REQUIRE_PEERS") == "1":
            pytest.fail(f"DYNET_REQUIRE_PEERS=1 but {why}", pytrace=False)
        pytest.skip(why)
