"""Shared pieces of the inspector tests: an HTTP session that logs in, dead letters, bulk nodes."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import redis

from memos.api.settings import ApiRuntime
from memos.configs.graph_db import GraphDBConfigFactory
from memos.configs.memory import default_graph_db
from memos.graph_dbs import GraphStore
from memos.mem_scheduler.dlq import dead_letter_fields
from memos.mem_scheduler.events import make_event
from memos.memories.textual.item import TextualMemoryItem
from memos.memories.textual.tree_nodes import item_to_props

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@contextmanager
def login(url: str, key: str) -> Iterator[httpx.Client]:
    """An httpx client logged in to the inspector with ``key`` (cookies kept); closed after."""
    with httpx.Client(base_url=url, timeout=240) as client:
        form = client.get("/ui/login")
        assert form.status_code == 200, form.text
        done = client.post("/ui/login", data={"api_key": key, "csrf": csrf_of(form.text)})
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/ui/cubes"
        yield client


def add_dead_letter(runtime: ApiRuntime, user_id: str, cube_id: str, text: str) -> str:
    """Put an ``add`` event of ``text`` on the dead-letter stream, as a failed one; its DLQ id."""
    event = make_event(
        "add",
        user_id=user_id,
        cube_id=cube_id,
        payload={"memory_content": text},
        idempotency_key=f"ui-test-{uuid.uuid4().hex}",
    )
    fields = dead_letter_fields(
        original_id="0-1",
        raw=event.to_json(),
        error_type="TimeoutError",
        error_message="the worker did not answer in 30 s (test)",
        attempts=3,
        consumer="test-consumer",
    )
    client = redis.Redis.from_url(runtime.scheduler.redis_url)
    try:
        return client.xadd(runtime.scheduler.keys.dlq, fields).decode()  # type: ignore[union-attr]
    finally:
        client.close()


def copies_of(api: Any, who: str, cube_id: str, text: str) -> int:
    """How many memories of ``cube_id`` have exactly ``text`` (read as ``who`` over REST)."""
    with api.client(who) as client:
        nodes = client.get(f"/v1/cubes/{cube_id}/memories").json()["text_mem"][0]
    return sum(1 for n in nodes["memories"]["nodes"] if n["memory"] == text)


def insert_memories(
    cube_id: str, user_id: str, count: int, *, star: int = 0, batch: int = 1000
) -> list[str]:
    """Write ``count`` tree memories straight into the store (no embeddings); their ids.

    Memory ``i`` is ``bulk memory number i``, created in that order, of type ``event`` when
    ``i`` is a multiple of 10 and ``fact`` otherwise; with ``star`` the last one
    gets RELATE_TO edges to the ``star`` before it (a wide neighbourhood to draw).
    """
    store = GraphStore(GraphDBConfigFactory.model_validate(default_graph_db().model_dump()))
    ids: list[str] = []
    try:
        store.setup()  # as every real writer does: the store's indexes before its first node
        graph = store.for_cube(cube_id, user_id)
        tiers = ("WorkingMemory", "LongTermMemory", "UserMemory")
        for start in range(0, count, batch):
            rows = []
            for i in range(start, min(start + batch, count)):
                item = TextualMemoryItem(
                    memory=f"bulk memory number {i}",
                    metadata={
                        "memory_type": tiers[i % 3],
                        "type": "event" if i % 10 == 0 else "fact",
                        "status": "activated",
                        "created_at": f"2026-01-01T00:00:00.{i:06d}+00:00",
                        "user_id": user_id,
                    },
                )
                rows.append(item_to_props(item))
                ids.append(item.id)
            graph.create_nodes(rows)
        if star:
            hub = ids[-1]
            graph.merge_edges(
                "RELATE_TO", [{"source": hub, "target": t} for t in ids[-1 - star : -1]]
            )
    finally:
        store.close()
    return ids


def wait_for(check: Callable[[], Any], timeout_s: float = 60.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
