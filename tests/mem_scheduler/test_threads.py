"""The daemon-thread pool and the shutdown watchdog (subprocesses show what exit waits for)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from scheduler_support import REPO, child_env

from memos.mem_scheduler.threads import EXIT_SHUTDOWN_OVERRUN, DaemonThreadPool


def run_python(code: str, deadline_s: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter; fail if it is still running at the deadline."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=deadline_s,
    )


def test_pool_runs_calls_and_reports_errors() -> None:
    pool = DaemonThreadPool(2, "t")
    assert [pool.submit(pow, 2, n).result(5) for n in range(5)] == [1, 2, 4, 8, 16]
    with pytest.raises(ZeroDivisionError):
        pool.submit(lambda: 1 / 0).result(5)
    assert pool.close(5) == 0
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(pow, 2, 2)


def test_close_abandons_a_stuck_call_and_cancels_queued_ones() -> None:
    release = threading.Event()
    pool = DaemonThreadPool(1, "t")
    stuck = pool.submit(release.wait, 30)
    queued = pool.submit(pow, 2, 2)
    while not stuck.running():
        time.sleep(0.01)
    assert pool.close(0.1) == 1
    assert queued.cancelled() and not stuck.done()
    release.set()
    assert stuck.result(5) is True


def test_a_stuck_pool_thread_does_not_hold_up_process_exit() -> None:
    # A ThreadPoolExecutor's thread would be joined at exit: this process would live 60 s.
    code = (
        "import time\n"
        "from memos.mem_scheduler.threads import DaemonThreadPool\n"
        "pool = DaemonThreadPool(1, 'stuck')\n"
        "pool.submit(time.sleep, 60)\n"
        "time.sleep(0.2)\n"
        "print('left', pool.close())\n"
    )
    done = run_python(code)
    assert done.returncode == 0 and "left 1" in done.stdout


def test_watchdog_ends_a_shutdown_that_overruns() -> None:
    code = (
        "import time\n"
        "from memos.mem_scheduler.threads import ShutdownWatchdog\n"
        "dog = ShutdownWatchdog(0.5)\n"
        "dog.arm()\n"
        "time.sleep(60)\n"
    )
    done = run_python(code)
    assert done.returncode == EXIT_SHUTDOWN_OVERRUN
    assert "shutdown did not finish" in done.stderr
