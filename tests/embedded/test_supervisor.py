"""The embedded supervisor as a real process on the session stack: restarts, crash loops, stop.

Its children here are small Python one-liners, so each test takes a few seconds; the daemon and
worker it runs for a MOS are covered in tests/reliability/test_redelivery.py and
test_self_healing.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memos.embedded import procs
from memos.embedded.stack import EmbeddedStack
from memos.embedded.state import ProcessRecord, StackState
from memos.embedded.supervision import (
    RestartPolicy,
    ServiceSpec,
    SupervisorReport,
    SupervisorSpec,
    describe_exit,
    read_reports,
    services_dir,
    spec_path,
    write_model,
)

pytestmark = pytest.mark.services

REPO_ROOT = Path(__file__).resolve().parents[2]
FAST = RestartPolicy(backoff_base_s=0.1, backoff_max_s=0.4, max_restarts=2, poll_s=0.1)


def _wait(predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


class Supervised:
    """A supervisor process for one test prefix, stopped (and forgotten) at the end."""

    def __init__(self, stack: EmbeddedStack, services: list[ServiceSpec], policy: RestartPolicy):
        self.stack = stack
        self.prefix = f"sv{uuid.uuid4().hex[:8]}"
        self.name = f"supervisor-{self.prefix}"
        services_dir(stack.home).mkdir(parents=True, exist_ok=True)
        spec = SupervisorSpec(
            prefix=self.prefix, stack_home=str(stack.home), services=services, policy=policy
        )
        path = spec_path(stack.home, self.prefix)
        write_model(path, spec)
        argv = [sys.executable, "-m", "memos.embedded.supervisor", str(path)]
        log = (services_dir(stack.home) / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        log.close()
        stack.record_process(
            self.name, ProcessRecord(pid=self.proc.pid, cmdline_contains=(argv[2], str(path)))
        )

    def report(self) -> SupervisorReport | None:
        return next((r for r in read_reports(self.stack.home) if r.prefix == self.prefix), None)

    def part(self, name: str) -> tuple[str, int, str | None]:
        report = self.report()
        if report is None or name not in report.parts:
            return ("missing", 0, None)
        part = report.parts[name]
        return (part.state, part.restarts, part.last_exit)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
        for name in [self.name, *(s for s in self._children())]:
            self.stack.forget_process(name)

    def _children(self) -> list[str]:
        state = self.stack.read_state()
        prefix = self.prefix
        return [n for n in (state.processes if state else {}) if n.endswith(prefix)]


@pytest.fixture
def supervise(embedded_stack: StackState, memos_home: Path) -> Iterator[Callable[..., Supervised]]:
    stack = EmbeddedStack(memos_home / "stack")
    made: list[Supervised] = []

    def start(services: list[ServiceSpec], policy: RestartPolicy = FAST) -> Supervised:
        made.append(Supervised(stack, services, policy))
        return made[-1]

    yield start
    for supervised in made:
        supervised.close()


def _service(name: str, code: str, home: Path) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        argv=[sys.executable, "-c", code, name],
        cwd=str(home),
        log=str(home / f"{name}.log"),
        cmdline_contains=(name,),
        stop_grace_s=5.0,
    )


def test_a_crash_loop_is_given_up_and_reported(
    supervise: Callable[..., Supervised], memos_home: Path
) -> None:
    name = f"crasher-{uuid.uuid4().hex[:6]}"
    supervised = supervise([_service(name, "import sys; sys.exit(3)", memos_home)])
    _wait(lambda: supervised.part(name)[0] == "gave up")
    # Two restarts allowed (max_restarts=2), then the third exit is reported, not restarted.
    assert supervised.part(name) == ("gave up", 2, "exited with status 3")
    status = EmbeddedStack(memos_home / "stack").status().component(name)
    assert not status.healthy
    assert (status.restarts, status.last_exit, status.supervision) == (
        2,
        "exited with status 3",
        "gave up",
    )
    done = subprocess.run(
        [sys.executable, "-m", "memos", "status", "--json", "--home", str(memos_home)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1  # a part is down
    shown = {c["name"]: c for c in json.loads(done.stdout)["components"]}
    assert shown[name]["restarts"] == 2 and shown[name]["supervision"] == "gave up"
    text = subprocess.run(
        [sys.executable, "-m", "memos", "status", "--home", str(memos_home)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    assert "restarts 2 (gave up); last exit: exited with status 3" in text


def test_sigkilled_child_is_restarted_and_stopping_the_supervisor_stops_it(
    supervise: Callable[..., Supervised], memos_home: Path
) -> None:
    name = f"sleeper-{uuid.uuid4().hex[:6]}"
    supervised = supervise([_service(name, "import time; time.sleep(600)", memos_home)])
    stack = EmbeddedStack(memos_home / "stack")

    def pid() -> int:
        state = stack.read_state()
        return state.processes[name].pid if state and name in state.processes else 0

    _wait(lambda: supervised.part(name)[0] == "running" and pid() > 0)
    first = pid()
    os.kill(first, signal.SIGKILL)
    _wait(lambda: supervised.part(name)[1] == 1 and pid() not in (0, first))
    assert supervised.part(name) == ("running", 1, "killed by SIGKILL")
    second = pid()
    assert procs.process_matches(second, cmdline_contains=(name,))
    # SIGTERM to the supervisor stops its child too, and nothing is restarted.
    supervised.proc.send_signal(signal.SIGTERM)
    assert supervised.proc.wait(60) == 0
    assert procs.wait_for_exit(second, 10)
    assert supervised.part(name)[0] == "stopped"


def test_backoff_doubles_up_to_the_limit() -> None:
    policy = RestartPolicy(backoff_base_s=0.5, backoff_max_s=3.0)
    assert [policy.delay_s(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(1) == "exited with status 1"


def test_down_stops_the_supervisor_first_and_then_everything_else(tmp_path: Path) -> None:
    stack = EmbeddedStack(tmp_path / "stack")
    stack.up()
    try:
        name = f"sleeper-{uuid.uuid4().hex[:6]}"
        supervised = Supervised(
            stack, [_service(name, "import time; time.sleep(600)", tmp_path)], FAST
        )
        _wait(lambda: supervised.part(name)[0] == "running")
        state = stack.read_state()
        assert state is not None
        child = state.processes[name].pid
    finally:
        stops = stack.down()
    assert stops[0].name == supervised.name and stops[0].method.value == "SIGTERM"
    assert supervised.proc.wait(10) == 0
    assert not procs.pid_alive(child)
    assert stack.read_state() is None
