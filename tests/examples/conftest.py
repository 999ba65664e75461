"""Run against the session's embedded stack; stop the daemon and worker the MOS started."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from memos.embedded import procs
from memos.embedded.stack import EmbeddedStack


def stop_services(home: Path, prefix: str) -> None:
    """Stop the daemon and worker of ``prefix`` recorded in the stack state, by PID."""
    stack = EmbeddedStack(home / "stack")
    state = stack.read_state()
    if state is None:
        return
    # The supervisor first: it would restart what is stopped after it.
    for name in (f"supervisor-{prefix}", f"worker-{prefix}", f"scheduler-{prefix}"):
        record = state.processes.get(name)
        if record is None:
            continue
        if procs.process_matches(record.pid, cmdline_contains=record.cmdline_contains):
            procs.terminate(record.pid, grace_s=record.stop_grace_s, name=name)
        stack.forget_process(name)


@pytest.fixture(scope="session")
def stack_home(embedded_stack: object, memos_home: Path) -> Iterator[Path]:
    """The data home whose stack runs; services started in it are stopped at the end."""
    yield memos_home
    stop_services(memos_home, "memos")
