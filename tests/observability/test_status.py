"""``memos status`` shows the scheduler's numbers from Redis: stream, pending, DLQ, replicas."""

from __future__ import annotations

import asyncio

import redis
from test_metrics import add, running

from memos.mem_scheduler.transport import AsyncRedisEventTransport
from memos.observability.status import describe_snapshot, scheduler_snapshot


async def test_snapshot_matches_the_traffic(obs_config) -> None:
    config = obs_config(max_attempts=1, consumer_name="replica-9")
    empty = scheduler_snapshot(config)
    assert (empty.stream_length, empty.pending, empty.dead_letters) == (0, 0, 0)
    assert empty.replicas == {}
    async with running(config) as scheduler, AsyncRedisEventTransport(config) as transport:
        events = [add("c1") for _ in range(3)]
        poison = add("c2", fail=True)
        for event in [*events, poison]:
            await transport.publish(event)
        for event in [*events, poison]:
            await transport.await_result(event.id, None, 20)
        await asyncio.sleep(0.5)
        snap = await asyncio.to_thread(scheduler_snapshot, config)
        lines = describe_snapshot(snap, config.prefix)
        url = scheduler.metrics_server.url if scheduler.metrics_server else ""
    assert (snap.stream_length, snap.pending, snap.dead_letters) == (4, 0, 1)
    assert snap.replicas["replica-9"]["processed"] == 3
    assert "1 live replica(s)" in lines[0] and "dead letters 1" in lines[0]
    assert "replica-9: processed=3 failed=1" in lines[1] and url in lines[1]


def test_snapshot_raises_when_redis_is_unreachable(obs_config) -> None:
    config = obs_config(redis_url="redis://127.0.0.1:1/0")
    try:
        scheduler_snapshot(config)
    except redis.ConnectionError:
        return
    raise AssertionError("an unreachable bus must not look like an idle one")
