"""SIGTERM ends a daemon subprocess within its grace time, idle or with a handler in flight.

The deadlines are generous (grace + 10 s) on purpose: they catch a daemon that waits for a
blocking read, a stuck thread or anything else without a time limit, not a slow machine.
"""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

from effect_handlers import effects_key, log_key
from test_replicas import add, start_daemon, wait_until

from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.transport import RedisEventTransport

MARGIN_S = 10.0


def terminate_within(proc: Any, deadline_s: float) -> int:
    """SIGTERM ``proc``; its exit status, or fail when it is still running at the deadline."""
    proc.signal(signal.SIGTERM)
    try:
        return int(proc.popen.wait(deadline_s))
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"daemon still running {deadline_s:.0f} s after SIGTERM:\n{proc.output()[-3000:]}"
        ) from None


def pending(client: Any, config: SchedulerConfig) -> int:
    return int(client.xpending(config.keys.events, config.keys.group)["pending"])


def test_idle_daemon_with_a_long_block_exits_on_sigterm(make_config, procs, rclient) -> None:
    # A read blocks for a minute: the daemon must not wait for it to return.
    config = make_config(execution="celery", block_ms=60_000, shutdown_grace_s=1.0)
    daemon = start_daemon(procs, config, "d1")
    wait_until(lambda: rclient.exists(config.keys.health("d1")) == 1, 30)
    time.sleep(0.5)  # let the reader enter its blocking XREADGROUP
    assert terminate_within(daemon, config.shutdown_grace_s + MARGIN_S) == 0
    assert "stopped" in daemon.output()
    assert not rclient.exists(config.keys.health("d1"))


def test_in_flight_handler_is_handed_back_and_reclaimed_once(make_config, procs, rclient):
    # Claims run every 0.5 s but take only entries idle for 30 s (or handed back).
    config = make_config(
        execution="inline", shutdown_grace_s=1.0, claim_idle_s=30.0, claim_interval_s=0.5
    )
    cue = f"{config.prefix}:go"
    d1 = start_daemon(procs, config, "d1")
    event = add("u1", "c1", block_until_key=cue)
    follower = add("u1", "c1")
    with RedisEventTransport(config) as transport:
        transport.publish(event)
        transport.publish(follower)
    # The handler runs in a thread of d1 and only ends once the cue key exists.
    wait_until(lambda: rclient.exists(config.keys.attempts(first_entry(rclient, config))) == 1)
    assert terminate_within(d1, config.shutdown_grace_s + MARGIN_S) == 0
    assert "still running" in d1.output() and "handed back" in d1.output()
    # Nothing was applied or acked: both entries are pending, the first one handed back.
    assert pending(rclient, config) == 2
    assert rclient.llen(effects_key(config.prefix, "c1")) == 0
    rclient.set(cue, "1")
    # claim_idle_s is 30 s: d2 takes them at once only because d1 handed them back.
    start_daemon(procs, config, "d2")
    with RedisEventTransport(config) as transport:
        result = transport.await_result(event.id, None, 20)
        assert transport.await_result(follower.id, None, 20).ok
    # The interrupted attempt was given back: d2's attempt is the first one counted.
    assert result.ok and result.result == {"type": "add", "key": event.key, "attempt": 0}
    wait_until(lambda: pending(rclient, config) == 0)
    assert rclient.lrange(effects_key(config.prefix, "c1"), 0, -1) == [event.key, follower.key]
    assert rclient.llen(log_key(config.prefix)) == 2


def first_entry(client: Any, config: SchedulerConfig) -> str:
    rows = client.xrange(config.keys.events, count=1)
    return str(rows[0][0]) if rows else "none"
