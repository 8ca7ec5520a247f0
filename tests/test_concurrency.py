"""Run claims (leases): one attempt per run at a time, even with two clients on one store."""

import json
import os
import re
import subprocess
import sys
import time

import pytest

from dynet import api
from dynet import store as S
from dynet.scenario import load_scenario

OWNER = {"attempt": "a1", "session": "s1"}


def _store(tmp_path):
    path = tmp_path / "s.zarr"
    S.open_store(path, create=True)
    return str(path)


def test_a_claimed_run_cannot_be_claimed_again_until_released(tmp_path):
    path = _store(tmp_path)
    claim = S.claim_run(path, "r1", OWNER, lease_s=30)
    assert isinstance(claim, S.Claim) and claim.gen == 1
    other = S.claim_run(path, "r1", {"attempt": "a2"}, lease_s=30)
    assert isinstance(other, dict) and other["attempt"] == "a1" and other["pid"] == os.getpid()
    assert not other["stale"] and other["age_s"] < 30
    assert isinstance(S.claim_run(path, "r2", {"attempt": "a3"}), S.Claim)  # other runs are free
    claim.release()
    assert S.read_claim(path, "r1") is None
    again = S.claim_run(path, "r1", {"attempt": "a4"}, lease_s=30)
    assert isinstance(again, S.Claim) and again.info["attempt"] == "a4"
    again.release()


def test_the_claim_of_a_dead_process_is_stale_and_taken_over(tmp_path):
    path = _store(tmp_path)
    code = (
        "import os, sys; from dynet import store as S; "
        "S.claim_run(sys.argv[1], 'r1', {'attempt': 'dead'}, lease_s=600); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code, path], check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    info = S.read_claim(path, "r1")
    assert info["attempt"] == "dead" and info["stale"] and "is gone" in info["why"]
    claim = S.claim_run(path, "r1", OWNER, lease_s=30)
    assert isinstance(claim, S.Claim) and claim.gen == 2
    assert sorted(os.listdir(os.path.join(path, S.CLAIMS))) == ["r1.2.json", "zarr.json"]  # gen 1 removed
    claim.release()


def _foreign_claim(path, run_id, age, lease=60.0):
    """A claim file as an attempt on another host writes it, its last heartbeat ``age`` seconds ago."""
    info = {
        "attempt": "far",
        "session": "x",
        "run_id": run_id,
        "gen": 1,
        "host": "another-host",
        "pid": 1,
        "claimed": "-",
        "heartbeat": time.time() - age,
        "lease_s": lease,
    }
    with open(os.path.join(path, S.CLAIMS, f"{run_id}.1.json"), "w") as f:
        json.dump(info, f)


def test_a_claim_without_heartbeat_for_its_lease_is_stale(tmp_path):
    path = _store(tmp_path)
    _foreign_claim(path, "live", age=5)
    _foreign_claim(path, "old", age=100)
    assert S.claim_run(path, "live", OWNER)["host"] == "another-host"
    info = S.read_claim(path, "old")
    assert info["stale"] and info["why"].startswith("no heartbeat for 100 s (lease 60 s)")
    taken = S.claim_run(path, "old", OWNER)
    assert isinstance(taken, S.Claim) and taken.gen == 2
    taken.release()


def test_the_heartbeat_keeps_a_claim_fresh_and_notices_a_takeover(tmp_path):
    path = _store(tmp_path)
    claim = S.claim_run(path, "r1", OWNER, lease_s=0.6)  # a beat every 0.1 s
    first = S.read_claim(path, "r1")["heartbeat"]
    deadline = time.monotonic() + 30
    while S.read_claim(path, "r1")["heartbeat"] == first and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # longer than the lease: still live, the thread keeps beating
    info = S.read_claim(path, "r1")
    assert info["heartbeat"] > first and not info["stale"]
    _foreign_claim(path, "r1", age=0)  # pretend another attempt wrote gen 1 ... then took over with gen 2
    os.rename(os.path.join(path, S.CLAIMS, "r1.1.json"), os.path.join(path, S.CLAIMS, "r1.2.json"))
    deadline = time.monotonic() + 30
    while not claim.lost and time.monotonic() < deadline:
        time.sleep(0.05)
    assert claim.lost
    claim.release()  # a lost claim leaves the new owner's file alone
    assert S.read_claim(path, "r1")["attempt"] == "far"


def test_execute_run_skips_complete_runs_and_runs_claimed_elsewhere(tmp_path, small_scenario):
    path = _store(tmp_path)
    spec = load_scenario(small_scenario).runs[0]
    first = api.execute_run(path, spec, session="one")
    assert first["status"] == "complete" and not first.get("skipped")
    again = api.execute_run(path, spec, session="two")
    assert again["status"] == "complete" and again["skipped"] and again["metrics"] == first["metrics"]
    attrs = S.run_attrs(S.open_store(path), spec.run_id)
    assert attrs["attempts"] == 1 and attrs["attempt"]["session"] == "one"

    other = load_scenario(small_scenario).runs[1]
    _foreign_claim(path, other.run_id, age=1)
    res = api.execute_run(path, other, session="two")
    assert res["status"] == "elsewhere" and res["holder"]["host"] == "another-host"
    assert S.read_run_attrs(path, other.run_id) is None  # nothing written
    assert S.read_claim(path, spec.run_id) is None  # released after the run


def test_ls_shows_a_running_run_without_a_live_attempt_as_stale(tmp_path):
    path = _store(tmp_path)
    S.RunRecord(path, "r1", {"params": {}})  # status running
    S.RunRecord(path, "r2", {"params": {}})
    S.RunRecord(path, "r3", {"params": {}})
    _foreign_claim(path, "r1", age=300)
    _foreign_claim(path, "r2", age=1)
    runs = {r["run_id"]: r for r in api.list_runs(path)}
    assert runs["r1"]["status"] == "stale" and "no heartbeat for 300 s" in runs["r1"]["error"]
    assert "host another-host pid 1" in runs["r1"]["error"]
    assert runs["r2"]["status"] == "running" and runs["r2"]["lease"]["host"] == "another-host"
    assert runs["r2"]["lease"]["age_s"] == pytest.approx(1, abs=5)
    assert runs["r3"]["status"] == "stale" and "no live attempt" in runs["r3"]["error"]
    info = api.show_run(path, "r1")
    assert info["status"] == "stale" and info["lease"]["age_s"] >= 300
    from click.testing import CliRunner

    from dynet.cli import main

    res = CliRunner().invoke(main, ["show", path, "r2"])
    assert res.exit_code == 0 and "status     running" in res.stdout
    assert re.search(r"lease      host another-host pid 1  heartbeat \d+ s ago  \(lease 60.0 s\)", res.stdout)
    res = CliRunner().invoke(main, ["ls", path])
    assert res.exit_code == 0 and res.stdout.count("stale") >= 2


RACE = """
name = "race"
model = "hopfield"
seed = 5

[network]
n_units = 400

[patterns]
source = "random"
count = 10

[init]
kind = "random"

[dynamics]
update = "async-permutation"
temperature = 0.6
max_sweeps = 3000
stop_at_fixed_point = false

[record]
every = 5

[sweep]
replicates = 24
"""


def test_two_clients_on_one_store_compute_every_run_once(tmp_path):
    """Two `dynet run` processes of one scenario into one store at once: each run is computed
    exactly once, nothing fails, and the store equals a single client's bit for bit."""
    from test_run import assert_same_runs, store_contents

    scenario = tmp_path / "race.toml"
    scenario.write_text(RACE)
    path = tmp_path / "shared.zarr"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    cmd = [sys.executable, "-m", "dynet.cli", "run", str(scenario), "--store", str(path), "--workers", "1", "--json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)]
    deadline = time.monotonic() + 120
    claims = path / S.CLAIMS
    while time.monotonic() < deadline and procs[0].poll() is None:  # the second starts once the first works
        if claims.exists() and any(n.endswith(".json") and n != "zarr.json" for n in os.listdir(claims)):
            break
        time.sleep(0.05)
    procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    reports = [json.loads(out) for out, _ in outs]
    executed = [{r["run_id"] for r in rep["runs"] if not r.get("skipped")} for rep in reports]
    ids = {s.run_id for s in load_scenario(scenario).runs}
    assert not (executed[0] & executed[1]), "a run was computed by both clients"
    assert executed[0] | executed[1] == ids
    for rep in reports:
        assert rep["failed"] == 0 and len(rep["runs"]) == len(ids)
        assert {r["status"] for r in rep["runs"]} == {"complete"}
    root = S.open_store(path)
    for rid, attrs in S.list_runs(root).items():
        assert attrs["attempts"] == 1, rid  # one attempt per run, never a second
    assert os.listdir(claims) == ["zarr.json"]  # every claim released

    single = tmp_path / "single.zarr"
    api.run_scenario(scenario, store=single, workers=1)
    assert_same_runs(store_contents(path), store_contents(single))
