"""The cluster side of `dynet run`, with real processes: unreachable or wrong schedulers fail
in seconds with one line, the embedded cluster serves no HTTP, the worker plugin compiles once
and off the event loop, progress lines in a log, Ctrl-C."""

import errno
import http.server
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest
from support import LONG_HOPFIELD, DaskProcesses

from dynet import cluster, models
from dynet import store as S

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args, timeout=90, env=None):
    """Run `dynet ARGS` as a subprocess; fails the test if it does not return within ``timeout``."""
    full_env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "dynet.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=ROOT,
        check=False,
    )


def one_error_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    return lines[0]


class SilentServer:
    """A TCP listener on 127.0.0.1 that accepts connections and never says a word."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()
        self.thread.join(5)


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# --------------------------------------------------------------------------- wrong schedulers


def test_silent_listener_fails_with_one_line(tmp_path, small_scenario, silent_server):
    start = time.monotonic()
    proc = cli(
        "run", small_scenario, "--store", tmp_path / "s.zarr", "--scheduler", f"tcp://127.0.0.1:{silent_server.port}"
    )
    elapsed = time.monotonic() - start
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert line == f"error: cannot reach Dask scheduler at tcp://127.0.0.1:{silent_server.port}: no answer within 10 s"
    assert silent_server.conns, "the listener was reached"
    assert elapsed < 60
    assert not (tmp_path / "s.zarr").exists()


@pytest.mark.parametrize(
    "init, what",
    [('__version__ = "0.0.9"\n', "run dynet 0\\.0\\.9"), ('raise ImportError("not installed")\n', "have no dynet")],
)
def test_workers_with_another_dynet_version_are_refused(tmp_path, small_scenario, init, what):
    """A worker whose dynet is another version would run other code under the same run ids, one
    without dynet cannot run a task: the client refuses them in one line before writing anything."""
    from dynet import __version__

    fake = tmp_path / "old" / "dynet"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(init)
    with DaskProcesses(tmp_path, workers=1, env={"PYTHONPATH": str(fake.parent)}) as dask:
        dask.wait_for_workers(1, timeout=60)
        proc = cli("run", small_scenario, "--store", tmp_path / "s.zarr", "--scheduler", dask.address)
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert re.fullmatch(
        rf"error: workers tcp://127\.0\.0\.1:\d+ {what}, this client runs dynet "
        rf"{re.escape(__version__)}: install the same dynet version on the workers and the client",
        line,
    ), line
    assert not (tmp_path / "s.zarr").exists()


def test_http_server_is_not_a_scheduler(tmp_path, small_scenario, http_server):
    port = http_server.server_address[1]
    proc = cli("run", small_scenario, "--store", tmp_path / "s.zarr", "--scheduler", f"127.0.0.1:{port}")
    assert proc.returncode == 1
    assert one_error_line(proc).startswith(f"error: cannot reach Dask scheduler at tcp://127.0.0.1:{port}: ")
    assert not (tmp_path / "s.zarr").exists()


def test_garbage_address_fails_at_once_without_traceback(tmp_path, small_scenario):
    proc = cli("run", small_scenario, "--store", tmp_path / "s.zarr", "--scheduler", "garbage", timeout=60)
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert line.startswith("error: --scheduler garbage: not a scheduler address")
    assert "tcp://HOST:PORT" in line


def test_tls_address_without_tls_files(tmp_path, small_scenario):
    proc = cli("run", small_scenario, "--store", tmp_path / "s.zarr", "--scheduler", "tls://127.0.0.1:1", timeout=60)
    assert proc.returncode == 2
    assert "TLS needs --tls-ca-file, --tls-cert and --tls-key" in one_error_line(proc)


def test_refused_connection_names_the_reason():
    # a port bound but not listening refuses connections, and stays ours for the whole test (a
    # port freed again could be taken meanwhile by a server another process starts: seen once)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        # a deadline long enough that a loaded machine still sees the refusal, not the deadline
        with pytest.raises(
            cluster.ClusterError,
            match=f"at tcp://127.0.0.1:{port}: no connection within 5 s "
            r"\(last try: Connection refused\)",
        ):
            cluster.probe_scheduler(f"tcp://127.0.0.1:{port}", None, 5)


def test_a_refusal_cut_short_by_the_deadline_is_still_a_refusal():
    """When the deadline cancels distributed's last connection attempt, the error's cause is a
    cancellation, not the refusal: the probe once said 'no answer' for a port nobody listens on
    (half the time with deadlines of 1-200 ms; once in two CI runs with 5 s)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        for deadline in (0.001, 0.01, 0.05, 0.2):
            with pytest.raises(cluster.ClusterError, match=r"no connection within .* \(last try: Connection refused\)"):
                cluster.probe_scheduler(f"tcp://127.0.0.1:{port}", None, deadline)


# --------------------------------------------------------------------------- the embedded cluster


def listeners(pid: int) -> list[tuple[str, int]]:
    return [
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]


def test_embedded_cluster_serves_no_http():
    from distributed import Client

    with cluster.local_cluster(1) as lc, Client(lc, set_as_default=False) as client:
        sched = lc.scheduler
        assert not hasattr(sched, "http_server") and "dashboard" not in sched.services
        info = client.run(
            lambda dask_worker: (
                os.getpid(),
                dask_worker.address,
                sorted(dask_worker.services),
                hasattr(dask_worker, "http_server"),
            )
        )
        ((pid, address, services, http),) = info.values()
        assert services == [] and not http
        # the worker process listens on its comm port only, on 127.0.0.1
        assert listeners(pid) == [("127.0.0.1", int(address.rsplit(":", 1)[1]))]
        for nanny in lc.workers.values():
            assert not nanny.services


def test_busy_port_8787_no_warning(tmp_path, small_scenario):
    try:
        held = socket.create_server(("127.0.0.1", 8787))
    except OSError as exc:  # somebody else holds it: the same situation
        assert exc.errno == errno.EADDRINUSE
        held = None
    try:
        proc = cli("run", small_scenario, "--store", tmp_path / "s.zarr", "--workers", "1", timeout=240)
    finally:
        if held:
            held.close()
    assert proc.returncode == 0, proc.stderr
    assert "8787" not in proc.stderr and "already in use" not in proc.stderr
    # stderr (not a terminal here) holds progress lines and nothing else
    assert all(re.fullmatch(r"runs \d+/12 done, \d+s elapsed", line) for line in proc.stderr.splitlines()), proc.stderr


# --------------------------------------------------------------------------- worker plugin


def test_plugin_compiles_once_per_worker_process():
    from distributed import Client

    with cluster.connect(workers=1, models=("hopfield",)) as client:
        assert isinstance(client, Client)
        client.register_plugin(cluster.DynetWorkerPlugin(("hopfield",)))  # what a second `dynet run` does
        client.register_plugin(cluster.DynetWorkerPlugin(("hopfield",)))

        def compiled():
            cluster.wait_warm()
            return list(cluster.warmups)

        (warmups,) = client.run(compiled).values()
        assert warmups == ["hopfield"]


def test_plugin_setup_returns_at_once_and_compiles_in_a_thread(monkeypatch):
    """The warm-up runs in a thread of its own: setup returns at once (the event loop and the
    client registering the plugin never wait for it), and a second setup compiles nothing."""

    class SlowModel:
        @staticmethod
        def warmup():
            time.sleep(1.0)

    monkeypatch.setitem(models.REGISTRY, "slow", SlowModel)
    plugin = cluster.DynetWorkerPlugin(("slow",))
    try:
        t0 = time.monotonic()
        plugin.setup(worker=None)
        assert time.monotonic() - t0 < 0.5, "setup waited for the warm-up"
        t1 = time.monotonic()
        cluster.wait_warm()
        assert time.monotonic() - t1 > 0.5  # ... until the slow warm-up is done
        plugin.setup(worker=None)  # again: nothing to compile
        cluster.wait_warm()
    finally:
        cluster._warmed.discard("slow")
    assert cluster.warmups.count("slow") == 1


# --------------------------------------------------------------------------- progress and Ctrl-C


PROGRESS = re.compile(r"runs (\d+)/(\d+) done, (?:(\d+)h)?(?:(\d+)m)?(\d+)s elapsed")


def seconds(m) -> int:
    h, mi, s = (int(x or 0) for x in m.groups()[2:])
    return 3600 * h + 60 * mi + s


def test_progress_lines_at_a_steady_pace_in_a_log(tmp_path, write_scenario):
    scenario = write_scenario(LONG_HOPFIELD, "long.toml")
    proc = cli(
        "run",
        scenario,
        "--store",
        tmp_path / "s.zarr",
        "--workers",
        "1",
        timeout=600,
        env={"DYNET_PROGRESS_SECONDS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    matches = [PROGRESS.fullmatch(line) for line in proc.stderr.splitlines()]
    assert matches and all(matches), proc.stderr
    done = [int(m[1]) for m in matches]
    assert done[0] == 0 and done[-1] == 12 and done == sorted(done)
    assert all(int(m[2]) == 12 for m in matches)
    times = [seconds(m) for m in matches]
    assert times == sorted(times)
    # never silent much longer than the heartbeat (6 x the interval; generous for a loaded machine)
    assert max(b - a for a, b in itertools.pairwise(times)) <= 15, proc.stderr


def test_interactive_progress_is_a_bar(tmp_path, small_scenario):
    import pty

    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dynet.cli",
            "run",
            small_scenario,
            "--store",
            str(tmp_path / "s.zarr"),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env=env,
        cwd=ROOT,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=240) == 0
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert "runs (12 to do)" in text and "12/12" in text
    assert "done," not in text  # no log lines on a terminal


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path, write_scenario):
    scenario = write_scenario(LONG_HOPFIELD, "long.toml")
    path = tmp_path / "s.zarr"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dynet.cli", "run", scenario, "--store", str(path), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        complete = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                complete = [a["status"] for a in S.list_runs(S.open_store(path)).values()].count("complete")
            except (S.StoreError, KeyError, FileNotFoundError, ValueError):
                complete = 0
            if complete >= 2:
                break
            time.sleep(0.05)
        assert complete >= 2 and proc.poll() is None, "the interrupt should land mid-scenario"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    statuses = [a["status"] for a in S.list_runs(S.open_store(path)).values()]
    n = statuses.count("complete")
    assert lines[-1] == f"interrupted: {n} of 12 runs complete; run the same command again to finish the rest", err
    assert all(PROGRESS.fullmatch(line) for line in lines[:-1]), err
    assert "Traceback" not in err
    assert 2 <= n < 12
    # the embedded cluster's processes are gone too
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("worker processes outlived dynet run")
    # and running the same command again finishes the rest
    again = cli("run", scenario, "--store", path, "--workers", "2", "--json", timeout=600)
    assert again.returncode == 0, again.stderr
    assert [a["status"] for a in S.list_runs(S.open_store(path)).values()].count("complete") == 12


# --------------------------------------------------------------------------- dashboard link


@pytest.mark.parametrize("bokeh", [True, False])
def test_dashboard_link_of_an_external_scheduler(monkeypatch, caplog, bokeh):
    from distributed import LocalCluster

    real = cluster.importlib.util.find_spec
    monkeypatch.setattr(
        cluster.importlib.util,
        "find_spec",
        lambda name: (object() if bokeh else None) if name == "bokeh" else real(name),
    )
    with (
        LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address="127.0.0.1:0") as lc,
        caplog.at_level("INFO", logger="dynet.cluster"),
    ):
        port = lc.scheduler.services["dashboard"].port
        with cluster.connect(scheduler=lc.scheduler_address, timeout=10):
            pass
    notes = [r.getMessage() for r in caplog.records if r.name == "dynet.cluster"]
    assert notes == ([f"dashboard: http://127.0.0.1:{port}/status"] if bokeh else [])


# --------------------------------------------------------------------------- addresses and TLS options


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("garbage", "not a scheduler address"),
        ("tcp://127.0.0.1", "not a scheduler address"),
        ("http://127.0.0.1:8787", "unsupported protocol http://"),
        ("tls://127.0.0.1:8786", "TLS needs --tls-ca-file, --tls-cert and --tls-key"),
    ],
)
def test_bad_scheduler_addresses_are_bad_input(address, message):
    with pytest.raises(cluster.ClusterConfigError, match=message) as info:
        cluster.scheduler_address(address, cluster.tls_security())
    assert info.value.exit_code == 2


def test_addresses_are_completed():
    assert cluster.scheduler_address("127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    assert cluster.scheduler_address(" tcp://[::1]:8786 ") == "tcp://[::1]:8786"


def test_tls_options_are_checked(tmp_path):
    with pytest.raises(cluster.ClusterConfigError, match=r"--tls-ca-file .*nope.pem: no such file"):
        cluster.tls_security(str(tmp_path / "nope.pem"), None, None)
    cert = tmp_path / "c.pem"
    cert.write_text("not a certificate\n")
    with pytest.raises(cluster.ClusterConfigError, match="missing --tls-ca-file"):
        cluster.tls_security(None, str(cert), None)
    with pytest.raises(cluster.ClusterConfigError, match="cannot use the TLS files"):
        cluster.tls_security(str(cert), str(cert), None)
    with (
        pytest.raises(cluster.ClusterConfigError, match="the TLS options apply to --scheduler only"),
        cluster.connect(security=object()),
    ):
        pass


# --------------------------------------------------------------------------- memory


def test_a_run_larger_than_the_workers_memory_is_refused_before_anything_is_written(tmp_path, write_scenario):
    """Dask pauses a worker at 80 % of its memory limit and kills it at 95 %: a run estimated
    above the pause threshold would kill worker after worker; it is refused in one line."""
    from distributed import LocalCluster

    path = write_scenario(
        'name = "big"\nmodel = "hopfield"\nseed = 1\n[network]\nn_units = 7000\n'
        '[patterns]\nsource = "random"\ncount = 10\n[init]\nkind = "flip"\npattern = 0\n'
        "fraction = 0.1\n",
        "big.toml",
    )
    with LocalCluster(
        n_workers=1, threads_per_worker=1, memory_limit="300MB", host="127.0.0.1", dashboard_address="127.0.0.1:0"
    ) as lc:
        proc = cli("run", path, "--store", tmp_path / "s.zarr", "--scheduler", lc.scheduler_address)
    assert proc.returncode == 2
    assert one_error_line(proc) == (
        f"error: {path}: network.n_units: a run would need about 0.3 GiB of memory (mostly hebbian weights "
        "7000 x 7000); the workers' memory limit is 0.28 GiB and Dask pauses a worker at 80% of it"
    )
    assert not (tmp_path / "s.zarr").exists()
