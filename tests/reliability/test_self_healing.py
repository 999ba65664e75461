"""Kill-and-continue: one long-lived MOS on the embedded default, its parts SIGKILLed under load.

Nobody restarts anything by hand here: the supervisor the MOS started brings back the worker and
the daemon it runs, and repairs Redis and ArcadeDB. Several tenants keep adding meanwhile; every
add must be answered, the worker and daemon kills without a single failed call (the event in
flight is redelivered), and afterwards every cube holds exactly what was sent.
``memos status --json`` must show each restart with its exit reason. The measured times go to
``MEMOS_RELIABILITY_REPORT`` as in :mod:`tests.reliability.test_faults`.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from memos.configs.mem_os import MOSConfig
from memos.embedded import procs
from memos.embedded.supervision import read_reports
from memos.mem_os.main import MOS
from tests.examples.conftest import stop_services
from tests.reliability.load import Fault, LoadReport, LoadRun, tree_cube_dir
from tests.reliability.support import PrivateStack
from tests.reliability.test_faults import _record

pytestmark = pytest.mark.services


def _scheduler(prefix: str) -> dict[str, Any]:
    return {
        "prefix": prefix,
        "execution": "celery",
        "block_ms": 200,
        "heartbeat_interval_s": 0.5,
        "backoff_base_s": 0.5,
        "backoff_max_s": 8.0,
        "max_attempts": 6,
        "shutdown_grace_s": 5.0,
        "log_format": "console",
    }


@pytest.fixture
def supervised_mos(private_stack: PrivateStack) -> Iterator[tuple[MOS, str]]:
    """A MOS that starts its own supervised daemon and worker on the private stack."""
    prefix = f"h{uuid.uuid4().hex[:8]}"
    config = MOSConfig.model_validate(
        {
            "user_id": "root",
            "embedded": {
                "home": str(private_stack.home),
                "restart": {"backoff_base_s": 0.2, "server_check_s": 1.0},
            },
            "scheduler": _scheduler(prefix),
            "event_timeout_s": 60,
            "reorganize": {"enabled": False},
        }
    )
    mos = MOS(config)
    try:
        yield mos, prefix
    finally:
        mos.close()
        stop_services(private_stack.home, prefix)


def _pid(stack: PrivateStack, name: str) -> int:
    state = stack.stack.read_state()
    assert state is not None and name in state.processes, name
    return state.processes[name].pid


def _kill(stack: PrivateStack, name: str) -> Callable[[], None]:
    def act() -> None:
        pid = _pid(stack, name)
        os.kill(pid, signal.SIGKILL)
        assert procs.wait_for_exit(pid, 30)

    return act


def _kill_server(stack: PrivateStack, name: str) -> Callable[[], None]:
    def act() -> None:
        state = stack.stack.read_state()
        assert state is not None
        pid = state.redis.pid if name == "redis" else state.arcadedb.pid
        os.kill(pid, signal.SIGKILL)
        assert procs.wait_for_exit(pid, 30)

    return act


def _restarts(stack: PrivateStack, prefix: str) -> dict[str, tuple[int, str | None]]:
    for report in read_reports(stack.stack.home):
        if report.prefix == prefix:
            return {name: (p.restarts, p.last_exit) for name, p in report.parts.items()}
    return {}


def _wait_restarted(stack: PrivateStack, prefix: str, name: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while _restarts(stack, prefix).get(name, (0, None))[0] < count:
        assert time.monotonic() < deadline, f"{name} not restarted: {_restarts(stack, prefix)}"
        time.sleep(0.2)


def _cubes(mos: MOS, root: Path, tenants: int) -> dict[str, str]:
    cubes: dict[str, str] = {}
    for t in range(tenants):
        tenant = f"tenant{t:02d}"
        mos.create_user(tenant)
        cube = f"c_{tenant}_{uuid.uuid4().hex[:4]}"
        cubes[tenant] = mos.register_mem_cube(
            str(tree_cube_dir(root, cube)), mem_cube_id=cube, user_id=tenant
        )
    return cubes


def _check(report: LoadReport) -> None:
    assert report.lost == 0, f"{report.lost} memories lost"
    assert report.duplicated == 0, f"{report.duplicated} memories duplicated"
    assert all(fault.recovered_s is not None for fault in report.faults)


def test_worker_and_daemon_sigkill_heal_without_failed_calls(
    private_stack: PrivateStack, supervised_mos: tuple[MOS, str], tmp_path: Path
) -> None:
    mos, prefix = supervised_mos
    cubes = _cubes(mos, tmp_path / "cubes", tenants=3)
    faults = [
        Fault("worker SIGKILL (supervised)", 0.2, _kill(private_stack, f"worker-{prefix}")),
        Fault("daemon SIGKILL (supervised)", 0.55, _kill(private_stack, f"scheduler-{prefix}")),
    ]
    report = LoadRun(mos, cubes, per_tenant=6, threads=3).run(faults)
    _record("self-healing: worker and daemon SIGKILL, one MOS", report)
    _check(report)
    # The waiting calls were answered after the restart, not failed and retried by the caller.
    assert report.retried_calls == 0
    restarts = _restarts(private_stack, prefix)
    assert restarts[f"worker-{prefix}"] == (1, "killed by SIGKILL")
    assert restarts[f"scheduler-{prefix}"] == (1, "killed by SIGKILL")
    status = private_stack.stack.status()
    worker = status.component(f"worker-{prefix}")
    assert worker.healthy and worker.restarts == 1 and worker.last_exit == "killed by SIGKILL"


def test_redis_and_arcadedb_sigkill_are_repaired(
    private_stack: PrivateStack, supervised_mos: tuple[MOS, str], tmp_path: Path
) -> None:
    mos, prefix = supervised_mos
    cubes = _cubes(mos, tmp_path / "cubes", tenants=2)
    before = {
        name: _restarts(private_stack, prefix).get(name, (0, None))[0]
        for name in ("redis", "arcadedb")
    }
    faults = [
        Fault("Redis SIGKILL (supervised)", 0.25, _kill_server(private_stack, "redis")),
        Fault("ArcadeDB SIGKILL (supervised)", 0.6, _kill_server(private_stack, "arcadedb")),
    ]
    report = LoadRun(mos, cubes, per_tenant=6, threads=2).run(faults)
    _record("self-healing: Redis and ArcadeDB SIGKILL, one MOS", report)
    _check(report)
    _wait_restarted(private_stack, prefix, "redis", before["redis"] + 1)
    _wait_restarted(private_stack, prefix, "arcadedb", before["arcadedb"] + 1)
    private_stack.state = private_stack.stack.read_state() or private_stack.state
    assert private_stack.stack.status().healthy
