"""What the shipped scenarios claim, checked at a size the test suite can afford.

Capacity (Amit, Gutfreund & Sompolinsky 1985): Hebbian retrieval states exist for
alpha = P/N below alpha_c ~ 0.138 with overlap m > 0.96, and vanish above it (the
overlap collapses to ~0.3). Storkey's rule stores ~N / sqrt(2 ln N) patterns as fixed
points (alpha ~ 0.29 at N = 400), and the pseudo-inverse rule every pattern for P < N.
"""

import numpy as np
import pytest

from dynet.models.hopfield import driver as H
from dynet.scenario import parse_scenario


def recall(rule, load, seed, n=400, flip=0.05, update="async-permutation"):
    doc = {
        "name": "c",
        "model": "hopfield",
        "seed": seed,
        "network": {"n_units": n, "rule": rule},
        "patterns": {"source": "random", "load": load},
        "init": {"kind": "flip", "fraction": flip},
        "dynamics": {"update": update, "max_sweeps": 200},
        "record": {"state": False},
    }
    spec = parse_scenario(doc).runs[0]
    pats, w, scale, s0, st = H.build(spec.settings, spec.seed_sequence())
    metrics, _ = H.simulate(spec.settings, pats, w, scale, s0, st)
    return metrics


@pytest.mark.parametrize(
    "rule,load,lo,hi",
    [
        ("hebbian", 0.05, 0.98, 1.0),  # far below alpha_c: near-perfect recall
        ("hebbian", 0.25, 0.0, 0.6),  # far above alpha_c: retrieval lost
        ("storkey", 0.20, 0.98, 1.0),  # beyond the Hebbian limit, within Storkey's
        ("pseudoinverse", 0.25, 0.99, 1.0),
    ],
)
def test_recall_against_capacity_theory(rule, load, lo, hi):
    overlaps = [recall(rule, load, seed)["final_overlap"] for seed in range(6)]
    assert lo <= np.mean(overlaps) <= hi, overlaps


def test_hebbian_overlap_decreases_with_load():
    means = [np.mean([recall("hebbian", a, s)["final_overlap"] for s in range(6)]) for a in (0.05, 0.12, 0.2, 0.3)]
    assert means[0] > 0.98 and means[-1] < 0.6
    assert all(a >= b - 0.02 for a, b in zip(means, means[1:])), means


def test_collapsed_runs_end_in_spurious_fixed_points():
    ms = [recall("hebbian", 0.3, s) for s in range(4)]
    assert all(m["stop_reason"] == "fixed_point" for m in ms)
    assert sum(m["spurious"] for m in ms) >= 3
