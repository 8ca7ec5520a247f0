"""Typed hyper-parameters must not move a run: every shipped scenario and a generated set covering
every optimizer, schedule and initializer parameter (set and unset, ints and floats) keep the run
ids and resolved configs recorded from the release before (tests/data/hyper_ids.json, written by
tests/hyper_docs.py from that release's code)."""

import json
import os

import hyper_docs as H

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "hyper_ids.json")


def test_run_ids_and_configs_unchanged():
    with open(FIXTURE) as f:
        expected = json.load(f)
    got = json.loads(json.dumps(H.outcomes()))
    assert got.keys() == expected.keys()
    changed = [k for k in expected if got[k] != expected[k]]
    assert not changed, (
        f"{len(changed)} documents changed, e.g. {changed[0]}: {expected[changed[0]]} -> {got[changed[0]]}"
    )
