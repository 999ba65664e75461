"""PID bookkeeping against real child processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from memos.embedded import procs


def _sleeper(tmp_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "marker-xyz"], cwd=tmp_path
    )


def test_pid_alive_and_identity(tmp_path: Path) -> None:
    proc = _sleeper(tmp_path)
    try:
        assert procs.pid_alive(proc.pid)
        assert procs.process_matches(proc.pid, cmdline_contains=["marker-xyz"], cwd=tmp_path)
        assert not procs.process_matches(proc.pid, cmdline_contains=["other-marker"])
        assert not procs.process_matches(proc.pid, cwd=tmp_path / "elsewhere")
        assert not procs.process_matches(proc.pid, exe_name="redis-server")
        rss = procs.rss_bytes(proc.pid)
        assert rss is not None and rss > 0
    finally:
        proc.kill()
        proc.wait()
    assert not procs.pid_alive(proc.pid)
    assert not procs.process_matches(proc.pid, cmdline_contains=["marker-xyz"])


def test_identity_holds_right_after_spawn_on_a_busy_machine(tmp_path: Path) -> None:
    # Popen returns once exec has begun, but /proc/PID/cmdline reads empty until the kernel has
    # set up the new argument block: on a loaded machine a check in that window said "not our
    # process" (seen in CI). Busy loops make the window wide enough to hit here.
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], cwd=tmp_path) for _ in range(3)
    ]
    try:
        for _ in range(40):
            proc = _sleeper(tmp_path)
            try:
                assert procs.process_matches(
                    proc.pid, cmdline_contains=["marker-xyz"], cwd=tmp_path
                ), procs.read_cmdline(proc.pid)
            finally:
                proc.kill()
                proc.wait()
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def test_zombie_child_counts_as_dead(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"], cwd=tmp_path)
    # Let it exit without waiting for it: it stays a zombie until reaped.
    deadline = time.monotonic() + 10
    while procs._proc_state(proc.pid) not in {"Z", None} and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not procs.pid_alive(proc.pid)


def test_terminate_escalates_to_sigkill(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=tmp_path)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    proc.send_signal(signal.SIGTERM)
    assert not procs.wait_for_exit(proc.pid, 0.3)  # it really ignores SIGTERM
    assert procs.terminate(proc.pid, grace_s=0.3, name="stubborn")
    assert not procs.pid_alive(proc.pid)
    proc.stdout.close()


def test_terminate_all_reports_nothing_left(tmp_path: Path) -> None:
    children = [_sleeper(tmp_path) for _ in range(2)]
    left = procs.terminate_all([("a", children[0].pid), ("b", children[1].pid)], grace_s=5)
    assert left == []
    for child in children:
        assert not procs.pid_alive(child.pid)
    assert procs.terminate_all([("a", children[0].pid)], grace_s=1) == []


def test_dead_pid_is_not_alive() -> None:
    assert not procs.pid_alive(0)
    assert not procs.pid_alive(-1)
    assert procs.read_cmdline(2**22 + 12345) == []


def test_stop_all_reports_how_each_process_stopped(tmp_path: Path) -> None:
    polite = _sleeper(tmp_path)
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    stubborn = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=tmp_path)
    assert stubborn.stdout is not None and stubborn.stdout.readline().strip() == b"ready"
    gone = subprocess.Popen(["true"], cwd=tmp_path)
    gone.wait()

    stops = procs.stop_all(
        [("polite", polite.pid), ("stubborn", stubborn.pid), ("gone", gone.pid)], grace_s=1.0
    )

    assert [(s.name, s.pid, s.method) for s in stops] == [
        ("polite", polite.pid, procs.StopMethod.SIGTERM),
        ("stubborn", stubborn.pid, procs.StopMethod.SIGKILL),
        ("gone", gone.pid, procs.StopMethod.ALREADY_GONE),
    ]
    assert all(s.gone for s in stops)
    assert "stopped by SIGTERM" in stops[0].describe()
    assert "stopped by SIGKILL" in stops[1].describe()
    assert "was not running" in stops[2].describe()
    assert not procs.pid_alive(polite.pid) and not procs.pid_alive(stubborn.pid)
    stubborn.stdout.close()
