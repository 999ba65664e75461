"""Trimming removes finished entries only; pending and undelivered ones stay, cubes never stall."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from effect_handlers import effects_key
from test_daemon import add, running, wait_until

from memos.mem_scheduler.ordering import parse_entry_id
from memos.mem_scheduler.transport import AsyncRedisEventTransport, RedisEventTransport
from memos.mem_scheduler.trimming import safe_trim_point, successor, trim_stream


def test_successor() -> None:
    assert successor("5-0") == "5-1"
    assert parse_entry_id(successor("1700000000000-41")) == (1700000000000, 42)


async def test_trim_keeps_pending_and_undelivered(make_config, rclient) -> None:
    config = make_config(retain_s=0)
    stream, group = config.keys.events, config.keys.group
    with RedisEventTransport(config) as transport:
        events = [add("u1", f"c{i % 3}") for i in range(10)]
        for event in events:
            transport.publish(event)
    client = aioredis.Redis.from_url(config.redis_url)
    try:
        # No group yet: nothing is known to be finished.
        assert (await trim_stream(client, config)).removed == 0
        rclient.xgroup_create(stream, group, id="0")
        # A group that has read nothing: every entry is undelivered.
        assert (await trim_stream(client, config)).removed == 0
        ids = [row[0] for row in rclient.xrange(stream)]
        # Deliver six entries to a consumer, ack entries 0, 1, 3 and 4; 2 and 5 stay pending.
        rclient.xreadgroup(group, "c1", {stream: ">"}, count=6)
        rclient.xack(stream, group, ids[0], ids[1], ids[3], ids[4])
        assert await safe_trim_point(client, stream) == ids[2]
        result = await trim_stream(client, config)
        assert result.removed == 2 and result.minid == ids[2]
        assert [row[0] for row in rclient.xrange(stream)] == ids[2:]
        # Acking the oldest pending one moves the point to the next pending one.
        rclient.xack(stream, group, ids[2])
        result = await trim_stream(client, config)
        assert result.removed == 3  # ids 2, 3, 4; 5 is pending, 6..9 undelivered
        assert [row[0] for row in rclient.xrange(stream)] == ids[5:]
        rclient.xack(stream, group, ids[5])
        # Nothing pending: the bound is the first undelivered entry.
        result = await trim_stream(client, config)
        assert result.removed == 1 and result.minid == successor(ids[5])
        assert [row[0] for row in rclient.xrange(stream)] == ids[6:]
    finally:
        await client.aclose()


async def test_retain_s_and_max_len(make_config, rclient) -> None:
    config = make_config(retain_s=3600, max_len=5)
    stream, group = config.keys.events, config.keys.group
    rclient.xgroup_create(stream, group, id="0", mkstream=True)
    with RedisEventTransport(config) as transport:
        for i in range(4):
            transport.publish(add("u1", f"c{i}"))
    rows = rclient.xreadgroup(group, "c1", {stream: ">"})[0][1]
    rclient.xack(stream, group, *[row[0] for row in rows])
    client = aioredis.Redis.from_url(config.redis_url)
    try:
        # Young finished entries are retained while the stream is under max_len ...
        assert (await trim_stream(client, config)).removed == 0
        # ... but are old enough an hour later.
        later = int(time.time() * 1000) + 3601 * 1000
        assert (await trim_stream(client, config, now_ms=later)).removed == 4
        with RedisEventTransport(config) as transport:
            for i in range(7):
                transport.publish(add("u1", f"c{i}"))
        rows = rclient.xreadgroup(group, "c1", {stream: ">"}, count=6)[0][1]
        rclient.xack(stream, group, *[row[0] for row in rows])
        # Over max_len: every finished entry goes regardless of age; the unread one stays.
        assert (await trim_stream(client, config)).removed == 6
        assert rclient.xlen(stream) == 1
    finally:
        await client.aclose()


async def test_daemon_trims_while_a_blocked_cube_keeps_its_entries(make_config, rclient) -> None:
    config = make_config(
        retain_s=0, trim_interval_s=0.1, max_attempts=50, backoff_base_s=0.1, backoff_max_s=0.1
    )
    gate = f"{config.prefix}:unblock"
    stream = config.keys.events
    async with running(config), AsyncRedisEventTransport(config) as transport:
        blocked = [add("u1", "stuck", fail_unless_key=gate)] + [
            add("u1", "stuck") for _ in range(3)
        ]
        before = [add("u2", f"c{i % 4}") for i in range(10)]
        after = [add("u2", f"c{i % 4}") for i in range(30)]
        for event in before + blocked + after:
            await transport.publish(event)
        for event in before + after:
            assert (await transport.await_result(event.id, None, 20)).ok
        # Everything before the stuck cube's head is trimmed; the head is pending, so the trim
        # point stops there: the stuck cube's four entries (and later ones) all survive.
        await wait_until(lambda: rclient.xlen(stream) == 34)
        await asyncio.sleep(0.4)
        kept = [row[1]["cube"] for row in rclient.xrange(stream)]
        assert len(kept) == 34 and kept[0] == "stuck" and kept.count("stuck") == 4
        assert rclient.llen(effects_key(config.prefix, "stuck")) == 0
        rclient.set(gate, "1")
        for event in blocked:
            assert (await transport.await_result(event.id, None, 20)).ok
        # The cube did not stall and kept its order; then everything finished is trimmed.
        assert rclient.lrange(effects_key(config.prefix, "stuck"), 0, -1) == [
            e.key for e in blocked
        ]
        await wait_until(lambda: rclient.xlen(stream) == 0, 10)
    assert rclient.xlen(config.keys.dlq) == 0
