"""Where runs execute: an embedded local cluster or a running Dask scheduler.

The embedded default is a cluster of worker processes bound to 127.0.0.1, one thread
each, as many as there are cores. It serves no HTTP at all (no dashboard, no
``/health`` or ``/metrics``): nothing listens but the Dask comms of the scheduler,
the nannies and the workers, on 127.0.0.1. Its worker processes ignore SIGINT, so a
Ctrl-C reaches only ``dynet run``, which stops them itself.

An external scheduler (``--scheduler tcp://HOST:PORT`` or ``tls://HOST:PORT``) is
probed first, with one overall deadline on the connection, the handshake and one
request: an address that is not a Dask scheduler (an HTTP server, a silent listener,
a worker) fails in seconds with one line instead of hanging. TLS takes a CA file and a
client certificate and key, given to :func:`tls_security` or read from Dask's config
(``distributed.comm.tls.*``).

Every worker gets :class:`DynetWorkerPlugin`, which compiles the kernels of the
scenario's model once per worker process, off the worker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable

from distributed import Client, Nanny, Scheduler, SpecCluster, Worker
from distributed.diagnostics.plugin import WorkerPlugin

from . import models as _models
from .errors import ClusterConfigError, ClusterError

logger = logging.getLogger(__name__)


# ClusterError and ClusterConfigError live in dynet.errors (catching them needs no Dask) and are
# importable from here as before


# --------------------------------------------------------------------------- worker plugin

_warm_lock = threading.Lock()
_warmed: set[str] = set()  # model kinds whose kernels this process has compiled
warmups: list[str] = []  # every warm-up this process ran, in order (read by the tests)


#: the Dask event topic on which a worker announces that it compiles a model kind's kernels
COMPILE_TOPIC = "dynet-compiling"


def warm_models(models, on_compile: Callable[[str], None] | None = None) -> list[str]:
    """Compile the kernels of each model kind not yet warm in this process; return those compiled.

    Thread-safe and idempotent: a second call (a second ``dynet run`` registering the
    plugin again) compiles nothing. A task that calls a kernel while it is being
    compiled waits on numba's compiler lock and then uses the compiled code, so no
    kernel is ever compiled twice. ``on_compile(kind)`` is told when numba compiles (rather
    than loads from its cache) a kind's kernels.
    """
    from .kernels import compiling

    done = []
    with _warm_lock:
        for model in models:
            if model in _warmed:
                continue
            with compiling.watch(None if on_compile is None else functools.partial(on_compile, model)):
                _models.get(model).warmup()
            _warmed.add(model)
            warmups.append(model)
            done.append(model)
    return done


_warm_threads: list[threading.Thread] = []  # warm-ups the plugin started in this process


def wait_warm() -> None:
    """Block until every warm-up started in this process is done."""
    for thread in list(_warm_threads):
        thread.join()


class DynetWorkerPlugin(WorkerPlugin):
    """Prepare a worker for dynet tasks: Zarr's concurrency and warm kernels.

    ``setup`` starts the compilation in a thread of its own and returns at once: the
    worker's event loop keeps answering the scheduler (heartbeats, other plugins), and
    the client that registers the plugin (``dynet submit`` above all) does not wait for
    it. A task that needs a kernel meanwhile waits on numba's compiler lock. (Thread
    counts are not set here: numba's setting is per thread, and dynet's kernels are serial;
    ``workers/`` pins ``NUMBA_NUM_THREADS`` and the BLAS threads to 1 for the whole process.)
    """

    name = "dynet"

    def __init__(self, models: tuple[str, ...] = (), zarr_concurrency: int = 4):
        self.models = tuple(models)
        self.zarr_concurrency = zarr_concurrency

    def setup(self, worker):
        import zarr

        zarr.config.set({"async.concurrency": self.zarr_concurrency})
        thread = threading.Thread(target=self._prepare, args=(worker,), name="dynet-warmup", daemon=True)
        _warm_threads.append(thread)
        thread.start()

    def _prepare(self, worker):
        def announce(model: str) -> None:  # to the clients subscribed (see connect's on_compile)
            worker.log_event(COMPILE_TOPIC, {"model": model, "worker": worker.address})

        warm_models(self.models, announce if worker is not None else None)


# --------------------------------------------------------------------------- embedded cluster


class _NoHTTP:
    """A Dask server that opens no HTTP listener (dynet uses neither dashboard nor metrics)."""

    def start_http_server(self, routes, dashboard_address, default_port=0, ssl_options=None):
        return None


def _ignore_sigint() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class QuietScheduler(_NoHTTP, Scheduler):
    """The embedded cluster's scheduler: no HTTP server."""


class QuietWorker(_NoHTTP, Worker):
    """The embedded cluster's worker: no HTTP server, and Ctrl-C is left to ``dynet run``."""

    def __init__(self, *args, **kwargs):
        _ignore_sigint()
        super().__init__(*args, **kwargs)


@contextlib.contextmanager
def _sigint_ignored():
    """Ignore Ctrl-C for a moment: while worker processes are spawned, or the cluster stops.

    Processes started meanwhile inherit the ignored SIGINT through exec (so a Ctrl-C
    meant for ``dynet run`` never interrupts a worker process in its imports), and a
    Ctrl-C while the cluster stops would only leave it half stopped. (A blocked signal
    cannot do the same: Python clears the mask of the processes multiprocessing spawns.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)  # (not the default handler at import: the CLI's)


def default_workers() -> int:
    return os.cpu_count() or 1


def local_cluster(n_workers: int, wait: bool = True) -> SpecCluster:
    """Worker processes (one thread each) under nannies, everything on 127.0.0.1, no HTTP.

    With ``wait=False`` it returns once every worker process exists, before the workers
    have started (see :func:`_spawned`).
    """
    from distributed.worker_memory import parse_memory_limit

    scheduler = {
        "cls": QuietScheduler,
        "options": {"host": "127.0.0.1", "port": 0, "dashboard": False, "dashboard_address": None},
    }
    # worker processes log nothing below CRITICAL: task errors reach the client as run
    # failures, and a worker stopped with the cluster must not print its lost heartbeats
    worker = {
        "cls": Nanny,
        "options": {
            "host": "127.0.0.1",
            "nthreads": 1,
            "worker_class": QuietWorker,
            "dashboard": False,
            "dashboard_address": None,
            "memory_limit": parse_memory_limit("auto", 1, n_workers, logger=logger),
            "silence_logs": logging.CRITICAL,
        },
    }
    cluster = SpecCluster(scheduler=scheduler, workers={}, worker=worker, silence_logs=logging.ERROR, name="dynet")
    try:
        # worker processes spawned while SIGINT is ignored ignore it for life (it is kept
        # through exec), so a Ctrl-C reaches only this process, which stops them itself
        with _sigint_ignored():
            before = _children()
            cluster.scale(n_workers)
            _spawned(before, n_workers)
        if wait:
            cluster.wait_for_workers(n_workers, timeout=START_TIMEOUT)
    except BaseException:
        with contextlib.suppress(Exception):
            cluster.close()
        raise
    return cluster


START_TIMEOUT = 300.0  # seconds for the embedded cluster's workers to start


def _spawned(before: set[int], n_workers: int, timeout: float = 60.0) -> None:
    """Wait until ``n_workers`` worker processes not in ``before`` are children of this process.

    They then still import and register; only their spawning needs SIGINT ignored.
    """
    import psutil  # a dependency of distributed

    me = psutil.Process()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = 0
        for child in me.children():
            if child.pid in before:
                continue
            with contextlib.suppress(psutil.Error):
                new += any("spawn_main" in part for part in child.cmdline())
        if new >= n_workers:
            return
        time.sleep(0.01)


def _children() -> set[int]:
    import psutil

    return {p.pid for p in psutil.Process().children()}


# --------------------------------------------------------------------------- external scheduler


def tls_security(ca_file=None, cert=None, key=None):
    """A :class:`distributed.security.Security` for a TLS scheduler.

    With no file given, Dask's config decides (``distributed.comm.tls.ca-file``,
    ``distributed.comm.tls.client.cert`` / ``.key``); with files, all of CA and
    certificate are needed (the key may be inside the certificate file).
    """
    from distributed.security import Security

    given = {"--tls-ca-file": ca_file, "--tls-cert": cert, "--tls-key": key}
    if not any(given.values()):
        return Security()
    for opt, path in given.items():
        if path and not os.path.isfile(path):
            raise ClusterConfigError(f"{opt} {path}: no such file")
    missing = [opt for opt in ("--tls-ca-file", "--tls-cert") if not given[opt]]
    if missing:
        raise ClusterConfigError(
            f"TLS needs --tls-ca-file and --tls-cert (and --tls-key unless the key is in "
            f"the certificate file); missing {' and '.join(missing)}"
        )
    try:
        sec = Security(tls_ca_file=ca_file, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
        sec.get_connection_args("client")  # loads the files: report a bad one now
    except Exception as exc:  # noqa: BLE001 - ssl errors are OSError/ValueError subclasses
        raise ClusterConfigError(f"cannot use the TLS files {ca_file}, {cert}, {key}: {_one_line(exc)}") from None
    return sec


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 300 else text[:297] + "..."


def _uses_tls(security) -> bool:
    return bool(security and security.get_connection_args("client").get("ssl_context"))


def scheduler_address(address: str, security=None) -> str:
    """``address`` checked and completed: ``tcp://`` or ``tls://`` (the latter when TLS is set up)."""
    from distributed.comm.addressing import parse_address, parse_host_port

    addr = address.strip()
    usage = "expected tcp://HOST:PORT or tls://HOST:PORT"
    if "://" not in addr:
        addr = f"{'tls' if _uses_tls(security) else 'tcp'}://{addr}"
    try:
        scheme, loc = parse_address(addr, strict=True)
        host, port = parse_host_port(loc)
    except ValueError as exc:
        raise ClusterConfigError(f"--scheduler {address}: not a scheduler address ({exc}); {usage}") from None
    if scheme not in ("tcp", "tls"):
        raise ClusterConfigError(f"--scheduler {address}: unsupported protocol {scheme}://; {usage}")
    if not host or not 0 < int(port) < 65536:
        raise ClusterConfigError(f"--scheduler {address}: not a scheduler address; {usage}")
    if scheme == "tcp" and security is not None and security.require_encryption:
        raise ClusterConfigError(
            f"--scheduler {address}: TLS is required (the TLS options or Dask's "
            f"distributed.comm.require-encryption): use tls://{loc}"
        )
    if scheme == "tls" and not _uses_tls(security):
        raise ClusterConfigError(
            f"--scheduler {address}: TLS needs --tls-ca-file, --tls-cert and --tls-key "
            f"(or distributed.comm.tls.* in Dask's config)"
        )
    return addr


def _tcp_refusal(address: str) -> str | None:
    """Why a plain TCP connection to ``address`` fails now (None: something accepts it)."""
    from distributed.comm import get_address_host_port

    try:
        host, port = get_address_host_port(address)
        with socket.create_connection((host, port), timeout=1.0):
            return None
    except OSError as exc:
        return exc.strerror or _one_line(exc)
    except ValueError:  # no host and port in this address
        return None


def probe_scheduler(address: str, security=None, timeout: float = 10.0) -> dict:
    """Connect, shake hands and ask for the scheduler's identity, all within ``timeout`` seconds.

    Returns the identity; raises :class:`ClusterError` with one line on anything else.
    Runs on its own event loop in a thread, so it works inside a running loop too.
    """
    from distributed.comm import CommClosedError, connect

    args = security.get_connection_args("client") if security else {}
    box: dict = {}

    async def ask():
        comm = await connect(address, timeout=timeout, **args)
        try:
            await comm.write({"op": "identity", "n_workers": 0, "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    def main():
        try:
            box["identity"] = asyncio.run(asyncio.wait_for(ask(), timeout + 1))  # connect() gives up first
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=main, name="dynet-probe", daemon=True)
    thread.start()
    thread.join(timeout + 6)
    where = f"cannot reach Dask scheduler at {address}"
    exc = box.get("error")
    if thread.is_alive() or isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        raise ClusterError(f"{where}: no answer within {timeout:g} s")
    if isinstance(exc, CommClosedError):
        hint = (
            ""
            if address.startswith("tls://")
            else (", or a TLS one: use tls:// with --tls-ca-file, --tls-cert, --tls-key")
        )
        raise ClusterError(f"{where}: the connection closed during the handshake (not a Dask scheduler{hint})")
    if isinstance(exc, OSError):
        root = exc
        while root.__cause__ is not None:
            root = root.__cause__
        if isinstance(root, (asyncio.CancelledError, asyncio.TimeoutError, TimeoutError)):
            # the deadline cut distributed's last try short: whether anything listens decides
            refused = _tcp_refusal(address) if str(exc).startswith("Timed out trying to connect") else None
            if refused:
                raise ClusterError(f"{where}: no connection within {timeout:g} s (last try: {refused})")
            raise ClusterError(f"{where}: no answer within {timeout:g} s")
        reason = root.strerror if isinstance(root, OSError) and root.strerror else _one_line(root)
        if root is not exc and str(exc).startswith("Timed out trying to connect"):
            raise ClusterError(f"{where}: no connection within {timeout:g} s (last try: {reason})")
        raise ClusterError(f"{where}: {reason}")
    if exc is not None:
        raise ClusterError(
            f"{where}: it answered, but not as a Dask scheduler ({type(exc).__name__}: {_one_line(exc)})"
        )
    identity = box.get("identity")
    if not isinstance(identity, dict) or "workers" not in identity:  # a Worker's or Nanny's identity has none
        kind = identity.get("type") if isinstance(identity, dict) else None
        raise ClusterError(
            f"{where}: it answered, but is " + (f"a Dask {kind}, not the scheduler" if kind else "not a Dask scheduler")
        )
    return identity


def _defuse(exc: BaseException) -> None:
    """Mark a Client whose constructor failed as closed, so its ``__del__`` neither waits nor prints."""
    tb = exc.__traceback__
    while tb is not None:
        obj = tb.tb_frame.f_locals.get("self")
        if isinstance(obj, Client):
            obj.status = "closed"
        tb = tb.tb_next


def _dashboard_link(client) -> str | None:
    if importlib.util.find_spec("bokeh") is None:
        return None
    with contextlib.suppress(Exception):
        info = client.scheduler_info(n_workers=0)
        if "dashboard" in info.get("services", {}):
            return client.dashboard_link
    return None


def _quiet_shutdown() -> None:
    """After a Ctrl-C: requests cut short while the cluster stops are expected, not worth a traceback."""
    for name in ("asyncio", "distributed", "tornado"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


# Runs on each worker. Defined in a namespace no worker can import, so cloudpickle sends the code
# itself: the answer is the version of the dynet the worker imports, whatever that dynet contains.
_VERSION_PROBE = """
def dynet_version():
    try:
        import dynet
    except ImportError:
        return None
    return str(getattr(dynet, "__version__", "?"))
"""


def _version_probe():
    namespace = {"__name__": "dynet_version_probe"}
    exec(_VERSION_PROBE, namespace)  # noqa: S102 - our own constant source
    return namespace["dynet_version"]


#: Dask pauses a worker whose memory passes this fraction of its limit (distributed's
#: ``worker.memory.pause`` default): a run must fit below it.
MEMORY_PAUSE_FRACTION = 0.8


def worker_memory_limit(client: Client) -> int | None:
    """The smallest memory limit (bytes) among the client's workers; None when none is set."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    limits = [w.get("memory_limit") or 0 for w in workers.values()]
    limits = [x for x in limits if x > 0]
    return min(limits) if limits else None


def check_worker_versions(client: Client, timeout: float) -> None:
    """Raise :class:`ClusterError` when a worker of this scheduler imports another dynet version than
    this client, or none: its tasks would fail, or compute with other code than the run ids promise.
    Workers that join later are not checked here."""
    from . import __version__

    box: dict = {}

    def ask():
        try:
            box["versions"] = client.run(_version_probe())
        except Exception as exc:  # noqa: BLE001 - reported below as one line
            box["error"] = exc

    thread = threading.Thread(target=ask, name="dynet-versions", daemon=True)
    thread.start()
    thread.join(timeout)
    if "versions" not in box:
        why = _one_line(box["error"]) if "error" in box else f"no answer within {timeout:g} s"
        raise ClusterError(f"cannot ask the scheduler's workers for their dynet version: {why}")
    other: dict[str, list[str]] = {}
    for address, version in sorted(box["versions"].items()):
        if version != __version__:
            other.setdefault(version or "no dynet", []).append(address)
    if other:
        what = "; ".join(
            f"{', '.join(addrs[:3])}{' and others' if len(addrs) > 3 else ''} "
            f"{'have no dynet' if v == 'no dynet' else 'run dynet ' + v}"
            for v, addrs in other.items()
        )
        raise ClusterError(
            f"workers {what}, this client runs dynet {__version__}: install the same dynet "
            "version on the workers and the client"
        )


def _subscribe_compiling(client, on_compile: Callable[[str], None] | None) -> None:
    """Have ``on_compile(kind)`` called once per kind the workers announce compiling."""
    if on_compile is None:
        return
    told: set[str] = set()

    def handler(event) -> None:
        _, msg = event
        kind = msg.get("model") if isinstance(msg, dict) else None
        if kind and kind not in told:
            told.add(kind)
            on_compile(kind)

    client.subscribe_topic(COMPILE_TOPIC, handler)


@contextlib.contextmanager
def connect(
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    models: tuple[str, ...] = (),
    timeout: float = 10.0,
    security=None,
    on_compile: Callable[[str], None] | None = None,
):
    """Yield a :class:`distributed.Client` on a scheduler address or an embedded local cluster.

    ``security``: a :class:`distributed.security.Security` for a TLS scheduler (see
    :func:`tls_security`); by default Dask's config. Every wait for the scheduler is
    bounded by ``timeout`` seconds. ``on_compile(kind)`` is called (once per kind) when a
    worker starts compiling the kernels of one of ``models``.
    """
    if scheduler:
        if security is None:
            security = tls_security()
        address = scheduler_address(scheduler, security)
        probe_scheduler(address, security, timeout)
        try:
            client = Client(address, timeout=timeout, security=security, set_as_default=False)
        except Exception as exc:  # noqa: BLE001 - it answered the probe a moment ago
            _defuse(exc)
            raise ClusterError(f"cannot reach Dask scheduler at {address}: {_one_line(exc)}") from None
        except KeyboardInterrupt as exc:
            _defuse(exc)
            _quiet_shutdown()
            raise
        try:
            check_worker_versions(client, timeout)
            link = _dashboard_link(client)
            if link:
                logger.info("dashboard: %s", link)
            _subscribe_compiling(client, on_compile)
            client.register_plugin(DynetWorkerPlugin(models))
            yield client
        except KeyboardInterrupt:
            _quiet_shutdown()
            raise
        finally:
            with _sigint_ignored(), contextlib.suppress(Exception):
                client.close(timeout=timeout)
        return
    if security is not None:
        raise ClusterConfigError("the TLS options apply to --scheduler only (the embedded cluster is local)")
    n = workers or default_workers()
    cluster = client = None
    try:
        try:
            cluster = local_cluster(n, wait=False)
        except Exception as exc:  # noqa: BLE001 - report any start failure as one line
            raise ClusterError(f"cannot start a local Dask cluster with {n} workers: {_one_line(exc)}") from None
        try:
            client = Client(cluster, set_as_default=False)
        except KeyboardInterrupt as exc:
            _defuse(exc)  # a Client cut short in its constructor must not wait to close when collected
            raise
        try:
            client.wait_for_workers(n, timeout=START_TIMEOUT)
        except TimeoutError:
            started = len(client.scheduler_info(n_workers=-1).get("workers", {}))
            raise ClusterError(
                f"cannot start a local Dask cluster with {n} workers: {started} started within {START_TIMEOUT:g} s"
            ) from None
        _subscribe_compiling(client, on_compile)
        client.register_plugin(DynetWorkerPlugin(models))
        yield client
    except KeyboardInterrupt:
        _quiet_shutdown()
        raise
    finally:
        with _sigint_ignored():
            for part in (client, cluster):
                if part is not None:
                    with contextlib.suppress(Exception):
                        part.close()
