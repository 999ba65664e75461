"""Drive add events through the MOS facade from many tenants while faults are injected.

Each add carries an idempotency key fixed by (tenant, index): a caller whose add fails for any
reason (a timeout, the bus restarting) calls again with the same key, and the add must still have
exactly one effect. Afterwards every tenant's cube is compared with what was sent.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from memos.configs.mem_cube import GeneralMemCubeConfig
from memos.embedded import procs
from memos.errors import MemOSError
from memos.mem_os.main import MOS

ADD_DEADLINE_S = 600.0
RETRY_PAUSE_S = 0.5


def tree_cube_dir(root: Path, cube_id: str) -> Path:
    """A cube directory holding only a config: an empty TreeTextMemory on the embedded graph."""
    config = GeneralMemCubeConfig.model_validate(
        {"user_id": "someone", "cube_id": cube_id, "text_mem": {"backend": "tree_text"}}
    )
    target = root / cube_id
    target.mkdir(parents=True)
    config.to_json_file(target / "config.json")
    return target


def message(tenant: str, index: int) -> str:
    """The unique text of a tenant's ``index``-th add (content is checked byte for byte)."""
    order = index * 7919 % 10007
    return f"{tenant} note {index}: the parcel for order {order} left depot {index % 13}."


@dataclass
class Fault:
    """A fault to inject when ``at`` (a share of the events) have completed."""

    name: str
    at: float
    action: Callable[[], None]
    injected_at: float = 0.0
    action_s: float = 0.0
    recovered_s: float | None = None
    drained_s: float | None = None


@dataclass
class LoadReport:
    """What a run sent and what every cube holds afterwards."""

    events: int
    tenants: int
    lost: int
    duplicated: int
    retried_calls: int
    wall_s: float
    faults: list[Fault] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """One row per fault.

        ``recovered_s``: from the fault to the next completed add; ``drained_s``: from the fault
        until every add already in flight at that moment had completed (retries included).
        """
        return [
            {
                "fault": fault.name,
                "action_s": round(fault.action_s, 2),
                "recovered_s": None if fault.recovered_s is None else round(fault.recovered_s, 2),
                "drained_s": None if fault.drained_s is None else round(fault.drained_s, 2),
            }
            for fault in self.faults
        ]


class LoadRun:
    """Sends ``per_tenant`` adds for each tenant cube from a thread pool."""

    def __init__(self, mos: MOS, cubes: dict[str, str], per_tenant: int, threads: int) -> None:
        self.mos = mos
        self.cubes = cubes
        self.per_tenant = per_tenant
        self.threads = threads
        self._lock = threading.Lock()
        self.completed: list[float] = []
        self.spans: list[tuple[float, float]] = []
        self.retries = 0
        self.ids: dict[tuple[str, int], list[str]] = {}
        # Set when the run is abandoned (a failure, a pytest timeout): callers stop retrying, so
        # the thread pool ends at once instead of retrying for ADD_DEADLINE_S.
        self._abandoned = threading.Event()

    def _add(self, tenant: str, index: int) -> None:
        began = time.monotonic()
        deadline = began + ADD_DEADLINE_S
        key = f"{tenant}.{index}"
        while True:
            try:
                ids = self.mos.add(
                    memory_content=message(tenant, index),
                    mem_cube_id=self.cubes[tenant],
                    user_id=tenant,
                    idempotency_key=key,
                )
                break
            except (MemOSError, redis.RedisError):
                # The caller's side of the contract: retry with the same key.
                if time.monotonic() > deadline or self._abandoned.is_set():
                    raise
                with self._lock:
                    self.retries += 1
                time.sleep(RETRY_PAUSE_S)
        with self._lock:
            self.ids[(tenant, index)] = ids
            self.completed.append(time.monotonic())
            self.spans.append((began, self.completed[-1]))

    def run(self, faults: list[Fault]) -> LoadReport:
        """Send everything, injecting ``faults`` at their progress points; then verify."""
        total = len(self.cubes) * self.per_tenant
        started = time.monotonic()
        # Interleave tenants so every share of the run touches every cube.
        jobs = [(t, i) for i in range(self.per_tenant) for t in sorted(self.cubes)]
        pool = ThreadPoolExecutor(self.threads)
        try:
            futures = [pool.submit(self._add, t, i) for t, i in jobs]
            for fault in sorted(faults, key=lambda f: f.at):
                while len(self.completed) < fault.at * total:
                    if all(f.done() for f in futures):
                        break
                    time.sleep(0.05)
                fault.injected_at = time.monotonic()
                fault.action()
                fault.action_s = time.monotonic() - fault.injected_at
            for future in futures:
                future.result()
        except BaseException:
            self._abandoned.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        wall = time.monotonic() - started
        for fault in faults:
            after = [c for c in self.completed if c > fault.injected_at]
            fault.recovered_s = (min(after) - fault.injected_at) if after else None
            at = fault.injected_at
            caught = [end for start, end in self.spans if start <= at < end]
            fault.drained_s = (max(caught) - at) if caught else 0.0
        lost, duplicated = self.verify()
        return LoadReport(
            events=total,
            tenants=len(self.cubes),
            lost=lost,
            duplicated=duplicated,
            retried_calls=self.retries,
            wall_s=wall,
            faults=faults,
        )

    def verify(self) -> tuple[int, int]:
        """(lost, duplicated) over every cube: memory texts compared as multisets, and ids."""
        lost = duplicated = 0
        for tenant, cube_id in sorted(self.cubes.items()):
            graph = self.mos.get_all(mem_cube_id=cube_id, user_id=tenant)["text_mem"][0]
            nodes = graph["memories"]["nodes"]
            got = Counter(node["memory"] for node in nodes)
            sent = Counter(message(tenant, i) for i in range(self.per_tenant))
            lost += sum((sent - got).values())
            duplicated += sum((got - sent).values())
            expected_ids = {i for (t, _), ids in self.ids.items() if t == tenant for i in ids}
            assert {node["id"] for node in nodes} == expected_ids, f"ids differ in {cube_id}"
        return lost, duplicated


def restart_server(pid: int, sig: signal.Signals, up: Callable[[], object]) -> None:
    """Stop a stack server by PID with ``sig``, wait until it is gone, then repair the stack."""
    os.kill(pid, sig)
    if not procs.wait_for_exit(pid, 60):
        os.kill(pid, signal.SIGKILL)
        procs.wait_for_exit(pid, 10)
    up()
