"""Threads the daemon may abandon: a daemon-thread pool and the shutdown watchdog.

Why not :class:`concurrent.futures.ThreadPoolExecutor`: its workers are joined at interpreter
exit (``concurrent.futures.thread._python_exit``) with no timeout, whether or not ``shutdown``
was called with ``wait=False``. A thread stuck in a handler, a kombu publish or a blocking
Redis call then keeps the process alive after SIGTERM for as long as it is stuck. What these
threads run is safe to abandon: an attempt commits its effect, reply and notification in one
``EXEC`` (see :mod:`.idempotency`), so a thread that dies before that leaves nothing behind, and
its stream entry stays pending until another replica reclaims it.

:class:`ShutdownWatchdog` is the last line: once armed (by SIGTERM), it ends the process with
``os._exit`` if the orderly shutdown has not finished within the grace time plus a margin.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Exit status when the watchdog had to end a shutdown that overran its budget.
EXIT_SHUTDOWN_OVERRUN = 70

_WorkItem = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class DaemonThreadPool:
    """At most ``max_workers`` daemon threads running submitted calls; never joined at exit."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._max_workers = max_workers
        self._name = name
        self._queue: queue.SimpleQueue[_WorkItem | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(*args)`` in a pool thread; the future holds its result or exception."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"thread pool {self._name} is closed")
            self._queue.put((future, fn, args))
            if self._idle > 0:
                self._idle -= 1
            elif len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn, args = item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as exc:  # delivered to the waiter, like the stdlib pool
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            with self._lock:
                self._idle += 1

    def busy(self) -> int:
        """Threads running a call now (an estimate while calls start and finish)."""
        with self._lock:
            alive = sum(thread.is_alive() for thread in self._threads)
            return max(0, alive - self._idle)

    def close(self, timeout_s: float = 0.0) -> int:
        """Cancel queued calls, let threads end after their current call, wait up to ``timeout_s``.

        Returns how many threads are still running a call (abandoned: they are daemon threads).
        """
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        for _ in threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout_s
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return sum(thread.is_alive() for thread in threads)


class ShutdownWatchdog:
    """Ends the process ``budget_s`` after :meth:`arm` unless it exited by then.

    :meth:`arm` only writes a byte to a pipe, so it is safe from a signal handler and works even
    when the event loop is blocked (the case the watchdog exists for).
    """

    def __init__(self, budget_s: float, *, name: str = "scheduler") -> None:
        self.budget_s = budget_s
        self._name = name
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._thread = threading.Thread(target=self._watch, name="memos-shutdown-watchdog")
        self._thread.daemon = True
        self._thread.start()

    def arm(self) -> None:
        """Start the countdown (idempotent; async-signal-safe)."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._write_fd, b"!")

    def _watch(self) -> None:
        try:
            os.read(self._read_fd, 1)
        except OSError:
            return
        time.sleep(self.budget_s)
        logger.error(
            "%s: shutdown did not finish within %.1f s; exiting now (un-acked entries stay "
            "pending and are reclaimed by another replica)",
            self._name,
            self.budget_s,
        )
        for stream in (sys.stderr, sys.stdout):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(EXIT_SHUTDOWN_OVERRUN)
