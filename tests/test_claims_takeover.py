"""Claims under stress, each case a defect a review reproduced: a short lease added while the
heartbeat thread sleeps, a heartbeat that hits a file-system error, an attempt whose claim
was taken over (and released again) while it ran, and job states after earlier attempts."""

import errno
import os
import time

from dynet import api, jobs
from dynet import store as S
from dynet.scenario import load_scenario


def _store(tmp_path):
    path = tmp_path / "s.zarr"
    S.open_store(path, create=True)
    return str(path)


def test_a_short_lease_added_while_the_heartbeat_thread_sleeps_stays_live(tmp_path):
    path = _store(tmp_path)
    a = S.claim_run(path, "runA", {"attempt": "a"}, lease_s=60)  # the thread now sleeps 10 s
    b = S.claim_run(path, "runB", {"attempt": "b"}, lease_s=2)
    try:
        time.sleep(3)
        info = S.read_claim(path, "runB")
        assert not info["stale"], info["why"]
        assert isinstance(S.claim_run(path, "runB", {"attempt": "thief"}, lease_s=2), dict)  # still held
        assert b.verify()
    finally:
        a.release()
        b.release()


def test_the_heartbeat_thread_survives_a_file_system_error(tmp_path, monkeypatch):
    path = _store(tmp_path)
    real = S._claim_files
    calls = {"n": 0}

    def flaky(store_path, run_id):
        calls["n"] += 1
        if calls["n"] == 2:  # the first beat after the claim
            raise OSError(errno.ESTALE, "Stale file handle")
        return real(store_path, run_id)

    monkeypatch.setattr(S, "_claim_files", flaky)
    claim = S.claim_run(path, "r", {"attempt": "a"}, lease_s=1.2)
    try:
        time.sleep(3)
        assert calls["n"] > 3, "the heartbeat thread died"
        assert not S.read_claim(path, "r")["stale"]
    finally:
        claim.release()


def test_an_attempt_whose_claim_was_taken_over_and_released_never_writes_again(tmp_path):
    path = _store(tmp_path)
    a = S.claim_run(path, "r", {"attempt": "A"}, lease_s=30)
    os.unlink(a.path)  # as a takeover does (B creates gen 2, removes gen 1) ...
    b = S.claim_run(path, "r", {"attempt": "B"}, lease_s=30)
    b.release()  # ... and B finishes and releases: no claim file is left at all
    assert not a.verify() and a.lost
    a.beat()
    assert S.read_claim(path, "r") is None, "the lost attempt wrote its claim back"
    a.release()


def test_a_run_that_raises_after_losing_its_claim_is_not_marked_failed(tmp_path, small_scenario, monkeypatch):
    path = _store(tmp_path)
    spec = load_scenario(small_scenario).runs[0]

    class TakenOver:
        @staticmethod
        def run(spec, record):
            os.unlink(os.path.join(path, S.CLAIMS, f"{spec.run_id}.1.json"))  # another attempt took the run
            raise RuntimeError("ContainsArrayError: the other attempt's arrays")

    monkeypatch.setattr(api._models, "get", lambda kind: TakenOver)
    result = api.execute_run(path, spec)
    assert result["status"] == api.ELSEWHERE
    assert S.read_run_attrs(path, spec.run_id)["status"] == "running"  # not overwritten with "failed"


def test_a_job_counts_runs_its_tasks_have_not_reached_as_pending(tmp_path, small_scenario):
    path = _store(tmp_path)
    specs = load_scenario(small_scenario).runs[:3]
    # an earlier session's attempts: one failed, one stopped (stale), one complete
    for spec, status in zip(specs, ("failed", "running", "complete")):
        rec = S.RunRecord(
            path,
            spec.run_id,
            {"run_id": spec.run_id, "config": spec.config},
            attempt={"id": "old", "session": "earlier"},
        )
        if status == "failed":
            rec.fail("boom", 0.0)
        elif status == "complete":
            rec.complete({}, 0.0)
    S.write_job(path, "job1", {"job_id": "job1", "runs": [s.run_id for s in specs], "cancelled": None})
    st = jobs.job_status(path, "job1")
    assert [st.states[s.run_id] for s in specs] == ["pending", "pending", "complete"]
    assert not st.finished
