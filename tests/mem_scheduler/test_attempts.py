"""Attempts are counted in Redis: an event that kills its daemon replica still reaches the DLQ."""

from __future__ import annotations

import json
import time
from typing import Any

from effect_handlers import effects_key
from test_replicas import add, await_all, start_daemon, wait_until

from memos.mem_scheduler.dlq import DeadLetterQueue
from memos.mem_scheduler.transport import RedisEventTransport


def _wait_exit(proc: Any, timeout_s: float = 60.0) -> int:
    deadline = time.monotonic() + timeout_s
    while proc.popen.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"daemon did not die:\n{proc.output()[-2000:]}")
        time.sleep(0.05)
    return int(proc.popen.returncode)


def test_event_that_kills_the_daemon_ends_in_the_dlq(make_config, procs, rclient) -> None:
    # Inline execution: the handler runs in the daemon, so os._exit takes the replica down
    # while it holds the entry, un-acked, exactly like a crash.
    config = make_config(execution="inline", max_attempts=2, claim_idle_s=0.5)
    killer = add("u1", "doomed", crash=True)
    with RedisEventTransport(config) as transport:
        transport.publish(killer)
    attempts_key = None
    for n in (1, 2):
        daemon = start_daemon(procs, config, f"d{n}")
        assert _wait_exit(daemon) == 70
        entry_id = rclient.xrange(config.keys.events, count=1)[0][0]
        attempts_key = config.keys.attempts(entry_id)
        # The count survived the crash: the next replica continues it instead of restarting.
        assert rclient.get(attempts_key) == str(n)
    assert rclient.xlen(config.keys.dlq) == 0

    survivor = start_daemon(procs, config, "d3")
    good = [add("u2", f"c{i}") for i in range(5)]
    with RedisEventTransport(config) as transport:
        for event in good:
            transport.publish(event)
        result = transport.await_result(killer.id, None, 30)
    assert not result.ok and result.error is not None
    assert result.error.type == "AttemptsExhaustedError"
    await_all(config, good, 30)
    letters = DeadLetterQueue(config, client=None).list()
    assert len(letters) == 1
    assert letters[0].attempts == 2 and letters[0].error_type == "AttemptsExhaustedError"
    assert json.loads(letters[0].event)["id"] == killer.id
    assert rclient.llen(effects_key(config.prefix, "doomed")) == 0
    wait_until(lambda: rclient.xpending(config.keys.events, config.keys.group)["pending"] == 0)
    assert attempts_key is not None and not rclient.exists(attempts_key)
    assert survivor.popen.poll() is None


def test_attempt_count_spans_failures_and_is_dropped_on_ack(make_config, procs, rclient) -> None:
    # A long second backoff (5 s) leaves time to fix the cause before the last attempt.
    config = make_config(execution="inline", max_attempts=3, backoff_base_s=2.5, backoff_max_s=5.0)
    gate = f"{config.prefix}:fixed"
    flaky = add("u1", "c1", fail_unless_key=gate)
    start_daemon(procs, config, "d1")
    with RedisEventTransport(config) as transport:
        transport.publish(flaky)
        entry_id = None

        def counted() -> bool:
            nonlocal entry_id
            rows = rclient.xrange(config.keys.events, count=1)
            entry_id = rows[0][0] if rows else None
            return bool(entry_id) and rclient.get(config.keys.attempts(entry_id)) == "2"

        def second_failed() -> bool:
            # The count rises before an attempt runs: wait for the heartbeat to report the
            # second attempt's failure, or the gate might be set while that attempt still runs.
            raw = rclient.get(config.keys.health("d1"))
            return raw is not None and json.loads(raw)["failed"] >= 2

        wait_until(counted, 30)
        wait_until(second_failed, 30)
        rclient.set(gate, "1")
        result = transport.await_result(flaky.id, None, 30)
    assert result.ok and result.result["attempt"] == 2  # the third attempt (0-based field)
    assert entry_id is not None
    wait_until(lambda: not rclient.exists(config.keys.attempts(entry_id)), 10)


def _failures(rclient: Any, config: Any, consumer: str) -> int:
    raw = rclient.get(config.keys.health(consumer))
    return int(json.loads(raw)["failed"]) if raw is not None else 0


def test_an_unreachable_backend_does_not_use_up_attempts(make_config, procs, rclient) -> None:
    # Two attempts allowed, but failures on an unreachable backend are an outage: they are
    # handed back inside unavailable_retry_s, so the event outlives many more of them.
    config = make_config(
        execution="inline",
        max_attempts=2,
        backoff_base_s=0.05,
        backoff_max_s=0.1,
        unavailable_retry_s=120.0,
    )
    gate = f"{config.prefix}:store-back"
    waiting = add("u1", "c1", unavailable_unless_key=gate)
    start_daemon(procs, config, "d1")
    with RedisEventTransport(config) as transport:
        transport.publish(waiting)
        wait_until(lambda: _failures(rclient, config, "d1") >= 6, 30)
        assert rclient.xlen(config.keys.dlq) == 0
        entry_id = rclient.xrange(config.keys.events, count=1)[0][0]
        # Refunded: the persisted count never climbs past the one attempt in progress.
        assert int(rclient.get(config.keys.attempts(entry_id)) or 0) <= 1
        rclient.set(gate, "1")
        result = transport.await_result(waiting.id, None, 30)
    assert result.ok
    assert rclient.lrange(effects_key(config.prefix, "c1"), 0, -1) == [waiting.key]
    assert rclient.xlen(config.keys.dlq) == 0


def test_an_outage_past_its_window_is_dead_lettered(make_config, procs, rclient) -> None:
    # With the window off, outage failures count like any other: the usual DLQ after 2.
    config = make_config(
        execution="inline",
        max_attempts=2,
        backoff_base_s=0.05,
        backoff_max_s=0.1,
        unavailable_retry_s=0.0,
    )
    doomed = add("u1", "c1", unavailable_unless_key=f"{config.prefix}:never")
    start_daemon(procs, config, "d1")
    with RedisEventTransport(config) as transport:
        transport.publish(doomed)
        result = transport.await_result(doomed.id, None, 30)
    assert not result.ok and result.error is not None
    assert result.error.type == "GraphStoreUnavailableError"
    letters = DeadLetterQueue(config, client=None).list()
    assert [(d.attempts, d.error_type) for d in letters] == [(2, "GraphStoreUnavailableError")]
    assert rclient.llen(effects_key(config.prefix, "c1")) == 0


def test_a_refund_after_the_counter_was_lost_never_numbers_an_attempt_zero(make_config) -> None:
    import asyncio

    import redis.asyncio as aioredis

    from memos.mem_scheduler.daemon import MemScheduler
    from memos.mem_scheduler.events import make_event
    from memos.mem_scheduler.fairness import StreamEntry

    config = make_config()
    event = make_event("add", user_id="u1", cube_id="c1", payload={"memory_content": "x"})
    entry = StreamEntry(entry_id="1-0", event=event, raw="{}", seq=1)

    async def scenario() -> list[int]:
        scheduler = MemScheduler(config)
        scheduler._client = aioredis.Redis.from_url(config.redis_url, decode_responses=True)
        try:
            numbers = [await scheduler._next_attempt(entry)]
            await scheduler._refund_attempt(entry)  # an outage: the attempt is given back
            numbers.append(await scheduler._next_attempt(entry))
            # Redis restarted and lost the counter, then the outage's refund arrives.
            await scheduler._client.delete(config.keys.attempts(entry.entry_id))
            await scheduler._refund_attempt(entry)
            numbers.append(await scheduler._next_attempt(entry))
            return numbers
        finally:
            await scheduler._client.aclose()

    assert asyncio.run(scenario()) == [1, 1, 1]
