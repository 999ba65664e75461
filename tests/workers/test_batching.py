"""Batches of adds on one worker: shared preparation once, each event applied and acked once."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import redis

from memos.mem_scheduler.constants import (
    QUEUE_ADD,
    QUEUE_QUERY,
    TASK_APPLY_BATCH,
    TASK_BY_TYPE,
    TASK_QUERY_BATCH,
)
from memos.mem_scheduler.events import make_event
from memos.mem_scheduler.executors import CeleryExecutor
from memos.workers import batching
from memos.workers.app import create_app
from memos.workers.handlers import (
    HandlerContext,
    register_handler,
    restore_registry,
    snapshot_registry,
)


@pytest.fixture
def registry() -> Iterator[None]:
    saved = snapshot_registry()
    try:
        yield
    finally:
        restore_registry(saved)
        batching.unregister_preparer("add")


def _adds(*specs: tuple[str, str, dict[str, Any]]) -> list[Any]:
    return [
        make_event("add", user_id=u, cube_id=c, payload={"memory_content": f"m-{c}", **p})
        for u, c, p in specs
    ]


def _install(calls: list[list[str]], *, preparer_fails: bool = False) -> None:
    """An add handler that records what it was prepared with, and a preparer that counts."""
    import effect_handlers

    def prepare(events: Sequence[Any], client: redis.Redis, keys: Any) -> dict[str, Any]:
        calls.append([e.cube_id for e in events])
        if preparer_fails:
            raise RuntimeError("the shared model call failed")
        return {e.id: f"prepared:{e.cube_id}" for e in events}

    def handle(event: Any, ctx: HandlerContext) -> dict[str, Any]:
        out = effect_handlers.record_effect(event, ctx)
        return {**out, "prepared": ctx.prepared}

    register_handler("add", handle, replace=True)
    batching.register_preparer("add", prepare)


def _run_batch(app: Any, events: list[Any], tokens: list[str], notify: str) -> list[Any]:
    read = {"read": time.time()}
    entries = [[e.model_dump_json(), t, read] for e, t in zip(events, tokens, strict=True)]
    return list(app.tasks[TASK_APPLY_BATCH].apply(args=[entries, notify]).get())


def _effects(client: redis.Redis, prefix: str, cube: str) -> list[str]:
    return list(client.lrange(f"{prefix}:effects:{cube}", 0, -1))


def test_adds_of_several_tenants_are_prepared_together_and_acked_once_each(
    worker_config, registry
) -> None:
    config = worker_config()
    app = create_app(config)
    calls: list[list[str]] = []
    _install(calls)
    events = _adds(("u1", "c1", {}), ("u2", "c2", {}), ("u3", "c3", {}))
    notify = config.keys.notify("test")
    outcomes = _run_batch(app, events, ["t1", "t2", "t3"], notify)
    assert calls == [["c1", "c2", "c3"]]  # one shared preparation for the whole batch
    client = redis.Redis.from_url(config.redis_url, decode_responses=True)
    for event in events:
        assert _effects(client, config.prefix, event.cube_id) == [event.key]
        stored = json.loads(client.get(config.keys.result(event.id)))
        assert stored["result"]["prepared"] == f"prepared:{event.cube_id}"
        # The hop profile's stamps: the daemon's (passed in) and the worker's own, in order.
        trace = stored["trace"]
        assert trace["read"] <= trace["worker_start"] <= trace["handler_start"]
        assert trace["handler_start"] <= trace["handler_end"]
    notified = [json.loads(x) for x in client.lrange(notify, 0, -1)]
    assert sorted(o["token"] for o in notified) == ["t1", "t2", "t3"]
    assert all(o["result"]["ok"] and not o["replayed"] for o in notified)
    assert [o["token"] for o in outcomes] == ["t1", "t2", "t3"]
    client.close()


def test_a_poison_event_fails_alone(worker_config, registry) -> None:
    config = worker_config()
    app = create_app(config)
    _install([])
    events = _adds(("u1", "c1", {}), ("u2", "c2", {"options": {"fail": True}}), ("u3", "c3", {}))
    notify = config.keys.notify("test")
    outcomes = {o["token"]: o for o in _run_batch(app, events, ["t1", "t2", "t3"], notify)}
    assert outcomes["t1"]["result"]["ok"] and outcomes["t3"]["result"]["ok"]
    assert not outcomes["t2"]["result"]["ok"]
    assert outcomes["t2"]["result"]["error"]["type"] == "RuntimeError"
    client = redis.Redis.from_url(config.redis_url, decode_responses=True)
    assert _effects(client, config.prefix, "c1") == [events[0].key]
    assert _effects(client, config.prefix, "c2") == []
    assert _effects(client, config.prefix, "c3") == [events[2].key]
    assert len(client.lrange(notify, 0, -1)) == 3
    client.close()


def test_a_redelivered_event_inside_a_batch_has_no_second_effect(worker_config, registry) -> None:
    config = worker_config()
    app = create_app(config)
    calls: list[list[str]] = []
    _install(calls)
    first, second, third = _adds(("u1", "c1", {}), ("u2", "c2", {}), ("u3", "c3", {}))
    notify = config.keys.notify("test")
    single = app.tasks[TASK_BY_TYPE["add"]].apply(args=[first.model_dump_json(), "t0", notify])
    assert single.get()["result"]["ok"]
    outcomes = {
        o["token"]: o for o in _run_batch(app, [first, second, third], ["t1", "t2", "t3"], notify)
    }
    assert outcomes["t1"]["replayed"] and outcomes["t1"]["result"]["ok"]
    assert not outcomes["t2"]["replayed"] and not outcomes["t3"]["replayed"]
    assert calls == [["c2", "c3"]]  # the done one is not even prepared again
    client = redis.Redis.from_url(config.redis_url, decode_responses=True)
    for event in (first, second, third):
        assert _effects(client, config.prefix, event.cube_id) == [event.key]
    # The whole batch delivered again (a Celery redelivery): every event only replays.
    again = _run_batch(app, [first, second, third], ["t4", "t5", "t6"], notify)
    assert all(o["replayed"] for o in again)
    for event in (first, second, third):
        assert _effects(client, config.prefix, event.cube_id) == [event.key]
    client.close()


def test_a_failing_preparation_falls_back_to_one_by_one(worker_config, registry) -> None:
    config = worker_config()
    app = create_app(config)
    calls: list[list[str]] = []
    _install(calls, preparer_fails=True)
    events = _adds(("u1", "c1", {}), ("u1", "c2", {}))
    outcomes = _run_batch(app, events, ["t1", "t2"], config.keys.notify("test"))
    assert calls == [["c1", "c2"]]
    assert all(o["result"]["ok"] for o in outcomes)
    assert [o["result"]["result"]["prepared"] for o in outcomes] == [None, None]
    client = redis.Redis.from_url(config.redis_url, decode_responses=True)
    for event in events:
        assert _effects(client, config.prefix, event.cube_id) == [event.key]
    client.close()


def test_executor_sends_adds_ready_together_as_one_batch(worker_config) -> None:
    config = worker_config(batch_max_events=8)
    app = create_app(config)
    executor = CeleryExecutor(app, batch_max=config.batch_max_events)
    events = _adds(*((f"u{i}", f"c{i}", {}) for i in range(5)))
    query = make_event("query", user_id="u0", cube_id="c0", payload={"query": "q"})
    notify = config.keys.notify("test")

    async def submit_all() -> None:
        await asyncio.gather(
            *(executor.submit(e, f"tok{i}", notify, {"read": 1.0}) for i, e in enumerate(events))
        )
        await executor.submit(query, "tokq", notify)

    try:
        asyncio.run(submit_all())
    finally:
        executor.close()
    client = redis.Redis.from_url(config.redis_url, decode_responses=True)
    sent = [json.loads(m) for m in client.lrange(f"{config.prefix}:celery:{QUEUE_ADD}", 0, -1)]
    # Submitted in one pass of the loop: one batch task carrying the five adds.
    assert [m["headers"]["task"] for m in sent] == [TASK_APPLY_BATCH]
    entries = json.loads(base64.b64decode(sent[0]["body"]))[0][0]
    assert [entry[1] for entry in entries] == [f"tok{i}" for i in range(5)]
    assert all(entry[2]["sent"] >= entry[2]["read"] > 0 for entry in entries)
    queries = client.lrange(f"{config.prefix}:celery:{QUEUE_QUERY}", 0, -1)
    assert [json.loads(m)["headers"]["task"] for m in queries] == [TASK_BY_TYPE["query"]]
    client.close()


def test_search_hits_cross_the_wire_without_their_embedding() -> None:
    from memos.memories.textual.item import TextualMemoryItem
    from memos.workers.memory_handlers import _hit_dict

    item = TextualMemoryItem.from_dict(
        {"memory": "m", "metadata": {"memory_type": "LongTermMemory", "embedding": [0.1] * 384}}
    )
    wire = _hit_dict(item)
    assert wire["memory"] == "m" and wire["metadata"]["embedding"] is None
    assert item.metadata.embedding == [0.1] * 384  # the item itself is left alone


def test_adds_wait_for_a_free_slot_and_then_go_as_one_batch(worker_config) -> None:
    config = worker_config()
    app = create_app(config)
    executor = CeleryExecutor(app, batch_max=8, max_outstanding=1)
    first, *rest = _adds(*((f"u{i}", f"c{i}", {}) for i in range(4)))
    notify = config.keys.notify("test")
    queue = f"{config.prefix}:celery:{QUEUE_ADD}"
    client = redis.Redis.from_url(config.redis_url, decode_responses=True)

    def tasks() -> list[str]:
        return [json.loads(m)["headers"]["task"] for m in client.lrange(queue, 0, -1)]

    async def scenario() -> None:
        await executor.submit(first, "tok0", notify)  # a free slot: sent at once, alone
        assert tasks() == [TASK_BY_TYPE["add"]]
        held = [
            asyncio.ensure_future(executor.submit(e, f"tok{i + 1}", notify))
            for i, e in enumerate(rest)
        ]
        await asyncio.sleep(0.2)
        assert not any(h.done() for h in held)  # the only slot is taken: they wait
        assert tasks() == [TASK_BY_TYPE["add"]]
        executor.finished("tok0")  # the first attempt ended: its slot is free
        await asyncio.wait_for(asyncio.gather(*held), timeout=10)
        assert sorted(tasks()) == sorted([TASK_BY_TYPE["add"], TASK_APPLY_BATCH])
        for token in ("tok1", "tok2"):
            executor.finished(token)
        assert executor._outstanding  # tok3's attempt still runs
        executor.finished("tok3")
        assert not executor._outstanding

    try:
        asyncio.run(scenario())
    finally:
        executor.close()
        client.close()


def test_queries_ready_together_go_as_one_query_batch_in_their_own_lane(worker_config) -> None:
    config = worker_config()
    app = create_app(config)
    executor = CeleryExecutor(app, batch_max=8, max_outstanding=1)
    adds = _adds(*((f"u{i}", f"c{i}", {}) for i in range(3)))
    queries = [
        make_event("query", user_id=f"u{i}", cube_id=f"c{i}", payload={"query": f"q{i}"})
        for i in range(4)
    ]
    notify = config.keys.notify("test")
    client = redis.Redis.from_url(config.redis_url, decode_responses=True)

    def tasks(queue: str) -> list[str]:
        key = f"{config.prefix}:celery:{queue}"
        return [json.loads(m)["headers"]["task"] for m in client.lrange(key, 0, -1)]

    async def scenario() -> None:
        # One add and one query take their lanes' only slots; the rest wait in their lane.
        await executor.submit(adds[0], "a0", notify)
        await executor.submit(queries[0], "q0", notify)
        assert tasks(QUEUE_ADD) == [TASK_BY_TYPE["add"]]
        assert tasks(QUEUE_QUERY) == [TASK_BY_TYPE["query"]]
        held_adds = [
            asyncio.ensure_future(executor.submit(e, f"a{i + 1}", notify))
            for i, e in enumerate(adds[1:])
        ]
        held_queries = [
            asyncio.ensure_future(executor.submit(e, f"q{i + 1}", notify))
            for i, e in enumerate(queries[1:])
        ]
        await asyncio.sleep(0.2)
        assert not any(h.done() for h in held_adds + held_queries)
        # The query slot frees while the add batch still runs: the queries go at once,
        # as one batch task on the query queue; the adds keep waiting for their own slot.
        executor.finished("q0")
        await asyncio.wait_for(asyncio.gather(*held_queries), timeout=10)
        assert tasks(QUEUE_QUERY)[0] == TASK_QUERY_BATCH
        assert not any(h.done() for h in held_adds)
        executor.finished("a0")
        await asyncio.wait_for(asyncio.gather(*held_adds), timeout=10)
        assert tasks(QUEUE_ADD)[0] == TASK_APPLY_BATCH

    try:
        asyncio.run(scenario())
    finally:
        executor.close()
        client.close()


def test_add_batches_shrink_while_searches_wait_or_run(worker_config) -> None:
    config = worker_config()
    app = create_app(config)
    executor = CeleryExecutor(app, batch_max=8, max_outstanding=1, add_share_while_searching=0.25)
    adds = _adds(*((f"u{i}", f"c{i}", {}) for i in range(12)))
    query = make_event("query", user_id="uq", cube_id="cq", payload={"query": "q"})
    notify = config.keys.notify("test")
    client = redis.Redis.from_url(config.redis_url, decode_responses=True)
    queue = f"{config.prefix}:celery:{QUEUE_ADD}"

    def batch_sizes() -> list[int]:
        sizes = []
        for raw in reversed(client.lrange(queue, 0, -1)):  # oldest first
            message = json.loads(raw)
            body = json.loads(base64.b64decode(message["body"]))
            sizes.append(len(body[0][0]) if message["headers"]["task"] == TASK_APPLY_BATCH else 1)
        return sizes

    async def scenario() -> None:
        await executor.submit(adds[0], "a0", notify)  # takes the add slot
        held = [
            asyncio.ensure_future(executor.submit(e, f"a{i + 1}", notify))
            for i, e in enumerate(adds[1:6])
        ]
        await asyncio.sleep(0.1)
        executor.finished("a0")  # no search in sight: the whole wait goes (5 of at most 8)
        await asyncio.wait_for(asyncio.gather(*held), timeout=10)
        assert batch_sizes() == [1, 5]
        await executor.submit(query, "q0", notify)  # a search runs now
        held = [
            asyncio.ensure_future(executor.submit(e, f"b{i}", notify))
            for i, e in enumerate(adds[6:])
        ]
        await asyncio.sleep(0.1)
        for i in range(1, 6):
            executor.finished(f"a{i}")  # the add slot frees while the search still runs
        await asyncio.sleep(0.2)
        assert batch_sizes() == [1, 5, 2]  # the share (a quarter) of batch_max: searches wait less
        executor.finished("q0")
        for token in ("b0", "b1"):
            executor.finished(token)
        await asyncio.wait_for(asyncio.gather(*held), timeout=10)
        assert batch_sizes() == [1, 5, 2, 4]  # the search is done: the rest go together

    try:
        asyncio.run(scenario())
    finally:
        executor.close()
        client.close()


def test_the_add_share_while_searching_comes_from_the_config_and_is_checked(
    worker_config,
) -> None:
    from memos.mem_scheduler.config import SchedulerConfig
    from memos.mem_scheduler.daemon import MemScheduler

    config = worker_config(batch_max_events=8, add_batch_share_while_searching=0.5)
    executor = MemScheduler(config, celery_app=create_app(config))._executor_for("add")
    assert isinstance(executor, CeleryExecutor)
    # A search waits: the next add batch takes half of batch_max.
    executor._lanes["query"].outstanding[0] = {"q"}
    assert executor._size_for("add") == 4
    assert executor._size_for("query") == 8
    executor._lanes["query"].outstanding.clear()
    assert executor._size_for("add") == 8
    executor.close()
    assert SchedulerConfig().add_batch_share_while_searching == 0.75
    with pytest.raises(ValueError):
        SchedulerConfig(add_batch_share_while_searching=0)
    with pytest.raises(ValueError):
        CeleryExecutor(create_app(config), batch_max=8, add_share_while_searching=1.5)


def test_a_batch_with_nothing_to_prepare_together_reads_no_done_markers(
    worker_config, registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lone add (and a lone event of each type) is prepared by nobody: the batch skips the
    MGET of the done markers, and the event still applies once."""
    config = worker_config()
    app = create_app(config)
    calls: list[list[str]] = []
    _install(calls)
    notify = config.keys.notify("test")
    read: list[Any] = []
    real_mget = redis.Redis.mget

    def counted(self: redis.Redis, *args: Any, **kwargs: Any) -> Any:
        read.append(args)
        return real_mget(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "mget", counted)
    (event,) = _adds(("u1", "lone", {}))
    outcomes = _run_batch(app, [event], ["t1"], notify)
    assert read == [] and calls == []
    assert outcomes[0]["result"]["ok"] and outcomes[0]["result"]["result"]["prepared"] is None
    client = redis.Redis.from_url(config.redis_url, decode_responses=True)
    assert _effects(client, config.prefix, "lone") == [event.key]
    # Two adds are prepared together, after one read of their markers.
    _run_batch(app, _adds(("u1", "p1", {}), ("u2", "p2", {})), ["t2", "t3"], notify)
    assert calls == [["p1", "p2"]] and len(read) == 1
    client.close()
