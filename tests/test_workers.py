"""workers/ scripts for real: every listener on the given host, workers that come back after a
scheduler restart, a TLS-only scheduler with certificates from workers/make-tls.sh."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from dynet import cluster
from dynet import store as S

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKERS = os.path.join(ROOT, "workers")
BIN = os.path.dirname(sys.executable)

pytestmark = pytest.mark.skipif(
    not os.path.exists(os.path.join(BIN, "dask")), reason="dask CLI not installed next to this python"
)


def env() -> dict:
    return dict(
        os.environ,
        PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
        PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def script(name, *args, log):
    return subprocess.Popen(
        [os.path.join(WORKERS, name), *map(str, args)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env(),
        start_new_session=True,
    )


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def cli(*args, timeout=300, extra_env=None):
    return subprocess.run(
        [sys.executable, "-m", "dynet.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env(), **(extra_env or {})),
        cwd=ROOT,
        check=False,
    )


def wait_for_workers(address, n, security=None, timeout=120) -> dict:
    """The scheduler's identity once it has ``n`` workers (probing it the way `dynet run` does)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            identity = cluster.probe_scheduler(address, security, timeout=5)
            if identity["n_workers"] >= n:
                return identity
        except cluster.ClusterError:
            pass
        assert time.monotonic() < deadline, f"no {n} worker(s) at {address} within {timeout} s"
        time.sleep(0.5)


def listening(proc) -> list[tuple[str, int]]:
    """(ip, port) of every listening socket of a process and its descendants."""
    out = []
    root = psutil.Process(proc.pid)
    for p in [root, *root.children(recursive=True)]:
        try:
            out += [
                (c.laddr.ip, c.laddr.port) for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
            ]
        except psutil.NoSuchProcess:
            pass
    return out


def complete_runs(path) -> int:
    return [a["status"] for a in S.list_runs(S.open_store(path)).values()].count("complete")


def test_scripts_listen_on_the_host_only_and_workers_survive_a_scheduler_restart(tmp_path, small_scenario):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    with open(tmp_path / "scheduler.log", "w") as slog, open(tmp_path / "worker.log", "w") as wlog:
        sched = script("start-scheduler.sh", "127.0.0.1", port, log=slog)
        procs = [sched]
        try:
            wait_for_workers(address, 0)
            worker = script("start-worker.sh", address, 1, log=wlog)
            procs.append(worker)
            identity = wait_for_workers(address, 1)

            sockets = listening(sched) + listening(worker)
            assert all(ip == "127.0.0.1" for ip, _ in sockets), sockets
            # scheduler: comm + HTTP; worker: nanny, worker comm and the worker's HTTP
            assert len(listening(sched)) == 2 and len(listening(worker)) == 3, sockets

            # the scheduler's HTTP port is not a scheduler: one line, no hang
            http_port = identity["services"]["dashboard"]
            proc = cli(
                "run",
                small_scenario,
                "--store",
                tmp_path / "x.zarr",
                "--scheduler",
                f"tcp://127.0.0.1:{http_port}",
                timeout=90,
            )
            assert proc.returncode == 1
            assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(
                f"error: cannot reach Dask scheduler at tcp://127.0.0.1:{http_port}: "
            ), proc.stderr

            # the scheduler dies and comes back on the same port: the worker finds it again
            os.killpg(sched.pid, signal.SIGKILL)
            sched.wait()
            sched = script("start-scheduler.sh", "127.0.0.1", port, log=slog)
            procs.append(sched)
            wait_for_workers(address, 1, timeout=180)
            path = tmp_path / "s.zarr"
            proc = cli("run", small_scenario, "--store", path, "--scheduler", address)
            assert proc.returncode == 0, proc.stderr
            assert complete_runs(path) == 12
        finally:
            for p in reversed(procs):
                stop(p)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_tls_scheduler_refuses_plain_tcp_and_serves_tls(tmp_path, small_scenario):
    tls = tmp_path / "tls"
    subprocess.run([os.path.join(WORKERS, "make-tls.sh"), str(tls)], check=True, capture_output=True)
    ca = str(tls / "ca.pem")
    port = free_port()
    with open(tmp_path / "scheduler.log", "w") as slog, open(tmp_path / "worker.log", "w") as wlog:
        procs = [
            script(
                "start-scheduler.sh",
                "--tls-ca-file",
                ca,
                "--tls-cert",
                tls / "scheduler.pem",
                "--tls-key",
                tls / "scheduler.key",
                "127.0.0.1",
                port,
                log=slog,
            )
        ]
        try:
            security = cluster.tls_security(ca, str(tls / "client.pem"), str(tls / "client.key"))
            wait_for_workers(f"tls://127.0.0.1:{port}", 0, security)
            procs.append(
                script(
                    "start-worker.sh",
                    "--tls-ca-file",
                    ca,
                    "--tls-cert",
                    tls / "worker.pem",
                    "--tls-key",
                    tls / "worker.key",
                    f"tls://127.0.0.1:{port}",
                    1,
                    log=wlog,
                )
            )
            wait_for_workers(f"tls://127.0.0.1:{port}", 1, security)

            path = tmp_path / "s.zarr"
            plain = cli("run", small_scenario, "--store", path, "--scheduler", f"tcp://127.0.0.1:{port}", timeout=90)
            assert plain.returncode == 1
            assert plain.stderr.count("\n") == 1 and "closed during the handshake" in plain.stderr, plain.stderr
            assert not path.exists()

            proc = cli(
                "run",
                small_scenario,
                "--store",
                path,
                "--scheduler",
                f"tls://127.0.0.1:{port}",
                "--tls-ca-file",
                ca,
                "--tls-cert",
                tls / "client.pem",
                "--tls-key",
                tls / "client.key",
            )
            assert proc.returncode == 0, proc.stderr
            assert complete_runs(path) == 12

            # the same files from Dask's config (here its environment variables)
            config = {
                "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": ca,
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(tls / "client.pem"),
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(tls / "client.key"),
            }
            again = cli(
                "run", small_scenario, "--store", path, "--scheduler", f"tls://127.0.0.1:{port}", extra_env=config
            )
            assert again.returncode == 0, again.stderr
            assert "0 run(s) executed, 12 already complete" in again.stdout
        finally:
            for p in reversed(procs):
                stop(p)
