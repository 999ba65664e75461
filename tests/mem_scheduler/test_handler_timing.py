"""The result of an applied event says how long its handler ran (the worker's share of a call)."""

from __future__ import annotations

import time
import uuid

import redis
from pydantic import JsonValue

from memos.mem_scheduler.constants import SchedulerKeys
from memos.mem_scheduler.events import Event, EventResult, make_event
from memos.mem_scheduler.idempotency import apply_once
from memos.workers.handlers import HandlerContext, HandlerSpec


def _slow(event: Event, ctx: HandlerContext) -> JsonValue:
    time.sleep(0.05)
    return {"id": event.id}


def test_apply_once_reports_the_handler_time_and_a_replay_keeps_it(rclient: redis.Redis) -> None:
    keys = SchedulerKeys(f"timing{uuid.uuid4().hex[:8]}")
    event = make_event("answer", user_id="u", cube_id="c", payload={"query": "q", "answer": "a"})
    spec = HandlerSpec(event_type="answer", fn=_slow)
    first = apply_once(
        rclient,
        keys,
        event,
        spec,
        token="t1",
        notify_key=None,
        result_ttl_s=60,
        idempotency_ttl_s=60,
    )
    assert first.result.handler_s is not None and first.result.handler_s >= 0.05
    replay = apply_once(
        rclient,
        keys,
        event,
        spec,
        token="t2",
        notify_key=None,
        result_ttl_s=60,
        idempotency_ttl_s=60,
    )
    assert replay.replayed and replay.result.handler_s == first.result.handler_s
    assert EventResult.from_json(first.result.model_dump_json()) == first.result
    assert EventResult.failure("e", "RuntimeError", "boom").handler_s is None
