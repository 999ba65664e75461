"""Process bookkeeping by PID, without psutil: liveness, identity, termination, memory.

A PID alone is not an identity: after a reboot or a long time the number may belong to an
unrelated process. Every check here therefore pairs the PID with something only our process has
(a marker in its command line, or its working directory) read from ``/proc``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

logger = logging.getLogger(__name__)

_PROC = Path("/proc")


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs (a zombie counts as dead, and is reaped if it is our child)."""
    if pid <= 0:
        return False
    # Reap it if it is our own exited child: os.kill(pid, 0) succeeds on a zombie.
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # Exists but belongs to another user: alive, and certainly not ours.
        return True
    return _proc_state(pid) not in {"Z", "X"}


def _proc_state(pid: int) -> str | None:
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may contain spaces; the state follows the last ')'.
    tail = stat.rpartition(")")[2].split()
    return tail[0] if tail else None


#: How long a live process whose command line reads empty is given to finish its exec.
EXEC_SETTLE_S = 2.0


def read_cmdline(pid: int) -> list[str]:
    """The argument vector of ``pid`` (empty when it cannot be read)."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _settled_cmdline(pid: int, wait_s: float = EXEC_SETTLE_S) -> list[str]:
    """The argument vector, waiting out the moment right after exec when it reads empty.

    ``subprocess.Popen`` returns as soon as the child's exec has closed its close-on-exec
    pipe, before the kernel has set up the new argument block; in that window
    ``/proc/PID/cmdline`` is empty (seen on a loaded machine). Only kernel threads have an
    empty command line for good, and they are never ours, so a short wait costs nothing.
    """
    deadline = time.monotonic() + wait_s
    argv = read_cmdline(pid)
    while not argv and time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.005)
        argv = read_cmdline(pid)
    return argv


def read_cwd(pid: int) -> Path | None:
    """The working directory of ``pid`` (None when it cannot be read)."""
    try:
        return Path(os.readlink(_PROC / str(pid) / "cwd"))
    except OSError:
        return None


def read_exe(pid: int) -> Path | None:
    """The executable of ``pid`` (None when it cannot be read)."""
    try:
        return Path(os.readlink(_PROC / str(pid) / "exe"))
    except OSError:
        return None


def process_matches(
    pid: int,
    *,
    cmdline_contains: Sequence[str] = (),
    exe_name: str | None = None,
    cwd: Path | None = None,
) -> bool:
    """True when ``pid`` is alive and is the process we started, not a reused PID.

    Every given criterion must hold: each string of ``cmdline_contains`` equals one argument (or
    appears within the joined command line), the executable's file name is ``exe_name``, and the
    working directory is ``cwd``.
    """
    if not pid_alive(pid):
        return False
    if cmdline_contains:
        argv = _settled_cmdline(pid)
        joined = " ".join(argv)
        if not all(marker in argv or marker in joined for marker in cmdline_contains):
            return False
    if exe_name is not None:
        exe = read_exe(pid)
        if exe is None or exe.name != exe_name:
            return False
    if cwd is not None:
        actual = read_cwd(pid)
        if actual is None or actual.resolve() != cwd.resolve():
            return False
    return True


def wait_for_exit(pid: int, timeout_s: float, *, poll_s: float = 0.05) -> bool:
    """Wait up to ``timeout_s`` for ``pid`` to exit; True when it is gone."""
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True


def terminate(pid: int, *, grace_s: float, name: str = "process") -> bool:
    """Stop ``pid``: SIGTERM, wait ``grace_s``, then SIGKILL; True when it is gone.

    The caller has already checked that ``pid`` is our process (see :func:`process_matches`).
    """
    if not pid_alive(pid):
        return True
    logger.info("stopping %s pid=%d", name, pid)
    if not _signal(pid, signal.SIGTERM):
        return True
    if wait_for_exit(pid, grace_s):
        return True
    logger.warning("%s pid=%d ignored SIGTERM for %.1f s; sending SIGKILL", name, pid, grace_s)
    if not _signal(pid, signal.SIGKILL):
        return True
    return wait_for_exit(pid, 10.0)


def _signal(pid: int, sig: signal.Signals) -> bool:
    """Send ``sig``; False when the process is already gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    except OSError as exc:
        if exc.errno == errno.ESRCH:
            return False
        raise
    return True


def rss_bytes(pid: int) -> int | None:
    """Resident memory of ``pid`` in bytes (None when it cannot be read)."""
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class StopMethod(StrEnum):
    """How a process stopped when asked to."""

    ALREADY_GONE = "already gone"
    """It was not running when the stop began."""
    SIGTERM = "SIGTERM"
    """It exited within the grace period after SIGTERM (a clean stop)."""
    SIGKILL = "SIGKILL"
    """It ignored SIGTERM for the whole grace period and was killed."""
    SUPERVISOR = "its supervisor"
    """Its supervisor stopped it (SIGTERM, then SIGKILL after the grace) when it was stopped."""
    SURVIVED = "survived SIGKILL"
    """It was still there after SIGKILL (uninterruptible sleep, or another owner)."""


@dataclass(frozen=True)
class ProcessStop:
    """The outcome of stopping one process: which, how, and how long it took."""

    name: str
    pid: int
    method: StopMethod
    seconds: float

    @property
    def gone(self) -> bool:
        """True when the process no longer runs."""
        return self.method is not StopMethod.SURVIVED

    def describe(self) -> str:
        """One line for people, e.g. ``arcadedb pid 42 stopped by SIGTERM in 0.4 s``."""
        if self.method is StopMethod.ALREADY_GONE:
            return f"{self.name} pid {self.pid} was not running"
        if self.method is StopMethod.SURVIVED:
            return f"{self.name} pid {self.pid} survived SIGKILL"
        return f"{self.name} pid {self.pid} stopped by {self.method} in {self.seconds:.1f} s"


def stop_all(targets: Sequence[tuple[str, int]], *, grace_s: float) -> list[ProcessStop]:
    """Stop several processes at once: SIGTERM to all, one shared grace, then SIGKILL.

    Returns one :class:`ProcessStop` per target, in the order given, saying how it ended;
    a process that needed SIGKILL did not shut down cleanly and is reported as such.
    """
    t0 = time.monotonic()
    outcomes: dict[int, ProcessStop] = {}
    signalled: list[tuple[str, int]] = []
    for name, pid in targets:
        if pid_alive(pid):
            logger.info("stopping %s pid=%d", name, pid)
            if _signal(pid, signal.SIGTERM):
                signalled.append((name, pid))
                continue
        outcomes[pid] = ProcessStop(name, pid, StopMethod.ALREADY_GONE, 0.0)
    deadline = t0 + grace_s
    remaining = list(signalled)
    while remaining:
        still = []
        for name, pid in remaining:
            if pid_alive(pid):
                still.append((name, pid))
            else:
                elapsed = time.monotonic() - t0
                outcomes[pid] = ProcessStop(name, pid, StopMethod.SIGTERM, elapsed)
        remaining = still
        if not remaining or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    for name, pid in remaining:
        logger.warning("%s pid=%d ignored SIGTERM for %.1f s; sending SIGKILL", name, pid, grace_s)
        _signal(pid, signal.SIGKILL)
    for name, pid in remaining:
        method = StopMethod.SIGKILL if wait_for_exit(pid, 10.0) else StopMethod.SURVIVED
        outcomes[pid] = ProcessStop(name, pid, method, time.monotonic() - t0)
    return [outcomes[pid] for _, pid in targets if pid in outcomes]


def terminate_all(targets: Sequence[tuple[str, int]], *, grace_s: float) -> list[tuple[str, int]]:
    """Like :func:`stop_all`, but return only the ``(name, pid)`` pairs still alive afterwards."""
    return [(s.name, s.pid) for s in stop_all(targets, grace_s=grace_s) if not s.gone]
