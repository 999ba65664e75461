"""A call waiting on an event whose worker, or daemon, is SIGKILLed mid-task gets its answer.

The services run under the embedded supervisor (as a MOS starts them). A counting test handler
(:mod:`effect_handlers`) blocks until the test sets a cue key, so the kill surely lands while the
worker holds the task (or the daemon holds the entry). The supervisor restarts the part; the task
is redelivered (the dead worker's unacked task is put back at once; the restarted daemon resumes
the entries pending under its name), the caller's wait ends with the result, and the effect was
applied exactly once.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from memos.configs.mem_os import EmbeddedSettings
from memos.embedded import procs
from memos.embedded.supervision import read_reports
from memos.mem_os.services import ensure_services
from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.events import make_event
from memos.mem_scheduler.transport import RedisEventTransport
from tests.examples.conftest import stop_services
from tests.reliability.support import PrivateStack

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def supervised(
    private_stack: PrivateStack, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SchedulerConfig]:
    """A supervised daemon + worker running the counting test handlers."""
    # The supervisor and its children inherit this: they import effect_handlers from here.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(REPO), str(REPO / "tests" / "mem_scheduler")])
    )
    prefix = f"rd{uuid.uuid4().hex[:8]}"
    base = SchedulerConfig(
        prefix=prefix,
        execution="celery",
        block_ms=200,
        heartbeat_interval_s=0.5,
        shutdown_grace_s=5.0,
        log_format="console",
        redis_url=private_stack.state.redis.url,
        handler_modules=("effect_handlers",),
    )
    settings = EmbeddedSettings(home=str(private_stack.home), restart={"backoff_base_s": 0.2})
    # ensure_services, not ensure_embedded: the latter adds the memory handlers, which the
    # counting handlers replace.
    state = private_stack.stack.up()
    ensure_services(private_stack.stack, state, base, settings, private_stack.home)
    config = base
    try:
        yield config
    finally:
        stop_services(private_stack.home, prefix)


def _pid(stack: PrivateStack, name: str) -> int:
    state = stack.stack.read_state()
    assert state is not None
    return state.processes[name].pid


def _restarts(stack: PrivateStack, prefix: str, name: str) -> tuple[int, str | None]:
    for report in read_reports(stack.stack.home):
        if report.prefix == prefix:
            part = report.parts[name]
            return part.restarts, part.last_exit
    return 0, None


def _wait(predicate: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@pytest.mark.parametrize("part", ["worker", "scheduler"])
def test_waiting_call_survives_sigkill_mid_task(
    private_stack: PrivateStack, supervised: SchedulerConfig, part: str
) -> None:
    config = supervised
    client = redis.Redis.from_url(config.redis_url)
    cue = f"{config.prefix}:cue"
    started = f"{config.prefix}:started"
    cube = "c1"
    event = make_event(
        "add",
        user_id="u1",
        cube_id=cube,
        payload={"memory_content": "x", "options": {"block_until_key": cue}},
    )
    name = f"{part}-{config.prefix}"
    victim = _pid(private_stack, name)
    with RedisEventTransport(config) as transport, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(transport.publish_and_wait, event, 60.0)
        # The worker holds the task once the event's attempt counter exists and the Celery
        # message is unacked (the handler is blocked on the cue).
        _wait(lambda: client.hlen(f"{config.prefix}:celery:unacked") == 1)
        client.set(started, "1")
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        assert procs.wait_for_exit(victim, 30)
        _wait(lambda: _restarts(private_stack, config.prefix, name)[0] == 1)
        client.set(cue, "1")
        result = waiting.result(timeout=60)
        recovered_s = time.monotonic() - killed_at
    assert result.ok, result
    print(f"\n{part} SIGKILL mid-task: answered {recovered_s:.1f} s after the kill")
    assert _restarts(private_stack, config.prefix, name) == (1, "killed by SIGKILL")
    assert _pid(private_stack, name) != victim
    # Exactly one effect, whatever was redelivered.
    assert client.lrange(f"{config.prefix}:effects:{cube}", 0, -1) == [event.key.encode()]
    _wait(lambda: client.xpending(config.keys.events, config.keys.group)["pending"] == 0)
    client.close()
