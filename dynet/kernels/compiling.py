"""Noticing numba compiling kernels.

Numba compiles a kernel the first time it is called with given types on a machine and keeps
the result in its on-disk cache; later processes load it in milliseconds. A first run
therefore waits tens of seconds, and the user should be told why. Numba announces each
compilation (not a load from its cache) as a ``numba:compile`` event; :func:`watch` listens
for them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator


class CompileWatch:
    """What was compiled while the watch was on: ``count`` kernels (nested ones included) in
    ``seconds`` of wall time (outermost compilations only, so nothing is counted twice)."""

    def __init__(self, on_first: Callable[[], None] | None = None):
        self.count = 0
        self.seconds = 0.0
        self._on_first = on_first
        self._lock = threading.Lock()
        self._depth: dict[int, int] = {}  # thread id -> nesting of compilations in progress
        self._started: dict[int, float] = {}

    def _start(self) -> None:
        tid = threading.get_ident()
        with self._lock:
            first = self.count == 0
            self.count += 1
            depth = self._depth.get(tid, 0)
            if depth == 0:
                self._started[tid] = time.perf_counter()
            self._depth[tid] = depth + 1
        if first and self._on_first is not None:
            self._on_first()

    def _end(self) -> None:
        tid = threading.get_ident()
        with self._lock:
            depth = self._depth.get(tid, 0) - 1
            self._depth[tid] = max(depth, 0)
            if depth == 0:
                self.seconds += time.perf_counter() - self._started.pop(tid)


@contextlib.contextmanager
def watch(on_first: Callable[[], None] | None = None) -> Iterator[CompileWatch]:
    """Count the kernels numba compiles (in any thread of this process) inside the block;
    ``on_first()`` is called once, when the first compilation starts."""
    from numba.core import event

    watch_ = CompileWatch(on_first)

    class _Listener(event.Listener):
        def on_start(self, ev):
            watch_._start()

        def on_end(self, ev):
            watch_._end()

    listener = _Listener()
    event.register("numba:compile", listener)
    try:
        yield watch_
    finally:
        event.unregister("numba:compile", listener)
