"""The user is told when numba compiles kernels (a first run on a machine), and only then:
a kernel loaded from numba's on-disk cache is not announced."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from dynet.kernels import compiling

CLI = [sys.executable, "-m", "dynet.cli"]

ISING = """
name = "tiny-ising"
model = "ising"
seed = 5
[lattice]
size = 8
[dynamics]
temperature = 2.2
thermalize = 10
sweeps = 20
"""

NOTICE = "compiling the ising kernels (once per machine; `dynet warmup` does it ahead of time)"


def _env(cache_dir) -> dict:
    return {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}


def test_watch_counts_compilations_once_each_and_calls_on_first_once():
    from numba import njit

    @njit
    def twice(x):
        return 2 * x

    @njit
    def outer(x):
        return twice(x) + 1

    told = []
    with compiling.watch(lambda: told.append(1)) as w:
        assert outer(3) == 7
    assert told == [1]
    assert w.count >= 2  # outer, and twice compiled inside it
    assert w.seconds > 0
    with compiling.watch(lambda: told.append(2)) as again:
        assert outer(4) == 9  # compiled already: nothing happens
    assert again.count == 0 and again.seconds == 0 and told == [1]
    assert twice(2.5) == 5.0  # a new signature outside any watch: nobody is told
    assert told == [1]


def test_a_kernel_loaded_from_the_cache_is_not_announced(tmp_path):
    (tmp_path / "cached_kernel.py").write_text(
        textwrap.dedent("""
        from numba import njit

        @njit(cache=True)
        def triple(x):
            return 3 * x
        """)
    )
    probe = textwrap.dedent("""
        from dynet.kernels import compiling
        import cached_kernel
        with compiling.watch() as w:
            assert cached_kernel.triple(2) == 6
        print(w.count)
        """)
    env = {**_env(tmp_path / "cache"), "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    counts = [
        int(subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout)
        for _ in range(2)
    ]
    assert counts == [1, 0]


def test_dynet_run_announces_compiling_in_process_and_on_workers_only_on_a_cold_cache(tmp_path):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(ISING)
    env = _env(tmp_path / "cache")

    def run(*extra, store):
        proc = subprocess.run(
            [*CLI, "run", str(scenario), "--store", str(tmp_path / store), *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stderr.splitlines()

    assert NOTICE in run(store="a.zarr")  # in this process: the first run compiles
    assert NOTICE not in run(store="b.zarr")  # then numba's cache serves
    # a worker of the embedded cluster compiling announces it to the client
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "cold")
    assert NOTICE in run("--workers", "1", store="c.zarr")
    assert NOTICE not in run("--workers", "1", store="d.zarr")
