"""The cluster side of `dynet run`, with real processes: unreachable or wrong schedulers fail
in seconds with one line, the embedded cluster serves no HTTP, the worker plugin compiles once
and off the event loop, progress lines in a log, Ctrl-C."""

import errno
import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest

from dynet import cluster

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args, timeout=90, env=None):
    """Run `dynet ARGS` as a subprocess; fails the test if it does not return within ``timeout``."""
    full_env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {}))
    return subprocess.run([sys.executable, "-m", "dynet.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=ROOT)


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
    proc = cli("run", small_scenario, "--store", tmp_path / "s.zarr", "--scheduler",
               f"tcp://127.0.0.1:{silent_server.port}")
    elapsed = time.monotonic() - start
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert line == f"error: cannot reach Dask scheduler at tcp://127.0.0.1:{silent_server.port}: no answer within 10 s"
    assert silent_server.conns, "the listener was reached"
    assert elapsed < 60
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
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # free again once closed
    with pytest.raises(cluster.ClusterError, match=f"at tcp://127.0.0.1:{port}: no connection within 1 s "
                                                   r"\(last try: Connection refused\)"):
        cluster.probe_scheduler(f"tcp://127.0.0.1:{port}", None, 1)


# --------------------------------------------------------------------------- the embedded cluster

def listeners(pid: int) -> list[tuple[str, int]]:
    return [(c.laddr.ip, c.laddr.port) for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN]


def test_embedded_cluster_serves_no_http():
    from distributed import Client

    with cluster.local_cluster(1) as lc, Client(lc, set_as_default=False) as client:
        sched = lc.scheduler
        assert not hasattr(sched, "http_server") and "dashboard" not in sched.services
        info = client.run(lambda dask_worker: (os.getpid(), dask_worker.address, sorted(dask_worker.services),
                                               hasattr(dask_worker, "http_server")))
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
    assert all(re.fullmatch(r"runs \d+/12 done, \d+s elapsed", line) for line in proc.stderr.splitlines()), \
        proc.stderr
