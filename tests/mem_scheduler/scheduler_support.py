"""Helpers shared by the scheduler tests: subprocess environment and a PID-stopped process."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def child_env() -> dict[str, str]:
    """Environment for daemon and worker subprocesses: repo and test handlers importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HERE)])
    env["OMP_NUM_THREADS"] = "1"
    return env


class Proc:
    """A child process with its output in a log file, stopped by PID."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self._fh = log.open("wb")
        self.popen = subprocess.Popen(
            args, cwd=REPO, env=child_env(), stdout=self._fh, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_text(self, text: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.popen.poll() is not None:
                raise AssertionError(f"process exited early:\n{self.output()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not seen in time:\n{self.output()[-3000:]}")

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.pid, sig)

    def stop(self, timeout_s: float = 15.0) -> int:
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            return self.popen.wait(5)
        finally:
            self._fh.close()
