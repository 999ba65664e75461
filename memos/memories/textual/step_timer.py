"""A per-search step timer: light enough to be always on, read by the search-latency bench."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class StepTimer:
    """Milliseconds spent in each named step of one operation (repeated steps add up)."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the body of the ``with`` block as step ``name``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - started) * 1000.0)

    def add(self, name: str, ms: float) -> None:
        """Count ``ms`` more milliseconds for step ``name`` (a step timed elsewhere)."""
        self.ms[name] = self.ms.get(name, 0.0) + ms
